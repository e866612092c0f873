#include "graph_service/graph/graph.h"

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "graph_service/graph/digest.h"
#include "graph_service/graph/proto_convert.h"
#include "gtest/gtest.h"

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

// Properties is one pointer to a block (the graph keeps one per element);
// the block holds live heap strings, which must be copied, moved, erased
// and sorted without leaks or double frees (ASan runs this test).
TEST(PropertiesTest, OnePointerHoldsSortedMembersThroughEveryOperation) {
  static_assert(sizeof(Properties) == sizeof(void*), "a graph element pays one pointer");
  const std::string long_a(40, 'a'), long_b(40, 'b');
  Properties p;
  EXPECT_TRUE(p.empty());
  EXPECT_EQ(p.capacity(), 0u);  // no block while empty
  EXPECT_EQ(p.HeapBytes(), 0u);
  const KeyId k1 = InternKey("props_test_k1"), k2 = InternKey("props_test_k2"),
              k3 = InternKey("props_test_k3"), k4 = InternKey("props_test_k4");
  // Out of key order: inserts in the middle move the members up.
  EXPECT_TRUE(p.Set(k3, Value::String(long_a)));
  EXPECT_TRUE(p.Set(k1, Value::Int(1)));
  EXPECT_TRUE(p.Set(k4, Value::String("x")));
  EXPECT_TRUE(p.Set(k2, Value::String(long_b)));
  EXPECT_FALSE(p.Set(k2, Value::String(long_b)));  // unchanged
  ASSERT_EQ(p.size(), 4u);
  std::vector<KeyId> order;
  for (const auto& [k, v] : p) order.push_back(k);
  EXPECT_TRUE(std::is_sorted(order.begin(), order.end()));
  EXPECT_EQ(p.GetString(k3), long_a);
  EXPECT_EQ(p.Find(k1)->int_value(), 1);
  EXPECT_EQ(p.Find(InternKey("props_test_absent")), nullptr);

  Properties copy = p;  // shares the values, owns its block
  EXPECT_EQ(copy, p);
  EXPECT_TRUE(copy.Erase(k2));
  EXPECT_FALSE(copy.Erase(k2));
  EXPECT_EQ(copy.size(), 3u);
  EXPECT_EQ(p.size(), 4u);
  EXPECT_EQ(p.GetString(k2), long_b);
  EXPECT_NE(copy, p);
  copy = p;
  EXPECT_EQ(copy, p);

  Properties moved = std::move(copy);
  EXPECT_TRUE(copy.empty());  // NOLINT(bugprone-use-after-move): moved-from is empty
  EXPECT_EQ(moved, p);

  // Unsorted appends with a duplicate: the last one wins.
  Properties built;
  built.Reserve(2);
  built.AppendUnsorted(k4, Value::String("x"));
  built.AppendUnsorted(k2, Value::String("stale"));
  built.AppendUnsorted(k1, Value::Int(1));  // grows past the reservation
  built.AppendUnsorted(k3, Value::String(long_a));
  built.AppendUnsorted(k2, Value::String(long_b));
  built.SortAndDedupe();
  EXPECT_EQ(built, p);
  EXPECT_GE(built.capacity(), 5u);
  built.ShrinkToFit();
  EXPECT_EQ(built.capacity(), 4u);
  EXPECT_EQ(built, p);

  std::vector<MapEntry> items = built.TakeItems();
  EXPECT_TRUE(built.empty());
  EXPECT_EQ(items.size(), 4u);
  Properties adopted;
  adopted.Adopt(std::move(items));
  adopted.SortAndDedupe();
  EXPECT_EQ(adopted, p);
  adopted.Clear();
  EXPECT_EQ(adopted.capacity(), 0u);
}

