// The Galera fixture against real mariadbd processes: a 3-node cluster
// replicates, a node killed with kill -9 is evicted and rejoins (IST), a
// node without quorum refuses queries, and nothing is left running.
#include "common/testing/galera_fixture.h"

#include <gtest/gtest.h>
#include <pwd.h>
#include <signal.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"

namespace vitrage::testing {
namespace {

std::string Trimmed(const absl::StatusOr<std::string>& s) {
  return s.ok() ? std::string(absl::StripAsciiWhitespace(*s)) : s.status().ToString();
}

bool Alive(pid_t pid) { return pid > 0 && kill(pid, 0) == 0; }

TEST(GaleraFixtureTest, ReplicatesSurvivesANodeLossAndLeavesNothingRunning) {
  std::vector<pid_t> pids;
  std::string dir;
  {
    GaleraCluster cluster;
    ASSERT_TRUE(cluster.Start().ok()) << cluster.Start();
    dir = cluster.dir();
    for (int i = 0; i < 3; ++i) {
      pids.push_back(cluster.pid(i));
      auto st = cluster.State(i);
      ASSERT_TRUE(st.ok()) << st.status();
      EXPECT_TRUE(st->synced()) << i;
      EXPECT_EQ(st->cluster_size, 3) << i;
    }
    // The ports differ and the nodes run as mysql when we are root.
    EXPECT_NE(cluster.port(0), cluster.port(1));
    EXPECT_NE(cluster.port(1), cluster.port(2));
    if (geteuid() == 0) {
      std::string status = ReadFileOrEmpty(absl::StrCat("/proc/", cluster.pid(0), "/status"));
      EXPECT_NE(status.find(absl::StrCat("Uid:\t", getpwnam("mysql")->pw_uid, "\t")),
                std::string::npos)
          << status;
    }

    ASSERT_TRUE(cluster.Query(0, "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))").ok());
    ASSERT_TRUE(cluster.Query(0, "INSERT INTO t VALUES (1, 'one')").ok());
    EXPECT_EQ(
        Trimmed(cluster.Query(2, "SET SESSION wsrep_sync_wait=1; SELECT v FROM t WHERE id=1")),
        "one");
    // wsrep_mode=REQUIRED_PRIMARY_KEY: a table without one is refused.
    auto nopk = cluster.Query(1, "CREATE TABLE nopk (v INT)");
    EXPECT_FALSE(nopk.ok());

    // kill -9 node 1: the others evict it and keep taking writes.
    cluster.KillNode(1);
    EXPECT_FALSE(cluster.running(1));
    ASSERT_TRUE(cluster.WaitSynced(0, absl::Seconds(30), 2).ok());
    ASSERT_TRUE(cluster.Query(0, "INSERT INTO t VALUES (2, 'two')").ok());
    // It rejoins with the writes it missed.
    ASSERT_TRUE(cluster.RestartNode(1).ok()) << cluster.LogTail(1);
    EXPECT_EQ(Trimmed(cluster.Query(1, "SET SESSION wsrep_sync_wait=1; SELECT COUNT(*) FROM t")),
              "2");
    EXPECT_NE(cluster.LogTail(1, 200000).find("IST"), std::string::npos)
        << "node 1 should rejoin with an incremental state transfer";

    // Two nodes gone: the survivor has no quorum and refuses queries (1047).
    cluster.KillNode(1);
    cluster.KillNode(2);
    absl::Time deadline = absl::Now() + absl::Seconds(30);
    absl::StatusOr<GaleraCluster::NodeState> st;
    while (absl::Now() < deadline) {
      st = cluster.State(0);
      if (st.ok() && st->cluster_status != "Primary") break;
      absl::SleepFor(absl::Milliseconds(200));
    }
    ASSERT_TRUE(st.ok()) << st.status();
    EXPECT_EQ(st->cluster_status, "non-Primary");
    EXPECT_FALSE(st->ready);
    auto refused = cluster.Query(0, "SELECT COUNT(*) FROM t");
    ASSERT_FALSE(refused.ok());
    EXPECT_NE(refused.status().message().find("1047"), std::string::npos) << refused.status();
    // Back to a primary component from the survivor, then the others rejoin.
    ASSERT_TRUE(cluster.BootstrapFrom(0).ok());
    ASSERT_TRUE(cluster.WaitSynced(0, absl::Seconds(30)).ok());
    ASSERT_TRUE(cluster.RestartNode(1).ok()) << cluster.LogTail(1);
    ASSERT_TRUE(cluster.RestartNode(2).ok()) << cluster.LogTail(2);
    ASSERT_TRUE(cluster.WaitSynced(2, absl::Seconds(30), 3).ok());
    EXPECT_EQ(Trimmed(cluster.Query(2, "SET SESSION wsrep_sync_wait=1; SELECT COUNT(*) FROM t")),
              "2");
    pids.push_back(cluster.pid(1));
    pids.push_back(cluster.pid(2));
  }
  // The destructor stopped every node by pid and removed the dir.
  for (pid_t p : pids) EXPECT_FALSE(Alive(p)) << "pid " << p << " still running";
  EXPECT_FALSE(std::filesystem::exists(dir));
}

}  // namespace
}  // namespace vitrage::testing
