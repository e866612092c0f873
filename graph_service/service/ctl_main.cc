// vitrage-ctl: an admin CLI over the gRPC API, for people without grpcurl.
//
//   vitrage-ctl [--graph HOST:PORT] status [--digest]
//   vitrage-ctl [--graph HOST:PORT] export [FILE]      workload JSONL (stdout)
//   vitrage-ctl [--graph HOST:PORT] digest             content digest
//   vitrage-ctl [--graph HOST:PORT] take-snapshot
//   vitrage-ctl [--graph HOST:PORT] vertex ID
//   vitrage-ctl --collector HOST:PORT collector-status [--digest]
//   vitrage-ctl --persistor HOST:PORT persistor-status
// Exit code 0 on success, 1 on an RPC error (printed), 2 on bad usage.
#include <google/protobuf/util/json_util.h>

#include <CLI/CLI.hpp>
#include <fstream>
#include <iostream>

#include "common/grpc_util.h"
#include "graph_service/graph/digest.h"
#include "graph_service/graph/proto_convert.h"
#include "graph_service/workload/workload.h"
#include "vitrage/v1/collector.grpc.pb.h"
#include "vitrage/v1/graph.grpc.pb.h"
#include "vitrage/v1/persistor.grpc.pb.h"

namespace {

int Fail(const grpc::Status& st) {
  std::cerr << "vitrage-ctl: " << st.error_code() << ": " << st.error_message() << "\n";
  return 1;
}

void PrintJson(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions o;
  o.add_whitespace = true;
  o.always_print_primitive_fields = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, o);
  std::cout << out;
}

// Reads the whole topology into a graph.
grpc::Status FetchGraph(vitrage::v1::Graph::Stub* stub, vitrage::graph::Graph* g) {
  grpc::ClientContext ctx;
  vitrage::v1::GetTopologyRequest req;
  req.set_include_deleted(true);
  auto reader = stub->GetTopology(&ctx, req);
  vitrage::v1::TopologyBatch b;
  while (reader->Read(&b)) {
    for (const auto& v : b.vertices()) (void)vitrage::graph::AddVertexFromProto(v, g);
    for (const auto& e : b.edges()) (void)vitrage::graph::AddEdgeFromProto(e, g);
  }
  return reader->Finish();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"vitrage-ctl: status, topology export and snapshots over gRPC"};
  std::string graph_addr = "127.0.0.1:9702", collector_addr = "127.0.0.1:9703",
              persistor_addr = "127.0.0.1:9701";
  app.add_option("--graph", graph_addr, "vitrage-graph HOST:PORT");
  app.add_option("--collector", collector_addr, "vitrage-collector HOST:PORT");
  app.add_option("--persistor", persistor_addr, "vitrage-persistor HOST:PORT");
  app.require_subcommand(1);
  bool digest = false;
  auto* status = app.add_subcommand("status", "graph status (role, phase, seqs, timings)");
  status->add_flag("--digest", digest, "also compute the content digest");
  std::string export_path;
  auto* exp = app.add_subcommand("export", "the graph as workload JSONL");
  exp->add_option("file", export_path, "output file (default stdout)");
  auto* dig = app.add_subcommand("digest", "content digest of the graph");
  auto* snap = app.add_subcommand("take-snapshot", "take a snapshot now");
  std::string vertex_id;
  auto* vertex = app.add_subcommand("vertex", "one vertex and its edges");
  vertex->add_option("id", vertex_id)->required();
  auto* cstatus = app.add_subcommand("collector-status", "collector outbox counters");
  cstatus->add_flag("--digest", digest, "also compute the model digest");
  auto* pstatus = app.add_subcommand("persistor-status", "persistor epoch, seqs, snapshots");
  CLI11_PARSE(app, argc, argv);

  auto graph = vitrage::v1::Graph::NewStub(vitrage::MakeChannel(graph_addr, 64 << 20));
  if (status->parsed()) {
    grpc::ClientContext ctx;
    vitrage::v1::GraphStatusRequest req;
    req.set_with_digest(digest);
    vitrage::v1::GraphStatus resp;
    grpc::Status st = graph->GetStatus(&ctx, req, &resp);
    if (!st.ok()) return Fail(st);
    PrintJson(resp);
    return 0;
  }
  if (exp->parsed() || dig->parsed()) {
    vitrage::graph::Graph g;
    grpc::Status st = FetchGraph(graph.get(), &g);
    if (!st.ok()) return Fail(st);
    if (dig->parsed()) {
      std::cout << vitrage::graph::Digest(g) << "\n";
      return 0;
    }
    if (!export_path.empty()) {
      absl::Status s = vitrage::workload::ExportGraphFile(g, export_path);
      if (!s.ok()) {
        std::cerr << "vitrage-ctl: " << s << "\n";
        return 1;
      }
      return 0;
    }
    std::string line;
    for (auto v : g.VerticesById()) {
      line.clear();
      vitrage::workload::AppendVertexLine(g, v, &line);
      std::cout << line << "\n";
    }
    for (auto e : g.EdgesByKey()) {
      line.clear();
      vitrage::workload::AppendEdgeLine(g, e, &line);
      std::cout << line << "\n";
    }
    return 0;
  }
  if (snap->parsed()) {
    grpc::ClientContext ctx;
    vitrage::v1::TakeSnapshotResponse resp;
    grpc::Status st = graph->TakeSnapshot(&ctx, vitrage::v1::TakeSnapshotRequest(), &resp);
    if (!st.ok()) return Fail(st);
    PrintJson(resp);
    return 0;
  }
  if (vertex->parsed()) {
    grpc::ClientContext ctx;
    vitrage::v1::GetVertexRequest req;
    req.set_id(vertex_id);
    vitrage::v1::GetVertexResponse resp;
    grpc::Status st = graph->GetVertex(&ctx, req, &resp);
    if (!st.ok()) return Fail(st);
    PrintJson(resp);
    return 0;
  }
  if (cstatus->parsed()) {
    auto c = vitrage::v1::Collector::NewStub(vitrage::MakeChannel(collector_addr));
    grpc::ClientContext ctx;
    vitrage::v1::CollectorStatusRequest req;
    req.set_with_digest(digest);
    vitrage::v1::CollectorStatus resp;
    grpc::Status st = c->GetStatus(&ctx, req, &resp);
    if (!st.ok()) return Fail(st);
    PrintJson(resp);
    return 0;
  }
  if (pstatus->parsed()) {
    auto p = vitrage::v1::Persistor::NewStub(vitrage::MakeChannel(persistor_addr));
    grpc::ClientContext ctx;
    vitrage::v1::PersistorStatus resp;
    grpc::Status st = p->GetStatus(&ctx, vitrage::v1::PersistorStatusRequest(), &resp);
    if (!st.ok()) return Fail(st);
    PrintJson(resp);
    return 0;
  }
  return 2;
}
