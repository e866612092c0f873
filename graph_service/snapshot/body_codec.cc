#include "graph_service/snapshot/body_codec.h"

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/md5.h"
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

// ------------------------------------------------------------- compact forms (version 4)

constexpr KeyId kNoKey = ~KeyId{0};

inline int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

constexpr char kHexChars[] = "0123456789abcdef";

// True when `s` is a canonical UUID (8-4-4-4-12 lowercase hex digits); its
// 16 bytes go to `out`.
bool UuidBytes(absl::string_view s, char out[16]) {
  if (s.size() != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-') return false;
  int n = 0, hi = -1;
  for (size_t i = 0; i < 36; ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) continue;
    const int d = HexDigit(s[i]);
    if (d < 0) return false;
    if (hi < 0) {
      hi = d;
    } else {
      out[n++] = static_cast<char>(hi << 4 | d);
      hi = -1;
    }
  }
  return true;
}

// REQUIRES: bytes.size() == 16.
void AppendUuidText(absl::string_view bytes, std::string* out) {
  char text[36];
  char* t = text;
  for (size_t i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) *t++ = '-';
    const auto b = static_cast<unsigned char>(bytes[i]);
    *t++ = kHexChars[b >> 4];
    *t++ = kHexChars[b & 15];
  }
  out->append(text, sizeof(text));
}

void AppendHexText(absl::string_view bytes, std::string* out) {
  const size_t at = out->size();
  out->resize(at + 2 * bytes.size());
  char* t = &(*out)[at];
  for (char c : bytes) {
    const auto b = static_cast<unsigned char>(c);
    *t++ = kHexChars[b >> 4];
    *t++ = kHexChars[b & 15];
  }
}

// Lowercase hex strings of at least this many digits (an even number) are
// written as their bytes: shorter ones (numbers, mostly) gain nothing.
constexpr size_t kMinHexDigits = 16;

bool IsHexText(absl::string_view s) {
  if (s.size() < kMinHexDigits || s.size() % 2 != 0) return false;
  for (char c : s) {
    if (HexDigit(c) < 0) return false;
  }
  return true;
}

void PutHexAsBytes(absl::string_view hex, std::string* out) {
  for (size_t i = 0; i < hex.size(); i += 2) {
    out->push_back(static_cast<char>(HexDigit(hex[i]) << 4 | HexDigit(hex[i + 1])));
  }
}

// The natural-key string the processor hashes into vitrage_cached_id:
// "<vitrage_category>:<vitrage_type>:<id>". False when one of the three is
// missing or not a string. `find` maps a key to its value or nullptr.
// Written out here rather than shared with the processor: it is part of
// format 4 (what cached_id_derived means) and must not follow a change
// there.
template <typename Find>
bool CachedIdKey(Find find, std::string* key) {
  const Value* cat = find(graph::keys::kVitrageCategory);
  const Value* type = find(graph::keys::kVitrageType);
  const Value* id = find(graph::keys::kId);
  if (cat == nullptr || type == nullptr || id == nullptr || !cat->is_string() ||
      !type->is_string() || !id->is_string()) {
    return false;
  }
  const absl::string_view c = cat->string_value(), t = type->string_value(), i = id->string_value();
  key->clear();
  key->append(c.data(), c.size()).append(1, ':');
  key->append(t.data(), t.size()).append(1, ':');
  key->append(i.data(), i.size());
  return true;
}

// The vitrage_cached_id of `p` when it may be derived (a 32-character
// string, and a natural key in `key`), else empty.
absl::string_view CachedIdCandidate(const Properties& p, std::string* key) {
  const Value* cached = p.Find(graph::keys::kVitrageCachedId);
  if (cached == nullptr || !cached->is_string() || cached->string_value().size() != 32) {
    return absl::string_view();
  }
  if (!CachedIdKey([&p](KeyId k) { return p.Find(k); }, key)) return absl::string_view();
  return cached->string_value();
}

bool IsMd5Hex(absl::string_view hex, const unsigned char md[16]) {
  for (int i = 0; i < 16; ++i) {
    if (hex[2 * i] != kHexChars[md[i] >> 4] || hex[2 * i + 1] != kHexChars[md[i] & 15]) {
      return false;
    }
  }
  return true;
}

