// rpc_load_bench: calls per second of the RPC API over a real bus, under
// concurrent clients. A private RabbitMQ (common/testing/rabbitmq_fixture.h),
// our RpcServer on graph_100k (the server vitrage-graph runs, with its
// default workers), and upstream's own server on the same graph
// (upstream_rpc_server.py: python3-vitrage's handler classes behind
// oslo.messaging's RPC server, as its ApiWorker runs them). N client
// threads, each with its own connection and reply queue, send the calls
// vitrage-api sends for `vitrage resource show ID` (show_resource, a
// random resource each time) and `vitrage alarm list` (get_alarms), one
// call at a time each, for a fixed time. Prints a table (calls/s, median
// and p99 latency; ours, upstream, ratio) and appends to
// bench/results/rpc_api.tsv. Then get_topology --all-tenants through
// oslo's RPC client on both servers (rpc_call_timer.py), and `vitrage
// topology show --all-tenants` end to end through the real vitrage-api
// (Debian's, noauth) in front of ours.
//
//   rpc_load_bench [--graph FILE] [--seconds S] [--clients 1,4,16]
//                  [--workers N] [--no-upstream] [--no-e2e]
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/huge_page_heap.h"
#include "common/testing/process.h"
#include "common/testing/rabbitmq_fixture.h"
#include "graph_service/amqp/connection.h"
#include "graph_service/amqp/transport_url.h"
#include "graph_service/notifications/oslo_envelope.h"
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
using vitrage::rpc_api::GraphAccess;

class BenchAccess : public GraphAccess {
 public:
  explicit BenchAccess(vitrage::graph::Graph* g) : g_(g) {}
  bool Active() const override { return true; }
  absl::StatusOr<json> Read(const ReadFn& fn) override {
    absl::ReaderMutexLock l(&mu_);
    return fn(*g_, nullptr);
  }

 private:
  absl::Mutex mu_;
  vitrage::graph::Graph* g_;
};

struct Load {
  std::string name;  // the operator's command
  std::string method;
  // The call's arguments; show_resource gets a random resource id.
  json args;
};

struct Result {
  double calls_per_s = 0;
  double p50_ms = 0, p99_ms = 0;
  int64_t calls = 0, errors = 0;
  std::string first_error;
};

const json kCtx = {{"project_id", "admin"}, {"is_admin", true},        {"user_id", "admin"},
                   {"user_name", "admin"},  {"tenant", "admin"},       {"auth_token", nullptr},
                   {"request_id", "req-1"}, {"read_only", false},      {"show_deleted", false},
                   {"roles", {"admin"}},    {"is_admin_project", true}};

// One client: its own connection and reply queue (declared as oslo's
// client declares it: a direct exchange and a queue of the same name, so
// that both oslo's server, which replies through that exchange, and ours,
// which replies through the default exchange, reach it).
void Client(const vitrage::amqp::TransportUrl& url, const std::string& topic, int index,
            const Load& load, const std::vector<std::string>& ids, absl::Time until,
            std::vector<double>* latencies, int64_t* errors, std::string* first_error) {
  vitrage::amqp::ConnectionOptions co;
  co.url = url;
  co.name = "rpc_load_bench";
  co.timeout = absl::Seconds(60);
  auto conn = vitrage::amqp::Connection::Open(co, url.hosts[0]);
  if (!conn.ok()) {
    ++*errors;
    *first_error = conn.status().ToString();
    return;
  }
  vitrage::amqp::Connection& c = **conn;
  const std::string reply_q = absl::StrCat("reply_bench_", getpid(), "_", topic, "_", index);
  absl::Status s = c.DeclareExchange(reply_q, "direct", false, true);
  if (s.ok()) s = c.DeclareQueue(reply_q, false, true).status();
  if (s.ok()) s = c.BindQueue(reply_q, reply_q, reply_q);
  if (s.ok()) s = c.Consume(reply_q);
  if (!s.ok()) {
    ++*errors;
    *first_error = s.ToString();
    return;
  }
  std::mt19937_64 rng(index * 7919 + 1);
  while (absl::Now() < until) {
    json msg = {{"method", load.method}, {"args", load.args}};
    if (load.method == "show_resource") msg["args"]["vitrage_id"] = ids[rng() % ids.size()];
    // Unique over the whole run: oslo's server drops a _unique_id it saw.
    static std::atomic<uint64_t> serial{0};
    const std::string msg_id = absl::StrCat(topic, "-", index, "-", serial++);
    msg["_msg_id"] = msg_id;
    msg["_reply_q"] = reply_q;
    msg["_unique_id"] = absl::StrCat("u", msg_id);
    msg["_timeout"] = nullptr;
    for (auto it = kCtx.begin(); it != kCtx.end(); ++it) {
      msg[absl::StrCat("_context_", it.key())] = it.value();
    }
    vitrage::amqp::OutMessage out;
    out.body = vitrage::notifications::WrapOsloEnvelope(msg);
    out.persistent = false;
    const absl::Time start = absl::Now();
    if (s = c.Publish("vitrage", topic, out); !s.ok()) {
      ++*errors;
      *first_error = s.ToString();
      return;
    }
    bool answered = false;
    while (!answered) {
      auto d = c.Next(absl::Seconds(120));
      if (!d.ok() || !d->has_value()) {
        ++*errors;
        *first_error = d.ok() ? "no reply within 120 s" : d.status().ToString();
        return;
      }
      (void)c.Ack((*d)->tag, false);
      auto reply = vitrage::notifications::ParseOsloEnvelope((*d)->body);
      if (!reply.ok() || (*reply).value("_msg_id", "") != msg_id) continue;
      if (!(*reply).value("ending", false)) continue;  // oslo's progress message
      answered = true;
      const json& result = (*reply)["result"];
      if (!(*reply)["failure"].is_null() || !result.is_string() || result.empty()) {
        ++*errors;
        if (first_error->empty()) first_error->assign((*d)->body.substr(0, 400));
      }
    }
    latencies->push_back(absl::ToDoubleMilliseconds(absl::Now() - start));
  }
}

