#include "collector/outbox.h"

#include <glog/logging.h>

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "collector/dead_letter.h"
#include "common/encoded_rpc.h"
#include "vitrage/wire/encoded.pb.h"

namespace vitrage::collector {

Outbox::Outbox(OutboxOptions options, std::shared_ptr<grpc::Channel> graph)
    : options_(std::move(options)),
      channel_(std::move(graph)),
      stream_path_(MethodPath(v1::Graph::service_full_name(), "PushEventStream")),
      push_path_(MethodPath(v1::Graph::service_full_name(), "PushEvents")) {
  pusher_ = std::thread([this] { Run(); });
}

Outbox::~Outbox() { Shutdown(); }

void Outbox::Shutdown() {
  {
    absl::MutexLock l(&mu_);
    shutdown_ = true;
    if (inflight_ != nullptr) inflight_->TryCancel();
  }
  if (pusher_.joinable()) pusher_.join();
}

bool Outbox::WaitForRoom() {
  absl::MutexLock l(&mu_);
  auto room = [this] {
    mu_.AssertHeld();
    return shutdown_ || queue_.size() < options_.max_events;
  };
  mu_.Await(absl::Condition(&room));
  return !shutdown_;
}

uint64_t Outbox::Add(const v1::Event& event) {
  if (!WaitForRoom()) return 0;
  return AddNow(event);
}

uint64_t Outbox::AddNow(const v1::Event& event) {
  // The event is encoded outside the lock; source and source_seq (fields 1
  // and 2) are encoded after it once the seq is known. A parser takes the
  // last value of a repeated scalar field, so these win over any the caller
  // set, and field order means nothing to it.
  // Room for the head too: appending it must not move the event's bytes
  // (a reallocation and a copy of the whole event, ~20 % of a synthetic
  // collector's CPU; docs/performance.md).
  const size_t size = event.ByteSizeLong();
  std::string bytes;
  bytes.reserve(size + options_.source.size() + kMaxHeadOverhead);
  bytes.resize(size);
  event.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(bytes.data()));
  absl::MutexLock l(&mu_);
  if (shutdown_) return 0;
  uint64_t seq = ++counters_.last_seq;
  v1::Event head;
  head.set_source(options_.source);
  head.set_source_seq(seq);
  head.AppendToString(&bytes);
  queue_.push_back(Pending{seq, std::move(bytes), absl::Now()});
  counters_.pending = queue_.size();
  return seq;
}

bool Outbox::WaitAcked(uint64_t seq, absl::Time deadline) {
  absl::MutexLock l(&mu_);
  auto done = [&] {
    mu_.AssertHeld();
    return counters_.acked_seq >= seq || shutdown_;
  };
  mu_.AwaitWithDeadline(absl::Condition(&done), deadline);
  return counters_.acked_seq >= seq;
}

void Outbox::SetPaused(bool paused) {
  absl::MutexLock l(&mu_);
  paused_ = paused;
}

OutboxCounters Outbox::counters(uint64_t latency_from_seq) const {
  std::vector<float> total, queued;
  OutboxCounters c;
  {
    absl::MutexLock l(&mu_);
    c = counters_;
    total.reserve(latency_.size());
    queued.reserve(latency_.size());
    for (const LatencySample& s : latency_) {
      if (s.seq < latency_from_seq) continue;
      total.push_back(s.total_ms);
      queued.push_back(s.queued_ms);
    }
  }
  if (total.empty()) return c;
  auto at = [](std::vector<float>& v, double q) {
    size_t i = std::min(v.size() - 1, static_cast<size_t>(q * v.size()));
    std::nth_element(v.begin(), v.begin() + i, v.end());
    return v[i];
  };
  c.ack_samples = total.size();
  c.ack_p50_ms = at(total, 0.50);
  c.ack_p99_ms = at(total, 0.99);
  c.ack_p999_ms = at(total, 0.999);
  c.ack_max_ms = *std::max_element(total.begin(), total.end());
  c.queued_p50_ms = at(queued, 0.50);
  c.queued_p99_ms = at(queued, 0.99);
  return c;
}

