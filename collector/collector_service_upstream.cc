// CollectorService with an upstream-shaped source (collector/upstream_events.h):
// GetAll, changes and the reference graph.
#include <glog/logging.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "collector/collector_service.h"

namespace vitrage::collector {

CollectorService::CollectorService(CollectorOptions options, std::unique_ptr<UpstreamSource> source,
                                   std::shared_ptr<grpc::Channel> graph)
    : CollectorService(options, std::make_unique<Model>(0), std::move(graph)) {
  absl::MutexLock l(&mu_);
  upstream_mode_ = true;
  upstream_ = std::move(source);
  reference_ = std::make_unique<ReferenceGraph>(options.reference_seed);
  // Until a graph runs get_all: the state as an init_snapshot of now.
  v1::MapValue fields;
  for (const nlohmann::json& ev : upstream_->GetAll("init_snapshot", SampleDateNow())) {
    JsonToMapValue(ev, &fields);
    if (absl::Status s = reference_->Process(fields); !s.ok()) {
      LOG(ERROR) << "reference graph: " << s.message();
    }
  }
}

std::string CollectorService::ReferenceDigest() {
  absl::MutexLock l(&mu_);
  return reference_ ? CanonicalDigest(reference_->graph()) : std::string();
}

absl::StatusOr<size_t> CollectorService::Reload() {
  if (!upstream_mode_) {
    return absl::FailedPreconditionError("this datasource has no file to reload");
  }
  if (!outbox_.WaitForRoom()) return absl::CancelledError("shutting down");
  absl::MutexLock l(&mu_);
  auto events = upstream_->Reload(SampleDateNow());
  if (!events.ok()) return events.status();
  if (!events->empty()) ++changes_;
  for (const nlohmann::json& j : *events) {
    v1::Event ev;
    JsonToMapValue(j, ev.mutable_fields());
    if (absl::Status s = reference_->Process(ev.fields()); !s.ok()) {
      LOG(ERROR) << "reference graph: " << s.message() << "; event " << j.dump();
    }
    outbox_.AddNow(std::move(ev));
  }
  return events->size();
}

uint64_t CollectorService::GenerateUpstreamChange() {
  std::string now = SampleDateNow();
  std::vector<nlohmann::json> events = upstream_->NextChange(now);
  if (events.empty()) return 0;
  ++changes_;
  uint64_t seq = 0;
  for (const nlohmann::json& j : events) {
    v1::Event ev;
    JsonToMapValue(j, ev.mutable_fields());
    // The reference sees exactly the body the graph gets.
    if (absl::Status s = reference_->Process(ev.fields()); !s.ok()) {
      LOG(ERROR) << "reference graph: " << s.message() << "; event " << j.dump();
    }
    // Under mu_: GetAll sees the state and the seq that produced it together.
    seq = outbox_.AddNow(std::move(ev));
  }
  return seq;
}

grpc::Status CollectorService::GetAllUpstream(grpc::ServerContext* ctx, const std::string& action,
                                              uint32_t batch,
                                              grpc::ServerWriter<v1::GetAllResponse>* writer) {
  absl::Time started = absl::Now();
  std::vector<v1::Event> events;
  uint64_t covered;
  {
    absl::MutexLock l(&mu_);
    std::vector<nlohmann::json> all = upstream_->GetAll(action, SampleDateNow());
    covered = outbox_.counters().last_seq;
    // A graph running init_snapshot starts from nothing: so does the
    // reference. A snapshot is processed on top, as the graph does (its
    // outdated-entity pass is not modelled).
    if (action == "init_snapshot") reference_->Reset();
    events.resize(all.size());
    for (size_t i = 0; i < all.size(); ++i) {
      JsonToMapValue(all[i], events[i].mutable_fields());
      if (absl::Status s = reference_->Process(events[i].fields()); !s.ok()) {
        LOG(ERROR) << "reference graph: " << s.message();
      }
    }
  }
  v1::GetAllResponse resp;
  size_t resp_bytes = 0;
  constexpr size_t kMaxResponseBytes = 1 << 20;  // well under gRPC's 4 MiB
  for (v1::Event& ev : events) {
    resp_bytes += ev.ByteSizeLong();
    *resp.add_events() = std::move(ev);
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
  if (!writer->Write(resp)) return grpc::Status(grpc::StatusCode::CANCELLED, "GetAll cancelled");
  LOG(INFO) << "get_all (" << action << "): " << events.size()
            << " upstream-shaped events, covering source_seq " << covered << ", "
            << absl::ToDoubleMilliseconds(absl::Now() - started) << " ms";
  return grpc::Status::OK;
}

}  // namespace vitrage::collector
