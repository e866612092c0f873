#include "graph_service/workload/generator.h"

#include <openssl/evp.h>
#include <zstd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "graph_service/graph/digest.h"
#include "graph_service/graph/graph.h"
#include "graph_service/workload/workload.h"
#include "nlohmann/json.hpp"

namespace vitrage::workload {
namespace {

// A property of a vertex kind: a JSON literal, or one of the markers below.
struct Field {
  const char* key;
  const char* value;
};

constexpr char kVid[] = "$vid";  // the vertex id, 11111111-...-<2n>
constexpr char kId[] = "$id";    // the entity id, ...-<2n-1> (hosts: the name)
constexpr char kName[] = "$name";
constexpr char kCached[] = "$cached";            // md5 of category:type:id
constexpr char kChanged[] = "$changed";          // state or severity: what a tail event changes
constexpr char kSample[] = "$sample";            // vitrage_sample_timestamp
constexpr char kUpdate[] = "$update";            // update_timestamp
constexpr char kUpdateIfChanged[] = "$update?";  // only once an event set it

enum Kind : uint8_t {
  kCluster,
  kNetwork,
  kZone,
  kHost,
  kZabbix,
  kInstance,
  kPort,
  kVolume,
  kVitrageAlarm,
  kController,
  kKinds
};

struct KindInfo {
  const char* type;
  const char* category;
  std::vector<Field> fields;  // in upstream's key order
  const char* changed;        // the initial value of $changed
  const char* sample;
  const char* update;
};

const char* const kResourceStates[] = {"ACTIVE", "ERROR", "SHUTOFF", "SUSPENDED"};
const char* const kAlarmSeverities[] = {"OK", "WARNING", "SEVERE", "CRITICAL"};
constexpr char kTailTime[] = "2026-11-24T23:07:33Z";
constexpr char kEdgeTime[] = "2017-12-24T10:32:48Z";

const KindInfo& Info(Kind k) {
  static const auto* kInfo = new std::vector<KindInfo>{
      {"openstack.cluster",
       "RESOURCE",
       {{"vitrage_id", kVid},
        {"id", kId},
        {"vitrage_is_deleted", "false"},
        {"vitrage_category", "\"RESOURCE\""},
        {"vitrage_operational_state", "\"OK\""},
        {"state", kChanged},
        {"vitrage_type", "\"openstack.cluster\""},
        {"vitrage_sample_timestamp", kSample},
        {"vitrage_aggregated_state", "\"AVAILABLE\""},
        {"vitrage_is_placeholder", "false"},
        {"is_real_vitrage_id", "true"},
        {"name", kName},
        {"vitrage_cached_id", kCached},
        {"update_timestamp", kUpdateIfChanged}},
       "available",
       "2017-12-24 10:32:41.941967+00:00",
       ""},
      {"neutron.network",
       "RESOURCE",
       {{"vitrage_id", kVid},
        {"id", kId},
        {"name", kName},
        {"update_timestamp", kUpdate},
        {"vitrage_category", "\"RESOURCE\""},
        {"vitrage_operational_state", "\"OK\""},
        {"state", kChanged},
        {"vitrage_type", "\"neutron.network\""},
        {"vitrage_sample_timestamp", kSample},
        {"vitrage_aggregated_state", "\"ACTIVE\""},
        {"vitrage_is_placeholder", "false"},
        {"is_real_vitrage_id", "true"},
        {"vitrage_is_deleted", "false"},
        {"vitrage_datasource_name", "\"neutron.network\""},
        {"vitrage_cached_id", kCached}},
       "ACTIVE",
       "2017-12-25 06:30:24.928811+00:00",
       "2017-11-20T13:49:13Z"},
      {"nova.zone",
       "RESOURCE",
       {{"vitrage_id", kVid},
        {"id", kId},
        {"name", kName},
        {"update_timestamp", kUpdate},
        {"vitrage_category", "\"RESOURCE\""},
        {"vitrage_operational_state", "\"OK\""},
        {"state", kChanged},
        {"vitrage_type", "\"nova.zone\""},
        {"vitrage_sample_timestamp", kSample},
        {"vitrage_aggregated_state", "\"AVAILABLE\""},
        {"vitrage_is_placeholder", "false"},
        {"vitrage_datasource_name", "\"nova.zone\""},
        {"is_real_vitrage_id", "true"},
        {"vitrage_is_deleted", "false"},
        {"vitrage_cached_id", kCached}},
       "available",
       "2017-12-24 10:32:41.941967+00:00",
       "2017-12-24 10:32:41.941967+00:00"},
      {"nova.host",
       "RESOURCE",
       {{"vitrage_id", kVid},
        {"id", kId},
        {"vitrage_is_deleted", "false"},
        {"vitrage_category", "\"RESOURCE\""},
        {"vitrage_operational_state", "\"OK\""},
        {"state", kChanged},
        {"vitrage_type", "\"nova.host\""},
        {"vitrage_sample_timestamp", kSample},
        {"vitrage_aggregated_state", "\"AVAILABLE\""},
        {"vitrage_is_placeholder", "false"},
        {"vitrage_datasource_name", "\"nova.host\""},
        {"is_real_vitrage_id", "true"},
        {"name", kName},
        {"vitrage_cached_id", kCached},
        {"update_timestamp", kUpdateIfChanged}},
       "AVAILABLE",
       "2017-12-24 10:32:41.389676+00:00",
       ""},
      {"zabbix",
       "ALARM",
       {{"rawtext", "\"Component etcd-1 is not in Healthy state\""},
        {"vitrage_id", kVid},
        {"id", kId},
        {"name", kName},
        {"update_timestamp", kUpdate},
        {"resource_id", "\"k8s\""},
        {"vitrage_category", "\"ALARM\""},
        {"vitrage_is_deleted", "false"},
        {"state", "\"Active\""},
        {"vitrage_type", "\"zabbix\""},
        {"vitrage_sample_timestamp", kSample},
        {"vitrage_operational_severity", kChanged},
        {"vitrage_is_placeholder", "false"},
        {"vitrage_aggregated_severity", "\"WARNING\""},
        {"vitrage_resource_id", "\"932d6f9a-dfc4-4a32-9e7a-1fb16a68d3af\""},
        {"vitrage_resource_type", "\"kubernetes_cluster\""},
        {"vitrage_datasource_name", "\"zabbix\""},
        {"severity", "\"WARNING\""},
        {"is_real_vitrage_id", "true"},
        {"vitrage_cached_id", kCached}},
       "WARNING",
       "2017-12-25 09:33:02.733159+00:00",
       "2017-12-24T10:32:43Z"},
      {"nova.instance",
       "RESOURCE",
       {{"vitrage_id", kVid},
        {"id", kId},
        {"vitrage_state", "\"SUBOPTIMAL\""},
        {"vitrage_is_deleted", "false"},
        {"update_timestamp", kUpdate},
        {"vitrage_category", "\"RESOURCE\""},
        {"vitrage_operational_state", "\"SUBOPTIMAL\""},
        {"state", kChanged},
        {"vitrage_type", "\"nova.instance\""},
        {"vitrage_sample_timestamp", kSample},
        {"host_id", "\"compute-0-0\""},
        {"vitrage_aggregated_state", "\"SUBOPTIMAL\""},
        {"vitrage_is_placeholder", "false"},
        {"vitrage_datasource_name", "\"nova.instance\""},
        {"is_real_vitrage_id", "true"},
        {"name", kName},
        {"vitrage_cached_id", kCached}},
       "ACTIVE",
       "2017-12-25 09:43:49.711469+00:00",
       "2017-12-25 09:43:49.711469+00:00"},
      {"neutron.port",
       "RESOURCE",
       {{"vitrage_id", kVid},
        {"id", kId},
        {"vitrage_is_deleted", "false"},
        {"update_timestamp", kUpdate},
        {"ip_addresses", "[\"10.0.0.1\"]"},
        {"vitrage_category", "\"RESOURCE\""},
        {"vitrage_operational_state", "\"OK\""},
        {"state", kChanged},
        {"vitrage_type", "\"neutron.port\""},
        {"vitrage_sample_timestamp", kSample},
        {"host_id", "\"compute-0-0\""},
        {"vitrage_aggregated_state", "\"ACTIVE\""},
        {"vitrage_is_placeholder", "false"},
        {"vitrage_datasource_name", "\"neutron.port\""},
        {"is_real_vitrage_id", "true"},
        {"name", kName},
        {"vitrage_cached_id", kCached}},
       "ACTIVE",
       "2017-12-25 06:30:25.387277+00:00",
       "2017-11-20T13:49:43Z"},
      {"cinder.volume",
       "RESOURCE",
       {{"vitrage_id", kVid},
        {"id", kId},
        {"vitrage_is_deleted", "false"},
        {"update_timestamp", kUpdate},
        {"size", "1"},
        {"vitrage_category", "\"RESOURCE\""},
        {"volume_type", "\"lvmdriver-1\""},
        {"vitrage_operational_state", "\"OK\""},
        {"state", kChanged},
        {"vitrage_type", "\"cinder.volume\""},
        {"vitrage_sample_timestamp", kSample},
        {"vitrage_aggregated_state", "\"IN-USE\""},
        {"vitrage_is_placeholder", "false"},
        {"vitrage_datasource_name", "\"cinder.volume\""},
        {"is_real_vitrage_id", "true"},
        {"attachments", "[\"f96f3054-41fc-4110-a182-336fbb2168fc\"]"},
        {"name", kName},
        {"vitrage_cached_id", kCached}},
       "in-use",
       "2017-12-25 09:43:49.905125+00:00",
       "2017-11-09T11:18:44.000000"},
      {"vitrage",
       "ALARM",
       {{"vitrage_id", kVid},
        {"id", kId},
        {"vitrage_is_deleted", "false"},
        {"update_timestamp", kUpdate},
        {"resource_id", "\"2507553d-1738-4711-938f-19a47181bfc1\""},
        {"severity", "\"critical\""},
        {"vitrage_category", "\"ALARM\""},
        {"state", "\"Active\""},
        {"vitrage_type", "\"vitrage\""},
        {"vitrage_sample_timestamp", kSample},
        {"vitrage_operational_severity", kChanged},
        {"vitrage_is_placeholder", "false"},
        {"vitrage_aggregated_severity", "\"CRITICAL\""},
        {"vitrage_resource_id", "\"2507553d-1738-4711-938f-19a47181bfc1\""},
        {"vitrage_resource_type", "\"nova.instance\""},
        {"is_real_vitrage_id", "true"},
        {"name", kName},
        {"vitrage_cached_id", kCached}},
       "CRITICAL",
       "2017-12-24 10:32:49.063574+00:00",
       "2017-12-24T10:32:49Z"},
      {"tripleo.controller",
       "RESOURCE",
       {{"vitrage_id", kVid},
        {"id", kId},
        {"name", kName},
        {"update_timestamp", kUpdate},
        {"vitrage_category", "\"RESOURCE\""},
        {"vitrage_operational_state", "\"OK\""},
        {"state", kChanged},
        {"vitrage_type", "\"tripleo.controller\""},
        {"vitrage_sample_timestamp", kSample},
        {"vitrage_aggregated_state", "\"ACTIVE\""},
        {"vitrage_is_placeholder", "false"},
        {"vitrage_is_deleted", "false"},
        {"vitrage_datasource_name", "\"static\""},
        {"is_real_vitrage_id", "true"},
        {"vitrage_cached_id", kCached}},
       "ACTIVE",
       "2017-12-25 09:33:05.073194+00:00",
       "2017-12-25 09:33:05.073194+00:00"},
  };
  return (*kInfo)[k];
}

std::string Uuid(uint64_t n) { return absl::StrFormat("11111111-1111-1111-1111-%012d", n); }

std::string Md5Hex(absl::string_view s) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(s.data(), s.size(), md, &len, EVP_md5(), nullptr);
  std::string out;
  for (unsigned int i = 0; i < len; ++i) absl::StrAppend(&out, absl::Hex(md[i], absl::kZeroPad2));
  return out;
}

// splitmix64: small, fast and the same everywhere
// (std::uniform_int_distribution is not specified bit for bit, so it could
// change the files between standard libraries).
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed) {}
  uint64_t Next() {
    uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  uint64_t Below(uint64_t n) { return Next() % n; }

 private:
  uint64_t s_;
};

}  // namespace

