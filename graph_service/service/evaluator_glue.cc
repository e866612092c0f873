#include "graph_service/service/evaluator_glue.h"

#include <glog/logging.h>

#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace vitrage::service {

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

EvaluatorGlue::EvaluatorGlue(std::string templates_dir) : templates_dir_(std::move(templates_dir)) {
  if (templates_dir_.empty()) {
    LOG(INFO) << "evaluator: [graph] templates_dir is not set; no templates";
    return;
  }
  absl::Time t0 = absl::Now();
  auto set = evaluator::LoadTemplateDir(templates_dir_);
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
            << " scenarios loaded from " << templates_dir_ << " (" << set->errors.size()
            << " rejected) in " << absl::ToDoubleMilliseconds(absl::Now() - t0) << " ms";
  evaluator_ = std::make_unique<evaluator::Evaluator>(std::move(*set));
}

void EvaluatorGlue::CollectRelevant(const graph::Graph& g, const v1::GraphDelta& delta,
                                    std::vector<std::string>* affected) const {
  if (on_) evaluator_->CollectRelevant(g, delta, affected);
}

void EvaluatorGlue::Evaluate(const graph::Graph& g, std::vector<std::string> affected,
                             const evaluator::ApplyFn& apply) {
  if (affected.empty()) return;
  absl::Status s = evaluator_->Evaluate(g, std::move(affected), apply);
  if (!s.ok()) {
    // Only a dying journal refuses; what was applied is journaled.
    LOG(WARNING) << "evaluator: actions stopped: " << s;
  }
}

void EvaluatorGlue::NoteReplayed(const v1::JournalRecord& rec) {
  if (!evaluator_ || on_ || needs_full_pass_) return;
  auto& notes = evaluator_->replay_notes();
  if (!EvaluatedWhenJournaled(rec)) {
    LOG(INFO) << "evaluator: replayed record " << rec.seq() << " (" << rec.event_kind()
              << ") was journaled with the evaluator off: a full pass after recovery";
    needs_full_pass_ = true;
    notes.Reset({}, rec.seq());
    return;
  }
  notes.Note(rec.delta(), rec.source() == evaluator::kEvaluatorSource, rec.seq());
  if (notes.size() > kMaxReplayedIds) {
    needs_full_pass_ = true;
    notes.Reset({}, rec.seq());
  }
}

absl::Status EvaluatorGlue::Enable(const graph::Graph& g, const std::string& full_pass_why,
                                   const evaluator::ApplyFn& apply,
                                   const std::function<void(const std::string& pass)>& phase) {
  if (!evaluator_) return absl::OkStatus();
  // A full pass after get_all (fresh start, long downtime, unusable store)
  // and when the templates are not those of the snapshot; otherwise the
  // recovery pass: the snapshot holds every action of the events in it.
  std::string why = full_pass_why;
  if (why.empty() && needs_full_pass_) why = "records journaled with the evaluator off";
  if (why.empty() && !snapshot_templates_match_) why = "templates changed";
  on_ = true;
  absl::Status s;
  enable_pass_ = why.empty() ? "recovery pass" : absl::StrCat("full pass (", why, ")");
  phase(enable_pass_);
  if (!why.empty()) {
    s = evaluator_->FullPass(g, apply);
  } else {
    s = evaluator_->Recover(g, evaluator_->replay_notes().ids(), apply);
  }
  evaluator_->replay_notes().Reset({}, 0);
  if (!s.ok()) return absl::Status(s.code(), absl::StrCat("evaluator: ", s.message()));
  return absl::OkStatus();
}

void EvaluatorGlue::FillStatus(v1::EvaluatorStatus* st) const {
  st->set_enabled(on_);
  st->set_templates_dir(templates_dir_);
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
std::string EvaluatorGlue::StateSection(uint64_t applied_seq) const {
  if (!evaluator_) return std::string();
  std::string out =
      absl::StrCat("vitrage-evaluator-state 1\ntemplates ", evaluator_->templates().Fingerprint(),
                   "\nactive_matches ", evaluator_->active_matches(), "\n");
  if (on_) {
    absl::StrAppend(&out, "pass complete\n");
  } else if (needs_full_pass_ || evaluator_->replay_notes().seq() != applied_seq) {
    absl::StrAppend(&out, "pass full\n");
  } else {
    absl::StrAppend(&out, "pass recovery\n");
    for (const std::string& id : evaluator_->replay_notes().ids()) {
      absl::StrAppend(&out, "pending ", absl::CEscape(id), "\n");
    }
  }
  absl::StrAppend(&out, "seq ", applied_seq, "\n");
  return out;
}

void EvaluatorGlue::NoteSnapshotState(const std::string& state) {
  // The graph is the snapshot's now: what replay noted before is moot.
  needs_full_pass_ = false;
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
    needs_full_pass_ = true;
  } else if (pass != "complete" && pass != "recovery") {
    LOG(WARNING) << "evaluator: the snapshot's evaluator section says \"pass " << pass
                 << "\"; a full pass after recovery";
    needs_full_pass_ = true;
  }
  if (needs_full_pass_ || pass == "complete") pending.clear();
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

}  // namespace vitrage::service