inline uint64_t ZigZag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
inline int64_t UnZigZag(uint64_t u) {
  return static_cast<int64_t>(u >> 1) ^ -static_cast<int64_t>(u & 1);
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

// A chunk's tables (format version 2), and whether the chunk may use
// version 4's compact forms.
struct Tables {
  std::vector<KeyId> keys;
  std::vector<Value> values;
  bool v4 = false;
};

absl::Status NotBefore4(absl::string_view what) {
  return Malformed(absl::StrCat(what, " (a version 4 field) in an older snapshot"));
}

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
  absl::string_view v, hex, uuid;
  bool have_v = false, have_hex = false, have_uuid = false;
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
    } else if ((f == 4 || f == 5) && wt == kLen) {
      if (!tables.v4) return NotBefore4(f == 4 ? "hex_value" : "uuid_value");
      if (!r.Bytes(f == 4 ? &hex : &uuid)) return Malformed("bad property value bytes");
      (f == 4 ? have_hex : have_uuid) = true;
    } else if (!r.Skip(wt)) {
      return Malformed("bad property field");
    }
  }
  if (index >= keys.size()) {
    return Malformed(absl::StrCat("property key index ", index, " outside the key table (",
                                  keys.size(), " keys)"));
  }
  KeyId key = keys[index];
  if (int{have_v} + int{ref != 0} + int{have_hex} + int{have_uuid} > 1) {
    return Malformed(absl::StrCat("property ", KeyName(key), " has more than one value"));
  }
  if (ref != 0) {
    if (ref > tables.values.size()) {
      return Malformed(absl::StrCat("property value reference ", ref, " outside the value table (",
                                    tables.values.size(), " values)"));
    }
    out->emplace_back(key, tables.values[ref - 1]);
    return absl::OkStatus();
  }
  if (have_hex || have_uuid) {
    if (have_uuid && uuid.size() != 16) {
      return Malformed(absl::StrCat("property ", KeyName(key), ": uuid_value of ", uuid.size(),
                                    " bytes (16 expected)"));
    }
    thread_local std::string text;
    text.clear();
    if (have_uuid) {
      AppendUuidText(uuid, &text);
    } else {
      AppendHexText(hex, &text);
    }
    out->emplace_back(key, Value::StringFor(key, text));
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
  absl::string_view id, uuid_id, s;
  uint64_t vitrage_id_is_id = 0, cached_id_derived = 0;
  bool have_uuid_id = false;
  scratch->clear();
  while (!r.done()) {
    int f, wt;
    if (!r.Tag(&f, &wt)) return Malformed("bad vertex tag");
    if (f == 1 && wt == kLen) {
      if (!r.Bytes(&id)) return Malformed("bad vertex id");
    } else if (f == 2 && wt == kLen) {
      if (!r.Bytes(&s)) return Malformed("bad vertex property");
      RETURN_IF_ERROR(ParsePackedProps(s, keys, scratch));
    } else if (f == 3 && wt == kLen) {
      if (!keys.v4) return NotBefore4("uuid_id");
      if (!r.Bytes(&uuid_id)) return Malformed("bad vertex uuid_id");
      have_uuid_id = true;
    } else if ((f == 4 || f == 5) && wt == kVarint) {
      if (!keys.v4) return NotBefore4(f == 4 ? "vitrage_id_is_id" : "cached_id_derived");
      if (!r.Varint(f == 4 ? &vitrage_id_is_id : &cached_id_derived)) {
        return Malformed("bad vertex flag");
      }
    } else if (!r.Skip(wt)) {
      return Malformed("bad vertex field");
    }
  }
  thread_local std::string id_text;
  if (have_uuid_id) {
    if (!id.empty()) return Malformed("vertex with both an id and a uuid_id");
    if (uuid_id.size() != 16) {
      return Malformed(absl::StrCat("vertex uuid_id of ", uuid_id.size(), " bytes (16 expected)"));
    }
    id_text.clear();
    AppendUuidText(uuid_id, &id_text);
    id = id_text;
  }
  if (id.empty()) return Malformed("vertex without an id");
  // The vertex shares its id string with its vitrage_id property.
  Value idv;
  for (const MapEntry& e : *scratch) {
    if (e.first == graph::keys::kVitrageId) {
      if (vitrage_id_is_id != 0) return Malformed("vitrage_id both listed and implied");
      if (e.second.is_stable_string() && e.second.string_value() == id) {
        idv = e.second;
        break;
      }
    }
  }
  if (idv.is_null()) idv = Value::StableString(id);
  if (vitrage_id_is_id != 0) scratch->emplace_back(graph::keys::kVitrageId, idv);
  bool derive = false;
  if (cached_id_derived != 0) {
    thread_local std::string key;
    auto find = [scratch](KeyId k) -> const Value* {
      for (const MapEntry& e : *scratch) {
        if (e.first == k) return &e.second;
      }
      return nullptr;
    };
    if (find(graph::keys::kVitrageCachedId) != nullptr) {
      return Malformed("vitrage_cached_id both listed and derived");
    }
    if (!CachedIdKey(find, &key)) {
      return Malformed(
          "vitrage_cached_id derived, but vitrage_category, vitrage_type or id is not a string");
    }
    const size_t begin = out->derive_keys.size();
    out->derive_keys.append(key);
    out->derive.push_back({out->vertices.size(), begin, out->derive_keys.size()});
    // A place for it, so that setting it later moves nothing.
    scratch->emplace_back(graph::keys::kVitrageCachedId, Value());
    derive = true;
  }
  graph::Properties props = TakeProps(scratch);
  // A derived cached id may be part of the natural key (alarms): computed
  // with it, in DeriveCachedIds.
  const graph::Graph::NaturalKey natural =
      derive ? graph::Graph::NaturalKey() : graph::Graph::NaturalKeyOf(props);
  out->vertices.push_back({std::move(idv), std::move(props), natural});
  return absl::OkStatus();
}

