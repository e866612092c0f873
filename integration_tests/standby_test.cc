// Hot standby (issue 11) over the real binaries: a vitrage-graph started
// with --standby follows the persistor's log, serves read-only, and takes
// over on Promote; the old active is fenced.
//
// The collector reaches the graph through a small TCP forwarder in this
// test (a stand-in for the virtual IP pacemaker would move), so its events
// can flow to whichever graph is active.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/grpc_util.h"
#include "common/testing/tcp_pipe.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "integration_tests/stack.h"

namespace vitrage::testing {
namespace {

using ::testing::HasSubstr;

// Accepts on 127.0.0.1:port() and pipes each connection to 127.0.0.1:target.
// Retarget() changes the target and cuts the open connections, so clients
// reconnect to the new one.
class Forwarder {
 public:
  explicit Forwarder(int target) : target_(target) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    socklen_t len = sizeof(a);
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    listen(listen_fd_, 64);
    acceptor_ = std::thread([this] { Accept(); });
  }
  ~Forwarder() {
    stop_ = true;
    shutdown(listen_fd_, SHUT_RDWR);
    close(listen_fd_);
    acceptor_.join();
    CutAll();
    for (auto& t : pipes_) t.join();
  }
  int port() const { return port_; }
  void Retarget(int target) {
    target_ = target;
    CutAll();
  }

