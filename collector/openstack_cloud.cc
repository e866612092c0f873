#include "collector/openstack_cloud.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace vitrage::collector {
namespace {

using json = nlohmann::json;

constexpr char kTenant[] = "0683517e1e354d2ba25cba6937f44e79";
constexpr char kUser[] = "f6ab073fc15f44888e8d23497d476270";
constexpr char kImage[] = "86fe163c-c15e-4c36-9ee9-b47a2db567e4";
constexpr char kSecurityGroup[] = "15be9f0c-20c7-46bc-8295-bc5d3a122b95";

// nova's vm_state -> the API's status.
std::string ApiStatus(const std::string& vm_state) {
  if (vm_state == "active") return "ACTIVE";
  if (vm_state == "paused") return "PAUSED";
  if (vm_state == "stopped") return "SHUTOFF";
  if (vm_state == "suspended") return "SUSPENDED";
  if (vm_state == "building") return "BUILD";
  return "ERROR";
}

std::string PowerState(const std::string& vm_state) {
  if (vm_state == "active") return "running";
  if (vm_state == "paused") return "paused";
  if (vm_state == "suspended") return "suspended";
  return "shutdown";
}

}  // namespace

void OpenStackCloud::Ids::Add(const std::string& id) {
  if (index.contains(id)) return;
  index[id] = ids.size();
  ids.push_back(id);
}

void OpenStackCloud::Ids::Remove(const std::string& id) {
  auto it = index.find(id);
  if (it == index.end()) return;
  size_t i = it->second;
  index.erase(it);
  if (i + 1 != ids.size()) {
    ids[i] = std::move(ids.back());
    index[ids[i]] = i;
  }
  ids.pop_back();
}

std::string OpenStackCloud::NewUuid() {
  uint64_t a = rng_(), b = rng_();
  return absl::StrFormat("%08x-%04x-4%03x-%04x-%012x", a >> 32, (a >> 16) & 0xffff, a & 0xfff,
                         0x8000 | ((b >> 48) & 0x3fff), b & 0xffffffffffffull);
}

OpenStackCloud::OpenStackCloud(uint64_t seed, const SyntheticOptions& o) : rng_(seed), options_(o) {
  const int zones = std::max(1, o.zones);
  for (int z = 0; z < zones; ++z) zones_.push_back(absl::StrCat("zone-", z));
  for (int n = 0; n < std::max(1, o.networks); ++n) {
    networks_.push_back(Network{NewUuid(), absl::StrCat("net-", n), NewUuid()});
  }
  for (int h = 0; h < std::max(1, o.hosts); ++h) {
    hosts_.push_back(Host{absl::StrCat("host-", h), zones_[h % zones], h});
  }
  for (const Host& h : hosts_) {
    for (int a = 0; a < o.alarms_per_host; ++a) AddAlarm(h.name);
    for (int i = 0; i < o.instances_per_host; ++i) {
      AddInstance(h.name, "active", next_instance_++);
      const std::string& inst = instance_ids_.ids.back();
      for (int p = 0; p < o.ports_per_instance; ++p) {
        AddPort(networks_[Rand(networks_.size())].id, inst);
      }
      for (int v = 0; v < o.volumes_per_instance; ++v) {
        Volume vol;
        vol.id = NewUuid();
        vol.name = absl::StrCat("volume-", volumes_.size());
        vol.status = "in-use";
        vol.size = 1 + static_cast<int>(Rand(100));
        volume_ids_.Add(vol.id);
        std::string id = vol.id;
        volumes_[id] = std::move(vol);
        SetAttached(&volumes_[id], inst);
      }
    }
  }
}

void OpenStackCloud::AddInstance(const std::string& host, const std::string& state, int number) {
  Instance i;
  i.id = NewUuid();
  i.name = absl::StrCat("vm-", number);
  i.host = host;
  i.state = state;
  i.number = number;
  instance_ids_.Add(i.id);
  instances_[i.id] = std::move(i);
}

