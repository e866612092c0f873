#include "graph_service/service/snapshotter.h"

#include <glog/logging.h>

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/grpc_util.h"
#include "common/metrics.h"
#include "common/status_macros.h"

namespace vitrage::service {
namespace {

double Ms(absl::Duration d) { return absl::ToDoubleMilliseconds(d); }

}  // namespace

Snapshotter::Snapshotter(SnapshotterOptions options, v1::Persistor::Stub* persistor, ForkFn fork,
                         FatalFn fatal, SkipFn skip_periodic)
    : options_(std::move(options)),
      persistor_(persistor),
      fork_(std::move(fork)),
      fatal_(std::move(fatal)),
      skip_periodic_(std::move(skip_periodic)) {}

Snapshotter::~Snapshotter() {
  Stop();
  Join();
}

void Snapshotter::ExportMetrics() {
  namespace m = vitrage::metrics;
  duration_metric_ =
      &m::Histogram("vitrage_graph_snapshot_duration_seconds", "Encode + store time of a snapshot",
                    {0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60});
  failures_metric_ =
      &m::Counter("vitrage_graph_snapshot_failures_total", "Snapshots that were not stored");
  bytes_metric_ = &m::Gauge("vitrage_graph_snapshot_bytes", "Size of the last snapshot");
}

absl::Status Snapshotter::Start(journal::JournalClient* journal) {
  absl::MutexLock l(&mu_);
  if (stop_) return absl::CancelledError("shut down during recovery");
  journal_ = journal;
  last_time_ = absl::Now();  // the interval counts from start-up
  thread_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

void Snapshotter::Stop() {
  absl::MutexLock l(&mu_);
  stop_ = true;
}

void Snapshotter::Join() {
  std::thread t;
  {
    absl::MutexLock l(&mu_);
    t = std::move(thread_);
  }
  if (t.joinable()) t.join();
}

absl::StatusOr<v1::TakeSnapshotResponse> Snapshotter::Request() {
  // A snapshot started after this point covers everything applied so far.
  absl::MutexLock l(&mu_);
  uint64_t ticket = ++requested_;
  auto done = [&] {
    mu_.AssertHeld();
    return done_ >= ticket || stop_;
  };
  if (!mu_.AwaitWithTimeout(absl::Condition(&done), absl::Seconds(300))) {
    return absl::DeadlineExceededError("snapshot did not finish within 300 s");
  }
  if (stop_ && done_ < ticket) return absl::CancelledError("shutting down");
  return result_;
}

void Snapshotter::Schedule() {
  absl::MutexLock l(&mu_);
  ++requested_;
}

void Snapshotter::NoteStored(uint64_t seq, absl::Time when) {
  absl::MutexLock l(&mu_);
  last_time_ = when;
  last_seq_ = seq;
  stored_time_ = when;
  stored_id_ = 0;
  stored_bytes_ = 0;
  last_error_.clear();
}

void Snapshotter::NoteRecovered(uint64_t id, uint64_t seq, absl::Time created, uint64_t bytes) {
  absl::MutexLock l(&mu_);
  if (seq < last_seq_) return;  // a newer one was stored meanwhile
  last_seq_ = seq;
  stored_time_ = created;
  stored_id_ = id;
  stored_bytes_ = bytes;
  if (bytes_metric_ != nullptr) bytes_metric_->Set(static_cast<double>(bytes));
}

void Snapshotter::FillStatus(v1::GraphStatus* st) const {
  absl::MutexLock l(&mu_);
  st->set_last_snapshot_seq(last_seq_);
  st->set_last_snapshot_id(stored_id_);
  st->set_last_snapshot_bytes(stored_bytes_);
  st->set_last_snapshot_age_seconds(stored_time_ == absl::InfinitePast()
                                        ? -1
                                        : absl::ToDoubleSeconds(absl::Now() - stored_time_));
  st->set_last_snapshot_error(last_error_);
}

void Snapshotter::Run() {
  auto stopping = [this] {
    absl::MutexLock l(&mu_);
    return stop_;
  };
  while (true) {
    uint64_t ticket = 0;
    bool periodic = false;
    {
      absl::MutexLock l(&mu_);
      auto wake = [this] {
        mu_.AssertHeld();
        return stop_ || requested_ > done_;
      };
      mu_.AwaitWithTimeout(absl::Condition(&wake), absl::Seconds(1));
      if (stop_) return;
      bool timer = absl::Now() - last_time_ >= options_.interval;
      if (requested_ == done_ && !timer) continue;
      ticket = requested_;
      periodic = requested_ == done_;
    }
    // A hot standby may have stored a recent one (standby_follower.h).
    if (periodic && skip_periodic_ && skip_periodic_()) continue;
    auto result = SnapshotByFork(/*from_standby=*/false, stopping, nullptr);
    absl::MutexLock l(&mu_);
    result_ = result;
    done_ = ticket;
    last_time_ = absl::Now();
    if (result.ok()) {
      last_seq_ = result->seq();
      stored_time_ = last_time_;
      stored_id_ = result->snapshot_id();
      stored_bytes_ = result->stored_bytes();
      last_error_.clear();
      if (duration_metric_ != nullptr) {
        duration_metric_->Observe(result->total_ms() / 1000.0);
        bytes_metric_->Set(result->stored_bytes());
      }
    } else {
      if (failures_metric_ != nullptr) failures_metric_->Increment();
      last_error_ = std::string(result.status().message());
    }
  }
}

absl::StatusOr<v1::TakeSnapshotResponse> Snapshotter::TakeStandbySnapshot(
    const std::function<bool()>& stopping,
    const std::function<bool(grpc::ClientContext*)>& set_call) {
  return SnapshotByFork(/*from_standby=*/true, stopping, set_call);
}

absl::StatusOr<v1::TakeSnapshotResponse> Snapshotter::SnapshotByFork(
    bool from_standby, const std::function<bool()>& stopping,
    const std::function<bool(grpc::ClientContext*)>& set_call) {
  const absl::Time t0 = absl::Now();
  const char* const what = from_standby ? "standby snapshot" : "snapshot";
  snapshot::SnapshotInfo info;
  // The active's snapshots name its own epoch; a standby's names the epoch
  // of the record it ends at (the ForkFn reads it with the seq).
  if (!from_standby) info.epoch = journal_->epoch();
  snapshot::EncodeOptions eo;
  eo.compute_digest = options_.compute_digest;
  eo.format_version = options_.format_version;
  eo.parallel = false;       // the child must not start threads,
  eo.helper_process = true;  // but may fork a helper for the second core
  double stall_ms = 0;
  absl::StatusOr<ForkedEncode> child = fork_(from_standby, eo, &info, &stall_ms);
  // The active logs its failures here; the standby snapshotter logs them
  // (RunStandbySnapshots), and a promote or shutdown cancels it.
  if (!child.ok()) {
    if (!from_standby) {
      LOG(ERROR) << "snapshot at seq " << info.seq << ": cannot fork the encoder ("
                 << child.status() << "); the previous snapshot stays in force";
    }
    return child.status();
  }
  const uint64_t seq = info.seq;
  VLOG(1) << what << " at seq " << seq << ": encoder process " << child->pid()
          << " forked, processing paused " << stall_ms << " ms";
  // The snapshot must not be ahead of the durable log (waits while the
  // child encodes). A standby follows durable records only.
  if (!from_standby) {
    RETURN_IF_ERROR(journal_->WaitDurable(seq, absl::Now() + absl::Seconds(60)));
  }
  auto encoded = child->Wait(absl::Seconds(600), stopping);
  if (!encoded.ok()) {
    if (!from_standby) {
      LOG(ERROR) << "snapshot at seq " << seq << " failed to encode: " << encoded.status()
                 << "; the previous snapshot stays in force";
    }
    return encoded.status();
  }
  if (from_standby) encoded->header.set_from_standby(true);
  const absl::Time t1 = absl::Now();
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(300)));
  if (from_standby) {
    // A promote must not wait for this call (it cancels it).
    if (!set_call(&ctx)) return absl::CancelledError("standby stopping");
  } else {
    // Right after a persistor restart the channel may still be
    // reconnecting: wait for it within the deadline instead of failing at
    // once.
    ctx.set_wait_for_ready(true);
  }
  v1::PutSnapshotResponse resp;
  grpc::Status st;
  {
    auto writer = persistor_->PutSnapshot(&ctx, &resp);
    v1::PutSnapshotRequest req;
    *req.mutable_header() = encoded->header;
    bool ok = writer->Write(req);
    for (auto& chunk : encoded->chunks) {
      if (!ok) break;
      req.Clear();
      *req.mutable_chunk() = std::move(chunk);
      ok = writer->Write(req);
    }
    if (ok) writer->WritesDone();
    st = writer->Finish();
  }
  if (from_standby) {
    if (!set_call(nullptr) && !st.ok()) return absl::CancelledError("standby stopping");
  }
  if (!st.ok()) {
    absl::Status s = FromGrpcStatus(st);
    if (from_standby) return s;
    LOG(ERROR) << "snapshot at seq " << seq << " was not stored (" << st.error_message()
               << "); the previous snapshot stays in force";
    // Fenced: another graph took a newer epoch.
    if (st.error_code() == grpc::StatusCode::FAILED_PRECONDITION) fatal_(s);
    return s;
  }
  v1::TakeSnapshotResponse out;
  out.set_snapshot_id(resp.snapshot_id());
  out.set_seq(seq);
  out.set_stored_bytes(resp.stored_bytes());
  out.set_stall_ms(stall_ms);
  out.set_total_ms(Ms(absl::Now() - t0));
  LOG(INFO) << what << " " << resp.snapshot_id() << " stored: seq " << seq
            << (from_standby ? absl::StrCat(" (records of epoch ", info.epoch, ")") : "") << ", "
            << encoded->header.vertex_count() << " vertices, " << encoded->header.edge_count()
            << " edges, " << resp.stored_bytes() << " bytes in " << encoded->chunks.size()
            << " chunks; " << (from_standby ? "following" : "processing") << " paused " << stall_ms
            << " ms (fork), encode " << Ms(t1 - t0) << " ms (child process), store "
            << Ms(absl::Now() - t1) << " ms";
  return out;
}

}  // namespace vitrage::service