Result Run(const vitrage::amqp::TransportUrl& url, const std::string& topic, int clients,
           const Load& load, const std::vector<std::string>& ids, absl::Duration length) {
  std::vector<std::vector<double>> lat(clients);
  std::vector<int64_t> errors(clients, 0);
  std::vector<std::string> first(clients);
  const absl::Time start = absl::Now();
  const absl::Time until = start + length;
  std::vector<std::thread> threads;
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back(Client, std::cref(url), std::cref(topic), i, std::cref(load),
                         std::cref(ids), until, &lat[i], &errors[i], &first[i]);
  }
  for (auto& t : threads) t.join();
  const double secs = absl::ToDoubleSeconds(absl::Now() - start);
  Result r;
  std::vector<double> all;
  for (int i = 0; i < clients; ++i) {
    all.insert(all.end(), lat[i].begin(), lat[i].end());
    r.errors += errors[i];
    if (r.first_error.empty()) r.first_error = first[i];
  }
  std::sort(all.begin(), all.end());
  r.calls = static_cast<int64_t>(all.size());
  r.calls_per_s = r.calls / secs;
  if (!all.empty()) {
    r.p50_ms = all[all.size() / 2];
    r.p99_ms = all[std::min(all.size() - 1, all.size() * 99 / 100)];
  }
  return r;
}

