// Issue 13 over the real binaries: a stack (MariaDB, persistor, collector,
// graph) running mutual TLS with certificates this test makes itself with
// openssl (deploy/make-certs.sh): a good CA, an unrelated CA, and
// certificates for every role.
//
// * Each write endpoint refuses a client without a certificate, with a
//   certificate of another CA, and with valid certificates of every wrong
//   role; nothing such a client sent is stored.
// * grpcurl-style calls (integration_tests/grpc_probe.py) and vitrage-ctl
//   with the right client certificate work.
// * A flood of oversized requests does not stop a well-behaved client.
// * A config with neither certificates nor allow_plaintext does not start.
// * A server with a valid certificate of the wrong role (a stolen reader
//   certificate on the persistor's address) is refused by the graph, which
//   stays RECOVERING and says why.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/grpc_util.h"
#include "common/testing/test_certs.h"
#include "common/tls.h"
#include "integration_tests/stack.h"

namespace vitrage::testing {
namespace {

using ::testing::HasSubstr;

// Who calls: a certificate name ("" for none) from the good or other CA.
struct Identity {
  std::string name;
  bool other_ca = false;
  std::string Describe() const {
    if (name.empty()) return "no certificate";
    return absl::StrCat(name, other_ca ? " (other CA)" : "");
  }
};

class SecurityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto dir = MakeTempDir("security-test");
    ASSERT_TRUE(dir.ok());
    dir_ = new std::string(*dir);
    auto pki = TestPki::Create(*dir_);
    ASSERT_TRUE(pki.ok()) << pki.status();
    pki_ = new TestPki(*pki);
    for (const char* role : {"graph", "persistor", "collector", "admin", "reader"}) {
      ASSERT_TRUE(pki_->Issue(role, role).ok());
      ASSERT_TRUE(pki_->Issue(role, role, /*other_ca=*/true).ok());
    }
    ASSERT_TRUE(pki_->Issue("norole", "").ok());
    // This process is an operator with the admin certificate (the stack's
    // status helpers use MakeChannel).
    Config me;
    me.path = "security_test";
    me.ssl.cert_file = pki_->cert("admin");
    me.ssl.key_file = pki_->key("admin");
    me.ssl.ca_file = pki_->ca();
    ASSERT_TRUE(ConfigureTls(me, "security_test").ok());

    StackOptions o;
    o.tls_dir = *dir_;
    o.synthetic_hosts = 4;
    stack_ = new Stack(o);
    absl::Status s = stack_->Start();
    ASSERT_TRUE(s.ok()) << s << "\n"
                        << stack_->LogTail("graph") << "\n"
                        << stack_->LogTail("persistor") << "\n"
                        << stack_->LogTail("collector");
    // The snapshot after the first get_all is stored in the background:
    // wait for it, so that the scenarios see a still store.
    absl::Time deadline = absl::Now() + absl::Seconds(60);
    while (true) {
      auto ps = stack_->PersistorStatus();
      if (ps.ok() && ps->snapshots_size() > 0) break;
      ASSERT_LT(absl::Now(), deadline) << "no snapshot after get_all\n" << stack_->LogTail("graph");
      absl::SleepFor(absl::Milliseconds(100));
    }
  }
  static void TearDownTestSuite() {
    delete stack_;
    RemoveTree(*dir_);
    delete pki_;
    delete dir_;
  }

