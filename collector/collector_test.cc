// The collector: GetAll reproduces the state, the outbox delivers every
// event exactly once in effect across receiver restarts, back-pressure.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <deque>
#include <fstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "collector/collector_service.h"
#include "common/grpc_util.h"
#include "common/testing/process.h"
#include "common/testing/test_dirs.h"
#include "graph_service/graph/digest.h"
#include "graph_service/processor/passthrough_event.h"
#include "graph_service/snapshot/snapshot.h"
#include "nlohmann/json.hpp"

namespace vitrage::collector {
namespace {

using ::testing::HasSubstr;

// A generated workload file (build/workload/, make_workload).
std::string Workload(const std::string& name) { return testing::WorkloadDir() + name; }

std::string MetaField(const std::string& meta, const std::string& field) {
  std::ifstream in(Workload(meta));
  nlohmann::json j;
  in >> j;
  return j[field].get<std::string>();
}

std::string MetaDigest(const std::string& meta) { return MetaField(meta, "digest"); }

// A stand-in receiver for PushEvents that applies pass-through events to
// its own graph, like the graph's pass-through transformer, with the same
// per-source dedupe rule. Can be told to fail or to hang.
class Receiver final : public v1::Graph::Service {
 public:
  grpc::Status PushEvents(grpc::ServerContext*, const v1::PushEventsRequest* req,
                          v1::PushEventsResponse* resp) override {
    absl::MutexLock l(&mu_);
    ++calls_;
    return ApplyLocked(req, resp);
  }

  // Without set_stream(true): UNIMPLEMENTED, as a graph without the RPC
  // (the outbox falls back to PushEvents). With it: requests applied in
  // order as they are read; the responses are written by a second thread,
  // each `ack_delay` late, so a pipelining client has several requests in
  // flight (max_in_flight() records how many). After `fail_after`
  // requests on a stream it ends the stream with UNAVAILABLE (their
  // responses unsent).
  grpc::Status PushEventStream(
      grpc::ServerContext* ctx,
      grpc::ServerReaderWriter<v1::PushEventsResponse, v1::PushEventsRequest>* stream) override {
    int fail_after;
    {
      absl::MutexLock l(&mu_);
      if (!stream_) return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "no stream here");
      ++streams_;
      fail_after = fail_after_;
    }
    std::deque<v1::PushEventsResponse> out;
    int unanswered = 0;  // read, response not written yet
    bool done = false;
    absl::Mutex qmu;
    std::thread writer([&] {
      while (true) {
        v1::PushEventsResponse r;
        {
          absl::MutexLock l(&qmu);
          auto ready = [&] { return !out.empty() || done; };
          qmu.Await(absl::Condition(&ready));
          if (out.empty()) return;
          r = std::move(out.front());
          out.pop_front();
        }
        absl::SleepFor(absl::Milliseconds(5));
        {
          absl::MutexLock l(&qmu);
          --unanswered;  // before the client can see the response
        }
        if (!stream->Write(r)) return;
      }
    });
    grpc::Status st = grpc::Status::OK;
    v1::PushEventsRequest req;
    int n = 0;
    while (stream->Read(&req)) {
      if (fail_after > 0 && ++n > fail_after) {
        st = grpc::Status(grpc::StatusCode::UNAVAILABLE, "stream cut by the test");
        ctx->TryCancel();
        break;
      }
      v1::PushEventsResponse resp;
      {
        absl::MutexLock l(&mu_);
        ++calls_;
        st = ApplyLocked(&req, &resp);
      }
      if (!st.ok()) break;
      absl::MutexLock l(&qmu);
      out.push_back(resp);
      ++unanswered;
      absl::MutexLock l2(&mu_);
      max_in_flight_ = std::max(max_in_flight_, unanswered);
    }
    {
      absl::MutexLock l(&qmu);
      if (!st.ok()) out.clear();
      done = true;
    }
    writer.join();
    return st;
  }
  void set_stream(bool on, int fail_after = 0) {
    absl::MutexLock l(&mu_);
    stream_ = on;
    fail_after_ = fail_after;
  }
  int streams() {
    absl::MutexLock l(&mu_);
    return streams_;
  }
  int max_in_flight() {
    absl::MutexLock l(&mu_);
    return max_in_flight_;
  }

