#include "persistor_service/server/health.h"

#include <glog/logging.h>
#include <grpcpp/health_check_service_interface.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "persistor_service/mysql/connection.h"
#include "persistor_service/mysql/store.h"
#include "persistor_service/server/db_errors.h"

namespace vitrage::persistor {
namespace {

// GetStatus from the database, in one read transaction.
absl::Status ReadStatus(mysql::ConnectionPool* pool, vitrage::v1::PersistorStatus* response) {
  absl::StatusOr<mysql::ConnectionPool::Lease> conn = AcquireRead(pool);
  if (!conn.ok()) return conn.status();
  mysql::Store store(conn->get());
  if (absl::Status s = store.BeginRead(); !s.ok()) return NoteFailure(pool, s);
  struct EndRead {
    mysql::Store* store;
    ~EndRead() { store->EndRead(); }
  } end_read{&store};
  absl::StatusOr<mysql::EpochRow> epoch = store.ReadEpoch();
  if (!epoch.ok()) return NoteFailure(pool, epoch.status());
  absl::StatusOr<mysql::LogBounds> bounds = store.ReadLogBounds();
  if (!bounds.ok()) return NoteFailure(pool, bounds.status());
  absl::StatusOr<std::vector<mysql::SnapshotRow>> snaps = store.ListSnapshots(/*all=*/false);
  if (!snaps.ok()) return NoteFailure(pool, snaps.status());
  response->set_epoch(epoch->epoch);
  response->set_epoch_owner(epoch->owner);
  response->set_durable_seq(epoch->durable_seq);
  response->set_first_seq(bounds->first_seq);
  response->set_log_records(bounds->first_seq == 0 ? 0 : bounds->last_seq - bounds->first_seq + 1);
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

}  // namespace

HealthMonitor::~HealthMonitor() { Stop(); }

void HealthMonitor::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void HealthMonitor::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    server_ = nullptr;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

void HealthMonitor::AttachServer(grpc::Server* server) {
  std::lock_guard<std::mutex> lock(mu_);
  server_ = server;
  if (server_ != nullptr && server_->GetHealthCheckService() != nullptr) {
    bool serving = pool_->reachable();
    server_->GetHealthCheckService()->SetServingStatus(serving);
  }
}

void HealthMonitor::SetServing(bool serving) {
  std::lock_guard<std::mutex> lock(mu_);
  if (server_ != nullptr && server_->GetHealthCheckService() != nullptr) {
    server_->GetHealthCheckService()->SetServingStatus(serving);
  }
}

void HealthMonitor::Loop() {
  std::unique_ptr<mysql::Connection> conn;
  bool serving = pool_->reachable();
  while (true) {
    absl::Duration wait = serving ? absl::Seconds(1) : absl::Milliseconds(100);
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (cv_.wait_for(lock, absl::ToChronoMilliseconds(wait), [&] { return stop_; })) {
        return;
      }
    }
    if (conn == nullptr || conn->broken()) {
      conn.reset();
      absl::StatusOr<std::unique_ptr<mysql::Connection>> c = pool_->Connect();
      if (c.ok()) conn = std::move(*c);
    }
    if (conn != nullptr) {
      absl::Status s = conn->Ping();
      if (s.ok()) {
        pool_->ReportSuccess();
      } else {
        pool_->ReportFailure(s);
        conn.reset();
      }
    }
    bool now = pool_->reachable();
    if (now != serving) {
      LOG(INFO) << "health: " << (now ? "SERVING" : "NOT_SERVING") << " (database "
                << (now ? "reachable" : "unreachable") << ")";
      serving = now;
    }
    SetServing(now);
  }
}

void FillStatus(mysql::ConnectionPool* pool, const LogWriter& writer,
                vitrage::v1::PersistorStatus* response) {
  absl::Status s = ReadStatus(pool, response);
  if (!s.ok()) {
    // The status of an unreachable database is an answer, not an error.
    response->Clear();
    response->set_epoch(writer.cached_epoch());
    response->set_durable_seq(writer.cached_durable_seq());
    response->set_database_reachable(false);
    response->set_last_database_error(std::string(s.message()));
  }
}

}  // namespace vitrage::persistor
