// Mutual TLS and the role check over real gRPC servers in this process,
// with certificates made by deploy/make-certs.sh (openssl). The process
// configures TLS once (it is process-wide), as the graph: every other
// identity is a client built here from its own files.
#include "common/tls.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>

#include "common/grpc_util.h"
#include "common/testing/process.h"
#include "common/testing/test_certs.h"
#include "vitrage/v1/collector.grpc.pb.h"
#include "vitrage/v1/graph.grpc.pb.h"
#include "vitrage/v1/persistor.grpc.pb.h"

namespace vitrage {
namespace {

using ::testing::HasSubstr;
using testing::ReadPemFile;
using testing::TestPki;

// A Graph service that counts what reached it.
class CountingGraph final : public v1::Graph::Service {
 public:
  grpc::Status PushEvents(grpc::ServerContext*, const v1::PushEventsRequest* req,
                          v1::PushEventsResponse* resp) override {
    pushed += req->events_size();
    resp->set_applied(req->events_size());
    return grpc::Status::OK;
  }
  grpc::Status GetStatus(grpc::ServerContext*, const v1::GraphStatusRequest*,
                         v1::GraphStatus*) override {
    ++status_calls;
    return grpc::Status::OK;
  }
  std::atomic<int> pushed{0};
  std::atomic<int> status_calls{0};
};

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto dir = testing::MakeTempDir("tls-test");
    ASSERT_TRUE(dir.ok());
    dir_ = new std::string(*dir);
    auto pki = TestPki::Create(*dir_);
    ASSERT_TRUE(pki.ok()) << pki.status();
    pki_ = new TestPki(*pki);
    for (auto [name, roles] :
         std::vector<std::pair<std::string, std::string>>{{"graph", "graph"},
                                                          {"collector", "collector"},
                                                          {"reader", "reader"},
                                                          {"persistor", "persistor"},
                                                          {"norole", ""}}) {
      ASSERT_TRUE(pki_->Issue(name, roles).ok());
    }
    ASSERT_TRUE(pki_->Issue("collector", "collector", /*other_ca=*/true).ok());
  }
  static void TearDownTestSuite() {
    testing::RemoveTree(*dir_);
    delete pki_;
    delete dir_;
  }

  static Config ConfigFor(const std::string& name) {
    Config c;
    c.path = "test.conf";
    c.ssl.cert_file = pki_->cert(name);
    c.ssl.key_file = pki_->key(name);
    c.ssl.ca_file = pki_->ca();
    return c;
  }

  // A client channel with `name`'s certificate ("" for none).
  static std::shared_ptr<grpc::Channel> Client(const std::string& addr, const std::string& name,
                                               bool other_ca = false) {
    grpc::SslCredentialsOptions o;
    o.pem_root_certs = ReadPemFile(pki_->ca());
    if (!name.empty()) {
      o.pem_cert_chain = ReadPemFile(pki_->cert(name, other_ca));
      o.pem_private_key = ReadPemFile(pki_->key(name, other_ca));
    }
    return grpc::CreateChannel(addr, grpc::SslCredentials(o));
  }

  static grpc::Status Push(const std::shared_ptr<grpc::Channel>& ch) {
    auto stub = v1::Graph::NewStub(ch);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::PushEventsRequest req;
    req.add_events()->set_source("test");
    v1::PushEventsResponse resp;
    return stub->PushEvents(&ctx, req, &resp);
  }
  static grpc::Status Status(const std::shared_ptr<grpc::Channel>& ch) {
    auto stub = v1::Graph::NewStub(ch);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::GraphStatus resp;
    return stub->GetStatus(&ctx, v1::GraphStatusRequest(), &resp);
  }

