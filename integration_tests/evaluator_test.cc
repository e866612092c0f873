// The template evaluator over the real binaries: a synthetic cloud whose
// zabbix host alarms ("alarm-N", raised and cleared by the collector's
// change generator) make the evaluator raise deduced alarms on the hosts'
// instances, set states, mark hosts down and add causal edges. Then kill -9
// of the graph after those actions: after snapshot + replay the deduced
// alarms are there once, the recovery executed no action (no "evaluator"
// record after the last one before the kill, no action counted), a fresh
// start (persistency off, get_all + full pass) builds the same graph, and
// the recovered evaluator still clears what a cleared alarm caused.
// vitrage-ctl alarms / rca are checked against the gRPC answers.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "common/testing/process.h"
#include "common/testing/test_dirs.h"
#include "integration_tests/stack.h"
#include "integration_tests/test_templates.h"

namespace vitrage::testing {
namespace {

constexpr char kV2[] = R"(metadata:
  version: 2
  name: host_alarm_causes_instance_alarm
definitions:
  entities:
    - entity:
        category: ALARM
        type: zabbix
        template_id: host_alarm
    - entity:
        category: RESOURCE
        type: nova.host
        template_id: host
    - entity:
        category: RESOURCE
        type: nova.instance
        template_id: instance
    - entity:
        category: ALARM
        type: vitrage
        name: instance at risk
        template_id: instance_alarm
  relationships:
    - relationship:
        source: host_alarm
        target: host
        relationship_type: on
        template_id: alarm_on_host
    - relationship:
        source: host
        target: instance
        relationship_type: contains
        template_id: host_contains_instance
    - relationship:
        source: instance_alarm
        target: instance
        relationship_type: on
        template_id: alarm_on_instance
scenarios:
  - scenario:
      condition: alarm_on_host and host_contains_instance and alarm_on_instance
      actions:
        - action:
            action_type: add_causal_relationship
            action_target:
              source: host_alarm
              target: instance_alarm
)";

constexpr char kBroken[] = R"(metadata:
  version: 3
  name: broken
entities:
  host:
    type: nova.host
scenarios:
  - condition: host [contains] nothing
    actions:
      - mark_down:
          target: host
)";

std::string TemplatesDir() {
  char tmpl[] = "/tmp/vitrage-templates-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  std::ofstream(dir + "/host_alarm_v3.yaml") << kV3;
  std::ofstream(dir + "/host_alarm_v2.yaml") << kV2;
  std::ofstream(dir + "/broken.yaml") << kBroken;
  return dir;
}

StackOptions Options(const std::string& templates) {
  StackOptions o;
  o.synthetic_hosts = 6;
  o.seed = 7;
  o.change_rate = 300;
  o.max_changes = 400;
  o.conf.push_back({"graph", "templates_dir = " + templates});
  return o;
}

absl::StatusOr<std::vector<v1::Vertex>> Alarms(Stack& stack, const std::string& type,
                                               int port = 0) {
  grpc::ClientContext ctx;
  v1::ListAlarmsRequest req;
  req.set_vitrage_type(type);
  v1::ListAlarmsResponse resp;
  grpc::Status st = stack.GraphStub(port)->ListAlarms(&ctx, req, &resp);
  if (!st.ok()) return absl::InternalError(st.error_message());
  return std::vector<v1::Vertex>(resp.alarms().begin(), resp.alarms().end());
}

std::string Prop(const v1::Vertex& v, const std::string& key) {
  for (const auto& p : v.properties()) {
    if (p.key() == key) return p.value().string_value();
  }
  return "";
}

// Records with seq > after, by source "evaluator" / other.
struct LogCount {
  uint64_t evaluator = 0;
  uint64_t total = 0;
  uint64_t last_seq = 0;
};
absl::StatusOr<LogCount> CountLog(Stack& stack, uint64_t after) {
  grpc::ClientContext ctx;
  v1::ReadLogRequest req;
  req.set_after_seq(after);
  auto reader = stack.PersistorStub()->ReadLog(&ctx, req);
  v1::ReadLogResponse resp;
  LogCount c;
  while (reader->Read(&resp)) {
    for (const auto& r : resp.records()) {
      ++c.total;
      c.last_seq = r.seq();
      if (r.source() == "evaluator") ++c.evaluator;
    }
  }
  grpc::Status st = reader->Finish();
  if (!st.ok()) return absl::InternalError(st.error_message());
  return c;
}

