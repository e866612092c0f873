#include "graph_service/graph/value.h"

#include <algorithm>
#include <array>
#include <memory>
#include <mutex>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/escaping.h"
#include "absl/synchronization/mutex.h"
#include "glog/logging.h"

namespace vitrage::graph {
namespace internal {

// A heap string: an 8-byte header, then the characters and a NUL. The
// header is kept at 8 bytes (the flag shares a word with the size) so that
// a 36-character UUID takes jemalloc's 48-byte class, not the 64-byte one
// (docs/performance.md).
struct StrRep {
  std::atomic<uint32_t> refs;
  uint32_t size : 31;
  uint32_t immortal : 1;
  char data[1];

  static StrRep* Make(absl::string_view s, bool immortal) {
    // No input reaches 2 GiB: protobuf messages and request bodies are
    // limited far below it ([limits], rpc_api).
    CHECK_LT(s.size(), size_t{1} << 31) << "string value of 2 GiB or more";
    void* mem = ::operator new(offsetof(StrRep, data) + s.size() + 1);
    StrRep* r = static_cast<StrRep*>(mem);
    new (&r->refs) std::atomic<uint32_t>(1);
    r->immortal = immortal ? 1 : 0;
    r->size = static_cast<uint32_t>(s.size());
    if (!s.empty()) memcpy(r->data, s.data(), s.size());
    r->data[s.size()] = 0;
    return r;
  }
  absl::string_view view() const { return absl::string_view(data, size); }
};
static_assert(offsetof(StrRep, data) == 8, "StrRep's header must stay 8 bytes");

struct ListRep {
  std::atomic<uint32_t> refs{1};
  std::vector<Value> items;
};

struct MapRep {
  std::atomic<uint32_t> refs{1};
  std::vector<MapEntry> entries;
};

}  // namespace internal

namespace {

using internal::ListRep;
using internal::MapRep;
using internal::StrRep;

// Process-wide key table. Reads (KeyName) are lock-free: names live in
// fixed-size blocks that never move.
class KeyTable {
 public:
  static constexpr size_t kBlockBits = 10;
  static constexpr size_t kBlockSize = size_t{1} << kBlockBits;
  static constexpr size_t kMaxBlocks = 4096;

  static_assert(kMaxBlocks * kBlockSize == kKeyTableCapacity);

  KeyId Intern(absl::string_view key) {
    {
      absl::ReaderMutexLock l(&mu_);
      auto it = index_.find(key);
      if (it != index_.end()) return it->second;
    }
    absl::MutexLock l(&mu_);
    auto it = index_.find(key);
    if (it != index_.end()) return it->second;
    KeyId id = count_.load(std::memory_order_relaxed);
    if (id >= capacity_ - 1) return OverflowLocked(key);
    Entry& e = EntryLocked(id);
    e.name = std::string(key);
    e.intern_values = false;
    index_.emplace(absl::string_view(e.name), id);
    count_.store(id + 1, std::memory_order_release);
    return id;
  }

  bool Contains(absl::string_view key) {
    absl::ReaderMutexLock l(&mu_);
    return index_.contains(key);
  }
  uint64_t Overflows() const { return overflows_.load(std::memory_order_relaxed); }
  void SetCapacity(uint32_t capacity) {
    absl::MutexLock l(&mu_);
    capacity_ = std::min(capacity, kKeyTableCapacity);
  }

  absl::string_view Name(KeyId id) const {
    const Entry* b = blocks_[id >> kBlockBits].load(std::memory_order_acquire);
    return b[id & (kBlockSize - 1)].name;
  }
  uint32_t Count() const { return count_.load(std::memory_order_acquire); }
  bool InternsValues(KeyId id) const {
    const Entry* b = blocks_[id >> kBlockBits].load(std::memory_order_acquire);
    return b[id & (kBlockSize - 1)].intern_values;
  }
  void SetInternsValues(KeyId id) {
    absl::MutexLock l(&mu_);
    blocks_[id >> kBlockBits].load()[id & (kBlockSize - 1)].intern_values = true;
  }

