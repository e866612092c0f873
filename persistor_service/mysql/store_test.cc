#include "persistor_service/mysql/store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "common/crc32c.h"
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
  auto ok = store.AppendLog(1, 0, {&r1, &r2});
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(*ok, GuardResult::kDone);
  LogRow r6{6, 1, 0, "six"};  // as if the durable seq were 5
  auto moved = store.AppendLog(1, 5, {&r6});
  ASSERT_TRUE(moved.ok());
  EXPECT_EQ(*moved, GuardResult::kDurableMoved);
  ASSERT_TRUE(store.AcquireEpoch("other:2").ok());
  LogRow r3{3, 1, 0, "three"};
  auto stale = store.AppendLog(1, 2, {&r3});
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

std::vector<LogRow> MakeRows(uint64_t first, size_t n, size_t bytes, uint64_t epoch = 1) {
  std::vector<LogRow> rows(n);
  for (size_t i = 0; i < n; ++i) {
    rows[i].seq = first + i;
    rows[i].epoch = epoch;
    for (size_t b = 0; b < bytes; ++b) rows[i].bytes.push_back(static_cast<char>((b + i) % 256));
    rows[i].crc32c = crc32c::Value(rows[i].bytes);
  }
  return rows;
}

// Stores `rows` as a version 1 persistor did: one row each, no last_seq.
absl::Status InsertOneRowEach(Connection* conn, const std::vector<LogRow>& rows) {
  std::string sql = "INSERT INTO graph_log (seq, epoch, crc32c, record) VALUES ";
  for (size_t i = 0; i < rows.size(); ++i) {
    absl::StrAppend(&sql, i == 0 ? "" : ",", "(", rows[i].seq, ",", rows[i].epoch, ",",
                    rows[i].crc32c, ",");
    AppendBlobLiteral(rows[i].bytes, &sql);
    sql += ")";
  }
  return conn->Execute(sql).status();
}

// A group commit is one prepared INSERT per pack (log_pack.h): every byte
// value comes back as written, from any seq inside a pack; a group that
// does not start at durable + 1 is refused; a resend of stored seqs is
// ALREADY_EXISTS with nothing kept.
TEST_F(StoreTest, AppendLogStoresPacksOfRecords) {
  auto conn = Connection::Open(Options("append_packs"));
  ASSERT_TRUE(conn.ok());
  Store store(conn->get());
  ASSERT_TRUE(store.Migrate().ok());
  ASSERT_TRUE(store.AcquireEpoch("me:1").ok());
  const size_t n = 2 * kMaxPackRecords + 7;
  std::vector<LogRow> rows = MakeRows(1, n, 100);
  auto executes = [&]() -> uint64_t {
    auto r = (*conn)->Query("SHOW SESSION STATUS LIKE 'Com_stmt_execute'");
    if (!r.ok() || r->empty()) return 0;
    auto v = CellToUint((*r)[0][1], "Com_stmt_execute");
    return v.ok() ? *v : 0;
  };
  const uint64_t executes0 = executes();
  auto ok = store.AppendLog(1, 0, PointersTo(rows));
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(*ok, GuardResult::kDone);
  EXPECT_EQ(executes() - executes0, 3u);  // two full packs and one of 7
  auto shape = (*conn)->Query("SELECT seq, last_seq FROM graph_log ORDER BY seq");
  ASSERT_TRUE(shape.ok());
  ASSERT_EQ(shape->size(), 3u);
  EXPECT_EQ(*(*shape)[1][0], absl::StrCat(kMaxPackRecords + 1));
  EXPECT_EQ(*(*shape)[2][1], absl::StrCat(n));
  // One record alone is a one-record row.
  std::vector<LogRow> one = MakeRows(n + 1, 1, 10);
  ASSERT_TRUE(store.AppendLog(1, n, PointersTo(one)).ok());
  auto back = store.ReadLog(1, 10 * n, 10 * n);
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->size(), n + 1);
  for (size_t i = 0; i < n; ++i) {
    EXPECT_EQ((*back)[i].seq, rows[i].seq);
    EXPECT_EQ((*back)[i].crc32c, rows[i].crc32c);
    ASSERT_EQ((*back)[i].bytes, rows[i].bytes) << "seq " << rows[i].seq;
  }
  EXPECT_EQ(back->back().bytes, one[0].bytes);
  // Inside a pack, across two, and limited by max_rows.
  auto mid = store.ReadLog(kMaxPackRecords - 1, n, 4);
  ASSERT_TRUE(mid.ok()) << mid.status();
  ASSERT_EQ(mid->size(), 4u);
  EXPECT_EQ(mid->front().seq, kMaxPackRecords - 1);
  EXPECT_EQ((*mid)[3].bytes, rows[kMaxPackRecords + 1].bytes);
  auto bounds = store.ReadLogBounds();
  ASSERT_TRUE(bounds.ok());
  EXPECT_EQ(bounds->first_seq, 1u);
  EXPECT_EQ(bounds->last_seq, n + 1);

  const uint64_t durable = n + 1;
  std::vector<LogRow> gap = MakeRows(durable + 2, 3, 10);
  auto refused = store.AppendLog(1, durable, PointersTo(gap));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument) << refused.status();
  EXPECT_THAT(refused.status().message(), HasSubstr("has seq " + absl::StrCat(durable + 2)));
  // A resend of stored seqs (what another persistor committed meanwhile):
  // the first pack's key is taken.
  std::vector<LogRow> dup = MakeRows(n - 6, 30, 10);
  auto again = store.AppendLog(1, n - 7, PointersTo(dup));
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists) << again.status();
  auto e = store.ReadEpoch();
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->durable_seq, durable);
  auto tail = store.ReadLog(durable - 3, durable + 200, 300);
  ASSERT_TRUE(tail.ok());
  ASSERT_EQ(tail->size(), 4u);
  EXPECT_EQ(tail->front().bytes, rows[n - 3].bytes);
}

