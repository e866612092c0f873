// graph_bench: the graph core on graph_100k (100,077 vertices, 131,333
// edges), next to what upstream Vitrage 9.0.0 measured on this machine.
//
//   graph_bench [--shared DIR] [--results FILE] [--reps N]
//
// Prints a table (ours, Vitrage, target) and appends one line per metric to
// bench/results/graph.tsv (date, git commit, metric, value, unit, target).
// The peak-RSS figure comes from a child process (this binary with --rss
// SNAPSHOT_FILE) that only decodes a snapshot of the 100k graph, as a
// recovering vitrage-graph would.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "graph_service/graph/digest.h"
#include "graph_service/graph/graph.h"
#include "graph_service/processor/processor.h"
#include "graph_service/snapshot/snapshot.h"
#include "graph_service/workload/workload.h"

namespace {

using vitrage::graph::Graph;
namespace snapshot = vitrage::snapshot;
namespace processor = vitrage::processor;
namespace workload = vitrage::workload;
namespace v1 = vitrage::v1;

// CPU time of the calling thread (less sensitive to a loaded machine).
double ThreadCpuMs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

double g_processor_cpu_eps = 0;

double NowMs() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

template <typename Fn>
double BestOf(int reps, Fn fn) {
  double best = 1e18;
  for (int i = 0; i < reps; ++i) {
    double t0 = NowMs();
    fn();
    best = std::min(best, NowMs() - t0);
  }
  return best;
}

void Check(const absl::Status& st, const char* what) {
  if (!st.ok()) {
    fprintf(stderr, "%s: %s\n", what, st.ToString().c_str());
    exit(1);
  }
}

long ProcStatusKb(const char* field) {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind(field, 0) == 0) return atol(line.c_str() + strlen(field) + 1);
  }
  return -1;
}

// Snapshot file for the RSS child: header, then chunks, each length-prefixed.
void WriteSnapshotFile(const snapshot::EncodedSnapshot& s, const std::string& path) {
  std::ofstream f(path, std::ios::binary);
  auto put = [&](const std::string& bytes) {
    uint64_t n = bytes.size();
    f.write(reinterpret_cast<const char*>(&n), sizeof n);
    f.write(bytes.data(), bytes.size());
  };
  put(s.header.SerializeAsString());
  for (const auto& c : s.chunks) put(c.SerializeAsString());
}

int RssChild(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  auto get = [&](std::string* out) {
    uint64_t n;
    if (!f.read(reinterpret_cast<char*>(&n), sizeof n)) return false;
    out->resize(n);
    return static_cast<bool>(f.read(out->data(), n));
  };
  std::string buf;
  get(&buf);
  v1::SnapshotHeader h;
  h.ParseFromString(buf);
  snapshot::SnapshotDecoder d;
  Check(d.Begin(h), "begin");
  while (get(&buf)) {
    v1::SnapshotChunk c;
    c.ParseFromString(buf);
    Check(d.AddChunk(c), "chunk");
  }
  Check(d.Finish(), "finish");
  Graph g = d.TakeGraph();
  printf("%zu %zu %ld %ld %zu\n", g.vertex_count(), g.edge_count(), ProcStatusKb("VmHWM"),
         ProcStatusKb("VmRSS"), g.ApproxHeapBytes());
  return 0;
}

std::string GitCommit(const std::string& src) {
  std::string cmd = "git -C " + src + " rev-parse --short HEAD 2>/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  char b[64] = {0};
  if (p && fgets(b, sizeof b, p)) {
    pclose(p);
    std::string s(b);
    while (!s.empty() && s.back() == '\n') s.pop_back();
    return s;
  }
  if (p) pclose(p);
  return "unknown";
}

struct Row {
  std::string metric;
  double value;
  std::string unit;
  std::string vitrage;
  std::string target;
  bool ok;
};

