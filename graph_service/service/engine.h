// The graph service's engine: recovery, intake, the journal, snapshots and
// the read side, without gRPC server code (graph_api.h wraps it).
//
// Where each part lives: engine.cc (the wiring, applying pushed events and
// journaling their records, the read side, metrics), watchdog.h (the
// journal's stall and the epoch check while ACTIVE),
// intake.h (PushEvents' checks, admission and acks), snapshotter.h
// (snapshots by fork and their store; the engine gives it
// ForkSnapshotEncoder), engine_recovery.cc (start-up; log_prefetch.h reads
// the log while the snapshot decodes), engine_standby.cc
// (hot standby), engine_get_all.cc (get_all, images and reconcile),
// engine_evaluator.cc (the evaluator glue). mu_ orders them: whatever reads
// or changes the graph, its seq or its marks holds it; intake_mu_, taken
// before it, keeps the work that makes records once recovered (pushed
// requests with their reconcile, consistency passes, enabling the
// evaluator) one at a time, in arrival order.
//
// Start-up (../shared/DESIGN.md section 6), each phase logged with its time
// and reported in Status():
//   persistency disabled: empty graph, get_all, ACTIVE.
//   otherwise: AcquireEpoch (retried until the persistor answers; we are the
//   only writer from then on) -> newest complete snapshot (a snapshot that
//   fails verification is skipped for the one before it; "no snapshot" and
//   "could not read" are different answers and only the first starts
//   empty) -> ReadLog after its seq, applying deltas, which must reach the
//   durable seq AcquireEpoch returned -> get_all when the downtime exceeds
//   the limit or nothing usable was stored -> ACTIVE (intake open).
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
// durable; processing waits only for the fork itself, under mu_
// (ForkSnapshotEncoder).
//
// Hot standby (options.standby, engine_standby.cc): start-up loads the
// newest snapshot WITHOUT AcquireEpoch (a standby never fences the active),
// then a follower thread keeps a ReadLog(follow) stream open and applies
// each durable record as Replay does; role STANDBY, queries served,
// PushEvents and TakeSnapshot refused, evaluator off. Promote(): AcquireEpoch
// (fences the old active) -> stop following -> Replay up to the durable seq
// the epoch returned -> journal + snapshotter -> evaluator -> ACTIVE. A log
// the standby cannot follow (gap, corrupt record) makes promote fall back to
// the normal recovery.
//
// Fencing: when the persistor refuses our epoch the engine stops taking
// events, reports FENCED, and WaitForFatal() returns so main can exit
// non-zero.
#ifndef VITRAGE_GRAPH_SERVICE_SERVICE_ENGINE_H_
#define VITRAGE_GRAPH_SERVICE_SERVICE_ENGINE_H_

#include <google/protobuf/arena.h>

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/reusable_arena.h"
#include "graph_service/evaluator/evaluator.h"
#include "graph_service/graph/graph.h"
#include "graph_service/journal/journal_client.h"
#include "graph_service/service/event_handler.h"
#include "graph_service/service/forked_encode.h"
#include "graph_service/service/intake.h"
#include "graph_service/service/snapshotter.h"
#include "graph_service/service/watchdog.h"
#include "graph_service/snapshot/snapshot.h"
#include "vitrage/v1/collector.grpc.pb.h"
#include "vitrage/v1/graph.pb.h"
#include "vitrage/v1/persistor.grpc.pb.h"

namespace vitrage::service {

// Events of one message of the OpenStack bus come with source
// kBusSourcePrefix + the message's message_id and source_seq 1..n: a
// redelivered message is recognised by its mark (graph_service/bus/).
inline constexpr char kBusSourcePrefix[] = "bus:";
inline constexpr uint64_t kBusMarkRecords = 200'000;

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
  // is cancelled and reopened (engine_standby.cc).
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

// Reads the log ahead during recovery (log_prefetch.h).
class LogPrefetch;

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
  // Alarm queries (engine_evaluator.cc).
  absl::StatusOr<v1::ListAlarmsResponse> ListAlarms(const v1::ListAlarmsRequest& req);
  absl::StatusOr<v1::GetRcaResponse> GetRca(const v1::GetRcaRequest& req);

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

