// rpc_api_bench: the RPC API's handlers (graph_service/rpc_api) on
// graph_100k against upstream's own (python3-vitrage's TopologyApis and
// ResourceApis in /usr/bin/python3, upstream_bench.py) on the same graph:
// median time of each call, the result encoded as it goes on the wire.
// Prints a table and appends to bench/results/rpc_api.tsv.
//
//   rpc_api_bench [--graph FILE] [--reps N] [--no-upstream]
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "graph_service/rpc_api/handlers.h"
#include "graph_service/workload/workload.h"

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

std::string GitCommit(const std::string& src) {
  std::string c = Run(absl::StrCat("git -C ", src, " rev-parse --short HEAD 2>/dev/null"));
  while (!c.empty() && (c.back() == '\n' || c.back() == '\r')) c.pop_back();
  return c.empty() ? "-" : c;
}

}  // namespace

int main(int argc, char** argv) {
  std::string src = VITRAGE_SOURCE_DIR_DEFAULT;
  std::string graph_file = absl::StrCat(VITRAGE_WORKLOAD_DIR_DEFAULT, "/graph_100k.jsonl.zst");
  int reps = 5;
  bool upstream = true;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--graph" && i + 1 < argc) {
      graph_file = argv[++i];
    } else if (a == "--reps" && i + 1 < argc) {
      reps = std::atoi(argv[++i]);
    } else if (a == "--no-upstream") {
      upstream = false;
    } else {
      std::cerr << "usage: rpc_api_bench [--graph FILE] [--reps N] [--no-upstream]\n";
      return 2;
    }
  }
  vitrage::graph::Graph g;
  if (auto s = vitrage::workload::LoadGraphFile(graph_file, &g); !s.ok()) {
    std::cerr << graph_file << ": " << s << "\n";
    return 1;
  }
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
  };
  std::vector<double> ours;
  for (const BenchCall& c : calls) {
    std::vector<double> t;
    size_t bytes = 0;
    for (int r = 0; r < reps; ++r) {
      absl::Time start = absl::Now();
      auto res = vitrage::rpc_api::Call(c.method, c.args, c.ctx, &g, nullptr);
      // As it goes on the wire: the reply's JSON text.
      std::string wire = res.ok() ? res->dump() : "";
      t.push_back(absl::ToDoubleSeconds(absl::Now() - start));
      bytes = wire.size();
      if (!res.ok()) {
        std::cerr << c.name << ": " << res.status() << "\n";
        return 1;
      }
    }
    std::sort(t.begin(), t.end());
    ours.push_back(t[t.size() / 2]);
    std::cerr << c.name << ": " << t[t.size() / 2] * 1000 << " ms, " << bytes << " bytes\n";
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
  absl::PrintF("%-40s %12s %14s %9s  %s\n", "call (graph_100k)", "ours ms", "upstream ms",
               "speedup", "target");
  for (size_t i = 0; i < calls.size(); ++i) {
    double u = up.contains(calls[i].name) ? up[calls[i].name].get<double>() : 0;
    std::string speed = u > 0 ? absl::StrFormat("%.1fx", u / ours[i]) : "-";
    absl::PrintF("%-40s %12.1f %14s %9s  %s\n", calls[i].name, ours[i] * 1000,
                 u > 0 ? absl::StrFormat("%.1f", u * 1000) : "-", speed, ">= 10x");
    tsv << when << "\t" << commit << "\t" << calls[i].name << " ours\t"
        << absl::StrFormat("%.1f", ours[i] * 1000) << "\tms\t-\n";
    if (u > 0) {
      tsv << when << "\t" << commit << "\t" << calls[i].name << " upstream\t"
          << absl::StrFormat("%.1f", u * 1000) << "\tms\t-\n";
      tsv << when << "\t" << commit << "\t" << calls[i].name << " speedup\t"
          << absl::StrFormat("%.1f", u / ours[i]) << "\tx\t>= 10x\n";
    }
  }
  return 0;
}
