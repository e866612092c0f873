// The engine's side of the template evaluator (graph_service/evaluator):
// the templates it loads, whether it is on, what recovery owes it (a
// recovery pass around the last replayed event, or a full pass), the
// snapshot's evaluator section, and running it after a change.
//
// Start-up order (../shared/DESIGN.md section 6): snapshot, replay (evaluator off:
// the journal already holds the effects of every action taken before),
// get_all when needed (off as well), then Enable, then intake:
//   * a full pass over the graph after get_all, without a snapshot, when
//     the templates changed, or when the log holds records journaled with
//     the evaluator off (a get_all of an earlier run that may not have
//     finished its full pass);
//   * otherwise the recovery pass. Each event is evaluated right after it
//     is journaled and before the next one is handled, its actions
//     journaled as the records right after it, and the log is a dense
//     prefix of what was journaled: so only the last record that is not
//     the evaluator's (and the evaluator's records after it) can be
//     missing action records after a crash. NoteReplayed keeps the vertex
//     ids of exactly those (Evaluator::ReplayNotes) and the recovery pass
//     evaluates around them; the evaluator's index fills lazily after it
//     (docs/evaluator.md), so the pass costs about one event's evaluation.
// A snapshot taken while the evaluator is off (a standby's, or one taken
// between replay and the recovery pass) carries what that pass would start
// from in its evaluator section (StateSection).
//
// Every action is an event with source "evaluator" that the owner's
// ApplyFn applies through the handler and journals as its own record
// right after the record of the change that caused it (event_kind
// "evaluator raise_alarm ..."), so replay reproduces it without running
// the evaluator.
//
// REQUIRES: every method but the constructor is called under the owner's
// graph lock (GraphState::mu), the graph it is given being that graph.
#ifndef VITRAGE_GRAPH_SERVICE_SERVICE_EVALUATOR_GLUE_H_
#define VITRAGE_GRAPH_SERVICE_SERVICE_EVALUATOR_GLUE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "graph_service/evaluator/evaluator.h"
#include "graph_service/graph/graph.h"
#include "vitrage/v1/graph.pb.h"
#include "vitrage/v1/journal.pb.h"

namespace vitrage::service {

class EvaluatorGlue {
 public:
  // Loads the templates of `templates_dir` (empty: none; rejected
  // templates are logged and reported by FillStatus).
  explicit EvaluatorGlue(std::string templates_dir);

  bool has_templates() const { return evaluator_ != nullptr; }
  // The templates loaded (the RPC API lists them); null without.
  const evaluator::TemplateSet* templates() const {
    return evaluator_ ? &evaluator_->templates() : nullptr;
  }
  bool on() const { return on_; }
  // Whether the loaded snapshot's evaluator section named these templates.
  bool templates_match_snapshot() const { return snapshot_templates_match_; }

  // The vertex ids `delta` (just applied to `g`) makes worth evaluating;
  // nothing while the evaluator is off.
  void CollectRelevant(const graph::Graph& g, const v1::GraphDelta& delta,
                       std::vector<std::string>* affected) const;
  // Evaluates around `affected` and has `apply` do the actions. A failure
  // (only a dying journal refuses) is logged: what was applied is journaled.
  void Evaluate(const graph::Graph& g, std::vector<std::string> affected,
                const evaluator::ApplyFn& apply);

  // Turns the evaluator on after recovery: a full pass when `full_pass_why`
  // is set (after get_all, no snapshot) or recovery owes one, else the
  // recovery pass. `phase` hears the pass's name before it runs.
  absl::Status Enable(const graph::Graph& g, const std::string& full_pass_why,
                      const evaluator::ApplyFn& apply,
                      const std::function<void(const std::string& pass)>& phase);

  // Recovery: notes a replayed record (which vertices the recovery pass
  // must look at, or that only a full pass will do).
  void NoteReplayed(const v1::JournalRecord& rec);
  // Recovery threw the loaded graph away: only a full pass will do.
  void NeedFullPass() { needs_full_pass_ = true; }

  // The snapshot's evaluator_state section for a graph at `applied_seq`,
  // and what recovery makes of the one it loads.
  std::string StateSection(uint64_t applied_seq) const;
  void NoteSnapshotState(const std::string& state);

  void FillStatus(v1::EvaluatorStatus* st) const;

 private:
  const std::string templates_dir_;
  std::unique_ptr<evaluator::Evaluator> evaluator_;
  bool on_ = false;
  std::vector<std::string> template_errors_;
  bool snapshot_templates_match_ = false;
  bool needs_full_pass_ = false;
  std::string enable_pass_;
};

}  // namespace vitrage::service

#endif  // VITRAGE_GRAPH_SERVICE_SERVICE_EVALUATOR_GLUE_H_
