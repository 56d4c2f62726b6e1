#!/usr/bin/env python3
"""SORT / THREAD algorithm costs, pure (``simulator.protocols.imap.sorting`` / ``threading``), no server.

Not a test: a script that runs in one go and prints a table.

    .venv/bin/python bench/bench_sorting.py              # 20,000 messages, 3 runs, median [min-max]
    .venv/bin/python bench/bench_sorting.py --messages 2000 --runs 1

What it measures
  1. An ordinary mailbox, made deterministically (``random.Random(seed)``): N messages in about N/7
     threads (each reply names up to 10 ancestors in References), subjects with and without "Re:",
     2,000 distinct senders, a Date on each.  Every SORT key alone, and THREAD ORDEREDSUBJECT and
     REFERENCES, on records already in memory (what the IMAP session builds from its parse cache),
     and how many loop-check steps REFERENCES needed.
  2. Hostile mail, each bounded by a limit the algorithms document:
       * a 5,000-deep reply chain, threaded (no recursion anywhere);
       * that chain attacked by 200 messages whose References alternate its bottom and its top
         500 times (every such link is a loop found by a walk to the top): stopped by
         ``LOOP_CHECK_BUDGET`` (without it: 200 x 500 walks of 5,000 steps);
       * 2,000 subjects of 16 KB ``[a][a][a]...`` and ``Re: Re: ...`` (``FIELD_LIMIT``, linear steps).
  Times are wall-clock seconds on this machine; nothing is asserted.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from simulator.protocols.imap import sorting, threading  # noqa: E402
from simulator.protocols.imap.sorting import Msg  # noqa: E402


def ordinary(n: int, seed: int) -> list[Msg]:
    rnd = random.Random(seed)
    msgs = []
    for i in range(1, n + 1):
        headers = {"message-id": f"<{i}@bench.test>", "date": f"Mon, {1 + i % 28} Feb 2024 10:{i % 60:02d}:00 +0000",
                   "from": f"User {rnd.randrange(2000)} <u{rnd.randrange(2000)}@bench.test>",
                   "to": f"list{rnd.randrange(20)}@bench.test", "cc": f"c{rnd.randrange(300)}@bench.test"}
        if i > 1 and rnd.random() < 0.85:
            parent = rnd.randrange(max(1, i - 300), i)
            headers["references"] = " ".join(f"<{p}@bench.test>" for p in range(max(1, parent - 9), parent + 1))
            headers["subject"] = f"Re: topic {parent % (n // 7 + 1)}"
        else:
            headers["subject"] = f"topic {i % (n // 7 + 1)}"
        msgs.append(Msg(uid=i, seq=i, size=rnd.randrange(500, 200_000), internaldate=1.7e9 + i, headers=headers))
    return msgs


def chain(depth: int) -> list[Msg]:
    return [Msg(uid=i, seq=i, internaldate=float(i),
                headers={"message-id": f"<{i}@x>", **({"in-reply-to": f"<{i - 1}@x>"} if i > 1 else {})})
            for i in range(1, depth + 1)]


def attack(depth: int, count: int, pairs: int) -> list[Msg]:
    """References "<bottom> <top> <bottom> <top> ...": each (bottom -> top) link is a loop, found by
    a walk from the bottom of the chain to its top, and refused; the next pair asks again."""
    return [Msg(uid=depth + k, seq=depth + k, internaldate=1.0,
                headers={"message-id": f"<a{k}@x>", "references": f"<{depth}@x> <1@x> " * pairs})
            for k in range(1, count + 1)]


class Steps:
    """Counts the loop-check steps of the last THREAD REFERENCES (wraps ``threading._Budget``)."""

    def __init__(self) -> None:
        self.last: threading._Budget | None = None
        original = threading._Budget
        outer = self

        class Counted(original):  # type: ignore[misc, valid-type]
            def __init__(self, steps: int) -> None:
                super().__init__(steps)
                outer.last = self
        threading._Budget = Counted                                  # type: ignore[misc]

    def used(self) -> int:
        return threading.LOOP_CHECK_BUDGET - self.last.left if self.last else 0


def timed(fn: Callable[[], object], runs: int) -> tuple[float, float, float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times), max(times)


def row(label: str, figures: tuple[float, float, float], note: str = "") -> None:
    med, lo, hi = figures
    print(f"{label:<44} {med:8.3f} s  [{lo:.3f}-{hi:.3f}]  {note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=12)
    args = parser.parse_args()
    steps = Steps()
    msgs = ordinary(args.messages, args.seed)
    print(f"{args.messages} ordinary messages, {args.runs} runs: median [min-max]")
    for key in sorted(sorting.SORT_KEYS):
        row(f"SORT ({key})", timed(lambda: sorting.sort(msgs, [key]), args.runs))
    row("SORT (SUBJECT REVERSE DATE)", timed(lambda: sorting.sort(msgs, ["SUBJECT", "REVERSE", "DATE"]), args.runs))
    row("THREAD ORDEREDSUBJECT", timed(lambda: threading.thread(msgs, "ORDEREDSUBJECT"), args.runs))
    row("THREAD REFERENCES", timed(lambda: threading.thread(msgs, "REFERENCES"), args.runs),
        f"loop-check steps: {steps.used()}")
    print("hostile mail")
    deep = chain(5000)
    row("THREAD REFERENCES, 5,000-deep chain", timed(lambda: threading.thread(deep, "REFERENCES"), args.runs),
        f"loop-check steps: {steps.used()}")
    crafted = deep + attack(5000, 200, 250)
    row("the chain + 200 crafted References", timed(lambda: threading.thread(crafted, "REFERENCES"), args.runs),
        f"loop-check steps: {steps.used()} (budget {threading.LOOP_CHECK_BUDGET})")
    blobs = [Msg(uid=i, seq=i, headers={"subject": ("[a]" if i % 2 else "Re: ") * 6000}) for i in range(1, 2001)]
    row("SORT (SUBJECT), 2,000 subjects of 16 KB", timed(lambda: sorting.sort(blobs, ["SUBJECT"]), args.runs))


if __name__ == "__main__":
    main()