  // A server (any service; the handshake decides) presenting `name`'s
  // certificate, built without ServerCredentials() so that it can be any
  // role while this process is the graph.
  static std::unique_ptr<grpc::Server> ServerWithCert(const std::string& name,
                                                      grpc::Service* service, int* port) {
    grpc::SslServerCredentialsOptions o(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    o.pem_root_certs = ReadPemFile(pki_->ca());
    o.pem_key_cert_pairs.push_back({ReadPemFile(pki_->key(name)), ReadPemFile(pki_->cert(name))});
    grpc::ServerBuilder b;
    b.AddListeningPort("127.0.0.1:0", grpc::SslServerCredentials(o), port);
    b.RegisterService(service);
    return b.BuildAndStart();
  }

  static std::string* dir_;
  static TestPki* pki_;
};
std::string* TlsTest::dir_ = nullptr;
TestPki* TlsTest::pki_ = nullptr;

TEST(TlsPolicyTest, EachWriteMethodHasExactlyItsRole) {
  std::vector<std::string> ro = {"reader"};
  EXPECT_TRUE(Authorize("/vitrage.v1.Persistor/Append", true, {"graph"}, ro).ok());
  EXPECT_TRUE(Authorize("/vitrage.v1.Persistor/PutSnapshot", true, {"graph"}, ro).ok());
  EXPECT_TRUE(Authorize("/vitrage.v1.Persistor/AcquireEpoch", true, {"graph"}, ro).ok());
  EXPECT_TRUE(Authorize("/vitrage.v1.Graph/PushEvents", true, {"collector"}, ro).ok());
  EXPECT_TRUE(Authorize("/vitrage.v1.Collector/GetAll", true, {"graph"}, ro).ok());
  for (const char* m : {"/vitrage.v1.Persistor/Append", "/vitrage.v1.Persistor/PutSnapshot",
                        "/vitrage.v1.Persistor/AcquireEpoch"}) {
    for (const char* r : {"collector", "reader", "admin", "persistor"}) {
      grpc::Status st = Authorize(m, true, {r}, {"reader", "admin", "*"});
      EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED) << m << " " << r;
      EXPECT_THAT(st.error_message(), HasSubstr("allowed: graph"));
    }
  }
  grpc::Status st = Authorize("/vitrage.v1.Graph/PushEvents", true, {"graph"}, ro);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(st.error_message(),
              HasSubstr("/vitrage.v1.Graph/PushEvents: refused for role(s) graph; "
                        "allowed: collector"));
}

// A method added to a .proto without a policy would be open to nobody:
// every method of our services must be in the table.
TEST(TlsPolicyTest, EveryMethodOfEveryServiceHasAPolicy) {
  int methods = 0;
  // Load the three files into the generated pool.
  (void)v1::PushEventsRequest::descriptor();
  (void)v1::AppendRequest::descriptor();
  (void)v1::GetAllRequest::descriptor();
  for (const char* name : {v1::Graph::service_full_name(), v1::Persistor::service_full_name(),
                           v1::Collector::service_full_name()}) {
    const auto* service =
        google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(name);
    ASSERT_NE(service, nullptr) << name;
    for (int i = 0; i < service->method_count(); ++i, ++methods) {
      std::string path = "/" + std::string(name) + "/" + service->method(i)->name();
      MethodPolicy p = PolicyFor(path);
      EXPECT_TRUE(!p.roles.empty() || p.read_only) << path << " has no entry in PolicyFor";
    }
  }
  EXPECT_GE(methods, 15);
}

