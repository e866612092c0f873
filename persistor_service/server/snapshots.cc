#include "persistor_service/server/snapshots.h"

#include <glog/logging.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <optional>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/crc32c.h"
#include "common/status_macros.h"
#include "persistor_service/server/db_errors.h"
#include "persistor_service/server/read_pages.h"
#include "persistor_service/server/upload_watch.h"

namespace vitrage::persistor {
namespace {

// Chunks per INSERT statement (and autocommit transaction), about one
// chunk: a journal commit that comes while a chunk write commits waits
// for its redo, so the writes stay small while the graph's intake runs
// (issue 27: a 1 MiB write took up to 57 ms at the end of a 1M snapshot's
// store and held a journal commit that long; 256 KiB writes take 3-4 ms,
// and the whole store 0.8-0.9 s instead of 0.7 s).
constexpr size_t kChunkWriteBytes = 256 << 10;
constexpr size_t kChunkReadBytes = 8 << 20;  // chunks per SELECT

std::string SerializeDeterministic(const google::protobuf::Message& m) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream sos(&out);
    google::protobuf::io::CodedOutputStream cos(&sos);
    cos.SetSerializationDeterministic(true);
    m.SerializeToCodedStream(&cos);
  }
  return out;
}

}  // namespace

std::set<uint64_t> Snapshots::in_progress() const {
  std::lock_guard<std::mutex> lock(mu_);
  return in_progress_;
}

absl::Status Snapshots::DeleteLeftovers(mysql::Store& store, const std::string& host) {
  ASSIGN_OR_RETURN(std::vector<mysql::SnapshotRow> snaps, store.ListSnapshots(/*all=*/true));
  for (const mysql::SnapshotRow& s : snaps) {
    if (s.complete) continue;
    std::vector<std::string> parts = absl::StrSplit(s.writer, ':');
    int pid = 0;
    bool dead_here = parts.size() == 2 && parts[0] == host && absl::SimpleAtoi(parts[1], &pid) &&
                     pid > 0 && (pid == getpid() || (kill(pid, 0) != 0 && errno == ESRCH));
    if (dead_here || s.idle_seconds > absl::ToDoubleSeconds(options_->abandoned_snapshot_age)) {
      ASSIGN_OR_RETURN(std::optional<mysql::SnapshotRow> kept,
                       store.DeleteUnpublishedSnapshot(s.snapshot_id));
      LOG(INFO) << (kept.has_value() ? "kept snapshot " : "deleted incomplete snapshot ")
                << s.snapshot_id << " (seq " << s.seq << ") left by " << s.writer
                << (kept.has_value() ? ": it was published meanwhile" : "");
    }
  }
  return absl::OkStatus();
}

absl::Status Snapshots::Put(grpc::ServerContext* context,
                            grpc::ServerReader<vitrage::v1::PutSnapshotRequest>* reader,
                            vitrage::v1::PutSnapshotResponse* response) {
  uint64_t snapshot_id = 0;
  absl::Status s = DoPut(context, reader, response, &snapshot_id);
  if (snapshot_id != 0) {
    if (!s.ok()) {
      // Nothing of a failed stream stays behind (best effort: a later
      // retention pass deletes what this cannot), unless the failure came
      // after the publish committed (its COMMIT's reply was lost): that
      // snapshot is kept and answered as published.
      absl::StatusOr<mysql::ConnectionPool::Lease> conn = pool_->Acquire();
      if (conn.ok()) {
        mysql::Store store(conn->get());
        absl::StatusOr<std::optional<mysql::SnapshotRow>> kept =
            store.DeleteUnpublishedSnapshot(snapshot_id);
        if (!kept.ok()) {
          LOG(WARNING) << "could not delete unpublished snapshot " << snapshot_id << ": "
                       << kept.status().message();
        } else if (kept->has_value()) {
          LOG(WARNING) << "snapshot " << snapshot_id << " is published although its stream "
                       << "failed after the publish (" << s.message() << "); kept";
          response->set_snapshot_id(snapshot_id);
          response->set_seq((*kept)->seq);
          response->set_stored_bytes((*kept)->stored_bytes);
          s = absl::OkStatus();
        } else {
          LOG(INFO) << "deleted the rows of unpublished snapshot " << snapshot_id;
        }
      }
    }
    std::lock_guard<std::mutex> lock(mu_);
    in_progress_.erase(snapshot_id);
  }
  if (!s.ok()) {
    LOG(WARNING) << "PutSnapshot failed: " << s.message();
  }
  return s;
}

