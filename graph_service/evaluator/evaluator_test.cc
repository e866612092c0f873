#include "graph_service/evaluator/evaluator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "graph_service/evaluator/condition.h"
#include "graph_service/evaluator/queries.h"
#include "graph_service/evaluator/template.h"
#include "graph_service/graph/digest.h"
#include "graph_service/processor/passthrough_event.h"
#include "graph_service/processor/processor.h"

namespace vitrage::evaluator {
namespace {

using graph::Properties;
using graph::Value;

const std::string kData = EVALUATOR_TESTDATA;

Properties Props(std::initializer_list<std::pair<const char*, Value>> kv) {
  Properties p;
  for (const auto& [k, v] : kv) p.Set(graph::InternKey(k), v);
  return p;
}
Value S(const char* s) { return Value::String(s); }

// A graph, the real processor and an evaluator; events (datasource and
// evaluator ones alike) go through the processor, as in the service.
class World {
 public:
  explicit World(const std::string& dir, bool evaluate = true) : processor_(&graph_) {
    auto set = LoadTemplateDir(dir);
    EXPECT_TRUE(set.ok()) << set.status();
    EXPECT_TRUE(set->errors.empty()) << set->errors[0];
    evaluator_ = std::make_unique<Evaluator>(std::move(*set));
    evaluate_ = evaluate;
    apply_ = [this](const v1::Event& ev, const std::string& kind, v1::GraphDelta* delta) {
      EXPECT_EQ(ev.source(), kEvaluatorSource);
      kinds.push_back(kind);
      absl::Status s = processor_.Process(processor::EventFromMapValue(ev.fields()), delta);
      if (log != nullptr) log->push_back({*delta, true});
      return s;
    };
  }

  // The journal as vitrage-graph writes it: one record per datasource
  // event, then one per action (by_evaluator).
  struct Record {
    v1::GraphDelta delta;
    bool by_evaluator;
  };
  std::vector<Record>* log = nullptr;

  // A datasource event made of pass-through ops, then evaluation.
  void Push(const std::vector<processor::PassthroughOp>& ops) {
    v1::MapValue fields;
    processor::EncodePassthrough(ops, "update", "2024-01-01T00:00:00Z", &fields);
    v1::GraphDelta delta;
    ASSERT_TRUE(processor_.Process(processor::EventFromMapValue(fields), &delta).ok());
    if (log != nullptr) log->push_back({delta, false});
    if (!evaluate_) return;
    std::vector<std::string> ids;
    evaluator_->CollectRelevant(graph_, delta, &ids);  // as the engine does
    ASSERT_TRUE(evaluator_->Evaluate(graph_, ids, apply_).ok());
  }
  void FullPass() { ASSERT_TRUE(evaluator_->FullPass(graph_, apply_).ok()); }

  static processor::PassthroughOp Vertex(const std::string& id, const char* category,
                                         const char* type, const char* name) {
    processor::PassthroughOp op;
    op.kind = processor::PassthroughOp::kSetVertex;
    op.id = id;
    op.props = Props({{"vitrage_id", Value::String(id)},
                      {"vitrage_category", S(category)},
                      {"vitrage_type", S(type)},
                      {"name", S(name)},
                      {"vitrage_is_deleted", Value::Bool(false)}});
    return op;
  }
  static processor::PassthroughOp Edge(const std::string& s, const std::string& t,
                                       const char* label) {
    processor::PassthroughOp op;
    op.kind = processor::PassthroughOp::kSetEdge;
    op.source = s;
    op.target = t;
    op.label = label;
    op.props = Props({{"relationship_type", S(label)}, {"vitrage_is_deleted", Value::Bool(false)}});
    return op;
  }
  static processor::PassthroughOp RemoveVertex(const std::string& id) {
    processor::PassthroughOp op;
    op.kind = processor::PassthroughOp::kRemoveVertex;
    op.id = id;
    return op;
  }
  static processor::PassthroughOp RemoveEdge(const std::string& s, const std::string& t,
                                             const char* label) {
    processor::PassthroughOp op;
    op.kind = processor::PassthroughOp::kRemoveEdge;
    op.source = s;
    op.target = t;
    op.label = label;
    return op;
  }

