// The RPC handlers against upstream's own: upstream_answers.py runs
// python3-vitrage's handler classes on the same graph, and each answer is
// compared with ours field by field.
#include "graph_service/rpc_api/handlers.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "graph_service/graph/json_value.h"
#include "graph_service/rpc_api/pickle.h"
#include "graph_service/rpc_api/query.h"
#include "graph_service/workload/workload.h"

namespace vitrage::rpc_api {
namespace {

using json = nlohmann::json;

json Eq(const char* k, json v) { return json{{"==", json{{k, std::move(v)}}}}; }

// A small cloud with two projects, deleted and placeholder elements, and
// datasource and deduced alarms linked by "causes".
graph::Graph FixtureGraph() {
  graph::Graph g;
  auto vertex = [&](const std::string& id, const std::string& cat, const std::string& type,
                    json extra) {
    json p = {{"vitrage_id", id},
              {"id", id + "-id"},
              {"name", id + "-name"},
              {"vitrage_category", cat},
              {"vitrage_type", type},
              {"vitrage_is_deleted", false},
              {"vitrage_is_placeholder", false},
              {"state", "ACTIVE"},
              {"update_timestamp", "2026-12-01T10:00:00.123456Z"},
              {"vitrage_sample_timestamp", "2026-12-01 10:00:00.123456+00:00"}};
    p.update(extra);
    for (auto it = extra.begin(); it != extra.end(); ++it) {
      if (it.value().is_null()) p.erase(it.key());
    }
    ASSERT_TRUE(g.AddVertex(id, graph::PropertiesFromJson(p)).ok()) << id;
  };
  auto edge = [&](const std::string& s, const std::string& t, const std::string& label,
                  bool deleted = false) {
    json p = {{"relationship_type", label},
              {"vitrage_is_deleted", deleted},
              {"update_timestamp", "2026-12-01 10:00:01+00:00"}};
    ASSERT_TRUE(g.AddEdge(s, t, label, graph::PropertiesFromJson(p)).ok()) << s << t;
  };
  vertex("cluster", "RESOURCE", "openstack.cluster", {{"id", "OpenStack Cluster"}});
  vertex("zone", "RESOURCE", "nova.zone", json::object());
  vertex("host1", "RESOURCE", "nova.host", json::object());
  vertex("host2", "RESOURCE", "nova.host", {{"state", "available"}});
  vertex("inst1", "RESOURCE", "nova.instance", {{"project_id", "p1"}});
  vertex("inst2", "RESOURCE", "nova.instance", {{"project_id", "p2"}, {"id", nullptr}});
  vertex("inst3", "RESOURCE", "nova.instance", {{"project_id", "p1"}, {"state", "ERROR"}});
  vertex("inst4", "RESOURCE", "nova.instance",
         {{"project_id", "p1"}, {"vitrage_is_deleted", true}});
  vertex("phost", "RESOURCE", "nova.host", {{"vitrage_is_placeholder", true}});
  vertex("net", "RESOURCE", "neutron.network", {{"project_id", "p1"}});
  vertex("port", "RESOURCE", "neutron.port", {{"project_id", "p1"}, {"size", 3}});
  auto alarm = [&](const std::string& id, const std::string& type, const std::string& on,
                   const std::string& sev, json extra) {
    json p = {{"vitrage_operational_severity", sev},
              {"vitrage_aggregated_severity", sev},
              {"severity", sev},
              {"vitrage_resource_id", on},
              {"vitrage_resource_type", "nova.host"}};
    p.update(extra);
    vertex(id, "ALARM", type, p);
    edge(id, on, "on");
  };
  edge("cluster", "zone", "contains");
  edge("zone", "host1", "contains");
  edge("zone", "host2", "contains");
  edge("zone", "phost", "contains");
  edge("host1", "inst1", "contains");
  edge("host1", "inst2", "contains");
  edge("host2", "inst3", "contains");
  edge("host2", "inst4", "contains", true);
  edge("net", "port", "contains");
  edge("port", "inst1", "attached");
  alarm("a1-zbx", "zabbix", "host1", "CRITICAL",
        {{"update_timestamp", "2026-12-01T09:00:00Z"}, {"id", nullptr}});
  alarm("a2-aodh", "aodh", "inst2", "WARNING",
        {{"project_id", "p2"},
         {"vitrage_resource_project_id", "p2"},
         {"update_timestamp", "2026-12-01T11:30:00+01:00"}});
  alarm("a3-deduced", "vitrage", "inst1", "SEVERE",
        {{"vitrage_resource_project_id", "p1"}, {"update_timestamp", "2026-12-01T09:30:00Z"}});
  alarm("a4-deduced", "vitrage", "host1", "SEVERE", {{"update_timestamp", "2026-12-01T09:10:00Z"}});
  alarm("a5-gone", "zabbix", "host2", "WARNING", {{"vitrage_is_deleted", true}});
  alarm("a6-na", "zabbix", "host2", "N/A", {{"project_id", "p1"}, {"name", "disk full"}});
  edge("a1-zbx", "a4-deduced", "causes");
  edge("a4-deduced", "a3-deduced", "causes");
  edge("a6-na", "a4-deduced", "causes", true);
  return g;
}

const json kAdmin = {{"project_id", "admin"}, {"is_admin", true}, {"user", "admin"}};
const json kP1 = {{"project_id", "p1"}, {"is_admin", false}};
const json kP1Admin = {{"project_id", "p1"}, {"is_admin", true}};
const json kP2 = {{"project_id", "p2"}, {"is_admin", false}};

const json kTreeQuery = json::parse(R"({"and": [
  {"==": {"vitrage_category": "RESOURCE"}}, {"==": {"vitrage_is_deleted": false}},
  {"==": {"vitrage_is_placeholder": false}},
  {"or": [{"==": {"vitrage_type": "openstack.cluster"}}, {"==": {"vitrage_type": "nova.instance"}},
          {"==": {"vitrage_type": "nova.host"}}, {"==": {"vitrage_type": "nova.zone"}}]}]})");

