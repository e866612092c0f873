// The project's own Vitrage-shaped workloads: graph files and event tails
// in the workload format (workload.h, testdata/workload/FORMAT.md), made
// deterministically so that a clone of the repository needs no outside data.
//
// The graph has the shape of upstream Vitrage's scale-test GraphGenerator
// (the generator of the original reference files): one openstack.cluster
// containing nova.zones, zones containing nova.hosts, hosts containing
// nova.instances; per instance neutron.ports (contained by the
// neutron.networks, round robin) and cinder.volumes attached to it and one
// vitrage alarm on it; zabbix alarms on each host and on each
// tripleo.controller. Vertex ids are 11111111-1111-1111-1111-<12 digits>,
// minted in that order; each vertex has its type's property set, with
// upstream's key order and values.
//
// An event tail changes random vertices (a seeded generator of our own, not
// the standard library's distributions, so every platform makes the same
// files): a resource's `state`, an alarm's `vitrage_operational_severity`,
// and both timestamps set to the tail's time. Each event carries the
// vertex's full properties after the change, as upstream's events table
// does.
//
// The build runs `make_workload` (make_workload_main.cc) into
// build/workload/; workload_test pins the digests of what it makes.
#ifndef VITRAGE_GRAPH_SERVICE_WORKLOAD_GENERATOR_H_
#define VITRAGE_GRAPH_SERVICE_WORKLOAD_GENERATOR_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace vitrage::workload {

// The generator's parameters (GraphGenerator's names, written to meta.json).
struct GraphShape {
  std::string size;  // names the files: graph_<size>, events_<size>_<k>
  int networks = 0;
  int zones_per_cluster = 0;
  int hosts_per_zone = 0;
  int zabbix_alarms_per_host = 2;
  int instances_per_host = 8;
  int ports_per_instance = 2;
  int volumes_per_instance = 2;
  int vitrage_alarms_per_instance = 1;
  int tripleo_controllers = 3;
  int zabbix_alarms_per_controller = 1;
};

// The standard shapes "1k" (1,033 vertices), "10k" (10,027) and "100k"
// (100,077): the sizes of the original reference files.
absl::StatusOr<GraphShape> StandardShape(absl::string_view size);

// The standard set: each size with the event tails made for it
// (1k: 1000; 10k: 1000; 100k: 1000 and 10000).
struct WorkloadSpec {
  std::string size;
  std::vector<int> tails;
};
const std::vector<WorkloadSpec>& StandardWorkloads();

using LineSink = std::function<void(absl::string_view line)>;

class WorkloadGenerator {
 public:
  explicit WorkloadGenerator(const GraphShape& shape);
  ~WorkloadGenerator();
  WorkloadGenerator(const WorkloadGenerator&) = delete;
  WorkloadGenerator& operator=(const WorkloadGenerator&) = delete;

  size_t vertex_count() const;
  size_t edge_count() const;

  // Calls `sink` with each line of the graph file (no '\n'): all vertices,
  // then all edges.
  void GraphLines(const LineSink& sink) const;

  // Calls `sink` with each of `count` events of a tail applied to the graph
  // (event_id 1..count). The tail depends only on the shape and `count`.
  void TailLines(int count, const LineSink& sink) const;

 private:
  struct Model;
  GraphShape shape_;
  Model* model_;
};

// What WriteWorkload made.
struct WrittenWorkload {
  std::string graph_digest;
  size_t vertices = 0, edges = 0;
  std::vector<std::string> tail_digests;  // final_graph_digest per tail
};

// Writes into `dir` (which must exist) graph_<size>.jsonl.zst and
// graph_<size>.meta.json, and for each k in `tails` events_<size>_<k>.jsonl.zst
// and its .meta.json. The digests are graph::Digest of the files loaded back
// with this library (LoadGraphFile, ApplyEventTailFile's merge), i.e. what
// digest.py computes. Each file is written to a temporary name and renamed.
absl::StatusOr<WrittenWorkload> WriteWorkload(const GraphShape& shape,
                                              const std::vector<int>& tails,
                                              const std::string& dir);

}  // namespace vitrage::workload

#endif  // VITRAGE_GRAPH_SERVICE_WORKLOAD_GENERATOR_H_
