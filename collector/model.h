// The collector's datasources: the current state of the (simulated) cloud as
// a graph, and the changes made to it.
//
// The state is a graph::Graph in the workload shape (testdata/workload/
// FORMAT.md): loaded from a topology file, or built by the synthetic cloud
// generator. The change generator mutates it (state flips, alarms raised and
// cleared, instances created, migrated and deleted) deterministically from a
// seed. Every change is a list of pass-through ops, sent to the graph as one
// pass-through event (graph_service/processor/passthrough_event.h), so the
// graph the pair ends with is exactly this model once every event is acked:
// tests compare digests.
#ifndef VITRAGE_COLLECTOR_MODEL_H_
#define VITRAGE_COLLECTOR_MODEL_H_

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "graph_service/graph/graph.h"
#include "graph_service/processor/passthrough_event.h"
#include "nlohmann/json.hpp"

namespace vitrage::collector {

// Sizes of the synthetic cloud.
struct SyntheticOptions {
  int zones = 2;
  int hosts = 8;  // in total, spread over the zones
  int instances_per_host = 4;
  int ports_per_instance = 1;
  int volumes_per_instance = 1;
  int networks = 2;
  int alarms_per_host = 1;
};

// A SyntheticOptions scaled to about `hosts` hosts.
SyntheticOptions SyntheticForHosts(int hosts);

class Model {
 public:
  explicit Model(uint64_t seed);

  // Replaces the state by a workload graph file (.jsonl or .jsonl.zst).
  absl::Status LoadTopologyFile(const std::string& path);
  // Replaces the state by a synthetic cloud.
  void BuildSynthetic(const SyntheticOptions& options);

  // Applies `ops` to the state (in order). Fails without partial effect
  // only for ops the generator never makes; callers treat errors as bugs.
  absl::Status Apply(const std::vector<processor::PassthroughOp>& ops);

  // Makes the next random change (deterministic in the seed and the
  // sequence of calls) and applies it. `now` is the sample time written
  // into changed elements.
  std::vector<processor::PassthroughOp> NextChange(const std::string& now);

  // Applies one event of a workload event tail (FORMAT.md: a vertex's new
  // properties merged in, null removing a key) and returns it as ops (the
  // element's full new properties), as a datasource would report it.
  absl::StatusOr<std::vector<processor::PassthroughOp>> ApplyTailEvent(const nlohmann::json& event);

  // The ops that build the current state from nothing: every vertex, then
  // every edge, each in key order.
  std::vector<processor::PassthroughOp> FullState() const;

  const graph::Graph& graph() const { return graph_; }

 private:
  struct IdSet {
    std::vector<std::string> ids;
    absl::flat_hash_map<std::string, size_t> index;
    void Add(const std::string& id);
    void Remove(const std::string& id);
    bool empty() const { return ids.empty(); }
  };

  std::string NewId();
  uint64_t Rand(uint64_t n) { return n == 0 ? 0 : rng_() % n; }
  void Reindex();
  void Track(const std::string& id, const graph::Properties& p, bool add);
  void AddVertexOp(std::vector<processor::PassthroughOp>* ops, const std::string& id,
                   graph::Properties props);
  void AddEdgeOp(std::vector<processor::PassthroughOp>* ops, const std::string& s,
                 const std::string& t, const std::string& label, const std::string& now);
  void RemoveVertexOps(std::vector<processor::PassthroughOp>* ops, const std::string& id);
  graph::Properties ResourceProps(const std::string& id, const std::string& type,
                                  const std::string& name, const std::string& state,
                                  const std::string& now) const;

  std::mt19937_64 rng_;
  graph::Graph graph_;
  IdSet hosts_, instances_, alarms_, resources_;
  uint64_t minted_ = 0;
};

}  // namespace vitrage::collector

#endif  // VITRAGE_COLLECTOR_MODEL_H_