json Topo(const char* type, json depth, json query, json root, bool all) {
  return {{"graph_type", type},
          {"depth", depth},
          {"query", query},
          {"root", root},
          {"all_tenants", all}};
}
// As vitrage-api's alarm list sends it.
json AlarmList(json vitrage_id, bool all, json extra = json::object()) {
  json a = {{"vitrage_id", vitrage_id},
            {"all_tenants", all},
            {"start", nullptr},
            {"end", nullptr},
            {"limit", 10000},
            {"sort_by", {"start_timestamp", "vitrage_id"}},
            {"sort_dirs", {"asc", "asc"}},
            {"filter_by", json::array()},
            {"filter_vals", json::array()},
            {"next_page", true},
            {"marker", nullptr},
            {"only_active_alarms", true}};
  a.update(extra);
  return a;
}

struct TestCall {
  std::string name, method;
  json ctx, args;
};

std::vector<TestCall> FixtureCalls() {
  const json tmpl = json::parse(R"({"metadata": {"version": 3, "name": "t1", "type": "standard"},
    "entities": {"host": {"type": "nova.host"}, "alarm": {"type": "zabbix"}},
    "scenarios": [{"condition": "alarm [on] host",
                   "actions": [{"set_state": {"state": "ERROR", "target": "host"}}]}]})");
  const json bad_tmpl = json::parse(R"({"metadata": {"version": 3, "name": "t2"},
    "entities": {"host": {"type": "nova.host"}},
    "scenarios": [{"condition": "alarm [on] host", "actions": []}]})");
  return {
      {"topology graph admin", "get_topology", kAdmin,
       Topo("graph", nullptr, nullptr, nullptr, false)},
      {"topology graph p1", "get_topology", kP1, Topo("graph", nullptr, nullptr, nullptr, false)},
      {"topology graph p1 admin", "get_topology", kP1Admin,
       Topo("graph", nullptr, nullptr, nullptr, false)},
      {"topology graph p2", "get_topology", kP2, Topo("graph", nullptr, nullptr, nullptr, false)},
      {"topology graph all tenants", "get_topology", kP1,
       Topo("graph", nullptr, nullptr, nullptr, true)},
      {"topology graph query", "get_topology", kAdmin,
       Topo("graph", nullptr, Eq("vitrage_type", "nova.instance"), nullptr, false)},
      {"topology graph query all tenants", "get_topology", kAdmin,
       Topo("graph", nullptr, json::parse(R"({"or": [{"==": {"vitrage_category": "ALARM"}},
            {"==": {"vitrage_type": "nova.host"}}]})"),
            nullptr, true)},
      {"topology tree", "get_topology", kAdmin, Topo("tree", nullptr, kTreeQuery, nullptr, false)},
      {"topology tree all tenants", "get_topology", kP2,
       Topo("tree", nullptr, kTreeQuery, nullptr, true)},
      {"topology tree p2", "get_topology", kP2, Topo("tree", nullptr, kTreeQuery, nullptr, false)},
      {"topology root depth", "get_topology", kAdmin, Topo("graph", 1, kTreeQuery, "host1", true)},
      {"topology root depth 2", "get_topology", kAdmin, Topo("tree", 2, kTreeQuery, "zone", false)},
      {"topology tree without query", "get_topology", kAdmin,
       Topo("tree", nullptr, nullptr, nullptr, false)},
      {"topology bad query", "get_topology", kAdmin,
       Topo("graph", nullptr, json{{"~=", json{{"a", 1}}}}, nullptr, true)},
      {"topology ordering type error", "get_topology", kAdmin,
       Topo("graph", nullptr, json{{">", json{{"size", 1}}}}, nullptr, true)},
      {"topology ordering", "get_topology", kAdmin,
       Topo("graph", nullptr, json::parse(R"({"and": [{"==": {"vitrage_type": "neutron.port"}},
            {">=": {"size": 2.5}}]})"),
            nullptr, true)},
      {"resources admin",
       "get_resources",
       kAdmin,
       {{"resource_type", nullptr}, {"all_tenants", false}, {"query", nullptr}}},
      {"resources p1",
       "get_resources",
       kP1,
       {{"resource_type", nullptr}, {"all_tenants", false}, {"query", nullptr}}},
      {"resources type all",
       "get_resources",
       kP1,
       {{"resource_type", "nova.instance"}, {"all_tenants", true}, {"query", nullptr}}},
      {"resources query",
       "get_resources",
       kAdmin,
       {{"resource_type", nullptr}, {"all_tenants", true}, {"query", Eq("state", "ERROR")}}},
      {"count resources",
       "count_resources",
       kAdmin,
       {{"resource_type", nullptr},
        {"all_tenants", true},
        {"query", nullptr},
        {"group_by", nullptr}}},
      {"count resources by state p1",
       "count_resources",
       kP1,
       {{"resource_type", nullptr},
        {"all_tenants", false},
        {"query", nullptr},
        {"group_by", "state"}}},
      {"count resources by project",
       "count_resources",
       kAdmin,
       {{"resource_type", nullptr},
        {"all_tenants", true},
        {"query", nullptr},
        {"group_by", "project_id"}}},
      {"show resource", "show_resource", kAdmin, {{"vitrage_id", "inst1"}}},
      {"show resource own project", "show_resource", kP1, {{"vitrage_id", "inst1"}}},
      {"show resource other project", "show_resource", kP1, {{"vitrage_id", "inst2"}}},
      {"show resource missing", "show_resource", kAdmin, {{"vitrage_id", "nope"}}},
      {"show resource of an alarm", "show_resource", kAdmin, {{"vitrage_id", "a1-zbx"}}},
      {"show alarm", "show_alarm", kAdmin, {{"vitrage_id", "a3-deduced"}}},
      {"show alarm other project", "show_alarm", kP1, {{"vitrage_id", "a2-aodh"}}},
      {"alarms admin", "get_alarms", kAdmin, AlarmList("all", false)},
      {"alarms all tenants", "get_alarms", kP1, AlarmList("all", true)},
      {"alarms p1", "get_alarms", kP1, AlarmList("all", false)},
      {"alarms p1 admin", "get_alarms", kP1Admin, AlarmList("all", false)},
      {"alarms p2", "get_alarms", kP2, AlarmList(nullptr, false)},
      {"alarms of a resource", "get_alarms", kAdmin, AlarmList("host1", false)},
      {"alarms page 1", "get_alarms", kAdmin, AlarmList("all", true, {{"limit", 2}})},
      {"alarms page 2", "get_alarms", kAdmin,
       AlarmList("all", true, {{"limit", 2}, {"marker", "a4-deduced"}})},
      {"alarms sorted by name desc", "get_alarms", kAdmin,
       AlarmList("all", true, {{"sort_by", "name"}, {"sort_dirs", "desc"}})},
      {"alarms filtered", "get_alarms", kAdmin,
       AlarmList("all", true, {{"filter_by", {"vitrage_type"}}, {"filter_vals", {"ZABB"}}})},
      {"alarms bad sort dir", "get_alarms", kAdmin,
       AlarmList("all", true, {{"sort_dirs", {"up"}}})},
      {"alarm counts admin", "get_alarm_counts", kAdmin, {{"all_tenants", false}}},
      {"alarm counts all", "get_alarm_counts", kP1, {{"all_tenants", true}}},
      {"alarm counts p1", "get_alarm_counts", kP1, {{"all_tenants", false}}},
      {"alarm counts p2", "get_alarm_counts", kP2, {{"all_tenants", false}}},
      {"rca", "get_rca", kAdmin, {{"root", "a4-deduced"}, {"all_tenants", false}}},
      {"rca all tenants", "get_rca", kP2, {{"root", "a1-zbx"}, {"all_tenants", true}}},
      {"rca p1", "get_rca", kP1, {{"root", "a4-deduced"}, {"all_tenants", false}}},
      {"rca missing alarm", "get_rca", kAdmin, {{"root", "nope"}, {"all_tenants", true}}},
      {"template versions", "template_versions", kAdmin, json::object()},
      {"validate templates",
       "validate_template",
       kAdmin,
       {{"templates", {{"/tmp/t1.yaml", tmpl}}}, {"template_type", nullptr}, {"params", nullptr}}},
      {"validate bad template",
       "validate_template",
       kAdmin,
       {{"templates", {{"/tmp/t2.yaml", bad_tmpl}}},
        {"template_type", nullptr},
        {"params", nullptr}}},
      {"is alive", "is_alive", kAdmin, json::object()},
      {"unknown method", "drop_tables", kAdmin, json::object()},
  };
}

