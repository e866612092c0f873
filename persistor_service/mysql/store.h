// The persistor's tables and every statement run on them. Nothing above
// this layer sees SQL. Schema (version 3; the migrations: Migrations() in store.cc):
//
//   schema_version  (id=1, version, updated_at)
//   writer_epoch    (id=1, epoch, owner, acquired_at, durable_seq,
//                    write_count)            the fencing row; durable_seq is
//                                            the highest committed log seq
//   graph_log       (seq PK, last_seq, epoch, crc32c, record LONGBLOB,
//                    stored_at)              one record or a pack of
//                                            seq..last_seq (log_pack.h)
//   graph_snapshots (snapshot_id PK, seq, epoch, format_version,
//                    header LONGBLOB, header_crc32c, chunk_count,
//                    stored_bytes, uncompressed_bytes, complete, writer,
//                    created_at, last_write_at, published_at)
//   snapshot_chunks (snapshot_id, chunk_index) PK, crc32c,
//                    uncompressed_size, data LONGBLOB
//
// Every write that must be fenced (log append, snapshot publish) starts
// with an UPDATE of the writer_epoch row guarded by `epoch = E`, inside the
// same transaction: a stale writer changes 0 rows and rolls back, and on
// Galera two racing writers conflict on that row (1213 for the loser).
//
// A Store wraps one Connection; not thread-safe.
#ifndef VITRAGE_PERSISTOR_SERVICE_MYSQL_STORE_H_
#define VITRAGE_PERSISTOR_SERVICE_MYSQL_STORE_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "persistor_service/mysql/connection.h"
#include "persistor_service/mysql/log_pack.h"

namespace vitrage::persistor::mysql {

// The schema version this binary creates and expects.
inline constexpr int kSchemaVersion = 3;

struct EpochRow {
  uint64_t epoch = 0;
  std::string owner;
  uint64_t durable_seq = 0;
};

struct AcquiredEpoch {
  uint64_t epoch = 0;
  uint64_t previous_epoch = 0;
  std::string previous_owner;
  uint64_t durable_seq = 0;
  uint64_t dropped_records = 0;  // records after durable_seq, deleted
};

struct LogBounds {
  uint64_t first_seq = 0;  // 0 when the log is empty
  uint64_t last_seq = 0;
};

struct SnapshotRow {
  uint64_t snapshot_id = 0;
  uint64_t seq = 0;
  uint64_t epoch = 0;
  uint32_t chunk_count = 0;
  uint64_t stored_bytes = 0;
  std::string header;  // serialized vitrage.v1.SnapshotHeader
  uint32_t header_crc32c = 0;
  bool complete = false;
  std::string writer;
  double age_seconds = 0;   // since published (or created if incomplete)
  double idle_seconds = 0;  // since the last chunk write
};

struct ChunkRow {
  uint32_t index = 0;
  uint32_t crc32c = 0;  // as sent by the writer (verified on arrival)
  uint64_t uncompressed_size = 0;
  std::string data;
};

enum class GuardResult {
  kDone,          // committed
  kStaleEpoch,    // writer_epoch.epoch != the given epoch; rolled back
  kDurableMoved,  // durable_seq != the expected one; rolled back
};

class Store {
 public:
  explicit Store(Connection* conn) : conn_(conn) {}

  // Creates the tables or migrates them to kSchemaVersion. Idempotent; safe
  // when two persistors start at once. Returns the version found before.
  absl::StatusOr<int> Migrate();

  absl::StatusOr<EpochRow> ReadEpoch();
  // One transaction: epoch = epoch + 1, owner, acquired_at = now; log
  // records after the durable seq (never durable) are deleted and counted
  // in dropped_records.
  absl::StatusOr<AcquiredEpoch> AcquireEpoch(const std::string& owner);

  // One transaction: inserts `rows` (consecutive, the first =
  // expected_durable + 1, else INVALID_ARGUMENT) as packs (log_pack.h), one
  // prepared INSERT each, then the fence: sets durable_seq if the
  // current epoch is `epoch` and the durable seq is `expected_durable`
  // (waiting for the row lock of an uncommitted predecessor), then COMMITs.
  // `before_fence` runs just before the fencing UPDATE, `after_fence` just
  // after it (both may be empty).
  // REQUIRES: rows non-empty.
  absl::StatusOr<GuardResult> AppendLog(uint64_t epoch, uint64_t expected_durable,
                                        const std::vector<const LogRow*>& rows,
                                        const std::function<void()>& before_fence = nullptr,
                                        const std::function<void()>& after_fence = nullptr);

