// End-to-end durable throughput and ack latency with the store on a 3-node
// MariaDB Galera cluster, next to the same on a single MariaDB server.
//
// For each backend (single: the private MariaDB fixture; galera: the 3-node
// cluster of common/testing/galera_fixture.h, the persistor on node 0) a
// whole stack of real processes runs (collector -> graph -> persistor ->
// database, every ack durable: innodb_flush_log_at_trx_commit=1, and on
// Galera certified by the cluster) and measures:
//   * durable events/s with the change generator unthrottled (from the
//     moment the graph is ACTIVE until the collector has every event acked);
//   * ack latency p50/p99/max as the collector sees it (event created to
//     durable ack) at a paced rate. The collector keeps the last 100,000
//     samples and its generator starts before the graph is ACTIVE, so the
//     paced run is longer than that window: the start-up backlog drops out
//     and what is left is the steady state.
// Prints a table and appends to bench/results/galera.tsv.
//
//   galera_bench [--events N] [--rate R] [--paced_events M] [--note TEXT]
//                [--backends single,galera]
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/testing/galera_fixture.h"
#include "common/testing/mariadb_fixture.h"
#include "integration_tests/stack.h"

namespace vitrage::testing {
namespace {

struct Row {
  std::string backend, metric, params;
  double value = 0;
  std::string unit;
};

std::string GitCommit() {
  std::string out = "/tmp/galera_bench_git.txt";
  std::remove(out.c_str());
  auto rc = RunCommand({"git", "-C", SourceDir(), "rev-parse", "--short", "HEAD"}, out,
                       absl::Seconds(10));
  std::string text = ReadFileOrEmpty(out);
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return rc.ok() && *rc == 0 ? text : "unknown";
}

std::string LoadAvg() {
  std::string load = ReadFileOrEmpty("/proc/loadavg");
  return load.substr(0, load.find(' '));
}

// One stack on `database_url`; appends its rows.
absl::Status Measure(const std::string& backend, const std::string& database_url, uint64_t events,
                     double rate, uint64_t paced_events, std::vector<Row>* rows) {
  {
    StackOptions o;
    o.database_url = database_url;
    o.synthetic_hosts = 64;
    o.change_rate = 1e7;
    o.max_changes = events;
    o.conf.push_back({"collector", "push_batch_size = 1024"});
    Stack stack(o);
    if (auto s = stack.Start(); !s.ok()) return s;
    auto c0 = stack.CollectorStatus();
    if (!c0.ok()) return c0.status();
    absl::Time t0 = absl::Now();
    if (auto s = stack.WaitCollectorDrained(absl::Seconds(900)); !s.ok()) return s;
    double secs = absl::ToDoubleSeconds(absl::Now() - t0);
    auto c = stack.CollectorStatus(true);
    auto g = stack.GraphStatus(true);
    if (!c.ok() || !g.ok()) return absl::InternalError("status failed");
    if (c->model_digest() != g->digest()) {
      return absl::InternalError(backend + ": graph digest differs from the collector's");
    }
    const double measured = static_cast<double>(events - c0->acked());
    std::string params =
        absl::StrFormat("events=%d batch=1024 after_active=%.0f", events, measured);
    rows->push_back({backend, "durable events/s unthrottled", params, measured / secs, "ev/s"});
    rows->push_back({backend, "ack p99 unthrottled", params, c->ack_latency_p99_ms(), "ms"});
    std::fprintf(stderr, "%s: %.0f events in %.2f s after ACTIVE: %.0f ev/s, ack p99 %.1f ms\n",
                 backend.c_str(), measured, secs, measured / secs, c->ack_latency_p99_ms());
  }
  {
    StackOptions o;
    o.database_url = database_url;
    o.synthetic_hosts = 64;
    o.change_rate = rate;
    o.max_changes = paced_events;
    Stack stack(o);
    if (auto s = stack.Start(); !s.ok()) return s;
    if (auto s = stack.WaitCollectorDrained(absl::Seconds(900)); !s.ok()) return s;
    auto c = stack.CollectorStatus();
    if (!c.ok()) return c.status();
    std::string params = absl::StrFormat("rate=%.0f/s events=%d", rate, paced_events);
    rows->push_back({backend, "ack p50 paced", params, c->ack_latency_p50_ms(), "ms"});
    rows->push_back({backend, "ack p99 paced", params, c->ack_latency_p99_ms(), "ms"});
    rows->push_back({backend, "ack max paced", params, c->ack_latency_max_ms(), "ms"});
    std::fprintf(stderr, "%s: at %.0f ev/s ack p50 %.2f ms p99 %.2f ms max %.1f ms\n",
                 backend.c_str(), rate, c->ack_latency_p50_ms(), c->ack_latency_p99_ms(),
                 c->ack_latency_max_ms());
  }
  return absl::OkStatus();
}

int Main(int argc, char** argv) {
  uint64_t events = 30000, paced_events = 110000;
  double rate = 2000;
  std::string note;
  std::vector<std::string> backends = {"single", "galera"};
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--events" && i + 1 < argc) {
      (void)absl::SimpleAtoi(argv[++i], &events);
    } else if (a == "--paced_events" && i + 1 < argc) {
      (void)absl::SimpleAtoi(argv[++i], &paced_events);
    } else if (a == "--rate" && i + 1 < argc) {
      (void)absl::SimpleAtod(argv[++i], &rate);
    } else if (a == "--note" && i + 1 < argc) {
      note = argv[++i];
    } else if (a == "--backends" && i + 1 < argc) {
      backends = absl::StrSplit(argv[++i], ',');
    } else {
      std::cerr << "usage: galera_bench [--events N] [--rate R] [--paced_events M] "
                   "[--note TEXT] [--backends single,galera]\n";
      return 2;
    }
  }
  std::vector<Row> rows;
  for (const std::string& backend : backends) {
    absl::Status s;
    if (backend == "single") {
      MariaDbFixture db;
      s = db.Start();
      if (s.ok()) s = Measure(backend, db.url(), events, rate, paced_events, &rows);
    } else if (backend == "galera") {
      GaleraCluster cluster;
      s = cluster.Start();
      if (s.ok()) s = Measure(backend, cluster.url(0), events, rate, paced_events, &rows);
    } else {
      s = absl::InvalidArgumentError("unknown backend " + backend + " (single, galera)");
    }
    if (!s.ok()) {
      std::cerr << "galera_bench: " << backend << ": " << s << "\n";
      return 1;
    }
  }