// ------------------------------------------------------------ comparison

// A node-link graph keyed by vitrage id, so that node order (graph_index)
// may differ: nodes by vitrage_id, links by "source|target|key" with the
// ends named by vitrage_id. Checks each side's graph_index is its position.
json CanonicalNodeLink(const json& g, std::vector<std::string>* problems) {
  json out = g;
  json nodes = json::object();
  std::vector<std::string> ids;
  for (size_t i = 0; i < g["nodes"].size(); ++i) {
    json n = g["nodes"][i];
    if (n.contains("graph_index") && n["graph_index"] != static_cast<int64_t>(i)) {
      problems->push_back(absl::StrCat("node ", i, " has graph_index ", n["graph_index"].dump()));
    }
    n.erase("graph_index");
    std::string id = n.value("vitrage_id", n.value("id", ""));
    ids.push_back(id);
    nodes[id] = n;
  }
  json links = json::object();
  for (json l : g["links"]) {
    std::string key =
        absl::StrCat(ids.at(l["source"].get<size_t>()), "|", ids.at(l["target"].get<size_t>()), "|",
                     l["key"].get<std::string>());
    l.erase("source");
    l.erase("target");
    links[key] = l;
  }
  out["nodes"] = nodes;
  out["links"] = links;
  if (out.contains("inspected_index") && !g["nodes"].empty()) {
    out["inspected_index"] = ids.at(g["inspected_index"].get<size_t>());
  }
  return out;
}

