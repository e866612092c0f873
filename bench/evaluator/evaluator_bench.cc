// evaluator_bench: the template evaluator on graph_100k (100,077 vertices,
// 131,333 edges) with 10 templates (written by the bench, below), while the
// collector's change generator (collector/model.h, the same one the
// service's collector runs) changes the graph.
//
//   evaluator_bench [--workload DIR] [--results FILE] [--changes N] [--after N]
//       (DIR: the generated workloads, default this build's workload/)
//
// Measures, in one process (graph, real processor, evaluator, as in
// vitrage-graph's intake thread):
//   * fresh-start full pass (every match, every action done);
//   * full pass on the restored graph (every action found done: what
//     recovery adds), next to snapshot decode + graph build of the same
//     graph (what recovery costs without the evaluator);
//   * incremental evaluation of N generated changes: graph changes (the
//     GraphChange entries of the processor's deltas) evaluated per second
//     of evaluator time, actions included; then a full pass with a new
//     evaluator on a copy of the result must find nothing to do;
//   * recovery as vitrage-graph does it: a snapshot taken 10,000 events
//     before the end, a crash that lost the action records of the last
//     event that had actions, decode + replay of the tail (what recovery
//     costs without the evaluator), and what the evaluator adds: noting
//     the replayed records (EvaluatorGlue::NoteReplayed: the last external
//     record and the evaluator's records after it) and the recovery pass
//     (lazy index, evaluation around those). The recovered graph must
//     equal the live one (EVALUATOR_BENCH_VERBOSE=1 lists the lost and the
//     redone actions); then 2,000 more events are evaluated on it while
//     the index fills lazily.
// Prints a table and appends to bench/results/evaluator.tsv (date, git
// commit, metric, value, unit, target).
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "collector/model.h"
#include "graph_service/evaluator/evaluator.h"
#include "graph_service/evaluator/template.h"
#include "graph_service/graph/digest.h"
#include "graph_service/processor/passthrough_event.h"
#include "graph_service/processor/processor.h"
#include "graph_service/snapshot/snapshot.h"
#include "graph_service/workload/workload.h"

