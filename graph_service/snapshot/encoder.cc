#include <zstd.h>

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/crc32c.h"
#include "common/status_macros.h"
#include "graph_service/graph/digest.h"
#include "graph_service/snapshot/body_codec.h"
#include "graph_service/snapshot/snapshot.h"
#include "graph_service/snapshot/worker.h"

namespace vitrage::snapshot {

using graph::Graph;
using graph::Slot;

namespace {

// Cuts chunk bodies and compresses them. With `parallel`, chunk i is
// compressed (and checksummed) on a second thread while the caller
// serializes chunk i + 1; chunks still reach the sink in order, on the
// caller's thread.
class ChunkWriter {
 public:
  ChunkWriter(const EncodeOptions& opts, const ChunkSink& sink)
      : opts_(opts), sink_(sink), cctx_(ZSTD_createCCtx()) {
    body_.reserve(opts.max_chunk_body_bytes + 4096);
  }
  ~ChunkWriter() {
    worker_.reset();  // waits for a running compression
    ZSTD_freeCCtx(cctx_);
  }

  std::string* body() { return &body_; }
  internal::PackedWriter* packer() { return &packer_; }
  // Flushes the body first when `next` more bytes (plus the key table)
  // would exceed the bound. Returns true when it flushed.
  absl::StatusOr<bool> Room(size_t next) {
    if (!body_.empty() &&
        body_.size() + next + packer_.key_table_bytes() > opts_.max_chunk_body_bytes) {
      RETURN_IF_ERROR(Flush());
      return true;
    }
    return false;
  }

  // Ends the current chunk.
  absl::Status Flush() {
    packer_.AppendKeyTable(&body_);
    RETURN_IF_ERROR(Deliver());
    uint32_t index = index_++;
    uncompressed_ += body_.size();
    if (opts_.parallel) {
      std::swap(body_, spare_);
      body_.clear();
      if (!worker_) worker_ = std::make_unique<internal::Worker>();
      pending_ = true;
      worker_->Submit([this, index] { result_ = Compress(index, spare_); });
      return absl::OkStatus();
    }
    auto chunk = Compress(index, body_);
    body_.clear();
    if (!chunk.ok()) return chunk.status();
    compressed_ += chunk->data().size();
    return sink_(std::move(*chunk));
  }

  // Waits for the chunk being compressed, if any, and hands it to the sink.
  absl::Status Deliver() {
    if (!pending_) return absl::OkStatus();
    worker_->Wait();
    pending_ = false;
    absl::StatusOr<v1::SnapshotChunk> chunk = std::move(result_);
    if (!chunk.ok()) return chunk.status();
    compressed_ += chunk->data().size();
    return sink_(std::move(*chunk));
  }

  uint32_t chunks() const { return index_; }
  uint64_t uncompressed() const { return uncompressed_; }
  uint64_t compressed() const { return compressed_; }

 private:
  absl::StatusOr<v1::SnapshotChunk> Compress(uint32_t index, const std::string& body) {
    v1::SnapshotChunk chunk;
    chunk.set_index(index);
    std::string* data = chunk.mutable_data();
    data->resize(ZSTD_compressBound(body.size()));
    size_t n = ZSTD_compressCCtx(cctx_, data->data(), data->size(), body.data(), body.size(),
                                 opts_.zstd_level);
    if (ZSTD_isError(n)) {
      return absl::InternalError(
          absl::StrCat("snapshot chunk ", index, ": zstd: ", ZSTD_getErrorName(n)));
    }
    data->resize(n);
    chunk.set_crc32c(crc32c::Value(data->data(), data->size()));
    chunk.set_uncompressed_size(body.size());
    return chunk;
  }

