#!/usr/bin/env python3
"""What 30 Socket.IO viewers cost the server: CPU per submitted message with V viewers and with none.

Theory of operation: for each repetition and each tree (this one, and ``--baseline DIR``, a copy of
the tree before a change), a fresh ``app.py`` is started from that tree (every port 0, a temporary
data directory), ``bench/sidebyside/viewers.py`` joins V viewers to its web port, and
``bench/sidebyside/sender.py`` submits N messages with AUTH over c connections; when every message
is in bob's ``new/`` the server's CPU (utime + stime from ``/proc/<pid>/stat``, the process and its
children) is read.  The same run is made with no viewers, so each repetition gives CPU ms per
message with and without viewers, and their difference: what the viewers cost per message; also
the delivered msgs/s both ways (the rate the target compares) and the viewers' own process's CPU
(it shares the two cores).  The viewers offer permessage-deflate, as browsers do (``--plain``: they
do not; the measurements before 2026-12-05 12:00 were made so).  The
trees alternate within a repetition, so both see the same machine load: compare the per-repetition
ratios on a shared machine, not the absolute figures.  ``--off pace,rooms`` instead alternates this
tree with the bridge's batch pacing and its skipping of empty rooms turned off (a launcher patches
:mod:`simulator.web.bridge` before ``app.py`` runs), with viewers only, and prints the ratio of CPU
per message on ÷ off and the batches each viewer got (``fanout``: the batches through
python-socketio's own emit, framed and compressed per page).  ``--profile FILE`` runs one server (this
tree, with viewers) under ``py-spy record --gil --format raw --threads`` instead, and prints the
CPU seconds of each thread (by id: py-spy's raw profile names the threads by id).  ``--threads`` runs
without py-spy (which costs the server more than the viewers do) and reads every thread's utime and
stime apart (and the precise time on a CPU from schedstat: a thread's ticks round down to 10 ms),
grouped by the thread's Python name (a launcher records them): the mail loop, the
bridge, the Engine.IO writers, the WebSocket readers.

    .venv/bin/python bench/bench_viewers.py                            # 30 viewers, 300 msgs, c=10, 3 reps
    .venv/bin/python bench/bench_viewers.py --baseline /tmp/before     # A/B against another tree
    .venv/bin/python bench/bench_viewers.py --this /tmp/after --baseline /tmp/before   # two copies
    .venv/bin/python bench/bench_viewers.py --off pace,rooms --reps 4  # the bridge's ideas off vs on
    .venv/bin/python bench/bench_viewers.py --profile /tmp/viewers.txt # where the viewers' CPU goes
    .venv/bin/python bench/bench_viewers.py --threads --reps 2         # CPU per thread group, user/system
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(BENCH), str(ROOT)]

from sidebyside import procs  # noqa: E402
from sidebyside.servers import PORT_NAMES  # noqa: E402
from sidebyside import alternating  # noqa: E402
from sidebyside import viewers as viewer_stats  # noqa: E402

SIDE = BENCH / "sidebyside"
# the threads that serve the pages: the bridge's sender, Engine.IO's writers, the WebSocket readers,
# the HTTP request threads (the mail loop and its executor are the other ones)
WEB_THREADS = ("_run", "writer", "simple_websocket.Base._thread", "_send_ping", "process_request_thread",
               "_service_task")
OFFER = "deflate"        # the viewers offer permessage-deflate, as browsers do; --plain: they do not


def start_viewers(port: int, count: int) -> tuple[subprocess.Popen, dict]:
    proc = subprocess.Popen([sys.executable, str(SIDE / "viewers.py"), str(port), str(count), OFFER],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    return proc, json.loads(proc.stdout.readline() or "{}")


def task_cpu(root: int, split: bool = False) -> dict[int, Any]:
    """utime + stime in seconds of every thread of every process under ``root``, by thread id
    (``split``: the pair (utime, stime))."""
    ticks = os.sysconf("SC_CLK_TCK")
    out: dict[int, Any] = {}
    for pid in procs.tree(root):
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                fields = open(f"/proc/{pid}/task/{tid}/stat").read().rpartition(")")[2].split()
            except OSError:
                continue
            user, system = int(fields[11]) / ticks, int(fields[12]) / ticks
            if split:       # + the time on a CPU in ns (schedstat): a thread's ticks round down to 10 ms
                try:
                    ran = int(open(f"/proc/{pid}/task/{tid}/schedstat").read().split()[0]) / 1e9
                except (OSError, ValueError, IndexError):
                    ran = user + system
                out[int(tid)] = (user, system, ran)
            else:
                out[int(tid)] = user + system
    return out


def thread_group(name: str) -> str:
    """A thread's group: its name without the numbers ("Thread-36 (writer)" -> "writer")."""
    match = re.search(r"\((.+)\)$", name)
    return match.group(1) if match else re.sub(r"[-_]?\d+$", "", name) or "?"


