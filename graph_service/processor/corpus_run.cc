#include "graph_service/processor/corpus_run.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace vitrage::processor {

namespace keys = graph::keys;
using graph::Graph;
using graph::Slot;

CorpusRun::CorpusRun()
    : mints_(std::make_shared<std::vector<std::pair<std::string, std::string>>>()) {}

absl::StatusOr<std::unique_ptr<CorpusRun>> CorpusRun::Create(const std::string& values_dir) {
  StateTable states = StateTable::Defaults();
  if (!values_dir.empty()) RETURN_IF_ERROR(states.LoadDirectory(values_dir));
  return Create(states);
}

std::unique_ptr<CorpusRun> CorpusRun::Create(const StateTable& states) {
  std::unique_ptr<CorpusRun> run(new CorpusRun());
  ProcessorOptions opts;
  opts.id_generator = ConformanceIdGenerator();
  opts.clock = SampleDatePlusHalfSecondClock();
  auto mints = run->mints_;
  // The mint log only: ToEvent finds a key's n-th id in it (consistency
  // events are few; a mint is every new key).
  opts.on_mint = [mints](const std::string& id, const std::string& key) {
    mints->emplace_back(id, key);
  };
  opts.states = states;
  run->processor_ = std::make_unique<Processor>(&run->graph_, std::move(opts));
  return run;
}

void CorpusRun::SetUpstreamIdMap(const std::map<std::string, std::string>& id_to_key) {
  // The corpus's ids are minted in order and fixed-width: sorted ids are in
  // mint order, so an id's rank among its key's ids is its n.
  absl::flat_hash_map<std::string, size_t> count;
  upstream_.clear();
  for (const auto& [id, key] : id_to_key) upstream_[id] = {key, ++count[key]};
}

absl::Status CorpusRun::ProcessJson(nlohmann::json j) {
  absl::StatusOr<Event> ev = ToEvent(std::move(j));
  if (!ev.ok()) return ev.status();
  return Process(*ev);
}

absl::StatusOr<Event> CorpusRun::ToEvent(nlohmann::json j) const {
  if (j.value("vitrage_entity_type", "") == "consistency" && j.contains("vitrage_id") &&
      j["vitrage_id"].is_string()) {
    auto it = upstream_.find(j["vitrage_id"].get<std::string>());
    if (it != upstream_.end()) {
      // Our n-th id minted for the same key.
      size_t n = 0;
      for (const auto& [id, key] : *mints_) {
        if (key == it->second.first && ++n == it->second.second) {
          j["vitrage_id"] = id;
          break;
        }
      }
    }
  }
  return EventFromJson(j);
}

absl::flat_hash_map<std::string, std::string> CorpusRun::CanonicalNames() const {
  absl::flat_hash_map<std::string, std::string> out;
  absl::flat_hash_map<std::string, size_t> count;
  for (const auto& [id, key] : *mints_) {
    size_t n = ++count[key];
    out[id] = n == 1 ? key : absl::StrCat(key, "#", n);
  }
  return out;
}

absl::StatusOr<Graph> CorpusRun::Canonical() const {
  absl::flat_hash_map<std::string, std::string> names = CanonicalNames();
  Graph c;
  const graph::KeyId kResourceId = graph::InternKey("vitrage_resource_id");
  auto canon = [&](absl::string_view id) {
    auto it = names.find(id);
    return it == names.end() ? std::string(id) : it->second;
  };
  absl::Status st;
  graph_.ForEachVertex([&](Slot v) {
    graph::Properties p = graph_.VertexProps(v);
    std::string name = canon(graph_.VertexId(v));
    if (p.Find(keys::kVitrageId) != nullptr) p.Set(keys::kVitrageId, graph::Value::String(name));
    const graph::Value* r = p.Find(kResourceId);
    if (r != nullptr && r->is_string()) {
      p.Set(kResourceId, graph::Value::String(canon(r->string_value())));
    }
    if (absl::Status s = c.AddVertex(name, std::move(p)); !s.ok() && st.ok()) st = s;
  });
  graph_.ForEachEdge([&](Slot e) {
    absl::Status s = c.AddEdge(canon(graph_.VertexId(graph_.EdgeSource(e))),
                               canon(graph_.VertexId(graph_.EdgeTarget(e))), graph_.EdgeLabel(e),
                               graph_.EdgeProps(e));
    if (!s.ok() && st.ok()) st = s;
  });
  if (!st.ok()) return st;
  return c;
}

}  // namespace vitrage::processor
