// Randomized crash loop: while the change generator runs and the real
// oslo_messaging.Notifier publishes nova, cinder, neutron and Zabbix
// notifications on a private RabbitMQ (integration_tests/bus_publish.py
// mix), kill -9 the graph, the persistor, mysqld or RabbitMQ at random
// moments, restart it, repeat. At the end every acked collector event and
// every published notification must be in the durable journal exactly
// once, the graph without the bus's entities must have the collector
// model's digest, and the bus's entities must all be in the graph.
//
// Parameters (environment):
//   VITRAGE_CRASH_LOOP_FAULTS  faults to inject (default 6: the CI loop)
//   VITRAGE_CRASH_LOOP_SEED    seed (default: time-based; printed, so a
//                              failing run can be reproduced)
//   VITRAGE_CRASH_LOOP_RATE    change events per second (default 300)
//   VITRAGE_CRASH_LOOP_BUS     0: no bus and no broker faults (default 1)
//   VITRAGE_CRASH_LOOP_BUS_RATE  notifications per second (default 40)
// integration_tests/crash_loop_long.sh runs it with 200+ faults.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <random>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/testing/rabbitmq_fixture.h"
#include "integration_tests/stack.h"
#include "nlohmann/json.hpp"

namespace vitrage::testing {
namespace {

uint64_t EnvOr(const char* name, uint64_t def) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : def;
}

// The journal's bus records: source -> records (each notification of the
// mix makes one event, so one record each).
absl::StatusOr<std::map<std::string, int>> BusRecords(Stack& stack) {
  absl::Status last;
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::map<std::string, int> out;
    auto stub = stack.PersistorStub();
    grpc::ClientContext ctx;
    auto reader = stub->ReadLog(&ctx, v1::ReadLogRequest());
    v1::ReadLogResponse resp;
    while (reader->Read(&resp)) {
      for (const auto& r : resp.records()) {
        if (absl::StartsWith(r.source(), "bus:")) ++out[r.source()];
      }
    }
    grpc::Status st = reader->Finish();
    if (st.ok()) return out;
    last = absl::UnavailableError(st.error_message());
    absl::SleepFor(absl::Milliseconds(300));
  }
  return last;
}

// bus_graph.py's split of the graph's export: the digest without the bus's
// entities, and the bus's entities per type.
absl::StatusOr<nlohmann::json> SplitGraph(Stack& stack) {
  const std::string exported = stack.dir() + "/export.jsonl";
  const std::string log = stack.dir() + "/export.log";
  auto rc =
      RunCommand({Binary("graph_service/vitrage-ctl"), "--config", stack.conf_path("graph"),
                  "--graph", absl::StrCat("127.0.0.1:", stack.graph_port()), "export", exported},
                 log, absl::Seconds(120));
  if (!rc.ok() || *rc != 0) {
    return absl::InternalError(absl::StrCat("vitrage-ctl export: ", ReadFileOrEmpty(log)));
  }
  const std::string out = stack.dir() + "/bus_graph.out";
  rc = RunCommand({"/usr/bin/python3", SourceDir() + "/integration_tests/bus_graph.py", exported},
                  out, absl::Seconds(120));
  if (!rc.ok() || *rc != 0) {
    return absl::InternalError(absl::StrCat("bus_graph.py: ", ReadFileOrEmpty(out)));
  }
  nlohmann::json j = nlohmann::json::parse(ReadFileOrEmpty(out), nullptr, false);
  if (j.is_discarded()) return absl::InternalError("bus_graph.py: " + ReadFileOrEmpty(out));
  return j;
}

