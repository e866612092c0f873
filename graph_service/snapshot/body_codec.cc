#include "graph_service/snapshot/body_codec.h"

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace vitrage::snapshot::internal {
namespace {

using graph::KeyId;
using graph::KeyName;
using graph::MapEntry;
using graph::Properties;
using graph::Value;

enum WireType { kVarint = 0, kFixed64 = 1, kLen = 2, kFixed32 = 5 };

inline size_t VarintSize(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

inline void PutVarint(uint64_t v, std::string* out) {
  char buf[10];
  int n = 0;
  while (v >= 0x80) {
    buf[n++] = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  buf[n++] = static_cast<char>(v);
  out->append(buf, n);
}

inline void PutTag(int field, WireType wt, std::string* out) {
  out->push_back(static_cast<char>((field << 3) | wt));  // fields < 16
}

inline size_t LenFieldSize(size_t len) { return 1 + VarintSize(len) + len; }

// Value message (graph_types.proto): oneof null_value=1, bool_value=2,
// int_value=3, double_value=4, string_value=5, list_value=6, map_value=7.
size_t ValueSize(const Value& v);

size_t PropertySize(KeyId k, const Value& v) {
  size_t klen = KeyName(k).size();
  return (klen ? LenFieldSize(klen) : 0) + LenFieldSize(ValueSize(v));
}

size_t ValueSize(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kNull:
    case Value::Kind::kBool:
      return 2;
    case Value::Kind::kInt:
      return 1 + VarintSize(static_cast<uint64_t>(v.int_value()));
    case Value::Kind::kDouble:
      return 9;
    case Value::Kind::kString:
      return LenFieldSize(v.string_value().size());
    case Value::Kind::kList: {
      size_t n = 0;
      for (const Value& e : v.list_items()) n += LenFieldSize(ValueSize(e));
      return LenFieldSize(n);
    }
    case Value::Kind::kMap: {
      size_t n = 0;
      for (const MapEntry& e : v.map_entries()) n += LenFieldSize(PropertySize(e.first, e.second));
      return LenFieldSize(n);
    }
  }
  return 0;
}

void PutValue(const Value& v, std::string* out);

void PutProperty(KeyId k, const Value& v, std::string* out) {
  absl::string_view key = KeyName(k);
  if (!key.empty()) {
    PutTag(1, kLen, out);
    PutVarint(key.size(), out);
    out->append(key.data(), key.size());
  }
  PutTag(2, kLen, out);
  PutVarint(ValueSize(v), out);
  PutValue(v, out);
}

void PutValue(const Value& v, std::string* out) {
  switch (v.kind()) {
    case Value::Kind::kNull:
      PutTag(1, kVarint, out);
      out->push_back(1);
      return;
    case Value::Kind::kBool:
      PutTag(2, kVarint, out);
      out->push_back(v.bool_value() ? 1 : 0);
      return;
    case Value::Kind::kInt:
      PutTag(3, kVarint, out);
      PutVarint(static_cast<uint64_t>(v.int_value()), out);
      return;
    case Value::Kind::kDouble: {
      PutTag(4, kFixed64, out);
      double d = v.double_value();
      char b[8];
      memcpy(b, &d, 8);  // little-endian host
      out->append(b, 8);
      return;
    }
    case Value::Kind::kString: {
      absl::string_view s = v.string_value();
      PutTag(5, kLen, out);
      PutVarint(s.size(), out);
      out->append(s.data(), s.size());
      return;
    }
    case Value::Kind::kList: {
      size_t n = 0;
      for (const Value& e : v.list_items()) n += LenFieldSize(ValueSize(e));
      PutTag(6, kLen, out);
      PutVarint(n, out);
      for (const Value& e : v.list_items()) {
        PutTag(1, kLen, out);
        PutVarint(ValueSize(e), out);
        PutValue(e, out);
      }
      return;
    }
    case Value::Kind::kMap: {
      size_t n = 0;
      for (const MapEntry& e : v.map_entries()) n += LenFieldSize(PropertySize(e.first, e.second));
      PutTag(7, kLen, out);
      PutVarint(n, out);
      for (const MapEntry& e : v.map_entries()) {
        PutTag(1, kLen, out);
        PutVarint(PropertySize(e.first, e.second), out);
        PutProperty(e.first, e.second, out);
      }
      return;
    }
  }
}

inline size_t StrFieldSize(absl::string_view s) { return s.empty() ? 0 : LenFieldSize(s.size()); }

inline void PutStrField(int field, absl::string_view s, std::string* out) {
  if (s.empty()) return;
  PutTag(field, kLen, out);
  PutVarint(s.size(), out);
  out->append(s.data(), s.size());
}

inline void PutStrFieldAlways(int field, absl::string_view s, std::string* out) {
  PutTag(field, kLen, out);
  PutVarint(s.size(), out);
  out->append(s.data(), s.size());
}

inline void PutVarintField(int field, uint64_t v, std::string* out) {
  PutTag(field, kVarint, out);
  PutVarint(v, out);
}

// PackedProperty: key index (field 1, always written), then the value in
// place (field 2) or a reference into the value table (field 3).
inline size_t PackedPropertySize(uint32_t index, size_t value_size, uint32_t ref) {
  return 1 + VarintSize(index) + (ref != 0 ? 1 + VarintSize(ref) : LenFieldSize(value_size));
}

// ------------------------------------------------------------- reading

class Reader {
 public:
  explicit Reader(absl::string_view s) : p_(s.data()), end_(s.data() + s.size()) {}
  bool done() const { return p_ >= end_; }

  bool Varint(uint64_t* v) {
    uint64_t r = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ >= end_) return false;
      uint8_t b = static_cast<uint8_t>(*p_++);
      r |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) {
        *v = r;
        return true;
      }
    }
    return false;
  }
  bool Tag(int* field, int* wt) {
    uint64_t t;
    if (!Varint(&t) || t > 0xffffffffu) return false;
    *field = static_cast<int>(t >> 3);
    *wt = static_cast<int>(t & 7);
    return *field != 0;
  }
  bool Bytes(absl::string_view* out) {
    uint64_t n;
    if (!Varint(&n) || n > static_cast<uint64_t>(end_ - p_)) return false;
    *out = absl::string_view(p_, n);
    p_ += n;
    return true;
  }
  bool Fixed64(uint64_t* v) {
    if (end_ - p_ < 8) return false;
    memcpy(v, p_, 8);
    p_ += 8;
    return true;
  }
  bool Skip(int wt) {
    uint64_t v;
    absl::string_view s;
    switch (wt) {
      case kVarint:
        return Varint(&v);
      case kFixed64:
        return Fixed64(&v);
      case kLen:
        return Bytes(&s);
      case kFixed32:
        if (end_ - p_ < 4) return false;
        p_ += 4;
        return true;
      default:
        return false;
    }
  }

 private:
  const char* p_;
  const char* end_;
};

