// The content digest of a graph: SHA-256 (hex) over each vertex in id order
// as json.dumps([id, props], sort_keys=True) and then each edge in
// (source, target, label) order as json.dumps([source, target, label,
// props], sort_keys=True), Python's default separators: byte-identical to
// testdata/workload/digest.py run on an export of the graph.
#ifndef VITRAGE_GRAPH_SERVICE_GRAPH_DIGEST_H_
#define VITRAGE_GRAPH_SERVICE_GRAPH_DIGEST_H_

#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "common/sha256.h"
#include "graph_service/graph/graph.h"

namespace vitrage::graph {

// The SHA-256 of common/sha256.h (no OpenSSL): the snapshot encoder
// computes the digest in a forked child, where OpenSSL's locks are unsafe.
using Sha256 = ::vitrage::Sha256;

// Appends the digest record of vertex `v` / edge `e` (the json.dumps text).
void AppendVertexDigestRecord(const Graph& g, Slot v, std::string* out);
void AppendEdgeDigestRecord(const Graph& g, Slot e, std::string* out);

// The digest of `g` (see above). Never fails.
std::string Digest(const Graph& g);

// The snapshot header's digest when it was computed in two parts (format
// version 3, v1::SnapshotHeader::digest_split): the records above, of
// the first `split` elements (vertices in id order, then edges) hashed
// alone and the others alone; the result is the SHA-256 hex of the two
// hex digests concatenated. `split` may be 0 or the element count (one
// part is then the digest of no records).
std::string DigestInTwoParts(const Graph& g, uint64_t split);
// The same combination of two parts' hex digests.
std::string CombineDigestParts(const std::string& first, const std::string& second);

}  // namespace vitrage::graph

#endif  // VITRAGE_GRAPH_SERVICE_GRAPH_DIGEST_H_
