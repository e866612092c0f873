#include "graph_service/service/engine.h"

#include "graph_service/service/forked_encode.h"

#include <glog/logging.h>

#include <algorithm>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include <google/protobuf/arena.h>

#include "common/grpc_util.h"
#include "common/metrics.h"
#include "common/status_macros.h"
#include "graph_service/graph/digest.h"
#include "graph_service/graph/proto_convert.h"
#include "graph_service/snapshot/snapshot.h"

namespace vitrage::service {
namespace {

double Ms(absl::Duration d) { return absl::ToDoubleMilliseconds(d); }

bool IsTransient(const grpc::Status& s) {
  switch (s.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::CANCELLED:
    case grpc::StatusCode::ABORTED:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
    case grpc::StatusCode::UNKNOWN:
    case grpc::StatusCode::INTERNAL:
      return true;
    default:
      return false;
  }
}

const char* RoleName(v1::GraphRole r) { return v1::GraphRole_Name(r).c_str(); }

}  // namespace

Engine::Engine(EngineOptions options, const HandlerFactory& make_handler)
    : options_(std::move(options)), process_start_(absl::Now()) {
  {
    absl::MutexLock l(&mu_);
    handler_ = make_handler(&graph_);
  }
  LoadTemplates();
  if (options_.persistency) {
    persistor_channel_ = MakeChannel(options_.persistor_address, 64 << 20);
    persistor_ = v1::Persistor::NewStub(persistor_channel_);
  }
  collector_ = v1::Collector::NewStub(MakeChannel(options_.collector_address, 64 << 20));
}

struct Engine::Metrics {
  prometheus::Counter* applied;
  prometheus::Counter* duplicates;
  prometheus::Counter* rejected;
  prometheus::Histogram* ack_latency;
  prometheus::Histogram* snapshot_duration;
  prometheus::Counter* snapshot_failures;
  prometheus::Gauge* snapshot_bytes;
};

Engine::~Engine() { Shutdown(); }

void Engine::ExportMetrics() {
  namespace m = vitrage::metrics;
  auto mm = std::make_unique<Metrics>();
  mm->applied = &m::Counter("vitrage_graph_events_applied_total",
                            "Pushed events applied by the processor (get_all events not counted)");
  mm->duplicates = &m::Counter("vitrage_graph_events_duplicate_total",
                               "Re-sent events acked without being applied again");
  mm->rejected = &m::Counter("vitrage_graph_push_rejected_total",
                             "PushEvents requests rejected as invalid");
  mm->ack_latency = &m::Histogram("vitrage_graph_push_durable_wait_seconds",
                                  "Time PushEvents waited for its records to be durable",
                                  m::LatencyBuckets());
  mm->snapshot_duration = &m::Histogram("vitrage_graph_snapshot_duration_seconds",
                                        "Encode + store time of a snapshot",
                                        {0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60});
  mm->snapshot_failures = &m::Counter("vitrage_graph_snapshot_failures_total",
                                      "Snapshots that were not stored");
  mm->snapshot_bytes = &m::Gauge("vitrage_graph_snapshot_bytes", "Size of the last snapshot");
  auto& applied_seq = m::Gauge("vitrage_graph_applied_seq", "Highest journal seq applied");
  auto& durable_seq = m::Gauge("vitrage_graph_durable_seq", "Highest journal seq durable");
  auto& lag = m::Gauge("vitrage_graph_durable_lag_records",
                       "Records applied but not yet durable");
  auto& buf_records = m::Gauge("vitrage_graph_journal_buffer_records",
                               "Records in the journal buffer");
  auto& buf_bytes = m::Gauge("vitrage_graph_journal_buffer_bytes",
                             "Bytes in the journal buffer");
  auto& reconnects = m::Gauge("vitrage_graph_journal_reconnects",
                              "Times the Append stream was re-opened");
  auto& vertices = m::Gauge("vitrage_graph_vertices", "Vertices in the graph");
  auto& edges = m::Gauge("vitrage_graph_edges", "Edges in the graph");
  auto& role = m::Gauge("vitrage_graph_role",
                        "GraphRole: 1 STARTING, 2 RECOVERING, 3 ACTIVE, 4 STANDBY, 5 FENCED");
  auto& snap_age = m::Gauge("vitrage_graph_snapshot_age_seconds",
                            "Seconds since the last stored snapshot (-1: none)");
  auto& snap_seq = m::Gauge("vitrage_graph_snapshot_seq", "Journal seq of the last snapshot");
  std::map<std::string, prometheus::Gauge*> phases;
  for (const char* p : {"acquire_epoch", "snapshot_load", "replay", "index_rebuild",
                        "get_all", "total"}) {
    phases[p] = &m::Gauge("vitrage_graph_recovery_phase_milliseconds",
                          "Duration of each phase of the last recovery", {{"phase", p}});
  }
  m::AddRefresher([=, &applied_seq, &durable_seq, &lag, &buf_records, &buf_bytes, &reconnects,
                   &vertices, &edges, &role, &snap_age, &snap_seq] {
    v1::GraphStatus st = Status(false);
    applied_seq.Set(st.applied_seq());
    durable_seq.Set(st.durable_seq());
    lag.Set(st.applied_seq() > st.durable_seq() && options_.persistency
                ? st.applied_seq() - st.durable_seq()
                : 0);
    buf_records.Set(st.buffered_records());
    buf_bytes.Set(st.buffered_bytes());
    journal::JournalClient* journal = PublishedJournal();
    reconnects.Set(journal != nullptr ? journal->reconnects() : 0);
    vertices.Set(st.vertex_count());
    edges.Set(st.edge_count());
    role.Set(st.role());
    snap_age.Set(st.last_snapshot_age_seconds());
    snap_seq.Set(st.last_snapshot_seq());
    const auto& r = st.recovery();
    phases.at("acquire_epoch")->Set(r.acquire_epoch_ms());
    phases.at("snapshot_load")->Set(r.snapshot_load_ms());
    phases.at("replay")->Set(r.replay_ms());
    phases.at("index_rebuild")->Set(r.index_rebuild_ms());
    phases.at("get_all")->Set(r.get_all_ms());
    phases.at("total")->Set(r.total_ms());
  });
  metrics_ = std::move(mm);
}

journal::JournalClient* Engine::PublishedJournal() const {
  absl::MutexLock l(&status_mu_);
  return journal_.get();
}

void Engine::SetPhase(v1::GraphRole role, const std::string& phase) {
  absl::MutexLock l(&status_mu_);
  if (role_ == v1::FENCED) return;
  role_ = role;
  phase_ = phase;
}

absl::Status Engine::NotServingLocked() const {
  return absl::UnavailableError(absl::StrCat("vitrage-graph is ", RoleName(role_), ": ", phase_));
}

bool Engine::readable() const {
  absl::MutexLock l(&status_mu_);
  return readable_;
}

bool Engine::active() const {
  absl::MutexLock l(&status_mu_);
  return role_ == v1::ACTIVE;
}

void Engine::Fatal(const absl::Status& s) {
  absl::MutexLock l(&status_mu_);
  if (!fatal_.ok()) return;
  fatal_ = s;
  if (s.code() == absl::StatusCode::kFailedPrecondition) {
    role_ = v1::FENCED;
    phase_ = absl::StrCat("fenced: ", s.message());
    LOG(ERROR) << "FENCED: another vitrage-graph holds a newer epoch ("
               << s.message() << "); this one stops taking events and exits";
  } else {
    phase_ = absl::StrCat("failed: ", s.message());
    LOG(ERROR) << "vitrage-graph cannot go on: " << s;
  }
}

absl::Status Engine::WaitForFatal() {
  absl::MutexLock l(&status_mu_);
  auto done = [this] {
    status_mu_.AssertHeld();
    return !fatal_.ok() || shutdown_;
  };
  status_mu_.Await(absl::Condition(&done));
  return fatal_;
}

void Engine::Shutdown() {
  {
    absl::MutexLock l(&status_mu_);
    if (shutdown_) return;
    shutdown_ = true;
  }
  {
    absl::MutexLock l(&snap_mu_);
    snap_stop_ = true;
  }
  StopFollower();
  // Recover() publishes journal_ and snapshotter_ under status_mu_ only
  // while shutdown_ is false, so both are stable from here on.
  if (snapshotter_.joinable()) snapshotter_.join();
  if (consistency_.joinable()) consistency_.join();
  if (journal_) journal_->Shutdown();
}

void Engine::RunConsistency() {
  while (true) {
    {
      absl::MutexLock l(&status_mu_);
      auto stop = [this] {
        status_mu_.AssertHeld();
        return shutdown_ || !fatal_.ok();
      };
      if (status_mu_.AwaitWithTimeout(absl::Condition(&stop), options_.consistency_interval)) {
        return;
      }
    }
    if (journal_) {
      absl::Status room = journal_->WaitForRoom(1000, absl::Now() + absl::Seconds(5));
      if (!room.ok()) continue;  // the persistor is away: try next time
    }
    absl::MutexLock intake(&intake_mu_);
    absl::MutexLock l(&mu_);
    std::vector<v1::GraphDelta> deltas;
    handler_->Periodic(&graph_, absl::Now(), &deltas);
    for (auto& d : deltas) {
      // The changes are applied: each must be journaled, so wait (intake is
      // held meanwhile) until the journal has room. It only gives up when
      // the process is shutting down or fenced, and then nothing is acked.
      if (journal_ && !journal_->WaitForRoom(1, absl::InfiniteFuture()).ok()) break;
      v1::JournalRecord rec;
      *rec.mutable_delta() = std::move(d);
      rec.set_event_kind("consistency");
      std::vector<std::string> affected;
      if (evaluator_on_) evaluator_->CollectRelevant(graph_, rec.delta(), &affected);
      CommitRecordLocked(std::move(rec));
      if (!affected.empty()) EvaluateLocked(std::move(affected));
    }
  }
}

// ------------------------------------------------------------- recovery

absl::Status Engine::Start() {
  absl::Status s = options_.standby && options_.persistency ? RunStandby() : Recover();
  bool stopped;
  {
    absl::MutexLock l(&status_mu_);
    stopped = shutdown_;
  }
  if (s.ok()) s = EnableEvaluator();
  if (!s.ok()) {
    if (!stopped) Fatal(s);
    return s;
  }
  {
    absl::MutexLock l(&status_mu_);
    // As snapshotter_: Shutdown() (signal thread) reads consistency_ once
    // shutdown_ is set, so it is started only before that, under status_mu_.
    if (shutdown_) return absl::CancelledError("shut down during recovery");
    if (options_.consistency_interval > absl::ZeroDuration()) {
      consistency_ = std::thread([this] { RunConsistency(); });
    }
    timings_.set_total_ms(Ms(absl::Now() - process_start_));
    if (role_ != v1::FENCED) {
      role_ = v1::ACTIVE;
      phase_ = "active";
    }
    if (promoted_) FinishPromoteLocked();
    LOG(INFO) << "ACTIVE after " << timings_.total_ms() << " ms (epoch " << epoch_
              << "; acquire epoch " << timings_.acquire_epoch_ms()
              << " ms, snapshot load " << timings_.snapshot_load_ms()
              << " ms, replay " << timings_.replay_ms() << " ms of "
              << timings_.records_replayed() << " records, index rebuild "
              << timings_.index_rebuild_ms() << " ms, get_all "
              << timings_.get_all_ms() << " ms"
              << (timings_.get_all_reason().empty()
                      ? std::string()
                      : absl::StrCat(" (", timings_.get_all_reason(), ")"))
              << ")";
  }
  return absl::OkStatus();
}

absl::Status Engine::Recover() {
  if (!options_.persistency) {
    LOG(INFO) << "persistency is disabled: starting from an empty graph and get_all";
    {
      absl::MutexLock l(&status_mu_);
      readable_ = true;
    }
    return RunGetAll("persistency disabled");
  }

  SetPhase(v1::RECOVERING, "acquiring epoch");
  absl::Time t = absl::Now();
  v1::AcquireEpochResponse ep;
  RETURN_IF_ERROR(AcquireEpoch(&ep));
  {
    absl::MutexLock l(&status_mu_);
    epoch_ = ep.epoch();
    timings_.set_acquire_epoch_ms(Ms(absl::Now() - t));
  }
  LOG(INFO) << "recovery: epoch " << ep.epoch() << " acquired (previous "
            << ep.previous_epoch() << "), durable seq " << ep.durable_seq() << ", "
            << Ms(absl::Now() - t) << " ms";

  SetPhase(v1::RECOVERING, "loading snapshot");
  t = absl::Now();
  uint64_t snapshot_id = 0;
  v1::SnapshotHeader header;
  absl::Status loaded = LoadSnapshot(&snapshot_id, &header);
  if (!loaded.ok() && !absl::IsNotFound(loaded)) return loaded;
  const bool have_snapshot = loaded.ok();
  {
    absl::MutexLock l(&status_mu_);
    timings_.set_snapshot_id(snapshot_id);
    timings_.set_snapshot_seq(have_snapshot ? header.seq() : 0);
    timings_.set_snapshot_load_ms(Ms(absl::Now() - t));
  }
  if (have_snapshot) {
    LOG(INFO) << "recovery: snapshot " << snapshot_id << " (seq " << header.seq()
              << ", " << header.vertex_count() << " vertices, " << header.edge_count()
              << " edges, " << header.compressed_bytes() << " bytes) loaded in "
              << Ms(absl::Now() - t) << " ms";
  } else {
    LOG(INFO) << "recovery: the store has no complete snapshot";
  }

  uint64_t base = have_snapshot ? header.seq() : 0;
  SetPhase(v1::RECOVERING, absl::StrCat("replaying log after seq ", base));
  t = absl::Now();
  int64_t last_time = have_snapshot ? header.seq_time_unix_micros() : 0;
  std::string get_all_reason;
  bool reset = false;
  absl::Status replayed = Replay(base, ep.durable_seq(), &last_time);
  if (!replayed.ok()) {
    if (!absl::IsDataLoss(replayed)) return replayed;
    LOG(ERROR) << "recovery: cannot rebuild the graph from the store: "
               << replayed.message() << "; starting over from get_all";
    get_all_reason = absl::StrCat("store unusable: ", replayed.message());
    reset = true;
    absl::MutexLock l(&mu_);
    graph_.Clear();
    marks_.clear();
    applied_seq_ = ep.durable_seq();
  }
  if (get_all_reason.empty()) {
    absl::MutexLock l(&mu_);
    if (DropPartialImageLocked()) {
      LOG(WARNING) << "recovery: the log ends inside a get_all image (the graph died while "
                      "journaling it, before intake opened); taking get_all again";
      get_all_reason = "the previous get_all did not finish";
    }
  }
  uint64_t replayed_records;
  {
    absl::MutexLock l(&mu_);
    replayed_records = applied_seq_ - base;
    if (reset) replayed_records = 0;
  }
  {
    absl::MutexLock l(&status_mu_);
    timings_.set_replay_ms(Ms(absl::Now() - t));
    timings_.set_records_replayed(replayed_records);
    // The graph keeps its indexes (natural key, adjacency) current as it is
    // built; the per-source marks were rebuilt during replay.
    timings_.set_index_rebuild_ms(0);
    readable_ = true;
  }
  LOG(INFO) << "recovery: replayed " << replayed_records << " records in "
            << Ms(absl::Now() - t) << " ms; graph at seq " << ep.durable_seq();

  if (get_all_reason.empty()) {
    if (!have_snapshot && ep.durable_seq() == 0) {
      get_all_reason = "fresh start: the store is empty";
    } else if (last_time > 0) {
      absl::Duration down = absl::Now() - absl::FromUnixMicros(last_time);
      if (down > options_.get_all_after_downtime) {
        get_all_reason = absl::StrCat("downtime ", absl::FormatDuration(down),
                                      " exceeds ",
                                      absl::FormatDuration(options_.get_all_after_downtime));
      }
    }
  }

  auto journal = std::make_unique<journal::JournalClient>(persistor_channel_, options_.journal,
                                                         ep.epoch(), ep.durable_seq());
  journal->SetOnFatal([this](const absl::Status& s) { Fatal(s); });
  {
    // Status() and the metrics refresher read journal_ from other threads,
    // and Shutdown() (signal thread) may run concurrently: publish it under
    // status_mu_, and never after Shutdown() has looked at it.
    absl::MutexLock l(&status_mu_);
    if (shutdown_) return absl::CancelledError("shut down during recovery");
    journal_ = std::move(journal);
  }
  RETURN_IF_ERROR(StartSnapshotter());

  if (!get_all_reason.empty()) {
    if (reset) {
      absl::MutexLock l(&mu_);
      v1::JournalRecord rec;
      rec.set_reset(true);
      rec.set_event_kind("reset before get_all");
      CommitRecordLocked(std::move(rec));
    }
    RETURN_IF_ERROR(RunGetAll(get_all_reason));
  }
  return absl::OkStatus();
}

absl::Status Engine::AcquireEpoch(v1::AcquireEpochResponse* resp) {
  absl::Duration backoff = absl::Milliseconds(50);
  int failures = 0;
  while (true) {
    {
      absl::MutexLock l(&status_mu_);
      if (shutdown_) return absl::CancelledError("shut down while acquiring epoch");
    }
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    v1::AcquireEpochRequest req;
    req.set_owner(options_.owner);
    grpc::Status st = persistor_->AcquireEpoch(&ctx, req, resp);
    if (st.ok()) return absl::OkStatus();
    if (!IsTransient(st)) return FromGrpcStatus(st);
    if (failures++ % 20 == 0) {
      LOG(WARNING) << "recovery: persistor at " << options_.persistor_address
                   << " not answering AcquireEpoch (" << st.error_message()
                   << "); staying RECOVERING and retrying (never starting empty)";
    }
    SetPhase(v1::RECOVERING,
             absl::StrCat("acquiring epoch: persistor unreachable (", st.error_message(), ")"));
    absl::SleepFor(backoff);
    backoff = std::min(backoff * 2, absl::Seconds(1));
  }
}

absl::Status Engine::LoadSnapshot(uint64_t* snapshot_id, v1::SnapshotHeader* header) {
  uint64_t older_than = 0;
  uint32_t skipped = 0;
  absl::Duration backoff = absl::Milliseconds(50);
  while (true) {
    {
      absl::MutexLock l(&status_mu_);
      if (shutdown_) return absl::CancelledError("shut down while loading snapshot");
    }
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(120)));
    v1::GetLatestSnapshotRequest req;
    req.set_older_than_id(older_than);
    auto reader = persistor_->GetLatestSnapshot(&ctx, req);
    v1::GetLatestSnapshotResponse resp;
    snapshot::SnapshotDecoder decoder(
        snapshot::DecodeOptions{options_.verify_snapshot_digest});
    absl::Status decode_error;
    uint64_t id = 0;
    bool have_info = false;
    while (reader->Read(&resp)) {
      if (!decode_error.ok()) continue;
      if (resp.has_info()) {
        id = resp.info().snapshot_id();
        have_info = true;
        decode_error = decoder.Begin(resp.info().header());
      } else if (!have_info) {
        decode_error = absl::DataLossError("snapshot stream began without its header");
      } else {
        decode_error = decoder.AddChunk(resp.chunk());
      }
      if (!decode_error.ok()) ctx.TryCancel();
    }
    grpc::Status st = reader->Finish();
    if (decode_error.ok() && st.ok()) decode_error = decoder.Finish();
    if (decode_error.ok() && st.ok()) {
      graph::Graph g = decoder.TakeGraph();
      snapshot::SnapshotSections sections = decoder.TakeSections();
      *header = decoder.header();
      *snapshot_id = id;
      absl::MutexLock l(&mu_);
      graph_ = std::move(g);
      marks_.clear();
      for (const auto& m : sections.source_marks) marks_[m.source()] = m.source_seq();
      NoteSnapshotEvaluatorStateLocked(sections.evaluator_state);
      applied_seq_ = header->seq();
      last_record_time_ = header->seq_time_unix_micros();
      absl::MutexLock sl(&status_mu_);
      timings_.set_snapshots_skipped(skipped);
      return absl::OkStatus();
    }
    if (decode_error.ok() && st.error_code() == grpc::StatusCode::NOT_FOUND) {
      absl::MutexLock l(&status_mu_);
      timings_.set_snapshots_skipped(skipped);
      return absl::NotFoundError(st.error_message());
    }
    if (!decode_error.ok() || st.error_code() == grpc::StatusCode::DATA_LOSS) {
      std::string why = !decode_error.ok() ? std::string(decode_error.message())
                                           : st.error_message();
      LOG(ERROR) << "recovery: snapshot " << id << " failed verification (" << why
                 << "); falling back to the snapshot before it";
      ++skipped;
      if (id == 0) return absl::DataLossError(why);
      older_than = id;
      continue;
    }
    if (!IsTransient(st)) return FromGrpcStatus(st);
    LOG(WARNING) << "recovery: could not read the snapshot (" << st.error_message()
                 << "); retrying (this is not the same as having none)";
    absl::SleepFor(backoff);
    backoff = std::min(backoff * 2, absl::Seconds(1));
  }
}

