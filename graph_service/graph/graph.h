// The entity graph: a property multigraph of vertices keyed by vitrage_id
// and directed edges keyed by (source id, target id, label).
//
// Storage: vertices and edges live in slot vectors; a slot number (Slot) is a
// cheap handle that stays valid until that element is removed (slots are
// reused after removal). Indexes: vertex id -> slot, (source, target, label)
// -> edge slot, natural key (vitrage_category, vitrage_type, id) -> vertex
// slots, and per-vertex in/out adjacency.
//
// Mutations come in two flavours:
//   * AddVertex/UpdateVertex/RemoveVertex/AddEdge/UpdateEdge/RemoveEdge:
//     validate, apply, and append what they actually changed to an optional
//     v1::GraphDelta (the processor's path: the delta it returns is exactly
//     what was applied, so ApplyDelta(delta) on a copy of the graph before
//     the event reproduces the graph after it).
//   * ApplyDelta: the replay path. All-or-nothing: on error the graph is
//     rolled back to its state before the call.
//
// Thread safety: a Graph needs external synchronization. Copies are
// independent (values are shared immutable objects with atomic reference
// counts), so a copy can be handed to another thread.
#ifndef VITRAGE_GRAPH_SERVICE_GRAPH_GRAPH_H_
#define VITRAGE_GRAPH_SERVICE_GRAPH_GRAPH_H_

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "graph_service/graph/value.h"
#include "vitrage/v1/graph_types.pb.h"

namespace vitrage::graph {

using Slot = uint32_t;
inline constexpr Slot kNoSlot = ~Slot{0};

// Which edges a neighbour query follows.
struct EdgeFilter {
  enum Direction { kOut, kIn, kBoth };
  Direction direction = kBoth;
  // Only edges with this label (relationship_type); empty: any.
  std::string label;
  // Also follow edges (and return vertices) marked vitrage_is_deleted.
  bool include_deleted = false;
};

// A topology query (the query API's GetTopology).
struct TopologyQuery {
  // Only vertices of these vitrage_types; empty: all types.
  std::vector<std::string> vitrage_types;
  // When non-empty: only the part reachable from this vertex, ignoring edge
  // direction, within `depth` hops (0: unlimited).
  std::string root_id;
  uint32_t depth = 0;
  // Include vertices and edges marked vitrage_is_deleted.
  bool include_deleted = false;
};

// The result of a topology query: vertex and edge slots. Edges are those
// whose both ends are in `vertices`.
struct Subgraph {
  std::vector<Slot> vertices;
  std::vector<Slot> edges;
};

class Graph {
 public:
  Graph();
  Graph(const Graph&);
  Graph& operator=(const Graph&);
  Graph(Graph&&) noexcept;
  Graph& operator=(Graph&&) noexcept;
  ~Graph();

  size_t vertex_count() const { return vertex_index_.size(); }
  size_t edge_count() const { return edge_index_.size(); }

  // Pre-sizes the indexes for a load of about this many elements (the
  // slot vectors with room for a quarter more).
  void Reserve(size_t vertices, size_t edges);

  // ------------------------------------------------------------- vertices

