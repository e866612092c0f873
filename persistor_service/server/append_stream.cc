#include "persistor_service/server/append_stream.h"

#include <glog/logging.h>
#include <grpcpp/impl/codegen/proto_utils.h>

#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/append_limits.h"
#include "common/crc32c.h"
#include "common/grpc_util.h"
#include "common/metrics.h"
#include "persistor_service/mysql/store.h"
#include "persistor_service/server/record_check.h"
#include "vitrage/v1/persistor.grpc.pb.h"
#include "vitrage/wire/encoded.pb.h"

namespace vitrage::persistor {
namespace {

using vitrage::v1::AppendResponse;
using vitrage::wire::EncodedAppendRequest;

// One Append stream. Reads batches, hands them to the LogWriter, writes one
// AppendResponse per batch in order; the first error ends the stream with
// that status once every batch it queued has been completed.
//
// The stream is a raw method: a request is parsed as EncodedAppendRequest
// (vitrage/wire/encoded.proto, the same bytes as an AppendRequest), which
// leaves every record as the bytes the graph serialized. Each record is
// checked without being built (record_check.h: the parser's verdict, its
// seq and epoch) to be a well-formed JournalRecord with the batch's seq
// and epoch, and is then stored byte for byte as received.
class AppendReactor : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>,
                      public BatchSink,
                      public std::enable_shared_from_this<AppendReactor> {
 public:
  AppendReactor(LogWriter* writer, const std::atomic<bool>* shutting_down,
                size_t max_inflight_bytes, int max_records = 100'000)
      : writer_(writer),
        shutting_down_(shutting_down),
        max_inflight_bytes_(max_inflight_bytes),
        max_records_(max_records) {}

  void Begin(std::shared_ptr<AppendReactor> self) {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    self_ = std::move(self);
    StartSendInitialMetadata();  // the limits the Append handler set
    reading_ = true;
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    std::shared_ptr<AppendReactor> keep = shared_from_this();
    std::lock_guard<std::recursive_mutex> lock(mu_);
    reading_ = false;
    if (!ok) {
      read_done_ = true;
      Advance();
      return;
    }
    if (shutting_down_->load()) {
      SetError(absl::UnavailableError("vitrage-persistor is shutting down"));
      Advance();
      return;
    }
    absl::StatusOr<std::unique_ptr<PendingBatch>> batch = ReadBatch();
    if (!batch.ok()) {
      LOG(WARNING) << "rejected journal batch: " << batch.status().message();
      SetError(batch.status());
      Advance();
      return;
    }
    static auto& batches = vitrage::metrics::Counter(
        "vitrage_persistor_append_batches_total",
        "Append requests (batches of journal records) accepted from the graph");
    batches.Increment();
    (*batch)->sink = keep;
    inflight_bytes_ += (*batch)->bytes;
    inflight_sizes_.push_back((*batch)->bytes);
    ++outstanding_;
    writer_->Enqueue(std::move(*batch));
    Advance();
  }

  void OnWriteDone(bool ok) override {
    std::shared_ptr<AppendReactor> keep = shared_from_this();
    std::lock_guard<std::recursive_mutex> lock(mu_);
    writing_ = false;
    if (!ok) SetError(absl::CancelledError("client went away"));
    Advance();
  }

  void OnCancel() override {
    std::shared_ptr<AppendReactor> keep = shared_from_this();
    std::lock_guard<std::recursive_mutex> lock(mu_);
    SetError(absl::CancelledError("stream cancelled by the client"));
    Advance();
  }

  void OnDone() override {
    std::shared_ptr<AppendReactor> drop;
    std::lock_guard<std::recursive_mutex> lock(mu_);
    drop.swap(self_);
  }

  // BatchSink, from the writer thread.
  void BatchDone(const absl::StatusOr<uint64_t>& result) override {
    std::shared_ptr<AppendReactor> keep = shared_from_this();
    std::lock_guard<std::recursive_mutex> lock(mu_);
    --outstanding_;
    inflight_bytes_ -= inflight_sizes_.front();
    inflight_sizes_.pop_front();
    if (result.ok()) {
      acks_.push_back(*result);
    } else {
      SetError(result.status());
    }
    Advance();
  }
  bool failed() const override { return failed_.load(); }

 private:
  // Parses request_ and turns it into a batch for the writer.
  absl::StatusOr<std::unique_ptr<PendingBatch>> ReadBatch() {
    EncodedAppendRequest req;
    grpc::Status st = grpc::SerializationTraits<EncodedAppendRequest>::Deserialize(&request_, &req);
    if (!st.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("Append: the request is not an AppendRequest: ", st.error_message()));
    }
    return MakeBatch(&req);
  }

  absl::StatusOr<std::unique_ptr<PendingBatch>> MakeBatch(EncodedAppendRequest* req) {
    if (req->records_size() == 0) {
      return absl::InvalidArgumentError("empty batch: no records");
    }
    if (req->records_size() > max_records_) {
      return absl::InvalidArgumentError(
          absl::StrCat("Append: ", req->records_size(), " records in one message; the limit is ",
                       max_records_, " ([limits] max_records_per_append)"));
    }
    if (req->epoch() == 0) {
      return absl::InvalidArgumentError("batch has epoch 0: call AcquireEpoch first");
    }
    auto batch = std::make_unique<PendingBatch>();
    batch->epoch = req->epoch();
    batch->rows.reserve(req->records_size());
    uint64_t expect = 0;
    for (int i = 0; i < req->records_size(); ++i) {
      std::string* bytes = req->mutable_records(i);
      RecordHead head;
      if (!CheckJournalRecord(*bytes, &head)) {
        return absl::InvalidArgumentError(absl::StrCat("Append: record ", i, " of the batch (",
                                                       bytes->size(),
                                                       " bytes) is not a valid JournalRecord"));
      }
      const uint64_t seq = head.seq;
      const uint64_t epoch = head.epoch;
      if (i == 0) expect = seq;
      if (seq == 0) {
        return absl::InvalidArgumentError("record with seq 0 (seqs start at 1)");
      }
      if (seq != expect) {
        return absl::InvalidArgumentError(absl::StrCat(
            "records in a batch must have consecutive seqs: seq ", seq, " follows ", expect - 1));
      }
      if (epoch != req->epoch()) {
        return absl::InvalidArgumentError(absl::StrCat("record seq ", seq, " has epoch ", epoch,
                                                       " but the batch has epoch ", req->epoch()));
      }
      mysql::LogRow row;
      row.seq = seq;
      row.epoch = epoch;
      row.bytes.swap(*bytes);
      row.crc32c = crc32c::Value(row.bytes);
      batch->bytes += row.bytes.size() + 32;
      batch->rows.push_back(std::move(row));
      ++expect;
    }
    return batch;
  }

  void SetError(const absl::Status& s) {
    if (error_.ok()) error_ = s;
    failed_ = true;
  }

  // Starts whatever can start now; finishes when nothing is left. Called
  // with mu_ held.
  void Advance() {
    if (finished_) return;
    if (!writing_ && !acks_.empty() && error_.ok()) {
      AppendResponse response;
      response.set_durable_seq(acks_.front());
      acks_.pop_front();
      bool own = false;
      response_.Clear();
      grpc::Status st =
          grpc::SerializationTraits<AppendResponse>::Serialize(response, &response_, &own);
      if (!st.ok()) {
        SetError(FromGrpcStatus(st));
      } else {
        writing_ = true;
        StartWrite(&response_);
      }
    }
    if (!error_.ok()) {
      // Every queued batch must come back before the reactor may go away.
      if (outstanding_ == 0 && !writing_) {
        finished_ = true;
        Finish(ToGrpcStatus(error_));
      }
      return;
    }
    if (read_done_) {
      if (outstanding_ == 0 && !writing_ && acks_.empty()) {
        finished_ = true;
        Finish(grpc::Status::OK);
      }
      return;
    }
    if (!reading_ && inflight_bytes_ < max_inflight_bytes_) {
      reading_ = true;
      StartRead(&request_);
    }
  }

  LogWriter* const writer_;
  const std::atomic<bool>* const shutting_down_;
  const size_t max_inflight_bytes_;
  const int max_records_;

  std::recursive_mutex mu_;
  std::shared_ptr<AppendReactor> self_;
  grpc::ByteBuffer request_;
  grpc::ByteBuffer response_;
  std::deque<uint64_t> acks_;
  std::deque<size_t> inflight_sizes_;
  size_t inflight_bytes_ = 0;
  int outstanding_ = 0;
  bool reading_ = false;
  bool writing_ = false;
  bool read_done_ = false;
  bool finished_ = false;
  absl::Status error_;
  std::atomic<bool> failed_{false};
};

}  // namespace

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* StartAppendStream(
    grpc::CallbackServerContext* context, LogWriter* writer, const std::atomic<bool>* shutting_down,
    const AppendStreamLimits& limits) {
  // The writer sizes its batches to these (common/append_limits.h); they go
  // out at once, before any batch is read.
  context->AddInitialMetadata(kMaxRecordsPerAppendKey,
                              std::to_string(limits.max_records_per_append));
  context->AddInitialMetadata(kMaxAppendBytesKey, std::to_string(limits.max_message_bytes));
  auto reactor = std::make_shared<AppendReactor>(writer, shutting_down, limits.max_inflight_bytes,
                                                 limits.max_records_per_append);
  reactor->Begin(reactor);
  return reactor.get();
}

}  // namespace vitrage::persistor