void Outbox::NoteLinkDownLocked(const grpc::Status& st, bool use_stream) {
  down_max_pending_ = std::max(down_max_pending_, queue_.size());
  ++down_failures_;
  if (link_down_) {
    VLOG(1) << "outbox: " << (use_stream ? "PushEventStream" : "PushEvents") << " failed again ("
            << st.error_code() << ": " << st.error_message() << "); " << queue_.size()
            << " events wait";
    return;
  }
  link_down_ = true;
  down_since_ = absl::Now();
  LOG(WARNING) << "outbox: link to the graph down: "
               << (use_stream ? "PushEventStream" : "PushEvents") << " failed (" << st.error_code()
               << ": " << st.error_message() << "); " << queue_.size()
               << " events wait, kept until acked; retrying from source_seq "
               << (queue_.empty() ? 0 : queue_.front().seq)
               << " with backoff (one line when it is back)";
}

void Outbox::AckLocked(uint64_t last, uint64_t count, uint64_t duplicates) {
  absl::Time now = absl::Now();
  if (link_down_) {
    down_max_pending_ = std::max(down_max_pending_, queue_.size());
    LOG(INFO) << "outbox: link to the graph back after "
              << absl::FormatDuration(absl::Trunc(now - down_since_, absl::Milliseconds(1)))
              << " down (" << down_failures_ << " failed attempts): up to " << down_max_pending_
              << " events waited; acked again up to source_seq " << last << ", "
              << (queue_.empty() ? 0 : queue_.size() - 1) << " more pending";
    link_down_ = false;
    down_failures_ = 0;
    down_max_pending_ = 0;
  }
  constexpr size_t kSamples = 100'000;
  while (!queue_.empty() && queue_.front().seq <= last) {
    if (queue_.front().dead) {
      queue_.pop_front();
      continue;
    }
    const Pending& p = queue_.front();
    LatencySample sample{
        p.seq, static_cast<float>(absl::ToDoubleMilliseconds(now - p.added)),
        static_cast<float>(absl::ToDoubleMilliseconds(
            p.first_sent == absl::InfinitePast() ? absl::ZeroDuration() : p.first_sent - p.added))};
    if (latency_.size() < kSamples) {
      latency_.push_back(sample);
    } else {
      latency_[latency_next_++ % kSamples] = sample;
    }
    queue_.pop_front();
  }
  counters_.acked += count;
  counters_.duplicates += duplicates;
  counters_.acked_seq = std::max(counters_.acked_seq, last);
  PopDeadLocked();
}

void Outbox::PopDeadLocked() {
  while (!queue_.empty() && queue_.front().dead) {
    counters_.acked_seq = std::max(counters_.acked_seq, queue_.front().seq);
    queue_.pop_front();
  }
  counters_.pending = queue_.size();
}

uint64_t Outbox::FillLocked(size_t first, size_t n,
                            google::protobuf::RepeatedPtrField<std::string>* out, uint64_t* live) {
  if (counters_.acked_seq < isolate_until_) n = 1;
  uint64_t last = 0;
  *live = 0;
  const absl::Time now = absl::Now();
  for (size_t i = first; i < queue_.size() && *live < n; ++i) {
    Pending& p = queue_[i];
    last = p.seq;
    if (p.dead) continue;
    if (p.first_sent == absl::InfinitePast()) p.first_sent = now;
    out->Add()->assign(p.bytes);
    ++*live;
  }
  return last;
}

