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

size_t PropsSize(const Properties& p, int field_unused = 0) {
  (void)field_unused;
  size_t n = 0;
  for (const MapEntry& e : p) n += LenFieldSize(PropertySize(e.first, e.second));
  return n;
}

void PutProps(int field, const Properties& p, std::string* out) {
  for (const MapEntry& e : p) {
    PutTag(field, kLen, out);
    PutVarint(PropertySize(e.first, e.second), out);
    PutProperty(e.first, e.second, out);
  }
}

inline size_t StrFieldSize(absl::string_view s) { return s.empty() ? 0 : LenFieldSize(s.size()); }

inline void PutStrField(int field, absl::string_view s, std::string* out) {
  if (s.empty()) return;
  PutTag(field, kLen, out);
  PutVarint(s.size(), out);
  out->append(s.data(), s.size());
}

size_t VertexMsgSize(const graph::Graph& g, graph::Slot v) {
  return StrFieldSize(g.VertexId(v)) + PropsSize(g.VertexProps(v));
}

size_t EdgeMsgSize(const graph::Graph& g, graph::Slot e) {
  return StrFieldSize(g.VertexId(g.EdgeSource(e))) + StrFieldSize(g.VertexId(g.EdgeTarget(e))) +
         StrFieldSize(g.EdgeLabel(e)) + PropsSize(g.EdgeProps(e));
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
      case kVarint: return Varint(&v);
      case kFixed64: return Fixed64(&v);
      case kLen: return Bytes(&s);
      case kFixed32:
        if (end_ - p_ < 4) return false;
        p_ += 4;
        return true;
      default: return false;
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

absl::Status ParseVertex(absl::string_view in, graph::Graph* g) {
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
  return g->AddVertex(id, std::move(props));
}

absl::Status ParseEdge(absl::string_view in, graph::Graph* g) {
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
  return g->AddEdge(src, dst, label, std::move(props));
}

}  // namespace

size_t VertexRecordSize(const graph::Graph& g, graph::Slot v) {
  return LenFieldSize(VertexMsgSize(g, v));
}

size_t EdgeRecordSize(const graph::Graph& g, graph::Slot e) {
  return LenFieldSize(EdgeMsgSize(g, e));
}

void AppendVertex(const graph::Graph& g, graph::Slot v, std::string* out) {
  PutTag(kBodyVertices, kLen, out);
  PutVarint(VertexMsgSize(g, v), out);
  PutStrField(1, g.VertexId(v), out);
  PutProps(2, g.VertexProps(v), out);
}

void AppendEdge(const graph::Graph& g, graph::Slot e, std::string* out) {
  PutTag(kBodyEdges, kLen, out);
  PutVarint(EdgeMsgSize(g, e), out);
  PutStrField(1, g.VertexId(g.EdgeSource(e)), out);
  PutStrField(2, g.VertexId(g.EdgeTarget(e)), out);
  PutStrField(3, g.EdgeLabel(e), out);
  PutProps(4, g.EdgeProps(e), out);
}

void AppendBytesField(int field, absl::string_view bytes, std::string* out) {
  PutTag(field, kLen, out);
  PutVarint(bytes.size(), out);
  out->append(bytes.data(), bytes.size());
}

absl::Status ParseBody(absl::string_view body, graph::Graph* g, BodySections* sections,
                       uint64_t* vertices_added, uint64_t* edges_added) {
  Reader r(body);
  uint64_t vertex_index = 0, edge_index = 0;
  while (!r.done()) {
    int f, wt;
    if (!r.Tag(&f, &wt)) return Malformed("bad field tag");
    absl::string_view s;
    if (wt == kLen && f >= kBodyVertices && f <= kBodyProcessorState) {
      if (!r.Bytes(&s)) return Malformed("truncated field");
    } else {
      if (!r.Skip(wt)) return Malformed("bad field");
      continue;
    }
    switch (f) {
      case kBodyVertices: {
        absl::Status st = ParseVertex(s, g);
        if (!st.ok()) {
          return absl::Status(st.code(), absl::StrCat("vertex #", vertex_index, ": ", st.message()));
        }
        ++vertex_index;
        ++*vertices_added;
        break;
      }
      case kBodyEdges: {
        absl::Status st = ParseEdge(s, g);
        if (!st.ok()) {
          return absl::Status(st.code(), absl::StrCat("edge #", edge_index, ": ", st.message()));
        }
        ++edge_index;
        ++*edges_added;
        break;
      }
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
  return absl::OkStatus();
}

}  // namespace vitrage::snapshot::internal
