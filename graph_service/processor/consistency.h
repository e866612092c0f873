// Upstream Vitrage's consistency enforcer (vitrage/entity_graph/
// consistency/consistency_enforcer.py), as event generators: the caller
// feeds the returned events to the Processor like any datasource event
// (so they are journaled and replayed like the rest).
//
//  * PeriodicConsistencyEvents (every consistency interval):
//    remove_deleted_entity for deleted vertices whose
//    vitrage_sample_timestamp is older than now - min_time_to_delete (60 s),
//    and delete_entity for live vertices older than now - 2 x
//    snapshots_interval that are placeholders or belong to a datasource
//    whose stale entities are deleted (every datasource but nova.zone).
//  * OutdatedEntityEvents (after a datasource's get_all): delete_entity for
//    that datasource's live vertices (vitrage_datasource_name) whose
//    vitrage_sample_timestamp is older than the get_all's start.
//
// Ages are compared as upstream does: as strings. Cut-offs of the periodic
// pass are str(datetime) ("2024-05-01 10:02:20.500000"); sample dates of
// events are "2024-05-01T10:00:00Z", so on the same day ' ' < 'T' makes
// every event-stamped vertex look newer than the cut-off, and only vertices
// stamped by a deletion ("... 10:01:00.500000+00:00") age out
// (testdata/conformance/README.md, behaviours 3 and 13).
#ifndef VITRAGE_GRAPH_SERVICE_PROCESSOR_CONSISTENCY_H_
#define VITRAGE_GRAPH_SERVICE_PROCESSOR_CONSISTENCY_H_

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "graph_service/graph/graph.h"
#include "graph_service/processor/event.h"

namespace vitrage::processor {

struct ConsistencyOptions {
  // [consistency] min_time_to_delete.
  absl::Duration min_time_to_delete = absl::Seconds(60);
  // [datasources] snapshots_interval; stale = older than twice this.
  absl::Duration snapshots_interval = absl::Seconds(600);
  // Datasources whose stale (non-placeholder) entities are not deleted.
  std::vector<std::string> keep_stale_datasources = {"nova.zone"};
};

// The events of one periodic consistency pass at `now`.
std::vector<Event> PeriodicConsistencyEvents(const graph::Graph& g, absl::Time now,
                                             const ConsistencyOptions& options = {});

// The outdated pass after datasource `datasource`'s get_all that started at
// `get_all_start`; the events are stamped `now`.
std::vector<Event> OutdatedEntityEvents(const graph::Graph& g, absl::string_view datasource,
                                        absl::Time get_all_start, absl::Time now);

// One consistency event for vertex `v` (vitrage_event_type = `action`:
// "delete_entity" or "remove_deleted_entity").
Event ConsistencyEvent(const graph::Graph& g, graph::Slot v, absl::string_view action,
                       absl::Time now);

}  // namespace vitrage::processor

#endif  // VITRAGE_GRAPH_SERVICE_PROCESSOR_CONSISTENCY_H_