TEST(CrashLoopTest, EveryAckedEventIsInTheGraphExactlyOnce) {
  const uint64_t faults = EnvOr("VITRAGE_CRASH_LOOP_FAULTS", 6);
  const uint64_t seed = EnvOr("VITRAGE_CRASH_LOOP_SEED", absl::ToUnixMicros(absl::Now()) % 1000000);
  const uint64_t rate = EnvOr("VITRAGE_CRASH_LOOP_RATE", 300);
  const bool with_bus = EnvOr("VITRAGE_CRASH_LOOP_BUS", 1) != 0;
  const uint64_t bus_rate = EnvOr("VITRAGE_CRASH_LOOP_BUS_RATE", 40);
  std::printf(
      "crash-loop: seed %llu, %llu faults, %llu events/s, bus %s "
      "(reproduce with VITRAGE_CRASH_LOOP_SEED=%llu)\n",
      static_cast<unsigned long long>(seed), static_cast<unsigned long long>(faults),
      static_cast<unsigned long long>(rate),
      with_bus ? absl::StrCat(bus_rate, " notifications/s").c_str() : "off",
      static_cast<unsigned long long>(seed));
  std::fflush(stdout);
  std::mt19937_64 rng(seed);
  auto uniform_ms = [&](int lo, int hi) {
    return absl::Milliseconds(lo + static_cast<int>(rng() % (hi - lo + 1)));
  };

  StackOptions o;
  o.seed = seed;
  o.change_rate = rate;
  // The generator runs until the faults end (StopChanges below); this is
  // only a bound in case the test dies before that.
  o.max_changes = rate * (faults * 3 + 5);
  o.conf.push_back({"persistency", "snapshot_interval = 2"});
  // The bus: a private RabbitMQ (kill -9 and restarted on the same ports
  // and data dir), durable queues, the graph a listener on topic
  // crash_loop.
  std::unique_ptr<RabbitMqFixture> rabbit;
  if (with_bus) {
    rabbit = std::make_unique<RabbitMqFixture>();
    absl::Status s = rabbit->Start();
    ASSERT_TRUE(s.ok()) << s;
    o.conf.push_back({"DEFAULT", "transport_url = " + rabbit->url()});
    o.conf.push_back({"datasources", "notification_topics = crash_loop"});
    o.conf.push_back({"oslo_messaging_rabbit", "amqp_durable_queues = true"});
    o.conf.push_back({"oslo_messaging_rabbit", "heartbeat_timeout_threshold = 10"});
    o.conf.push_back({"oslo_messaging_rabbit", "rabbit_qos_prefetch_count = 200"});
  }
  Stack stack(o);
  ASSERT_TRUE(stack.Start().ok()) << stack.LogTail("graph");
  // The publisher runs until the faults end (the stop file), at bus_rate.
  const std::string stop_file = stack.dir() + "/publisher.stop";
  const std::string publish_log = stack.dir() + "/publish.log";
  Process publisher;
  if (with_bus) {
    auto p = Process::Start(
        {"/usr/bin/python3", SourceDir() + "/integration_tests/bus_publish.py", "--url",
         rabbit->url(), "--durable", "mix", "--topic", "crash_loop", "--count", "100000000",
         "--rate", std::to_string(bus_rate), "--stop-file", stop_file},
        publish_log);
    ASSERT_TRUE(p.ok()) << p.status();
    publisher = std::move(*p);
  }

  std::map<std::string, int> injected;
  double max_recovery_ms = 0;
  for (uint64_t i = 0; i < faults; ++i) {
    absl::SleepFor(uniform_ms(200, 2000));
    int target = static_cast<int>(rng() % (with_bus ? 4 : 3));
    absl::Time killed = absl::Now();
    if (target == 0) {
      stack.graph().Kill9();
      absl::SleepFor(uniform_ms(0, 800));
      ASSERT_TRUE(stack.StartGraph().ok());
      absl::Status active = stack.WaitGraphActive(absl::Seconds(60));
      ASSERT_TRUE(active.ok()) << "fault " << i << ": " << active;
      max_recovery_ms = std::max(max_recovery_ms, absl::ToDoubleMilliseconds(absl::Now() - killed));
      ++injected["graph"];
    } else if (target == 1) {
      stack.persistor().Kill9();
      absl::SleepFor(uniform_ms(0, 800));
      ASSERT_TRUE(stack.StartPersistor().ok()) << stack.LogTail("persistor");
      ++injected["persistor"];
    } else if (target == 2) {
      stack.db().Kill9();
      absl::SleepFor(uniform_ms(0, 800));
      ASSERT_TRUE(stack.db().Start().ok());
      ++injected["mysqld"];
    } else {
      // RabbitMQ: kill -9, then the same node, ports and data dir again.
      rabbit->Kill9();
      absl::SleepFor(uniform_ms(0, 800));
      absl::Status s = rabbit->Start();
      ASSERT_TRUE(s.ok()) << "fault " << i << ": " << s;
      ++injected["rabbitmq"];
    }
    // A graph can die of a fault elsewhere only by being fenced, which must
    // not happen here: it is the only graph.
    ASSERT_TRUE(stack.graph().running()) << "fault " << i << " killed the graph\n"
                                         << stack.LogTail("graph");
  }

  // No more changes once the faults end; then wait for what is left,
  // allowing 5 ms per pending event beyond two minutes (the graph's
  // intake drains thousands per second once everything is up).
  ASSERT_TRUE(stack.StopChanges().ok());
  uint64_t published = 0;
  if (with_bus) {
    { std::ofstream(stop_file) << "stop\n"; }
    auto st = publisher.Wait(absl::Seconds(300));
    const std::string plog = ReadFileOrEmpty(publish_log);
    ASSERT_TRUE(st.ok() && WIFEXITED(*st) && WEXITSTATUS(*st) == 0) << "publisher failed:\n"
                                                                    << plog.substr(0, 4000);
    unsigned long long n = 0;
    const size_t at = plog.rfind("published ");
    ASSERT_NE(at, std::string::npos) << plog;
    ASSERT_EQ(std::sscanf(plog.c_str() + at, "published %llu", &n), 1) << plog;
    published = n;
    std::printf("crash-loop: publisher stopped after %llu notifications\n", n);
  }
  auto left = stack.CollectorStatus();
  ASSERT_TRUE(left.ok()) << left.status();
  const absl::Duration drain =
      absl::Seconds(120) + absl::Milliseconds(5 * static_cast<int64_t>(left->pending()));
  std::printf(
      "crash-loop: faults done, generator stopped after %llu changes; %llu events "
      "pending, draining (up to %s)\n",
      static_cast<unsigned long long>(left->changes()),
      static_cast<unsigned long long>(left->pending()), absl::FormatDuration(drain).c_str());
  absl::Status drained = stack.WaitCollectorDrained(drain);
  ASSERT_TRUE(drained.ok()) << drained;
  // And the bus: every published notification in the journal.
  std::map<std::string, int> bus_records;
  if (with_bus) {
    const absl::Time deadline =
        absl::Now() + absl::Seconds(120) + absl::Milliseconds(5 * published);
    while (true) {
      auto recs = BusRecords(stack);
      ASSERT_TRUE(recs.ok()) << recs.status();
      bus_records = std::move(*recs);
      if (bus_records.size() >= published || absl::Now() > deadline) break;
      absl::SleepFor(absl::Seconds(1));
    }
    absl::StatusOr<int64_t> depth;
    for (int i = 0; i < 120; ++i) {
      depth = rabbit->QueueDepth("crash_loop.info");
      if (depth.ok() && *depth == 0) break;
      absl::SleepFor(absl::Seconds(1));
    }
    EXPECT_TRUE(depth.ok() && *depth == 0)
        << "crash_loop.info not empty: " << (depth.ok() ? std::to_string(*depth) : "?");
  }
  auto c = stack.CollectorStatus(/*digest=*/true);
  ASSERT_TRUE(c.ok());
  auto g = stack.GraphStatus(/*digest=*/true);
  ASSERT_TRUE(g.ok());

  auto once = stack.CheckExactlyOnce(*c);
  ASSERT_TRUE(once.ok()) << once.status();
  const uint64_t lost = once->lost, doubled = once->doubled;
  // Bus: each published notification is one record (the mix's are one
  // event each); missing ones are lost, extra records doubled.
  uint64_t bus_lost = 0, bus_doubled = 0;
  for (const auto& [source, count] : bus_records) bus_doubled += count - 1;
  if (bus_records.size() < published) bus_lost = published - bus_records.size();
  std::printf(
      "crash-loop summary: seed %llu, faults %llu (graph %d, persistor %d, mysqld %d, "
      "rabbitmq %d), events acked %llu, lost %llu, doubled %llu, max graph recovery %.0f ms; "
      "bus notifications published %llu, lost %llu, doubled %llu\n",
      static_cast<unsigned long long>(seed), static_cast<unsigned long long>(faults),
      injected["graph"], injected["persistor"], injected["mysqld"], injected["rabbitmq"],
      static_cast<unsigned long long>(c->acked()), static_cast<unsigned long long>(lost),
      static_cast<unsigned long long>(doubled), max_recovery_ms,
      static_cast<unsigned long long>(published), static_cast<unsigned long long>(bus_lost),
      static_cast<unsigned long long>(bus_doubled));
  EXPECT_EQ(lost, 0u);
  EXPECT_EQ(doubled, 0u);
  EXPECT_EQ(c->acked(), c->last_source_seq());
  if (!with_bus) {
    EXPECT_EQ(g->digest(), c->model_digest()) << "seed " << seed;
    return;
  }
  EXPECT_EQ(bus_lost, 0u);
  EXPECT_EQ(bus_doubled, 0u);
  EXPECT_EQ(bus_records.size(), published) << "records of notifications never published";
  EXPECT_GT(published, 0u);
  auto split = SplitGraph(stack);
  ASSERT_TRUE(split.ok()) << split.status();
  EXPECT_EQ((*split)["digest_without_bus"], c->model_digest())
      << "seed " << seed << ": the graph apart from the bus's entities";
  EXPECT_EQ((*split)["bus_edges_to_rest"], 0) << split->dump();
  // What the mix names: i % 5 == 0 instance, 1 volume, 2 network, 3 port,
  // 4 zabbix alarm; the instances' 4 hosts are placeholders.
  auto expect_type = [&](const char* type, uint64_t want) {
    const nlohmann::json& b = (*split)["bus"];
    EXPECT_EQ(b.value(type, 0), want) << type << ": " << split->dump();
  };
  auto kind = [&](uint64_t k) { return published / 5 + (published % 5 > k ? 1 : 0); };
  expect_type("nova.instance", kind(0));
  expect_type("cinder.volume", kind(1));
  expect_type("neutron.network", kind(2));
  expect_type("neutron.port", kind(3));
  expect_type("zabbix", kind(4));
  expect_type("nova.host", std::min<uint64_t>(published, 4));
}

