// Property keys, property values and property maps of the entity graph.
//
// Keys are interned process-wide (KeyId, a small integer); the same KeyId
// names the same key in every Graph. Values are JSON-like (null, bool, int,
// double, string, list, map) and immutable: a Value is 16 bytes, strings of
// up to 14 bytes live inline, longer strings, lists and maps are shared,
// reference-counted heap objects, so copying a Value (and a Graph) copies a
// pointer. Strings of "common" keys (vitrage_type, state, timestamps, ...,
// see KeyInternsValues) are interned: every occurrence shares one immortal
// copy.
//
// Thread safety: InternKey/KeyName and the value interner are thread-safe.
// Values may be shared between threads (reference counts are atomic);
// a Properties object needs external synchronization like any container.
#ifndef VITRAGE_GRAPH_SERVICE_GRAPH_VALUE_H_
#define VITRAGE_GRAPH_SERVICE_GRAPH_VALUE_H_

#include <atomic>
#include <cstdint>
#include <cstring>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace vitrage::graph {

// An interned property key.
using KeyId = uint32_t;

// Distinct keys the process can hold; keys are never freed.
inline constexpr uint32_t kKeyTableCapacity = uint32_t{4096} * 1024;

// Returns the id of `key`, interning it on first use. Ids are dense from 0
// and stable for the life of the process. Never fails and never aborts:
// when the table is full, a new key gets kKeyTableFull (named
// "vitrage_key_table_full") and KeyTableOverflows() counts it. Input from
// clients is kept well below the capacity ([limits] max_distinct_keys,
// checked before anything is applied: graph/key_budget.h); code that loads
// stored data checks KeyTableOverflows() and fails instead of keeping a
// graph with lost key names.
KeyId InternKey(absl::string_view key);
inline constexpr KeyId kKeyTableFull = kKeyTableCapacity - 1;

// True when `key` is interned (never interns it).
bool KeyIsInterned(absl::string_view key);
// Distinct keys interned so far.
uint32_t KeyCount();
// New keys that found the table full, since the process started.
uint64_t KeyTableOverflows();
// Tests: makes the table full at `capacity` keys (<= kKeyTableCapacity;
// the overflow id stays kKeyTableFull).
void SetKeyTableCapacityForTest(uint32_t capacity);

// Returns the name of an interned key. REQUIRES: `id` came from InternKey.
// The returned view is valid for the life of the process.
absl::string_view KeyName(KeyId id);

// True when string values of `key` are interned (low-cardinality keys such
// as vitrage_type, state, relationship_type, timestamps).
bool KeyInternsValues(KeyId key);

// Well-known keys, interned at start-up.
namespace keys {
extern const KeyId kVitrageId;
extern const KeyId kVitrageCategory;
extern const KeyId kVitrageType;
extern const KeyId kId;
extern const KeyId kName;
extern const KeyId kState;
extern const KeyId kVitrageIsDeleted;
extern const KeyId kVitrageIsPlaceholder;
extern const KeyId kVitrageSampleTimestamp;
extern const KeyId kVitrageAggregatedState;
extern const KeyId kVitrageOperationalState;
extern const KeyId kVitrageCachedId;
extern const KeyId kVitrageDatasourceName;
extern const KeyId kRelationshipType;
extern const KeyId kUpdateTimestamp;
extern const KeyId kIsRealVitrageId;
extern const KeyId kSeverity;
}  // namespace keys

class Value;

// A (key, value) member of a map value.
using MapEntry = std::pair<KeyId, Value>;

namespace internal {
struct StrRep;
struct ListRep;
struct MapRep;
}  // namespace internal

// A JSON-like immutable value. Default-constructed: null.
class Value {
 public:
  enum class Kind : uint8_t { kNull, kBool, kInt, kDouble, kString, kList, kMap };

