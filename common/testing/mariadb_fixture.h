// A private MariaDB server for tests, benchmarks and the local stack.
//
// Start() runs mariadb-install-db into a fresh temp dir, starts mariadbd
// --no-defaults on 127.0.0.1 and a free port (and a unix socket in the same
// dir), waits until it answers, and creates the database. Stop() ends it by
// its pid; the destructor also removes the directory. It never touches a
// system database, /etc/mysql or /var/lib/mysql.
//
// Stock durability settings are kept (innodb_flush_log_at_trx_commit=1):
// that is what makes the persistor's acks durable.
#ifndef VITRAGE_COMMON_TESTING_MARIADB_FIXTURE_H_
#define VITRAGE_COMMON_TESTING_MARIADB_FIXTURE_H_

#include <string>

#include "absl/status/status.h"
#include "common/testing/process.h"

namespace vitrage::testing {

class MariaDbFixture {
 public:
  struct Options {
    std::string database = "vitrage";
    // Directory to use; empty: a fresh temp dir, removed by the destructor.
    std::string dir;
    // Extra mariadbd arguments, e.g. "--max-allowed-packet=4M".
    std::vector<std::string> extra_args;
  };

  MariaDbFixture() : MariaDbFixture(Options{}) {}
  explicit MariaDbFixture(Options options);
  ~MariaDbFixture();
  MariaDbFixture(const MariaDbFixture&) = delete;
  MariaDbFixture& operator=(const MariaDbFixture&) = delete;

  // Initializes the datadir (first time only), starts mariadbd, waits until
  // it answers (up to 60 s), creates the database if missing.
  absl::Status Start();
  // SIGTERM + wait (clean shutdown). The datadir stays.
  absl::Status Stop();
  // SIGKILL: a crash. The datadir stays; Start() again recovers it.
  void Kill9();
  // Stop (if running) + Start on the same port and datadir.
  absl::Status Restart();

  bool running() { return server_.running(); }
  // Makes the first start try `port` (tests of the retry).
  void SetPortForTest(int port) { port_ = port; }
  pid_t pid() const { return server_.pid(); }
  int port() const { return port_; }
  const std::string& dir() const { return dir_; }
  const std::string& socket() const { return socket_; }
  const std::string& error_log() const { return error_log_; }
  const std::string& database() const { return options_.database; }

  // mysql://root@127.0.0.1:PORT/DATABASE
  std::string url() const;

  // Runs SQL through the mariadb client as root on the socket; returns the
  // client's output (tab-separated, no column names).
  absl::StatusOr<std::string> Query(const std::string& sql, bool use_database = true) const;

 private:
  absl::Status InstallDb();
  std::string tmpdir() const { return dir_ + "/tmp"; }
  // One start attempt; UNAVAILABLE when the port was taken.
  absl::Status StartOnce();

  Options options_;
  bool own_dir_ = false;
  bool installed_ = false;
  bool started_once_ = false;
  std::string dir_;
  std::string datadir_;
  std::string socket_;
  std::string error_log_;
  int port_ = 0;
  Process server_;
};

}  // namespace vitrage::testing

#endif  // VITRAGE_COMMON_TESTING_MARIADB_FIXTURE_H_
