#include "graph_service/graph/graph.h"

#include <algorithm>
#include <cstring>
#include <deque>
#include <utility>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "graph_service/graph/proto_convert.h"

namespace vitrage::graph {
namespace {

constexpr absl::string_view kAlarmCategory = "ALARM";

void RecordProps(const Properties& props, google::protobuf::RepeatedPtrField<v1::Property>* out) {
  PropertiesToProto(props, out);
}

void RecordProp(KeyId k, const Value& v, google::protobuf::RepeatedPtrField<v1::Property>* out) {
  auto* p = out->Add();
  absl::string_view name = KeyName(k);
  p->mutable_key()->assign(name.data(), name.size());
  ValueToProto(v, p->mutable_value());
}

void RecordRemovedKey(KeyId k, google::protobuf::RepeatedPtrField<std::string>* out) {
  absl::string_view name = KeyName(k);
  out->Add()->assign(name.data(), name.size());
}

std::string EdgeName(absl::string_view s, absl::string_view t, absl::string_view l) {
  return absl::StrCat("edge (", s, " -> ", t, ", ", l, ")");
}

bool IsDeleted(const Properties& p) { return p.GetBool(keys::kVitrageIsDeleted); }

// The id part of a vertex's natural key: its `id`, or for an alarm without
// one (zabbix), its vitrage_cached_id (md5 of the whole natural key).
absl::string_view NaturalId(const Properties& p, std::string* /*buf*/) {
  const Value* id = p.Find(keys::kId);
  if (id != nullptr || p.GetString(keys::kVitrageCategory) != kAlarmCategory) {
    return id ? id->AsString() : absl::string_view();
  }
  return p.GetString(keys::kVitrageCachedId);
}

}  // namespace

// One step of ApplyDelta's undo log.
struct Graph::Undo {
  enum Op { kVertexAdded, kVertexChanged, kVertexRemoved, kEdgeAdded, kEdgeChanged, kEdgeRemoved };
  Op op;
  Value id;  // vertex id, or edge source id
  Value target;
  KeyId label = 0;
  Properties old_props;
};

Graph::Graph() = default;
Graph::Graph(const Graph&) = default;
Graph& Graph::operator=(const Graph&) = default;
Graph::Graph(Graph&&) noexcept = default;
Graph& Graph::operator=(Graph&&) noexcept = default;
Graph::~Graph() = default;

void Graph::Reserve(size_t vertices, size_t edges) {
  // The slot vectors get a quarter more: what follows a load (a replayed
  // tail, new events) then does not move every record to a buffer twice
  // the size while the old one is still held (at 1M vertices ~90 MB at
  // once). Capacity never touched costs address space, not memory. The
  // hash indexes get exactly the count: their arrays are touched all over.
  vertices_.reserve(vertices + vertices / 4);
  edges_.reserve(edges + edges / 4);
  vertex_index_.reserve(vertices);
  edge_index_.reserve(edges);
  natural_index_.reserve(vertices);
}

void Graph::Clear() {
  vertices_.clear();
  free_vertices_.clear();
  edges_.clear();
  free_edges_.clear();
  vertex_index_.clear();
  edge_index_.clear();
  natural_index_.clear();
  natural_overflow_.clear();
}

// ------------------------------------------------------------- lookups

Slot Graph::FindVertex(absl::string_view id) const {
  auto it = vertex_index_.find(id);
  return it == vertex_index_.end() ? kNoSlot : it->second;
}

namespace {

// Step 1 of a prefetch: an element's property members; later steps: the
// values they point to.
void PrefetchProps(const Properties& props, int step) {
  absl::Span<const MapEntry> items = props.items();
  if (step == 1) {
    const char* p = reinterpret_cast<const char*>(items.data());
    const size_t bytes = items.size() * sizeof(MapEntry);
    for (size_t off = 0; off < bytes; off += 64) __builtin_prefetch(p + off);
    return;
  }
  for (const MapEntry& e : items) e.second.Prefetch();
}

}  // namespace

void Graph::PrefetchVertexAt(Slot v, int step) const {
  if (v >= vertices_.size()) return;
  const VertexRec& r = vertices_[v];
  if (step == 0) {
    const char* p = reinterpret_cast<const char*>(&r);
    __builtin_prefetch(p);
    __builtin_prefetch(p + sizeof(VertexRec) - 1);
    return;
  }
  if (step > 1) r.id.Prefetch();
  PrefetchProps(r.props, step);
}

void Graph::PrefetchEdgeAt(Slot e, int step) const {
  if (e >= edges_.size()) return;
  const EdgeRec& r = edges_[e];
  if (step == 0) {
    __builtin_prefetch(&r);
    return;
  }
  PrefetchProps(r.props, step);
}

uint32_t Graph::NaturalKeyHash(absl::string_view c, absl::string_view t, absl::string_view i) {
  return static_cast<uint32_t>(
      absl::Hash<std::tuple<absl::string_view, absl::string_view, absl::string_view>>()(
          std::make_tuple(c, t, i)));
}

absl::InlinedVector<Slot, 1> Graph::FindByNaturalKey(absl::string_view category,
                                                     absl::string_view type,
                                                     absl::string_view id) const {
  absl::InlinedVector<Slot, 1> out;
  const uint32_t h = NaturalKeyHash(category, type, id);
  auto it = natural_index_.find(h);
  if (it == natural_index_.end()) return out;
  std::string buf;
  auto check = [&](Slot s) {
    const Properties& p = vertices_[s].props;
    if (p.GetString(keys::kVitrageCategory) == category &&
        p.GetString(keys::kVitrageType) == type && NaturalId(p, &buf) == id) {
      out.push_back(s);
    }
  };
  check(it->second & ~kNaturalOverflowBit);
  if (it->second & kNaturalOverflowBit) {
    for (Slot s : natural_overflow_.find(h)->second) check(s);
  }
  return out;
}

Graph::NaturalKey Graph::NaturalKeyOf(const Properties& p) {
  NaturalKey key;
  const Value* c = p.Find(keys::kVitrageCategory);
  const Value* t = p.Find(keys::kVitrageType);
  if (c == nullptr || t == nullptr || !c->is_string() || !t->is_string()) return key;
  std::string buf;
  key.indexed = true;
  key.hash = NaturalKeyHash(c->string_value(), t->string_value(), NaturalId(p, &buf));
  return key;
}

void Graph::IndexNaturalKey(Slot v) { IndexNaturalKey(v, NaturalKeyOf(vertices_[v].props)); }

void Graph::IndexNaturalKey(Slot v, const NaturalKey& key) {
  if (!key.indexed) return;
  const uint32_t h = key.hash;
  auto [it, added] = natural_index_.try_emplace(h, v);
  if (added) return;
  it->second |= kNaturalOverflowBit;
  natural_overflow_[h].push_back(v);
}

void Graph::UnindexNaturalKey(Slot v) {
  const Properties& p = vertices_[v].props;
  const Value* c = p.Find(keys::kVitrageCategory);
  const Value* t = p.Find(keys::kVitrageType);
  if (c == nullptr || t == nullptr || !c->is_string() || !t->is_string()) return;
  std::string buf;
  const uint32_t h = NaturalKeyHash(c->string_value(), t->string_value(), NaturalId(p, &buf));
  auto it = natural_index_.find(h);
  if (it == natural_index_.end()) return;
  if (!(it->second & kNaturalOverflowBit)) {
    if (it->second == v) natural_index_.erase(it);
    return;
  }
  auto more = natural_overflow_.find(h);
  auto& slots = more->second;
  if ((it->second & ~kNaturalOverflowBit) == v) {
    it->second = slots.back() | kNaturalOverflowBit;  // another vertex with h takes its place
    slots.pop_back();
  } else {
    slots.erase(std::remove(slots.begin(), slots.end(), v), slots.end());
  }
  if (slots.empty()) {
    natural_overflow_.erase(more);
    it->second &= ~kNaturalOverflowBit;
  }
}

Slot Graph::FindEdge(absl::string_view source_id, absl::string_view target_id,
                     absl::string_view label) const {
  Slot s = FindVertex(source_id);
  if (s == kNoSlot) return kNoSlot;
  Slot t = FindVertex(target_id);
  if (t == kNoSlot) return kNoSlot;
  auto it = edge_index_.find(EdgeKey{s, t, InternKey(label)});
  return it == edge_index_.end() ? kNoSlot : it->second;
}

namespace {

// The first 8 bytes of `s` as a big-endian integer, zero-padded: for two
// strings whose prefixes differ, prefix order is byte (memcmp) order.
uint64_t BytePrefix(absl::string_view s) {
  unsigned char b[8] = {};
  std::memcpy(b, s.data(), std::min<size_t>(8, s.size()));
  uint64_t v = 0;
  for (unsigned char c : b) v = (v << 8) | c;
  return v;
}

}  // namespace

std::vector<Slot> Graph::VerticesById() const {
  // Sorted on (prefix, slot) pairs held in one array: a comparison reads
  // the ids only when their first 8 bytes tie. Comparing ids through the
  // vertex records costs two or three cache misses per comparison, which
  // at a million vertices made this sort the largest part of an encode.
  struct Entry {
    uint64_t prefix;
    Slot slot;
  };
  std::vector<Entry> entries;
  entries.reserve(vertex_count());
  ForEachVertex([&](Slot s) { entries.push_back({BytePrefix(VertexId(s)), s}); });
  auto less = [this](const Entry& a, const Entry& b) {
    if (a.prefix != b.prefix) return a.prefix < b.prefix;
    return VertexId(a.slot) < VertexId(b.slot);
  };
  // A graph loaded from a snapshot holds its vertices in id order.
  if (!std::is_sorted(entries.begin(), entries.end(), less)) {
    std::sort(entries.begin(), entries.end(), less);
  }
  std::vector<Slot> out;
  out.reserve(entries.size());
  for (const Entry& e : entries) out.push_back(e.slot);
  return out;
}

std::vector<Slot> Graph::EdgesByKey() const { return EdgesByKey(VerticesById()); }

std::vector<Slot> Graph::EdgesByKey(const std::vector<Slot>& vertices_by_id) const {
  // Rank vertices by id once; then edges sort on integers held in one
  // array (the label's name is compared only between edges with the same
  // ends).
  std::vector<uint32_t> rank(vertices_.size(), 0);
  for (uint32_t r = 0; r < vertices_by_id.size(); ++r) rank[vertices_by_id[r]] = r;
  struct Entry {
    uint64_t ends;  // rank of the source, then of the target
    KeyId label;
    Slot slot;
  };
  std::vector<Entry> entries;
  entries.reserve(edge_count());
  ForEachEdge([&](Slot s) {
    const EdgeRec& r = edges_[s];
    entries.push_back({(uint64_t{rank[r.source]} << 32) | rank[r.target], r.label, s});
  });
  auto less = [](const Entry& a, const Entry& b) {
    if (a.ends != b.ends) return a.ends < b.ends;
    return a.label != b.label && KeyName(a.label) < KeyName(b.label);
  };
  if (!std::is_sorted(entries.begin(), entries.end(), less)) {
    std::sort(entries.begin(), entries.end(), less);
  }
  std::vector<Slot> out;
  out.reserve(entries.size());
  for (const Entry& e : entries) out.push_back(e.slot);
  return out;
}

// -------------------------------------------------------------- queries

std::vector<Slot> Graph::IncidentEdges(Slot v, const EdgeFilter& filter) const {
  std::vector<Slot> out;
  KeyId label = filter.label.empty() ? 0 : InternKey(filter.label);
  auto consider = [&](Slot e) {
    const EdgeRec& r = edges_[e];
    if (!filter.label.empty() && r.label != label) return;
    if (!filter.include_deleted && IsDeleted(r.props)) return;
    out.push_back(e);
  };
  if (filter.direction != EdgeFilter::kIn) {
    for (Slot e : vertices_[v].edges.out()) consider(e);
  }
  if (filter.direction != EdgeFilter::kOut) {
    for (Slot e : vertices_[v].edges.in()) consider(e);
  }
  return out;
}

std::vector<Slot> Graph::Neighbors(Slot v, const EdgeFilter& filter) const {
  std::vector<Slot> out;
  for (Slot e : IncidentEdges(v, filter)) {
    Slot n = edges_[e].source == v ? edges_[e].target : edges_[e].source;
    if (!filter.include_deleted && IsDeleted(vertices_[n].props)) continue;
    if (std::find(out.begin(), out.end(), n) == out.end()) out.push_back(n);
  }
  return out;
}

std::vector<Slot> Graph::Alarms(Slot v) const {
  std::vector<Slot> out;
  for (Slot n : Neighbors(v, EdgeFilter())) {
    if (vertices_[n].props.GetString(keys::kVitrageCategory) == kAlarmCategory) {
      out.push_back(n);
    }
  }
  return out;
}

absl::Status Graph::Topology(const TopologyQuery& q, Subgraph* out) const {
  out->vertices.clear();
  out->edges.clear();
  std::vector<KeyId> unused;
  auto type_ok = [&](Slot s) {
    if (q.vitrage_types.empty()) return true;
    absl::string_view t = vertices_[s].props.GetString(keys::kVitrageType);
    for (const auto& want : q.vitrage_types) {
      if (t == want) return true;
    }
    return false;
  };
  auto vertex_ok = [&](Slot s) {
    return (q.include_deleted || !IsDeleted(vertices_[s].props)) && type_ok(s);
  };
  std::vector<char> in_set(vertices_.size(), 0);
  if (q.root_id.empty()) {
    ForEachVertex([&](Slot s) {
      if (vertex_ok(s)) {
        in_set[s] = 1;
        out->vertices.push_back(s);
      }
    });
  } else {
    Slot root = FindVertex(q.root_id);
    if (root == kNoSlot) {
      return absl::NotFoundError(absl::StrCat("topology root vertex ", q.root_id, " not found"));
    }
    // BFS ignoring direction; traversal passes only through vertices that
    // pass the filters.
    std::vector<uint32_t> depth(vertices_.size(), 0);
    std::deque<Slot> queue;
    if (vertex_ok(root)) {
      in_set[root] = 1;
      out->vertices.push_back(root);
      queue.push_back(root);
    }
    EdgeFilter all;
    all.include_deleted = q.include_deleted;
    while (!queue.empty()) {
      Slot s = queue.front();
      queue.pop_front();
      if (q.depth != 0 && depth[s] >= q.depth) continue;
      for (Slot n : Neighbors(s, all)) {
        if (in_set[n] || !vertex_ok(n)) continue;
        in_set[n] = 1;
        depth[n] = depth[s] + 1;
        out->vertices.push_back(n);
        queue.push_back(n);
      }
    }
  }
  ForEachEdge([&](Slot e) {
    const EdgeRec& r = edges_[e];
    if (!in_set[r.source] || !in_set[r.target]) return;
    if (!q.include_deleted && IsDeleted(r.props)) return;
    out->edges.push_back(e);
  });
  return absl::OkStatus();
}

// ----------------------------------------------------- storage primitives

namespace {

// A slot of `recs` for a new element: the most recently freed one, or a
// new one at the end.
template <typename Rec>
Slot TakeSlot(std::vector<Rec>& recs, std::vector<Slot>& free) {
  if (!free.empty()) {
    const Slot s = free.back();
    free.pop_back();
    return s;
  }
  recs.emplace_back();
  return static_cast<Slot>(recs.size() - 1);
}

}  // namespace

Slot Graph::InsertVertex(Value id, Properties props) {
  const Slot s = TakeSlot(vertices_, free_vertices_);
  VertexRec& r = vertices_[s];
  r.id = std::move(id);
  r.props = std::move(props);
  vertex_index_.emplace(r.id.string_value(), s);
  IndexNaturalKey(s);
  return s;
}

void Graph::EraseVertex(Slot v) {
  UnindexNaturalKey(v);
  VertexRec& r = vertices_[v];
  vertex_index_.erase(r.id.string_value());
  r.id = Value();
  r.props = Properties();
  r.edges.Clear();
  free_vertices_.push_back(v);
}

Slot Graph::InsertEdge(Slot s, Slot t, KeyId label, Properties props) {
  const Slot e = PlaceEdge(s, t, label, std::move(props));
  edge_index_.emplace(EdgeKey{s, t, label}, e);
  return e;
}

Slot Graph::PlaceEdge(Slot s, Slot t, KeyId label, Properties props) {
  const Slot e = TakeSlot(edges_, free_edges_);
  EdgeRec& r = edges_[e];
  r.source = s;
  r.target = t;
  r.label = label;
  r.props = std::move(props);
  vertices_[s].edges.AddOut(e);
  vertices_[t].edges.AddIn(e);
  return e;
}

void Graph::EraseEdge(Slot e) {
  EdgeRec& r = edges_[e];
  edge_index_.erase(EdgeKey{r.source, r.target, r.label});
  vertices_[r.source].edges.EraseOut(e);
  vertices_[r.target].edges.EraseIn(e);
  r.source = r.target = kNoSlot;
  r.props = Properties();
  free_edges_.push_back(e);
}

// --------------------------------------------------------- bulk loading

Slot Graph::LoadVertex(Value id, Properties props) {
  const NaturalKey key = NaturalKeyOf(props);
  return LoadVertex(std::move(id), std::move(props), key);
}

Slot Graph::LoadVertex(Value id, Properties props, const NaturalKey& key) {
  if (!id.is_string() || id.string_value().empty()) return kNoSlot;
  if (!id.is_stable_string()) id = Value::StableString(id.string_value());
  auto ins = vertex_index_.try_emplace(id.string_value(), kNoSlot);
  if (!ins.second) return kNoSlot;
  const Slot s = TakeSlot(vertices_, free_vertices_);
  VertexRec& r = vertices_[s];
  r.id = std::move(id);  // the characters (the index's key) do not move
  r.props = std::move(props);
  ins.first->second = s;
  IndexNaturalKey(s, key);
  return s;
}

bool Graph::LoadEdge(Slot s, Slot t, KeyId label, Properties props) {
  auto ins = edge_index_.try_emplace(EdgeKey{s, t, label}, kNoSlot);
  if (!ins.second) return false;
  ins.first->second = PlaceEdge(s, t, label, std::move(props));
  return true;
}

// ------------------------------------------------------------ mutations

absl::Status Graph::AddVertex(absl::string_view id, Properties props, v1::GraphDelta* delta) {
  if (id.empty()) return absl::InvalidArgumentError("vertex with an empty id");
  if (HasVertex(id)) {
    return absl::AlreadyExistsError(absl::StrCat("vertex ", id, " already exists"));
  }
  if (delta != nullptr) {
    auto* c = delta->add_changes()->mutable_vertex();
    c->mutable_vertex_id()->assign(id.data(), id.size());
    c->set_kind(v1::ADDED);
    RecordProps(props, c->mutable_set());
  }
  InsertVertex(Value::StableString(id), std::move(props));
  return absl::OkStatus();
}

namespace {
// Applies set/remove to `props`; records the actual changes into
// (set_out, removed_out) when non-null. Returns true when anything changed.
// (The edge path; vertices go through Graph::UpdateVertexAt.)
bool MergeProps(Properties* props, const Properties& set, const std::vector<KeyId>& remove,
                google::protobuf::RepeatedPtrField<v1::Property>* set_out,
                google::protobuf::RepeatedPtrField<std::string>* removed_out) {
  bool changed = false;
  for (const auto& e : set) {
    if (props->Set(e.first, e.second)) {
      changed = true;
      if (set_out) RecordProp(e.first, e.second, set_out);
    }
  }
  for (KeyId k : remove) {
    if (props->Erase(k)) {
      changed = true;
      if (removed_out) RecordRemovedKey(k, removed_out);
    }
  }
  return changed;
}

bool IsNaturalKeyPart(KeyId k) {
  return k == keys::kVitrageCategory || k == keys::kVitrageType || k == keys::kId ||
         k == keys::kVitrageCachedId;
}
}  // namespace

absl::Status Graph::UpdateVertex(absl::string_view id, const Properties& set,
                                 const std::vector<KeyId>& remove, v1::GraphDelta* delta) {
  Slot s = FindVertex(id);
  if (s == kNoSlot) return absl::NotFoundError(absl::StrCat("vertex ", id, " not found"));
  UpdateVertexAt(s, set.items(), remove, delta);
  return absl::OkStatus();
}

bool Graph::UpdateVertexAt(Slot s, absl::Span<const MapEntry> set, absl::Span<const KeyId> remove,
                           v1::GraphDelta* delta) {
  Properties& props = vertices_[s].props;
  // The members of `set` whose value differs, by one merge walk over both
  // sorted lists. Typically most values are unchanged and the vertex is
  // cold: start loading the strings, lists and maps to compare first.
  absl::Span<const MapEntry> old = props.items();
  for (const MapEntry& e : old) e.second.Prefetch();
  absl::InlinedVector<const MapEntry*, 8> changed;
  bool reindex = false;
  {
    auto it = old.begin();
    for (const MapEntry& e : set) {
      while (it != old.end() && it->first < e.first) ++it;
      if (it == old.end() || it->first != e.first || !(it->second == e.second)) {
        changed.push_back(&e);
        reindex |= IsNaturalKeyPart(e.first);
      }
    }
  }
  bool any = !changed.empty();
  for (KeyId k : remove) {
    // (A key both set and removed counts as changed: it was set above.)
    if (props.Find(k) != nullptr ||
        (any && std::any_of(changed.begin(), changed.end(),
                            [k](const MapEntry* e) { return e->first == k; }))) {
      any = true;
      reindex |= IsNaturalKeyPart(k);
    }
  }
  if (!any) return false;
  // The natural key index holds the vertex under its old key parts: take it
  // out while they change (only then: most updates leave them alone). So an
  // update that sets them to the values they have no longer moves the vertex
  // to the end of its bucket; FindByNaturalKey's order is unspecified, and a
  // graph rebuilt from a snapshot has its buckets in slot order anyway.
  if (reindex) UnindexNaturalKey(s);
  v1::VertexChange* c = nullptr;
  if (delta != nullptr) {
    c = delta->add_changes()->mutable_vertex();
    absl::string_view id = VertexId(s);
    c->mutable_vertex_id()->assign(id.data(), id.size());
    c->set_kind(v1::UPDATED);
    c->mutable_set()->Reserve(static_cast<int>(changed.size()));
  }
  for (const MapEntry* e : changed) {
    props.Set(e->first, e->second);
    if (c != nullptr) RecordProp(e->first, e->second, c->mutable_set());
  }
  for (KeyId k : remove) {
    if (props.Erase(k) && c != nullptr) RecordRemovedKey(k, c->mutable_removed_keys());
  }
  if (reindex) IndexNaturalKey(s);
  return true;
}

absl::Status Graph::ReplaceVertexProps(absl::string_view id, const Properties& props,
                                       v1::GraphDelta* delta) {
  Slot s = FindVertex(id);
  if (s == kNoSlot) return absl::NotFoundError(absl::StrCat("vertex ", id, " not found"));
  ReplaceVertexPropsAt(s, props.items(), delta);
  return absl::OkStatus();
}

bool Graph::ReplaceVertexPropsAt(Slot s, absl::Span<const MapEntry> props, v1::GraphDelta* delta) {
  // Members of the vertex that `props` lacks (both sorted by key).
  absl::InlinedVector<KeyId, 8> remove;
  auto it = props.begin();
  for (const auto& e : vertices_[s].props) {
    while (it != props.end() && it->first < e.first) ++it;
    if (it == props.end() || it->first != e.first) remove.push_back(e.first);
  }
  return UpdateVertexAt(s, props, remove, delta);
}

absl::Status Graph::RemoveVertex(absl::string_view id, v1::GraphDelta* delta) {
  Slot s = FindVertex(id);
  if (s == kNoSlot) return absl::NotFoundError(absl::StrCat("vertex ", id, " not found"));
  // Out edges then in edges (a self-loop appears in both: remove once).
  while (!vertices_[s].edges.empty()) {
    const Adjacency& adj = vertices_[s].edges;
    Slot e = !adj.out().empty() ? adj.out().back() : adj.in().back();
    if (delta != nullptr) {
      const EdgeRec& r = edges_[e];
      auto* c = delta->add_changes()->mutable_edge();
      absl::string_view a = VertexId(r.source), b = VertexId(r.target), l = KeyName(r.label);
      c->mutable_source_id()->assign(a.data(), a.size());
      c->mutable_target_id()->assign(b.data(), b.size());
      c->mutable_label()->assign(l.data(), l.size());
      c->set_kind(v1::REMOVED);
    }
    EraseEdge(e);
  }
  if (delta != nullptr) {
    auto* c = delta->add_changes()->mutable_vertex();
    c->mutable_vertex_id()->assign(id.data(), id.size());
    c->set_kind(v1::REMOVED);
  }
  EraseVertex(s);
  return absl::OkStatus();
}

absl::Status Graph::AddEdge(absl::string_view source_id, absl::string_view target_id,
                            absl::string_view label, Properties props, v1::GraphDelta* delta) {
  Slot s = FindVertex(source_id);
  Slot t = FindVertex(target_id);
  if (s == kNoSlot || t == kNoSlot) {
    return absl::NotFoundError(absl::StrCat(EdgeName(source_id, target_id, label), ": ",
                                            s == kNoSlot ? "source" : "target", " vertex ",
                                            s == kNoSlot ? source_id : target_id, " not found"));
  }
  if (label.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(EdgeName(source_id, target_id, label), ": empty label"));
  }
  KeyId l = InternKey(label);
  if (edge_index_.contains(EdgeKey{s, t, l})) {
    return absl::AlreadyExistsError(
        absl::StrCat(EdgeName(source_id, target_id, label), " already exists"));
  }
  if (delta != nullptr) {
    auto* c = delta->add_changes()->mutable_edge();
    c->mutable_source_id()->assign(source_id.data(), source_id.size());
    c->mutable_target_id()->assign(target_id.data(), target_id.size());
    c->mutable_label()->assign(label.data(), label.size());
    c->set_kind(v1::ADDED);
    RecordProps(props, c->mutable_set());
  }
  InsertEdge(s, t, l, std::move(props));
  return absl::OkStatus();
}

