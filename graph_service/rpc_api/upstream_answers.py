#!/usr/bin/python3
"""Upstream vitrage-graph's RPC answers on a given graph (python3-vitrage 9.0.0).

    upstream_answers.py IN.json OUT.json

IN: {"vertices": [[id, props], ...], "edges": [[source, target, label,
props], ...], "calls": [{"method", "ctx", "args", "ours"}, ...]}, where
"ours" is our server's result for the call (or {"__error__": message}).

The graph is loaded into upstream's NXGraph in the given order, and the
alarm history its persistor would hold for it (a row per active alarm,
start_timestamp = update_timestamp in seconds, as MySQL keeps it; a row per
live "causes" edge) into a SQLite file. Each call runs on upstream's own
handler classes (TopologyApis, ResourceApis, AlarmApis, RcaApis,
TemplateApis, OperationalApis), whose result and ours are decoded as
vitrage-api decodes them (decompress_obj / json.loads).

OUT: [{"upstream": decoded or {"__error__": message}, "ours": decoded}, ...]
"""
import json
import os
import sys
import tempfile
import threading

import dateutil.parser
from oslo_config import cfg
from oslo_db import options as db_options
from oslo_utils import timeutils

from vitrage.api_handler.apis.alarm import AlarmApis
from vitrage.api_handler.apis.operational import OperationalApis
from vitrage.api_handler.apis.rca import RcaApis
from vitrage.api_handler.apis.resource import ResourceApis
from vitrage.api_handler.apis.template import TemplateApis
from vitrage.api_handler.apis.topology import TopologyApis
from vitrage.common.utils import decompress_obj
from vitrage.graph import Edge
from vitrage.graph import Vertex
from vitrage.graph.driver.networkx_graph import NXGraph
from vitrage.storage import impl_sqlalchemy
from vitrage.storage.sqlalchemy import models

COMPRESSED = {'get_topology', 'get_resources', 'get_alarms'}
JSON_TEXT = {'count_resources', 'show_resource', 'show_alarm',
             'get_alarm_counts', 'get_rca', 'validate_template'}


def decode(method, result):
    if isinstance(result, dict) and '__error__' in result:
        return result
    if result is None:
        return None
    if method in COMPRESSED:
        return decompress_obj(result)
    if method in JSON_TEXT:
        return json.loads(result)
    return result


def db_time(ts):
    t = timeutils.normalize_time(dateutil.parser.parse(ts))
    return t.replace(microsecond=0)


def active_alarm(p):
    return (p.get('vitrage_category') == 'ALARM' and
            not p.get('vitrage_is_deleted', False) and
            not p.get('vitrage_is_placeholder', False))


def main():
    with open(sys.argv[1]) as f:
        req = json.load(f)
    db_options.set_defaults(cfg.CONF)
    cfg.CONF([], project='vitrage')

    g = NXGraph('entity graph')
    for vid, props in req['vertices']:
        g.add_vertex(Vertex(vid, props))
    for s, t, label, props in req['edges']:
        g.add_edge(Edge(s, t, label, props))

    tmp = tempfile.mkdtemp()
    db = impl_sqlalchemy.Connection('sqlite:///%s/history.db' % tmp)
    engine = db._engine_facade.get_engine()
    models.Base.metadata.create_all(engine)
    session = db._engine_facade.get_session()
    alarms = {}
    for vid, p in sorted(req['vertices'], key=lambda x: x[0]):
        if not active_alarm(p):
            continue
        alarms[vid] = p
        session.add(models.Alarm(
            vitrage_id=p.get('vitrage_id'),
            start_timestamp=db_time(p.get('update_timestamp')),
            name=p.get('name'),
            vitrage_type=p.get('vitrage_type'),
            vitrage_aggregated_severity=p.get('vitrage_aggregated_severity'),
            vitrage_operational_severity=p.get('vitrage_operational_severity'),
            project_id=p.get('project_id'),
            vitrage_resource_type=p.get('vitrage_resource_type'),
            vitrage_resource_id=p.get('vitrage_resource_id'),
            vitrage_resource_project_id=p.get('vitrage_resource_project_id'),
            payload=p))
        session.flush()
    for s, t, label, props in req['edges']:
        if (label != 'causes' or props.get('vitrage_is_deleted') or
                s not in alarms or t not in alarms):
            continue
        payload = dict(props, source_id=s, target_id=t)
        session.add(models.Edge(
            source_id=s, target_id=t, label=props.get('relationship_type'),
            start_timestamp=db_time(props.get('update_timestamp') or
                                    alarms[s].get('update_timestamp')),
            payload=payload))
        session.flush()

    lock = threading.RLock()
    handlers = [TopologyApis(g, lock), ResourceApis(g, lock),
                AlarmApis(g, lock, db), RcaApis(g, lock, db),
                TemplateApis(None, db), OperationalApis(g)]
    g.ready = True
    out = []
    for call in req['calls']:
        method = call['method']
        fn = None
        for h in handlers:
            fn = fn or getattr(h, method, None)
        try:
            if fn is None:
                raise AttributeError('no method %s' % method)
            up = decode(method, fn(dict(call['ctx']), **call['args']))
        except Exception as e:  # upstream's failure reply
            up = {'__error__': '%s: %s' % (type(e).__name__, e)}
        try:
            ours = decode(method, call['ours'])
        except Exception as e:
            ours = {'__error__': 'cannot decode ours: %s: %s' % (type(e).__name__, e)}
        out.append({'upstream': up, 'ours': ours})
    with open(sys.argv[2], 'w') as f:
        json.dump(out, f, default=str)
    os.remove('%s/history.db' % tmp)
    os.rmdir(tmp)


if __name__ == '__main__':
    main()
