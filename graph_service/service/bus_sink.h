// The bus listener's way into the engine (graph_service/bus/listener.h):
// the push intake the collector uses, nothing else. Each bus message is one
// request (ApplyPush), durable once the journal's durable seq reaches the
// seq ApplyPush returned (the wait FinishPush does, with the caller's
// timeout, so the listener can poll while it applies the next batch).
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
  absl::Status WaitDurable(const Applied& a, absl::Duration timeout) override {
    return engine_->WaitDurable(a.wait_seq, timeout);
  }

 private:
  Engine* const engine_;
};

}  // namespace vitrage::service

#endif  // VITRAGE_GRAPH_SERVICE_SERVICE_BUS_SINK_H_
