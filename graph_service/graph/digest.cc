#include "graph_service/graph/digest.h"

#include <openssl/evp.h>

#include <vector>

#include "glog/logging.h"
#include "graph_service/graph/json_value.h"

namespace vitrage::graph {

Sha256::Sha256() {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  CHECK(ctx != nullptr);
  CHECK_EQ(EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr), 1);
  ctx_ = ctx;
}

Sha256::~Sha256() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }

void Sha256::Update(absl::string_view data) {
  EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), data.data(), data.size());
}

std::string Sha256::HexDigest() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(ctx_), md, &n);
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * n);
  for (unsigned int i = 0; i < n; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 15]);
  }
  return out;
}

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
