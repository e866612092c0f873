// mix_bench EVENTS_DIR VALUES_DIR [ROUNDS]: processes every *.events.jsonl
// of EVENTS_DIR (one fresh graph each, the corpus rules, consistency ids
// through the matching *.id_map.json) and prints the processor's throughput:
// events/s over the Process calls only (events parsed beforehand, as
// upstream's side times process_event on ready dicts). Best of ROUNDS.
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
  double best = 1e30;
  for (int r = 0; r < rounds; ++r) {
    double secs = 0;
    for (const Seq& s : seqs) {
      auto run = vitrage::processor::CorpusRun::Create(argv[2]);
      if (!run.ok()) return 2;
      (*run)->SetUpstreamIdMap(s.id_map);
      // Converted outside the timed part, like upstream's ready dicts.
      std::vector<nlohmann::json> evs = s.events;
      auto t0 = std::chrono::steady_clock::now();
      for (auto& j : evs) (void)(*run)->ProcessJson(std::move(j));
      secs += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
    best = std::min(best, secs);
  }
  std::printf("{\"sequences\": %zu, \"events\": %zu, \"seconds\": %.6f, \"events_per_s\": %.0f}\n",
              seqs.size(), total, best, total / best);
  return 0;
}
