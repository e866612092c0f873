// Processing events under the conformance corpus's rules
// (testdata/conformance/README.md): the n-th id minted is
// 00000000-0000-4000-8000-<n as 12 hex digits>, "now" is the event's
// vitrage_sample_date + 0.5 s, state mappings from upstream's
// datasources_values, and the canonical form (vertex ids -> the natural key
// they were minted for, `key#n` for the n-th id minted for the key).
//
// Used by conformance_test, `vitrage-ctl process-events` (the differential
// harness's side of ours, integration_tests/differential/) and the
// processor bench.
#ifndef VITRAGE_GRAPH_SERVICE_PROCESSOR_CORPUS_RUN_H_
#define VITRAGE_GRAPH_SERVICE_PROCESSOR_CORPUS_RUN_H_

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "graph_service/graph/graph.h"
#include "graph_service/processor/processor.h"
#include "nlohmann/json.hpp"

namespace vitrage::processor {

class CorpusRun {
 public:
  // `values_dir`: upstream's datasources_values (*.yaml); "" keeps the
  // built-in state tables.
  static absl::StatusOr<std::unique_ptr<CorpusRun>> Create(const std::string& values_dir);
  // With state tables already loaded (the bench: one load for every run).
  static std::unique_ptr<CorpusRun> Create(const StateTable& states);

  // Upstream's ids -> natural keys (meta.json's `id_map`, or the harness's
  // mint log): a consistency event's raw vitrage_id then names our vertex of
  // the same canonical name (the same key, minted as often). Without it
  // (or for an id it lacks) the raw id is used as is.
  void SetUpstreamIdMap(const std::map<std::string, std::string>& id_to_key);

  // Processes one event (the dict upstream's processor received):
  // ToEvent, then Process.
  absl::Status ProcessJson(nlohmann::json event);
  // The event of `event` (a consistency event's upstream vitrage_id mapped
  // to ours, as far as the ids minted so far allow). The processor bench
  // converts with this outside the timed part.
  absl::StatusOr<Event> ToEvent(nlohmann::json event) const;
  // The processor on a converted event.
  absl::Status Process(const Event& event) { return processor_->Process(event, nullptr); }

  const graph::Graph& graph() const { return graph_; }
  // Every id minted, in order, with its natural key.
  const std::vector<std::pair<std::string, std::string>>& mints() const { return *mints_; }
  // Our id -> its canonical name ("key", "key#2", ...).
  absl::flat_hash_map<std::string, std::string> CanonicalNames() const;
  // The graph with ids (and vitrage_id, vitrage_resource_id) canonical.
  absl::StatusOr<graph::Graph> Canonical() const;

 private:
  CorpusRun();
  graph::Graph graph_;
  std::shared_ptr<std::vector<std::pair<std::string, std::string>>> mints_;
  // Upstream id -> (key, n).
  absl::flat_hash_map<std::string, std::pair<std::string, size_t>> upstream_;
  std::unique_ptr<Processor> processor_;
};

}  // namespace vitrage::processor

#endif  // VITRAGE_GRAPH_SERVICE_PROCESSOR_CORPUS_RUN_H_
