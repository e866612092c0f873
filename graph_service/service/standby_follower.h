// Hot standby: follow the persistor's log, serve read-only; on Promote the
// engine stops the follower and Recovery::CatchUp takes over (engine.h has
// the life cycle).
//
// Decisions:
// * The standby never calls AcquireEpoch before Promote: acquiring one
//   fences the active.
// * It follows with one ReadLog(follow=true) stream from its applied seq and
//   applies records with the same code as recovery's Replay
//   (Recovery::ApplyRecordLocked). When the stream breaks it reconnects with
//   backoff from its applied seq. OUT_OF_RANGE (the records it needs were
//   pruned while it was away) reloads the newest snapshot; a gap or a
//   record that does not apply is logged and retried, and a promote then
//   falls back to the normal recovery path.
// * A stream that stays silent for [graph] standby_stream_timeout (the
//   persistor heartbeats every second) is cancelled and reopened by the
//   thread that waits for Promote (CheckStream, a few times a second), logging
//   why: a persistor that hangs (SIGSTOP, a stuck host) or a connection
//   that died without a reset would otherwise leave the standby waiting
//   forever while it looks connected.
// * "Current" (the vitrage.v1.Graph.standby health name) means: the stream
//   is open and the last message said applied seq == durable seq. The
//   persistor sends a heartbeat every second; GetStatus shows the idle time.
// * Promote: stop following, AcquireEpoch, Replay up to the durable seq the
//   epoch returned (usually nothing: the follower is there already;
//   Recovery::CatchUp), start the journal and the snapshotter, then the
//   engine enables the evaluator and goes ACTIVE. Timings go to GetStatus's
//   RecoveryTimings (promote_*).
// * Snapshots by the standby, so that the active never pays for them. A
//   snapshot at seq S built from durable records is valid whoever builds
//   it (durable records never change), so the standby stores one with
//   SnapshotHeader.from_standby and, as epoch, the epoch of record S (the
//   writer that wrote it); the persistor accepts it from a non-writer only
//   when that can move nothing forward or fence anyone (rules and
//   reasoning in persistor_service/server/snapshots.cc DoPut). The standby uses the
//   active's fork snapshotter (forked_encode.h) and takes one when: it is
//   current (caught up on a live stream), it applied a record since the
//   newest stored snapshot (whose epoch it knows from the stream), and the
//   newest stored snapshot is at least 3/4 of [persistency]
//   snapshot_interval old. The active, when its periodic timer fires,
//   asks the persistor (GetStatus, once per interval) and skips its own
//   when the newest snapshot is a standby's younger than the interval,
//   logging it. Because the standby goes at 3/4 of the interval, its next
//   one is normally stored before the active looks again; when the standby
//   is gone, the active takes its own at most one interval after the last
//   standby snapshot. A refusal is logged and retried at the next
//   interval; it never stops the standby (it is not fencing).
//   The snapshot's evaluator section records the standby's templates, so
//   every graph instance must run the same templates (the same
//   vitrage.conf, as a pacemaker clone does); when the snapshot the
//   standby loaded was taken with other templates, it takes none and says
//   so. A promote stops the standby snapshotter (an encode in progress is
//   killed) before it acquires the epoch.
#ifndef VITRAGE_GRAPH_SERVICE_SERVICE_STANDBY_FOLLOWER_H_
#define VITRAGE_GRAPH_SERVICE_SERVICE_STANDBY_FOLLOWER_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <functional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "graph_service/service/evaluator_glue.h"
#include "graph_service/service/get_all.h"
#include "graph_service/service/graph_state.h"
#include "graph_service/service/recovery.h"
#include "graph_service/service/snapshotter.h"
#include "vitrage/v1/graph.pb.h"
#include "vitrage/v1/persistor.grpc.pb.h"

