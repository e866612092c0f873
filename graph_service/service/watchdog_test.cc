// The watchdog round by round, against an in-process fake persistor that
// answers GetStatus as told and never acks an Append.
#include "graph_service/service/watchdog.h"

#include <grpcpp/grpcpp.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "persistor_service/server/test_util.h"

namespace vitrage::service {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr uint64_t kEpoch = 3;

class FakePersistor final : public v1::Persistor::Service {
 public:
  grpc::Status GetStatus(grpc::ServerContext*, const v1::PersistorStatusRequest*,
                         v1::PersistorStatus* st) override {
    absl::MutexLock l(&mu_);
    *st = status_;
    return grpc::Status::OK;
  }
  void Answer(uint64_t epoch, bool database_reachable) {
    absl::MutexLock l(&mu_);
    status_.set_epoch(epoch);
    status_.set_epoch_owner("graph:2");
    status_.set_database_reachable(database_reachable);
  }

 private:
  absl::Mutex mu_;
  v1::PersistorStatus status_ ABSL_GUARDED_BY(mu_);
};

class WatchdogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&persistor_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", port),
                                   grpc::InsecureChannelCredentials());
    stub_ = v1::Persistor::NewStub(channel_);
    journal_ = std::make_unique<journal::JournalClient>(channel_, journal::JournalOptions(),
                                                        kEpoch, /*durable_seq=*/0);
  }

  void TearDown() override {
    journal_->Shutdown();
    server_->Shutdown();
  }

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

  FakePersistor persistor_;
  std::unique_ptr<grpc::Server> server_;
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
  persistor_.Answer(kEpoch + 1, /*database_reachable=*/true);
  auto watchdog = Make({absl::ZeroDuration(), absl::Milliseconds(1)});
  absl::SleepFor(absl::Milliseconds(5));
  watchdog->Tick();
  EXPECT_TRUE(absl::IsFailedPrecondition(fatal_)) << fatal_;
  EXPECT_THAT(fatal_.message(), HasSubstr("the store's epoch is 4 (owner graph:2), ours is 3"));
}

TEST_F(WatchdogTest, OurEpochOrAnUnreachableDatabaseIsNotFatal) {
  auto watchdog = Make({absl::ZeroDuration(), absl::Milliseconds(1)});
  persistor_.Answer(kEpoch, /*database_reachable=*/true);
  absl::SleepFor(absl::Milliseconds(5));
  watchdog->Tick();
  EXPECT_TRUE(fatal_.ok()) << fatal_;
  persistor_.Answer(kEpoch + 1, /*database_reachable=*/false);
  absl::SleepFor(absl::Milliseconds(5));
  watchdog->Tick();
  EXPECT_TRUE(fatal_.ok()) << fatal_;
}

TEST_F(WatchdogTest, EpochIsNotAskedBeforeTheInterval) {
  persistor_.Answer(kEpoch + 1, /*database_reachable=*/true);
  auto watchdog = Make({absl::ZeroDuration(), absl::Seconds(60)});
  watchdog->Tick();
  EXPECT_TRUE(fatal_.ok()) << fatal_;
}

}  // namespace
}  // namespace vitrage::service
