// The graph service's engine: the wiring of its rooms, and the locks that
// order them. No gRPC server code (graph_api.h wraps it).
//
// Where each part lives:
//   graph_state.h       the graph, its marks and applied seq, under mu
//   intake.h            PushEvents' checks, admission and acks
//   recovery.h          start-up: epoch, snapshot load, log replay
//                       (log_prefetch.h reads the log while the snapshot
//                       decodes); a standby's catch-up on promote
//   standby_follower.h  hot standby: follows the log, standby snapshots
//   get_all.h           get_all (events or a graph image) and the
//                       reconcile with a restarted collector
//   evaluator_glue.h    the template evaluator's side of the engine
//   snapshotter.h       snapshots by fork and their store (the engine gives
//                       it ForkSnapshotEncoder)
//   watchdog.h          the journal's stall and the epoch check while ACTIVE
// engine.cc keeps applying pushed events and journaling their records, the
// read side, status and metrics. GraphState::mu orders the rooms: whatever
// reads or changes the graph, its seq or its marks holds it; intake_mu_,
// taken before it, keeps the work that makes records once recovered
// (pushed requests with their reconcile, consistency passes, enabling the
// evaluator) one at a time, in arrival order; status_mu_ (role, phase,
// timings) is taken last.
//
// Start-up (../shared/DESIGN.md section 6), each phase logged with its time
// and reported in Status():
//   persistency disabled: empty graph, get_all, ACTIVE.
//   otherwise: Recovery::Run (AcquireEpoch; the newest complete snapshot;
//   the log after it up to the durable seq AcquireEpoch returned) -> the
//   journal and the snapshotter -> get_all when the downtime exceeds the
//   limit or nothing usable was stored -> the evaluator -> ACTIVE (intake
//   open).
// Queries are refused (UNAVAILABLE naming the phase) until the graph is
// rebuilt; PushEvents until ACTIVE.
//
// Intake (intake.h has the checks, admission and acks): PushEvents
// validates the whole request, then (one request at a time, in arrival
// order) gives each new event the next journal seq, applies it, and
// appends its record to the journal; it returns once the last record is
// durable. Events whose source_seq is at or below the source's high-water
// mark are acked without being applied.
//
// Snapshots (snapshotter.h): a background thread forks a child process
// that encodes the graph as it was at the fork (copy-on-write,
// forked_encode.h) and stores its output once the snapshot's seq is
// durable; processing waits only for the fork itself, under
// GraphState::mu (ForkSnapshotEncoder).
//
// Hot standby (options.standby, standby_follower.h): start-up loads the
// newest snapshot WITHOUT AcquireEpoch (a standby never fences the active),
// then a follower thread keeps a ReadLog(follow) stream open and applies
// each durable record as Replay does; role STANDBY, queries served,
// PushEvents and TakeSnapshot refused, evaluator off. Promote(): stop
// following -> Recovery::CatchUp (AcquireEpoch fences the old active;
// Replay up to the durable seq the epoch returned) -> journal +
// snapshotter -> evaluator -> ACTIVE. A log the standby cannot follow
// (gap, corrupt record) makes promote fall back to the normal recovery.
//
// Fencing: when the persistor refuses our epoch the engine stops taking
// events, reports FENCED, and WaitForFatal() returns so main can exit
// non-zero.
#ifndef VITRAGE_GRAPH_SERVICE_SERVICE_ENGINE_H_
#define VITRAGE_GRAPH_SERVICE_SERVICE_ENGINE_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/reusable_arena.h"
#include "graph_service/graph/graph.h"
#include "graph_service/journal/journal_client.h"
#include "graph_service/service/evaluator_glue.h"
#include "graph_service/service/event_handler.h"
#include "graph_service/service/forked_encode.h"
#include "graph_service/service/get_all.h"
#include "graph_service/service/graph_state.h"
#include "graph_service/service/intake.h"
#include "graph_service/service/recovery.h"
#include "graph_service/service/snapshotter.h"
#include "graph_service/service/standby_follower.h"
#include "graph_service/service/watchdog.h"
#include "graph_service/snapshot/snapshot.h"
#include "vitrage/v1/collector.grpc.pb.h"
#include "vitrage/v1/graph.pb.h"
#include "vitrage/v1/persistor.grpc.pb.h"

