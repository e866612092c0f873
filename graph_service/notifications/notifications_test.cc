#include <dirent.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/testing/test_dirs.h"
#include "gmock/gmock.h"
#include "graph_service/graph/graph.h"
#include "graph_service/graph/json_value.h"
#include "graph_service/notifications/notification.h"
#include "graph_service/notifications/oslo_envelope.h"
#include "graph_service/notifications/push_drivers.h"
#include "graph_service/processor/event.h"
#include "graph_service/processor/event_json.h"
#include "graph_service/processor/processor.h"
#include "gtest/gtest.h"

namespace vitrage::notifications {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;

json NovaCreate() {
  return json::parse(R"({
    "message_id": "6f1c7bfa-2b6c-4a0e-9d9e-2b8b2f8d0001",
    "publisher_id": "nova-compute:host-0",
    "event_type": "instance.create.end",
    "priority": "INFO",
    "timestamp": "2024-05-01 10:00:00.123456",
    "payload": {
      "nova_object.name": "InstanceCreatePayload",
      "nova_object.namespace": "nova",
      "nova_object.version": "1.10",
      "nova_object.data": {"uuid": "vm-0", "host_name": "vm-0", "state": "active",
                           "host": "host-0", "tenant_id": "p1",
                           "instance_name": "instance-00000001"}
    }
  })");
}

// ------------------------------------------------------------- envelope

TEST(OsloEnvelopeTest, WrapThenParseGivesTheMessageBack) {
  json msg = NovaCreate();
  msg["payload"]["nova_object.data"]["display_name"] = "caf\xc3\xa9 \xe2\x9c\x93";
  std::string body = WrapOsloEnvelope(msg);
  json outer = json::parse(body);
  EXPECT_EQ(outer["oslo.version"], "2.0");
  ASSERT_TRUE(outer["oslo.message"].is_string());
  EXPECT_EQ(body.find("\xc3\xa9"), std::string::npos) << "non-ASCII must be escaped";
  absl::StatusOr<json> back = ParseOsloEnvelope(body);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, msg);
}

// The envelope is read without a JSON document when it has oslo's exact
// shape, and by the full parser otherwise: both must give what parsing
// the envelope, then its oslo.message text, gives.
TEST(OsloEnvelopeTest, EveryEnvelopeShapeGivesTheFullParsersMessage) {
  json msg = NovaCreate();
  msg["payload"]["nova_object.data"]["display_name"] =
      "q\"uote back\\slash /slash\nnew\tline \x01ctl caf\xc3\xa9 \xe2\x9c\x93";
  const std::string text = msg.dump(-1, ' ', /*ensure_ascii=*/true);
  const std::string quoted = json(text).dump();  // the text as a JSON string
  const std::vector<std::string> bodies = {
      WrapOsloEnvelope(msg),
      // json.dumps' separators, either key order, more whitespace.
      "{\"oslo.version\": \"2.0\", \"oslo.message\": " + quoted + "}",
      "{\"oslo.message\": " + quoted + ", \"oslo.version\": \"2.0\"}",
      " \n{ \"oslo.version\" :\t\"2.0\" ,\r\n\"oslo.message\":" + quoted + " } \n",
      // Left to the full parser: a \u escape in the envelope, another
      // compatible version, an escaped key.
      "{\"oslo.version\": \"2.0\", \"oslo.message\": " +
          json(msg.dump(-1, ' ', /*ensure_ascii=*/false)).dump(-1, ' ', true) + "}",
      "{\"oslo.version\": \"2.0.0\", \"oslo.message\": " + quoted + "}",
      "{\"oslo.\\u0076ersion\": \"2.0\", \"oslo.message\": " + quoted + "}",
  };
  for (const std::string& body : bodies) {
    json env = json::parse(body);
    json expected = json::parse(env["oslo.message"].get<std::string>());
    absl::StatusOr<json> got = ParseOsloEnvelope(body);
    ASSERT_TRUE(got.ok()) << body << ": " << got.status();
    EXPECT_EQ(*got, expected) << body;
    EXPECT_EQ(*got, msg) << body;
  }
  // Almost oslo's shape, but not JSON or not an envelope: the full
  // parser's verdict, as before.
  EXPECT_TRUE(absl::IsInvalidArgument(
      ParseOsloEnvelope("{\"oslo.version\": \"2.0\", \"oslo.message\": " + quoted).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(
      ParseOsloEnvelope("{\"oslo.version\": \"2.0\", \"oslo.message\": \"{\"}").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(
      ParseOsloEnvelope("{\"oslo.version\": \"3.0\", \"oslo.message\": " + quoted + "}").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(
      ParseOsloEnvelope("{\"oslo.version\": \"2.0\", \"oslo.message\": \"a\x01b\"}").status()));
  absl::StatusOr<json> extra =
      ParseOsloEnvelope("{\"oslo.version\": \"2.0\", \"oslo.message\": " + quoted + ", \"x\": 1}");
  ASSERT_TRUE(extra.ok()) << extra.status();  // deserialize_msg ignores other keys
  EXPECT_EQ(*extra, msg);
}

TEST(OsloEnvelopeTest, WrapReplacesInvalidUtf8InsteadOfThrowing) {
  json msg = {{"s", std::string("a\xff"
                                "b")}};
  std::string body = WrapOsloEnvelope(msg);
  absl::StatusOr<json> back = ParseOsloEnvelope(body);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ((*back)["s"],
            "a\xef\xbf\xbd"
            "b");
}

TEST(OsloEnvelopeTest, MessageWithoutEnvelopeIsTakenAsIs) {
  json msg = NovaCreate();
  absl::StatusOr<json> back = ParseOsloEnvelope(msg.dump());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, msg);
  // One envelope key alone is not an envelope (deserialize_msg).
  json half = {{"oslo.version", "2.0"}, {"x", 1}};
  back = ParseOsloEnvelope(half.dump());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, half);
}

TEST(OsloEnvelopeTest, CompatibleVersionsAreRead) {
  for (const char* v : {"2.0", "2.0.0", "2.00", "2.0.0.7"}) {
    json env = {{"oslo.version", v}, {"oslo.message", R"({"a": 1})"}};
    absl::StatusOr<json> back = ParseOsloEnvelope(env.dump());
    ASSERT_TRUE(back.ok()) << v << ": " << back.status();
    EXPECT_EQ((*back)["a"], 1);
  }
}

void ExpectInvalid(std::string_view body, std::string_view what,
                   const Config::Limits& limits = Config::Limits{}) {
  absl::StatusOr<json> r = ParseOsloEnvelope(body, limits);
  ASSERT_FALSE(r.ok()) << "accepted: " << body.substr(0, 200);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr(what)) << body.substr(0, 200);
}

