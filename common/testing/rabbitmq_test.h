// A gtest fixture base for tests on a real RabbitMQ: one private broker
// (common/testing/rabbitmq_fixture.h) per test suite, started before its
// first test and stopped after its last. Derived fixtures use rabbit_.
#ifndef VITRAGE_COMMON_TESTING_RABBITMQ_TEST_H_
#define VITRAGE_COMMON_TESTING_RABBITMQ_TEST_H_

#include <gtest/gtest.h>

#include "common/testing/rabbitmq_fixture.h"

namespace vitrage::testing {

class RabbitMqTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    rabbit_ = new RabbitMqFixture();
    absl::Status s = rabbit_->Start();
    ASSERT_TRUE(s.ok()) << s;
  }
  static void TearDownTestSuite() {
    delete rabbit_;
    rabbit_ = nullptr;
  }

  static inline RabbitMqFixture* rabbit_ = nullptr;
};

}  // namespace vitrage::testing

#endif  // VITRAGE_COMMON_TESTING_RABBITMQ_TEST_H_
