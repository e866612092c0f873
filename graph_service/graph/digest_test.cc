// The graph digest never goes through OpenSSL: the snapshot encoder
// computes it in a forked child (graph_service/service/forked_encode.h),
// where a lock of OpenSSL's held by another thread at the fork would hang
// it. Every OpenSSL allocation (contexts, algorithm fetches, caches) is
// counted here; the digest paths must make none.
#include "graph_service/graph/digest.h"

#include <gtest/gtest.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <atomic>
#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "graph_service/snapshot/snapshot.h"

namespace vitrage::graph {
namespace {

std::atomic<int> g_openssl_allocations{0};

void* CountingMalloc(size_t n, const char*, int) {
  ++g_openssl_allocations;
  return std::malloc(n);
}
void* CountingRealloc(void* p, size_t n, const char*, int) {
  ++g_openssl_allocations;
  return std::realloc(p, n);
}
void CountingFree(void* p, const char*, int) { std::free(p); }

// Before main: OpenSSL accepts the hooks only before its first allocation.
const bool kHooked = CRYPTO_set_mem_functions(CountingMalloc, CountingRealloc, CountingFree) == 1;

Graph SmallGraph() {
  Graph g;
  for (int i = 0; i < 200; ++i) {
    Properties p;
    p.Set(InternKey("vitrage_type"), Value::String("nova.host"));
    p.Set(InternKey("id"), Value::String(absl::StrCat("h", i)));
    p.Set(InternKey("n"), Value::Int(i));
    EXPECT_TRUE(g.AddVertex(absl::StrCat("v", i), std::move(p)).ok());
  }
  for (int i = 1; i < 200; ++i) {
    EXPECT_TRUE(g.AddEdge(absl::StrCat("v", i - 1), absl::StrCat("v", i), "contains", {}).ok());
  }
  return g;
}

std::string OpenSslSha256Hex(const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), md, &n, EVP_sha256(), nullptr);
  std::string out;
  for (unsigned int i = 0; i < n; ++i) absl::StrAppend(&out, absl::Hex(md[i], absl::kZeroPad2));
  return out;
}

TEST(DigestTest, GraphDigestAndSnapshotEncodeMakeNoOpenSslCall) {
  ASSERT_TRUE(kHooked) << "OpenSSL allocated before main: cannot count its calls";
  Graph g = SmallGraph();
  const int before = g_openssl_allocations.load();
  std::string digest = Digest(g);
  snapshot::EncodeOptions eo;
  eo.parallel = false;  // as in the forked child
  auto enc = snapshot::EncodeSnapshotToMemory(g, {}, {}, eo);
  ASSERT_TRUE(enc.ok()) << enc.status();
  EXPECT_EQ(g_openssl_allocations.load(), before) << "the digest path called into OpenSSL";
  EXPECT_EQ(enc->header.digest(), digest);

  // Same SHA-256 as OpenSSL over the documented records (digest.h).
  std::string records;
  std::vector<Slot> vertices = g.VerticesById();
  for (Slot v : vertices) AppendVertexDigestRecord(g, v, &records);
  for (Slot e : g.EdgesByKey(vertices)) AppendEdgeDigestRecord(g, e, &records);
  EXPECT_EQ(digest, OpenSslSha256Hex(records));
  EXPECT_GT(g_openssl_allocations.load(), before) << "the counter does not count";
}

// The two-part digest (snapshot format version 3) is the documented
// combination of the two parts' SHA-256 over the same records.
TEST(DigestTest, DigestInTwoPartsHashesEachPartsRecords) {
  Graph g = SmallGraph();
  std::vector<std::string> records;
  std::vector<Slot> vertices = g.VerticesById();
  for (Slot v : vertices) AppendVertexDigestRecord(g, v, &records.emplace_back());
  for (Slot e : g.EdgesByKey(vertices)) AppendEdgeDigestRecord(g, e, &records.emplace_back());
  ASSERT_EQ(records.size(), 399u);
  for (size_t split : {size_t{0}, size_t{1}, size_t{150}, size_t{200}, size_t{201}, size_t{399}}) {
    std::string first, second;
    for (size_t i = 0; i < records.size(); ++i) (i < split ? first : second) += records[i];
    EXPECT_EQ(DigestInTwoParts(g, split),
              OpenSslSha256Hex(OpenSslSha256Hex(first) + OpenSslSha256Hex(second)))
        << "split " << split;
  }
  EXPECT_EQ(DigestInTwoParts(g, 399), CombineDigestParts(Digest(g), Sha256::HexOf("")));
}

}  // namespace
}  // namespace vitrage::graph
