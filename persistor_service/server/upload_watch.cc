#include "persistor_service/server/upload_watch.h"

#include <algorithm>

#include "absl/time/clock.h"

namespace vitrage::persistor {

UploadWatch::UploadWatch(absl::Duration timeout) : timeout_(timeout), thread_([this] { Run(); }) {}

UploadWatch::~UploadWatch() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

UploadWatch::Call::Call(UploadWatch* watch, grpc::ServerContext* context)
    : watch_(watch), context_(context) {
  std::lock_guard<std::mutex> lock(watch_->mu_);
  watch_->calls_[this] = absl::Now();
}

UploadWatch::Call::~Call() {
  std::lock_guard<std::mutex> lock(watch_->mu_);
  watch_->calls_.erase(this);
}

void UploadWatch::Call::Waiting() {
  std::lock_guard<std::mutex> lock(watch_->mu_);
  watch_->calls_[this] = absl::Now();
}

void UploadWatch::Call::Working() {
  std::lock_guard<std::mutex> lock(watch_->mu_);
  watch_->calls_[this] = absl::InfiniteFuture();
}

void UploadWatch::Run() {
  // A few looks per timeout: a call ends between 1 and 1.25 timeouts after
  // its last message.
  const absl::Duration period = std::clamp(timeout_ / 4, absl::Milliseconds(10), absl::Seconds(1));
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    cv_.wait_for(lock, absl::ToChronoNanoseconds(period));
    const absl::Time now = absl::Now();
    for (auto& [call, last] : calls_) {
      if (last != absl::InfiniteFuture() && now - last >= timeout_ &&
          !call->timed_out_.exchange(true)) {
        // Under mu_: the call (and its context) cannot end meanwhile.
        call->context_->TryCancel();
      }
    }
  }
}

}  // namespace vitrage::persistor