def cpu_by_group(before: dict[int, tuple[float, float, float]], after: dict[int, tuple[float, float, float]],
                 names: dict[str, str]) -> dict[str, dict]:
    """CPU seconds (user, system in clock ticks; ``ran``: time on a CPU from schedstat, in ns, the
    precise total) spent between two readings of task_cpu(split=True), summed per thread group; a
    thread without a Python name (the interpreter's own, py-spy's) is "?"."""
    groups: dict[str, dict] = {}
    for tid, (user, system, ran) in after.items():
        u0, s0, r0 = before.get(tid, (0.0, 0.0, 0.0))
        group = groups.setdefault(thread_group(names.get(str(tid), "?")),
                                  {"threads": 0, "user": 0.0, "system": 0.0, "ran": 0.0})
        group["threads"] += 1
        group["user"] += user - u0
        group["system"] += system - s0
        group["ran"] += ran - r0
    return {k: {"threads": v["threads"], "user": round(v["user"], 3), "system": round(v["system"], 3),
                "ran": round(v["ran"], 4)}
            for k, v in sorted(groups.items(), key=lambda kv: -kv[1]["ran"])}


# --off: the same tree with the bridge's ideas turned off, through a launcher that patches
# simulator.web.bridge before app.py runs (a before/after in the same minutes)
LAUNCHER = '''import os, runpy, sys
os.chdir({root!r})
sys.path.insert(0, {root!r})
import simulator.web.bridge as b
off = {off!r}
if "pace" in off:
    b.PACE_PER_PAGE = 0.0
if "rooms" in off:
    b.Bridge.listeners = lambda self: dict.fromkeys(b.ROOMS, b.LISTENED)
if "fanout" in off:     # python-socketio's own emit: per-page framing and compression
    import simulator.web.fanout as f
    f.emit = lambda socketio, event, data, room, packet=None: socketio.emit(event, data, to=room)
names = {names!r}
if names:       # --threads: every thread's name by its native id, for the CPU per thread group
    import json, threading, time
    def _names():
        seen = {{}}
        while True:
            seen.update((str(t.native_id), t.name) for t in threading.enumerate())
            with open(names + ".tmp", "w") as f:
                json.dump(seen, f)
            os.replace(names + ".tmp", names)
            time.sleep(0.2)
    threading.Thread(target=_names, name="bench-names", daemon=True).start()
sys.argv = [os.path.join({root!r}, "app.py")] + sys.argv[1:]
runpy.run_path(os.path.join({root!r}, "app.py"), run_name="__main__")
'''


