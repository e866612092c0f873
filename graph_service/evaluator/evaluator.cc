#include "graph_service/evaluator/evaluator.h"

#include <glog/logging.h>

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "graph_service/processor/passthrough_event.h"
#include "graph_service/processor/processor.h"

namespace vitrage::evaluator {

using graph::Graph;
using graph::KeyId;
using graph::Properties;
using graph::Slot;
using graph::Value;

namespace {

const KeyId kRefs = graph::InternKey(kRefsKey);
const KeyId kStates = graph::InternKey(kStatesKey);
const KeyId kMarkDown = graph::InternKey(kMarkDownKey);
const KeyId kIsMarkedDown = graph::InternKey("is_marked_down");
const KeyId kVitrageState = graph::InternKey("vitrage_state");
const KeyId kResourceId = graph::InternKey("vitrage_resource_id");
const KeyId kResourceType = graph::InternKey("vitrage_resource_type");
const KeyId kAggSeverity = graph::InternKey("vitrage_aggregated_severity");
const KeyId kOpSeverity = graph::InternKey("vitrage_operational_severity");
const KeyId kOnLabel = graph::InternKey("on");
const KeyId kCausesLabel_ = graph::InternKey(kCausesLabel);

constexpr int kMaxRounds = 16;
// The pass-through event's sample date is not stored anywhere; a constant
// keeps the events (and so the graph) independent of the clock.
constexpr char kSampleDate[] = "1970-01-01T00:00:00Z";

bool Deleted(const Properties& p) { return p.GetBool(graph::keys::kVitrageIsDeleted); }

std::string Esc(absl::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '%' || c == '|' || c == '=' || c == '/' || c == '@') {
      absl::StrAppend(&out, "%", absl::Hex(static_cast<unsigned char>(c), absl::kZeroPad2));
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string Unesc(absl::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    int v = 0;
    if (s[i] == '%' && i + 2 < s.size() && absl::SimpleHexAtoi(s.substr(i + 1, 2), &v)) {
      out.push_back(static_cast<char>(v));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// True when `s` is the token ref + "/" + ai.
bool TokenIs(absl::string_view s, absl::string_view ref, absl::string_view ai) {
  return s.size() == ref.size() + 1 + ai.size() && s.substr(0, ref.size()) == ref &&
         s[ref.size()] == '/' && s.substr(ref.size() + 1) == ai;
}

bool ListHasToken(const Value* v, absl::string_view ref, absl::string_view ai) {
  if (v == nullptr || v->kind() != Value::Kind::kList) return false;
  for (const Value& x : v->list_items()) {
    if (x.is_string() && TokenIs(x.string_value(), ref, ai)) return true;
  }
  return false;
}

// The text of a scalar value as a template would write it.
bool ScalarEquals(const Value& v, const std::string& want) {
  switch (v.kind()) {
    case Value::Kind::kString:
      return v.string_value() == want;
    case Value::Kind::kBool:
      return absl::EqualsIgnoreCase(want, v.bool_value() ? "true" : "false");
    case Value::Kind::kInt:
      return absl::StrCat(v.int_value()) == want;
    case Value::Kind::kDouble: {
      double d;
      return absl::SimpleAtod(want, &d) && d == v.double_value();
    }
    case Value::Kind::kNull:
      return want.empty() || want == "null" || want == "None";
    default:
      return false;
  }
}

bool EntityOk(const EntityDef& e, const Properties& p) {
  if (Deleted(p)) return false;
  for (const PropMatch& pm : e.props) {
    const Value* v = p.Find(pm.key);
    if (v == nullptr) return false;
    if (pm.prefix) {
      if (!v->is_string() || !absl::StartsWith(v->string_value(), pm.value)) return false;
    } else if (pm.regex) {
      if (!v->is_string()) return false;
      absl::string_view s = v->string_value();
      if (!std::regex_search(s.begin(), s.end(), *pm.regex,
                             std::regex_constants::match_continuous)) {
        return false;
      }
    } else if (!ScalarEquals(*v, pm.value)) {
      return false;
    }
  }
  return true;
}

std::vector<std::string> StrList(const Value* v) {
  std::vector<std::string> out;
  if (v == nullptr || v->kind() != Value::Kind::kList) return out;
  for (const Value& x : v->list_items()) {
    if (x.is_string()) out.emplace_back(x.string_value());
  }
  return out;
}

bool ListHas(const Value* v, absl::string_view s) {
  if (v == nullptr || v->kind() != Value::Kind::kList) return false;
  for (const Value& x : v->list_items()) {
    if (x.is_string() && x.string_value() == s) return true;
  }
  return false;
}

Value MakeList(std::vector<std::string> items) {
  std::sort(items.begin(), items.end());
  items.erase(std::unique(items.begin(), items.end()), items.end());
  std::vector<Value> vals;
  vals.reserve(items.size());
  for (const auto& s : items) vals.push_back(Value::String(s));
  return Value::List(std::move(vals));
}

int StatePriority(absl::string_view s) {
  if (s == "ERROR") return 60;
  if (s == "CRITICAL") return 55;
  if (s == "DOWN") return 50;
  if (s == "SUBOPTIMAL") return 40;
  if (s == "AVAILABLE" || s == "OK" || s == "UP" || s == "RUNNING") return 10;
  return 30;
}

// "STATE@token" entries -> the most severe state ("" when none).
std::string DominantState(const std::vector<std::string>& entries) {
  std::string best;
  for (const auto& e : entries) {
    std::string st(e.substr(0, e.find('@')));
    if (best.empty() || StatePriority(st) > StatePriority(best) ||
        (StatePriority(st) == StatePriority(best) && st > best)) {
      best = st;
    }
  }
  return best;
}

std::string AlarmId(absl::string_view target_id, absl::string_view name) {
  std::string h = processor::Md5Hex(absl::StrCat("ALARM:vitrage:", target_id, ":", name));
  return absl::StrCat(h.substr(0, 8), "-", h.substr(8, 4), "-", h.substr(12, 4), "-",
                      h.substr(16, 4), "-", h.substr(20, 12));
}

Slot FindLiveEdge(const Graph& g, Slot s, Slot t, KeyId label) {
  for (Slot e : g.OutEdges(s)) {
    if (g.EdgeTarget(e) == t && g.EdgeLabelId(e) == label) return e;
  }
  return graph::kNoSlot;
}

processor::PassthroughOp SetVertex(absl::string_view id, Properties props) {
  processor::PassthroughOp op;
  op.kind = processor::PassthroughOp::kSetVertex;
  op.id = std::string(id);
  op.props = std::move(props);
  return op;
}
processor::PassthroughOp SetEdge(absl::string_view s, absl::string_view t, absl::string_view l,
                                 Properties props) {
  processor::PassthroughOp op;
  op.kind = processor::PassthroughOp::kSetEdge;
  op.source = std::string(s);
  op.target = std::string(t);
  op.label = std::string(l);
  op.props = std::move(props);
  return op;
}

}  // namespace

// ------------------------------------------------------------ internals

struct Evaluator::Match {
  int scenario = 0;
  int clause = 0;
  // The vertex of each bound variable, in variable order.
  absl::InlinedVector<Slot, 4> slots;
};

struct Evaluator::RefInfo {
  int scenario = -1;
  std::vector<std::string> vertex_ids;
};

// One action instance to do or undo on one element.
struct Evaluator::Pending {
  enum Kind { kAlarm, kCausal, kState, kMarkDown };
  Kind kind = kAlarm;
  bool undo = false;
  std::string token;
  // kAlarm: a = target vertex, b = alarm vertex. kCausal: a -> b.
  // kState, kMarkDown: a = the vertex.
  std::string a, b;
  const Action* action = nullptr;  // null for an orphan token's undo
};

struct Step {
  int term;
  int from;
  int to;
  bool out;    // the edge leaves `from`
  bool check;  // `to` is bound already: only check the edge
};

// For each scenario, clause and anchor variable, the order in which the
// positive edges are followed.
struct Evaluator::Plans {
  std::vector<std::vector<std::vector<std::vector<Step>>>> p;
};

class Evaluator::Matcher {
 public:
  Matcher(const Graph& g, const Clause& c, const std::vector<Step>& steps)
      : g_(g), c_(c), steps_(steps), bind_(c.vars.size(), graph::kNoSlot) {}

  template <typename Emit>
  void Run(int anchor, Slot v, Emit emit) {
    bind_[anchor] = v;
    Rec(0, emit);
    bind_[anchor] = graph::kNoSlot;
  }
  const std::vector<Slot>& binding() const { return bind_; }

 private:
  template <typename Emit>
  void Rec(size_t i, Emit& emit) {
    if (i == steps_.size()) {
      if (NegativesHold()) emit(bind_);
      return;
    }
    const Step& st = steps_[i];
    const EdgeTerm& term = c_.positive[st.term];
    Slot u = bind_[st.from];
    const auto& adj = st.out ? g_.OutEdges(u) : g_.InEdges(u);
    for (Slot e : adj) {
      if (g_.EdgeLabelId(e) != term.label_id) continue;
      if (Deleted(g_.EdgeProps(e))) continue;
      Slot w = st.out ? g_.EdgeTarget(e) : g_.EdgeSource(e);
      if (st.check) {
        if (w == bind_[st.to]) {
          Rec(i + 1, emit);
          return;
        }
        continue;
      }
      if (Used(w)) continue;
      if (!EntityOk(*c_.vars[st.to], g_.VertexProps(w))) continue;
      bind_[st.to] = w;
      Rec(i + 1, emit);
      bind_[st.to] = graph::kNoSlot;
    }
  }
  bool Used(Slot w) const {
    for (int i = 0; i < c_.bound_count; ++i) {
      if (bind_[i] == w) return true;
    }
    return false;
  }
  // True when no live edge `label` leaves `from` (or enters it, !out) to a
  // vertex that is `to_slot`, or, when that is unbound, matches `to_def`.
  bool NoEdge(Slot from, bool out, KeyId label, Slot to_slot, const EntityDef& to_def) const {
    const auto& adj = out ? g_.OutEdges(from) : g_.InEdges(from);
    for (Slot e : adj) {
      if (g_.EdgeLabelId(e) != label || Deleted(g_.EdgeProps(e))) continue;
      Slot w = out ? g_.EdgeTarget(e) : g_.EdgeSource(e);
      if (to_slot != graph::kNoSlot ? w == to_slot : EntityOk(to_def, g_.VertexProps(w))) {
        return false;
      }
    }
    return true;
  }
  bool NegativesHold() const {
    for (const EdgeTerm& t : c_.negative) {
      Slot s = bind_[t.source];
      Slot d = bind_[t.target];
      bool ok = s != graph::kNoSlot ? NoEdge(s, true, t.label_id, d, *c_.vars[t.target])
                                    : NoEdge(d, false, t.label_id, s, *c_.vars[t.source]);
      if (!ok) return false;
    }
    return true;
  }

  const Graph& g_;
  const Clause& c_;
  const std::vector<Step>& steps_;
  std::vector<Slot> bind_;
};

// ----------------------------------------------------------- construction

namespace {
std::vector<Step> PlanFrom(const Clause& c, int anchor) {
  std::vector<Step> steps;
  std::vector<bool> bound(c.vars.size(), false);
  std::vector<bool> used(c.positive.size(), false);
  bound[anchor] = true;
  bool progress = true;
  while (progress) {
    progress = false;
    // Checks first (cheap), then extensions.
    for (size_t i = 0; i < c.positive.size(); ++i) {
      const EdgeTerm& t = c.positive[i];
      if (!used[i] && bound[t.source] && bound[t.target]) {
        steps.push_back({static_cast<int>(i), t.source, t.target, true, true});
        used[i] = true;
        progress = true;
      }
    }
    for (size_t i = 0; i < c.positive.size(); ++i) {
      const EdgeTerm& t = c.positive[i];
      if (used[i]) continue;
      if (bound[t.source] != bound[t.target]) {
        bool from_source = bound[t.source];
        int from = from_source ? t.source : t.target;
        int to = from_source ? t.target : t.source;
        steps.push_back({static_cast<int>(i), from, to, from_source, false});
        bound[to] = true;
        used[i] = true;
        progress = true;
        break;
      }
    }
  }
  return steps;
}
}  // namespace

Evaluator::Evaluator(TemplateSet templates) : templates_(std::move(templates)) { BuildIndexes(); }

Evaluator::~Evaluator() = default;

void Evaluator::BuildIndexes() {
  for (const char* k : {"vitrage_is_deleted", kRefsKey, kStatesKey, kMarkDownKey, "vitrage_state",
                        "is_marked_down", "vitrage_type", "vitrage_category", "name"}) {
    relevant_keys_.insert(k);
  }
  relevant_labels_.insert("on");
  relevant_labels_.insert(kCausesLabel);
  for (const char* k : {"vitrage_is_deleted", "vitrage_type", "vitrage_category"}) {
    match_keys_.insert(k);
  }
  for (const auto& t : templates_.templates) {
    for (const auto& e : t->entities) {
      for (const PropMatch& pm : e->props) {
        relevant_keys_.insert(std::string(graph::KeyName(pm.key)));
        match_keys_.insert(std::string(graph::KeyName(pm.key)));
      }
    }
    for (const Scenario& s : t->scenarios) {
      for (const Clause& c : s.clauses) {
        for (const auto* terms : {&c.positive, &c.negative}) {
          for (const EdgeTerm& e : *terms) relevant_labels_.insert(e.label);
        }
      }
    }
  }
  plans_ = std::make_unique<Plans>();
  Plans* plans = plans_.get();
  for (const auto& t : templates_.templates) {
    for (const Scenario& s : t->scenarios) {
      int si = static_cast<int>(scenarios_.size());
      scenarios_.push_back(&s);
      scenario_by_key_[s.key] = si;
      plans->p.emplace_back();
      for (size_t ci = 0; ci < s.clauses.size(); ++ci) {
        const Clause& c = s.clauses[ci];
        plans->p.back().emplace_back();
        for (int v = 0; v < c.bound_count; ++v) {
          plans->p.back().back().push_back(PlanFrom(c, v));
          Var var{si, static_cast<int>(ci), v};
          if (c.vars[v]->vitrage_type.empty()) {
            untyped_anchors_.push_back(var);
          } else {
            anchors_by_type_[c.vars[v]->vitrage_type].push_back(var);
          }
        }
        for (const EdgeTerm& e : c.negative) {
          negated_labels_.insert(e.label);
          for (int end : {e.source, e.target}) {
            if (end < c.bound_count) continue;
            int bound = end == e.source ? e.target : e.source;
            NegatedEnd ne{e.label_id, end == e.source, c.vars[bound]->vitrage_type};
            if (c.vars[end]->vitrage_type.empty()) {
              negated_untyped_ = true;
              negated_untyped_ends_.push_back(ne);
            } else {
              negated_types_[c.vars[end]->vitrage_type].push_back(ne);
            }
          }
        }
      }
    }
  }
}

// --------------------------------------------------------------- matching

void Evaluator::ReplayNotes::Note(const v1::GraphDelta& delta, bool by_evaluator, uint64_t seq) {
  if (!by_evaluator) n_ = 0;
  auto add = [&](const std::string& id) {
    if (n_ < buf_.size()) {
      buf_[n_].assign(id);
    } else {
      buf_.push_back(id);
    }
    ++n_;
  };
  for (const v1::GraphChange& ch : delta.changes()) {
    if (ch.has_vertex()) {
      add(ch.vertex().vertex_id());
    } else if (ch.has_edge()) {
      add(ch.edge().source_id());
      add(ch.edge().target_id());
    }
  }
  seq_ = seq;
}

void Evaluator::CollectAffected(const v1::GraphDelta& delta, std::vector<std::string>* ids) {
  for (const v1::GraphChange& ch : delta.changes()) {
    if (ch.has_vertex()) {
      ids->push_back(ch.vertex().vertex_id());
    } else if (ch.has_edge()) {
      ids->push_back(ch.edge().source_id());
      ids->push_back(ch.edge().target_id());
    }
  }
}

namespace {

// "<scenario key>|<clause>|<entity>=<vertex id>|..." (escaped).
std::string RefOf(const Graph& g, const Scenario& s, int clause, const std::vector<Slot>& bind) {
  const Clause& c = s.clauses[clause];
  std::string ref = absl::StrCat(Esc(s.key), "|", clause);
  for (int i = 0; i < c.bound_count; ++i) {
    absl::StrAppend(&ref, "|", Esc(c.vars[i]->id), "=", Esc(g.VertexId(bind[i])));
  }
  return ref;
}

// The deduced alarm `name` on `target` (found over its "on" edges).
Slot FindDeduced(const Graph& g, Slot target, absl::string_view name) {
  for (Slot e : g.InEdges(target)) {
    if (g.EdgeLabelId(e) != kOnLabel) continue;
    Slot a = g.EdgeSource(e);
    const Properties& p = g.VertexProps(a);
    if (p.GetString(graph::keys::kVitrageType) == kDeducedAlarmType &&
        p.GetString(graph::keys::kName) == name) {
      return a;
    }
  }
  return graph::kNoSlot;
}

// Whether action `ai` of a match is done (its token on its element),
// without building anything.
bool IsDone(const Graph& g, const Clause& c, const Action& a, absl::string_view ref,
            absl::string_view ai, const absl::InlinedVector<Slot, 4>& slots) {
  auto slot = [&](const std::string& entity) { return slots[c.VarIndex(entity)]; };
  switch (a.type) {
    case ActionType::kRaiseAlarm: {
      Slot alarm = FindDeduced(g, slot(a.target), a.alarm_name);
      if (alarm == graph::kNoSlot || !ListHasToken(g.VertexProps(alarm).Find(kRefs), ref, ai)) {
        return false;
      }
      if (a.source.empty()) return true;
      Slot e = FindLiveEdge(g, slot(a.source), alarm, kCausesLabel_);
      return e != graph::kNoSlot && ListHasToken(g.EdgeProps(e).Find(kRefs), ref, ai);
    }
    case ActionType::kAddCausalRelationship: {
      Slot e = FindLiveEdge(g, slot(a.source), slot(a.target), kCausesLabel_);
      return e != graph::kNoSlot && ListHasToken(g.EdgeProps(e).Find(kRefs), ref, ai);
    }
    case ActionType::kSetState: {
      const Value* v = g.VertexProps(slot(a.target)).Find(kStates);
      if (v == nullptr || v->kind() != Value::Kind::kList) return false;
      for (const Value& x : v->list_items()) {
        if (!x.is_string()) continue;
        absl::string_view e = x.string_value();
        if (e.size() > a.state.size() && e.substr(0, a.state.size()) == a.state &&
            e[a.state.size()] == '@' && TokenIs(e.substr(a.state.size() + 1), ref, ai)) {
          return true;
        }
      }
      return false;
    }
    case ActionType::kMarkDown:
      return ListHasToken(g.VertexProps(slot(a.target)).Find(kMarkDown), ref, ai);
  }
  return false;
}

}  // namespace

void Evaluator::CollectRelevant(const Graph& g, const v1::GraphDelta& delta,
                                std::vector<std::string>* ids) const {
  CollectRelevantImpl(g, delta, /*own=*/false, ids);
}

void Evaluator::CollectRelevantImpl(const Graph& g, const v1::GraphDelta& delta, bool own,
                                    std::vector<std::string>* ids) const {
  auto touches = [&](const absl::flat_hash_set<std::string>& keys, const auto& set,
                     const auto& removed) {
    for (const auto& p : set) {
      if (keys.contains(p.key())) return true;
    }
    for (const auto& k : removed) {
      if (keys.contains(k)) return true;
    }
    return false;
  };
  for (const v1::GraphChange& ch : delta.changes()) {
    if (ch.has_vertex()) {
      const v1::VertexChange& v = ch.vertex();
      // An own action changed only its token list (and the value derived
      // from it): no match can appear or go unless an entity tests a key
      // it changed. Another change to the token keys (a datasource
      // replacing the properties) is evaluated: the tokens may be gone.
      if (v.kind() == v1::UPDATED &&
          !touches(own ? match_keys_ : relevant_keys_, v.set(), v.removed_keys())) {
        continue;
      }
      ids->push_back(v.vertex_id());
    } else if (ch.has_edge()) {
      const v1::EdgeChange& e = ch.edge();
      if (!relevant_labels_.contains(e.label())) continue;
      if (e.kind() == v1::UPDATED && !touches(relevant_keys_, e.set(), e.removed_keys())) {
        continue;
      }
      // Both ends: a negated label, or an end the lazy index does not
      // cover yet (a removed edge's refs are then only found from the end
      // whose side of the broken match holds their tokens).
      if (negated_labels_.contains(e.label()) ||
          (!all_covered_ &&
           (!covered_ids_.contains(e.source_id()) || !covered_ids_.contains(e.target_id())))) {
        ids->push_back(e.source_id());
        ids->push_back(e.target_id());
        continue;
      }
      // A match the edge can make or break holds both its ends: evaluating
      // around the one with fewer edges finds it (a network with hundreds
      // of ports need not be walked when one port is attached).
      auto degree = [&](const std::string& id) -> size_t {
        Slot v = g.FindVertex(id);
        return v == graph::kNoSlot ? 0 : g.OutEdges(v).size() + g.InEdges(v).size();
      };
      ids->push_back(degree(e.source_id()) <= degree(e.target_id()) ? e.source_id()
                                                                    : e.target_id());
    }
  }
}

void Evaluator::MatchesAround(const Graph& g, Slot v,
                              absl::flat_hash_map<std::string, Match>* out) {
  const Properties& props = g.VertexProps(v);
  if (Deleted(props)) return;
  ++stats_.vertices_examined;
  const Plans* plans = plans_.get();
  auto try_anchor = [&](const Var& a) {
    const Scenario& s = *scenarios_[a.scenario];
    const Clause& c = s.clauses[a.clause];
    if (!EntityOk(*c.vars[a.var], props)) return;
    Matcher m(g, c, plans->p[a.scenario][a.clause][a.var]);
    m.Run(a.var, v, [&](const std::vector<Slot>& bind) {
      ++stats_.matches;
      Match match;
      match.scenario = a.scenario;
      match.clause = a.clause;
      match.slots.assign(bind.begin(), bind.begin() + c.bound_count);
      out->try_emplace(RefOf(g, s, a.clause, bind), std::move(match));
    });
  };
  const Value* type = props.Find(graph::keys::kVitrageType);
  if (type != nullptr && type->is_string()) {
    auto it = anchors_by_type_.find(type->string_value());
    if (it != anchors_by_type_.end()) {
      for (const Var& a : it->second) try_anchor(a);
    }
  }
  for (const Var& a : untyped_anchors_) try_anchor(a);
}

void Evaluator::IndexRef(const Graph& g, const std::string& ref, const Match& m) {
  auto [it, inserted] = refs_.try_emplace(ref);
  if (!inserted) return;
  it->second = std::make_unique<RefInfo>();
  it->second->scenario = m.scenario;
  for (Slot v : m.slots) {
    it->second->vertex_ids.emplace_back(g.VertexId(v));
    by_vertex_[it->second->vertex_ids.back()].insert(ref);
  }
}

void Evaluator::UnindexRef(const std::string& ref) {
  auto it = refs_.find(ref);
  if (it == refs_.end()) return;
  for (const std::string& id : it->second->vertex_ids) {
    auto v = by_vertex_.find(id);
    if (v == by_vertex_.end()) continue;
    v->second.erase(ref);
    if (v->second.empty()) by_vertex_.erase(v);
  }
  refs_.erase(it);
}

void Evaluator::Reconcile(const Graph& g, const absl::flat_hash_map<std::string, Match>& current,
                          const absl::flat_hash_set<std::string>& recorded,
                          std::vector<Pending>* out) {
  // `ids`: the vertex ids of the bound variables; `slots` (do only): the
  // same vertices, for the done check.
  auto emit = [&](const Scenario& s, int clause, const std::vector<std::string>& ids,
                  const absl::InlinedVector<Slot, 4>* slots, const std::string& ref, bool undo) {
    const Clause& c = s.clauses[clause];
    auto id_of = [&](const std::string& entity) -> const std::string& {
      return ids[c.VarIndex(entity)];
    };
    const int n = static_cast<int>(s.actions.size());
    for (int k = 0; k < n; ++k) {
      int ai = undo ? n - 1 - k : k;
      const Action& a = s.actions[ai];
      char ai_buf[16];
      int n_ai = snprintf(ai_buf, sizeof(ai_buf), "%d", ai);
      if (!undo && IsDone(g, c, a, ref, absl::string_view(ai_buf, n_ai), *slots)) continue;
      std::string token = absl::StrCat(ref, "/", ai);
      Pending p;
      p.undo = undo;
      p.action = &a;
      p.token = token;
      switch (a.type) {
        case ActionType::kRaiseAlarm: {
          p.kind = Pending::kAlarm;
          p.a = id_of(a.target);
          p.b = AlarmId(p.a, a.alarm_name);
          Pending causal;
          if (!a.source.empty()) {
            causal.kind = Pending::kCausal;
            causal.undo = undo;
            causal.action = &a;
            causal.token = token;
            causal.a = id_of(a.source);
            causal.b = p.b;
          }
          if (undo && !a.source.empty()) out->push_back(causal);
          out->push_back(std::move(p));
          if (!undo && !a.source.empty()) out->push_back(std::move(causal));
          continue;
        }
        case ActionType::kAddCausalRelationship:
          p.kind = Pending::kCausal;
          p.a = id_of(a.source);
          p.b = id_of(a.target);
          break;
        case ActionType::kSetState:
          p.kind = Pending::kState;
          p.a = id_of(a.target);
          break;
        case ActionType::kMarkDown:
          p.kind = Pending::kMarkDown;
          p.a = id_of(a.target);
          break;
      }
      out->push_back(std::move(p));
    }
  };
  for (const std::string& ref : recorded) {
    if (current.contains(ref)) continue;
    auto it = refs_.find(ref);
    if (it == refs_.end()) continue;
    const RefInfo& info = *it->second;
    if (info.scenario >= 0) {
      // The clause index is the second field of the ref.
      std::vector<absl::string_view> parts = absl::StrSplit(ref, '|');
      int clause = 0;
      if (parts.size() > 1 && absl::SimpleAtoi(parts[1], &clause)) {
        emit(*scenarios_[info.scenario], clause, info.vertex_ids, nullptr, ref, /*undo=*/true);
      }
    }
    UnindexRef(ref);
  }
  std::vector<std::string> ids;
  for (const auto& [ref, m] : current) {
    IndexRef(g, ref, m);
    const Scenario& s = *scenarios_[m.scenario];
    // Most matches found around a change hold already with every action
    // done: check before building anything.
    bool all_done = true;
    for (size_t ai = 0; ai < s.actions.size() && all_done; ++ai) {
      all_done = IsDone(g, s.clauses[m.clause], s.actions[ai], ref, absl::StrCat(ai), m.slots);
    }
    if (all_done) continue;
    ids.clear();
    for (Slot v : m.slots) ids.emplace_back(g.VertexId(v));
    emit(s, m.clause, ids, &m.slots, ref, /*undo=*/false);
  }
}

// ----------------------------------------------------------------- events

absl::Status Evaluator::Run(const Graph& g, std::vector<Pending> pending, const ApplyFn& apply) {
  for (int round = 0; !pending.empty(); ++round) {
    if (round == kMaxRounds) {
      ++stats_.cascade_limit_hits;
      LOG(WARNING) << "evaluator: actions still cascading after " << kMaxRounds << " rounds; "
                   << pending.size()
                   << " actions left for the next change (do the templates trigger each other?)";
      return absl::OkStatus();
    }
    std::vector<std::string> next;
    for (const Pending& p : pending) {
      v1::Event ev;
      std::string kind;
      if (!BuildEvent(g, p, &ev, &kind)) continue;
      v1::GraphDelta delta;
      absl::Status s = apply(ev, kind, &delta);
      if (!s.ok()) return s;
      if (p.undo) {
        ++stats_.actions_undone;
      } else {
        ++stats_.actions_done;
      }
      CollectRelevantImpl(g, delta, /*own=*/true, &next);
    }
    pending.clear();
    if (next.empty()) break;
    std::sort(next.begin(), next.end());
    next.erase(std::unique(next.begin(), next.end()), next.end());
    if (!all_covered_) Cover(g, next);
    // What the actions changed may satisfy (or break) other scenarios.
    absl::flat_hash_map<std::string, Match> current;
    absl::flat_hash_set<std::string> recorded;
    for (const std::string& id : next) {
      Slot v = g.FindVertex(id);
      if (v != graph::kNoSlot) MatchesAround(g, v, &current);
      auto it = by_vertex_.find(id);
      if (it != by_vertex_.end()) recorded.insert(it->second.begin(), it->second.end());
    }
    Reconcile(g, current, recorded, &pending);
  }
  return absl::OkStatus();
}

absl::Status Evaluator::Evaluate(const Graph& g, std::vector<std::string> affected,
                                 const ApplyFn& apply) {
  ++stats_.evaluations;
  if (scenarios_.empty()) return absl::OkStatus();
  std::sort(affected.begin(), affected.end());
  affected.erase(std::unique(affected.begin(), affected.end()), affected.end());
  if (negated_untyped_ || !negated_types_.empty()) {
    // A vertex that can be the unbound end of a negated relationship
    // changes the matches of its neighbours.
    size_t n = affected.size();
    for (size_t i = 0; i < n; ++i) {
      Slot v = g.FindVertex(affected[i]);
      if (v == graph::kNoSlot) continue;
      absl::string_view type = g.VertexProps(v).GetString(graph::keys::kVitrageType);
      auto it = negated_types_.find(type);
      // Only neighbours over a negated relationship's label, of the type its
      // bound end requires.
      auto expand = [&](const std::vector<NegatedEnd>& ends) {
        for (const NegatedEnd& ne : ends) {
          const auto& adj = ne.unbound_is_source ? g.OutEdges(v) : g.InEdges(v);
          for (Slot e : adj) {
            if (g.EdgeLabelId(e) != ne.label) continue;
            Slot w = ne.unbound_is_source ? g.EdgeTarget(e) : g.EdgeSource(e);
            if (!ne.bound_type.empty() &&
                g.VertexProps(w).GetString(graph::keys::kVitrageType) != ne.bound_type) {
              continue;
            }
            affected.emplace_back(g.VertexId(w));
          }
        }
      };
      if (it != negated_types_.end()) expand(it->second);
      expand(negated_untyped_ends_);
    }
    std::sort(affected.begin(), affected.end());
    affected.erase(std::unique(affected.begin(), affected.end()), affected.end());
  }
  if (!all_covered_) Cover(g, affected);
  absl::flat_hash_map<std::string, Match> current;
  absl::flat_hash_set<std::string> recorded;
  for (const std::string& id : affected) {
    Slot v = g.FindVertex(id);
    if (v != graph::kNoSlot) MatchesAround(g, v, &current);
    auto it = by_vertex_.find(id);
    if (it != by_vertex_.end()) recorded.insert(it->second.begin(), it->second.end());
  }
  if (current.empty() && recorded.empty()) return absl::OkStatus();
  std::vector<Pending> pending;
  Reconcile(g, current, recorded, &pending);
  return Run(g, std::move(pending), apply);
}

// ------------------------------------------------------------ lazy index

void Evaluator::NoteToken(absl::string_view token) {
  size_t slash = token.rfind('/');
  if (slash == absl::string_view::npos) return;
  absl::string_view ref = token.substr(0, slash);
  if (refs_.contains(ref)) return;
  std::vector<absl::string_view> parts = absl::StrSplit(ref, '|');
  if (parts.size() < 3) return;
  auto info = std::make_unique<RefInfo>();
  auto it = scenario_by_key_.find(Unesc(parts[0]));
  info->scenario = it == scenario_by_key_.end() ? -1 : it->second;
  std::string key(ref);
  for (size_t i = 2; i < parts.size(); ++i) {
    size_t eq = parts[i].find('=');
    if (eq == absl::string_view::npos) continue;
    info->vertex_ids.push_back(Unesc(parts[i].substr(eq + 1)));
    by_vertex_[info->vertex_ids.back()].insert(key);
  }
  refs_.emplace(std::move(key), std::move(info));
}

void Evaluator::DiscoverRefs(const Graph& g, const std::vector<Slot>& seeds) {
  ++stats_.discoveries;
  // Vertices read in full, and deduced alarms whose refs list was read as
  // "on" a vertex (such an alarm may still need reading in full when it
  // takes a position itself: its "causes" edges).
  absl::flat_hash_set<Slot> scanned, alarm_refs_read;
  auto note_list = [&](const Value* list, bool states) {
    if (list == nullptr || list->kind() != Value::Kind::kList) return;
    for (const Value& x : list->list_items()) {
      if (!x.is_string()) continue;
      absl::string_view t = x.string_value();
      if (states) {
        size_t at = t.find('@');
        if (at == absl::string_view::npos) continue;
        t = t.substr(at + 1);
      }
      NoteToken(t);
    }
  };
  // Every token an action can have left because of vertex `x` taking a
  // clause position: on x itself, on the deduced alarms "on" x, on the
  // "causes" edges at x.
  auto scan = [&](Slot x) {
    if (!scanned.insert(x).second) return;
    ++stats_.discovery_vertices;
    const Properties& p = g.VertexProps(x);
    note_list(p.Find(kRefs), false);
    note_list(p.Find(kMarkDown), false);
    note_list(p.Find(kStates), true);
    for (Slot e : g.InEdges(x)) {
      KeyId l = g.EdgeLabelId(e);
      if (l == kOnLabel) {
        Slot a = g.EdgeSource(e);
        if (!scanned.contains(a) && alarm_refs_read.insert(a).second) {
          note_list(g.VertexProps(a).Find(kRefs), false);
        }
      } else if (l == kCausesLabel_) {
        note_list(g.EdgeProps(e).Find(kRefs), false);
      }
    }
    for (Slot e : g.OutEdges(x)) {
      if (g.EdgeLabelId(e) == kCausesLabel_) note_list(g.EdgeProps(e).Find(kRefs), false);
    }
  };
  auto type_ok = [&](const EntityDef& def, Slot v) {
    return def.vitrage_type.empty() ||
           g.VertexProps(v).GetString(graph::keys::kVitrageType) == def.vitrage_type;
  };
  const Plans* plans = plans_.get();
  std::vector<std::vector<Slot>> reach;
  absl::flat_hash_set<Slot> seen;
  for (Slot s : seeds) {
    scan(s);
    // Every clause position `s` can take (by type only: a broken match's
    // vertex may no longer satisfy its entity), walked over the clause's
    // relationships as they are now (deleted ones included); the
    // positions are reached as sets, not enumerated as matches.
    for (size_t si = 0; si < scenarios_.size(); ++si) {
      const Scenario& sc = *scenarios_[si];
      for (size_t ci = 0; ci < sc.clauses.size(); ++ci) {
        const Clause& c = sc.clauses[ci];
        for (int var = 0; var < c.bound_count; ++var) {
          if (!type_ok(*c.vars[var], s)) continue;
          reach.assign(c.vars.size(), {});
          reach[var].push_back(s);
          for (const Step& st : plans->p[si][ci][var]) {
            if (st.check) continue;
            const EdgeTerm& term = c.positive[st.term];
            seen.clear();
            std::vector<Slot>& to = reach[st.to];
            for (Slot u : reach[st.from]) {
              const auto& adj = st.out ? g.OutEdges(u) : g.InEdges(u);
              for (Slot e : adj) {
                if (g.EdgeLabelId(e) != term.label_id) continue;
                Slot w = st.out ? g.EdgeTarget(e) : g.EdgeSource(e);
                if (!type_ok(*c.vars[st.to], w) || !seen.insert(w).second) continue;
                to.push_back(w);
              }
            }
          }
          for (const auto& r : reach) {
            for (Slot x : r) scan(x);
          }
        }
      }
    }
  }
}

void Evaluator::Cover(const Graph& g, const std::vector<std::string>& ids) {
  bool all = true;
  for (const std::string& id : ids) {
    if (!covered_ids_.contains(id)) {
      all = false;
      break;
    }
  }
  if (all) {
    // Forget removed vertices (the set holds live ids only, so it can tell
    // when it covers the whole graph).
    for (const std::string& id : ids) {
      if (g.FindVertex(id) == graph::kNoSlot) covered_ids_.erase(id);
    }
    return;
  }
  // Seeds: every vertex of the change, covered or not: a ref that names
  // only uncovered vertices and that the change broke has its tokens on
  // the side of a removed edge or vertex that one of them is on.
  std::vector<Slot> seeds;
  for (const std::string& id : ids) {
    Slot v = g.FindVertex(id);
    if (v != graph::kNoSlot) seeds.push_back(v);
  }
  DiscoverRefs(g, seeds);
  for (const std::string& id : ids) {
    if (g.FindVertex(id) != graph::kNoSlot) {
      covered_ids_.insert(id);
    } else {
      covered_ids_.erase(id);  // gone: the refs naming it are undone now
    }
  }
  if (covered_ids_.size() >= g.vertex_count()) {
    // Every vertex, unless ids of vertices gone without an evaluation are
    // left: check once, keeping only live ids.
    absl::flat_hash_set<std::string> live;
    g.ForEachVertex([&](Slot v) {
      absl::string_view id = g.VertexId(v);
      if (covered_ids_.contains(id)) live.emplace(id);
    });
    if (live.size() == g.vertex_count()) {
      LOG(INFO) << "evaluator: the lazy index now covers all " << g.vertex_count() << " vertices";
      all_covered_ = true;
      absl::flat_hash_set<std::string>().swap(covered_ids_);
    } else {
      covered_ids_.swap(live);
    }
  }
}

absl::Status Evaluator::Recover(const Graph& g, std::vector<std::string> affected,
                                const ApplyFn& apply) {
  absl::Time t0 = absl::Now();
  std::sort(affected.begin(), affected.end());
  affected.erase(std::unique(affected.begin(), affected.end()), affected.end());
  // Evaluating around a vertex without the index costs up to about what a
  // full pass spends on a few hundred vertices: past 1/200 of the graph
  // (and a few hundred vertices) the full pass is cheaper (and leaves the
  // index complete).
  if (affected.size() > 256 && affected.size() * 200 > g.vertex_count()) {
    LOG(INFO) << "evaluator: the recovery pass would start from " << affected.size() << " of "
              << g.vertex_count() << " vertices: a full pass instead";
    return FullPass(g, apply);
  }
  refs_.clear();
  by_vertex_.clear();
  all_covered_ = false;
  covered_ids_.clear();
  size_t n = affected.size();
  uint64_t done0 = stats_.actions_done, undone0 = stats_.actions_undone;
  absl::Status s = Evaluate(g, std::move(affected), apply);
  stats_.last_full_pass_ms = absl::ToDoubleMilliseconds(absl::Now() - t0);
  LOG(INFO) << "evaluator: recovery pass around the " << n
            << " vertices of the last replayed change and its actions: "
            << (stats_.actions_done - done0) << " actions done, "
            << (stats_.actions_undone - undone0) << " undone (those whose records a crash "
            << "lost), " << stats_.last_full_pass_ms << " ms; the index fills lazily ("
            << refs_.size() << " active matches found so far)";
  return s;
}

absl::Status Evaluator::FullPass(const Graph& g, const ApplyFn& apply) {
  absl::Time t0 = absl::Now();
  ++stats_.full_passes;
  // Every match, each found once: anchored at its clause's first variable.
  absl::flat_hash_map<std::string, Match> current;
  const Plans* plans = plans_.get();
  g.ForEachVertex([&](Slot v) {
    const Properties& props = g.VertexProps(v);
    if (Deleted(props)) return;
    auto anchored = [&](const Var& a) {
      if (a.var != 0) return;
      const size_t si = a.scenario, ci = a.clause;
      const Scenario& s = *scenarios_[si];
      {
        const Clause& c = s.clauses[ci];
        if (!EntityOk(*c.vars[0], props)) return;
        Matcher m(g, c, plans->p[si][ci][0]);
        m.Run(0, v, [&](const std::vector<Slot>& bind) {
          ++stats_.matches;
          Match match;
          match.scenario = static_cast<int>(si);
          match.clause = static_cast<int>(ci);
          match.slots.assign(bind.begin(), bind.begin() + c.bound_count);
          current.try_emplace(RefOf(g, s, static_cast<int>(ci), bind), std::move(match));
        });
      }
    };
    auto it = anchors_by_type_.find(props.GetString(graph::keys::kVitrageType));
    if (it != anchors_by_type_.end()) {
      for (const Var& a : it->second) anchored(a);
    }
    for (const Var& a : untyped_anchors_) anchored(a);
  });
  // Tokens in the graph that no match keeps (also those of templates that
  // are gone): undo them where they are.
  std::vector<Pending> pending;
  auto orphan = [&](absl::string_view token) {
    size_t slash = token.rfind('/');
    return !current.contains(token.substr(0, slash == absl::string_view::npos ? 0 : slash));
  };
  // The tokens of list `v` (views into the graph's values).
  auto tokens = [](const Value* v) {
    std::vector<absl::string_view> out;
    if (v == nullptr || v->kind() != Value::Kind::kList) return out;
    for (const Value& x : v->list_items()) {
      if (x.is_string()) out.push_back(x.string_value());
    }
    return out;
  };
  g.ForEachVertex([&](Slot v) {
    const Properties& p = g.VertexProps(v);
    for (absl::string_view t : tokens(p.Find(kRefs))) {
      if (!orphan(t)) continue;
      Pending u;
      u.kind = Pending::kAlarm;
      u.undo = true;
      u.token = std::string(t);
      u.b = std::string(g.VertexId(v));
      pending.push_back(std::move(u));
    }
    for (absl::string_view e : tokens(p.Find(kStates))) {
      size_t at = e.find('@');
      absl::string_view t = at == absl::string_view::npos ? e : e.substr(at + 1);
      if (!orphan(t)) continue;
      Pending u;
      u.kind = Pending::kState;
      u.undo = true;
      u.token = std::string(t);
      u.a = std::string(g.VertexId(v));
      pending.push_back(std::move(u));
    }
    for (absl::string_view t : tokens(p.Find(kMarkDown))) {
      if (!orphan(t)) continue;
      Pending u;
      u.kind = Pending::kMarkDown;
      u.undo = true;
      u.token = std::string(t);
      u.a = std::string(g.VertexId(v));
      pending.push_back(std::move(u));
    }
  });
  g.ForEachEdge([&](Slot e) {
    for (absl::string_view t : tokens(g.EdgeProps(e).Find(kRefs))) {
      if (!orphan(t)) continue;
      Pending u;
      u.kind = Pending::kCausal;
      u.undo = true;
      u.token = std::string(t);
      u.a = std::string(g.VertexId(g.EdgeSource(e)));
      u.b = std::string(g.VertexId(g.EdgeTarget(e)));
      // Causal edges first: undoing the alarm would take them along.
      pending.insert(pending.begin(), std::move(u));
    }
  });
  size_t undos = pending.size();
  refs_.clear();
  by_vertex_.clear();
  all_covered_ = true;
  covered_ids_.clear();
  Reconcile(g, current, {}, &pending);
  uint64_t done0 = stats_.actions_done, undone0 = stats_.actions_undone;
  absl::Status s = Run(g, std::move(pending), apply);
  stats_.last_full_pass_ms = absl::ToDoubleMilliseconds(absl::Now() - t0);
  LOG(INFO) << "evaluator: full pass over " << g.vertex_count() << " vertices with "
            << scenarios_.size() << " scenarios: " << current.size() << " matches, "
            << (stats_.actions_done - done0) << " actions done, "
            << (stats_.actions_undone - undone0) << " undone (" << undos
            << " tokens no match keeps), " << stats_.last_full_pass_ms << " ms";
  return s;
}

bool Evaluator::BuildEvent(const Graph& g, const Pending& p, v1::Event* ev, std::string* kind) {
  std::vector<processor::PassthroughOp> ops;
  const Action* a = p.action;
  switch (p.kind) {
    case Pending::kAlarm: {
      Slot alarm = g.FindVertex(p.b);
      if (p.undo) {
        if (alarm == graph::kNoSlot) return false;
        const Properties& old = g.VertexProps(alarm);
        if (!ListHas(old.Find(kRefs), p.token)) return false;
        std::vector<std::string> refs = StrList(old.Find(kRefs));
        refs.erase(std::remove(refs.begin(), refs.end(), p.token), refs.end());
        if (refs.empty()) {
          processor::PassthroughOp op;
          op.kind = processor::PassthroughOp::kRemoveVertex;
          op.id = p.b;
          ops.push_back(std::move(op));
          *kind = absl::StrCat("evaluator clear_alarm \"", old.GetString(graph::keys::kName),
                               "\" on ", old.GetString(kResourceId));
        } else {
          Properties props = old;
          props.Set(kRefs, MakeList(std::move(refs)));
          ops.push_back(SetVertex(p.b, std::move(props)));
          *kind = absl::StrCat("evaluator release_alarm \"", old.GetString(graph::keys::kName),
                               "\" on ", old.GetString(kResourceId));
        }
        break;
      }
      Slot target = g.FindVertex(p.a);
      if (target == graph::kNoSlot) return false;
      if (alarm != graph::kNoSlot) {
        const Properties& old = g.VertexProps(alarm);
        if (ListHas(old.Find(kRefs), p.token) &&
            FindLiveEdge(g, alarm, target, kOnLabel) != graph::kNoSlot) {
          return false;
        }
        Properties props = old;
        std::vector<std::string> refs = StrList(old.Find(kRefs));
        refs.push_back(p.token);
        props.Set(kRefs, MakeList(std::move(refs)));
        ops.push_back(SetVertex(p.b, std::move(props)));
      } else {
        std::string sev = absl::AsciiStrToUpper(a->severity);
        Properties props;
        props.Set(graph::keys::kVitrageId, Value::String(p.b));
        props.Set(graph::keys::kVitrageCategory, Value::String("ALARM", true));
        props.Set(graph::keys::kVitrageType, Value::String(kDeducedAlarmType, true));
        props.Set(graph::keys::kName, Value::String(a->alarm_name));
        props.Set(graph::keys::kSeverity, Value::String(a->severity));
        props.Set(kAggSeverity, Value::String(sev));
        props.Set(kOpSeverity, Value::String(sev));
        props.Set(graph::keys::kState, Value::String("Active", true));
        props.Set(kResourceId, Value::String(p.a));
        props.Set(kResourceType,
                  Value::String(g.VertexProps(target).GetString(graph::keys::kVitrageType)));
        props.Set(graph::keys::kVitrageIsDeleted, Value::Bool(false));
        props.Set(graph::keys::kVitrageIsPlaceholder, Value::Bool(false));
        props.Set(graph::keys::kIsRealVitrageId, Value::Bool(true));
        props.Set(graph::keys::kVitrageCachedId, Value::String(processor::Md5Hex(absl::StrCat(
                                                     "ALARM:vitrage:", p.a, ":", a->alarm_name))));
        props.Set(kRefs, MakeList({p.token}));
        ops.push_back(SetVertex(p.b, std::move(props)));
      }
      Slot on = alarm == graph::kNoSlot ? graph::kNoSlot : FindLiveEdge(g, alarm, target, kOnLabel);
      if (on == graph::kNoSlot) {
        Properties ep;
        ep.Set(graph::keys::kRelationshipType, Value::String("on", true));
        ep.Set(graph::keys::kVitrageIsDeleted, Value::Bool(false));
        ops.push_back(SetEdge(p.b, p.a, "on", std::move(ep)));
      }
      *kind = absl::StrCat("evaluator raise_alarm \"", a->alarm_name, "\" on ", p.a);
      break;
    }
    case Pending::kCausal: {
      Slot s = g.FindVertex(p.a);
      Slot t = g.FindVertex(p.b);
      if (s == graph::kNoSlot || t == graph::kNoSlot) return false;
      Slot e = FindLiveEdge(g, s, t, kCausesLabel_);
      bool has = e != graph::kNoSlot && ListHas(g.EdgeProps(e).Find(kRefs), p.token);
      if (p.undo) {
        if (!has) return false;
        std::vector<std::string> refs = StrList(g.EdgeProps(e).Find(kRefs));
        refs.erase(std::remove(refs.begin(), refs.end(), p.token), refs.end());
        if (refs.empty()) {
          processor::PassthroughOp op;
          op.kind = processor::PassthroughOp::kRemoveEdge;
          op.source = p.a;
          op.target = p.b;
          op.label = kCausesLabel;
          ops.push_back(std::move(op));
        } else {
          Properties props = g.EdgeProps(e);
          props.Set(kRefs, MakeList(std::move(refs)));
          ops.push_back(SetEdge(p.a, p.b, kCausesLabel, std::move(props)));
        }
        *kind = absl::StrCat("evaluator remove_causal_relationship ", p.a, " -> ", p.b);
        break;
      }
      if (has) return false;
      Properties props;
      std::vector<std::string> refs;
      if (e != graph::kNoSlot) {
        props = g.EdgeProps(e);
        refs = StrList(props.Find(kRefs));
      } else {
        props.Set(graph::keys::kRelationshipType, Value::String(kCausesLabel, true));
        props.Set(graph::keys::kVitrageIsDeleted, Value::Bool(false));
      }
      refs.push_back(p.token);
      props.Set(kRefs, MakeList(std::move(refs)));
      ops.push_back(SetEdge(p.a, p.b, kCausesLabel, std::move(props)));
      *kind = absl::StrCat("evaluator add_causal_relationship ", p.a, " -> ", p.b);
      break;
    }
    case Pending::kState: {
      Slot v = g.FindVertex(p.a);
      if (v == graph::kNoSlot) return false;
      const Properties& old = g.VertexProps(v);
      std::vector<std::string> entries = StrList(old.Find(kStates));
      std::string mine = p.undo ? std::string() : absl::StrCat(a->state, "@", p.token);
      bool found = false;
      std::vector<std::string> kept;
      for (auto& e : entries) {
        size_t at = e.find('@');
        if (at != std::string::npos && absl::string_view(e).substr(at + 1) == p.token) {
          found = found || e == mine;
          if (!p.undo && e == mine) kept.push_back(e);
          continue;
        }
        kept.push_back(e);
      }
      if (p.undo ? kept.size() == entries.size() : found) return false;
      if (!p.undo) kept.push_back(mine);
      Properties props = old;
      std::string state = DominantState(kept);
      if (kept.empty()) {
        props.Erase(kStates);
        props.Erase(kVitrageState);
      } else {
        props.Set(kStates, MakeList(std::move(kept)));
        props.Set(kVitrageState, Value::String(state));
      }
      ops.push_back(SetVertex(p.a, std::move(props)));
      *kind = p.undo ? absl::StrCat("evaluator unset_state on ", p.a)
                     : absl::StrCat("evaluator set_state ", a->state, " on ", p.a);
      break;
    }
    case Pending::kMarkDown: {
      Slot v = g.FindVertex(p.a);
      if (v == graph::kNoSlot) return false;
      const Properties& old = g.VertexProps(v);
      bool has = ListHas(old.Find(kMarkDown), p.token);
      if (has != p.undo) return false;
      std::vector<std::string> refs = StrList(old.Find(kMarkDown));
      if (p.undo) {
        refs.erase(std::remove(refs.begin(), refs.end(), p.token), refs.end());
      } else {
        refs.push_back(p.token);
      }
      Properties props = old;
      if (refs.empty()) {
        // Absent, not false: a vertex never marked down looks the same, so
        // the graph does not depend on its history (fresh start = restore).
        props.Erase(kMarkDown);
        props.Erase(kIsMarkedDown);
      } else {
        props.Set(kMarkDown, MakeList(refs));
        props.Set(kIsMarkedDown, Value::Bool(true));
      }
      ops.push_back(SetVertex(p.a, std::move(props)));
      *kind = absl::StrCat(p.undo ? "evaluator unmark_down " : "evaluator mark_down ", p.a);
      break;
    }
  }
  if (ops.empty()) return false;
  ev->set_source(kEvaluatorSource);
  processor::EncodePassthrough(ops, "update", kSampleDate, ev->mutable_fields());
  return true;
}

}  // namespace vitrage::evaluator
