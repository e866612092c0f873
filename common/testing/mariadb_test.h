// A gtest fixture base for tests on a real MariaDB: one private server
// (common/testing/mariadb_fixture.h) per test suite, started before its
// first test and stopped after its last. Derived fixtures use db_.
#ifndef VITRAGE_COMMON_TESTING_MARIADB_TEST_H_
#define VITRAGE_COMMON_TESTING_MARIADB_TEST_H_

#include <gtest/gtest.h>

#include "common/testing/mariadb_fixture.h"

namespace vitrage::testing {

class MariaDbTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    db_ = new MariaDbFixture();
    absl::Status s = db_->Start();
    ASSERT_TRUE(s.ok()) << s;
  }
  static void TearDownTestSuite() {
    delete db_;
    db_ = nullptr;
  }

  static inline MariaDbFixture* db_ = nullptr;
};

}  // namespace vitrage::testing

#endif  // VITRAGE_COMMON_TESTING_MARIADB_TEST_H_
