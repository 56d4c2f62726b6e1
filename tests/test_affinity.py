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


def pinning(allowed=frozenset({0, 1, 2, 3}), here=2, mask=None):
    clock, applied = Clock(), []
    p = Pinning(set(allowed), clock=clock, apply=lambda cpus: applied.append(set(cpus)), here=lambda: here,
                mask=mask or (lambda: set(allowed)), watch=False)
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
    p = Pinning({0, 1}, clock=clock, apply=apply, here=lambda: 1, mask=lambda: {0, 1}, watch=False)
    feed(p, clock, seconds=WINDOW * 1.5, rate=MIN_RATE * 4, share=1.0)
    assert calls == [{1}, {0, 1}] and p.pinned is None
    feed(p, clock, seconds=WINDOW * 6, rate=MIN_RATE * 4, share=1.0)
    assert calls == [{1}, {0, 1}]
    assert p.pinned is None and p.changes == 0          # never said to be held


def test_the_cpus_given_back_are_those_allowed_when_pinned():
    allowed = [{0, 1, 2, 3}]
    p, clock, applied = pinning(mask=lambda: set(allowed[0]))
    allowed[0] = {1, 2}                                 # taskset -p while running
    feed(p, clock, seconds=WINDOW * 1.5, rate=MIN_RATE * 4, share=1.0)
    feed(p, clock, seconds=WINDOW * 3, rate=MIN_RATE * 4, share=0.0)
    assert applied == [{2}, {1, 2}]


def test_a_process_allowed_one_cpu_is_never_pinned():
    p, clock, applied = pinning(mask=lambda: {3})
    feed(p, clock, seconds=WINDOW * 8, rate=MIN_RATE * 4, share=1.0)
    assert applied == [] and p.pinned is None


def test_where_the_loop_runs_unknown_the_first_cpu_allowed_is_kept():
    def nowhere():
        raise FileNotFoundError("/proc/thread-self/stat")
    clock, applied = Clock(), []
    p = Pinning({0, 1}, clock=clock, apply=lambda cpus: applied.append(set(cpus)), here=nowhere,
                mask=lambda: {5, 7}, watch=False)
    feed(p, clock, seconds=WINDOW * 1.5, rate=MIN_RATE * 4, share=1.0)
    assert applied == [{5}]


class FakeTimer:
    """threading.Timer that never runs by itself: the test fires it."""
    started: list["FakeTimer"] = []

    def __init__(self, interval, function):
        self.interval, self.function, self.daemon = interval, function, False

    def start(self):
        FakeTimer.started.append(self)


def test_one_quiet_timer_at_a_time(monkeypatch):
    monkeypatch.setattr(affinity.threading, "Timer", FakeTimer)
    FakeTimer.started = []
    clock = Clock()
    p = Pinning({0, 1}, clock=clock, apply=lambda cpus: None, here=lambda: 0, mask=lambda: {0, 1})
    for _ in range(3):                          # pinned, let go, pinned again before the timer fired
        feed(p, clock, seconds=WINDOW * 1.5, rate=MIN_RATE * 4, share=1.0)
        feed(p, clock, seconds=WINDOW * 3, rate=MIN_RATE * 4, share=0.0)
    feed(p, clock, seconds=WINDOW * 1.5, rate=MIN_RATE * 4, share=1.0)
    assert p.pinned == 0 and len(FakeTimer.started) == 1
    FakeTimer.started[0].function()             # it fires: still held and busy, so it looks again later
    assert len(FakeTimer.started) == 2 and p.pinned == 0
    clock.now += QUIET
    FakeTimer.started[1].function()             # quiet now: let go, and no more timers
    assert p.pinned is None and len(FakeTimer.started) == 2


class Recorder:
    def __init__(self) -> None:
        self.notes: list[bool] = []

    def note(self, overlapped: bool) -> None:
        self.notes.append(overlapped)


def test_a_failing_pinning_never_fails_the_job_and_is_turned_off(monkeypatch):
    class Broken:
        def note(self, overlapped):
            raise ValueError("unreadable /proc")

        def release(self):
            pass
    monkeypatch.setattr(affinity, "_CURRENT", Broken())
    pool = handoff.Handoff(max_workers=1, name="test-affinity-broken")

    async def scenario():
        return await pool.run(lambda: 42)
    assert asyncio.run(scenario()) == 42
    assert affinity.current() is None


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
            out = []
            for tid in os.listdir("/proc/self/task"):
                try:
                    out.append(sorted(os.sched_getaffinity(int(tid))))
                except ProcessLookupError:      # a timer thread that ended meanwhile
                    pass
            return out

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


def _child(script: str) -> dict:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(script), str(ROOT)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs a process allowed two CPUs")
def test_a_thread_started_while_letting_go_gets_every_cpu_back():
    """A pinned thread starts another between the listing of the threads and their change: the
    new one inherits the one CPU, and is set too (the threads are listed again)."""
    seen = _child("""
        import json, os, sys, threading
        sys.path.insert(0, sys.argv[1])
        from simulator import affinity
        allowed = sorted(os.sched_getaffinity(0))
        affinity._set_all({allowed[0]})
        stop, born = threading.Event(), []
        listdir = os.listdir

        def listing(path):
            names = listdir(path)
            if not born:                    # once: a thread started by this (pinned) thread
                thread = threading.Thread(target=stop.wait, daemon=True)
                thread.start()
                born.append(thread)
            return names
        affinity.os.listdir = listing
        affinity._set_all(set(allowed))
        affinity.os.listdir = listdir
        print(json.dumps({"allowed": allowed, "late": sorted(os.sched_getaffinity(born[0].native_id))}))
        stop.set()
    """)
    assert seen["late"] == seen["allowed"]


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs a process allowed two CPUs")
def test_a_forked_child_starts_unpinned_on_every_cpu():
    seen = _child("""
        import json, os, sys
        sys.path.insert(0, sys.argv[1])
        from simulator import affinity
        allowed = sorted(os.sched_getaffinity(0))
        p = affinity.enable()
        with p._lock:
            p._pin()
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.write(write, json.dumps({"current": affinity.current() is not None,
                                        "cpus": sorted(os.sched_getaffinity(0))}).encode())
            os._exit(0)
        os.waitpid(pid, 0)
        child = json.loads(os.read(read, 4096))
        print(json.dumps({"allowed": allowed, "parent_pinned": p.pinned, "child": child}))
        affinity.disable()
    """)
    assert seen["parent_pinned"] in seen["allowed"]
    assert seen["child"] == {"current": False, "cpus": seen["allowed"]}


def test_app_main_leaves_no_pinning_behind(tmp_path, monkeypatch):
    """app.main in a test's own process (the suite calls it): pinning is on only while it runs."""
    import app
    turned_on = []
    enable = affinity.enable
    monkeypatch.setattr(affinity, "enable", lambda: turned_on.append(enable()))
    assert app.main(["--scenario", str(tmp_path / "missing.yaml"), "--no-web"]) == 2
    assert turned_on and affinity.current() is None
    if len(os.sched_getaffinity(0)) >= 2:
        assert turned_on[0] is not None                 # it was on while app.main ran
