// The scenario evaluator: runs Vitrage templates (template.h) on the entity
// graph and turns their actions into events.
//
// Matching. A scenario's condition is an OR of AND-clauses; a match of a
// clause binds each of its positive entities to a distinct live vertex
// (vitrage_is_deleted not true) whose properties satisfy the entity, such
// that every positive relationship is a live edge with that label in that
// direction and no negated relationship holds. The evaluator never scans
// the graph on a change: for each changed vertex or edge it searches only
// the matches that contain a changed vertex (plus, when a template has a
// negated relationship with an unbound end, the changed vertex's
// neighbours), starting from the clause positions the vertex can take.
//
// Action state lives in the graph. Every action instance has a token,
//   "<template name>#<scenario>|<clause>|<entity>=<vertex id>|...|/<action>"
// (the scenario, the clause and the whole binding; '%', '|', '=', '/', '@'
// escaped as %XX), and the element an action changed carries the tokens
// that keep it:
//   * a deduced alarm (vitrage_category ALARM, vitrage_type "vitrage",
//     vertex id derived from the target and the alarm name, edge "on" to
//     the target) and a causal edge ("causes"): list vitrage_evaluator_refs;
//     the element goes when its last token goes (raise/clear is reference
//     counted: two scenarios raising the same alarm keep it until both
//     clear);
//   * set_state: list vitrage_evaluator_states of "STATE@token";
//     vitrage_state is the most severe of them (ERROR > CRITICAL > DOWN >
//     SUBOPTIMAL > other > AVAILABLE/OK/UP), removed with the last one;
//   * mark_down: list vitrage_evaluator_mark_down; is_marked_down is true
//     while it is non-empty, and removed with the last token (upstream
//     writes false; absent keeps the graph independent of its history).
// An action is "done" exactly when its token is on its element, so the
// graph (journaled, snapshotted and replayed like any other state) is the
// evaluator's state: after snapshot + replay nothing already done is done
// again, and a full pass (FullPass) brings the graph in line with the
// templates (doing what is missing, undoing tokens no match keeps, also
// those of removed templates).
//
// Index. Which active matches (refs) name which vertex: needed to undo a
// match that a change breaks. It is a cache of the tokens in the graph:
// FullPass builds it whole; after a recovery (Recover) it starts empty and
// is filled lazily, per vertex: the first time a change involves a vertex
// the index does not cover yet, the evaluator discovers the tokens around
// it (DiscoverRefs: the token lists of every vertex that can take a clause
// position reachable from it over the clause's relationships, ignoring
// property constraints and deletion marks, plus deduced alarms "on" them
// and "causes" edges) and from then on the index is complete for it
// (every later ref goes through Reconcile). A ref broken by the change
// itself is reachable from the changed elements: an edge removal is
// evaluated from both its ends while either is not covered, a vertex
// removal removes its edges first. So recovery costs no index build (see
// docs/evaluator.md). Assumption: a vertex never changes its vitrage_type
// (it is part of its identity in Vitrage).
//
// Events. Each action is one "vitrage.passthrough" event (set_vertex /
// set_edge / remove_* ops carrying the element's full new properties, built
// from the graph at the moment it is applied) with source "evaluator".
// The caller applies it through the processor and journals it, then the
// evaluator evaluates the change it made (a deduced alarm can satisfy
// another scenario: cascades stop after 16 rounds). No wall-clock time is
// written, so the graph is a function of the events: a fresh start and a
// restore give the same graph.
//
// Thread safety: external synchronization (the engine's graph lock).
#ifndef VITRAGE_GRAPH_SERVICE_EVALUATOR_EVALUATOR_H_
#define VITRAGE_GRAPH_SERVICE_EVALUATOR_EVALUATOR_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "graph_service/evaluator/template.h"
#include "graph_service/graph/graph.h"
#include "vitrage/v1/graph.pb.h"