  Value() { Clear(); }
  ~Value() { Release(); }
  // Copies share the heap object (reference count); moves steal it.
  Value(const Value& o) {
    memcpy(static_cast<void*>(this), &o, sizeof(Value));
    Retain();
  }
  Value(Value&& o) noexcept {
    memcpy(static_cast<void*>(this), &o, sizeof(Value));
    o.Clear();
  }
  Value& operator=(const Value& o) {
    if (this != &o) {
      o.Retain();
      Release();
      memcpy(static_cast<void*>(this), &o, sizeof(Value));
    }
    return *this;
  }
  Value& operator=(Value&& o) noexcept {
    if (this != &o) {
      Release();
      memcpy(static_cast<void*>(this), &o, sizeof(Value));
      o.Clear();
    }
    return *this;
  }

  static Value Null() { return Value(); }
  static Value Bool(bool b);
  static Value Int(int64_t i);
  static Value Double(double d);
  // A string value. When `intern` is true the string is shared with every
  // other interned occurrence (use for low-cardinality values).
  static Value String(absl::string_view s, bool intern = false);
  // A string value for property `key`: interned iff KeyInternsValues(key).
  // A string value whose characters never move (never stored inline), so a
  // string_view of it stays valid as long as any copy of the Value lives.
  static Value StableString(absl::string_view s);
  static Value StringFor(KeyId key, absl::string_view s) {
    return String(s, KeyInternsValues(key));
  }
  static Value List(std::vector<Value> items);
  // Map members; keys must be unique (later duplicates are dropped). Stored
  // sorted by key id.
  static Value Map(std::vector<MapEntry> entries);

  Kind kind() const;
  bool is_null() const { return tag_ == kTagNull; }
  bool is_string() const { return tag_ == kTagSmallStr || tag_ == kTagStr; }
  // True when this is a string whose characters never move (held on the
  // heap, as StableString makes), so a view of it lives as long as the Value.
  bool is_stable_string() const { return tag_ == kTagStr; }

  // Accessors. REQUIRE: the matching kind.
  bool bool_value() const { return u_.b; }
  int64_t int_value() const { return u_.i; }
  double double_value() const { return u_.d; }
  absl::string_view string_value() const;
  const std::vector<Value>& list_items() const;
  const std::vector<MapEntry>& map_entries() const;

  // Convenience: the string, or "" when not a string.
  absl::string_view AsString() const { return is_string() ? string_value() : absl::string_view(); }
  // True when this is the boolean true.
  bool IsTrue() const { return tag_ == kTagBool && u_.b; }
  // Hints the CPU to load the heap object this value points to (a string,
  // list or map), if any: comparing many cold values goes faster when
  // their loads overlap.
  void Prefetch() const {
    if (owns()) __builtin_prefetch(u_.str);
  }

  // Deep equality (an int and a double are different values, as in JSON
  // digests: 1 vs 1.0).
  bool operator==(const Value& o) const;
  bool operator!=(const Value& o) const { return !(*this == o); }

  // Approximate heap bytes owned (shared objects counted in full).
  size_t HeapBytes() const;

 private:
  enum Tag : uint8_t {
    kTagNull,
    kTagBool,
    kTagInt,
    kTagDouble,
    kTagSmallStr,
    kTagStr,
    kTagList,
    kTagMap
  };
  static constexpr size_t kInlineMax = 14;

  void Clear() {
    tag_ = kTagNull;
    small_len_ = 0;
    u_.i = 0;
  }
  // Only strings held on the heap, lists and maps own anything.
  bool owns() const { return tag_ >= kTagStr; }
  void Release() {
    if (owns()) ReleaseSlow();
  }
  void Retain() const {
    if (owns()) RetainSlow();
  }
  void ReleaseSlow();
  void RetainSlow() const;

  uint8_t tag_;
  uint8_t small_len_;
  char small_[6];  // first 6 inline bytes; the rest overlay u_
  union {
    bool b;
    int64_t i;
    double d;
    internal::StrRep* str;
    internal::ListRep* list;
    internal::MapRep* map;
    char chars[8];
  } u_;
};
static_assert(sizeof(Value) == 16, "Value must stay 16 bytes");

