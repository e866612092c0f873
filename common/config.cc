#include "common/config.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"

namespace vitrage {
namespace {

// Where a value came from, for messages.
struct Origin {
  std::string file;
  int line = 0;
  std::string section;
  std::string key;
  std::string value;

  std::string Describe() const { return absl::StrCat(file, ":", line, ": [", section, "] ", key); }
  absl::Status Bad(absl::string_view why) const {
    return absl::InvalidArgumentError(absl::StrCat(Describe(), ": \"", value, "\" ", why));
  }
};

absl::StatusOr<bool> ParseBool(const Origin& o) {
  std::string v = absl::AsciiStrToLower(o.value);
  if (v == "true" || v == "yes" || v == "on" || v == "1") return true;
  if (v == "false" || v == "no" || v == "off" || v == "0") return false;
  return o.Bad("is not a boolean (use true or false)");
}

absl::StatusOr<int64_t> ParseInt(const Origin& o, int64_t min, int64_t max) {
  int64_t v;
  if (!absl::SimpleAtoi(o.value, &v)) return o.Bad("is not a number");
  if (v < min || v > max) {
    return o.Bad(absl::StrCat("is out of range [", min, ", ", max, "]"));
  }
  return v;
}

absl::StatusOr<double> ParseDouble(const Origin& o, double min, double max) {
  double v;
  if (!absl::SimpleAtod(o.value, &v) || !std::isfinite(v)) {
    return o.Bad("is not a number");
  }
  if (v < min || v > max) {
    return o.Bad(absl::StrCat("is out of range [", min, ", ", max, "]"));
  }
  return v;
}

// A bound of a duration range in the largest unit that divides it ("0",
// "500ms", "30s", "10m", "2h", "365d").
std::string DurationBound(double seconds) {
  if (seconds == 0) return "0";
  const std::pair<double, const char*> units[] = {{86400, "d"}, {3600, "h"}, {60, "m"}, {1, "s"}};
  for (const auto& [unit, name] : units) {
    double n = seconds / unit;
    if (n >= 1 && n == std::floor(n)) return absl::StrCat(n, name);
  }
  return absl::StrCat(seconds * 1000, "ms");
}

// A duration: a plain number is seconds ("600", "0.5"); otherwise a number
// with a unit, or several ("500ms", "30s", "10m", "2h", "1d", "1h30m").
absl::StatusOr<absl::Duration> ParseSeconds(const Origin& o, double min, double max) {
  absl::Duration d;
  double plain;
  bool ok;
  if (absl::SimpleAtod(o.value, &plain)) {
    ok = std::isfinite(plain);
    d = absl::Seconds(ok ? plain : 0);
  } else {
    // absl::ParseDuration knows ns..h; days are added here.
    std::string text = o.value;
    double days = 0;
    size_t dpos = text.find('d');
    ok = true;
    if (dpos != std::string::npos) {
      ok = absl::SimpleAtod(text.substr(0, dpos), &days) && std::isfinite(days) && days >= 0;
      text = text.substr(dpos + 1);
    }
    absl::Duration rest = absl::ZeroDuration();
    if (ok && !text.empty()) ok = absl::ParseDuration(text, &rest);
    d = absl::Hours(24 * days) + rest;
  }
  if (!ok || o.value.empty()) {
    return o.Bad(
        "is not a duration (a number of seconds, or with a unit: 500ms, 30s, 10m, 2h, 1d)");
  }
  if (d < absl::Seconds(min) || d > absl::Seconds(max)) {
    return o.Bad(
        absl::StrCat("is out of range [", DurationBound(min), ", ", DurationBound(max), "]"));
  }
  return d;
}

// Bytes with an optional K/M/G suffix (powers of 1024).
absl::StatusOr<uint64_t> ParseSize(const Origin& o, uint64_t min) {
  std::string v = o.value;
  uint64_t mult = 1;
  if (!v.empty()) {
    char c = absl::ascii_toupper(v.back());
    if (c == 'K' || c == 'M' || c == 'G') {
      mult = c == 'K' ? 1ull << 10 : c == 'M' ? 1ull << 20 : 1ull << 30;
      v.pop_back();
    }
  }
  uint64_t n;
  if (!absl::SimpleAtoi(v, &n)) {
    return o.Bad("is not a size (a number of bytes, optionally with K, M or G)");
  }
  if (n > (UINT64_MAX / mult)) return o.Bad("is too large");
  if (n * mult < min) return o.Bad(absl::StrCat("is below the minimum ", min));
  return n * mult;
}

absl::Status CheckAddress(const Origin& o) { return ValidateAddress(o.value, o.Describe()); }

using Setter = std::function<absl::Status(const Origin&, Config&)>;

struct KeySpec {
  const char* section;  // canonical section name
  const char* key;
  Setter set;
};

// Every key vitrage.conf may hold. Keep docs/configuration.md in step.
const std::vector<KeySpec>& Keys() {
  static const auto* keys = new std::vector<KeySpec>{
      {"DEFAULT", "debug",
       [](const Origin& o, Config& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.debug, ParseBool(o));
         return absl::OkStatus();
       }},
      {"DEFAULT", "log_dir",
       [](const Origin& o, Config& c) {
         c.log_dir = o.value;
         return absl::OkStatus();
       }},
      {"DEFAULT", "transport_url",
       [](const Origin& o, Config& c) -> absl::Status {
         // Checked by the bus (amqp/transport_url.h) at start-up; here only
         // the scheme, and the value (it holds a password) is never echoed.
         if (!o.value.empty() && !absl::StartsWith(o.value, "rabbit://") &&
             !absl::StartsWith(o.value, "amqp://")) {
           return absl::InvalidArgumentError(absl::StrCat(
               o.Describe(), ": only rabbit:// URLs are supported (value not shown: it may "
               "hold a password)"));
         }
         c.bus.transport_url = o.value;
         return absl::OkStatus();
       }},
      {"DEFAULT", "control_exchange",
       [](const Origin& o, Config& c) {
         c.bus.control_exchange = o.value;
         return absl::OkStatus();
       }},
      {"datasources", "notification_topics",
       [](const Origin& o, Config& c) -> absl::Status {
         c.bus.topics.clear();
         for (absl::string_view t : absl::StrSplit(o.value, ',', absl::SkipWhitespace())) {
           t = absl::StripAsciiWhitespace(t);
           if (t.find_first_of(" \t#*") != absl::string_view::npos) {
             return absl::InvalidArgumentError(
                 absl::StrCat(o.Describe(), ": \"", t, "\" is not a topic or priority name"));
           }
           c.bus.topics.emplace_back(t);
         }
         if (c.bus.topics.empty()) {
           return absl::InvalidArgumentError(absl::StrCat(o.Describe(), ": empty list"));
         }
         return absl::OkStatus();
       }},
      {"datasources", "notification_exchange",
       [](const Origin& o, Config& c) {
         c.bus.exchange = o.value;
         return absl::OkStatus();
       }},
      {"datasources", "notification_priorities",
       [](const Origin& o, Config& c) -> absl::Status {
         c.bus.priorities.clear();
         for (absl::string_view t : absl::StrSplit(o.value, ',', absl::SkipWhitespace())) {
           t = absl::StripAsciiWhitespace(t);
           if (t.find_first_of(" \t#*") != absl::string_view::npos) {
             return absl::InvalidArgumentError(
                 absl::StrCat(o.Describe(), ": \"", t, "\" is not a topic or priority name"));
           }
           c.bus.priorities.emplace_back(t);
         }
         if (c.bus.priorities.empty()) {
           return absl::InvalidArgumentError(absl::StrCat(o.Describe(), ": empty list"));
         }
         return absl::OkStatus();
       }},
      {"datasources", "notification_dead_letter_queue",
       [](const Origin& o, Config& c) {
         c.bus.dead_letter_queue = o.value;
         return absl::OkStatus();
       }},
      {"oslo_messaging_rabbit", "ssl",
       [](const Origin& o, Config& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.bus.ssl, ParseBool(o));
         return absl::OkStatus();
       }},
      {"oslo_messaging_rabbit", "ssl_ca_file",
       [](const Origin& o, Config& c) {
         c.bus.ssl_ca_file = o.value;
         return absl::OkStatus();
       }},
      {"oslo_messaging_rabbit", "ssl_cert_file",
       [](const Origin& o, Config& c) {
         c.bus.ssl_cert_file = o.value;
         return absl::OkStatus();
       }},
      {"oslo_messaging_rabbit", "ssl_key_file",
       [](const Origin& o, Config& c) {
         c.bus.ssl_key_file = o.value;
         return absl::OkStatus();
       }},
      {"oslo_messaging_rabbit", "ssl_enforce_hostname_verification",
       [](const Origin& o, Config& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.bus.ssl_enforce_hostname_verification, ParseBool(o));
         return absl::OkStatus();
       }},
      {"oslo_messaging_rabbit", "heartbeat_timeout_threshold",
       [](const Origin& o, Config& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.bus.heartbeat_timeout_threshold, ParseInt(o, 0, 3600));
         return absl::OkStatus();
       }},
      {"oslo_messaging_rabbit", "rabbit_qos_prefetch_count",
       [](const Origin& o, Config& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.bus.prefetch, ParseInt(o, 1, 65535));
         return absl::OkStatus();
       }},
      {"oslo_messaging_rabbit", "amqp_durable_queues",
       [](const Origin& o, Config& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.bus.durable_queues, ParseBool(o));
         return absl::OkStatus();
       }},
      {"oslo_messaging_rabbit", "amqp_auto_delete",
       [](const Origin& o, Config& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.bus.auto_delete, ParseBool(o));
         return absl::OkStatus();
       }},
      {"persistency", "enable_persistency",
       [](const Origin& o, Config& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.persistency.enabled, ParseBool(o));
         return absl::OkStatus();
       }},
      {"persistency", "snapshot_interval",
       [](const Origin& o, Config& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.persistency.snapshot_interval,
                          ParseSeconds(o, 1, 365 * 86400.0));
         return absl::OkStatus();
       }},
      {"persistency", "persistor_address",
       [](const Origin& o, Config& c) -> absl::Status {
         RETURN_IF_ERROR(CheckAddress(o));
         c.persistency.persistor_address = o.value;
         return absl::OkStatus();
       }},
      {"persistency", "buffer_max_records",
       [](const Origin& o, Config& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.persistency.buffer_max_records,
                          ParseInt(o, 1, int64_t{1} << 40));
         return absl::OkStatus();
       }},
      {"persistency", "buffer_max_bytes",
       [](const Origin& o, Config& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.persistency.buffer_max_bytes, ParseSize(o, 64 << 10));
         return absl::OkStatus();
       }},
      {"persistency", "log_retention",
       [](const Origin& o, Config& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.persistency.log_retention,
                          ParseSeconds(o, 0, 365 * 86400.0));
         return absl::OkStatus();
       }},
      {"persistency", "get_all_after_downtime",
       [](const Origin& o, Config& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.persistency.get_all_after_downtime,
                          ParseSeconds(o, 0, 365 * 86400.0));
         return absl::OkStatus();
       }},
      {"persistency", "snapshots_to_keep",
       [](const Origin& o, Config& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.persistency.snapshots_to_keep, ParseInt(o, 2, 100));
         return absl::OkStatus();
       }},
      {"persistency", "snapshot_format",
       [](const Origin& o, Config& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.persistency.snapshot_format, ParseInt(o, 3, 4));
         return absl::OkStatus();
       }},
      {"persistency", "verify_snapshot_digest",
       [](const Origin& o, Config& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.persistency.verify_snapshot_digest, ParseBool(o));
         return absl::OkStatus();
       }},
      {"persistency", "journal_stall_timeout",
       [](const Origin& o, Config& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.persistency.journal_stall_timeout, ParseSeconds(o, 0, 86400.0));
         return absl::OkStatus();
       }},
      {"persistency", "fence_check_interval",
       [](const Origin& o, Config& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.persistency.fence_check_interval, ParseSeconds(o, 0, 3600.0));
         return absl::OkStatus();
       }},
      {"database", "connection",
       [](const Origin& o, Config& c) -> absl::Status {
         auto url = ParseDatabaseUrl(o.value);
         if (!url.ok()) {
           // The value may hold a password: never echo it.
           return absl::InvalidArgumentError(
               absl::StrCat(o.Describe(), ": ", url.status().message()));
         }
         c.database.connection = o.value;
         return absl::OkStatus();
       }},
      {"database", "password_file",
       [](const Origin& o, Config& c) {
         c.database.password_file = o.value;
         return absl::OkStatus();
       }},
      {"database", "password_env",
       [](const Origin& o, Config& c) {
         c.database.password_env = o.value;
         return absl::OkStatus();
       }},
      {"database", "connect_timeout",
       [](const Origin& o, Config& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.database.connect_timeout, ParseSeconds(o, 1, 3600));
         return absl::OkStatus();
       }},
      {"graph", "listen_address",
       [](const Origin& o, Config& c) -> absl::Status {
         RETURN_IF_ERROR(CheckAddress(o));
         c.graph.listen_address = o.value;
         return absl::OkStatus();
       }},
      {"graph", "collector_address",
       [](const Origin& o, Config& c) -> absl::Status {
         RETURN_IF_ERROR(CheckAddress(o));
         c.graph.collector_address = o.value;
         return absl::OkStatus();
       }},
      {"graph", "templates_dir",
       [](const Origin& o, Config& c) {
         c.graph.templates_dir = o.value;
         return absl::OkStatus();
       }},
      {"graph", "datasources_values_dir",
       [](const Origin& o, Config& c) {
         c.graph.datasources_values_dir = o.value;
         return absl::OkStatus();
       }},
      {"graph", "deleted_entity_grace",
       [](const Origin& o, Config& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.graph.deleted_entity_grace,
                          ParseSeconds(o, 0, 86400 * 30.0));
         return absl::OkStatus();
       }},
      {"graph", "metrics_address",
       [](const Origin& o, Config& c) -> absl::Status {
         if (!o.value.empty()) RETURN_IF_ERROR(CheckAddress(o));
         c.graph.metrics_address = o.value;
         return absl::OkStatus();
       }},
      {"persistor", "metrics_address",
       [](const Origin& o, Config& c) -> absl::Status {
         if (!o.value.empty()) RETURN_IF_ERROR(CheckAddress(o));
         c.persistor.metrics_address = o.value;
         return absl::OkStatus();
       }},
      {"collector", "metrics_address",
       [](const Origin& o, Config& c) -> absl::Status {
         if (!o.value.empty()) RETURN_IF_ERROR(CheckAddress(o));
         c.collector.metrics_address = o.value;
         return absl::OkStatus();
       }},
      {"DEFAULT", "rpc_topic",
       [](const Origin& o, Config& c) {
         if (o.value.empty()) {
           return absl::InvalidArgumentError(absl::StrCat(o.Describe(), ": must not be empty"));
         }
         c.bus.rpc_topic = o.value;
         return absl::OkStatus();
       }},
      {"graph", "rpc_workers",
       [](const Origin& o, Config& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.graph.rpc_workers, ParseInt(o, 1, 64));
         return absl::OkStatus();
       }},
      {"graph", "standby",
       [](const Origin& o, Config& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.graph.standby, ParseBool(o));
         return absl::OkStatus();
       }},
      {"graph", "standby_stream_timeout",
       [](const Origin& o, Config& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.graph.standby_stream_timeout, ParseSeconds(o, 2, 3600));
         return absl::OkStatus();
       }},
      {"graph", "consistency_interval",
       [](const Origin& o, Config& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.graph.consistency_interval, ParseSeconds(o, 0, 86400 * 30.0));
         return absl::OkStatus();
       }},
      {"persistor", "listen_address",
       [](const Origin& o, Config& c) -> absl::Status {
         RETURN_IF_ERROR(CheckAddress(o));
         c.persistor.listen_address = o.value;
         return absl::OkStatus();
       }},
      {"persistor", "max_batch_bytes",
       [](const Origin& o, Config& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.persistor.max_batch_bytes, ParseSize(o, 64 << 10));
         return absl::OkStatus();
       }},
      // 10: the persistor's own 4, 4 for writes, at least 2 for reads
      // (persistor_service/server/options.h kMinDbConnections).
      {"persistor", "max_db_connections",
       [](const Origin& o, Config& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.persistor.max_db_connections, ParseInt(o, 10, 10'000));
         return absl::OkStatus();
       }},
      {"persistor", "max_read_streams",
       [](const Origin& o, Config& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.persistor.max_read_streams, ParseInt(o, 1, 100'000));
         return absl::OkStatus();
       }},
      {"persistor", "stream_stall_timeout",
       [](const Origin& o, Config& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.persistor.stream_stall_timeout, ParseSeconds(o, 1, 3600));
         return absl::OkStatus();
       }},
      {"collector", "listen_address",
       [](const Origin& o, Config& c) -> absl::Status {
         RETURN_IF_ERROR(CheckAddress(o));
         c.collector.listen_address = o.value;
         return absl::OkStatus();
       }},
      {"collector", "graph_address",
       [](const Origin& o, Config& c) -> absl::Status {
         RETURN_IF_ERROR(CheckAddress(o));
         c.collector.graph_address = o.value;
         return absl::OkStatus();
       }},
      {"collector", "source",
       [](const Origin& o, Config& c) -> absl::Status {
         if (o.value.empty()) return o.Bad("must not be empty");
         c.collector.source = o.value;
         return absl::OkStatus();
       }},
      {"collector", "topology_file",
       [](const Origin& o, Config& c) {
         c.collector.topology_file = o.value;
         return absl::OkStatus();
       }},
      {"collector", "synthetic_hosts",
       [](const Origin& o, Config& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.collector.synthetic_hosts, ParseInt(o, 0, 1'000'000));
         return absl::OkStatus();
       }},
      {"collector", "synthetic_format",
       [](const Origin& o, Config& c) -> absl::Status {
         if (o.value != "workload" && o.value != "openstack") {
           return o.Bad("must be workload or openstack");
         }
         c.collector.synthetic_format = o.value;
         return absl::OkStatus();
       }},
      {"collector", "seed",
       [](const Origin& o, Config& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.collector.seed, ParseInt(o, 0, INT64_MAX));
         return absl::OkStatus();
       }},
      {"collector", "change_rate",
       [](const Origin& o, Config& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.collector.change_rate, ParseDouble(o, 0, 1e7));
         return absl::OkStatus();
       }},
      {"collector", "get_all_image",
       [](const Origin& o, Config& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.collector.get_all_image, ParseBool(o));
         return absl::OkStatus();
       }},
      {"collector", "outbox_max_events",
       [](const Origin& o, Config& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.collector.outbox_max_events,
                          ParseInt(o, 1, int64_t{1} << 32));
         return absl::OkStatus();
       }},
      {"collector", "push_window",
       [](const Origin& o, Config& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.collector.push_window, ParseInt(o, 1, 64));
         return absl::OkStatus();
       }},
      {"collector", "push_batch_size",
       [](const Origin& o, Config& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.collector.push_batch_size, ParseInt(o, 1, 100'000));
         return absl::OkStatus();
       }},
      {"collector", "dead_letter_file",
       [](const Origin& o, Config& c) -> absl::Status {
         if (o.value.empty()) return o.Bad("must name a file");
         c.collector.dead_letter_file = o.value;
         return absl::OkStatus();
       }},
      {"ssl", "cert_file",
       [](const Origin& o, Config& c) {
         c.ssl.cert_file = o.value;
         return absl::OkStatus();
       }},
      {"ssl", "key_file",
       [](const Origin& o, Config& c) {
         c.ssl.key_file = o.value;
         return absl::OkStatus();
       }},
      {"ssl", "ca_file",
       [](const Origin& o, Config& c) {
         c.ssl.ca_file = o.value;
         return absl::OkStatus();
       }},
      {"ssl", "allow_plaintext",
       [](const Origin& o, Config& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.ssl.allow_plaintext, ParseBool(o));
         return absl::OkStatus();
       }},
      {"ssl", "read_only_roles",
       [](const Origin& o, Config& c) -> absl::Status {
         c.ssl.read_only_roles.clear();
         for (absl::string_view r : absl::StrSplit(o.value, ',', absl::SkipWhitespace())) {
           r = absl::StripAsciiWhitespace(r);
           bool ok = !r.empty();
           for (char ch : r) {
             ok = ok && (absl::ascii_isalnum(ch) || ch == '-' || ch == '_' || ch == '.' ||
                         (ch == '*' && r.size() == 1));
           }
           if (!ok) {
             return o.Bad(absl::StrCat("has a bad role \"", r,
                                       "\" (roles are [A-Za-z0-9._-]+, \"*\" or anonymous)"));
           }
           c.ssl.read_only_roles.emplace_back(r);
         }
         return absl::OkStatus();
       }},
      {"limits", "max_events_per_push",
       [](const Origin& o, Config& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.limits.max_events_per_push, ParseInt(o, 1, 1'000'000));
         return absl::OkStatus();
       }},
      {"limits", "max_event_bytes",
       [](const Origin& o, Config& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.limits.max_event_bytes, ParseSize(o, 256));
         return absl::OkStatus();
       }},
      {"limits", "max_properties",
       [](const Origin& o, Config& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.limits.max_properties, ParseInt(o, 1, 1'000'000));
         return absl::OkStatus();
       }},
      {"limits", "max_property_bytes",
       [](const Origin& o, Config& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.limits.max_property_bytes, ParseSize(o, 64));
         return absl::OkStatus();
       }},
      {"limits", "read_only_calls_per_second",
       [](const Origin& o, Config& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.limits.read_only_calls_per_second, ParseDouble(o, 0, 1e6));
         return absl::OkStatus();
       }},
      {"limits", "max_records_per_append",
       [](const Origin& o, Config& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.limits.max_records_per_append, ParseInt(o, 1, 10'000'000));
         return absl::OkStatus();
       }},
      {"limits", "max_json_depth",
       [](const Origin& o, Config& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.limits.max_json_depth, ParseInt(o, 2, 1'000));
         return absl::OkStatus();
       }},
      {"limits", "max_distinct_keys",
       [](const Origin& o, Config& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.limits.max_distinct_keys,
                          ParseInt(o, 1'000, Config::kMaxDistinctKeysLimit));
         return absl::OkStatus();
       }},
      {"limits", "max_graph_vertices",
       [](const Origin& o, Config& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.limits.max_graph_vertices, ParseInt(o, 1, int64_t{1} << 32));
         return absl::OkStatus();
       }},
      {"limits", "max_graph_edges",
       [](const Origin& o, Config& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.limits.max_graph_edges, ParseInt(o, 1, int64_t{1} << 32));
         return absl::OkStatus();
       }},
  };
  return *keys;
}

