#include "graph_service/service/intake.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/metrics.h"
#include "graph_service/graph/key_budget.h"
#include "graph_service/graph/value.h"

namespace vitrage::service {

void Intake::ExportMetrics() {
  namespace m = vitrage::metrics;
  applied_ = &m::Counter("vitrage_graph_events_applied_total",
                         "Pushed events applied by the processor (get_all events not counted)");
  duplicates_ = &m::Counter("vitrage_graph_events_duplicate_total",
                            "Re-sent events acked without being applied again");
  rejected_ =
      &m::Counter("vitrage_graph_push_rejected_total", "PushEvents requests rejected as invalid");
  ack_latency_ =
      &m::Histogram("vitrage_graph_push_durable_wait_seconds",
                    "Time PushEvents waited for its records to be durable", m::LatencyBuckets());
}

absl::Status Intake::Refuse(const v1::PushEventsRequest& req, int i,
                            const absl::Status& why) const {
  if (rejected_ != nullptr) rejected_->Increment();
  const v1::Event& ev = req.events(i);
  return absl::InvalidArgumentError(
      absl::StrCat("PushEvents: event ", i, " (source \"", ev.source(), "\" seq ", ev.source_seq(),
                   "): ", why.message(), "; nothing in this request was applied"));
}

absl::Status Intake::Check(const v1::PushEventsRequest& req,
                           const std::function<absl::Status(const v1::Event&)>& validate) const {
  if (req.events_size() > kMaxEvents) {
    return absl::InvalidArgumentError(absl::StrCat(
        "PushEvents: ", req.events_size(), " events in one request; the limit is ", kMaxEvents));
  }
  for (int i = 0; i < req.events_size(); ++i) {
    absl::Status s = validate(req.events(i));
    if (!s.ok()) return Refuse(req, i, s);
  }
  return absl::OkStatus();
}

absl::Status Intake::CheckKeys(const v1::PushEventsRequest& req) const {
  if (graph::KeyBudget::SurelyFits(req.ByteSizeLong(), options_.max_distinct_keys)) {
    return absl::OkStatus();
  }
  graph::KeyBudget keys(options_.max_distinct_keys);
  for (int i = 0; i < req.events_size(); ++i) {
    absl::Status s = keys.Add(req.events(i));
    if (!s.ok()) return Refuse(req, i, s);
  }
  return absl::OkStatus();
}

absl::Status Intake::Admit(journal::JournalClient* journal, int records) {
  if (journal == nullptr) return absl::OkStatus();
  absl::Status room = journal->WaitForRoom(records, absl::Now() + absl::Seconds(5));
  if (absl::IsDeadlineExceeded(room)) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "journal buffer full (persistor not acking): ", room.message(), "; retry later"));
  }
  if (!room.ok()) return absl::UnavailableError(room.message());
  return absl::OkStatus();
}

void Intake::Count(const v1::PushEventsResponse& resp) const {
  if (applied_ == nullptr) return;
  applied_->Increment(resp.applied());
  duplicates_->Increment(resp.duplicates());
}

absl::StatusOr<v1::PushEventsResponse> Intake::Finish(journal::JournalClient* journal,
                                                      v1::PushEventsResponse resp,
                                                      uint64_t wait_seq) const {
  if (journal == nullptr) return resp;
  absl::Time wait_start = absl::Now();
  absl::Status s = journal->WaitDurable(wait_seq, absl::Now() + options_.push_timeout);
  if (ack_latency_ != nullptr) {
    ack_latency_->Observe(absl::ToDoubleSeconds(absl::Now() - wait_start));
  }
  if (!s.ok()) {
    if (absl::IsDeadlineExceeded(s)) {
      return absl::DeadlineExceededError(absl::StrCat(
          "events applied but not durable within ", absl::FormatDuration(options_.push_timeout),
          " (persistor unreachable?); re-send them: ", s.message()));
    }
    return absl::UnavailableError(absl::StrCat("journal failed: ", s.message()));
  }
  resp.set_durable_seq(wait_seq);
  return resp;
}

}  // namespace vitrage::service
