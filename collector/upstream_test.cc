// Upstream-shaped datasources: the static YAML file and the synthetic
// OpenStack cloud, checked against upstream's conformance corpus and
// through the graph's own processor library.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "collector/collector_service.h"
#include "collector/openstack_cloud.h"
#include "collector/static_yaml.h"
#include "collector/upstream_events.h"
#include "common/grpc_util.h"
#include "common/testing/process.h"
#include "common/testing/test_dirs.h"
#include "graph_service/graph/digest.h"
#include "graph_service/processor/processor.h"
#include "nlohmann/json.hpp"

namespace vitrage::collector {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;

// The conformance corpus kept in testdata/ and the generated workloads
// (build/workload/, make_workload).
std::string TestData(const std::string& rel) { return testing::TestDataDir() + rel; }
std::string Workload(const std::string& name) { return testing::WorkloadDir() + name; }

std::vector<json> ReadJsonLines(const std::string& path) {
  std::ifstream in(path);
  std::vector<json> out;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) out.push_back(json::parse(line));
  }
  return out;
}

class TempDir {
 public:
  TempDir() {
    auto d = testing::MakeTempDir("upstream-test");
    EXPECT_TRUE(d.ok());
    dir_ = *d;
  }
  ~TempDir() { testing::RemoveTree(dir_); }
  std::string Write(const std::string& name, const std::string& text) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

 private:
  std::string dir_;
};

// The YAML file behind the conformance scenario h_static_topology (its
// static events show every entity and relationship).
constexpr char kScenarioYaml[] = R"(metadata:
  name: h_static_topology
  description: a router, two switches and three nova hosts
definitions:
  entities:
    - static_id: r1
      type: router
      id: router-1
      name: core-router
      state: available
    - static_id: s1
      type: switch
      id: switch-1
      name: tor-1
      state: available
    - static_id: s2
      type: switch
      id: switch-2
      name: tor-2
      state: available
    - static_id: h0
      type: nova.host
      id: host-0
    - static_id: h1
      type: nova.host
      id: host-1
    - static_id: h2
      type: nova.host
      id: host-2
  relationships:
    - source: r1
      target: s1
      relationship_type: contains
    - source: r1
      target: s2
      relationship_type: contains
    - source: s1
      target: h0
      relationship_type: attached
    - source: s1
      target: h1
      relationship_type: attached
    - source: s2
      target: h2
      relationship_type: attached
)";

// An event without the parts upstream nests by reference (a relationship
// target's own relationships and event fields).
json Flatten(const json& ev) {
  json out = ev;
  out["relationships"] = json::array();
  for (const json& rel : ev["relationships"]) {
    json r = rel;
    for (const char* end : {"source", "target"}) {
      if (!r[end].is_object()) continue;
      json t = json::object();
      for (const char* k : {"static_id", "type", "id", "name", "state", "metadata"}) {
        if (r[end].contains(k)) t[k] = r[end][k];
      }
      r[end] = t;
    }
    out["relationships"].push_back(r);
  }
  return out;
}

TEST(StaticYamlTest, EmitsTheEventsOfUpstreamsStaticDriver) {
  TempDir dir;
  auto source = StaticYamlSource::Open(dir.Write("static.yaml", kScenarioYaml));
  ASSERT_TRUE(source.ok()) << source.status();
  std::vector<json> ours = (*source)->GetAll("snapshot", "2024-05-01T10:00:10Z");
  std::vector<json> theirs;
  for (const json& ev :
       ReadJsonLines(TestData("conformance/scenarios/h_static_topology.events.jsonl"))) {
    if (ev["vitrage_entity_type"] == "static" && ev["vitrage_datasource_action"] == "snapshot") {
      theirs.push_back(ev);
    }
  }
  ASSERT_EQ(ours.size(), 6u);
  ASSERT_EQ(ours.size(), theirs.size());
  for (size_t i = 0; i < ours.size(); ++i) {
    EXPECT_EQ(Flatten(ours[i]).dump(1), Flatten(theirs[i]).dump(1)) << "event " << i;
  }
}