struct WorkloadGenerator::Model {
  struct Vertex {
    Kind kind;
    uint64_t number;  // the n of its ids
    std::string id;   // the entity id (props "id")
    std::string name;
    std::string cached_id;
  };
  struct Edge {
    uint32_t source, target;
    const char* label;
  };
  std::vector<Vertex> vertices;
  std::vector<Edge> edges;

  uint32_t Add(Kind kind, std::string name) {
    Vertex v;
    v.kind = kind;
    v.number = vertices.size() + 1;
    v.id = kind == kHost ? name : Uuid(2 * v.number - 1);
    const KindInfo& info = Info(kind);
    v.cached_id = Md5Hex(absl::StrCat(info.category, ":", info.type, ":", v.id));
    v.name = std::move(name);
    vertices.push_back(std::move(v));
    return static_cast<uint32_t>(vertices.size() - 1);
  }

  // Appends the vertex's properties as a JSON object. `changed` < 0 and
  // `time` null: as generated; else the value of $changed (an index into
  // the resource states or alarm severities) and the time of an event.
  void AppendProps(uint32_t slot, int changed, const char* time, std::string* out) const {
    const Vertex& v = vertices[slot];
    const KindInfo& info = Info(v.kind);
    out->push_back('{');
    bool first = true;
    for (const Field& f : info.fields) {
      absl::string_view value = f.value;
      if (value == kUpdateIfChanged && time == nullptr) continue;
      if (!first) out->push_back(',');
      first = false;
      absl::StrAppend(out, "\"", f.key, "\":");
      if (value[0] != '$') {
        out->append(value.data(), value.size());
        continue;
      }
      std::string text;
      if (value == kVid) {
        text = Uuid(2 * v.number);
      } else if (value == kId) {
        text = v.id;
      } else if (value == kName) {
        text = v.name;
      } else if (value == kCached) {
        text = v.cached_id;
      } else if (value == kChanged) {
        bool alarm = absl::string_view(info.category) == "ALARM";
        text = changed < 0 ? info.changed : (alarm ? kAlarmSeverities : kResourceStates)[changed];
      } else if (value == kSample) {
        text = time ? time : info.sample;
      } else {  // kUpdate, kUpdateIfChanged
        text = time ? time : info.update;
      }
      absl::StrAppend(out, "\"", text, "\"");
    }
    out->push_back('}');
  }
};

