#include "graph_service/workload/workload.h"

#include <zstd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "graph_service/graph/json_value.h"

namespace vitrage::workload {
namespace {

using graph::Graph;
using graph::KeyId;
using graph::Properties;
using graph::Slot;
using nlohmann::json;

// Line splitting over a byte source.
class BufferedLineReader : public LineReader {
 public:
  BufferedLineReader(std::string path, FILE* f) : path_(std::move(path)), f_(f) {}
  ~BufferedLineReader() override {
    if (f_ != nullptr) fclose(f_);
  }

  bool Next(std::string* line) override {
    while (true) {
      size_t nl = buf_.find('\n', pos_);
      if (nl != std::string::npos) {
        line->assign(buf_, pos_, nl - pos_);
        pos_ = nl + 1;
        ++line_number_;
        return true;
      }
      if (eof_) {
        if (pos_ < buf_.size()) {
          line->assign(buf_, pos_, std::string::npos);
          pos_ = buf_.size();
          ++line_number_;
          return true;
        }
        return false;
      }
      buf_.erase(0, pos_);
      pos_ = 0;
      if (!Fill(&buf_)) {
        eof_ = true;
        if (!status_.ok()) return false;
      }
    }
  }
  absl::Status status() const override { return status_; }

 protected:
  // Appends more bytes to `out`; returns false at the end of input or on
  // error (status_ set).
  virtual bool Fill(std::string* out) {
    char tmp[1 << 16];
    size_t n = fread(tmp, 1, sizeof(tmp), f_);
    if (n == 0) {
      if (ferror(f_)) status_ = absl::DataLossError(absl::StrCat(path_, ": read error"));
      return false;
    }
    out->append(tmp, n);
    return true;
  }

  std::string path_;
  FILE* f_;
  absl::Status status_;

 private:
  std::string buf_;
  size_t pos_ = 0;
  bool eof_ = false;
};

class ZstdLineReader : public BufferedLineReader {
 public:
  ZstdLineReader(std::string path, FILE* f)
      : BufferedLineReader(std::move(path), f), ds_(ZSTD_createDStream()) {
    ZSTD_initDStream(ds_);
    in_buf_.resize(ZSTD_DStreamInSize());
    out_buf_.resize(ZSTD_DStreamOutSize());
  }
  ~ZstdLineReader() override { ZSTD_freeDStream(ds_); }

 protected:
  bool Fill(std::string* out) override {
    while (true) {
      if (in_.pos == in_.size) {
        if (input_done_) {
          if (!frame_done_) {
            status_ = absl::DataLossError(absl::StrCat(path_, ": truncated zstd stream"));
          }
          return false;
        }
        size_t n = fread(in_buf_.data(), 1, in_buf_.size(), f_);
        if (n == 0) {
          if (ferror(f_)) {
            status_ = absl::DataLossError(absl::StrCat(path_, ": read error"));
            return false;
          }
          input_done_ = true;
          continue;
        }
        in_ = ZSTD_inBuffer{in_buf_.data(), n, 0};
      }
      ZSTD_outBuffer o{out_buf_.data(), out_buf_.size(), 0};
      size_t r = ZSTD_decompressStream(ds_, &o, &in_);
      if (ZSTD_isError(r)) {
        status_ = absl::DataLossError(absl::StrCat(path_, ": zstd: ", ZSTD_getErrorName(r)));
        return false;
      }
      frame_done_ = (r == 0);
      if (o.pos > 0) {
        out->append(out_buf_.data(), o.pos);
        return true;
      }
    }
  }

