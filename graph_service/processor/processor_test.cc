#include "graph_service/processor/processor.h"

#include <openssl/evp.h>

#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/testing/test_dirs.h"
#include "graph_service/graph/digest.h"
#include "graph_service/graph/proto_convert.h"
#include "graph_service/processor/passthrough_transformer.h"
#include "graph_service/workload/workload.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace vitrage::processor {
namespace {

using graph::Graph;
using graph::kNoSlot;
using graph::Slot;
using nlohmann::json;

// The generated workloads (build/workload/, make_workload).
std::string WorkloadDir() { return vitrage::testing::WorkloadDir(); }

ProcessorOptions TestOptions() {
  ProcessorOptions o;
  o.id_generator = ConformanceIdGenerator();
  o.clock = SampleDatePlusHalfSecondClock();
  return o;
}

json StaticEntity(const std::string& static_id, const std::string& type, const std::string& id,
                  const std::string& state, const std::string& action, const std::string& date) {
  return json{{"static_id", static_id},
              {"type", type},
              {"id", id},
              {"state", state},
              {"name", id + "-name"},
              {"metadata", {{"name", id + "-name"}, {"state", state}}},
              {"relationships", json::array()},
              {"vitrage_datasource_action", action},
              {"vitrage_datasource_name", "static"},
              {"vitrage_entity_type", "static"},
              {"vitrage_sample_date", date}};
}

void Relate(json* e, const std::string& label, const json& other, bool entity_is_source = true) {
  json rel{{"relationship_type", label}};
  if (entity_is_source) {
    rel["source"] = (*e)["static_id"];
    rel["target"] = other;
  } else {
    rel["source"] = other;
    rel["target"] = (*e)["static_id"];
  }
  (*e)["relationships"].push_back(rel);
}

json Ref(const std::string& static_id, const std::string& type, const std::string& id) {
  return json{{"static_id", static_id}, {"type", type}, {"id", id}, {"metadata", json::object()}};
}

class ProcessorTest : public ::testing::Test {
 protected:
  ProcessorTest() : p_(&g_, TestOptions()) {}

  v1::GraphDelta Process(const json& j) {
    auto ev = EventFromJson(j);
    EXPECT_TRUE(ev.ok());
    Graph before = g_;
    v1::GraphDelta d;
    absl::Status st = p_.Process(*ev, &d);
    EXPECT_TRUE(st.ok()) << st;
    // Every delta replays to the same graph.
    EXPECT_TRUE(before.ApplyDelta(d).ok());
    EXPECT_EQ(graph::Digest(before), graph::Digest(g_));
    return d;
  }
  Slot Find(const std::string& type, const std::string& id) {
    auto s = g_.FindByNaturalKey("RESOURCE", type, id);
    return s.empty() ? kNoSlot : s[0];
  }
  std::string Str(Slot s, const char* key) {
    return std::string(g_.VertexProps(s).GetString(graph::InternKey(key)));
  }
  bool Bool(Slot s, const char* key) { return g_.VertexProps(s).GetBool(graph::InternKey(key)); }