absl::StatusOr<GraphShape> StandardShape(absl::string_view size) {
  GraphShape s;
  s.size = std::string(size);
  if (size == "1k") {
    s.networks = 4, s.zones_per_cluster = 2, s.hosts_per_zone = 10;
  } else if (size == "10k") {
    s.networks = 20, s.zones_per_cluster = 4, s.hosts_per_zone = 49;
  } else if (size == "100k") {
    s.networks = 100, s.zones_per_cluster = 10, s.hosts_per_zone = 196;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("workload size \"", size, "\": not one of 1k, 10k, 100k"));
  }
  return s;
}

const std::vector<WorkloadSpec>& StandardWorkloads() {
  static const auto* kSpecs =
      new std::vector<WorkloadSpec>{{"1k", {1000}}, {"10k", {1000}}, {"100k", {1000, 10000}}};
  return *kSpecs;
}

WorkloadGenerator::WorkloadGenerator(const GraphShape& shape) : shape_(shape), model_(new Model) {
  Model& m = *model_;
  const GraphShape& s = shape_;
  auto edge = [&m](uint32_t a, uint32_t b, const char* label) { m.edges.push_back({a, b, label}); };
  uint32_t cluster = m.Add(kCluster, "openstack.cluster-0");
  std::vector<uint32_t> networks, hosts, instances;
  for (int i = 0; i < s.networks; ++i) {
    networks.push_back(m.Add(kNetwork, absl::StrCat("neutron.network-", i)));
  }
  std::vector<uint32_t> zones;
  for (int z = 0; z < s.zones_per_cluster; ++z) {
    zones.push_back(m.Add(kZone, absl::StrCat("nova.zone-", z, "-openstack.cluster-0")));
  }
  for (int z = 0; z < s.zones_per_cluster; ++z) {
    for (int h = 0; h < s.hosts_per_zone; ++h) {
      hosts.push_back(m.Add(kHost, absl::StrCat("nova.host-", h, "-", m.vertices[zones[z]].name)));
    }
  }
  std::vector<std::pair<uint32_t, uint32_t>> host_alarms;
  for (uint32_t h : hosts) {
    for (int a = 0; a < s.zabbix_alarms_per_host; ++a) {
      host_alarms.push_back(
          {m.Add(kZabbix, absl::StrCat("zabbix-", a, "-", m.vertices[h].name)), h});
    }
  }
  std::vector<uint32_t> instance_host;
  for (uint32_t h : hosts) {
    for (int i = 0; i < s.instances_per_host; ++i) {
      instances.push_back(
          m.Add(kInstance, absl::StrCat("nova.instance-", i, "-", m.vertices[h].name)));
      instance_host.push_back(h);
    }
  }
  std::vector<std::pair<uint32_t, uint32_t>> ports, volumes,
      vitrage_alarms;  // (vertex, instance)
  for (uint32_t i : instances) {
    for (int p = 0; p < s.ports_per_instance; ++p) {
      ports.push_back({m.Add(kPort, absl::StrCat("neutron.port-", p, "-", m.vertices[i].name)), i});
    }
  }
  for (uint32_t i : instances) {
    for (int v = 0; v < s.volumes_per_instance; ++v) {
      volumes.push_back(
          {m.Add(kVolume, absl::StrCat("cinder.volume-", v, "-", m.vertices[i].name)), i});
    }
  }
  for (uint32_t i : instances) {
    for (int a = 0; a < s.vitrage_alarms_per_instance; ++a) {
      vitrage_alarms.push_back(
          {m.Add(kVitrageAlarm, absl::StrCat("vitrage-", a, "-", m.vertices[i].name)), i});
    }
  }
  std::vector<uint32_t> controllers;
  for (int c = 0; c < s.tripleo_controllers; ++c) {
    controllers.push_back(m.Add(kController, absl::StrCat("tripleo.controller-", c)));
  }
  std::vector<std::pair<uint32_t, uint32_t>> controller_alarms;
  for (uint32_t c : controllers) {
    for (int a = 0; a < s.zabbix_alarms_per_controller; ++a) {
      controller_alarms.push_back(
          {m.Add(kZabbix, absl::StrCat("zabbix-", a, "-", m.vertices[c].name)), c});
    }
  }

  // Edges, grouped by kind as upstream's file has them.
  for (uint32_t z : zones) edge(cluster, z, "contains");
  for (size_t p = 0; p < ports.size(); ++p) {
    if (!networks.empty()) edge(networks[p % networks.size()], ports[p].first, "contains");
  }
  for (size_t z = 0; z < zones.size(); ++z) {
    for (int h = 0; h < s.hosts_per_zone; ++h)
      edge(zones[z], hosts[z * s.hosts_per_zone + h], "contains");
  }
  for (size_t i = 0; i < instances.size(); ++i) edge(instance_host[i], instances[i], "contains");
  for (auto [a, h] : host_alarms) edge(a, h, "on");
  for (auto [p, i] : ports) edge(p, i, "attached");
  for (auto [v, i] : volumes) edge(v, i, "attached");
  for (auto [a, i] : vitrage_alarms) edge(a, i, "on");
  for (auto [a, c] : controller_alarms) edge(a, c, "on");
}

