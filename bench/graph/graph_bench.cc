// graph_bench: the graph core on graph_100k (100,077 vertices, 131,333
// edges), next to what upstream Vitrage 9.0.0 measured on this machine.
//
//   graph_bench [--workload DIR] [--results FILE] [--reps N]
//       (DIR: the generated workloads, default this build's workload/)
//   graph_bench --profile encode|decode|processor|tail|sizes|memory [--reps N] [--no-lookahead]
//       (GRAPH_BENCH_GRAPH_CACHE=FILE: load graph_100k from a snapshot file;
//        GRAPH_BENCH_SYNTHETIC_HOSTS=N: profile the collector's synthetic
//        cloud of N hosts instead, e.g. 70000 for the 1M tier of issue 27;
//        GRAPH_BENCH_SERIAL: one thread, as the snapshot child;
//        GRAPH_BENCH_DIGEST: compute the digest, as the service does;
//        GRAPH_BENCH_HELPER: with SERIAL, a helper process, as the child;
//        GRAPH_BENCH_ZSTD_LEVEL=N)
//
// Prints a table (ours, Vitrage, target) and appends one line per metric to
// bench/results/graph.tsv (date, git commit, metric, value, unit, target).
// The peak-RSS figure comes from a child process (this binary with --rss
// SNAPSHOT_FILE) that only decodes a snapshot of the 100k graph, as a
// recovering vitrage-graph would.
//
// What the two tail figures time (best of --reps, wall and thread CPU):
//
// * "apply 10,000-event tail (journal replay)", the target (20 ms;
//   upstream 442 ms): the tail applied at failover. The workload's tail is
//   upstream's `events` table, and upstream applies it at start-up with
//   GraphPersistency.replay_events (each row's payload merged into its
//   vertex with graph.update_vertex); the 442 ms is that. Ours: the journal
//   records the live run below produced, in ReadLogResponse batches of up
//   to 256 KiB as the persistor serves them (Engine::kReadLogBatchBytes),
//   each batch decoded into the one response message (gRPC's reader does
//   this inside vitrage-graph, so it is timed) and its records applied in
//   order with Graph::ApplyDelta and the vertex lookahead (Recovery::Replay).
//   Until 2026-11-30 this row timed the live path below (the rows before
//   then under this name measure that, not the replay); the replay had its
//   own row, "replay of the tail's journal deltas", which decoded each
//   record's delta alone into one reused message.
// * "live intake of that tail (processor + record)": the 10,000 events of
//   events_100k_10000 applied to graph_100k through the processor, as
//   vitrage-graph receives them from `vitrage-collector --tail`: each tail
//   event becomes the pass-through event the collector sends (one
//   set_vertex op with the vertex's full new properties, built with
//   processor::EncodePassthrough as the collector does, action "update").
//   Timed, per PushEvents request, what vitrage-graph does with each
//   event on its apply path, with the service's own ProcessorHandler: Validate of every
//   event of the request (Engine::ApplyPush checks the whole request
//   first), then per event the vertex lookahead (ProcessorHandler::
//   Lookahead) and Handle (conversion of the v1::Event body, the
//   processor, the GraphDelta) into a JournalRecord on the per-event arena
//   (Engine::ApplyLocked), the record's fields (CommitRecordLocked) and its
//   encoding to bytes (JournalClient::Append), which are kept as the journal
//   buffer keeps them until durable; the record itself is freed after each
//   event. Not timed: reading and parsing the JSONL tail file and making
//   the events, which happen in the collector, not in vitrage-graph; the
//   protobuf wire decode, which gRPC does before the service sees the event
//   (reported on its own row, "same, with protobuf decode", so nothing is
//   hidden); the gRPC layer's request size limits (CheckPushEvents,
//   common/input_limits.h); locks, the journal's buffer bookkeeping and the
//   evaluator (bench/results/evaluator.tsv). The events come in PushEvents
//   requests of 256 (the collector's batch), each parsed just before its
//   events are processed, so they are in cache as in the service. The final
//   graph's digest is checked against the tail's final_graph_digest, after
//   both the live run and the replay.
// * "processor, entity updates": 100,000 static-datasource update events
//   (state flip + sample date, one neighbour each) on 10,000 existing
//   entities, from the parsed v1::Event body to the applied change and its
//   delta, on one thread (Convert + Process, as above), timed in batches of
//   256 events made just before each batch.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "collector/model.h"
#include "common/reusable_arena.h"
#include "google/protobuf/arena.h"
#include "graph_service/graph/digest.h"
#include "graph_service/graph/graph.h"
#include "graph_service/graph/json_value.h"
#include "graph_service/processor/passthrough_event.h"
#include "graph_service/processor/processor.h"
#include "graph_service/service/engine.h"
#include "graph_service/service/processor_handler.h"
#include "graph_service/snapshot/snapshot.h"
#include "graph_service/workload/workload.h"
#include "nlohmann/json.hpp"
#include "vitrage/v1/journal.pb.h"
#include "vitrage/v1/persistor.pb.h"

