// For the service's room tests: an in-process fake persistor (a real gRPC
// server implementing vitrage.v1.Persistor in the test process) with
// injectable faults, an in-process fake collector, and a fixture with the
// real persistor (in-process, on a fresh database of a private MariaDB;
// link vitrage_persistor_testing).
//
// The fake persistor keeps the snapshots it is sent (or refuses them as
// told) and serves the newest back; hands out epochs; keeps a log that
// Append adds to (idempotent by seq, as the real one) and ReadLog serves
// (follow: new records as they come, and a heartbeat); answers GetStatus
// as told. Faults: Append never acks (the default, for tests that look at
// a journal that makes no progress), breaks a stream mid-batch once, or
// refuses a fenced epoch.
#ifndef VITRAGE_GRAPH_SERVICE_SERVICE_TEST_UTIL_H_
#define VITRAGE_GRAPH_SERVICE_SERVICE_TEST_UTIL_H_

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/append_limits.h"
#include "common/testing/mariadb_test.h"
#include "graph_service/processor/passthrough_event.h"
#include "graph_service/service/processor_handler.h"
#include "graph_service/service/recovery.h"
#include "persistor_service/server/test_util.h"
#include "vitrage/v1/collector.grpc.pb.h"
#include "vitrage/v1/persistor.grpc.pb.h"

namespace vitrage::service::testing {

// Serves `service` on 127.0.0.1:<free port> until destroyed.
class InProcessServer {
 public:
  explicit InProcessServer(grpc::Service* service) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(service);
    server_ = builder.BuildAndStart();
    if (server_ != nullptr) {
      channel_ = grpc::CreateChannel(address(), grpc::InsecureChannelCredentials());
    }
  }
  ~InProcessServer() {
    if (server_ != nullptr) server_->Shutdown(absl::ToChronoTime(absl::Now()));
  }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }
  // Null when the server did not start.
  std::shared_ptr<grpc::Channel> channel() const { return channel_; }

 private:
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

class FakePersistor final : public v1::Persistor::Service {
 public:
  struct Stored {
    v1::SnapshotHeader header;
    std::vector<v1::SnapshotChunk> chunks;
  };
  enum class AppendMode { kNeverAck, kAck };

  FakePersistor() : server_(this) {}
  ~FakePersistor() override {
    absl::MutexLock l(&mu_);
    closing_ = true;
  }

  // Null when the server did not start.
  std::shared_ptr<grpc::Channel> channel() const { return server_.channel(); }
  std::string address() const { return server_.address(); }

  grpc::Status AcquireEpoch(grpc::ServerContext*, const v1::AcquireEpochRequest* req,
                            v1::AcquireEpochResponse* resp) override {
    absl::MutexLock l(&mu_);
    resp->set_previous_epoch(epoch_);
    epoch_ = std::max(epoch_, fenced_epoch_) + 1;
    owner_ = req->owner();
    resp->set_epoch(epoch_);
    resp->set_durable_seq(DurableLocked());
    return grpc::Status::OK;
  }

