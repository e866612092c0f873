// A small pool of Connections shared by the RPC handlers, with the
// reconnect backoff: after a failed connect, further attempts are refused
// with UNAVAILABLE (quickly, naming the last error) until the backoff
// (100 ms doubling to 2 s) has passed. A successful connect resets it.
#ifndef VITRAGE_PERSISTOR_SERVICE_MYSQL_POOL_H_
#define VITRAGE_PERSISTOR_SERVICE_MYSQL_POOL_H_

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
    Lease(ConnectionPool* pool, std::unique_ptr<Connection> conn)
        : pool_(pool), conn_(std::move(conn)) {}
    Lease(Lease&&) = default;
    Lease& operator=(Lease&&) = default;
    ~Lease();
    Connection* operator->() const { return conn_.get(); }
    Connection& operator*() const { return *conn_; }
    Connection* get() const { return conn_.get(); }

   private:
    ConnectionPool* pool_ = nullptr;
    std::unique_ptr<Connection> conn_;
  };

  ConnectionPool(ConnectOptions options, size_t max_idle);

  // An idle connection or a new one. UNAVAILABLE while the database is
  // unreachable (see the backoff above).
  absl::StatusOr<Lease> Acquire();
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
  const ConnectOptions& options() const { return options_; }

 private:
  void Release(std::unique_ptr<Connection> conn);

  const ConnectOptions options_;
  const size_t max_idle_;
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Connection>> idle_;
  bool reachable_ = true;
  std::string last_error_;
  absl::Duration backoff_ = absl::ZeroDuration();
  absl::Time next_attempt_ = absl::InfinitePast();
};

}  // namespace vitrage::persistor::mysql

#endif  // VITRAGE_PERSISTOR_SERVICE_MYSQL_POOL_H_
