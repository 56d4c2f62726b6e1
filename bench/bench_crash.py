"""Exactly once across crashes, the long run: twenty rounds of senders and SIGKILLs, then a drain and a census.

    python bench/bench_crash.py                    # 20 rounds, 4 senders, TLS between the hosts
    python bench/bench_crash.py --rounds 5 --no-tls --seed 7
    python bench/bench_crash.py --rounds 8 --disk-helper on   # every durable write in the helper process

Each round starts ``app.py`` on the same data directory (``tests/crash_harness.py`` has the harness
and says what is counted), leaves two clients half-way through DATA, lets four senders submit, and
ends it with SIGKILL to the pid it started, chosen in turn:

- ``after-250``: a few milliseconds (0-10, at random) after the senders' n-th 250 of the round (n
  at random, 1 to three per sender), as the issue found the duplicates (the windows hit by chance);
- ``random``: at a random moment 0.1-1.0 s into the round;
- a crash point (:mod:`simulator.crashpoints`): the process stops itself inside a window
  (``relay.acked``, ``mda.linked``, ``direct.linked``, ``mda.written``, ``direct.written``,
  ``bounce.queued``, ``direct.recorded``, ``queue.stored``) and is killed there.  A round at
  ``mda.*`` runs with a fault in force (the MXs queue, the queue's windows are reached); in the others
  each MX delivers into the Maildir before its 250 (:mod:`simulator.direct`).

Each round leaves two clients half-way through DATA: at the submission door and at mx1.beta.test's MX port.

Every fourth round runs the same world with mx1.beta.test refusing (a ``refuse`` fault): bob's mail
goes to the backup MX, and what the next round resends goes to mx1, back again -- which must know it
by its relay key although another host took it.  Some messages go to carol and alice at once: an MX
entry with two recipients, delivered one after the other.

A last start drains; then every Maildir file is counted by Message-ID.  It prints
``acknowledged / delivered once / lost / duplicated`` (and truncated, bounces, files left in
``tmp/``) and exits 1 if anything is lost, duplicated, truncated or left over.  Loopback only; the
processes it starts are stopped by their pid.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from crash_harness import QUEUED, App, HalfData, Ledger, Senders, census, drain, scenario_file  # noqa: E402

POINTS = ["relay.acked", "mda.linked", "direct.linked", "mda.written", "direct.written", "bounce.queued",
          "direct.recorded", "queue.stored"]
# The queue's own delivery windows are reached only while the MXs queue (a fault in force): otherwise
# an MX delivers before its 250 (simulator.direct) and the direct.* windows are the ones.
QUEUE_POINTS = ("mda.linked", "mda.written")


def plan(rounds: int, rng: random.Random) -> list[str]:
    """The kill of each round: after-250, a crash point, random, in turn (points rotate)."""
    kinds: list[str] = []
    points = iter(POINTS * rounds)
    for n in range(rounds):
        kind = ("after-250", "point", "random")[n % 3]
        kinds.append(f"{next(points)}:{rng.randint(1, 4)}" if kind == "point" else kind)
    return kinds


def one_round(data: Path, ledger: Ledger, n: int, kill: str, args: argparse.Namespace,
              rng: random.Random) -> str:
    point = kill if ":" in kill else ""
    # mx1 refuses: the backup MX takes bob's mail this round (not at a direct.* point: a fault in force
    # makes every MX queue, and the point would never be reached)
    refusing = n % 4 == 3 and not point.startswith("direct.")
    queuing = point.split(":")[0] in QUEUE_POINTS
    scenario = (scenario_file(data.parent, "mx1-refuses", faults=("{refuse: mx1.beta.test}",)) if refusing
                else scenario_file(data.parent, "queued", faults=QUEUED) if queuing else None)
    app = App(data, crash_at=point, tls=args.tls, scenario=scenario, extra=("--disk-helper", args.disk_helper))
    halves = []
    senders = None
    how = kill
    try:
        if app.ports:               # else mail resumed from the round before reached the point at start-up
            halves = [HalfData(app, ledger, f"r{n}"), HalfData(app, ledger, f"r{n}", door="mx")]
            senders = Senders(app, ledger, f"r{n}", count=args.senders, per_sender=args.per_sender)
        if point:
            try:
                how = f"stopped at {app.wait_stopped(timeout=args.round_timeout)}"
            except AssertionError:
                how = f"{point} not reached: killed at the deadline"
        elif kill == "after-250":
            wanted = ledger.acked_count() + rng.randint(1, 3 * args.senders)
            deadline = time.monotonic() + args.round_timeout
            while ledger.acked_count() < wanted and time.monotonic() < deadline:
                time.sleep(0.0005)
            time.sleep(rng.uniform(0.0, 0.010))
        else:
            time.sleep(rng.uniform(0.1, 1.0))
    finally:
        app.kill()
        if senders is not None:
            senders.join()
        for half in halves:
            half.close()
    return how + (" (mx1 refusing)" if refusing else " (MXs queuing)" if queuing else "")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--senders", type=int, default=4)
    p.add_argument("--per-sender", type=int, default=8, help="messages each sender tries per round")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--no-tls", dest="tls", action="store_false", help="plaintext between the hosts (faster)")
    p.add_argument("--round-timeout", type=float, default=20.0)
    p.add_argument("--drain-timeout", type=float, default=120.0)
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    p.add_argument("--keep", action="store_true", help="keep the data directory (its path is printed)")
    p.add_argument("--disk-helper", choices=("auto", "on", "off"), default="auto",
                   help="app.py's --disk-helper: on puts every durable write (and the crash points in them) "
                        "in the helper process (simulator/diskhelper.py)")
    args = p.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    work = Path(tempfile.mkdtemp(prefix="bench-crash-"))
    data = work / "data"
    ledger = Ledger()
    started = time.monotonic()
    for n, kill in enumerate(plan(args.rounds, rng)):
        how = one_round(data, ledger, n, kill, args, rng)
        print(f"round {n + 1:2d}: {how:<50} acknowledged so far {ledger.acked_count()}", flush=True)
    app = App(data, tls=args.tls, extra=("--disk-helper", args.disk_helper))
    try:
        drain(app, ledger, timeout=args.drain_timeout)
        result = census(data, ledger)
    finally:
        app.stop()
    elapsed = time.monotonic() - started
    print(f"seed {seed}, {args.rounds} rounds, {args.senders} senders, {elapsed:.1f} s")
    print(result.line())
    for label in ("lost", "duplicated", "truncated", "unsure_twice", "half_delivered", "bounce_problems",
                  "tmp_left", "queued_left"):
        items = getattr(result, label)
        if items:
            print(f"  {label}: {items[:10]}")
    if args.json is not None:
        args.json.write_text(json.dumps({
            "seed": seed, "rounds": args.rounds, "senders": args.senders, "seconds": round(elapsed, 1),
            "acknowledged": result.acknowledged, "delivered_once": result.delivered_once,
            "lost": len(result.lost), "duplicated": len(result.duplicated), "truncated": len(result.truncated),
            "unsure": len(ledger.unsure), "bounces": sum(result.bounces.values()),
            "tmp_left": len(result.tmp_left)}, indent=2) + "\n")
    if args.keep:
        print(f"data kept in {data}")
    else:
        import shutil
        shutil.rmtree(work, ignore_errors=True)
    return 0 if result.ok and result.delivered_once == result.acknowledged else 1


if __name__ == "__main__":
    sys.exit(main())
