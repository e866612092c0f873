#include "graph_service/graph/json_value.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include <charconv>
#include <cmath>
#include <cstring>
#include <utility>
#include <vector>

namespace vitrage::graph {

Value ValueFromJson(const nlohmann::json& j, KeyId key) {
  using T = nlohmann::json::value_t;
  switch (j.type()) {
    case T::null:
    case T::discarded:
      return Value();
    case T::boolean:
      return Value::Bool(j.get<bool>());
    case T::number_integer:
      return Value::Int(j.get<int64_t>());
    case T::number_unsigned: {
      uint64_t u = j.get<uint64_t>();
      if (u <= static_cast<uint64_t>(INT64_MAX)) return Value::Int(static_cast<int64_t>(u));
      return Value::Double(static_cast<double>(u));
    }
    case T::number_float:
      return Value::Double(j.get<double>());
    case T::string:
      return Value::StringFor(key, j.get_ref<const std::string&>());
    case T::array: {
      std::vector<Value> items;
      items.reserve(j.size());
      for (const auto& e : j) items.push_back(ValueFromJson(e, key));
      return Value::List(std::move(items));
    }
    case T::object: {
      std::vector<MapEntry> entries;
      entries.reserve(j.size());
      for (auto it = j.begin(); it != j.end(); ++it) {
        KeyId k = InternKey(it.key());
        entries.emplace_back(k, ValueFromJson(it.value(), k));
      }
      return Value::Map(std::move(entries));
    }
    case T::binary:
      return Value();
  }
  return Value();
}

nlohmann::json ValueToJson(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kNull:
      return nullptr;
    case Value::Kind::kBool:
      return v.bool_value();
    case Value::Kind::kInt:
      return v.int_value();
    case Value::Kind::kDouble:
      return v.double_value();
    case Value::Kind::kString:
      return std::string(v.string_value());
    case Value::Kind::kList: {
      nlohmann::json a = nlohmann::json::array();
      for (const Value& e : v.list_items()) a.push_back(ValueToJson(e));
      return a;
    }
    case Value::Kind::kMap: {
      nlohmann::json o = nlohmann::json::object();
      for (const auto& e : v.map_entries())
        o[std::string(KeyName(e.first))] = ValueToJson(e.second);
      return o;
    }
  }
  return nullptr;
}

Properties PropertiesFromJson(const nlohmann::json& j) {
  Properties p;
  p.Reserve(j.size());
  for (auto it = j.begin(); it != j.end(); ++it) {
    KeyId k = InternKey(it.key());
    p.AppendUnsorted(k, ValueFromJson(it.value(), k));
  }
  p.SortAndDedupe();
  return p;
}

nlohmann::json PropertiesToJson(const Properties& p) {
  nlohmann::json o = nlohmann::json::object();
  for (const auto& e : p) o[std::string(KeyName(e.first))] = ValueToJson(e.second);
  return o;
}

void AppendPythonFloat(double d, std::string* out) {
  if (std::isnan(d)) {
    out->append("NaN");
    return;
  }
  if (std::isinf(d)) {
    out->append(d > 0 ? "Infinity" : "-Infinity");
    return;
  }
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf), d, std::chars_format::scientific);
  const char* p = buf;
  const char* end = r.ptr;
  if (*p == '-') {
    out->push_back('-');
    ++p;
  }
  // Mantissa digits without the point, then the exponent.
  char digits[32];
  int nd = 0;
  while (p < end && *p != 'e') {
    if (*p != '.') digits[nd++] = *p;
    ++p;
  }
  int exp = 0;
  if (p < end) {
    ++p;  // 'e'
    bool neg = *p == '-';
    ++p;
    while (p < end) exp = exp * 10 + (*p++ - '0');
    if (neg) exp = -exp;
  }
  int decpt = exp + 1;  // value = 0.DIGITS * 10^decpt
  if (decpt <= -4 || decpt > 16) {
    out->push_back(digits[0]);
    if (nd > 1) {
      out->push_back('.');
      out->append(digits + 1, nd - 1);
    }
    int e = decpt - 1;
    out->push_back('e');
    out->push_back(e < 0 ? '-' : '+');
    if (e < 0) e = -e;
    if (e < 10) out->push_back('0');
    char eb[8];
    auto er = std::to_chars(eb, eb + sizeof(eb), e);
    out->append(eb, er.ptr - eb);
  } else if (decpt <= 0) {
    out->append("0.");
    out->append(-decpt, '0');
    out->append(digits, nd);
  } else if (decpt >= nd) {
    out->append(digits, nd);
    out->append(decpt - nd, '0');
    out->append(".0");
  } else {
    out->append(digits, decpt);
    out->push_back('.');
    out->append(digits + decpt, nd - decpt);
  }
}

