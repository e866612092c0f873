#include "persistor_service/server/log_writer.h"

#include <glog/logging.h>

#include <algorithm>
#include <unordered_set>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/crc32c.h"
#include "common/metrics.h"
#include "common/status_macros.h"
#include "persistor_service/server/db_errors.h"

namespace vitrage::persistor {
namespace {

// After a commit failed with a duplicate key: were `rows` (consecutive seqs)
// committed meanwhile by someone else (another persistor that got the same
// resend), exactly as we have them? OK if every one is stored with the same
// epoch, CRC and bytes; ALREADY_EXISTS naming the first that differs;
// UNAVAILABLE (resend) if only some are stored.
absl::Status SameAsStored(mysql::Store& store, const std::vector<const mysql::LogRow*>& rows) {
  const uint64_t first = rows.front()->seq;
  const uint64_t last = rows.back()->seq;
  ASSIGN_OR_RETURN(std::vector<mysql::LogRow> stored, store.ReadLog(first, last, rows.size()));
  for (const mysql::LogRow& s : stored) {
    const mysql::LogRow& mine = *rows[s.seq - first];
    if (s.epoch != mine.epoch || s.crc32c != mine.crc32c || s.bytes != mine.bytes) {
      return absl::AlreadyExistsError(absl::StrCat("record seq ", s.seq,
                                                   " is already stored with different content "
                                                   "(stored epoch ",
                                                   s.epoch, ", resent epoch ", mine.epoch, ")"));
    }
  }
  if (stored.size() != rows.size()) {
    return absl::UnavailableError(
        absl::StrCat("journal records ", first, "..", last, ": ", stored.size(),
                     " of them were committed meanwhile by another persistor; resend from the first"
                     " unacked seq"));
  }
  return absl::OkStatus();
}

}  // namespace

LogWriter::LogWriter(mysql::ConnectionPool* pool, Options options)
    : pool_(pool), options_(options) {}

LogWriter::~LogWriter() { Stop(); }

void LogWriter::Start() {
  for (int i = 0; i < std::max(1, options_.pipeline_depth); ++i) {
    workers_.emplace_back([this] { WorkerLoop(); });
  }
  thread_ = std::thread([this] { Run(); });
}

void LogWriter::Enqueue(std::unique_ptr<PendingBatch> batch) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopping_) {
      queue_.push_back(std::move(batch));
      cv_.notify_one();
      return;
    }
  }
  batch->sink->BatchDone(absl::UnavailableError("vitrage-persistor is shutting down"));
}

void LogWriter::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
  {
    std::lock_guard<std::mutex> lock(mu_);
    workers_stop_ = true;
    pipe_cv_.notify_all();
  }
  for (std::thread& t : workers_) {
    if (t.joinable()) t.join();
  }
  workers_.clear();
}

void LogWriter::Run() {
  while (true) {
    std::vector<std::unique_ptr<PendingBatch>> group;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) break;
      const uint64_t epoch = queue_.front()->epoch;
      size_t bytes = 0;
      while (!queue_.empty() && queue_.front()->epoch == epoch &&
             (group.empty() || bytes + queue_.front()->bytes <= options_.max_batch_bytes)) {
        bytes += queue_.front()->bytes;
        group.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    ProcessGroup(std::move(group));
  }
  // Finish the commits in flight; what is still queued was never started.
  WaitDrained();
  std::deque<std::unique_ptr<PendingBatch>> rest;
  {
    std::lock_guard<std::mutex> lock(mu_);
    rest.swap(queue_);
  }
  if (!rest.empty()) {
    LOG(INFO) << "shutting down: " << rest.size()
              << " queued journal batches not started; their streams get "
                 "UNAVAILABLE and will resend";
  }
  for (auto& b : rest) {
    b->sink->BatchDone(absl::UnavailableError("vitrage-persistor is shutting down"));
  }
  conn_.reset();
}

void LogWriter::MarkFenced(uint64_t ticket) {
  // In ticket order, so that "fenced_upto_ >= k" means every group up to k
  // has run (or given up) its fencing UPDATE.
  std::unique_lock<std::mutex> lock(mu_);
  pipe_cv_.wait(lock, [&] { return fenced_upto_ + 1 >= ticket; });
  if (ticket > fenced_upto_) {
    fenced_upto_ = ticket;
    pipe_cv_.notify_all();
  }
}

void LogWriter::WaitDrained() {
  std::unique_lock<std::mutex> lock(mu_);
  pipe_cv_.wait(lock, [&] { return in_flight_ == 0; });
}

