#include "graph_service/processor/event.h"

#include "absl/strings/str_cat.h"
#include "common/json_depth.h"
#include "graph_service/graph/json_value.h"
#include "graph_service/graph/proto_convert.h"
#include "graph_service/processor/passthrough_event.h"

namespace vitrage::processor {

namespace ekeys {
const graph::KeyId kEntityType = graph::InternKey("vitrage_entity_type");
const graph::KeyId kDatasourceAction = graph::InternKey("vitrage_datasource_action");
const graph::KeyId kSampleDate = graph::InternKey("vitrage_sample_date");
const graph::KeyId kEventType = graph::InternKey("vitrage_event_type");
const graph::KeyId kDatasourceName = graph::InternKey("vitrage_datasource_name");
}  // namespace ekeys

Event EventFromMapValue(const v1::MapValue& fields) {
  return Event{graph::PropertiesFromProto(fields.entries())};
}

ProtoEvent ProtoEventFromMapValue(const v1::MapValue& fields) {
  ProtoEvent out;
  const v1::Value* type = nullptr;
  for (const v1::Property& p : fields.entries()) {
    if (p.key() == "vitrage_entity_type") type = &p.value();
  }
  if (type == nullptr || type->kind_case() != v1::Value::kStringValue ||
      type->string_value() != kPassthroughEntityType) {
    out.event = EventFromMapValue(fields);
    return out;
  }
  out.lazy_ops = true;
  graph::Properties& props = out.event.fields;
  props.Reserve(fields.entries_size());
  for (const v1::Property& p : fields.entries()) {
    if (p.key() == "ops") {
      out.ops = &p.value();  // the last one wins, as in EventFromMapValue
      continue;
    }
    graph::KeyId k = graph::InternKey(p.key());
    props.AppendUnsorted(k, graph::ValueFromProto(p.value(), k));
  }
  props.SortAndDedupe();
  return out;
}

absl::StatusOr<Event> EventFromJson(const nlohmann::json& j) {
  if (!j.is_object()) return absl::InvalidArgumentError("event is not a JSON object");
  return Event{graph::PropertiesFromJson(j)};
}

absl::StatusOr<nlohmann::json> ParseEventJson(absl::string_view text) {
  // The parser is iterative, but the conversion to values recurses once
  // per level: refuse what could overflow the stack before parsing.
  if (int depth = JsonDepth(text, kMaxEventJsonDepth); depth > kMaxEventJsonDepth) {
    return absl::InvalidArgumentError(absl::StrCat("event JSON nests ", depth,
                                                   " levels (or more); at most ",
                                                   kMaxEventJsonDepth, " are read"));
  }
  try {
    nlohmann::json j = nlohmann::json::parse(text.begin(), text.end());
    if (!j.is_object()) return absl::InvalidArgumentError("event is not a JSON object");
    return j;
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("event JSON: ", e.what()));
  }
}

absl::StatusOr<Event> EventFromJsonText(absl::string_view text) {
  absl::StatusOr<nlohmann::json> j = ParseEventJson(text);
  if (!j.ok()) return j.status();
  return EventFromJson(*j);
}

}  // namespace vitrage::processor