 private:
  struct Entry {
    std::string name;
    bool intern_values = false;
  };
  Entry& EntryLocked(KeyId id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    size_t block = id >> kBlockBits;
    if (blocks_[block] == nullptr) {
      blocks_[block].store(new Entry[kBlockSize], std::memory_order_release);
    }
    return blocks_[block].load(std::memory_order_relaxed)[id & (kBlockSize - 1)];
  }

  // The table is full: `key` gets the shared overflow id, whose name is
  // never in the index (every later new key overflows and is counted too).
  KeyId OverflowLocked(absl::string_view key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    Entry& e = EntryLocked(kKeyTableFull);
    if (e.name.empty()) e.name = "vitrage_key_table_full";
    uint64_t n = overflows_.fetch_add(1, std::memory_order_relaxed) + 1;
    if (n == 1 || n % 100000 == 0) {
      LOG(ERROR) << "property key table full (" << count_.load(std::memory_order_relaxed)
                 << " distinct keys): key \"" << absl::CEscape(key.substr(0, 64))
                 << "\" not interned (" << n << " such keys so far)";
    }
    return kKeyTableFull;
  }

  absl::Mutex mu_;
  absl::flat_hash_map<absl::string_view, KeyId> index_;
  std::atomic<uint32_t> count_{0};
  std::atomic<uint64_t> overflows_{0};
  uint32_t capacity_ ABSL_GUARDED_BY(mu_) = kKeyTableCapacity;
  std::array<std::atomic<Entry*>, kMaxBlocks> blocks_{};
};

KeyTable& Keys() {
  static KeyTable* t = new KeyTable();
  return *t;
}

// Interned (immortal) string values, capped so that a flood of distinct
// values of a "common" key cannot grow it without bound.
class ValueInterner {
 public:
  static constexpr size_t kMaxEntries = 1 << 18;

  StrRep* Intern(absl::string_view s) {
    {
      absl::ReaderMutexLock l(&mu_);
      auto it = index_.find(s);
      if (it != index_.end()) return it->second;
      if (index_.size() >= kMaxEntries) return nullptr;
    }
    absl::MutexLock l(&mu_);
    auto it = index_.find(s);
    if (it != index_.end()) return it->second;
    if (index_.size() >= kMaxEntries) return nullptr;
    StrRep* r = StrRep::Make(s, /*immortal=*/true);
    index_.emplace(r->view(), r);
    return r;
  }

