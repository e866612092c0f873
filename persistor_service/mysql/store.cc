#include "persistor_service/mysql/store.h"

#include <cppconn/prepared_statement.h>
#include <glog/logging.h>

#include "absl/strings/str_cat.h"
#include "common/crc32c.h"
#include "common/status_macros.h"

namespace vitrage::persistor::mysql {
namespace {

struct Migration {
  int version;
  const char* description;
  std::vector<const char*> statements;  // each idempotent
};

// Ordered; never edit a released migration, append a new one.
const std::vector<Migration>& Migrations() {
  static const auto* migrations = new std::vector<Migration>{
      {1,
       "journal, snapshots and the fencing row",
       {
           "CREATE TABLE IF NOT EXISTS writer_epoch ("
           " id TINYINT UNSIGNED NOT NULL PRIMARY KEY,"
           " epoch BIGINT UNSIGNED NOT NULL,"
           " owner VARCHAR(255) NOT NULL,"
           " acquired_at TIMESTAMP(6) NULL,"
           " durable_seq BIGINT UNSIGNED NOT NULL,"
           " write_count BIGINT UNSIGNED NOT NULL"
           ") ENGINE=InnoDB",
           "INSERT IGNORE INTO writer_epoch"
           " (id, epoch, owner, acquired_at, durable_seq, write_count)"
           " VALUES (1, 0, '', NULL, 0, 0)",
           "CREATE TABLE IF NOT EXISTS graph_log ("
           " seq BIGINT UNSIGNED NOT NULL PRIMARY KEY,"
           " epoch BIGINT UNSIGNED NOT NULL,"
           " crc32c INT UNSIGNED NOT NULL,"
           " record LONGBLOB NOT NULL,"
           " stored_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)"
           ") ENGINE=InnoDB",
           "CREATE TABLE IF NOT EXISTS graph_snapshots ("
           " snapshot_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,"
           " seq BIGINT UNSIGNED NOT NULL,"
           " epoch BIGINT UNSIGNED NOT NULL,"
           " format_version INT UNSIGNED NOT NULL,"
           " chunk_count INT UNSIGNED NOT NULL,"
           " stored_bytes BIGINT UNSIGNED NOT NULL DEFAULT 0,"
           " uncompressed_bytes BIGINT UNSIGNED NOT NULL,"
           " header LONGBLOB NOT NULL,"
           " header_crc32c INT UNSIGNED NOT NULL,"
           " complete TINYINT NOT NULL DEFAULT 0,"
           " writer VARCHAR(255) NOT NULL,"
           " created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),"
           " last_write_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),"
           " published_at TIMESTAMP(6) NULL,"
           " KEY complete_id (complete, snapshot_id)"
           ") ENGINE=InnoDB",
           "CREATE TABLE IF NOT EXISTS snapshot_chunks ("
           " snapshot_id BIGINT UNSIGNED NOT NULL,"
           " chunk_index INT UNSIGNED NOT NULL,"
           " crc32c INT UNSIGNED NOT NULL,"
           " uncompressed_size BIGINT UNSIGNED NOT NULL,"
           " data LONGBLOB NOT NULL,"
           " PRIMARY KEY (snapshot_id, chunk_index)"
           ") ENGINE=InnoDB",
       }},
      {2,
       "graph_log rows hold packs of consecutive records (last_seq)",
       {
           // 0 on the rows written before: one record each (log_pack.h).
           "ALTER TABLE graph_log ADD COLUMN IF NOT EXISTS"
           " last_seq BIGINT UNSIGNED NOT NULL DEFAULT 0 AFTER seq",
       }},
      // No statement: the number keeps a persistor of version 2, which
      // could not read these packs, from starting on this database.
      {3, "graph_log packs may be stored zstd-compressed (log_pack.h)", {}},
  };
  return *migrations;
}

constexpr char kSnapshotColumns[] =
    "snapshot_id, seq, epoch, chunk_count, stored_bytes, header,"
    " header_crc32c, complete, writer,"
    " TIMESTAMPDIFF(MICROSECOND, COALESCE(published_at, created_at),"
    " NOW(6)) / 1e6,"
    " TIMESTAMPDIFF(MICROSECOND, last_write_at, NOW(6)) / 1e6";

absl::StatusOr<SnapshotRow> ParseSnapshotRow(const Row& r) {
  SnapshotRow s;
  ASSIGN_OR_RETURN(s.snapshot_id, CellToUint(r[0], "snapshot_id"));
  ASSIGN_OR_RETURN(s.seq, CellToUint(r[1], "seq"));
  ASSIGN_OR_RETURN(s.epoch, CellToUint(r[2], "epoch"));
  ASSIGN_OR_RETURN(uint64_t chunks, CellToUint(r[3], "chunk_count"));
  s.chunk_count = static_cast<uint32_t>(chunks);
  ASSIGN_OR_RETURN(s.stored_bytes, CellToUint(r[4], "stored_bytes"));
  s.header = r[5].value_or("");
  ASSIGN_OR_RETURN(uint64_t hcrc, CellToUint(r[6], "header_crc32c"));
  s.header_crc32c = static_cast<uint32_t>(hcrc);
  ASSIGN_OR_RETURN(uint64_t complete, CellToUint(r[7], "complete"));
  s.complete = complete != 0;
  s.writer = r[8].value_or("");
  ASSIGN_OR_RETURN(s.age_seconds, CellToDouble(r[9], "age"));
  ASSIGN_OR_RETURN(s.idle_seconds, CellToDouble(r[10], "idle"));
  return s;
}

// What publishing checks of a graph_snapshots row.
struct UnpublishedSnapshot {
  uint64_t seq = 0;
  uint64_t chunk_count = 0;
  uint64_t stored_bytes = 0;
};

// Reads snapshot `snapshot_id`'s row and locks it until the transaction
// ends. REQUIRES: an open transaction on conn.
absl::StatusOr<UnpublishedSnapshot> LockSnapshotRow(Connection* conn, uint64_t snapshot_id) {
  ASSIGN_OR_RETURN(std::vector<Row> snap,
                   conn->Query(absl::StrCat("SELECT seq, chunk_count, stored_bytes"
                                            " FROM graph_snapshots WHERE snapshot_id=",
                                            snapshot_id, " FOR UPDATE")));
  if (snap.empty()) {
    return absl::NotFoundError(
        absl::StrCat("snapshot ", snapshot_id, " vanished before it was published"));
  }
  UnpublishedSnapshot u;
  ASSIGN_OR_RETURN(u.seq, CellToUint(snap[0][0], "seq"));
  ASSIGN_OR_RETURN(u.chunk_count, CellToUint(snap[0][1], "chunks"));
  ASSIGN_OR_RETURN(u.stored_bytes, CellToUint(snap[0][2], "stored_bytes"));
  return u;
}

// Marks snapshot `snapshot_id` complete (readers see it from the commit
// on) once all its `chunk_count` chunks are stored; DATA_LOSS if not.
// REQUIRES: an open transaction on conn holding the snapshot's row lock.
absl::Status MarkSnapshotComplete(Connection* conn, uint64_t snapshot_id, uint64_t chunk_count) {
  ASSIGN_OR_RETURN(std::vector<Row> count,
                   conn->Query(absl::StrCat(
                       "SELECT COUNT(*) FROM snapshot_chunks WHERE snapshot_id=", snapshot_id)));
  ASSIGN_OR_RETURN(uint64_t stored, CellToUint(count[0][0], "chunk count"));
  if (stored != chunk_count) {
    return absl::DataLossError(absl::StrCat("snapshot ", snapshot_id, ": ", stored,
                                            " chunks stored but ", chunk_count, " expected"));
  }
  return conn
      ->Execute(absl::StrCat("UPDATE graph_snapshots SET complete=1,"
                             " published_at=NOW(6) WHERE snapshot_id=",
                             snapshot_id))
      .status();
}

// Deletes the chunks of `snapshot_id` 16 at a time (small write sets).
absl::Status DeleteChunks(Connection* conn, uint64_t snapshot_id) {
  while (true) {
    ASSIGN_OR_RETURN(uint64_t n, conn->Execute(absl::StrCat(
                                     "DELETE FROM snapshot_chunks WHERE snapshot_id=", snapshot_id,
                                     " ORDER BY chunk_index LIMIT 16")));
    if (n == 0) return absl::OkStatus();
  }
}

constexpr char kLogColumns[] = "seq, last_seq, epoch, crc32c, record";

// Decodes rows of kLogColumns, keeping the records with from <= seq <= to.
absl::Status DecodeLogRows(std::vector<Row>& rows, uint64_t from, uint64_t to,
                           std::vector<LogRow>* out) {
  for (Row& r : rows) {
    ASSIGN_OR_RETURN(uint64_t seq, CellToUint(r[0], "seq"));
    ASSIGN_OR_RETURN(uint64_t last_seq, CellToUint(r[1], "last_seq"));
    ASSIGN_OR_RETURN(uint64_t epoch, CellToUint(r[2], "epoch"));
    ASSIGN_OR_RETURN(uint64_t crc, CellToUint(r[3], "crc32c"));
    RETURN_IF_ERROR(DecodeRow(seq, last_seq, epoch, static_cast<uint32_t>(crc),
                              std::move(r[4]).value_or(""), from, to, out));
  }
  return absl::OkStatus();
}

// The first seq of the row that holds record `seq`, or nullopt when no
// row does. Reads only the key columns of one row (the primary key's
// order, backwards from seq).
absl::StatusOr<std::optional<uint64_t>> RowHolding(Connection* conn, uint64_t seq,
                                                   const char* lock = "") {
  ASSIGN_OR_RETURN(std::vector<Row> rows,
                   conn->Query(absl::StrCat("SELECT seq, last_seq FROM graph_log WHERE seq <= ",
                                            seq, " ORDER BY seq DESC LIMIT 1", lock)));
  if (rows.empty()) return std::optional<uint64_t>();
  ASSIGN_OR_RETURN(uint64_t first, CellToUint(rows[0][0], "seq"));
  ASSIGN_OR_RETURN(uint64_t last, CellToUint(rows[0][1], "last_seq"));
  if (std::max(first, last) < seq) return std::optional<uint64_t>();
  return std::optional<uint64_t>(first);
}

}  // namespace

absl::StatusOr<int> Store::Migrate() {
  RETURN_IF_ERROR(conn_
                      ->Execute("CREATE TABLE IF NOT EXISTS schema_version ("
                                " id TINYINT UNSIGNED NOT NULL PRIMARY KEY,"
                                " version INT UNSIGNED NOT NULL,"
                                " updated_at TIMESTAMP(6) NOT NULL"
                                "  DEFAULT CURRENT_TIMESTAMP(6)) ENGINE=InnoDB")
                      .status());
  ASSIGN_OR_RETURN(std::vector<Row> rows,
                   conn_->Query("SELECT version FROM schema_version WHERE id=1"));
  int before = 0;
  if (!rows.empty()) {
    ASSIGN_OR_RETURN(uint64_t v, CellToUint(rows[0][0], "schema_version"));
    before = static_cast<int>(v);
  }
  if (before > kSchemaVersion) {
    return absl::FailedPreconditionError(absl::StrCat("database schema version ", before,
                                                      " is newer than this vitrage-persistor's (",
                                                      kSchemaVersion, "); upgrade the persistor"));
  }
  for (const Migration& m : Migrations()) {
    if (m.version <= before) continue;
    LOG(INFO) << "schema migration " << m.version << ": " << m.description;
    for (const char* statement : m.statements) {
      RETURN_IF_ERROR(conn_->Execute(statement).status());
    }
    RETURN_IF_ERROR(conn_
                        ->Execute(absl::StrCat(
                            "INSERT INTO schema_version (id, version) VALUES (1, ", m.version,
                            ") ON DUPLICATE KEY UPDATE version = GREATEST("
                            "version, VALUES(version)), updated_at = NOW(6)"))
                        .status());
  }
  return before;
}

absl::StatusOr<EpochRow> Store::ReadEpoch() {
  ASSIGN_OR_RETURN(std::vector<Row> rows,
                   conn_->Query("SELECT epoch, owner, durable_seq FROM writer_epoch WHERE id=1"));
  if (rows.empty()) {
    return absl::InternalError("writer_epoch row is missing (schema damaged?)");
  }
  EpochRow e;
  ASSIGN_OR_RETURN(e.epoch, CellToUint(rows[0][0], "epoch"));
  e.owner = rows[0][1].value_or("");
  ASSIGN_OR_RETURN(e.durable_seq, CellToUint(rows[0][2], "durable_seq"));
  return e;
}

absl::StatusOr<AcquiredEpoch> Store::AcquireEpoch(const std::string& owner) {
  RETURN_IF_ERROR(conn_->Begin());
  auto txn = [&]() -> absl::StatusOr<AcquiredEpoch> {
    ASSIGN_OR_RETURN(std::vector<Row> rows, conn_->Query("SELECT epoch, owner, durable_seq FROM "
                                                         "writer_epoch WHERE id=1 FOR UPDATE"));
    if (rows.empty()) return absl::InternalError("writer_epoch row is missing");
    AcquiredEpoch a;
    ASSIGN_OR_RETURN(a.previous_epoch, CellToUint(rows[0][0], "epoch"));
    a.previous_owner = rows[0][1].value_or("");
    ASSIGN_OR_RETURN(a.durable_seq, CellToUint(rows[0][2], "durable_seq"));
    a.epoch = a.previous_epoch + 1;
    ASSIGN_OR_RETURN(uint64_t changed,
                     conn_->Execute(absl::StrCat("UPDATE writer_epoch SET epoch=", a.epoch,
                                                 ", owner=", QuoteString(owner.substr(0, 255)),
                                                 ", acquired_at=NOW(6), write_count=write_count+1"
                                                 " WHERE id=1 AND epoch=",
                                                 a.previous_epoch)));
    if (changed != 1) {
      return absl::AbortedError("writer_epoch changed concurrently");
    }
    // Records after the durable seq were never made durable (AppendLog
    // inserts them and moves durable_seq in one transaction, so there are
    // none unless the table was changed by hand or by a bug): the new
    // writer's seqs start at durable_seq + 1, so they go, also from a
    // pack that holds the durable seq.
    ASSIGN_OR_RETURN(std::vector<Row> after,
                     conn_->Query(absl::StrCat("SELECT COALESCE(SUM(GREATEST(seq, last_seq) - seq"
                                               " + 1), 0) FROM graph_log WHERE seq > ",
                                               a.durable_seq)));
    ASSIGN_OR_RETURN(a.dropped_records, CellToUint(after[0][0], "records"));
    RETURN_IF_ERROR(
        conn_->Execute(absl::StrCat("DELETE FROM graph_log WHERE seq > ", a.durable_seq)).status());
    ASSIGN_OR_RETURN(std::optional<uint64_t> holder,
                     RowHolding(conn_, a.durable_seq, " FOR UPDATE"));
    if (holder.has_value()) {
      const uint64_t seq = *holder;
      ASSIGN_OR_RETURN(
          std::vector<Row> at,
          conn_->Query(absl::StrCat("SELECT ", kLogColumns, " FROM graph_log WHERE seq=", seq)));
      ASSIGN_OR_RETURN(uint64_t last_seq, CellToUint(at[0][1], "last_seq"));
      if (last_seq > a.durable_seq) {
        std::vector<LogRow> kept;
        RETURN_IF_ERROR(DecodeLogRows(at, seq, a.durable_seq, &kept));
        a.dropped_records += last_seq - a.durable_seq;
        const std::vector<const LogRow*> ptrs = PointersTo(kept);
        std::string pack;
        if (ptrs.size() > 1) EncodeStoredPack(ptrs.data(), ptrs.size(), &pack);
        const std::string& record = ptrs.size() > 1 ? pack : kept[0].bytes;
        std::string sql = absl::StrCat("UPDATE graph_log SET last_seq=", a.durable_seq,
                                       ", crc32c=", crc32c::Value(record), ", record=");
        AppendBlobLiteral(record, &sql);
        absl::StrAppend(&sql, " WHERE seq=", seq);
        RETURN_IF_ERROR(conn_->Execute(sql).status());
      }
    }
    RETURN_IF_ERROR(conn_->Commit());
    return a;
  };
  absl::StatusOr<AcquiredEpoch> result = txn();
  if (!result.ok()) conn_->Rollback();
  return result;
}

absl::StatusOr<GuardResult> Store::AppendLog(uint64_t epoch, uint64_t expected_durable,
                                             const std::vector<const LogRow*>& rows,
                                             const std::function<void()>& before_fence,
                                             const std::function<void()>& after_fence) {
  for (size_t i = 0; i < rows.size(); ++i) {
    if (rows[i]->seq != expected_durable + 1 + i) {
      return absl::InvalidArgumentError(
          absl::StrCat("journal append after durable seq ", expected_durable, ": row ", i,
                       " has seq ", rows[i]->seq, ", not ", expected_durable + 1 + i));
    }
  }
  RETURN_IF_ERROR(conn_->Begin());
  auto txn = [&]() -> absl::StatusOr<GuardResult> {
    // One prepared INSERT a pack: the server parses the statement once per
    // connection, and the bytes travel as they are.
    static constexpr char kInsert[] =
        "INSERT INTO graph_log (seq, last_seq, epoch, crc32c, record) VALUES (?,?,?,?,?)";
    std::string pack;
    for (size_t at = 0; at < rows.size();) {
      const size_t n = NextPackSize(rows.data() + at, rows.size() - at);
      const LogRow& first = *rows[at];
      const std::string* record = &first.bytes;
      uint32_t crc = first.crc32c;
      if (n > 1) {
        EncodeStoredPack(rows.data() + at, n, &pack);
        record = &pack;
        crc = crc32c::Value(pack);
      }
      ASSIGN_OR_RETURN(uint64_t inserted,
                       conn_->ExecutePrepared(kInsert, [&](sql::PreparedStatement* st) {
                         st->setUInt64(1, first.seq);
                         st->setUInt64(2, first.seq + n - 1);
                         st->setUInt64(3, first.epoch);
                         st->setUInt(4, crc);
                         st->setString(5, *record);
                       }));
      if (inserted != 1) {
        return absl::InternalError(
            absl::StrCat("journal INSERT of seq ", first.seq, " stored ", inserted, " rows"));
      }
      at += n;
    }
    // The fence, last: it waits for the previous group's commit (row lock)
    // and then sees its durable_seq.
    const uint64_t last = rows.back()->seq;
    if (before_fence) before_fence();
    absl::StatusOr<uint64_t> fenced =
        conn_->Execute(absl::StrCat("UPDATE writer_epoch SET durable_seq=", last,
                                    ", write_count=write_count+1 WHERE id=1 AND epoch=", epoch,
                                    " AND durable_seq=", expected_durable));
    if (after_fence) after_fence();
    ASSIGN_OR_RETURN(uint64_t changed, std::move(fenced));
    if (changed != 1) {
      ASSIGN_OR_RETURN(EpochRow now, ReadEpoch());
      conn_->Rollback();
      return now.epoch != epoch ? GuardResult::kStaleEpoch : GuardResult::kDurableMoved;
    }
    RETURN_IF_ERROR(conn_->Commit());
    return GuardResult::kDone;
  };
  absl::StatusOr<GuardResult> result = txn();
  if (!result.ok()) conn_->Rollback();
  return result;
}

absl::StatusOr<std::vector<LogRow>> Store::ReadLog(uint64_t from_seq, uint64_t to_seq,
                                                   size_t max_rows) {
  std::vector<LogRow> out;
  if (from_seq > to_seq || max_rows == 0) return out;
  to_seq = std::min(to_seq, from_seq + max_rows - 1);
  // The row that holds from_seq may start before it.
  ASSIGN_OR_RETURN(std::optional<uint64_t> holder, RowHolding(conn_, from_seq));
  ASSIGN_OR_RETURN(
      std::vector<Row> rows,
      conn_->Query(absl::StrCat("SELECT ", kLogColumns,
                                " FROM graph_log WHERE seq >= ", holder.value_or(from_seq),
                                " AND seq <= ", to_seq, " ORDER BY seq")));
  RETURN_IF_ERROR(DecodeLogRows(rows, from_seq, to_seq, &out));
  return out;
}

absl::StatusOr<LogBounds> Store::ReadLogBounds() {
  ASSIGN_OR_RETURN(std::vector<Row> rows, conn_->Query("SELECT MIN(seq), MAX(seq) FROM graph_log"));
  LogBounds b;
  if (rows.empty() || !rows[0][0].has_value()) return b;
  ASSIGN_OR_RETURN(b.first_seq, CellToUint(rows[0][0], "min seq"));
  ASSIGN_OR_RETURN(uint64_t last_row, CellToUint(rows[0][1], "max seq"));
  ASSIGN_OR_RETURN(std::vector<Row> last,
                   conn_->Query(absl::StrCat("SELECT GREATEST(seq, last_seq) FROM graph_log"
                                             " WHERE seq=",
                                             last_row)));
  b.last_seq = last_row;
  if (!last.empty()) {
    ASSIGN_OR_RETURN(b.last_seq, CellToUint(last[0][0], "last seq"));
  }
  return b;
}

absl::Status Store::BeginRead() {
  return conn_->Execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY").status();
}

void Store::EndRead() { conn_->Rollback(); }

absl::StatusOr<uint64_t> Store::CreateSnapshot(uint64_t seq, uint64_t epoch,
                                               uint32_t format_version, uint32_t chunk_count,
                                               uint64_t uncompressed_bytes,
                                               const std::string& header, uint32_t header_crc32c,
                                               const std::string& writer) {
  std::string sql = absl::StrCat(
      "INSERT INTO graph_snapshots (seq, epoch, format_version, chunk_count,"
      " uncompressed_bytes, header, header_crc32c, complete, writer) VALUES (",
      seq, ",", epoch, ",", format_version, ",", chunk_count, ",", uncompressed_bytes, ",");
  AppendBlobLiteral(header, &sql);
  absl::StrAppend(&sql, ",", header_crc32c, ",0,", QuoteString(writer.substr(0, 255)), ")");
  RETURN_IF_ERROR(conn_->Execute(sql).status());
  ASSIGN_OR_RETURN(std::vector<Row> rows, conn_->Query("SELECT LAST_INSERT_ID()"));
  if (rows.empty()) return absl::InternalError("no LAST_INSERT_ID");
  return CellToUint(rows[0][0], "snapshot_id");
}

absl::Status Store::PutChunks(uint64_t snapshot_id, const std::vector<ChunkRow>& chunks) {
  if (chunks.empty()) return absl::OkStatus();
  // One prepared INSERT a chunk: the bytes travel as they are. (As an
  // escaped literal in the statement text, mariadbd's parser spent ~20 ms
  // of both cores unescaping the last chunks of a 64 MB snapshot, while the
  // journal's commits waited for a core.)
  static constexpr char kInsert[] =
      "INSERT INTO snapshot_chunks (snapshot_id, chunk_index, crc32c, uncompressed_size, data)"
      " VALUES (?,?,?,?,?)";
  uint64_t bytes = 0;
  RETURN_IF_ERROR(conn_->Begin());
  absl::Status s;
  for (const ChunkRow& c : chunks) {
    absl::StatusOr<uint64_t> inserted =
        conn_->ExecutePrepared(kInsert, [&](sql::PreparedStatement* st) {
          st->setUInt64(1, snapshot_id);
          st->setUInt64(2, c.index);
          st->setUInt(3, c.crc32c);
          st->setUInt64(4, c.uncompressed_size);
          st->setString(5, c.data);
        });
    if (!inserted.ok()) {
      s = inserted.status();
      break;
    }
    if (*inserted != 1) {
      s = absl::InternalError(absl::StrCat("snapshot ", snapshot_id, " chunk ", c.index,
                                           ": INSERT stored ", *inserted, " rows"));
      break;
    }
    bytes += c.data.size();
  }
  if (s.ok()) {
    s = conn_
            ->Execute(absl::StrCat("UPDATE graph_snapshots SET stored_bytes=stored_bytes+", bytes,
                                   ", last_write_at=NOW(6) WHERE snapshot_id=", snapshot_id))
            .status();
  }
  if (s.ok()) s = conn_->Commit();
  if (!s.ok()) conn_->Rollback();
  return s;
}

absl::StatusOr<GuardResult> Store::PublishSnapshot(uint64_t snapshot_id, uint64_t epoch,
                                                   uint64_t* stored_bytes) {
  RETURN_IF_ERROR(conn_->Begin());
  auto txn = [&]() -> absl::StatusOr<GuardResult> {
    // The snapshot's own checks first; the fence (the writer_epoch row,
    // which every journal commit also updates) last, so that the journal
    // waits for this transaction's row lock only during its COMMIT.
    ASSIGN_OR_RETURN(UnpublishedSnapshot snap, LockSnapshotRow(conn_, snapshot_id));
    *stored_bytes = snap.stored_bytes;
    RETURN_IF_ERROR(MarkSnapshotComplete(conn_, snapshot_id, snap.chunk_count));
    ASSIGN_OR_RETURN(
        uint64_t changed,
        conn_->Execute(absl::StrCat("UPDATE writer_epoch SET write_count=write_count+1 WHERE id=1"
                                    " AND epoch=",
                                    epoch)));
    if (changed != 1) {
      conn_->Rollback();
      return GuardResult::kStaleEpoch;
    }
    ASSIGN_OR_RETURN(EpochRow now, ReadEpoch());
    if (snap.seq > now.durable_seq) {
      return absl::FailedPreconditionError(
          absl::StrCat("snapshot seq ", snap.seq, " is beyond the durable seq ", now.durable_seq,
                       ": append (and wait for the ack of) every record up to the"
                       " snapshot's seq before publishing it"));
    }
    RETURN_IF_ERROR(conn_->Commit());
    return GuardResult::kDone;
  };
  absl::StatusOr<GuardResult> result = txn();
  if (!result.ok()) conn_->Rollback();
  return result;
}

absl::Status Store::CheckStandbySnapshot(uint64_t seq, uint64_t epoch) {
  ASSIGN_OR_RETURN(EpochRow now, ReadEpoch());
  if (epoch == 0 || epoch > now.epoch) {
    return absl::FailedPreconditionError(absl::StrCat(
        "standby snapshot names epoch ", epoch, " but the current epoch is ", now.epoch,
        ": it must name the epoch of the record it ends at, which"
        " cannot be newer than the current one"));
  }
  if (seq == 0) {
    return absl::FailedPreconditionError("standby snapshot at seq 0: nothing to snapshot");
  }
  if (seq > now.durable_seq) {
    return absl::FailedPreconditionError(
        absl::StrCat("snapshot seq ", seq, " is beyond the durable seq ", now.durable_seq,
                     ": a standby snapshot may only cover durable records"));
  }
  ASSIGN_OR_RETURN(std::vector<Row> newest,
                   conn_->Query("SELECT snapshot_id, seq FROM graph_snapshots WHERE"
                                " complete=1 ORDER BY seq DESC LIMIT 1"));
  if (!newest.empty()) {
    ASSIGN_OR_RETURN(uint64_t id, CellToUint(newest[0][0], "snapshot_id"));
    ASSIGN_OR_RETURN(uint64_t newest_seq, CellToUint(newest[0][1], "seq"));
    if (newest_seq >= seq) {
      return absl::FailedPreconditionError(absl::StrCat("standby snapshot at seq ", seq,
                                                        " is not newer than snapshot ", id,
                                                        " (seq ", newest_seq, ")"));
    }
  }
  ASSIGN_OR_RETURN(std::optional<uint64_t> holder, RowHolding(conn_, seq));
  std::vector<Row> rec;
  if (holder.has_value()) {
    ASSIGN_OR_RETURN(rec,
                     conn_->Query(absl::StrCat("SELECT epoch FROM graph_log WHERE seq=", *holder)));
  }
  if (rec.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("standby snapshot at seq ", seq, ": log record ", seq,
                     " is no longer stored (pruned: a newer snapshot covers it)"));
  }
  ASSIGN_OR_RETURN(uint64_t rec_epoch, CellToUint(rec[0][0], "epoch"));
  if (rec_epoch != epoch) {
    return absl::FailedPreconditionError(absl::StrCat("standby snapshot at seq ", seq,
                                                      " names epoch ", epoch, " but log record ",
                                                      seq, " was written in epoch ", rec_epoch));
  }
  return absl::OkStatus();
}