absl::Status LogWriter::EnsureReady() {
  bool resync = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    resync = resync_;
  }
  if (resync || state_dirty_.load() || !state_known_ || conn_ == nullptr || conn_->broken()) {
    // The in-memory tail is only trusted with an empty pipeline.
    WaitDrained();
    {
      std::lock_guard<std::mutex> lock(mu_);
      resync_ = false;
    }
    state_dirty_ = false;
    if (conn_ == nullptr || conn_->broken()) {
      conn_.reset();
      state_known_ = false;
      ASSIGN_OR_RETURN(conn_, pool_->Connect());
    }
    RETURN_IF_ERROR(RefreshState());
  }
  return absl::OkStatus();
}

absl::Status LogWriter::RefreshState() {
  mysql::Store store(conn_.get());
  absl::StatusOr<mysql::EpochRow> row = store.ReadEpoch();
  if (!row.ok()) {
    state_known_ = false;
    DropConnection(row.status());
    return row.status();
  }
  if (state_known_ && row->durable_seq != state_.durable_seq) {
    LOG(INFO) << "durable seq re-read from the database: " << row->durable_seq << " (was "
              << state_.durable_seq << ")";
  }
  state_ = *row;
  state_known_ = true;
  {
    std::lock_guard<std::mutex> lock(mu_);
    committed_durable_ = state_.durable_seq;
  }
  cached_durable_ = state_.durable_seq;
  cached_epoch_ = state_.epoch;
  return absl::OkStatus();
}

void LogWriter::DropConnection(const absl::Status& why) {
  if (why.code() == absl::StatusCode::kUnavailable || (conn_ != nullptr && conn_->broken())) {
    pool_->ReportFailure(why);
    conn_.reset();
    state_known_ = false;
  }
}

absl::Status LogWriter::CompareWithStored(const PendingBatch& batch, uint64_t from, uint64_t to) {
  mysql::Store store(conn_.get());
  ASSIGN_OR_RETURN(std::vector<mysql::LogRow> stored, store.ReadLog(from, to, to - from + 1));
  const uint64_t first_row_seq = batch.rows.front().seq;
  uint64_t first_stored = stored.empty() ? to + 1 : stored.front().seq;
  if (stored.empty()) {
    ASSIGN_OR_RETURN(mysql::LogBounds bounds, store.ReadLogBounds());
    if (bounds.first_seq != 0 && bounds.first_seq <= to) {
      return absl::DataLossError(
          absl::StrCat("log records ", from, "..", to, " are missing from the store"));
    }
  }
  // Records below the first stored one were pruned (a snapshot covers them):
  // they were durable, so the resend is acked.
  for (size_t i = 0; i < stored.size(); ++i) {
    const mysql::LogRow& s = stored[i];
    if (s.seq != first_stored + i) {
      return absl::DataLossError(
          absl::StrCat("log record seq ", first_stored + i, " is missing from the store"));
    }
    const mysql::LogRow& mine = batch.rows[s.seq - first_row_seq];
    if (s.bytes != mine.bytes) {
      if (crc32c::Value(s.bytes) != s.crc32c) {
        return absl::DataLossError(absl::StrCat(
            "log record seq ", s.seq, ": stored record fails its crc (stored 0x",
            absl::Hex(s.crc32c), ", computed 0x", absl::Hex(crc32c::Value(s.bytes)), ")"));
      }
      return absl::AlreadyExistsError(absl::StrCat("record seq ", s.seq,
                                                   " is already stored with different content "
                                                   "(stored epoch ",
                                                   s.epoch, ", resent epoch ", mine.epoch, ")"));
    }
  }
  if (!stored.empty() && stored.back().seq != to) {
    return absl::DataLossError(
        absl::StrCat("log record seq ", stored.back().seq + 1, " is missing from the store"));
  }
  return absl::OkStatus();
}

