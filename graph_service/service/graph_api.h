// The Graph gRPC service over an Engine.
#ifndef VITRAGE_GRAPH_SERVICE_SERVICE_GRAPH_API_H_
#define VITRAGE_GRAPH_SERVICE_SERVICE_GRAPH_API_H_

#include <functional>

#include "common/config.h"
#include "graph_service/service/engine.h"
#include "vitrage/v1/graph.grpc.pb.h"

namespace vitrage::service {

class GraphApi final : public v1::Graph::Service {
 public:
  // PushEvents refuses requests over `limits` (common/input_limits.h)
  // before the engine sees them.
  explicit GraphApi(Engine* engine, Config::Limits limits = {})
      : engine_(engine), limits_(limits) {}

  grpc::Status PushEvents(grpc::ServerContext*, const v1::PushEventsRequest* req,
                          v1::PushEventsResponse* resp) override;
  grpc::Status PushEventStream(
      grpc::ServerContext* ctx,
      grpc::ServerReaderWriter<v1::PushEventsResponse, v1::PushEventsRequest>* stream) override;
  grpc::Status GetTopology(grpc::ServerContext* ctx, const v1::GetTopologyRequest* req,
                           grpc::ServerWriter<v1::TopologyBatch>* writer) override;
  grpc::Status GetVertex(grpc::ServerContext*, const v1::GetVertexRequest* req,
                         v1::GetVertexResponse* resp) override;
  grpc::Status GetStatus(grpc::ServerContext*, const v1::GraphStatusRequest* req,
                         v1::GraphStatus* resp) override;
  grpc::Status TakeSnapshot(grpc::ServerContext*, const v1::TakeSnapshotRequest* req,
                            v1::TakeSnapshotResponse* resp) override;
  grpc::Status ListAlarms(grpc::ServerContext*, const v1::ListAlarmsRequest* req,
                          v1::ListAlarmsResponse* resp) override;
  grpc::Status GetRca(grpc::ServerContext*, const v1::GetRcaRequest* req,
                      v1::GetRcaResponse* resp) override;
  grpc::Status Promote(grpc::ServerContext*, const v1::PromoteRequest* req,
                       v1::PromoteResponse* resp) override;

  // Adds to every GetStatus answer (the bus listener's part). Set before
  // the server starts.
  void SetStatusHook(std::function<void(v1::GraphStatus*)> hook) { status_hook_ = std::move(hook); }

 private:
  Engine* engine_;
  std::function<void(v1::GraphStatus*)> status_hook_;
  const Config::Limits limits_;
};

}  // namespace vitrage::service

#endif  // VITRAGE_GRAPH_SERVICE_SERVICE_GRAPH_API_H_