std::string Outbox::OnRefusedLocked(const grpc::Status& st) {
  // The refused request is the oldest unacked one (the graph acks the
  // requests before it, in order, before it ends the call): it began at
  // the front of the queue.
  const std::string& msg = st.error_message();
  const bool isolating = counters_.acked_seq < isolate_until_;
  Pending* bad = nullptr;
  uint64_t last_live = 0;
  size_t live = 0;
  for (Pending& p : queue_) {
    if (live >= static_cast<size_t>(std::max(1, options_.batch_size))) break;
    if (p.dead) continue;
    ++live;
    last_live = p.seq;
    // The graph's words (common/input_limits.cc, Engine::ApplyPush).
    if (absl::StrContains(msg,
                          absl::StrCat("(source \"", options_.source, "\" seq ", p.seq, ")"))) {
      bad = &p;
      break;
    }
    // While isolating, the request held this one event.
    if (isolating) {
      bad = &p;
      break;
    }
  }
  if (bad == nullptr) {
    if (live == 0) return "";
    isolate_until_ = last_live;
    LOG(WARNING) << "outbox: the graph refused the request of source_seq " << queue_.front().seq
                 << ".." << last_live << " as invalid without naming an event (" << msg
                 << "); sending them one per request to find it";
    return "";
  }
  bad->dead = true;
  ++counters_.dead_lettered;
  counters_.dead_lettered_seqs.push_back(bad->seq);
  if (counters_.dead_lettered_seqs.size() > kMaxDeadLetteredSeqs) {
    counters_.dead_lettered_seqs.erase(counters_.dead_lettered_seqs.begin());
  }
  LOG(ERROR) << "outbox: the graph refused source_seq " << bad->seq << " as invalid; dead-lettered"
             << (options_.dead_letter_file.empty() ? "" : " to ") << options_.dead_letter_file
             << " (" << counters_.dead_lettered
             << " so far), going on with the events after it: " << msg;
  std::string line = DeadLetterLine(absl::Now(), options_.source, bad->seq, msg, bad->bytes);
  PopDeadLocked();
  return line;
}

grpc::Status Outbox::PushOnce() {
  wire::EncodedPushEventsRequest req;
  uint64_t last = 0;
  {
    absl::MutexLock l(&mu_);
    uint64_t live = 0;
    last = FillLocked(0, options_.batch_size, req.mutable_events(), &live);
    if (live == 0) return grpc::Status::OK;
  }
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + options_.push_timeout));
  {
    absl::MutexLock l(&mu_);
    if (shutdown_) return grpc::Status(grpc::StatusCode::CANCELLED, "shut down");
    inflight_ = &ctx;
  }
  v1::PushEventsResponse resp;
  grpc::Status st = UnaryCall(channel_, push_path_, &ctx, req, &resp);
  absl::MutexLock l(&mu_);
  inflight_ = nullptr;
  if (st.ok()) AckLocked(last, req.events_size(), resp.duplicates());
  return st;
}

grpc::Status Outbox::RunStream() {
  grpc::ClientContext ctx;
  {
    absl::MutexLock l(&mu_);
    if (shutdown_) return grpc::Status(grpc::StatusCode::CANCELLED, "shut down");
    inflight_ = &ctx;
  }
  auto stream = OpenBidiStream<wire::EncodedPushEventsRequest, v1::PushEventsResponse>(
      channel_, stream_path_, &ctx);
  struct Sent {
    uint64_t last;
    uint64_t count;
    absl::Time at;
  };
  std::deque<Sent> sent;     // guarded by mu_
  bool reader_done = false;  // guarded by mu_
  bool protocol_error = false;
  // Source seqs are dense in the outbox: the events not sent yet are those
  // after `last_sent`.
  uint64_t last_sent = 0;
  {
    absl::MutexLock l(&mu_);
    if (!queue_.empty()) last_sent = queue_.front().seq - 1;
  }
  std::thread reader([&] {
    v1::PushEventsResponse resp;
    while (stream->Read(&resp)) {
      absl::MutexLock l(&mu_);
      if (sent.empty()) {
        protocol_error = true;  // a response to nothing: drop the stream
        ctx.TryCancel();
        break;
      }
      Sent s = sent.front();
      sent.pop_front();
      AckLocked(s.last, s.count, resp.duplicates());
    }
    absl::MutexLock l(&mu_);
    reader_done = true;
  });
  const size_t window = static_cast<size_t>(std::max(1, options_.window));
  bool writes_done = false;
  bool write_failed = false;
  while (true) {
    wire::EncodedPushEventsRequest req;
    {
      absl::MutexLock l(&mu_);
      auto can_act = [&] {
        mu_.AssertHeld();
        bool unsent = !queue_.empty() && queue_.back().seq > last_sent;
        return shutdown_ || reader_done || (paused_ && sent.empty()) ||
               (!paused_ && unsent && sent.size() < window);
      };
      // Wake up at the oldest request's deadline: a graph that neither acks
      // nor fails is given up on like a PushEvents call that timed out.
      absl::Time deadline =
          sent.empty() ? absl::InfiniteFuture() : sent.front().at + options_.push_timeout;
      mu_.AwaitWithDeadline(absl::Condition(&can_act), deadline);
      if (shutdown_ || reader_done) break;
      if (!sent.empty() && absl::Now() >= sent.front().at + options_.push_timeout) {
        LOG(WARNING) << "outbox: no ack within " << absl::FormatDuration(options_.push_timeout)
                     << " for source_seq " << sent.front().last << "; reconnecting";
        break;
      }
      if (paused_ && sent.empty()) break;
      if (paused_ || queue_.empty() || queue_.back().seq <= last_sent || sent.size() >= window) {
        continue;
      }
      size_t first = last_sent < queue_.front().seq
                         ? 0
                         : static_cast<size_t>(last_sent - queue_.front().seq + 1);
      uint64_t live = 0;
      last_sent = FillLocked(first, options_.batch_size, req.mutable_events(), &live);
      if (live == 0) continue;  // only dead-lettered events: nothing to send
      sent.push_back(Sent{last_sent, live, absl::Now()});
    }
    if (!stream->Write(req)) {
      write_failed = true;  // the call is over: Finish says why
      break;
    }
  }
  if (!writes_done && !write_failed) stream->WritesDone();
  {
    absl::MutexLock l(&mu_);
    // Anything still unacked is sent again on the next stream. After a
    // failed Write the call has already ended and the reader is about to
    // see it: cancelling now would replace the graph's status (e.g.
    // UNIMPLEMENTED, which makes the outbox fall back to PushEvents) by
    // CANCELLED.
    if (!reader_done && !write_failed) ctx.TryCancel();
  }
  reader.join();
  grpc::Status st = stream->Finish();
  absl::MutexLock l(&mu_);
  inflight_ = nullptr;
  if (protocol_error) {
    return grpc::Status(grpc::StatusCode::INTERNAL,
                        "PushEventStream: the graph sent more responses than requests");
  }
  return st;
}