 private:
  void CutAll() {
    std::lock_guard<std::mutex> l(mu_);
    for (int fd : open_) shutdown(fd, SHUT_RDWR);
  }
  void Accept() {
    while (!stop_) {
      int c = accept(listen_fd_, nullptr, nullptr);
      if (c < 0) {
        if (stop_) return;
        continue;
      }
      int u = socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      a.sin_port = htons(target_.load());
      if (connect(u, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
        close(c);
        close(u);
        continue;
      }
      std::lock_guard<std::mutex> l(mu_);
      open_.insert(c);
      open_.insert(u);
      pipes_.emplace_back([this, c, u] { Pipe(c, u); });
    }
  }
  void Pipe(int a, int b) {
    PumpBytes(a, b, &stop_);
    std::lock_guard<std::mutex> l(mu_);
    open_.erase(a);
    open_.erase(b);
    close(a);
    close(b);
  }

  std::atomic<int> target_;
  std::atomic<bool> stop_{false};
  int listen_fd_ = -1;
  int port_ = 0;
  std::thread acceptor_;
  std::mutex mu_;
  std::set<int> open_;
  std::vector<std::thread> pipes_;
};

absl::StatusOr<Process> SpawnStandby(Stack& stack, int port, const std::string& name) {
  return Process::Start({Binary("graph_service/vitrage-graph"), "--config",
                         stack.conf_path("graph"), "--listen", absl::StrCat("127.0.0.1:", port),
                         "--metrics", absl::StrCat("127.0.0.1:", PickFreePort()), "--standby"},
                        stack.log(name));
}

// Waits until the graph on `port` is STANDBY with applied seq >= seq.
absl::StatusOr<v1::GraphStatus> WaitStandbyAt(Stack& stack, int port, uint64_t seq,
                                              const std::string& name,
                                              absl::Duration timeout = absl::Seconds(60)) {
  absl::Time deadline = absl::Now() + timeout;
  std::string last;
  while (absl::Now() < deadline) {
    auto st = stack.GraphStatus(false, port);
    if (st.ok()) {
      if (st->role() == v1::STANDBY && st->applied_seq() >= seq) return *st;
      last = absl::StrCat(v1::GraphRole_Name(st->role()), " ", st->phase(), " at seq ",
                          st->applied_seq());
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  return absl::DeadlineExceededError(
      absl::StrCat("standby not at seq ", seq, " (", last, ")\n", stack.LogTail(name)));
}

uint64_t ActiveSeq(Stack& stack) {
  auto st = stack.GraphStatus();
  EXPECT_TRUE(st.ok()) << st.status();
  return st.ok() ? st->applied_seq() : 0;
}

std::string Digest(Stack& stack, int port = 0) {
  auto st = stack.GraphStatus(true, port);
  EXPECT_TRUE(st.ok()) << st.status();
  return st.ok() ? st->digest() : "";
}

// Pushes `n` passthrough events (source "test", seqs first..first+n-1).
grpc::Status PushTestEvents(v1::Graph::Stub* stub, uint64_t first, int n) {
  v1::PushEventsRequest req;
  for (int i = 0; i < n; ++i) {
    auto* ev = req.add_events();
    ev->set_source("test");
    ev->set_source_seq(first + i);
    ev->set_json(absl::StrCat(
        R"({"vitrage_entity_type": "vitrage.passthrough", "vitrage_datasource_action": "update",)"
        R"( "vitrage_sample_date": "2026-11-30T10:00:00Z", "ops": [{"op": "set_vertex",)"
        R"( "id": "test-)",
        first + i, R"(", "props": {"vitrage_id": "test-)", first + i, R"("}}]})"));
  }
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
  v1::PushEventsResponse resp;
  return stub->PushEvents(&ctx, req, &resp);
}

grpc::health::v1::HealthCheckResponse::ServingStatus Health(int port, const std::string& service) {
  auto stub = grpc::health::v1::Health::NewStub(
      MakeChannel(absl::StrCat("127.0.0.1:", port), ServerRole::kGraph));
  auto st = CheckHealth(stub.get(), service, absl::Seconds(5));
  return st.ok() ? *st : grpc::health::v1::HealthCheckResponse::UNKNOWN;
}

absl::StatusOr<v1::PromoteResponse> Promote(Stack& stack, int port) {
  auto stub = stack.GraphStub(port);
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
  v1::PromoteResponse resp;
  grpc::Status st = stub->Promote(&ctx, v1::PromoteRequest(), &resp);
  if (!st.ok()) return FromGrpcStatus(st);
  return resp;
}

TEST(StandbyTest, StandbyFollowsTheLogServesReadOnlyAndNeverFences) {
  StackOptions o;
  o.change_rate = 2000;
  o.max_changes = 300;
  Stack stack(o);
  {
    absl::Status started = stack.Start();
    ASSERT_TRUE(started.ok()) << started << stack.LogTail("persistor") << stack.LogTail("graph");
  }
  ASSERT_TRUE(stack.WaitCollectorDrained(absl::Seconds(60)).ok());
  auto epoch_before = stack.PersistorStatus();
  ASSERT_TRUE(epoch_before.ok());

  int port = PickFreePort();
  auto standby = SpawnStandby(stack, port, "standby");
  ASSERT_TRUE(standby.ok()) << standby.status();
  auto st = WaitStandbyAt(stack, port, ActiveSeq(stack), "standby");
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(Digest(stack, port), Digest(stack));
  EXPECT_GT(st->vertex_count(), 0u);

  // New events on the active reach the standby.
  auto active = stack.GraphStub();
  ASSERT_TRUE(PushTestEvents(active.get(), 1, 50).ok());
  st = WaitStandbyAt(stack, port, ActiveSeq(stack), "standby");
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->standby_lag_records(), 0u);
  EXPECT_EQ(st->standby_durable_seq(), st->applied_seq());
  EXPECT_EQ(Digest(stack, port), Digest(stack));

