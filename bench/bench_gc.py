#!/usr/bin/env python3
"""The cycle collector's pauses in ``app.py`` during a submission run (issue 13: the c=50 tail).

Theory of operation: the same run as ``bench/bench_pipeline.py`` (``bench/sidebyside/submission.py``:
a fresh ``app.py``, N messages submitted with AUTH over c connections, optionally V Socket.IO
viewers), but ``app.py`` is started through a small launcher that registers a ``gc.callbacks`` hook
before running the real ``app.py`` with ``runpy``.  The hook times every collection (start to stop,
``time.perf_counter``) per generation once start-up is over (``app.py`` has frozen what it made:
``simulator/memory.py``); a daemon thread writes the tally to a JSON file every second
(the process is ended by a signal).  A collection holds the GIL, so it stops the whole process --
the mail loop with it -- for its duration: a gen-2 collection over a large heap is a pause every
session in flight waits for.  Printed per run: the submission's figures (msgs/s, CPU per message,
250 -> ``new/`` p50/p95/p99) and, per generation, the number of collections, their total and longest
duration, the objects the collector tracks at the end (``len(gc.get_objects())`` after the run) and
the process's RSS then.  ``--types`` adds the most common tracked types, what is cyclic garbage at
the end (``gc.DEBUG_SAVEALL``), and each full collection as [ms, objects tracked at its start,
objects it freed] (counting them costs time: not for the figures).

``--baseline DIR`` (another tree, e.g. a worktree of the commit before a change) alternates DIR's ``app.py`` with
this tree's (or ``--this DIR``'s), ``--reps`` times, the order swapped each repetition.

    .venv/bin/python bench/bench_gc.py --messages 1000 --connections 50
    .venv/bin/python bench/bench_gc.py --messages 1000 --connections 50 --reps 3 --baseline /tmp/before
    .venv/bin/python bench/bench_gc.py --messages 600 --connections 50 --types      # what the collector walks
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(BENCH), str(ROOT)]

from sidebyside import alternating  # noqa: E402
from sidebyside import servers, submission  # noqa: E402

LAUNCHER = '''import gc, json, os, runpy, sys, threading, time
os.chdir({root!r})
sys.path.insert(0, {root!r})
OUT = {out!r}
DETAIL = {detail!r}
tally = {{g: {{"count": 0, "total_ms": 0.0, "max_ms": 0.0, "over_10ms": 0}} for g in (0, 1, 2)}}
began = [0.0]

full = []
size = [0]

def hook(phase, info):
    if not gc.get_freeze_count():       # start-up: app.py freezes what it made once it listens
        return
    if phase == "start":
        if info["generation"] == 2 and DETAIL:
            size[0] = sum(len(gc.get_objects(g)) for g in (0, 1, 2))
        began[0] = time.perf_counter()
        return
    ms = (time.perf_counter() - began[0]) * 1000
    t = tally[info["generation"]]
    t["count"] += 1
    t["total_ms"] += ms
    t["max_ms"] = max(t["max_ms"], ms)
    t["over_10ms"] += ms > 10
    t["collected"] = t.get("collected", 0) + info["collected"]
    if info["generation"] == 2 and DETAIL:
        full.append([round(ms, 1), size[0], info["collected"]])

gc.callbacks.append(hook)

def dump(final=False):
    facts = {{"gen": tally, "frozen": gc.get_freeze_count(), "at": time.time(), "full": full}}
    if final:
        with open("/proc/self/status") as status:
            facts["rss_mib"] = next((round(int(line.split()[1]) / 1024, 1) for line in status
                                     if line.startswith("VmRSS:")), None)
        objects = gc.get_objects()
        facts["tracked"] = len(objects)
        kinds = {{}}
        for o in objects:
            name = type(o).__qualname__
            kinds[name] = kinds.get(name, 0) + 1
        del objects
        facts["tracked_types"] = dict(sorted(kinds.items(), key=lambda kv: -kv[1])[:12])
        if DETAIL:          # what is cyclic garbage now (what the next full collection would free)
            gc.set_debug(gc.DEBUG_SAVEALL)
            gc.collect()
            kinds = {{}}
            for o in gc.garbage:
                name = type(o).__module__ + "." + type(o).__qualname__
                kinds[name] = kinds.get(name, 0) + 1
            facts["garbage_types"] = dict(sorted(kinds.items(), key=lambda kv: -kv[1])[:25])
            gc.garbage.clear()
            gc.set_debug(0)
    with open(OUT + ".tmp", "w") as handle:
        json.dump(facts, handle)
    os.replace(OUT + ".tmp", OUT)

def every_second():
    while True:
        time.sleep(1.0)
        dump(os.path.exists(OUT + ".count"))

threading.Thread(target=every_second, daemon=True).start()
sys.argv = [os.path.join({root!r}, "app.py")] + sys.argv[1:]
runpy.run_path(os.path.join({root!r}, "app.py"), run_name="__main__")
'''


def one_run(args: argparse.Namespace, root: Path) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-gc-") as tmp:
        work = Path(tmp)
        stats = work / "gc.json"
        fake = work / "launch"
        fake.mkdir()
        (fake / "app.py").write_text(LAUNCHER.format(root=str(root), out=str(stats), detail=args.types))
        servers.ROOT = fake
        run = work / "run"
        run.mkdir()
        original = servers.Mailflow.stop

        def stop(self) -> None:             # count what the collector tracks before the end
            (Path(str(stats) + ".count")).touch()
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                try:
                    if "tracked" in json.loads(stats.read_text()):
                        break
                except (OSError, ValueError):
                    pass
                time.sleep(0.1)
            original(self)

        servers.Mailflow.stop = stop
        try:
            out = submission.run(run, args.messages, args.connections, args.reuse, args.viewers, args.seconds)
        finally:
            servers.Mailflow.stop = original
        try:
            gcs = json.loads(stats.read_text())
        except (OSError, ValueError):
            gcs = {}
    result = {k: round(out[k], 2) if isinstance(out.get(k), float) else out.get(k)
              for k in ("delivered", "rate", "cpu_ms_per_msg", "to_maildir_p50_ms", "to_maildir_p95_ms",
                        "to_maildir_p99_ms")}
    if out.get("hop_to_viewer"):
        result["hop_to_viewer"] = out["hop_to_viewer"]
    for g, t in (gcs.get("gen") or {}).items():
        result[f"gen{g}"] = {k: round(v, 1) if isinstance(v, float) else v for k, v in t.items()}
    result["tracked_at_end"] = gcs.get("tracked")
    result["frozen"] = gcs.get("frozen")
    result["rss_mib_at_end"] = gcs.get("rss_mib")
    if args.types:
        result["tracked_types"] = gcs.get("tracked_types")
        result["garbage_types"] = gcs.get("garbage_types")
        result["full_collections"] = gcs.get("full")      # [ms, objects tracked at its start, collected]
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--messages", type=int, default=1000)
    p.add_argument("--connections", type=int, default=50)
    p.add_argument("--reuse", action="store_true")
    p.add_argument("--viewers", type=int, default=0)
    p.add_argument("--seconds", type=float, default=90)
    p.add_argument("--reps", type=int, default=1)
    p.add_argument("--baseline", type=Path)
    p.add_argument("--this", type=Path, help="the tree measured as 'this' (default: this one)")
    p.add_argument("--types", action="store_true", help="the 12 most common types tracked at the end, and each full collection: "
                   "[ms, objects tracked at its start, objects collected] (counting them costs time)")
    args = p.parse_args()
    trees = [("this", (args.this or ROOT).resolve())] + ([("baseline", args.baseline.resolve())] if args.baseline else [])
    runs: dict[str, list[dict]] = {name: [] for name, _ in trees}
    common = {"messages": args.messages, "connections": args.connections, "reuse": args.reuse,
              "viewers": args.viewers}
    for rep in range(args.reps):
        for name, root in alternating(trees, rep):
            result = one_run(args, root)
            runs[name].append(result)
            print(json.dumps({**common, "tree": name, "rep": rep + 1, **result}), flush=True)
    summary = {}
    for name, results in runs.items():
        row = {}
        for key in ("rate", "cpu_ms_per_msg", "to_maildir_p95_ms", "to_maildir_p99_ms", "tracked_at_end",
                    "rss_mib_at_end"):
            values = [r[key] for r in results if r.get(key) is not None]
            if values:
                row[key] = round(statistics.median(values), 2)
        for g in ("gen2", "gen1"):
            counts = [r[g]["count"] for r in results if g in r]
            if counts:
                row[f"{g}_count"] = statistics.median(counts)
                row[f"{g}_max_ms"] = round(statistics.median(r[g]["max_ms"] for r in results if g in r), 1)
                row[f"{g}_total_ms"] = round(statistics.median(r[g]["total_ms"] for r in results if g in r), 1)
        summary[name] = row
    print(json.dumps({**common, "summary": summary}), flush=True)


if __name__ == "__main__":
    main()
