"""One CPU for the whole process while its disk hand-offs overlap: many clients at once (issue 13).

Theory of operation
    The mail loop and the disk workers (:mod:`simulator.handoff`) share one GIL.  With one client at a
    time they take turns: the loop hands a write over and waits for the next packet, the worker
    fsyncs.  With ten clients the loop is always busy, and every system call of a worker (about ten
    per message: open, write, fsync, link, fsync ...) gives the GIL up and must take it back from the
    loop.  On a machine with two CPUs the scheduler runs the loop on one and the workers on the
    other, so each of those hand-offs wakes a thread on the other CPU (an inter-processor interrupt,
    a futex, the GIL's cache line moved across): an MX taking messages from ten clients made 60-77
    futex calls per message, and half of its CPU was the kernel's.  Nothing is gained from the
    second CPU in exchange: only one thread runs Python at a time.  Measured (``bench/README.md``,
    fifth and sixth passes): the same process held on one CPU (``taskset -c 1``) took messages from
    ten clients with 20-28 % less CPU per message and at an 8-22 % higher rate; with one client at a
    time it was 5-20 % slower (the worker's wake-up must wait until the loop sleeps).  The loop alone
    on one CPU and the workers on the other was no better than no pinning at all.

    So the process holds itself on one CPU only while the hand-offs overlap.  :class:`Pinning`
    counts, over windows of :data:`WINDOW` seconds, the jobs handed over and how many of them found
    another job still running; a window with at least :data:`MIN_RATE` jobs a second of which at
    least :data:`PIN_SHARE` overlapped pins every thread of the process to the CPU the loop is on
    (threads started later inherit it); a window below :data:`UNPIN_SHARE`, too few jobs, or
    :data:`QUIET` seconds without a job (one timer thread looks while the process is held) give
    every thread back the CPUs the process had when it was pinned (read then: what ``taskset`` allows,
    never more).  Between the two shares nothing changes (hysteresis: a load near a threshold does not
    flip the process back and forth).  A change costs one ``sched_setaffinity`` per thread, at most
    once a window; the threads are listed again until a listing shows none not yet set (a thread
    started meanwhile by one still pinned would otherwise keep its one CPU).  A change the kernel
    refuses gives every thread the CPUs back, and pinning stays off from then on.  A child made by
    ``fork`` starts with pinning off and every CPU of its parent's set.  A program started meanwhile
    through ``exec`` inherits the one CPU: the simulator starts one, the disk helper
    (:mod:`simulator.diskhelper`, which the pinning brings in and whose writes it notes), and it
    places itself on the CPUs it is given, beside the one the process is held on.

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

__all__ = ["MIN_RATE", "PIN_SHARE", "QUIET", "UNPIN_SHARE", "WINDOW", "Pinning", "current", "disable", "enable"]

log = logging.getLogger(__name__)

WINDOW = 0.25           # seconds of hand-offs judged together
MIN_RATE = 100          # jobs per second below which the process is never held on one CPU
PIN_SHARE = 0.5         # a window with this share of overlapping jobs (or more) pins
UNPIN_SHARE = 0.2       # a window below this share lets go
QUIET = 1.0             # seconds without a job after which a held process lets go


class Pinning:
    """The decision (fed by :class:`simulator.handoff.Handoff` at every job handed over) and its
    application to the process's threads.  ``allowed``: the CPUs to give back if none is read at
    pinning time.  For tests: ``clock`` (monotonic), ``apply`` ("set these CPUs for every thread"),
    ``here`` ("the CPU this thread runs on"), ``mask`` ("the CPUs this thread may use now", read
    when pinning), and ``watch`` (False: no timer thread; :meth:`quiet` is the caller's)."""

    def __init__(self, allowed: set[int], *, clock: Callable[[], float] = time.monotonic,
                 apply: Callable[[set[int]], None] | None = None,
                 here: Callable[[], int] | None = None,
                 mask: Callable[[], set[int]] | None = None, watch: bool = True) -> None:
        self.allowed = frozenset(allowed)
        self._clock = clock
        self._apply = apply or _set_all
        self._here = here or _current_cpu
        self._mask = mask or (lambda: os.sched_getaffinity(0))
        self._watching = watch
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()
        self._start = self._last = clock()
        self._jobs = 0
        self._overlapped = 0
        self._refused = False                # the kernel refused a change: no more tries
        self.pinned: int | None = None       # the CPU the process is held on, or None
        self.changes = 0                     # pins and releases so far (for tests and benchmarks)

    def note(self, overlapped: bool) -> None:
        """One job handed over; ``overlapped``: another job was still running.  At a window's end,
        pins or lets go (in the calling thread: the loop's, whose CPU is the one kept)."""
        if self._refused:
            return
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
                self._pin()
            elif self.pinned is not None and (not busy or share < UNPIN_SHARE):
                self._change(None)

    def release(self) -> None:
        """Give every thread back the CPUs the process had."""
        with self._lock:
            if self.pinned is not None:
                self._change(None)

    def quiet(self) -> bool:
        """If held and no job came for :data:`QUIET` seconds: let go.  True while still held."""
        with self._lock:
            return self._let_go_if_quiet()

    def _watch(self) -> None:
        """The timer thread: while held, look for a quiet process every half :data:`QUIET`."""
        with self._lock:
            self._timer = None
            if self._let_go_if_quiet():
                self._start_timer()

    def _let_go_if_quiet(self) -> bool:
        """Under the lock: :meth:`quiet`'s work."""
        if self.pinned is not None and self._clock() - self._last >= QUIET:
            self._change(None)
        return self.pinned is not None

    def _start_timer(self) -> None:
        """Under the lock: one timer at a time."""
        if self._watching and self._timer is None and self.pinned is not None:
            self._timer = threading.Timer(QUIET / 2, self._watch)
            self._timer.daemon = True
            self._timer.start()

    def _pin(self) -> None:
        """Under the lock: every thread on the CPU the calling thread runs on."""
        try:
            allowed = frozenset(self._mask())
        except OSError:
            allowed = self.allowed
        try:
            cpu = self._here()
        except OSError:                      # no /proc/thread-self: the first CPU allowed
            cpu = -1
        if len(allowed) < 2:                 # narrowed meanwhile (taskset -p): nothing to gain
            return
        self.allowed = allowed
        self._change(cpu if cpu in allowed else min(allowed))

    def _change(self, cpu: int | None) -> None:
        """Under the lock: hold every thread on ``cpu`` (None: on every CPU allowed)."""
        try:
            self._apply({cpu} if cpu is not None else set(self.allowed))
        except OSError as exc:               # refused (a container's policy): every CPU again, and no more tries
            log.warning("could not change the CPUs of the process (%s); not trying again", exc)
            self._refused = True
            try:
                self._apply(set(self.allowed))
            except OSError:
                pass
            self.pinned = None
            return
        self.pinned = cpu
        self.changes += 1
        self._start_timer()
        log.debug("process %s", f"held on CPU {cpu}" if cpu is not None else "on every CPU again")


def _set_all(cpus: set[int]) -> None:
    """Every thread of this process on ``cpus``.  Listed again until a listing shows no thread not
    yet set (one started meanwhile by a thread still pinned inherits the old mask); a thread that
    ended meanwhile is skipped; every thread is tried, and the first refusal raised after."""
    done: set[str] = set()
    error: OSError | None = None
    while True:
        tids = [tid for tid in os.listdir("/proc/self/task") if tid not in done]
        if not tids:
            break
        for tid in tids:
            done.add(tid)
            try:
                os.sched_setaffinity(int(tid), cpus)
            except ProcessLookupError:
                pass
            except OSError as exc:
                error = error or exc
    if error is not None:
        raise error


def _current_cpu() -> int:
    """The CPU the calling thread runs on (field 39 of ``/proc/thread-self/stat``)."""
    with open("/proc/thread-self/stat", "rb") as stat:
        return int(stat.read().rsplit(b")", 1)[1].split()[36])


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
    """Turn it off, giving every thread back the CPUs the process had."""
    global _CURRENT
    pinning, _CURRENT = _CURRENT, None
    if pinning is not None:
        pinning.release()


def _after_fork_in_child() -> None:
    """A forked child: pinning off (its lock may be held by a thread that does not exist here), and
    its one thread on every CPU its parent had before pinning."""
    global _CURRENT
    pinning, _CURRENT = _CURRENT, None
    if pinning is not None and pinning.pinned is not None:
        try:
            os.sched_setaffinity(0, pinning.allowed)
        except OSError:
            pass


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
