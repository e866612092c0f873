// Issue 23: vitrage-graph as a listener on a real RabbitMQ (the private
// broker of common/testing/rabbitmq_fixture.h), fed by the real
// oslo_messaging.Notifier (integration_tests/bus_publish.py), with the real
// persistor and MariaDB. What must hold, whatever is killed:
//   * every confirmed notification ends up in the durable journal exactly
//     once (one record per message here: one nova instance each);
//   * after kill -9 of the graph with messages waiting, the restarted graph
//     takes them only once ACTIVE (after snapshot, replay, evaluator);
//   * bad messages land in the dead-letter queue with a reason;
//   * a broker that is down at start is waited for.
#include <gtest/gtest.h>

#include <fstream>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/testing/rabbitmq_test.h"
#include "integration_tests/stack.h"

namespace vitrage::testing {
namespace {

class BusIntakeTest : public RabbitMqTest {
 protected:
  // A stack whose graph listens on `topic` (a queue of its own per test).
  std::unique_ptr<Stack> MakeStack(const std::string& topic) {
    topic_ = topic;
    StackOptions o;
    o.synthetic_hosts = 4;
    o.conf = {{"DEFAULT", "transport_url = " + rabbit_->url()},
              {"datasources", "notification_topics = " + topic},
              {"oslo_messaging_rabbit", "amqp_durable_queues = true"},
              {"oslo_messaging_rabbit", "heartbeat_timeout_threshold = 10"},
              {"oslo_messaging_rabbit", "rabbit_qos_prefetch_count = 200"}};
    return std::make_unique<Stack>(o);
  }
  std::vector<std::string> PublishArgs(const std::string& cmd) const {
    return {"/usr/bin/python3",
            SourceDir() + "/integration_tests/bus_publish.py",
            "--url",
            rabbit_->url(),
            "--durable",
            cmd,
            "--topic",
            topic_};
  }
  // Publishes `count` nova notifications (bus-vm-FIRST..) in `procs`
  // parallel publishers and waits until all are confirmed.
  void Publish(int first, int count, int procs, const std::string& log) {
    std::vector<Process> ps;
    const int each = (count + procs - 1) / procs;
    for (int p = 0; p < procs && p * each < count; ++p) {
      std::vector<std::string> argv = PublishArgs("nova");
      for (const std::string& a :
           {std::string("--count"), std::to_string(std::min(each, count - p * each)),
            std::string("--first"), std::to_string(first + p * each)}) {
        argv.push_back(a);
      }
      auto proc = Process::Start(argv, log);
      ASSERT_TRUE(proc.ok()) << proc.status();
      ps.push_back(std::move(*proc));
    }
    for (Process& p : ps) {
      auto st = p.Wait(absl::Seconds(600));
      ASSERT_TRUE(st.ok() && WIFEXITED(*st) && WEXITSTATUS(*st) == 0)
          << "publisher failed; see " << log << ":\n"
          << ReadFileOrEmpty(log).substr(0, 3000);
    }
  }
  // bus source -> journal records, read through the persistor.
  static std::map<std::string, int> BusRecords(Stack& stack) {
    std::map<std::string, int> out;
    for (int attempt = 0; attempt < 100; ++attempt) {
      out.clear();
      auto stub = stack.PersistorStub();
      grpc::ClientContext ctx;
      auto reader = stub->ReadLog(&ctx, v1::ReadLogRequest());
      v1::ReadLogResponse resp;
      while (reader->Read(&resp)) {
        for (const auto& r : resp.records()) {
          if (absl::StartsWith(r.source(), "bus:")) ++out[r.source()];
        }
      }
      if (reader->Finish().ok()) return out;
      absl::SleepFor(absl::Milliseconds(300));
    }
    ADD_FAILURE() << "could not read the log";
    return out;
  }
  static void ExpectEachOnce(Stack& stack, size_t n) {
    std::map<std::string, int> recs = BusRecords(stack);
    EXPECT_EQ(recs.size(), n) << "distinct bus messages in the journal";
    int doubled = 0;
    for (const auto& [source, count] : recs) doubled += count - 1;
    EXPECT_EQ(doubled, 0) << "bus messages applied more than once";
  }
  // Waits until the graph's bus status satisfies `pred`.
  static absl::Status WaitBus(Stack& stack, const std::function<bool(const v1::BusStatus&)>& pred,
                              absl::Duration timeout, v1::BusStatus* last = nullptr) {
    const absl::Time deadline = absl::Now() + timeout;
    v1::BusStatus b;
    while (absl::Now() < deadline) {
      auto st = stack.GraphStatus();
      if (st.ok()) {
        b = st->bus();
        if (last) *last = b;
        if (pred(b)) return absl::OkStatus();
      }
      absl::SleepFor(absl::Milliseconds(200));
    }
    return absl::DeadlineExceededError(absl::StrCat("bus status: ", b.ShortDebugString(),
                                                    "\ngraph log:\n", stack.LogTail("graph")));
  }
  absl::Status WaitQueueEmpty(const std::string& queue, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    absl::StatusOr<int64_t> d;
    while (absl::Now() < deadline) {
      d = rabbit_->QueueDepth(queue);
      if (d.ok() && *d == 0) return absl::OkStatus();
      absl::SleepFor(absl::Milliseconds(500));
    }
    return absl::DeadlineExceededError(
        absl::StrCat(queue, ": ", d.ok() ? std::to_string(*d) : d.status().ToString()));
  }

