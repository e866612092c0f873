// The collector's outbox: the "message bus" between the datasources and the
// graph. Every event gets the next source_seq and waits here until the
// graph acks it as durable; the pusher sends the oldest events first, in
// order, on one PushEventStream with up to `window` requests in flight (a
// graph without that RPC gets one PushEvents call at a time), and re-sends
// everything unacked, in order, after an error (graph down, failover,
// back-pressure) with backoff. Nothing leaves the outbox
// unacked, except an event the graph refuses as invalid (INVALID_ARGUMENT:
// no retry can succeed): it is dead-lettered, written with the graph's
// reason to the dead-letter file (collector/dead_letter.h), counted, and
// the outbox goes on without it. The graph names the refused event
// ("event I (source "S" seq N)"); when its answer names none, the outbox
// re-sends that request's events one per request to find it. Events are kept encoded (serialized
// once, in Add): requests are vitrage.wire.EncodedPushEventsRequest, the same bytes as a
// PushEventsRequest, so sending and re-sending never copies an event field
// by field. The outbox is bounded: Add() blocks while it is full, which holds
// the generator back (back-pressure).
#ifndef VITRAGE_COLLECTOR_OUTBOX_H_
#define VITRAGE_COLLECTOR_OUTBOX_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "vitrage/v1/graph.grpc.pb.h"

namespace vitrage::collector {

struct OutboxOptions {
  std::string source = "collector:default";
  uint64_t max_events = 100'000;
  int batch_size = 256;
  // PushEventStream requests sent but not yet acked, at most. 1 behaves
  // like one PushEvents call at a time.
  int window = 4;
  absl::Duration push_timeout = absl::Seconds(30);
  absl::Duration min_backoff = absl::Milliseconds(50);
  absl::Duration max_backoff = absl::Seconds(2);
  // Where dead-lettered events go ([collector] dead_letter_file); empty:
  // only the log.
  std::string dead_letter_file;
};

struct OutboxCounters {
  uint64_t pending = 0;     // in the outbox
  uint64_t acked = 0;       // acked by the graph
  uint64_t retries = 0;     // failed PushEvents calls
  uint64_t last_seq = 0;    // highest source_seq given out
  uint64_t acked_seq = 0;   // highest source_seq acked
  uint64_t duplicates = 0;  // acked as already applied
  // Refused by the graph as invalid and set aside (not in `acked`, but
  // acked_seq moves past them: nothing waits behind them).
  uint64_t dead_lettered = 0;
  std::vector<uint64_t> dead_lettered_seqs;  // the last kMaxDeadLetteredSeqs
  // Time from Add() to the graph's ack, over the last 100k acked events
  // (those with source_seq >= counters()'s from_seq).
  double ack_p50_ms = 0;
  double ack_p99_ms = 0;
  double ack_p999_ms = 0;
  double ack_max_ms = 0;
  uint64_t ack_samples = 0;
  // Of it, the time from Add() to the event's first send.
  double queued_p50_ms = 0;
  double queued_p99_ms = 0;
};

class Outbox {
 public:
  static constexpr size_t kMaxDeadLetteredSeqs = 10'000;

  // Starts the pusher thread, which sends to `graph` (nullptr: nothing is
  // pushed until SetGraphChannel).
  Outbox(OutboxOptions options, std::shared_ptr<grpc::Channel> graph);
  ~Outbox();
  Outbox(const Outbox&) = delete;
  Outbox& operator=(const Outbox&) = delete;

  // Gives `event` the next source_seq (returned) and queues it. Blocks
  // while the outbox is full; returns 0 if the outbox shuts down meanwhile.
  // `fields` is the event body; source/source_seq are set here.
  uint64_t Add(const v1::Event& event);

  // Waits until the outbox has room for one event (or shutdown: false).
  bool WaitForRoom();