namespace vitrage::service {

struct EngineOptions {
  bool persistency = true;
  std::string persistor_address = "127.0.0.1:9701";
  std::string collector_address = "127.0.0.1:9703";
  journal::JournalOptions journal;
  absl::Duration snapshot_interval = absl::Seconds(600);
  absl::Duration get_all_after_downtime = absl::Seconds(3600);
  // Who we are, for AcquireEpoch (host:pid).
  std::string owner;
  // PushEvents waits this long for durability before answering
  // DEADLINE_EXCEEDED (the collector re-sends).
  absl::Duration push_timeout = absl::Seconds(20);
  // Compute the content digest into each snapshot header.
  bool snapshot_digest = true;
  // The snapshot format version written ([persistency] snapshot_format).
  uint32_t snapshot_format = snapshot::kFormatVersion;
  // Recompute and compare it when loading a snapshot.
  bool verify_snapshot_digest = false;
  // Vitrage's consistency pass (EventHandler::Periodic) runs this often
  // while ACTIVE; zero disables it.
  absl::Duration consistency_interval = absl::Seconds(60);
  // Vitrage templates (graph_service/evaluator); empty: no evaluator.
  std::string templates_dir;
  // Start as a hot standby (see above). Ignored without persistency.
  bool standby = false;
  // A follow stream silent this long (the persistor heartbeats every 1 s)
  // is cancelled and reopened (standby_follower.h).
  absl::Duration standby_stream_timeout = absl::Seconds(5);
  // While ACTIVE: journal records waiting this long with none becoming
  // durable make the graph unhealthy (health NOT_SERVING, the phase says
  // "journal stalled"; the OCF monitor reports a failure). Zero: never.
  absl::Duration journal_stall_timeout = absl::Seconds(30);
  // While ACTIVE: how often the graph asks the persistor for the current
  // epoch, so that a graph fenced while idle (no Append to be refused)
  // stops answering as ACTIVE within this time. Zero: never.
  absl::Duration fence_check_interval = absl::Seconds(2);
  // [limits] max_distinct_keys: PushEvents refuses a request whose new
  // property keys would take the process's key table beyond this
  // (graph/key_budget.h).
  uint64_t max_distinct_keys = 1'000'000;
  // [limits] max_graph_vertices / max_graph_edges: the counts a snapshot or
  // get_all image header may announce (snapshot::DecodeOptions).
  uint64_t max_graph_vertices = 50'000'000;
  uint64_t max_graph_edges = 50'000'000;
};

// Makes the engine's event handler, bound to the engine's graph.
using HandlerFactory = std::function<std::unique_ptr<EventHandler>(graph::Graph*)>;

class Engine {
 public:
  Engine(EngineOptions options, const HandlerFactory& make_handler);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Runs the start-up sequence; returns when ACTIVE, or the error that
  // stops it (shut down, fenced, unrecoverable store).
  absl::Status Start();

  absl::StatusOr<v1::PushEventsResponse> PushEvents(const v1::PushEventsRequest& req);
  // PushEvents in two steps, for pipelined intake (PushEventStream):
  // ApplyPush applies the request's events in arrival order and returns at
  // once; FinishPush waits until they are durable and gives the response.
  struct PushTicket {
    v1::PushEventsResponse resp;
    uint64_t wait_seq = 0;  // durable at this seq, every event is
  };
  absl::StatusOr<PushTicket> ApplyPush(const v1::PushEventsRequest& req);
  // ApplyPush of several requests in order (the bus: one per message),
  // with the role checked, the journal admitted and the graph locked once
  // for all of them. The outer error is one the caller retries the whole
  // batch on (not ACTIVE, journal full or failed): nothing was applied.
  // Otherwise result i is request i's: its ticket, or INVALID_ARGUMENT
  // when the request is refused (nothing of it applied; the others are).
  absl::StatusOr<std::vector<absl::StatusOr<PushTicket>>> ApplyPushBatch(
      const std::vector<const v1::PushEventsRequest*>& reqs);
  absl::StatusOr<v1::PushEventsResponse> FinishPush(PushTicket ticket);
  // OK once journal seq `seq` is durable (at once without persistency),
  // DEADLINE_EXCEEDED when it is not after `timeout` (zero: a poll), other
  // errors when it may never be (the journal failed or is shut down).
  absl::Status WaitDurable(uint64_t seq, absl::Duration timeout);

  // Builds the answer under a read lock, then hands batches to `sink`
  // (which may block on the network) without holding it.
  absl::Status GetTopology(const v1::GetTopologyRequest& req,
                           std::vector<v1::TopologyBatch>* batches);
  absl::StatusOr<v1::GetVertexResponse> GetVertex(const std::string& id);
  v1::GraphStatus Status(bool with_digest);
  absl::StatusOr<v1::TakeSnapshotResponse> TakeSnapshot();
  // Hot standby: asks Start() (which waits in standby) to take over and
  // waits up to `timeout` for ACTIVE. FAILED_PRECONDITION unless started as
  // a standby; OK with already_active when ACTIVE already.
  absl::StatusOr<v1::PromoteResponse> Promote(absl::Duration timeout);
  // Called (from the follower thread, no engine lock held) when the standby
  // becomes current (caught up with the durable seq on a live stream) or
  // stops being so, and with false when promotion starts. Set before Start().
  void SetStandbyListener(std::function<void(bool current)> listener);
  // Alarm queries (graph_service/evaluator/queries.h).
  absl::StatusOr<v1::ListAlarmsResponse> ListAlarms(const v1::ListAlarmsRequest& req);
  absl::StatusOr<v1::GetRcaResponse> GetRca(const v1::GetRcaRequest& req);

