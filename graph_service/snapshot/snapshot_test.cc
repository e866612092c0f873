#include "graph_service/snapshot/snapshot.h"

#include <sys/wait.h>
#include <zstd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <limits>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/crc32c.h"
#include "common/md5.h"
#include "common/testing/test_dirs.h"
#include "graph_service/graph/digest.h"
#include "graph_service/graph/proto_convert.h"
#include "graph_service/snapshot/body_codec.h"
#include "graph_service/workload/workload.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace vitrage::snapshot {
namespace {

// The generated workloads (build/workload/, make_workload).
std::string WorkloadDir() { return vitrage::testing::WorkloadDir(); }

graph::Graph Load(const std::string& size) {
  graph::Graph g;
  absl::Status st = workload::LoadGraphFile(WorkloadDir() + "graph_" + size + ".jsonl.zst", &g);
  EXPECT_TRUE(st.ok()) << st;
  return g;
}

const graph::Graph& Graph1k() {
  static graph::Graph* g = new graph::Graph(Load("1k"));
  return *g;
}

SnapshotSections Sections() {
  SnapshotSections s;
  v1::SourceMark m;
  m.set_source("collector:a");
  m.set_source_seq(42);
  s.source_marks.push_back(m);
  m.set_source("collector:b");
  m.set_source_seq(7);
  s.source_marks.push_back(m);
  s.evaluator_state = "evaluator-bytes";
  s.processor_state = std::string("\0\1processor", 11);
  return s;
}

SnapshotInfo Info() {
  SnapshotInfo i;
  i.seq = 1234;
  i.epoch = 3;
  i.created_unix_micros = 1700000000000000;
  i.seq_time_unix_micros = 1699999999000000;
  return i;
}

void RoundTrip(const std::string& size) {
  graph::Graph g = Load(size);
  std::string digest = graph::Digest(g);
  auto enc = EncodeSnapshotToMemory(g, Info(), Sections());
  ASSERT_TRUE(enc.ok()) << enc.status();
  EXPECT_EQ(enc->header.digest(), digest);
  EXPECT_EQ(enc->header.vertex_count(), g.vertex_count());
  EXPECT_EQ(enc->header.edge_count(), g.edge_count());
  EXPECT_EQ(enc->header.chunk_count(), enc->chunks.size());
  for (const auto& c : enc->chunks) {
    EXPECT_LT(c.data().size(), kMaxChunkDataBytes) << size << " chunk " << c.index();
    EXPECT_LE(c.uncompressed_size(), kMaxChunkBodyBytes);
    EXPECT_LT(c.ByteSizeLong(), size_t{2} << 20);
  }
  SnapshotSections sections;
  auto dec = DecodeSnapshot(enc->header, enc->chunks, &sections);
  ASSERT_TRUE(dec.ok()) << dec.status();
  EXPECT_EQ(graph::Digest(*dec), digest);
  ASSERT_EQ(sections.source_marks.size(), 2u);
  EXPECT_EQ(sections.source_marks[1].source(), "collector:b");
  EXPECT_EQ(sections.source_marks[1].source_seq(), 7u);
  EXPECT_EQ(sections.evaluator_state, "evaluator-bytes");
  EXPECT_EQ(sections.processor_state, std::string("\0\1processor", 11));
}

TEST(SnapshotTest, RoundTrip1k) { RoundTrip("1k"); }
TEST(SnapshotTest, RoundTrip10k) { RoundTrip("10k"); }
TEST(SnapshotTest, RoundTrip100k) { RoundTrip("100k"); }

TEST(SnapshotTest, EmptyGraphHasOneChunk) {
  graph::Graph g;
  auto enc = EncodeSnapshotToMemory(g, Info(), SnapshotSections());
  ASSERT_TRUE(enc.ok());
  EXPECT_EQ(enc->chunks.size(), 1u);
  auto dec = DecodeSnapshot(enc->header, enc->chunks);
  ASSERT_TRUE(dec.ok()) << dec.status();
  EXPECT_EQ(dec->vertex_count(), 0u);
}

// Decompresses chunk `c` and parses it with the generated parser.
v1::SnapshotChunkBody ParseChunk(const v1::SnapshotChunk& c) {
  std::string body(c.uncompressed_size(), '\0');
  EXPECT_EQ(ZSTD_decompress(body.data(), body.size(), c.data().data(), c.data().size()),
            body.size());
  v1::SnapshotChunkBody b;
  EXPECT_TRUE(b.ParseFromString(body));
  return b;
}

// The generated message for a chunk's body (compressed, checksummed).
v1::SnapshotChunk MakeChunk(uint32_t index, const v1::SnapshotChunkBody& b) {
  std::string body = b.SerializeAsString();
  std::string data(ZSTD_compressBound(body.size()), '\0');
  data.resize(ZSTD_compress(data.data(), data.size(), body.data(), body.size(), 1));
  v1::SnapshotChunk c;
  c.set_index(index);
  c.set_data(data);
  c.set_crc32c(crc32c::Value(data.data(), data.size()));
  c.set_uncompressed_size(body.size());
  return c;
}

TEST(SnapshotTest, BodiesAreValidProtobufWithPerChunkKeyTables) {
  EncodeOptions opts;
  opts.max_chunk_body_bytes = 64 << 10;
  auto enc = EncodeSnapshotToMemory(Graph1k(), Info(), Sections(), opts);
  ASSERT_TRUE(enc.ok());
  ASSERT_GT(enc->chunks.size(), 3u);
  EXPECT_EQ(enc->header.format_version(), kFormatVersion);
  graph::Graph rebuilt;
  std::vector<std::string> ids;  // vertex positions -> ids
  size_t marks = 0, refs = 0, uuid_ids = 0, uuid_values = 0, hex_values = 0, implied = 0,
         derived = 0;
  // Version 4's compact forms, undone with nothing from the codec.
  auto uuid_text = [](const std::string& bytes) {
    EXPECT_EQ(bytes.size(), 16u);
    std::string h = absl::BytesToHexString(bytes);
    return absl::StrCat(h.substr(0, 8), "-", h.substr(8, 4), "-", h.substr(12, 4), "-",
                        h.substr(16, 4), "-", h.substr(20));
  };
  for (const auto& c : enc->chunks) {
    v1::SnapshotChunkBody b = ParseChunk(c);
    EXPECT_EQ(b.vertices_size() + b.edges_size(), 0) << "version 1 fields in a version 2 body";
    auto to_props = [&](const auto& packed, auto* out) {
      for (const v1::PackedProperty& p : packed) {
        ASSERT_LT(p.key(), static_cast<uint32_t>(b.keys_size()));
        v1::Property* q = out->Add();
        q->set_key(b.keys(p.key()));
        if (p.value_ref() != 0) {
          ASSERT_LE(p.value_ref(), static_cast<uint32_t>(b.values_size()));
          EXPECT_FALSE(p.has_value());
          q->mutable_value()->set_string_value(b.values(p.value_ref() - 1));
          ++refs;
        } else if (!p.uuid_value().empty()) {
          q->mutable_value()->set_string_value(uuid_text(p.uuid_value()));
          ++uuid_values;
        } else if (!p.hex_value().empty()) {
          q->mutable_value()->set_string_value(absl::BytesToHexString(p.hex_value()));
          ++hex_values;
        } else {
          *q->mutable_value() = p.value();
        }
      }
    };
    auto prop = [](const v1::Vertex& v, absl::string_view key) {
      for (const auto& p : v.properties()) {
        if (p.key() == key) return p.value().string_value();
      }
      return std::string();
    };
    for (const auto& pv : b.packed_vertices()) {
      v1::Vertex v;
      v.set_id(pv.uuid_id().empty() ? pv.id() : uuid_text(pv.uuid_id()));
      uuid_ids += !pv.uuid_id().empty();
      to_props(pv.properties(), v.mutable_properties());
      if (pv.vitrage_id_is_id()) {
        v1::Property* q = v.add_properties();
        q->set_key("vitrage_id");
        q->mutable_value()->set_string_value(v.id());
        ++implied;
      }
      if (pv.cached_id_derived()) {
        std::string key = absl::StrCat(prop(v, "vitrage_category"), ":", prop(v, "vitrage_type"),
                                       ":", prop(v, "id"));
        v1::Property* q = v.add_properties();
        q->set_key("vitrage_cached_id");
        q->mutable_value()->set_string_value(vitrage::Md5Hex(key));
        ++derived;
      }
      ids.push_back(v.id());
      ASSERT_TRUE(graph::AddVertexFromProto(v, &rebuilt).ok());
    }
    uint64_t last_source = 0;
    for (const auto& pe : b.packed_edges()) {
      v1::Edge e;
      EXPECT_EQ(pe.source() + pe.target(), 0u) << "version 3 edge ends in a version 4 body";
      const uint64_t source = last_source + pe.source_step();
      const uint64_t target = source + pe.target_offset();
      last_source = source;
      ASSERT_LT(source, ids.size());
      ASSERT_LT(target, ids.size());
      e.set_source_id(ids[source]);
      e.set_target_id(ids[target]);
      e.set_label(b.keys(pe.label()));
      to_props(pe.properties(), e.mutable_properties());
      ASSERT_TRUE(graph::AddEdgeFromProto(e, &rebuilt).ok());
    }
    marks += b.source_marks_size();
  }
  EXPECT_EQ(marks, 2u);
  EXPECT_GT(refs, 0u) << "no value in a value table";
  EXPECT_GT(uuid_ids, 0u) << "no UUID id written as bytes";
  EXPECT_GT(implied, 0u) << "no vitrage_id left out";
  EXPECT_GT(derived, 0u) << "no vitrage_cached_id left out";
  EXPECT_GT(uuid_values + hex_values, 0u) << "no value written as bytes";
  EXPECT_EQ(graph::Digest(rebuilt), enc->header.digest());
}

TEST(SnapshotTest, SerialAndParallelCodecsAgree) {
  EncodeOptions serial;
  serial.parallel = false;
  serial.max_chunk_body_bytes = 32 << 10;
  EncodeOptions parallel = serial;
  parallel.parallel = true;
  auto a = EncodeSnapshotToMemory(Graph1k(), Info(), Sections(), serial);
  auto b = EncodeSnapshotToMemory(Graph1k(), Info(), Sections(), parallel);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->header.SerializeAsString(), b->header.SerializeAsString());
  ASSERT_EQ(a->chunks.size(), b->chunks.size());
  for (size_t i = 0; i < a->chunks.size(); ++i) {
    EXPECT_EQ(a->chunks[i].SerializeAsString(), b->chunks[i].SerializeAsString()) << i;
  }
  for (bool par : {false, true}) {
    DecodeOptions d;
    d.parallel = par;
    SnapshotSections sections;
    auto g = DecodeSnapshot(a->header, a->chunks, &sections, d);
    ASSERT_TRUE(g.ok()) << g.status();
    EXPECT_EQ(graph::Digest(*g), a->header.digest());
    EXPECT_EQ(sections.evaluator_state, "evaluator-bytes");
  }
}

