#include "graph_service/service/passthrough_handler.h"

#include <glog/logging.h>

#include "absl/strings/str_cat.h"
#include "collector/passthrough.h"
#include "graph_service/graph/json_value.h"
#include "graph_service/graph/proto_convert.h"
#include "nlohmann/json.hpp"

namespace vitrage::service {
namespace {

using collector::Op;

absl::string_view FieldString(const v1::MapValue& m, absl::string_view key) {
  for (const auto& e : m.entries()) {
    if (e.key() == key && e.value().kind_case() == v1::Value::kStringValue) {
      return e.value().string_value();
    }
  }
  return {};
}

std::string EdgeKey(absl::string_view s, absl::string_view t, absl::string_view l) {
  return absl::StrCat(s.size(), ":", s, t.size(), ":", t, l);
}

}  // namespace

absl::Status EventFields(const v1::Event& event, v1::MapValue* fields) {
  switch (event.body_case()) {
    case v1::Event::kFields:
      *fields = event.fields();
      return absl::OkStatus();
    case v1::Event::kJson: {
      nlohmann::json j = nlohmann::json::parse(event.json(), nullptr, false);
      if (j.is_discarded() || !j.is_object()) {
        return absl::InvalidArgumentError("event json is not a JSON object");
      }
      graph::Value v = graph::ValueFromJson(j, graph::InternKey(""));
      v1::Value pv;
      graph::ValueToProto(v, &pv);
      *fields = pv.map_value();
      return absl::OkStatus();
    }
    default:
      return absl::InvalidArgumentError("event has no body (fields or json)");
  }
}

absl::Status PassthroughHandler::Validate(const v1::Event& event) {
  const v1::MapValue* fields = &event.fields();
  v1::MapValue parsed;
  if (event.body_case() != v1::Event::kFields) {
    if (auto s = EventFields(event, &parsed); !s.ok()) return s;
    fields = &parsed;
  }
  absl::string_view type = FieldString(*fields, "vitrage_entity_type");
  if (type != collector::kPassthroughType) {
    return absl::InvalidArgumentError(absl::StrCat(
        "vitrage_entity_type \"", type, "\" has no transformer here (expected \"",
        collector::kPassthroughType, "\")"));
  }
  return collector::DecodePassthrough(*fields).status();
}

void PassthroughHandler::Handle(const v1::Event& event, graph::Graph* g,
                                v1::GraphDelta* delta, std::string* kind) {
  const v1::MapValue* fields = &event.fields();
  v1::MapValue parsed;
  if (event.body_case() != v1::Event::kFields) {
    if (!EventFields(event, &parsed).ok()) {
      ++skipped_;
      return;
    }
    fields = &parsed;
  }
  auto ops = collector::DecodePassthrough(*fields);
  *kind = absl::StrCat(collector::kPassthroughType, " ",
                       FieldString(*fields, "vitrage_datasource_action"));
  if (!ops.ok()) {  // Validate() let it through: cannot happen
    ++skipped_;
    return;
  }
  for (Op& op : *ops) {
    absl::Status s;
    switch (op.kind) {
      case Op::kSetVertex:
        if (in_get_all_) seen_vertices_.insert(op.id);
        if (g->HasVertex(op.id)) {
          s = g->ReplaceVertexProps(op.id, op.props, delta);
        } else {
          s = g->AddVertex(op.id, std::move(op.props), delta);
        }
        break;
      case Op::kRemoveVertex:
        if (g->HasVertex(op.id)) s = g->RemoveVertex(op.id, delta);
        break;
      case Op::kSetEdge: {
        if (in_get_all_) seen_edges_.insert(EdgeKey(op.source, op.target, op.label));
        graph::Slot e = g->FindEdge(op.source, op.target, op.label);
        if (e != graph::kNoSlot) {
          if (g->EdgeProps(e) == op.props) break;
          s = g->RemoveEdge(op.source, op.target, op.label, delta);
          if (!s.ok()) break;
        }
        s = g->AddEdge(op.source, op.target, op.label, std::move(op.props), delta);
        break;
      }
      case Op::kRemoveEdge:
        if (g->FindEdge(op.source, op.target, op.label) != graph::kNoSlot) {
          s = g->RemoveEdge(op.source, op.target, op.label, delta);
        }
        break;
    }
    if (!s.ok()) {
      if (skipped_++ % 1000 == 0) {
        LOG(WARNING) << "pass-through event from " << event.source() << " #"
                     << event.source_seq() << ": skipped an op: " << s.message();
      }
    }
  }
}

void PassthroughHandler::BeginGetAll() {
  in_get_all_ = true;
  seen_vertices_.clear();
  seen_edges_.clear();
}

void PassthroughHandler::EndGetAll(graph::Graph* g, v1::GraphDelta* delta) {
  in_get_all_ = false;
  std::vector<std::string> gone_vertices;
  g->ForEachVertex([&](graph::Slot v) {
    if (!seen_vertices_.contains(g->VertexId(v))) {
      gone_vertices.emplace_back(g->VertexId(v));
    }
  });
  std::vector<std::tuple<std::string, std::string, std::string>> gone_edges;
  g->ForEachEdge([&](graph::Slot e) {
    absl::string_view s = g->VertexId(g->EdgeSource(e));
    absl::string_view t = g->VertexId(g->EdgeTarget(e));
    if (!seen_edges_.contains(EdgeKey(s, t, g->EdgeLabel(e)))) {
      gone_edges.emplace_back(s, t, g->EdgeLabel(e));
    }
  });
  for (const auto& [s, t, l] : gone_edges) (void)g->RemoveEdge(s, t, l, delta);
  for (const auto& id : gone_vertices) (void)g->RemoveVertex(id, delta);
  if (!gone_vertices.empty() || !gone_edges.empty()) {
    LOG(INFO) << "get_all reconcile: removed " << gone_vertices.size()
              << " entities and " << gone_edges.size()
              << " relationships the datasources no longer report";
  }
  seen_vertices_.clear();
  seen_edges_.clear();
}

}  // namespace vitrage::service
