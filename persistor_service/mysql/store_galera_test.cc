// The store on a real 3-node MariaDB Galera cluster: the schema passes
// wsrep_mode=REQUIRED_PRIMARY_KEY,STRICT_REPLICATION, a transaction that
// another node's commit aborts (brute-force abort, 1213 at COMMIT) is
// reported as ABORTED and leaves nothing stored, racing epoch acquisitions
// on two nodes never hand out one epoch twice, reads on another node see
// every committed record (wsrep_sync_wait), and a node without quorum is
// UNAVAILABLE (Ping).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/testing/galera_fixture.h"
#include "persistor_service/mysql/store.h"

namespace vitrage::persistor::mysql {
namespace {

using ::testing::HasSubstr;

class StoreGaleraTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cluster_ = new vitrage::testing::GaleraCluster();
    start_ = new absl::Status(cluster_->Start());
  }
  static void TearDownTestSuite() {
    delete cluster_;
    delete start_;
  }
  void SetUp() override { ASSERT_TRUE(start_->ok()) << *start_; }

  static ConnectOptions Options(int node, const std::string& database) {
    ConnectOptions o;
    o.url.user = "root";
    o.url.host = "127.0.0.1";
    o.url.port = cluster_->port(node);
    o.url.database = database;
    return o;
  }
  static std::unique_ptr<Connection> Open(int node, const std::string& database) {
    auto c = Connection::Open(Options(node, database));
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? std::move(*c) : nullptr;
  }
  static void CreateDatabase(const std::string& name) {
    ASSERT_TRUE(cluster_->Query(0, absl::StrCat("CREATE DATABASE `", name, "`"), false).ok());
  }

  static vitrage::testing::GaleraCluster* cluster_;
  static absl::Status* start_;
};

vitrage::testing::GaleraCluster* StoreGaleraTest::cluster_ = nullptr;
absl::Status* StoreGaleraTest::start_ = nullptr;

std::vector<LogRow> Rows(uint64_t first, uint64_t last, uint64_t epoch) {
  std::vector<LogRow> rows;
  for (uint64_t s = first; s <= last; ++s) {
    rows.push_back({s, epoch, static_cast<uint32_t>(s), absl::StrCat("record ", s)});
  }
  return rows;
}
TEST_F(StoreGaleraTest, CommitAbortedByAnotherNodeIsAbortedAndStoresNothing) {
  CreateDatabase("bf_abort");
  auto c0 = Open(0, "bf_abort");
  ASSERT_NE(c0, nullptr);
  Store s0(c0.get());
  // The schema is accepted under REQUIRED_PRIMARY_KEY / STRICT_REPLICATION.
  ASSERT_TRUE(s0.Migrate().ok()) << s0.Migrate().status();
  auto epoch = s0.AcquireEpoch("test");
  ASSERT_TRUE(epoch.ok()) << epoch.status();

  // Our fencing UPDATE holds the writer_epoch row on node 0; node 1 commits
  // a change of the same row meanwhile: Galera aborts our transaction and
  // the explicit COMMIT reports it (1213), as ABORTED.
  std::vector<LogRow> rows = Rows(1, 3, epoch->epoch);
  auto r = s0.AppendLog(epoch->epoch, 0, PointersTo(rows), nullptr, [&] {
    auto q = cluster_->Query(
        1, "USE bf_abort; UPDATE writer_epoch SET write_count=write_count+1 WHERE id=1");
    EXPECT_TRUE(q.ok()) << q.status();
  });
  ASSERT_FALSE(r.ok()) << "a transaction Galera rolled back must not look committed";
  EXPECT_TRUE(absl::IsAborted(r.status())) << r.status();
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("1213"));
  // Nothing of it is stored, on any node.
  for (int node = 0; node < 3; ++node) {
    auto c = Open(node, "bf_abort");
    ASSERT_NE(c, nullptr);
    Store s(c.get());
    auto e = s.ReadEpoch();
    ASSERT_TRUE(e.ok()) << e.status();
    EXPECT_EQ(e->durable_seq, 0u) << "node " << node;
    auto b = s.ReadLogBounds();
    ASSERT_TRUE(b.ok());
    EXPECT_EQ(b->last_seq, 0u) << "node " << node;
  }
  // The retry (what the log writer does with ABORTED) commits.
  auto again = s0.AppendLog(epoch->epoch, 0, PointersTo(rows));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, GuardResult::kDone);
  // Read on node 2 right away: wsrep_sync_wait=1 makes it see the commit.
  auto c2 = Open(2, "bf_abort");
  ASSERT_NE(c2, nullptr);
  Store s2(c2.get());
  auto log = s2.ReadLog(1, 3, 10);
  ASSERT_TRUE(log.ok()) << log.status();
  ASSERT_EQ(log->size(), 3u);
  EXPECT_EQ((*log)[2].bytes, "record 3");
}

