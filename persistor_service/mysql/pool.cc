#include "persistor_service/mysql/pool.h"

#include <glog/logging.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace vitrage::persistor::mysql {
namespace {
constexpr absl::Duration kMinBackoff = absl::Milliseconds(100);
constexpr absl::Duration kMaxBackoff = absl::Seconds(2);
// Start of the message of a connect refused during the backoff. Callers
// report such a status back (ReportFailure); it is not a new failure: it
// must neither double the backoff nor become last_error (which it quotes,
// so the message would nest and grow on every refusal).
constexpr char kRefusedPrefix[] = "database unreachable (next reconnect attempt in ";
}  // namespace

ConnectionPool::Lease& ConnectionPool::Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    Return();
    pool_ = other.pool_;
    conn_ = std::move(other.conn_);
    read_ = other.read_;
    other.pool_ = nullptr;
  }
  return *this;
}

ConnectionPool::Lease::~Lease() { Return(); }

void ConnectionPool::Lease::Return() {
  if (pool_ != nullptr && conn_ != nullptr) pool_->Release(std::move(conn_), read_);
  pool_ = nullptr;
}

ConnectionPool::ConnectionPool(ConnectOptions options, Limits limits)
    : options_(std::move(options)), limits_(std::move(limits)) {}

absl::StatusOr<ConnectionPool::Lease> ConnectionPool::Acquire(Use use, absl::Duration wait) {
  const bool read = use == Use::kRead;
  const size_t cap = std::max<size_t>(1, read ? limits_.read : limits_.write);
  std::unique_ptr<Connection> conn;
  {
    std::unique_lock<std::mutex> lock(mu_);
    size_t& leased = read ? leased_read_ : leased_write_;
    if (!returned_.wait_for(lock, absl::ToChronoMilliseconds(wait), [&] { return leased < cap; })) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "all ", cap, " database connections for ", read ? "reads" : "writes",
          " stayed in use for ", absl::FormatDuration(wait), " (", limits_.setting, ")"));
    }
    ++leased;  // taken before connecting, so the cap holds while we do
    if (!idle_.empty()) {
      conn = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(conn), read);
    }
  }
  absl::StatusOr<std::unique_ptr<Connection>> opened = Connect();
  if (!opened.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    --(read ? leased_read_ : leased_write_);
    returned_.notify_one();
    return opened.status();
  }
  return Lease(this, std::move(*opened), read);
}

absl::StatusOr<std::unique_ptr<Connection>> ConnectionPool::Connect() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    absl::Time now = absl::Now();
    if (now < next_attempt_) {
      return absl::UnavailableError(absl::StrCat(
          kRefusedPrefix, absl::FormatDuration(next_attempt_ - now), "): ", last_error_));
    }
  }
  absl::StatusOr<std::unique_ptr<Connection>> conn = Connection::Open(options_);
  if (conn.ok()) {
    ReportSuccess();
  } else {
    ReportFailure(conn.status());
  }
  return conn;
}

void ConnectionPool::ReportSuccess() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!reachable_) {
    LOG(INFO) << "database " << options_.url.Redacted() << " is reachable again after "
              << absl::FormatDuration(
                     absl::Trunc(absl::Now() - unreachable_since_, absl::Milliseconds(1)))
              << " unreachable";
  }
  reachable_ = true;
  unreachable_since_ = absl::InfinitePast();
  backoff_ = absl::ZeroDuration();
  next_attempt_ = absl::InfinitePast();
}

void ConnectionPool::ReportFailure(const absl::Status& status) {
  if (status.code() != absl::StatusCode::kUnavailable) return;
  if (absl::StartsWith(status.message(), kRefusedPrefix)) return;
  std::vector<std::unique_ptr<Connection>> dead;
  std::lock_guard<std::mutex> lock(mu_);
  if (reachable_) {
    LOG(WARNING) << "database " << options_.url.Redacted()
                 << " is unreachable, reconnecting with backoff: " << status.message();
    unreachable_since_ = absl::Now();
  }
  reachable_ = false;
  last_error_ = std::string(status.message());
  backoff_ = backoff_ == absl::ZeroDuration() ? kMinBackoff : std::min(kMaxBackoff, backoff_ * 2);
  next_attempt_ = absl::Now() + backoff_;
  dead.swap(idle_);
}

void ConnectionPool::DropIdle() {
  std::vector<std::unique_ptr<Connection>> dead;
  std::lock_guard<std::mutex> lock(mu_);
  dead.swap(idle_);
}

bool ConnectionPool::reachable() const {
  std::lock_guard<std::mutex> lock(mu_);
  return reachable_;
}

std::string ConnectionPool::last_error() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_error_;
}

absl::Time ConnectionPool::unreachable_since() const {
  std::lock_guard<std::mutex> lock(mu_);
  return reachable_ ? absl::InfinitePast() : unreachable_since_;
}

absl::Duration ConnectionPool::next_attempt_in() const {
  std::lock_guard<std::mutex> lock(mu_);
  return std::max(absl::ZeroDuration(), next_attempt_ - absl::Now());
}

size_t ConnectionPool::leased(Use use) const {
  std::lock_guard<std::mutex> lock(mu_);
  return use == Use::kRead ? leased_read_ : leased_write_;
}

void ConnectionPool::Release(std::unique_ptr<Connection> conn, bool read) {
  std::lock_guard<std::mutex> lock(mu_);
  --(read ? leased_read_ : leased_write_);
  returned_.notify_all();
  // Leased + idle never exceeds write + read: a connection is opened only
  // when none is idle, under its cap.
  if (!conn->broken()) idle_.push_back(std::move(conn));
}

}  // namespace vitrage::persistor::mysql
