#include "graph_service/service/engine.h"

#include <glog/logging.h>
#include <google/protobuf/arena.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/grpc_util.h"
#include "common/huge_page_heap.h"
#include "common/metrics.h"
#include "common/status_macros.h"
#include "graph_service/evaluator/queries.h"
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
      evaluator_(options_.templates_dir),
      intake_(IntakeOptions{options_.push_timeout, options_.max_distinct_keys}) {
  {
    absl::MutexLock l(&state_.mu);
    state_.handler = make_handler(&state_.graph);
  }
  if (options_.persistency) {
    persistor_channel_ = MakeChannel(options_.persistor_address, ServerRole::kPersistor, 64 << 20);
    // Connect now, in gRPC's threads: recovery's first call then finds the
    // connection (TCP + HTTP/2 handshake) made or under way. The log line
    // "recovery: snapshot N: call open after X ms" shows what is left of it.
    persistor_channel_->GetState(/*try_to_connect=*/true);
    persistor_ = v1::Persistor::NewStub(persistor_channel_);
    // Snapshots (tens of MB) go on a connection of their own: on the
    // journal's, they held its appends up behind HTTP/2's flow control
    // (tens of ms of ack latency at 1M; docs/performance.md).
    snapshot_persistor_ = v1::Persistor::NewStub(
        MakeChannel(options_.persistor_address, ServerRole::kPersistor, 64 << 20, "snapshots"));
  }
  SnapshotterOptions snap;
  snap.interval = options_.snapshot_interval;
  snap.compute_digest = options_.snapshot_digest;
  snap.format_version = options_.snapshot_format;
  snapshotter_ = std::make_unique<Snapshotter>(
      snap, snapshot_persistor_.get(),
      [this](bool from_standby, const snapshot::EncodeOptions& eo, snapshot::SnapshotInfo* info,
             double* stall_ms) { return ForkSnapshotEncoder(from_standby, eo, info, stall_ms); },
      [this](const absl::Status& s) { Fatal(s); },
      [this] {
        return StandbyStoredRecently(persistor_.get(), options_.snapshot_interval,
                                     snapshotter_.get());
      });
  collector_ = v1::Collector::NewStub(
      MakeChannel(options_.collector_address, ServerRole::kCollector, 64 << 20));
  MakeRooms();
}

