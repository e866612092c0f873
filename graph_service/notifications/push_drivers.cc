#include "graph_service/notifications/push_drivers.h"

#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "yaml-cpp/yaml.h"

namespace vitrage::notifications {
namespace {

// The push drivers reproduced (vitrage/datasources/*/driver.py).
enum class Driver { kNovaInstance, kCinderVolume, kNeutronNetwork, kNeutronPort, kZabbix };

struct Listened {
  Driver driver;
  bool nova_legacy = false;  // nova.instance: a LEGACY_NOTIFICATIONS type
};

// get_event_types() of each driver, verbatim.
const absl::flat_hash_map<std::string, Listened>& EventTypes() {
  static const auto* const kTypes = [] {
    auto* m = new absl::flat_hash_map<std::string, Listened>();
    for (const char* t : {"instance.create.end",
                          "instance.create.error",
                          "instance.delete.end",
                          "instance.delete.start",
                          "instance.evacuate",
                          "instance.interface_attach.end",
                          "instance.interface_attach.error",
                          "instance.interface_detach.end",
                          "instance.live_migration_abort.end",
                          "instance.live_migration_force_complete.end",
                          "instance.live_migration_post.end",
                          "instance.live_migration_post_dest.end",
                          "instance.live_migration_rollback.end",
                          "instance.live_migration_rollback_dest.end",
                          "instance.lock",
                          "instance.pause.end",
                          "instance.power_off.end",
                          "instance.power_on.end",
                          "instance.reboot.end",
                          "instance.reboot.error",
                          "instance.rebuild.end",
                          "instance.rebuild.error",
                          "instance.rescue.end",
                          "instance.resize.end",
                          "instance.resize.error",
                          "instance.resize_confirm.end",
                          "instance.resize_finish.end",
                          "instance.resize_prep.end",
                          "instance.resize_revert.end",
                          "instance.restore.end",
                          "instance.resume.end",
                          "instance.shelve.end",
                          "instance.shelve_offload.end",
                          "instance.shutdown.end",
                          "instance.soft_delete.end",
                          "instance.snapshot.end",
                          "instance.suspend.end",
                          "instance.unlock",
                          "instance.unpause.end",
                          "instance.unrescue.end",
                          "instance.unshelve.end",
                          "instance.update",
                          "instance.volume_attach.end",
                          "instance.volume_attach.error",
                          "instance.volume_detach.end",
                          "instance.volume_swap.end",
                          "instance.volume_swap.error"}) {
      (*m)[t] = {Driver::kNovaInstance, false};
    }
    for (const char* t : {"compute.instance.create.error",
                          "compute.instance.create.end",
                          "compute.instance.delete.start",
                          "compute.instance.delete.end",
                          "compute.instance.finish_resize.end",
                          "compute.instance.live_migration.post.dest.end",
                          "compute.instance.live_migration._post.end",
                          "compute.instance.power_off.end",
                          "compute.instance.power_on.end",
                          "compute.instance.reboot.end",
                          "compute.instance.rebuild.end",
                          "compute.instance.resize.end",
                          "compute.instance.resize.revert.end",
                          "compute.instance.resume.end",
                          "compute.instance.shutdown.end",
                          "compute.instance.suspend.end",
                          "compute.instance.volume.attach",
                          "compute.instance.volume.detach",
                          "compute.instance.pause.end",
                          "compute.instance.unpause.end"}) {
      (*m)[t] = {Driver::kNovaInstance, true};
    }
    for (const char* t :
         {"volume.create.start", "volume.create.end", "volume.attach.start", "volume.attach.end",
          "volume.detach.start", "volume.detach.end", "volume.delete.start", "volume.delete.end"}) {
      (*m)[t] = {Driver::kCinderVolume};
    }
    for (const char* t : {"network.create.end", "network.update.end", "network.delete.end"}) {
      (*m)[t] = {Driver::kNeutronNetwork};
    }
    for (const char* t : {"port.create.end", "port.update.end", "port.delete.end"}) {
      (*m)[t] = {Driver::kNeutronPort};
    }
    for (const char* t : {"zabbix.alarm.ok", "zabbix.alarm.problem"}) {
      (*m)[t] = {Driver::kZabbix};
    }
    return m;
  }();
  return *kTypes;
}

const char* DatasourceName(Driver d) {
  switch (d) {
    case Driver::kNovaInstance:
      return "nova.instance";
    case Driver::kCinderVolume:
      return "cinder.volume";
    case Driver::kNeutronNetwork:
      return "neutron.network";
    case Driver::kNeutronPort:
      return "neutron.port";
    case Driver::kZabbix:
      return "zabbix";
  }
  return "";
}

// payload[k1][k2]... when every level is an object that has the key.
const nlohmann::json* Path(const nlohmann::json& j, std::initializer_list<const char*> keys) {
  const nlohmann::json* cur = &j;
  for (const char* k : keys) {
    if (!cur->is_object()) return nullptr;
    auto it = cur->find(k);
    if (it == cur->end()) return nullptr;
    cur = &*it;
  }
  return cur;
}

std::string PathName(std::initializer_list<const char*> keys) {
  std::string s;
  for (const char* k : keys) absl::StrAppend(&s, s.empty() ? "" : ".", k);
  return s;
}

// The field that names the entity: a non-empty string (upstream keys the
// vertex by str() of whatever is there, "None" when absent).
absl::Status NeedId(const Notification& n, const nlohmann::json& event,
                    std::initializer_list<const char*> keys) {
  const nlohmann::json* v = Path(event, keys);
  if (v == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(n.event_type, " payload has no ", PathName(keys)));
  }
  if (!v->is_string() || v->get_ref<const std::string&>().empty()) {
    return absl::InvalidArgumentError(absl::StrCat(n.event_type, " payload ", PathName(keys),
                                                   " is ", v->dump(), ", not a non-empty string"));
  }
  return absl::OkStatus();
}

// A zabbix field upstream's transformer reads with [] (KeyError when
// absent); any JSON type but null.
absl::Status NeedField(const Notification& n, const nlohmann::json& event, const char* key) {
  auto it = event.find(key);
  if (it == event.end() || it->is_null()) {
    return absl::InvalidArgumentError(absl::StrCat(n.event_type, " payload has no ", key));
  }
  return absl::OkStatus();
}

}  // namespace