namespace vitrage::evaluator {

inline constexpr char kEvaluatorSource[] = "evaluator";
inline constexpr char kRefsKey[] = "vitrage_evaluator_refs";
inline constexpr char kStatesKey[] = "vitrage_evaluator_states";
inline constexpr char kMarkDownKey[] = "vitrage_evaluator_mark_down";
inline constexpr char kDeducedAlarmType[] = "vitrage";
inline constexpr char kCausesLabel[] = "causes";

// Applies one action event (through the processor, journaled) and appends
// what it changed to `delta`. A non-OK status stops the current evaluation
// (the caller is shutting down or the event was refused).
using ApplyFn = std::function<absl::Status(const v1::Event& event, const std::string& kind,
                                           v1::GraphDelta* delta)>;

class Evaluator {
 public:
  explicit Evaluator(TemplateSet templates);
  ~Evaluator();

  const TemplateSet& templates() const { return templates_; }

  // Vertex ids a delta touched (its vertices and the ends of its edges).
  static void CollectAffected(const v1::GraphDelta& delta, std::vector<std::string>* ids);
  // The same, leaving out changes no scenario can see: a vertex update that
  // touches none of the keys the templates match on (nor vitrage_is_deleted
  // nor the evaluator's own keys), an edge whose label no template uses
  // (besides "on" and "causes", which the actions' elements use).
  // An edge change yields only its end with fewer edges (any match it can
  // make or break holds both ends) unless its label is negated somewhere.
  // Call after the change is applied to `g`.
  void CollectRelevant(const graph::Graph& g, const v1::GraphDelta& delta,
                       std::vector<std::string>* ids) const;

  // While the log is replayed (evaluator off), what Recover must start
  // from: the vertex ids of the last record that is not the evaluator's
  // and of the evaluator's records after it. Note() each replayed record
  // in order (`by_evaluator`: its source is kEvaluatorSource); it only
  // copies ids into reused buffers (no lookup, no allocation once warm):
  // replay of a 10,000-event tail notes ~60,000 records.
  class ReplayNotes {
   public:
    void Note(const v1::GraphDelta& delta, bool by_evaluator, uint64_t seq);
    std::vector<std::string> ids() const {
      return std::vector<std::string>(buf_.begin(), buf_.begin() + n_);
    }
    size_t size() const { return n_; }
    // The seq of the last noted record (or the one Reset() gave): the notes
    // hold for the graph at that seq.
    uint64_t seq() const { return seq_; }
    void Reset(std::vector<std::string> ids, uint64_t seq) {
      buf_ = std::move(ids);
      n_ = buf_.size();
      seq_ = seq;
    }

   private:
    std::vector<std::string> buf_;
    size_t n_ = 0;
    uint64_t seq_ = 0;
  };
  ReplayNotes& replay_notes() { return replay_notes_; }
  const ReplayNotes& replay_notes() const { return replay_notes_; }

  // Evaluates the scenarios around `affected` (after the change is in
  // `g`), and applies the resulting actions through `apply`, then those
  // their changes cause. `g` must be the graph `apply` changes.
  absl::Status Evaluate(const graph::Graph& g, std::vector<std::string> affected,
                        const ApplyFn& apply);

  // Every match in the graph against every token in it: does what is
  // missing, undoes what no match keeps, rebuilds the index. For a fresh
  // start (after get_all), and after a recovery whose templates changed.
  absl::Status FullPass(const graph::Graph& g, const ApplyFn& apply);

  // After snapshot + replay with the same templates: forgets the index
  // (it fills again lazily, see "Index" above) and evaluates around
  // `affected`, the vertices of the changes whose evaluation a crash can
  // have cut short: the last record that was not the evaluator's and the
  // evaluator's records after it (events are evaluated one at a time, each
  // right after it is journaled and before the next, so everything before
  // that record is complete in the log). Cost: that one evaluation.
  absl::Status Recover(const graph::Graph& g, std::vector<std::string> affected,
                       const ApplyFn& apply);

