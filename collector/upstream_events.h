// Datasources that send upstream Vitrage's driver events (the static YAML
// file, the synthetic cloud in OpenStack shapes) instead of pass-through
// events, and the reference graph: what the graph's own processor builds
// from exactly the events the collector sent.
//
// An UpstreamSource produces events as JSON objects with upstream's field
// names (testdata/conformance/event_fields.md), vitrage_entity_type,
// vitrage_datasource_name, vitrage_datasource_action, vitrage_sample_date
// (and vitrage_event_type for notifications) included. The collector turns
// each into a v1::Event body (JsonToMapValue) and, under the same lock,
// feeds that body to its ReferenceGraph (processor::EventFromMapValue, the
// conversion the graph does), so "the graph the pair must end with" is
// computed by the graph's own processor library.
//
// Exact when the graph's last get_all started from an empty graph or the
// graph ran no get_all since the reference's (restarts that recover from
// snapshot + log); a get_all over a graph that kept its state (long
// downtime) keeps that graph's deleted vertices, which the collector cannot
// know: docs/collector.md.
//
// The graph mints random vertex ids and stamps deletions with its wall
// clock, so its raw digest cannot equal the reference's. CanonicalDigest()
// compares them: every vertex id becomes its natural key's
// vitrage_cached_id (md5 of "CATEGORY:type:id", the key the processor
// resolves entities by), vitrage_id / vitrage_resource_id props follow, and
// every "now" the processor wrote (Python str(datetime) format,
// "2026-11-30 10:00:00.500000+00:00", never a datasource format) reads
// "<now>". Vertices that share a key (a deleted one and its re-creation)
// are numbered "#2", "#3", ... in the order of their canonical records.
#ifndef VITRAGE_COLLECTOR_UPSTREAM_EVENTS_H_
#define VITRAGE_COLLECTOR_UPSTREAM_EVENTS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "graph_service/graph/graph.h"
#include "graph_service/processor/event_json.h"
#include "graph_service/processor/processor.h"
#include "nlohmann/json.hpp"
#include "vitrage/v1/graph_types.pb.h"

namespace vitrage::collector {

// A source of upstream-shaped events.
class UpstreamSource {
 public:
  virtual ~UpstreamSource() = default;
  // For logs: what this source is ("static YAML FILE: 6 entities", ...).
  virtual std::string Describe() const = 0;
  // The full current state, as upstream's drivers answer get_all:
  // `action` is "init_snapshot" or "snapshot".
  virtual std::vector<nlohmann::json> GetAll(absl::string_view action,
                                             absl::string_view sample_date) = 0;
  // The next change (one or more events, in order), applied to the
  // source's state. Empty when the source makes no changes.
  virtual std::vector<nlohmann::json> NextChange(absl::string_view sample_date) = 0;
  // Whether NextChange can ever return events.
  virtual bool MakesChanges() const = 0;
  // Re-reads the source's configuration and returns the events of what
  // changed (upstream's get_changes); FAILED_PRECONDITION for sources that
  // read nothing. On error the state is unchanged.
  virtual absl::StatusOr<std::vector<nlohmann::json>> Reload(absl::string_view sample_date) {
    (void)sample_date;
    return absl::FailedPreconditionError("this datasource has no file to reload");
  }
};

// JSON object -> event body: the graph's converter (processor/event_json.h).
using processor::JsonToMapValue;

// See the file comment.
std::string CanonicalDigest(const graph::Graph& g);

// The graph the pair must end with: a graph::Graph built by the graph's
// processor (seeded ids, deterministic clock: sample date + 0.5 s).
class ReferenceGraph {
 public:
  explicit ReferenceGraph(uint64_t seed);
  // Starts over from an empty graph (what a graph running get_all with
  // init_snapshot starts from).
  void Reset();
  // Processes one event body; errors name the event and the field.
  absl::Status Process(const v1::MapValue& fields);
  const graph::Graph& graph() const { return *graph_; }
  uint64_t processed() const { return processed_; }

 private:
  uint64_t seed_;
  std::unique_ptr<graph::Graph> graph_;
  std::unique_ptr<processor::Processor> processor_;
  uint64_t processed_ = 0;
};

}  // namespace vitrage::collector

#endif  // VITRAGE_COLLECTOR_UPSTREAM_EVENTS_H_
