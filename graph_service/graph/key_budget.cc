#include "graph_service/graph/key_budget.h"

#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/json_depth.h"
#include "graph_service/graph/value.h"
#include "nlohmann/json.hpp"

namespace vitrage::graph {
namespace {

// Recursion bound for bodies that reach the budget without the RPC layer's
// depth check ([limits] max_json_depth is at most this).
constexpr int kMaxDepth = 1000;

}  // namespace

absl::Status KeyBudget::Key(absl::string_view key) {
  if (KeyIsInterned(key) || fresh_.contains(key)) return absl::OkStatus();
  const uint64_t n = uint64_t{KeyCount()} + fresh_.size() + 1;
  if (n > limit_) {
    return absl::InvalidArgumentError(absl::StrCat(
        "property key \"", absl::CEscape(key.substr(0, 64)), key.size() > 64 ? "..." : "",
        "\" would be distinct key ", n, "; the limit is ", limit_,
        " ([limits] max_distinct_keys; keys are kept until the graph restarts)"));
  }
  fresh_.emplace(key);
  return absl::OkStatus();
}

absl::Status KeyBudget::Map(const v1::MapValue& m) {
  for (const v1::Property& p : m.entries()) {
    if (auto s = Key(p.key()); !s.ok()) return s;
    if (auto s = Value(p.value()); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status KeyBudget::Value(const v1::Value& v) {
  switch (v.kind_case()) {
    case v1::Value::kListValue:
      for (const v1::Value& x : v.list_value().values()) {
        if (auto s = Value(x); !s.ok()) return s;
      }
      return absl::OkStatus();
    case v1::Value::kMapValue:
      return Map(v.map_value());
    default:
      return absl::OkStatus();
  }
}

absl::Status KeyBudget::Add(const v1::Event& event) {
  if (event.body_case() == v1::Event::kFields) return Map(event.fields());
  if (event.body_case() != v1::Event::kJson) return absl::OkStatus();
  if (JsonDepth(event.json(), kMaxDepth) > kMaxDepth) return absl::OkStatus();
  nlohmann::json j = nlohmann::json::parse(event.json(), nullptr, /*allow_exceptions=*/false);
  // Iterative walk over objects and arrays.
  std::vector<const nlohmann::json*> todo = {&j};
  while (!todo.empty()) {
    const nlohmann::json* x = todo.back();
    todo.pop_back();
    if (x->is_object()) {
      for (auto it = x->begin(); it != x->end(); ++it) {
        if (auto s = Key(it.key()); !s.ok()) return s;
        if (it->is_structured()) todo.push_back(&*it);
      }
    } else if (x->is_array()) {
      for (const auto& e : *x) {
        if (e.is_structured()) todo.push_back(&e);
      }
    }
  }
  return absl::OkStatus();
}

bool KeyBudget::SurelyFits(size_t encoded_bytes, uint64_t limit) {
  return uint64_t{KeyCount()} + encoded_bytes / 2 <= limit;
}

}  // namespace vitrage::graph