TEST(OsloEnvelopeTest, BadBodiesAreRefusedWithTheReason) {
  ExpectInvalid("", "message body is not JSON");
  ExpectInvalid("{\"oslo.version\": \"2.0\",", "message body is not JSON");
  ExpectInvalid("\xff\xfe", "message body is not JSON");
  ExpectInvalid("[1, 2]", "message body is a JSON array, not an object");
  ExpectInvalid("\"text\"", "message body is a JSON string, not an object");
  ExpectInvalid("null", "message body is a JSON null, not an object");
  const char* msg = R"("{\"a\": 1}")";
  ExpectInvalid(absl::StrCat(R"({"oslo.version": 2.0, "oslo.message": )", msg, "}"),
                "oslo.version is a JSON number, not a string");
  for (const char* v : {"1.0", "3.0", "2.1", "2.0.1", "2", "", "2.x", "two.0", "2..0", "-2.0"}) {
    ExpectInvalid(absl::StrCat(R"({"oslo.version": ")", v, R"(", "oslo.message": )", msg, "}"),
                  "oslo.version");
  }
  ExpectInvalid(R"({"oslo.version": "2.1", "oslo.message": "{}"})", "unsupported oslo.version");
  ExpectInvalid(R"({"oslo.version": "2", "oslo.message": "{}"})", "is not a version");
  ExpectInvalid(R"({"oslo.version": "2.0", "oslo.message": {"a": 1}})",
                "oslo.message is a JSON object, not a string");
  ExpectInvalid(R"({"oslo.version": "2.0", "oslo.message": null})",
                "oslo.message is a JSON null, not a string");
  ExpectInvalid(R"({"oslo.version": "2.0", "oslo.message": "{\"a\": "})",
                "oslo.message is not JSON");
  ExpectInvalid(R"({"oslo.version": "2.0", "oslo.message": "[1]"})",
                "oslo.message is a JSON array, not an object");
  ExpectInvalid(R"({"oslo.version": "2.0", "oslo.message": "42"})",
                "oslo.message is a JSON number, not an object");
}

