#include "common/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "absl/strings/str_cat.h"

namespace vitrage {
namespace {

using ::testing::HasSubstr;

TEST(ConfigTest, ReadsTheBusKeysTheOpenStackWay) {
  auto c = ParseConfig(R"([DEFAULT]
transport_url = rabbit://u:pw@h1:5672,u:pw@h2:5672/v
[datasources]
notification_topics = a, b
notification_exchange = nova
[oslo_messaging_rabbit]
ssl = true
ssl_ca_file = /ca.pem
rabbit_qos_prefetch_count = 64
amqp_durable_queues = true
)",
                       "t.conf");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->bus.transport_url, "rabbit://u:pw@h1:5672,u:pw@h2:5672/v");
  EXPECT_EQ(c->bus.topics, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(c->bus.exchange, "nova");
  EXPECT_EQ(c->bus.priorities, (std::vector<std::string>{"info"}));
  EXPECT_TRUE(c->bus.ssl);
  EXPECT_EQ(c->bus.ssl_ca_file, "/ca.pem");
  EXPECT_EQ(c->bus.prefetch, 64);
  EXPECT_TRUE(c->bus.durable_queues);
  EXPECT_TRUE(ParseConfig("", "t.conf")->bus.transport_url.empty()) << "no bus by default";
}

TEST(ConfigTest, ReadsTheRpcApiKeys) {
  auto d = ParseConfig("", "t.conf");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->bus.rpc_topic, "rpcapiv1");
  EXPECT_EQ(d->bus.control_exchange, "vitrage");
  EXPECT_EQ(d->graph.rpc_workers, 2);
  auto c = ParseConfig(
      "[DEFAULT]\nrpc_topic = rpcapiv2\ncontrol_exchange = v2\n"
      "[graph]\nrpc_workers = 4\n",
      "t.conf");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->bus.rpc_topic, "rpcapiv2");
  EXPECT_EQ(c->bus.control_exchange, "v2");
  EXPECT_EQ(c->graph.rpc_workers, 4);
  c = ParseConfig("[DEFAULT]\nrpc_topic =\n", "t.conf");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("rpc_topic"));
  EXPECT_FALSE(ParseConfig("[graph]\nrpc_workers = 0\n", "t.conf").ok());
}

TEST(ConfigTest, BusErrorsNameTheKeyAndNeverThePassword) {
  auto c = ParseConfig("[DEFAULT]\ntransport_url = kafka://u:hunter2@h/\n", "t.conf");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("[DEFAULT] transport_url"));
  EXPECT_THAT(c.status().message(), ::testing::Not(HasSubstr("hunter2")));
  c = ParseConfig("[oslo_messaging_rabbit]\nrabbit_qos_prefetch_count = 0\n", "t.conf");
  EXPECT_FALSE(c.ok());
  c = ParseConfig("[datasources]\nnotification_topics = a b\n", "t.conf");
  EXPECT_FALSE(c.ok());
}

TEST(ConfigTest, DefaultsWhenEmpty) {
  auto c = ParseConfig("", "vitrage.conf");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->persistency.enabled);
  EXPECT_EQ(c->persistency.snapshot_interval, absl::Seconds(600));
  EXPECT_EQ(c->persistency.persistor_address, "127.0.0.1:9701");
}

TEST(ConfigTest, ReadsPersistencySection) {
  auto c = ParseConfig(
      "# comment\n"
      "[persistency]\n"
      "enable_persistency = false\n"
      "snapshot_interval = 30\n"
      "persistor_address = 127.0.0.1:5555\n"
      "buffer_max_bytes = 64M\n"
      "[database]\n"
      "connection = mysql://vitrage:secret@db.example:3307/vitrage\n",
      "vitrage.conf");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->persistency.enabled);
  EXPECT_EQ(c->persistency.snapshot_interval, absl::Seconds(30));
  EXPECT_EQ(c->persistency.persistor_address, "127.0.0.1:5555");
  EXPECT_EQ(c->persistency.buffer_max_bytes, 64u << 20);
  EXPECT_EQ(c->database.connection, "mysql://vitrage:secret@db.example:3307/vitrage");
}

