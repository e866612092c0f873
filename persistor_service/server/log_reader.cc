#include "persistor_service/server/log_reader.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/crc32c.h"
#include "common/status_macros.h"
#include "persistor_service/mysql/store.h"
#include "persistor_service/server/db_errors.h"
#include "persistor_service/server/read_pages.h"

namespace vitrage::persistor {
namespace {

constexpr size_t kDefaultReadLogBytes = 1 << 20;
constexpr size_t kMaxReadLogBytes = 3 << 20;
constexpr size_t kLogReadRows = 2048;

}  // namespace

// Follow (hot standby, ReadLogRequest.follow): after the first range the
// stream stays open. New records are noticed through this persistor's own
// log writer (its cached durable seq, checked every kFollowTick) or, for
// records written through another persistor of a Galera cluster, by reading
// the durable seq from the database every kFollowDbPoll. A heartbeat (no
// records, the current durable seq) goes out after kFollowHeartbeat of
// silence so the standby can tell a dead stream from a quiet log.
absl::Status LogReader::Read(grpc::ServerContext* context,
                             const vitrage::v1::ReadLogRequest& request,
                             ReadStreams::Ticket& stream,
                             grpc::ServerWriter<vitrage::v1::ReadLogResponse>* writer) {
  constexpr absl::Duration kFollowTick = absl::Milliseconds(2);
  constexpr absl::Duration kFollowDbPoll = absl::Milliseconds(50);
  constexpr absl::Duration kFollowHeartbeat = absl::Seconds(1);
  const size_t max_bytes = request.max_batch_bytes() == 0
                               ? kDefaultReadLogBytes
                               : std::min<size_t>(request.max_batch_bytes(), kMaxReadLogBytes);
  uint64_t sent = 0;
  RETURN_IF_ERROR(
      ReadRange(request.after_seq(), max_bytes, /*write_empty=*/true, stream, writer, &sent));
  if (!request.follow()) return absl::OkStatus();
  sent = std::max(sent, request.after_seq());
  absl::Time last_db = absl::Now();
  absl::Time last_write = last_db;
  while (true) {
    if (context->IsCancelled() || shutting_down_->load()) {
      return absl::CancelledError("follow ended");
    }
    absl::SleepFor(kFollowTick);
    const absl::Time now = absl::Now();
    if (writer_->cached_durable_seq() <= sent && now - last_db < kFollowDbPoll &&
        now - last_write < kFollowHeartbeat) {
      continue;
    }
    last_db = now;
    uint64_t durable = 0;
    RETURN_IF_ERROR(ReadRange(sent, max_bytes, /*write_empty=*/false, stream, writer, &durable));
    if (durable > sent) {
      sent = durable;
      last_write = absl::Now();
    } else if (now - last_write >= kFollowHeartbeat) {
      vitrage::v1::ReadLogResponse beat;
      beat.set_durable_seq(durable);
      RETURN_IF_ERROR(stream.Write(writer, beat));
      last_write = now;
    }
  }
}

// No transaction spans the range: the durable seq is read first, then the
// records up to it page by page, each page with a connection leased only
// while it is read. Records up to the durable seq never change, so pages
// read at different times fit together; only retention can remove some
// meanwhile (records below the oldest kept snapshot), which a page that
// starts late shows and the log's bounds then confirm (OUT_OF_RANGE, not a
// hole).
absl::Status LogReader::ReadRange(uint64_t after_seq, size_t max_bytes, bool write_empty,
                                  ReadStreams::Ticket& stream,
                                  grpc::ServerWriter<vitrage::v1::ReadLogResponse>* writer,
                                  uint64_t* durable_out) {
  uint64_t durable = 0;
  {
    ASSIGN_OR_RETURN(mysql::ConnectionPool::Lease conn, AcquireRead(pool_));
    mysql::Store store(conn.get());
    absl::StatusOr<mysql::EpochRow> epoch = store.ReadEpoch();
    if (!epoch.ok()) return NoteFailure(pool_, epoch.status());
    durable = epoch->durable_seq;
    *durable_out = durable;
    if (after_seq < durable) {
      absl::StatusOr<mysql::LogBounds> bounds = store.ReadLogBounds();
      if (!bounds.ok()) return NoteFailure(pool_, bounds.status());
      if (bounds->first_seq == 0 || bounds->first_seq > after_seq + 1) {
        return absl::OutOfRangeError(
            absl::StrCat("log records ", after_seq + 1, "..",
                         bounds->first_seq == 0 ? durable : bounds->first_seq - 1,
                         " were pruned (covered by a snapshot); the log starts at seq ",
                         bounds->first_seq == 0 ? durable + 1 : bounds->first_seq));
      }
    }
  }
  vitrage::v1::ReadLogResponse out;
  out.set_durable_seq(durable);
  if (after_seq >= durable) {
    if (write_empty) RETURN_IF_ERROR(stream.Write(writer, out));
    return absl::OkStatus();
  }
  // Record `seq` is not where it should be: pruned meanwhile, or a hole.
  auto missing = [&](uint64_t seq, const std::string& hole) -> absl::Status {
    absl::StatusOr<mysql::ConnectionPool::Lease> conn = AcquireRead(pool_);
    if (!conn.ok()) return conn.status();
    absl::StatusOr<mysql::LogBounds> bounds = mysql::Store(conn->get()).ReadLogBounds();
    if (!bounds.ok()) return NoteFailure(pool_, bounds.status());
    if (bounds->first_seq == 0 || bounds->first_seq > seq) {
      return absl::OutOfRangeError(
          absl::StrCat("log records from seq ", seq,
                       " were pruned (retention) while this stream read"
                       " them; the log now starts at seq ",
                       bounds->first_seq == 0 ? durable + 1 : bounds->first_seq));
    }
    return absl::DataLossError(hole);
  };
  uint64_t from = after_seq + 1;
  Prefetcher<std::vector<mysql::LogRow>> pages(
      [&](std::vector<mysql::LogRow>* rows, bool* last) -> absl::Status {
        ASSIGN_OR_RETURN(mysql::ConnectionPool::Lease conn, AcquireRead(pool_));
        ASSIGN_OR_RETURN(*rows, mysql::Store(conn.get()).ReadLog(from, durable, kLogReadRows));
        if (rows->empty()) {
          *last = true;
        } else {
          from = rows->back().seq + 1;
          *last = from > durable;
        }
        return absl::OkStatus();
      });
  uint64_t next = after_seq + 1;
  size_t out_bytes = 0;
  Prefetcher<std::vector<mysql::LogRow>>::Fetched rows;
  while (next <= durable) {
    if (!pages.Next(&rows) || (rows.status.ok() && rows.page.empty())) {
      return missing(next, absl::StrCat("hole in the log: records ", next, "..", durable,
                                        " are missing (durable seq is ", durable, ")"));
    }
    if (!rows.status.ok()) return NoteFailure(pool_, rows.status);
    for (const mysql::LogRow& row : rows.page) {
      if (row.seq != next) {
        return missing(next, absl::StrCat("hole in the log: record seq ", next,
                                          " is missing (next stored is ", row.seq, ")"));
      }
      const uint32_t computed = crc32c::Value(row.bytes);
      if (computed != row.crc32c) {
        return absl::DataLossError(absl::StrCat("log record seq ", row.seq,
                                                ": crc mismatch (stored ", Hex32(row.crc32c),
                                                ", computed ", Hex32(computed), ")"));
      }
      if (out.records_size() > 0 && out_bytes + row.bytes.size() + 16 > max_bytes) {
        RETURN_IF_ERROR(stream.Write(writer, out));
        out.clear_records();
        out_bytes = 0;
      }
      if (!out.add_records()->ParseFromString(row.bytes)) {
        return absl::DataLossError(absl::StrCat("log record seq ", row.seq,
                                                ": stored bytes do not parse as a "
                                                "JournalRecord"));
      }
      out_bytes += row.bytes.size() + 16;
      ++next;
    }
  }
  if (out.records_size() > 0) RETURN_IF_ERROR(stream.Write(writer, out));
  return absl::OkStatus();
}

}  // namespace vitrage::persistor
