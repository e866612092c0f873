#!/usr/bin/python3
"""Splits a graph export (vitrage-ctl export, workload JSONL) into what the
bus made and the rest, for the crash loop's bus faults.

    bus_graph.py EXPORT.jsonl

A bus vertex is one with a string property starting with "bus-" (every
entity bus_publish.py's `mix` names is bus-*: instances, their placeholder
hosts, volumes, networks, ports, alarms). Prints one JSON object:
  digest_without_bus  testdata/workload/digest.py's digest of the graph
                      without the bus vertices and every edge touching one
                      (the collector's model digest when nothing else
                      changed);
  bus                 bus vertices per vitrage_type (deleted ones apart, as
                      "deleted:<type>");
  bus_edges_to_rest   edges between a bus vertex and any other (0 for mix).
"""
import hashlib
import json
import sys


def main():
    vertices, edges = {}, []
    with open(sys.argv[1]) as f:
        for line in f:
            if not line.strip():
                continue
            o = json.loads(line)
            if "label" in o:
                edges.append(o)
            else:
                vertices[o["id"]] = o["props"]

    def is_bus(props):
        return any(isinstance(v, str) and v.startswith("bus-") for v in props.values())

    bus = {vid for vid, p in vertices.items() if is_bus(p)}
    counts = {}
    for vid in bus:
        p = vertices[vid]
        key = ("deleted:" if p.get("vitrage_is_deleted") else "") + str(p.get("vitrage_type"))
        counts[key] = counts.get(key, 0) + 1
    h = hashlib.sha256()
    for vid in sorted(v for v in vertices if v not in bus):
        h.update(json.dumps([vid, vertices[vid]], sort_keys=True, default=str).encode())
    crossing = 0
    rest = []
    for e in edges:
        a, b = e["source"] in bus, e["target"] in bus
        if a != b:
            crossing += 1
        if not a and not b:
            rest.append(e)
    rest.sort(key=lambda e: (e["source"], e["target"], e["label"]))
    for e in rest:
        h.update(json.dumps([e["source"], e["target"], e["label"], e["props"]], default=str,
                            sort_keys=True).encode())
    print(json.dumps({"digest_without_bus": h.hexdigest(), "bus": counts,
                      "bus_edges_to_rest": crossing}, sort_keys=True))


if __name__ == "__main__":
    main()
