// Read-side queries over deduced and datasource alarms (the query API's
// ListAlarms and GetRca).
#ifndef VITRAGE_GRAPH_SERVICE_EVALUATOR_QUERIES_H_
#define VITRAGE_GRAPH_SERVICE_EVALUATOR_QUERIES_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "graph_service/graph/graph.h"

namespace vitrage::evaluator {

// Alarm vertices (vitrage_category ALARM), not deleted unless
// `include_deleted`, only of `vitrage_type` when non-empty, by vertex id.
std::vector<graph::Slot> ListAlarms(const graph::Graph& g, const std::string& vitrage_type,
                                    bool include_deleted);

// The root-cause subgraph of alarm `alarm_id` (upstream's RCA): every alarm
// reachable from it over live "causes" edges in either direction (its
// causes and what it causes, transitively), with those edges.
// NOT_FOUND when there is no such vertex, INVALID_ARGUMENT when it is not
// an alarm.
absl::Status Rca(const graph::Graph& g, const std::string& alarm_id, graph::Subgraph* out);

}  // namespace vitrage::evaluator

#endif  // VITRAGE_GRAPH_SERVICE_EVALUATOR_QUERIES_H_
