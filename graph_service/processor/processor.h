// The processor: turns datasource events into graph changes with upstream
// Vitrage's semantics (vitrage/entity_graph/processor/processor.py), and
// reports every change it makes as a v1::GraphDelta.
//
// Behaviours (testdata/conformance/README.md):
//  * action: init_snapshot -> create_entity, snapshot -> update_entity,
//    update -> vitrage_event_type when it names a GraphAction, else the
//    transformer's mapping, else update_entity;
//  * create_entity: adds the vertex, or fills the placeholder in place
//    (keeps null values); connects neighbours; no timestamp check;
//  * update_entity / delete_entity whose vitrage_sample_timestamp is older
//    than the vertex's (plain string comparison, prev <= new; a missing
//    timestamp counts as newer) are dropped whole;
//  * update_entity merges props (a null value deletes the key), refreshes
//    edges to neighbour types named in the event (edges to other vertices
//    of those types are marked deleted, placeholders left without a live
//    edge are removed), adds placeholders for unknown neighbours, and
//    refreshes existing neighbours' timestamps when newer;
//  * delete_entity marks the vertex and all its edges vitrage_is_deleted
//    (timestamps = now) and removes neighbour placeholders left without a
//    live edge; remove_deleted_entity removes a deleted vertex;
//  * update_relationship / delete_relationship upsert / mark deleted edges;
//  * vitrage_aggregated_state = upper-cased state, vitrage_operational_state
//    from the StateTable ("N/A" when unmapped).
// Deliberate differences from upstream (docs: compatibility): a dropped
// stale delete keeps the id; update_relationship makes proper placeholders.
//
// Vertex ids: as upstream's TransformerBase.key_to_uuid_cache. Every key an
// event names (the entity, then its neighbours) is resolved before the
// action runs: a cached id, else the graph's live vertex of the key, else a
// new id from the IdGenerator (minted also for events then dropped);
// delete_entity forgets the entity's id (even for a vertex that is not
// there or already deleted). So a re-created entity gets a new vertex next
// to its deleted predecessor, and a removed placeholder's key keeps its id,
// as upstream. The cache is only memory: after a restart it refills from
// the graph's live vertices, so nothing needs persisting.
//
// Thread safety: a Processor and its Graph need external synchronization.
#ifndef VITRAGE_GRAPH_SERVICE_PROCESSOR_PROCESSOR_H_
#define VITRAGE_GRAPH_SERVICE_PROCESSOR_PROCESSOR_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "common/md5.h"
#include "graph_service/graph/graph.h"
#include "graph_service/processor/event.h"
#include "graph_service/processor/state_table.h"
#include "graph_service/processor/transformer.h"
#include "vitrage/v1/graph_types.pb.h"

namespace vitrage::processor {

// Mints vertex ids.
using IdGenerator = std::function<std::string()>;
// Random uuid4 strings.
IdGenerator RandomUuidGenerator();
// Deterministic uuid4-shaped ids from a seed (tests).
IdGenerator SeededUuidGenerator(uint64_t seed);
// The conformance corpus rule: the n-th id (n from 1) is
// 00000000-0000-4000-8000-<n as 12 hex digits>.
IdGenerator ConformanceIdGenerator();

// "now" while an event is processed, formatted as Python's
// str(datetime) with UTC offset: "2024-05-01 10:01:00.500000+00:00".
using Clock = std::function<std::string(const Event&)>;
// Wall-clock time.
Clock WallClock();
// The conformance corpus rule: the event's vitrage_sample_date + 0.5 s
// (wall clock when the event has no parsable sample date).
Clock SampleDatePlusHalfSecondClock();

// md5 hex of `s` (vitrage_cached_id is md5 of the natural key string).
using ::vitrage::Md5Hex;

// Told of every id the processor mints, with the natural key
// ("category:type:id") it was minted for (the corpus's canonical form).
using MintObserver = std::function<void(const std::string& id, const std::string& key)>;

struct ProcessorOptions {
  IdGenerator id_generator;  // default: RandomUuidGenerator()
  MintObserver on_mint;      // optional
  Clock clock;               // default: WallClock()
  TransformerRegistry transformers = TransformerRegistry::Default();
  StateTable states = StateTable::Defaults();
};

class Processor {
 public:
  // REQUIRES: `graph` outlives the processor.
  explicit Processor(graph::Graph* graph, ProcessorOptions options = {});

