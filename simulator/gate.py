"""StepGate: play / pause / step / speed for the whole mail world.

Every actor awaits :meth:`StepGate.hop` *before* a hop happens (before the DNS question is sent,
before the SMTP connection is opened, before the MDA writes the file, before the MSA answers the
final dot).  In pause mode the hop waits until somebody releases it, so stepping pauses the real
servers and clients: a real client simply sees a slow server.

Theory of operation: the gate lives on the mail loop.  Waiting hops are futures in FIFO order.
Control calls (play, pause, step, set_delay) may come from any thread (the web UI, the terminal);
they are marshalled onto the loop with ``call_soon_threadsafe``.  ``step()`` releases the oldest
waiting hop, or, when none waits, lets the next one through (one credit, never more).
"""
from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from dataclasses import dataclass
from enum import StrEnum
from typing import Callable

from .facts import NextHop
from .narrate import narrate

log = logging.getLogger(__name__)


class Mode(StrEnum):
    PLAY = "play"
    PAUSE = "pause"


class Granularity(StrEnum):
    HOP = "hop"        # step releases one hop (a whole SMTP session, a DNS lookup, a delivery)
    LINE = "line"      # step also releases each server reply of an SMTP dialogue, one line at a time


@dataclass(frozen=True, slots=True)
class Waiting:
    """A held hop: the fact of what will happen, and its words in every language."""
    hop: NextHop
    text: dict[str, dict[str, str]]

    def to_dict(self) -> dict:
        return {"src": self.hop.src, "dst": self.hop.dst, "step": str(self.hop.step),
                "text": self.text}


@dataclass(frozen=True, slots=True)
class GateState:
    mode: Mode
    delay: float
    waiting: tuple[Waiting, ...]
    granularity: Granularity = Granularity.HOP

    def to_dict(self) -> dict:
        return {"mode": str(self.mode), "delay": self.delay, "granularity": str(self.granularity),
                "waiting": [w.to_dict() for w in self.waiting]}


class StepGate:
    def __init__(self, *, paused: bool = False, delay: float = 0.0) -> None:
        self._mode = Mode.PAUSE if paused else Mode.PLAY
        self._granularity = Granularity.HOP
        self._delay = max(0.0, delay)
        self._waiting: deque[tuple[asyncio.Future[None], Waiting]] = deque()
        self._credit = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listeners: list[Callable[[GateState], None]] = []
        self._lock = threading.Lock()   # guards the snapshot read by other threads

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def on_change(self, listener: Callable[[GateState], None]) -> None:
        self._listeners.append(listener)

    # -- the actors' side (on the loop) ---------------------------------------------------------
    async def hop(self, hop: NextHop) -> None:
        """Wait until this hop may happen."""
        if self._mode is Mode.PLAY:
            if self._delay:
                await asyncio.sleep(self._delay)
            return
        if self._credit:
            self._credit -= 1
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (future, Waiting(hop, narrate(hop)))
        with self._lock:
            self._waiting.append(entry)
        self._changed()
        try:
            await future
        finally:
            with self._lock:
                if entry in self._waiting:
                    self._waiting.remove(entry)

    @property
    def line_mode(self) -> bool:
        return self._granularity is Granularity.LINE

    async def line(self, hop: NextHop) -> None:
        """Wait before one line of a dialogue -- only when the teacher steps line by line."""
        if self._granularity is Granularity.LINE:
            await self.hop(hop)

    # -- the controls (any thread) ---------------------------------------------------------------
    def play(self) -> None:
        self._call(self._play)

    def pause(self) -> None:
        self._call(self._pause)

    def step(self) -> None:
        self._call(self._step)

    def set_delay(self, seconds: float) -> None:
        if not 0 <= seconds <= 60:
            raise ValueError("delay must be between 0 and 60 seconds")
        self._call(self._set_delay, float(seconds))

    def set_granularity(self, value: str) -> None:
        self._call(self._set_granularity, Granularity(value))   # ValueError for anything else

    def state(self) -> GateState:
        with self._lock:
            return GateState(self._mode, self._delay, tuple(w for _, w in self._waiting), self._granularity)

    def release_all(self) -> None:
        """Used at shutdown: nothing stays blocked on the gate."""
        self._call(self._release_all)

    # -- on the loop -----------------------------------------------------------------------------
    def _call(self, fn, *args) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            fn(*args)
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            fn(*args)
        else:
            loop.call_soon_threadsafe(fn, *args)

    def _play(self) -> None:
        self._mode = Mode.PLAY
        self._credit = 0
        self._release_all()

    def _pause(self) -> None:
        self._mode = Mode.PAUSE
        self._changed()

    def _step(self) -> None:
        if self._mode is Mode.PLAY:
            self._mode = Mode.PAUSE
        with self._lock:
            while self._waiting:
                future, _ = self._waiting.popleft()
                if not future.done():
                    future.set_result(None)
                    break
            else:
                self._credit = 1
        self._changed()

    def _set_granularity(self, value: Granularity) -> None:
        self._granularity = value
        self._changed()

    def _set_delay(self, seconds: float) -> None:
        self._delay = seconds
        self._changed()

    def _release_all(self) -> None:
        with self._lock:
            entries = list(self._waiting)
            self._waiting.clear()
        for future, _ in entries:
            if not future.done():
                future.set_result(None)
        self._changed()

    def _changed(self) -> None:
        state = self.state()
        for listener in list(self._listeners):
            try:
                listener(state)
            except Exception:
                log.exception("gate listener failed")