absl::Status Graph::UpdateEdge(absl::string_view source_id, absl::string_view target_id,
                               absl::string_view label, const Properties& set,
                               const std::vector<KeyId>& remove, v1::GraphDelta* delta) {
  Slot e = FindEdge(source_id, target_id, label);
  if (e == kNoSlot) {
    return absl::NotFoundError(absl::StrCat(EdgeName(source_id, target_id, label), " not found"));
  }
  v1::EdgeChange scratch;
  bool changed = MergeProps(&edges_[e].props, set, remove, delta ? scratch.mutable_set() : nullptr,
                            delta ? scratch.mutable_removed_keys() : nullptr);
  if (changed && delta != nullptr) {
    scratch.mutable_source_id()->assign(source_id.data(), source_id.size());
    scratch.mutable_target_id()->assign(target_id.data(), target_id.size());
    scratch.mutable_label()->assign(label.data(), label.size());
    scratch.set_kind(v1::UPDATED);
    *delta->add_changes()->mutable_edge() = std::move(scratch);
  }
  return absl::OkStatus();
}

absl::Status Graph::RemoveEdge(absl::string_view source_id, absl::string_view target_id,
                               absl::string_view label, v1::GraphDelta* delta) {
  Slot e = FindEdge(source_id, target_id, label);
  if (e == kNoSlot) {
    return absl::NotFoundError(absl::StrCat(EdgeName(source_id, target_id, label), " not found"));
  }
  if (delta != nullptr) {
    auto* c = delta->add_changes()->mutable_edge();
    c->mutable_source_id()->assign(source_id.data(), source_id.size());
    c->mutable_target_id()->assign(target_id.data(), target_id.size());
    c->mutable_label()->assign(label.data(), label.size());
    c->set_kind(v1::REMOVED);
  }
  EraseEdge(e);
  return absl::OkStatus();
}

