#include "graph_service/processor/passthrough_transformer.h"

#include <utility>
#include <vector>

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

// The proto counterpart (a map's duplicate keys: the last wins, as in the
// converted map).
const v1::Value* ProtoMapGet(const v1::MapValue& m, KeyId k) {
  absl::string_view name = graph::KeyName(k);
  const v1::Value* found = nullptr;
  for (const v1::Property& e : m.entries()) {
    if (e.key() == name) found = &e.value();
  }
  return found;
}

// How ParseOps reads one value type: the converted event (graph::Value) or
// the event's proto form (v1::Value, read without converting it).
struct ConvertedValues {
  using V = Value;
  using Map = Value;
  static bool IsList(const V& v) { return v.kind() == Value::Kind::kList; }
  static const std::vector<Value>& Items(const V& v) { return v.list_items(); }
  static const Map* AsMap(const V& v) { return v.kind() == Value::Kind::kMap ? &v : nullptr; }
  static const V* Get(const Map& m, KeyId k) { return MapGet(m, k); }
  static bool IsString(const V& v) { return v.is_string(); }
  static absl::string_view String(const V& v) { return v.string_value(); }
  // Map values are sorted by key without duplicates.
  static void SetProps(const Map& props, RawOp* op) { op->props = props; }
};

struct ProtoValues {
  using V = v1::Value;
  using Map = v1::MapValue;
  static bool IsList(const V& v) { return v.kind_case() == v1::Value::kListValue; }
  static const google::protobuf::RepeatedPtrField<v1::Value>& Items(const V& v) {
    return v.list_value().values();
  }
  static const Map* AsMap(const V& v) {
    return v.kind_case() == v1::Value::kMapValue ? &v.map_value() : nullptr;
  }
  static const V* Get(const Map& m, KeyId k) { return ProtoMapGet(m, k); }
  static bool IsString(const V& v) { return v.kind_case() == v1::Value::kStringValue; }
  static absl::string_view String(const V& v) { return v.string_value(); }
  // Converted when the op is applied (the event outlives the op).
  static void SetProps(const Map& props, RawOp* op) { op->proto_props = &props; }
};

// The view points into `m` (valid while the event lives).
template <typename Values>
absl::Status GetString(const typename Values::Map& m, KeyId k, int i, absl::string_view* out) {
  const typename Values::V* v = Values::Get(m, k);
  if (v == nullptr || !Values::IsString(*v)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "passthrough event: ops[", i, "] needs string field \"", graph::KeyName(k), "\""));
  }
  *out = Values::String(*v);
  return absl::OkStatus();
}

// The event's "ops" list as raw graph ops, every field checked.
template <typename Values>
absl::Status ParseOps(const typename Values::V* ops, Entity* out) {
  out->action = GraphAction::kRawOps;
  if (ops == nullptr || !Values::IsList(*ops)) {
    return absl::InvalidArgumentError("passthrough event: field \"ops\" must be a list");
  }
  out->ops.reserve(Values::Items(*ops).size());
  int i = 0;
  for (const typename Values::V& item : Values::Items(*ops)) {
    const typename Values::Map* m = Values::AsMap(item);
    if (m == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("passthrough event: ops[", i, "] is not a map"));
    }
    absl::string_view kind;
    absl::Status st = GetString<Values>(*m, kOp, i, &kind);
    if (!st.ok()) return st;
    RawOp op;
    if (kind == "set_vertex" || kind == "remove_vertex") {
      op.kind = kind == "set_vertex" ? RawOp::kSetVertex : RawOp::kRemoveVertex;
      st = GetString<Values>(*m, kId, i, &op.id);
      if (!st.ok()) return st;
    } else if (kind == "set_edge" || kind == "remove_edge") {
      op.kind = kind == "set_edge" ? RawOp::kSetEdge : RawOp::kRemoveEdge;
      for (auto [k, dst] : {std::pair{kSource, &op.source}, std::pair{kTarget, &op.target},
                            std::pair{kLabel, &op.label}}) {
        st = GetString<Values>(*m, k, i, dst);
        if (!st.ok()) return st;
      }
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("passthrough event: ops[", i, "] has unknown op \"", kind, "\""));
    }
    if (op.kind == RawOp::kSetVertex || op.kind == RawOp::kSetEdge) {
      const typename Values::V* p = Values::Get(*m, kProps);
      const typename Values::Map* props = p == nullptr ? nullptr : Values::AsMap(*p);
      if (props == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat("passthrough event: ops[", i, "] needs map field \"props\""));
      }
      Values::SetProps(*props, &op);
    }
    out->ops.push_back(std::move(op));
    ++i;
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status PassthroughTransformer::TransformOps(const v1::Value* ops, Entity* out) const {
  return ParseOps<ProtoValues>(ops, out);
}

absl::Status PassthroughTransformer::Transform(const Event& ev, Entity* out) const {
  return ParseOps<ConvertedValues>(ev.Find(kOps), out);
}

}  // namespace vitrage::processor
