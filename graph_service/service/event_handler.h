// What the engine asks of the code that turns events into graph changes.
// The engine owns ordering, sequence numbers, dedupe and durability; a
// handler only looks at one event and changes the graph.
#ifndef VITRAGE_GRAPH_SERVICE_SERVICE_EVENT_HANDLER_H_
#define VITRAGE_GRAPH_SERVICE_SERVICE_EVENT_HANDLER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "graph_service/graph/graph.h"
#include "vitrage/v1/graph.pb.h"

namespace vitrage::service {

class EventHandler {
 public:
  virtual ~EventHandler() = default;

  // Checks an event before anything of its request is applied. A request
  // with an event that fails here is rejected whole (INVALID_ARGUMENT
  // naming the event and the problem) and changes nothing.
  virtual absl::Status Validate(const v1::Event& event) = 0;

  // Applies a validated event to `g`, appending exactly what changed to
  // `delta`; `kind` gets a short description ("nova.instance update").
  // Parts of an event that cannot apply (e.g. an edge to an unknown vertex)
  // are skipped and counted, never half-applied: `delta` always matches
  // what `g` went through.
  virtual void Handle(const v1::Event& event, graph::Graph* g, v1::GraphDelta* delta,
                      std::string* kind) = 0;

  // get_all reconciliation: BeginGetAll, then Handle for every get_all
  // event, then EndGetAll appends the removal of whatever the datasources
  // no longer report.
  // CancelGetAll ends one without reconciling (it failed, or came as a
  // graph image, which replaces the graph as a whole): the events after it
  // are live events again. Harmless when no get_all is open.
  // Called before Handle(events[i]) when all of `events` were validated
  // and are handled in order: a hint to start loading what handling the
  // events after i will read. Changes nothing.
  virtual void Lookahead(const google::protobuf::RepeatedPtrField<v1::Event>& events, int i) {
    (void)events;
    (void)i;
  }
  virtual void BeginGetAll() = 0;
  virtual void EndGetAll(graph::Graph* g, v1::GraphDelta* delta) = 0;
  virtual void CancelGetAll() = 0;

  // The handler's own periodic pass at `now` (Vitrage's consistency
  // enforcer: remove deleted entities after a grace period, delete stale
  // placeholders). Each change set goes to `deltas` as one element, which
  // the engine journals like an event. Default: nothing.
  virtual void Periodic(graph::Graph* g, absl::Time now, std::vector<v1::GraphDelta>* deltas) {
    (void)g;
    (void)now;
    (void)deltas;
  }

  // Parts of events skipped so far (see Handle).
  virtual uint64_t skipped() const = 0;
};

}  // namespace vitrage::service

#endif  // VITRAGE_GRAPH_SERVICE_SERVICE_EVENT_HANDLER_H_
