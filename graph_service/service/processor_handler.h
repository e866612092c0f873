// EventHandler over the Vitrage processor (graph_service/processor): every
// entity type with a registered transformer (static, the pass-through type
// "vitrage.passthrough", and the datasources' types as they are added).
//
// get_all reconciliation: after a get_all made only of pass-through events
// (a topology file or synthetic cloud), vertices and edges the collector no
// longer reports are removed, since pass-through state is the full truth.
// Datasource types reconcile Vitrage style instead: after a get_all, every
// datasource it reported gets the outdated pass (its entities older than
// the get_all's start are deleted), and Periodic() runs the consistency
// enforcer (processor/consistency.h).
#ifndef VITRAGE_GRAPH_SERVICE_SERVICE_PROCESSOR_HANDLER_H_
#define VITRAGE_GRAPH_SERVICE_SERVICE_PROCESSOR_HANDLER_H_

#include <memory>

#include "absl/container/flat_hash_set.h"
#include "graph_service/processor/consistency.h"
#include "graph_service/processor/processor.h"
#include "graph_service/service/event_handler.h"

namespace vitrage::service {

class ProcessorHandler : public EventHandler {
 public:
  // REQUIRES: `graph` outlives the handler and is the graph Handle() gets.
  ProcessorHandler(graph::Graph* graph, processor::ProcessorOptions options,
                   processor::ConsistencyOptions consistency = {});

  absl::Status Validate(const v1::Event& event) override;
  void Handle(const v1::Event& event, graph::Graph* g, v1::GraphDelta* delta,
              std::string* kind) override;
  // Pass-through events: the index entries of their set_vertex ids, then
  // the first one's vertex (graph::VertexLookahead).
  void Lookahead(const google::protobuf::RepeatedPtrField<v1::Event>& events, int i) override;
  void BeginGetAll() override;
  void EndGetAll(graph::Graph* g, v1::GraphDelta* delta) override;
  void CancelGetAll() override;
  void Periodic(graph::Graph* g, absl::Time now, std::vector<v1::GraphDelta>* deltas) override;
  uint64_t skipped() const override { return skipped_; }

 private:
  absl::StatusOr<processor::Event> Convert(const v1::Event& event) const;
  void NoteGetAll(const v1::Event& event);

  const processor::TransformerRegistry registry_;
  processor::Processor processor_;
  const processor::ConsistencyOptions consistency_;
  uint64_t skipped_ = 0;
  bool in_get_all_ = false;
  bool get_all_passthrough_only_ = true;
  absl::flat_hash_set<std::string> seen_vertices_;
  absl::flat_hash_set<std::string> seen_edges_;
  // Datasources (vitrage_datasource_name) seen in the current get_all, for
  // the outdated-entity pass after it.
  absl::flat_hash_set<std::string> get_all_datasources_;
  absl::Time get_all_start_;
  graph::VertexLookahead lookahead_;
};

}  // namespace vitrage::service

#endif  // VITRAGE_GRAPH_SERVICE_SERVICE_PROCESSOR_HANDLER_H_