void LogWriter::ProcessGroup(std::vector<std::unique_ptr<PendingBatch>> batches) {
  auto g = std::make_unique<Group>();
  g->epoch = batches.front()->epoch;
  g->batches = std::move(batches);
  auto fail_all = [&](const absl::Status& s) {
    for (auto& b : g->batches) b->sink->BatchDone(s);
  };
  bool drained_for_overlap = false;
  while (true) {
    if (absl::Status s = EnsureReady(); !s.ok()) {
      fail_all(s);
      return;
    }
    if (g->epoch != state_.epoch) {
      // Maybe another persistor instance moved it: read before rejecting.
      WaitDrained();
      if (absl::Status s = RefreshState(); !s.ok()) {
        fail_all(s);
        return;
      }
      if (g->epoch != state_.epoch) {
        absl::Status s = FencingError(g->epoch, state_);
        LOG(WARNING) << "fencing: rejected journal batch: " << s.message();
        fail_all(s);
        return;
      }
    }
    uint64_t committed = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      committed = committed_durable_;
    }
    // state_.durable_seq is the tail including groups in flight.
    const uint64_t durable = state_.durable_seq;
    uint64_t next = durable + 1;
    g->verdicts.assign(g->batches.size(), absl::OkStatus());
    g->fresh.clear();
    std::unordered_set<const BatchSink*> failed_sinks;
    auto reject = [&](size_t i, absl::Status s) {
      g->verdicts[i] = std::move(s);
      failed_sinks.insert(g->batches[i]->sink.get());
    };
    bool retry = false;
    for (size_t i = 0; i < g->batches.size(); ++i) {
      const PendingBatch& b = *g->batches[i];
      if (b.sink->failed() || failed_sinks.count(b.sink.get()) != 0) {
        g->verdicts[i] = absl::CancelledError("an earlier batch of this stream failed");
        continue;
      }
      const uint64_t first = b.rows.front().seq;
      const uint64_t last = b.rows.back().seq;
      if (first > next) {
        reject(i, absl::OutOfRangeError(
                      absl::StrCat("gap: record seq ", first, " but durable seq is ", next - 1)));
        continue;
      }
      if (first <= durable) {
        if (first <= durable && std::min(last, durable) > committed) {
          // A resend of records still in flight: compare once committed.
          if (!drained_for_overlap) {
            WaitDrained();
            drained_for_overlap = true;
            retry = true;
            break;
          }
        }
        absl::Status s = CompareWithStored(b, first, std::min(last, durable));
        if (s.code() == absl::StatusCode::kUnavailable) {
          DropConnection(s);
          fail_all(s);
          return;
        }
        if (!s.ok()) {
          reject(i, s);
          continue;
        }
      }
      // Overlap with records taken earlier in this group.
      absl::Status s;
      for (uint64_t seq = std::max(first, durable + 1); seq < next && seq <= last; ++seq) {
        if (g->fresh[seq - durable - 1]->bytes != b.rows[seq - first].bytes) {
          s = absl::AlreadyExistsError(
              absl::StrCat("record seq ", seq, " is already stored with different content"));
          break;
        }
      }
      if (!s.ok()) {
        reject(i, s);
        continue;
      }
      for (uint64_t seq = std::max(first, next); seq <= last; ++seq) {
        g->fresh.push_back(&b.rows[seq - first]);
      }
      next = std::max(next, last + 1);
    }
    if (retry) continue;
    for (size_t i = 0; i < g->batches.size(); ++i) {
      const absl::Status& v = g->verdicts[i];
      if (!v.ok() && v.code() != absl::StatusCode::kCancelled) {
        LOG(WARNING) << "rejected journal batch (seq " << g->batches[i]->rows.front().seq << ".."
                     << g->batches[i]->rows.back().seq << "): " << v.message();
      }
    }
    g->expected_durable = durable;
    g->last = next - 1;
    state_.durable_seq = g->last;
    break;
  }
  // Dispatch in order; at most pipeline_depth groups in flight.
  std::unique_lock<std::mutex> lock(mu_);
  pipe_cv_.wait(lock, [&] { return in_flight_ < std::max(1, options_.pipeline_depth); });
  g->ticket = next_ticket_++;
  ++in_flight_;
  dispatch_.push_back(std::move(g));
  pipe_cv_.notify_all();
}

void LogWriter::WorkerLoop() {
  std::unique_ptr<mysql::Connection> conn;
  while (true) {
    std::unique_ptr<Group> g;
    {
      std::unique_lock<std::mutex> lock(mu_);
      pipe_cv_.wait(lock, [&] { return workers_stop_ || !dispatch_.empty(); });
      if (dispatch_.empty()) return;  // stopping
      g = std::move(dispatch_.front());
      dispatch_.pop_front();
    }
    static auto& commit_seconds = vitrage::metrics::Histogram(
        "vitrage_persistor_commit_seconds", "Time to write and commit one group of journal batches",
        vitrage::metrics::LatencyBuckets());
    static auto& committed = vitrage::metrics::Counter("vitrage_persistor_records_committed_total",
                                                       "Journal records committed");
    static auto& failures = vitrage::metrics::Counter("vitrage_persistor_commit_failures_total",
                                                      "Group commits that failed");
    absl::Status s;
    if (!g->fresh.empty()) {
      absl::Time t0 = absl::Now();
      s = Commit(*g, conn);
      commit_seconds.Observe(absl::ToDoubleSeconds(absl::Now() - t0));
      if (s.ok()) {
        committed.Increment(static_cast<double>(g->fresh.size()));
      } else {
        failures.Increment();
      }
    }
    MarkFenced(g->ticket);
    Complete(*g, s);
  }
}