void Engine::MakeRooms() {
  GetAll::Hooks g;
  g.stopped = [this] {
    absl::MutexLock l(&status_mu_);
    if (shutdown_) return absl::CancelledError("shut down during get_all");
    return fatal_;
  };
  g.phase = [this](v1::GraphRole role, const std::string& phase) { SetPhase(role, phase); };
  g.apply_locked = [this](const v1::Event& ev)
                       ABSL_NO_THREAD_SAFETY_ANALYSIS { ApplyLocked(ev, /*dedupe=*/false); };
  g.commit_locked = [this](v1::JournalRecord* rec)
                        ABSL_NO_THREAD_SAFETY_ANALYSIS { CommitEvaluatedLocked(rec); };
  // Get_all runs on the thread that publishes the journal (recovery) or
  // under intake_mu_ after it.
  g.journal = [this] { return journal_.get(); };
  GetAllOptions get_all_options;
  get_all_options.collector_address = options_.collector_address;
  get_all_options.max_graph_vertices = options_.max_graph_vertices;
  get_all_options.max_graph_edges = options_.max_graph_edges;
  get_all_options.max_distinct_keys = options_.max_distinct_keys;
  get_all_ = std::make_unique<GetAll>(get_all_options, collector_.get(), &state_, std::move(g));
  if (!options_.persistency) return;

  auto timings = [this](const std::function<void(v1::RecoveryTimings*)>& edit) {
    EditTimings(edit);
  };
  Recovery::Hooks r;
  r.stopped = [this] { return ShuttingDown(); };
  r.phase = [this](const std::string& phase) { SetPhase(v1::RECOVERING, phase); };
  r.timings = timings;
  r.epoch = [this](uint64_t epoch) {
    absl::MutexLock l(&status_mu_);
    epoch_ = epoch;
  };
  // Status and metrics report the stored snapshot from recovery on, its
  // age counting from when it was taken (not 0 and "just now").
  r.snapshot_loaded = [this](uint64_t id, const v1::SnapshotHeader& header) {
    snapshotter_->NoteRecovered(id, header.seq(),
                                absl::FromUnixMicros(header.created_unix_micros()),
                                header.compressed_bytes());
  };
  RecoveryOptions ro;
  ro.persistor_address = options_.persistor_address;
  ro.owner = options_.owner;
  ro.get_all_after_downtime = options_.get_all_after_downtime;
  ro.verify_snapshot_digest = options_.verify_snapshot_digest;
  ro.max_graph_vertices = options_.max_graph_vertices;
  ro.max_graph_edges = options_.max_graph_edges;
  recovery_ = std::make_unique<Recovery>(std::move(ro), persistor_.get(), &state_, get_all_.get(),
                                         &evaluator_, std::move(r));
  if (!options_.standby) return;

  StandbyFollower::Hooks s;
  s.phase = [this](const std::string& phase) { SetPhase(v1::STANDBY, phase); };
  s.timings = timings;
  s.readable = [this] {
    absl::MutexLock l(&status_mu_);
    readable_ = true;
  };
  follower_ = std::make_unique<StandbyFollower>(
      StandbyOptions{options_.persistor_address, options_.standby_stream_timeout,
                     options_.snapshot_interval},
      persistor_.get(), &state_, recovery_.get(), get_all_.get(), &evaluator_, snapshotter_.get(),
      std::move(s));
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
  auto& journal_connected = m::Gauge("vitrage_graph_journal_connected",
                                     "1 while the journal's link to the persistor is up");
  auto& journal_state_seconds =
      m::Gauge("vitrage_graph_journal_state_seconds",
               "Seconds since the journal's link to the persistor went up or down");
  auto& lag_seconds = m::Gauge("vitrage_graph_durable_lag_seconds",
                               "Age of the oldest record not yet durable (0: none waits)");
  auto& get_all_received = m::Gauge("vitrage_graph_get_all_received",
                                    "Entities received by the running (or last) get_all");
  std::map<std::string, prometheus::Gauge*> phases;
  for (const char* p :
       {"acquire_epoch", "snapshot_load", "replay", "index_rebuild", "get_all", "total"}) {
    phases[p] = &m::Gauge("vitrage_graph_recovery_phase_milliseconds",
                          "Duration of each phase of the last recovery", {{"phase", p}});
  }
  m::AddRefresher([=, &applied_seq, &durable_seq, &lag, &buf_records, &buf_bytes, &reconnects,
                   &vertices, &edges, &role, &snap_age, &snap_seq, &journal_connected,
                   &journal_state_seconds, &lag_seconds, &get_all_received] {
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
    journal_connected.Set(st.journal_connected() ? 1 : 0);
    journal_state_seconds.Set(st.journal_since_seconds());
    lag_seconds.Set(st.journal_lag_seconds());
    get_all_received.Set(static_cast<double>(st.get_all_received()));
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

absl::Status Engine::CheckReadable() const {
  absl::MutexLock l(&status_mu_);
  return readable_ ? absl::OkStatus() : NotServingLocked();
}

bool Engine::ShuttingDown() const {
  absl::MutexLock l(&status_mu_);
  return shutdown_;
}

void Engine::EditTimings(const std::function<void(v1::RecoveryTimings*)>& edit) {
  absl::MutexLock l(&status_mu_);
  edit(&timings_);
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
  if (follower_) follower_->Stop();
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
    absl::MutexLock l(&state_.mu);
    std::vector<v1::GraphDelta> deltas;
    state_.handler->Periodic(&state_.graph, absl::Now(), &deltas);
    for (auto& d : deltas) {
      // The changes are applied: each is journaled (the journal takes every
      // record; the pass was admitted by WaitForRoom above).
      v1::JournalRecord rec;
      *rec.mutable_delta() = std::move(d);
      rec.set_event_kind("consistency");
      CommitEvaluatedLocked(&rec);
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

void Engine::StartWatchdogLocked() {
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

// ------------------------------------------------------------- start-up

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
    if (options_.persistency) StartWatchdogLocked();
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
              << "); " << HeapSummary();
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

absl::Status Engine::Recover() {
  if (!options_.persistency) {
    LOG(INFO) << "persistency is disabled: starting from an empty graph and get_all";
    {
      absl::MutexLock l(&status_mu_);
      readable_ = true;
    }
    return RunGetAll("persistency disabled");
  }
  ASSIGN_OR_RETURN(Recovery::Outcome outcome, recovery_->Run(process_start_));
  {
    absl::MutexLock l(&status_mu_);
    readable_ = true;
  }
  return OpenJournal(outcome, /*promoted=*/false);
}

absl::Status Engine::RunStandby() {
  RETURN_IF_ERROR(follower_->Start());
  // Wait for Promote() or shutdown; meanwhile watch the stream for silence.
  while (true) {
    {
      absl::MutexLock l(&status_mu_);
      auto wake = [this] {
        status_mu_.AssertHeld();
        return shutdown_ || promote_requested_;
      };
      if (status_mu_.AwaitWithTimeout(absl::Condition(&wake), absl::Milliseconds(250))) {
        if (shutdown_) return absl::CancelledError("shut down in standby");
        LOG(INFO) << "promote: requested; acquiring epoch (this fences the old active)";
        break;
      }
    }
    follower_->CheckStream();
  }
  follower_->StopForPromote();
  ASSIGN_OR_RETURN(Recovery::Outcome outcome, recovery_->CatchUp(process_start_));
  {
    absl::MutexLock l(&status_mu_);
    readable_ = true;
  }
  return OpenJournal(outcome, /*promoted=*/outcome.caught_up);
}

absl::Status Engine::OpenJournal(const Recovery::Outcome& outcome, bool promoted) {
  auto journal = std::make_unique<journal::JournalClient>(
      persistor_channel_, options_.journal, outcome.epoch.epoch(), outcome.epoch.durable_seq());
  journal->SetOnFatal([this](const absl::Status& s) { Fatal(s); });
  {
    // Status() and the metrics refresher read journal_ from other threads,
    // and Shutdown() (signal thread) may run concurrently: publish it under
    // status_mu_, and never after Shutdown() has looked at it.
    absl::MutexLock l(&status_mu_);
    if (shutdown_) return absl::CancelledError("shut down during recovery");
    journal_ = std::move(journal);
    if (promoted) {
      promoted_ = true;
      promote_caught_up_ = absl::Now();
    }
  }
  RETURN_IF_ERROR(StartSnapshotter());
  if (outcome.reset) {
    absl::MutexLock l(&state_.mu);
    v1::JournalRecord rec;
    rec.set_reset(true);
    rec.set_event_kind("reset before get_all");
    CommitRecordLocked(&rec);
  }
  if (!outcome.get_all_reason.empty()) RETURN_IF_ERROR(RunGetAll(outcome.get_all_reason));
  return absl::OkStatus();
}

absl::Status Engine::RunGetAll(const std::string& reason, bool live) {
  ASSIGN_OR_RETURN(absl::Duration took, get_all_->Run(reason, live));
  if (!live) {
    absl::MutexLock l(&status_mu_);
    timings_.set_get_all_ms(Ms(took));
    timings_.set_get_all_reason(reason);
  }
  // A snapshot after every get_all (the next recovery should not need it).
  if (options_.persistency) snapshotter_->Schedule();
  return absl::OkStatus();
}

void Engine::FinishPromoteLocked() {
  const absl::Time now = absl::Now();
  timings_.set_promote_evaluator_ms(Ms(now - promote_caught_up_));
  timings_.set_promote_total_ms(Ms(now - promote_start_));
  LOG(INFO) << "promote: ACTIVE " << timings_.promote_total_ms()
            << " ms after the promote command (epoch " << epoch_ << "; acquire epoch "
            << timings_.promote_epoch_ms() << " ms, catch-up " << timings_.promote_catch_up_ms()
            << " ms of " << timings_.promote_records() << " records, journal + evaluator "
            << timings_.promote_evaluator_ms() << " ms)";
}

absl::StatusOr<v1::PromoteResponse> Engine::Promote(absl::Duration timeout) {
  v1::PromoteResponse resp;
  absl::MutexLock l(&status_mu_);
  if (role_ == v1::ACTIVE) {
    resp.set_already_active(true);
  } else {
    if (!options_.standby || !options_.persistency) {
      return absl::FailedPreconditionError(absl::StrCat(
          "Promote: this vitrage-graph was not started as a standby ([graph] standby / "
          "--standby); it is ",
          v1::GraphRole_Name(role_), ": ", phase_));
    }
    if (!fatal_.ok() || shutdown_) return NotServingLocked();
    if (!promote_requested_) {
      promote_requested_ = true;
      promote_start_ = absl::Now();
      LOG(INFO) << "promote: command received";
    }
    auto done = [this] {
      status_mu_.AssertHeld();
      return role_ == v1::ACTIVE || role_ == v1::FENCED || !fatal_.ok() || shutdown_;
    };
    if (!status_mu_.AwaitWithTimeout(absl::Condition(&done), timeout)) {
      return absl::DeadlineExceededError(absl::StrCat(
          "Promote: not ACTIVE within ", absl::FormatDuration(timeout), " (", phase_, ")"));
    }
    if (role_ != v1::ACTIVE) {
      if (!fatal_.ok()) return fatal_;
      return NotServingLocked();
    }
  }
  resp.set_epoch(epoch_);
  *resp.mutable_timings() = timings_;
  return resp;
}

void Engine::SetStandbyListener(std::function<void(bool current)> listener) {
  if (follower_) follower_->SetListener(std::move(listener));
}

absl::Status Engine::EnableEvaluator() {
  absl::MutexLock intake(&intake_mu_);
  absl::MutexLock l(&state_.mu);
  // A full pass after get_all (fresh start, long downtime, unusable store)
  // and without a snapshot; evaluator_glue.h says what else owes one.
  std::string why;
  {
    absl::MutexLock sl(&status_mu_);
    if (!timings_.get_all_reason().empty()) {
      why = "after get_all";
    } else if (timings_.snapshot_id() == 0) {
      why = "no snapshot";
    }
  }
  return evaluator_.Enable(
      state_.graph, why,
      [this](const v1::Event& ev, const std::string& kind, v1::GraphDelta* delta) {
        state_.mu.AssertHeld();
        return ApplyEvaluatorEventLocked(ev, kind, delta);
      },
      [this](const std::string& pass) {
        SetPhase(v1::RECOVERING, absl::StrCat("evaluator ", pass));
      });
}

absl::Status Engine::ApplyEvaluatorEventLocked(const v1::Event& ev, const std::string& kind,
                                               v1::GraphDelta* delta) {
  // No wait for room here (mu is held, queries would block): the work
  // that triggered the action was admitted, and the journal takes every
  // record of it (journal_client.h).
  if (journal_) RETURN_IF_ERROR(journal_->fatal_status());
  v1::JournalRecord rec;
  std::string handler_kind;
  state_.handler->Handle(ev, &state_.graph, rec.mutable_delta(), &handler_kind);
  *delta = rec.delta();
  rec.set_event_kind(kind);
  rec.set_source(ev.source());
  CommitRecordLocked(&rec);
  return absl::OkStatus();
}

// ---------------------------------------------------------------- intake

uint64_t Engine::CommitRecordLocked(v1::JournalRecord* record) {
  if (record->has_delta() && record->delta().ByteSizeLong() > kMaxRecordDeltaBytes) {
    return CommitSplitRecordLocked(record);
  }
  record->set_seq(++state_.applied_seq);
  record->set_time_unix_micros(absl::ToUnixMicros(absl::Now()));
  state_.last_record_time = record->time_unix_micros();
  if (!record->source().empty()) state_.NoteMarkLocked(record->source(), record->source_seq());
  if (!journal_) return 0;
  record->set_epoch(journal_->epoch());
  absl::Status s = journal_->Append(*record);
  if (!s.ok()) {
    // The journal takes every record while it lives (journal_client.h); a
    // dead one has already made the engine fatal. Either way the graph now
    // holds a change its log does not: it must not go on as ACTIVE.
    Fatal(absl::Status(s.code(), absl::StrCat("the journal refused record ", state_.applied_seq,
                                              " after it was applied (", s.message(),
                                              "); restart to recover from the store")));
  }
  return state_.applied_seq;
}

uint64_t Engine::CommitSplitRecordLocked(v1::JournalRecord* record) {
  // The changes of one delta apply in order, so consecutive runs of them
  // are records of their own (same event_kind), replayed one after the
  // other; the source mark goes with the last, so a re-sent event is
  // deduped only once all of it is journaled (a replay that ends between
  // parts makes the evaluator take a full pass: the parts before the last
  // have no source). All are committed under this one hold of mu: no
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
  state_.handler->Handle(ev, &state_.graph, rec.mutable_delta(), rec.mutable_event_kind());
  if (dedupe) {
    rec.set_source(ev.source());
    rec.set_source_seq(ev.source_seq());
  }
  return CommitEvaluatedLocked(&rec);
}

uint64_t Engine::CommitEvaluatedLocked(v1::JournalRecord* record) {
  if (!evaluator_.on()) return CommitRecordLocked(record);
  std::vector<std::string> affected;
  evaluator_.CollectRelevant(state_.graph, record->delta(), &affected);
  const uint64_t seq = CommitRecordLocked(record);
  evaluator_.Evaluate(state_.graph, std::move(affected),
                      [this](const v1::Event& ev, const std::string& kind, v1::GraphDelta* delta) {
                        state_.mu.AssertHeld();
                        return ApplyEvaluatorEventLocked(ev, kind, delta);
                      });
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
    absl::ReaderMutexLock l(&state_.mu);
    RETURN_IF_ERROR(intake_.Check(req, [this](const v1::Event& ev) {
      state_.mu.AssertReaderHeld();
      return state_.handler->Validate(ev);
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
      absl::ReaderMutexLock l(&state_.mu);
      restarted = RestartedSource(req, state_.marks);
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
    // The request's records go to the persistor together (journal_client.h).
    journal::JournalClient::Hold hold(journal_.get());
    absl::MutexLock l(&state_.mu);
    resp = ApplyEventsLocked(req);
    // A re-sent event may have been applied by an earlier call whose
    // record is not durable yet: wait for everything applied so far.
    wait_seq = state_.applied_seq;
  }
  intake_.Count(resp);
  return PushTicket{std::move(resp), wait_seq};
}

v1::PushEventsResponse Engine::ApplyEventsLocked(const v1::PushEventsRequest& req) {
  v1::PushEventsResponse resp;
  for (int i = 0; i < req.events_size(); ++i) {
    state_.handler->Lookahead(req.events(), i);
    const v1::Event& ev = req.events(i);
    if (ev.source_seq() != 0) {
      auto it = state_.marks.find(ev.source());
      if (it != state_.marks.end() && ev.source_seq() <= it->second) {
        resp.set_duplicates(resp.duplicates() + 1);
        continue;
      }
    }
    ApplyLocked(ev, /*dedupe=*/true);
    resp.set_applied(resp.applied() + 1);
  }
  return resp;
}

absl::StatusOr<std::vector<absl::StatusOr<Engine::PushTicket>>> Engine::ApplyPushBatch(
    const std::vector<const v1::PushEventsRequest*>& reqs) {
  {
    absl::MutexLock l(&status_mu_);
    if (role_ != v1::ACTIVE) {
      return NotServingLocked();
    }
  }
  std::vector<absl::StatusOr<PushTicket>> out(reqs.size(), absl::UnknownError("not applied"));
  std::vector<bool> valid(reqs.size(), false);
  int events = 0;
  {
    absl::ReaderMutexLock l(&state_.mu);
    for (size_t r = 0; r < reqs.size(); ++r) {
      absl::Status s = intake_.Check(*reqs[r], [this](const v1::Event& ev) {
        state_.mu.AssertReaderHeld();
        return state_.handler->Validate(ev);
      });
      if (!s.ok()) {
        out[r] = s;
        continue;
      }
      // A collector run that restarted needs ApplyPush's reconcile first:
      // not taken here (the bus's sources never look like one).
      if (!RestartedSource(*reqs[r], state_.marks).empty()) {
        return absl::FailedPreconditionError("a restarted collector source: use ApplyPush");
      }
      valid[r] = true;
      events += reqs[r]->events_size();
    }
  }
  {
    absl::MutexLock intake(&intake_mu_);
    RETURN_IF_ERROR(Intake::Admit(journal_.get(), events));
    // The batch's records go to the persistor in few Appends, not one
    // each (journal_client.h).
    journal::JournalClient::Hold hold(journal_.get());
    absl::MutexLock l(&state_.mu);
    for (size_t r = 0; r < reqs.size(); ++r) {
      if (!valid[r]) continue;
      const v1::PushEventsRequest& req = *reqs[r];
      // Under intake_mu_, and after the earlier requests' keys are in.
      if (absl::Status s = intake_.CheckKeys(req); !s.ok()) {
        out[r] = s;
        continue;
      }
      v1::PushEventsResponse resp = ApplyEventsLocked(req);
      // As ApplyPush: a duplicate may be of a record not durable yet.
      out[r] = PushTicket{std::move(resp), state_.applied_seq};
    }
  }
  for (const absl::StatusOr<PushTicket>& t : out) {
    if (t.ok()) intake_.Count(t->resp);
  }
  return out;
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
  RETURN_IF_ERROR(CheckReadable());
  graph::TopologyQuery q;
  q.vitrage_types.assign(req.vitrage_types().begin(), req.vitrage_types().end());
  q.root_id = req.root_id();
  q.depth = req.depth();
  q.include_deleted = req.include_deleted();
  size_t batch = req.batch_size() == 0 ? 1000 : std::min<uint32_t>(req.batch_size(), 10000);
  absl::ReaderMutexLock l(&state_.mu);
  const graph::Graph& g = state_.graph;
  graph::Subgraph sub;
  RETURN_IF_ERROR(g.Topology(q, &sub));
  v1::TopologyBatch cur;
  size_t n = 0;
  auto flush = [&] {
    batches->push_back(std::move(cur));
    cur = v1::TopologyBatch();
    n = 0;
  };
  for (graph::Slot v : sub.vertices) {
    graph::VertexToProto(g, v, cur.add_vertices());
    if (++n >= batch) flush();
  }
  for (graph::Slot e : sub.edges) {
    graph::EdgeToProto(g, e, cur.add_edges());
    if (++n >= batch) flush();
  }
  if (n > 0 || batches->empty()) flush();
  return absl::OkStatus();
}

absl::StatusOr<v1::GetVertexResponse> Engine::GetVertex(const std::string& id) {
  RETURN_IF_ERROR(CheckReadable());
  if (id.empty()) return absl::InvalidArgumentError("GetVertex: id is empty");
  absl::ReaderMutexLock l(&state_.mu);
  const graph::Graph& g = state_.graph;
  graph::Slot v = g.FindVertex(id);
  if (v == graph::kNoSlot) return absl::NotFoundError(absl::StrCat("no vertex \"", id, "\""));
  v1::GetVertexResponse resp;
  graph::VertexToProto(g, v, resp.mutable_vertex());
  graph::EdgeFilter all;
  all.include_deleted = true;
  for (graph::Slot e : g.IncidentEdges(v, all)) {
    graph::EdgeToProto(g, e, resp.add_edges());
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
    absl::ReaderMutexLock l(&state_.mu);
    st.set_applied_seq(state_.applied_seq);
    st.set_vertex_count(state_.graph.vertex_count());
    st.set_edge_count(state_.graph.edge_count());
    if (with_digest) st.set_digest(graph::Digest(state_.graph));
    evaluator_.FillStatus(st.mutable_evaluator());
    for (const auto& [source, seq] : state_.marks) {
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
    // The link to the persistor and the durable lag (issue 26).
    const absl::Time since = journal->link_since();
    st.set_journal_connected(journal->link_up());
    st.set_journal_since(absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", since, absl::UTCTimeZone()));
    st.set_journal_since_seconds(absl::ToDoubleSeconds(absl::Now() - since));
    st.set_journal_lag_records(
        st.applied_seq() > st.durable_seq() ? st.applied_seq() - st.durable_seq() : 0);
    st.set_journal_lag_seconds(absl::ToDoubleSeconds(journal->lag_age()));
  }
  get_all_->FillProgress(&st);
  snapshotter_->FillStatus(&st);
  if (follower_) follower_->FillStatus(&st);
  return st;
}

absl::StatusOr<v1::ListAlarmsResponse> Engine::ListAlarms(const v1::ListAlarmsRequest& req) {
  RETURN_IF_ERROR(CheckReadable());
  absl::ReaderMutexLock l(&state_.mu);
  v1::ListAlarmsResponse resp;
  for (graph::Slot v :
       evaluator::ListAlarms(state_.graph, req.vitrage_type(), req.include_deleted())) {
    graph::VertexToProto(state_.graph, v, resp.add_alarms());
  }
  return resp;
}

absl::StatusOr<v1::GetRcaResponse> Engine::GetRca(const v1::GetRcaRequest& req) {
  RETURN_IF_ERROR(CheckReadable());
  if (req.alarm_id().empty()) return absl::InvalidArgumentError("GetRca: alarm_id is empty");
  absl::ReaderMutexLock l(&state_.mu);
  graph::Subgraph sub;
  absl::Status s = evaluator::Rca(state_.graph, req.alarm_id(), &sub);
  if (!s.ok()) return absl::Status(s.code(), absl::StrCat("GetRca: ", s.message()));
  v1::GetRcaResponse resp;
  for (graph::Slot v : sub.vertices) graph::VertexToProto(state_.graph, v, resp.add_alarms());
  for (graph::Slot e : sub.edges) graph::EdgeToProto(state_.graph, e, resp.add_edges());
  return resp;
}

absl::Status Engine::ReadActiveGraph(
    const std::function<void(const graph::Graph&, const evaluator::TemplateSet*)>& fn) {
  if (!active()) return absl::UnavailableError("vitrage-graph is not ACTIVE");
  absl::ReaderMutexLock l(&state_.mu);
  fn(state_.graph, evaluator_.templates());
  return absl::OkStatus();
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
  for (const auto& [source, s] : state_.marks) {
    v1::SourceMark m;
    m.set_source(source);
    m.set_source_seq(s);
    sections.source_marks.push_back(std::move(m));
  }
  std::sort(
      sections.source_marks.begin(), sections.source_marks.end(),
      [](const v1::SourceMark& a, const v1::SourceMark& b) { return a.source() < b.source(); });
  sections.evaluator_state = evaluator_.StateSection(state_.applied_seq);
  return sections;
}

absl::StatusOr<ForkedEncode> Engine::ForkSnapshotEncoder(bool from_standby,
                                                         const snapshot::EncodeOptions& eo,
                                                         snapshot::SnapshotInfo* info,
                                                         double* stall_ms) {
  // Intake (or the standby's follower) waits only for the fork itself
  // (the page-table copy); the child encodes the graph exactly as it is
  // at this seq.
  absl::MutexLock l(&state_.mu);
  const absl::Time locked = absl::Now();
  if (from_standby) {
    if (!follower_) return absl::FailedPreconditionError("not a standby");
    ASSIGN_OR_RETURN(info->epoch, follower_->FollowedEpochLocked());
  }
  info->seq = state_.applied_seq;
  info->seq_time_unix_micros = state_.last_record_time;
  info->created_unix_micros = absl::ToUnixMicros(locked);
  absl::StatusOr<ForkedEncode> child = ForkedEncode::Start(
      [this, info, &eo]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
        // In the child: mu is held by this (copied) thread; nothing changes.
        return snapshot::EncodeSnapshotToMemory(state_.graph, *info, SnapshotSectionsLocked(), eo);
      },
      /*idle=*/!from_standby);
  *stall_ms = Ms(absl::Now() - locked);
  return child;
}

}  // namespace vitrage::service