  // h1 contains i1, i2; h2 contains i3.
  void Topology() {
    Push({Vertex("h1", "RESOURCE", "nova.host", "host-1"),
          Vertex("h2", "RESOURCE", "nova.host", "host-2"),
          Vertex("i1", "RESOURCE", "nova.instance", "vm-1"),
          Vertex("i2", "RESOURCE", "nova.instance", "vm-2"),
          Vertex("i3", "RESOURCE", "nova.instance", "vm-3"), Edge("h1", "i1", "contains"),
          Edge("h1", "i2", "contains"), Edge("h2", "i3", "contains")});
  }
  void RaiseHostAlarm(const std::string& id, const std::string& host, const char* name) {
    Push({Vertex(id, "ALARM", "zabbix", name), Edge(id, host, "on")});
  }

  const Properties* V(const std::string& id) const {
    graph::Slot s = graph_.FindVertex(id);
    return s == graph::kNoSlot ? nullptr : &graph_.VertexProps(s);
  }
  // The deduced alarm named `name` on `target`, or "".
  std::string DeducedAlarm(const std::string& target, const std::string& name) const {
    for (graph::Slot a : ListAlarms(graph_, kDeducedAlarmType, false)) {
      const Properties& p = graph_.VertexProps(a);
      if (p.GetString(graph::InternKey("vitrage_resource_id")) == target &&
          p.GetString(graph::keys::kName) == name) {
        return std::string(graph_.VertexId(a));
      }
    }
    return "";
  }
  bool HasEdge(const std::string& s, const std::string& t, const char* label) const {
    return graph_.FindEdge(s, t, label) != graph::kNoSlot;
  }
  size_t Refs(const std::string& id) const {
    const Value* v = V(id)->Find(kRefsKey);
    return v == nullptr ? 0 : v->list_items().size();
  }

