// The conformance corpus (testdata/conformance): every scenario's events,
// processed in order with the corpus's id and clock rules, must give the
// graph upstream Vitrage 9.0.0 built, compared through the canonical form
// (vertex ids replaced by natural keys) and its digest.
#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/testing/test_dirs.h"
#include "graph_service/graph/digest.h"
#include "graph_service/graph/graph.h"
#include "graph_service/processor/consistency.h"
#include "graph_service/processor/corpus_run.h"
#include "graph_service/processor/processor.h"
#include "graph_service/workload/workload.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace vitrage::processor {
namespace {

namespace keys = graph::keys;
using graph::Graph;
using graph::Slot;

std::string ScenarioDir() { return vitrage::testing::TestDataDir() + "conformance/scenarios/"; }

bool HasYaml(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return false;
  bool found = false;
  while (dirent* e = readdir(d)) {
    if (absl::EndsWith(e->d_name, ".yaml")) found = true;
  }
  closedir(d);
  return found;
}

// Upstream's datasources_values directory: $VITRAGE_BINARY_DIR's copy, made
// by deploy/fetch-datasources-values.sh (deploy/build.sh runs it) and tried
// once more here when missing. "" when unavailable.
std::string DatasourcesValuesDir() {
  std::string dir = vitrage::testing::RequiredEnvDir("VITRAGE_BINARY_DIR") + "/datasources_values";
  if (HasYaml(dir)) return dir;
  std::string cmd = absl::StrCat(vitrage::testing::RequiredEnvDir("VITRAGE_SOURCE_DIR"),
                                 "/deploy/fetch-datasources-values.sh '", dir, "' >/dev/null 2>&1");
  if (system(cmd.c_str()) != 0) return "";
  return HasYaml(dir) ? dir : "";
}

std::vector<std::string> ScenariosIn(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    const std::string suffix = ".events.jsonl";
    if (absl::EndsWith(n, suffix)) out.push_back(n.substr(0, n.size() - suffix.size()));
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> Scenarios() { return ScenariosIn(ScenarioDir()); }

// testdata/differential: the differential harness's shrunk seeds and the
// issue's regression scenarios (integration_tests/differential/README.md),
// with upstream's graph, in the corpus's layout.
std::string DifferentialDir() { return vitrage::testing::TestDataDir() + "differential/"; }

// Every scenario, as a path under testdata/ without the suffix.
std::vector<std::string> AllScenarios() {
  std::vector<std::string> out;
  for (const auto& n : Scenarios()) out.push_back("conformance/scenarios/" + n);
  for (const auto& n : ScenariosIn(DifferentialDir())) out.push_back("differential/" + n);
  return out;
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// Lines of `g` (workload layout), sorted, for a readable difference.
std::vector<std::string> Lines(const Graph& g) {
  std::vector<std::string> out;
  g.ForEachVertex([&](Slot v) {
    std::string l;
    workload::AppendVertexLine(g, v, &l);
    out.push_back(l);
  });
  g.ForEachEdge([&](Slot e) {
    std::string l;
    workload::AppendEdgeLine(g, e, &l);
    out.push_back(l);
  });
  for (auto& l : out) {
    while (!l.empty() && l.back() == '\n') l.pop_back();
  }
  std::sort(out.begin(), out.end());
  return out;
}

class ConformanceTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ConformanceTest, CanonicalGraphDigestMatchesUpstream) {
  const std::string path = vitrage::testing::TestDataDir() + GetParam();
  const std::string name = GetParam().substr(GetParam().rfind('/') + 1);
  std::string values = DatasourcesValuesDir();
  // Without upstream's state mappings the comparison means nothing: a
  // failure, not a skip, so that a CI run without them cannot pass.
  ASSERT_FALSE(values.empty())
      << "upstream datasources_values unavailable: fetch them into the build tree with\n"
         "  deploy/fetch-datasources-values.sh $VITRAGE_BINARY_DIR/datasources_values\n"
         "(apt-get download vitrage-common; deploy/build.sh runs it), or copy "
         "/etc/vitrage/datasources_values/*.yaml of a vitrage-common package there";
  nlohmann::json meta = nlohmann::json::parse(ReadFile(path + ".meta.json"));
  // The README's rules: corpus ids and clock, key#n by every id minted for
  // the key, consistency events' raw ids through meta.json's id_map.
  auto run = CorpusRun::Create(values);
  ASSERT_TRUE(run.ok()) << run.status();
  (*run)->SetUpstreamIdMap(meta["id_map"].get<std::map<std::string, std::string>>());
  std::ifstream events(path + ".events.jsonl");
  std::string line;
  int n = 0;
  while (std::getline(events, line)) {
    if (line.empty()) continue;
    absl::Status st = (*run)->ProcessJson(nlohmann::json::parse(line));
    ASSERT_TRUE(st.ok()) << name << " event " << n << ": " << st;
    ++n;
  }
  auto c = (*run)->Canonical();
  ASSERT_TRUE(c.ok()) << c.status();
  Graph& canonical = *c;
  std::string digest = graph::Digest(canonical);
  if (digest == meta["canonical_graph_digest"].get<std::string>()) return;

  Graph expected;
  ASSERT_TRUE(workload::LoadGraphFile(path + ".canonical.graph.jsonl", &expected).ok());
  std::vector<std::string> ours = Lines(canonical), theirs = Lines(expected);
  std::vector<std::string> missing, extra;
  std::set_difference(theirs.begin(), theirs.end(), ours.begin(), ours.end(),
                      std::back_inserter(missing));
  std::set_difference(ours.begin(), ours.end(), theirs.begin(), theirs.end(),
                      std::back_inserter(extra));
  std::string diff;
  for (const auto& l : missing) absl::StrAppend(&diff, "\n  - upstream: ", l);
  for (const auto& l : extra) absl::StrAppend(&diff, "\n  + ours:     ", l);
  ADD_FAILURE() << name << ": canonical digest " << digest << ", upstream "
                << meta["canonical_graph_digest"].get<std::string>() << diff;
}

// Processes the first `count` events of `name` (all when negative).
void ProcessScenario(const std::string& name, int count, Graph* g, Processor* proc) {
  std::ifstream events(ScenarioDir() + name + ".events.jsonl");
  std::string line;
  for (int n = 0; (count < 0 || n < count) && std::getline(events, line); ++n) {
    auto ev = EventFromJsonText(line);
    ASSERT_TRUE(ev.ok()) << ev.status();
    ASSERT_TRUE(proc->Process(*ev, nullptr).ok()) << name << " event " << n;
  }
  (void)g;
}

absl::Time At(const char* s) {
  absl::Time t;
  std::string err;
  EXPECT_TRUE(absl::ParseTime("%Y-%m-%dT%H:%M:%SZ", s, absl::UTCTimeZone(), &t, &err)) << err;
  return t;
}

ProcessorOptions CorpusOptions() {
  ProcessorOptions opts;
  opts.id_generator = ConformanceIdGenerator();
  opts.clock = SampleDatePlusHalfSecondClock();
  return opts;
}

TEST(ConsistencyTest, OutdatedPassAfterPortGetAllMatchesTheCorpusEvent) {
  Graph g;
  Processor proc(&g, CorpusOptions());
  ProcessScenario("k_neutron_lifecycle", 19, &g, &proc);
  auto events = OutdatedEntityEvents(g, "neutron.port", At("2024-05-01T10:03:20Z"),
                                     At("2024-05-01T10:03:20Z"));
  ASSERT_EQ(events.size(), 1u);
  std::ifstream f(ScenarioDir() + "k_neutron_lifecycle.events.jsonl");
  std::string line;
  for (int i = 0; i < 20; ++i) std::getline(f, line);
  nlohmann::json upstream = nlohmann::json::parse(line);
  const Event& ev = events[0];
  EXPECT_EQ(ev.GetString("id"), upstream["id"].get<std::string>());
  EXPECT_EQ(ev.GetString("vitrage_type"), "neutron.port");
  EXPECT_EQ(ev.GetString("vitrage_event_type"), "delete_entity");
  EXPECT_EQ(ev.GetString("vitrage_sample_date"),
            upstream["vitrage_sample_date"].get<std::string>());
  Slot port = g.FindVertex(ev.GetString("vitrage_id"));
  ASSERT_NE(port, graph::kNoSlot);
  EXPECT_EQ(g.VertexProps(port).GetString(keys::kId), upstream["id"].get<std::string>());
  ASSERT_TRUE(proc.Process(ev, nullptr).ok());
  EXPECT_TRUE(g.VertexProps(port).GetBool(keys::kVitrageIsDeleted));
}

TEST(ConsistencyTest, DeletedVerticesAreRemovedAfterSixtySecondsOnly) {
  Graph g;
  Processor proc(&g, CorpusOptions());
  ProcessScenario("e_delete_instance", -1, &g, &proc);
  size_t deleted = 0;
  g.ForEachVertex([&](Slot v) { deleted += g.VertexProps(v).GetBool(keys::kVitrageIsDeleted); });
  ASSERT_GT(deleted, 0u);
  // Every vertex was stamped on 2024-05-01 by 10:05 at the latest.
  EXPECT_TRUE(PeriodicConsistencyEvents(g, At("2024-05-01T10:00:30Z")).empty());
  auto events = PeriodicConsistencyEvents(g, At("2024-05-01T10:10:00Z"));
  // Only the deleted vertices age out: the others carry event sample dates
  // ("...T...Z"), which compare as newer than any same-day cut-off.
  ASSERT_EQ(events.size(), deleted);
  for (const Event& ev : events) {
    EXPECT_EQ(ev.GetString("vitrage_event_type"), "remove_deleted_entity");
    ASSERT_TRUE(proc.Process(ev, nullptr).ok());
  }
  size_t left = 0;
  g.ForEachVertex([&](Slot v) { left += g.VertexProps(v).GetBool(keys::kVitrageIsDeleted); });
  EXPECT_EQ(left, 0u);
  // A day later everything is stale: placeholders and all but nova.zone.
  for (const Event& ev : PeriodicConsistencyEvents(g, At("2024-05-02T10:10:00Z"))) {
    EXPECT_EQ(ev.GetString("vitrage_event_type"), "delete_entity");
    Slot v = g.FindVertex(ev.GetString("vitrage_id"));
    ASSERT_NE(v, graph::kNoSlot);
    EXPECT_NE(g.VertexProps(v).GetString(keys::kVitrageDatasourceName), "nova.zone");
  }
}

// The corpus is there (an empty scenario list would instantiate nothing
// and pass).
TEST(ConformanceCorpusTest, TestdataHoldsEveryScenario) {
  EXPECT_EQ(Scenarios(), (std::vector<std::string>{
                             "a_init_snapshot_small_cloud", "b_instance_state_updates",
                             "d1_placeholder_host", "d2_placeholder_filled", "e_delete_instance",
                             "f_migration", "h_static_topology", "k_neutron_lifecycle"}))
      << "in " << ScenarioDir();
}

INSTANTIATE_TEST_SUITE_P(Scenarios, ConformanceTest, ::testing::ValuesIn(AllScenarios()),
                         [](const ::testing::TestParamInfo<std::string>& i) {
                           std::string n = i.param;
                           for (char& c : n) {
                             if (!absl::ascii_isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return n;
                         });

}  // namespace
}  // namespace vitrage::processor
