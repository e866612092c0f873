#!/usr/bin/env python3
"""Differential test: our processor against upstream Vitrage 9.0.0's.

    differential.py --ctl BUILD/graph_service/vitrage-ctl --values DIR
                    [--seeds N] [--first S] [--save DIR] [--jobs J]

For each seed, gen.generate(seed) makes an event sequence; upstream's real
Processor (upstream.py) processes it, expanding the consistency and
outdated-pass directives on its own graph; the resulting concrete events
go through ours (`vitrage-ctl process-events --id-map --mints`). The
canonical graphs (canon.py, testdata/conformance/README.md) must be equal;
upstream runs with docs/transformers.md's deviations modelled
(upstream.py). A differing seed is shrunk to the shortest event list that
still differs and, with --save, written as a scenario (events, upstream's
graph and canonical graph, meta.json with id_map) for
differential_scenarios_test. Prints one summary line; exit 1 on any
difference.
"""
import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import canon  # noqa: E402
import gen  # noqa: E402
import upstream  # noqa: E402

ARGS = None


def expand(items, values):
    """Runs upstream on `items`. Returns (expanded items: directives turned
    into consistency events naming canonical ids, concrete events with
    upstream's raw ids, the Upstream run)."""
    up = upstream.Upstream(values)
    expanded, concrete = [], []

    def raw_of(name):
        inv = {v: k for k, v in canon.names_from_mints(up.mints).items()}
        return inv.get(name)

    def run(ev):
        if "_vitrage_id_name" in ev:
            raw = raw_of(ev["_vitrage_id_name"])
            if raw is None:
                return
            ev = dict(ev)
            del ev["_vitrage_id_name"]
            ev["vitrage_id"] = raw
        up.process(ev)
        concrete.append(ev)

    for item in items:
        if "_pass" not in item:
            expanded.append(item)
            run(item)
            continue
        now = gen.at(item["now"])
        if item["_pass"] == "consistency":
            evs = up.consistency_events(now)
        else:
            evs = up.outdated_events(item["datasource"], gen.at(item["start"]), now)
        names = canon.names_from_mints(up.mints)
        for ev in evs:
            ev = json.loads(json.dumps(ev))
            ev["_vitrage_id_name"] = names.get(ev["vitrage_id"], ev["vitrage_id"])
            del ev["vitrage_id"]
            expanded.append(ev)
            run(ev)
    return expanded, concrete, up


def json_lines(recs):
    return json.loads(json.dumps(recs, default=list))