  Graph g_;
  Processor p_;
};

TEST_F(ProcessorTest, StaticEntitiesAndRelationships) {
  json r =
      StaticEntity("r1", "router", "router-1", "available", "snapshot", "2024-05-01T10:00:10Z");
  Relate(&r, "contains", Ref("s1", "switch", "switch-1"));
  Process(r);
  Slot router = Find("router", "router-1");
  ASSERT_NE(router, kNoSlot);
  EXPECT_EQ(g_.VertexId(router), "00000000-0000-4000-8000-000000000001");
  EXPECT_EQ(Str(router, "vitrage_id"), "00000000-0000-4000-8000-000000000001");
  EXPECT_EQ(Str(router, "vitrage_cached_id"), Md5Hex("RESOURCE:router:router-1"));
  EXPECT_EQ(Str(router, "vitrage_cached_id"), "f137e55df1e81bcddae25cf66730fadc");
  EXPECT_EQ(Str(router, "name"), "router-1-name");
  EXPECT_EQ(Str(router, "state"), "available");
  EXPECT_EQ(Str(router, "update_timestamp"), "2024-05-01T10:00:10Z");
  EXPECT_EQ(Str(router, "vitrage_sample_timestamp"), "2024-05-01T10:00:10Z");
  EXPECT_EQ(Str(router, "vitrage_aggregated_state"), "AVAILABLE");
  EXPECT_EQ(Str(router, "vitrage_operational_state"), "OK");
  EXPECT_EQ(Str(router, "vitrage_datasource_name"), "static");
  EXPECT_TRUE(Bool(router, "is_real_vitrage_id"));
  EXPECT_FALSE(Bool(router, "vitrage_is_placeholder"));
  Slot sw = Find("switch", "switch-1");
  ASSERT_NE(sw, kNoSlot);
  Slot e = g_.FindEdge(g_.VertexId(router), g_.VertexId(sw), "contains");
  ASSERT_NE(e, kNoSlot);
  EXPECT_EQ(g_.EdgeProps(e).size(), 2u);
  EXPECT_EQ(g_.EdgeProps(e).GetString(graph::keys::kRelationshipType), "contains");
  EXPECT_FALSE(g_.EdgeProps(e).GetBool(graph::keys::kVitrageIsDeleted));

  // A static entity of a type with its own transformer only merges id/type.
  Process(StaticEntity("h0", "nova.host", "host-0", "ignored", "snapshot", "2024-05-01T10:00:10Z"));
  Slot host = Find("nova.host", "host-0");
  ASSERT_NE(host, kNoSlot);
  EXPECT_EQ(Str(host, "state"), "");
  EXPECT_EQ(Str(host, "vitrage_operational_state"), "N/A");
  EXPECT_EQ(g_.VertexProps(host).Find("name"), nullptr);
}

TEST_F(ProcessorTest, PlaceholderCreatedThenFilled) {
  json s1 =
      StaticEntity("s1", "switch", "switch-1", "available", "snapshot", "2024-05-01T10:00:10Z");
  Relate(&s1, "attached", Ref("s2", "switch", "switch-2"));
  Process(s1);
  Slot ph = Find("switch", "switch-2");
  ASSERT_NE(ph, kNoSlot);
  std::string ph_id(g_.VertexId(ph));
  EXPECT_TRUE(Bool(ph, "vitrage_is_placeholder"));
  EXPECT_EQ(Str(ph, "vitrage_sample_timestamp"), "2024-05-01T10:00:10Z");
  EXPECT_EQ(Str(ph, "vitrage_operational_state"), "N/A");
  const graph::Value* agg = g_.VertexProps(ph).Find("vitrage_aggregated_state");
  ASSERT_NE(agg, nullptr);
  EXPECT_TRUE(agg->is_null());
  EXPECT_EQ(g_.VertexProps(ph).Find("state"), nullptr);
  EXPECT_EQ(p_.stats().placeholders_created, 1u);

  Process(StaticEntity("s2", "switch", "switch-2", "error", "snapshot", "2024-05-01T10:00:11Z"));
  Slot filled = Find("switch", "switch-2");
  EXPECT_EQ(g_.VertexId(filled), ph_id);  // filled in place
  EXPECT_FALSE(Bool(filled, "vitrage_is_placeholder"));
  EXPECT_EQ(Str(filled, "state"), "error");
  EXPECT_EQ(Str(filled, "vitrage_aggregated_state"), "ERROR");
  EXPECT_EQ(Str(filled, "vitrage_operational_state"), "ERROR");
  EXPECT_EQ(g_.vertex_count(), 2u);
}

TEST_F(ProcessorTest, OutOfOrderUpdateDropped) {
  Process(
      StaticEntity("s1", "switch", "switch-1", "available", "snapshot", "2024-05-01T10:00:20Z"));
  json old = StaticEntity("s1", "switch", "switch-1", "error", "update", "2024-05-01T10:00:10Z");
  Relate(&old, "attached", Ref("h9", "nova.host", "host-9"));
  v1::GraphDelta d = Process(old);
  EXPECT_EQ(d.changes_size(), 0);  // dropped whole: vertex, neighbours and edges
  EXPECT_EQ(p_.stats().dropped_stale, 1u);
  EXPECT_EQ(Str(Find("switch", "switch-1"), "state"), "available");
  EXPECT_EQ(Find("nova.host", "host-9"), kNoSlot);
  // Equal timestamps are applied.
  Process(StaticEntity("s1", "switch", "switch-1", "error", "update", "2024-05-01T10:00:20Z"));
  EXPECT_EQ(Str(Find("switch", "switch-1"), "state"), "error");
}

TEST_F(ProcessorTest, DeleteThenRemoval) {
  json s1 =
      StaticEntity("s1", "switch", "switch-1", "available", "snapshot", "2024-05-01T10:00:10Z");
  Relate(&s1, "attached", Ref("h9", "nova.host", "host-9"));
  Relate(&s1, "contains", Ref("r1", "router", "router-1"), /*entity_is_source=*/false);
  Process(s1);
  Process(
      StaticEntity("r1", "router", "router-1", "available", "snapshot", "2024-05-01T10:00:10Z"));
  ASSERT_EQ(g_.vertex_count(), 3u);

  json del =
      StaticEntity("s1", "switch", "switch-1", "available", "update", "2024-05-01T10:01:00Z");
  del["vitrage_event_type"] = "delete_entity";
  Process(del);
  Slot sw = Find("switch", "switch-1");
  ASSERT_NE(sw, kNoSlot);
  EXPECT_TRUE(Bool(sw, "vitrage_is_deleted"));
  EXPECT_EQ(Str(sw, "vitrage_sample_timestamp"), "2024-05-01 10:01:00.500000+00:00");
  // The placeholder host lost its only live edge: removed. The router stays.
  EXPECT_EQ(Find("nova.host", "host-9"), kNoSlot);
  Slot r = Find("router", "router-1");
  ASSERT_NE(r, kNoSlot);
  Slot e = g_.FindEdge(g_.VertexId(r), g_.VertexId(sw), "contains");
  ASSERT_NE(e, kNoSlot);
  EXPECT_TRUE(g_.EdgeProps(e).GetBool(graph::keys::kVitrageIsDeleted));
  EXPECT_EQ(g_.EdgeProps(e).GetString(graph::keys::kUpdateTimestamp),
            "2024-05-01 10:01:00.500000+00:00");

  json rm = del;
  rm["vitrage_event_type"] = "remove_deleted_entity";
  rm["vitrage_sample_date"] = "2024-05-01T10:02:30Z";
  Process(rm);
  EXPECT_EQ(Find("switch", "switch-1"), kNoSlot);
  EXPECT_EQ(g_.vertex_count(), 1u);
  EXPECT_EQ(g_.edge_count(), 0u);

  // A re-created entity gets a new vertex id.
  Process(
      StaticEntity("s1", "switch", "switch-1", "available", "snapshot", "2024-05-01T10:03:00Z"));
  EXPECT_EQ(g_.VertexId(Find("switch", "switch-1")), "00000000-0000-4000-8000-000000000004");
}

TEST_F(ProcessorTest, RelationshipDeleted) {
  json s1 =
      StaticEntity("s1", "switch", "switch-1", "available", "snapshot", "2024-05-01T10:00:10Z");
  Relate(&s1, "attached", Ref("ha", "server", "host-a"));
  Process(s1);
  Process(StaticEntity("hb", "server", "host-b", "available", "snapshot", "2024-05-01T10:00:10Z"));
  // The switch now names host-b instead of host-a (same neighbour type).
  json moved =
      StaticEntity("s1", "switch", "switch-1", "available", "snapshot", "2024-05-01T10:00:20Z");
  Relate(&moved, "attached", Ref("hb", "server", "host-b"));
  Process(moved);
  Slot sw = Find("switch", "switch-1");
  Slot hb = Find("server", "host-b");
  ASSERT_NE(g_.FindEdge(g_.VertexId(sw), g_.VertexId(hb), "attached"), kNoSlot);
  // host-a was a placeholder without another live edge: gone with its edge.
  EXPECT_EQ(Find("server", "host-a"), kNoSlot);
  EXPECT_EQ(g_.edge_count(), 1u);

  // Now host-a is real; moving back marks the host-b edge deleted but keeps host-b.
  Process(StaticEntity("ha", "server", "host-a", "available", "snapshot", "2024-05-01T10:00:30Z"));
  json back =
      StaticEntity("s1", "switch", "switch-1", "available", "snapshot", "2024-05-01T10:00:40Z");
  Relate(&back, "attached", Ref("ha", "server", "host-a"));
  Process(back);
  Slot e = g_.FindEdge(g_.VertexId(sw), g_.VertexId(hb), "attached");
  ASSERT_NE(e, kNoSlot);
  EXPECT_TRUE(g_.EdgeProps(e).GetBool(graph::keys::kVitrageIsDeleted));
  EXPECT_EQ(g_.EdgeProps(e).GetString(graph::keys::kUpdateTimestamp),
            "2024-05-01 10:00:40.500000+00:00");
  Slot ha = Find("server", "host-a");
  Slot live = g_.FindEdge(g_.VertexId(sw), g_.VertexId(ha), "attached");
  ASSERT_NE(live, kNoSlot);
  EXPECT_FALSE(g_.EdgeProps(live).GetBool(graph::keys::kVitrageIsDeleted));
}

json ZabbixEvent(const std::string& action, const std::string& event_type, const std::string& value,
                 const std::string& priority, const std::string& date) {
  json e{{"triggerid", "13002"},
         {"resource_name", "host-0"},
         {"resource_type", "nova.host"},
         {"zabbix_resource_name", "compute-0"},
         {"description", "CPU high on compute-0"},
         {"priority", priority},
         {"rawtext", "CPU high on {HOST.NAME}"},
         {"lastchange", "1714557600"},
         {"value", value},
         {"vitrage_datasource_action", action},
         {"vitrage_datasource_name", "zabbix"},
         {"vitrage_entity_type", "zabbix"},
         {"vitrage_sample_date", date}};
  if (!event_type.empty()) e["vitrage_event_type"] = event_type;
  return e;
}

TEST_F(ProcessorTest, ZabbixAlarmRaisedUpdatedAndCleared) {
  Process(json{{"host", "host-0"},
               {"zone", "zone-0"},
               {"vitrage_datasource_action", "init_snapshot"},
               {"vitrage_datasource_name", "nova.host"},
               {"vitrage_entity_type", "nova.host"},
               {"vitrage_sample_date", "2024-05-01T09:59:00Z"}});
  Process(ZabbixEvent("update", "zabbix.alarm.problem", "1", "4", "2024-05-01T10:00:00Z"));
  auto alarms = g_.FindByNaturalKey("ALARM", "zabbix", Md5Hex("ALARM:zabbix:host-0:13002"));
  ASSERT_EQ(alarms.size(), 1u);
  Slot a = alarms[0];
  Slot host = Find("nova.host", "host-0");
  ASSERT_NE(host, kNoSlot);
  EXPECT_FALSE(Bool(host, "vitrage_is_placeholder"));
  EXPECT_EQ(g_.VertexProps(a).Find(graph::keys::kId), nullptr);
  EXPECT_EQ(Str(a, "name"), "CPU high on host-0");
  EXPECT_EQ(Str(a, "severity"), "HIGH");
  EXPECT_EQ(Str(a, "state"), "Active");
  EXPECT_EQ(Str(a, "update_timestamp"), "2024-05-01T10:00:00Z");
  EXPECT_EQ(Str(a, "vitrage_resource_id"), g_.VertexId(host));
  EXPECT_EQ(Str(a, "vitrage_resource_type"), "nova.host");
  EXPECT_EQ(Str(a, "vitrage_cached_id"), Md5Hex("ALARM:zabbix:host-0:13002"));
  Slot on = g_.FindEdge(g_.VertexId(a), g_.VertexId(host), "on");
  ASSERT_NE(on, kNoSlot);

  // A second problem event updates the same vertex.
  Process(ZabbixEvent("update", "zabbix.alarm.problem", "1", "5", "2024-05-01T10:00:10Z"));
  EXPECT_EQ(g_.FindByNaturalKey("ALARM", "zabbix", Md5Hex("ALARM:zabbix:host-0:13002")).size(), 1u);
  EXPECT_EQ(Str(a, "severity"), "DISASTER");

  // OK clears: the alarm stays, deleted and inactive; its edge is deleted.
  Process(ZabbixEvent("update", "zabbix.alarm.ok", "0", "5", "2024-05-01T10:00:20Z"));
  EXPECT_TRUE(Bool(a, "vitrage_is_deleted"));
  EXPECT_EQ(Str(a, "state"), "Inactive");
  EXPECT_TRUE(g_.EdgeProps(on).GetBool(graph::keys::kVitrageIsDeleted));
}

TEST_F(ProcessorTest, UnknownEntityTypeIsRejectedWithoutChange) {
  auto ev = EventFromJsonText(R"({"vitrage_entity_type": "nova.nope",
                                 "vitrage_datasource_action": "update"})");
  ASSERT_TRUE(ev.ok());
  v1::GraphDelta d;
  absl::Status st = p_.Process(*ev, &d);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("nova.nope"), std::string::npos);
  EXPECT_EQ(g_.vertex_count(), 0u);
}

