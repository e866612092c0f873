// The journal client: admission (WaitForRoom) bounds the buffer, Append
// always keeps an admitted record, a stalled journal says so, and after a
// persistor outage longer than the buffer lasts everything drains to a real
// persistor (in-process, on a private MariaDB) exactly once.
#include "graph_service/journal/journal_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/grpc_util.h"
#include "common/testing/process.h"
#include "persistor_service/server/test_util.h"

namespace vitrage::journal {
namespace {

using persistor::testing::MakeRecord;

// A channel to a port nothing listens on: the stream never opens.
std::shared_ptr<grpc::Channel> Nowhere() {
  return MakeChannel(absl::StrCat("127.0.0.1:", vitrage::testing::PickFreePort()));
}

JournalOptions Small() {
  JournalOptions o;
  o.max_buffer_records = 3;
  o.max_buffer_bytes = 1000;
  o.min_backoff = absl::Milliseconds(10);
  o.max_backoff = absl::Milliseconds(50);
  return o;
}

TEST(JournalClientTest, AppendKeepsEveryRecordPastTheLimitsAndAdmissionWaits) {
  JournalClient j(Nowhere(), Small(), /*epoch=*/4, /*durable_seq=*/10);
  // Admission of a piece of work larger than the limit, on an empty buffer.
  EXPECT_TRUE(j.WaitForRoom(50, absl::Now()).ok());
  // What the admitted work makes (events, evaluator actions) is all kept,
  // far past both limits: a refusal would leave the graph ahead of its log.
  for (uint64_t seq = 11; seq <= 30; ++seq) {
    absl::Status s = j.Append(MakeRecord(seq, 4, 200));
    ASSERT_TRUE(s.ok()) << "seq " << seq << ": " << s;
  }
  EXPECT_EQ(j.buffered_records(), 20u);
  EXPECT_GT(j.buffered_bytes(), 1000u);
  EXPECT_EQ(j.next_seq(), 31u);
  // New work waits until the persistor acks.
  absl::Status room = j.WaitForRoom(1, absl::Now() + absl::Milliseconds(100));
  EXPECT_TRUE(absl::IsDeadlineExceeded(room)) << room;
  // A broken REQUIRES is still refused, and changes nothing.
  EXPECT_TRUE(absl::IsInvalidArgument(j.Append(MakeRecord(40, 4))));
  EXPECT_TRUE(absl::IsInvalidArgument(j.Append(MakeRecord(31, 5))));
  EXPECT_EQ(j.next_seq(), 31u);
}

TEST(JournalClientTest, ReportsHowLongRecordsWaitAndWhy) {
  JournalClient j(Nowhere(), Small(), 1, 0);
  EXPECT_EQ(j.stalled_for(), absl::ZeroDuration()) << "nothing waits";
  ASSERT_TRUE(j.Append(MakeRecord(1, 1)).ok());
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_GE(j.stalled_for(), absl::Milliseconds(250));
  EXPECT_THAT(j.last_error(), ::testing::HasSubstr("UNAVAILABLE"));
  EXPECT_FALSE(j.connected());
}

class JournalClientPersistorTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    db_ = new vitrage::testing::MariaDbFixture();
    absl::Status s = db_->Start();
    ASSERT_TRUE(s.ok()) << s;
  }
  static void TearDownTestSuite() {
    delete db_;
    db_ = nullptr;
  }
  static vitrage::testing::MariaDbFixture* db_;
};
vitrage::testing::MariaDbFixture* JournalClientPersistorTest::db_ = nullptr;

TEST_F(JournalClientPersistorTest, DrainsExactlyOnceAfterAnOutageLongerThanTheBuffer) {
  auto url = persistor::testing::FreshDatabase(*db_, "journal_outage");
  ASSERT_TRUE(url.ok()) << url.status();
  persistor::PersistorOptions po;
  po.database.url = *url;
  auto p = persistor::testing::InProcessPersistor::Start(po);
  ASSERT_TRUE(p.ok()) << p.status();
  const std::string address = (*p)->address();
  const int port = std::stoi(address.substr(address.rfind(':') + 1));
  auto stub = (*p)->NewStub();
  auto epoch = persistor::testing::AcquireEpoch(stub.get(), "journal-test");
  ASSERT_TRUE(epoch.ok()) << epoch.status();
  const uint64_t e = epoch->epoch();

  JournalClient j(MakeChannel(address), Small(), e, epoch->durable_seq());
  ASSERT_TRUE(j.Append(MakeRecord(1, e)).ok());
  ASSERT_TRUE(j.WaitDurable(1, absl::Now() + absl::Seconds(30)).ok());

  // The persistor goes away; the graph keeps admitting work whenever the
  // buffer has room, and each piece of work makes more records than fit.
  p->reset();
  uint64_t seq = 2;
  for (int work = 0; work < 5; ++work) {
    absl::Status room = j.WaitForRoom(1, absl::Now() + absl::Milliseconds(50));
    if (!room.ok()) continue;  // full: pushed back, as intake does
    for (int i = 0; i < 7; ++i) ASSERT_TRUE(j.Append(MakeRecord(seq++, e, 300)).ok());
  }
  const uint64_t last = seq - 1;
  EXPECT_GT(j.buffered_records(), Small().max_buffer_records);
  absl::SleepFor(absl::Milliseconds(500));  // several reconnect attempts
  EXPECT_GT(j.stalled_for(), absl::Milliseconds(400));

  // Back on the same address: everything drains by itself.
  auto p2 = persistor::testing::InProcessPersistor::Start(po, port);
  ASSERT_TRUE(p2.ok()) << p2.status();
  ASSERT_TRUE(j.WaitDurable(last, absl::Now() + absl::Seconds(30)).ok());
  EXPECT_EQ(j.buffered_records(), 0u);
  EXPECT_EQ(j.stalled_for(), absl::ZeroDuration());
  EXPECT_TRUE(j.WaitForRoom(1, absl::Now()).ok());

  auto records = persistor::testing::ReadLog((*p2)->NewStub().get(), 0);
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_EQ(records->size(), last);
  for (uint64_t i = 0; i < last; ++i) EXPECT_EQ((*records)[i].seq(), i + 1);
}

}  // namespace
}  // namespace vitrage::journal
