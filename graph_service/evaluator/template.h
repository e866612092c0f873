// Vitrage templates: the scenario evaluator's input.
//
// A template is a YAML file in upstream Vitrage's format, version 2
// (metadata / definitions {entities, relationships} / scenarios, see
// upstream doc/source/contributor/vitrage-template-format-v2.rst) or version
// 3 (metadata / entities / scenarios whose conditions name relationships
// inline as "a [label] b"). Both load into the same model below:
//
//   Template   name, file, scenarios
//   Scenario   condition in disjunctive normal form (Clause list), actions
//   Clause     variables (template entities) bound by positive terms,
//              positive edges between them, negated edges (one end may be
//              unbound: "NOT alarm [on] host" = host has no such alarm)
//   Action     raise_alarm | set_state | add_causal_relationship | mark_down
//
// Validation (a template failing it is rejected whole with "file:line:
// reason"; other templates still load):
//   * metadata.version 2 or 3 (v1 templates without a version are read as
//     v2); metadata.name present; type "standard" (definition and
//     equivalence templates are not supported);
//   * every id a condition or an action names is defined;
//   * NOT applies to relationships only, every AND-clause has a positive
//     term, and a negated relationship has at least one end bound by the
//     clause's positive terms;
//   * the positive terms of a clause are connected (a cross product of
//     unrelated entities is refused: it would scan the whole graph on every
//     change; upstream accepts it);
//   * every action's targets are bound in every clause of its condition;
//   * action types other than the four above (execute_mistral, webhook...)
//     are refused, as are missing action properties (alarm_name, state).
#ifndef VITRAGE_GRAPH_SERVICE_EVALUATOR_TEMPLATE_H_
#define VITRAGE_GRAPH_SERVICE_EVALUATOR_TEMPLATE_H_

#include <memory>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "graph_service/graph/value.h"

namespace vitrage::evaluator {

// One property constraint of a template entity: the graph property `key`
// equals `value` (compared as text), or, for "key.regex", its string value
// matches `value` from its first character (Python's re.match).
struct PropMatch {
  graph::KeyId key = 0;
  std::string value;
  std::shared_ptr<const std::regex> regex;  // set for "key.regex"
  // "key.regex" whose pattern is a literal, optionally followed by ".*":
  // the value only has to start with `value` (no regex run).
  bool prefix = false;
};

// A template entity ("template_id" in v2, the entity's key in v3).
struct EntityDef {
  std::string id;
  std::vector<PropMatch> props;
  // The vitrage_type it requires ("" when it does not say): the evaluator
  // indexes scenarios by it.
  std::string vitrage_type;
};

struct EdgeTerm {
  int source = -1;  // variable index in the clause
  int target = -1;
  std::string label;
  graph::KeyId label_id = 0;
};

// One AND-clause of a condition in disjunctive normal form.
struct Clause {
  // Variables: the template entities this clause names. Those bound by a
  // positive term come first (indexes < bound_count).
  std::vector<const EntityDef*> vars;
  int bound_count = 0;
  std::vector<EdgeTerm> positive;
  std::vector<EdgeTerm> negative;  // an end may be >= bound_count (unbound)
  int VarIndex(absl::string_view entity_id) const;
};

enum class ActionType { kRaiseAlarm, kSetState, kAddCausalRelationship, kMarkDown };
const char* ActionTypeName(ActionType t);

struct Action {
  ActionType type = ActionType::kRaiseAlarm;
  // Template entity ids: the target (raise_alarm, set_state, mark_down;
  // the alarm caused, for add_causal_relationship) and the source (the
  // causing alarm of add_causal_relationship, or raise_alarm's optional v3
  // causing_alarm).
  std::string target;
  std::string source;
  std::string alarm_name;  // raise_alarm
  std::string severity;    // raise_alarm
  std::string state;       // set_state
};

struct Scenario {
  // "<template name>#<index>": stable across restarts while the template
  // keeps its name and the scenario its place.
  std::string key;
  int line = 0;
  std::string condition_text;
  std::vector<Clause> clauses;
  std::vector<Action> actions;
};

struct Template {
  std::string name;
  std::string file;
  int version = 0;
  std::vector<std::unique_ptr<EntityDef>> entities;
  std::vector<Scenario> scenarios;
  // Hash of the file's text (the template set's fingerprint is made of these).
  std::string content_hash;
};

// Parses one template. `file` is used in error messages only.
// INVALID_ARGUMENT "file:line: reason" when the text is not a valid template.
absl::StatusOr<std::unique_ptr<Template>> ParseTemplate(absl::string_view text,
                                                        const std::string& file);
absl::StatusOr<std::unique_ptr<Template>> LoadTemplateFile(const std::string& path);

// Every *.yaml / *.yml file of `dir` (not recursive), in name order.
struct TemplateSet {
  std::vector<std::unique_ptr<Template>> templates;
  // One "file:line: reason" per rejected file.
  std::vector<std::string> errors;
  // Names and content hashes of the loaded templates, sorted: equal
  // fingerprints mean the same scenarios.
  std::string Fingerprint() const;
  size_t scenario_count() const;
};
// NOT_FOUND when `dir` cannot be listed. Two templates with the same name:
// the second is rejected.
absl::StatusOr<TemplateSet> LoadTemplateDir(const std::string& dir);

}  // namespace vitrage::evaluator

#endif  // VITRAGE_GRAPH_SERVICE_EVALUATOR_TEMPLATE_H_
