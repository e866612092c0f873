"""Upstream Vitrage 9.0.0's real Processor, driven as its unit tests drive it.

The oracle of the differential harness (README.md here). It builds
``vitrage.entity_graph.processor.processor.Processor`` on an ``NXGraph``
with the datasources' real transformers (registered through oslo.config as
``vitrage/tests/unit/entity_graph/base.py`` does), and injects ids and the
clock as testdata/conformance/README.md says:

* the n-th uuid minted is ``00000000-0000-4000-8000-<n as 12 hex digits>``
  (``uuidutils.generate_uuid`` as ``transformer_base`` calls it); each
  mint is logged with the natural key it was minted for;
* "now" is the event's ``vitrage_sample_date`` + 0.5 s
  (``oslo_utils.timeutils`` time override, the hook upstream's tests use).

Only the standard library and the Debian package python3-vitrage.
"""
import copy
import datetime
import json
import logging
import os
import sys

os.environ.setdefault("TZ", "UTC")

from oslo_config import cfg  # noqa: E402
from oslo_utils import timeutils  # noqa: E402

from vitrage.datasources import transformer_base  # noqa: E402
from vitrage.entity_graph import driver_exec  # noqa: E402
from vitrage.entity_graph.consistency import consistency_enforcer  # noqa: E402
from vitrage.entity_graph.processor import processor as proc  # noqa: E402
from vitrage.graph.driver.networkx_graph import NXGraph  # noqa: E402
from vitrage.opts import register_opts  # noqa: E402

CONF = cfg.CONF
TYPES = ["nova.host", "nova.instance", "nova.zone", "neutron.network",
         "neutron.port", "cinder.volume", "static", "zabbix"]
_configured = []


def configure(values_dir):
    if _configured:
        return
    # Upstream logs every dropped event as a warning: quiet (and faster).
    logging.disable(logging.CRITICAL)
    CONF([], project="vitrage", default_config_files=[])
    CONF.register_opts([
        cfg.ListOpt("types", default=TYPES),
        cfg.ListOpt("path", default=["vitrage.datasources"]),
        cfg.IntOpt("snapshots_interval", default=600),
    ], group="datasources")
    CONF.register_opts([cfg.StrOpt("datasources_values_dir",
                                   default=values_dir)],
                       group="entity_graph")
    import vitrage.entity_graph.consistency as consistency
    CONF.register_opts(list(consistency.OPTS), group="consistency")
    import vitrage.os_clients as os_clients
    CONF.register_opts(list(os_clients.OPTS))
    for t in TYPES:
        register_opts(t, CONF.datasources.path)
    _configured.append(True)


def parse_sample_date(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc)


_current = [None]  # the run the hooks report to
_installed = []
_original_update_relationship = proc.Processor.update_relationship


def _install_hooks():
    """Ids: the corpus's counter, each mint logged with its key."""
    base = transformer_base.TransformerBase
    original = base.__dict__["uuid_from_deprecated_vitrage_id"].__func__

    def uuid_from_key(cls, vitrage_id):
        run = _current[0]
        run._pending_key = vitrage_id
        try:
            return original(cls, vitrage_id)
        finally:
            run._pending_key = None

    def generate_uuid(dashed=True):
        run = _current[0]
        uid = "00000000-0000-4000-8000-%012x" % (len(run.mints) + 1)
        run.mints.append((uid, run._pending_key))
        return uid

    base.uuid_from_deprecated_vitrage_id = classmethod(uuid_from_key)
    transformer_base.uuidutils.generate_uuid = generate_uuid


def _install_deviations():
    """docs/transformers.md, "Deliberate differences from upstream".

    1. A dropped stale delete keeps the entity's id: upstream's transform
       forgets it before the processor drops the event.
    2. update_relationship adds a proper placeholder for an unknown
       neighbour (upstream: a vertex without properties).
    3. A port's device is an instance neighbour only when device_id is set
       and device_owner is compute:* (or absent); upstream makes every
       port's device_id (a router's, a DHCP agent's, "") a nova.instance.
    """
    base = transformer_base.TransformerBase
    forget = base.__dict__["_delete_id_from_cache"].__func__

    def delete_id_from_cache(cls, vitrage_id):
        run = _current[0]
        if run.deviations and run._event is not None:
            v = run.graph.get_vertex(vitrage_id)
            if v is not None and not v.get("vitrage_is_deleted", False):
                prev = v.get("vitrage_sample_timestamp")
                new = run._event.get("vitrage_sample_date")
                if prev and new and not prev <= new:
                    run.deviation_hits["stale_delete_keeps_id"] += 1
                    return
        forget(cls, vitrage_id)

    base._delete_id_from_cache = classmethod(delete_id_from_cache)

    from vitrage.datasources.neutron.port import transformer as port_t
    port_neighbors = port_t.PortTransformer._create_port_neighbors

    def create_port_neighbors(self, entity_event, device_id_property,
                              network_id_property):
        neighbors = port_neighbors(self, entity_event, device_id_property,
                                   network_id_property)
        run = _current[0]
        if not run.deviations:
            return neighbors
        body = entity_event.get("port", entity_event)
        device = body.get("device_id")
        owner = body.get("device_owner") or ""
        if not device or not (owner == "" or owner.startswith("compute:")):
            run.deviation_hits["port_device_not_an_instance"] += 1
            # (the instance id was minted all the same: keep the count)
            return [n for n in neighbors
                    if n.vertex.get("vitrage_type") != "nova.instance"]
        return neighbors

    port_t.PortTransformer._create_port_neighbors = create_port_neighbors


