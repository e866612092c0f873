// Tempest-style failover scenarios over the real binaries and a real
// MariaDB. Each checks the outcome by content: once the collector has every
// event acked, the graph's digest must equal the digest of the collector's
// own model of the cloud (what the pair must end with).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/grpc_util.h"
#include "common/testing/process.h"
#include "common/testing/test_dirs.h"
#include "integration_tests/expect.h"
#include "integration_tests/stack.h"

namespace vitrage::testing {
namespace {

using ::testing::HasSubstr;

// Lines of `text` that contain `needle`.
int CountLines(const std::string& text, const std::string& needle) {
  int n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

// The value of an unlabelled metric in a /metrics page (-1: absent).
StackOptions Changing(uint64_t changes, double rate) {
  StackOptions o;
  o.change_rate = rate;
  o.max_changes = changes;
  return o;
}

TEST(FailoverTest, RestartAfterSigtermKeepsTheTopology) {
  StackOptions o = Changing(300, 2000);
  // Also recompute the loaded snapshot's digest.
  o.conf.push_back({"persistency", "verify_snapshot_digest = true"});
  Stack stack(o);
  ASSERT_TRUE(stack.Start().ok()) << stack.LogTail("graph");
  ExpectGraphMatchesCollector(stack, absl::Seconds(90));
  auto before = stack.GraphStatus(true);
  ASSERT_TRUE(before.ok());
  ASSERT_GT(before->last_snapshot_seq(), 0u) << "the get_all snapshot";
  // The fresh start's get_all left its totals in status (issue 26).
  EXPECT_FALSE(before->get_all_running());
  EXPECT_GT(before->get_all_received(), 0u);
  EXPECT_GT(before->get_all_seconds(), 0);
  const absl::Time before_at = absl::Now();

  int st = stack.graph().Stop(absl::Seconds(20));
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st;
  absl::SleepFor(absl::Seconds(2));  // the stored snapshot ages meanwhile
  ASSERT_TRUE(stack.StartGraph().ok());
  ASSERT_TRUE(stack.WaitGraphActive(absl::Seconds(30)).ok());
  auto after = stack.GraphStatus(true);
  ASSERT_TRUE(after.ok());
  // Issue 26, item 2: from recovery on, status reports the newest stored
  // snapshot (seq, id, size) with its real age, not "none" or "just now".
  EXPECT_EQ(after->last_snapshot_seq(), before->last_snapshot_seq());
  EXPECT_EQ(after->last_snapshot_id(), after->recovery().snapshot_id());
  EXPECT_GT(after->last_snapshot_bytes(), 0u);
  EXPECT_GE(
      after->last_snapshot_age_seconds(),
      before->last_snapshot_age_seconds() + absl::ToDoubleSeconds(absl::Now() - before_at) - 0.5)
      << "the age counts from when the snapshot was taken";
  {
    auto m = stack.FetchMetrics(stack.graph_metrics_port());
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_EQ(MetricValue(*m, "vitrage_graph_snapshot_seq"),
              static_cast<double>(before->last_snapshot_seq()));
    EXPECT_GE(MetricValue(*m, "vitrage_graph_snapshot_age_seconds"), 2.0);
    EXPECT_EQ(MetricValue(*m, "vitrage_graph_snapshot_bytes"),
              static_cast<double>(after->last_snapshot_bytes()));
  }
  EXPECT_EQ(after->digest(), before->digest());
  EXPECT_EQ(after->applied_seq(), before->applied_seq());
  EXPECT_TRUE(after->recovery().get_all_reason().empty()) << after->recovery().get_all_reason();
  EXPECT_GT(after->recovery().snapshot_id(), 0u) << "the get_all snapshot should be used";
  EXPECT_GT(after->recovery().total_ms(), 0);
  ExpectGraphMatchesCollector(stack, absl::Seconds(90));
}

TEST(FailoverTest, MetricsEndpointsReportProgress) {
  Stack stack(Changing(200, 2000));
  ASSERT_TRUE(stack.Start().ok()) << stack.LogTail("graph");
  ExpectGraphMatchesCollector(stack, absl::Seconds(90));
  auto g = stack.FetchMetrics(stack.graph_metrics_port());
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_THAT(*g, HasSubstr("vitrage_graph_role 3"));  // ACTIVE
  EXPECT_THAT(*g, HasSubstr("vitrage_graph_durable_lag_records 0"));
  // Every event was either applied or acked as covered by the get_all.
  EXPECT_EQ(MetricValue(*g, "vitrage_graph_events_applied_total") +
                MetricValue(*g, "vitrage_graph_events_duplicate_total"),
            200);
  // A second scrape reads the page as it is now, not the first one again
  // (FetchMetrics once handed back every earlier scrape of the port).
  const double up_for = MetricValue(*g, "vitrage_graph_journal_state_seconds");
  ASSERT_GE(up_for, 0);
  absl::SleepFor(absl::Milliseconds(1500));
  auto g2 = stack.FetchMetrics(stack.graph_metrics_port());
  ASSERT_TRUE(g2.ok()) << g2.status();
  EXPECT_GE(MetricValue(*g2, "vitrage_graph_journal_state_seconds"), up_for + 1.0);
  EXPECT_THAT(*g, HasSubstr("vitrage_graph_recovery_phase_milliseconds{phase=\"get_all\"}"));
  EXPECT_THAT(*g, HasSubstr("vitrage_graph_push_durable_wait_seconds_bucket"));
  auto c = stack.FetchMetrics(stack.collector_metrics_port());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(*c, HasSubstr("vitrage_collector_outbox_pending 0"));
  EXPECT_THAT(*c, HasSubstr("vitrage_collector_events_acked 200"));
  auto p = stack.FetchMetrics(stack.persistor_metrics_port());
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_THAT(*p, HasSubstr("vitrage_persistor_commit_seconds_bucket"));
  EXPECT_THAT(*p, HasSubstr("vitrage_persistor_records_committed_total"));
}

TEST(FailoverTest, Kill9WhileEventsFlowLosesAndDoublesNothing) {
  Stack stack(Changing(1500, 500));
  ASSERT_TRUE(stack.Start().ok()) << stack.LogTail("graph");
  absl::SleepFor(absl::Seconds(1));
  const size_t log_start = ReadFileOrEmpty(stack.log("collector")).size();
  stack.graph().Kill9();
  // Events wait in the collector's outbox while the graph is down.
  absl::SleepFor(absl::Seconds(1));
  auto waiting = stack.CollectorStatus();
  ASSERT_TRUE(waiting.ok());
  EXPECT_GT(waiting->pending(), 0u);
  // Issue 26, item 6: the collector says the link is down (and why) once,
  // and nothing about the graph acking while it is dead.
  {
    std::string log = ReadFileOrEmpty(stack.log("collector")).substr(log_start);
    EXPECT_EQ(CountLines(log, "outbox: link to the graph down: "), 1) << log;
    EXPECT_EQ(CountLines(log, "link to the graph back"), 0) << log;
    EXPECT_EQ(CountLines(log, "graph acks again"), 0) << log;
  }
  ASSERT_TRUE(stack.StartGraph().ok());
  ASSERT_TRUE(stack.WaitGraphActive(absl::Seconds(30)).ok());
  ExpectGraphMatchesCollector(stack, absl::Seconds(90));
  auto c = stack.CollectorStatus();
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->acked(), 1500u);
  // ... and once that it is back: how long it was down, what waited.
  std::string log = ReadFileOrEmpty(stack.log("collector")).substr(log_start);
  EXPECT_EQ(CountLines(log, "outbox: link to the graph down: "), 1) << log;
  EXPECT_EQ(CountLines(log, "outbox: link to the graph back after "), 1) << log;
  EXPECT_LT(log.find("link to the graph down"), log.find("link to the graph back after"));
  EXPECT_THAT(log, ::testing::ContainsRegex("back after [0-9.]+m?s down \\([0-9]+ failed "
                                            "attempts\\): up to [1-9][0-9]* events waited"));
}

TEST(FailoverTest, StaleGraphIsFencedAndWritesNothingAfterTheNewOneStarts) {
  Stack stack(Changing(0, 0));
  ASSERT_TRUE(stack.Start().ok()) << stack.LogTail("graph");
  auto a = stack.GraphStatus();
  ASSERT_TRUE(a.ok());
  // Pause A; B takes over with a newer epoch.
  ASSERT_EQ(stack.graph().Signal(SIGSTOP), 0);
  int port_b = PickFreePort();
  auto b = stack.SpawnGraph(port_b, "-b");
  ASSERT_TRUE(b.ok());
  ASSERT_TRUE(stack.WaitGraphActive(absl::Seconds(30), port_b).ok()) << stack.LogTail("graph-b");
  auto bs = stack.GraphStatus(false, port_b);
  ASSERT_TRUE(bs.ok());
  EXPECT_GT(bs->epoch(), a->epoch());
  uint64_t durable_at_b = bs->applied_seq();

  // A wakes up and tries to write.
  ASSERT_EQ(stack.graph().Signal(SIGCONT), 0);
  auto stub = stack.GraphStub();
  v1::PushEventsRequest req;
  auto* ev = req.add_events();
  ev->set_source("test");
  ev->set_source_seq(1);
  ev->set_json(
      R"({"vitrage_entity_type": "vitrage.passthrough", "vitrage_datasource_action": "update",)"
      R"( "vitrage_sample_date": "2026-11-30T10:00:00Z", "ops": [{"op": "set_vertex",)"
      R"( "id": "stale-write", "props": {"vitrage_id": "stale-write"}}]})");
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
  v1::PushEventsResponse resp;
  grpc::Status st = stub->PushEvents(&ctx, req, &resp);
  EXPECT_FALSE(st.ok()) << "a fenced graph must not ack";
  auto code = stack.graph().Wait(absl::Seconds(20));
  ASSERT_TRUE(code.ok()) << "fenced graph did not exit\n" << stack.LogTail("graph");
  EXPECT_TRUE(WIFEXITED(*code) && WEXITSTATUS(*code) == 3) << *code;
  EXPECT_THAT(stack.LogTail("graph", 20000), HasSubstr("FENCED"));

  // Nothing A tried to write after B started is stored.
  auto ps = stack.PersistorStatus();
  ASSERT_TRUE(ps.ok());
  EXPECT_EQ(ps->durable_seq(), durable_at_b);
  EXPECT_EQ(ps->epoch(), bs->epoch());
  auto pstub = stack.PersistorStub();
  grpc::ClientContext rctx;
  v1::ReadLogRequest rreq;
  auto reader = pstub->ReadLog(&rctx, rreq);
  v1::ReadLogResponse rresp;
  while (reader->Read(&rresp)) {
    for (const auto& r : rresp.records()) {
      EXPECT_LE(r.seq(), durable_at_b);
      for (const auto& c : r.delta().changes()) {
        EXPECT_NE(c.vertex().vertex_id(), "stale-write");
      }
    }
  }
  EXPECT_TRUE(reader->Finish().ok());
  b->Stop();
}

TEST(FailoverTest, PersistencyDisabledTakesTheGetAllPath) {
  StackOptions o = Changing(200, 2000);
  o.persistency = false;
  Stack stack(o);
  ASSERT_TRUE(stack.Start().ok()) << stack.LogTail("graph");
  auto st = stack.GraphStatus();
  ASSERT_TRUE(st.ok());
  EXPECT_FALSE(st->persistency_enabled());
  EXPECT_EQ(st->recovery().get_all_reason(), "persistency disabled");
  EXPECT_EQ(st->epoch(), 0u);
  ExpectGraphMatchesCollector(stack, absl::Seconds(90));
  stack.graph().Kill9();
  ASSERT_TRUE(stack.StartGraph().ok());
  ASSERT_TRUE(stack.WaitGraphActive(absl::Seconds(30)).ok());
  ExpectGraphMatchesCollector(stack, absl::Seconds(90));
}

TEST(FailoverTest, OriginalSpecSpellingDisablesPersistencyToo) {
  StackOptions o = Changing(50, 2000);
  o.persistency = false;
  o.old_spelling = true;
  Stack stack(o);
  ASSERT_TRUE(stack.Start().ok()) << stack.LogTail("graph");
  auto st = stack.GraphStatus();
  ASSERT_TRUE(st.ok());
  EXPECT_FALSE(st->persistency_enabled());
  EXPECT_EQ(st->recovery().get_all_reason(), "persistency disabled");
  ExpectGraphMatchesCollector(stack, absl::Seconds(90));
}

TEST(FailoverTest, ContradictingSpellingsStopStartUpWithAClearMessage) {
  StackOptions o;
  o.conf.push_back({"persistancy", "enable_persistancy = false"});
  Stack stack(o);  // [persistency] says true, [persistancy] false
  ASSERT_FALSE(stack.Start().ok());
  EXPECT_THAT(stack.LogTail("persistor"), HasSubstr("contradicts"));
  auto code = stack.persistor().Wait(absl::Seconds(10));
  ASSERT_TRUE(code.ok());
  EXPECT_TRUE(WIFEXITED(*code) && WEXITSTATUS(*code) == 2) << *code;
}

TEST(FailoverTest, CorruptedLatestSnapshotFallsBackToThePreviousOne) {
  Stack stack(Changing(100, 2000));
  ASSERT_TRUE(stack.Start().ok()) << stack.LogTail("graph");
  ExpectGraphMatchesCollector(stack, absl::Seconds(90));
  auto stub = stack.GraphStub();
  uint64_t ids[2];
  for (int i = 0; i < 2; ++i) {
    grpc::ClientContext ctx;
    v1::TakeSnapshotResponse resp;
    grpc::Status st = stub->TakeSnapshot(&ctx, v1::TakeSnapshotRequest(), &resp);
    ASSERT_TRUE(st.ok()) << st.error_message();
    ids[i] = resp.snapshot_id();
  }
  ASSERT_GT(ids[1], ids[0]);
  auto before = stack.GraphStatus(true);
  ASSERT_TRUE(before.ok());
  // Flip a byte in the newest snapshot's first chunk, behind the store's back.
  auto q = stack.db().Query(
      absl::StrCat("UPDATE snapshot_chunks SET data = CONCAT(CHAR(ASCII(SUBSTR(data,1,1)) ^ 1),"
                   " SUBSTR(data, 2)) WHERE snapshot_id = ",
                   ids[1], " AND chunk_index = 0"));
  ASSERT_TRUE(q.ok()) << q.status();
  stack.graph().Kill9();
  ASSERT_TRUE(stack.StartGraph().ok());
  ASSERT_TRUE(stack.WaitGraphActive(absl::Seconds(30)).ok());
  auto after = stack.GraphStatus(true);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->recovery().snapshots_skipped(), 1u);
  EXPECT_EQ(after->recovery().snapshot_id(), ids[0]);
  EXPECT_EQ(after->digest(), before->digest());
  EXPECT_THAT(stack.LogTail("graph", 20000), HasSubstr("failed verification"));
}

// A get_all journaled as a graph image (docs/formats.md) is replayed from
// the log when no snapshot covers it; a log that ends inside the image (the
// graph died while journaling it) makes recovery take get_all again.
TEST(FailoverTest, GetAllImageReplaysFromTheLogAndAnUnfinishedOneIsTakenAgain) {
  StackOptions o = Changing(100, 2000);
  o.topology_file = WorkloadDir() + "graph_10k.jsonl.zst";  // build/workload/
  Stack stack(o);
  ASSERT_TRUE(stack.Start().ok()) << stack.LogTail("graph");
  ExpectGraphMatchesCollector(stack, absl::Seconds(90));
  EXPECT_THAT(stack.LogTail("graph", 20000), HasSubstr("image records"));

  // 1. No snapshot: the graph rebuilds from the image records + the events.
  stack.graph().Stop();
  ASSERT_TRUE(stack.db().Query("DELETE FROM snapshot_chunks; DELETE FROM graph_snapshots").ok());
  ASSERT_TRUE(stack.StartGraph().ok());
  ASSERT_TRUE(stack.WaitGraphActive(absl::Seconds(60)).ok()) << stack.LogTail("graph");
  auto st = stack.GraphStatus();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->recovery().snapshot_id(), 0u);
  EXPECT_GE(st->recovery().records_replayed(), 3u);  // the image, chunk by chunk
  EXPECT_EQ(st->recovery().get_all_reason(), "");
  ExpectGraphMatchesCollector(stack, absl::Seconds(90));

