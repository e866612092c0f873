#include "collector/model.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "graph_service/workload/workload.h"

namespace vitrage::collector {
namespace {

using graph::InternKey;
using graph::Properties;
using graph::Value;

std::string Md5Hex(absl::string_view s) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(s.data(), s.size(), md, &len, EVP_md5(), nullptr);
  std::string out;
  for (unsigned int i = 0; i < len; ++i) absl::StrAppendFormat(&out, "%02x", md[i]);
  return out;
}

void SetStr(Properties* p, absl::string_view key, absl::string_view v) {
  graph::KeyId k = InternKey(key);
  p->Set(k, Value::StringFor(k, v));
}
void SetBool(Properties* p, absl::string_view key, bool v) {
  p->Set(InternKey(key), Value::Bool(v));
}

}  // namespace

SyntheticOptions SyntheticForHosts(int hosts) {
  SyntheticOptions o;
  o.hosts = std::max(1, hosts);
  o.zones = std::max(1, hosts / 16);
  o.networks = std::max(1, hosts / 8);
  return o;
}

void Model::IdSet::Add(const std::string& id) {
  if (index.contains(id)) return;
  index[id] = ids.size();
  ids.push_back(id);
}

void Model::IdSet::Remove(const std::string& id) {
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

Model::Model(uint64_t seed) : rng_(seed) {}

std::string Model::NewId() {
  uint64_t a = rng_(), b = rng_();
  ++minted_;
  return absl::StrFormat("%08x-%04x-4%03x-%04x-%012x", a >> 32, (a >> 16) & 0xffff, a & 0xfff,
                         0x8000 | ((b >> 48) & 0x3fff), b & 0xffffffffffffull);
}

void Model::Track(const std::string& id, const Properties& p, bool add) {
  absl::string_view type = p.GetString(graph::keys::kVitrageType);
  absl::string_view category = p.GetString(graph::keys::kVitrageCategory);
  IdSet* set = nullptr;
  if (category == "ALARM") {
    set = &alarms_;
  } else if (type == "nova.host") {
    set = &hosts_;
  } else if (type == "nova.instance") {
    set = &instances_;
  }
  if (add) {
    if (set) set->Add(id);
    if (category == "RESOURCE") resources_.Add(id);
  } else {
    if (set) set->Remove(id);
    resources_.Remove(id);
  }
}

void Model::Reindex() {
  hosts_ = IdSet();
  instances_ = IdSet();
  alarms_ = IdSet();
  resources_ = IdSet();
  for (graph::Slot v : graph_.VerticesById()) {
    Track(std::string(graph_.VertexId(v)), graph_.VertexProps(v), true);
  }
}

absl::Status Model::LoadTopologyFile(const std::string& path) {
  graph::Graph g;
  RETURN_IF_ERROR(workload::LoadGraphFile(path, &g));
  graph_ = std::move(g);
  Reindex();
  return absl::OkStatus();
}

Properties Model::ResourceProps(const std::string& id, const std::string& type,
                                const std::string& name, const std::string& state,
                                const std::string& now) const {
  Properties p;
  SetStr(&p, "vitrage_id", id);
  SetStr(&p, "vitrage_category", "RESOURCE");
  SetStr(&p, "vitrage_type", type);
  SetStr(&p, "id", absl::StrCat(type, "-", name));
  SetStr(&p, "name", name);
  SetStr(&p, "state", state);
  SetBool(&p, "vitrage_is_deleted", false);
  SetBool(&p, "vitrage_is_placeholder", false);
  SetStr(&p, "vitrage_sample_timestamp", now);
  SetStr(&p, "vitrage_aggregated_state", state);
  SetStr(&p, "vitrage_operational_state", state == "ERROR" ? "ERROR" : "OK");
  SetStr(&p, "vitrage_cached_id", Md5Hex(absl::StrCat("RESOURCE:", type, ":", type, "-", name)));
  SetBool(&p, "is_real_vitrage_id", true);
  return p;
}

void Model::AddVertexOp(std::vector<processor::PassthroughOp>* ops, const std::string& id,
                        Properties props) {
  processor::PassthroughOp op;
  op.kind = processor::PassthroughOp::kSetVertex;
  op.id = id;
  op.props = std::move(props);
  ops->push_back(std::move(op));
}

void Model::AddEdgeOp(std::vector<processor::PassthroughOp>* ops, const std::string& s,
                      const std::string& t, const std::string& label, const std::string& now) {
  processor::PassthroughOp op;
  op.kind = processor::PassthroughOp::kSetEdge;
  op.source = s;
  op.target = t;
  op.label = label;
  SetStr(&op.props, "relationship_type", label);
  SetBool(&op.props, "vitrage_is_deleted", false);
  SetStr(&op.props, "update_timestamp", now);
  ops->push_back(std::move(op));
}

void Model::RemoveVertexOps(std::vector<processor::PassthroughOp>* ops, const std::string& id) {
  graph::Slot v = graph_.FindVertex(id);
  if (v == graph::kNoSlot) return;
  auto add_edge_removal = [&](graph::Slot e) {
    processor::PassthroughOp op;
    op.kind = processor::PassthroughOp::kRemoveEdge;
    op.source = std::string(graph_.VertexId(graph_.EdgeSource(e)));
    op.target = std::string(graph_.VertexId(graph_.EdgeTarget(e)));
    op.label = std::string(graph_.EdgeLabel(e));
    ops->push_back(std::move(op));
  };
  for (graph::Slot e : graph_.OutEdges(v)) add_edge_removal(e);
  for (graph::Slot e : graph_.InEdges(v)) {
    if (graph_.EdgeSource(e) != v) add_edge_removal(e);
  }
  processor::PassthroughOp op;
  op.kind = processor::PassthroughOp::kRemoveVertex;
  op.id = id;
  ops->push_back(std::move(op));
}

void Model::BuildSynthetic(const SyntheticOptions& o) {
  graph_ = graph::Graph();
  const std::string now = "2026-11-30T00:00:00Z";
  std::vector<processor::PassthroughOp> ops;
  std::string cluster = NewId();
  AddVertexOp(&ops, cluster,
              ResourceProps(cluster, "openstack.cluster", "OpenStack Cluster", "available", now));
  std::vector<std::string> zones, networks;
  for (int z = 0; z < o.zones; ++z) {
    std::string id = NewId();
    AddVertexOp(&ops, id,
                ResourceProps(id, "nova.zone", absl::StrCat("zone-", z), "available", now));
    AddEdgeOp(&ops, cluster, id, "contains", now);
    zones.push_back(id);
  }
  for (int n = 0; n < o.networks; ++n) {
    std::string id = NewId();
    AddVertexOp(&ops, id,
                ResourceProps(id, "neutron.network", absl::StrCat("net-", n), "ACTIVE", now));
    networks.push_back(id);
  }
  int instance_no = 0, port_no = 0, volume_no = 0, alarm_no = 0;
  for (int h = 0; h < o.hosts; ++h) {
    std::string host = NewId();
    AddVertexOp(&ops, host,
                ResourceProps(host, "nova.host", absl::StrCat("host-", h), "available", now));
    AddEdgeOp(&ops, zones[h % zones.size()], host, "contains", now);
    for (int a = 0; a < o.alarms_per_host; ++a) {
      std::string alarm = NewId();
      Properties p;
      SetStr(&p, "vitrage_id", alarm);
      SetStr(&p, "vitrage_category", "ALARM");
      SetStr(&p, "vitrage_type", "zabbix");
      SetStr(&p, "name", absl::StrCat("alarm-", alarm_no++));
      SetStr(&p, "severity", "WARNING");
      SetStr(&p, "state", "Active");
      SetBool(&p, "vitrage_is_deleted", false);
      SetBool(&p, "vitrage_is_placeholder", false);
      SetStr(&p, "vitrage_sample_timestamp", now);
      SetStr(&p, "resource_id", host);
      AddVertexOp(&ops, alarm, std::move(p));
      AddEdgeOp(&ops, alarm, host, "on", now);
    }
    for (int i = 0; i < o.instances_per_host; ++i) {
      std::string inst = NewId();
      AddVertexOp(
          &ops, inst,
          ResourceProps(inst, "nova.instance", absl::StrCat("vm-", instance_no++), "ACTIVE", now));
      AddEdgeOp(&ops, host, inst, "contains", now);
      for (int p = 0; p < o.ports_per_instance; ++p) {
        std::string port = NewId();
        AddVertexOp(
            &ops, port,
            ResourceProps(port, "neutron.port", absl::StrCat("port-", port_no++), "ACTIVE", now));
        AddEdgeOp(&ops, networks[Rand(networks.size())], port, "contains", now);
        AddEdgeOp(&ops, port, inst, "attached", now);
      }
      for (int v = 0; v < o.volumes_per_instance; ++v) {
        std::string vol = NewId();
        AddVertexOp(&ops, vol,
                    ResourceProps(vol, "cinder.volume", absl::StrCat("volume-", volume_no++),
                                  "in-use", now));
        AddEdgeOp(&ops, vol, inst, "attached", now);
      }
    }
  }
  absl::Status s = Apply(ops);
  (void)s;  // generator-made ops always apply to an empty graph
  Reindex();
}

absl::Status Model::Apply(const std::vector<processor::PassthroughOp>& ops) {
  for (const processor::PassthroughOp& op : ops) {
    switch (op.kind) {
      case processor::PassthroughOp::kSetVertex: {
        if (graph_.HasVertex(op.id)) {
          RETURN_IF_ERROR(graph_.ReplaceVertexProps(op.id, op.props));
        } else {
          RETURN_IF_ERROR(graph_.AddVertex(op.id, op.props));
          Track(op.id, op.props, true);
        }
        break;
      }
      case processor::PassthroughOp::kRemoveVertex: {
        graph::Slot v = graph_.FindVertex(op.id);
        if (v != graph::kNoSlot) {
          Properties props = graph_.VertexProps(v);
          RETURN_IF_ERROR(graph_.RemoveVertex(op.id));
          Track(op.id, props, false);
        }
        break;
      }
      case processor::PassthroughOp::kSetEdge: {
        if (graph_.FindEdge(op.source, op.target, op.label) != graph::kNoSlot) {
          RETURN_IF_ERROR(graph_.RemoveEdge(op.source, op.target, op.label));
        }
        RETURN_IF_ERROR(graph_.AddEdge(op.source, op.target, op.label, op.props));
        break;
      }
      case processor::PassthroughOp::kRemoveEdge:
        if (graph_.FindEdge(op.source, op.target, op.label) != graph::kNoSlot) {
          RETURN_IF_ERROR(graph_.RemoveEdge(op.source, op.target, op.label));
        }
        break;
    }
  }
  return absl::OkStatus();
}

std::vector<processor::PassthroughOp> Model::NextChange(const std::string& now) {
  std::vector<processor::PassthroughOp> ops;
  uint64_t dice = Rand(100);
  if (dice < 15 && !hosts_.empty()) {  // raise an alarm on a host or instance
    const IdSet& targets = (Rand(2) == 0 || instances_.empty()) ? hosts_ : instances_;
    const std::string& target = targets.ids[Rand(targets.ids.size())];
    std::string alarm = NewId();
    Properties p;
    SetStr(&p, "vitrage_id", alarm);
    SetStr(&p, "vitrage_category", "ALARM");
    SetStr(&p, "vitrage_type", "zabbix");
    SetStr(&p, "name", absl::StrCat("alarm-", minted_));
    SetStr(&p, "severity", Rand(2) ? "WARNING" : "CRITICAL");
    SetStr(&p, "state", "Active");
    SetBool(&p, "vitrage_is_deleted", false);
    SetBool(&p, "vitrage_is_placeholder", false);
    SetStr(&p, "vitrage_sample_timestamp", now);
    SetStr(&p, "resource_id", target);
    AddVertexOp(&ops, alarm, std::move(p));
    AddEdgeOp(&ops, alarm, target, "on", now);
  } else if (dice < 30 && !alarms_.empty()) {  // clear an alarm
    RemoveVertexOps(&ops, alarms_.ids[Rand(alarms_.ids.size())]);
  } else if (dice < 40 && !hosts_.empty()) {  // create an instance
    const std::string& host = hosts_.ids[Rand(hosts_.ids.size())];
    std::string inst = NewId();
    AddVertexOp(
        &ops, inst,
        ResourceProps(inst, "nova.instance", absl::StrCat("vm-new-", minted_), "BUILDING", now));
    AddEdgeOp(&ops, host, inst, "contains", now);
  } else if (dice < 50 && !instances_.empty() && hosts_.ids.size() > 1) {
    // live-migrate an instance: move its host-contains edge
    const std::string inst = instances_.ids[Rand(instances_.ids.size())];
    graph::Slot v = graph_.FindVertex(inst);
    std::string from;
    for (graph::Slot e : graph_.InEdges(v)) {
      if (graph_.EdgeLabel(e) == "contains") {
        from = std::string(graph_.VertexId(graph_.EdgeSource(e)));
      }
    }
    std::string to = hosts_.ids[Rand(hosts_.ids.size())];
    if (to == from) to = hosts_.ids[(hosts_.index[to] + 1) % hosts_.ids.size()];
    if (!from.empty()) {
      processor::PassthroughOp op;
      op.kind = processor::PassthroughOp::kRemoveEdge;
      op.source = from;
      op.target = inst;
      op.label = "contains";
      ops.push_back(std::move(op));
    }
    AddEdgeOp(&ops, to, inst, "contains", now);
    Properties p = graph_.VertexProps(v);
    SetStr(&p, "host_id", to);
    SetStr(&p, "vitrage_sample_timestamp", now);
    AddVertexOp(&ops, inst, std::move(p));
  } else if (dice < 58 && instances_.ids.size() > 1) {  // delete an instance
    RemoveVertexOps(&ops, instances_.ids[Rand(instances_.ids.size())]);
  } else if (!resources_.empty()) {  // flip a state
    const std::string& id = resources_.ids[Rand(resources_.ids.size())];
    Properties p = graph_.VertexProps(graph_.FindVertex(id));
    absl::string_view state = p.GetString(graph::keys::kState);
    std::string next = state == "ERROR" ? "ACTIVE" : "ERROR";
    SetStr(&p, "state", next);
    SetStr(&p, "vitrage_aggregated_state", next);
    SetStr(&p, "vitrage_operational_state", next == "ERROR" ? "ERROR" : "OK");
    SetStr(&p, "vitrage_sample_timestamp", now);
    AddVertexOp(&ops, id, std::move(p));
  }
  absl::Status s = Apply(ops);
  (void)s;  // the generator only makes ops that apply to its own state
  return ops;
}

absl::StatusOr<std::vector<processor::PassthroughOp>> Model::ApplyTailEvent(
    const nlohmann::json& event) {
  RETURN_IF_ERROR(workload::ApplyEvent(event, &graph_, nullptr));
  const nlohmann::json& p = event["payload"];
  std::vector<processor::PassthroughOp> ops(1);
  processor::PassthroughOp& op = ops[0];
  if (event.value("is_vertex", true)) {
    op.kind = processor::PassthroughOp::kSetVertex;
    op.id = p["vertex_id"].get<std::string>();
    graph::Slot v = graph_.FindVertex(op.id);
    op.props = graph_.VertexProps(v);
    Track(op.id, op.props, true);
  } else {
    op.kind = processor::PassthroughOp::kSetEdge;
    op.source = p["source_id"].get<std::string>();
    op.target = p["target_id"].get<std::string>();
    op.label = p["relationship_type"].get<std::string>();
    op.props = graph_.EdgeProps(graph_.FindEdge(op.source, op.target, op.label));
  }
  return ops;
}

std::vector<processor::PassthroughOp> Model::FullState() const {
  std::vector<processor::PassthroughOp> ops;
  ops.reserve(graph_.vertex_count() + graph_.edge_count());
  for (graph::Slot v : graph_.VerticesById()) {
    processor::PassthroughOp op;
    op.kind = processor::PassthroughOp::kSetVertex;
    op.id = std::string(graph_.VertexId(v));
    op.props = graph_.VertexProps(v);
    ops.push_back(std::move(op));
  }
  for (graph::Slot e : graph_.EdgesByKey()) {
    processor::PassthroughOp op;
    op.kind = processor::PassthroughOp::kSetEdge;
    op.source = std::string(graph_.VertexId(graph_.EdgeSource(e)));
    op.target = std::string(graph_.VertexId(graph_.EdgeTarget(e)));
    op.label = std::string(graph_.EdgeLabel(e));
    op.props = graph_.EdgeProps(e);
    ops.push_back(std::move(op));
  }
  return ops;
}

}  // namespace vitrage::collector
