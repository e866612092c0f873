// The pass-through transformer: workload-shaped state (topology files, the
// collector's synthetic cloud and its changes, the evaluator's actions)
// applied as given. The event and its ops are described in
// passthrough_event.h.
//
// Removing something absent is a no-op, so a re-sent event is harmless. A
// set_edge whose end does not exist fails the event (nothing applied).
// Processing the ops of a workload graph file (every vertex, then every
// edge) builds exactly that graph: same digest.
#ifndef VITRAGE_GRAPH_SERVICE_PROCESSOR_PASSTHROUGH_TRANSFORMER_H_
#define VITRAGE_GRAPH_SERVICE_PROCESSOR_PASSTHROUGH_TRANSFORMER_H_

#include "graph_service/processor/passthrough_event.h"
#include "graph_service/processor/transformer.h"

namespace vitrage::processor {

class PassthroughTransformer : public Transformer {
 public:
  absl::Status Transform(const Event& event, Entity* out) const override;
  // The same for the "ops" field still in its proto form (ProtoEvent::ops;
  // nullptr when the event has none): same checks, same messages; the ops'
  // properties stay unconverted (RawOp::proto_props).
  absl::Status TransformOps(const v1::Value* ops, Entity* out) const;
};

}  // namespace vitrage::processor

#endif  // VITRAGE_GRAPH_SERVICE_PROCESSOR_PASSTHROUGH_TRANSFORMER_H_
