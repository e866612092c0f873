#include "collector/collector_service.h"

#include <glog/logging.h>
#include <google/protobuf/arena.h>

#include "absl/time/clock.h"
#include "graph_service/graph/digest.h"
#include "graph_service/processor/passthrough_event.h"
#include "graph_service/snapshot/snapshot.h"
#include "graph_service/workload/workload.h"
#include "nlohmann/json.hpp"

namespace vitrage::collector {

// vitrage_sample_date has one-second resolution: formatted once a second.
std::string SampleDateNow() {
  thread_local int64_t cached_second = INT64_MIN;
  thread_local std::string cached;
  const absl::Time now = absl::Now();
  const int64_t second = absl::ToUnixSeconds(now);
  if (second != cached_second) {
    cached = absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", now, absl::UTCTimeZone());
    cached_second = second;
  }
  return cached;
}

CollectorService::CollectorService(CollectorOptions options, std::unique_ptr<Model> model,
                                   std::shared_ptr<grpc::Channel> graph)
    : options_(options), model_(std::move(model)), outbox_(options.outbox, graph) {}

CollectorService::~CollectorService() { Shutdown(); }

void CollectorService::Start() {
  if (!upstream_mode_ && options_.get_all_image && !warm_image_.joinable()) {
    // The graph's first get_all should not wait for the encode.
    warm_image_ = std::thread([this] {
      absl::MutexLock l(&mu_);
      uint64_t covered;
      absl::Time t = absl::Now();
      auto image = ImageLocked(&covered);
      if (image.ok()) {
        LOG(INFO) << "get_all image ready: " << (*image)->header.vertex_count() << " vertices, "
                  << (*image)->header.compressed_bytes() << " bytes, encoded in "
                  << absl::ToDoubleMilliseconds(absl::Now() - t) << " ms";
      }
    });
  }
  bool makes_changes;
  {
    absl::MutexLock l(&mu_);
    makes_changes = upstream_ == nullptr || upstream_->MakesChanges();
  }
  if (options_.change_rate > 0 && !makes_changes) {
    LOG(WARNING) << "change_rate " << options_.change_rate
                 << " ignored: this datasource makes no changes";
    return;
  }
  if (options_.change_rate > 0 && !generator_.joinable()) {
    generating_ = true;
    generator_ = std::thread([this] {
      RunGenerator();
      generating_ = false;
    });
  }
}

void CollectorService::StopGenerator() { generator_stop_ = true; }

void CollectorService::Shutdown() {
  stop_ = true;
  outbox_.Shutdown();
  if (generator_.joinable()) generator_.join();
  if (tail_.joinable()) tail_.join();
  if (warm_image_.joinable()) warm_image_.join();
}

absl::Status CollectorService::StartTail(const std::string& path) {
  {
    absl::MutexLock l(&mu_);
    if (upstream_ != nullptr) {
      return absl::FailedPreconditionError(
          "a workload event tail needs the workload-shaped model (topology file .jsonl or "
          "synthetic_format = workload)");
    }
  }
  auto reader = workload::LineReader::Open(path);
  if (!reader.ok()) return reader.status();
  tail_ = std::thread([this, path, r = std::move(*reader)]() mutable {
    std::string line;
    uint64_t n = 0;
    absl::Time t0 = absl::Now();
    while (!stop_ && r->Next(&line)) {
      if (line.empty()) continue;
      nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded()) {
        LOG(ERROR) << path << " line " << r->line_number() << ": not JSON; tail stopped";
        return;
      }
      if (!outbox_.WaitForRoom()) return;
      absl::MutexLock l(&mu_);
      auto ops = model_->ApplyTailEvent(j);
      if (!ops.ok()) {
        LOG(ERROR) << path << " line " << r->line_number() << ": " << ops.status().message()
                   << "; tail stopped";
        return;
      }
      ++changes_;
      QueueOpsLocked(*ops, SampleDateNow());
      ++n;
    }
    LOG(INFO) << "tail " << path << ": queued " << n << " events in "
              << absl::ToDoubleMilliseconds(absl::Now() - t0) << " ms";
  });
  return absl::OkStatus();
}

uint64_t CollectorService::GenerateChange() {
  if (!outbox_.WaitForRoom()) return 0;
  absl::MutexLock l(&mu_);
  if (upstream_ != nullptr) return GenerateUpstreamChange();
  std::string now = SampleDateNow();
  std::vector<processor::PassthroughOp> ops = model_->NextChange(now);
  ++changes_;
  // Under mu_: GetAll sees the model and the seq that produced it together.
  return QueueOpsLocked(ops, now);
}

