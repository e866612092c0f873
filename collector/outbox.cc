#include "collector/outbox.h"

#include <glog/logging.h>

#include <algorithm>

namespace vitrage::collector {

Outbox::Outbox(OutboxOptions options, std::shared_ptr<grpc::Channel> graph)
    : options_(std::move(options)),
      stub_(graph ? v1::Graph::NewStub(graph) : nullptr) {
  pusher_ = std::thread([this] { Run(); });
}

Outbox::~Outbox() { Shutdown(); }

void Outbox::Shutdown() {
  {
    absl::MutexLock l(&mu_);
    shutdown_ = true;
    if (inflight_ != nullptr) inflight_->TryCancel();
  }
  if (pusher_.joinable()) pusher_.join();
}

bool Outbox::WaitForRoom() {
  absl::MutexLock l(&mu_);
  auto room = [this] {
    mu_.AssertHeld();
    return shutdown_ || queue_.size() < options_.max_events;
  };
  mu_.Await(absl::Condition(&room));
  return !shutdown_;
}

uint64_t Outbox::Add(v1::Event event) {
  if (!WaitForRoom()) return 0;
  return AddNow(std::move(event));
}

uint64_t Outbox::AddNow(v1::Event event) {
  absl::MutexLock l(&mu_);
  if (shutdown_) return 0;
  uint64_t seq = ++counters_.last_seq;
  event.set_source(options_.source);
  event.set_source_seq(seq);
  queue_.push_back(std::move(event));
  added_.push_back(absl::Now());
  counters_.pending = queue_.size();
  return seq;
}

bool Outbox::WaitAcked(uint64_t seq, absl::Time deadline) {
  absl::MutexLock l(&mu_);
  auto done = [&] {
    mu_.AssertHeld();
    return counters_.acked_seq >= seq || shutdown_;
  };
  mu_.AwaitWithDeadline(absl::Condition(&done), deadline);
  return counters_.acked_seq >= seq;
}

void Outbox::SetPaused(bool paused) {
  absl::MutexLock l(&mu_);
  paused_ = paused;
}

OutboxCounters Outbox::counters() const {
  absl::MutexLock l(&mu_);
  OutboxCounters c = counters_;
  if (!latency_ms_.empty()) {
    std::vector<float> v = latency_ms_;
    auto at = [&](double q) {
      size_t i = std::min(v.size() - 1, static_cast<size_t>(q * v.size()));
      std::nth_element(v.begin(), v.begin() + i, v.end());
      return v[i];
    };
    c.ack_p50_ms = at(0.50);
    c.ack_p99_ms = at(0.99);
    c.ack_max_ms = *std::max_element(v.begin(), v.end());
  }
  return c;
}

void Outbox::Run() {
  absl::Duration backoff = options_.min_backoff;
  uint64_t failures = 0;
  while (true) {
    v1::PushEventsRequest req;
    {
      absl::MutexLock l(&mu_);
      auto ready = [this] {
        mu_.AssertHeld();
        return shutdown_ || (!paused_ && !queue_.empty() && stub_ != nullptr);
      };
      mu_.Await(absl::Condition(&ready));
      if (shutdown_) return;
      size_t n = std::min<size_t>(queue_.size(), options_.batch_size);
      for (size_t i = 0; i < n; ++i) *req.add_events() = queue_[i];
    }
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + options_.push_timeout));
    {
      absl::MutexLock l(&mu_);
      if (shutdown_) return;
      inflight_ = &ctx;
    }
    v1::PushEventsResponse resp;
    grpc::Status st = stub_->PushEvents(&ctx, req, &resp);
    absl::MutexLock l(&mu_);
    inflight_ = nullptr;
    if (st.ok()) {
      if (failures > 0) {
        LOG(INFO) << "outbox: graph acks again after " << failures
                  << " failed pushes; " << queue_.size() << " events pending";
      }
      failures = 0;
      backoff = options_.min_backoff;
      uint64_t last = req.events(req.events_size() - 1).source_seq();
      absl::Time now = absl::Now();
      constexpr size_t kSamples = 100'000;
      while (!queue_.empty() && queue_.front().source_seq() <= last) {
        float ms = static_cast<float>(absl::ToDoubleMilliseconds(now - added_.front()));
        if (latency_ms_.size() < kSamples) {
          latency_ms_.push_back(ms);
        } else {
          latency_ms_[latency_next_++ % kSamples] = ms;
        }
        queue_.pop_front();
        added_.pop_front();
      }
      counters_.acked += req.events_size();
      counters_.duplicates += resp.duplicates();
      counters_.acked_seq = last;
      counters_.pending = queue_.size();
      continue;
    }
    if (shutdown_) return;
    ++counters_.retries;
    if (failures++ == 0 || failures % 20 == 0) {
      LOG(WARNING) << "outbox: PushEvents failed (" << st.error_code() << ": "
                   << st.error_message() << "); " << queue_.size()
                   << " events wait; retrying from source_seq "
                   << req.events(0).source_seq() << " with backoff";
    }
    auto stop = [this] {
      mu_.AssertHeld();
      return shutdown_;
    };
    mu_.AwaitWithDeadline(absl::Condition(&stop), absl::Now() + backoff);
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

}  // namespace vitrage::collector
