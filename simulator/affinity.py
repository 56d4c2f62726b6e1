"""One CPU for the whole process while its disk hand-offs overlap: many clients at once (issue 13).

Theory of operation
    The mail loop and the disk workers (:mod:`simulator.handoff`) share one GIL.  With one client at a
    time they take turns: the loop hands a write over and waits for the next packet, the worker
    fsyncs.  With ten clients the loop is always busy, and every system call of a worker (about ten
    per message: open, write, fsync, link, fsync ...) gives the GIL up and must take it back from the
    loop.  On a machine with two CPUs the scheduler runs the loop on one and the workers on the
    other, so each of those hand-offs wakes a thread on the other CPU (an inter-processor interrupt,
    a futex, the GIL's cache line moved across): an MX taking messages from ten clients made ~60
    futex calls per message, and half of its CPU was the kernel's.  Nothing is gained from the
    second CPU in exchange: only one thread runs Python at a time.  Measured (``bench/README.md``,
    "Sixth pass"): the same process held on one CPU (``taskset -c 1``) took 2,000 messages from ten
    new connections each with 28 % less CPU per message and at a 20 % higher rate; with one client at
    a time it was 10-15 % slower (the worker's wake-up must wait until the loop sleeps).

    So the process holds itself on one CPU only while the hand-offs overlap.  :class:`Pinning`
    counts, over windows of :data:`WINDOW` seconds, the jobs handed over and how many of them found
    another job still running; a window with at least :data:`MIN_RATE` jobs a second of which at
    least :data:`PIN_SHARE` overlapped pins every thread of the process to the CPU the loop is on
    (threads started later inherit it); a window below :data:`UNPIN_SHARE`, too few jobs, or
    :data:`QUIET` seconds without a job (a timer thread looks while the process is held) give the
    process back every CPU it had (the mask it started with, which ``taskset``
    may have narrowed: never more).  Between the two shares nothing changes (hysteresis: a load near
    a threshold does not flip the process back and forth).  A change costs one
    ``sched_setaffinity`` per thread, at most once a window.

    Linux only (``os.sched_setaffinity``, ``/proc/self/task``), and only when the process may run on
    two CPUs or more.  ``app.py`` turns it on (``--cpu-pinning off`` leaves it off); a test suite
    that starts worlds in its own process (:mod:`simulator.testing`) never pins it.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from typing import Callable

__all__ = ["MIN_RATE", "PIN_SHARE", "QUIET", "UNPIN_SHARE", "WINDOW", "Pinning", "enable", "disable", "current"]

log = logging.getLogger(__name__)

WINDOW = 0.25           # seconds of hand-offs judged together
MIN_RATE = 100          # jobs per second below which the process is never held on one CPU
PIN_SHARE = 0.5         # a window with this share of overlapping jobs (or more) pins
UNPIN_SHARE = 0.2       # a window below this share lets go
QUIET = 1.0             # seconds without a job after which a held process lets go


class Pinning:
    """The decision (fed by :class:`simulator.handoff.Handoff` at every job handed over) and its
    application to the process's threads.  ``clock``, ``apply`` and ``here`` are for tests: the
    monotonic clock, "set these CPUs for every thread", "the CPU this thread runs on", and whether a
    timer thread looks for a quiet process while held (else :meth:`quiet` is the caller's)."""

    def __init__(self, allowed: set[int], *, clock: Callable[[], float] = time.monotonic,
                 apply: Callable[[set[int]], None] | None = None,
                 here: Callable[[], int] | None = None, watch: bool = True) -> None:
        self.allowed = frozenset(allowed)
        self._clock = clock
        self._apply = apply or _set_all
        self._here = here or _current_cpu
        self._watching = watch
        self._lock = threading.Lock()
        self._start = self._last = clock()
        self._jobs = 0
        self._overlapped = 0
        self.pinned: int | None = None       # the CPU the process is held on, or None
        self.changes = 0                     # pins and releases so far (for tests and benchmarks)

    def note(self, overlapped: bool) -> None:
        """One job handed over; ``overlapped``: another job was still running.  At a window's end,
        pins or lets go (in the calling thread: the loop's, which is the CPU kept)."""
        now = self._clock()
        with self._lock:
            self._last = now
            self._jobs += 1
            self._overlapped += overlapped
            elapsed = now - self._start
            if elapsed < WINDOW:
                return
            jobs, share = self._jobs, self._overlapped / self._jobs
            self._start, self._jobs, self._overlapped = now, 0, 0
            busy = jobs >= MIN_RATE * elapsed
            if self.pinned is None and busy and share >= PIN_SHARE:
                want: int | None = self._pick()
            elif self.pinned is not None and (not busy or share < UNPIN_SHARE):
                want = None
            else:
                return
            self._change(want)

    def release(self) -> None:
        """Give the process back every CPU it had."""
        with self._lock:
            if self.pinned is not None:
                self._change(None)

    def quiet(self) -> bool:
        """If held and no job came for :data:`QUIET` seconds: let go.  True while still held (the
        watcher looks again later)."""
        with self._lock:
            if self.pinned is not None and self._clock() - self._last >= QUIET:
                self._change(None)
            return self.pinned is not None

    def _watch(self) -> None:
        """While held: look for a quiet process every half :data:`QUIET` (a daemon timer thread)."""
        if self.quiet():
            timer = threading.Timer(QUIET / 2, self._watch)
            timer.daemon = True
            timer.start()

    def _pick(self) -> int:
        cpu = self._here()
        return cpu if cpu in self.allowed else min(self.allowed)

    def _change(self, cpu: int | None) -> None:
        """Under the lock: hold every thread on ``cpu`` (None: on every CPU allowed)."""
        try:
            self._apply({cpu} if cpu is not None else set(self.allowed))
        except OSError as exc:               # refused (a container's policy): every CPU again, and no more tries
            log.warning("could not change the CPUs of the process (%s); not trying again", exc)
            apply, self._apply = self._apply, _nothing
            try:
                apply(set(self.allowed))
            except OSError:
                pass
            self.pinned = None
            return
        held = self.pinned is not None
        self.pinned = cpu
        self.changes += 1
        if cpu is not None and not held and self._watching:
            timer = threading.Timer(QUIET / 2, self._watch)
            timer.daemon = True
            timer.start()
        log.debug("process %s", f"held on CPU {cpu}" if cpu is not None else "on every CPU again")


def _set_all(cpus: set[int]) -> None:
    """Every thread of this process on ``cpus`` (a thread that ended meanwhile is skipped)."""
    for tid in os.listdir("/proc/self/task"):
        try:
            os.sched_setaffinity(int(tid), cpus)
        except ProcessLookupError:
            pass


def _current_cpu() -> int:
    """The CPU the calling thread runs on (field 39 of ``/proc/thread-self/stat``)."""
    with open("/proc/thread-self/stat", "rb") as stat:
        return int(stat.read().rsplit(b")", 1)[1].split()[36])


def _nothing(_cpus: set[int]) -> None:
    return None


_CURRENT: Pinning | None = None


def current() -> Pinning | None:
    """The process's pinning, if :func:`enable` turned it on."""
    return _CURRENT


def enable() -> Pinning | None:
    """Turn pinning under load on for this process (``app.py``); None where it cannot be (not Linux,
    one CPU allowed, no ``/proc/thread-self``).  Idempotent."""
    global _CURRENT
    if _CURRENT is not None:
        return _CURRENT
    if not hasattr(os, "sched_setaffinity") or not os.path.exists("/proc/thread-self/stat"):
        return None
    allowed = os.sched_getaffinity(0)
    if len(allowed) < 2:
        return None
    _CURRENT = Pinning(allowed)
    return _CURRENT


def disable() -> None:
    """Turn it off, giving the process back every CPU it had."""
    global _CURRENT
    pinning, _CURRENT = _CURRENT, None
    if pinning is not None:
        pinning.release()