// The scenario's events before its static ones, then `statics`: the graph
// the processor builds (conformance ids and clock), canonical digest.
std::string ScenarioDigestWith(const std::vector<json>& statics) {
  graph::Graph g;
  processor::ProcessorOptions o;
  o.id_generator = processor::ConformanceIdGenerator();
  o.clock = processor::SampleDatePlusHalfSecondClock();
  processor::Processor p(&g, o);
  v1::MapValue fields;
  for (const json& ev :
       ReadJsonLines(TestData("conformance/scenarios/h_static_topology.events.jsonl"))) {
    if (ev["vitrage_entity_type"] == "static") break;
    JsonToMapValue(ev, &fields);
    EXPECT_TRUE(p.Process(processor::EventFromMapValue(fields), nullptr).ok());
  }
  for (const json& ev : statics) {
    JsonToMapValue(ev, &fields);
    absl::Status s = p.Process(processor::EventFromMapValue(fields), nullptr);
    EXPECT_TRUE(s.ok()) << s;
  }
  return CanonicalDigest(g);
}

TEST(StaticYamlTest, GetAllThroughTheProcessorGivesUpstreamsGraph) {
  TempDir dir;
  auto source = StaticYamlSource::Open(dir.Write("static.yml", kScenarioYaml));
  ASSERT_TRUE(source.ok()) << source.status();
  CollectorService service(CollectorOptions{}, std::move(*source), nullptr);
  int port = 0;
  auto server = StartServer("127.0.0.1:0", {&service}, &port);
  ASSERT_NE(server, nullptr);
  auto stub = v1::Collector::NewStub(
      MakeChannel("127.0.0.1:" + std::to_string(port), ServerRole::kCollector));
  grpc::ClientContext ctx;
  v1::GetAllRequest req;
  req.set_action("snapshot");
  req.set_batch_size(2);
  auto reader = stub->GetAll(&ctx, req);
  v1::GetAllResponse resp;
  graph::Graph g;
  processor::Processor p(&g);
  int batches = 0, events = 0;
  while (reader->Read(&resp)) {
    ++batches;
    for (const auto& ev : resp.events()) {
      ++events;
      absl::Status s = p.Process(processor::EventFromMapValue(ev.fields()), nullptr);
      ASSERT_TRUE(s.ok()) << s;
    }
  }
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_GE(batches, 3);
  EXPECT_EQ(events, 6);
  server->Shutdown();

  // The expected elements, spelled out.
  std::set<std::string> vertices, edges;
  std::map<std::string, std::string> key_of;
  g.ForEachVertex([&](graph::Slot v) {
    const auto& props = g.VertexProps(v);
    std::string key =
        absl::StrCat(props.GetString(graph::keys::kVitrageType), ":",
                     props.GetString(graph::keys::kId), ":", props.GetString(graph::keys::kState));
    key_of[std::string(g.VertexId(v))] = key;
    vertices.insert(key);
  });
  g.ForEachEdge([&](graph::Slot e) {
    edges.insert(absl::StrCat(key_of[std::string(g.VertexId(g.EdgeSource(e)))], " -",
                              g.EdgeLabel(e), "-> ",
                              key_of[std::string(g.VertexId(g.EdgeTarget(e)))]));
  });
  EXPECT_THAT(vertices,
              ::testing::ElementsAre("nova.host:host-0:", "nova.host:host-1:", "nova.host:host-2:",
                                     "router:router-1:available", "switch:switch-1:available",
                                     "switch:switch-2:available"));
  EXPECT_THAT(edges, ::testing::ElementsAre(
                         "router:router-1:available -contains-> switch:switch-1:available",
                         "router:router-1:available -contains-> switch:switch-2:available",
                         "switch:switch-1:available -attached-> nova.host:host-0:",
                         "switch:switch-1:available -attached-> nova.host:host-1:",
                         "switch:switch-2:available -attached-> nova.host:host-2:"));
}

TEST(StaticYamlTest, ProcessedAfterTheScenariosCloudGivesUpstreamsGraph) {
  // The corpus's events up to its static snapshot, with that snapshot
  // replaced by ours: the same graph as upstream's events give.
  TempDir dir;
  auto source = StaticYamlSource::Open(dir.Write("static.yaml", kScenarioYaml));
  ASSERT_TRUE(source.ok()) << source.status();
  std::vector<json> theirs;
  for (const json& ev :
       ReadJsonLines(TestData("conformance/scenarios/h_static_topology.events.jsonl"))) {
    if (ev["vitrage_entity_type"] == "static" && ev["vitrage_datasource_action"] == "snapshot") {
      theirs.push_back(ev);
    }
  }
  std::vector<json> ours = (*source)->GetAll("snapshot", "2024-05-01T10:00:10Z");
  EXPECT_EQ(ScenarioDigestWith(ours), ScenarioDigestWith(theirs));
}

