// vitrage-ctl: an admin CLI over the gRPC API, for people without grpcurl.
//
//   vitrage-ctl [--graph HOST:PORT] status [--digest]
//   vitrage-ctl [--graph HOST:PORT] topology [--json] [--type T]... [--root ID
//               [--depth N]] [--include-deleted]
//   vitrage-ctl [--graph HOST:PORT] export [FILE]      workload JSONL (stdout)
//   vitrage-ctl [--graph HOST:PORT] digest             content digest
//   vitrage-ctl [--graph HOST:PORT] take-snapshot
//   vitrage-ctl [--graph HOST:PORT] promote            hot standby -> ACTIVE
//   vitrage-ctl [--graph HOST:PORT] vertex ID [--type T]
//   vitrage-ctl [--graph HOST:PORT] alarms [--type T] | rca ALARM
//   vitrage-ctl [--collector HOST:PORT] collector-status [--digest]
//   vitrage-ctl [--persistor HOST:PORT] persistor-status
//   vitrage-ctl [--persistor HOST:PORT] log [--after SEQ] [--limit N] [--json]
//   vitrage-ctl health [graph|persistor|collector|HOST:PORT]   grpc.health.v1
//   vitrage-ctl process-events EVENTS.jsonl --values DIR   offline, corpus rules
//               (ctl_process_events.h)
//
// Addresses: --graph, --persistor, --collector; else the `listen_address`
// keys of --config FILE (or of the file $VITRAGE_CONFIG names); else the
// defaults 127.0.0.1:9702, :9701, :9703. A HOST without a port takes the
// service's default port. ID (vertex, --root, rca) is a vitrage_id, an
// entity id (the `id` property) or a name.
// TLS (docs/security.md): the config file's [ssl] section (the
// certificate's role must be in the server's [ssl] read_only_roles; admin
// for take-snapshot); --cert/--key/--ca give the files directly. Without
// either, plaintext. With TLS each server must also prove its role (the
// graph's certificate spiffe://vitrage/graph, ...), so `health ADDR` with a
// bare address works in plaintext only.
// Every call has a deadline (--timeout, seconds). Exit code 0 on success; 1
// on an error (said in words), a health status other than SERVING, or an
// empty answer to a specific question (topology --type/--root, vertex,
// alarms --type, log --after); 2 on bad usage or configuration, including
// an address that serves another service (wrong port).
#include <glog/logging.h>
#include <google/protobuf/util/json_util.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <map>
#include <set>
#include <tuple>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "common/config.h"
#include "common/grpc_util.h"
#include "common/tls.h"
#include "common/version.h"
#include "graph_service/graph/digest.h"
#include "graph_service/graph/proto_convert.h"
#include "graph_service/service/ctl_process_events.h"
#include "graph_service/workload/workload.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "vitrage/v1/collector.grpc.pb.h"
#include "vitrage/v1/graph.grpc.pb.h"
#include "vitrage/v1/persistor.grpc.pb.h"

namespace {

using vitrage::MakeChannel;
namespace v1 = vitrage::v1;

// Exit codes.
constexpr int kFailed = 1;  // an error, NOT_SERVING, or nothing matched
constexpr int kUsage = 2;   // bad usage or configuration (wrong port included)

// The services vitrage-ctl talks to.
enum class Service { kGraph, kPersistor, kCollector, kHealth };

const char* ProgramName(Service s) {
  switch (s) {
    case Service::kGraph:
      return "vitrage-graph";
    case Service::kPersistor:
      return "vitrage-persistor";
    case Service::kCollector:
      return "vitrage-collector";
    default:
      return "the server";
  }
}

const char* GrpcServiceName(Service s) {
  switch (s) {
    case Service::kGraph:
      return "vitrage.v1.Graph";
    case Service::kPersistor:
      return "vitrage.v1.Persistor";
    case Service::kCollector:
      return "vitrage.v1.Collector";
    default:
      return "grpc.health.v1.Health";
  }
}

// Where the services are and how long a call may take.
struct Targets {
  std::string graph = "127.0.0.1:9702";
  std::string collector = "127.0.0.1:9703";
  std::string persistor = "127.0.0.1:9701";
  std::string health;  // `health ADDR`'s address
  double timeout_seconds = 30;

  void Deadline(grpc::ClientContext* ctx) const {
    if (timeout_seconds > 0) {
      ctx->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::milliseconds(static_cast<int64_t>(timeout_seconds * 1000)));
    }
  }
  const std::string& Address(Service s) const {
    switch (s) {
      case Service::kGraph:
        return graph;
      case Service::kPersistor:
        return persistor;
      case Service::kCollector:
        return collector;
      default:
        return health;
    }
  }
};

// An RPC error in words: what failed, where, and why; never a bare code.
std::string InWords(const grpc::Status& st, const Targets& t, Service s) {
  const std::string& addr = t.Address(s);
  const std::string who = absl::StrCat(ProgramName(s), " at ", addr);
  const std::string& msg = st.error_message();
  auto with = [&](const std::string& words) {
    return msg.empty() ? words : absl::StrCat(words, ": ", msg);
  };
  switch (st.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
      return with(absl::StrCat(who, " is not reachable"));
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return absl::StrCat(who, " did not answer within ", t.timeout_seconds,
                          " s (--timeout SECONDS)");
    case grpc::StatusCode::UNIMPLEMENTED:
      return absl::StrCat(addr, " does not serve ", GrpcServiceName(s), " (wrong port?)");
    case grpc::StatusCode::NOT_FOUND:
      return with("not found");
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::OUT_OF_RANGE:
      return with(absl::StrCat(who, " refused the request"));
    case grpc::StatusCode::FAILED_PRECONDITION:
      return with(absl::StrCat(who, " cannot do it now"));
    case grpc::StatusCode::PERMISSION_DENIED:
      return with(absl::StrCat(who, " denied it (the certificate's role)"));
    case grpc::StatusCode::UNAUTHENTICATED:
      return with(absl::StrCat(who, " needs a client certificate"));
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return with(absl::StrCat(who, " is busy or the answer is too large"));
    case grpc::StatusCode::CANCELLED:
      return with("the call was cancelled");
    case grpc::StatusCode::DATA_LOSS:
      return with(absl::StrCat(who, " lost data"));
    default:
      return with(absl::StrCat(who, " failed"));
  }
}