uint64_t CollectorService::QueueOpsLocked(const std::vector<processor::PassthroughOp>& ops,
                                          const std::string& now) {
  // Built on an arena in a stack block: the event's many small messages
  // are encoded into the outbox and then dropped at once.
  alignas(16) char block[32 << 10];
  google::protobuf::ArenaOptions ao;
  ao.initial_block = block;
  ao.initial_block_size = sizeof(block);
  google::protobuf::Arena arena(ao);
  auto* ev = google::protobuf::Arena::CreateMessage<v1::Event>(&arena);
  processor::EncodePassthrough(ops, "update", now, ev->mutable_fields());
  return outbox_.AddNow(*ev);
}

void CollectorService::RunGenerator() {
  const bool unlimited = options_.change_rate >= 1e6;
  const absl::Duration period =
      unlimited ? absl::ZeroDuration() : absl::Seconds(1.0 / options_.change_rate);
  absl::Time next = absl::Now();
  uint64_t made = 0;
  LOG(INFO) << "change generator: "
            << (unlimited ? std::string("as fast as acked")
                          : absl::StrCat(options_.change_rate, " events/s"))
            << (options_.max_changes ? absl::StrCat(", ", options_.max_changes, " changes")
                                     : std::string());
  while (!stop_ && !generator_stop_) {
    if (options_.max_changes != 0 && made >= options_.max_changes) {
      LOG(INFO) << "change generator: made " << made << " changes; stopping";
      return;
    }
    if (!unlimited) {
      absl::Time now = absl::Now();
      if (now < next) absl::SleepFor(std::min(next - now, absl::Milliseconds(100)));
      if (absl::Now() < next) continue;
      next += period;
      // Don't try to catch up a long back-pressure stall in a burst.
      if (absl::Now() - next > absl::Seconds(1)) next = absl::Now();
    }
    if (GenerateChange() == 0) return;
    ++made;
  }
}

grpc::Status CollectorService::GetAll(grpc::ServerContext* ctx, const v1::GetAllRequest* req,
                                      grpc::ServerWriter<v1::GetAllResponse>* writer) {
  std::string action = req->action().empty() ? "init_snapshot" : req->action();
  if (action != "init_snapshot" && action != "snapshot") {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "GetAll action must be init_snapshot or snapshot, not \"" + action + "\"");
  }
  uint32_t batch = req->batch_size() == 0 ? 1000 : req->batch_size();
  if (batch > 10000) batch = 10000;
  if (upstream_mode_) return GetAllUpstream(ctx, action, batch, writer);
  if (req->accept_image() && options_.get_all_image) return GetAllImage(ctx, action, writer);
  std::vector<processor::PassthroughOp> ops;
  uint64_t covered;
  {
    absl::MutexLock l(&mu_);
    ops = model_->FullState();
    covered = outbox_.counters().last_seq;
  }
  absl::Time started = absl::Now();
  std::string now = SampleDateNow();
  v1::GetAllResponse resp;
  size_t events = 0;
  size_t resp_bytes = 0;
  // Responses stay well under gRPC's 4 MiB default limit.
  constexpr size_t kMaxResponseBytes = 1 << 20;
  const size_t per_event = options_.ops_per_get_all_event;
  for (size_t i = 0; i < ops.size(); i += per_event) {
    std::vector<processor::PassthroughOp> part(
        std::make_move_iterator(ops.begin() + i),
        std::make_move_iterator(ops.begin() + std::min(ops.size(), i + per_event)));
    v1::Event* ev = resp.add_events();
    processor::EncodePassthrough(part, action, now, ev->mutable_fields());
    ++events;
    resp_bytes += ev->ByteSizeLong();
    if (static_cast<uint32_t>(resp.events_size()) >= batch || resp_bytes >= kMaxResponseBytes) {
      resp_bytes = 0;
      if (ctx->IsCancelled() || !writer->Write(resp)) {
        return grpc::Status(grpc::StatusCode::CANCELLED, "GetAll cancelled");
      }
      resp.Clear();
    }
  }
  resp.set_source(outbox_.source());
  resp.set_covered_source_seq(covered);
  if (!writer->Write(resp)) {
    return grpc::Status(grpc::StatusCode::CANCELLED, "GetAll cancelled");
  }
  LOG(INFO) << "get_all (" << action << "): " << ops.size() << " elements in " << events
            << " events, covering source_seq " << covered << ", "
            << absl::ToDoubleMilliseconds(absl::Now() - started) << " ms";
  return grpc::Status::OK;
}

