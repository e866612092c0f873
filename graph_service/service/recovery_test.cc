// Recovery against the in-process fake persistor (test_util.h): the epoch,
// the snapshot, the log after it, and what makes the graph take get_all.
#include "graph_service/service/recovery.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "graph_service/graph/digest.h"
#include "graph_service/service/test_util.h"

namespace vitrage::service {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kSource[] = "collector@1";

int64_t Now() { return absl::ToUnixMicros(absl::Now()); }

class RecoveryTest : public ::testing::Test {
 protected:
  RecoveryTest() {
    RecoveryOptions o;
    o.owner = "recovery_test:1";
    o.get_all_after_downtime = absl::Hours(1);
    rig_ = std::make_unique<testing::RecoveryRig>(&persistor_, &collector_, o);
  }

  // Stores a snapshot of the graph made by records 1..n (as the engine's
  // snapshotter would) and returns that graph's digest.
  std::string StoreSnapshot(int n) {
    graph::Graph g;
    for (const auto& rec : testing::MakeLog(1, n, kSource, 1, Now())) {
      EXPECT_TRUE(g.ApplyDelta(rec.delta()).ok());
    }
    snapshot::SnapshotInfo info;
    info.seq = n;
    info.epoch = 1;
    info.seq_time_unix_micros = Now();
    snapshot::SnapshotSections sections;
    v1::SourceMark m;
    m.set_source(kSource);
    m.set_source_seq(n);
    sections.source_marks.push_back(m);
    auto encoded = snapshot::EncodeSnapshotToMemory(g, info, sections);
    EXPECT_TRUE(encoded.ok()) << encoded.status();
    persistor_.AddSnapshot({encoded->header, encoded->chunks});
    return graph::Digest(g);
  }

  Recovery* recovery() { return &rig_->recovery; }
  uint64_t Applied() { return rig_->applied(); }
  uint64_t Mark() { return rig_->mark(kSource); }
  const v1::RecoveryTimings& timings() { return rig_->timings; }

  testing::FakePersistor persistor_;
  testing::FakeCollector collector_;
  std::unique_ptr<testing::RecoveryRig> rig_;
};

TEST_F(RecoveryTest, EmptyStoreIsAFreshStart) {
  auto out = recovery()->Run(absl::Now());
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->epoch.epoch(), 1u);
  EXPECT_EQ(rig_->epoch, 1u);
  EXPECT_EQ(out->get_all_reason, "fresh start: the store is empty");
  EXPECT_FALSE(out->reset);
  EXPECT_EQ(Applied(), 0u);
}

TEST_F(RecoveryTest, ReplaysTheLogUpToTheDurableSeq) {
  persistor_.AddToLog(testing::MakeLog(1, 5, kSource, 1, Now()));
  auto out = recovery()->Run(absl::Now());
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->epoch.durable_seq(), 5u);
  EXPECT_EQ(out->get_all_reason, "");
  EXPECT_EQ(Applied(), 5u);
  EXPECT_EQ(Mark(), 5u);
  EXPECT_EQ(timings().records_replayed(), 5u);
  EXPECT_EQ(rig_->vertices(), 5u);
}

TEST_F(RecoveryTest, SnapshotThenTheLogAfterIt) {
  const std::string digest3 = StoreSnapshot(3);
  persistor_.AddToLog(testing::MakeLog(1, 5, kSource, 1, Now()));
  auto out = recovery()->Run(absl::Now());
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->get_all_reason, "");
  EXPECT_EQ(timings().snapshot_id(), 1u);
  EXPECT_EQ(timings().snapshot_seq(), 3u);
  EXPECT_EQ(timings().records_replayed(), 2u);
  EXPECT_EQ(Applied(), 5u);
  EXPECT_EQ(Mark(), 5u);
  EXPECT_EQ(rig_->vertices(), 5u);
  absl::MutexLock l(&rig_->state.mu);
  EXPECT_NE(graph::Digest(rig_->state.graph), digest3);
}

TEST_F(RecoveryTest, SnapshotThatFailsVerificationFallsBackToTheOneBefore) {
  StoreSnapshot(2);
  StoreSnapshot(3);
  auto bad = persistor_.stored().back();
  persistor_.AddSnapshot(bad);  // id 3, then corrupted below
  auto stored = persistor_.stored();
  testing::FakePersistor::Stored corrupt = stored.back();
  ASSERT_FALSE(corrupt.chunks.empty());
  std::string* data = corrupt.chunks[0].mutable_data();
  ASSERT_FALSE(data->empty());
  (*data)[data->size() / 2] ^= 0x40;
  persistor_.AddSnapshot(corrupt);  // id 4: the newest, corrupt
  persistor_.AddToLog(testing::MakeLog(1, 5, kSource, 1, Now()));
  auto out = recovery()->Run(absl::Now());
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(timings().snapshots_skipped(), 1u);
  EXPECT_EQ(timings().snapshot_id(), 3u);
  EXPECT_EQ(Applied(), 5u);
}

TEST_F(RecoveryTest, GapInTheLogEmptiesTheGraphForGetAll) {
  auto log = testing::MakeLog(1, 4, kSource, 1, Now());
  log.erase(log.begin() + 2);  // seq 3 missing
  persistor_.AddToLog(log);
  auto out = recovery()->Run(absl::Now());
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(out->reset);
  EXPECT_THAT(out->get_all_reason, StartsWith("store unusable: "));
  EXPECT_THAT(out->get_all_reason, HasSubstr("expected seq 3, got 4"));
  // The journal goes on after the durable seq; nothing of the store stays.
  EXPECT_EQ(Applied(), 4u);
  EXPECT_EQ(Mark(), 0u);
  EXPECT_EQ(rig_->vertices(), 0u);
}

TEST_F(RecoveryTest, LongDowntimeTakesGetAll) {
  persistor_.AddToLog(
      testing::MakeLog(1, 2, kSource, 1, absl::ToUnixMicros(absl::Now() - absl::Hours(2))));
  auto out = recovery()->Run(absl::Now());
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_FALSE(out->reset);
  EXPECT_THAT(out->get_all_reason, StartsWith("downtime "));
  EXPECT_EQ(Applied(), 2u);
}

TEST_F(RecoveryTest, CatchUpFromTheStandbysSeq) {
  persistor_.AddToLog(testing::MakeLog(1, 5, kSource, 1, Now()));
  int64_t last_time = 0;
  ASSERT_TRUE(recovery()->Replay(0, 3, &last_time).ok());
  ASSERT_EQ(Applied(), 3u);
  auto out = recovery()->CatchUp(absl::Now());
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(out->caught_up);
  EXPECT_EQ(timings().promote_records(), 2u);
  EXPECT_EQ(Applied(), 5u);
  EXPECT_EQ(out->get_all_reason, "");
}

}  // namespace
}  // namespace vitrage::service
