// Hot standby: follow the persistor's log, serve read-only, take over on
// Promote (engine.h has the life cycle).
//
// Decisions:
// * The standby never calls AcquireEpoch before Promote: acquiring one
//   fences the active.
// * It follows with one ReadLog(follow=true) stream from its applied seq and
//   applies records with the same code as recovery's Replay
//   (ApplyLogRecordLocked). When the stream breaks it reconnects with
//   backoff from its applied seq. OUT_OF_RANGE (the records it needs were
//   pruned while it was away) reloads the newest snapshot; a gap or a
//   record that does not apply is logged and retried, and a promote then
//   falls back to the normal recovery path.
// * A stream that stays silent for [graph] standby_stream_timeout (default
//   5 s; the persistor heartbeats every second) is cancelled and reopened
//   by the thread that waits for Promote (checked every 250 ms), logging
//   why: a persistor that hangs (SIGSTOP, a stuck host) or a connection
//   that died without a reset would otherwise leave the standby waiting
//   forever while it looks connected.
// * "Current" (the vitrage.v1.Graph.standby health name) means: the stream
//   is open and the last message said applied seq == durable seq. The
//   persistor sends a heartbeat every second; GetStatus shows the idle time.
// * Promote: AcquireEpoch, stop following, Replay up to the durable seq the
//   epoch returned (usually nothing: the follower is there already), start
//   the journal and the snapshotter, then Start() enables the evaluator and
//   goes ACTIVE. Timings go to GetStatus's RecoveryTimings (promote_*).
// * Snapshots by the standby, so that the active never pays for them. A
//   snapshot at seq S built from durable records is valid whoever builds
//   it (durable records never change), so the standby stores one with
//   SnapshotHeader.from_standby and, as epoch, the epoch of record S (the
//   writer that wrote it); the persistor accepts it from a non-writer only
//   when that can move nothing forward or fence anyone (rules and
//   reasoning in persistor_service/server/snapshots.cc DoPut). The standby uses the
//   active's fork snapshotter (forked_encode.h) and takes one when: it is
//   current (caught up on a live stream), it applied a record since the
//   newest stored snapshot (whose epoch it knows from the stream), and the
//   newest stored snapshot is at least 3/4 of [persistency]
//   snapshot_interval old. The active, when its periodic timer fires,
//   asks the persistor (GetStatus, once per interval) and skips its own
//   when the newest snapshot is a standby's younger than the interval,
//   logging it. Because the standby goes at 3/4 of the interval, its next
//   one is normally stored before the active looks again; when the standby
//   is gone, the active takes its own at most one interval after the last
//   standby snapshot. A refusal is logged and retried at the next
//   interval; it never stops the standby (it is not fencing).
//   The snapshot's evaluator section records the standby's templates, so
//   every graph instance must run the same templates (the same
//   vitrage.conf, as a pacemaker clone does); when the snapshot the
//   standby loaded was taken with other templates, it takes none and says
//   so. A promote stops the standby snapshotter (an encode in progress is
//   killed) before it acquires the epoch.
#include <glog/logging.h>

#include <algorithm>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/grpc_util.h"
#include "common/status_macros.h"
#include "graph_service/service/engine.h"
#include "graph_service/service/forked_encode.h"