  // Processes one event. On success appends to `delta` (when non-null)
  // exactly the changes made to the graph, in order; an event that changes
  // nothing (e.g. a stale update) appends nothing. On error (no transformer
  // for vitrage_entity_type, a malformed event) the graph is unchanged and
  // the status names the field.
  absl::Status Process(const Event& event, v1::GraphDelta* delta);
  // The same for an event converted by ProtoEventFromMapValue: exactly what
  // Process(EventFromMapValue(body), delta) does, but a pass-through
  // event's ops are read from the body, and a set_vertex of an existing
  // vertex converts only the properties whose value changes (the common
  // update touches a few of a vertex's properties). REQUIRES: the body
  // `event` was made from is alive.
  absl::Status Process(const ProtoEvent& event, v1::GraphDelta* delta);

  // Starts loading the graph memory that processing the event with body
  // `fields` will read first (the index entries of a pass-through event's
  // set_vertex ids), without waiting for it; changes nothing. For a caller
  // that sees events a little before it processes them: the loads of many
  // events then overlap instead of each event waiting for its own. Returns
  // the first set_vertex op's id (a pointer into `fields`), or null, for
  // graph::VertexLookahead's next steps.
  const std::string* Prefetch(const v1::MapValue& fields) const;

  // Counters, for logs and tests.
  struct Stats {
    uint64_t processed = 0;
    uint64_t dropped_stale = 0;
    uint64_t placeholders_created = 0;
  };
  const Stats& stats() const { return stats_; }

 private:
  struct Ctx;
  absl::Status ProcessEntity(const Event& ev, Entity* ent, v1::GraphDelta* delta);
  absl::Status ApplyRawOps(const Entity& ent, v1::GraphDelta* delta);
  // Vertex id for `key`: a live vertex, else (when `allow_deleted`) a
  // deleted one, else "" (the caller mints one).
  // (non-const: memoizes vitrage_cached_id.)
  std::string FindId(const NaturalKey& key, bool allow_deleted);
  std::string MintId(const NaturalKey& key);
  // The id upstream's cache gives `key` (cached, else the live vertex's,
  // else minted and cached).
  std::string ResolveId(const NaturalKey& key);
  // Forgets `key`'s cached id when it is `id`.
  void ForgetId(const NaturalKey& key, const std::string& id);
  // Forgets the cached id `id` (a consistency event's vitrage_id).
  void ForgetIdOfVertex(const std::string& id);
  // `slot`, when known, is FindVertex(id) (kNoSlot: absent), saving the
  // lookup; kUnknownSlot: look it up.
  static constexpr graph::Slot kUnknownSlot = graph::kNoSlot - 1;
  void AddIdentity(const NaturalKey& key, const std::string& id, graph::Properties* props,
                   graph::Slot slot = kUnknownSlot);
  // vitrage_cached_id of `key` (md5 of its string), memoized in `key`
  // and in cached_ids_ (CachedIdOf).
  graph::Value CachedId(const NaturalKey& key);
  graph::Value CachedIdOf(const NaturalKey& key);
  void Aggregate(graph::Properties* props, graph::Slot existing);
  bool CanUpdate(graph::Slot existing, const graph::Properties& props) const;
  absl::Status UpsertVertex(const std::string& id, graph::Properties props, bool keep_nulls,
                            v1::GraphDelta* delta, graph::Slot slot = kUnknownSlot);
  absl::Status UpsertEdge(const std::string& s, const std::string& t, const std::string& label,
                          const graph::Properties& props, v1::GraphDelta* delta);
  absl::Status MarkEdgeDeleted(graph::Slot e, const std::string& now, v1::GraphDelta* delta);
  absl::Status RemovePlaceholderIfOrphan(graph::Slot v, v1::GraphDelta* delta);
  absl::Status ConnectNeighbors(const std::string& entity_id, std::vector<Neighbor>* neighbors,
                                const std::vector<bool>& valid, v1::GraphDelta* delta);
  void AddResourceDetails(graph::Properties* props, const std::vector<Neighbor>& neighbors);
  absl::Status UpdateNeighbors(const std::string& entity_id, std::vector<Neighbor>* neighbors,
                               const std::string& now, v1::GraphDelta* delta);

  graph::Graph* graph_;
  ProcessorOptions options_;
  Stats stats_;
  static constexpr size_t kMaxCachedIds = size_t{1} << 20;
  absl::flat_hash_map<std::string, graph::Value> cached_ids_;  // natural key -> md5 hex
  // vitrage_cached_id (md5 of the natural key) -> vertex id: upstream's
  // key_to_uuid_cache. Bounded by clearing (it refills from the graph).
  static constexpr size_t kMaxIds = size_t{1} << 23;
  absl::flat_hash_map<std::string, std::string> ids_;
  // "type\0value" -> (aggregated, operational) values.
  absl::flat_hash_map<std::string, std::pair<graph::Value, graph::Value>> aggregates_;
};

}  // namespace vitrage::processor

#endif  // VITRAGE_GRAPH_SERVICE_PROCESSOR_PROCESSOR_H_
