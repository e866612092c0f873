// One MySQL/MariaDB connection, and the only place where Connector/C++
// exceptions are caught. Everything here returns absl::Status:
//
//   2006, 2013 (server gone / lost connection), 2002, 2003, 2055 (cannot
//   connect), 1053, 1927 (shutdown / killed), 1047 (Galera node not ready)
//                                   -> UNAVAILABLE, the connection is broken
//   1213 (deadlock; on Galera also a certification failure or a brute-
//   force abort by another node's commit, at any statement or at COMMIT),
//   1205 (lock wait timeout; on Galera also a wsrep_sync_wait that timed
//   out while the cluster reconfigures)       -> ABORTED (retry the txn)
//   1062 (duplicate key)                        -> ALREADY_EXISTS
//   anything else                               -> INTERNAL
//
// Messages name the server by DatabaseUrl::Redacted() and never contain the
// password. A Connection is not thread-safe: one thread at a time.
#ifndef VITRAGE_PERSISTOR_SERVICE_MYSQL_CONNECTION_H_
#define VITRAGE_PERSISTOR_SERVICE_MYSQL_CONNECTION_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/config.h"

namespace sql {
class Connection;
class PreparedStatement;
}  // namespace sql

namespace vitrage::persistor::mysql {

struct ConnectOptions {
  DatabaseUrl url;
  absl::Duration connect_timeout = absl::Seconds(5);
  // A statement that gets no answer for this long fails with UNAVAILABLE.
  absl::Duration read_timeout = absl::Seconds(120);
};

// One result row; a NULL cell is std::nullopt. Cells are raw bytes.
using Row = std::vector<std::optional<std::string>>;

class Connection {
 public:
  // Connects and sets the session up: sql_mode without NO_BACKSLASH_ESCAPES,
  // UTC, binary character set, autocommit on, wsrep_sync_wait=1 on Galera.
  static absl::StatusOr<std::unique_ptr<Connection>> Open(const ConnectOptions& options);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs a statement that returns no rows; returns the affected row count
  // (rows actually changed, MySQL semantics).
  absl::StatusOr<uint64_t> Execute(const std::string& sql);
  // Runs `sql` (with ? placeholders) as a server-side prepared statement,
  // prepared once per connection and kept (at most kMaxPrepared texts),
  // after `bind` set its parameters; returns the affected row count.
  // Values travel in the binary protocol: no literal to escape and no
  // statement text for the server to parse again. Errors as Execute.
  static constexpr size_t kMaxPrepared = 8;
  absl::StatusOr<uint64_t> ExecutePrepared(
      const std::string& sql, const std::function<void(sql::PreparedStatement*)>& bind);
  // Runs a query; the whole result is buffered in memory.
  absl::StatusOr<std::vector<Row>> Query(const std::string& sql);

  // A cheap liveness check for the health monitor: SELECT 1, and on a Galera
  // node also wsrep_ready. A node outside the primary component (quorum
  // lost) or not yet synced still answers SELECT 1 (a SELECT without tables
  // is allowed there) but refuses every table access with 1047: such a node
  // is UNAVAILABLE here too.
  absl::Status Ping();

  absl::Status Begin() { return Execute("START TRANSACTION").status(); }
  // An explicit COMMIT statement: Connector/C++ 1.1.12's commit() returns
  // normally when the server rolled back.
  absl::Status Commit() { return Execute("COMMIT").status(); }
  // Best effort; errors are ignored (a broken connection rolls back anyway).
  void Rollback();

  // True after an error that left the connection unusable (UNAVAILABLE).
  bool broken() const { return broken_; }
  const std::string& server() const { return server_; }

 private:
  Connection(std::unique_ptr<sql::Connection> conn, std::string server);

  // Maps a Connector/C++ exception thrown by a statement to a status and
  // marks the connection broken when it is.
  absl::Status StatementError(const std::exception& e, const std::string& sql);

  std::unique_ptr<sql::Connection> conn_;
  // Prepared statements by text; released before conn_ closes.
  std::map<std::string, std::unique_ptr<sql::PreparedStatement>> prepared_;
  std::string server_;  // redacted URL, for messages
  bool broken_ = false;
};

// Appends `bytes` to `sql` as a string literal ('...'), escaping every byte
// the MySQL lexer treats specially. Connections from Open() use the binary
// character set (SET NAMES binary), so the literal's bytes are stored as
// they are in a BLOB column.
void AppendBlobLiteral(absl::string_view bytes, std::string* sql);
// A quoted string literal for text columns (owner names...); bytes outside
// printable ASCII become '?'.
std::string QuoteString(absl::string_view text);

// Parses an unsigned integer cell; a NULL or malformed cell is INTERNAL.
absl::StatusOr<uint64_t> CellToUint(const std::optional<std::string>& cell, absl::string_view what);
absl::StatusOr<double> CellToDouble(const std::optional<std::string>& cell, absl::string_view what);

// The mapping described above; exposed for tests.
absl::Status StatusFromMysqlError(int code, absl::string_view sqlstate, absl::string_view message,
                                  absl::string_view server, absl::string_view context);
// True for error codes that mean the connection is gone.
bool IsConnectionError(int code);

}  // namespace vitrage::persistor::mysql

#endif  // VITRAGE_PERSISTOR_SERVICE_MYSQL_CONNECTION_H_