// ------------------------------------------------------------- replay

namespace {
std::vector<KeyId> KeysOf(const google::protobuf::RepeatedPtrField<std::string>& names) {
  std::vector<KeyId> out;
  out.reserve(names.size());
  for (const auto& n : names) out.push_back(InternKey(n));
  return out;
}
}  // namespace

absl::Status Graph::ApplyChangeLogged(const v1::GraphChange& change, int index,
                                      std::vector<Undo>* undo) {
  auto fail = [index](const absl::Status& st) {
    return absl::Status(st.code(), absl::StrCat("delta change ", index, ": ", st.message()));
  };
  if (change.has_vertex()) {
    const v1::VertexChange& c = change.vertex();
    const std::string& id = c.vertex_id();
    switch (c.kind()) {
      case v1::ADDED: {
        absl::Status st = AddVertex(id, PropertiesFromProto(c.set()));
        if (!st.ok()) return fail(st);
        if (undo) undo->push_back(Undo{Undo::kVertexAdded, Value::String(id), {}, 0, {}});
        return absl::OkStatus();
      }
      case v1::UPDATED: {
        Slot s = FindVertex(id);
        if (s == kNoSlot) {
          return fail(absl::NotFoundError(absl::StrCat("update of missing vertex ", id)));
        }
        if (undo) {
          undo->push_back(Undo{Undo::kVertexChanged, Value::String(id), {}, 0, vertices_[s].props});
        }
        Properties set = PropertiesFromProto(c.set());
        UpdateVertexAt(s, set.items(), KeysOf(c.removed_keys()));
        return absl::OkStatus();
      }
      case v1::REMOVED: {
        Slot s = FindVertex(id);
        if (s == kNoSlot) {
          return fail(absl::NotFoundError(absl::StrCat("removal of missing vertex ", id)));
        }
        if (undo) {
          // Remaining edges are removed with the vertex: log them first.
          std::vector<Slot> es(vertices_[s].edges.out().begin(), vertices_[s].edges.out().end());
          for (Slot e : vertices_[s].edges.in()) {
            if (edges_[e].source != s) es.push_back(e);
          }
          // Undone in reverse: the vertex comes back before its edges.
          for (Slot e : es) {
            const EdgeRec& r = edges_[e];
            undo->push_back(Undo{Undo::kEdgeRemoved, Value::String(VertexId(r.source)),
                                 Value::String(VertexId(r.target)), r.label, r.props});
          }
          undo->push_back(Undo{Undo::kVertexRemoved, Value::String(id), {}, 0, vertices_[s].props});
        }
        return RemoveVertex(id);
      }
      default:
        return fail(absl::InvalidArgumentError(
            absl::StrCat("vertex ", id, ": change kind ", static_cast<int>(c.kind()))));
    }
  }
  if (change.has_edge()) {
    const v1::EdgeChange& c = change.edge();
    switch (c.kind()) {
      case v1::ADDED: {
        absl::Status st =
            AddEdge(c.source_id(), c.target_id(), c.label(), PropertiesFromProto(c.set()));
        if (!st.ok()) return fail(st);
        if (undo) {
          undo->push_back(Undo{Undo::kEdgeAdded,
                               Value::String(c.source_id()),
                               Value::String(c.target_id()),
                               InternKey(c.label()),
                               {}});
        }
        return absl::OkStatus();
      }
      case v1::UPDATED: {
        Slot e = FindEdge(c.source_id(), c.target_id(), c.label());
        if (e == kNoSlot) {
          return fail(absl::NotFoundError(absl::StrCat(
              "update of missing ", EdgeName(c.source_id(), c.target_id(), c.label()))));
        }
        if (undo) {
          undo->push_back(Undo{Undo::kEdgeChanged, Value::String(c.source_id()),
                               Value::String(c.target_id()), edges_[e].label, edges_[e].props});
        }
        return UpdateEdge(c.source_id(), c.target_id(), c.label(), PropertiesFromProto(c.set()),
                          KeysOf(c.removed_keys()));
      }
      case v1::REMOVED: {
        Slot e = FindEdge(c.source_id(), c.target_id(), c.label());
        if (e == kNoSlot) {
          return fail(absl::NotFoundError(absl::StrCat(
              "removal of missing ", EdgeName(c.source_id(), c.target_id(), c.label()))));
        }
        if (undo) {
          undo->push_back(Undo{Undo::kEdgeRemoved, Value::String(c.source_id()),
                               Value::String(c.target_id()), edges_[e].label, edges_[e].props});
        }
        EraseEdge(e);
        return absl::OkStatus();
      }
      default:
        return fail(absl::InvalidArgumentError(
            absl::StrCat(EdgeName(c.source_id(), c.target_id(), c.label()), ": change kind ",
                         static_cast<int>(c.kind()))));
    }
  }
  return fail(absl::InvalidArgumentError("empty graph change"));
}