std::string Shell(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  pclose(p);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  setvbuf(stdout, nullptr, _IOLBF, 0);  // the table as it goes
  const vitrage::HugePageHeap heap = vitrage::ReserveHugePageHeap();
  std::string src = VITRAGE_SOURCE_DIR_DEFAULT;
  std::string graph_file = absl::StrCat(VITRAGE_WORKLOAD_DIR_DEFAULT, "/graph_100k.jsonl.zst");
  double seconds = 5;
  std::vector<int> client_counts = {1, 4, 16};
  int workers = vitrage::rpc_api::RpcServerOptions().workers;
  bool upstream = true;
  bool e2e = true;
  auto usage = [] {
    std::cerr << "usage: rpc_load_bench [--graph FILE] [--seconds S] [--clients 1,4,16] "
                 "[--workers N] [--no-upstream] [--no-e2e]\n";
    return 2;
  };
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--graph" && i + 1 < argc) {
      graph_file = argv[++i];
    } else if (a == "--seconds" && i + 1 < argc) {
      if (!absl::SimpleAtod(argv[++i], &seconds) || seconds <= 0) return usage();
    } else if (a == "--clients" && i + 1 < argc) {
      client_counts.clear();
      for (absl::string_view p : absl::StrSplit(argv[++i], ',')) {
        int n;
        if (!absl::SimpleAtoi(p, &n) || n < 1 || n > 256) return usage();
        client_counts.push_back(n);
      }
    } else if (a == "--workers" && i + 1 < argc) {
      if (!absl::SimpleAtoi(argv[++i], &workers) || workers < 1) return usage();
    } else if (a == "--no-upstream") {
      upstream = false;
    } else if (a == "--no-e2e") {
      e2e = false;
    } else {
      return usage();
    }
  }
  vitrage::graph::Graph g;
  if (auto s = vitrage::workload::LoadGraphFile(graph_file, &g); !s.ok()) {
    std::cerr << graph_file << ": " << s << "\n";
    return 1;
  }
  vitrage::StopNewHugePages();  // as the engine once ACTIVE
  std::vector<std::string> ids;
  g.ForEachVertex([&](vitrage::graph::Slot v) {
    const auto& p = g.VertexProps(v);
    if (p.GetString(vitrage::graph::keys::kVitrageCategory) == "RESOURCE" &&
        !p.GetBool(vitrage::graph::keys::kVitrageIsDeleted) &&
        !p.GetBool(vitrage::graph::keys::kVitrageIsPlaceholder)) {
      ids.emplace_back(g.VertexId(v));
    }
  });
  if (ids.empty()) {
    std::cerr << graph_file << ": no resources\n";
    return 1;
  }

  vitrage::testing::RabbitMqFixture rabbit;
  if (auto s = rabbit.Start(); !s.ok()) {
    std::cerr << "rabbitmq: " << s << "\n";
    return 1;
  }
  auto url = vitrage::amqp::ParseTransportUrl(rabbit.url());
  if (!url.ok()) {
    std::cerr << url.status() << "\n";
    return 1;
  }
  BenchAccess access(&g);
  vitrage::rpc_api::RpcServerOptions o;
  o.connection.url = *url;
  o.topic = "rpcapiv1";
  o.workers = workers;
  vitrage::rpc_api::RpcServer server(o, &access);
  server.Start();

  vitrage::testing::Process up;
  const std::string up_topic = "rpcapiv1_upstream";
  if (upstream) {
    const std::string log = absl::StrCat(rabbit.dir(), "/upstream_rpc_server.log");
    auto p = vitrage::testing::Process::Start(
        {"/usr/bin/python3", src + "/bench/rpc_api/upstream_rpc_server.py", rabbit.url(),
         graph_file, up_topic},
        log);
    if (!p.ok()) {
      std::cerr << "upstream_rpc_server.py: " << p.status() << "\n";
      return 1;
    }
    up = std::move(*p);
    const absl::Time deadline = absl::Now() + absl::Minutes(10);
    bool ready = false;
    while (!ready && absl::Now() < deadline && up.running()) {
      absl::SleepFor(absl::Milliseconds(500));
      std::ifstream f(log);
      std::string line;
      while (std::getline(f, line)) ready = ready || line == "ready";
    }
    if (!ready) {
      std::cerr << "upstream_rpc_server.py did not start; its log:\n"
                << Shell(absl::StrCat("tail -20 ", log)) << "\n";
      return 1;
    }
  }

  // What vitrage-api sends (vitrage/api/controllers/v1/resource.py and
  // alarm_base.py) for the CLI's defaults (vitrageclient/v1/alarm.py).
  std::vector<Load> loads = {
      {"vitrage resource show ID", "show_resource", {{"vitrage_id", ""}}},
      {"vitrage alarm list",
       "get_alarms",
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
  // Warm-up: one call of each on each server (connections, caches).
  for (const Load& l : loads) {
    Run(*url, o.topic, 1, l, ids, absl::Milliseconds(200));
    if (upstream) Run(*url, up_topic, 1, l, ids, absl::Milliseconds(200));
  }
  const std::string when = absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now(), absl::UTCTimeZone());
  const std::string commit = Shell(absl::StrCat("git -C ", src, " rev-parse --short HEAD"));
  std::ofstream tsv(src + "/bench/results/rpc_api.tsv", std::ios::app);
  absl::PrintF("graph %s, %d server workers, %.0f s per row, load average %s\n", graph_file,
               workers, seconds, Shell("cut -d' ' -f1-3 /proc/loadavg"));
  absl::PrintF("%-26s %7s %11s %9s %9s %13s %9s  %s\n", "call (over the bus)", "clients",
               "ours call/s", "p50 ms", "p99 ms", "upstream c/s", "ratio", "target");
  int failed = 0;
  for (const Load& l : loads) {
    for (int n : client_counts) {
      const std::string load1 = Shell("cut -d' ' -f1 /proc/loadavg");
      Result ours = Run(*url, o.topic, n, l, ids, absl::Seconds(seconds));
      Result theirs;
      if (upstream) theirs = Run(*url, up_topic, n, l, ids, absl::Seconds(seconds));
      for (const Result* r : {&ours, &theirs}) {
        if (r->errors > 0) {
          std::cerr << l.method << " x" << n << ": " << r->errors
                    << " errors, first: " << r->first_error << "\n";
          ++failed;
        }
      }
      const std::string ratio =
          upstream && theirs.calls_per_s > 0
              ? absl::StrFormat("%.1fx", ours.calls_per_s / theirs.calls_per_s)
              : "-";
      absl::PrintF("%-26s %7d %11.0f %9.2f %9.2f %13s %9s  %s\n", l.name, n, ours.calls_per_s,
                   ours.p50_ms, ours.p99_ms,
                   upstream ? absl::StrFormat("%.1f", theirs.calls_per_s) : "-", ratio, "-");
      const std::string row =
          absl::StrCat(l.name, " (", l.method, ", 100k, ", n, " concurrent clients, over the bus)");
      auto put = [&](const std::string& what, const std::string& v, const char* unit,
                     const char* target) {
        tsv << when << "\t" << commit << "\t" << row << " " << what << "\t" << v << "\t" << unit
            << "\t" << target << "\n";
      };
      put("ours", absl::StrFormat("%.0f", ours.calls_per_s), "calls/s", "-");
      put("ours p50", absl::StrFormat("%.2f", ours.p50_ms), "ms", "-");
      if (upstream) {
        put("upstream", absl::StrFormat("%.1f", theirs.calls_per_s), "calls/s", "-");
        put("ratio", absl::StrFormat("%.1f", ours.calls_per_s / theirs.calls_per_s), "x", "-");
      }
      tsv << when << "\t" << commit << "\tmachine load average (1 min, 2 cores) before " << row
          << "\t" << load1 << "\t\t-\n";
    }
  }

  // The topology, over the bus through oslo's RPC client (the call alone,
  // decoded as vitrage-api decodes it) and end to end through the real
  // vitrage-api and `vitrage topology show`.
  const json topo_call = {{"method", "get_topology"},
                          {"ctx", kCtx},
                          {"args",
                           {{"graph_type", "graph"},
                            {"depth", nullptr},
                            {"query", nullptr},
                            {"root", nullptr},
                            {"all_tenants", true}}}};
  const std::string call_file = absl::StrCat(rabbit.dir(), "/topology_call.json");
  std::ofstream(call_file) << topo_call.dump();
  auto timed_call = [&](const std::string& topic, int reps) -> json {
    std::string out = Shell(absl::StrCat(
        "/usr/bin/python3 ", src, "/bench/rpc_api/rpc_call_timer.py ", rabbit.url(), " ", topic,
        " ", reps, " ", call_file, " 2>", rabbit.dir(), "/rpc_call_timer.err"));
    json r = json::parse(out, nullptr, false);
    if (!r.is_object()) {
      std::cerr << "rpc_call_timer.py (" << topic << ") failed: " << out << "\n"
                << Shell(absl::StrCat("tail -5 ", rabbit.dir(), "/rpc_call_timer.err")) << "\n";
      ++failed;
      return json::object();
    }
    return r;
  };
  {
    const std::string load1 = Shell("cut -d' ' -f1 /proc/loadavg");
    json ours = timed_call(o.topic, 3);
    json theirs = upstream ? timed_call(up_topic, 1) : json::object();
    const double om = ours.value("median", 0.0) * 1000, um = theirs.value("median", 0.0) * 1000;
    absl::PrintF("\nget_topology --all-tenants over the bus (oslo RPCClient, decoded), load %s:\n",
                 load1);
    const double oc = ours.value("call_median", 0.0) * 1000,
                 od = ours.value("decode_median", 0.0) * 1000,
                 uc = theirs.value("call_median", 0.0) * 1000;
    absl::PrintF(
        "  ours %.0f ms (best %.0f; the call %.0f ms, decompress_obj %.0f ms; reply %d "
        "bytes, %d nodes+links)",
        om, ours.value("best", 0.0) * 1000, oc, od, ours.value("reply_bytes", 0),
        ours.value("items", 0));
    if (um > 0) absl::PrintF(", upstream %.0f ms (the call %.0f ms), %.1fx", um, uc, um / om);
    absl::PrintF("\n");
    const std::string row =
        "get_topology --all-tenants over the bus (oslo RPCClient, 100k, decoded)";
    tsv << when << "\t" << commit << "\t" << row << " ours\t" << absl::StrFormat("%.0f", om)
        << "\tms\t-\n";
    auto put = [&](const std::string& what, double v, const char* unit, const char* target) {
      tsv << when << "\t" << commit << "\t" << row << " " << what << "\t"
          << absl::StrFormat(unit[0] == 'x' ? "%.1f" : "%.0f", v) << "\t" << unit << "\t" << target
          << "\n";
    };
    put("ours, the call until the reply is in hand", oc, "ms", "-");
    put("ours, decompress_obj in the client", od, "ms", "-");
    if (um > 0) {
      put("upstream", um, "ms", "-");
      put("upstream, the call until the reply is in hand", uc, "ms", "-");
      put("speedup", um / om, "x", ">= 10x");
      put("speedup of the call", uc / oc, "x", ">= 10x");
    }
    tsv << when << "\t" << commit << "\tmachine load average (1 min, 2 cores) before " << row
        << "\t" << load1 << "\t\t-\n";
  }
  if (upstream) up.Stop(absl::Seconds(10));  // its graph's memory back before the CLI runs

  if (e2e) {
    // Upstream's vitrage-api, unchanged, in noauth mode, on the same bus
    // (as deploy/run-local-stack.sh --openstack starts it).
    const int port = vitrage::testing::PickFreePort();
    const std::string conf = absl::StrCat(rabbit.dir(), "/vitrage-api.conf");
    std::ofstream(conf) << "[DEFAULT]\ntransport_url = " << rabbit.url()
                        << "\n[api]\nauth_mode = noauth\nhost = 127.0.0.1\nport = " << port
                        << "\npaste_config = /etc/vitrage/api-paste.ini\n[database]\n"
                        << "connection = sqlite:///" << rabbit.dir() << "/vitrage-api.db\n";
    auto api = vitrage::testing::Process::Start(
        {"/usr/bin/python3", "-c",
         absl::StrCat("import sys; sys.argv=['vitrage-api','--config-file','", conf,
                      "']; from vitrage.cli.api import main; main()")},
        absl::StrCat(rabbit.dir(), "/vitrage-api.log"));
    bool up_api = false;
    for (int i = 0; i < 300 && api.ok() && !up_api; ++i) {
      up_api = Shell(absl::StrCat("bash -c '(exec 3<>/dev/tcp/127.0.0.1/", port,
                                  ") 2>/dev/null && echo ok'")) == "ok";
      if (!up_api) absl::SleepFor(absl::Milliseconds(200));
    }
    if (!up_api) {
      std::cerr << "vitrage-api did not start: "
                << Shell(absl::StrCat("tail -5 ", rabbit.dir(), "/vitrage-api.log")) << "\n";
      ++failed;
    } else {
      const std::string load1 = Shell("cut -d' ' -f1 /proc/loadavg");
      const std::string out = absl::StrCat(rabbit.dir(), "/topology.json");
      const absl::Time t0 = absl::Now();
      const std::string rc =
          Shell(absl::StrCat("OS_AUTH_TYPE=vitrage-noauth VITRAGE_ENDPOINT=http://127.0.0.1:", port,
                             " VITRAGE_USER_ID=admin VITRAGE_PROJECT_ID=admin VITRAGE_ROLES=admin "
                             "vitrage topology show --all-tenants >",
                             out, " 2>&1; echo $?"));
      const double secs = absl::ToDoubleSeconds(absl::Now() - t0);
      const std::string nodes =
          Shell(absl::StrCat("/usr/bin/python3 -c 'import json,sys; "
                             "print(len(json.load(open(sys.argv[1]))[\"nodes\"]))' ",
                             out, " 2>/dev/null"));
      absl::PrintF(
          "vitrage topology show --all-tenants end to end (CLI + vitrage-api + ours), "
          "load %s: %.1f s, exit %s, %s nodes\n",
          load1, secs, rc, nodes.empty() ? "no" : nodes);
      if (rc != "0" || nodes.empty()) {
        std::cerr << Shell(absl::StrCat("head -c 600 ", out)) << "\n";
        ++failed;
      } else {
        const std::string row =
            "vitrage topology show --all-tenants end to end (CLI + vitrage-api + our graph, 100k)";
        tsv << when << "\t" << commit << "\t" << row << " ours\t"
            << absl::StrFormat("%.0f", secs * 1000) << "\tms\t-\n";
        tsv << when << "\t" << commit << "\tmachine load average (1 min, 2 cores) before " << row
            << "\t" << load1 << "\t\t-\n";
      }
    }
    if (api.ok()) api->Stop(absl::Seconds(10));
  }
  server.Stop();
  return failed == 0 ? 0 : 1;
}
