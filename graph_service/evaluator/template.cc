#include "graph_service/evaluator/template.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <numeric>
#include <sstream>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "graph_service/evaluator/condition.h"

namespace vitrage::evaluator {
namespace {

// An error at a YAML node: "file:line: reason".
class Errors {
 public:
  explicit Errors(const std::string& file) : file_(file) {}
  absl::Status At(const YAML::Node& n, absl::string_view reason) const {
    int line = n.IsDefined() ? n.Mark().line + 1 : 0;
    return AtLine(line, reason);
  }
  absl::Status AtLine(int line, absl::string_view reason) const {
    return absl::InvalidArgumentError(absl::StrCat(file_, ":", line, ": ", reason));
  }

 private:
  std::string file_;
};

std::string Fnv64(absl::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char buf[17];
  snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

bool IsScalar(const YAML::Node& n) { return n.IsDefined() && n.IsScalar(); }

// A required scalar member `key` of map `m`.
absl::StatusOr<std::string> Str(const Errors& err, const YAML::Node& m, const char* key,
                                absl::string_view what) {
  YAML::Node v = m[key];
  if (!v.IsDefined() || v.IsNull()) {
    return err.At(m, absl::StrCat(what, ": \"", key, "\" is missing"));
  }
  if (!v.IsScalar()) return err.At(v, absl::StrCat(what, ": \"", key, "\" must be a scalar"));
  return v.Scalar();
}

std::string OptStr(const YAML::Node& m, const char* key) {
  YAML::Node v = m[key];
  return IsScalar(v) ? v.Scalar() : std::string();
}

// Template entity properties -> graph property constraints.
absl::StatusOr<std::unique_ptr<EntityDef>> MakeEntity(const Errors& err, const YAML::Node& m,
                                                      const std::string& id) {
  if (!m.IsMap()) return err.At(m, absl::StrCat("entity \"", id, "\" must be a map"));
  auto e = std::make_unique<EntityDef>();
  e->id = id;
  for (const auto& kv : m) {
    std::string key = kv.first.Scalar();
    if (key == "template_id") continue;
    if (!kv.second.IsScalar()) {
      return err.At(kv.second,
                    absl::StrCat("entity \"", id, "\": property \"", key, "\" must be a scalar"));
    }
    PropMatch pm;
    pm.value = kv.second.Scalar();
    if (absl::EndsWith(key, ".regex")) {
      key.resize(key.size() - 6);
      std::string lit = pm.value;
      if (absl::EndsWith(lit, ".*")) lit.resize(lit.size() - 2);
      if (lit.find_first_of("\\^$.|?*+()[]{}") == std::string::npos) {
        pm.value = lit;
        pm.prefix = true;
      } else {
        try {
          pm.regex = std::make_shared<const std::regex>(pm.value);
        } catch (const std::regex_error& ex) {
          return err.At(kv.second, absl::StrCat("entity \"", id, "\": bad regex \"", pm.value,
                                                "\": ", ex.what()));
        }
      }
    }
    if (key == "category") key = "vitrage_category";
    if (key == "type") key = "vitrage_type";
    pm.key = graph::InternKey(key);
    if (key == "vitrage_type" && !pm.regex && !pm.prefix) e->vitrage_type = pm.value;
    e->props.push_back(std::move(pm));
  }
  if (e->props.empty()) {
    return err.At(m, absl::StrCat("entity \"", id, "\" has no properties to match"));
  }
  // Cheap and selective checks first: type, category, plain values, then
  // prefixes and regexes.
  auto rank = [](const PropMatch& pm) {
    if (pm.regex) return 4;
    if (pm.prefix) return 3;
    if (pm.key == graph::keys::kVitrageType) return 0;
    if (pm.key == graph::keys::kVitrageCategory) return 1;
    return 2;
  };
  std::stable_sort(e->props.begin(), e->props.end(),
                   [&](const PropMatch& a, const PropMatch& b) { return rank(a) < rank(b); });
  return e;
}

struct RelDef {
  std::string source, target, label;
};

class Builder {
 public:
  Builder(const Errors& err, Template* t) : err_(err), t_(t) {}

  absl::Status AddEntity(const YAML::Node& n, const std::string& id) {
    if (entities_.contains(id))
      return err_.At(n, absl::StrCat("entity \"", id, "\" defined twice"));
    auto e = MakeEntity(err_, n, id);
    if (!e.ok()) return e.status();
    entities_[id] = e->get();
    t_->entities.push_back(std::move(*e));
    return absl::OkStatus();
  }
  absl::Status AddRelationship(const YAML::Node& n) {
    auto id = Str(err_, n, "template_id", "relationship");
    if (!id.ok()) return id.status();
    RelDef r;
    for (auto [key, dst] : {std::pair{"source", &r.source}, std::pair{"target", &r.target},
                            std::pair{"relationship_type", &r.label}}) {
      auto v = Str(err_, n, key, absl::StrCat("relationship \"", *id, "\""));
      if (!v.ok()) return v.status();
      *dst = *v;
    }
    for (const std::string* end : {&r.source, &r.target}) {
      if (!entities_.contains(*end)) {
        return err_.At(
            n, absl::StrCat("relationship \"", *id, "\": entity \"", *end, "\" is not defined"));
      }
    }
    if (relationships_.contains(*id) || entities_.contains(*id)) {
      return err_.At(n, absl::StrCat("template_id \"", *id, "\" defined twice"));
    }
    relationships_[*id] = r;
    return absl::OkStatus();
  }

  // Builds the clauses of `condition` (at `line`).
  absl::Status AddScenario(const YAML::Node& node, const std::string& condition,
                           std::vector<Action> actions) {
    Scenario s;
    s.key = absl::StrCat(t_->name, "#", t_->scenarios.size());
    s.line = node.Mark().line + 1;
    s.condition_text = condition;
    auto dnf = ParseCondition(condition);
    if (!dnf.ok()) return err_.AtLine(s.line, dnf.status().message());
    for (size_t ci = 0; ci < dnf->size(); ++ci) {
      Clause c;
      auto st = BuildClause((*dnf)[ci], &c);
      if (!st.ok()) {
        return err_.AtLine(
            s.line,
            absl::StrCat("condition \"", condition, "\"",
                         dnf->size() > 1 ? absl::StrCat(" (clause ", ci + 1, ")") : std::string(),
                         ": ", st.message()));
      }
      for (const Action& a : actions) {
        for (const std::string* ref : {&a.target, &a.source}) {
          if (ref->empty()) continue;
          if (!entities_.contains(*ref)) {
            return err_.AtLine(s.line, absl::StrCat(ActionTypeName(a.type), ": entity \"", *ref,
                                                    "\" is not defined"));
          }
          int v = c.VarIndex(*ref);
          if (v < 0 || v >= c.bound_count) {
            return err_.AtLine(
                s.line, absl::StrCat(ActionTypeName(a.type), ": \"", *ref,
                                     "\" is not bound by every clause of condition \"", condition,
                                     "\" (it must appear in a positive term)"));
          }
        }
      }
      s.clauses.push_back(std::move(c));
    }
    s.actions = std::move(actions);
    t_->scenarios.push_back(std::move(s));
    return absl::OkStatus();
  }

  bool HasEntity(const std::string& id) const { return entities_.contains(id); }

 private:
  absl::Status BuildClause(const std::vector<Literal>& lits, Clause* c) {
    struct Term {
      bool neg;
      std::string s, t, label;  // label empty: a bare entity
    };
    std::vector<Term> terms;
    for (const Literal& l : lits) {
      Term term{l.negated, "", "", ""};
      if (l.is_relation()) {
        term.s = l.id;
        term.t = l.target;
        term.label = l.label;
      } else if (auto it = relationships_.find(l.id); it != relationships_.end()) {
        term.s = it->second.source;
        term.t = it->second.target;
        term.label = it->second.label;
      } else if (entities_.contains(l.id)) {
        if (l.negated) {
          return absl::InvalidArgumentError(
              absl::StrCat("NOT applies to relationships only, not to entity \"", l.id, "\""));
        }
        term.s = l.id;
      } else {
        return absl::InvalidArgumentError(absl::StrCat("\"", l.id, "\" is not defined"));
      }
      for (const std::string* e : {&term.s, &term.t}) {
        if (!e->empty() && !entities_.contains(*e)) {
          return absl::InvalidArgumentError(absl::StrCat("entity \"", *e, "\" is not defined"));
        }
      }
      terms.push_back(std::move(term));
    }
    auto var = [&](const std::string& id) {
      int v = c->VarIndex(id);
      if (v >= 0) return v;
      c->vars.push_back(entities_.at(id));
      return static_cast<int>(c->vars.size()) - 1;
    };
    for (const Term& t : terms) {
      if (t.neg) continue;
      var(t.s);
      if (!t.t.empty()) var(t.t);
    }
    c->bound_count = static_cast<int>(c->vars.size());
    if (c->bound_count == 0) {
      return absl::InvalidArgumentError("a clause needs at least one positive term");
    }
    for (const Term& t : terms) {
      EdgeTerm e;
      e.source = var(t.s);
      e.target = t.t.empty() ? -1 : var(t.t);
      if (e.target < 0) continue;  // a bare entity: bound already
      e.label = t.label;
      e.label_id = graph::InternKey(t.label);
      if (t.neg) {
        if (e.source >= c->bound_count && e.target >= c->bound_count) {
          return absl::InvalidArgumentError(
              absl::StrCat("NOT ", t.s, " [", t.label, "] ", t.t,
                           ": neither end is bound by a positive term of the clause"));
        }
        c->negative.push_back(e);
      } else {
        c->positive.push_back(e);
      }
    }
    // The positive part must be connected.
    std::vector<int> parent(c->bound_count);
    std::iota(parent.begin(), parent.end(), 0);
    std::function<int(int)> find = [&](int x) {
      return parent[x] == x ? x : parent[x] = find(parent[x]);
    };
    for (const EdgeTerm& e : c->positive) parent[find(e.source)] = find(e.target);
    for (int v = 1; v < c->bound_count; ++v) {
      if (find(v) != find(0)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "entities \"", c->vars[0]->id, "\" and \"", c->vars[v]->id,
            "\" are not connected by a relationship (a cross product of unrelated entities "
            "is not supported)"));
      }
    }
    return absl::OkStatus();
  }

