#include "graph_service/service/get_all.h"

#include <glog/logging.h>
#include <google/protobuf/arena.h>

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/grpc_util.h"
#include "common/status_macros.h"
#include "graph_service/graph/key_budget.h"

namespace vitrage::service {
namespace {

double MsSince(absl::Time t) { return absl::ToDoubleMilliseconds(absl::Now() - t); }

}  // namespace

std::string RestartedSource(const v1::PushEventsRequest& req,
                            const absl::flat_hash_map<std::string, uint64_t>& marks) {
  // A push is almost always one source's events: look each source up once,
  // not once per event (intake looks every event up again for dedupe).
  const std::string* previous = nullptr;
  for (const v1::Event& ev : req.events()) {
    if (ev.source_seq() == 0) continue;
    if (previous != nullptr && ev.source() == *previous) continue;
    previous = &ev.source();
    if (marks.contains(ev.source())) continue;
    const size_t at = ev.source().rfind('@');
    if (at == std::string::npos) continue;
    const absl::string_view name = absl::string_view(ev.source()).substr(0, at + 1);
    for (const auto& [known, seq] : marks) {
      if (absl::StartsWith(known, name) && known.size() > name.size() &&
          known.find('@', name.size()) == std::string::npos) {
        return absl::StrCat("collector \"", name.substr(0, at), "\" restarted (run ",
                            known.substr(name.size()), ", acked up to seq ", seq, ", is now run ",
                            ev.source().substr(at + 1), ")");
      }
    }
  }
  return std::string();
}

GetAll::GetAll(GetAllOptions options, v1::Collector::Stub* collector, GraphState* state,
               Hooks hooks)
    : options_(std::move(options)),
      collector_(collector),
      state_(state),
      hooks_(std::move(hooks)) {}

absl::StatusOr<absl::Duration> GetAll::Run(const std::string& reason, bool live) {
  // A live get_all (an ACTIVE graph reconciling with a restarted collector)
  // keeps the role: intake is held by the caller meanwhile.
  auto phase = [&](const std::string& text) {
    if (live) {
      hooks_.phase(v1::ACTIVE, absl::StrCat("active, reconciling: ", text));
    } else {
      hooks_.phase(v1::RECOVERING, text);
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
    GraphState* state;
    ~CloseGetAll() {
      absl::MutexLock l(&state->mu);
      state->handler->CancelGetAll();
    }
  } close_get_all{state_};
  // Progress for status (get_all_received etc.) and the log (every
  // progress_log_interval, 5 s by default).
  {
    absl::MutexLock l(&progress_mu_);
    received_ = 0;
    running_ = true;
    start_ = t0;
    end_ = absl::InfinitePast();
  }
  struct EndProgress {
    GetAll* get_all;
    ~EndProgress() {
      absl::MutexLock l(&get_all->progress_mu_);
      get_all->end_ = absl::Now();
      get_all->running_ = false;
    }
  } end_progress{this};
  absl::Time next_progress_log = t0 + options_.progress_log_interval;
  auto progress = [&](uint64_t received) {
    {
      absl::MutexLock l(&progress_mu_);
      received_ = received;
    }
    const absl::Time now = absl::Now();
    if (now < next_progress_log) return;
    next_progress_log = now + options_.progress_log_interval;
    LOG(INFO) << "get_all: " << received << " entities received so far in "
              << absl::FormatDuration(absl::Trunc(now - t0, absl::Milliseconds(100)))
              << " (collector at " << options_.collector_address << ")";
  };
  while (true) {
    RETURN_IF_ERROR(hooks_.stopped());
    {
      absl::MutexLock l(&state_->mu);
      state_->handler->BeginGetAll();
    }
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(600)));
    v1::GetAllRequest req;
    req.set_action(live ? "snapshot" : "init_snapshot");
    // An image replaces the whole graph (and the evaluator's work in it):
    // only for a graph that is not serving yet.
    req.set_accept_image(!live);
    auto reader = collector_->GetAll(&ctx, req);
    journal::JournalClient* journal = hooks_.journal();
    std::string source;
    uint64_t covered = 0;
    events = 0;
    uint64_t over_key_limit = 0;
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
        // An image's vertices, in proportion to its chunks received.
        const uint64_t chunks = std::max<uint64_t>(1, image->header.chunk_count());
        progress(image->header.vertex_count() * image->chunks.size() / chunks);
        continue;
      }
      if (resp->events_size() == 0) continue;
      if (journal != nullptr) {
        RETURN_IF_ERROR(journal->WaitForRoom(resp->events_size() + 1, absl::InfiniteFuture()));
      }
      absl::MutexLock l(&state_->mu);
      for (const v1::Event& ev : resp->events()) {
        ++events;
        // Keys stay interned for the life of the process: the bound
        // PushEvents and the bus keep applies here too (graph/key_budget.h).
        if (!graph::KeyBudget::SurelyFits(ev.ByteSizeLong(), options_.max_distinct_keys)) {
          graph::KeyBudget keys(options_.max_distinct_keys);
          if (absl::Status k = keys.Add(ev); !k.ok()) {
            if (++over_key_limit <= 3) {
              LOG(WARNING) << "get_all: event " << events << " skipped: " << k.message();
            }
            continue;
          }
        }
        hooks_.apply_locked(ev);
      }
      progress(events);
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
      if (journal != nullptr) RETURN_IF_ERROR(journal->WaitForRoom(1, absl::InfiniteFuture()));
      absl::MutexLock l(&state_->mu);
      v1::JournalRecord rec;
      state_->handler->EndGetAll(&state_->graph, rec.mutable_delta());
      rec.set_event_kind("get_all reconcile");
      // The collector's events up to `covered` are in what get_all returned:
      // when it re-sends them they are acked without being applied.
      rec.set_source(source);
      rec.set_source_seq(covered);
      // Live, the evaluator is on: what the reconcile removed is evaluated
      // as any change (at recovery it is off and a full pass follows).
      hooks_.commit_locked(&rec);
      shape = absl::StrCat(events, " events");
      if (over_key_limit > 0) {
        absl::StrAppend(&shape, ", of which ", over_key_limit,
                        " skipped: over [limits] max_distinct_keys");
        LOG(WARNING) << "get_all: " << over_key_limit << " of " << events
                     << " events skipped: their property keys would pass [limits] "
                        "max_distinct_keys ("
                     << options_.max_distinct_keys << ")";
      }
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
      hooks_.phase(v1::ACTIVE, "active");
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
  const absl::Duration took = absl::Now() - t0;
  {
    absl::MutexLock l(&state_->mu);
    LOG(INFO) << "get_all: at seq " << state_->applied_seq << " (" << shape << "), graph has "
              << state_->graph.vertex_count() << " vertices and " << state_->graph.edge_count()
              << " edges, " << absl::ToDoubleMilliseconds(took) << " ms";
  }
  if (live) hooks_.phase(v1::ACTIVE, "active");
  return took;
}

