"""A lecture hall past one web process: V viewers on one process, or split over the mail process and
web-only processes joined by Flask-SocketIO's Redis queue (simulator/web/hall.py).

    .venv/bin/python bench/bench_hall.py                       # 300 viewers, 100 messages, 3 repetitions
    .venv/bin/python bench/bench_hall.py --viewers 60 --messages 20 --reps 1     # a quick look

Theory of operation: the lecture-hall measure of ``bench/run`` (sidebyside/hall.py), in four
layouts, alternating within each repetition (the order rotates):

- ``single``  every viewer on the mail process, no queue (what ``bench/run`` measures);
- ``queue``   every viewer on the mail process, with ``--message-queue``: the queue's own cost;
- ``split``   half on the mail process, half on one ``--web-only`` process;
- ``offload`` every viewer on one ``--web-only`` process; the mail process serves none.

Each run: a private ``redis-server`` on a free loopback port (nothing saved), a fresh ``app.py``
(sidebyside.servers.Mailflow), the web-only process if any, the viewers (sidebyside/viewers.py,
one process per web process, each viewer one WebSocket), then M messages at a classroom's pace (one
reused submission connection, one after another: 5 hops each, every hop broadcast to every viewer).
Figures: hop → viewer delay (p50/p95/p99 pooled over every event at every viewer of a process; the
row's p95 is the worse process's), the fewest events any viewer received (all must receive all),
and CPU seconds of the mail process and of the web-only process during the run.  Processes are
ended by pid.  Not part of the test suite.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(ROOT), str(BENCH)]

from sidebyside import procs  # noqa: E402
from sidebyside.hall import send_at_class_pace  # noqa: E402
from sidebyside.servers import Mailflow, free_port  # noqa: E402
from sidebyside.submission import start_viewers, stop_viewers  # noqa: E402

LAYOUTS = ("single", "queue", "split", "offload")


def start_redis(workdir: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(["redis-server", "--save", "", "--appendonly", "no", "--bind", "127.0.0.1",
                             "--port", str(port), "--dir", str(workdir)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import redis
    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=1)

    def up() -> bool:
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
    if not procs.wait_for(up, 10, 0.05):
        raise RuntimeError("redis-server did not start")
    client.close()
    return proc, f"redis://127.0.0.1:{port}/0"


def start_web_only(workdir: Path, data: Path, main_port: int, queue: str) -> tuple[subprocess.Popen, int]:
    ports_file = workdir / "web.json"
    with (workdir / "web.log").open("w") as log:
        proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--web-only", "--data", str(data),
                                 "--web-port", "0", "--main-web", f"http://127.0.0.1:{main_port}/",
                                 "--message-queue", queue, "--ports-file", str(ports_file)],
                                cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    if not procs.wait_for(lambda: ports_file.exists() or proc.poll() is not None, 30) or proc.poll() is not None:
        raise RuntimeError(f"the web-only process did not start: {(workdir / 'web.log').read_text()[-800:]}")
    return proc, json.loads(ports_file.read_text())["web"]


def run(layout: str, workdir: Path, viewers: int, messages: int, bound: float) -> dict:
    out: dict = {"layout": layout, "viewers": viewers, "messages": messages}
    redis_proc = web_proc = None
    viewer_procs: list[tuple[str, subprocess.Popen]] = []
    queue = None
    if layout != "single":
        redis_proc, queue = start_redis(workdir)
    server = Mailflow(workdir, extra=["--message-queue", queue] if queue else [])
    try:
        server.start()
        if layout in ("split", "offload"):
            web_proc, web_port = start_web_only(workdir, server.data, server.ports["web"], queue)
        shares = {"single": [("main", viewers)], "queue": [("main", viewers)],
                  "split": [("main", viewers // 2), ("web", viewers - viewers // 2)],
                  "offload": [("web", viewers)]}[layout]
        joined = 0
        for where, count in shares:
            proc, ready = start_viewers(server.ports["web"] if where == "main" else web_port, count)
            viewer_procs.append((where, proc))
            joined += ready.get("ready", 0)
        out["joined"] = joined
        roots = {"main": [server.proc.pid], "web": [web_proc.pid] if web_proc else []}
        cpu_before = {k: procs.cpu_seconds(v) for k, v in roots.items()}
        out.update(send_at_class_pace(server, server.ports["submission"], messages, bound))
        out["cpu_s"] = {k: round(procs.cpu_seconds(v) - cpu_before[k], 2) for k, v in roots.items()}
        per = {}
        for where, proc in viewer_procs:
            per[where] = stop_viewers(proc)
        viewer_procs = []
        out["per_process"] = per
        out["p95_ms"] = max((p["p95_ms"] for p in per.values() if p["p95_ms"] is not None), default=None)
        out["p50_ms"] = max((p["p50_ms"] for p in per.values() if p["p50_ms"] is not None), default=None)
        out["p99_ms"] = max((p["p99_ms"] for p in per.values() if p["p99_ms"] is not None), default=None)
        out["events_min"] = min(p["events_min"] for p in per.values())
        out["events_max"] = max(p["events_max"] for p in per.values())
        return out
    finally:
        for _, proc in viewer_procs:
            procs.end(proc, grace=5)
        procs.end(web_proc)
        server.stop()
        procs.end(redis_proc)


def _median(rows: list[dict], key: str, digits: int = 0) -> str:
    values = [r[key] for r in rows if r.get(key) is not None]
    if not values:
        return "—"
    return (f"{statistics.median(values):,.{digits}f} [{min(values):,.{digits}f}–{max(values):,.{digits}f}]"
            if len(values) > 1 else f"{values[0]:,.{digits}f}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--viewers", type=int, default=300)
    p.add_argument("--messages", type=int, default=100)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--bound", type=float, default=120.0, help="seconds a run may send for")
    p.add_argument("--layouts", default=",".join(LAYOUTS))
    p.add_argument("--json", type=Path, default=None, help="write every run's figures here")
    args = p.parse_args(argv)
    if not shutil.which("redis-server"):
        print("bench_hall: redis-server is missing (Debian: apt-get install redis-server)", file=sys.stderr)
        return 2
    layouts = [x for x in args.layouts.split(",") if x]
    rows: dict[str, list[dict]] = {x: [] for x in layouts}
    with tempfile.TemporaryDirectory(prefix="mailflow-hall-") as tmp:
        for rep in range(args.reps):
            order = layouts[rep % len(layouts):] + layouts[:rep % len(layouts)]
            for layout in order:
                workdir = Path(tmp) / f"{layout}-{rep}"
                workdir.mkdir()
                r = run(layout, workdir, args.viewers, args.messages, args.bound)
                rows[layout].append(r)
                print(json.dumps(r), flush=True)
                shutil.rmtree(workdir, ignore_errors=True)
    print(f"\n{args.viewers} viewers, {args.messages} messages, {args.reps} repetitions: median [min–max]\n")
    print("| layout | joined | hop → viewer p50 ms | p95 ms | p99 ms | fewest events / viewer | CPU s mail process | CPU s web-only |")
    print("|---|---|---|---|---|---|---|---|")
    for layout, runs in rows.items():
        for r in runs:
            r["cpu_main"], r["cpu_web"] = r["cpu_s"]["main"], r["cpu_s"]["web"] if r["cpu_s"]["web"] else None
        print(f"| {layout} | {_median(runs, 'joined')} | {_median(runs, 'p50_ms')} | {_median(runs, 'p95_ms')} | "
              f"{_median(runs, 'p99_ms')} | {_median(runs, 'events_min')} | {_median(runs, 'cpu_main', 1)} | "
              f"{_median(runs, 'cpu_web', 1)} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
