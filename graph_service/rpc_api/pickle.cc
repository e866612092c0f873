#include "graph_service/rpc_api/pickle.h"

#include <libdeflate.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "absl/strings/escaping.h"
#include "glog/logging.h"

namespace vitrage::rpc_api {
namespace {}  // namespace

// Distinct interned string values kept in the memo at most (beyond it
// they are written in full): bounds the memo of a graph whose "interned"
// values turn out to be many.
constexpr size_t kMaxValueMemo = 4096;

PickleWriter::PickleWriter(bool memo) : memo_(memo) { Bytes("\x80\x02", 2); }

void PickleWriter::Grow(size_t n) { out_.resize(std::max(used_ + n, out_.size() * 2 + 4096)); }

void PickleWriter::BeginDict() {
  Bytes("}(", 2);  // EMPTY_DICT, MARK
  ++depth_;
}
void PickleWriter::EndDict() {
  Byte('u');  // SETITEMS
  --depth_;
}
void PickleWriter::BeginList() {
  Bytes("](", 2);  // EMPTY_LIST, MARK
  ++depth_;
}
void PickleWriter::EndList() {
  Byte('e');  // APPENDS
  --depth_;
}

void PickleWriter::Str(absl::string_view s) {
  // BINUNICODE: uint32 length + UTF-8
  char* p = Room(5 + s.size());
  p[0] = 'X';
  p[1] = static_cast<char>(s.size());
  p[2] = static_cast<char>(s.size() >> 8);
  p[3] = static_cast<char>(s.size() >> 16);
  p[4] = static_cast<char>(s.size() >> 24);
  memcpy(p + 5, s.data(), s.size());
}

void PickleWriter::Put(uint32_t index) {
  if (index < 256) {
    char b[2] = {'q', static_cast<char>(index)};  // BINPUT
    Bytes(b, 2);
  } else {
    Byte('r');  // LONG_BINPUT
    Le32(index);
  }
}

void PickleWriter::Get(uint32_t index) {
  if (index < 256) {
    char b[2] = {'h', static_cast<char>(index)};  // BINGET
    Bytes(b, 2);
  } else {
    Byte('j');  // LONG_BINGET
    Le32(index);
  }
}

void PickleWriter::MemoStr(absl::string_view s, int64_t* slot) {
  if (*slot >= 0) {
    Get(static_cast<uint32_t>(*slot));
    return;
  }
  Str(s);
  *slot = next_memo_++;
  Put(static_cast<uint32_t>(*slot));
}

void PickleWriter::Name(absl::string_view s) {
  if (!memo_) {
    Str(s);
    return;
  }
  MemoStr(s, &name_memo_.try_emplace(s, -1).first->second);
}

void PickleWriter::Key(graph::KeyId key) {
  if (!memo_) {
    Str(graph::KeyName(key));
    return;
  }
  if (key >= key_memo_.size()) key_memo_.resize(std::max<size_t>(key + 1, graph::KeyCount()), -1);
  MemoStr(graph::KeyName(key), &key_memo_[key]);
}

void PickleWriter::Member(graph::KeyId key, const graph::Value& v) {
  Key(key);
  if (memo_ && v.is_string() && graph::KeyInternsValues(key)) {
    absl::string_view s = v.string_value();
    auto it = value_memo_.find(s);
    if (it != value_memo_.end()) {
      MemoStr(s, &it->second);
      return;
    }
    if (value_memo_.size() < kMaxValueMemo) {
      MemoStr(s, &value_memo_.emplace(std::string(s), -1).first->second);
      return;
    }
  }
  Value(v);
}

void PickleWriter::Int(int64_t i) {
  if (i >= INT32_MIN && i <= INT32_MAX) {
    Byte('J');  // BININT
    Le32(static_cast<uint32_t>(static_cast<int32_t>(i)));
    return;
  }
  // LONG1: little-endian two's complement, shortest form.
  char bytes[8];
  uint64_t u = static_cast<uint64_t>(i);
  for (int k = 0; k < 8; ++k) bytes[k] = static_cast<char>(u >> (8 * k));
  int n = 8;
  while (n > 1) {
    const bool neg_top = (bytes[n - 2] & 0x80) != 0;
    if ((bytes[n - 1] == 0 && !neg_top) || (bytes[n - 1] == static_cast<char>(0xff) && neg_top)) {
      --n;
    } else {
      break;
    }
  }
  Byte('\x8a');
  Byte(static_cast<char>(n));
  Bytes(bytes, n);
}

void PickleWriter::Float(double d) {
  Byte('G');  // BINFLOAT: big-endian IEEE 754
  uint64_t u;
  memcpy(&u, &d, 8);
  char b[8];
  for (int k = 0; k < 8; ++k) b[k] = static_cast<char>(u >> (8 * (7 - k)));
  Bytes(b, 8);
}

void PickleWriter::Bool(bool b) { Byte(b ? '\x88' : '\x89'); }
void PickleWriter::None() { Byte('N'); }

void PickleWriter::Value(const graph::Value& v) {
  using K = graph::Value::Kind;
  switch (v.kind()) {
    case K::kNull:
      None();
      return;
    case K::kBool:
      Bool(v.bool_value());
      return;
    case K::kInt:
      Int(v.int_value());
      return;
    case K::kDouble:
      Float(v.double_value());
      return;
    case K::kString:
      Str(v.string_value());
      return;
    case K::kList:
      BeginList();
      for (const graph::Value& x : v.list_items()) Value(x);
      EndList();
      return;
    case K::kMap:
      BeginDict();
      for (const graph::MapEntry* e : graph::SortedByName(v.map_entries())) {
        Key(e->first);
        Value(e->second);
      }
      EndDict();
      return;
  }
}

void PickleWriter::PropertiesMembers(const graph::Properties& p) {
  for (const graph::MapEntry* e : graph::SortedByName(p.items())) Member(e->first, e->second);
}

const std::vector<const graph::MapEntry*>& NameOrder::Of(absl::Span<const graph::MapEntry> items) {
  uint64_t h = items.size();
  for (const graph::MapEntry& e : items) h = (h ^ e.first) * 0x9e3779b97f4a7c15ull;
  out_.clear();
  auto it = cache_.find(h);
  bool same = it != cache_.end() && it->second.keys.size() == items.size();
  for (size_t i = 0; same && i < items.size(); ++i) same = it->second.keys[i] == items[i].first;
  if (same) {
    for (uint32_t i : it->second.order) out_.push_back(&items[i]);
    return out_;
  }
  out_ = graph::SortedByName(items);
  if (it == cache_.end() && cache_.size() < 4096) {
    Cached c;
    for (const graph::MapEntry& e : items) c.keys.push_back(e.first);
    for (const graph::MapEntry* e : out_) c.order.push_back(static_cast<uint32_t>(e - &items[0]));
    cache_.emplace(h, std::move(c));
  }
  return out_;
}

void PickleWriter::Json(const nlohmann::json& j) {
  switch (j.type()) {
    case nlohmann::json::value_t::null:
    case nlohmann::json::value_t::discarded:
      None();
      return;
    case nlohmann::json::value_t::boolean:
      Bool(j.get<bool>());
      return;
    case nlohmann::json::value_t::number_integer:
      Int(j.get<int64_t>());
      return;
    case nlohmann::json::value_t::number_unsigned: {
      uint64_t u = j.get<uint64_t>();
      if (u <= static_cast<uint64_t>(INT64_MAX)) {
        Int(static_cast<int64_t>(u));
      } else {
        Float(static_cast<double>(u));
      }
      return;
    }
    case nlohmann::json::value_t::number_float:
      Float(j.get<double>());
      return;
    case nlohmann::json::value_t::string:
      Str(j.get_ref<const std::string&>());
      return;
    case nlohmann::json::value_t::array:
      BeginList();
      for (const auto& x : j) Json(x);
      EndList();
      return;
    case nlohmann::json::value_t::object:
      BeginDict();
      for (auto it = j.begin(); it != j.end(); ++it) {
        Str(it.key());
        Json(it.value());
      }
      EndDict();
      return;
    case nlohmann::json::value_t::binary:
      None();
      return;
  }
}

std::string PickleWriter::Finish() {
  DCHECK_EQ(depth_, 0);
  Byte('.');
  out_.resize(used_);
  used_ = 0;
  return std::move(out_);
}

std::string CompressObj(absl::string_view pickle, int level) {
  struct Free {
    void operator()(libdeflate_compressor* c) const { libdeflate_free_compressor(c); }
  };
  // One compressor per thread and level (allocating one costs more than a
  // small answer).
  thread_local std::unique_ptr<libdeflate_compressor, Free> compressor;
  thread_local int compressor_level = -1;
  if (compressor == nullptr || compressor_level != level) {
    compressor.reset(libdeflate_alloc_compressor(level));
    compressor_level = level;
  }
  CHECK(compressor != nullptr) << "libdeflate_alloc_compressor(" << level << ")";
  std::string z(libdeflate_zlib_compress_bound(compressor.get(), pickle.size()), '\0');
  size_t n =
      libdeflate_zlib_compress(compressor.get(), pickle.data(), pickle.size(), z.data(), z.size());
  CHECK_GT(n, 0u) << "libdeflate_zlib_compress: the bound was too small";
  z.resize(n);
  return absl::Base64Escape(z);
}

}  // namespace vitrage::rpc_api