absl::Status Store::PublishStandbySnapshot(uint64_t snapshot_id, uint64_t epoch,
                                           uint64_t* stored_bytes) {
  RETURN_IF_ERROR(conn_->Begin());
  auto txn = [&]() -> absl::Status {
    ASSIGN_OR_RETURN(UnpublishedSnapshot snap, LockSnapshotRow(conn_, snapshot_id));
    *stored_bytes = snap.stored_bytes;
    RETURN_IF_ERROR(CheckStandbySnapshot(snap.seq, epoch));
    RETURN_IF_ERROR(MarkSnapshotComplete(conn_, snapshot_id, snap.chunk_count));
    return conn_->Commit();
  };
  absl::Status result = txn();
  if (!result.ok()) conn_->Rollback();
  return result;
}

absl::Status Store::DeleteSnapshot(uint64_t snapshot_id) {
  // Hide it first, so no reader starts on a half-deleted snapshot.
  RETURN_IF_ERROR(conn_
                      ->Execute(absl::StrCat("UPDATE graph_snapshots SET complete=0 WHERE"
                                             " snapshot_id=",
                                             snapshot_id))
                      .status());
  // Small transactions: Galera replicates each one as a write set.
  RETURN_IF_ERROR(DeleteChunks(conn_, snapshot_id));
  return conn_->Execute(absl::StrCat("DELETE FROM graph_snapshots WHERE snapshot_id=", snapshot_id))
      .status();
}