double ProcessorEventsPerSecond() {
  double eps = 0;
    Graph pg;
    processor::ProcessorOptions po;
    po.id_generator = processor::SeededUuidGenerator(1);
    po.clock = processor::SampleDatePlusHalfSecondClock();
    processor::Processor proc(&pg, po);
    const int kEntities = 10000;
    auto make = [&](int i, int round) {
      v1::MapValue m;
      auto put = [&](const char* k, const std::string& v) {
        auto* e = m.add_entries();
        e->set_key(k);
        e->mutable_value()->set_string_value(v);
      };
      put("vitrage_entity_type", "static");
      put("vitrage_datasource_action", "snapshot");
      put("vitrage_datasource_name", "static");
      put("vitrage_sample_date", absl::StrFormat("2024-05-01T10:%02d:%02dZ", round / 60, round % 60));
      put("static_id", absl::StrCat("s", i));
      put("type", "switch");
      put("id", absl::StrCat("switch-", i));
      put("state", round % 2 ? "available" : "error");
      auto* rels = m.add_entries();
      rels->set_key("relationships");
      auto* rel = rels->mutable_value()->mutable_list_value()->add_values()->mutable_map_value();
      auto* e = rel->add_entries();
      e->set_key("relationship_type");
      e->mutable_value()->set_string_value("attached");
      e = rel->add_entries();
      e->set_key("source");
      e->mutable_value()->set_string_value(absl::StrCat("s", i));
      e = rel->add_entries();
      e->set_key("target");
      auto* tm = e->mutable_value()->mutable_map_value();
      auto* te = tm->add_entries();
      te->set_key("type");
      te->mutable_value()->set_string_value("server");
      te = tm->add_entries();
      te->set_key("id");
      te->mutable_value()->set_string_value(absl::StrCat("server-", i / 4));
      return m;
    };
    for (int i = 0; i < kEntities; ++i) {
      v1::GraphDelta d;
      Check(proc.Process(processor::EventFromMapValue(make(i, 0)), &d), "warm");
    }
    const int kRounds = 10;
    std::vector<v1::MapValue> evs;
    evs.reserve(kEntities * kRounds);
    for (int r = 1; r <= kRounds; ++r) {
      for (int i = 0; i < kEntities; ++i) evs.push_back(make(i, r));
    }
    double s = NowMs();
    double cpu0 = ThreadCpuMs();
    size_t changes = 0;
    for (const auto& m : evs) {
      v1::GraphDelta d;
      Check(proc.Process(processor::EventFromMapValue(m), &d), "process");
      changes += d.changes_size();
    }
    double ms = NowMs() - s;
    eps = evs.size() / (ms / 1000.0);
    g_processor_cpu_eps = evs.size() / ((ThreadCpuMs() - cpu0) / 1000.0);
    fprintf(stderr, "processor: %zu events, %zu changes, %.0f ms\n", evs.size(), changes, ms);
  return eps;
}

