// The snapshotter against an in-process fake persistor (test_util.h)
// whose PutSnapshot stores what it receives, or refuses it as told; the
// graph is a small one forked under the test's own lock, as the engine
// forks its own.
#include "graph_service/service/snapshotter.h"

#include <gtest/gtest.h>
#include <sched.h>
#include <sys/resource.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "graph_service/graph/graph.h"
#include "graph_service/service/test_util.h"

namespace vitrage::service {
namespace {

constexpr uint64_t kEpoch = 7;

class SnapshotterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    channel_ = persistor_.channel();
    ASSERT_NE(channel_, nullptr);
    stub_ = v1::Persistor::NewStub(channel_);
    AddVertex("v1");
    AddVertex("v2");
  }

  void TearDown() override {
    snapshotter_.reset();
    journal_.reset();
  }

  // Adds a vertex as a new record: the graph is then at the next seq.
  void AddVertex(const std::string& id) {
    absl::MutexLock l(&graph_mu_);
    ASSERT_TRUE(graph_.AddVertex(id, graph::Properties()).ok());
    ++seq_;
  }

  // The snapshotter, its journal durable up to the graph's seq.
  void Make(absl::Duration interval = absl::Seconds(600), Snapshotter::SkipFn skip = nullptr,
            uint32_t format_version = snapshot::kFormatVersion) {
    SnapshotterOptions options;
    options.interval = interval;
    options.format_version = format_version;
    snapshotter_ = std::make_unique<Snapshotter>(
        options, stub_.get(),
        [this](bool from_standby, const snapshot::EncodeOptions& eo, snapshot::SnapshotInfo* info,
               double* stall_ms) {
          absl::MutexLock l(&graph_mu_);
          if (from_standby) info->epoch = kEpoch - 1;
          info->seq = seq_;
          info->created_unix_micros = absl::ToUnixMicros(absl::Now());
          *stall_ms = 0;
          return ForkedEncode::Start([this, info, &eo]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
            return snapshot::EncodeSnapshotToMemory(graph_, *info, snapshot::SnapshotSections(),
                                                    eo);
          });
        },
        [this](const absl::Status& s) {
          absl::MutexLock l(&graph_mu_);
          fatal_ = s;
        },
        std::move(skip));
    uint64_t durable;
    {
      absl::MutexLock l(&graph_mu_);
      durable = seq_;
    }
    journal_ = std::make_unique<journal::JournalClient>(channel_, journal::JournalOptions(), kEpoch,
                                                        durable);
  }

  absl::Status fatal() {
    absl::MutexLock l(&graph_mu_);
    return fatal_;
  }

  v1::GraphStatus Status() {
    v1::GraphStatus st;
    snapshotter_->FillStatus(&st);
    return st;
  }

  testing::FakePersistor persistor_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Persistor::Stub> stub_;
  std::unique_ptr<journal::JournalClient> journal_;
  std::unique_ptr<Snapshotter> snapshotter_;

  absl::Mutex graph_mu_;
  graph::Graph graph_ ABSL_GUARDED_BY(graph_mu_);
  uint64_t seq_ ABSL_GUARDED_BY(graph_mu_) = 0;
  absl::Status fatal_ ABSL_GUARDED_BY(graph_mu_);
};

// The active's encoder process gives way to everything else (SCHED_IDLE):
// a graph thread, the persistor or MariaDB waking up takes its core at
// once, so a snapshot does not delay acks (issue 27, the processing stall).
// A standby's runs at nice 19 only: on busy cores it still progresses.
TEST(ForkedEncodeTest, EncoderRunsAtIdlePriorityUnlessAStandbys) {
  for (bool idle : {true, false}) {
    auto child = ForkedEncode::Start(
        []() -> absl::StatusOr<snapshot::EncodedSnapshot> {
          return absl::InternalError(absl::StrCat("policy ", ::sched_getscheduler(0), " nice ",
                                                  ::getpriority(PRIO_PROCESS, 0)));
        },
        idle);
    ASSERT_TRUE(child.ok()) << child.status();
    auto r = child->Wait(absl::Seconds(30), [] { return false; });
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find(
                  absl::StrCat("policy ", idle ? SCHED_IDLE : SCHED_OTHER, " nice 19")),
              std::string::npos)
        << r.status();
  }
}

TEST_F(SnapshotterTest, RequestedSnapshotIsStoredAtTheGraphsSeq) {
  Make();
  ASSERT_TRUE(snapshotter_->Start(journal_.get()).ok());
  auto r = snapshotter_->Request();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->snapshot_id(), 1u);
  EXPECT_EQ(r->seq(), 2u);

  auto stored = persistor_.stored();
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0].header.seq(), 2u);
  EXPECT_EQ(stored[0].header.epoch(), kEpoch);
  EXPECT_FALSE(stored[0].header.from_standby());
  EXPECT_EQ(stored[0].header.format_version(), snapshot::kFormatVersion);
  auto g = snapshot::DecodeSnapshot(stored[0].header, stored[0].chunks);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->vertex_count(), 2u);

  v1::GraphStatus st = Status();
  EXPECT_EQ(st.last_snapshot_seq(), 2u);
  EXPECT_GE(st.last_snapshot_age_seconds(), 0);
  EXPECT_EQ(st.last_snapshot_error(), "");
  EXPECT_TRUE(fatal().ok());
}