  // Runs `fn` with the graph and the evaluator's templates (null when the
  // evaluator is off) under the graph's reader lock, if the engine is
  // ACTIVE; UNAVAILABLE otherwise. For the bus RPC API (graph_service/rpc_api).
  absl::Status ReadActiveGraph(
      const std::function<void(const graph::Graph&, const evaluator::TemplateSet*)>& fn);
  // True once the graph can answer queries.
  bool readable() const;
  bool active() const;
  // Called (from the engine's watchdog thread) with false when the ACTIVE
  // graph's journal stalls for journal_stall_timeout, and with true when
  // records become durable again. Set before Start().
  void SetHealthListener(std::function<void(bool serving)> listener);

  // Registers the engine's Prometheus metrics (common/metrics.h). Call once,
  // before the metrics endpoint starts. REQUIRES: the engine outlives the
  // process's metrics endpoint.
  void ExportMetrics();

  // Stops intake, the journal and the snapshotter.
  void Shutdown();
  // Blocks until the engine is fenced or fails after start (returns why),
  // or Shutdown() (returns OK).
  absl::Status WaitForFatal();

  // ReadLog's batch size (recovery.h).
  static constexpr uint32_t kReadLogBatchBytes = Recovery::kReadLogBatchBytes;
  // The largest delta one journal record carries (see
  // CommitSplitRecordLocked): well under the persistor's 8 MiB receive
  // limit and its 3 MiB ReadLog batches.
  static constexpr size_t kMaxRecordDeltaBytes = 1 << 20;

