// Reflection and health as grpcurl sees them, checked with a client that is
// not built from our stubs (integration_tests/grpc_probe.py, python3-grpcio).
#include "common/grpc_util.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/synchronization/mutex.h"
#include "common/testing/process.h"
#include "vitrage/v1/collector.grpc.pb.h"

namespace vitrage {
namespace {

using ::testing::HasSubstr;

class EmptyCollector final : public v1::Collector::Service {};

std::string Probe(const std::string& addr, const std::vector<std::string>& args, int* rc) {
  auto dir = testing::MakeTempDir("probe");
  EXPECT_TRUE(dir.ok());
  std::string out = *dir + "/out";
  std::vector<std::string> argv = {"/usr/bin/python3",
                                   testing::SourceDir() + "/integration_tests/grpc_probe.py", addr};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = testing::RunCommand(argv, out, absl::Seconds(60));
  EXPECT_TRUE(r.ok()) << r.status();
  *rc = r.ok() ? *r : -1;
  std::string text = testing::ReadFileOrEmpty(out);
  testing::RemoveTree(*dir);
  return text;
}

TEST(GrpcUtilTest, StatusCodesCrossUnchanged) {
  absl::Status s = absl::OutOfRangeError("gap: record seq 9 but durable seq is 7");
  grpc::Status g = ToGrpcStatus(s);
  EXPECT_EQ(g.error_code(), grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_EQ(g.error_message(), "gap: record seq 9 but durable seq is 7");
  EXPECT_EQ(FromGrpcStatus(g), s);
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
}

TEST(GrpcUtilTest, ServerAnswersReflectionAndHealthLikeGrpcurl) {
  EmptyCollector service;
  int port = 0;
  auto server = StartServer("127.0.0.1:0", {&service}, &port);
  ASSERT_NE(server, nullptr);
  ASSERT_GT(port, 0);
  std::string addr = "127.0.0.1:" + std::to_string(port);

  int rc;
  std::string list = Probe(addr, {"list"}, &rc);
  EXPECT_EQ(rc, 0) << list;
  EXPECT_THAT(list, HasSubstr("vitrage.v1.Collector"));
  EXPECT_THAT(list, HasSubstr("grpc.health.v1.Health"));
  EXPECT_THAT(list, HasSubstr("grpc.reflection.v1alpha.ServerReflection"));

  std::string desc = Probe(addr, {"describe", "vitrage.v1.Collector"}, &rc);
  EXPECT_EQ(rc, 0) << desc;
  EXPECT_THAT(desc, HasSubstr("file vitrage/v1/collector.proto"));
  EXPECT_THAT(desc, HasSubstr("rpc GetAll"));

  // gRPC 1.51's built-in health service is only describable because we link
  // the generated health descriptor.
  std::string hdesc = Probe(addr, {"describe", "grpc.health.v1.Health"}, &rc);
  EXPECT_EQ(rc, 0) << hdesc;
  EXPECT_THAT(hdesc, HasSubstr("rpc Check"));

  std::string health = Probe(addr, {"health"}, &rc);
  EXPECT_EQ(rc, 0) << health;
  EXPECT_THAT(health, HasSubstr("SERVING"));

  server->GetHealthCheckService()->SetServingStatus("", false);
  health = Probe(addr, {"health"}, &rc);
  EXPECT_THAT(health, HasSubstr("NOT_SERVING"));
  server->Shutdown();
}

// Records the peer (client address and port: one per TCP connection) of
// each call.
class PeerCollector final : public v1::Collector::Service {
 public:
  grpc::Status GetStatus(grpc::ServerContext* context, const v1::CollectorStatusRequest*,
                         v1::CollectorStatus*) override {
    absl::MutexLock l(&mu_);
    peers_.push_back(context->peer());
    return grpc::Status::OK;
  }
  std::vector<std::string> peers() {
    absl::MutexLock l(&mu_);
    return peers_;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> peers_;
};

// Channels to one address share a connection unless MakeChannel's
// `connection` differs (the graph's snapshots must not share the
// journal's).
TEST(GrpcUtilTest, ANamedConnectionIsAConnectionOfItsOwn) {
  PeerCollector service;
  int port = 0;
  auto server = StartServer("127.0.0.1:0", {&service}, &port);
  ASSERT_NE(server, nullptr);
  const std::string addr = "127.0.0.1:" + std::to_string(port);
  auto call = [](const std::shared_ptr<grpc::Channel>& channel) {
    grpc::ClientContext ctx;
    v1::CollectorStatus status;
    return v1::Collector::NewStub(channel)->GetStatus(&ctx, v1::CollectorStatusRequest(), &status);
  };
  auto journal = MakeChannel(addr, ServerRole::kCollector);
  auto same = MakeChannel(addr, ServerRole::kCollector);
  auto snapshots = MakeChannel(addr, ServerRole::kCollector, 8 << 20, "snapshots");
  ASSERT_TRUE(call(journal).ok());
  ASSERT_TRUE(call(same).ok());
  ASSERT_TRUE(call(snapshots).ok());
  std::vector<std::string> peers = service.peers();
  ASSERT_EQ(peers.size(), 3u);
  EXPECT_EQ(peers[0], peers[1]);
  EXPECT_NE(peers[0], peers[2]);
  server->Shutdown();
}

TEST(GrpcUtilTest, StartServerFailsCleanlyOnABusyPort) {
  EmptyCollector a, b;
  int port = 0;
  auto first = StartServer("127.0.0.1:0", {&a}, &port);
  ASSERT_NE(first, nullptr);
  int port2 = 0;
  auto second = StartServer("127.0.0.1:" + std::to_string(port), {&b}, &port2);
  EXPECT_EQ(second, nullptr);
  first->Shutdown();
}

}  // namespace
}  // namespace vitrage
