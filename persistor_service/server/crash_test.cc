// Durability promises broken on purpose: kill -9 of the vitrage-persistor
// binary in the middle of a batch and of a snapshot stream, kill -9 of
// mysqld while a client appends, SIGTERM during appends. After each, every
// acked record is stored, no partial batch and no partial snapshot is
// visible.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/grpc_util.h"
#include "common/testing/mariadb_test.h"
#include "common/testing/process.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "persistor_service/server/test_util.h"

namespace vitrage::persistor {
namespace {

using ::testing::HasSubstr;
using testing::MakeBatch;
using vitrage::testing::MariaDbFixture;
using vitrage::testing::Process;

constexpr uint64_t kBatch = 64;

// A writer like vitrage-graph's journal client: keeps the unacked records,
// and on any stream error reopens the stream and resends from the first
// unacked seq. Stops when `target` is acked or `stop` is set.
struct Appender {
  Appender(vitrage::v1::Persistor::Stub* s, uint64_t e) : stub(s), epoch(e) {}
  vitrage::v1::Persistor::Stub* stub;
  uint64_t epoch;
  size_t payload = 2000;
  std::atomic<uint64_t> acked{0};
  std::atomic<int> errors{0};
  std::atomic<bool> stop{false};
  grpc::Status last_error;

  void Run(uint64_t target) {
    while (!stop && acked < target) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
      auto stream = stub->Append(&ctx);
      uint64_t next = acked + 1;
      std::atomic<bool> reader_done{false};
      std::thread reader([&] {
        vitrage::v1::AppendResponse resp;
        while (stream->Read(&resp)) {
          if (resp.durable_seq() > acked) acked = resp.durable_seq();
        }
        reader_done = true;
      });
      // Keep at most 8 batches in flight.
      while (!stop && !reader_done && next <= target) {
        if (next > acked + 8 * kBatch) {
          absl::SleepFor(absl::Milliseconds(1));
          continue;
        }
        if (!stream->Write(MakeBatch(epoch, next, next + kBatch - 1, payload))) break;
        next += kBatch;
      }
      while (!stop && !reader_done && acked + 1 < next) absl::SleepFor(absl::Milliseconds(1));
      stream->WritesDone();
      if (stop) ctx.TryCancel();
      reader.join();
      grpc::Status s = stream->Finish();
      if (!s.ok()) {
        ++errors;
        last_error = s;
        absl::SleepFor(absl::Milliseconds(50));
      }
    }
  }
};

class CrashTest : public vitrage::testing::MariaDbTest {
 protected:
  void SetUp() override {
    ASSERT_TRUE(db_->running() || db_->Start().ok());
    dbname_ =
        absl::StrCat("crash_", ::testing::UnitTest::GetInstance()->current_test_info()->name());
    dbname_ = dbname_.substr(0, 60);
    auto url = testing::FreshDatabase(*db_, dbname_);
    ASSERT_TRUE(url.ok()) << url.status();
    url_ = absl::StrCat("mysql://root@127.0.0.1:", db_->port(), "/", dbname_);
    auto dir = vitrage::testing::MakeTempDir("persistor-crash");
    ASSERT_TRUE(dir.ok());
    dir_ = *dir;
    port_ = vitrage::testing::PickFreePort();
    address_ = absl::StrCat("127.0.0.1:", port_);
  }
  void TearDown() override {
    persistor_ = Process();
    if (getenv("KEEP_LOGS") == nullptr) vitrage::testing::RemoveTree(dir_);
  }

  void StartPersistorProcess() {
    std::string bin = vitrage::testing::BinaryDir() + "/persistor_service/vitrage-persistor";
    auto p = Process::Start({bin, "--listen", address_, "--database_url", url_},
                            dir_ + "/persistor.log");
    ASSERT_TRUE(p.ok()) << p.status();
    persistor_ = std::move(*p);
    absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (true) {
      // A fresh channel each time: a channel that saw "connection refused"
      // waits out its reconnect backoff.
      stub_ = vitrage::v1::Persistor::NewStub(MakeChannel(address_, ServerRole::kPersistor));
      auto st = testing::GetStatus(stub_.get());
      if (st.ok() && st->database_reachable()) return;
      ASSERT_TRUE(persistor_.running())
          << vitrage::testing::ReadFileOrEmpty(dir_ + "/persistor.log");
      ASSERT_LT(absl::Now(), deadline) << "persistor did not come up";
      absl::SleepFor(absl::Milliseconds(50));
    }
  }