TEST_F(StoreGaleraTest, EpochRaceOnTwoNodesNeverHandsOutAnEpochTwice) {
  CreateDatabase("epoch_race");
  auto c0 = Open(0, "epoch_race");
  auto c1 = Open(1, "epoch_race");
  ASSERT_TRUE(c0 != nullptr && c1 != nullptr);
  Store s0(c0.get()), s1(c1.get());
  ASSERT_TRUE(s0.Migrate().ok());
  // Without the retry that the service adds: count the aborted attempts.
  std::set<uint64_t> epochs;
  int aborted = 0, duplicates = 0;
  for (int round = 0; round < 30; ++round) {
    std::atomic<int> ready{0};
    absl::StatusOr<AcquiredEpoch> a0, a1;
    auto race = [&](Store* s, absl::StatusOr<AcquiredEpoch>* out) {
      ++ready;
      while (ready < 2) {
      }
      *out = s->AcquireEpoch("racer");
    };
    std::thread t0(race, &s0, &a0), t1(race, &s1, &a1);
    t0.join();
    t1.join();
    for (auto* a : {&a0, &a1}) {
      if (a->ok()) {
        if (!epochs.insert((*a)->epoch).second) ++duplicates;
      } else {
        EXPECT_TRUE(absl::IsAborted(a->status())) << a->status();
        ++aborted;
      }
    }
  }
  std::printf("epoch race: %zu epochs handed out, %d attempts aborted by certification\n",
              epochs.size(), aborted);
  EXPECT_EQ(duplicates, 0);
  // The stored epoch is the highest handed out, on every node.
  auto c2 = Open(2, "epoch_race");
  ASSERT_NE(c2, nullptr);
  Store s2(c2.get());
  auto e = s2.ReadEpoch();
  ASSERT_TRUE(e.ok());
  ASSERT_FALSE(epochs.empty());
  EXPECT_EQ(e->epoch, *epochs.rbegin());
}

TEST_F(StoreGaleraTest, NodeWithoutQuorumFailsPingWithUnavailable) {
  CreateDatabase("ping");
  auto c2 = Open(2, "ping");
  ASSERT_NE(c2, nullptr);
  ASSERT_TRUE(Store(c2.get()).Migrate().ok());
  EXPECT_TRUE(c2->Ping().ok());
  cluster_->KillNode(0);
  cluster_->KillNode(1);
  // While the cluster reconfigures, a statement may time out in its causal
  // wait (1205, ABORTED); then the node settles as non-Primary.
  absl::Status ping;
  absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (absl::Now() < deadline) {
    ping = c2->Ping();
    if (absl::IsUnavailable(ping)) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_TRUE(absl::IsUnavailable(ping)) << ping;
  EXPECT_THAT(std::string(ping.message()), HasSubstr("wsrep_ready=OFF"));
  auto q = c2->Query("SELECT 1");
  std::printf("SELECT 1 on the non-primary node: %s\n",
              q.ok() ? "ok" : std::string(q.status().message()).c_str());
  Store s2(c2.get());
  auto e = s2.ReadEpoch();
  ASSERT_FALSE(e.ok());
  EXPECT_TRUE(absl::IsUnavailable(e.status())) << e.status();
  EXPECT_THAT(std::string(e.status().message()), HasSubstr("1047"));
}

}  // namespace
}  // namespace vitrage::persistor::mysql