  static std::shared_ptr<grpc::Channel> Channel(int port, const Identity& who) {
    grpc::SslCredentialsOptions o;
    o.pem_root_certs = ReadPemFile(pki_->ca());
    if (!who.name.empty()) {
      o.pem_cert_chain = ReadPemFile(pki_->cert(who.name, who.other_ca));
      o.pem_private_key = ReadPemFile(pki_->key(who.name, who.other_ca));
    }
    grpc::ChannelArguments args;
    args.SetMaxSendMessageSize(-1);
    return grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port), grpc::SslCredentials(o),
                                     args);
  }
  static void Deadline(grpc::ClientContext* ctx, int seconds = 20) {
    ctx->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(seconds)));
  }

  // Everyone who must be refused on a method that belongs to `role`.
  static std::vector<Identity> Intruders(const std::string& role) {
    std::vector<Identity> out = {{"", false}, {role, true}, {"norole", false}};
    for (const char* r : {"graph", "persistor", "collector", "admin", "reader"}) {
      if (r != role) out.push_back({r, false});
    }
    return out;
  }

  static v1::PushEventsRequest Events(const std::string& source, int n, uint64_t first_seq = 1) {
    v1::PushEventsRequest req;
    for (int i = 0; i < n; ++i) {
      auto* ev = req.add_events();
      ev->set_source(source);
      ev->set_source_seq(first_seq + i);
      std::string id = absl::StrCat(source, "-", first_seq + i);
      ev->set_json(absl::StrCat(
          R"({"vitrage_entity_type": "vitrage.passthrough", "vitrage_datasource_action": "update",)",
          R"( "vitrage_sample_date": "2026-11-30T10:00:00Z", "ops": [{"op": "set_vertex",)",
          R"( "id": ")", id, R"(", "props": {"vitrage_id": ")", id, R"("}}]})"));
    }
    return req;
  }

  static grpc::Status Push(const std::shared_ptr<grpc::Channel>& ch,
                           const v1::PushEventsRequest& req) {
    grpc::ClientContext ctx;
    Deadline(&ctx);
    v1::PushEventsResponse resp;
    return v1::Graph::NewStub(ch)->PushEvents(&ctx, req, &resp);
  }

  static bool VertexExists(const std::string& id) {
    grpc::ClientContext ctx;
    Deadline(&ctx);
    v1::GetVertexRequest req;
    req.set_id(id);
    v1::GetVertexResponse resp;
    return stack_->GraphStub()->GetVertex(&ctx, req, &resp).ok();
  }

  // Runs `probe` (grpc_probe.py) with `args`; returns its output, sets rc.
  static std::string Run(const std::vector<std::string>& argv, int* rc) {
    std::string out = absl::StrCat(*dir_, "/run-", ++runs_, ".out");
    auto r = RunCommand(argv, out, absl::Seconds(60));
    *rc = r.ok() ? *r : -1;
    return ReadFileOrEmpty(out);
  }
  static std::vector<std::string> Probe(const Identity& who, int port) {
    std::vector<std::string> argv = {"/usr/bin/python3",
                                     SourceDir() + "/integration_tests/grpc_probe.py", "-cacert",
                                     pki_->ca()};
    if (!who.name.empty()) {
      for (const std::string& s :
           std::vector<std::string>{"-cert", pki_->cert(who.name, who.other_ca), "-key",
                                    pki_->key(who.name, who.other_ca)}) {
        argv.push_back(s);
      }
    }
    argv.push_back(absl::StrCat("127.0.0.1:", port));
    return argv;
  }

  static std::string* dir_;
  static TestPki* pki_;
  static Stack* stack_;
  static int runs_;
};
std::string* SecurityTest::dir_ = nullptr;
TestPki* SecurityTest::pki_ = nullptr;
Stack* SecurityTest::stack_ = nullptr;
int SecurityTest::runs_ = 0;

TEST_F(SecurityTest, PersistorWritesAreRefusedToAllButTheGraphAndNothingIsStored) {
  auto before = stack_->PersistorStatus();
  ASSERT_TRUE(before.ok()) << before.status();
  auto graph_before = stack_->GraphStatus();
  ASSERT_TRUE(graph_before.ok());
  for (const Identity& who : Intruders("graph")) {
    SCOPED_TRACE(who.Describe());
    auto stub = v1::Persistor::NewStub(Channel(stack_->persistor_port(), who));
    {  // AcquireEpoch would fence the running graph.
      grpc::ClientContext ctx;
      Deadline(&ctx);
      v1::AcquireEpochRequest req;
      req.set_owner("intruder");
      v1::AcquireEpochResponse resp;
      grpc::Status st = stub->AcquireEpoch(&ctx, req, &resp);
      EXPECT_FALSE(st.ok());
      EXPECT_THAT(st.error_code(), ::testing::AnyOf(grpc::StatusCode::UNAVAILABLE,
                                                    grpc::StatusCode::PERMISSION_DENIED,
                                                    grpc::StatusCode::UNAUTHENTICATED));
    }
    {  // Append with the current epoch and the next seq.
      grpc::ClientContext ctx;
      Deadline(&ctx);
      auto stream = stub->Append(&ctx);
      v1::AppendRequest req;
      req.set_epoch(before->epoch());
      auto* r = req.add_records();
      r->set_seq(before->durable_seq() + 1);
      r->set_epoch(before->epoch());
      r->set_source("intruder");
      stream->Write(req);
      stream->WritesDone();
      v1::AppendResponse resp;
      while (stream->Read(&resp)) {
      }
      EXPECT_FALSE(stream->Finish().ok());
    }
    {  // PutSnapshot: a header, no chunks.
      grpc::ClientContext ctx;
      Deadline(&ctx);
      v1::PutSnapshotResponse resp;
      auto stream = stub->PutSnapshot(&ctx, &resp);
      v1::PutSnapshotRequest req;
      req.mutable_header()->set_seq(before->durable_seq());
      req.mutable_header()->set_epoch(before->epoch());
      stream->Write(req);
      stream->WritesDone();
      grpc::Status st = stream->Finish();
      EXPECT_FALSE(st.ok());
      if (who.name == "collector" || who.name == "reader") {
        EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED) << st.error_message();
        EXPECT_THAT(st.error_message(), HasSubstr("/vitrage.v1.Persistor/PutSnapshot: refused"));
        EXPECT_THAT(st.error_message(), HasSubstr("allowed: graph"));
      }
    }
  }
  auto after = stack_->PersistorStatus();
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->epoch(), before->epoch());
  EXPECT_EQ(after->epoch_owner(), before->epoch_owner());
  EXPECT_EQ(after->durable_seq(), before->durable_seq());
  EXPECT_EQ(after->snapshots_size(), before->snapshots_size());
  auto graph_after = stack_->GraphStatus();
  ASSERT_TRUE(graph_after.ok());
  EXPECT_EQ(graph_after->role(), v1::ACTIVE) << "the graph was fenced";
  EXPECT_EQ(graph_after->epoch(), graph_before->epoch());
  EXPECT_THAT(stack_->LogTail("persistor", 20000), HasSubstr("refused call: "));
}

