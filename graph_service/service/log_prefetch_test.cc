// The recovery's log read-ahead against the real persistor (in-process, on
// a private MariaDB): it hands over the records after its seq in order and
// ends with the log; stopped early, it ends after what it had queued.
#include "graph_service/service/log_prefetch.h"

#include <gtest/gtest.h>

#include <vector>

#include "absl/time/clock.h"
#include "graph_service/service/test_util.h"
#include "persistor_service/server/test_util.h"

namespace vitrage::service {
namespace {

namespace pt = vitrage::persistor::testing;

// The log holds records 1..50 of about 1000 bytes each.
class LogPrefetchTest : public testing::PersistorTest {
 protected:
  void SetUp() override {
    testing::PersistorTest::SetUp();
    if (HasFatalFailure()) return;
    auto e = pt::AcquireEpoch(stub_.get(), "graph:1");
    ASSERT_TRUE(e.ok()) << e.status();
    auto r = pt::AppendBatches(stub_.get(), {pt::MakeBatch(e->epoch(), 1, 50, 1000)});
    ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  }
};

TEST_F(LogPrefetchTest, HandsOverTheRecordsAfterItsSeqInOrder) {
  LogPrefetch prefetch(stub_.get(), /*batch_bytes=*/4096);
  EXPECT_FALSE(prefetch.Reads(20));
  prefetch.Start(20);
  prefetch.Start(30);  // only the first call counts
  EXPECT_TRUE(prefetch.Reads(20));
  EXPECT_FALSE(prefetch.Reads(30));
  std::vector<uint64_t> seqs;
  int responses = 0;
  v1::ReadLogResponse resp;
  while (prefetch.Next(&resp)) {
    ++responses;
    for (const auto& rec : resp.records()) seqs.push_back(rec.seq());
  }
  ASSERT_EQ(seqs.size(), 30u);
  for (size_t i = 0; i < seqs.size(); ++i) EXPECT_EQ(seqs[i], 21 + i);
  EXPECT_GT(responses, 1);  // in batches of about batch_bytes
  EXPECT_FALSE(prefetch.Next(&resp));
}

TEST_F(LogPrefetchTest, StoppedEarlyItEndsAfterWhatItQueuedInOrder) {
  LogPrefetch prefetch(stub_.get(), /*batch_bytes=*/4096);
  prefetch.Start(0);
  v1::ReadLogResponse resp;
  ASSERT_TRUE(prefetch.Next(&resp));
  EXPECT_EQ(resp.records(0).seq(), 1u);
  uint64_t last = resp.records(resp.records_size() - 1).seq();
  prefetch.Stop();
  // What was queued before the stop is still handed over, in order, and
  // then the end: the replay reads on from the last seq it got.
  while (prefetch.Next(&resp)) {
    for (const auto& rec : resp.records()) EXPECT_EQ(rec.seq(), ++last);
  }
  EXPECT_LE(last, 50u);
  EXPECT_FALSE(prefetch.Next(&resp));
}

TEST_F(LogPrefetchTest, HoldsAtMostItsQueueLimitUntilTheReplayTakes) {
  // 50 records of ~1000 bytes in responses of ~4 KiB; at most ~8 KiB may
  // wait, so the stream stops after about 3 responses until Next.
  LogPrefetch prefetch(stub_.get(), /*batch_bytes=*/4096, /*max_queued_bytes=*/8192);
  prefetch.Start(0);
  absl::SleepFor(absl::Milliseconds(300));  // time to read all 50 if it could
  // The queue stops growing once it holds the limit: one response past it
  // at most.
  EXPECT_LT(prefetch.max_queued_seen(), 8192u + 6000u);
  EXPECT_GE(prefetch.max_queued_seen(), 8192u);
  std::vector<uint64_t> seqs;
  v1::ReadLogResponse resp;
  while (prefetch.Next(&resp)) {
    for (const auto& rec : resp.records()) seqs.push_back(rec.seq());
  }
  // Everything still arrives, in order, as the replay takes it.
  ASSERT_EQ(seqs.size(), 50u);
  for (size_t i = 0; i < seqs.size(); ++i) EXPECT_EQ(seqs[i], 1 + i);
  EXPECT_LT(prefetch.max_queued_seen(), 8192u + 6000u);
}

TEST_F(LogPrefetchTest, NeverStartedStopsAtOnce) {
  LogPrefetch prefetch(stub_.get(), 4096);
  prefetch.Stop();
  EXPECT_FALSE(prefetch.Reads(0));
}

}  // namespace
}  // namespace vitrage::service
