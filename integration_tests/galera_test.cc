// The persistor on a real 3-node MariaDB Galera cluster (issue #12): one
// cluster (common/testing/galera_fixture.h) is shared by the scenarios, each
// with its own database; every process is real and killed by pid.
//
//   * a Galera node dies (kill -9) while the change generator runs: first
//     another node, then the persistor's own node; nothing acked is lost,
//     nothing doubled, the digest matches, and all three nodes end with the
//     same log;
//   * the whole controller (graph, persistor, its Galera node) dies and a
//     new graph recovers through a persistor on another node: it sees every
//     acked record (no get_all to hide a hole);
//   * two graphs start at once through persistors on two nodes: exactly one
//     wins the epoch, the other is fenced; raw AcquireEpoch and Append races
//     through the two persistors never hand out an epoch twice and never
//     store a stale write;
//   * the persistor's node loses quorum: every persistor RPC is UNAVAILABLE
//     (never NOT_FOUND or an empty answer), nothing is acked, a new graph
//     does not become ACTIVE; after the primary component is rebuilt the
//     pair drains and matches.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/grpc_util.h"
#include "common/testing/galera_fixture.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "integration_tests/expect.h"
#include "integration_tests/stack.h"
#include "persistor_service/server/test_util.h"

namespace vitrage::testing {
namespace {

using ::testing::HasSubstr;
namespace pt = ::vitrage::persistor::testing;

class GaleraTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cluster_ = new GaleraCluster();
    start_ = new absl::Status(cluster_->Start());
  }
  static void TearDownTestSuite() {
    delete cluster_;
    delete start_;
    cluster_ = nullptr;
  }

  void SetUp() override {
    ASSERT_TRUE(start_->ok()) << *start_;
    // A scenario may leave nodes down: bring every node back first.
    for (int i = 0; i < cluster_->size(); ++i) {
      if (!cluster_->running(i)) {
        ASSERT_TRUE(cluster_->RestartNode(i).ok()) << cluster_->LogTail(i);
      }
    }
    for (int i = 0; i < cluster_->size(); ++i) {
      ASSERT_TRUE(cluster_->WaitSynced(i, absl::Seconds(60), cluster_->size()).ok())
          << cluster_->WaitSynced(i, absl::Seconds(1), cluster_->size());
    }
  }

  // A fresh database for one scenario; the URL of node `node` for it.
  static std::string NewDatabase(const std::string& name) {
    auto s = cluster_->Query(0, absl::StrCat("CREATE DATABASE `", name, "`"),
                             /*use_database=*/false);
    EXPECT_TRUE(s.ok()) << s.status();
    return name;
  }
  static std::string Url(int node, const std::string& db) {
    return absl::StrCat("mysql://root@127.0.0.1:", cluster_->port(node), "/", db);
  }
  // One value read on `node` after it caught up with the cluster.
  static std::string ReadOn(int node, const std::string& db, const std::string& sql) {
    auto s =
        cluster_->Query(node, absl::StrCat("SET SESSION wsrep_sync_wait=1; USE `", db, "`; ", sql),
                        /*use_database=*/false);
    return s.ok() ? std::string(absl::StripAsciiWhitespace(*s)) : s.status().ToString();
  }

  // A stack whose persistor writes to `db` on `node`; a change generator
  // when `changes` > 0.
  static StackOptions OnNode(int node, const std::string& db, uint64_t changes, double rate) {
    StackOptions o;
    o.database_url = Url(node, db);
    o.change_rate = rate;
    o.max_changes = changes;
    return o;
  }

  static GaleraCluster* cluster_;
  static absl::Status* start_;
};

GaleraCluster* GaleraTest::cluster_ = nullptr;
absl::Status* GaleraTest::start_ = nullptr;

// Pushes one pass-through event straight to a graph; true if it was acked.
grpc::Status PushOne(Stack& stack, int port, const std::string& id) {
  auto stub = stack.GraphStub(port);
  v1::PushEventsRequest req;
  auto* ev = req.add_events();
  ev->set_source("race-" + id);
  ev->set_source_seq(1);
  ev->set_json(absl::StrCat(
      R"({"vitrage_entity_type": "vitrage.passthrough", "vitrage_datasource_action": "update",)"
      R"( "vitrage_sample_date": "2026-11-30T10:00:00Z", "ops": [{"op": "set_vertex",)"
      R"( "id": ")",
      id, R"(", "props": {"vitrage_id": ")", id, R"("}}]})"));
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
  v1::PushEventsResponse resp;
  return stub->PushEvents(&ctx, req, &resp);
}