  // Read-only: queries work, writes are refused naming the role.
  auto sb = stack.GraphStub(port);
  {
    grpc::ClientContext ctx;
    v1::GetVertexRequest req;
    req.set_id("test-50");
    v1::GetVertexResponse resp;
    ASSERT_TRUE(sb->GetVertex(&ctx, req, &resp).ok());
    EXPECT_EQ(resp.vertex().id(), "test-50");
  }
  grpc::Status push = PushTestEvents(sb.get(), 51, 1);
  EXPECT_EQ(push.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(push.error_message(), HasSubstr("STANDBY"));
  {
    grpc::ClientContext ctx;
    v1::TakeSnapshotResponse resp;
    EXPECT_EQ(sb->TakeSnapshot(&ctx, v1::TakeSnapshotRequest(), &resp).error_code(),
              grpc::StatusCode::UNAVAILABLE);
  }
  // Health: the standby name on the standby, the graph name on the active.
  using HS = grpc::health::v1::HealthCheckResponse;
  EXPECT_EQ(Health(port, "vitrage.v1.Graph.standby"), HS::SERVING);
  EXPECT_EQ(Health(port, "vitrage.v1.Graph"), HS::NOT_SERVING);
  EXPECT_EQ(Health(port, ""), HS::NOT_SERVING);
  EXPECT_EQ(Health(stack.graph_port(), "vitrage.v1.Graph"), HS::SERVING);
  EXPECT_EQ(Health(stack.graph_port(), "vitrage.v1.Graph.standby"), HS::NOT_SERVING);

  // The standby took no epoch: the active still writes.
  auto ps = stack.PersistorStatus();
  ASSERT_TRUE(ps.ok());
  EXPECT_EQ(ps->epoch(), epoch_before->epoch());
  ASSERT_TRUE(PushTestEvents(active.get(), 51, 1).ok());
  EXPECT_TRUE(stack.graph().Wait(absl::Milliseconds(1)).status().code() ==
              absl::StatusCode::kDeadlineExceeded)
      << "the active exited";
}

TEST(StandbyTest, StandbyLagsWhilePausedOrCutOffAndCatchesUp) {
  Stack stack(StackOptions{});
  {
    absl::Status started = stack.Start();
    ASSERT_TRUE(started.ok()) << started << stack.LogTail("persistor") << stack.LogTail("graph");
  }
  int port = PickFreePort();
  auto standby = SpawnStandby(stack, port, "standby");
  ASSERT_TRUE(standby.ok());
  ASSERT_TRUE(WaitStandbyAt(stack, port, ActiveSeq(stack), "standby").ok());
  auto active = stack.GraphStub();

  // Paused: the log moves on without it.
  ASSERT_EQ(standby->Signal(SIGSTOP), 0);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(PushTestEvents(active.get(), 1 + i * 50, 50).ok());
  const uint64_t target = ActiveSeq(stack);
  ASSERT_EQ(standby->Signal(SIGCONT), 0);
  auto st = WaitStandbyAt(stack, port, target, "standby");
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->applied_seq(), target);
  EXPECT_EQ(Digest(stack, port), Digest(stack));

  // Cut off: the persistor dies (kill -9) and comes back; the standby
  // reconnects from its applied seq.
  stack.persistor().Kill9();
  ASSERT_TRUE(stack.StartPersistor().ok()) << stack.LogTail("persistor");
  for (int i = 0; i < 5; ++i) {
    grpc::Status s = PushTestEvents(active.get(), 1001 + i * 20, 20);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  const uint64_t target2 = ActiveSeq(stack);
  st = WaitStandbyAt(stack, port, target2, "standby");
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(Digest(stack, port), Digest(stack));
  EXPECT_THAT(stack.LogTail("standby", 20000), HasSubstr("reconnecting from seq"));
}

TEST(StandbyTest, PromoteTakesOverTheDurableStateFencesTheOldActiveAndEventsFlow) {
  // The collector pushes through the forwarder (first to the stack's graph).
  // The Stack picks the graph port: retarget once it is known.
  auto vip = std::make_unique<Forwarder>(0);
  StackOptions o;
  o.change_rate = 400;
  o.max_changes = 1600;  // about 4 s of changes, across the promote
  o.collector_graph_address = absl::StrCat("127.0.0.1:", vip->port());
  Stack stack(o);
  vip->Retarget(stack.graph_port());
  {
    absl::Status started = stack.Start();
    ASSERT_TRUE(started.ok()) << started << stack.LogTail("persistor") << stack.LogTail("graph");
  }
  int port = PickFreePort();
  auto standby = SpawnStandby(stack, port, "standby");
  ASSERT_TRUE(standby.ok());
  ASSERT_TRUE(WaitStandbyAt(stack, port, 1, "standby").ok());
  absl::SleepFor(absl::Seconds(1));  // changes flowing

  // The active stops mid-stream. A batch it had already sent may still be
  // committed by the persistor: its durable state is frozen once the
  // persistor's durable seq stays the same for half a second.
  ASSERT_EQ(stack.graph().Signal(SIGSTOP), 0);
  auto ps = stack.PersistorStatus();
  ASSERT_TRUE(ps.ok());
  for (int stable = 0; stable < 5;) {
    absl::SleepFor(absl::Milliseconds(100));
    auto again = stack.PersistorStatus();
    ASSERT_TRUE(again.ok());
    stable = again->durable_seq() == ps->durable_seq() ? stable + 1 : 0;
    ps = again;
  }
  const uint64_t durable = ps->durable_seq();
  auto sb = WaitStandbyAt(stack, port, durable, "standby");
  ASSERT_TRUE(sb.ok()) << sb.status();
  const std::string durable_digest = Digest(stack, port);

  auto promoted = Promote(stack, port);
  ASSERT_TRUE(promoted.ok()) << promoted.status() << stack.LogTail("standby");
  EXPECT_FALSE(promoted->already_active());
  EXPECT_GT(promoted->epoch(), ps->epoch());
  EXPECT_GT(promoted->timings().promote_total_ms(), 0);
  auto now = stack.GraphStatus(true, port);
  ASSERT_TRUE(now.ok());
  EXPECT_EQ(now->role(), v1::ACTIVE);
  EXPECT_EQ(now->applied_seq(), durable);
  EXPECT_EQ(now->digest(), durable_digest);
  std::printf("promote: %.2f ms (epoch %.2f, catch-up %.2f of %llu records, evaluator %.2f)\n",
              now->recovery().promote_total_ms(), now->recovery().promote_epoch_ms(),
              now->recovery().promote_catch_up_ms(),
              static_cast<unsigned long long>(now->recovery().promote_records()),
              now->recovery().promote_evaluator_ms());
  using HS = grpc::health::v1::HealthCheckResponse;
  EXPECT_EQ(Health(port, "vitrage.v1.Graph"), HS::SERVING);
  EXPECT_EQ(Health(port, "vitrage.v1.Graph.standby"), HS::NOT_SERVING);
  // Promote again: nothing to do.
  auto again = Promote(stack, port);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->already_active());

