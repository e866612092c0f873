// Issue #20 over the real binaries: a long persistor outage, a graph fenced
// while idle, a log with records past its durable seq, and a collector
// restart whose reconcile deletes a large graph. Each scenario jammed,
// wedged or crash-looped the graph before its fix.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/grpc_util.h"
#include "integration_tests/stack.h"
#include "integration_tests/test_templates.h"

namespace vitrage::testing {
namespace {

using ::testing::HasSubstr;

std::string TemplatesDir() {
  char tmpl[] = "/tmp/vitrage-templates-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  std::ofstream(dir + "/host_alarm_v3.yaml") << kV3;
  return dir;
}

absl::StatusOr<grpc::health::v1::HealthCheckResponse::ServingStatus> GraphHealth(Stack& stack) {
  auto stub = grpc::health::v1::Health::NewStub(
      MakeChannel(absl::StrCat("127.0.0.1:", stack.graph_port()), ServerRole::kGraph));
  return CheckHealth(stub.get(), "vitrage.v1.Graph", absl::Seconds(5));
}

// The journal buffer fills during an outage far longer than it lasts, with
// the evaluator adding action records to every change: intake must resume
// by itself afterwards with nothing lost or doubled, and meanwhile the
// stall must show (health NOT_SERVING, the phase says why). Before the
// fix the first record the full buffer refused left the graph one seq
// ahead of its journal and every later Append failed.
TEST(HardeningTest, IntakeResumesAfterAnOutageLongerThanTheBuffer) {
  StackOptions o;
  o.synthetic_hosts = 6;
  o.seed = 11;
  o.change_rate = 400;
  o.max_changes = 400 * 120;  // stopped with StopChanges below
  o.conf.push_back({"graph", "templates_dir = " + TemplatesDir()});
  o.conf.push_back({"persistency", "buffer_max_records = 1000000"});
  o.conf.push_back({"persistency", "buffer_max_bytes = 64K"});
  o.conf.push_back({"persistency", "journal_stall_timeout = 2"});
  Stack stack(o);
  ASSERT_TRUE(stack.Start().ok()) << stack.LogTail("graph");
  absl::SleepFor(absl::Seconds(1));
  auto before = stack.GraphStatus();
  ASSERT_TRUE(before.ok());

  stack.persistor().Stop();
  bool saw_stall = false, saw_not_serving = false;
  uint64_t max_buffered_bytes = 0;
  absl::Time until = absl::Now() + absl::Seconds(10);
  while (absl::Now() < until) {
    auto st = stack.GraphStatus();
    ASSERT_TRUE(st.ok()) << "the graph must keep answering: " << st.status();
    EXPECT_EQ(st->role(), v1::ACTIVE);
    max_buffered_bytes = std::max(max_buffered_bytes, st->buffered_bytes());
    if (absl::StrContains(st->phase(), "journal stalled")) {
      saw_stall = true;
      EXPECT_GE(st->journal_stalled_seconds(), 2.0);
    }
    auto h = GraphHealth(stack);
    if (h.ok() && *h == grpc::health::v1::HealthCheckResponse::NOT_SERVING) {
      saw_not_serving = true;
    }
    absl::SleepFor(absl::Milliseconds(250));
  }
  EXPECT_TRUE(saw_stall) << "status must say the journal is stalled";
  EXPECT_TRUE(saw_not_serving) << "health must go NOT_SERVING";
  EXPECT_GT(max_buffered_bytes, 0u);
  // Bounded: the limit plus what one admitted push made.
  EXPECT_LT(max_buffered_bytes, 4u << 20);

  ASSERT_TRUE(stack.StartPersistor().ok()) << stack.LogTail("persistor");
  absl::Time back = absl::Now() + absl::Seconds(30);
  bool serving = false;
  while (!serving && absl::Now() < back) {
    auto h = GraphHealth(stack);
    serving = h.ok() && *h == grpc::health::v1::HealthCheckResponse::SERVING;
    if (!serving) absl::SleepFor(absl::Milliseconds(200));
  }
  EXPECT_TRUE(serving) << "health must come back by itself\n" << stack.LogTail("graph");
  ASSERT_TRUE(stack.StopChanges().ok());
  absl::Status drained = stack.WaitCollectorDrained(absl::Seconds(120));
  ASSERT_TRUE(drained.ok()) << drained;

  auto c = stack.CollectorStatus();
  ASSERT_TRUE(c.ok());
  auto once = stack.CheckExactlyOnce(*c);
  ASSERT_TRUE(once.ok()) << once.status();
  EXPECT_EQ(once->lost, 0u);
  EXPECT_EQ(once->doubled, 0u);
  auto g = stack.GraphStatus();
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->role(), v1::ACTIVE);
  EXPECT_EQ(g->phase(), "active");
  EXPECT_EQ(g->durable_seq(), g->applied_seq());
  EXPECT_GT(g->evaluator().actions_done(), before->evaluator().actions_done())
      << "the scenario must make evaluator records";
  std::string log = stack.LogTail("graph", 1 << 20);
  EXPECT_THAT(log, HasSubstr("journal stalled:"));
  EXPECT_THAT(log, HasSubstr("journal moving again after"));
  EXPECT_THAT(log, ::testing::Not(HasSubstr("refused record")));
}

// A graph fenced while it has nothing to append finds out by its periodic
// epoch check and exits FENCED (code 3) instead of answering as ACTIVE.
TEST(HardeningTest, IdleGraphFencedByANewerEpochStopsWithinTheCheckInterval) {
  StackOptions o;
  o.conf.push_back({"persistency", "fence_check_interval = 1"});
  Stack stack(o);
  ASSERT_TRUE(stack.Start().ok()) << stack.LogTail("graph");
  // Idle: the snapshot every get_all is followed by is stored (it would
  // find out about the new epoch itself).
  absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (absl::Now() < deadline) {
    auto st = stack.GraphStatus();
    if (st.ok() && st->last_snapshot_seq() > 0) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  absl::SleepFor(absl::Milliseconds(200));
  const int port2 = PickFreePort();
  auto second = stack.SpawnGraph(port2, "-2");
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_TRUE(stack.WaitGraphActive(absl::Seconds(60), port2).ok()) << stack.LogTail("graph-2");
  const absl::Time activated = absl::Now();
  auto exited = stack.graph().Wait(absl::Seconds(15));
  ASSERT_TRUE(exited.ok()) << "the fenced graph still runs 15 s after the new epoch\n"
                           << stack.LogTail("graph");
  EXPECT_TRUE(WIFEXITED(*exited));
  EXPECT_EQ(WEXITSTATUS(*exited), 3) << stack.LogTail("graph");
  EXPECT_LT(absl::Now() - activated, absl::Seconds(5));
  EXPECT_THAT(stack.LogTail("graph"), HasSubstr("found by the periodic epoch check"));
  second->Stop();
}

// Records past the durable seq in the store (as if a writer's commit and
// its durable_seq had come apart) are dropped when the next epoch is taken;
// the graph recovers to the durable seq and appends after it. A collector
// restart then makes the graph reconcile with the new run's state. Before
// the fix the new epoch's first Append hit the stale rows (duplicate key:
// a fatal ALREADY_EXISTS) and the graph crash-looped.
TEST(HardeningTest, RecordsPastTheDurableSeqAreDroppedAndARestartedCollectorReconciles) {
  StackOptions o;
  o.seed = 3;
  o.change_rate = 300;
  o.max_changes = 300;
  Stack stack(o);
  ASSERT_TRUE(stack.Start().ok()) << stack.LogTail("graph");
  ASSERT_TRUE(stack.WaitCollectorDrained(absl::Seconds(60)).ok());
  auto before = stack.GraphStatus();
  ASSERT_TRUE(before.ok());
  ASSERT_GT(before->durable_seq(), 10u);
  stack.graph().Stop();
  ASSERT_TRUE(
      stack.db().Query("UPDATE writer_epoch SET durable_seq = durable_seq - 3 WHERE id = 1").ok());
  ASSERT_TRUE(stack.StartGraph().ok());
  ASSERT_TRUE(stack.WaitGraphActive(absl::Seconds(60)).ok());
  auto st = stack.GraphStatus();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->applied_seq(), before->durable_seq() - 3);
  EXPECT_EQ(st->durable_seq(), st->applied_seq());
  EXPECT_THAT(stack.LogTail("persistor", 20000), HasSubstr("3 records after the durable seq"));

  // A new collector run (another cloud): the graph notices at its first
  // push and takes the new run's whole state.
  stack.collector().Stop();
  ASSERT_TRUE(stack.SetCollectorSeed(77).ok());
  ASSERT_TRUE(stack.StartCollector().ok());
  ASSERT_TRUE(stack.WaitCollectorDrained(absl::Seconds(60)).ok())
      << stack.WaitCollectorDrained(absl::Seconds(1));
  auto c = stack.CollectorStatus(true);
  auto g = stack.GraphStatus(true);
  ASSERT_TRUE(c.ok() && g.ok());
  EXPECT_EQ(g->role(), v1::ACTIVE) << stack.LogTail("graph");
  EXPECT_EQ(g->digest(), c->model_digest()) << stack.LogTail("graph");
  EXPECT_EQ(g->durable_seq(), g->applied_seq());
  EXPECT_THAT(stack.LogTail("graph", 20000), HasSubstr("restarted (run "));
}

// A restarted collector whose new state is tiny: the reconcile removes a
// ~100k-vertex graph in one delta, far over the persistor's 8 MiB receive
// limit. It is journaled as several records, each at most 1 MiB of delta.
TEST(HardeningTest, ReconcileOfALargeGraphIsJournaledInRecordsThePersistorTakes) {
  StackOptions o;
  o.synthetic_hosts = 7000;
  o.seed = 5;
  // A few changes per run: the new run's first push makes the graph notice.
  o.change_rate = 20;
  o.max_changes = 20;
  Stack stack(o);
  ASSERT_TRUE(stack.Start().ok()) << stack.LogTail("graph");
  ASSERT_TRUE(stack.WaitCollectorDrained(absl::Seconds(60)).ok());
  auto before = stack.GraphStatus();
  ASSERT_TRUE(before.ok());
  ASSERT_GT(before->vertex_count(), 50000u);

  stack.collector().Stop();
  ASSERT_TRUE(stack.SetCollectorHosts(1).ok());
  ASSERT_TRUE(stack.StartCollector().ok());
  ASSERT_TRUE(stack.WaitCollectorDrained(absl::Seconds(120)).ok())
      << stack.WaitCollectorDrained(absl::Seconds(1));
  auto c = stack.CollectorStatus(true);
  auto g = stack.GraphStatus(true);
  ASSERT_TRUE(c.ok() && g.ok());
  EXPECT_EQ(g->digest(), c->model_digest()) << stack.LogTail("graph");
  EXPECT_LT(g->vertex_count(), 100u);
  EXPECT_EQ(g->durable_seq(), g->applied_seq());
  EXPECT_THAT(stack.LogTail("graph", 20000), HasSubstr("journaled as"));

  // Every record is readable back and none carries more than 1 MiB of delta.
  grpc::ClientContext ctx;
  v1::ReadLogRequest req;
  req.set_after_seq(before->applied_seq());
  auto reader = stack.PersistorStub()->ReadLog(&ctx, req);
  v1::ReadLogResponse resp;
  size_t parts = 0, largest = 0;
  while (reader->Read(&resp)) {
    for (const auto& r : resp.records()) {
      largest = std::max(largest, r.delta().ByteSizeLong());
      if (r.event_kind() == "get_all reconcile") ++parts;
    }
  }
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_GT(parts, 1u);
  EXPECT_LE(largest, 1u << 20);
}

// Events the graph refuses as invalid (here every change: nested deeper
// than [limits] max_json_depth allows) are set aside by the collector with
// the graph's reason, counted, and not re-sent: intake goes on, nothing is
// lost and the graph keeps serving. Before the fix the collector re-sent
// the first refused request forever.
TEST(HardeningTest, EventsTheGraphRefusesAreDeadLetteredNotResentForever) {
  StackOptions o;
  o.change_rate = 100;
  o.max_changes = 50;
  o.conf.push_back({"limits", "max_json_depth = 2"});
  Stack stack(o);
  ASSERT_TRUE(stack.Start().ok()) << stack.LogTail("graph");
  absl::Status drained = stack.WaitCollectorDrained(absl::Seconds(60));
  ASSERT_TRUE(drained.ok()) << drained;
  auto c = stack.CollectorStatus();
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->dead_lettered(), c->last_source_seq());
  EXPECT_GE(c->dead_lettered(), 50u);
  auto once = stack.CheckExactlyOnce(*c);
  ASSERT_TRUE(once.ok()) << once.status();
  EXPECT_EQ(once->lost, 0u);
  EXPECT_EQ(once->doubled, 0u);
  // Those the graph's first get_all covered are in its state already.
  EXPECT_EQ(once->dead_lettered + once->covered_by_get_all, c->dead_lettered());
  auto g = stack.GraphStatus();
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->role(), v1::ACTIVE);
  std::ifstream in(stack.dead_letter_path());
  std::string line;
  uint64_t lines = 0;
  while (std::getline(in, line)) {
    ++lines;
    EXPECT_THAT(line, HasSubstr("max_json_depth"));
  }
  EXPECT_EQ(lines, c->dead_lettered());
  EXPECT_THAT(stack.LogTail("collector", 1 << 20), HasSubstr("dead-letter"));
}

