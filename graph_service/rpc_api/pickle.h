// Upstream Vitrage's "compressed object" encoding of RPC results:
// vitrage.common.utils.compress_obj(obj) = base64(zlib(pickle.dumps(obj))).
// get_topology, get_resources and get_alarms answer with such a blob and
// vitrage-api decodes it with decompress_obj (pickle.loads), so the blob
// must be a pickle Python reads.
//
// PickleWriter emits pickle protocol 2 with only these opcodes: PROTO,
// EMPTY_DICT, EMPTY_LIST, MARK, SETITEMS, APPENDS, BINUNICODE, BININT,
// LONG1, BINFLOAT, NONE, NEWTRUE, NEWFALSE, STOP: plain dicts, lists,
// str, int, float, bool and None, nothing that names a class (so nothing
// on the reading side executes code).
#ifndef VITRAGE_GRAPH_SERVICE_RPC_API_PICKLE_H_
#define VITRAGE_GRAPH_SERVICE_RPC_API_PICKLE_H_

#include <cstdint>
#include <string>

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
  PickleWriter();

  void BeginDict();
  void EndDict();
  void BeginList();
  void EndList();
  void Str(absl::string_view s);
  void Int(int64_t i);
  void Float(double d);
  void Bool(bool b);
  void None();
  // A graph value (maps become dicts keyed by the key names).
  void Value(const graph::Value& v);
  // A property map as a dict (keys in name order). `extra` members are
  // written after it by the caller before EndDict(); so this opens the dict
  // and writes the members only.
  void PropertiesMembers(const graph::Properties& p);
  void Json(const nlohmann::json& j);

  // Appends STOP and returns the pickle.
  std::string Finish();
  std::string* buffer() { return &out_; }

 private:
  std::string out_;
  int depth_ = 0;
};

// base64(zlib.compress(data, level)), as compress_obj(obj, level=1).
std::string CompressObj(absl::string_view pickle, int level = 1);

}  // namespace vitrage::rpc_api

#endif  // VITRAGE_GRAPH_SERVICE_RPC_API_PICKLE_H_