TEST(OsloEnvelopeTest, TooBigOrTooDeepIsRefusedBeforeParsing) {
  Config::Limits limits;
  limits.max_event_bytes = 100;
  limits.max_json_depth = 4;
  ExpectInvalid(absl::StrCat(R"({"a": ")", std::string(200, 'x'), "\"}"),
                "message body is 209 bytes; at most 100 ([limits] max_event_bytes)", limits);
  ExpectInvalid(R"({"a": [[[[1]]]]})", "message body nests 5 levels", limits);
  // The inner text is bounded on its own: depth 1 outside, 5 inside.
  json env = {{"oslo.version", "2.0"}, {"oslo.message", R"({"a": [[[[1]]]]})"}};
  ExpectInvalid(env.dump(), "oslo.message nests 5 levels", limits);
  // Within the limits: read.
  env["oslo.message"] = R"({"a": [[[1]]]})";
  EXPECT_TRUE(ParseOsloEnvelope(env.dump(), limits).ok());
  // Default limits: a hostile depth far beyond max_json_depth.
  ExpectInvalid(absl::StrCat(std::string(100000, '['), std::string(100000, ']')),
                "nests 65 levels");
}

// ---------------------------------------------------------- notification

TEST(NotificationTest, FieldsAreRead) {
  absl::StatusOr<Notification> n = ParseNotification(NovaCreate());
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(n->message_id, "6f1c7bfa-2b6c-4a0e-9d9e-2b8b2f8d0001");
  EXPECT_EQ(n->publisher_id, "nova-compute:host-0");
  EXPECT_EQ(n->event_type, "instance.create.end");
  EXPECT_EQ(n->priority, "INFO");
  EXPECT_EQ(n->timestamp, "2024-05-01 10:00:00.123456");
  EXPECT_EQ(n->payload["nova_object.data"]["uuid"], "vm-0");
  json m = NovaCreate();
  m["publisher_id"] = nullptr;
  n = ParseNotification(m);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(n->publisher_id, "");
}