  std::string topic_;
};

TEST_F(BusIntakeTest, NovaNotificationsBecomeDurableRecordsAndGraphVertices) {
  auto stack = MakeStack("t_basic");
  ASSERT_TRUE(stack->Start().ok());
  ASSERT_TRUE(WaitBus(
                  *stack, [](const v1::BusStatus& b) { return b.connected(); }, absl::Seconds(60))
                  .ok());
  const uint64_t before = stack->GraphStatus()->vertex_count();
  Publish(0, 100, 2, stack->dir() + "/publish.log");
  v1::BusStatus b;
  absl::Status s = WaitBus(
      *stack, [](const v1::BusStatus& b) { return b.messages_applied() >= 100; },
      absl::Seconds(120), &b);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(b.messages_dead_lettered(), 0u);
  EXPECT_EQ(b.message_marks(), 100u);
  EXPECT_EQ(b.broker(), "rabbit://guest:***@127.0.0.1:" + std::to_string(rabbit_->port()) + "/");
  // 100 instances and the 4 hosts they name (placeholders).
  EXPECT_GE(stack->GraphStatus()->vertex_count(), before + 100);
  ExpectEachOnce(*stack, 100);
  EXPECT_TRUE(WaitQueueEmpty(topic_ + ".info", absl::Seconds(30)).ok());
  EXPECT_EQ(ReadFileOrEmpty(stack->log("graph")).find("guest:guest"), std::string::npos)
      << "the password is never logged";
}

TEST_F(BusIntakeTest, Kill9OfTheGraphWithThousandsWaitingAppliesEachOnceAfterRecovery) {
  auto stack = MakeStack("t_kill");
  ASSERT_TRUE(stack->Start().ok());
  ASSERT_TRUE(WaitBus(
                  *stack, [](const v1::BusStatus& b) { return b.connected(); }, absl::Seconds(60))
                  .ok());
  stack->graph().Kill9();
  const int n = 2000;
  Publish(0, n, 4, stack->dir() + "/publish.log");
  auto depth = rabbit_->QueueDepth(topic_ + ".info");
  ASSERT_TRUE(depth.ok());
  EXPECT_EQ(*depth, n) << "they wait in RabbitMQ while the graph is down";

  // Restart, let it take some, kill -9 in the middle of the drain (records
  // durable but not acked are redelivered), restart again.
  ASSERT_TRUE(stack->StartGraph().ok());
  ASSERT_TRUE(WaitBus(
                  *stack, [](const v1::BusStatus& b) { return b.messages_applied() >= 200; },
                  absl::Seconds(120))
                  .ok());
  stack->graph().Kill9();
  ASSERT_TRUE(stack->StartGraph().ok());
  v1::BusStatus b;
  absl::Status s = WaitBus(
      *stack, [](const v1::BusStatus& b) { return b.drained(); }, absl::Seconds(300), &b);
  ASSERT_TRUE(s.ok()) << s;
  ASSERT_TRUE(WaitQueueEmpty(topic_ + ".info", absl::Seconds(120)).ok());
  EXPECT_GT(b.messages_waiting_at_start(), 0u);
  EXPECT_LE(b.messages_waiting_at_start(), static_cast<uint64_t>(n));
  EXPECT_GT(b.drain_ms(), 0);
  ExpectEachOnce(*stack, n);
  // The blueprint's order: consuming starts after the graph is ACTIVE.
  const std::string log = ReadFileOrEmpty(stack->log("graph"));
  const size_t last_active = log.rfind("ACTIVE after");
  const size_t last_consume = log.rfind("bus: consuming");
  ASSERT_NE(last_active, std::string::npos);
  ASSERT_NE(last_consume, std::string::npos);
  EXPECT_LT(last_active, last_consume);
  EXPECT_NE(log.find("notifications that waited are drained in"), std::string::npos);
}

TEST_F(BusIntakeTest, BadMessagesGoToTheDeadLetterQueueWithTheirReason) {
  auto stack = MakeStack("t_bad");
  ASSERT_TRUE(stack->Start().ok());
  ASSERT_TRUE(WaitBus(
                  *stack, [](const v1::BusStatus& b) { return b.connected(); }, absl::Seconds(60))
                  .ok());
  const std::string log = stack->dir() + "/publish.log";
  const std::vector<std::string> bodies = {
      "this is not json",
      R"({"oslo.version": "2.0", "oslo.message": "{\"message_id\": \"m1\"}"})",
      // A listened type whose payload does not name the instance.
      R"({"oslo.version": "2.0", "oslo.message": "{\"message_id\": \"m2\", \"publisher_id\": \"x\", \"event_type\": \"instance.create.end\", \"priority\": \"INFO\", \"timestamp\": \"2024-01-01 00:00:00\", \"payload\": {\"nova_object.data\": {}}}"})",
  };
  for (const std::string& body : bodies) {
    std::vector<std::string> argv = PublishArgs("raw");
    argv.push_back("--body");
    argv.push_back(body);
    auto rc = RunCommand(argv, log);
    ASSERT_TRUE(rc.ok() && *rc == 0) << ReadFileOrEmpty(log);
  }
  Publish(0, 5, 1, log);  // good ones after the bad
  v1::BusStatus b;
  absl::Status s = WaitBus(
      *stack,
      [](const v1::BusStatus& b) {
        return b.messages_dead_lettered() >= 3 && b.messages_applied() >= 5;
      },
      absl::Seconds(120), &b);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(b.messages_dead_lettered(), 3u);
  auto dlq = rabbit_->QueueDepth("vitrage_notifications.dead_letter");
  ASSERT_TRUE(dlq.ok()) << dlq.status();
  EXPECT_EQ(*dlq, 3);
  EXPECT_TRUE(WaitQueueEmpty(topic_ + ".info", absl::Seconds(30)).ok())
      << "nothing requeued forever";
  const std::string glog = ReadFileOrEmpty(stack->log("graph"));
  EXPECT_NE(glog.find("set aside in vitrage_notifications.dead_letter"), std::string::npos);
  EXPECT_NE(glog.find("nova_object.data.uuid"), std::string::npos) << "the reason is logged";
  ExpectEachOnce(*stack, 5);
}

