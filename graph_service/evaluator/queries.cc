#include "graph_service/evaluator/queries.h"

#include <algorithm>
#include <deque>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "graph_service/evaluator/evaluator.h"

namespace vitrage::evaluator {

using graph::Slot;

std::vector<Slot> ListAlarms(const graph::Graph& g, const std::string& vitrage_type,
                             bool include_deleted) {
  std::vector<Slot> out;
  g.ForEachVertex([&](Slot v) {
    const graph::Properties& p = g.VertexProps(v);
    if (p.GetString(graph::keys::kVitrageCategory) != "ALARM") return;
    if (!include_deleted && p.GetBool(graph::keys::kVitrageIsDeleted)) return;
    if (!vitrage_type.empty() && p.GetString(graph::keys::kVitrageType) != vitrage_type) return;
    out.push_back(v);
  });
  std::sort(out.begin(), out.end(), [&](Slot a, Slot b) { return g.VertexId(a) < g.VertexId(b); });
  return out;
}

absl::Status Rca(const graph::Graph& g, const std::string& alarm_id, graph::Subgraph* out) {
  Slot root = g.FindVertex(alarm_id);
  if (root == graph::kNoSlot)
    return absl::NotFoundError(absl::StrCat("no vertex \"", alarm_id, "\""));
  if (g.VertexProps(root).GetString(graph::keys::kVitrageCategory) != "ALARM") {
    return absl::InvalidArgumentError(absl::StrCat("vertex \"", alarm_id, "\" is not an alarm"));
  }
  const graph::KeyId causes = graph::InternKey(kCausesLabel);
  absl::flat_hash_set<Slot> seen{root};
  absl::flat_hash_set<Slot> edges;
  std::deque<Slot> todo{root};
  while (!todo.empty()) {
    Slot v = todo.front();
    todo.pop_front();
    out->vertices.push_back(v);
    auto visit = [&](Slot e, Slot w) {
      if (g.EdgeLabelId(e) != causes) return;
      if (g.EdgeProps(e).GetBool(graph::keys::kVitrageIsDeleted)) return;
      if (g.VertexProps(w).GetBool(graph::keys::kVitrageIsDeleted)) return;
      edges.insert(e);
      if (seen.insert(w).second) todo.push_back(w);
    };
    for (Slot e : g.OutEdges(v)) visit(e, g.EdgeTarget(e));
    for (Slot e : g.InEdges(v)) visit(e, g.EdgeSource(e));
  }
  out->edges.assign(edges.begin(), edges.end());
  std::sort(out->edges.begin(), out->edges.end());
  return absl::OkStatus();
}

}  // namespace vitrage::evaluator