TEST(NotificationTest, MissingOrMistypedFieldsAreNamed) {
  EXPECT_THAT(ParseNotification(json::array()).status().message(),
              HasSubstr("notification is a JSON array, not an object"));
  struct Case {
    const char* key;
    json value;  // discarded: remove the key
    const char* want;
  };
  const Case cases[] = {
      {"message_id", json(json::value_t::discarded), "notification has no message_id"},
      {"message_id", 7, "notification message_id is a JSON number, not a string"},
      {"message_id", "", "notification message_id is empty"},
      {"event_type", json(json::value_t::discarded), "notification has no event_type"},
      {"event_type", nullptr, "notification event_type is a JSON null, not a string"},
      {"priority", json(json::value_t::discarded), "notification has no priority"},
      {"priority", json::array(), "notification priority is a JSON array, not a string"},
      {"publisher_id", json(json::value_t::discarded), "notification has no publisher_id"},
      {"publisher_id", 1, "notification publisher_id is a JSON number, not a string"},
      {"timestamp", json(json::value_t::discarded), "notification has no timestamp"},
      {"timestamp", 1714557600, "notification timestamp is a JSON number, not a string"},
      {"payload", json(json::value_t::discarded), "(instance.create.end) has no payload"},
  };
  for (const Case& c : cases) {
    json m = NovaCreate();
    if (c.value.is_discarded()) {
      m.erase(c.key);
    } else {
      m[c.key] = c.value;
    }
    absl::StatusOr<Notification> n = ParseNotification(m);
    ASSERT_FALSE(n.ok()) << c.key;
    EXPECT_EQ(n.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(n.status().message(), HasSubstr(c.want));
  }
}

// ---------------------------------------------------------- push drivers

PushDriverOptions FixedClock() {
  PushDriverOptions o;
  o.sample_date = [] { return std::string("2024-05-01T10:00:00Z"); };
  return o;
}

TEST(PushDriversTest, NovaVersionedNotificationBecomesOneUpdateEvent) {
  absl::StatusOr<Notification> n = ParseNotification(NovaCreate());
  ASSERT_TRUE(n.ok());
  absl::StatusOr<std::vector<json>> evs = NotificationToEvents(*n, FixedClock());
  ASSERT_TRUE(evs.ok()) << evs.status();
  ASSERT_EQ(evs->size(), 1u);
  json want = n->payload;
  want["vitrage_event_type"] = "instance.create.end";
  want["vitrage_entity_type"] = "nova.instance";
  want["vitrage_datasource_action"] = "update";
  want["vitrage_sample_date"] = "2024-05-01T10:00:00Z";
  want["vitrage_datasource_name"] = "nova.instance";
  EXPECT_EQ((*evs)[0], want);
}

TEST(PushDriversTest, DefaultClockStampsNow) {
  absl::StatusOr<Notification> n = ParseNotification(NovaCreate());
  ASSERT_TRUE(n.ok());
  absl::StatusOr<std::vector<json>> evs = NotificationToEvents(*n);
  ASSERT_TRUE(evs.ok()) << evs.status();
  ASSERT_EQ(evs->size(), 1u);
  const std::string date = (*evs)[0]["vitrage_sample_date"];
  EXPECT_EQ(date.size(), 20u) << date;
  EXPECT_EQ(date.substr(0, 2), "20");
  EXPECT_EQ(date.back(), 'Z');
}

TEST(PushDriversTest, UnlistenedTypesAndOtherPrioritiesAreIgnored) {
  absl::StatusOr<Notification> n = ParseNotification(NovaCreate());
  ASSERT_TRUE(n.ok());
  Notification other = *n;
  other.event_type = "compute.metrics.update";
  absl::StatusOr<std::vector<json>> evs = NotificationToEvents(other, FixedClock());
  ASSERT_TRUE(evs.ok());
  EXPECT_TRUE(evs->empty());
  other = *n;
  other.priority = "error";
  evs = NotificationToEvents(other, FixedClock());
  ASSERT_TRUE(evs.ok());
  EXPECT_TRUE(evs->empty());
  // Legacy nova notifications are dropped while versioned ones are used...
  other = *n;
  other.event_type = "compute.instance.create.end";
  other.payload = {{"instance_id", "vm-0"}};
  evs = NotificationToEvents(other, FixedClock());
  ASSERT_TRUE(evs.ok());
  EXPECT_TRUE(evs->empty());
  // ... and taken when they are not, and then versioned ones are dropped.
  PushDriverOptions legacy = FixedClock();
  legacy.use_nova_versioned_notifications = false;
  evs = NotificationToEvents(other, legacy);
  ASSERT_TRUE(evs.ok()) << evs.status();
  EXPECT_EQ(evs->size(), 1u);
  evs = NotificationToEvents(*n, legacy);
  ASSERT_TRUE(evs.ok());
  EXPECT_TRUE(evs->empty());
}

TEST(PushDriversTest, ListenedTypeWithUnusablePayloadIsInvalid) {
  absl::StatusOr<Notification> n = ParseNotification(NovaCreate());
  ASSERT_TRUE(n.ok());
  Notification bad = *n;
  bad.payload = "text";
  absl::StatusOr<std::vector<json>> evs = NotificationToEvents(bad, FixedClock());
  ASSERT_FALSE(evs.ok());
  EXPECT_EQ(evs.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(evs.status().message(),
              HasSubstr("instance.create.end payload is a JSON string, not an object"));
  bad = *n;
  bad.payload["nova_object.data"].erase("uuid");
  evs = NotificationToEvents(bad, FixedClock());
  ASSERT_FALSE(evs.ok());
  EXPECT_THAT(evs.status().message(), HasSubstr("payload has no nova_object.data.uuid"));
}

TEST(PushDriversTest, ZabbixHostsAreMappedFromUpstreamsConfFile) {
  auto hosts = LoadZabbixHosts(std::string(NOTIFICATIONS_TESTDATA) + "/zabbix_conf.yaml");
  ASSERT_TRUE(hosts.ok()) << hosts.status();
  ASSERT_EQ(hosts->size(), 2u);
  EXPECT_EQ(hosts->at("compute-2").type, "nova.host");
  EXPECT_EQ(hosts->at("compute-2").name, "host2");
  auto missing = LoadZabbixHosts("/nonexistent/zabbix_conf.yaml");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(missing.status().message(), HasSubstr("/nonexistent/zabbix_conf.yaml"));
}

// ------------------------------------------- differential with upstream
//
// upstream_push_drivers.py runs each case through upstream's real
// listener (oslo's NotificationDispatcher -> DriversNotificationEndpoint
// -> the real drivers' enrich_event) with the clock set to the case's
// sample_date; we run the same cases through NotificationToEvents with the
// same clock and options, and compare event by event, field by field.

std::string ReadAll(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

std::vector<json> ReadJsonLines(const std::string& path) {
  std::vector<json> out;
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line)) {
    if (!line.empty()) out.push_back(json::parse(line));
  }
  return out;
}

std::string Testdata(const std::string& name) {
  return std::string(NOTIFICATIONS_TESTDATA) + "/" + name;
}

// Upstream's datasources_values, as conformance_test finds them. "" when
// unavailable.
std::string DatasourcesValuesDir() {
  std::string dir = vitrage::testing::RequiredEnvDir("VITRAGE_BINARY_DIR") + "/datasources_values";
  auto has_yaml = [&] {
    DIR* d = opendir(dir.c_str());
    if (d == nullptr) return false;
    bool found = false;
    while (dirent* e = readdir(d)) found = found || absl::EndsWith(e->d_name, ".yaml");
    closedir(d);
    return found;
  };
  if (has_yaml()) return dir;
  std::string cmd = absl::StrCat(vitrage::testing::RequiredEnvDir("VITRAGE_SOURCE_DIR"),
                                 "/deploy/fetch-datasources-values.sh '", dir, "' >/dev/null 2>&1");
  if (system(cmd.c_str()) != 0) return "";
  return has_yaml() ? dir : "";
}

// Runs upstream_push_drivers.py; its output lines, or a failure naming the
// log. A missing python3-vitrage is a failure, not a skip: a run without
// upstream compares nothing.
absl::StatusOr<std::vector<json>> RunUpstream(const std::string& cases,
                                              const std::string& values_dir = "") {
  char tmpl[] = "/tmp/notifications_test.XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return absl::InternalError("mkdtemp failed");
  const std::string dir = tmpl;
  const std::string out = dir + "/upstream.jsonl", log = dir + "/upstream.log";
  std::string cmd = absl::StrCat("/usr/bin/python3 '", NOTIFICATIONS_SCRIPT, "' '", cases, "' '",
                                 Testdata("zabbix_conf.yaml"), "' '", out, "' ",
                                 values_dir.empty() ? "" : absl::StrCat("'", values_dir, "'"),
                                 " >'", log, "' 2>&1");
  int rc = system(cmd.c_str());
  if (rc != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("upstream_push_drivers.py failed (", rc,
                     "; python3-vitrage and python3-oslo.messaging are needed, "
                     "deploy/install-deps.sh installs them):\n",
                     ReadAll(log)));
  }
  std::vector<json> lines = ReadJsonLines(out);
  unlink(out.c_str());
  unlink(log.c_str());
  rmdir(dir.c_str());
  return lines;
}

