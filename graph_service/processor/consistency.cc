#include "graph_service/processor/consistency.h"

#include <algorithm>

namespace vitrage::processor {

using graph::Graph;
using graph::Properties;
using graph::Slot;
using graph::Value;
namespace keys = graph::keys;

namespace {

std::string SampleDate(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

// Python's str() of a naive UTC datetime (upstream uses utcnow()).
std::string PyStr(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%E6S", t, absl::UTCTimeZone());
}

bool OlderThan(const Properties& p, const std::string& cutoff) {
  const Value* ts = p.Find(keys::kVitrageSampleTimestamp);
  return ts != nullptr && ts->is_string() && ts->string_value() < cutoff;
}

// Vertices in id order, so the events come out in a stable order.
std::vector<Slot> Ordered(const Graph& g) { return g.VerticesById(); }

}  // namespace

Event ConsistencyEvent(const Graph& g, Slot v, absl::string_view action, absl::Time now) {
  const Properties& p = g.VertexProps(v);
  Event ev;
  auto put = [&](graph::KeyId k, Value val) { ev.fields.Set(k, std::move(val)); };
  put(ekeys::kEntityType, Value::String("consistency", true));
  put(ekeys::kDatasourceAction, Value::String("update", true));
  put(ekeys::kSampleDate, Value::String(SampleDate(now), true));
  put(ekeys::kEventType, Value::String(action, true));
  put(keys::kVitrageId, Value::String(g.VertexId(v)));
  for (graph::KeyId k : {keys::kId, keys::kVitrageType, keys::kVitrageCategory}) {
    const Value* x = p.Find(k);
    if (x != nullptr) put(k, *x);
  }
  put(keys::kIsRealVitrageId, Value::Bool(true));
  return ev;
}

std::vector<Event> PeriodicConsistencyEvents(const Graph& g, absl::Time now,
                                             const ConsistencyOptions& options) {
  std::vector<Event> out;
  const std::string deleted_cutoff = PyStr(now - options.min_time_to_delete);
  const std::string stale_cutoff = PyStr(now - 2 * options.snapshots_interval);
  std::vector<Slot> vertices = Ordered(g);
  for (Slot v : vertices) {
    const Properties& p = g.VertexProps(v);
    if (p.GetString(keys::kVitrageType) == "openstack.cluster") continue;
    if (p.GetBool(keys::kVitrageIsDeleted) && OlderThan(p, deleted_cutoff)) {
      out.push_back(ConsistencyEvent(g, v, "remove_deleted_entity", now));
    }
  }
  for (Slot v : vertices) {
    const Properties& p = g.VertexProps(v);
    if (p.GetString(keys::kVitrageType) == "openstack.cluster") continue;
    if (p.GetBool(keys::kVitrageIsDeleted) || !OlderThan(p, stale_cutoff)) continue;
    absl::string_view ds = p.GetString(keys::kVitrageDatasourceName);
    const auto& keep = options.keep_stale_datasources;
    bool deletable = p.GetBool(keys::kVitrageIsPlaceholder) ||
                     (!ds.empty() && std::find(keep.begin(), keep.end(), ds) == keep.end());
    if (deletable) out.push_back(ConsistencyEvent(g, v, "delete_entity", now));
  }
  return out;
}

std::vector<Event> OutdatedEntityEvents(const Graph& g, absl::string_view datasource,
                                        absl::Time get_all_start, absl::Time now) {
  std::vector<Event> out;
  const std::string cutoff = SampleDate(get_all_start);
  for (Slot v : Ordered(g)) {
    const Properties& p = g.VertexProps(v);
    if (p.GetString(keys::kVitrageDatasourceName) != datasource) continue;
    if (p.GetBool(keys::kVitrageIsDeleted) || !OlderThan(p, cutoff)) continue;
    out.push_back(ConsistencyEvent(g, v, "delete_entity", now));
  }
  return out;
}

}  // namespace vitrage::processor
