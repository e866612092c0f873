#include "graph_service/bus/listener.h"

#include <algorithm>
#include <cctype>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "glog/logging.h"
#include "google/protobuf/arena.h"
#include "graph_service/notifications/notification.h"
#include "graph_service/notifications/oslo_envelope.h"
#include "graph_service/processor/event_json.h"

namespace vitrage::bus {
namespace {

// The source of a message's events. service::kBusSourcePrefix (graph_state.h) is the same
// literal; a message_id keeps [A-Za-z0-9._:-] and %-escapes the rest ('@'
// would make the intake take it for a collector run).
constexpr char kSourcePrefix[] = "bus:";

std::string SourceOf(const std::string& message_id) {
  std::string out = kSourcePrefix;
  for (unsigned char c : message_id) {
    if (std::isalnum(c) || c == '.' || c == '_' || c == ':' || c == '-') {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppend(&out, "%", absl::Hex(c, absl::kZeroPad2));
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<ListenerOptions> ListenerOptions::FromConfig(const Config& config) {
  const Config::Bus& b = config.bus;
  ListenerOptions o;
  absl::StatusOr<amqp::TransportUrl> url = amqp::ParseTransportUrl(b.transport_url);
  if (!url.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(config.path, ": [DEFAULT] ", url.status().message()));
  }
  o.connection.url = *url;
  o.connection.tls.enabled = b.ssl;
  o.connection.tls.ca_file = b.ssl_ca_file;
  o.connection.tls.cert_file = b.ssl_cert_file;
  o.connection.tls.key_file = b.ssl_key_file;
  o.connection.tls.verify_hostname = b.ssl_enforce_hostname_verification;
  o.connection.heartbeat_seconds = b.heartbeat_timeout_threshold;
  o.connection.name = "vitrage-graph notifications";
  o.exchange = b.exchange.empty() ? b.control_exchange : b.exchange;
  for (const std::string& t : b.topics) {
    for (const std::string& p : b.priorities) o.queues.push_back(absl::StrCat(t, ".", p));
  }
  o.durable_queues = b.durable_queues;
  o.auto_delete = b.auto_delete;
  o.dead_letter_queue = b.dead_letter_queue;
  o.prefetch = static_cast<uint16_t>(std::clamp(b.prefetch, 1, 65535));
  o.limits = config.limits;
  return o;
}

absl::StatusOr<v1::PushEventsRequest> NotificationRequest(const std::string& body,
                                                          const ListenerOptions& options,
                                                          std::string* message_id) {
  v1::PushEventsRequest req;
  if (absl::Status s = NotificationRequest(body, options, message_id, &req); !s.ok()) return s;
  return req;
}

absl::Status NotificationRequest(const std::string& body, const ListenerOptions& options,
                                 std::string* message_id, v1::PushEventsRequest* out) {
  absl::StatusOr<nlohmann::json> msg = notifications::ParseOsloEnvelope(body, options.limits);
  if (!msg.ok()) return msg.status();
  if (msg->is_object()) {
    auto it = msg->find("message_id");
    if (it != msg->end() && it->is_string()) *message_id = it->get<std::string>();
  }
  absl::StatusOr<notifications::Notification> n = notifications::ParseNotification(std::move(*msg));
  if (!n.ok()) return n.status();
  const std::string source = SourceOf(n->message_id);
  absl::StatusOr<std::vector<nlohmann::json>> events =
      notifications::NotificationToEvents(std::move(*n), options.drivers);
  if (!events.ok()) return events.status();
  for (size_t i = 0; i < events->size(); ++i) {
    v1::Event* ev = out->add_events();
    ev->set_source(source);
    ev->set_source_seq(i + 1);
    processor::JsonToMapValue((*events)[i], ev->mutable_fields());
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<absl::StatusOr<EventSink::Applied>>> EventSink::ApplyBatch(
    const std::vector<const v1::PushEventsRequest*>& reqs) {
  std::vector<absl::StatusOr<Applied>> out;
  out.reserve(reqs.size());
  for (const v1::PushEventsRequest* req : reqs) {
    absl::StatusOr<Applied> r = Apply(*req);
    if (!r.ok() && !absl::IsInvalidArgument(r.status())) {
      if (out.empty()) return r.status();
      // The ones before are applied: refuse the rest as a batch error
      // would claim otherwise; give what is known, the rest again later.
      break;
    }
    out.push_back(std::move(r));
  }
  return out;
}

Listener::Listener(ListenerOptions options, EventSink* sink)
    : options_(std::move(options)), sink_(sink) {
  absl::MutexLock l(&mu_);
  status_.set_enabled(true);
  status_.set_broker(options_.connection.url.Redacted());
  for (const std::string& q : options_.queues) status_.add_queues(q);
}

Listener::~Listener() { Stop(); }

void Listener::Start() {
  consume_ = std::make_unique<amqp::Link>(options_.connection, "bus",
                                          [this](amqp::Connection& c) { return SetUp(c); });
  // A broker we cannot reach or talk to (refused login, a TLS handshake
  // that fails) shows in the status, not only in the log.
  consume_->set_on_attempt_failed([this](const absl::Status& why) {
    absl::MutexLock l(&mu_);
    status_.set_last_error(std::string(why.message()));
  });
  publish_ = std::make_unique<amqp::Link>(
      options_.connection, "bus dead-letter", [this](amqp::Connection& c) -> absl::Status {
        absl::StatusOr<uint32_t> q = c.DeclareQueue(options_.dead_letter_queue, true, false);
        if (!q.ok()) return q.status();
        return c.EnableConfirms();
      });
  thread_ = std::thread([this] { Run(); });
}

void Listener::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  consume_.reset();
  publish_.reset();
}

void Listener::FillStatus(v1::BusStatus* out) const {
  absl::MutexLock l(&mu_);
  const uint64_t marks = out->message_marks();
  *out = status_;
  out->set_message_marks(marks);
}

absl::Status Listener::SetUp(amqp::Connection& c) {
  // As oslo's listener (impl_rabbit.py declare_topic_consumer): a topic
  // exchange, one queue per <topic>.<priority> bound with that key, both
  // durable / auto-delete as amqp_durable_queues / amqp_auto_delete (they
  // must match what the publishers declare, or the broker refuses).
  if (absl::Status s = c.DeclareExchange(options_.exchange, "topic", options_.durable_queues,
                                         options_.auto_delete);
      !s.ok()) {
    return s;
  }
  uint64_t ready = 0;
  for (const std::string& q : options_.queues) {
    absl::StatusOr<uint32_t> n = c.DeclareQueue(q, options_.durable_queues, options_.auto_delete);
    if (!n.ok()) return n.status();
    ready += *n;
    if (absl::Status s = c.BindQueue(q, options_.exchange, q); !s.ok()) return s;
  }
  if (absl::Status s = c.Qos(options_.prefetch); !s.ok()) return s;
  for (const std::string& q : options_.queues) {
    if (absl::Status s = c.Consume(q); !s.ok()) return s;
  }
  absl::MutexLock l(&mu_);
  status_.set_connected(true);
  status_.set_connects(status_.connects() + 1);
  if (!counted_waiting_) {
    counted_waiting_ = true;
    consume_start_ = absl::Now();
    status_.set_messages_waiting_at_start(ready);
    LOG(INFO) << "bus: consuming " << absl::StrJoin(options_.queues, ", ") << " on exchange \""
              << options_.exchange << "\" (prefetch " << options_.prefetch << "); " << ready
              << " notifications waiting";
    if (ready == 0) status_.set_drained(true);
  }
  return absl::OkStatus();
}

void Listener::NoteDone(uint64_t n) {
  absl::MutexLock l(&mu_);
  done_since_start_ += n;
  if (!status_.drained() && done_since_start_ >= status_.messages_waiting_at_start()) {
    status_.set_drained(true);
    status_.set_drain_ms(absl::ToDoubleMilliseconds(absl::Now() - consume_start_));
    LOG(INFO) << "bus: the " << status_.messages_waiting_at_start()
              << " notifications that waited are drained in " << status_.drain_ms()
              << " ms (applied " << status_.messages_applied() << ", duplicates "
              << status_.messages_duplicate() << ", dead-lettered "
              << status_.messages_dead_lettered() << ", ignored " << status_.messages_ignored()
              << ")";
  }
}

void Listener::Run() {
  auto stop = [this] { return stop_.load(); };
  std::vector<amqp::Delivery> batch;
  // A quarter of the prefetch per batch: several batches in flight, the
  // next applied while the previous becomes durable.
  const size_t max_batch = std::max<size_t>(1, options_.prefetch / 4);
  while (!stop_) {
    absl::StatusOr<amqp::Connection*> c = consume_->Get(stop);
    if (!c.ok()) break;  // stopped
    // Ack what is durable; when the broker sends no more (the prefetch is
    // all in flight), wait for the oldest batch instead of reading.
    absl::Status s = AckDurable(
        **c, unacked_ >= options_.prefetch ? absl::Milliseconds(100) : absl::ZeroDuration());
    batch.clear();
    absl::StatusOr<std::optional<amqp::Delivery>> d = absl::UnknownError("not read");
    // Only the long wait, with nothing unacked, can tell that the queues
    // are empty (the short ones poll between batches).
    const bool idle_wait = in_flight_.empty() && unacked_ == 0;
    if (s.ok()) {
      // Always read (a zero wait when the prefetch is in flight): reading
      // is what answers the broker's heartbeats. The prefetch is per
      // queue, so with several queues more can come.
      d = (*c)->Next(in_flight_.empty()              ? absl::Milliseconds(200)
                     : unacked_ >= options_.prefetch ? absl::ZeroDuration()
                                                     : absl::Milliseconds(2));
      s = d.status();
      auto take = [&] {
        while (s.ok() && d->has_value()) {
          batch.push_back(std::move(**d));
          if (batch.size() >= max_batch) break;
          d = (*c)->Next(absl::ZeroDuration());
          s = d.status();
        }
      };
      take();
      // While the batches before are not durable, this one keeps reading:
      // applied now it would only wait behind them, and taken whole it is
      // one journal Append and one group commit instead of several (under
      // a steady stream that is most of the persistor's and MariaDB's CPU
      // per message). Applied once they are durable, when full, when the
      // prefetch is all here, or after gather_window. When nothing is in
      // flight (a quiet bus) nothing waits.
      const absl::Time gather_until = absl::Now() + options_.gather_window;
      while (s.ok() && !batch.empty() && batch.size() < max_batch &&
             unacked_ + batch.size() < options_.prefetch && absl::Now() < gather_until) {
        s = AckDurable(**c, absl::ZeroDuration());
        if (!s.ok() || in_flight_.empty()) break;
        d = (*c)->Next(absl::Milliseconds(1));
        s = d.status();
        take();
      }
    }
    if (s.ok() && !batch.empty()) {
      InFlight f;
      s = Process(**c, batch, &f);
      if (s.ok()) {
        unacked_ += f.deliveries;
        in_flight_.push_back(f);
        // Acked at once when nothing of it waits for the journal.
        s = AckDurable(**c, absl::ZeroDuration());
      }
    }
    if (s.ok() && batch.empty() && !in_flight_.empty()) {
      // Nothing new: wait a little for the journal.
      s = AckDurable(**c, absl::Milliseconds(20));
    }
    if (s.ok() && batch.empty() && idle_wait) {
      bool undrained;
      {
        absl::MutexLock l(&mu_);
        undrained = !status_.drained() && counted_waiting_;
      }
      // Nothing came for a while, nothing is unacked. That alone does not
      // mean the queues are empty: a broker paging a long queue in from
      // disk, or short of CPU, can pause its deliveries for longer. Ask it.
      if (undrained && QueuesEmpty()) {
        // What waited was taken (some by an earlier connection, or
        // deleted meanwhile).
        absl::MutexLock l(&mu_);
        done_since_start_ = std::max(done_since_start_, status_.messages_waiting_at_start());
      }
    }
    if (batch.empty() && idle_wait) NoteDone(0);
    if (!s.ok() && !stop_) {
      {
        absl::MutexLock l(&mu_);
        status_.set_connected(false);
        status_.set_last_error(std::string(s.message()));
      }
      // Its delivery tags mean nothing on the next connection: the broker
      // redelivers what was not acked, and the marks of what did become
      // durable dedupe it.
      in_flight_.clear();
      unacked_ = 0;
      consume_->Broken(s);
    }
  }
  in_flight_.clear();
  unacked_ = 0;
  absl::MutexLock l(&mu_);
  status_.set_connected(false);
}

bool Listener::QueuesEmpty() {
  // On the dead-letter link: the consuming connection's frames are all
  // read by Next(); a synchronous method there could meet a delivery.
  // Bounded: this thread also reads the consuming connection (and so
  // answers its heartbeats); a link that will not come is asked again at
  // the next pause.
  const absl::Time give_up = absl::Now() + absl::Seconds(2);
  absl::StatusOr<amqp::Connection*> p =
      publish_->Get([this, give_up] { return stop_.load() || absl::Now() > give_up; });
  if (!p.ok()) return false;
  for (const std::string& q : options_.queues) {
    // queue.declare with the consumer's own arguments: its message count
    // is the messages ready (not those delivered and unacked).
    absl::StatusOr<uint32_t> ready =
        (*p)->DeclareQueue(q, options_.durable_queues, options_.auto_delete);
    if (!ready.ok()) {
      publish_->Broken(ready.status());
      return false;
    }
    if (*ready > 0) return false;
  }
  return true;
}

absl::Status Listener::AckDurable(amqp::Connection& c, absl::Duration wait) {
  uint64_t ack_tag = 0;
  InFlight done;
  while (!in_flight_.empty()) {
    const InFlight& f = in_flight_.front();
    if (f.wait) {
      absl::Status s = sink_->WaitDurable(f.applied, wait);
      if (absl::IsDeadlineExceeded(s)) break;
      if (!s.ok()) {
        // Not durable: no ack; the broker redelivers them to whoever
        // consumes next, and the marks of what did become durable dedupe.
        return absl::UnavailableError(absl::StrCat("events not durable: ", s.message()));
      }
    }
    wait = absl::ZeroDuration();  // only the oldest is waited for
    if (f.ack_tag != 0) ack_tag = f.ack_tag;
    done.deliveries += f.deliveries;
    done.applied_messages += f.applied_messages;
    done.duplicates += f.duplicates;
    done.ignored += f.ignored;
    done.dead += f.dead;
    in_flight_.pop_front();
  }
  if (done.deliveries == 0) return absl::OkStatus();
  unacked_ -= done.deliveries;
  if (ack_tag != 0) {
    if (absl::Status s = c.Ack(ack_tag, /*multiple=*/true); !s.ok()) return s;
  }
  {
    absl::MutexLock l(&mu_);
    status_.set_messages_applied(status_.messages_applied() + done.applied_messages);
    status_.set_messages_duplicate(status_.messages_duplicate() + done.duplicates);
    status_.set_messages_ignored(status_.messages_ignored() + done.ignored);
    status_.set_messages_dead_lettered(status_.messages_dead_lettered() + done.dead);
  }
  NoteDone(done.deliveries);
  return absl::OkStatus();
}

absl::Status Listener::DeadLetter(const amqp::Delivery& d, const std::string& message_id,
                                  const absl::Status& why) {
  auto stop = [this] { return stop_.load(); };
  amqp::OutMessage m;
  m.body = d.body;
  m.headers = {{"x-vitrage-reason", std::string(why.message())},
               {"x-original-exchange", d.exchange},
               {"x-original-routing-key", d.routing_key}};
  if (!message_id.empty()) m.headers.emplace_back("x-message-id", message_id);
  while (true) {
    absl::StatusOr<amqp::Connection*> p = publish_->Get(stop);
    if (!p.ok()) return p.status();
    absl::Status s = (*p)->Publish("", options_.dead_letter_queue, m);
    if (s.ok()) break;
    publish_->Broken(s);
  }
  LOG(WARNING) << "bus: message " << (message_id.empty() ? "(no message_id)" : message_id)
               << " from " << d.routing_key << " set aside in " << options_.dead_letter_queue
               << ": " << why.message();
  return absl::OkStatus();
}

absl::Status Listener::Process(amqp::Connection& c, std::vector<amqp::Delivery>& batch,
                               InFlight* out) {
  InFlight& f = *out;
  f.deliveries = batch.size();
  // Parse every message of the batch, then apply all their events at once.
  // The requests live on one arena: built by bump allocation, freed at
  // once with the batch (destroying them one by one cost as much as
  // building them).
  google::protobuf::Arena arena;
  struct Parsed {
    std::string message_id;
    absl::Status parse;
    v1::PushEventsRequest* req = nullptr;
    absl::StatusOr<EventSink::Applied> applied = absl::UnknownError("not applied");
  };
  std::vector<Parsed> parsed(batch.size());
  std::vector<const v1::PushEventsRequest*> reqs;
  std::vector<size_t> of_req;
  reqs.reserve(batch.size());
  of_req.reserve(batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    Parsed& p = parsed[i];
    p.req = google::protobuf::Arena::CreateMessage<v1::PushEventsRequest>(&arena);
    p.parse = NotificationRequest(batch[i].body, options_, &p.message_id, p.req);
    if (!p.parse.ok()) {
      p.applied = p.parse;
    } else if (p.req->events_size() > 0) {
      reqs.push_back(p.req);
      of_req.push_back(i);
    }
  }
  // Applied in slices the sink takes whole (a slice's outer error leaves
  // the slice unapplied: the same slice again).
  size_t next = 0;
  while (next < reqs.size()) {
    std::vector<const v1::PushEventsRequest*> slice(reqs.begin() + next, reqs.end());
    absl::StatusOr<std::vector<absl::StatusOr<EventSink::Applied>>> r = sink_->ApplyBatch(slice);
    if (r.ok() && !r->empty()) {
      for (size_t k = 0; k < r->size(); ++k) parsed[of_req[next + k]].applied = (*r)[k];
      next += r->size();
      continue;
    }
    // Not taken now (journal full, graph not ACTIVE): the same messages
    // again, reading nothing more meanwhile.
    if (stop_) return absl::CancelledError("stopping");
    absl::SleepFor(absl::Milliseconds(100));
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    const amqp::Delivery& d = batch[i];
    Parsed& p = parsed[i];
    if (p.parse.ok() && p.req->events_size() == 0) {
      ++f.ignored;
      f.ack_tag = d.tag;
      continue;
    }
    if (!p.applied.ok()) {
      // Set aside, then acked on its own (a later multiple ack must not
      // name its tag again: the broker would close the channel).
      if (absl::Status s = DeadLetter(d, p.message_id, p.applied.status()); !s.ok()) return s;
      if (absl::Status s = c.Ack(d.tag, false); !s.ok()) return s;
      ++f.dead;
      continue;
    }
    const EventSink::Applied& a = *p.applied;
    if (a.applied == 0 && a.duplicates > 0) {
      ++f.duplicates;
    } else {
      ++f.applied_messages;
    }
    // A duplicate may be of a record that is not durable yet: wait for
    // everything applied so far (wait_seq) either way.
    if (!f.wait || a.wait_seq > f.applied.wait_seq) f.applied = a;
    f.wait = true;
    f.ack_tag = d.tag;
  }
  return absl::OkStatus();
}

}  // namespace vitrage::bus