WorkloadGenerator::~WorkloadGenerator() { delete model_; }

size_t WorkloadGenerator::vertex_count() const { return model_->vertices.size(); }
size_t WorkloadGenerator::edge_count() const { return model_->edges.size(); }

void WorkloadGenerator::GraphLines(const LineSink& sink) const {
  const Model& m = *model_;
  std::string line;
  for (uint32_t v = 0; v < m.vertices.size(); ++v) {
    line.clear();
    absl::StrAppend(&line, "{\"id\":\"", Uuid(2 * m.vertices[v].number), "\",\"props\":");
    m.AppendProps(v, -1, nullptr, &line);
    line.push_back('}');
    sink(line);
  }
  for (const Model::Edge& e : m.edges) {
    line.clear();
    absl::StrAppend(&line, "{\"source\":\"", Uuid(2 * m.vertices[e.source].number),
                    "\",\"target\":\"", Uuid(2 * m.vertices[e.target].number), "\",\"label\":\"",
                    e.label, "\",\"props\":{\"vitrage_is_deleted\":false,\"update_timestamp\":\"",
                    kEdgeTime, "\",\"relationship_type\":\"", e.label, "\"}}");
    sink(line);
  }
}

void WorkloadGenerator::TailLines(int count, const LineSink& sink) const {
  const Model& m = *model_;
  if (m.vertices.empty()) return;
  Rng rng(0x5eed0000ull + m.vertices.size() * 1000003ull + static_cast<uint64_t>(count));
  std::string line;
  for (int n = 1; n <= count; ++n) {
    uint32_t v = static_cast<uint32_t>(rng.Below(m.vertices.size()));
    int changed = static_cast<int>(rng.Below(4));
    line.clear();
    absl::StrAppend(&line, "{\"event_id\":", n, ",\"is_vertex\":true,\"payload\":");
    m.AppendProps(v, changed, kTailTime, &line);
    line.pop_back();  // the payload's '}': vertex_id goes last
    absl::StrAppend(&line, ",\"vertex_id\":\"", Uuid(2 * m.vertices[v].number), "\"}}");
    sink(line);
  }
}

