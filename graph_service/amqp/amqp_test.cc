// The AMQP room against a real broker (common/testing/rabbitmq_test.h):
// transport URL parsing, declare/bind/consume/ack/reject, prefetch,
// redelivery of unacked messages, publisher confirms, and the Link's
// reconnect and failover across hosts.
#include <gtest/gtest.h>

#include <set>

#include "absl/strings/str_cat.h"
#include "common/testing/rabbitmq_test.h"
#include "graph_service/amqp/connection.h"
#include "graph_service/amqp/transport_url.h"

namespace vitrage::amqp {
namespace {

TEST(TransportUrlTest, ParsesSeveralHostsCredentialsAndVhost) {
  auto u = ParseTransportUrl("rabbit://u1:p%40ss@h1:5673,u2:pw2@[::1]:5674,h3/my%2Fvhost");
  ASSERT_TRUE(u.ok()) << u.status();
  ASSERT_EQ(u->hosts.size(), 3u);
  EXPECT_EQ(u->hosts[0].user, "u1");
  EXPECT_EQ(u->hosts[0].password, "p@ss");
  EXPECT_EQ(u->hosts[0].host, "h1");
  EXPECT_EQ(u->hosts[0].port, 5673);
  EXPECT_EQ(u->hosts[1].host, "::1");
  EXPECT_EQ(u->hosts[1].port, 5674);
  EXPECT_EQ(u->hosts[2].user, "guest");
  EXPECT_EQ(u->hosts[2].port, 5672);
  EXPECT_EQ(u->vhost, "my/vhost");
  EXPECT_EQ(u->Redacted(), "rabbit://u1:***@h1:5673,u2:***@[::1]:5674,guest:***@h3:5672/my/vhost");
}

TEST(TransportUrlTest, EmptyPathIsTheDefaultVhost) {
  auto u = ParseTransportUrl("rabbit://guest:guest@127.0.0.1:5672/");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->vhost, "/");
  EXPECT_EQ(ParseTransportUrl("rabbit://a:b@h")->vhost, "/");
}

TEST(TransportUrlTest, ErrorsNameTheProblemAndNeverThePassword) {
  for (const char* bad :
       {"rabbit://u:secret@h:0/", "rabbit://u:secret@h:99999/", "rabbit://u:secret@h:abc/",
        "kafka://u:secret@h/", "u:secret@h", "rabbit://u:secret@/", "rabbit:///",
        "rabbit://u:secret@[::1/", "rabbit://u:sec%zzret@h/"}) {
    auto u = ParseTransportUrl(bad);
    ASSERT_FALSE(u.ok()) << bad;
    EXPECT_TRUE(absl::IsInvalidArgument(u.status())) << bad;
    EXPECT_EQ(u.status().message().find("secret"), absl::string_view::npos) << u.status();
    EXPECT_EQ(u.status().message().find("sec%"), absl::string_view::npos) << u.status();
  }
}

class AmqpTest : public testing::RabbitMqTest {
 protected:
  ConnectionOptions Options() const {
    ConnectionOptions o;
    o.url = *ParseTransportUrl(rabbit_->url());
    o.heartbeat_seconds = 10;
    o.timeout = absl::Seconds(10);
    o.backoff_max = absl::Milliseconds(500);
    return o;
  }
  std::unique_ptr<Connection> Open() {
    auto c = Connection::Open(Options(), Options().url.hosts[0]);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? std::move(*c) : nullptr;
  }
  // A publishing connection with confirms and a durable queue `q` bound to
  // topic exchange `x` with key `q`.
  std::unique_ptr<Connection> Publisher(const std::string& x, const std::string& q) {
    auto c = Open();
    EXPECT_TRUE(c->DeclareExchange(x, "topic", true, false).ok());
    EXPECT_TRUE(c->DeclareQueue(q, true, false).ok());
    EXPECT_TRUE(c->BindQueue(q, x, q).ok());
    EXPECT_TRUE(c->EnableConfirms().ok());
    return c;
  }
  static OutMessage Msg(const std::string& body) {
    OutMessage m;
    m.body = body;
    return m;
  }
};

TEST_F(AmqpTest, PublishConsumeAckAndQueueCount) {
  auto pub = Publisher("x1", "q1");
  for (int i = 0; i < 10; ++i) {
    OutMessage m = Msg(absl::StrCat("m", i));
    m.headers = {{"reason", "why not"}};
    ASSERT_TRUE(pub->Publish("x1", "q1", m).ok());
  }
  auto c = Open();
  auto count = c->DeclareQueue("q1", true, false);
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(*count, 10u);
  ASSERT_TRUE(c->Qos(100).ok());
  ASSERT_TRUE(c->Consume("q1").ok());
  for (int i = 0; i < 10; ++i) {
    auto d = c->Next(absl::Seconds(10));
    ASSERT_TRUE(d.ok()) << d.status();
    ASSERT_TRUE(d->has_value());
    EXPECT_EQ((*d)->body, absl::StrCat("m", i));
    EXPECT_EQ((*d)->routing_key, "q1");
    EXPECT_EQ((*d)->exchange, "x1");
    EXPECT_FALSE((*d)->redelivered);
    ASSERT_EQ((*d)->headers.size(), 1u);
    EXPECT_EQ((*d)->headers[0].second, "why not");
    ASSERT_TRUE(c->Ack((*d)->tag, false).ok());
  }
  auto none = c->Next(absl::Milliseconds(200));
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  c.reset();
  EXPECT_EQ(*Open()->DeclareQueue("q1", true, false), 0u);
}

TEST_F(AmqpTest, PrefetchBoundsUnackedAndDroppedConnectionRedelivers) {
  auto pub = Publisher("x2", "q2");
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(pub->Publish("x2", "q2", Msg("m")).ok());
  {
    auto c = Open();
    ASSERT_TRUE(c->Qos(5).ok());
    ASSERT_TRUE(c->Consume("q2").ok());
    int got = 0;
    while (true) {
      auto d = c->Next(absl::Milliseconds(500));
      ASSERT_TRUE(d.ok());
      if (!d->has_value()) break;
      ++got;
    }
    EXPECT_EQ(got, 5) << "prefetch 5: no more deliveries until some are acked";
  }  // closed without acking
  auto c = Open();
  ASSERT_TRUE(c->Qos(50).ok());
  ASSERT_TRUE(c->Consume("q2").ok());
  int redelivered = 0, total = 0;
  while (true) {
    auto d = c->Next(absl::Milliseconds(500));
    ASSERT_TRUE(d.ok());
    if (!d->has_value()) break;
    ++total;
    redelivered += (*d)->redelivered;
    ASSERT_TRUE(c->Ack((*d)->tag, false).ok());
  }
  EXPECT_EQ(total, 20);
  EXPECT_EQ(redelivered, 5);
}

TEST_F(AmqpTest, RejectWithoutRequeueDropsAndWithRequeueRedelivers) {
  auto pub = Publisher("x3", "q3");
  ASSERT_TRUE(pub->Publish("x3", "q3", Msg("a")).ok());
  auto c = Open();
  ASSERT_TRUE(c->Qos(1).ok());
  ASSERT_TRUE(c->Consume("q3").ok());
  auto d = c->Next(absl::Seconds(10));
  ASSERT_TRUE(d.ok() && d->has_value());
  ASSERT_TRUE(c->Reject((*d)->tag, /*requeue=*/true).ok());
  d = c->Next(absl::Seconds(10));
  ASSERT_TRUE(d.ok() && d->has_value());
  EXPECT_TRUE((*d)->redelivered);
  ASSERT_TRUE(c->Reject((*d)->tag, /*requeue=*/false).ok());
  d = c->Next(absl::Milliseconds(300));
  ASSERT_TRUE(d.ok());
  EXPECT_FALSE(d->has_value());
}

TEST_F(AmqpTest, UnroutablePublishIsAnErrorWithConfirms) {
  auto c = Open();
  ASSERT_TRUE(c->EnableConfirms().ok());
  absl::Status s = c->Publish("", "no-such-queue", Msg("lost"));
  EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
  EXPECT_FALSE(c->broken());
}

TEST_F(AmqpTest, RedeclareWithOtherPropertiesBreaksTheConnectionWithTheBrokersReason) {
  auto c = Open();
  ASSERT_TRUE(c->DeclareQueue("q4", /*durable=*/false, false).ok());
  auto again = c->DeclareQueue("q4", /*durable=*/true, false);
  ASSERT_FALSE(again.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(again.status())) << again.status();
  EXPECT_NE(again.status().message().find("durable"), absl::string_view::npos) << again.status();
  EXPECT_TRUE(c->broken());
  EXPECT_TRUE(absl::IsUnavailable(c->Qos(1)));
}

TEST_F(AmqpTest, WrongPasswordIsRefusedWithoutShowingIt) {
  ConnectionOptions o = Options();
  o.url.hosts[0].password = "not-the-password";
  auto c = Connection::Open(o, o.url.hosts[0]);
  ASSERT_FALSE(c.ok());
  EXPECT_TRUE(absl::IsPermissionDenied(c.status())) << c.status();
  EXPECT_EQ(c.status().message().find("not-the-password"), absl::string_view::npos);
}

TEST_F(AmqpTest, LinkFailsOverToTheNextHostAndRunsSetupOnEachConnection) {
  ConnectionOptions o = Options();
  BrokerHost dead = o.url.hosts[0];
  dead.port = testing::PickFreePort();  // nothing listens there
  o.url.hosts.insert(o.url.hosts.begin(), dead);
  int setups = 0;
  Link link(o, "test", [&](Connection& c) {
    ++setups;
    return c.DeclareQueue("q5", true, false).status();
  });
  auto c = link.Get([] { return false; });
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*c)->host().port, rabbit_->port());
  EXPECT_EQ(setups, 1);
  link.Broken(absl::UnavailableError("test"));
  EXPECT_FALSE(link.connected());
  c = link.Get([] { return false; });
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(setups, 2);
  EXPECT_EQ(link.connects(), 2);
  // Stop while no host answers: CANCELLED, not a hang.
  ConnectionOptions none = Options();
  none.url.hosts = {dead};
  Link nowhere(none, "test", [](Connection&) { return absl::OkStatus(); });
  int polls = 0;
  auto n = nowhere.Get([&] { return ++polls > 20; });
  EXPECT_TRUE(absl::IsCancelled(n.status())) << n.status();
}