PushDriverOptions CaseOptions(const json& c) {
  PushDriverOptions o;
  const json opts = c.value("options", json::object());
  o.use_nova_versioned_notifications = opts.value("use_nova_versioned_notifications", true);
  if (opts.value("zabbix_conf", true)) {
    auto hosts = LoadZabbixHosts(Testdata("zabbix_conf.yaml"));
    if (hosts.ok()) o.zabbix_hosts = *hosts;
  }
  const std::string date = c["sample_date"];
  o.sample_date = [date] { return date; };
  return o;
}

// Field-by-field differences of two events ("" when equal).
std::string EventDiff(const json& ours, const json& theirs) {
  std::string d;
  std::set<std::string> keys;
  for (auto it = ours.begin(); it != ours.end(); ++it) keys.insert(it.key());
  for (auto it = theirs.begin(); it != theirs.end(); ++it) keys.insert(it.key());
  for (const std::string& k : keys) {
    json a = ours.contains(k) ? ours[k] : json("<absent>");
    json b = theirs.contains(k) ? theirs[k] : json("<absent>");
    if (a != b) absl::StrAppend(&d, "  ", k, ": ours ", a.dump(), ", upstream ", b.dump(), "\n");
  }
  return d;
}

struct DiffCounts {
  int with_events = 0, empty = 0, refused = 0, refused_earlier = 0;
};