 private:
  ZSTD_DStream* ds_;
  std::string in_buf_;
  std::string out_buf_;
  ZSTD_inBuffer in_{nullptr, 0, 0};
  bool input_done_ = false;
  bool frame_done_ = true;
};

absl::Status LineError(absl::string_view what, int64_t line, absl::string_view msg) {
  return absl::InvalidArgumentError(absl::StrCat(what, " line ", line, ": ", msg));
}

absl::Status RequireString(const json& o, const char* field, const std::string** out) {
  auto it = o.find(field);
  if (it == o.end())
    return absl::InvalidArgumentError(absl::StrCat("missing field \"", field, "\""));
  if (!it->is_string()) {
    return absl::InvalidArgumentError(absl::StrCat("field \"", field, "\" is not a string"));
  }
  *out = &it->get_ref<const std::string&>();
  return absl::OkStatus();
}

absl::Status RequireObject(const json& o, const char* field, const json** out) {
  auto it = o.find(field);
  if (it == o.end())
    return absl::InvalidArgumentError(absl::StrCat("missing field \"", field, "\""));
  if (!it->is_object()) {
    return absl::InvalidArgumentError(absl::StrCat("field \"", field, "\" is not an object"));
  }
  *out = &*it;
  return absl::OkStatus();
}

absl::Status AddGraphObject(const json& o, Graph* g) {
  if (!o.is_object()) return absl::InvalidArgumentError("not a JSON object");
  const json* props;
  RETURN_IF_ERROR(RequireObject(o, "props", &props));
  if (o.contains("label")) {
    const std::string *s, *t, *l;
    RETURN_IF_ERROR(RequireString(o, "source", &s));
    RETURN_IF_ERROR(RequireString(o, "target", &t));
    RETURN_IF_ERROR(RequireString(o, "label", &l));
    return g->AddEdge(*s, *t, *l, graph::PropertiesFromJson(*props));
  }
  const std::string* id;
  RETURN_IF_ERROR(RequireString(o, "id", &id));
  return g->AddVertex(*id, graph::PropertiesFromJson(*props));
}

void Merge(const json& payload, std::initializer_list<const char*> skip, Properties* set,
           std::vector<KeyId>* remove) {
  for (auto it = payload.begin(); it != payload.end(); ++it) {
    bool skipped = false;
    for (const char* s : skip) skipped |= (it.key() == s);
    if (skipped) continue;
    KeyId k = graph::InternKey(it.key());
    if (it->is_null()) {
      remove->push_back(k);
    } else {
      set->AppendUnsorted(k, graph::ValueFromJson(*it, k));
    }
  }
  set->SortAndDedupe();
}

}  // namespace

absl::StatusOr<std::unique_ptr<LineReader>> LineReader::Open(const std::string& path) {
  FILE* f = fopen(path.c_str(), "rb");
  if (f == nullptr) {
    return absl::NotFoundError(absl::StrCat(path, ": ", strerror(errno)));
  }
  if (absl::EndsWith(path, ".zst")) return std::make_unique<ZstdLineReader>(path, f);
  return std::make_unique<BufferedLineReader>(path, f);
}

absl::StatusOr<std::string> ReadFileContents(const std::string& path) {
  ASSIGN_OR_RETURN(auto reader, LineReader::Open(path));
  std::string out, line;
  while (reader->Next(&line)) {
    out.append(line);
    out.push_back('\n');
  }
  RETURN_IF_ERROR(reader->status());
  return out;
}

absl::Status AddGraphLine(absl::string_view line, Graph* g) {
  json o = json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
  if (o.is_discarded()) return absl::InvalidArgumentError("invalid JSON");
  return AddGraphObject(o, g);
}

absl::Status LoadGraphFile(const std::string& path, Graph* g) {
  ASSIGN_OR_RETURN(auto reader, LineReader::Open(path));
  std::string line;
  while (reader->Next(&line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    absl::Status st = AddGraphLine(line, g);
    if (!st.ok()) return LineError(path, reader->line_number(), st.message());
  }
  return reader->status();
}

absl::Status ApplyEvent(const json& e, Graph* g, v1::GraphDelta* delta) {
  if (!e.is_object()) return absl::InvalidArgumentError("event is not a JSON object");
  const json* payload;
  RETURN_IF_ERROR(RequireObject(e, "payload", &payload));
  auto iv = e.find("is_vertex");
  if (iv == e.end() || !iv->is_boolean()) {
    return absl::InvalidArgumentError("field \"is_vertex\" is missing or not a boolean");
  }
  Properties set;
  std::vector<KeyId> remove;
  if (iv->get<bool>()) {
    const std::string* id;
    RETURN_IF_ERROR(RequireString(*payload, "vertex_id", &id));
    Merge(*payload, {"vertex_id"}, &set, &remove);
    if (!g->HasVertex(*id)) return g->AddVertex(*id, std::move(set), delta);
    return g->UpdateVertex(*id, set, remove, delta);
  }
  const std::string *s, *t, *l;
  RETURN_IF_ERROR(RequireString(*payload, "source_id", &s));
  RETURN_IF_ERROR(RequireString(*payload, "target_id", &t));
  RETURN_IF_ERROR(RequireString(*payload, "relationship_type", &l));
  Merge(*payload, {"source_id", "target_id"}, &set, &remove);
  if (g->FindEdge(*s, *t, *l) == graph::kNoSlot)
    return g->AddEdge(*s, *t, *l, std::move(set), delta);
  return g->UpdateEdge(*s, *t, *l, set, remove, delta);
}

absl::StatusOr<int64_t> ApplyEventTailFile(const std::string& path, Graph* g,
                                           std::vector<v1::GraphDelta>* deltas) {
  ASSIGN_OR_RETURN(auto reader, LineReader::Open(path));
  std::string line;
  int64_t n = 0;
  while (reader->Next(&line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    json e = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (e.is_discarded()) return LineError(path, reader->line_number(), "invalid JSON");
    v1::GraphDelta* d = nullptr;
    if (deltas != nullptr) d = &deltas->emplace_back();
    absl::Status st = ApplyEvent(e, g, d);
    if (!st.ok()) return LineError(path, reader->line_number(), st.message());
    ++n;
  }
  RETURN_IF_ERROR(reader->status());
  return n;
}

void AppendVertexLine(const Graph& g, Slot v, std::string* out) {
  out->append("{\"id\": ");
  graph::AppendPythonJsonString(g.VertexId(v), out);
  out->append(", \"props\": ");
  graph::AppendPythonJson(g.VertexProps(v), out);
  out->push_back('}');
}

void AppendEdgeLine(const Graph& g, Slot e, std::string* out) {
  out->append("{\"source\": ");
  graph::AppendPythonJsonString(g.VertexId(g.EdgeSource(e)), out);
  out->append(", \"target\": ");
  graph::AppendPythonJsonString(g.VertexId(g.EdgeTarget(e)), out);
  out->append(", \"label\": ");
  graph::AppendPythonJsonString(g.EdgeLabel(e), out);
  out->append(", \"props\": ");
  graph::AppendPythonJson(g.EdgeProps(e), out);
  out->push_back('}');
}

absl::Status ExportGraphFile(const Graph& g, const std::string& path) {
  FILE* f = fopen(path.c_str(), "wb");
  if (f == nullptr) return absl::UnavailableError(absl::StrCat(path, ": ", strerror(errno)));
  std::string buf;
  bool ok = true;
  auto flush = [&](bool force) {
    if (buf.size() >= (1 << 16) || (force && !buf.empty())) {
      ok &= fwrite(buf.data(), 1, buf.size(), f) == buf.size();
      buf.clear();
    }
  };
  std::vector<Slot> vertices = g.VerticesById();
  for (Slot v : vertices) {
    AppendVertexLine(g, v, &buf);
    buf.push_back('\n');
    flush(false);
  }
  for (Slot e : g.EdgesByKey(vertices)) {
    AppendEdgeLine(g, e, &buf);
    buf.push_back('\n');
    flush(false);
  }
  flush(true);
  ok &= fclose(f) == 0;
  if (!ok) return absl::DataLossError(absl::StrCat(path, ": write failed"));
  return absl::OkStatus();
}

}  // namespace vitrage::workload