void Graph::Rollback(std::vector<Undo>* undo) {
  for (auto it = undo->rbegin(); it != undo->rend(); ++it) {
    Undo& u = *it;
    switch (u.op) {
      case Undo::kVertexAdded: {
        Slot s = FindVertex(u.id.string_value());
        // Edges added to it were undone before (reverse order).
        EraseVertex(s);
        break;
      }
      case Undo::kVertexChanged: {
        Slot s = FindVertex(u.id.string_value());
        UnindexNaturalKey(s);
        vertices_[s].props = std::move(u.old_props);
        IndexNaturalKey(s);
        break;
      }
      case Undo::kVertexRemoved:
        InsertVertex(Value::StableString(u.id.string_value()), std::move(u.old_props));
        break;
      case Undo::kEdgeAdded: {
        Slot s = FindVertex(u.id.string_value());
        Slot t = FindVertex(u.target.string_value());
        EraseEdge(edge_index_.at(EdgeKey{s, t, u.label}));
        break;
      }
      case Undo::kEdgeChanged: {
        Slot s = FindVertex(u.id.string_value());
        Slot t = FindVertex(u.target.string_value());
        edges_[edge_index_.at(EdgeKey{s, t, u.label})].props = std::move(u.old_props);
        break;
      }
      case Undo::kEdgeRemoved: {
        Slot s = FindVertex(u.id.string_value());
        Slot t = FindVertex(u.target.string_value());
        InsertEdge(s, t, u.label, std::move(u.old_props));
        break;
      }
    }
  }
  undo->clear();
}