// [persistency] snapshot_format = 3 (a rolling upgrade): the stored
// snapshot is version 3, for both the active's and a standby's.
TEST_F(SnapshotterTest, SnapshotFormatThreeIsWrittenWhenAsked) {
  Make(absl::Seconds(600), nullptr, 3);
  ASSERT_TRUE(snapshotter_->Start(journal_.get()).ok());
  ASSERT_TRUE(snapshotter_->Request().ok());
  ASSERT_TRUE(
      snapshotter_
          ->TakeStandbySnapshot([] { return false; }, [](grpc::ClientContext*) { return true; })
          .ok());
  auto stored = persistor_.stored();
  ASSERT_EQ(stored.size(), 2u);
  for (const auto& s : stored) {
    EXPECT_EQ(s.header.format_version(), 3u);
    auto g = snapshot::DecodeSnapshot(s.header, s.chunks);
    ASSERT_TRUE(g.ok()) << g.status();
    EXPECT_EQ(g->vertex_count(), 2u);
  }
}

TEST_F(SnapshotterTest, FailedStoreIsReportedAndThePreviousStays) {
  Make();
  ASSERT_TRUE(snapshotter_->Start(journal_.get()).ok());
  ASSERT_TRUE(snapshotter_->Request().ok());

  persistor_.RefuseSnapshots(grpc::Status(grpc::StatusCode::UNAVAILABLE, "database unreachable"));
  auto r = snapshotter_->Request();
  EXPECT_TRUE(absl::IsUnavailable(r.status())) << r.status();

  EXPECT_EQ(persistor_.stored().size(), 1u);
  v1::GraphStatus st = Status();
  EXPECT_EQ(st.last_snapshot_seq(), 2u);
  EXPECT_EQ(st.last_snapshot_error(), "database unreachable");
  EXPECT_TRUE(fatal().ok()) << fatal();

  // The next one that is stored clears the error.
  persistor_.RefuseSnapshots(grpc::Status::OK);
  ASSERT_TRUE(snapshotter_->Request().ok());
  EXPECT_EQ(Status().last_snapshot_error(), "");
}

TEST_F(SnapshotterTest, FencedStoreIsFatal) {
  Make();
  ASSERT_TRUE(snapshotter_->Start(journal_.get()).ok());
  persistor_.RefuseSnapshots(
      grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "epoch 7 is fenced"));
  auto r = snapshotter_->Request();
  EXPECT_TRUE(absl::IsFailedPrecondition(r.status())) << r.status();
  EXPECT_TRUE(absl::IsFailedPrecondition(fatal())) << fatal();
  EXPECT_EQ(Status().last_snapshot_seq(), 0u);
  EXPECT_TRUE(persistor_.stored().empty());
}

TEST_F(SnapshotterTest, PeriodicSnapshotIsTakenAfterTheInterval) {
  Make(absl::Milliseconds(100));
  ASSERT_TRUE(snapshotter_->Start(journal_.get()).ok());
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (persistor_.stored().empty() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_FALSE(persistor_.stored().empty());
  EXPECT_EQ(persistor_.stored()[0].header.seq(), 2u);
}

TEST_F(SnapshotterTest, PeriodicSnapshotSkippedWhenOneIsStoredElsewhere) {
  absl::Mutex mu;
  int asked = 0;
  Make(absl::Milliseconds(100), [&] {
    snapshotter_->NoteStored(1, absl::Now());
    absl::MutexLock l(&mu);
    ++asked;
    return true;
  });
  ASSERT_TRUE(snapshotter_->Start(journal_.get()).ok());
  {
    absl::MutexLock l(&mu);
    auto asked_once = [&] {
      mu.AssertHeld();
      return asked > 0;
    };
    ASSERT_TRUE(mu.AwaitWithTimeout(absl::Condition(&asked_once), absl::Seconds(10)));
  }
  EXPECT_TRUE(persistor_.stored().empty());
  EXPECT_EQ(Status().last_snapshot_seq(), 1u);
  // A request is not periodic: it is taken anyway.
  ASSERT_TRUE(snapshotter_->Request().ok());
  EXPECT_EQ(persistor_.stored().size(), 1u);
}

TEST_F(SnapshotterTest, StandbySnapshotIsMarkedAndNamesTheRecordsEpoch) {
  Make();
  grpc::ClientContext* call = nullptr;
  int calls = 0;
  auto r = snapshotter_->TakeStandbySnapshot([] { return false; },
                                             [&](grpc::ClientContext* ctx) {
                                               if (ctx != nullptr) ++calls;
                                               call = ctx;
                                               return true;
                                             });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(call, nullptr);  // unregistered after the call
  auto stored = persistor_.stored();
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_TRUE(stored[0].header.from_standby());
  EXPECT_EQ(stored[0].header.epoch(), kEpoch - 1);
}

TEST_F(SnapshotterTest, StoppingStandbySnapshotIsCancelledAndNotStored) {
  Make();
  auto r = snapshotter_->TakeStandbySnapshot([] { return false; },
                                             [](grpc::ClientContext*) { return false; });
  EXPECT_TRUE(absl::IsCancelled(r.status())) << r.status();
  EXPECT_TRUE(persistor_.stored().empty());
}

TEST_F(SnapshotterTest, RequestAfterStopIsCancelled) {
  Make();
  ASSERT_TRUE(snapshotter_->Start(journal_.get()).ok());
  snapshotter_->Stop();
  snapshotter_->Join();
  EXPECT_TRUE(absl::IsCancelled(snapshotter_->Request().status()));
}

}  // namespace
}  // namespace vitrage::service