TEST(TlsPolicyTest, ReadOnlyMethodsFollowReadOnlyRoles) {
  const char* m = "/vitrage.v1.Graph/GetStatus";
  EXPECT_TRUE(Authorize(m, true, {"reader"}, {"reader"}).ok());
  EXPECT_FALSE(Authorize(m, true, {"monitoring"}, {"reader"}).ok());
  EXPECT_TRUE(Authorize(m, true, {"monitoring"}, {"reader", "monitoring"}).ok());
  EXPECT_TRUE(Authorize(m, true, {}, {"*"}).ok());
  EXPECT_EQ(Authorize(m, false, {}, {"*"}).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(Authorize(m, false, {}, {"anonymous"}).ok());
  // Health and reflection are read-only too; an unknown method is nobody's.
  EXPECT_TRUE(Authorize("/grpc.health.v1.Health/Check", true, {"reader"}, {"reader"}).ok());
  EXPECT_TRUE(Authorize("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", true,
                        {"reader"}, {"reader"})
                  .ok());
  grpc::Status st = Authorize("/vitrage.v1.Graph/Nope", true, {"admin"}, {"*"});
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(st.error_message(), HasSubstr("allowed: nobody"));
  // "*" never opens a write method.
  EXPECT_FALSE(Authorize("/vitrage.v1.Graph/PushEvents", true, {"reader"}, {"*"}).ok());
  EXPECT_FALSE(Authorize("/vitrage.v1.Graph/TakeSnapshot", true, {"reader"}, {"*"}).ok());
  EXPECT_TRUE(Authorize("/vitrage.v1.Graph/TakeSnapshot", true, {"admin"}, {}).ok());
  EXPECT_TRUE(Authorize("/vitrage.v1.Graph/Promote", true, {"admin"}, {}).ok());
  EXPECT_TRUE(Authorize("/vitrage.v1.Graph/Promote", true, {"graph"}, {}).ok());
  EXPECT_THAT(Authorize("/vitrage.v1.Graph/Promote", true, {"collector"}, {"*"}).error_message(),
              HasSubstr("allowed: admin,graph"));
}

TEST(TlsServerRoleTest, CheckServerRoleNamesWhatWasPresentedAndExpected) {
  EXPECT_TRUE(CheckServerRole("h:1", {"spiffe://vitrage/persistor"}, ServerRole::kPersistor).ok());
  EXPECT_TRUE(
      CheckServerRole("h:1", {"spiffe://other/x", "spiffe://vitrage/graph"}, ServerRole::kGraph)
          .ok());
  grpc::Status st =
      CheckServerRole("10.0.0.5:9701", {"spiffe://vitrage/reader"}, ServerRole::kPersistor);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(st.error_message(),
            "server at 10.0.0.5:9701 presented spiffe://vitrage/reader, expected "
            "spiffe://vitrage/persistor");
  EXPECT_EQ(CheckServerRole("h:1", {}, ServerRole::kCollector).error_message(),
            "server at h:1 presented no spiffe://vitrage/ role, expected "
            "spiffe://vitrage/collector");
  // A prefix of the role is not the role.
  EXPECT_FALSE(
      CheckServerRole("h:1", {"spiffe://vitrage/persistor-x"}, ServerRole::kPersistor).ok());
}

TEST_F(TlsTest, NoSslSectionRefusesToStartUnlessPlaintextIsExplicit) {
  Config c;
  c.path = "/etc/vitrage/vitrage.conf";
  absl::Status s = ConfigureTls(c, "test");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("/etc/vitrage/vitrage.conf: [ssl]"));
  EXPECT_THAT(s.message(), HasSubstr("allow_plaintext = true"));
  c.ssl.allow_plaintext = true;
  EXPECT_TRUE(ConfigureTls(c, "test").ok());
  EXPECT_FALSE(TlsEnabled());
}

TEST_F(TlsTest, BadFilesAreNamedInTheError) {
  Config c = ConfigFor("graph");
  c.ssl.key_file = "";
  EXPECT_THAT(ConfigureTls(c, "t").message(), HasSubstr("must be set together"));

  c = ConfigFor("graph");
  c.ssl.cert_file = *dir_ + "/missing.pem";
  EXPECT_THAT(ConfigureTls(c, "t").message(),
              HasSubstr("[ssl] cert_file " + *dir_ + "/missing.pem: cannot read"));

  c = ConfigFor("graph");
  c.ssl.key_file = pki_->key("reader");
  absl::Status s = ConfigureTls(c, "t");
  EXPECT_THAT(s.message(), HasSubstr("is not the key of [ssl] cert_file"));
  // Never the key material itself.
  EXPECT_THAT(s.message(), ::testing::Not(HasSubstr("PRIVATE KEY")));

  c = ConfigFor("graph");
  c.ssl.ca_file = pki_->other_ca();
  EXPECT_THAT(ConfigureTls(c, "t").message(), HasSubstr("does not verify against [ssl] ca_file"));

  c = ConfigFor("norole");
  EXPECT_THAT(ConfigureTls(c, "t").message(), HasSubstr("no subjectAltName URI spiffe://vitrage/"));
  EXPECT_FALSE(TlsEnabled());
}