int Profile(const std::string& what, const Graph& g, int reps) {
  snapshot::EncodeOptions eo;
  eo.compute_digest = false;
  if (getenv("GRAPH_BENCH_ZSTD_LEVEL")) eo.zstd_level = atoi(getenv("GRAPH_BENCH_ZSTD_LEVEL"));
  snapshot::DecodeOptions dopt;
  if (getenv("GRAPH_BENCH_SERIAL")) eo.parallel = dopt.parallel = false;
  dopt.verify_digest = false;
  auto enc = *snapshot::EncodeSnapshotToMemory(g, {}, {}, eo);
  double t0 = NowMs();
  for (int i = 0; i < reps; ++i) {
    if (what == "encode") enc = *snapshot::EncodeSnapshotToMemory(g, {}, {}, eo);
    if (what == "decode") Check(snapshot::DecodeSnapshot(enc.header, enc.chunks, nullptr, dopt).status(), "decode");
  }
  fprintf(stderr, "%s: %.1f ms per rep (level %d, %.2f MB)\n", what.c_str(), (NowMs() - t0) / reps,
          eo.zstd_level, enc.header.compressed_bytes() / 1e6);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string src = VITRAGE_SOURCE_DIR_DEFAULT;
  std::string shared = src + "/../shared";
  std::string results = src + "/bench/results/graph.tsv";
  int reps = 3;
  // --profile encode|decode|processor: only load and loop that part (for
  // perf record), print nothing else, append nothing.
  std::string profile;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--rss" && i + 1 < argc) return RssChild(argv[++i]);
    if (a == "--shared" && i + 1 < argc) shared = argv[++i];
    if (a == "--results" && i + 1 < argc) results = argv[++i];
    if (a == "--reps" && i + 1 < argc) reps = atoi(argv[++i]);
    if (a == "--profile" && i + 1 < argc) profile = argv[++i];
  }
  const std::string wl = shared + "/workload/";
  std::vector<Row> rows;

  if (profile == "processor") {
    fprintf(stderr, "%.0f events/s\n", ProcessorEventsPerSecond());
    fprintf(stderr, "%.0f events per CPU-second\n", g_processor_cpu_eps);
    return 0;
  }
  // Load (JSONL, informational).
  Graph g;
  double t0 = NowMs();
  Check(workload::LoadGraphFile(wl + "graph_100k.jsonl.zst", &g), "load");
  double load_ms = NowMs() - t0;
  fprintf(stderr, "loaded graph_100k: %zu vertices, %zu edges in %.0f ms\n", g.vertex_count(),
          g.edge_count(), load_ms);

  if (!profile.empty()) return Profile(profile, g, reps);

  // Digest.
  std::string digest;
  double digest_ms = BestOf(reps, [&] { digest = vitrage::graph::Digest(g); });

  // Snapshot encode.
  snapshot::SnapshotInfo info;
  info.seq = 1;
  info.epoch = 1;
  snapshot::SnapshotSections sections;
  snapshot::EncodedSnapshot enc;
  snapshot::EncodeOptions no_digest;
  no_digest.compute_digest = false;
  double enc_ms = BestOf(reps, [&] {
    enc = *snapshot::EncodeSnapshotToMemory(g, info, sections, no_digest);
  });
  double enc_digest_ms = BestOf(reps, [&] {
    enc = *snapshot::EncodeSnapshotToMemory(g, info, sections);
  });
  snapshot::EncodeOptions serial_enc = no_digest;
  serial_enc.parallel = false;
  double enc_serial_cpu_ms = 1e18;
  double enc_serial_ms = BestOf(reps, [&] {
    double c = ThreadCpuMs();
    enc = *snapshot::EncodeSnapshotToMemory(g, info, sections, serial_enc);
    enc_serial_cpu_ms = std::min(enc_serial_cpu_ms, ThreadCpuMs() - c);
  });
  double mb = enc.header.compressed_bytes() / 1e6;
  size_t max_chunk = 0;
  for (const auto& c : enc.chunks) max_chunk = std::max(max_chunk, c.data().size());

  // Snapshot decode + graph build.
  snapshot::DecodeOptions nv;
  nv.verify_digest = false;
  // The decoded graph is destroyed outside the timed region.
  double dec_ms = 1e18, dec_digest_ms = 1e18;
  for (int r = 0; r < reps; ++r) {
    for (bool verify : {false, true}) {
      double s = NowMs();
      auto res = snapshot::DecodeSnapshot(enc.header, enc.chunks, nullptr,
                                          verify ? snapshot::DecodeOptions() : nv);
      double ms = NowMs() - s;
      Check(res.status(), "decode");
      (verify ? dec_digest_ms : dec_ms) = std::min(verify ? dec_digest_ms : dec_ms, ms);
    }
  }
  snapshot::DecodeOptions serial_dec = nv;
  serial_dec.parallel = false;
  double dec_serial_ms = 1e18, dec_serial_cpu_ms = 1e18;
  for (int r = 0; r < reps; ++r) {
    double s = NowMs();
    double c = ThreadCpuMs();
    auto res = snapshot::DecodeSnapshot(enc.header, enc.chunks, nullptr, serial_dec);
    dec_serial_ms = std::min(dec_serial_ms, NowMs() - s);
    dec_serial_cpu_ms = std::min(dec_serial_cpu_ms, ThreadCpuMs() - c);
    Check(res.status(), "decode");
  }
  fprintf(stderr, "snapshot: %u chunks, %.1f MB uncompressed, %.2f MB compressed\n",
          enc.header.chunk_count(), enc.header.uncompressed_bytes() / 1e6,
          enc.header.compressed_bytes() / 1e6);

  // Event tail: deltas made once, then replayed (the recovery path).
  std::vector<v1::GraphDelta> deltas;
  {
    Graph scratch = g;
    t0 = NowMs();
    auto n = workload::ApplyEventTailFile(wl + "events_100k_10000.jsonl.zst", &scratch, &deltas);
    Check(n.status(), "tail");
  }
  double tail_parse_ms = NowMs() - t0;
  std::vector<v1::GraphDelta> wire(deltas.size());
  for (size_t i = 0; i < deltas.size(); ++i) wire[i].ParseFromString(deltas[i].SerializeAsString());
  double replay_ms = 1e18, replay_cpu_ms = 1e18;
  for (int r = 0; r < reps; ++r) {
    Graph copy = g;
    double s = NowMs();
    double c = ThreadCpuMs();
    for (const auto& d : wire) Check(copy.ApplyDelta(d), "apply");
    replay_ms = std::min(replay_ms, NowMs() - s);
    replay_cpu_ms = std::min(replay_cpu_ms, ThreadCpuMs() - c);
  }

  // Processor throughput: static entity update events on existing entities,
  // each naming one neighbour, in the proto form the collector sends.
  double eps = ProcessorEventsPerSecond();

  // Peak RSS of a process that holds the 100k graph (decoded from a snapshot).
  long hwm_kb = -1, rss_kb = -1;
  size_t heap = 0;
  {
    std::string path = absl::StrCat("/tmp/graph_bench_snapshot_", getpid(), ".bin");
    WriteSnapshotFile(enc, path);
    std::string cmd = absl::StrCat("/proc/", getpid(), "/exe --rss ", path);
    FILE* p = popen(cmd.c_str(), "r");
    size_t nv2 = 0, ne2 = 0;
    if (p == nullptr || fscanf(p, "%zu %zu %ld %ld %zu", &nv2, &ne2, &hwm_kb, &rss_kb, &heap) != 5) {
      fprintf(stderr, "rss child failed\n");
    }
    if (p) pclose(p);
    unlink(path.c_str());
  }
  double hwm_mib = hwm_kb / 1024.0;

  rows.push_back({"snapshot decode + graph build", dec_ms, "ms",
                   "1,087 ms unpickle + 413 ms id-cache", "<= 150 ms", dec_ms <= 150});
  rows.push_back({"  same, with digest verification", dec_digest_ms, "ms", "-", "-", true});
  rows.push_back({"  same, one thread", dec_serial_ms, "ms", "-", "-", true});
  rows.push_back({"  same, one thread, CPU time", dec_serial_cpu_ms, "ms", "-", "-", true});
  rows.push_back({"snapshot encode", enc_ms, "ms", "1.6-1.8 s", "<= 200 ms", enc_ms <= 200});
  rows.push_back({"  same, with digest", enc_digest_ms, "ms", "-", "-", true});
  rows.push_back({"  same, one thread", enc_serial_ms, "ms", "-", "-", true});
  rows.push_back({"  same, one thread, CPU time", enc_serial_cpu_ms, "ms", "-", "-", true});
  rows.push_back({"snapshot size (zstd-1)", mb, "MB", "4.8 MB zlib", "<= 4.8 MB", mb <= 4.8});
  rows.push_back({"  largest chunk", max_chunk / 1048576.0, "MiB", "-", "< 2 MiB",
                  max_chunk < (2u << 20)});
  rows.push_back({"apply 10,000-event tail (deltas)", replay_ms, "ms", "442 ms", "<= 20 ms",
                  replay_ms <= 20});
  rows.push_back({"  same, CPU time", replay_cpu_ms, "ms", "-", "-", true});
  rows.push_back({"  tail JSON parse + merge + delta", tail_parse_ms, "ms", "-", "-", true});
  rows.push_back({"processor, entity updates", eps, "events/s", "~4,000-9,000/s",
                  ">= 200,000/s", eps >= 200000});
  rows.push_back({"  same, events per CPU-second", g_processor_cpu_eps, "events/s", "-", "-", true});
  rows.push_back({"peak RSS holding the 100k graph", hwm_mib, "MiB", "~590 MiB", "<= 150 MiB",
                  hwm_mib > 0 && hwm_mib <= 150});
  rows.push_back({"digest (JSON + SHA-256)", digest_ms, "ms", "-", "-", true});
  rows.push_back({"JSONL load (nlohmann)", load_ms, "ms", "-", "-", true});
  // The machine is shared: record its 1-minute load average at the end.
  double loadavg[1] = {-1};
  getloadavg(loadavg, 1);
  rows.push_back({"machine load average (1 min, 2 cores)", loadavg[0], "", "-", "-", true});

  printf("graph_bench on graph_100k (%zu vertices, %zu edges), best of %d\n", g.vertex_count(),
         g.edge_count(), reps);
  printf("%-36s %14s  %-36s %-14s %s\n", "metric", "ours", "upstream Vitrage 9.0.0", "target", "");
  for (const auto& r : rows) {
    printf("%-36s %10.1f %-4s %-36s %-14s %s\n", r.metric.c_str(), r.value, r.unit.c_str(),
           r.vitrage.c_str(), r.target.c_str(), r.target == "-" ? "" : (r.ok ? "ok" : "MISSED"));
  }
  printf("(graph heap estimate in the RSS child: %.1f MiB; VmRSS after load %.1f MiB)\n",
         heap / 1048576.0, rss_kb / 1024.0);

  std::ofstream out(results, std::ios::app);
  std::string date = absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now(), absl::UTCTimeZone());
  std::string commit = GitCommit(src);
  for (const auto& r : rows) {
    std::string m = r.metric;
    while (!m.empty() && m[0] == ' ') m.erase(0, 1);
    out << date << '\t' << commit << '\t' << m << '\t' << absl::StrFormat("%.2f", r.value) << '\t'
        << r.unit << '\t' << r.target << '\n';
  }
  return 0;
}
