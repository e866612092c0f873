#include "persistor_service/server/persistor_service.h"

#include <glog/logging.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <grpcpp/health_check_service_interface.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <functional>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/append_limits.h"
#include "common/crc32c.h"
#include "common/grpc_util.h"
#include "common/status_macros.h"
#include "persistor_service/mysql/store.h"
#include "persistor_service/server/db_errors.h"
#include "vitrage/wire/encoded.pb.h"

namespace vitrage::persistor {
namespace {

using vitrage::v1::AppendResponse;
using vitrage::wire::EncodedAppendRequest;
using vitrage::v1::JournalRecord;

constexpr size_t kDefaultReadLogBytes = 1 << 20;
constexpr size_t kMaxReadLogBytes = 3 << 20;
constexpr size_t kChunkWriteBytes = 4 << 20;  // chunks per INSERT statement
constexpr size_t kChunkReadBytes = 8 << 20;   // chunks per SELECT
constexpr size_t kLogReadRows = 2048;
constexpr uint64_t kPruneBatch = 10000;

std::string SerializeDeterministic(const google::protobuf::Message& m) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream sos(&out);
    google::protobuf::io::CodedOutputStream cos(&sos);
    cos.SetSerializationDeterministic(true);
    m.SerializeToCodedStream(&cos);
  }
  return out;
}

std::string Hex32(uint32_t v) { return absl::StrCat("0x", absl::Hex(v)); }

// Reads pages from the database on its own thread while the RPC thread
// verifies and sends the previous page: reading and sending overlap. At most
// `depth` pages wait. `fetch` runs on the prefetch thread only (it owns the
// connection while the Prefetcher lives); it returns the next page, and
// sets *last when no page follows.
template <typename Page>
class Prefetcher {
 public:
  struct Fetched {
    absl::Status status;
    Page page;
  };
  // Fills *page; sets *last when no page follows.
  using Fetch = std::function<absl::Status(Page* page, bool* last)>;
  explicit Prefetcher(Fetch fetch, size_t depth = 2)
      : fetch_(std::move(fetch)), depth_(depth) {
    thread_ = std::thread([this] { Run(); });
  }
  ~Prefetcher() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
      cv_.notify_all();
    }
    thread_.join();
  }
  // Moves the next page into *out; false after the last one.
  bool Next(Fetched* out) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return !pages_.empty() || done_; });
    if (pages_.empty()) return false;
    *out = std::move(pages_.front());
    pages_.pop_front();
    cv_.notify_all();
    return true;
  }

 private:
  void Run() {
    bool last = false;
    while (!last) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stop_ || pages_.size() < depth_; });
        if (stop_) break;
      }
      Fetched f;
      f.status = fetch_(&f.page, &last);
      if (!f.status.ok()) last = true;
      std::lock_guard<std::mutex> lock(mu_);
      pages_.push_back(std::move(f));
      cv_.notify_all();
    }
    std::lock_guard<std::mutex> lock(mu_);
    done_ = true;
    cv_.notify_all();
  }

  Fetch fetch_;
  const size_t depth_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Fetched> pages_;
  bool stop_ = false;
  bool done_ = false;
  std::thread thread_;
};

