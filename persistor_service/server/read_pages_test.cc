#include "persistor_service/server/read_pages.h"

#include <gtest/gtest.h>

#include <atomic>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace vitrage::persistor {
namespace {

// Waits up to 5 s for `done`.
template <typename F>
bool WaitFor(F done) {
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (!done()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(1));
  }
  return true;
}

TEST(Hex32Test, FormatsAsTheDataLossMessagesShowIt) {
  EXPECT_EQ(Hex32(0x1a2b), "0x1a2b");
  EXPECT_EQ(Hex32(0xffffffffu), "0xffffffff");
  EXPECT_EQ(Hex32(0), "0x0");
}

TEST(PrefetcherTest, YieldsEveryPageInOrderThenEnds) {
  int fetched = 0;
  Prefetcher<int> pages([&](int* page, bool* last) {
    *page = fetched++;
    *last = fetched == 5;
    return absl::OkStatus();
  });
  std::vector<int> got;
  Prefetcher<int>::Fetched f;
  while (pages.Next(&f)) {
    ASSERT_TRUE(f.status.ok());
    got.push_back(f.page);
  }
  EXPECT_EQ(got, (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_FALSE(pages.Next(&f));
}

TEST(PrefetcherTest, AFailedFetchIsTheLastPage) {
  int fetched = 0;
  Prefetcher<int> pages([&](int* page, bool* /*last*/) {
    *page = ++fetched;
    return fetched == 2 ? absl::UnavailableError("lost connection") : absl::OkStatus();
  });
  Prefetcher<int>::Fetched f;
  ASSERT_TRUE(pages.Next(&f));
  EXPECT_TRUE(f.status.ok());
  EXPECT_EQ(f.page, 1);
  ASSERT_TRUE(pages.Next(&f));
  EXPECT_EQ(f.status, absl::UnavailableError("lost connection"));
  EXPECT_FALSE(pages.Next(&f));
  EXPECT_EQ(fetched, 2);
}

TEST(PrefetcherTest, ReadsAtMostDepthPagesAheadOfTheConsumer) {
  std::atomic<int> fetched{0};
  Prefetcher<int> pages(
      [&](int* page, bool* last) {
        *page = fetched++;
        *last = false;
        return absl::OkStatus();
      },
      /*depth=*/3);
  ASSERT_TRUE(WaitFor([&] { return fetched.load() == 3; }));
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_EQ(fetched.load(), 3);
  Prefetcher<int>::Fetched f;
  ASSERT_TRUE(pages.Next(&f));
  EXPECT_EQ(f.page, 0);
  ASSERT_TRUE(WaitFor([&] { return fetched.load() == 4; }));
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_EQ(fetched.load(), 4);
}

TEST(PrefetcherTest, DestroyedBeforeTheLastPageStopsFetching) {
  std::atomic<int> fetched{0};
  {
    Prefetcher<int> pages([&](int* page, bool* last) {
      *page = fetched++;
      *last = false;
      return absl::OkStatus();
    });
    Prefetcher<int>::Fetched f;
    ASSERT_TRUE(pages.Next(&f));
  }
  const int at_destruction = fetched.load();
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_EQ(fetched.load(), at_destruction);
  EXPECT_LE(at_destruction, 3);
}

}  // namespace
}  // namespace vitrage::persistor
