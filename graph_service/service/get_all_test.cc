// get_all against the in-process fake collector (test_util.h): events and
// the reconcile record, retries, the live reconcile's limit, image records
// from the log, and the restart of a collector.
#include "graph_service/service/get_all.h"

#include <glog/logging.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
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
    hooks_ = h;
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
  GetAll::Hooks hooks_;
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

// [limits] max_distinct_keys holds for get_all's events as for
// PushEvents: an event whose new property keys would pass the limit is
// skipped (nothing of it interned or applied), the others are applied.
TEST_F(GetAllTest, AnEventOverTheKeyLimitIsSkipped) {
  v1::GetAllResponse batch = Batch("collector@1", 3, 2);
  processor::PassthroughOp op;
  op.kind = processor::PassthroughOp::kSetVertex;
  op.id = "wide";
  op.props.Set(graph::InternKey("vitrage_id"), graph::Value::String("wide"));
  op.props.Set(graph::InternKey("vitrage_category"), graph::Value::String("RESOURCE"));
  op.props.Set(graph::InternKey("vitrage_type"), graph::Value::String("nova.host"));
  v1::Event wide;
  processor::EncodePassthrough({op}, "update", "2026-12-01T00:00:00Z", wide.mutable_fields());
  // 200 keys never seen in this process, added to the encoded event (the
  // op's props) without interning them here.
  v1::MapValue* props = nullptr;
  for (auto& f : *wide.mutable_fields()->mutable_entries()) {
    if (f.key() != "ops") continue;
    for (auto& e : *f.mutable_value()
                        ->mutable_list_value()
                        ->mutable_values(0)
                        ->mutable_map_value()
                        ->mutable_entries()) {
      if (e.key() == "props") props = e.mutable_value()->mutable_map_value();
    }
  }
  ASSERT_NE(props, nullptr);
  for (int i = 0; i < 200; ++i) {
    v1::Property* p = props->add_entries();
    p->set_key(absl::StrCat("get-all-key-budget-test-", i));
    p->mutable_value()->set_string_value("x");
  }
  *batch.add_events() = wide;
  collector_.Answer({batch});
  GetAllOptions options;
  options.max_distinct_keys = graph::KeyCount() + 100;
  GetAll get_all(options, stub_.get(), &state_, hooks_);
  const uint32_t keys_before = graph::KeyCount();
  auto took = get_all.Run("fresh start", /*live=*/false);
  ASSERT_TRUE(took.ok()) << took.status();
  EXPECT_EQ(graph::KeyCount(), keys_before);
  EXPECT_FALSE(graph::KeyIsInterned("get-all-key-budget-test-0"));
  absl::MutexLock l(&state_.mu);
  EXPECT_EQ(state_.graph.vertex_count(), 2u);
  EXPECT_EQ(records_.back().event_kind(), "get_all reconcile");
}

// Collects the log lines that report a running get_all's progress.
class ProgressLines : public google::LogSink {
 public:
  ProgressLines() { google::AddLogSink(this); }
  ~ProgressLines() override { google::RemoveLogSink(this); }
  void send(google::LogSeverity, const char*, const char*, int, const struct ::tm*,
            const char* message, size_t length) override {
    std::string line(message, length);
    if (line.find("entities received so far") == std::string::npos) return;
    absl::MutexLock l(&mu_);
    lines_.push_back(std::move(line));
  }
  std::vector<std::string> lines() {
    absl::MutexLock l(&mu_);
    return lines_;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> lines_ ABSL_GUARDED_BY(mu_);
};

// A slow collector: status shows the get_all running with a count that
// grows, and the log says how much arrived, every progress_log_interval.
TEST_F(GetAllTest, SlowGetAllReportsItsProgressInStatusAndTheLog) {
  std::vector<v1::GetAllResponse> batches;
  for (int b = 0; b < 6; ++b) batches.push_back(Batch("collector@1", 7, 10));
  collector_.Answer(batches);
  collector_.set_batch_delay(absl::Milliseconds(100));
  GetAllOptions options;
  options.progress_log_interval = absl::Milliseconds(150);
  GetAll get_all(options, stub_.get(), &state_, hooks_);
  ProgressLines log;

  absl::StatusOr<absl::Duration> took;
  std::atomic<bool> done{false};
  std::thread run([&] {
    took = get_all.Run("fresh start", /*live=*/false);
    done = true;
  });
  bool seen_partial = false;
  while (!done) {
    v1::GraphStatus st;
    get_all.FillProgress(&st);
    if (st.get_all_running() && st.get_all_received() > 0 && st.get_all_received() < 60) {
      seen_partial = true;
      EXPECT_GT(st.get_all_seconds(), 0.0);
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
  run.join();
  ASSERT_TRUE(took.ok()) << took.status();
  EXPECT_TRUE(seen_partial) << "status never showed a get_all part way";
  v1::GraphStatus st;
  get_all.FillProgress(&st);
  EXPECT_FALSE(st.get_all_running());
  EXPECT_EQ(st.get_all_received(), 60u);
  EXPECT_GE(st.get_all_seconds(), 0.5);
  // ~600 ms of stream at most one line per 150 ms, the first after 150 ms.
  const std::vector<std::string> lines = log.lines();
  EXPECT_GE(lines.size(), 2u);
  EXPECT_LE(lines.size(), static_cast<size_t>(st.get_all_seconds() / 0.15) + 1);
  ASSERT_FALSE(lines.empty());
  EXPECT_THAT(lines[0], HasSubstr("get_all: "));
  EXPECT_THAT(lines[0], HasSubstr("(collector at "));
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