namespace vitrage::service {
namespace {

double Ms(absl::Duration d) { return absl::ToDoubleMilliseconds(d); }

}  // namespace

void Engine::SetStandbyListener(std::function<void(bool current)> listener) {
  standby_listener_ = std::move(listener);
}

void Engine::NoteStandbyCurrent(bool current) {
  {
    absl::MutexLock l(&standby_mu_);
    if (standby_current_ == current) return;
    standby_current_ = current;
  }
  LOG(INFO) << "standby: "
            << (current ? "current (caught up with the durable log)" : "not current");
  if (standby_listener_) standby_listener_(current);
}

absl::Status Engine::RunStandby() {
  SetPhase(v1::STANDBY, "loading snapshot");
  absl::Time t = absl::Now();
  uint64_t snapshot_id = 0;
  v1::SnapshotHeader header;
  absl::Status loaded = LoadSnapshot(&snapshot_id, &header);
  if (!loaded.ok() && !absl::IsNotFound(loaded)) return loaded;
  {
    absl::MutexLock l(&status_mu_);
    timings_.set_snapshot_id(snapshot_id);
    timings_.set_snapshot_seq(loaded.ok() ? header.seq() : 0);
    timings_.set_snapshot_load_ms(Ms(absl::Now() - t));
    readable_ = true;
  }
  LOG(INFO) << "standby: "
            << (loaded.ok() ? absl::StrCat("snapshot ", snapshot_id, " (seq ", header.seq(), ", ",
                                           header.vertex_count(), " vertices) loaded")
                            : std::string("no snapshot stored, starting empty"))
            << " in " << Ms(absl::Now() - t)
            << " ms; following the log (no epoch taken: the active is not fenced)";
  SetPhase(v1::STANDBY, "following the log");
  {
    absl::MutexLock l(&status_mu_);
    if (shutdown_) return absl::CancelledError("shut down in standby");
    follower_ = std::thread([this] { FollowLog(); });
    if (options_.snapshot_interval > absl::ZeroDuration()) {
      standby_snapshotter_ = std::thread([this] { RunStandbySnapshots(); });
    }
  }
  // Wait for Promote() or shutdown; meanwhile watch the stream for silence.
  while (true) {
    {
      absl::MutexLock l(&status_mu_);
      auto wake = [this] {
        status_mu_.AssertHeld();
        return shutdown_ || promote_requested_;
      };
      if (status_mu_.AwaitWithTimeout(absl::Condition(&wake), absl::Milliseconds(250))) {
        if (shutdown_) return absl::CancelledError("shut down in standby");
        LOG(INFO) << "promote: requested; acquiring epoch (this fences the old active)";
        break;
      }
    }
    CheckFollowStream();
  }
  NoteStandbyCurrent(false);
  // The promote path reads the rest itself (Replay below).
  StopFollower();

  // 1. Fence the old active.
  SetPhase(v1::RECOVERING, "promoting: acquiring epoch");
  t = absl::Now();
  v1::AcquireEpochResponse ep;
  RETURN_IF_ERROR(AcquireEpoch(&ep));
  const double epoch_ms = Ms(absl::Now() - t);
  {
    absl::MutexLock l(&status_mu_);
    epoch_ = ep.epoch();
    timings_.set_acquire_epoch_ms(epoch_ms);
    timings_.set_promote_epoch_ms(epoch_ms);
  }

  // 2. Read to the end of the durable log. Nothing new becomes durable now.
  SetPhase(v1::RECOVERING, absl::StrCat("promoting: reading the log to seq ", ep.durable_seq()));
  t = absl::Now();
  uint64_t before;
  int64_t last_time;
  {
    absl::MutexLock l(&mu_);
    before = applied_seq_;
    last_time = last_record_time_;
  }
  absl::Status caught_up =
      before > ep.durable_seq()
          ? absl::DataLossError(absl::StrCat("the standby applied seq ", before,
                                             " but the durable seq is ", ep.durable_seq()))
          : Replay(before, ep.durable_seq(), &last_time);
  if (!caught_up.ok()) {
    if (!absl::IsDataLoss(caught_up)) return caught_up;
    LOG(ERROR) << "promote: the standby cannot reach the durable log (" << caught_up.message()
               << "); falling back to the normal recovery (new epoch, snapshot, replay)";
    {
      absl::MutexLock l(&mu_);
      graph_.Clear();
      marks_.clear();
      bus_marks_.clear();
      applied_seq_ = 0;
    }
    return Recover();
  }
  uint64_t records;
  {
    absl::MutexLock l(&mu_);
    records = applied_seq_ - before;
  }
  const double catch_up_ms = Ms(absl::Now() - t);
  {
    absl::MutexLock l(&status_mu_);
    timings_.set_promote_catch_up_ms(catch_up_ms);
    timings_.set_promote_records(records);
    timings_.set_records_replayed(records);
    timings_.set_replay_ms(catch_up_ms);
  }
  LOG(INFO) << "promote: epoch " << ep.epoch() << " acquired in " << epoch_ms << " ms (previous "
            << ep.previous_epoch() << "); caught up " << records << " records to seq "
            << ep.durable_seq() << " in " << catch_up_ms << " ms";

  // 3. The journal from the new epoch, and the snapshotter.
  auto journal = std::make_unique<journal::JournalClient>(persistor_channel_, options_.journal,
                                                          ep.epoch(), ep.durable_seq());
  journal->SetOnFatal([this](const absl::Status& s) { Fatal(s); });
  {
    absl::MutexLock l(&status_mu_);
    if (shutdown_) return absl::CancelledError("shut down during promote");
    journal_ = std::move(journal);
    promoted_ = true;
    promote_caught_up_ = absl::Now();
  }
  RETURN_IF_ERROR(StartSnapshotter());
  // As Recover(): an empty store (a fresh cluster whose graphs all started
  // as standbys) or a long silence of the log is followed by get_all.
  std::string get_all_reason;
  bool partial_image;
  {
    absl::MutexLock l(&mu_);
    partial_image = DropPartialImageLocked();
  }
  if (partial_image) {
    // The old active died while journaling a get_all image (before its
    // intake opened): the durable log ends inside it (engine_get_all.cc).
    LOG(WARNING) << "promote: the log ends inside a get_all image; taking get_all again";
    get_all_reason = "the previous get_all did not finish";
  } else if (ep.durable_seq() == 0) {
    get_all_reason = "fresh start: the store is empty";
  } else if (last_time > 0) {
    absl::Duration down = absl::Now() - absl::FromUnixMicros(last_time);
    if (down > options_.get_all_after_downtime) {
      get_all_reason = absl::StrCat("no record for ", absl::FormatDuration(down), ", over ",
                                    absl::FormatDuration(options_.get_all_after_downtime));
    }
  }
  if (!get_all_reason.empty()) RETURN_IF_ERROR(RunGetAll(get_all_reason));
  return absl::OkStatus();
}

void Engine::FinishPromoteLocked() {
  const absl::Time now = absl::Now();
  timings_.set_promote_evaluator_ms(Ms(now - promote_caught_up_));
  timings_.set_promote_total_ms(Ms(now - promote_start_));
  LOG(INFO) << "promote: ACTIVE " << timings_.promote_total_ms()
            << " ms after the promote command (epoch " << epoch_ << "; acquire epoch "
            << timings_.promote_epoch_ms() << " ms, catch-up " << timings_.promote_catch_up_ms()
            << " ms of " << timings_.promote_records() << " records, journal + evaluator "
            << timings_.promote_evaluator_ms() << " ms)";
}

absl::StatusOr<v1::PromoteResponse> Engine::Promote(absl::Duration timeout) {
  v1::PromoteResponse resp;
  absl::MutexLock l(&status_mu_);
  if (role_ == v1::ACTIVE) {
    resp.set_already_active(true);
  } else {
    if (!options_.standby || !options_.persistency) {
      return absl::FailedPreconditionError(absl::StrCat(
          "Promote: this vitrage-graph was not started as a standby ([graph] standby / "
          "--standby); it is ",
          v1::GraphRole_Name(role_), ": ", phase_));
    }
    if (!fatal_.ok() || shutdown_) return NotServingLocked();
    if (!promote_requested_) {
      promote_requested_ = true;
      promote_start_ = absl::Now();
      LOG(INFO) << "promote: command received";
    }
    auto done = [this] {
      status_mu_.AssertHeld();
      return role_ == v1::ACTIVE || role_ == v1::FENCED || !fatal_.ok() || shutdown_;
    };
    if (!status_mu_.AwaitWithTimeout(absl::Condition(&done), timeout)) {
      return absl::DeadlineExceededError(absl::StrCat(
          "Promote: not ACTIVE within ", absl::FormatDuration(timeout), " (", phase_, ")"));
    }
    if (role_ != v1::ACTIVE) {
      if (!fatal_.ok()) return fatal_;
      return NotServingLocked();
    }
  }
  resp.set_epoch(epoch_);
  *resp.mutable_timings() = timings_;
  return resp;
}

void Engine::StopFollower() {
  {
    absl::MutexLock l(&standby_mu_);
    follow_stop_ = true;
    if (follow_ctx_ != nullptr) follow_ctx_->TryCancel();
    if (standby_snap_ctx_ != nullptr) standby_snap_ctx_->TryCancel();
  }
  // RunStandby (start-up thread) and Shutdown (signal thread) may both
  // call this: the threads are started under status_mu_ only before
  // shutdown_, and whichever caller takes them joins them.
  std::thread t, snap;
  {
    absl::MutexLock l(&status_mu_);
    t = std::move(follower_);
    snap = std::move(standby_snapshotter_);
  }
  if (t.joinable()) t.join();
  if (snap.joinable()) snap.join();
}

void Engine::CheckFollowStream() {
  absl::MutexLock l(&standby_mu_);
  if (follow_ctx_ == nullptr || follow_stop_) return;
  const absl::Time last = std::max(standby_last_msg_, follow_stream_start_);
  const absl::Duration silent = absl::Now() - last;
  if (silent < options_.standby_stream_timeout) return;
  LOG(WARNING) << "standby: nothing from the persistor at " << options_.persistor_address << " for "
               << absl::FormatDuration(absl::Trunc(silent, absl::Milliseconds(1)))
               << " (it sends a heartbeat every second; [graph] standby_stream_timeout "
               << absl::FormatDuration(options_.standby_stream_timeout)
               << "): the stream is dead or the persistor hangs; cancelling it and reconnecting";
  follow_ctx_->TryCancel();
  // Counted again from now: the reconnect gets a full timeout.
  follow_stream_start_ = absl::Now();
}

void Engine::FollowLog() {
  absl::Duration backoff = absl::Milliseconds(50);
  int failures = 0;
  while (true) {
    grpc::ClientContext ctx;
    uint64_t from;
    {
      absl::MutexLock l(&mu_);
      from = applied_seq_;
    }
    {
      absl::MutexLock l(&standby_mu_);
      if (follow_stop_) return;
      follow_ctx_ = &ctx;
      follow_stream_start_ = absl::Now();
    }
    v1::ReadLogRequest req;
    req.set_after_seq(from);
    req.set_follow(true);
    req.set_max_batch_bytes(kReadLogBatchBytes);
    auto reader = persistor_->ReadLog(&ctx, req);
    v1::ReadLogResponse resp;
    absl::Status error;
    while (error.ok() && reader->Read(&resp)) {
      uint64_t applied;
      {
        absl::MutexLock l(&mu_);
        for (const v1::JournalRecord& rec : resp.records()) {
          if (rec.seq() <= applied_seq_) continue;
          if (rec.seq() != applied_seq_ + 1) {
            error = absl::DataLossError(absl::StrCat("gap in the log: expected seq ",
                                                     applied_seq_ + 1, ", got ", rec.seq()));
            break;
          }
          error = ApplyLogRecordLocked(rec);
          if (!error.ok()) break;
          standby_record_seq_ = rec.seq();
          standby_record_epoch_ = rec.epoch();
        }
        applied = applied_seq_;
      }
      {
        absl::MutexLock l(&standby_mu_);
        standby_durable_ = std::max(standby_durable_, resp.durable_seq());
        standby_last_msg_ = absl::Now();
      }
      backoff = absl::Milliseconds(50);
      failures = 0;
      if (error.ok()) NoteStandbyCurrent(applied >= resp.durable_seq());
    }
    if (!error.ok()) ctx.TryCancel();
    grpc::Status st = reader->Finish();
    bool stop;
    {
      absl::MutexLock l(&standby_mu_);
      follow_ctx_ = nullptr;
      stop = follow_stop_;
    }
    if (stop) return;
    NoteStandbyCurrent(false);
    if (!error.ok()) {
      LOG(ERROR) << "standby: cannot follow the log (" << error.message()
                 << "); retrying; a promote now falls back to the normal recovery";
      SetPhase(v1::STANDBY, absl::StrCat("following the log: ", error.message()));
    } else if (st.error_code() == grpc::StatusCode::OUT_OF_RANGE) {
      LOG(WARNING) << "standby: the records after seq " << from << " were pruned ("
                   << st.error_message() << "); reloading the newest snapshot";
      uint64_t id = 0;
      v1::SnapshotHeader header;
      absl::Status s = LoadSnapshot(&id, &header);
      if (!s.ok()) LOG(ERROR) << "standby: snapshot reload failed: " << s;
    } else if (failures++ % 20 == 0) {
      LOG(WARNING) << "standby: log stream from " << options_.persistor_address << " ended ("
                   << st.error_message() << "); reconnecting from seq " << from;
    }
    absl::MutexLock l(&standby_mu_);
    auto stop_cond = [this] {
      standby_mu_.AssertHeld();
      return follow_stop_;
    };
    standby_mu_.AwaitWithTimeout(absl::Condition(&stop_cond), backoff);
    backoff = std::min(backoff * 2, absl::Seconds(1));
  }
}

namespace {

// The newest complete snapshot the persistor lists (by id), if any.
const v1::SnapshotSummary* Newest(const v1::PersistorStatus& st) {
  return st.snapshots_size() > 0 ? &st.snapshots(0) : nullptr;
}

uint64_t HighestSeq(const v1::PersistorStatus& st) {
  uint64_t seq = 0;
  for (const auto& s : st.snapshots()) seq = std::max(seq, s.seq());
  return seq;
}

}  // namespace

void Engine::RunStandbySnapshots() {
  const absl::Duration interval = options_.snapshot_interval;
  const absl::Duration due = interval * 3 / 4;
  absl::Duration wait = std::min(due, absl::Seconds(1));
  std::string last_skip;  // logged once per reason
  auto skip = [&](const std::string& why, absl::Duration next) {
    if (why != last_skip) LOG(INFO) << "standby snapshot: not now: " << why;
    last_skip = why;
    wait = next;
  };
  while (true) {
    {
      absl::MutexLock l(&standby_mu_);
      auto stop = [this] {
        standby_mu_.AssertHeld();
        return follow_stop_;
      };
      if (standby_mu_.AwaitWithTimeout(absl::Condition(&stop),
                                       std::max(wait, absl::Milliseconds(100)))) {
        return;
      }
      if (!standby_current_) {
        skip("the standby is not current (it follows the log first)", absl::Seconds(1));
        continue;
      }
    }
    bool templates_differ, in_image;
    uint64_t applied, known;
    {
      absl::MutexLock l(&mu_);
      applied = applied_seq_;
      known = standby_record_seq_;
      templates_differ = evaluator_ != nullptr && !snapshot_templates_match_;
      in_image = replay_image_ != nullptr;
    }
    if (in_image) {
      skip("the log is inside a get_all image (its records are applied at its last chunk)",
           absl::Seconds(1));
      continue;
    }
    bool loaded_one;
    {
      absl::MutexLock l(&status_mu_);
      loaded_one = timings_.snapshot_id() != 0;
    }
    if (templates_differ && loaded_one) {
      skip(
          "the snapshot this standby loaded was taken with other evaluator templates "
          "(a standby snapshot would claim its own); every graph instance must run "
          "the same templates",
          interval);
      continue;
    }
    if (applied == 0 || known != applied) {
      skip("no log record applied since the snapshot it loaded", interval / 4);
      continue;
    }
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    {
      // A promote must not wait for this call (StopFollower cancels it).
      absl::MutexLock l(&standby_mu_);
      if (follow_stop_) return;
      standby_snap_ctx_ = &ctx;
    }
    v1::PersistorStatus st;
    grpc::Status gs = persistor_->GetStatus(&ctx, v1::PersistorStatusRequest(), &st);
    {
      absl::MutexLock l(&standby_mu_);
      standby_snap_ctx_ = nullptr;
      if (follow_stop_) return;
    }
    if (!gs.ok()) {
      skip(absl::StrCat("persistor status: ", gs.error_message()), interval / 4);
      continue;
    }
    if (const v1::SnapshotSummary* newest = Newest(st);
        newest != nullptr && absl::Seconds(newest->age_seconds()) < due) {
      // Not due yet: look again when it is.
      wait = due - absl::Seconds(newest->age_seconds());
      continue;
    }
    if (HighestSeq(st) >= applied) {
      skip(absl::StrCat("nothing new since the stored snapshot at seq ", HighestSeq(st)),
           interval / 4);
      continue;
    }
    last_skip.clear();
    auto result = snapshotter_->TakeStandbySnapshot(
        [this] {
          absl::MutexLock l(&standby_mu_);
          return follow_stop_;
        },
        [this](grpc::ClientContext* ctx) {
          absl::MutexLock l(&standby_mu_);
          if (ctx != nullptr && follow_stop_) return false;
          standby_snap_ctx_ = ctx;
          return !follow_stop_;
        });
    wait = due;
    if (!result.ok()) {
      if (absl::IsCancelled(result.status())) return;  // promote or shutdown
      LOG(WARNING) << "standby snapshot at seq " << applied << " not stored ("
                   << result.status().message()
                   << "); the active takes its own if none is stored within the interval";
      continue;
    }
    snapshotter_->NoteStored(result->seq(), absl::Now());
  }
}

bool Engine::SkipPeriodicSnapshot() {
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  v1::PersistorStatus st;
  if (!persistor_->GetStatus(&ctx, v1::PersistorStatusRequest(), &st).ok()) return false;
  const v1::SnapshotSummary* newest = Newest(st);
  if (newest == nullptr || !newest->from_standby() ||
      absl::Seconds(newest->age_seconds()) >= options_.snapshot_interval) {
    return false;
  }
  const absl::Duration age = absl::Seconds(newest->age_seconds());
  LOG(INFO) << "snapshot: periodic snapshot skipped: the hot standby stored snapshot "
            << newest->snapshot_id() << " (seq " << newest->seq() << ") "
            << absl::FormatDuration(absl::Trunc(age, absl::Milliseconds(1)))
            << " ago; next look in "
            << absl::FormatDuration(
                   absl::Trunc(options_.snapshot_interval - age, absl::Milliseconds(1)));
  snapshotter_->NoteStored(newest->seq(), absl::Now() - age);
  return true;
}

void Engine::FillStandbyStatus(v1::GraphStatus* st) {
  if (!options_.standby || st->role() != v1::STANDBY) return;
  absl::MutexLock l(&standby_mu_);
  st->set_standby_durable_seq(standby_durable_);
  st->set_standby_lag_records(
      standby_durable_ > st->applied_seq() ? standby_durable_ - st->applied_seq() : 0);
  st->set_standby_stream_idle_seconds(standby_last_msg_ == absl::InfinitePast()
                                          ? -1
                                          : absl::ToDoubleSeconds(absl::Now() - standby_last_msg_));
}

}  // namespace vitrage::service