  // Polls the standard health service until it reports `want` (up to 30 s);
  // returns the last status seen.
  grpc::health::v1::HealthCheckResponse::ServingStatus WaitForHealth(
      grpc::health::v1::HealthCheckResponse::ServingStatus want) {
    auto health = grpc::health::v1::Health::NewStub(MakeChannel(address_, ServerRole::kPersistor));
    grpc::health::v1::HealthCheckResponse::ServingStatus last =
        grpc::health::v1::HealthCheckResponse::UNKNOWN;
    absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (absl::Now() < deadline) {
      grpc::ClientContext ctx;
      grpc::health::v1::HealthCheckResponse resp;
      if (health->Check(&ctx, grpc::health::v1::HealthCheckRequest(), &resp).ok()) {
        last = resp.status();
        if (last == want) break;
      }
      absl::SleepFor(absl::Milliseconds(50));
    }
    return last;
  }

  std::string Sql(const std::string& sql) {
    auto r = db_->Query(absl::StrCat("USE `", dbname_, "`; ", sql), false);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : "";
  }

  // Every record 1..durable is there, identical to what was sent.
  void ExpectLogIsExactly(uint64_t epoch, uint64_t durable, size_t payload) {
    auto log = testing::ReadLog(stub_.get(), 0);
    ASSERT_TRUE(log.ok()) << log.status();
    ASSERT_EQ(log->size(), durable);
    for (uint64_t i = 0; i < durable; ++i) {
      ASSERT_EQ((*log)[i].SerializeAsString(),
                testing::MakeRecord(i + 1, epoch, payload).SerializeAsString())
          << "seq " << i + 1;
    }
  }

