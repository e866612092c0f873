// The graph and what is derived from it (the sources' high-water marks, the
// applied seq), under the one lock that orders the engine's rooms: intake,
// recovery (recovery.h), the standby follower (standby_follower.h), get_all
// (get_all.h) and the evaluator glue (evaluator_glue.h) read or change it
// only while holding `mu`. The engine owns it.
#ifndef VITRAGE_GRAPH_SERVICE_SERVICE_GRAPH_STATE_H_
#define VITRAGE_GRAPH_SERVICE_SERVICE_GRAPH_STATE_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "graph_service/graph/graph.h"
#include "graph_service/service/event_handler.h"

namespace vitrage::service {

// Events of one message of the OpenStack bus come with source
// kBusSourcePrefix + the message's message_id and source_seq 1..n
// (graph_service/bus/listener.cc): a redelivered message is recognised by
// its mark. Such a mark is kept for kBusMarkRecords journal records, long
// enough for any redelivery (a message is redelivered only while unacked,
// at most the bus prefetch at a time), then dropped so that marks do not
// grow with every message ever taken.
inline constexpr char kBusSourcePrefix[] = "bus:";
inline constexpr uint64_t kBusMarkRecords = 200'000;

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

  // The marks of bus messages in the order they were noted, with the
  // applied seq then (marks loaded from a snapshot count from its seq).
  std::deque<std::pair<uint64_t, std::string>> bus_marks ABSL_GUARDED_BY(mu);

  void NoteMarkLocked(const std::string& source, uint64_t seq) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    NoteMarkAtLocked(source, seq, applied_seq);
  }
  // As NoteMarkLocked, the mark counted as noted at record `at_seq`.
  void NoteMarkAtLocked(const std::string& source, uint64_t seq, uint64_t at_seq)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    uint64_t& m = marks[source];
    if (seq > m) m = seq;
    if (!absl::StartsWith(source, kBusSourcePrefix)) return;
    bus_marks.emplace_back(at_seq, source);
    while (!bus_marks.empty() && bus_marks.front().first + kBusMarkRecords < applied_seq) {
      marks.erase(bus_marks.front().second);
      bus_marks.pop_front();
    }
  }
  void ClearMarksLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    marks.clear();
    bus_marks.clear();
  }
  // Forgets the graph and the marks; the next record is `seq` + 1.
  void ClearLocked(uint64_t seq) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    graph.Clear();
    ClearMarksLocked();
    applied_seq = seq;
  }
};

}  // namespace vitrage::service

#endif  // VITRAGE_GRAPH_SERVICE_SERVICE_GRAPH_STATE_H_
