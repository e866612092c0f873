// Randomized crash loop: while the change generator runs, kill -9 the
// graph, the persistor or mysqld at random moments, restart it, repeat.
// At the end every acked event must be in the graph exactly once and the
// digest must match the collector's model.
//
// Parameters (environment):
//   VITRAGE_CRASH_LOOP_FAULTS  faults to inject (default 6: the CI loop)
//   VITRAGE_CRASH_LOOP_SEED    seed (default: time-based; printed, so a
//                              failing run can be reproduced)
//   VITRAGE_CRASH_LOOP_RATE    change events per second (default 300)
// integration_tests/crash_loop_long.sh runs it with 200+ faults.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "integration_tests/stack.h"

namespace vitrage::testing {
namespace {

uint64_t EnvOr(const char* name, uint64_t def) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : def;
}

TEST(CrashLoopTest, EveryAckedEventIsInTheGraphExactlyOnce) {
  const uint64_t faults = EnvOr("VITRAGE_CRASH_LOOP_FAULTS", 6);
  const uint64_t seed = EnvOr("VITRAGE_CRASH_LOOP_SEED", absl::ToUnixMicros(absl::Now()) % 1000000);
  const uint64_t rate = EnvOr("VITRAGE_CRASH_LOOP_RATE", 300);
  std::printf(
      "crash-loop: seed %llu, %llu faults, %llu events/s "
      "(reproduce with VITRAGE_CRASH_LOOP_SEED=%llu)\n",
      static_cast<unsigned long long>(seed), static_cast<unsigned long long>(faults),
      static_cast<unsigned long long>(rate), static_cast<unsigned long long>(seed));
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
  Stack stack(o);
  ASSERT_TRUE(stack.Start().ok()) << stack.LogTail("graph");

  std::map<std::string, int> injected;
  double max_recovery_ms = 0;
  for (uint64_t i = 0; i < faults; ++i) {
    absl::SleepFor(uniform_ms(200, 2000));
    int target = static_cast<int>(rng() % 3);
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
    } else {
      stack.db().Kill9();
      absl::SleepFor(uniform_ms(0, 800));
      ASSERT_TRUE(stack.db().Start().ok());
      ++injected["mysqld"];
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
  auto c = stack.CollectorStatus(/*digest=*/true);
  ASSERT_TRUE(c.ok());
  auto g = stack.GraphStatus(/*digest=*/true);
  ASSERT_TRUE(g.ok());

  auto once = stack.CheckExactlyOnce(*c);
  ASSERT_TRUE(once.ok()) << once.status();
  const uint64_t lost = once->lost, doubled = once->doubled;
  std::printf(
      "crash-loop summary: seed %llu, faults %llu (graph %d, persistor %d, mysqld %d), "
      "events acked %llu, lost %llu, doubled %llu, max graph recovery %.0f ms\n",
      static_cast<unsigned long long>(seed), static_cast<unsigned long long>(faults),
      injected["graph"], injected["persistor"], injected["mysqld"],
      static_cast<unsigned long long>(c->acked()), static_cast<unsigned long long>(lost),
      static_cast<unsigned long long>(doubled), max_recovery_ms);
  EXPECT_EQ(lost, 0u);
  EXPECT_EQ(doubled, 0u);
  EXPECT_EQ(c->acked(), c->last_source_seq());
  EXPECT_EQ(g->digest(), c->model_digest()) << "seed " << seed;
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