// The scenario's file after its change (meta.json): switch-2 in error,
// host-2 and its relationship gone, switch-3 added (attached to host-1),
// s1 -> h1 removed (s1 otherwise unchanged, so not sent).
constexpr char kScenarioYamlChanged[] = R"(metadata:
  name: h_static_topology
definitions:
  entities:
    - {static_id: r1, type: router, id: router-1, name: core-router, state: available}
    - {static_id: s1, type: switch, id: switch-1, name: tor-1, state: available}
    - {static_id: s2, type: switch, id: switch-2, name: tor-2, state: error}
    - {static_id: s3, type: switch, id: switch-3, name: tor-3, state: available}
    - {static_id: h0, type: nova.host, id: host-0}
    - {static_id: h1, type: nova.host, id: host-1}
  relationships:
    - {source: r1, target: s1, relationship_type: contains}
    - {source: r1, target: s2, relationship_type: contains}
    - {source: s1, target: h0, relationship_type: attached}
    - {source: s3, target: h1, relationship_type: attached}
)";

TEST(StaticYamlTest, ReloadSendsUpstreamsGetChangesAndGivesUpstreamsGraph) {
  TempDir dir;
  const std::string path = dir.Write("static.yaml", kScenarioYaml);
  auto source = StaticYamlSource::Open(path);
  ASSERT_TRUE(source.ok()) << source.status();
  std::vector<json> corpus =
      ReadJsonLines(TestData("conformance/scenarios/h_static_topology.events.jsonl"));
  ASSERT_EQ(corpus.size(), 22u);
  // Ours in place of the corpus's static events (11..16 get_all, 17..19
  // get_changes); the rest (the cloud before, nova.host after) as is.
  std::vector<json> events(corpus.begin(), corpus.begin() + 11);
  for (json& ev : (*source)->GetAll("snapshot", "2024-05-01T10:00:10Z")) events.push_back(ev);
  dir.Write("static.yaml", kScenarioYamlChanged);
  auto changes = (*source)->Reload("2024-05-01T10:00:20Z");
  ASSERT_TRUE(changes.ok()) << changes.status();
  ASSERT_EQ(changes->size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(Flatten((*changes)[i]).dump(1), Flatten(corpus[17 + i]).dump(1)) << "change " << i;
    events.push_back((*changes)[i]);
  }
  events.push_back(corpus[20]);
  events.push_back(corpus[21]);
  auto digest = [](const std::vector<json>& evs) {
    graph::Graph g;
    processor::ProcessorOptions o;
    o.id_generator = processor::ConformanceIdGenerator();
    o.clock = processor::SampleDatePlusHalfSecondClock();
    processor::Processor p(&g, o);
    v1::MapValue fields;
    for (const json& ev : evs) {
      JsonToMapValue(ev, &fields);
      absl::Status s = p.Process(processor::EventFromMapValue(fields), nullptr);
      EXPECT_TRUE(s.ok()) << s;
    }
    return std::make_pair(CanonicalDigest(g), g.vertex_count());
  };
  auto ours = digest(events), theirs = digest(corpus);
  EXPECT_EQ(ours.first, theirs.first);
  std::ifstream in(TestData("conformance/scenarios/h_static_topology.meta.json"));
  json meta;
  in >> meta;
  EXPECT_EQ(ours.second, meta["vertices"].get<size_t>());

  // Nothing changed: nothing sent. A broken file: an error, state kept.
  auto none = (*source)->Reload("2024-05-01T10:00:30Z");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  dir.Write("static.yaml", "definitions: {entities: [{static_id: x}], relationships: []}\n");
  auto bad = (*source)->Reload("2024-05-01T10:00:40Z");
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("definitions.entities[0].type"));
  EXPECT_EQ((*source)->entities().size(), 6u);
}