  const std::string date = absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now(), absl::UTCTimeZone());
  const std::string commit = GitCommit();
  const std::string load = LoadAvg();
  std::printf(
      "\nend-to-end (collector -> graph -> persistor -> database), durable acks  %s  "
      "commit %s  loadavg %s\n",
      date.c_str(), commit.c_str(), load.c_str());
  std::printf("%-8s %-30s %-40s %12s %s\n", "backend", "metric", "parameters", "value", "unit");
  for (const Row& r : rows) {
    std::printf("%-8s %-30s %-40s %12.2f %s\n", r.backend.c_str(), r.metric.c_str(),
                r.params.c_str(), r.value, r.unit.c_str());
  }
  const std::string dir = SourceDir() + "/bench/results";
  mkdir(dir.c_str(), 0755);
  const std::string path = dir + "/galera.tsv";
  const bool header = ReadFileOrEmpty(path).empty();
  std::ofstream out(path, std::ios::app);
  if (header) out << "date\tcommit\tloadavg\tbackend\tmetric\tparameters\tvalue\tunit\n";
  for (const Row& r : rows) {
    out << absl::StrFormat("%s\t%s\t%s\t%s\t%s\t%s%s\t%.2f\t%s\n", date, commit, load, r.backend,
                           r.metric, r.params, note.empty() ? "" : " " + note, r.value, r.unit);
  }
  std::printf("appended to %s\n", path.c_str());
  return 0;
}

}  // namespace
}  // namespace vitrage::testing

int main(int argc, char** argv) {
  // The stack finds the binaries and the results dir through these.
  setenv("VITRAGE_BINARY_DIR", VITRAGE_BENCH_BINARY_DIR, /*overwrite=*/0);
  setenv("VITRAGE_SOURCE_DIR", VITRAGE_BENCH_SOURCE_DIR, /*overwrite=*/0);
  return vitrage::testing::Main(argc, argv);
}