absl::StatusOr<std::optional<SnapshotRow>> Store::DeleteUnpublishedSnapshot(uint64_t snapshot_id) {
  RETURN_IF_ERROR(conn_->Begin());
  // The row lock orders this against PublishSnapshot's (LockSnapshotRow):
  // either the publish committed first and we see complete=1, or the row
  // is gone when the publish looks for it.
  auto txn = [&]() -> absl::StatusOr<std::optional<SnapshotRow>> {
    ASSIGN_OR_RETURN(std::vector<Row> rows,
                     conn_->Query(absl::StrCat(
                         "SELECT ", kSnapshotColumns,
                         " FROM graph_snapshots WHERE snapshot_id=", snapshot_id, " FOR UPDATE")));
    if (!rows.empty()) {
      ASSIGN_OR_RETURN(SnapshotRow row, ParseSnapshotRow(rows[0]));
      if (row.complete) {
        RETURN_IF_ERROR(conn_->Commit());
        return std::optional<SnapshotRow>(std::move(row));
      }
      RETURN_IF_ERROR(
          conn_
              ->Execute(absl::StrCat("DELETE FROM graph_snapshots WHERE snapshot_id=", snapshot_id))
              .status());
    }
    RETURN_IF_ERROR(conn_->Commit());
    return std::optional<SnapshotRow>();
  };
  absl::StatusOr<std::optional<SnapshotRow>> kept = txn();
  if (!kept.ok()) {
    conn_->Rollback();
    return kept.status();
  }
  if (!kept->has_value()) RETURN_IF_ERROR(DeleteChunks(conn_, snapshot_id));
  return kept;
}

