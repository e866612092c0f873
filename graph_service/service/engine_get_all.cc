// get_all: the graph takes the collector's full state (DESIGN.md section 6,
// "fresh start" and "long downtime").
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
//   a snapshot and a standby following it gets the same graph; ~3 MB for
//   100k vertices instead of one record per event (~100 MB). The source's
//   high-water marks are kept (the image's source gets its covered seq);
//   the evaluator makes a full pass afterwards as after any get_all (the
//   get_all reason, or NoteReplayedLocked for image records, asks for it).
//
// A log that ends inside a run of image records is a get_all that did not
// finish (the graph died while journaling it; intake was not open, so no
// event after it was acked): recovery drops the partial image and takes
// get_all again.
#include <glog/logging.h>
#include <google/protobuf/arena.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/grpc_util.h"
#include "common/status_macros.h"
#include "graph_service/service/engine.h"

namespace vitrage::service {
namespace {

double MsSince(absl::Time t) { return absl::ToDoubleMilliseconds(absl::Now() - t); }

}  // namespace

absl::Status Engine::RunGetAll(const std::string& reason, bool live) {
  // A live get_all (an ACTIVE graph reconciling with a restarted collector)
  // keeps the role: intake is held by the caller meanwhile.
  auto phase = [&](const std::string& text) {
    if (live) {
      SetPhase(v1::ACTIVE, absl::StrCat("active, reconciling: ", text));
    } else {
      SetPhase(v1::RECOVERING, text);
    }
  };
  phase(absl::StrCat("get_all (", reason, ")"));
  LOG(INFO) << "get_all from the collector at " << options_.collector_address << ": " << reason;
  absl::Time t0 = absl::Now();
  absl::Duration backoff = absl::Milliseconds(100);
  int failures = 0;
  uint64_t events = 0;
  std::string shape;
  // However this ends (image, events, failure, shutdown), the handler must
  // not go on treating live events as get_all events.
  struct CloseGetAll {
    Engine* engine;
    ~CloseGetAll() {
      absl::MutexLock l(&engine->mu_);
      engine->handler_->CancelGetAll();
    }
  } close_get_all{this};
  while (true) {
    {
      absl::MutexLock l(&status_mu_);
      if (shutdown_) return absl::CancelledError("shut down during get_all");
      if (!fatal_.ok()) return fatal_;
    }
    {
      absl::MutexLock l(&mu_);
      handler_->BeginGetAll();
    }
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(600)));
    v1::GetAllRequest req;
    req.set_action(live ? "snapshot" : "init_snapshot");
    // An image replaces the whole graph (and the evaluator's work in it):
    // only for a graph that is not serving yet.
    req.set_accept_image(!live);
    auto reader = collector_->GetAll(&ctx, req);
    std::string source;
    uint64_t covered = 0;
    events = 0;
    std::unique_ptr<IncomingImage> image;
    absl::Status bad_image;
    // Where an image's time goes (logged with it): the first response, the
    // chunks' decode on this thread, the stream's end.
    const absl::Time t_call = absl::Now();
    absl::Time t_first = absl::InfinitePast();
    absl::Duration in_decode;
    while (true) {
      // One arena per batch: parsing and freeing a batch's many small
      // messages costs a bump pointer and one release.
      google::protobuf::Arena arena;
      auto* resp = google::protobuf::Arena::CreateMessage<v1::GetAllResponse>(&arena);
      if (!reader->Read(resp)) break;
      if (!resp->source().empty()) {
        source = resp->source();
        covered = resp->covered_source_seq();
      }
      if (resp->has_image_chunk()) {
        const absl::Time t = absl::Now();
        if (t_first == absl::InfinitePast()) t_first = t;
        bad_image = TakeImageChunk(resp, &image);
        in_decode += absl::Now() - t;
        if (!bad_image.ok()) {
          ctx.TryCancel();
          break;
        }
        continue;
      }
      if (resp->events_size() == 0) continue;
      if (journal_) {
        absl::Status room = journal_->WaitForRoom(resp->events_size() + 1, absl::InfiniteFuture());
        if (!room.ok()) return room;
      }
      absl::MutexLock l(&mu_);
      for (const v1::Event& ev : resp->events()) {
        ApplyLocked(ev, /*dedupe=*/false);
        ++events;
      }
    }
    grpc::Status st = reader->Finish();
    if (bad_image.ok() && st.ok() && image != nullptr) {
      const absl::Time t_end = absl::Now();
      bad_image = image->decoder.Finish();
      LOG(INFO) << "get_all image: first chunk after " << MsSince(t_call) - MsSince(t_first)
                << " ms, stream " << MsSince(t_first) - MsSince(t_end) << " ms (decoding on "
                << "this thread " << absl::ToDoubleMilliseconds(in_decode) << " ms), decode "
                << "finish " << MsSince(t_end) << " ms";
      if (!bad_image.ok()) {
        bad_image = absl::DataLossError(absl::StrCat("get_all image: ", bad_image.message()));
      }
    }
    if (!bad_image.ok()) {
      // The collector (or the wire) sent an image the decoder rejects:
      // nothing of it was applied. Retrying is all there is to do.
      LOG(ERROR) << "get_all: " << bad_image.message() << "; nothing applied, retrying";
      st = grpc::Status(grpc::StatusCode::DATA_LOSS, std::string(bad_image.message()));
    } else if (st.ok() && image != nullptr) {
      RETURN_IF_ERROR(CommitImage(std::move(image), source, covered));
      shape = "graph image";
      break;
    } else if (st.ok()) {
      if (journal_) {
        absl::Status room = journal_->WaitForRoom(1, absl::InfiniteFuture());
        if (!room.ok()) return room;
      }
      absl::MutexLock l(&mu_);
      v1::JournalRecord rec;
      handler_->EndGetAll(&graph_, rec.mutable_delta());
      rec.set_event_kind("get_all reconcile");
      // The collector's events up to `covered` are in what get_all returned:
      // when it re-sends them they are acked without being applied.
      rec.set_source(source);
      rec.set_source_seq(covered);
      // Live, the evaluator is on: what the reconcile removed is evaluated
      // as any change (at recovery it is off and a full pass follows).
      std::vector<std::string> affected;
      if (evaluator_on_) evaluator_->CollectRelevant(graph_, rec.delta(), &affected);
      CommitRecordLocked(std::move(rec));
      if (!affected.empty()) EvaluateLocked(std::move(affected));
      shape = absl::StrCat(events, " events");
      break;
    }
    if (!live && IsWrongService(st)) {
      return WrongServiceError(options_.collector_address, "vitrage.v1.Collector",
                               "[graph] collector_address");
    }
    if (live && failures >= 2) {
      // Intake waits meanwhile: give up rather than hold it.
      LOG(ERROR) << "get_all (" << reason << "): collector at " << options_.collector_address
                 << " failed 3 times (" << st.error_message()
                 << "); not reconciled, intake goes on";
      SetPhase(v1::ACTIVE, "active");
      return absl::UnavailableError(absl::StrCat("get_all failed: ", st.error_message()));
    }
    if (failures++ % 10 == 0) {
      LOG(WARNING) << "get_all: collector at " << options_.collector_address << " failed ("
                   << st.error_message() << "); retrying";
    }
    phase(absl::StrCat("get_all (", reason, "): collector unreachable (", st.error_message(), ")"));
    absl::SleepFor(backoff);
    backoff = std::min(backoff * 2, absl::Seconds(2));
  }
  double ms = MsSince(t0);
  {
    absl::MutexLock l(&mu_);
    LOG(INFO) << "get_all: at seq " << applied_seq_ << " (" << shape << "), graph has "
              << graph_.vertex_count() << " vertices and " << graph_.edge_count() << " edges, "
              << ms << " ms";
  }
  if (live) {
    SetPhase(v1::ACTIVE, "active");
  } else {
    absl::MutexLock l(&status_mu_);
    timings_.set_get_all_ms(ms);
    timings_.set_get_all_reason(reason);
  }
  if (options_.persistency) {
    // A snapshot after every get_all (the next recovery should not need it).
    snapshotter_->Schedule();
  }
  return absl::OkStatus();
}

