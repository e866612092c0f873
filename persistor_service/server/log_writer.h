// The group-commit writer of the journal.
//
// Append streams hand it batches (Enqueue). The writer thread takes
// everything queued with the same epoch (up to max_batch_bytes) as one
// group, validates it, and hands it to a commit worker; batches that arrive
// meanwhile form the next group (group commit). Each group is one
// transaction: INSERTs of the new records in packs (mysql/log_pack.h), then
//   UPDATE writer_epoch SET durable_seq=LAST WHERE epoch=E AND durable_seq=FIRST-1
// then an explicit COMMIT. Two workers (two connections) pipeline: group
// k+1 inserts while group k commits; its guarded UPDATE waits for k's row
// lock, so commits happen in order, and if k did not commit, k+1 changes 0
// rows and rolls back. Groups are completed (acked) in order.
//
// Validation, per batch, in queue order (a rejected batch writes nothing):
//   * epoch != current: FAILED_PRECONDITION naming both epochs;
//   * first seq > durable + 1: OUT_OF_RANGE "gap: record seq N but durable
//     seq is M";
//   * seqs <= durable (or already taken by an earlier batch of the group):
//     compared byte for byte with what is stored; identical -> acked again,
//     different -> ALREADY_EXISTS naming the seq;
//   * the rest is appended.
// When a commit fails (connection lost, COMMIT outcome unknown, fencing),
// that group and every later group in flight that could not commit get the
// error (UNAVAILABLE: resend), and the writer re-reads the durable seq from
// the database once the pipeline is empty: a commit whose outcome was
// unknown is resolved by what is stored, and a resend of it is acked (never
// acked unless stored, never rejected if stored).
#ifndef VITRAGE_PERSISTOR_SERVICE_SERVER_LOG_WRITER_H_
#define VITRAGE_PERSISTOR_SERVICE_SERVER_LOG_WRITER_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
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
  // Called once per batch, in enqueue order, from a writer thread:
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
    size_t max_batch_bytes = 8 << 20;  // one group commit at most
    int pipeline_depth = 2;            // commit workers (connections)
  };

  LogWriter(mysql::ConnectionPool* pool, Options options);
  ~LogWriter();  // Stop()s

  void Start();
  // Queues a batch (never blocks; streams limit their own bytes in flight).
  // After Stop() the batch is completed at once with UNAVAILABLE.
  void Enqueue(std::unique_ptr<PendingBatch> batch);
  // Finishes the groups in flight, fails the queued ones with UNAVAILABLE
  // ("shutting down"), joins the threads.
  void Stop();

  // Another connection changed writer_epoch (AcquireEpoch): re-read it
  // before the next group.
  void InvalidateState() { state_dirty_ = true; }

  // Last known values (for status when the database is unreachable).
  uint64_t cached_durable_seq() const { return cached_durable_.load(); }
  uint64_t cached_epoch() const { return cached_epoch_.load(); }

 private:
  struct Group {
    uint64_t ticket = 0;
    uint64_t epoch = 0;
    uint64_t expected_durable = 0;  // durable seq before this group
    uint64_t last = 0;              // durable seq after it (if it writes)
    std::vector<std::unique_ptr<PendingBatch>> batches;
    std::vector<absl::Status> verdicts;
    std::vector<const mysql::LogRow*> fresh;  // records to insert
  };

  void Run();
  void WorkerLoop();
  // Validates and dispatches one group (writer thread).
  void ProcessGroup(std::vector<std::unique_ptr<PendingBatch>> batches);
  // Runs a group's transaction (worker thread).
  absl::Status Commit(Group& g, std::unique_ptr<mysql::Connection>& conn);
  // Completes a group's batches in ticket order (worker thread).
  void Complete(Group& g, const absl::Status& commit_status);
  void WaitDrained();
  void MarkFenced(uint64_t ticket);
  absl::Status EnsureReady();
  absl::Status RefreshState();
  void DropConnection(const absl::Status& why);
  // Compares rows of `batch` with seq in [from, to] against the stored ones.
  absl::Status CompareWithStored(const PendingBatch& batch, uint64_t from, uint64_t to);

  mysql::ConnectionPool* const pool_;
  const Options options_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<PendingBatch>> queue_;
  bool stopping_ = false;
  std::thread thread_;

  // Pipeline (under mu_).
  std::condition_variable pipe_cv_;
  std::deque<std::unique_ptr<Group>> dispatch_;
  int in_flight_ = 0;
  uint64_t next_ticket_ = 1;
  uint64_t next_complete_ = 1;
  uint64_t committed_durable_ = 0;  // highest seq known committed
  uint64_t fenced_upto_ = 0;        // tickets whose fencing UPDATE returned
  bool resync_ = false;             // a commit failed: re-read before next
  bool workers_stop_ = false;
  std::vector<std::thread> workers_;

  // Writer thread only.
  std::unique_ptr<mysql::Connection> conn_;  // reads, validation
  bool state_known_ = false;
  mysql::EpochRow state_;  // epoch/owner; durable_seq = tail incl. in flight
  std::atomic<bool> state_dirty_{true};
  std::atomic<uint64_t> cached_durable_{0};
  std::atomic<uint64_t> cached_epoch_{0};
};

}  // namespace vitrage::persistor

#endif  // VITRAGE_PERSISTOR_SERVICE_SERVER_LOG_WRITER_H_