absl::Status Malformed(absl::string_view what) {
  return absl::DataLossError(absl::StrCat("malformed body: ", what));
}

absl::Status ParseValue(absl::string_view in, KeyId key, int depth, Value* out);

absl::Status ParseProperty(absl::string_view in, int depth, KeyId* key, Value* value) {
  Reader r(in);
  absl::string_view k, v;
  bool have_v = false;
  while (!r.done()) {
    int f, wt;
    if (!r.Tag(&f, &wt)) return Malformed("bad property tag");
    if (f == 1 && wt == kLen) {
      if (!r.Bytes(&k)) return Malformed("bad property key");
    } else if (f == 2 && wt == kLen) {
      if (!r.Bytes(&v)) return Malformed("bad property value");
      have_v = true;
    } else if (!r.Skip(wt)) {
      return Malformed("bad property field");
    }
  }
  *key = graph::InternKey(k);
  if (!have_v) {
    *value = Value();
    return absl::OkStatus();
  }
  return ParseValue(v, *key, depth, value);
}

absl::Status ParseValue(absl::string_view in, KeyId key, int depth, Value* out) {
  if (depth > 64) return Malformed("values nested too deeply");
  Reader r(in);
  *out = Value();
  while (!r.done()) {
    int f, wt;
    if (!r.Tag(&f, &wt)) return Malformed("bad value tag");
    uint64_t u;
    absl::string_view s;
    switch (f) {
      case 1:
        if (wt != kVarint || !r.Varint(&u)) return Malformed("bad null_value");
        *out = Value();
        break;
      case 2:
        if (wt != kVarint || !r.Varint(&u)) return Malformed("bad bool_value");
        *out = Value::Bool(u != 0);
        break;
      case 3:
        if (wt != kVarint || !r.Varint(&u)) return Malformed("bad int_value");
        *out = Value::Int(static_cast<int64_t>(u));
        break;
      case 4: {
        if (wt != kFixed64 || !r.Fixed64(&u)) return Malformed("bad double_value");
        double d;
        memcpy(&d, &u, 8);
        *out = Value::Double(d);
        break;
      }
      case 5:
        if (wt != kLen || !r.Bytes(&s)) return Malformed("bad string_value");
        *out = Value::StringFor(key, s);
        break;
      case 6: {
        if (wt != kLen || !r.Bytes(&s)) return Malformed("bad list_value");
        std::vector<Value> items;
        Reader lr(s);
        while (!lr.done()) {
          int lf, lwt;
          if (!lr.Tag(&lf, &lwt)) return Malformed("bad list tag");
          if (lf == 1 && lwt == kLen) {
            absl::string_view item;
            if (!lr.Bytes(&item)) return Malformed("bad list item");
            RETURN_IF_ERROR(ParseValue(item, key, depth + 1, &items.emplace_back()));
          } else if (!lr.Skip(lwt)) {
            return Malformed("bad list field");
          }
        }
        *out = Value::List(std::move(items));
        break;
      }
      case 7: {
        if (wt != kLen || !r.Bytes(&s)) return Malformed("bad map_value");
        std::vector<MapEntry> entries;
        Reader mr(s);
        while (!mr.done()) {
          int mf, mwt;
          if (!mr.Tag(&mf, &mwt)) return Malformed("bad map tag");
          if (mf == 1 && mwt == kLen) {
            absl::string_view prop;
            if (!mr.Bytes(&prop)) return Malformed("bad map entry");
            KeyId k;
            Value v;
            RETURN_IF_ERROR(ParseProperty(prop, depth + 1, &k, &v));
            entries.emplace_back(k, std::move(v));
          } else if (!mr.Skip(mwt)) {
            return Malformed("bad map field");
          }
        }
        *out = Value::Map(std::move(entries));
        break;
      }
      default:
        if (!r.Skip(wt)) return Malformed("bad value field");
    }
  }
  return absl::OkStatus();
}

