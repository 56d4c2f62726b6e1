"""The hand-off of blocking work to a thread: ``asyncio.to_thread`` against ``simulator.handoff.run``.

Theory of operation: a function that returns at once is handed off ``--calls`` times, one after
another (the round trip a sequential SMTP session waits for around its direct write: p50 of the
``await``), and then ten at once (an MX with ten clients); the process's CPU (user + system, from
``getrusage``) and context switches per call are read around each.  Both in the same process, in
turn, ``--reps`` times: compare the two within a repetition.  Nothing touches the disk or the network.

    python bench/bench_handoff.py [--calls 3000] [--reps 3]
"""
from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from simulator import handoff  # noqa: E402


def _noop() -> int:
    return 1


def _usage() -> tuple[float, int]:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime, r.ru_nvcsw + r.ru_nivcsw


async def _measure(kind: str, calls: int) -> dict:
    run = (lambda: asyncio.to_thread(_noop)) if kind == "to_thread" else (lambda: handoff.run(_noop))
    for _ in range(200):                        # the threads started, the code warm
        await run()
    waits = []
    cpu0, ctx0 = _usage()
    for _ in range(calls):
        began = time.perf_counter()
        await run()
        waits.append(time.perf_counter() - began)
    cpu1, ctx1 = _usage()
    for _ in range(calls // 10):
        await asyncio.gather(*[run() for _ in range(10)])
    cpu2, _ = _usage()
    return {"p50_us": statistics.median(waits) * 1e6, "cpu_us": (cpu1 - cpu0) / calls * 1e6,
            "switches": (ctx1 - ctx0) / calls, "cpu10_us": (cpu2 - cpu1) / calls * 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    for rep in range(args.reps):
        for kind in ("to_thread", "handoff"):
            r = asyncio.run(_measure(kind, args.calls))
            print(f"rep {rep + 1} {kind:9}: round trip p50 {r['p50_us']:5.1f} us, CPU {r['cpu_us']:5.1f} us/call, "
                  f"{r['switches']:.1f} context switches/call; ten at once: CPU {r['cpu10_us']:5.1f} us/call", flush=True)


if __name__ == "__main__":
    main()