TEST(StaticYamlTest, MetadataKeepsYamlTypesAndSelfRelationshipsWork) {
  TempDir dir;
  // Keys upstream's schema ignores are ignored (with a warning).
  auto entities = LoadStaticYaml(dir.Write("t.yaml", R"(scenarios: []
definitions:
  entities:
    - static_id: a
      type: switch
      id: 12345
      name: sw
      state: active
      purpose: CI
      ports: 48
      managed: true
      note: "007"
  relationships:
    - source: a
      target: a
      relationship_type: monitors
      comment: watches itself
)"));
  ASSERT_TRUE(entities.ok()) << entities.status();
  ASSERT_EQ(entities->size(), 1u);
  const json& e = (*entities)[0];
  EXPECT_EQ(e["id"], "12345");
  EXPECT_EQ(e["metadata"]["ports"], 48);
  EXPECT_EQ(e["metadata"]["managed"], true);
  EXPECT_EQ(e["metadata"]["note"], "007");
  EXPECT_EQ(e["metadata"]["purpose"], "CI");
  EXPECT_EQ(e["metadata"]["name"], "sw");
  EXPECT_FALSE(e["metadata"].contains("static_id"));
  ASSERT_EQ(e["relationships"].size(), 1u);
  EXPECT_EQ(e["relationships"][0]["target"]["static_id"], "a");

  graph::Graph g;
  processor::Processor p(&g);
  v1::MapValue fields;
  JsonToMapValue(StaticYamlSource::Open(dir.Write("t2.yaml", R"(definitions:
  entities: [{static_id: a, type: switch, id: "1", state: active, ports: 48}]
  relationships: [{source: a, target: a, relationship_type: monitors}]
)"))
                     .value()
                     ->GetAll("init_snapshot", "2026-11-30T10:00:00Z")[0],
                 &fields);
  ASSERT_TRUE(p.Process(processor::EventFromMapValue(fields), nullptr).ok());
  ASSERT_EQ(g.vertex_count(), 1u);
  ASSERT_EQ(g.edge_count(), 1u);
  g.ForEachVertex(
      [&](graph::Slot v) { EXPECT_EQ(g.VertexProps(v).Find("ports")->int_value(), 48); });
}

TEST(StaticYamlTest, BadFilesNameTheLineAndTheField) {
  TempDir dir;
  struct Case {
    const char* text;
    std::vector<std::string> expect;
  };
  const Case cases[] = {
      {"definitions:\n  entities: []\n", {"line 2", "definitions.relationships", "missing"}},
      {"metadata: {name: x}\n", {"definitions", "missing"}},
      {"definitions:\n  entities:\n    - type: switch\n      id: s\n  relationships: []\n",
       {"line 3", "definitions.entities[0].static_id", "missing"}},
      {"definitions:\n  entities:\n    - static_id: a\n      type: switch\n      id: {x: 1}\n"
       "  relationships: []\n",
       {"line 5", "definitions.entities[0].id", "must be a string"}},
      {"definitions:\n  entities:\n    - {static_id: a, type: t, id: '1'}\n"
       "    - {static_id: a, type: t, id: '2'}\n  relationships: []\n",
       {"line 4", "definitions.entities[1].static_id", "duplicate static_id \"a\""}},
      {"definitions:\n  entities:\n    - {static_id: a, type: t, id: '1'}\n"
       "  relationships:\n    - source: a\n      target: b\n      relationship_type: x\n",
       {"line 6", "definitions.relationships[0].target", "no entity has static_id \"b\""}},
      {"definitions:\n  entities:\n    - {static_id: a, type: t, id: '1'}\n"
       "  relationships:\n    - {source: a, target: a}\n",
       {"line 5", "definitions.relationships[0].relationship_type", "missing"}},
      {"definitions:\n  entities: [\n    - a\n", {"line", "not YAML"}},
      {"definitoins:\n  entities: []\n",
       {"line 1", "definitions: missing (required); unknown key \"definitoins\" at line 1"}},
  };
  int n = 0;
  for (const Case& c : cases) {
    std::string path = dir.Write(absl::StrCat("bad", n++, ".yaml"), c.text);
    auto r = LoadStaticYaml(path);
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(path)) << c.text;
    for (const std::string& e : c.expect) {
      EXPECT_THAT(std::string(r.status().message()), HasSubstr(e)) << c.text;
    }
  }
  auto missing = LoadStaticYaml(dir.Write("x", "") + ".nope.yaml");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
}

// ---------------------------------------------------------------- openstack

// (entity type, event type or "None") -> the top-level keys the corpus's
// events of that kind have (union over actions), from event_fields.md; and
// for dict-valued keys their sub-keys ("a.b").
std::map<std::string, std::set<std::string>> CorpusFields() {
  std::ifstream in(TestData("conformance/event_fields.md"));
  std::map<std::string, std::set<std::string>> out;
  std::string line, kind;
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, "## ")) {
      std::vector<std::string> parts = absl::StrSplit(line.substr(3), " / ");
      std::string event_type = parts.size() > 2 ? parts[2].substr(0, parts[2].find(' ')) : "";
      kind = absl::StrCat(parts[0], " ", event_type);
    } else if (absl::StartsWith(line, "- `") && !kind.empty()) {
      size_t end = line.find('`', 3);
      out[kind].insert(line.substr(3, end - 3));
    }
  }
  return out;
}