// The persistor is down for a while (30 s by default) while events flow:
// queries keep working, intake pushes back once the journal buffer is full,
// and after the persistor returns everything is stored and acked.
TEST(CrashLoopTest, PersistorDownWhileEventsFlowAppliesBackPressure) {
  const uint64_t down_s = EnvOr("VITRAGE_PERSISTOR_DOWN_SECONDS", 30);
  StackOptions o;
  o.change_rate = 200;
  o.max_changes = 200 * (down_s + 6);
  o.conf.push_back({"persistency", "buffer_max_records = 300"});
  Stack stack(o);
  ASSERT_TRUE(stack.Start().ok()) << stack.LogTail("graph");
  absl::SleepFor(absl::Seconds(1));
  stack.persistor().Stop();
  absl::Time until = absl::Now() + absl::Seconds(down_s);
  uint64_t max_buffered = 0;
  uint64_t max_pending = 0;
  while (absl::Now() < until) {
    auto st = stack.GraphStatus();
    ASSERT_TRUE(st.ok()) << "the graph must keep serving queries: " << st.status();
    EXPECT_EQ(st->role(), v1::ACTIVE);
    max_buffered = std::max(max_buffered, st->buffered_records());
    auto cs = stack.CollectorStatus();
    if (cs.ok()) max_pending = std::max(max_pending, cs->pending());
    absl::SleepFor(absl::Milliseconds(500));
  }
  EXPECT_LE(max_buffered, 300u) << "the journal buffer is bounded";
  EXPECT_GT(max_pending, 300u) << "events must wait in the collector (back-pressure)";
  ASSERT_TRUE(stack.StartPersistor().ok());
  ASSERT_TRUE(stack.WaitCollectorDrained(absl::Seconds(120)).ok())
      << stack.WaitCollectorDrained(absl::Seconds(1));
  auto c = stack.CollectorStatus(true);
  auto g = stack.GraphStatus(true);
  ASSERT_TRUE(c.ok() && g.ok());
  EXPECT_EQ(g->digest(), c->model_digest());
  EXPECT_EQ(g->durable_seq(), g->applied_seq());
  std::printf(
      "persistor-down: %llu s down, max journal buffer %llu records, max collector "
      "backlog %llu events, all %llu acked\n",
      static_cast<unsigned long long>(down_s), static_cast<unsigned long long>(max_buffered),
      static_cast<unsigned long long>(max_pending), static_cast<unsigned long long>(c->acked()));
}

}  // namespace
}  // namespace vitrage::testing
