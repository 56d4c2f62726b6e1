#!/usr/bin/env python3
"""Submission end to end, Mailflow alone, with the delivery pipeline's speed-ups switchable (issue 13).

Theory of operation: one run of ``bench/sidebyside/submission.py`` (a fresh ``app.py``, N messages
submitted with AUTH over c connections, each file's arrival in bob's ``new/`` matched to its 250),
printed as one JSON line: delivered msgs/s, server CPU per message (and its split: the busiest thread,
the mail loop, and the other threads, the disk hand-off workers mostly), 250 -> ``new/`` p50/p95/p99.
``--off`` turns ideas off for a before/after in the same minute, through a small launcher
(written into the work directory) that patches :mod:`simulator.delivery` before ``app.py`` runs:

- ``reuse``: no relay connection cache (and no per-destination limit): one connection per attempt;
- ``flow``: no in-flow control at the submission door (``FLOW_LIMIT`` infinite);
- ``content``: the first attempt reads the queued message back from disk;
- ``direct``: the final MX queues every message instead of delivering it before its 250
  (:data:`simulator.direct.DIRECT`).

``--flow N`` sets ``FLOW_LIMIT``.  Alternate the configurations and repeat: on a shared machine
wall-clock figures are noisy; CPU per message is the steadiest.

``--baseline DIR`` (a copy of the tree, e.g. the session's snapshot) runs DIR's ``app.py`` and this
tree's in turn, ``--reps`` times (the order swapped every repetition, so both see the same load), and
ends with a summary line: the median of each figure per tree and of the per-repetition ratios
(this tree ÷ baseline).  ``--profile OUT`` attaches ``py-spy record --gil --threads --format raw`` to
this tree's ``app.py`` for the whole run of the senders (one run); ``--strace OUT`` attaches
``strace -f -c`` the same way and prints the system calls per delivered message (slows the run: counts
only, not rates).

    .venv/bin/python bench/bench_pipeline.py --messages 300 --connections 10
    .venv/bin/python bench/bench_pipeline.py --messages 300 --connections 10 --off flow,reuse,content
    .venv/bin/python bench/bench_pipeline.py --messages 300 --connections 10 --off direct
    .venv/bin/python bench/bench_pipeline.py --messages 1000 --connections 10 --reps 5 --baseline /tmp/before
    .venv/bin/python bench/bench_pipeline.py --messages 3000 --connections 10 --profile /tmp/pipe.txt
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(BENCH), str(ROOT)]

from sidebyside import alternating  # noqa: E402
from sidebyside import servers, spent, submission  # noqa: E402

LAUNCHER = '''import os, runpy, sys
os.chdir({root!r})
sys.path.insert(0, {root!r})
import simulator.delivery as d
off = {off!r}
if {flow!r} is not None:
    d.FLOW_LIMIT = {flow!r}
if "flow" in off:
    d.FLOW_LIMIT = 10 ** 9
if "reuse" in off:
    d.Delivery._reusable = lambda self, target: False
if "content" in off:
    d.CONTENT_CACHE = -1
if "direct" in off:
    import simulator.direct
    simulator.direct.DIRECT = False
sys.argv = [os.path.join({root!r}, "app.py")] + sys.argv[1:]
runpy.run_path(os.path.join({root!r}, "app.py"), run_name="__main__")
'''


KEYS = ("delivered", "rate", "cpu_ms_per_msg", "to_maildir_p50_ms", "to_maildir_p95_ms", "to_maildir_p99_ms",
        "errors")
RATIOS = ("rate", "cpu_ms_per_msg", "to_maildir_p50_ms", "to_maildir_p95_ms", "loop_cpu_ms_per_msg",
          "other_threads_cpu_ms_per_msg")


def _thread_ticks(pid: int) -> dict[int, int]:
    """utime + stime of each thread of ``pid`` (clock ticks, /proc/<pid>/task/<tid>/stat)."""
    ticks: dict[int, int] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        ticks[int(task.name)] = int(fields[11]) + int(fields[12])
    return ticks


class Threads(servers.Mailflow):
    """``app.py`` as usual; each ``cpu()`` (submission.run asks before and after the senders' run) also
    notes every thread's CPU, so the run's CPU splits into the busiest thread's (the mail loop: its event
    loop, the SMTP sessions, the queue runner) and the others' (the disk hand-off workers, the web UI)."""
    def cpu(self) -> float:
        snaps = self.__dict__.setdefault("snaps", [])
        try:
            snaps.append(_thread_ticks(self.proc.pid))
        except OSError:
            pass
        return super().cpu()

    def split(self, delivered: int) -> dict:
        snaps = getattr(self, "snaps", [])
        if len(snaps) < 2 or not delivered:
            return {}
        first, last = snaps[0], snaps[-1]
        used = sorted((last[t] - first.get(t, 0) for t in last), reverse=True)
        tick_ms = 1000 / os.sysconf("SC_CLK_TCK")
        return {"loop_cpu_ms_per_msg": round(used[0] * tick_ms / delivered, 2),
                "other_threads_cpu_ms_per_msg": round(sum(used[1:]) * tick_ms / delivered, 2)}