absl::Status Snapshots::DoPut(grpc::ServerContext* context,
                              grpc::ServerReader<vitrage::v1::PutSnapshotRequest>* reader,
                              vitrage::v1::PutSnapshotResponse* response, uint64_t* snapshot_id) {
  const absl::Time t0 = absl::Now();
  if (shutting_down_->load()) {
    return absl::UnavailableError("vitrage-persistor is shutting down");
  }
  UploadWatch::Call watch(&upload_watch_, context);
  auto silent = [&](const std::string& what) {
    return absl::DeadlineExceededError(
        absl::StrCat(what, " from ", context->peer(), ": the client sent nothing for ",
                     absl::FormatDuration(upload_watch_.timeout()),
                     " ([persistor] stream_stall_timeout); stream ended"));
  };
  vitrage::v1::PutSnapshotRequest msg;
  if (!reader->Read(&msg)) {
    if (watch.timed_out()) return silent("PutSnapshot: no header");
    return absl::InvalidArgumentError("empty PutSnapshot stream: no header");
  }
  watch.Working();
  if (!msg.has_header()) {
    return absl::InvalidArgumentError("the first PutSnapshot message must be the header");
  }
  const vitrage::v1::SnapshotHeader header = msg.header();
  if (header.chunk_count() == 0) {
    return absl::InvalidArgumentError("snapshot header: chunk_count is 0");
  }
  if (header.epoch() == 0) {
    return absl::InvalidArgumentError("snapshot header: epoch 0 (call AcquireEpoch first)");
  }
  // A database connection is leased for each step only, never while the
  // client is waited for: streams that stall must not take the write
  // connections AcquireEpoch needs.
  const bool from_standby = header.from_standby();
  absl::StatusOr<uint64_t> id;
  {
    ASSIGN_OR_RETURN(mysql::ConnectionPool::Lease conn, pool_->Acquire());
    mysql::Store store(conn.get());
    // Snapshots from a hot standby (header.from_standby; the standby holds no
    // epoch). A snapshot at seq S is the state after applying the log's
    // records 1..S. Once durable, a record never changes: a new writer
    // continues at durable_seq + 1 and a fenced writer's records are
    // refused. So a snapshot built from durable records is valid whoever
    // builds it, and the writer is not needed to vouch for it. What this
    // path must never do is move anything forward or fence anyone, hence:
    //   * it never writes the writer_epoch row (no epoch, durable seq or
    //     write count changes; no lock the writer's commits would wait for);
    //     rejections are FAILED_PRECONDITION with the reason, never the
    //     fencing error, and the standby does not treat them as fencing;
    //   * header.epoch must be the epoch of record S as stored (so it is
    //     <= the current epoch and ties the snapshot to the log it claims);
    //   * S <= the durable seq and record S still stored (not pruned);
    //   * S above every complete snapshot's seq, so a lagging standby cannot
    //     push a newer snapshot out of the kept ones.
    // Checked before the chunks are taken, and again in the publishing
    // transaction (Store::PublishStandbySnapshot).
    if (from_standby) {
      if (absl::Status c = store.CheckStandbySnapshot(header.seq(), header.epoch()); !c.ok()) {
        if (c.code() != absl::StatusCode::kFailedPrecondition) return NoteFailure(pool_, c);
        LOG(INFO) << "standby snapshot at seq " << header.seq() << " refused: " << c.message();
        return c;
      }
    } else {
      absl::StatusOr<mysql::EpochRow> row = store.ReadEpoch();
      if (!row.ok()) return NoteFailure(pool_, row.status());
      if (row->epoch != header.epoch()) {
        absl::Status f = FencingError(header.epoch(), *row);
        LOG(WARNING) << "fencing: rejected snapshot: " << f.message();
        return f;
      }
    }
    const std::string header_bytes = SerializeDeterministic(header);
    id = store.CreateSnapshot(header.seq(), header.epoch(), header.format_version(),
                              header.chunk_count(), header.uncompressed_bytes(), header_bytes,
                              crc32c::Value(header_bytes), options_->instance);
    if (!id.ok()) return NoteFailure(pool_, id.status());
  }
  *snapshot_id = *id;
  {
    std::lock_guard<std::mutex> lock(mu_);
    in_progress_.insert(*id);
  }

  uint32_t expected = 0;
  uint64_t compressed = 0, uncompressed = 0;
  std::vector<mysql::ChunkRow> pending;
  size_t pending_bytes = 0;
  watch.Waiting();
  while (reader->Read(&msg)) {
    watch.Working();
    if (!msg.has_chunk()) {
      return absl::InvalidArgumentError(
          absl::StrCat("snapshot ", *id, ": a second header after ", expected, " chunks"));
    }
    vitrage::v1::SnapshotChunk* chunk = msg.mutable_chunk();
    if (expected >= header.chunk_count()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "snapshot ", *id, ": more chunks than the header's chunk_count ", header.chunk_count()));
    }
    if (chunk->index() != expected) {
      return absl::InvalidArgumentError(absl::StrCat("snapshot ", *id, ": chunk index ",
                                                     chunk->index(), " out of order, expected ",
                                                     expected));
    }
    const uint32_t computed = crc32c::Value(chunk->data());
    if (computed != chunk->crc32c()) {
      return absl::DataLossError(absl::StrCat("snapshot ", *id, " chunk ", chunk->index(),
                                              ": crc mismatch (sent ", Hex32(chunk->crc32c()),
                                              ", computed ", Hex32(computed), ")"));
    }
    compressed += chunk->data().size();
    uncompressed += chunk->uncompressed_size();
    mysql::ChunkRow row;
    row.index = chunk->index();
    row.crc32c = chunk->crc32c();
    row.uncompressed_size = chunk->uncompressed_size();
    row.data.swap(*chunk->mutable_data());
    pending_bytes += row.data.size();
    pending.push_back(std::move(row));
    ++expected;
    if (pending_bytes >= kChunkWriteBytes || expected == header.chunk_count()) {
      absl::Status s = RetryAborted([&]() -> absl::StatusOr<bool> {
                         ASSIGN_OR_RETURN(mysql::ConnectionPool::Lease conn, pool_->Acquire());
                         RETURN_IF_ERROR(mysql::Store(conn.get()).PutChunks(*id, pending));
                         return true;
                       }).status();
      if (!s.ok()) return NoteFailure(pool_, s);
      pending.clear();
      pending_bytes = 0;
    }
    watch.Waiting();
  }
  if (watch.timed_out()) {
    return silent(absl::StrCat("snapshot ", *id, " (", expected, " of ", header.chunk_count(),
                               " chunks received)"));
  }
  if (context->IsCancelled()) {
    return absl::CancelledError(absl::StrCat("snapshot ", *id, ": stream broken off after ",
                                             expected, " of ", header.chunk_count(), " chunks"));
  }
  if (expected != header.chunk_count()) {
    return absl::InvalidArgumentError(absl::StrCat("snapshot ", *id, ": stream ended after ",
                                                   expected, " of ", header.chunk_count(),
                                                   " chunks"));
  }
  if (header.compressed_bytes() != 0 && header.compressed_bytes() != compressed) {
    return absl::InvalidArgumentError(absl::StrCat("snapshot ", *id, ": header says ",
                                                   header.compressed_bytes(),
                                                   " compressed bytes, chunks have ", compressed));
  }
  if (header.uncompressed_bytes() != 0 && header.uncompressed_bytes() != uncompressed) {
    return absl::InvalidArgumentError(
        absl::StrCat("snapshot ", *id, ": header says ", header.uncompressed_bytes(),
                     " uncompressed bytes, chunks have ", uncompressed));
  }
  ASSIGN_OR_RETURN(mysql::ConnectionPool::Lease conn, pool_->Acquire());
  mysql::Store store(conn.get());
  uint64_t stored_bytes = 0;
  if (from_standby) {
    absl::Status p =
        RetryAborted([&]() -> absl::StatusOr<bool> {
          RETURN_IF_ERROR(store.PublishStandbySnapshot(*id, header.epoch(), &stored_bytes));
          return true;
        }).status();
    if (!p.ok()) {
      if (p.code() != absl::StatusCode::kFailedPrecondition) return NoteFailure(pool_, p);
      LOG(INFO) << "standby snapshot " << *id << " refused at publish: " << p.message();
      return p;
    }
  }
  absl::StatusOr<mysql::GuardResult> published =
      from_standby
          ? absl::StatusOr<mysql::GuardResult>(mysql::GuardResult::kDone)
          : RetryAborted([&] { return store.PublishSnapshot(*id, header.epoch(), &stored_bytes); });
  if (published.ok() && *published == mysql::GuardResult::kDone &&
      options_->after_publish_for_test) {
    if (absl::Status f = options_->after_publish_for_test(*id); !f.ok()) published = f;
  }
  if (!published.ok()) return NoteFailure(pool_, published.status());
  if (*published == mysql::GuardResult::kStaleEpoch) {
    absl::StatusOr<mysql::EpochRow> row = store.ReadEpoch();
    if (!row.ok()) return NoteFailure(pool_, row.status());
    absl::Status f = FencingError(header.epoch(), *row);
    LOG(WARNING) << "fencing: rejected snapshot at publish: " << f.message();
    return f;
  }
  LOG(INFO) << (from_standby ? "standby snapshot " : "snapshot ") << *id << " published: seq "
            << header.seq() << ", epoch " << header.epoch()
            << (from_standby ? " (of record seq, taken by a hot standby)" : "") << ", "
            << header.chunk_count() << " chunks, " << stored_bytes << " bytes, "
            << absl::ToInt64Milliseconds(absl::Now() - t0) << " ms";
  response->set_snapshot_id(*id);
  response->set_seq(header.seq());
  response->set_stored_bytes(stored_bytes);
  {
    std::lock_guard<std::mutex> lock(mu_);
    in_progress_.erase(*id);
  }
  if (published_) published_();
  *snapshot_id = 0;  // published: nothing to clean up
  return absl::OkStatus();
}

