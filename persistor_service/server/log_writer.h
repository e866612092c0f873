// The group-commit writer of the journal.
//
// One thread owns the write connection. Append streams hand it batches
// (Enqueue); it takes everything queued with the same epoch (up to
// max_batch_bytes), validates it against the durable seq, writes the new
// records of all of them in one transaction (multi-row INSERTs, an explicit
// COMMIT), then completes each batch with the durable seq. Batches that
// arrive while a commit runs go into the next one.
//
// Validation, per batch, in queue order (a rejected batch writes nothing):
//   * epoch != current: FAILED_PRECONDITION naming both epochs;
//   * first seq > durable + 1: OUT_OF_RANGE "gap: record seq N but durable
//     seq is M";
//   * seqs <= durable (or already taken by an earlier batch of the group):
//     compared byte for byte with what is stored; identical -> acked again,
//     different -> ALREADY_EXISTS naming the seq;
//   * the rest is appended.
// When the connection is lost the group fails with UNAVAILABLE, and the
// durable seq is re-read from the database before the next group: a commit
// whose outcome was unknown is resolved by what is stored, and a resend of
// it is acked (never acked unless stored, never rejected if stored).
#ifndef VITRAGE_PERSISTOR_SERVICE_SERVER_LOG_WRITER_H_
#define VITRAGE_PERSISTOR_SERVICE_SERVER_LOG_WRITER_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "persistor_service/mysql/pool.h"
#include "persistor_service/mysql/store.h"

namespace vitrage::persistor {

// The acknowledgement target of one Append stream.
class BatchSink {
 public:
  virtual ~BatchSink() = default;
  // Called once per batch, in enqueue order, from the writer thread:
  // the durable seq, or why the batch was not (entirely) stored.
  virtual void BatchDone(const absl::StatusOr<uint64_t>& result) = 0;
  // True once a batch of this stream failed: its later batches are skipped.
  virtual bool failed() const = 0;
};

struct PendingBatch {
  uint64_t epoch = 0;
  std::vector<mysql::LogRow> rows;  // consecutive seqs, non-empty
  size_t bytes = 0;
  std::shared_ptr<BatchSink> sink;
};

class LogWriter {
 public:
  struct Options {
    size_t max_batch_bytes = 8 << 20;     // one group commit at most
    size_t max_statement_bytes = 4 << 20; // below max_allowed_packet
  };

  LogWriter(mysql::ConnectionPool* pool, Options options);
  ~LogWriter();  // Stop()s

  void Start();
  // Queues a batch (never blocks; streams limit their own bytes in flight).
  // After Stop() the batch is completed at once with UNAVAILABLE.
  void Enqueue(std::unique_ptr<PendingBatch> batch);
  // Finishes the group in flight, fails the queued ones with UNAVAILABLE
  // ("shutting down"), joins the thread.
  void Stop();

  // Another connection changed writer_epoch (AcquireEpoch): re-read it
  // before the next group.
  void InvalidateState() { state_dirty_ = true; }

  // Last known values (for status when the database is unreachable).
  uint64_t cached_durable_seq() const { return cached_durable_.load(); }
  uint64_t cached_epoch() const { return cached_epoch_.load(); }

 private:
  void Run();
  void ProcessGroup(std::vector<std::unique_ptr<PendingBatch>>& group);
  absl::Status EnsureReady();
  absl::Status RefreshState();
  void DropConnection(const absl::Status& why);
  absl::Status FencingError(uint64_t epoch) const;
  // Compares rows[*] with seq in [from, to] against the stored records.
  absl::Status CompareWithStored(const PendingBatch& batch, uint64_t from,
                                 uint64_t to);

  mysql::ConnectionPool* const pool_;
  const Options options_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<PendingBatch>> queue_;
  bool stopping_ = false;
  std::thread thread_;

  // Writer thread only.
  std::unique_ptr<mysql::Connection> conn_;
  bool state_known_ = false;
  mysql::EpochRow state_;
  std::atomic<bool> state_dirty_{true};
  std::atomic<uint64_t> cached_durable_{0};
  std::atomic<uint64_t> cached_epoch_{0};
};

}  // namespace vitrage::persistor

#endif  // VITRAGE_PERSISTOR_SERVICE_SERVER_LOG_WRITER_H_