  // 2. The log cut inside the image: seq 1 holds its header, the image has
  // more than two chunks; keep seqs 1-2 only (the persistor is restarted
  // so that it reads the durable seq again).
  stack.graph().Stop();
  stack.persistor().Stop();
  auto q = stack.db().Query(
      "DELETE FROM snapshot_chunks; DELETE FROM graph_snapshots;"
      " DELETE FROM graph_log WHERE seq > 2; UPDATE writer_epoch SET durable_seq = 2");
  ASSERT_TRUE(q.ok()) << q.status();
  ASSERT_TRUE(stack.StartPersistor().ok());
  ASSERT_TRUE(stack.StartGraph().ok());
  ASSERT_TRUE(stack.WaitGraphActive(absl::Seconds(60)).ok()) << stack.LogTail("graph");
  st = stack.GraphStatus();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->recovery().get_all_reason(), "the previous get_all did not finish");
  EXPECT_THAT(stack.LogTail("graph", 20000), HasSubstr("the log ends inside a get_all image"));
  ExpectGraphMatchesCollector(stack, absl::Seconds(90));
}

TEST(FailoverTest, LongDowntimeTakesTheGetAllPathAndReconciles) {
  StackOptions o = Changing(100, 2000);
  o.conf.push_back({"persistency", "get_all_after_downtime = 1"});
  Stack stack(o);
  ASSERT_TRUE(stack.Start().ok()) << stack.LogTail("graph");
  ExpectGraphMatchesCollector(stack, absl::Seconds(90));
  stack.graph().Stop();
  // While the graph is down the cloud is replaced by another one (a new
  // collector run with another seed): entities the graph knows vanish.
  stack.collector().Stop();
  ASSERT_TRUE(stack.SetCollectorSeed(99).ok());
  ASSERT_TRUE(stack.StartCollector().ok());
  absl::SleepFor(absl::Milliseconds(1500));
  ASSERT_TRUE(stack.StartGraph().ok());
  ASSERT_TRUE(stack.WaitGraphActive(absl::Seconds(30)).ok());
  auto st = stack.GraphStatus();
  ASSERT_TRUE(st.ok());
  EXPECT_THAT(st->recovery().get_all_reason(), HasSubstr("downtime"));
  ExpectGraphMatchesCollector(stack, absl::Seconds(90));
}

