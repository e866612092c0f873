// Recovery: the graph rebuilt from the store (../shared/DESIGN.md section 6).
//
// Run (start-up): AcquireEpoch (retried until the persistor answers; we
// are the only writer from then on), while the newest complete snapshot
// loads (one that fails verification is skipped for the one before it;
// "no snapshot" and "could not read" are different answers and only the
// first starts empty) and the log after it is read ahead (log_prefetch.h);
// then the log is applied up to the durable seq AcquireEpoch returned, and
// never past it. A store that cannot rebuild the graph (a gap, a corrupt or
// pruned record, a snapshot past the durable seq) empties it and says
// get_all must fill it; so do an empty store, a downtime over
// [graph] get_all_after_downtime and a log that ends inside a get_all
// image. Run changes only the graph state; the engine then opens the
// journal and runs get_all if told to.
//
// CatchUp (a standby's promote): AcquireEpoch (fences the old active),
// then the log from the standby's applied seq to the durable seq; a log
// the standby cannot follow falls back to Run.
//
// ApplyRecordLocked applies one durable log record; the standby's follower
// (standby_follower.h) uses it too.
#ifndef VITRAGE_GRAPH_SERVICE_SERVICE_RECOVERY_H_
#define VITRAGE_GRAPH_SERVICE_SERVICE_RECOVERY_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "graph_service/service/evaluator_glue.h"
#include "graph_service/service/get_all.h"
#include "graph_service/service/graph_state.h"
#include "vitrage/v1/graph.pb.h"
#include "vitrage/v1/persistor.grpc.pb.h"

namespace vitrage::service {

class LogPrefetch;

struct RecoveryOptions {
  std::string persistor_address;  // for the log
  // Who we are, for AcquireEpoch (host:pid).
  std::string owner;
  absl::Duration get_all_after_downtime = absl::Seconds(3600);
  // Recompute and compare the snapshot's content digest when loading it.
  bool verify_snapshot_digest = false;
  // [limits]: what a snapshot header may announce.
  uint64_t max_graph_vertices = 50'000'000;
  uint64_t max_graph_edges = 50'000'000;
};

class Recovery {
 public:
  // ReadLog's batch size (recovery, read-ahead, standby follow). Small
  // batches parse into the same response message, whose record objects and
  // memory stay warm in cache from one batch to the next
  // (docs/performance.md).
  static constexpr uint32_t kReadLogBatchBytes = 256 << 10;

  struct Hooks {
    // True once the owner shuts down: retries stop (CANCELLED).
    std::function<bool()> stopped;
    // Shows `phase` (role RECOVERING).
    std::function<void(const std::string& phase)> phase;
    // Runs `edit` on the owner's recovery timings under its status lock.
    std::function<void(const std::function<void(v1::RecoveryTimings*)>& edit)> timings;
    // The epoch acquired.
    std::function<void(uint64_t epoch)> epoch;
    // The snapshot Run loaded (id, header), before the replay: status and
    // metrics report it from then on. May be empty.
    std::function<void(uint64_t id, const v1::SnapshotHeader& header)> snapshot_loaded;
  };

  struct Outcome {
    v1::AcquireEpochResponse epoch;
    // Non-empty: the graph must take get_all, for this reason.
    std::string get_all_reason;
    // The store could not rebuild the graph: the journal must begin with a
    // reset record before get_all.
    bool reset = false;
    // CatchUp: false when it fell back to Run.
    bool caught_up = false;
  };

  // Everything given outlives this; `images` applies get_all image records
  // and `evaluator` notes what the replay owes it.
  Recovery(RecoveryOptions options, v1::Persistor::Stub* persistor, GraphState* state,
           GetAll* images, EvaluatorGlue* evaluator, Hooks hooks);

  // The start-up sequence (above). `began` is when the process started,
  // for the log. REQUIRES: state->mu not held (the same for all below but
  // ApplyRecordLocked).
  absl::StatusOr<Outcome> Run(absl::Time began);
  // A standby's promote (above).
  absl::StatusOr<Outcome> CatchUp(absl::Time began);

  // Retries until the persistor answers (never starts empty on its own).
  absl::Status AcquireEpoch(v1::AcquireEpochResponse* resp);
  // Loads the newest usable snapshot into the graph state; NOT_FOUND when
  // none. Starts `prefetch` (if given) after the first snapshot header it
  // receives. `skipped`: how many failed verification.
  absl::Status LoadSnapshot(uint64_t* snapshot_id, v1::SnapshotHeader* header,
                            LogPrefetch* prefetch = nullptr, uint32_t* skipped = nullptr);
  // Applies the log after `after_seq` up to `durable_seq`, first what
  // `prefetch` read (if it read from `after_seq`). DATA_LOSS when the log
  // cannot get there (gap, corrupt or pruned record, ends too early).
  absl::Status Replay(uint64_t after_seq, uint64_t durable_seq, int64_t* last_time,
                      LogPrefetch* prefetch = nullptr);
  // Applies one log record. REQUIRES: state->mu held, its seq is
  // applied_seq + 1. DATA_LOSS when it does not apply.
  absl::Status ApplyRecordLocked(const v1::JournalRecord& rec);

 private:
  // Why the graph must take get_all after reaching `durable_seq` (last
  // record at `last_time`), "" when it need not. REQUIRES: state->mu held.
  std::string GetAllReasonLocked(bool empty_store, int64_t last_time);

  const RecoveryOptions options_;
  v1::Persistor::Stub* const persistor_;
  GraphState* const state_;
  GetAll* const images_;
  EvaluatorGlue* const evaluator_;
  const Hooks hooks_;
};

}  // namespace vitrage::service

#endif  // VITRAGE_GRAPH_SERVICE_SERVICE_RECOVERY_H_
