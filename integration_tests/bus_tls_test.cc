// Issue 23: the bus over TLS, on a real RabbitMQ that listens with TLS
// (common/testing/rabbitmq_fixture.h, Options::tls: a throwaway CA and a
// server certificate made with openssl in the broker's temp dir).
//   * the AMQP client (graph_service/amqp/) talks AMQPS to it with the CA
//     and hostname checked, and a wrong CA, a missing CA file or a plain
//     client on the TLS port are clear errors;
//   * vitrage-graph configured the oslo way ([oslo_messaging_rabbit] ssl,
//     ssl_ca_file, ssl_enforce_hostname_verification) consumes the
//     notifications the real oslo_messaging.Notifier publishes, over a
//     connection the broker lists as TLS;
//   * the graph given the wrong CA keeps serving, says why in its status
//     (bus.lastError) and its log, and never crashes.
#include <gtest/gtest.h>

#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/testing/rabbitmq_fixture.h"
#include "graph_service/amqp/connection.h"
#include "graph_service/amqp/transport_url.h"
#include "integration_tests/stack.h"

namespace vitrage::testing {
namespace {

class BusTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    RabbitMqFixture::Options o;
    o.tls = true;
    rabbit_ = new RabbitMqFixture(o);
    absl::Status s = rabbit_->Start();
    ASSERT_TRUE(s.ok()) << s;
    auto d = MakeTempDir("vitrage-bus-tls");
    ASSERT_TRUE(d.ok()) << d.status();
    scratch_ = new std::string(*d);
    // A CA that did not sign the broker's certificate.
    auto other = RabbitMqFixture::MakeTestCa(*scratch_ + "/other-ca", "some-other-ca");
    ASSERT_TRUE(other.ok()) << other.status();
  }
  static void TearDownTestSuite() {
    delete rabbit_;
    rabbit_ = nullptr;
    if (scratch_ != nullptr) RemoveTree(*scratch_);
    delete scratch_;
    scratch_ = nullptr;
  }
  static std::string OtherCa() { return *scratch_ + "/other-ca/ca.pem"; }

  static amqp::ConnectionOptions TlsOptions(const std::string& host, const std::string& ca) {
    amqp::ConnectionOptions o;
    o.url = *amqp::ParseTransportUrl(
        absl::StrCat("rabbit://guest:guest@", host, ":", rabbit_->tls_port(), "/"));
    o.tls.enabled = true;
    o.tls.ca_file = ca;
    o.tls.verify_hostname = true;
    o.heartbeat_seconds = 0;
    o.timeout = absl::Seconds(20);
    o.name = "bus_tls_test";
    return o;
  }

  // A stack whose graph consumes `topic` over TLS with `ca`.
  static std::unique_ptr<Stack> MakeStack(const std::string& topic, const std::string& ca) {
    StackOptions o;
    o.synthetic_hosts = 2;
    o.conf = {{"DEFAULT", "transport_url = " + rabbit_->tls_url()},
              {"datasources", "notification_topics = " + topic},
              {"oslo_messaging_rabbit", "amqp_durable_queues = true"},
              {"oslo_messaging_rabbit", "ssl = true"},
              {"oslo_messaging_rabbit", "ssl_ca_file = " + ca},
              {"oslo_messaging_rabbit", "ssl_enforce_hostname_verification = true"}};
    return std::make_unique<Stack>(o);
  }

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

  static inline RabbitMqFixture* rabbit_ = nullptr;
  static inline std::string* scratch_ = nullptr;
};

TEST_F(BusTlsTest, ClientTalksAmqpsWithTheBrokersCaAndHostname) {
  // The certificate names localhost and 127.0.0.1: both pass the check.
  for (const std::string host : {"127.0.0.1", "localhost"}) {
    amqp::ConnectionOptions o = TlsOptions(host, rabbit_->ca_file());
    auto c = amqp::Connection::Open(o, o.url.hosts[0]);
    ASSERT_TRUE(c.ok()) << host << ": " << c.status();
    ASSERT_TRUE((*c)->DeclareQueue("tls_roundtrip", false, true).ok());
    amqp::OutMessage m;
    m.body = "over tls via " + host;
    m.persistent = false;
    ASSERT_TRUE((*c)->Publish("", "tls_roundtrip", m).ok());
    ASSERT_TRUE((*c)->Consume("tls_roundtrip").ok());
    auto d = (*c)->Next(absl::Seconds(20));
    ASSERT_TRUE(d.ok()) << d.status();
    ASSERT_TRUE(d->has_value());
    EXPECT_EQ((*d)->body, m.body);
    EXPECT_TRUE((*c)->Ack((*d)->tag, false).ok());
  }
}

