#include <zstd.h>

#include <cinttypes>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/crc32c.h"
#include "common/status_macros.h"
#include "graph_service/graph/digest.h"
#include "graph_service/snapshot/body_codec.h"
#include "graph_service/snapshot/snapshot.h"

namespace vitrage::snapshot {

SnapshotDecoder::SnapshotDecoder(DecodeOptions options) : options_(options) {}

SnapshotDecoder::~SnapshotDecoder() {
  if (dctx_ != nullptr) ZSTD_freeDCtx(static_cast<ZSTD_DCtx*>(dctx_));
}

absl::Status SnapshotDecoder::Fail(absl::Status st) {
  error_ = st;
  return st;
}

absl::Status SnapshotDecoder::Begin(const v1::SnapshotHeader& header) {
  if (begun_) return Fail(absl::FailedPreconditionError("snapshot: Begin called twice"));
  begun_ = true;
  if (header.format_version() != kFormatVersion) {
    return Fail(absl::DataLossError(
        absl::StrCat("snapshot seq ", header.seq(), ": unknown format version ",
                     header.format_version(), " (this reader knows ", kFormatVersion, ")")));
  }
  if (header.chunk_count() == 0) {
    return Fail(absl::DataLossError(
        absl::StrCat("snapshot seq ", header.seq(), ": header has chunk_count 0")));
  }
  header_ = header;
  graph_.Reserve(header.vertex_count() < (1u << 26) ? header.vertex_count() : 0,
                 header.edge_count() < (1u << 26) ? header.edge_count() : 0);
  dctx_ = ZSTD_createDCtx();
  return absl::OkStatus();
}

absl::Status SnapshotDecoder::AddChunk(const v1::SnapshotChunk& chunk) {
  if (!error_.ok()) return error_;
  if (!begun_) return Fail(absl::FailedPreconditionError("snapshot: chunk before header"));
  const uint32_t i = chunk.index();
  auto err = [&](absl::string_view msg) {
    return Fail(absl::DataLossError(absl::StrCat("snapshot chunk ", i, ": ", msg)));
  };
  if (i >= header_.chunk_count()) {
    return err(absl::StrCat("unexpected chunk: header says ", header_.chunk_count(), " chunks"));
  }
  if (i != next_index_) {
    return err(absl::StrCat("out of order: expected chunk ", next_index_,
                            i < next_index_ ? " (repeated chunk)" : " (missing chunk)"));
  }
  const std::string& data = chunk.data();
  uint32_t crc = crc32c::Value(data.data(), data.size());
  if (crc != chunk.crc32c()) {
    return err(absl::StrFormat("crc mismatch (stored 0x%08x, computed 0x%08x)", chunk.crc32c(),
                               crc));
  }
  if (chunk.uncompressed_size() > kMaxReaderBodyBytes) {
    return err(absl::StrCat("uncompressed size ", chunk.uncompressed_size(), " exceeds limit"));
  }
  body_.resize(chunk.uncompressed_size());
  size_t n = ZSTD_decompressDCtx(static_cast<ZSTD_DCtx*>(dctx_), body_.data(), body_.size(),
                                 data.data(), data.size());
  if (ZSTD_isError(n)) return err(absl::StrCat("zstd: ", ZSTD_getErrorName(n)));
  if (n != chunk.uncompressed_size()) {
    return err(absl::StrCat("decompressed ", n, " bytes, chunk says ", chunk.uncompressed_size()));
  }
  internal::BodySections sec;
  absl::Status st = internal::ParseBody(body_, &graph_, &sec, &vertices_, &edges_);
  if (!st.ok()) return err(st.message());
  if (sec.present) {
    if (i + 1 != header_.chunk_count()) return err("sections in a chunk other than the last");
    sections_.source_marks = std::move(sec.source_marks);
    sections_.evaluator_state = std::move(sec.evaluator_state);
    sections_.processor_state = std::move(sec.processor_state);
  }
  uncompressed_bytes_ += n;
  compressed_bytes_ += data.size();
  ++next_index_;
  return absl::OkStatus();
}

absl::Status SnapshotDecoder::Finish() {
  if (!error_.ok()) return error_;
  if (!begun_) return Fail(absl::FailedPreconditionError("snapshot: Finish before header"));
  auto err = [&](absl::string_view msg) {
    return Fail(absl::DataLossError(absl::StrCat("snapshot seq ", header_.seq(), ": ", msg)));
  };
  if (next_index_ != header_.chunk_count()) {
    return err(absl::StrCat("chunk ", next_index_, " missing: received ", next_index_, " of ",
                            header_.chunk_count(), " chunks"));
  }
  if (vertices_ != header_.vertex_count() || graph_.vertex_count() != vertices_) {
    return err(absl::StrCat("vertex count mismatch: header ", header_.vertex_count(), ", chunks ",
                            vertices_));
  }
  if (edges_ != header_.edge_count() || graph_.edge_count() != edges_) {
    return err(absl::StrCat("edge count mismatch: header ", header_.edge_count(), ", chunks ",
                            edges_));
  }
  if (uncompressed_bytes_ != header_.uncompressed_bytes() ||
      compressed_bytes_ != header_.compressed_bytes()) {
    return err(absl::StrCat("byte totals mismatch: header ", header_.uncompressed_bytes(), "/",
                            header_.compressed_bytes(), ", chunks ", uncompressed_bytes_, "/",
                            compressed_bytes_));
  }
  if (options_.verify_digest && !header_.digest().empty()) {
    std::string d = graph::Digest(graph_);
    if (d != header_.digest()) {
      return err(absl::StrCat("digest mismatch (header ", header_.digest(), ", graph ", d, ")"));
    }
  }
  finished_ = true;
  body_.clear();
  body_.shrink_to_fit();
  return absl::OkStatus();
}

absl::StatusOr<graph::Graph> DecodeSnapshot(const v1::SnapshotHeader& header,
                                            const std::vector<v1::SnapshotChunk>& chunks,
                                            SnapshotSections* sections,
                                            const DecodeOptions& options) {
  SnapshotDecoder d(options);
  RETURN_IF_ERROR(d.Begin(header));
  for (const auto& c : chunks) RETURN_IF_ERROR(d.AddChunk(c));
  RETURN_IF_ERROR(d.Finish());
  if (sections != nullptr) *sections = d.TakeSections();
  return d.TakeGraph();
}

}  // namespace vitrage::snapshot