// Last: restarts the suite's broker.
TEST_F(AmqpTest, ZzLinkReconnectsAfterBrokerKill9AndConfirmedMessagesSurvive) {
  auto pub = Publisher("x6", "q6");
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(pub->Publish("x6", "q6", Msg("durable")).ok());
  pub.reset();
  Link link(Options(), "test", [](Connection& c) {
    if (absl::Status s = c.Qos(10); !s.ok()) return s;
    return c.Consume("q6");
  });
  auto c = link.Get([] { return false; });
  ASSERT_TRUE(c.ok());
  rabbit_->Kill9();
  // The consumer finds out on its next read.
  absl::StatusOr<std::optional<Delivery>> d;
  for (int i = 0; i < 100; ++i) {
    d = (*c)->Next(absl::Milliseconds(100));
    if (!d.ok()) break;
    if (d->has_value()) (void)(*c)->Ack((**d).tag, false);
  }
  ASSERT_FALSE(d.ok());
  link.Broken(d.status());
  ASSERT_TRUE(rabbit_->Start().ok());
  c = link.Get([] { return false; });
  ASSERT_TRUE(c.ok()) << c.status();
  int got = 0;
  while (true) {
    d = (*c)->Next(absl::Seconds(2));
    ASSERT_TRUE(d.ok()) << d.status();
    if (!d->has_value()) break;
    ++got;
    ASSERT_TRUE((*c)->Ack((**d).tag, false).ok());
  }
  EXPECT_EQ(got, 50) << "every confirmed persistent message: none was acked before the crash";
}

}  // namespace
}  // namespace vitrage::amqp
