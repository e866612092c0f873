// vitrage.conf: the one INI configuration file of the three services.
//
// Every key the project knows is listed in config.cc (kKeys) with its type,
// default and range; docs/configuration.md is the operator's copy of that
// table. Unknown sections and keys are errors, so a typo fails start-up
// instead of being ignored. Every error names the file, the line, the
// section, the key and the bad value.
//
// The original spec spells the persistency section and its switch
// "[persistancy] enable_persistancy"; both spellings are accepted, in either
// section. Setting both spellings to different values is an error.
#ifndef VITRAGE_COMMON_CONFIG_H_
#define VITRAGE_COMMON_CONFIG_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace vitrage {

// A parsed `[database] connection` URL:
//   mysql://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?unix_socket=PATH]
// (scheme may also be mysql+pymysql, as in OpenStack configs).
struct DatabaseUrl {
  std::string user;
  std::string password;
  std::string host = "127.0.0.1";
  int port = 3306;
  std::string database;
  std::string unix_socket;

  // The URL with the password replaced by "***": the only form that may be
  // logged or shown in status and error messages.
  std::string Redacted() const;
};

// Parses a connection URL. Errors never contain the password.
absl::StatusOr<DatabaseUrl> ParseDatabaseUrl(absl::string_view url);

struct Config {
  // The file the values came from ("" for defaults).
  std::string path;
  // Where each key was set: "SECTION KEY" (canonical names) ->
  // "FILE:LINE: [SECTION] KEY" as written, for messages about a value that
  // parses but does not work (CheckPaths).
  std::map<std::string, std::string> origins;
  // origins' entry for the key, or "[SECTION] KEY" when it was not set.
  std::string Where(absl::string_view section, absl::string_view key) const;

  // [DEFAULT]
  bool debug = false;   // verbose logging (glog -v=1)
  std::string log_dir;  // glog directory; empty: stderr only

  // [persistency] (alias [persistancy])
  struct Persistency {
    bool enabled = true;  // enable_persistency
    absl::Duration snapshot_interval = absl::Seconds(600);
    std::string persistor_address = "127.0.0.1:9701";
    uint64_t buffer_max_records = 1'000'000;  // journal records not yet durable
    uint64_t buffer_max_bytes = 256ull << 20;
    absl::Duration log_retention = absl::Seconds(3600);  // prune delay
    // Downtime (now - time of the last durable record) above which recovery
    // also runs get_all and reconciles.
    absl::Duration get_all_after_downtime = absl::Seconds(3600);
    int snapshots_to_keep = 2;
    // Recompute a loaded snapshot's content digest and compare it with its
    // header. Every chunk's CRC32C and the header's counts are always
    // checked; the digest adds a full pass over the graph (about as long
    // as the decode itself) to catch encoder bugs.
    bool verify_snapshot_digest = false;
    // The snapshot format version written: 4 (the newest), or 3 while a
    // graph that reads only up to 3 may still load them (a rolling
    // upgrade; docs/formats.md).
    int snapshot_format = 4;
    // The graph's journal: records waiting this long with none becoming
    // durable make an ACTIVE graph unhealthy (0: never).
    absl::Duration journal_stall_timeout = absl::Seconds(30);
    // How often an ACTIVE graph checks that no newer epoch was taken (a
    // graph fenced while idle finds out within this time; 0: never).
    absl::Duration fence_check_interval = absl::Seconds(2);
  } persistency;

  // [database]
  struct Database {
    std::string connection;     // see DatabaseUrl; empty: persistor refuses to start
    std::string password_file;  // read the password from this file instead
    std::string password_env;   // ... or from this environment variable
    absl::Duration connect_timeout = absl::Seconds(5);
  } database;

