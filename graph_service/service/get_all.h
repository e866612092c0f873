// get_all: the graph takes the collector's full state (../shared/DESIGN.md section 6,
// "fresh start" and "long downtime"), and the reconcile with a collector
// that restarted.
//
// Two shapes, chosen by the collector:
//
// * Events (upstream and openstack datasources, or a collector with
//   [collector] get_all_image = false): every event goes through the
//   processor and is journaled as its own record, then a reconcile record
//   removes what the datasources no longer report.
//
// * A graph image (the workload / pass-through state, when the request says
//   accept_image): the snapshot codec's chunks. Pass-through set_vertex /
//   set_edge events followed by the reconcile make the graph exactly the
//   collector's graph, whatever it held before, so the image simply
//   replaces it. It is journaled as image records (journal.proto): the
//   chunks as received, one per record, so the log stays replayable without
//   a snapshot and a standby following it gets the same graph, in far fewer
//   bytes than one record per event. The source's high-water marks are
//   kept (the image's source gets its covered seq); the evaluator makes a
//   full pass afterwards as after any get_all (the get_all reason, or
//   EvaluatorGlue::NoteReplayed for image records, asks for it).
//
// A log that ends inside a run of image records is a get_all that did not
// finish (the graph died while journaling it; intake was not open, so no
// event after it was acked): recovery drops the partial image and takes
// get_all again.
//
// Reconcile: a source named "<name>@<run>" (vitrage-collector's: one per
// run) that the graph does not know while it knows an earlier run of
// <name> is a collector that restarted, and whatever its previous run had
// not got acked is gone (its outbox is in memory). The engine then runs a
// live get_all before that collector's first event.
#ifndef VITRAGE_GRAPH_SERVICE_SERVICE_GET_ALL_H_
#define VITRAGE_GRAPH_SERVICE_SERVICE_GET_ALL_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "graph_service/journal/journal_client.h"
#include "graph_service/service/graph_state.h"
#include "graph_service/snapshot/snapshot.h"
#include "vitrage/v1/collector.grpc.pb.h"
#include "vitrage/v1/graph.pb.h"

namespace vitrage::service {

// The restart of a collector `req` shows, described ("" when none): a
// source of the request that `marks` does not know while they know an
// earlier run of the same name.
std::string RestartedSource(const v1::PushEventsRequest& req,
                            const absl::flat_hash_map<std::string, uint64_t>& marks);

struct GetAllOptions {
  std::string collector_address;  // for the log
  // [limits]: what an image header may announce.
  uint64_t max_graph_vertices = 50'000'000;
  uint64_t max_graph_edges = 50'000'000;
  // How often a running get_all logs how much it has received.
  absl::Duration progress_log_interval = absl::Seconds(5);
  // [limits] max_distinct_keys: a get_all event whose new property keys
  // would pass it is skipped (logged, counted), as PushEvents refuses it.
  uint64_t max_distinct_keys = 1'000'000;
};

class GetAll {
 public:
  struct Hooks {
    // OK while get_all may go on; else why not (shut down, fatal).
    std::function<absl::Status()> stopped;
    // Shows `phase` with `role` (RECOVERING, or ACTIVE while live).
    std::function<void(v1::GraphRole role, const std::string& phase)> phase;
    // Applies a get_all event (no dedupe) and journals its record.
    // Called under state->mu.
    std::function<void(const v1::Event&)> apply_locked;
    // Journals `record` (already applied), evaluating what it changed when
    // the evaluator is on. Called under state->mu.
    std::function<void(v1::JournalRecord*)> commit_locked;
    // The journal to wait for room in; null without persistency.
    std::function<journal::JournalClient*()> journal;
  };

  // `collector` and `state` outlive this.
  GetAll(GetAllOptions options, v1::Collector::Stub* collector, GraphState* state, Hooks hooks);

  // Takes the collector's state: at recovery (`live` false: the graph is
  // not serving; retried until it works or stopped; the collector may
  // answer with an image), or while ACTIVE (`live`: the caller keeps
  // intake out; events only, three attempts, the role stays ACTIVE).
  // Returns how long it took. REQUIRES: state->mu not held.
  absl::StatusOr<absl::Duration> Run(const std::string& reason, bool live);

  // Applies an image record read from the log (recovery, the standby):
  // the graph becomes the image at its last chunk. DATA_LOSS when it does
  // not decode or its first record is missing. REQUIRES: state->mu held.
  absl::Status ApplyImageRecordLocked(const v1::JournalRecord& rec);
  // Forgets an image whose records stopped before its last chunk; true if
  // there was one. REQUIRES: state->mu held.
  bool DropPartialImageLocked();
  // Whether the log read so far ends inside an image. REQUIRES: state->mu.
  bool InImageLocked() const { return replay_image_ != nullptr; }

  // The running (or last) get_all's progress: get_all_running,
  // get_all_received (entities so far; an image's vertices in proportion
  // to its chunks) and get_all_seconds.
  void FillProgress(v1::GraphStatus* st) const;

 private:
  struct IncomingImage {
    IncomingImage(const v1::SnapshotHeader& h, const snapshot::DecodeOptions& options)
        : header(h), decoder(options) {}
    v1::SnapshotHeader header;
    snapshot::SnapshotDecoder decoder;
    std::vector<v1::SnapshotChunk> chunks;  // as received, journaled verbatim
  };
  // How images are decoded: no digest, the graph size limits.
  snapshot::DecodeOptions ImageDecodeOptions() const;
  absl::Status TakeImageChunk(v1::GetAllResponse* resp, std::unique_ptr<IncomingImage>* image);
  absl::Status CommitImage(std::unique_ptr<IncomingImage> image, const std::string& source,
                           uint64_t covered);

  const GetAllOptions options_;
  v1::Collector::Stub* const collector_;
  GraphState* const state_;
  const Hooks hooks_;
  // The image being rebuilt from replayed or followed records (state_->mu).
  std::unique_ptr<IncomingImage> replay_image_;

  mutable absl::Mutex progress_mu_;
  uint64_t received_ ABSL_GUARDED_BY(progress_mu_) = 0;
  bool running_ ABSL_GUARDED_BY(progress_mu_) = false;
  absl::Time start_ ABSL_GUARDED_BY(progress_mu_) = absl::InfinitePast();
  absl::Time end_ ABSL_GUARDED_BY(progress_mu_) = absl::InfinitePast();
};

}  // namespace vitrage::service

#endif  // VITRAGE_GRAPH_SERVICE_SERVICE_GET_ALL_H_