// One Append stream. Reads batches, hands them to the LogWriter, writes one
// AppendResponse per batch in order; the first error ends the stream with
// that status once every batch it queued has been completed.
//
// The stream is a raw method: a request is parsed as EncodedAppendRequest
// (vitrage/wire/encoded.proto, the same bytes as an AppendRequest), which
// leaves every record as the bytes the graph serialized. Each record is
// still parsed once (on an arena, reset per request) to check it is a
// well-formed JournalRecord with the batch's seq and epoch, and is then
// stored byte for byte as received.
class AppendReactor
    : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>,
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
    grpc::Status st =
        grpc::SerializationTraits<EncodedAppendRequest>::Deserialize(&request_, &req);
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
      return absl::InvalidArgumentError(
          "batch has epoch 0: call AcquireEpoch first");
    }
    auto batch = std::make_unique<PendingBatch>();
    batch->epoch = req->epoch();
    batch->rows.reserve(req->records_size());
    uint64_t expect = 0;
    for (int i = 0; i < req->records_size(); ++i) {
      std::string* bytes = req->mutable_records(i);
      JournalRecord* r = google::protobuf::Arena::CreateMessage<JournalRecord>(&arena_);
      if (!r->ParseFromString(*bytes)) {
        arena_.Reset();
        return absl::InvalidArgumentError(absl::StrCat(
            "Append: record ", i, " of the batch (", bytes->size(),
            " bytes) is not a valid JournalRecord"));
      }
      const uint64_t seq = r->seq();
      const uint64_t epoch = r->epoch();
      if (i == 0) expect = seq;
      if (seq == 0) {
        arena_.Reset();
        return absl::InvalidArgumentError("record with seq 0 (seqs start at 1)");
      }
      if (seq != expect) {
        arena_.Reset();
        return absl::InvalidArgumentError(absl::StrCat(
            "records in a batch must have consecutive seqs: seq ", seq,
            " follows ", expect - 1));
      }
      if (epoch != req->epoch()) {
        arena_.Reset();
        return absl::InvalidArgumentError(
            absl::StrCat("record seq ", seq, " has epoch ", epoch,
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
    arena_.Reset();
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
  google::protobuf::Arena arena_;  // records being checked (MakeBatch)
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

std::string HostName() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "unknown-host";
  return buf;
}

}  // namespace

PersistorService::PersistorService(PersistorOptions options)
    : options_(std::move(options)),
      pool_(options_.database,
            mysql::ConnectionPool::Limits{
                static_cast<size_t>(kWriteDbConnections),
                static_cast<size_t>(std::max(kMinDbConnections, options_.max_db_connections) -
                                    kOwnDbConnections - kWriteDbConnections)}),
      writer_(&pool_, LogWriter::Options{options_.max_batch_bytes,
                                         std::min<size_t>(
                                             options_.max_batch_bytes,
                                             4 << 20)}),
      read_streams_(ReadStreams::Options{std::max(1, options_.max_read_streams),
                                         options_.stream_stall_timeout}) {}

PersistorService::~PersistorService() { Stop(); }

absl::StatusOr<std::unique_ptr<PersistorService>> PersistorService::Create(
    PersistorOptions options) {
  if (options.instance.empty()) {
    options.instance = absl::StrCat(HostName(), ":", getpid());
  }
  std::unique_ptr<PersistorService> service(
      new PersistorService(std::move(options)));
  RETURN_IF_ERROR(service->Init());
  return service;
}

absl::Status PersistorService::Init() {
  ASSIGN_OR_RETURN(mysql::ConnectionPool::Lease conn, pool_.Acquire());
  mysql::Store store(conn.get());
  ASSIGN_OR_RETURN(int before, store.Migrate());
  if (before == mysql::kSchemaVersion) {
    LOG(INFO) << "database " << options_.database.url.Redacted()
              << ": schema version " << before;
  } else {
    LOG(INFO) << "database " << options_.database.url.Redacted()
              << ": schema migrated from version " << before << " to "
              << mysql::kSchemaVersion;
  }
  ASSIGN_OR_RETURN(mysql::EpochRow epoch, store.ReadEpoch());
  LOG(INFO) << "current epoch " << epoch.epoch << " (owner "
            << (epoch.owner.empty() ? "none" : epoch.owner)
            << "), durable seq " << epoch.durable_seq;

  // Snapshots left incomplete by a persistor of this host that is gone.
  ASSIGN_OR_RETURN(std::vector<mysql::SnapshotRow> snaps,
                   store.ListSnapshots(/*all=*/true));
  const std::string host = HostName();
  for (const mysql::SnapshotRow& s : snaps) {
    if (s.complete) continue;
    std::vector<std::string> parts = absl::StrSplit(s.writer, ':');
    int pid = 0;
    bool dead_here = parts.size() == 2 && parts[0] == host &&
                     absl::SimpleAtoi(parts[1], &pid) && pid > 0 &&
                     (pid == getpid() || (kill(pid, 0) != 0 && errno == ESRCH));
    if (dead_here || s.idle_seconds >
                         absl::ToDoubleSeconds(options_.abandoned_snapshot_age)) {
      ASSIGN_OR_RETURN(std::optional<mysql::SnapshotRow> kept,
                       store.DeleteUnpublishedSnapshot(s.snapshot_id));
      LOG(INFO) << (kept.has_value() ? "kept snapshot " : "deleted incomplete snapshot ")
                << s.snapshot_id << " (seq " << s.seq << ") left by " << s.writer
                << (kept.has_value() ? ": it was published meanwhile" : "");
    }
  }

  writer_.Start();
  monitor_ = std::thread([this] { MonitorLoop(); });
  retention_ = std::thread([this] { RetentionLoop(); });
  return absl::OkStatus();
}

void PersistorService::AttachServer(grpc::Server* server) {
  std::lock_guard<std::mutex> lock(mu_);
  server_ = server;
  if (server_ != nullptr && server_->GetHealthCheckService() != nullptr) {
    bool serving = pool_.reachable();
    server_->GetHealthCheckService()->SetServingStatus(serving);
  }
}

void PersistorService::SetServing(bool serving) {
  std::lock_guard<std::mutex> lock(mu_);
  if (server_ != nullptr && server_->GetHealthCheckService() != nullptr) {
    server_->GetHealthCheckService()->SetServingStatus(serving);
  }
}

void PersistorService::BeginShutdown() {
  if (shutting_down_.exchange(true)) return;
  LOG(INFO) << "shutting down: finishing the journal commit in flight";
  writer_.Stop();
}

void PersistorService::Stop() {
  BeginShutdown();
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    server_ = nullptr;
    cv_.notify_all();
  }
  if (monitor_.joinable()) monitor_.join();
  if (retention_.joinable()) retention_.join();
}

absl::Status PersistorService::Note(absl::Status status) {
  if (status.code() == absl::StatusCode::kUnavailable) {
    pool_.ReportFailure(status);
  }
  return status;
}

void PersistorService::MonitorLoop() {
  std::unique_ptr<mysql::Connection> conn;
  bool serving = pool_.reachable();
  while (true) {
    absl::Duration wait = serving ? absl::Seconds(1) : absl::Milliseconds(100);
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (cv_.wait_for(lock, absl::ToChronoMilliseconds(wait),
                       [&] { return stop_; })) {
        return;
      }
    }
    if (conn == nullptr || conn->broken()) {
      conn.reset();
      absl::StatusOr<std::unique_ptr<mysql::Connection>> c = pool_.Connect();
      if (c.ok()) conn = std::move(*c);
    }
    if (conn != nullptr) {
      absl::Status s = conn->Ping();
      if (s.ok()) {
        pool_.ReportSuccess();
      } else {
        pool_.ReportFailure(s);
        conn.reset();
      }
    }
    bool now = pool_.reachable();
    if (now != serving) {
      LOG(INFO) << "health: " << (now ? "SERVING" : "NOT_SERVING")
                << " (database " << (now ? "reachable" : "unreachable") << ")";
      serving = now;
    }
    SetServing(now);
  }
}