int Fail(const grpc::Status& st, const Targets& t, Service s) {
  std::cerr << "vitrage-ctl: " << InWords(st, t, s) << "\n";
  // A server refused by the role check only shows as UNAVAILABLE: say why.
  for (const std::string* addr : {&t.graph, &t.persistor, &t.collector, &t.health}) {
    std::string why = vitrage::LastServerRefusal(*addr);
    if (!why.empty()) std::cerr << "vitrage-ctl: " << why << " (docs/security.md)\n";
  }
  // A live address serving something else is a configuration error.
  return st.error_code() == grpc::StatusCode::UNIMPLEMENTED ? kUsage : kFailed;
}

// Prints why nothing was printed; the exit code of an empty answer.
int Nothing(const std::string& what) {
  std::cerr << "vitrage-ctl: " << what << "\n";
  return kFailed;
}

void PrintJson(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions o;
  o.add_whitespace = true;
  o.always_print_primitive_fields = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, o);
  std::cout << out;
}

std::unique_ptr<v1::Graph::Stub> GraphStub(const Targets& t) {
  return v1::Graph::NewStub(MakeChannel(t.graph, vitrage::ServerRole::kGraph, 64 << 20));
}

// ---- graph ----------------------------------------------------------------

int Status(const Targets& t, bool digest) {
  grpc::ClientContext ctx;
  t.Deadline(&ctx);
  v1::GraphStatusRequest req;
  req.set_with_digest(digest);
  v1::GraphStatus resp;
  grpc::Status st = GraphStub(t)->GetStatus(&ctx, req, &resp);
  if (!st.ok()) return Fail(st, t, Service::kGraph);
  PrintJson(resp);
  return 0;
}

// Streams GetTopology into `vertices` and `edges`.
grpc::Status FetchTopology(const Targets& t, const v1::GetTopologyRequest& req,
                           std::vector<v1::Vertex>* vertices, std::vector<v1::Edge>* edges) {
  grpc::ClientContext ctx;
  t.Deadline(&ctx);
  auto reader = GraphStub(t)->GetTopology(&ctx, req);
  v1::TopologyBatch b;
  while (reader->Read(&b)) {
    for (auto& v : *b.mutable_vertices()) vertices->push_back(std::move(v));
    for (auto& e : *b.mutable_edges()) edges->push_back(std::move(e));
  }
  return reader->Finish();
}

nlohmann::json ValueJson(const v1::Value& v) {
  switch (v.kind_case()) {
    case v1::Value::kBoolValue:
      return v.bool_value();
    case v1::Value::kIntValue:
      return v.int_value();
    case v1::Value::kDoubleValue:
      return v.double_value();
    case v1::Value::kStringValue:
      return v.string_value();
    case v1::Value::kListValue: {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& x : v.list_value().values()) out.push_back(ValueJson(x));
      return out;
    }
    case v1::Value::kMapValue: {
      nlohmann::json out = nlohmann::json::object();
      for (const auto& p : v.map_value().entries()) out[p.key()] = ValueJson(p.value());
      return out;
    }
    default:
      return nullptr;
  }
}

nlohmann::json PropertiesJson(const google::protobuf::RepeatedPtrField<v1::Property>& props) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& p : props) out[p.key()] = ValueJson(p.value());
  return out;
}

// A property as table text: "-" when absent or null.
std::string PropertyText(const google::protobuf::RepeatedPtrField<v1::Property>& props,
                         const std::string& key) {
  for (const auto& p : props) {
    if (p.key() != key) continue;
    nlohmann::json j = ValueJson(p.value());
    if (j.is_null()) return "-";
    return j.is_string() ? j.get<std::string>() : j.dump();
  }
  return "-";
}

// A vertex's state for tables. A placeholder (an entity another one
// names, not reported itself yet) has none: say so.
std::string StateText(const v1::Vertex& v) {
  std::string state = PropertyText(v.properties(), "vitrage_aggregated_state");
  if (state == "-" && PropertyText(v.properties(), "vitrage_is_placeholder") == "true") {
    return "(placeholder)";
  }
  return state;
}

// Prints rows as left-aligned columns.
void PrintTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& r : rows) {
    width.resize(std::max(width.size(), r.size()));
    for (size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  }
  for (const auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(width[i] - r[i].size() + 2, ' ');
    }
    std::cout << line << "\n";
  }
}

// Upstream's `vitrage topology show` shape (networkx node-link JSON): nodes
// with their properties, links naming their ends by node index.
void PrintTopologyJson(const std::vector<v1::Vertex>& vertices,
                       const std::vector<v1::Edge>& edges) {
  nlohmann::json nodes = nlohmann::json::array(), links = nlohmann::json::array();
  std::map<std::string, size_t> index;
  for (const auto& v : vertices) {
    nlohmann::json n = PropertiesJson(v.properties());
    n["vitrage_id"] = v.id();
    n["id"] = v.id();
    index[v.id()] = nodes.size();
    nodes.push_back(std::move(n));
  }
  for (const auto& e : edges) {
    nlohmann::json l = PropertiesJson(e.properties());
    l["source"] = index[e.source_id()];
    l["target"] = index[e.target_id()];
    l["relationship_type"] = e.label();
    l["key"] = e.label();
    links.push_back(std::move(l));
  }
  nlohmann::json out = {{"directed", true},
                        {"multigraph", true},
                        {"graph", nlohmann::json::object()},
                        {"nodes", nodes},
                        {"links", links}};
  std::cout << out.dump(2) << "\n";
}