  std::string dbname_;
  std::string url_;
  std::string dir_;
  int port_ = 0;
  std::string address_;
  Process persistor_;
  std::unique_ptr<vitrage::v1::Persistor::Stub> stub_;
};

TEST_F(CrashTest, Kill9MidBatchKeepsEveryAckedRecordAndNoPartialBatch) {
  StartPersistorProcess();
  auto epoch = testing::AcquireEpoch(stub_.get(), "crash-test:1");
  ASSERT_TRUE(epoch.ok()) << epoch.status();
  Appender appender(stub_.get(), epoch->epoch());
  std::thread t([&] { appender.Run(1'000'000); });
  while (appender.acked < 3000) absl::SleepFor(absl::Milliseconds(1));
  persistor_.Kill9();
  const uint64_t acked = appender.acked;
  appender.stop = true;
  t.join();

  StartPersistorProcess();
  auto st = testing::GetStatus(stub_.get());
  ASSERT_TRUE(st.ok());
  EXPECT_GE(st->durable_seq(), acked);
  // Batches are written whole: the durable seq is a batch boundary.
  EXPECT_EQ(st->durable_seq() % kBatch, 0u);
  EXPECT_EQ(Sql("SELECT SUM(GREATEST(seq, last_seq) - seq + 1) = MAX(GREATEST(seq, last_seq))"
                " FROM graph_log"),
            "1\n");
  ExpectLogIsExactly(epoch->epoch(), st->durable_seq(), appender.payload);
  // The writer resumes where the store is.
  auto more = testing::AppendBatches(
      stub_.get(), {MakeBatch(epoch->epoch(), st->durable_seq() + 1, st->durable_seq() + kBatch,
                              appender.payload)});
  EXPECT_TRUE(more.status.ok()) << more.status.error_message();
}

TEST_F(CrashTest, Kill9MidSnapshotStreamLeavesPreviousSnapshotInForce) {
  StartPersistorProcess();
  auto epoch = testing::AcquireEpoch(stub_.get(), "crash-test:1");
  ASSERT_TRUE(epoch.ok());
  const uint64_t e = epoch->epoch();
  ASSERT_TRUE(testing::AppendBatches(stub_.get(), {MakeBatch(e, 1, 20)}).status.ok());
  auto first = testing::PutSnapshot(stub_.get(), testing::MakeSnapshot(10, e, 3, 100000, 1));
  ASSERT_TRUE(first.ok()) << first.status();

  testing::TestSnapshot big = testing::MakeSnapshot(20, e, 40, 1 << 20, 2);
  {
    grpc::ClientContext ctx;
    vitrage::v1::PutSnapshotResponse resp;
    auto writer = stub_->PutSnapshot(&ctx, &resp);
    vitrage::v1::PutSnapshotRequest req;
    *req.mutable_header() = big.header;
    ASSERT_TRUE(writer->Write(req));
    int sent = 0;
    for (; sent < 20; ++sent) {
      *req.mutable_chunk() = big.chunks[sent];
      if (!writer->Write(req)) break;
    }
    // Kill once chunks of the new snapshot are on disk.
    for (int i = 0; i < 500; ++i) {
      if (Sql(absl::StrCat("SELECT COUNT(*) > 0 FROM snapshot_chunks WHERE snapshot_id > ",
                           first->snapshot_id())) == "1\n") {
        break;
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
    EXPECT_EQ(Sql(absl::StrCat("SELECT COUNT(*) > 0 FROM snapshot_chunks WHERE snapshot_id > ",
                               first->snapshot_id())),
              "1\n");
    persistor_.Kill9();
    EXPECT_FALSE(writer->Finish().ok());
  }
  StartPersistorProcess();
  auto got = testing::GetLatestSnapshot(stub_.get());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->info.snapshot_id(), first->snapshot_id());
  EXPECT_EQ(got->chunks.size(), 3u);
  // Start-up deleted what the dead persistor left.
  EXPECT_EQ(Sql("SELECT COUNT(*) FROM graph_snapshots"), "1\n");
  EXPECT_EQ(Sql(absl::StrCat("SELECT COUNT(*) FROM snapshot_chunks WHERE snapshot_id <> ",
                             first->snapshot_id())),
            "0\n");
  auto st = testing::GetStatus(stub_.get());
  ASSERT_TRUE(st.ok());
  ASSERT_EQ(st->snapshots_size(), 1);
}

TEST_F(CrashTest, MysqldKill9WhileAppendingLosesNoAckedRecord) {
  StartPersistorProcess();
  auto epoch = testing::AcquireEpoch(stub_.get(), "crash-test:1");
  ASSERT_TRUE(epoch.ok());
  Appender appender(stub_.get(), epoch->epoch());
  appender.payload = 500;
  const uint64_t target = 64 * 150;
  std::thread t([&] { appender.Run(target); });
  while (appender.acked < 2000) absl::SleepFor(absl::Milliseconds(1));
  db_->Kill9();
  const uint64_t acked_before_crash = appender.acked;
  // While the database is down the persistor answers, and says so.
  auto down = testing::GetStatus(stub_.get());
  ASSERT_TRUE(down.ok()) << down.status();
  EXPECT_FALSE(down->database_reachable());
  EXPECT_FALSE(down->last_database_error().empty());
  auto refused = testing::AcquireEpoch(stub_.get(), "other:2");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  // The health service follows the database (the monitor pings it).
  EXPECT_EQ(WaitForHealth(grpc::health::v1::HealthCheckResponse::NOT_SERVING),
            grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  ASSERT_TRUE(db_->Start().ok());
  EXPECT_EQ(WaitForHealth(grpc::health::v1::HealthCheckResponse::SERVING),
            grpc::health::v1::HealthCheckResponse::SERVING);
  t.join();
  EXPECT_EQ(appender.acked, target);
  EXPECT_GT(appender.errors, 0);
  EXPECT_EQ(appender.last_error.error_code(), grpc::StatusCode::UNAVAILABLE)
      << appender.last_error.error_message();

  auto st = testing::GetStatus(stub_.get());
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(st->database_reachable());
  EXPECT_GE(st->durable_seq(), acked_before_crash);
  EXPECT_EQ(st->durable_seq(), target);
  ExpectLogIsExactly(epoch->epoch(), target, appender.payload);
}

TEST_F(CrashTest, SigtermFinishesInFlightCommitAndExitsZero) {
  StartPersistorProcess();
  auto epoch = testing::AcquireEpoch(stub_.get(), "crash-test:1");
  ASSERT_TRUE(epoch.ok());
  Appender appender(stub_.get(), epoch->epoch());
  std::thread t([&] { appender.Run(1'000'000); });
  while (appender.acked < 2000) absl::SleepFor(absl::Milliseconds(1));
  ASSERT_EQ(persistor_.Signal(SIGTERM), 0);
  auto status = persistor_.Wait(absl::Seconds(30));
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 0);
  const uint64_t acked = appender.acked;
  appender.stop = true;
  t.join();
  std::string log = vitrage::testing::ReadFileOrEmpty(dir_ + "/persistor.log");
  EXPECT_THAT(log, HasSubstr("received SIGTERM"));
  EXPECT_THAT(log, HasSubstr("vitrage-persistor stopped"));

  StartPersistorProcess();
  auto st = testing::GetStatus(stub_.get());
  ASSERT_TRUE(st.ok());
  EXPECT_GE(st->durable_seq(), acked);
  EXPECT_EQ(st->durable_seq() % kBatch, 0u);
  ExpectLogIsExactly(epoch->epoch(), st->durable_seq(), appender.payload);
}

}  // namespace
}  // namespace vitrage::persistor
