// Stalled readers against a real persistor on a real MariaDB: clients that
// open ReadLog / GetLatestSnapshot streams and never read must not take the
// database connections, threads or slots the graph's writes need.
#include "persistor_service/server/read_streams.h"

#include <glog/logging.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/grpc_util.h"
#include "common/testing/mariadb_test.h"
#include "persistor_service/server/test_util.h"

namespace vitrage::persistor {
namespace {

using ::testing::HasSubstr;

class StalledReadersTest : public vitrage::testing::MariaDbTest {
 protected:
  // A global status counter of the MariaDB server ("Threads_connected").
  static int64_t ServerStatus(const std::string& name) {
    auto out = db_->Query(absl::StrCat("SHOW GLOBAL STATUS LIKE '", name, "'"), false);
    if (!out.ok()) return -1;
    std::vector<std::string> cols = absl::StrSplit(absl::StripAsciiWhitespace(*out), '\t');
    int64_t v = -1;
    if (cols.size() != 2 || !absl::SimpleAtoi(cols[1], &v)) return -1;
    return v;
  }
};

// One raw client stream that never calls Read: flow control then blocks the
// server's writes.
struct StalledStream {
  grpc::ClientContext ctx;
  std::unique_ptr<grpc::ClientReader<vitrage::v1::ReadLogResponse>> log;
  std::unique_ptr<grpc::ClientReader<vitrage::v1::GetLatestSnapshotResponse>> snapshot;
  // Reads whatever arrived, then the status.
  grpc::Status Finish() {
    if (log != nullptr) {
      vitrage::v1::ReadLogResponse r;
      while (log->Read(&r)) {
      }
      return log->Finish();
    }
    vitrage::v1::GetLatestSnapshotResponse r;
    while (snapshot->Read(&r)) {
    }
    return snapshot->Finish();
  }
};

TEST_F(StalledReadersTest, FiveHundredStalledReadersLeaveEpochAppendAndTheDatabaseWorking) {
  constexpr int kReaders = 500;
  constexpr int kChannels = 10;  // 128 concurrent calls per connection at most
  auto url = testing::FreshDatabase(*db_, "stalled_readers");
  ASSERT_TRUE(url.ok()) << url.status();
  PersistorOptions options;
  options.database.url = *url;
  options.retention_interval = absl::Hours(1);
  options.max_db_connections = 20;
  options.max_read_streams = 32;
  options.stream_stall_timeout = absl::Seconds(20);
  auto persistor = testing::InProcessPersistor::Start(options);
  ASSERT_TRUE(persistor.ok()) << persistor.status();
  auto stub = (*persistor)->NewStub();

  // 8 MiB of log and an 8 MiB snapshot: far more than a stream's window.
  auto epoch = testing::AcquireEpoch(stub.get(), "graph:1");
  ASSERT_TRUE(epoch.ok()) << epoch.status();
  const uint64_t e = epoch->epoch();
  std::vector<vitrage::v1::AppendRequest> batches;
  for (uint64_t first = 1; first <= 2000; first += 200) {
    batches.push_back(testing::MakeBatch(e, first, first + 199, 4000));
  }
  ASSERT_TRUE(testing::AppendBatches(stub.get(), batches).status.ok());
  ASSERT_TRUE(testing::PutSnapshot(stub.get(), testing::MakeSnapshot(2000, e, 8, 1 << 20)).ok());
  const int64_t connections_before = ServerStatus("Threads_connected");

  std::vector<std::unique_ptr<vitrage::v1::Persistor::Stub>> stubs;
  for (int i = 0; i < kChannels; ++i) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a connection each
    // Flow-control windows stay at 64 KiB instead of growing with the
    // measured bandwidth: every stream stalls, none is buffered whole.
    args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
    args.SetMaxReceiveMessageSize(16 << 20);
    stubs.push_back(vitrage::v1::Persistor::NewStub(grpc::CreateCustomChannel(
        (*persistor)->address(), grpc::InsecureChannelCredentials(), args)));
  }
  std::vector<std::unique_ptr<StalledStream>> readers;
  const absl::Time t0 = absl::Now();
  for (int i = 0; i < kReaders; ++i) {
    auto r = std::make_unique<StalledStream>();
    r->ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
    vitrage::v1::Persistor::Stub* s = stubs[i % kChannels].get();
    if (i % 2 == 0) {
      r->log = s->ReadLog(&r->ctx, vitrage::v1::ReadLogRequest());
    } else {
      r->snapshot = s->GetLatestSnapshot(&r->ctx, vitrage::v1::GetLatestSnapshotRequest());
    }
    readers.push_back(std::move(r));
  }
  LOG(INFO) << kReaders << " stalled readers opened in " << absl::Now() - t0;
  // Let the server take them all in: until the database's connection count
  // has not moved for 2 s (it climbs to max_connections, 151, when every
  // stalled stream holds a connection).
  int64_t settled = ServerStatus("Threads_connected");
  for (absl::Time since = absl::Now();
       absl::Now() - since < absl::Seconds(2) && absl::Now() - t0 < absl::Seconds(15);) {
    absl::SleepFor(absl::Milliseconds(200));
    const int64_t now = ServerStatus("Threads_connected");
    if (now != settled) {
      settled = now;
      since = absl::Now();
    }
  }
  LOG(INFO) << "connections settled at " << settled << " after " << absl::Now() - t0;