void Diff(const json& up, const json& ours, const std::string& path, std::vector<std::string>* d) {
  if (up.is_object() && ours.is_object()) {
    for (auto it = up.begin(); it != up.end(); ++it) {
      if (!ours.contains(it.key())) {
        d->push_back(absl::StrCat(path, "/", it.key(), ": missing in ours (upstream ",
                                  it.value().dump(), ")"));
      } else {
        Diff(it.value(), ours[it.key()], absl::StrCat(path, "/", it.key()), d);
      }
    }
    for (auto it = ours.begin(); it != ours.end(); ++it) {
      if (!up.contains(it.key())) {
        d->push_back(absl::StrCat(path, "/", it.key(), ": only in ours (", it.value().dump(), ")"));
      }
    }
    return;
  }
  if (up.is_array() && ours.is_array()) {
    if (up.size() != ours.size()) {
      d->push_back(absl::StrCat(path, ": ", up.size(), " items upstream, ", ours.size(), " ours"));
    }
    for (size_t i = 0; i < std::min(up.size(), ours.size()); ++i) {
      Diff(up[i], ours[i], absl::StrCat(path, "/", i), d);
    }
    return;
  }
  // 1 == 1.0 as in Python.
  if (up.is_number() && ours.is_number() && up.get<double>() == ours.get<double>()) return;
  if (up != ours)
    d->push_back(absl::StrCat(path, ": upstream ", up.dump(), ", ours ", ours.dump()));
}