void PrintTopologyTable(const std::vector<v1::Vertex>& vertices,
                        const std::vector<v1::Edge>& edges) {
  std::vector<std::vector<std::string>> rows = {
      {"VITRAGE_ID", "CATEGORY", "TYPE", "NAME", "STATE", "DELETED"}};
  for (const auto& v : vertices) {
    const auto& p = v.properties();
    rows.push_back({v.id(), PropertyText(p, "vitrage_category"), PropertyText(p, "vitrage_type"),
                    PropertyText(p, "name"), StateText(v), PropertyText(p, "vitrage_is_deleted")});
  }
  PrintTable(rows);
  std::cout << "\n";
  rows = {{"SOURCE", "RELATIONSHIP", "TARGET", "DELETED"}};
  for (const auto& e : edges) {
    rows.push_back({e.source_id(), e.label(), e.target_id(),
                    PropertyText(e.properties(), "vitrage_is_deleted")});
  }
  PrintTable(rows);
  std::cout << "\n" << vertices.size() << " vertices, " << edges.size() << " edges\n";
}

// Levenshtein distance, for "did you mean".
size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// The candidates closest to `word` (a typo or a prefix), best first.
std::vector<std::string> Closest(const std::string& word, const std::set<std::string>& candidates) {
  std::vector<std::pair<size_t, std::string>> scored;
  for (const auto& c : candidates) {
    size_t d = EditDistance(word, c);
    if (d <= std::max<size_t>(2, word.size() / 4) ||
        (!word.empty() && (absl::StartsWith(c, word) || absl::StartsWith(word, c)))) {
      scored.emplace_back(d, c);
    }
  }
  std::sort(scored.begin(), scored.end());
  std::vector<std::string> out;
  for (const auto& [d, c] : scored) out.push_back(c);
  return out;
}

std::string Quoted(const std::vector<std::string>& words, size_t max) {
  std::string out;
  for (size_t i = 0; i < words.size() && i < max; ++i) {
    absl::StrAppend(&out, i == 0 ? "" : ", ", "\"", words[i], "\"");
  }
  if (words.size() > max) absl::StrAppend(&out, ", ...");
  return out;
}

// The vertex `ref` names: its vitrage_id, else the vertices whose entity id
// (`id`) or `name` is `ref` (of vitrage_type `type` when given). Several
// matches are an error that lists them.
absl::StatusOr<std::string> ResolveVertex(const Targets& t, const std::string& ref,
                                          const std::string& type, int* exit_code) {
  *exit_code = kFailed;
  {
    grpc::ClientContext ctx;
    t.Deadline(&ctx);
    v1::GetVertexRequest req;
    req.set_id(ref);
    v1::GetVertexResponse resp;
    grpc::Status st = GraphStub(t)->GetVertex(&ctx, req, &resp);
    if (st.ok() &&
        (type.empty() || PropertyText(resp.vertex().properties(), "vitrage_type") == type)) {
      return ref;
    }
    if (!st.ok() && st.error_code() != grpc::StatusCode::NOT_FOUND) {
      *exit_code = Fail(st, t, Service::kGraph);
      return absl::UnavailableError("");
    }
  }
  v1::GetTopologyRequest req;
  if (!type.empty()) req.add_vitrage_types(type);
  std::vector<v1::Vertex> vertices;
  std::vector<v1::Edge> edges;
  grpc::Status st = FetchTopology(t, req, &vertices, &edges);
  if (!st.ok()) {
    *exit_code = Fail(st, t, Service::kGraph);
    return absl::UnavailableError("");
  }
  std::vector<const v1::Vertex*> by_id, by_name;
  for (const auto& v : vertices) {
    if (PropertyText(v.properties(), "id") == ref) by_id.push_back(&v);
    if (PropertyText(v.properties(), "name") == ref) by_name.push_back(&v);
  }
  const auto& found = by_id.empty() ? by_name : by_id;
  std::string of_type = type.empty() ? "" : absl::StrCat(" of type ", type);
  if (found.empty()) {
    return absl::NotFoundError(absl::StrCat("no vertex \"", ref, "\"", of_type,
                                            " (looked up by vitrage_id, entity id and name)"));
  }
  if (found.size() > 1) {
    std::string list;
    for (const v1::Vertex* v : found) {
      absl::StrAppend(&list, "\n  ", v->id(), "  ", PropertyText(v->properties(), "vitrage_type"),
                      "  ", PropertyText(v->properties(), "name"));
    }
    return absl::FailedPreconditionError(absl::StrCat(found.size(), " vertices", of_type, " are \"",
                                                      ref,
                                                      "\"; give a vitrage_id or --type:", list));
  }
  return found[0]->id();
}