snapshot::DecodeOptions Engine::ImageDecodeOptions() const {
  snapshot::DecodeOptions o;
  o.verify_digest = false;
  o.parallel = true;
  o.max_vertices = options_.max_graph_vertices;
  o.max_edges = options_.max_graph_edges;
  return o;
}

absl::Status Engine::TakeImageChunk(v1::GetAllResponse* resp,
                                    std::unique_ptr<IncomingImage>* image) {
  if (resp->has_image_header()) {
    if (*image != nullptr) {
      return absl::DataLossError("get_all image: a second image header in one stream");
    }
    *image = std::make_unique<IncomingImage>(resp->image_header(), ImageDecodeOptions());
    absl::Status s = (*image)->decoder.Begin(resp->image_header());
    if (!s.ok()) return absl::DataLossError(absl::StrCat("get_all image: ", s.message()));
  } else if (*image == nullptr) {
    return absl::DataLossError(absl::StrCat("get_all image: chunk ", resp->image_chunk().index(),
                                            " came before the image header"));
  }
  absl::Status s = (*image)->decoder.AddChunk(resp->image_chunk());
  if (!s.ok()) return absl::DataLossError(absl::StrCat("get_all image: ", s.message()));
  (*image)->chunks.push_back(resp->image_chunk());
  return absl::OkStatus();
}