void PersistorService::RetentionLoop() {
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, absl::ToChronoMilliseconds(options_.retention_interval),
                   [&] { return stop_ || retention_wanted_; });
      if (stop_) return;
      retention_wanted_ = false;
    }
    absl::Status s = RunRetentionOnce();
    if (!s.ok()) LOG(WARNING) << "retention pass failed: " << s.message();
  }
}

absl::Status PersistorService::RunRetentionOnce() {
  std::lock_guard<std::mutex> retention_lock(retention_mu_);
  absl::StatusOr<mysql::ConnectionPool::Lease> conn = pool_.Acquire();
  if (!conn.ok()) return conn.status();
  mysql::Store store(conn->get());
  absl::StatusOr<std::vector<mysql::SnapshotRow>> snaps =
      store.ListSnapshots(/*all=*/true);
  if (!snaps.ok()) return Note(snaps.status());
  std::set<uint64_t> in_progress;
  {
    std::lock_guard<std::mutex> lock(mu_);
    in_progress = snapshots_in_progress_;
  }
  std::vector<const mysql::SnapshotRow*> complete;
  for (const mysql::SnapshotRow& s : *snaps) {
    if (s.complete) {
      complete.push_back(&s);
    } else if (in_progress.count(s.snapshot_id) == 0 &&
               s.idle_seconds >
                   absl::ToDoubleSeconds(options_.abandoned_snapshot_age)) {
      absl::StatusOr<std::optional<mysql::SnapshotRow>> kept =
          store.DeleteUnpublishedSnapshot(s.snapshot_id);
      if (!kept.ok()) return Note(kept.status());
      LOG(INFO) << (kept->has_value() ? "kept snapshot " : "deleted abandoned incomplete snapshot ")
                << s.snapshot_id << " (seq " << s.seq << ", writer " << s.writer << ", idle "
                << static_cast<int64_t>(s.idle_seconds) << " s)"
                << (kept->has_value() ? ": it was published meanwhile" : "");
    }
  }
  absl::StatusOr<uint64_t> orphans = store.DeleteOrphanChunks(16);
  if (!orphans.ok()) return Note(orphans.status());
  if (*orphans > 0) {
    LOG(INFO) << "retention: deleted the chunks of " << *orphans
              << " snapshots whose rows were gone (a cleanup interrupted)";
  }
  const size_t keep = static_cast<size_t>(std::max(1, options_.snapshots_to_keep));
  for (size_t i = keep; i < complete.size(); ++i) {
    const mysql::SnapshotRow& s = *complete[i];
    absl::Time t0 = absl::Now();
    if (absl::Status st = store.DeleteSnapshot(s.snapshot_id); !st.ok()) {
      return Note(st);
    }
    LOG(INFO) << "retention: deleted snapshot " << s.snapshot_id << " (seq "
              << s.seq << ", " << s.stored_bytes << " bytes) in "
              << absl::ToInt64Milliseconds(absl::Now() - t0)
              << " ms; keeping the newest " << keep;
  }
  if (complete.empty()) return absl::OkStatus();
  // Records up to the lowest seq of the kept snapshots are needed by no
  // snapshot. (Seqs need not grow with ids: a standby's snapshot can be
  // published while the active's, at a lower seq, is still encoding.)
  uint64_t upto = complete[0]->seq;
  for (size_t i = 1; i < std::min(keep, complete.size()); ++i) {
    upto = std::min(upto, complete[i]->seq);
  }
  uint64_t pruned = 0;
  while (true) {
    absl::StatusOr<uint64_t> n =
        store.PruneLog(upto, options_.log_retention, kPruneBatch);
    if (!n.ok()) return Note(n.status());
    pruned += *n;
    if (*n < kPruneBatch) break;
  }
  if (pruned > 0) {
    LOG(INFO) << "retention: pruned " << pruned
              << " log records with seq <= " << upto
              << " (covered by the oldest kept snapshot, older than "
              << absl::FormatDuration(options_.log_retention) << ")";
  }
  return absl::OkStatus();
}

grpc::Status PersistorService::AcquireEpoch(
    grpc::ServerContext* context, const vitrage::v1::AcquireEpochRequest* request,
    vitrage::v1::AcquireEpochResponse* response) {
  if (shutting_down_) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                        "vitrage-persistor is shutting down");
  }
  std::string owner = request->owner().empty() ? context->peer() : request->owner();
  absl::StatusOr<mysql::AcquiredEpoch> acquired = RetryAborted(
      [&]() -> absl::StatusOr<mysql::AcquiredEpoch> {
        ASSIGN_OR_RETURN(mysql::ConnectionPool::Lease conn, pool_.Acquire());
        mysql::Store store(conn.get());
        return store.AcquireEpoch(owner);
      });
  writer_.InvalidateState();
  if (!acquired.ok()) return ToGrpcStatus(Note(acquired.status()));
  LOG(INFO) << "epoch " << acquired->epoch << " acquired by " << owner
            << ", previous " << acquired->previous_epoch
            << (acquired->previous_owner.empty()
                    ? std::string()
                    : absl::StrCat(" (", acquired->previous_owner, ")"))
            << "; durable seq " << acquired->durable_seq;
  if (acquired->dropped_records > 0) {
    LOG(ERROR) << "epoch " << acquired->epoch << ": the log held "
               << acquired->dropped_records << " records after the durable seq "
               << acquired->durable_seq
               << " (never durable: no graph acked them); they were deleted";
  }
  response->set_epoch(acquired->epoch);
  response->set_previous_epoch(acquired->previous_epoch);
  response->set_durable_seq(acquired->durable_seq);
  return grpc::Status::OK;
}

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>*
PersistorService::Append(grpc::CallbackServerContext* context) {
  // The writer sizes its batches to these (common/append_limits.h); they go
  // out at once, before any batch is read.
  context->AddInitialMetadata(kMaxRecordsPerAppendKey,
                              std::to_string(options_.max_records_per_append));
  context->AddInitialMetadata(kMaxAppendBytesKey,
                              std::to_string(options_.max_message_bytes));
  auto reactor = std::make_shared<AppendReactor>(
      &writer_, &shutting_down_, std::max<size_t>(4 * options_.max_batch_bytes,
                                                  32 << 20),
      options_.max_records_per_append);
  reactor->Begin(reactor);
  return reactor.get();
}

