// Upstream Vitrage's "compressed object" encoding of RPC results:
// vitrage.common.utils.compress_obj(obj) = base64(zlib(pickle.dumps(obj))).
// get_topology, get_resources and get_alarms answer with such a blob and
// vitrage-api decodes it with decompress_obj (pickle.loads), so the blob
// must be a pickle Python reads.
//
// PickleWriter emits pickle protocol 2 with only these opcodes: PROTO,
// EMPTY_DICT, EMPTY_LIST, MARK, SETITEMS, APPENDS, BINUNICODE, BININT,
// LONG1, BINFLOAT, NONE, NEWTRUE, NEWFALSE, BINPUT, LONG_BINPUT, BINGET,
// LONG_BINGET, STOP: plain dicts, lists, str, int, float, bool and None,
// nothing that names a class (so nothing on the reading side executes
// code).
//
// Memo (the default): a property key's name, a fixed member name, and a
// string value of a key whose values are interned (vitrage_type, state,
// ...; graph::KeyInternsValues) are written in full the first time and
// then referred to (BINPUT / BINGET), as Python's own pickler does for a
// str object it wrote before. pickle.loads gives the same object (equal
// dicts, lists and strings) from a pickle a fraction of the size, which
// compress_obj then compresses in a fraction of the time.
#ifndef VITRAGE_GRAPH_SERVICE_RPC_API_PICKLE_H_
#define VITRAGE_GRAPH_SERVICE_RPC_API_PICKLE_H_

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "graph_service/graph/value.h"
#include "nlohmann/json.hpp"

namespace vitrage::rpc_api {

// Writes one pickled object into a string. Usage: a dict is BeginDict(),
// then key, value, key, value..., then EndDict(); a list BeginList(),
// items, EndList(); Finish() once at the end. REQUIRES: calls nest
// properly (not checked beyond a debug assertion).
class PickleWriter {
 public:
  // `memo`: see above; false writes every string in full.
  explicit PickleWriter(bool memo = true);

  // Room for about `bytes` of pickle (saves regrowing a large one).
  void Reserve(size_t bytes) {
    if (bytes > out_.size()) out_.resize(bytes);
  }
  void BeginDict();
  void EndDict();
  void BeginList();
  void EndList();
  void Str(absl::string_view s);
  // A str that recurs (a member name: "id", "source", ...); memoized.
  // REQUIRES: `s` stays valid while the writer lives (a literal).
  void Name(absl::string_view s);
  // The name of property key `key` as a str (memoized).
  void Key(graph::KeyId key);
  void Int(int64_t i);
  void Float(double d);
  void Bool(bool b);
  void None();
  // A graph value (maps become dicts keyed by the key names).
  void Value(const graph::Value& v);
  // Key(key) and then its value `v` (a string memoized when the key's
  // values are interned).
  void Member(graph::KeyId key, const graph::Value& v);
  // The members of a property map, keys in name order (the caller has
  // opened the dict and closes it, so it may add members of its own).
  void PropertiesMembers(const graph::Properties& p);
  void Json(const nlohmann::json& j);

  // Appends STOP and returns the pickle.
  std::string Finish();

 private:
  // `n` bytes to write at the end of the pickle.
  char* Room(size_t n) {
    if (used_ + n > out_.size()) Grow(n);
    char* p = &out_[used_];
    used_ += n;
    return p;
  }
  void Grow(size_t n);
  void Byte(char c) { *Room(1) = c; }
  void Bytes(const char* b, size_t n) { memcpy(Room(n), b, n); }
  void Le32(uint32_t v) {
    char* p = Room(4);
    p[0] = static_cast<char>(v);
    p[1] = static_cast<char>(v >> 8);
    p[2] = static_cast<char>(v >> 16);
    p[3] = static_cast<char>(v >> 24);
  }
  void Put(uint32_t index);
  void Get(uint32_t index);
  // Writes `s` memoized in `*slot` (-1: not yet written).
  void MemoStr(absl::string_view s, int64_t* slot);

  std::string out_;  // out_[0, used_) is the pickle so far
  size_t used_ = 0;
  int depth_ = 0;
  const bool memo_;
  uint32_t next_memo_ = 0;
  std::vector<int64_t> key_memo_;                              // by KeyId
  absl::flat_hash_map<absl::string_view, int64_t> name_memo_;  // Name()
  absl::flat_hash_map<std::string, int64_t> value_memo_;       // interned values
};

// The members of property maps in key-name order (graph::SortedByName), for
// many maps with the same keys (vertices of one type): the order is worked
// out once per distinct key set and reused.
class NameOrder {
 public:
  // Valid until the next call.
  const std::vector<const graph::MapEntry*>& Of(absl::Span<const graph::MapEntry> items);

 private:
  struct Cached {
    std::vector<graph::KeyId> keys;
    std::vector<uint32_t> order;  // indexes into the items
  };
  absl::flat_hash_map<uint64_t, Cached> cache_;
  std::vector<const graph::MapEntry*> out_;
};

// base64 of `pickle` in zlib's format (zlib.decompress reads it), compressed
// at `level` (1: as compress_obj(obj, level=1)) by libdeflate, so not the
// same bytes as zlib would write.
std::string CompressObj(absl::string_view pickle, int level = 1);

}  // namespace vitrage::rpc_api

#endif  // VITRAGE_GRAPH_SERVICE_RPC_API_PICKLE_H_
