// The Vitrage-shaped workload format (testdata/workload/FORMAT.md): load a
// graph file, apply an event tail, export, and the content digest that
// testdata/workload/digest.py computes, byte for byte.
//
// Graph file: one JSON object a line (.jsonl, or .jsonl.zst read by
// streaming zstd decode):
//   {"id": ID, "props": {...}}                                  a vertex
//   {"source": ID, "target": ID, "label": L, "props": {...}}    an edge
// Event tail: {"event_id": N, "is_vertex": B, "payload": {...}}; a vertex
// payload carries "vertex_id", an edge payload "source_id", "target_id" and
// "relationship_type" (the label); the rest is merged into the element's
// properties, a null value removing the key. An event naming a missing
// vertex creates it (as digest.py does).
//
// Errors name the file, the line and the field.
#ifndef VITRAGE_GRAPH_SERVICE_WORKLOAD_WORKLOAD_H_
#define VITRAGE_GRAPH_SERVICE_WORKLOAD_WORKLOAD_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "graph_service/graph/digest.h"
#include "graph_service/graph/graph.h"
#include "nlohmann/json.hpp"
#include "vitrage/v1/graph_types.pb.h"

namespace vitrage::workload {

// Reads a text file line by line; files ending in ".zst" are decompressed
// on the fly (bounded memory).
class LineReader {
 public:
  static absl::StatusOr<std::unique_ptr<LineReader>> Open(const std::string& path);
  virtual ~LineReader() = default;
  // Sets *line to the next line (without '\n'). Returns false at the end or
  // on error (then status() is not OK).
  virtual bool Next(std::string* line) = 0;
  virtual absl::Status status() const = 0;
  // 1-based number of the line last returned.
  int64_t line_number() const { return line_number_; }

 protected:
  int64_t line_number_ = 0;
};

// Reads a whole file (decompressing .zst) into memory.
absl::StatusOr<std::string> ReadFileContents(const std::string& path);

// Adds the vertices and edges of a workload graph file to `g` (normally
// empty). REQUIRES: vertices appear before the edges that use them.
// Errors (bad JSON, missing field, duplicate vertex, edge end missing) name
// the line; `g` then holds what was loaded before that line.
absl::Status LoadGraphFile(const std::string& path, graph::Graph* g);

// Parses one graph-file line into `g` (for callers that have the text).
absl::Status AddGraphLine(absl::string_view line, graph::Graph* g);

// Applies one parsed tail event to `g`, appending what changed to `delta`
// when non-null.
absl::Status ApplyEvent(const nlohmann::json& event, graph::Graph* g, v1::GraphDelta* delta);

// Applies every event of an event tail file in order. When `deltas` is
// non-null, appends one GraphDelta per event. Returns the number of events.
absl::StatusOr<int64_t> ApplyEventTailFile(const std::string& path, graph::Graph* g,
                                           std::vector<v1::GraphDelta>* deltas = nullptr);

// Writes `g` in the graph-file format (vertices in id order, then edges in
// key order), one line each.
absl::Status ExportGraphFile(const graph::Graph& g, const std::string& path);
// Appends one vertex / edge line (no newline) to `out`.
void AppendVertexLine(const graph::Graph& g, graph::Slot v, std::string* out);
void AppendEdgeLine(const graph::Graph& g, graph::Slot e, std::string* out);

// The workload digest of a graph: graph::Digest (graph/digest.h).
using graph::Digest;

}  // namespace vitrage::workload

#endif  // VITRAGE_GRAPH_SERVICE_WORKLOAD_WORKLOAD_H_