  // The collector's events now go to the new active.
  vip->Retarget(port);

  // The old active wakes up and tries to write: fenced, exits 3, nothing of
  // it is stored.
  ASSERT_EQ(stack.graph().Signal(SIGCONT), 0);
  grpc::Status stale = PushTestEvents(stack.GraphStub().get(), 1, 1);
  EXPECT_FALSE(stale.ok()) << "a fenced graph must not ack";
  auto code = stack.graph().Wait(absl::Seconds(30));
  ASSERT_TRUE(code.ok()) << "fenced graph did not exit\n" << stack.LogTail("graph");
  EXPECT_TRUE(WIFEXITED(*code) && WEXITSTATUS(*code) == 3) << *code;

  ASSERT_TRUE(stack.WaitCollectorDrained(absl::Seconds(90)).ok()) << stack.LogTail("standby");
  auto c = stack.CollectorStatus(true);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->acked_source_seq(), c->last_source_seq());
  auto g = stack.GraphStatus(true, port);
  ASSERT_TRUE(g.ok());
  EXPECT_GT(g->applied_seq(), durable) << "no events reached the new active";
  EXPECT_EQ(g->digest(), c->model_digest());
  auto once = stack.CheckExactlyOnce(*c);
  ASSERT_TRUE(once.ok()) << once.status();
  EXPECT_EQ(once->lost, 0u);
  EXPECT_EQ(once->doubled, 0u);
  // Every record after the promote carries the new epoch.
  auto pstub = stack.PersistorStub();
  grpc::ClientContext rctx;
  v1::ReadLogRequest rreq;
  rreq.set_after_seq(durable);
  auto reader = pstub->ReadLog(&rctx, rreq);
  v1::ReadLogResponse rresp;
  uint64_t after = 0;
  while (reader->Read(&rresp)) {
    for (const auto& r : rresp.records()) {
      EXPECT_EQ(r.epoch(), promoted->epoch()) << "record " << r.seq();
      ++after;
    }
  }
  EXPECT_TRUE(reader->Finish().ok());
  EXPECT_EQ(after, g->applied_seq() - durable);
}

