#include "graph_service/rpc_api/handlers.h"

#include <algorithm>
#include <deque>
#include <optional>
#include <tuple>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/civil_time.h"
#include "common/status_macros.h"
#include "graph_service/graph/json_value.h"
#include "graph_service/rpc_api/pickle.h"
#include "graph_service/rpc_api/query.h"

namespace vitrage::rpc_api {
namespace {

using graph::Graph;
using graph::Properties;
using graph::Slot;
using graph::Truthy;
using graph::Value;
using json = nlohmann::json;

const graph::KeyId kProjectId = graph::InternKey("project_id");
const graph::KeyId kUpdateTs = graph::InternKey("update_timestamp");
constexpr char kCluster[] = "openstack.cluster";

// ------------------------------------------------------------- arguments

// Python truthiness of a JSON value.
bool Truthy(const json& j) {
  switch (j.type()) {
    case json::value_t::null:
      return false;
    case json::value_t::boolean:
      return j.get<bool>();
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return j.get<int64_t>() != 0;
    case json::value_t::number_float:
      return j.get<double>() != 0;
    case json::value_t::string:
    case json::value_t::array:
    case json::value_t::object:
      return !j.empty();
    default:
      return false;
  }
}

// Argument `name` (null when absent).
const json& Arg(const json& args, const char* name) {
  static const json kNull;
  auto it = args.find(name);
  return it == args.end() ? kNull : *it;
}

absl::Status BadArg(absl::string_view method, absl::string_view name, absl::string_view want) {
  return absl::InvalidArgumentError(absl::StrCat(method, ": argument '", name, "' must be ", want));
}

// A string argument or None.
absl::StatusOr<std::optional<std::string>> OptString(absl::string_view method, const json& args,
                                                     const char* name) {
  const json& j = Arg(args, name);
  if (j.is_null()) return std::optional<std::string>();
  if (!j.is_string()) return BadArg(method, name, "a string or null");
  return std::optional<std::string>(j.get<std::string>());
}

absl::Status RequireArgs(absl::string_view method, const json& args,
                         std::initializer_list<const char*> required,
                         std::initializer_list<const char*> optional, bool any_extra = false) {
  for (const char* r : required) {
    if (!args.contains(r)) {
      return absl::InvalidArgumentError(
          absl::StrCat(method, "() missing required argument: '", r, "'"));
    }
  }
  if (any_extra) return absl::OkStatus();
  for (auto it = args.begin(); it != args.end(); ++it) {
    bool known = false;
    for (const char* r : required) known = known || it.key() == r;
    for (const char* o : optional) known = known || it.key() == o;
    if (!known) {
      return absl::InvalidArgumentError(
          absl::StrCat(method, "() got an unexpected keyword argument '", it.key(), "'"));
    }
  }
  return absl::OkStatus();
}

// Context members, as ctx.get(name, default).
json Ctx(const json& ctx, const char* name, json dflt) {
  auto it = ctx.find(name);
  return it == ctx.end() ? dflt : *it;
}

// ------------------------------------------------------------- queries

json Eq(const char* key, json v) { return json{{"==", json{{key, std::move(v)}}}}; }

// base._add_project_to_query
json AddProject(json query, const json& project_id, bool is_admin) {
  json pq =
      is_admin
          ? json{{"or", json::array({Eq("project_id", project_id), Eq("project_id", nullptr)})}}
          : Eq("project_id", project_id);
  if (query.is_object() && query.contains("and") && query["and"].is_array()) {
    query["and"].push_back(std::move(pq));
    return query;
  }
  return json{{"and", json::array({std::move(pq), std::move(query)})}};
}

// base._get_query_with_project
json QueryWithProject(const char* category, const json& project_id, bool is_admin) {
  json q = {
      {"and", json::array({Eq("vitrage_is_deleted", false), Eq("vitrage_is_placeholder", false),
                           Eq("vitrage_category", category)})}};
  return AddProject(std::move(q), project_id, is_admin);
}

json TopologyAndAlarmsQuery() {
  return {{"and", json::array({Eq("vitrage_is_deleted", false), Eq("vitrage_is_placeholder", false),
                               json{{"or", json::array({Eq("vitrage_category", "ALARM"),
                                                        Eq("vitrage_category", "RESOURCE")})}}})}};
}

json ResourcesAllQuery() {
  return {{"and", json::array({Eq("vitrage_category", "RESOURCE"), Eq("vitrage_is_deleted", false),
                               Eq("vitrage_is_placeholder", false)})}};
}

// Starts loading the members of vertex slot `v` (when in range): the
// members of the vertex kPrefetchAhead slots on are a cache (and TLB) miss
// started while this one is tested.
constexpr Slot kPrefetchAhead = 24;
inline void PrefetchMembers(const Graph& g, Slot v) {
  if (v >= g.vertex_slot_bound()) return;
  absl::Span<const graph::MapEntry> items = g.VertexProps(v).items();
  const char* p = reinterpret_cast<const char*>(items.data());
  const size_t bytes = std::min<size_t>(items.size() * sizeof(graph::MapEntry), 512);
  for (size_t off = 0; off < bytes; off += 64) __builtin_prefetch(p + off);
}

// Vertices matching `q`, in slot order.
absl::StatusOr<std::vector<Slot>> Select(const Graph& g, const json& q) {
  ASSIGN_OR_RETURN(Query compiled, Query::Compile(q));
  std::vector<Slot> out;
  std::string error;
  g.ForEachVertex([&](Slot v) {
    PrefetchMembers(g, v + kPrefetchAhead);
    if (error.empty() && compiled.Matches(g.VertexProps(v), &error)) out.push_back(v);
  });
  if (!error.empty()) return absl::InvalidArgumentError(error);
  return out;
}

bool EdgeNotDeleted(const Graph& g, Slot e) {
  return PyEquals(g.EdgeProps(e).Find(graph::keys::kVitrageIsDeleted), json(false));
}

// ------------------------------------------------------------- output

// A node-link graph (NXGraph.json_output_graph): nodes in order, edges
// whose both ends are among them.
struct NodeLink {
  std::vector<Slot> nodes;
  std::vector<Slot> edges;
};

// Writes json_output_graph(raw=True) of `nl` as a pickled dict.
void PickleNodeLink(const Graph& g, const NodeLink& nl, PickleWriter* w) {
  // Position of each node by slot (-1: not a node).
  std::vector<int32_t> index(g.vertex_slot_bound(), -1);
  for (size_t i = 0; i < nl.nodes.size(); ++i) index[nl.nodes[i]] = static_cast<int32_t>(i);
  const graph::KeyId kIdKey = graph::keys::kId;
  // About 400 bytes a node and 100 an edge with the memo.
  w->Reserve(nl.nodes.size() * 400 + nl.edges.size() * 100 + 256);
  NameOrder order;
  w->BeginDict();
  w->Name("directed");
  w->Bool(true);
  w->Name("multigraph");
  w->Bool(true);
  w->Name("graph");
  w->BeginDict();
  w->EndDict();
  w->Name("nodes");
  w->BeginList();
  for (size_t i = 0; i < nl.nodes.size(); ++i) {
    const Properties& p = g.VertexProps(nl.nodes[i]);
    w->BeginDict();
    const Value* id = nullptr;
    for (const graph::MapEntry* e : order.Of(p.items())) {
      if (e->first == kIdKey) {
        id = &e->second;
        continue;
      }
      w->Member(e->first, e->second);
    }
    w->Key(kIdKey);
    if (id != nullptr) {
      w->Value(*id);
      w->Name("graph_index");
      w->Int(static_cast<int64_t>(i));
    } else {
      w->Str(g.VertexId(nl.nodes[i]));
    }
    w->EndDict();
  }
  w->EndList();
  w->Name("links");
  w->BeginList();
  // Edge properties named as the members written after them are left out
  // (a name never interned is no edge's property).
  auto key_of = [](absl::string_view name) {
    return graph::KeyIsInterned(name) ? graph::InternKey(name) : graph::kKeyTableCapacity;
  };
  const graph::KeyId kSource = key_of("source"), kTarget = key_of("target"), kKey = key_of("key");
  for (Slot e : nl.edges) {
    w->BeginDict();
    for (const graph::MapEntry* m : order.Of(g.EdgeProps(e).items())) {
      if (m->first == kSource || m->first == kTarget || m->first == kKey) continue;
      w->Member(m->first, m->second);
    }
    w->Name("source");
    w->Int(index[g.EdgeSource(e)]);
    w->Name("target");
    w->Int(index[g.EdgeTarget(e)]);
    w->Name("key");
    w->Key(g.EdgeLabelId(e));
    w->EndDict();
  }
  w->EndList();
  w->Name("raw");
  w->Bool(true);
  w->EndDict();
}

// nx subgraph(vertices): the edges among them, in node order.
void InducedEdges(const Graph& g, NodeLink* nl) {
  std::vector<char> in(g.vertex_slot_bound(), 0);
  for (Slot v : nl->nodes) in[v] = 1;
  for (Slot v : nl->nodes) {
    for (Slot e : g.OutEdges(v)) {
      if (in[g.EdgeTarget(e)]) nl->edges.push_back(e);
    }
  }
}

// ------------------------------------------------------------- topology

// algo.graph_query_vertices(root, query, depth, edge_query=not deleted)
absl::StatusOr<NodeLink> GraphQueryVertices(const Graph& g, Slot root, const Query& match,
                                            int64_t depth) {
  NodeLink nl;
  std::string error;
  if (!match.Matches(g.VertexProps(root), &error)) {
    if (!error.empty()) return absl::InvalidArgumentError(error);
    return nl;
  }
  absl::flat_hash_set<Slot> node_seen{root};
  absl::flat_hash_set<Slot> edge_seen;
  nl.nodes.push_back(root);
  absl::flat_hash_set<Slot> visited;
  std::deque<std::pair<Slot, int64_t>> q{{root, 0}};
  while (!q.empty()) {
    auto [v, d] = q.front();
    q.pop_front();
    if (visited.contains(v) || (depth != 0 && d >= depth)) continue;
    visited.insert(v);
    auto visit = [&](Slot e, Slot w) {
      if (!EdgeNotDeleted(g, e)) return;
      if (!match.Matches(g.VertexProps(w), &error)) return;
      if (node_seen.insert(w).second) nl.nodes.push_back(w);
      if (edge_seen.insert(e).second) nl.edges.push_back(e);
      q.emplace_back(w, d + 1);
    };
    for (Slot e : g.InEdges(v)) visit(e, g.EdgeSource(e));
    for (Slot e : g.OutEdges(v)) visit(e, g.EdgeTarget(e));
    if (!error.empty()) return absl::InvalidArgumentError(error);
  }
  return nl;
}

// Nodes on a BFS shortest path (over out-edges, deleted ones too, as
// networkx's shortest_path on the whole graph) from `root` to each target.
void AddPathsFrom(const Graph& g, Slot root, std::vector<char>* keep) {
  std::vector<Slot> parent(g.vertex_slot_bound(), graph::kNoSlot);
  std::vector<char> seen(g.vertex_slot_bound(), 0);
  std::vector<Slot> order{root};
  seen[root] = 1;
  for (size_t i = 0; i < order.size(); ++i) {
    Slot v = order[i];
    for (Slot e : g.OutEdges(v)) {
      Slot w = g.EdgeTarget(e);
      if (seen[w]) continue;
      seen[w] = 1;
      parent[w] = v;
      order.push_back(w);
    }
  }
  // Targets marked in `keep`: mark their ancestors, deepest first.
  for (size_t i = order.size(); i-- > 0;) {
    Slot v = order[i];
    if ((*keep)[v] && parent[v] != graph::kNoSlot) (*keep)[parent[v]] = 1;
  }
}

// shortest_path(G, source=None): every target brings all it reaches.
void AddReachable(const Graph& g, std::vector<char>* keep) {
  std::vector<Slot> todo;
  for (Slot v = 0; v < keep->size(); ++v) {
    if ((*keep)[v]) todo.push_back(v);
  }
  while (!todo.empty()) {
    Slot v = todo.back();
    todo.pop_back();
    for (Slot e : g.OutEdges(v)) {
      Slot w = g.EdgeTarget(e);
      if (!(*keep)[w]) {
        (*keep)[w] = 1;
        todo.push_back(w);
      }
    }
  }
}

absl::StatusOr<Answer> GetTopology(const Graph& g, const json& args, const json& ctx) {
  RETURN_IF_ERROR(RequireArgs("get_topology", args,
                              {"graph_type", "depth", "query", "root", "all_tenants"}, {}));
  const json& gt = Arg(args, "graph_type");
  if (!gt.is_string()) return BadArg("get_topology", "graph_type", "a string");
  const std::string graph_type = gt.get<std::string>();
  const json& depth_arg = Arg(args, "depth");
  if (!depth_arg.is_null() && !depth_arg.is_number_integer()) {
    return BadArg("get_topology", "depth", "an integer or null");
  }
  const int64_t depth = depth_arg.is_null() ? 0 : depth_arg.get<int64_t>();
  const json& query = Arg(args, "query");
  ASSIGN_OR_RETURN(std::optional<std::string> root, OptString("get_topology", args, "root"));
  const bool all_tenants = Truthy(Arg(args, "all_tenants"));
  const json project_id = Ctx(ctx, "project_id", nullptr);
  const bool is_admin = Truthy(Ctx(ctx, "is_admin", false));

  // _default_root_id: the one openstack.cluster vertex.
  Slot root_slot = graph::kNoSlot;
  if (root) {
    root_slot = g.FindVertex(*root);
  } else {
    int found = 0;
    g.ForEachVertex([&](Slot v) {
      if (g.VertexProps(v).GetString(graph::keys::kVitrageType) == kCluster) {
        root_slot = v;
        ++found;
      }
    });
    if (found > 1) return absl::FailedPreconditionError("Multiple root vertices found");
  }

  NodeLink nl;
  if (graph_type == "tree" || (root && !depth_arg.is_null())) {
    if (!Truthy(query)) {
      return absl::InvalidArgumentError("Graph-type 'tree' requires a filter.");
    }
    json current = query;
    if (!all_tenants) {
      current = json{
          {"and", json::array({query, json{{"or", json::array({Eq("project_id", project_id),
                                                               Eq("project_id", nullptr)})}}})}};
    }
    ASSIGN_OR_RETURN(Query match, Query::Compile(current));
    if (root_slot == graph::kNoSlot) {
      return absl::NotFoundError(
          absl::StrCat("get_topology: no root vertex ",
                       root ? absl::StrCat("\"", *root, "\"") : "(no cluster)"));
    }
    ASSIGN_OR_RETURN(nl, GraphQueryVertices(g, root_slot, match, depth));
  } else if (all_tenants) {
    ASSIGN_OR_RETURN(nl.nodes, Select(g, Truthy(query) ? query : TopologyAndAlarmsQuery()));
    InducedEdges(g, &nl);
    nl.edges.erase(std::remove_if(nl.edges.begin(), nl.edges.end(),
                                  [&](Slot e) { return !EdgeNotDeleted(g, e); }),
                   nl.edges.end());
  } else {
    json q = Truthy(query)
                 ? AddProject(query, project_id, is_admin)
                 : json{{"or", json::array({QueryWithProject("RESOURCE", project_id, is_admin),
                                            QueryWithProject("ALARM", project_id, true)})}};
    ASSIGN_OR_RETURN(std::vector<Slot> targets, Select(g, q));
    std::vector<char> keep(g.vertex_slot_bound(), 0);
    for (Slot v : targets) keep[v] = 1;
    if (root_slot != graph::kNoSlot) {
      AddPathsFrom(g, root_slot, &keep);
    } else if (root) {
      return absl::NotFoundError(
          absl::StrCat("get_topology: source node \"", *root, "\" is not in the graph"));
    } else {
      AddReachable(g, &keep);
    }
    // _remove_alarms_of_other_projects
    for (Slot v = 0; v < keep.size(); ++v) {
      if (!keep[v]) continue;
      const Properties& p = g.VertexProps(v);
      if (p.GetString(graph::keys::kVitrageCategory) != "ALARM" ||
          !PyEquals(p.Find(graph::keys::kVitrageIsDeleted), json(false)) ||
          Truthy(p.Find(kProjectId))) {
        continue;
      }
      Slot resource = graph::kNoSlot;
      auto consider = [&](Slot w) {
        if (resource == graph::kNoSlot &&
            g.VertexProps(w).GetString(graph::keys::kVitrageCategory) == "RESOURCE") {
          resource = w;
        }
      };
      for (Slot e : g.InEdges(v)) consider(g.EdgeSource(e));
      for (Slot e : g.OutEdges(v)) consider(g.EdgeTarget(e));
      if (resource == graph::kNoSlot) continue;
      const Value* rp = g.VertexProps(resource).Find(kProjectId);
      const bool same = PyEquals(rp, project_id);
      if ((is_admin && Truthy(rp) && !same) || (!is_admin && (!Truthy(rp) || !same))) keep[v] = 0;
    }
    g.ForEachVertex([&](Slot v) {
      if (keep[v]) nl.nodes.push_back(v);
    });
    InducedEdges(g, &nl);
    nl.edges.erase(std::remove_if(nl.edges.begin(), nl.edges.end(),
                                  [&](Slot e) { return !EdgeNotDeleted(g, e); }),
                   nl.edges.end());
  }
  PickleWriter w;
  PickleNodeLink(g, nl, &w);
  return Answer::Compressed(w.Finish());
}

// ------------------------------------------------------------- resources

absl::StatusOr<json> ResourceQuery(absl::string_view method, const json& args, const json& ctx) {
  ASSIGN_OR_RETURN(std::optional<std::string> type, OptString(method, args, "resource_type"));
  json q = Truthy(Arg(args, "all_tenants"))
               ? ResourcesAllQuery()
               : QueryWithProject("RESOURCE", Ctx(ctx, "project_id", nullptr),
                                  Truthy(Ctx(ctx, "is_admin", false)));
  if (type && !type->empty()) q["and"].push_back(Eq("vitrage_type", *type));
  const json& query = Arg(args, "query");
  if (Truthy(query)) q["and"].push_back(query);
  return q;
}

absl::StatusOr<Answer> GetResources(const Graph& g, const json& args, const json& ctx) {
  RETURN_IF_ERROR(
      RequireArgs("get_resources", args, {}, {"resource_type", "all_tenants", "query"}));
  ASSIGN_OR_RETURN(json q, ResourceQuery("get_resources", args, ctx));
  ASSIGN_OR_RETURN(std::vector<Slot> vs, Select(g, q));
  PickleWriter w;
  w.Reserve(vs.size() * 400 + 256);
  NameOrder order;
  w.BeginDict();
  w.Name("resources");
  w.BeginList();
  for (Slot v : vs) {
    w.BeginDict();
    for (const graph::MapEntry* e : order.Of(g.VertexProps(v).items())) {
      w.Member(e->first, e->second);
    }
    w.EndDict();
  }
  w.EndList();
  w.EndDict();
  return Answer::Compressed(w.Finish());
}

// str() of a dict key as json.dumps writes it.
absl::StatusOr<std::string> JsonKey(const Value* v) {
  if (v == nullptr || v->is_null()) return std::string("null");
  switch (v->kind()) {
    case Value::Kind::kString:
      return std::string(v->string_value());
    case Value::Kind::kBool:
      return std::string(v->bool_value() ? "true" : "false");
    case Value::Kind::kInt:
      return absl::StrCat(v->int_value());
    case Value::Kind::kDouble: {
      std::string s;
      graph::AppendPythonFloat(v->double_value(), &s);
      return s;
    }
    default:
      return absl::InvalidArgumentError("count_resources: unhashable type in group_by property");
  }
}

absl::StatusOr<Answer> CountResources(const Graph& g, const json& args, const json& ctx) {
  RETURN_IF_ERROR(RequireArgs("count_resources", args, {},
                              {"resource_type", "all_tenants", "query", "group_by"}));
  ASSIGN_OR_RETURN(json q, ResourceQuery("count_resources", args, ctx));
  const json& gb = Arg(args, "group_by");
  if (!gb.is_null() && !gb.is_string()) return BadArg("count_resources", "group_by", "a string");
  const std::string group_by = gb.is_null() ? "vitrage_type" : gb.get<std::string>();
  const graph::KeyId key =
      graph::KeyIsInterned(group_by) ? graph::InternKey(group_by) : graph::kKeyTableCapacity;
  ASSIGN_OR_RETURN(std::vector<Slot> vs, Select(g, q));
  // Counted by the key's text (a string value is its own text: no copy).
  absl::flat_hash_map<std::string, int64_t> by_key;
  for (Slot v : vs) {
    const Value* val = g.VertexProps(v).Find(key);
    if (val == nullptr) {
      ++by_key[""];  // node_data.get(group_by, '')
    } else if (val->is_string()) {
      absl::string_view k = val->string_value();
      auto it = by_key.find(k);
      if (it != by_key.end()) {
        ++it->second;
      } else {
        by_key.emplace(std::string(k), 1);
      }
    } else {
      ASSIGN_OR_RETURN(std::string k, JsonKey(val));
      ++by_key[k];
    }
  }
  json counts = json::object();
  for (const auto& [k, n] : by_key) counts[k] = n;
  return json(counts.dump());
}

std::string PropsJson(const Properties& p) {
  std::string s;
  graph::AppendPythonJson(p, &s);
  return s;
}

absl::StatusOr<Answer> ShowVertex(const Graph& g, absl::string_view method, const char* category,
                                  const json& args, const json& ctx) {
  RETURN_IF_ERROR(RequireArgs(method, args, {"vitrage_id"}, {}));
  ASSIGN_OR_RETURN(std::optional<std::string> id, OptString(method, args, "vitrage_id"));
  if (!id) return json(nullptr);
  Slot v = g.FindVertex(*id);
  if (v == graph::kNoSlot ||
      g.VertexProps(v).GetString(graph::keys::kVitrageCategory) != category) {
    return json(nullptr);
  }
  const Properties& p = g.VertexProps(v);
  if (!Truthy(Ctx(ctx, "is_admin", false)) &&
      !PyEquals(p.Find(kProjectId), Ctx(ctx, "project_id", nullptr))) {
    return json(nullptr);
  }
  return json(PropsJson(p));
}

// ------------------------------------------------------------- alarms

// One row of upstream's alarms table, made from an active alarm vertex.
struct AlarmRow {
  Slot v;
  std::string start;  // "YYYY-MM-DD HH:MM:SS"
  // Columns by name; null when NULL.
  std::optional<std::string> Column(const Graph& g, absl::string_view name) const {
    if (name == "start_timestamp") return start;
    if (name == "end_timestamp") return std::string("2222-02-22 22:22:22");
    if (name == "payload") return PropsJson(g.VertexProps(v));
    const Value* val = g.VertexProps(v).Find(graph::InternKey(name));
    if (val == nullptr || val->is_null()) return std::nullopt;
    if (val->is_string()) return std::string(val->string_value());
    std::string s;
    graph::AppendPythonJson(*val, &s);
    return s;
  }
};

bool IsAlarmColumn(absl::string_view c) {
  static const char* kCols[] = {"vitrage_id",
                                "start_timestamp",
                                "end_timestamp",
                                "name",
                                "vitrage_type",
                                "vitrage_aggregated_severity",
                                "vitrage_operational_severity",
                                "project_id",
                                "vitrage_resource_type",
                                "vitrage_resource_id",
                                "vitrage_resource_project_id",
                                "payload"};
  for (const char* k : kCols) {
    if (c == k) return true;
  }
  return false;
}

std::vector<AlarmRow> ActiveAlarms(const Graph& g) {
  std::vector<AlarmRow> rows;
  // Alarms share few timestamps (interned values): each is parsed once.
  absl::flat_hash_map<absl::string_view, std::string> normalized;
  auto normalize = [&](absl::string_view ts) -> const std::string& {
    auto it = normalized.find(ts);
    if (it == normalized.end()) it = normalized.emplace(ts, NormalizeTimestamp(ts)).first;
    return it->second;
  };
  g.ForEachVertex([&](Slot v) {
    PrefetchMembers(g, v + kPrefetchAhead);
    const Properties& p = g.VertexProps(v);
    if (p.GetString(graph::keys::kVitrageCategory) != "ALARM") return;
    if (Truthy(p.Find(graph::keys::kVitrageIsDeleted)) ||
        Truthy(p.Find(graph::keys::kVitrageIsPlaceholder))) {
      return;
    }
    std::string start = normalize(p.GetString(kUpdateTs));
    if (start.empty()) start = normalize(p.GetString(graph::keys::kVitrageSampleTimestamp));
    if (start.empty()) start = "1970-01-01 00:00:00";
    rows.push_back({v, std::move(start)});
  });
  return rows;
}

// Column `key` of the alarm's row (not NULL) equals `want`: as
// Column(...) == want, without copying the column.
bool ColumnIs(const Properties& p, graph::KeyId key, const std::string& want) {
  const Value* val = p.Find(key);
  if (val == nullptr || val->is_null()) return false;
  if (val->is_string()) return val->string_value() == want;
  std::string s;
  graph::AppendPythonJson(*val, &s);
  return s == want;
}

bool ColumnNull(const Properties& p, graph::KeyId key) {
  const Value* val = p.Find(key);
  return val == nullptr || val->is_null();
}

// history_facade._add_project_filtering_to_query
bool ProjectAllows(const Graph& g, const AlarmRow& r, const std::string& pid, bool is_admin) {
  static const graph::KeyId kResourceProject = graph::InternKey("vitrage_resource_project_id");
  const Properties& props = g.VertexProps(r.v);
  const bool p_eq = ColumnIs(props, kProjectId, pid);
  const bool rp_eq = ColumnIs(props, kResourceProject, pid);
  if (is_admin) {
    return p_eq || rp_eq ||
           ((p_eq || ColumnNull(props, kProjectId)) &&
            (rp_eq || ColumnNull(props, kResourceProject)));
  }
  return p_eq || rp_eq;
}

// SQL LIKE, case-insensitive for ASCII (MySQL's default collation).
bool Like(absl::string_view s, absl::string_view pat) {
  size_t si = 0, pi = 0, star = std::string::npos, mark = 0;
  while (si < s.size()) {
    if (pi < pat.size() &&
        (pat[pi] == '_' || absl::ascii_tolower(pat[pi]) == absl::ascii_tolower(s[si]))) {
      ++si;
      ++pi;
    } else if (pi < pat.size() && pat[pi] == '%') {
      star = pi++;
      mark = si;
    } else if (star != std::string::npos) {
      pi = star + 1;
      si = ++mark;
    } else {
      return false;
    }
  }
  while (pi < pat.size() && pat[pi] == '%') ++pi;
  return pi == pat.size();
}

// A list argument as a list (a single value becomes [value]).
json AsList(const json& j) { return j.is_array() ? j : json::array({j}); }

void PickleAlarm(const Graph& g, const AlarmRow& r, NameOrder* order, PickleWriter* w) {
  w->BeginDict();
  const Properties& p = g.VertexProps(r.v);
  for (const graph::MapEntry* e : order->Of(p.items())) {
    if (graph::KeyName(e->first) == "start_timestamp") continue;
    w->Member(e->first, e->second);
  }
  w->Name("start_timestamp");
  w->Str(absl::StrCat(r.start, "+00:00"));
  w->EndDict();
}

absl::StatusOr<Answer> GetAlarms(const Graph& g, const json& args_in, const json& ctx) {
  constexpr absl::string_view kM = "get_alarms";
  RETURN_IF_ERROR(RequireArgs(kM, args_in, {"vitrage_id", "all_tenants"}, {}, true));
  // _parse_kwargs: None values dropped.
  json kw = json::object();
  for (auto it = args_in.begin(); it != args_in.end(); ++it) {
    if (it.key() != "vitrage_id" && it.key() != "all_tenants" && !it.value().is_null()) {
      kw[it.key()] = it.value();
    }
  }
  static const char* kKnown[] = {
      "start",     "end",         "limit",     "sort_by", "sort_dirs",
      "filter_by", "filter_vals", "next_page", "marker",  "only_active_alarms"};
  for (auto it = kw.begin(); it != kw.end(); ++it) {
    bool known = false;
    for (const char* k : kKnown) known = known || it.key() == k;
    if (!known) {
      return absl::InvalidArgumentError(
          absl::StrCat("get_alarms() got an unexpected keyword argument '", it.key(), "'"));
    }
  }
  ASSIGN_OR_RETURN(std::optional<std::string> vitrage_id, OptString(kM, args_in, "vitrage_id"));
  const bool all_tenants = Truthy(Arg(args_in, "all_tenants"));
  std::optional<std::string> project_id;
  bool is_admin = false;
  if (kw.contains("filter_by"))
    kw["filter_by"] = Truthy(kw["filter_by"]) ? AsList(kw["filter_by"]) : json::array();
  if (kw.contains("filter_vals"))
    kw["filter_vals"] = Truthy(kw["filter_vals"]) ? AsList(kw["filter_vals"]) : json::array();
  if (!vitrage_id || vitrage_id->empty() || *vitrage_id == "all") {
    if (!all_tenants) {
      json pid = Ctx(ctx, "project_id", "no-project");
      if (!pid.is_null() && !pid.is_string()) return BadArg(kM, "context project_id", "a string");
      if (Truthy(pid)) project_id = pid.get<std::string>();
      is_admin = Truthy(Ctx(ctx, "is_admin", false));
    }
  } else if (kw.contains("filter_by") && kw.contains("filter_vals")) {
    kw["filter_by"].push_back("vitrage_resource_id");
    kw["filter_vals"].push_back(*vitrage_id);
  }

  std::vector<std::string> sort_by = {"start_timestamp", "vitrage_id"};
  std::vector<std::string> sort_dirs = {"asc", "asc"};
  auto strings = [&](const char* name, std::vector<std::string>* out) -> absl::Status {
    if (!kw.contains(name) || !Truthy(kw[name])) return absl::OkStatus();
    out->clear();
    for (const json& s : AsList(kw[name])) {
      if (!s.is_string()) return BadArg(kM, name, "a list of strings");
      out->push_back(s.get<std::string>());
    }
    return absl::OkStatus();
  };
  RETURN_IF_ERROR(strings("sort_by", &sort_by));
  RETURN_IF_ERROR(strings("sort_dirs", &sort_dirs));
  bool next_page = true;
  if (kw.contains("next_page")) {
    const json& np = kw["next_page"];
    std::string s = np.is_string() ? np.get<std::string>() : np.dump();
    next_page = absl::AsciiStrToLower(s) != "false";
  }
  const bool only_active = kw.contains("only_active_alarms") && Truthy(kw["only_active_alarms"]);
  int64_t limit = 10000;
  if (kw.contains("limit")) {
    const json& l = kw["limit"];
    if (l.is_number_integer()) {
      limit = l.get<int64_t>();
    } else if (!(l.is_string() && absl::SimpleAtoi(l.get<std::string>(), &limit))) {
      return BadArg(kM, "limit", "an integer");
    }
  }
  std::string start, end;
  for (const char* name : {"start", "end"}) {
    if (!kw.contains(name) || !Truthy(kw[name])) continue;
    if (!kw[name].is_string()) return BadArg(kM, name, "a time string");
    std::string t = NormalizeTimestamp(kw[name].get<std::string>());
    if (t.empty()) return BadArg(kM, name, "a time string");
    (name[0] == 's' ? start : end) = t;
  }
  // assert_args
  const json filter_by = kw.value("filter_by", json::array());
  const json filter_vals = kw.value("filter_vals", json::array());
  if (only_active && (!start.empty() || !end.empty())) {
    return absl::InvalidArgumentError("'only_active_alarms' can't be used with 'start' or 'end' ");
  }
  if (!end.empty() && start.empty())
    return absl::InvalidArgumentError("'end' can't be used without 'start'");
  if (filter_by.empty() != filter_vals.empty()) {
    return absl::InvalidArgumentError(
        "Cannot perform filtering, one of filter_by or filter_vals are missing");
  }
  if (filter_by.size() != filter_vals.size()) {
    return absl::InvalidArgumentError(
        "Cannot perform filtering, len of 'filter_by' and 'filter_vals' differs");
  }
  for (const std::string& d : sort_dirs) {
    if (d != "asc" && d != "desc") return absl::InvalidArgumentError("Unknown sort direction " + d);
  }
  for (const std::string& c : sort_by) {
    if (!IsAlarmColumn(c)) return absl::InvalidArgumentError("Unknown sort key " + c);
  }
  for (const json& c : filter_by) {
    if (!c.is_string() || !IsAlarmColumn(c.get<std::string>())) {
      return absl::InvalidArgumentError("type object 'Alarm' has no attribute " + c.dump());
    }
  }

  std::vector<AlarmRow> rows = ActiveAlarms(g);
  std::vector<AlarmRow> kept;
  for (AlarmRow& r : rows) {
    if (project_id && !ProjectAllows(g, r, *project_id, is_admin)) continue;
    if (!only_active && !start.empty()) {
      // Active alarms end in 2222: only "started within the frame" or
      // "started before it" can hold.
      if (!end.empty() && !((r.start >= start && r.start <= end) || r.start <= start)) continue;
    }
    bool ok = true;
    for (size_t i = 0; i < filter_by.size() && ok; ++i) {
      auto col = r.Column(g, filter_by[i].get<std::string>());
      const json vals = Truthy(filter_vals[i]) && filter_vals[i].is_array()
                            ? filter_vals[i]
                            : json::array({filter_vals[i]});
      bool any = false;
      for (const json& v : vals) {
        if (!v.is_string()) return BadArg(kM, "filter_vals", "strings");
        any = any || (col && Like(*col, absl::StrCat("%", v.get<std::string>(), "%")));
      }
      ok = any;
    }
    if (ok) kept.push_back(std::move(r));
  }

  if (limit != 0) {
    limit = std::min<int64_t>(limit, 10000);
    if (limit < 0) return BadArg(kM, "limit", "a non-negative integer");
    if (std::find(sort_by.begin(), sort_by.end(), "vitrage_id") == sort_by.end()) {
      sort_by.push_back("vitrage_id");
      sort_dirs.push_back("asc");
    }
    if (sort_dirs.size() < sort_by.size()) {
      return absl::InvalidArgumentError("sort_dirs must name a direction for each sort key");
    }
    // NULL sorts first, as in MySQL. The sort columns of each row are
    // read once.
    std::vector<std::vector<std::optional<std::string>>> cols(sort_by.size());
    for (size_t i = 0; i < sort_by.size(); ++i) {
      cols[i].reserve(kept.size());
      for (const AlarmRow& r : kept) cols[i].push_back(r.Column(g, sort_by[i]));
    }
    std::vector<uint32_t> perm(kept.size());
    for (size_t k = 0; k < perm.size(); ++k) perm[k] = static_cast<uint32_t>(k);
    auto less = [&](uint32_t a, uint32_t b) {
      for (size_t i = 0; i < sort_by.size(); ++i) {
        const auto& x = cols[i][a];
        const auto& y = cols[i][b];
        if (x == y) continue;
        bool lt = !x || (y && *x < *y);
        return sort_dirs[i] == "asc" ? lt : !lt;
      }
      return false;
    };
    std::stable_sort(perm.begin(), perm.end(), less);
    std::vector<AlarmRow> sorted;
    sorted.reserve(kept.size());
    for (uint32_t k : perm) sorted.push_back(std::move(kept[k]));
    kept = std::move(sorted);
    size_t from = 0;
    if (kw.contains("marker") && kw["marker"].is_string()) {
      const std::string marker = kw["marker"].get<std::string>();
      auto it = std::find_if(kept.begin(), kept.end(),
                             [&](const AlarmRow& r) { return g.VertexId(r.v) == marker; });
      if (it != kept.end()) {
        size_t m = it - kept.begin();
        if (next_page) {
          from = m + 1;
        } else {
          from = m >= static_cast<size_t>(limit) + 1 ? m - limit : 0;
        }
      }
    }
    std::vector<AlarmRow> page;
    for (size_t i = from; i < kept.size() && page.size() < static_cast<size_t>(limit); ++i) {
      page.push_back(kept[i]);
    }
    kept = std::move(page);
  }
  PickleWriter w;
  NameOrder order;
  w.BeginDict();
  w.Name("alarms");
  w.BeginList();
  for (const AlarmRow& r : kept) PickleAlarm(g, r, &order, &w);
  w.EndList();
  w.EndDict();
  return Answer::Compressed(w.Finish());
}

absl::StatusOr<Answer> GetAlarmCounts(const Graph& g, const json& args, const json& ctx) {
  RETURN_IF_ERROR(RequireArgs("get_alarm_counts", args, {"all_tenants"}, {}));
  std::optional<std::string> project_id;
  bool is_admin = false;
  if (!Truthy(Arg(args, "all_tenants"))) {
    json pid = Ctx(ctx, "project_id", nullptr);
    if (pid.is_string() && !pid.get<std::string>().empty()) project_id = pid.get<std::string>();
    is_admin = Truthy(Ctx(ctx, "is_admin", false));
  }
  json counts = {{"SEVERE", 0}, {"CRITICAL", 0}, {"WARNING", 0}, {"OK", 0}, {"N/A", 0}};
  for (const AlarmRow& r : ActiveAlarms(g)) {
    if (project_id && !ProjectAllows(g, r, *project_id, is_admin)) continue;
    auto sev = r.Column(g, "vitrage_operational_severity");
    if (sev && counts.contains(*sev)) counts[*sev] = counts[*sev].get<int64_t>() + 1;
  }
  return json(counts.dump());
}

absl::StatusOr<Answer> GetRca(const Graph& g, const json& args, const json& ctx) {
  RETURN_IF_ERROR(RequireArgs("get_rca", args, {"root", "all_tenants"}, {}));
  ASSIGN_OR_RETURN(std::optional<std::string> root, OptString("get_rca", args, "root"));
  std::optional<std::string> project_id;
  bool is_admin = false;
  if (!Truthy(Arg(args, "all_tenants"))) {
    json pid = Ctx(ctx, "project_id", nullptr);
    if (pid.is_string() && !pid.get<std::string>().empty()) project_id = pid.get<std::string>();
    is_admin = Truthy(Ctx(ctx, "is_admin", false));
  }
  std::vector<AlarmRow> rows = ActiveAlarms(g);
  absl::flat_hash_map<Slot, size_t> row_of;
  for (size_t i = 0; i < rows.size(); ++i) row_of[rows[i].v] = i;
  const graph::KeyId causes = graph::InternKey("causes");
  // history_facade.alarm_rca: BFS forward over out-"causes" edges and
  // backward over in-"causes" edges, each edge kept when its target alarm
  // passes the project filter.
  std::vector<Slot> edges;
  absl::flat_hash_set<Slot> edge_seen;
  absl::flat_hash_set<Slot> node_ids;
  Slot r = root ? g.FindVertex(*root) : graph::kNoSlot;
  if (r != graph::kNoSlot && row_of.contains(r)) {
    node_ids.insert(r);
    for (bool forward : {true, false}) {
      absl::flat_hash_set<Slot> visited{r};
      std::vector<Slot> level{r};
      while (!level.empty()) {
        std::vector<Slot> next;
        for (Slot v : level) {
          for (Slot e : forward ? g.OutEdges(v) : g.InEdges(v)) {
            if (g.EdgeLabelId(e) != causes || !EdgeNotDeleted(g, e)) continue;
            Slot s = g.EdgeSource(e), t = g.EdgeTarget(e);
            if (!row_of.contains(s) || !row_of.contains(t)) continue;
            if (project_id && !ProjectAllows(g, rows[row_of[t]], *project_id, is_admin)) continue;
            if (edge_seen.insert(e).second) edges.push_back(e);
            Slot w = forward ? t : s;
            node_ids.insert(w);
            if (visited.insert(w).second) next.push_back(w);
          }
        }
        level = std::move(next);
      }
    }
  }
  // Nodes in the table's primary-key order (vitrage_id).
  std::vector<Slot> nodes(node_ids.begin(), node_ids.end());
  std::sort(nodes.begin(), nodes.end(),
            [&](Slot a, Slot b) { return g.VertexId(a) < g.VertexId(b); });
  absl::flat_hash_map<Slot, int64_t> index;
  int64_t inspected = 0;
  for (size_t i = 0; i < nodes.size(); ++i) {
    index[nodes[i]] = static_cast<int64_t>(i);
    if (nodes[i] == r) inspected = static_cast<int64_t>(i);
  }
  json out = {{"directed", true}, {"multigraph", true}, {"graph", json::object()}};
  json jn = json::array();
  for (size_t i = 0; i < nodes.size(); ++i) {
    json n = graph::PropertiesToJson(g.VertexProps(nodes[i]));
    n["start_timestamp"] = rows[row_of[nodes[i]]].start + "+00:00";
    if (!n.contains("id")) {
      n["id"] = std::string(g.VertexId(nodes[i]));
    } else {
      n["graph_index"] = static_cast<int64_t>(i);
    }
    jn.push_back(std::move(n));
  }
  json jl = json::array();
  for (Slot e : edges) {
    json l = graph::PropertiesToJson(g.EdgeProps(e));
    l["source_id"] = std::string(g.VertexId(g.EdgeSource(e)));
    l["target_id"] = std::string(g.VertexId(g.EdgeTarget(e)));
    l["source"] = index.at(g.EdgeSource(e));
    l["target"] = index.at(g.EdgeTarget(e));
    l["key"] = std::string(g.EdgeLabel(e));
    jl.push_back(std::move(l));
  }
  out["nodes"] = std::move(jn);
  out["links"] = std::move(jl);
  out["inspected_index"] = inspected;
  return json(out.dump());
}

// ------------------------------------------------------------- templates

absl::StatusOr<Answer> TemplateVersions(const json& args) {
  RETURN_IF_ERROR(RequireArgs("template_versions", args, {}, {}));
  return json::array({json{{"version", "v1"}, {"status", "SUPPORTED"}},
                      json{{"version", "v2"}, {"status", "SUPPORTED"}},
                      json{{"version", "v3"}, {"status", "CURRENT"}}});
}

absl::StatusOr<Answer> ValidateTemplate(const json& args) {
  RETURN_IF_ERROR(
      RequireArgs("validate_template", args, {"templates", "template_type"}, {"params"}));
  const json& templates = Arg(args, "templates");
  if (!templates.is_array())
    return BadArg("validate_template", "templates", "a list of [path, content]");
  const json& tt = Arg(args, "template_type");
  json results = json::array();
  for (const json& t : templates) {
    if (!t.is_array() || t.size() != 2 || !t[1].is_object()) {
      return BadArg("validate_template", "templates", "a list of [path, content]");
    }
    const std::string path = t[0].is_string() ? t[0].get<std::string>() : t[0].dump();
    json r = {{"file path", path}};
    std::string type = "standard";
    if (t[1].contains("metadata") && t[1]["metadata"].is_object() &&
        t[1]["metadata"].contains("type") && t[1]["metadata"]["type"].is_string()) {
      type = t[1]["metadata"]["type"].get<std::string>();
    } else if (tt.is_string()) {
      type = tt.get<std::string>();
    }
    if (tt.is_string() && !tt.get<std::string>().empty() && tt.get<std::string>() != type) {
      r.update({{"status", "validation failed"},
                {"description", "Template content validation"},
                {"message", "Missing template type. Type must be one of: standard"},
                {"status code", 66}});
    } else if (type != "standard") {
      r.update({{"status", "validation failed"},
                {"description", "Template content validation"},
                {"message", "this vitrage-graph runs standard templates only, not " + type},
                {"status code", 66}});
    } else {
      // JSON is YAML: the content as the client parsed it.
      auto parsed = evaluator::ParseTemplate(t[1].dump(), path);
      if (parsed.ok()) {
        r.update({{"status", "validation OK"},
                  {"description", "Template validation"},
                  {"message", "Template validation is OK"},
                  {"status code", 0}});
      } else {
        r.update({{"status", "validation failed"},
                  {"description", "Template syntax validation"},
                  {"message", absl::StrCat("Syntax error: ", parsed.status().message())},
                  {"status code", 4}});
      }
    }
    results.push_back(std::move(r));
  }
  return json(json{{"results", std::move(results)}}.dump());
}

}  // namespace

std::string NormalizeTimestamp(absl::string_view ts) {
  int y, mo, d, h, mi, s;
  int n = 0;
  std::string buf(ts);
  if (sscanf(buf.c_str(), "%4d-%2d-%2d%*1[T ]%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &s, &n) != 6) {
    return "";
  }
  absl::string_view rest = absl::string_view(buf).substr(n);
  if (!rest.empty() && rest[0] == '.') {
    size_t k = 1;
    while (k < rest.size() && absl::ascii_isdigit(rest[k])) ++k;
    rest.remove_prefix(k);
  }
  int offset_min = 0;
  if (rest == "Z" || rest == "z" || rest.empty()) {
  } else if ((rest[0] == '+' || rest[0] == '-') && rest.size() >= 3) {
    int oh = 0, om = 0;
    std::string r(rest.substr(1));
    r.erase(std::remove(r.begin(), r.end(), ':'), r.end());
    if (r.size() != 2 && r.size() != 4) return "";
    for (char c : r) {
      if (!absl::ascii_isdigit(c)) return "";
    }
    oh = std::stoi(r.substr(0, 2));
    if (r.size() == 4) om = std::stoi(r.substr(2, 2));
    offset_min = (rest[0] == '+' ? 1 : -1) * (oh * 60 + om);
  } else {
    return "";
  }
  absl::CivilSecond t(y, mo, d, h, mi, s);
  if (t.year() != y || t.month() != mo || t.day() != d || t.hour() != h || t.minute() != mi ||
      t.second() != s) {
    return "";
  }
  t -= offset_min * 60;
  return absl::StrFormat("%04d-%02d-%02d %02d:%02d:%02d", t.year(), t.month(), t.day(), t.hour(),
                         t.minute(), t.second());
}

bool MethodReadsGraph(absl::string_view m) {
  return m == "get_topology" || m == "get_resources" || m == "count_resources" ||
         m == "show_resource" || m == "get_alarms" || m == "show_alarm" ||
         m == "get_alarm_counts" || m == "get_rca";
}

json Finish(Answer a) {
  if (!a.compress) return std::move(a.value);
  return json(CompressObj(a.pickle));
}

absl::StatusOr<json> Call(absl::string_view method, const json& args, const json& ctx,
                          const Graph* g, const evaluator::TemplateSet* templates) {
  ASSIGN_OR_RETURN(Answer a, Read(method, args, ctx, g, templates));
  return Finish(std::move(a));
}

absl::StatusOr<Answer> Read(absl::string_view method, const json& args, const json& ctx,
                            const Graph* g, const evaluator::TemplateSet* templates) {
  (void)templates;
  if (!args.is_object()) return absl::InvalidArgumentError("args must be a dict");
  static const json kEmpty = json::object();
  const json& c = ctx.is_object() ? ctx : kEmpty;
  if (MethodReadsGraph(method) && g == nullptr) {
    return absl::UnavailableError("vitrage-graph is not ready");
  }
  if (method == "get_topology") return GetTopology(*g, args, c);
  if (method == "get_resources") return GetResources(*g, args, c);
  if (method == "count_resources") return CountResources(*g, args, c);
  if (method == "show_resource") return ShowVertex(*g, method, "RESOURCE", args, c);
  if (method == "show_alarm") return ShowVertex(*g, method, "ALARM", args, c);
  if (method == "get_alarms") return GetAlarms(*g, args, c);
  if (method == "get_alarm_counts") return GetAlarmCounts(*g, args, c);
  if (method == "get_rca") return GetRca(*g, args, c);
  if (method == "template_versions") return TemplateVersions(args);
  if (method == "validate_template") return ValidateTemplate(args);
  if (method == "is_alive") {
    RETURN_IF_ERROR(RequireArgs(method, args, {}, {}));
    return json(true);
  }
  if (method == "add_template" || method == "delete_template") {
    return absl::FailedPreconditionError(
        absl::StrCat(method,
                     " is not supported by this vitrage-graph: it runs the templates of its "
                     "[graph] templates_dir; change them there and restart it"));
  }
  if (method == "post" || method == "get_all_webhooks" || method == "get_webhook" ||
      method == "add_webhook" || method == "delete_webhook") {
    return absl::FailedPreconditionError(
        absl::StrCat(method, " is not supported by this vitrage-graph (events and webhooks)"));
  }
  return absl::UnimplementedError(absl::StrCat("Endpoint does not support RPC method ", method));
}

}  // namespace vitrage::rpc_api