absl::Status LogWriter::Commit(Group& g, std::unique_ptr<mysql::Connection>& conn) {
  for (int attempt = 1;; ++attempt) {
    {
      // Behind a failed group this one cannot commit (its fence expects
      // the failed group's seq); do not try.
      std::lock_guard<std::mutex> lock(mu_);
      if (resync_) {
        return absl::UnavailableError(
            "an earlier journal commit failed; resend from the first "
            "unacked seq");
      }
    }
    if (conn == nullptr || conn->broken()) {
      conn.reset();
      absl::StatusOr<std::unique_ptr<mysql::Connection>> c = pool_->Connect();
      if (!c.ok()) return c.status();
      conn = std::move(*c);
    }
    mysql::Store store(conn.get());
    // The predecessor's fencing UPDATE must come first: ours then waits
    // for its row lock and sees its durable seq.
    absl::StatusOr<mysql::GuardResult> r = store.AppendLog(
        g.epoch, g.expected_durable, g.fresh,
        [&] {
          std::unique_lock<std::mutex> lock(mu_);
          pipe_cv_.wait(lock, [&] { return fenced_upto_ + 1 >= g.ticket; });
        },
        [&] { MarkFenced(g.ticket); });
    MarkFenced(g.ticket);
    if (r.ok() && *r == mysql::GuardResult::kDone) return absl::OkStatus();
    if (!r.ok() && r.status().code() == absl::StatusCode::kAlreadyExists) {
      // Duplicate key: a resend of these records reached another persistor
      // too, and its commit won. Identical records are what we would have
      // written: done.
      absl::Status same = SameAsStored(store, g.fresh);
      if (same.ok()) {
        LOG(INFO) << "journal records " << g.expected_durable + 1 << ".." << g.last
                  << " were committed meanwhile by another persistor, identical: acked";
        return absl::OkStatus();
      }
      if (same.code() == absl::StatusCode::kUnavailable && conn->broken()) {
        pool_->ReportFailure(same);
        conn.reset();
      }
      LOG(WARNING) << "journal commit of seq " << g.expected_durable + 1 << ".." << g.last
                   << " hit records stored meanwhile: " << same.message();
      return same;
    }
    if (!r.ok()) {
      if (RetryAfterAbort(r.status(), attempt)) {
        LOG(WARNING) << "journal commit aborted (attempt " << attempt << " of "
                     << kTransactionAttempts << "), retrying: " << r.status().message();
        continue;
      }
      if (r.status().code() == absl::StatusCode::kUnavailable) {
        pool_->ReportFailure(r.status());
        conn.reset();
      }
      LOG(WARNING) << "journal commit of seq " << g.expected_durable + 1 << ".." << g.last
                   << " failed: " << r.status().message();
      return r.status();
    }
    if (*r == mysql::GuardResult::kStaleEpoch) {
      absl::StatusOr<mysql::EpochRow> row = store.ReadEpoch();
      absl::Status f = row.ok() ? FencingError(g.epoch, *row)
                                : absl::FailedPreconditionError(
                                      absl::StrCat("epoch ", g.epoch, " is no longer current"));
      LOG(WARNING) << "fencing: rejected journal batch at commit: " << f.message();
      return f;
    }
    // kDurableMoved: the group before did not commit, or another persistor
    // instance wrote. The clients resend.
    return absl::UnavailableError(
        absl::StrCat("journal commit of seq ", g.expected_durable + 1, "..", g.last,
                     " not done: the durable seq moved (an earlier commit failed or "
                     "another persistor wrote); resend"));
  }
}

void LogWriter::Complete(Group& g, const absl::Status& commit_status) {
  uint64_t durable = 0;
  {
    std::unique_lock<std::mutex> lock(mu_);
    pipe_cv_.wait(lock, [&] { return next_complete_ == g.ticket; });
    if (!commit_status.ok()) {
      resync_ = true;
    } else if (!g.fresh.empty()) {
      committed_durable_ = std::max(committed_durable_, g.last);
    }
    durable = committed_durable_;
  }
  cached_durable_ = durable;
  for (size_t i = 0; i < g.batches.size(); ++i) {
    if (!commit_status.ok()) {
      g.batches[i]->sink->BatchDone(g.verdicts[i].ok() ? commit_status : g.verdicts[i]);
    } else if (g.verdicts[i].ok()) {
      g.batches[i]->sink->BatchDone(durable);
    } else {
      g.batches[i]->sink->BatchDone(g.verdicts[i]);
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  ++next_complete_;
  --in_flight_;
  pipe_cv_.notify_all();
}

}  // namespace vitrage::persistor
