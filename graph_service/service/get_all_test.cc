// get_all against the in-process fake collector (test_util.h): events and
// the reconcile record, retries, the live reconcile's limit, image records
// from the log, and the restart of a collector.
#include "graph_service/service/get_all.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "graph_service/service/test_util.h"

namespace vitrage::service {
namespace {

using ::testing::HasSubstr;

class GetAllTest : public ::testing::Test {
 protected:
  void SetUp() override {
    {
      absl::MutexLock l(&state_.mu);
      state_.handler = testing::MakeHandler(&state_.graph);
    }
    stub_ = v1::Collector::NewStub(collector_.channel());
    GetAll::Hooks h;
    h.stopped = [] { return absl::OkStatus(); };
    h.phase = [this](v1::GraphRole role, const std::string& p) { phases_.push_back({role, p}); };
    h.apply_locked = [this](const v1::Event& ev) ABSL_NO_THREAD_SAFETY_ANALYSIS {
      v1::JournalRecord rec;
      state_.handler->Handle(ev, &state_.graph, rec.mutable_delta(), rec.mutable_event_kind());
      Commit(&rec);
    };
    h.commit_locked = [this](v1::JournalRecord* rec) { Commit(rec); };
    h.journal = [] { return nullptr; };
    get_all_ = std::make_unique<GetAll>(GetAllOptions{}, stub_.get(), &state_, h);
  }

  void Commit(v1::JournalRecord* rec) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    rec->set_seq(++state_.applied_seq);
    if (!rec->source().empty()) state_.NoteMarkLocked(rec->source(), rec->source_seq());
    records_.push_back(*rec);
  }

  static v1::GetAllResponse Batch(const std::string& source, uint64_t covered, int n) {
    v1::GetAllResponse b;
    b.set_source(source);
    b.set_covered_source_seq(covered);
    for (int i = 0; i < n; ++i) {
      *b.add_events() = testing::VertexEvent("", 0, absl::StrCat("host-", i));
    }
    return b;
  }

  testing::FakeCollector collector_;
  std::unique_ptr<v1::Collector::Stub> stub_;
  GraphState state_;
  std::unique_ptr<GetAll> get_all_;
  std::vector<std::pair<v1::GraphRole, std::string>> phases_;
  std::vector<v1::JournalRecord> records_;
};

TEST_F(GetAllTest, EventsThenAReconcileRecordWithTheCoveredSeq) {
  collector_.Answer({Batch("collector@1", 7, 3)});
  auto took = get_all_->Run("fresh start", /*live=*/false);
  ASSERT_TRUE(took.ok()) << took.status();
  ASSERT_EQ(records_.size(), 4u);
  EXPECT_EQ(records_.back().event_kind(), "get_all reconcile");
  EXPECT_EQ(records_.back().source(), "collector@1");
  EXPECT_EQ(records_.back().source_seq(), 7u);
  absl::MutexLock l(&state_.mu);
  EXPECT_EQ(state_.graph.vertex_count(), 3u);
  EXPECT_EQ(state_.marks["collector@1"], 7u);
  ASSERT_EQ(collector_.requests().size(), 1u);
  EXPECT_EQ(collector_.requests()[0].action(), "init_snapshot");
  EXPECT_TRUE(collector_.requests()[0].accept_image());
}

TEST_F(GetAllTest, RecoveryRetriesAnUnreachableCollector) {
  collector_.Answer({Batch("collector@1", 1, 1)}, /*failures=*/2);
  auto took = get_all_->Run("fresh start", /*live=*/false);
  ASSERT_TRUE(took.ok()) << took.status();
  EXPECT_EQ(collector_.requests().size(), 3u);
  EXPECT_THAT(phases_[1].second, HasSubstr("collector unreachable"));
  EXPECT_EQ(phases_[1].first, v1::RECOVERING);
}

TEST_F(GetAllTest, LiveReconcileGivesUpAfterThreeAttemptsAndStaysActive) {
  collector_.Answer({}, /*failures=*/10);
  auto took = get_all_->Run("collector restarted", /*live=*/true);
  EXPECT_TRUE(absl::IsUnavailable(took.status())) << took.status();
  EXPECT_EQ(collector_.requests().size(), 3u);
  EXPECT_FALSE(collector_.requests()[0].accept_image());
  EXPECT_EQ(collector_.requests()[0].action(), "snapshot");
  for (const auto& [role, phase] : phases_) EXPECT_EQ(role, v1::ACTIVE) << phase;
  EXPECT_EQ(phases_.back().second, "active");
  EXPECT_TRUE(records_.empty());
}

TEST_F(GetAllTest, ImageChunkWithoutItsHeaderIsDataLoss) {
  v1::JournalRecord rec;
  rec.set_seq(4);
  rec.mutable_image_chunk()->set_index(1);
  absl::MutexLock l(&state_.mu);
  absl::Status s = get_all_->ApplyImageRecordLocked(rec);
  EXPECT_TRUE(absl::IsDataLoss(s)) << s;
  EXPECT_THAT(s.message(), HasSubstr("record 4 holds chunk 1"));
  EXPECT_FALSE(get_all_->InImageLocked());
}

TEST_F(GetAllTest, ImageRecordsFromTheLogReplaceTheGraphAtTheirLastChunk) {
  graph::Graph image;
  for (const auto& rec : testing::MakeLog(1, 3, "collector@1", 1, 0)) {
    ASSERT_TRUE(image.ApplyDelta(rec.delta()).ok());
  }
  snapshot::EncodeOptions eo;
  eo.max_chunk_body_bytes = 64;  // a chunk per vertex or so
  auto encoded = snapshot::EncodeSnapshotToMemory(image, snapshot::SnapshotInfo{}, {}, eo);
  ASSERT_TRUE(encoded.ok()) << encoded.status();
  ASSERT_GT(encoded->chunks.size(), 1u);
  absl::MutexLock l(&state_.mu);
  for (size_t i = 0; i < encoded->chunks.size(); ++i) {
    v1::JournalRecord rec;
    rec.set_seq(i + 1);
    if (i == 0) *rec.mutable_image_header() = encoded->header;
    *rec.mutable_image_chunk() = encoded->chunks[i];
    ASSERT_TRUE(get_all_->ApplyImageRecordLocked(rec).ok());
    const bool last = i + 1 == encoded->chunks.size();
    EXPECT_EQ(get_all_->InImageLocked(), !last);
    EXPECT_EQ(state_.graph.vertex_count(), last ? 3u : 0u);
  }
}

TEST(RestartedSourceTest, NewRunOfAKnownCollectorIsARestart) {
  absl::flat_hash_map<std::string, uint64_t> marks{{"collector@run1", 41}, {"other", 3}};
  v1::PushEventsRequest req;
  *req.add_events() = testing::VertexEvent("collector@run2", 1, "h");
  EXPECT_EQ(RestartedSource(req, marks),
            "collector \"collector\" restarted (run run1, acked up to seq 41, is now run run2)");
  req.mutable_events(0)->set_source("collector@run1");
  EXPECT_EQ(RestartedSource(req, marks), "");
  req.mutable_events(0)->set_source("newcomer@run1");
  EXPECT_EQ(RestartedSource(req, marks), "");
}

}  // namespace
}  // namespace vitrage::service
