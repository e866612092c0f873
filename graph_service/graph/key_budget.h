// The bound on distinct property keys ([limits] max_distinct_keys).
//
// Property keys are interned for the life of the process (value.h), so
// every new key a client sends costs memory until the process ends, and
// the table has a hard capacity. A request is checked before anything of
// it is applied: the keys it would add (at every nesting level, counted
// once however often they occur) plus the keys already interned must stay
// within the limit. The check interns nothing.
#ifndef VITRAGE_GRAPH_SERVICE_GRAPH_KEY_BUDGET_H_
#define VITRAGE_GRAPH_SERVICE_GRAPH_KEY_BUDGET_H_

#include <cstdint>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "vitrage/v1/graph.pb.h"

namespace vitrage::graph {

class KeyBudget {
 public:
  // REQUIRES: `limit` well below kKeyTableCapacity (other threads may
  // intern a few keys between the check and the apply).
  explicit KeyBudget(uint64_t limit) : limit_(limit) {}

  // Adds the keys of `event` (its fields, or its JSON body's object keys)
  // not interned yet. INVALID_ARGUMENT naming the first key over the limit
  // ("property key "k" would be distinct key 1000001; the limit is
  // 1000000 ([limits] max_distinct_keys)"); the budget is then spent.
  // A JSON body that does not parse adds nothing (its validation refuses
  // it).
  absl::Status Add(const v1::Event& event);

  // New keys counted so far.
  uint64_t new_keys() const { return fresh_.size(); }

  // True when `encoded_bytes` of events cannot bring the keys held past
  // `limit` whatever they contain: each key costs at least 2 bytes of the
  // encoding (tag and length; 3 in a JSON body). Spares the walk, which
  // parses JSON bodies a second time, for nearly every request.
  static bool SurelyFits(size_t encoded_bytes, uint64_t limit);

 private:
  absl::Status Key(absl::string_view key);
  absl::Status Map(const v1::MapValue& m);
  absl::Status Value(const v1::Value& v);

  const uint64_t limit_;
  absl::flat_hash_set<std::string> fresh_;
};

}  // namespace vitrage::graph

#endif  // VITRAGE_GRAPH_SERVICE_GRAPH_KEY_BUDGET_H_
