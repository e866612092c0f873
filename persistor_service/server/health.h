// Health: a monitor thread pings the database (every second while it is
// reachable, every 100 ms while not), reports the outcome to the pool and
// drives the gRPC health service of the server (SERVING while the database
// is reachable; on Galera, while the node is ready for queries). GetStatus
// answers from the database, or, when it cannot be read, with
// database_reachable=false and the error: that is an answer, not a failure.
#ifndef VITRAGE_PERSISTOR_SERVICE_SERVER_HEALTH_H_
#define VITRAGE_PERSISTOR_SERVICE_SERVER_HEALTH_H_

#include <grpcpp/grpcpp.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "persistor_service/mysql/pool.h"
#include "persistor_service/server/log_writer.h"
#include "vitrage/v1/persistor.grpc.pb.h"

namespace vitrage::persistor {

class HealthMonitor {
 public:
  // Uses one connection of its own (pool->Connect, kOwnDbConnections).
  // REQUIRES: pool outlives this object.
  explicit HealthMonitor(mysql::ConnectionPool* pool) : pool_(pool) {}
  ~HealthMonitor();  // Stop()

  void Start();
  // Lets the monitor drive `server`'s health service (nullptr: none); sets
  // its status at once.
  void AttachServer(grpc::Server* server);
  // Stops the thread and lets go of the server.
  void Stop();

 private:
  void Loop();
  void SetServing(bool serving);

  mysql::ConnectionPool* const pool_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  grpc::Server* server_ = nullptr;
  std::thread thread_;
};

// GetStatus: fills *response from the database (epoch, log bounds,
// snapshots); when that fails, with the writer's cached epoch and durable
// seq, database_reachable=false and last_database_error.
void FillStatus(mysql::ConnectionPool* pool, const LogWriter& writer,
                vitrage::v1::PersistorStatus* response);

}  // namespace vitrage::persistor

#endif  // VITRAGE_PERSISTOR_SERVICE_SERVER_HEALTH_H_