  const Errors& err_;
  Template* t_;
  absl::flat_hash_map<std::string, EntityDef*> entities_;
  absl::flat_hash_map<std::string, RelDef> relationships_;
};

absl::StatusOr<Action> ActionFromProps(const Errors& err, const YAML::Node& at,
                                       absl::string_view type_name, const YAML::Node& props,
                                       const YAML::Node& target_node, bool v3) {
  Action a;
  if (type_name == "raise_alarm") {
    a.type = ActionType::kRaiseAlarm;
  } else if (type_name == "set_state") {
    a.type = ActionType::kSetState;
  } else if (type_name == "add_causal_relationship") {
    a.type = ActionType::kAddCausalRelationship;
  } else if (type_name == "mark_down") {
    a.type = ActionType::kMarkDown;
  } else {
    return err.At(at, absl::StrCat("action type \"", type_name,
                                   "\" is not supported (raise_alarm, set_state, "
                                   "add_causal_relationship, mark_down)"));
  }
  const YAML::Node& tn = target_node;
  if (!tn.IsDefined() || !tn.IsMap()) {
    return err.At(
        at, absl::StrCat(type_name, ": ", v3 ? "" : "action_target ", "\"target\" is missing"));
  }
  auto target = Str(err, tn, "target", type_name);
  if (!target.ok()) return target.status();
  a.target = *target;
  if (a.type == ActionType::kAddCausalRelationship) {
    auto source = Str(err, tn, "source", type_name);
    if (!source.ok()) return source.status();
    a.source = *source;
  }
  YAML::Node p = props;
  if (a.type == ActionType::kRaiseAlarm) {
    if (!p.IsDefined() || !p.IsMap()) return err.At(at, "raise_alarm: alarm_name is missing");
    auto name = Str(err, p, "alarm_name", "raise_alarm");
    if (!name.ok()) return name.status();
    a.alarm_name = *name;
    a.severity = OptStr(p, "severity");
    if (a.severity.empty()) return err.At(p, "raise_alarm: \"severity\" is missing");
    if (v3) a.source = OptStr(p, "causing_alarm");
  } else if (a.type == ActionType::kSetState) {
    if (!p.IsDefined() || !p.IsMap()) return err.At(at, "set_state: \"state\" is missing");
    auto state = Str(err, p, "state", "set_state");
    if (!state.ok()) return state.status();
    a.state = absl::AsciiStrToUpper(*state);
  }
  return a;
}

absl::Status ParseV2(const Errors& err, const YAML::Node& root, Builder* b) {
  YAML::Node defs = root["definitions"];
  if (!defs.IsDefined() || !defs.IsMap()) return err.At(root, "\"definitions\" is missing");
  YAML::Node ents = defs["entities"];
  if (!ents.IsDefined() || !ents.IsSequence() || ents.size() == 0) {
    return err.At(defs, "definitions: \"entities\" must be a non-empty list");
  }
  for (const auto& item : ents) {
    YAML::Node e = item["entity"];
    if (!e.IsDefined() || !e.IsMap()) return err.At(item, "expected \"entity:\"");
    auto id = Str(err, e, "template_id", "entity");
    if (!id.ok()) return id.status();
    if (auto s = b->AddEntity(e, *id); !s.ok()) return s;
  }
  YAML::Node rels = defs["relationships"];
  if (rels.IsDefined() && !rels.IsNull()) {
    if (!rels.IsSequence()) return err.At(rels, "definitions: \"relationships\" must be a list");
    for (const auto& item : rels) {
      YAML::Node r = item["relationship"];
      if (!r.IsDefined() || !r.IsMap()) return err.At(item, "expected \"relationship:\"");
      if (auto s = b->AddRelationship(r); !s.ok()) return s;
    }
  }
  YAML::Node scen = root["scenarios"];
  if (!scen.IsDefined() || !scen.IsSequence() || scen.size() == 0) {
    return err.At(root, "\"scenarios\" must be a non-empty list");
  }
  for (const auto& item : scen) {
    YAML::Node s = item["scenario"];
    if (!s.IsDefined() || !s.IsMap()) return err.At(item, "expected \"scenario:\"");
    auto cond = Str(err, s, "condition", "scenario");
    if (!cond.ok()) return cond.status();
    YAML::Node acts = s["actions"];
    if (!acts.IsDefined() || !acts.IsSequence() || acts.size() == 0) {
      return err.At(s, "scenario: \"actions\" must be a non-empty list");
    }
    std::vector<Action> actions;
    for (const auto& ai : acts) {
      YAML::Node a = ai["action"];
      if (!a.IsDefined() || !a.IsMap()) return err.At(ai, "expected \"action:\"");
      auto type = Str(err, a, "action_type", "action");
      if (!type.ok()) return type.status();
      auto act = ActionFromProps(err, a, *type, a["properties"], a["action_target"], false);
      if (!act.ok()) return act.status();
      actions.push_back(std::move(*act));
    }
    if (auto st = b->AddScenario(s, *cond, std::move(actions)); !st.ok()) return st;
  }
  return absl::OkStatus();
}

absl::Status ParseV3(const Errors& err, const YAML::Node& root, Builder* b) {
  YAML::Node ents = root["entities"];
  if (!ents.IsDefined() || !ents.IsMap() || ents.size() == 0) {
    return err.At(root, "\"entities\" must be a non-empty map");
  }
  for (const auto& kv : ents) {
    if (auto s = b->AddEntity(kv.second, kv.first.Scalar()); !s.ok()) return s;
  }
  YAML::Node scen = root["scenarios"];
  if (!scen.IsDefined() || !scen.IsSequence() || scen.size() == 0) {
    return err.At(root, "\"scenarios\" must be a non-empty list");
  }
  for (const auto& s : scen) {
    if (!s.IsMap()) return err.At(s, "a scenario must be a map");
    auto cond = Str(err, s, "condition", "scenario");
    if (!cond.ok()) return cond.status();
    YAML::Node acts = s["actions"];
    if (!acts.IsDefined() || !acts.IsSequence() || acts.size() == 0) {
      return err.At(s, "scenario: \"actions\" must be a non-empty list");
    }
    std::vector<Action> actions;
    for (const auto& ai : acts) {
      if (!ai.IsMap() || ai.size() != 1) {
        return err.At(ai, "an action must be a map with one key (its type)");
      }
      auto kv = *ai.begin();
      std::string type = kv.first.Scalar();
      auto act = ActionFromProps(err, ai, type, kv.second, kv.second, true);
      if (!act.ok()) return act.status();
      actions.push_back(std::move(*act));
    }
    if (auto st = b->AddScenario(s, *cond, std::move(actions)); !st.ok()) return st;
  }
  return absl::OkStatus();
}

}  // namespace

