#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/crc32c.h"
#include "common/status_macros.h"
#include "graph_service/graph/digest.h"
#include "graph_service/snapshot/body_codec.h"
#include "graph_service/snapshot/frames.h"
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
      : opts_(opts), sink_(sink), cctx_(ZSTD_createCCtx()), packer_(opts.format_version) {
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

// The snapshot's element order: vertices by id, then edges by key; an
// edge names its ends by their positions in the vertex order.
struct Order {
  std::vector<Slot> vertices;
  std::vector<Slot> edges;
  std::vector<uint32_t> position;  // vertex slot -> position
  size_t size() const { return vertices.size() + edges.size(); }
};

Order MakeOrder(const Graph& g) {
  Order o;
  o.vertices = g.VerticesById();
  o.position.assign(g.vertex_slot_bound(), 0);
  for (uint32_t i = 0; i < o.vertices.size(); ++i) o.position[o.vertices[i]] = i;
  o.edges = g.EdgesByKey(o.vertices);
  return o;
}

// Elements are read in id order, not in memory order: each one's record,
// members and values would be a cache miss waited for in turn at a
// million vertices. Start their loads a few elements ahead, one step per
// element (graph::VertexLookahead does the same for updates). `at(j,
// step)` prefetches element j's step.
constexpr size_t kRecord = 6, kMembers = 4, kValues = 2;
template <typename At>
void Ahead(size_t i, size_t begin, size_t end, const At& at) {
  if (i == begin) {
    for (size_t j = begin; j < begin + kRecord && j < end; ++j) {
      at(j, j < begin + kValues ? 2 : j < begin + kMembers ? 1 : 0);
    }
  }
  if (i + kRecord < end) at(i + kRecord, 0);
  if (i + kMembers < end) at(i + kMembers, 1);
  if (i + kValues < end) at(i + kValues, 2);
}

// The digest's input (graph/digest.h) for elements [begin, end) of the
// order, fed to `sha` in pieces of 64 KiB.
class DigestFeed {
 public:
  DigestFeed() { buf_.reserve(1 << 17); }
  void Vertex(const Graph& g, Slot v) {
    graph::AppendVertexDigestRecord(g, v, &buf_);
    Flush(false);
  }
  void Edge(const Graph& g, Slot e) {
    graph::AppendEdgeDigestRecord(g, e, &buf_);
    Flush(false);
  }
  std::string Finish() {
    Flush(true);
    return sha_.HexDigest();
  }

 private:
  void Flush(bool force) {
    if (buf_.size() >= (1 << 16) || force) {
      sha_.Update(buf_);
      buf_.clear();
    }
  }
  graph::Sha256 sha_;
  std::string buf_;
};

// Encodes elements [begin, end) of the order into `w`'s chunks, feeding
// `digest` too when not null. Does not flush the last chunk.
absl::Status EncodeElements(const Graph& g, const Order& o, size_t begin, size_t end,
                            ChunkWriter* w, DigestFeed* digest) {
  internal::PackedWriter* pw = w->packer();
  const size_t nv = o.vertices.size();
  const size_t vend = std::min(end, nv);
  for (size_t i = begin; i < vend; ++i) {
    const Slot v = o.vertices[i];
    Ahead(i, begin, vend, [&](size_t j, int step) { g.PrefetchVertexAt(o.vertices[j], step); });
    if ((i - begin) % 4 == 0) pw->PlanVertices(g, &o.vertices[i], std::min<size_t>(4, vend - i));
    size_t n = pw->PrepareVertex(g, v);
    ASSIGN_OR_RETURN(bool flushed, w->Room(n));
    if (flushed) pw->PrepareVertex(g, v);  // indices into the new chunk's table
    pw->AppendVertex(g, v, w->body());
    if (digest != nullptr) digest->Vertex(g, v);
  }
  const size_t ebegin = std::max(begin, nv) - nv, eend = end - nv;
  for (size_t i = ebegin; i < eend && end > nv; ++i) {
    const Slot e = o.edges[i];
    Ahead(i, ebegin, eend, [&](size_t j, int step) { g.PrefetchEdgeAt(o.edges[j], step); });
    uint32_t s = o.position[g.EdgeSource(e)], t = o.position[g.EdgeTarget(e)];
    size_t n = pw->PrepareEdge(g, e, s, t);
    ASSIGN_OR_RETURN(bool flushed, w->Room(n));
    if (flushed) pw->PrepareEdge(g, e, s, t);
    pw->AppendEdge(g, e, s, t, w->body());
    if (digest != nullptr) digest->Edge(g, e);
  }
  return absl::OkStatus();
}

// Where the helper's elements begin. A vertex and an edge cost about the
// same to encode and digest (an edge's digest record names both ends by
// id: two more cold strings), and the caller has sorted the elements
// before the fork and reads the helper's chunks back after it, so the
// helper takes 10/16 of them: at a million vertices the two then use
// about the same CPU (graph_bench --profile encode, docs/performance.md).
size_t HelperSplit(const Order& o) { return o.size() * 6 / 16; }

// The sections, in the last chunk.
absl::Status EncodeSections(const SnapshotSections& sections, ChunkWriter* w) {
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
  RETURN_IF_ERROR(w->Room(sec.size()).status());
  w->body()->append(sec);
  return absl::OkStatus();
}

// --- The helper process (EncodeOptions::helper_process).

// Its output: frames of [type byte][u64 length][payload]: 'C' a chunk (in
// order), 'D' the hex digest of its elements (last), 'E' an error message.
constexpr char kHelperChunk = 'C';
constexpr char kHelperDigest = 'D';
constexpr char kHelperError = 'E';

// Runs in the helper: elements [begin, end) and the sections, chunk
// indices from 0. Never returns.
[[noreturn]] void HelperMain(pid_t caller, int fd, const Graph& g, const Order& o, size_t begin,
                             const SnapshotSections& sections, const EncodeOptions& options) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // die with the caller
  if (::getppid() != caller) ::_exit(3);
  if (fd > 3) ::close_range(3, fd - 1, 0);
  ::close_range(fd + 1, ~0U, 0);
  std::string buf;
  ChunkSink sink = [&](v1::SnapshotChunk&& chunk) {
    if (!chunk.SerializeToString(&buf) || !WriteFrame(fd, kHelperChunk, buf)) {
      return absl::InternalError("snapshot helper: cannot write its output");
    }
    return absl::OkStatus();
  };
  absl::Status st;
  std::unique_ptr<DigestFeed> digest;
  if (options.compute_digest) digest = std::make_unique<DigestFeed>();
  {
    ChunkWriter w(options, sink);
    st = EncodeElements(g, o, begin, o.size(), &w, digest.get());
    if (st.ok()) st = EncodeSections(sections, &w);
    if (st.ok()) st = w.Flush();
    if (st.ok()) st = w.Deliver();
  }
  if (st.ok() && digest && !WriteFrame(fd, kHelperDigest, digest->Finish())) {
    st = absl::InternalError("snapshot helper: cannot write its output");
  }
  if (!st.ok()) {
    WriteFrame(fd, kHelperError, st.ToString());
    ::_exit(1);
  }
  ::_exit(0);
}

