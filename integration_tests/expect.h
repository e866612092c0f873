// gtest checks shared by the scenarios over a Stack.
#ifndef VITRAGE_INTEGRATION_TESTS_EXPECT_H_
#define VITRAGE_INTEGRATION_TESTS_EXPECT_H_

#include <gtest/gtest.h>

#include <cstdio>

#include "absl/time/time.h"
#include "integration_tests/stack.h"

namespace vitrage::testing {

// Waits (up to `drain`) until every generated event is acked, then compares
// the graph's digest with the collector's model and, with persistency,
// checks exactly-once in the log read through the persistor on
// `persistor_port` (0: the stack's). Prints a one-line summary.
inline void ExpectGraphMatchesCollector(Stack& stack, absl::Duration drain,
                                        int persistor_port = 0) {
  ASSERT_TRUE(stack.WaitCollectorDrained(drain).ok())
      << stack.WaitCollectorDrained(absl::Seconds(1));
  auto c = stack.CollectorStatus(/*digest=*/true);
  ASSERT_TRUE(c.ok()) << c.status();
  auto g = stack.GraphStatus(/*digest=*/true);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->digest(), c->model_digest())
      << "graph has " << g->vertex_count() << " vertices, " << g->edge_count()
      << " edges; collector " << c->entities() << " / " << c->relationships();
  EXPECT_EQ(c->acked_source_seq(), c->last_source_seq());
  if (!stack.persistency()) return;
  auto once = stack.CheckExactlyOnce(*c, persistor_port);
  ASSERT_TRUE(once.ok()) << once.status();
  EXPECT_EQ(once->lost, 0u);
  EXPECT_EQ(once->doubled, 0u);
  std::printf(
      "summary: %s: events acked %llu (%llu covered by get_all), lost %llu, "
      "doubled %llu, last recovery %.0f ms, digest %s\n",
      ::testing::UnitTest::GetInstance()->current_test_info()->name(),
      static_cast<unsigned long long>(c->acked()),
      static_cast<unsigned long long>(once->covered_by_get_all),
      static_cast<unsigned long long>(once->lost), static_cast<unsigned long long>(once->doubled),
      g->recovery().total_ms(), g->digest() == c->model_digest() ? "matches" : "DIFFERS");
}

}  // namespace vitrage::testing

#endif  // VITRAGE_INTEGRATION_TESTS_EXPECT_H_