TEST(ConfigTest, AcceptsTheOriginalSpecSpelling) {
  auto c = ParseConfig("[persistancy]\nenable_persistancy = false\n", "f");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->persistency.enabled);
  // Mixed: old key in the new section, and new key in the old section.
  c = ParseConfig("[persistency]\nenable_persistancy = false\n", "f");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->persistency.enabled);
  c = ParseConfig("[persistancy]\nsnapshot_interval = 5\n", "f");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->persistency.snapshot_interval, absl::Seconds(5));
}

TEST(ConfigTest, BothSpellingsThatDisagreeAreAnError) {
  auto c = ParseConfig(
      "[persistency]\nenable_persistency = true\n"
      "[persistancy]\nenable_persistancy = false\n",
      "v.conf");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("v.conf:4"));
  EXPECT_THAT(c.status().message(), HasSubstr("contradicts"));
  // Agreeing spellings are fine.
  EXPECT_TRUE(ParseConfig("[persistency]\nenable_persistency = false\n"
                          "[persistancy]\nenable_persistancy = false\n",
                          "v.conf")
                  .ok());
}

TEST(ConfigTest, BadNumberNamesFileSectionKeyAndValue) {
  auto c = ParseConfig("[persistency]\nbuffer_max_records = abc\n", "vitrage.conf");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(c.status().message(), HasSubstr("vitrage.conf:2: [persistency] buffer_max_records: "
                                              "\"abc\" is not a number"));
}

TEST(ConfigTest, BadBoolIsAnError) {
  auto c = ParseConfig("[persistency]\nenable_persistency = maybe\n", "f");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("\"maybe\" is not a boolean"));
}

TEST(ConfigTest, OutOfRangeIsAnError) {
  auto c = ParseConfig("[persistency]\nsnapshot_interval = 0\n", "f");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("snapshot_interval"));
  c = ParseConfig("[persistency]\nsnapshots_to_keep = 1\n", "f");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("out of range"));
  for (const char* bad : {"2", "5", "four"}) {
    c = ParseConfig(absl::StrCat("[persistency]\nsnapshot_format = ", bad, "\n"), "f");
    ASSERT_FALSE(c.ok()) << bad;
    EXPECT_THAT(c.status().message(), HasSubstr("snapshot_format"));
  }
  c = ParseConfig("[persistency]\nsnapshot_format = 3\n", "f");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->persistency.snapshot_format, 3);
  EXPECT_EQ(ParseConfig("", "f")->persistency.snapshot_format, 4);
}

TEST(ConfigTest, UnknownKeyIsAnError) {
  auto c = ParseConfig("[persistency]\nsnapshot_intervall = 5\n", "f");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(),
              HasSubstr("unknown key \"snapshot_intervall\" in [persistency]"));
}

TEST(ConfigTest, UnknownSectionIsAnError) {
  auto c = ParseConfig("[persistence]\nenable_persistency = true\n", "f");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("unknown section [persistence]"));
}

TEST(ConfigTest, MalformedLinesAreErrors) {
  EXPECT_THAT(ParseConfig("enable_persistency = true\n", "f").status().message(),
              HasSubstr("outside of any [section]"));
  EXPECT_THAT(ParseConfig("[persistency\n", "f").status().message(),
              HasSubstr("malformed section header"));
  EXPECT_THAT(ParseConfig("[persistency]\njust words\n", "f").status().message(),
              HasSubstr("f:2: expected \"key = value\""));
  EXPECT_THAT(ParseConfig("[persistency]\nsnapshot_interval=1\n"
                          "snapshot_interval=2\n",
                          "f")
                  .status()
                  .message(),
              HasSubstr("set twice"));
}

TEST(ConfigTest, BadAddressIsAnError) {
  auto c = ParseConfig("[persistency]\npersistor_address = localhost\n", "f");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("is not an address"));
  c = ParseConfig("[graph]\nlisten_address = 127.0.0.1:70000\n", "f");
  ASSERT_FALSE(c.ok());
}

