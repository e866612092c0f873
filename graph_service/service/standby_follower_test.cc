// The hot standby's follower against the in-process fake persistor
// (test_util.h): it follows the log as it grows, says when it is current,
// and stops at a gap instead of applying past it.
#include "graph_service/service/standby_follower.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "graph_service/service/test_util.h"

namespace vitrage::service {
namespace {

using ::testing::HasSubstr;

constexpr char kSource[] = "collector@1";
constexpr uint64_t kEpoch = 7;

int64_t Now() { return absl::ToUnixMicros(absl::Now()); }

class StandbyFollowerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    snapshotter_ = std::make_unique<Snapshotter>(
        SnapshotterOptions{}, rig_.persistor_stub.get(),
        [](bool, const snapshot::EncodeOptions&, snapshot::SnapshotInfo*, double*)
            -> absl::StatusOr<ForkedEncode> { return absl::UnimplementedError("not here"); },
        [](const absl::Status&) {}, [] { return false; });
    StandbyFollower::Hooks h;
    h.phase = [this](const std::string& p) {
      absl::MutexLock l(&mu_);
      phases_.push_back(p);
    };
    h.timings = [](const std::function<void(v1::RecoveryTimings*)>&) {};
    h.readable = [this] { readable_ = true; };
    StandbyOptions o;
    o.snapshot_interval = absl::ZeroDuration();  // no standby snapshots here
    follower_ =
        std::make_unique<StandbyFollower>(o, rig_.persistor_stub.get(), &rig_.state, &rig_.recovery,
                                          &rig_.images, &rig_.evaluator, snapshotter_.get(), h);
    follower_->SetListener([this](bool current) {
      absl::MutexLock l(&mu_);
      heard_.push_back(current);
    });
  }

  void TearDown() override { follower_->Stop(); }

  // Waits until the follower applied `seq`; false after 5 s.
  bool WaitApplied(uint64_t seq) {
    for (int i = 0; i < 500; ++i) {
      if (rig_.applied() >= seq) return true;
      absl::SleepFor(absl::Milliseconds(10));
    }
    return false;
  }
  uint64_t Applied() { return rig_.applied(); }
  std::vector<bool> Heard() {
    absl::MutexLock l(&mu_);
    return heard_;
  }

  testing::FakePersistor persistor_;
  testing::FakeCollector collector_;
  testing::RecoveryRig rig_{&persistor_, &collector_};
  std::unique_ptr<Snapshotter> snapshotter_;
  std::unique_ptr<StandbyFollower> follower_;
  bool readable_ = false;
  absl::Mutex mu_;
  std::vector<std::string> phases_ ABSL_GUARDED_BY(mu_);
  std::vector<bool> heard_ ABSL_GUARDED_BY(mu_);
};

TEST_F(StandbyFollowerTest, FollowsTheLogAsItGrowsAndIsCurrent) {
  auto log = testing::MakeLog(1, 6, kSource, kEpoch, Now());
  persistor_.AddToLog({log.begin(), log.begin() + 3});
  ASSERT_TRUE(follower_->Start().ok());
  EXPECT_TRUE(readable_);
  ASSERT_TRUE(WaitApplied(3));
  persistor_.AddToLog({log.begin() + 3, log.end()});
  ASSERT_TRUE(WaitApplied(6));
  EXPECT_EQ(Applied(), 6u);
  EXPECT_EQ(rig_.vertices(), 6u);
  EXPECT_EQ(rig_.mark(kSource), 6u);
  {
    absl::MutexLock l(&rig_.state.mu);
    auto epoch = follower_->FollowedEpochLocked();
    ASSERT_TRUE(epoch.ok()) << epoch.status();
    EXPECT_EQ(*epoch, kEpoch);
  }
  ASSERT_FALSE(Heard().empty());
  EXPECT_TRUE(Heard().back());
  v1::GraphStatus st;
  st.set_role(v1::STANDBY);
  st.set_applied_seq(Applied());
  follower_->FillStatus(&st);
  EXPECT_EQ(st.standby_durable_seq(), 6u);
  EXPECT_EQ(st.standby_lag_records(), 0u);
  EXPECT_GE(st.standby_stream_idle_seconds(), 0);

  follower_->StopForPromote();
  EXPECT_FALSE(Heard().back());
  // Stopped: what comes now is the promote's to read.
  persistor_.AddToLog(testing::MakeLog(7, 1, kSource, kEpoch, Now()));
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_EQ(Applied(), 6u);
}

TEST_F(StandbyFollowerTest, GapStopsTheFollowerBeforeIt) {
  auto log = testing::MakeLog(1, 4, kSource, kEpoch, Now());
  log.erase(log.begin() + 2);  // seq 3 missing
  persistor_.AddToLog(log);
  ASSERT_TRUE(follower_->Start().ok());
  ASSERT_TRUE(WaitApplied(2));
  bool said = false;
  for (int i = 0; i < 300 && !said; ++i) {
    absl::SleepFor(absl::Milliseconds(10));
    absl::MutexLock l(&mu_);
    for (const auto& p : phases_) said = said || p.find("gap in the log") != std::string::npos;
  }
  EXPECT_TRUE(said);
  EXPECT_EQ(Applied(), 2u);
}

TEST_F(StandbyFollowerTest, StartAfterStopIsCancelled) {
  follower_->Stop();
  EXPECT_TRUE(absl::IsCancelled(follower_->Start()));
}

}  // namespace
}  // namespace vitrage::service