// Last two: they stop and kill the suite's broker.
TEST_F(BusIntakeTest, YBrokerKill9WhileMessagesFlowLosesAndDoublesNone) {
  auto stack = MakeStack("t_brokerkill");
  ASSERT_TRUE(stack->Start().ok());
  ASSERT_TRUE(WaitBus(
                  *stack, [](const v1::BusStatus& b) { return b.connected(); }, absl::Seconds(60))
                  .ok());
  Publish(0, 600, 3, stack->dir() + "/publish.log");
  ASSERT_TRUE(WaitBus(
                  *stack, [](const v1::BusStatus& b) { return b.messages_applied() >= 50; },
                  absl::Seconds(120))
                  .ok());
  rabbit_->Kill9();
  // And the persistor too, while the graph holds unacked messages.
  stack->persistor().Kill9();
  ASSERT_TRUE(stack->StartPersistor().ok());
  ASSERT_TRUE(rabbit_->Start().ok());
  v1::BusStatus b;
  absl::Status s = WaitBus(
      *stack, [](const v1::BusStatus& b) { return b.connected() && b.connects() >= 2; },
      absl::Seconds(120), &b);
  ASSERT_TRUE(s.ok()) << s;
  ASSERT_TRUE(WaitQueueEmpty(topic_ + ".info", absl::Seconds(300)).ok());
  ExpectEachOnce(*stack, 600);
  const std::string glog = ReadFileOrEmpty(stack->log("graph"));
  EXPECT_NE(glog.find("bus: link to"), std::string::npos);
  EXPECT_NE(glog.find("bus: link back to"), std::string::npos);
}

TEST_F(BusIntakeTest, ZBrokerDownAtStartIsWaitedForAndJoined) {
  auto stack = MakeStack("t_late");
  ASSERT_TRUE(rabbit_->Stop().ok());
  ASSERT_TRUE(stack->Start().ok()) << "the graph starts without its bus";
  absl::SleepFor(absl::Seconds(2));
  auto st = stack->GraphStatus();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->role(), v1::ACTIVE);
  EXPECT_TRUE(st->bus().enabled());
  EXPECT_FALSE(st->bus().connected());
  ASSERT_TRUE(rabbit_->Start().ok());
  ASSERT_TRUE(WaitBus(
                  *stack, [](const v1::BusStatus& b) { return b.connected(); }, absl::Seconds(120))
                  .ok());
  Publish(0, 20, 1, stack->dir() + "/publish.log");
  ASSERT_TRUE(WaitBus(
                  *stack, [](const v1::BusStatus& b) { return b.messages_applied() >= 20; },
                  absl::Seconds(120))
                  .ok());
  ExpectEachOnce(*stack, 20);
  const std::string glog = ReadFileOrEmpty(stack->log("graph"));
  EXPECT_NE(glog.find("bus: cannot connect to"), std::string::npos) << "logged once while down";
  EXPECT_NE(glog.find("bus: connected to"), std::string::npos);
}

}  // namespace
}  // namespace vitrage::testing
