#include "graph_service/processor/processor.h"

#include <array>
#include <cstring>
#include <memory>
#include <random>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/status_macros.h"
#include "glog/logging.h"
#include "graph_service/graph/proto_convert.h"
#include "graph_service/processor/passthrough_transformer.h"

namespace vitrage::processor {

using graph::Graph;
using graph::KeyId;
using graph::kNoSlot;
using graph::Properties;
using graph::Slot;
using graph::Value;
namespace keys = graph::keys;

namespace {

const KeyId kAggregatedSeverity = graph::InternKey("vitrage_aggregated_severity");
const KeyId kOperationalSeverity = graph::InternKey("vitrage_operational_severity");
const KeyId kResourceId = graph::InternKey("vitrage_resource_id");
const KeyId kResourceType = graph::InternKey("vitrage_resource_type");
const KeyId kResourceProjectId = graph::InternKey("vitrage_resource_project_id");
const KeyId kProjectId = graph::InternKey("project_id");
const KeyId kOps = graph::InternKey("ops");
constexpr absl::string_view kResource = "RESOURCE";
constexpr absl::string_view kAlarm = "ALARM";
constexpr absl::string_view kNA = "N/A";

std::string FormatUuid4(uint64_t hi, uint64_t lo) {
  hi = (hi & ~uint64_t{0xF000}) | 0x4000;                      // version 4
  lo = (lo & ~(uint64_t{0xC} << 60)) | (uint64_t{0x8} << 60);  // variant
  return absl::StrFormat("%08x-%04x-%04x-%04x-%012x", hi >> 32, (hi >> 16) & 0xFFFF, hi & 0xFFFF,
                         lo >> 48, lo & 0xFFFFFFFFFFFFull);
}

std::string FormatNow(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%E6S+00:00", t, absl::UTCTimeZone());
}

// At most how many keys the processor adds to a transformer's vertex
// properties (identity, datasource name, aggregated states, flags).
constexpr size_t kAddedKeys = 8;

bool IsDeleted(const Properties& p) { return p.GetBool(keys::kVitrageIsDeleted); }
bool IsPlaceholder(const Properties& p) { return p.GetBool(keys::kVitrageIsPlaceholder); }

// True when `p` is exactly EdgeProps(label) (no allocation).
bool IsFreshEdge(const Properties& p, const std::string& label) {
  if (p.size() != 2) return false;
  const Value* rel = p.Find(keys::kRelationshipType);
  const Value* del = p.Find(keys::kVitrageIsDeleted);
  return rel != nullptr && del != nullptr && rel->is_string() && rel->string_value() == label &&
         del->kind() == Value::Kind::kBool && !del->bool_value();
}

// A pass-through op's properties as a Properties (a copy sharing values).
Properties PropertiesOf(const RawOp& op) {
  // (The same members as the converted map value: last duplicate wins.)
  if (op.proto_props != nullptr) return graph::PropertiesFromProto(op.proto_props->entries());
  Properties p;
  absl::Span<const graph::MapEntry> items = op.prop_items();
  p.Reserve(items.size());
  for (const auto& e : items) p.AppendUnsorted(e.first, e.second);
  return p;  // already sorted without duplicates
}

Properties EdgeProps(const std::string& label) {
  Properties p;
  p.Set(keys::kRelationshipType, Value::StringFor(keys::kRelationshipType, label));
  p.Set(keys::kVitrageIsDeleted, Value::Bool(false));
  return p;
}

}  // namespace

IdGenerator RandomUuidGenerator() {
  auto rng = std::make_shared<std::mt19937_64>(std::random_device{}() ^
                                               (uint64_t{std::random_device{}()} << 32));
  return [rng] { return FormatUuid4((*rng)(), (*rng)()); };
}

IdGenerator SeededUuidGenerator(uint64_t seed) {
  auto rng = std::make_shared<std::mt19937_64>(seed);
  return [rng] { return FormatUuid4((*rng)(), (*rng)()); };
}

IdGenerator ConformanceIdGenerator() {
  auto n = std::make_shared<uint64_t>(0);
  return [n] { return absl::StrFormat("00000000-0000-4000-8000-%012x", ++*n); };
}

Clock WallClock() {
  return [](const Event&) { return FormatNow(absl::Now()); };
}

namespace {

int Digits(absl::string_view s, size_t pos, size_t n) {
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

// "YYYY-MM-DDTHH:MM:SSZ" + 0.5 s as FormatNow writes it, without parsing
// into a time: half a second added to a whole second never carries. False
// (the caller parses) unless every field is in range.
bool HalfSecondAfter(absl::string_view in, std::string* out) {
  if (in.size() != 20 || in[4] != '-' || in[7] != '-' || in[10] != 'T' || in[13] != ':' ||
      in[16] != ':' || in[19] != 'Z') {
    return false;
  }
  const int year = Digits(in, 0, 4), month = Digits(in, 5, 2), day = Digits(in, 8, 2);
  const int hour = Digits(in, 11, 2), minute = Digits(in, 14, 2), second = Digits(in, 17, 2);
  if (year < 1 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 || minute < 0 ||
      minute > 59 || second < 0 || second > 59) {
    return false;
  }
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (day > kDays[month - 1] + (month == 2 && leap ? 1 : 0)) return false;
  out->assign(in.data(), 10);
  out->push_back(' ');
  out->append(in.data() + 11, 8);
  out->append(".500000+00:00");
  return true;
}

}  // namespace

Clock SampleDatePlusHalfSecondClock() {
  return [](const Event& ev) {
    // Consecutive events mostly share a sample date: remember the last one.
    thread_local std::string last_in, last_out;
    absl::string_view in = ev.GetString(ekeys::kSampleDate);
    if (!in.empty() && in == last_in) return last_out;
    if (HalfSecondAfter(in, &last_out)) {
      last_in.assign(in.data(), in.size());
      return last_out;
    }
    absl::Time t;
    std::string err;
    if (!absl::ParseTime("%Y-%m-%dT%H:%M:%SZ", std::string(in), absl::UTCTimeZone(), &t, &err)) {
      t = absl::Now();
      last_in.clear();
      return FormatNow(t + absl::Milliseconds(500));
    }
    last_in.assign(in.data(), in.size());
    last_out = FormatNow(t + absl::Milliseconds(500));
    return last_out;
  };
}

Processor::Processor(Graph* graph, ProcessorOptions options)
    : graph_(graph), options_(std::move(options)) {
  if (!options_.id_generator) options_.id_generator = RandomUuidGenerator();
  if (!options_.clock) options_.clock = WallClock();
}

absl::Status Processor::Process(const Event& event, v1::GraphDelta* delta) {
  absl::string_view type = event.GetString(ekeys::kEntityType);
  if (type.empty()) {
    return absl::InvalidArgumentError("event field \"vitrage_entity_type\" is missing");
  }
  const Transformer* t = options_.transformers.Find(type);
  if (t == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("event field \"vitrage_entity_type\": no transformer for \"", type, "\""));
  }
  Entity ent;
  RETURN_IF_ERROR(t->Transform(event, &ent));
  ++stats_.processed;
  if (ent.action == GraphAction::kRawOps) return ApplyRawOps(ent, delta);
  return ProcessEntity(event, &ent, delta);
}

absl::Status Processor::Process(const ProtoEvent& event, v1::GraphDelta* delta) {
  if (!event.lazy_ops) return Process(event.event, delta);
  absl::string_view type = event.event.GetString(ekeys::kEntityType);
  const Transformer* t = options_.transformers.Find(type);
  const auto* pt = dynamic_cast<const PassthroughTransformer*>(t);
  if (pt == nullptr) {
    // Not the pass-through transformer under this registry: convert the
    // ops too and take the general path.
    Event full = event.event;
    if (event.ops != nullptr) full.fields.Set(kOps, graph::ValueFromProto(*event.ops, kOps));
    return Process(full, delta);
  }
  Entity ent;
  RETURN_IF_ERROR(pt->TransformOps(event.ops, &ent));
  ++stats_.processed;
  return ApplyRawOps(ent, delta);
}

const std::string* Processor::Prefetch(const v1::MapValue& fields) const {
  // A few ops are enough: a large event (a get_all's) would only evict its
  // own first lines again.
  constexpr int kMaxOps = 16;
  const std::string* first = nullptr;
  for (const v1::Property& f : fields.entries()) {
    if (f.key() != "ops" || f.value().kind_case() != v1::Value::kListValue) continue;
    int n = 0;
    for (const v1::Value& op : f.value().list_value().values()) {
      if (op.kind_case() != v1::Value::kMapValue || ++n > kMaxOps) break;
      const v1::MapValue& m = op.map_value();
      bool set_vertex = false;
      const std::string* id = nullptr;
      for (const v1::Property& e : m.entries()) {
        if (e.value().kind_case() != v1::Value::kStringValue) continue;
        if (e.key() == "op") set_vertex = e.value().string_value() == "set_vertex";
        if (e.key() == "id") id = &e.value().string_value();
      }
      if (set_vertex && id != nullptr) {
        graph_->PrefetchVertex(*id);
        if (first == nullptr) first = id;
      }
    }
  }
  return first;
}

// ------------------------------------------------------------ helpers

std::string Processor::FindId(const NaturalKey& key, bool allow_deleted) {
  // Alarms have no `id` property: the graph indexes them by cached id.
  Value cached;
  if (key.category == kAlarm) cached = CachedId(key);
  auto slots = graph_->FindByNaturalKey(key.category, key.type,
                                        key.category == kAlarm ? cached.AsString() : key.id);
  Slot deleted = kNoSlot;
  for (Slot s : slots) {
    if (!IsDeleted(graph_->VertexProps(s))) return std::string(graph_->VertexId(s));
    if (deleted == kNoSlot || graph_->VertexId(s) > graph_->VertexId(deleted)) deleted = s;
  }
  if (allow_deleted && deleted != kNoSlot) return std::string(graph_->VertexId(deleted));
  return std::string();
}

std::string Processor::MintId(const NaturalKey& key) {
  std::string id = options_.id_generator();
  while (graph_->HasVertex(id)) id = options_.id_generator();
  if (options_.on_mint) options_.on_mint(id, key.ToString());
  return id;
}

std::string Processor::ResolveId(const NaturalKey& key) {
  Value cid = CachedId(key);
  auto it = ids_.find(cid.AsString());
  if (it != ids_.end()) return it->second;
  std::string id = FindId(key, false);
  if (id.empty()) id = MintId(key);
  if (ids_.size() >= kMaxIds) ids_.clear();
  ids_.emplace(std::string(cid.AsString()), id);
  return id;
}

void Processor::ForgetId(const NaturalKey& key, const std::string& id) {
  auto it = ids_.find(CachedId(key).AsString());
  if (it != ids_.end() && it->second == id) ids_.erase(it);
}

void Processor::ForgetIdOfVertex(const std::string& id) {
  Slot s = graph_->FindVertex(id);
  if (s == kNoSlot) {
    // Upstream scans its cache by value (a removed placeholder's id; rare).
    for (auto it = ids_.begin(); it != ids_.end(); ++it) {
      if (it->second == id) {
        ids_.erase(it);
        return;
      }
    }
    return;
  }
  auto it = ids_.find(graph_->VertexProps(s).GetString(keys::kVitrageCachedId));
  if (it != ids_.end() && it->second == id) ids_.erase(it);
}

void Processor::AddIdentity(const NaturalKey& key, const std::string& id, Properties* props,
                            Slot s) {
  // Reuse the stored vitrage_id (no new string) when the vertex exists.
  const Value* old_id = nullptr;
  if (s == kUnknownSlot) s = graph_->FindVertex(id);
  if (s != kNoSlot) old_id = graph_->VertexProps(s).Find(keys::kVitrageId);
  if (old_id != nullptr && old_id->AsString() == id) {
    props->Set(keys::kVitrageId, *old_id);
  } else {
    props->Set(keys::kVitrageId, Value::String(id));
  }
  props->Set(keys::kVitrageCachedId, CachedId(key));
  props->Set(keys::kIsRealVitrageId, Value::Bool(true));
}

Value Processor::CachedId(const NaturalKey& key) {
  if (key.cached_id.is_string()) return key.cached_id;
  key.cached_id = CachedIdOf(key);
  return key.cached_id;
}

Value Processor::CachedIdOf(const NaturalKey& key) {
  thread_local std::string k;  // reused: no allocation on a hit
  k.clear();
  k.append(key.category).append(1, ':').append(key.type).append(1, ':').append(key.id);
  auto it = cached_ids_.find(k);
  if (it != cached_ids_.end()) return it->second;
  // Bounded: a cloud's entity count; cleared rather than evicted one by one.
  if (cached_ids_.size() >= kMaxCachedIds) cached_ids_.clear();
  Value v = Value::String(Md5Hex(k));
  cached_ids_.emplace(k, v);
  return v;
}

void Processor::Aggregate(Properties* props, Slot existing) {
  const Properties* old = existing == kNoSlot ? nullptr : &graph_->VertexProps(existing);
  auto get = [&](KeyId k) -> const Value* {
    const Value* v = props->Find(k);
    if (v == nullptr && old != nullptr) v = old->Find(k);
    return v;
  };
  const Value* cat = get(keys::kVitrageCategory);
  const Value* type = get(keys::kVitrageType);
  absl::string_view category = cat ? cat->AsString() : kResource;
  absl::string_view vtype = type ? type->AsString() : absl::string_view();
  bool alarm = category == kAlarm;
  const Value* value = get(alarm ? keys::kSeverity : keys::kState);
  Value aggregated;  // null when there is no value
  Value operational = Value::String(kNA);
  if (value != nullptr && value->is_string() && !value->string_value().empty()) {
    // Memoized per (type, value): few distinct pairs, one lookup each.
    thread_local std::string k;
    k.clear();
    k.append(vtype.data(), vtype.size()).append(1, '\0');
    k.append(value->string_value().data(), value->string_value().size());
    auto it = aggregates_.find(k);
    if (it == aggregates_.end()) {
      std::string upper = absl::AsciiStrToUpper(value->string_value());
      const StateTable::Entry* e = options_.states.Lookup(vtype, upper);
      if (aggregates_.size() >= kMaxCachedIds) aggregates_.clear();
      it = aggregates_
               .emplace(k, std::make_pair(Value::String(upper, true),
                                          e != nullptr ? Value::String(e->operational, true)
                                                       : Value::String(kNA)))
               .first;
    }
    aggregated = it->second.first;
    operational = it->second.second;
  }
  props->Set(alarm ? kAggregatedSeverity : keys::kVitrageAggregatedState, std::move(aggregated));
  props->Set(alarm ? kOperationalSeverity : keys::kVitrageOperationalState, std::move(operational));
}

bool Processor::CanUpdate(Slot existing, const Properties& props) const {
  if (existing == kNoSlot) return true;
  const Value* prev = graph_->VertexProps(existing).Find(keys::kVitrageSampleTimestamp);
  const Value* next = props.Find(keys::kVitrageSampleTimestamp);
  if (prev == nullptr || next == nullptr || !prev->is_string() || !next->is_string()) return true;
  return prev->string_value() <= next->string_value();
}

absl::Status Processor::UpsertVertex(const std::string& id, Properties props,
                                     bool keep_nulls_on_update, v1::GraphDelta* delta, Slot s) {
  if (s == kUnknownSlot) s = graph_->FindVertex(id);
  if (s == kNoSlot) return graph_->AddVertex(id, std::move(props), delta);
  bool has_null = false;
  if (!keep_nulls_on_update) {
    for (const auto& e : props) has_null |= e.second.is_null();
  }
  if (!has_null) {
    graph_->UpdateVertexAt(s, props.items(), {}, delta);
    return absl::OkStatus();
  }
  Properties set;
  std::vector<KeyId> remove;
  for (const auto& e : props) {
    if (e.second.is_null()) {
      remove.push_back(e.first);
    } else {
      set.AppendUnsorted(e.first, e.second);  // stays sorted
    }
  }
  graph_->UpdateVertexAt(s, set.items(), remove, delta);
  return absl::OkStatus();
}

absl::Status Processor::UpsertEdge(const std::string& s, const std::string& t,
                                   const std::string& label, const Properties& props,
                                   v1::GraphDelta* delta) {
  if (graph_->FindEdge(s, t, label) == kNoSlot) return graph_->AddEdge(s, t, label, props, delta);
  return graph_->UpdateEdge(s, t, label, props, {}, delta);
}

absl::Status Processor::MarkEdgeDeleted(Slot e, const std::string& now, v1::GraphDelta* delta) {
  Properties set;
  set.Set(keys::kVitrageIsDeleted, Value::Bool(true));
  set.Set(keys::kUpdateTimestamp, Value::String(now, true));
  return graph_->UpdateEdge(std::string(graph_->VertexId(graph_->EdgeSource(e))),
                            std::string(graph_->VertexId(graph_->EdgeTarget(e))),
                            std::string(graph_->EdgeLabel(e)), set, {}, delta);
}

absl::Status Processor::RemovePlaceholderIfOrphan(Slot v, v1::GraphDelta* delta) {
  if (!IsPlaceholder(graph_->VertexProps(v))) return absl::OkStatus();
  for (Slot e : graph_->OutEdges(v)) {
    if (!IsDeleted(graph_->EdgeProps(e))) return absl::OkStatus();
  }
  for (Slot e : graph_->InEdges(v)) {
    if (!IsDeleted(graph_->EdgeProps(e))) return absl::OkStatus();
  }
  return graph_->RemoveVertex(std::string(graph_->VertexId(v)), delta);
}

absl::Status Processor::ConnectNeighbors(const std::string& entity_id,
                                         std::vector<Neighbor>* neighbors,
                                         const std::vector<bool>& valid, v1::GraphDelta* delta) {
  // Upstream's _connect_neighbors: every neighbour vertex is refreshed
  // (when newer); only edges not already valid are written. Every
  // neighbour's resolved_id is set (ProcessEntity).
  for (size_t i = 0; i < neighbors->size(); ++i) {
    Neighbor& n = (*neighbors)[i];
    const std::string& nid = n.resolved_id;
    Slot ns = graph_->FindVertex(nid);
    if (ns != kNoSlot && IsDeleted(graph_->VertexProps(ns))) continue;
    if (CanUpdate(ns, n.vertex.props)) {
      // Room for what AddIdentity and Aggregate add (no regrowth).
      // (Taken, not copied: a neighbour's props are not read again.)
      Properties props = std::move(n.vertex.props);
      props.Reserve(props.size() + kAddedKeys);
      AddIdentity(n.vertex.key, nid, &props, ns);
      Aggregate(&props, ns);
      // update_entity_graph_vertex: a placeholder naming a real vertex
      // overwrites it as a real one; naming a placeholder, it only adds the
      // keys the vertex lacks (overwrite off; a null value still removes).
      bool overwrite = true;
      if (ns != kNoSlot && n.vertex.placeholder) {
        const Properties& old = graph_->VertexProps(ns);
        if (!IsPlaceholder(old)) {
          props.Set(keys::kVitrageIsPlaceholder, Value::Bool(false));
          props.Set(keys::kVitrageIsDeleted, Value::Bool(IsDeleted(old)));
        } else {
          overwrite = false;
        }
      }
      if (!overwrite) {
        const Properties& old = graph_->VertexProps(ns);
        Properties added;
        for (const auto& e : props) {
          if (e.second.is_null() || old.Find(e.first) == nullptr) {
            added.AppendUnsorted(e.first, e.second);  // stays sorted
          }
        }
        props = std::move(added);
      }
      if (ns == kNoSlot && n.vertex.placeholder) ++stats_.placeholders_created;
      RETURN_IF_ERROR(UpsertVertex(nid, std::move(props), false, delta, ns));
    }
    if (!valid[i]) {
      const std::string& s = n.entity_is_source ? entity_id : nid;
      const std::string& t = n.entity_is_source ? nid : entity_id;
      RETURN_IF_ERROR(UpsertEdge(s, t, n.label, EdgeProps(n.label), delta));
    }
  }
  return absl::OkStatus();
}

absl::Status Processor::UpdateNeighbors(const std::string& entity_id,
                                        std::vector<Neighbor>* neighbors, const std::string& now,
                                        v1::GraphDelta* delta) {
  std::vector<bool> valid(neighbors->size(), false);
  Slot v = graph_->FindVertex(entity_id);
  if (v != kNoSlot && !neighbors->empty()) {
    // (On the stack for the usual few edges.)
    absl::InlinedVector<Slot, 16> edges(graph_->OutEdges(v).begin(), graph_->OutEdges(v).end());
    for (Slot e : graph_->InEdges(v)) {
      if (graph_->EdgeSource(e) != v) edges.push_back(e);
    }
    absl::InlinedVector<Slot, 8> obsolete;
    for (Slot e : edges) {
      Slot other = graph_->EdgeSource(e) == v ? graph_->EdgeTarget(e) : graph_->EdgeSource(e);
      const Properties& op = graph_->VertexProps(other);
      absl::string_view ocat = op.GetString(keys::kVitrageCategory);
      absl::string_view otype = op.GetString(keys::kVitrageType);
      bool type_named = false;
      for (const Neighbor& n : *neighbors) {
        if (n.vertex.key.category == ocat && n.vertex.key.type == otype) {
          type_named = true;
          break;
        }
      }
      if (!type_named) continue;
      // Edge.__eq__: the same ends, label and props as the event's edge.
      bool found = false;
      for (size_t i = 0; i < neighbors->size(); ++i) {
        const Neighbor& n = (*neighbors)[i];
        if (graph_->VertexId(other) != n.resolved_id) continue;
        bool dir_ok = n.entity_is_source
                          ? graph_->EdgeSource(e) == v && graph_->EdgeTarget(e) == other
                          : graph_->EdgeSource(e) == other && graph_->EdgeTarget(e) == v;
        if (dir_ok && graph_->EdgeLabel(e) == n.label &&
            IsFreshEdge(graph_->EdgeProps(e), n.label)) {
          found = true;
          valid[i] = true;
        }
      }
      if (!found) obsolete.push_back(e);
    }
    // By ends (a removed placeholder takes its other edges along).
    std::vector<std::array<std::string, 3>> ends;
    for (Slot e : obsolete) {
      ends.push_back({std::string(graph_->VertexId(graph_->EdgeSource(e))),
                      std::string(graph_->VertexId(graph_->EdgeTarget(e))),
                      std::string(graph_->EdgeLabel(e))});
    }
    for (const auto& [src, tgt, label] : ends) {
      Slot e = graph_->FindEdge(src, tgt, label);
      if (e == kNoSlot) continue;
      const std::string& other_id = src == entity_id ? tgt : src;
      // (mark_deleted leaves an already deleted edge as it is: it keeps the
      // time it was deleted at.)
      if (!IsDeleted(graph_->EdgeProps(e))) RETURN_IF_ERROR(MarkEdgeDeleted(e, now, delta));
      Slot other = graph_->FindVertex(other_id);
      if (other != kNoSlot) RETURN_IF_ERROR(RemovePlaceholderIfOrphan(other, delta));
    }
  }
  return ConnectNeighbors(entity_id, neighbors, valid, delta);
}

// ------------------------------------------------------------ actions

void Processor::AddResourceDetails(Properties* props, const std::vector<Neighbor>& neighbors) {
  // Upstream's _add_resource_details_to_alarm: an alarm names the vertex
  // of its (last) resource neighbour, and that resource's project.
  const Neighbor* resource = nullptr;
  for (const Neighbor& n : neighbors) {
    if (n.vertex.key.category == kResource) resource = &n;
  }
  if (resource == nullptr) return;
  props->Set(kResourceId, Value::String(resource->resolved_id));
  props->Set(kResourceType, Value::StringFor(keys::kVitrageType, resource->vertex.key.type));
  const Value* project = resource->vertex.props.Find(kProjectId);
  if (project == nullptr || !project->is_string() || project->string_value().empty()) {
    Slot rs = graph_->FindVertex(resource->resolved_id);
    project = rs == kNoSlot ? nullptr : graph_->VertexProps(rs).Find(kProjectId);
  }
  if (project != nullptr && project->is_string() && !project->string_value().empty()) {
    props->Set(kResourceProjectId, *project);
  }
}

absl::Status Processor::ProcessEntity(const Event& ev, Entity* ent, v1::GraphDelta* delta) {
  if (ent->action == GraphAction::kNone) return absl::OkStatus();
  const std::string now = options_.clock(ev);
  absl::string_view ds_name = ev.GetString(ekeys::kDatasourceName);
  EntityVertex& ev_vertex = ent->vertex;
  // (Taken, not copied: the entity's props are not read again.)
  Properties props = std::move(ev_vertex.props);
  props.Reserve(props.size() + kAddedKeys);
  auto set_ds_name = [&] {
    if (!ds_name.empty()) {
      props.Set(keys::kVitrageDatasourceName,
                Value::StringFor(keys::kVitrageDatasourceName, ds_name));
    }
  };

  // Upstream's transform: the entity's id, then its neighbours', each from
  // the id cache or minted (also when the action is then dropped). A
  // consistency event names its vertex.
  std::string id = ent->vitrage_id;
  if (id.empty() && ent->action != GraphAction::kRemoveDeletedEntity) {
    id = ResolveId(ev_vertex.key);
  }
  for (Neighbor& n : ent->neighbors) n.resolved_id = ResolveId(n.vertex.key);
  const bool alarm = ev_vertex.key.category == kAlarm;

  switch (ent->action) {
    case GraphAction::kCreateEntity: {
      if (alarm) AddResourceDetails(&props, ent->neighbors);
      Slot s = graph_->FindVertex(id);
      AddIdentity(ev_vertex.key, id, &props, s);
      set_ds_name();
      Aggregate(&props, s);
      RETURN_IF_ERROR(UpsertVertex(id, std::move(props), /*keep_nulls_on_update=*/true, delta, s));
      return ConnectNeighbors(id, &ent->neighbors, std::vector<bool>(ent->neighbors.size(), false),
                              delta);
    }
    case GraphAction::kUpdateEntity: {
      Slot s = graph_->FindVertex(id);
      if (!CanUpdate(s, props)) {
        ++stats_.dropped_stale;
        VLOG(1) << "dropping out-of-order update of " << ev_vertex.key.ToString();
        return absl::OkStatus();
      }
      if (alarm) AddResourceDetails(&props, ent->neighbors);
      AddIdentity(ev_vertex.key, id, &props, s);
      set_ds_name();
      Aggregate(&props, s);
      RETURN_IF_ERROR(UpsertVertex(id, std::move(props), false, delta, s));
      return UpdateNeighbors(id, &ent->neighbors, now, delta);
    }
    case GraphAction::kDeleteEntity: {
      Slot s = graph_->FindVertex(id);
      const bool live = s != kNoSlot && !IsDeleted(graph_->VertexProps(s));
      if (live && !CanUpdate(s, props)) {
        // Deviation: upstream forgets the id of a dropped stale delete too
        // (the next event then makes a second live vertex); we keep it.
        ++stats_.dropped_stale;
        return absl::OkStatus();
      }
      // Upstream's transform forgets the entity's id on every delete.
      if (ent->vitrage_id.empty()) {
        ForgetId(ev_vertex.key, id);
      } else {
        ForgetIdOfVertex(id);
      }
      if (!live) {
        VLOG(1) << "delete of unknown or deleted entity " << ev_vertex.key.ToString();
        return absl::OkStatus();
      }
      std::vector<Slot> edges(graph_->OutEdges(s).begin(), graph_->OutEdges(s).end());
      for (Slot e : graph_->InEdges(s)) {
        if (graph_->EdgeSource(e) != s) edges.push_back(e);
      }
      std::vector<std::string> others;
      for (Slot e : edges) {
        Slot o = graph_->EdgeSource(e) == s ? graph_->EdgeTarget(e) : graph_->EdgeSource(e);
        others.emplace_back(graph_->VertexId(o));
        if (IsDeleted(graph_->EdgeProps(e))) continue;  // keeps its deletion time
        RETURN_IF_ERROR(MarkEdgeDeleted(e, now, delta));
      }
      for (const std::string& o : others) {
        Slot os = graph_->FindVertex(o);
        if (os != kNoSlot && o != id) RETURN_IF_ERROR(RemovePlaceholderIfOrphan(os, delta));
      }
      // (No datasource name: upstream sets it on create and update only.
      // A consistency event's vertex carries its vitrage_id only.)
      if (ent->vitrage_id.empty()) {
        AddIdentity(ev_vertex.key, id, &props);
      } else {
        props.Set(keys::kVitrageId, Value::String(id));
        props.Set(keys::kIsRealVitrageId, Value::Bool(true));
      }
      Aggregate(&props, s);
      props.Set(keys::kVitrageIsDeleted, Value::Bool(true));
      props.Set(keys::kVitrageSampleTimestamp, Value::String(now, true));
      return UpsertVertex(id, std::move(props), false, delta);
    }
    case GraphAction::kRemoveDeletedEntity: {
      if (id.empty()) id = FindId(ev_vertex.key, true);
      Slot s = id.empty() ? kNoSlot : graph_->FindVertex(id);
      if (s == kNoSlot || !IsDeleted(graph_->VertexProps(s)) || !CanUpdate(s, props)) {
        return absl::OkStatus();
      }
      return graph_->RemoveVertex(id, delta);
    }
    case GraphAction::kUpdateRelationship:
    case GraphAction::kDeleteRelationship: {
      const bool del = ent->action == GraphAction::kDeleteRelationship;
      AddIdentity(ev_vertex.key, id, &props);
      RETURN_IF_ERROR(UpsertVertex(id, std::move(props), false, delta));
      for (Neighbor& n : ent->neighbors) {
        const std::string& nid = n.resolved_id;
        const std::string& s = n.entity_is_source ? id : nid;
        const std::string& t = n.entity_is_source ? nid : id;
        if (del) {
          Slot e = graph_->FindEdge(s, t, n.label);
          if (e != kNoSlot && !IsDeleted(graph_->EdgeProps(e))) {
            RETURN_IF_ERROR(MarkEdgeDeleted(e, now, delta));
          }
          continue;
        }
        if (!graph_->HasVertex(nid)) {
          // Deviation: upstream adds a property-less vertex here.
          EntityVertex ph = MakePlaceholder(n.vertex.key.category, n.vertex.key.type,
                                            n.vertex.key.id, ev.GetString(ekeys::kSampleDate));
          AddIdentity(n.vertex.key, nid, &ph.props);
          Aggregate(&ph.props, kNoSlot);
          ++stats_.placeholders_created;
          RETURN_IF_ERROR(graph_->AddVertex(nid, std::move(ph.props), delta));
        }
        RETURN_IF_ERROR(UpsertEdge(s, t, n.label, EdgeProps(n.label), delta));
      }
      return absl::OkStatus();
    }
    default:
      return absl::InternalError(
          absl::StrCat("unhandled graph action ", GraphActionName(ent->action)));
  }
}

absl::Status Processor::ApplyRawOps(const Entity& ent, v1::GraphDelta* delta) {
  // Validate first so that a bad event changes nothing. Only a set_edge can
  // fail (an end that does not exist), so events without one skip this.
  bool has_set_edge = false;
  for (const RawOp& op : ent.ops) has_set_edge |= op.kind == RawOp::kSetEdge;
  if (has_set_edge) {
    absl::flat_hash_map<absl::string_view, bool> exists;  // overlay on the graph
    auto has = [&](absl::string_view id) {
      auto it = exists.find(id);
      return it != exists.end() ? it->second : graph_->HasVertex(id);
    };
    for (size_t i = 0; i < ent.ops.size(); ++i) {
      const RawOp& op = ent.ops[i];
      switch (op.kind) {
        case RawOp::kSetVertex:
          exists[op.id] = true;
          break;
        case RawOp::kRemoveVertex:
          exists[op.id] = false;
          break;
        case RawOp::kSetEdge:
          if (!has(op.source) || !has(op.target)) {
            return absl::InvalidArgumentError(absl::StrCat(
                "passthrough event: ops[", i, "] set_edge (", op.source, " -> ", op.target, ", ",
                op.label, "): ", has(op.source) ? "target" : "source", " vertex ",
                has(op.source) ? op.target : op.source, " does not exist"));
          }
          break;
        case RawOp::kRemoveEdge:
          break;
      }
    }
  }
  for (const RawOp& op : ent.ops) {
    switch (op.kind) {
      case RawOp::kSetVertex: {
        Slot s = graph_->FindVertex(op.id);
        if (s != kNoSlot && op.proto_props != nullptr) {
          graph::ReplaceVertexPropsFromProto(graph_, s, *op.proto_props, delta);
        } else if (s != kNoSlot) {
          graph_->ReplaceVertexPropsAt(s, op.prop_items(), delta);
        } else {
          RETURN_IF_ERROR(graph_->AddVertex(op.id, PropertiesOf(op), delta));
        }
        break;
      }
      case RawOp::kRemoveVertex:
        if (graph_->HasVertex(op.id)) RETURN_IF_ERROR(graph_->RemoveVertex(op.id, delta));
        break;
      case RawOp::kSetEdge: {
        Slot e = graph_->FindEdge(op.source, op.target, op.label);
        Properties props = PropertiesOf(op);
        if (e == kNoSlot) {
          RETURN_IF_ERROR(graph_->AddEdge(op.source, op.target, op.label, std::move(props), delta));
        } else {
          std::vector<KeyId> remove;
          for (const auto& kv : graph_->EdgeProps(e)) {
            if (props.Find(kv.first) == nullptr) remove.push_back(kv.first);
          }
          RETURN_IF_ERROR(graph_->UpdateEdge(op.source, op.target, op.label, props, remove, delta));
        }
        break;
      }
      case RawOp::kRemoveEdge:
        if (graph_->FindEdge(op.source, op.target, op.label) != kNoSlot) {
          RETURN_IF_ERROR(graph_->RemoveEdge(op.source, op.target, op.label, delta));
        }
        break;
    }
  }
  return absl::OkStatus();
}

}  // namespace vitrage::processor
