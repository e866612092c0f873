#include "graph_service/processor/state_table.h"

#include <dirent.h>

#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "yaml-cpp/yaml.h"

namespace vitrage::processor {

void StateTable::Set(absl::string_view type, absl::string_view upper_value,
                     absl::string_view operational, int priority) {
  tables_[std::string(type)][absl::AsciiStrToUpper(upper_value)] =
      Entry{std::string(operational), priority};
}

StateTable StateTable::Defaults() {
  StateTable t;
  // default.yaml / static.yaml / switch.yaml / nova.host.yaml / ... share
  // this shape; types with extra values add them below.
  auto base = [&t](absl::string_view type) {
    t.Set(type, "DELETED", "DELETED", 40);
    t.Set(type, "ERROR", "ERROR", 30);
    t.Set(type, "SUBOPTIMAL", "SUBOPTIMAL", 20);
    t.Set(type, "AVAILABLE", "OK", 10);
  };
  for (const char* type :
       {"default", "static", "switch", "nova.host", "nova.zone", "openstack.cluster"}) {
    base(type);
  }
  t.Set("default", "ACTIVE", "OK", 10);
  t.Set("static", "ACTIVE", "OK", 10);
  return t;
}

const StateTable::Entry* StateTable::Lookup(absl::string_view type,
                                            absl::string_view upper_state) const {
  auto it = tables_.find(type);
  if (it == tables_.end()) it = tables_.find("default");
  if (it == tables_.end()) return nullptr;
  auto e = it->second.find(upper_state);
  return e == it->second.end() ? nullptr : &e->second;
}

absl::Status StateTable::LoadYaml(absl::string_view type, absl::string_view text) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(type, ".yaml: ", e.what()));
  }
  YAML::Node values = root["values"];
  if (!values || !values.IsSequence()) {
    return absl::InvalidArgumentError(absl::StrCat(type, ".yaml: \"values\" must be a list"));
  }
  absl::flat_hash_map<std::string, Entry> table;
  for (size_t i = 0; i < values.size(); ++i) {
    YAML::Node agg = values[i]["aggregated values"];
    if (!agg) {
      return absl::InvalidArgumentError(
          absl::StrCat(type, ".yaml: values[", i, "] has no \"aggregated values\""));
    }
    int priority = agg["priority"] ? agg["priority"].as<int>(0) : 0;
    YAML::Node originals = agg["original values"];
    if (!originals || !originals.IsSequence()) {
      return absl::InvalidArgumentError(
          absl::StrCat(type, ".yaml: values[", i, "] \"original values\" must be a list"));
    }
    for (size_t k = 0; k < originals.size(); ++k) {
      YAML::Node name = originals[k]["name"];
      if (!name) {
        return absl::InvalidArgumentError(
            absl::StrCat(type, ".yaml: values[", i, "] original values[", k, "] has no \"name\""));
      }
      std::string op = originals[k]["operational_value"]
                           ? originals[k]["operational_value"].as<std::string>("")
                           : "";
      table[absl::AsciiStrToUpper(name.as<std::string>(""))] = Entry{op, priority};
    }
  }
  tables_[std::string(type)] = std::move(table);
  return absl::OkStatus();
}

absl::Status StateTable::LoadDirectory(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return absl::NotFoundError(absl::StrCat(dir, ": cannot open directory"));
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (absl::EndsWith(n, ".yaml")) names.push_back(n);
  }
  closedir(d);
  for (const auto& n : names) {
    std::ifstream f(dir + "/" + n);
    std::stringstream ss;
    ss << f.rdbuf();
    absl::Status st = LoadYaml(n.substr(0, n.size() - 5), ss.str());
    if (!st.ok()) return absl::Status(st.code(), absl::StrCat(dir, "/", st.message()));
  }
  return absl::OkStatus();
}

}  // namespace vitrage::processor