absl::Status Graph::ApplyDelta(const v1::GraphDelta& delta) {
  std::vector<Undo> undo;
  const int n = delta.changes_size();
  for (int i = 0; i < n; ++i) {
    // Each change either applies or fails without changing anything, so
    // the last one needs no undo record (most deltas hold one change).
    absl::Status st = ApplyChangeLogged(delta.changes(i), i, i + 1 < n ? &undo : nullptr);
    if (!st.ok()) {
      Rollback(&undo);
      return st;
    }
  }
  return absl::OkStatus();
}

absl::Status Graph::ApplyChange(const v1::GraphChange& change) {
  // A single change applies or fails without changing anything.
  return ApplyChangeLogged(change, 0, nullptr);
}

size_t Graph::ApproxHeapBytes() const {
  size_t n = vertices_.capacity() * sizeof(VertexRec) + edges_.capacity() * sizeof(EdgeRec);
  for (const auto& v : vertices_) {
    n += v.props.HeapBytes() + v.id.HeapBytes();
    n += v.edges.HeapBytes();
  }
  for (const auto& e : edges_) n += e.props.HeapBytes();
  n += vertex_index_.capacity() * (sizeof(absl::string_view) + sizeof(Slot) + 1);
  n += edge_index_.capacity() * (sizeof(EdgeKey) + sizeof(Slot) + 1);
  n += natural_index_.capacity() * (sizeof(uint32_t) + sizeof(Slot) + 1);
  n += natural_overflow_.capacity() * (sizeof(uint32_t) + sizeof(absl::InlinedVector<Slot, 2>) + 1);
  return n;
}

}  // namespace vitrage::graph