grpc::Status PersistorService::PutSnapshot(
    grpc::ServerContext* context,
    grpc::ServerReader<vitrage::v1::PutSnapshotRequest>* reader,
    vitrage::v1::PutSnapshotResponse* response) {
  uint64_t snapshot_id = 0;
  absl::Status s = DoPutSnapshot(context, reader, response, &snapshot_id);
  if (snapshot_id != 0) {
    if (!s.ok()) {
      // Nothing of a failed stream stays behind (best effort: a later
      // retention pass deletes what this cannot), unless the failure came
      // after the publish committed (its COMMIT's reply was lost): that
      // snapshot is kept and answered as published.
      absl::StatusOr<mysql::ConnectionPool::Lease> conn = pool_.Acquire();
      if (conn.ok()) {
        mysql::Store store(conn->get());
        absl::StatusOr<std::optional<mysql::SnapshotRow>> kept =
            store.DeleteUnpublishedSnapshot(snapshot_id);
        if (!kept.ok()) {
          LOG(WARNING) << "could not delete unpublished snapshot " << snapshot_id << ": "
                       << kept.status().message();
        } else if (kept->has_value()) {
          LOG(WARNING) << "snapshot " << snapshot_id << " is published although its stream "
                       << "failed after the publish (" << s.message() << "); kept";
          response->set_snapshot_id(snapshot_id);
          response->set_seq((*kept)->seq);
          response->set_stored_bytes((*kept)->stored_bytes);
          s = absl::OkStatus();
        } else {
          LOG(INFO) << "deleted the rows of unpublished snapshot " << snapshot_id;
        }
      }
    }
    std::lock_guard<std::mutex> lock(mu_);
    snapshots_in_progress_.erase(snapshot_id);
  }
  if (!s.ok()) {
    LOG(WARNING) << "PutSnapshot failed: " << s.message();
  }
  return ToGrpcStatus(s);
}