absl::Status Engine::Replay(uint64_t after_seq, uint64_t durable_seq, int64_t* last_time) {
  absl::Duration backoff = absl::Milliseconds(50);
  const uint64_t base = after_seq;
  while (true) {
    uint64_t applied;
    {
      absl::MutexLock l(&mu_);
      applied = applied_seq_;
    }
    if (applied >= durable_seq) break;
    {
      absl::MutexLock l(&status_mu_);
      if (shutdown_) return absl::CancelledError("shut down while replaying");
    }
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(300)));
    v1::ReadLogRequest req;
    req.set_after_seq(applied);
    req.set_max_batch_bytes(3 << 20);
    auto reader = persistor_->ReadLog(&ctx, req);
    v1::ReadLogResponse resp;
    absl::Status error;
    while (error.ok() && reader->Read(&resp)) {
      absl::MutexLock l(&mu_);
      for (const v1::JournalRecord& rec : resp.records()) {
        if (rec.seq() <= applied_seq_) continue;  // overlap after a retry
        if (rec.seq() != applied_seq_ + 1) {
          error = absl::DataLossError(
              applied_seq_ == base
                  ? absl::StrCat("the log does not reach back to seq ", base + 1,
                                 " (first record is ", rec.seq(), ")")
                  : absl::StrCat("gap in the log: expected seq ", applied_seq_ + 1,
                                 ", got ", rec.seq()));
          break;
        }
        error = ApplyLogRecordLocked(rec);
        if (!error.ok()) break;
        *last_time = rec.time_unix_micros();
      }
    }
    if (!error.ok()) {
      ctx.TryCancel();
      reader->Finish();
      return error;
    }
    grpc::Status st = reader->Finish();
    if (st.ok()) {
      absl::MutexLock l(&mu_);
      if (applied_seq_ < durable_seq) {
        return absl::DataLossError(absl::StrCat("the log ends at seq ", applied_seq_,
                                                " but the durable seq is ", durable_seq));
      }
      break;
    }
    if (st.error_code() == grpc::StatusCode::DATA_LOSS ||
        st.error_code() == grpc::StatusCode::OUT_OF_RANGE) {
      // A corrupt record, or a tail already pruned (after falling back to an
      // older snapshot): the store cannot rebuild this graph.
      return absl::DataLossError(st.error_message());
    }
    if (!IsTransient(st)) return FromGrpcStatus(st);
    LOG(WARNING) << "recovery: ReadLog failed (" << st.error_message()
                 << "); resuming from seq " << applied;
    absl::SleepFor(backoff);
    backoff = std::min(backoff * 2, absl::Seconds(1));
  }
  return absl::OkStatus();
}