  // Gives `event` the next source_seq and queues it even when full (the
  // caller checked WaitForRoom and is the only producer).
  uint64_t AddNow(const v1::Event& event);

  // Waits until every event up to `seq` is acked (or deadline).
  bool WaitAcked(uint64_t seq, absl::Time deadline);

  // Pauses / resumes pushing (tests; an operator draining a graph).
  void SetPaused(bool paused);

  // The ack latency figures cover the acked events with source_seq >=
  // `latency_from_seq` among the last 100k (0: all of those).
  OutboxCounters counters(uint64_t latency_from_seq = 0) const;
  const std::string& source() const { return options_.source; }

  void Shutdown();

 private:
  // The head's bytes besides the source's characters: two tags, the
  // source's length and the seq as varints.
  static constexpr size_t kMaxHeadOverhead = 24;
  void Run();
  // One PushEventStream session: returns when the stream ends (error, the
  // graph went away, pause or shutdown). UNIMPLEMENTED: the graph has no
  // stream; the caller falls back to PushEvents.
  grpc::Status RunStream();
  // One PushEvents call for the oldest events.
  grpc::Status PushOnce();
  // Removes the acked events up to `last` from the queue and counts them.
  void AckLocked(uint64_t last, uint64_t count, uint64_t duplicates)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Drops dead-lettered events at the front of the queue.
  void PopDeadLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The graph refused the oldest unacked request as invalid (`st`): sets
  // the event it names aside, or starts sending one event per request to
  // find it. Returns the line to append to the dead-letter file ("": none).
  std::string OnRefusedLocked(const grpc::Status& st) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Events for the next request: `n` queue entries from index `first`
  // (fewer while isolating a refused event), dead ones skipped. Returns
  // the seq of the last entry taken.
  uint64_t FillLocked(size_t first, size_t n, google::protobuf::RepeatedPtrField<std::string>* out,
                      uint64_t* live) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  struct Pending {
    uint64_t seq;       // source_seq
    std::string bytes;  // the serialized v1::Event, source and seq set
    absl::Time added;
    absl::Time first_sent = absl::InfinitePast();  // InfinitePast: not sent yet
    bool dead = false;                             // dead-lettered: never sent again
  };
  // One acked event's latency: source_seq, Add() -> ack, Add() -> first send.
  struct LatencySample {
    uint64_t seq;
    float total_ms;
    float queued_ms;
  };

  const OutboxOptions options_;
  const std::shared_ptr<grpc::Channel> channel_;
  const std::string stream_path_;  // "/vitrage.v1.Graph/PushEventStream"
  const std::string push_path_;    // "/vitrage.v1.Graph/PushEvents"

  mutable absl::Mutex mu_;
  std::deque<Pending> queue_ ABSL_GUARDED_BY(mu_);
  std::vector<LatencySample> latency_ ABSL_GUARDED_BY(mu_);  // ring of samples
  size_t latency_next_ ABSL_GUARDED_BY(mu_) = 0;
  OutboxCounters counters_ ABSL_GUARDED_BY(mu_);
  bool paused_ ABSL_GUARDED_BY(mu_) = false;
  // While acked_seq < isolate_until_, requests carry one event each: the
  // graph refused a request without naming the event.
  uint64_t isolate_until_ ABSL_GUARDED_BY(mu_) = 0;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  // The link to the graph, for the log: one line when it goes down (a push
  // or stream failed), one when it is back (the first ack after that).
  void NoteLinkDownLocked(const grpc::Status& st, bool use_stream)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool link_down_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time down_since_ ABSL_GUARDED_BY(mu_);
  uint64_t down_failures_ ABSL_GUARDED_BY(mu_) = 0;
  size_t down_max_pending_ ABSL_GUARDED_BY(mu_) = 0;
  grpc::ClientContext* inflight_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::thread pusher_;
};

}  // namespace vitrage::collector

#endif  // VITRAGE_COLLECTOR_OUTBOX_H_