std::string CanonicalSection(absl::string_view s) {
  if (s == "persistancy") return "persistency";
  return std::string(s);
}

std::string CanonicalKey(absl::string_view k) {
  if (k == "enable_persistancy") return "enable_persistency";
  return std::string(k);
}

}  // namespace

std::string DatabaseUrl::Redacted() const {
  std::string out = absl::StrCat("mysql://", user);
  if (!password.empty()) absl::StrAppend(&out, ":***");
  absl::StrAppend(&out, "@", host, ":", port, "/", database);
  if (!unix_socket.empty()) absl::StrAppend(&out, "?unix_socket=", unix_socket);
  return out;
}

absl::StatusOr<DatabaseUrl> ParseDatabaseUrl(absl::string_view url) {
  DatabaseUrl out;
  size_t scheme_end = url.find("://");
  if (scheme_end == absl::string_view::npos) {
    return absl::InvalidArgumentError(
        "database URL must look like mysql://USER[:PASSWORD]@HOST[:PORT]/DB");
  }
  absl::string_view scheme = url.substr(0, scheme_end);
  if (scheme != "mysql" && !absl::StartsWith(scheme, "mysql+")) {
    return absl::InvalidArgumentError(
        absl::StrCat("database URL scheme \"", scheme, "\" is not supported (use mysql://)"));
  }
  absl::string_view rest = url.substr(scheme_end + 3);
  size_t at = rest.rfind('@');
  if (at == absl::string_view::npos) {
    return absl::InvalidArgumentError("database URL has no USER@ part");
  }
  absl::string_view userinfo = rest.substr(0, at);
  rest = rest.substr(at + 1);
  size_t colon = userinfo.find(':');
  out.user = std::string(userinfo.substr(0, colon));
  if (colon != absl::string_view::npos) {
    out.password = std::string(userinfo.substr(colon + 1));
  }
  if (out.user.empty()) {
    return absl::InvalidArgumentError("database URL has an empty user name");
  }
  size_t slash = rest.find('/');
  if (slash == absl::string_view::npos) {
    return absl::InvalidArgumentError("database URL has no /DATABASE part");
  }
  absl::string_view hostport = rest.substr(0, slash);
  absl::string_view dbq = rest.substr(slash + 1);
  size_t q = dbq.find('?');
  out.database = std::string(dbq.substr(0, q));
  if (out.database.empty()) {
    return absl::InvalidArgumentError("database URL has an empty database name");
  }
  if (q != absl::string_view::npos) {
    for (absl::string_view kv : absl::StrSplit(dbq.substr(q + 1), '&')) {
      std::pair<absl::string_view, absl::string_view> p =
          absl::StrSplit(kv, absl::MaxSplits('=', 1));
      if (p.first == "unix_socket") {
        out.unix_socket = std::string(p.second);
      } else if (p.first == "charset" || p.first == "plugin") {
        // OpenStack URLs carry these; utf8mb4 is what we use anyway.
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat("database URL option \"", p.first, "\" is not supported"));
      }
    }
  }
  if (!hostport.empty()) {
    size_t pc = hostport.rfind(':');
    if (pc != absl::string_view::npos) {
      out.host = std::string(hostport.substr(0, pc));
      int port;
      if (!absl::SimpleAtoi(hostport.substr(pc + 1), &port) || port <= 0 || port > 65535) {
        return absl::InvalidArgumentError(
            absl::StrCat("database URL port \"", hostport.substr(pc + 1), "\" is not a port"));
      }
      out.port = port;
    } else {
      out.host = std::string(hostport);
    }
  }
  return out;
}

