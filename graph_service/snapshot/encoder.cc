#include <zstd.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/crc32c.h"
#include "common/status_macros.h"
#include "graph_service/graph/digest.h"
#include "graph_service/snapshot/body_codec.h"
#include "graph_service/snapshot/snapshot.h"

namespace vitrage::snapshot {

using graph::Graph;
using graph::Slot;

namespace {

class ChunkWriter {
 public:
  ChunkWriter(const EncodeOptions& opts, const ChunkSink& sink)
      : opts_(opts), sink_(sink), cctx_(ZSTD_createCCtx()) {
    body_.reserve(opts.max_chunk_body_bytes + 4096);
  }
  ~ChunkWriter() { ZSTD_freeCCtx(cctx_); }

  std::string* body() { return &body_; }
  // Flushes the body first when `next` more bytes would exceed the bound.
  absl::Status Room(size_t next) {
    if (!body_.empty() && body_.size() + next > opts_.max_chunk_body_bytes) return Flush();
    return absl::OkStatus();
  }

  absl::Status Flush() {
    v1::SnapshotChunk chunk;
    chunk.set_index(index_++);
    std::string* data = chunk.mutable_data();
    data->resize(ZSTD_compressBound(body_.size()));
    size_t n = ZSTD_compressCCtx(cctx_, data->data(), data->size(), body_.data(), body_.size(),
                                 opts_.zstd_level);
    if (ZSTD_isError(n)) {
      return absl::InternalError(
          absl::StrCat("snapshot chunk ", chunk.index(), ": zstd: ", ZSTD_getErrorName(n)));
    }
    data->resize(n);
    chunk.set_crc32c(crc32c::Value(data->data(), data->size()));
    chunk.set_uncompressed_size(body_.size());
    uncompressed_ += body_.size();
    compressed_ += n;
    body_.clear();
    return sink_(std::move(chunk));
  }

  uint32_t chunks() const { return index_; }
  uint64_t uncompressed() const { return uncompressed_; }
  uint64_t compressed() const { return compressed_; }

 private:
  const EncodeOptions& opts_;
  const ChunkSink& sink_;
  ZSTD_CCtx* cctx_;
  std::string body_;
  uint32_t index_ = 0;
  uint64_t uncompressed_ = 0;
  uint64_t compressed_ = 0;
};

}  // namespace

absl::Status EncodeSnapshot(const Graph& g, const SnapshotInfo& info,
                            const SnapshotSections& sections, const EncodeOptions& options,
                            const ChunkSink& sink, v1::SnapshotHeader* header) {
  ChunkWriter w(options, sink);
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
  for (Slot v : vertices) {
    RETURN_IF_ERROR(w.Room(internal::VertexRecordSize(g, v)));
    internal::AppendVertex(g, v, w.body());
    ++nv;
    if (sha) {
      graph::AppendVertexDigestRecord(g, v, &dbuf);
      digest_flush(false);
    }
  }
  for (Slot e : g.EdgesByKey(vertices)) {
    RETURN_IF_ERROR(w.Room(internal::EdgeRecordSize(g, e)));
    internal::AppendEdge(g, e, w.body());
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
  RETURN_IF_ERROR(w.Room(sec.size()));
  w.body()->append(sec);
  RETURN_IF_ERROR(w.Flush());

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
