// vitrage-persistor: flags, configuration and wiring only; the service is in
// server/, the database layer in mysql/.
//
//   vitrage-persistor --config /etc/vitrage/vitrage.conf
//                     [--listen HOST:PORT] [--database_url URL]
#include <glog/logging.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/config.h"
#include "common/grpc_util.h"
#include "common/logging.h"
#include "common/metrics.h"
#include "common/tls.h"
#include "common/version.h"
#include "persistor_service/server/persistor_service.h"

namespace {

constexpr char kUsage[] =
    "usage: vitrage-persistor [--config PATH] [--listen HOST:PORT] [--metrics HOST:PORT] "
    "[--database_url mysql://USER[:PASS]@HOST[:PORT]/DB] [--help] [--version]\n";

constexpr char kHelp[] =
    "vitrage-persistor: writes what vitrage-graph sends (journal records, snapshots), in\n"
    "order and fenced by epoch, to MySQL/MariaDB, and serves it back.\n"
    "\n"
    "  --config PATH        vitrage.conf ([database], [persistor], [persistency], [ssl])\n"
    "  --listen HOST:PORT   serve on this address ([persistor] listen_address)\n"
    "  --metrics HOST:PORT  Prometheus /metrics ([persistor] metrics_address)\n"
    "  --database_url URL   mysql://USER[:PASS]@HOST[:PORT]/DB ([database] connection)\n"
    "  --help               this text\n"
    "  --version            the version\n"
    "\n"
    "Exit codes: 0 after SIGTERM/SIGINT, 2 bad configuration, 1 anything else.\n"
    "See persistor_service/README.md and docs/configuration.md.\n";

struct Flags {
  bool help = false;
  bool version = false;
  std::string config;
  std::string listen;
  std::string database_url;
  std::string metrics;
};

bool ParseFlags(int argc, char** argv, Flags* flags, std::string* error) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      flags->help = true;
      continue;
    }
    if (arg == "--version") {
      flags->version = true;
      continue;
    }
    std::string* target = nullptr;
    std::string name;
    for (auto [n, t] : {std::pair<const char*, std::string*>{"--config", &flags->config},
                        {"--listen", &flags->listen},
                        {"--database_url", &flags->database_url},
                        {"--metrics", &flags->metrics}}) {
      if (arg == n || absl::StartsWith(arg, absl::StrCat(n, "="))) {
        target = t;
        name = n;
      }
    }
    if (target == nullptr) {
      *error = absl::StrCat("unknown argument: ", arg);
      return false;
    }
    if (arg == name) {
      if (i + 1 >= argc) {
        *error = absl::StrCat(name, " needs a value");
        return false;
      }
      *target = argv[++i];
    } else {
      *target = arg.substr(name.size() + 1);
    }
  }
  return true;
}

