// The Persistor RPCs against a real MariaDB (one server per binary, a fresh
// database per test) and an in-process server reached over gRPC.
#include "persistor_service/server/persistor_service.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "common/crc32c.h"
#include "common/encoded_rpc.h"
#include "common/grpc_util.h"
#include "common/testing/mariadb_test.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "persistor_service/mysql/log_pack.h"
#include "persistor_service/server/test_util.h"
#include "vitrage/wire/encoded.pb.h"

namespace vitrage::persistor {
namespace {

using testing::AppendBatches;
using ::testing::HasSubstr;
using testing::MakeBatch;
using vitrage::v1::AppendRequest;

class PersistorServiceTest : public vitrage::testing::MariaDbTest {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dbname_ = absl::StrReplaceAll(absl::StrCat("t_", info->name()), {{"/", "_"}});
    dbname_ = dbname_.substr(0, 60);
    auto url = testing::FreshDatabase(*db_, dbname_);
    ASSERT_TRUE(url.ok()) << url.status();
    options_.database.url = *url;
    options_.log_retention = absl::ZeroDuration();
    options_.retention_interval = absl::Hours(1);  // tests run it by hand
  }

  void StartPersistor() {
    auto p = testing::InProcessPersistor::Start(options_);
    ASSERT_TRUE(p.ok()) << p.status();
    persistor_ = std::move(*p);
    stub_ = persistor_->NewStub();
  }

  uint64_t Acquire(const std::string& owner = "test:1") {
    auto r = testing::AcquireEpoch(stub_.get(), owner);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->epoch() : 0;
  }

  // The common start of a test: the persistor started, an epoch taken by
  // `owner` and records 1..last_seq appended in it. Returns the epoch, or 0
  // (never an epoch) after a failure, which is recorded: callers
  // ASSERT_NE(e, 0u).
  // Records 1..last_seq, appended `rows_of` at a time, each batch acked
  // before the next is sent: graph_log rows of `rows_of` records each (one
  // row, one pack, by default).
  uint64_t StartWithLog(uint64_t last_seq, const std::string& owner = "test:1",
                        uint64_t rows_of = 0) {
    StartPersistor();
    if (HasFatalFailure()) return 0;
    const uint64_t e = Acquire(owner);
    if (e == 0) return 0;
    if (rows_of == 0) rows_of = last_seq;
    for (uint64_t first = 1; first <= last_seq; first += rows_of) {
      auto r = AppendBatches(stub_.get(),
                             {MakeBatch(e, first, std::min(last_seq, first + rows_of - 1))});
      EXPECT_TRUE(r.status.ok()) << r.status.error_message();
      if (!r.status.ok()) return 0;
    }
    return e;
  }

  std::string Sql(const std::string& sql) {
    auto r = db_->Query(absl::StrCat("USE `", dbname_, "`; ", sql), false);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : "";
  }
  // Sql(sql) once it reads `want`, or what it read last after `timeout`.
  // For what the persistor does after a stream's client has already seen
  // its end (a stalled stream is cancelled first, then cleaned up).
  std::string SqlEventually(const std::string& sql, const std::string& want,
                            absl::Duration timeout = absl::Seconds(10)) {
    const absl::Time deadline = absl::Now() + timeout;
    std::string got = Sql(sql);
    while (got != want && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(20));
      got = Sql(sql);
    }
    return got;
  }

  std::string dbname_;
  PersistorOptions options_;
  std::unique_ptr<testing::InProcessPersistor> persistor_;
  std::unique_ptr<vitrage::v1::Persistor::Stub> stub_;
};

TEST_F(PersistorServiceTest, AcquireEpochStoresMaxPlusOneWithDurableSeq) {
  StartPersistor();
  auto first = testing::AcquireEpoch(stub_.get(), "graph-a:10");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->epoch(), 1u);
  EXPECT_EQ(first->previous_epoch(), 0u);
  EXPECT_EQ(first->durable_seq(), 0u);
  auto r = AppendBatches(stub_.get(), {MakeBatch(1, 1, 7)});
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  auto second = testing::AcquireEpoch(stub_.get(), "graph-b:20");
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->epoch(), 2u);
  EXPECT_EQ(second->previous_epoch(), 1u);
  EXPECT_EQ(second->durable_seq(), 7u);
  EXPECT_EQ(Sql("SELECT epoch, owner FROM writer_epoch"), "2\tgraph-b:20\n");
}