absl::StatusOr<uint64_t> Store::DeleteOrphanChunks(uint64_t max_snapshots) {
  ASSIGN_OR_RETURN(
      std::vector<Row> rows,
      conn_->Query(absl::StrCat(
          "SELECT DISTINCT c.snapshot_id FROM snapshot_chunks c LEFT JOIN graph_snapshots s"
          " ON s.snapshot_id = c.snapshot_id WHERE s.snapshot_id IS NULL LIMIT ",
          max_snapshots)));
  for (const Row& r : rows) {
    ASSIGN_OR_RETURN(uint64_t id, CellToUint(r[0], "snapshot_id"));
    RETURN_IF_ERROR(DeleteChunks(conn_, id));
  }
  return rows.size();
}

absl::StatusOr<bool> Store::SnapshotPublished(uint64_t snapshot_id) {
  ASSIGN_OR_RETURN(std::vector<Row> rows,
                   conn_->Query(absl::StrCat(
                       "SELECT complete FROM graph_snapshots WHERE snapshot_id=", snapshot_id)));
  if (rows.empty()) return false;
  ASSIGN_OR_RETURN(uint64_t complete, CellToUint(rows[0][0], "complete"));
  return complete != 0;
}

absl::StatusOr<std::vector<SnapshotRow>> Store::ListSnapshots(bool all) {
  ASSIGN_OR_RETURN(
      std::vector<Row> rows,
      conn_->Query(absl::StrCat("SELECT ", kSnapshotColumns, " FROM graph_snapshots",
                                all ? "" : " WHERE complete=1", " ORDER BY snapshot_id DESC")));
  std::vector<SnapshotRow> out;
  for (const Row& r : rows) {
    ASSIGN_OR_RETURN(SnapshotRow s, ParseSnapshotRow(r));
    out.push_back(std::move(s));
  }
  return out;
}