TEST_F(SecurityTest, GraphPushEventsIsRefusedToAllButTheCollectorAndNothingIsApplied) {
  auto before = stack_->GraphStatus();
  ASSERT_TRUE(before.ok());
  int n = 0;
  for (const Identity& who : Intruders("collector")) {
    SCOPED_TRACE(who.Describe());
    std::string source = absl::StrCat("intruder", ++n);
    grpc::Status st = Push(Channel(stack_->graph_port(), who), Events(source, 1));
    EXPECT_FALSE(st.ok());
    if (!who.name.empty() && !who.other_ca) {
      EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED) << st.error_message();
      EXPECT_THAT(st.error_message(), HasSubstr("allowed: collector"));
    } else {
      EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << st.error_message();
    }
    EXPECT_FALSE(VertexExists(source + "-1"));
  }
  // Admin may take snapshots; nobody else.
  for (const Identity& who : Intruders("admin")) {
    SCOPED_TRACE(who.Describe());
    grpc::ClientContext ctx;
    Deadline(&ctx);
    v1::TakeSnapshotResponse resp;
    EXPECT_FALSE(v1::Graph::NewStub(Channel(stack_->graph_port(), who))
                     ->TakeSnapshot(&ctx, v1::TakeSnapshotRequest(), &resp)
                     .ok());
  }
  auto after = stack_->GraphStatus();
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->applied_seq(), before->applied_seq());
  EXPECT_EQ(after->last_snapshot_seq(), before->last_snapshot_seq());

  // The collector's certificate: applied, durable.
  grpc::Status st = Push(Channel(stack_->graph_port(), {"collector"}), Events("friend", 2));
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_TRUE(VertexExists("friend-2"));
  auto ps = stack_->PersistorStatus();
  ASSERT_TRUE(ps.ok());
  EXPECT_GT(ps->durable_seq(), before->durable_seq());
}

TEST_F(SecurityTest, CollectorGetAllIsOnlyForTheGraph) {
  for (const Identity& who : Intruders("graph")) {
    SCOPED_TRACE(who.Describe());
    grpc::ClientContext ctx;
    Deadline(&ctx);
    auto reader = v1::Collector::NewStub(Channel(stack_->collector_port(), who))->GetAll(&ctx, {});
    v1::GetAllResponse resp;
    EXPECT_FALSE(reader->Read(&resp)) << "got data";
    EXPECT_FALSE(reader->Finish().ok());
  }
  grpc::ClientContext ctx;
  Deadline(&ctx);
  auto reader =
      v1::Collector::NewStub(Channel(stack_->collector_port(), {"graph"}))->GetAll(&ctx, {});
  v1::GetAllResponse resp;
  int batches = 0;
  while (reader->Read(&resp)) ++batches;
  grpc::Status st = reader->Finish();
  EXPECT_TRUE(st.ok()) << st.error_message();
  EXPECT_GT(batches, 0);
}

