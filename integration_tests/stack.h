// A whole vitrage stack of real processes for tempest-style tests and
// benchmarks: a private MariaDB (the fixture), vitrage-persistor,
// vitrage-collector and vitrage-graph, each a child process started from
// the build tree on free 127.0.0.1 ports, with one vitrage.conf in a temp
// dir. Every process is ended by its pid when the Stack goes away.
#ifndef VITRAGE_INTEGRATION_TESTS_STACK_H_
#define VITRAGE_INTEGRATION_TESTS_STACK_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/testing/mariadb_fixture.h"
#include "common/testing/process.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "vitrage/v1/collector.grpc.pb.h"
#include "vitrage/v1/graph.grpc.pb.h"
#include "vitrage/v1/persistor.grpc.pb.h"

namespace vitrage::testing {

struct StackOptions {
  bool persistency = true;
  // Write the switch as the original spec spells it:
  // [persistancy] enable_persistancy.
  bool old_spelling = false;
  // Collector: a synthetic cloud of this many hosts, or a topology file.
  int synthetic_hosts = 8;
  std::string topology_file;
  uint64_t seed = 1;
  double change_rate = 0;    // 0: no generator
  uint64_t max_changes = 0;  // generator stops after this many
  // An existing database instead of a private MariaDB, e.g. a node of a
  // Galera cluster (mysql://USER@HOST:PORT/DB). The Stack neither starts nor
  // stops it; db() must not be called.
  std::string database_url;
  // Extra vitrage.conf lines per section, e.g. {"persistency", "snapshot_interval = 1"}.
  std::vector<std::pair<std::string, std::string>> conf;
  // Mutual TLS: a TestPki directory (common/testing/test_certs.h) whose good
  // CA issued certificates named graph, persistor, collector and admin.
  // Each process then gets its own vitrage-NAME.conf with its certificate;
  // vitrage.conf carries the admin one (for vitrage-ctl). The test process
  // calls ConfigureTls itself before using the stubs below. Empty: the
  // stack runs plaintext, said explicitly: [ssl] allow_plaintext = true.
  std::string tls_dir;
  // HOST:PORT the collector pushes to instead of the stack's graph port
  // (e.g. a test's switchable forwarder standing in for a virtual IP).
  std::string collector_graph_address;
  // false: Start() stops once the collector serves; the caller starts the
  // graph (a benchmark timing the graph's own start).
  bool start_graph = true;
};

class Stack {
 public:
  explicit Stack(StackOptions options);
  ~Stack();

  // Starts MariaDB (when persistency), persistor, collector, graph, and
  // waits until the graph is ACTIVE (without the graph when
  // !options.start_graph).
  absl::Status Start();

  absl::Status StartPersistor();
  // Starts another vitrage-persistor with the stack's vitrage.conf but
  // serving on 127.0.0.1:`port` and writing to `database_url` (a persistor
  // on another Galera node), and waits until it answers GetStatus.
  absl::StatusOr<Process> SpawnPersistor(int port, const std::string& database_url,
                                         const std::string& log_suffix);
  absl::Status StartCollector();
  // Starts a graph (on the stack's graph port unless `port` is given; with
  // the stack's persistor unless `persistor_address` HOST:PORT is given).
  absl::StatusOr<Process> SpawnGraph(int port = 0, const std::string& log_suffix = "",
                                     const std::string& persistor_address = "");
  absl::Status StartGraph();

  // Waits until GetStatus says ACTIVE.
  absl::Status WaitGraphActive(absl::Duration timeout, int port = 0);
  // Stops the collector's change generator (SIGUSR1) and waits until it
  // says so; the outbox keeps pushing. WaitCollectorDrained then waits for
  // what was generated, not for max_changes.
  absl::Status StopChanges();
  // Waits until the collector generated `changes` changes (when
  // max_changes is set and StopChanges was not called) and has nothing
  // pending. The error names the pending source seqs, the graph's dedupe
  // mark for the collector's source and its durable seq.
  absl::Status WaitCollectorDrained(absl::Duration timeout);

  absl::StatusOr<v1::GraphStatus> GraphStatus(bool digest = false, int port = 0);
  absl::StatusOr<v1::CollectorStatus> CollectorStatus(bool digest = false);
  // The stack's persistor, or the one on 127.0.0.1:`port`.
  absl::StatusOr<v1::PersistorStatus> PersistorStatus(int port = 0);