// ------------------------------------------------------------------------
// docs/transformers.md, "Deliberate differences from upstream": our side of
// each, alone (the differential harness models them on upstream's side).

json InstanceSnapshot(const std::string& id, const std::string& host, const std::string& status,
                      const std::string& date) {
  return json{{"id", id},
              {"name", id + "-name"},
              {"status", status},
              {"tenant_id", "t-a"},
              {"OS-EXT-SRV-ATTR:host", host},
              {"vitrage_datasource_action", "snapshot"},
              {"vitrage_datasource_name", "nova.instance"},
              {"vitrage_entity_type", "nova.instance"},
              {"vitrage_sample_date", date}};
}

json InstanceVersioned(const std::string& id, const std::string& event_type,
                       const std::string& state, const std::string& date) {
  return json{{"nova_object.data",
               {{"uuid", id},
                {"host_name", id + "-name"},
                {"state", state},
                {"tenant_id", "t-a"},
                {"host", "host-0"}}},
              {"vitrage_event_type", event_type},
              {"vitrage_datasource_action", "update"},
              {"vitrage_datasource_name", "nova.instance"},
              {"vitrage_entity_type", "nova.instance"},
              {"vitrage_sample_date", date}};
}

// Deviation 1: a delete older than the entity is dropped and keeps the
// entity's id, so the next event updates the same vertex. (Upstream forgets
// the id first, and its id cache mints a new id on a miss: the next event
// makes a second live vertex of the entity.) Two things of ours keep the id,
// each enough alone: the drop comes before the forget, and ResolveId falls
// back to the key's live vertex on a cache miss (there for the cache's
// refill after a restart). Removing both (upstream's behaviour) fails this.
TEST_F(ProcessorTest, DeviationStaleDeleteKeepsTheEntitysId) {
  Process(InstanceSnapshot("vm-1", "host-0", "ACTIVE", "2024-05-01T10:00:20Z"));
  Slot vm = Find("nova.instance", "vm-1");
  ASSERT_NE(vm, kNoSlot);
  const std::string id(g_.VertexId(vm));

  v1::GraphDelta d =
      Process(InstanceVersioned("vm-1", "instance.delete.end", "deleted", "2024-05-01T10:00:10Z"));
  EXPECT_EQ(d.changes_size(), 0) << "a stale delete is dropped";
  EXPECT_EQ(p_.stats().dropped_stale, 1u);
  vm = Find("nova.instance", "vm-1");
  ASSERT_NE(vm, kNoSlot);
  EXPECT_FALSE(Bool(vm, "vitrage_is_deleted"));

  Process(InstanceVersioned("vm-1", "instance.pause.end", "paused", "2024-05-01T10:00:30Z"));
  auto all = g_.FindByNaturalKey("RESOURCE", "nova.instance", "vm-1");
  ASSERT_EQ(all.size(), 1u) << "the entity is in the graph once";
  EXPECT_EQ(g_.VertexId(all[0]), id) << "under the id it had before the stale delete";
  EXPECT_EQ(Str(all[0], "state"), "paused");
  EXPECT_EQ(g_.vertex_count(), 2u);  // vm-1 and its host placeholder
}