// Compares every case of `file` with upstream; counts what was compared.
void CompareWithUpstream(const std::string& file, DiffCounts* counts) {
  std::vector<json> cases = ReadJsonLines(Testdata(file));
  absl::StatusOr<std::vector<json>> upstream = RunUpstream(Testdata(file));
  EXPECT_TRUE(upstream.ok()) << upstream.status();
  if (!upstream.ok()) return;
  EXPECT_EQ(upstream->size(), cases.size());
  if (upstream->size() != cases.size()) return;
  for (size_t i = 0; i < cases.size(); ++i) {
    const json& c = cases[i];
    const json& up = (*upstream)[i];
    const std::string name = c["name"];
    SCOPED_TRACE(absl::StrCat(file, " case ", name));
    EXPECT_EQ(up["name"], name);
    // The message crosses the wire as the bus sees it.
    absl::StatusOr<json> msg = ParseOsloEnvelope(WrapOsloEnvelope(c["message"]));
    ASSERT_TRUE(msg.ok()) << msg.status();
    absl::StatusOr<Notification> n = ParseNotification(*msg);
    ASSERT_TRUE(n.ok()) << n.status();
    absl::StatusOr<std::vector<json>> ours = NotificationToEvents(*n, CaseOptions(c));
    if (c.contains("expect_invalid")) {
      // We refuse what upstream passes on to a transformer that cannot key it.
      EXPECT_EQ(up["result"], "handled");
      EXPECT_EQ(up["events"].size(), 1u);
      ASSERT_FALSE(ours.ok());
      EXPECT_EQ(ours.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_THAT(ours.status().message(), HasSubstr(c["expect_invalid"].get<std::string>()));
      ++counts->refused_earlier;
      continue;
    }
    if (up["result"] == "requeue") {
      // Upstream's driver raised (its listener requeues the message
      // forever); we refuse it.
      ASSERT_FALSE(ours.ok()) << "upstream's driver raised on it";
      EXPECT_EQ(ours.status().code(), absl::StatusCode::kInvalidArgument);
      ++counts->refused;
      continue;
    }
    ASSERT_TRUE(ours.ok()) << ours.status();
    ASSERT_EQ(ours->size(), up["events"].size()) << "upstream made " << up["events"].dump();
    for (size_t e = 0; e < ours->size(); ++e) {
      EXPECT_EQ(EventDiff((*ours)[e], up["events"][e]), "") << "event " << e;
    }
    if (ours->empty()) {
      ++counts->empty;
    } else {
      ++counts->with_events;
    }
  }
}

TEST(PushDriversDifferentialTest, DriverCasesMatchUpstreamsDrivers) {
  DiffCounts c;
  CompareWithUpstream("driver_cases.jsonl", &c);
  // What the case file holds (so a file that lost its cases fails).
  EXPECT_GE(c.with_events, 6);
  EXPECT_GE(c.empty, 10);
  EXPECT_GE(c.refused, 8);
  EXPECT_GE(c.refused_earlier, 9);
}

TEST(PushDriversDifferentialTest, GraphScenarioMatchesUpstreamsDrivers) {
  DiffCounts c;
  CompareWithUpstream("graph_scenario.jsonl", &c);
  EXPECT_EQ(c.with_events, 18);
  EXPECT_EQ(c.empty, 2);
}

// ------------------------------------------------ the graph they make
//
// graph_scenario.jsonl's events through our processor give the graph
// upstream's real Processor builds from them (same clock rule: sample date
// + 0.5 s). Vertex ids are random on both sides: compared by natural key
// (vitrage_cached_id, md5 of "CATEGORY:type:id").

struct CanonGraph {
  std::map<std::string, json> vertices;  // cached id -> props
  std::map<std::tuple<std::string, std::string, std::string>, json> edges;
};

CanonGraph Canonicalize(const json& vertices, const json& edges) {
  CanonGraph g;
  std::map<std::string, std::string> canon;  // vertex id -> cached id
  for (const json& v : vertices) {
    canon[v["id"]] = v["props"].value("vitrage_cached_id", v["id"].get<std::string>());
  }
  auto name = [&](const json& id) {
    auto it = canon.find(id.get<std::string>());
    return it == canon.end() ? id.get<std::string>() : it->second;
  };
  for (const json& v : vertices) {
    json p = v["props"];
    for (const char* k : {"vitrage_id", "vitrage_resource_id"}) {
      if (!p.contains(k) || !p[k].is_string()) continue;
      // An id of a vertex since removed (a cleared alarm's placeholder
      // resource) is random on both sides: named as such.
      p[k] = canon.count(p[k].get<std::string>()) ? name(p[k]) : std::string("<removed vertex>");
    }
    EXPECT_TRUE(g.vertices.emplace(name(v["id"]), p).second)
        << "two vertices share key " << name(v["id"]);
  }
  for (const json& e : edges) {
    g.edges[{name(e["source"]), name(e["target"]), e["label"]}] = e["props"];
  }
  return g;
}

json PropsJson(const graph::Properties& p) { return graph::PropertiesToJson(p); }

// Runs `file`'s notifications through upstream's drivers and processor
// and through ours, expects the two graphs equal, and returns ours.
CanonGraph ExpectUpstreamsGraph(const std::string& file) {
  CanonGraph ours;
  const std::string values = DatasourcesValuesDir();
  EXPECT_FALSE(values.empty())
      << "upstream datasources_values unavailable: deploy/fetch-datasources-values.sh "
         "$VITRAGE_BINARY_DIR/datasources_values";
  if (values.empty()) return ours;
  absl::StatusOr<std::vector<json>> upstream = RunUpstream(Testdata(file), values);
  EXPECT_TRUE(upstream.ok()) << upstream.status();
  if (!upstream.ok() || upstream->empty()) return ours;
  const json& ug = upstream->back()["graph"];
  EXPECT_TRUE(ug.is_object()) << upstream->back().dump();
  if (!ug.is_object()) return ours;

  processor::ProcessorOptions opts;
  opts.id_generator = processor::SeededUuidGenerator(23);
  opts.clock = processor::SampleDatePlusHalfSecondClock();
  EXPECT_TRUE(opts.states.LoadDirectory(values).ok());
  graph::Graph g;
  processor::Processor proc(&g, opts);
  for (const json& c : ReadJsonLines(Testdata(file))) {
    SCOPED_TRACE(c["name"].get<std::string>());
    absl::StatusOr<json> msg = ParseOsloEnvelope(WrapOsloEnvelope(c["message"]));
    EXPECT_TRUE(msg.ok()) << msg.status();
    if (!msg.ok()) return ours;
    absl::StatusOr<Notification> n = ParseNotification(*msg);
    EXPECT_TRUE(n.ok()) << n.status();
    if (!n.ok()) return ours;
    absl::StatusOr<std::vector<json>> events = NotificationToEvents(*n, CaseOptions(c));
    EXPECT_TRUE(events.ok()) << events.status();
    if (!events.ok()) return ours;
    for (const json& e : *events) {
      v1::MapValue body;  // the v1::Event body the bus sends
      processor::JsonToMapValue(e, &body);
      absl::Status s = proc.Process(processor::EventFromMapValue(body), nullptr);
      EXPECT_TRUE(s.ok()) << s;
    }
  }
  json vs = json::array(), es = json::array();
  g.ForEachVertex([&](graph::Slot s) {
    vs.push_back({{"id", std::string(g.VertexId(s))}, {"props", PropsJson(g.VertexProps(s))}});
  });
  g.ForEachEdge([&](graph::Slot e) {
    es.push_back({{"source", std::string(g.VertexId(g.EdgeSource(e)))},
                  {"target", std::string(g.VertexId(g.EdgeTarget(e)))},
                  {"label", std::string(g.EdgeLabel(e))},
                  {"props", PropsJson(g.EdgeProps(e))}});
  });
  ours = Canonicalize(vs, es);
  CanonGraph theirs = Canonicalize(ug["vertices"], ug["edges"]);

  std::set<std::string> keys;
  for (const auto& [k, p] : ours.vertices) keys.insert(k);
  for (const auto& [k, p] : theirs.vertices) keys.insert(k);
  for (const std::string& k : keys) {
    auto a = ours.vertices.find(k), b = theirs.vertices.find(k);
    json pa = a == ours.vertices.end() ? json("<absent>") : a->second;
    json pb = b == theirs.vertices.end() ? json("<absent>") : b->second;
    EXPECT_EQ(pa.is_object() && pb.is_object() ? EventDiff(pa, pb) : "", "")
        << "vertex " << k << "\n ours " << pa.dump() << "\n upstream " << pb.dump();
    if (!pa.is_object() || !pb.is_object()) {
      ADD_FAILURE() << "vertex " << k << " ours " << pa.dump() << " upstream " << pb.dump();
    }
  }
  std::set<std::tuple<std::string, std::string, std::string>> ekeys;
  for (const auto& [k, p] : ours.edges) ekeys.insert(k);
  for (const auto& [k, p] : theirs.edges) ekeys.insert(k);
  for (const auto& k : ekeys) {
    auto a = ours.edges.find(k), b = theirs.edges.find(k);
    json pa = a == ours.edges.end() ? json("<absent>") : a->second;
    json pb = b == theirs.edges.end() ? json("<absent>") : b->second;
    EXPECT_EQ(pa, pb) << "edge " << std::get<0>(k) << " -" << std::get<2>(k) << "-> "
                      << std::get<1>(k);
  }

  return ours;
}

// A vertex of `g` by type and id (null when absent).
json FindVertex(const CanonGraph& g, const std::string& type, const std::string& id) {
  for (const auto& [k, p] : g.vertices) {
    if (p.value("vitrage_type", "") == type && p.value("id", "") == id) return p;
  }
  return json();
}

TEST(NotificationGraphTest, ScenarioGivesUpstreamsGraph) {
  CanonGraph ours = ExpectUpstreamsGraph("graph_scenario.jsonl");
  // The scenario shows what the issue asks for (so a scenario that lost
  // its point fails even when both sides agree).
  auto vertex = [&](const std::string& type, const std::string& id) {
    return FindVertex(ours, type, id);
  };
  EXPECT_EQ(vertex("nova.instance", "vm-0").value("state", ""), "active");
  EXPECT_EQ(vertex("nova.instance", "vm-1").value("vitrage_is_deleted", false), true);
  EXPECT_EQ(vertex("cinder.volume", "vol-0").value("state", ""), "available");
  EXPECT_EQ(vertex("neutron.port", "port-0").value("state", ""), "ACTIVE");
  EXPECT_TRUE(vertex("neutron.port", "port-9").is_null()) << "a dhcp port is not a compute port";
  EXPECT_EQ(vertex("neutron.network", "net-0").value("state", ""), "DOWN");
  int alarms = 0, alarms_deleted = 0, deleted_edges = 0, live_edges = 0;
  for (const auto& [k, p] : ours.vertices) {
    if (p.value("vitrage_category", "") != "ALARM") continue;
    ++alarms;
    if (p.value("vitrage_is_deleted", false)) ++alarms_deleted;
  }
  for (const auto& [k, p] : ours.edges) {
    (p.value("vitrage_is_deleted", false) ? deleted_edges : live_edges)++;
  }
  EXPECT_EQ(alarms, 2);
  EXPECT_EQ(alarms_deleted, 1) << "zabbix ok clears the compute-1 alarm";
  EXPECT_GE(deleted_edges, 3) << "detached volume, deleted instance, cleared alarm";
  EXPECT_GE(live_edges, 3);
}

// Legacy nova notifications (`compute.instance.*`, taken when
// use_nova_versioned_notifications is false): upstream's legacy field
// names (instance_id, hostname, host, state, tenant_id).
TEST(NotificationGraphTest, LegacyNovaScenarioGivesUpstreamsGraph) {
  CanonGraph ours = ExpectUpstreamsGraph("graph_scenario_legacy.jsonl");
  json vm0 = FindVertex(ours, "nova.instance", "vm-0");
  ASSERT_TRUE(vm0.is_object()) << "legacy notifications keyed no instance";
  EXPECT_EQ(vm0.value("name", ""), "vm-0") << "name is the legacy hostname";
  EXPECT_EQ(vm0.value("host_id", ""), "compute-2") << "the legacy migration moved it";
  EXPECT_EQ(vm0.value("project_id", ""), "project-a");
  EXPECT_FALSE(vm0.contains("instance_name")) << "legacy payloads have none";
  EXPECT_EQ(FindVertex(ours, "nova.instance", "vm-1").value("vitrage_is_deleted", false), true);
  EXPECT_EQ(FindVertex(ours, "nova.instance", "vm-1").value("state", ""), "deleted");
  int contains_vm0 = 0;
  for (const auto& [k, p] : ours.edges) {
    if (std::get<1>(k) == vm0.value("vitrage_cached_id", "") && std::get<2>(k) == "contains" &&
        !p.value("vitrage_is_deleted", false)) {
      ++contains_vm0;
    }
  }
  EXPECT_EQ(contains_vm0, 1) << "one live host edge after the migration";
}

TEST(PushDriversDifferentialTest, LegacyGraphScenarioMatchesUpstreamsDrivers) {
  DiffCounts c;
  CompareWithUpstream("graph_scenario_legacy.jsonl", &c);
  EXPECT_EQ(c.with_events, 19);
  EXPECT_EQ(c.empty, 3) << "a dhcp port, a port delete, a versioned nova notification";
}

}  // namespace
}  // namespace vitrage::notifications