  graph::Graph graph_;
  processor::Processor processor_;
  std::unique_ptr<Evaluator> evaluator_;
  ApplyFn apply_;
  bool evaluate_ = true;
  std::vector<std::string> kinds;
};

TEST(ConditionTest, NormalFormPushesNotDown) {
  auto d = ParseCondition("a AND (b or NOT c)");
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_EQ(d->size(), 2u);
  EXPECT_EQ((*d)[0][1].id, "b");
  EXPECT_TRUE((*d)[1][1].negated);
  auto n = ParseCondition("NOT (x [on] y or z)");
  ASSERT_TRUE(n.ok());
  ASSERT_EQ(n->size(), 1u);
  EXPECT_EQ((*n)[0][0].label, "on");
  EXPECT_TRUE((*n)[0][0].negated && (*n)[0][1].negated);
  EXPECT_FALSE(ParseCondition("a and (b").ok());
  EXPECT_FALSE(ParseCondition("a or").ok());
  EXPECT_FALSE(ParseCondition("a [on b").ok());
}

TEST(TemplateTest, LoadsV2AndV3) {
  auto set = LoadTemplateDir(kData + "/host_down");
  ASSERT_TRUE(set.ok());
  EXPECT_TRUE(set->errors.empty());
  ASSERT_EQ(set->templates.size(), 2u);
  const Template& v3 = *set->templates[0];
  const Template& v2 = *set->templates[1];
  EXPECT_EQ(v3.version, 3);
  EXPECT_EQ(v2.version, 2);
  EXPECT_EQ(v2.name, "host_down_v2");
  ASSERT_EQ(v2.scenarios.size(), 3u);
  EXPECT_EQ(v2.scenarios[2].clauses[0].positive.size(), 3u);
  EXPECT_EQ(v2.scenarios[1].actions[0].alarm_name, "instance down");
  EXPECT_EQ(v3.scenarios[0].actions[0].source, "cpu_alarm");
  EXPECT_EQ(set->scenario_count(), 4u);
  EXPECT_FALSE(set->Fingerprint().empty());
}

TEST(TemplateTest, InvalidTemplatesAreRejectedWithFileLineAndReasonOthersLoad) {
  auto set = LoadTemplateDir(kData + "/invalid");
  ASSERT_TRUE(set.ok());
  ASSERT_EQ(set->templates.size(), 1u);
  EXPECT_EQ(set->templates[0]->name, "good");
  ASSERT_EQ(set->errors.size(), 6u);
  auto has = [&](const char* file, const char* line, const char* reason) {
    for (const std::string& e : set->errors) {
      if (absl::StrContains(e, absl::StrCat(file, line)) && absl::StrContains(e, reason)) {
        return true;
      }
    }
    ADD_FAILURE() << "no error " << file << line << " ... " << reason << " among:\n"
                  << absl::StrJoin(set->errors, "\n");
    return false;
  };
  has("bad_version.yaml", ":2:", "version \"7\" is not supported");
  has("bad_yaml.yaml", ":5:", "bad YAML");
  has("not_entity.yaml", ":12:", "NOT applies to relationships only");
  has("unbound_target.yaml", ":10:", "\"instance\" is not bound by every clause");
  has("unknown_entity.yaml", ":8:", "entity \"instance\" is not defined");
  has("unsupported_action.yaml", ":10:", "action type \"execute_mistral\" is not supported");
}

TEST(EvaluatorTest, HostDownRaisesDeducedAlarmsSetsStateMarksDownAndAddsCausalEdges) {
  World w(kData + "/host_down");
  w.Topology();
  EXPECT_TRUE(w.kinds.empty());
  w.RaiseHostAlarm("a1", "h1", "host down");
  // set_state + mark_down on the host.
  EXPECT_EQ(w.V("h1")->GetString(graph::InternKey("vitrage_state")), "ERROR");
  EXPECT_TRUE(w.V("h1")->GetBool(graph::InternKey("is_marked_down")));
  // raise_alarm + set_state on each instance of h1, not on h2's.
  for (const char* i : {"i1", "i2"}) {
    std::string alarm = w.DeducedAlarm(i, "instance down");
    ASSERT_FALSE(alarm.empty()) << i;
    EXPECT_TRUE(w.HasEdge(alarm, i, "on"));
    EXPECT_EQ(w.V(alarm)->GetString(graph::keys::kVitrageCategory), "ALARM");
    EXPECT_EQ(w.V(alarm)->GetString(graph::keys::kSeverity), "critical");
    EXPECT_EQ(w.V(i)->GetString(graph::InternKey("vitrage_state")), "SUBOPTIMAL");
    // add_causal_relationship (the cascaded third scenario).
    EXPECT_TRUE(w.HasEdge("a1", alarm, kCausesLabel));
    graph::Subgraph rca;
    ASSERT_TRUE(Rca(w.graph_, alarm, &rca).ok());
    EXPECT_EQ(rca.vertices.size(), 3u);  // a1 and both deduced alarms
    EXPECT_EQ(rca.edges.size(), 2u);
  }
  EXPECT_TRUE(w.DeducedAlarm("i3", "instance down").empty());
  EXPECT_EQ(w.V("i3")->Find("vitrage_state"), nullptr);
  EXPECT_EQ(ListAlarms(w.graph_, "", false).size(), 3u);
  // 2 host actions, 2 x (raise + set_state), 2 causal edges.
  EXPECT_EQ(w.evaluator_->stats().actions_done, 8u);

  // Clearing the host alarm undoes everything.
  w.Push({World::RemoveVertex("a1")});
  EXPECT_EQ(w.V("h1")->Find("vitrage_state"), nullptr);
  EXPECT_FALSE(w.V("h1")->GetBool(graph::InternKey("is_marked_down")));
  EXPECT_EQ(w.V("h1")->Find(kMarkDownKey), nullptr);
  for (const char* i : {"i1", "i2"}) {
    EXPECT_TRUE(w.DeducedAlarm(i, "instance down").empty());
    EXPECT_EQ(w.V(i)->Find("vitrage_state"), nullptr);
    EXPECT_EQ(w.V(i)->Find(kStatesKey), nullptr);
  }
  EXPECT_TRUE(ListAlarms(w.graph_, "", false).empty());
  EXPECT_EQ(w.evaluator_->active_matches(), 0u);
}

TEST(EvaluatorTest, TwoScenariosRaisingTheSameAlarmKeepItUntilBothClear) {
  World w(kData + "/host_down");
  w.Topology();
  w.RaiseHostAlarm("cpu", "h2", "cpu load high");
  std::string alarm = w.DeducedAlarm("i3", "instance down");
  ASSERT_FALSE(alarm.empty());
  EXPECT_TRUE(w.HasEdge("cpu", alarm, kCausesLabel));  // v3 causing_alarm
  EXPECT_EQ(w.Refs(alarm), 1u);
  w.RaiseHostAlarm("down", "h2", "host down");
  EXPECT_EQ(w.DeducedAlarm("i3", "instance down"), alarm);  // the same vertex
  EXPECT_EQ(w.Refs(alarm), 2u);
  w.Push({World::RemoveVertex("cpu")});
  ASSERT_EQ(w.DeducedAlarm("i3", "instance down"), alarm);
  EXPECT_EQ(w.Refs(alarm), 1u);
  EXPECT_TRUE(w.HasEdge("down", alarm, kCausesLabel));
  w.Push({World::RemoveVertex("down")});
  EXPECT_TRUE(w.DeducedAlarm("i3", "instance down").empty());
}

TEST(EvaluatorTest, NegatedRelationshipFollowsTheAlarmAndItsProperties) {
  World w(kData + "/not");
  w.Topology();
  EXPECT_FALSE(w.DeducedAlarm("i1", "host reachable").empty());
  EXPECT_FALSE(w.DeducedAlarm("i3", "host reachable").empty());
  w.Push({World::Vertex("s1", "ALARM", "zabbix", "ssh down"), World::Edge("s1", "h1", "on")});
  EXPECT_TRUE(w.DeducedAlarm("i1", "host reachable").empty());
  EXPECT_TRUE(w.DeducedAlarm("i2", "host reachable").empty());
  EXPECT_FALSE(w.DeducedAlarm("i3", "host reachable").empty());
  // The alarm changes name: it no longer matches the negated entity.
  w.Push({World::Vertex("s1", "ALARM", "zabbix", "ssh flapping")});
  EXPECT_FALSE(w.DeducedAlarm("i1", "host reachable").empty());
  w.Push({World::Vertex("s1", "ALARM", "zabbix", "ssh down")});
  EXPECT_TRUE(w.DeducedAlarm("i1", "host reachable").empty());
}

TEST(EvaluatorTest, FullPassOnARestoredGraphRepeatsNothingAndEqualsFreshStart) {
  World live(kData + "/host_down");
  live.Topology();
  live.RaiseHostAlarm("a1", "h1", "host down");
  live.RaiseHostAlarm("cpu", "h2", "cpu load 99%");
  ASSERT_GT(live.evaluator_->stats().actions_done, 0u);

  // A restored copy: the evaluator starts with an empty index.
  World restored(kData + "/host_down");
  restored.graph_ = live.graph_;
  restored.FullPass();
  EXPECT_EQ(restored.evaluator_->stats().actions_done, 0u);
  EXPECT_EQ(restored.evaluator_->stats().actions_undone, 0u);
  EXPECT_TRUE(restored.kinds.empty());
  EXPECT_EQ(graph::Digest(restored.graph_), graph::Digest(live.graph_));
  // ... and carries on incrementally from there.
  restored.Push({World::RemoveVertex("a1")});
  EXPECT_TRUE(restored.DeducedAlarm("i1", "instance down").empty());

  // Fresh start: the same events without evaluation, then one full pass.
  World fresh(kData + "/host_down", /*evaluate=*/false);
  fresh.Topology();
  fresh.RaiseHostAlarm("a1", "h1", "host down");
  fresh.RaiseHostAlarm("cpu", "h2", "cpu load 99%");
  fresh.FullPass();
  EXPECT_EQ(graph::Digest(fresh.graph_), graph::Digest(live.graph_));
}

// After Recover the index is empty and fills lazily: matches made before
// the recovery are still undone when a change breaks them, whatever
// breaks them (an edge removed, a vertex removed, an alarm cleared), and
// the graph stays the one an evaluator that never restarted keeps.
TEST(EvaluatorTest, AfterRecoverTheLazyIndexUndoesMatchesMadeBeforeIt) {
  World live(kData + "/host_down");
  live.Topology();
  live.Push({World::Vertex("i4", "RESOURCE", "nova.instance", "vm-4"),
             World::Edge("h1", "i4", "contains")});
  live.RaiseHostAlarm("a1", "h1", "host down");
  live.RaiseHostAlarm("cpu", "h1", "cpu load 99%");
  ASSERT_FALSE(live.DeducedAlarm("i1", "instance down").empty());
  ASSERT_EQ(live.Refs(live.DeducedAlarm("i1", "instance down")), 2u);

  World restored(kData + "/host_down");
  restored.graph_ = live.graph_;
  ASSERT_TRUE(restored.evaluator_->Recover(restored.graph_, {}, restored.apply_).ok());
  EXPECT_EQ(restored.evaluator_->active_matches(), 0u);  // nothing built up front
  EXPECT_EQ(restored.evaluator_->covered_vertices(), 0);

  auto both = [&](const std::vector<processor::PassthroughOp>& ops) {
    live.Push(ops);
    restored.Push(ops);
    EXPECT_EQ(graph::Digest(restored.graph_), graph::Digest(live.graph_));
  };
  // i1 moves to h2 (no alarm there): its deduced alarm and state go; the
  // edge is evaluated from both ends while they are not covered.
  both({World::RemoveEdge("h1", "i1", "contains"), World::Edge("h2", "i1", "contains")});
  EXPECT_TRUE(restored.DeducedAlarm("i1", "instance down").empty());
  EXPECT_EQ(restored.V("i1")->Find(kStatesKey), nullptr);
  // i2 is deleted: its deduced alarm goes with the match.
  both({World::RemoveVertex("i2")});
  EXPECT_TRUE(restored.DeducedAlarm("i2", "instance down").empty());
  // One of the two alarms clears: i4's deduced alarm stays (reference
  // counted), with one token and one causal edge less.
  both({World::RemoveVertex("cpu")});
  std::string i4_alarm = restored.DeducedAlarm("i4", "instance down");
  ASSERT_FALSE(i4_alarm.empty());
  EXPECT_EQ(restored.Refs(i4_alarm), 1u);
  // The other clears: everything the templates did is undone.
  both({World::RemoveVertex("a1")});
  EXPECT_TRUE(ListAlarms(restored.graph_, kDeducedAlarmType, false).empty());
  EXPECT_EQ(restored.V("h1")->Find("vitrage_state"), nullptr);
  EXPECT_EQ(restored.V("h1")->Find(kMarkDownKey), nullptr);
  EXPECT_EQ(restored.evaluator_->active_matches(), 0u);
  EXPECT_GT(restored.evaluator_->stats().discoveries, 0u);
  EXPECT_GT(restored.evaluator_->stats().actions_undone, 0u);
}

// A crash after the record of an event but before all of its actions'
// records: the replay notes (ReplayNotes) hold that event and the actions
// that made it, and the recovery pass does exactly the missing ones; with
// the whole log replayed it does nothing.
TEST(EvaluatorTest, RecoveryPassCompletesTheLastEventsActionsExactlyOnce) {
  World live(kData + "/host_down");
  live.Topology();
  live.RaiseHostAlarm("cpu", "h2", "cpu load 99%");
  const graph::Graph snapshot = live.graph_;
  std::vector<World::Record> log;
  live.log = &log;
  live.Push({World::Vertex("i4", "RESOURCE", "nova.instance", "vm-4"),
             World::Edge("h2", "i4", "contains")});  // cpu alarm: raise on i4
  live.RaiseHostAlarm("a1", "h1", "host down");      // 8 actions
  live.log = nullptr;
  size_t last = log.size();
  while (last > 0 && log[last - 1].by_evaluator) --last;
  const size_t actions = log.size() - last;  // of the last event
  ASSERT_EQ(actions, 8u);

  for (size_t kept : {size_t{0}, size_t{3}, actions}) {
    SCOPED_TRACE(absl::StrCat(kept, " of the last event's action records made it"));
    World r(kData + "/host_down");
    r.graph_ = snapshot;
    Evaluator::ReplayNotes replay;
    for (size_t i = 0; i < last + kept; ++i) {
      ASSERT_TRUE(r.graph_.ApplyDelta(log[i].delta).ok());
      replay.Note(log[i].delta, log[i].by_evaluator, i + 1);
    }
    EXPECT_EQ(replay.seq(), last + kept);
    std::vector<std::string> notes = replay.ids();
    // The notes: the last event (a1 on h1) and its kept actions' records,
    // nothing of the event before it (i4 on h2, whose actions made it).
    EXPECT_THAT(notes, ::testing::Contains("a1"));
    EXPECT_THAT(notes, ::testing::Contains("h1"));
    EXPECT_THAT(notes, ::testing::Not(::testing::Contains("i4")));
    EXPECT_THAT(notes, ::testing::Not(::testing::Contains("h2")));
    ASSERT_TRUE(r.evaluator_->Recover(r.graph_, notes, r.apply_).ok());
    EXPECT_EQ(r.evaluator_->stats().actions_done + r.evaluator_->stats().actions_undone,
              actions - kept);
    EXPECT_EQ(graph::Digest(r.graph_), graph::Digest(live.graph_));
    // ... and the recovered evaluator carries on.
    live.log = nullptr;
    r.Push({World::RemoveVertex("a1")});
    EXPECT_EQ(r.V("h1")->Find("vitrage_state"), nullptr);
    EXPECT_TRUE(r.DeducedAlarm("i1", "instance down").empty());
    EXPECT_FALSE(r.DeducedAlarm("i4", "instance down").empty());  // the cpu alarm's
  }
}

TEST(EvaluatorTest, RecoverRedoesOnlyWhatTheCrashLost) {
  World live(kData + "/host_down");
  live.Topology();
  live.RaiseHostAlarm("a1", "h1", "host down");

  // Restored with every action record: nothing to do, and the lazy index
  // finds the matches, so clearing the alarm later undoes everything.
  World restored(kData + "/host_down");
  restored.graph_ = live.graph_;
  ASSERT_TRUE(restored.evaluator_->Recover(restored.graph_, {"h1", "a1"}, restored.apply_).ok());
  EXPECT_EQ(restored.evaluator_->stats().actions_done, 0u);
  EXPECT_GT(restored.evaluator_->active_matches(), 0u);  // found around h1 and a1
  restored.Push({World::RemoveVertex("a1")});
  EXPECT_TRUE(restored.DeducedAlarm("i1", "instance down").empty());
  EXPECT_EQ(restored.V("h1")->Find("vitrage_state"), nullptr);
  EXPECT_TRUE(ListAlarms(restored.graph_, kDeducedAlarmType, false).empty());

  // The crash lost the action records after the alarm's record: recovery
  // evaluates around what the replayed tail touched and does them.
  World lost(kData + "/host_down", /*evaluate=*/false);
  lost.Topology();
  lost.RaiseHostAlarm("a1", "h1", "host down");
  ASSERT_TRUE(lost.evaluator_->Recover(lost.graph_, {"a1", "h1"}, lost.apply_).ok());
  EXPECT_EQ(graph::Digest(lost.graph_), graph::Digest(live.graph_));
}

TEST(EvaluatorTest, FullPassUndoesWhatRemovedTemplatesDid) {
  World live(kData + "/host_down");
  live.Topology();
  std::string before = graph::Digest(live.graph_);
  live.RaiseHostAlarm("a1", "h1", "host down");
  World no_templates(kData + "/not");  // other templates: host_down's are gone
  no_templates.graph_ = live.graph_;
  no_templates.FullPass();
  EXPECT_GT(no_templates.evaluator_->stats().actions_undone, 0u);
  EXPECT_TRUE(no_templates.DeducedAlarm("i1", "instance down").empty());
  EXPECT_EQ(no_templates.V("h1")->Find("vitrage_state"), nullptr);
  EXPECT_FALSE(no_templates.V("h1")->GetBool(graph::InternKey("is_marked_down")));
  // Its own scenario applies instead (no ssh alarm anywhere).
  EXPECT_FALSE(no_templates.DeducedAlarm("i1", "host reachable").empty());
  (void)before;
}

}  // namespace
}  // namespace vitrage::evaluator