namespace {

// Writes lines into a .zst file under a temporary name; Finish() publishes it.
class ZstdFileWriter {
 public:
  static absl::StatusOr<std::unique_ptr<ZstdFileWriter>> Open(const std::string& path) {
    std::string tmp = path + ".tmp";
    FILE* f = fopen(tmp.c_str(), "wb");
    if (f == nullptr) return absl::UnavailableError(absl::StrCat(tmp, ": ", strerror(errno)));
    return std::unique_ptr<ZstdFileWriter>(new ZstdFileWriter(path, std::move(tmp), f));
  }
  ~ZstdFileWriter() {
    if (f_ != nullptr) {
      fclose(f_);
      remove(tmp_.c_str());
    }
    ZSTD_freeCCtx(cctx_);
  }

  void Write(absl::string_view line) {
    in_.append(line.data(), line.size());
    in_.push_back('\n');
    raw_bytes_ += line.size() + 1;
    if (in_.size() >= (1u << 20)) Compress(ZSTD_e_continue);
  }

  absl::Status Finish() {
    Compress(ZSTD_e_end);
    bool ok = ok_ && fclose(f_) == 0;
    f_ = nullptr;
    if (!ok) {
      remove(tmp_.c_str());
      return absl::DataLossError(
          absl::StrCat(tmp_, ": ", error_.empty() ? "write failed" : error_));
    }
    if (rename(tmp_.c_str(), path_.c_str()) != 0) {
      return absl::UnavailableError(
          absl::StrCat("rename ", tmp_, " -> ", path_, ": ", strerror(errno)));
    }
    return absl::OkStatus();
  }