class Profiled(Threads):
    """``app.py`` as usual, with py-spy attached once it listens (and stopped before it, so the
    profile is written)."""
    out = ""

    def _start(self) -> None:
        super()._start()
        self.spy = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "-r", "200", "--gil",
                                     "--threads", "--format", "raw", "-o", self.out, "--pid", str(self.proc.pid)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)          # py-spy attached

    def stop(self) -> None:
        spy = getattr(self, "spy", None)
        if spy is not None:
            spy.send_signal(signal.SIGINT)      # py-spy writes its profile on SIGINT
            try:
                spy.wait(timeout=60)
            except subprocess.TimeoutExpired:
                spy.kill()
        super().stop()


class Straced(Threads):
    """``app.py`` as usual, with ``strace -f -c`` attached once it listens (stopped before it, so the
    counts are written): system calls of the whole process (every thread) during the senders' run."""
    out = ""

    def _start(self) -> None:
        super()._start()
        self.tracer = subprocess.Popen(["strace", "-f", "-c", "-o", self.out, "-p", str(self.proc.pid)],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)          # strace attached

    def stop(self) -> None:
        tracer = getattr(self, "tracer", None)
        if tracer is not None:
            tracer.send_signal(signal.SIGINT)   # strace writes its table when it detaches
            try:
                tracer.wait(timeout=60)
            except subprocess.TimeoutExpired:
                tracer.kill()
        super().stop()


def per_message(table: str, messages: int) -> dict[str, float]:
    """``strace -c``'s table as calls per message (errors included), largest first."""
    calls: dict[str, float] = {}
    for line in table.splitlines():
        parts = line.split()
        if len(parts) >= 5 and parts[0].replace(".", "", 1).isdigit() and parts[-1] != "total":
            calls[parts[-1]] = round(int(parts[3]) / messages, 2)
    return dict(sorted(calls.items(), key=lambda kv: -kv[1]))


