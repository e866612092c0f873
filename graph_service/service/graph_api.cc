#include "graph_service/service/graph_api.h"

#include <glog/logging.h>
#include <google/protobuf/arena.h>

#include <deque>
#include <memory>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "common/grpc_util.h"
#include "common/input_limits.h"
#include "common/metrics.h"
#include "common/reusable_arena.h"

namespace vitrage::service {

grpc::Status GraphApi::PushEvents(grpc::ServerContext*, const v1::PushEventsRequest* req,
                                  v1::PushEventsResponse* resp) {
  if (absl::Status s = CheckPushEvents(*req, limits_); !s.ok()) {
    LOG_EVERY_N(WARNING, 100) << "refused PushEvents: " << s.message() << " (every 100th logged)";
    return ToGrpcStatus(s);
  }
  auto r = engine_->PushEvents(*req);
  if (!r.ok()) return ToGrpcStatus(r.status());
  *resp = std::move(*r);
  return grpc::Status::OK;
}

// Pipelined intake. This thread reads and applies requests in arrival order
// (Engine::ApplyPush); an acker thread waits for each one's durability in
// the same order (Engine::FinishPush) and writes its response, so applying
// request n + 1 overlaps with committing request n. gRPC allows one Read and
// one Write at a time on a stream, from different threads. A request the
// engine refuses ends the stream with its status after the requests before
// it are acked; a durability failure ends it at once (the collector re-sends
// everything unacked, in order, and the per-source marks ack what was
// already applied). At most kMaxQueued requests wait for durability: a
// client that sends more waits (the collector keeps a few in flight).
grpc::Status GraphApi::PushEventStream(
    grpc::ServerContext* ctx,
    grpc::ServerReaderWriter<v1::PushEventsResponse, v1::PushEventsRequest>* stream) {
  constexpr size_t kMaxQueued = 64;
  // Where a request's time goes on this side (the collector sees the rest:
  // transit both ways): applying it, and from its arrival to its ack.
  static auto& apply_seconds =
      metrics::Histogram("vitrage_graph_push_apply_seconds",
                         "PushEventStream: time to apply one request (intake lock wait included)",
                         metrics::LatencyBuckets());
  static auto& request_seconds =
      metrics::Histogram("vitrage_graph_push_request_seconds",
                         "PushEventStream: time from a request's arrival to its ack being written",
                         metrics::LatencyBuckets());
  struct Queued {
    Engine::PushTicket ticket;
    absl::Time arrived;
  };
  absl::Mutex mu;
  std::deque<Queued> queue;
  bool reading_done = false;
  absl::Status ack_error;  // set by the acker: stop reading
  std::thread acker([&] {
    while (true) {
      Queued q;
      {
        absl::MutexLock l(&mu);
        auto ready = [&] { return !queue.empty() || reading_done; };
        mu.Await(absl::Condition(&ready));
        if (queue.empty()) return;
        q = std::move(queue.front());
        queue.pop_front();
      }
      absl::StatusOr<v1::PushEventsResponse> r = engine_->FinishPush(std::move(q.ticket));
      absl::Status s = r.ok() ? absl::OkStatus() : r.status();
      if (s.ok() && !stream->Write(*r)) s = absl::CancelledError("client went away");
      if (s.ok()) request_seconds.Observe(absl::ToDoubleSeconds(absl::Now() - q.arrived));
      if (!s.ok()) {
        absl::MutexLock l(&mu);
        ack_error = s;
        queue.clear();
        ctx->TryCancel();  // ends the Read below
        return;
      }
    }
  });
  absl::Status error;
  // Each request is parsed on an arena that is reset once it is applied:
  // an event's hundreds of small messages then cost no frees.
  // Its first block survives Reset(): most requests fit.
  ReusableArena arena(2 << 20, 4 << 20);
  while (true) {
    arena.Reset();
    v1::PushEventsRequest& req =
        *google::protobuf::Arena::CreateMessage<v1::PushEventsRequest>(arena.get());
    if (!stream->Read(&req)) break;
    const absl::Time arrived = absl::Now();
    if (absl::Status s = CheckPushEvents(req, limits_); !s.ok()) {
      LOG_EVERY_N(WARNING, 100) << "refused PushEventStream request: " << s.message()
                                << " (every 100th logged)";
      error = s;
      break;
    }
    absl::StatusOr<Engine::PushTicket> t = engine_->ApplyPush(req);
    if (!t.ok()) {
      error = t.status();
      break;
    }
    apply_seconds.Observe(absl::ToDoubleSeconds(absl::Now() - arrived));
    absl::MutexLock l(&mu);
    auto room = [&] { return queue.size() < kMaxQueued || !ack_error.ok(); };
    mu.Await(absl::Condition(&room));
    if (!ack_error.ok()) break;
    queue.push_back(Queued{std::move(*t), arrived});
  }
  {
    absl::MutexLock l(&mu);
    reading_done = true;
  }
  acker.join();
  if (!ack_error.ok()) return ToGrpcStatus(ack_error);
  if (!error.ok()) return ToGrpcStatus(error);
  return grpc::Status::OK;
}

grpc::Status GraphApi::GetTopology(grpc::ServerContext* ctx, const v1::GetTopologyRequest* req,
                                   grpc::ServerWriter<v1::TopologyBatch>* writer) {
  std::vector<v1::TopologyBatch> batches;
  absl::Status s = engine_->GetTopology(*req, &batches);
  if (!s.ok()) return ToGrpcStatus(s);
  for (const auto& b : batches) {
    if (ctx->IsCancelled() || !writer->Write(b)) {
      return grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
    }
  }
  return grpc::Status::OK;
}

grpc::Status GraphApi::GetVertex(grpc::ServerContext*, const v1::GetVertexRequest* req,
                                 v1::GetVertexResponse* resp) {
  auto r = engine_->GetVertex(req->id());
  if (!r.ok()) return ToGrpcStatus(r.status());
  *resp = std::move(*r);
  return grpc::Status::OK;
}

grpc::Status GraphApi::GetStatus(grpc::ServerContext*, const v1::GraphStatusRequest* req,
                                 v1::GraphStatus* resp) {
  *resp = engine_->Status(req->with_digest());
  if (status_hook_) status_hook_(resp);
  return grpc::Status::OK;
}

grpc::Status GraphApi::TakeSnapshot(grpc::ServerContext*, const v1::TakeSnapshotRequest*,
                                    v1::TakeSnapshotResponse* resp) {
  auto r = engine_->TakeSnapshot();
  if (!r.ok()) return ToGrpcStatus(r.status());
  *resp = std::move(*r);
  return grpc::Status::OK;
}

grpc::Status GraphApi::ListAlarms(grpc::ServerContext*, const v1::ListAlarmsRequest* req,
                                  v1::ListAlarmsResponse* resp) {
  auto r = engine_->ListAlarms(*req);
  if (!r.ok()) return ToGrpcStatus(r.status());
  *resp = std::move(*r);
  return grpc::Status::OK;
}

grpc::Status GraphApi::GetRca(grpc::ServerContext*, const v1::GetRcaRequest* req,
                              v1::GetRcaResponse* resp) {
  auto r = engine_->GetRca(*req);
  if (!r.ok()) return ToGrpcStatus(r.status());
  *resp = std::move(*r);
  return grpc::Status::OK;
}

grpc::Status GraphApi::Promote(grpc::ServerContext*, const v1::PromoteRequest* req,
                               v1::PromoteResponse* resp) {
  absl::Duration timeout =
      req->timeout_ms() == 0 ? absl::Seconds(60) : absl::Milliseconds(req->timeout_ms());
  auto r = engine_->Promote(timeout);
  if (!r.ok()) return ToGrpcStatus(r.status());
  *resp = std::move(*r);
  return grpc::Status::OK;
}

}  // namespace vitrage::service
