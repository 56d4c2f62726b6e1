"""Where a sequential SMTP session's time goes, step by step, beside Postfix and a bare aiosmtpd.

``bench/run --only latency`` times whole sessions; ``bench_mx_latency.py`` splits Mailflow's alone.
This one runs the same session against Postfix delivering to a Maildir (fsync before its 250), the
bare aiosmtpd + stdlib Maildir server (no fsync) and Mailflow's mx1.beta.test, one server after the
other, the order rotating each repetition, and prints each step's median in microseconds: connect +
greeting, EHLO, MAIL, RCPT, DATA up to its 354, the 2 KB body up to its 250, QUIT up to its 221.  The
client is a plain socket (one ``sendall`` per command, a reply read to its last line): the same
bytes for every server, and no client library's own work inside the steps.

Like ``bench/run`` it starts the servers with ``bench/sidebyside/servers.py`` inside a private
network namespace (``unshare --net``: only loopback exists), stops each by its pid, and is bounded:
``--sessions`` per run (default 300, after 5 not counted), ``--reps`` runs per server, ``--timeout``
seconds per run.  Needs what ``bench/run`` installs (``bench/run --smoke`` once).

    .venv/bin/python bench/bench_phases.py                   # 300 sessions, 3 reps, 3 servers
    .venv/bin/python bench/bench_phases.py --servers postfix mailflow --reps 5
"""
from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

from sidebyside import netns, servers  # noqa: E402
from sidebyside.sender import message  # noqa: E402

STEPS = ("connect + 220", "EHLO", "MAIL", "RCPT", "DATA → 354", "body → 250", "QUIT → 221")
SERVERS = {"postfix": servers.Postfix, "aiosmtpd": servers.AiosmtpdMaildir, "mailflow": servers.Mailflow}
SENDER = "sender@client.bench.test"
WARMUP = 5


def one_session(host: str, port: int, rcpt: str, data: bytes) -> list[float]:
    """The seconds each step took, in STEPS order."""
    marks = [time.perf_counter()]
    with socket.create_connection((host, port), timeout=10) as sock:
        replies = sock.makefile("rb")

        def reply() -> bytes:
            while True:
                line = replies.readline()
                if not line:
                    raise ConnectionError("the server closed the connection")
                if line[3:4] != b"-":
                    return line
        reply()
        marks.append(time.perf_counter())
        for command in (b"EHLO client.bench.test\r\n", f"MAIL FROM:<{SENDER}>\r\n".encode(),
                        f"RCPT TO:<{rcpt}>\r\n".encode(), b"DATA\r\n", data + b".\r\n", b"QUIT\r\n"):
            sock.sendall(command)
            code = reply()[:3]
            if code not in (b"250", b"354", b"221"):
                raise ConnectionError(f"{command[:10]!r} answered {code!r}")
            marks.append(time.perf_counter())
    return [b - a for a, b in zip(marks, marks[1:])]


def run_server(name: str, workdir: Path, sessions: int, bound: float) -> list[list[float]]:
    workdir.mkdir()
    os.chmod(workdir, 0o755)            # Postfix's daemons run as postfix
    server = SERVERS[name](workdir).start()
    try:
        rows = []
        deadline = time.monotonic() + bound
        for n in range(WARMUP + sessions):
            if time.monotonic() > deadline:
                break
            data = message(SENDER, server.rcpt, f"phase.{n}.{time.time()}@client.bench.test", 2048)
            if not data.endswith(b"\r\n"):
                data += b"\r\n"
            steps = one_session(server.host, server.port, server.rcpt, data)
            if n >= WARMUP:
                rows.append(steps)
        return rows
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", nargs="+", choices=list(SERVERS), default=list(SERVERS))
    parser.add_argument("--sessions", type=int, default=300)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per run, at most")
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.inside:
        return netns.enter([sys.executable, str(Path(__file__).resolve()), *sys.argv[1:]])
    netns.inside()
    tmp = Path(tempfile.mkdtemp(prefix="mailflow-bench-phases-"))
    os.chmod(tmp, 0o755)
    per: dict[str, list[list[float]]] = {name: [] for name in args.servers}    # each run's step medians
    try:
        for rep in range(args.reps):
            order = args.servers[rep % len(args.servers):] + args.servers[:rep % len(args.servers)]
            for name in order:
                rows = run_server(name, tmp / f"{name}-{rep}", args.sessions, args.timeout)
                steps = [statistics.median(column) for column in zip(*rows)]
                per[name].append(steps + [statistics.median(sum(row) for row in rows)])
                print(f"rep {rep + 1} {name}: {len(rows)} sessions, whole p50 {per[name][-1][-1] * 1e3:.2f} ms",
                      file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"median of {args.reps} runs' medians, µs ({args.sessions} sessions a run)")
    print(f"{'step':16s}" + "".join(f"{name:>12s}" for name in per))
    for i, step in enumerate((*STEPS, "whole session")):
        print(f"{step:16s}" + "".join(f"{statistics.median(run[i] for run in runs) * 1e6:12.0f}"
                                      for runs in per.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
