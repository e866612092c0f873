#include "graph_service/service/watchdog.h"

#include <glog/logging.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace vitrage::service {

Watchdog::Watchdog(WatchdogOptions options, journal::JournalClient* journal,
                   v1::Persistor::Stub* persistor, Hooks hooks)
    : options_(options),
      journal_(journal),
      persistor_(persistor),
      hooks_(std::move(hooks)),
      next_fence_check_(absl::Now() + options_.fence_check_interval) {}

void Watchdog::Tick() {
  CheckJournalStall();
  if (options_.fence_check_interval > absl::ZeroDuration() && absl::Now() >= next_fence_check_) {
    CheckFenced();
    next_fence_check_ = absl::Now() + options_.fence_check_interval;
  }
}

void Watchdog::CheckJournalStall() {
  const absl::Duration waiting = journal_->stalled_for();
  const std::string error = journal_->last_error();
  const bool now_stalled = options_.journal_stall_timeout > absl::ZeroDuration() &&
                           waiting >= options_.journal_stall_timeout;
  if (now_stalled == stalled_) {
    hooks_.report(waiting, error, nullptr);
    return;
  }
  const absl::Time since = now_stalled ? absl::Now() - waiting : since_;
  const std::string phase =
      now_stalled
          ? absl::StrCat("active, journal stalled since ",
                         absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", since, absl::UTCTimeZone()),
                         ": ", error.empty() ? "the persistor does not ack" : error)
          : "active";
  if (!hooks_.report(waiting, error, &phase)) return;
  stalled_ = now_stalled;
  since_ = since;
  if (now_stalled) {
    durable_at_stall_ = journal_->durable_seq();
    LOG(ERROR) << "journal stalled: " << journal_->buffered_records() << " records have waited "
               << absl::FormatDuration(waiting)
               << " with none becoming durable (last stream error: "
               << (error.empty() ? "none" : error)
               << "); health NOT_SERVING until the persistor acks again";
  } else {
    LOG(WARNING) << "journal moving again after " << absl::FormatDuration(absl::Now() - since_)
                 << ": " << journal_->durable_seq() - durable_at_stall_
                 << " records became durable; health SERVING";
  }
  if (hooks_.health) hooks_.health(!now_stalled);
}

void Watchdog::CheckFenced() {
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  v1::PersistorStatus st;
  grpc::Status s = persistor_->GetStatus(&ctx, v1::PersistorStatusRequest(), &st);
  // An unreachable persistor or database says nothing about the epoch; the
  // journal's stall shows that case.
  if (!s.ok() || !st.database_reachable()) return;
  const uint64_t ours = journal_->epoch();
  if (st.epoch() > ours) {
    hooks_.fatal(absl::FailedPreconditionError(
        absl::StrCat("the store's epoch is ", st.epoch(), " (owner ", st.epoch_owner(),
                     "), ours is ", ours, ": found by the periodic epoch check")));
  }
}

}  // namespace vitrage::service