  grpc::Status Append(
      grpc::ServerContext* ctx,
      grpc::ServerReaderWriter<v1::AppendResponse, v1::AppendRequest>* stream) override {
    ctx->AddInitialMetadata(kMaxRecordsPerAppendKey, "100000");
    ctx->AddInitialMetadata(kMaxAppendBytesKey, std::to_string(8 << 20));
    stream->SendInitialMetadata();
    v1::AppendRequest req;
    while (stream->Read(&req)) {
      v1::AppendResponse resp;
      {
        absl::MutexLock l(&mu_);
        ++batches_;
        if (req.epoch() < epoch_ || fenced_epoch_ > req.epoch()) {
          return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                              absl::StrCat("epoch ", req.epoch(), " is fenced"));
        }
        if (mode_ == AppendMode::kNeverAck) continue;
        int keep = req.records_size();
        const bool breaking = break_keep_ >= 0;
        if (breaking) keep = std::min(keep, break_keep_);
        for (int i = 0; i < keep; ++i) {
          const v1::JournalRecord& rec = req.records(i);
          if (rec.seq() <= DurableLocked()) {
            ++resent_;  // a re-send after a broken stream: already stored
            continue;
          }
          log_.push_back(rec);
        }
        if (breaking) {
          break_keep_ = -1;
          return grpc::Status(grpc::StatusCode::UNAVAILABLE, "stream broken mid-batch (test)");
        }
        resp.set_durable_seq(DurableLocked());
      }
      stream->Write(resp);
    }
    return grpc::Status::OK;
  }

  grpc::Status PutSnapshot(grpc::ServerContext*, grpc::ServerReader<v1::PutSnapshotRequest>* reader,
                           v1::PutSnapshotResponse* resp) override {
    Stored s;
    v1::PutSnapshotRequest req;
    uint64_t bytes = 0;
    while (reader->Read(&req)) {
      if (req.has_header()) {
        s.header = req.header();
      } else {
        bytes += req.chunk().ByteSizeLong();
        s.chunks.push_back(req.chunk());
      }
    }
    absl::MutexLock l(&mu_);
    if (!refusal_.ok()) return refusal_;
    resp->set_seq(s.header.seq());
    stored_.push_back(std::move(s));
    resp->set_snapshot_id(stored_.size());
    resp->set_stored_bytes(bytes);
    return grpc::Status::OK;
  }

  grpc::Status GetLatestSnapshot(
      grpc::ServerContext*, const v1::GetLatestSnapshotRequest* req,
      grpc::ServerWriter<v1::GetLatestSnapshotResponse>* writer) override {
    Stored s;
    uint64_t id;
    {
      absl::MutexLock l(&mu_);
      id = req->older_than_id() == 0 ? stored_.size()
                                     : std::min<uint64_t>(req->older_than_id() - 1, stored_.size());
      if (id == 0) return grpc::Status(grpc::StatusCode::NOT_FOUND, "no snapshot");
      s = stored_[id - 1];
    }
    v1::GetLatestSnapshotResponse resp;
    resp.mutable_info()->set_snapshot_id(id);
    *resp.mutable_info()->mutable_header() = s.header;
    writer->Write(resp);
    for (const auto& c : s.chunks) {
      resp.Clear();
      *resp.mutable_chunk() = c;
      writer->Write(resp);
    }
    return grpc::Status::OK;
  }

  grpc::Status ReadLog(grpc::ServerContext* ctx, const v1::ReadLogRequest* req,
                       grpc::ServerWriter<v1::ReadLogResponse>* writer) override {
    uint64_t after = req->after_seq();
    while (true) {
      v1::ReadLogResponse resp;
      {
        absl::MutexLock l(&mu_);
        if (!log_.empty() && after + 1 < log_.front().seq()) {
          return grpc::Status(grpc::StatusCode::OUT_OF_RANGE,
                              absl::StrCat("the log begins at seq ", log_.front().seq()));
        }
        for (const v1::JournalRecord& rec : log_) {
          if (rec.seq() > after) *resp.add_records() = rec;
        }
        resp.set_durable_seq(DurableLocked());
      }
      if (resp.records_size() > 0) after = resp.records(resp.records_size() - 1).seq();
      if (resp.records_size() > 0 || req->follow()) {
        if (!writer->Write(resp)) return grpc::Status::OK;
      }
      if (!req->follow()) return grpc::Status::OK;
      // Follow: new records as they come, else a heartbeat.
      absl::MutexLock l(&mu_);
      auto more = [&] {
        mu_.AssertHeld();
        return closing_ || ctx->IsCancelled() || DurableLocked() > after;
      };
      mu_.AwaitWithTimeout(absl::Condition(&more), absl::Milliseconds(100));
      if (closing_ || ctx->IsCancelled()) return grpc::Status::CANCELLED;
    }
  }

  grpc::Status GetStatus(grpc::ServerContext*, const v1::PersistorStatusRequest*,
                         v1::PersistorStatus* st) override {
    absl::MutexLock l(&mu_);
    *st = status_;
    if (fenced_epoch_ > 0) {
      st->set_epoch(fenced_epoch_);
      st->set_epoch_owner("graph:fencer");
      st->set_database_reachable(true);
    }
    return grpc::Status::OK;
  }

  // PutSnapshot answers `refusal` from now on (OK: stores again).
  void RefuseSnapshots(grpc::Status refusal) {
    absl::MutexLock l(&mu_);
    refusal_ = std::move(refusal);
  }
  std::vector<Stored> stored() {
    absl::MutexLock l(&mu_);
    return stored_;
  }
  // Serves `snapshot` as the newest from now on.
  void AddSnapshot(Stored snapshot) {
    absl::MutexLock l(&mu_);
    stored_.push_back(std::move(snapshot));
  }
  // GetStatus answers this from now on.
  void AnswerStatus(v1::PersistorStatus status) {
    absl::MutexLock l(&mu_);
    status_ = std::move(status);
  }
  void SetAppendMode(AppendMode mode) {
    absl::MutexLock l(&mu_);
    mode_ = mode;
  }
  // The next batch Append takes: its first `keep` records are stored, then
  // the stream breaks (UNAVAILABLE) before the batch is acked.
  void BreakNextBatch(int keep) {
    absl::MutexLock l(&mu_);
    break_keep_ = keep;
  }
  // Another graph took epoch `epoch`: Append refuses older epochs
  // (FAILED_PRECONDITION) and GetStatus names it.
  void Fence(uint64_t epoch) {
    absl::MutexLock l(&mu_);
    fenced_epoch_ = epoch;
  }
  // Appends records to the log as if an earlier graph had made them
  // durable (ReadLog serves them; AcquireEpoch counts them).
  void AddToLog(const std::vector<v1::JournalRecord>& records) {
    absl::MutexLock l(&mu_);
    log_.insert(log_.end(), records.begin(), records.end());
  }
  std::vector<v1::JournalRecord> log() {
    absl::MutexLock l(&mu_);
    return log_;
  }
  uint64_t epoch() {
    absl::MutexLock l(&mu_);
    return epoch_;
  }
  // Records Append received again after they were stored.
  int resent() {
    absl::MutexLock l(&mu_);
    return resent_;
  }
  int batches() {
    absl::MutexLock l(&mu_);
    return batches_;
  }

 private:
  uint64_t DurableLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return log_.empty() ? 0 : log_.back().seq();
  }

  absl::Mutex mu_;
  grpc::Status refusal_ ABSL_GUARDED_BY(mu_);
  std::vector<Stored> stored_ ABSL_GUARDED_BY(mu_);
  v1::PersistorStatus status_ ABSL_GUARDED_BY(mu_);
  AppendMode mode_ ABSL_GUARDED_BY(mu_) = AppendMode::kNeverAck;
  int break_keep_ ABSL_GUARDED_BY(mu_) = -1;
  uint64_t epoch_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t fenced_epoch_ ABSL_GUARDED_BY(mu_) = 0;
  std::string owner_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::JournalRecord> log_ ABSL_GUARDED_BY(mu_);
  int resent_ ABSL_GUARDED_BY(mu_) = 0;
  int batches_ ABSL_GUARDED_BY(mu_) = 0;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  // Last: stopped (and its calls finished) before the state above goes.
  InProcessServer server_;
};

