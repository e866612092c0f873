#!/usr/bin/python3
"""Times one RPC call through oslo.messaging's own RPC client, as
vitrage-api makes it (for rpc_load_bench).

    rpc_call_timer.py TRANSPORT_URL TOPIC REPS CALL.json

CALL: {"method", "args", "ctx"}. Makes the call REPS times (after one
untimed call that sets up the connections and the reply queue), decodes
each result as vitrage-api does (decompress_obj for a compressed one) and
prints {"median": s, "best": s, "call_median": s, "decode_median": s,
"reply_bytes": n, "items": n}: the whole, the call until the reply is in
hand, and decompress_obj.
"""
import json
import statistics
import sys
import time

from oslo_config import cfg
import oslo_messaging

from vitrage.common.utils import decompress_obj


def main():
    url, topic, reps = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with open(sys.argv[4]) as f:
        call = json.load(f)
    cfg.CONF([], project='vitrage')
    oslo_messaging.set_transport_defaults('vitrage')
    transport = oslo_messaging.get_rpc_transport(cfg.CONF, url=url)
    client = oslo_messaging.RPCClient(
        transport, oslo_messaging.Target(topic=topic)).prepare(timeout=600)
    times, calls, decodes = [], [], []
    size = items = 0
    for i in range(reps + 1):
        t = time.perf_counter()
        r = client.call(call.get('ctx', {}), call['method'], **call['args'])
        t1 = time.perf_counter()
        obj = decompress_obj(r)
        if i > 0:
            times.append(time.perf_counter() - t)
            calls.append(t1 - t)
            decodes.append(time.perf_counter() - t1)
        size = len(r)
        items = sum(len(v) for v in obj.values() if isinstance(v, list))
    print(json.dumps({'median': statistics.median(times), 'best': min(times),
                      'call_median': statistics.median(calls),
                      'decode_median': statistics.median(decodes),
                      'reply_bytes': size, 'items': items}))
    transport.cleanup()


if __name__ == '__main__':
    main()
