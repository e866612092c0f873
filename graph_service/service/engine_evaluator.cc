// The engine's side of the template evaluator (graph_service/evaluator):
// loading the templates, enabling it after recovery, running it after each
// applied change, journaling its actions, and the alarm queries.
//
// Start-up order (DESIGN.md section 6): snapshot, replay (evaluator off:
// the journal already holds the effects of every action taken before),
// get_all when needed (off as well), then EnableEvaluator, then intake:
//   * a full pass over the graph after get_all, without a snapshot, when
//     the templates changed, or when the log holds records journaled with
//     the evaluator off (a get_all of an earlier run that may not have
//     finished its full pass);
//   * otherwise the recovery pass. Each event is evaluated right after it
//     is journaled and before the next one is handled, its actions
//     journaled as the records right after it, and the log is a dense
//     prefix of what was journaled: so only the last record that is not
//     the evaluator's (and the evaluator's records after it) can be
//     missing action records after a crash. The replay notes the vertex
//     ids of exactly those (Evaluator::ReplayNotes) and the recovery pass
//     evaluates around them; the evaluator's index fills lazily after it
//     (docs/evaluator.md), so the pass costs about one event's evaluation.
// A snapshot taken while the evaluator is off (a standby's, or one taken
// between replay and the recovery pass) carries what that pass would start
// from in its evaluator section (EvaluatorStateLocked).
//
// Every action is an event with source "evaluator", applied through the
// handler (the processor) and journaled as its own record right after the
// record of the change that caused it (event_kind "evaluator raise_alarm
// ..."), so replay reproduces it without running the evaluator.
#include <glog/logging.h>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
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
  LOG(INFO) << "evaluator: " << set->templates.size() << " templates with " << set->scenario_count()
            << " scenarios loaded from " << options_.templates_dir << " (" << set->errors.size()
            << " rejected) in " << absl::ToDoubleMilliseconds(absl::Now() - t0) << " ms";
  evaluator_ = std::make_unique<evaluator::Evaluator>(std::move(*set));
}

namespace {
// A recovery pass from more vertex ids than this (a very long cascade of
// actions after one event) is not worth it: a full pass instead.
constexpr size_t kMaxReplayedIds = 1 << 16;

// Records of these kinds are journaled with the evaluator on and evaluated
// right after they are journaled: intake (a source that is not the
// evaluator), the consistency pass, and the evaluator's own. Everything
// else (reset, get_all events without a source, "get_all reconcile",
// get_all images) is journaled while the evaluator is off; a full pass
// follows it (and may not have finished when the graph died).
bool EvaluatedWhenJournaled(const v1::JournalRecord& rec) {
  if (rec.reset() || rec.has_image_header() || rec.has_image_chunk()) return false;
  if (rec.source() == evaluator::kEvaluatorSource) return true;
  if (rec.event_kind() == "consistency") return true;
  return !rec.source().empty() && rec.event_kind() != "get_all reconcile";
}
}  // namespace

void Engine::NoteReplayedLocked(const v1::JournalRecord& rec) {
  if (!evaluator_ || evaluator_on_ || evaluator_needs_full_pass_) return;
  auto& notes = evaluator_->replay_notes();
  if (!EvaluatedWhenJournaled(rec)) {
    LOG(INFO) << "evaluator: replayed record " << rec.seq() << " (" << rec.event_kind()
              << ") was journaled with the evaluator off: a full pass after recovery";
    evaluator_needs_full_pass_ = true;
    notes.Reset({}, rec.seq());
    return;
  }
  notes.Note(rec.delta(), rec.source() == evaluator::kEvaluatorSource, rec.seq());
  if (notes.size() > kMaxReplayedIds) {
    evaluator_needs_full_pass_ = true;
    notes.Reset({}, rec.seq());
  }
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
  if (why.empty() && evaluator_needs_full_pass_) {
    why = "records journaled with the evaluator off";
  }
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
    s = evaluator_->Recover(graph_, evaluator_->replay_notes().ids(), apply);
  }
  evaluator_->replay_notes().Reset({}, 0);
  if (!s.ok()) return absl::Status(s.code(), absl::StrCat("evaluator: ", s.message()));
  return absl::OkStatus();
}