  // Records with from <= seq <= to, in seq order, at most `max_rows`,
  // unpacked; a damaged pack is DATA_LOSS (log_pack.h, DecodeRow). A
  // one-record row's CRC is returned as stored (the caller checks it).
  absl::StatusOr<std::vector<LogRow>> ReadLog(uint64_t from_seq, uint64_t to_seq, size_t max_rows);
  // The first row's seq and the last row's last record.
  absl::StatusOr<LogBounds> ReadLogBounds();

  // Starts a read-only transaction with a consistent snapshot (so a long
  // read is not disturbed by concurrent pruning). End it with EndRead().
  absl::Status BeginRead();
  void EndRead();

  // Snapshots. CreateSnapshot inserts an incomplete (invisible) row.
  absl::StatusOr<uint64_t> CreateSnapshot(uint64_t seq, uint64_t epoch, uint32_t format_version,
                                          uint32_t chunk_count, uint64_t uncompressed_bytes,
                                          const std::string& header, uint32_t header_crc32c,
                                          const std::string& writer);
  // Inserts chunks (autocommit, one statement) and touches last_write_at.
  absl::Status PutChunks(uint64_t snapshot_id, const std::vector<ChunkRow>& chunks);
  // One transaction: fences on `epoch`, checks seq <= durable_seq and that
  // all chunk_count chunks are stored, marks the snapshot complete.
  // FAILED_PRECONDITION / DATA_LOSS with a message on a failed check.
  absl::StatusOr<GuardResult> PublishSnapshot(uint64_t snapshot_id, uint64_t epoch,
                                              uint64_t* stored_bytes);
  // Hot standby snapshots (SnapshotHeader.from_standby): the checks that
  // make a snapshot from a non-writer safe, without touching the
  // writer_epoch row (so they never conflict with, delay or fence the
  // writer): `epoch` <= the current epoch, 1 <= seq <= durable_seq, the log
  // record at `seq` is stored with `epoch`, and `seq` is above every
  // complete snapshot's. FAILED_PRECONDITION naming the failed check.
  // (server/snapshots.cc, DoPut, explains why these suffice.)
  absl::Status CheckStandbySnapshot(uint64_t seq, uint64_t epoch);
  // One transaction: CheckStandbySnapshot for the snapshot's seq, all
  // chunks stored, marks it complete.
  absl::Status PublishStandbySnapshot(uint64_t snapshot_id, uint64_t epoch, uint64_t* stored_bytes);
  // Deletes a snapshot and its chunks, in small transactions.
  absl::Status DeleteSnapshot(uint64_t snapshot_id);
  // The cleanup of a snapshot believed unpublished (a failed PutSnapshot,
  // one abandoned by a dead persistor). One transaction locks its row (as
  // publishing does), and deletes it only if it is not complete: a snapshot
  // whose publish committed, even if nobody heard of it, is kept, and is
  // returned. Then its chunks go, in small transactions (chunks left by a
  // crash in between are swept by DeleteOrphanChunks). nullopt: deleted, or
  // not there.
  absl::StatusOr<std::optional<SnapshotRow>> DeleteUnpublishedSnapshot(uint64_t snapshot_id);
  // Deletes the chunks of at most `max_snapshots` snapshots whose row is
  // gone; returns how many snapshots it cleaned.
  absl::StatusOr<uint64_t> DeleteOrphanChunks(uint64_t max_snapshots);
  // True while snapshot `snapshot_id` is published and not retired.
  absl::StatusOr<bool> SnapshotPublished(uint64_t snapshot_id);
  // Complete snapshots newest first (or every snapshot when `all`).
  absl::StatusOr<std::vector<SnapshotRow>> ListSnapshots(bool all);
  // The newest complete snapshot with id < older_than_id (0: no bound).
  absl::StatusOr<std::optional<SnapshotRow>> LatestSnapshot(uint64_t older_than_id);
  absl::StatusOr<std::vector<ChunkRow>> ReadChunks(uint64_t snapshot_id, uint32_t from_index,
                                                   size_t max_rows);

  // Deletes the rows whose records all have seq <= upto_seq, stored more
  // than `age` ago, at most `limit` rows (in statements of at most 500
  // rows, each its own transaction). Returns how many rows were deleted.
  // Takes row locks on those rows only, none on the log's tail (store.cc
  // says why).
  absl::StatusOr<uint64_t> PruneLog(uint64_t upto_seq, absl::Duration age, uint64_t limit);

  Connection* conn() const { return conn_; }

 private:
  Connection* conn_;
};

}  // namespace vitrage::persistor::mysql

#endif  // VITRAGE_PERSISTOR_SERVICE_MYSQL_STORE_H_
