#include "common/testing/galera_fixture.h"

#include <dirent.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"

namespace vitrage::testing {
namespace {

constexpr char kMariadbd[] = "/usr/sbin/mariadbd";
constexpr char kProvider[] = "/usr/lib/galera/libgalera_smm.so";

bool IsRoot() { return geteuid() == 0; }

std::string Tail(const std::string& text, size_t bytes) {
  return text.size() > bytes ? text.substr(text.size() - bytes) : text;
}

}  // namespace

GaleraCluster::GaleraCluster(Options options)
    : options_(std::move(options)), nodes_(options_.nodes) {}

GaleraCluster::~GaleraCluster() {
  (void)Stop();
  if (own_dir_ && std::getenv("VITRAGE_KEEP_GALERA") == nullptr) {
    RemoveTree(dir_);
  }
}

std::string GaleraCluster::node_dir(int i) const { return absl::StrCat(dir_, "/node", i); }

std::string GaleraCluster::url(int i) const {
  return absl::StrCat("mysql://root@127.0.0.1:", nodes_[i].sql_port, "/", options_.database);
}

std::string GaleraCluster::LogTail(int i, size_t bytes) const {
  return Tail(ReadFileOrEmpty(error_log(i)), bytes);
}

bool GaleraCluster::running(int i) { return nodes_[i].server.running(); }

std::vector<std::string> GaleraCluster::AsRunUser(std::vector<std::string> argv) const {
  if (run_user_.empty()) return argv;
  // setpriv execs in place (same pid) and sets the parent-death signal
  // again after the uid change (which clears it).
  std::vector<std::string> out = {"setpriv",       "--reuid=" + run_user_, "--regid=" + run_user_,
                                  "--init-groups", "--pdeathsig",          "KILL"};
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

absl::Status GaleraCluster::Prepare() {
  if (prepared_) return absl::OkStatus();
  if (options_.nodes < 1) {
    return absl::InvalidArgumentError("GaleraCluster needs at least one node");
  }
  if (!std::filesystem::exists(kProvider)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "Galera provider ", kProvider, " not found: install galera-4 (deploy/install-deps.sh)"));
  }
  if (options_.dir.empty()) {
    auto d = MakeTempDir("vitrage-galera");
    if (!d.ok()) return d.status();
    dir_ = *d;
    own_dir_ = true;
  } else {
    dir_ = options_.dir;
    std::filesystem::create_directories(dir_);
  }
  if (IsRoot()) {
    // rsync state transfer as root cannot write the datadir (see the
    // header); run as mysql.
    if (getpwnam("mysql") == nullptr) {
      return absl::FailedPreconditionError(
          "running as root but there is no 'mysql' user to run mariadbd as "
          "(install mariadb-server)");
    }
    run_user_ = "mysql";
    // mkdtemp makes the dir 0700: the run user must reach its node dirs.
    chmod(dir_.c_str(), 0755);
  }
  for (int i = 0; i < options_.nodes; ++i) {
    Node& n = nodes_[i];
    n.sql_port = PickFreePort();
    n.gcomm_port = PickFreePort();
    n.ist_port = PickFreePort();
    n.sst_port = PickFreePort();
    if (n.sql_port == 0 || n.gcomm_port == 0 || n.ist_port == 0 || n.sst_port == 0) {
      return absl::InternalError("no free port on 127.0.0.1");
    }
    std::filesystem::create_directories(node_dir(i) + "/data");
    std::filesystem::create_directories(node_dir(i) + "/tmp");
  }
  for (int i = 0; i < options_.nodes; ++i) {
    if (absl::Status s = WriteConfig(i); !s.ok()) return s;
  }
  if (!run_user_.empty()) {
    auto rc = RunCommand({"chown", "-R", run_user_ + ":", dir_}, "", absl::Seconds(30));
    if (!rc.ok()) return rc.status();
    if (*rc != 0) return absl::InternalError("chown -R " + run_user_ + " failed");
  }
  prepared_ = true;
  return absl::OkStatus();
}