def one(tree: Path, viewers: int, messages: int, connections: int, profile: str | None = None,
        off: tuple[str, ...] = (), threads: bool = False) -> dict:
    work = Path(tempfile.mkdtemp(prefix="bench-viewers-"))
    ports_file = work / "ports.json"
    program = tree / "app.py"
    names = str(work / "threads.json") if threads else ""
    if off or threads:
        program = work / "launch.py"
        program.write_text(LAUNCHER.format(root=str(tree), off=list(off), names=names))
    command = [sys.executable, str(program), "--data", str(work / "data"),
               *[f"--{name}-port=0" for name in PORT_NAMES], "--ports-file", str(ports_file)]
    if profile:
        command = [str(Path(sys.executable).parent / "py-spy"), "record", "-r", "200", "--gil", "--format", "raw",
                   "--threads", "-o", profile, "--", *command]
    proc = subprocess.Popen(command, cwd=tree, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=(work / "app.log").open("w"))
    viewer_proc = None
    try:
        if not procs.wait_for(lambda: ports_file.exists() or proc.poll() is not None, 60, 0.01) or proc.poll() is not None:
            raise RuntimeError((work / "app.log").read_text()[-1500:])
        ports = json.loads(ports_file.read_text())
        out: dict = {"tree": str(tree), "viewers": viewers}
        if viewers:
            viewer_proc, ready = start_viewers(ports["web"], viewers)
            out["joined"] = ready.get("ready", 0)
            out["compressed"] = ready.get("compressed", 0)
        new = work / "data" / "mail" / "beta.test" / "bob" / "new"
        cpu0 = procs.cpu_seconds([proc.pid])
        client0 = procs.cpu_seconds([viewer_proc.pid]) if viewer_proc is not None else 0.0
        tasks0 = task_cpu(proc.pid) if profile else {}
        split0 = task_cpu(proc.pid, split=True) if threads else {}
        started = time.monotonic()
        sent = subprocess.run([sys.executable, str(SIDE / "sender.py"), "--port", str(ports["submission"]),
                               "--user", "alice@alpha.test", "--password", "alice", "--rcpt", "bob@beta.test",
                               "--messages", str(messages), "--connections", str(connections), "--seconds", "120"],
                              capture_output=True, text=True, timeout=200)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not new.is_dir() or len(os.listdir(new)) < messages):
            time.sleep(0.02)
        # delivered msgs/s, the rate the target compares (with viewers ÷ without; 20 ms polling)
        out["msgs_per_s"] = round(len(os.listdir(new)) / (time.monotonic() - started), 1) if new.is_dir() else 0
        time.sleep(1.0)                  # the last hops' events reach the viewers
        cpu1 = procs.cpu_seconds([proc.pid])
        if viewer_proc is not None:     # the viewers' own process: on these same two cores
            out["client_ms_per_msg"] = round((procs.cpu_seconds([viewer_proc.pid]) - client0) * 1000 / max(1, messages), 2)
        if threads:     # CPU per thread group, per message, user and system apart
            groups = cpu_by_group(split0, task_cpu(proc.pid, split=True), json.loads(Path(names).read_text()))
            n = max(1, messages)
            out["threads_ms_per_msg"] = {k: {"n": v["threads"], "user": round(v["user"] * 1000 / n, 3),
                                             "system": round(v["system"] * 1000 / n, 3),
                                             "ran": round(v["ran"] * 1000 / n, 3)} for k, v in groups.items()}
        if profile:     # CPU seconds per thread id (py-spy's raw profile names the threads by id)
            after = task_cpu(proc.pid)
            out["threads"] = sorted(((tid, round(t - tasks0.get(tid, 0), 3)) for tid, t in after.items()),
                                    key=lambda item: -item[1])[:40]
        out["delivered"] = len(os.listdir(new)) if new.is_dir() else 0
        out["cpu_ms_per_msg"] = round((cpu1 - cpu0) * 1000 / max(1, out["delivered"]), 2)
        if sent.returncode:
            out["sender_error"] = sent.stderr[-300:]
        if viewer_proc is not None:
            viewer_proc.stdin.write("stop\n")
            viewer_proc.stdin.flush()
            answer = json.loads(viewer_proc.stdout.readline() or '{"viewers": []}')
            procs.end(viewer_proc, grace=5)
            viewer_proc = None
            seen = viewer_stats.summarise(answer)
            out["events_per_viewer"] = [seen["events_min"], seen["events_max"]]
            out["batches_per_viewer"] = statistics.median(v["batches"] for v in answer["viewers"]) \
                if answer["viewers"] else 0
            out["hop_to_viewer_p95_ms"] = seen["p95_ms"]
        return out
    finally:
        if viewer_proc is not None:
            procs.end(viewer_proc)
        if profile and proc.poll() is None:
            proc.send_signal(signal.SIGINT)      # py-spy writes its profile on ^C
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                pass
        procs.end(proc, grace=10)
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--viewers", type=int, default=30)
    p.add_argument("--messages", type=int, default=300)
    p.add_argument("--connections", type=int, default=10)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--baseline", type=Path, help="another tree to alternate with (e.g. a copy before a change)")
    p.add_argument("--this", type=Path, help="the tree measured as 'this' (default: this one)")
    p.add_argument("--profile", help="run once under py-spy (this tree, with viewers) into this file")
    p.add_argument("--off", default="",
                   help="comma-separated bridge ideas to turn off (pace, rooms, fanout): alternate this tree "
                        "with them "
                        "off and on, with viewers only, and compare the CPU per message")
    p.add_argument("--threads", action="store_true",
                   help="CPU per message of each thread group (user and system apart), with no viewer and with "
                        "V, this tree and --baseline alternating: where the viewers' cost lands")
    p.add_argument("--plain", action="store_true",
                   help="viewers that do not offer permessage-deflate (browsers do; the figures before 12:00 were "
                        "taken without it)")
    args = p.parse_args()
    this = (args.this or ROOT).resolve()
    if args.plain:
        global OFFER
        OFFER = "plain"
    if args.threads:
        trees = [("this", this)] + ([("baseline", args.baseline.resolve())] if args.baseline else [])
        for rep in range(args.reps):
            for name, tree in alternating(trees, rep):
                for count in (0, args.viewers):
                    run = one(tree, count, args.messages, args.connections, threads=True)
                    print(json.dumps({"rep": rep + 1, "tree": name, "viewers": count,
                                      "cpu_ms_per_msg": run["cpu_ms_per_msg"],
                                      "batches_per_viewer": run.get("batches_per_viewer"),
                                      "compressed": run.get("compressed"), "events_per_viewer": run.get("events_per_viewer"),
                                      "hop_to_viewer_p95_ms": run.get("hop_to_viewer_p95_ms"),
                                      "web_threads_ms_per_msg": round(sum(
                                          v["ran"] for k, v in run["threads_ms_per_msg"].items()
                                          if k in WEB_THREADS), 3),
                                      "threads_ms_per_msg": run["threads_ms_per_msg"]}), flush=True)
        return
    if args.profile:
        print(json.dumps(one(ROOT, args.viewers, args.messages, args.connections, args.profile)))
        return
    if args.off:
        off = tuple(x for x in args.off.split(",") if x)
        ratios = []
        for rep in range(args.reps):
            runs = {}
            for name in alternating(("off", "on"), rep):
                runs[name] = one(ROOT, args.viewers, args.messages, args.connections, off=off if name == "off" else ())
            ratios.append(runs["on"]["cpu_ms_per_msg"] / runs["off"]["cpu_ms_per_msg"])
            print(json.dumps({"rep": rep + 1, **{f"{k}_{f}": runs[k].get(f) for k in ("off", "on")
                                                 for f in ("cpu_ms_per_msg", "msgs_per_s", "batches_per_viewer",
                                                           "events_per_viewer", "hop_to_viewer_p95_ms")},
                              "on_over_off": round(ratios[-1], 3)}), flush=True)
        print(json.dumps({"off": list(off), "on_over_off_median": round(statistics.median(ratios), 3),
                          "all": [round(r, 3) for r in ratios]}))
        return
    trees = [("this", this)] + ([("baseline", args.baseline.resolve())] if args.baseline else [])
    cost: dict[str, list[float]] = {name: [] for name, _ in trees}
    for rep in range(args.reps):
        order = alternating(trees, rep)
        for name, tree in order:
            none = one(tree, 0, args.messages, args.connections)
            some = one(tree, args.viewers, args.messages, args.connections)
            extra = some["cpu_ms_per_msg"] - none["cpu_ms_per_msg"]
            cost[name].append(extra)
            print(json.dumps({"rep": rep + 1, "tree": name, "none_ms": none["cpu_ms_per_msg"],
                              "viewers_ms": some["cpu_ms_per_msg"], "viewers_cost_ms": round(extra, 2),
                              "ratio_none_over_viewers": round(none["cpu_ms_per_msg"] / some["cpu_ms_per_msg"], 3),
                              "msgs_per_s": [none["msgs_per_s"], some["msgs_per_s"]],
                              "viewers_process_ms_per_msg": some.get("client_ms_per_msg"),
                              "rate_with_over_without": round(some["msgs_per_s"] / max(0.1, none["msgs_per_s"]), 3),
                              "events_per_viewer": some.get("events_per_viewer"), "compressed": some.get("compressed"),
                              "hop_to_viewer_p95_ms": some.get("hop_to_viewer_p95_ms")}), flush=True)
    for name, values in cost.items():
        print(json.dumps({"tree": name, "viewers_cost_ms_median": round(statistics.median(values), 2),
                          "all": [round(v, 2) for v in values]}))


if __name__ == "__main__":
    main()
