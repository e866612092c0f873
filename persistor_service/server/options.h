// The persistor's settings (vitrage.conf [persistor], [persistency],
// [limits]; docs/configuration.md), shared by the rooms of server/.
#ifndef VITRAGE_PERSISTOR_SERVICE_SERVER_OPTIONS_H_
#define VITRAGE_PERSISTOR_SERVICE_SERVER_OPTIONS_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "persistor_service/mysql/connection.h"

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

}  // namespace vitrage::persistor

#endif  // VITRAGE_PERSISTOR_SERVICE_SERVER_OPTIONS_H_