absl::Status ParseProps(absl::string_view prop, Properties* props) {
  KeyId k;
  Value v;
  RETURN_IF_ERROR(ParseProperty(prop, 0, &k, &v));
  props->AppendUnsorted(k, std::move(v));
  return absl::OkStatus();
}

absl::Status ParseVertex(absl::string_view in, graph::Graph* g, DecodeState* state) {
  Reader r(in);
  absl::string_view id, s;
  Properties props;
  props.Reserve(20);
  while (!r.done()) {
    int f, wt;
    if (!r.Tag(&f, &wt)) return Malformed("bad vertex tag");
    if (f == 1 && wt == kLen) {
      if (!r.Bytes(&id)) return Malformed("bad vertex id");
    } else if (f == 2 && wt == kLen) {
      if (!r.Bytes(&s)) return Malformed("bad vertex property");
      RETURN_IF_ERROR(ParseProps(s, &props));
    } else if (!r.Skip(wt)) {
      return Malformed("bad vertex field");
    }
  }
  props.SortAndDedupe();
  props.ShrinkToFit();
  RETURN_IF_ERROR(g->AddVertex(id, std::move(props)));
  state->vertex_slots.push_back(g->FindVertex(id));
  return absl::OkStatus();
}

absl::Status ParseEdge(absl::string_view in, graph::Graph* g, DecodeState* state) {
  Reader r(in);
  absl::string_view src, dst, label, s;
  Properties props;
  while (!r.done()) {
    int f, wt;
    if (!r.Tag(&f, &wt)) return Malformed("bad edge tag");
    if (f >= 1 && f <= 3 && wt == kLen) {
      if (!r.Bytes(f == 1 ? &src : f == 2 ? &dst : &label)) return Malformed("bad edge key");
    } else if (f == 4 && wt == kLen) {
      if (!r.Bytes(&s)) return Malformed("bad edge property");
      RETURN_IF_ERROR(ParseProps(s, &props));
    } else if (!r.Skip(wt)) {
      return Malformed("bad edge field");
    }
  }
  props.SortAndDedupe();
  props.ShrinkToFit();
  RETURN_IF_ERROR(g->AddEdge(src, dst, label, std::move(props)));
  ++state->edges;
  return absl::OkStatus();
}

