// vitrage-graph: the entity graph service.
//
//   vitrage-graph --config vitrage.conf [--listen HOST:PORT]
//                 [--persistor HOST:PORT] [--collector HOST:PORT] [--standby]
//
// Health service names: "" and "vitrage.v1.Graph" are SERVING only while
// ACTIVE and the journal is not stalled ([persistency]
// journal_stall_timeout); "vitrage.v1.Graph.standby" is SERVING while a hot
// standby is current (caught up with the durable log on a live stream).
//
// Exit codes: 0 after SIGTERM/SIGINT; 2 bad configuration; 3 fenced (another
// graph holds a newer epoch); 1 any other failure. Pacemaker restarts or
// moves the resource on non-zero.
#include <glog/logging.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <iostream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/config.h"
#include "common/grpc_util.h"
#include "common/huge_page_heap.h"
#include "common/logging.h"
#include "common/metrics.h"
#include "common/tls.h"
#include "common/version.h"
#include "graph_service/amqp/transport_url.h"
#include "graph_service/bus/listener.h"
#include "graph_service/rpc_api/rpc_server.h"
#include "graph_service/service/bus_sink.h"
#include "graph_service/service/engine.h"
#include "graph_service/service/graph_api.h"
#include "graph_service/service/processor_handler.h"

// jemalloc's options for this process (read at its first allocation; a
// MALLOC_CONF environment variable is applied after them, so an operator
// can still change any of them). A recovering graph fills a fresh process
// with its many small objects: with 4 KiB pages that is a page fault for
// every few dozen of them, which on a virtual machine costs more than the
// decoding itself. thp:always backs jemalloc's extents with 2 MiB pages
// (madvise, so it works with the kernel's default "madvise" setting);
// narenas:1 keeps one arena, so that huge pages are not left half used in
// one arena per thread (what each saved: docs/performance.md). main() then
// reserves jemalloc's heap in one large piece (ReserveHugePageHeap,
// common/huge_page_heap.h): without it most of jemalloc's small mappings
// still take 4 KiB pages. Once ACTIVE the engine stops new huge pages
// (Engine::StopHugePages). Without jemalloc (sanitizer builds) this symbol
// is unused.
extern "C" {
const char* malloc_conf = "thp:always,narenas:1";
}

namespace {

// The RPC API's view of the engine (graph_service/rpc_api/rpc_server.h).
class EngineGraphAccess : public vitrage::rpc_api::GraphAccess {
 public:
  explicit EngineGraphAccess(vitrage::service::Engine* engine) : engine_(engine) {}
  bool Active() const override { return engine_->active(); }
  absl::StatusOr<nlohmann::json> Read(const ReadFn& fn) override {
    absl::StatusOr<nlohmann::json> out = absl::UnavailableError("vitrage-graph is not ACTIVE");
    absl::Status s =
        engine_->ReadActiveGraph([&](const vitrage::graph::Graph& g,
                                     const vitrage::evaluator::TemplateSet* t) { out = fn(g, t); });
    if (!s.ok()) return s;
    return out;
  }

 private:
  vitrage::service::Engine* engine_;
};

}  // namespace