  grpc::Status ApplyLocked(const v1::PushEventsRequest* req, v1::PushEventsResponse* resp)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (fail_) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "recovering");
    uint32_t applied = 0, dup = 0;
    for (const auto& ev : req->events()) {
      if (ev.source_seq() != 0) {  // 0: no dedupe (get_all)
        uint64_t& mark = marks_[ev.source()];
        if (ev.source_seq() <= mark) {
          ++dup;
          continue;
        }
        if (ev.source_seq() != mark + 1) {
          return grpc::Status(grpc::StatusCode::INTERNAL, "skipped a seq");
        }
        mark = ev.source_seq();
      }
      auto ops = processor::DecodePassthrough(ev.fields());
      if (!ops.ok()) return ToGrpcStatus(ops.status());
      if (auto s = model_.Apply(*ops); !s.ok()) return ToGrpcStatus(s);
      ++applied;
    }
    resp->set_applied(applied);
    resp->set_duplicates(dup);
    return grpc::Status::OK;
  }
  void set_fail(bool f) {
    absl::MutexLock l(&mu_);
    fail_ = f;
  }
  std::string digest() {
    absl::MutexLock l(&mu_);
    return graph::Digest(model_.graph());
  }
  int calls() {
    absl::MutexLock l(&mu_);
    return calls_;
  }

 private:
  absl::Mutex mu_;
  bool fail_ = false;
  bool stream_ = false;
  int fail_after_ = 0;
  int streams_ = 0;
  int max_in_flight_ = 0;
  int calls_ = 0;
  std::map<std::string, uint64_t> marks_;
  Model model_{0};
};

TEST(CollectorTest, GetAllOfA10kFileReproducesItsDigest) {
  auto model = std::make_unique<Model>(1);
  ASSERT_TRUE(model->LoadTopologyFile(Workload("graph_10k.jsonl.zst")).ok());
  CollectorService service(CollectorOptions{}, std::move(model), nullptr);
  int port = 0;
  auto server = StartServer("127.0.0.1:0", {&service}, &port);
  ASSERT_NE(server, nullptr);
  auto stub = v1::Collector::NewStub(
      MakeChannel("127.0.0.1:" + std::to_string(port), ServerRole::kCollector));
  grpc::ClientContext ctx;
  v1::GetAllRequest req;
  auto reader = stub->GetAll(&ctx, req);
  v1::GetAllResponse resp;
  Model rebuilt(0);
  int batches = 0;
  std::string source;
  while (reader->Read(&resp)) {
    ++batches;
    for (const auto& ev : resp.events()) {
      auto ops = processor::DecodePassthrough(ev.fields());
      ASSERT_TRUE(ops.ok()) << ops.status();
      ASSERT_TRUE(rebuilt.Apply(*ops).ok());
    }
    if (!resp.source().empty()) source = resp.source();
  }
  grpc::Status st = reader->Finish();
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_GT(batches, 1);
  EXPECT_EQ(source, "collector:default");
  EXPECT_EQ(graph::Digest(rebuilt.graph()), MetaDigest("graph_10k.meta.json"));
  server->Shutdown();
}

TEST(CollectorTest, TailEventsArePushedAsFullElementStates) {
  auto model = std::make_unique<Model>(1);
  ASSERT_TRUE(model->LoadTopologyFile(Workload("graph_1k.jsonl.zst")).ok());
  Receiver receiver;
  {  // the receiver starts from the same state
    grpc::ServerContext sctx;
    v1::PushEventsRequest seed;
    processor::EncodePassthrough(model->FullState(), "init_snapshot", "2026-11-30T00:00:00Z",
                                 seed.add_events()->mutable_fields());
    v1::PushEventsResponse sresp;
    ASSERT_TRUE(receiver.PushEvents(&sctx, &seed, &sresp).ok());
  }
  int port = 0;
  auto server = StartServer("127.0.0.1:0", {&receiver}, &port);
  CollectorService service(CollectorOptions{}, std::move(model),
                           MakeChannel("127.0.0.1:" + std::to_string(port), ServerRole::kGraph));
  ASSERT_TRUE(service.StartTail(Workload("events_1k_1000.jsonl.zst")).ok());
  ASSERT_TRUE(service.outbox().WaitAcked(1000, absl::Now() + absl::Seconds(60)));
  EXPECT_EQ(receiver.digest(), MetaField("events_1k_1000.meta.json", "final_graph_digest"));
  service.Shutdown();
  server->Shutdown();
}

