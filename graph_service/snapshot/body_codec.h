// Hand-written protobuf wire encoding of v1::SnapshotChunkBody members
// straight from / into the graph (no intermediate v1::Vertex objects). The
// bytes are exactly what protobuf would parse as SnapshotChunkBody; tests
// check that against the generated parser. Internal to snapshot/.
#ifndef VITRAGE_GRAPH_SERVICE_SNAPSHOT_BODY_CODEC_H_
#define VITRAGE_GRAPH_SERVICE_SNAPSHOT_BODY_CODEC_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "graph_service/graph/graph.h"
#include "vitrage/v1/snapshot.pb.h"

namespace vitrage::snapshot::internal {

// SnapshotChunkBody field numbers.
inline constexpr int kBodyVertices = 1;  // version 1
inline constexpr int kBodyEdges = 2;     // version 1
inline constexpr int kBodySourceMarks = 3;
inline constexpr int kBodyEvaluatorState = 4;
inline constexpr int kBodyProcessorState = 5;
inline constexpr int kBodyKeys = 6;            // version 2
inline constexpr int kBodyPackedVertices = 7;  // version 2
inline constexpr int kBodyPackedEdges = 8;     // version 2
inline constexpr int kBodyValues = 9;          // version 2

// Writes format-version-2 elements into a chunk body, keeping the chunk's
// key table and string value table. Per element: Prepare*() (assigns table
// indices, returns the record's size), then Append*() to write it. At the
// end of a chunk: AppendKeyTable() writes both tables and starts new, empty
// ones.
class PackedWriter {
 public:
  // `format_version` 2/3 writes only version 2 fields; 4 (kFormatVersion)
  // also the compact forms: UUID and hex strings as bytes, vitrage_id and a
  // derivable vitrage_cached_id left out, edge ends as steps.
  explicit PackedWriter(uint32_t format_version = 4) : compact_(format_version >= 4) {}

  // Works out, four md5s at a time, which of the next (up to four)
  // vertices' vitrage_cached_id may be left out; PrepareVertex of one of
  // them then uses the answer instead of hashing on its own.
  void PlanVertices(const graph::Graph& g, const graph::Slot* v, size_t n);
  size_t PrepareVertex(const graph::Graph& g, graph::Slot v);
  void AppendVertex(const graph::Graph& g, graph::Slot v, std::string* out);
  // `source` / `target`: the ends' positions in the snapshot's vertex order.
  size_t PrepareEdge(const graph::Graph& g, graph::Slot e, uint64_t source, uint64_t target);
  void AppendEdge(const graph::Graph& g, graph::Slot e, uint64_t source, uint64_t target,
                  std::string* out);
  // Bytes AppendKeyTable would write now.
  size_t key_table_bytes() const { return key_table_bytes_ + value_table_bytes_; }
  void AppendKeyTable(std::string* out);

 private:
  // How a property's value is written.
  enum Form : uint8_t { kInPlace, kRef, kHex, kUuid, kLeftOut };

  uint32_t Index(graph::KeyId k);
  // value_ref of `v` for key `k` (index + 1 into the value table), or 0
  // when the value is written in place.
  uint32_t ValueRef(graph::KeyId k, const graph::Value& v);
  // Properties whose key is `skip1` or `skip2` are left out.
  size_t PrepareProps(const graph::Properties& p, graph::KeyId skip1, graph::KeyId skip2);
  void AppendProps(int field, const graph::Properties& p, std::string* out);

  const bool compact_;
  // Of the prepared vertex (version 4).
  bool uuid_id_ = false;
  bool vitrage_id_is_id_ = false;
  bool cached_id_derived_ = false;
  static constexpr int kPlan = 4;
  graph::Slot plan_[kPlan];
  bool derivable_[kPlan];
  int planned_ = 0;
  char uuid_bytes_[16];
  // Source position of the last edge appended to this chunk (version 4).
  uint64_t last_source_ = 0;
  std::vector<Form> forms_;  // per property of the prepared element

  std::vector<uint32_t> index_of_;  // KeyId -> index + 1 in this chunk (0: none)
  std::vector<graph::KeyId> table_;
  size_t key_table_bytes_ = 0;
  absl::flat_hash_map<const char*, uint32_t> value_index_;  // chars -> ref
  std::vector<absl::string_view> values_;
  size_t value_table_bytes_ = 0;
  std::vector<size_t> value_sizes_;   // per property of the prepared element
  std::vector<uint32_t> value_refs_;  // per property of the prepared element
  size_t msg_size_ = 0;
};

// Appends a length-delimited bytes/message field.
void AppendBytesField(int field, absl::string_view bytes, std::string* out);

// What a body held besides graph elements.
struct BodySections {
  std::vector<v1::SourceMark> source_marks;
  std::string evaluator_state;
  std::string processor_state;
  bool present = false;  // any section field seen
};

// State carried from chunk to chunk while decoding one snapshot.
struct DecodeState {
  uint32_t format_version = 0;
  // Slot of each vertex, in snapshot order (version 2 edges refer to these).
  std::vector<graph::Slot> vertex_slots;
  uint64_t edges = 0;
};

// A version 2 body's elements, parsed but not yet in a graph.
struct ParsedChunk {
  struct Vertex {
    graph::Value id;
    graph::Properties props;
    graph::Graph::NaturalKey natural;  // of props, computed by the parser
  };
  struct Edge {
    uint64_t source, target;  // vertex positions in the snapshot
    graph::KeyId label;
    graph::Properties props;
  };
  std::vector<Vertex> vertices;
  std::vector<Edge> edges;
  BodySections sections;
  // Version 4 vertices whose vitrage_cached_id is derived: computed for
  // the whole chunk at the end of ParseBody, four md5s at a time. `key`
  // is [begin, end) of derive_keys, the natural-key string hashed.
  struct Derive {
    size_t vertex;
    size_t begin, end;
  };
  std::vector<Derive> derive;
  std::string derive_keys;
};

// Parses a serialized SnapshotChunkBody of `format_version`. Version 2
// elements go to `out` (no graph is touched: this may run on another
// thread than the graph's); version 1 elements are added to `g` directly.
// Errors describe the problem (the caller adds the chunk number).
absl::Status ParseBody(absl::string_view body, uint32_t format_version, graph::Graph* g,
                       DecodeState* state, ParsedChunk* out);

// Adds the parsed elements of `chunk` to `g` (and empties them).
absl::Status LoadParsed(ParsedChunk* chunk, graph::Graph* g, DecodeState* state);

}  // namespace vitrage::snapshot::internal

#endif  // VITRAGE_GRAPH_SERVICE_SNAPSHOT_BODY_CODEC_H_