std::string KindOf(const json& ev) {
  return absl::StrCat(ev["vitrage_entity_type"].get<std::string>(), " ",
                      ev.contains("vitrage_event_type")
                          ? ev["vitrage_event_type"].get<std::string>()
                          : std::string("None"));
}

TEST(OpenStackCloudTest, EventsHaveTheCorpusFieldNames) {
  auto corpus = CorpusFields();
  ASSERT_GT(corpus.size(), 20u);
  OpenStackCloud cloud(5, SyntheticForHosts(4));
  std::vector<json> events = cloud.GetAll("init_snapshot", "2026-11-30T10:00:00Z");
  for (int i = 0; i < 400; ++i) {
    for (json& ev : cloud.NextChange("2026-11-30T10:00:01Z")) events.push_back(std::move(ev));
  }
  std::map<std::string, int> kinds;
  for (const json& ev : events) {
    std::string kind = KindOf(ev);
    ++kinds[kind];
    auto it = corpus.find(kind);
    ASSERT_NE(it, corpus.end()) << "kind not in the corpus: " << kind;
    std::set<std::string> top;
    for (const std::string& f : it->second) top.insert(f.substr(0, f.find('.')));
    // nova notifications name their payload "nova_object.data" (a dotted key).
    for (const std::string& f : it->second) {
      if (absl::StartsWith(f, "nova_object.")) top.insert(f.substr(0, f.find('.', 12)));
    }
    std::set<std::string> ours;
    for (auto m = ev.begin(); m != ev.end(); ++m) ours.insert(m.key());
    for (const std::string& k : ours) {
      EXPECT_TRUE(top.count(k)) << kind << ": field " << k << " is not upstream's";
    }
    if (kind == "zabbix None") continue;  // corpus: init_snapshot has no name
    for (const std::string& k : top) {
      if (k == "nova_object") continue;
      EXPECT_TRUE(ours.count(k)) << kind << ": upstream's field " << k << " is missing";
    }
  }
  // Every change kind the generator documents shows up.
  for (const char* k :
       {"nova.zone None", "nova.host None", "nova.instance None", "neutron.network None",
        "neutron.port None", "cinder.volume None", "zabbix None",
        "nova.instance instance.create.end", "nova.instance instance.delete.end",
        "nova.instance instance.live_migration_post.end", "nova.instance instance.pause.end",
        "neutron.port port.create.end", "neutron.port port.update.end",
        "cinder.volume volume.attach.end", "cinder.volume volume.detach.start",
        "cinder.volume volume.detach.end", "zabbix zabbix.alarm.problem",
        "zabbix zabbix.alarm.ok"}) {
    EXPECT_GT(kinds[k], 0) << k;
  }
}

TEST(OpenStackCloudTest, SizeParametersGiveTheEntityCounts) {
  SyntheticOptions o;
  o.zones = 3;
  o.hosts = 7;
  o.instances_per_host = 2;
  o.ports_per_instance = 2;
  o.volumes_per_instance = 1;
  o.networks = 2;
  o.alarms_per_host = 3;
  OpenStackCloud cloud(1, o);
  std::map<std::string, int> n;
  for (const json& ev : cloud.GetAll("init_snapshot", "2026-11-30T10:00:00Z")) {
    ++n[ev["vitrage_entity_type"].get<std::string>()];
  }
  EXPECT_EQ(n["nova.zone"], 3);
  EXPECT_EQ(n["nova.host"], 7);
  EXPECT_EQ(n["neutron.network"], 2);
  EXPECT_EQ(n["nova.instance"], 14);
  EXPECT_EQ(n["neutron.port"], 28);
  EXPECT_EQ(n["cinder.volume"], 14);
  EXPECT_EQ(n["zabbix"], 21);
  // Through the processor: plus the OpenStack cluster vertex; edges: zone
  // in cluster, host in zone, instance on host, 2 per port, volume
  // attached, alarm on host.
  ReferenceGraph ref(1);
  v1::MapValue fields;
  for (const json& ev : cloud.GetAll("init_snapshot", "2026-11-30T10:00:00Z")) {
    JsonToMapValue(ev, &fields);
    ASSERT_TRUE(ref.Process(fields).ok());
  }
  EXPECT_EQ(ref.graph().vertex_count(), 1u + 3 + 7 + 2 + 14 + 28 + 14 + 21);
  EXPECT_EQ(ref.graph().edge_count(), 3u + 7 + 14 + 2 * 28 + 14 + 21);
}

