#include "graph_service/service/engine.h"

#include <glog/logging.h>
#include <google/protobuf/arena.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/grpc_util.h"
#include "common/huge_page_heap.h"
#include "common/metrics.h"
#include "common/status_macros.h"
#include "graph_service/graph/digest.h"
#include "graph_service/graph/proto_convert.h"
#include "graph_service/service/forked_encode.h"
#include "graph_service/snapshot/snapshot.h"

namespace vitrage::service {
namespace {

double Ms(absl::Duration d) { return absl::ToDoubleMilliseconds(d); }

const char* RoleName(v1::GraphRole r) { return v1::GraphRole_Name(r).c_str(); }

}  // namespace

Engine::Engine(EngineOptions options, const HandlerFactory& make_handler)
    : options_(std::move(options)),
      process_start_(absl::Now()),
      intake_(IntakeOptions{options_.push_timeout, options_.max_distinct_keys}) {
  {
    absl::MutexLock l(&mu_);
    handler_ = make_handler(&graph_);
  }
  LoadTemplates();
  if (options_.persistency) {
    persistor_channel_ = MakeChannel(options_.persistor_address, ServerRole::kPersistor, 64 << 20);
    // Connect now, in gRPC's threads: recovery's first call then finds the
    // connection (TCP + HTTP/2 handshake) made or under way. The log line
    // "recovery: snapshot N: call open after X ms" shows what is left of it
    // (docs/performance.md).
    persistor_channel_->GetState(/*try_to_connect=*/true);
    persistor_ = v1::Persistor::NewStub(persistor_channel_);
  }
  SnapshotterOptions snap;
  snap.interval = options_.snapshot_interval;
  snap.compute_digest = options_.snapshot_digest;
  snapshotter_ = std::make_unique<Snapshotter>(
      snap, persistor_.get(),
      [this](bool from_standby, const snapshot::EncodeOptions& eo, snapshot::SnapshotInfo* info,
             double* stall_ms) { return ForkSnapshotEncoder(from_standby, eo, info, stall_ms); },
      [this](const absl::Status& s) { Fatal(s); }, [this] { return SkipPeriodicSnapshot(); });
  collector_ = v1::Collector::NewStub(
      MakeChannel(options_.collector_address, ServerRole::kCollector, 64 << 20));
}

Engine::~Engine() { Shutdown(); }

void Engine::ExportMetrics() {
  namespace m = vitrage::metrics;
  intake_.ExportMetrics();
  snapshotter_->ExportMetrics();
  auto& applied_seq = m::Gauge("vitrage_graph_applied_seq", "Highest journal seq applied");
  auto& durable_seq = m::Gauge("vitrage_graph_durable_seq", "Highest journal seq durable");
  auto& lag = m::Gauge("vitrage_graph_durable_lag_records", "Records applied but not yet durable");
  auto& buf_records =
      m::Gauge("vitrage_graph_journal_buffer_records", "Records in the journal buffer");
  auto& buf_bytes = m::Gauge("vitrage_graph_journal_buffer_bytes", "Bytes in the journal buffer");
  auto& reconnects =
      m::Gauge("vitrage_graph_journal_reconnects", "Times the Append stream was re-opened");
  auto& vertices = m::Gauge("vitrage_graph_vertices", "Vertices in the graph");
  auto& edges = m::Gauge("vitrage_graph_edges", "Edges in the graph");
  auto& role = m::Gauge("vitrage_graph_role",
                        "GraphRole: 1 STARTING, 2 RECOVERING, 3 ACTIVE, 4 STANDBY, 5 FENCED");
  auto& snap_age = m::Gauge("vitrage_graph_snapshot_age_seconds",
                            "Seconds since the last stored snapshot (-1: none)");
  auto& snap_seq = m::Gauge("vitrage_graph_snapshot_seq", "Journal seq of the last snapshot");
  std::map<std::string, prometheus::Gauge*> phases;
  for (const char* p :
       {"acquire_epoch", "snapshot_load", "replay", "index_rebuild", "get_all", "total"}) {
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
    LOG(ERROR) << "FENCED: another vitrage-graph holds a newer epoch (" << s.message()
               << "); this one stops taking events and exits";
  } else if (IsConfigurationError(s)) {
    phase_ = absl::StrCat("failed: ", s.message());
    LOG(ERROR) << "vitrage-graph: configuration error: " << s.message();
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
  snapshotter_->Stop();
  StopFollower();
  // Recover() publishes journal_ and snapshotter_ under status_mu_ only
  // while shutdown_ is false, so both are stable from here on.
  snapshotter_->Join();
  if (consistency_.joinable()) consistency_.join();
  if (watchdog_thread_.joinable()) watchdog_thread_.join();
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
      // The changes are applied: each is journaled (the journal takes every
      // record; the pass was admitted by WaitForRoom above).
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

void Engine::SetHealthListener(std::function<void(bool serving)> listener) {
  health_listener_ = std::move(listener);
}

void Engine::RunWatchdog() {
  while (true) {
    {
      absl::MutexLock l(&status_mu_);
      auto stop = [this] {
        status_mu_.AssertHeld();
        return shutdown_ || !fatal_.ok();
      };
      if (status_mu_.AwaitWithTimeout(absl::Condition(&stop), absl::Seconds(1))) return;
    }
    watchdog_->Tick();
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
    if (options_.persistency) {
      Watchdog::Hooks hooks;
      hooks.report = [this](absl::Duration waiting, const std::string& error,
                            const std::string* phase) {
        absl::MutexLock l(&status_mu_);
        journal_stalled_ = waiting;
        journal_error_ = error;
        if (phase == nullptr) return true;
        if (role_ != v1::ACTIVE) return false;
        phase_ = *phase;
        return true;
      };
      hooks.health = [this](bool serving) {
        if (health_listener_) health_listener_(serving);
      };
      hooks.fatal = [this](const absl::Status& s) { Fatal(s); };
      watchdog_ = std::make_unique<Watchdog>(
          WatchdogOptions{options_.journal_stall_timeout, options_.fence_check_interval},
          journal_.get(), persistor_.get(), std::move(hooks));
      watchdog_thread_ = std::thread([this] { RunWatchdog(); });
    }
    timings_.set_total_ms(Ms(absl::Now() - process_start_));
    if (role_ != v1::FENCED) {
      role_ = v1::ACTIVE;
      phase_ = "active";
    }
    if (promoted_) FinishPromoteLocked();
    LOG(INFO) << "ACTIVE after " << timings_.total_ms() << " ms (epoch " << epoch_
              << "; acquire epoch " << timings_.acquire_epoch_ms() << " ms, snapshot load "
              << timings_.snapshot_load_ms() << " ms, replay " << timings_.replay_ms() << " ms of "
              << timings_.records_replayed() << " records, index rebuild "
              << timings_.index_rebuild_ms() << " ms, get_all " << timings_.get_all_ms() << " ms"
              << (timings_.get_all_reason().empty()
                      ? std::string()
                      : absl::StrCat(" (", timings_.get_all_reason(), ")"))
              << ")";
  }
  StopHugePages();
  return absl::OkStatus();
}

void Engine::StopHugePages() {
  // vitrage-graph's allocator asks for 2 MiB pages (main.cc), which make
  // filling a fresh process with the recovered graph much cheaper. Once
  // ACTIVE they only cost, while intake runs (common/huge_page_heap.h).
  if (!StopNewHugePages()) {
    LOG(WARNING) << "could not stop huge pages (prctl PR_SET_THP_DISABLE): "
                 << std::strerror(errno);
  }
}

// RunGetAll: engine_get_all.cc.

std::string Engine::RestartedSourceLocked(const v1::PushEventsRequest& req) const {
  // A push is almost always one source's events: look each source up once,
  // not once per event (intake looks every event up again for dedupe).
  const std::string* previous = nullptr;
  for (const v1::Event& ev : req.events()) {
    if (ev.source_seq() == 0) continue;
    if (previous != nullptr && ev.source() == *previous) continue;
    previous = &ev.source();
    if (marks_.contains(ev.source())) continue;
    const size_t at = ev.source().rfind('@');
    if (at == std::string::npos) continue;
    const absl::string_view name = absl::string_view(ev.source()).substr(0, at + 1);
    for (const auto& [known, seq] : marks_) {
      if (absl::StartsWith(known, name) && known.size() > name.size() &&
          known.find('@', name.size()) == std::string::npos) {
        return absl::StrCat("collector \"", name.substr(0, at), "\" restarted (run ",
                            known.substr(name.size()), ", acked up to seq ", seq, ", is now run ",
                            ev.source().substr(at + 1), ")");
      }
    }
  }
  return std::string();
}

// ---------------------------------------------------------------- intake

void Engine::NoteMarkLocked(const std::string& source, uint64_t seq) {
  uint64_t& m = marks_[source];
  if (seq > m) m = seq;
  if (absl::StartsWith(source, kBusSourcePrefix)) {
    bus_marks_.emplace_back(applied_seq_, source);
    PruneBusMarksLocked();
  }
}

void Engine::PruneBusMarksLocked() {
  while (!bus_marks_.empty() && bus_marks_.front().first + kBusMarkRecords < applied_seq_) {
    marks_.erase(bus_marks_.front().second);
    bus_marks_.pop_front();
  }
}

uint64_t Engine::CommitRecordLocked(v1::JournalRecord record) {
  return CommitRecordLocked(&record);
}

uint64_t Engine::CommitRecordLocked(v1::JournalRecord* record) {
  if (record->has_delta() && record->delta().ByteSizeLong() > kMaxRecordDeltaBytes) {
    return CommitSplitRecordLocked(record);
  }
  record->set_seq(++applied_seq_);
  record->set_time_unix_micros(absl::ToUnixMicros(absl::Now()));
  last_record_time_ = record->time_unix_micros();
  if (!record->source().empty()) NoteMarkLocked(record->source(), record->source_seq());
  if (!journal_) return 0;
  record->set_epoch(journal_->epoch());
  absl::Status s = journal_->Append(*record);
  if (!s.ok()) {
    // The journal takes every record while it lives (journal_client.h); a
    // dead one has already made the engine fatal. Either way the graph now
    // holds a change its log does not: it must not go on as ACTIVE.
    Fatal(absl::Status(s.code(), absl::StrCat("the journal refused record ", applied_seq_,
                                              " after it was applied (", s.message(),
                                              "); restart to recover from the store")));
  }
  return applied_seq_;
}

uint64_t Engine::CommitSplitRecordLocked(v1::JournalRecord* record) {
  // The changes of one delta apply in order, so consecutive runs of them
  // are records of their own (same event_kind), replayed one after the
  // other; the source mark goes with the last, so a re-sent event is
  // deduped only once all of it is journaled (a replay that ends between
  // parts makes the evaluator take a full pass: the parts before the last
  // have no source). All are committed under this one hold of mu_: no
  // snapshot or reader sees the graph between them.
  google::protobuf::RepeatedPtrField<v1::GraphChange> changes;
  changes.Swap(record->mutable_delta()->mutable_changes());
  const std::string source = record->source();
  const uint64_t source_seq = record->source_seq();
  const std::string kind = record->event_kind();
  const int n = changes.size();
  int parts = 0;
  uint64_t seq = 0;
  for (int i = 0; i < n;) {
    v1::JournalRecord part;
    size_t bytes = 0;
    while (i < n && (part.delta().changes_size() == 0 ||
                     bytes + changes.Get(i).ByteSizeLong() <= kMaxRecordDeltaBytes)) {
      bytes += changes.Get(i).ByteSizeLong() + 4;
      part.mutable_delta()->mutable_changes()->Add()->Swap(changes.Mutable(i));
      ++i;
    }
    ++parts;
    part.set_event_kind(kind);
    if (i == n) {
      part.set_source(source);
      part.set_source_seq(source_seq);
    }
    seq = CommitRecordLocked(&part);
  }
  LOG(INFO) << "journal: a " << kind << " record of " << n << " changes was larger than "
            << kMaxRecordDeltaBytes << " bytes; journaled as " << parts << " records";
  return seq;
}

uint64_t Engine::ApplyLocked(const v1::Event& ev, bool dedupe) {
  struct ResetArena {
    ReusableArena* arena;
    ~ResetArena() { arena->Reset(); }
  } reset{&record_arena_};
  v1::JournalRecord& rec =
      *google::protobuf::Arena::CreateMessage<v1::JournalRecord>(record_arena_.get());
  handler_->Handle(ev, &graph_, rec.mutable_delta(), rec.mutable_event_kind());
  if (dedupe) {
    rec.set_source(ev.source());
    rec.set_source_seq(ev.source_seq());
  }
  if (!evaluator_on_) return CommitRecordLocked(&rec);
  std::vector<std::string> affected;
  evaluator_->CollectRelevant(graph_, rec.delta(), &affected);
  uint64_t seq = CommitRecordLocked(&rec);
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
  {
    absl::ReaderMutexLock l(&mu_);
    RETURN_IF_ERROR(intake_.Check(req, [this](const v1::Event& ev) {
      mu_.AssertReaderHeld();
      return handler_->Validate(ev);
    }));
  }
  v1::PushEventsResponse resp;
  uint64_t wait_seq = 0;
  {
    absl::MutexLock intake(&intake_mu_);
    // Under intake_mu_, so no other request adds keys meanwhile.
    RETURN_IF_ERROR(intake_.CheckKeys(req));
    std::string restarted;
    {
      absl::ReaderMutexLock l(&mu_);
      restarted = RestartedSourceLocked(req);
    }
    if (!restarted.empty()) {
      // The events its previous run had not got acked are lost with it
      // (the outbox is in memory): take the collector's whole state again
      // before its first event. Its GetAll covers what it has queued so
      // far, and the reconcile record gives the new source its mark.
      LOG(WARNING) << restarted << ": whatever its previous run had not got acked is lost; "
                   << "reconciling with get_all before taking its events";
      absl::Status s = RunGetAll(restarted, /*live=*/true);
      if (!s.ok()) LOG(ERROR) << "reconcile after " << restarted << " failed: " << s;
    }
    RETURN_IF_ERROR(Intake::Admit(journal_.get(), req.events_size()));
    absl::MutexLock l(&mu_);
    for (int i = 0; i < req.events_size(); ++i) {
      handler_->Lookahead(req.events(), i);
      const v1::Event& ev = req.events(i);
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
  intake_.Count(resp);
  return PushTicket{std::move(resp), wait_seq};
}

absl::StatusOr<v1::PushEventsResponse> Engine::FinishPush(PushTicket ticket) {
  return intake_.Finish(journal_.get(), std::move(ticket.resp), ticket.wait_seq);
}

absl::Status Engine::WaitDurable(uint64_t seq, absl::Duration timeout) {
  journal::JournalClient* journal = PublishedJournal();
  if (journal == nullptr) return absl::OkStatus();
  return journal->WaitDurable(seq, absl::Now() + timeout);
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
    st.set_journal_stalled_seconds(absl::ToDoubleSeconds(journal_stalled_));
    st.set_journal_last_error(journal_error_);
  }
  st.set_persistency_enabled(options_.persistency);
  {
    absl::ReaderMutexLock l(&mu_);
    st.set_applied_seq(applied_seq_);
    st.set_vertex_count(graph_.vertex_count());
    st.set_edge_count(graph_.edge_count());
    if (with_digest) st.set_digest(graph::Digest(graph_));
    FillEvaluatorStatusLocked(st.mutable_evaluator());
    for (const auto& [source, seq] : marks_) {
      // One per bus message: counted, not listed.
      if (absl::StartsWith(source, kBusSourcePrefix)) {
        st.mutable_bus()->set_message_marks(st.bus().message_marks() + 1);
        continue;
      }
      v1::SourceMark* m = st.add_source_marks();
      m->set_source(source);
      m->set_source_seq(seq);
    }
  }
  std::sort(
      st.mutable_source_marks()->begin(), st.mutable_source_marks()->end(),
      [](const v1::SourceMark& a, const v1::SourceMark& b) { return a.source() < b.source(); });
  if (journal != nullptr) {
    st.set_durable_seq(journal->durable_seq());
    st.set_buffered_records(journal->buffered_records());
    st.set_buffered_bytes(journal->buffered_bytes());
  }
  snapshotter_->FillStatus(&st);
  FillStandbyStatus(&st);
  return st;
}

// ------------------------------------------------------------- snapshots

absl::Status Engine::StartSnapshotter() {
  // Shutdown() stops the snapshotter once shutdown_ is set: start its
  // thread only before that, under the same lock.
  absl::MutexLock l(&status_mu_);
  if (shutdown_) return absl::CancelledError("shut down during recovery");
  return snapshotter_->Start(journal_.get());
}

absl::StatusOr<v1::TakeSnapshotResponse> Engine::TakeSnapshot() {
  if (!options_.persistency) {
    return absl::FailedPreconditionError("persistency is disabled: no snapshots");
  }
  if (!active()) {
    absl::MutexLock l(&status_mu_);
    return NotServingLocked();
  }
  return snapshotter_->Request();
}

snapshot::SnapshotSections Engine::SnapshotSectionsLocked() const {
  snapshot::SnapshotSections sections;
  for (const auto& [source, s] : marks_) {
    v1::SourceMark m;
    m.set_source(source);
    m.set_source_seq(s);
    sections.source_marks.push_back(std::move(m));
  }
  std::sort(
      sections.source_marks.begin(), sections.source_marks.end(),
      [](const v1::SourceMark& a, const v1::SourceMark& b) { return a.source() < b.source(); });
  sections.evaluator_state = EvaluatorStateLocked();
  return sections;
}

absl::StatusOr<ForkedEncode> Engine::ForkSnapshotEncoder(bool from_standby,
                                                         const snapshot::EncodeOptions& eo,
                                                         snapshot::SnapshotInfo* info,
                                                         double* stall_ms) {
  // Intake (or the standby's follower) waits only for the fork itself
  // (the page-table copy); the child encodes the graph exactly as it is
  // at this seq.
  absl::MutexLock l(&mu_);
  const absl::Time locked = absl::Now();
  if (from_standby) {
    if (standby_record_seq_ != applied_seq_ || replay_image_ != nullptr) {
      // Between the records of a get_all image the graph is not yet at
      // applied_seq_ (engine_get_all.cc applies the image at its last one).
      return absl::FailedPreconditionError(
          "the standby's graph is not at a record it followed (or inside a get_all image)");
    }
    info->epoch = standby_record_epoch_;
  }
  info->seq = applied_seq_;
  info->seq_time_unix_micros = last_record_time_;
  info->created_unix_micros = absl::ToUnixMicros(locked);
  absl::StatusOr<ForkedEncode> child =
      ForkedEncode::Start([this, info, &eo]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
        // In the child: mu_ is held by this (copied) thread; nothing changes.
        return snapshot::EncodeSnapshotToMemory(graph_, *info, SnapshotSectionsLocked(), eo);
      });
  *stall_ms = Ms(absl::Now() - locked);
  return child;
}

}  // namespace vitrage::service