// A collector whose GetAll answers the batches it is given (after
// failing the first `failures` calls with UNAVAILABLE).
class FakeCollector final : public v1::Collector::Service {
 public:
  FakeCollector() : server_(this) {}
  std::string address() const { return server_.address(); }
  std::shared_ptr<grpc::Channel> channel() const { return server_.channel(); }

  grpc::Status GetAll(grpc::ServerContext*, const v1::GetAllRequest* req,
                      grpc::ServerWriter<v1::GetAllResponse>* writer) override {
    std::vector<v1::GetAllResponse> batches;
    {
      absl::MutexLock l(&mu_);
      requests_.push_back(*req);
      if (failures_ > 0) {
        --failures_;
        return grpc::Status(grpc::StatusCode::UNAVAILABLE, "collector down (test)");
      }
      batches = batches_;
    }
    absl::Duration delay;
    {
      absl::MutexLock l(&mu_);
      delay = batch_delay_;
    }
    for (const auto& b : batches) {
      if (delay > absl::ZeroDuration()) absl::SleepFor(delay);
      writer->Write(b);
    }
    return grpc::Status::OK;
  }

  void Answer(std::vector<v1::GetAllResponse> batches, int failures = 0) {
    absl::MutexLock l(&mu_);
    batches_ = std::move(batches);
    failures_ = failures;
  }
  std::vector<v1::GetAllRequest> requests() {
    absl::MutexLock l(&mu_);
    return requests_;
  }
  // A slow collector: waits `delay` before each batch it sends.
  void set_batch_delay(absl::Duration delay) {
    absl::MutexLock l(&mu_);
    batch_delay_ = delay;
  }

 private:
  absl::Mutex mu_;
  std::vector<v1::GetAllResponse> batches_ ABSL_GUARDED_BY(mu_);
  int failures_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Duration batch_delay_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::GetAllRequest> requests_ ABSL_GUARDED_BY(mu_);
  InProcessServer server_;
};

// A pass-through event of `source` (source_seq `seq`; 0: no dedupe) that
// sets vertex `id`.
inline v1::Event VertexEvent(const std::string& source, uint64_t seq, const std::string& id) {
  processor::PassthroughOp op;
  op.kind = processor::PassthroughOp::kSetVertex;
  op.id = id;
  for (auto [k, v] :
       {std::pair{"vitrage_id", id}, std::pair{"vitrage_category", std::string("RESOURCE")},
        std::pair{"vitrage_type", std::string("nova.host")}, std::pair{"name", id}}) {
    op.props.Set(graph::InternKey(k), graph::Value::String(v));
  }
  v1::Event ev;
  ev.set_source(source);
  ev.set_source_seq(seq);
  processor::EncodePassthrough({op}, "update", "2026-12-01T00:00:00Z", ev.mutable_fields());
  return ev;
}