// The forked child's encode with a helper process (the later elements and
// the sections come from the helper, renumbered after the caller's
// chunks) decodes to the same graph, digest and sections as one process's.
TEST(SnapshotTest, HelperProcessEncodeDecodesToTheSameGraph) {
  const graph::Graph g = Load("100k");
  ASSERT_GE(g.vertex_count() + g.edge_count(), kMinHelperElements);
  EncodeOptions one;
  one.parallel = false;
  EncodeOptions two = one;
  two.helper_process = true;
  auto a = EncodeSnapshotToMemory(g, Info(), Sections(), one);
  auto b = EncodeSnapshotToMemory(g, Info(), Sections(), two);
  ASSERT_TRUE(a.ok() && b.ok()) << a.status() << b.status();
  EXPECT_EQ(a->header.digest(), graph::Digest(g));
  EXPECT_EQ(a->header.digest_split(), 0u);
  // Each process digested its own elements (format version 3 and later).
  EXPECT_EQ(b->header.format_version(), kFormatVersion);
  const uint64_t split = b->header.digest_split();
  EXPECT_GT(split, 0u);
  EXPECT_LT(split, g.vertex_count() + g.edge_count());
  EXPECT_EQ(b->header.digest(), graph::DigestInTwoParts(g, split));
  EXPECT_EQ(b->header.vertex_count(), a->header.vertex_count());
  EXPECT_EQ(b->header.edge_count(), a->header.edge_count());
  ASSERT_EQ(b->header.chunk_count(), b->chunks.size());
  uint64_t compressed = 0;
  for (uint32_t i = 0; i < b->chunks.size(); ++i) {
    EXPECT_EQ(b->chunks[i].index(), i);
    compressed += b->chunks[i].data().size();
  }
  EXPECT_EQ(b->header.compressed_bytes(), compressed);
  SnapshotSections sections;
  auto dec = DecodeSnapshot(b->header, b->chunks, &sections);  // verifies the digest
  ASSERT_TRUE(dec.ok()) << dec.status();
  EXPECT_EQ(graph::Digest(*dec), a->header.digest());
  ASSERT_EQ(sections.source_marks.size(), 2u);
  EXPECT_EQ(sections.evaluator_state, "evaluator-bytes");
  EXPECT_EQ(sections.processor_state, std::string("\0\1processor", 11));
  // Without a digest the split is even; the graph is the same.
  two.compute_digest = false;
  auto c = EncodeSnapshotToMemory(g, Info(), Sections(), two);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->header.digest(), "");
  EXPECT_EQ(c->header.digest_split(), 0u);
  auto dec2 = DecodeSnapshot(c->header, c->chunks);
  ASSERT_TRUE(dec2.ok()) << dec2.status();
  EXPECT_EQ(graph::Digest(*dec2), a->header.digest());
}

