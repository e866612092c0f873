// The snapshotter: takes snapshots of the graph by fork (forked_encode.h)
// and stores them with PutSnapshot.
//
// Life of a snapshot (docs/formats.md has the format and the store's side):
// the owner forks an encoder child under its graph lock (the only
// processing stall); the active's snapshot names the journal's epoch and
// waits until its seq is durable (a snapshot is never ahead of the log);
// the child's output is streamed to the persistor, which publishes it
// atomically. A snapshot that fails anywhere is reported (Status, the
// failure counter, one log line) and the previous one stays in force; a
// store that refuses our epoch (FAILED_PRECONDITION) means another graph is
// active, and is fatal.
//
// The active's thread stores one on request (Request), every interval,
// and never twice at once. The hot standby stores its own through
// TakeStandbySnapshot (standby_follower.h decides when).
//
// The snapshotter knows nothing of the graph or its lock: the owner's
// ForkFn forks the encoder.
#ifndef VITRAGE_GRAPH_SERVICE_SERVICE_SNAPSHOTTER_H_
#define VITRAGE_GRAPH_SERVICE_SERVICE_SNAPSHOTTER_H_

#include <cstdint>
#include <functional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "graph_service/journal/journal_client.h"
#include "graph_service/service/forked_encode.h"
#include "graph_service/snapshot/snapshot.h"
#include "vitrage/v1/graph.pb.h"
#include "vitrage/v1/persistor.grpc.pb.h"

namespace prometheus {
class Counter;
class Gauge;
class Histogram;
}  // namespace prometheus

namespace vitrage::service {

struct SnapshotterOptions {
  // The active stores one this long after the previous one.
  absl::Duration interval = absl::Seconds(600);
  // Compute the content digest into each snapshot header.
  bool compute_digest = true;
  // The format version written (snapshot/format.h).
  uint32_t format_version = snapshot::kFormatVersion;
};

class Snapshotter {
 public:
  // Forks the encoder child (ForkedEncode::Start with `options`) under the
  // owner's graph lock, so that the child encodes the graph exactly as it
  // is at that seq. Fills info->seq, seq_time_unix_micros and
  // created_unix_micros (the moment the lock was taken) and, for a
  // standby's snapshot, info->epoch; sets *stall_ms to how long the lock
  // was held. Returns the fork's error, or FAILED_PRECONDITION when the
  // graph is at no seq a snapshot can name.
  using ForkFn = std::function<absl::StatusOr<ForkedEncode>(
      bool from_standby, const snapshot::EncodeOptions& options, snapshot::SnapshotInfo* info,
      double* stall_ms)>;
  // Called with the store's FAILED_PRECONDITION (another graph is active).
  using FatalFn = std::function<void(const absl::Status&)>;
  // Asked (by the thread, no lock held) when the periodic timer fires:
  // true to skip this one (the owner then calls NoteStored with the
  // snapshot that makes it unnecessary).
  using SkipFn = std::function<bool()>;

  // `persistor` (may be null when nothing is ever stored) outlives this.
  Snapshotter(SnapshotterOptions options, v1::Persistor::Stub* persistor, ForkFn fork,
              FatalFn fatal, SkipFn skip_periodic);
  ~Snapshotter();  // Stop() + Join()
  Snapshotter(const Snapshotter&) = delete;
  Snapshotter& operator=(const Snapshotter&) = delete;

  // Starts the active's thread; the interval counts from now. CANCELLED
  // after Stop(). REQUIRES: `journal` outlives Join(); called once.
  absl::Status Start(journal::JournalClient* journal);
  // Asks for a snapshot that covers everything applied before this call
  // and waits (up to 300 s) for its result. REQUIRES: Start() was called.
  absl::StatusOr<v1::TakeSnapshotResponse> Request();
  // Asks for a snapshot as Request() does, without waiting for it.
  void Schedule();
  // Stops the thread (an encode in progress is killed) and wakes
  // Request() callers; Join() waits for the thread.
  void Stop();
  void Join();

  // The hot standby's snapshot, now, on the caller's thread: marked
  // from_standby, named after the epoch the ForkFn gives, not waiting for
  // durability (a standby follows durable records only). `stopping` is
  // polled while the child encodes; `set_call` registers the PutSnapshot
  // call (and with nullptr unregisters it) so that a promote can cancel
  // it, and returns false once the standby is stopping. CANCELLED when it
  // stopped; other failures are returned, not logged.
  absl::StatusOr<v1::TakeSnapshotResponse> TakeStandbySnapshot(
      const std::function<bool()>& stopping,
      const std::function<bool(grpc::ClientContext*)>& set_call);

  // A snapshot stored by someone else (the hot standby) at `seq`, at
  // `when`: the periodic timer counts from `when`.
  void NoteStored(uint64_t seq, absl::Time when);
  // The snapshot recovery loaded (the newest stored one): status and
  // metrics report it until a newer one is stored. Its age counts from
  // `created` (when it was taken); the periodic timer is not touched.
  void NoteRecovered(uint64_t id, uint64_t seq, absl::Time created, uint64_t bytes);
  // The last snapshot's seq, age and error.
  void FillStatus(v1::GraphStatus* st) const;
  // Registers the snapshot metrics (common/metrics.h). Call once, before
  // Start(). REQUIRES: this outlives the process's metrics endpoint.
  void ExportMetrics();

 private:
  void Run();
  absl::StatusOr<v1::TakeSnapshotResponse> SnapshotByFork(
      bool from_standby, const std::function<bool()>& stopping,
      const std::function<bool(grpc::ClientContext*)>& set_call);

  const SnapshotterOptions options_;
  v1::Persistor::Stub* const persistor_;
  const ForkFn fork_;
  const FatalFn fatal_;
  const SkipFn skip_periodic_;
  journal::JournalClient* journal_ = nullptr;  // set by Start()

  mutable absl::Mutex mu_;
  uint64_t requested_ ABSL_GUARDED_BY(mu_) = 0;  // request counter
  uint64_t done_ ABSL_GUARDED_BY(mu_) = 0;
  absl::StatusOr<v1::TakeSnapshotResponse> result_ ABSL_GUARDED_BY(mu_);
  uint64_t last_seq_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time last_time_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  // The newest stored snapshot this graph knows (for status and metrics;
  // last_time_ is the periodic timer's).
  absl::Time stored_time_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  uint64_t stored_id_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t stored_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  std::string last_error_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_ ABSL_GUARDED_BY(mu_);

  // Null until ExportMetrics().
  prometheus::Histogram* duration_metric_ = nullptr;
  prometheus::Counter* failures_metric_ = nullptr;
  prometheus::Gauge* bytes_metric_ = nullptr;
};

}  // namespace vitrage::service

#endif  // VITRAGE_GRAPH_SERVICE_SERVICE_SNAPSHOTTER_H_
