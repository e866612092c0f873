// The graph and what is derived from it (the sources' high-water marks, the
// applied seq), under the one lock that orders the engine's rooms: intake,
// recovery (recovery.h), the standby follower (standby_follower.h), get_all
// (get_all.h) and the evaluator glue (evaluator_glue.h) read or change it
// only while holding `mu`. The engine owns it.
#ifndef VITRAGE_GRAPH_SERVICE_SERVICE_GRAPH_STATE_H_
#define VITRAGE_GRAPH_SERVICE_SERVICE_GRAPH_STATE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "graph_service/graph/graph.h"
#include "graph_service/service/event_handler.h"

namespace vitrage::service {

struct GraphState {
  mutable absl::Mutex mu;
  graph::Graph graph ABSL_GUARDED_BY(mu);
  // Vitrage's processor (or a test's handler), bound to `graph`.
  std::unique_ptr<EventHandler> handler ABSL_GUARDED_BY(mu);
  // Per source: the highest source_seq applied (dedupe of re-sent events).
  absl::flat_hash_map<std::string, uint64_t> marks ABSL_GUARDED_BY(mu);
  // The seq of the last journal record applied (made or replayed).
  uint64_t applied_seq ABSL_GUARDED_BY(mu) = 0;
  // Its time (time_unix_micros), for the downtime check and snapshots.
  int64_t last_record_time ABSL_GUARDED_BY(mu) = 0;

  void NoteMarkLocked(const std::string& source, uint64_t seq) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    uint64_t& m = marks[source];
    if (seq > m) m = seq;
  }
  // Forgets the graph and the marks; the next record is `seq` + 1.
  void ClearLocked(uint64_t seq) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    graph.Clear();
    marks.clear();
    applied_seq = seq;
  }
};

}  // namespace vitrage::service

#endif  // VITRAGE_GRAPH_SERVICE_SERVICE_GRAPH_STATE_H_