absl::Status PersistorService::DoPutSnapshot(
    grpc::ServerContext* context,
    grpc::ServerReader<vitrage::v1::PutSnapshotRequest>* reader,
    vitrage::v1::PutSnapshotResponse* response, uint64_t* snapshot_id) {
  const absl::Time t0 = absl::Now();
  if (shutting_down_) {
    return absl::UnavailableError("vitrage-persistor is shutting down");
  }
  vitrage::v1::PutSnapshotRequest msg;
  if (!reader->Read(&msg)) {
    return absl::InvalidArgumentError("empty PutSnapshot stream: no header");
  }
  if (!msg.has_header()) {
    return absl::InvalidArgumentError(
        "the first PutSnapshot message must be the header");
  }
  const vitrage::v1::SnapshotHeader header = msg.header();
  if (header.chunk_count() == 0) {
    return absl::InvalidArgumentError("snapshot header: chunk_count is 0");
  }
  if (header.epoch() == 0) {
    return absl::InvalidArgumentError(
        "snapshot header: epoch 0 (call AcquireEpoch first)");
  }
  ASSIGN_OR_RETURN(mysql::ConnectionPool::Lease conn, pool_.Acquire());
  mysql::Store store(conn.get());
  // Snapshots from a hot standby (header.from_standby; the standby holds no
  // epoch). A snapshot at seq S is the state after applying the log's
  // records 1..S. Once durable, a record never changes: a new writer
  // continues at durable_seq + 1 and a fenced writer's records are
  // refused. So a snapshot built from durable records is valid whoever
  // builds it, and the writer is not needed to vouch for it. What this
  // path must never do is move anything forward or fence anyone, hence:
  //   * it never writes the writer_epoch row (no epoch, durable seq or
  //     write count changes; no lock the writer's commits would wait for);
  //     rejections are FAILED_PRECONDITION with the reason, never the
  //     fencing error, and the standby does not treat them as fencing;
  //   * header.epoch must be the epoch of record S as stored (so it is
  //     <= the current epoch and ties the snapshot to the log it claims);
  //   * S <= the durable seq and record S still stored (not pruned);
  //   * S above every complete snapshot's seq, so a lagging standby cannot
  //     push a newer snapshot out of the kept ones.
  // Checked before the chunks are taken, and again in the publishing
  // transaction (Store::PublishStandbySnapshot).
  const bool from_standby = header.from_standby();
  if (from_standby) {
    if (absl::Status c = store.CheckStandbySnapshot(header.seq(), header.epoch()); !c.ok()) {
      if (c.code() != absl::StatusCode::kFailedPrecondition) return Note(c);
      LOG(INFO) << "standby snapshot at seq " << header.seq() << " refused: " << c.message();
      return c;
    }
  } else {
    absl::StatusOr<mysql::EpochRow> row = store.ReadEpoch();
    if (!row.ok()) return Note(row.status());
    if (row->epoch != header.epoch()) {
      absl::Status f = FencingError(header.epoch(), *row);
      LOG(WARNING) << "fencing: rejected snapshot: " << f.message();
      return f;
    }
  }
  const std::string header_bytes = SerializeDeterministic(header);
  absl::StatusOr<uint64_t> id = store.CreateSnapshot(
      header.seq(), header.epoch(), header.format_version(),
      header.chunk_count(), header.uncompressed_bytes(), header_bytes,
      crc32c::Value(header_bytes), options_.instance);
  if (!id.ok()) return Note(id.status());
  *snapshot_id = *id;
  {
    std::lock_guard<std::mutex> lock(mu_);
    snapshots_in_progress_.insert(*id);
  }

  uint32_t expected = 0;
  uint64_t compressed = 0, uncompressed = 0;
  std::vector<mysql::ChunkRow> pending;
  size_t pending_bytes = 0;
  while (reader->Read(&msg)) {
    if (!msg.has_chunk()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "snapshot ", *id, ": a second header after ", expected, " chunks"));
    }
    vitrage::v1::SnapshotChunk* chunk = msg.mutable_chunk();
    if (expected >= header.chunk_count()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "snapshot ", *id, ": more chunks than the header's chunk_count ",
          header.chunk_count()));
    }
    if (chunk->index() != expected) {
      return absl::InvalidArgumentError(
          absl::StrCat("snapshot ", *id, ": chunk index ", chunk->index(),
                       " out of order, expected ", expected));
    }
    const uint32_t computed = crc32c::Value(chunk->data());
    if (computed != chunk->crc32c()) {
      return absl::DataLossError(absl::StrCat(
          "snapshot ", *id, " chunk ", chunk->index(), ": crc mismatch (sent ",
          Hex32(chunk->crc32c()), ", computed ", Hex32(computed), ")"));
    }
    compressed += chunk->data().size();
    uncompressed += chunk->uncompressed_size();
    mysql::ChunkRow row;
    row.index = chunk->index();
    row.crc32c = chunk->crc32c();
    row.uncompressed_size = chunk->uncompressed_size();
    row.data.swap(*chunk->mutable_data());
    pending_bytes += row.data.size();
    pending.push_back(std::move(row));
    ++expected;
    if (pending_bytes >= kChunkWriteBytes || expected == header.chunk_count()) {
      absl::Status s = RetryAborted([&]() -> absl::StatusOr<bool> {
                         RETURN_IF_ERROR(store.PutChunks(*id, pending));
                         return true;
                       }).status();
      if (!s.ok()) return Note(s);
      pending.clear();
      pending_bytes = 0;
    }
  }
  if (context->IsCancelled()) {
    return absl::CancelledError(
        absl::StrCat("snapshot ", *id, ": stream broken off after ", expected,
                     " of ", header.chunk_count(), " chunks"));
  }
  if (expected != header.chunk_count()) {
    return absl::InvalidArgumentError(
        absl::StrCat("snapshot ", *id, ": stream ended after ", expected,
                     " of ", header.chunk_count(), " chunks"));
  }
  if (header.compressed_bytes() != 0 && header.compressed_bytes() != compressed) {
    return absl::InvalidArgumentError(absl::StrCat(
        "snapshot ", *id, ": header says ", header.compressed_bytes(),
        " compressed bytes, chunks have ", compressed));
  }
  if (header.uncompressed_bytes() != 0 &&
      header.uncompressed_bytes() != uncompressed) {
    return absl::InvalidArgumentError(absl::StrCat(
        "snapshot ", *id, ": header says ", header.uncompressed_bytes(),
        " uncompressed bytes, chunks have ", uncompressed));
  }
  uint64_t stored_bytes = 0;
  if (from_standby) {
    absl::Status p = RetryAborted([&]() -> absl::StatusOr<bool> {
                       RETURN_IF_ERROR(store.PublishStandbySnapshot(*id, header.epoch(),
                                                                    &stored_bytes));
                       return true;
                     }).status();
    if (!p.ok()) {
      if (p.code() != absl::StatusCode::kFailedPrecondition) return Note(p);
      LOG(INFO) << "standby snapshot " << *id << " refused at publish: " << p.message();
      return p;
    }
  }
  absl::StatusOr<mysql::GuardResult> published =
      from_standby ? absl::StatusOr<mysql::GuardResult>(mysql::GuardResult::kDone)
                   : RetryAborted([&] {
                       return store.PublishSnapshot(*id, header.epoch(), &stored_bytes);
                     });
  if (published.ok() && *published == mysql::GuardResult::kDone &&
      options_.after_publish_for_test) {
    if (absl::Status f = options_.after_publish_for_test(*id); !f.ok()) published = f;
  }
  if (!published.ok()) return Note(published.status());
  if (*published == mysql::GuardResult::kStaleEpoch) {
    absl::StatusOr<mysql::EpochRow> row = store.ReadEpoch();
    if (!row.ok()) return Note(row.status());
    absl::Status f = FencingError(header.epoch(), *row);
    LOG(WARNING) << "fencing: rejected snapshot at publish: " << f.message();
    return f;
  }
  LOG(INFO) << (from_standby ? "standby snapshot " : "snapshot ") << *id
            << " published: seq " << header.seq() << ", epoch " << header.epoch()
            << (from_standby ? " (of record seq, taken by a hot standby)" : "") << ", "
            << header.chunk_count()
            << " chunks, " << stored_bytes << " bytes, "
            << absl::ToInt64Milliseconds(absl::Now() - t0) << " ms";
  response->set_snapshot_id(*id);
  response->set_seq(header.seq());
  response->set_stored_bytes(stored_bytes);
  {
    std::lock_guard<std::mutex> lock(mu_);
    snapshots_in_progress_.erase(*id);
    retention_wanted_ = true;
    cv_.notify_all();
  }
  *snapshot_id = 0;  // published: nothing to clean up
  return absl::OkStatus();
}