// A vertex keeps its out and in edges in one vector (out first): each list
// keeps the order its edges were added in through removals, and a
// self-loop is in both.
TEST(GraphTest, OutAndInEdgesKeepTheirOrderThroughRemovals) {
  Graph g;
  for (const char* id : {"a", "b", "c", "d", "e", "f"}) ASSERT_TRUE(g.AddVertex(id, {}).ok());
  auto ids = [&](absl::Span<const Slot> edges, bool targets) {
    std::string out;
    for (Slot e : edges)
      absl::StrAppend(&out, g.VertexId(targets ? g.EdgeTarget(e) : g.EdgeSource(e)));
    return out;
  };
  const Slot a = g.FindVertex("a");
  // Interleaved so that an out edge is inserted before in edges.
  ASSERT_TRUE(g.AddEdge("e", "a", "l", {}).ok());
  ASSERT_TRUE(g.AddEdge("a", "b", "l", {}).ok());
  ASSERT_TRUE(g.AddEdge("f", "a", "l", {}).ok());
  ASSERT_TRUE(g.AddEdge("a", "c", "l", {}).ok());
  ASSERT_TRUE(g.AddEdge("a", "a", "l", {}).ok());
  ASSERT_TRUE(g.AddEdge("a", "d", "l", {}).ok());
  ASSERT_TRUE(g.AddEdge("b", "a", "l", {}).ok());
  EXPECT_EQ(ids(g.OutEdges(a), true), "bcad");
  EXPECT_EQ(ids(g.InEdges(a), false), "efab");
  ASSERT_TRUE(g.RemoveEdge("a", "c", "l").ok());
  ASSERT_TRUE(g.RemoveEdge("f", "a", "l").ok());
  EXPECT_EQ(ids(g.OutEdges(a), true), "bad");
  EXPECT_EQ(ids(g.InEdges(a), false), "eab");
  ASSERT_TRUE(g.RemoveEdge("a", "a", "l").ok());  // from both lists
  EXPECT_EQ(ids(g.OutEdges(a), true), "bd");
  EXPECT_EQ(ids(g.InEdges(a), false), "eb");
  EXPECT_EQ(ids(g.OutEdges(g.FindVertex("b")), true), "a");
  EXPECT_EQ(ids(g.InEdges(g.FindVertex("b")), false), "a");
  ASSERT_TRUE(g.AddEdge("a", "a", "l", {}).ok());
  ASSERT_TRUE(g.RemoveVertex("a").ok());  // with its edges, the self-loop once
  EXPECT_EQ(g.edge_count(), 0u);
  EXPECT_TRUE(g.OutEdges(g.FindVertex("b")).empty());
  EXPECT_TRUE(g.InEdges(g.FindVertex("d")).empty());
}

