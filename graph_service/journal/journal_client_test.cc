// The journal client against the real persistor, in this process, on a
// private MariaDB.
#include "graph_service/journal/journal_client.h"

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "common/grpc_util.h"
#include "common/testing/mariadb_fixture.h"
#include "common/testing/process.h"
#include "persistor_service/server/test_util.h"

namespace vitrage::journal {
namespace {

namespace pt = vitrage::persistor::testing;

class JournalClientTest : public ::testing::Test {
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

  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    auto url = pt::FreshDatabase(*db_, absl::StrCat("j_", info->name()).substr(0, 60));
    ASSERT_TRUE(url.ok()) << url.status();
    options_.database.url = *url;
  }

  static vitrage::testing::MariaDbFixture* db_;
  persistor::PersistorOptions options_;
};
vitrage::testing::MariaDbFixture* JournalClientTest::db_ = nullptr;

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

}  // namespace
}  // namespace vitrage::journal
