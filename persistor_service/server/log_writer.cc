#include "persistor_service/server/log_writer.h"

#include <glog/logging.h>

#include <algorithm>
#include <unordered_set>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/crc32c.h"
#include "common/status_macros.h"

namespace vitrage::persistor {
namespace {
constexpr int kMaxAttempts = 8;
}  // namespace

LogWriter::LogWriter(mysql::ConnectionPool* pool, Options options)
    : pool_(pool), options_(options) {}

LogWriter::~LogWriter() { Stop(); }

void LogWriter::Start() { thread_ = std::thread([this] { Run(); }); }

void LogWriter::Enqueue(std::unique_ptr<PendingBatch> batch) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopping_) {
      queue_.push_back(std::move(batch));
      cv_.notify_one();
      return;
    }
  }
  batch->sink->BatchDone(
      absl::UnavailableError("vitrage-persistor is shutting down"));
}

void LogWriter::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
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
             (group.empty() ||
              bytes + queue_.front()->bytes <= options_.max_batch_bytes)) {
        bytes += queue_.front()->bytes;
        group.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    ProcessGroup(group);
  }
  // The group in flight is done; what is still queued was never started.
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
    b->sink->BatchDone(
        absl::UnavailableError("vitrage-persistor is shutting down"));
  }
  conn_.reset();
}

absl::Status LogWriter::EnsureReady() {
  if (conn_ == nullptr || conn_->broken()) {
    conn_.reset();
    state_known_ = false;
    ASSIGN_OR_RETURN(conn_, pool_->Connect());
  }
  if (!state_known_ || state_dirty_.exchange(false)) {
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
    LOG(INFO) << "durable seq re-read from the database: "
              << row->durable_seq << " (was " << state_.durable_seq << ")";
  }
  state_ = *row;
  state_known_ = true;
  cached_durable_ = state_.durable_seq;
  cached_epoch_ = state_.epoch;
  return absl::OkStatus();
}

void LogWriter::DropConnection(const absl::Status& why) {
  if (why.code() == absl::StatusCode::kUnavailable ||
      (conn_ != nullptr && conn_->broken())) {
    pool_->ReportFailure(why);
    conn_.reset();
    state_known_ = false;
  }
}

absl::Status LogWriter::FencingError(uint64_t epoch) const {
  if (epoch < state_.epoch) {
    return absl::FailedPreconditionError(absl::StrCat(
        "stale epoch ", epoch, ": epoch ", state_.epoch,
        " was acquired by ", state_.owner,
        "; this writer is fenced and must stop"));
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "epoch ", epoch, " was never acquired: the current epoch is ",
      state_.epoch, " (call AcquireEpoch)"));
}

absl::Status LogWriter::CompareWithStored(const PendingBatch& batch,
                                          uint64_t from, uint64_t to) {
  mysql::Store store(conn_.get());
  ASSIGN_OR_RETURN(std::vector<mysql::LogRow> stored,
                   store.ReadLog(from, to, to - from + 1));
  const uint64_t first_row_seq = batch.rows.front().seq;
  uint64_t first_stored = stored.empty() ? to + 1 : stored.front().seq;
  if (stored.empty()) {
    ASSIGN_OR_RETURN(mysql::LogBounds bounds, store.ReadLogBounds());
    if (bounds.first_seq != 0 && bounds.first_seq <= to) {
      return absl::DataLossError(absl::StrCat(
          "log records ", from, "..", to, " are missing from the store"));
    }
  }
  // Records below the first stored one were pruned (a snapshot covers them):
  // they were durable, so the resend is acked.
  for (size_t i = 0; i < stored.size(); ++i) {
    const mysql::LogRow& s = stored[i];
    if (s.seq != first_stored + i) {
      return absl::DataLossError(absl::StrCat(
          "log record seq ", first_stored + i, " is missing from the store"));
    }
    const mysql::LogRow& mine = batch.rows[s.seq - first_row_seq];
    if (s.bytes != mine.bytes) {
      if (crc32c::Value(s.bytes) != s.crc32c) {
        return absl::DataLossError(absl::StrCat(
            "log record seq ", s.seq, ": stored record fails its crc (stored 0x",
            absl::Hex(s.crc32c), ", computed 0x",
            absl::Hex(crc32c::Value(s.bytes)), ")"));
      }
      return absl::AlreadyExistsError(absl::StrCat(
          "record seq ", s.seq, " is already stored with different content "
          "(stored epoch ", s.epoch, ", resent epoch ", mine.epoch, ")"));
    }
  }
  if (!stored.empty() && stored.back().seq != to) {
    return absl::DataLossError(absl::StrCat("log record seq ",
                                            stored.back().seq + 1,
                                            " is missing from the store"));
  }
  return absl::OkStatus();
}