namespace {

const char kHex[] = "0123456789abcdef";

void AppendU(uint32_t cp, std::string* out) {
  char b[6] = {'\\',         'u', kHex[(cp >> 12) & 15], kHex[(cp >> 8) & 15], kHex[(cp >> 4) & 15],
               kHex[cp & 15]};
  out->append(b, 6);
}

// Decodes one UTF-8 sequence at s[i]; returns the code point (0xFFFD on a
// bad sequence) and advances i.
uint32_t DecodeUtf8(absl::string_view s, size_t* i) {
  unsigned char c = s[*i];
  int n;
  uint32_t cp;
  if (c < 0x80) {
    ++*i;
    return c;
  } else if ((c & 0xE0) == 0xC0) {
    n = 1;
    cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    n = 2;
    cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    n = 3;
    cp = c & 0x07;
  } else {
    ++*i;
    return 0xFFFD;
  }
  if (*i + n >= s.size()) {
    ++*i;
    return 0xFFFD;
  }
  for (int k = 1; k <= n; ++k) {
    unsigned char cc = s[*i + k];
    if ((cc & 0xC0) != 0x80) {
      ++*i;
      return 0xFFFD;
    }
    cp = (cp << 6) | (cc & 0x3F);
  }
  *i += n + 1;
  return cp;
}

}  // namespace

void AppendPythonJsonString(absl::string_view s, std::string* out) {
  out->push_back('"');
  size_t i = 0;
  while (i < s.size()) {
    // Fast path: a run of printable ASCII without quote or backslash,
    // sixteen bytes at a time where the CPU has SSE2 (the snapshot
    // digest renders every string of the graph through here).
    size_t j = i;
#ifdef __SSE2__
    const __m128i kSpace = _mm_set1_epi8(0x20), kDel = _mm_set1_epi8(0x7f),
                  kQuote = _mm_set1_epi8('"'), kBackslash = _mm_set1_epi8('\\');
    while (j + 16 <= s.size()) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s.data() + j));
      // Signed: bytes >= 0x80 are negative, so below 0x20 too.
      const __m128i bad =
          _mm_or_si128(_mm_or_si128(_mm_cmplt_epi8(v, kSpace), _mm_cmpeq_epi8(v, kDel)),
                       _mm_or_si128(_mm_cmpeq_epi8(v, kQuote), _mm_cmpeq_epi8(v, kBackslash)));
      const int mask = _mm_movemask_epi8(bad);
      if (mask != 0) {
        j += static_cast<size_t>(__builtin_ctz(static_cast<unsigned>(mask)));
        break;
      }
      j += 16;
    }
#endif
    while (j < s.size()) {
      unsigned char c = s[j];
      if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') break;
      ++j;
    }
    if (j > i) {
      out->append(s.data() + i, j - i);
      i = j;
      if (i >= s.size()) break;
    }
    unsigned char c = s[i];
    switch (c) {
      case '"':
        out->append("\\\"");
        ++i;
        continue;
      case '\\':
        out->append("\\\\");
        ++i;
        continue;
      case '\n':
        out->append("\\n");
        ++i;
        continue;
      case '\r':
        out->append("\\r");
        ++i;
        continue;
      case '\t':
        out->append("\\t");
        ++i;
        continue;
      case '\b':
        out->append("\\b");
        ++i;
        continue;
      case '\f':
        out->append("\\f");
        ++i;
        continue;
      default:
        break;
    }
    if (c < 0x80) {
      AppendU(c, out);
      ++i;
      continue;
    }
    uint32_t cp = DecodeUtf8(s, &i);
    if (cp >= 0x10000) {
      cp -= 0x10000;
      AppendU(0xD800 | (cp >> 10), out);
      AppendU(0xDC00 | (cp & 0x3FF), out);
    } else {
      AppendU(cp, out);
    }
  }
  out->push_back('"');
}

void AppendPythonJson(const Value& v, std::string* out) {
  switch (v.kind()) {
    case Value::Kind::kNull:
      out->append("null");
      return;
    case Value::Kind::kBool:
      out->append(v.bool_value() ? "true" : "false");
      return;
    case Value::Kind::kInt: {
      char b[24];
      auto r = std::to_chars(b, b + sizeof(b), v.int_value());
      out->append(b, r.ptr - b);
      return;
    }
    case Value::Kind::kDouble:
      AppendPythonFloat(v.double_value(), out);
      return;
    case Value::Kind::kString:
      AppendPythonJsonString(v.string_value(), out);
      return;
    case Value::Kind::kList: {
      out->push_back('[');
      bool first = true;
      for (const Value& e : v.list_items()) {
        if (!first) out->append(", ");
        first = false;
        AppendPythonJson(e, out);
      }
      out->push_back(']');
      return;
    }
    case Value::Kind::kMap: {
      out->push_back('{');
      bool first = true;
      for (const MapEntry* e : SortedByName(v.map_entries())) {
        if (!first) out->append(", ");
        first = false;
        AppendPythonJsonString(KeyName(e->first), out);
        out->append(": ");
        AppendPythonJson(e->second, out);
      }
      out->push_back('}');
      return;
    }
  }
}

void AppendPythonJson(const Properties& p, std::string* out) {
  out->push_back('{');
  bool first = true;
  for (const MapEntry* e : SortedByName(p.items())) {
    if (!first) out->append(", ");
    first = false;
    AppendPythonJsonString(KeyName(e->first), out);
    out->append(": ");
    AppendPythonJson(e->second, out);
  }
  out->push_back('}');
}

}  // namespace vitrage::graph