absl::Status ValidateAddress(absl::string_view address, absl::string_view what) {
  size_t pc = address.rfind(':');
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": \"", address, "\" ", why));
  };
  if (pc == absl::string_view::npos || pc == 0) {
    return bad("is not an address (use HOST:PORT)");
  }
  absl::string_view port_text = address.substr(pc + 1);
  int64_t port = 0;
  if (port_text.empty()) return bad("has no port (use HOST:PORT)");
  if (!absl::SimpleAtoi(port_text, &port)) {
    return bad(absl::StrCat("has \"", port_text, "\" for a port, which is not a number"));
  }
  if (port <= 0 || port > 65535) {
    return bad(absl::StrCat("has ", port_text, " for a port, which is not a port (1-65535)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Config> ParseConfig(absl::string_view text, absl::string_view filename) {
  Config config;
  config.path = std::string(filename);
  std::map<std::pair<std::string, std::string>, const KeySpec*> index;
  std::map<std::string, bool> sections;
  for (const KeySpec& k : Keys()) {
    index[{k.section, k.key}] = &k;
    sections[k.section] = true;
  }
  // canonical (section, key) -> where it was set, to catch duplicates and
  // the two spellings disagreeing.
  std::map<std::pair<std::string, std::string>, Origin> seen;

  std::string section;
  int line_no = 0;
  for (absl::string_view raw : absl::StrSplit(text, '\n')) {
    ++line_no;
    absl::string_view line = absl::StripAsciiWhitespace(raw);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.front() == '[') {
      if (line.back() != ']') {
        return absl::InvalidArgumentError(
            absl::StrCat(filename, ":", line_no, ": malformed section header \"", line, "\""));
      }
      std::string name(absl::StripAsciiWhitespace(line.substr(1, line.size() - 2)));
      std::string canon = CanonicalSection(name);
      if (!sections.count(canon)) {
        return absl::InvalidArgumentError(
            absl::StrCat(filename, ":", line_no, ": unknown section [", name, "]"));
      }
      section = name;
      continue;
    }
    size_t eq = line.find('=');
    if (eq == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(filename, ":", line_no, ": expected \"key = value\", got \"", line, "\""));
    }
    if (section.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(filename, ":", line_no, ": key outside of any [section]"));
    }
    Origin o;
    o.file = std::string(filename);
    o.line = line_no;
    o.section = section;
    o.key = std::string(absl::StripAsciiWhitespace(line.substr(0, eq)));
    o.value = std::string(absl::StripAsciiWhitespace(line.substr(eq + 1)));
    std::pair<std::string, std::string> canon{CanonicalSection(section), CanonicalKey(o.key)};
    auto it = index.find(canon);
    if (it == index.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat(filename, ":", line_no, ": unknown key \"", o.key, "\" in [", section, "]"));
    }
    auto prev = seen.find(canon);
    if (prev != seen.end()) {
      if (prev->second.key == o.key && prev->second.section == o.section) {
        return absl::InvalidArgumentError(
            absl::StrCat(o.Describe(), ": set twice (first at line ", prev->second.line, ")"));
      }
      if (prev->second.value != o.value) {
        return absl::InvalidArgumentError(absl::StrCat(
            o.Describe(), ": \"", o.value, "\" contradicts [", prev->second.section, "] ",
            prev->second.key, " = \"", prev->second.value, "\" at line ", prev->second.line));
      }
    }
    seen[canon] = o;
    RETURN_IF_ERROR(it->second->set(o, config));
    config.origins[absl::StrCat(canon.first, " ", canon.second)] = o.Describe();
  }
  return config;
}

