// A small pool of Connections shared by the RPC handlers, with the
// reconnect backoff: after a failed connect, further attempts are refused
// with UNAVAILABLE (quickly, naming the last error) until the backoff
// (100 ms doubling to 2 s) has passed. A successful connect resets it.
//
// The pool is capped: at most Limits::write connections are leased for
// writes (AcquireEpoch, snapshots, retention) and at most Limits::read for
// reads (ReadLog, GetLatestSnapshot, GetStatus), so the pool never holds
// more than write + read connections and readers can never take the ones
// the writes need. An Acquire beyond its cap waits for a lease to come back
// and then fails with RESOURCE_EXHAUSTED naming the limit.
#ifndef VITRAGE_PERSISTOR_SERVICE_MYSQL_POOL_H_
#define VITRAGE_PERSISTOR_SERVICE_MYSQL_POOL_H_

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "persistor_service/mysql/connection.h"

namespace vitrage::persistor::mysql {

class ConnectionPool {
 public:
  // Gives a connection back to the pool when destroyed, unless it broke.
  class Lease {
   public:
    Lease() = default;
    Lease(ConnectionPool* pool, std::unique_ptr<Connection> conn, bool read)
        : pool_(pool), conn_(std::move(conn)), read_(read) {}
    Lease(Lease&& other) noexcept { *this = std::move(other); }
    Lease& operator=(Lease&& other) noexcept;
    ~Lease();
    Connection* operator->() const { return conn_.get(); }
    Connection& operator*() const { return *conn_; }
    Connection* get() const { return conn_.get(); }

   private:
    void Return();

    ConnectionPool* pool_ = nullptr;
    std::unique_ptr<Connection> conn_;
    bool read_ = false;
  };

  enum class Use { kWrite, kRead };
  struct Limits {
    size_t write = 4;
    size_t read = 8;
    // Names the setting in RESOURCE_EXHAUSTED messages.
    std::string setting = "[persistor] max_db_connections";
  };

  ConnectionPool(ConnectOptions options, Limits limits);

  // An idle connection or a new one, once fewer than the cap of `use` are
  // leased; waits up to `wait` for that. UNAVAILABLE while the database is
  // unreachable (see the backoff above); RESOURCE_EXHAUSTED when every
  // connection of `use` stayed leased for `wait`.
  absl::StatusOr<Lease> Acquire(Use use = Use::kWrite, absl::Duration wait = absl::Seconds(10));
  // A new connection that is not pooled (the writer and the monitor own
  // theirs), under the same backoff.
  absl::StatusOr<std::unique_ptr<Connection>> Connect();

  // Records the outcome of a database call made outside the pool, so that
  // reachability reflects it.
  void ReportSuccess();
  void ReportFailure(const absl::Status& status);
  // Drops every idle connection (after the server restarted, they are all
  // dead).
  void DropIdle();

  bool reachable() const;
  std::string last_error() const;
  // When the database became unreachable (InfinitePast while reachable).
  absl::Time unreachable_since() const;
  // How long until the next connect attempt the backoff allows (zero: now).
  absl::Duration next_attempt_in() const;
  // Connections leased now for `use`.
  size_t leased(Use use) const;
  const Limits& limits() const { return limits_; }
  const ConnectOptions& options() const { return options_; }

 private:
  void Release(std::unique_ptr<Connection> conn, bool read);

  const ConnectOptions options_;
  const Limits limits_;
  mutable std::mutex mu_;
  std::condition_variable returned_;
  size_t leased_read_ = 0;
  size_t leased_write_ = 0;
  std::vector<std::unique_ptr<Connection>> idle_;
  bool reachable_ = true;
  std::string last_error_;
  absl::Time unreachable_since_ = absl::InfinitePast();
  absl::Duration backoff_ = absl::ZeroDuration();
  absl::Time next_attempt_ = absl::InfinitePast();
};

}  // namespace vitrage::persistor::mysql

#endif  // VITRAGE_PERSISTOR_SERVICE_MYSQL_POOL_H_
