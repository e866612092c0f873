#include "graph_service/graph/proto_convert.h"

#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/inlined_vector.h"

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

bool EqualsProto(const Value& v, const v1::Value& p) {
  switch (p.kind_case()) {
    case v1::Value::kBoolValue:
      return v.kind() == Value::Kind::kBool && v.bool_value() == p.bool_value();
    case v1::Value::kIntValue:
      return v.kind() == Value::Kind::kInt && v.int_value() == p.int_value();
    case v1::Value::kDoubleValue: {
      if (v.kind() != Value::Kind::kDouble) return false;
      // Bitwise, as Value::operator==.
      double a = v.double_value(), b = p.double_value();
      return memcmp(&a, &b, sizeof(double)) == 0;
    }
    case v1::Value::kStringValue:
      return v.is_string() && v.string_value() == absl::string_view(p.string_value());
    case v1::Value::kListValue: {
      if (v.kind() != Value::Kind::kList) return false;
      const auto& items = v.list_items();
      const auto& in = p.list_value().values();
      if (items.size() != static_cast<size_t>(in.size())) return false;
      for (size_t i = 0; i < items.size(); ++i) {
        if (!EqualsProto(items[i], in.Get(static_cast<int>(i)))) return false;
      }
      return true;
    }
    case v1::Value::kMapValue:
      // Rare in properties; a map's member order is by key id, so compare
      // built values.
      return v.kind() == Value::Kind::kMap && v == ValueFromProto(p, 0);
    default:
      return v.is_null();  // null_value, or no kind (reads as null)
  }
}

bool ReplaceVertexPropsFromProto(Graph* g, Slot v, const v1::MapValue& props,
                                 v1::GraphDelta* delta) {
  // The members as (key id, value), sorted by key id, the last of duplicate
  // keys winning (as Value::Map): a stable insertion sort (few members).
  struct In {
    KeyId key;
    const v1::Value* value;
  };
  // The vertex's members are cold (a random vertex of a large graph): start
  // loading all of their lines now, so that the loads overlap each other and
  // the key interning below.
  absl::Span<const MapEntry> old = g->VertexProps(v).items();
  {
    const char* p = reinterpret_cast<const char*>(old.data());
    const size_t bytes = old.size() * sizeof(MapEntry);
    for (size_t off = 0; off < bytes; off += 64) __builtin_prefetch(p + off);
  }
  absl::InlinedVector<In, 32> in;
  in.reserve(props.entries_size());
  for (const v1::Property& p : props.entries()) in.push_back(In{InternKey(p.key()), &p.value()});
  // By now the members' lines have arrived: start loading the values they
  // point to (strings, lists), which the sort below overlaps.
  for (const MapEntry& e : old) e.second.Prefetch();
  for (size_t k = 1; k < in.size(); ++k) {
    In x = in[k];
    size_t i = k;
    while (i > 0 && in[i - 1].key > x.key) {
      in[i] = in[i - 1];
      --i;
    }
    in[i] = x;
  }
  size_t n = 0;  // dedupe in place, keeping the last of equal keys
  for (size_t i = 0; i < in.size(); ++i) {
    if (n > 0 && in[n - 1].key == in[i].key) {
      in[n - 1] = in[i];
    } else {
      in[n++] = in[i];
    }
  }
  in.resize(n);
  // One merge walk: members that differ (built), vertex keys not in `props`.
  absl::InlinedVector<MapEntry, 8> set;
  absl::InlinedVector<KeyId, 8> remove;
  size_t j = 0;
  for (const MapEntry& e : old) {
    while (j < in.size() && in[j].key < e.first) {
      set.emplace_back(in[j].key, ValueFromProto(*in[j].value, in[j].key));
      ++j;
    }
    if (j < in.size() && in[j].key == e.first) {
      if (!EqualsProto(e.second, *in[j].value)) {
        set.emplace_back(in[j].key, ValueFromProto(*in[j].value, in[j].key));
      }
      ++j;
    } else {
      remove.push_back(e.first);
    }
  }
  for (; j < in.size(); ++j) {
    set.emplace_back(in[j].key, ValueFromProto(*in[j].value, in[j].key));
  }
  if (set.empty() && remove.empty()) return false;
  return g->UpdateVertexAt(v, absl::MakeConstSpan(set.data(), set.size()),
                           absl::MakeConstSpan(remove.data(), remove.size()), delta);
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

Properties PropertiesFromProto(const google::protobuf::RepeatedPtrField<v1::Property>& in) {
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
  return g->AddEdge(e.source_id(), e.target_id(), e.label(), PropertiesFromProto(e.properties()));
}

}  // namespace vitrage::graph