// A graph reserved for a load keeps room for a quarter more elements: the
// records of a replayed tail do not move every vertex and edge record to
// a new buffer while the old one is held (a peak of ~90 MB at 1M).
TEST(GraphTest, ReserveLeavesRoomForATailWithoutMovingRecords) {
  Graph g;
  g.Reserve(100, 100);
  for (int i = 0; i < 100; ++i) {
    ASSERT_NE(g.LoadVertex(Value::String("v" + std::to_string(i)), Properties()), kNoSlot);
  }
  for (int i = 1; i < 100; ++i) ASSERT_TRUE(g.LoadEdge(0, i, InternKey("contains"), {}));
  ASSERT_TRUE(g.LoadEdge(1, 0, InternKey("contains"), {}));
  const Properties* vertex0 = &g.VertexProps(0);
  const Properties* edge0 = &g.EdgeProps(0);
  for (int i = 100; i < 125; ++i) {
    ASSERT_TRUE(g.AddVertex("v" + std::to_string(i), Properties()).ok());
    ASSERT_TRUE(g.AddEdge("v0", "v" + std::to_string(i), "contains", Properties()).ok());
  }
  EXPECT_EQ(&g.VertexProps(0), vertex0) << "the vertex records moved";
  EXPECT_EQ(&g.EdgeProps(0), edge0) << "the edge records moved";
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
  ASSERT_TRUE(
      g.AddEdge("z", "h", "contains", P({{"relationship_type", Value::String("contains")}})).ok());
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

// Two strings "<prefix><n>" whose 32-bit index hashes (`hash`) are equal
// (a birthday search: about 80,000 tries).
template <typename HashFn>
std::pair<std::string, std::string> Colliding(const std::string& prefix, HashFn hash) {
  absl::flat_hash_map<uint32_t, std::string> seen;
  for (int n = 0;; ++n) {
    std::string s = prefix + std::to_string(n);
    auto [it, added] = seen.emplace(hash(s), s);
    if (!added) return {it->second, s};
  }
}

TEST(GraphTest, NaturalKeysThatShareTheIndexHashOrTheKey) {
  auto [x, y] = Colliding("host-", [](const std::string& s) {
    return Graph::NaturalIndexHash("RESOURCE", "nova.host", s);
  });
  Graph g;
  // Three vertices with natural key x (a deleted one and its successors),
  // one with y (same 32 bits, another key); removed in every position.
  ASSERT_TRUE(g.AddVertex("x1", Resource("nova.host", x.c_str())).ok());
  ASSERT_TRUE(g.AddVertex("y1", Resource("nova.host", y.c_str())).ok());
  ASSERT_TRUE(g.AddVertex("x2", Resource("nova.host", x.c_str())).ok());
  ASSERT_TRUE(g.AddVertex("x3", Resource("nova.host", x.c_str())).ok());
  auto ids = [&](const std::string& id) {
    std::vector<std::string> out;
    for (Slot s : g.FindByNaturalKey("RESOURCE", "nova.host", id)) out.emplace_back(g.VertexId(s));
    std::sort(out.begin(), out.end());
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(ids(x), (V{"x1", "x2", "x3"}));
  EXPECT_EQ(ids(y), (V{"y1"}));
  ASSERT_TRUE(g.RemoveVertex("x1").ok());  // the first one indexed
  EXPECT_EQ(ids(x), (V{"x2", "x3"}));
  EXPECT_EQ(ids(y), (V{"y1"}));
  ASSERT_TRUE(g.RemoveVertex("x3").ok());
  EXPECT_EQ(ids(x), (V{"x2"}));
  ASSERT_TRUE(g.RemoveVertex("y1").ok());
  EXPECT_EQ(ids(x), (V{"x2"}));
  EXPECT_TRUE(ids(y).empty());
  ASSERT_TRUE(g.UpdateVertex("x2", P({{"id", Value::String(y)}}), {}).ok());
  EXPECT_TRUE(ids(x).empty());
  EXPECT_EQ(ids(y), (V{"x2"}));
  ASSERT_TRUE(g.RemoveVertex("x2").ok());
  EXPECT_TRUE(ids(y).empty());
}

// The indexes against a plain model, through adds, removals (slot reuse),
// natural-key changes, copies and moves.
TEST(GraphTest, IndexesMatchAModelThroughChurn) {
  Graph g;
  std::map<std::string, std::string> model;  // vertex id -> natural id
  uint64_t state = 12345;
  auto next = [&] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return state >> 33;
  };
  auto check = [&](const Graph& h) {
    ASSERT_EQ(h.vertex_count(), model.size());
    std::map<std::string, std::vector<std::string>> by_natural;
    for (const auto& [id, nat] : model) by_natural[nat].push_back(id);
    for (const auto& [id, nat] : model) {
      const Slot s = h.FindVertex(id);
      ASSERT_NE(s, kNoSlot) << id;
      EXPECT_EQ(h.VertexId(s), id);
    }
    for (const auto& [nat, want] : by_natural) {
      std::vector<std::string> got;
      for (Slot s : h.FindByNaturalKey("RESOURCE", "t", nat)) got.emplace_back(h.VertexId(s));
      std::sort(got.begin(), got.end());
      EXPECT_EQ(got, want) << nat;
    }
  };
  for (int round = 0; round < 20000; ++round) {
    const std::string id = absl::StrCat("v", next() % 600);
    const std::string nat = absl::StrCat("n", next() % 150);
    auto it = model.find(id);
    const int op = static_cast<int>(next() % 3);
    if (it == model.end()) {
      ASSERT_TRUE(g.AddVertex(id, Resource("t", nat.c_str())).ok());
      model[id] = nat;
    } else if (op == 0) {
      ASSERT_TRUE(g.RemoveVertex(id).ok());
      model.erase(it);
    } else {
      ASSERT_TRUE(g.UpdateVertex(id, P({{"id", Value::String(nat)}}), {}).ok());
      it->second = nat;
    }
    if (round % 5000 == 4999) {
      check(g);
      Graph copy = g;
      check(copy);
      Graph moved = std::move(copy);
      check(moved);
    }
  }
  check(g);
}

TEST(GraphTest, IdsOfEveryLengthAroundTheInlineLimit) {
  // Short (inline in the Value) and long (shared) ids: found, not confused
  // with their prefixes or extensions, and still found in a copy after the
  // original is gone.
  std::vector<std::string> ids;
  for (size_t n : {1, 2, 35, 36, 38, 39, 40, 41, 64, 200}) {
    ids.push_back(std::string(n, 'x') + std::to_string(n));
    ids.back().resize(n);
    ids.back().back() = static_cast<char>('a' + n % 26);
  }
  auto g = std::make_unique<Graph>();
  for (const std::string& id : ids) ASSERT_TRUE(g->AddVertex(id, Properties()).ok()) << id;
  EXPECT_EQ(g->AddVertex(ids[7], Properties()).code(), absl::StatusCode::kAlreadyExists);
  for (const std::string& id : ids) {
    Slot s = g->FindVertex(id);
    ASSERT_NE(s, kNoSlot) << id.size();
    EXPECT_EQ(g->VertexId(s), id);
    // A prefix or an extension of an id is another id.
    EXPECT_FALSE(g->HasVertex(id + "!"));
    if (id.size() > 1) {
      EXPECT_FALSE(g->HasVertex(id.substr(0, id.size() - 1)));
    }
  }
  Graph copy = *g;
  g.reset();
  for (const std::string& id : ids) EXPECT_TRUE(copy.HasVertex(id)) << id.size();
  ASSERT_TRUE(copy.RemoveVertex(ids[8]).ok());
  EXPECT_FALSE(copy.HasVertex(ids[8]));
  ASSERT_TRUE(copy.AddVertex(ids[8], Properties()).ok());
  EXPECT_TRUE(copy.HasVertex(ids[8]));
  EXPECT_EQ(copy.vertex_count(), ids.size());
}

// VertexLookahead is a hint: applying a run of deltas with it gives the same
// graph as without, also when the items ahead remove, re-add or clear the
// vertices it has already looked up.
TEST(GraphTest, VertexLookaheadChangesNothing) {
  Graph base;
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(
        base.AddVertex("vertex-" + std::to_string(i), Resource("t", std::to_string(i).c_str()))
            .ok());
  }
  // Items: updates of vertices, with removals and re-adds of the vertices
  // a few items later will update, and a reset (Clear) in the middle.
  struct Item {
    v1::GraphDelta delta;
    bool clear = false;
  };
  std::vector<Item> items;
  Graph scratch = base;
  for (int k = 0; k < 200; ++k) {
    Item it;
    std::string id = "vertex-" + std::to_string((k * 7) % 50);
    if (k == 120) {
      it.clear = true;
      scratch.Clear();
    } else if (k % 11 == 5 && scratch.HasVertex(id)) {
      ASSERT_TRUE(scratch.RemoveVertex(id, &it.delta).ok());
    } else if (!scratch.HasVertex(id)) {
      ASSERT_TRUE(scratch.AddVertex(id, Resource("t", id.c_str()), &it.delta).ok());
    } else {
      ASSERT_TRUE(scratch
                      .UpdateVertex(id, P({{"state", Value::String("s" + std::to_string(k))}}), {},
                                    &it.delta)
                      .ok());
    }
    items.push_back(std::move(it));
  }
  auto run = [&](bool lookahead, int batch) {
    Graph g = base;
    for (size_t start = 0; start < items.size(); start += batch) {
      const int n = static_cast<int>(std::min(items.size() - start, size_t(batch)));
      VertexLookahead ahead(&g);
      for (int i = 0; i < n; ++i) {
        if (lookahead) {
          ahead.Before(
              i, n, [&](int j) { return VertexLookahead::FirstVertexId(items[start + j].delta); });
        }
        const Item& it = items[start + i];
        if (it.clear) g.Clear();
        EXPECT_TRUE(g.ApplyDelta(it.delta).ok()) << "item " << start + i;
      }
    }
    return Digest(g);
  };
  const std::string want = Digest(scratch);
  EXPECT_EQ(run(false, 200), want);
  for (int batch : {1, 3, 9, 16, 200}) EXPECT_EQ(run(true, batch), want) << "batch " << batch;
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
