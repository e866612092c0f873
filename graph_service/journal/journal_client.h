// The graph's side of the journal: one long-lived Append stream to the
// persistor.
//
// Life of a record (see also persistor_service/README.md for the store's
// side): the processor handles an event and makes a JournalRecord with the
// next seq; Append() puts it in the bounded buffer; the sender thread sends
// buffered records in batches on the stream without waiting for earlier
// batches to commit (the persistor group-commits what queues up; a batch
// holds no more records and bytes than the persistor announced when the
// stream opened, common/append_limits.h); the
// persistor answers each batch with its durable seq; records up to that seq
// leave the buffer and WaitDurable() callers waiting for them return. Only
// then may the collector be acked.
//
// When the stream breaks (persistor restarted, network, database down) the
// sender reconnects with backoff and re-sends every buffered record, i.e.
// everything after the durable seq; the persistor acks records it already
// has (idempotent by seq). Records are kept encoded from Append on: a batch
// is the records' bytes (vitrage.wire.EncodedAppendRequest, the same bytes
// as an AppendRequest), so sending or re-sending one never copies or
// re-encodes a record field by field.
//
// The buffer is bounded at admission, not at Append: a record describes a
// change the graph has already made, so Append() always keeps it (a refused
// record would leave the graph ahead of its log, and every later seq would
// be refused too). Before the owner takes work that makes records (a push,
// a consistency pass, a get_all batch) it calls WaitForRoom(), outside its
// graph lock; what one admitted piece of work makes (its events' records
// and the evaluator's action records) is then taken whole. So the buffer
// exceeds max_buffer_records / max_buffer_bytes by at most one piece of
// work, and intake resumes by itself once the persistor acks again
// (back-pressure, never loss, never a jam).
//
// A journal that makes no progress is visible: stalled_for() says how long
// records have waited with nothing becoming durable, last_error() why the
// stream last ended.
//
// Fatal answers end the client for good (fatal_status() says why):
// FAILED_PRECONDITION means another graph holds a newer epoch (we are
// fenced); OUT_OF_RANGE / ALREADY_EXISTS / INVALID_ARGUMENT mean the store
// and this writer disagree about the log, which no retry can mend. The
// owner must stop serving as active and exit non-zero.
#ifndef VITRAGE_GRAPH_SERVICE_JOURNAL_JOURNAL_CLIENT_H_
#define VITRAGE_GRAPH_SERVICE_JOURNAL_JOURNAL_CLIENT_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "vitrage/v1/persistor.grpc.pb.h"

namespace vitrage::journal {

struct JournalOptions {
  // Records handled but not yet durable, at most.
  uint64_t max_buffer_records = 1'000'000;
  uint64_t max_buffer_bytes = 256ull << 20;
  // One AppendRequest carries at most this much, and never more than the
  // persistor announces when the stream opens (common/append_limits.h).
  size_t max_batch_records = 8192;
  size_t max_batch_bytes = 1 << 20;
  // How long a new stream waits for the persistor's announcement before it
  // sends with the limits above (a persistor that announces nothing).
  absl::Duration limits_wait = absl::Seconds(2);
  // Sent but not yet acked, at most (keeps the persistor's queue short).
  size_t max_inflight_bytes = 16 << 20;
  // While a Hold lives, the sender sends only once this many records (or
  // bytes) wait unsent; the rest goes when the last Hold ends.
  size_t hold_flush_records = 512;
  size_t hold_flush_bytes = 512 << 10;
  absl::Duration min_backoff = absl::Milliseconds(50);
  absl::Duration max_backoff = absl::Seconds(2);
  // Named in the log lines about the link ("" : "the persistor").
  std::string persistor_address;
};

class JournalClient {
 public:
  // `epoch` and `durable_seq` come from AcquireEpoch. The first record to
  // append has seq durable_seq + 1. Starts the sender thread.
  JournalClient(std::shared_ptr<grpc::Channel> channel, JournalOptions options, uint64_t epoch,
                uint64_t durable_seq);
  ~JournalClient();  // Shutdown()
  JournalClient(const JournalClient&) = delete;
  JournalClient& operator=(const JournalClient&) = delete;

  // Buffers one record for sending, whatever the buffer holds (see above:
  // the limits are enforced by WaitForRoom).
  // REQUIRES: record.seq() == next_seq(), record.epoch() == epoch().
  // Returns the fatal status once the client is dead, UNAVAILABLE after
  // Shutdown(), INVALID_ARGUMENT when the REQUIRES is broken; nothing is
  // buffered then, and the caller's graph is ahead of its log: it must stop
  // serving as active.
  absl::Status Append(const v1::JournalRecord& record);

  // Admission: waits until the buffer is empty, or holds fewer than
  // max_buffer_bytes and can take `records` more records within
  // max_buffer_records (or `deadline`). OK, DEADLINE_EXCEEDED, UNAVAILABLE
  // after Shutdown(), or the fatal status. A request of more records than
  // the limit is admitted once the buffer is empty.
  absl::Status WaitForRoom(uint64_t records, absl::Time deadline);

  // Waits until every record <= seq is durable. OK, DEADLINE_EXCEEDED, or
  // the fatal status.
  absl::Status WaitDurable(uint64_t seq, absl::Time deadline);

