#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "graph_service/notifications/notification.h"
#include "graph_service/notifications/oslo_envelope.h"
#include "graph_service/notifications/push_drivers.h"
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

}  // namespace
}  // namespace vitrage::notifications