 private:
  absl::Mutex mu_;
  absl::flat_hash_map<absl::string_view, StrRep*> index_;
};

ValueInterner& Interner() {
  static ValueInterner* t = new ValueInterner();
  return *t;
}

KeyId InternCommon(absl::string_view key) {
  KeyId id = Keys().Intern(key);
  Keys().SetInternsValues(id);
  return id;
}

// Keys whose string values are interned: few distinct values, many
// occurrences.
const bool kCommonKeysInterned = [] {
  for (const char* k : {"vitrage_category",
                        "vitrage_type",
                        "state",
                        "vitrage_aggregated_state",
                        "vitrage_operational_state",
                        "vitrage_datasource_name",
                        "relationship_type",
                        "vitrage_sample_timestamp",
                        "update_timestamp",
                        "severity",
                        "status",
                        "project_id",
                        "tenant_id",
                        "host_id",
                        "volume_type",
                        "resource_type",
                        "vitrage_resource_type",
                        "vitrage_severity",
                        "vitrage_aggregated_severity",
                        "vitrage_operational_severity",
                        "host",
                        "zone",
                        "created_at",
                        "updated_at"}) {
    InternCommon(k);
  }
  return true;
}();

}  // namespace

namespace {

// A cheap hash of a short string for the per-thread lookup caches below:
// its length and its first and last 8 bytes. Only picks a cache slot; a hit
// is always confirmed by comparing the whole string.
inline size_t QuickHash(absl::string_view s) {
  uint64_t a = 0, b = 0;
  if (s.size() >= 8) {
    memcpy(&a, s.data(), 8);
    memcpy(&b, s.data() + s.size() - 8, 8);
  } else {
    for (size_t i = 0; i < s.size(); ++i) a = (a << 8) | static_cast<unsigned char>(s[i]);
  }
  uint64_t h = (a * 0x9E3779B97F4A7C15ull) ^ (b * 0xC2B2AE3D27D4EB4Full) ^ s.size();
  return static_cast<size_t>(h ^ (h >> 31) ^ (h >> 47));
}

// a[0, n) == b[0, n), inline (keys and common values are short; a libc
// memcmp call costs more than the comparison).
inline bool SameBytes(const char* a, const char* b, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t x, y;
    memcpy(&x, a + i, 8);
    memcpy(&y, b + i, 8);
    if (x != y) return false;
  }
  for (; i < n; ++i) {
    if (a[i] != b[i]) return false;
  }
  return true;
}

// Per-thread, direct-mapped: the names are immortal (the key table never
// frees them), so an entry stays right forever; a collision only evicts.
struct KeyCacheEntry {
  const char* name;
  uint32_t size;
  KeyId id;
};
constexpr size_t kKeyCacheSize = 4096;
// On the heap, made at a thread's first use: a static TLS array this big
// (64 KiB) makes pthread_create fail (EINVAL) for threads with small stacks,
// e.g. civetweb's metrics server ("null context when constructing
// CivetServer").
KeyCacheEntry* KeyCache() {
  thread_local std::unique_ptr<KeyCacheEntry[]> cache(new KeyCacheEntry[kKeyCacheSize]());
  return cache.get();
}

}  // namespace

KeyId InternKey(absl::string_view key) {
  // Ids never change, so a per-thread cache in front of the shared table
  // is always right and spares the lock and the full hash on hot paths
  // (event conversion, decode, replay).
  KeyCacheEntry& e = KeyCache()[QuickHash(key) & (kKeyCacheSize - 1)];
  if (e.name != nullptr && e.size == key.size() && SameBytes(e.name, key.data(), key.size())) {
    return e.id;
  }
  // Behind it, a larger per-thread map, then the shared table.
  thread_local absl::flat_hash_map<absl::string_view, KeyId> map;  // views of immortal names
  KeyId id;
  auto it = map.find(key);
  if (it != map.end()) {
    id = it->second;
  } else {
    id = Keys().Intern(key);
    if (id == kKeyTableFull) return id;  // not cached: the key has no name of its own
    if (map.size() < (1 << 16)) map.emplace(Keys().Name(id), id);
  }
  absl::string_view name = Keys().Name(id);
  e = KeyCacheEntry{name.data(), static_cast<uint32_t>(name.size()), id};
  return id;
}
bool KeyIsInterned(absl::string_view key) {
  KeyCacheEntry& e = KeyCache()[QuickHash(key) & (kKeyCacheSize - 1)];
  if (e.name != nullptr && e.size == key.size() && SameBytes(e.name, key.data(), key.size())) {
    return e.id != kKeyTableFull;
  }
  return Keys().Contains(key);
}
uint32_t KeyCount() { return Keys().Count(); }
uint64_t KeyTableOverflows() { return Keys().Overflows(); }
void SetKeyTableCapacityForTest(uint32_t capacity) { Keys().SetCapacity(capacity); }
absl::string_view KeyName(KeyId id) { return Keys().Name(id); }
bool KeyInternsValues(KeyId key) {
  (void)kCommonKeysInterned;
  return Keys().InternsValues(key);
}