namespace {

using vitrage::graph::Graph;
namespace snapshot = vitrage::snapshot;
namespace processor = vitrage::processor;
namespace workload = vitrage::workload;
namespace v1 = vitrage::v1;

// CPU time of the calling thread (less sensitive to a loaded machine).
double CpuMs(clockid_t clock) {
  timespec ts;
  clock_gettime(clock, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

// CPU of this thread, and of every thread of this process (the codec's
// worker included).
double ThreadCpuMs() { return CpuMs(CLOCK_THREAD_CPUTIME_ID); }
double ProcessCpuMs() { return CpuMs(CLOCK_PROCESS_CPUTIME_ID); }

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

// Reads a file WriteSnapshotFile wrote and decodes the graph.
Graph ReadSnapshotFile(const std::string& path) {
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
  return d.TakeGraph();
}

int RssChild(const std::string& path) {
  Graph g = ReadSnapshotFile(path);
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
  // Timed in batches of 256 events made just before (hot in cache, as a
  // PushEvents request that gRPC has just parsed).
  const int kRounds = 10;
  constexpr int kBatch = 256;
  size_t changes = 0, n = 0;
  double ms = 0, cpu_ms = 0;
  std::vector<v1::MapValue> batch;
  for (int r = 1; r <= kRounds; ++r) {
    for (int i = 0; i < kEntities; i += kBatch) {
      batch.clear();
      for (int k = i; k < std::min(kEntities, i + kBatch); ++k) batch.push_back(make(k, r));
      double s = NowMs();
      double cpu0 = ThreadCpuMs();
      for (const auto& m : batch) {
        v1::GraphDelta d;
        Check(proc.Process(processor::EventFromMapValue(m), &d), "process");
        changes += d.changes_size();
      }
      ms += NowMs() - s;
      cpu_ms += ThreadCpuMs() - cpu0;
      n += batch.size();
    }
  }
  eps = n / (ms / 1000.0);
  g_processor_cpu_eps = n / (cpu_ms / 1000.0);
  fprintf(stderr, "processor: %zu events, %zu changes, %.0f ms\n", n, changes, ms);
  return eps;
}

// The tail as vitrage-graph receives it (see the top comment), and the
// timings of applying it through the processor and replaying its deltas.
struct TailResult {
  double process_ms = 1e18, process_cpu_ms = 1e18;
  double with_decode_ms = 1e18;
  double replay_ms = 1e18, replay_cpu_ms = 1e18;
  size_t events = 0, changes = 0;
  bool digest_ok = false;
};

// --no-lookahead: the tail and its replay without graph::VertexLookahead
// (the service always uses it; for before/after comparisons).
bool g_lookahead = true;

// The collector's tail events (serialized v1::Event).
std::vector<std::string> MakeTailEvents(const std::string& path, const Graph& g) {
  Graph scratch = g;
  auto reader = workload::LineReader::Open(path);
  Check(reader.status(), "tail open");
  std::vector<std::string> out;
  std::string line;
  while ((*reader)->Next(&line)) {
    if (line.empty()) continue;
    nlohmann::json j = nlohmann::json::parse(line);
    Check(workload::ApplyEvent(j, &scratch, nullptr), "tail event");
    // As collector::Model::ApplyTailEvent: the element's full new state.
    std::vector<processor::PassthroughOp> ops(1);
    const nlohmann::json& p = j["payload"];
    if (j.value("is_vertex", true)) {
      ops[0].kind = processor::PassthroughOp::kSetVertex;
      ops[0].id = p["vertex_id"].get<std::string>();
      ops[0].props = scratch.VertexProps(scratch.FindVertex(ops[0].id));
    } else {
      ops[0].kind = processor::PassthroughOp::kSetEdge;
      ops[0].source = p["source_id"].get<std::string>();
      ops[0].target = p["target_id"].get<std::string>();
      ops[0].label = p["relationship_type"].get<std::string>();
      ops[0].props =
          scratch.EdgeProps(scratch.FindEdge(ops[0].source, ops[0].target, ops[0].label));
    }
    v1::Event ev;
    ev.set_source("bench");
    ev.set_source_seq(out.size() + 1);
    processor::EncodePassthrough(ops, "update", "2024-05-01T10:00:00Z", ev.mutable_fields());
    out.push_back(ev.SerializeAsString());
  }
  Check((*reader)->status(), "tail read");
  return out;
}

TailResult TailBench(const std::string& wl, const Graph& g, int reps) {
  TailResult r;
  // PushEvents requests of 256 events (the collector's outbox batch size).
  constexpr int kBatch = 256;
  std::vector<std::string> batches;
  {
    std::vector<std::string> wire = MakeTailEvents(wl + "events_100k_10000.jsonl.zst", g);
    r.events = wire.size();
    v1::PushEventsRequest req;
    for (size_t i = 0; i < wire.size(); ++i) {
      req.add_events()->ParseFromString(wire[i]);
      if (req.events_size() == kBatch || i + 1 == wire.size()) {
        batches.push_back(req.SerializeAsString());
        req.Clear();
      }
    }
  }
  std::string want;
  {
    std::ifstream meta(wl + "events_100k_10000.meta.json");
    want = nlohmann::json::parse(meta)["final_graph_digest"].get<std::string>();
  }
  processor::ProcessorOptions po;
  po.id_generator = processor::SeededUuidGenerator(1);
  // The journal's records (serialized v1::JournalRecord), from the first run.
  std::vector<std::string> records;
  for (int rep = 0; rep < reps; ++rep) {
    for (bool decode : {false, true}) {
      Graph copy = g;
      vitrage::service::ProcessorHandler handler(&copy, po);
      // The journal buffer holds each record's bytes until it is durable.
      std::vector<std::string> journal;
      journal.reserve(r.events);
      // Engine::ApplyLocked's arena: one record per event, reset after it.
      vitrage::ReusableArena arena(256 << 10, 1 << 20);
      uint64_t seq = 0;
      double ms = 0, cpu = 0;
      for (const std::string& bytes : batches) {
        // gRPC hands the service a parsed request: parsing it is timed only
        // in the "with protobuf decode" run.
        v1::PushEventsRequest req;
        double s = NowMs(), c = ThreadCpuMs();
        if (!decode) {
          if (!req.ParseFromString(bytes)) Check(absl::DataLossError("request decode"), "tail");
          s = NowMs();
          c = ThreadCpuMs();
        } else if (!req.ParseFromString(bytes)) {
          Check(absl::DataLossError("request decode"), "tail");
        }
        // Engine::ApplyPush: the whole request is validated first.
        for (const v1::Event& ev : req.events()) Check(handler.Validate(ev), "tail validate");
        for (int i = 0; i < req.events_size(); ++i) {
          const v1::Event& ev = req.events(i);
          if (g_lookahead) handler.Lookahead(req.events(), i);
          // Engine::ApplyLocked + CommitRecordLocked + JournalClient::Append.
          v1::JournalRecord& rec =
              *google::protobuf::Arena::CreateMessage<v1::JournalRecord>(arena.get());
          handler.Handle(ev, &copy, rec.mutable_delta(), rec.mutable_event_kind());
          rec.set_source(ev.source());
          rec.set_source_seq(ev.source_seq());
          rec.set_seq(++seq);
          rec.set_time_unix_micros(absl::ToUnixMicros(absl::Now()));
          rec.set_epoch(1);
          journal.emplace_back();
          rec.SerializeToString(&journal.back());
          arena.Reset();
        }
        ms += NowMs() - s;
        cpu += ThreadCpuMs() - c;
      }
      if (handler.skipped() != 0) {
        fprintf(stderr, "tail: %lu events not applied\n",
                static_cast<unsigned long>(handler.skipped()));
        exit(1);
      }
      if (decode) {
        r.with_decode_ms = std::min(r.with_decode_ms, ms);
      } else {
        r.process_ms = std::min(r.process_ms, ms);
        r.process_cpu_ms = std::min(r.process_cpu_ms, cpu);
      }
      if (rep == 0 && !decode) {
        r.digest_ok = vitrage::graph::Digest(copy) == want;
        if (!r.digest_ok) fprintf(stderr, "tail: digest mismatch (want %s)\n", want.c_str());
        records = std::move(journal);
      }
    }
  }
  // Recovery: the journal's records as ReadLog serves them (ReadLogResponse
  // batches of up to 256 KiB, Engine::kReadLogBatchBytes), each batch
  // decoded into the one response message (gRPC's reader does it inside
  // vitrage-graph) and its records applied in order with the vertex
  // lookahead (Recovery::Replay).
  constexpr size_t kReadLogBatchBytes = vitrage::service::Engine::kReadLogBatchBytes;
  std::vector<std::string> responses;
  r.changes = 0;
  {
    v1::ReadLogResponse resp;
    size_t bytes = 0;
    for (const std::string& rec : records) {
      if (!resp.add_records()->ParseFromString(rec)) {
        Check(absl::DataLossError("record decode"), "tail");
      }
      r.changes += resp.records(resp.records_size() - 1).delta().changes_size();
      bytes += rec.size();
      if (bytes >= kReadLogBatchBytes) {
        responses.push_back(resp.SerializeAsString());
        resp.Clear();
        bytes = 0;
      }
    }
    if (resp.records_size() > 0) responses.push_back(resp.SerializeAsString());
  }
  for (int rep = 0; rep < reps; ++rep) {
    Graph copy = g;
    double s = NowMs();
    double c = ThreadCpuMs();
    v1::ReadLogResponse resp;  // one per ReadLog call, as Recovery::Replay's
    for (const std::string& bytes : responses) {
      if (!resp.ParseFromString(bytes)) Check(absl::DataLossError("batch decode"), "replay");
      vitrage::graph::VertexLookahead ahead(&copy);
      const int n = resp.records_size();
      for (int i = 0; i < n; ++i) {
        if (g_lookahead)
          ahead.Before(i, n, [&](int j) {
            return vitrage::graph::VertexLookahead::FirstVertexId(resp.records(j).delta());
          });
        Check(copy.ApplyDelta(resp.records(i).delta()), "replay");
      }
    }
    r.replay_ms = std::min(r.replay_ms, NowMs() - s);
    r.replay_cpu_ms = std::min(r.replay_cpu_ms, ThreadCpuMs() - c);
    if (rep == 0 && vitrage::graph::Digest(copy) != want) {
      fprintf(stderr, "replay: digest mismatch\n");
      r.digest_ok = false;
    }
  }
  fprintf(stderr, "tail: %zu events, %zu changes, digest %s\n", r.events, r.changes,
          r.digest_ok ? "ok" : "MISMATCH");
  return r;
}

// --profile sizes: where a snapshot's compressed bytes go. For each
// property key, the column of its values over the vertices in snapshot
// (id) order, as text, compressed alone with zstd level 1; the vertex ids
// likewise; and the snapshot itself in format 3 and in the current format.
// Columns that stay large after compression are entropy zstd cannot
// remove (random ids written as hex text were most of the 1M snapshot).
int SizesProfile(const Graph& g) {
  auto z = [](const std::string& s) {
    std::string out(ZSTD_compressBound(s.size()), '\0');
    const size_t n = ZSTD_compress(out.data(), out.size(), s.data(), s.size(), 1);
    return ZSTD_isError(n) ? s.size() : n;
  };
  std::map<std::string, std::string> columns;
  for (vitrage::graph::Slot v : g.VerticesById()) {
    const absl::string_view id = g.VertexId(v);
    columns["(vertex id)"].append(id.data(), id.size()).push_back('\n');
    for (const auto& [key, value] : g.VertexProps(v)) {
      std::string& col = columns[std::string(vitrage::graph::KeyName(key))];
      if (value.is_string()) {
        const absl::string_view t = value.string_value();
        col.append(t.data(), t.size());
      } else {
        vitrage::graph::AppendPythonJson(value, &col);
      }
      col.push_back('\n');
    }
  }
  std::vector<std::pair<size_t, std::string>> order;
  std::map<std::string, size_t> raw;
  for (const auto& [key, col] : columns) {
    order.emplace_back(z(col), key);
    raw[key] = col.size();
  }
  std::sort(order.rbegin(), order.rend());
  fprintf(stderr, "%zu vertices, %zu edges; vertex columns by compressed size (zstd 1, alone):\n",
          g.vertex_count(), g.edge_count());
  for (const auto& [n, key] : order) {
    fprintf(stderr, "  %-36s raw %9.2f MB  compressed %8.2f MB\n", key.c_str(), raw[key] / 1e6,
            n / 1e6);
  }
  for (uint32_t version : {3u, snapshot::kFormatVersion}) {
    snapshot::EncodeOptions eo;
    eo.compute_digest = false;
    eo.format_version = version;
    auto enc = snapshot::EncodeSnapshotToMemory(g, {}, {}, eo);
    Check(enc.status(), "encode");
    fprintf(stderr, "snapshot format %u: %.2f MB (bodies %.2f MB)\n", version,
            enc->header.compressed_bytes() / 1e6, enc->header.uncompressed_bytes() / 1e6);
  }
  return 0;
}

// --profile memory: where the in-memory graph's bytes go: members per
// element, distinct key sets, heap strings by key, the graph's own estimate
// (graph_bench --rss FILE gives the process's peak for the same load).
int MemoryProfile(const Graph& g) {
  size_t vmembers = 0, emembers = 0, vcap = 0, ecap = 0;
  std::map<std::string, std::pair<size_t, size_t>> heap_by_key;  // count, bytes
  std::map<size_t, size_t> vsizes, esizes;
  std::map<std::string, size_t> shapes;
  g.ForEachVertex([&](vitrage::graph::Slot v) {
    const auto& p = g.VertexProps(v);
    vmembers += p.size();
    vcap += p.capacity();
    vsizes[p.size()]++;
    std::string shape;
    for (const auto& [k, val] : p) {
      absl::StrAppend(&shape, k, ",");
      size_t hb = val.HeapBytes();
      if (hb) {
        auto& e = heap_by_key[std::string(vitrage::graph::KeyName(k))];
        e.first++;
        e.second += hb;
      }
    }
    shapes[shape]++;
  });
  g.ForEachEdge([&](vitrage::graph::Slot e) {
    const auto& p = g.EdgeProps(e);
    emembers += p.size();
    ecap += p.capacity();
    esizes[p.size()]++;
    for (const auto& [k, val] : p) {
      size_t hb = val.HeapBytes();
      if (hb) {
        auto& x = heap_by_key[absl::StrCat("edge:", vitrage::graph::KeyName(k))];
        x.first++;
        x.second += hb;
      }
    }
  });
  fprintf(stderr,
          "%zu vertices, %zu vertex members (cap %zu), %zu edges, %zu edge members (cap %zu)\n",
          g.vertex_count(), vmembers, vcap, g.edge_count(), emembers, ecap);
  fprintf(stderr, "distinct vertex key shapes: %zu\n", shapes.size());
  for (auto& [n, c] : vsizes) fprintf(stderr, "  vertex size %zu: %zu\n", n, c);
  for (auto& [n, c] : esizes) fprintf(stderr, "  edge size %zu: %zu\n", n, c);
  for (auto& [k, e] : heap_by_key)
    fprintf(stderr, "  heap %-32s %9zu values %8.1f MB\n", k.c_str(), e.first, e.second / 1e6);
  fprintf(stderr, "ApproxHeapBytes %.1f MB\n", g.ApproxHeapBytes() / 1e6);
  return 0;
}

int Profile(const std::string& what, const Graph& g, int reps) {
  if (what == "sizes") return SizesProfile(g);
  if (what == "memory") return MemoryProfile(g);
  snapshot::EncodeOptions eo;
  eo.compute_digest = getenv("GRAPH_BENCH_DIGEST") != nullptr;  // as the service's snapshots
  if (getenv("GRAPH_BENCH_ZSTD_LEVEL")) eo.zstd_level = atoi(getenv("GRAPH_BENCH_ZSTD_LEVEL"));
  // GRAPH_BENCH_FORMAT=3: the previous format (no compact forms), for A/B.
  if (getenv("GRAPH_BENCH_FORMAT")) eo.format_version = atoi(getenv("GRAPH_BENCH_FORMAT"));
  snapshot::DecodeOptions dopt;
  if (getenv("GRAPH_BENCH_SERIAL")) eo.parallel = dopt.parallel = false;
  eo.helper_process = getenv("GRAPH_BENCH_HELPER") != nullptr;  // with SERIAL
  dopt.verify_digest = false;
  snapshot::EncodedSnapshot enc;
  if (what == "decode") enc = *snapshot::EncodeSnapshotToMemory(g, {}, {}, eo);
  // CPU besides wall time: on a shared machine the wall time says more
  // about the load. The helper process's CPU counts as the children's.
  auto children_cpu_ms = [] {
    rusage ru;
    getrusage(RUSAGE_CHILDREN, &ru);
    return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
           (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
  };
  for (int i = 0; i < reps; ++i) {
    const double t0 = NowMs(), c0 = ThreadCpuMs(), p0 = ProcessCpuMs(), k0 = children_cpu_ms();
    if (what == "encode") enc = *snapshot::EncodeSnapshotToMemory(g, {}, {}, eo);
    if (what == "decode")
      Check(snapshot::DecodeSnapshot(enc.header, enc.chunks, nullptr, dopt).status(), "decode");
    fprintf(stderr,
            "%s: %.1f ms (thread CPU %.1f ms, process %.1f ms, helper %.1f ms; level %d, %.2f MB, "
            "body %.2f MB)\n",
            what.c_str(), NowMs() - t0, ThreadCpuMs() - c0, ProcessCpuMs() - p0,
            children_cpu_ms() - k0, eo.zstd_level, enc.header.compressed_bytes() / 1e6,
            enc.header.uncompressed_bytes() / 1e6);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string src = VITRAGE_SOURCE_DIR_DEFAULT;
  std::string wl = VITRAGE_WORKLOAD_DIR_DEFAULT "/";
  std::string results = src + "/bench/results/graph.tsv";
  int reps = 3;
  // --profile encode|decode|processor|tail: only load and loop that part (for
  // perf record), print nothing else, append nothing.
  std::string profile;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--rss" && i + 1 < argc) return RssChild(argv[++i]);
    if (a == "--workload" && i + 1 < argc) wl = std::string(argv[++i]) + "/";
    if (a == "--results" && i + 1 < argc) results = argv[++i];
    if (a == "--reps" && i + 1 < argc) reps = atoi(argv[++i]);
    if (a == "--profile" && i + 1 < argc) profile = argv[++i];
    if (a == "--no-lookahead") g_lookahead = false;
  }
  std::vector<Row> rows;

  if (profile == "processor") {
    fprintf(stderr, "%.0f events/s\n", ProcessorEventsPerSecond());
    fprintf(stderr, "%.0f events per CPU-second\n", g_processor_cpu_eps);
    return 0;
  }
  // Load (JSONL, informational).
  Graph g;
  double t0 = NowMs();
  // --profile with GRAPH_BENCH_GRAPH_CACHE=FILE: the graph comes from (or is
  // saved to) that snapshot file, which is much faster to load under
  // valgrind --tool=callgrind than the JSONL file.
  const char* cache = profile.empty() ? nullptr : getenv("GRAPH_BENCH_GRAPH_CACHE");
  const char* synthetic = profile.empty() ? nullptr : getenv("GRAPH_BENCH_SYNTHETIC_HOSTS");
  if (cache != nullptr && access(cache, R_OK) == 0) {
    g = ReadSnapshotFile(cache);
  } else {
    if (synthetic != nullptr) {
      vitrage::collector::Model model(1);
      model.BuildSynthetic(vitrage::collector::SyntheticForHosts(atoi(synthetic)));
      g = model.graph();
    } else {
      Check(workload::LoadGraphFile(wl + "graph_100k.jsonl.zst", &g), "load");
    }
    if (cache != nullptr) {
      snapshot::EncodeOptions eo;
      eo.compute_digest = false;
      WriteSnapshotFile(*snapshot::EncodeSnapshotToMemory(g, {}, {}, eo), cache);
    }
  }
  double load_ms = NowMs() - t0;
  fprintf(stderr, "loaded %s: %zu vertices, %zu edges in %.0f ms\n",
          synthetic ? "synthetic cloud" : "graph_100k", g.vertex_count(), g.edge_count(), load_ms);

  // GRAPH_BENCH_PRINT_DIGEST: the loaded graph's digest (to compare a
  // snapshot file another build wrote with the workload's meta.json).
  if (getenv("GRAPH_BENCH_PRINT_DIGEST"))
    fprintf(stderr, "digest %s\n", vitrage::graph::Digest(g).c_str());
  if (profile == "tail") {
    TailResult t = TailBench(wl, g, reps);
    fprintf(stderr, "tail: %.2f ms (CPU %.2f), with decode %.2f ms; replay %.2f ms (CPU %.2f)\n",
            t.process_ms, t.process_cpu_ms, t.with_decode_ms, t.replay_ms, t.replay_cpu_ms);
    return t.digest_ok ? 0 : 1;
  }
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
  double enc_ms =
      BestOf(reps, [&] { enc = *snapshot::EncodeSnapshotToMemory(g, info, sections, no_digest); });
  double enc_digest_ms =
      BestOf(reps, [&] { enc = *snapshot::EncodeSnapshotToMemory(g, info, sections); });
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

  // Event tail: the workload's own merge (JSON parse included, informational).
  {
    Graph scratch = g;
    t0 = NowMs();
    Check(workload::ApplyEventTailFile(wl + "events_100k_10000.jsonl.zst", &scratch).status(),
          "tail");
  }
  double tail_parse_ms = NowMs() - t0;
  // Through the processor, and the recovery replay of its deltas.
  TailResult tail = TailBench(wl, g, reps);

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
    if (p == nullptr ||
        fscanf(p, "%zu %zu %ld %ld %zu", &nv2, &ne2, &hwm_kb, &rss_kb, &heap) != 5) {
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
  rows.push_back(
      {"  largest chunk", max_chunk / 1048576.0, "MiB", "-", "< 2 MiB", max_chunk < (2u << 20)});
  rows.push_back({"apply 10,000-event tail (journal replay)", tail.replay_ms, "ms",
                  "442 ms replay_events", "<= 20 ms", tail.digest_ok && tail.replay_ms <= 20});
  rows.push_back({"  same, CPU time", tail.replay_cpu_ms, "ms", "-", "-", true});
  rows.push_back(
      {"  final digest matches (1 = yes)", tail.digest_ok ? 1.0 : 0.0, "", "-", "-", true});
  rows.push_back(
      {"live intake of that tail (processor + record)", tail.process_ms, "ms", "-", "-", true});
  rows.push_back({"  same, CPU time", tail.process_cpu_ms, "ms", "-", "-", true});
  rows.push_back({"  same, with protobuf decode", tail.with_decode_ms, "ms", "-", "-", true});
  rows.push_back({"  tail JSON parse + merge (workload)", tail_parse_ms, "ms", "-", "-", true});
  rows.push_back({"processor, entity updates", eps, "events/s", "~4,000-9,000/s", ">= 200,000/s",
                  eps >= 200000});
  rows.push_back(
      {"  same, events per CPU-second", g_processor_cpu_eps, "events/s", "-", "-", true});
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
  printf("%-44s %14s  %-36s %-14s %s\n", "metric", "ours", "upstream Vitrage 9.0.0", "target", "");
  for (const auto& r : rows) {
    printf("%-44s %10.1f %-4s %-36s %-14s %s\n", r.metric.c_str(), r.value, r.unit.c_str(),
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
