"""The queue runner's disk work off the event loop, counted until it ends (issue 13).

Theory of operation
    Every blocking file operation of the queue runner (a queue entry written and fsynced, a message
    read back, an entry removed and its directory fsynced) is handed to a worker thread and awaited
    on the loop; a submitted message makes three such hand-offs.  They go to the process's light
    hand-off pool (:mod:`simulator.handoff`, shared with the MX's direct write), not through
    ``asyncio.to_thread`` and the loop's default executor: a no-op job costs 27 -> 15 µs of CPU one
    at a time and 18 -> 5 µs with ten in flight (measured with a pool of the same design).

    What the default executor gave for free is kept: :meth:`Offload.wait` returns once every job
    handed over before it has ended, so :meth:`simulator.delivery.Delivery.stop` lets the disk work in
    flight -- of attempts it has just cancelled too -- finish before the stack lets the data directory
    go (a cancelled await does not stop its job: it runs to its end, its outcome dropped, as with
    ``to_thread``).  The count is one plain ``Condition`` taken twice per job.
"""
from __future__ import annotations

import asyncio
import threading
from typing import Any, Callable, TypeVar

from . import diskhelper, handoff

__all__ = ["Offload"]

T = TypeVar("T")


class Offload:
    """Jobs handed to :func:`simulator.handoff.run`, counted until they end."""

    def __init__(self) -> None:
        self._ended = threading.Condition()
        self._running = 0

    def run(self, fn: Callable[..., T], *args: Any) -> "asyncio.Future[T]":
        """``fn(*args)`` in a worker thread: ``await offload.run(queue.add, entry, content)``."""
        with self._ended:
            self._running += 1
        return handoff.run(self._call, fn, args)

    def _call(self, fn: Callable[..., T], args: tuple) -> T:
        try:
            return fn(*args)
        finally:
            with self._ended:
                self._running -= 1
                if not self._running:
                    self._ended.notify_all()

    def far(self, name: str, *args: Any) -> "asyncio.Future[Any]":
        """``diskhelper.OPS[name]`` with ``args``: in the disk helper process when one is ready
        (:mod:`simulator.diskhelper`), else in a worker thread as :meth:`run`.  Same result, same
        changes to ``args``, same exceptions."""
        future = diskhelper.far(name, args, self._running > 0, self._answered)
        if future is None:
            return self.run(diskhelper.OPS[name].here, *args)
        with self._ended:
            self._running += 1
        return future

    def _answered(self) -> None:
        """A job of :meth:`far` has ended (answered, or done again by a thread), cancelled or not."""
        with self._ended:
            self._running -= 1
            if not self._running:
                self._ended.notify_all()

    @property
    def running(self) -> int:
        """Jobs handed over and not yet ended."""
        return self._running

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every job handed over so far has ended (False: ``timeout`` passed first).
        From the loop, call it in a thread."""
        with self._ended:
            return self._ended.wait_for(lambda: not self._running, timeout)
