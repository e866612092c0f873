#!/usr/bin/python3
"""Upstream vitrage-graph's RPC API server (python3-vitrage 9.0.0) on a
workload graph, for rpc_load_bench.

    upstream_rpc_server.py TRANSPORT_URL GRAPH.jsonl.zst TOPIC

As upstream's ApiWorker (vitrage/entity_graph/workers.py): the graph in an
NXGraph, the handler classes as endpoints of oslo.messaging's RPC server
(vitrage.rpc.get_server: the threading executor, DefaultRPCAccessPolicy)
on exchange `vitrage`, topic TOPIC. The alarm history its persistor would
hold for the graph (a row per active alarm, as upstream_answers.py builds
it) is in a SQLite file (upstream runs MySQL). Prints "ready" once
serving; runs until SIGTERM.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading

import dateutil.parser
from oslo_config import cfg
from oslo_db import options as db_options
import oslo_messaging
from oslo_utils import timeutils

from vitrage.api_handler.apis.alarm import AlarmApis
from vitrage.api_handler.apis.resource import ResourceApis
from vitrage.api_handler.apis.topology import TopologyApis
from vitrage.graph import Edge
from vitrage.graph import Vertex
from vitrage.graph.driver.networkx_graph import NXGraph
from vitrage import rpc as vitrage_rpc
from vitrage.storage import impl_sqlalchemy
from vitrage.storage.sqlalchemy import models


def db_time(ts):
    t = timeutils.normalize_time(dateutil.parser.parse(ts))
    return t.replace(microsecond=0)


def main():
    url, path, topic = sys.argv[1], sys.argv[2], sys.argv[3]
    db_options.set_defaults(cfg.CONF)
    cfg.CONF([], project='vitrage')
    oslo_messaging.set_transport_defaults('vitrage')
    data = subprocess.run(['zstd', '-dc', path], check=True,
                          capture_output=True).stdout
    g = NXGraph('entity graph')
    tmp = tempfile.mkdtemp()
    db = impl_sqlalchemy.Connection('sqlite:///%s/history.db' % tmp)
    models.Base.metadata.create_all(db._engine_facade.get_engine())
    session = db._engine_facade.get_session()
    for line in data.splitlines():
        o = json.loads(line)
        if 'source' in o:
            g.add_edge(Edge(o['source'], o['target'], o['label'], o['props']))
            continue
        g.add_vertex(Vertex(o['id'], o['props']))
        p = o['props']
        if (p.get('vitrage_category') != 'ALARM' or
                p.get('vitrage_is_deleted') or
                p.get('vitrage_is_placeholder')):
            continue
        session.add(models.Alarm(
            vitrage_id=p.get('vitrage_id'),
            start_timestamp=db_time(p.get('update_timestamp')),
            name=p.get('name'),
            vitrage_type=p.get('vitrage_type'),
            vitrage_aggregated_severity=p.get('vitrage_aggregated_severity'),
            vitrage_operational_severity=p.get(
                'vitrage_operational_severity'),
            project_id=p.get('project_id'),
            vitrage_resource_type=p.get('vitrage_resource_type'),
            vitrage_resource_id=p.get('vitrage_resource_id'),
            vitrage_resource_project_id=p.get('vitrage_resource_project_id'),
            payload=p))
    session.flush()
    g.ready = True
    lock = threading.RLock()
    endpoints = [TopologyApis(g, lock), AlarmApis(g, lock, db),
                 ResourceApis(g, lock)]
    transport = oslo_messaging.get_rpc_transport(cfg.CONF, url=url)
    target = oslo_messaging.Target(topic=topic, server='bench')
    server = vitrage_rpc.get_server(target, endpoints, transport)
    server.start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    print('ready', flush=True)
    done.wait()
    server.stop()
    server.wait()
    transport.cleanup()
    os.remove('%s/history.db' % tmp)
    os.rmdir(tmp)


if __name__ == '__main__':
    main()