TEST_F(GaleraTest, NodeKill9WhileChangesFlowLosesAndDoublesNothing) {
  const std::string db = NewDatabase("kill_nodes");
  StackOptions o = OnNode(0, db, 3000, 250);
  Stack stack(o);
  ASSERT_TRUE(stack.Start().ok()) << stack.LogTail("graph") << stack.LogTail("persistor");

  // Another node dies and comes back (IST) while events flow.
  absl::SleepFor(absl::Seconds(1.5));
  auto acked0 = stack.CollectorStatus();
  ASSERT_TRUE(acked0.ok());
  cluster_->KillNode(1);
  absl::SleepFor(absl::Seconds(2));
  ASSERT_TRUE(cluster_->RestartNode(1).ok()) << cluster_->LogTail(1);
  auto acked1 = stack.CollectorStatus();
  ASSERT_TRUE(acked1.ok());
  EXPECT_GT(acked1->acked(), acked0->acked()) << "acks should continue while node 1 is down";

  // The persistor's own node dies: its commits fail (UNAVAILABLE), the graph
  // keeps the records and resends once the node is back.
  cluster_->KillNode(0);
  absl::SleepFor(absl::Seconds(2));
  auto down = stack.PersistorStatus();
  ASSERT_TRUE(down.ok()) << down.status();
  EXPECT_FALSE(down->database_reachable());
  ASSERT_TRUE(cluster_->RestartNode(0).ok()) << cluster_->LogTail(0);
  // The persistor reconnects on its own backoff; every event may already
  // have been acked before node 0 died (a slow machine), so wait for it
  // before reading the log through it.
  bool reachable = false;
  for (absl::Time end = absl::Now() + absl::Seconds(60); !reachable && absl::Now() < end;) {
    auto st = stack.PersistorStatus();
    reachable = st.ok() && st->database_reachable();
    if (!reachable) absl::SleepFor(absl::Milliseconds(200));
  }
  ASSERT_TRUE(reachable) << "the persistor did not reconnect to node 0 within 60 s\n"
                         << stack.LogTail("persistor");

  ExpectGraphMatchesCollector(stack, absl::Seconds(120));
  // Every node holds the same log and durable seq.
  std::string durable = ReadOn(0, db, "SELECT durable_seq FROM writer_epoch");
  std::string count = ReadOn(0, db, "SELECT COUNT(*) FROM graph_log");
  EXPECT_NE(durable, "0");
  for (int i = 1; i < 3; ++i) {
    EXPECT_EQ(ReadOn(i, db, "SELECT durable_seq FROM writer_epoch"), durable) << "node " << i;
    EXPECT_EQ(ReadOn(i, db, "SELECT COUNT(*) FROM graph_log"), count) << "node " << i;
  }
}

TEST_F(GaleraTest, GraphFailsOverToAPersistorOnAnotherNodeAndSeesEveryAckedRecord) {
  const std::string db = NewDatabase("failover");
  // Long enough that events are still being generated at the crash.
  StackOptions o = OnNode(0, db, 4000, 400);
  Stack stack(o);
  ASSERT_TRUE(stack.Start().ok()) << stack.LogTail("graph") << stack.LogTail("persistor");
  // The standby controller's persistor, on its local node 1.
  const int p1_port = PickFreePort();
  auto p1 = stack.SpawnPersistor(p1_port, Url(1, db), "-node1");
  ASSERT_TRUE(p1.ok()) << p1.status();

  absl::SleepFor(absl::Seconds(2));
  // Controller 0 dies whole: graph, persistor and its Galera node.
  stack.graph().Kill9();
  stack.persistor().Kill9();
  cluster_->KillNode(0);
  auto c = stack.CollectorStatus();
  ASSERT_TRUE(c.ok());
  const uint64_t acked_by_a = c->acked_source_seq();
  EXPECT_GT(acked_by_a, 0u);
  EXPECT_GT(c->pending(), 0u);

  // The new graph on controller 1 (the collector's graph address) through
  // the persistor on node 1.
  auto b = stack.SpawnGraph(0, "-b", absl::StrCat("127.0.0.1:", p1_port));
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_TRUE(stack.WaitGraphActive(absl::Seconds(60)).ok()) << stack.LogTail("graph-b");
  auto bs = stack.GraphStatus();
  ASSERT_TRUE(bs.ok());
  // It rebuilt from the snapshot and the log read on node 1, not from a
  // get_all that would hide a missing record.
  EXPECT_TRUE(bs->recovery().get_all_reason().empty()) << bs->recovery().get_all_reason();
  EXPECT_GT(bs->recovery().snapshot_id(), 0u);
  ExpectGraphMatchesCollector(stack, absl::Seconds(120), p1_port);
  auto ps = stack.PersistorStatus(p1_port);
  ASSERT_TRUE(ps.ok());
  EXPECT_EQ(ps->epoch(), bs->epoch());
}