absl::Status Engine::ApplyLogRecordLocked(const v1::JournalRecord& rec) {
  if (rec.reset()) {
    graph_.Clear();
    marks_.clear();
  }
  absl::Status s = rec.has_image_chunk() ? ApplyImageRecordLocked(rec)
                                         : graph_.ApplyDelta(rec.delta());
  if (!s.ok()) {
    return absl::DataLossError(absl::StrCat("record ", rec.seq(), " does not apply: ",
                                            s.message()));
  }
  applied_seq_ = rec.seq();
  if (!rec.source().empty()) NoteMarkLocked(rec.source(), rec.source_seq());
  last_record_time_ = rec.time_unix_micros();
  NoteReplayedLocked(rec);
  return absl::OkStatus();
}

// RunGetAll: engine_get_all.cc.

// ---------------------------------------------------------------- intake

void Engine::NoteMarkLocked(const std::string& source, uint64_t seq) {
  uint64_t& m = marks_[source];
  if (seq > m) m = seq;
}

uint64_t Engine::CommitRecordLocked(v1::JournalRecord record) {
  record.set_seq(++applied_seq_);
  record.set_time_unix_micros(absl::ToUnixMicros(absl::Now()));
  last_record_time_ = record.time_unix_micros();
  if (!record.source().empty()) NoteMarkLocked(record.source(), record.source_seq());
  if (!journal_) return 0;
  record.set_epoch(journal_->epoch());
  absl::Status s = journal_->Append(std::move(record));
  if (!s.ok()) {
    // Room was reserved before applying; only a dying journal refuses.
    LOG(ERROR) << "journal refused seq " << applied_seq_ << ": " << s;
  }
  return applied_seq_;
}