void LogWriter::ProcessGroup(std::vector<std::unique_ptr<PendingBatch>>& group) {
  const uint64_t epoch = group.front()->epoch;
  auto fail_all = [&](const absl::Status& s) {
    for (auto& b : group) b->sink->BatchDone(s);
  };
  absl::Status last_error;
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    if (attempt > 0) absl::SleepFor(absl::Milliseconds(10 * attempt));
    if (absl::Status s = EnsureReady(); !s.ok()) {
      fail_all(s);
      return;
    }
    if (epoch != state_.epoch) {
      // Maybe another persistor instance moved it: read before rejecting.
      if (absl::Status s = RefreshState(); !s.ok()) {
        fail_all(s);
        return;
      }
      if (epoch != state_.epoch) {
        absl::Status s = FencingError(epoch);
        LOG(WARNING) << "fencing: rejected journal batch: " << s.message();
        fail_all(s);
        return;
      }
    }
    const uint64_t durable = state_.durable_seq;
    uint64_t next = durable + 1;
    std::vector<absl::Status> verdicts(group.size());
    std::vector<const mysql::LogRow*> fresh;
    // Streams with a rejected batch in this group: their later batches are
    // skipped (the stream ends with the first error).
    std::unordered_set<const BatchSink*> failed_sinks;
    auto reject = [&](size_t i, absl::Status s) {
      verdicts[i] = std::move(s);
      failed_sinks.insert(group[i]->sink.get());
    };
    bool connection_lost = false;
    for (size_t i = 0; i < group.size() && !connection_lost; ++i) {
      const PendingBatch& b = *group[i];
      if (b.sink->failed()) {
        verdicts[i] = absl::CancelledError("an earlier batch of this stream failed");
        continue;
      }
      if (failed_sinks.count(b.sink.get()) != 0) {
        verdicts[i] = absl::CancelledError("an earlier batch of this stream failed");
        continue;
      }
      const uint64_t first = b.rows.front().seq;
      const uint64_t last = b.rows.back().seq;
      if (first > next) {
        reject(i, absl::OutOfRangeError(absl::StrCat(
                      "gap: record seq ", first, " but durable seq is ", next - 1)));
        continue;
      }
      if (first <= durable) {
        absl::Status s = CompareWithStored(b, first, std::min(last, durable));
        if (s.code() == absl::StatusCode::kUnavailable) {
          DropConnection(s);
          last_error = s;
          connection_lost = true;
          break;
        }
        if (!s.ok()) {
          reject(i, s);
          continue;
        }
      }
      // Overlap with records taken earlier in this group.
      absl::Status s;
      for (uint64_t seq = std::max(first, durable + 1); seq < next && seq <= last;
           ++seq) {
        const mysql::LogRow& mine = b.rows[seq - first];
        if (fresh[seq - durable - 1]->bytes != mine.bytes) {
          s = absl::AlreadyExistsError(absl::StrCat(
              "record seq ", seq, " is already stored with different content"));
          break;
        }
      }
      if (!s.ok()) {
        reject(i, s);
        continue;
      }
      for (uint64_t seq = std::max(first, next); seq <= last; ++seq) {
        fresh.push_back(&b.rows[seq - first]);
      }
      next = std::max(next, last + 1);
    }
    if (connection_lost) break;

    if (!fresh.empty()) {
      mysql::Store store(conn_.get());
      absl::StatusOr<mysql::GuardResult> r = store.AppendLog(
          epoch, durable, fresh, options_.max_statement_bytes);
      if (!r.ok()) {
        last_error = r.status();
        if (r.status().code() == absl::StatusCode::kAborted) {
          LOG(WARNING) << "journal commit aborted, retrying: "
                       << r.status().message();
          state_known_ = false;
          continue;
        }
        // The outcome of the COMMIT may be unknown: re-read before the next
        // group, and let the clients resend.
        state_known_ = false;
        DropConnection(r.status());
        LOG(WARNING) << "journal commit of seq " << durable + 1 << ".."
                     << next - 1 << " failed: " << r.status().message();
        break;
      }
      if (*r == mysql::GuardResult::kDurableMoved) {
        LOG(WARNING) << "durable seq moved under this writer (another "
                        "persistor instance?); re-reading";
        state_known_ = false;
        continue;
      }
      if (*r == mysql::GuardResult::kStaleEpoch) {
        state_known_ = false;
        if (absl::Status s = EnsureReady(); !s.ok()) {
          fail_all(s);
          return;
        }
        absl::Status s = FencingError(epoch);
        LOG(WARNING) << "fencing: rejected journal batch at commit: "
                     << s.message();
        fail_all(s);
        return;
      }
      state_.durable_seq = next - 1;
      cached_durable_ = state_.durable_seq;
    }
    for (size_t i = 0; i < group.size(); ++i) {
      if (verdicts[i].ok()) {
        group[i]->sink->BatchDone(state_.durable_seq);
      } else {
        if (verdicts[i].code() != absl::StatusCode::kCancelled) {
          LOG(WARNING) << "rejected journal batch (seq "
                       << group[i]->rows.front().seq << ".."
                       << group[i]->rows.back().seq
                       << "): " << verdicts[i].message();
        }
        group[i]->sink->BatchDone(verdicts[i]);
      }
    }
    return;
  }
  if (last_error.ok()) last_error = absl::AbortedError("too many retries");
  fail_all(last_error);
}

}  // namespace vitrage::persistor