TEST_F(SecurityTest, GrpcurlStyleCallsWithTheRightCertificateWork) {
  int rc = 0;
  for (int port : {stack_->graph_port(), stack_->persistor_port(), stack_->collector_port()}) {
    for (const char* who : {"admin", "reader"}) {
      auto argv = Probe({who}, port);
      argv.push_back("list");
      std::string out = Run(argv, &rc);
      EXPECT_EQ(rc, 0) << who << " " << out;
      EXPECT_THAT(out, HasSubstr("grpc.health.v1.Health"));
      argv = Probe({who}, port);
      argv.push_back("health");
      out = Run(argv, &rc);
      EXPECT_EQ(rc, 0) << out;
      EXPECT_THAT(out, HasSubstr("SERVING"));
    }
    // Without a certificate, and with one from another CA: nothing.
    for (const Identity& who : {Identity{""}, Identity{"admin", true}}) {
      auto argv = Probe(who, port);
      argv.push_back("list");
      std::string out = Run(argv, &rc);
      EXPECT_EQ(rc, 1) << who.Describe() << " " << out;
      EXPECT_THAT(out, HasSubstr("rpc error: UNAVAILABLE"));
    }
  }
  auto argv = Probe({"reader"}, stack_->graph_port());
  for (const char* a : {"call", "vitrage.v1.Graph/GetStatus"}) argv.push_back(a);
  std::string out = Run(argv, &rc);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_THAT(out, HasSubstr("\"role\": \"ACTIVE\""));
  // A certificate without a role reads nothing.
  argv = Probe({"norole"}, stack_->graph_port());
  for (const char* a : {"call", "vitrage.v1.Graph/GetStatus"}) argv.push_back(a);
  out = Run(argv, &rc);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_THAT(out, HasSubstr("PERMISSION_DENIED"));

  // vitrage-ctl: --config with the admin certificate, or the files directly.
  std::string ctl = Binary("graph_service/vitrage-ctl");
  std::string graph = absl::StrCat("127.0.0.1:", stack_->graph_port());
  out = Run({ctl, "--config", stack_->conf_path(), "--graph", graph, "status"}, &rc);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_THAT(out, HasSubstr("ACTIVE"));
  out = Run({ctl, "--cert", pki_->cert("admin"), "--key", pki_->key("admin"), "--ca", pki_->ca(),
             "--graph", graph, "take-snapshot"},
            &rc);
  EXPECT_EQ(rc, 0) << out;
  out = Run({ctl, "--cert", pki_->cert("reader"), "--key", pki_->key("reader"), "--ca", pki_->ca(),
             "--graph", graph, "take-snapshot"},
            &rc);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_THAT(out, HasSubstr("refused for role(s) reader; allowed: admin"));
  out = Run({ctl, "--graph", graph, "--timeout", "5", "status"}, &rc);  // plaintext
  EXPECT_EQ(rc, 1) << out;
}