void OpenStackCloud::AddPort(const std::string& network, const std::string& instance) {
  Port p;
  p.id = NewUuid();
  int n = next_port_++;
  p.name = absl::StrCat("port-", n);
  p.network = network;
  p.host = instance.empty() ? "" : instances_[instance].host;
  p.status = "ACTIVE";
  p.ip = absl::StrCat("10.", (n >> 16) & 255, ".", (n >> 8) & 255, ".", n & 255);
  p.mac = absl::StrFormat("fa:16:3e:%02x:%02x:%02x", (n >> 16) & 255, (n >> 8) & 255, n & 255);
  port_ids_.Add(p.id);
  std::string id = p.id;
  ports_[id] = std::move(p);
  SetDevice(&ports_[id], instance);
}

void OpenStackCloud::SetDevice(Port* p, const std::string& instance) {
  if (!p->device.empty()) {
    auto it = ports_of_.find(p->device);
    it->second.erase(p->id);
    if (it->second.empty()) ports_of_.erase(it);
  }
  p->device = instance;
  if (!instance.empty()) ports_of_[instance].insert(p->id);
}

void OpenStackCloud::SetAttached(Volume* v, const std::string& instance) {
  if (!v->attached.empty()) {
    auto it = volumes_of_.find(v->attached);
    it->second.erase(v->id);
    if (it->second.empty()) volumes_of_.erase(it);
  }
  v->attached = instance;
  if (!instance.empty()) volumes_of_[instance].insert(v->id);
}

const std::set<std::string>& OpenStackCloud::Of(
    const std::map<std::string, std::set<std::string>>& m, const std::string& instance) {
  static const std::set<std::string>* const kNone = new std::set<std::string>();
  auto it = m.find(instance);
  return it == m.end() ? *kNone : it->second;
}

void OpenStackCloud::AddAlarm(const std::string& host) {
  Alarm a;
  a.triggerid = absl::StrCat(13000 + next_trigger_++);
  a.host = host;
  a.priority = 2 + static_cast<int>(Rand(4));
  a.description = absl::StrCat("Processor load is too high on ", host);
  a.lastchange = clock_++;
  alarm_ids_.Add(a.triggerid);
  alarms_[a.triggerid] = std::move(a);
}

std::string OpenStackCloud::Describe() const {
  return absl::StrCat("synthetic OpenStack cloud: ", zones_.size(), " zones, ", hosts_.size(),
                      " hosts, ", networks_.size(), " networks, ", instances_.size(),
                      " instances, ", ports_.size(), " ports, ", volumes_.size(), " volumes, ",
                      alarms_.size(), " zabbix alarms");
}

// ------------------------------------------------------------------ events

json OpenStackCloud::Base(absl::string_view type, absl::string_view action,
                          absl::string_view date) const {
  return json{{"vitrage_entity_type", std::string(type)},
              {"vitrage_datasource_name", std::string(type)},
              {"vitrage_datasource_action", std::string(action)},
              {"vitrage_sample_date", std::string(date)}};
}

json OpenStackCloud::ZoneEvent(const std::string& zone, absl::string_view action,
                               absl::string_view date) const {
  json ev = Base("nova.zone", action, date);
  json hosts = json::object();
  for (const Host& h : hosts_) {
    if (h.zone != zone) continue;
    hosts[h.name] = {{"nova-compute",
                      {{"active", "True"},
                       {"available", "True"},
                       {"updated_at", "2025-11-30T00:00:00.000000"}}}};
  }
  ev["_loaded"] = "True";
  ev["hosts"] = std::move(hosts);
  ev["id"] = zone;
  ev["zoneName"] = zone;
  ev["zoneState"] = {{"available", "True"}};
  return ev;
}

json OpenStackCloud::HostEvent(const Host& h, absl::string_view action,
                               absl::string_view date) const {
  json ev = Base("nova.host", action, date);
  ev["_info"] = {{"host_name", h.name}, {"service", "compute"}, {"zone", h.zone}};
  ev["_loaded"] = "True";
  ev["host"] = h.name;
  ev["id"] = absl::StrCat(h.number + 1);
  ev["service"] = "compute";
  ev["zone"] = h.zone;
  return ev;
}

