"""Sequential SMTP session latency into the MX, per phase, and A/B against another copy of the tree.

Theory of operation: ``bench/run --only latency`` measures whole sessions beside Postfix but starts
the references; this driver starts only ``app.py`` (defaults: TLS offered, web UI, JSON-lines log)
and runs ``--sessions`` whole sessions into mx1.beta.test one after another, as
``bench/sidebyside/latency.py`` does (smtplib with ``local_hostname``, a 2 KB message), but times
each step apart: connect + greeting, EHLO, MAIL, RCPT, DATA up to its 250, QUIT up to its 221.  It
also reads the server's CPU time (utime + stime, ``/proc/<pid>/stat``) over the sessions, so the
figure splits into the server's CPU per session and the rest (the client, the disk, the wake-ups).
With ``--baseline DIR`` the two trees alternate within each repetition (the same machine load);
the median p50 of each, and the per-repetition ratio, are printed.  ``--profile OUT`` attaches
``py-spy record --format raw --threads`` (add ``--gil`` for Python CPU only) to the server of the
first run of this tree.

    python bench/bench_mx_latency.py                            # 300 sessions, 3 reps
    python bench/bench_mx_latency.py --baseline /tmp/before     # A/B
    python bench/bench_mx_latency.py --reps 1 --profile /tmp/lat.txt [--gil]

Loopback only; nothing asks the machine's resolver (the sandbox's DNS gives mx1's address); the
server it started is stopped by its pid.  Bounded by ``--timeout`` seconds per run.
"""
from __future__ import annotations

import argparse
import os
import signal
import smtplib
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent))
from sidebyside import alternating  # noqa: E402
from mxrun import app_command, listening, mx1_address  # noqa: E402  (bench/mxrun.py)
from sidebyside import procs, spent  # noqa: E402
from sidebyside.sender import message          # noqa: E402  the same 2 KB message as bench/run

ROOT = Path(__file__).resolve().parent.parent
TICK = os.sysconf("SC_CLK_TCK")
HELO = "client.bench.test"
SENDER, RCPT = "alice@alpha.test", "bob@beta.test"
PHASES = ("connect", "ehlo", "mail", "rcpt", "data", "quit")
WARMUP = 5


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * p
    low = int(k)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def one_session(address: str, port: int, data: bytes) -> list[float]:
    marks = [time.perf_counter()]
    smtp = smtplib.SMTP(address, port, local_hostname=HELO, timeout=30)
    marks.append(time.perf_counter())
    smtp.ehlo()
    marks.append(time.perf_counter())
    smtp.mail(SENDER)
    marks.append(time.perf_counter())
    smtp.rcpt(RCPT)
    marks.append(time.perf_counter())
    code, _ = smtp.data(data)
    if code != 250:
        raise RuntimeError(f"DATA answered {code}")
    marks.append(time.perf_counter())
    smtp.quit()
    marks.append(time.perf_counter())
    return [b - a for a, b in zip(marks, marks[1:])]


def one_run(tree: Path, args: argparse.Namespace, profile: str | None = None) -> dict:
    work = Path(tempfile.mkdtemp(prefix="mx-lat-"))
    command = app_command(tree, work)
    server = subprocess.Popen(command, cwd=tree, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    spy = None
    try:
        ports = listening(work)
        address = mx1_address(ports)
        port = ports["mx"]
        for n in range(WARMUP):
            one_session(address, port, message(SENDER, RCPT, f"warm.{n}.{time.time()}@client.bench.test", args.size))
        if profile:
            spy = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "-r", "200",
                                    "--format", "raw", "--threads", *(["--gil"] if args.gil else []),
                                    "-o", profile, "--pid", str(server.pid)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1.0)
        phases: list[list[float]] = []
        began, started = cpu_seconds(server.pid), time.monotonic()
        for n in range(args.sessions):
            if time.monotonic() - started > args.timeout:
                break
            data = message(SENDER, RCPT, f"lat.{n}.{time.time()}@client.bench.test", args.size)
            phases.append(one_session(address, port, data))
        cpu = cpu_seconds(server.pid) - began
        totals = [sum(p) for p in phases]
        result = {"sessions": len(phases), "p50_ms": percentile(totals, 0.5) * 1000,
                  "p95_ms": percentile(totals, 0.95) * 1000, "cpu_ms": cpu * 1000 / max(len(phases), 1),
                  "phases_p50_ms": {name: percentile([p[i] for p in phases], 0.5) * 1000
                                    for i, name in enumerate(PHASES)}}
        return result
    finally:
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            try:
                spy.wait(timeout=60)
            except subprocess.TimeoutExpired:
                spy.kill()
        procs.end(server, grace=30)
        spent.discard(work)             # deleted when the benchmark ends (sidebyside/spent.py)


def show(name: str, r: dict) -> str:
    phases = " ".join(f"{k} {v:.2f}" for k, v in r["phases_p50_ms"].items())
    return (f"{name}: p50 {r['p50_ms']:.2f} p95 {r['p95_ms']:.2f} ms, server CPU {r['cpu_ms']:.2f} ms/session"
            f" [{phases}]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=300)
    parser.add_argument("-l", "--size", type=int, default=2048)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--baseline", type=Path, help="another tree (a copy before a change): A/B")
    parser.add_argument("--profile", help="py-spy raw output file (first run of this tree)")
    parser.add_argument("--gil", action="store_true", help="with --profile: py-spy --gil")
    parser.add_argument("--timeout", type=float, default=120)
    args = parser.parse_args()
    sides = {"this tree": ROOT, **({"baseline": args.baseline.resolve()} if args.baseline else {})}
    runs: dict[str, list[dict]] = {name: [] for name in sides}
    for rep in range(args.reps):
        order = alternating(sides.items(), rep + 1)   # the baseline first, as before
        for name, tree in order:
            profile = args.profile if (args.profile and name == "this tree" and rep == 0) else None
            runs[name].append(one_run(tree, args, profile))
            print(f"rep {rep + 1} " + show(name, runs[name][-1]), flush=True)
    for name, results in runs.items():
        p50s = [r["p50_ms"] for r in results]
        cpus = [r["cpu_ms"] for r in results]
        print(f"{name}: p50 {statistics.median(p50s):.2f} ms median [{min(p50s):.2f}-{max(p50s):.2f}], "
              f"server CPU {statistics.median(cpus):.2f} ms/session [{min(cpus):.2f}-{max(cpus):.2f}]")
    if args.baseline:
        ratios = [a["p50_ms"] / b["p50_ms"] for a, b in zip(runs["this tree"], runs["baseline"])]
        cpu = [a["cpu_ms"] / b["cpu_ms"] for a, b in zip(runs["this tree"], runs["baseline"])]
        print(f"this tree / baseline: p50 {statistics.median(ratios):.2f}x [{min(ratios):.2f}-{max(ratios):.2f}], "
              f"CPU {statistics.median(cpu):.2f}x [{min(cpu):.2f}-{max(cpu):.2f}]")


if __name__ == "__main__":
    main()