TEST(CollectorTest, GetAllImageOfA10kFileReproducesItsDigest) {
  auto model = std::make_unique<Model>(1);
  ASSERT_TRUE(model->LoadTopologyFile(Workload("graph_10k.jsonl.zst")).ok());
  CollectorService service(CollectorOptions{}, std::move(model), nullptr);
  service.Start();  // encodes the first image ahead of time
  int port = 0;
  auto server = StartServer("127.0.0.1:0", {&service}, &port);
  auto stub = v1::Collector::NewStub(
      MakeChannel("127.0.0.1:" + std::to_string(port), ServerRole::kCollector));
  for (int round = 0; round < 2; ++round) {  // the second comes from the cache
    grpc::ClientContext ctx;
    v1::GetAllRequest req;
    req.set_accept_image(true);
    auto reader = stub->GetAll(&ctx, req);
    v1::GetAllResponse resp;
    snapshot::SnapshotDecoder decoder;
    int chunks = 0;
    std::string source;
    while (reader->Read(&resp)) {
      EXPECT_EQ(resp.events_size(), 0);
      ASSERT_TRUE(resp.has_image_chunk());
      if (chunks == 0) {
        ASSERT_TRUE(resp.has_image_header());
        ASSERT_TRUE(decoder.Begin(resp.image_header()).ok());
      } else {
        EXPECT_FALSE(resp.has_image_header());
      }
      ASSERT_TRUE(decoder.AddChunk(resp.image_chunk()).ok());
      ++chunks;
      if (!resp.source().empty()) source = resp.source();
    }
    ASSERT_TRUE(reader->Finish().ok());
    ASSERT_TRUE(decoder.Finish().ok());
    EXPECT_GT(chunks, 1);
    EXPECT_EQ(source, "collector:default");
    graph::Graph g = decoder.TakeGraph();
    EXPECT_EQ(graph::Digest(g), MetaDigest("graph_10k.meta.json"));
  }
  server->Shutdown();
  service.Shutdown();
}

TEST(CollectorTest, GetAllImageCanBeTurnedOff) {
  auto model = std::make_unique<Model>(1);
  ASSERT_TRUE(model->LoadTopologyFile(Workload("graph_1k.jsonl.zst")).ok());
  CollectorOptions opts;
  opts.get_all_image = false;
  CollectorService service(opts, std::move(model), nullptr);
  int port = 0;
  auto server = StartServer("127.0.0.1:0", {&service}, &port);
  auto stub = v1::Collector::NewStub(
      MakeChannel("127.0.0.1:" + std::to_string(port), ServerRole::kCollector));
  grpc::ClientContext ctx;
  v1::GetAllRequest req;
  req.set_accept_image(true);
  auto reader = stub->GetAll(&ctx, req);
  v1::GetAllResponse resp;
  int events = 0;
  while (reader->Read(&resp)) {
    EXPECT_FALSE(resp.has_image_chunk());
    events += resp.events_size();
  }
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_GT(events, 0);
  server->Shutdown();
}

// The outbox pipelines requests on PushEventStream and, when the stream is
// cut with requests in flight, sends everything unacked again on a new
// stream: the receiver (which refuses a skipped seq) ends with the
// collector's state, every event applied once.
TEST(CollectorTest, OutboxStreamPipelinesAndResendsAfterACut) {
  auto model = std::make_unique<Model>(3);
  ASSERT_TRUE(model->LoadTopologyFile(Workload("graph_1k.jsonl.zst")).ok());
  Receiver receiver;
  {
    grpc::ServerContext sctx;
    v1::PushEventsRequest seed;
    processor::EncodePassthrough(model->FullState(), "init_snapshot", "2026-11-30T00:00:00Z",
                                 seed.add_events()->mutable_fields());
    v1::PushEventsResponse sresp;
    ASSERT_TRUE(receiver.PushEvents(&sctx, &seed, &sresp).ok());
  }
  receiver.set_stream(true, /*fail_after=*/15);
  int port = 0;
  auto server = StartServer("127.0.0.1:0", {&receiver}, &port);
  CollectorOptions opts;
  opts.outbox.batch_size = 10;
  opts.outbox.window = 4;
  opts.outbox.min_backoff = absl::Milliseconds(10);
  opts.outbox.max_backoff = absl::Milliseconds(50);
  CollectorService service(opts, std::move(model),
                           MakeChannel("127.0.0.1:" + std::to_string(port), ServerRole::kGraph));
  ASSERT_TRUE(service.StartTail(Workload("events_1k_1000.jsonl.zst")).ok());
  ASSERT_TRUE(service.outbox().WaitAcked(1000, absl::Now() + absl::Seconds(60)));
  EXPECT_EQ(receiver.digest(), MetaField("events_1k_1000.meta.json", "final_graph_digest"));
  EXPECT_GT(receiver.streams(), 1);  // cut every 15 requests: several streams
  EXPECT_GT(receiver.max_in_flight(), 1);
  EXPECT_LE(receiver.max_in_flight(), 4);
  OutboxCounters c = service.outbox().counters();
  EXPECT_EQ(c.acked_seq, 1000u);
  EXPECT_EQ(c.pending, 0u);
  service.Shutdown();
  server->Shutdown();
}