TEST_F(SecurityTest, FloodOfOversizedRequestsDoesNotStopAWellBehavedClient) {
  std::atomic<bool> stop{false};
  std::atomic<int> flood_calls{0}, flood_refused_with_limit{0};
  std::atomic<int> per_kind[4] = {0, 0, 0, 0};
  std::vector<std::thread> flooders;
  // Four flooders with the collector's own certificate: too many events,
  // too many properties, too long a value, and messages over gRPC's 64 MiB
  // receive limit.
  for (int kind = 0; kind < 4; ++kind) {
    flooders.emplace_back([&, kind] {
      auto ch = Channel(stack_->graph_port(), {"collector"});
      v1::PushEventsRequest req;
      std::string limit_name;
      if (kind == 0) {
        req = Events("flood0", 10001);
        limit_name = "max_events_per_push";
      } else if (kind == 1) {
        auto* ev = req.add_events();
        ev->set_source("flood1");
        for (int i = 0; i < 1001; ++i) {
          auto* p = ev->mutable_fields()->add_entries();
          p->set_key(absl::StrCat("k", i));
          p->mutable_value()->set_int_value(i);
        }
        limit_name = "max_properties";
      } else if (kind == 2) {
        auto* ev = req.add_events();
        ev->set_source("flood2");
        auto* p = ev->mutable_fields()->add_entries();
        p->set_key("k");
        p->mutable_value()->set_string_value(std::string(100 << 10, 'x'));
        limit_name = "max_property_bytes";
      } else {
        auto* ev = req.add_events();
        ev->set_source("flood3");
        ev->set_json(std::string(65 << 20, ' '));
        limit_name = "";  // gRPC's own limit
      }
      while (!stop) {
        grpc::Status st = Push(ch, req);
        ++flood_calls;
        ++per_kind[kind];
        if (kind < 3 && st.error_code() == grpc::StatusCode::INVALID_ARGUMENT &&
            st.error_message().find("([limits] " + limit_name + ")") != std::string::npos) {
          ++flood_refused_with_limit;
        }
        if (kind == 3 && st.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
          ++flood_refused_with_limit;
        }
        if (kind == 3) absl::SleepFor(absl::Milliseconds(100));  // 65 MiB each
      }
    });
  }
  // The well-behaved collector: 50 small pushes, each must be applied.
  auto good = Channel(stack_->graph_port(), {"collector"});
  int ok = 0;
  std::string last_error;
  for (int i = 0; i < 50; ++i) {
    grpc::Status st = Push(good, Events("wellbehaved", 2, 1 + 2 * i));
    if (st.ok()) {
      ++ok;
    } else {
      last_error = st.error_message();
    }
  }
  stop = true;
  for (auto& t : flooders) t.join();
  EXPECT_EQ(ok, 50) << last_error;
  EXPECT_TRUE(VertexExists("wellbehaved-100"));
  EXPECT_GT(flood_calls, 4);
  EXPECT_EQ(flood_refused_with_limit, flood_calls);
  std::cout << "flood: " << flood_calls << " oversized calls refused (" << per_kind[0]
            << " x 10001 events, " << per_kind[1] << " x 1001 properties, " << per_kind[2]
            << " x 100 KiB value, " << per_kind[3] << " x 65 MiB message); " << ok
            << "/50 good calls applied\n";
  auto st = stack_->GraphStatus();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->role(), v1::ACTIVE);
}

TEST_F(SecurityTest, AnonymousReadsWhenConfiguredButWritesStillNeedTheRole) {
  std::string conf = *dir_ + "/anonymous.conf";
  int port = PickFreePort();
  std::ofstream(conf) << "[collector]\nlisten_address = 127.0.0.1:" << port
                      << "\ngraph_address = 127.0.0.1:" << PickFreePort()
                      << "\nsynthetic_hosts = 2\n"
                      << pki_->SslSection("collector") << "read_only_roles = anonymous\n";
  auto p = Process::Start({Binary("collector/vitrage-collector"), "--config", conf},
                          *dir_ + "/anonymous.log");
  ASSERT_TRUE(p.ok());
  int rc = 0;
  std::string out;
  absl::Time deadline = absl::Now() + absl::Seconds(30);
  do {  // health without a client certificate
    auto argv = Probe({""}, port);
    argv.push_back("health");
    out = Run(argv, &rc);
  } while (rc != 0 && absl::Now() < deadline && p->running());
  EXPECT_EQ(rc, 0) << out << ReadFileOrEmpty(*dir_ + "/anonymous.log");
  EXPECT_THAT(out, HasSubstr("SERVING"));
  // GetAll still needs the graph's certificate.
  grpc::ClientContext ctx;
  Deadline(&ctx);
  auto reader = v1::Collector::NewStub(Channel(port, {""}))->GetAll(&ctx, {});
  v1::GetAllResponse resp;
  EXPECT_FALSE(reader->Read(&resp));
  grpc::Status st = reader->Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED) << st.error_message();
  EXPECT_THAT(st.error_message(), HasSubstr("refused for no client certificate; allowed: graph"));
  p->Stop(absl::Seconds(5));
}

// A persistor impostor: acks everything. A graph that talked to it would
// take its epoch and go ACTIVE on a journal that stores nothing.
class ImpostorPersistor final : public v1::Persistor::Service {
 public:
  grpc::Status AcquireEpoch(grpc::ServerContext*, const v1::AcquireEpochRequest*,
                            v1::AcquireEpochResponse* resp) override {
    ++calls;
    resp->set_epoch(1000);
    return grpc::Status::OK;
  }
  grpc::Status GetLatestSnapshot(grpc::ServerContext*, const v1::GetLatestSnapshotRequest*,
                                 grpc::ServerWriter<v1::GetLatestSnapshotResponse>*) override {
    ++calls;
    return grpc::Status(grpc::StatusCode::NOT_FOUND, "no snapshot");
  }
  std::atomic<int> calls{0};
};