 private:
  // journal_ read under status_mu_ (null until the journal is published).
  journal::JournalClient* PublishedJournal() const;
  void SetPhase(v1::GraphRole role, const std::string& phase);
  // UNAVAILABLE naming the role and phase: the answer to requests the
  // engine cannot serve yet (or any more).
  absl::Status NotServingLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(status_mu_);
  // Refused (NotServingLocked) unless the graph can answer queries.
  absl::Status CheckReadable() const;
  // True once Shutdown() began.
  bool ShuttingDown() const;
  // Runs `edit` on the recovery timings under status_mu_.
  void EditTimings(const std::function<void(v1::RecoveryTimings*)>& edit);
  // The rooms, made by the constructor (engine.cc).
  void MakeRooms();
  absl::Status Recover();
  // Hot standby: the follower until Promote() or shutdown, then the
  // catch-up; returns as Recover() does.
  absl::Status RunStandby();
  // After Recovery::Run or CatchUp: publishes the journal (epoch and
  // durable seq of `outcome`), starts the snapshotter, journals the reset
  // and runs get_all as `outcome` says.
  absl::Status OpenJournal(const Recovery::Outcome& outcome, bool promoted);
  // After recovery: no more transparent huge pages for this process.
  static void StopHugePages();
  // Called by Start() under status_mu_ right before ACTIVE.
  void FinishPromoteLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(status_mu_);
  // get_all (get_all.h) with the recovery timings and the snapshot after it.
  absl::Status RunGetAll(const std::string& reason, bool live = false);
  // Applies one event under mu and journals it. Returns its seq (0 when
  // persistency is off).
  uint64_t ApplyLocked(const v1::Event& ev, bool dedupe) ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_.mu);
  // Applies a push's events in order, skipping (and counting) those at or
  // below their source's mark: the intake step ApplyPush and
  // ApplyPushBatch share.
  v1::PushEventsResponse ApplyEventsLocked(const v1::PushEventsRequest& req)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_.mu);
  // Journals `record` (already applied) and then evaluates what it changed
  // when the evaluator is on. Returns its seq.
  uint64_t CommitEvaluatedLocked(v1::JournalRecord* record)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_.mu);
  // Gives `record` the next seq and journals it (the journal keeps it
  // encoded; the record itself is not kept).
  uint64_t CommitRecordLocked(v1::JournalRecord* record) ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_.mu);
  // A record whose delta is over kMaxRecordDeltaBytes (a get_all reconcile
  // deleting much of a large graph) goes to the journal as several: one
  // record must fit the persistor's receive limit and a ReadLog batch.
  uint64_t CommitSplitRecordLocked(v1::JournalRecord* record)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_.mu);
  // The evaluator's ApplyFn: applies an action's event through the handler
  // and journals it.
  absl::Status ApplyEvaluatorEventLocked(const v1::Event& ev, const std::string& kind,
                                         v1::GraphDelta* delta)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_.mu);
  absl::Status EnableEvaluator();
  void Fatal(const absl::Status& s);
  // Starts the snapshot thread; CANCELLED when Shutdown() came first.
  absl::Status StartSnapshotter();
  void RunConsistency();
  // While ACTIVE, every second: a round of the watchdog (watchdog.h: the
  // journal's stall, and the store's epoch).
  void RunWatchdog();
  void StartWatchdogLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(status_mu_);
  // The snapshotter's ForkFn: forks a child that encodes the graph as it
  // is now (forked_encode.h), under mu. The hot standby's snapshot
  // (from_standby) names the epoch of the record it followed last, and is
  // refused (FAILED_PRECONDITION) inside a get_all image.
  absl::StatusOr<ForkedEncode> ForkSnapshotEncoder(bool from_standby,
                                                   const snapshot::EncodeOptions& options,
                                                   snapshot::SnapshotInfo* info, double* stall_ms);
  // The snapshot's sections (dedupe marks, evaluator state) from the state
  // under mu.
  snapshot::SnapshotSections SnapshotSectionsLocked() const ABSL_SHARED_LOCKS_REQUIRED(state_.mu);

  const EngineOptions options_;
  std::shared_ptr<grpc::Channel> persistor_channel_;
  std::unique_ptr<v1::Persistor::Stub> persistor_;
  // PutSnapshot's own connection (MakeChannel's `connection`).
  std::unique_ptr<v1::Persistor::Stub> snapshot_persistor_;
  std::unique_ptr<v1::Collector::Stub> collector_;
  // Set once by OpenJournal() under status_mu_ (never after Shutdown()),
  // then never reset before destruction. Threads that are not ordered
  // after that (gRPC status calls, metrics scrapes, the signal thread) read
  // it through PublishedJournal() or under status_mu_; intake, the
  // snapshotter and the recovery thread itself may read it directly.
  std::unique_ptr<journal::JournalClient> journal_;
  const absl::Time process_start_;

  // The graph and everything derived from it. Writers: intake, recovery,
  // the standby follower, get_all, the evaluator.
  GraphState state_;
  // Where ApplyLocked builds each event's record (reset after each event:
  // the record is encoded into the journal at commit, and its delta's
  // hundreds of small messages cost one reset instead of as many frees; a
  // typical record never makes the arena allocate).
  ReusableArena record_arena_ ABSL_GUARDED_BY(state_.mu){256 << 10, 1 << 20};
  EvaluatorGlue evaluator_ ABSL_GUARDED_BY(state_.mu);

  // Serializes PushEvents (arrival order) outside of mu waits.
  absl::Mutex intake_mu_;
  // PushEvents' checks, admission and acks (intake.h).
  Intake intake_;

  // Role, phase, timings.
  mutable absl::Mutex status_mu_;
  v1::GraphRole role_ ABSL_GUARDED_BY(status_mu_) = v1::STARTING;
  std::string phase_ ABSL_GUARDED_BY(status_mu_) = "starting";
  bool readable_ ABSL_GUARDED_BY(status_mu_) = false;
  uint64_t epoch_ ABSL_GUARDED_BY(status_mu_) = 0;
  v1::RecoveryTimings timings_ ABSL_GUARDED_BY(status_mu_);
  absl::Status fatal_ ABSL_GUARDED_BY(status_mu_);
  bool shutdown_ ABSL_GUARDED_BY(status_mu_) = false;

  // Made with the engine; its thread runs from StartSnapshotter() (under
  // status_mu_, only before shutdown_) to Shutdown().
  std::unique_ptr<Snapshotter> snapshotter_;
  // The rooms (MakeRooms). follower_ only in a standby.
  std::unique_ptr<GetAll> get_all_;
  std::unique_ptr<Recovery> recovery_;
  std::unique_ptr<StandbyFollower> follower_;
  std::thread consistency_;
  // Made by Start() right before its thread, with the journal.
  std::unique_ptr<Watchdog> watchdog_;
  std::thread watchdog_thread_;
  std::function<void(bool)> health_listener_;
  // The journal's stall as the watchdog last saw it (Status() reports it).
  absl::Duration journal_stalled_ ABSL_GUARDED_BY(status_mu_);
  std::string journal_error_ ABSL_GUARDED_BY(status_mu_);

  // Hot standby: the promote's request and timings.
  bool promote_requested_ ABSL_GUARDED_BY(status_mu_) = false;
  bool promoted_ ABSL_GUARDED_BY(status_mu_) = false;
  absl::Time promote_start_ ABSL_GUARDED_BY(status_mu_);
  absl::Time promote_caught_up_ ABSL_GUARDED_BY(status_mu_);
};

}  // namespace vitrage::service

#endif  // VITRAGE_GRAPH_SERVICE_SERVICE_ENGINE_H_