json VolumeAttachEnd(const std::string& vol, const std::string& instance, const std::string& date) {
  return json{{"volume_id", vol},
              {"display_name", vol + "-name"},
              {"status", "in-use"},
              {"tenant_id", "t-a"},
              {"updated_at", date},
              {"volume_attachment", json::array({{{"instance_uuid", instance}}})},
              {"vitrage_event_type", "volume.attach.end"},
              {"vitrage_datasource_action", "update"},
              {"vitrage_datasource_name", "cinder.volume"},
              {"vitrage_entity_type", "cinder.volume"},
              {"vitrage_sample_date", date}};
}

// Deviation 2: update_relationship (volume.attach.end) naming an instance
// the graph lacks adds a proper placeholder (upstream: a vertex without any
// property, on which later events raise KeyError half-way).
TEST_F(ProcessorTest, DeviationUpdateRelationshipMakesAProperPlaceholder) {
  Process(VolumeAttachEnd("vol-1", "vm-7", "2024-05-01T10:00:10Z"));
  Slot vm = Find("nova.instance", "vm-7");
  ASSERT_NE(vm, kNoSlot) << "the unknown instance is a placeholder keyed like any other";
  EXPECT_TRUE(Bool(vm, "vitrage_is_placeholder"));
  EXPECT_FALSE(Bool(vm, "vitrage_is_deleted"));
  EXPECT_EQ(Str(vm, "vitrage_category"), "RESOURCE");
  EXPECT_EQ(Str(vm, "vitrage_type"), "nova.instance");
  EXPECT_EQ(Str(vm, "id"), "vm-7");
  EXPECT_EQ(Str(vm, "vitrage_sample_timestamp"), "2024-05-01T10:00:10Z");
  EXPECT_EQ(Str(vm, "vitrage_cached_id"), Md5Hex("RESOURCE:nova.instance:vm-7"));
  const std::string vm_id(g_.VertexId(vm));
  Slot vol = Find("cinder.volume", "vol-1");
  ASSERT_NE(vol, kNoSlot);
  ASSERT_NE(g_.FindEdge(g_.VertexId(vol), vm_id, "attached"), kNoSlot);

  // The instance's own event fills the placeholder in place.
  Process(InstanceSnapshot("vm-7", "host-0", "ACTIVE", "2024-05-01T10:00:20Z"));
  vm = Find("nova.instance", "vm-7");
  ASSERT_NE(vm, kNoSlot);
  EXPECT_EQ(g_.VertexId(vm), vm_id);
  EXPECT_FALSE(Bool(vm, "vitrage_is_placeholder"));
  EXPECT_EQ(Str(vm, "state"), "ACTIVE");
}

json PortSnapshot(const std::string& id, const std::string& device, const std::string& owner,
                  const std::string& date) {
  return json{{"id", id},
              {"name", id + "-name"},
              {"status", "ACTIVE"},
              {"tenant_id", "t-a"},
              {"updated_at", date},
              {"network_id", "net-1"},
              {"device_id", device},
              {"device_owner", owner},
              {"binding:host_id", "host-0"},
              {"fixed_ips", json::array({{{"ip_address", "10.0.0.5"}}})},
              {"vitrage_datasource_action", "snapshot"},
              {"vitrage_datasource_name", "neutron.port"},
              {"vitrage_entity_type", "neutron.port"},
              {"vitrage_sample_date", date}};
}