TEST(StandbyTest, StandbyKilledDuringPromoteTheNextOnePromotesAndNothingIsLost) {
  std::unique_ptr<Forwarder> vip = std::make_unique<Forwarder>(0);
  StackOptions o;
  o.change_rate = 400;
  o.max_changes = 1200;
  o.collector_graph_address = absl::StrCat("127.0.0.1:", vip->port());
  Stack stack(o);
  vip->Retarget(stack.graph_port());
  {
    absl::Status started = stack.Start();
    ASSERT_TRUE(started.ok()) << started << stack.LogTail("persistor") << stack.LogTail("graph");
  }
  int port1 = PickFreePort();
  int port2 = PickFreePort();
  auto s1 = SpawnStandby(stack, port1, "standby-1");
  auto s2 = SpawnStandby(stack, port2, "standby-2");
  ASSERT_TRUE(s1.ok() && s2.ok());
  ASSERT_TRUE(WaitStandbyAt(stack, port1, 1, "standby-1").ok());
  ASSERT_TRUE(WaitStandbyAt(stack, port2, 1, "standby-2").ok());
  absl::SleepFor(absl::Seconds(1));
  ASSERT_EQ(stack.graph().Signal(SIGSTOP), 0);  // the active dies (paused)

  // The first standby is killed while it promotes.
  std::thread promote1([&] { (void)Promote(stack, port1); });
  absl::SleepFor(absl::Milliseconds(2));
  s1->Kill9();
  promote1.join();

  auto promoted = Promote(stack, port2);
  ASSERT_TRUE(promoted.ok()) << promoted.status() << stack.LogTail("standby-2");
  vip->Retarget(port2);
  stack.graph().Kill9();  // the old active is gone for good

  ASSERT_TRUE(stack.WaitCollectorDrained(absl::Seconds(90)).ok()) << stack.LogTail("standby-2");
  auto c = stack.CollectorStatus(true);
  ASSERT_TRUE(c.ok());
  auto g = stack.GraphStatus(true, port2);
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->role(), v1::ACTIVE);
  EXPECT_EQ(g->digest(), c->model_digest());
  auto once = stack.CheckExactlyOnce(*c);
  ASSERT_TRUE(once.ok()) << once.status();
  EXPECT_EQ(once->lost, 0u);
  EXPECT_EQ(once->doubled, 0u);
  EXPECT_EQ(c->acked(), c->last_source_seq());
}