// Retention's prune locks only the rows it deletes. The journal's tail
// can be a pipelined group's INSERT that is not committed yet (its worker
// waits for the group before it, whose INSERT waits for whatever locks the
// gap): a prune that locked the row after its range waited for that
// INSERT and, with the group before behind it, stopped the journal for
// innodb_lock_wait_timeout (hardening_test caught it as 20 s without an
// ack).
TEST_F(StoreTest, PruneLogDoesNotWaitForTheUncommittedTail) {
  // Few rows, and many with all but the tail going (where an optimizer
  // could prefer a scan, which would lock the tail).
  for (const uint64_t n : {3, 200, 501, 600, 2000, 5000}) {
    SCOPED_TRACE(absl::StrCat(n, " rows"));
    const ConnectOptions options = Options(absl::StrCat("prune_tail_", n));
    auto conn = Connection::Open(options);
    ASSERT_TRUE(conn.ok()) << conn.status();
    Store store(conn->get());
    ASSERT_TRUE(store.Migrate().ok());
    ASSERT_TRUE(store.AcquireEpoch("me:1").ok());
    ASSERT_TRUE(InsertOneRowEach(conn->get(), MakeRows(1, n, 40)).ok());
    ASSERT_TRUE((*conn)->Execute(absl::StrCat("UPDATE writer_epoch SET durable_seq=", n)).ok());
    // The next group but one: seq n + 2, inserted, not committed (seq
    // n + 1's group has not inserted yet).
    auto tail = Connection::Open(options);
    ASSERT_TRUE(tail.ok()) << tail.status();
    ASSERT_TRUE((*tail)->Begin().ok());
    ASSERT_TRUE((*tail)
                    ->Execute(absl::StrCat("INSERT INTO graph_log (seq, last_seq, epoch, crc32c,"
                                           " record) VALUES (",
                                           n + 2, ", ", n + 2, ", 1, 0, 'x')"))
                    .ok());
    // A prune up to the last durable row, unable to sit out a lock wait.
    ASSERT_TRUE((*conn)->Execute("SET SESSION innodb_lock_wait_timeout=1").ok());
    auto pruned = store.PruneLog(n, absl::ZeroDuration(), 10000);
    ASSERT_TRUE(pruned.ok()) << pruned.status();
    EXPECT_EQ(*pruned, n);
    // Nor does seq n + 1's INSERT, into the gap, wait for anything the
    // prune left.
    auto gap = Connection::Open(options);
    ASSERT_TRUE(gap.ok()) << gap.status();
    ASSERT_TRUE((*gap)->Execute("SET SESSION innodb_lock_wait_timeout=1").ok());
    EXPECT_TRUE((*gap)
                    ->Execute(absl::StrCat("INSERT INTO graph_log (seq, last_seq, epoch, crc32c,"
                                           " record) VALUES (",
                                           n + 1, ", ", n + 1, ", 1, 0, 'y')"))
                    .ok());
    (*tail)->Rollback();
  }
}