// A split digest that does not match its split point is caught, and a
// split a header cannot have is refused before anything is loaded.
TEST(SnapshotTest, SplitDigestIsVerified) {
  const graph::Graph g = Load("100k");
  EncodeOptions o;
  o.parallel = false;
  o.helper_process = true;
  auto enc = EncodeSnapshotToMemory(g, Info(), Sections(), o);
  ASSERT_TRUE(enc.ok()) << enc.status();
  v1::SnapshotHeader h = enc->header;
  h.set_digest_split(h.digest_split() + 1);
  auto moved = DecodeSnapshot(h, enc->chunks);
  EXPECT_EQ(moved.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(moved.status().message().find("digest mismatch"), std::string::npos) << moved.status();
  h.set_digest_split(g.vertex_count() + g.edge_count() + 1);
  auto beyond = DecodeSnapshot(h, enc->chunks);
  EXPECT_NE(beyond.status().message().find("beyond the"), std::string::npos) << beyond.status();
  h = enc->header;
  h.set_format_version(2);
  auto old = DecodeSnapshot(h, enc->chunks);
  EXPECT_NE(old.status().message().find("in a format version 2 header"), std::string::npos)
      << old.status();
}

// What the previous writer (format version 2) wrote is a version 3
// snapshot without digest_split, labelled 2: this reader loads it and
// checks its whole-graph digest. (A version 2 snapshot from the commit
// before version 3 was also loaded by hand, docs/formats.md.)
TEST(SnapshotTest, VersionTwoSnapshotsStillDecode) {
  EncodeOptions o;
  o.parallel = false;
  o.format_version = 3;
  auto enc = EncodeSnapshotToMemory(Graph1k(), Info(), Sections(), o);
  ASSERT_TRUE(enc.ok()) << enc.status();
  ASSERT_EQ(enc->header.digest_split(), 0u);
  enc->header.set_format_version(2);
  SnapshotSections sections;
  auto dec = DecodeSnapshot(enc->header, enc->chunks, &sections);
  ASSERT_TRUE(dec.ok()) << dec.status();
  EXPECT_EQ(graph::Digest(*dec), graph::Digest(Graph1k()));
  EXPECT_EQ(sections.evaluator_state, "evaluator-bytes");
}

// What the previous writer (format version 3) wrote: no compact forms; this
// reader loads it, and it is larger than version 4's on the same graph.
// Version 3's edge positions in a version 4 body, and version 4's fields in
// a version 3 body, are refused.
TEST(SnapshotTest, VersionThreeSnapshotsStillDecode) {
  const graph::Graph& g = Graph1k();
  EncodeOptions o;
  o.format_version = 3;
  auto v3 = EncodeSnapshotToMemory(g, Info(), Sections(), o);
  ASSERT_TRUE(v3.ok()) << v3.status();
  EXPECT_EQ(v3->header.format_version(), 3u);
  for (const auto& c : v3->chunks) {
    v1::SnapshotChunkBody b = ParseChunk(c);
    for (const auto& pv : b.packed_vertices()) {
      EXPECT_TRUE(pv.uuid_id().empty() && !pv.vitrage_id_is_id() && !pv.cached_id_derived());
      for (const auto& p : pv.properties()) {
        EXPECT_TRUE(p.uuid_value().empty() && p.hex_value().empty());
      }
    }
    for (const auto& pe : b.packed_edges()) EXPECT_EQ(pe.source_step() + pe.target_offset(), 0);
  }
  auto dec = DecodeSnapshot(v3->header, v3->chunks);
  ASSERT_TRUE(dec.ok()) << dec.status();
  EXPECT_EQ(graph::Digest(*dec), graph::Digest(g));
  auto v4 = EncodeSnapshotToMemory(g, Info(), Sections());
  ASSERT_TRUE(v4.ok()) << v4.status();
  EXPECT_LT(v4->header.compressed_bytes(), v3->header.compressed_bytes());
  // Labels swapped: each body is refused for the other version's fields.
  v3->header.set_format_version(4);
  absl::Status st = DecodeSnapshot(v3->header, v3->chunks).status();
  EXPECT_NE(st.message().find("edge positions in a version 4 snapshot"), std::string::npos) << st;
  v4->header.set_format_version(3);
  st = DecodeSnapshot(v4->header, v4->chunks).status();
  EXPECT_NE(st.message().find("(a version 4 field) in an older snapshot"), std::string::npos) << st;
  o.format_version = 5;
  EXPECT_EQ(EncodeSnapshotToMemory(g, Info(), Sections(), o).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// A sink that fails while the helper runs: the error comes back, and the
// helper is killed and reaped (no child is left).
TEST(SnapshotTest, HelperProcessIsReapedWhenTheSinkFails) {
  const graph::Graph g = Load("100k");
  EncodeOptions o;
  o.parallel = false;
  o.helper_process = true;
  v1::SnapshotHeader h;
  int calls = 0;
  absl::Status st = EncodeSnapshot(
      g, Info(), Sections(), o,
      [&](v1::SnapshotChunk&&) {
        return ++calls == 2 ? absl::UnavailableError("store went away") : absl::OkStatus();
      },
      &h);
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable) << st;
  errno = 0;
  EXPECT_EQ(::waitpid(-1, nullptr, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
}

TEST(SnapshotTest, VersionOneSnapshotsStillDecode) {
  const graph::Graph& g = Graph1k();
  // A version 1 snapshot as the previous writer made it: string keys and
  // end ids, no key table.
  std::vector<v1::SnapshotChunkBody> bodies(3);
  std::vector<graph::Slot> vs = g.VerticesById();
  size_t i = 0;
  for (graph::Slot v : vs) graph::VertexToProto(g, v, bodies[i++ * 2 / vs.size()].add_vertices());
  for (graph::Slot e : g.EdgesByKey(vs)) graph::EdgeToProto(g, e, bodies[2].add_edges());
  bodies[2].set_evaluator_state("old-evaluator");
  v1::SnapshotHeader h;
  h.set_format_version(1);
  h.set_seq(9);
  h.set_vertex_count(g.vertex_count());
  h.set_edge_count(g.edge_count());
  h.set_chunk_count(3);
  h.set_digest(graph::Digest(g));
  std::vector<v1::SnapshotChunk> chunks;
  for (uint32_t k = 0; k < 3; ++k) {
    chunks.push_back(MakeChunk(k, bodies[k]));
    h.set_uncompressed_bytes(h.uncompressed_bytes() + chunks.back().uncompressed_size());
    h.set_compressed_bytes(h.compressed_bytes() + chunks.back().data().size());
  }
  SnapshotSections sections;
  auto dec = DecodeSnapshot(h, chunks, &sections);
  ASSERT_TRUE(dec.ok()) << dec.status();
  EXPECT_EQ(graph::Digest(*dec), h.digest());
  EXPECT_EQ(sections.evaluator_state, "old-evaluator");
}

TEST(SnapshotTest, VersionTwoDecodeSharesVertexIdWithVitrageId) {
  auto enc = EncodeSnapshotToMemory(Graph1k(), Info(), Sections());
  ASSERT_TRUE(enc.ok());
  auto dec = DecodeSnapshot(enc->header, enc->chunks);
  ASSERT_TRUE(dec.ok()) << dec.status();
  size_t shared = 0;
  dec->ForEachVertex([&](graph::Slot v) {
    const graph::Value* vid = dec->VertexProps(v).Find(graph::keys::kVitrageId);
    if (vid != nullptr && vid->AsString().data() == dec->VertexId(v).data()) ++shared;
  });
  EXPECT_EQ(shared, dec->vertex_count());
}

// A length-delimited protobuf field (field numbers < 16, lengths < 128).
std::string Field(int field, const std::string& bytes) {
  return std::string(1, static_cast<char>(field << 3 | 2)) +
         std::string(1, static_cast<char>(bytes.size())) + bytes;
}

// The parser reads the writer's usual property shapes on a fast path and
// everything else on the general one: both give the same properties, and a
// reference outside the value table is an error either way.
TEST(SnapshotBodyTest, FastAndGeneralPropertyPathsAgree) {
  auto body = [](const std::vector<std::string>& props) {
    std::string b = Field(6, "a") + Field(6, "b") + Field(6, "c") + Field(6, "d") + Field(6, "e") +
                    Field(6, "vitrage_id") + Field(9, "shared");
    std::string v = Field(1, "v1");
    for (const std::string& p : props) v += Field(2, p);
    return Field(7, v) + b;
  };
  const std::string fast_ref("\x08\x00\x18\x01", 4);
  const std::string long_ref("\x08\x80\x00\x18\x01", 5);  // index 0 in two bytes
  const std::string fast_bool("\x08\x01\x12\x02\x10\x07", 6);
  const std::string fast_str(
      "\x08\x02\x12\x05\x2a\x03"
      "abc",
      9);
  const std::string reordered_str(
      "\x12\x05\x2a\x03"
      "abc"
      "\x08\x03",
      9);
  const std::string int_value("\x08\x04\x12\x02\x18\x2a", 6);
  for (const auto& [props, want] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{fast_ref, fast_bool, fast_str, reordered_str, int_value},
            "a=shared b=true c=abc d=abc e=42"},
           {{long_ref}, "a=shared"}}) {
    internal::ParsedChunk chunk;
    absl::Status st = internal::ParseBody(body(props), 2, nullptr, nullptr, &chunk);
    ASSERT_TRUE(st.ok()) << st;
    ASSERT_EQ(chunk.vertices.size(), 1u);
    std::string got;
    for (const auto& [k, v] : chunk.vertices[0].props) {
      if (!got.empty()) got += " ";
      got += std::string(graph::KeyName(k)) + "=";
      if (v.is_string()) got += std::string(v.string_value());
      if (v.kind() == graph::Value::Kind::kBool) got += v.bool_value() ? "true" : "false";
      if (v.kind() == graph::Value::Kind::kInt) got += std::to_string(v.int_value());
    }
    EXPECT_EQ(got, want);
  }
  for (const std::string& bad : {std::string("\x08\x00\x18\x05", 4),  // ref 5 of 1
                                 std::string("\x08\x09\x18\x01", 4),  // key 9 of 6
                                 std::string("\x08\x00\x12\x05\x2a\x09"
                                             "abc",
                                             9)}) {  // short
    internal::ParsedChunk chunk;
    absl::Status st = internal::ParseBody(body({bad}), 2, nullptr, nullptr, &chunk);
    EXPECT_FALSE(st.ok()) << "accepted " << absl::CEscape(bad);
    EXPECT_NE(st.message().find("vertex #0: malformed body"), std::string::npos) << st;
  }
}

class SnapshotCorruptionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    EncodeOptions opts;
    opts.max_chunk_body_bytes = 16 << 10;  // many small chunks
    auto enc = EncodeSnapshotToMemory(Graph1k(), Info(), Sections(), opts);
    ASSERT_TRUE(enc.ok());
    snap_ = std::move(*enc);
    ASSERT_GT(snap_.chunks.size(), 8u);
  }
  absl::Status Decode(const v1::SnapshotHeader& h, const std::vector<v1::SnapshotChunk>& cs) {
    return DecodeSnapshot(h, cs).status();
  }
  EncodedSnapshot snap_;
};

