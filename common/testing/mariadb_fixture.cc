#include "common/testing/mariadb_fixture.h"

#include <unistd.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace vitrage::testing {
namespace {

bool IsRoot() { return geteuid() == 0; }

}  // namespace

MariaDbFixture::MariaDbFixture(Options options) : options_(std::move(options)) {}

MariaDbFixture::~MariaDbFixture() {
  if (server_.running()) (void)Stop();
  if (own_dir_) RemoveTree(dir_);
}

std::string MariaDbFixture::url() const {
  return absl::StrCat("mysql://root@127.0.0.1:", port_, "/", options_.database);
}

absl::Status MariaDbFixture::InstallDb() {
  if (dir_.empty()) {
    if (options_.dir.empty()) {
      auto d = MakeTempDir("vitrage-mariadb");
      if (!d.ok()) return d.status();
      dir_ = *d;
      own_dir_ = true;
    } else {
      dir_ = options_.dir;
      std::filesystem::create_directories(dir_);
    }
    datadir_ = dir_ + "/data";
    socket_ = dir_ + "/mysqld.sock";
    error_log_ = dir_ + "/mariadbd.log";
  }
  if (std::filesystem::exists(datadir_ + "/mysql")) {
    installed_ = true;
    return absl::OkStatus();
  }
  // A private tmpdir: instances started side by side (ctest -j) must not
  // share temporary-table files in /tmp (seen: "Could not remove temporary
  // table ... Unknown table 'mysql.tmp_user_sys'").
  std::filesystem::create_directories(tmpdir());
  std::vector<std::string> argv = {"mariadb-install-db",
                                   "--no-defaults",
                                   "--datadir=" + datadir_,
                                   "--tmpdir=" + tmpdir(),
                                   "--auth-root-authentication-method=normal",
                                   "--skip-test-db"};
  if (IsRoot()) argv.push_back("--user=root");
  std::string log = dir_ + "/install-db.log";
  absl::StatusOr<int> rc;
  for (int attempt = 1; attempt <= 2; ++attempt) {
    rc = RunCommand(argv, log, absl::Seconds(120));
    if (!rc.ok() || *rc == 0) break;
    std::filesystem::remove_all(datadir_);  // a failed install leaves a partial datadir
  }
  if (!rc.ok()) return rc.status();
  if (*rc != 0) {
    return absl::InternalError(absl::StrCat("mariadb-install-db exited ", *rc, "; see ", log, ":\n",
                                            ReadFileOrEmpty(log).substr(0, 2000)));
  }
  installed_ = true;
  return absl::OkStatus();
}

absl::Status MariaDbFixture::Start() {
  if (server_.running()) return absl::OkStatus();
  if (!installed_) {
    if (absl::Status s = InstallDb(); !s.ok()) return s;
  }
  // The port is picked free a moment before mariadbd binds it; another
  // process may take it meanwhile. Then try again: with a new port on the
  // first start, with the same port (after a pause) on a restart, which must
  // keep its address.
  absl::Status s;
  for (int attempt = 1; attempt <= 5; ++attempt) {
    s = StartOnce();
    if (s.ok() || !absl::IsUnavailable(s)) return s;
    if (!started_once_) {
      port_ = 0;
    } else {
      absl::SleepFor(absl::Seconds(1));
    }
  }
  return s;
}

absl::Status MariaDbFixture::StartOnce() {
  if (port_ == 0) port_ = PickFreePort();
  if (port_ == 0) return absl::InternalError("no free port on 127.0.0.1");
  size_t log_offset = ReadFileOrEmpty(error_log_).size();
  std::filesystem::create_directories(tmpdir());
  // The redo log holds 1 GiB: with 256 MiB, the 1M-vertex tier of
  // service_bench filled it while a 64 MB snapshot was stored, and InnoDB
  // then held every commit (the journal's too) for 20-60 ms while it
  // flushed pages to move its checkpoint (docs/runbook.md, "Sizing
  // MariaDB"). The file is allocated, not written, at start.
  std::vector<std::string> argv = {"mariadbd",
                                   "--no-defaults",
                                   "--datadir=" + datadir_,
                                   "--tmpdir=" + tmpdir(),
                                   "--socket=" + socket_,
                                   absl::StrCat("--port=", port_),
                                   "--bind-address=127.0.0.1",
                                   "--log-error=" + error_log_,
                                   "--pid-file=" + dir_ + "/mariadbd.pid",
                                   "--skip-name-resolve",
                                   "--innodb-buffer-pool-size=256M",
                                   "--innodb-log-file-size=1G",
                                   "--max-connections=500"};
  if (IsRoot()) argv.push_back("--user=root");
  for (const auto& a : options_.extra_args) argv.push_back(a);
  auto p = Process::Start(argv, dir_ + "/mariadbd.stdout");
  if (!p.ok()) return p.status();
  server_ = std::move(*p);

  absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (true) {
    if (!server_.running()) {
      std::string log = ReadFileOrEmpty(error_log_);
      log = log.size() > log_offset ? log.substr(log_offset) : "";
      if (log.find("Address already in use") != std::string::npos ||
          log.find("Do you already have another server running on port") != std::string::npos) {
        return absl::UnavailableError(absl::StrCat("mariadbd: port ", port_, " is in use"));
      }
      return absl::InternalError(absl::StrCat("mariadbd exited during start-up; see ", error_log_,
                                              ":\n", log.substr(0, 4000)));
    }
    auto rc = RunCommand({"mariadb-admin", "--no-defaults", "--socket=" + socket_, "-uroot",
                          "--connect-timeout=2", "ping"},
                         dir_ + "/ping.log", absl::Seconds(10));
    if (rc.ok() && *rc == 0) break;
    if (absl::Now() > deadline) {
      server_.Kill9();
      return absl::DeadlineExceededError(
          absl::StrCat("mariadbd did not answer within 60 s; see ", error_log_));
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
  started_once_ = true;
  auto created = Query(absl::StrCat("CREATE DATABASE IF NOT EXISTS `", options_.database, "`"),
                       /*use_database=*/false);
  if (!created.ok()) return created.status();
  return absl::OkStatus();
}

absl::Status MariaDbFixture::Stop() {
  if (!server_.running()) return absl::OkStatus();
  server_.Stop(absl::Seconds(60));
  return absl::OkStatus();
}

void MariaDbFixture::Kill9() { server_.Kill9(); }

absl::Status MariaDbFixture::Restart() {
  if (absl::Status s = Stop(); !s.ok()) return s;
  return Start();
}

absl::StatusOr<std::string> MariaDbFixture::Query(const std::string& sql, bool use_database) const {
  std::string out = dir_ + "/query.out";
  std::vector<std::string> argv = {
      "mariadb", "--no-defaults", "--socket=" + socket_, "-uroot", "-N", "-B", "-e", sql};
  if (use_database) argv.push_back(options_.database);
  std::filesystem::remove(out);
  auto rc = RunCommand(argv, out, absl::Seconds(60));
  if (!rc.ok()) return rc.status();
  std::string text = ReadFileOrEmpty(out);
  if (*rc != 0) {
    return absl::InternalError(absl::StrCat("mariadb -e \"", sql, "\" exited ", *rc, ": ", text));
  }
  return text;
}

}  // namespace vitrage::testing