uint64_t Engine::ApplyLocked(const v1::Event& ev, bool dedupe) {
  v1::JournalRecord rec;
  handler_->Handle(ev, &graph_, rec.mutable_delta(), rec.mutable_event_kind());
  if (dedupe) {
    rec.set_source(ev.source());
    rec.set_source_seq(ev.source_seq());
  }
  if (!evaluator_on_) return CommitRecordLocked(std::move(rec));
  std::vector<std::string> affected;
  evaluator_->CollectRelevant(graph_, rec.delta(), &affected);
  uint64_t seq = CommitRecordLocked(std::move(rec));
  if (!affected.empty()) EvaluateLocked(std::move(affected));
  return seq;
}

absl::StatusOr<v1::PushEventsResponse> Engine::PushEvents(const v1::PushEventsRequest& req) {
  absl::StatusOr<PushTicket> t = ApplyPush(req);
  if (!t.ok()) return t.status();
  return FinishPush(std::move(*t));
}

absl::StatusOr<Engine::PushTicket> Engine::ApplyPush(const v1::PushEventsRequest& req) {
  {
    absl::MutexLock l(&status_mu_);
    if (role_ != v1::ACTIVE) {
      return NotServingLocked();
    }
  }
  constexpr int kMaxEvents = 10000;
  if (req.events_size() > kMaxEvents) {
    return absl::InvalidArgumentError(absl::StrCat("PushEvents: ", req.events_size(),
                                                   " events in one request; the limit is ",
                                                   kMaxEvents));
  }
  {
    absl::ReaderMutexLock l(&mu_);
    for (int i = 0; i < req.events_size(); ++i) {
      const v1::Event& ev = req.events(i);
      absl::Status s = handler_->Validate(ev);
      if (!s.ok()) {
        if (metrics_) metrics_->rejected->Increment();
        return absl::InvalidArgumentError(absl::StrCat(
            "PushEvents: event ", i, " (source \"", ev.source(), "\" seq ",
            ev.source_seq(), "): ", s.message(), "; nothing in this request was applied"));
      }
    }
  }
  v1::PushEventsResponse resp;
  uint64_t wait_seq = 0;
  {
    absl::MutexLock intake(&intake_mu_);
    if (journal_) {
      absl::Status room = journal_->WaitForRoom(req.events_size(),
                                                absl::Now() + absl::Seconds(5));
      if (absl::IsDeadlineExceeded(room)) {
        return absl::ResourceExhaustedError(absl::StrCat(
            "journal buffer full (persistor not acking): ", room.message(), "; retry later"));
      }
      if (!room.ok()) return absl::UnavailableError(room.message());
    }
    absl::MutexLock l(&mu_);
    for (const v1::Event& ev : req.events()) {
      if (ev.source_seq() != 0) {
        auto it = marks_.find(ev.source());
        if (it != marks_.end() && ev.source_seq() <= it->second) {
          resp.set_duplicates(resp.duplicates() + 1);
          continue;
        }
      }
      ApplyLocked(ev, /*dedupe=*/true);
      resp.set_applied(resp.applied() + 1);
    }
    // A re-sent event may have been applied by an earlier call whose
    // record is not durable yet: wait for everything applied so far.
    wait_seq = applied_seq_;
  }
  if (metrics_) {
    metrics_->applied->Increment(resp.applied());
    metrics_->duplicates->Increment(resp.duplicates());
  }
  return PushTicket{std::move(resp), wait_seq};
}