TEST_F(SnapshotCorruptionTest, EveryFlippedBitInAChunkIsDetected) {
  const size_t k = 1;
  const v1::SnapshotChunk original = snap_.chunks[k];
  // Every bit of the compressed data.
  for (size_t bit = 0; bit < original.data().size() * 8; ++bit) {
    v1::SnapshotChunk& c = snap_.chunks[k];
    c = original;
    (*c.mutable_data())[bit / 8] ^= static_cast<char>(1 << (bit % 8));
    absl::Status st = Decode(snap_.header, snap_.chunks);
    ASSERT_FALSE(st.ok()) << "bit " << bit;
    ASSERT_NE(st.message().find("snapshot chunk 1: crc mismatch"), std::string::npos) << st;
  }
  // Every bit of the crc, the size and the index fields.
  for (int bit = 0; bit < 32; ++bit) {
    snap_.chunks[k] = original;
    snap_.chunks[k].set_crc32c(original.crc32c() ^ (1u << bit));
    EXPECT_FALSE(Decode(snap_.header, snap_.chunks).ok()) << "crc bit " << bit;
    snap_.chunks[k] = original;
    snap_.chunks[k].set_index(original.index() ^ (1u << bit));
    EXPECT_FALSE(Decode(snap_.header, snap_.chunks).ok()) << "index bit " << bit;
  }
  for (int bit = 0; bit < 64; ++bit) {
    snap_.chunks[k] = original;
    snap_.chunks[k].set_uncompressed_size(original.uncompressed_size() ^ (uint64_t{1} << bit));
    EXPECT_FALSE(Decode(snap_.header, snap_.chunks).ok()) << "size bit " << bit;
  }
  snap_.chunks[k] = original;
  EXPECT_TRUE(Decode(snap_.header, snap_.chunks).ok());
}

