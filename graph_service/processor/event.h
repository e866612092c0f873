// The processor's event: the datasource's fields as a property map
// (graph::Properties, interned keys, shared immutable values).
//
// Every event has vitrage_entity_type (picks the transformer),
// vitrage_datasource_action (init_snapshot | snapshot | update),
// vitrage_sample_date (%Y-%m-%dT%H:%M:%SZ), optionally vitrage_event_type
// (update only) and vitrage_datasource_name, plus the datasource's own
// fields (testdata/conformance/event_fields.md).
#ifndef VITRAGE_GRAPH_SERVICE_PROCESSOR_EVENT_H_
#define VITRAGE_GRAPH_SERVICE_PROCESSOR_EVENT_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "graph_service/graph/value.h"
#include "nlohmann/json.hpp"
#include "vitrage/v1/graph_types.pb.h"

namespace vitrage::processor {

struct Event {
  graph::Properties fields;

  const graph::Value* Find(graph::KeyId k) const { return fields.Find(k); }
  const graph::Value* Find(absl::string_view k) const { return fields.Find(k); }
  // The string field `k`, or "" when absent or not a string.
  absl::string_view GetString(graph::KeyId k) const { return fields.GetString(k); }
  absl::string_view GetString(absl::string_view k) const {
    return fields.GetString(graph::InternKey(k));
  }
};

// Event keys.
namespace ekeys {
extern const graph::KeyId kEntityType;        // vitrage_entity_type
extern const graph::KeyId kDatasourceAction;  // vitrage_datasource_action
extern const graph::KeyId kSampleDate;        // vitrage_sample_date
extern const graph::KeyId kEventType;         // vitrage_event_type
extern const graph::KeyId kDatasourceName;    // vitrage_datasource_name
}  // namespace ekeys

// From the proto body of v1::Event (cheap: one pass, keys interned).
Event EventFromMapValue(const v1::MapValue& fields);
// A v1::Event body converted for Processor::Process(const ProtoEvent&):
// every field is in `event`, except that a pass-through event's "ops" stay
// in the body: `ops` points at them (nullptr when absent), and the
// processor reads them from there, converting only the properties that
// change the graph. Valid while the body lives.
struct ProtoEvent {
  Event event;
  bool lazy_ops = false;  // a pass-through event: "ops" is not in `event`
  const v1::Value* ops = nullptr;
};
// The same fields as EventFromMapValue (duplicate keys: the last wins).
ProtoEvent ProtoEventFromMapValue(const v1::MapValue& fields);
// From a parsed JSON object. INVALID_ARGUMENT when `j` is not an object.
absl::StatusOr<Event> EventFromJson(const nlohmann::json& j);
// The deepest JSON body the converters accept, whatever [limits]
// max_json_depth says (it is at most this): they recurse once per level.
inline constexpr int kMaxEventJsonDepth = 1000;
// JSON text -> a JSON object, interning nothing. INVALID_ARGUMENT (with the
// parser's message) on bad JSON, a body that is not an object, or one
// nested deeper than kMaxEventJsonDepth.
absl::StatusOr<nlohmann::json> ParseEventJson(absl::string_view text);
// From JSON text: ParseEventJson, then EventFromJson.
absl::StatusOr<Event> EventFromJsonText(absl::string_view text);

}  // namespace vitrage::processor

#endif  // VITRAGE_GRAPH_SERVICE_PROCESSOR_EVENT_H_