absl::StatusOr<std::shared_ptr<const snapshot::EncodedSnapshot>> CollectorService::ImageLocked(
    uint64_t* covered) {
  *covered = outbox_.counters().last_seq;
  if (image_cache_.image != nullptr && image_cache_.covered == *covered &&
      image_cache_.changes == changes_) {
    return image_cache_.image;
  }
  snapshot::EncodeOptions eo;
  eo.compute_digest = false;
  auto image = snapshot::EncodeSnapshotToMemory(model_->graph(), snapshot::SnapshotInfo{}, {}, eo);
  if (!image.ok()) return image.status();
  image_cache_.covered = *covered;
  image_cache_.changes = changes_;
  image_cache_.image = std::make_shared<const snapshot::EncodedSnapshot>(std::move(*image));
  return image_cache_.image;
}

// The state as a graph image: the snapshot codec's chunks (zstd, CRC32C,
// < 2 MiB each), one per response, the header with the first. The image
// and covered_source_seq are taken together under mu_; the image is encoded
// once per model state (ImageLocked) and, for the first get_all, ahead of
// time at Start(). The image carries no digest (the receiver checks CRCs
// and counts; the digest costs a JSON rendering of the whole graph).
grpc::Status CollectorService::GetAllImage(grpc::ServerContext* ctx, const std::string& action,
                                           grpc::ServerWriter<v1::GetAllResponse>* writer) {
  absl::Time started = absl::Now();
  absl::StatusOr<std::shared_ptr<const snapshot::EncodedSnapshot>> image;
  uint64_t covered;
  {
    absl::MutexLock l(&mu_);
    image = ImageLocked(&covered);
  }
  if (!image.ok()) {
    LOG(ERROR) << "get_all (" << action << "): encoding the graph image failed: " << image.status();
    return grpc::Status(grpc::StatusCode::INTERNAL, "GetAll: encoding the graph image failed: " +
                                                        std::string(image.status().message()));
  }
  const double encode_ms = absl::ToDoubleMilliseconds(absl::Now() - started);
  const snapshot::EncodedSnapshot& img = **image;
  const size_t n = img.chunks.size();
  for (size_t i = 0; i < n; ++i) {
    v1::GetAllResponse resp;
    if (i == 0) *resp.mutable_image_header() = img.header;
    *resp.mutable_image_chunk() = img.chunks[i];
    if (i + 1 == n) {
      resp.set_source(outbox_.source());
      resp.set_covered_source_seq(covered);
    }
    if (ctx->IsCancelled() || !writer->Write(resp)) {
      return grpc::Status(grpc::StatusCode::CANCELLED, "GetAll cancelled");
    }
  }
  LOG(INFO) << "get_all (" << action << "): graph image of " << img.header.vertex_count()
            << " vertices and " << img.header.edge_count() << " edges, "
            << img.header.compressed_bytes() << " bytes in " << n << " chunks (image ready in "
            << encode_ms << " ms), covering source_seq " << covered << ", "
            << absl::ToDoubleMilliseconds(absl::Now() - started) << " ms";
  return grpc::Status::OK;
}

grpc::Status CollectorService::GetStatus(grpc::ServerContext*,
                                         const v1::CollectorStatusRequest* req,
                                         v1::CollectorStatus* resp) {
  OutboxCounters c = outbox_.counters(req->ack_latency_from_seq());
  resp->set_pending(c.pending);
  resp->set_acked(c.acked);
  resp->set_retries(c.retries);
  resp->set_last_source_seq(c.last_seq);
  resp->set_acked_source_seq(c.acked_seq);
  resp->set_source(outbox_.source());
  resp->set_ack_latency_p50_ms(c.ack_p50_ms);
  resp->set_ack_latency_p99_ms(c.ack_p99_ms);
  resp->set_ack_latency_max_ms(c.ack_max_ms);
  resp->set_ack_latency_p999_ms(c.ack_p999_ms);
  resp->set_ack_latency_samples(c.ack_samples);
  resp->set_ack_queued_p50_ms(c.queued_p50_ms);
  resp->set_ack_queued_p99_ms(c.queued_p99_ms);
  resp->set_generating(generating_);
  resp->set_dead_lettered(c.dead_lettered);
  for (uint64_t seq : c.dead_lettered_seqs) resp->add_dead_lettered_seqs(seq);
  absl::MutexLock l(&mu_);
  if (upstream_ != nullptr) {
    resp->set_entities(reference_->graph().vertex_count());
    resp->set_relationships(reference_->graph().edge_count());
    resp->set_changes(changes_);
    if (req->with_digest()) resp->set_model_digest(CanonicalDigest(reference_->graph()));
    return grpc::Status::OK;
  }
  resp->set_entities(model_->graph().vertex_count());
  resp->set_relationships(model_->graph().edge_count());
  resp->set_changes(changes_);
  if (req->with_digest()) resp->set_model_digest(graph::Digest(model_->graph()));
  return grpc::Status::OK;
}

}  // namespace vitrage::collector
