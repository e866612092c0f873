// Snapshot encoder and decoder (format: snapshot/format.h).
//
// Life of a snapshot: the snapshotter encodes a consistent graph (in
// vitrage-graph, a forked child's copy-on-write image of it) with
// EncodeSnapshot; chunks stream out one at a time
// (only one uncompressed body is in memory); the persistor stores header +
// chunks and publishes them in one transaction. At recovery the decoder is
// fed the header and then the chunks in order, building the graph chunk by
// chunk, and Finish() verifies the whole before anything is trusted.
#ifndef VITRAGE_GRAPH_SERVICE_SNAPSHOT_SNAPSHOT_H_
#define VITRAGE_GRAPH_SERVICE_SNAPSHOT_SNAPSHOT_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "graph_service/graph/graph.h"
#include "graph_service/snapshot/format.h"
#include "vitrage/v1/snapshot.pb.h"

namespace vitrage::snapshot {
namespace internal {
struct DecodeState;
}  // namespace internal

// The opaque sections stored next to the graph.
struct SnapshotSections {
  // Per-source dedupe table (highest source_seq applied per source).
  std::vector<v1::SourceMark> source_marks;
  // Evaluator state, opaque to the codec.
  std::string evaluator_state;
  // Processor state (e.g. datasource get_all times), opaque to the codec.
  std::string processor_state;
};

// Header fields the caller supplies.
struct SnapshotInfo {
  uint64_t seq = 0;
  uint64_t epoch = 0;
  int64_t created_unix_micros = 0;
  int64_t seq_time_unix_micros = 0;
};

struct EncodeOptions {
  // The format version to write: kFormatVersion, or 3 for a reader one
  // version behind (tests; format.h). Other values are refused.
  uint32_t format_version = kFormatVersion;
  // zstd level of each chunk (1 = fastest).
  int zstd_level = 1;
  // Cut a chunk before its body would exceed this (<= kMaxChunkBodyBytes
  // keeps the compressed data under 2 MiB).
  size_t max_chunk_body_bytes = kMaxChunkBodyBytes;
  // Compute header.digest (costs a JSON rendering + SHA-256 of the graph).
  bool compute_digest = true;
  // Compress chunk i on a second thread while chunk i + 1 is serialized.
  // The sink is still called in order on the calling thread.
  bool parallel = true;
  // The largest vertex and edge counts a header may announce ([limits]
  // max_graph_vertices / max_graph_edges): checked by Begin() before
  // anything is reserved.
  uint64_t max_vertices = 50'000'000;
  uint64_t max_edges = 50'000'000;
  // For a caller that must not start threads (parallel off: vitrage-graph's
  // forked snapshot child, service/forked_encode.h): fork one helper
  // process that encodes the later part of the elements (and the sections)
  // into chunks of its own, handed back through an anonymous in-memory
  // file and renumbered after the caller's; the caller encodes the earlier
  // part and computes the digest of the whole. Two cores instead of one.
  // The helper obeys the forked child's rules (no threads, locks or
  // logging; it dies with the caller). Graphs under kMinHelperElements
  // elements are encoded by the caller alone.
  bool helper_process = false;
};

// Below this many vertices + edges a helper process costs more than it saves.
inline constexpr size_t kMinHelperElements = 50'000;

// Receives each chunk, in index order. A non-OK status aborts the encode.
using ChunkSink = std::function<absl::Status(v1::SnapshotChunk&& chunk)>;

// Encodes `g` and `sections`, calling `sink` for every chunk in order, then
// fills `*header` (its totals are known only at the end: a sender that must
// send the header first buffers the compressed chunks, which are small, or
// uses EncodeSnapshotToMemory).
// REQUIRES: `g` does not change during the call.
absl::Status EncodeSnapshot(const graph::Graph& g, const SnapshotInfo& info,
                            const SnapshotSections& sections, const EncodeOptions& options,
                            const ChunkSink& sink, v1::SnapshotHeader* header);

struct EncodedSnapshot {
  v1::SnapshotHeader header;
  std::vector<v1::SnapshotChunk> chunks;
};
absl::StatusOr<EncodedSnapshot> EncodeSnapshotToMemory(const graph::Graph& g,
                                                       const SnapshotInfo& info,
                                                       const SnapshotSections& sections,
                                                       const EncodeOptions& options = {});

struct DecodeOptions {
  // Recompute the digest at Finish() and compare with the header's.
  bool verify_digest = true;
  // Decompress and parse chunks on a second thread while earlier ones are
  // added to the graph (up to a few chunks ahead). Errors found there are
  // reported by a later AddChunk() or Finish(), still naming the chunk.
  bool parallel = true;
  // The largest vertex and edge counts a header may announce ([limits]
  // max_graph_vertices / max_graph_edges): checked by Begin() before
  // anything is reserved.
  uint64_t max_vertices = 50'000'000;
  uint64_t max_edges = 50'000'000;
};

// Builds a graph from a header and its chunks. Usage:
//   SnapshotDecoder d;
//   RETURN_IF_ERROR(d.Begin(header));
//   for (chunk : chunks) RETURN_IF_ERROR(d.AddChunk(chunk));
//   RETURN_IF_ERROR(d.Finish());
//   Graph g = d.TakeGraph();
// Any error is final (later calls fail too); errors name the chunk.
class SnapshotDecoder {
 public:
  explicit SnapshotDecoder(DecodeOptions options = {});

