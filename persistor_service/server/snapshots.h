// Snapshots in the database: PutSnapshot (header, chunks, publish, and
// the cleanup of a stream that failed), GetLatestSnapshot (the newest
// complete one, re-verified, page by page), and at start-up the cleanup of
// snapshots a dead persistor left incomplete. README.md, "Life of a
// snapshot"; retention (retention.h) retires old ones.
#ifndef VITRAGE_PERSISTOR_SERVICE_SERVER_SNAPSHOTS_H_
#define VITRAGE_PERSISTOR_SERVICE_SERVER_SNAPSHOTS_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "persistor_service/mysql/pool.h"
#include "persistor_service/mysql/store.h"
#include "persistor_service/server/options.h"
#include "persistor_service/server/read_streams.h"
#include "persistor_service/server/upload_watch.h"
#include "vitrage/v1/persistor.grpc.pb.h"

namespace vitrage::persistor {

class Snapshots {
 public:
  // `published` runs after each publish (it wakes retention); may be empty.
  // *shutting_down refuses new PutSnapshot streams.
  // REQUIRES: pool, options and shutting_down outlive this object.
  Snapshots(mysql::ConnectionPool* pool, const PersistorOptions* options,
            const std::atomic<bool>* shutting_down, std::function<void()> published)
      : pool_(pool),
        options_(options),
        shutting_down_(shutting_down),
        published_(std::move(published)),
        upload_watch_(options->stream_stall_timeout) {}

  // Start-up: deletes the incomplete snapshots written by a persistor of
  // `host` whose pid is gone, or idle for longer than
  // abandoned_snapshot_age; keeps one whose publish committed meanwhile.
  absl::Status DeleteLeftovers(mysql::Store& store, const std::string& host);

  // Serves one PutSnapshot stream. OK once the snapshot is published
  // (*response says which), or when a failure came after its publish
  // committed. Otherwise the error, and nothing of the snapshot stays
  // behind (best effort; retention deletes what this could not).
  absl::Status Put(grpc::ServerContext* context,
                   grpc::ServerReader<vitrage::v1::PutSnapshotRequest>* reader,
                   vitrage::v1::PutSnapshotResponse* response);

  // Serves one GetLatestSnapshot stream admitted as `stream`: the info,
  // then every chunk in order, each CRC re-verified. NOT_FOUND without a
  // complete snapshot; DATA_LOSS naming snapshot and chunk; ABORTED when
  // retention retired the snapshot meanwhile (ask again).
  absl::Status GetLatest(const vitrage::v1::GetLatestSnapshotRequest& request,
                         ReadStreams::Ticket& stream,
                         grpc::ServerWriter<vitrage::v1::GetLatestSnapshotResponse>* writer);

  // The ids of snapshots whose PutSnapshot stream is still open (retention
  // leaves them alone, however idle).
  std::set<uint64_t> in_progress() const;

 private:
  // Sets *snapshot_id once the snapshot's row exists and back to 0 once it
  // is published: non-zero on return means there is something to clean up.
  absl::Status DoPut(grpc::ServerContext* context,
                     grpc::ServerReader<vitrage::v1::PutSnapshotRequest>* reader,
                     vitrage::v1::PutSnapshotResponse* response, uint64_t* snapshot_id);

  mysql::ConnectionPool* const pool_;
  const PersistorOptions* const options_;
  const std::atomic<bool>* const shutting_down_;
  const std::function<void()> published_;
  UploadWatch upload_watch_;  // ends PutSnapshot streams that go silent

  mutable std::mutex mu_;
  std::set<uint64_t> in_progress_;
};

}  // namespace vitrage::persistor

#endif  // VITRAGE_PERSISTOR_SERVICE_SERVER_SNAPSHOTS_H_
