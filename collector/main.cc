// vitrage-collector: datasources (topology file or synthetic cloud) that
// answer GetAll and push changes to the graph until it acks them.
//
//   vitrage-collector --config vitrage.conf [--listen HOST:PORT]
//       [--graph HOST:PORT] [--topology FILE] [--synthetic_hosts N]
//       [--synthetic_format workload|openstack]
//       [--seed N] [--change_rate R] [--max_changes N]
//
// SIGTERM / SIGINT stop it; SIGHUP re-reads a static YAML file and sends
// what changed (upstream's get_changes); SIGUSR1 stops the change generator
// for good while the outbox keeps pushing (the long crash loop drains with it).
//
// Datasources (docs/collector.md): a topology file in the workload format
// (.jsonl[.zst], pass-through events) or upstream's static datasource YAML
// (.yaml/.yml, `static` events); without a file, the synthetic cloud in the
// workload shape or, with synthetic_format = openstack, in upstream's
// nova/neutron/cinder/zabbix shapes.
#include <glog/logging.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "collector/collector_service.h"
#include "collector/openstack_cloud.h"
#include "collector/static_yaml.h"
#include "common/config.h"
#include "common/grpc_util.h"
#include "common/logging.h"
#include "common/metrics.h"
#include "common/tls.h"
#include "common/version.h"