  struct Stats {
    uint64_t evaluations = 0;  // Evaluate calls
    uint64_t vertices_examined = 0;
    uint64_t matches = 0;  // matches found (with repeats)
    uint64_t actions_done = 0;
    uint64_t actions_undone = 0;
    uint64_t full_passes = 0;
    double last_full_pass_ms = 0;
    uint64_t cascade_limit_hits = 0;
    uint64_t discoveries = 0;         // DiscoverRefs calls (lazy index)
    uint64_t discovery_vertices = 0;  // vertices whose tokens they read
  };
  const Stats& stats() const { return stats_; }
  // Active matches in the index (after a recovery: those found so far).
  size_t active_matches() const { return refs_.size(); }
  // Vertices the index is complete for; -1 when it is complete for all.
  int64_t covered_vertices() const {
    return all_covered_ ? -1 : static_cast<int64_t>(covered_ids_.size());
  }

 private:
  struct Var {
    int scenario, clause, var;
  };
  struct Match;
  struct Pending;
  struct RefInfo;
  class Matcher;
  struct Plans;

  // The event that does or undoes `p` on the graph as it is now; false
  // when there is nothing to do (done already, or its vertex is gone).
  static bool BuildEvent(const graph::Graph& g, const Pending& p, v1::Event* ev, std::string* kind);

  void BuildIndexes();
  // See CollectRelevant; `own`: the delta of one of the evaluator's own
  // actions (its token-list changes need no evaluation: the action only
  // put or took its own token).
  void CollectRelevantImpl(const graph::Graph& g, const v1::GraphDelta& delta, bool own,
                           std::vector<std::string>* ids) const;
  // Lazy index (see "Index"): makes the index complete for `ids` (sorted).
  void Cover(const graph::Graph& g, const std::vector<std::string>& ids);
  void DiscoverRefs(const graph::Graph& g, const std::vector<graph::Slot>& seeds);
  void NoteToken(absl::string_view token);
  // Matches of every clause that include vertex `v` in a bound position.
  void MatchesAround(const graph::Graph& g, graph::Slot v,
                     absl::flat_hash_map<std::string, Match>* out);
  void Reconcile(const graph::Graph& g, const absl::flat_hash_map<std::string, Match>& current,
                 const absl::flat_hash_set<std::string>& recorded, std::vector<Pending>* out);
  absl::Status Run(const graph::Graph& g, std::vector<Pending> pending, const ApplyFn& apply);
  void IndexRef(const graph::Graph& g, const std::string& ref, const Match& m);
  void UnindexRef(const std::string& ref);

  TemplateSet templates_;
  std::unique_ptr<Plans> plans_;
  std::vector<const Scenario*> scenarios_;
  absl::flat_hash_map<std::string, int> scenario_by_key_;
  // Anchor positions by the vitrage_type the entity requires ("" = any).
  absl::flat_hash_map<std::string, std::vector<Var>> anchors_by_type_;
  std::vector<Var> untyped_anchors_;
  // vitrage_types of entities at the unbound end of a negated relationship
  // (a change to such a vertex re-evaluates its neighbours).
  struct NegatedEnd {
    graph::KeyId label;
    bool unbound_is_source;
    std::string bound_type;  // "" = any
  };
  absl::flat_hash_map<std::string, std::vector<NegatedEnd>> negated_types_;
  std::vector<NegatedEnd> negated_untyped_ends_;
  absl::flat_hash_set<std::string> negated_labels_;
  bool negated_untyped_ = false;
  // See CollectRelevant.
  absl::flat_hash_set<std::string> relevant_keys_;
  // Keys some entity's properties test (and vitrage_is_deleted, _type,
  // _category): an own action's change matters only through these.
  absl::flat_hash_set<std::string> match_keys_;
  absl::flat_hash_set<std::string> relevant_labels_;
  // Index: active match ref -> its binding; vertex id -> refs naming it.
  absl::flat_hash_map<std::string, std::unique_ptr<RefInfo>> refs_;
  absl::flat_hash_map<std::string, absl::flat_hash_set<std::string>> by_vertex_;
  // True when the index holds every ref in the graph (after FullPass);
  // otherwise it is complete for the vertex ids in covered_ids_.
  bool all_covered_ = false;
  absl::flat_hash_set<std::string> covered_ids_;
  Stats stats_;
  ReplayNotes replay_notes_;
};

}  // namespace vitrage::evaluator

#endif  // VITRAGE_GRAPH_SERVICE_EVALUATOR_EVALUATOR_H_