absl::StatusOr<mysql::ConnectionPool::Lease> PersistorService::AcquireRead() {
  absl::StatusOr<mysql::ConnectionPool::Lease> lease =
      pool_.Acquire(mysql::ConnectionPool::Use::kRead);
  if (!lease.ok()) return Note(lease.status());
  return lease;
}

grpc::Status PersistorService::GetLatestSnapshot(
    grpc::ServerContext* context,
    const vitrage::v1::GetLatestSnapshotRequest* request,
    grpc::ServerWriter<vitrage::v1::GetLatestSnapshotResponse>* writer) {
  absl::StatusOr<std::unique_ptr<ReadStreams::Ticket>> stream =
      read_streams_.Admit(context, "GetLatestSnapshot");
  if (!stream.ok()) return ToGrpcStatus(stream.status());
  absl::Status s = DoGetLatestSnapshot(*request, **stream, writer);
  if (s.code() == absl::StatusCode::kDataLoss) {
    LOG(ERROR) << "GetLatestSnapshot: " << s.message();
  }
  return ToGrpcStatus(s);
}

// No transaction spans the stream: the snapshot row is read once, then the
// chunks page by page, each page with a connection leased only while it is
// read. Chunks never change once their snapshot is published, so pages read
// at different times fit together. Retention may retire the snapshot
// meanwhile (it hides the row, then deletes chunks from the lowest index):
// a page that comes back short or out of order is then told apart from a
// lost chunk by reading the snapshot's row again.
absl::Status PersistorService::DoGetLatestSnapshot(
    const vitrage::v1::GetLatestSnapshotRequest& request, ReadStreams::Ticket& stream,
    grpc::ServerWriter<vitrage::v1::GetLatestSnapshotResponse>* writer) {
  absl::StatusOr<std::optional<mysql::SnapshotRow>> snap;
  {
    ASSIGN_OR_RETURN(mysql::ConnectionPool::Lease conn, AcquireRead());
    snap = mysql::Store(conn.get()).LatestSnapshot(request.older_than_id());
  }
  if (!snap.ok()) return Note(snap.status());
  if (!snap->has_value()) {
    if (request.older_than_id() != 0) {
      return absl::NotFoundError(absl::StrCat(
          "no complete snapshot older than snapshot ", request.older_than_id()));
    }
    return absl::NotFoundError("no complete snapshot");
  }
  const mysql::SnapshotRow& row = **snap;
  const uint32_t hcrc = crc32c::Value(row.header);
  vitrage::v1::GetLatestSnapshotResponse msg;
  if (hcrc != row.header_crc32c ||
      !msg.mutable_info()->mutable_header()->ParseFromString(row.header)) {
    return absl::DataLossError(absl::StrCat(
        "snapshot ", row.snapshot_id, ": header crc mismatch (stored ",
        Hex32(row.header_crc32c), ", computed ", Hex32(hcrc), ")"));
  }
  msg.mutable_info()->set_snapshot_id(row.snapshot_id);
  RETURN_IF_ERROR(stream.Write(writer, msg));
  // A chunk is missing: retired meanwhile (ABORTED, ask again) or lost.
  auto missing = [&](uint32_t index) -> absl::Status {
    absl::StatusOr<mysql::ConnectionPool::Lease> conn = AcquireRead();
    if (!conn.ok()) return conn.status();
    absl::StatusOr<bool> published =
        mysql::Store(conn->get()).SnapshotPublished(row.snapshot_id);
    if (!published.ok()) return Note(published.status());
    if (!*published) {
      LOG(INFO) << "GetLatestSnapshot: snapshot " << row.snapshot_id
                << " was retired while a stream read it (at chunk " << index << ")";
      return absl::AbortedError(absl::StrCat(
          "snapshot ", row.snapshot_id, " was deleted by retention while this stream read it"
          " (at chunk ", index, " of ", row.chunk_count, "); ask for the latest snapshot again"));
    }
    return absl::DataLossError(
        absl::StrCat("snapshot ", row.snapshot_id, " chunk ", index, " is missing"));
  };
  const uint64_t avg = std::max<uint64_t>(
      1, row.stored_bytes / std::max<uint32_t>(1, row.chunk_count));
  const size_t page = std::clamp<uint64_t>(kChunkReadBytes / avg, 1, 256);
  uint32_t from = 0;
  Prefetcher<std::vector<mysql::ChunkRow>> pages(
      [&](std::vector<mysql::ChunkRow>* chunks, bool* last) -> absl::Status {
        ASSIGN_OR_RETURN(mysql::ConnectionPool::Lease conn, AcquireRead());
        ASSIGN_OR_RETURN(*chunks,
                         mysql::Store(conn.get()).ReadChunks(row.snapshot_id, from, page));
        if (chunks->empty()) {
          *last = true;
        } else {
          from = chunks->back().index + 1;
          *last = from >= row.chunk_count;
        }
        return absl::OkStatus();
      });
  uint32_t next = 0;
  Prefetcher<std::vector<mysql::ChunkRow>>::Fetched chunks;
  while (next < row.chunk_count) {
    if (!pages.Next(&chunks) || (chunks.status.ok() && chunks.page.empty())) {
      return missing(next);
    }
    if (!chunks.status.ok()) return Note(chunks.status);
    for (mysql::ChunkRow& c : chunks.page) {
      if (c.index != next) return missing(next);
      const uint32_t computed = crc32c::Value(c.data);
      if (computed != c.crc32c) {
        return absl::DataLossError(absl::StrCat(
            "snapshot ", row.snapshot_id, " chunk ", c.index,
            ": crc mismatch (stored ", Hex32(c.crc32c), ", computed ",
            Hex32(computed), ")"));
      }
      vitrage::v1::GetLatestSnapshotResponse out;
      vitrage::v1::SnapshotChunk* chunk = out.mutable_chunk();
      chunk->set_index(c.index);
      chunk->set_crc32c(c.crc32c);
      chunk->set_uncompressed_size(c.uncompressed_size);
      chunk->mutable_data()->swap(c.data);
      RETURN_IF_ERROR(stream.Write(writer, out));
      ++next;
      if (next >= row.chunk_count) break;
    }
  }
  return absl::OkStatus();
}