// Runs the calls on `g` with ours and upstream's handlers; returns the
// number of calls compared.
void CompareWithUpstream(const graph::Graph& g, const std::vector<TestCall>& calls,
                         const std::string& tag) {
  json req = {{"vertices", json::array()}, {"edges", json::array()}, {"calls", json::array()}};
  g.ForEachVertex([&](graph::Slot v) {
    req["vertices"].push_back(
        {std::string(g.VertexId(v)), graph::PropertiesToJson(g.VertexProps(v))});
  });
  g.ForEachEdge([&](graph::Slot e) {
    req["edges"].push_back({std::string(g.VertexId(g.EdgeSource(e))),
                            std::string(g.VertexId(g.EdgeTarget(e))), std::string(g.EdgeLabel(e)),
                            graph::PropertiesToJson(g.EdgeProps(e))});
  });
  for (const TestCall& c : calls) {
    auto r = Call(c.method, c.args, c.ctx, &g, nullptr);
    json ours = r.ok() ? *r : json{{"__error__", std::string(r.status().message())}};
    req["calls"].push_back(
        {{"method", c.method}, {"ctx", c.ctx}, {"args", c.args}, {"ours", ours}});
  }
  const char* tmp = getenv("TEST_TMPDIR");
  std::string dir = tmp ? tmp : "/tmp";
  std::string in = absl::StrCat(dir, "/rpc_upstream_in_", tag, "_", getpid(), ".json");
  std::string out = absl::StrCat(dir, "/rpc_upstream_out_", tag, "_", getpid(), ".json");
  std::ofstream(in) << req.dump();
  const char* src = getenv("VITRAGE_SOURCE_DIR");
  ASSERT_NE(src, nullptr) << "VITRAGE_SOURCE_DIR (set by ctest)";
  std::string cmd = absl::StrCat("/usr/bin/python3 ", src,
                                 "/graph_service/rpc_api/upstream_answers.py ", in, " ", out);
  ASSERT_EQ(system(cmd.c_str()), 0) << cmd;
  std::ifstream f(out);
  json answers = json::parse(f);
  std::remove(in.c_str());
  std::remove(out.c_str());
  ASSERT_EQ(answers.size(), calls.size());
  for (size_t i = 0; i < calls.size(); ++i) {
    const TestCall& c = calls[i];
    json up = answers[i]["upstream"];
    json ours = answers[i]["ours"];
    const bool up_err = up.is_object() && up.contains("__error__");
    const bool our_err = ours.is_object() && ours.contains("__error__");
    EXPECT_EQ(up_err, our_err) << c.name << ": upstream " << up.dump().substr(0, 400) << "\nours "
                               << ours.dump().substr(0, 400);
    if (up_err || our_err) continue;
    std::vector<std::string> d;
    if (c.method == "get_topology" || c.method == "get_rca") {
      up = CanonicalNodeLink(up, &d);
      ours = CanonicalNodeLink(ours, &d);
    }
    Diff(up, ours, "", &d);
    std::string msg;
    for (size_t k = 0; k < d.size() && k < 20; ++k) msg += "\n  " + d[k];
    EXPECT_TRUE(d.empty()) << c.name << " (" << c.method << "): " << d.size() << " differences"
                           << msg;
  }
}