// A chunk's tables (format version 2).
struct Tables {
  std::vector<KeyId> keys;
  std::vector<Value> values;
};

absl::Status ParsePackedProps(absl::string_view in, const Tables& tables,
                              std::vector<MapEntry>* out) {
  const std::vector<KeyId>& keys = tables.keys;
  // The shapes the writer makes for almost every property, read without
  // the general loop: a key index under 128 with a value reference under
  // 128, or with a value message holding a bool or a string under 128
  // bytes. Anything else takes the general path below, which reads every
  // valid encoding and names what is wrong with an invalid one.
  const auto* p = reinterpret_cast<const uint8_t*>(in.data());
  const size_t n = in.size();
  if (n >= 4 && p[0] == 0x08 && p[1] < 0x80 && p[1] < keys.size()) {
    const KeyId key = keys[p[1]];
    if (n == 4 && p[2] == 0x18 && p[3] != 0 && p[3] < 0x80 && p[3] <= tables.values.size()) {
      out->emplace_back(key, tables.values[p[3] - 1]);
      return absl::OkStatus();
    }
    if (p[2] == 0x12 && p[3] < 0x80 && n == 4u + p[3] && p[3] >= 2) {
      const uint8_t* v = p + 4;
      const size_t vn = p[3];
      if (vn == 2 && v[0] == 0x10 && v[1] < 0x80) {  // bool_value
        out->emplace_back(key, Value::Bool(v[1] != 0));
        return absl::OkStatus();
      }
      if (v[0] == 0x2a && v[1] < 0x80 && vn == 2u + v[1]) {  // string_value
        out->emplace_back(
            key,
            Value::StringFor(key, absl::string_view(reinterpret_cast<const char*>(v + 2), v[1])));
        return absl::OkStatus();
      }
    }
  }
  Reader r(in);
  uint64_t index = 0, ref = 0;
  absl::string_view v;
  bool have_v = false;
  while (!r.done()) {
    int f, wt;
    if (!r.Tag(&f, &wt)) return Malformed("bad property tag");
    if (f == 1 && wt == kVarint) {
      if (!r.Varint(&index)) return Malformed("bad property key index");
    } else if (f == 3 && wt == kVarint) {
      if (!r.Varint(&ref)) return Malformed("bad property value reference");
    } else if (f == 2 && wt == kLen) {
      if (!r.Bytes(&v)) return Malformed("bad property value");
      have_v = true;
    } else if (!r.Skip(wt)) {
      return Malformed("bad property field");
    }
  }
  if (index >= keys.size()) {
    return Malformed(absl::StrCat("property key index ", index, " outside the key table (",
                                  keys.size(), " keys)"));
  }
  KeyId key = keys[index];
  if (ref != 0) {
    if (have_v || ref > tables.values.size()) {
      return Malformed(absl::StrCat("property value reference ", ref, " outside the value table (",
                                    tables.values.size(), " values)"));
    }
    out->emplace_back(key, tables.values[ref - 1]);
    return absl::OkStatus();
  }
  MapEntry& e = out->emplace_back(key, Value());
  if (!have_v) return absl::OkStatus();
  return ParseValue(v, key, 0, &e.second);
}

graph::Properties TakeProps(std::vector<MapEntry>* scratch) {
  Properties props;
  props.Reserve(scratch->size());
  for (MapEntry& e : *scratch) props.AppendUnsorted(e.first, std::move(e.second));
  scratch->clear();
  props.SortAndDedupe();
  return props;
}

