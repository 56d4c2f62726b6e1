"""The bridge: event bus and step gate -> Socket.IO (the only module that emits to the browsers).

Theory of operation: the bus calls :meth:`Bridge._on_event` in the publishing thread (usually the
mail loop), so that method only appends to a deque and wakes the sender.  One background task (a
thread in Flask-SocketIO's ``threading`` mode) drains the deque and emits *batches*: it waits a
short window after the first event of a burst (``window`` seconds) so that a burst of a thousand
hops becomes a few dozen messages, never a thousand.  Every connected browser gets the same batch;
python-socketio encodes a broadcast once.  Gate changes are coalesced: only the latest state is sent.

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
from . import privacy

if TYPE_CHECKING:
    from flask_socketio import SocketIO

    from ..gate import GateState
    from ..runtime import MailStack

log = logging.getLogger(__name__)

MAX_BATCH = 400          # events per Socket.IO message (a burst becomes several messages)


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
    def _run(self) -> None:
        while not self._stopped.is_set():
            if not self._wake.wait(1.0):
                continue
            # Let a burst gather: a few tens of milliseconds are invisible to a human.
            time.sleep(self.window)
            self._wake.clear()
            try:
                self._flush()
            except Exception:   # a failed emit must not end the bridge
                log.exception("emitting to the browsers failed")

    def _flush(self) -> None:
        with self._lock:
            gate, self._gate_state = self._gate_state, None
        if gate is not None:
            self.socketio.emit("gate", gate.to_dict())
        while self._pending:
            batch: list[dict[str, Any]] = []
            while self._pending and len(batch) < MAX_BATCH and not isinstance(self._pending[0], tuple):
                batch.append(self._pending.popleft().to_dict())
            if batch:
                # whole to the teacher's pages, a viewer's copy to the others (privacy.py)
                last = batch[-1]["seq"]
                self.socketio.emit("events", {"events": batch, "last_seq": last}, to=privacy.FULL)
                self.socketio.emit("events", {"events": [privacy.redact(e) for e in batch], "last_seq": last},
                                   to=privacy.REDACTED)
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
