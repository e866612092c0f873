// The evaluator glue without a persistor (it has no gRPC of its own): which
// pass Enable runs, and the snapshot's evaluator section that carries what
// recovery owes the evaluator.
#include "graph_service/service/evaluator_glue.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "graph_service/service/test_util.h"

namespace vitrage::service {
namespace {

using ::testing::HasSubstr;

const std::string kTemplates = std::string(EVALUATOR_TESTDATA) + "/host_down";

class EvaluatorGlueTest : public ::testing::Test {
 protected:
  // Enables `glue` on graph_ and returns the pass it ran.
  std::string Enable(EvaluatorGlue* glue, const std::string& why = "") {
    std::string pass;
    absl::Status s = glue->Enable(
        graph_, why,
        [](const v1::Event&, const std::string&, v1::GraphDelta*) { return absl::OkStatus(); },
        [&](const std::string& p) { pass = p; });
    EXPECT_TRUE(s.ok()) << s;
    return pass;
  }

  static v1::JournalRecord Record(uint64_t seq, const std::string& source,
                                  const std::string& kind) {
    v1::JournalRecord rec = testing::MakeLog(seq, 1, "collector@1", 1, 0)[0];
    rec.set_source(source);
    rec.set_event_kind(kind);
    return rec;
  }

  graph::Graph graph_;
};

TEST_F(EvaluatorGlueTest, WithoutTemplatesNothingIsOwedOrSaid) {
  EvaluatorGlue glue("");
  EXPECT_FALSE(glue.has_templates());
  EXPECT_EQ(glue.StateSection(5), "");
  EXPECT_EQ(Enable(&glue), "");
  EXPECT_FALSE(glue.on());
}

TEST_F(EvaluatorGlueTest, SameTemplatesAndACompleteSnapshotTakeTheRecoveryPass) {
  EvaluatorGlue before(kTemplates);
  ASSERT_TRUE(before.has_templates());
  EXPECT_EQ(Enable(&before, ""), "full pass (templates changed)");  // no snapshot noted
  const std::string section = before.StateSection(9);
  EXPECT_THAT(section, HasSubstr("pass complete\n"));
  EXPECT_THAT(section, HasSubstr("seq 9\n"));

  EvaluatorGlue after(kTemplates);
  after.NoteSnapshotState(section);
  EXPECT_TRUE(after.templates_match_snapshot());
  after.NoteReplayed(Record(10, "collector@1", "update"));
  EXPECT_EQ(Enable(&after), "recovery pass");
  EXPECT_TRUE(after.on());
  v1::EvaluatorStatus st;
  after.FillStatus(&st);
  EXPECT_TRUE(st.enabled());
  EXPECT_EQ(st.enable_pass(), "recovery pass");
  EXPECT_GT(st.templates(), 0u);
}

TEST_F(EvaluatorGlueTest, ReplayedRecordJournaledWithTheEvaluatorOffOwesAFullPass) {
  EvaluatorGlue glue(kTemplates);
  glue.NoteSnapshotState(EvaluatorGlue(kTemplates).StateSection(0));
  glue.NoteReplayed(Record(1, "collector@1", "update"));
  EXPECT_THAT(glue.StateSection(1), HasSubstr("pass recovery\n"));
  glue.NoteReplayed(Record(2, "collector@1", "get_all reconcile"));
  EXPECT_THAT(glue.StateSection(2), HasSubstr("pass full\n"));
  EXPECT_EQ(Enable(&glue), "full pass (records journaled with the evaluator off)");
}

TEST_F(EvaluatorGlueTest, SnapshotOfOtherTemplatesOwesAFullPass) {
  EvaluatorGlue glue(kTemplates);
  glue.NoteSnapshotState("vitrage-evaluator-state 1\ntemplates other=1\npass complete\nseq 3\n");
  EXPECT_FALSE(glue.templates_match_snapshot());
  EXPECT_EQ(Enable(&glue), "full pass (templates changed)");
}

TEST_F(EvaluatorGlueTest, TheEnginesReasonComesFirst) {
  EvaluatorGlue glue(kTemplates);
  glue.NoteSnapshotState(EvaluatorGlue(kTemplates).StateSection(0));
  EXPECT_EQ(Enable(&glue, "after get_all"), "full pass (after get_all)");
}

TEST_F(EvaluatorGlueTest, SnapshotOwingAFullPassIsKeptOwing) {
  // Off, with nothing noted at the snapshot's seq: its section says so.
  const std::string section = EvaluatorGlue(kTemplates).StateSection(4);
  EXPECT_THAT(section, HasSubstr("pass full\n"));
  EvaluatorGlue glue(kTemplates);
  glue.NoteSnapshotState(section);
  EXPECT_TRUE(glue.templates_match_snapshot());
  EXPECT_EQ(Enable(&glue), "full pass (records journaled with the evaluator off)");
}

}  // namespace
}  // namespace vitrage::service