absl::Status ParsePackedVertex(absl::string_view in, const Tables& keys, ParsedChunk* out,
                               std::vector<MapEntry>* scratch) {
  Reader r(in);
  absl::string_view id, s;
  scratch->clear();
  while (!r.done()) {
    int f, wt;
    if (!r.Tag(&f, &wt)) return Malformed("bad vertex tag");
    if (f == 1 && wt == kLen) {
      if (!r.Bytes(&id)) return Malformed("bad vertex id");
    } else if (f == 2 && wt == kLen) {
      if (!r.Bytes(&s)) return Malformed("bad vertex property");
      RETURN_IF_ERROR(ParsePackedProps(s, keys, scratch));
    } else if (!r.Skip(wt)) {
      return Malformed("bad vertex field");
    }
  }
  if (id.empty()) return Malformed("vertex without an id");
  // The vertex shares its id string with its vitrage_id property.
  Value idv;
  for (const MapEntry& e : *scratch) {
    if (e.first == graph::keys::kVitrageId && e.second.is_stable_string() &&
        e.second.string_value() == id) {
      idv = e.second;
      break;
    }
  }
  if (idv.is_null()) idv = Value::StableString(id);
  graph::Properties props = TakeProps(scratch);
  const graph::Graph::NaturalKey natural = graph::Graph::NaturalKeyOf(props);
  out->vertices.push_back({std::move(idv), std::move(props), natural});
  return absl::OkStatus();
}

absl::Status ParsePackedEdge(absl::string_view in, const Tables& tables, ParsedChunk* out,
                             std::vector<MapEntry>* scratch) {
  Reader r(in);
  uint64_t src = 0, dst = 0, label = 0;
  absl::string_view s;
  scratch->clear();
  while (!r.done()) {
    int f, wt;
    if (!r.Tag(&f, &wt)) return Malformed("bad edge tag");
    if (f >= 1 && f <= 3 && wt == kVarint) {
      if (!r.Varint(f == 1 ? &src : f == 2 ? &dst : &label)) return Malformed("bad edge key");
    } else if (f == 4 && wt == kLen) {
      if (!r.Bytes(&s)) return Malformed("bad edge property");
      RETURN_IF_ERROR(ParsePackedProps(s, tables, scratch));
    } else if (!r.Skip(wt)) {
      return Malformed("bad edge field");
    }
  }
  const std::vector<KeyId>& keys = tables.keys;
  if (label >= keys.size() || graph::KeyName(keys[label]).empty()) {
    return Malformed(absl::StrCat("edge label index ", label, " outside the key table"));
  }
  out->edges.push_back({src, dst, keys[label], TakeProps(scratch)});
  return absl::OkStatus();
}

absl::Status Numbered(absl::Status st, absl::string_view what, uint64_t n) {
  return absl::Status(st.code(), absl::StrCat(what, " #", n, ": ", st.message()));
}

}  // namespace

// ------------------------------------------------------------- PackedWriter

uint32_t PackedWriter::Index(KeyId k) {
  if (k >= index_of_.size()) index_of_.resize(k + 1, 0);
  uint32_t& slot = index_of_[k];
  if (slot == 0) {
    table_.push_back(k);
    slot = static_cast<uint32_t>(table_.size());
    key_table_bytes_ += LenFieldSize(KeyName(k).size());
  }
  return slot - 1;
}

uint32_t PackedWriter::ValueRef(KeyId k, const Value& v) {
  // Only shared (interned) strings of low-cardinality keys: their chars
  // identify them, so the lookup is by pointer.
  if (!v.is_stable_string() || !graph::KeyInternsValues(k)) return 0;
  absl::string_view s = v.string_value();
  auto ins = value_index_.try_emplace(s.data(), 0);
  if (ins.second) {
    values_.push_back(s);
    ins.first->second = static_cast<uint32_t>(values_.size());
    value_table_bytes_ += LenFieldSize(s.size());
  }
  return ins.first->second;
}

size_t PackedWriter::PrepareProps(const Properties& p) {
  size_t n = 0;
  for (const MapEntry& e : p) {
    uint32_t ref = ValueRef(e.first, e.second);
    size_t vs = ref != 0 ? 0 : ValueSize(e.second);
    value_sizes_.push_back(vs);
    value_refs_.push_back(ref);
    n += LenFieldSize(PackedPropertySize(Index(e.first), vs, ref));
  }
  return n;
}