// The helper as seen by the caller: forked at Start, reaped at Collect or
// when destroyed (killed first if still running).
class Helper {
 public:
  ~Helper() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      Reap();
    }
    if (fd_ >= 0) ::close(fd_);
  }

  absl::Status Start(const Graph& g, const Order& o, size_t begin, const SnapshotSections& sections,
                     const EncodeOptions& options) {
    fd_ = ::memfd_create("vitrage-snapshot-helper", MFD_CLOEXEC);
    if (fd_ < 0) {
      return absl::InternalError(
          absl::StrCat("snapshot helper: memfd_create: ", std::strerror(errno)));
    }
    const pid_t caller = ::getpid();
    pid_ = ::fork();
    if (pid_ < 0) {
      return absl::ResourceExhaustedError(
          absl::StrCat("snapshot helper: fork: ", std::strerror(errno)));
    }
    if (pid_ == 0) HelperMain(caller, fd_, g, o, begin, sections, options);
    return absl::OkStatus();
  }

  // Waits for the helper and hands its chunks to `sink`, numbered from
  // `first_index`. Adds their sizes to the totals; `*digest` gets the hex
  // digest of the helper's elements (when it computed one).
  absl::Status Collect(uint32_t first_index, const ChunkSink& sink, uint32_t* chunks,
                       uint64_t* uncompressed, uint64_t* compressed, std::string* digest) {
    const int status = Reap();
    struct stat st;
    if (::fstat(fd_, &st) != 0) {
      return absl::InternalError(absl::StrCat("snapshot helper: fstat: ", std::strerror(errno)));
    }
    std::string data(static_cast<size_t>(st.st_size), '\0');
    for (size_t done = 0; done < data.size();) {
      ssize_t r = ::pread(fd_, data.data() + done, data.size() - done, done);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) {
        return absl::InternalError(absl::StrCat("snapshot helper: reading its output: ",
                                                r < 0 ? std::strerror(errno) : "EOF"));
      }
      done += static_cast<size_t>(r);
    }
    size_t pos = 0;
    uint32_t index = first_index;
    while (pos < data.size()) {
      if (data.size() - pos < 9) return absl::InternalError("snapshot helper: truncated frame");
      const char type = data[pos];
      uint64_t len;
      std::memcpy(&len, data.data() + pos + 1, sizeof(len));
      pos += 9;
      if (len > data.size() - pos) return absl::InternalError("snapshot helper: truncated frame");
      const char* p = data.data() + pos;
      pos += len;
      if (type == kHelperError) return absl::InternalError(std::string(p, len));
      if (type == kHelperDigest) {
        digest->assign(p, len);
        continue;
      }
      if (type != kHelperChunk) return absl::InternalError("snapshot helper: unknown frame");
      v1::SnapshotChunk chunk;
      if (!chunk.ParseFromArray(p, static_cast<int>(len))) {
        return absl::InternalError("snapshot helper: bad chunk");
      }
      chunk.set_index(index++);  // the CRC covers the data only
      *uncompressed += chunk.uncompressed_size();
      *compressed += chunk.data().size();
      RETURN_IF_ERROR(sink(std::move(chunk)));
    }
    if (WIFSIGNALED(status)) {
      return absl::InternalError(
          absl::StrCat("snapshot helper process died of signal ", WTERMSIG(status)));
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      return absl::InternalError(
          absl::StrCat("snapshot helper process exited with ", WEXITSTATUS(status)));
    }
    *chunks = index;
    return absl::OkStatus();
  }

 private:
  int Reap() {
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    return status;
  }

  pid_t pid_ = -1;
  int fd_ = -1;
};

}  // namespace

