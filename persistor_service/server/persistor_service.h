// The vitrage.v1.Persistor gRPC service: the group-commit journal writer,
// snapshots, retention, and the database health monitor.
//
// Threads: gRPC's (sync handlers; Append is a callback reactor so that an
// error can end the stream while the client is idle), the LogWriter
// thread, a monitor thread (pings the database, sets the health service
// status: SERVING when reachable) and a retention thread.
#ifndef VITRAGE_PERSISTOR_SERVICE_SERVER_PERSISTOR_SERVICE_H_
#define VITRAGE_PERSISTOR_SERVICE_SERVER_PERSISTOR_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "persistor_service/mysql/pool.h"
#include "persistor_service/server/log_writer.h"
#include "persistor_service/server/read_streams.h"
#include "vitrage/v1/persistor.grpc.pb.h"

namespace vitrage::persistor {

struct PersistorOptions {
  mysql::ConnectOptions database;
  // Largest group commit ([persistor] max_batch_bytes).
  size_t max_batch_bytes = 8 << 20;
  // Records in one AppendRequest ([limits] max_records_per_append).
  int max_records_per_append = 100'000;
  // gRPC's receive limit per message (give StartServer the same).
  int max_message_bytes = 8 << 20;
  // Log records that no kept snapshot needs are pruned once they are this
  // old ([persistency] log_retention).
  absl::Duration log_retention = absl::Hours(1);
  // Complete snapshots kept ([persistency] snapshots_to_keep).
  int snapshots_to_keep = 2;
  // How often retention runs (also right after each snapshot publish).
  absl::Duration retention_interval = absl::Seconds(30);
  // An incomplete snapshot with no chunk written for this long is deleted.
  absl::Duration abandoned_snapshot_age = absl::Minutes(10);
  // This instance, "host:pid": stored with epochs and snapshots.
  std::string instance;
  // Database connections this persistor opens at most ([persistor]
  // max_db_connections, at least kMinDbConnections): kOwnDbConnections
  // of its own (the log writer's three, the health monitor's),
  // kWriteDbConnections for AcquireEpoch, snapshot writes and retention,
  // the rest for reads (ReadLog, GetLatestSnapshot, GetStatus).
  int max_db_connections = 20;
  // ReadLog + GetLatestSnapshot streams open at once per caller role
  // ([persistor] max_read_streams); the excess gets RESOURCE_EXHAUSTED.
  int max_read_streams = 32;
  // A read stream whose client reads nothing for this long is ended
  // ([persistor] stream_stall_timeout).
  absl::Duration stream_stall_timeout = absl::Seconds(30);
  // Fault injection, for tests only: runs right after a snapshot's publish
  // committed; an error it returns is taken as the publish's own (a COMMIT
  // whose reply was lost).
  std::function<absl::Status(uint64_t snapshot_id)> after_publish_for_test;
};

inline constexpr int kOwnDbConnections = 4;
inline constexpr int kWriteDbConnections = 4;
inline constexpr int kMinDbConnections = kOwnDbConnections + kWriteDbConnections + 2;

class PersistorService final
    : public vitrage::v1::Persistor::WithRawCallbackMethod_Append<
          vitrage::v1::Persistor::Service> {
 public:
  // Connects, creates/migrates the schema, deletes snapshots left incomplete
  // by a dead persistor, starts the writer, monitor and retention threads.
  // UNAVAILABLE when the database cannot be reached (the caller retries).
  static absl::StatusOr<std::unique_ptr<PersistorService>> Create(
      PersistorOptions options);
  ~PersistorService() override;

  // Lets the monitor drive the server's health service.
  void AttachServer(grpc::Server* server);
  // Graceful stop, part 1: new Append batches get UNAVAILABLE; the commit
  // in flight finishes and is acked. Call before grpc::Server::Shutdown.
  void BeginShutdown();
  // Part 2 (after the server shut down): stops the threads.
  void Stop();

  // One retention pass (also run periodically). For tests and operators.
  absl::Status RunRetentionOnce();
  // Read streams open now, and ended as stalled so far (tests, operators).
  int open_read_streams() const { return read_streams_.open(); }
  uint64_t stalled_read_streams() const { return read_streams_.stalled_total(); }

  grpc::Status AcquireEpoch(grpc::ServerContext* context,
                            const vitrage::v1::AcquireEpochRequest* request,
                            vitrage::v1::AcquireEpochResponse* response) override;
  // Raw (ByteBuffer) method: the requests are read as
  // vitrage.wire.EncodedAppendRequest (wire-identical to AppendRequest), so
  // each record's bytes are stored as they arrived, without a re-encode.
  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* Append(
      grpc::CallbackServerContext* context) override;
  grpc::Status PutSnapshot(
      grpc::ServerContext* context,
      grpc::ServerReader<vitrage::v1::PutSnapshotRequest>* reader,
      vitrage::v1::PutSnapshotResponse* response) override;
  grpc::Status GetLatestSnapshot(
      grpc::ServerContext* context,
      const vitrage::v1::GetLatestSnapshotRequest* request,
      grpc::ServerWriter<vitrage::v1::GetLatestSnapshotResponse>* writer)
      override;
  grpc::Status ReadLog(grpc::ServerContext* context,
                       const vitrage::v1::ReadLogRequest* request,
                       grpc::ServerWriter<vitrage::v1::ReadLogResponse>* writer)
      override;
  grpc::Status GetStatus(grpc::ServerContext* context,
                         const vitrage::v1::PersistorStatusRequest* request,
                         vitrage::v1::PersistorStatus* response) override;

 private:
  explicit PersistorService(PersistorOptions options);
  absl::Status Init();
  void MonitorLoop();
  void RetentionLoop();
  void SetServing(bool serving);
  // Records a database failure seen by a handler (for reachability).
  absl::Status Note(absl::Status status);
  absl::Status DoPutSnapshot(
      grpc::ServerContext* context,
      grpc::ServerReader<vitrage::v1::PutSnapshotRequest>* reader,
      vitrage::v1::PutSnapshotResponse* response, uint64_t* snapshot_id);
  absl::Status DoGetLatestSnapshot(
      const vitrage::v1::GetLatestSnapshotRequest& request, ReadStreams::Ticket& stream,
      grpc::ServerWriter<vitrage::v1::GetLatestSnapshotResponse>* writer);
  absl::Status DoReadLog(grpc::ServerContext* context,
                         const vitrage::v1::ReadLogRequest& request, ReadStreams::Ticket& stream,
                         grpc::ServerWriter<vitrage::v1::ReadLogResponse>* writer);
  // Sends the records after `after_seq` up to the durable seq (returned in
  // *durable) in batches of at most max_bytes; with `write_empty` an empty
  // response when there is nothing to send. Reads page by page, each with
  // a read connection leased only for that page.
  absl::Status ReadLogRange(uint64_t after_seq, size_t max_bytes, bool write_empty,
                            ReadStreams::Ticket& stream,
                            grpc::ServerWriter<vitrage::v1::ReadLogResponse>* writer,
                            uint64_t* durable);
  // A connection for a read (RESOURCE_EXHAUSTED / UNAVAILABLE noted).
  absl::StatusOr<mysql::ConnectionPool::Lease> AcquireRead();
  absl::Status DoGetStatus(vitrage::v1::PersistorStatus* response);

  const PersistorOptions options_;
  mysql::ConnectionPool pool_;
  LogWriter writer_;
  ReadStreams read_streams_;
  std::atomic<bool> shutting_down_{false};

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool retention_wanted_ = false;
  grpc::Server* server_ = nullptr;
  std::set<uint64_t> snapshots_in_progress_;
  std::thread monitor_;
  std::thread retention_;
  std::mutex retention_mu_;  // one retention pass at a time
};

}  // namespace vitrage::persistor

#endif  // VITRAGE_PERSISTOR_SERVICE_SERVER_PERSISTOR_SERVICE_H_