// Last in the file: configures this process's TLS for good.
TEST_F(TlsTest, ServerRefusesWrongPeersBeforeTheServiceSeesTheCall) {
  Config c = ConfigFor("graph");
  c.ssl.read_only_roles = {"reader"};
  c.limits.read_only_calls_per_second = 0.5;  // one call, then one per 2 s
  ASSERT_TRUE(ConfigureTls(c, "tls_test").ok());
  ASSERT_TRUE(TlsEnabled());
  CountingGraph service;
  int port = 0;
  auto server = StartServer("127.0.0.1:0", {&service}, &port);
  ASSERT_NE(server, nullptr);
  std::string addr = "127.0.0.1:" + std::to_string(port);

  // The right role.
  EXPECT_TRUE(Push(Client(addr, "collector")).ok());
  EXPECT_EQ(service.pushed, 1);
  // No certificate: the handshake fails.
  grpc::Status st = Push(Client(addr, ""));
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << st.error_message();
  // A collector certificate from another CA: the handshake fails.
  st = Push(Client(addr, "collector", /*other_ca=*/true));
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << st.error_message();
  // Valid certificates of the wrong role, and without a role.
  uint64_t refused = RefusedCalls();
  for (const char* who : {"graph", "reader", "norole"}) {
    st = Push(Client(addr, who));
    EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED) << who;
    EXPECT_THAT(st.error_message(), HasSubstr("allowed: collector")) << who;
  }
  EXPECT_EQ(RefusedCalls(), refused + 3);
  EXPECT_EQ(service.pushed, 1);

  // Read-only: the reader may, the collector (not in read_only_roles) may not.
  EXPECT_TRUE(Status(Client(addr, "reader")).ok());
  EXPECT_EQ(Status(Client(addr, "collector")).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(service.status_calls, 1);

  // A reader over its rate: RESOURCE_EXHAUSTED naming the limit, while the
  // collector's writes go on.
  auto reader = Client(addr, "reader");
  int limited = 0;
  for (int i = 0; i < 20; ++i) {
    grpc::Status rs = Status(reader);
    if (rs.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      ++limited;
      EXPECT_THAT(rs.error_message(),
                  HasSubstr("the limit is 0.5 ([limits] read_only_calls_per_second)"));
    }
  }
  EXPECT_GE(limited, 10);  // the first passes, then one per 2 s
  EXPECT_TRUE(Push(Client(addr, "collector")).ok());
  EXPECT_EQ(service.pushed, 2);

  // Our own client: MakeChannel presents the graph certificate and checks
  // the server's against the CA.
  EXPECT_EQ(Push(MakeChannel(addr, ServerRole::kGraph)).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  // A plaintext client gets nothing.
  st = Push(grpc::CreateChannel(addr, grpc::InsecureChannelCredentials()));
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(service.pushed, 2);
  server->Shutdown();
}

// After the test above (this process is the graph). A stolen reader
// certificate on the persistor's address must not be taken for the
// persistor: the handshake fails before any call is sent.
TEST_F(TlsTest, ClientRefusesAServerWithoutTheExpectedRole) {
  if (!TlsEnabled()) {
    ASSERT_TRUE(ConfigureTls(ConfigFor("graph"), "tls_test").ok());
  }
  CountingGraph impostor_service;
  int impostor_port = 0;
  auto impostor = ServerWithCert("reader", &impostor_service, &impostor_port);
  ASSERT_NE(impostor, nullptr);
  const std::string impostor_addr = "127.0.0.1:" + std::to_string(impostor_port);
  grpc::Status st = Status(MakeChannel(impostor_addr, ServerRole::kPersistor));
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << st.error_message();
  EXPECT_EQ(impostor_service.status_calls, 0);
  EXPECT_EQ(LastServerRefusal(impostor_addr),
            "server at " + impostor_addr +
                " presented spiffe://vitrage/reader, expected spiffe://vitrage/persistor");

  // The real persistor's certificate is accepted for the persistor, and
  // refused where a graph is expected.
  CountingGraph real_service;
  int real_port = 0;
  auto real = ServerWithCert("persistor", &real_service, &real_port);
  ASSERT_NE(real, nullptr);
  const std::string real_addr = "127.0.0.1:" + std::to_string(real_port);
  st = Status(MakeChannel(real_addr, ServerRole::kPersistor));
  EXPECT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(real_service.status_calls, 1);
  EXPECT_EQ(LastServerRefusal(real_addr), "");
  EXPECT_EQ(Status(MakeChannel(real_addr, ServerRole::kGraph)).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(real_service.status_calls, 1);
  EXPECT_EQ(LastServerRefusal(real_addr),
            "server at " + real_addr +
                " presented spiffe://vitrage/persistor, expected spiffe://vitrage/graph");
  // A later accepted handshake with the same address forgets the refusal.
  EXPECT_TRUE(Status(MakeChannel(real_addr, ServerRole::kPersistor)).ok());
  EXPECT_EQ(LastServerRefusal(real_addr), "");

  // The hostname check stays: the certificate names 127.0.0.1 and
  // localhost, not the name this client dials.
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("persistor.elsewhere.example");
  st = Status(
      grpc::CreateCustomChannel(real_addr, ChannelCredentials(ServerRole::kPersistor), args));
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << st.error_message();
  EXPECT_EQ(real_service.status_calls, 2);
  impostor->Shutdown();
  real->Shutdown();
}

}  // namespace
}  // namespace vitrage