TEST(UpstreamParity, EveryCallOnTheFixtureGraphAnswersAsUpstream) {
  graph::Graph g = FixtureGraph();
  CompareWithUpstream(g, FixtureCalls(), "fixture");
}

TEST(UpstreamParity, TopologyResourcesAndAlarmsOfThe1kWorkloadAnswerAsUpstream) {
  const char* bin = getenv("VITRAGE_BINARY_DIR");
  ASSERT_NE(bin, nullptr);
  graph::Graph g;
  ASSERT_TRUE(workload::LoadGraphFile(absl::StrCat(bin, "/workload/graph_1k.jsonl.zst"), &g).ok());
  std::vector<TestCall> calls = {
      {"topology", "get_topology", kAdmin, Topo("graph", nullptr, nullptr, nullptr, false)},
      {"topology all", "get_topology", kAdmin, Topo("graph", nullptr, nullptr, nullptr, true)},
      {"tree", "get_topology", kAdmin, Topo("tree", nullptr, kTreeQuery, nullptr, false)},
      {"resources",
       "get_resources",
       kAdmin,
       {{"resource_type", nullptr}, {"all_tenants", true}, {"query", nullptr}}},
      {"count",
       "count_resources",
       kAdmin,
       {{"resource_type", nullptr},
        {"all_tenants", false},
        {"query", nullptr},
        {"group_by", nullptr}}},
      {"alarms", "get_alarms", kAdmin, AlarmList("all", false)},
      {"alarm counts", "get_alarm_counts", kAdmin, {{"all_tenants", false}}},
  };
  CompareWithUpstream(g, calls, "1k");
}

// ------------------------------------------------------------ unit tests

// The memo changes the pickle, never what pickle.loads makes of it: every
// vertex and edge of the 1k workload written both ways reads back as the
// same objects, keys in the same order (json.dumps equal), from a pickle
// less than half the size.
TEST(Pickle, MemoReadsBackAsThePlainPickle) {
  const char* bin = getenv("VITRAGE_BINARY_DIR");
  ASSERT_NE(bin, nullptr);
  graph::Graph g;
  ASSERT_TRUE(workload::LoadGraphFile(absl::StrCat(bin, "/workload/graph_1k.jsonl.zst"), &g).ok());
  std::string blobs[2];
  for (bool memo : {false, true}) {
    PickleWriter w(memo);
    NameOrder order;
    w.BeginList();
    auto write = [&](const graph::Properties& p) {
      w.BeginDict();
      for (const graph::MapEntry* e : order.Of(p.items())) w.Member(e->first, e->second);
      w.Name("graph_index");
      w.Int(-1);
      w.EndDict();
    };
    for (int round = 0; round < 2; ++round) {  // the second time all from the memo
      g.ForEachVertex([&](graph::Slot v) { write(g.VertexProps(v)); });
      g.ForEachEdge([&](graph::Slot e) {
        write(g.EdgeProps(e));
        w.Key(g.EdgeLabelId(e));
      });
    }
    w.EndList();
    blobs[memo] = w.Finish();
  }
  EXPECT_LT(blobs[1].size() * 2, blobs[0].size());
  const char* tmp = getenv("TEST_TMPDIR");
  const std::string dir = tmp ? tmp : "/tmp";
  std::string files[2];
  for (int i = 0; i < 2; ++i) {
    files[i] = absl::StrCat(dir, "/pickle_", i, "_", getpid());
    std::ofstream(files[i], std::ios::binary) << blobs[i];
  }
  const std::string cmd = absl::StrCat(
      "/usr/bin/python3 -c 'import json, pickle, sys\n"
      "a, b = (pickle.load(open(f, \"rb\")) for f in sys.argv[1:])\n"
      "assert len(a) > 2000 and a == b and json.dumps(a) == json.dumps(b)' ",
      files[0], " ", files[1]);
  EXPECT_EQ(system(cmd.c_str()), 0) << cmd;
  for (const std::string& f : files) std::remove(f.c_str());
}