std::string RunCloud(uint64_t seed) {
  OpenStackCloud cloud(seed, SyntheticForHosts(6));
  std::string out;
  for (const json& ev : cloud.GetAll("init_snapshot", "2026-11-30T10:00:00Z")) out += ev.dump();
  for (int i = 0; i < 500; ++i) {
    for (const json& ev : cloud.NextChange("2026-11-30T10:00:01Z")) out += ev.dump();
  }
  for (const json& ev : cloud.GetAll("snapshot", "2026-11-30T10:00:02Z")) out += ev.dump();
  return out;
}

TEST(OpenStackCloudTest, DeterministicFromTheSeed) {
  std::string a = RunCloud(42);
  EXPECT_EQ(a, RunCloud(42));
  EXPECT_NE(a, RunCloud(43));
}

// A stand-in graph for PushEvents that runs the graph's processor with the
// graph's own id and clock choices (random ids, wall clock), with the
// per-source dedupe rule; can be told to refuse.
class ProcessingReceiver final : public v1::Graph::Service {
 public:
  ProcessingReceiver() : processor_(&graph_) {}
  grpc::Status PushEvents(grpc::ServerContext*, const v1::PushEventsRequest* req,
                          v1::PushEventsResponse* resp) override {
    absl::MutexLock l(&mu_);
    if (fail_) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "recovering");
    uint32_t applied = 0, dup = 0;
    for (const auto& ev : req->events()) {
      if (ev.source_seq() != 0) {
        uint64_t& mark = marks_[ev.source()];
        if (ev.source_seq() <= mark) {
          ++dup;
          continue;
        }
        if (ev.source_seq() != mark + 1) {
          return grpc::Status(grpc::StatusCode::INTERNAL, "skipped a seq");
        }
        mark = ev.source_seq();
      }
      if (absl::Status s = processor_.Process(processor::EventFromMapValue(ev.fields()), nullptr);
          !s.ok()) {
        return ToGrpcStatus(s);
      }
      ++applied;
    }
    resp->set_applied(applied);
    resp->set_duplicates(dup);
    return grpc::Status::OK;
  }
  void set_fail(bool f) {
    absl::MutexLock l(&mu_);
    fail_ = f;
  }
  std::string canonical_digest() {
    absl::MutexLock l(&mu_);
    return CanonicalDigest(graph_);
  }
  size_t vertices() {
    absl::MutexLock l(&mu_);
    return graph_.vertex_count();
  }
  // How many vertices are marked deleted / are alarms.
  std::pair<int, int> deleted_and_alarms() {
    absl::MutexLock l(&mu_);
    int deleted = 0, alarms = 0;
    graph_.ForEachVertex([&](graph::Slot v) {
      const auto& p = graph_.VertexProps(v);
      if (p.GetBool(graph::keys::kVitrageIsDeleted)) ++deleted;
      if (p.GetString(graph::keys::kVitrageCategory) == "ALARM") ++alarms;
    });
    return {deleted, alarms};
  }

 private:
  absl::Mutex mu_;
  bool fail_ = false;
  std::map<std::string, uint64_t> marks_;
  graph::Graph graph_;
  processor::Processor processor_;
};