TEST_F(BusTlsTest, WrongCaMissingCaAndPlainClientAreClearErrors) {
  {
    amqp::ConnectionOptions o = TlsOptions("127.0.0.1", OtherCa());
    auto c = amqp::Connection::Open(o, o.url.hosts[0]);
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.status().code(), absl::StatusCode::kUnavailable) << c.status();
    EXPECT_TRUE(absl::StrContains(c.status().message(), "TLS")) << c.status();
    EXPECT_TRUE(absl::StrContains(c.status().message(), OtherCa())) << c.status();
    // OpenSSL's reason, not only rabbitmq-c's "verification failed".
    // (here "self-signed certificate in certificate chain": the broker
    // sends its CA along).
    EXPECT_TRUE(absl::StrContains(c.status().message(), "verification failed (")) << c.status();
    EXPECT_FALSE(absl::StrContains(c.status().message(), "guest:guest")) << c.status();
  }
  {
    amqp::ConnectionOptions o = TlsOptions("127.0.0.1", *scratch_ + "/no-such-ca.pem");
    auto c = amqp::Connection::Open(o, o.url.hosts[0]);
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << c.status();
    EXPECT_TRUE(absl::StrContains(c.status().message(), "ssl_ca_file")) << c.status();
  }
  {
    // TLS expected, plain AMQP spoken to the TLS port: no hang, an error.
    amqp::ConnectionOptions o = TlsOptions("127.0.0.1", "");
    o.tls.enabled = false;
    o.timeout = absl::Seconds(5);
    auto c = amqp::Connection::Open(o, o.url.hosts[0]);
    EXPECT_FALSE(c.ok());
  }
}

TEST_F(BusTlsTest, TheGraphConsumesOverTls) {
  auto stack = MakeStack("t_tls", rabbit_->ca_file());
  ASSERT_TRUE(stack->Start().ok()) << stack->LogTail("graph");
  absl::Status s = WaitBus(
      *stack, [](const v1::BusStatus& b) { return b.connected(); }, absl::Seconds(120));
  ASSERT_TRUE(s.ok()) << s;
  // The real oslo Notifier publishes (on the plain listener; the broker is
  // one).
  const std::string log = stack->dir() + "/publish.log";
  auto p = Process::Start(
      {"/usr/bin/python3", SourceDir() + "/integration_tests/bus_publish.py", "--url",
       rabbit_->url(), "--durable", "nova", "--topic", "t_tls", "--count", "50"},
      log);
  ASSERT_TRUE(p.ok()) << p.status();
  auto st = p->Wait(absl::Seconds(300));
  ASSERT_TRUE(st.ok() && WIFEXITED(*st) && WEXITSTATUS(*st) == 0) << ReadFileOrEmpty(log);
  v1::BusStatus b;
  s = WaitBus(
      *stack, [](const v1::BusStatus& b) { return b.messages_applied() >= 50; }, absl::Seconds(120),
      &b);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(b.messages_dead_lettered(), 0u);
  EXPECT_EQ(b.broker(), absl::StrCat("rabbit://guest:***@127.0.0.1:", rabbit_->tls_port(), "/"));
  // The broker's view: the graph's connection came in on the TLS port and
  // is TLS.
  auto conns = rabbit_->Ctl({"list_connections", "--no-table-headers", "name", "ssl"});
  ASSERT_TRUE(conns.ok()) << conns.status();
  int tls_connections = 0;
  for (absl::string_view line : absl::StrSplit(*conns, '\n')) {
    if (!absl::StrContains(line, absl::StrCat("-> 127.0.0.1:", rabbit_->tls_port()))) continue;
    EXPECT_TRUE(absl::EndsWith(absl::StripTrailingAsciiWhitespace(line), "true")) << line;
    ++tls_connections;
  }
  EXPECT_GE(tls_connections, 1) << *conns;
}

TEST_F(BusTlsTest, AWrongCaIsAClearErrorInStatusAndLogNotACrash) {
  auto stack = MakeStack("t_tls_wrong_ca", OtherCa());
  ASSERT_TRUE(stack->Start().ok()) << "the graph starts without its bus";
  v1::BusStatus b;
  absl::Status s = WaitBus(
      *stack, [](const v1::BusStatus& b) { return !b.last_error().empty(); }, absl::Seconds(120),
      &b);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_TRUE(b.enabled());
  EXPECT_FALSE(b.connected());
  EXPECT_TRUE(absl::StrContains(b.last_error(), "TLS")) << b.last_error();
  EXPECT_TRUE(absl::StrContains(b.last_error(), OtherCa())) << b.last_error();
  // Still serving, still trying, a few backoff rounds later.
  absl::SleepFor(absl::Seconds(3));
  auto st = stack->GraphStatus();
  ASSERT_TRUE(st.ok()) << st.status() << "\n" << stack->LogTail("graph");
  EXPECT_EQ(st->role(), v1::ACTIVE);
  EXPECT_FALSE(st->bus().connected());
  const std::string glog = ReadFileOrEmpty(stack->log("graph"));
  EXPECT_NE(glog.find("bus: TLS"), std::string::npos) << stack->LogTail("graph");
  EXPECT_EQ(glog.find("guest:guest"), std::string::npos) << "the password is never logged";
}

}  // namespace
}  // namespace vitrage::testing
