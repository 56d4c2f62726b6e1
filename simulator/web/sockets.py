"""Socket.IO handlers: who may connect, the greeting, "sync" for a browser that (re)connects, and
"follow": the teacher's view, which every viewer's page follows.

Server -> browser: "hello" on connect (role, gate, the lesson's state, the teacher's last view), then
"events", "gate", "world" and "lesson" from the bridge (bridge.py), and "follow" from here.
Browser -> server: "sync" ``{"since": seq}``, answered (as the ack) with the events it missed;
"follow" ``{"cursor": seq|null, "selected": seq|null, "step": n|null, "trace": str}`` from the
teacher's page only (a viewer's is ignored), passed on to every other page and kept for latecomers.

In a lecture hall (hall.py) the same handlers run in every web process.  Each process puts its own
sockets in the privacy room the asker's token or address earns (the token is the same everywhere),
and the kept teacher's view is every process's (each one watches the queue).  A web-only process has
no world: it greets from the hall's mirror and answers "sync" with the mail process's events, redacted
here for a viewer exactly as the room would have them.
"""
from __future__ import annotations

import logging
from typing import Any

from flask import current_app, request
from flask_socketio import SocketIO, emit, join_room

from . import fanout, hall, privacy
from .api import SYNC_LIMIT, events_since
from .context import current
from .guard import host_allowed, is_teacher, role
from .lessons import lesson_state

log = logging.getLogger(__name__)


def _connect(_auth: Any = None) -> bool | None:
    # Engine.IO answers before Flask's before_request: check the Host here too (DNS rebinding).
    if not host_allowed(request.host):
        return False
    ctx = current()
    refused = ctx.sockets.admit(request.sid, request.remote_addr or "")
    if refused is not None:
        log.info("Socket.IO connection from %s refused: %s", request.remote_addr, refused)
        raise ConnectionRefusedError(refused)      # the page gets it as a connect_error
    join_room(privacy.room())              # whole events, or a viewer's copy (privacy.py)
    try:
        emit("hello", _hello())
    except Exception:
        ctx.sockets.release(request.sid)     # a failed connect gets no disconnect event
        raise
    return None


def _hello() -> dict[str, Any]:
    ctx = current()
    stack = ctx.stack
    parts = hall.of(current_app)
    if stack is None and parts is not None and parts.mirror is not None:      # a web-only process
        facts = parts.mirror.facts()
        return {"role": role(), "last_seq": facts["last_seq"], "gate": facts["gate"],
                "lesson": facts["lesson"], "follow": facts["follow"]}
    return {"role": role(), "last_seq": stack.bus.last_seq if stack else 0,
            "gate": stack.gate.state().to_dict() if stack else None,
            "lesson": lesson_state(), "follow": ctx.follow}


def _disconnect(_reason: Any = None) -> None:
    current().sockets.release(request.sid)


def _sync(data: Any = None) -> dict[str, Any] | None:
    """A browser that (re)connects asks for what it missed; the answer is the ack.

    At most one answer per SYNC_INTERVAL per connection: one inside the interval gets an empty
    answer at once, ``{"events": [], "more": false, "throttled": true, "retry_after": s}``
    (no first_seq: nothing to conclude from it), and the page asks again after ``s`` seconds.
    """
    ctx = current()
    stack = ctx.stack
    wait = ctx.sockets.sync_wait(request.sid)
    if wait:
        return {"events": [], "last_seq": stack.bus.last_seq if stack else 0, "more": False,
                "throttled": True, "retry_after": wait}
    since = data.get("since", 0) if isinstance(data, dict) else 0
    if isinstance(since, bool) or not isinstance(since, int) or since < 0:
        since = 0
    parts = hall.of(current_app)
    if stack is None and parts is not None and parts.upstream is not None:      # a web-only process
        answer = parts.upstream.events(since, SYNC_LIMIT)          # whole (the token's): redacted below
        if answer is None or not isinstance(answer.get("events"), list):
            return None                    # the page takes it as a timeout and asks again
        answer["events"] = privacy.for_asker(answer["events"])
        return answer
    if stack is None:
        return {"events": [], "last_seq": 0, "first_seq": 1, "more": False}
    answer = events_since(stack, since, SYNC_LIMIT)
    answer["events"] = privacy.for_asker(answer["events"])
    return answer


def _seq_or_none(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2 ** 62:
        return None
    return value


def follow_view(data: Any) -> dict[str, Any] | None:
    """The teacher's view, checked field by field (anything else in the message is dropped)."""
    if not isinstance(data, dict):
        return None
    trace = data.get("trace")
    return {"cursor": _seq_or_none(data.get("cursor")), "selected": _seq_or_none(data.get("selected")),
            "step": _seq_or_none(data.get("step")),
            "trace": trace if isinstance(trace, str) and len(trace) <= 80 else ""}


def _follow(data: Any = None) -> dict[str, Any]:
    """The teacher moved (a hop selected, back or forward, a step of the narration): every other
    page follows.  A viewer's message is refused: viewers follow, they do not lead."""
    if not is_teacher():
        return {"ok": False, "error": "only the teacher leads the class"}
    view = follow_view(data)
    if view is None:
        return {"ok": False, "error": "follow takes an object"}
    ctx = current()
    ctx.follow = view
    emit("follow", view, broadcast=True, include_self=False)
    return {"ok": True}


def register(socketio: SocketIO) -> None:
    fanout.install(socketio)        # the bridge's batches framed once for every page (fanout.py)
    socketio.on("connect")(_connect)
    socketio.on("disconnect")(_disconnect)
    socketio.on("sync")(_sync)
    socketio.on("follow")(_follow)
