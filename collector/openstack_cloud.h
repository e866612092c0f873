// The synthetic cloud in upstream Vitrage's OpenStack datasource shapes
// ([collector] synthetic_format = openstack): zones, hosts, networks,
// instances, ports, volumes and zabbix alarms, sized by SyntheticOptions and
// deterministic from the seed (ids, names, every field; only the sample
// date comes from the caller).
//
// get_all sends one event per entity, as upstream's drivers do, in the
// order nova.zone, nova.host, neutron.network, nova.instance, neutron.port,
// cinder.volume, zabbix (parents first, so few placeholders): API shapes
// (nova servers, neutron ports/networks, cinder volumes, zabbix triggers)
// with the field names of testdata/conformance/event_fields.md.
//
// The change generator sends notifications (vitrage_datasource_action
// update, vitrage_event_type naming the notification), one change being one
// or more events, in these proportions:
//   25% instance state change (nova versioned notification
//       instance.pause.end / unpause / power_off / power_on / suspend /
//       resume / reboot, consistent with the instance's state)
//   10% instance created (instance.create.end on a random host, then
//       port.create.end of its port on a random network)
//   10% instance live-migrated (instance.live_migration_post.end, new host)
//    8% instance deleted: its volumes detach first (volume.detach.start,
//       volume.detach.end), its ports are unbound (port.update.end with
//       device_id ""), then instance.delete.end
//   15% zabbix alarm raised on a host (zabbix.alarm.problem, a new trigger)
//   12% zabbix alarm cleared (zabbix.alarm.ok, value "0")
//   10% volume attached to / detached from an instance
//       (volume.attach.end; volume.detach.start + volume.detach.end)
//   10% port status flip (port.update.end ACTIVE <-> DOWN)
// A deleted instance is never named again (ports and volumes let go of it
// first) and every new entity gets a new id, so no natural key is re-created
// after its delete. Alarms are on hosts only; hosts, zones and networks are
// never deleted.
#ifndef VITRAGE_COLLECTOR_OPENSTACK_CLOUD_H_
#define VITRAGE_COLLECTOR_OPENSTACK_CLOUD_H_

#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "collector/model.h"
#include "collector/upstream_events.h"
#include "nlohmann/json.hpp"

namespace vitrage::collector {

class OpenStackCloud : public UpstreamSource {
 public:
  OpenStackCloud(uint64_t seed, const SyntheticOptions& options);

  std::string Describe() const override;
  std::vector<nlohmann::json> GetAll(absl::string_view action,
                                     absl::string_view sample_date) override;
  std::vector<nlohmann::json> NextChange(absl::string_view sample_date) override;
  bool MakesChanges() const override { return true; }

  size_t instance_count() const { return instances_.size(); }
  size_t alarm_count() const { return alarms_.size(); }

 private:
  struct Host {
    std::string name, zone;
    int number = 0;
  };
  struct Network {
    std::string id, name, subnet;
  };
  struct Instance {
    std::string id, name, host, state;  // state: nova's vm_state (lower case)
    int number = 0;
  };
  struct Port {
    std::string id, name, network, device, host, status, ip, mac;
  };
  struct Volume {
    std::string id, name, attached, status;
    int size = 1;
  };
  struct Alarm {
    std::string triggerid, host, description;
    int priority = 2;
    int64_t lastchange = 0;
  };
  // Ids in insertion order with O(1) removal (random picks stay
  // deterministic).
  struct Ids {
    std::vector<std::string> ids;
    absl::flat_hash_map<std::string, size_t> index;
    void Add(const std::string& id);
    void Remove(const std::string& id);
  };

  std::string NewUuid();
  uint64_t Rand(uint64_t n) { return n == 0 ? 0 : rng_() % n; }
  const std::string& Pick(const Ids& s) { return s.ids[Rand(s.ids.size())]; }

  nlohmann::json Base(absl::string_view type, absl::string_view action,
                      absl::string_view sample_date) const;
  nlohmann::json ZoneEvent(const std::string& zone, absl::string_view action,
                           absl::string_view date) const;
  nlohmann::json HostEvent(const Host& h, absl::string_view action, absl::string_view date) const;
  nlohmann::json NetworkEvent(const Network& n, absl::string_view action,
                              absl::string_view date) const;
  nlohmann::json InstanceEvent(const Instance& i, absl::string_view action,
                               absl::string_view date) const;
  nlohmann::json InstanceNotification(const Instance& i, absl::string_view event_type,
                                      absl::string_view date) const;
  nlohmann::json PortFields(const Port& p, absl::string_view date) const;
  nlohmann::json PortEvent(const Port& p, absl::string_view action, absl::string_view date) const;
  nlohmann::json PortNotification(const Port& p, absl::string_view event_type,
                                  absl::string_view date) const;
  nlohmann::json VolumeEvent(const Volume& v, absl::string_view action,
                             absl::string_view date) const;
  nlohmann::json VolumeNotification(const Volume& v, absl::string_view event_type,
                                    const std::string& instance, absl::string_view date) const;
  nlohmann::json AlarmEvent(const Alarm& a, absl::string_view action, absl::string_view date,
                            bool ok) const;

  void AddInstance(const std::string& host, const std::string& state, int number);
  void AddPort(const std::string& network, const std::string& instance);
  void AddAlarm(const std::string& host);
  void DetachVolume(Volume* v, absl::string_view date, std::vector<nlohmann::json>* out);
  // Keep ports_of_ / volumes_of_ in step.
  void SetDevice(Port* p, const std::string& instance);
  void SetAttached(Volume* v, const std::string& instance);
  static const std::set<std::string>& Of(const std::map<std::string, std::set<std::string>>& m,
                                         const std::string& instance);

  std::mt19937_64 rng_;
  SyntheticOptions options_;
  std::vector<std::string> zones_;
  std::vector<Host> hosts_;
  std::vector<Network> networks_;
  std::map<std::string, Instance> instances_;
  std::map<std::string, Port> ports_;
  std::map<std::string, Volume> volumes_;
  std::map<std::string, Alarm> alarms_;
  // instance id -> its ports / attached volumes (ids in order).
  std::map<std::string, std::set<std::string>> ports_of_, volumes_of_;
  Ids instance_ids_, port_ids_, volume_ids_, alarm_ids_;
  int next_instance_ = 0, next_port_ = 0, next_trigger_ = 0;
  int64_t clock_ = 1764460800;  // zabbix lastchange: 2025-11-30T00:00:00Z, +1 s per alarm
};

}  // namespace vitrage::collector

#endif  // VITRAGE_COLLECTOR_OPENSTACK_CLOUD_H_