int Clause::VarIndex(absl::string_view entity_id) const {
  for (size_t i = 0; i < vars.size(); ++i) {
    if (vars[i]->id == entity_id) return static_cast<int>(i);
  }
  return -1;
}

const char* ActionTypeName(ActionType t) {
  switch (t) {
    case ActionType::kRaiseAlarm:
      return "raise_alarm";
    case ActionType::kSetState:
      return "set_state";
    case ActionType::kAddCausalRelationship:
      return "add_causal_relationship";
    case ActionType::kMarkDown:
      return "mark_down";
  }
  return "?";
}

absl::StatusOr<std::unique_ptr<Template>> ParseTemplate(absl::string_view text,
                                                        const std::string& file) {
  Errors err(file);
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& ex) {
    return err.AtLine(ex.mark.line + 1, absl::StrCat("bad YAML: ", ex.msg));
  }
  if (!root.IsMap()) return err.AtLine(1, "a template must be a YAML map");
  auto t = std::make_unique<Template>();
  t->file = file;
  t->content_hash = Fnv64(text);
  try {
    YAML::Node meta = root["metadata"];
    if (!meta.IsDefined() || !meta.IsMap()) return err.At(root, "\"metadata\" is missing");
    auto name = Str(err, meta, "name", "metadata");
    if (!name.ok()) return name.status();
    t->name = *name;
    std::string version = OptStr(meta, "version");
    if (version.empty() || version == "1" || version == "2") {
      t->version = 2;  // upstream reads version-less (v1) templates as v2
    } else if (version == "3") {
      t->version = 3;
    } else {
      return err.At(meta["version"],
                    absl::StrCat("metadata: version \"", version, "\" is not supported (2 or 3)"));
    }
    std::string type = OptStr(meta, "type");
    if (!type.empty() && type != "standard") {
      return err.At(meta["type"], absl::StrCat("metadata: template type \"", type,
                                               "\" is not supported (only standard)"));
    }
    if (root["includes"].IsDefined()) {
      return err.At(root["includes"], "\"includes\" (definition templates) is not supported");
    }
    Builder b(err, t.get());
    absl::Status s = t->version == 3 ? ParseV3(err, root, &b) : ParseV2(err, root, &b);
    if (!s.ok()) return s;
  } catch (const YAML::Exception& ex) {
    return err.AtLine(ex.mark.line + 1, absl::StrCat("bad template: ", ex.msg));
  }
  return t;
}

