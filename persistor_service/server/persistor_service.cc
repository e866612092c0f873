#include "persistor_service/server/persistor_service.h"

#include <glog/logging.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/grpc_util.h"
#include "common/metrics.h"
#include "common/status_macros.h"
#include "persistor_service/mysql/store.h"
#include "persistor_service/server/append_stream.h"
#include "persistor_service/server/db_errors.h"

namespace vitrage::persistor {
namespace {

// An Append stream refused before start-up finished.
class RejectedStream : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  explicit RejectedStream(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
};

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

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
      writer_(&pool_, LogWriter::Options{options_.max_batch_bytes}),
      read_streams_(ReadStreams::Options{std::max(1, options_.max_read_streams),
                                         options_.stream_stall_timeout}),
      log_reader_(&pool_, &writer_, &shutting_down_),
      snapshots_(&pool_, &options_, &shutting_down_, [this] { retention_.Wake(); }),
      retention_(&pool_, &options_, &snapshots_),
      health_(&pool_) {}

PersistorService::~PersistorService() { Stop(); }

absl::StatusOr<std::unique_ptr<PersistorService>> PersistorService::Create(
    PersistorOptions options) {
  if (options.instance.empty()) {
    options.instance = absl::StrCat(HostName(), ":", getpid());
  }
  std::unique_ptr<PersistorService> service(new PersistorService(std::move(options)));
  RETURN_IF_ERROR(service->Init());
  return service;
}

std::unique_ptr<PersistorService> PersistorService::StartInBackground(
    PersistorOptions options, std::function<void(const absl::Status&)> on_fatal) {
  if (options.instance.empty()) {
    options.instance = absl::StrCat(HostName(), ":", getpid());
  }
  std::unique_ptr<PersistorService> service(new PersistorService(std::move(options)));
  PersistorService* self = service.get();
  service->init_thread_ =
      std::thread([self, on_fatal = std::move(on_fatal)] { self->InitLoop(on_fatal); });
  return service;
}

void PersistorService::InitLoop(std::function<void(const absl::Status&)> on_fatal) {
  const std::string url = options_.database.url.Redacted();
  int failures = 0;
  absl::Time first_failure = absl::InfinitePast();
  while (true) {
    absl::Status s = Init();
    // Back: the pool logs "is reachable again after T" (one line).
    if (s.ok()) return;
    {
      std::lock_guard<std::mutex> lock(init_mu_);
      if (init_stop_) return;
    }
    if (s.code() != absl::StatusCode::kUnavailable) {
      LOG(ERROR) << "cannot start: " << s.message();
      if (on_fatal) on_fatal(s);
      return;
    }
    // A connect refused by the pool's backoff is not an attempt.
    const bool refused = absl::StartsWith(s.message(), "database unreachable (next reconnect");
    if (!refused) {
      if (failures++ == 0) first_failure = absl::Now();
      const absl::Duration next = pool_.next_attempt_in();
      // The pool logs the first failure itself ("is unreachable,
      // reconnecting with backoff"): one line per attempt either way.
      if (failures > 1 || pool_.reachable()) {
        LOG(WARNING) << "database " << url << " unreachable (attempt " << failures << ", for "
                     << absl::FormatDuration(
                            absl::Trunc(absl::Now() - first_failure, absl::Milliseconds(100)))
                     << "): " << s.message() << "; next attempt in "
                     << absl::FormatDuration(absl::Trunc(next, absl::Milliseconds(1)))
                     << "; serving status only (health NOT_SERVING) until then";
      }
    }
    std::unique_lock<std::mutex> lock(init_mu_);
    const absl::Duration wait =
        std::max(pool_.next_attempt_in() + absl::Milliseconds(5), absl::Milliseconds(20));
    if (init_cv_.wait_for(lock, absl::ToChronoMilliseconds(wait), [&] { return init_stop_; })) {
      return;
    }
  }
}

grpc::Status PersistorService::CheckReady(const char* method) const {
  if (ready_.load()) return grpc::Status::OK;
  const absl::Time since = pool_.unreachable_since();
  std::string error = pool_.last_error();
  return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                      absl::StrCat(method, ": vitrage-persistor has not reached its database ",
                                   options_.database.url.Redacted(), " yet",
                                   since == absl::InfinitePast()
                                       ? std::string()
                                       : absl::StrCat(" (unreachable since ", Rfc3339(since), ")"),
                                   error.empty() ? std::string() : absl::StrCat(": ", error)));
}

void PersistorService::ExportMetrics() {
  namespace m = vitrage::metrics;
  auto& reachable =
      m::Gauge("vitrage_persistor_database_reachable", "1 when the database answers, else 0");
  auto& unreachable_seconds = m::Gauge("vitrage_persistor_database_unreachable_seconds",
                                       "Seconds the database has been unreachable (0: reachable)");
  auto& ready = m::Gauge("vitrage_persistor_ready",
                         "1 once the persistor reached its database and prepared the schema");
  auto& epoch = m::Gauge("vitrage_persistor_epoch", "Current writer epoch (as last seen)");
  auto& durable = m::Gauge("vitrage_persistor_durable_seq", "Highest committed seq (as last seen)");
  m::AddRefresher([this, &reachable, &unreachable_seconds, &ready, &epoch, &durable] {
    const bool is_ready = ready_.load();
    const absl::Time since = pool_.unreachable_since();
    reachable.Set(is_ready && pool_.reachable() ? 1 : 0);
    unreachable_seconds.Set(
        since == absl::InfinitePast() ? 0 : absl::ToDoubleSeconds(absl::Now() - since));
    ready.Set(is_ready ? 1 : 0);
    epoch.Set(static_cast<double>(writer_.cached_epoch()));
    durable.Set(static_cast<double>(writer_.cached_durable_seq()));
  });
}

absl::Status PersistorService::Init() {
  ASSIGN_OR_RETURN(mysql::ConnectionPool::Lease conn, pool_.Acquire());
  mysql::Store store(conn.get());
  ASSIGN_OR_RETURN(int before, store.Migrate());
  if (before == mysql::kSchemaVersion) {
    LOG(INFO) << "database " << options_.database.url.Redacted() << ": schema version " << before;
  } else {
    LOG(INFO) << "database " << options_.database.url.Redacted()
              << ": schema migrated from version " << before << " to " << mysql::kSchemaVersion;
  }
  ASSIGN_OR_RETURN(mysql::EpochRow epoch, store.ReadEpoch());
  LOG(INFO) << "current epoch " << epoch.epoch << " (owner "
            << (epoch.owner.empty() ? "none" : epoch.owner) << "), durable seq "
            << epoch.durable_seq;

  RETURN_IF_ERROR(snapshots_.DeleteLeftovers(store, HostName()));

  std::lock_guard<std::mutex> lock(init_mu_);
  if (init_stop_) return absl::CancelledError("shut down during start-up");
  writer_.Start();
  health_.Start();
  retention_.Start();
  ready_.store(true);
  if (server_ != nullptr) health_.AttachServer(server_);
  return absl::OkStatus();
}

void PersistorService::AttachServer(grpc::Server* server) {
  std::lock_guard<std::mutex> lock(init_mu_);
  server_ = server;
  if (ready_.load()) {
    health_.AttachServer(server);
  } else if (server != nullptr && server->GetHealthCheckService() != nullptr) {
    server->GetHealthCheckService()->SetServingStatus(false);
  }
}

void PersistorService::BeginShutdown() {
  {
    std::lock_guard<std::mutex> lock(init_mu_);
    init_stop_ = true;
    server_ = nullptr;
    init_cv_.notify_all();
  }
  if (shutting_down_.exchange(true)) return;
  LOG(INFO) << "shutting down: finishing the journal commit in flight";
  writer_.Stop();
}

void PersistorService::Stop() {
  BeginShutdown();
  if (init_thread_.joinable()) init_thread_.join();
  health_.Stop();
  retention_.Stop();
}

absl::Status PersistorService::RunRetentionOnce() { return retention_.RunOnce(); }

grpc::Status PersistorService::AcquireEpoch(grpc::ServerContext* context,
                                            const vitrage::v1::AcquireEpochRequest* request,
                                            vitrage::v1::AcquireEpochResponse* response) {
  if (shutting_down_.load()) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "vitrage-persistor is shutting down");
  }
  if (grpc::Status ready = CheckReady("AcquireEpoch"); !ready.ok()) return ready;
  std::string owner = request->owner().empty() ? context->peer() : request->owner();
  absl::StatusOr<mysql::AcquiredEpoch> acquired =
      RetryAborted([&]() -> absl::StatusOr<mysql::AcquiredEpoch> {
        ASSIGN_OR_RETURN(mysql::ConnectionPool::Lease conn, pool_.Acquire());
        mysql::Store store(conn.get());
        return store.AcquireEpoch(owner);
      });
  writer_.InvalidateState();
  if (!acquired.ok()) return ToGrpcStatus(NoteFailure(&pool_, acquired.status()));
  LOG(INFO) << "epoch " << acquired->epoch << " acquired by " << owner << ", previous "
            << acquired->previous_epoch
            << (acquired->previous_owner.empty()
                    ? std::string()
                    : absl::StrCat(" (", acquired->previous_owner, ")"))
            << "; durable seq " << acquired->durable_seq;
  if (acquired->dropped_records > 0) {
    LOG(ERROR) << "epoch " << acquired->epoch << ": the log held " << acquired->dropped_records
               << " records after the durable seq " << acquired->durable_seq
               << " (never durable: no graph acked them); they were deleted";
  }
  response->set_epoch(acquired->epoch);
  response->set_previous_epoch(acquired->previous_epoch);
  response->set_durable_seq(acquired->durable_seq);
  return grpc::Status::OK;
}

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* PersistorService::Append(
    grpc::CallbackServerContext* context) {
  if (grpc::Status ready = CheckReady("Append"); !ready.ok()) return new RejectedStream(ready);
  return StartAppendStream(
      context, &writer_, &shutting_down_,
      AppendStreamLimits{std::max<size_t>(4 * options_.max_batch_bytes, 32 << 20),
                         options_.max_records_per_append, options_.max_message_bytes});
}