void PackedWriter::AppendProps(int field, const Properties& p, std::string* out) {
  size_t i = 0;
  for (const MapEntry& e : p) {
    uint32_t index = index_of_[e.first] - 1;
    size_t vs = value_sizes_[i];
    uint32_t ref = value_refs_[i++];
    PutTag(field, kLen, out);
    PutVarint(PackedPropertySize(index, vs, ref), out);
    PutVarintField(1, index, out);
    if (ref != 0) {
      PutVarintField(3, ref, out);
      continue;
    }
    PutTag(2, kLen, out);
    PutVarint(vs, out);
    PutValue(e.second, out);
  }
}

size_t PackedWriter::PrepareVertex(const graph::Graph& g, graph::Slot v) {
  value_sizes_.clear();
  value_refs_.clear();
  msg_size_ = StrFieldSize(g.VertexId(v)) + PrepareProps(g.VertexProps(v));
  return LenFieldSize(msg_size_);
}

void PackedWriter::AppendVertex(const graph::Graph& g, graph::Slot v, std::string* out) {
  PutTag(kBodyPackedVertices, kLen, out);
  PutVarint(msg_size_, out);
  PutStrField(1, g.VertexId(v), out);
  AppendProps(2, g.VertexProps(v), out);
}

size_t PackedWriter::PrepareEdge(const graph::Graph& g, graph::Slot e, uint64_t source,
                                 uint64_t target) {
  value_sizes_.clear();
  value_refs_.clear();
  msg_size_ = 1 + VarintSize(source) + 1 + VarintSize(target) + 1 +
              VarintSize(Index(g.EdgeLabelId(e))) + PrepareProps(g.EdgeProps(e));
  return LenFieldSize(msg_size_);
}

void PackedWriter::AppendEdge(const graph::Graph& g, graph::Slot e, uint64_t source,
                              uint64_t target, std::string* out) {
  PutTag(kBodyPackedEdges, kLen, out);
  PutVarint(msg_size_, out);
  PutVarintField(1, source, out);
  PutVarintField(2, target, out);
  PutVarintField(3, index_of_[g.EdgeLabelId(e)] - 1, out);
  AppendProps(4, g.EdgeProps(e), out);
}

void PackedWriter::AppendKeyTable(std::string* out) {
  for (KeyId k : table_) {
    PutStrFieldAlways(kBodyKeys, KeyName(k), out);
    index_of_[k] = 0;
  }
  table_.clear();
  key_table_bytes_ = 0;
  for (absl::string_view v : values_) PutStrFieldAlways(kBodyValues, v, out);
  values_.clear();
  value_index_.clear();
  value_table_bytes_ = 0;
}

void AppendBytesField(int field, absl::string_view bytes, std::string* out) {
  PutTag(field, kLen, out);
  PutVarint(bytes.size(), out);
  out->append(bytes.data(), bytes.size());
}