json OpenStackCloud::NetworkEvent(const Network& n, absl::string_view action,
                                  absl::string_view date) const {
  json ev = Base("neutron.network", action, date);
  ev["admin_state_up"] = true;
  ev["availability_zones"] = json::array({"nova"});
  ev["created_at"] = "2025-11-30T00:00:00Z";
  ev["description"] = "";
  ev["id"] = n.id;
  ev["mtu"] = 1450;
  ev["name"] = n.name;
  ev["project_id"] = kTenant;
  ev["revision_number"] = 2;
  ev["router:external"] = false;
  ev["shared"] = false;
  ev["status"] = "ACTIVE";
  ev["subnets"] = json::array({n.subnet});
  ev["tags"] = json::array();
  ev["tenant_id"] = kTenant;
  ev["updated_at"] = "2025-11-30T00:00:00Z";
  return ev;
}

json OpenStackCloud::InstanceEvent(const Instance& i, absl::string_view action,
                                   absl::string_view date) const {
  json ev = Base("nova.instance", action, date);
  json volumes = json::array();
  for (const std::string& id : Of(volumes_of_, i.id)) volumes.push_back({{"id", id}});
  json addresses = json::array();
  for (const std::string& id : Of(ports_of_, i.id)) {
    const Port& p = ports_.at(id);
    addresses.push_back({{"OS-EXT-IPS-MAC:mac_addr", p.mac},
                         {"OS-EXT-IPS:type", "fixed"},
                         {"addr", p.ip},
                         {"version", "4"}});
  }
  ev["OS-DCF:diskConfig"] = "AUTO";
  ev["OS-EXT-AZ:availability_zone"] = "nova";
  ev["OS-EXT-SRV-ATTR:host"] = i.host;
  ev["OS-EXT-SRV-ATTR:hypervisor_hostname"] = i.host;
  ev["OS-EXT-SRV-ATTR:instance_name"] = absl::StrFormat("instance-%08x", i.number + 1);
  ev["OS-EXT-STS:power_state"] = i.state == "active" ? "1" : "4";
  ev["OS-EXT-STS:task_state"] = nullptr;
  ev["OS-EXT-STS:vm_state"] = i.state;
  ev["OS-SRV-USG:launched_at"] = "2025-11-30T00:00:00.000000";
  ev["OS-SRV-USG:terminated_at"] = nullptr;
  ev["_loaded"] = "True";
  ev["accessIPv4"] = nullptr;
  ev["accessIPv6"] = nullptr;
  ev["addresses"] = {{"private", std::move(addresses)}};
  ev["config_drive"] = "True";
  ev["created"] = "2025-11-30T00:00:00Z";
  ev["flavor"] = {{"id", "42"}, {"links", json::array()}};
  ev["hostId"] = absl::StrFormat("%056x", i.number);
  ev["hostid"] = absl::StrCat(400000 + i.number);
  ev["hostname"] = i.host;
  ev["id"] = i.id;
  ev["image"] = {{"id", kImage}, {"links", json::array()}};
  ev["key_name"] = nullptr;
  ev["links"] = json::array();
  ev["metadata"] = json::object();
  ev["name"] = i.name;
  ev["os-extended-volumes:volumes_attached"] = std::move(volumes);
  ev["progress"] = nullptr;
  ev["security_groups"] = json::array({{{"name", "default"}}});
  ev["status"] = ApiStatus(i.state);
  ev["tenant_id"] = kTenant;
  ev["updated"] = std::string(date);
  ev["user_id"] = kUser;
  return ev;
}

