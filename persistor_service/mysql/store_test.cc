#include "persistor_service/mysql/store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "common/testing/mariadb_fixture.h"
#include "common/testing/mariadb_test.h"
#include "common/testing/process.h"

namespace vitrage::persistor::mysql {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class StoreTest : public vitrage::testing::MariaDbTest {
 protected:
  ConnectOptions Options(const std::string& database) {
    EXPECT_TRUE(db_->Query(absl::StrCat("DROP DATABASE IF EXISTS `", database,
                                        "`; CREATE DATABASE `", database, "`"),
                           false)
                    .ok());
    ConnectOptions o;
    o.url.user = "root";
    o.url.port = db_->port();
    o.url.database = database;
    return o;
  }
};

// A plain server also reports wsrep_ready=OFF: Ping must not take it for a
// Galera node without quorum (the health monitor uses Ping).
TEST_F(StoreTest, PingIsOkOnAPlainServer) {
  auto conn = Connection::Open(Options("ping_plain"));
  ASSERT_TRUE(conn.ok()) << conn.status();
  absl::Status ping = (*conn)->Ping();
  EXPECT_TRUE(ping.ok()) << ping;
}

TEST_F(StoreTest, BlobLiteralRoundTripsEveryByteValue) {
  auto conn = Connection::Open(Options("blob_rt"));
  ASSERT_TRUE(conn.ok()) << conn.status();
  ASSERT_TRUE((*conn)->Execute("CREATE TABLE t (id INT PRIMARY KEY, b LONGBLOB)").ok());
  std::string bytes;
  for (int rep = 0; rep < 3; ++rep) {
    for (int i = 0; i < 256; ++i) bytes.push_back(static_cast<char>(i));
  }
  bytes += "\xe2\x82\xac\\'\xe0\\\xf0\x9f\x98\x80\xc3";  // utf8 and broken utf8
  std::string sql = "INSERT INTO t VALUES (1, ";
  AppendBlobLiteral(bytes, &sql);
  sql += ")";
  ASSERT_TRUE((*conn)->Execute(sql).ok());
  auto rows = (*conn)->Query("SELECT b FROM t WHERE id=1");
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ(*(*rows)[0][0], bytes);
}

TEST_F(StoreTest, DuplicateKeyIsAlreadyExists) {
  auto conn = Connection::Open(Options("dup_key"));
  ASSERT_TRUE(conn.ok()) << conn.status();
  ASSERT_TRUE((*conn)->Execute("CREATE TABLE t (id INT PRIMARY KEY)").ok());
  ASSERT_TRUE((*conn)->Execute("INSERT INTO t VALUES (1)").ok());
  absl::Status s = (*conn)->Execute("INSERT INTO t VALUES (1)").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists) << s;
  EXPECT_THAT(s.message(), HasSubstr("1062"));
  EXPECT_FALSE((*conn)->broken());
}

TEST_F(StoreTest, UnreachableServerIsUnavailableAndHidesPassword) {
  ConnectOptions o;
  o.url.user = "root";
  o.url.password = "s3cret-pw";
  o.url.port = vitrage::testing::PickFreePort();
  o.url.database = "x";
  o.connect_timeout = absl::Seconds(2);
  auto conn = Connection::Open(o);
  ASSERT_FALSE(conn.ok());
  EXPECT_EQ(conn.status().code(), absl::StatusCode::kUnavailable) << conn.status();
  EXPECT_THAT(conn.status().message(), Not(HasSubstr("s3cret-pw")));
}

TEST_F(StoreTest, ErrorCodesMapToStatusCodes) {
  EXPECT_EQ(StatusFromMysqlError(2006, "HY000", "gone", "s", "q").code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(StatusFromMysqlError(2013, "HY000", "lost", "s", "q").code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(StatusFromMysqlError(1213, "40001", "deadlock", "s", "q").code(),
            absl::StatusCode::kAborted);
  EXPECT_EQ(StatusFromMysqlError(1205, "HY000", "lock wait", "s", "q").code(),
            absl::StatusCode::kAborted);
  EXPECT_EQ(StatusFromMysqlError(1062, "23000", "dup", "s", "q").code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(StatusFromMysqlError(1146, "42S02", "no table", "s", "q").code(),
            absl::StatusCode::kInternal);
}

TEST_F(StoreTest, MigrateCreatesSchemaOnceAndIsIdempotent) {
  auto conn = Connection::Open(Options("migrate"));
  ASSERT_TRUE(conn.ok()) << conn.status();
  Store store(conn->get());
  auto first = store.Migrate();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(*first, 0);
  auto second = store.Migrate();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(*second, kSchemaVersion);
  auto rows = (*conn)->Query("SELECT version FROM schema_version");
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ(*(*rows)[0][0], absl::StrCat(kSchemaVersion));
  // Every table has a primary key (Galera).
  auto no_pk = (*conn)->Query(
      "SELECT t.table_name FROM information_schema.tables t WHERE "
      "t.table_schema='migrate' AND NOT EXISTS (SELECT 1 FROM "
      "information_schema.table_constraints c WHERE c.table_schema="
      "t.table_schema AND c.table_name=t.table_name AND "
      "c.constraint_type='PRIMARY KEY')");
  ASSERT_TRUE(no_pk.ok());
  EXPECT_TRUE(no_pk->empty());
  auto epoch = store.ReadEpoch();
  ASSERT_TRUE(epoch.ok());
  EXPECT_EQ(epoch->epoch, 0u);
  EXPECT_EQ(epoch->durable_seq, 0u);
}

TEST_F(StoreTest, NewerSchemaVersionIsRefused) {
  auto conn = Connection::Open(Options("newer"));
  ASSERT_TRUE(conn.ok());
  Store store(conn->get());
  ASSERT_TRUE(store.Migrate().ok());
  ASSERT_TRUE((*conn)->Execute("UPDATE schema_version SET version=99").ok());
  auto again = store.Migrate();
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(again.status().message(), HasSubstr("99"));
}

TEST_F(StoreTest, AppendLogIsFencedByEpochAndDurableSeq) {
  auto conn = Connection::Open(Options("append_guard"));
  ASSERT_TRUE(conn.ok());
  Store store(conn->get());
  ASSERT_TRUE(store.Migrate().ok());
  auto a = store.AcquireEpoch("me:1");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->epoch, 1u);
  LogRow r1{1, 1, 0, "one"};
  LogRow r2{2, 1, 0, "two"};
  auto ok = store.AppendLog(1, 0, {&r1, &r2}, 1 << 20);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(*ok, GuardResult::kDone);
  LogRow r3{3, 1, 0, "three"};
  auto moved = store.AppendLog(1, 1, {&r3}, 1 << 20);
  ASSERT_TRUE(moved.ok());
  EXPECT_EQ(*moved, GuardResult::kDurableMoved);
  ASSERT_TRUE(store.AcquireEpoch("other:2").ok());
  auto stale = store.AppendLog(1, 2, {&r3}, 1 << 20);
  ASSERT_TRUE(stale.ok());
  EXPECT_EQ(*stale, GuardResult::kStaleEpoch);
  auto rows = store.ReadLog(1, 10, 10);
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[1].bytes, "two");
  auto e = store.ReadEpoch();
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->durable_seq, 2u);
  EXPECT_EQ(e->epoch, 2u);
  EXPECT_EQ(e->owner, "other:2");
}