std::string Config::Where(absl::string_view section, absl::string_view key) const {
  auto it = origins.find(absl::StrCat(section, " ", key));
  if (it != origins.end()) return it->second;
  return absl::StrCat("[", section, "] ", key);
}

absl::Status CheckPaths(const Config& config, absl::string_view program) {
  auto bad = [&](absl::string_view section, absl::string_view key, const std::string& value,
                 absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat(config.Where(section, key), ": \"", value, "\" ", why));
  };
  auto check_dir = [&](absl::string_view section, absl::string_view key, const std::string& dir,
                       bool writable) -> absl::Status {
    if (dir.empty()) return absl::OkStatus();
    struct stat st;
    if (stat(dir.c_str(), &st) != 0) {
      return bad(section, key, dir,
                 errno == ENOENT ? std::string("does not exist")
                                 : absl::StrCat("cannot be used: ", std::strerror(errno)));
    }
    if (!S_ISDIR(st.st_mode)) return bad(section, key, dir, "is not a directory");
    if (writable && access(dir.c_str(), W_OK | X_OK) != 0) {
      return bad(section, key, dir, absl::StrCat("is not writable: ", std::strerror(errno)));
    }
    return absl::OkStatus();
  };
  RETURN_IF_ERROR(check_dir("DEFAULT", "log_dir", config.log_dir, true));
  if (program == "vitrage-graph") {
    RETURN_IF_ERROR(check_dir("graph", "templates_dir", config.graph.templates_dir, false));
    RETURN_IF_ERROR(
        check_dir("graph", "datasources_values_dir", config.graph.datasources_values_dir, false));
  }
  return absl::OkStatus();
}

absl::StatusOr<Config> LoadConfig(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat("cannot read config file ", path, ": ", std::strerror(errno)));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseConfig(ss.str(), path);
}

}  // namespace vitrage