int main(int argc, char** argv) {
  CLI::App app{"vitrage-collector: datasources and the outbox to vitrage-graph"};
  std::string config_path, listen, graph, topology, source, synthetic_format;
  int synthetic_hosts = -1;
  int64_t seed = -1;
  double change_rate = -1;
  uint64_t max_changes = 0;
  std::string tail;
  std::string metrics_address;
  app.add_option("--config", config_path, "vitrage.conf");
  app.add_option("--listen", listen, "HOST:PORT to serve on ([collector] listen_address)");
  app.add_option("--graph", graph, "vitrage-graph HOST:PORT ([collector] graph_address)");
  app.add_option("--topology", topology, "workload graph file (.jsonl[.zst])");
  app.add_option("--synthetic_hosts", synthetic_hosts, "synthetic cloud of N hosts");
  app.add_option("--synthetic_format", synthetic_format,
                 "workload | openstack ([collector] synthetic_format)");
  app.add_option("--seed", seed, "generator seed");
  app.add_option("--change_rate", change_rate, "change events/s (0: none)");
  app.add_option("--max_changes", max_changes, "stop generating after N changes");
  app.add_option("--source", source, "source name ([collector] source)");
  app.add_option("--tail", tail, "push the events of a workload event tail file");
  app.add_option("--metrics", metrics_address,
                 "Prometheus HOST:PORT ([collector] metrics_address)");
  app.set_version_flag("--version", vitrage::VersionLine("vitrage-collector"));
  CLI11_PARSE(app, argc, argv);

  vitrage::Config config;
  if (!config_path.empty()) {
    auto c = vitrage::LoadConfig(config_path);
    if (!c.ok()) {
      std::cerr << "vitrage-collector: " << c.status().message() << "\n";
      return 2;
    }
    config = *c;
  }
  if (absl::Status s = vitrage::CheckPaths(config, "vitrage-collector"); !s.ok()) {
    std::cerr << "vitrage-collector: " << s.message() << "\n";
    return 2;
  }
  vitrage::InitLogging(argv[0], config.log_dir, config.debug);
  if (auto s = vitrage::ConfigureTls(config, "vitrage-collector"); !s.ok()) {
    LOG(ERROR) << "vitrage-collector: " << s.message();
    return 2;
  }
  auto& cc = config.collector;
  if (!listen.empty()) cc.listen_address = listen;
  if (!graph.empty()) cc.graph_address = graph;
  if (!topology.empty()) cc.topology_file = topology;
  if (synthetic_hosts >= 0) cc.synthetic_hosts = synthetic_hosts;
  if (seed >= 0) cc.seed = seed;
  if (!synthetic_format.empty()) {
    if (synthetic_format != "workload" && synthetic_format != "openstack") {
      LOG(ERROR) << "--synthetic_format must be workload or openstack, not \"" << synthetic_format
                 << "\"";
      return 2;
    }
    cc.synthetic_format = synthetic_format;
  }
  if (change_rate >= 0) cc.change_rate = change_rate;
  if (!source.empty()) cc.source = source;
  if (!metrics_address.empty()) cc.metrics_address = metrics_address;
  for (const auto& [what, addr] :
       {std::pair{"--listen", cc.listen_address}, std::pair{"--graph", cc.graph_address}}) {
    if (auto s = vitrage::ValidateAddress(addr, what); !s.ok()) {
      LOG(ERROR) << s.message();
      return 2;
    }
  }

  namespace vc = vitrage::collector;
  auto model = std::make_unique<vc::Model>(cc.seed);
  std::unique_ptr<vc::UpstreamSource> upstream;
  if (vc::IsStaticYamlPath(cc.topology_file)) {
    absl::Time t0 = absl::Now();
    auto s = vc::StaticYamlSource::Open(cc.topology_file);
    if (!s.ok()) {
      LOG(ERROR) << "cannot load topology: " << s.status().message();
      return 2;
    }
    upstream = std::move(*s);
    LOG(INFO) << upstream->Describe() << " (" << absl::ToDoubleMilliseconds(absl::Now() - t0)
              << " ms)";
  } else if (cc.topology_file.empty() && cc.synthetic_format == "openstack") {
    int hosts = cc.synthetic_hosts > 0 ? cc.synthetic_hosts : 8;
    upstream = std::make_unique<vc::OpenStackCloud>(cc.seed, vc::SyntheticForHosts(hosts));
    LOG(INFO) << upstream->Describe() << " (seed " << cc.seed << ")";
  } else if (!cc.topology_file.empty()) {
    absl::Time t0 = absl::Now();
    if (auto s = model->LoadTopologyFile(cc.topology_file); !s.ok()) {
      LOG(ERROR) << "cannot load topology: " << s.message();
      return 2;
    }
    LOG(INFO) << "topology " << cc.topology_file << ": " << model->graph().vertex_count()
              << " entities, " << model->graph().edge_count() << " relationships ("
              << absl::ToDoubleMilliseconds(absl::Now() - t0) << " ms)";
  } else {
    // No topology file: a small synthetic cloud (8 hosts unless told).
    int hosts = cc.synthetic_hosts > 0 ? cc.synthetic_hosts : 8;
    model->BuildSynthetic(vitrage::collector::SyntheticForHosts(hosts));
    LOG(INFO) << "synthetic cloud (seed " << cc.seed << ", " << hosts
              << " hosts): " << model->graph().vertex_count() << " entities, "
              << model->graph().edge_count() << " relationships";
  }

  vitrage::collector::CollectorOptions options;
  // Each run is its own source: the graph's dedupe marks of an earlier run
  // must not swallow this run's events (their seqs restart at 1).
  options.outbox.source = absl::StrCat(cc.source, "@", absl::ToUnixMicros(absl::Now()));
  options.outbox.max_events = cc.outbox_max_events;
  options.outbox.batch_size = cc.push_batch_size;
  options.outbox.window = cc.push_window;
  options.outbox.dead_letter_file = cc.dead_letter_file;
  options.change_rate = cc.change_rate;
  options.get_all_image = cc.get_all_image;
  options.max_changes = max_changes;

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  std::unique_ptr<vc::CollectorService> service_ptr =
      upstream ? std::make_unique<vc::CollectorService>(
                     options, std::move(upstream),
                     vitrage::MakeChannel(cc.graph_address, vitrage::ServerRole::kGraph))
               : std::make_unique<vc::CollectorService>(
                     options, std::move(model),
                     vitrage::MakeChannel(cc.graph_address, vitrage::ServerRole::kGraph));
  vc::CollectorService& service = *service_ptr;
  if (!cc.metrics_address.empty()) {
    namespace m = vitrage::metrics;
    auto& pending =
        m::Gauge("vitrage_collector_outbox_pending", "Events waiting for the graph's ack");
    auto& acked = m::Gauge("vitrage_collector_events_acked", "Events acked by the graph");
    auto& retries = m::Gauge("vitrage_collector_push_retries", "PushEvents calls that failed");
    auto& dead = m::Gauge("vitrage_collector_events_dead_lettered",
                          "Events the graph refused as invalid, set aside in the dead-letter file");
    auto& p99 = m::Gauge("vitrage_collector_ack_latency_p99_milliseconds",
                         "99th percentile of event creation -> durable ack");
    m::AddRefresher([&service, &pending, &acked, &retries, &dead, &p99] {
      auto c = service.outbox().counters();
      pending.Set(c.pending);
      acked.Set(c.acked);
      retries.Set(c.retries);
      dead.Set(c.dead_lettered);
      p99.Set(c.ack_p99_ms);
    });
    auto mport = m::StartExposer(cc.metrics_address);
    if (!mport.ok()) {
      LOG(ERROR) << "[collector] metrics_address: " << mport.status().message();
      return 2;
    }
  }
  int port = 0;
  auto server = vitrage::StartServer(cc.listen_address, {&service}, &port);
  if (!server) return 1;
  LOG(INFO) << "vitrage-collector serving on " << cc.listen_address << " as source "
            << options.outbox.source << ", pushing to " << cc.graph_address
            << "; refused events go to " << cc.dead_letter_file;
  service.Start();
  if (!tail.empty()) {
    if (auto s = service.StartTail(tail); !s.ok()) {
      LOG(ERROR) << "--tail: " << s.message();
      return 2;
    }
  }

  int sig = 0;
  // SIGHUP: re-read the static datasource file and send what changed.
  // SIGUSR1: stop the change generator (the outbox keeps pushing).
  while (sigwait(&set, &sig) == 0 && (sig == SIGHUP || sig == SIGUSR1)) {
    if (sig == SIGUSR1) {
      service.StopGenerator();
      LOG(INFO) << "SIGUSR1: change generator stopped; " << service.outbox().counters().pending
                << " events still wait for the graph's ack";
      continue;
    }
    absl::Time t0 = absl::Now();
    auto n = service.Reload();
    if (n.ok()) {
      LOG(INFO) << "SIGHUP: reloaded " << cc.topology_file << ": " << *n
                << " changed, new or deleted entities queued ("
                << absl::ToDoubleMilliseconds(absl::Now() - t0) << " ms)";
    } else {
      LOG(ERROR) << "SIGHUP: not reloaded, the previous state stays: " << n.status().message();
    }
  }
  auto c = service.outbox().counters();
  LOG(INFO) << "vitrage-collector: signal " << sig << ", stopping; " << c.pending
            << " events still unacked, " << c.acked << " acked, " << c.dead_lettered
            << " dead-lettered";
  service.Shutdown();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  return 0;
}