absl::StatusOr<std::optional<SnapshotRow>> Store::LatestSnapshot(uint64_t older_than_id) {
  std::string sql =
      absl::StrCat("SELECT ", kSnapshotColumns, " FROM graph_snapshots WHERE complete=1");
  if (older_than_id != 0) {
    absl::StrAppend(&sql, " AND snapshot_id < ", older_than_id);
  }
  sql.append(" ORDER BY snapshot_id DESC LIMIT 1");
  ASSIGN_OR_RETURN(std::vector<Row> rows, conn_->Query(sql));
  if (rows.empty()) return std::optional<SnapshotRow>();
  ASSIGN_OR_RETURN(SnapshotRow s, ParseSnapshotRow(rows[0]));
  return std::optional<SnapshotRow>(std::move(s));
}

absl::StatusOr<std::vector<ChunkRow>> Store::ReadChunks(uint64_t snapshot_id, uint32_t from_index,
                                                        size_t max_rows) {
  ASSIGN_OR_RETURN(
      std::vector<Row> rows,
      conn_->Query(absl::StrCat("SELECT chunk_index, crc32c, uncompressed_size, data FROM"
                                " snapshot_chunks WHERE snapshot_id=",
                                snapshot_id, " AND chunk_index >= ", from_index,
                                " ORDER BY chunk_index LIMIT ", max_rows)));
  std::vector<ChunkRow> out;
  out.reserve(rows.size());
  for (Row& r : rows) {
    ChunkRow c;
    ASSIGN_OR_RETURN(uint64_t index, CellToUint(r[0], "chunk_index"));
    c.index = static_cast<uint32_t>(index);
    ASSIGN_OR_RETURN(uint64_t crc, CellToUint(r[1], "crc32c"));
    c.crc32c = static_cast<uint32_t>(crc);
    ASSIGN_OR_RETURN(c.uncompressed_size, CellToUint(r[2], "size"));
    c.data = std::move(r[3]).value_or("");
    out.push_back(std::move(c));
  }
  return out;
}