// A graph that refuses, as the real one does, a whole request holding an
// event whose JSON body starts with "bad" (INVALID_ARGUMENT naming the event,
// or naming none when told so), and records the source_seqs it applies.
class Refuser final : public v1::Graph::Service {
 public:
  explicit Refuser(bool stream, bool name_events = true)
      : stream_(stream), name_events_(name_events) {}

  grpc::Status PushEvents(grpc::ServerContext*, const v1::PushEventsRequest* req,
                          v1::PushEventsResponse* resp) override {
    return Apply(*req, resp);
  }
  grpc::Status PushEventStream(
      grpc::ServerContext*,
      grpc::ServerReaderWriter<v1::PushEventsResponse, v1::PushEventsRequest>* stream) override {
    if (!stream_) return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "no stream here");
    v1::PushEventsRequest req;
    while (stream->Read(&req)) {
      v1::PushEventsResponse resp;
      grpc::Status st = Apply(req, &resp);
      if (!st.ok()) return st;
      if (!stream->Write(resp)) break;
    }
    return grpc::Status::OK;
  }
  std::vector<uint64_t> applied() {
    absl::MutexLock l(&mu_);
    return applied_;
  }
  int refusals() {
    absl::MutexLock l(&mu_);
    return refusals_;
  }

 private:
  grpc::Status Apply(const v1::PushEventsRequest& req, v1::PushEventsResponse* resp) {
    absl::MutexLock l(&mu_);
    for (int i = 0; i < req.events_size(); ++i) {
      const v1::Event& e = req.events(i);
      if (absl::StartsWith(e.json(), "bad")) {
        ++refusals_;
        return grpc::Status(
            grpc::StatusCode::INVALID_ARGUMENT,
            name_events_
                ? absl::StrCat("PushEvents: event ", i, " (source \"", e.source(), "\" seq ",
                               e.source_seq(), "): a bad body; nothing in this request was applied")
                : "a bad request");
      }
    }
    for (const v1::Event& e : req.events()) {
      if (e.source_seq() <= mark_) {
        resp->set_duplicates(resp->duplicates() + 1);
        continue;
      }
      mark_ = e.source_seq();
      applied_.push_back(e.source_seq());
      resp->set_applied(resp->applied() + 1);
    }
    return grpc::Status::OK;
  }

  const bool stream_;
  const bool name_events_;
  absl::Mutex mu_;
  uint64_t mark_ = 0;
  std::vector<uint64_t> applied_;
  int refusals_ = 0;
};