absl::Status ParseBody(absl::string_view body, uint32_t format_version, graph::Graph* g,
                       DecodeState* state, ParsedChunk* out) {
  const bool v2 = format_version >= 2;
  BodySections* sections = &out->sections;
  // Pass 1: the key table and the sections (the writer puts the key table
  // last, after the elements that use it).
  Tables tables;
  std::vector<KeyId>& keys = tables.keys;
  {
    Reader r(body);
    while (!r.done()) {
      int f, wt;
      if (!r.Tag(&f, &wt)) return Malformed("bad field tag");
      absl::string_view s;
      if (wt != kLen || f < kBodyVertices || f > kBodyValues) {
        if (!r.Skip(wt)) return Malformed("bad field");
        continue;
      }
      if (!r.Bytes(&s)) return Malformed("truncated field");
      switch (f) {
        case kBodyVertices:
        case kBodyEdges:
          if (v2) return Malformed("version 1 element in a version 2 snapshot");
          break;
        case kBodyKeys:
        case kBodyPackedVertices:
        case kBodyPackedEdges:
        case kBodyValues:
          if (!v2) return Malformed("version 2 field in a version 1 snapshot");
          if (f == kBodyKeys) keys.push_back(graph::InternKey(s));
          if (f == kBodyValues) tables.values.push_back(Value::String(s, /*intern=*/true));
          break;
        case kBodySourceMarks: {
          v1::SourceMark m;
          if (!m.ParseFromArray(s.data(), static_cast<int>(s.size()))) {
            return Malformed("bad source mark");
          }
          sections->source_marks.push_back(std::move(m));
          sections->present = true;
          break;
        }
        case kBodyEvaluatorState:
          sections->evaluator_state.assign(s.data(), s.size());
          sections->present = true;
          break;
        case kBodyProcessorState:
          sections->processor_state.assign(s.data(), s.size());
          sections->present = true;
          break;
      }
    }
  }
  // Pass 2: the elements (pass 1 validated the framing).
  thread_local std::vector<MapEntry> scratch;
  Reader r(body);
  uint64_t vertex_index = 0, edge_index = 0;
  while (!r.done()) {
    int f = 0, wt = 0;
    absl::string_view s;
    r.Tag(&f, &wt);
    if (wt != kLen) {
      r.Skip(wt);
      continue;
    }
    r.Bytes(&s);
    switch (f) {
      case kBodyVertices:
      case kBodyPackedVertices: {
        absl::Status st = f == kBodyVertices ? ParseVertex(s, g, state)
                                             : ParsePackedVertex(s, tables, out, &scratch);
        if (!st.ok()) return Numbered(st, "vertex", vertex_index);
        ++vertex_index;
        break;
      }
      case kBodyEdges:
      case kBodyPackedEdges: {
        absl::Status st =
            f == kBodyEdges ? ParseEdge(s, g, state) : ParsePackedEdge(s, tables, out, &scratch);
        if (!st.ok()) return Numbered(st, "edge", edge_index);
        ++edge_index;
        break;
      }
      default:
        break;
    }
  }
  return absl::OkStatus();
}

absl::Status LoadParsed(ParsedChunk* chunk, graph::Graph* g, DecodeState* state) {
  // The index probes of a large graph are cache misses: start them a few
  // elements ahead.
  constexpr size_t kAhead = 8;
  uint64_t index = 0;
  auto& vertices = chunk->vertices;
  for (size_t i = 0; i < vertices.size(); ++i) {
    if (i + kAhead < vertices.size()) {
      const ParsedChunk::Vertex& a = vertices[i + kAhead];
      if (a.id.is_string()) g->PrefetchVertex(a.id.string_value());
      g->PrefetchNaturalKey(a.natural);
    }
    ParsedChunk::Vertex& v = vertices[i];
    graph::Slot slot = g->LoadVertex(v.id, std::move(v.props), v.natural);
    if (slot == graph::kNoSlot) {
      return Numbered(
          absl::AlreadyExistsError(absl::StrCat("vertex ", v.id.AsString(), " already exists")),
          "vertex", index);
    }
    state->vertex_slots.push_back(slot);
    ++index;
  }
  index = 0;
  const auto& slots = state->vertex_slots;
  auto& edges = chunk->edges;
  for (size_t i = 0; i < edges.size(); ++i) {
    if (i + kAhead < edges.size()) {
      const ParsedChunk::Edge& a = edges[i + kAhead];
      if (a.source < slots.size() && a.target < slots.size()) {
        g->PrefetchLoadEdge(slots[a.source], slots[a.target], a.label);
      }
    }
    ParsedChunk::Edge& e = edges[i];
    if (e.source >= slots.size() || e.target >= slots.size()) {
      return Numbered(
          Malformed(absl::StrCat("edge end ", e.source >= slots.size() ? e.source : e.target,
                                 " is not a vertex position (", slots.size(), " vertices so far)")),
          "edge", index);
    }
    graph::Slot s = slots[e.source], t = slots[e.target];
    if (!g->LoadEdge(s, t, e.label, std::move(e.props))) {
      return Numbered(
          absl::AlreadyExistsError(absl::StrCat("edge (", g->VertexId(s), " -> ", g->VertexId(t),
                                                ", ", graph::KeyName(e.label), ") already exists")),
          "edge", index);
    }
    ++state->edges;
    ++index;
  }
  chunk->vertices.clear();
  chunk->edges.clear();
  return absl::OkStatus();
}

}  // namespace vitrage::snapshot::internal