TEST(OpenStackCloudTest, GetAllAndChangesThroughTheProcessorEqualTheReference) {
  ProcessingReceiver receiver;
  int gport = 0;
  auto gserver = StartServer("127.0.0.1:0", {&receiver}, &gport);
  ASSERT_NE(gserver, nullptr);
  CollectorOptions opts;
  opts.outbox.batch_size = 16;
  opts.outbox.max_backoff = absl::Milliseconds(100);
  CollectorService service(opts, std::make_unique<OpenStackCloud>(9, SyntheticForHosts(8)),
                           MakeChannel("127.0.0.1:" + std::to_string(gport), ServerRole::kGraph));
  int cport = 0;
  auto cserver = StartServer("127.0.0.1:0", {&service}, &cport);
  ASSERT_NE(cserver, nullptr);

  // The graph's get_all: the events as they come, straight into the
  // receiver's processor (GetAll events carry no source).
  {
    auto stub = v1::Collector::NewStub(
        MakeChannel("127.0.0.1:" + std::to_string(cport), ServerRole::kCollector));
    grpc::ClientContext ctx;
    auto reader = stub->GetAll(&ctx, v1::GetAllRequest());
    v1::GetAllResponse resp;
    v1::PushEventsRequest all;
    while (reader->Read(&resp)) {
      for (const auto& ev : resp.events()) *all.add_events() = ev;
      if (!resp.source().empty()) {
        EXPECT_EQ(resp.covered_source_seq(), 0u);
      }
    }
    ASSERT_TRUE(reader->Finish().ok());
    grpc::ServerContext sctx;
    v1::PushEventsResponse sresp;
    ASSERT_TRUE(receiver.PushEvents(&sctx, &all, &sresp).ok());
    EXPECT_GT(all.events_size(), 100);
  }
  EXPECT_EQ(receiver.canonical_digest(), service.ReferenceDigest());

  uint64_t last = 0;
  for (int i = 0; i < 150; ++i) ASSERT_GT(last = service.GenerateChange(), 0u);
  receiver.set_fail(true);  // the graph refuses for a while: re-sends
  for (int i = 0; i < 150; ++i) ASSERT_GT(last = service.GenerateChange(), 0u);
  absl::SleepFor(absl::Milliseconds(300));
  receiver.set_fail(false);
  ASSERT_TRUE(service.outbox().WaitAcked(last, absl::Now() + absl::Seconds(30)));
  EXPECT_GT(last, 300u) << "some changes are several events";
  EXPECT_GT(service.outbox().counters().retries, 0u);

  grpc::ServerContext sctx;
  v1::CollectorStatusRequest sreq;
  sreq.set_with_digest(true);
  v1::CollectorStatus status;
  ASSERT_TRUE(service.GetStatus(&sctx, &sreq, &status).ok());
  EXPECT_EQ(status.changes(), 300u);
  EXPECT_EQ(status.entities(), receiver.vertices());
  EXPECT_EQ(receiver.canonical_digest(), status.model_digest());
  auto [deleted, alarms] = receiver.deleted_and_alarms();
  EXPECT_GT(deleted, 0) << "deleted instances and cleared alarms stay, marked deleted";
  EXPECT_GT(alarms, 0);

  // A new graph runs get_all (init_snapshot) from nothing: the reference
  // starts over with it, and GetAll covers every change made.
  ProcessingReceiver fresh;
  {
    auto stub = v1::Collector::NewStub(
        MakeChannel("127.0.0.1:" + std::to_string(cport), ServerRole::kCollector));
    grpc::ClientContext ctx;
    auto reader = stub->GetAll(&ctx, v1::GetAllRequest());
    v1::GetAllResponse resp;
    v1::PushEventsRequest all;
    while (reader->Read(&resp)) {
      for (const auto& ev : resp.events()) *all.add_events() = ev;
      if (!resp.source().empty()) {
        EXPECT_EQ(resp.covered_source_seq(), last);
      }
    }
    ASSERT_TRUE(reader->Finish().ok());
    grpc::ServerContext sctx;
    v1::PushEventsResponse sresp;
    ASSERT_TRUE(fresh.PushEvents(&sctx, &all, &sresp).ok());
  }
  EXPECT_EQ(fresh.canonical_digest(), service.ReferenceDigest());
  EXPECT_NE(fresh.canonical_digest(), receiver.canonical_digest());
  EXPECT_EQ(fresh.deleted_and_alarms().first, 0) << "get_all reports live entities only";
  service.Shutdown();
  cserver->Shutdown();
  gserver->Shutdown();
}