absl::Status Engine::CommitImage(std::unique_ptr<IncomingImage> image, const std::string& source,
                                 uint64_t covered) {
  const size_t n = image->chunks.size();
  const absl::Time t0 = absl::Now();
  if (journal_) RETURN_IF_ERROR(journal_->WaitForRoom(n, absl::InfiniteFuture()));
  absl::MutexLock l(&mu_);
  graph_ = image->decoder.TakeGraph();
  DropPartialImageLocked();
  for (size_t i = 0; i < n; ++i) {
    v1::JournalRecord rec;
    if (i == 0) *rec.mutable_image_header() = image->header;
    rec.mutable_image_chunk()->Swap(&image->chunks[i]);
    rec.set_event_kind(absl::StrCat("get_all image ", i + 1, "/", n));
    if (i + 1 == n) {
      rec.set_source(source);
      rec.set_source_seq(covered);
    }
    CommitRecordLocked(std::move(rec));
  }
  LOG(INFO) << "get_all: graph image of " << image->header.vertex_count() << " vertices and "
            << image->header.edge_count() << " edges (" << image->header.compressed_bytes()
            << " bytes) replaces the graph; journaled as " << n << " image records (" << MsSince(t0)
            << " ms)";
  return absl::OkStatus();
}

absl::Status Engine::ApplyImageRecordLocked(const v1::JournalRecord& rec) {
  if (rec.has_image_header()) {
    if (replay_image_ != nullptr) {
      LOG(WARNING) << "record " << rec.seq() << " starts a get_all image while the one before "
                   << "is incomplete; the incomplete one is dropped (its get_all did not finish)";
    }
    replay_image_ = std::make_unique<IncomingImage>(rec.image_header(), ImageDecodeOptions());
    absl::Status s = replay_image_->decoder.Begin(rec.image_header());
    if (!s.ok()) {
      replay_image_.reset();
      return absl::DataLossError(
          absl::StrCat("record ", rec.seq(), ": get_all image: ", s.message()));
    }
  } else if (replay_image_ == nullptr) {
    return absl::DataLossError(absl::StrCat("record ", rec.seq(), " holds chunk ",
                                            rec.image_chunk().index(),
                                            " of a get_all image whose first record is missing"));
  }
  absl::Status s = replay_image_->decoder.AddChunk(rec.image_chunk());
  if (s.ok() && rec.image_chunk().index() + 1 == replay_image_->header.chunk_count()) {
    s = replay_image_->decoder.Finish();
    if (s.ok()) {
      graph_ = replay_image_->decoder.TakeGraph();
      replay_image_.reset();
    }
  }
  if (!s.ok()) {
    replay_image_.reset();
    return absl::DataLossError(
        absl::StrCat("record ", rec.seq(), ": get_all image: ", s.message()));
  }
  return absl::OkStatus();
}

bool Engine::DropPartialImageLocked() {
  if (replay_image_ == nullptr) return false;
  replay_image_.reset();
  return true;
}

}  // namespace vitrage::service