std::string FormatUtcNow() {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now(), absl::UTCTimeZone());
}

absl::StatusOr<std::map<std::string, PushDriverOptions::ZabbixResource>> LoadZabbixHosts(
    const std::string& path) {
  std::map<std::string, PushDriverOptions::ZabbixResource> out;
  try {
    YAML::Node root = YAML::LoadFile(path);
    YAML::Node list = root["zabbix"];
    if (!list || !list.IsSequence()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": no `zabbix` list"));
    }
    for (size_t i = 0; i < list.size(); ++i) {
      const YAML::Node& e = list[i];
      for (const char* k : {"zabbix_host", "type", "name"}) {
        if (!e.IsMap() || !e[k] || !e[k].IsScalar()) {
          return absl::InvalidArgumentError(
              absl::StrCat(path, ": zabbix entry ", i + 1, " has no ", k));
        }
      }
      out[e["zabbix_host"].as<std::string>()] = {e["type"].as<std::string>(),
                                                 e["name"].as<std::string>()};
    }
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", e.what()));
  }
  return out;
}

bool IsListenedEventType(const std::string& event_type) {
  return EventTypes().contains(event_type);
}

absl::StatusOr<std::vector<nlohmann::json>> NotificationToEvents(const Notification& n,
                                                                 const PushDriverOptions& options) {
  Notification copy = n;
  return NotificationToEvents(std::move(copy), options);
}