TEST(Handlers, UnknownMethodIsUnimplemented) {
  graph::Graph g = FixtureGraph();
  auto r = Call("drop_tables", json::object(), kAdmin, &g, nullptr);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnimplemented);
}

TEST(Handlers, AddAndDeleteTemplateSayNotSupported) {
  for (const char* m : {"add_template", "delete_template"}) {
    auto r = Call(m, json{{"uuids", {"x"}}}, kAdmin, nullptr, nullptr);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition) << m;
    EXPECT_NE(r.status().message().find("not supported"), std::string::npos) << m;
  }
}

TEST(Handlers, WrongArgumentTypesAreInvalidArgument) {
  graph::Graph g = FixtureGraph();
  EXPECT_EQ(Call("show_resource", json{{"vitrage_id", 5}}, kAdmin, &g, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Call("get_topology", Topo("graph", "deep", nullptr, nullptr, true), kAdmin, &g, nullptr)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Call("show_resource", json::array({1}), kAdmin, &g, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Call("show_resource", json{{"vitrage_id", "inst1"}, {"x", 1}}, kAdmin, &g, nullptr)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Call("get_alarms", AlarmList("all", true, {{"limit", "many"}}), kAdmin, &g, nullptr)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(Handlers, GraphMethodsWithoutAGraphAreUnavailable) {
  EXPECT_EQ(Call("get_rca", json{{"root", "a"}, {"all_tenants", true}}, kAdmin, nullptr, nullptr)
                .status()
                .code(),
            absl::StatusCode::kUnavailable);
}

TEST(Handlers, QueryKeysNoVertexHasAreNotInterned) {
  graph::Graph g = FixtureGraph();
  const uint32_t before = graph::KeyCount();
  auto r = Call("get_resources",
                json{{"resource_type", nullptr},
                     {"all_tenants", true},
                     {"query", Eq("never_seen_key_4711", "x")}},
                kAdmin, &g, nullptr);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(graph::KeyCount(), before);
}

TEST(Query, PythonEquality) {
  graph::Value one = graph::Value::Int(1);
  EXPECT_TRUE(PyEquals(&one, json(1.0)));
  EXPECT_TRUE(PyEquals(&one, json(true)));
  EXPECT_FALSE(PyEquals(&one, json("1")));
  EXPECT_TRUE(PyEquals(nullptr, json(nullptr)));
  EXPECT_FALSE(PyEquals(nullptr, json(false)));
}

TEST(Timestamps, NormalizedToUtcSeconds) {
  EXPECT_EQ(NormalizeTimestamp("2026-12-06T10:00:00.5+02:00"), "2026-12-06 08:00:00");
  EXPECT_EQ(NormalizeTimestamp("2026-12-31 23:30:00-01:00"), "2027-01-01 00:30:00");
  EXPECT_EQ(NormalizeTimestamp("2026-12-06T10:00:00Z"), "2026-12-06 10:00:00");
  EXPECT_EQ(NormalizeTimestamp("yesterday"), "");
  EXPECT_EQ(NormalizeTimestamp("2026-02-30T10:00:00Z"), "");
}

}  // namespace
}  // namespace vitrage::rpc_api
