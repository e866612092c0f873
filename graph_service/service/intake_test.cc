// Intake's promises apart from the graph: a bad request is refused whole,
// a full journal pushes back, nothing is acked before it is durable, and a
// fenced journal never acks; against a persistor nobody runs and the real
// one (in-process, on a private MariaDB).
#include "graph_service/service/intake.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/grpc_util.h"
#include "common/testing/process.h"
#include "graph_service/service/test_util.h"
#include "persistor_service/server/test_util.h"

namespace vitrage::service {
namespace {

namespace pt = vitrage::persistor::testing;
using ::testing::HasSubstr;

v1::PushEventsRequest Request(int events) {
  v1::PushEventsRequest req;
  for (int i = 0; i < events; ++i) {
    v1::Event* ev = req.add_events();
    ev->set_source("test@1");
    ev->set_source_seq(i + 1);
  }
  return req;
}

absl::Status Valid(const v1::Event&) { return absl::OkStatus(); }

// A channel to a port nothing listens on: nothing ever becomes durable.
std::shared_ptr<grpc::Channel> Nowhere() {
  return MakeChannel(absl::StrCat("127.0.0.1:", vitrage::testing::PickFreePort()),
                     ServerRole::kPersistor);
}

TEST(IntakeUnitTest, InvalidEventRefusesTheWholeRequestNamingIt) {
  Intake intake({});
  v1::PushEventsRequest req = Request(3);
  absl::Status s = intake.Check(req, [](const v1::Event& ev) {
    return ev.source_seq() == 2 ? absl::InvalidArgumentError("no type") : absl::OkStatus();
  });
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_EQ(s.message(),
            "PushEvents: event 1 (source \"test@1\" seq 2): no type; nothing in this request "
            "was applied");
  EXPECT_TRUE(intake.Check(req, Valid).ok());
}

TEST(IntakeUnitTest, RequestOverTheEventLimitIsRefused) {
  Intake intake({});
  absl::Status s = intake.Check(Request(Intake::kMaxEvents + 1), Valid);
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_THAT(s.message(), HasSubstr("the limit is 10000"));
  EXPECT_TRUE(intake.Check(Request(Intake::kMaxEvents), Valid).ok());
}

TEST(IntakeUnitTest, WithoutPersistencyEverythingIsAdmittedAndAckedAtOnce) {
  Intake intake({});
  EXPECT_TRUE(Intake::Admit(nullptr, 100).ok());
  v1::PushEventsResponse resp;
  resp.set_applied(3);
  auto r = intake.Finish(nullptr, resp, 3);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->applied(), 3u);
  EXPECT_EQ(r->durable_seq(), 0u);
}

TEST(IntakeUnitTest, FullJournalPushesBack) {
  journal::JournalOptions jo;
  jo.max_buffer_records = 2;
  journal::JournalClient journal(Nowhere(), jo, /*epoch=*/1, /*durable_seq=*/0);
  ASSERT_TRUE(Intake::Admit(&journal, 2).ok());
  ASSERT_TRUE(journal.Append(pt::MakeRecord(1, 1)).ok());
  ASSERT_TRUE(journal.Append(pt::MakeRecord(2, 1)).ok());
  const absl::Time t0 = absl::Now();
  absl::Status s = Intake::Admit(&journal, 1);
  EXPECT_TRUE(absl::IsResourceExhausted(s)) << s;
  EXPECT_THAT(s.message(), HasSubstr("journal buffer full (persistor not acking)"));
  EXPECT_GE(absl::Now() - t0, absl::Seconds(4));
  journal.Shutdown();
  EXPECT_TRUE(absl::IsUnavailable(Intake::Admit(&journal, 1)));
}

TEST(IntakeUnitTest, NothingIsAckedBeforeItIsDurable) {
  IntakeOptions o;
  o.push_timeout = absl::Milliseconds(300);
  Intake intake(o);
  journal::JournalClient journal(Nowhere(), {}, /*epoch=*/1, /*durable_seq=*/0);
  ASSERT_TRUE(journal.Append(pt::MakeRecord(1, 1)).ok());
  auto r = intake.Finish(&journal, v1::PushEventsResponse(), 1);
  EXPECT_TRUE(absl::IsDeadlineExceeded(r.status())) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("re-send them"));
}

class IntakeTest : public testing::PersistorTest {
 protected:
  std::unique_ptr<journal::JournalClient> Journal(const std::string& owner) {
    auto e = pt::AcquireEpoch(stub_.get(), owner);
    EXPECT_TRUE(e.ok()) << e.status();
    return std::make_unique<journal::JournalClient>(
        MakeChannel(persistor_->address(), ServerRole::kPersistor), journal::JournalOptions(),
        e->epoch(), e->durable_seq());
  }
};

TEST_F(IntakeTest, AckNamesTheDurableSeqOnceStored) {
  Intake intake({});
  auto journal = Journal("graph:1");
  ASSERT_TRUE(Intake::Admit(journal.get(), 2).ok());
  ASSERT_TRUE(journal->Append(pt::MakeRecord(1, journal->epoch())).ok());
  ASSERT_TRUE(journal->Append(pt::MakeRecord(2, journal->epoch())).ok());
  v1::PushEventsResponse resp;
  resp.set_applied(2);
  auto r = intake.Finish(journal.get(), resp, 2);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->durable_seq(), 2u);
  EXPECT_EQ(r->applied(), 2u);
  auto log = pt::ReadLog(stub_.get(), 0);
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_EQ(log->size(), 2u);
  journal->Shutdown();
}

TEST_F(IntakeTest, FencedJournalNeverAcksAndRefusesNewWork) {
  IntakeOptions o;
  o.push_timeout = absl::Seconds(30);
  Intake intake(o);
  auto journal = Journal("graph:1");
  auto newer = pt::AcquireEpoch(stub_.get(), "graph:2");  // fences graph:1
  ASSERT_TRUE(newer.ok()) << newer.status();
  ASSERT_TRUE(journal->Append(pt::MakeRecord(1, journal->epoch())).ok());
  auto r = intake.Finish(journal.get(), v1::PushEventsResponse(), 1);
  EXPECT_TRUE(absl::IsUnavailable(r.status())) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("journal failed"));
  EXPECT_TRUE(absl::IsFailedPrecondition(journal->fatal_status())) << journal->fatal_status();
  EXPECT_TRUE(absl::IsUnavailable(Intake::Admit(journal.get(), 1)));
  journal->Shutdown();
}

}  // namespace
}  // namespace vitrage::service