int main(int argc, char** argv) {
  // Before anything big is allocated: see common/huge_page_heap.h.
  const vitrage::HugePageHeap heap = vitrage::ReserveHugePageHeap();
  CLI::App app{"vitrage-graph: the entity graph with fast failover"};
  std::string config_path, listen, persistor, collector;
  app.add_option("--config", config_path, "vitrage.conf");
  app.add_option("--listen", listen, "HOST:PORT to serve on ([graph] listen_address)");
  app.add_option("--persistor", persistor, "vitrage-persistor HOST:PORT");
  app.add_option("--collector", collector, "vitrage-collector HOST:PORT (get_all)");
  std::string metrics_address;
  app.add_option("--metrics", metrics_address, "Prometheus HOST:PORT ([graph] metrics_address)");
  bool standby_flag = false;
  app.add_flag("--standby", standby_flag,
               "start as a hot standby ([graph] standby): follow the log, take over on "
               "vitrage-ctl promote");
  app.set_version_flag("--version", vitrage::VersionLine("vitrage-graph"));
  CLI11_PARSE(app, argc, argv);

  vitrage::Config config;
  if (!config_path.empty()) {
    auto c = vitrage::LoadConfig(config_path);
    if (!c.ok()) {
      std::cerr << "vitrage-graph: " << c.status().message() << "\n";
      return 2;
    }
    config = *c;
  }
  // Before logging starts: a log_dir that is not there would have glog
  // write "COULD NOT CREATE A LOGGINGFILE" and go on.
  if (absl::Status s = vitrage::CheckPaths(config, "vitrage-graph"); !s.ok()) {
    std::cerr << "vitrage-graph: " << s.message() << "\n";
    return 2;
  }
  vitrage::InitLogging(argv[0], config.log_dir, config.debug);
  LOG(INFO) << "memory: " << heap.detail;
  if (auto s = vitrage::ConfigureTls(config, "vitrage-graph"); !s.ok()) {
    LOG(ERROR) << "vitrage-graph: " << s.message();
    return 2;
  }
  if (!listen.empty()) config.graph.listen_address = listen;
  if (!persistor.empty()) config.persistency.persistor_address = persistor;
  if (!collector.empty()) config.graph.collector_address = collector;
  if (!metrics_address.empty()) config.graph.metrics_address = metrics_address;
  for (const auto& [what, addr] : {std::pair{"--listen", config.graph.listen_address},
                                   std::pair{"--persistor", config.persistency.persistor_address},
                                   std::pair{"--collector", config.graph.collector_address}}) {
    if (auto s = vitrage::ValidateAddress(addr, what); !s.ok()) {
      LOG(ERROR) << s.message();
      return 2;
    }
  }

  vitrage::service::EngineOptions options;
  options.persistency = config.persistency.enabled;
  options.persistor_address = config.persistency.persistor_address;
  options.collector_address = config.graph.collector_address;
  options.journal.max_buffer_records = config.persistency.buffer_max_records;
  options.journal.persistor_address = config.persistency.persistor_address;
  options.journal.max_buffer_bytes = config.persistency.buffer_max_bytes;
  options.snapshot_interval = config.persistency.snapshot_interval;
  options.get_all_after_downtime = config.persistency.get_all_after_downtime;
  options.verify_snapshot_digest = config.persistency.verify_snapshot_digest;
  // [persistency] snapshot_format takes 3 and 4: a new format version
  // needs its range (common/config.cc) and docs/configuration.md updated.
  static_assert(vitrage::snapshot::kFormatVersion == 4);
  options.snapshot_format = static_cast<uint32_t>(config.persistency.snapshot_format);
  options.consistency_interval = config.graph.consistency_interval;
  options.templates_dir = config.graph.templates_dir;
  options.standby = (config.graph.standby || standby_flag) && options.persistency;
  options.standby_stream_timeout = config.graph.standby_stream_timeout;
  options.journal_stall_timeout = config.persistency.journal_stall_timeout;
  options.fence_check_interval = config.persistency.fence_check_interval;
  options.max_distinct_keys = config.limits.max_distinct_keys;
  options.max_graph_vertices = config.limits.max_graph_vertices;
  options.max_graph_edges = config.limits.max_graph_edges;
  static_assert(vitrage::Config::kMaxDistinctKeysLimit <= vitrage::graph::kKeyTableCapacity / 2);
  if ((config.graph.standby || standby_flag) && !options.persistency) {
    LOG(WARNING) << "standby requested but persistency is disabled: starting as an active graph";
  }
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  options.owner = absl::StrCat(host, ":", getpid());

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  vitrage::processor::ProcessorOptions popts;
  popts.id_generator = vitrage::processor::RandomUuidGenerator();
  popts.clock = vitrage::processor::WallClock();
  if (!config.graph.datasources_values_dir.empty()) {
    if (auto s = popts.states.LoadDirectory(config.graph.datasources_values_dir); !s.ok()) {
      LOG(ERROR) << config.Where("graph", "datasources_values_dir") << ": \""
                 << config.graph.datasources_values_dir << "\" " << s.message();
      return 2;
    }
  }
  // The engine owns the graph; the handler's processor is bound to it.
  vitrage::processor::ConsistencyOptions consistency;
  consistency.min_time_to_delete = config.graph.deleted_entity_grace;
  auto handler_factory = [&popts, &consistency](vitrage::graph::Graph* g) {
    return std::make_unique<vitrage::service::ProcessorHandler>(g, popts, consistency);
  };
  vitrage::service::Engine engine(options, handler_factory);
  vitrage::service::GraphApi api(&engine, config.limits);
  // The OpenStack bus (no transport_url: none). It consumes only once the
  // engine is ACTIVE (below): after snapshot, replay and evaluator; a
  // standby starts it when promoted.
  std::unique_ptr<vitrage::service::EngineBusSink> bus_sink;
  std::unique_ptr<vitrage::bus::Listener> bus;
  if (!config.bus.transport_url.empty()) {
    auto bus_options = vitrage::bus::ListenerOptions::FromConfig(config);
    if (!bus_options.ok()) {
      LOG(ERROR) << bus_options.status().message();
      return 2;
    }
    bus_sink = std::make_unique<vitrage::service::EngineBusSink>(&engine);
    bus = std::make_unique<vitrage::bus::Listener>(std::move(*bus_options), bus_sink.get());
    api.SetStatusHook(
        [l = bus.get()](vitrage::v1::GraphStatus* st) { l->FillStatus(st->mutable_bus()); });
  }
  if (!config.graph.metrics_address.empty()) engine.ExportMetrics();
  // An active graph starts recovering now, while the metrics and gRPC
  // servers start (a few ms of the failover time); the engine answers calls
  // in any phase. A standby starts after its health listener is set (below).
  absl::Status started;
  std::thread early_start;
  if (!options.standby) early_start = std::thread([&] { started = engine.Start(); });
  if (!config.graph.metrics_address.empty()) {
    auto port = vitrage::metrics::StartExposer(config.graph.metrics_address);
    if (!port.ok()) {
      LOG(ERROR) << "[graph] metrics_address: " << port.status().message();
      engine.Shutdown();
      if (early_start.joinable()) early_start.join();
      return 2;
    }
    LOG(INFO) << "metrics on http://" << config.graph.metrics_address << "/metrics";
  }
  int port = 0;
  auto server = vitrage::StartServer(config.graph.listen_address, {&api}, &port, 64 << 20);
  if (!server) {
    engine.Shutdown();
    if (early_start.joinable()) early_start.join();
    return 1;
  }
  auto* health = server->GetHealthCheckService();
  constexpr const char* kActiveName = "vitrage.v1.Graph";
  constexpr const char* kStandbyName = "vitrage.v1.Graph.standby";
  health->SetServingStatus(kActiveName, false);
  health->SetServingStatus(kStandbyName, false);
  health->SetServingStatus(false);
  engine.SetStandbyListener(
      [health](bool current) { health->SetServingStatus(kStandbyName, current); });
  // An ACTIVE graph whose journal stalls is not serving: it takes no events.
  engine.SetHealthListener([health](bool serving) {
    health->SetServingStatus("", serving);
    health->SetServingStatus(kActiveName, serving);
  });
  LOG(INFO) << "vitrage-graph serving on " << config.graph.listen_address << " (persistency "
            << (options.persistency ? "enabled" : "disabled") << ", persistor "
            << options.persistor_address << ", collector " << options.collector_address << "); "
            << (options.standby ? "hot standby" : "recovering");

  // vitrage-api's RPC calls on the bus, answered while ACTIVE.
  EngineGraphAccess rpc_access(&engine);
  std::unique_ptr<vitrage::rpc_api::RpcServer> rpc;
  if (!config.bus.transport_url.empty()) {
    const vitrage::Config::Bus& b = config.bus;
    auto url = vitrage::amqp::ParseTransportUrl(b.transport_url);
    if (!url.ok()) {
      LOG(ERROR) << "[DEFAULT] transport_url: " << url.status().message();
      server->Shutdown();
      engine.Shutdown();
      if (early_start.joinable()) early_start.join();
      return 2;
    }
    vitrage::rpc_api::RpcServerOptions ro;
    ro.connection.url = *url;
    ro.connection.tls.enabled = b.ssl;
    ro.connection.tls.ca_file = b.ssl_ca_file;
    ro.connection.tls.cert_file = b.ssl_cert_file;
    ro.connection.tls.key_file = b.ssl_key_file;
    ro.connection.tls.verify_hostname = b.ssl_enforce_hostname_verification;
    ro.connection.heartbeat_seconds = b.heartbeat_timeout_threshold;
    ro.connection.name = "vitrage-graph rpc";
    ro.exchange = b.control_exchange;
    ro.topic = b.rpc_topic;
    ro.durable = b.durable_queues;
    ro.auto_delete = b.auto_delete;
    ro.workers = config.graph.rpc_workers;
    ro.limits = config.limits;
    rpc = std::make_unique<vitrage::rpc_api::RpcServer>(ro, &rpc_access);
    rpc->Start();
    LOG(INFO) << "RPC API on " << url->Redacted() << " exchange " << ro.exchange << " topic "
              << ro.topic << " (" << ro.workers << " workers, calls taken while ACTIVE)";
  }

  std::atomic<int> exit_code{0};
  std::thread signals([&] {
    int sig = 0;
    sigwait(&set, &sig);
    LOG(INFO) << "vitrage-graph: signal " << sig << ", shutting down";
    engine.Shutdown();
  });
  signals.detach();

  if (early_start.joinable()) {
    early_start.join();
  } else {
    started = engine.Start();
  }
  if (started.ok()) {
    health->SetServingStatus(kStandbyName, false);
    health->SetServingStatus("", true);
    health->SetServingStatus(kActiveName, true);
    if (bus) bus->Start();
    absl::Status fatal = engine.WaitForFatal();
    if (!fatal.ok()) {
      exit_code = vitrage::IsConfigurationError(fatal) ? 2
                  : absl::IsFailedPrecondition(fatal)  ? 3
                                                       : 1;
    }
  } else if (vitrage::IsConfigurationError(started)) {
    // Engine::Fatal logged it.
    exit_code = 2;
  } else if (!absl::IsCancelled(started)) {
    LOG(ERROR) << "vitrage-graph: start-up failed: " << started;
    exit_code = absl::IsFailedPrecondition(started) ? 3 : 1;
  }
  if (bus) bus->Stop();
  health->SetServingStatus(false);
  if (rpc) rpc->Stop();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  engine.Shutdown();
  LOG(INFO) << "vitrage-graph: exiting with code " << exit_code;
  google::FlushLogFiles(google::GLOG_INFO);
  _exit(exit_code);
}