TEST_F(SecurityTest, GraphRefusesAPersistorWithAReaderCertificate) {
  ImpostorPersistor impostor;
  grpc::SslServerCredentialsOptions o(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  o.pem_root_certs = ReadPemFile(pki_->ca());
  o.pem_key_cert_pairs.push_back(
      {ReadPemFile(pki_->key("reader")), ReadPemFile(pki_->cert("reader"))});
  int impostor_port = 0;
  grpc::ServerBuilder b;
  b.AddListeningPort("127.0.0.1:0", grpc::SslServerCredentials(o), &impostor_port);
  b.RegisterService(&impostor);
  std::unique_ptr<grpc::Server> server = b.BuildAndStart();
  ASSERT_NE(server, nullptr);
  const std::string impostor_addr = absl::StrCat("127.0.0.1:", impostor_port);

  const int graph_port = PickFreePort();
  auto graph = stack_->SpawnGraph(graph_port, "-impostor", impostor_addr);
  ASSERT_TRUE(graph.ok()) << graph.status();
  const std::string want = absl::StrCat("server at ", impostor_addr,
                                        " presented spiffe://vitrage/reader, expected "
                                        "spiffe://vitrage/persistor");
  // It serves GetStatus while it retries: RECOVERING, with the reason.
  std::string phase, log;
  absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (absl::Now() < deadline && graph->running()) {
    auto st = stack_->GraphStatus(false, graph_port);
    log = stack_->LogTail("graph-impostor", 100000);
    if (st.ok()) {
      ASSERT_NE(st->role(), v1::ACTIVE) << "took the impostor for the persistor\n" << log;
      phase = st->phase();
      if (phase.find(want) != std::string::npos &&
          log.find("TLS: refused server: " + want) != std::string::npos) {
        break;
      }
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_THAT(phase, HasSubstr(want));
  EXPECT_THAT(log, HasSubstr("TLS: refused server: " + want));
  EXPECT_THAT(log, HasSubstr("recovery: persistor at " + impostor_addr));
  absl::SleepFor(absl::Seconds(2));  // and it stays so
  auto st = stack_->GraphStatus(false, graph_port);
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_NE(st->role(), v1::ACTIVE);
  // vitrage-ctl checks the same for the graph it is pointed at.
  int rc = 0;
  std::string out = Run({Binary("graph_service/vitrage-ctl"), "--config", stack_->conf_path(),
                         "--graph", impostor_addr, "--timeout", "5", "status"},
                        &rc);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_THAT(out, HasSubstr(absl::StrCat("server at ", impostor_addr,
                                          " presented spiffe://vitrage/reader, expected "
                                          "spiffe://vitrage/graph")));
  EXPECT_EQ(impostor.calls, 0) << "a call reached the impostor";
  graph->Stop(absl::Seconds(5));
  server->Shutdown();
  // The stack's own graph did not notice.
  auto main_graph = stack_->GraphStatus();
  ASSERT_TRUE(main_graph.ok());
  EXPECT_EQ(main_graph->role(), v1::ACTIVE);
}

TEST_F(SecurityTest, ConfigWithoutCertificatesOrExplicitPlaintextDoesNotStart) {
  std::string conf = *dir_ + "/no-ssl.conf";
  std::ofstream(conf) << "[collector]\nlisten_address = 127.0.0.1:" << PickFreePort() << "\n";
  auto p = Process::Start({Binary("collector/vitrage-collector"), "--config", conf},
                          *dir_ + "/no-ssl.log");
  ASSERT_TRUE(p.ok());
  auto code = p->Wait(absl::Seconds(30));
  ASSERT_TRUE(code.ok());
  EXPECT_TRUE(WIFEXITED(*code) && WEXITSTATUS(*code) == 2) << *code;
  EXPECT_THAT(ReadFileOrEmpty(*dir_ + "/no-ssl.log"),
              HasSubstr("allow_plaintext = true for local development"));

  std::ofstream(conf) << "[collector]\nlisten_address = 127.0.0.1:" << PickFreePort()
                      << "\n[ssl]\nallow_plaintext = true\n";
  p = Process::Start({Binary("collector/vitrage-collector"), "--config", conf},
                     *dir_ + "/plain.log");
  ASSERT_TRUE(p.ok());
  absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (ReadFileOrEmpty(*dir_ + "/plain.log").find("PLAINTEXT") == std::string::npos &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_THAT(ReadFileOrEmpty(*dir_ + "/plain.log"),
              HasSubstr("PLAINTEXT gRPC, no authentication, no role checks"));
  p->Stop(absl::Seconds(5));
}

}  // namespace
}  // namespace vitrage::testing