absl::StatusOr<v1::PushEventsResponse> Engine::FinishPush(PushTicket ticket) {
  v1::PushEventsResponse& resp = ticket.resp;
  const uint64_t wait_seq = ticket.wait_seq;
  if (!journal_) return resp;
  absl::Time wait_start = absl::Now();
  absl::Status s = journal_->WaitDurable(wait_seq, absl::Now() + options_.push_timeout);
  if (metrics_) {
    metrics_->ack_latency->Observe(absl::ToDoubleSeconds(absl::Now() - wait_start));
  }
  if (!s.ok()) {
    if (absl::IsDeadlineExceeded(s)) {
      return absl::DeadlineExceededError(absl::StrCat(
          "events applied but not durable within ",
          absl::FormatDuration(options_.push_timeout),
          " (persistor unreachable?); re-send them: ", s.message()));
    }
    return absl::UnavailableError(absl::StrCat("journal failed: ", s.message()));
  }
  resp.set_durable_seq(wait_seq);
  return resp;
}

// ----------------------------------------------------------------- reads

absl::Status Engine::GetTopology(const v1::GetTopologyRequest& req,
                                 std::vector<v1::TopologyBatch>* batches) {
  if (!readable()) {
    absl::MutexLock l(&status_mu_);
    return NotServingLocked();
  }
  graph::TopologyQuery q;
  q.vitrage_types.assign(req.vitrage_types().begin(), req.vitrage_types().end());
  q.root_id = req.root_id();
  q.depth = req.depth();
  q.include_deleted = req.include_deleted();
  size_t batch = req.batch_size() == 0 ? 1000 : std::min<uint32_t>(req.batch_size(), 10000);
  absl::ReaderMutexLock l(&mu_);
  graph::Subgraph sub;
  RETURN_IF_ERROR(graph_.Topology(q, &sub));
  v1::TopologyBatch cur;
  size_t n = 0;
  auto flush = [&] {
    batches->push_back(std::move(cur));
    cur = v1::TopologyBatch();
    n = 0;
  };
  for (graph::Slot v : sub.vertices) {
    graph::VertexToProto(graph_, v, cur.add_vertices());
    if (++n >= batch) flush();
  }
  for (graph::Slot e : sub.edges) {
    graph::EdgeToProto(graph_, e, cur.add_edges());
    if (++n >= batch) flush();
  }
  if (n > 0 || batches->empty()) flush();
  return absl::OkStatus();
}

