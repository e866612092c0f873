// vitrage-graph as a listener on the OpenStack message bus.
//
// What it does (docs/bus.md): consumes the queues `<topic>.<priority>` that
// oslo.messaging's notification listener declares (for each topic of
// [datasources] notification_topics and each priority, bound with that
// routing key to the topic exchange [datasources] notification_exchange,
// default [DEFAULT] control_exchange), turns each message into upstream's
// events (graph_service/notifications/) and hands them to the graph's
// existing push intake (EventSink: Engine::ApplyPush / FinishPush, the
// same checks, dedupe and journal as the collector's events).
//
// The promise, message by message:
//   * acked to RabbitMQ only after every event made of it is durable in the
//     journal (the sink's WaitDurable). A crash before the ack makes the
//     broker redeliver it;
//   * a redelivered message is applied once: its events carry source
//     "bus:" + message_id and source_seq 1..n, so the graph's source marks
//     (journaled with each record, kept in snapshots, rebuilt by replay and
//     by a promoted standby) make the intake ack them as duplicates;
//   * a message that cannot be parsed, or whose events the processor
//     refuses, is published (with confirm) to the dead-letter queue
//     [datasources] notification_dead_letter_queue with its reason in the
//     header x-vitrage-reason, logged, and only then acked: never requeued
//     forever, never silently dropped. A message that makes no event (a
//     type no driver listens to) is acked, as upstream drops it;
//   * back-pressure: at most rabbit_qos_prefetch_count unacked messages per
//     queue; while the journal is full the listener retries the same
//     message and reads nothing more.
// Throughput: deliveries are taken in batches (at most a quarter of the
// prefetch each); a batch's events are applied, and while they become
// durable the next batch is read (and applied once they are, or once it
// is full: up to the prefetch unacked); each batch that is durable is
// acked with one basic.ack multiple=true.
// Start() is called once the graph is ACTIVE (after snapshot load, replay
// and evaluator enable); a standby never starts one. The first time it
// consumes it counts the messages waiting and logs (and reports in
// BusStatus) how long draining them took.
#ifndef VITRAGE_GRAPH_SERVICE_BUS_LISTENER_H_
#define VITRAGE_GRAPH_SERVICE_BUS_LISTENER_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/config.h"
#include "graph_service/amqp/connection.h"
#include "graph_service/notifications/push_drivers.h"
#include "vitrage/v1/graph.pb.h"

namespace vitrage::bus {

// Where the listener's events go: the graph's push intake.
class EventSink {
 public:
  virtual ~EventSink() = default;
  struct Applied {
    uint64_t wait_seq = 0;  // every event is durable once this seq is
    uint32_t applied = 0;
    uint32_t duplicates = 0;
  };
  // Applies the request's events in order (dedupe by source marks).
  // INVALID_ARGUMENT: refused, nothing applied (the message is
  // dead-lettered); other errors: try again later.
  virtual absl::StatusOr<Applied> Apply(const v1::PushEventsRequest& req) = 0;
  // Apply of several requests (one per message) in order, at once. The
  // outer error: nothing applied, try the whole batch again later.
  // Otherwise result i is request i's (INVALID_ARGUMENT: that one refused,
  // nothing of it applied). By default, Apply of each in turn.
  virtual absl::StatusOr<std::vector<absl::StatusOr<Applied>>> ApplyBatch(
      const std::vector<const v1::PushEventsRequest*>& reqs);
  // OK once `applied` is durable, waiting at most `timeout` (zero: a
  // poll); DEADLINE_EXCEEDED: not yet, wait again; other errors: it may
  // never be (the graph is going down).
  virtual absl::Status WaitDurable(const Applied& applied, absl::Duration timeout) = 0;
};

struct ListenerOptions {
  amqp::ConnectionOptions connection;
  std::string exchange;  // the topic exchange the queues are bound to
  std::vector<std::string> queues;
  bool durable_queues = false;
  bool auto_delete = false;
  std::string dead_letter_queue;
  uint16_t prefetch = 1000;
  // While the batches before it are not durable yet, a batch keeps
  // reading, for at most this long from its first delivery (see Run()).
  absl::Duration gather_window = absl::Milliseconds(20);
  Config::Limits limits;
  notifications::PushDriverOptions drivers;

  // From vitrage.conf (Config::bus, Config::limits). INVALID_ARGUMENT for a
  // bad transport_url (never showing the password).
  static absl::StatusOr<ListenerOptions> FromConfig(const Config& config);
};

// A message body -> the push request of its events (empty when no driver
// listens to it). INVALID_ARGUMENT naming the problem for a body that is
// not an oslo notification or that the drivers refuse.
absl::StatusOr<v1::PushEventsRequest> NotificationRequest(const std::string& body,
                                                          const ListenerOptions& options,
                                                          std::string* message_id);
// The same, built into *out (which may live on an arena); *out is
// unspecified on an error.
absl::Status NotificationRequest(const std::string& body, const ListenerOptions& options,
                                 std::string* message_id, v1::PushEventsRequest* out);

class Listener {
 public:
  Listener(ListenerOptions options, EventSink* sink);
  // Stop()s.
  ~Listener();

  // Starts the consumer thread (connects in the background; a broker that
  // is down is waited for, logged once). Call once.
  void Start();
  // Stops consuming and closes the connections; messages not yet acked are
  // redelivered to the next consumer.
  void Stop();
  // Thread-safe.
  void FillStatus(v1::BusStatus* out) const;

 private:
  struct Pending;
  void Run();
  absl::Status SetUp(amqp::Connection& c);
  // One batch of deliveries, applied (or dead-lettered, or ignored), not
  // yet acked: acked (multiple) up to `ack_tag` once `applied` is durable.
  struct InFlight {
    uint64_t ack_tag = 0;  // 0: every delivery of it was acked on its own
    bool wait = false;     // some events were applied: wait for `applied`
    EventSink::Applied applied;
    uint64_t deliveries = 0;
    uint64_t applied_messages = 0, duplicates = 0, ignored = 0, dead = 0;
  };
  // Applies one batch of deliveries; an error means the link broke.
  absl::Status Process(amqp::Connection& c, std::vector<amqp::Delivery>& batch, InFlight* out);
  // Acks the in-flight batches that are durable, oldest first, waiting at
  // most `wait` for the oldest. An error means the link broke (or the
  // events may never be durable: no ack, the broker redelivers).
  absl::Status AckDurable(amqp::Connection& c, absl::Duration wait);
  absl::Status DeadLetter(const amqp::Delivery& d, const std::string& message_id,
                          const absl::Status& why);
  void NoteDone(uint64_t n);
  // True when the broker says no message is ready in any consumed queue
  // (asked on the dead-letter link); false when not, or it cannot say.
  bool QueuesEmpty();

  const ListenerOptions options_;
  EventSink* const sink_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::unique_ptr<amqp::Link> consume_;
  std::unique_ptr<amqp::Link> publish_;
  // Batches applied, not acked yet, oldest first; of the current
  // connection only (dropped with it: the broker redelivers them).
  std::deque<InFlight> in_flight_;
  uint64_t unacked_ = 0;  // deliveries in in_flight_

  mutable absl::Mutex mu_;
  v1::BusStatus status_ ABSL_GUARDED_BY(mu_);
  bool counted_waiting_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t done_since_start_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time consume_start_ ABSL_GUARDED_BY(mu_);
};

}  // namespace vitrage::bus

#endif  // VITRAGE_GRAPH_SERVICE_BUS_LISTENER_H_