json OpenStackCloud::InstanceNotification(const Instance& i, absl::string_view event_type,
                                          absl::string_view date) const {
  json ev = Base("nova.instance", "update", date);
  ev["vitrage_event_type"] = std::string(event_type);
  json ips = json::array();
  for (const std::string& id : Of(ports_of_, i.id)) {
    const Port& p = ports_.at(id);
    ips.push_back({{"nova_object.data",
                    {{"address", p.ip},
                     {"device_name", absl::StrCat("tap", p.id.substr(0, 11))},
                     {"label", "private"},
                     {"mac", p.mac},
                     {"meta", json::object()},
                     {"port_uuid", p.id},
                     {"version", 4}}},
                   {"nova_object.name", "IpPayload"},
                   {"nova_object.namespace", "nova"},
                   {"nova_object.version", "1.0"}});
  }
  const bool deleted = i.state == "deleted";
  json data = {{"action_initiator_project", kTenant},
               {"action_initiator_user", kUser},
               {"architecture", "x86_64"},
               {"auto_disk_config", "MANUAL"},
               {"availability_zone", "nova"},
               {"block_devices", json::array()},
               {"created_at", "2025-11-30T00:00:00Z"},
               {"deleted_at", deleted ? json(std::string(date)) : json(nullptr)},
               {"display_description", i.name},
               {"display_name", i.name},
               {"fault", nullptr},
               {"flavor",
                {{"nova_object.data",
                  {{"flavorid", "42"}, {"memory_mb", 512}, {"name", "m1.tiny"}, {"vcpus", 1}}},
                 {"nova_object.name", "FlavorPayload"},
                 {"nova_object.namespace", "nova"},
                 {"nova_object.version", "1.4"}}},
               {"host", i.host},
               {"host_name", i.name},
               {"image_uuid", kImage},
               {"ip_addresses", std::move(ips)},
               {"kernel_id", ""},
               {"key_name", nullptr},
               {"keypairs", json::array()},
               {"launched_at", "2025-11-30T00:00:00Z"},
               {"locked", false},
               {"metadata", json::object()},
               {"node", i.host},
               {"os_type", nullptr},
               {"power_state", PowerState(i.state)},
               {"progress", 0},
               {"ramdisk_id", ""},
               {"request_id", absl::StrCat("req-", i.id)},
               {"reservation_id", absl::StrFormat("r-%08x", i.number)},
               {"state", i.state},
               {"tags", json::array()},
               {"task_state", nullptr},
               {"tenant_id", kTenant},
               {"terminated_at", deleted ? json(std::string(date)) : json(nullptr)},
               {"trusted_image_certificates", nullptr},
               {"updated_at", std::string(date)},
               {"user_id", kUser},
               {"uuid", i.id}};
  ev["nova_object.data"] = std::move(data);
  ev["nova_object.name"] = deleted ? "InstanceActionPayload" : "InstanceUpdatePayload";
  ev["nova_object.namespace"] = "nova";
  ev["nova_object.version"] = "1.8";
  return ev;
}

json OpenStackCloud::PortFields(const Port& p, absl::string_view date) const {
  return json{{"admin_state_up", true},
              {"binding:host_id", p.host},
              {"binding:vif_type", "ovs"},
              {"binding:vnic_type", "normal"},
              {"created_at", "2025-11-30T00:00:00Z"},
              {"description", ""},
              {"device_id", p.device},
              {"device_owner", p.device.empty() ? "" : "compute:nova"},
              {"fixed_ips", json::array({{{"ip_address", p.ip},
                                          {"subnet_id",
                                           [&] {
                                             for (const Network& n : networks_) {
                                               if (n.id == p.network) return n.subnet;
                                             }
                                             return std::string();
                                           }()}}})},
              {"id", p.id},
              {"mac_address", p.mac},
              {"name", p.name},
              {"network_id", p.network},
              {"project_id", kTenant},
              {"revision_number", 4},
              {"security_groups", json::array({kSecurityGroup})},
              {"status", p.status},
              {"tenant_id", kTenant},
              {"updated_at", std::string(date)}};
}

json OpenStackCloud::PortEvent(const Port& p, absl::string_view action,
                               absl::string_view date) const {
  json ev = PortFields(p, date);
  ev.update(Base("neutron.port", action, date));
  return ev;
}

json OpenStackCloud::PortNotification(const Port& p, absl::string_view event_type,
                                      absl::string_view date) const {
  json ev = Base("neutron.port", "update", date);
  ev["vitrage_event_type"] = std::string(event_type);
  ev["port"] = PortFields(p, date);
  return ev;
}

json OpenStackCloud::VolumeEvent(const Volume& v, absl::string_view action,
                                 absl::string_view date) const {
  json ev = Base("cinder.volume", action, date);
  json atts = json::array();
  if (!v.attached.empty()) atts.push_back({{"server_id", v.attached}});
  ev["attachments"] = std::move(atts);
  ev["created_at"] = "2025-11-30T00:00:00Z";
  ev["display_name"] = v.name;
  ev["id"] = v.id;
  ev["size"] = absl::StrCat(v.size);
  ev["status"] = v.status;
  ev["volume_type"] = "lvmdriver-1";
  return ev;
}

