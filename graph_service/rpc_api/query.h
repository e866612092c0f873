// Vitrage's graph query language (vitrage/graph/query.py, create_predicate)
// over our graph's property maps, with Python's semantics:
//
//   {"and": [Q, ...]}  {"or": [Q, ...]}   (an empty list matches nothing)
//   {"==": {"key": value, ...}}  and <, <=, !=, >=, >   (several keys: all)
//
// A leaf compares item.get(key) (None when absent) with the value as
// Python does: 1 == 1.0 == True, None == None, lists and dicts deeply;
// ordering compares numbers with numbers, str with str, lists
// lexicographically, and anything else raises TypeError (here: the
// evaluation's error, as upstream's call fails). A malformed query is
// refused by Compile with upstream's message "invalid query format ...".
#ifndef VITRAGE_GRAPH_SERVICE_RPC_API_QUERY_H_
#define VITRAGE_GRAPH_SERVICE_RPC_API_QUERY_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "graph_service/graph/value.h"
#include "nlohmann/json.hpp"

namespace vitrage::rpc_api {

// Python equality of a graph value (null: absent) and a JSON value.
bool PyEquals(const graph::Value* a, const nlohmann::json& b);

class Query {
 public:
  // REQUIRES: `q` nests at most a few hundred levels (callers bound the
  // request's depth before parsing it).
  static absl::StatusOr<Query> Compile(const nlohmann::json& q);

  // Matches `p`. On a Python TypeError (ordering across types) returns
  // false and sets *error (when not already set); the caller fails the call.
  bool Matches(const graph::Properties& p, std::string* error) const;

  struct Node;

 private:
  std::shared_ptr<const Node> root_;
};

}  // namespace vitrage::rpc_api

#endif  // VITRAGE_GRAPH_SERVICE_RPC_API_QUERY_H_