// vitrage-graph's handler (the processor), bound to `g`.
inline std::unique_ptr<EventHandler> MakeHandler(graph::Graph* g) {
  processor::ProcessorOptions options;
  return std::make_unique<ProcessorHandler>(g, options);
}

// Records seq first..first+n-1 as a graph at `epoch` journals them: one
// per VertexEvent(source, seq, "v<seq>"), at `time_unix_micros`.
inline std::vector<v1::JournalRecord> MakeLog(uint64_t first, int n, const std::string& source,
                                              uint64_t epoch, int64_t time_unix_micros) {
  graph::Graph scratch;
  auto handler = MakeHandler(&scratch);
  std::vector<v1::JournalRecord> out;
  for (uint64_t seq = first; seq < first + n; ++seq) {
    v1::JournalRecord rec;
    handler->Handle(VertexEvent(source, seq, absl::StrCat("v", seq)), &scratch, rec.mutable_delta(),
                    rec.mutable_event_kind());
    rec.set_seq(seq);
    rec.set_epoch(epoch);
    rec.set_source(source);
    rec.set_source_seq(seq);
    rec.set_time_unix_micros(time_unix_micros);
    out.push_back(std::move(rec));
  }
  return out;
}

// The rooms recovery needs, over the fakes: a graph state with the
// processor, no evaluator templates, get_all's image replay (its hooks
// do nothing) and a Recovery whose hooks record what they hear.
struct RecoveryRig {
  RecoveryRig(FakePersistor* persistor, FakeCollector* collector, RecoveryOptions options = {})
      : persistor_stub(v1::Persistor::NewStub(persistor->channel())),
        collector_stub(v1::Collector::NewStub(collector->channel())),
        images(GetAllOptions{}, collector_stub.get(), &state, NoGetAll()),
        recovery(std::move(options), persistor_stub.get(), &state, &images, &evaluator, Hooks()) {
    absl::MutexLock l(&state.mu);
    state.handler = MakeHandler(&state.graph);
  }

  uint64_t applied() {
    absl::MutexLock l(&state.mu);
    return state.applied_seq;
  }
  uint64_t mark(const std::string& source) {
    absl::MutexLock l(&state.mu);
    auto it = state.marks.find(source);
    return it == state.marks.end() ? 0 : it->second;
  }
  uint64_t vertices() {
    absl::MutexLock l(&state.mu);
    return state.graph.vertex_count();
  }

  std::unique_ptr<v1::Persistor::Stub> persistor_stub;
  std::unique_ptr<v1::Collector::Stub> collector_stub;
  GraphState state;
  EvaluatorGlue evaluator{""};
  GetAll images;
  Recovery recovery;
  // What the hooks heard (recovery runs on the test's thread).
  std::vector<std::string> phases;
  v1::RecoveryTimings timings;
  uint64_t epoch = 0;

 private:
  static GetAll::Hooks NoGetAll() {
    GetAll::Hooks g;
    g.stopped = [] { return absl::OkStatus(); };
    g.phase = [](v1::GraphRole, const std::string&) {};
    g.apply_locked = [](const v1::Event&) {};
    g.commit_locked = [](v1::JournalRecord*) {};
    g.journal = [] { return nullptr; };
    return g;
  }
  Recovery::Hooks Hooks() {
    Recovery::Hooks h;
    h.stopped = [] { return false; };
    h.phase = [this](const std::string& p) { phases.push_back(p); };
    h.timings = [this](const std::function<void(v1::RecoveryTimings*)>& edit) { edit(&timings); };
    h.epoch = [this](uint64_t e) { epoch = e; };
    return h;
  }
};

// persistor_ serves a fresh database named after the test; stub_ talks to
// it.
class PersistorTest : public vitrage::testing::MariaDbTest {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    auto url = persistor::testing::FreshDatabase(
        *db_, absl::StrCat("s_", info->test_suite_name(), "_", info->name()).substr(0, 60));
    ASSERT_TRUE(url.ok()) << url.status();
    persistor::PersistorOptions options;
    options.database.url = *url;
    auto p = persistor::testing::InProcessPersistor::Start(options);
    ASSERT_TRUE(p.ok()) << p.status();
    persistor_ = std::move(*p);
    stub_ = persistor_->NewStub();
  }

  std::unique_ptr<persistor::testing::InProcessPersistor> persistor_;
  std::unique_ptr<v1::Persistor::Stub> stub_;
};

}  // namespace vitrage::service::testing

#endif  // VITRAGE_GRAPH_SERVICE_SERVICE_TEST_UTIL_H_