json OpenStackCloud::VolumeNotification(const Volume& v, absl::string_view event_type,
                                        const std::string& instance, absl::string_view date) const {
  json ev = Base("cinder.volume", "update", date);
  ev["vitrage_event_type"] = std::string(event_type);
  json atts = json::array();
  if (!instance.empty()) {
    atts.push_back({{"attach_status", event_type == "volume.detach.end" ? "detached" : "attached"},
                    {"instance_uuid", instance},
                    {"volume_id", v.id}});
  }
  ev["display_name"] = v.name;
  ev["size"] = absl::StrCat(v.size);
  ev["status"] = v.status;
  ev["tenant_id"] = kTenant;
  ev["updated_at"] = std::string(date);
  ev["volume_attachment"] = std::move(atts);
  ev["volume_id"] = v.id;
  ev["volume_type"] = "lvmdriver-1";
  return ev;
}

json OpenStackCloud::AlarmEvent(const Alarm& a, absl::string_view action, absl::string_view date,
                                bool ok) const {
  json ev = Base("zabbix", action, date);
  const std::string expression =
      absl::StrCat("{", a.host, ":system.cpu.load[percpu,avg1].last()}>5");
  ev["description"] = a.description;
  ev["expression"] = expression;
  ev["lastchange"] = absl::StrCat(a.lastchange);
  ev["priority"] = absl::StrCat(a.priority);
  ev["rawtext"] = a.description;
  ev["resource_name"] = a.host;
  ev["resource_type"] = "nova.host";
  ev["triggerid"] = a.triggerid;
  ev["value"] = ok ? "0" : "1";
  ev["zabbix_resource_name"] = a.host;
  if (action == "update") {
    ev["vitrage_event_type"] = ok ? "zabbix.alarm.ok" : "zabbix.alarm.problem";
    ev["host"] = a.host;
    ev["hostid"] = absl::StrCat(10000 + a.host.size());
    ev["hostip"] = "192.168.0.10";
  } else {
    ev["comments"] = "";
    ev["name"] = a.description;
    ev["state"] = "0";
    ev["status"] = "0";
    ev["url"] = "";
  }
  return ev;
}

// ----------------------------------------------------------------- get_all

std::vector<json> OpenStackCloud::GetAll(absl::string_view action, absl::string_view date) {
  std::vector<json> out;
  out.reserve(zones_.size() + hosts_.size() + networks_.size() + instances_.size() + ports_.size() +
              volumes_.size() + alarms_.size());
  for (const std::string& z : zones_) out.push_back(ZoneEvent(z, action, date));
  for (const Host& h : hosts_) out.push_back(HostEvent(h, action, date));
  for (const Network& n : networks_) out.push_back(NetworkEvent(n, action, date));
  for (const auto& [id, i] : instances_) out.push_back(InstanceEvent(i, action, date));
  for (const auto& [id, p] : ports_) out.push_back(PortEvent(p, action, date));
  for (const auto& [id, v] : volumes_) out.push_back(VolumeEvent(v, action, date));
  for (const auto& [id, a] : alarms_) out.push_back(AlarmEvent(a, action, date, false));
  return out;
}

// ----------------------------------------------------------------- changes

void OpenStackCloud::DetachVolume(Volume* v, absl::string_view date, std::vector<json>* out) {
  const std::string instance = v->attached;
  v->status = "detaching";
  out->push_back(VolumeNotification(*v, "volume.detach.start", instance, date));
  SetAttached(v, "");
  v->status = "available";
  out->push_back(VolumeNotification(*v, "volume.detach.end", "", date));
}