  // Returns the slot of vertex `id`, or kNoSlot.
  Slot FindVertex(absl::string_view id) const;
  bool HasVertex(absl::string_view id) const { return FindVertex(id) != kNoSlot; }
  // Starts loading the index entry FindVertex(id) reads, without waiting
  // for it (a hint for callers that know a lookup is coming; changes
  // nothing, so it may run under a reader lock).
  void PrefetchVertex(absl::string_view id) const { vertex_index_.prefetch(id); }
  // Starts loading, one step per call, what an update of vertex `v` reads:
  // step 0 its record, 1 its property members, 2 the values they point to.
  // Each step reads what the step before loaded, so a caller issues them
  // for a vertex some events ahead of the one it processes, a few events
  // apart (VertexLookahead). A hint: `v` may have been removed or reused
  // since it was looked up, or be kNoSlot; changes nothing.
  void PrefetchVertexAt(Slot v, int step) const;
  // Starts loading what LoadEdge(s, t, label, ...) probes first: the edge
  // index entry and the target's record (a hint, as above).
  void PrefetchLoadEdge(Slot s, Slot t, KeyId label) const {
    edge_index_.prefetch(EdgeKey{s, t, label});
    if (t < vertices_.size()) __builtin_prefetch(&vertices_[t]);
  }
  // The same for edge `e`: step 0 its record, 1 its property members, 2
  // the values they point to (the encoder reads edges in key order).
  void PrefetchEdgeAt(Slot e, int step) const;
  // REQUIRE: `v` is a live vertex slot.
  absl::string_view VertexId(Slot v) const { return vertices_[v].id.string_value(); }
  const Properties& VertexProps(Slot v) const { return vertices_[v].props; }
  // Edge slots leaving / entering `v`, in insertion order.
  absl::Span<const Slot> OutEdges(Slot v) const { return vertices_[v].edges.out(); }
  absl::Span<const Slot> InEdges(Slot v) const { return vertices_[v].edges.in(); }

  // Vertices whose (vitrage_category, vitrage_type, id) string properties
  // equal the arguments (for an ALARM vertex without `id`, as zabbix's,
  // the id part is its vitrage_cached_id, the md5 of its natural key) (several when e.g. a deleted
  // vertex and its re-created successor coexist), in no particular order.
  absl::InlinedVector<Slot, 1> FindByNaturalKey(absl::string_view category, absl::string_view type,
                                                absl::string_view id) const;

  // Calls fn(Slot) for every vertex, in slot order.
  template <typename Fn>
  void ForEachVertex(Fn fn) const {
    for (Slot s = 0; s < vertices_.size(); ++s) {
      if (!vertices_[s].id.is_null()) fn(s);
    }
  }
  // All vertex slots ordered by vertex id (byte order).
  std::vector<Slot> VerticesById() const;

  // ---------------------------------------------------------------- edges

  // Returns the slot of edge (source, target, label), or kNoSlot.
  Slot FindEdge(absl::string_view source_id, absl::string_view target_id,
                absl::string_view label) const;
  // REQUIRE: `e` is a live edge slot.
  Slot EdgeSource(Slot e) const { return edges_[e].source; }
  Slot EdgeTarget(Slot e) const { return edges_[e].target; }
  KeyId EdgeLabelId(Slot e) const { return edges_[e].label; }
  absl::string_view EdgeLabel(Slot e) const { return KeyName(edges_[e].label); }
  const Properties& EdgeProps(Slot e) const { return edges_[e].props; }

  template <typename Fn>
  void ForEachEdge(Fn fn) const {
    for (Slot s = 0; s < edges_.size(); ++s) {
      if (edges_[s].source != kNoSlot) fn(s);
    }
  }
  // All edge slots ordered by (source id, target id, label), byte order.
  std::vector<Slot> EdgesByKey() const;
  // The same, given VerticesById() (saves sorting the vertices again).
  std::vector<Slot> EdgesByKey(const std::vector<Slot>& vertices_by_id) const;

  // -------------------------------------------------------------- queries

  // Neighbour vertices of `v` over edges that pass `filter` (each once, in
  // adjacency order). Deleted neighbours are skipped unless
  // filter.include_deleted.
  std::vector<Slot> Neighbors(Slot v, const EdgeFilter& filter) const;
  // Edges of `v` that pass `filter`.
  std::vector<Slot> IncidentEdges(Slot v, const EdgeFilter& filter) const;
  // Alarm vertices (vitrage_category "ALARM", not deleted) adjacent to `v`.
  std::vector<Slot> Alarms(Slot v) const;
  // See TopologyQuery. NOT_FOUND when root_id names no vertex.
  absl::Status Topology(const TopologyQuery& query, Subgraph* out) const;

  // ------------------------------------------------------------ mutations
  //
  // Each appends the changes it made to `delta` when non-null, and returns
  // an error without changing anything when its precondition fails.

