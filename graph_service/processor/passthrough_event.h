// The pass-through event: how workload-shaped state (the collector's
// topology files, synthetic cloud and changes; the evaluator's own actions)
// reaches the processor, which applies it as given (PassthroughTransformer,
// passthrough_transformer.h).
//
// An event's fields (v1::Event.fields):
//   vitrage_entity_type        "vitrage.passthrough"
//   vitrage_datasource_action  "init_snapshot" | "snapshot" | "update"
//   vitrage_sample_date        "%Y-%m-%dT%H:%M:%SZ"
//   ops                        list of maps, applied in order:
//     {"op": "set_vertex", "id": ID, "props": {...}}       create, or replace
//                                                          all properties
//     {"op": "remove_vertex", "id": ID}                    and its edges
//     {"op": "set_edge", "source": ID, "target": ID, "label": L,
//      "props": {...}}                                     create or replace
//     {"op": "remove_edge", "source": ID, "target": ID, "label": L}
// Removing something absent is a no-op (a re-sent event is harmless).
#ifndef VITRAGE_GRAPH_SERVICE_PROCESSOR_PASSTHROUGH_EVENT_H_
#define VITRAGE_GRAPH_SERVICE_PROCESSOR_PASSTHROUGH_EVENT_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "graph_service/graph/value.h"
#include "vitrage/v1/graph.pb.h"

namespace vitrage::processor {

// One change to the state.
struct PassthroughOp {
  enum Kind { kSetVertex, kRemoveVertex, kSetEdge, kRemoveEdge };
  Kind kind = kSetVertex;
  std::string id;                     // vertex ops
  std::string source, target, label;  // edge ops
  graph::Properties props;            // set ops: the full new properties
};

// The event's vitrage_entity_type.
inline constexpr char kPassthroughEntityType[] = "vitrage.passthrough";

// Builds the event body for `ops`.
void EncodePassthrough(const std::vector<PassthroughOp>& ops, absl::string_view action,
                       absl::string_view sample_date, v1::MapValue* fields);

// Both read the ops with the processor's own parser
// (PassthroughTransformer::TransformOps): what passes here is what the
// processor applies, with the same messages.
//
// Checks the shape of the ops without converting their properties.
absl::Status ValidatePassthrough(const v1::MapValue& fields);

// Reads the ops back (INVALID_ARGUMENT naming the op index and field).
absl::StatusOr<std::vector<PassthroughOp>> DecodePassthrough(const v1::MapValue& fields);

}  // namespace vitrage::processor

#endif  // VITRAGE_GRAPH_SERVICE_PROCESSOR_PASSTHROUGH_EVENT_H_
