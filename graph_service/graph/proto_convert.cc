#include "graph_service/graph/proto_convert.h"

#include <string>
#include <utility>
#include <vector>

namespace vitrage::graph {

// Strings are written with mutable_x()->assign(data, size): protobuf 3.21's
// set_x(data, size) first builds a temporary std::string, one allocation
// more per field (this is on the hot path of every delta and snapshot).
void ValueToProto(const Value& v, v1::Value* out) {
  switch (v.kind()) {
    case Value::Kind::kNull:
      out->set_null_value(true);
      break;
    case Value::Kind::kBool:
      out->set_bool_value(v.bool_value());
      break;
    case Value::Kind::kInt:
      out->set_int_value(v.int_value());
      break;
    case Value::Kind::kDouble:
      out->set_double_value(v.double_value());
      break;
    case Value::Kind::kString: {
      absl::string_view s = v.string_value();
      out->mutable_string_value()->assign(s.data(), s.size());
      break;
    }
    case Value::Kind::kList: {
      auto* l = out->mutable_list_value();
      for (const Value& item : v.list_items()) ValueToProto(item, l->add_values());
      break;
    }
    case Value::Kind::kMap: {
      auto* m = out->mutable_map_value();
      for (const auto& e : v.map_entries()) {
        auto* p = m->add_entries();
        absl::string_view k = KeyName(e.first);
        p->mutable_key()->assign(k.data(), k.size());
        ValueToProto(e.second, p->mutable_value());
      }
      break;
    }
  }
}

Value ValueFromProto(const v1::Value& v, KeyId key) {
  switch (v.kind_case()) {
    case v1::Value::kBoolValue:
      return Value::Bool(v.bool_value());
    case v1::Value::kIntValue:
      return Value::Int(v.int_value());
    case v1::Value::kDoubleValue:
      return Value::Double(v.double_value());
    case v1::Value::kStringValue:
      return Value::StringFor(key, v.string_value());
    case v1::Value::kListValue: {
      std::vector<Value> items;
      items.reserve(v.list_value().values_size());
      for (const auto& item : v.list_value().values()) {
        items.push_back(ValueFromProto(item, key));
      }
      return Value::List(std::move(items));
    }
    case v1::Value::kMapValue: {
      std::vector<MapEntry> entries;
      entries.reserve(v.map_value().entries_size());
      for (const auto& p : v.map_value().entries()) {
        KeyId k = InternKey(p.key());
        entries.emplace_back(k, ValueFromProto(p.value(), k));
      }
      return Value::Map(std::move(entries));
    }
    default:
      return Value();
  }
}

void PropertiesToProto(const Properties& props,
                       google::protobuf::RepeatedPtrField<v1::Property>* out) {
  out->Reserve(out->size() + static_cast<int>(props.size()));
  for (const auto& e : props) {
    auto* p = out->Add();
    absl::string_view k = KeyName(e.first);
    p->mutable_key()->assign(k.data(), k.size());
    ValueToProto(e.second, p->mutable_value());
  }
}

Properties PropertiesFromProto(
    const google::protobuf::RepeatedPtrField<v1::Property>& in) {
  Properties props;
  props.Reserve(in.size());
  for (const auto& p : in) {
    KeyId k = InternKey(p.key());
    props.AppendUnsorted(k, ValueFromProto(p.value(), k));
  }
  props.SortAndDedupe();
  return props;
}

void VertexToProto(const Graph& g, Slot v, v1::Vertex* out) {
  absl::string_view id = g.VertexId(v);
  out->mutable_id()->assign(id.data(), id.size());
  PropertiesToProto(g.VertexProps(v), out->mutable_properties());
}

void EdgeToProto(const Graph& g, Slot e, v1::Edge* out) {
  absl::string_view s = g.VertexId(g.EdgeSource(e));
  absl::string_view t = g.VertexId(g.EdgeTarget(e));
  absl::string_view l = g.EdgeLabel(e);
  out->mutable_source_id()->assign(s.data(), s.size());
  out->mutable_target_id()->assign(t.data(), t.size());
  out->mutable_label()->assign(l.data(), l.size());
  PropertiesToProto(g.EdgeProps(e), out->mutable_properties());
}

absl::Status AddVertexFromProto(const v1::Vertex& v, Graph* g) {
  return g->AddVertex(v.id(), PropertiesFromProto(v.properties()));
}

absl::Status AddEdgeFromProto(const v1::Edge& e, Graph* g) {
  return g->AddEdge(e.source_id(), e.target_id(), e.label(),
                    PropertiesFromProto(e.properties()));
}

}  // namespace vitrage::graph
