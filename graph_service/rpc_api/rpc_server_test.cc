// The RPC server on a private RabbitMQ, called by oslo.messaging's own RPC
// client (rpc_client.py, as vitrage-api calls it) and by raw messages.
#include "graph_service/rpc_api/rpc_server.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/testing/rabbitmq_test.h"
#include "graph_service/graph/json_value.h"
#include "graph_service/notifications/oslo_envelope.h"

namespace vitrage::rpc_api {
namespace {

using json = nlohmann::json;

class TestAccess : public GraphAccess {
 public:
  TestAccess() {
    auto add = [&](const std::string& id, json p) {
      p["vitrage_id"] = id;
      p["vitrage_is_deleted"] = false;
      p["vitrage_is_placeholder"] = false;
      ASSERT_TRUE(g_.AddVertex(id, graph::PropertiesFromJson(p)).ok());
    };
    add("c", {{"vitrage_category", "RESOURCE"},
              {"vitrage_type", "openstack.cluster"},
              {"id", "OpenStack Cluster"}});
    add("h", {{"vitrage_category", "RESOURCE"}, {"vitrage_type", "nova.host"}, {"id", "h1"}});
    graph::Properties ep = graph::PropertiesFromJson(
        {{"relationship_type", "contains"}, {"vitrage_is_deleted", false}});
    EXPECT_TRUE(g_.AddEdge("c", "h", "contains", ep).ok());
  }
  bool Active() const override { return active_.load(); }
  absl::StatusOr<json> Read(const ReadFn& fn) override {
    absl::ReaderMutexLock l(&mu_);
    if (!active_) return absl::UnavailableError("not active");
    return fn(g_, nullptr);
  }
  std::atomic<bool> active_{true};

 private:
  absl::Mutex mu_;
  graph::Graph g_;
};

class RpcServerTest : public testing::RabbitMqTest {
 protected:
  void SetUp() override {
    auto url = amqp::ParseTransportUrl(rabbit_->url());
    ASSERT_TRUE(url.ok());
    RpcServerOptions o;
    o.connection.url = *url;
    o.poll = absl::Milliseconds(50);
    server_ = std::make_unique<RpcServer>(o, &access_);
    server_->Start();
  }
  void TearDown() override { server_.reset(); }

  // Runs the calls through oslo.messaging's RPC client.
  json Calls(const json& calls) {
    const char* src = getenv("VITRAGE_SOURCE_DIR");
    EXPECT_NE(src, nullptr);
    std::string in = absl::StrCat(rabbit_->dir(), "/calls_", getpid(), ".json");
    std::ofstream(in) << calls.dump();
    std::string cmd =
        absl::StrCat("/usr/bin/python3 ", src, "/graph_service/rpc_api/rpc_client.py ",
                     rabbit_->url(), " ", in, " 2>/dev/null");
    FILE* p = popen(cmd.c_str(), "r");
    std::string out;
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    EXPECT_EQ(pclose(p), 0) << cmd << "\n" << out;
    std::remove(in.c_str());
    return json::parse(out, nullptr, false);
  }