TEST(FailoverTest, BadEventIsRejectedWholeAndChangesNothing) {
  Stack stack(Changing(0, 0));
  ASSERT_TRUE(stack.Start().ok()) << stack.LogTail("graph");
  auto before = stack.GraphStatus(true);
  ASSERT_TRUE(before.ok());
  auto stub = stack.GraphStub();
  v1::PushEventsRequest req;
  auto* good = req.add_events();
  good->set_source("test");
  good->set_source_seq(1);
  good->set_json(
      R"({"vitrage_entity_type": "vitrage.passthrough", "vitrage_datasource_action": "update",)"
      R"( "vitrage_sample_date": "2026-11-30T10:00:00Z", "ops": []})");
  auto* bad = req.add_events();
  bad->set_source("test");
  bad->set_source_seq(2);
  bad->set_json("{not json");
  grpc::ClientContext ctx;
  v1::PushEventsResponse resp;
  grpc::Status st = stub->PushEvents(&ctx, req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(st.error_message(), HasSubstr("event 1"));
  EXPECT_THAT(st.error_message(), HasSubstr("nothing in this request was applied"));
  auto after = stack.GraphStatus(true);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->applied_seq(), before->applied_seq());
  EXPECT_EQ(after->digest(), before->digest());
}

TEST(FailoverTest, BadInputOnEveryGraphRpcGetsAClearError) {
  Stack stack(Changing(0, 0));
  ASSERT_TRUE(stack.Start().ok()) << stack.LogTail("graph");
  auto before = stack.GraphStatus(true);
  ASSERT_TRUE(before.ok());
  auto stub = stack.GraphStub();
  auto push = [&](const v1::PushEventsRequest& req) {
    grpc::ClientContext ctx;
    v1::PushEventsResponse resp;
    return stub->PushEvents(&ctx, req, &resp);
  };
  {
    v1::PushEventsRequest req;
    for (int i = 0; i < 10001; ++i) req.add_events()->set_json("{}");
    grpc::Status st = push(req);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(st.error_message(), HasSubstr("the limit is 10000"));
  }
  {
    v1::PushEventsRequest req;
    req.add_events()->set_source("test");  // no body
    grpc::Status st = push(req);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(st.error_message(), HasSubstr("no body"));
  }
  {
    v1::PushEventsRequest req;
    req.add_events()->set_json(
        R"({"vitrage_entity_type": "nova.teapot", "vitrage_datasource_action": "update"})");
    grpc::Status st = push(req);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(st.error_message(), HasSubstr("nova.teapot"));
  }
  {
    v1::PushEventsRequest req;
    req.add_events()->set_json(
        R"({"vitrage_entity_type": "vitrage.passthrough", "vitrage_datasource_action": "sometimes"})");
    grpc::Status st = push(req);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(st.error_message(), HasSubstr("sometimes"));
  }
  {
    grpc::ClientContext ctx;
    v1::GetVertexRequest req;
    v1::GetVertexResponse resp;
    EXPECT_EQ(stub->GetVertex(&ctx, req, &resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
  {
    grpc::ClientContext ctx;
    v1::GetVertexRequest req;
    req.set_id("no-such-vertex");
    v1::GetVertexResponse resp;
    grpc::Status st = stub->GetVertex(&ctx, req, &resp);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
    EXPECT_THAT(st.error_message(), HasSubstr("no-such-vertex"));
  }
  {
    grpc::ClientContext ctx;
    v1::GetTopologyRequest req;
    req.set_root_id("no-such-vertex");
    auto reader = stub->GetTopology(&ctx, req);
    v1::TopologyBatch b;
    while (reader->Read(&b)) {
    }
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::NOT_FOUND);
  }
  auto after = stack.GraphStatus(true);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->applied_seq(), before->applied_seq());
  EXPECT_EQ(after->digest(), before->digest());
}

// Vitrage's consistency pass runs in the active graph and is journaled: a
// deleted static entity is removed after the grace period, also after a
// restart.
TEST(FailoverTest, ConsistencyPassRemovesDeletedEntitiesDurably) {
  StackOptions o;
  o.conf.push_back({"graph", "consistency_interval = 1"});
  o.conf.push_back({"graph", "deleted_entity_grace = 1"});
  Stack stack(o);
  ASSERT_TRUE(stack.Start().ok()) << stack.LogTail("graph");
  auto stub = stack.GraphStub();
  std::string date = absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now(), absl::UTCTimeZone());
  auto push = [&](uint64_t seq, const std::string& extra) {
    v1::PushEventsRequest req;
    auto* ev = req.add_events();
    ev->set_source("test-static");
    ev->set_source_seq(seq);
    ev->set_json(
        absl::StrCat(R"({"id": "sw-x", "static_id": "swx", "type": "switch", "name": "sw-x", )",
                     R"("state": "available", "metadata": {}, "relationships": [], )",
                     R"("vitrage_entity_type": "static", "vitrage_datasource_name": "static", )",
                     R"("vitrage_sample_date": ")", date, "\", ", extra, "}"));
    grpc::ClientContext ctx;
    v1::PushEventsResponse resp;
    return stub->PushEvents(&ctx, req, &resp);
  };
  auto count_switch = [&](bool* deleted) {
    grpc::ClientContext ctx;
    v1::GetTopologyRequest req;
    req.set_include_deleted(true);
    req.add_vitrage_types("switch");
    auto reader = stub->GetTopology(&ctx, req);
    v1::TopologyBatch b;
    int n = 0;
    while (reader->Read(&b)) {
      for (const auto& v : b.vertices()) {
        ++n;
        for (const auto& p : v.properties()) {
          if (p.key() == "vitrage_is_deleted") *deleted = p.value().bool_value();
        }
      }
    }
    EXPECT_TRUE(reader->Finish().ok());
    return n;
  };
  grpc::Status st = push(1, R"("vitrage_datasource_action": "snapshot")");
  ASSERT_TRUE(st.ok()) << st.error_message();
  bool deleted = false;
  ASSERT_EQ(count_switch(&deleted), 1);
  EXPECT_FALSE(deleted);
  st = push(2, R"("vitrage_datasource_action": "update", "vitrage_event_type": "delete_entity")");
  ASSERT_TRUE(st.ok()) << st.error_message();
  absl::Time deadline = absl::Now() + absl::Seconds(20);
  int left = 1;
  while (absl::Now() < deadline && (left = count_switch(&deleted)) != 0) {
    absl::SleepFor(absl::Milliseconds(200));
  }
  EXPECT_EQ(left, 0) << "the deleted switch was not removed\n" << stack.LogTail("graph");
  auto before = stack.GraphStatus(true);
  stack.graph().Kill9();
  ASSERT_TRUE(stack.StartGraph().ok());
  ASSERT_TRUE(stack.WaitGraphActive(absl::Seconds(30)).ok());
  auto after = stack.GraphStatus(true);
  ASSERT_TRUE(before.ok() && after.ok());
  EXPECT_EQ(after->digest(), before->digest());
  EXPECT_EQ(count_switch(&deleted), 0);
}