grpc::Status PersistorService::ReadLog(
    grpc::ServerContext* context, const vitrage::v1::ReadLogRequest* request,
    grpc::ServerWriter<vitrage::v1::ReadLogResponse>* writer) {
  absl::StatusOr<std::unique_ptr<ReadStreams::Ticket>> stream =
      read_streams_.Admit(context, "ReadLog");
  if (!stream.ok()) return ToGrpcStatus(stream.status());
  absl::Status s = DoReadLog(context, *request, **stream, writer);
  if (s.code() == absl::StatusCode::kDataLoss) {
    LOG(ERROR) << "ReadLog: " << s.message();
  }
  return ToGrpcStatus(s);
}

// Follow (hot standby, ReadLogRequest.follow): after the first range the
// stream stays open. New records are noticed through this persistor's own
// log writer (its cached durable seq, checked every kFollowTick) or, for
// records written through another persistor of a Galera cluster, by reading
// the durable seq from the database every kFollowDbPoll. A heartbeat (no
// records, the current durable seq) goes out after kFollowHeartbeat of
// silence so the standby can tell a dead stream from a quiet log.
absl::Status PersistorService::DoReadLog(
    grpc::ServerContext* context, const vitrage::v1::ReadLogRequest& request,
    ReadStreams::Ticket& stream, grpc::ServerWriter<vitrage::v1::ReadLogResponse>* writer) {
  constexpr absl::Duration kFollowTick = absl::Milliseconds(2);
  constexpr absl::Duration kFollowDbPoll = absl::Milliseconds(50);
  constexpr absl::Duration kFollowHeartbeat = absl::Seconds(1);
  const size_t max_bytes =
      request.max_batch_bytes() == 0
          ? kDefaultReadLogBytes
          : std::min<size_t>(request.max_batch_bytes(), kMaxReadLogBytes);
  uint64_t sent = 0;
  RETURN_IF_ERROR(ReadLogRange(request.after_seq(), max_bytes, /*write_empty=*/true,
                               stream, writer, &sent));
  if (!request.follow()) return absl::OkStatus();
  sent = std::max(sent, request.after_seq());
  absl::Time last_db = absl::Now();
  absl::Time last_write = last_db;
  while (true) {
    if (context->IsCancelled() || shutting_down_.load()) {
      return absl::CancelledError("follow ended");
    }
    absl::SleepFor(kFollowTick);
    const absl::Time now = absl::Now();
    if (writer_.cached_durable_seq() <= sent && now - last_db < kFollowDbPoll &&
        now - last_write < kFollowHeartbeat) {
      continue;
    }
    last_db = now;
    uint64_t durable = 0;
    RETURN_IF_ERROR(
        ReadLogRange(sent, max_bytes, /*write_empty=*/false, stream, writer, &durable));
    if (durable > sent) {
      sent = durable;
      last_write = absl::Now();
    } else if (now - last_write >= kFollowHeartbeat) {
      vitrage::v1::ReadLogResponse beat;
      beat.set_durable_seq(durable);
      RETURN_IF_ERROR(stream.Write(writer, beat));
      last_write = now;
    }
  }
}

