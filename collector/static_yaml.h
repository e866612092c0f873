// Upstream Vitrage's static datasource file ([static] directory, *.yaml;
// vitrage/datasources/static/ and doc/source/contributor/static-config.rst)
// as a collector topology source ([collector] topology_file ending .yaml or
// .yml):
//
//   metadata:                      # optional; name required when present
//     name: my topology
//   definitions:
//     entities:                    # each: static_id, type, id required
//       - static_id: s1            # (strings); name, state and any other
//         type: switch             # key are the entity's metadata
//         id: "12345"
//         name: switch-1
//         state: available
//     relationships:               # each: source, target (static_ids),
//       - source: s1               # relationship_type
//         target: h1
//         relationship_type: attached
//
// The events are what upstream's StaticDriver.get_all() sends: one per
// entity, the entity's own keys at the top level plus `metadata` (every key
// but static_id, type, id) and `relationships`: the relationships whose
// source is this entity, each {source: <static_id>, target: <the target
// entity's dict>, relationship_type}; vitrage_entity_type and
// vitrage_datasource_name "static". The graph's static transformer turns
// them into vertices (entities of types with their own datasource, e.g.
// nova.host, merge into that datasource's vertex) and edges.
//
// Decisions where upstream is silent or lenient (docs/collector.md):
//  * scalars: static_id, type, id, name, state are read as their text
//    (`id: 12345` is "12345", as the graph keys vertices by strings); other
//    plain scalars are typed like YAML 1.2's core schema (true/false, null,
//    ~, integers, floats), quoted ones stay strings;
//  * a duplicate static_id, a relationship naming an unknown static_id and
//    a schema violation are errors (upstream skips the entity, raises
//    KeyError, skips the file) naming file, line and field; keys the schema
//    does not name (at the top level, in a relationship) are ignored with a
//    warning, as upstream's schema allows them;
//  * a relationship's target dict is the target entity without its own
//    relationships (upstream nests them by reference, which can be cyclic);
//    a self-relationship's target is the entity itself (our transformer
//    needs the other end as a dict).
//  * reloading: upstream polls the directory every changes_interval; here
//    the operator sends SIGHUP (CollectorService::Reload) and the changes
//    are computed as upstream's StaticDriver.get_changes() does: entities
//    (matched by type and id) that are new, or whose type, id, name or
//    state differ, are sent as `update` events; entities gone from the
//    file are sent with vitrage_event_type delete_entity. As upstream,
//    relationships are not compared (an entity whose only change is a
//    relationship is not sent). A file that no longer reads is an error
//    and the previous state stays.
#ifndef VITRAGE_COLLECTOR_STATIC_YAML_H_
#define VITRAGE_COLLECTOR_STATIC_YAML_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "collector/upstream_events.h"
#include "nlohmann/json.hpp"

namespace vitrage::collector {

// True when `path` names a static YAML file (.yaml / .yml).
bool IsStaticYamlPath(absl::string_view path);

// Reads and checks a static datasource file. Returns the entities as
// upstream's driver packs them (without the vitrage_* event fields), in file
// order. INVALID_ARGUMENT naming "FILE line N: FIELD: problem" on bad input,
// NOT_FOUND when the file cannot be read.
absl::StatusOr<std::vector<nlohmann::json>> LoadStaticYaml(const std::string& path);

// The static datasource: get_all only (no changes).
class StaticYamlSource : public UpstreamSource {
 public:
  static absl::StatusOr<std::unique_ptr<StaticYamlSource>> Open(const std::string& path);

  std::string Describe() const override;
  std::vector<nlohmann::json> GetAll(absl::string_view action,
                                     absl::string_view sample_date) override;
  std::vector<nlohmann::json> NextChange(absl::string_view) override { return {}; }
  bool MakesChanges() const override { return false; }
  absl::StatusOr<std::vector<nlohmann::json>> Reload(absl::string_view sample_date) override;

  const std::vector<nlohmann::json>& entities() const { return entities_; }

 private:
  StaticYamlSource(std::string path, std::vector<nlohmann::json> entities)
      : path_(std::move(path)), entities_(std::move(entities)) {}
  std::string path_;
  std::vector<nlohmann::json> entities_;
};

}  // namespace vitrage::collector

#endif  // VITRAGE_COLLECTOR_STATIC_YAML_H_