absl::Status EncodeSnapshot(const Graph& g, const SnapshotInfo& info,
                            const SnapshotSections& sections, const EncodeOptions& options,
                            const ChunkSink& sink, v1::SnapshotHeader* header) {
  if (options.format_version != kFormatVersion && options.format_version != 3) {
    return absl::InvalidArgumentError(absl::StrCat("cannot write snapshot format version ",
                                                   options.format_version, " (only 3 and ",
                                                   kFormatVersion, ")"));
  }
  const Order order = MakeOrder(g);
  const size_t n = order.size();
  std::unique_ptr<DigestFeed> digest;
  if (options.compute_digest) digest = std::make_unique<DigestFeed>();
  uint32_t chunks = 0;
  uint64_t uncompressed = 0, compressed = 0;
  uint64_t digest_split = 0;
  std::string digest_hex;
  if (options.helper_process && !options.parallel && n >= kMinHelperElements) {
    // The helper takes the later elements, this process the earlier ones;
    // each digests what it encodes (format.h: digest_split).
    const size_t begin = HelperSplit(order);
    Helper helper;
    RETURN_IF_ERROR(helper.Start(g, order, begin, sections, options));
    {
      ChunkWriter w(options, sink);
      RETURN_IF_ERROR(EncodeElements(g, order, 0, begin, &w, digest.get()));
      RETURN_IF_ERROR(w.Flush());
      RETURN_IF_ERROR(w.Deliver());
      chunks = w.chunks();
      uncompressed = w.uncompressed();
      compressed = w.compressed();
    }
    std::string second;
    RETURN_IF_ERROR(helper.Collect(chunks, sink, &chunks, &uncompressed, &compressed, &second));
    if (digest) {
      if (second.empty()) return absl::InternalError("snapshot helper: no digest");
      digest_split = begin;
      digest_hex = graph::CombineDigestParts(digest->Finish(), second);
    }
  } else {
    ChunkWriter w(options, sink);
    RETURN_IF_ERROR(EncodeElements(g, order, 0, n, &w, digest.get()));
    RETURN_IF_ERROR(EncodeSections(sections, &w));
    RETURN_IF_ERROR(w.Flush());
    RETURN_IF_ERROR(w.Deliver());
    chunks = w.chunks();
    uncompressed = w.uncompressed();
    compressed = w.compressed();
    if (digest) digest_hex = digest->Finish();
  }

  header->Clear();
  header->set_format_version(options.format_version);
  header->set_seq(info.seq);
  header->set_epoch(info.epoch);
  header->set_vertex_count(order.vertices.size());
  header->set_edge_count(order.edges.size());
  header->set_chunk_count(chunks);
  header->set_uncompressed_bytes(uncompressed);
  header->set_compressed_bytes(compressed);
  header->set_digest(digest_hex);
  header->set_digest_split(digest_split);
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
