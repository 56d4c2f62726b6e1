"""A light hand-off of blocking work (the disk) from the event loop to worker threads.

Theory of operation
    ``asyncio.to_thread`` goes through a ``ThreadPoolExecutor``: per call a copy of the context, a
    ``concurrent.futures.Future`` (with its own ``Condition``), a work item, two locks taken on
    submit, an idle-worker ``Semaphore`` (Python code over a ``Condition``) acquired on submit and
    released by the worker, and ``wrap_future``'s chain of callbacks between the two futures.  All of
    it runs with the GIL held, on the loop and in the worker, around every hand-off: on an MX
    taking messages from ten clients the hand-off of the direct write was a sixth of the mail loop's
    samples (``py-spy --gil``).

    :class:`Handoff` keeps what is needed.  Workers wait on one ``queue.SimpleQueue`` (its ``put`` and
    ``get`` are single C calls); the loop puts ``(loop, future, function, args)``; the worker runs the
    function and leaves the outcome in that loop's outbox; the first outcome of an empty outbox wakes
    the loop with one ``loop.call_soon_threadsafe`` (a write to the loop's self-pipe), and the loop
    settles every outcome the outbox holds by then, in the order they came (a cancelled future's is
    dropped: the work itself still ran to its end, as with ``to_thread``).  Workers that finish while
    the loop is busy elsewhere -- ten clients at once -- share one wake-up instead of each writing
    its own byte (a system call and a hand-off of the GIL in the worker, a read on the loop).
    Workers are started on demand, at most ``max_workers``: a new one only when none is idle (the
    idle count is kept under one plain lock, the same rule as the executor's semaphore).  They are daemon threads shared by every loop of the process; a job left running at
    the interpreter's exit is what a crash is, and the simulator's writes are made for that (every
    durable write is complete or absent).  A child made by ``fork`` starts with an empty pool (the
    parent's threads do not exist there).  The caller's context variables are not carried into the
    worker (the disk work reads none).

    ``await run(function, *args)`` is the whole interface; an exception of the function is raised by
    the ``await``.

    Each job handed over tells the process's CPU pinning (:mod:`simulator.affinity`, when ``app.py``
    turned it on) whether another job was still running: overlapping hand-offs are what makes the
    process hold itself on one CPU.
"""
from __future__ import annotations

import asyncio
import logging
import os
import queue
import threading
from typing import Any, Callable, TypeVar

from . import affinity

__all__ = ["MAX_WORKERS", "Handoff", "run"]

log = logging.getLogger(__name__)

T = TypeVar("T")
MAX_WORKERS = 6             # as the default executor on two cores: min(32, cpus + 4)


class Handoff:
    """A small pool of worker threads fed from one ``SimpleQueue`` (see the module's docstring)."""

    def __init__(self, max_workers: int = MAX_WORKERS, *, name: str = "handoff") -> None:
        self._jobs: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0                      # workers waiting for a job and not yet promised one
        self._running = 0                   # jobs handed over and not yet ended
        self._threads: list[threading.Thread] = []
        self._max = max_workers
        self._name = name
        self._outbox: dict[Any, list[tuple[Any, Any, BaseException | None]]] = {}   # per loop, under _lock

    def run(self, function: Callable[..., T], *args: Any) -> "asyncio.Future[T]":
        """Run ``function(*args)`` in a worker thread; the future (of the running loop) gets its
        result or its exception."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        with self._lock:
            overlapped = self._running > 0
            self._running += 1
            if self._idle:
                self._idle -= 1
                start = False
            else:
                start = len(self._threads) < self._max
                if start:
                    thread = threading.Thread(target=self._work, name=f"{self._name}_{len(self._threads)}",
                                              daemon=True)
                    self._threads.append(thread)
        self._jobs.put((loop, future, function, args))
        if start:
            thread.start()
        pinning = affinity.current()
        if pinning is not None:
            try:
                pinning.note(overlapped)
            except Exception:               # a speed-up must never fail a write: pinning off
                log.exception("CPU pinning failed; turned off")
                affinity.disable()          # gives the CPUs back; a refusal there is already caught
        return future

    def _forget(self) -> None:
        """In a child after ``fork``: no worker thread exists here, nor the jobs they held."""
        self._jobs = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0
        self._running = 0
        self._threads = []
        self._outbox = {}

    @property
    def workers(self) -> int:
        """How many worker threads were started (for tests)."""
        return len(self._threads)

    def _work(self) -> None:
        jobs, lock, outbox = self._jobs, self._lock, self._outbox
        while True:
            loop, future, function, args = jobs.get()
            try:
                result, error = function(*args), None
            except BaseException as exc:        # given to the awaiting coroutine, as to_thread does
                result, error = None, exc
            with lock:
                self._idle += 1
                self._running -= 1
                if loop.is_closed():            # nobody waits; a box left by its last wake-up goes too
                    outbox.pop(loop, None)
                    box, wake = None, False
                else:
                    box = outbox.get(loop)
                    wake = box is None
                    if wake:
                        box = outbox[loop] = []
                    box.append((future, result, error))
            if wake:
                try:
                    loop.call_soon_threadsafe(self._deliver, loop)
                except RuntimeError:            # the loop was closed meanwhile: nobody waits
                    with lock:
                        outbox.pop(loop, None)
            del loop, future, function, args, result, error, box

    def _deliver(self, loop: Any) -> None:
        """On ``loop``: settle every outcome its outbox holds (one wake-up may bring several)."""
        with self._lock:
            box = self._outbox.pop(loop, ())
        for future, result, error in box:
            try:
                _settle(future, result, error)
            except Exception as exc:            # e.g. StopIteration, which a future refuses: the others still settle
                loop.call_exception_handler({"message": "a hand-off outcome could not be settled",
                                             "exception": exc, "future": future})


def _settle(future: "asyncio.Future[Any]", result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        if isinstance(error, StopIteration):        # a future refuses it (TypeError): say what happened
            wrapped = RuntimeError("StopIteration raised in a hand-off worker")
            wrapped.__cause__ = error
            error = wrapped
        future.set_exception(error)
    else:
        future.set_result(result)


_POOL = Handoff()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_POOL._forget)


def run(function: Callable[..., T], *args: Any) -> "asyncio.Future[T]":
    """``await run(function, *args)``: :meth:`Handoff.run` on the process's one pool."""
    return _POOL.run(function, *args)
