#include "collector/static_yaml.h"

#include <glog/logging.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace vitrage::collector {
namespace {

constexpr const char* kBaseFields[] = {"static_id", "type", "id"};
constexpr const char* kStringFields[] = {"static_id", "type", "id", "name", "state"};

bool IsBaseField(const std::string& k) {
  for (const char* b : kBaseFields) {
    if (k == b) return true;
  }
  return false;
}

bool IsStringField(const std::string& k) {
  for (const char* b : kStringFields) {
    if (k == b) return true;
  }
  return false;
}

class Reader {
 public:
  explicit Reader(std::string path) : path_(std::move(path)) {}

  absl::Status Error(const YAML::Node& at, absl::string_view field,
                     absl::string_view problem) const {
    std::string where = path_;
    if (at.IsDefined() && at.Mark().line >= 0) {
      absl::StrAppend(&where, " line ", at.Mark().line + 1);
    }
    return absl::InvalidArgumentError(
        absl::StrCat("static datasource file ", where, ": ", field, ": ", problem));
  }

  // Keys upstream's schema allows but ignores: logged, not an error.
  void Warn(const YAML::Node& at, absl::string_view field, absl::string_view problem) const {
    LOG(WARNING) << "static datasource file " << path_ << " line " << at.Mark().line + 1 << ": "
                 << field << ": " << problem;
  }

  // A plain scalar typed like YAML 1.2's core schema; quoted: string.
  static nlohmann::json Scalar(const YAML::Node& n) {
    const std::string& s = n.Scalar();
    if (n.Tag() == "!") return s;  // quoted
    if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
    if (s == "true" || s == "True" || s == "TRUE") return true;
    if (s == "false" || s == "False" || s == "FALSE") return false;
    int64_t i;
    if (absl::SimpleAtoi(s, &i) && (absl::ascii_isdigit(s[0]) || s[0] == '-' || s[0] == '+')) {
      return i;
    }
    double d;
    if (s.find_first_of(".eE") != std::string::npos && absl::SimpleAtod(s, &d) &&
        (absl::ascii_isdigit(s[0]) || s[0] == '-' || s[0] == '+' || s[0] == '.')) {
      return d;
    }
    return s;
  }

  absl::StatusOr<nlohmann::json> ToJson(const YAML::Node& n, const std::string& field) const {
    switch (n.Type()) {
      case YAML::NodeType::Null:
      case YAML::NodeType::Undefined:
        return nlohmann::json(nullptr);
      case YAML::NodeType::Scalar:
        return Scalar(n);
      case YAML::NodeType::Sequence: {
        nlohmann::json a = nlohmann::json::array();
        size_t i = 0;
        for (const auto& e : n) {
          auto v = ToJson(e, absl::StrCat(field, "[", i++, "]"));
          if (!v.ok()) return v.status();
          a.push_back(std::move(*v));
        }
        return a;
      }
      case YAML::NodeType::Map: {
        nlohmann::json o = nlohmann::json::object();
        for (const auto& kv : n) {
          if (!kv.first.IsScalar()) return Error(kv.first, field, "a key is not a scalar");
          auto v = ToJson(kv.second, absl::StrCat(field, ".", kv.first.Scalar()));
          if (!v.ok()) return v.status();
          o[kv.first.Scalar()] = std::move(*v);
        }
        return o;
      }
    }
    return nlohmann::json(nullptr);
  }

  // A required string-valued key of mapping `m` (scalars read as text).
  absl::StatusOr<std::string> RequiredString(const YAML::Node& m, const char* key,
                                             const std::string& field) const {
    YAML::Node v = m[key];
    if (!v.IsDefined() || v.IsNull()) {
      return Error(m, absl::StrCat(field, ".", key), "missing (required)");
    }
    if (!v.IsScalar()) return Error(v, absl::StrCat(field, ".", key), "must be a string");
    if (v.Scalar().empty()) return Error(v, absl::StrCat(field, ".", key), "must not be empty");
    return v.Scalar();
  }