TEST_F(SnapshotCorruptionTest, MissingChunkIsNamed) {
  auto cs = snap_.chunks;
  cs.erase(cs.begin() + 3);
  absl::Status st = Decode(snap_.header, cs);
  EXPECT_NE(st.message().find("snapshot chunk 4: out of order: expected chunk 3"),
            std::string::npos)
      << st;
  cs = snap_.chunks;
  cs.pop_back();
  st = Decode(snap_.header, cs);
  EXPECT_NE(st.message().find("missing"), std::string::npos) << st;
  EXPECT_NE(st.message().find(absl::StrCat("chunk ", cs.size())), std::string::npos) << st;
}

TEST_F(SnapshotCorruptionTest, ExtraAndRepeatedChunksAreRejected) {
  auto cs = snap_.chunks;
  v1::SnapshotChunk extra = cs.back();
  extra.set_index(cs.size());
  cs.push_back(extra);
  absl::Status st = Decode(snap_.header, cs);
  EXPECT_NE(st.message().find(absl::StrCat("snapshot chunk ", cs.size() - 1, ": unexpected")),
            std::string::npos)
      << st;
  cs = snap_.chunks;
  cs.insert(cs.begin() + 2, cs[1]);
  st = Decode(snap_.header, cs);
  EXPECT_NE(st.message().find("repeated"), std::string::npos) << st;
}

