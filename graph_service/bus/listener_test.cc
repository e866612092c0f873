// A bus message -> the push request the listener gives the intake.
#include "graph_service/bus/listener.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "graph_service/notifications/oslo_envelope.h"

namespace vitrage::bus {
namespace {

using ::testing::HasSubstr;

std::string NovaBody(const std::string& message_id, const std::string& event_type) {
  nlohmann::json msg = {
      {"message_id", message_id},
      {"publisher_id", "nova-compute:h"},
      {"event_type", event_type},
      {"priority", "INFO"},
      {"timestamp", "2024-05-01 10:00:00.123456"},
      {"payload",
       {{"nova_object.name", "InstanceCreatePayload"},
        {"nova_object.data", {{"uuid", "vm-1"}, {"host", "h"}, {"state", "active"}}}}}};
  return notifications::WrapOsloEnvelope(msg);
}

TEST(NotificationRequestTest, OneMessageIsOneSourceWithSeqsFromOne) {
  ListenerOptions o;
  std::string id;
  auto req = NotificationRequest(NovaBody("abc-1", "instance.create.end"), o, &id);
  ASSERT_TRUE(req.ok()) << req.status();
  EXPECT_EQ(id, "abc-1");
  ASSERT_EQ(req->events_size(), 1);
  EXPECT_EQ(req->events(0).source(), "bus:abc-1");
  EXPECT_EQ(req->events(0).source_seq(), 1u);
  EXPECT_TRUE(req->events(0).has_fields());
}

TEST(NotificationRequestTest, MessageIdIsEscapedSoItCannotLookLikeACollectorRun) {
  ListenerOptions o;
  std::string id;
  auto req = NotificationRequest(NovaBody("x@1 y", "instance.create.end"), o, &id);
  ASSERT_TRUE(req.ok());
  EXPECT_EQ(req->events(0).source(), "bus:x%401%20y");
}

TEST(NotificationRequestTest, UnlistenedTypeMakesNoEventAndBadBodiesSayWhy) {
  ListenerOptions o;
  std::string id;
  auto none = NotificationRequest(NovaBody("a", "image.upload"), o, &id);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->events_size(), 0);
  auto bad = NotificationRequest("{not json", o, &id);
  EXPECT_TRUE(absl::IsInvalidArgument(bad.status()));
  auto no_type = NotificationRequest(R"({"message_id": "m"})", o, &id);
  EXPECT_TRUE(absl::IsInvalidArgument(no_type.status()));
  EXPECT_EQ(id, "m") << "the id is known for the dead-letter line even when the rest is bad";
  EXPECT_THAT(no_type.status().message(), HasSubstr("event_type"));
}

// A sink whose Apply refuses requests with a "bad" source and is full
// (UNAVAILABLE) from the `full_at`-th call on.
class FakeSink : public EventSink {
 public:
  absl::StatusOr<Applied> Apply(const v1::PushEventsRequest& req) override {
    if (++calls_ >= full_at_) return absl::UnavailableError("journal full");
    if (req.events(0).source() == "bad") return absl::InvalidArgumentError("refused");
    return Applied{static_cast<uint64_t>(calls_), 1, 0};
  }
  absl::Status WaitDurable(const Applied&, absl::Duration) override { return absl::OkStatus(); }
  int calls_ = 0;
  int full_at_ = 1000;
};

v1::PushEventsRequest Req(const std::string& source) {
  v1::PushEventsRequest r;
  r.add_events()->set_source(source);
  return r;
}

TEST(EventSinkTest, DefaultApplyBatchGivesEachResultAndStopsAtARetryableError) {
  const v1::PushEventsRequest a = Req("a"), bad = Req("bad"), c = Req("c");
  FakeSink sink;
  auto all = sink.ApplyBatch({&a, &bad, &c});
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 3u);
  EXPECT_TRUE((*all)[0].ok());
  EXPECT_TRUE(absl::IsInvalidArgument((*all)[1].status())) << "refused: that one only";
  EXPECT_TRUE((*all)[2].ok());
  EXPECT_EQ((*all)[2]->wait_seq, 3u);

  // Full at the second: the first is applied and said so, the rest is for
  // later; full at the first: the whole batch is for later.
  FakeSink part;
  part.full_at_ = 2;
  auto some = part.ApplyBatch({&a, &c, &c});
  ASSERT_TRUE(some.ok()) << some.status();
  EXPECT_EQ(some->size(), 1u);
  FakeSink none;
  none.full_at_ = 1;
  EXPECT_TRUE(absl::IsUnavailable(none.ApplyBatch({&a, &c}).status()));
}

}  // namespace
}  // namespace vitrage::bus
