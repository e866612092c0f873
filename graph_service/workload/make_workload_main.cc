// make_workload: writes the standard workloads (generator.h) into a
// directory. The build runs it into build/workload/ for the tests and
// benchmarks.
//
//   make_workload OUT_DIR [SIZE...]     SIZE: 1k 10k 100k (default: all)
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "graph_service/workload/generator.h"

int main(int argc, char** argv) {
  using vitrage::workload::StandardShape;
  using vitrage::workload::StandardWorkloads;
  if (argc < 2) {
    fprintf(stderr, "usage: make_workload OUT_DIR [1k|10k|100k ...]\n");
    return 2;
  }
  const std::string dir = argv[1];
  std::vector<std::string> sizes(argv + 2, argv + argc);
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    perror(dir.c_str());
    return 1;
  }
  for (const auto& spec : StandardWorkloads()) {
    if (!sizes.empty() && std::find(sizes.begin(), sizes.end(), spec.size) == sizes.end()) continue;
    auto start = std::chrono::steady_clock::now();
    auto shape = StandardShape(spec.size);
    auto written = vitrage::workload::WriteWorkload(*shape, spec.tails, dir);
    if (!written.ok()) {
      fprintf(stderr, "make_workload: %s: %s\n", spec.size.c_str(),
              std::string(written.status().message()).c_str());
      return 1;
    }
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    printf(
        "make_workload: graph_%s: %zu vertices, %zu edges, digest %s, %zu "
        "tail(s), %.2f s\n",
        spec.size.c_str(), written->vertices, written->edges, written->graph_digest.c_str(),
        written->tail_digests.size(), s);
  }
  return 0;
}