namespace keys {
const KeyId kVitrageId = InternKey("vitrage_id");
const KeyId kVitrageCategory = InternCommon("vitrage_category");
const KeyId kVitrageType = InternCommon("vitrage_type");
const KeyId kId = InternKey("id");
const KeyId kName = InternKey("name");
const KeyId kState = InternCommon("state");
const KeyId kVitrageIsDeleted = InternKey("vitrage_is_deleted");
const KeyId kVitrageIsPlaceholder = InternKey("vitrage_is_placeholder");
const KeyId kVitrageSampleTimestamp = InternCommon("vitrage_sample_timestamp");
const KeyId kVitrageAggregatedState = InternCommon("vitrage_aggregated_state");
const KeyId kVitrageOperationalState = InternCommon("vitrage_operational_state");
const KeyId kVitrageCachedId = InternKey("vitrage_cached_id");
const KeyId kVitrageDatasourceName = InternCommon("vitrage_datasource_name");
const KeyId kRelationshipType = InternCommon("relationship_type");
const KeyId kUpdateTimestamp = InternCommon("update_timestamp");
const KeyId kIsRealVitrageId = InternKey("is_real_vitrage_id");
const KeyId kSeverity = InternCommon("severity");
}  // namespace keys

// ---------------------------------------------------------------- Value

void Value::RetainSlow() const {
  switch (tag_) {
    case kTagStr:
      if (!u_.str->immortal) u_.str->refs.fetch_add(1, std::memory_order_relaxed);
      break;
    case kTagList:
      u_.list->refs.fetch_add(1, std::memory_order_relaxed);
      break;
    case kTagMap:
      u_.map->refs.fetch_add(1, std::memory_order_relaxed);
      break;
    default:
      break;
  }
}