  uint64_t raw_bytes() const { return raw_bytes_; }
  uint64_t zst_bytes() const { return zst_bytes_; }

 private:
  ZstdFileWriter(std::string path, std::string tmp, FILE* f)
      : path_(std::move(path)), tmp_(std::move(tmp)), f_(f), cctx_(ZSTD_createCCtx()) {
    ZSTD_CCtx_setParameter(cctx_, ZSTD_c_compressionLevel, 6);
    out_.resize(ZSTD_CStreamOutSize());
  }

  void Compress(ZSTD_EndDirective mode) {
    ZSTD_inBuffer in{in_.data(), in_.size(), 0};
    size_t remaining;
    do {
      ZSTD_outBuffer out{out_.data(), out_.size(), 0};
      remaining = ZSTD_compressStream2(cctx_, &out, &in, mode);
      if (ZSTD_isError(remaining)) {
        ok_ = false;
        error_ = absl::StrCat("zstd: ", ZSTD_getErrorName(remaining));
        break;
      }
      ok_ &= fwrite(out_.data(), 1, out.pos, f_) == out.pos;
      zst_bytes_ += out.pos;
    } while (mode == ZSTD_e_end ? remaining != 0 : in.pos < in.size);
    in_.clear();
  }

  std::string path_, tmp_;
  FILE* f_;
  ZSTD_CCtx* cctx_;
  std::string in_, out_;
  uint64_t raw_bytes_ = 0, zst_bytes_ = 0;
  bool ok_ = true;
  std::string error_;
};

absl::Status WriteText(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  FILE* f = fopen(tmp.c_str(), "wb");
  if (f == nullptr) return absl::UnavailableError(absl::StrCat(tmp, ": ", strerror(errno)));
  bool ok = fwrite(text.data(), 1, text.size(), f) == text.size();
  ok &= fclose(f) == 0;
  if (!ok || rename(tmp.c_str(), path.c_str()) != 0) {
    remove(tmp.c_str());
    return absl::DataLossError(absl::StrCat(path, ": write failed"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<WrittenWorkload> WriteWorkload(const GraphShape& shape,
                                              const std::vector<int>& tails,
                                              const std::string& dir) {
  WorkloadGenerator gen(shape);
  WrittenWorkload out;
  graph::Graph g;
  g.Reserve(gen.vertex_count(), gen.edge_count());
  const std::string graph_name = absl::StrCat(dir, "/graph_", shape.size, ".jsonl.zst");
  ASSIGN_OR_RETURN(auto writer, ZstdFileWriter::Open(graph_name));
  absl::Status st;
  int64_t line_number = 0;
  gen.GraphLines([&](absl::string_view line) {
    ++line_number;
    writer->Write(line);
    if (!st.ok()) return;
    st = AddGraphLine(line, &g);
    if (!st.ok())
      st = absl::InternalError(absl::StrCat(graph_name, " line ", line_number, ": ", st.message()));
  });
  RETURN_IF_ERROR(st);
  RETURN_IF_ERROR(writer->Finish());
  out.graph_digest = graph::Digest(g);
  out.vertices = g.vertex_count();
  out.edges = g.edge_count();

  nlohmann::ordered_json meta;
  meta["size"] = shape.size;
  meta["generator"] = "vitrage::workload::WorkloadGenerator";
  meta["params"] = {{"networks", shape.networks},
                    {"zones_per_cluster", shape.zones_per_cluster},
                    {"hosts_per_zone", shape.hosts_per_zone},
                    {"zabbix_alarms_per_host", shape.zabbix_alarms_per_host},
                    {"instances_per_host", shape.instances_per_host},
                    {"ports_per_instance", shape.ports_per_instance},
                    {"volumes_per_instance", shape.volumes_per_instance},
                    {"vitrage_alarms_per_instance", shape.vitrage_alarms_per_instance},
                    {"tripleo_controllers", shape.tripleo_controllers},
                    {"zabbix_alarms_per_controller", shape.zabbix_alarms_per_controller}};
  meta["vertices"] = out.vertices;
  meta["edges"] = out.edges;
  meta["jsonl_raw_bytes"] = writer->raw_bytes();
  meta["jsonl_zst_bytes"] = writer->zst_bytes();
  meta["digest"] = out.graph_digest;
  RETURN_IF_ERROR(
      WriteText(absl::StrCat(dir, "/graph_", shape.size, ".meta.json"), meta.dump(1) + "\n"));

  for (int k : tails) {
    const std::string base = absl::StrCat(dir, "/events_", shape.size, "_", k);
    graph::Graph after = g;
    ASSIGN_OR_RETURN(auto tail, ZstdFileWriter::Open(base + ".jsonl.zst"));
    int64_t n = 0;
    gen.TailLines(k, [&](absl::string_view line) {
      ++n;
      tail->Write(line);
      if (!st.ok()) return;
      nlohmann::json e = nlohmann::json::parse(line.begin(), line.end(), nullptr, false);
      st = e.is_discarded() ? absl::InternalError("invalid JSON") : ApplyEvent(e, &after, nullptr);
      if (!st.ok()) st = absl::InternalError(absl::StrCat(base, " event ", n, ": ", st.message()));
    });
    RETURN_IF_ERROR(st);
    RETURN_IF_ERROR(tail->Finish());
    out.tail_digests.push_back(graph::Digest(after));
    nlohmann::ordered_json tmeta;
    tmeta["size"] = shape.size;
    tmeta["k"] = k;
    tmeta["events"] = n;
    tmeta["bytes"] = tail->zst_bytes();
    tmeta["final_graph_digest"] = out.tail_digests.back();
    RETURN_IF_ERROR(WriteText(base + ".meta.json", tmeta.dump(1) + "\n"));
  }
  return out;
}

}  // namespace vitrage::workload
