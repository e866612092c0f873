// The pass-through transformer: workload-shaped state (topology files, the
// collector's synthetic cloud and its changes) applied as given. This is
// the event shape collector/passthrough.h produces:
//
//   vitrage_entity_type        "vitrage.passthrough"
//   vitrage_datasource_action  "init_snapshot" | "snapshot" | "update"
//   vitrage_sample_date        "%Y-%m-%dT%H:%M:%SZ" (not written anywhere)
//   ops                        list of maps, applied in order:
//     {"op": "set_vertex", "id": ID, "props": {...}}     create, or replace
//                                                        all properties
//     {"op": "remove_vertex", "id": ID}                  and its edges
//     {"op": "set_edge", "source": ID, "target": ID, "label": L,
//      "props": {...}}                                   create or replace
//     {"op": "remove_edge", "source": ID, "target": ID, "label": L}
//
// Removing something absent is a no-op, so a re-sent event is harmless. A
// set_edge whose end does not exist fails the event (nothing applied).
// Processing the ops of a workload graph file (every vertex, then every
// edge) builds exactly that graph: same digest.
#ifndef VITRAGE_GRAPH_SERVICE_PROCESSOR_PASSTHROUGH_TRANSFORMER_H_
#define VITRAGE_GRAPH_SERVICE_PROCESSOR_PASSTHROUGH_TRANSFORMER_H_

#include "graph_service/processor/transformer.h"

namespace vitrage::processor {

inline constexpr char kPassthroughEntityType[] = "vitrage.passthrough";

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