  // The OpenStack message bus (graph_service/bus/, docs/bus.md): where
  // vitrage-graph takes notifications from, keys named as in upstream
  // Vitrage and oslo.messaging. No transport_url: no bus.
  //   [DEFAULT] transport_url, control_exchange
  //   [datasources] notification_topics, notification_exchange, ...
  //   [oslo_messaging_rabbit] ssl*, heartbeat, prefetch, durable queues
  struct Bus {
    // rabbit://USER:PASS@HOST:PORT[,USER:PASS@HOST2:PORT]/VHOST. Holds a
    // password: shown only redacted (amqp/transport_url.h).
    std::string transport_url;
    std::string control_exchange = "vitrage";  // [DEFAULT] control_exchange
    // [DEFAULT] rpc_topic: vitrage-api's RPC calls to the graph (docs/api.md).
    std::string rpc_topic = "rpcapiv1";
    std::vector<std::string> topics = {"vitrage_notifications"};
    std::string exchange;  // notification_exchange; empty: control_exchange
    // Queues <topic>.<priority>; upstream's endpoint takes "info" only.
    std::vector<std::string> priorities = {"info"};
    // Messages the graph cannot take go here with their reason.
    std::string dead_letter_queue = "vitrage_notifications.dead_letter";
    // [oslo_messaging_rabbit]
    bool ssl = false;
    std::string ssl_ca_file;
    std::string ssl_cert_file;
    std::string ssl_key_file;
    bool ssl_enforce_hostname_verification = false;
    int heartbeat_timeout_threshold = 60;  // seconds; 0: off
    int prefetch = 1000;                   // rabbit_qos_prefetch_count (>= 1 here)
    bool durable_queues = false;           // amqp_durable_queues
    bool auto_delete = false;              // amqp_auto_delete
  } bus;

  // [graph]
  struct Graph {
    std::string listen_address = "127.0.0.1:9702";
    std::string collector_address = "127.0.0.1:9703";
    std::string templates_dir;
    std::string datasources_values_dir;
    absl::Duration deleted_entity_grace = absl::Seconds(60);
    // Vitrage's consistency pass (remove deleted entities after the grace
    // period, delete stale placeholders) runs this often; 0: never.
    absl::Duration consistency_interval = absl::Seconds(600);
    std::string metrics_address;  // Prometheus /metrics; empty: off
    // Start as a hot standby: follow the persistor's log, serve read-only
    // queries, take over on Graph/Promote (never acquires an epoch before).
    bool standby = false;
    // A hot standby's log stream with no message (heartbeats come every
    // second) for this long is cancelled and opened again.
    absl::Duration standby_stream_timeout = absl::Seconds(5);
    // RPC server workers (parallel vitrage-api calls) when transport_url is set.
    int rpc_workers = 2;
  } graph;

  // [persistor]
  struct Persistor {
    std::string listen_address = "127.0.0.1:9701";
    uint64_t max_batch_bytes = 8ull << 20;  // one group commit at most
    std::string metrics_address;            // Prometheus /metrics; empty: off
    int max_db_connections = 20;            // database connections of the process at most
    int max_read_streams = 32;              // ReadLog + GetLatestSnapshot streams per caller role
    // A read stream whose client reads nothing for this long is ended.
    absl::Duration stream_stall_timeout = absl::Seconds(30);
  } persistor;

  // [collector]
  struct Collector {
    std::string listen_address = "127.0.0.1:9703";
    std::string graph_address = "127.0.0.1:9702";
    std::string source = "collector:default";
    std::string topology_file;  // workload JSONL (.zst ok) or static YAML
    int synthetic_hosts = 0;    // >0: synthetic cloud of that many hosts
    // Event shapes of the synthetic cloud: "workload" (pass-through events,
    // graph_service/processor/passthrough_event.h) or "openstack" (upstream's
    // nova, neutron, cinder and zabbix driver events,
    // collector/openstack_cloud.h).
    std::string synthetic_format = "workload";
    uint64_t seed = 1;
    double change_rate = 0;  // change events per second; 0: none
    uint64_t outbox_max_events = 100'000;
    // Answer a GetAll that accepts it with a graph image (snapshot-codec
    // chunks) instead of pass-through events; workload / pass-through
    // state only (upstream and openstack shapes always send events).
    bool get_all_image = true;
    int push_batch_size = 256;
    int push_window = 4;          // PushEventStream requests in flight
    std::string metrics_address;  // Prometheus /metrics; empty: off
    // Events the graph refuses as invalid are appended here, one JSON line
    // each (collector/dead_letter.h), and the outbox goes on without them.
    std::string dead_letter_file = "/var/log/vitrage/collector-dead-letter.jsonl";
  } collector;