int Topology(const Targets& t, v1::GetTopologyRequest req, bool json) {
  if (!req.root_id().empty()) {
    int code;
    auto root = ResolveVertex(t, req.root_id(), "", &code);
    if (!root.ok())
      return root.status().message().empty() ? code : Nothing(std::string(root.status().message()));
    req.set_root_id(*root);
  }
  std::vector<v1::Vertex> vertices;
  std::vector<v1::Edge> edges;
  grpc::Status st = FetchTopology(t, req, &vertices, &edges);
  if (!st.ok()) return Fail(st, t, Service::kGraph);
  if (vertices.empty() && req.vitrage_types_size() > 0) {
    // A specific question with no answer: say so, and which types exist.
    std::string asked;
    for (const auto& ty : req.vitrage_types()) {
      absl::StrAppend(&asked, asked.empty() ? "" : ", ", ty);
    }
    std::set<std::string> types;
    std::vector<v1::Vertex> all;
    std::vector<v1::Edge> all_edges;
    v1::GetTopologyRequest every;
    every.set_include_deleted(req.include_deleted());
    if (FetchTopology(t, every, &all, &all_edges).ok()) {
      for (const auto& v : all) types.insert(PropertyText(v.properties(), "vitrage_type"));
    }
    std::string hint;
    for (const auto& ty : req.vitrage_types()) {
      std::vector<std::string> close = Closest(ty, types);
      if (!close.empty()) {
        hint = absl::StrCat("; did you mean ", Quoted(close, 3), "?");
        break;
      }
    }
    if (hint.empty() && !types.empty()) {
      hint = absl::StrCat("; the graph's types: ", Quoted({types.begin(), types.end()}, 20));
    }
    return Nothing(absl::StrCat("nothing matched: no vertex of type ", asked,
                                req.root_id().empty() ? "" : " around the root", hint));
  }
  std::sort(vertices.begin(), vertices.end(),
            [](const v1::Vertex& a, const v1::Vertex& b) { return a.id() < b.id(); });
  auto key = [](const v1::Edge& e) { return std::tie(e.source_id(), e.target_id(), e.label()); };
  std::sort(edges.begin(), edges.end(),
            [&](const v1::Edge& a, const v1::Edge& b) { return key(a) < key(b); });
  if (json) {
    PrintTopologyJson(vertices, edges);
  } else {
    PrintTopologyTable(vertices, edges);
  }
  return 0;
}

// export / digest: the whole graph, deleted entities included, rebuilt here.
int ExportOrDigest(const Targets& t, bool digest_only, const std::string& path) {
  v1::GetTopologyRequest req;
  req.set_include_deleted(true);
  std::vector<v1::Vertex> vertices;
  std::vector<v1::Edge> edges;
  grpc::Status st = FetchTopology(t, req, &vertices, &edges);
  if (!st.ok()) return Fail(st, t, Service::kGraph);
  vitrage::graph::Graph g;
  for (const auto& v : vertices) (void)vitrage::graph::AddVertexFromProto(v, &g);
  for (const auto& e : edges) (void)vitrage::graph::AddEdgeFromProto(e, &g);
  if (digest_only) {
    std::cout << vitrage::graph::Digest(g) << "\n";
    return 0;
  }
  if (!path.empty()) {
    absl::Status s = vitrage::workload::ExportGraphFile(g, path);
    if (!s.ok()) {
      std::cerr << "vitrage-ctl: " << s.message() << "\n";
      return kFailed;
    }
    return 0;
  }
  std::string line;
  for (auto v : g.VerticesById()) {
    line.clear();
    vitrage::workload::AppendVertexLine(g, v, &line);
    std::cout << line << "\n";
  }
  for (auto e : g.EdgesByKey()) {
    line.clear();
    vitrage::workload::AppendEdgeLine(g, e, &line);
    std::cout << line << "\n";
  }
  return 0;
}

int TakeSnapshot(const Targets& t) {
  grpc::ClientContext ctx;
  t.Deadline(&ctx);
  v1::TakeSnapshotResponse resp;
  grpc::Status st = GraphStub(t)->TakeSnapshot(&ctx, v1::TakeSnapshotRequest(), &resp);
  if (!st.ok()) return Fail(st, t, Service::kGraph);
  PrintJson(resp);
  return 0;
}

// Exit 0 once the graph is ACTIVE (or was already); prints the timings.
int Promote(const Targets& t) {
  grpc::ClientContext ctx;
  t.Deadline(&ctx);
  v1::PromoteRequest req;
  v1::PromoteResponse resp;
  grpc::Status st = GraphStub(t)->Promote(&ctx, req, &resp);
  if (!st.ok()) return Fail(st, t, Service::kGraph);
  PrintJson(resp);
  return 0;
}

int Vertex(const Targets& t, const std::string& ref, const std::string& type) {
  int code;
  auto id = ResolveVertex(t, ref, type, &code);
  if (!id.ok())
    return id.status().message().empty() ? code : Nothing(std::string(id.status().message()));
  grpc::ClientContext ctx;
  t.Deadline(&ctx);
  v1::GetVertexRequest req;
  req.set_id(*id);
  v1::GetVertexResponse resp;
  grpc::Status st = GraphStub(t)->GetVertex(&ctx, req, &resp);
  if (!st.ok()) return Fail(st, t, Service::kGraph);
  PrintJson(resp);
  return 0;
}

// ---- alarms (the evaluator's and the datasources') -------------------------

void PrintAlarmTable(const google::protobuf::RepeatedPtrField<v1::Vertex>& alarms) {
  std::vector<std::vector<std::string>> rows = {
      {"VITRAGE_ID", "TYPE", "NAME", "SEVERITY", "RESOURCE", "DELETED"}};
  for (const auto& v : alarms) {
    const auto& p = v.properties();
    rows.push_back({v.id(), PropertyText(p, "vitrage_type"), PropertyText(p, "name"),
                    PropertyText(p, "severity"), PropertyText(p, "vitrage_resource_id"),
                    PropertyText(p, "vitrage_is_deleted")});
  }
  PrintTable(rows);
}

