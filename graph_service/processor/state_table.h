// Aggregated / operational state mappings per vitrage_type, as upstream's
// datasources_values/*.yaml: each file names a category and lists groups
// of original values with a priority and each value's operational value.
//
//   aggregated state  = the state upper-cased (null when there is none)
//   operational state = the type's table entry for it, else "N/A"
// A type without a table uses the "default" table of its category.
#ifndef VITRAGE_GRAPH_SERVICE_PROCESSOR_STATE_TABLE_H_
#define VITRAGE_GRAPH_SERVICE_PROCESSOR_STATE_TABLE_H_

#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace vitrage::processor {

class StateTable {
 public:
  struct Entry {
    std::string operational;
    int priority = 0;
  };

  // Upstream's defaults for the types this build transforms (default.yaml,
  // static.yaml, switch.yaml, nova.*.yaml, neutron.*, cinder.volume,
  // openstack.cluster).
  static StateTable Defaults();

  // Loads every *.yaml in `dir` (the file name without .yaml is the type;
  // "default" is the fallback). Replaces tables of the same names. Errors
  // name the file and the field.
  absl::Status LoadDirectory(const std::string& dir);
  // Parses one YAML document for `type`.
  absl::Status LoadYaml(absl::string_view type, absl::string_view yaml_text);

  void Set(absl::string_view type, absl::string_view upper_value, absl::string_view operational,
           int priority);

  // The operational value of `upper_state` for `type`, or nullptr when
  // unmapped (the caller writes "N/A").
  const Entry* Lookup(absl::string_view type, absl::string_view upper_state) const;

 private:
  absl::flat_hash_map<std::string, absl::flat_hash_map<std::string, Entry>> tables_;
};

}  // namespace vitrage::processor

#endif  // VITRAGE_GRAPH_SERVICE_PROCESSOR_STATE_TABLE_H_
