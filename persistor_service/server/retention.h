// Retention: keeps the newest snapshots_to_keep complete snapshots (older
// ones are hidden, then deleted 16 chunks at a time), deletes incomplete
// snapshots idle for abandoned_snapshot_age and chunks left without a row,
// and prunes the log records that no kept snapshot needs once they are
// older than log_retention, 10,000 rows per transaction. README.md, "Life
// of a record" step 7 and "Life of a snapshot" step 6.
#ifndef VITRAGE_PERSISTOR_SERVICE_SERVER_RETENTION_H_
#define VITRAGE_PERSISTOR_SERVICE_SERVER_RETENTION_H_

#include <condition_variable>
#include <mutex>
#include <thread>

#include "absl/status/status.h"
#include "persistor_service/mysql/pool.h"
#include "persistor_service/server/options.h"
#include "persistor_service/server/snapshots.h"

namespace vitrage::persistor {

class Retention {
 public:
  // REQUIRES: pool, options and snapshots outlive this object.
  Retention(mysql::ConnectionPool* pool, const PersistorOptions* options,
            const Snapshots* snapshots)
      : pool_(pool), options_(options), snapshots_(snapshots) {}
  ~Retention();  // Stop()

  // Starts the thread: a pass every retention_interval, and when woken.
  void Start();
  // Asks for a pass now (after a snapshot publish).
  void Wake();
  // Stops the thread, after the pass in progress.
  void Stop();

  // One pass, on the caller's thread (one pass at a time). The first
  // database error ends it; the next pass carries on.
  absl::Status RunOnce();

 private:
  void Loop();

  mysql::ConnectionPool* const pool_;
  const PersistorOptions* const options_;
  const Snapshots* const snapshots_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool wanted_ = false;
  std::thread thread_;
  std::mutex pass_mu_;  // one pass at a time
};

}  // namespace vitrage::persistor

#endif  // VITRAGE_PERSISTOR_SERVICE_SERVER_RETENTION_H_