  // Adds vertex `id` with `props`. ALREADY_EXISTS when present.
  absl::Status AddVertex(absl::string_view id, Properties props, v1::GraphDelta* delta = nullptr);
  // Sets the members of `set` (a null Value is stored as JSON null) and
  // removes `remove`. Records only keys whose value actually changed; records
  // nothing when nothing changed. NOT_FOUND when absent.
  absl::Status UpdateVertex(absl::string_view id, const Properties& set,
                            const std::vector<KeyId>& remove, v1::GraphDelta* delta = nullptr);
  // Replaces all properties of `id` by `props` (records the difference).
  absl::Status ReplaceVertexProps(absl::string_view id, const Properties& props,
                                  v1::GraphDelta* delta = nullptr);
  // The same two for a vertex already looked up (saves the id lookup), with
  // the members as a span (e.g. Properties::items() or a map Value's
  // map_entries()). REQUIRE: `v` is a live vertex slot; `set` / `props`
  // sorted by key without duplicates. Return true when anything changed.
  bool UpdateVertexAt(Slot v, absl::Span<const MapEntry> set, absl::Span<const KeyId> remove,
                      v1::GraphDelta* delta = nullptr);
  bool ReplaceVertexPropsAt(Slot v, absl::Span<const MapEntry> props,
                            v1::GraphDelta* delta = nullptr);
  // Removes vertex `id` and its edges (edge removals recorded first).
  // NOT_FOUND when absent.
  absl::Status RemoveVertex(absl::string_view id, v1::GraphDelta* delta = nullptr);

  // Adds edge (source, target, label). NOT_FOUND when an end is missing,
  // ALREADY_EXISTS when present.
  absl::Status AddEdge(absl::string_view source_id, absl::string_view target_id,
                       absl::string_view label, Properties props, v1::GraphDelta* delta = nullptr);
  // As UpdateVertex, for an edge.
  absl::Status UpdateEdge(absl::string_view source_id, absl::string_view target_id,
                          absl::string_view label, const Properties& set,
                          const std::vector<KeyId>& remove, v1::GraphDelta* delta = nullptr);
  // NOT_FOUND when absent.
  absl::Status RemoveEdge(absl::string_view source_id, absl::string_view target_id,
                          absl::string_view label, v1::GraphDelta* delta = nullptr);

  // Applies `delta` in order. Validation: ADDED of an existing element,
  // UPDATED/REMOVED of a missing one, an edge whose end is missing, or an
  // unspecified kind fail with a status naming the change index and the
  // element. On failure the graph is restored to its state before the call
  // (all-or-nothing). Removing a vertex removes its remaining edges.
  absl::Status ApplyDelta(const v1::GraphDelta& delta);
  // Applies one change. On failure nothing is changed.
  absl::Status ApplyChange(const v1::GraphChange& change);

  // Removes everything.
  void Clear();

  // ------------------------------------------------------- bulk loading
  //
  // For loaders that build a graph from trusted, already validated input
  // (the snapshot decoder): no delta, no checks beyond uniqueness.

  // Adds vertex `id` (a string; a stable one, see Value::is_stable_string,
  // is kept as is, so a vertex can share it with its vitrage_id property).
  // Returns its slot, or kNoSlot when the id is empty or already present.
  Slot LoadVertex(Value id, Properties props);
  // Where a vertex goes in the natural-key index (FindByNaturalKey): not at
  // all without string vitrage_category and vitrage_type properties.
  struct NaturalKey {
    bool indexed = false;
    uint32_t hash = 0;  // the 32 bits the natural-key index keeps
  };
  // A pure function of `props` (thread-safe): a loader may compute it on
  // another thread, then hand it to LoadVertex.
  static NaturalKey NaturalKeyOf(const Properties& props);
  // LoadVertex with `key` == NaturalKeyOf(props), computed beforehand.
  Slot LoadVertex(Value id, Properties props, const NaturalKey& key);
  // Starts loading the natural-key index entry of `key` (a hint).
  void PrefetchNaturalKey(const NaturalKey& key) const {
    if (key.indexed) natural_index_.prefetch(key.hash);
  }
  // Adds edge (s, t, label). REQUIRES: `s` and `t` are live vertex slots.
  // False (nothing added) when the edge exists.
  bool LoadEdge(Slot s, Slot t, KeyId label, Properties props);
  // One more than the highest vertex slot in use (slots are < this).
  size_t vertex_slot_bound() const { return vertices_.size(); }

