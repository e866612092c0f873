#include "common/testing/mariadb_fixture.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>

namespace vitrage::testing {
namespace {

bool Alive(pid_t pid) { return kill(pid, 0) == 0; }

TEST(MariaDbFixtureTest, StartsQueriesAndStopsLeavingNothing) {
  std::string dir;
  pid_t pid;
  {
    MariaDbFixture db;
    ASSERT_TRUE(db.Start().ok());
    pid = db.pid();
    dir = db.dir();
    EXPECT_TRUE(Alive(pid));
    EXPECT_GT(db.port(), 0);
    EXPECT_EQ(db.url(), "mysql://root@127.0.0.1:" + std::to_string(db.port()) + "/vitrage");
    auto out = db.Query("SELECT 6*7");
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_EQ(*out, "42\n");
    // The stock durability setting is kept.
    out = db.Query("SELECT @@innodb_flush_log_at_trx_commit");
    ASSERT_TRUE(out.ok());
    EXPECT_EQ(*out, "1\n");
    // A redo log that holds snapshots' bursts (a smaller one stalls every
    // commit at the end of a 1M-vertex snapshot's store).
    out = db.Query("SELECT @@innodb_log_file_size >= 1024*1024*1024");
    ASSERT_TRUE(out.ok());
    EXPECT_EQ(*out, "1\n");
    // The database exists and is ours.
    out = db.Query("SELECT DATABASE()");
    ASSERT_TRUE(out.ok());
    EXPECT_EQ(*out, "vitrage\n");
  }
  EXPECT_FALSE(Alive(pid)) << "mariadbd " << pid << " survived the fixture";
  EXPECT_FALSE(std::filesystem::exists(dir));
}

TEST(MariaDbFixtureTest, DataSurvivesKill9AndRestart) {
  MariaDbFixture db;
  absl::Status started = db.Start();
  ASSERT_TRUE(started.ok()) << started;
  ASSERT_TRUE(db.Query("CREATE TABLE t (k INT PRIMARY KEY) ENGINE=InnoDB").ok());
  ASSERT_TRUE(db.Query("INSERT INTO t VALUES (1),(2),(3)").ok());
  int port = db.port();
  pid_t old = db.pid();
  db.Kill9();
  EXPECT_FALSE(Alive(old));
  EXPECT_FALSE(db.Query("SELECT 1").ok());
  started = db.Start();
  ASSERT_TRUE(started.ok()) << started;
  EXPECT_EQ(db.port(), port);
  auto out = db.Query("SELECT COUNT(*) FROM t");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "3\n");
}

TEST(MariaDbFixtureTest, StartRetriesWhenItsPortIsTaken) {
  // A second fixture whose first port choice is busy still starts.
  MariaDbFixture a;
  ASSERT_TRUE(a.Start().ok());
  MariaDbFixture::Options o;
  MariaDbFixture b(o);
  b.SetPortForTest(a.port());
  absl::Status s = b.Start();
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_NE(b.port(), a.port());
}

TEST(MariaDbFixtureTest, TwoFixturesAreIndependent) {
  MariaDbFixture a, b;
  ASSERT_TRUE(a.Start().ok());
  ASSERT_TRUE(b.Start().ok());
  EXPECT_NE(a.port(), b.port());
  ASSERT_TRUE(a.Query("CREATE TABLE only_a (k INT PRIMARY KEY)").ok());
  EXPECT_FALSE(b.Query("SELECT * FROM only_a").ok());
}

}  // namespace
}  // namespace vitrage::testing