  absl::StatusOr<std::vector<nlohmann::json>> Read() {
    YAML::Node root;
    try {
      root = YAML::LoadFile(path_);
    } catch (const YAML::BadFile&) {
      return absl::NotFoundError(
          absl::StrCat("static datasource file ", path_, ": cannot read: ", strerror(errno)));
    } catch (const YAML::ParserException& e) {
      return absl::InvalidArgumentError(absl::StrCat("static datasource file ", path_, " line ",
                                                     e.mark.line + 1, ", column ",
                                                     e.mark.column + 1, ": not YAML: ", e.msg));
    }
    if (!root.IsMap()) return Error(root, "(top level)", "must be a mapping with `definitions`");
    std::string unknown;  // named when `definitions` is missing (a typo?)
    for (const auto& kv : root) {
      const std::string k = kv.first.Scalar();
      if (k != "metadata" && k != "definitions") {
        Warn(kv.first, k, "unknown key, ignored (expected metadata, definitions)");
        absl::StrAppend(&unknown, unknown.empty() ? "" : ", ", "\"", k, "\" at line ",
                        kv.first.Mark().line + 1);
      }
    }
    YAML::Node meta = root["metadata"];
    if (meta.IsDefined() && !meta.IsNull()) {
      if (!meta.IsMap()) return Error(meta, "metadata", "must be a mapping");
      YAML::Node name = meta["name"];
      if (!name.IsDefined() || !name.IsScalar()) {
        return Error(meta, "metadata.name", "missing (required when metadata is present)");
      }
      YAML::Node desc = meta["description"];
      if (desc.IsDefined() && !desc.IsNull() && !desc.IsScalar()) {
        return Error(desc, "metadata.description", "must be a string");
      }
    }
    YAML::Node defs = root["definitions"];
    if (!defs.IsDefined() || defs.IsNull()) {
      return Error(root, "definitions",
                   unknown.empty() ? std::string("missing (required)")
                                   : absl::StrCat("missing (required); unknown key ", unknown));
    }
    if (!defs.IsMap()) return Error(defs, "definitions", "must be a mapping");
    YAML::Node ents = defs["entities"];
    YAML::Node rels = defs["relationships"];
    if (!ents.IsDefined()) return Error(defs, "definitions.entities", "missing (required)");
    if (!rels.IsDefined()) return Error(defs, "definitions.relationships", "missing (required)");
    if (!ents.IsSequence() && !ents.IsNull()) {
      return Error(ents, "definitions.entities", "must be a list");
    }
    if (!rels.IsSequence() && !rels.IsNull()) {
      return Error(rels, "definitions.relationships", "must be a list");
    }

    std::vector<nlohmann::json> out;
    absl::flat_hash_map<std::string, size_t> by_static_id;
    size_t i = 0;
    for (const YAML::Node& e : ents) {
      const std::string field = absl::StrCat("definitions.entities[", i++, "]");
      if (!e.IsMap()) return Error(e, field, "must be a mapping");
      nlohmann::json entity = nlohmann::json::object();
      nlohmann::json metadata = nlohmann::json::object();
      for (const auto& kv : e) {
        if (!kv.first.IsScalar()) return Error(kv.first, field, "a key is not a scalar");
        const std::string k = kv.first.Scalar();
        nlohmann::json v;
        if (IsStringField(k)) {
          if (!kv.second.IsScalar() && !kv.second.IsNull()) {
            return Error(kv.second, absl::StrCat(field, ".", k), "must be a string");
          }
          v = kv.second.IsNull() ? nlohmann::json(nullptr) : nlohmann::json(kv.second.Scalar());
        } else {
          if (k == "relationships" || k == "metadata") {
            return Error(kv.first, absl::StrCat(field, ".", k),
                         "reserved (relationships go in definitions.relationships)");
          }
          auto j = ToJson(kv.second, absl::StrCat(field, ".", k));
          if (!j.ok()) return j.status();
          v = std::move(*j);
        }
        if (!IsBaseField(k)) metadata[k] = v;
        entity[k] = std::move(v);
      }
      for (const char* key : kBaseFields) {
        auto s = RequiredString(e, key, field);
        if (!s.ok()) return s.status();
      }
      const std::string sid = entity["static_id"].get<std::string>();
      if (by_static_id.contains(sid)) {
        return Error(e["static_id"], absl::StrCat(field, ".static_id"),
                     absl::StrCat("duplicate static_id \"", sid, "\" (also entities[",
                                  by_static_id[sid], "])"));
      }
      by_static_id[sid] = out.size();
      entity["metadata"] = std::move(metadata);
      entity["relationships"] = nlohmann::json::array();
      out.push_back(std::move(entity));
    }

    // The targets as they are before any relationship is attached.
    const std::vector<nlohmann::json> plain = out;
    i = 0;
    for (const YAML::Node& r : rels) {
      const std::string field = absl::StrCat("definitions.relationships[", i++, "]");
      if (!r.IsMap()) return Error(r, field, "must be a mapping");
      std::string ends[2];
      const char* names[2] = {"source", "target"};
      for (int k = 0; k < 2; ++k) {
        auto s = RequiredString(r, names[k], field);
        if (!s.ok()) return s.status();
        if (!by_static_id.contains(*s)) {
          return Error(r[names[k]], absl::StrCat(field, ".", names[k]),
                       absl::StrCat("no entity has static_id \"", *s, "\""));
        }
        ends[k] = std::move(*s);
      }
      auto label = RequiredString(r, "relationship_type", field);
      if (!label.ok()) return label.status();
      for (const auto& kv : r) {
        const std::string k = kv.first.Scalar();
        if (k != "source" && k != "target" && k != "relationship_type") {
          Warn(kv.first, absl::StrCat(field, ".", k),
               "unknown key, ignored (expected source, target, relationship_type)");
        }
      }
      nlohmann::json rel = {{"source", ends[0]},
                            {"target", plain[by_static_id[ends[1]]]},
                            {"relationship_type", *label}};
      out[by_static_id[ends[0]]]["relationships"].push_back(std::move(rel));
    }
    return out;
  }