TEST_F(PersistorServiceTest, AppendAcksEachBatchAndReadLogReturnsAllInOrder) {
  StartPersistor();
  uint64_t e = Acquire();
  auto r =
      AppendBatches(stub_.get(), {MakeBatch(e, 1, 10), MakeBatch(e, 11, 20), MakeBatch(e, 21, 25)});
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  ASSERT_EQ(r.acks.size(), 3u);
  EXPECT_GE(r.acks[0], 10u);
  EXPECT_GE(r.acks[1], 20u);
  EXPECT_EQ(r.acks[2], 25u);
  auto log = testing::ReadLog(stub_.get(), 0);
  ASSERT_TRUE(log.ok()) << log.status();
  ASSERT_EQ(log->size(), 25u);
  for (uint64_t i = 0; i < 25; ++i) {
    EXPECT_EQ((*log)[i].SerializeAsString(), testing::MakeRecord(i + 1, e).SerializeAsString());
  }
  auto tail = testing::ReadLog(stub_.get(), 20);
  ASSERT_TRUE(tail.ok());
  ASSERT_EQ(tail->size(), 5u);
  EXPECT_EQ(tail->front().seq(), 21u);
  auto none = testing::ReadLog(stub_.get(), 25);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST_F(PersistorServiceTest, ManyPipelinedBatchesAreAllDurable) {
  StartPersistor();
  uint64_t e = Acquire();
  std::vector<AppendRequest> batches;
  for (uint64_t s = 1; s <= 2000; s += 4) batches.push_back(MakeBatch(e, s, s + 3));
  auto r = AppendBatches(stub_.get(), batches);
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  ASSERT_EQ(r.acks.size(), batches.size());
  for (size_t i = 1; i < r.acks.size(); ++i) EXPECT_GE(r.acks[i], r.acks[i - 1]);
  EXPECT_EQ(r.acks.back(), 2000u);
  EXPECT_EQ(Sql("SELECT SUM(GREATEST(seq, last_seq) - seq + 1), MIN(seq), MAX(GREATEST(seq, "
                "last_seq)) FROM graph_log"),
            "2000\t1\t2000\n");
  // Group commit: fewer transactions than batches were needed (write_count
  // counts the epoch acquisition and each commit).
  auto commits = Sql("SELECT write_count FROM writer_epoch");
  EXPECT_LE(std::stoul(commits), batches.size() + 1);
}

TEST_F(PersistorServiceTest, IdempotentResendIsAckedAgain) {
  const uint64_t e = StartWithLog(10);
  ASSERT_NE(e, 0u);
  // A writer that reconnected resends 5..10 and continues to 15.
  auto r = AppendBatches(stub_.get(), {MakeBatch(e, 5, 15)});
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  ASSERT_EQ(r.acks.size(), 1u);
  EXPECT_EQ(r.acks[0], 15u);
  // A pure resend of stored records.
  auto again = AppendBatches(stub_.get(), {MakeBatch(e, 1, 3)});
  ASSERT_TRUE(again.status.ok()) << again.status.error_message();
  EXPECT_EQ(again.acks, std::vector<uint64_t>{15});
  auto log = testing::ReadLog(stub_.get(), 0);
  ASSERT_TRUE(log.ok());
  EXPECT_EQ(log->size(), 15u);
}

TEST_F(PersistorServiceTest, ResendWithDifferentContentIsAlreadyExists) {
  const uint64_t e = StartWithLog(5);
  ASSERT_NE(e, 0u);
  AppendRequest changed = MakeBatch(e, 3, 6);
  changed.mutable_records(0)->set_event_kind("something else");
  auto r = AppendBatches(stub_.get(), {changed});
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_THAT(r.status.error_message(),
              HasSubstr("record seq 3 is already stored with different content"));
  EXPECT_EQ(Sql("SELECT MAX(GREATEST(seq, last_seq)), durable_seq FROM graph_log, writer_epoch"),
            "5\t5\n");
}

TEST_F(PersistorServiceTest, GapIsOutOfRangeNamingBothSeqs) {
  const uint64_t e = StartWithLog(5);
  ASSERT_NE(e, 0u);
  auto r = AppendBatches(stub_.get(), {MakeBatch(e, 8, 9)});
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_THAT(r.status.error_message(), HasSubstr("gap: record seq 8 but durable seq is 5"));
  EXPECT_EQ(Sql("SELECT SUM(GREATEST(seq, last_seq) - seq + 1) FROM graph_log"), "5\n");
}

TEST_F(PersistorServiceTest, ErrorEndsStreamWhileClientWaitsForAcks) {
  StartPersistor();
  uint64_t e = Acquire();
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  auto stream = stub_->Append(&ctx);
  ASSERT_TRUE(stream->Write(MakeBatch(e, 1, 2)));
  vitrage::v1::AppendResponse resp;
  ASSERT_TRUE(stream->Read(&resp));
  EXPECT_EQ(resp.durable_seq(), 2u);
  ASSERT_TRUE(stream->Write(MakeBatch(e, 4, 4)));  // gap; no WritesDone
  EXPECT_FALSE(stream->Read(&resp));
  grpc::Status s = stream->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_THAT(s.error_message(), HasSubstr("gap: record seq 4 but durable seq is 2"));
}

TEST_F(PersistorServiceTest, StaleEpochIsFencedAndWritesNothing) {
  StartPersistor();
  uint64_t old_epoch = Acquire("old-graph:1");
  ASSERT_TRUE(AppendBatches(stub_.get(), {MakeBatch(old_epoch, 1, 3)}).status.ok());
  uint64_t new_epoch = Acquire("new-graph:2");
  ASSERT_EQ(new_epoch, old_epoch + 1);
  auto r = AppendBatches(stub_.get(), {MakeBatch(old_epoch, 4, 6)});
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(r.status.error_message(),
              HasSubstr(absl::StrCat("stale epoch ", old_epoch, ": epoch ", new_epoch,
                                     " was acquired by new-graph:2")));
  EXPECT_TRUE(r.acks.empty());
  EXPECT_EQ(Sql("SELECT SUM(GREATEST(seq, last_seq) - seq + 1) FROM graph_log"), "3\n");
  // The new writer continues at 4.
  auto ok = AppendBatches(stub_.get(), {MakeBatch(new_epoch, 4, 6)});
  EXPECT_TRUE(ok.status.ok()) << ok.status.error_message();
}

TEST_F(PersistorServiceTest, EpochAcquiredDuringPipelinedAppendsFencesOldWriter) {
  StartPersistor();
  uint64_t old_epoch = Acquire("old:1");
  std::atomic<uint64_t> acked{0};
  grpc::Status final_status;
  grpc::ClientContext ctx;
  auto stream = stub_->Append(&ctx);
  std::thread reader([&] {
    vitrage::v1::AppendResponse resp;
    while (stream->Read(&resp)) acked = resp.durable_seq();
  });
  uint64_t next = 1;
  bool acquired = false;
  vitrage::v1::AcquireEpochResponse taken;
  while (next < 200000) {
    if (!stream->Write(MakeBatch(old_epoch, next, next + 31))) break;
    next += 32;
    if (!acquired && acked > 2000) {
      auto r = testing::AcquireEpoch(stub_.get(), "new:2");
      ASSERT_TRUE(r.ok()) << r.status();
      taken = *r;
      acquired = true;
    }
    while (next > acked + 32 * 16 && !acquired) absl::SleepFor(absl::Microseconds(200));
  }
  stream->WritesDone();
  reader.join();
  final_status = stream->Finish();
  ASSERT_TRUE(acquired);
  EXPECT_EQ(final_status.error_code(), grpc::StatusCode::FAILED_PRECONDITION)
      << final_status.error_message();
  EXPECT_THAT(final_status.error_message(), HasSubstr(absl::StrCat("stale epoch ", old_epoch)));
  // Nothing of the old writer was committed after the new epoch: the log
  // ends exactly at the durable seq AcquireEpoch returned.
  EXPECT_GE(taken.durable_seq(), 2000u);
  EXPECT_LE(acked.load(), taken.durable_seq());
  EXPECT_EQ(Sql("SELECT MAX(GREATEST(seq, last_seq)), SUM(GREATEST(seq, last_seq) - seq + 1), "
                "MAX(epoch) FROM graph_log"),
            absl::StrCat(taken.durable_seq(), "\t", taken.durable_seq(), "\t", old_epoch, "\n"));
  auto more = AppendBatches(
      stub_.get(), {MakeBatch(taken.epoch(), taken.durable_seq() + 1, taken.durable_seq() + 5)});
  EXPECT_TRUE(more.status.ok()) << more.status.error_message();
}

TEST_F(PersistorServiceTest, NeverAcquiredEpochIsFailedPrecondition) {
  StartPersistor();
  uint64_t e = Acquire();
  auto r = AppendBatches(stub_.get(), {MakeBatch(e + 5, 1, 1)});
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(
      r.status.error_message(),
      HasSubstr(absl::StrCat("epoch ", e + 5, " was never acquired: the current epoch is ", e)));
  EXPECT_EQ(Sql("SELECT COUNT(*) FROM graph_log"), "0\n");
}

TEST_F(PersistorServiceTest, MalformedBatchesAreInvalidArgumentAndWriteNothing) {
  StartPersistor();
  uint64_t e = Acquire();
  struct Case {
    AppendRequest request;
    std::string message;
  };
  std::vector<Case> cases;
  AppendRequest empty;
  empty.set_epoch(e);
  cases.push_back({empty, "empty batch"});
  AppendRequest zero = MakeBatch(e, 1, 1);
  zero.mutable_records(0)->set_seq(0);
  cases.push_back({zero, "seq 0"});
  AppendRequest holes = MakeBatch(e, 1, 3);
  holes.mutable_records(1)->set_seq(5);
  cases.push_back({holes, "consecutive seqs: seq 5 follows 1"});
  AppendRequest mixed = MakeBatch(e, 1, 2);
  mixed.mutable_records(1)->set_epoch(e + 1);
  cases.push_back(
      {mixed, absl::StrCat("record seq 2 has epoch ", e + 1, " but the batch has epoch ", e)});
  for (const Case& c : cases) {
    auto r = AppendBatches(stub_.get(), {c.request});
    EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.message;
    EXPECT_THAT(r.status.error_message(), HasSubstr(c.message));
  }
  EXPECT_EQ(Sql("SELECT COUNT(*) FROM graph_log"), "0\n");
}

// Records reach the persistor as bytes (vitrage.wire.EncodedAppendRequest):
// bytes that are not a JournalRecord are refused by index, and a valid
// record sent after them in the same batch is not stored either. Records
// that parse are stored byte for byte as sent.
TEST_F(PersistorServiceTest, RecordBytesThatDoNotParseAreInvalidArgument) {
  StartPersistor();
  const uint64_t e = Acquire();
  auto channel = MakeChannel(persistor_->address(), ServerRole::kPersistor, 64 << 20);
  const std::string path = MethodPath(v1::Persistor::service_full_name(), "Append");
  auto send = [&](const wire::EncodedAppendRequest& req, v1::AppendResponse* resp) {
    grpc::ClientContext ctx;
    auto stream =
        OpenBidiStream<wire::EncodedAppendRequest, v1::AppendResponse>(channel, path, &ctx);
    EXPECT_TRUE(stream->Write(req));
    stream->WritesDone();
    bool got = stream->Read(resp);
    grpc::Status st = stream->Finish();
    EXPECT_EQ(got, st.ok());
    return st;
  };
  AppendRequest good = MakeBatch(e, 1, 2);
  wire::EncodedAppendRequest bad;
  bad.set_epoch(e);
  bad.add_records(good.records(0).SerializeAsString());
  bad.add_records(std::string("\x0a\xff\xff\xff\xff\x0f", 6));  // field 1 as a 4 GiB string
  v1::AppendResponse resp;
  grpc::Status st = send(bad, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(st.error_message(), HasSubstr("record 1 of the batch (6 bytes) is not a valid "
                                            "JournalRecord"));
  EXPECT_EQ(Sql("SELECT COUNT(*) FROM graph_log"), "0\n");

  wire::EncodedAppendRequest ok;
  ok.set_epoch(e);
  for (const auto& r : good.records()) ok.add_records(r.SerializeAsString());
  st = send(ok, &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(resp.durable_seq(), 2u);
  // Both in one pack (mysql/log_pack.h): each record's length, its bytes,
  // compressed when that is smaller.
  std::vector<mysql::LogRow> rows(2);
  rows[0].bytes = ok.records(0);
  rows[1].bytes = ok.records(1);
  const mysql::LogRow* ptrs[] = {&rows[0], &rows[1]};
  std::string pack;
  mysql::EncodeStoredPack(ptrs, 2, &pack);
  EXPECT_EQ(Sql("SELECT last_seq, HEX(record) FROM graph_log WHERE seq = 1"),
            absl::StrCat("2\t", absl::AsciiStrToUpper(absl::BytesToHexString(pack)), "\n"));
}

TEST_F(PersistorServiceTest, ReadLogBatchesStayUnderMaxBatchBytes) {
  StartPersistor();
  uint64_t e = Acquire();
  ASSERT_TRUE(AppendBatches(stub_.get(), {MakeBatch(e, 1, 100, 2000)}).status.ok());
  grpc::ClientContext ctx;
  vitrage::v1::ReadLogRequest req;
  req.set_max_batch_bytes(16 << 10);
  auto reader = stub_->ReadLog(&ctx, req);
  vitrage::v1::ReadLogResponse resp;
  uint64_t next = 1;
  int responses = 0;
  while (reader->Read(&resp)) {
    ++responses;
    EXPECT_LE(resp.ByteSizeLong(), 16u << 10);
    EXPECT_EQ(resp.durable_seq(), 100u);
    for (const auto& r : resp.records()) EXPECT_EQ(r.seq(), next++);
  }
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_EQ(next, 101u);
  EXPECT_GE(responses, 13);
}

// A damaged pack (records 1..5 in one row) and a damaged one-record row
// (record 6, appended alone).
TEST_F(PersistorServiceTest, ReadLogReportsCorruptedRecordAsDataLoss) {
  const uint64_t e = StartWithLog(5);
  ASSERT_NE(e, 0u);
  ASSERT_TRUE(AppendBatches(stub_.get(), {MakeBatch(e, 6, 6)}).status.ok());
  EXPECT_EQ(Sql("SELECT seq, last_seq FROM graph_log ORDER BY seq"), "1\t5\n6\t6\n");
  Sql("UPDATE graph_log SET record=CONCAT(record, 'x') WHERE seq=6");
  auto log = testing::ReadLog(stub_.get(), 5);
  EXPECT_EQ(log.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(log.status().message(), HasSubstr("log record seq 6: crc mismatch"));
  Sql("UPDATE graph_log SET record=CONCAT(record, 'x') WHERE seq=1");
  log = testing::ReadLog(stub_.get(), 2);
  EXPECT_EQ(log.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(log.status().message(), HasSubstr("log records seq 1..5 (one row): crc mismatch"));
}

TEST_F(PersistorServiceTest, ReadLogReportsHoleAsDataLoss) {
  const uint64_t e = StartWithLog(3);
  ASSERT_NE(e, 0u);
  ASSERT_TRUE(AppendBatches(stub_.get(), {MakeBatch(e, 4, 4)}).status.ok());
  ASSERT_TRUE(AppendBatches(stub_.get(), {MakeBatch(e, 5, 5)}).status.ok());
  Sql("DELETE FROM graph_log WHERE seq=4");
  auto log = testing::ReadLog(stub_.get(), 0);
  EXPECT_EQ(log.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(log.status().message(),
              HasSubstr("hole in the log: record seq 4 is missing (next stored is 5)"));
}

TEST_F(PersistorServiceTest, GetStatusReportsEpochSeqLogAndReachability) {
  const uint64_t e = StartWithLog(12, "graph:77");
  ASSERT_NE(e, 0u);
  auto st = testing::GetStatus(stub_.get());
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->epoch(), e);
  EXPECT_EQ(st->epoch_owner(), "graph:77");
  EXPECT_EQ(st->durable_seq(), 12u);
  EXPECT_EQ(st->first_seq(), 1u);
  EXPECT_EQ(st->log_records(), 12u);
  EXPECT_TRUE(st->database_reachable());
  EXPECT_TRUE(st->snapshots().empty());
}

TEST_F(PersistorServiceTest, HealthServiceIsServingWithReachableDatabase) {
  StartPersistor();
  auto health = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel(persistor_->address(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  grpc::health::v1::HealthCheckRequest req;
  grpc::health::v1::HealthCheckResponse resp;
  ASSERT_TRUE(health->Check(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.status(), grpc::health::v1::HealthCheckResponse::SERVING);
}

TEST_F(PersistorServiceTest, RestartKeepsEpochAndLog) {
  const uint64_t e = StartWithLog(9);
  ASSERT_NE(e, 0u);
  persistor_.reset();
  StartPersistor();
  auto st = testing::GetStatus(stub_.get());
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->epoch(), e);
  EXPECT_EQ(st->durable_seq(), 9u);
  auto r = AppendBatches(stub_.get(), {MakeBatch(e, 10, 11)});
  EXPECT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.acks, std::vector<uint64_t>{11});
}

// --- snapshots -----------------------------------------------------------

TEST_F(PersistorServiceTest, NoSnapshotIsNotFound) {
  StartPersistor();
  auto snap = testing::GetLatestSnapshot(stub_.get());
  EXPECT_EQ(snap.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(snap.status().message(), HasSubstr("no complete snapshot"));
}

TEST_F(PersistorServiceTest, PutSnapshotThenGetLatestReturnsItChunkByChunk) {
  const uint64_t e = StartWithLog(20);
  ASSERT_NE(e, 0u);
  testing::TestSnapshot snap = testing::MakeSnapshot(20, e, 5, 300000);
  auto put = testing::PutSnapshot(stub_.get(), snap);
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_GT(put->snapshot_id(), 0u);
  EXPECT_EQ(put->seq(), 20u);
  EXPECT_EQ(put->stored_bytes(), 5u * 300000);
  auto got = testing::GetLatestSnapshot(stub_.get());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->info.snapshot_id(), put->snapshot_id());
  EXPECT_EQ(got->info.header().SerializeAsString(), snap.header.SerializeAsString());
  ASSERT_EQ(got->chunks.size(), 5u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(got->chunks[i].SerializeAsString(), snap.chunks[i].SerializeAsString());
  }
  auto st = testing::GetStatus(stub_.get());
  ASSERT_TRUE(st.ok());
  ASSERT_EQ(st->snapshots_size(), 1);
  EXPECT_EQ(st->snapshots(0).snapshot_id(), put->snapshot_id());
  EXPECT_EQ(st->snapshots(0).seq(), 20u);
  EXPECT_EQ(st->snapshots(0).stored_bytes(), 5u * 300000);
  EXPECT_EQ(st->snapshots(0).vertex_count(), 50u);
  EXPECT_GE(st->snapshots(0).age_seconds(), 0.0);
}

TEST_F(PersistorServiceTest, OlderThanIdSkipsToThePreviousSnapshot) {
  const uint64_t e = StartWithLog(20);
  ASSERT_NE(e, 0u);
  auto a = testing::PutSnapshot(stub_.get(), testing::MakeSnapshot(10, e, 2, 1000, 1));
  auto b = testing::PutSnapshot(stub_.get(), testing::MakeSnapshot(20, e, 2, 1000, 2));
  ASSERT_TRUE(a.ok() && b.ok());
  auto older = testing::GetLatestSnapshot(stub_.get(), b->snapshot_id());
  ASSERT_TRUE(older.ok()) << older.status();
  EXPECT_EQ(older->info.snapshot_id(), a->snapshot_id());
  EXPECT_EQ(older->info.header().seq(), 10u);
  auto none = testing::GetLatestSnapshot(stub_.get(), a->snapshot_id());
  EXPECT_EQ(none.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(
      none.status().message(),
      HasSubstr(absl::StrCat("no complete snapshot older than snapshot ", a->snapshot_id())));
}

TEST_F(PersistorServiceTest, ChunkWithBadCrcIsRejectedAndLeavesNothing) {
  const uint64_t e = StartWithLog(5);
  ASSERT_NE(e, 0u);
  testing::TestSnapshot snap = testing::MakeSnapshot(5, e, 3, 1000);
  const uint32_t good = snap.chunks[1].crc32c();
  snap.chunks[1].set_crc32c(good ^ 1);
  auto put = testing::PutSnapshot(stub_.get(), snap);
  EXPECT_EQ(put.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(put.status().message(),
              HasSubstr(absl::StrCat("chunk 1: crc mismatch (sent 0x", absl::Hex(good ^ 1),
                                     ", computed 0x", absl::Hex(good), ")")));
  EXPECT_EQ(Sql("SELECT (SELECT COUNT(*) FROM graph_snapshots),"
                " (SELECT COUNT(*) FROM snapshot_chunks)"),
            "0\t0\n");
  EXPECT_EQ(testing::GetLatestSnapshot(stub_.get()).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(PersistorServiceTest, SnapshotWithStaleEpochIsFencedAndLeavesNothing) {
  StartPersistor();
  uint64_t old_epoch = Acquire("old:1");
  ASSERT_TRUE(AppendBatches(stub_.get(), {MakeBatch(old_epoch, 1, 5)}).status.ok());
  uint64_t new_epoch = Acquire("new:2");
  auto put = testing::PutSnapshot(stub_.get(), testing::MakeSnapshot(5, old_epoch, 2, 100));
  EXPECT_EQ(put.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(put.status().message(), HasSubstr(absl::StrCat("stale epoch ", old_epoch, ": epoch ",
                                                             new_epoch, " was acquired by new:2")));
  EXPECT_EQ(Sql("SELECT COUNT(*) FROM graph_snapshots"), "0\n");
}

TEST_F(PersistorServiceTest, SnapshotBeyondDurableSeqIsRejected) {
  const uint64_t e = StartWithLog(5);
  ASSERT_NE(e, 0u);
  auto put = testing::PutSnapshot(stub_.get(), testing::MakeSnapshot(9, e, 2, 100));
  EXPECT_EQ(put.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(put.status().message(), HasSubstr("snapshot seq 9 is beyond the durable seq 5"));
  EXPECT_EQ(Sql("SELECT COUNT(*) FROM graph_snapshots"), "0\n");
}

TEST_F(PersistorServiceTest, MalformedSnapshotStreamsAreInvalidArgument) {
  const uint64_t e = StartWithLog(5);
  ASSERT_NE(e, 0u);
  // Fewer chunks than announced, then a clean half-close.
  testing::TestSnapshot short_snap = testing::MakeSnapshot(5, e, 3, 100);
  short_snap.chunks.pop_back();
  auto put = testing::PutSnapshot(stub_.get(), short_snap);
  EXPECT_EQ(put.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(put.status().message(), HasSubstr("stream ended after 2 of 3 chunks"));
  // Chunks out of order.
  testing::TestSnapshot swapped = testing::MakeSnapshot(5, e, 3, 100);
  std::swap(swapped.chunks[0], swapped.chunks[1]);
  put = testing::PutSnapshot(stub_.get(), swapped);
  EXPECT_EQ(put.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(put.status().message(), HasSubstr("chunk index 1 out of order, expected 0"));
  EXPECT_EQ(Sql("SELECT (SELECT COUNT(*) FROM graph_snapshots),"
                " (SELECT COUNT(*) FROM snapshot_chunks)"),
            "0\t0\n");
}

TEST_F(PersistorServiceTest, BrokenOffSnapshotStreamLeavesNothingVisible) {
  const uint64_t e = StartWithLog(5);
  ASSERT_NE(e, 0u);
  testing::TestSnapshot snap = testing::MakeSnapshot(5, e, 10, 100000);
  {
    grpc::ClientContext ctx;
    vitrage::v1::PutSnapshotResponse resp;
    auto writer = stub_->PutSnapshot(&ctx, &resp);
    vitrage::v1::PutSnapshotRequest req;
    *req.mutable_header() = snap.header;
    ASSERT_TRUE(writer->Write(req));
    for (int i = 0; i < 6; ++i) {
      *req.mutable_chunk() = snap.chunks[i];
      ASSERT_TRUE(writer->Write(req));
    }
    // Wait until the server stored some chunks, then break the stream.
    for (int i = 0; i < 200; ++i) {
      if (Sql("SELECT COUNT(*) FROM snapshot_chunks") != "0\n") break;
      absl::SleepFor(absl::Milliseconds(20));
    }
    ctx.TryCancel();
    EXPECT_FALSE(writer->Finish().ok());
  }
  EXPECT_EQ(testing::GetLatestSnapshot(stub_.get()).status().code(), absl::StatusCode::kNotFound);
  // The server cleans the rows up once it sees the break.
  EXPECT_EQ(SqlEventually("SELECT (SELECT COUNT(*) FROM graph_snapshots),"
                          " (SELECT COUNT(*) FROM snapshot_chunks)",
                          "0\t0\n"),
            "0\t0\n");
}

TEST_F(PersistorServiceTest, CorruptedChunkRowIsDataLossAndOlderSnapshotServes) {
  const uint64_t e = StartWithLog(20);
  ASSERT_NE(e, 0u);
  auto a = testing::PutSnapshot(stub_.get(), testing::MakeSnapshot(10, e, 3, 5000, 1));
  auto b = testing::PutSnapshot(stub_.get(), testing::MakeSnapshot(20, e, 3, 5000, 2));
  ASSERT_TRUE(a.ok() && b.ok());
  // Flip one byte of chunk 1 of the newest snapshot.
  Sql(
      absl::StrCat("UPDATE snapshot_chunks SET data=CONCAT(LEFT(data, 100),"
                   " CHAR(ASCII(SUBSTRING(data, 101, 1)) ^ 1),"
                   " SUBSTRING(data, 102)) WHERE snapshot_id=",
                   b->snapshot_id(), " AND chunk_index=1"));
  auto got = testing::GetLatestSnapshot(stub_.get());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(got.status().message(),
              HasSubstr(absl::StrCat("snapshot ", b->snapshot_id(), " chunk 1: crc mismatch")));
  auto older = testing::GetLatestSnapshot(stub_.get(), b->snapshot_id());
  ASSERT_TRUE(older.ok()) << older.status();
  EXPECT_EQ(older->info.snapshot_id(), a->snapshot_id());
  EXPECT_EQ(older->chunks.size(), 3u);
}

TEST_F(PersistorServiceTest, RetentionKeepsNewestTwoSnapshotsAndPrunesTheLog) {
  const uint64_t e = StartWithLog(30, "test:1", 10);
  ASSERT_NE(e, 0u);
  std::vector<uint64_t> ids;
  for (uint64_t seq : {10, 20, 30}) {
    auto put = testing::PutSnapshot(stub_.get(), testing::MakeSnapshot(seq, e, 2, 1000));
    ASSERT_TRUE(put.ok()) << put.status();
    ids.push_back(put->snapshot_id());
  }
  ASSERT_TRUE(persistor_->service()->RunRetentionOnce().ok());
  auto st = testing::GetStatus(stub_.get());
  ASSERT_TRUE(st.ok());
  ASSERT_EQ(st->snapshots_size(), 2);
  EXPECT_EQ(st->snapshots(0).snapshot_id(), ids[2]);
  EXPECT_EQ(st->snapshots(1).snapshot_id(), ids[1]);
  // Records <= 20 (the oldest kept snapshot) are needed by no snapshot.
  EXPECT_EQ(st->first_seq(), 21u);
  EXPECT_EQ(st->log_records(), 10u);
  EXPECT_EQ(st->durable_seq(), 30u);
  EXPECT_EQ(Sql(absl::StrCat("SELECT COUNT(*) FROM snapshot_chunks WHERE snapshot_id=", ids[0])),
            "0\n");
  auto tail = testing::ReadLog(stub_.get(), 20);
  ASSERT_TRUE(tail.ok()) << tail.status();
  EXPECT_EQ(tail->size(), 10u);
  auto pruned = testing::ReadLog(stub_.get(), 5);
  EXPECT_EQ(pruned.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(pruned.status().message(), HasSubstr("log records 6..20 were pruned"));
  // A resend of pruned records is still acked (they were durable).
  auto resend = AppendBatches(stub_.get(), {MakeBatch(e, 15, 31)});
  ASSERT_TRUE(resend.status.ok()) << resend.status.error_message();
  EXPECT_EQ(resend.acks, std::vector<uint64_t>{31});
}

TEST_F(PersistorServiceTest, RetentionWaitsForLogRetentionDelay) {
  options_.log_retention = absl::Hours(1);
  const uint64_t e = StartWithLog(30);
  ASSERT_NE(e, 0u);
  for (uint64_t seq : {10, 20, 30}) {
    ASSERT_TRUE(testing::PutSnapshot(stub_.get(), testing::MakeSnapshot(seq, e, 1, 100)).ok());
  }
  ASSERT_TRUE(persistor_->service()->RunRetentionOnce().ok());
  auto st = testing::GetStatus(stub_.get());
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->snapshots_size(), 2);
  EXPECT_EQ(st->first_seq(), 1u);
  EXPECT_EQ(st->log_records(), 30u);
}

// Hot standby snapshots (SnapshotHeader.from_standby): accepted from a
// non-writer when they name the epoch of their last record and cover only
// durable records; they change no epoch, durable seq or write count, so the
// writer goes on unfenced.
testing::TestSnapshot StandbySnapshot(uint64_t seq, uint64_t epoch, uint32_t seed = 7) {
  testing::TestSnapshot snap = testing::MakeSnapshot(seq, epoch, 2, 500, seed);
  snap.header.set_from_standby(true);
  return snap;
}

// The log a standby follows across a failover: records 1..10 written in
// epoch e1 ("old:1"), 11..20 in e2 ("new:2"), the current one.
class StandbySnapshotTest : public PersistorServiceTest {
 protected:
  void SetUp() override {
    PersistorServiceTest::SetUp();
    if (HasFatalFailure()) return;
    e1_ = StartWithLog(10, "old:1");
    ASSERT_NE(e1_, 0u);
    e2_ = Acquire("new:2");
    ASSERT_TRUE(AppendBatches(stub_.get(), {MakeBatch(e2_, 11, 20)}).status.ok());
  }
  uint64_t e1_ = 0, e2_ = 0;
};

TEST_F(StandbySnapshotTest, IsAcceptedWithoutTouchingTheEpoch) {
  const uint64_t e1 = e1_, e2 = e2_;
  const std::string epoch_row = Sql("SELECT epoch, durable_seq, write_count FROM writer_epoch");

  // Built from records 1..10, written in epoch e1 (older than the current).
  auto old = testing::PutSnapshot(stub_.get(), StandbySnapshot(10, e1));
  ASSERT_TRUE(old.ok()) << old.status();
  auto put = testing::PutSnapshot(stub_.get(), StandbySnapshot(20, e2));
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_EQ(put->seq(), 20u);
  EXPECT_EQ(Sql("SELECT epoch, durable_seq, write_count FROM writer_epoch"), epoch_row);

  auto st = testing::GetStatus(stub_.get());
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->epoch(), e2);
  EXPECT_EQ(st->durable_seq(), 20u);
  ASSERT_GE(st->snapshots_size(), 2);
  EXPECT_EQ(st->snapshots(0).snapshot_id(), put->snapshot_id());
  EXPECT_TRUE(st->snapshots(0).from_standby());
  EXPECT_EQ(st->snapshots(0).epoch(), e2);
  EXPECT_EQ(st->snapshots(1).epoch(), e1);
  auto latest = testing::GetLatestSnapshot(stub_.get());
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_EQ(latest->info.snapshot_id(), put->snapshot_id());
  EXPECT_TRUE(latest->info.header().from_standby());

  // The writer is not fenced: it appends and stores its own snapshot.
  ASSERT_TRUE(AppendBatches(stub_.get(), {MakeBatch(e2, 21, 25)}).status.ok());
  auto own = testing::PutSnapshot(stub_.get(), testing::MakeSnapshot(25, e2, 2, 500));
  ASSERT_TRUE(own.ok()) << own.status();
  EXPECT_GT(own->snapshot_id(), put->snapshot_id());
}

TEST_F(StandbySnapshotTest, ThatCouldMoveAnythingIsRefused) {
  const uint64_t e1 = e1_, e2 = e2_;
  const std::string epoch_row = Sql("SELECT epoch, durable_seq, write_count FROM writer_epoch");
  struct Case {
    uint64_t seq, epoch;
    std::string why;
  };
  for (const Case& c : std::vector<Case>{
           {20, e2 + 1, absl::StrCat("names epoch ", e2 + 1, " but the current epoch is ", e2)},
           {25, e2, "snapshot seq 25 is beyond the durable seq 20"},
           {15, e1, absl::StrCat("log record 15 was written in epoch ", e2)},
           {8, e2, absl::StrCat("log record 8 was written in epoch ", e1)},
       }) {
    auto put = testing::PutSnapshot(stub_.get(), StandbySnapshot(c.seq, c.epoch));
    EXPECT_EQ(put.status().code(), absl::StatusCode::kFailedPrecondition) << c.why;
    EXPECT_THAT(put.status().message(), HasSubstr(c.why));
    EXPECT_THAT(put.status().message(), ::testing::Not(HasSubstr("stale epoch")));
  }
  // Nothing was left behind and nothing moved.
  EXPECT_EQ(Sql("SELECT COUNT(*) FROM graph_snapshots"), "0\n");
  EXPECT_EQ(Sql("SELECT epoch, durable_seq, write_count FROM writer_epoch"), epoch_row);
  // Not newer than a stored snapshot.
  ASSERT_TRUE(testing::PutSnapshot(stub_.get(), testing::MakeSnapshot(18, e2, 2, 500)).ok());
  auto stale = testing::PutSnapshot(stub_.get(), StandbySnapshot(18, e2));
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(stale.status().message(), HasSubstr("is not newer than snapshot"));
  EXPECT_EQ(Sql("SELECT COUNT(*) FROM graph_snapshots"), "1\n");
  // The writer goes on.
  ASSERT_TRUE(AppendBatches(stub_.get(), {MakeBatch(e2, 21, 22)}).status.ok());
}

// A PutSnapshot stream whose client sent its header and went quiet (a
// stopped graph, a hostile client) holds no database connection: more of
// them than there are write connections leave AcquireEpoch (a failover)
// unharmed.
TEST_F(PersistorServiceTest, StalledSnapshotUploadsHoldNoDatabaseConnection) {
  options_.max_db_connections = kMinDbConnections;  // kWriteDbConnections for writes
  StartPersistor();
  const uint64_t e = Acquire();
  ASSERT_NE(e, 0u);
  ASSERT_TRUE(AppendBatches(stub_.get(), {MakeBatch(e, 1, 5)}).status.ok());
  constexpr int kStalled = kWriteDbConnections + 2;
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<grpc::ClientWriter<v1::PutSnapshotRequest>>> writers;
  std::vector<v1::PutSnapshotResponse> responses(kStalled);
  for (int i = 0; i < kStalled; ++i) {
    contexts.push_back(std::make_unique<grpc::ClientContext>());
    writers.push_back(stub_->PutSnapshot(contexts.back().get(), &responses[i]));
    v1::PutSnapshotRequest req;
    *req.mutable_header() = testing::MakeSnapshot(5, e, 2, 100).header;
    ASSERT_TRUE(writers.back()->Write(req));
  }
  const std::string all_stalled = absl::StrCat(kStalled, "\n");
  ASSERT_EQ(SqlEventually("SELECT COUNT(*) FROM graph_snapshots", all_stalled, absl::Seconds(20)),
            all_stalled)
      << "the stalled uploads' rows never appeared";
  const absl::Time t0 = absl::Now();
  auto taken = testing::AcquireEpoch(stub_.get(), "next-graph:2");
  ASSERT_TRUE(taken.ok()) << taken.status();
  EXPECT_EQ(taken->epoch(), e + 1);
  EXPECT_LT(absl::Now() - t0, absl::Seconds(5));
  for (auto& c : contexts) c->TryCancel();
  for (auto& w : writers) EXPECT_FALSE(w->Finish().ok());
}

// A PutSnapshot stream whose client sends nothing for stream_stall_timeout
// is ended and leaves nothing behind; so is one that never sends its
// header.
TEST_F(PersistorServiceTest, SilentSnapshotUploadEndsAfterTheStallTimeout) {
  options_.stream_stall_timeout = absl::Seconds(1);
  StartPersistor();
  const uint64_t e = Acquire();
  ASSERT_NE(e, 0u);
  ASSERT_TRUE(AppendBatches(stub_.get(), {MakeBatch(e, 1, 5)}).status.ok());
  const testing::TestSnapshot snap = testing::MakeSnapshot(5, e, 3, 100);
  // Deadlines of the client's own, so that a persistor that never ends the
  // streams fails the test instead of hanging it.
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  v1::PutSnapshotResponse resp;
  auto writer = stub_->PutSnapshot(&ctx, &resp);
  v1::PutSnapshotRequest req;
  *req.mutable_header() = snap.header;
  ASSERT_TRUE(writer->Write(req));
  req.Clear();
  *req.mutable_chunk() = snap.chunks[0];
  ASSERT_TRUE(writer->Write(req));
  const absl::Time t0 = absl::Now();
  grpc::Status st = writer->Finish();  // without WritesDone: the client is silent
  EXPECT_FALSE(st.ok());
  EXPECT_GE(absl::Now() - t0, absl::Milliseconds(700));
  EXPECT_LT(absl::Now() - t0, absl::Seconds(10));
  // The stream is cancelled (so the client's Finish returns) before the
  // persistor deletes its rows: they go soon after, not necessarily before.
  EXPECT_EQ(SqlEventually("SELECT COUNT(*) FROM graph_snapshots", "0\n"), "0\n");
  EXPECT_EQ(SqlEventually("SELECT COUNT(*) FROM snapshot_chunks", "0\n"), "0\n");

  grpc::ClientContext quiet_ctx;
  quiet_ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  auto quiet = stub_->PutSnapshot(&quiet_ctx, &resp);
  const absl::Time t1 = absl::Now();
  EXPECT_FALSE(quiet->Finish().ok());
  EXPECT_LT(absl::Now() - t1, absl::Seconds(10));
  // The persistor goes on: a snapshot sent without pauses is stored.
  auto put = testing::PutSnapshot(stub_.get(), snap);
  ASSERT_TRUE(put.ok()) << put.status();
}

// Retention deletes whole rows: a pack (mysql/log_pack.h) that holds a
// record some kept snapshot needs is kept with the older records in it.
TEST_F(PersistorServiceTest, RetentionKeepsAPackThatHoldsNeededRecords) {
  const uint64_t e = StartWithLog(30, "test:1", 15);
  ASSERT_NE(e, 0u);
  for (uint64_t seq : {5, 10, 20}) {
    ASSERT_TRUE(testing::PutSnapshot(stub_.get(), testing::MakeSnapshot(seq, e, 1, 100)).ok());
  }
  ASSERT_TRUE(persistor_->service()->RunRetentionOnce().ok());
  auto st = testing::GetStatus(stub_.get());
  ASSERT_TRUE(st.ok());
  // The oldest kept snapshot is at 10: the row 1..15 holds 11..15.
  EXPECT_EQ(st->first_seq(), 1u);
  auto tail = testing::ReadLog(stub_.get(), 10);
  ASSERT_TRUE(tail.ok()) << tail.status();
  ASSERT_EQ(tail->size(), 20u);
  EXPECT_EQ(tail->front().seq(), 11u);
  ASSERT_TRUE(testing::PutSnapshot(stub_.get(), testing::MakeSnapshot(25, e, 1, 100)).ok());
  ASSERT_TRUE(persistor_->service()->RunRetentionOnce().ok());
  st = testing::GetStatus(stub_.get());
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->first_seq(), 16u);
  EXPECT_EQ(Sql("SELECT seq, last_seq FROM graph_log"), "16\t30\n");
}

// Snapshot seqs need not grow with their ids (a standby's can be published
// while the active's, at a lower seq, is still encoding): retention keeps
// the records every kept snapshot needs.
TEST_F(PersistorServiceTest, RetentionKeepsTheRecordsOfEveryKeptSnapshot) {
  const uint64_t e = StartWithLog(40, "test:1", 5);
  ASSERT_NE(e, 0u);
  ASSERT_TRUE(testing::PutSnapshot(stub_.get(), testing::MakeSnapshot(10, e, 1, 100)).ok());
  ASSERT_TRUE(testing::PutSnapshot(stub_.get(), StandbySnapshot(30, e)).ok());
  auto late = testing::PutSnapshot(stub_.get(), testing::MakeSnapshot(25, e, 1, 100));
  ASSERT_TRUE(late.ok()) << late.status();
  ASSERT_TRUE(persistor_->service()->RunRetentionOnce().ok());
  auto st = testing::GetStatus(stub_.get());
  ASSERT_TRUE(st.ok());
  ASSERT_EQ(st->snapshots_size(), 2);
  EXPECT_EQ(st->snapshots(0).snapshot_id(), late->snapshot_id());
  // The newest snapshot (seq 25) needs the records after 25.
  EXPECT_EQ(st->first_seq(), 26u);
  auto tail = testing::ReadLog(stub_.get(), 25);
  ASSERT_TRUE(tail.ok()) << tail.status();
  EXPECT_EQ(tail->size(), 15u);
}

// Hot standby: a follow stream sends what is durable, then new records as
// they become durable (through this persistor's writer, and through another
// persistor on the same database, found by polling), heartbeats while the
// log is quiet, and ends only when the client cancels.
TEST_F(PersistorServiceTest, ReadLogFollowStreamsNewRecordsHeartbeatsAndEndsOnCancel) {
  const uint64_t e = StartWithLog(10);
  ASSERT_NE(e, 0u);

  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  vitrage::v1::ReadLogRequest req;
  req.set_after_seq(5);
  req.set_follow(true);
  auto reader = stub_->ReadLog(&ctx, req);
  std::vector<uint64_t> seqs;
  vitrage::v1::ReadLogResponse resp;
  auto read_until = [&](uint64_t last) {
    while (seqs.empty() || seqs.back() < last) {
      if (!reader->Read(&resp)) return false;
      for (const auto& r : resp.records()) seqs.push_back(r.seq());
    }
    return true;
  };
  ASSERT_TRUE(read_until(10));
  EXPECT_EQ(resp.durable_seq(), 10u);

  // New records through this persistor's own writer.
  ASSERT_TRUE(AppendBatches(stub_.get(), {MakeBatch(e, 11, 20)}).status.ok());
  ASSERT_TRUE(read_until(20));

  // Records written through a second persistor on the same database (the
  // Galera case): only the database poll sees them.
  auto other = testing::InProcessPersistor::Start(options_);
  ASSERT_TRUE(other.ok()) << other.status();
  auto other_stub = (*other)->NewStub();
  ASSERT_TRUE(AppendBatches(other_stub.get(), {MakeBatch(e, 21, 30)}).status.ok());
  ASSERT_TRUE(read_until(30));
  std::vector<uint64_t> want;
  for (uint64_t i = 6; i <= 30; ++i) want.push_back(i);
  EXPECT_EQ(seqs, want);

  // Quiet log: a heartbeat with no records and the current durable seq.
  absl::Time t0 = absl::Now();
  ASSERT_TRUE(reader->Read(&resp));
  EXPECT_EQ(resp.records_size(), 0);
  EXPECT_EQ(resp.durable_seq(), 30u);
  EXPECT_LT(absl::Now() - t0, absl::Seconds(3));

  ctx.TryCancel();
  while (reader->Read(&resp)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

class ResendTest : public PersistorServiceTest {
 protected:
  // Stores records first..last as another persistor's commit would (rows
  // and durable seq in one transaction), behind this persistor's back: its
  // log writer still believes the durable seq it saw last.
  void CommitElsewhere(uint64_t epoch, uint64_t first, uint64_t last, size_t payload_bytes = 100) {
    std::string sql =
        "START TRANSACTION; INSERT INTO graph_log (seq, epoch, crc32c, record) VALUES ";
    for (uint64_t seq = first; seq <= last; ++seq) {
      const std::string bytes = testing::MakeRecord(seq, epoch, payload_bytes).SerializeAsString();
      absl::StrAppend(&sql, seq == first ? "" : ",", "(", seq, ",", epoch, ",",
                      crc32c::Value(bytes), ",X'", absl::BytesToHexString(bytes), "')");
    }
    absl::StrAppend(&sql, "; UPDATE writer_epoch SET durable_seq=", last, " WHERE id=1; COMMIT");
    Sql(sql);
  }
};

TEST_F(ResendTest, RecordsCommittedMeanwhileByAnotherPersistorAreAckedWhenIdentical) {
  const uint64_t e = StartWithLog(10);
  ASSERT_NE(e, 0u);
  // The graph's resend of 11..20 reached another persistor, whose commit
  // won while ours was in flight: our INSERT meets duplicate keys (1062).
  CommitElsewhere(e, 11, 20);
  auto r = AppendBatches(stub_.get(), {MakeBatch(e, 11, 20)});
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.acks, std::vector<uint64_t>{20});
  auto more = AppendBatches(stub_.get(), {MakeBatch(e, 21, 25)});
  ASSERT_TRUE(more.status.ok()) << more.status.error_message();
  auto all = testing::ReadLog(stub_.get(), 0);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 25u);
  EXPECT_EQ(all->back().seq(), 25u);
}

TEST_F(ResendTest, RecordsCommittedMeanwhileWithOtherContentAreAlreadyExistsNamingTheSeq) {
  const uint64_t e = StartWithLog(10);
  ASSERT_NE(e, 0u);
  CommitElsewhere(e, 11, 20, /*payload_bytes=*/50);
  auto r = AppendBatches(stub_.get(), {MakeBatch(e, 11, 20)});
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_THAT(r.status.error_message(),
              HasSubstr("record seq 11 is already stored with different content"));
}

TEST_F(ResendTest, RecordsPartlyCommittedMeanwhileAreUnavailableThenAckedOnResend) {
  const uint64_t e = StartWithLog(10);
  ASSERT_NE(e, 0u);
  CommitElsewhere(e, 11, 15);
  auto r = AppendBatches(stub_.get(), {MakeBatch(e, 11, 20)});
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::UNAVAILABLE) << r.status.error_message();
  auto again = AppendBatches(stub_.get(), {MakeBatch(e, 11, 20)});
  ASSERT_TRUE(again.status.ok()) << again.status.error_message();
  EXPECT_EQ(again.acks, std::vector<uint64_t>{20});
  auto all = testing::ReadLog(stub_.get(), 0);
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->size(), 20u);
}

TEST_F(PersistorServiceTest, SnapshotWhosePublishReplyWasLostIsKeptAndAnsweredAsPublished) {
  // The publish commits, then its connection fails before the reply: the
  // stream's cleanup must find it published and keep it.
  options_.after_publish_for_test = [](uint64_t id) {
    return absl::UnavailableError(
        absl::StrCat("lost connection during COMMIT of snapshot ", id, " (injected)"));
  };
  const uint64_t e = StartWithLog(10);
  ASSERT_NE(e, 0u);
  testing::TestSnapshot snap = testing::MakeSnapshot(10, e, 3, 5000);
  auto put = testing::PutSnapshot(stub_.get(), snap);
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_EQ(put->seq(), 10u);
  auto got = testing::GetLatestSnapshot(stub_.get());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->info.snapshot_id(), put->snapshot_id());
  ASSERT_EQ(got->chunks.size(), 3u);
  EXPECT_EQ(got->chunks[2].data(), snap.chunks[2].data());
}

TEST_F(PersistorServiceTest, SnapshotRetiredWhileAStreamReadsItEndsThatStreamWithAborted) {
  const uint64_t e = StartWithLog(30);
  ASSERT_NE(e, 0u);
  // 40 chunks of 1 MiB: more than the stream reads ahead (2 pages of 8).
  testing::TestSnapshot big = testing::MakeSnapshot(10, e, 40, 1 << 20, 1);
  auto oldest = testing::PutSnapshot(stub_.get(), big);
  ASSERT_TRUE(oldest.ok()) << oldest.status();
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
  auto reader = stub_->GetLatestSnapshot(&ctx, vitrage::v1::GetLatestSnapshotRequest());
  vitrage::v1::GetLatestSnapshotResponse resp;
  ASSERT_TRUE(reader->Read(&resp));
  ASSERT_TRUE(resp.has_info());
  ASSERT_TRUE(reader->Read(&resp));
  EXPECT_EQ(resp.chunk().index(), 0u);
  // Two newer snapshots make it the third: retention deletes it.
  for (uint64_t seq : {20, 30}) {
    ASSERT_TRUE(testing::PutSnapshot(stub_.get(), testing::MakeSnapshot(seq, e, 1, 100)).ok());
  }
  ASSERT_TRUE(persistor_->service()->RunRetentionOnce().ok());
  ASSERT_EQ(Sql(absl::StrCat("SELECT COUNT(*) FROM snapshot_chunks WHERE snapshot_id=",
                             oldest->snapshot_id())),
            "0\n");
  uint32_t last = 0;
  while (reader->Read(&resp)) last = resp.chunk().index();
  grpc::Status st = reader->Finish();
  EXPECT_LT(last, 39u);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::ABORTED) << st.error_message();
  EXPECT_THAT(st.error_message(),
              HasSubstr(absl::StrCat("snapshot ", oldest->snapshot_id(),
                                     " was deleted by retention while this stream read it")));
}

}  // namespace
}  // namespace vitrage::persistor