// The properties of a vertex or an edge: a small map KeyId -> Value kept
// sorted by key id. One pointer (8 bytes; a std::vector took 24) to a block
// holding the size, the capacity and the members, so that the graph's
// records stay small: at 1M vertices and edges the 16 bytes saved per
// element are ~36 MB (docs/performance.md, "Scale tiers"). An empty map
// holds no block. Not thread-safe.
class Properties {
 public:
  Properties() = default;
  ~Properties() { Free(); }
  Properties(const Properties& o);
  Properties(Properties&& o) noexcept : rep_(o.rep_) { o.rep_ = nullptr; }
  Properties& operator=(const Properties& o);
  Properties& operator=(Properties&& o) noexcept {
    if (this != &o) {
      Free();
      rep_ = o.rep_;
      o.rep_ = nullptr;
    }
    return *this;
  }

  size_t size() const { return rep_ ? rep_->size : 0; }
  bool empty() const { return size() == 0; }
  size_t capacity() const { return rep_ ? rep_->cap : 0; }

  // Returns the value of `key`, or nullptr.
  const Value* Find(KeyId key) const;
  const Value* Find(absl::string_view key) const { return Find(InternKey(key)); }
  // The string value of `key`, or "" when absent or not a string.
  absl::string_view GetString(KeyId key) const {
    const Value* v = Find(key);
    return v ? v->AsString() : absl::string_view();
  }
  // True when `key` holds boolean true.
  bool GetBool(KeyId key) const {
    const Value* v = Find(key);
    return v && v->IsTrue();
  }

  // Sets `key` to `v`. Returns true when the stored value changed.
  bool Set(KeyId key, Value v);
  // Removes `key`. Returns true when it was present.
  bool Erase(KeyId key);
  void Clear() { Free(); }
  void Reserve(size_t n);
  // Appends without ordering checks; call SortAndDedupe() afterwards.
  void AppendUnsorted(KeyId key, Value v) {
    if (size() == capacity()) Grow(size() + 1);
    new (data() + rep_->size) MapEntry(key, std::move(v));
    ++rep_->size;
  }
  // Restores the sorted invariant; for duplicate keys the last one wins.
  void SortAndDedupe();
  void ShrinkToFit();
  // Takes `items` as the members (unsorted: call SortAndDedupe()), and
  // gives the members away (leaving this empty).
  void Adopt(std::vector<MapEntry> items);
  std::vector<MapEntry> TakeItems();

  // Members sorted by key id.
  absl::Span<const MapEntry> items() const { return absl::Span<const MapEntry>(data(), size()); }
  const MapEntry* begin() const { return data(); }
  const MapEntry* end() const { return data() + size(); }

  bool operator==(const Properties& o) const { return items() == o.items(); }
  bool operator!=(const Properties& o) const { return !(*this == o); }

  size_t HeapBytes() const;

 private:
  struct Rep {
    uint32_t size;
    uint32_t cap;
    // The members follow, at offset sizeof(Rep) (8, MapEntry's alignment).
  };
  static_assert(sizeof(Rep) % alignof(MapEntry) == 0, "members must be aligned");

  MapEntry* data() const {
    return rep_ ? reinterpret_cast<MapEntry*>(reinterpret_cast<char*>(rep_) + sizeof(Rep))
                : nullptr;
  }
  // Makes room for at least `n` members (moving them as bytes: a Value is
  // relocatable).
  void Grow(size_t n);
  // Moves the members to a block of exactly `cap` (>= size()) members.
  void Reallocate(size_t cap);
  void Free();

  Rep* rep_ = nullptr;
};

// Returns the members of `props` ordered by key *name* (byte order), as a
// JSON writer with sort_keys needs.
std::vector<const MapEntry*> SortedByName(absl::Span<const MapEntry> props);

// Python's truthiness of a value (null, false, 0, "", [] and {} are false);
// false for nullptr (a missing key). Upstream's transformers and API
// handlers test values this way.
bool Truthy(const Value* v);

}  // namespace vitrage::graph

#endif  // VITRAGE_GRAPH_SERVICE_GRAPH_VALUE_H_