// No transaction spans the stream: the snapshot row is read once, then the
// chunks page by page, each page with a connection leased only while it is
// read. Chunks never change once their snapshot is published, so pages read
// at different times fit together. Retention may retire the snapshot
// meanwhile (it hides the row, then deletes chunks from the lowest index):
// a page that comes back short or out of order is then told apart from a
// lost chunk by reading the snapshot's row again.
absl::Status Snapshots::GetLatest(
    const vitrage::v1::GetLatestSnapshotRequest& request, ReadStreams::Ticket& stream,
    grpc::ServerWriter<vitrage::v1::GetLatestSnapshotResponse>* writer) {
  absl::StatusOr<std::optional<mysql::SnapshotRow>> snap;
  {
    ASSIGN_OR_RETURN(mysql::ConnectionPool::Lease conn, AcquireRead(pool_));
    snap = mysql::Store(conn.get()).LatestSnapshot(request.older_than_id());
  }
  if (!snap.ok()) return NoteFailure(pool_, snap.status());
  if (!snap->has_value()) {
    if (request.older_than_id() != 0) {
      return absl::NotFoundError(
          absl::StrCat("no complete snapshot older than snapshot ", request.older_than_id()));
    }
    return absl::NotFoundError("no complete snapshot");
  }
  const mysql::SnapshotRow& row = **snap;
  const uint32_t hcrc = crc32c::Value(row.header);
  vitrage::v1::GetLatestSnapshotResponse msg;
  if (hcrc != row.header_crc32c ||
      !msg.mutable_info()->mutable_header()->ParseFromString(row.header)) {
    return absl::DataLossError(
        absl::StrCat("snapshot ", row.snapshot_id, ": header crc mismatch (stored ",
                     Hex32(row.header_crc32c), ", computed ", Hex32(hcrc), ")"));
  }
  msg.mutable_info()->set_snapshot_id(row.snapshot_id);
  RETURN_IF_ERROR(stream.Write(writer, msg));
  // A chunk is missing: retired meanwhile (ABORTED, ask again) or lost.
  auto missing = [&](uint32_t index) -> absl::Status {
    absl::StatusOr<mysql::ConnectionPool::Lease> conn = AcquireRead(pool_);
    if (!conn.ok()) return conn.status();
    absl::StatusOr<bool> published = mysql::Store(conn->get()).SnapshotPublished(row.snapshot_id);
    if (!published.ok()) return NoteFailure(pool_, published.status());
    if (!*published) {
      LOG(INFO) << "GetLatestSnapshot: snapshot " << row.snapshot_id
                << " was retired while a stream read it (at chunk " << index << ")";
      return absl::AbortedError(absl::StrCat("snapshot ", row.snapshot_id,
                                             " was deleted by retention while this stream read it"
                                             " (at chunk ",
                                             index, " of ", row.chunk_count,
                                             "); ask for the latest snapshot again"));
    }
    return absl::DataLossError(
        absl::StrCat("snapshot ", row.snapshot_id, " chunk ", index, " is missing"));
  };
  const uint64_t avg =
      std::max<uint64_t>(1, row.stored_bytes / std::max<uint32_t>(1, row.chunk_count));
  const size_t page = std::clamp<uint64_t>(kChunkReadBytes / avg, 1, 256);
  uint32_t from = 0;
  Prefetcher<std::vector<mysql::ChunkRow>> pages(
      [&](std::vector<mysql::ChunkRow>* chunks, bool* last) -> absl::Status {
        ASSIGN_OR_RETURN(mysql::ConnectionPool::Lease conn, AcquireRead(pool_));
        ASSIGN_OR_RETURN(*chunks, mysql::Store(conn.get()).ReadChunks(row.snapshot_id, from, page));
        if (chunks->empty()) {
          *last = true;
        } else {
          from = chunks->back().index + 1;
          *last = from >= row.chunk_count;
        }
        return absl::OkStatus();
      });
  uint32_t next = 0;
  Prefetcher<std::vector<mysql::ChunkRow>>::Fetched chunks;
  while (next < row.chunk_count) {
    if (!pages.Next(&chunks) || (chunks.status.ok() && chunks.page.empty())) {
      return missing(next);
    }
    if (!chunks.status.ok()) return NoteFailure(pool_, chunks.status);
    for (mysql::ChunkRow& c : chunks.page) {
      if (c.index != next) return missing(next);
      const uint32_t computed = crc32c::Value(c.data);
      if (computed != c.crc32c) {
        return absl::DataLossError(absl::StrCat("snapshot ", row.snapshot_id, " chunk ", c.index,
                                                ": crc mismatch (stored ", Hex32(c.crc32c),
                                                ", computed ", Hex32(computed), ")"));
      }
      vitrage::v1::GetLatestSnapshotResponse out;
      vitrage::v1::SnapshotChunk* chunk = out.mutable_chunk();
      chunk->set_index(c.index);
      chunk->set_crc32c(c.crc32c);
      chunk->set_uncompressed_size(c.uncompressed_size);
      chunk->mutable_data()->swap(c.data);
      RETURN_IF_ERROR(stream.Write(writer, out));
      ++next;
      if (next >= row.chunk_count) break;
    }
  }
  return absl::OkStatus();
}

}  // namespace vitrage::persistor