// No transaction spans the range: the durable seq is read first, then the
// records up to it page by page, each page with a connection leased only
// while it is read. Records up to the durable seq never change, so pages
// read at different times fit together; only retention can remove some
// meanwhile (records below the oldest kept snapshot), which a page that
// starts late shows and the log's bounds then confirm (OUT_OF_RANGE, not a
// hole).
absl::Status PersistorService::ReadLogRange(
    uint64_t after_seq, size_t max_bytes, bool write_empty, ReadStreams::Ticket& stream,
    grpc::ServerWriter<vitrage::v1::ReadLogResponse>* writer, uint64_t* durable_out) {
  uint64_t durable = 0;
  {
    ASSIGN_OR_RETURN(mysql::ConnectionPool::Lease conn, AcquireRead());
    mysql::Store store(conn.get());
    absl::StatusOr<mysql::EpochRow> epoch = store.ReadEpoch();
    if (!epoch.ok()) return Note(epoch.status());
    durable = epoch->durable_seq;
    *durable_out = durable;
    if (after_seq < durable) {
      absl::StatusOr<mysql::LogBounds> bounds = store.ReadLogBounds();
      if (!bounds.ok()) return Note(bounds.status());
      if (bounds->first_seq == 0 || bounds->first_seq > after_seq + 1) {
        return absl::OutOfRangeError(absl::StrCat(
            "log records ", after_seq + 1, "..",
            bounds->first_seq == 0 ? durable : bounds->first_seq - 1,
            " were pruned (covered by a snapshot); the log starts at seq ",
            bounds->first_seq == 0 ? durable + 1 : bounds->first_seq));
      }
    }
  }
  vitrage::v1::ReadLogResponse out;
  out.set_durable_seq(durable);
  if (after_seq >= durable) {
    if (write_empty) RETURN_IF_ERROR(stream.Write(writer, out));
    return absl::OkStatus();
  }
  // Record `seq` is not where it should be: pruned meanwhile, or a hole.
  auto missing = [&](uint64_t seq, const std::string& hole) -> absl::Status {
    absl::StatusOr<mysql::ConnectionPool::Lease> conn = AcquireRead();
    if (!conn.ok()) return conn.status();
    absl::StatusOr<mysql::LogBounds> bounds = mysql::Store(conn->get()).ReadLogBounds();
    if (!bounds.ok()) return Note(bounds.status());
    if (bounds->first_seq == 0 || bounds->first_seq > seq) {
      return absl::OutOfRangeError(absl::StrCat(
          "log records from seq ", seq, " were pruned (retention) while this stream read"
          " them; the log now starts at seq ",
          bounds->first_seq == 0 ? durable + 1 : bounds->first_seq));
    }
    return absl::DataLossError(hole);
  };
  uint64_t from = after_seq + 1;
  Prefetcher<std::vector<mysql::LogRow>> pages(
      [&](std::vector<mysql::LogRow>* rows, bool* last) -> absl::Status {
        ASSIGN_OR_RETURN(mysql::ConnectionPool::Lease conn, AcquireRead());
        ASSIGN_OR_RETURN(*rows, mysql::Store(conn.get()).ReadLog(from, durable, kLogReadRows));
        if (rows->empty()) {
          *last = true;
        } else {
          from = rows->back().seq + 1;
          *last = from > durable;
        }
        return absl::OkStatus();
      });
  uint64_t next = after_seq + 1;
  size_t out_bytes = 0;
  Prefetcher<std::vector<mysql::LogRow>>::Fetched rows;
  while (next <= durable) {
    if (!pages.Next(&rows) || (rows.status.ok() && rows.page.empty())) {
      return missing(next, absl::StrCat("hole in the log: records ", next, "..", durable,
                                        " are missing (durable seq is ", durable, ")"));
    }
    if (!rows.status.ok()) return Note(rows.status);
    for (const mysql::LogRow& row : rows.page) {
      if (row.seq != next) {
        return missing(next, absl::StrCat("hole in the log: record seq ", next,
                                          " is missing (next stored is ", row.seq, ")"));
      }
      const uint32_t computed = crc32c::Value(row.bytes);
      if (computed != row.crc32c) {
        return absl::DataLossError(absl::StrCat(
            "log record seq ", row.seq, ": crc mismatch (stored ",
            Hex32(row.crc32c), ", computed ", Hex32(computed), ")"));
      }
      if (out.records_size() > 0 && out_bytes + row.bytes.size() + 16 > max_bytes) {
        RETURN_IF_ERROR(stream.Write(writer, out));
        out.clear_records();
        out_bytes = 0;
      }
      if (!out.add_records()->ParseFromString(row.bytes)) {
        return absl::DataLossError(absl::StrCat(
            "log record seq ", row.seq, ": stored bytes do not parse as a "
            "JournalRecord"));
      }
      out_bytes += row.bytes.size() + 16;
      ++next;
    }
  }
  if (out.records_size() > 0) RETURN_IF_ERROR(stream.Write(writer, out));
  return absl::OkStatus();
}

grpc::Status PersistorService::GetStatus(
    grpc::ServerContext* /*context*/,
    const vitrage::v1::PersistorStatusRequest* /*request*/,
    vitrage::v1::PersistorStatus* response) {
  absl::Status s = DoGetStatus(response);
  if (!s.ok()) {
    // The status of an unreachable database is an answer, not an error.
    response->Clear();
    response->set_epoch(writer_.cached_epoch());
    response->set_durable_seq(writer_.cached_durable_seq());
    response->set_database_reachable(false);
    response->set_last_database_error(std::string(s.message()));
  }
  return grpc::Status::OK;
}

absl::Status PersistorService::DoGetStatus(vitrage::v1::PersistorStatus* response) {
  absl::StatusOr<mysql::ConnectionPool::Lease> conn = AcquireRead();
  if (!conn.ok()) return conn.status();
  mysql::Store store(conn->get());
  if (absl::Status s = store.BeginRead(); !s.ok()) return Note(s);
  struct EndRead {
    mysql::Store* store;
    ~EndRead() { store->EndRead(); }
  } end_read{&store};
  absl::StatusOr<mysql::EpochRow> epoch = store.ReadEpoch();
  if (!epoch.ok()) return Note(epoch.status());
  absl::StatusOr<mysql::LogBounds> bounds = store.ReadLogBounds();
  if (!bounds.ok()) return Note(bounds.status());
  absl::StatusOr<std::vector<mysql::SnapshotRow>> snaps =
      store.ListSnapshots(/*all=*/false);
  if (!snaps.ok()) return Note(snaps.status());
  response->set_epoch(epoch->epoch);
  response->set_epoch_owner(epoch->owner);
  response->set_durable_seq(epoch->durable_seq);
  response->set_first_seq(bounds->first_seq);
  response->set_log_records(
      bounds->first_seq == 0 ? 0 : bounds->last_seq - bounds->first_seq + 1);
  for (const mysql::SnapshotRow& s : *snaps) {
    vitrage::v1::SnapshotSummary* sum = response->add_snapshots();
    sum->set_snapshot_id(s.snapshot_id);
    sum->set_seq(s.seq);
    sum->set_epoch(s.epoch);
    sum->set_stored_bytes(s.stored_bytes);
    sum->set_age_seconds(s.age_seconds);
    vitrage::v1::SnapshotHeader header;
    if (header.ParseFromString(s.header)) {
      sum->set_vertex_count(header.vertex_count());
      sum->set_edge_count(header.edge_count());
      sum->set_from_standby(header.from_standby());
    }
  }
  response->set_database_reachable(true);
  return absl::OkStatus();
}

}  // namespace vitrage::persistor