int Alarms(const Targets& t, const v1::ListAlarmsRequest& req, bool json) {
  grpc::ClientContext ctx;
  t.Deadline(&ctx);
  v1::ListAlarmsResponse resp;
  grpc::Status st = GraphStub(t)->ListAlarms(&ctx, req, &resp);
  if (!st.ok()) return Fail(st, t, Service::kGraph);
  // Deduced alarms need the evaluator: say so when it is off, so that an
  // empty list is not read as "nothing is wrong".
  std::string evaluator_off;
  {
    grpc::ClientContext sctx;
    t.Deadline(&sctx);
    v1::GraphStatus status;
    if (GraphStub(t)->GetStatus(&sctx, v1::GraphStatusRequest(), &status).ok() &&
        !status.evaluator().enabled()) {
      evaluator_off = status.evaluator().templates_dir().empty()
                          ? "the evaluator is off ([graph] templates_dir is not set): no "
                            "deduced alarms"
                          : "the evaluator is not running yet (graph not ACTIVE): no deduced "
                            "alarms yet";
      std::cerr << "vitrage-ctl: note: " << evaluator_off << "\n";
    }
  }
  if (resp.alarms_size() == 0 && !req.vitrage_type().empty()) {
    return Nothing(absl::StrCat("nothing matched: no alarm of type ", req.vitrage_type(),
                                evaluator_off.empty() ? "" : " (", evaluator_off,
                                evaluator_off.empty() ? "" : ")"));
  }
  if (json) {
    PrintJson(resp);
    return 0;
  }
  PrintAlarmTable(resp.alarms());
  std::cout << "\n" << resp.alarms_size() << " alarms\n";
  return 0;
}

int Rca(const Targets& t, const std::string& ref, bool json) {
  int code;
  auto id = ResolveVertex(t, ref, "", &code);
  if (!id.ok())
    return id.status().message().empty() ? code : Nothing(std::string(id.status().message()));
  grpc::ClientContext ctx;
  t.Deadline(&ctx);
  v1::GetRcaRequest req;
  req.set_alarm_id(*id);
  v1::GetRcaResponse resp;
  grpc::Status st = GraphStub(t)->GetRca(&ctx, req, &resp);
  if (!st.ok()) return Fail(st, t, Service::kGraph);
  if (json) {
    PrintJson(resp);
    return 0;
  }
  PrintAlarmTable(resp.alarms());
  // Each "causes" edge as one row: the cause, then the alarm it causes,
  // both by name and vitrage_id (the alarm table above has the rest).
  std::map<std::string, std::string> names;
  for (const auto& a : resp.alarms()) names[a.id()] = PropertyText(a.properties(), "name");
  auto named = [&](const std::string& id) {
    auto it = names.find(id);
    return it == names.end() ? id : absl::StrCat(it->second, " (", id, ")");
  };
  std::cout << "\n";
  std::vector<std::vector<std::string>> rows = {{"CAUSE", "RELATIONSHIP", "EFFECT"}};
  for (const auto& e : resp.edges()) {
    rows.push_back({named(e.source_id()), e.label(), named(e.target_id())});
  }
  PrintTable(rows);
  std::cout << "\n" << resp.alarms_size() << " alarms, " << resp.edges_size() << " causal links\n";
  return 0;
}

// ---- collector, persistor -------------------------------------------------

int CollectorStatus(const Targets& t, bool digest) {
  auto c = v1::Collector::NewStub(MakeChannel(t.collector, vitrage::ServerRole::kCollector));
  grpc::ClientContext ctx;
  t.Deadline(&ctx);
  v1::CollectorStatusRequest req;
  req.set_with_digest(digest);
  v1::CollectorStatus resp;
  grpc::Status st = c->GetStatus(&ctx, req, &resp);
  if (!st.ok()) return Fail(st, t, Service::kCollector);
  PrintJson(resp);
  return 0;
}

grpc::Status GetPersistorStatus(const Targets& t, v1::PersistorStatus* resp) {
  auto p = v1::Persistor::NewStub(MakeChannel(t.persistor, vitrage::ServerRole::kPersistor));
  grpc::ClientContext ctx;
  t.Deadline(&ctx);
  return p->GetStatus(&ctx, v1::PersistorStatusRequest(), resp);
}

int PersistorStatus(const Targets& t) {
  v1::PersistorStatus resp;
  grpc::Status st = GetPersistorStatus(t, &resp);
  if (!st.ok()) return Fail(st, t, Service::kPersistor);
  PrintJson(resp);
  return 0;
}

// "+3v ~1v -0v +2e ~0e -0e": vertices/edges added, updated, removed.
std::string ChangeCounts(const v1::GraphDelta& delta) {
  int counts[2][4] = {};  // [vertex, edge][ChangeKind]
  auto count = [&](int what, v1::ChangeKind kind) {
    if (kind >= 0 && kind < 4) ++counts[what][kind];
  };
  for (const auto& c : delta.changes()) {
    if (c.has_vertex()) count(0, c.vertex().kind());
    if (c.has_edge()) count(1, c.edge().kind());
  }
  return absl::StrCat("+", counts[0][v1::ADDED], "v ~", counts[0][v1::UPDATED], "v -",
                      counts[0][v1::REMOVED], "v +", counts[1][v1::ADDED], "e ~",
                      counts[1][v1::UPDATED], "e -", counts[1][v1::REMOVED], "e");
}

