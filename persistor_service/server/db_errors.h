// How the persistor answers database outcomes, in one place for every
// handler and the log writer: a transaction the database aborted (deadlock,
// lock wait timeout, Galera certification conflict: ABORTED) is retried
// under one policy, a write refused by the epoch fence gets one error, and a
// lost database (UNAVAILABLE) seen by a handler marks it unreachable.
#ifndef VITRAGE_PERSISTOR_SERVICE_SERVER_DB_ERRORS_H_
#define VITRAGE_PERSISTOR_SERVICE_SERVER_DB_ERRORS_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "persistor_service/mysql/pool.h"
#include "persistor_service/mysql/store.h"

namespace vitrage::persistor {

// Attempts of one transaction that keeps failing with ABORTED, the first
// included. Every fenced write (log group, AcquireEpoch, snapshot chunks and
// publish) gets the same number.
inline constexpr int kTransactionAttempts = 8;

// True when attempt `attempt` (1-based) failed with `status` and another
// attempt is due; sleeps the pause before it (10 ms x attempt) first.
inline bool RetryAfterAbort(const absl::Status& status, int attempt) {
  if (status.code() != absl::StatusCode::kAborted || attempt >= kTransactionAttempts) {
    return false;
  }
  absl::SleepFor(absl::Milliseconds(10 * attempt));
  return true;
}

// Runs `f` (returning absl::StatusOr<T>) until it does not fail with ABORTED
// or kTransactionAttempts attempts were made; returns the last result.
// REQUIRES: f runs one whole transaction (a retry starts it from scratch).
template <typename F>
auto RetryAborted(F f) -> decltype(f()) {
  for (int attempt = 1;; ++attempt) {
    auto r = f();
    if (r.ok() || !RetryAfterAbort(r.status(), attempt)) return r;
  }
}

// FAILED_PRECONDITION for a writer of `epoch` refused by the fence, given
// the current writer_epoch row: "stale epoch 6: epoch 7 was acquired by
// host:pid; ..." or "epoch 9 was never acquired: the current epoch is 7".
absl::Status FencingError(uint64_t epoch, const mysql::EpochRow& row);

// Returns `status`; an UNAVAILABLE one is first reported to `pool` (its
// reachability drives health and the reconnect backoff).
absl::Status NoteFailure(mysql::ConnectionPool* pool, absl::Status status);

// A connection for a read (ReadLog, GetLatestSnapshot, GetStatus): waits
// for one of the pool's read leases; RESOURCE_EXHAUSTED or UNAVAILABLE
// (noted) when none comes.
absl::StatusOr<mysql::ConnectionPool::Lease> AcquireRead(mysql::ConnectionPool* pool);

}  // namespace vitrage::persistor

#endif  // VITRAGE_PERSISTOR_SERVICE_SERVER_DB_ERRORS_H_
