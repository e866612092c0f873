// The collector's upstream-shaped datasources through the real services:
// the synthetic cloud in OpenStack shapes (nova, neutron, cinder, zabbix
// events and notifications) and upstream's static datasource YAML. The
// graph mints its own vertex ids and stamps deletions with its own clock,
// so the check is by canonical digest (collector/upstream_events.h): the
// graph's topology (deleted elements included) against the collector's
// reference graph, built by the graph's processor library from exactly the
// events the collector sent.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdio>
#include <fstream>
#include <iterator>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "collector/upstream_events.h"
#include "graph_service/graph/proto_convert.h"
#include "integration_tests/stack.h"

namespace vitrage::testing {
namespace {

// The whole graph, deleted elements included, as the query API streams it.
absl::StatusOr<graph::Graph> FetchGraph(Stack& stack) {
  auto stub = stack.GraphStub();
  grpc::ClientContext ctx;
  v1::GetTopologyRequest req;
  req.set_include_deleted(true);
  auto reader = stub->GetTopology(&ctx, req);
  v1::TopologyBatch b;
  graph::Graph g;
  std::vector<v1::Edge> edges;
  while (reader->Read(&b)) {
    for (const auto& v : b.vertices()) {
      if (auto s = graph::AddVertexFromProto(v, &g); !s.ok()) return s;
    }
    for (const auto& e : b.edges()) edges.push_back(e);
  }
  grpc::Status st = reader->Finish();
  if (!st.ok()) return absl::UnavailableError("GetTopology: " + st.error_message());
  for (const auto& e : edges) {
    if (auto s = graph::AddEdgeFromProto(e, &g); !s.ok()) return s;
  }
  return g;
}

void ExpectGraphMatchesReference(Stack& stack, const char* when) {
  auto c = stack.CollectorStatus(/*digest=*/true);
  ASSERT_TRUE(c.ok()) << c.status();
  auto g = FetchGraph(stack);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(collector::CanonicalDigest(*g), c->model_digest())
      << when << ": graph has " << g->vertex_count() << " vertices, " << g->edge_count()
      << " edges; the collector's reference " << c->entities() << " / " << c->relationships();
  EXPECT_EQ(g->vertex_count(), c->entities()) << when;
  EXPECT_EQ(g->edge_count(), c->relationships()) << when;
  EXPECT_EQ(c->acked_source_seq(), c->last_source_seq()) << when;
  std::printf(
      "summary: %s: %zu vertices, %zu edges, %llu changes in %llu events acked, "
      "canonical digest %s\n",
      when, g->vertex_count(), g->edge_count(), static_cast<unsigned long long>(c->changes()),
      static_cast<unsigned long long>(c->acked_source_seq()),
      collector::CanonicalDigest(*g) == c->model_digest() ? "matches" : "DIFFERS");
}

TEST(CollectorSourcesTest, OpenStackShapedCloudAndNotificationsThroughTheServices) {
  StackOptions o;
  o.synthetic_hosts = 6;
  o.change_rate = 300;
  o.max_changes = 400;
  o.conf.push_back({"collector", "synthetic_format = openstack"});
  o.conf.push_back({"graph", "consistency_interval = 0"});
  Stack stack(o);
  ASSERT_TRUE(stack.Start().ok()) << stack.LogTail("graph") << stack.LogTail("collector");

  // The graph goes away (SIGTERM) while notifications flow; they wait in
  // the outbox and are re-sent to the restarted graph.
  absl::Time deadline = absl::Now() + absl::Seconds(30);
  for (;;) {
    auto c = stack.CollectorStatus();
    ASSERT_TRUE(c.ok()) << c.status();
    if (c->changes() >= 100) break;
    ASSERT_LT(absl::Now(), deadline) << stack.LogTail("collector");
    absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_EQ(stack.graph().Stop(), 0) << stack.LogTail("graph");
  absl::SleepFor(absl::Milliseconds(300));
  ASSERT_TRUE(stack.StartGraph().ok()) << stack.LogTail("graph");
  ASSERT_TRUE(stack.WaitGraphActive(absl::Seconds(60)).ok()) << stack.LogTail("graph");
  ASSERT_TRUE(stack.WaitCollectorDrained(absl::Seconds(90)).ok())
      << stack.WaitCollectorDrained(absl::Seconds(1));
  ExpectGraphMatchesReference(stack, "400 changes across a graph restart");
  auto c = stack.CollectorStatus();
  ASSERT_TRUE(c.ok());
  EXPECT_GT(c->last_source_seq(), 400u) << "some changes are several events";
  // (Whether pushes failed while the graph was down depends on timing:
  // reported, not asserted.)
  std::printf("summary: %llu pushes failed and were retried\n",
              static_cast<unsigned long long>(c->retries()));

  // The collector stops gracefully on SIGTERM and says so.
  EXPECT_EQ(stack.collector().Stop(), 0);
  std::ifstream in(stack.log("collector"));
  std::string log((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_THAT(log, ::testing::HasSubstr("synthetic OpenStack cloud: 1 zones, 6 hosts"));
  EXPECT_THAT(log, ::testing::HasSubstr("upstream-shaped events, covering source_seq"));
  EXPECT_THAT(log, ::testing::HasSubstr("stopping; 0 events still unacked"));
}

TEST(CollectorSourcesTest, StaticYamlFileThroughTheServices) {
  auto dir = MakeTempDir("collector-sources");
  ASSERT_TRUE(dir.ok());
  std::string path = *dir + "/static.yaml";
  std::ofstream(path) << R"(metadata:
  name: racks
definitions:
  entities:
    - {static_id: r1, type: router, id: router-1, name: core, state: available}
    - {static_id: s1, type: switch, id: switch-1, name: tor-1, state: available, rack: 12}
    - {static_id: s2, type: switch, id: switch-2, name: tor-2, state: error}
    - {static_id: h0, type: nova.host, id: host-0}
  relationships:
    - {source: r1, target: s1, relationship_type: contains}
    - {source: r1, target: s2, relationship_type: contains}
    - {source: s1, target: h0, relationship_type: attached}
)";
  StackOptions o;
  o.topology_file = path;
  o.conf.push_back({"graph", "consistency_interval = 0"});
  Stack stack(o);
  ASSERT_TRUE(stack.Start().ok()) << stack.LogTail("graph") << stack.LogTail("collector");
  ExpectGraphMatchesReference(stack, "after get_all");
  auto g = FetchGraph(stack);
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->vertex_count(), 4u);
  EXPECT_EQ(g->edge_count(), 3u);

  // The operator edits the file and sends SIGHUP: switch-2 recovers,
  // switch-1 goes away, a host is added (upstream's get_changes).
  std::ofstream(path) << R"(metadata:
  name: racks
definitions:
  entities:
    - {static_id: r1, type: router, id: router-1, name: core, state: available}
    - {static_id: s2, type: switch, id: switch-2, name: tor-2, state: available}
    - {static_id: h0, type: nova.host, id: host-0}
    - {static_id: h1, type: nova.host, id: host-1}
  relationships:
    - {source: r1, target: s2, relationship_type: contains}
    - {source: s2, target: h1, relationship_type: attached}
)";
  ASSERT_EQ(stack.collector().Signal(SIGHUP), 0);
  absl::Time deadline = absl::Now() + absl::Seconds(30);
  for (;;) {
    auto c = stack.CollectorStatus();
    ASSERT_TRUE(c.ok()) << c.status();
    if (c->last_source_seq() >= 3 && c->pending() == 0) break;
    ASSERT_LT(absl::Now(), deadline)
        << "reload not acked: " << c->DebugString() << stack.LogTail("collector");
    absl::SleepFor(absl::Milliseconds(50));
  }
  auto c = stack.CollectorStatus();
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->last_source_seq(), 3u) << "s2 changed, h1 new, s1 deleted";
  ExpectGraphMatchesReference(stack, "after SIGHUP");
  RemoveTree(*dir);
}

}  // namespace
}  // namespace vitrage::testing
