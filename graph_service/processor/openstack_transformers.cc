#include "graph_service/processor/openstack_transformers.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/time.h"
#include "common/status_macros.h"

namespace vitrage::processor {

using graph::KeyId;
using graph::MapEntry;
using graph::Truthy;
using graph::Value;
namespace keys = graph::keys;

namespace {

constexpr absl::string_view kResource = "RESOURCE";
constexpr absl::string_view kContains = "contains";
constexpr absl::string_view kAttached = "attached";

const KeyId kProjectId = graph::InternKey("project_id");
const KeyId kHostId = graph::InternKey("host_id");
const KeyId kInstanceName = graph::InternKey("instance_name");
const KeyId kSize = graph::InternKey("size");
const KeyId kVolumeType = graph::InternKey("volume_type");
const KeyId kAttachments = graph::InternKey("attachments");
const KeyId kIpAddresses = graph::InternKey("ip_addresses");

KeyId K(const char* name) { return graph::InternKey(name); }

// The member `k` of map value `m`, or nullptr.
const Value* Get(const Value* m, KeyId k) {
  if (m == nullptr || m->kind() != Value::Kind::kMap) return nullptr;
  for (const MapEntry& e : m->map_entries()) {
    if (e.first == k) return &e.second;
  }
  return nullptr;
}

absl::string_view Str(const Value* v) { return v ? v->AsString() : absl::string_view(); }

absl::Status Missing(absl::string_view type, absl::string_view field) {
  return absl::InvalidArgumentError(
      absl::StrCat(type, " event: field \"", field, "\" is missing or not a string"));
}

// What create_vertex receives; absent (nullptr / null) members are left out.
struct ResourceSpec {
  absl::string_view type;
  absl::string_view id;
  const Value* state = nullptr;
  const Value* project_id = nullptr;
  const Value* update_timestamp = nullptr;
  std::vector<std::pair<KeyId, Value>> metadata;
};

void PutIf(graph::Properties* p, KeyId k, const Value* v) {
  if (v != nullptr && !v->is_null()) p->Set(k, *v);
}

EntityVertex ResourceVertex(const Event& ev, const ResourceSpec& spec) {
  EntityVertex v;
  v.key = NaturalKey{std::string(kResource), std::string(spec.type), std::string(spec.id)};
  graph::Properties& p = v.props;
  // Every member below, plus what the processor adds (identity, datasource
  // name, aggregated states): one allocation instead of growing 4 times.
  p.Reserve(9 + spec.metadata.size() + 8);
  // Appended, then sorted once (the last of a key wins, as with Set).
  auto put_if = [&p](KeyId k, const Value* val) {
    if (val != nullptr && !val->is_null()) p.AppendUnsorted(k, *val);
  };
  p.AppendUnsorted(keys::kVitrageCategory, Value::StringFor(keys::kVitrageCategory, kResource));
  p.AppendUnsorted(keys::kVitrageType, Value::StringFor(keys::kVitrageType, spec.type));
  p.AppendUnsorted(keys::kId, Value::String(spec.id));
  put_if(keys::kVitrageSampleTimestamp, ev.Find(ekeys::kSampleDate));
  p.AppendUnsorted(keys::kVitrageIsDeleted, Value::Bool(false));
  p.AppendUnsorted(keys::kVitrageIsPlaceholder, Value::Bool(false));
  put_if(keys::kUpdateTimestamp, spec.update_timestamp);
  put_if(keys::kState, spec.state);
  put_if(kProjectId, spec.project_id);
  for (const auto& m : spec.metadata) put_if(m.first, &m.second);
  p.SortAndDedupe();
  return v;
}

// upstream's _create_neighbor: a placeholder of (type, id) stamped with the
// event's sample date; `metadata` may override members (e.g. make it a
// real vertex with vitrage_is_placeholder false).
Neighbor MakeNeighbor(const Event& ev, absl::string_view type, absl::string_view id,
                      absl::string_view label, bool entity_is_source,
                      std::vector<std::pair<KeyId, Value>> metadata = {}) {
  Neighbor n;
  n.vertex = MakePlaceholder(kResource, type, id, ev.GetString(ekeys::kSampleDate));
  for (auto& m : metadata) {
    if (m.second.is_null()) continue;
    if (m.first == keys::kVitrageIsPlaceholder) n.vertex.placeholder = m.second.IsTrue();
    n.vertex.props.Set(m.first, std::move(m.second));
  }
  n.label = std::string(label);
  n.entity_is_source = entity_is_source;
  return n;
}

Value Copy(const Value* v) { return v ? *v : Value(); }

bool IsUpdate(const Event& ev) { return ev.GetString(ekeys::kDatasourceAction) == "update"; }

}  // namespace

// ------------------------------------------------------------- nova.zone

absl::Status NovaZoneTransformer::Transform(const Event& ev, Entity* out) const {
  RETURN_IF_ERROR(DefaultAction(ev, &out->action));
  absl::string_view name = ev.GetString(K("zoneName"));
  if (name.empty()) return Missing("nova.zone", "zoneName");
  Value state = Value::String(
      Truthy(Get(ev.Find(K("zoneState")), K("available"))) ? "available" : "unavailable", true);
  ResourceSpec spec;
  spec.type = "nova.zone";
  spec.id = name;
  spec.state = &state;
  spec.update_timestamp = ev.Find(ekeys::kSampleDate);
  spec.metadata.emplace_back(keys::kName, Value::String(name));
  out->vertex = ResourceVertex(ev, spec);

  out->neighbors.push_back(MakeNeighbor(ev, "openstack.cluster", "OpenStack Cluster", kContains,
                                        /*entity_is_source=*/false,
                                        {{keys::kVitrageIsPlaceholder, Value::Bool(false)},
                                         {keys::kState, Value::String("available", true)},
                                         {keys::kName, Value::String("openstack.cluster", true)}}));
  const Value* hosts = ev.Find(K("hosts"));
  if (hosts != nullptr && hosts->kind() == Value::Kind::kMap) {
    const KeyId compute = K("nova-compute");
    for (const MapEntry& h : hosts->map_entries()) {
      const Value* svc = Get(&h.second, compute);
      bool up = Truthy(Get(svc, K("available"))) && Truthy(Get(svc, K("active")));
      out->neighbors.push_back(MakeNeighbor(
          ev, "nova.host", graph::KeyName(h.first), kContains, /*entity_is_source=*/true,
          {{keys::kState, Value::String(up ? "available" : "unavailable", true)},
           {keys::kVitrageIsPlaceholder, Value::Bool(false)}}));
    }
  }
  return absl::OkStatus();
}

// ------------------------------------------------------------- nova.host

absl::Status NovaHostTransformer::Transform(const Event& ev, Entity* out) const {
  RETURN_IF_ERROR(DefaultAction(ev, &out->action));
  absl::string_view host = ev.GetString(K("host"));
  if (host.empty()) return Missing("nova.host", "host");
  ResourceSpec spec;
  spec.type = "nova.host";
  spec.id = host;
  spec.update_timestamp = ev.Find(ekeys::kSampleDate);
  spec.metadata.emplace_back(keys::kName, Value::String(host));
  out->vertex = ResourceVertex(ev, spec);
  absl::string_view zone = ev.GetString(K("zone"));
  if (!zone.empty()) {
    out->neighbors.push_back(MakeNeighbor(ev, "nova.zone", zone, kContains, false));
  }
  return absl::OkStatus();
}

// --------------------------------------------------------- nova.instance

absl::Status NovaInstanceTransformer::Transform(const Event& ev, Entity* out) const {
  absl::string_view et = ev.GetString(ekeys::kEventType);
  if (IsUpdate(ev) && (et == "instance.delete.end" || et == "compute.instance.delete.end")) {
    out->action = GraphAction::kDeleteEntity;
  } else {
    RETURN_IF_ERROR(DefaultAction(ev, &out->action));
  }
  ResourceSpec spec;
  spec.type = "nova.instance";
  // upstream's field extractors (nova/instance/field_extractor.py): a
  // snapshot's, a versioned notification's (under nova_object.data) or a
  // legacy one's. Upstream picks the notification reader by
  // use_nova_versioned_notifications, and its push driver forwards only the
  // event types of that setting (legacy: `compute.instance.*`), so the
  // event type tells which one upstream would use.
  const Value* host;
  const Value* instance_name;
  absl::string_view id_field;
  if (IsUpdate(ev) && absl::StartsWith(et, "compute.instance.")) {
    id_field = "instance_id";
    spec.id = ev.GetString(K("instance_id"));
    spec.state = ev.Find(K("state"));
    spec.project_id = ev.Find(K("tenant_id"));
    host = ev.Find(K("host"));
    spec.metadata.emplace_back(keys::kName, Copy(ev.Find(K("hostname"))));
    instance_name = nullptr;  // the legacy extractor has none
  } else if (IsUpdate(ev)) {
    id_field = "nova_object.data.uuid";
    const Value* data = ev.Find(K("nova_object.data"));
    spec.id = Str(Get(data, K("uuid")));
    spec.state = Get(data, K("state"));
    spec.project_id = Get(data, K("tenant_id"));
    host = Get(data, K("host"));
    spec.metadata.emplace_back(keys::kName, Copy(Get(data, K("host_name"))));
    instance_name = Get(data, K("instance_name"));
  } else {
    id_field = "id";
    spec.id = ev.GetString(keys::kId);
    spec.state = ev.Find(K("status"));
    spec.project_id = ev.Find(K("tenant_id"));
    host = ev.Find(K("OS-EXT-SRV-ATTR:host"));
    spec.metadata.emplace_back(keys::kName, Copy(ev.Find(keys::kName)));
    instance_name = ev.Find(K("OS-EXT-SRV-ATTR:instance_name"));
  }
  spec.metadata.emplace_back(kHostId, Copy(host));
  // upstream: `if instance_name: metadata['instance_name'] = ...`
  if (Truthy(instance_name)) spec.metadata.emplace_back(kInstanceName, *instance_name);
  if (spec.id.empty()) return Missing("nova.instance", id_field);
  spec.update_timestamp = ev.Find(ekeys::kSampleDate);
  out->vertex = ResourceVertex(ev, spec);
  if (!Str(host).empty()) {
    out->neighbors.push_back(MakeNeighbor(ev, "nova.host", Str(host), kContains, false));
  }
  return absl::OkStatus();
}

// --------------------------------------------------------- cinder.volume

absl::Status CinderVolumeTransformer::Transform(const Event& ev, Entity* out) const {
  absl::string_view et = ev.GetString(ekeys::kEventType);
  const bool update = IsUpdate(ev);
  if (update && et == "volume.attach.end") {
    out->action = GraphAction::kUpdateRelationship;
  } else if (update && et == "volume.detach.start") {
    out->action = GraphAction::kDeleteRelationship;
  } else if (update && et == "volume.delete.end") {
    out->action = GraphAction::kDeleteEntity;
  } else {
    RETURN_IF_ERROR(DefaultAction(ev, &out->action));
  }
  ResourceSpec spec;
  spec.type = "cinder.volume";
  std::vector<Value> attached;
  if (update) {
    spec.id = ev.GetString(K("volume_id"));
    spec.project_id = ev.Find(K("tenant_id"));
    spec.update_timestamp = ev.Find(K("updated_at"));
    const Value* atts = ev.Find(K("volume_attachment"));
    if (atts != nullptr && atts->kind() == Value::Kind::kList) {
      for (const Value& a : atts->list_items())
        attached.push_back(Copy(Get(&a, K("instance_uuid"))));
    }
  } else {
    spec.id = ev.GetString(keys::kId);
    spec.project_id = ev.Find(K("os-vol-tenant-attr:tenant_id"));
    spec.update_timestamp = ev.Find(K("created_at"));
    const Value* atts = ev.Find(K("attachments"));
    if (atts != nullptr && atts->kind() == Value::Kind::kList) {
      for (const Value& a : atts->list_items()) attached.push_back(Copy(Get(&a, K("server_id"))));
    }
  }
  if (spec.id.empty()) return Missing("cinder.volume", update ? "volume_id" : "id");
  spec.state = ev.Find(K("status"));
  spec.metadata.emplace_back(keys::kName, Copy(ev.Find(K("display_name"))));
  spec.metadata.emplace_back(kSize, Copy(ev.Find(kSize)));
  spec.metadata.emplace_back(kVolumeType, Copy(ev.Find(kVolumeType)));
  spec.metadata.emplace_back(kAttachments, Value::List(attached));
  out->vertex = ResourceVertex(ev, spec);
  for (const Value& a : attached) {
    if (a.AsString().empty()) continue;
    out->neighbors.push_back(MakeNeighbor(ev, "nova.instance", a.AsString(), kAttached, true));
  }
  return absl::OkStatus();
}

// ------------------------------------------------------- neutron.network

absl::Status NeutronNetworkTransformer::Transform(const Event& ev, Entity* out) const {
  absl::string_view et = ev.GetString(ekeys::kEventType);
  const bool update = IsUpdate(ev);
  ResourceSpec spec;
  spec.type = "neutron.network";
  if (update && et == "network.delete.end") {
    out->action = GraphAction::kDeleteEntity;
    spec.id = ev.GetString(K("network_id"));
    if (spec.id.empty()) return Missing("neutron.network", "network_id");
    out->vertex = ResourceVertex(ev, spec);
    return absl::OkStatus();
  }
  RETURN_IF_ERROR(DefaultAction(ev, &out->action));
  const Value* net = update ? ev.Find(K("network")) : nullptr;
  auto field = [&](KeyId k) { return update ? Get(net, k) : ev.Find(k); };
  spec.id = Str(field(keys::kId));
  if (spec.id.empty()) return Missing("neutron.network", update ? "network.id" : "id");
  spec.state = field(K("status"));
  spec.project_id = field(K("tenant_id"));
  spec.update_timestamp = field(K("updated_at"));
  spec.metadata.emplace_back(keys::kName, Copy(field(keys::kName)));
  out->vertex = ResourceVertex(ev, spec);
  return absl::OkStatus();
}

// ---------------------------------------------------------- neutron.port

absl::Status NeutronPortTransformer::Transform(const Event& ev, Entity* out) const {
  const bool update = IsUpdate(ev);
  RETURN_IF_ERROR(DefaultAction(ev, &out->action));
  const Value* port = update ? ev.Find(K("port")) : nullptr;
  auto field = [&](KeyId k) { return update ? Get(port, k) : ev.Find(k); };
  ResourceSpec spec;
  spec.type = "neutron.port";
  spec.id = Str(field(keys::kId));
  if (spec.id.empty()) return Missing("neutron.port", update ? "port.id" : "id");
  spec.state = field(K("status"));
  spec.project_id = field(K("tenant_id"));
  spec.update_timestamp = field(K("updated_at"));
  Value name = Copy(field(keys::kName));
  if (!update && name.is_string() && name.string_value().empty()) name = Value();
  spec.metadata.emplace_back(keys::kName, std::move(name));
  std::vector<Value> ips;
  if (!update) {
    const Value* fixed = ev.Find(K("fixed_ips"));
    if (fixed != nullptr && fixed->kind() == Value::Kind::kList) {
      for (const Value& f : fixed->list_items()) ips.push_back(Copy(Get(&f, K("ip_address"))));
    }
    spec.metadata.emplace_back(kHostId, Copy(ev.Find(K("binding:host_id"))));
  }
  spec.metadata.emplace_back(kIpAddresses, Value::List(std::move(ips)));
  out->vertex = ResourceVertex(ev, spec);
  absl::string_view network = Str(field(K("network_id")));
  if (!network.empty()) {
    out->neighbors.push_back(MakeNeighbor(ev, "neutron.network", network, kContains, false));
  }
  absl::string_view device = Str(field(K("device_id")));
  absl::string_view owner = Str(field(K("device_owner")));
  if (!device.empty() && (owner.empty() || absl::StartsWith(owner, "compute:"))) {
    out->neighbors.push_back(MakeNeighbor(ev, "nova.instance", device, kAttached, true));
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------- zabbix

namespace {

// Zabbix's trigger priorities (ZabbixTriggerSeverity).
absl::string_view ZabbixSeverity(absl::string_view priority) {
  static const char* const kNames[] = {"NOT CLASSIFIED", "INFORMATION", "WARNING",
                                       "AVERAGE",        "HIGH",        "DISASTER"};
  if (priority.size() == 1 && priority[0] >= '0' && priority[0] <= '5') {
    return kNames[priority[0] - '0'];
  }
  return priority;
}

// lastchange as upstream's TIMESTAMP_FORMAT (%Y-%m-%dT%H:%M:%SZ): unix
// seconds, or "%Y.%m.%d %H:%M:%S" / "%Y-%m-%d %H:%M:%S". "" when absent.
std::string ZabbixTime(absl::string_view s) {
  if (s.empty()) return "";
  absl::Time t;
  std::string err;
  int64_t secs;
  if (absl::SimpleAtoi(s, &secs)) {
    t = absl::FromUnixSeconds(secs);
  } else if (!absl::ParseTime("%Y.%m.%d %H:%M:%S", std::string(s), absl::UTCTimeZone(), &t, &err) &&
             !absl::ParseTime("%Y-%m-%d %H:%M:%S", std::string(s), absl::UTCTimeZone(), &t, &err)) {
    return std::string(s);
  }
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

}  // namespace

absl::Status ZabbixTransformer::Transform(const Event& ev, Entity* out) const {
  const bool ok = ev.GetString(K("value")) == "0";
  absl::string_view action = ev.GetString(ekeys::kDatasourceAction);
  if (ev.GetString(ekeys::kEventType) == "delete_entity") {
    out->action = GraphAction::kDeleteEntity;
  } else if (action == "init_snapshot") {
    out->action = GraphAction::kCreateEntity;
  } else if (action == "update" || action == "snapshot") {
    out->action = ok ? GraphAction::kDeleteEntity : GraphAction::kUpdateEntity;
  } else {
    RETURN_IF_ERROR(DefaultAction(ev, &out->action));
  }
  absl::string_view trigger = ev.GetString(K("triggerid"));
  absl::string_view resource = ev.GetString(K("resource_name"));
  if (trigger.empty()) return Missing("zabbix", "triggerid");
  EntityVertex& v = out->vertex;
  v.key = NaturalKey{"ALARM", "zabbix", absl::StrCat(resource, ":", trigger)};
  graph::Properties& p = v.props;
  p.Set(keys::kVitrageCategory, Value::StringFor(keys::kVitrageCategory, "ALARM"));
  p.Set(keys::kVitrageType, Value::StringFor(keys::kVitrageType, "zabbix"));
  PutIf(&p, keys::kVitrageSampleTimestamp, ev.Find(ekeys::kSampleDate));
  p.Set(keys::kVitrageIsDeleted, Value::Bool(false));
  p.Set(keys::kVitrageIsPlaceholder, Value::Bool(false));
  p.Set(keys::kState, Value::String(ok ? "Inactive" : "Active", true));
  std::string updated = ZabbixTime(ev.GetString(K("lastchange")));
  if (!updated.empty()) p.Set(keys::kUpdateTimestamp, Value::String(updated, true));
  std::string description(ev.GetString(K("description")));
  absl::string_view zhost = ev.GetString(K("zabbix_resource_name"));
  if (!zhost.empty() && zhost != resource) {
    description = absl::StrReplaceAll(description, {{zhost, resource}});
  }
  if (ev.Find(K("description")) != nullptr) p.Set(keys::kName, Value::String(description));
  if (ev.Find(K("priority")) != nullptr) {
    p.Set(keys::kSeverity, Value::String(ZabbixSeverity(ev.GetString(K("priority"))), true));
  }
  PutIf(&p, K("rawtext"), ev.Find(K("rawtext")));
  // Upstream's metadata: resource_id is the event's resource name.
  PutIf(&p, K("resource_id"), ev.Find(K("resource_name")));
  absl::string_view rtype = ev.GetString(K("resource_type"));
  if (!rtype.empty() && !resource.empty()) {
    out->neighbors.push_back(MakeNeighbor(ev, rtype, resource, "on", /*entity_is_source=*/true));
  }
  return absl::OkStatus();
}

// ----------------------------------------------------------- consistency

absl::Status ConsistencyTransformer::Transform(const Event& ev, Entity* out) const {
  if (!ParseGraphAction(ev.GetString(ekeys::kEventType), &out->action) ||
      (out->action != GraphAction::kDeleteEntity &&
       out->action != GraphAction::kRemoveDeletedEntity)) {
    return absl::InvalidArgumentError(
        absl::StrCat("consistency event: vitrage_event_type \"", ev.GetString(ekeys::kEventType),
                     "\" is not delete_entity or remove_deleted_entity"));
  }
  out->vitrage_id = std::string(ev.GetString(keys::kVitrageId));
  if (out->vitrage_id.empty()) return Missing("consistency", "vitrage_id");
  absl::string_view category = ev.GetString(keys::kVitrageCategory);
  if (category.empty()) category = kResource;
  EntityVertex& v = out->vertex;
  v.key = NaturalKey{std::string(category), std::string(ev.GetString(keys::kVitrageType)),
                     std::string(ev.GetString(keys::kId))};
  graph::Properties& p = v.props;
  PutIf(&p, keys::kId, ev.Find(keys::kId));
  PutIf(&p, keys::kVitrageType, ev.Find(keys::kVitrageType));
  PutIf(&p, keys::kVitrageCategory, ev.Find(keys::kVitrageCategory));
  PutIf(&p, keys::kVitrageSampleTimestamp, ev.Find(ekeys::kSampleDate));
  // graph_utils.create_vertex's defaults: a deleted placeholder stops
  // being one.
  p.Set(keys::kVitrageIsDeleted, Value::Bool(false));
  p.Set(keys::kVitrageIsPlaceholder, Value::Bool(false));
  return absl::OkStatus();
}

}  // namespace vitrage::processor
