"""Where app.py's resident memory is: idle after a restart, and after messages with viewers.

    .venv/bin/python bench/bench_memory.py                        # idle only: about 10 s
    .venv/bin/python bench/bench_memory.py --viewers 30 --messages 200

Theory of operation
-------------------
``app.py`` is started the way ``bench/sidebyside/startup.py`` starts it (defaults, every port 0,
``--ports-file``), once on a fresh data directory and again on the same one: the restart is what is
measured, as there.  After ``--idle`` seconds the report gives the RSS (``VmRSS``), its anonymous
and file-backed parts, the largest mappings of ``/proc/<pid>/smaps`` (the interpreter's heap and
arenas are ``[anon]``/``[heap]``; a shared library is its path), the thread count, and the process's
CPU seconds when its ports file appeared (start-up work, less noisy than wall time on a busy
machine).  A restart in another directory under ``python -X importtime`` lists the top-level
packages a default run imports before its ports file, with their cumulative import time: what to
make lazy.  With ``--viewers``/``--messages`` the sidebyside viewers join and the messages cross the
sandbox (submission, 10 connections, as startup.py does) and the RSS and threads are reported again.
Processes are ended by pid.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(ROOT), str(BENCH)]

from sidebyside.servers import Mailflow  # noqa: E402
from sidebyside.submission import HERE, PASSWORD, RCPT, USER, start_viewers, stop_viewers  # noqa: E402

WATCH = ("networkx", "redis", "cryptography", "flask", "socketio", "dns", "aiosmtpd", "yaml", "jinja2")


def status(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {k: v.strip() for k, _, v in (line.partition(":") for line in lines)}


def mappings(pid: int, top: int = 6) -> list[tuple[str, float]]:
    rss: collections.Counter = collections.Counter()
    name = "[anon]"
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
            parts = line.split()
            name = parts[5] if len(parts) > 5 else "[anon]"
        elif line.startswith("Rss:"):
            rss[name] += int(line.split()[1])
    return [(n, kib / 1024) for n, kib in rss.most_common(top)]


def cpu_at_start(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def snapshot(pid: int) -> dict:
    st = status(pid)
    return {"rss_mib": int(st["VmRSS"].split()[0]) / 1024, "anon_mib": int(st["RssAnon"].split()[0]) / 1024,
            "file_mib": int(st["RssFile"].split()[0]) / 1024, "threads": int(st["Threads"]),
            "largest": [f"{mib:.1f} MiB {name}" for name, mib in mappings(pid)]}


def imported_packages(workdir: Path) -> dict[str, float]:
    """Top-level packages a restart imports before its ports file, with their cumulative import ms."""
    server = Mailflow(workdir)
    server.start()                      # the first start makes the certificate (and imports cryptography)
    server.stop()
    log = workdir / "app.log"
    os.environ["PYTHONPROFILEIMPORTTIME"] = "1"         # inherited by app.py (-X importtime)
    try:
        server.start()
        server.stop()
    finally:
        del os.environ["PYTHONPROFILEIMPORTTIME"]
    found: dict[str, float] = {}
    loaded: set[str] = set()
    for line in log.read_text().splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \| *(\S+)", line)
        if match:                       # the package's own line carries the cumulative time of all of it
            name, ms = match.group(2), int(match.group(1)) / 1000
            top = name.split(".")[0]
            if name != top or ms >= 0.5:        # a failed attempt (python-socketio trying redis) takes µs
                loaded.add(top)
            if name == top:
                found[top] = max(found.get(top, 0.0), ms)
    return {name: ms for name, ms in found.items() if name in loaded}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--idle", type=float, default=3.0, help="seconds left alone before the idle figures")
    p.add_argument("--viewers", type=int, default=0)
    p.add_argument("--messages", type=int, default=0)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="mailflow-mem-") as tmp:
        work = Path(tmp)
        server = Mailflow(work / "run")
        server.start()
        server.stop()
        server.start()
        out: dict = {}
        try:
            pid = server.proc.pid
            out["restart_s"] = round(server.started_in, 3)
            out["cpu_at_ports_file_s"] = cpu_at_start(pid)
            time.sleep(args.idle)
            out["idle"] = snapshot(pid)
            if args.viewers or args.messages:
                viewer_proc = None
                if args.viewers:
                    viewer_proc, ready = start_viewers(server.ports["web"], args.viewers)
                    out["viewers_joined"] = ready.get("ready", 0)
                if args.messages:
                    watch = server.arrivals(RCPT)
                    command = [sys.executable, str(HERE / "sender.py"), "--port", str(server.ports["submission"]),
                               "--user", USER, "--password", PASSWORD, "--rcpt", RCPT, "--messages",
                               str(args.messages), "--connections", "10", "--reuse", "--seconds", "60", "--tag", "mem"]
                    done = subprocess.run(command, capture_output=True, text=True, timeout=150)
                    sent = json.loads(done.stdout.strip().splitlines()[-1])
                    watch.wait(len(sent["stamps"]), 60)
                    out["delivered"] = watch.count()
                    watch.close()
                out["after"] = snapshot(pid)
                if viewer_proc is not None:
                    stop_viewers(viewer_proc)
        finally:
            server.stop()
        packages = imported_packages(work / "imports")
        out["imports_ms"] = {name: round(ms, 1) for name, ms in sorted(packages.items(), key=lambda kv: -kv[1])[:15]}
        out["not_imported"] = [name for name in WATCH if name not in packages]
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