grpc::Status PersistorService::PutSnapshot(
    grpc::ServerContext* context, grpc::ServerReader<vitrage::v1::PutSnapshotRequest>* reader,
    vitrage::v1::PutSnapshotResponse* response) {
  if (grpc::Status ready = CheckReady("PutSnapshot"); !ready.ok()) return ready;
  return ToGrpcStatus(snapshots_.Put(context, reader, response));
}

grpc::Status PersistorService::GetLatestSnapshot(
    grpc::ServerContext* context, const vitrage::v1::GetLatestSnapshotRequest* request,
    grpc::ServerWriter<vitrage::v1::GetLatestSnapshotResponse>* writer) {
  if (grpc::Status ready = CheckReady("GetLatestSnapshot"); !ready.ok()) return ready;
  absl::StatusOr<std::unique_ptr<ReadStreams::Ticket>> stream =
      read_streams_.Admit(context, "GetLatestSnapshot");
  if (!stream.ok()) return ToGrpcStatus(stream.status());
  absl::Status s = snapshots_.GetLatest(*request, **stream, writer);
  if (s.code() == absl::StatusCode::kDataLoss) {
    LOG(ERROR) << "GetLatestSnapshot: " << s.message();
  }
  return ToGrpcStatus(s);
}

grpc::Status PersistorService::ReadLog(grpc::ServerContext* context,
                                       const vitrage::v1::ReadLogRequest* request,
                                       grpc::ServerWriter<vitrage::v1::ReadLogResponse>* writer) {
  if (grpc::Status ready = CheckReady("ReadLog"); !ready.ok()) return ready;
  absl::StatusOr<std::unique_ptr<ReadStreams::Ticket>> stream =
      read_streams_.Admit(context, "ReadLog");
  if (!stream.ok()) return ToGrpcStatus(stream.status());
  absl::Status s = log_reader_.Read(context, *request, **stream, writer);
  if (s.code() == absl::StatusCode::kDataLoss) {
    LOG(ERROR) << "ReadLog: " << s.message();
  }
  return ToGrpcStatus(s);
}

grpc::Status PersistorService::GetStatus(grpc::ServerContext* /*context*/,
                                         const vitrage::v1::PersistorStatusRequest* /*request*/,
                                         vitrage::v1::PersistorStatus* response) {
  const bool ready = ready_.load();
  if (ready) {
    FillStatus(&pool_, writer_, response);
  } else {
    // Before start-up finished the store is not read: it may have no
    // schema yet.
    // No error yet: the first attempt is still under way.
    response->set_database_reachable(false);
    response->set_last_database_error(pool_.last_error());
  }
  response->set_ready(ready);
  const absl::Time since = pool_.unreachable_since();
  if (!response->database_reachable() && since != absl::InfinitePast()) {
    response->set_database_unreachable_since(Rfc3339(since));
    response->set_database_unreachable_seconds(absl::ToDoubleSeconds(absl::Now() - since));
  }
  return grpc::Status::OK;
}

}  // namespace vitrage::persistor
