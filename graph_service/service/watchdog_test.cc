// The watchdog round by round, against an in-process fake persistor
// (test_util.h) that answers GetStatus as told and never acks an Append.
#include "graph_service/service/watchdog.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "graph_service/service/test_util.h"
#include "persistor_service/server/test_util.h"

namespace vitrage::service {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr uint64_t kEpoch = 3;

// GetStatus answers `epoch`, owned by "graph:2".
v1::PersistorStatus Store(uint64_t epoch, bool database_reachable) {
  v1::PersistorStatus st;
  st.set_epoch(epoch);
  st.set_epoch_owner("graph:2");
  st.set_database_reachable(database_reachable);
  return st;
}

class WatchdogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    channel_ = persistor_.channel();
    ASSERT_NE(channel_, nullptr);
    stub_ = v1::Persistor::NewStub(channel_);
    journal_ = std::make_unique<journal::JournalClient>(channel_, journal::JournalOptions(), kEpoch,
                                                        /*durable_seq=*/0);
  }

  void TearDown() override { journal_->Shutdown(); }

  std::unique_ptr<Watchdog> Make(WatchdogOptions options) {
    Watchdog::Hooks hooks;
    hooks.report = [this](absl::Duration waiting, const std::string& error,
                          const std::string* phase) {
      waiting_ = waiting;
      error_ = error;
      if (phase == nullptr) return true;
      if (!active_) return false;
      phases_.push_back(*phase);
      return true;
    };
    hooks.health = [this](bool serving) { health_.push_back(serving); };
    hooks.fatal = [this](const absl::Status& s) { fatal_ = s; };
    return std::make_unique<Watchdog>(options, journal_.get(), stub_.get(), std::move(hooks));
  }

  testing::FakePersistor persistor_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Persistor::Stub> stub_;
  std::unique_ptr<journal::JournalClient> journal_;

  // What the hooks heard (Tick runs on the test's thread).
  bool active_ = true;
  absl::Duration waiting_;
  std::string error_;
  std::vector<std::string> phases_;
  std::vector<bool> health_;
  absl::Status fatal_;
};

TEST_F(WatchdogTest, StallMakesTheGraphUnhealthyOnce) {
  auto watchdog = Make({absl::Milliseconds(100), absl::ZeroDuration()});
  watchdog->Tick();
  EXPECT_EQ(waiting_, absl::ZeroDuration());
  EXPECT_TRUE(health_.empty());

  ASSERT_TRUE(journal_->Append(persistor::testing::MakeRecord(1, kEpoch)).ok());
  absl::SleepFor(absl::Milliseconds(200));
  watchdog->Tick();
  EXPECT_GE(waiting_, absl::Milliseconds(100));
  ASSERT_EQ(phases_.size(), 1u);
  EXPECT_THAT(phases_[0], StartsWith("active, journal stalled since "));
  EXPECT_EQ(health_, std::vector<bool>{false});

  watchdog->Tick();  // still stalled: nothing new to say
  EXPECT_EQ(phases_.size(), 1u);
  EXPECT_EQ(health_.size(), 1u);
}

TEST_F(WatchdogTest, StallIsNotTakenUntilTheGraphIsActive) {
  auto watchdog = Make({absl::Milliseconds(100), absl::ZeroDuration()});
  ASSERT_TRUE(journal_->Append(persistor::testing::MakeRecord(1, kEpoch)).ok());
  absl::SleepFor(absl::Milliseconds(200));
  active_ = false;
  watchdog->Tick();
  EXPECT_GE(waiting_, absl::Milliseconds(100));
  EXPECT_TRUE(health_.empty());
  active_ = true;
  watchdog->Tick();
  EXPECT_EQ(health_, std::vector<bool>{false});
}

TEST_F(WatchdogTest, NewerEpochInTheStoreIsFatal) {
  persistor_.AnswerStatus(Store(kEpoch + 1, true));
  auto watchdog = Make({absl::ZeroDuration(), absl::Milliseconds(1)});
  absl::SleepFor(absl::Milliseconds(5));
  watchdog->Tick();
  EXPECT_TRUE(absl::IsFailedPrecondition(fatal_)) << fatal_;
  EXPECT_THAT(fatal_.message(), HasSubstr("the store's epoch is 4 (owner graph:2), ours is 3"));
}

TEST_F(WatchdogTest, OurEpochOrAnUnreachableDatabaseIsNotFatal) {
  auto watchdog = Make({absl::ZeroDuration(), absl::Milliseconds(1)});
  persistor_.AnswerStatus(Store(kEpoch, true));
  absl::SleepFor(absl::Milliseconds(5));
  watchdog->Tick();
  EXPECT_TRUE(fatal_.ok()) << fatal_;
  persistor_.AnswerStatus(Store(kEpoch + 1, false));
  absl::SleepFor(absl::Milliseconds(5));
  watchdog->Tick();
  EXPECT_TRUE(fatal_.ok()) << fatal_;
}

TEST_F(WatchdogTest, EpochIsNotAskedBeforeTheInterval) {
  persistor_.AnswerStatus(Store(kEpoch + 1, true));
  auto watchdog = Make({absl::ZeroDuration(), absl::Seconds(60)});
  watchdog->Tick();
  EXPECT_TRUE(fatal_.ok()) << fatal_;
}

}  // namespace
}  // namespace vitrage::service
