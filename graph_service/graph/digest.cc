#include "graph_service/graph/digest.h"

#include <vector>

#include "graph_service/graph/json_value.h"

namespace vitrage::graph {

void AppendVertexDigestRecord(const Graph& g, Slot v, std::string* out) {
  out->push_back('[');
  AppendPythonJsonString(g.VertexId(v), out);
  out->append(", ");
  AppendPythonJson(g.VertexProps(v), out);
  out->push_back(']');
}

void AppendEdgeDigestRecord(const Graph& g, Slot e, std::string* out) {
  out->push_back('[');
  AppendPythonJsonString(g.VertexId(g.EdgeSource(e)), out);
  out->append(", ");
  AppendPythonJsonString(g.VertexId(g.EdgeTarget(e)), out);
  out->append(", ");
  AppendPythonJsonString(g.EdgeLabel(e), out);
  out->append(", ");
  AppendPythonJson(g.EdgeProps(e), out);
  out->push_back(']');
}

std::string Digest(const Graph& g) {
  constexpr size_t kFlush = 1 << 16;
  Sha256 sha;
  std::string buf;
  buf.reserve(kFlush + 4096);
  std::vector<Slot> vertices = g.VerticesById();
  for (Slot v : vertices) {
    AppendVertexDigestRecord(g, v, &buf);
    if (buf.size() >= kFlush) {
      sha.Update(buf);
      buf.clear();
    }
  }
  for (Slot e : g.EdgesByKey(vertices)) {
    AppendEdgeDigestRecord(g, e, &buf);
    if (buf.size() >= kFlush) {
      sha.Update(buf);
      buf.clear();
    }
  }
  sha.Update(buf);
  return sha.HexDigest();
}

}  // namespace vitrage::graph