  // Approximate heap bytes held (for memory reporting).
  size_t ApproxHeapBytes() const;

  // The 32 bits of a natural key that the natural-key index keeps (tests:
  // to make two keys that share them).
  static uint32_t NaturalIndexHash(absl::string_view category, absl::string_view type,
                                   absl::string_view id) {
    return NaturalKeyHash(category, type, id);
  }

 private:
  // The edges of a vertex: its out edges, then its in edges, each in the
  // order they were added, in one small vector and a count (two vectors
  // took 16 bytes more a vertex: docs/performance.md, "Scale tiers").
  class Adjacency {
   public:
    absl::Span<const Slot> out() const { return absl::Span<const Slot>(slots_.data(), n_out_); }
    absl::Span<const Slot> in() const {
      return absl::Span<const Slot>(slots_.data() + n_out_, slots_.size() - n_out_);
    }
    bool empty() const { return slots_.empty(); }
    void AddOut(Slot e) {
      slots_.insert(slots_.begin() + n_out_, e);
      ++n_out_;
    }
    void AddIn(Slot e) { slots_.push_back(e); }
    // REQUIRE: `e` is there.
    void EraseOut(Slot e) {
      slots_.erase(std::find(slots_.begin(), slots_.begin() + n_out_, e));
      --n_out_;
    }
    void EraseIn(Slot e) { slots_.erase(std::find(slots_.begin() + n_out_, slots_.end(), e)); }
    void Clear() {
      slots_ = {};
      n_out_ = 0;
    }
    size_t HeapBytes() const { return slots_.size() > 4 ? slots_.capacity() * sizeof(Slot) : 0; }

   private:
    absl::InlinedVector<Slot, 4> slots_;
    uint32_t n_out_ = 0;
  };
  struct VertexRec {
    Value id;  // null when the slot is free
    Properties props;
    Adjacency edges;
  };
  struct EdgeRec {
    Slot source = kNoSlot;  // kNoSlot when the slot is free
    Slot target = kNoSlot;
    KeyId label = 0;
    Properties props;
  };
  struct EdgeKey {
    Slot source, target;
    KeyId label;
    bool operator==(const EdgeKey& o) const {
      return source == o.source && target == o.target && label == o.label;
    }
    template <typename H>
    friend H AbslHashValue(H h, const EdgeKey& k) {
      return H::combine(std::move(h), k.source, k.target, k.label);
    }
  };
  struct Undo;

  Slot InsertVertex(Value id, Properties props);
  void EraseVertex(Slot v);  // REQUIRES: no edges
  Slot InsertEdge(Slot s, Slot t, KeyId label, Properties props);
  // Fills a slot with edge (s, t, label) and links it to its ends (not to
  // edge_index_).
  Slot PlaceEdge(Slot s, Slot t, KeyId label, Properties props);
  void EraseEdge(Slot e);
  void IndexNaturalKey(Slot v);
  void IndexNaturalKey(Slot v, const NaturalKey& key);
  void UnindexNaturalKey(Slot v);
  static uint32_t NaturalKeyHash(absl::string_view c, absl::string_view t, absl::string_view i);
  absl::Status ApplyChangeLogged(const v1::GraphChange& change, int index, std::vector<Undo>* undo);
  void Rollback(std::vector<Undo>* undo);