// A hostile or broken get_all image header: refused by Begin, before any
// reserve, naming the count and the limit.
TEST_F(SnapshotCorruptionTest, HeaderClaiming2To40VerticesIsRefusedBeforeAnyReserve) {
  v1::SnapshotHeader h = snap_.header;
  h.set_vertex_count(uint64_t{1} << 40);
  SnapshotDecoder d;
  absl::Status st = d.Begin(h);
  EXPECT_TRUE(absl::IsResourceExhausted(st)) << st;
  EXPECT_NE(st.message().find("header says 1099511627776 vertices; the limit is 50000000 "
                              "([limits] max_graph_vertices)"),
            std::string::npos)
      << st;
  EXPECT_FALSE(d.AddChunk(snap_.chunks[0]).ok());  // the error is final

  h = snap_.header;
  h.set_edge_count(uint64_t{1} << 40);
  DecodeOptions small;
  small.max_edges = 10;
  SnapshotDecoder d2(small);
  st = d2.Begin(h);
  EXPECT_NE(st.message().find("header says 1099511627776 edges; the limit is 10 "
                              "([limits] max_graph_edges)"),
            std::string::npos)
      << st;
}

TEST_F(SnapshotCorruptionTest, CountsAtTheLimitsAreAccepted) {
  DecodeOptions exact;
  exact.max_vertices = snap_.header.vertex_count();
  exact.max_edges = snap_.header.edge_count();
  EXPECT_TRUE(DecodeSnapshot(snap_.header, snap_.chunks, nullptr, exact).ok());
}

// Rewrites `from` to `to` (same length) in every chunk body, re-compressing
// and re-checksumming: a snapshot holding a key this process never saw.
void RenameInSnapshot(EncodedSnapshot* snap, const std::string& from, const std::string& to) {
  ASSERT_EQ(from.size(), to.size());
  uint64_t compressed = 0;
  for (v1::SnapshotChunk& c : snap->chunks) {
    std::string body(c.uncompressed_size(), '\0');
    size_t n = ZSTD_decompress(body.data(), body.size(), c.data().data(), c.data().size());
    ASSERT_EQ(n, body.size());
    for (size_t at = body.find(from); at != std::string::npos; at = body.find(from, at)) {
      body.replace(at, from.size(), to);
    }
    std::string data(ZSTD_compressBound(body.size()), '\0');
    data.resize(ZSTD_compress(data.data(), data.size(), body.data(), body.size(), 1));
    c.set_crc32c(crc32c::Value(data.data(), data.size()));
    compressed += data.size();
    c.set_data(std::move(data));
  }
  snap->header.set_compressed_bytes(compressed);
  snap->header.clear_digest();
}

// A snapshot whose keys do not fit the process's key table fails to load
// with an error naming the table, instead of aborting the process or
// loading a graph with keys lost.
TEST(SnapshotKeyTableTest, DecodeFailsWhenTheKeyTableIsFull) {
  graph::Graph g;
  graph::Properties p;
  p.Set(graph::InternKey("key_table_full_probe_A"), graph::Value::Int(1));
  ASSERT_TRUE(g.AddVertex("v", std::move(p)).ok());
  auto enc = EncodeSnapshotToMemory(g, Info(), SnapshotSections());
  ASSERT_TRUE(enc.ok());
  RenameInSnapshot(&*enc, "key_table_full_probe_A", "key_table_full_probe_B");
  ASSERT_FALSE(graph::KeyIsInterned("key_table_full_probe_B"));
  // Full: the next new key gets the overflow id.
  graph::SetKeyTableCapacityForTest(graph::KeyCount() + 1);
  absl::Status st = DecodeSnapshot(enc->header, enc->chunks).status();
  graph::SetKeyTableCapacityForTest(graph::kKeyTableCapacity);
  EXPECT_TRUE(absl::IsResourceExhausted(st)) << st;
  EXPECT_NE(st.message().find("the property key table is full"), std::string::npos) << st;
  EXPECT_FALSE(graph::KeyIsInterned("key_table_full_probe_B"));
  // With room again, the same snapshot loads.
  auto g2 = DecodeSnapshot(enc->header, enc->chunks);
  ASSERT_TRUE(g2.ok()) << g2.status();
  EXPECT_TRUE(graph::KeyIsInterned("key_table_full_probe_B"));
}

