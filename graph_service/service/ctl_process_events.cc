#include "graph_service/service/ctl_process_events.h"

#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "graph_service/graph/digest.h"
#include "graph_service/processor/corpus_run.h"
#include "graph_service/workload/workload.h"
#include "nlohmann/json.hpp"

namespace vitrage::ctl {

ProcessEventsCommand::ProcessEventsCommand(CLI::App* app) {
  cmd_ = app->add_subcommand(
      "process-events",
      "process an event file offline under the corpus rules; print the graph (workload JSONL)");
  cmd_->add_option("events", events_, "events, one JSON object a line")->required();
  cmd_->add_option("--values", values_, "upstream's datasources_values directory")->required();
  cmd_->add_option("--id-map", id_map_, "upstream id -> natural key (meta.json or JSON object)");
  cmd_->add_option("--mints", mints_, "write the ids minted, in order, as JSON lines");
  cmd_->add_flag("--canonical", canonical_, "print the canonical form (natural keys for ids)");
  cmd_->add_flag("--digest", digest_, "print only the digest");
}

namespace {

int Bad(const std::string& what) {
  std::cerr << "vitrage-ctl process-events: " << what << "\n";
  return 2;
}

void Print(const graph::Graph& g, bool digest) {
  if (digest) {
    std::cout << graph::Digest(g) << "\n";
    return;
  }
  std::string out;
  g.ForEachVertex([&](graph::Slot v) {
    workload::AppendVertexLine(g, v, &out);
    out.push_back('\n');
  });
  g.ForEachEdge([&](graph::Slot e) {
    workload::AppendEdgeLine(g, e, &out);
    out.push_back('\n');
  });
  std::cout << out;
}

}  // namespace

int ProcessEventsCommand::Run() const {
  auto run = processor::CorpusRun::Create(values_);
  if (!run.ok()) return Bad(absl::StrCat("--values ", values_, ": ", run.status().message()));
  if (!id_map_.empty()) {
    std::ifstream f(id_map_);
    if (!f) return Bad(absl::StrCat("--id-map ", id_map_, ": cannot open"));
    nlohmann::json j = nlohmann::json::parse(f, nullptr, /*allow_exceptions=*/false);
    if (j.is_object() && j.contains("id_map")) j = j["id_map"];
    if (!j.is_object()) return Bad(absl::StrCat("--id-map ", id_map_, ": not a JSON object"));
    std::map<std::string, std::string> m;
    for (auto& [k, v] : j.items()) {
      if (v.is_string()) m[k] = v.get<std::string>();
    }
    (*run)->SetUpstreamIdMap(m);
  }
  std::ifstream in(events_);
  if (!in) return Bad(absl::StrCat(events_, ": cannot open"));
  std::string line;
  int n = 0, rc = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) {
      return Bad(absl::StrCat(events_, ":", n, ": not a JSON object"));
    }
    // Like vitrage-graph: a failing event is reported and skipped.
    if (absl::Status st = (*run)->ProcessJson(std::move(j)); !st.ok()) {
      std::cerr << "vitrage-ctl process-events: " << events_ << ":" << n << ": " << st.message()
                << "\n";
      rc = 1;
    }
  }
  if (!mints_.empty()) {
    std::ofstream m(mints_);
    for (const auto& [id, key] : (*run)->mints()) {
      m << nlohmann::json{{"id", id}, {"key", key}}.dump() << "\n";
    }
    if (!m) return Bad(absl::StrCat("--mints ", mints_, ": cannot write"));
  }
  if (canonical_) {
    auto c = (*run)->Canonical();
    if (!c.ok()) return Bad(absl::StrCat("canonical form: ", c.status().message()));
    Print(*c, digest_);
  } else {
    Print((*run)->graph(), digest_);
  }
  return rc;
}

}  // namespace vitrage::ctl
