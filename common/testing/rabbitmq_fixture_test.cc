// The private RabbitMQ: starts on loopback, restarts after kill -9, and leaves no process behind.
#include "common/testing/rabbitmq_fixture.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>

namespace vitrage::testing {
namespace {

bool Alive(pid_t pid) { return pid > 0 && kill(pid, 0) == 0; }

TEST(RabbitMqFixtureTest, ListensOnLoopbackRestartsAfterKill9AndCleansUp) {
  std::string dir;
  pid_t first = 0;
  {
    RabbitMqFixture rabbit;
    ASSERT_TRUE(rabbit.Start().ok());
    dir = rabbit.dir();
    first = rabbit.pid();
    EXPECT_EQ(rabbit.url().rfind("rabbit://guest:guest@127.0.0.1:", 0), 0u) << rabbit.url();
    // Nothing of it listens beyond loopback.
    auto ss = RunCommand({"sh", "-c",
                          "ss -ltnpH | grep 'pid=" + std::to_string(first) +
                              ",' | grep -v '127.0.0.1:' > " + dir + "/wide.txt; true"},
                         "");
    ASSERT_TRUE(ss.ok());
    EXPECT_EQ(ReadFileOrEmpty(dir + "/wide.txt"), "");

    EXPECT_TRUE(absl::IsNotFound(rabbit.QueueDepth("nope").status()));

    rabbit.Kill9();
    EXPECT_FALSE(Alive(first));
    ASSERT_TRUE(rabbit.Start().ok());
    EXPECT_NE(rabbit.pid(), first);
    auto listed = rabbit.Ctl({"list_queues"});
    EXPECT_TRUE(listed.ok()) << listed.status();
  }
  EXPECT_FALSE(std::filesystem::exists(dir));
}

}  // namespace
}  // namespace vitrage::testing