  // Changes the collector's seed in vitrage.conf (for its next start).
  absl::Status SetCollectorSeed(uint64_t seed) {
    options_.seed = seed;
    return WriteConfig();
  }
  // Changes the collector's synthetic cloud size (for its next start).
  absl::Status SetCollectorHosts(int hosts) {
    options_.synthetic_hosts = hosts;
    return WriteConfig();
  }

  // How often each of the collector's events is in the durable log:
  // `lost` counts events after the last get_all's covered seq that have no
  // record, `doubled` the extra records of events applied more than once.
  struct ExactlyOnce {
    uint64_t covered_by_get_all = 0;
    uint64_t applied = 0;
    uint64_t lost = 0;           // neither applied nor dead-lettered
    uint64_t dead_lettered = 0;  // refused by the graph as invalid, set aside
    uint64_t doubled = 0;
  };
  // Reads the log through the stack's persistor, or the one on `persistor_port`.
  absl::StatusOr<ExactlyOnce> CheckExactlyOnce(const v1::CollectorStatus& collector,
                                               int persistor_port = 0);

  Process& graph() { return graph_; }
  Process& persistor() { return persistor_; }
  Process& collector() { return collector_; }
  MariaDbFixture& db() { return *db_; }

  bool persistency() const { return options_.persistency; }
  int graph_port() const { return graph_port_; }
  int persistor_port() const { return persistor_port_; }
  int collector_port() const { return collector_port_; }
  int graph_metrics_port() const { return graph_metrics_port_; }
  int collector_metrics_port() const { return collector_metrics_port_; }
  int persistor_metrics_port() const { return persistor_metrics_port_; }
  // GET http://127.0.0.1:PORT/metrics (via python3's urllib).
  absl::StatusOr<std::string> FetchMetrics(int port) const;
  const std::string& dir() const { return dir_; }
  std::string conf_path() const { return dir_ + "/vitrage.conf"; }
  // The file `process` (graph, persistor, collector) is started with.
  std::string conf_path(const std::string& process) const {
    return options_.tls_dir.empty() ? conf_path() : dir_ + "/vitrage-" + process + ".conf";
  }
  std::string log(const std::string& name) const { return dir_ + "/" + name + ".log"; }
  // The collector's [collector] dead_letter_file.
  std::string dead_letter_path() const { return dir_ + "/dead-letter.jsonl"; }
  // The tail of a process log, for failure messages.
  std::string LogTail(const std::string& name, size_t bytes = 3000) const;

  std::unique_ptr<v1::Graph::Stub> GraphStub(int port = 0);
  std::unique_ptr<v1::Persistor::Stub> PersistorStub(int port = 0);

 private:
  absl::Status WriteConfig();
  // One vitrage.conf; `cert`: the [ssl] certificate name ("": plaintext).
  absl::Status WriteConfigFile(const std::string& path, const std::string& cert);

  StackOptions options_;
  std::string dir_;
  std::unique_ptr<MariaDbFixture> db_;
  int graph_port_, persistor_port_, collector_port_;
  int graph_metrics_port_, collector_metrics_port_, persistor_metrics_port_;
  Process persistor_, collector_, graph_;
  int graph_starts_ = 0;
  bool changes_stopped_ = false;
};

// Path of a built binary (BUILD/<rel>).
std::string Binary(const std::string& rel);

// One call of the standard health service (grpc.health.v1) for `service`
// ("" = the whole server) with `timeout`. On failure, the call's status:
// NOT_FOUND means the server answers but has no such name registered.
absl::StatusOr<grpc::health::v1::HealthCheckResponse::ServingStatus> CheckHealth(
    grpc::health::v1::Health::Stub* stub, const std::string& service, absl::Duration timeout);

// The value of the sample `name` (a metric without labels, a histogram's
// _sum / _count, or a sample with its labels written out, as
// `x_bucket{le="0.01"}`) in a Prometheus text page; -1 when absent.
double MetricValue(const std::string& page, const std::string& name);

}  // namespace vitrage::testing

#endif  // VITRAGE_INTEGRATION_TESTS_STACK_H_
