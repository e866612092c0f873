// The journal client: admission (WaitForRoom) bounds the buffer, Append
// always keeps an admitted record, a stalled journal says so; against the
// real persistor (in-process, on a private MariaDB): after an outage longer
// than the buffer lasts everything drains exactly once, in batches the
// persistor announces it takes.
#include "graph_service/journal/journal_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/grpc_util.h"
#include "common/testing/mariadb_fixture.h"
#include "common/testing/mariadb_test.h"
#include "common/testing/process.h"
#include "persistor_service/server/test_util.h"

namespace vitrage::journal {
namespace {

using persistor::testing::MakeRecord;
namespace pt = vitrage::persistor::testing;

// A channel to a port nothing listens on: the stream never opens.
std::shared_ptr<grpc::Channel> Nowhere() {
  return MakeChannel(absl::StrCat("127.0.0.1:", vitrage::testing::PickFreePort()),
                     ServerRole::kPersistor);
}

JournalOptions Small() {
  JournalOptions o;
  o.max_buffer_records = 3;
  o.max_buffer_bytes = 1000;
  o.min_backoff = absl::Milliseconds(10);
  o.max_backoff = absl::Milliseconds(50);
  return o;
}

TEST(JournalClientUnitTest, AppendKeepsEveryRecordPastTheLimitsAndAdmissionWaits) {
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

TEST(JournalClientUnitTest, ReportsHowLongRecordsWaitAndWhy) {
  JournalClient j(Nowhere(), Small(), 1, 0);
  EXPECT_EQ(j.stalled_for(), absl::ZeroDuration()) << "nothing waits";
  ASSERT_TRUE(j.Append(MakeRecord(1, 1)).ok());
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_GE(j.stalled_for(), absl::Milliseconds(250));
  EXPECT_THAT(j.last_error(), ::testing::HasSubstr("UNAVAILABLE"));
  EXPECT_FALSE(j.connected());
  // Issue 26: the link went down when the first stream failed, and the
  // record's age is the durable lag in time.
  EXPECT_FALSE(j.link_up());
  EXPECT_GE(absl::Now() - j.link_since(), absl::Milliseconds(200));
  EXPECT_GE(j.lag_age(), absl::Milliseconds(250));
}

class JournalClientTest : public vitrage::testing::MariaDbTest {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    auto url = pt::FreshDatabase(*db_, absl::StrCat("j_", info->name()).substr(0, 60));
    ASSERT_TRUE(url.ok()) << url.status();
    options_.database.url = *url;
  }

  persistor::PersistorOptions options_;
};

// The persistor takes 100 records per Append, the graph batches up to
// 8192: a backlog of 5000 records built up while the persistor was down
// must drain in batches the persistor accepts, not end the journal with
// INVALID_ARGUMENT (the graph would exit and crash-loop).
TEST_F(JournalClientTest, BacklogDrainsInBatchesThePersistorAnnounces) {
  const std::string address = absl::StrCat("127.0.0.1:", vitrage::testing::PickFreePort());
  options_.max_records_per_append = 100;
  uint64_t epoch = 0;
  {
    auto p = pt::InProcessPersistor::Start(options_, address);
    ASSERT_TRUE(p.ok()) << p.status();
    auto stub = (*p)->NewStub();
    auto e = pt::AcquireEpoch(stub.get(), "graph:1");
    ASSERT_TRUE(e.ok()) << e.status();
    epoch = e->epoch();
  }  // the persistor is down

  JournalOptions jo;
  ASSERT_GT(jo.max_batch_records, 1000u);  // the default, which this test is about
  JournalClient client(MakeChannel(address, ServerRole::kPersistor), jo, epoch, 0);
  constexpr uint64_t kRecords = 5000;
  for (uint64_t seq = 1; seq <= kRecords; ++seq) {
    ASSERT_TRUE(client.Append(pt::MakeRecord(seq, epoch)).ok()) << seq;
  }
  EXPECT_EQ(client.buffered_records(), kRecords);

  auto p = pt::InProcessPersistor::Start(options_, address);
  ASSERT_TRUE(p.ok()) << p.status();
  absl::Status s = client.WaitDurable(kRecords, absl::Now() + absl::Seconds(120));
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_TRUE(client.fatal_status().ok()) << client.fatal_status();
  EXPECT_EQ(client.batch_records_limit(), 100u);
  EXPECT_EQ(client.buffered_records(), 0u);
  auto stub = (*p)->NewStub();
  auto log = pt::ReadLog(stub.get(), 0);
  ASSERT_TRUE(log.ok()) << log.status();
  ASSERT_EQ(log->size(), kRecords);
  EXPECT_EQ(log->back().seq(), kRecords);
  client.Shutdown();
}

// A persistor that takes more per Append than the client batches (the
// default 100000) leaves the client's own batch size.
TEST_F(JournalClientTest, PersistorAtDefaultLimitLeavesTheClientsBatchSize) {
  auto p = pt::InProcessPersistor::Start(options_);
  ASSERT_TRUE(p.ok()) << p.status();
  auto stub = (*p)->NewStub();
  auto e = pt::AcquireEpoch(stub.get(), "graph:1");
  ASSERT_TRUE(e.ok()) << e.status();
  JournalClient client(MakeChannel((*p)->address(), ServerRole::kPersistor), JournalOptions{},
                       e->epoch(), 0);
  ASSERT_TRUE(client.Append(pt::MakeRecord(1, e->epoch())).ok());
  ASSERT_TRUE(client.WaitDurable(1, absl::Now() + absl::Seconds(60)).ok());
  EXPECT_EQ(client.batch_records_limit(), JournalOptions{}.max_batch_records);
}

// While the owner holds the sends (one push request, one batch of bus
// messages being applied), its records go as one Append when the hold
// ends, not one each; a long piece of work still streams in batches of
// hold_flush_records.
TEST_F(JournalClientTest, HeldSendsGoAsOneBatchOrInFullBatches) {
  auto p = pt::InProcessPersistor::Start(options_);
  ASSERT_TRUE(p.ok()) << p.status();
  auto stub = (*p)->NewStub();
  auto e = pt::AcquireEpoch(stub.get(), "graph:1");
  ASSERT_TRUE(e.ok()) << e.status();
  JournalOptions jo;
  jo.hold_flush_records = 4;
  JournalClient client(MakeChannel((*p)->address(), ServerRole::kPersistor), jo, e->epoch(), 0);
  ASSERT_TRUE(client.Append(pt::MakeRecord(1, e->epoch())).ok());
  ASSERT_TRUE(client.WaitDurable(1, absl::Now() + absl::Seconds(60)).ok());
  EXPECT_EQ(client.batches_sent(), 1u) << "no hold: the record goes at once";

  {
    JournalClient::Hold hold(&client);
    JournalClient::Hold nested(&client);
    for (uint64_t seq = 2; seq <= 4; ++seq) {
      ASSERT_TRUE(client.Append(pt::MakeRecord(seq, e->epoch())).ok());
    }
    absl::SleepFor(absl::Milliseconds(300));
    EXPECT_EQ(client.durable_seq(), 1u) << "held: nothing sent yet";
    EXPECT_EQ(client.batches_sent(), 1u);
  }
  ASSERT_TRUE(client.WaitDurable(4, absl::Now() + absl::Seconds(60)).ok());
  EXPECT_EQ(client.batches_sent(), 2u) << "the three held records in one Append";

  {
    JournalClient::Hold hold(&client);
    for (uint64_t seq = 5; seq <= 8; ++seq) {
      ASSERT_TRUE(client.Append(pt::MakeRecord(seq, e->epoch())).ok());
    }
    // Four unsent records: a full batch goes while the hold lasts.
    ASSERT_TRUE(client.WaitDurable(8, absl::Now() + absl::Seconds(60)).ok());
    EXPECT_EQ(client.batches_sent(), 3u);
    for (uint64_t seq = 9; seq <= 10; ++seq) {
      ASSERT_TRUE(client.Append(pt::MakeRecord(seq, e->epoch())).ok());
    }
    absl::SleepFor(absl::Milliseconds(300));
    EXPECT_EQ(client.durable_seq(), 8u) << "two records: they wait for the hold's end";
    EXPECT_EQ(client.batches_sent(), 3u);
  }
  ASSERT_TRUE(client.WaitDurable(10, absl::Now() + absl::Seconds(60)).ok());
  EXPECT_EQ(client.batches_sent(), 4u);
  JournalClient::Hold no_journal(nullptr);  // the graph without persistency
  auto log = pt::ReadLog(stub.get(), 0);
  ASSERT_TRUE(log.ok()) << log.status();
  ASSERT_EQ(log->size(), 10u);
  for (uint64_t i = 0; i < 10; ++i) EXPECT_EQ((*log)[i].seq(), i + 1);
}

TEST_F(JournalClientTest, DrainsExactlyOnceAfterAnOutageLongerThanTheBuffer) {
  auto p = persistor::testing::InProcessPersistor::Start(options_);
  ASSERT_TRUE(p.ok()) << p.status();
  const std::string address = (*p)->address();
  auto stub = (*p)->NewStub();
  auto epoch = persistor::testing::AcquireEpoch(stub.get(), "journal-test");
  ASSERT_TRUE(epoch.ok()) << epoch.status();
  const uint64_t e = epoch->epoch();

  JournalClient j(MakeChannel(address, ServerRole::kPersistor), Small(), e, epoch->durable_seq());
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
  auto p2 = persistor::testing::InProcessPersistor::Start(options_, address);
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
