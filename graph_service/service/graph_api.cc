#include "graph_service/service/graph_api.h"

#include <glog/logging.h>

#include "common/grpc_util.h"
#include "common/input_limits.h"

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

grpc::Status GraphApi::GetTopology(grpc::ServerContext* ctx,
                                   const v1::GetTopologyRequest* req,
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