TEST_F(SnapshotCorruptionTest, HeaderMismatchesAreRejected) {
  v1::SnapshotHeader h = snap_.header;
  h.set_format_version(kFormatVersion + 1);
  EXPECT_NE(Decode(h, snap_.chunks)
                .message()
                .find(absl::StrCat("unknown format version ", kFormatVersion + 1)),
            std::string::npos);
  h.set_format_version(0);
  EXPECT_NE(Decode(h, snap_.chunks).message().find("unknown format version 0"), std::string::npos);
  h = snap_.header;
  h.set_vertex_count(h.vertex_count() + 1);
  EXPECT_NE(Decode(h, snap_.chunks).message().find("vertex count mismatch"), std::string::npos);
  h = snap_.header;
  h.set_edge_count(h.edge_count() - 1);
  EXPECT_NE(Decode(h, snap_.chunks).message().find("edge count mismatch"), std::string::npos);
  h = snap_.header;
  h.set_digest(std::string(64, '0'));
  EXPECT_NE(Decode(h, snap_.chunks).message().find("digest mismatch"), std::string::npos);
  h = snap_.header;
  h.set_chunk_count(h.chunk_count() + 1);
  // The last chunk (with the sections) is then not the last one.
  EXPECT_NE(Decode(h, snap_.chunks).message().find("sections in a chunk other than the last"),
            std::string::npos);
}

TEST_F(SnapshotCorruptionTest, ValidCrcButBadBodyIsNamed) {
  // A body that zstd accepts but is not a SnapshotChunkBody.
  v1::SnapshotChunk& c = snap_.chunks[2];
  std::string garbage = "\x0a\xff\xff\xff\x0f";
  std::string data(ZSTD_compressBound(garbage.size()), '\0');
  data.resize(ZSTD_compress(data.data(), data.size(), garbage.data(), garbage.size(), 1));
  c.set_data(data);
  c.set_uncompressed_size(garbage.size());
  c.set_crc32c(crc32c::Value(data.data(), data.size()));
  absl::Status st = Decode(snap_.header, snap_.chunks);
  EXPECT_NE(st.message().find("snapshot chunk 2: malformed body"), std::string::npos) << st;
}

// The parallel decoder parses chunks on its worker or on the caller's
// thread (whichever is free) and loads them in order: a bad chunk anywhere
// is named the same way by both decoders, and nothing after it is loaded.
TEST_F(SnapshotCorruptionTest, BadBodyIsNamedWhicheverThreadParsesIt) {
  std::string garbage = "\x0a\xff\xff\xff\x0f";
  std::string data(ZSTD_compressBound(garbage.size()), '\0');
  data.resize(ZSTD_compress(data.data(), data.size(), garbage.data(), garbage.size(), 1));
  const size_t n = snap_.chunks.size();
  for (size_t bad : {size_t{0}, size_t{5}, n / 2, n - 2, n - 1}) {
    std::vector<v1::SnapshotChunk> chunks = snap_.chunks;
    chunks[bad].set_data(data);
    chunks[bad].set_uncompressed_size(garbage.size());
    chunks[bad].set_crc32c(crc32c::Value(data.data(), data.size()));
    for (bool par : {false, true}) {
      DecodeOptions o;
      o.parallel = par;
      absl::Status st = DecodeSnapshot(snap_.header, chunks, nullptr, o).status();
      EXPECT_NE(st.message().find(absl::StrCat("snapshot chunk ", bad, ": malformed body")),
                std::string::npos)
          << "chunk " << bad << (par ? " parallel: " : " serial: ") << st;
    }
  }
}

// A decoder dropped in the middle of a stream (the persistor went away)
// stops its worker and frees the chunks it had queued.
TEST_F(SnapshotCorruptionTest, DecoderDroppedMidStreamStopsItsWorker) {
  for (size_t stop : {size_t{1}, size_t{3}, snap_.chunks.size() - 1}) {
    SnapshotDecoder d;
    ASSERT_TRUE(d.Begin(snap_.header).ok());
    for (size_t i = 0; i < stop; ++i) ASSERT_TRUE(d.AddChunk(snap_.chunks[i]).ok()) << i;
  }
  // And one that fails on a chunk keeps failing without touching the rest.
  SnapshotDecoder d;
  ASSERT_TRUE(d.Begin(snap_.header).ok());
  std::vector<v1::SnapshotChunk> chunks = snap_.chunks;
  chunks[1].set_uncompressed_size(chunks[1].uncompressed_size() + 1);
  absl::Status first;
  for (const auto& c : chunks) {
    absl::Status st = d.AddChunk(c);
    if (!st.ok()) {
      if (first.ok()) first = st;
      EXPECT_EQ(st, first);
    }
  }
  absl::Status fin = d.Finish();
  EXPECT_FALSE(fin.ok());
  if (!first.ok()) {
    EXPECT_EQ(fin, first);
  }
  EXPECT_NE(fin.message().find("snapshot chunk 1: decompressed"), std::string::npos) << fin;
}

TEST_F(SnapshotCorruptionTest, KeyIndexOutsideTheKeyTableIsNamed) {
  // Re-encode chunk 0 with its key table cut short (valid CRC).
  v1::SnapshotChunkBody b = ParseChunk(snap_.chunks[0]);
  ASSERT_GT(b.keys_size(), 1);
  b.mutable_keys()->RemoveLast();
  snap_.chunks[0] = MakeChunk(0, b);
  absl::Status st = Decode(snap_.header, snap_.chunks);
  EXPECT_NE(st.message().find("snapshot chunk 0: vertex #"), std::string::npos) << st;
  EXPECT_NE(st.message().find("malformed body"), std::string::npos) << st;
  EXPECT_NE(st.message().find("outside the key table"), std::string::npos) << st;
}

TEST_F(SnapshotCorruptionTest, ValueReferenceOutsideTheValueTableIsNamed) {
  v1::SnapshotChunkBody b = ParseChunk(snap_.chunks[0]);
  ASSERT_GT(b.values_size(), 1);
  b.mutable_values()->RemoveLast();
  snap_.chunks[0] = MakeChunk(0, b);
  absl::Status st = Decode(snap_.header, snap_.chunks);
  EXPECT_NE(st.message().find("snapshot chunk 0: vertex #"), std::string::npos) << st;
  EXPECT_NE(st.message().find("outside the value table"), std::string::npos) << st;
}

