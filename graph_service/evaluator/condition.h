// Scenario conditions: "a and (b or not c)" over template ids (v2) or
// "x [on] y AND NOT z [contains] y" with inline relationships (v3).
// Operators and, or, not are case-insensitive; parentheses group. The
// parser returns the condition in disjunctive normal form (NOT pushed down
// to the literals by De Morgan's laws).
#ifndef VITRAGE_GRAPH_SERVICE_EVALUATOR_CONDITION_H_
#define VITRAGE_GRAPH_SERVICE_EVALUATOR_CONDITION_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace vitrage::evaluator {

struct Literal {
  bool negated = false;
  // A bare id (v2: a relationship or entity template_id; v3: an entity) ...
  std::string id;
  // ... or, when `label` is set, the inline relationship id [label] target.
  std::string label;
  std::string target;
  bool is_relation() const { return !label.empty(); }
};

using Dnf = std::vector<std::vector<Literal>>;  // OR of ANDs

// INVALID_ARGUMENT naming the position and the problem. Refuses a condition
// whose normal form has more than 64 clauses.
absl::StatusOr<Dnf> ParseCondition(absl::string_view text);

}  // namespace vitrage::evaluator

#endif  // VITRAGE_GRAPH_SERVICE_EVALUATOR_CONDITION_H_
