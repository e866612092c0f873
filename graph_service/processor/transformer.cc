#include "graph_service/processor/transformer.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "graph_service/processor/openstack_transformers.h"
#include "graph_service/processor/passthrough_transformer.h"
#include "graph_service/processor/static_transformer.h"

namespace vitrage::processor {

using graph::Value;
namespace keys = graph::keys;

namespace {
struct ActionName {
  GraphAction action;
  const char* name;
};
constexpr ActionName kActions[] = {
    {GraphAction::kCreateEntity, "create_entity"},
    {GraphAction::kUpdateEntity, "update_entity"},
    {GraphAction::kDeleteEntity, "delete_entity"},
    {GraphAction::kUpdateRelationship, "update_relationship"},
    {GraphAction::kDeleteRelationship, "delete_relationship"},
    {GraphAction::kRemoveDeletedEntity, "remove_deleted_entity"},
    {GraphAction::kNone, "end_message"},
};
}  // namespace

bool ParseGraphAction(absl::string_view s, GraphAction* out) {
  for (const auto& a : kActions) {
    if (s == a.name) {
      *out = a.action;
      return true;
    }
  }
  return false;
}

const char* GraphActionName(GraphAction a) {
  if (a == GraphAction::kRawOps) return "raw_ops";
  for (const auto& x : kActions) {
    if (x.action == a) return x.name;
  }
  return "?";
}

std::string NaturalKey::ToString() const { return absl::StrCat(category, ":", type, ":", id); }

absl::Status DefaultAction(const Event& event, GraphAction* out) {
  absl::string_view action = event.GetString(ekeys::kDatasourceAction);
  if (action == "init_snapshot") {
    *out = GraphAction::kCreateEntity;
  } else if (action == "snapshot") {
    *out = GraphAction::kUpdateEntity;
  } else if (action == "update") {
    absl::string_view et = event.GetString(ekeys::kEventType);
    if (!ParseGraphAction(et, out)) *out = GraphAction::kUpdateEntity;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("event field \"vitrage_datasource_action\": unknown value \"", action,
                     "\" (want init_snapshot, snapshot or update)"));
  }
  return absl::OkStatus();
}

EntityVertex MakePlaceholder(absl::string_view category, absl::string_view type,
                             absl::string_view id, absl::string_view sample_timestamp,
                             bool is_placeholder) {
  EntityVertex v;
  v.key = NaturalKey{std::string(category), std::string(type), std::string(id)};
  v.placeholder = is_placeholder;
  graph::Properties& p = v.props;
  p.Reserve(8);  // + a neighbour's state and name (MakeNeighbor)
  p.AppendUnsorted(keys::kId, Value::String(id));
  p.AppendUnsorted(keys::kVitrageType, Value::StringFor(keys::kVitrageType, type));
  p.AppendUnsorted(keys::kVitrageCategory, Value::StringFor(keys::kVitrageCategory, category));
  if (!sample_timestamp.empty()) {
    p.AppendUnsorted(keys::kVitrageSampleTimestamp,
                     Value::StringFor(keys::kVitrageSampleTimestamp, sample_timestamp));
  }
  p.AppendUnsorted(keys::kVitrageIsPlaceholder, Value::Bool(is_placeholder));
  p.AppendUnsorted(keys::kVitrageIsDeleted, Value::Bool(false));
  p.SortAndDedupe();
  return v;
}

TransformerRegistry TransformerRegistry::Default() {
  TransformerRegistry r;
  r.Register(kStaticEntityType,
             std::make_shared<StaticTransformer>(std::vector<std::string>{
                 "nova.host", "nova.instance", "nova.zone", "neutron.network", "neutron.port",
                 "cinder.volume", "zabbix", "openstack.cluster"}));
  r.Register(kPassthroughEntityType, std::make_shared<PassthroughTransformer>());
  r.Register("nova.zone", std::make_shared<NovaZoneTransformer>());
  r.Register("nova.host", std::make_shared<NovaHostTransformer>());
  r.Register("nova.instance", std::make_shared<NovaInstanceTransformer>());
  r.Register("cinder.volume", std::make_shared<CinderVolumeTransformer>());
  r.Register("neutron.network", std::make_shared<NeutronNetworkTransformer>());
  r.Register("neutron.port", std::make_shared<NeutronPortTransformer>());
  r.Register("zabbix", std::make_shared<ZabbixTransformer>());
  r.Register("consistency", std::make_shared<ConsistencyTransformer>());
  return r;
}

void TransformerRegistry::Register(std::string entity_type, std::shared_ptr<const Transformer> t) {
  map_[std::move(entity_type)] = std::move(t);
}

const Transformer* TransformerRegistry::Find(absl::string_view entity_type) const {
  auto it = map_.find(entity_type);
  return it == map_.end() ? nullptr : it->second.get();
}

}  // namespace vitrage::processor
