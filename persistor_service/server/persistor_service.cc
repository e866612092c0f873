#include "persistor_service/server/persistor_service.h"

#include <glog/logging.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/grpc_util.h"
#include "common/status_macros.h"
#include "persistor_service/mysql/store.h"
#include "persistor_service/server/append_stream.h"
#include "persistor_service/server/db_errors.h"

namespace vitrage::persistor {
namespace {

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
                                         std::min<size_t>(options_.max_batch_bytes, 4 << 20)}),
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

  writer_.Start();
  health_.Start();
  retention_.Start();
  return absl::OkStatus();
}

void PersistorService::AttachServer(grpc::Server* server) { health_.AttachServer(server); }

void PersistorService::BeginShutdown() {
  if (shutting_down_.exchange(true)) return;
  LOG(INFO) << "shutting down: finishing the journal commit in flight";
  writer_.Stop();
}

void PersistorService::Stop() {
  BeginShutdown();
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
  return StartAppendStream(
      context, &writer_, &shutting_down_,
      AppendStreamLimits{std::max<size_t>(4 * options_.max_batch_bytes, 32 << 20),
                         options_.max_records_per_append, options_.max_message_bytes});
}

grpc::Status PersistorService::PutSnapshot(
    grpc::ServerContext* context, grpc::ServerReader<vitrage::v1::PutSnapshotRequest>* reader,
    vitrage::v1::PutSnapshotResponse* response) {
  return ToGrpcStatus(snapshots_.Put(context, reader, response));
}

grpc::Status PersistorService::GetLatestSnapshot(
    grpc::ServerContext* context, const vitrage::v1::GetLatestSnapshotRequest* request,
    grpc::ServerWriter<vitrage::v1::GetLatestSnapshotResponse>* writer) {
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
  FillStatus(&pool_, writer_, response);
  return grpc::Status::OK;
}

}  // namespace vitrage::persistor