  // [ssl]: transport security of every gRPC server and client of the
  // process (common/tls.h, docs/security.md). cert_file, key_file and
  // ca_file are all set (mutual TLS) or all empty; when all are empty the
  // process starts only if allow_plaintext is true.
  struct Ssl {
    std::string cert_file;         // this process's certificate (PEM; may hold the chain)
    std::string key_file;          // its private key (PEM)
    std::string ca_file;           // the CA certificate(s) every peer must chain to
    bool allow_plaintext = false;  // no TLS, no role checks: local development only
    // Roles (spiffe://vitrage/ROLE in a certificate's URI SAN) that may call
    // the read-only methods (status, topology, vertex, log and snapshot
    // reads, health, reflection). "*": any certificate of the CA;
    // "anonymous": also TLS clients without a certificate. The default is
    // the project's own roles (the OCF agents' vitrage-ctl uses the
    // service's certificate).
    std::vector<std::string> read_only_roles = {"reader", "admin", "graph", "collector",
                                                "persistor"};
  } ssl;

  // [limits]: bounds on what a client may send (docs/security.md). A request
  // over a bound is refused with INVALID_ARGUMENT or RESOURCE_EXHAUSTED
  // naming the key; the service goes on serving everyone else.
  struct Limits {
    int max_events_per_push = 10'000;        // PushEvents: events per call
    uint64_t max_event_bytes = 1 << 20;      // one event, serialized
    int max_properties = 1'000;              // properties per event / vertex / edge
    uint64_t max_property_bytes = 64 << 10;  // one property key or value
    int max_records_per_append = 100'000;    // Append: records per message
    // Read-only calls (status, topology, ...) per second per client
    // certificate, with TLS; 0: no limit.
    double read_only_calls_per_second = 100;
    // Nesting of one event's body: JSON objects and arrays, or map and list
    // values; the event itself is depth 1. Bounds every recursive walk of a
    // value (the converters, the digest, the encoders) and the stack it uses.
    int max_json_depth = 64;
    // Distinct property keys (at every nesting level) the graph process
    // holds: keys are interned for the life of the process, and an event
    // that would add keys beyond this is refused. At most
    // kMaxDistinctKeysLimit, half the key table's hard capacity.
    int max_distinct_keys = 1'000'000;
    // Vertex and edge counts a graph image (get_all) or snapshot header may
    // announce; checked before anything is reserved.
    uint64_t max_graph_vertices = 50'000'000;
    uint64_t max_graph_edges = 50'000'000;
  } limits;
  // The largest [limits] max_distinct_keys: half the key table's capacity
  // (graph/value.h kKeyTableCapacity), leaving room for the graph's own keys.
  static constexpr int kMaxDistinctKeysLimit = 2'000'000;
};

// Reads and validates `path`.
absl::StatusOr<Config> LoadConfig(const std::string& path);

// Parses INI text; `filename` is only used in messages.
absl::StatusOr<Config> ParseConfig(absl::string_view text, absl::string_view filename);

// Checks what the values name on this machine, for `program`
// ("vitrage-graph", "vitrage-persistor", "vitrage-collector"): [DEFAULT]
// log_dir is a writable directory; for vitrage-graph, [graph] templates_dir
// and datasources_values_dir are directories. Empty values are not checked.
// The error has ParseConfig's shape: FILE:LINE: [SECTION] KEY: "VALUE" why.
absl::Status CheckPaths(const Config& config, absl::string_view program);

// Parses "HOST:PORT" (port 1..65535); `what` names the key in messages.
absl::Status ValidateAddress(absl::string_view address, absl::string_view what);

}  // namespace vitrage

#endif  // VITRAGE_COMMON_CONFIG_H_