  // Held sends. Without one, the sender wakes at the first record of a
  // piece of work and sends it alone, then the next few, and so on: one
  // Append, one persistor batch and one response per handful of records.
  // The owner holds the sends while it applies one piece of work (a push
  // request, a batch of bus messages), whose acks all wait for its last
  // record anyway; its records then go as one batch when the Hold ends,
  // or in batches of hold_flush_records while it lasts (a long piece of
  // work still streams). Nothing waits on a timer: an idle graph's single
  // event goes at once, a busy one's in larger batches. `client` may be
  // null (no journal). Holds nest; the owner must not wait for its own
  // records to become durable while it holds.
  class Hold {
   public:
    explicit Hold(JournalClient* client);
    ~Hold();
    Hold(const Hold&) = delete;
    Hold& operator=(const Hold&) = delete;

   private:
    JournalClient* const client_;
  };

  // Stops the sender. Buffered records that are not durable stay unacked
  // (their events will be re-sent by the collector to the next graph).
  void Shutdown();

  // Called once, from the sender thread, when the client dies for good.
  void SetOnFatal(std::function<void(const absl::Status&)> cb);

  uint64_t epoch() const { return epoch_; }
  uint64_t next_seq() const;
  uint64_t durable_seq() const;
  uint64_t buffered_records() const;
  uint64_t buffered_bytes() const;
  uint64_t reconnects() const;
  // Append requests (batches) sent, on every stream so far.
  uint64_t batches_sent() const;
  // Records per AppendRequest on the current (or last) stream: the smaller
  // of max_batch_records and what the persistor announced.
  size_t batch_records_limit() const;
  bool connected() const;
  // OK while alive.
  absl::Status fatal_status() const;
  // How long records have been waiting with none becoming durable: zero
  // when the buffer is empty, else the time since the later of the last
  // durable ack and the moment the buffer stopped being empty.
  absl::Duration stalled_for() const;
  // Why the Append stream last ended ("" if it never did).
  std::string last_error() const;

  // The link to the persistor as the log tells it: up from construction
  // (the epoch was just acquired through it); down when a stream ends
  // (one log line, with why); up again once the persistor answers on a new
  // stream and acks (one log line: how long it was down, how many records
  // were buffered at most). link_since() is when it last went up or down.
  bool link_up() const;
  absl::Time link_since() const;
  // Age of the oldest record not yet durable (zero when none waits).
  absl::Duration lag_age() const;

 private:
  struct Entry {
    uint64_t seq;
    std::string bytes;  // the serialized JournalRecord
    absl::Time appended;
  };
  void LinkDownLocked(const grpc::Status& st, absl::Duration backoff)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void LinkUpLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string PeerName() const;

  void Run();
  // One stream's life; returns its final status.
  grpc::Status RunStream();
  bool IsFatal(const grpc::Status& s) const;
  // Sets the batch limits in force from the persistor's announcement.
  void ApplyPeerLimitsLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::shared_ptr<grpc::Channel> channel_;
  const std::string append_path_;  // "/vitrage.v1.Persistor/Append"
  const JournalOptions options_;
  const uint64_t epoch_;

  mutable absl::Mutex mu_;
  std::deque<Entry> buffer_ ABSL_GUARDED_BY(mu_);  // seqs durable+1 ...
  uint64_t buffer_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t durable_seq_ ABSL_GUARDED_BY(mu_);
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_);
  uint64_t sent_seq_ ABSL_GUARDED_BY(mu_) = 0;        // highest sent on this stream
  uint64_t inflight_bytes_ ABSL_GUARDED_BY(mu_) = 0;  // in (durable, sent]
  // The persistor's announced limits on this stream (0: not yet / none).
  bool limits_known_ ABSL_GUARDED_BY(mu_) = false;
  size_t peer_max_records_ ABSL_GUARDED_BY(mu_) = 0;
  size_t peer_max_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  size_t batch_records_ ABSL_GUARDED_BY(mu_);         // the limits in force
  size_t batch_wire_bytes_ ABSL_GUARDED_BY(mu_) = 0;  // 0: no wire cap
  bool stream_broken_ ABSL_GUARDED_BY(mu_) = false;
  int holds_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t batches_sent_ ABSL_GUARDED_BY(mu_) = 0;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  bool connected_ ABSL_GUARDED_BY(mu_) = false;
  // See stalled_for(): when the buffer last became non-empty or advanced.
  absl::Time progress_ ABSL_GUARDED_BY(mu_) = absl::Now();
  std::string last_error_ ABSL_GUARDED_BY(mu_);
  uint64_t reconnects_ ABSL_GUARDED_BY(mu_) = 0;
  bool link_up_ ABSL_GUARDED_BY(mu_) = true;
  absl::Time link_since_ ABSL_GUARDED_BY(mu_) = absl::Now();
  uint64_t down_attempts_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t down_max_buffered_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status fatal_ ABSL_GUARDED_BY(mu_);
  grpc::ClientContext* context_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::function<void(const absl::Status&)> on_fatal_ ABSL_GUARDED_BY(mu_);

  std::thread sender_;
};

}  // namespace vitrage::journal

#endif  // VITRAGE_GRAPH_SERVICE_JOURNAL_JOURNAL_CLIENT_H_
