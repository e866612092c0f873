// The engine's durability promises, each broken on purpose against the
// in-process fake persistor (test_util.h): a stream that breaks mid-batch,
// a persistor that never acks, a journal that stays full, a newer epoch.
#include "graph_service/service/engine.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "graph_service/service/test_util.h"

namespace vitrage::service {
namespace {

using testing::FakePersistor;
using ::testing::HasSubstr;

constexpr char kSource[] = "collector@1";

v1::PushEventsRequest Push(uint64_t first, int n) {
  v1::PushEventsRequest req;
  for (uint64_t seq = first; seq < first + n; ++seq) {
    *req.add_events() = testing::VertexEvent(kSource, seq, absl::StrCat("host-", seq));
  }
  return req;
}

class EngineTest : public ::testing::Test {
 protected:
  EngineOptions Options() {
    EngineOptions o;
    o.persistor_address = persistor_.address();
    o.collector_address = collector_.address();
    o.owner = "engine_test:1";
    o.snapshot_interval = absl::Hours(1);
    o.consistency_interval = absl::ZeroDuration();
    o.fence_check_interval = absl::ZeroDuration();
    o.journal.min_backoff = absl::Milliseconds(10);
    o.journal.max_backoff = absl::Milliseconds(50);
    o.push_timeout = absl::Seconds(5);
    return o;
  }

  // A fresh start on the empty store: get_all from the fake collector
  // (nothing), ACTIVE.
  void Start(EngineOptions options) {
    engine_ =
        std::make_unique<Engine>(options, [](graph::Graph* g) { return testing::MakeHandler(g); });
    ASSERT_TRUE(engine_->Start().ok());
    ASSERT_TRUE(engine_->active());
  }

  // Waits until every record the engine applied is durable.
  void WaitDurable() {
    for (int i = 0; i < 500; ++i) {
      v1::GraphStatus st = engine_->Status(false);
      if (st.durable_seq() == st.applied_seq()) return;
      absl::SleepFor(absl::Milliseconds(10));
    }
    FAIL() << "records not durable: " << engine_->Status(false).DebugString();
  }

  // Starts with a persistor that acks until the start-up's records and the
  // snapshot after get_all are stored, and then stops acking. (Shutdown
  // waits for a snapshot whose seq is not durable.)
  void StartThenStopAcking(EngineOptions options) {
    persistor_.SetAppendMode(FakePersistor::AppendMode::kAck);
    Start(options);
    WaitDurable();
    for (int i = 0; i < 500 && persistor_.stored().empty(); ++i) {
      absl::SleepFor(absl::Milliseconds(10));
    }
    ASSERT_FALSE(persistor_.stored().empty());
    persistor_.SetAppendMode(FakePersistor::AppendMode::kNeverAck);
  }

  FakePersistor persistor_;
  testing::FakeCollector collector_;
  std::unique_ptr<Engine> engine_;
};

TEST_F(EngineTest, StreamBrokenMidBatchIsResentAndNothingAppliedTwice) {
  persistor_.SetAppendMode(FakePersistor::AppendMode::kAck);
  Start(Options());
  WaitDurable();
  const uint64_t before = engine_->Status(false).applied_seq();
  persistor_.BreakNextBatch(/*keep=*/3);

  auto resp = engine_->PushEvents(Push(1, 10));
  ASSERT_TRUE(resp.ok()) << resp.status();
  EXPECT_EQ(resp->applied(), 10u);
  EXPECT_EQ(resp->durable_seq(), before + 10);
  // The broken batch's stored records came again on the new stream.
  EXPECT_GT(persistor_.resent(), 0);

  // The log holds every seq once, in order, and each event once.
  std::vector<v1::JournalRecord> log = persistor_.log();
  ASSERT_EQ(log.size(), before + 10);
  for (size_t i = 0; i < log.size(); ++i) EXPECT_EQ(log[i].seq(), i + 1);
  std::vector<uint64_t> source_seqs;
  for (const auto& rec : log) {
    if (rec.source() == kSource) source_seqs.push_back(rec.source_seq());
  }
  EXPECT_EQ(source_seqs, (std::vector<uint64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}));

  // The collector re-sends the request (its ack might have been lost):
  // acked as duplicates, nothing applied or journaled again.
  auto again = engine_->PushEvents(Push(1, 10));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->applied(), 0u);
  EXPECT_EQ(again->duplicates(), 10u);
  v1::GraphStatus st = engine_->Status(false);
  EXPECT_EQ(st.applied_seq(), before + 10);
  EXPECT_EQ(st.vertex_count(), 10u);
}