namespace vitrage::service {

struct StandbyOptions {
  std::string persistor_address;  // for the log
  // A follow stream silent this long is cancelled and reopened.
  absl::Duration stream_timeout = absl::Seconds(5);
  // [persistency] snapshot_interval; zero: the standby stores none.
  absl::Duration snapshot_interval = absl::Seconds(600);
};

class StandbyFollower {
 public:
  struct Hooks {
    // Shows `phase` (role STANDBY).
    std::function<void(const std::string& phase)> phase;
    // Runs `edit` on the owner's recovery timings under its status lock.
    std::function<void(const std::function<void(v1::RecoveryTimings*)>& edit)> timings;
    // The graph can answer queries (the snapshot is loaded).
    std::function<void()> readable;
  };

  // Everything given outlives this. `recovery` loads snapshots and applies
  // records; `images` and `evaluator` say whether a standby snapshot may be
  // taken now; `snapshotter` takes it.
  StandbyFollower(StandbyOptions options, v1::Persistor::Stub* persistor, GraphState* state,
                  Recovery* recovery, GetAll* images, EvaluatorGlue* evaluator,
                  Snapshotter* snapshotter, Hooks hooks);
  ~StandbyFollower();  // Stop()
  StandbyFollower(const StandbyFollower&) = delete;
  StandbyFollower& operator=(const StandbyFollower&) = delete;

  // Called (from the follower's thread, no lock held) when the standby
  // becomes current or stops being so. Set before Start().
  void SetListener(std::function<void(bool current)> listener);

  // Loads the newest snapshot (no epoch: the active is not fenced), then
  // follows the log and stores standby snapshots, each in a thread of its
  // own. CANCELLED after Stop(); the load's error otherwise.
  absl::Status Start();
  // Cancels a follow stream silent for stream_timeout (the owner calls it
  // a few times a second while it waits for a promote).
  void CheckStream();
  // Stops following and the standby snapshots (an encode in progress is
  // killed) and joins their threads. Any thread; any number of times.
  void Stop();
  // For a promote: the standby is no longer current (the listener hears
  // it), then Stop().
  void StopForPromote();

  // The standby's fields of `st` (durable seq seen, lag, stream idle time)
  // when `st` says STANDBY.
  void FillStatus(v1::GraphStatus* st) const;
  // The epoch of the followed record the graph is at, for a standby
  // snapshot; FAILED_PRECONDITION when the graph is not at one (or inside
  // a get_all image). REQUIRES: state->mu held.
  absl::StatusOr<uint64_t> FollowedEpochLocked() const;

 private:
  void FollowLog();
  void NoteCurrent(bool current);
  void RunSnapshots();

  const StandbyOptions options_;
  v1::Persistor::Stub* const persistor_;
  GraphState* const state_;
  Recovery* const recovery_;
  GetAll* const images_;
  EvaluatorGlue* const evaluator_;
  Snapshotter* const snapshotter_;
  const Hooks hooks_;
  std::function<void(bool)> listener_;
  // The snapshot Start() loaded (0: none).
  uint64_t loaded_snapshot_id_ = 0;

  mutable absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* follow_ctx_ ABSL_GUARDED_BY(mu_) = nullptr;
  grpc::ClientContext* snap_ctx_ ABSL_GUARDED_BY(mu_) = nullptr;
  uint64_t durable_ ABSL_GUARDED_BY(mu_) = 0;
  // When the current follow stream was opened (the silence check counts
  // from the later of this and the last message).
  absl::Time stream_start_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Time last_msg_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  bool current_ ABSL_GUARDED_BY(mu_) = false;
  std::thread follower_ ABSL_GUARDED_BY(mu_);
  std::thread snapshots_ ABSL_GUARDED_BY(mu_);
  // The follower's last applied record (a standby snapshot is taken only
  // at a seq whose record epoch it knows). Under state->mu.
  uint64_t record_seq_ = 0;
  uint64_t record_epoch_ = 0;
};

// On the active, when its periodic snapshot is due: true (and the
// snapshotter notes it as stored) when the newest stored snapshot is a
// standby's younger than `interval`.
bool StandbyStoredRecently(v1::Persistor::Stub* persistor, absl::Duration interval,
                           Snapshotter* snapshotter);

}  // namespace vitrage::service

#endif  // VITRAGE_GRAPH_SERVICE_SERVICE_STANDBY_FOLLOWER_H_