absl::StatusOr<std::unique_ptr<Template>> LoadTemplateFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ":0: cannot be read"));
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseTemplate(ss.str(), path);
}

std::string TemplateSet::Fingerprint() const {
  std::vector<std::string> parts;
  for (const auto& t : templates) parts.push_back(absl::StrCat(t->name, "=", t->content_hash));
  std::sort(parts.begin(), parts.end());
  return absl::StrJoin(parts, ",");
}

size_t TemplateSet::scenario_count() const {
  size_t n = 0;
  for (const auto& t : templates) n += t->scenarios.size();
  return n;
}

absl::StatusOr<TemplateSet> LoadTemplateDir(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::vector<std::string> files;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::string ext = it->path().extension().string();
    if (it->is_regular_file() && (ext == ".yaml" || ext == ".yml")) {
      files.push_back(it->path().string());
    }
  }
  if (ec) return absl::NotFoundError(absl::StrCat("templates_dir ", dir, ": ", ec.message()));
  std::sort(files.begin(), files.end());
  TemplateSet set;
  absl::flat_hash_set<std::string> names;
  for (const std::string& f : files) {
    auto t = LoadTemplateFile(f);
    if (!t.ok()) {
      set.errors.push_back(std::string(t.status().message()));
      continue;
    }
    if (!names.insert((*t)->name).second) {
      set.errors.push_back(absl::StrCat(f, ":1: template name \"", (*t)->name,
                                        "\" is already used by another template"));
      continue;
    }
    set.templates.push_back(std::move(*t));
  }
  return set;
}

}  // namespace vitrage::evaluator