TEST(FailoverTest, PersistorKill9WhileEventsFlow) {
  Stack stack(Changing(1500, 500));
  ASSERT_TRUE(stack.Start().ok()) << stack.LogTail("graph");
  absl::SleepFor(absl::Seconds(1));
  {
    auto st = stack.GraphStatus();
    ASSERT_TRUE(st.ok()) << st.status();
    EXPECT_TRUE(st->journal_connected());
    EXPECT_FALSE(st->journal_since().empty());
  }
  const size_t log_start = ReadFileOrEmpty(stack.log("graph")).size();
  stack.persistor().Kill9();
  absl::SleepFor(absl::Seconds(2));
  // The graph keeps serving queries while the persistor is away.
  auto st = stack.GraphStatus();
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->role(), v1::ACTIVE);
  // Issue 26, item 7: the journal's state shows at once (status, metrics).
  EXPECT_FALSE(st->journal_connected());
  EXPECT_GE(st->journal_since_seconds(), 1.0);
  EXPECT_GT(st->journal_lag_records(), 0u);
  EXPECT_EQ(st->journal_lag_records(), st->applied_seq() - st->durable_seq());
  EXPECT_GE(st->journal_lag_seconds(), 1.0);
  {
    auto m = stack.FetchMetrics(stack.graph_metrics_port());
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_EQ(MetricValue(*m, "vitrage_graph_journal_connected"), 0);
    EXPECT_GE(MetricValue(*m, "vitrage_graph_durable_lag_seconds"), 1.0);
    EXPECT_GE(MetricValue(*m, "vitrage_graph_journal_state_seconds"), 1.0);
  }
  ASSERT_TRUE(stack.StartPersistor().ok());
  ExpectGraphMatchesCollector(stack, absl::Seconds(90));
  st = stack.GraphStatus();
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_TRUE(st->journal_connected());
  EXPECT_EQ(st->journal_lag_records(), 0u);
  EXPECT_EQ(st->journal_lag_seconds(), 0);
  // Issue 26, item 6: one line when the link went down (with why), one
  // when it was back (how long, how much was buffered); no line per retry.
  std::string log = ReadFileOrEmpty(stack.log("graph")).substr(log_start);
  EXPECT_EQ(CountLines(log, "journal: link to the persistor at "), 2) << log;
  EXPECT_EQ(CountLines(log, "down: the Append stream ended ("), 1) << log;
  EXPECT_THAT(log, ::testing::ContainsRegex("journal: link to the persistor at [0-9.:]+ back "
                                            "after [0-9.]+m?s down \\([0-9]+ failed attempts\\): "
                                            "up to [1-9][0-9]* records were buffered"));
  EXPECT_EQ(CountLines(log, "stream to persistor ended"), 0) << log;
}

