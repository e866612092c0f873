#include "graph_service/processor/passthrough_transformer.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace vitrage::processor {

using graph::KeyId;
using graph::MapEntry;
using graph::Value;

namespace {

const KeyId kOps = graph::InternKey("ops");
const KeyId kOp = graph::InternKey("op");
const KeyId kId = graph::InternKey("id");
const KeyId kProps = graph::InternKey("props");
const KeyId kSource = graph::InternKey("source");
const KeyId kTarget = graph::InternKey("target");
const KeyId kLabel = graph::InternKey("label");

const Value* MapGet(const Value& m, KeyId k) {
  for (const MapEntry& e : m.map_entries()) {
    if (e.first == k) return &e.second;
  }
  return nullptr;
}

// The view points into `m` (valid while the event lives).
absl::Status GetString(const Value& m, KeyId k, int i, absl::string_view* out) {
  const Value* v = MapGet(m, k);
  if (v == nullptr || !v->is_string()) {
    return absl::InvalidArgumentError(absl::StrCat("passthrough event: ops[", i,
                                                   "] needs string field \"",
                                                   graph::KeyName(k), "\""));
  }
  *out = v->string_value();
  return absl::OkStatus();
}

// The proto counterparts (a map's duplicate keys: the last wins, as in the
// converted map).
const v1::Value* ProtoMapGet(const v1::MapValue& m, KeyId k) {
  absl::string_view name = graph::KeyName(k);
  const v1::Value* found = nullptr;
  for (const v1::Property& e : m.entries()) {
    if (e.key() == name) found = &e.value();
  }
  return found;
}

absl::Status ProtoGetString(const v1::MapValue& m, KeyId k, int i, absl::string_view* out) {
  const v1::Value* v = ProtoMapGet(m, k);
  if (v == nullptr || v->kind_case() != v1::Value::kStringValue) {
    return absl::InvalidArgumentError(absl::StrCat("passthrough event: ops[", i,
                                                   "] needs string field \"",
                                                   graph::KeyName(k), "\""));
  }
  *out = v->string_value();
  return absl::OkStatus();
}

}  // namespace

absl::Status PassthroughTransformer::TransformOps(const v1::Value* ops, Entity* out) const {
  // Mirrors Transform below check for check.
  out->action = GraphAction::kRawOps;
  if (ops == nullptr || ops->kind_case() != v1::Value::kListValue) {
    return absl::InvalidArgumentError("passthrough event: field \"ops\" must be a list");
  }
  out->ops.reserve(ops->list_value().values_size());
  int i = 0;
  for (const v1::Value& mv : ops->list_value().values()) {
    if (mv.kind_case() != v1::Value::kMapValue) {
      return absl::InvalidArgumentError(absl::StrCat("passthrough event: ops[", i, "] is not a map"));
    }
    const v1::MapValue& m = mv.map_value();
    absl::string_view kind;
    absl::Status st = ProtoGetString(m, kOp, i, &kind);
    if (!st.ok()) return st;
    RawOp op;
    if (kind == "set_vertex" || kind == "remove_vertex") {
      op.kind = kind == "set_vertex" ? RawOp::kSetVertex : RawOp::kRemoveVertex;
      st = ProtoGetString(m, kId, i, &op.id);
      if (!st.ok()) return st;
    } else if (kind == "set_edge" || kind == "remove_edge") {
      op.kind = kind == "set_edge" ? RawOp::kSetEdge : RawOp::kRemoveEdge;
      for (auto [k, dst] : {std::pair{kSource, &op.source}, std::pair{kTarget, &op.target},
                            std::pair{kLabel, &op.label}}) {
        st = ProtoGetString(m, k, i, dst);
        if (!st.ok()) return st;
      }
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("passthrough event: ops[", i, "] has unknown op \"", kind, "\""));
    }
    if (op.kind == RawOp::kSetVertex || op.kind == RawOp::kSetEdge) {
      const v1::Value* p = ProtoMapGet(m, kProps);
      if (p == nullptr || p->kind_case() != v1::Value::kMapValue) {
        return absl::InvalidArgumentError(
            absl::StrCat("passthrough event: ops[", i, "] needs map field \"props\""));
      }
      op.proto_props = &p->map_value();
    }
    out->ops.push_back(std::move(op));
    ++i;
  }
  return absl::OkStatus();
}

absl::Status PassthroughTransformer::Transform(const Event& ev, Entity* out) const {
  out->action = GraphAction::kRawOps;
  const Value* ops = ev.Find(kOps);
  if (ops == nullptr || ops->kind() != Value::Kind::kList) {
    return absl::InvalidArgumentError("passthrough event: field \"ops\" must be a list");
  }
  out->ops.reserve(ops->list_items().size());
  int i = 0;
  for (const Value& m : ops->list_items()) {
    if (m.kind() != Value::Kind::kMap) {
      return absl::InvalidArgumentError(absl::StrCat("passthrough event: ops[", i, "] is not a map"));
    }
    absl::string_view kind;
    absl::Status st = GetString(m, kOp, i, &kind);
    if (!st.ok()) return st;
    RawOp op;
    if (kind == "set_vertex" || kind == "remove_vertex") {
      op.kind = kind == "set_vertex" ? RawOp::kSetVertex : RawOp::kRemoveVertex;
      st = GetString(m, kId, i, &op.id);
      if (!st.ok()) return st;
    } else if (kind == "set_edge" || kind == "remove_edge") {
      op.kind = kind == "set_edge" ? RawOp::kSetEdge : RawOp::kRemoveEdge;
      for (auto [k, dst] : {std::pair{kSource, &op.source}, std::pair{kTarget, &op.target},
                            std::pair{kLabel, &op.label}}) {
        st = GetString(m, k, i, dst);
        if (!st.ok()) return st;
      }
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("passthrough event: ops[", i, "] has unknown op \"", kind, "\""));
    }
    if (op.kind == RawOp::kSetVertex || op.kind == RawOp::kSetEdge) {
      const Value* p = MapGet(m, kProps);
      if (p == nullptr || p->kind() != Value::Kind::kMap) {
        return absl::InvalidArgumentError(
            absl::StrCat("passthrough event: ops[", i, "] needs map field \"props\""));
      }
      op.props = *p;  // map values are sorted by key without duplicates
    }
    out->ops.push_back(std::move(op));
    ++i;
  }
  return absl::OkStatus();
}

}  // namespace vitrage::processor