namespace {

namespace ev = vitrage::evaluator;
namespace v1 = vitrage::v1;
using vitrage::graph::Graph;

double NowMs() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// CPU time of this thread: the rates below are per second of CPU time, so
// other work on the (shared) machine does not count against them.
double CpuMs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

void Check(const absl::Status& s, const char* what) {
  if (!s.ok()) {
    fprintf(stderr, "%s: %s\n", what, std::string(s.message()).c_str());
    exit(1);
  }
}

// Ten templates over graph_100k's types: alarms named alarm-N are the
// change generator's (zabbix, on hosts and instances); zabbix-* are the
// workload's own.
const char* kTemplates[][2] = {
    {"t01_host_alarm_instances.yaml", R"(metadata: {version: 3, name: t01}
entities:
  host_alarm: {category: ALARM, type: zabbix, name.regex: alarm-.*}
  host: {type: nova.host}
  instance: {type: nova.instance}
scenarios:
  - condition: host_alarm [on] host AND host [contains] instance
    actions:
      - raise_alarm: {target: instance, alarm_name: instance at risk, severity: warning, causing_alarm: host_alarm}
)"},
    {"t02_host_alarm_host.yaml", R"(metadata: {version: 3, name: t02}
entities:
  host_alarm: {category: ALARM, type: zabbix, name.regex: alarm-.*}
  host: {type: nova.host}
scenarios:
  - condition: host_alarm [on] host
    actions:
      - set_state: {target: host, state: ERROR}
      - mark_down: {target: host}
)"},
    {"t03_instance_alarm.yaml", R"(metadata: {version: 3, name: t03}
entities:
  a: {category: ALARM, type: zabbix, name.regex: alarm-.*}
  instance: {type: nova.instance}
scenarios:
  - condition: a [on] instance
    actions:
      - set_state: {target: instance, state: SUBOPTIMAL}
)"},
    {"t04_instance_alarm_ports.yaml", R"(metadata: {version: 3, name: t04}
entities:
  a: {category: ALARM, type: zabbix, name.regex: alarm-.*}
  instance: {type: nova.instance}
  port: {type: neutron.port}
scenarios:
  - condition: a [on] instance AND port [attached] instance
    actions:
      - raise_alarm: {target: port, alarm_name: port affected, severity: warning, causing_alarm: a}
)"},
    {"t05_instance_alarm_volumes.yaml", R"(metadata: {version: 3, name: t05}
entities:
  a: {category: ALARM, type: zabbix, name.regex: alarm-.*}
  instance: {type: nova.instance}
  volume: {type: cinder.volume}
scenarios:
  - condition: a [on] instance AND volume [attached] instance
    actions:
      - set_state: {target: volume, state: SUBOPTIMAL}
)"},
    {"t06_causal_v2.yaml", R"(metadata:
  version: 2
  name: t06
definitions:
  entities:
    - entity: {category: ALARM, type: zabbix, template_id: host_alarm}
    - entity: {category: RESOURCE, type: nova.host, template_id: host}
    - entity: {category: RESOURCE, type: nova.instance, template_id: instance}
    - entity: {category: ALARM, type: vitrage, name: instance at risk, template_id: deduced}
  relationships:
    - relationship: {source: host_alarm, target: host, relationship_type: on, template_id: alarm_on_host}
    - relationship: {source: host, target: instance, relationship_type: contains, template_id: host_contains_instance}
    - relationship: {source: deduced, target: instance, relationship_type: on, template_id: deduced_on_instance}
scenarios:
  - scenario:
      condition: deduced_on_instance and host_contains_instance and alarm_on_host
      actions:
        - action:
            action_type: add_causal_relationship
            action_target: {source: host_alarm, target: deduced}
)"},
    {"t07_controller_unmonitored.yaml", R"(metadata: {version: 3, name: t07}
entities:
  controller: {type: tripleo.controller}
  z: {category: ALARM, type: zabbix}
scenarios:
  - condition: controller AND NOT z [on] controller
    actions:
      - raise_alarm: {target: controller, alarm_name: controller unmonitored, severity: critical}
)"},
    {"t08_controller_alarm.yaml", R"(metadata: {version: 3, name: t08}
entities:
  z: {category: ALARM, type: zabbix, name.regex: zabbix-.*}
  controller: {type: tripleo.controller}
scenarios:
  - condition: z [on] controller
    actions:
      - mark_down: {target: controller}
)"},
    {"t09_network.yaml", R"(metadata: {version: 3, name: t09}
entities:
  a: {category: ALARM, type: zabbix, name.regex: alarm-.*}
  instance: {type: nova.instance}
  port: {type: neutron.port}
  network: {type: neutron.network}
scenarios:
  - condition: a [on] instance AND port [attached] instance AND network [contains] port
    actions:
      - set_state: {target: network, state: SUBOPTIMAL}
)"},
    {"t10_critical_or.yaml", R"(metadata: {version: 3, name: t10}
entities:
  crit: {category: ALARM, type: zabbix, severity: CRITICAL}
  host: {type: nova.host}
  instance: {type: nova.instance}
scenarios:
  - condition: crit [on] host OR crit [on] instance
    actions:
      - set_state: {target: crit, state: ERROR}
)"},
};

struct Row {
  std::string metric;
  double value;
  std::string unit;
  std::string target;
  bool ok;
};

std::string GitCommit(const std::string& src) {
  std::string cmd = absl::StrCat("git -C ", src, " rev-parse --short HEAD 2>/dev/null");
  FILE* p = popen(cmd.c_str(), "r");
  char buf[64] = {0};
  if (p != nullptr) {
    if (fgets(buf, sizeof(buf), p) == nullptr) buf[0] = 0;
    pclose(p);
  }
  std::string s(buf);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s.empty() ? "unknown" : s;
}

// The templates written to `dir`; exits on an error (none is expected: the
// bench wrote them).
ev::TemplateSet LoadTemplates(const std::string& dir) {
  auto set = ev::LoadTemplateDir(dir);
  Check(set.status(), "templates");
  for (const auto& e : set->errors) fprintf(stderr, "template: %s\n", e.c_str());
  if (!set->errors.empty()) exit(1);
  return std::move(*set);
}

// A generated change as the collector pushes it (a passthrough event),
// through `proc`.
void ProcessChange(vitrage::processor::Processor& proc,
                   const std::vector<vitrage::processor::PassthroughOp>& ops,
                   v1::GraphDelta* delta) {
  v1::MapValue fields;
  vitrage::processor::EncodePassthrough(ops, "update", "2024-01-01T00:00:00Z", &fields);
  Check(proc.Process(vitrage::processor::EventFromMapValue(fields), delta), "process");
}

// What a new evaluator's full pass does (actions done + undone) on a copy
// of `g`: 0 when the incremental evaluation left `g` as the templates say.
uint64_t FullPassActionsOnCopy(const Graph& g, const std::string& dir) {
  Graph copy = g;
  vitrage::processor::Processor cproc(&copy);
  ev::Evaluator check(LoadTemplates(dir));
  Check(check.FullPass(copy,
                       [&](const v1::Event& e, const std::string&, v1::GraphDelta* d) {
                         return cproc.Process(vitrage::processor::EventFromMapValue(e.fields()), d);
                       }),
        "check full pass");
  return check.stats().actions_done + check.stats().actions_undone;
}

}  // namespace