std::string ReadPasswordFile(const std::string& path, bool* ok) {
  std::ifstream in(path);
  *ok = in.good();
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) {
    text.pop_back();
  }
  return text;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  std::string error;
  if (!ParseFlags(argc, argv, &flags, &error)) {
    std::cerr << "vitrage-persistor: " << error << "\n" << kUsage;
    return 2;
  }
  if (flags.help) {
    std::cout << kUsage << "\n" << kHelp;
    return 0;
  }
  if (flags.version) {
    std::cout << vitrage::VersionLine("vitrage-persistor") << "\n";
    return 0;
  }
  vitrage::Config config;
  if (!flags.config.empty()) {
    absl::StatusOr<vitrage::Config> loaded = vitrage::LoadConfig(flags.config);
    if (!loaded.ok()) {
      std::cerr << "vitrage-persistor: " << loaded.status().message() << "\n";
      return 2;
    }
    config = *loaded;
  }
  if (absl::Status s = vitrage::CheckPaths(config, "vitrage-persistor"); !s.ok()) {
    std::cerr << "vitrage-persistor: " << s.message() << "\n";
    return 2;
  }
  vitrage::InitLogging(argv[0], config.log_dir, config.debug);
  if (absl::Status s = vitrage::ConfigureTls(config, "vitrage-persistor"); !s.ok()) {
    LOG(ERROR) << "vitrage-persistor: " << s.message();
    return 2;
  }

  std::string url_text =
      flags.database_url.empty() ? config.database.connection : flags.database_url;
  if (url_text.empty()) {
    LOG(ERROR) << "no database: set [database] connection in vitrage.conf or "
                  "pass --database_url";
    return 2;
  }
  absl::StatusOr<vitrage::DatabaseUrl> url = vitrage::ParseDatabaseUrl(url_text);
  if (!url.ok()) {
    LOG(ERROR) << "[database] connection: " << url.status().message();
    return 2;
  }
  if (!config.database.password_file.empty()) {
    bool ok = false;
    url->password = ReadPasswordFile(config.database.password_file, &ok);
    if (!ok) {
      LOG(ERROR) << "[database] password_file " << config.database.password_file << ": cannot read";
      return 2;
    }
  } else if (!config.database.password_env.empty()) {
    const char* value = getenv(config.database.password_env.c_str());
    if (value == nullptr) {
      LOG(ERROR) << "[database] password_env: variable " << config.database.password_env
                 << " is not set";
      return 2;
    }
    url->password = value;
  }
  std::string listen = flags.listen.empty() ? config.persistor.listen_address : flags.listen;
  if (absl::Status s = vitrage::ValidateAddress(listen, "--listen"); !s.ok()) {
    LOG(ERROR) << s.message();
    return 2;
  }

  // Signals are taken synchronously by this thread; every other thread
  // inherits the blocked mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGUSR2);  // start-up failed for good (see below)
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  vitrage::persistor::PersistorOptions options;
  options.database.url = *url;
  options.database.connect_timeout = config.database.connect_timeout;
  options.max_batch_bytes = config.persistor.max_batch_bytes;
  options.max_records_per_append = config.limits.max_records_per_append;
  options.log_retention = config.persistency.log_retention;
  options.snapshots_to_keep = config.persistency.snapshots_to_keep;
  options.max_db_connections = config.persistor.max_db_connections;
  options.max_read_streams = config.persistor.max_read_streams;
  options.stream_stall_timeout = config.persistor.stream_stall_timeout;

  LOG(INFO) << "vitrage-persistor starting: database " << url->Redacted() << ", listen " << listen;
  // Metrics and gRPC come up before the database is reached: an operator
  // (and pacemaker's monitor) sees status "database unreachable" and health
  // NOT_SERVING at once, not a port that refuses connections.
  std::string metrics_address =
      flags.metrics.empty() ? config.persistor.metrics_address : flags.metrics;
  if (!metrics_address.empty()) {
    auto mport = vitrage::metrics::StartExposer(metrics_address);
    if (!mport.ok()) {
      LOG(ERROR) << "[persistor] metrics_address: " << mport.status().message();
      return 2;
    }
    LOG(INFO) << "metrics on http://" << metrics_address << "/metrics";
  }
  // A start-up error no retry mends ends the process (exit 1) through the
  // signal loop below.
  std::unique_ptr<vitrage::persistor::PersistorService> service =
      vitrage::persistor::PersistorService::StartInBackground(
          options, [](const absl::Status&) { kill(getpid(), SIGUSR2); });
  service->ExportMetrics();
  int port = 0;
  std::unique_ptr<grpc::Server> server =
      vitrage::StartServer(listen, {service.get()}, &port, options.max_message_bytes);
  if (server == nullptr) return 1;
  service->AttachServer(server.get());
  LOG(INFO) << "vitrage-persistor serving on " << listen << " (port " << port << ")"
            << (service->ready() ? "" : "; health NOT_SERVING until the database is reached");

  int sig = 0;
  while (sigwait(&signals, &sig) != 0) {
  }
  if (sig == SIGUSR2) {
    server->Shutdown(std::chrono::system_clock::now());
    service->Stop();
    return 1;
  }
  LOG(INFO) << "received " << (sig == SIGTERM ? "SIGTERM" : "SIGINT") << ": stopping";
  service->BeginShutdown();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  service->Stop();
  LOG(INFO) << "vitrage-persistor stopped";
  return 0;
}
