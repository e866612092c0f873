#include "graph_service/processor/static_transformer.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace vitrage::processor {

using graph::KeyId;
using graph::MapEntry;
using graph::Value;
namespace keys = graph::keys;

namespace {

const KeyId kStaticId = graph::InternKey("static_id");
const KeyId kType = graph::InternKey("type");
const KeyId kCategory = graph::InternKey("category");
const KeyId kMetadata = graph::InternKey("metadata");
const KeyId kRelationships = graph::InternKey("relationships");
const KeyId kSource = graph::InternKey("source");
const KeyId kTarget = graph::InternKey("target");

constexpr absl::string_view kResource = "RESOURCE";

const Value* MapGet(const Value& m, KeyId k) {
  for (const MapEntry& e : m.map_entries()) {
    if (e.first == k) return &e.second;
  }
  return nullptr;
}

absl::string_view MapString(const Value& m, KeyId k) {
  const Value* v = MapGet(m, k);
  return v ? v->AsString() : absl::string_view();
}

absl::Status Missing(absl::string_view field) {
  return absl::InvalidArgumentError(
      absl::StrCat("static event: field \"", field, "\" is missing or not a string"));
}

}  // namespace

StaticTransformer::StaticTransformer(std::vector<std::string> own_types)
    : own_types_(std::move(own_types)) {}

bool StaticTransformer::HasOwnTransformer(absl::string_view type) const {
  return std::find(own_types_.begin(), own_types_.end(), type) != own_types_.end();
}

absl::Status StaticTransformer::Transform(const Event& ev, Entity* out) const {
  absl::Status st = DefaultAction(ev, &out->action);
  if (!st.ok()) return st;
  absl::string_view type = ev.GetString(kType);
  absl::string_view id = ev.GetString(keys::kId);
  if (type.empty()) return Missing("type");
  if (id.empty()) return Missing("id");
  absl::string_view category = ev.GetString(kCategory);
  if (category.empty()) category = kResource;
  absl::string_view sample = ev.GetString(ekeys::kSampleDate);

  if (HasOwnTransformer(type)) {
    out->vertex = MakePlaceholder(category, type, id, sample, /*is_placeholder=*/false);
  } else {
    EntityVertex& v = out->vertex;
    v.key = NaturalKey{std::string(category), std::string(type), std::string(id)};
    graph::Properties& p = v.props;
    // Appended in this order, then sorted: a later key wins, as Set would.
    const Value* md = ev.Find(kMetadata);
    bool has_md = md != nullptr && md->kind() == Value::Kind::kMap;
    p.Reserve(8 + (has_md ? md->map_entries().size() : 0) + 8);  // + the processor's keys
    p.AppendUnsorted(keys::kVitrageCategory, Value::StringFor(keys::kVitrageCategory, category));
    p.AppendUnsorted(keys::kVitrageType, Value::StringFor(keys::kVitrageType, type));
    p.AppendUnsorted(keys::kId, Value::String(id));
    p.AppendUnsorted(keys::kVitrageIsDeleted, Value::Bool(false));
    p.AppendUnsorted(keys::kVitrageIsPlaceholder, Value::Bool(false));
    if (!sample.empty()) {
      p.AppendUnsorted(keys::kVitrageSampleTimestamp,
                       Value::StringFor(keys::kVitrageSampleTimestamp, sample));
      p.AppendUnsorted(keys::kUpdateTimestamp, Value::StringFor(keys::kUpdateTimestamp, sample));
    }
    const Value* state = ev.Find(keys::kState);
    if (state != nullptr && !state->is_null()) p.AppendUnsorted(keys::kState, *state);
    if (has_md) {
      for (const MapEntry& e : md->map_entries()) {
        if (!e.second.is_null()) p.AppendUnsorted(e.first, e.second);
      }
    }
    p.SortAndDedupe();
  }

  absl::string_view static_id = ev.GetString(kStaticId);
  const Value* rels = ev.Find(kRelationships);
  if (rels != nullptr && rels->kind() == Value::Kind::kList) {
    int i = 0;
    for (const Value& rel : rels->list_items()) {
      if (rel.kind() != Value::Kind::kMap) {
        return absl::InvalidArgumentError(
            absl::StrCat("static event: relationships[", i, "] is not a map"));
      }
      const Value* src = MapGet(rel, kSource);
      const Value* dst = MapGet(rel, kTarget);
      absl::string_view label = MapString(rel, keys::kRelationshipType);
      if (src == nullptr || dst == nullptr || label.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "static event: relationships[", i, "] needs source, target and relationship_type"));
      }
      bool entity_is_source = src->is_string() && src->string_value() == static_id;
      const Value& other = entity_is_source ? *dst : *src;
      if (other.kind() != Value::Kind::kMap) {
        return absl::InvalidArgumentError(absl::StrCat("static event: relationships[", i,
                                                       "]: the other end is not an entity map"));
      }
      absl::string_view ocat = MapString(other, kCategory);
      if (ocat.empty()) ocat = kResource;
      Neighbor n;
      n.vertex =
          MakePlaceholder(ocat, MapString(other, kType), MapString(other, keys::kId), sample);
      n.label = std::string(label);
      n.entity_is_source = entity_is_source;
      out->neighbors.push_back(std::move(n));
      ++i;
    }
  }
  return absl::OkStatus();
}

}  // namespace vitrage::processor
