// Snapshot format, version 4 (kFormatVersion); versions 1 to 3 are still
// read.
//
// A snapshot is the graph at journal seq S plus opaque sections (the
// per-source dedupe table, the evaluator state, the processor state). On the
// wire and in the store it is one v1::SnapshotHeader and N v1::SnapshotChunk
// messages (proto/vitrage/v1/snapshot.proto):
//
//   header: format_version = 4, seq = S, epoch, vertex_count, edge_count,
//           chunk_count = N, uncompressed_bytes (sum of the bodies),
//           compressed_bytes (sum of the data fields), digest (the workload
//           digest of the graph, graph/digest.h; "" when the writer did not
//           compute it), digest_split (0, or where the digest was split in
//           two parts, below), created_unix_micros, seq_time_unix_micros.
//   chunk i (i = 0 .. N-1, dense, in order):
//           index = i
//           data = zstd frame (one frame, content size recorded) of a
//                  serialized v1::SnapshotChunkBody
//           crc32c = CRC32C (common/crc32c.h) of `data`, the compressed bytes
//           uncompressed_size = size of the serialized body
//
// Bodies (version 2): vertices (packed_vertices) in id order (byte order)
// across the whole snapshot, then edges (packed_edges) in (source id,
// target id, label) order; a chunk may hold the last vertices and the first
// edges. Every chunk has its own key table (`keys`, written after the
// elements): a PackedProperty names its key, and a PackedEdge its label, by
// index into the table of its chunk, so property keys are stored once per
// chunk instead of once per property. Likewise each chunk has a string
// value table (`values`, also written after the elements): a
// PackedProperty whose value is a shared (interned) string of a
// low-cardinality key (vitrage_type, state, timestamps, ...; see
// graph::KeyInternsValues) carries value_ref = index + 1 into it instead of
// the value. Both tables halve the bodies (docs/performance.md), which is
// what compression and parsing cost, and
// the reader interns each such string once per chunk. Maps nested in a
// value keep their string keys. A PackedEdge names its ends by
// position in the snapshot's vertex order (0 = the first vertex of chunk
// 0), so the reader needs no id lookups. The sections (source_marks,
// evaluator_state, processor_state) are in the last chunk only. A snapshot
// of an empty graph still has one chunk (holding the sections, maybe empty).
//
// Version 3 differs from version 2 in the header only: digest_split. A
// writer that encodes with two processes (EncodeOptions::helper_process:
// vitrage-graph's forked snapshot child and its helper) has each process
// digest the elements it encodes, so the digest of the whole, a JSON
// rendering and SHA-256 of every element that cost more than the encode
// itself, is not left to one core. digest_split = k > 0 then says that
// `digest` is graph::DigestInTwoParts(graph, k): the SHA-256 hex of the hex
// digests of the first k elements' records and of the others'. With
// digest_split = 0 the digest is the whole graph's, as in version 2, so a
// version 2 snapshot reads as a version 3 one whose digest_split is 0;
// this reader loads both (snapshot_test). A version 2 reader refuses a
// version 3 snapshot by its version ("unknown format version 3"), rather
// than misreading a split digest as a mismatch.
//
// Version 4 differs from version 3 in the bodies only: compact forms for
// values zstd cannot shrink (random ids as hex text), each used only when
// it gives back exactly the stored value:
//   PackedVertex.uuid_id: the id, a canonical UUID (8-4-4-4-12 lowercase
//     hex), as its 16 bytes (`id` is then empty);
//   PackedVertex.vitrage_id_is_id: a property vitrage_id equal to the id,
//     not listed;
//   PackedVertex.cached_id_derived: a property vitrage_cached_id equal to
//     the md5 hex of "<vitrage_category>:<vitrage_type>:<id>" of the
//     vertex's own string properties (the processor's natural key), not
//     listed; the reader computes it;
//   PackedProperty.uuid_value / hex_value: a string value that is a
//     canonical UUID, or at least 16 lowercase hex digits (even), as bytes;
//   PackedEdge.source_step / target_offset (sint64) instead of source /
//     target: source = the previous edge's source in this chunk (0 for the
//     chunk's first edge) + source_step; target = source + target_offset.
// A version 4 body with edge `source`/`target`, or an older one with any
// of these fields, is malformed. The writer still writes version 3 when
// asked (EncodeOptions::format_version).
//
// Version 1 (still read, no longer written): the same, but elements are in
// `vertices` / `edges` (v1::Vertex, v1::Edge with string keys and end ids)
// and there is no key table. A body that mixes the versions' element fields
// is malformed.
//
// Size bounds: the writer cuts a chunk before its body would exceed
// kMaxChunkBodyBytes, so data (<= ZSTD_compressBound of the body) stays
// under kMaxChunkDataBytes, well below gRPC's 4 MiB message limit and
// MySQL's 16 MiB max_allowed_packet. A single vertex or edge larger than the
// bound gets a chunk of its own that may exceed it (the reader accepts
// bodies up to kMaxReaderBodyBytes).
//
// Reader checks, each failing with a message naming the chunk
// ("snapshot chunk 7: crc mismatch (stored 0x1a2b3c4d, computed 0x...)"):
// unknown format_version; a digest_split beyond the header's element
// count or in a version before 3; chunk index not the next expected one (missing,
// repeated or reordered chunk); a chunk after chunk_count; crc32c; zstd
// errors; decompressed size != uncompressed_size; a malformed body; a
// vertex or edge that does not fit the graph (duplicate, an end position,
// key index or value reference out of range);
// sections in a chunk other than the last. At the end: fewer chunks than
// chunk_count, vertex/edge counts and byte totals different from the
// header, and the digest (when present and verification is on).
//
// Work split (both sides use two threads, or two processes): the writer
// compresses and checksums chunk i on a second thread while it serializes
// chunk i + 1, or, where it must not start threads, forks a helper
// process for the later elements (digest_split above); the reader
// decompresses and parses chunk i + 1 while it loads chunk i. The digest is
// optional on both sides (EncodeOptions::compute_digest,
// DecodeOptions::verify_digest); it costs a JSON rendering and SHA-256 of
// the graph, more than the codec itself.
//
// Compatibility: a reader rejects a format_version outside
// [kOldestReadableFormatVersion, kFormatVersion]. Bump kFormatVersion when
// the meaning of any field or the body layout changes.
#ifndef VITRAGE_GRAPH_SERVICE_SNAPSHOT_FORMAT_H_
#define VITRAGE_GRAPH_SERVICE_SNAPSHOT_FORMAT_H_

#include <cstddef>
#include <cstdint>

namespace vitrage::snapshot {

inline constexpr uint32_t kFormatVersion = 4;
inline constexpr uint32_t kOldestReadableFormatVersion = 1;

// Writer's bound on a chunk body (uncompressed).
inline constexpr size_t kMaxChunkBodyBytes = size_t{1} << 20;  // 1 MiB
// What that bound implies for the compressed data of a chunk.
inline constexpr size_t kMaxChunkDataBytes = 2 * (size_t{1} << 20) - 1;  // < 2 MiB
// Reader's bound on a body (protects against a corrupt uncompressed_size).
inline constexpr size_t kMaxReaderBodyBytes = size_t{256} << 20;

}  // namespace vitrage::snapshot

#endif  // VITRAGE_GRAPH_SERVICE_SNAPSHOT_FORMAT_H_