// Deviation 3: a port's device is an instance only when device_id is set
// and device_owner is compute:* (or absent). Upstream makes a DHCP agent, a
// router and "" instances too.
TEST_F(ProcessorTest, DeviationPortDeviceIsAnInstanceOnlyForComputeOwners) {
  Process(PortSnapshot("port-dhcp", "dhcp-agent-1", "network:dhcp", "2024-05-01T10:00:10Z"));
  Process(
      PortSnapshot("port-router", "router-1", "network:router_interface", "2024-05-01T10:00:10Z"));
  Process(PortSnapshot("port-free", "", "", "2024-05-01T10:00:10Z"));
  Process(PortSnapshot("port-vm", "vm-3", "compute:nova", "2024-05-01T10:00:10Z"));
  json no_owner = PortSnapshot("port-vm4", "vm-4", "", "2024-05-01T10:00:10Z");
  no_owner.erase("device_owner");
  Process(no_owner);
  EXPECT_EQ(Find("nova.instance", "dhcp-agent-1"), kNoSlot);
  EXPECT_EQ(Find("nova.instance", "router-1"), kNoSlot);
  EXPECT_EQ(Find("nova.instance", ""), kNoSlot);
  for (const char* port : {"port-dhcp", "port-router", "port-free"}) {
    Slot p = Find("neutron.port", port);
    ASSERT_NE(p, kNoSlot) << port;
    for (Slot e : g_.OutEdges(p)) {
      EXPECT_NE(g_.EdgeLabel(e), "attached") << port << " is attached to nothing";
    }
  }
  for (const auto& [port, vm] :
       {std::pair<const char*, const char*>{"port-vm", "vm-3"}, {"port-vm4", "vm-4"}}) {
    Slot i = Find("nova.instance", vm);
    ASSERT_NE(i, kNoSlot) << vm;
    EXPECT_TRUE(Bool(i, "vitrage_is_placeholder"));
    EXPECT_NE(g_.FindEdge(g_.VertexId(Find("neutron.port", port)), g_.VertexId(i), "attached"),
              kNoSlot)
        << port;
  }
  // 5 ports, the network placeholder, 2 instances.
  EXPECT_EQ(g_.vertex_count(), 8u);
}

// Legacy nova notifications (compute.instance.*, nova's payload when
// use_nova_versioned_notifications is false): upstream's
// LegacyNotificationFieldExtractor names.
TEST_F(ProcessorTest, LegacyNovaNotificationsAreKeyedByInstanceId) {
  json create{{"instance_id", "vm-5"},
              {"hostname", "vm-5-host-name"},
              {"display_name", "vm-5-display"},
              {"host", "host-2"},
              {"state", "active"},
              {"tenant_id", "t-b"},
              {"vitrage_event_type", "compute.instance.create.end"},
              {"vitrage_datasource_action", "update"},
              {"vitrage_datasource_name", "nova.instance"},
              {"vitrage_entity_type", "nova.instance"},
              {"vitrage_sample_date", "2024-05-01T10:00:10Z"}};
  Process(create);
  Slot vm = Find("nova.instance", "vm-5");
  ASSERT_NE(vm, kNoSlot);
  EXPECT_EQ(Str(vm, "name"), "vm-5-host-name");
  EXPECT_EQ(Str(vm, "state"), "active");
  EXPECT_EQ(Str(vm, "project_id"), "t-b");
  EXPECT_EQ(Str(vm, "host_id"), "host-2");
  EXPECT_EQ(g_.VertexProps(vm).Find("instance_name"), nullptr);
  Slot host = Find("nova.host", "host-2");
  ASSERT_NE(host, kNoSlot);
  EXPECT_NE(g_.FindEdge(g_.VertexId(host), g_.VertexId(vm), "contains"), kNoSlot);

  json del = create;
  del["vitrage_event_type"] = "compute.instance.delete.end";
  del["vitrage_sample_date"] = "2024-05-01T10:00:20Z";
  Process(del);
  EXPECT_TRUE(Bool(Find("nova.instance", "vm-5"), "vitrage_is_deleted"));

  // Without instance_id the event is refused, naming the field.
  json bad = create;
  bad.erase("instance_id");
  auto ev = EventFromJson(bad);
  ASSERT_TRUE(ev.ok());
  absl::Status st = p_.Process(*ev, nullptr);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("instance_id"), std::string::npos) << st;
}

// Md5Hex (our own MD5) equals OpenSSL's, for every length around the
// block and padding edges and random bytes.
TEST(Md5HexTest, MatchesOpenssl) {
  auto openssl = [](const std::string& s) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(s.data(), s.size(), md, &n, EVP_md5(), nullptr);
    static const char kHex[] = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < n; ++i) {
      out.push_back(kHex[md[i] >> 4]);
      out.push_back(kHex[md[i] & 15]);
    }
    return out;
  };
  EXPECT_EQ(Md5Hex(""), "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(Md5Hex("The quick brown fox jumps over the lazy dog"),
            "9e107d9d372bb6826bd81d3542a419d6");
  std::mt19937_64 rng(25);
  for (size_t len = 0; len < 300; ++len) {
    std::string s(len, '\0');
    for (char& c : s) c = static_cast<char>(rng());
    EXPECT_EQ(Md5Hex(s), openssl(s)) << len;
  }
  // Four at once (the snapshot reader's derived cached ids), every length
  // it takes in every lane.
  for (size_t len = 0; len <= kMd5x4MaxBytes; ++len) {
    std::string s[4];
    absl::string_view v[4];
    for (int l = 0; l < 4; ++l) {
      s[l].resize((len + 13 * l) % (kMd5x4MaxBytes + 1));
      for (char& c : s[l]) c = static_cast<char>(rng());
      v[l] = s[l];
    }
    unsigned char md[4][16];
    Md5x4(v, md);
    for (int l = 0; l < 4; ++l) {
      EXPECT_EQ(absl::BytesToHexString(
                    absl::string_view(reinterpret_cast<const char*>(md[l]), sizeof(md[l]))),
                openssl(s[l]))
          << len << " lane " << l;
    }
  }
  // In batches of any size, with strings too long for Md5x4 among them.
  for (size_t n = 0; n <= 9; ++n) {
    std::vector<std::string> s(n);
    std::vector<absl::string_view> v(n);
    for (size_t i = 0; i < n; ++i) {
      s[i].resize(rng() % 200);
      for (char& c : s[i]) c = static_cast<char>(rng());
      v[i] = s[i];
    }
    std::vector<unsigned char> md(16 * n);
    Md5Batch(v.data(), n, md.data());
    for (size_t i = 0; i < n; ++i) {
      EXPECT_EQ(
          absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(&md[16 * i]), 16)),
          openssl(s[i]))
          << "batch of " << n << ", string " << i << " of " << s[i].size() << " bytes";
    }
  }
}

