// The engine's side of the template evaluator (graph_service/evaluator):
// loading the templates, enabling it after recovery, running it after each
// applied change, journaling its actions, and the alarm queries.
//
// Start-up order (DESIGN.md section 6): snapshot, replay (evaluator off:
// the journal already holds the effects of every action taken before),
// get_all when needed (off as well), then EnableEvaluator: one full pass
// over the graph, which on a restored graph finds every action's token in
// place and does nothing (the action state is part of the graph, so of the
// snapshot and the journal), and on a fresh start does what the templates
// say; then intake opens.
//
// Every action is an event with source "evaluator", applied through the
// handler (the processor) and journaled as its own record right after the
// record of the change that caused it (event_kind "evaluator raise_alarm
// ..."), so replay reproduces it without running the evaluator.
#include <glog/logging.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "graph_service/evaluator/queries.h"
#include "graph_service/graph/proto_convert.h"
#include "graph_service/service/engine.h"

namespace vitrage::service {

void Engine::LoadTemplates() {
  if (options_.templates_dir.empty()) {
    LOG(INFO) << "evaluator: [graph] templates_dir is not set; no templates";
    return;
  }
  absl::Time t0 = absl::Now();
  auto set = evaluator::LoadTemplateDir(options_.templates_dir);
  absl::MutexLock l(&mu_);
  if (!set.ok()) {
    LOG(ERROR) << "evaluator: " << set.status().message() << "; running without templates";
    template_errors_.push_back(std::string(set.status().message()));
    return;
  }
  for (const std::string& e : set->errors) {
    LOG(ERROR) << "evaluator: template rejected: " << e;
  }
  template_errors_ = set->errors;
  LOG(INFO) << "evaluator: " << set->templates.size() << " templates with "
            << set->scenario_count() << " scenarios loaded from " << options_.templates_dir
            << " (" << set->errors.size() << " rejected) in "
            << absl::ToDoubleMilliseconds(absl::Now() - t0) << " ms";
  evaluator_ = std::make_unique<evaluator::Evaluator>(std::move(*set));
}

namespace {
// Past this many replayed vertex ids a full pass is cheaper than the
// recovery pass (and the list stops growing: a standby follows for long).
constexpr size_t kMaxReplayedIds = 1 << 20;
}  // namespace

void Engine::NoteReplayedLocked(const v1::JournalRecord& rec) {
  if (!evaluator_ || evaluator_on_ || evaluator_needs_full_pass_) return;
  if (rec.reset() || replayed_affected_.size() > kMaxReplayedIds) {
    evaluator_needs_full_pass_ = true;
    std::vector<std::string>().swap(replayed_affected_);
    return;
  }
  evaluator_->CollectRelevant(graph_, rec.delta(), &replayed_affected_);
}

absl::Status Engine::EnableEvaluator() {
  absl::MutexLock intake(&intake_mu_);
  absl::MutexLock l(&mu_);
  if (!evaluator_) return absl::OkStatus();
  // A full pass after get_all (fresh start, long downtime, unusable store)
  // and when the templates are not those of the snapshot; otherwise the
  // recovery pass: the snapshot holds every action of the events in it.
  std::string why;
  {
    absl::MutexLock sl(&status_mu_);
    if (!timings_.get_all_reason().empty()) {
      why = "after get_all";
    } else if (timings_.snapshot_id() == 0) {
      why = "no snapshot";
    }
  }
  if (why.empty() && evaluator_needs_full_pass_) why = "long or reset log";
  if (why.empty() && !snapshot_templates_match_) why = "templates changed";
  auto apply = [this](const v1::Event& ev, const std::string& kind, v1::GraphDelta* delta) {
    mu_.AssertHeld();
    return ApplyEvaluatorEventLocked(ev, kind, delta);
  };
  evaluator_on_ = true;
  absl::Status s;
  enable_pass_ = why.empty() ? "recovery pass" : absl::StrCat("full pass (", why, ")");
  SetPhase(v1::RECOVERING, absl::StrCat("evaluator ", enable_pass_));
  if (!why.empty()) {
    s = evaluator_->FullPass(graph_, apply);
  } else {
    s = evaluator_->Recover(graph_, std::move(replayed_affected_), apply);
  }
  std::vector<std::string>().swap(replayed_affected_);
  if (!s.ok()) return absl::Status(s.code(), absl::StrCat("evaluator: ", s.message()));
  return absl::OkStatus();
}

absl::Status Engine::ApplyEvaluatorEventLocked(const v1::Event& ev, const std::string& kind,
                                               v1::GraphDelta* delta) {
  // The change is applied before it is journaled: wait for room first (as
  // the consistency pass does); only shutdown or fencing give up.
  if (journal_) RETURN_IF_ERROR(journal_->WaitForRoom(1, absl::InfiniteFuture()));
  v1::JournalRecord rec;
  std::string handler_kind;
  handler_->Handle(ev, &graph_, rec.mutable_delta(), &handler_kind);
  *delta = rec.delta();
  rec.set_event_kind(kind);
  rec.set_source(ev.source());
  CommitRecordLocked(std::move(rec));
  return absl::OkStatus();
}

void Engine::EvaluateLocked(std::vector<std::string> affected) {
  absl::Status s = evaluator_->Evaluate(
      graph_, std::move(affected),
      [this](const v1::Event& ev, const std::string& kind, v1::GraphDelta* delta) {
        mu_.AssertHeld();
        return ApplyEvaluatorEventLocked(ev, kind, delta);
      });
  if (!s.ok()) {
    // Only a dying journal refuses; what was applied is journaled.
    LOG(WARNING) << "evaluator: actions stopped: " << s;
  }
}

void Engine::FillEvaluatorStatusLocked(v1::EvaluatorStatus* st) const {
  st->set_enabled(evaluator_on_);
  st->set_templates_dir(options_.templates_dir);
  for (const std::string& e : template_errors_) st->add_template_errors(e);
  if (!evaluator_) return;
  st->set_templates(evaluator_->templates().templates.size());
  st->set_scenarios(evaluator_->templates().scenario_count());
  const auto& stats = evaluator_->stats();
  st->set_changes_evaluated(stats.evaluations);
  st->set_actions_done(stats.actions_done);
  st->set_actions_undone(stats.actions_undone);
  st->set_active_matches(evaluator_->active_matches());
  st->set_full_pass_ms(stats.last_full_pass_ms);
  st->set_enable_pass(enable_pass_);
}

// The snapshot's evaluator_state section, a few text lines:
//   vitrage-evaluator-state 1
//   templates <name>=<content hash>,...   (TemplateSet::Fingerprint)
//   active_matches <n>
// The action state itself is in the graph (tokens on the elements the
// actions changed), so it is snapshotted and journaled with the graph and
// cannot disagree with the log; this section only tells recovery whether
// the templates changed since the snapshot.
std::string Engine::EvaluatorStateLocked() const {
  if (!evaluator_) return std::string();
  return absl::StrCat("vitrage-evaluator-state 1\ntemplates ",
                      evaluator_->templates().Fingerprint(), "\nactive_matches ",
                      evaluator_->active_matches(), "\n");
}

void Engine::NoteSnapshotEvaluatorStateLocked(const std::string& state) {
  std::string stored;
  for (absl::string_view line : absl::StrSplit(state, '\n')) {
    if (absl::ConsumePrefix(&line, "templates ")) stored = std::string(line);
  }
  std::string now = evaluator_ ? evaluator_->templates().Fingerprint() : std::string();
  snapshot_templates_match_ = stored == now;
  if (stored == now) {
    if (!now.empty()) LOG(INFO) << "evaluator: the snapshot was taken with the same templates";
    return;
  }
  LOG(INFO) << "evaluator: templates changed since the snapshot (then: \"" << stored
            << "\", now: \"" << now
            << "\"); the full pass after recovery undoes what no scenario keeps and does "
               "what the new ones say";
}

absl::StatusOr<v1::ListAlarmsResponse> Engine::ListAlarms(const v1::ListAlarmsRequest& req) {
  if (!readable()) {
    absl::MutexLock l(&status_mu_);
    return NotServingLocked();
  }
  absl::ReaderMutexLock l(&mu_);
  v1::ListAlarmsResponse resp;
  for (graph::Slot v : evaluator::ListAlarms(graph_, req.vitrage_type(), req.include_deleted())) {
    graph::VertexToProto(graph_, v, resp.add_alarms());
  }
  return resp;
}

absl::StatusOr<v1::GetRcaResponse> Engine::GetRca(const v1::GetRcaRequest& req) {
  if (!readable()) {
    absl::MutexLock l(&status_mu_);
    return NotServingLocked();
  }
  if (req.alarm_id().empty()) return absl::InvalidArgumentError("GetRca: alarm_id is empty");
  absl::ReaderMutexLock l(&mu_);
  graph::Subgraph sub;
  absl::Status s = evaluator::Rca(graph_, req.alarm_id(), &sub);
  if (!s.ok()) return absl::Status(s.code(), absl::StrCat("GetRca: ", s.message()));
  v1::GetRcaResponse resp;
  for (graph::Slot v : sub.vertices) graph::VertexToProto(graph_, v, resp.add_alarms());
  for (graph::Slot e : sub.edges) graph::EdgeToProto(graph_, e, resp.add_edges());
  return resp;
}

}  // namespace vitrage::service