// Runs of kPreparedLogRows rows go through the prepared statement, the
// rest as text; every byte value must come back as written either way, a
// run over the statement size limit falls back to text, and a duplicate
// key through the prepared statement is ALREADY_EXISTS with nothing kept.
TEST_F(StoreTest, AppendLogStoresPreparedAndTextRowsAlike) {
  auto conn = Connection::Open(Options("append_prepared"));
  ASSERT_TRUE(conn.ok());
  Store store(conn->get());
  ASSERT_TRUE(store.Migrate().ok());
  ASSERT_TRUE(store.AcquireEpoch("me:1").ok());
  const size_t n = 2 * kPreparedLogRows + 7;
  std::vector<LogRow> rows(n);
  std::vector<const LogRow*> ptrs;
  for (size_t i = 0; i < n; ++i) {
    rows[i].seq = i + 1;
    rows[i].epoch = 1;
    rows[i].crc32c = static_cast<uint32_t>(0xfffffff0u + i % 16);
    for (int b = 0; b < 256; ++b) rows[i].bytes.push_back(static_cast<char>((b + i) % 256));
    ptrs.push_back(&rows[i]);
  }
  auto executes = [&]() -> uint64_t {
    auto r = (*conn)->Query("SHOW SESSION STATUS LIKE 'Com_stmt_execute'");
    if (!r.ok() || r->empty()) return 0;
    auto v = CellToUint((*r)[0][1], "Com_stmt_execute");
    return v.ok() ? *v : 0;
  };
  const uint64_t executes0 = executes();
  auto ok = store.AppendLog(1, 0, ptrs, 1 << 20);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(*ok, GuardResult::kDone);
  EXPECT_EQ(executes() - executes0, 2u);  // two prepared runs, the rest as text
  // One row too large for a prepared run of its own (a 40 KiB statement
  // limit): every row of the next batch goes as text.
  std::vector<LogRow> more(kPreparedLogRows);
  std::vector<const LogRow*> more_ptrs;
  for (size_t i = 0; i < more.size(); ++i) {
    more[i] = LogRow{n + i + 1, 1, 7, std::string(i == 5 ? 30000 : 100, static_cast<char>(i))};
    more_ptrs.push_back(&more[i]);
  }
  const uint64_t executes1 = executes();
  auto text = store.AppendLog(1, n, more_ptrs, 40 << 10);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, GuardResult::kDone);
  EXPECT_EQ(executes(), executes1);  // all as text
  auto back = store.ReadLog(1, 10 * n, 10 * n);
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->size(), n + more.size());
  for (size_t i = 0; i < n; ++i) {
    EXPECT_EQ((*back)[i].seq, rows[i].seq);
    EXPECT_EQ((*back)[i].crc32c, rows[i].crc32c);
    EXPECT_EQ((*back)[i].bytes, rows[i].bytes) << "seq " << rows[i].seq;
  }
  for (size_t i = 0; i < more.size(); ++i) EXPECT_EQ((*back)[n + i].bytes, more[i].bytes);
  // A resend of stored seqs through the prepared statement.
  const uint64_t durable = n + more.size();
  std::vector<LogRow> dup(kPreparedLogRows);
  std::vector<const LogRow*> dup_ptrs;
  for (size_t i = 0; i < dup.size(); ++i) {
    dup[i] = LogRow{durable - 3 + i, 1, 0, "dup"};
    dup_ptrs.push_back(&dup[i]);
  }
  auto again = store.AppendLog(1, durable, dup_ptrs, 1 << 20);
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists) << again.status();
  auto e = store.ReadEpoch();
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->durable_seq, durable);
  auto tail = store.ReadLog(durable - 3, durable + 200, 300);
  ASSERT_TRUE(tail.ok());
  EXPECT_EQ(tail->size(), 4u);
  EXPECT_EQ(tail->back().bytes, more.back().bytes);
}

}  // namespace
}  // namespace vitrage::persistor::mysql