  // The graph's operations still work: a failover's AcquireEpoch, Appends
  // in the new epoch, GetStatus.
  const absl::Time t1 = absl::Now();
  auto next = testing::AcquireEpoch(stub.get(), "graph:2");
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->epoch(), e + 1);
  EXPECT_EQ(next->durable_seq(), 2000u);
  auto appended = testing::AppendBatches(stub.get(), {testing::MakeBatch(e + 1, 2001, 2100)});
  ASSERT_TRUE(appended.status.ok()) << appended.status.error_message();
  EXPECT_EQ(appended.acks, std::vector<uint64_t>{2100});
  auto status = testing::GetStatus(stub.get());
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_TRUE(status->database_reachable());
  LOG(INFO) << "AcquireEpoch + Append + GetStatus under " << kReaders
            << " stalled readers: " << absl::Now() - t1;

  // The database's connection count stays bounded by the persistor's cap.
  const int64_t connections = ServerStatus("Threads_connected");
  LOG(INFO) << "MariaDB Threads_connected: " << connections_before << " before the readers, "
            << connections << " with them; Max_used_connections "
            << ServerStatus("Max_used_connections");
  ASSERT_GE(connections, 0);
  EXPECT_LE(connections, options.max_db_connections + 2);  // + this test's client
  EXPECT_EQ((*persistor)->service()->open_read_streams(), options.max_read_streams);

  // The stalled streams end after the stall timeout; the refused ones were
  // refused at once, naming the limit.
  for (int i = 0; i < 600; ++i) {
    if ((*persistor)->service()->open_read_streams() == 0) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_EQ((*persistor)->service()->open_read_streams(), 0);
  EXPECT_EQ((*persistor)->service()->stalled_read_streams(),
            static_cast<uint64_t>(options.max_read_streams));
  int refused = 0, ended = 0;
  for (auto& r : readers) {
    grpc::Status st = r->Finish();
    if (st.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      ++refused;
      EXPECT_THAT(st.error_message(), HasSubstr("the limit is 32 ([persistor] max_read_streams)"));
    } else if (st.error_code() == grpc::StatusCode::CANCELLED) {
      ++ended;
    } else {
      ADD_FAILURE() << "unexpected status " << st.error_code() << ": " << st.error_message();
    }
  }
  EXPECT_EQ(refused, kReaders - options.max_read_streams);
  EXPECT_EQ(ended, options.max_read_streams);
  // And a reader that reads is served again.
  auto log = testing::ReadLog(stub.get(), 2000);
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_EQ(log->size(), 100u);
}

}  // namespace
}  // namespace vitrage::persistor
