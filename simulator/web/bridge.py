"""The bridge: event bus and step gate -> Socket.IO (the only module that emits to the browsers).

Theory of operation: the bus calls :meth:`Bridge._on_event` in the publishing thread (usually the
mail loop), so that method only appends to a deque and wakes the sender.  One background task (a
thread in Flask-SocketIO's ``threading`` mode) drains the deque and emits *batches*: it waits a
short window after the first event of a burst (``window`` seconds) so that a burst of a thousand
hops becomes a few dozen messages, never a thousand.  Every connected browser gets the same batch,
encoded, compressed and framed once (fanout.py): what is left per page is the hand-off to its writer
thread and the write to its socket.  The teacher's copy is not even encoded here: it is spliced from
the events' JSON lines, which the bus made for the log (:attr:`Event.line`, :func:`fanout.events_packet`).  Gate changes are coalesced: only the latest state is sent.

Each batch costs every page a send (a queue hand-off to the page's writer thread, a wake-up, a
WebSocket frame), so while a burst lasts the batches are paced: the next one leaves no sooner than
:func:`pace` after the last, a pace that grows with the pages listening here (the window alone for
one page, 0.06 s for 10, 0.12 s -- ``MAX_PACE`` -- from 30 on).  A lone hop after a quiet spell
still leaves after the window.  A batch is encoded only for a privacy room somebody is in (with no
page at all, the events are only taken from the queue: a page that connects later loads the history
and asks for what it missed with "sync", from its own last seq).  In a lecture hall other processes'
rooms are not known here, so both copies are always published.

The bridge also remembers every world change (kinds ``world.host`` and ``world.mx``: they are rare)
and the world as it was when the bridge started, so a browser can rebuild the world at any point of
the history even after the bus has dropped old events from its bounded buffer.

When the lesson director swaps the world (a lesson loaded, the world reset), :meth:`rebind` moves
the bridge to the new stack: its gate, a new baseline, an empty list of changes, and a "world"
message queued *after* the old world's last events, so every page drops what it drew and reloads.
The bus is one object for the life of the program, but a new one is followed too.

Messages sent to the browser (Mailpit-style ``{type, data}`` is carried by the Socket.IO event name):
    "events"  {"events": [event dict, ...], "last_seq": n}: whole to the teacher's pages, a viewer's
              copy (privacy.py: what TLS hid and the messages' contents left out) to the others
    "gate"    {"mode": "play"|"pause", "delay": s, "granularity": "hop"|"line",
               "waiting": [{"src", "dst", "step", "text": {lang: {"summary", "explain"}}}, ...]}
    "world"   {"seq": n, "name": scenario name}: the world was swapped; reload the state
    "lesson"  the director's lesson_state(): where the lesson stands
    "follow"  the teacher's view (sockets.py sends it, not the bridge)
    "class"   {"open", "domain", "limit", "students"}: the teacher opened or closed joining (classroom.py)
"""
from __future__ import annotations

import collections
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from ..events import Event
from . import fanout, privacy

if TYPE_CHECKING:
    from flask_socketio import SocketIO

    from ..gate import GateState
    from ..runtime import MailStack

log = logging.getLogger(__name__)

MAX_BATCH = 400          # events per Socket.IO message (a burst becomes several messages)
PACE_PER_PAGE = 0.003    # seconds between two batches added per page listening here (see pace())
MAX_PACE = 0.12          # ... up to this (a lecture hall of 300: hop -> viewer p95 well under 0.5 s)
ROOMS = (privacy.FULL, privacy.REDACTED)
LISTENED = 1             # a room's count when it cannot be known here


def pace(window: float, pages: int) -> float:
    """The least time between two batches with ``pages`` listening: every batch costs each page a
    send (a queue hand-off, a thread woken, a WebSocket frame), so the more pages, the fewer and
    larger the batches during a burst; never more than MAX_PACE."""
    return min(max(window, MAX_PACE), window + PACE_PER_PAGE * max(0, pages))


def next_delay(now: float, last: float, window: float, pace: float) -> float:
    """How long the sender waits after the first event of a batch: the window, or until ``pace``
    seconds after the last batch (``last``) when that is later."""
    return max(window, last + pace - now)


