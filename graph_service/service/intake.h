// Intake of pushed events, apart from the graph: the checks a PushEvents
// request passes before anything of it is applied, its admission to the
// journal, and its ack once durable.
//
// Life of a request (Engine::ApplyPush / FinishPush):
//   Check: at most kMaxEvents events, each valid (the handler's Validate);
//     one bad event refuses the whole request, nothing applied.
//   under the engine's intake lock, in arrival order:
//     CheckKeys: the request's new property keys fit [limits]
//       max_distinct_keys (keys stay for the life of the process);
//     Admit: the journal has room (back-pressure: RESOURCE_EXHAUSTED after
//       5 s, and the collector retries; never a record refused after the
//       graph changed);
//     the engine applies each event whose source_seq is above its source's
//       mark and journals its record, under the graph lock;
//   Finish: waits until every record up to the last one applied is durable;
//     only then is the collector acked (OK with durable_seq). Not durable in
//     time, or a dead journal: an error, and the collector re-sends.
#ifndef VITRAGE_GRAPH_SERVICE_SERVICE_INTAKE_H_
#define VITRAGE_GRAPH_SERVICE_SERVICE_INTAKE_H_

#include <cstdint>
#include <functional>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "graph_service/journal/journal_client.h"
#include "vitrage/v1/graph.pb.h"

namespace prometheus {
class Counter;
class Histogram;
}  // namespace prometheus

namespace vitrage::service {

struct IntakeOptions {
  // Finish waits this long for durability before DEADLINE_EXCEEDED.
  absl::Duration push_timeout = absl::Seconds(20);
  // [limits] max_distinct_keys (graph/key_budget.h).
  uint64_t max_distinct_keys = 1'000'000;
};

class Intake {
 public:
  static constexpr int kMaxEvents = 10000;

  explicit Intake(IntakeOptions options) : options_(options) {}

  // INVALID_ARGUMENT naming the first event over the limit or refused by
  // `validate`; OK when every event may be applied.
  absl::Status Check(const v1::PushEventsRequest& req,
                     const std::function<absl::Status(const v1::Event&)>& validate) const;
  // INVALID_ARGUMENT naming the first event whose new property keys would
  // take the process's key table over the limit. REQUIRES: no other
  // request is applied until this one is (the caller's intake lock).
  absl::Status CheckKeys(const v1::PushEventsRequest& req) const;
  // Waits (up to 5 s) until `journal` has room for `records` more:
  // RESOURCE_EXHAUSTED when it stays full, UNAVAILABLE when it is dead or
  // shut down. OK at once without a journal (persistency off).
  static absl::Status Admit(journal::JournalClient* journal, int records);
  // `resp` with durable_seq once every record up to `wait_seq` is durable
  // (at once without a journal); DEADLINE_EXCEEDED after push_timeout,
  // UNAVAILABLE when the journal failed (fenced, store disagrees).
  absl::StatusOr<v1::PushEventsResponse> Finish(journal::JournalClient* journal,
                                                v1::PushEventsResponse resp,
                                                uint64_t wait_seq) const;
  // Counts a request's applied and duplicate events.
  void Count(const v1::PushEventsResponse& resp) const;

  // Registers the intake metrics (common/metrics.h). Call once. REQUIRES:
  // this outlives the process's metrics endpoint.
  void ExportMetrics();

 private:
  // INVALID_ARGUMENT for event `i` of `req`, counted as a rejected request.
  absl::Status Refuse(const v1::PushEventsRequest& req, int i, const absl::Status& why) const;

  const IntakeOptions options_;
  // Null until ExportMetrics().
  prometheus::Counter* applied_ = nullptr;
  prometheus::Counter* duplicates_ = nullptr;
  prometheus::Counter* rejected_ = nullptr;
  prometheus::Histogram* ack_latency_ = nullptr;
};

}  // namespace vitrage::service

#endif  // VITRAGE_GRAPH_SERVICE_SERVICE_INTAKE_H_