// Adds the derived vitrage_cached_id of every vertex in chunk->derive, and
// then its natural key.
void DeriveCachedIds(ParsedChunk* chunk) {
  const auto& d = chunk->derive;
  thread_local std::vector<absl::string_view> keys;
  thread_local std::vector<unsigned char> md;
  keys.clear();
  for (const ParsedChunk::Derive& x : d) {
    keys.push_back(absl::string_view(chunk->derive_keys).substr(x.begin, x.end - x.begin));
  }
  md.resize(16 * d.size());
  Md5Batch(keys.data(), keys.size(), md.data());
  std::string hex;
  for (size_t i = 0; i < d.size(); ++i) {
    hex.clear();
    AppendHexText(absl::string_view(reinterpret_cast<const char*>(&md[16 * i]), 16), &hex);
    ParsedChunk::Vertex& v = chunk->vertices[d[i].vertex];
    v.props.Set(graph::keys::kVitrageCachedId,
                Value::StringFor(graph::keys::kVitrageCachedId, hex));
    v.natural = graph::Graph::NaturalKeyOf(v.props);
  }
  chunk->derive.clear();
  chunk->derive_keys.clear();
}

// `last_source`: the source position of the chunk's previous edge (0 before
// the first); version 4 edges give their ends as steps from it.
absl::Status ParsePackedEdge(absl::string_view in, const Tables& tables, ParsedChunk* out,
                             std::vector<MapEntry>* scratch, uint64_t* last_source) {
  Reader r(in);
  uint64_t src = 0, dst = 0, label = 0, step = 0, offset = 0;
  absl::string_view s;
  scratch->clear();
  while (!r.done()) {
    int f, wt;
    if (!r.Tag(&f, &wt)) return Malformed("bad edge tag");
    if (f >= 1 && f <= 3 && wt == kVarint) {
      if (f != 3 && tables.v4) return Malformed("edge positions in a version 4 snapshot");
      if (!r.Varint(f == 1 ? &src : f == 2 ? &dst : &label)) return Malformed("bad edge key");
    } else if ((f == 5 || f == 6) && wt == kVarint) {
      if (!tables.v4) return NotBefore4(f == 5 ? "source_step" : "target_offset");
      if (!r.Varint(f == 5 ? &step : &offset)) return Malformed("bad edge step");
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
  if (tables.v4) {
    // Positions are far below 2^62: a step that leaves [0, 2^62) is corrupt.
    constexpr int64_t kLimit = int64_t{1} << 62;
    const int64_t d = UnZigZag(step), o = UnZigZag(offset);
    const int64_t last = static_cast<int64_t>(*last_source);
    if (d < -last || d >= kLimit - last || o < -(last + d) || o >= kLimit - (last + d)) {
      return Malformed(absl::StrCat("edge ends outside the vertex positions (source step ", d,
                                    ", target offset ", o, ", previous source ", last, ")"));
    }
    src = static_cast<uint64_t>(last + d);
    dst = static_cast<uint64_t>(last + d + o);
    *last_source = src;
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

size_t PackedWriter::PrepareProps(const Properties& p, KeyId skip1, KeyId skip2) {
  size_t n = 0;
  char uuid[16];
  for (const MapEntry& e : p) {
    if (e.first == skip1 || e.first == skip2) {
      forms_.push_back(kLeftOut);
      value_sizes_.push_back(0);
      value_refs_.push_back(0);
      continue;
    }
    uint32_t ref = ValueRef(e.first, e.second);
    Form form = ref != 0 ? kRef : kInPlace;
    size_t vs = 0;
    if (form == kInPlace && compact_ && e.second.is_string()) {
      const absl::string_view text = e.second.string_value();
      if (UuidBytes(text, uuid)) {
        form = kUuid;
        vs = 16;
      } else if (IsHexText(text)) {
        form = kHex;
        vs = text.size() / 2;
      }
    }
    if (form == kInPlace) vs = ValueSize(e.second);
    forms_.push_back(form);
    value_sizes_.push_back(vs);
    value_refs_.push_back(ref);
    n += LenFieldSize(PackedPropertySize(Index(e.first), vs, ref));
  }
  return n;
}

void PackedWriter::AppendProps(int field, const Properties& p, std::string* out) {
  size_t i = 0;
  for (const MapEntry& e : p) {
    const Form form = forms_[i];
    size_t vs = value_sizes_[i];
    uint32_t ref = value_refs_[i++];
    if (form == kLeftOut) continue;
    uint32_t index = index_of_[e.first] - 1;
    PutTag(field, kLen, out);
    PutVarint(PackedPropertySize(index, vs, ref), out);
    PutVarintField(1, index, out);
    switch (form) {
      case kRef:
        PutVarintField(3, ref, out);
        break;
      case kHex:
        PutTag(4, kLen, out);
        PutVarint(vs, out);
        PutHexAsBytes(e.second.string_value(), out);
        break;
      case kUuid: {
        char uuid[16];
        UuidBytes(e.second.string_value(), uuid);
        PutTag(5, kLen, out);
        PutVarint(16, out);
        out->append(uuid, 16);
        break;
      }
      default:
        PutTag(2, kLen, out);
        PutVarint(vs, out);
        PutValue(e.second, out);
    }
  }
}

void PackedWriter::PlanVertices(const graph::Graph& g, const graph::Slot* v, size_t n) {
  planned_ = 0;
  if (!compact_) return;
  // The candidates' natural keys, hashed together.
  thread_local std::string keys[kPlan];
  absl::string_view cached[kPlan], hashed[kPlan];
  int candidate[kPlan];
  size_t candidates = 0;
  for (size_t i = 0; i < n && i < kPlan; ++i) {
    plan_[planned_] = v[i];
    derivable_[planned_] = false;
    cached[planned_] = CachedIdCandidate(g.VertexProps(v[i]), &keys[planned_]);
    if (!cached[planned_].empty()) {
      candidate[candidates] = planned_;
      hashed[candidates++] = keys[planned_];
    }
    ++planned_;
  }
  unsigned char md[kPlan * 16];
  Md5Batch(hashed, candidates, md);
  for (size_t c = 0; c < candidates; ++c) {
    derivable_[candidate[c]] = IsMd5Hex(cached[candidate[c]], md + 16 * c);
  }
}

size_t PackedWriter::PrepareVertex(const graph::Graph& g, graph::Slot v) {
  value_sizes_.clear();
  value_refs_.clear();
  forms_.clear();
  const Properties& p = g.VertexProps(v);
  const absl::string_view id = g.VertexId(v);
  uuid_id_ = vitrage_id_is_id_ = cached_id_derived_ = false;
  if (compact_) {
    uuid_id_ = UuidBytes(id, uuid_bytes_);
    const Value* vid = p.Find(graph::keys::kVitrageId);
    vitrage_id_is_id_ = vid != nullptr && vid->is_string() && vid->string_value() == id;
    int planned = -1;
    for (int i = 0; i < planned_; ++i) {
      if (plan_[i] == v) planned = i;
    }
    if (planned < 0) {  // a caller that did not plan ahead
      PlanVertices(g, &v, 1);
      planned = 0;
    }
    cached_id_derived_ = derivable_[planned];
  }
  msg_size_ = (uuid_id_ ? LenFieldSize(16) : StrFieldSize(id)) + (vitrage_id_is_id_ ? 2 : 0) +
              (cached_id_derived_ ? 2 : 0) +
              PrepareProps(p, vitrage_id_is_id_ ? graph::keys::kVitrageId : kNoKey,
                           cached_id_derived_ ? graph::keys::kVitrageCachedId : kNoKey);
  return LenFieldSize(msg_size_);
}

void PackedWriter::AppendVertex(const graph::Graph& g, graph::Slot v, std::string* out) {
  PutTag(kBodyPackedVertices, kLen, out);
  PutVarint(msg_size_, out);
  if (uuid_id_) {
    PutStrFieldAlways(3, absl::string_view(uuid_bytes_, 16), out);
  } else {
    PutStrField(1, g.VertexId(v), out);
  }
  AppendProps(2, g.VertexProps(v), out);
  if (vitrage_id_is_id_) PutVarintField(4, 1, out);
  if (cached_id_derived_) PutVarintField(5, 1, out);
}

// Version 4 writes the ends as steps (fields 5 and 6), leaving out zeros.
size_t PackedWriter::PrepareEdge(const graph::Graph& g, graph::Slot e, uint64_t source,
                                 uint64_t target) {
  value_sizes_.clear();
  value_refs_.clear();
  forms_.clear();
  size_t ends;
  if (compact_) {
    const uint64_t step = ZigZag(static_cast<int64_t>(source - last_source_));
    const uint64_t offset = ZigZag(static_cast<int64_t>(target - source));
    ends = (step != 0 ? 1 + VarintSize(step) : 0) + (offset != 0 ? 1 + VarintSize(offset) : 0);
  } else {
    ends = 1 + VarintSize(source) + 1 + VarintSize(target);
  }
  msg_size_ =
      ends + 1 + VarintSize(Index(g.EdgeLabelId(e))) + PrepareProps(g.EdgeProps(e), kNoKey, kNoKey);
  return LenFieldSize(msg_size_);
}

void PackedWriter::AppendEdge(const graph::Graph& g, graph::Slot e, uint64_t source,
                              uint64_t target, std::string* out) {
  PutTag(kBodyPackedEdges, kLen, out);
  PutVarint(msg_size_, out);
  if (compact_) {
    const uint64_t step = ZigZag(static_cast<int64_t>(source - last_source_));
    const uint64_t offset = ZigZag(static_cast<int64_t>(target - source));
    if (step != 0) PutVarintField(5, step, out);
    if (offset != 0) PutVarintField(6, offset, out);
    last_source_ = source;
  } else {
    PutVarintField(1, source, out);
    PutVarintField(2, target, out);
  }
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
  last_source_ = 0;
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
  tables.v4 = format_version >= 4;
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
  uint64_t vertex_index = 0, edge_index = 0, last_source = 0;
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
        absl::Status st = f == kBodyEdges ? ParseEdge(s, g, state)
                                          : ParsePackedEdge(s, tables, out, &scratch, &last_source);
        if (!st.ok()) return Numbered(st, "edge", edge_index);
        ++edge_index;
        break;
      }
      default:
        break;
    }
  }
  DeriveCachedIds(out);
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