class Bridge:
    """Subscribes to the bus and the gate of ``stack`` and emits to every browser until ``stop()``."""

    def __init__(self, socketio: "SocketIO", stack: "MailStack", *, window: float = 0.03) -> None:
        self.socketio = socketio
        self.stack = stack
        self.window = window
        # events, and ("world" | "lesson", payload) messages, in the order they must reach the pages
        self._pending: collections.deque[Event | tuple[str, Any]] = collections.deque()
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._gate_state: GateState | None = None
        self._lock = threading.Lock()
        self.world_changes: list[dict[str, Any]] = []
        self.batches_sent = 0
        self.swaps = 0
        self._bus = stack.bus
        self._unsubscribe = stack.bus.subscribe(self._on_event)
        # Snapshot after subscribing: a change racing with us is both in the snapshot and in the
        # list, and applying a change twice is harmless (both kinds set, never toggle).
        self.baseline = {"seq": stack.bus.last_seq, "world": stack.world.to_dict()}
        self._follow_gate(stack)
        self._task = socketio.start_background_task(self._run)

    def _follow_gate(self, stack: "MailStack") -> None:
        gate = stack.gate
        # a gate has no way to unsubscribe: the old world's gate is simply not listened to any more
        gate.on_change(lambda state: self._on_gate(state) if self.stack.gate is gate else None)

    def rebind(self, stack: "MailStack") -> None:
        """The director swapped the world: follow ``stack`` and tell every page to reload."""
        if self._bus is not stack.bus:
            self._unsubscribe()
            self._bus = stack.bus
            self._unsubscribe = stack.bus.subscribe(self._on_event)
        with self._lock:
            self.stack = stack
            self.world_changes = []
            self.baseline = {"seq": stack.bus.last_seq, "world": stack.world.to_dict()}
            self._gate_state = stack.gate.state()
            self.swaps += 1
            self._pending.append(("world", {"seq": self.baseline["seq"], "name": stack.world.scenario.name}))
        self._follow_gate(stack)
        self._wake.set()

    def push_lesson(self, state: dict[str, Any]) -> None:
        """Where the lesson stands, to every page (a newer state replaces one not sent yet)."""
        if self._stopped.is_set():
            return
        with self._lock:
            if self._pending and isinstance(self._pending[-1], tuple) and self._pending[-1][0] == "lesson":
                self._pending.pop()
            self._pending.append(("lesson", state))
        self._wake.set()

    # -- called from other threads: quick -----------------------------------------------------
    def _on_event(self, event: Event) -> None:
        if self._stopped.is_set():
            return
        with self._lock:
            if event.kind.startswith("world."):
                self.world_changes.append(event.to_dict())
            self._pending.append(event)
        if not self._wake.is_set():     # already set during a burst: setting it again costs a
            self._wake.set()            # lock and a notify per hop; the sender clears it, then drains

    def _on_gate(self, state: "GateState") -> None:
        if self._stopped.is_set():
            return
        with self._lock:
            self._gate_state = state
        self._wake.set()

    # -- the sender ------------------------------------------------------------------------------
    def pace(self) -> float:
        """The least time between two batches: the window, and more the more pages listen here."""
        return pace(self.window, sum(self.listeners().values()))

    def listeners(self) -> dict[str, int]:
        """Pages in each privacy room of this process; ``LISTENED`` for both when other processes
        may listen too (a lecture hall's message queue: their rooms are not known here)."""
        from socketio import PubSubManager    # imported by now, without redis (quietimports.py)

        try:
            manager = self.socketio.server.manager
            if isinstance(manager, PubSubManager):
                return dict.fromkeys(ROOMS, LISTENED)
            rooms = manager.rooms.get("/", {})
            return {name: len(rooms.get(name, ())) for name in ROOMS}
        except AttributeError:          # no Socket.IO server: assume pages listen
            return dict.fromkeys(ROOMS, LISTENED)

    def _run(self) -> None:
        last = -1e9
        while not self._stopped.is_set():
            if not self._wake.wait(1.0):
                continue
            # Let a burst gather: a few tens of milliseconds are invisible to a human.  While it
            # lasts, a batch at most every pace() seconds: each batch costs every page a send.
            time.sleep(next_delay(time.monotonic(), last, self.window, self.pace()))
            self._wake.clear()
            try:
                self._flush()
            except Exception:   # a failed emit must not end the bridge
                log.exception("emitting to the browsers failed")
            last = time.monotonic()

    def _flush(self) -> None:
        with self._lock:
            gate, self._gate_state = self._gate_state, None
        if gate is not None:
            self.socketio.emit("gate", gate.to_dict())
        while self._pending:
            # Who listens is read after the events are taken: a page that joins later loads the
            # history and asks "sync" for what it missed (main.js), these events included.
            events: list[Event] = []
            while self._pending and len(events) < MAX_BATCH and not isinstance(self._pending[0], tuple):
                events.append(self._pending.popleft())
            listeners = self.listeners() if events else {}
            if any(listeners.values()):
                batch = [event.to_dict() for event in events]
                last = batch[-1]["seq"]
                # whole to the teacher's pages, a viewer's copy to the others (privacy.py); no
                # encoding for a room nobody is in
                if listeners[privacy.FULL]:
                    # the events' JSON lines from the log, spliced: not encoded a second time
                    lines = [event.line for event in events]
                    packet = fanout.events_packet(lines, last) if all(lines) else None
                    fanout.emit(self.socketio, "events", {"events": batch, "last_seq": last}, privacy.FULL,
                                packet=packet)
                if listeners[privacy.REDACTED]:
                    fanout.emit(self.socketio, "events",
                                {"events": [privacy.redact(e) for e in batch], "last_seq": last}, privacy.REDACTED)
                self.batches_sent += 1
            if self._pending and isinstance(self._pending[0], tuple):
                name, payload = self._pending.popleft()
                self.socketio.emit(name, payload)

    def world_change_list(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.world_changes)

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    def stop(self) -> None:
        self._stopped.set()
        self._wake.set()
        self._unsubscribe()