// Rows written by schema version 1 (one record each, no last_seq) read
// back next to packs; pruning and a new epoch never cut a pack's records
// that must stay.
TEST_F(StoreTest, VersionOneRowsPruneAndEpochChangeAroundPacks) {
  auto conn = Connection::Open(Options("packs_around"));
  ASSERT_TRUE(conn.ok());
  Store store(conn->get());
  ASSERT_TRUE(store.Migrate().ok());
  ASSERT_TRUE(store.AcquireEpoch("me:1").ok());
  std::vector<LogRow> old_rows = MakeRows(1, 3, 40);
  ASSERT_TRUE(InsertOneRowEach(conn->get(), old_rows).ok());
  ASSERT_TRUE((*conn)->Execute("UPDATE writer_epoch SET durable_seq=3").ok());
  std::vector<LogRow> packed = MakeRows(4, 10, 40);
  ASSERT_TRUE(store.AppendLog(1, 3, PointersTo(packed)).ok());
  auto all = store.ReadLog(2, 100, 100);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 12u);
  EXPECT_EQ((*all)[1].bytes, old_rows[2].bytes);
  EXPECT_EQ((*all)[2].bytes, packed[0].bytes);
  // Pruning up to seq 8 deletes the old rows but keeps the pack 4..13.
  auto pruned = store.PruneLog(8, absl::ZeroDuration(), 100);
  ASSERT_TRUE(pruned.ok()) << pruned.status();
  EXPECT_EQ(*pruned, 3u);
  auto bounds = store.ReadLogBounds();
  ASSERT_TRUE(bounds.ok());
  EXPECT_EQ(bounds->first_seq, 4u);
  EXPECT_EQ(bounds->last_seq, 13u);
  // The standby's check finds record 9 inside the pack, with its epoch.
  EXPECT_TRUE(store.CheckStandbySnapshot(9, 1).ok());
  EXPECT_THAT(store.CheckStandbySnapshot(9, 2).message(), HasSubstr("epoch"));
  // durable_seq moved back by hand into the pack: the next epoch keeps
  // 4..9 and drops 10..13.
  ASSERT_TRUE((*conn)->Execute("UPDATE writer_epoch SET durable_seq=9").ok());
  auto a = store.AcquireEpoch("me:2");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->dropped_records, 4u);
  auto kept = store.ReadLog(1, 100, 100);
  ASSERT_TRUE(kept.ok()) << kept.status();
  ASSERT_EQ(kept->size(), 6u);
  EXPECT_EQ(kept->back().seq, 9u);
  EXPECT_EQ(kept->back().bytes, packed[5].bytes);
  std::vector<LogRow> next = MakeRows(10, 2, 7, 2);
  ASSERT_TRUE(store.AppendLog(2, 9, PointersTo(next)).ok());
  auto after = store.ReadLog(9, 100, 100);
  ASSERT_TRUE(after.ok()) << after.status();
  ASSERT_EQ(after->size(), 3u);
  EXPECT_EQ((*after)[1].epoch, 2u);
  EXPECT_EQ((*after)[2].bytes, next[1].bytes);
}

// The upgrade: a version 1 database (no last_seq) with records in it
// migrates to version 2 in place, and its rows read as before, next to
// the packs written after.
TEST_F(StoreTest, VersionOneDatabaseMigratesAndKeepsItsRecords) {
  auto conn = Connection::Open(Options("upgrade_v1"));
  ASSERT_TRUE(conn.ok());
  Store store(conn->get());
  ASSERT_TRUE(store.Migrate().ok());
  // Back to version 1's shape and number.
  ASSERT_TRUE((*conn)->Execute("ALTER TABLE graph_log DROP COLUMN last_seq").ok());
  ASSERT_TRUE((*conn)->Execute("UPDATE schema_version SET version=1").ok());
  // What a version 1 persistor left: epoch 1, records 1..4, one row each.
  std::vector<LogRow> old_rows = MakeRows(1, 4, 30);
  ASSERT_TRUE(InsertOneRowEach(conn->get(), old_rows).ok());
  ASSERT_TRUE(
      (*conn)->Execute("UPDATE writer_epoch SET epoch=1, owner='old:1', durable_seq=4").ok());

  auto before = store.Migrate();
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ(*before, 1);
  auto again = store.Migrate();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, kSchemaVersion);
  std::vector<LogRow> packed = MakeRows(5, 3, 30);
  auto ok = store.AppendLog(1, 4, PointersTo(packed));
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(*ok, GuardResult::kDone);
  auto all = store.ReadLog(1, 100, 100);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 7u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ((*all)[i].bytes, old_rows[i].bytes);
    EXPECT_EQ((*all)[i].crc32c, old_rows[i].crc32c);
  }
  EXPECT_EQ((*all)[6].bytes, packed[2].bytes);
  auto shape = (*conn)->Query("SELECT seq, last_seq FROM graph_log ORDER BY seq");
  ASSERT_TRUE(shape.ok());
  ASSERT_EQ(shape->size(), 5u);  // four version 1 rows and one pack
  EXPECT_EQ(*(*shape)[0][1], "0");
  EXPECT_EQ(*(*shape)[4][1], "7");
}

