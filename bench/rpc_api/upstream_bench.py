#!/usr/bin/python3
"""Upstream's handlers (python3-vitrage 9.0.0) on a workload graph, timed.

    upstream_bench.py GRAPH.jsonl.zst CALLS.json REPS

Loads the graph into upstream's NXGraph, runs each call REPS times on
upstream's TopologyApis / ResourceApis, prints {"name": median seconds,
"name cpu": median CPU seconds of the calling thread}.
"""
import json
import statistics
import subprocess
import sys
import threading
import time

from vitrage.api_handler.apis.resource import ResourceApis
from vitrage.api_handler.apis.topology import TopologyApis
from vitrage.graph import Edge
from vitrage.graph import Vertex
from vitrage.graph.driver.networkx_graph import NXGraph


def main():
    path, calls_file, reps = sys.argv[1], sys.argv[2], int(sys.argv[3])
    data = subprocess.run(['zstd', '-dc', path], check=True,
                          capture_output=True).stdout
    g = NXGraph('entity graph')
    for line in data.splitlines():
        o = json.loads(line)
        if 'source' in o:
            g.add_edge(Edge(o['source'], o['target'], o['label'], o['props']))
        else:
            g.add_vertex(Vertex(o['id'], o['props']))
    with open(calls_file) as f:
        calls = json.load(f)
    lock = threading.RLock()
    handlers = [TopologyApis(g, lock), ResourceApis(g, lock)]
    out = {}
    for c in calls:
        fn = None
        for h in handlers:
            fn = fn or getattr(h, c['method'], None)
        if fn is None:  # a handler that needs upstream's database
            continue
        times, cpu = [], []
        for _ in range(reps):
            t, tc = time.perf_counter(), time.thread_time()
            fn(dict(c['ctx']), **c['args'])
            times.append(time.perf_counter() - t)
            cpu.append(time.thread_time() - tc)
        out[c['name']] = statistics.median(times)
        out[c['name'] + ' cpu'] = statistics.median(cpu)
    print(json.dumps(out))


if __name__ == '__main__':
    main()
