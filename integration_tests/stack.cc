#include "integration_tests/stack.h"

#include <signal.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/grpc_util.h"

namespace vitrage::testing {

std::string Binary(const std::string& rel) { return BinaryDir() + "/" + rel; }

Stack::Stack(StackOptions options) : options_(std::move(options)) {
  auto d = MakeTempDir("vitrage-stack");
  dir_ = d.ok() ? *d : "/tmp";
  graph_port_ = PickFreePort();
  persistor_port_ = PickFreePort();
  collector_port_ = PickFreePort();
  graph_metrics_port_ = PickFreePort();
  collector_metrics_port_ = PickFreePort();
  persistor_metrics_port_ = PickFreePort();
}

absl::StatusOr<std::string> Stack::FetchMetrics(int port) const {
  std::string out = absl::StrCat(dir_, "/metrics-", port, ".txt");
  // RunCommand appends to its log: a second fetch must not read the first.
  std::remove(out.c_str());
  auto rc = RunCommand({"/usr/bin/python3", "-c",
                        absl::StrCat("import urllib.request,sys; sys.stdout.write("
                                     "urllib.request.urlopen('http://127.0.0.1:",
                                     port, "/metrics', timeout=10).read().decode())")},
                       out, absl::Seconds(30));
  if (!rc.ok()) return rc.status();
  std::string text = ReadFileOrEmpty(out);
  if (*rc != 0) return absl::UnavailableError("GET /metrics failed: " + text);
  return text;
}

double MetricValue(const std::string& page, const std::string& name) {
  for (absl::string_view line : absl::StrSplit(page, '\n')) {
    if (!absl::StartsWith(line, name) || line.size() <= name.size() || line[name.size()] != ' ') {
      continue;
    }
    double v = 0;
    if (absl::SimpleAtod(line.substr(name.size() + 1), &v)) return v;
  }
  return -1;
}

Stack::~Stack() {
  graph_.Kill9();
  collector_.Stop(absl::Seconds(5));
  persistor_.Stop(absl::Seconds(5));
  db_.reset();
  if (std::getenv("VITRAGE_KEEP_STACK") == nullptr) RemoveTree(dir_);
}

std::string Stack::LogTail(const std::string& name, size_t bytes) const {
  std::string s = ReadFileOrEmpty(log(name));
  return s.size() > bytes ? s.substr(s.size() - bytes) : s;
}

absl::Status Stack::WriteConfig() {
  if (options_.tls_dir.empty()) return WriteConfigFile(conf_path(), "");
  for (const char* name : {"admin", "graph", "persistor", "collector"}) {
    std::string path = std::string(name) == "admin" ? conf_path() : conf_path(name);
    if (auto s = WriteConfigFile(path, name); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status Stack::WriteConfigFile(const std::string& path, const std::string& cert) {
  std::map<std::string, std::vector<std::string>> extra;
  for (const auto& [section, line] : options_.conf) extra[section].push_back(line);
  std::ofstream out(path);
  auto section = [&](const std::string& name, std::vector<std::string> lines) {
    out << "[" << name << "]\n";
    for (const auto& l : lines) out << l << "\n";
    for (const auto& l : extra[name]) out << l << "\n";
    extra.erase(name);
    out << "\n";
  };
  const char* on = options_.persistency ? "true" : "false";
  if (options_.old_spelling) {
    section("persistancy", {absl::StrCat("enable_persistancy = ", on)});
    section("persistency", {absl::StrCat("persistor_address = 127.0.0.1:", persistor_port_)});
  } else {
    section("persistency", {absl::StrCat("enable_persistency = ", on),
                            absl::StrCat("persistor_address = 127.0.0.1:", persistor_port_)});
  }
  std::string database = db_ ? db_->url() : options_.database_url;
  section("database", {database.empty() ? "" : "connection = " + database});
  section("persistor", {absl::StrCat("listen_address = 127.0.0.1:", persistor_port_),
                        absl::StrCat("metrics_address = 127.0.0.1:", persistor_metrics_port_)});
  section("graph", {absl::StrCat("listen_address = 127.0.0.1:", graph_port_),
                    absl::StrCat("collector_address = 127.0.0.1:", collector_port_),
                    absl::StrCat("metrics_address = 127.0.0.1:", graph_metrics_port_)});
  std::vector<std::string> c = {
      absl::StrCat("listen_address = 127.0.0.1:", collector_port_),
      absl::StrCat("metrics_address = 127.0.0.1:", collector_metrics_port_),
      options_.collector_graph_address.empty()
          ? absl::StrCat("graph_address = 127.0.0.1:", graph_port_)
          : "graph_address = " + options_.collector_graph_address,
      absl::StrCat("seed = ", options_.seed),
      absl::StrCat("change_rate = ", options_.change_rate),
      "dead_letter_file = " + dead_letter_path()};
  if (!options_.topology_file.empty()) {
    c.push_back("topology_file = " + options_.topology_file);
  } else {
    c.push_back(absl::StrCat("synthetic_hosts = ", options_.synthetic_hosts));
  }
  section("collector", c);
  if (cert.empty()) {
    section("ssl", {"allow_plaintext = true"});
  } else {
    std::string d = options_.tls_dir + "/good/";
    section("ssl", {"cert_file = " + d + cert + ".pem", "key_file = " + d + cert + ".key",
                    "ca_file = " + d + "ca.pem"});
  }
  std::vector<std::string> rest;
  for (const auto& [name, lines] : extra) rest.push_back(name);
  for (const auto& name : rest) section(name, {});
  return out.good() ? absl::OkStatus() : absl::InternalError("cannot write vitrage.conf");
}

absl::Status Stack::Start() {
  if (options_.persistency && options_.database_url.empty()) {
    MariaDbFixture::Options o;
    o.dir = dir_ + "/mariadb";
    db_ = std::make_unique<MariaDbFixture>(o);
    if (auto s = db_->Start(); !s.ok()) return s;
  }
  if (auto s = WriteConfig(); !s.ok()) return s;
  if (options_.persistency) {
    if (auto s = StartPersistor(); !s.ok()) return s;
  }
  if (auto s = StartCollector(); !s.ok()) return s;
  if (!options_.start_graph) return absl::OkStatus();
  if (auto s = StartGraph(); !s.ok()) return s;
  return WaitGraphActive(absl::Seconds(60));
}

absl::Status Stack::StartPersistor() {
  auto p = Process::Start(
      {Binary("persistor_service/vitrage-persistor"), "--config", conf_path("persistor")},
      log("persistor"));
  if (!p.ok()) return p.status();
  persistor_ = std::move(*p);
  // Wait until it serves.
  absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (absl::Now() < deadline) {
    if (PersistorStatus().ok()) return absl::OkStatus();
    if (!persistor_.running()) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return absl::InternalError("vitrage-persistor did not start:\n" + LogTail("persistor"));
}

absl::Status Stack::StartCollector() {
  std::vector<std::string> argv = {Binary("collector/vitrage-collector"), "--config",
                                   conf_path("collector")};
  if (options_.max_changes) {
    argv.push_back("--max_changes");
    argv.push_back(std::to_string(options_.max_changes));
  }
  auto p = Process::Start(argv, log("collector"));
  if (!p.ok()) return p.status();
  collector_ = std::move(*p);
  absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (absl::Now() < deadline) {
    if (CollectorStatus().ok()) return absl::OkStatus();
    if (!collector_.running()) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return absl::InternalError("vitrage-collector did not start:\n" + LogTail("collector"));
}

absl::StatusOr<Process> Stack::SpawnPersistor(int port, const std::string& database_url,
                                              const std::string& log_suffix) {
  auto p = Process::Start(
      {Binary("persistor_service/vitrage-persistor"), "--config", conf_path("persistor"),
       "--listen", absl::StrCat("127.0.0.1:", port), "--database_url", database_url, "--metrics",
       absl::StrCat("127.0.0.1:", PickFreePort())},
      log("persistor" + log_suffix));
  if (!p.ok()) return p.status();
  absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (absl::Now() < deadline) {
    if (PersistorStatus(port).ok()) return p;
    if (!p->running()) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return absl::InternalError("vitrage-persistor" + log_suffix + " did not start:\n" +
                             LogTail("persistor" + log_suffix));
}

absl::StatusOr<Process> Stack::SpawnGraph(int port, const std::string& log_suffix,
                                          const std::string& persistor_address) {
  std::vector<std::string> argv = {Binary("graph_service/vitrage-graph"), "--config",
                                   conf_path("graph")};
  if (!persistor_address.empty()) {
    argv.push_back("--persistor");
    argv.push_back(persistor_address);
  }
  if (port != 0) {  // a second graph: its own ports
    argv.push_back("--listen");
    argv.push_back(absl::StrCat("127.0.0.1:", port));
    argv.push_back("--metrics");
    argv.push_back(absl::StrCat("127.0.0.1:", PickFreePort()));
  }
  return Process::Start(argv, log("graph" + log_suffix));
}

absl::Status Stack::StartGraph() {
  ++graph_starts_;
  auto p = SpawnGraph();
  if (!p.ok()) return p.status();
  graph_ = std::move(*p);
  return absl::OkStatus();
}

absl::Status Stack::WaitGraphActive(absl::Duration timeout, int port) {
  absl::Time deadline = absl::Now() + timeout;
  std::string last;
  while (absl::Now() < deadline) {
    auto st = GraphStatus(false, port);
    if (st.ok()) {
      if (st->role() == v1::ACTIVE) return absl::OkStatus();
      last = st->phase();
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  return absl::DeadlineExceededError(absl::StrCat("graph not ACTIVE within ",
                                                  absl::FormatDuration(timeout), " (phase: ", last,
                                                  ")\n", LogTail("graph")));
}

absl::Status Stack::StopChanges() {
  if (collector_.Signal(SIGUSR1) != 0) {
    return absl::InternalError(absl::StrCat("cannot signal vitrage-collector (pid ",
                                            collector_.pid(), "): ", std::strerror(errno)));
  }
  changes_stopped_ = true;
  absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (absl::Now() < deadline) {
    auto st = CollectorStatus();
    if (st.ok() && !st->generating()) return absl::OkStatus();
    absl::SleepFor(absl::Milliseconds(50));
  }
  return absl::DeadlineExceededError("the collector's change generator did not stop within 30 s\n" +
                                     LogTail("collector"));
}

absl::Status Stack::WaitCollectorDrained(absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  v1::CollectorStatus last;
  while (absl::Now() < deadline) {
    auto st = CollectorStatus();
    if (st.ok()) {
      last = *st;
      bool generated = changes_stopped_
                           ? !st->generating()
                           : options_.max_changes == 0 || st->changes() >= options_.max_changes;
      if (generated && st->pending() == 0) return absl::OkStatus();
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  // Say where the events wait: the collector's pending seqs against the
  // graph's dedupe mark for the source and its durable seq.
  std::string graph = "graph status unavailable";
  if (auto g = GraphStatus(); g.ok()) {
    std::string mark = "none";
    for (const auto& m : g->source_marks()) {
      if (m.source() == last.source()) mark = absl::StrCat(m.source_seq());
    }
    graph = absl::StrCat("graph ", v1::GraphRole_Name(g->role()), " (", g->phase(),
                         "): mark for the source ", mark, ", applied seq ", g->applied_seq(),
                         ", durable seq ", g->durable_seq(), ", ", g->buffered_records(),
                         " records buffered");
  } else {
    graph = absl::StrCat("graph status unavailable: ", g.status().message());
  }
  return absl::DeadlineExceededError(absl::StrCat(
      "collector not drained after ", absl::FormatDuration(timeout), ": ", last.pending(),
      " pending (source ", last.source(), " seqs ", last.acked_source_seq() + 1, "..",
      last.last_source_seq(), " not acked), ", last.changes(), " changes",
      last.generating() ? " (generator still running)" : "", "; ", graph, "\n",
      LogTail("collector"), "\n--- graph:\n", LogTail("graph")));
}

std::unique_ptr<v1::Graph::Stub> Stack::GraphStub(int port) {
  return v1::Graph::NewStub(MakeChannel(absl::StrCat("127.0.0.1:", port ? port : graph_port_),
                                        ServerRole::kGraph, 64 << 20));
}

std::unique_ptr<v1::Persistor::Stub> Stack::PersistorStub(int port) {
  return v1::Persistor::NewStub(MakeChannel(
      absl::StrCat("127.0.0.1:", port ? port : persistor_port_), ServerRole::kPersistor, 64 << 20));
}

absl::StatusOr<v1::GraphStatus> Stack::GraphStatus(bool digest, int port) {
  auto stub = GraphStub(port);
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
  v1::GraphStatusRequest req;
  req.set_with_digest(digest);
  v1::GraphStatus resp;
  grpc::Status st = stub->GetStatus(&ctx, req, &resp);
  if (!st.ok()) return FromGrpcStatus(st);
  return resp;
}

absl::StatusOr<v1::CollectorStatus> Stack::CollectorStatus(bool digest) {
  auto stub = v1::Collector::NewStub(
      MakeChannel(absl::StrCat("127.0.0.1:", collector_port_), ServerRole::kCollector));
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
  v1::CollectorStatusRequest req;
  req.set_with_digest(digest);
  v1::CollectorStatus resp;
  grpc::Status st = stub->GetStatus(&ctx, req, &resp);
  if (!st.ok()) return FromGrpcStatus(st);
  return resp;
}

absl::StatusOr<Stack::ExactlyOnce> Stack::CheckExactlyOnce(const v1::CollectorStatus& collector,
                                                           int persistor_port) {
  ExactlyOnce out;
  std::map<uint64_t, int> applied;
  auto stub = PersistorStub(persistor_port);
  // Right after a mysqld restart the persistor's readers may still wait for
  // their reconnect (UNAVAILABLE): read the whole log again until it works.
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (true) {
    out = ExactlyOnce();
    applied.clear();
    grpc::ClientContext ctx;
    auto reader = stub->ReadLog(&ctx, v1::ReadLogRequest());
    v1::ReadLogResponse resp;
    while (reader->Read(&resp)) {
      for (const auto& r : resp.records()) {
        if (r.source() != collector.source()) continue;
        // Events up to a get_all's covered seq are in its state (and acked
        // as already applied), not in records of their own.
        if (r.event_kind() == "get_all reconcile" || r.has_image_chunk()) {
          out.covered_by_get_all = std::max(out.covered_by_get_all, r.source_seq());
        } else {
          ++applied[r.source_seq()];
        }
      }
    }
    grpc::Status st = reader->Finish();
    if (st.ok()) break;
    if (st.error_code() != grpc::StatusCode::UNAVAILABLE || absl::Now() > deadline) {
      return FromGrpcStatus(st);
    }
    absl::SleepFor(absl::Milliseconds(200));
  }
  const std::set<uint64_t> dead(collector.dead_lettered_seqs().begin(),
                                collector.dead_lettered_seqs().end());
  for (uint64_t s = out.covered_by_get_all + 1; s <= collector.last_source_seq(); ++s) {
    if (applied.count(s)) continue;
    if (dead.count(s)) {
      ++out.dead_lettered;
    } else {
      ++out.lost;
    }
  }
  for (const auto& [s, n] : applied) {
    out.applied += n;
    if (s <= out.covered_by_get_all) {
      out.doubled += n;
    } else if (n > 1) {
      out.doubled += n - 1;
    }
  }
  return out;
}

absl::StatusOr<v1::PersistorStatus> Stack::PersistorStatus(int port) {
  auto stub = PersistorStub(port);
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  v1::PersistorStatus resp;
  grpc::Status st = stub->GetStatus(&ctx, v1::PersistorStatusRequest(), &resp);
  if (!st.ok()) return FromGrpcStatus(st);
  return resp;
}

absl::StatusOr<grpc::health::v1::HealthCheckResponse::ServingStatus> CheckHealth(
    grpc::health::v1::Health::Stub* stub, const std::string& service, absl::Duration timeout) {
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  grpc::health::v1::HealthCheckRequest req;
  req.set_service(service);
  grpc::health::v1::HealthCheckResponse resp;
  grpc::Status st = stub->Check(&ctx, req, &resp);
  if (!st.ok()) return FromGrpcStatus(st);
  return resp.status();
}

}  // namespace vitrage::testing
