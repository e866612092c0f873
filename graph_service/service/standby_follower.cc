#include "graph_service/service/standby_follower.h"

#include <glog/logging.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/grpc_util.h"

namespace vitrage::service {
namespace {

double Ms(absl::Duration d) { return absl::ToDoubleMilliseconds(d); }

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

StandbyFollower::StandbyFollower(StandbyOptions options, v1::Persistor::Stub* persistor,
                                 GraphState* state, Recovery* recovery, GetAll* images,
                                 EvaluatorGlue* evaluator, Snapshotter* snapshotter, Hooks hooks)
    : options_(std::move(options)),
      persistor_(persistor),
      state_(state),
      recovery_(recovery),
      images_(images),
      evaluator_(evaluator),
      snapshotter_(snapshotter),
      hooks_(std::move(hooks)) {}

StandbyFollower::~StandbyFollower() { Stop(); }

void StandbyFollower::SetListener(std::function<void(bool current)> listener) {
  listener_ = std::move(listener);
}

void StandbyFollower::NoteCurrent(bool current) {
  {
    absl::MutexLock l(&mu_);
    if (current_ == current) return;
    current_ = current;
  }
  LOG(INFO) << "standby: "
            << (current ? "current (caught up with the durable log)" : "not current");
  if (listener_) listener_(current);
}

absl::Status StandbyFollower::Start() {
  hooks_.phase("loading snapshot");
  const absl::Time t = absl::Now();
  uint64_t snapshot_id = 0;
  v1::SnapshotHeader header;
  uint32_t skipped = 0;
  absl::Status loaded = recovery_->LoadSnapshot(&snapshot_id, &header, nullptr, &skipped);
  if (!loaded.ok() && !absl::IsNotFound(loaded)) return loaded;
  loaded_snapshot_id_ = snapshot_id;
  if (loaded.ok()) {
    snapshotter_->NoteRecovered(snapshot_id, header.seq(),
                                absl::FromUnixMicros(header.created_unix_micros()),
                                header.compressed_bytes());
  }
  hooks_.timings([&](v1::RecoveryTimings* timings) {
    timings->set_snapshots_skipped(skipped);
    timings->set_snapshot_id(snapshot_id);
    timings->set_snapshot_seq(loaded.ok() ? header.seq() : 0);
    timings->set_snapshot_load_ms(Ms(absl::Now() - t));
  });
  hooks_.readable();
  LOG(INFO) << "standby: "
            << (loaded.ok() ? absl::StrCat("snapshot ", snapshot_id, " (seq ", header.seq(), ", ",
                                           header.vertex_count(), " vertices) loaded")
                            : std::string("no snapshot stored, starting empty"))
            << " in " << Ms(absl::Now() - t)
            << " ms; following the log (no epoch taken: the active is not fenced)";
  hooks_.phase("following the log");
  // Stop() takes the threads under mu_: start them only before it.
  absl::MutexLock l(&mu_);
  if (stop_) return absl::CancelledError("shut down in standby");
  follower_ = std::thread([this] { FollowLog(); });
  if (options_.snapshot_interval > absl::ZeroDuration()) {
    snapshots_ = std::thread([this] { RunSnapshots(); });
  }
  return absl::OkStatus();
}

void StandbyFollower::Stop() {
  std::thread follower, snapshots;
  {
    absl::MutexLock l(&mu_);
    stop_ = true;
    if (follow_ctx_ != nullptr) follow_ctx_->TryCancel();
    if (snap_ctx_ != nullptr) snap_ctx_->TryCancel();
    // The start-up thread (promote) and the signal thread (shutdown) may
    // both get here: whichever takes the threads joins them.
    follower = std::move(follower_);
    snapshots = std::move(snapshots_);
  }
  if (follower.joinable()) follower.join();
  if (snapshots.joinable()) snapshots.join();
}

void StandbyFollower::StopForPromote() {
  NoteCurrent(false);
  // The promote reads the rest itself (Recovery::CatchUp).
  Stop();
}

absl::StatusOr<uint64_t> StandbyFollower::FollowedEpochLocked() const {
  if (record_seq_ != state_->applied_seq || images_->InImageLocked()) {
    // Between the records of a get_all image the graph is not yet at
    // applied_seq (get_all.h: the image is applied at its last one).
    return absl::FailedPreconditionError(
        "the standby's graph is not at a record it followed (or inside a get_all image)");
  }
  return record_epoch_;
}

void StandbyFollower::CheckStream() {
  absl::MutexLock l(&mu_);
  if (follow_ctx_ == nullptr || stop_) return;
  const absl::Time last = std::max(last_msg_, stream_start_);
  const absl::Duration silent = absl::Now() - last;
  if (silent < options_.stream_timeout) return;
  LOG(WARNING) << "standby: nothing from the persistor at " << options_.persistor_address << " for "
               << absl::FormatDuration(absl::Trunc(silent, absl::Milliseconds(1)))
               << " (it sends a heartbeat every second; [graph] standby_stream_timeout "
               << absl::FormatDuration(options_.stream_timeout)
               << "): the stream is dead or the persistor hangs; cancelling it and reconnecting";
  follow_ctx_->TryCancel();
  // Counted again from now: the reconnect gets a full timeout.
  stream_start_ = absl::Now();
}

void StandbyFollower::FollowLog() {
  absl::Duration backoff = absl::Milliseconds(50);
  int failures = 0;
  while (true) {
    grpc::ClientContext ctx;
    uint64_t from;
    {
      absl::MutexLock l(&state_->mu);
      from = state_->applied_seq;
    }
    {
      absl::MutexLock l(&mu_);
      if (stop_) return;
      follow_ctx_ = &ctx;
      stream_start_ = absl::Now();
    }
    v1::ReadLogRequest req;
    req.set_after_seq(from);
    req.set_follow(true);
    req.set_max_batch_bytes(Recovery::kReadLogBatchBytes);
    auto reader = persistor_->ReadLog(&ctx, req);
    v1::ReadLogResponse resp;
    absl::Status error;
    while (error.ok() && reader->Read(&resp)) {
      uint64_t applied;
      // The persistor's durable seq first: a status read while the records
      // apply then sees them as lag, never an applied seq past the
      // durable one.
      {
        absl::MutexLock l(&mu_);
        durable_ = std::max(durable_, resp.durable_seq());
        last_msg_ = absl::Now();
      }
      {
        absl::MutexLock l(&state_->mu);
        for (const v1::JournalRecord& rec : resp.records()) {
          if (rec.seq() <= state_->applied_seq) continue;
          if (rec.seq() != state_->applied_seq + 1) {
            error = absl::DataLossError(absl::StrCat("gap in the log: expected seq ",
                                                     state_->applied_seq + 1, ", got ", rec.seq()));
            break;
          }
          error = recovery_->ApplyRecordLocked(rec);
          if (!error.ok()) break;
          record_seq_ = rec.seq();
          record_epoch_ = rec.epoch();
        }
        applied = state_->applied_seq;
      }
      backoff = absl::Milliseconds(50);
      failures = 0;
      if (error.ok()) NoteCurrent(applied >= resp.durable_seq());
    }
    if (!error.ok()) ctx.TryCancel();
    grpc::Status st = reader->Finish();
    bool stop;
    {
      absl::MutexLock l(&mu_);
      follow_ctx_ = nullptr;
      stop = stop_;
    }
    if (stop) return;
    NoteCurrent(false);
    if (!error.ok()) {
      LOG(ERROR) << "standby: cannot follow the log (" << error.message()
                 << "); retrying; a promote now falls back to the normal recovery";
      hooks_.phase(absl::StrCat("following the log: ", error.message()));
    } else if (st.error_code() == grpc::StatusCode::OUT_OF_RANGE) {
      LOG(WARNING) << "standby: the records after seq " << from << " were pruned ("
                   << st.error_message() << "); reloading the newest snapshot";
      uint64_t id = 0;
      v1::SnapshotHeader header;
      absl::Status s = recovery_->LoadSnapshot(&id, &header);
      if (!s.ok()) LOG(ERROR) << "standby: snapshot reload failed: " << s;
    } else if (failures++ % 20 == 0) {
      LOG(WARNING) << "standby: log stream from " << options_.persistor_address << " ended ("
                   << st.error_message() << "); reconnecting from seq " << from;
    }
    absl::MutexLock l(&mu_);
    auto stop_cond = [this] {
      mu_.AssertHeld();
      return stop_;
    };
    mu_.AwaitWithTimeout(absl::Condition(&stop_cond), backoff);
    backoff = std::min(backoff * 2, absl::Seconds(1));
  }
}

void StandbyFollower::RunSnapshots() {
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
      absl::MutexLock l(&mu_);
      auto stop = [this] {
        mu_.AssertHeld();
        return stop_;
      };
      if (mu_.AwaitWithTimeout(absl::Condition(&stop), std::max(wait, absl::Milliseconds(100)))) {
        return;
      }
      if (!current_) {
        skip("the standby is not current (it follows the log first)", absl::Seconds(1));
        continue;
      }
    }
    bool templates_differ, in_image;
    uint64_t applied, known;
    {
      absl::MutexLock l(&state_->mu);
      applied = state_->applied_seq;
      known = record_seq_;
      templates_differ = evaluator_->has_templates() && !evaluator_->templates_match_snapshot();
      in_image = images_->InImageLocked();
    }
    if (in_image) {
      skip("the log is inside a get_all image (its records are applied at its last chunk)",
           absl::Seconds(1));
      continue;
    }
    if (templates_differ && loaded_snapshot_id_ != 0) {
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
      absl::MutexLock l(&mu_);
      if (stop_) return;
      snap_ctx_ = &ctx;
    }
    v1::PersistorStatus st;
    grpc::Status gs = persistor_->GetStatus(&ctx, v1::PersistorStatusRequest(), &st);
    {
      absl::MutexLock l(&mu_);
      snap_ctx_ = nullptr;
      if (stop_) return;
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
          absl::MutexLock l(&mu_);
          return stop_;
        },
        [this](grpc::ClientContext* ctx) {
          absl::MutexLock l(&mu_);
          if (ctx != nullptr && stop_) return false;
          snap_ctx_ = ctx;
          return !stop_;
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

bool StandbyStoredRecently(v1::Persistor::Stub* persistor, absl::Duration interval,
                           Snapshotter* snapshotter) {
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  v1::PersistorStatus st;
  if (!persistor->GetStatus(&ctx, v1::PersistorStatusRequest(), &st).ok()) return false;
  const v1::SnapshotSummary* newest = Newest(st);
  if (newest == nullptr || !newest->from_standby() ||
      absl::Seconds(newest->age_seconds()) >= interval) {
    return false;
  }
  const absl::Duration age = absl::Seconds(newest->age_seconds());
  LOG(INFO) << "snapshot: periodic snapshot skipped: the hot standby stored snapshot "
            << newest->snapshot_id() << " (seq " << newest->seq() << ") "
            << absl::FormatDuration(absl::Trunc(age, absl::Milliseconds(1)))
            << " ago; next look in "
            << absl::FormatDuration(absl::Trunc(interval - age, absl::Milliseconds(1)));
  snapshotter->NoteStored(newest->seq(), absl::Now() - age);
  return true;
}

void StandbyFollower::FillStatus(v1::GraphStatus* st) const {
  if (st->role() != v1::STANDBY) return;
  absl::MutexLock l(&mu_);
  st->set_standby_durable_seq(durable_);
  st->set_standby_lag_records(durable_ > st->applied_seq() ? durable_ - st->applied_seq() : 0);
  st->set_standby_stream_idle_seconds(
      last_msg_ == absl::InfinitePast() ? -1 : absl::ToDoubleSeconds(absl::Now() - last_msg_));
}

}  // namespace vitrage::service
