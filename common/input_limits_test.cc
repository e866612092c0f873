#include "common/input_limits.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"

namespace vitrage {
namespace {

using ::testing::HasSubstr;

v1::Event EventWith(int properties, size_t value_bytes) {
  v1::Event e;
  e.set_source("s");
  for (int i = 0; i < properties; ++i) {
    auto* p = e.mutable_fields()->add_entries();
    p->set_key("k" + std::to_string(i));
    p->mutable_value()->set_string_value(std::string(value_bytes, 'x'));
  }
  return e;
}

Config::Limits Small() {
  Config::Limits l;
  l.max_events_per_push = 3;
  l.max_properties = 4;
  l.max_property_bytes = 10;
  l.max_event_bytes = 300;
  return l;
}

TEST(InputLimitsTest, WithinEveryLimitPasses) {
  v1::PushEventsRequest req;
  for (int i = 0; i < 3; ++i) *req.add_events() = EventWith(4, 10);
  EXPECT_TRUE(CheckPushEvents(req, Small()).ok());
}

TEST(InputLimitsTest, EachLimitIsNamedWithValueAndBound) {
  v1::PushEventsRequest req;
  for (int i = 0; i < 4; ++i) *req.add_events() = EventWith(1, 1);
  absl::Status s = CheckPushEvents(req, Small());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "PushEvents: 4 events in one call; the limit is 3 ([limits] max_events_per_push)");

  req.Clear();
  *req.add_events() = EventWith(5, 1);
  EXPECT_THAT(CheckPushEvents(req, Small()).message(),
              HasSubstr("PushEvents event 0 (source \"s\" seq 0): 5 properties (or more); "
                        "the limit is 4 ([limits] max_properties)"));

  req.Clear();
  *req.add_events() = EventWith(1, 1);
  *req.add_events() = EventWith(1, 11);
  EXPECT_THAT(CheckPushEvents(req, Small()).message(),
              HasSubstr("PushEvents event 1 (source \"s\" seq 0): 11 bytes in a string value; "
                        "the limit is 10 ([limits] max_property_bytes)"));

  req.Clear();
  v1::Event e = EventWith(1, 1);
  e.mutable_fields()->mutable_entries(0)->set_key(std::string(11, 'k'));
  *req.add_events() = e;
  EXPECT_THAT(CheckPushEvents(req, Small()).message(), HasSubstr("bytes in a property name"));

  req.Clear();
  e = EventWith(0, 0);
  e.set_json(std::string(400, ' '));
  *req.add_events() = e;
  EXPECT_THAT(CheckPushEvents(req, Small()).message(),
              HasSubstr("the limit is 300 ([limits] max_event_bytes)"));
}

// The size check is exact at the limit: the walk's upper bound only
// decides whether the exact size has to be computed.
TEST(InputLimitsTest, EventBytesAreExactAtTheLimit) {
  v1::PushEventsRequest req;
  *req.add_events() = EventWith(4, 10);
  req.mutable_events(0)->set_source("c:x");
  Config::Limits l = Small();
  const size_t exact = req.events(0).ByteSizeLong();
  l.max_event_bytes = exact;
  EXPECT_TRUE(CheckPushEvents(req, l).ok());
  l.max_event_bytes = exact - 1;
  EXPECT_THAT(CheckPushEvents(req, l).message(),
              HasSubstr(absl::StrCat("PushEvents event 0 (source \"c:x\" seq 0): ", exact,
                                     " bytes in one event; the limit is ", exact - 1)));
}

TEST(InputLimitsTest, NestedValuesCountAsProperties) {
  v1::Event e;
  auto* list = e.mutable_fields()->add_entries();
  list->set_key("l");
  for (int i = 0; i < 3; ++i) {
    list->mutable_value()->mutable_list_value()->add_values()->set_int_value(i);
  }
  v1::PushEventsRequest req;
  *req.add_events() = e;
  EXPECT_TRUE(CheckPushEvents(req, Small()).ok());  // 1 + 3 = 4
  auto* nested = req.mutable_events(0)->mutable_fields()->add_entries();
  nested->set_key("m");
  nested->mutable_value()->mutable_map_value()->add_entries()->set_key(std::string(11, 'n'));
  // The fifth property is refused before its too-long key is looked at.
  EXPECT_THAT(CheckPushEvents(req, Small()).message(),
              HasSubstr("the limit is 4 ([limits] max_properties)"));
}

// {"a": {"a": ... {"a": 1} ... }}: `depth` objects.
std::string NestedJson(int depth) {
  std::string s;
  for (int i = 0; i < depth; ++i) s += "{\"a\": ";
  s += "1";
  s += std::string(depth, '}');
  return s;
}

TEST(InputLimitsTest, JsonBodyNested50000DeepIsRefusedNamingTheEvent) {
  v1::PushEventsRequest req;
  *req.add_events() = EventWith(1, 1);
  v1::Event* e = req.add_events();
  e->set_source("c:x");
  e->set_source_seq(7);
  e->set_json(std::string(50'000, '[') + std::string(50'000, ']'));  // 100 KB
  absl::Status s = CheckPushEvents(req, Config::Limits{});
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_THAT(s.message(), HasSubstr("PushEvents event 1 (source \"c:x\" seq 7): 65 levels of "
                                     "nested JSON objects and arrays (or more); the limit is 64 "
                                     "([limits] max_json_depth)"));
}

TEST(InputLimitsTest, JsonBodyAtTheDepthLimitIsAccepted) {
  v1::PushEventsRequest req;
  req.add_events()->set_json(NestedJson(64));
  EXPECT_TRUE(CheckPushEvents(req, Config::Limits{}).ok());
  req.mutable_events(0)->set_json(NestedJson(65));
  EXPECT_THAT(CheckPushEvents(req, Config::Limits{}).message(),
              HasSubstr("65 levels of nested JSON objects and arrays (or more); the limit is 64"));
  // Brackets inside strings are text, not nesting.
  req.mutable_events(0)->set_json("{\"a\": \"" + std::string(1000, '[') + "\\\"{\"}");
  EXPECT_TRUE(CheckPushEvents(req, Config::Limits{}).ok());
}

// Fields whose map and list values nest `depth` levels (the fields are 1).
v1::Event NestedFields(int depth) {
  v1::Event e;
  v1::MapValue* m = e.mutable_fields();  // level 1
  v1::ListValue* l = nullptr;
  for (int level = 2; level <= depth; ++level) {
    v1::Value* v = m != nullptr ? m->add_entries()->mutable_value() : l->add_values();
    if (level % 2 == 0) {
      l = v->mutable_list_value();
      m = nullptr;
    } else {
      m = v->mutable_map_value();
      l = nullptr;
    }
  }
  return e;
}

TEST(InputLimitsTest, FieldsNestedDeeperThanTheLimitAreRefused) {
  Config::Limits l;
  l.max_json_depth = 6;
  v1::PushEventsRequest req;
  *req.add_events() = NestedFields(6);
  EXPECT_TRUE(CheckPushEvents(req, l).ok()) << CheckPushEvents(req, l);
  *req.mutable_events(0) = NestedFields(7);
  EXPECT_THAT(CheckPushEvents(req, l).message(),
              HasSubstr("PushEvents event 0 (source \"\" seq 0): 7 levels of nested maps and "
                        "lists (or more); the limit is 6 ([limits] max_json_depth)"));
}

}  // namespace
}  // namespace vitrage