// Issue 26, item 3: a persistor that cannot reach its database serves
// status and health (NOT_SERVING) and metrics at once, logs one line per
// attempt with backoff (never "shutting down"), and starts serving by
// itself once the database is back.
TEST(FailoverTest, PersistorWithoutItsDatabaseServesStatusAtOnce) {
  Stack stack(Changing(300, 200));
  ASSERT_TRUE(stack.Start().ok()) << stack.LogTail("graph");
  stack.persistor().Kill9();
  stack.db().Kill9();
  const size_t log_start = ReadFileOrEmpty(stack.log("persistor")).size();
  const absl::Time t0 = absl::Now();
  ASSERT_TRUE(stack.StartPersistor().ok())
      << "the persistor must answer GetStatus without its database";
  EXPECT_LT(absl::Now() - t0, absl::Seconds(10));
  auto health = grpc::health::v1::Health::NewStub(
      MakeChannel(absl::StrCat("127.0.0.1:", stack.persistor_port()), ServerRole::kPersistor));
  auto h = CheckHealth(health.get(), "", absl::Seconds(5));
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(*h, grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  absl::SleepFor(absl::Seconds(4));
  auto p = stack.PersistorStatus();
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_FALSE(p->database_reachable());
  EXPECT_FALSE(p->ready());
  EXPECT_FALSE(p->last_database_error().empty());
  EXPECT_FALSE(p->database_unreachable_since().empty());
  EXPECT_GE(p->database_unreachable_seconds(), 3.0);
  {
    auto m = stack.FetchMetrics(stack.persistor_metrics_port());
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_EQ(MetricValue(*m, "vitrage_persistor_database_reachable"), 0);
    EXPECT_EQ(MetricValue(*m, "vitrage_persistor_ready"), 0);
    EXPECT_GE(MetricValue(*m, "vitrage_persistor_database_unreachable_seconds"), 3.0);
  }
  // Everything but status is refused, saying why.
  {
    grpc::ClientContext ctx;
    v1::AcquireEpochResponse resp;
    grpc::Status s = stack.PersistorStub()->AcquireEpoch(&ctx, v1::AcquireEpochRequest(), &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
    EXPECT_THAT(s.error_message(), HasSubstr("has not reached its database"));
  }
  std::string log = ReadFileOrEmpty(stack.log("persistor")).substr(log_start);
  EXPECT_EQ(CountLines(log, "shutting down"), 0) << log;
  EXPECT_EQ(CountLines(log, "is unreachable, reconnecting with backoff"), 1) << log;
  // One line per attempt: attempts 2, 3, ... each once; the backoff keeps
  // them few (100 ms doubling to 2 s: about 6 in 4 s).
  const int attempts = CountLines(log, " unreachable (attempt ");
  EXPECT_GE(attempts, 2) << log;
  EXPECT_LE(attempts, 10) << log;
  for (int a = 2; a <= attempts + 1; ++a) {
    EXPECT_EQ(CountLines(log, absl::StrCat("(attempt ", a, ",")), 1) << a << "\n" << log;
  }
  // The database returns: the persistor serves by itself, the graph drains.
  ASSERT_TRUE(stack.db().Start().ok());
  absl::Time deadline = absl::Now() + absl::Seconds(30);
  bool serving = false;
  while (!serving && absl::Now() < deadline) {
    auto hh = CheckHealth(health.get(), "", absl::Seconds(5));
    serving = hh.ok() && *hh == grpc::health::v1::HealthCheckResponse::SERVING;
    if (!serving) absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_TRUE(serving) << stack.LogTail("persistor");
  p = stack.PersistorStatus();
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_TRUE(p->database_reachable());
  EXPECT_TRUE(p->ready());
  EXPECT_EQ(p->database_unreachable_seconds(), 0);
  ExpectGraphMatchesCollector(stack, absl::Seconds(90));
  log = ReadFileOrEmpty(stack.log("persistor")).substr(log_start);
  EXPECT_EQ(CountLines(log, "is reachable again after "), 1) << log;
}

TEST(FailoverTest, MysqldKill9WhileEventsFlow) {
  Stack stack(Changing(1500, 500));
  ASSERT_TRUE(stack.Start().ok()) << stack.LogTail("graph");
  absl::SleepFor(absl::Seconds(1));
  const size_t log_start = ReadFileOrEmpty(stack.log("persistor")).size();
  stack.db().Kill9();
  absl::SleepFor(absl::Seconds(1));
  ASSERT_TRUE(stack.db().Start().ok());
  ExpectGraphMatchesCollector(stack, absl::Seconds(90));
  // The persistor counted the database errors it rode out.
  auto m = stack.FetchMetrics(stack.persistor_metrics_port());
  ASSERT_TRUE(m.ok()) << m.status();
  size_t at = m->find("\nvitrage_persistor_mysql_errors_total ");
  ASSERT_NE(at, std::string::npos) << *m;
  EXPECT_GT(std::stod(m->substr(at + 38)), 0);
  // Issue 26, item 6: one line when the database went away, one when it
  // was back (with how long).
  std::string log = ReadFileOrEmpty(stack.log("persistor")).substr(log_start);
  // (A connection that breaks after the reconnect may make a second pair.)
  EXPECT_GE(CountLines(log, "is unreachable, reconnecting with backoff"), 1) << log;
  EXPECT_EQ(CountLines(log, "is unreachable, reconnecting with backoff"),
            CountLines(log, "is reachable again after "))
      << log;
  // And the store holds it: a restarted graph has the same content.
  auto before = stack.GraphStatus(true);
  stack.graph().Kill9();
  ASSERT_TRUE(stack.StartGraph().ok());
  ASSERT_TRUE(stack.WaitGraphActive(absl::Seconds(30)).ok());
  auto after = stack.GraphStatus(true);
  ASSERT_TRUE(before.ok() && after.ok());
  EXPECT_EQ(after->digest(), before->digest());
}

}  // namespace
}  // namespace vitrage::testing
