// The generated library links and the contract's invariants hold.
#include <google/protobuf/descriptor.h>
#include <gtest/gtest.h>

#include "grpc/health/v1/health.grpc.pb.h"
#include "vitrage/v1/collector.grpc.pb.h"
#include "vitrage/v1/graph.grpc.pb.h"
#include "vitrage/v1/persistor.grpc.pb.h"
#include "vitrage/wire/encoded.pb.h"

namespace vitrage {
namespace {

TEST(ProtoTest, JournalRecordRoundTrips) {
  v1::JournalRecord r;
  r.set_seq(42);
  r.set_epoch(3);
  r.set_source("collector:test");
  r.set_source_seq(7);
  auto* vc = r.mutable_delta()->add_changes()->mutable_vertex();
  vc->set_vertex_id("v1");
  vc->set_kind(v1::ADDED);
  auto* p = vc->add_set();
  p->set_key("state");
  p->mutable_value()->set_string_value("ACTIVE");

  std::string bytes = r.SerializeAsString();
  v1::JournalRecord back;
  ASSERT_TRUE(back.ParseFromString(bytes));
  EXPECT_EQ(back.seq(), 42u);
  EXPECT_EQ(back.epoch(), 3u);
  ASSERT_EQ(back.delta().changes_size(), 1);
  EXPECT_EQ(back.delta().changes(0).vertex().set(0).value().string_value(), "ACTIVE");
}

// The encoded stand-ins (vitrage/wire/encoded.proto) serialize to exactly
// the bytes of the vitrage.v1 requests they replace, both ways.
TEST(ProtoTest, EncodedRequestsAreWireIdentical) {
  v1::PushEventsRequest push;
  wire::EncodedPushEventsRequest encoded_push;
  for (int i = 1; i <= 3; ++i) {
    v1::Event* ev = push.add_events();
    ev->set_source("collector:test");
    ev->set_source_seq(i);
    auto* e = ev->mutable_fields()->add_entries();
    e->set_key("vitrage_entity_type");
    e->mutable_value()->set_string_value(i == 2 ? "" : "nova.host");
    encoded_push.add_events(ev->SerializeAsString());
  }
  EXPECT_EQ(encoded_push.SerializeAsString(), push.SerializeAsString());
  v1::PushEventsRequest parsed_push;
  ASSERT_TRUE(parsed_push.ParseFromString(encoded_push.SerializeAsString()));
  EXPECT_EQ(parsed_push.SerializeAsString(), push.SerializeAsString());

  v1::AppendRequest append;
  append.set_epoch(9);
  wire::EncodedAppendRequest encoded_append;
  encoded_append.set_epoch(9);
  for (int i = 1; i <= 3; ++i) {
    v1::JournalRecord* r = append.add_records();
    r->set_seq(i);
    r->set_epoch(9);
    r->mutable_delta()->add_changes()->mutable_vertex()->set_vertex_id("v");
    encoded_append.add_records(r->SerializeAsString());
  }
  EXPECT_EQ(encoded_append.SerializeAsString(), append.SerializeAsString());
  wire::EncodedAppendRequest parsed_append;
  ASSERT_TRUE(parsed_append.ParseFromString(append.SerializeAsString()));
  ASSERT_EQ(parsed_append.records_size(), 3);
  EXPECT_EQ(parsed_append.epoch(), 9u);
  EXPECT_EQ(parsed_append.records(1), append.records(1).SerializeAsString());
}

TEST(ProtoTest, AllServicesAreInTheGeneratedPool) {
  // Static library: reference one message of each file so the linker keeps
  // its descriptor (servers do the same in common/grpc_util.cc).
  (void)grpc::health::v1::HealthCheckRequest::descriptor();
  (void)v1::PushEventsRequest::descriptor();
  (void)v1::AppendRequest::descriptor();
  (void)v1::GetAllRequest::descriptor();
  const auto* pool = google::protobuf::DescriptorPool::generated_pool();
  for (const char* name : {"vitrage.v1.Persistor", "vitrage.v1.Graph", "vitrage.v1.Collector",
                           "grpc.health.v1.Health"}) {
    EXPECT_NE(pool->FindServiceByName(name), nullptr) << name;
  }
  const auto* persistor = pool->FindServiceByName("vitrage.v1.Persistor");
  ASSERT_NE(persistor, nullptr);
  for (const char* m :
       {"AcquireEpoch", "Append", "PutSnapshot", "GetLatestSnapshot", "ReadLog", "GetStatus"}) {
    EXPECT_NE(persistor->FindMethodByName(m), nullptr) << m;
  }
  const auto* graph = pool->FindServiceByName("vitrage.v1.Graph");
  ASSERT_NE(graph, nullptr);
  for (const char* m : {"PushEvents", "GetTopology", "GetVertex", "GetStatus", "TakeSnapshot"}) {
    EXPECT_NE(graph->FindMethodByName(m), nullptr) << m;
  }
}

}  // namespace
}  // namespace vitrage
