// mix_bench EVENTS_DIR VALUES_DIR [ROUNDS]: processes every *.events.jsonl
// of EVENTS_DIR (one fresh graph each, the corpus rules, consistency ids
// through the matching *.id_map.json) and prints the processor's throughput,
// best of ROUNDS, of two stages: `events_per_s` times Processor::Process
// alone, on events already converted (the stage upstream's side times:
// Processor.process_event on ready dicts); `with_conversion_events_per_s`
// adds the JSON -> Event conversion before each (JSON parsed beforehand).
#include <dirent.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "graph_service/processor/corpus_run.h"
#include "nlohmann/json.hpp"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: mix_bench EVENTS_DIR VALUES_DIR [ROUNDS]\n");
    return 2;
  }
  std::string dir = argv[1];
  int rounds = argc > 3 ? std::atoi(argv[3]) : 5;
  struct Seq {
    std::vector<nlohmann::json> events;
    std::map<std::string, std::string> id_map;
  };
  std::vector<Seq> seqs;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return 2;
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (absl::EndsWith(n, ".events.jsonl")) names.push_back(n.substr(0, n.size() - 13));
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  size_t total = 0;
  for (const auto& n : names) {
    Seq s;
    std::ifstream f(dir + "/" + n + ".events.jsonl");
    std::string line;
    while (std::getline(f, line)) {
      if (!line.empty()) s.events.push_back(nlohmann::json::parse(line));
    }
    std::ifstream m(dir + "/" + n + ".id_map.json");
    if (m) s.id_map = nlohmann::json::parse(m).get<std::map<std::string, std::string>>();
    total += s.events.size();
    seqs.push_back(std::move(s));
  }
  // The state tables are read once (outside every timed part).
  vitrage::processor::StateTable states = vitrage::processor::StateTable::Defaults();
  if (!states.LoadDirectory(argv[2]).ok()) return 2;
  using Clock = std::chrono::steady_clock;
  double best = 1e30, best_with_conversion = 1e30;
  for (int r = 0; r < rounds; ++r) {
    double secs = 0, conversion = 0;
    for (const Seq& s : seqs) {
      auto run = vitrage::processor::CorpusRun::Create(states);
      run->SetUpstreamIdMap(s.id_map);
      std::vector<nlohmann::json> evs = s.events;
      for (auto& j : evs) {
        // A consistency event's id is mapped with the ids minted so far:
        // converted just before its Process call, timed apart.
        auto t0 = Clock::now();
        auto ev = run->ToEvent(std::move(j));
        auto t1 = Clock::now();
        if (ev.ok()) (void)run->Process(*ev);
        auto t2 = Clock::now();
        conversion += std::chrono::duration<double>(t1 - t0).count();
        secs += std::chrono::duration<double>(t2 - t1).count();
      }
    }
    best = std::min(best, secs);
    best_with_conversion = std::min(best_with_conversion, secs + conversion);
  }
  std::printf(
      "{\"sequences\": %zu, \"events\": %zu, \"seconds\": %.6f, \"events_per_s\": %.0f, "
      "\"with_conversion_seconds\": %.6f, \"with_conversion_events_per_s\": %.0f}\n",
      seqs.size(), total, best, total / best, best_with_conversion, total / best_with_conversion);
  return 0;
}