TEST_F(SnapshotCorruptionTest, EdgeEndOutsideTheVerticesIsNamed) {
  // The last chunk holds edges; point one past the last vertex.
  v1::SnapshotChunk& last = snap_.chunks.back();
  v1::SnapshotChunkBody b = ParseChunk(last);
  ASSERT_GT(b.packed_edges_size(), 0);
  // (The chunk's first edge: its step from 0 is its source position.)
  v1::PackedEdge* e = b.mutable_packed_edges(0);
  e->set_target_offset(static_cast<int64_t>(snap_.header.vertex_count()) - e->source_step());
  last = MakeChunk(last.index(), b);
  absl::Status st = Decode(snap_.header, snap_.chunks);
  EXPECT_NE(st.message().find("is not a vertex position"), std::string::npos) << st;
}

// Steps before position 0 (or past what any graph holds) are named
// without arithmetic overflow.
TEST_F(SnapshotCorruptionTest, EdgeStepsOutsideThePositionsAreNamed) {
  const size_t i = snap_.chunks.size() - 1;
  const v1::SnapshotChunkBody good = ParseChunk(snap_.chunks[i]);
  ASSERT_GT(good.packed_edges_size(), 1);
  const int64_t kMin = std::numeric_limits<int64_t>::min(),
                kMax = std::numeric_limits<int64_t>::max();
  for (auto [step, offset] : std::vector<std::pair<int64_t, int64_t>>{
           {-1, 0}, {0, -1}, {kMin, 0}, {kMax, 0}, {0, kMax}, {0, kMin}, {kMax, kMax}}) {
    std::vector<v1::SnapshotChunk> chunks = snap_.chunks;
    v1::SnapshotChunkBody b = good;
    b.mutable_packed_edges(0)->set_source_step(step);
    b.mutable_packed_edges(0)->set_target_offset(offset);
    chunks[i] = MakeChunk(i, b);
    absl::Status st = Decode(snap_.header, chunks);
    EXPECT_NE(st.message().find("edge ends outside the vertex positions"), std::string::npos)
        << step << " " << offset << ": " << st;
  }
}

// Version 4's compact vertex and value forms, corrupted: each is named.
TEST_F(SnapshotCorruptionTest, CompactFormsThatCannotBeUndoneAreNamed) {
  const v1::SnapshotChunkBody good = ParseChunk(snap_.chunks[0]);
  ASSERT_GT(good.packed_vertices_size(), 0);
  // The first vertex with a UUID id, a left-out vitrage_id and a derived
  // vitrage_cached_id.
  int v = 0;
  while (v < good.packed_vertices_size() && (good.packed_vertices(v).uuid_id().empty() ||
                                             !good.packed_vertices(v).vitrage_id_is_id() ||
                                             !good.packed_vertices(v).cached_id_derived())) {
    ++v;
  }
  ASSERT_LT(v, good.packed_vertices_size()) << "no vertex with every compact form";
  auto expect = [&](const std::function<void(v1::SnapshotChunkBody*, v1::PackedVertex*)>& corrupt,
                    absl::string_view message) {
    std::vector<v1::SnapshotChunk> chunks = snap_.chunks;
    v1::SnapshotChunkBody b = good;
    corrupt(&b, b.mutable_packed_vertices(v));
    chunks[0] = MakeChunk(0, b);
    absl::Status st = Decode(snap_.header, chunks);
    EXPECT_NE(st.message().find(message), std::string::npos) << message << ": " << st;
    EXPECT_NE(st.message().find(absl::StrCat("snapshot chunk 0: vertex #", v)), std::string::npos)
        << st;
  };
  expect([](v1::SnapshotChunkBody*, v1::PackedVertex* pv) { pv->set_uuid_id("short"); },
         "vertex uuid_id of 5 bytes (16 expected)");
  expect([](v1::SnapshotChunkBody*, v1::PackedVertex* pv) { pv->set_id("x"); },
         "vertex with both an id and a uuid_id");
  expect(
      [](v1::SnapshotChunkBody* b, v1::PackedVertex* pv) {
        v1::PackedProperty* p = pv->add_properties();
        p->set_key(b->keys_size());
        b->add_keys("vitrage_id");
        p->mutable_value()->set_string_value("other");
      },
      "vitrage_id both listed and implied");
  expect(
      [&](v1::SnapshotChunkBody*, v1::PackedVertex* pv) {
        for (int k = 0; k < pv->properties_size(); ++k) {
          if (good.keys(pv->properties(k).key()) == "vitrage_type") {
            pv->mutable_properties()->DeleteSubrange(k, 1);
            break;
          }
        }
      },
      "vitrage_cached_id derived, but vitrage_category, vitrage_type or id is not a string");
  expect(
      [](v1::SnapshotChunkBody*, v1::PackedVertex* pv) {
        v1::PackedProperty* p = pv->mutable_properties(0);
        p->clear_value_ref();
        p->clear_value();
        p->set_uuid_value("0123456789abcdef0");
      },
      "uuid_value of 17 bytes (16 expected)");
  expect(
      [](v1::SnapshotChunkBody*, v1::PackedVertex* pv) {
        v1::PackedProperty* p = pv->mutable_properties(0);
        p->set_hex_value("\x01\x02");
        p->mutable_value()->set_string_value("x");
      },
      "has more than one value");
}

}  // namespace
}  // namespace vitrage::snapshot
