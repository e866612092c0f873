// Transformers turn a datasource event into an entity vertex, its
// neighbours and a graph action (upstream Vitrage's transformers). One
// transformer per vitrage_entity_type, found in a TransformerRegistry.
// Adding a datasource = adding a Transformer subclass and registering it.
//
// Transformers do not see the graph and do not mint ids: they name vertices
// by natural key (category, type, id); the processor resolves keys to
// vertex ids and applies Vitrage's semantics.
#ifndef VITRAGE_GRAPH_SERVICE_PROCESSOR_TRANSFORMER_H_
#define VITRAGE_GRAPH_SERVICE_PROCESSOR_TRANSFORMER_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "graph_service/graph/value.h"
#include "graph_service/processor/event.h"

namespace vitrage::processor {

// Upstream's GraphAction values.
enum class GraphAction {
  kCreateEntity,         // "create_entity"
  kUpdateEntity,         // "update_entity"
  kDeleteEntity,         // "delete_entity"
  kUpdateRelationship,   // "update_relationship"
  kDeleteRelationship,   // "delete_relationship"
  kRemoveDeletedEntity,  // "remove_deleted_entity"
  kRawOps,               // pass-through: Entity::ops applied as given
  kNone,                 // nothing to do (e.g. end_message)
};

// Parses a GraphAction value ("update_entity", ...). False when unknown.
bool ParseGraphAction(absl::string_view s, GraphAction* out);
const char* GraphActionName(GraphAction a);

// Identifies an entity independent of its vertex id. Resources use
// (RESOURCE, vitrage_type, id).
struct NaturalKey {
  NaturalKey() = default;
  NaturalKey(std::string c, std::string t, std::string i)
      : category(std::move(c)), type(std::move(t)), id(std::move(i)) {}
  std::string category;
  std::string type;
  std::string id;
  // "category:type:id", the string whose md5 is vitrage_cached_id.
  std::string ToString() const;
  // The processor's memo of that md5 (null until it is first asked for):
  // a key is resolved, then named in the vertex it writes.
  mutable graph::Value cached_id;
};

// A vertex as a transformer describes it: natural key + properties (without
// vitrage_id, vitrage_cached_id, is_real_vitrage_id, the aggregated states
// and vitrage_datasource_name: the processor adds those). A null value in
// `props` removes the key on update (upstream's update_vertex).
struct EntityVertex {
  NaturalKey key;
  graph::Properties props;
  bool placeholder = false;
};

// A neighbour and the edge that links it to the entity.
struct Neighbor {
  EntityVertex vertex;
  std::string label;  // relationship_type
  bool entity_is_source = true;
  // Set by the processor when it resolved (or minted) the neighbour's id
  // before connecting it (an alarm's resource).
  std::string resolved_id;
};

// A pass-through operation (GraphAction::kRawOps). The strings are views
// into the event's values and `props` shares the event's map value (no
// copy): a RawOp is valid while the event it came from lives.
struct RawOp {
  enum Kind { kSetVertex, kRemoveVertex, kSetEdge, kRemoveEdge };
  Kind kind = kSetVertex;
  absl::string_view id;                     // vertex ops
  absl::string_view source, target, label;  // edge ops
  graph::Value props;                       // set ops: the full new properties, a map value
  // Set ops of an event whose ops were left in its proto body (ProtoEvent):
  // the properties, not converted (then `props` is null). Points into the body.
  const v1::MapValue* proto_props = nullptr;
  // The members of `props`, sorted by key (empty for remove ops).
  absl::Span<const graph::MapEntry> prop_items() const {
    if (props.kind() != graph::Value::Kind::kMap) return {};
    return props.map_entries();
  }
};

// What a transformer makes of an event.
struct Entity {
  GraphAction action = GraphAction::kNone;
  EntityVertex vertex;
  // When set (consistency events), the vertex is this vitrage_id rather
  // than whatever vertex.key resolves to.
  std::string vitrage_id;
  std::vector<Neighbor> neighbors;
  std::vector<RawOp> ops;  // kRawOps only
};

class Transformer {
 public:
  virtual ~Transformer() = default;
  // Fills `out` from `event`. INVALID_ARGUMENT naming the field when the
  // event lacks what the transformer needs.
  virtual absl::Status Transform(const Event& event, Entity* out) const = 0;
};

// Upstream's action rule: init_snapshot -> create_entity; snapshot ->
// update_entity; update -> vitrage_event_type when it is a GraphAction
// value, else `update_default` (a transformer's own event-type mapping
// runs before this). INVALID_ARGUMENT on an unknown datasource action.
absl::Status DefaultAction(const Event& event, GraphAction* out);

// Creates the placeholder-shaped vertex upstream's
// create_neighbor_placeholder_vertex makes: id, vitrage_type,
// vitrage_category, vitrage_sample_timestamp (when non-empty),
// vitrage_is_placeholder, vitrage_is_deleted false.
EntityVertex MakePlaceholder(absl::string_view category, absl::string_view type,
                             absl::string_view id, absl::string_view sample_timestamp,
                             bool is_placeholder = true);

// vitrage_entity_type -> transformer.
class TransformerRegistry {
 public:
  // A registry with this build's transformers: "static",
  // "vitrage.passthrough", nova.zone/host/instance, cinder.volume,
  // neutron.network/port and consistency.
  static TransformerRegistry Default();

  void Register(std::string entity_type, std::shared_ptr<const Transformer> t);
  // nullptr when no transformer handles `entity_type`.
  const Transformer* Find(absl::string_view entity_type) const;
  // True when `vitrage_type` has its own transformer (upstream's static
  // datasource then yields only id/type/category for such entities).
  bool Has(absl::string_view entity_type) const { return Find(entity_type) != nullptr; }

 private:
  absl::flat_hash_map<std::string, std::shared_ptr<const Transformer>> map_;
};

}  // namespace vitrage::processor

#endif  // VITRAGE_GRAPH_SERVICE_PROCESSOR_TRANSFORMER_H_
