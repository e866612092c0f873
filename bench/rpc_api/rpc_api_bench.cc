// rpc_api_bench: the RPC API's handlers (graph_service/rpc_api) on
// graph_100k against upstream's own (python3-vitrage's TopologyApis and
// ResourceApis in /usr/bin/python3, upstream_bench.py) on the same graph:
// median time of each call, the result encoded as it goes on the wire
// (the reply body), the part under the graph's lock, and CPU time.
// Prints a table and appends to bench/results/rpc_api.tsv.
//
//   rpc_api_bench [--graph FILE] [--reps N] [--no-upstream] [--only NAME]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/huge_page_heap.h"
#include "graph_service/rpc_api/handlers.h"
#include "graph_service/rpc_api/rpc_server.h"
#include "graph_service/workload/workload.h"

// The memory of vitrage-graph (graph_service/service/main.cc): jemalloc
// with 2 MiB pages while the graph is loaded, then none new. The answers
// walk the whole graph, so how its memory is mapped shows in their time.
extern "C" {
const char* malloc_conf = "thp:always,narenas:1";
}

namespace {

using json = nlohmann::json;

struct BenchCall {
  std::string name, method;
  json ctx, args;
};

std::string Run(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

double ThreadCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

std::string LoadAverage() {
  std::ifstream f("/proc/loadavg");
  std::string l;
  f >> l;
  return l.empty() ? "-" : l;
}

std::string GitCommit(const std::string& src) {
  std::string c = Run(absl::StrCat("git -C ", src, " rev-parse --short HEAD 2>/dev/null"));
  while (!c.empty() && (c.back() == '\n' || c.back() == '\r')) c.pop_back();
  return c.empty() ? "-" : c;
}

}  // namespace

int main(int argc, char** argv) {
  const vitrage::HugePageHeap heap = vitrage::ReserveHugePageHeap();
  std::string src = VITRAGE_SOURCE_DIR_DEFAULT;
  std::string graph_file = absl::StrCat(VITRAGE_WORKLOAD_DIR_DEFAULT, "/graph_100k.jsonl.zst");
  int reps = 5;
  bool upstream = true;
  std::string only;  // run only the calls whose name contains this
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--graph" && i + 1 < argc) {
      graph_file = argv[++i];
    } else if (a == "--reps" && i + 1 < argc) {
      reps = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--no-upstream") {
      upstream = false;
    } else if (a == "--only" && i + 1 < argc) {
      only = argv[++i];
    } else {
      std::cerr << "usage: rpc_api_bench [--graph FILE] [--reps N] [--no-upstream] [--only NAME]\n";
      return 2;
    }
  }
  vitrage::graph::Graph g;
  if (auto s = vitrage::workload::LoadGraphFile(graph_file, &g); !s.ok()) {
    std::cerr << graph_file << ": " << s << "\n";
    return 1;
  }
  vitrage::StopNewHugePages();  // as the engine once ACTIVE
  const json admin = {{"project_id", "admin"}, {"is_admin", true}};
  auto topo = [](bool all) {
    return json{{"graph_type", "graph"},
                {"depth", nullptr},
                {"query", nullptr},
                {"root", nullptr},
                {"all_tenants", all}};
  };
  std::vector<BenchCall> calls = {
      {"get_topology (vitrage topology show)", "get_topology", admin, topo(false)},
      {"get_topology --all-tenants", "get_topology", admin, topo(true)},
      {"get_resources --all-tenants",
       "get_resources",
       admin,
       {{"resource_type", nullptr}, {"all_tenants", true}, {"query", nullptr}}},
      {"count_resources",
       "count_resources",
       admin,
       {{"resource_type", nullptr},
        {"all_tenants", false},
        {"query", nullptr},
        {"group_by", nullptr}}},
      // As vitrage-api sends `vitrage alarm list` (the CLI's limit 1000).
      {"get_alarms (vitrage alarm list)",
       "get_alarms",
       admin,
       {{"vitrage_id", "all"},
        {"all_tenants", false},
        {"start", nullptr},
        {"end", nullptr},
        {"limit", "1000"},
        {"sort_by", {"start_timestamp", "vitrage_id"}},
        {"sort_dirs", {"asc", "asc"}},
        {"filter_by", nullptr},
        {"filter_vals", nullptr},
        {"next_page", "True"},
        {"marker", nullptr},
        {"only_active_alarms", true}}},
  };
  // Per call: the median over `reps` of the whole answer (wall), of the
  // part under the graph's lock (rpc_api::Read), and of the thread's CPU
  // time (the machine is shared: CPU time moves less with the load).
  if (!only.empty()) {
    calls.erase(
        std::remove_if(calls.begin(), calls.end(),
                       [&](const BenchCall& c) { return c.name.find(only) == std::string::npos; }),
        calls.end());
  }
  std::vector<double> ours, locked, cpu;
  for (const BenchCall& c : calls) {
    std::vector<double> t, tl, tc;
    size_t bytes = 0, pickle = 0;
    for (int r = 0; r < reps; ++r) {
      const double c0 = ThreadCpuSeconds();
      absl::Time start = absl::Now();
      auto answer = vitrage::rpc_api::Read(c.method, c.args, c.ctx, &g, nullptr);
      absl::Time read = absl::Now();
      if (!answer.ok()) {
        std::cerr << c.name << ": " << answer.status() << "\n";
        return 1;
      }
      pickle = answer->pickle.size();
      // As it goes on the wire: the reply's body (the server's encoding).
      std::string wire =
          vitrage::rpc_api::ReplyBody("msg", vitrage::rpc_api::Finish(std::move(*answer)), nullptr);
      t.push_back(absl::ToDoubleSeconds(absl::Now() - start));
      tl.push_back(absl::ToDoubleSeconds(read - start));
      tc.push_back(ThreadCpuSeconds() - c0);
      bytes = wire.size();
    }
    for (auto* v : {&t, &tl, &tc}) std::sort(v->begin(), v->end());
    ours.push_back(t[t.size() / 2]);
    locked.push_back(tl[tl.size() / 2]);
    cpu.push_back(tc[tc.size() / 2]);
    std::cerr << absl::StrFormat(
        "%s: median %.1f ms (best %.1f), under the lock %.1f ms, cpu %.1f ms; reply %zu "
        "bytes, pickle %zu bytes\n",
        c.name, t[t.size() / 2] * 1000, t[0] * 1000, tl[tl.size() / 2] * 1000,
        tc[tc.size() / 2] * 1000, bytes, pickle);
  }
  json up = json::object();
  if (upstream) {
    json in = json::array();
    for (const BenchCall& c : calls) {
      in.push_back({{"name", c.name}, {"method", c.method}, {"ctx", c.ctx}, {"args", c.args}});
    }
    std::string calls_file = absl::StrCat("/tmp/rpc_api_bench_", getpid(), ".json");
    std::ofstream(calls_file) << in.dump();
    std::string out =
        Run(absl::StrCat("/usr/bin/python3 ", src, "/bench/rpc_api/upstream_bench.py ", graph_file,
                         " ", calls_file, " ", reps, " 2>/dev/null"));
    std::remove(calls_file.c_str());
    up = json::parse(out, nullptr, false);
    if (!up.is_object()) {
      std::cerr << "upstream_bench.py failed: " << out << "\n";
      up = json::object();
    }
  }
  const std::string when = absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now(), absl::UTCTimeZone());
  const std::string commit = GitCommit(src);
  std::ofstream tsv(src + "/bench/results/rpc_api.tsv", std::ios::app);
  const std::string load1 = LoadAverage();
  absl::PrintF("graph_100k, %d reps, load average %s (1 min)\n", reps, load1);
  absl::PrintF("%-38s %8s %8s %8s %12s %8s %8s %8s  %s\n", "call (graph_100k)", "ours ms", "locked",
               "cpu ms", "upstream ms", "cpu ms", "speedup", "cpu", "target");
  for (size_t i = 0; i < calls.size(); ++i) {
    double u = up.contains(calls[i].name) ? up[calls[i].name].get<double>() : 0;
    const std::string cpu_name = calls[i].name + " cpu";
    double uc = up.contains(cpu_name) ? up[cpu_name].get<double>() : 0;
    std::string speed = u > 0 ? absl::StrFormat("%.1fx", u / ours[i]) : "-";
    std::string cpu_speed = uc > 0 ? absl::StrFormat("%.1fx", uc / cpu[i]) : "-";
    absl::PrintF("%-38s %8.1f %8.1f %8.1f %12s %8s %8s %8s  %s\n", calls[i].name, ours[i] * 1000,
                 locked[i] * 1000, cpu[i] * 1000, u > 0 ? absl::StrFormat("%.1f", u * 1000) : "-",
                 uc > 0 ? absl::StrFormat("%.1f", uc * 1000) : "-", speed, cpu_speed, ">= 10x");
    auto put = [&](const std::string& what, double v, const char* unit, const char* target) {
      tsv << when << "\t" << commit << "\t" << calls[i].name << " " << what << "\t"
          << absl::StrFormat("%.1f", v) << "\t" << unit << "\t" << target << "\n";
    };
    put("ours", ours[i] * 1000, "ms", "-");
    put("ours under the graph lock", locked[i] * 1000, "ms", "-");
    put("ours cpu", cpu[i] * 1000, "ms", "-");
    if (u > 0) {
      put("upstream", u * 1000, "ms", "-");
      put("speedup", u / ours[i], "x", ">= 10x");
    }
    if (uc > 0) {
      put("upstream cpu", uc * 1000, "ms", "-");
      put("speedup cpu", uc / cpu[i], "x", ">= 10x");
    }
  }
  tsv << when << "\t" << commit << "\tmachine load average (1 min, 2 cores)\t" << load1
      << "\t\t-\n";
  return 0;
}