// A log stream that goes silent (the persistor the standby follows hangs:
// SIGSTOP) is cancelled after [graph] standby_stream_timeout and reopened;
// once the persistor runs again the standby catches up. The active writes
// through another persistor on the same database meanwhile.
TEST(StandbyTest, SilentLogStreamIsCancelledReopenedAndCatchesUp) {
  StackOptions o;
  o.conf = {{"graph", "standby_stream_timeout = 2"}};
  Stack stack(o);
  {
    absl::Status started = stack.Start();
    ASSERT_TRUE(started.ok()) << started << stack.LogTail("persistor") << stack.LogTail("graph");
  }
  const int p2_port = PickFreePort();
  auto p2 = stack.SpawnPersistor(p2_port, stack.db().url(), "-2");
  ASSERT_TRUE(p2.ok()) << p2.status();
  int port = PickFreePort();
  auto standby = Process::Start(
      {Binary("graph_service/vitrage-graph"), "--config", stack.conf_path("graph"), "--listen",
       absl::StrCat("127.0.0.1:", port), "--metrics", absl::StrCat("127.0.0.1:", PickFreePort()),
       "--persistor", absl::StrCat("127.0.0.1:", p2_port), "--standby"},
      stack.log("standby"));
  ASSERT_TRUE(standby.ok()) << standby.status();
  ASSERT_TRUE(WaitStandbyAt(stack, port, ActiveSeq(stack), "standby").ok());

  ASSERT_EQ(p2->Signal(SIGSTOP), 0);
  auto active = stack.GraphStub();
  ASSERT_TRUE(PushTestEvents(active.get(), 1, 50).ok());
  const uint64_t target = ActiveSeq(stack);
  absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (absl::Now() < deadline &&
         stack.LogTail("standby", 20000).find("nothing from the persistor") == std::string::npos) {
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_THAT(stack.LogTail("standby", 20000), HasSubstr("cancelling it and reconnecting"));
  auto lagging = stack.GraphStatus(false, port);
  ASSERT_TRUE(lagging.ok());
  EXPECT_LT(lagging->applied_seq(), target);
  ASSERT_EQ(p2->Signal(SIGCONT), 0);
  auto st = WaitStandbyAt(stack, port, target, "standby", absl::Seconds(30));
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(Digest(stack, port), Digest(stack));
  EXPECT_THAT(stack.LogTail("standby", 20000), HasSubstr("reconnecting from seq"));
}

// Snapshots by the standby: with snapshot_interval = 2 s, the standby
// stores them (from_standby), the active skips its periodic ones, and a
// cold recovery (both graphs killed) loads the standby's snapshot and ends
// with the active's digest.
TEST(StandbyTest, StandbyTakesThePeriodicSnapshotsTheActiveSkipsAndRecoveryUsesThem) {
  StackOptions o;
  o.conf = {{"persistency", "snapshot_interval = 2"}};
  Stack stack(o);
  {
    absl::Status started = stack.Start();
    ASSERT_TRUE(started.ok()) << started << stack.LogTail("persistor") << stack.LogTail("graph");
  }
  int port = PickFreePort();
  auto standby = SpawnStandby(stack, port, "standby");
  ASSERT_TRUE(standby.ok()) << standby.status();
  ASSERT_TRUE(WaitStandbyAt(stack, port, ActiveSeq(stack), "standby").ok());
  auto active = stack.GraphStub();
  // Events for about 6 s (three intervals).
  for (int i = 0; i < 12; ++i) {
    grpc::Status s = PushTestEvents(active.get(), 1 + i * 10, 10);
    ASSERT_TRUE(s.ok()) << s.error_message();
    absl::SleepFor(absl::Milliseconds(500));
  }
  const uint64_t target = ActiveSeq(stack);
  ASSERT_TRUE(WaitStandbyAt(stack, port, target, "standby").ok());
  // The standby stores one at the final seq within an interval or two.
  uint64_t snapshot_id = 0;
  absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (snapshot_id == 0 && absl::Now() < deadline) {
    auto ps = stack.PersistorStatus();
    ASSERT_TRUE(ps.ok()) << ps.status();
    if (ps->snapshots_size() > 0 && ps->snapshots(0).from_standby() &&
        ps->snapshots(0).seq() == target) {
      snapshot_id = ps->snapshots(0).snapshot_id();
      // The newest two kept snapshots are both the standby's.
      ASSERT_EQ(ps->snapshots_size(), 2);
      EXPECT_TRUE(ps->snapshots(1).from_standby());
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
  ASSERT_NE(snapshot_id, 0u) << stack.LogTail("standby") << stack.LogTail("graph");
  EXPECT_THAT(stack.LogTail("standby", 20000), HasSubstr("standby snapshot "));
  EXPECT_THAT(stack.LogTail("graph", 20000),
              HasSubstr("periodic snapshot skipped: the hot standby stored snapshot"));
  // The standby stays a standby; the active was not fenced.
  auto sst = stack.GraphStatus(false, port);
  ASSERT_TRUE(sst.ok());
  EXPECT_EQ(sst->role(), v1::STANDBY);
  ASSERT_TRUE(PushTestEvents(active.get(), 1000, 1).ok());
  const uint64_t final_seq = ActiveSeq(stack);
  const std::string digest = Digest(stack);

  // Both graphs die; a new one recovers from the standby's snapshot.
  standby->Kill9();
  stack.graph().Kill9();
  ASSERT_TRUE(stack.StartGraph().ok()) << stack.LogTail("graph");
  ASSERT_TRUE(stack.WaitGraphActive(absl::Seconds(60)).ok()) << stack.LogTail("graph");
  auto st = stack.GraphStatus(true);
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->role(), v1::ACTIVE);
  EXPECT_EQ(st->recovery().snapshot_id(), snapshot_id);
  EXPECT_EQ(st->recovery().snapshot_seq(), target);
  EXPECT_EQ(st->recovery().records_replayed(), final_seq - target);
  EXPECT_EQ(st->applied_seq(), final_seq);
  EXPECT_EQ(st->digest(), digest);
}

}  // namespace
}  // namespace vitrage::testing
