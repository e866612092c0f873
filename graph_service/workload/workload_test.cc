#include "graph_service/workload/workload.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace vitrage::workload {
namespace {

std::string SharedDir() {
  const char* src = getenv("VITRAGE_SOURCE_DIR");
  return std::string(src ? src : "/work/main") + "/../shared/workload/";
}

nlohmann::json Meta(const std::string& name) {
  std::ifstream f(SharedDir() + name + ".meta.json");
  return nlohmann::json::parse(f);
}

std::string RunDigestPy(const std::string& path) {
  std::string cmd = SharedDir() + "digest.py " + path;
  FILE* p = popen(cmd.c_str(), "r");
  char buf[128] = {0};
  std::string out;
  while (fgets(buf, sizeof buf, p)) out += buf;
  pclose(p);
  while (!out.empty() && (out.back() == '\n')) out.pop_back();
  return out;
}

TEST(WorkloadTest, Graph1kDigestMatchesMeta) {
  graph::Graph g;
  ASSERT_TRUE(LoadGraphFile(SharedDir() + "graph_1k.jsonl.zst", &g).ok());
  auto meta = Meta("graph_1k");
  EXPECT_EQ(g.vertex_count(), meta["vertices"].get<size_t>());
  EXPECT_EQ(g.edge_count(), meta["edges"].get<size_t>());
  EXPECT_EQ(Digest(g), meta["digest"].get<std::string>());
}

TEST(WorkloadTest, Graph10kDigestMatchesMeta) {
  graph::Graph g;
  ASSERT_TRUE(LoadGraphFile(SharedDir() + "graph_10k.jsonl.zst", &g).ok());
  auto meta = Meta("graph_10k");
  EXPECT_EQ(g.vertex_count(), meta["vertices"].get<size_t>());
  EXPECT_EQ(g.edge_count(), meta["edges"].get<size_t>());
  EXPECT_EQ(Digest(g), meta["digest"].get<std::string>());
}

TEST(WorkloadTest, EventTailsGiveFinalDigest) {
  for (const char* size : {"1k", "10k"}) {
    graph::Graph g;
    ASSERT_TRUE(LoadGraphFile(SharedDir() + "graph_" + size + ".jsonl.zst", &g).ok());
    std::string events = SharedDir() + "events_" + size + "_1000.jsonl.zst";
    auto n = ApplyEventTailFile(events, &g);
    ASSERT_TRUE(n.ok()) << n.status();
    EXPECT_EQ(*n, 1000);
    EXPECT_EQ(Digest(g), Meta(std::string("events_") + size + "_1000")["final_graph_digest"]
                             .get<std::string>())
        << size;
  }
}

TEST(WorkloadTest, DeltasOfTailReplayToSameGraph) {
  graph::Graph g;
  ASSERT_TRUE(LoadGraphFile(SharedDir() + "graph_1k.jsonl.zst", &g).ok());
  graph::Graph replay = g;
  std::vector<v1::GraphDelta> deltas;
  ASSERT_TRUE(ApplyEventTailFile(SharedDir() + "events_1k_1000.jsonl.zst", &g, &deltas).ok());
  ASSERT_EQ(deltas.size(), 1000u);
  for (const auto& d : deltas) ASSERT_TRUE(replay.ApplyDelta(d).ok());
  EXPECT_EQ(Digest(replay), Digest(g));
}

TEST(WorkloadTest, ExportRecheckedByDigestPy) {
  graph::Graph g;
  ASSERT_TRUE(LoadGraphFile(SharedDir() + "graph_1k.jsonl.zst", &g).ok());
  ASSERT_TRUE(ApplyEventTailFile(SharedDir() + "events_1k_1000.jsonl.zst", &g).ok());
  std::string path = testing::TempDir() + "/export_1k.jsonl";
  ASSERT_TRUE(ExportGraphFile(g, path).ok());
  EXPECT_EQ(RunDigestPy(path), Digest(g));
  graph::Graph again;
  ASSERT_TRUE(LoadGraphFile(path, &again).ok());
  EXPECT_EQ(Digest(again), Digest(g));
}

TEST(WorkloadTest, BadLineNamesLineAndField) {
  std::string path = testing::TempDir() + "/bad.jsonl";
  {
    std::ofstream f(path);
    f << R"({"id": "a", "props": {}})" << "\n";
    f << R"({"id": "b"})" << "\n";
  }
  graph::Graph g;
  absl::Status st = LoadGraphFile(path, &g);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("line 2"), std::string::npos) << st;
  EXPECT_NE(st.message().find("props"), std::string::npos) << st;
  {
    std::ofstream f(path);
    f << R"({"id": "a", "props": {}})" << "\n";
    f << R"({"source": "a", "target": "zz", "label": "on", "props": {}})" << "\n";
  }
  graph::Graph g2;
  st = LoadGraphFile(path, &g2);
  EXPECT_NE(st.message().find("line 2"), std::string::npos) << st;
  EXPECT_NE(st.message().find("zz"), std::string::npos) << st;
}

}  // namespace
}  // namespace vitrage::workload