 private:
  std::string path_;
};

}  // namespace

bool IsStaticYamlPath(absl::string_view path) {
  return absl::EndsWith(path, ".yaml") || absl::EndsWith(path, ".yml");
}

absl::StatusOr<std::vector<nlohmann::json>> LoadStaticYaml(const std::string& path) {
  try {
    return Reader(path).Read();
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("static datasource file ", path, " line ", e.mark.line + 1, ": ", e.msg));
  }
}

absl::StatusOr<std::unique_ptr<StaticYamlSource>> StaticYamlSource::Open(const std::string& path) {
  auto entities = LoadStaticYaml(path);
  if (!entities.ok()) return entities.status();
  return std::unique_ptr<StaticYamlSource>(new StaticYamlSource(path, std::move(*entities)));
}

std::string StaticYamlSource::Describe() const {
  size_t rels = 0;
  for (const auto& e : entities_) rels += e["relationships"].size();
  return absl::StrCat("static datasource file ", path_, ": ", entities_.size(), " entities, ", rels,
                      " relationships");
}

namespace {

void AddEventFields(nlohmann::json* ev, absl::string_view action, absl::string_view date) {
  (*ev)["vitrage_entity_type"] = "static";
  (*ev)["vitrage_datasource_name"] = "static";
  (*ev)["vitrage_datasource_action"] = std::string(action);
  (*ev)["vitrage_sample_date"] = std::string(date);
}

// upstream's _find_entity: the entity of the same type and id.
const nlohmann::json* FindEntity(const nlohmann::json& e, const std::vector<nlohmann::json>& in) {
  for (const auto& o : in) {
    if (o["type"] == e["type"] && o["id"] == e["id"]) return &o;
  }
  return nullptr;
}

// upstream's _equal_entities: type, id, name and state.
bool EqualEntities(const nlohmann::json& a, const nlohmann::json& b) {
  for (const char* k : {"type", "id", "name", "state"}) {
    if (a.value(k, nlohmann::json()) != b.value(k, nlohmann::json())) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<std::vector<nlohmann::json>> StaticYamlSource::Reload(
    absl::string_view sample_date) {
  auto fresh = LoadStaticYaml(path_);
  if (!fresh.ok()) return fresh.status();
  std::vector<nlohmann::json> out;
  for (const auto& e : *fresh) {
    const nlohmann::json* old = FindEntity(e, entities_);
    if (old == nullptr || !EqualEntities(*old, e)) out.push_back(e);
  }
  for (const auto& e : entities_) {
    if (FindEntity(e, *fresh) == nullptr) {
      out.push_back(e);
      out.back()["vitrage_event_type"] = "delete_entity";
    }
  }
  for (auto& ev : out) AddEventFields(&ev, "update", sample_date);
  entities_ = std::move(*fresh);
  return out;
}

std::vector<nlohmann::json> StaticYamlSource::GetAll(absl::string_view action,
                                                     absl::string_view sample_date) {
  std::vector<nlohmann::json> out;
  out.reserve(entities_.size());
  for (const auto& e : entities_) {
    nlohmann::json ev = e;
    AddEventFields(&ev, action, sample_date);
    out.push_back(std::move(ev));
  }
  return out;
}

}  // namespace vitrage::collector