// Prints journal records after `after` (default: the last `limit` durable
// ones), at most `limit`.
int Log(const Targets& t, int64_t after, uint64_t limit, bool json) {
  const bool asked_after = after >= 0;
  if (after < 0) {
    v1::PersistorStatus status;
    grpc::Status st = GetPersistorStatus(t, &status);
    if (!st.ok()) return Fail(st, t, Service::kPersistor);
    uint64_t durable = status.durable_seq();
    uint64_t first = status.first_seq() > 0 ? status.first_seq() - 1 : 0;
    after = static_cast<int64_t>(std::max(durable > limit ? durable - limit : 0, first));
  }
  auto p =
      v1::Persistor::NewStub(MakeChannel(t.persistor, vitrage::ServerRole::kPersistor, 64 << 20));
  grpc::ClientContext ctx;
  t.Deadline(&ctx);
  v1::ReadLogRequest req;
  req.set_after_seq(static_cast<uint64_t>(after));
  auto reader = p->ReadLog(&ctx, req);
  std::vector<std::vector<std::string>> rows = {
      {"SEQ", "EPOCH", "SOURCE", "SOURCE_SEQ", "TIME (UTC)", "EVENT", "CHANGES"}};
  uint64_t printed = 0;
  v1::ReadLogResponse resp;
  while (printed < limit && reader->Read(&resp)) {
    for (const auto& r : resp.records()) {
      if (printed == limit) break;
      ++printed;
      if (json) {
        std::string out;
        (void)google::protobuf::util::MessageToJsonString(r, &out);
        std::cout << out << "\n";
        continue;
      }
      absl::Time when = absl::FromUnixMicros(r.time_unix_micros());
      rows.push_back({absl::StrCat(r.seq()), absl::StrCat(r.epoch()),
                      r.source().empty() ? "-" : r.source(), absl::StrCat(r.source_seq()),
                      absl::FormatTime("%Y-%m-%d %H:%M:%E3S", when, absl::UTCTimeZone()),
                      r.event_kind().empty() ? "-" : r.event_kind(),
                      (r.reset() ? "reset " : "") + ChangeCounts(r.delta())});
    }
  }
  if (printed == limit) ctx.TryCancel();
  grpc::Status st = reader->Finish();
  if (!st.ok() && !(printed == limit && st.error_code() == grpc::StatusCode::CANCELLED)) {
    return Fail(st, t, Service::kPersistor);
  }
  if (printed == 0 && asked_after) {
    v1::PersistorStatus status;
    std::string durable;
    if (GetPersistorStatus(t, &status).ok()) {
      durable = absl::StrCat(" (the durable seq is ", status.durable_seq(), ")");
    }
    return Nothing(absl::StrCat("nothing matched: no journal record after seq ", after, durable));
  }
  if (!json) PrintTable(rows);
  return 0;
}

// ---- any service ----------------------------------------------------------

// Whether `addr` serves `service`: a call of its GetStatus answered with
// anything but UNIMPLEMENTED. (Every server of ours has the health service,
// so a health check alone cannot tell a wrong port.)
grpc::Status CheckServes(const Targets& t, Service service) {
  grpc::ClientContext ctx;
  t.Deadline(&ctx);
  grpc::Status st;
  switch (service) {
    case Service::kGraph: {
      v1::GraphStatus resp;
      st = GraphStub(t)->GetStatus(&ctx, v1::GraphStatusRequest(), &resp);
      break;
    }
    case Service::kPersistor: {
      auto p = v1::Persistor::NewStub(MakeChannel(t.persistor, vitrage::ServerRole::kPersistor));
      v1::PersistorStatus resp;
      st = p->GetStatus(&ctx, v1::PersistorStatusRequest(), &resp);
      break;
    }
    case Service::kCollector: {
      auto c = v1::Collector::NewStub(MakeChannel(t.collector, vitrage::ServerRole::kCollector));
      v1::CollectorStatus resp;
      st = c->GetStatus(&ctx, v1::CollectorStatusRequest(), &resp);
      break;
    }
    default:
      break;
  }
  return st;
}

int Health(Targets t, const std::string& which) {
  Service service = which == "persistor"   ? Service::kPersistor
                    : which == "collector" ? Service::kCollector
                    : which == "graph"     ? Service::kGraph
                                           : Service::kHealth;
  vitrage::ServerRole role = service == Service::kPersistor   ? vitrage::ServerRole::kPersistor
                             : service == Service::kCollector ? vitrage::ServerRole::kCollector
                                                              : vitrage::ServerRole::kGraph;
  if (service == Service::kHealth) {
    // A bare address names no role, and with TLS the client must know
    // which server it expects (docs/security.md).
    if (vitrage::TlsEnabled()) {
      std::cerr << "vitrage-ctl: health " << which
                << ": with TLS name the service: --graph|--persistor|--collector " << which
                << " health graph|persistor|collector\n";
      return kUsage;
    }
    if (absl::Status s = vitrage::ValidateAddress(which, "health"); !s.ok()) {
      std::vector<std::string> close = Closest(which, {"graph", "persistor", "collector"});
      std::cerr << "vitrage-ctl: " << s.message() << "; "
                << (close.empty() ? std::string("name a service (graph, persistor, collector)")
                                  : absl::StrCat("did you mean ", Quoted(close, 1), "?"))
                << " or give HOST:PORT\n";
      return kUsage;
    }
    t.health = which;
  }
  const std::string& addr = t.Address(service);
  auto h = grpc::health::v1::Health::NewStub(MakeChannel(addr, role));
  grpc::ClientContext ctx;
  t.Deadline(&ctx);
  grpc::health::v1::HealthCheckRequest req;
  grpc::health::v1::HealthCheckResponse resp;
  grpc::Status st = h->Check(&ctx, req, &resp);
  if (!st.ok()) return Fail(st, t, service);
  if (service != Service::kHealth) {
    grpc::Status serves = CheckServes(t, service);
    if (serves.error_code() == grpc::StatusCode::UNIMPLEMENTED) return Fail(serves, t, service);
  }
  std::cout << grpc::health::v1::HealthCheckResponse::ServingStatus_Name(resp.status()) << "\n";
  return resp.status() == grpc::health::v1::HealthCheckResponse::SERVING ? 0 : kFailed;
}

// ---- command line ---------------------------------------------------------

