// The vitrage.v1.Persistor gRPC service: start-up (schema migration),
// AcquireEpoch and shutdown here; each other concern is a room of its own
// in server/, and the RPC methods delegate to it:
//   append_stream  Append: one stream's batches to the writer, acks back
//   log_writer     the group-commit journal writer (fenced by epoch)
//   log_reader     ReadLog, including follow (hot standby)
//   snapshots      PutSnapshot (publish, cleanup), GetLatestSnapshot
//   retention      snapshots kept, abandoned ones deleted, the log pruned
//   health         GetStatus and the database health monitor
//   read_streams   admission and stall detection of the read streams
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
#include <thread>

#include "absl/status/statusor.h"
#include "persistor_service/mysql/pool.h"
#include "persistor_service/server/health.h"
#include "persistor_service/server/log_reader.h"
#include "persistor_service/server/log_writer.h"
#include "persistor_service/server/options.h"
#include "persistor_service/server/read_streams.h"
#include "persistor_service/server/retention.h"
#include "persistor_service/server/snapshots.h"
#include "vitrage/v1/persistor.grpc.pb.h"

namespace vitrage::persistor {

class PersistorService final
    : public vitrage::v1::Persistor::WithRawCallbackMethod_Append<vitrage::v1::Persistor::Service> {
 public:
  // Connects, creates/migrates the schema, deletes snapshots left incomplete
  // by a dead persistor, starts the writer, monitor and retention threads.
  // UNAVAILABLE when the database cannot be reached (the caller retries).
  static absl::StatusOr<std::unique_ptr<PersistorService>> Create(PersistorOptions options);
  // The same start-up on a thread of its own, retried with backoff (one log
  // line per attempt) while the database cannot be reached: the service can
  // be served at once. Until it is ready, GetStatus answers
  // (database_reachable=false, since when, the last error, ready=false),
  // health is NOT_SERVING and every other call gets UNAVAILABLE.
  // `on_fatal` is called (from that thread) with an error that no retry
  // mends (not UNAVAILABLE); the process should exit.
  static std::unique_ptr<PersistorService> StartInBackground(
      PersistorOptions options, std::function<void(const absl::Status&)> on_fatal);
  ~PersistorService() override;

  // True once start-up finished (Create, or the background start-up).
  bool ready() const { return ready_.load(); }
  // Registers gauges (common/metrics.h): database reachability and since
  // when, ready, epoch and durable seq. Call at most once.
  void ExportMetrics();

  // Lets the monitor drive the server's health service (NOT_SERVING until
  // ready).
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
  grpc::Status PutSnapshot(grpc::ServerContext* context,
                           grpc::ServerReader<vitrage::v1::PutSnapshotRequest>* reader,
                           vitrage::v1::PutSnapshotResponse* response) override;
  grpc::Status GetLatestSnapshot(
      grpc::ServerContext* context, const vitrage::v1::GetLatestSnapshotRequest* request,
      grpc::ServerWriter<vitrage::v1::GetLatestSnapshotResponse>* writer) override;
  grpc::Status ReadLog(grpc::ServerContext* context, const vitrage::v1::ReadLogRequest* request,
                       grpc::ServerWriter<vitrage::v1::ReadLogResponse>* writer) override;
  grpc::Status GetStatus(grpc::ServerContext* context,
                         const vitrage::v1::PersistorStatusRequest* request,
                         vitrage::v1::PersistorStatus* response) override;

 private:
  explicit PersistorService(PersistorOptions options);
  // Schema, leftovers, then the writer, monitor and retention threads.
  absl::Status Init();
  // The background start-up's loop.
  void InitLoop(std::function<void(const absl::Status&)> on_fatal);
  // UNAVAILABLE (naming the database's state) until ready.
  grpc::Status CheckReady(const char* method) const;

  const PersistorOptions options_;
  mysql::ConnectionPool pool_;
  LogWriter writer_;
  ReadStreams read_streams_;
  std::atomic<bool> shutting_down_{false};
  LogReader log_reader_;
  Snapshots snapshots_;
  Retention retention_;
  HealthMonitor health_;

  std::atomic<bool> ready_{false};
  std::mutex init_mu_;
  std::condition_variable init_cv_;
  bool init_stop_ = false;          // guarded by init_mu_
  grpc::Server* server_ = nullptr;  // guarded by init_mu_
  std::thread init_thread_;
};

}  // namespace vitrage::persistor

#endif  // VITRAGE_PERSISTOR_SERVICE_SERVER_PERSISTOR_SERVICE_H_
