"""The process holds itself on one CPU while its disk hand-offs overlap, and only then (simulator/affinity.py)."""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from simulator import affinity, handoff
from simulator.affinity import MIN_RATE, QUIET, WINDOW, Pinning

ROOT = Path(__file__).resolve().parent.parent


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def pinning(allowed=frozenset({0, 1, 2, 3}), here=2):
    clock, applied = Clock(), []
    p = Pinning(set(allowed), clock=clock, apply=lambda cpus: applied.append(set(cpus)), here=lambda: here,
                watch=False)
    return p, clock, applied


def feed(p: Pinning, clock: Clock, *, seconds: float, rate: float, share: float) -> None:
    """``rate`` jobs a second for ``seconds``, a ``share`` of them overlapping (spread evenly)."""
    jobs = int(seconds * rate)
    owed = 0.0
    for _ in range(jobs):
        clock.now += 1 / rate
        owed += share
        overlapped = owed >= 1
        owed -= overlapped
        p.note(overlapped)


def test_many_overlapping_jobs_pin_the_process_to_the_loops_cpu_once():
    p, clock, applied = pinning(here=2)
    feed(p, clock, seconds=WINDOW * 1.5, rate=MIN_RATE * 4, share=0.9)
    assert applied == [{2}] and p.pinned == 2
    feed(p, clock, seconds=WINDOW * 4, rate=MIN_RATE * 4, share=0.9)
    assert applied == [{2}]                 # held: nothing changed again


def test_jobs_one_at_a_time_never_pin_and_release_a_held_process():
    p, clock, applied = pinning()
    feed(p, clock, seconds=WINDOW * 4, rate=MIN_RATE * 4, share=0.0)
    assert applied == [] and p.pinned is None
    feed(p, clock, seconds=WINDOW * 1.5, rate=MIN_RATE * 4, share=1.0)
    feed(p, clock, seconds=WINDOW * 3, rate=MIN_RATE * 4, share=0.0)
    assert applied == [{2}, {0, 1, 2, 3}] and p.pinned is None


def test_a_slow_trickle_of_overlapping_jobs_does_not_pin():
    p, clock, applied = pinning()
    feed(p, clock, seconds=WINDOW * 8, rate=MIN_RATE / 3, share=1.0)
    assert applied == []


def test_between_the_two_shares_nothing_changes():
    p, clock, applied = pinning()
    feed(p, clock, seconds=WINDOW * 4, rate=MIN_RATE * 4, share=0.35)
    assert applied == []
    feed(p, clock, seconds=WINDOW * 1.5, rate=MIN_RATE * 4, share=1.0)
    feed(p, clock, seconds=WINDOW * 4, rate=MIN_RATE * 4, share=0.35)
    assert applied == [{2}] and p.pinned == 2


def test_too_few_jobs_in_a_window_release():
    p, clock, applied = pinning()
    feed(p, clock, seconds=WINDOW * 1.5, rate=MIN_RATE * 4, share=1.0)
    feed(p, clock, seconds=WINDOW * 4, rate=MIN_RATE / 4, share=1.0)
    assert applied[-1] == {0, 1, 2, 3} and p.pinned is None


def test_a_quiet_process_lets_go():
    p, clock, applied = pinning()
    feed(p, clock, seconds=WINDOW * 1.5, rate=MIN_RATE * 4, share=1.0)
    clock.now += QUIET / 2
    assert p.quiet() is True and p.pinned == 2
    clock.now += QUIET
    assert p.quiet() is False and applied[-1] == {0, 1, 2, 3}


def test_a_cpu_outside_the_allowed_set_is_never_chosen():
    p, clock, applied = pinning(allowed={4, 6}, here=1)
    feed(p, clock, seconds=WINDOW * 1.5, rate=MIN_RATE * 4, share=1.0)
    assert applied == [{4}]


def test_a_refused_change_gives_every_cpu_back_and_is_not_tried_again():
    clock, calls = Clock(), []

    def apply(cpus):
        calls.append(set(cpus))
        if len(cpus) == 1:
            raise PermissionError("not here")
    p = Pinning({0, 1}, clock=clock, apply=apply, here=lambda: 1, watch=False)
    feed(p, clock, seconds=WINDOW * 1.5, rate=MIN_RATE * 4, share=1.0)
    assert calls == [{1}, {0, 1}] and p.pinned is None
    feed(p, clock, seconds=WINDOW * 6, rate=MIN_RATE * 4, share=1.0)
    assert calls == [{1}, {0, 1}]


class Recorder:
    def __init__(self) -> None:
        self.notes: list[bool] = []

    def note(self, overlapped: bool) -> None:
        self.notes.append(overlapped)


def test_the_handoff_tells_whether_another_job_was_still_running(monkeypatch):
    recorder = Recorder()
    monkeypatch.setattr(affinity, "_CURRENT", recorder)
    pool = handoff.Handoff(max_workers=3, name="test-affinity")
    gate = threading.Event()

    async def scenario():
        await pool.run(lambda: 1)
        await pool.run(lambda: 2)                      # the first has ended: not overlapping
        held = [pool.run(gate.wait, 5) for _ in range(3)]
        gate.set()
        await asyncio.gather(*held)
        await pool.run(lambda: 3)
    asyncio.run(scenario())
    assert recorder.notes == [False, False, False, True, True, False]


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs a process allowed two CPUs")
def test_a_real_process_is_held_on_one_cpu_under_overlapping_jobs_and_let_go_when_quiet():
    """In a child process (pinning is process-wide): ten overlapping hand-offs at a time until it
    is held, every thread's CPUs then; then nothing until it lets go, and every thread's CPUs again."""
    script = textwrap.dedent("""
        import asyncio, json, os, sys, time
        sys.path.insert(0, sys.argv[1])
        from simulator import affinity, handoff
        before = sorted(os.sched_getaffinity(0))
        p = affinity.enable()

        def cpus():
            return [sorted(os.sched_getaffinity(int(tid))) for tid in os.listdir("/proc/self/task")]

        async def load():
            deadline = time.monotonic() + 20
            while p.pinned is None and time.monotonic() < deadline:
                await asyncio.gather(*[handoff.run(time.sleep, 0.0005) for _ in range(10)])
        asyncio.run(load())
        held_on, held = p.pinned, cpus()
        deadline = time.monotonic() + 20
        while p.pinned is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        print(json.dumps({"before": before, "held_on": held_on, "held": held, "after": cpus(),
                          "pinned_after": p.pinned}))
    """)
    out = subprocess.run([sys.executable, "-c", script, str(ROOT)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout)
    assert seen["held_on"] in seen["before"]
    assert len(seen["held"]) > 3                                # the loop, the workers
    assert all(cpus == [seen["held_on"]] for cpus in seen["held"])
    assert seen["pinned_after"] is None
    assert all(cpus == seen["before"] for cpus in seen["after"])


def test_app_pins_by_default_and_never_with_off():
    import app
    assert app.build_parser().parse_args([]).cpu_pinning == "auto"
    assert app.build_parser().parse_args(["--cpu-pinning", "off"]).cpu_pinning == "off"
    with pytest.raises(SystemExit):
        app.build_parser().parse_args(["--cpu-pinning", "always"])
