#include "graph_service/processor/passthrough_event.h"

#include <utility>

#include "graph_service/graph/proto_convert.h"
#include "graph_service/processor/passthrough_transformer.h"

namespace vitrage::processor {
namespace {

void PutString(v1::MapValue* m, absl::string_view key, absl::string_view v) {
  auto* e = m->add_entries();
  e->set_key(std::string(key));
  e->mutable_value()->set_string_value(std::string(v));
}

void PutProps(v1::MapValue* m, const graph::Properties& props) {
  auto* e = m->add_entries();
  e->set_key("props");
  auto* map = e->mutable_value()->mutable_map_value();
  graph::PropertiesToProto(props, map->mutable_entries());
}

const v1::Value* Get(const v1::MapValue& m, absl::string_view key) {
  for (const auto& e : m.entries()) {
    if (e.key() == key) return &e.value();
  }
  return nullptr;
}

}  // namespace

void EncodePassthrough(const std::vector<PassthroughOp>& ops, absl::string_view action,
                       absl::string_view sample_date, v1::MapValue* fields) {
  PutString(fields, "vitrage_entity_type", kPassthroughEntityType);
  PutString(fields, "vitrage_datasource_action", action);
  PutString(fields, "vitrage_sample_date", sample_date);
  auto* e = fields->add_entries();
  e->set_key("ops");
  auto* list = e->mutable_value()->mutable_list_value();
  for (const PassthroughOp& op : ops) {
    auto* m = list->add_values()->mutable_map_value();
    switch (op.kind) {
      case PassthroughOp::kSetVertex:
        PutString(m, "op", "set_vertex");
        PutString(m, "id", op.id);
        PutProps(m, op.props);
        break;
      case PassthroughOp::kRemoveVertex:
        PutString(m, "op", "remove_vertex");
        PutString(m, "id", op.id);
        break;
      case PassthroughOp::kSetEdge:
      case PassthroughOp::kRemoveEdge:
        PutString(m, "op", op.kind == PassthroughOp::kSetEdge ? "set_edge" : "remove_edge");
        PutString(m, "source", op.source);
        PutString(m, "target", op.target);
        PutString(m, "label", op.label);
        if (op.kind == PassthroughOp::kSetEdge) PutProps(m, op.props);
        break;
    }
  }
}

namespace {

// The ops of `fields` as the processor reads them (one parser:
// PassthroughTransformer::TransformOps); the ops point into `fields`.
absl::Status ParseOps(const v1::MapValue& fields, Entity* out) {
  return PassthroughTransformer().TransformOps(Get(fields, "ops"), out);
}

}  // namespace

absl::Status ValidatePassthrough(const v1::MapValue& fields) {
  Entity parsed;
  return ParseOps(fields, &parsed);
}

absl::StatusOr<std::vector<PassthroughOp>> DecodePassthrough(const v1::MapValue& fields) {
  Entity parsed;
  absl::Status s = ParseOps(fields, &parsed);
  if (!s.ok()) return s;
  std::vector<PassthroughOp> out;
  out.reserve(parsed.ops.size());
  for (const RawOp& raw : parsed.ops) {
    PassthroughOp op;
    switch (raw.kind) {
      case RawOp::kSetVertex:
        op.kind = PassthroughOp::kSetVertex;
        break;
      case RawOp::kRemoveVertex:
        op.kind = PassthroughOp::kRemoveVertex;
        break;
      case RawOp::kSetEdge:
        op.kind = PassthroughOp::kSetEdge;
        break;
      case RawOp::kRemoveEdge:
        op.kind = PassthroughOp::kRemoveEdge;
        break;
    }
    op.id = std::string(raw.id);
    op.source = std::string(raw.source);
    op.target = std::string(raw.target);
    op.label = std::string(raw.label);
    if (raw.proto_props != nullptr)
      op.props = graph::PropertiesFromProto(raw.proto_props->entries());
    out.push_back(std::move(op));
  }
  return out;
}

}  // namespace vitrage::processor