absl::StatusOr<v1::GetVertexResponse> Engine::GetVertex(const std::string& id) {
  if (!readable()) {
    absl::MutexLock l(&status_mu_);
    return NotServingLocked();
  }
  if (id.empty()) return absl::InvalidArgumentError("GetVertex: id is empty");
  absl::ReaderMutexLock l(&mu_);
  graph::Slot v = graph_.FindVertex(id);
  if (v == graph::kNoSlot) return absl::NotFoundError(absl::StrCat("no vertex \"", id, "\""));
  v1::GetVertexResponse resp;
  graph::VertexToProto(graph_, v, resp.mutable_vertex());
  graph::EdgeFilter all;
  all.include_deleted = true;
  for (graph::Slot e : graph_.IncidentEdges(v, all)) {
    graph::EdgeToProto(graph_, e, resp.add_edges());
  }
  return resp;
}

v1::GraphStatus Engine::Status(bool with_digest) {
  v1::GraphStatus st;
  journal::JournalClient* journal;
  {
    absl::MutexLock l(&status_mu_);
    journal = journal_.get();  // see PublishedJournal()
    st.set_role(role_);
    st.set_phase(phase_);
    st.set_epoch(epoch_);
    *st.mutable_recovery() = timings_;
  }
  st.set_persistency_enabled(options_.persistency);
  {
    absl::ReaderMutexLock l(&mu_);
    st.set_applied_seq(applied_seq_);
    st.set_vertex_count(graph_.vertex_count());
    st.set_edge_count(graph_.edge_count());
    if (with_digest) st.set_digest(graph::Digest(graph_));
    FillEvaluatorStatusLocked(st.mutable_evaluator());
  }
  if (journal != nullptr) {
    st.set_durable_seq(journal->durable_seq());
    st.set_buffered_records(journal->buffered_records());
    st.set_buffered_bytes(journal->buffered_bytes());
  }
  {
    absl::MutexLock l(&snap_mu_);
    st.set_last_snapshot_seq(last_snapshot_seq_);
    st.set_last_snapshot_age_seconds(
        last_snapshot_time_ == absl::InfinitePast()
            ? -1
            : absl::ToDoubleSeconds(absl::Now() - last_snapshot_time_));
    st.set_last_snapshot_error(last_snapshot_error_);
  }
  FillStandbyStatus(&st);
  return st;
}