// The upgrade to version 3: the plain packs a version 2 persistor wrote
// read back next to the compressed ones written after, and a version 2
// persistor would refuse the database from then on.
TEST_F(StoreTest, VersionTwoPacksReadNextToCompressedOnes) {
  auto conn = Connection::Open(Options("upgrade_v2"));
  ASSERT_TRUE(conn.ok());
  Store store(conn->get());
  ASSERT_TRUE(store.Migrate().ok());
  ASSERT_TRUE((*conn)->Execute("UPDATE schema_version SET version=2").ok());
  // What a version 2 persistor left: records 1..6 in one plain pack.
  std::vector<LogRow> old_rows = MakeRows(1, 6, 300);
  std::vector<const LogRow*> old_ptrs = PointersTo(old_rows);
  std::string plain;
  EncodePack(old_ptrs.data(), old_ptrs.size(), &plain);
  std::string sql =
      absl::StrCat("INSERT INTO graph_log (seq, last_seq, epoch, crc32c, record) VALUES (1, 6, 1, ",
                   crc32c::Value(plain), ", ");
  AppendBlobLiteral(plain, &sql);
  ASSERT_TRUE((*conn)->Execute(sql + ")").ok());
  ASSERT_TRUE(
      (*conn)->Execute("UPDATE writer_epoch SET epoch=1, owner='old:1', durable_seq=6").ok());

  auto before = store.Migrate();
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ(*before, 2);
  std::vector<LogRow> fresh = MakeRows(7, 6, 300);
  auto ok = store.AppendLog(1, 6, PointersTo(fresh));
  ASSERT_TRUE(ok.ok()) << ok.status();
  auto first_bytes = (*conn)->Query(
      "SELECT HEX(LEFT(record, 1)), LENGTH(record) FROM graph_log"
      " ORDER BY seq");
  ASSERT_TRUE(first_bytes.ok());
  ASSERT_EQ(first_bytes->size(), 2u);
  EXPECT_NE(*(*first_bytes)[0][0], "00") << "the old pack, plain";
  EXPECT_EQ(*(*first_bytes)[1][0], "00") << "the new pack, compressed";
  EXPECT_LT(std::stoul(*(*first_bytes)[1][1]), 6 * 300 / 2);
  auto all = store.ReadLog(1, 100, 100);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 12u);
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_EQ((*all)[i].bytes, old_rows[i].bytes) << i;
    EXPECT_EQ((*all)[6 + i].bytes, fresh[i].bytes) << i;
    EXPECT_EQ((*all)[6 + i].crc32c, fresh[i].crc32c) << i;
  }
  // A new epoch drops what is past durable_seq inside a compressed pack
  // and stores the rest again (compressed or not, it reads the same).
  ASSERT_TRUE((*conn)->Execute("UPDATE writer_epoch SET durable_seq=9").ok());
  auto e = store.AcquireEpoch("new:2");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->dropped_records, 3u);
  all = store.ReadLog(1, 100, 100);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 9u);
  EXPECT_EQ(all->back().bytes, fresh[2].bytes);
  // A version 2 persistor's check, seen from here: the number is newer.
  auto version = (*conn)->Query("SELECT version FROM schema_version");
  ASSERT_TRUE(version.ok());
  EXPECT_EQ(*(*version)[0][0], "3");
}

}  // namespace
}  // namespace vitrage::persistor::mysql