TEST(StaticYamlTest, ServiceReloadQueuesTheChangesAndUpdatesTheReference) {
  TempDir dir;
  const std::string path = dir.Write("static.yaml", kScenarioYaml);
  auto source = StaticYamlSource::Open(path);
  ASSERT_TRUE(source.ok());
  ProcessingReceiver receiver;
  int gport = 0;
  auto gserver = StartServer("127.0.0.1:0", {&receiver}, &gport);
  ASSERT_NE(gserver, nullptr);
  CollectorService service(CollectorOptions{}, std::move(*source),
                           MakeChannel("127.0.0.1:" + std::to_string(gport), ServerRole::kGraph));
  int cport = 0;
  auto cserver = StartServer("127.0.0.1:0", {&service}, &cport);
  {
    auto stub = v1::Collector::NewStub(
        MakeChannel("127.0.0.1:" + std::to_string(cport), ServerRole::kCollector));
    grpc::ClientContext ctx;
    auto reader = stub->GetAll(&ctx, v1::GetAllRequest());
    v1::GetAllResponse resp;
    v1::PushEventsRequest all;
    while (reader->Read(&resp)) {
      for (const auto& ev : resp.events()) *all.add_events() = ev;
    }
    ASSERT_TRUE(reader->Finish().ok());
    grpc::ServerContext sctx;
    v1::PushEventsResponse sresp;
    ASSERT_TRUE(receiver.PushEvents(&sctx, &all, &sresp).ok());
  }
  const std::string before = service.ReferenceDigest();
  EXPECT_EQ(receiver.canonical_digest(), before);
  dir.Write("static.yaml", kScenarioYamlChanged);
  auto n = service.Reload();
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 3u);
  ASSERT_TRUE(service.outbox().WaitAcked(3, absl::Now() + absl::Seconds(30)));
  EXPECT_NE(service.ReferenceDigest(), before);
  EXPECT_EQ(receiver.canonical_digest(), service.ReferenceDigest());
  EXPECT_EQ(receiver.deleted_and_alarms().first, 1) << "host-2 is marked deleted";
  // A bad file changes nothing.
  dir.Write("static.yaml", "definitions: [\n");
  EXPECT_EQ(service.Reload().status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(service.outbox().counters().last_seq, 3u);
  service.Shutdown();
  cserver->Shutdown();
  gserver->Shutdown();

  CollectorService cloud(CollectorOptions{},
                         std::make_unique<OpenStackCloud>(1, SyntheticForHosts(2)), nullptr);
  EXPECT_EQ(cloud.Reload().status().code(), absl::StatusCode::kFailedPrecondition);
  cloud.Shutdown();
}

TEST(OpenStackCloudTest, StaticSourceMakesNoChangesAndTailIsRefused) {
  TempDir dir;
  auto source = StaticYamlSource::Open(dir.Write("s.yaml", kScenarioYaml));
  ASSERT_TRUE(source.ok());
  CollectorService service(CollectorOptions{}, std::move(*source), nullptr);
  EXPECT_EQ(service.GenerateChange(), 0u);
  EXPECT_EQ(service.StartTail(Workload("events_1k_1000.jsonl.zst")).code(),
            absl::StatusCode::kFailedPrecondition);
  service.Shutdown();
}

// The issue's "GetAll of a 10k-vertex file reproduces that file's digest
// after processing": through the graph's processor (pass-through
// transformer), not the collector's own decoder.
TEST(WorkloadGetAllTest, TenKFileThroughTheGraphsProcessorReproducesItsDigest) {
  auto model = std::make_unique<Model>(1);
  ASSERT_TRUE(model->LoadTopologyFile(Workload("graph_10k.jsonl.zst")).ok());
  CollectorService service(CollectorOptions{}, std::move(model), nullptr);
  int port = 0;
  auto server = StartServer("127.0.0.1:0", {&service}, &port);
  ASSERT_NE(server, nullptr);
  auto stub = v1::Collector::NewStub(
      MakeChannel("127.0.0.1:" + std::to_string(port), ServerRole::kCollector));
  grpc::ClientContext ctx;
  auto reader = stub->GetAll(&ctx, v1::GetAllRequest());
  v1::GetAllResponse resp;
  graph::Graph g;
  processor::Processor p(&g);
  while (reader->Read(&resp)) {
    for (const auto& ev : resp.events()) {
      absl::Status s = p.Process(processor::EventFromMapValue(ev.fields()), nullptr);
      ASSERT_TRUE(s.ok()) << s;
    }
  }
  ASSERT_TRUE(reader->Finish().ok());
  std::ifstream in(Workload("graph_10k.meta.json"));
  json meta;
  in >> meta;
  EXPECT_EQ(g.vertex_count(), meta["vertices"].get<size_t>());
  EXPECT_EQ(g.edge_count(), meta["edges"].get<size_t>());
  EXPECT_EQ(graph::Digest(g), meta["digest"].get<std::string>());
  server->Shutdown();
}

}  // namespace
}  // namespace vitrage::collector
