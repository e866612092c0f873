// Transformers of upstream Vitrage's OpenStack datasources (nova.zone,
// nova.host, nova.instance, cinder.volume, neutron.network, neutron.port)
// and of its consistency events, following vitrage/datasources/*/
// transformer.py and vitrage/entity_graph/consistency/ of Vitrage 9.0.0
// (behaviour: testdata/conformance/README.md; field lists:
// testdata/conformance/event_fields.md; notes: docs/transformers.md).
//
// Resource vertices are built as upstream's graph_utils.create_vertex does:
// id, vitrage_category, vitrage_type, vitrage_sample_timestamp (the event's
// vitrage_sample_date), vitrage_is_deleted / vitrage_is_placeholder false,
// update_timestamp, state, project_id and the datasource's metadata, with
// every absent (None) member left out.
#ifndef VITRAGE_GRAPH_SERVICE_PROCESSOR_OPENSTACK_TRANSFORMERS_H_
#define VITRAGE_GRAPH_SERVICE_PROCESSOR_OPENSTACK_TRANSFORMERS_H_

#include "graph_service/processor/transformer.h"

namespace vitrage::processor {

// nova.zone: zoneName, zoneState.available -> state; neighbours: the
// OpenStack cluster (contains the zone) and every host of `hosts`
// (contained, not placeholders, state available iff nova-compute is
// available and active; any non-empty string is true).
class NovaZoneTransformer : public Transformer {
 public:
  absl::Status Transform(const Event& event, Entity* out) const override;
};

// nova.host: host -> id and name, no state; neighbour: zone (contains).
class NovaHostTransformer : public Transformer {
 public:
  absl::Status Transform(const Event& event, Entity* out) const override;
};

// nova.instance: API snapshots and versioned notifications
// (nova_object.data); instance.delete.end -> delete_entity; neighbour: the
// host (contains the instance).
class NovaInstanceTransformer : public Transformer {
 public:
  absl::Status Transform(const Event& event, Entity* out) const override;
};

// cinder.volume: snapshots and notifications; attach.end ->
// update_relationship, detach.start -> delete_relationship, delete.end ->
// delete_entity; neighbours: attached instances (volume attached instance).
class CinderVolumeTransformer : public Transformer {
 public:
  absl::Status Transform(const Event& event, Entity* out) const override;
};

// neutron.network: snapshots and notifications (network.*); delete.end
// (network_id) -> delete_entity.
class NeutronNetworkTransformer : public Transformer {
 public:
  absl::Status Transform(const Event& event, Entity* out) const override;
};

// neutron.port: snapshots and notifications (port.*); neighbours: network
// (contains the port), device instance (port attached instance).
class NeutronPortTransformer : public Transformer {
 public:
  absl::Status Transform(const Event& event, Entity* out) const override;
};

// zabbix: alarm vertices (category ALARM, no `id`; natural key
// <resource_name>:<triggerid>): name = description with the zabbix host
// name replaced by the resource name, severity from priority, state
// Active / Inactive, update_timestamp from lastchange; value "0" (OK) ->
// delete_entity; neighbour: the resource (alarm on resource).
class ZabbixTransformer : public Transformer {
 public:
  absl::Status Transform(const Event& event, Entity* out) const override;
};

// consistency: vitrage_event_type delete_entity / remove_deleted_entity of
// the vertex named by vitrage_id (Entity::by_vitrage_id).
class ConsistencyTransformer : public Transformer {
 public:
  absl::Status Transform(const Event& event, Entity* out) const override;
};

}  // namespace vitrage::processor

#endif  // VITRAGE_GRAPH_SERVICE_PROCESSOR_OPENSTACK_TRANSFORMERS_H_