def one_run(args: argparse.Namespace, root: Path, off: list[str], profile: str | None = None,
            strace: str | None = None, extra: tuple[str, ...] = ()) -> dict:
    work = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    try:
        servers.ROOT = root
        if off or args.flow is not None:
            fake = work / "launch"
            fake.mkdir()
            (fake / "app.py").write_text(LAUNCHER.format(root=str(root), off=off, flow=args.flow))
            servers.ROOT = fake
        run = work / "run"
        run.mkdir()
        saved = submission.Mailflow
        submission.Mailflow = Threads
        if profile:
            Profiled.out = profile
            submission.Mailflow = Profiled
        elif strace:
            Straced.out = strace
            submission.Mailflow = Straced
        made: list[Threads] = []
        kind = submission.Mailflow

        def tracked(*a, **k):
            k["extra"] = [*(k.get("extra") or []), *extra]
            server = kind(*a, **k)
            made.append(server)
            return server
        submission.Mailflow = tracked
        try:
            out = submission.run(run, args.messages, args.connections, args.reuse, args.viewers, args.seconds)
        finally:
            submission.Mailflow = saved
    finally:
        spent.discard(work)             # deleted when the benchmark ends (sidebyside/spent.py)
    result = {k: round(out[k], 2) if isinstance(out.get(k), float) else out.get(k) for k in KEYS}
    if made:
        result.update(made[0].split(out.get("delivered") or 0))
    if strace and out.get("delivered"):
        result["syscalls_per_msg"] = per_message(Path(strace).read_text(), out["delivered"])
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--messages", type=int, default=300)
    p.add_argument("--connections", type=int, default=10)
    p.add_argument("--reuse", action="store_true", help="the senders reuse their connections")
    p.add_argument("--viewers", type=int, default=0)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--off", default="", help="comma-separated: reuse, flow, content, direct")
    p.add_argument("--flow", type=int, default=None, help="FLOW_LIMIT")
    p.add_argument("--reps", type=int, default=1, help="runs (with --baseline: pairs)")
    p.add_argument("--baseline", type=Path, help="another tree's app.py, alternated with this one")
    p.add_argument("--profile", help="py-spy raw output of this tree's app.py (one run)")
    p.add_argument("--strace", help="strace -f -c output of this tree's app.py (one run; prints calls per message)")
    p.add_argument("--args", default="", help="app.py options for this tree (one string)")
    p.add_argument("--baseline-args", default="", help="app.py options for the baseline (one string)")
    args = p.parse_args()
    off = [o for o in args.off.split(",") if o]
    unknown = set(off) - {"reuse", "flow", "content", "direct"}
    if unknown:
        p.error(f"--off: unknown {', '.join(sorted(unknown))}")
    common = {"off": off, "flow": args.flow, "connections": args.connections, "reuse": args.reuse}
    if args.profile:
        print(json.dumps({**common, "tree": "this", "profile": args.profile,
                          **one_run(args, ROOT, off, os.path.abspath(args.profile),
                                    extra=tuple(shlex.split(args.args)))}), flush=True)
        return
    if args.strace:
        print(json.dumps({**common, "tree": "this", "strace": args.strace,
                          **one_run(args, ROOT, off, strace=os.path.abspath(args.strace),
                                    extra=tuple(shlex.split(args.args)))}), flush=True)
        return
    trees = [("this", ROOT)] + ([("baseline", args.baseline.resolve())] if args.baseline else [])
    options = {"this": tuple(shlex.split(args.args)), "baseline": tuple(shlex.split(args.baseline_args))}
    runs: dict[str, list[dict]] = {name: [] for name, _ in trees}
    for rep in range(args.reps):
        for name, root in alternating(trees, rep):
            result = one_run(args, root, off, extra=options[name])
            runs[name].append(result)
            print(json.dumps({**common, "tree": name, "rep": rep + 1, **result}), flush=True)
    if args.baseline:
        summary: dict = {"pairs": args.reps}
        for key in RATIOS:
            this = [r[key] for r in runs["this"] if r.get(key)]
            base = [r[key] for r in runs["baseline"] if r.get(key)]
            ratios = [a[key] / b[key] for a, b in zip(runs["this"], runs["baseline"]) if a.get(key) and b.get(key)]
            if this and base and ratios:
                summary[key] = {"baseline": round(statistics.median(base), 2), "this": round(statistics.median(this), 2),
                                "ratio": round(statistics.median(ratios), 3),
                                "ratio_range": [round(min(ratios), 3), round(max(ratios), 3)]}
        print(json.dumps({**common, "summary": summary}), flush=True)


if __name__ == "__main__":
    main()