// ------------------------------------------------------------- snapshots

absl::Status Engine::StartSnapshotter() {
  {
    absl::MutexLock l(&snap_mu_);
    last_snapshot_time_ = absl::Now();  // the interval counts from start-up
  }
  // Shutdown() joins snapshotter_ once shutdown_ is set: start the thread
  // only before that, under the same lock.
  absl::MutexLock l(&status_mu_);
  if (shutdown_) return absl::CancelledError("shut down during recovery");
  snapshotter_ = std::thread([this] { RunSnapshotter(); });
  return absl::OkStatus();
}

absl::StatusOr<v1::TakeSnapshotResponse> Engine::TakeSnapshot() {
  if (!options_.persistency) {
    return absl::FailedPreconditionError("persistency is disabled: no snapshots");
  }
  if (!active()) {
    absl::MutexLock l(&status_mu_);
    return NotServingLocked();
  }
  // A snapshot started after this point covers everything applied so far.
  absl::MutexLock l(&snap_mu_);
  uint64_t ticket = ++snap_requested_;
  auto done = [&] {
    snap_mu_.AssertHeld();
    return snap_done_ >= ticket || snap_stop_;
  };
  if (!snap_mu_.AwaitWithTimeout(absl::Condition(&done), absl::Seconds(300))) {
    return absl::DeadlineExceededError("snapshot did not finish within 300 s");
  }
  if (snap_stop_ && snap_done_ < ticket) return absl::CancelledError("shutting down");
  return snap_result_;
}

void Engine::RunSnapshotter() {
  while (true) {
    uint64_t ticket = 0;
    bool periodic = false;
    {
      absl::MutexLock l(&snap_mu_);
      auto wake = [this] {
        snap_mu_.AssertHeld();
        return snap_stop_ || snap_requested_ > snap_done_;
      };
      snap_mu_.AwaitWithTimeout(absl::Condition(&wake), absl::Seconds(1));
      if (snap_stop_) return;
      bool timer = absl::Now() - last_snapshot_time_ >= options_.snapshot_interval;
      if (snap_requested_ == snap_done_ && !timer) continue;
      ticket = snap_requested_;
      periodic = snap_requested_ == snap_done_;
    }
    // A hot standby may have stored a recent one (engine_standby.cc).
    if (periodic && SkipPeriodicSnapshot()) continue;
    auto result = SnapshotByFork();
    absl::MutexLock l(&snap_mu_);
    snap_result_ = result;
    snap_done_ = ticket;
    last_snapshot_time_ = absl::Now();
    if (result.ok()) {
      last_snapshot_seq_ = result->seq();
      last_snapshot_error_.clear();
      if (metrics_) {
        metrics_->snapshot_duration->Observe(result->total_ms() / 1000.0);
        metrics_->snapshot_bytes->Set(result->stored_bytes());
      }
    } else {
      if (metrics_) metrics_->snapshot_failures->Increment();
      last_snapshot_error_ = std::string(result.status().message());
    }
  }
}