std::vector<std::string> ReadLines(const std::string& path) {
  std::vector<std::string> lines;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Events 7 and 13 of 20 are refused as invalid; the outbox sets each aside
// in the dead-letter file and every other event is applied once, in order.
void CheckDeadLettering(bool stream, bool name_events) {
  SCOPED_TRACE(absl::StrCat("stream ", stream, ", name_events ", name_events));
  Refuser graph(stream, name_events);
  int port = 0;
  auto server = StartServer("127.0.0.1:0", {&graph}, &port);
  auto dir = testing::MakeTempDir("dead-letter-test");
  ASSERT_TRUE(dir.ok());
  OutboxOptions o;
  o.source = "c:dl";
  o.batch_size = 4;
  o.window = 3;
  o.min_backoff = absl::Milliseconds(10);
  o.max_backoff = absl::Milliseconds(50);
  o.dead_letter_file = *dir + "/dead-letter.jsonl";
  std::vector<uint64_t> want;
  {
    Outbox outbox(o, MakeChannel("127.0.0.1:" + std::to_string(port), ServerRole::kGraph));
    for (uint64_t i = 1; i <= 20; ++i) {
      v1::Event e;
      bool bad = i == 7 || i == 13;
      e.set_json(bad ? absl::StrCat("bad ", i) : absl::StrCat("{\"n\": ", i, "}"));
      ASSERT_EQ(outbox.Add(e), i);
      if (!bad) want.push_back(i);
    }
    ASSERT_TRUE(outbox.WaitAcked(20, absl::Now() + absl::Seconds(30)));
    OutboxCounters c = outbox.counters();
    EXPECT_EQ(c.acked, 18u);
    EXPECT_EQ(c.dead_lettered, 2u);
    EXPECT_THAT(c.dead_lettered_seqs, ::testing::ElementsAre(7, 13));
    EXPECT_EQ(c.pending, 0u);
    EXPECT_EQ(c.acked_seq, 20u);
    // One ack latency sample per acked event; from_seq keeps the later ones.
    EXPECT_EQ(c.ack_samples, 18u);
    EXPECT_LE(c.ack_p50_ms, c.ack_p99_ms);
    EXPECT_LE(c.queued_p99_ms, c.ack_max_ms);
    EXPECT_EQ(outbox.counters(11).ack_samples, 9u);  // 11..20 without 13
    EXPECT_EQ(outbox.counters(21).ack_samples, 0u);
  }
  EXPECT_EQ(graph.applied(), want);
  std::vector<std::string> lines = ReadLines(o.dead_letter_file);
  ASSERT_EQ(lines.size(), 2u);
  for (int k = 0; k < 2; ++k) {
    const int seq = k == 0 ? 7 : 13;
    nlohmann::json j = nlohmann::json::parse(lines[k]);
    EXPECT_EQ(j["source"], "c:dl");
    EXPECT_EQ(j["source_seq"], seq);
    EXPECT_THAT(j["reason"].get<std::string>(), HasSubstr("bad"));
    EXPECT_EQ(j["event"]["json"], absl::StrCat("bad ", seq));
    EXPECT_EQ(j["event"]["sourceSeq"], std::to_string(seq));
  }
  server->Shutdown();
}

TEST(OutboxDeadLetterTest, StreamSetsAsideTheNamedEventAndGoesOn) {
  CheckDeadLettering(true, true);
}
TEST(OutboxDeadLetterTest, PushEventsSetsAsideTheNamedEventAndGoesOn) {
  CheckDeadLettering(false, true);
}
TEST(OutboxDeadLetterTest, RefusalNamingNoEventIsNarrowedOneEventPerRequest) {
  CheckDeadLettering(true, false);
}

TEST(CollectorTest, GetAllRejectsAnUnknownAction) {
  CollectorService service(CollectorOptions{}, std::make_unique<Model>(1), nullptr);
  int port = 0;
  auto server = StartServer("127.0.0.1:0", {&service}, &port);
  auto stub = v1::Collector::NewStub(
      MakeChannel("127.0.0.1:" + std::to_string(port), ServerRole::kCollector));
  grpc::ClientContext ctx;
  v1::GetAllRequest req;
  req.set_action("everything");
  auto reader = stub->GetAll(&ctx, req);
  v1::GetAllResponse resp;
  while (reader->Read(&resp)) {
  }
  grpc::Status st = reader->Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(st.error_message(), HasSubstr("everything"));
  server->Shutdown();
}

TEST(CollectorTest, OutboxDeliversEverythingOnceAcrossReceiverRestarts) {
  int port = testing::PickFreePort();
  std::string addr = "127.0.0.1:" + std::to_string(port);
  // The receiver starts with the collector's initial state, as a graph
  // that ran get_all would.
  auto model = std::make_unique<Model>(7);
  model->BuildSynthetic(SyntheticForHosts(4));
  Receiver receiver;
  CollectorOptions opts;
  opts.outbox.batch_size = 8;
  opts.outbox.max_backoff = absl::Milliseconds(100);
  CollectorService service(opts, std::move(model), MakeChannel(addr, ServerRole::kGraph));
  // Seed the receiver with the initial state through GetAll semantics.
  {
    int cport = 0;
    auto cserver = StartServer("127.0.0.1:0", {&service}, &cport);
    auto stub = v1::Collector::NewStub(
        MakeChannel("127.0.0.1:" + std::to_string(cport), ServerRole::kCollector));
    grpc::ClientContext ctx;
    auto reader = stub->GetAll(&ctx, v1::GetAllRequest());
    v1::GetAllResponse resp;
    v1::PushEventsRequest seed;
    while (reader->Read(&resp)) {
      for (const auto& ev : resp.events()) *seed.add_events() = ev;
    }
    ASSERT_TRUE(reader->Finish().ok());
    // GetAll events carry no source: apply them directly.
    grpc::ServerContext sctx;
    v1::PushEventsResponse sresp;
    ASSERT_TRUE(receiver.PushEvents(&sctx, &seed, &sresp).ok());
    cserver->Shutdown();
  }

  auto server = StartServer(addr, {&receiver}, &port);
  ASSERT_NE(server, nullptr);
  for (int i = 0; i < 100; ++i) ASSERT_GT(service.GenerateChange(), 0u);
  // The receiver goes away mid-stream; changes keep coming.
  server->Shutdown();
  server.reset();
  for (int i = 0; i < 100; ++i) ASSERT_GT(service.GenerateChange(), 0u);
  // And comes back on the same port, first refusing (recovering), then
  // taking events.
  receiver.set_fail(true);
  server = StartServer(addr, {&receiver}, &port);
  ASSERT_NE(server, nullptr);
  absl::SleepFor(absl::Milliseconds(300));
  receiver.set_fail(false);
  ASSERT_TRUE(service.outbox().WaitAcked(200, absl::Now() + absl::Seconds(30)));
  OutboxCounters c = service.outbox().counters();
  EXPECT_EQ(c.pending, 0u);
  EXPECT_EQ(c.acked_seq, 200u);
  EXPECT_GT(c.retries, 0u);

  grpc::ServerContext sctx;
  v1::CollectorStatusRequest sreq;
  sreq.set_with_digest(true);
  v1::CollectorStatus status;
  ASSERT_TRUE(service.GetStatus(&sctx, &sreq, &status).ok());
  EXPECT_EQ(receiver.digest(), status.model_digest());
  server->Shutdown();
  service.Shutdown();
}

TEST(CollectorTest, BackPressureHoldsTheGeneratorWhenTheGraphDoesNotAck) {
  Receiver receiver;
  receiver.set_fail(true);
  int port = 0;
  auto server = StartServer("127.0.0.1:0", {&receiver}, &port);
  CollectorOptions opts;
  opts.outbox.max_events = 20;
  opts.outbox.max_backoff = absl::Milliseconds(50);
  opts.change_rate = 1e7;  // as fast as possible
  auto model = std::make_unique<Model>(3);
  model->BuildSynthetic(SyntheticForHosts(2));
  CollectorService service(opts, std::move(model),
                           MakeChannel("127.0.0.1:" + std::to_string(port), ServerRole::kGraph));
  service.Start();
  absl::SleepFor(absl::Milliseconds(500));
  OutboxCounters c = service.outbox().counters();
  EXPECT_EQ(c.last_seq, 20u) << "the generator must stop at the outbox bound";
  EXPECT_EQ(c.pending, 20u);
  EXPECT_EQ(c.acked, 0u);
  EXPECT_GT(receiver.calls(), 0);
  service.Shutdown();
  server->Shutdown();
}

TEST(CollectorTest, GeneratorIsDeterministicInTheSeed) {
  auto run = [](uint64_t seed) {
    Model m(seed);
    m.BuildSynthetic(SyntheticForHosts(6));
    for (int i = 0; i < 500; ++i) m.NextChange("2026-11-30T10:00:00Z");
    return graph::Digest(m.graph());
  };
  EXPECT_EQ(run(42), run(42));
  EXPECT_NE(run(42), run(43));
}

TEST(CollectorTest, BadTopologyFileNamesTheLine) {
  auto dir = testing::MakeTempDir("collector-test");
  ASSERT_TRUE(dir.ok());
  std::string path = *dir + "/bad.jsonl";
  {
    std::ofstream out(path);
    out << "{\"id\": \"a\", \"props\": {\"vitrage_id\": \"a\"}}\n";
    out << "{\"id\": \"b\", \"propz\": {}}\n";
  }
  Model m(1);
  absl::Status s = m.LoadTopologyFile(path);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), HasSubstr("line 2"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("props"));
  testing::RemoveTree(*dir);
}

}  // namespace
}  // namespace vitrage::collector