absl::StatusOr<uint64_t> Store::PruneLog(uint64_t upto_seq, absl::Duration age, uint64_t limit) {
  // The rows first, by a plain SELECT (a consistent read: no locks), then
  // a DELETE of those keys. A DELETE over the range "seq <= upto" would
  // also lock the row after the range (InnoDB's next-key locking), and
  // that can be the journal's tail: a pipelined group's INSERT, not
  // committed because its worker waits, in the persistor, for the group
  // before it (LogWriter's fence order), whose INSERT into the gap waits
  // behind the DELETE. InnoDB sees no cycle and the journal stood still
  // for innodb_lock_wait_timeout (50 s). Point deletes by primary key
  // lock only the rows they delete.
  ASSIGN_OR_RETURN(std::vector<Row> rows,
                   conn_->Query(absl::StrCat(
                       "SELECT seq FROM graph_log WHERE seq <= ", upto_seq,
                       " AND last_seq <= ", upto_seq, " AND stored_at < NOW(6) - INTERVAL ",
                       absl::ToInt64Microseconds(age), " MICROSECOND ORDER BY seq LIMIT ", limit)));
  if (rows.empty()) return 0;
  // At most kPoints keys a statement, by the primary key: MariaDB turns an
  // IN list of in_predicate_conversion_threshold (1000) or more values
  // into a join with a table of them, and with 500 of 600 rows going it
  // chose a scan; either locked the tail again (store_test has both).
  constexpr size_t kPoints = 500;
  uint64_t deleted = 0;
  for (size_t at = 0; at < rows.size(); at += kPoints) {
    std::string sql = "DELETE graph_log FROM graph_log FORCE INDEX (PRIMARY) WHERE seq IN (";
    for (size_t i = at; i < std::min(rows.size(), at + kPoints); ++i) {
      ASSIGN_OR_RETURN(uint64_t seq, CellToUint(rows[i][0], "seq"));
      absl::StrAppend(&sql, i > at ? "," : "", seq);
    }
    absl::StrAppend(&sql, ") AND last_seq <= ", upto_seq);
    ASSIGN_OR_RETURN(uint64_t n, conn_->Execute(sql));
    deleted += n;
  }
  return deleted;
}

}  // namespace vitrage::persistor::mysql