absl::StatusOr<std::vector<nlohmann::json>> NotificationToEvents(Notification&& n,
                                                                 const PushDriverOptions& options) {
  std::vector<nlohmann::json> out;
  // Upstream's DriversNotificationEndpoint has only info(): the listener
  // consumes <topic>.info, and the dispatcher drops other priorities.
  if (absl::AsciiStrToLower(n.priority) != "info") return out;
  auto it = EventTypes().find(n.event_type);
  if (it == EventTypes().end()) return out;
  const Listened& l = it->second;
  if (l.driver == Driver::kNovaInstance &&
      l.nova_legacy == options.use_nova_versioned_notifications) {
    return out;  // enrich_event returns [] for the other format
  }
  // Every driver writes into the payload (event[...] = ...).
  if (!n.payload.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(n.event_type, " payload is a JSON ",
                                                   n.payload.type_name(), ", not an object"));
  }
  // The event is the payload (taken, not copied: n.payload is not read
  // again).
  nlohmann::json event = std::move(n.payload);
  absl::Status s;
  switch (l.driver) {
    case Driver::kNovaInstance:
      s = l.nova_legacy ? NeedId(n, event, {"instance_id"})
                        : NeedId(n, event, {"nova_object.data", "uuid"});
      break;
    case Driver::kCinderVolume:
      s = NeedId(n, event, {"volume_id"});
      break;
    case Driver::kNeutronNetwork:
      s = n.event_type == "network.delete.end" ? NeedId(n, event, {"network_id"})
                                               : NeedId(n, event, {"network", "id"});
      break;
    case Driver::kNeutronPort: {
      // PortDriver: 'compute' not in event.get('port', {}).get('device_owner', '')
      auto port = event.find("port");
      std::string owner;
      if (port != event.end()) {
        if (!port->is_object()) {
          return absl::InvalidArgumentError(absl::StrCat(n.event_type, " payload port is a JSON ",
                                                         port->type_name(), ", not an object"));
        }
        auto dev = port->find("device_owner");
        if (dev != port->end()) {
          if (!dev->is_string()) {
            return absl::InvalidArgumentError(absl::StrCat(n.event_type,
                                                           " payload port.device_owner is a JSON ",
                                                           dev->type_name(), ", not a string"));
          }
          owner = dev->get<std::string>();
        }
      }
      if (owner.find("compute") == std::string::npos) return out;
      s = NeedId(n, event, {"port", "id"});
      break;
    }
    case Driver::kZabbix:
      if (!options.zabbix_hosts.empty()) {
        auto host = event.find("host");
        if (host == event.end()) {
          return absl::InvalidArgumentError(absl::StrCat(n.event_type, " payload has no host"));
        }
        if (!host->is_string()) {
          return absl::InvalidArgumentError(
              absl::StrCat(n.event_type, " payload host is ", host->dump(), ", not a string"));
        }
        std::string name = host->get<std::string>();
        auto mapped = options.zabbix_hosts.find(name);
        if (mapped == options.zabbix_hosts.end()) {
          return absl::InvalidArgumentError(absl::StrCat(n.event_type, " payload host \"", name,
                                                         "\" is not in the zabbix_conf mapping"));
        }
        event["zabbix_resource_name"] = name;
        event["resource_name"] = mapped->second.name;
        event["resource_type"] = mapped->second.type;
      }
      s = NeedField(n, event, "triggerid");
      if (s.ok()) s = NeedField(n, event, "resource_name");
      break;
  }
  if (!s.ok()) return s;
  event["vitrage_event_type"] = n.event_type;
  if (!event.contains("vitrage_entity_type")) {
    event["vitrage_entity_type"] = DatasourceName(l.driver);
  }
  event["vitrage_datasource_action"] = "update";
  event["vitrage_sample_date"] = options.sample_date ? options.sample_date() : FormatUtcNow();
  event["vitrage_datasource_name"] = DatasourceName(l.driver);
  out.push_back(std::move(event));
  return out;
}

absl::StatusOr<std::vector<nlohmann::json>> NotificationToEvents(const Notification& n) {
  return NotificationToEvents(n, PushDriverOptions{});
}

}  // namespace vitrage::notifications