int main(int argc, char** argv) {
  std::string src = VITRAGE_SOURCE_DIR_DEFAULT;
  std::string workload = VITRAGE_WORKLOAD_DIR_DEFAULT;
  std::string results = src + "/bench/results/evaluator.tsv";
  int changes = 50000;
  int after_events = 2000;  // evaluated after the recovery
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--workload" && i + 1 < argc) workload = argv[++i];
    if (a == "--results" && i + 1 < argc) results = argv[++i];
    if (a == "--changes" && i + 1 < argc) changes = atoi(argv[++i]);
    if (a == "--after" && i + 1 < argc) after_events = atoi(argv[++i]);
  }
  const std::string file = workload + "/graph_100k.jsonl.zst";

  // Templates.
  std::string dir = absl::StrCat("/tmp/evaluator_bench_", getpid());
  std::filesystem::create_directories(dir);
  for (const auto& t : kTemplates) std::ofstream(dir + "/" + t[0]) << t[1];
  ev::TemplateSet set = LoadTemplates(dir);
  const size_t n_templates = set.templates.size();
  const size_t n_scenarios = set.scenario_count();

  Graph g;
  Check(vitrage::workload::LoadGraphFile(file, &g), "load graph");
  vitrage::collector::Model model(1);
  Check(model.LoadTopologyFile(file), "load model");
  fprintf(stderr, "graph_100k: %zu vertices, %zu edges; %zu templates, %zu scenarios\n",
          g.vertex_count(), g.edge_count(), n_templates, n_scenarios);

  vitrage::processor::Processor proc(&g);
  ev::Evaluator evaluator(std::move(set));
  uint64_t applied_events = 0, action_changes = 0;
  // The journal records of the tail after the snapshot (delta, evaluator's).
  struct Record {
    v1::GraphDelta delta;
    bool evaluator;
    std::string kind;
  };
  std::vector<Record> tail;
  bool recording = false;
  ev::ApplyFn apply = [&](const v1::Event& e, const std::string& kind, v1::GraphDelta* delta) {
    ++applied_events;
    absl::Status s = proc.Process(vitrage::processor::EventFromMapValue(e.fields()), delta);
    action_changes += delta->changes_size();
    if (recording) tail.push_back({*delta, true, kind});
    return s;
  };
  auto push = [&](const std::vector<vitrage::processor::PassthroughOp>& ops,
                  v1::GraphDelta* delta) { ProcessChange(proc, ops, delta); };

  // Warm the graph with generated changes first (alarm-N alarms appear),
  // without evaluation: the fresh start then has work to do.
  for (int i = 0; i < 2000; ++i) {
    v1::GraphDelta d;
    push(model.NextChange("2024-01-01 00:00:00.000000+00:00"), &d);
  }

  double t0 = CpuMs();
  Check(evaluator.FullPass(g, apply), "fresh full pass");
  double fresh_ms = CpuMs() - t0;
  uint64_t fresh_actions = evaluator.stats().actions_done;

  t0 = CpuMs();
  Check(evaluator.FullPass(g, apply), "restored full pass");
  double restored_ms = CpuMs() - t0;
  uint64_t restored_actions = evaluator.stats().actions_done - fresh_actions;

  // Incremental: generated changes through the processor, each evaluated.
  uint64_t graph_changes = 0, done0 = evaluator.stats().actions_done,
           undone0 = evaluator.stats().actions_undone;
  action_changes = 0;
  const int kTail = std::min(10000, changes);  // events a recovery replays
  absl::StatusOr<vitrage::snapshot::EncodedSnapshot> enc;
  double eval_ms = 0, proc_ms = 0;
  std::vector<std::string> affected;
  for (int i = 0; i < changes; ++i) {
    if (i == changes - kTail) {
      enc = vitrage::snapshot::EncodeSnapshotToMemory(g, {}, {});
      Check(enc.status(), "encode");
      recording = true;
    }
    std::vector<vitrage::processor::PassthroughOp> ops =
        model.NextChange("2024-01-01 00:00:00.000000+00:00");
    v1::GraphDelta d;
    double a = CpuMs();
    push(ops, &d);
    double b = CpuMs();
    graph_changes += d.changes_size();
    if (recording) tail.push_back({d, false, ""});
    affected.clear();
    evaluator.CollectRelevant(g, d, &affected);  // as vitrage-graph's intake does
    Check(evaluator.Evaluate(g, affected, apply), "evaluate");
    double c = CpuMs();
    proc_ms += b - a;
    eval_ms += c - b;
  }
  // The log ends with an event that had actions (the crash below loses
  // them): a few more events, evaluated, until one has.
  int extra_events = 0;
  while (!tail.empty() && !tail.back().evaluator) {
    std::vector<vitrage::processor::PassthroughOp> ops =
        model.NextChange("2024-01-01 00:00:00.000000+00:00");
    v1::GraphDelta d;
    push(ops, &d);
    tail.push_back({d, false, ""});
    affected.clear();
    evaluator.CollectRelevant(g, d, &affected);
    Check(evaluator.Evaluate(g, affected, apply), "evaluate");
    ++extra_events;
  }
  recording = false;
  // The incremental evaluation left the graph as the templates say: a new
  // evaluator's full pass on a copy finds nothing to do or undo.
  const uint64_t check_actions = FullPassActionsOnCopy(g, dir);
  if (getenv("EVALUATOR_BENCH_PER_TYPE")) {
    // Cost of one evaluation around a vertex, by vitrage_type (diagnosis).
    std::map<std::string, std::vector<std::string>> by_type;
    g.ForEachVertex([&](vitrage::graph::Slot v) {
      auto& ids =
          by_type[std::string(g.VertexProps(v).GetString(vitrage::graph::keys::kVitrageType))];
      if (ids.size() < 300) ids.emplace_back(g.VertexId(v));
    });
    for (const auto& [type, ids] : by_type) {
      double a = NowMs();
      for (const auto& id : ids) Check(evaluator.Evaluate(g, {id}, apply), "evaluate");
      fprintf(stderr, "%-20s %8.1f us per evaluation (%zu)\n", type.c_str(),
              (NowMs() - a) * 1000 / ids.size(), ids.size());
    }
  }
  const uint64_t all_changes = graph_changes + action_changes;
  double cps = all_changes / (eval_ms / 1000.0);
  double gen_cps = graph_changes / (eval_ms / 1000.0);

  // Recovery. The crash lost the action records of the last event that had
  // actions (journaled, its actions not yet durable).
  size_t lost = 0;
  std::vector<std::string> lost_kinds;
  while (!tail.empty() && tail.back().evaluator) {
    lost_kinds.insert(lost_kinds.begin(), tail.back().kind);
    tail.pop_back();
    ++lost;
  }
  const std::string live_digest = vitrage::graph::Digest(g);
  vitrage::snapshot::DecodeOptions dopt;
  dopt.verify_digest = false;  // vitrage-graph's default (verify_snapshot_digest)
  // Recovery without the evaluator: decode + build (CPU time of one
  // thread: dopt.parallel off; the wall time with vitrage-graph's two
  // threads is printed too) and replay of the tail (CPU time), best of 3.
  // What the evaluator adds to replay: ReplayNotes::Note on every record,
  // timed alone over the tail's records (an upper bound: in the engine it
  // runs on the record just applied, hot in cache).
  double decode_ms = 1e18, decode_wall_ms = 1e18, replay_ms = 1e18, note_ms = 1e18;
  Graph rg;
  std::vector<std::string> noted;
  for (int round = 0; round < 3; ++round) {
    t0 = NowMs();
    auto wall = vitrage::snapshot::DecodeSnapshot(enc->header, enc->chunks, nullptr, dopt);
    Check(wall.status(), "decode");
    decode_wall_ms = std::min(decode_wall_ms, NowMs() - t0);
    vitrage::snapshot::DecodeOptions serial = dopt;
    serial.parallel = false;
    t0 = CpuMs();
    auto dec = vitrage::snapshot::DecodeSnapshot(enc->header, enc->chunks, nullptr, serial);
    Check(dec.status(), "decode");
    decode_ms = std::min(decode_ms, CpuMs() - t0);
    rg = std::move(*dec);
    double a = CpuMs();
    for (const Record& r : tail) Check(rg.ApplyDelta(r.delta), "replay");
    replay_ms = std::min(replay_ms, CpuMs() - a);
    ev::Evaluator::ReplayNotes notes;
    a = CpuMs();
    for (const Record& r : tail) notes.Note(r.delta, r.evaluator, 0);
    note_ms = std::min(note_ms, CpuMs() - a);
    noted = notes.ids();
  }
  const double without_ms = decode_ms + replay_ms;

  // The recovery pass, with a new evaluator (empty index).
  ev::Evaluator recovering(LoadTemplates(dir));
  vitrage::processor::Processor rproc(&rg);
  uint64_t rchanges = 0;
  std::vector<std::string> redone_kinds;
  ev::ApplyFn rapply = [&](const v1::Event& e, const std::string& kind, v1::GraphDelta* delta) {
    absl::Status s = rproc.Process(vitrage::processor::EventFromMapValue(e.fields()), delta);
    rchanges += delta->changes_size();
    redone_kinds.push_back(kind);
    return s;
  };
  const size_t noted_n = noted.size();
  t0 = CpuMs();
  Check(recovering.Recover(rg, std::move(noted), rapply), "recover");
  double recover_ms = CpuMs() - t0;
  uint64_t recover_actions = recovering.stats().actions_done + recovering.stats().actions_undone;
  const bool same = vitrage::graph::Digest(rg) == live_digest;
  if (recover_actions != lost && getenv("EVALUATOR_BENCH_VERBOSE")) {
    fprintf(stderr, "the crash lost:\n");
    for (const auto& k : lost_kinds) fprintf(stderr, "  %s\n", k.c_str());
    fprintf(stderr, "the recovery pass did:\n");
    for (const auto& k : redone_kinds) fprintf(stderr, "  %s\n", k.c_str());
  }

  // Carrying on after recovery while the index fills lazily.
  const int kAfter = after_events;
  double after_ms = 0;
  rchanges = 0;
  uint64_t after_changes = 0;
  for (int i = 0; i < kAfter; ++i) {
    v1::GraphDelta d;
    ProcessChange(rproc, model.NextChange("2024-01-01 00:00:00.000000+00:00"), &d);
    after_changes += d.changes_size();
    double a = CpuMs();
    affected.clear();
    recovering.CollectRelevant(rg, d, &affected);
    Check(recovering.Evaluate(rg, affected, rapply), "evaluate");
    after_ms += CpuMs() - a;
  }
  const double after_cps = (after_changes + rchanges) / (after_ms / 1000.0);
  // The lazy index missed nothing: a full pass on a copy finds nothing to do.
  const uint64_t after_check_actions = FullPassActionsOnCopy(rg, dir);
  std::filesystem::remove_all(dir);

  double eps = changes / (eval_ms / 1000.0);
  uint64_t done = evaluator.stats().actions_done - done0;
  uint64_t undone = evaluator.stats().actions_undone - undone0;

  const double overhead = (note_ms + recover_ms) / without_ms * 100.0;
  const double ratio = recover_ms / decode_ms * 100.0;
  std::vector<Row> rows = {
      {"graph changes evaluated per CPU second", cps, "changes/s", ">= 50,000/s", cps >= 50000},
      {"  of them from the generator's events", gen_cps, "changes/s", "-", true},
      {"  graph changes made by actions", static_cast<double>(action_changes), "", "-", true},
      {"  events evaluated per second", eps, "events/s", "-", true},
      {"  graph changes from the generator", static_cast<double>(graph_changes), "", "-", true},
      {"  actions done / undone", static_cast<double>(done + undone), "", "-", true},
      {"  processor CPU time for the same events", proc_ms, "ms", "-", true},
      {"  evaluator CPU time", eval_ms, "ms", "-", true},
      {"  full pass on a copy afterwards: actions", static_cast<double>(check_actions), "", "= 0",
       check_actions == 0},
      {"full pass, fresh start", fresh_ms, "ms", "-", true},
      {"  actions done by it", static_cast<double>(fresh_actions), "", "-", true},
      {"full pass, restored graph", restored_ms, "ms", "-", true},
      {"  actions done by it", static_cast<double>(restored_actions), "", "= 0",
       restored_actions == 0},
      {"snapshot decode + graph build (CPU, 1 thread)", decode_ms, "ms", "-", true},
      {"  wall time with 2 threads", decode_wall_ms, "ms", "-", true},
      {"replay of the tail (" + absl::StrCat(kTail + extra_events) + " events, " +
           absl::StrCat(tail.size()) + " records)",
       replay_ms, "ms", "-", true},
      {"recovery without the evaluator (decode + replay)", without_ms, "ms", "-", true},
      {"evaluator: noting the replayed records", note_ms, "ms", "-", true},
      {"evaluator: recovery pass", recover_ms, "ms", "-", true},
      {"  vertex ids it starts from", static_cast<double>(noted_n), "", "-", true},
      {"  action records the crash lost", static_cast<double>(lost), "", "-", true},
      // Not always equal: undoing is order-dependent (a causal edge goes
      // with its deduced alarm's vertex, or by its own action first).
      {"  actions done or undone by it", static_cast<double>(recover_actions), "", "-", true},
      {"  recovered graph equals the live graph", same ? 1.0 : 0.0, "", "= 1", same},
      {"recovery overhead (noting + pass) / (decode + replay)", overhead, "%", "<= 10%",
       overhead <= 10},
      {"recovery overhead (recovery pass / decode)", ratio, "%", "-", true},
      {"after recovery: changes evaluated per second (" + absl::StrCat(kAfter) + " events)",
       after_cps, "changes/s", "-", true},
      {"  full pass on a copy afterwards: actions", static_cast<double>(after_check_actions), "",
       "= 0", after_check_actions == 0},
      {"  index filled lazily: vertices covered",
       static_cast<double>(recovering.covered_vertices()), "", "-", true},
      {"  vertices whose tokens it read",
       static_cast<double>(recovering.stats().discovery_vertices), "", "-", true},
  };
  double loadavg[1] = {-1};
  getloadavg(loadavg, 1);
  rows.push_back({"machine load average (1 min, 2 cores)", loadavg[0], "", "-", true});

  printf(
      "evaluator_bench on graph_100k (%zu vertices, %zu edges after the run), %zu templates, "
      "%zu scenarios, %d generated changes\n",
      g.vertex_count(), g.edge_count(), n_templates, n_scenarios, changes);
  printf("%-56s %14s  %-12s %s\n", "metric", "value", "target", "");
  for (const auto& r : rows) {
    printf("%-56s %12.1f %-9s %-12s %s\n", r.metric.c_str(), r.value, r.unit.c_str(),
           r.target.c_str(), r.target == "-" ? "" : (r.ok ? "ok" : "MISSED"));
  }
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
