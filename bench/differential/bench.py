#!/usr/bin/env python3
"""Processor throughput on the differential random mix: ours vs upstream's.

    bench.py --ctl-build BUILD --values DIR [--seeds N] [--first S]

Generates the harness's event sequences (integration_tests/differential/
gen.py) and times the same stage on both sides: one event, already in the
processor's own form, through the processor (graph changes included):

* upstream: Vitrage 9.0.0's Processor.process_event on a ready dict (ids
  and clock injected; the dict's copy and the clock override are outside
  the timed part), best of 3;
* ours: BUILD/bench/differential/mix_bench, Processor::Process on a ready
  Event, best of 5; it also reports ours with the JSON -> Event conversion
  before each call (a row of its own: upstream's side has no such stage).

Prints a table (ours, upstream, target 50x, the load average) and appends
a line to bench/results/differential.tsv.
"""
import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "integration_tests", "differential"))
import differential  # noqa: E402
import upstream  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--values", required=True)
    ap.add_argument("--seeds", type=int, default=300)
    ap.add_argument("--first", type=int, default=100000)
    a = ap.parse_args()
    seqs = []
    for seed in range(a.first, a.first + a.seeds):
        items = differential.gen.generate(seed)
        _, concrete, up = differential.expand(items, a.values)
        seqs.append((concrete, {u: k for u, k in up.mints if k is not None}))
    n = sum(len(c) for c, _ in seqs)
    best_up = 1e30
    for _ in range(3):
        secs = 0.0
        for concrete, _ in seqs:
            up = upstream.Upstream(a.values)
            for ev in concrete:
                secs += up.process_timed(ev, time.perf_counter)
        best_up = min(best_up, secs)
    with tempfile.TemporaryDirectory(prefix="vitrage-mix-") as tmp:
        for i, (concrete, id_map) in enumerate(seqs):
            with open(os.path.join(tmp, "s%05d.events.jsonl" % i), "w") as f:
                for e in concrete:
                    f.write(json.dumps(e) + "\n")
            with open(os.path.join(tmp, "s%05d.id_map.json" % i), "w") as f:
                json.dump(id_map, f)
        out = subprocess.run([os.path.join(a.build, "bench", "differential", "mix_bench"),
                              tmp, a.values, "5"], check=True, stdout=subprocess.PIPE,
                             text=True).stdout
    ours = json.loads(out)
    up_rate = n / best_up
    ratio = ours["events_per_s"] / up_rate
    ratio_conv = ours["with_conversion_events_per_s"] / up_rate
    rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                         stdout=subprocess.PIPE, text=True).stdout.strip()
    load = os.getloadavg()
    print("processor on the random mix: %d sequences, %d events (seeds %d..%d); "
          "load average %.2f %.2f %.2f on %d cores"
          % (len(seqs), n, a.first, a.first + a.seeds - 1, load[0], load[1], load[2],
             os.cpu_count()))
    print("| side | timed | events/s | x upstream | target |")
    print("|---|---|---|---|---|")
    print("| ours | Processor::Process on a ready Event | %.0f | %.1f | 50x |"
          % (ours["events_per_s"], ratio))
    print("| upstream 9.0.0 | Processor.process_event on a ready dict | %.0f | 1.0 | |"
          % up_rate)
    print("| ours | JSON -> Event conversion + Process | %.0f | %.1f | |"
          % (ours["with_conversion_events_per_s"], ratio_conv))
    print("result: %s" % ("met" if ratio >= 50 else "NOT met"))
    line = "\t".join([datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"), rev,
                      str(len(seqs)), str(n), "%.0f" % ours["events_per_s"], "%.0f" % up_rate,
                      "%.1f" % ratio, "50", "%.2f" % load[0],
                      "%.0f" % ours["with_conversion_events_per_s"], "process_only"])
    path = os.path.join(ROOT, "bench", "results", "differential.tsv")
    new = not os.path.exists(path)
    with open(path, "a") as f:
        if new:
            f.write("time\tcommit\tsequences\tevents\tours_events_per_s\t"
                    "upstream_events_per_s\tratio\ttarget_ratio\tload1\t"
                    "ours_with_conversion_events_per_s\ttimed\n")
        f.write(line + "\n")


if __name__ == "__main__":
    main()