void Value::ReleaseSlow() {
  switch (tag_) {
    case kTagStr:
      if (!u_.str->immortal && u_.str->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        ::operator delete(u_.str);
      }
      break;
    case kTagList:
      if (u_.list->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete u_.list;
      break;
    case kTagMap:
      if (u_.map->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete u_.map;
      break;
    default:
      break;
  }
  tag_ = kTagNull;
}

Value Value::Bool(bool b) {
  Value v;
  v.tag_ = kTagBool;
  v.u_.b = b;
  return v;
}

Value Value::Int(int64_t i) {
  Value v;
  v.tag_ = kTagInt;
  v.u_.i = i;
  return v;
}

Value Value::Double(double d) {
  Value v;
  v.tag_ = kTagDouble;
  v.u_.d = d;
  return v;
}

Value Value::String(absl::string_view s, bool intern) {
  Value v;
  if (s.size() <= kInlineMax) {
    v.tag_ = kTagSmallStr;
    v.small_len_ = static_cast<uint8_t>(s.size());
    if (!s.empty()) memcpy(reinterpret_cast<char*>(&v) + 2, s.data(), s.size());
    return v;
  }
  StrRep* r = nullptr;
  if (intern) {
    // Interned strings are immortal: a per-thread, direct-mapped cache of
    // them is always right (a collision only evicts).
    constexpr size_t kCacheSize = 4096;
    // On the heap (see KeyCache()).
    thread_local std::unique_ptr<StrRep*[]> cache(new StrRep*[kCacheSize]());
    StrRep*& c = cache[QuickHash(s) & (kCacheSize - 1)];
    if (c != nullptr && c->size == s.size() && SameBytes(c->data, s.data(), s.size())) {
      r = c;
    } else {
      // Behind it, a larger per-thread map (many distinct timestamps, say,
      // would keep evicting each other from the small one).
      thread_local absl::flat_hash_map<std::string, StrRep*> map;
      auto it = map.find(s);
      if (it != map.end()) {
        r = it->second;
      } else {
        r = Interner().Intern(s);
        if (r != nullptr && map.size() < (1 << 16)) map.emplace(std::string(s), r);
      }
      if (r != nullptr) c = r;
    }
  }
  if (r == nullptr) r = StrRep::Make(s, false);
  v.tag_ = kTagStr;
  v.u_.str = r;
  return v;
}

Value Value::StableString(absl::string_view s) {
  Value v;
  v.tag_ = kTagStr;
  v.u_.str = StrRep::Make(s, false);
  return v;
}

Value Value::List(std::vector<Value> items) {
  Value v;
  v.tag_ = kTagList;
  v.u_.list = new ListRep();
  v.u_.list->items = std::move(items);
  return v;
}

Value Value::Map(std::vector<MapEntry> entries) {
  Value v;
  v.tag_ = kTagMap;
  v.u_.map = new MapRep();
  // Sorted by key id, the last of duplicate keys winning: Properties'
  // invariant, restored in place (no temporary buffer for small maps).
  Properties sorted;
  sorted.Adopt(std::move(entries));
  sorted.SortAndDedupe();
  v.u_.map->entries = sorted.TakeItems();
  return v;
}

Value::Kind Value::kind() const {
  switch (tag_) {
    case kTagNull:
      return Kind::kNull;
    case kTagBool:
      return Kind::kBool;
    case kTagInt:
      return Kind::kInt;
    case kTagDouble:
      return Kind::kDouble;
    case kTagSmallStr:
    case kTagStr:
      return Kind::kString;
    case kTagList:
      return Kind::kList;
    default:
      return Kind::kMap;
  }
}

absl::string_view Value::string_value() const {
  if (tag_ == kTagSmallStr) {
    return absl::string_view(reinterpret_cast<const char*>(this) + 2, small_len_);
  }
  return u_.str->view();
}

const std::vector<Value>& Value::list_items() const { return u_.list->items; }
const std::vector<MapEntry>& Value::map_entries() const { return u_.map->entries; }

bool Value::operator==(const Value& o) const {
  if (is_string() && o.is_string()) {
    if (tag_ == kTagStr && o.tag_ == kTagStr && u_.str == o.u_.str) return true;
    return string_value() == o.string_value();
  }
  if (tag_ != o.tag_) return false;
  switch (tag_) {
    case kTagNull:
      return true;
    case kTagBool:
      return u_.b == o.u_.b;
    case kTagInt:
      return u_.i == o.u_.i;
    case kTagDouble:
      // Bitwise for NaN stability; +0.0 vs -0.0 print differently too.
      return memcmp(&u_.d, &o.u_.d, sizeof(double)) == 0;
    case kTagList:
      return u_.list == o.u_.list || u_.list->items == o.u_.list->items;
    case kTagMap:
      return u_.map == o.u_.map || u_.map->entries == o.u_.map->entries;
    default:
      return false;
  }
}

size_t Value::HeapBytes() const {
  switch (tag_) {
    case kTagStr:
      return u_.str->immortal ? 0 : offsetof(StrRep, data) + u_.str->size + 1;
    case kTagList: {
      size_t n = sizeof(ListRep) + u_.list->items.capacity() * sizeof(Value);
      for (const Value& v : u_.list->items) n += v.HeapBytes();
      return n;
    }
    case kTagMap: {
      size_t n = sizeof(MapRep) + u_.map->entries.capacity() * sizeof(MapEntry);
      for (const auto& e : u_.map->entries) n += e.second.HeapBytes();
      return n;
    }
    default:
      return 0;
  }
}

// ----------------------------------------------------------- Properties

Properties::Properties(const Properties& o) {
  const size_t n = o.size();
  if (n == 0) return;
  Reallocate(n);
  const MapEntry* src = o.data();
  MapEntry* dst = data();
  for (size_t i = 0; i < n; ++i) new (dst + i) MapEntry(src[i]);
  rep_->size = static_cast<uint32_t>(n);
}

Properties& Properties::operator=(const Properties& o) {
  if (this != &o) {
    Properties copy(o);
    *this = std::move(copy);
  }
  return *this;
}

void Properties::Free() {
  if (rep_ == nullptr) return;
  MapEntry* a = data();
  for (uint32_t i = 0; i < rep_->size; ++i) a[i].~MapEntry();
  ::operator delete(rep_);
  rep_ = nullptr;
}

void Properties::Reallocate(size_t cap) {
  const size_t n = size();
  if (cap == 0) {
    Free();
    return;
  }
  Rep* r = static_cast<Rep*>(::operator new(sizeof(Rep) + cap * sizeof(MapEntry)));
  r->size = static_cast<uint32_t>(n);
  r->cap = static_cast<uint32_t>(cap);
  if (rep_ != nullptr) {
    // Relocated as bytes: each member ends up in exactly one place, so
    // nothing is retained, released or destroyed.
    if (n > 0) {
      memcpy(static_cast<void*>(reinterpret_cast<char*>(r) + sizeof(Rep)),
             static_cast<const void*>(data()), n * sizeof(MapEntry));
    }
    ::operator delete(rep_);
  }
  rep_ = r;
}

void Properties::Grow(size_t n) {
  const size_t cap = capacity();
  if (n <= cap) return;
  Reallocate(std::max(n, cap * 2));
}

void Properties::Reserve(size_t n) {
  if (n > capacity()) Reallocate(n);
}

void Properties::ShrinkToFit() {
  if (capacity() > size()) Reallocate(size());
}

void Properties::Adopt(std::vector<MapEntry> items) {
  Free();
  if (items.empty()) return;
  Reallocate(items.size());
  MapEntry* dst = data();
  for (size_t i = 0; i < items.size(); ++i) new (dst + i) MapEntry(std::move(items[i]));
  rep_->size = static_cast<uint32_t>(items.size());
}

std::vector<MapEntry> Properties::TakeItems() {
  std::vector<MapEntry> out;
  out.reserve(size());
  for (MapEntry *e = data(), *end = data() + size(); e != end; ++e) out.push_back(std::move(*e));
  Free();
  return out;
}

const Value* Properties::Find(KeyId key) const {
  const MapEntry* a = data();
  const size_t n = size();
  // Linear scan beats binary search for the typical ~16 members.
  if (n <= 24) {
    for (size_t i = 0; i < n; ++i) {
      if (a[i].first == key) return &a[i].second;
      if (a[i].first > key) return nullptr;
    }
    return nullptr;
  }
  const MapEntry* it =
      std::lower_bound(a, a + n, key, [](const MapEntry& e, KeyId k) { return e.first < k; });
  return (it != a + n && it->first == key) ? &it->second : nullptr;
}

bool Properties::Set(KeyId key, Value v) {
  size_t n = size();
  MapEntry* a = data();
  if (n == 0 || a[n - 1].first < key) {  // builders often go in key order
    AppendUnsorted(key, std::move(v));
    return true;
  }
  MapEntry* it =
      std::lower_bound(a, a + n, key, [](const MapEntry& e, KeyId k) { return e.first < k; });
  if (it != a + n && it->first == key) {
    if (it->second == v) return false;
    it->second = std::move(v);
    return true;
  }
  const size_t pos = static_cast<size_t>(it - a);
  Grow(n + 1);
  a = data();
  // Members move up as bytes (relocatable), leaving room at `pos`.
  memmove(static_cast<void*>(a + pos + 1), static_cast<const void*>(a + pos),
          (n - pos) * sizeof(MapEntry));
  new (a + pos) MapEntry(key, std::move(v));
  ++rep_->size;
  return true;
}

bool Properties::Erase(KeyId key) {
  const size_t n = size();
  MapEntry* a = data();
  MapEntry* it =
      std::lower_bound(a, a + n, key, [](const MapEntry& e, KeyId k) { return e.first < k; });
  if (it == a + n || it->first != key) return false;
  it->~MapEntry();
  memmove(static_cast<void*>(it), static_cast<const void*>(it + 1),
          static_cast<size_t>(a + n - (it + 1)) * sizeof(MapEntry));
  --rep_->size;
  return true;
}

void Properties::SortAndDedupe() {
  const size_t n = size();
  MapEntry* a = data();
  auto less = [](const MapEntry& x, const MapEntry& y) { return x.first < y.first; };
  bool strictly_sorted = true;
  for (size_t i = 1; i < n; ++i) {
    if (a[i - 1].first >= a[i].first) {
      strictly_sorted = false;
      break;
    }
  }
  if (strictly_sorted) return;
  if (n <= 32) {
    // Insertion sort: stable and, unlike std::stable_sort, allocation-free.
    // A Value is relocatable (its moves are byte copies that empty the
    // source), so members are moved as bytes: each ends up in exactly one
    // place and nothing is retained or released.
    alignas(MapEntry) unsigned char tmp[sizeof(MapEntry)];
    for (size_t i = 1; i < n; ++i) {
      KeyId k = a[i].first;
      if (!(k < a[i - 1].first)) continue;
      memcpy(tmp, static_cast<void*>(&a[i]), sizeof(MapEntry));
      size_t j = i;
      for (; j > 0 && k < a[j - 1].first; --j) {
        memcpy(static_cast<void*>(&a[j]), static_cast<const void*>(&a[j - 1]), sizeof(MapEntry));
      }
      memcpy(static_cast<void*>(&a[j]), tmp, sizeof(MapEntry));
    }
  } else {
    std::stable_sort(a, a + n, less);
  }
  size_t out = 0;
  for (size_t i = 0; i < n; ++i) {
    if (out > 0 && a[out - 1].first == a[i].first) {
      a[out - 1].second = std::move(a[i].second);
    } else {
      if (out != i) a[out] = std::move(a[i]);
      ++out;
    }
  }
  for (size_t i = out; i < n; ++i) a[i].~MapEntry();
  rep_->size = static_cast<uint32_t>(out);
}

size_t Properties::HeapBytes() const {
  if (rep_ == nullptr) return 0;
  size_t n = sizeof(Rep) + rep_->cap * sizeof(MapEntry);
  for (const auto& e : *this) n += e.second.HeapBytes();
  return n;
}

namespace {
// Per-thread rank of every key id by name, rebuilt when a newer key shows
// up, so sorting members by name compares integers.
const std::vector<uint32_t>& KeyRanks(KeyId needed) {
  thread_local std::vector<uint32_t> ranks;
  if (needed < ranks.size()) return ranks;
  uint32_t n = Keys().Count();
  std::vector<KeyId> ids(n);
  for (uint32_t i = 0; i < n; ++i) ids[i] = i;
  std::sort(ids.begin(), ids.end(), [](KeyId a, KeyId b) { return KeyName(a) < KeyName(b); });
  ranks.assign(n, 0);
  for (uint32_t r = 0; r < n; ++r) ranks[ids[r]] = r;
  return ranks;
}
}  // namespace

std::vector<const MapEntry*> SortedByName(absl::Span<const MapEntry> props) {
  std::vector<const MapEntry*> out;
  out.reserve(props.size());
  KeyId max_id = 0;
  for (const auto& e : props) {
    out.push_back(&e);
    max_id = std::max(max_id, e.first);
  }
  const std::vector<uint32_t>& rank = KeyRanks(max_id);
  std::sort(out.begin(), out.end(), [&rank](const MapEntry* a, const MapEntry* b) {
    return rank[a->first] < rank[b->first];
  });
  return out;
}

bool Truthy(const Value* v) {
  if (v == nullptr) return false;
  switch (v->kind()) {
    case Value::Kind::kNull:
      return false;
    case Value::Kind::kBool:
      return v->bool_value();
    case Value::Kind::kInt:
      return v->int_value() != 0;
    case Value::Kind::kDouble:
      return v->double_value() != 0;
    case Value::Kind::kString:
      return !v->string_value().empty();
    case Value::Kind::kList:
      return !v->list_items().empty();
    case Value::Kind::kMap:
      return !v->map_entries().empty();
  }
  return false;
}

}  // namespace vitrage::graph