  // REQUIRES: called once, first. Rejects an unknown format version, and
  // vertex or edge counts over the options' limits (RESOURCE_EXHAUSTED
  // naming the count and the limit).
  absl::Status Begin(const v1::SnapshotHeader& header);
  // REQUIRES: Begin succeeded. Chunks must come in index order 0, 1, ...
  absl::Status AddChunk(const v1::SnapshotChunk& chunk);
  // Checks that every chunk arrived and the counts, byte totals and digest
  // match the header, and that every key found room in the process's key
  // table (RESOURCE_EXHAUSTED otherwise, graph/value.h).
  absl::Status Finish();

  // REQUIRE: Finish() succeeded.
  graph::Graph TakeGraph() { return std::move(graph_); }
  SnapshotSections TakeSections() { return std::move(sections_); }
  const v1::SnapshotHeader& header() const { return header_; }

 private:
  absl::Status Fail(absl::Status st);
  struct Pending;
  // Adds a decompressed (and parsed) chunk to the graph.
  absl::Status LoadChunk(Pending* p);
  // Loads the queued chunks that are ready, in order. With `all`, until the
  // queue is empty (parsing chunks on this thread too); otherwise until
  // fewer than kQueuedChunks wait, so the caller can add the next.
  absl::Status Drain(bool all);
  Pending* FirstUnclaimedLocked();
  Pending* LastUnclaimedLocked();
  // Claims `job`, runs its Work() with `l` (on mu_) released, and marks it
  // done. REQUIRES: `l` holds mu_; it holds it again on return.
  static void RunClaimed(Pending* job, void* dctx, std::unique_lock<std::mutex>& l);
  void WorkerLoop();

  DecodeOptions options_;
  v1::SnapshotHeader header_;
  bool begun_ = false;
  bool finished_ = false;
  absl::Status error_;
  uint32_t next_index_ = 0;
  bool sections_seen_ = false;
  uint64_t uncompressed_bytes_ = 0;
  uint64_t compressed_bytes_ = 0;
  uint64_t key_overflows_at_begin_ = 0;
  // Parallel decoding: chunks are queued in index order; the worker thread
  // decompresses and parses the oldest unclaimed one, the caller's thread
  // loads them into the graph in order and, rather than wait, parses the
  // newest unclaimed one itself (so both cores stay busy whichever side is
  // slower).
  static constexpr size_t kQueuedChunks = 8;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Pending>> queue_;  // not yet loaded; guarded by mu_
  bool stop_ = false;                           // guarded by mu_
  std::thread worker_;
  void* dctx_ = nullptr;  // ZSTD_DCtx of the caller's thread
  std::unique_ptr<internal::DecodeState> state_;
  graph::Graph graph_;
  SnapshotSections sections_;

 public:
  ~SnapshotDecoder();
  SnapshotDecoder(const SnapshotDecoder&) = delete;
  SnapshotDecoder& operator=(const SnapshotDecoder&) = delete;
};

// Convenience: decodes a whole snapshot held in memory.
absl::StatusOr<graph::Graph> DecodeSnapshot(const v1::SnapshotHeader& header,
                                            const std::vector<v1::SnapshotChunk>& chunks,
                                            SnapshotSections* sections = nullptr,
                                            const DecodeOptions& options = {});

}  // namespace vitrage::snapshot

#endif  // VITRAGE_GRAPH_SERVICE_SNAPSHOT_SNAPSHOT_H_
