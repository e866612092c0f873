// The answers of upstream vitrage-graph's RPC API (vitrage/api_handler/
// apis/*.py, Vitrage 9.0.0), computed from our graph: what the unchanged
// vitrage-api calls on the bus (vitrage/api/controllers/v1/*.py) and the
// result shapes its controllers decode.
//
//   method              result (as upstream)
//   get_topology        compress_obj(node-link graph)   TopologyApis
//   get_resources       compress_obj({"resources": [...]})
//   count_resources     json.dumps({group value: count})
//   show_resource       json.dumps(properties) | None
//   get_alarms          compress_obj({"alarms": [...]})  AlarmApis
//   show_alarm          json.dumps(properties) | None
//   get_alarm_counts    json.dumps({SEVERE, CRITICAL, WARNING, OK, N/A})
//   get_rca             json.dumps(node-link graph + inspected_index)
//   template_versions   [{"version": "v2"|"v3", "status"}]
//   validate_template   json.dumps({"results": [...]})
//   is_alive            true (the server takes calls only while ACTIVE)
//   add_template, delete_template, post (events), webhooks: an error
//   saying what is not supported; any other name: NoSuchMethod.
//
// Alarm history. Upstream answers get_alarms, get_alarm_counts and
// get_rca from its history database (rows written when an alarm becomes
// active; start_timestamp = its update_timestamp at that moment, in
// seconds). Ours reads the live graph instead: the active alarms
// (ALARM, not deleted, not a placeholder; deduced alarms of the evaluator
// included) with their current properties, start_timestamp taken from
// update_timestamp (UTC, seconds, as MySQL stores it), and the live
// "causes" edges. Alarms that ended are not kept: only_active_alarms=false
// and time frames see the active alarms only.
//
// Tenancy as upstream: the call's context (project_id, is_admin) and
// all_tenants filter what is seen.
//
// Thread safety: Call and Read read the graph; the caller holds the graph's
// reader lock for their duration (Finish needs no lock).
#ifndef VITRAGE_GRAPH_SERVICE_RPC_API_HANDLERS_H_
#define VITRAGE_GRAPH_SERVICE_RPC_API_HANDLERS_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "graph_service/evaluator/template.h"
#include "graph_service/graph/graph.h"
#include "nlohmann/json.hpp"

namespace vitrage::rpc_api {

// True when `method` reads the graph (the caller must then pass one).
bool MethodReadsGraph(absl::string_view method);

// What a method computed from the graph, before the last encoding step:
// either the result itself, or (get_topology, get_resources, get_alarms)
// the pickle that compress_obj turns into the result. The pickle owns its
// bytes, so Finish() needs neither the graph nor its lock: a large reply is
// compressed after the caller let go of the graph.
struct Answer {
  Answer() = default;
  Answer(nlohmann::json v) : value(std::move(v)) {}  // NOLINT: a plain result
  static Answer Compressed(std::string pickle) {
    Answer a;
    a.pickle = std::move(pickle);
    a.compress = true;
    return a;
  }
  nlohmann::json value;
  std::string pickle;
  bool compress = false;
};

// Call in two steps: Read() under the graph's reader lock (`graph` may be
// null when !MethodReadsGraph(method)), Finish() with no lock held.
absl::StatusOr<Answer> Read(absl::string_view method, const nlohmann::json& args,
                            const nlohmann::json& ctx, const graph::Graph* graph,
                            const evaluator::TemplateSet* templates);
// The JSON value of the RPC reply's "result".
nlohmann::json Finish(Answer answer);

// Runs `method` with keyword arguments `args` (a JSON object) in context
// `ctx` (the RPC context: project_id, is_admin, ...). The result is the
// JSON value of the RPC reply's "result". `graph` may be null for a method
// that does not read it; `templates` (what the evaluator loaded) may be
// null when the evaluator is off.
// Errors: UNIMPLEMENTED for an unknown method, FAILED_PRECONDITION for a
// known one we do not serve, INVALID_ARGUMENT for bad arguments or a bad
// query, NOT_FOUND for a root that is not in the graph.
absl::StatusOr<nlohmann::json> Call(absl::string_view method, const nlohmann::json& args,
                                    const nlohmann::json& ctx, const graph::Graph* graph,
                                    const evaluator::TemplateSet* templates);

// "2026-12-06T10:00:00.5+02:00" -> "2026-12-06 08:00:00" (UTC, seconds),
// as MySQL keeps upstream's history timestamps. Empty when unparsable.
std::string NormalizeTimestamp(absl::string_view ts);

}  // namespace vitrage::rpc_api

#endif  // VITRAGE_GRAPH_SERVICE_RPC_API_HANDLERS_H_
