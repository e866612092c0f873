// Hand-written protobuf wire encoding of v1::SnapshotChunkBody members
// straight from / into the graph (no intermediate v1::Vertex objects). The
// bytes are exactly what protobuf would parse as SnapshotChunkBody; tests
// check that against the generated parser. Internal to snapshot/.
#ifndef VITRAGE_GRAPH_SERVICE_SNAPSHOT_BODY_CODEC_H_
#define VITRAGE_GRAPH_SERVICE_SNAPSHOT_BODY_CODEC_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "graph_service/graph/graph.h"
#include "vitrage/v1/snapshot.pb.h"

namespace vitrage::snapshot::internal {

// SnapshotChunkBody field numbers.
inline constexpr int kBodyVertices = 1;
inline constexpr int kBodyEdges = 2;
inline constexpr int kBodySourceMarks = 3;
inline constexpr int kBodyEvaluatorState = 4;
inline constexpr int kBodyProcessorState = 5;

// Size of the length-delimited record (tag + length + message) that
// AppendVertex / AppendEdge will write.
size_t VertexRecordSize(const graph::Graph& g, graph::Slot v);
size_t EdgeRecordSize(const graph::Graph& g, graph::Slot e);
void AppendVertex(const graph::Graph& g, graph::Slot v, std::string* out);
void AppendEdge(const graph::Graph& g, graph::Slot e, std::string* out);
// Appends a length-delimited bytes/message field.
void AppendBytesField(int field, absl::string_view bytes, std::string* out);

// What a body held besides graph elements.
struct BodySections {
  std::vector<v1::SourceMark> source_marks;
  std::string evaluator_state;
  std::string processor_state;
  bool present = false;  // any section field seen
};

// Parses a serialized SnapshotChunkBody, adding its vertices and edges to
// `g` and its sections to `sections`. Counts what it added. Errors describe
// the problem (the caller adds the chunk number).
absl::Status ParseBody(absl::string_view body, graph::Graph* g, BodySections* sections,
                       uint64_t* vertices_added, uint64_t* edges_added);

}  // namespace vitrage::snapshot::internal

#endif  // VITRAGE_GRAPH_SERVICE_SNAPSHOT_BODY_CODEC_H_