absl::Status GaleraCluster::WriteConfig(int i) {
  const std::string d = node_dir(i);
  const Node& n = nodes_[i];
  std::vector<std::string> members;
  for (const Node& m : nodes_) {
    members.push_back(absl::StrCat("127.0.0.1:", m.gcomm_port));
  }
  std::string provider_options =
      absl::StrCat("gmcast.listen_addr=tcp://127.0.0.1:", n.gcomm_port,
                   ";ist.recv_addr=127.0.0.1:", n.ist_port, ";gcache.size=64M");
  if (options_.fast_evict) {
    // Galera requires keepalive and join_retrans <= suspect/3 and
    // inactive_check <= suspect/2.
    absl::StrAppend(&provider_options,
                    ";evs.suspect_timeout=PT1S;evs.inactive_timeout=PT3S"
                    ";evs.inactive_check_period=PT0.3S;evs.keepalive_period=PT0.3S"
                    ";evs.join_retrans_period=PT0.3S");
  }
  std::ofstream out(d + "/my.cnf");
  out << "[mysqld]\n"
      << "datadir = " << d << "/data\n"
      << "socket = " << d << "/mariadbd.sock\n"
      << "pid-file = " << d << "/mariadbd.pid\n"
      << "log-error = " << d << "/error.log\n"
      << "port = " << n.sql_port << "\n"
      << "bind-address = 127.0.0.1\n"
      << "skip-name-resolve\n"
      << "tmpdir = " << d << "/tmp\n"
      << "max_connections = 500\n"
      << "innodb_buffer_pool_size = 128M\n"
      << "binlog_format = ROW\n"
      << "default_storage_engine = InnoDB\n"
      << "innodb_autoinc_lock_mode = 2\n"
      << "wsrep_on = ON\n"
      << "wsrep_provider = " << kProvider << "\n"
      << "wsrep_cluster_name = vitrage_test\n"
      << "wsrep_cluster_address = gcomm://" << absl::StrJoin(members, ",") << "\n"
      << "wsrep_node_name = node" << i << "\n"
      << "wsrep_node_address = 127.0.0.1:" << n.gcomm_port << "\n"
      << "wsrep_node_incoming_address = 127.0.0.1:" << n.sql_port << "\n"
      << "wsrep_sst_receive_address = 127.0.0.1:" << n.sst_port << "\n"
      << "wsrep_sst_method = rsync\n"
      << "wsrep_sst_auth = root:\n"
      // A table without a primary key, or not InnoDB, is an error here, so
      // tests catch a schema Galera cannot replicate well.
      << "wsrep_mode = REQUIRED_PRIMARY_KEY,STRICT_REPLICATION\n"
      << "wsrep_provider_options = \"" << provider_options << "\"\n";
  for (const std::string& line : options_.extra_config) out << line << "\n";
  out << "\n[sst]\n"
      // mariabackup SST would archive its logs to /tmp otherwise.
      << "sst-log-archive = 0\n";
  out.close();
  if (!out.good()) return absl::InternalError("cannot write " + d + "/my.cnf");
  return absl::OkStatus();
}

absl::Status GaleraCluster::InstallAll() {
  // In parallel, each with its own TMPDIR (parallel runs sharing /tmp fail
  // with "Unknown table 'mysql.tmp_user_sys'").
  std::vector<Process> installs;
  for (int i = 0; i < options_.nodes; ++i) {
    const std::string d = node_dir(i);
    auto p =
        Process::Start(AsRunUser({"mariadb-install-db", "--no-defaults", "--datadir=" + d + "/data",
                                  "--tmpdir=" + d + "/tmp",
                                  "--auth-root-authentication-method=normal", "--skip-test-db"}),
                       d + "/install-db.log", {"TMPDIR=" + d + "/tmp"});
    if (!p.ok()) return p.status();
    installs.push_back(std::move(*p));
  }
  absl::Status result;
  for (int i = 0; i < options_.nodes; ++i) {
    auto st = installs[i].Wait(absl::Seconds(120));
    if (!st.ok()) {
      installs[i].Kill9();
      result.Update(st.status());
    } else if (!WIFEXITED(*st) || WEXITSTATUS(*st) != 0) {
      result.Update(absl::InternalError(absl::StrCat(
          "mariadb-install-db for node ", i, " failed (status ", *st, "); see ", node_dir(i),
          "/install-db.log:\n", Tail(ReadFileOrEmpty(node_dir(i) + "/install-db.log"), 2000))));
    }
  }
  return result;
}

absl::Status GaleraCluster::Launch(int i, std::vector<std::string> extra_args) {
  Node& n = nodes_[i];
  if (n.server.running()) return absl::OkStatus();
  std::filesystem::remove(node_dir(i) + "/mariadbd.pid");
  // --defaults-file must be the first argument: the SST scripts re-read it.
  std::vector<std::string> argv = {kMariadbd, "--defaults-file=" + node_dir(i) + "/my.cnf"};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  auto p = Process::Start(AsRunUser(argv), node_dir(i) + "/stdout.log");
  if (!p.ok()) return p.status();
  n.server = std::move(*p);
  return absl::OkStatus();
}

