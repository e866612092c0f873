#include "graph_service/service/processor_handler.h"

#include <glog/logging.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "graph_service/processor/consistency.h"
#include "graph_service/processor/passthrough_event.h"

namespace vitrage::service {
namespace {

std::string EdgeKey(absl::string_view s, absl::string_view t, absl::string_view l) {
  return absl::StrCat(s.size(), ":", s, t.size(), ":", t, l);
}

}  // namespace

ProcessorHandler::ProcessorHandler(graph::Graph* graph, processor::ProcessorOptions options,
                                   processor::ConsistencyOptions consistency)
    : registry_(options.transformers),
      processor_(graph, std::move(options)),
      consistency_(std::move(consistency)),
      lookahead_(graph) {}

absl::StatusOr<processor::Event> ProcessorHandler::Convert(const v1::Event& event) const {
  switch (event.body_case()) {
    case v1::Event::kFields:
      return processor::EventFromMapValue(event.fields());
    case v1::Event::kJson:
      return processor::EventFromJsonText(event.json());
    default:
      return absl::InvalidArgumentError("event has no body (fields or json)");
  }
}

absl::Status ProcessorHandler::Validate(const v1::Event& event) {
  absl::string_view type, action;
  nlohmann::json parsed;
  if (event.body_case() == v1::Event::kFields) {
    // The common case: read the two fields without converting the event.
    for (const auto& e : event.fields().entries()) {
      if (e.value().kind_case() != v1::Value::kStringValue) continue;
      if (e.key() == "vitrage_entity_type") type = e.value().string_value();
      if (e.key() == "vitrage_datasource_action") action = e.value().string_value();
    }
  } else if (event.body_case() == v1::Event::kJson) {
    // Parsed, not converted: validation interns no key (a refused request
    // must not grow the process's key table, graph/key_budget.h).
    absl::StatusOr<nlohmann::json> j = processor::ParseEventJson(event.json());
    if (!j.ok()) return j.status();
    parsed = std::move(*j);
    auto str = [&](const char* key) -> absl::string_view {
      auto it = parsed.find(key);
      if (it == parsed.end() || !it->is_string()) return {};
      return it->get_ref<const std::string&>();
    };
    type = str("vitrage_entity_type");
    action = str("vitrage_datasource_action");
  } else {
    return absl::InvalidArgumentError("event has no body (fields or json)");
  }
  if (type.empty()) return absl::InvalidArgumentError("vitrage_entity_type is missing");
  if (!registry_.Has(type)) {
    return absl::InvalidArgumentError(
        absl::StrCat("vitrage_entity_type \"", type, "\" has no transformer"));
  }
  if (action != "init_snapshot" && action != "snapshot" && action != "update") {
    return absl::InvalidArgumentError(
        absl::StrCat("vitrage_datasource_action \"", action,
                     "\" is not one of init_snapshot, snapshot, update"));
  }
  if (type == processor::kPassthroughEntityType && event.body_case() == v1::Event::kFields) {
    return processor::ValidatePassthrough(event.fields());
  }
  return absl::OkStatus();
}

void ProcessorHandler::Lookahead(const google::protobuf::RepeatedPtrField<v1::Event>& events,
                                 int i) {
  lookahead_.Before(i, events.size(), [&](int j) -> const std::string* {
    const v1::Event& ev = events.Get(j);
    return ev.body_case() == v1::Event::kFields ? processor_.Prefetch(ev.fields()) : nullptr;
  });
}

void ProcessorHandler::NoteGetAll(const v1::Event& event) {
  if (event.body_case() != v1::Event::kFields) {
    get_all_passthrough_only_ = false;  // json get_all events: no reconcile
    return;
  }
  // Only the element keys are needed: read them without converting the
  // properties (Validate-grade shape checks happen in Handle's processing).
  auto str = [](const v1::MapValue& m, absl::string_view key) -> absl::string_view {
    for (const auto& e : m.entries()) {
      if (e.key() == key && e.value().kind_case() == v1::Value::kStringValue) {
        return e.value().string_value();
      }
    }
    return {};
  };
  for (const auto& f : event.fields().entries()) {
    if (f.key() != "ops" || f.value().kind_case() != v1::Value::kListValue) continue;
    for (const v1::Value& v : f.value().list_value().values()) {
      if (v.kind_case() != v1::Value::kMapValue) continue;
      const v1::MapValue& m = v.map_value();
      absl::string_view op = str(m, "op");
      if (op == "set_vertex") {
        seen_vertices_.insert(std::string(str(m, "id")));
      } else if (op == "set_edge") {
        seen_edges_.insert(EdgeKey(str(m, "source"), str(m, "target"), str(m, "label")));
      }
    }
  }
}

void ProcessorHandler::Handle(const v1::Event& event, graph::Graph* g, v1::GraphDelta* delta,
                              std::string* kind) {
  (void)g;  // the processor is bound to the same graph
  // A proto body keeps a pass-through event's ops unconverted (the
  // processor converts only what changes the graph).
  const bool proto_body = event.body_case() == v1::Event::kFields;
  processor::ProtoEvent proto_ev;
  absl::StatusOr<processor::Event> converted;
  const processor::Event* ev = &proto_ev.event;
  if (proto_body) {
    proto_ev = processor::ProtoEventFromMapValue(event.fields());
  } else {
    converted = Convert(event);
    if (!converted.ok()) {
      ++skipped_;
      return;
    }
    ev = &*converted;
  }
  absl::string_view type = ev->GetString(processor::ekeys::kEntityType);
  *kind = absl::StrCat(type, " ", ev->GetString(processor::ekeys::kDatasourceAction));
  if (in_get_all_) {
    if (type == processor::kPassthroughEntityType) {
      NoteGetAll(event);
    } else {
      get_all_passthrough_only_ = false;
      absl::string_view ds = ev->GetString(processor::ekeys::kDatasourceName);
      if (!ds.empty()) get_all_datasources_.insert(std::string(ds));
    }
  }
  absl::Status s =
      proto_body ? processor_.Process(proto_ev, delta) : processor_.Process(*ev, delta);
  if (!s.ok()) {
    if (skipped_++ % 1000 == 0) {
      LOG(WARNING) << "event from \"" << event.source() << "\" #" << event.source_seq() << " ("
                   << *kind << ") not applied: " << s.message() << " (" << skipped_ << " so far)";
    }
  }
}

void ProcessorHandler::BeginGetAll() {
  in_get_all_ = true;
  get_all_start_ = absl::Now();
  get_all_datasources_.clear();
  get_all_passthrough_only_ = true;
  seen_vertices_.clear();
  seen_edges_.clear();
}

void ProcessorHandler::CancelGetAll() {
  in_get_all_ = false;
  get_all_datasources_.clear();
  seen_vertices_.clear();
  seen_edges_.clear();
}

void ProcessorHandler::EndGetAll(graph::Graph* g, v1::GraphDelta* delta) {
  in_get_all_ = false;
  if (!get_all_passthrough_only_) {
    seen_vertices_.clear();
    seen_edges_.clear();
    // Vitrage's outdated pass for every datasource the get_all reported.
    size_t deleted = 0;
    for (const std::string& ds : get_all_datasources_) {
      for (const processor::Event& ev :
           processor::OutdatedEntityEvents(*g, ds, get_all_start_, absl::Now())) {
        if (processor_.Process(ev, delta).ok()) ++deleted;
      }
    }
    if (deleted > 0) {
      LOG(INFO) << "get_all: deleted " << deleted << " entities their datasources no longer report";
    }
    return;
  }
  std::vector<std::tuple<std::string, std::string, std::string>> gone_edges;
  g->ForEachEdge([&](graph::Slot e) {
    absl::string_view s = g->VertexId(g->EdgeSource(e));
    absl::string_view t = g->VertexId(g->EdgeTarget(e));
    if (!seen_edges_.contains(EdgeKey(s, t, g->EdgeLabel(e)))) {
      gone_edges.emplace_back(s, t, g->EdgeLabel(e));
    }
  });
  std::vector<std::string> gone_vertices;
  g->ForEachVertex([&](graph::Slot v) {
    if (!seen_vertices_.contains(g->VertexId(v))) gone_vertices.emplace_back(g->VertexId(v));
  });
  for (const auto& [s, t, l] : gone_edges) (void)g->RemoveEdge(s, t, l, delta);
  for (const auto& id : gone_vertices) (void)g->RemoveVertex(id, delta);
  if (!gone_vertices.empty() || !gone_edges.empty()) {
    LOG(INFO) << "get_all reconcile: removed " << gone_vertices.size() << " entities and "
              << gone_edges.size() << " relationships the collector no longer reports";
  }
  seen_vertices_.clear();
  seen_edges_.clear();
}

}  // namespace vitrage::service

namespace vitrage::service {

void ProcessorHandler::Periodic(graph::Graph* g, absl::Time now,
                                std::vector<v1::GraphDelta>* deltas) {
  std::vector<processor::Event> events =
      processor::PeriodicConsistencyEvents(*g, now, consistency_);
  for (const processor::Event& ev : events) {
    v1::GraphDelta delta;
    absl::Status s = processor_.Process(ev, &delta);
    if (!s.ok()) {
      LOG(WARNING) << "consistency event not applied: " << s.message();
      continue;
    }
    if (delta.changes_size() > 0) deltas->push_back(std::move(delta));
  }
  if (!deltas->empty()) {
    LOG(INFO) << "consistency: " << deltas->size() << " entities removed or deleted";
  }
}

}  // namespace vitrage::service