snapshot::SnapshotSections Engine::SnapshotSectionsLocked() const {
  snapshot::SnapshotSections sections;
  for (const auto& [source, s] : marks_) {
    v1::SourceMark m;
    m.set_source(source);
    m.set_source_seq(s);
    sections.source_marks.push_back(std::move(m));
  }
  std::sort(sections.source_marks.begin(), sections.source_marks.end(),
            [](const v1::SourceMark& a, const v1::SourceMark& b) {
              return a.source() < b.source();
            });
  sections.evaluator_state = EvaluatorStateLocked();
  return sections;
}

absl::StatusOr<v1::TakeSnapshotResponse> Engine::SnapshotByFork() {
  const absl::Time t0 = absl::Now();
  snapshot::SnapshotInfo info;
  info.epoch = journal_->epoch();
  snapshot::EncodeOptions eo;
  eo.compute_digest = options_.snapshot_digest;
  eo.parallel = false;  // the child must not start threads
  std::optional<absl::StatusOr<ForkedEncode>> forked;
  double stall_ms;
  {
    // Intake waits only for the fork itself (the page-table copy); the
    // child encodes the graph exactly as it is at this seq.
    absl::MutexLock l(&mu_);
    const absl::Time locked = absl::Now();
    info.seq = applied_seq_;
    info.seq_time_unix_micros = last_record_time_;
    info.created_unix_micros = absl::ToUnixMicros(locked);
    forked.emplace(ForkedEncode::Start([this, &info, &eo]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
      // In the child: mu_ is held by this (copied) thread; nothing changes.
      return snapshot::EncodeSnapshotToMemory(graph_, info, SnapshotSectionsLocked(), eo);
    }));
    stall_ms = Ms(absl::Now() - locked);
  }
  absl::StatusOr<ForkedEncode>& child = *forked;
  if (!child.ok()) {
    LOG(ERROR) << "snapshot at seq " << info.seq << ": cannot fork the encoder ("
               << child.status() << "); the previous snapshot stays in force";
    return child.status();
  }
  const uint64_t seq = info.seq;
  VLOG(1) << "snapshot at seq " << seq << ": encoder process " << child->pid()
          << " forked, processing paused " << stall_ms << " ms";
  // The snapshot must not be ahead of the durable log (waits while the
  // child encodes).
  RETURN_IF_ERROR(journal_->WaitDurable(seq, absl::Now() + absl::Seconds(60)));
  auto encoded = child->Wait(absl::Seconds(600), [this] {
    absl::MutexLock l(&snap_mu_);
    return snap_stop_;
  });
  if (!encoded.ok()) {
    LOG(ERROR) << "snapshot at seq " << seq << " failed to encode: " << encoded.status()
               << "; the previous snapshot stays in force";
    return encoded.status();
  }
  const absl::Time t1 = absl::Now();
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(300)));
  // Right after a persistor restart the channel may still be reconnecting:
  // wait for it within the deadline instead of failing at once.
  ctx.set_wait_for_ready(true);
  v1::PutSnapshotResponse resp;
  auto writer = persistor_->PutSnapshot(&ctx, &resp);
  v1::PutSnapshotRequest req;
  *req.mutable_header() = encoded->header;
  bool ok = writer->Write(req);
  for (auto& chunk : encoded->chunks) {
    if (!ok) break;
    req.Clear();
    *req.mutable_chunk() = std::move(chunk);
    ok = writer->Write(req);
  }
  if (ok) writer->WritesDone();
  grpc::Status st = writer->Finish();
  if (!st.ok()) {
    absl::Status s = FromGrpcStatus(st);
    LOG(ERROR) << "snapshot at seq " << seq << " was not stored (" << st.error_message()
               << "); the previous snapshot stays in force";
    if (st.error_code() == grpc::StatusCode::FAILED_PRECONDITION) Fatal(s);
    return s;
  }
  v1::TakeSnapshotResponse out;
  out.set_snapshot_id(resp.snapshot_id());
  out.set_seq(seq);
  out.set_stored_bytes(resp.stored_bytes());
  out.set_stall_ms(stall_ms);
  out.set_total_ms(Ms(absl::Now() - t0));
  LOG(INFO) << "snapshot " << resp.snapshot_id() << " stored: seq " << seq << ", "
            << encoded->header.vertex_count() << " vertices, " << encoded->header.edge_count()
            << " edges, " << resp.stored_bytes() << " bytes in " << encoded->chunks.size()
            << " chunks; processing paused " << stall_ms << " ms (fork), encode "
            << Ms(t1 - t0) << " ms (child process), store " << Ms(absl::Now() - t1) << " ms";
  return out;
}

}  // namespace vitrage::service
