// A private 3-node MariaDB Galera cluster on 127.0.0.1 for tests and
// benchmarks (the recipe verified in ../shared/recipes/galera/).
//
// Start() makes a temp dir with one sub dir per node (datadir, tmpdir, logs,
// my.cnf), runs mariadb-install-db for each node, bootstraps node 0
// (--wsrep-new-cluster) and joins nodes 1 and 2 one after the other (rsync
// state transfer), each time waiting until the node is Synced and ready,
// then creates the database (replicated). About 10-14 s on 2 cores.
//
// Every node has four free ports of its own: SQL, gcomm, IST, SST. All bind
// 127.0.0.1. Processes are ended by pid: SIGTERM (then SIGKILL after 60 s)
// on Stop(), SIGKILL on KillNode(); the state-transfer helpers a node leaves
// behind (wsrep_sst_rsync, rsync) are found as its descendants in /proc and
// killed by pid too. The destructor stops every node and removes the dir.
//
// Run user: as root, mariadbd runs as `mysql` (through `setpriv`, which
// also re-arms the parent-death signal that the uid change clears, so a
// crashed test leaves no node behind), and the dirs are chowned to it:
// rsync state transfer started by a root mariadbd drops to `nobody` and
// cannot write a root-owned datadir. Not root: the current user.
//
// Failure detection is shortened by default (evs.suspect_timeout=PT1S...):
// a dead node is evicted after about 1.5 s instead of about 6 s, during
// which commits on the other nodes pause.
#ifndef VITRAGE_COMMON_TESTING_GALERA_FIXTURE_H_
#define VITRAGE_COMMON_TESTING_GALERA_FIXTURE_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/testing/process.h"

namespace vitrage::testing {

class GaleraCluster {
 public:
  struct Options {
    int nodes = 3;
    std::string database = "vitrage";
    // Directory to use; empty: a fresh temp dir, removed by the destructor.
    std::string dir;
    // Shorter evs timers: eviction of a dead node in about 1.5 s.
    bool fast_evict = true;
    // Extra [mysqld] lines for every node's my.cnf, e.g.
    // "innodb_flush_log_at_trx_commit = 1".
    std::vector<std::string> extra_config;
  };

  // What a node says about itself (SHOW STATUS LIKE 'wsrep_%').
  struct NodeState {
    int cluster_size = 0;
    std::string cluster_status;  // Primary / non-Primary / Disconnected
    std::string local_state;     // Synced / Donor/Desynced / Joining / ...
    bool ready = false;          // wsrep_ready
    bool synced() const { return ready && local_state == "Synced" && cluster_status == "Primary"; }
  };

  GaleraCluster() : GaleraCluster(Options{}) {}
  explicit GaleraCluster(Options options);
  ~GaleraCluster();
  GaleraCluster(const GaleraCluster&) = delete;
  GaleraCluster& operator=(const GaleraCluster&) = delete;

  // Installs the datadirs, bootstraps node 0, joins the others, creates the
  // database. On failure every node started is stopped and the error names
  // the node and quotes the tail of its error log.
  absl::Status Start();
  // Stops every node (SIGTERM, in parallel) and waits; dirs stay until the
  // destructor.
  absl::Status Stop();

  // kill -9 of node i (and its state-transfer helpers). Its datadir stays.
  void KillNode(int i);
  // SIGTERM + wait (a clean leave).
  absl::Status StopNode(int i);
  // Starts a stopped or killed node again and waits until it is Synced
  // (up to `timeout`). After a crash it first recovers the node's position
  // (mariadbd --wsrep-recover) so that it rejoins with IST, not a full SST.
  absl::Status RestartNode(int i, absl::Duration timeout = absl::Seconds(90));
  // Makes the primary component again from node i after quorum was lost
  // (SET GLOBAL wsrep_provider_options='pc.bootstrap=YES').
  absl::Status BootstrapFrom(int i);
  // Waits until node i reports Synced/Primary/ready (and the cluster size,
  // when `size` > 0).
  absl::Status WaitSynced(int i, absl::Duration timeout, int size = 0);
  absl::StatusOr<NodeState> State(int i) const;

  // Runs SQL on node i through the mariadb client (TCP, as root); returns
  // the output (tab-separated, no column names).
  absl::StatusOr<std::string> Query(int i, const std::string& sql, bool use_database = true) const;

  int size() const { return options_.nodes; }
  bool running(int i);
  pid_t pid(int i) const { return nodes_[i].server.pid(); }
  int port(int i) const { return nodes_[i].sql_port; }
  // mysql://root@127.0.0.1:PORT/DATABASE for node i.
  std::string url(int i) const;
  const std::string& dir() const { return dir_; }
  std::string node_dir(int i) const;
  std::string error_log(int i) const { return node_dir(i) + "/error.log"; }
  const std::string& database() const { return options_.database; }
  // The last `bytes` of node i's error log, for failure messages.
  std::string LogTail(int i, size_t bytes = 3000) const;

 private:
  struct Node {
    int sql_port = 0, gcomm_port = 0, ist_port = 0, sst_port = 0;
    Process server;
  };

  absl::Status Prepare();
  absl::Status WriteConfig(int i);
  absl::Status InstallAll();
  absl::Status Launch(int i, std::vector<std::string> extra_args);
  absl::StatusOr<std::string> RecoveredPosition(int i);
  // argv prefix that runs a command as the run user.
  std::vector<std::string> AsRunUser(std::vector<std::string> argv) const;
  void KillDescendants(const std::vector<pid_t>& pids);
  std::vector<pid_t> Descendants(pid_t pid) const;

  Options options_;
  bool own_dir_ = false;
  bool prepared_ = false;
  std::string dir_;
  std::string run_user_;  // empty: the current user
  std::vector<Node> nodes_;
};

}  // namespace vitrage::testing

#endif  // VITRAGE_COMMON_TESTING_GALERA_FIXTURE_H_