def ours(concrete, id_map, tmp):
    ev_path = os.path.join(tmp, "events.jsonl")
    map_path = os.path.join(tmp, "id_map.json")
    mints_path = os.path.join(tmp, "mints.jsonl")
    with open(ev_path, "w") as f:
        for e in concrete:
            f.write(json.dumps(e) + "\n")
    with open(map_path, "w") as f:
        json.dump(id_map, f)
    p = subprocess.run([ARGS.ctl, "process-events", ev_path, "--values", ARGS.values,
                        "--id-map", map_path, "--mints", mints_path],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode == 2:
        raise RuntimeError(p.stderr)
    lines = [json.loads(x) for x in p.stdout.splitlines() if x.strip()]
    mints = [(m["id"], m["key"]) for m in
             (json.loads(x) for x in open(mints_path) if x.strip())]
    return lines, mints


def compare(items, tmp):
    """(equal, expanded, concrete, upstream run, upstream canonical, ours canonical)."""
    expanded, concrete, up = expand(items, ARGS.values)
    up_lines = json_lines(up.graph_lines())
    theirs = canon.canonical(up_lines, canon.names_from_mints(up.mints))
    id_map = {uid: key for uid, key in up.mints if key is not None}
    our_lines, our_mints = ours(concrete, id_map, tmp)
    mine = canon.canonical(our_lines, canon.names_from_mints(our_mints))
    equal = canon.text_lines(theirs) == canon.text_lines(mine)
    return equal, expanded, concrete, up, theirs, mine


def shrink(items, tmp):
    """Delta debugging: the shortest sub-list that still differs."""
    cur = list(items)
    n = 2
    while len(cur) >= 2:
        chunk = max(1, len(cur) // n)
        reduced = False
        for i in range(0, len(cur), chunk):
            cand = cur[:i] + cur[i + chunk:]
            if cand and not compare(cand, tmp)[0]:
                cur = cand
                n = max(n - 1, 2)
                reduced = True
                break
        if not reduced:
            if chunk == 1:
                break
            n = min(len(cur), n * 2)
    return cur


def diff_text(theirs, mine):
    a, b = set(canon.text_lines(theirs)), set(canon.text_lines(mine))
    out = ["  - upstream: " + x for x in sorted(a - b)]
    out += ["  + ours:     " + x for x in sorted(b - a)]
    return "\n".join(out)


def save(name, items, d, description=""):
    """Writes `items` as scenario `name` in `d`, with upstream's graph."""
    expanded, concrete, up = expand(items, ARGS.values)
    theirs = canon.canonical(json_lines(up.graph_lines()), canon.names_from_mints(up.mints))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name + ".events.jsonl"), "w") as f:
        for e in concrete:
            f.write(json.dumps(e, sort_keys=True) + "\n")
    raw = json_lines(up.graph_lines())
    for suffix, lines in ((".graph.jsonl", raw), (".canonical.graph.jsonl", theirs)):
        with open(os.path.join(d, name + suffix), "w") as f:
            for r in sorted(lines, key=lambda r: json.dumps(r, sort_keys=True)):
                f.write(json.dumps(r, sort_keys=True) + "\n")
    meta = {"scenario": name, "description": description, "events": len(concrete),
            "graph_digest": canon.digest(raw),
            "canonical_graph_digest": canon.digest(theirs),
            "id_map": {u: k for u, k in up.mints if k is not None},
            "made_by": "integration_tests/differential/differential.py (upstream "
                       "Vitrage 9.0.0, deviations modelled)",
            "deviation_hits": up.deviation_hits}
    with open(os.path.join(d, name + ".meta.json"), "w") as f:
        json.dump(meta, f, indent=1, sort_keys=True)
        f.write("\n")


def one(seed):
    with tempfile.TemporaryDirectory(prefix="vitrage-diff-") as tmp:
        items = gen.generate(seed)
        equal, expanded, concrete, up, theirs, mine = compare(items, tmp)
        hits = dict(up.deviation_hits)
        if equal:
            return seed, True, len(concrete), hits, ""
        small = shrink(expanded, tmp) if ARGS.shrink else expanded
        eq2, _, conc2, _, theirs2, mine2 = compare(small, tmp)
        if ARGS.save:
            save("seed_%d" % seed, small, ARGS.save,
                 "differential.py seed %d, shrunk" % seed)
        return seed, False, len(concrete), hits, (
            "seed %d differs; shortest: %d events (--save to keep them)\n%s" % (
                seed, len(conc2), diff_text(theirs2, mine2)))


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--ctl", required=True)
    ap.add_argument("--values", required=True)
    ap.add_argument("--seeds", type=int, default=200)
    ap.add_argument("--first", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--save", default="")
    ap.add_argument("--no-shrink", dest="shrink", action="store_false")
    ap.add_argument("--max-report", type=int, default=3)
    ap.add_argument("--scenarios", action="store_true",
                    help="write scenarios.py's hand-made scenarios to --save and exit")
    ARGS = ap.parse_args()
    if ARGS.scenarios:
        import scenarios
        for name, (description, items) in sorted(scenarios.SCENARIOS.items()):
            save(name, items, ARGS.save, description)
        return 0
    seeds = range(ARGS.first, ARGS.first + ARGS.seeds)
    if ARGS.jobs > 1:
        with multiprocessing.Pool(ARGS.jobs) as pool:
            results = pool.map(one, seeds, chunksize=8)
    else:
        results = [one(s) for s in seeds]
    bad = [r for r in results if not r[1]]
    events = sum(r[2] for r in results)
    hits = {}
    for r in results:
        for k, v in r[3].items():
            hits[k] = hits.get(k, 0) + (1 if v else 0)
    for r in bad[:ARGS.max_report]:
        print(r[4])
    print("differential: %d seeds (%d..%d), %d equal, %d differ; %d events; "
          "seeds hitting a modelled deviation: %s" % (
              len(results), seeds[0], seeds[-1], len(results) - len(bad), len(bad),
              events, json.dumps(hits, sort_keys=True)))
    if bad:
        print("differing seeds: " + " ".join(str(r[0]) for r in bad[:50]))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