  std::vector<VertexRec> vertices_;
  std::vector<Slot> free_vertices_;
  std::vector<EdgeRec> edges_;
  std::vector<Slot> free_edges_;
  absl::flat_hash_map<absl::string_view, Slot> vertex_index_;  // views into VertexRec::id
  absl::flat_hash_map<EdgeKey, Slot> edge_index_;
  // Natural key (NaturalKeyHash, 32 bits) -> a vertex with it; further
  // vertices with the same 32 bits (a deleted vertex and its successor, a
  // hash collision) in natural_overflow_, and then kNaturalOverflowBit is
  // set in the slot here. 8 bytes a vertex where a uint64_t and an
  // InlinedVector took 24 (docs/performance.md). Callers compare the
  // properties. Vertex slots stay below 2^31 (a graph that large would not
  // fit in memory).
  static constexpr Slot kNaturalOverflowBit = Slot{1} << 31;
  absl::flat_hash_map<uint32_t, Slot> natural_index_;
  absl::flat_hash_map<uint32_t, absl::InlinedVector<Slot, 2>> natural_overflow_;
};

// Overlaps the memory loads of a run of updates to the vertices of a large
// graph (a random vertex's index entry, record, property members and their
// values are each a cache miss that would otherwise be waited for one after
// the other). For items processed in order (the events of a PushEvents
// request, the records of a ReadLog batch) that each update one vertex
// mainly, Before(i) starts the loads for the items ahead of item i, one step
// per item: the index probe kIndex items ahead, the vertex record kRecord
// ahead, its property members kMembers ahead, their values kValues ahead.
// Each step reads only what the step before loaded. An item takes long
// enough to process that a step has time to arrive. A hint: it changes nothing, and
// a vertex added, removed or moved in between costs only a wasted load.
// graph_bench --profile tail, with and without --no-lookahead, measures
// what it saves (docs/performance.md).
class VertexLookahead {
 public:
  // For journal records: the vertex a delta's first change is to, or null.
  static const std::string* FirstVertexId(const v1::GraphDelta& d) {
    if (d.changes_size() == 0 || !d.changes(0).has_vertex()) return nullptr;
    return &d.changes(0).vertex().vertex_id();
  }

  explicit VertexLookahead(const Graph* g) : g_(g) {}

  // REQUIRES: called for i = 0, 1, ..., n - 1 in order, before item i is
  // processed. id_of(j) returns a pointer to the id of the vertex item j
  // updates, or null; what it points to must live until item j is done.
  template <typename IdOf>
  void Before(int i, int n, IdOf&& id_of) {
    auto index = [&](int j) {
      Ahead& a = ring_[j % kRing];
      a.id = id_of(j);
      a.slot = kNoSlot;
      if (a.id != nullptr) g_->PrefetchVertex(*a.id);
    };
    auto record = [&](int j) {
      Ahead& a = ring_[j % kRing];
      if (a.id == nullptr) return;
      a.slot = g_->FindVertex(*a.id);
      g_->PrefetchVertexAt(a.slot, 0);
    };
    if (i == 0) {  // the first items get the steps there is time for
      for (int j = 0; j < kIndex && j < n; ++j) index(j);
      for (int j = kMembers; j < kRecord && j < n; ++j) record(j);
    }
    if (i + kIndex < n) index(i + kIndex);
    if (i + kRecord < n) record(i + kRecord);
    if (i + kMembers < n) g_->PrefetchVertexAt(ring_[(i + kMembers) % kRing].slot, 1);
    if (i + kValues < n) g_->PrefetchVertexAt(ring_[(i + kValues) % kRing].slot, 2);
  }

 private:
  static constexpr int kIndex = 9, kRecord = 6, kMembers = 4, kValues = 2;
  static constexpr int kRing = 16;
  static_assert(kIndex < kRing);
  struct Ahead {
    const std::string* id = nullptr;
    Slot slot = kNoSlot;
  };
  const Graph* g_;
  std::array<Ahead, kRing> ring_{};
};

}  // namespace vitrage::graph

#endif  // VITRAGE_GRAPH_SERVICE_GRAPH_GRAPH_H_
