#include "graph_service/graph/graph.h"

#include <string>

#include "gtest/gtest.h"
#include "graph_service/graph/digest.h"
#include "graph_service/graph/proto_convert.h"

namespace vitrage::graph {
namespace {

Properties P(std::initializer_list<std::pair<const char*, Value>> kv) {
  Properties p;
  for (const auto& [k, v] : kv) p.Set(InternKey(k), v);
  return p;
}

Properties Resource(const char* type, const char* id) {
  return P({{"vitrage_category", Value::String("RESOURCE")},
            {"vitrage_type", Value::String(type)},
            {"id", Value::String(id)},
            {"vitrage_is_deleted", Value::Bool(false)}});
}

TEST(ValueTest, SmallAndLargeStringsCompareByContent) {
  Value a = Value::String("short");
  Value b = Value::String("a string longer than fourteen bytes");
  Value c = Value::String("a string longer than fourteen bytes", /*intern=*/true);
  EXPECT_EQ(a.string_value(), "short");
  EXPECT_EQ(b, c);
  EXPECT_NE(a, b);
  Value d = b;
  EXPECT_EQ(d.string_value(), "a string longer than fourteen bytes");
  EXPECT_NE(Value::Int(1), Value::Double(1.0));
  EXPECT_EQ(Value::List({Value::Int(1), Value::Null()}),
            Value::List({Value::Int(1), Value::Null()}));
}

TEST(GraphTest, AddFindUpdateRemoveVertex) {
  Graph g;
  ASSERT_TRUE(g.AddVertex("v1", Resource("nova.host", "h1")).ok());
  EXPECT_EQ(g.AddVertex("v1", Properties()).code(), absl::StatusCode::kAlreadyExists);
  Slot s = g.FindVertex("v1");
  ASSERT_NE(s, kNoSlot);
  EXPECT_EQ(g.VertexProps(s).GetString(keys::kId), "h1");
  EXPECT_EQ(g.FindByNaturalKey("RESOURCE", "nova.host", "h1").size(), 1u);

  v1::GraphDelta d;
  ASSERT_TRUE(g.UpdateVertex("v1", P({{"id", Value::String("h2")}, {"state", Value::String("ok")}}),
                             {InternKey("vitrage_is_deleted")}, &d)
                  .ok());
  ASSERT_EQ(d.changes_size(), 1);
  EXPECT_EQ(d.changes(0).vertex().set_size(), 2);
  EXPECT_EQ(d.changes(0).vertex().removed_keys(0), "vitrage_is_deleted");
  EXPECT_TRUE(g.FindByNaturalKey("RESOURCE", "nova.host", "h1").empty());
  EXPECT_EQ(g.FindByNaturalKey("RESOURCE", "nova.host", "h2").size(), 1u);

  // No-op update records nothing.
  d.Clear();
  ASSERT_TRUE(g.UpdateVertex("v1", P({{"state", Value::String("ok")}}), {}, &d).ok());
  EXPECT_EQ(d.changes_size(), 0);

  EXPECT_EQ(g.UpdateVertex("nope", Properties(), {}).code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(g.RemoveVertex("v1").ok());
  EXPECT_EQ(g.vertex_count(), 0u);
  EXPECT_TRUE(g.FindByNaturalKey("RESOURCE", "nova.host", "h2").empty());
}

TEST(GraphTest, EdgesNeighborsAlarmsTopology) {
  Graph g;
  ASSERT_TRUE(g.AddVertex("z", Resource("nova.zone", "z")).ok());
  ASSERT_TRUE(g.AddVertex("h", Resource("nova.host", "h")).ok());
  ASSERT_TRUE(g.AddVertex("i", Resource("nova.instance", "i")).ok());
  ASSERT_TRUE(g.AddVertex("a", P({{"vitrage_category", Value::String("ALARM")},
                                  {"vitrage_type", Value::String("zabbix")}}))
                  .ok());
  ASSERT_TRUE(g.AddEdge("z", "h", "contains", P({{"relationship_type", Value::String("contains")}})).ok());
  ASSERT_TRUE(g.AddEdge("h", "i", "contains", Properties()).ok());
  ASSERT_TRUE(g.AddEdge("a", "h", "on", Properties()).ok());
  EXPECT_EQ(g.AddEdge("h", "x", "on", Properties()).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(g.AddEdge("z", "h", "contains", Properties()).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(g.edge_count(), 3u);

  Slot h = g.FindVertex("h");
  EXPECT_EQ(g.Neighbors(h, EdgeFilter()).size(), 3u);
  EdgeFilter f;
  f.label = "contains";
  f.direction = EdgeFilter::kOut;
  auto n = g.Neighbors(h, f);
  ASSERT_EQ(n.size(), 1u);
  EXPECT_EQ(g.VertexId(n[0]), "i");
  auto alarms = g.Alarms(h);
  ASSERT_EQ(alarms.size(), 1u);
  EXPECT_EQ(g.VertexId(alarms[0]), "a");

  Subgraph sg;
  TopologyQuery q;
  q.root_id = "z";
  q.depth = 1;
  ASSERT_TRUE(g.Topology(q, &sg).ok());
  EXPECT_EQ(sg.vertices.size(), 2u);
  EXPECT_EQ(sg.edges.size(), 1u);
  q.depth = 0;
  ASSERT_TRUE(g.Topology(q, &sg).ok());
  EXPECT_EQ(sg.vertices.size(), 4u);
  q = TopologyQuery();
  q.vitrage_types = {"nova.host", "nova.instance"};
  ASSERT_TRUE(g.Topology(q, &sg).ok());
  EXPECT_EQ(sg.vertices.size(), 2u);
  EXPECT_EQ(sg.edges.size(), 1u);
  q.root_id = "missing";
  EXPECT_EQ(g.Topology(q, &sg).code(), absl::StatusCode::kNotFound);

  v1::GraphDelta d;
  ASSERT_TRUE(g.RemoveVertex("h", &d).ok());
  EXPECT_EQ(d.changes_size(), 4);  // 3 edges, then the vertex
  EXPECT_TRUE(d.changes(3).has_vertex());
  EXPECT_EQ(g.edge_count(), 0u);
}

TEST(GraphTest, DeltaReproducesMutations) {
  Graph before;
  ASSERT_TRUE(before.AddVertex("a", Resource("t", "a")).ok());
  ASSERT_TRUE(before.AddVertex("b", Resource("t", "b")).ok());
  ASSERT_TRUE(before.AddEdge("a", "b", "l", Properties()).ok());
  Graph after = before;
  v1::GraphDelta d;
  ASSERT_TRUE(after.AddVertex("c", Resource("t", "c"), &d).ok());
  ASSERT_TRUE(after.AddEdge("c", "a", "x", P({{"k", Value::Int(1)}}), &d).ok());
  ASSERT_TRUE(after.UpdateEdge("a", "b", "l", P({{"k", Value::Double(2.5)}}), {}, &d).ok());
  ASSERT_TRUE(after.RemoveVertex("b", &d).ok());
  ASSERT_TRUE(after.UpdateVertex("a", P({{"m", Value::String("x")}}), {InternKey("id")}, &d).ok());
  Graph replay = before;
  ASSERT_TRUE(replay.ApplyDelta(d).ok());
  EXPECT_EQ(Digest(replay), Digest(after));
  EXPECT_NE(Digest(replay), Digest(before));
}

TEST(GraphTest, ApplyDeltaFailureRollsBack) {
  Graph g;
  ASSERT_TRUE(g.AddVertex("a", Resource("t", "a")).ok());
  ASSERT_TRUE(g.AddVertex("b", Resource("t", "b")).ok());
  ASSERT_TRUE(g.AddEdge("a", "b", "l", P({{"p", Value::Int(1)}})).ok());
  std::string before = Digest(g);

  v1::GraphDelta d;
  Graph scratch = g;
  ASSERT_TRUE(scratch.UpdateVertex("a", P({{"s", Value::String("x")}}), {}, &d).ok());
  ASSERT_TRUE(scratch.RemoveVertex("b", &d).ok());
  ASSERT_TRUE(scratch.AddVertex("c", Properties(), &d).ok());
  ASSERT_TRUE(scratch.AddEdge("c", "a", "m", Properties(), &d).ok());
  // Then a bad change: update of a missing vertex.
  auto* bad = d.add_changes()->mutable_vertex();
  bad->set_vertex_id("ghost");
  bad->set_kind(v1::UPDATED);

  absl::Status st = g.ApplyDelta(d);
  EXPECT_EQ(st.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(st.message().find("ghost"), std::string::npos);
  EXPECT_NE(st.message().find("change 5"), std::string::npos) << st;
  EXPECT_EQ(Digest(g), before);
  EXPECT_EQ(g.vertex_count(), 2u);
  EXPECT_EQ(g.edge_count(), 1u);
  EXPECT_NE(g.FindEdge("a", "b", "l"), kNoSlot);
}

TEST(GraphTest, ApplyDeltaRejectsBadChanges) {
  Graph g;
  ASSERT_TRUE(g.AddVertex("a", Properties()).ok());
  v1::GraphDelta d;
  auto* v = d.add_changes()->mutable_vertex();
  v->set_vertex_id("a");
  v->set_kind(v1::ADDED);
  EXPECT_EQ(g.ApplyDelta(d).code(), absl::StatusCode::kAlreadyExists);
  d.Clear();
  auto* e = d.add_changes()->mutable_edge();
  e->set_source_id("a");
  e->set_target_id("zz");
  e->set_label("on");
  e->set_kind(v1::ADDED);
  absl::Status st = g.ApplyDelta(d);
  EXPECT_EQ(st.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(st.message().find("zz"), std::string::npos);
  d.Clear();
  d.add_changes()->mutable_vertex()->set_vertex_id("a");
  EXPECT_EQ(g.ApplyDelta(d).code(), absl::StatusCode::kInvalidArgument);
}

TEST(GraphTest, CopiesAreIndependent) {
  Graph g;
  ASSERT_TRUE(g.AddVertex("a-long-vertex-identifier-0001", Resource("t", "a")).ok());
  Graph copy = g;
  ASSERT_TRUE(g.RemoveVertex("a-long-vertex-identifier-0001").ok());
  ASSERT_TRUE(g.AddVertex("b", Properties()).ok());
  EXPECT_TRUE(copy.HasVertex("a-long-vertex-identifier-0001"));
  EXPECT_FALSE(copy.HasVertex("b"));
  EXPECT_EQ(copy.FindByNaturalKey("RESOURCE", "t", "a").size(), 1u);
}

TEST(ProtoConvertTest, VertexRoundTrip) {
  Graph g;
  Properties p = P({{"s", Value::String("x")},
                    {"i", Value::Int(-3)},
                    {"d", Value::Double(0.5)},
                    {"n", Value::Null()},
                    {"l", Value::List({Value::String("a"), Value::Bool(true)})},
                    {"m", Value::Map({{InternKey("k"), Value::Int(1)}})}});
  ASSERT_TRUE(g.AddVertex("v", p).ok());
  v1::Vertex pv;
  VertexToProto(g, g.FindVertex("v"), &pv);
  Graph g2;
  ASSERT_TRUE(AddVertexFromProto(pv, &g2).ok());
  EXPECT_EQ(g2.VertexProps(g2.FindVertex("v")), p);
}

}  // namespace
}  // namespace vitrage::graph