TEST_F(EngineTest, PersistorThatNeverAcksGetsNoOk) {
  EngineOptions o = Options();
  o.push_timeout = absl::Milliseconds(300);
  StartThenStopAcking(o);
  const uint64_t durable = engine_->Status(false).durable_seq();
  auto resp = engine_->PushEvents(Push(1, 2));
  ASSERT_FALSE(resp.ok());
  EXPECT_TRUE(absl::IsDeadlineExceeded(resp.status())) << resp.status();
  const v1::GraphStatus st = engine_->Status(false);
  EXPECT_EQ(st.durable_seq(), durable);
  EXPECT_EQ(st.applied_seq(), durable + 2);
}

TEST_F(EngineTest, FullJournalRefusesWithResourceExhaustedAndAppliesNothing) {
  EngineOptions o = Options();
  o.push_timeout = absl::Milliseconds(100);
  o.journal.max_buffer_records = 4;
  StartThenStopAcking(o);  // from here on, journaled records stay buffered
  ASSERT_EQ(engine_->Status(false).buffered_records(), 0u);
  // Fills the buffer (admitted, applied, not acked).
  auto fill = engine_->PushEvents(Push(1, 4));
  EXPECT_TRUE(absl::IsDeadlineExceeded(fill.status())) << fill.status();
  const v1::GraphStatus full = engine_->Status(false);
  ASSERT_EQ(full.buffered_records(), 4u);

  auto refused = engine_->PushEvents(Push(100, 1));
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(absl::IsResourceExhausted(refused.status())) << refused.status();
  const v1::GraphStatus after = engine_->Status(false);
  EXPECT_EQ(after.applied_seq(), full.applied_seq());
  EXPECT_EQ(after.vertex_count(), full.vertex_count());
  EXPECT_FALSE(engine_->GetVertex("host-100").ok());
}

TEST_F(EngineTest, NewerEpochRefusingAppendStopsTheEngine) {
  persistor_.SetAppendMode(FakePersistor::AppendMode::kAck);
  Start(Options());
  WaitDurable();
  persistor_.Fence(persistor_.epoch() + 1);

  auto resp = engine_->PushEvents(Push(1, 1));
  EXPECT_FALSE(resp.ok());
  absl::Status fatal = engine_->WaitForFatal();
  EXPECT_TRUE(absl::IsFailedPrecondition(fatal)) << fatal;
  EXPECT_EQ(engine_->Status(false).role(), v1::FENCED);
  EXPECT_FALSE(engine_->active());
  auto later = engine_->PushEvents(Push(2, 1));
  EXPECT_TRUE(absl::IsUnavailable(later.status())) << later.status();
  EXPECT_THAT(later.status().message(), HasSubstr("FENCED"));
}

TEST_F(EngineTest, NewerEpochStopsAnIdleEngine) {
  persistor_.SetAppendMode(FakePersistor::AppendMode::kAck);
  EngineOptions o = Options();
  o.fence_check_interval = absl::Milliseconds(100);
  Start(o);
  persistor_.Fence(persistor_.epoch() + 1);
  const absl::Time t0 = absl::Now();
  absl::Status fatal = engine_->WaitForFatal();
  EXPECT_TRUE(absl::IsFailedPrecondition(fatal)) << fatal;
  EXPECT_LT(absl::Now() - t0, absl::Seconds(5));
  EXPECT_EQ(engine_->Status(false).role(), v1::FENCED);
}

TEST_F(EngineTest, RestartRecoversFromTheLogWithoutGetAll) {
  persistor_.SetAppendMode(FakePersistor::AppendMode::kAck);
  Start(Options());
  ASSERT_TRUE(engine_->PushEvents(Push(1, 5)).ok());
  const v1::GraphStatus was = engine_->Status(true);
  engine_->Shutdown();
  engine_.reset();
  ASSERT_EQ(collector_.requests().size(), 1u);

  Start(Options());
  const v1::GraphStatus now = engine_->Status(true);
  EXPECT_EQ(now.applied_seq(), was.applied_seq());
  EXPECT_EQ(now.digest(), was.digest());
  EXPECT_EQ(now.epoch(), was.epoch() + 1);
  EXPECT_EQ(collector_.requests().size(), 1u);  // no get_all this time
  auto dup = engine_->PushEvents(Push(5, 1));
  ASSERT_TRUE(dup.ok()) << dup.status();
  EXPECT_EQ(dup->duplicates(), 1u);
}

}  // namespace
}  // namespace vitrage::service
