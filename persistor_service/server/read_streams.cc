#include "persistor_service/server/read_streams.h"

#include <glog/logging.h>

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/metrics.h"
#include "common/tls.h"

namespace vitrage::persistor {
namespace {

prometheus::Counter& RefusedCounter() {
  static auto& c = vitrage::metrics::Counter(
      "vitrage_persistor_read_streams_refused_total",
      "ReadLog/GetLatestSnapshot streams refused by [persistor] max_read_streams");
  return c;
}

prometheus::Counter& StalledCounter() {
  static auto& c =
      vitrage::metrics::Counter("vitrage_persistor_read_streams_stalled_total",
                                "Read streams ended because the client read nothing for "
                                "[persistor] stream_stall_timeout");
  return c;
}

// One line per second at most for refusals (a flood must not flood the log).
bool RefusalLogDue(int* suppressed) {
  static std::mutex mu;
  static absl::Time last = absl::InfinitePast();
  static int count = 0;
  std::lock_guard<std::mutex> lock(mu);
  const absl::Time now = absl::Now();
  if (now - last < absl::Seconds(1)) {
    ++count;
    return false;
  }
  last = now;
  *suppressed = count;
  count = 0;
  return true;
}

}  // namespace

ReadStreams::ReadStreams(Options options) : options_(options) {
  watchdog_ = std::thread([this] { Watch(); });
}

ReadStreams::~ReadStreams() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    cv_.notify_all();
  }
  watchdog_.join();
}

std::string ReadStreams::RoleKey(const grpc::ServerContext& context) {
  std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  std::set<std::string> roles;
  if (auth != nullptr) roles = PeerRoles(*auth);
  if (roles.empty()) return "(no certificate)";
  return absl::StrJoin(roles, ",");
}

absl::StatusOr<std::unique_ptr<ReadStreams::Ticket>> ReadStreams::Admit(
    grpc::ServerContext* context, absl::string_view method) {
  std::string role = RoleKey(*context);
  std::lock_guard<std::mutex> lock(mu_);
  int& open = open_by_role_[role];
  if (open >= options_.max_per_role) {
    RefusedCounter().Increment();
    absl::Status refused = absl::ResourceExhaustedError(absl::StrCat(
        method, ": ", open, " read streams of role ", role, " are already open; the limit is ",
        options_.max_per_role, " ([persistor] max_read_streams)"));
    int suppressed = 0;
    if (RefusalLogDue(&suppressed)) {
      LOG(WARNING) << "refused read stream from " << context->peer() << ": " << refused.message()
                   << (suppressed > 0 ? absl::StrCat(" (and ", suppressed,
                                                     " more refusals in the last second)")
                                      : "");
    }
    return refused;
  }
  ++open;
  auto ticket =
      std::unique_ptr<Ticket>(new Ticket(this, context, std::string(method), std::move(role)));
  tickets_.insert(ticket.get());
  return ticket;
}

int ReadStreams::open() const {
  std::lock_guard<std::mutex> lock(mu_);
  int n = 0;
  for (const auto& [role, count] : open_by_role_) n += count;
  return n;
}

void ReadStreams::Release(Ticket* ticket) {
  std::lock_guard<std::mutex> lock(mu_);
  tickets_.erase(ticket);
  auto it = open_by_role_.find(ticket->role_);
  if (it != open_by_role_.end() && --it->second <= 0) open_by_role_.erase(it);
}

void ReadStreams::Watch() {
  const absl::Duration tick =
      std::clamp(options_.stall_timeout / 4, absl::Milliseconds(10), absl::Seconds(1));
  std::unique_lock<std::mutex> lock(mu_);
  while (!cv_.wait_for(lock, absl::ToChronoMilliseconds(tick), [&] { return stop_; })) {
    const absl::Time now = absl::Now();
    for (Ticket* t : tickets_) {
      if (t->stalled_ || now - t->write_since_ < options_.stall_timeout) continue;
      // Under mu_: the ticket, and so its call, is alive until Release.
      t->stalled_ = true;
      stalled_total_.fetch_add(1);
      StalledCounter().Increment();
      LOG(WARNING) << t->method_ << " from " << t->context_->peer() << " (role " << t->role_
                   << "): the client read nothing for "
                   << absl::FormatDuration(options_.stall_timeout)
                   << "; ending the stream ([persistor] stream_stall_timeout)";
      t->context_->TryCancel();
    }
  }
}

ReadStreams::Ticket::~Ticket() { owner_->Release(this); }

void ReadStreams::Ticket::Arm() {
  std::lock_guard<std::mutex> lock(owner_->mu_);
  write_since_ = absl::Now();
}

void ReadStreams::Ticket::Disarm() {
  std::lock_guard<std::mutex> lock(owner_->mu_);
  write_since_ = absl::InfiniteFuture();
}

absl::Status ReadStreams::Ticket::WriteFailed() const {
  std::lock_guard<std::mutex> lock(owner_->mu_);
  if (stalled_) {
    return absl::DeadlineExceededError(
        absl::StrCat(method_, ": the client read nothing for ",
                     absl::FormatDuration(owner_->options_.stall_timeout),
                     "; stream ended ([persistor] stream_stall_timeout)"));
  }
  return absl::CancelledError("client went away");
}

}  // namespace vitrage::persistor