absl::Status Engine::ApplyEvaluatorEventLocked(const v1::Event& ev, const std::string& kind,
                                               v1::GraphDelta* delta) {
  // No wait for room here (mu_ is held, queries would block): the work
  // that triggered the action was admitted, and the journal takes every
  // record of it (journal_client.h).
  if (journal_) RETURN_IF_ERROR(journal_->fatal_status());
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
//   active_matches <n>                    (informational)
//   pass complete | recovery | full       (whether the actions of every
//                                          event in the snapshot are in it)
//   pending <C-escaped vertex id>         (pass recovery: one per id)
//   seq <seq>                             (the snapshot's: pending ids and
//                                          completeness hold for it)
// The action state itself is in the graph (tokens on the elements the
// actions changed), so it is snapshotted and journaled with the graph and
// cannot disagree with the log. With the evaluator on, the snapshot is
// taken between two events, each with its actions: "complete". With it
// off (a standby following the log, or the window between replay and the
// recovery pass), the last noted event may still miss its actions:
// "recovery" with the ids the recovery pass would start from, or "full"
// when a full pass is owed: after records journaled with the evaluator
// off (a get_all: then the seq is past the last noted replayed record). A
// section without the "pass" line (older snapshots) counts as complete.
std::string Engine::EvaluatorStateLocked() const {
  if (!evaluator_) return std::string();
  std::string out =
      absl::StrCat("vitrage-evaluator-state 1\ntemplates ", evaluator_->templates().Fingerprint(),
                   "\nactive_matches ", evaluator_->active_matches(), "\n");
  if (evaluator_on_) {
    absl::StrAppend(&out, "pass complete\n");
  } else if (evaluator_needs_full_pass_ || evaluator_->replay_notes().seq() != applied_seq_) {
    absl::StrAppend(&out, "pass full\n");
  } else {
    absl::StrAppend(&out, "pass recovery\n");
    for (const std::string& id : evaluator_->replay_notes().ids()) {
      absl::StrAppend(&out, "pending ", absl::CEscape(id), "\n");
    }
  }
  absl::StrAppend(&out, "seq ", applied_seq_, "\n");
  return out;
}

void Engine::NoteSnapshotEvaluatorStateLocked(const std::string& state) {
  // The graph is the snapshot's now: what replay noted before is moot.
  evaluator_needs_full_pass_ = false;
  std::string stored, pass = "complete";
  uint64_t seq = 0;
  std::vector<std::string> pending;
  for (absl::string_view line : absl::StrSplit(state, '\n')) {
    std::string id;
    if (absl::ConsumePrefix(&line, "templates ")) {
      stored = std::string(line);
    } else if (absl::ConsumePrefix(&line, "pass ")) {
      pass = std::string(line);
    } else if (absl::ConsumePrefix(&line, "pending ") && absl::CUnescape(line, &id)) {
      pending.push_back(std::move(id));
    } else if (absl::ConsumePrefix(&line, "seq ")) {
      if (!absl::SimpleAtoi(line, &seq)) seq = 0;
    }
  }
  if (pass == "full") {
    evaluator_needs_full_pass_ = true;
  } else if (pass != "complete" && pass != "recovery") {
    LOG(WARNING) << "evaluator: the snapshot's evaluator section says \"pass " << pass
                 << "\"; a full pass after recovery";
    evaluator_needs_full_pass_ = true;
  }
  if (evaluator_needs_full_pass_ || pass == "complete") pending.clear();
  if (pass != "complete") {
    LOG(INFO) << "evaluator: the snapshot was taken with the evaluator off (pass " << pass << ", "
              << pending.size() << " vertex ids pending)";
  }
  if (evaluator_) evaluator_->replay_notes().Reset(std::move(pending), seq);
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

absl::Status Engine::ReadActiveGraph(
    const std::function<void(const graph::Graph&, const evaluator::TemplateSet*)>& fn) {
  if (!active()) return absl::UnavailableError("vitrage-graph is not ACTIVE");
  absl::ReaderMutexLock l(&mu_);
  fn(graph_, evaluator_ ? &evaluator_->templates() : nullptr);
  return absl::OkStatus();
}

}  // namespace vitrage::service