absl::StatusOr<GaleraCluster::NodeState> GaleraCluster::State(int i) const {
  auto out = Query(i,
                   "SHOW STATUS WHERE Variable_name IN ('wsrep_cluster_size',"
                   "'wsrep_cluster_status','wsrep_local_state_comment','wsrep_ready')",
                   /*use_database=*/false);
  if (!out.ok()) return out.status();
  NodeState st;
  for (absl::string_view line : absl::StrSplit(*out, '\n', absl::SkipEmpty())) {
    std::pair<std::string, std::string> kv = absl::StrSplit(line, '\t');
    if (kv.first == "wsrep_cluster_size") {
      (void)absl::SimpleAtoi(kv.second, &st.cluster_size);
    } else if (kv.first == "wsrep_cluster_status") {
      st.cluster_status = kv.second;
    } else if (kv.first == "wsrep_local_state_comment") {
      st.local_state = kv.second;
    } else if (kv.first == "wsrep_ready") {
      st.ready = kv.second == "ON";
    }
  }
  return st;
}

absl::Status GaleraCluster::WaitSynced(int i, absl::Duration timeout, int size) {
  absl::Time deadline = absl::Now() + timeout;
  std::string last = "no answer";
  while (true) {
    if (!nodes_[i].server.running()) {
      return absl::InternalError(absl::StrCat("galera node ", i, " (port ", nodes_[i].sql_port,
                                              ") exited; tail of ", error_log(i), ":\n",
                                              LogTail(i)));
    }
    auto st = State(i);
    if (st.ok()) {
      if (st->synced() && (size <= 0 || st->cluster_size == size)) {
        return absl::OkStatus();
      }
      last = absl::StrCat(st->local_state, ", ", st->cluster_status, ", size ", st->cluster_size,
                          ", ready ", st->ready ? "ON" : "OFF");
    }
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("galera node ", i, " (port ", nodes_[i].sql_port, ") not Synced",
                       size > 0 ? absl::StrCat(" in a cluster of ", size) : "", " within ",
                       absl::FormatDuration(timeout), " (last: ", last, "); tail of ", error_log(i),
                       ":\n", LogTail(i)));
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
}

absl::Status GaleraCluster::Start() {
  absl::Time t0 = absl::Now();
  if (absl::Status s = Prepare(); !s.ok()) return s;
  if (absl::Status s = InstallAll(); !s.ok()) return s;
  auto fail = [&](absl::Status s) {
    (void)Stop();
    return s;
  };
  if (absl::Status s = Launch(0, {"--wsrep-new-cluster"}); !s.ok()) return fail(s);
  if (absl::Status s = WaitSynced(0, absl::Seconds(60)); !s.ok()) return fail(s);
  // One joiner at a time: a second joiner would only wait for the donor.
  for (int i = 1; i < options_.nodes; ++i) {
    if (absl::Status s = Launch(i, {}); !s.ok()) return fail(s);
    if (absl::Status s = WaitSynced(i, absl::Seconds(90)); !s.ok()) return fail(s);
  }
  auto created = Query(0, absl::StrCat("CREATE DATABASE IF NOT EXISTS `", options_.database, "`"),
                       /*use_database=*/false);
  if (!created.ok()) return fail(created.status());
  std::fprintf(stderr, "galera: %d nodes Synced in %.1f s (%s)\n", options_.nodes,
               absl::ToDoubleSeconds(absl::Now() - t0), dir_.c_str());
  return absl::OkStatus();
}

std::vector<pid_t> GaleraCluster::Descendants(pid_t root) const {
  std::multimap<pid_t, pid_t> children;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return {};
  while (dirent* e = readdir(proc)) {
    pid_t pid = 0;
    if (!absl::SimpleAtoi(e->d_name, &pid)) continue;
    std::string stat = ReadFileOrEmpty(absl::StrCat("/proc/", pid, "/stat"));
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    size_t close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::vector<std::string> fields =
        absl::StrSplit(stat.substr(close + 2), ' ', absl::SkipEmpty());
    pid_t ppid = 0;
    if (fields.size() > 1 && absl::SimpleAtoi(fields[1], &ppid)) {
      children.emplace(ppid, pid);
    }
  }
  closedir(proc);
  std::vector<pid_t> out;
  std::vector<pid_t> todo = {root};
  while (!todo.empty()) {
    pid_t p = todo.back();
    todo.pop_back();
    auto [a, b] = children.equal_range(p);
    for (auto it = a; it != b; ++it) {
      out.push_back(it->second);
      todo.push_back(it->second);
    }
  }
  return out;
}