// The clock's shortcut (text, no time parsing) gives what parsing gives,
// for random dates and the edges of months, leap years and days.
TEST(SampleDateClockTest, ShortcutMatchesParsing) {
  Clock clock = SampleDatePlusHalfSecondClock();
  auto parsed = [](const std::string& in) {
    absl::Time t;
    std::string err;
    EXPECT_TRUE(absl::ParseTime("%Y-%m-%dT%H:%M:%SZ", in, absl::UTCTimeZone(), &t, &err)) << in;
    return absl::FormatTime("%Y-%m-%d %H:%M:%E6S+00:00", t + absl::Milliseconds(500),
                            absl::UTCTimeZone());
  };
  auto at = [&](const std::string& in) {
    Event ev;
    ev.fields.Set(ekeys::kSampleDate, graph::Value::String(in));
    return clock(ev);
  };
  std::vector<std::string> inputs = {"2024-02-29T23:59:59Z", "2023-12-31T23:59:59Z",
                                     "2000-02-29T00:00:00Z", "2024-05-01T10:00:00Z",
                                     "1999-01-01T00:00:00Z", "2024-05-01T10:00:00Z"};
  std::mt19937_64 rng(25);
  for (int i = 0; i < 2000; ++i) {
    absl::Time t = absl::FromUnixSeconds(static_cast<int64_t>(rng() % 4000000000ull));
    inputs.push_back(absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone()));
  }
  for (const std::string& in : inputs) EXPECT_EQ(at(in), parsed(in)) << in;
  // Out of range: not taken by the shortcut (parsed, or now when unparsable).
  for (const char* in : {"2023-02-29T10:00:00Z", "2024-13-01T10:00:00Z", "2024-05-01T24:00:00Z",
                         "2024-05-01T10:00:0xZ", "2024-05-01 10:00:00Z"}) {
    absl::Time t;
    std::string err;
    if (absl::ParseTime("%Y-%m-%dT%H:%M:%SZ", in, absl::UTCTimeZone(), &t, &err)) {
      EXPECT_EQ(at(in), parsed(in)) << in;
    } else {
      EXPECT_NE(at(in).substr(0, 10), std::string(in).substr(0, 10)) << in;
    }
  }
}