// Issue 26: a port out of range is not "not an address", and says so in
// the shape of every other bad value.
TEST(ConfigTest, PortOutOfRangeSaysItIsNotAPort) {
  auto c = ParseConfig("[graph]\nlisten_address = 127.0.0.1:99999\n", "v.conf");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(),
            "v.conf:2: [graph] listen_address: \"127.0.0.1:99999\" has 99999 for a port, which "
            "is not a port (1-65535)");
  c = ParseConfig("[collector]\ngraph_address = 127.0.0.1:http\n", "v.conf");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("\"http\" for a port, which is not a number"));
  c = ParseConfig("[collector]\ngraph_address = 127.0.0.1:\n", "v.conf");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("has no port (use HOST:PORT)"));
}

// Issue 26: durations take units; a plain number is seconds.
TEST(ConfigTest, DurationsTakeUnits) {
  struct Case {
    const char* text;
    absl::Duration want;
  } cases[] = {{"600", absl::Seconds(600)},  {"0.5", absl::Milliseconds(500)},
               {"10m", absl::Minutes(10)},   {"30s", absl::Seconds(30)},
               {"2h", absl::Hours(2)},       {"1500ms", absl::Milliseconds(1500)},
               {"1h30m", absl::Minutes(90)}, {"1d", absl::Hours(24)},
               {"1d12h", absl::Hours(36)}};
  for (const Case& k : cases) {
    auto c = ParseConfig(absl::StrCat("[persistency]\nlog_retention = ", k.text, "\n"), "f");
    ASSERT_TRUE(c.ok()) << k.text << ": " << c.status();
    EXPECT_EQ(c->persistency.log_retention, k.want) << k.text;
  }
  auto c = ParseConfig("[persistency]\nlog_retention = 10 minutes\n", "v.conf");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(),
            "v.conf:2: [persistency] log_retention: \"10 minutes\" is not a duration (a number "
            "of seconds, or with a unit: 500ms, 30s, 10m, 2h, 1d)");
  c = ParseConfig("[persistency]\nsnapshot_interval = 500ms\n", "v.conf");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(),
            "v.conf:2: [persistency] snapshot_interval: \"500ms\" is out of range [1s, 365d]");
  c = ParseConfig("[persistency]\nsnapshot_interval = -5s\n", "v.conf");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("is out of range"));
  c = ParseConfig("[persistency]\njournal_stall_timeout = 2d\n", "v.conf");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("\"2d\" is out of range [0, 1d]"));
}

// Issue 26: a directory that is not there stops start-up in the same shape,
// naming the line it was set on.
TEST(ConfigTest, CheckPathsNamesTheLine) {
  std::string dir = ::testing::TempDir();
  auto c = ParseConfig(absl::StrCat("[DEFAULT]\nlog_dir = ", dir,
                                    "\n[graph]\n\ntemplates_dir = /nonexistent/templates\n"),
                       "v.conf");
  ASSERT_TRUE(c.ok()) << c.status();
  // The persistor and collector have no templates.
  EXPECT_TRUE(CheckPaths(*c, "vitrage-persistor").ok());
  absl::Status s = CheckPaths(*c, "vitrage-graph");
  EXPECT_EQ(s.message(),
            "v.conf:5: [graph] templates_dir: \"/nonexistent/templates\" does not exist");
  c = ParseConfig("[DEFAULT]\nlog_dir = /nonexistent/log\n", "v.conf");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(CheckPaths(*c, "vitrage-collector").message(),
            "v.conf:2: [DEFAULT] log_dir: \"/nonexistent/log\" does not exist");
  c = ParseConfig("[DEFAULT]\nlog_dir = /etc/hostname\n", "v.conf");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(CheckPaths(*c, "vitrage-graph").message(),
            "v.conf:2: [DEFAULT] log_dir: \"/etc/hostname\" is not a directory");
  Config defaults;
  EXPECT_TRUE(CheckPaths(defaults, "vitrage-graph").ok());
  defaults.graph.templates_dir = "/nonexistent";
  EXPECT_EQ(CheckPaths(defaults, "vitrage-graph").message(),
            "[graph] templates_dir: \"/nonexistent\" does not exist");
}