// An address from the command line or the config file, made dialable: a
// wildcard listen address (0.0.0.0, [::]) is dialled on loopback, a host
// without a port gets the service's default port.
absl::StatusOr<std::string> Dialable(std::string addr, const std::string& default_port,
                                     const std::string& what) {
  if (addr.find(':') == std::string::npos || (addr.front() == '[' && addr.back() == ']')) {
    addr = absl::StrCat(addr, ":", default_port);
  }
  if (absl::StartsWith(addr, "0.0.0.0:")) addr = absl::StrCat("127.0.0.1", addr.substr(7));
  if (absl::StartsWith(addr, "[::]:")) addr = absl::StrCat("[::1]", addr.substr(4));
  if (absl::Status s = vitrage::ValidateAddress(addr, what); !s.ok()) {
    return s;
  }
  return addr;
}

// The first word that is not an option (or an option's value): the command.
// "" when there is none. Options that take a value are the global ones.
std::string CommandWord(int argc, char** argv) {
  static const std::set<std::string> with_value = {
      "--graph", "--collector", "--persistor", "--timeout", "--config", "--cert", "--key", "--ca"};
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") return i + 1 < argc ? argv[i + 1] : "";
    if (!a.empty() && a[0] == '-') {
      if (with_value.count(a)) ++i;
      continue;
    }
    return a;
  }
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "vitrage-ctl: status, topology, export, snapshots and the journal over "
      "gRPC"};
  app.set_version_flag("--version", vitrage::VersionLine("vitrage-ctl"));
  Targets t;
  // Given twice, the last one counts (scripts prepend defaults).
  const auto last = CLI::MultiOptionPolicy::TakeLast;
  auto* graph_opt = app.add_option("--graph", t.graph,
                                   "vitrage-graph HOST[:PORT] (else the config's [graph] "
                                   "listen_address)")
                        ->capture_default_str()
                        ->multi_option_policy(last);
  auto* collector_opt = app.add_option("--collector", t.collector,
                                       "vitrage-collector HOST[:PORT] (else the config's "
                                       "[collector] listen_address)")
                            ->capture_default_str()
                            ->multi_option_policy(last);
  auto* persistor_opt = app.add_option("--persistor", t.persistor,
                                       "vitrage-persistor HOST[:PORT] (else the config's "
                                       "[persistor] listen_address)")
                            ->capture_default_str()
                            ->multi_option_policy(last);
  app.add_option("--timeout", t.timeout_seconds, "deadline of each call, seconds (0: none)")
      ->capture_default_str()
      ->multi_option_policy(last);
  std::string config_path;
  vitrage::Config::Ssl ssl;
  app.add_option("--config", config_path,
                 "vitrage.conf: the services' addresses and the [ssl] section "
                 "(default: $VITRAGE_CONFIG)")
      ->multi_option_policy(last);
  app.add_option("--cert", ssl.cert_file, "client certificate (PEM), [ssl] cert_file")
      ->multi_option_policy(last);
  app.add_option("--key", ssl.key_file, "its private key (PEM), [ssl] key_file")
      ->multi_option_policy(last);
  app.add_option("--ca", ssl.ca_file, "CA certificate(s) (PEM), [ssl] ca_file")
      ->multi_option_policy(last);
  app.require_subcommand(1);

  bool digest = false, json = false;
  auto* status = app.add_subcommand("status", "graph status as JSON (role, phase, seqs, timings)");
  status->add_flag("--digest", digest, "also compute the content digest");

  v1::GetTopologyRequest topo_req;
  std::vector<std::string> types;
  std::string root;
  uint32_t depth = 0;
  bool include_deleted = false;
  auto* topology = app.add_subcommand("topology", "vertices and edges (table, or --json)");
  topology->add_flag("--json", json, "node-link JSON like `vitrage topology show`");
  topology->add_option("--type", types, "only these vitrage_types (repeatable)");
  topology->add_option("--root", root,
                       "only the subgraph around this vertex (vitrage_id, entity id or name)");
  auto* depth_opt = topology->add_option("--depth", depth, "hops from --root (0: unlimited)");
  topology->add_flag("--include-deleted", include_deleted, "also entities marked deleted");

  std::string export_path;
  auto* exp = app.add_subcommand("export", "the graph as workload JSONL");
  exp->add_option("file", export_path, "output file (default stdout)");
  auto* dig = app.add_subcommand("digest", "content digest of the graph");
  auto* snap = app.add_subcommand("take-snapshot", "take a snapshot now and wait until stored");
  auto* promote =
      app.add_subcommand("promote", "make a hot standby graph ACTIVE (fences the old active)");
  std::string vertex_id, vertex_type;
  auto* vertex = app.add_subcommand("vertex", "one vertex and its edges");
  vertex->add_option("id", vertex_id, "vitrage_id, entity id (`id`) or name")->required();
  vertex->add_option("--type", vertex_type, "the vertex's vitrage_type (when ID is ambiguous)");

  auto* cstatus = app.add_subcommand("collector-status", "collector outbox counters");
  cstatus->add_flag("--digest", digest, "also compute the model digest");
  auto* pstatus = app.add_subcommand("persistor-status", "persistor epoch, seqs, snapshots");

  int64_t after = -1;
  uint64_t limit = 20;
  auto* log =
      app.add_subcommand("log", "journal records from the persistor (default: the last 20)");
  log->add_option("--after", after, "records with seq > SEQ (default: the tail)");
  log->add_option("--limit", limit, "at most N records")->capture_default_str();
  log->add_flag("--json", json, "one JSON record per line, delta included");

  v1::ListAlarmsRequest alarms_req;
  std::string alarm_type;
  bool alarms_deleted = false;
  auto* alarms = app.add_subcommand("alarms", "alarms, deduced ones included (table, or --json)");
  alarms->add_option("--type", alarm_type, "only this vitrage_type (vitrage: deduced)");
  alarms->add_flag("--include-deleted", alarms_deleted, "also alarms marked deleted");
  alarms->add_flag("--json", json, "JSON");
  std::string rca_id;
  auto* rca = app.add_subcommand("rca", "root-cause analysis: the causal subgraph of an alarm");
  rca->add_option("alarm", rca_id, "the alarm's vitrage_id or name")->required();
  rca->add_flag("--json", json, "JSON");

  std::string which = "graph";
  auto* health = app.add_subcommand("health", "grpc.health.v1 Check; exit 0 only when SERVING");
  health->add_option("service", which, "graph, persistor, collector or HOST:PORT")
      ->capture_default_str();
  vitrage::ctl::ProcessEventsCommand process_events(&app);

  // An unknown command: suggest the closest, instead of CLI11's "A
  // subcommand is required".
  std::set<std::string> commands;
  for (const CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
    commands.insert(sub->get_name());
  }
  bool asks_help = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    asks_help = asks_help || a == "--help" || a == "-h" || a == "--version";
  }
  std::string command = CommandWord(argc, argv);
  if (!asks_help && !commands.count(command)) {
    std::vector<std::string> all(commands.begin(), commands.end());
    if (command.empty()) {
      std::cerr << "vitrage-ctl: give a command: " << absl::StrJoin(all, ", ")
                << " (vitrage-ctl --help)\n";
    } else {
      std::vector<std::string> close = Closest(command, commands);
      std::cerr << "vitrage-ctl: unknown command \"" << command << "\"";
      if (!close.empty()) {
        std::cerr << "; did you mean " << Quoted(close, 3) << "?\n";
      } else {
        std::cerr << "; the commands: " << absl::StrJoin(all, ", ") << "\n";
      }
    }
    return kUsage;
  }
  CLI11_PARSE(app, argc, argv);
  if (process_events.parsed()) return process_events.Run();

  if (config_path.empty()) {
    const char* env = std::getenv("VITRAGE_CONFIG");
    if (env != nullptr) config_path = env;
  }
  FLAGS_minloglevel = google::GLOG_WARNING;  // stdout is for results
  vitrage::Config config;
  if (!config_path.empty()) {
    auto c = vitrage::LoadConfig(config_path);
    if (!c.ok()) {
      std::cerr << "vitrage-ctl: " << c.status().message() << "\n";
      return kUsage;
    }
    config = *c;
    // The services' addresses: where each one listens, unless given.
    auto set = [&](CLI::Option* opt, std::string* target, const char* section,
                   const std::string& value) {
      if (opt->count() == 0 && config.origins.count(absl::StrCat(section, " listen_address"))) {
        *target = value;
      }
    };
    set(graph_opt, &t.graph, "graph", config.graph.listen_address);
    set(collector_opt, &t.collector, "collector", config.collector.listen_address);
    set(persistor_opt, &t.persistor, "persistor", config.persistor.listen_address);
    if (persistor_opt->count() == 0 && !config.origins.count("persistor listen_address") &&
        config.origins.count("persistency persistor_address")) {
      t.persistor = config.persistency.persistor_address;
    }
  }
  for (auto [target, port, what] :
       {std::tuple{&t.graph, "9702", "--graph"}, std::tuple{&t.collector, "9703", "--collector"},
        std::tuple{&t.persistor, "9701", "--persistor"}}) {
    auto addr = Dialable(*target, port, what);
    if (!addr.ok()) {
      std::cerr << "vitrage-ctl: " << addr.status().message() << "\n";
      return kUsage;
    }
    *target = *addr;
  }
  if (!config_path.empty() || !ssl.cert_file.empty() || !ssl.key_file.empty() ||
      !ssl.ca_file.empty()) {
    if (config_path.empty()) config.path = "(--cert/--key/--ca)";
    if (!ssl.cert_file.empty() || !ssl.key_file.empty() || !ssl.ca_file.empty()) {
      config.ssl.cert_file = ssl.cert_file;
      config.ssl.key_file = ssl.key_file;
      config.ssl.ca_file = ssl.ca_file;
    }
    // A client has nothing to warn about: plaintext just cannot reach a
    // TLS server.
    bool plaintext = config.ssl.cert_file.empty() && config.ssl.key_file.empty() &&
                     config.ssl.ca_file.empty() && config.ssl.allow_plaintext;
    if (absl::Status s =
            plaintext ? absl::OkStatus() : vitrage::ConfigureTls(config, "vitrage-ctl");
        !s.ok()) {
      std::cerr << "vitrage-ctl: " << s.message() << "\n";
      return kUsage;
    }
  }

  if (status->parsed()) return Status(t, digest);
  if (topology->parsed()) {
    if (depth_opt->count() > 0 && root.empty()) {
      std::cerr << "vitrage-ctl: topology: --depth counts hops from --root; give --root ID "
                   "(a vitrage_id, entity id or name) or leave --depth out\n";
      return kUsage;
    }
    for (const auto& ty : types) topo_req.add_vitrage_types(ty);
    topo_req.set_root_id(root);
    topo_req.set_depth(depth);
    topo_req.set_include_deleted(include_deleted);
    return Topology(t, topo_req, json);
  }
  if (exp->parsed()) return ExportOrDigest(t, false, export_path);
  if (dig->parsed()) return ExportOrDigest(t, true, "");
  if (snap->parsed()) return TakeSnapshot(t);
  if (promote->parsed()) return Promote(t);
  if (vertex->parsed()) return Vertex(t, vertex_id, vertex_type);
  if (cstatus->parsed()) return CollectorStatus(t, digest);
  if (pstatus->parsed()) return PersistorStatus(t);
  if (log->parsed()) return Log(t, after, limit, json);
  if (health->parsed()) return Health(t, which);
  if (alarms->parsed()) {
    alarms_req.set_vitrage_type(alarm_type);
    alarms_req.set_include_deleted(alarms_deleted);
    return Alarms(t, alarms_req, json);
  }
  if (rca->parsed()) return Rca(t, rca_id, json);
  return kUsage;
}