  const EncodeOptions& opts_;
  const ChunkSink& sink_;
  ZSTD_CCtx* cctx_;  // used by one compression at a time
  std::string body_;
  std::string spare_;     // the body being compressed
  bool pending_ = false;  // a chunk is being compressed into result_
  absl::StatusOr<v1::SnapshotChunk> result_;
  std::unique_ptr<internal::Worker> worker_;
  internal::PackedWriter packer_;
  uint32_t index_ = 0;
  uint64_t uncompressed_ = 0;
  uint64_t compressed_ = 0;
};

}  // namespace

absl::Status EncodeSnapshot(const Graph& g, const SnapshotInfo& info,
                            const SnapshotSections& sections, const EncodeOptions& options,
                            const ChunkSink& sink, v1::SnapshotHeader* header) {
  ChunkWriter w(options, sink);
  internal::PackedWriter* pw = w.packer();
  std::unique_ptr<graph::Sha256> sha;
  std::string dbuf;
  if (options.compute_digest) {
    sha = std::make_unique<graph::Sha256>();
    dbuf.reserve(1 << 17);
  }
  auto digest_flush = [&](bool force) {
    if (sha && (dbuf.size() >= (1 << 16) || force)) {
      sha->Update(dbuf);
      dbuf.clear();
    }
  };
  uint64_t nv = 0, ne = 0;
  std::vector<Slot> vertices = g.VerticesById();
  std::vector<uint32_t> position(g.vertex_slot_bound(), 0);
  for (uint32_t i = 0; i < vertices.size(); ++i) position[vertices[i]] = i;
  // Elements are read in id order, not in memory order: each one's record,
  // members and values would be a cache miss waited for in turn at a
  // million vertices. Start their loads a few elements ahead, one step
  // per element (graph::VertexLookahead does the same for updates).
  constexpr size_t kRecord = 6, kMembers = 4, kValues = 2;
  auto ahead = [](size_t i, size_t n, const auto& at) {
    if (i == 0) {
      for (size_t j = 0; j < kRecord && j < n; ++j) at(j, j < kValues ? 2 : j < kMembers ? 1 : 0);
    }
    if (i + kRecord < n) at(i + kRecord, 0);
    if (i + kMembers < n) at(i + kMembers, 1);
    if (i + kValues < n) at(i + kValues, 2);
  };
  for (size_t i = 0; i < vertices.size(); ++i) {
    const Slot v = vertices[i];
    ahead(i, vertices.size(), [&](size_t j, int step) { g.PrefetchVertexAt(vertices[j], step); });
    size_t n = pw->PrepareVertex(g, v);
    ASSIGN_OR_RETURN(bool flushed, w.Room(n));
    if (flushed) pw->PrepareVertex(g, v);  // indices into the new chunk's table
    pw->AppendVertex(g, v, w.body());
    ++nv;
    if (sha) {
      graph::AppendVertexDigestRecord(g, v, &dbuf);
      digest_flush(false);
    }
  }
  const std::vector<Slot> edges = g.EdgesByKey(vertices);
  for (size_t i = 0; i < edges.size(); ++i) {
    const Slot e = edges[i];
    ahead(i, edges.size(), [&](size_t j, int step) { g.PrefetchEdgeAt(edges[j], step); });
    uint32_t s = position[g.EdgeSource(e)], t = position[g.EdgeTarget(e)];
    size_t n = pw->PrepareEdge(g, e, s, t);
    ASSIGN_OR_RETURN(bool flushed, w.Room(n));
    if (flushed) pw->PrepareEdge(g, e, s, t);
    pw->AppendEdge(g, e, s, t, w.body());
    ++ne;
    if (sha) {
      graph::AppendEdgeDigestRecord(g, e, &dbuf);
      digest_flush(false);
    }
  }
  // Sections, in the last chunk.
  std::string sec;
  for (const auto& m : sections.source_marks) {
    internal::AppendBytesField(internal::kBodySourceMarks, m.SerializeAsString(), &sec);
  }
  if (!sections.evaluator_state.empty()) {
    internal::AppendBytesField(internal::kBodyEvaluatorState, sections.evaluator_state, &sec);
  }
  if (!sections.processor_state.empty()) {
    internal::AppendBytesField(internal::kBodyProcessorState, sections.processor_state, &sec);
  }
  RETURN_IF_ERROR(w.Room(sec.size()).status());
  w.body()->append(sec);
  RETURN_IF_ERROR(w.Flush());
  RETURN_IF_ERROR(w.Deliver());

  header->Clear();
  header->set_format_version(kFormatVersion);
  header->set_seq(info.seq);
  header->set_epoch(info.epoch);
  header->set_vertex_count(nv);
  header->set_edge_count(ne);
  header->set_chunk_count(w.chunks());
  header->set_uncompressed_bytes(w.uncompressed());
  header->set_compressed_bytes(w.compressed());
  if (sha) {
    digest_flush(true);
    header->set_digest(sha->HexDigest());
  }
  header->set_created_unix_micros(info.created_unix_micros);
  header->set_seq_time_unix_micros(info.seq_time_unix_micros);
  return absl::OkStatus();
}

absl::StatusOr<EncodedSnapshot> EncodeSnapshotToMemory(const Graph& g, const SnapshotInfo& info,
                                                       const SnapshotSections& sections,
                                                       const EncodeOptions& options) {
  EncodedSnapshot out;
  RETURN_IF_ERROR(EncodeSnapshot(
      g, info, sections, options,
      [&](v1::SnapshotChunk&& c) {
        out.chunks.push_back(std::move(c));
        return absl::OkStatus();
      },
      &out.header));
  return out;
}

}  // namespace vitrage::snapshot
