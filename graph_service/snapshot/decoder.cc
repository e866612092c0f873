#include <zstd.h>

#include <cinttypes>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/crc32c.h"
#include "common/status_macros.h"
#include "graph_service/graph/digest.h"
#include "graph_service/snapshot/body_codec.h"
#include "graph_service/snapshot/snapshot.h"

namespace vitrage::snapshot {

// A chunk on its way into the graph: decompressed and (version 2 and
// later) parsed by whichever thread claims it, then loaded in index order by
// the caller's thread.
struct SnapshotDecoder::Pending {
  uint32_t index = 0;
  uint64_t compressed_size = 0;
  std::string data;  // the compressed bytes (the caller's chunk may not live on)
  uint64_t uncompressed_size = 0;
  std::unique_ptr<char[]> body;  // uncompressed_size bytes (not zero-filled first)
  uint32_t format_version = 0;
  bool parsed = false;  // Work() parsed the body into `elements`
  internal::ParsedChunk elements;
  absl::Status status;  // Work()'s result
  // Guarded by the decoder's mu_.
  bool claimed = false;  // a thread is running (or ran) Work()
  bool done = false;     // Work() has finished

  absl::string_view Body() const { return absl::string_view(body.get(), uncompressed_size); }
  absl::Status Decompress(ZSTD_DCtx* dctx) {
    body.reset(new char[uncompressed_size]);
    size_t n = ZSTD_decompressDCtx(dctx, body.get(), uncompressed_size, data.data(), data.size());
    if (ZSTD_isError(n)) return absl::DataLossError(absl::StrCat("zstd: ", ZSTD_getErrorName(n)));
    if (n != uncompressed_size) {
      return absl::DataLossError(
          absl::StrCat("decompressed ", n, " bytes, chunk says ", uncompressed_size));
    }
    std::string().swap(data);  // not needed any more
    return absl::OkStatus();
  }
  // What can run off the graph's thread: decompression and, for version 2,
  // parsing into `elements`.
  absl::Status Work(ZSTD_DCtx* dctx) {
    RETURN_IF_ERROR(Decompress(dctx));
    if (format_version < 2) return absl::OkStatus();
    parsed = true;
    absl::Status st = internal::ParseBody(Body(), format_version, nullptr, nullptr, &elements);
    // The elements hold copies of what they use: a parsed chunk waiting
    // in the queue keeps no body (at most the two being parsed exist).
    body.reset();
    return st;
  }
};

SnapshotDecoder::SnapshotDecoder(DecodeOptions options)
    : options_(options), state_(std::make_unique<internal::DecodeState>()) {}

SnapshotDecoder::~SnapshotDecoder() {
  if (worker_.joinable()) {
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    worker_.join();  // after the chunk it is working on, if any
  }
  queue_.clear();
  ZSTD_freeDCtx(static_cast<ZSTD_DCtx*>(dctx_));
}

absl::Status SnapshotDecoder::Fail(absl::Status st) {
  error_ = st;
  return st;
}

SnapshotDecoder::Pending* SnapshotDecoder::FirstUnclaimedLocked() {
  for (auto& p : queue_) {
    if (!p->claimed) return p.get();
  }
  return nullptr;
}

SnapshotDecoder::Pending* SnapshotDecoder::LastUnclaimedLocked() {
  for (auto it = queue_.rbegin(); it != queue_.rend(); ++it) {
    if (!(*it)->claimed) return it->get();
  }
  return nullptr;
}

void SnapshotDecoder::RunClaimed(Pending* job, void* dctx, std::unique_lock<std::mutex>& l) {
  job->claimed = true;
  l.unlock();
  absl::Status st = job->Work(static_cast<ZSTD_DCtx*>(dctx));
  l.lock();
  job->status = std::move(st);
  job->done = true;
}

void SnapshotDecoder::WorkerLoop() {
  ZSTD_DCtx* dctx = ZSTD_createDCtx();
  std::unique_lock<std::mutex> l(mu_);
  while (true) {
    Pending* job = nullptr;
    cv_.wait(l, [&] {
      if (stop_) return true;
      job = FirstUnclaimedLocked();
      return job != nullptr;
    });
    if (stop_) break;
    RunClaimed(job, dctx, l);
    cv_.notify_all();
  }
  l.unlock();
  ZSTD_freeDCtx(dctx);
}

absl::Status SnapshotDecoder::Begin(const v1::SnapshotHeader& header) {
  if (begun_) return Fail(absl::FailedPreconditionError("snapshot: Begin called twice"));
  begun_ = true;
  if (header.format_version() < kOldestReadableFormatVersion ||
      header.format_version() > kFormatVersion) {
    return Fail(absl::DataLossError(absl::StrCat(
        "snapshot seq ", header.seq(), ": unknown format version ", header.format_version(),
        " (this reader knows ", kOldestReadableFormatVersion, " to ", kFormatVersion, ")")));
  }
  if (header.chunk_count() == 0) {
    return Fail(absl::DataLossError(
        absl::StrCat("snapshot seq ", header.seq(), ": header has chunk_count 0")));
  }
  // A broken or hostile header must not size an allocation.
  if (header.vertex_count() > options_.max_vertices) {
    return Fail(absl::ResourceExhaustedError(absl::StrCat(
        "snapshot seq ", header.seq(), ": header says ", header.vertex_count(),
        " vertices; the limit is ", options_.max_vertices, " ([limits] max_graph_vertices)")));
  }
  if (header.edge_count() > options_.max_edges) {
    return Fail(absl::ResourceExhaustedError(
        absl::StrCat("snapshot seq ", header.seq(), ": header says ", header.edge_count(),
                     " edges; the limit is ", options_.max_edges, " ([limits] max_graph_edges)")));
  }
  if (header.digest_split() != 0 &&
      (header.format_version() < 3 ||
       header.digest_split() > header.vertex_count() + header.edge_count())) {
    return Fail(absl::DataLossError(
        absl::StrCat("snapshot seq ", header.seq(), ": digest_split ", header.digest_split(),
                     header.format_version() < 3
                         ? absl::StrCat(" in a format version ", header.format_version(), " header")
                         : absl::StrCat(" beyond the ", header.vertex_count() + header.edge_count(),
                                        " elements"))));
  }
  header_ = header;
  key_overflows_at_begin_ = graph::KeyTableOverflows();
  state_->format_version = header.format_version();
  graph_.Reserve(header.vertex_count(), header.edge_count());
  state_->vertex_slots.reserve(header.vertex_count());
  dctx_ = ZSTD_createDCtx();
  return absl::OkStatus();
}

absl::Status SnapshotDecoder::LoadChunk(Pending* p) {
  const uint32_t i = p->index;
  auto err = [&](absl::string_view msg) {
    return Fail(absl::DataLossError(absl::StrCat("snapshot chunk ", i, ": ", msg)));
  };
  if (!p->status.ok()) return err(p->status.message());
  absl::Status st;
  if (!p->parsed) {
    st = internal::ParseBody(p->Body(), p->format_version, &graph_, state_.get(), &p->elements);
    if (!st.ok()) return err(st.message());
  }
  st = internal::LoadParsed(&p->elements, &graph_, state_.get());
  if (!st.ok()) return err(st.message());
  internal::BodySections& sec = p->elements.sections;
  if (sec.present) {
    if (i + 1 != header_.chunk_count()) return err("sections in a chunk other than the last");
    sections_.source_marks = std::move(sec.source_marks);
    sections_.evaluator_state = std::move(sec.evaluator_state);
    sections_.processor_state = std::move(sec.processor_state);
  }
  uncompressed_bytes_ += p->uncompressed_size;
  compressed_bytes_ += p->compressed_size;
  return absl::OkStatus();
}

absl::Status SnapshotDecoder::Drain(bool all) {
  std::unique_lock<std::mutex> l(mu_);
  while (!queue_.empty()) {
    Pending* front = queue_.front().get();
    if (front->done) {
      std::unique_ptr<Pending> p = std::move(queue_.front());
      queue_.pop_front();
      l.unlock();
      RETURN_IF_ERROR(LoadChunk(p.get()));
      p.reset();  // frees the chunk's memory outside the lock
      l.lock();
      continue;
    }
    // Until a few chunks are queued, take the next one from the caller:
    // the worker has work and the caller's thread has none to wait for.
    if (!all && queue_.size() < kQueuedChunks) return absl::OkStatus();
    // Rather than wait for the worker, parse a chunk here: the newest, so
    // that the oldest (the next to load) stays the worker's.
    if (Pending* job = LastUnclaimedLocked()) {
      RunClaimed(job, dctx_, l);
      continue;
    }
    cv_.wait(l, [front] { return front->done; });
  }
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
    return err(
        absl::StrFormat("crc mismatch (stored 0x%08x, computed 0x%08x)", chunk.crc32c(), crc));
  }
  if (chunk.uncompressed_size() > kMaxReaderBodyBytes) {
    return err(absl::StrCat("uncompressed size ", chunk.uncompressed_size(), " exceeds limit"));
  }
  ++next_index_;
  auto p = std::make_unique<Pending>();
  p->index = i;
  p->compressed_size = data.size();
  p->data = data;
  p->uncompressed_size = chunk.uncompressed_size();
  p->format_version = header_.format_version();
  if (!options_.parallel) {
    p->status = p->Work(static_cast<ZSTD_DCtx*>(dctx_));
    return LoadChunk(p.get());
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    queue_.push_back(std::move(p));
  }
  if (!worker_.joinable()) {
    worker_ = std::thread([this] { WorkerLoop(); });
  } else {
    cv_.notify_all();
  }
  return Drain(/*all=*/false);
}

