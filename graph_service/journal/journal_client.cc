#include "graph_service/journal/journal_client.h"

#include <glog/logging.h>

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/append_limits.h"
#include "common/encoded_rpc.h"
#include "common/grpc_util.h"
#include "vitrage/wire/encoded.pb.h"

namespace vitrage::journal {

JournalClient::JournalClient(std::shared_ptr<grpc::Channel> channel, JournalOptions options,
                             uint64_t epoch, uint64_t durable_seq)
    : channel_(std::move(channel)),
      append_path_(MethodPath(v1::Persistor::service_full_name(), "Append")),
      options_(options),
      epoch_(epoch),
      durable_seq_(durable_seq),
      next_seq_(durable_seq + 1),
      batch_records_(options_.max_batch_records) {
  sender_ = std::thread([this] { Run(); });
}

JournalClient::~JournalClient() { Shutdown(); }

void JournalClient::Shutdown() {
  {
    absl::MutexLock l(&mu_);
    shutdown_ = true;
    if (context_ != nullptr) context_->TryCancel();
  }
  if (sender_.joinable()) sender_.join();
}

void JournalClient::SetOnFatal(std::function<void(const absl::Status&)> cb) {
  absl::MutexLock l(&mu_);
  on_fatal_ = std::move(cb);
}

uint64_t JournalClient::next_seq() const {
  absl::MutexLock l(&mu_);
  return next_seq_;
}
uint64_t JournalClient::durable_seq() const {
  absl::MutexLock l(&mu_);
  return durable_seq_;
}
uint64_t JournalClient::buffered_records() const {
  absl::MutexLock l(&mu_);
  return buffer_.size();
}
uint64_t JournalClient::buffered_bytes() const {
  absl::MutexLock l(&mu_);
  return buffer_bytes_;
}

JournalClient::Hold::Hold(JournalClient* client) : client_(client) {
  if (client_ == nullptr) return;
  absl::MutexLock l(&client_->mu_);
  ++client_->holds_;
}

JournalClient::Hold::~Hold() {
  if (client_ == nullptr) return;
  absl::MutexLock l(&client_->mu_);
  --client_->holds_;  // the sender's condition is evaluated at the unlock
}

uint64_t JournalClient::batches_sent() const {
  absl::MutexLock l(&mu_);
  return batches_sent_;
}

uint64_t JournalClient::reconnects() const {
  absl::MutexLock l(&mu_);
  return reconnects_;
}
size_t JournalClient::batch_records_limit() const {
  absl::MutexLock l(&mu_);
  return batch_records_;
}
bool JournalClient::connected() const {
  absl::MutexLock l(&mu_);
  return connected_;
}
absl::Status JournalClient::fatal_status() const {
  absl::MutexLock l(&mu_);
  return fatal_;
}
absl::Duration JournalClient::stalled_for() const {
  absl::MutexLock l(&mu_);
  if (buffer_.empty()) return absl::ZeroDuration();
  return absl::Now() - progress_;
}
std::string JournalClient::last_error() const {
  absl::MutexLock l(&mu_);
  return last_error_;
}
bool JournalClient::link_up() const {
  absl::MutexLock l(&mu_);
  return link_up_;
}
absl::Time JournalClient::link_since() const {
  absl::MutexLock l(&mu_);
  return link_since_;
}
absl::Duration JournalClient::lag_age() const {
  absl::MutexLock l(&mu_);
  if (buffer_.empty()) return absl::ZeroDuration();
  return absl::Now() - buffer_.front().appended;
}

std::string JournalClient::PeerName() const {
  return options_.persistor_address.empty()
             ? std::string("the persistor")
             : absl::StrCat("the persistor at ", options_.persistor_address);
}

void JournalClient::LinkDownLocked(const grpc::Status& st, absl::Duration backoff) {
  down_max_buffered_ = std::max<uint64_t>(down_max_buffered_, buffer_.size());
  ++down_attempts_;
  if (!link_up_) {
    VLOG(1) << "journal: stream to " << PeerName() << " ended again (" << st.error_code() << ": "
            << st.error_message() << "); " << buffer_.size() << " records not durable";
    return;
  }
  link_up_ = false;
  link_since_ = absl::Now();
  LOG(WARNING) << "journal: link to " << PeerName() << " down: the Append stream ended ("
               << st.error_code() << ": " << st.error_message() << "); " << buffer_.size()
               << " records not durable (durable seq " << durable_seq_
               << "), kept and re-sent; reconnecting with backoff from "
               << absl::FormatDuration(backoff) << " (one line when it is back)";
}

void JournalClient::LinkUpLocked() {
  if (link_up_) return;
  const absl::Time now = absl::Now();
  down_max_buffered_ = std::max<uint64_t>(down_max_buffered_, buffer_.size());
  LOG(INFO) << "journal: link to " << PeerName() << " back after "
            << absl::FormatDuration(absl::Trunc(now - link_since_, absl::Milliseconds(1)))
            << " down (" << down_attempts_ << " failed attempts): up to " << down_max_buffered_
            << " records were buffered; durable seq " << durable_seq_ << ", " << buffer_.size()
            << " records still to ack";
  link_up_ = true;
  link_since_ = now;
  down_attempts_ = 0;
  down_max_buffered_ = 0;
}

absl::Status JournalClient::Append(const v1::JournalRecord& record) {
  std::string encoded;
  record.SerializeToString(&encoded);
  const size_t bytes = encoded.size();
  absl::MutexLock l(&mu_);
  if (!fatal_.ok()) return fatal_;
  if (shutdown_) return absl::UnavailableError("journal is shut down");
  if (record.seq() != next_seq_ || record.epoch() != epoch_) {
    return absl::InvalidArgumentError(absl::StrCat("journal append: record seq ", record.seq(),
                                                   " epoch ", record.epoch(), ", expected seq ",
                                                   next_seq_, " epoch ", epoch_));
  }
  const absl::Time now = absl::Now();
  if (buffer_.empty()) progress_ = now;
  buffer_.push_back(Entry{record.seq(), std::move(encoded), now});
  buffer_bytes_ += bytes;
  ++next_seq_;
  return absl::OkStatus();
}

absl::Status JournalClient::WaitForRoom(uint64_t records, absl::Time deadline) {
  absl::MutexLock l(&mu_);
  auto room = [&] {
    mu_.AssertHeld();
    return !fatal_.ok() || shutdown_ || buffer_.empty() ||
           (buffer_.size() + records <= options_.max_buffer_records &&
            buffer_bytes_ < options_.max_buffer_bytes);
  };
  mu_.AwaitWithDeadline(absl::Condition(&room), deadline);
  if (!fatal_.ok()) return fatal_;
  if (shutdown_) return absl::UnavailableError("journal is shut down");
  if (!room()) {
    return absl::DeadlineExceededError(absl::StrCat("journal buffer still full (", buffer_.size(),
                                                    " records, ", buffer_bytes_,
                                                    " bytes): persistor not acking"));
  }
  return absl::OkStatus();
}

absl::Status JournalClient::WaitDurable(uint64_t seq, absl::Time deadline) {
  absl::MutexLock l(&mu_);
  auto done = [&] {
    mu_.AssertHeld();
    return durable_seq_ >= seq || !fatal_.ok() || shutdown_;
  };
  mu_.AwaitWithDeadline(absl::Condition(&done), deadline);
  if (durable_seq_ >= seq) return absl::OkStatus();
  if (!fatal_.ok()) return fatal_;
  if (shutdown_) return absl::UnavailableError("journal is shut down");
  return absl::DeadlineExceededError(
      absl::StrCat("seq ", seq, " not durable yet (durable seq ", durable_seq_, ")"));
}

bool JournalClient::IsFatal(const grpc::Status& s) const {
  switch (s.error_code()) {
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::OUT_OF_RANGE:
    case grpc::StatusCode::ALREADY_EXISTS:
    case grpc::StatusCode::INVALID_ARGUMENT:
      return true;
    default:
      return false;
  }
}

void JournalClient::Run() {
  absl::Duration backoff = options_.min_backoff;
  while (true) {
    {
      absl::MutexLock l(&mu_);
      if (shutdown_) return;
    }
    absl::Time started = absl::Now();
    grpc::Status st = RunStream();
    absl::MutexLock l(&mu_);
    connected_ = false;
    if (shutdown_) return;
    last_error_ = FromGrpcStatus(st).ToString();
    if (IsFatal(st)) {
      fatal_ = FromGrpcStatus(st);
      if (st.error_code() == grpc::StatusCode::FAILED_PRECONDITION) {
        LOG(ERROR) << "journal: FENCED: the persistor refused epoch " << epoch_ << ": "
                   << st.error_message() << ". Another graph is active; this one stops writing.";
      } else {
        LOG(ERROR) << "journal: the persistor rejected the log (" << fatal_
                   << "); stopping: recovery must restart from "
                   << "the store";
      }
      auto cb = on_fatal_;
      absl::Status fatal = fatal_;
      mu_.Unlock();
      if (cb) cb(fatal);
      mu_.Lock();
      return;
    }
    ++reconnects_;
    if (absl::Now() - started > absl::Seconds(5)) backoff = options_.min_backoff;
    LinkDownLocked(st, backoff);
    absl::Time until = absl::Now() + backoff;
    auto stop = [this] {
      mu_.AssertHeld();
      return shutdown_;
    };
    mu_.AwaitWithDeadline(absl::Condition(&stop), until);
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

void JournalClient::ApplyPeerLimitsLocked() {
  const size_t records_before = batch_records_, wire_before = batch_wire_bytes_;
  batch_records_ = options_.max_batch_records;
  if (peer_max_records_ > 0) batch_records_ = std::min(batch_records_, peer_max_records_);
  // Under gRPC's receive limit, with room for the request's own fields.
  batch_wire_bytes_ = peer_max_bytes_ > 64 ? peer_max_bytes_ - 64 : 0;
  if (peer_max_records_ > 0 &&
      (batch_records_ != records_before || batch_wire_bytes_ != wire_before)) {
    LOG(INFO) << "journal: the persistor takes at most " << peer_max_records_ << " records and "
              << peer_max_bytes_ << " bytes per Append; batches of up to " << batch_records_
              << " records";
  }
}

grpc::Status JournalClient::RunStream() {
  grpc::ClientContext context;
  {
    absl::MutexLock l(&mu_);
    if (shutdown_) return grpc::Status::CANCELLED;
    context_ = &context;
    stream_broken_ = false;
    sent_seq_ = durable_seq_;  // re-send everything not yet durable
    inflight_bytes_ = 0;
    limits_known_ = false;
    peer_max_records_ = 0;
    peer_max_bytes_ = 0;
  }
  auto stream = OpenBidiStream<wire::EncodedAppendRequest, v1::AppendResponse>(
      channel_, append_path_, &context);

  std::thread reader([&] {
    // The persistor's limits come first, before any batch is read.
    stream->WaitForInitialMetadata();
    {
      const auto& md = context.GetServerInitialMetadata();
      auto get = [&md](const char* key) -> size_t {
        auto it = md.find(key);
        uint64_t v = 0;
        if (it == md.end() ||
            !absl::SimpleAtoi(absl::string_view(it->second.data(), it->second.size()), &v)) {
          return 0;
        }
        return static_cast<size_t>(v);
      };
      absl::MutexLock l(&mu_);
      peer_max_records_ = get(kMaxRecordsPerAppendKey);
      peer_max_bytes_ = get(kMaxAppendBytesKey);
      limits_known_ = true;
      // The persistor answered on this stream (its announcement): with
      // nothing to re-send the link is back now; else at the first ack.
      if (peer_max_records_ > 0) {
        connected_ = true;
        if (buffer_.empty()) LinkUpLocked();
      }
    }
    v1::AppendResponse resp;
    bool first = true;
    while (stream->Read(&resp)) {
      absl::MutexLock l(&mu_);
      if (first) {
        connected_ = true;
        first = false;
      }
      uint64_t d = resp.durable_seq();
      if (d > durable_seq_) {
        while (!buffer_.empty() && buffer_.front().seq <= d) {
          buffer_bytes_ -= buffer_.front().bytes.size();
          if (buffer_.front().seq <= sent_seq_) {
            inflight_bytes_ -= buffer_.front().bytes.size();
          }
          buffer_.pop_front();
        }
        durable_seq_ = d;
        progress_ = absl::Now();
        // A commit from an earlier stream may have landed after all: never
        // send below what is durable.
        if (d > sent_seq_) sent_seq_ = d;
      }
      LinkUpLocked();  // the persistor acks again (no-op while up)
    }
    absl::MutexLock l(&mu_);
    stream_broken_ = true;
  });

  {
    absl::MutexLock l(&mu_);
    auto known = [&] {
      mu_.AssertHeld();
      return limits_known_ || shutdown_ || stream_broken_;
    };
    mu_.AwaitWithDeadline(absl::Condition(&known), absl::Now() + options_.limits_wait);
    if (!known()) {
      LOG(WARNING) << "journal: the persistor announced no Append limits within "
                   << absl::FormatDuration(options_.limits_wait) << "; batches of up to "
                   << options_.max_batch_records << " records";
    }
  }
  while (true) {
    wire::EncodedAppendRequest req;
    req.set_epoch(epoch_);
    {
      absl::MutexLock l(&mu_);
      auto ready = [&] {
        mu_.AssertHeld();
        if (shutdown_ || stream_broken_) return true;
        if (buffer_.empty() || buffer_.back().seq <= sent_seq_) {
          return false;
        }
        if (holds_ > 0 && buffer_.back().seq - sent_seq_ < options_.hold_flush_records &&
            buffer_bytes_ - inflight_bytes_ < options_.hold_flush_bytes) {
          return false;  // more of the same piece of work is coming
        }
        return inflight_bytes_ <= options_.max_inflight_bytes;
      };
      mu_.Await(absl::Condition(&ready));
      if (shutdown_ || stream_broken_) break;
      ApplyPeerLimitsLocked();
      // Entries are dense: index of sent_seq_+1 is sent_seq_+1 - front.seq.
      size_t i = buffer_.empty() ? 0 : static_cast<size_t>(sent_seq_ + 1 - buffer_.front().seq);
      size_t bytes = 0;
      size_t wire_bytes = 0;  // with each record's tag and length (<= 6 bytes)
      for (; i < buffer_.size(); ++i) {
        const Entry& e = buffer_[i];
        if (req.records_size() > 0 &&
            (static_cast<size_t>(req.records_size()) >= batch_records_ ||
             bytes + e.bytes.size() > options_.max_batch_bytes ||
             (batch_wire_bytes_ > 0 && wire_bytes + e.bytes.size() + 6 > batch_wire_bytes_))) {
          break;
        }
        req.add_records(e.bytes);
        bytes += e.bytes.size();
        wire_bytes += e.bytes.size() + 6;
        sent_seq_ = e.seq;
      }
      inflight_bytes_ += bytes;
      ++batches_sent_;
    }
    if (!stream->Write(req)) break;
  }
  bool cancel;
  {
    absl::MutexLock l(&mu_);
    cancel = shutdown_;
  }
  if (cancel) {
    context.TryCancel();
  } else {
    stream->WritesDone();
  }
  reader.join();
  grpc::Status st = stream->Finish();
  absl::MutexLock l(&mu_);
  context_ = nullptr;
  return st;
}

}  // namespace vitrage::journal
