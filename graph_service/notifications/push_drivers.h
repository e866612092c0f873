// What upstream Vitrage 9.0.0's push drivers make of a notification:
// DriversNotificationEndpoint.info (vitrage/entity_graph/driver_exec.py)
// hands the payload to enrich_event of every push driver whose
// get_event_types() lists the event type (exact match), and sends on the
// events they return. The drivers reproduced are those of upstream's
// default [datasources] types that listen (nova.instance, cinder.volume,
// neutron.network, neutron.port) and zabbix:
//
// * the event is the payload object plus vitrage_event_type (the event
//   type), vitrage_entity_type (only when the payload has none, as
//   make_pickleable does), vitrage_datasource_action "update",
//   vitrage_sample_date (%Y-%m-%dT%H:%M:%SZ, now) and
//   vitrage_datasource_name (the datasource);
// * nova.instance takes versioned notifications only (legacy `compute.*`
//   ones are listened to but dropped) unless use_nova_versioned_notifications
//   is false, then the reverse;
// * neutron.port drops a payload whose port.device_owner does not contain
//   "compute" (port.delete.end always: its payload has no port);
// * zabbix, with a zabbix_conf mapping, adds zabbix_resource_name (the
//   payload's host) and resource_name / resource_type from the mapping.
//
// Events are upstream-shaped JSON objects (collector/upstream_events.h);
// processor::JsonToMapValue makes a v1::Event body of each.
// Docs: docs/transformers.md, "Notifications".
#ifndef VITRAGE_GRAPH_SERVICE_NOTIFICATIONS_PUSH_DRIVERS_H_
#define VITRAGE_GRAPH_SERVICE_NOTIFICATIONS_PUSH_DRIVERS_H_

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "graph_service/notifications/notification.h"
#include "nlohmann/json.hpp"

namespace vitrage::notifications {

// Upstream's configuration that changes what the drivers make.
struct PushDriverOptions {
  // vitrage.conf [DEFAULT] use_nova_versioned_notifications.
  bool use_nova_versioned_notifications = true;
  // [zabbix] config_file's mapping: zabbix host -> the Vitrage resource
  // it stands for. Empty: zabbix payloads pass unchanged (they must name
  // resource_name / resource_type themselves).
  struct ZabbixResource {
    std::string type;  // resource_type, e.g. "nova.host"
    std::string name;  // resource_name
  };
  std::map<std::string, ZabbixResource> zabbix_hosts;
  // The sample date stamped on each event (%Y-%m-%dT%H:%M:%SZ); unset:
  // the current UTC time.
  std::function<std::string()> sample_date;
};

// The events upstream's push drivers make of `n`, in upstream's order.
// Empty when no driver listens to the event type, when the priority is not
// "info" (case-insensitive: upstream's endpoint has only info()), or when
// the driver drops the notification (see the file comment).
// INVALID_ARGUMENT, naming the field, for a listened event type whose
// payload is not an object or lacks what names the entity (nova:
// nova_object.data.uuid; cinder: volume_id; neutron: network.id /
// network_id / port.id; zabbix: triggerid, and host when mapped, a mapped
// host), or whose port / port.device_owner has the wrong type. Upstream
// passes an event without the entity's id on, and its transformer then
// fails or keys the vertex by "None"; rejecting it here lets the caller set
// the message aside with a reason.
absl::StatusOr<std::vector<nlohmann::json>> NotificationToEvents(const Notification& n,
                                                                 const PushDriverOptions& options);
// The same, taking n.payload (the event is made of it) instead of copying.
absl::StatusOr<std::vector<nlohmann::json>> NotificationToEvents(Notification&& n,
                                                                 const PushDriverOptions& options);
// The same with the default options (versioned nova notifications, no
// zabbix mapping, the current time).
absl::StatusOr<std::vector<nlohmann::json>> NotificationToEvents(const Notification& n);

// Reads upstream's [zabbix] config_file (zabbix_conf.yaml: a top-level
// `zabbix` list of {zabbix_host, type, name}) into a mapping.
// INVALID_ARGUMENT naming the file and entry when it cannot be read or an
// entry lacks a key (upstream logs and runs with no mapping instead).
absl::StatusOr<std::map<std::string, PushDriverOptions::ZabbixResource>> LoadZabbixHosts(
    const std::string& path);

// Whether some driver listens to `event_type` (regardless of payload).
bool IsListenedEventType(const std::string& event_type);

// Upstream's datasource timestamp format, now (UTC).
std::string FormatUtcNow();

}  // namespace vitrage::notifications

#endif  // VITRAGE_GRAPH_SERVICE_NOTIFICATIONS_PUSH_DRIVERS_H_