def _update_relationship_with_placeholders(self, vertex, neighbors):
    run = _current[0]
    if run.deviations:
        for n in neighbors or []:
            if run.graph.get_vertex(n.vertex.vertex_id) is None:
                run.deviation_hits["update_relationship_placeholder"] += 1
                self._calculate_vitrage_aggregated_values(n.vertex,
                                                          "create_entity")
                run.graph.add_vertex(n.vertex)
    return _original_update_relationship(self, vertex, neighbors)


class Upstream(object):
    """One run: a fresh graph, id cache, id counter and mint log."""

    def __init__(self, values_dir, deviations=True):
        """`deviations`: model docs/transformers.md's deliberate deviations
        (_install_deviations); False runs upstream exactly."""
        configure(values_dir)
        CONF.set_override("use_nova_versioned_notifications", True)
        transformer_base.TransformerBase.key_to_uuid_cache.clear()
        self.graph = NXGraph("Entity Graph")
        self.processor = proc.Processor(e_graph=self.graph)
        self.mints = []  # (uuid, natural key), in mint order
        self.errors = 0
        self.deviations = deviations
        self.deviation_hits = {"stale_delete_keeps_id": 0,
                               "update_relationship_placeholder": 0,
                               "port_device_not_an_instance": 0}
        self._event = None
        self._pending_key = None
        _current[0] = self
        if not _installed:
            _install_hooks()
            _install_deviations()
            _installed.append(True)
        self.processor.update_relationship = \
            _update_relationship_with_placeholders.__get__(self.processor)
        self.processor._initialize_events_actions()

    def set_now(self, when):
        timeutils.set_time_override(when)

    def process(self, event):
        """Processes one event (a dict, copied) at sample date + 0.5 s."""
        self.process_timed(event)

    def process_timed(self, event, clock=None):
        """process(); returns the seconds `clock` (e.g. time.perf_counter)
        measured around Processor.process_event alone (the copy, clock and
        setting overrides around it not counted), or 0.0 without one."""
        ev = copy.deepcopy(event)
        sample = ev.get("vitrage_sample_date")
        if sample:
            self.set_now(parse_sample_date(sample) +
                         datetime.timedelta(milliseconds=500))
        self._event = ev
        # The setting the push driver that forwarded `ev` had: it forwards
        # legacy nova notifications (compute.instance.*) only when
        # use_nova_versioned_notifications is false, versioned ones only
        # when true; the transformer reads the fields by the same setting.
        versioned = not str(ev.get("vitrage_event_type", "")).startswith(
            "compute.instance.")
        if CONF.use_nova_versioned_notifications != versioned:
            CONF.set_override("use_nova_versioned_notifications", versioned)
        t0 = clock() if clock else 0.0
        try:
            self.processor.process_event(ev)
        except Exception:  # vitrage-graph logs and goes on (partial update)
            self.errors += 1
        finally:
            secs = clock() - t0 if clock else 0.0
            self._event = None
            timeutils.clear_time_override()
        return secs

    def consistency_events(self, now):
        """The events of ConsistencyEnforcer.periodic_process at `now`."""
        self.set_now(now)
        try:
            out = []
            enforcer = consistency_enforcer.ConsistencyEnforcer(
                self.graph, actions_callback=lambda evs: out.extend(evs))
            enforcer.periodic_process()
            return out
        finally:
            timeutils.clear_time_override()

    def outdated_events(self, driver_name, get_all_start, now):
        """DriverExec.get_all's delete of `driver_name`'s outdated vertices."""
        self.set_now(now)
        try:
            start = get_all_start.strftime("%Y-%m-%dT%H:%M:%SZ")
            exe = driver_exec.DriverExec.__new__(driver_exec.DriverExec)
            exe.graph = self.graph
            vertices = exe._find_vertices_to_delete(driver_name, start)
            return list(exe._to_events(vertices))
        finally:
            timeutils.clear_time_override()

    def graph_lines(self):
        """The graph in the workload layout (vertices, then edges)."""
        out = []
        for vid, props in self.graph._g.nodes(data=True):
            out.append({"id": vid, "props": dict(props)})
        for s, t, label, props in self.graph._g.edges(keys=True, data=True):
            out.append({"source": s, "target": t, "label": label,
                        "props": dict(props)})
        return out


def main():
    values, events_path = sys.argv[1], sys.argv[2]
    up = Upstream(values)
    with open(events_path) as f:
        for line in f:
            if line.strip():
                up.process(json.loads(line))
    for rec in up.graph_lines():
        print(json.dumps(rec, sort_keys=True, default=list))


if __name__ == "__main__":
    main()
