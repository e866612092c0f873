#include "persistor_service/server/db_errors.h"

#include <gtest/gtest.h>

#include "absl/status/statusor.h"

namespace vitrage::persistor {
namespace {

TEST(RetryAbortedTest, RetriesAbortedUpToTheOnePolicysAttempts) {
  int calls = 0;
  absl::StatusOr<int> r = RetryAborted([&]() -> absl::StatusOr<int> {
    ++calls;
    return absl::AbortedError("deadlock");
  });
  EXPECT_EQ(r.status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(calls, kTransactionAttempts);
  EXPECT_EQ(kTransactionAttempts, 8);
}

TEST(RetryAbortedTest, DoesNotRetryOtherErrorsAndStopsAtSuccess) {
  int calls = 0;
  absl::StatusOr<int> r = RetryAborted([&]() -> absl::StatusOr<int> {
    ++calls;
    return absl::UnavailableError("gone");
  });
  EXPECT_EQ(calls, 1);
  calls = 0;
  r = RetryAborted([&]() -> absl::StatusOr<int> {
    if (++calls < 3) return absl::AbortedError("certification failed");
    return 42;
  });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 42);
  EXPECT_EQ(calls, 3);
}

TEST(RetryAbortedTest, TheLogWritersLoopStopsAtTheSameCount) {
  // LogWriter::Commit drives its loop with RetryAfterAbort directly.
  int attempts = 0;
  for (int attempt = 1;; ++attempt) {
    ++attempts;
    if (!RetryAfterAbort(absl::AbortedError("deadlock"), attempt)) break;
  }
  EXPECT_EQ(attempts, kTransactionAttempts);
}

TEST(FencingErrorTest, NamesBothEpochsAndTheOwner) {
  mysql::EpochRow row;
  row.epoch = 7;
  row.owner = "ctl2:42";
  absl::Status stale = FencingError(6, row);
  EXPECT_EQ(stale.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(stale.message(),
            "stale epoch 6: epoch 7 was acquired by ctl2:42; this writer is fenced and must stop");
  EXPECT_EQ(FencingError(9, row).message(),
            "epoch 9 was never acquired: the current epoch is 7 (call AcquireEpoch)");
}

}  // namespace
}  // namespace vitrage::persistor
