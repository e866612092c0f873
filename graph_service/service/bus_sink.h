// The bus listener's way into the engine (graph_service/bus/listener.h):
// the push intake the collector uses, nothing else. Each bus message is one
// request (ApplyPush; a batch of them ApplyPushBatch), durable once the journal's durable seq
// reaches the seq ApplyPush returned (the wait FinishPush does, with the caller's timeout, so the
// listener can poll while it applies the next batch).
#ifndef VITRAGE_GRAPH_SERVICE_SERVICE_BUS_SINK_H_
#define VITRAGE_GRAPH_SERVICE_SERVICE_BUS_SINK_H_

#include "graph_service/bus/listener.h"
#include "graph_service/service/engine.h"

namespace vitrage::service {

class EngineBusSink : public bus::EventSink {
 public:
  explicit EngineBusSink(Engine* engine) : engine_(engine) {}

  absl::StatusOr<Applied> Apply(const v1::PushEventsRequest& req) override {
    absl::StatusOr<Engine::PushTicket> t = engine_->ApplyPush(req);
    if (!t.ok()) return t.status();
    return Applied{t->wait_seq, t->resp.applied(), t->resp.duplicates()};
  }
  absl::StatusOr<std::vector<absl::StatusOr<Applied>>> ApplyBatch(
      const std::vector<const v1::PushEventsRequest*>& reqs) override {
    absl::StatusOr<std::vector<absl::StatusOr<Engine::PushTicket>>> t =
        engine_->ApplyPushBatch(reqs);
    // A source that needs ApplyPush's reconcile (never the bus's): in turn.
    if (absl::IsFailedPrecondition(t.status())) return EventSink::ApplyBatch(reqs);
    if (!t.ok()) return t.status();
    std::vector<absl::StatusOr<Applied>> out;
    out.reserve(t->size());
    for (absl::StatusOr<Engine::PushTicket>& r : *t) {
      if (r.ok()) {
        out.push_back(Applied{r->wait_seq, r->resp.applied(), r->resp.duplicates()});
      } else {
        out.push_back(r.status());
      }
    }
    return out;
  }
  absl::Status WaitDurable(const Applied& a, absl::Duration timeout) override {
    return engine_->WaitDurable(a.wait_seq, timeout);
  }

 private:
  Engine* const engine_;
};

}  // namespace vitrage::service

#endif  // VITRAGE_GRAPH_SERVICE_SERVICE_BUS_SINK_H_