TEST(EvaluatorTest, ActionsSurviveKill9OnceAndFreshStartBuildsTheSameGraph) {
  std::string templates = TemplatesDir();
  Stack stack(Options(templates));
  absl::Status started = stack.Start();
  ASSERT_TRUE(started.ok()) << started << "\n" << stack.LogTail("graph");

  // The broken template is reported; the two good ones run.
  auto st = stack.GraphStatus();
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(st->evaluator().enabled());
  EXPECT_EQ(st->evaluator().enable_pass(), "full pass (after get_all)");
  EXPECT_EQ(st->evaluator().templates(), 2u);
  EXPECT_EQ(st->evaluator().scenarios(), 3u);
  ASSERT_EQ(st->evaluator().template_errors_size(), 1);
  EXPECT_THAT(st->evaluator().template_errors(0),
              ::testing::HasSubstr("broken.yaml:8: condition \"host [contains] nothing\": "
                                   "entity \"nothing\" is not defined"));

  // A snapshot while the change generator runs, so that recovery replays a
  // tail holding evaluator records.
  absl::SleepFor(absl::Milliseconds(500));
  {
    grpc::ClientContext ctx;
    v1::TakeSnapshotResponse snap;
    ASSERT_TRUE(stack.GraphStub()->TakeSnapshot(&ctx, v1::TakeSnapshotRequest(), &snap).ok());
  }
  ASSERT_TRUE(stack.WaitCollectorDrained(absl::Seconds(60)).ok()) << stack.LogTail("graph");

  auto deduced = Alarms(stack, "vitrage");
  ASSERT_TRUE(deduced.ok()) << deduced.status();
  ASSERT_FALSE(deduced->empty()) << "no deduced alarm: the templates did not match";
  // RCA of a deduced alarm: the host alarm(s) that cause it.
  {
    grpc::ClientContext ctx;
    v1::GetRcaRequest req;
    req.set_alarm_id((*deduced)[0].id());
    v1::GetRcaResponse rca;
    ASSERT_TRUE(stack.GraphStub()->GetRca(&ctx, req, &rca).ok());
    ASSERT_GE(rca.alarms_size(), 2);
    EXPECT_EQ(rca.alarms(0).id(), (*deduced)[0].id());
    int causes_it = 0;
    for (const auto& e : rca.edges()) {
      EXPECT_EQ(e.label(), "causes");
      if (e.target_id() == (*deduced)[0].id()) ++causes_it;
    }
    EXPECT_GE(causes_it, 1);
  }
  // The same through vitrage-ctl (the real binary): `alarms --type
  // vitrage` lists every deduced alarm, `rca` prints the alarm, its causes
  // and the "causes" edges, and an unknown id is an error naming it.
  {
    const std::string ctl = Binary("graph_service/vitrage-ctl");
    const std::string graph = absl::StrCat("127.0.0.1:", stack.graph_port());
    int runs = 0;
    auto run = [&](std::vector<std::string> args, int* rc) {
      std::vector<std::string> argv = {ctl, "--config", stack.conf_path("graph"), "--graph", graph};
      argv.insert(argv.end(), args.begin(), args.end());
      std::string out = absl::StrCat(stack.dir(), "/ctl-", ++runs, ".out");
      auto r = RunCommand(argv, out, absl::Seconds(60));
      *rc = r.ok() ? *r : -1;
      return ReadFileOrEmpty(out);
    };
    int rc = 0;
    std::string out = run({"alarms", "--type", "vitrage"}, &rc);
    EXPECT_EQ(rc, 0) << out;
    for (const auto& a : *deduced) EXPECT_THAT(out, ::testing::HasSubstr(a.id()));
    EXPECT_THAT(out, ::testing::HasSubstr(absl::StrCat("\n", deduced->size(), " alarms")));
    EXPECT_THAT(out, ::testing::HasSubstr("instance at risk"));
    out = run({"alarms"}, &rc);  // every type: the zabbix host alarms too
    EXPECT_EQ(rc, 0) << out;
    EXPECT_THAT(out, ::testing::HasSubstr("zabbix"));
    out = run({"rca", (*deduced)[0].id()}, &rc);
    EXPECT_EQ(rc, 0) << out;
    EXPECT_THAT(out, ::testing::HasSubstr("CAUSE"));
    grpc::ClientContext ctx;
    v1::GetRcaRequest req;
    req.set_alarm_id((*deduced)[0].id());
    v1::GetRcaResponse rca;
    ASSERT_TRUE(stack.GraphStub()->GetRca(&ctx, req, &rca).ok());
    for (const auto& e : rca.edges()) {
      EXPECT_THAT(out, ::testing::HasSubstr(e.source_id()));
      EXPECT_THAT(out, ::testing::HasSubstr(e.target_id()));
    }
    out = run({"rca", (*deduced)[0].id(), "--json"}, &rc);
    EXPECT_EQ(rc, 0) << out;
    EXPECT_THAT(out, ::testing::HasSubstr("\"causes\""));
    out = run({"rca", "no-such-alarm"}, &rc);
    EXPECT_EQ(rc, 1) << out;
    EXPECT_THAT(out, ::testing::HasSubstr("no vertex \"no-such-alarm\""));
  }

  auto before = stack.GraphStatus(/*digest=*/true);
  ASSERT_TRUE(before.ok());
  EXPECT_GT(before->evaluator().actions_done(), 0u);
  auto log_before = CountLog(stack, 0);
  ASSERT_TRUE(log_before.ok()) << log_before.status();
  EXPECT_GT(log_before->evaluator, 0u);
  const uint64_t kill_seq = before->applied_seq();
  ASSERT_EQ(before->durable_seq(), kill_seq);
  std::printf("before kill -9: %zu deduced alarms, %llu evaluator records of %llu, seq %llu\n",
              deduced->size(), static_cast<unsigned long long>(log_before->evaluator),
              static_cast<unsigned long long>(log_before->total),
              static_cast<unsigned long long>(kill_seq));

  stack.graph().Kill9();
  ASSERT_TRUE(stack.StartGraph().ok());
  ASSERT_TRUE(stack.WaitGraphActive(absl::Seconds(30)).ok());
  auto after = stack.GraphStatus(/*digest=*/true);
  ASSERT_TRUE(after.ok());
  EXPECT_GT(after->recovery().snapshot_id(), 0u);
  EXPECT_GT(after->recovery().records_replayed(), 0u);
  EXPECT_TRUE(after->recovery().get_all_reason().empty());
  // Nothing executed again: no action counted, no evaluator record written.
  EXPECT_EQ(after->evaluator().enable_pass(), "recovery pass");
  EXPECT_EQ(after->evaluator().actions_done(), 0u);
  EXPECT_EQ(after->evaluator().actions_undone(), 0u);
  EXPECT_EQ(after->applied_seq(), kill_seq);
  auto log_after = CountLog(stack, kill_seq);
  ASSERT_TRUE(log_after.ok());
  EXPECT_EQ(log_after->evaluator, 0u);
  EXPECT_EQ(after->digest(), before->digest());
  // Each deduced alarm once, the same ones.
  auto recovered = Alarms(stack, "vitrage");
  ASSERT_TRUE(recovered.ok());
  std::set<std::pair<std::string, std::string>> keys;
  for (const auto& a : *recovered) {
    EXPECT_TRUE(keys.insert({Prop(a, "vitrage_resource_id"), Prop(a, "name")}).second)
        << "deduced alarm twice: " << a.id();
  }
  ASSERT_EQ(recovered->size(), deduced->size());
  for (size_t i = 0; i < deduced->size(); ++i) EXPECT_EQ((*recovered)[i].id(), (*deduced)[i].id());

  // A fresh start from the collector alone (persistency off: get_all,
  // then one full pass) builds the same graph.
  {
    std::ifstream in(stack.conf_path("graph"));
    std::stringstream ss;
    ss << in.rdbuf();
    std::string conf = absl::StrReplaceAll(
        ss.str(), {{"enable_persistency = true", "enable_persistency = false"}});
    std::string fresh_conf = stack.dir() + "/vitrage-fresh.conf";
    std::ofstream(fresh_conf) << conf;
    int port = PickFreePort();
    auto fresh = Process::Start(
        {Binary("graph_service/vitrage-graph"), "--config", fresh_conf, "--listen",
         absl::StrCat("127.0.0.1:", port), "--metrics", absl::StrCat("127.0.0.1:", PickFreePort())},
        stack.log("graph-fresh"));
    ASSERT_TRUE(fresh.ok()) << fresh.status();
    ASSERT_TRUE(stack.WaitGraphActive(absl::Seconds(30), port).ok())
        << stack.LogTail("graph-fresh");
    auto f = stack.GraphStatus(/*digest=*/true, port);
    ASSERT_TRUE(f.ok());
    EXPECT_FALSE(f->persistency_enabled());
    EXPECT_EQ(f->evaluator().enable_pass(), "full pass (after get_all)");
    EXPECT_GT(f->evaluator().actions_done(), 0u);  // the full pass did the work
    EXPECT_EQ(f->digest(), after->digest());
    fresh->Stop();
  }

  // The recovered evaluator carries on: clearing the host alarms that
  // cause a deduced alarm removes it and its causal edges.
  const v1::Vertex& target = (*recovered)[0];
  grpc::ClientContext rctx;
  v1::GetRcaRequest rreq;
  rreq.set_alarm_id(target.id());
  v1::GetRcaResponse rca;
  ASSERT_TRUE(stack.GraphStub()->GetRca(&rctx, rreq, &rca).ok());
  v1::PushEventsRequest push;
  v1::Event* ev = push.add_events();
  ev->set_source("evaluator_test");
  ev->set_source_seq(1);
  auto* f = ev->mutable_fields();
  auto put = [](v1::MapValue* m, const std::string& k, const std::string& v) {
    auto* e = m->add_entries();
    e->set_key(k);
    e->mutable_value()->set_string_value(v);
  };
  put(f, "vitrage_entity_type", "vitrage.passthrough");
  put(f, "vitrage_datasource_action", "update");
  put(f, "vitrage_sample_date", "2024-01-01T00:00:00Z");
  auto* ops_entry = f->add_entries();
  ops_entry->set_key("ops");
  auto* ops = ops_entry->mutable_value()->mutable_list_value();
  int causes = 0;
  for (const auto& e : rca.edges()) {
    if (e.target_id() != target.id()) continue;
    ++causes;
    auto* op = ops->add_values()->mutable_map_value();
    put(op, "op", "remove_vertex");
    put(op, "id", e.source_id());
  }
  ASSERT_GT(causes, 0);
  {
    grpc::ClientContext ctx;
    v1::PushEventsResponse resp;
    grpc::Status s = stack.GraphStub()->PushEvents(&ctx, push, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  auto cleared = Alarms(stack, "vitrage");
  ASSERT_TRUE(cleared.ok());
  for (const auto& a : *cleared) EXPECT_NE(a.id(), target.id()) << "deduced alarm not cleared";
  auto end = stack.GraphStatus();
  ASSERT_TRUE(end.ok());
  EXPECT_GT(end->evaluator().actions_undone(), 0u);
  (void)std::system(("rm -rf " + templates).c_str());
}

// Issue 26, item 9: the templates shipped in deploy/templates/, on the
// default stack's synthetic cloud and change rate (deploy/run-local-stack.sh:
// 8 hosts, change_rate 5), give deduced alarms with an RCA within a minute.
TEST(EvaluatorTest, ShippedTemplatesActOnTheDefaultStackWithinAMinute) {
  StackOptions o;
  o.change_rate = 5;
  o.conf.push_back(
      {"graph", "templates_dir = " + RequiredEnvDir("VITRAGE_SOURCE_DIR") + "/deploy/templates"});
  Stack stack(o);
  absl::Status started = stack.Start();
  ASSERT_TRUE(started.ok()) << started << "\n" << stack.LogTail("graph");
  auto st = stack.GraphStatus();
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(st->evaluator().enabled());
  EXPECT_GE(st->evaluator().templates(), 1u);
  EXPECT_EQ(st->evaluator().template_errors_size(), 0) << st->evaluator().template_errors(0);
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  std::vector<v1::Vertex> deduced;
  v1::GetRcaResponse rca;
  while (absl::Now() < deadline) {
    auto alarms = Alarms(stack, "vitrage");
    ASSERT_TRUE(alarms.ok()) << alarms.status();
    for (const v1::Vertex& a : *alarms) {
      if (Prop(a, "name") != "instance suspect") continue;
      grpc::ClientContext ctx;
      v1::GetRcaRequest req;
      req.set_alarm_id(a.id());
      rca.Clear();
      if (stack.GraphStub()->GetRca(&ctx, req, &rca).ok() && rca.alarms_size() >= 2 &&
          rca.edges_size() >= 1) {
        deduced.push_back(a);
        break;
      }
    }
    if (!deduced.empty()) break;
    absl::SleepFor(absl::Milliseconds(500));
  }
  ASSERT_FALSE(deduced.empty()) << "no deduced \"instance suspect\" alarm with an RCA within 60 s\n"
                                << stack.LogTail("graph");
  EXPECT_EQ(rca.edges(0).label(), "causes");
  EXPECT_EQ(Prop(rca.alarms(1), "vitrage_type"), "zabbix");
}

}  // namespace
}  // namespace vitrage::testing
