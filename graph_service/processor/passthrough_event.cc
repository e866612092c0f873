#include "graph_service/processor/passthrough_event.h"

#include "absl/strings/str_cat.h"
#include "graph_service/graph/proto_convert.h"

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

absl::StatusOr<std::string> GetString(const v1::MapValue& m, absl::string_view key, int index) {
  const v1::Value* v = Get(m, key);
  if (v == nullptr || v->kind_case() != v1::Value::kStringValue) {
    return absl::InvalidArgumentError(
        absl::StrCat("passthrough event: ops[", index, "] needs string field \"", key, "\""));
  }
  return v->string_value();
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

// Decodes (or, with out == nullptr, only checks) the ops of `fields`.
absl::Status DecodeOps(const v1::MapValue& fields, std::vector<PassthroughOp>* out_ops) {
  const v1::Value* ops = Get(fields, "ops");
  if (ops == nullptr || ops->kind_case() != v1::Value::kListValue) {
    return absl::InvalidArgumentError("passthrough event: field \"ops\" must be a list");
  }
  if (out_ops) out_ops->reserve(ops->list_value().values_size());
  int i = 0;
  for (const v1::Value& v : ops->list_value().values()) {
    if (v.kind_case() != v1::Value::kMapValue) {
      return absl::InvalidArgumentError(
          absl::StrCat("passthrough event: ops[", i, "] is not a map"));
    }
    const v1::MapValue& m = v.map_value();
    auto kind = GetString(m, "op", i);
    if (!kind.ok()) return kind.status();
    PassthroughOp op;
    if (*kind == "set_vertex" || *kind == "remove_vertex") {
      op.kind = *kind == "set_vertex" ? PassthroughOp::kSetVertex : PassthroughOp::kRemoveVertex;
      auto id = GetString(m, "id", i);
      if (!id.ok()) return id.status();
      op.id = *id;
    } else if (*kind == "set_edge" || *kind == "remove_edge") {
      op.kind = *kind == "set_edge" ? PassthroughOp::kSetEdge : PassthroughOp::kRemoveEdge;
      for (auto [key, dst] : {std::pair{"source", &op.source}, std::pair{"target", &op.target},
                              std::pair{"label", &op.label}}) {
        auto s = GetString(m, key, i);
        if (!s.ok()) return s.status();
        *dst = *s;
      }
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("passthrough event: ops[", i, "] has unknown op \"", *kind, "\""));
    }
    if (op.kind == PassthroughOp::kSetVertex || op.kind == PassthroughOp::kSetEdge) {
      const v1::Value* p = Get(m, "props");
      if (p == nullptr || p->kind_case() != v1::Value::kMapValue) {
        return absl::InvalidArgumentError(
            absl::StrCat("passthrough event: ops[", i, "] needs map field \"props\""));
      }
      if (out_ops) op.props = graph::PropertiesFromProto(p->map_value().entries());
    }
    if (out_ops) out_ops->push_back(std::move(op));
    ++i;
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidatePassthrough(const v1::MapValue& fields) { return DecodeOps(fields, nullptr); }

absl::StatusOr<std::vector<PassthroughOp>> DecodePassthrough(const v1::MapValue& fields) {
  std::vector<PassthroughOp> out;
  absl::Status s = DecodeOps(fields, &out);
  if (!s.ok()) return s;
  return out;
}

}  // namespace vitrage::processor
