#include "collector/upstream_events.h"

#include <algorithm>
#include <map>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "graph_service/graph/digest.h"
#include "graph_service/processor/event.h"

namespace vitrage::collector {
namespace {

namespace keys = graph::keys;
using graph::Value;

// "2026-11-30 10:00:00.500000+00:00": the processor's clock format
// (processor.h), which no datasource field uses.
bool IsProcessorNow(absl::string_view s) {
  if (s.size() < 25 || s[4] != '-' || s[7] != '-' || s[10] != ' ' || s[13] != ':' || s[16] != ':') {
    return false;
  }
  return absl::EndsWith(s, "+00:00");
}

const graph::KeyId kResourceId = graph::InternKey("vitrage_resource_id");

}  // namespace

std::string CanonicalDigest(const graph::Graph& g) {
  // Normalized props (ids still raw) and the key of every vertex.
  struct V {
    std::string id;
    std::string key;
    graph::Properties props;
    std::string record;  // for ordering vertices that share a key
  };
  std::vector<V> vs;
  vs.reserve(g.vertex_count());
  const Value now = Value::String("<now>");
  auto normalize = [&](graph::Properties* p) {
    for (const graph::MapEntry& e : std::vector<graph::MapEntry>(p->begin(), p->end())) {
      if (e.second.is_string() && IsProcessorNow(e.second.string_value())) p->Set(e.first, now);
    }
  };
  g.ForEachVertex([&](graph::Slot s) {
    V v;
    v.id = std::string(g.VertexId(s));
    v.props = g.VertexProps(s);
    absl::string_view cached = v.props.GetString(keys::kVitrageCachedId);
    v.key = cached.empty() ? v.id : std::string(cached);
    normalize(&v.props);
    vs.push_back(std::move(v));
  });
  // Group by key; a key's vertices are numbered in the order of their
  // records (props without ids), so both sides number them alike.
  std::map<std::string, std::vector<size_t>> by_key;
  for (size_t i = 0; i < vs.size(); ++i) by_key[vs[i].key].push_back(i);
  absl::flat_hash_map<std::string, std::string> names;
  for (auto& [key, idx] : by_key) {
    if (idx.size() > 1) {
      for (size_t i : idx) {
        graph::Properties p = vs[i].props;
        p.Erase(keys::kVitrageId);
        p.Erase(kResourceId);
        graph::Graph one;
        (void)one.AddVertex("v", p);
        graph::AppendVertexDigestRecord(one, one.FindVertex("v"), &vs[i].record);
      }
      std::sort(idx.begin(), idx.end(),
                [&](size_t a, size_t b) { return vs[a].record < vs[b].record; });
    }
    for (size_t n = 0; n < idx.size(); ++n) {
      names[vs[idx[n]].id] = n == 0 ? key : absl::StrCat(key, "#", n + 1);
    }
  }
  auto canon = [&](absl::string_view id) {
    auto it = names.find(id);
    return it == names.end() ? std::string(id) : it->second;
  };
  graph::Graph c;
  for (V& v : vs) {
    if (v.props.Find(keys::kVitrageId) != nullptr) {
      v.props.Set(keys::kVitrageId, Value::String(canon(v.id)));
    }
    const Value* r = v.props.Find(kResourceId);
    if (r != nullptr && r->is_string()) {
      v.props.Set(kResourceId, Value::String(canon(r->string_value())));
    }
    (void)c.AddVertex(canon(v.id), std::move(v.props));
  }
  g.ForEachEdge([&](graph::Slot e) {
    graph::Properties p = g.EdgeProps(e);
    normalize(&p);
    (void)c.AddEdge(canon(g.VertexId(g.EdgeSource(e))), canon(g.VertexId(g.EdgeTarget(e))),
                    g.EdgeLabel(e), std::move(p));
  });
  return graph::Digest(c);
}

ReferenceGraph::ReferenceGraph(uint64_t seed) : seed_(seed) { Reset(); }

void ReferenceGraph::Reset() {
  processor_.reset();
  graph_ = std::make_unique<graph::Graph>();
  processor::ProcessorOptions o;
  o.id_generator = processor::SeededUuidGenerator(seed_);
  o.clock = processor::SampleDatePlusHalfSecondClock();
  processor_ = std::make_unique<processor::Processor>(graph_.get(), std::move(o));
  processed_ = 0;
}

absl::Status ReferenceGraph::Process(const v1::MapValue& fields) {
  processor::Event ev = processor::EventFromMapValue(fields);
  absl::Status s = processor_->Process(ev, nullptr);
  if (!s.ok()) {
    return absl::Status(
        s.code(), absl::StrCat("reference processor, event ", processed_ + 1, " (",
                               ev.GetString(processor::ekeys::kEntityType), "): ", s.message()));
  }
  ++processed_;
  return absl::OkStatus();
}

}  // namespace vitrage::collector