snapshot::DecodeOptions GetAll::ImageDecodeOptions() const {
  snapshot::DecodeOptions o;
  o.verify_digest = false;
  o.parallel = true;
  o.max_vertices = options_.max_graph_vertices;
  o.max_edges = options_.max_graph_edges;
  return o;
}

absl::Status GetAll::TakeImageChunk(v1::GetAllResponse* resp,
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

absl::Status GetAll::CommitImage(std::unique_ptr<IncomingImage> image, const std::string& source,
                                 uint64_t covered) {
  const size_t n = image->chunks.size();
  const absl::Time t0 = absl::Now();
  journal::JournalClient* journal = hooks_.journal();
  if (journal != nullptr) RETURN_IF_ERROR(journal->WaitForRoom(n, absl::InfiniteFuture()));
  absl::MutexLock l(&state_->mu);
  state_->graph = image->decoder.TakeGraph();
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
    hooks_.commit_locked(&rec);
  }
  LOG(INFO) << "get_all: graph image of " << image->header.vertex_count() << " vertices and "
            << image->header.edge_count() << " edges (" << image->header.compressed_bytes()
            << " bytes) replaces the graph; journaled as " << n << " image records (" << MsSince(t0)
            << " ms)";
  return absl::OkStatus();
}

absl::Status GetAll::ApplyImageRecordLocked(const v1::JournalRecord& rec) {
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
      state_->graph = replay_image_->decoder.TakeGraph();
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

bool GetAll::DropPartialImageLocked() {
  if (replay_image_ == nullptr) return false;
  replay_image_.reset();
  return true;
}

void GetAll::FillProgress(v1::GraphStatus* st) const {
  absl::MutexLock l(&progress_mu_);
  st->set_get_all_running(running_);
  st->set_get_all_received(received_);
  if (start_ != absl::InfinitePast()) {
    const absl::Time end = running_ || end_ == absl::InfinitePast() ? absl::Now() : end_;
    st->set_get_all_seconds(absl::ToDoubleSeconds(end - start_));
  }
}

}  // namespace vitrage::service
