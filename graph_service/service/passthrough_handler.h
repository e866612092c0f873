// EventHandler for pass-through events (collector/passthrough.h): the
// workload-shaped state the collector sends (topology files, the synthetic
// cloud and its changes). Other entity types are rejected until the
// processor's transformers handle them.
#ifndef VITRAGE_GRAPH_SERVICE_SERVICE_PASSTHROUGH_HANDLER_H_
#define VITRAGE_GRAPH_SERVICE_SERVICE_PASSTHROUGH_HANDLER_H_

#include "absl/container/flat_hash_set.h"
#include "graph_service/service/event_handler.h"

namespace vitrage::service {

class PassthroughHandler : public EventHandler {
 public:
  absl::Status Validate(const v1::Event& event) override;
  void Handle(const v1::Event& event, graph::Graph* g, v1::GraphDelta* delta,
              std::string* kind) override;
  void BeginGetAll() override;
  void EndGetAll(graph::Graph* g, v1::GraphDelta* delta) override;
  uint64_t skipped() const override { return skipped_; }

 private:
  uint64_t skipped_ = 0;
  bool in_get_all_ = false;
  absl::flat_hash_set<std::string> seen_vertices_;
  absl::flat_hash_set<std::string> seen_edges_;
};

// Parses an Event's body (fields or json) into `fields`.
absl::Status EventFields(const v1::Event& event, v1::MapValue* fields);

}  // namespace vitrage::service

#endif  // VITRAGE_GRAPH_SERVICE_SERVICE_PASSTHROUGH_HANDLER_H_