TEST(ConfigTest, MetricsAddressesAreOptionalButChecked) {
  auto c = ParseConfig("[graph]\nmetrics_address = 127.0.0.1:9802\n", "f");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->graph.metrics_address, "127.0.0.1:9802");
  EXPECT_EQ(c->persistor.metrics_address, "");
  c = ParseConfig("[collector]\nmetrics_address = nowhere\n", "f");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("metrics_address"));
}

TEST(ConfigTest, BadDatabaseUrlNeverEchoesThePassword) {
  auto c = ParseConfig("[database]\nconnection = postgres://u:hunter2@h/db\n", "f");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("not supported"));
  EXPECT_THAT(c.status().message(), ::testing::Not(HasSubstr("hunter2")));
}

TEST(ConfigTest, MissingFileIsNotFound) {
  auto c = LoadConfig("/nonexistent/vitrage.conf");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(c.status().message(), HasSubstr("/nonexistent/vitrage.conf"));
}

TEST(ConfigTest, LoadsFromFile) {
  std::string path = ::testing::TempDir() + "/vitrage_config_test.conf";
  {
    std::ofstream out(path);
    out << "[persistancy]\nenable_persistancy = no\n";
  }
  auto c = LoadConfig(path);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->persistency.enabled);
  EXPECT_EQ(c->path, path);
  std::remove(path.c_str());
}

TEST(DatabaseUrlTest, ParsesAllParts) {
  auto u = ParseDatabaseUrl("mysql+pymysql://vitrage:pw@10.0.0.5:3307/vitragedb?charset=utf8");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->user, "vitrage");
  EXPECT_EQ(u->password, "pw");
  EXPECT_EQ(u->host, "10.0.0.5");
  EXPECT_EQ(u->port, 3307);
  EXPECT_EQ(u->database, "vitragedb");
  EXPECT_EQ(u->Redacted(), "mysql://vitrage:***@10.0.0.5:3307/vitragedb");
}

TEST(DatabaseUrlTest, UnixSocket) {
  auto u = ParseDatabaseUrl("mysql://root@/vitrage?unix_socket=/tmp/m.sock");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->unix_socket, "/tmp/m.sock");
  EXPECT_EQ(u->password, "");
}

TEST(ConfigTest, SslSectionAndReadOnlyRoles) {
  auto c = ParseConfig("", "v.conf");
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->ssl.allow_plaintext);
  EXPECT_TRUE(c->ssl.cert_file.empty());
  EXPECT_THAT(c->ssl.read_only_roles,
              ::testing::ElementsAre("reader", "admin", "graph", "collector", "persistor"));
  c = ParseConfig(
      "[ssl]\ncert_file = /etc/vitrage/graph.pem\nkey_file = /etc/vitrage/graph.key\n"
      "ca_file = /etc/vitrage/ca.pem\nread_only_roles = reader, monitoring ,*\n",
      "v.conf");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->ssl.cert_file, "/etc/vitrage/graph.pem");
  EXPECT_EQ(c->ssl.key_file, "/etc/vitrage/graph.key");
  EXPECT_EQ(c->ssl.ca_file, "/etc/vitrage/ca.pem");
  EXPECT_THAT(c->ssl.read_only_roles, ::testing::ElementsAre("reader", "monitoring", "*"));
  c = ParseConfig("[ssl]\nallow_plaintext = true\n", "v.conf");
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->ssl.allow_plaintext);
  c = ParseConfig("[ssl]\nread_only_roles = reader, bad role\n", "v.conf");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("v.conf:2: [ssl] read_only_roles"));
  EXPECT_THAT(c.status().message(), HasSubstr("bad role \"bad role\""));
  EXPECT_FALSE(ParseConfig("[ssl]\ncertfile = x\n", "v.conf").ok());
}

