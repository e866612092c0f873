#include "persistor_service/server/db_errors.h"

#include "absl/strings/str_cat.h"

namespace vitrage::persistor {

absl::Status FencingError(uint64_t epoch, const mysql::EpochRow& row) {
  if (epoch < row.epoch) {
    return absl::FailedPreconditionError(absl::StrCat("stale epoch ", epoch, ": epoch ", row.epoch,
                                                      " was acquired by ", row.owner,
                                                      "; this writer is fenced and must stop"));
  }
  return absl::FailedPreconditionError(absl::StrCat("epoch ", epoch,
                                                    " was never acquired: the current epoch is ",
                                                    row.epoch, " (call AcquireEpoch)"));
}

absl::Status NoteFailure(mysql::ConnectionPool* pool, absl::Status status) {
  if (status.code() == absl::StatusCode::kUnavailable) {
    pool->ReportFailure(status);
  }
  return status;
}

absl::StatusOr<mysql::ConnectionPool::Lease> AcquireRead(mysql::ConnectionPool* pool) {
  absl::StatusOr<mysql::ConnectionPool::Lease> lease =
      pool->Acquire(mysql::ConnectionPool::Use::kRead);
  if (!lease.ok()) return NoteFailure(pool, lease.status());
  return lease;
}

}  // namespace vitrage::persistor