  // ReadLog's batch size (recovery, read-ahead, standby follow). Small
  // batches parse into the same response message, whose record objects and
  // memory stay warm in cache from one batch to the next (what that saved:
  // docs/performance.md).
  static constexpr uint32_t kReadLogBatchBytes = 256 << 10;
  // The largest delta one journal record carries (see
  // CommitSplitRecordLocked): well under the persistor's 8 MiB receive
  // limit and its 3 MiB ReadLog batches.
  static constexpr size_t kMaxRecordDeltaBytes = 1 << 20;

 private:
  // journal_ read under status_mu_ (null until Recover() publishes it).
  journal::JournalClient* PublishedJournal() const;
  void SetPhase(v1::GraphRole role, const std::string& phase);
  // UNAVAILABLE naming the role and phase: the answer to requests the
  // engine cannot serve yet (or any more).
  absl::Status NotServingLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(status_mu_);
  absl::Status Recover();
  // After recovery: no more transparent huge pages for this process.
  static void StopHugePages();
  absl::Status AcquireEpoch(v1::AcquireEpochResponse* resp);
  // Loads the newest usable snapshot; returns NOT_FOUND when none. Starts
  // `prefetch` (if given) after the first snapshot header it receives.
  absl::Status LoadSnapshot(uint64_t* snapshot_id, v1::SnapshotHeader* header,
                            LogPrefetch* prefetch = nullptr);
  // Applies the log after `after_seq` up to `durable_seq`, first what
  // `prefetch` read (if it read from `after_seq`).
  absl::Status Replay(uint64_t after_seq, uint64_t durable_seq, int64_t* last_time,
                      LogPrefetch* prefetch = nullptr);
  // Applies one log record (REQUIRES: its seq is applied_seq_ + 1); shared by
  // Replay and the standby's follower. DATA_LOSS when the delta does not apply.
  absl::Status ApplyLogRecordLocked(const v1::JournalRecord& rec)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Hot standby (engine_standby.cc). RunStandby: snapshot, follow, wait for
  // Promote() or shutdown, then take over; returns as Recover() does.
  absl::Status RunStandby();
  void FollowLog();
  // Cancels a follow stream silent for options_.standby_stream_timeout.
  void CheckFollowStream();
  void StopFollower();
  void NoteStandbyCurrent(bool current);
  void FillStandbyStatus(v1::GraphStatus* st);
  // Snapshots by the standby (engine_standby.cc): a thread that stores one
  // (from_standby) when the newest stored snapshot is 3/4 of the interval
  // old and the standby is current; and, on the active, whether the
  // periodic snapshot can be skipped because a standby stored one less
  // than an interval ago (then the snapshotter notes that one as stored).
  void RunStandbySnapshots();
  bool SkipPeriodicSnapshot();
  // Called by Start() under status_mu_ right before ACTIVE.
  void FinishPromoteLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(status_mu_);
  // get_all from the collector: at recovery (`live` false: the graph is not
  // serving; retried until it works; the collector may answer with an
  // image), or while ACTIVE (`live`: the caller holds intake_mu_; events
  // only, three attempts, the role stays ACTIVE).
  absl::Status RunGetAll(const std::string& reason, bool live = false);
  // A source named "<name>@<run>" (vitrage-collector's: one per run) that
  // the graph does not know while it knows an earlier run of <name>: that
  // collector restarted, and whatever its previous run had not got acked is
  // gone. Returns a description of the restart ("" when none), REQUIRES a
  // lock on mu_.
  std::string RestartedSourceLocked(const v1::PushEventsRequest& req) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // get_all images (engine_get_all.cc).
  struct IncomingImage {
    IncomingImage(const v1::SnapshotHeader& h, const snapshot::DecodeOptions& options)
        : header(h), decoder(options) {}
    v1::SnapshotHeader header;
    snapshot::SnapshotDecoder decoder;
    std::vector<v1::SnapshotChunk> chunks;  // as received, journaled verbatim
  };
  // How get_all images are decoded: no digest, the graph size limits.
  snapshot::DecodeOptions ImageDecodeOptions() const;
  absl::Status TakeImageChunk(v1::GetAllResponse* resp, std::unique_ptr<IncomingImage>* image);
  absl::Status CommitImage(std::unique_ptr<IncomingImage> image, const std::string& source,
                           uint64_t covered);
  absl::Status ApplyImageRecordLocked(const v1::JournalRecord& rec)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Forgets an image whose records stopped before its last chunk; true if
  // there was one.
  bool DropPartialImageLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Applies one event under mu_ and journals it. Returns its seq (0 when
  // persistency is off).
  uint64_t ApplyLocked(const v1::Event& ev, bool dedupe) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Gives `record` the next seq and journals it (the journal keeps it
  // encoded; the record itself is not kept).
  uint64_t CommitRecordLocked(v1::JournalRecord record) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  uint64_t CommitRecordLocked(v1::JournalRecord* record) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A record whose delta is over kMaxRecordDeltaBytes (a get_all reconcile
  // deleting much of a large graph) goes to the journal as several: one
  // record must fit the persistor's receive limit and a ReadLog batch.
  uint64_t CommitSplitRecordLocked(v1::JournalRecord* record) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Fatal(const absl::Status& s);
  // Starts the snapshot thread; CANCELLED when Shutdown() came first.
  absl::Status StartSnapshotter();
  void RunConsistency();
  // While ACTIVE, every second: a round of the watchdog (watchdog.h: the
  // journal's stall, and the store's epoch).
  void RunWatchdog();
  // The snapshotter's ForkFn: forks a child that encodes the graph as it
  // is now (forked_encode.h), under mu_. The hot standby's snapshot
  // (from_standby) names the epoch of the record it followed last, and is
  // refused (FAILED_PRECONDITION) inside a get_all image.
  absl::StatusOr<ForkedEncode> ForkSnapshotEncoder(bool from_standby,
                                                   const snapshot::EncodeOptions& options,
                                                   snapshot::SnapshotInfo* info, double* stall_ms);
  // The snapshot's sections (dedupe marks) from the state under mu_.
  snapshot::SnapshotSections SnapshotSectionsLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void NoteMarkLocked(const std::string& source, uint64_t seq) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // The evaluator (engine_evaluator.cc). Disabled during recovery; enabled
  // with one full pass before intake opens; then every applied change is
  // evaluated and its actions are applied and journaled right after it.
  void LoadTemplates();
  absl::Status EnableEvaluator();
  void EvaluateLocked(std::vector<std::string> affected) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status ApplyEvaluatorEventLocked(const v1::Event& ev, const std::string& kind,
                                         v1::GraphDelta* delta) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FillEvaluatorStatusLocked(v1::EvaluatorStatus* st) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // The snapshot's evaluator_state section (engine_evaluator.cc), and what
  // recovery makes of the one it loads.
  std::string EvaluatorStateLocked() const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  void NoteSnapshotEvaluatorStateLocked(const std::string& state)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Notes the vertices a replayed record touched (for the recovery pass).
  void NoteReplayedLocked(const v1::JournalRecord& rec) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const EngineOptions options_;
  std::shared_ptr<grpc::Channel> persistor_channel_;
  std::unique_ptr<v1::Persistor::Stub> persistor_;
  std::unique_ptr<v1::Collector::Stub> collector_;
  // Set once by Recover() under status_mu_ (never after Shutdown()), then
  // never reset before destruction. Threads that are not ordered after that
  // (gRPC status calls, metrics scrapes, the signal thread) read it through
  // PublishedJournal() or under status_mu_; intake, the snapshotter and the
  // recovery thread itself may read it directly.
  std::unique_ptr<journal::JournalClient> journal_;
  const absl::Time process_start_;

  // The graph and everything derived from it. Writers: intake, recovery.
  mutable absl::Mutex mu_;
  graph::Graph graph_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<EventHandler> handler_ ABSL_GUARDED_BY(mu_);
  // Where ApplyLocked builds each event's record (reset after each event:
  // the record is encoded into the journal at commit, and its delta's
  // hundreds of small messages cost one reset instead of as many frees; a
  // typical record never makes the arena allocate).
  ReusableArena record_arena_ ABSL_GUARDED_BY(mu_){256 << 10, 1 << 20};
  absl::flat_hash_map<std::string, uint64_t> marks_ ABSL_GUARDED_BY(mu_);
  // The marks of bus messages (sources kBusSourcePrefix + message_id, one
  // per message) in the order they were noted, with the applied seq then:
  // each is kept for kBusMarkRecords journal records, long enough for any
  // redelivery (a message is redelivered only while unacked, at most the
  // bus prefetch at a time), and then dropped so that marks do not grow
  // with every message ever taken. Marks loaded from a snapshot count from
  // the snapshot's seq.
  std::deque<std::pair<uint64_t, std::string>> bus_marks_ ABSL_GUARDED_BY(mu_);
  void PruneBusMarksLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  uint64_t applied_seq_ ABSL_GUARDED_BY(mu_) = 0;
  std::unique_ptr<evaluator::Evaluator> evaluator_ ABSL_GUARDED_BY(mu_);
  bool evaluator_on_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::string> template_errors_ ABSL_GUARDED_BY(mu_);
  // Recovery: whether the loaded snapshot had the same templates, and
  // whether only a full pass will do (the ids to re-check are the
  // evaluator's ReplayNotes).
  bool snapshot_templates_match_ ABSL_GUARDED_BY(mu_) = false;
  bool evaluator_needs_full_pass_ ABSL_GUARDED_BY(mu_) = false;
  std::string enable_pass_ ABSL_GUARDED_BY(mu_);
  int64_t last_record_time_ ABSL_GUARDED_BY(mu_) = 0;
  // The get_all image being rebuilt from replayed or followed records.
  std::unique_ptr<IncomingImage> replay_image_ ABSL_GUARDED_BY(mu_);

  // Serializes PushEvents (arrival order) outside of mu_ waits.
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
  std::thread consistency_;
  // Made by Start() right before its thread, with the journal.
  std::unique_ptr<Watchdog> watchdog_;
  std::thread watchdog_thread_;
  std::function<void(bool)> health_listener_;
  // The journal's stall as the watchdog last saw it (Status() reports it).
  absl::Duration journal_stalled_ ABSL_GUARDED_BY(status_mu_);
  std::string journal_error_ ABSL_GUARDED_BY(status_mu_);

  // Hot standby. promote_requested_ and promote_start_ are under status_mu_.
  bool promote_requested_ ABSL_GUARDED_BY(status_mu_) = false;
  bool promoted_ ABSL_GUARDED_BY(status_mu_) = false;
  absl::Time promote_start_ ABSL_GUARDED_BY(status_mu_);
  absl::Time promote_caught_up_ ABSL_GUARDED_BY(status_mu_);
  mutable absl::Mutex standby_mu_;
  bool follow_stop_ ABSL_GUARDED_BY(standby_mu_) = false;
  grpc::ClientContext* follow_ctx_ ABSL_GUARDED_BY(standby_mu_) = nullptr;
  uint64_t standby_durable_ ABSL_GUARDED_BY(standby_mu_) = 0;
  // When the current follow stream was opened (the silence watchdog counts
  // from the later of this and the last message).
  absl::Time follow_stream_start_ ABSL_GUARDED_BY(standby_mu_) = absl::InfinitePast();
  absl::Time standby_last_msg_ ABSL_GUARDED_BY(standby_mu_) = absl::InfinitePast();
  bool standby_current_ ABSL_GUARDED_BY(standby_mu_) = false;
  std::function<void(bool)> standby_listener_;
  std::thread follower_;
  // The follower's last applied record (a standby snapshot is taken only
  // at a seq whose record epoch it knows), and the standby snapshotter.
  uint64_t standby_record_seq_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t standby_record_epoch_ ABSL_GUARDED_BY(mu_) = 0;
  grpc::ClientContext* standby_snap_ctx_ ABSL_GUARDED_BY(standby_mu_) = nullptr;
  std::thread standby_snapshotter_;
};

}  // namespace vitrage::service

#endif  // VITRAGE_GRAPH_SERVICE_SERVICE_ENGINE_H_