absl::Status SnapshotDecoder::Finish() {
  if (!error_.ok()) return error_;
  if (!begun_) return Fail(absl::FailedPreconditionError("snapshot: Finish before header"));
  RETURN_IF_ERROR(Drain(/*all=*/true));
  auto err = [&](absl::string_view msg) {
    return Fail(absl::DataLossError(absl::StrCat("snapshot seq ", header_.seq(), ": ", msg)));
  };
  if (next_index_ != header_.chunk_count()) {
    return err(absl::StrCat("chunk ", next_index_, " missing: received ", next_index_, " of ",
                            header_.chunk_count(), " chunks"));
  }
  const uint64_t vertices = state_->vertex_slots.size(), edges = state_->edges;
  if (vertices != header_.vertex_count() || graph_.vertex_count() != vertices) {
    return err(absl::StrCat("vertex count mismatch: header ", header_.vertex_count(), ", chunks ",
                            vertices));
  }
  if (edges != header_.edge_count() || graph_.edge_count() != edges) {
    return err(
        absl::StrCat("edge count mismatch: header ", header_.edge_count(), ", chunks ", edges));
  }
  if (uncompressed_bytes_ != header_.uncompressed_bytes() ||
      compressed_bytes_ != header_.compressed_bytes()) {
    return err(absl::StrCat("byte totals mismatch: header ", header_.uncompressed_bytes(), "/",
                            header_.compressed_bytes(), ", chunks ", uncompressed_bytes_, "/",
                            compressed_bytes_));
  }
  if (graph::KeyTableOverflows() != key_overflows_at_begin_) {
    // Some key got no id of its own (graph/value.h): the graph is not
    // what was encoded.
    return Fail(absl::ResourceExhaustedError(
        absl::StrCat("snapshot seq ", header_.seq(), ": the property key table is full (",
                     graph::KeyCount(), " distinct keys, capacity ", graph::kKeyTableCapacity,
                     "); this graph cannot be loaded in this process")));
  }
  if (options_.verify_digest && !header_.digest().empty()) {
    std::string d = header_.digest_split() == 0
                        ? graph::Digest(graph_)
                        : graph::DigestInTwoParts(graph_, header_.digest_split());
    if (d != header_.digest()) {
      return err(
          absl::StrCat("digest mismatch (header ", header_.digest(), ", graph ", d,
                       header_.digest_split() == 0
                           ? ")"
                           : absl::StrCat(", in two parts at ", header_.digest_split(), ")")));
    }
  }
  finished_ = true;
  state_.reset();
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