// A request whose new property keys would take the graph's key table past
// [limits] max_distinct_keys is refused whole (keys are never freed: before
// the limit, enough fresh keys aborted the process at a CHECK and the
// never-acked event crash-looped every successor). A request within the
// limit still goes through.
TEST(HardeningTest, FreshPropertyKeysPastTheLimitAreRefusedWhole) {
  StackOptions o;
  o.conf.push_back({"limits", "max_distinct_keys = 1000"});
  Stack stack(o);
  ASSERT_TRUE(stack.Start().ok()) << stack.LogTail("graph");
  auto before = stack.GraphStatus(true);
  ASSERT_TRUE(before.ok());
  auto push = [&](uint64_t seq, int first_key, int keys) {
    v1::PushEventsRequest req;
    for (int e = 0; e < 2; ++e) {
      std::string props;
      for (int k = 0; k < keys / 2; ++k) {
        absl::StrAppend(&props, k ? ", " : "", "\"fresh-key-", first_key + e * keys / 2 + k,
                        "\": 1");
      }
      v1::Event* ev = req.add_events();
      ev->set_source("key-test");
      ev->set_source_seq(seq + e);
      ev->set_json(absl::StrCat(
          R"({"vitrage_entity_type": "vitrage.passthrough", "vitrage_datasource_action": )",
          R"("update", "vitrage_sample_date": "2026-12-06T10:00:00Z", "ops": [{"op": )",
          R"("set_vertex", "id": "key-test-)", seq + e, R"(", "props": {)", props, "}}]}"));
    }
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    v1::PushEventsResponse resp;
    return stack.GraphStub()->PushEvents(&ctx, req, &resp);
  };
  grpc::Status refused = push(1, 0, 1600);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(refused.error_message(), HasSubstr("max_distinct_keys"));
  EXPECT_THAT(refused.error_message(), HasSubstr("nothing in this request was applied"));
  auto after = stack.GraphStatus(true);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->applied_seq(), before->applied_seq());
  EXPECT_EQ(after->digest(), before->digest());
  EXPECT_EQ(after->role(), v1::ACTIVE);
  grpc::Status ok = push(3, 5000, 100);
  EXPECT_TRUE(ok.ok()) << ok.error_message();
}

}  // namespace
}  // namespace vitrage::testing
