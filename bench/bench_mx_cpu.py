"""The MX's CPU per message, quickly, and A/B against another copy of the tree (issue 13).

``bench/run --only ingest`` measures the same beside Postfix, but starts the references and takes
minutes; this driver starts only ``app.py`` (defaults: TLS, web UI, JSON-lines log), sends with
Postfix's ``smtp-source`` into mx1.beta.test, waits until every message is in bob's ``new/`` and
reads the server's CPU time (utime + stime of the process and its disk helper, ``/proc/<pid>/stat``) over the
run.  With ``--baseline DIR`` (a copy of the tree, e.g. before a change) the two alternate within
each repetition, so both see the same machine load; the median of each and of the per-repetition
ratios is printed.  ``--profile OUT`` runs the server under ``py-spy record --gil --format raw``.
Each run also gives the delivered rate (messages in ``new/`` ÷ the time from the first connection
to the last arrival, the arrivals polled every 20 ms).  ``--args`` and ``--baseline-args`` add
``app.py`` options to either side: the same tree with and without a switch is an A/B too.

    python bench/bench_mx_cpu.py                          # reused connections, c=10, 1,500 msgs, 3 reps
    python bench/bench_mx_cpu.py --new -c 1 --reps 5      # a new connection per message, one at a time
    python bench/bench_mx_cpu.py --baseline /tmp/before   # A/B: /tmp/before beside this tree
    python bench/bench_mx_cpu.py --new --baseline . --baseline-args=--cpu-pinning=off   # one switch

Needs ``smtp-source`` (Debian ``postfix``).  Bounded: each run stops after ``--timeout`` seconds.
Loopback only; the server it started is stopped by its pid.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mxrun import app_command, listening, mx1_address  # noqa: E402  (bench/mxrun.py)
from sidebyside import alternating, procs, spent  # noqa: E402


ROOT = Path(__file__).resolve().parent.parent


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` and its descendants (the disk helper, simulator/diskhelper.py), with
    those of children it has reaped."""
    return procs.cpu_seconds([pid])


def one_run(tree: Path, args: argparse.Namespace, profile: str | None = None,
            extra: tuple[str, ...] = ()) -> tuple[float, float]:
    """(CPU milliseconds per delivered message, delivered msgs/s) of one server started from ``tree``
    with the ``app.py`` options ``extra``."""
    work = Path(tempfile.mkdtemp(prefix="mx-cpu-"))
    command = app_command(tree, work, "--smtp-sessions-per-address", "100", *extra)
    if profile:
        command = [str(Path(sys.executable).parent / "py-spy"), "record", "-r", "200", "--gil", "--format", "raw",
                   "--threads", "-o", profile, "--", *command]
    server = subprocess.Popen(command, cwd=tree, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pid = None
    try:
        ports = listening(work)
        address = mx1_address(ports)
        pid = app_pid(server.pid) if profile else server.pid
        box = work / "data" / "mail" / "beta.test" / "bob" / "new"
        began = cpu_seconds(pid)
        source = ["smtp-source", "-s", str(args.c), "-m", str(args.messages), "-l", str(args.size),
                  "-f", "alice@alpha.test", "-t", "bob@beta.test", "-M", "mx1.beta.test"]
        source += [] if args.new else ["-d"]
        start = time.monotonic()
        subprocess.run([*source, f"{address}:{ports['mx']}"], check=True, timeout=args.timeout)
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline and (not box.is_dir() or len(os.listdir(box)) < args.messages):
            time.sleep(0.02)
        elapsed = time.monotonic() - start
        delivered = len(os.listdir(box)) if box.is_dir() else 0
        return (cpu_seconds(pid) - began) * 1000 / max(delivered, 1), delivered / elapsed
    finally:
        # Under py-spy the app.py is stopped first: py-spy writes its profile when its child ends (a
        # SIGTERM to py-spy itself ends it without a profile and leaves app.py running).
        if profile and pid is not None:
            os.kill(pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.wait(timeout=30)         # py-spy ends once its child has, profile written
        procs.end(server, grace=30)
        spent.discard(work)             # deleted when the benchmark ends (sidebyside/spent.py)


def app_pid(spy: int) -> int:
    """The app.py that py-spy started (its child)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        children = Path(f"/proc/{spy}/task/{spy}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.05)
    raise RuntimeError("py-spy started no server")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-c", type=int, default=10, help="concurrent sessions (smtp-source -s)")
    parser.add_argument("-m", "--messages", type=int, default=1500)
    parser.add_argument("-l", "--size", type=int, default=2048, help="octets of payload per message")
    parser.add_argument("--new", action="store_true", help="a new connection per message (default: reused)")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--baseline", type=Path, help="another tree (a copy before a change): A/B")
    parser.add_argument("--profile", help="py-spy raw output file (one run, this tree)")
    parser.add_argument("--args", default="", help="app.py options for this tree (one string)")
    parser.add_argument("--baseline-args", default="", help="app.py options for the baseline (one string)")
    parser.add_argument("--timeout", type=float, default=120)
    args = parser.parse_args()
    if shutil.which("smtp-source") is None:
        raise SystemExit("bench_mx_cpu: smtp-source not found (apt-get install postfix)")
    if args.baseline_args and not args.baseline:
        parser.error("--baseline-args needs --baseline (use --baseline . for this tree)")
    mine, theirs = tuple(shlex.split(args.args)), tuple(shlex.split(args.baseline_args))
    if args.profile:
        cpu, _rate = one_run(ROOT, args, args.profile, mine)
        print(f"this tree: {cpu:.2f} ms CPU/msg (under py-spy); {args.profile}")
        return
    sides = {"this tree": (ROOT, mine), **({"baseline": (args.baseline.resolve(), theirs)} if args.baseline else {})}
    cpu: dict[str, list[float]] = {name: [] for name in sides}
    rate: dict[str, list[float]] = {name: [] for name in sides}
    for rep in range(args.reps):
        for name in alternating(sides, rep):
            tree, extra = sides[name]
            figures = one_run(tree, args, extra=extra)
            cpu[name].append(figures[0])
            rate[name].append(figures[1])
        print(f"rep {rep + 1}: " + ", ".join(f"{name} {cpu[name][-1]:.2f} ms, {rate[name][-1]:.0f} msgs/s"
                                             for name in sides), flush=True)
    mode = f"{'new' if args.new else 'reused'}, c={args.c}, {args.messages} x {args.size} octets"
    for name in sides:
        c, r = cpu[name], rate[name]
        print(f"{name}: {statistics.median(c):.2f} ms CPU/msg median [{min(c):.2f}-{max(c):.2f}], "
              f"{statistics.median(r):.0f} msgs/s [{min(r):.0f}-{max(r):.0f}] ({mode})")
    if args.baseline:
        for label, values in (("CPU/msg", cpu), ("msgs/s", rate)):
            ratios = [a / b for a, b in zip(values["this tree"], values["baseline"])]
            print(f"this tree / baseline, {label}: {statistics.median(ratios):.2f}x median "
                  f"[{min(ratios):.2f}-{max(ratios):.2f}]")


if __name__ == "__main__":
    main()
