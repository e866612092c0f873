#!/usr/bin/python3
"""What upstream Vitrage 9.0.0's listener makes of each notification.

Reads notification cases (JSON lines: {"name", "message", "sample_date",
optional "options": {"use_nova_versioned_notifications": bool,
"zabbix_conf": bool}}) and prints, one JSON line per case,
{"name", "result": "handled" | "requeue" | "ignored", "events": [...],
"error": "..."}.
With DATASOURCES_VALUES_DIR, every event made is then fed, in order, to
upstream's real Processor (vitrage/entity_graph/processor/processor.py, on
an NXGraph, as its unit tests do; "now" is the case's sample_date + 0.5 s,
the conformance corpus's clock rule), and a last line
{"graph": {"vertices": [{"id", "props"}], "edges": [{"source", "target",
"label", "props"}]}} holds the graph it built.

Each message goes the way vitrage-graph's listener takes it: oslo.messaging's
NotificationDispatcher (priority routing, the endpoint's exceptions ->
REQUEUE) calls the real DriversNotificationEndpoint
(vitrage/entity_graph/driver_exec.py), built from the real push drivers of
[datasources] types (upstream's defaults plus zabbix, whose zabbix_conf is
testdata/notifications/zabbix_conf.yaml); the clock (format_utcnow) is
oslo_utils' time override set to the case's sample_date. Needs
python3-vitrage and python3-oslo.messaging; reads nothing else.

Usage: upstream_push_drivers.py CASES.jsonl ZABBIX_CONF.yaml OUT.jsonl
                                [DATASOURCES_VALUES_DIR]
"""
import datetime
import json
import logging
import os
import sys
import tempfile
import types

from oslo_config import cfg
from oslo_messaging.notify import dispatcher as oslo_dispatcher
from oslo_utils import timeutils

from vitrage.common import config
from vitrage.datasources.zabbix.driver import ZabbixDriver
from vitrage.entity_graph.driver_exec import DriversNotificationEndpoint

CONF = cfg.CONF
TYPES = ['nova.host', 'nova.instance', 'nova.zone', 'cinder.volume',
         'neutron.port', 'neutron.network', 'zabbix']


def setup(zabbix_conf, values_dir):
    fd, path = tempfile.mkstemp(suffix='.conf')
    with os.fdopen(fd, 'w') as f:
        f.write('[datasources]\ntypes = %s\n[zabbix]\nconfig_file = %s\n'
                '[entity_graph]\ndatasources_values_dir = %s\n'
                % (','.join(TYPES), zabbix_conf, values_dir or '/nonexistent'))
    try:
        config.parse_config(['upstream_push_drivers', '--config-file', path],
                            default_config_files=[])
    finally:
        os.unlink(path)
    logging.disable(logging.CRITICAL)


def dump_graph(g):
    nx = g._g  # networkx MultiDiGraph: edge keys are labels
    return {
        'vertices': [{'id': v, 'props': d} for v, d in nx.nodes(data=True)],
        'edges': [{'source': s, 'target': t, 'label': k, 'props': d}
                  for s, t, k, d in nx.edges(keys=True, data=True)],
    }


def main():
    cases_path, zabbix_conf, out_path = sys.argv[1:4]
    values_dir = sys.argv[4] if len(sys.argv) > 4 else None
    setup(zabbix_conf, values_dir)
    processor = None
    if values_dir:
        from vitrage.entity_graph.processor import processor as proc
        from vitrage.graph.driver.networkx_graph import NXGraph
        processor = proc.Processor(e_graph=NXGraph('Entity Graph'))
    out_file = open(out_path, 'w')
    captured = []
    endpoint = DriversNotificationEndpoint(captured.extend).init()
    zabbix_map = ZabbixDriver.conf_map
    if not zabbix_map:
        sys.exit('zabbix_conf %s gave no mapping' % zabbix_conf)
    disp = oslo_dispatcher.NotificationDispatcher([endpoint], None)
    with open(cases_path) as f:
        cases = [json.loads(line) for line in f if line.strip()]
    for case in cases:
        opts = case.get('options', {})
        CONF.set_override('use_nova_versioned_notifications',
                          opts.get('use_nova_versioned_notifications', True))
        ZabbixDriver.conf_map = zabbix_map if opts.get('zabbix_conf', True) \
            else {}
        sample = datetime.datetime.strptime(case['sample_date'],
                                            '%Y-%m-%dT%H:%M:%SZ')
        timeutils.set_time_override(sample)
        del captured[:]
        incoming = types.SimpleNamespace(ctxt={}, message=case['message'])
        ret = disp.dispatch(incoming)
        # Printed now: the processor below changes the dicts it is given.
        out = {'name': case['name'],
               'events': json.loads(json.dumps(captured))}
        if ret == oslo_dispatcher.NotificationResult.REQUEUE:
            out['result'] = 'requeue'
        elif ret == oslo_dispatcher.NotificationResult.HANDLED:
            out['result'] = 'handled'
        else:
            out['result'] = 'ignored'  # priority the dispatcher drops
        out_file.write(json.dumps(out, sort_keys=True) + '\n')
        if processor is not None:
            timeutils.set_time_override(
                (sample + datetime.timedelta(milliseconds=500)).replace(
                    tzinfo=datetime.timezone.utc))
            for event in captured:
                processor.process_event(event)
        timeutils.clear_time_override()
    if processor is not None:
        out_file.write(json.dumps({'graph': dump_graph(
            processor.entity_graph)}, sort_keys=True, default=str) + '\n')
    out_file.close()


if __name__ == '__main__':
    main()