TEST_F(GaleraTest, TwoGraphsRacingThroughTwoNodesExactlyOneWinsTheEpoch) {
  const std::string db = NewDatabase("race");
  StackOptions o = OnNode(0, db, 0, 0);
  Stack stack(o);
  ASSERT_TRUE(stack.Start().ok()) << stack.LogTail("graph") << stack.LogTail("persistor");
  const int p1_port = PickFreePort();
  auto p1 = stack.SpawnPersistor(p1_port, Url(1, db), "-node1");
  ASSERT_TRUE(p1.ok()) << p1.status();
  stack.graph().Kill9();

  // Two graphs start at the same moment, one through each node.
  const int port_b = PickFreePort(), port_c = PickFreePort();
  auto b = stack.SpawnGraph(port_b, "-b");
  auto c = stack.SpawnGraph(port_c, "-c", absl::StrCat("127.0.0.1:", p1_port));
  ASSERT_TRUE(b.ok() && c.ok());
  // Each one writes once; the stale one must be refused and exit FENCED (3).
  // A graph may already have been fenced (and exited) during its start.
  absl::SleepFor(absl::Seconds(1));
  auto wait_up = [&](int port, Process& p) {
    absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (absl::Now() < deadline && p.running()) {
      auto st = stack.GraphStatus(false, port);
      if (st.ok() && st->role() == v1::ACTIVE) return;
      absl::SleepFor(absl::Milliseconds(50));
    }
  };
  wait_up(port_b, *b);
  wait_up(port_c, *c);
  auto sb = stack.GraphStatus(false, port_b);
  auto sc = stack.GraphStatus(false, port_c);
  grpc::Status pushed_b = PushOne(stack, port_b, "from-b");
  grpc::Status pushed_c = PushOne(stack, port_c, "from-c");
  EXPECT_NE(pushed_b.ok(), pushed_c.ok())
      << "exactly one graph must ack: b " << pushed_b.error_message() << ", c "
      << pushed_c.error_message();
  Process& loser = pushed_b.ok() ? *c : *b;
  Process& winner = pushed_b.ok() ? *b : *c;
  auto code = loser.Wait(absl::Seconds(20));
  ASSERT_TRUE(code.ok()) << "the fenced graph did not exit\n"
                         << stack.LogTail(pushed_b.ok() ? "graph-c" : "graph-b");
  EXPECT_TRUE(WIFEXITED(*code) && WEXITSTATUS(*code) == 3) << *code;
  EXPECT_TRUE(winner.running());
  auto ws = stack.GraphStatus(false, pushed_b.ok() ? port_b : port_c);
  ASSERT_TRUE(ws.ok());
  const uint64_t winner_epoch = ws->epoch();
  if (sb.ok() && sc.ok()) {
    EXPECT_NE(sb->epoch(), sc->epoch());
  }
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(ReadOn(i, db, "SELECT epoch FROM writer_epoch"), std::to_string(winner_epoch))
        << "node " << i;
  }
  // Epochs never go down along the log, and the loser's event is not in it.
  auto p0_stub = stack.PersistorStub();
  auto log = pt::ReadLog(p0_stub.get(), 0);
  ASSERT_TRUE(log.ok()) << log.status();
  uint64_t last_epoch = 0;
  for (const auto& r : *log) {
    EXPECT_GE(r.epoch(), last_epoch) << "seq " << r.seq();
    last_epoch = r.epoch();
    EXPECT_NE(r.source(), pushed_b.ok() ? "race-from-c" : "race-from-b");
  }
  EXPECT_EQ(last_epoch, winner_epoch);
  winner.Kill9();

  // Raw races through the two persistors: AcquireEpoch at the same moment on
  // node 0 and node 1 never hands out the same epoch twice (Galera
  // certification turns the race into a 1213 and a retry)...
  auto p1_stub = stack.PersistorStub(p1_port);
  std::set<uint64_t> epochs;
  int duplicates = 0, failures = 0;
  uint64_t low = 0, high = 0;
  for (int round = 0; round < 20; ++round) {
    std::atomic<bool> go{false};
    absl::StatusOr<v1::AcquireEpochResponse> r0, r1;
    std::thread t0([&] {
      while (!go) {
      }
      r0 = pt::AcquireEpoch(p0_stub.get(), "racer-node0");
    });
    std::thread t1([&] {
      while (!go) {
      }
      r1 = pt::AcquireEpoch(p1_stub.get(), "racer-node1");
    });
    go = true;
    t0.join();
    t1.join();
    for (auto* r : {&r0, &r1}) {
      if (!r->ok()) {
        ++failures;
        ADD_FAILURE() << "AcquireEpoch failed: " << r->status();
        continue;
      }
      if (!epochs.insert((*r)->epoch()).second) ++duplicates;
    }
    if (r0.ok() && r1.ok()) {
      low = std::min(r0->epoch(), r1->epoch());
      high = std::max(r0->epoch(), r1->epoch());
    }
  }
  EXPECT_EQ(duplicates, 0) << "an epoch was handed out twice";
  EXPECT_EQ(failures, 0);
  ASSERT_GT(high, low);
  EXPECT_EQ(ReadOn(2, db, "SELECT epoch FROM writer_epoch"), std::to_string(high));

  // ... and an Append with the older epoch on one node racing one with the
  // newer epoch on the other: only the newer one is stored.
  auto st0 = pt::GetStatus(p0_stub.get());
  ASSERT_TRUE(st0.ok());
  const uint64_t next = st0->durable_seq() + 1;
  bool low_on_node0 = epochs.size() % 2 == 0;  // alternate which node is stale
  pt::AppendResult stale, fresh;
  {
    std::atomic<bool> go{false};
    std::thread ts([&] {
      while (!go) {
      }
      stale = pt::AppendBatches(low_on_node0 ? p0_stub.get() : p1_stub.get(),
                                {pt::MakeBatch(low, next, next + 9)});
    });
    std::thread tf([&] {
      while (!go) {
      }
      fresh = pt::AppendBatches(low_on_node0 ? p1_stub.get() : p0_stub.get(),
                                {pt::MakeBatch(high, next, next + 9)});
    });
    go = true;
    ts.join();
    tf.join();
  }
  EXPECT_EQ(stale.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION)
      << stale.status.error_message();
  EXPECT_TRUE(stale.acks.empty());
  EXPECT_TRUE(fresh.status.ok()) << fresh.status.error_message();
  ASSERT_EQ(fresh.acks.size(), 1u);
  EXPECT_EQ(fresh.acks[0], next + 9);
  auto tail = pt::ReadLog(p1_stub.get(), next - 1);
  ASSERT_TRUE(tail.ok()) << tail.status();
  ASSERT_EQ(tail->size(), 10u);
  for (const auto& r : *tail) EXPECT_EQ(r.epoch(), high);
}

