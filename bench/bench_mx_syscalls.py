"""Syscalls per MX message (fsyncs first), A/B against another copy of the tree (issue 13, the direct path).

Theory of operation
    The same run as ``bench_mx_cpu.py`` (``app.py`` alone, Postfix's ``smtp-source`` into
    mx1.beta.test, 2 KB messages, reused connections, c=10, until every message is in bob's ``new/``),
    with ``strace -f -c`` attached to the server's pid for the run.  The counts are divided by the
    messages delivered: what one message costs the kernel, whatever the machine's load (unlike CPU
    time, a count does not change with the neighbours).  With ``--baseline DIR`` the two trees run in
    turn and both columns are printed.

    python bench/bench_mx_syscalls.py                          # this tree, 500 messages
    python bench/bench_mx_syscalls.py --baseline /tmp/before   # A/B

Needs ``smtp-source`` (Debian ``postfix``) and ``strace``.  Loopback only; what it started is stopped by
its pid.  Under strace everything is slower: the counts matter here, not the times.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mxrun import app_command, listening, mx1_address  # noqa: E402  (bench/mxrun.py)
from sidebyside import procs  # noqa: E402


ROOT = Path(__file__).resolve().parent.parent
SHOWN = ("fsync", "fdatasync", "openat", "rename", "link", "unlink", "mkdir", "write", "futex", "sendto",
         "recvfrom", "epoll_wait")


def one_run(tree: Path, messages: int, concurrency: int, timeout: float) -> dict[str, float]:
    """Syscalls per delivered message of one server started from ``tree``."""
    work = Path(tempfile.mkdtemp(prefix="mx-sys-"))
    command = app_command(tree, work, "--smtp-sessions-per-address", "100")
    server = subprocess.Popen(command, cwd=tree, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    tracer = None
    try:
        ports = listening(work)
        address = mx1_address(ports)
        box = work / "data" / "mail" / "beta.test" / "bob" / "new"
        counts = work / "strace.txt"
        tracer = subprocess.Popen(["strace", "-f", "-c", "-o", str(counts), "-p", str(server.pid)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)                         # attached to every thread before the first message
        subprocess.run(["smtp-source", "-s", str(concurrency), "-m", str(messages), "-l", "2048", "-d",
                        "-f", "alice@alpha.test", "-t", "bob@beta.test", "-M", "mx1.beta.test",
                        f"{address}:{ports['mx']}"], check=True, timeout=timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and (not box.is_dir() or len(os.listdir(box)) < messages):
            time.sleep(0.05)
        time.sleep(0.5)                         # the last deliveries' facts and commits
        delivered = len(os.listdir(box)) if box.is_dir() else 0
        tracer.send_signal(signal.SIGINT)       # strace writes its table and detaches
        tracer.wait(timeout=30)
        tracer = None
        return _per_message(counts.read_text(), max(delivered, 1))
    finally:
        if tracer is not None:
            tracer.kill()
            tracer.wait()
        procs.end(server, grace=30)
        shutil.rmtree(work, ignore_errors=True)


def _per_message(table: str, delivered: int) -> dict[str, float]:
    """strace -c's table: calls of each syscall, divided by ``delivered``."""
    out: dict[str, float] = {}
    for line in table.splitlines():
        parts = line.split()
        if len(parts) >= 5 and re.fullmatch(r"[\d.]+", parts[0]) and parts[-1] not in ("total",):
            calls = int(parts[3])
            out[parts[-1]] = calls / delivered
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-m", "--messages", type=int, default=500)
    parser.add_argument("-c", type=int, default=10)
    parser.add_argument("--baseline", type=Path)
    parser.add_argument("--timeout", type=float, default=180)
    args = parser.parse_args()
    for tool in ("smtp-source", "strace"):
        if shutil.which(tool) is None:
            raise SystemExit(f"bench_mx_syscalls: {tool} not found")
    sides = {"this tree": ROOT, **({"baseline": args.baseline.resolve()} if args.baseline else {})}
    results = {name: one_run(tree, args.messages, args.c, args.timeout) for name, tree in sides.items()}
    names = list(results)
    print(f"syscalls per delivered message (reused, c={args.c}, {args.messages} x 2048 octets)")
    print("syscall      " + "".join(f"{n:>12}" for n in names))
    for call in SHOWN:
        print(f"{call:<13}" + "".join(f"{results[n].get(call, 0.0):>12.2f}" for n in names))


if __name__ == "__main__":
    main()