std::vector<json> OpenStackCloud::NextChange(absl::string_view date) {
  std::vector<json> out;
  const uint64_t dice = Rand(100);
  if (dice < 25 && !instance_ids_.ids.empty()) {  // instance state change
    Instance& i = instances_[Pick(instance_ids_)];
    static const std::pair<const char*, const char*> kFromActive[] = {
        {"instance.pause.end", "paused"},
        {"instance.power_off.end", "stopped"},
        {"instance.suspend.end", "suspended"},
        {"instance.reboot.end", "active"}};
    const char* event_type;
    if (i.state == "active") {
      const auto& t = kFromActive[Rand(4)];
      event_type = t.first;
      i.state = t.second;
    } else {
      event_type = i.state == "paused"    ? "instance.unpause.end"
                   : i.state == "stopped" ? "instance.power_on.end"
                                          : "instance.resume.end";
      i.state = "active";
    }
    out.push_back(InstanceNotification(i, event_type, date));
  } else if (dice < 35) {  // instance created, with a port
    AddInstance(hosts_[Rand(hosts_.size())].name, "active", next_instance_++);
    const Instance& i = instances_[instance_ids_.ids.back()];
    out.push_back(InstanceNotification(i, "instance.create.end", date));
    AddPort(networks_[Rand(networks_.size())].id, i.id);
    out.push_back(PortNotification(ports_[port_ids_.ids.back()], "port.create.end", date));
  } else if (dice < 45 && !instance_ids_.ids.empty() && hosts_.size() > 1) {  // migration
    Instance& i = instances_[Pick(instance_ids_)];
    std::string to = hosts_[Rand(hosts_.size())].name;
    if (to == i.host) {
      for (const Host& h : hosts_) {
        if (h.name != i.host) {
          to = h.name;
          break;
        }
      }
    }
    i.host = to;
    for (const std::string& id : Of(ports_of_, i.id)) ports_[id].host = to;
    out.push_back(InstanceNotification(i, "instance.live_migration_post.end", date));
  } else if (dice < 53 && instance_ids_.ids.size() > 1) {  // instance deleted
    const std::string id = Pick(instance_ids_);
    const std::set<std::string> volumes = Of(volumes_of_, id), ports = Of(ports_of_, id);
    for (const std::string& vid : volumes) DetachVolume(&volumes_[vid], date, &out);
    for (const std::string& pid : ports) {
      Port& p = ports_[pid];
      SetDevice(&p, "");
      p.host.clear();
      p.status = "DOWN";
      out.push_back(PortNotification(p, "port.update.end", date));
    }
    Instance& i = instances_[id];
    i.state = "deleted";
    out.push_back(InstanceNotification(i, "instance.delete.end", date));
    instances_.erase(id);
    instance_ids_.Remove(id);
  } else if (dice < 68) {  // alarm raised
    AddAlarm(hosts_[Rand(hosts_.size())].name);
    out.push_back(AlarmEvent(alarms_[alarm_ids_.ids.back()], "update", date, false));
  } else if (dice < 80 && !alarm_ids_.ids.empty()) {  // alarm cleared
    const std::string id = Pick(alarm_ids_);
    Alarm& a = alarms_[id];
    a.lastchange = clock_++;
    out.push_back(AlarmEvent(a, "update", date, true));
    alarms_.erase(id);
    alarm_ids_.Remove(id);
  } else if (dice < 90 && !volume_ids_.ids.empty()) {  // volume attach / detach
    Volume& v = volumes_[Pick(volume_ids_)];
    if (!v.attached.empty()) {
      DetachVolume(&v, date, &out);
    } else if (!instance_ids_.ids.empty()) {
      SetAttached(&v, Pick(instance_ids_));
      v.status = "in-use";
      out.push_back(VolumeNotification(v, "volume.attach.end", v.attached, date));
    }
  } else if (!port_ids_.ids.empty()) {  // port status flip
    Port& p = ports_[Pick(port_ids_)];
    p.status = p.status == "ACTIVE" ? "DOWN" : "ACTIVE";
    out.push_back(PortNotification(p, "port.update.end", date));
  }
  if (out.empty() && !hosts_.empty()) {  // nothing applied: raise an alarm
    AddAlarm(hosts_[Rand(hosts_.size())].name);
    out.push_back(AlarmEvent(alarms_[alarm_ids_.ids.back()], "update", date, false));
  }
  return out;
}

}  // namespace vitrage::collector
