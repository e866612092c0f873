#include "common/huge_page_heap.h"

#include <gtest/gtest.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

// The same jemalloc options as vitrage-graph (graph_service/service/main.cc).
extern "C" {
const char* malloc_conf = "thp:always,narenas:1";
}

namespace vitrage {
namespace {

long MinorFaults() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_minflt;
}

bool KernelGivesHugePages() {
  std::ifstream in("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return !s.empty() && s.find("[never]") == std::string::npos;
}

TEST(HugePageHeapTest, LaterAllocationsComeFromTheRegionInHugePages) {
  if (!JemallocPresent()) {
    HugePageHeap heap = ReserveHugePageHeap(size_t{64} << 20);
    EXPECT_FALSE(heap.reserved);
    EXPECT_NE(heap.detail.find("jemalloc is not"), std::string::npos) << heap.detail;
    GTEST_SKIP() << "built without jemalloc (sanitizer build)";
  }
  const size_t bytes = size_t{64} << 20;
  HugePageHeap heap = ReserveHugePageHeap(bytes);
  ASSERT_TRUE(heap.reserved) << heap.detail;
  EXPECT_EQ(heap.end - heap.begin, bytes);
  EXPECT_NE(heap.detail.find("64 MiB"), std::string::npos) << heap.detail;

  // 32 MiB of small objects (graph-like: 48-160 byte blocks) and some of
  // 1 MiB: nearly all must land in the region, not in new mappings (the
  // first ones may still fill what jemalloc had before the reservation).
  const long faults_before = MinorFaults();
  std::vector<std::unique_ptr<char[]>> blocks;
  size_t in_region = 0, total = 0, allocated = 0;
  for (int i = 0; allocated < (size_t{32} << 20); ++i) {
    const size_t n = (i % 20000 == 0) ? (size_t{1} << 20) : 48 + static_cast<size_t>(i % 8) * 16;
    blocks.emplace_back(new char[n]);
    std::fill_n(blocks.back().get(), n, static_cast<char>(i));  // touch every page
    const auto p = reinterpret_cast<uintptr_t>(blocks.back().get());
    if (p >= heap.begin && p < heap.end) ++in_region;
    ++total;
    allocated += n;
  }
  const long faults = MinorFaults() - faults_before;
  EXPECT_GE(in_region * 100, total * 90) << in_region << " of " << total << " in the region";
  // The memory is ordinary memory: what was written reads back.
  for (size_t i = 0; i < blocks.size(); i += 97) {
    EXPECT_EQ(blocks[i][0], static_cast<char>(i)) << i;
  }
  // 32 MiB in 4 KiB pages is ~8,200 faults; in 2 MiB pages a few dozen.
  if (KernelGivesHugePages()) {
    EXPECT_LT(faults, 1000) << "huge pages not used for the reserved region";
  }
  std::printf("%zu of %zu allocations in the region, %ld page faults for %zu MiB\n", in_region,
              total, faults, allocated >> 20);
}

TEST(HugePageHeapTest, StopNewHugePagesTurnsThemOffForTheProcess) {
  // In a child, so the other test keeps huge pages whatever the order.
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const bool before = prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0) == 1;
    const bool stopped = StopNewHugePages();
    const bool after = prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0) == 1;
    _exit(!before && stopped && after ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

// The figure after "heap: " (MiB in use), or -1.
double InUseMiB(const std::string& summary) {
  double v = -1;
  if (sscanf(summary.c_str(), "heap: %lf MiB in use", &v) != 1) return -1;
  return v;
}

// Last: the tests above need a heap that has not grown yet.
TEST(HugePageHeapTest, HeapSummaryCountsWhatTheProgramHolds) {
  if (!JemallocPresent()) {
    EXPECT_EQ(HeapSummary(), "heap: not jemalloc");
    return;
  }
  const double before = InUseMiB(HeapSummary());
  ASSERT_GE(before, 0) << HeapSummary();
  std::vector<std::unique_ptr<char[]>> held;
  for (int i = 0; i < 64; ++i) {
    held.emplace_back(new char[1 << 20]);
    held.back()[0] = 1;
  }
  const std::string during = HeapSummary();
  EXPECT_GE(InUseMiB(during), before + 63) << during;
  EXPECT_NE(during.find("MiB resident"), std::string::npos) << during;
  held.clear();
  EXPECT_LT(InUseMiB(HeapSummary()), before + 8) << HeapSummary();
}

}  // namespace
}  // namespace vitrage