void Outbox::Run() {
  absl::Duration backoff = options_.min_backoff;
  bool use_stream = true;
  while (true) {
    uint64_t first_seq = 0;
    {
      absl::MutexLock l(&mu_);
      auto ready = [this] {
        mu_.AssertHeld();
        return shutdown_ || (!paused_ && !queue_.empty() && channel_ != nullptr);
      };
      mu_.Await(absl::Condition(&ready));
      if (shutdown_) return;
      first_seq = queue_.front().seq;
    }
    grpc::Status st = use_stream ? RunStream() : PushOnce();
    if (use_stream && st.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
      LOG(WARNING) << "outbox: the graph has no PushEventStream (" << st.error_message()
                   << "); pushing one PushEvents call at a time";
      use_stream = false;
      continue;
    }
    if (st.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
      // Retrying cannot succeed: set the refused event aside and go on at once.
      std::string line;
      {
        absl::MutexLock l(&mu_);
        if (shutdown_) return;
        line = OnRefusedLocked(st);
      }
      if (!line.empty() && !options_.dead_letter_file.empty()) {
        if (absl::Status w = AppendDeadLetter(options_.dead_letter_file, line); !w.ok()) {
          LOG(ERROR) << "outbox: " << w.message() << "; the dead-lettered event: " << line;
        }
      } else if (!line.empty()) {
        LOG(ERROR) << "outbox: no [collector] dead_letter_file; the dead-lettered event: " << line;
      }
      backoff = options_.min_backoff;
      continue;
    }
    absl::MutexLock l(&mu_);
    if (shutdown_) return;
    bool progressed = counters_.acked_seq >= first_seq;
    if (st.ok() || progressed) {
      // A stream that acked something before it ended (the graph failed
      // over, the stream was cut) is retried at once. The link is "back"
      // only at the next ack (AckLocked), never because an old stream
      // had acked before it broke.
      backoff = options_.min_backoff;
      if (st.ok()) continue;
    }
    ++counters_.retries;
    NoteLinkDownLocked(st, use_stream);
    auto stop = [this] {
      mu_.AssertHeld();
      return shutdown_;
    };
    mu_.AwaitWithDeadline(absl::Condition(&stop), absl::Now() + backoff);
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

}  // namespace vitrage::collector
