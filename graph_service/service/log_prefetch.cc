#include "graph_service/service/log_prefetch.h"

#include <glog/logging.h>

#include <algorithm>

#include "absl/time/clock.h"

namespace vitrage::service {

void LogPrefetch::Start(uint64_t after_seq) {
  if (started_) return;
  started_ = true;
  after_seq_ = after_seq;
  thread_ = std::thread([this] { Run(); });
}

bool LogPrefetch::Next(v1::ReadLogResponse* out) {
  absl::MutexLock l(&mu_);
  mu_.Await(absl::Condition(
      +[](LogPrefetch* p)
           ABSL_EXCLUSIVE_LOCKS_REQUIRED(p->mu_) { return !p->queue_.empty() || p->done_; },
      this));
  if (queue_.empty()) return false;
  // `out`'s previous response goes back to the reading thread, which
  // parses the next one into it (its records' objects are reused).
  out->Swap(&queue_.front().first);
  queued_bytes_ -= queue_.front().second;
  if (spare_.size() < kMaxSpare) spare_.push_back(std::move(queue_.front().first));
  queue_.pop_front();
  return true;
}

void LogPrefetch::Stop() {
  if (!started_) return;
  {
    absl::MutexLock l(&mu_);
    stop_ = true;
  }
  ctx_.TryCancel();
  if (thread_.joinable()) thread_.join();
}

void LogPrefetch::Run() {
  ctx_.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(300)));
  v1::ReadLogRequest req;
  req.set_after_seq(after_seq_);
  req.set_max_batch_bytes(batch_bytes_);
  auto reader = persistor_->ReadLog(&ctx_, req);
  uint64_t records = 0;
  uint64_t bytes_read = 0;
  uint64_t waits = 0;  // times the queue was full and the stream waited
  while (true) {
    v1::ReadLogResponse resp;
    {
      absl::MutexLock l(&mu_);
      if (queued_bytes_ >= max_queued_bytes_) ++waits;
      mu_.Await(absl::Condition(
          +[](LogPrefetch* p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(p->mu_) {
            return p->stop_ || p->queued_bytes_ < p->max_queued_bytes_;
          },
          this));
      if (stop_) break;
      if (!spare_.empty()) {
        resp.Swap(&spare_.back());
        spare_.pop_back();
      }
    }
    if (!reader->Read(&resp)) break;
    records += resp.records_size();
    const size_t bytes = resp.ByteSizeLong();
    bytes_read += bytes;
    absl::MutexLock l(&mu_);
    queue_.emplace_back(std::move(resp), bytes);
    queued_bytes_ += bytes;
    max_queued_seen_ = std::max(max_queued_seen_, queued_bytes_);
  }
  ctx_.TryCancel();  // a no-op once the stream ended; ends it when stopped early
  grpc::Status st = reader->Finish();
  if (!st.ok() && st.error_code() != grpc::StatusCode::CANCELLED) {
    LOG(INFO) << "recovery: log read-ahead after seq " << after_seq_ << " ended after " << records
              << " records (" << st.error_message() << "); the replay reads the rest itself";
  } else {
    LOG(INFO) << "recovery: log read-ahead after seq " << after_seq_ << " read " << records
              << " records (" << bytes_read / (1 << 20) << " MiB); the queue was full " << waits
              << " times (at most " << max_queued_bytes_ / (1 << 20) << " MiB wait for the replay)";
  }
  absl::MutexLock l(&mu_);
  done_ = true;
}

}  // namespace vitrage::service
