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

std::string CombineDigestParts(const std::string& first, const std::string& second) {
  Sha256 sha;
  sha.Update(first);
  sha.Update(second);
  return sha.HexDigest();
}

std::string DigestInTwoParts(const Graph& g, uint64_t split) {
  constexpr size_t kFlush = 1 << 16;
  Sha256 part[2];
  std::string buf;
  buf.reserve(kFlush + 4096);
  uint64_t i = 0;
  auto record_done = [&] {
    Sha256& sha = part[i < split ? 0 : 1];
    if (buf.size() >= kFlush || i + 1 == split) {
      sha.Update(buf);
      buf.clear();
    }
    ++i;
  };
  std::vector<Slot> vertices = g.VerticesById();
  for (Slot v : vertices) {
    AppendVertexDigestRecord(g, v, &buf);
    record_done();
  }
  for (Slot e : g.EdgesByKey(vertices)) {
    AppendEdgeDigestRecord(g, e, &buf);
    record_done();
  }
  part[split < i ? 1 : 0].Update(buf);
  const std::string first = part[0].HexDigest();
  return CombineDigestParts(first, part[1].HexDigest());
}

}  // namespace vitrage::graph