TEST(ConfigTest, LimitsSection) {
  auto c = ParseConfig(
      "[limits]\nmax_events_per_push = 50\nmax_event_bytes = 64K\nmax_properties = 20\n"
      "max_property_bytes = 1K\nmax_records_per_append = 7\nread_only_calls_per_second = 2.5\n",
      "v.conf");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->limits.max_events_per_push, 50);
  EXPECT_EQ(c->limits.max_event_bytes, 64u << 10);
  EXPECT_EQ(c->limits.max_properties, 20);
  EXPECT_EQ(c->limits.max_property_bytes, 1024u);
  EXPECT_EQ(c->limits.max_records_per_append, 7);
  EXPECT_EQ(c->limits.read_only_calls_per_second, 2.5);
  c = ParseConfig("[limits]\nmax_events_per_push = 0\n", "v.conf");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(),
              HasSubstr("[limits] max_events_per_push: \"0\" is out of range"));
}

TEST(ConfigTest, PersistorReadLimits) {
  auto c = ParseConfig("", "v.conf");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->persistor.max_db_connections, 20);
  EXPECT_EQ(c->persistor.max_read_streams, 32);
  EXPECT_EQ(c->persistor.stream_stall_timeout, absl::Seconds(30));
  c = ParseConfig(
      "[persistor]\nmax_db_connections = 40\nmax_read_streams = 8\nstream_stall_timeout = 2.5\n",
      "v.conf");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->persistor.max_db_connections, 40);
  EXPECT_EQ(c->persistor.max_read_streams, 8);
  EXPECT_EQ(c->persistor.stream_stall_timeout, absl::Milliseconds(2500));
  for (const char* bad :
       {"max_db_connections = 9", "max_db_connections = 10001", "max_read_streams = 0",
        "stream_stall_timeout = 0.5", "stream_stall_timeout = 3601"}) {
    c = ParseConfig(absl::StrCat("[persistor]\n", bad, "\n"), "v.conf");
    ASSERT_FALSE(c.ok()) << bad;
    const std::string key(absl::string_view(bad).substr(0, absl::string_view(bad).find(' ')));
    EXPECT_THAT(c.status().message(), HasSubstr(absl::StrCat("[persistor] ", key, ": "))) << bad;
  }
}

TEST(ConfigTest, LimitsOnNestingKeysAndGraphSize) {
  auto c = ParseConfig("", "v.conf");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->limits.max_json_depth, 64);
  EXPECT_EQ(c->limits.max_distinct_keys, 1'000'000);
  EXPECT_EQ(c->limits.max_graph_vertices, 50'000'000u);
  EXPECT_EQ(c->limits.max_graph_edges, 50'000'000u);
  EXPECT_EQ(c->collector.dead_letter_file, "/var/log/vitrage/collector-dead-letter.jsonl");
  c = ParseConfig(
      "[limits]\nmax_json_depth = 8\nmax_distinct_keys = 5000\nmax_graph_vertices = 10\n"
      "max_graph_edges = 20\n[collector]\ndead_letter_file = /tmp/dl.jsonl\n",
      "v.conf");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->limits.max_json_depth, 8);
  EXPECT_EQ(c->limits.max_distinct_keys, 5000);
  EXPECT_EQ(c->limits.max_graph_vertices, 10u);
  EXPECT_EQ(c->limits.max_graph_edges, 20u);
  EXPECT_EQ(c->collector.dead_letter_file, "/tmp/dl.jsonl");
  c = ParseConfig("[limits]\nmax_json_depth = 1\n", "v.conf");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("[limits] max_json_depth: \"1\" is out of range"));
  c = ParseConfig("[limits]\nmax_distinct_keys = 4194304\n", "v.conf");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("[limits] max_distinct_keys"));
}

TEST(DatabaseUrlTest, Rejections) {
  EXPECT_FALSE(ParseDatabaseUrl("vitrage").ok());
  EXPECT_FALSE(ParseDatabaseUrl("mysql://host/db").ok());
  EXPECT_FALSE(ParseDatabaseUrl("mysql://u@host:abc/db").ok());
  EXPECT_FALSE(ParseDatabaseUrl("mysql://u@host").ok());
  EXPECT_FALSE(ParseDatabaseUrl("mysql://u@host/db?sslmode=x").ok());
}

}  // namespace
}  // namespace vitrage