void GaleraCluster::KillDescendants(const std::vector<pid_t>& pids) {
  for (pid_t p : pids) kill(p, SIGKILL);
}

void GaleraCluster::KillNode(int i) {
  Node& n = nodes_[i];
  if (!n.server.running()) return;
  std::vector<pid_t> helpers = Descendants(n.server.pid());
  n.server.Kill9();
  KillDescendants(helpers);
}

absl::Status GaleraCluster::StopNode(int i) {
  Node& n = nodes_[i];
  if (!n.server.running()) return absl::OkStatus();
  std::vector<pid_t> helpers = Descendants(n.server.pid());
  // A node stuck in a state transfer ignores SIGTERM: SIGKILL after 60 s.
  n.server.Stop(absl::Seconds(60));
  KillDescendants(helpers);
  return absl::OkStatus();
}

absl::Status GaleraCluster::Stop() {
  std::vector<std::vector<pid_t>> helpers(nodes_.size());
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (!nodes_[i].server.running()) continue;
    helpers[i] = Descendants(nodes_[i].server.pid());
    nodes_[i].server.Signal(SIGTERM);
  }
  for (size_t i = 0; i < nodes_.size(); ++i) {
    nodes_[i].server.Stop(absl::Seconds(60));
    KillDescendants(helpers[i]);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> GaleraCluster::RecoveredPosition(int i) {
  // After a crash grastate.dat says seqno -1: take the position from
  // InnoDB, what galera_recovery does under systemd.
  std::string grastate = ReadFileOrEmpty(node_dir(i) + "/data/grastate.dat");
  if (grastate.find("seqno:   -1") == std::string::npos &&
      grastate.find("seqno: -1") == std::string::npos) {
    return std::string();
  }
  const std::string log = node_dir(i) + "/recover.log";
  std::filesystem::remove(log);
  auto rc = RunCommand(AsRunUser({kMariadbd, "--defaults-file=" + node_dir(i) + "/my.cnf",
                                  "--wsrep-recover", "--log-error=" + log}),
                       node_dir(i) + "/recover.stdout", absl::Seconds(60));
  if (!rc.ok()) return rc.status();
  std::string text = ReadFileOrEmpty(log);
  const std::string kMarker = "WSREP: Recovered position: ";
  size_t at = text.rfind(kMarker);
  if (at == std::string::npos) return std::string();
  std::string pos = text.substr(at + kMarker.size());
  pos = pos.substr(0, pos.find('\n'));
  return std::string(absl::StripAsciiWhitespace(pos));
}

absl::Status GaleraCluster::RestartNode(int i, absl::Duration timeout) {
  if (nodes_[i].server.running()) return WaitSynced(i, timeout);
  auto pos = RecoveredPosition(i);
  if (!pos.ok()) return pos.status();
  std::vector<std::string> args;
  if (!pos->empty()) args.push_back("--wsrep-start-position=" + *pos);
  if (absl::Status s = Launch(i, args); !s.ok()) return s;
  return WaitSynced(i, timeout);
}

absl::Status GaleraCluster::BootstrapFrom(int i) {
  return Query(i, "SET GLOBAL wsrep_provider_options='pc.bootstrap=YES'",
               /*use_database=*/false)
      .status();
}

absl::StatusOr<std::string> GaleraCluster::Query(int i, const std::string& sql,
                                                 bool use_database) const {
  static std::atomic<uint64_t> counter{0};
  std::string out = absl::StrCat(dir_, "/query-", getpid(), "-", counter++, ".out");
  std::vector<std::string> argv = {"mariadb",     "--no-defaults",
                                   "-h127.0.0.1", absl::StrCat("-P", nodes_[i].sql_port),
                                   "-uroot",      "--connect-timeout=2",
                                   "-N",          "-B",
                                   "-e",          sql};
  if (use_database) argv.push_back(options_.database);
  auto rc = RunCommand(argv, out, absl::Seconds(60));
  std::string text = ReadFileOrEmpty(out);
  std::filesystem::remove(out);
  if (!rc.ok()) return rc.status();
  if (*rc != 0) {
    return absl::UnavailableError(
        absl::StrCat("node ", i, ": mariadb -e \"", sql, "\" exited ", *rc, ": ", text));
  }
  return text;
}

}  // namespace vitrage::testing