TEST_F(GaleraTest, NodeWithoutQuorumAnswersUnavailableNotAWrongAnswer) {
  const std::string db = NewDatabase("quorum");
  StackOptions o = OnNode(2, db, 1500, 200);
  Stack stack(o);
  ASSERT_TRUE(stack.Start().ok()) << stack.LogTail("graph") << stack.LogTail("persistor");
  absl::SleepFor(absl::Seconds(1.5));

  // Nodes 0 and 1 die: node 2 alone is not a primary component.
  cluster_->KillNode(0);
  cluster_->KillNode(1);
  absl::Time deadline = absl::Now() + absl::Seconds(30);
  absl::StatusOr<GaleraCluster::NodeState> node2;
  while (absl::Now() < deadline) {
    node2 = cluster_->State(2);
    if (node2.ok() && node2->cluster_status != "Primary") break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  ASSERT_TRUE(node2.ok()) << node2.status();
  ASSERT_EQ(node2->cluster_status, "non-Primary");
  absl::SleepFor(absl::Seconds(1));

  // Every persistor RPC says UNAVAILABLE, not "nothing stored".
  auto stub = stack.PersistorStub();
  auto log = pt::ReadLog(stub.get(), 0);
  ASSERT_FALSE(log.ok());
  EXPECT_TRUE(absl::IsUnavailable(log.status())) << log.status();
  auto snap = pt::GetLatestSnapshot(stub.get());
  ASSERT_FALSE(snap.ok());
  EXPECT_TRUE(absl::IsUnavailable(snap.status())) << snap.status();
  auto epoch = pt::AcquireEpoch(stub.get(), "no-quorum");
  ASSERT_FALSE(epoch.ok());
  EXPECT_TRUE(absl::IsUnavailable(epoch.status())) << epoch.status();
  auto status = stack.PersistorStatus();
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_FALSE(status->database_reachable());
  // 1047 from a statement, or the monitor's wsrep_ready check.
  EXPECT_THAT(status->last_database_error(),
              ::testing::AnyOf(HasSubstr("1047"), HasSubstr("wsrep_ready=OFF")));
  const std::string& reason = status->last_database_error();
  EXPECT_EQ(reason.find("unreachable (next"), reason.rfind("unreachable (next"))
      << "the reason must not nest: " << reason;
  // The standard health service says NOT_SERVING (a node outside the
  // primary component still answers SELECT 1: the monitor checks
  // wsrep_ready).
  {
    auto health = grpc::health::v1::Health::NewStub(
        MakeChannel(absl::StrCat("127.0.0.1:", stack.persistor_port()), ServerRole::kPersistor));
    grpc::health::v1::HealthCheckResponse hr;
    absl::Time until = absl::Now() + absl::Seconds(5);
    do {
      grpc::ClientContext hctx;
      hctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
      grpc::health::v1::HealthCheckRequest hreq;
      ASSERT_TRUE(health->Check(&hctx, hreq, &hr).ok());
      if (hr.status() == grpc::health::v1::HealthCheckResponse::NOT_SERVING) break;
      absl::SleepFor(absl::Milliseconds(200));
    } while (absl::Now() < until);
    EXPECT_EQ(hr.status(), grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  }

  // Nothing is acked meanwhile, and a graph starting now stays RECOVERING.
  auto c1 = stack.CollectorStatus();
  ASSERT_TRUE(c1.ok());
  const int port_x = PickFreePort();
  auto x = stack.SpawnGraph(port_x, "-x");
  ASSERT_TRUE(x.ok());
  absl::SleepFor(absl::Seconds(3));
  auto c2 = stack.CollectorStatus();
  ASSERT_TRUE(c2.ok());
  EXPECT_EQ(c2->acked_source_seq(), c1->acked_source_seq());
  EXPECT_GT(c2->pending(), 0u);
  auto xs = stack.GraphStatus(false, port_x);
  if (xs.ok()) {
    EXPECT_NE(xs->role(), v1::ACTIVE) << xs->phase();
  }
  x->Kill9();

  // A primary component again from node 2, the others rejoin: the pair
  // drains and matches.
  ASSERT_TRUE(cluster_->BootstrapFrom(2).ok());
  ASSERT_TRUE(cluster_->WaitSynced(2, absl::Seconds(30)).ok()) << cluster_->LogTail(2);
  ASSERT_TRUE(cluster_->RestartNode(0).ok()) << cluster_->LogTail(0);
  ASSERT_TRUE(cluster_->RestartNode(1).ok()) << cluster_->LogTail(1);
  ExpectGraphMatchesCollector(stack, absl::Seconds(120));
}

}  // namespace
}  // namespace vitrage::testing
