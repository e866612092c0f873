#!/usr/bin/python3
"""Calls a vitrage-graph RPC server with oslo.messaging's own RPC client,
as vitrage-api does (python3-oslo.messaging; exchange `vitrage`).

    rpc_client.py TRANSPORT_URL CALLS.json [TOPIC]

CALLS: [{"method", "args", "ctx", "timeout"}, ...]. Prints one JSON line:
a list with, per call, {"result": R} or {"error": class name, "message"}.
"""
import json
import sys

from oslo_config import cfg
import oslo_messaging


def main():
    url = sys.argv[1]
    with open(sys.argv[2]) as f:
        calls = json.load(f)
    topic = sys.argv[3] if len(sys.argv) > 3 else 'rpcapiv1'
    conf = cfg.CONF
    conf([], project='vitrage')
    oslo_messaging.set_transport_defaults('vitrage')
    transport = oslo_messaging.get_rpc_transport(conf, url=url)
    client = oslo_messaging.RPCClient(
        transport, oslo_messaging.Target(topic=topic))
    out = []
    for c in calls:
        try:
            cl = client.prepare(timeout=c.get('timeout', 10))
            r = cl.call(c.get('ctx', {}), c['method'], **c.get('args', {}))
            if isinstance(r, bytes):
                r = r.decode()
            out.append({'result': r})
        except Exception as e:
            out.append({'error': type(e).__name__, 'message': str(e)[:500]})
    print(json.dumps(out))
    transport.cleanup()


if __name__ == '__main__':
    main()