  TestAccess access_;
  std::unique_ptr<RpcServer> server_;
};

const json kCtx = {{"project_id", "admin"}, {"is_admin", true}};

TEST_F(RpcServerTest, OsloClientGetsAnswersAndClearErrors) {
  json r = Calls(json::array({
      {{"method", "is_alive"}, {"ctx", kCtx}},
      {{"method", "show_resource"}, {"ctx", kCtx}, {"args", {{"vitrage_id", "h"}}}},
      {{"method", "get_topology"},
       {"ctx", kCtx},
       {"args",
        {{"graph_type", "graph"},
         {"depth", nullptr},
         {"query", nullptr},
         {"root", nullptr},
         {"all_tenants", true}}}},
      {{"method", "drop_tables"}, {"ctx", kCtx}},
      {{"method", "show_resource"}, {"ctx", kCtx}, {"args", {{"vitrage_id", {1, 2}}}}},
      {{"method", "add_template"},
       {"ctx", kCtx},
       {"args",
        {{"templates", json::array()}, {"template_type", "standard"}, {"params", nullptr}}}},
  }));
  ASSERT_TRUE(r.is_array()) << r;
  ASSERT_EQ(r.size(), 6u);
  EXPECT_EQ(r[0]["result"], true);
  EXPECT_EQ(json::parse(r[1]["result"].get<std::string>())["id"], "h1");
  EXPECT_TRUE(r[2]["result"].is_string()) << r[2];
  // As from upstream's server: oslo's NoSuchMethod, which the client
  // (no allowed_remote_exmods) raises as a RemoteError naming it.
  EXPECT_EQ(r[3]["error"], "RemoteError") << r[3];
  EXPECT_NE(r[3]["message"].get<std::string>().find("NoSuchMethod"), std::string::npos) << r[3];
  EXPECT_EQ(r[4]["error"], "RemoteError") << r[4];
  EXPECT_NE(r[4]["message"].get<std::string>().find("vitrage_id"), std::string::npos);
  EXPECT_NE(r[5]["message"].get<std::string>().find("not supported"), std::string::npos) << r[5];
  EXPECT_EQ(server_->failures(), 3u);
}

TEST_F(RpcServerTest, NoCallsTakenWhileNotActiveThenServedWhenActive) {
  access_.active_ = false;
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_FALSE(server_->consuming());
  json r = Calls(json::array({{{"method", "is_alive"}, {"ctx", kCtx}, {"timeout", 2}}}));
  ASSERT_TRUE(r.is_array());
  EXPECT_EQ(r[0]["error"], "MessagingTimeout") << r;
  access_.active_ = true;
  r = Calls(json::array({{{"method", "is_alive"}, {"ctx", kCtx}, {"timeout", 10}}}));
  ASSERT_TRUE(r.is_array());
  EXPECT_EQ(r[0]["result"], true) << r;
  EXPECT_TRUE(server_->consuming());
}

// Raw messages a client library would never send: each gets a failure
// reply, and the server goes on answering.
TEST_F(RpcServerTest, MalformedRequestsGetFailureRepliesAndTheServerGoesOn) {
  auto url = amqp::ParseTransportUrl(rabbit_->url());
  amqp::ConnectionOptions co;
  co.url = *url;
  auto pub = amqp::Connection::Open(co, url->hosts[0]);
  ASSERT_TRUE(pub.ok()) << pub.status();
  auto sub = amqp::Connection::Open(co, url->hosts[0]);
  ASSERT_TRUE(sub.ok());
  ASSERT_TRUE((*sub)->DeclareQueue("reply_test", false, true).ok());
  ASSERT_TRUE((*sub)->Consume("reply_test").ok());
  ASSERT_TRUE((*pub)->DeclareExchange("vitrage", "topic", false, false).ok());
  auto request = [](json msg) {
    msg["_msg_id"] = "m1";
    msg["_reply_q"] = "reply_test";
    return notifications::WrapOsloEnvelope(msg);
  };
  std::string deep = "[";
  for (int i = 0; i < 100000; ++i) deep += "[";
  std::string deep_args = absl::StrCat(
      R"({"method": "get_rca", "_msg_id": "m1", "_reply_q": "reply_test", "args": )", deep);
  for (int i = 0; i < 100001; ++i) deep_args += "]";
  deep_args += "}";
  json envelope = {{"oslo.version", "2.0"}, {"oslo.message", deep_args}};
  std::vector<std::pair<std::string, std::string>> bodies = {
      {"no method", request({{"args", json::object()}})},
      {"method not a string", request({{"method", 7}})},
      {"args a list", request({{"method", "get_rca"}, {"args", {1, 2}}})},
      {"deep args", envelope.dump()},
      {"huge args",
       request({{"method", "get_rca"}, {"args", {{"root", std::string(3 << 20, 'x')}}}})},
      {"wrong types", request({{"method", "get_topology"},
                               {"args",
                                {{"graph_type", 1},
                                 {"depth", "x"},
                                 {"query", nullptr},
                                 {"root", nullptr},
                                 {"all_tenants", false}}}})},
      {"bad query",
       request(json::parse(R"({"method": "get_resources", "args": {"query": {"and": 5}}})"))},
  };
  for (const auto& [what, body] : bodies) {
    amqp::OutMessage m;
    m.body = body;
    ASSERT_TRUE((*pub)->Publish("vitrage", "rpcapiv1", m).ok()) << what;
    auto d = (*sub)->Next(absl::Seconds(20));
    ASSERT_TRUE(d.ok() && d->has_value()) << what << ": no reply";
    ASSERT_TRUE((*sub)->Ack((*d)->tag, false).ok());
    auto reply = notifications::ParseOsloEnvelope((*d)->body);
    ASSERT_TRUE(reply.ok()) << what;
    EXPECT_EQ((*reply)["_msg_id"], "m1") << what;
    EXPECT_EQ((*reply)["ending"], true) << what;
    ASSERT_TRUE((*reply)["failure"].is_string()) << what << ": " << reply->dump().substr(0, 300);
    json f = json::parse((*reply)["failure"].get<std::string>());
    EXPECT_FALSE(f["message"].get<std::string>().empty()) << what;
  }
  amqp::OutMessage junk;
  junk.body = "not json at all";
  ASSERT_TRUE((*pub)->Publish("vitrage", "rpcapiv1", junk).ok());
  json r = Calls(json::array({{{"method", "is_alive"}, {"ctx", kCtx}}}));
  ASSERT_TRUE(r.is_array());
  EXPECT_EQ(r[0]["result"], true) << r;
}

// A large compressed answer is spliced into the envelope instead of being
// escaped twice: the same bytes as the plain way, for any such string.
TEST(ReplyBodyTest, LargePlainResultIsTheSameBytesAsThePlainEncoding) {
  std::string b64;
  for (uint64_t i = 0; i < 300000; ++i) b64.push_back("ABCxyz019+/="[(i * 7919) % 12]);
  for (const std::string& result : {b64, b64.substr(0, 5000), std::string(8000, 'Q')}) {
    std::string ours = ReplyBody("msg-1", json(result), nullptr);
    auto parsed = notifications::ParseOsloEnvelope(ours);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ((*parsed)["result"], result);
    json msg = {{"result", result},
                {"failure", nullptr},
                {"ending", true},
                {"_msg_id", "msg-1"},
                {"_unique_id", (*parsed)["_unique_id"]}};
    EXPECT_EQ(ours, notifications::WrapOsloEnvelope(msg));
  }
  // Strings that need escaping take the plain way.
  std::string quoted(6000, 'a');
  quoted[100] = '"';
  quoted[200] = '\\';
  auto parsed = notifications::ParseOsloEnvelope(ReplyBody("m", json(quoted), nullptr));
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ((*parsed)["result"], quoted);
}

}  // namespace
}  // namespace vitrage::rpc_api