// 50,000 nested arrays (100 KB): the converters recurse once per level, so
// such a body used to overflow the stack. Refused before it is parsed.
TEST(EventJsonTest, BodyNested50000DeepIsRefusedNotConverted) {
  std::string deep = R"({"vitrage_entity_type": "static", "x": )" + std::string(50'000, '[') +
                     std::string(50'000, ']') + "}";
  auto ev = EventFromJsonText(deep);
  ASSERT_FALSE(ev.ok());
  EXPECT_EQ(ev.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(ev.status().message().find("event JSON nests 1001 levels (or more); at most 1000"),
            std::string::npos)
      << ev.status();
}

TEST(EventJsonTest, BodyAtTheDepthCapConverts) {
  std::string body = R"({"vitrage_entity_type": "static", "x": )" +
                     std::string(kMaxEventJsonDepth - 1, '[') +
                     std::string(kMaxEventJsonDepth - 1, ']') + "}";
  auto ev = EventFromJsonText(body);
  ASSERT_TRUE(ev.ok()) << ev.status();
  EXPECT_EQ(ev->GetString(ekeys::kEntityType), "static");
}

TEST(StateTableTest, LoadsUpstreamYaml) {
  StateTable t;
  ASSERT_TRUE(t.LoadYaml("switch", R"(category: RESOURCE
values:
  - aggregated values:
      priority: 30
      original values:
        - name: ERROR
          operational_value: ERROR
  - aggregated values:
      priority: 10
      original values:
        - name: available
          operational_value: OK
)")
                  .ok());
  ASSERT_NE(t.Lookup("switch", "AVAILABLE"), nullptr);
  EXPECT_EQ(t.Lookup("switch", "AVAILABLE")->operational, "OK");
  EXPECT_EQ(t.Lookup("switch", "ERROR")->priority, 30);
  EXPECT_EQ(t.Lookup("switch", "SHUTOFF"), nullptr);
  absl::Status st = t.LoadYaml("bad", "category: RESOURCE\nvalues: 3\n");
  EXPECT_NE(st.message().find("bad.yaml"), std::string::npos);
}

// ------------------------------------------------------- pass-through

void PutString(v1::MapValue* m, const std::string& k, const std::string& v) {
  auto* e = m->add_entries();
  e->set_key(k);
  e->mutable_value()->set_string_value(v);
}

TEST(PassthroughTest, GetAllOfGraph10kRebuildsItsDigest) {
  Graph source;
  ASSERT_TRUE(workload::LoadGraphFile(WorkloadDir() + "graph_10k.jsonl.zst", &source).ok());
  v1::MapValue fields;
  PutString(&fields, "vitrage_entity_type", kPassthroughEntityType);
  PutString(&fields, "vitrage_datasource_action", "init_snapshot");
  PutString(&fields, "vitrage_sample_date", "2024-05-01T10:00:00Z");
  auto* ops = fields.add_entries();
  ops->set_key("ops");
  auto* list = ops->mutable_value()->mutable_list_value();
  for (Slot v : source.VerticesById()) {
    auto* m = list->add_values()->mutable_map_value();
    PutString(m, "op", "set_vertex");
    PutString(m, "id", std::string(source.VertexId(v)));
    auto* p = m->add_entries();
    p->set_key("props");
    graph::PropertiesToProto(source.VertexProps(v),
                             p->mutable_value()->mutable_map_value()->mutable_entries());
  }
  for (Slot e : source.EdgesByKey()) {
    auto* m = list->add_values()->mutable_map_value();
    PutString(m, "op", "set_edge");
    PutString(m, "source", std::string(source.VertexId(source.EdgeSource(e))));
    PutString(m, "target", std::string(source.VertexId(source.EdgeTarget(e))));
    PutString(m, "label", std::string(source.EdgeLabel(e)));
    auto* p = m->add_entries();
    p->set_key("props");
    graph::PropertiesToProto(source.EdgeProps(e),
                             p->mutable_value()->mutable_map_value()->mutable_entries());
  }
  Graph g;
  Processor proc(&g, TestOptions());
  v1::GraphDelta d;
  ASSERT_TRUE(proc.Process(EventFromMapValue(fields), &d).ok());
  std::ifstream meta(WorkloadDir() + "graph_10k.meta.json");
  EXPECT_EQ(graph::Digest(g), json::parse(meta)["digest"].get<std::string>());
  Graph replay;
  ASSERT_TRUE(replay.ApplyDelta(d).ok());
  EXPECT_EQ(graph::Digest(replay), graph::Digest(g));
  // Re-sending is harmless.
  v1::GraphDelta again;
  ASSERT_TRUE(proc.Process(EventFromMapValue(fields), &again).ok());
  EXPECT_EQ(again.changes_size(), 0);
}

TEST(PassthroughTest, EdgeToMissingVertexFailsWithoutChange) {
  auto ev = EventFromJsonText(R"({"vitrage_entity_type": "vitrage.passthrough",
    "vitrage_datasource_action": "update", "vitrage_sample_date": "2024-05-01T10:00:00Z",
    "ops": [{"op": "set_vertex", "id": "a", "props": {"x": 1}},
            {"op": "set_edge", "source": "a", "target": "b", "label": "on", "props": {}}]})");
  ASSERT_TRUE(ev.ok());
  Graph g;
  Processor proc(&g, TestOptions());
  v1::GraphDelta d;
  absl::Status st = proc.Process(*ev, &d);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("ops[1]"), std::string::npos) << st;
  EXPECT_EQ(g.vertex_count(), 0u);
}

// --------------------------------------------------------- randomized

// A random property value in its wire form: every kind, lists of scalars,
// a map now and then, and sometimes no kind at all (reads as null).
void RandomWireValue(std::mt19937_64& rng, int depth, v1::Value* out) {
  switch (rng() % (depth > 0 ? 8 : 10)) {
    case 0:
      out->set_null_value(true);
      break;
    case 1:
      out->set_bool_value(rng() % 2);
      break;
    case 2:
      out->set_int_value(static_cast<int64_t>(rng() % 3));
      break;
    case 3:
      out->set_double_value((rng() % 3) * 0.5);
      break;
    case 4:
      out->set_string_value(absl::StrCat("s", rng() % 3));
      break;
    case 5:  // long: held on the heap
      out->set_string_value(absl::StrCat("a-long-string-value-", rng() % 3));
      break;
    case 6:
      break;  // no kind
    case 7:
      out->set_string_value("2024-05-01T10:00:00Z");
      break;
    case 8: {
      auto* l = out->mutable_list_value();
      for (int i = 0, n = static_cast<int>(rng() % 3); i < n; ++i) {
        RandomWireValue(rng, depth + 1, l->add_values());
      }
      break;
    }
    default: {
      auto* m = out->mutable_map_value();
      for (int i = 0, n = static_cast<int>(rng() % 3); i < n; ++i) {
        auto* e = m->add_entries();
        e->set_key(absl::StrCat("k", rng() % 2));
        RandomWireValue(rng, depth + 1, e->mutable_value());
      }
    }
  }
}

// The pass-through fast path (ProtoEvent: ops read from the proto, only
// changed properties converted) against the converted event: same status,
// same delta, same graph, over random ops with duplicate keys, every value
// kind, removed and added keys, and malformed ops.
TEST(PassthroughTest, ProtoEventMatchesConvertedEvent) {
  std::mt19937_64 rng(777);
  Graph slow_g, fast_g;
  Processor slow(&slow_g, TestOptions()), fast(&fast_g, TestOptions());
  const char* keys[] = {
      "state", "name",        "vitrage_sample_timestamp", "update_timestamp", "attachments",
      "x",     "vitrage_type"};
  auto pick = [&](int n) { return static_cast<int>(rng() % n); };
  int fast_rejected = 0, changes = 0;
  for (int i = 0; i < 3000; ++i) {
    v1::MapValue fields;
    PutString(&fields, "vitrage_entity_type", pick(20) == 0 ? "static" : kPassthroughEntityType);
    if (pick(20) == 0) PutString(&fields, "vitrage_entity_type", kPassthroughEntityType);
    PutString(&fields, "vitrage_datasource_action", "update");
    PutString(&fields, "vitrage_sample_date", "2024-05-01T10:00:00Z");
    auto* ops = fields.add_entries();
    ops->set_key("ops");
    if (pick(50) == 0) {
      ops->mutable_value()->set_string_value("not a list");
    } else {
      auto* list = ops->mutable_value()->mutable_list_value();
      for (int k = 0, n = 1 + pick(3); k < n; ++k) {
        auto* m = list->add_values()->mutable_map_value();
        std::string a = absl::StrCat("v-", pick(8)), b = absl::StrCat("v-", pick(8));
        int kind = pick(10);
        if (kind < 6) {
          PutString(m, "op", "set_vertex");
          PutString(m, "id", a);
        } else if (kind == 6) {
          PutString(m, "op", "remove_vertex");
          PutString(m, "id", a);
        } else if (kind == 7) {
          PutString(m, "op", "set_edge");
          PutString(m, "source", a);
          PutString(m, "target", b);
          PutString(m, "label", pick(2) ? "on" : "in");
        } else if (kind == 8) {
          PutString(m, "op", "remove_edge");
          PutString(m, "source", a);
          PutString(m, "target", b);
          PutString(m, "label", "on");
        } else {
          PutString(m, "op", pick(2) ? "bogus" : "set_vertex");  // unknown op / no id
        }
        if (pick(30) == 0) PutString(m, "id", b);  // a duplicate key: the last wins
        if (pick(30) == 0) continue;               // no props
        auto* p = m->add_entries();
        p->set_key("props");
        if (pick(40) == 0) {
          p->mutable_value()->set_int_value(1);  // props not a map
          continue;
        }
        auto* pm = p->mutable_value()->mutable_map_value();
        for (int j = 0, np = pick(6); j < np; ++j) {
          auto* e = pm->add_entries();
          e->set_key(keys[pick(7)]);  // duplicates now and then
          RandomWireValue(rng, 0, e->mutable_value());
        }
      }
    }
    v1::GraphDelta ds, df;
    absl::Status ss = slow.Process(EventFromMapValue(fields), &ds);
    absl::Status fs = fast.Process(ProtoEventFromMapValue(fields), &df);
    ASSERT_EQ(ss, fs) << "event " << i << ": " << fields.DebugString();
    ASSERT_EQ(ds.SerializeAsString(), df.SerializeAsString()) << "event " << i;
    fast_rejected += !fs.ok();
    changes += df.changes_size();
    if (i % 100 == 0) {
      ASSERT_EQ(graph::Digest(slow_g), graph::Digest(fast_g)) << "event " << i;
    }
  }
  EXPECT_EQ(graph::Digest(slow_g), graph::Digest(fast_g));
  EXPECT_EQ(slow.stats().processed, fast.stats().processed);
  // The mix exercised both outcomes.
  EXPECT_GT(fast_rejected, 50);
  EXPECT_GT(changes, 1000);
}

TEST(ProcessorRandomTest, DeltaReproducesProcessorResult) {
  std::mt19937_64 rng(12345);
  Graph g;
  Processor proc(&g, TestOptions());
  Graph shadow;
  const char* types[] = {"switch", "router", "server", "nova.host"};
  const char* states[] = {"available", "error", "suboptimal", "weird"};
  const char* actions[] = {"init_snapshot", "snapshot", "update", "update", "update"};
  const char* event_types[] = {"",
                               "",
                               "delete_entity",
                               "remove_deleted_entity",
                               "update_relationship",
                               "delete_relationship"};
  auto pick = [&](int n) { return static_cast<int>(rng() % n); };
  const int kEvents = 4000;
  for (int i = 0; i < kEvents; ++i) {
    json ev;
    if (pick(10) == 0) {
      // Pass-through op mix.
      json ops = json::array();
      for (int k = 0; k < 3; ++k) {
        std::string a = absl::StrCat("pt-", pick(12)), b = absl::StrCat("pt-", pick(12));
        switch (pick(4)) {
          case 0:
            ops.push_back({{"op", "set_vertex"}, {"id", a}, {"props", {{"n", pick(5)}}}});
            break;
          case 1:
            ops.push_back({{"op", "remove_vertex"}, {"id", a}});
            break;
          case 2:
            ops.push_back({{"op", "set_vertex"}, {"id", a}, {"props", {{"n", 1}}}});
            ops.push_back({{"op", "set_vertex"}, {"id", b}, {"props", {{"m", 2.5}}}});
            ops.push_back({{"op", "set_edge"},
                           {"source", a},
                           {"target", b},
                           {"label", "l"},
                           {"props", {{"w", pick(3)}}}});
            break;
          default:
            ops.push_back({{"op", "remove_edge"}, {"source", a}, {"target", b}, {"label", "l"}});
        }
      }
      ev = {{"vitrage_entity_type", "vitrage.passthrough"},
            {"vitrage_datasource_action", "update"},
            {"vitrage_sample_date", "2024-05-01T10:00:00Z"},
            {"ops", ops}};
    } else {
      int t = pick(4);
      std::string id = absl::StrCat(types[t], "-", pick(6));
      char date[32];
      snprintf(date, sizeof date, "2024-05-01T10:%02d:%02dZ",
               (i / 60) % 60 - pick(2) + 1 < 0 ? 0 : (i / 60) % 60, pick(60));
      ev = StaticEntity(absl::StrCat("sid-", id), types[t], id, states[pick(4)], actions[pick(5)],
                        date);
      if (ev["vitrage_datasource_action"] == "update") {
        std::string et = event_types[pick(6)];
        if (!et.empty()) ev["vitrage_event_type"] = et;
      }
      int nrel = pick(3);
      for (int k = 0; k < nrel; ++k) {
        int nt = pick(4);
        std::string nid = absl::StrCat(types[nt], "-", pick(6));
        Relate(&ev, pick(2) ? "attached" : "contains",
               Ref(absl::StrCat("sid-", nid), types[nt], nid), pick(2) == 0);
      }
    }
    auto e = EventFromJson(ev);
    ASSERT_TRUE(e.ok());
    v1::GraphDelta d;
    absl::Status st = proc.Process(*e, &d);
    if (!st.ok()) {
      // Only pass-through events may be rejected (edge to a missing vertex).
      ASSERT_EQ(ev["vitrage_entity_type"], "vitrage.passthrough") << st;
      ASSERT_EQ(d.changes_size(), 0);
    }
    // Round-trip the delta through its wire form, as the journal does.
    v1::GraphDelta wire;
    ASSERT_TRUE(wire.ParseFromString(d.SerializeAsString()));
    ASSERT_TRUE(shadow.ApplyDelta(wire).ok()) << "event " << i << ": " << ev.dump();
    if (i % 50 == 0 || i == kEvents - 1) {
      ASSERT_EQ(graph::Digest(shadow), graph::Digest(g)) << "after event " << i;
    }
  }
  EXPECT_GT(g.vertex_count(), 10u);
  EXPECT_GT(proc.stats().dropped_stale, 0u);
}

TEST(PassthroughTest, DecodeRejectsMalformedOps) {
  v1::MapValue fields;
  EXPECT_NE(DecodePassthrough(fields).status().message().find("\"ops\""), absl::string_view::npos);
  std::vector<PassthroughOp> ops(1);
  ops[0].kind = PassthroughOp::kSetVertex;
  ops[0].id = "v";
  EncodePassthrough(ops, "update", "2026-01-01T00:00:00Z", &fields);
  auto back = DecodePassthrough(fields);
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->size(), 1u);
  EXPECT_EQ((*back)[0].id, "v");
  // Break the op name.
  auto* op_map = fields.mutable_entries(3)
                     ->mutable_value()
                     ->mutable_list_value()
                     ->mutable_values(0)
                     ->mutable_map_value();
  op_map->mutable_entries(0)->mutable_value()->set_string_value("explode");
  EXPECT_NE(DecodePassthrough(fields).status().message().find("ops[0] has unknown op \"explode\""),
            absl::string_view::npos);
}

}  // namespace
}  // namespace vitrage::processor
