"""What every view of the web package shares: the app's :class:`Context` and :class:`ApiError`.

One ``Context`` per app, in ``app.extensions["mailflow"]``: the running mail stack (or None, a page
with no world), the lesson director that owns it (or None: a page built on a bare stack, where the
lesson routes answer 503), the bridge to Socket.IO, the Socket.IO server and the socket guard.

The director may swap the world (a lesson loaded, the world reset): ``stack`` then points to the new
stack (set by ``__init__._on_director``), so a view reads ``current().stack`` on every request and
never keeps one.  ``follow`` is the teacher's last view (selected hop, review position, step), which
a page that connects later is greeted with (sockets.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask import current_app

if TYPE_CHECKING:
    from flask_socketio import SocketIO

    from ..runtime import MailStack
    from .bridge import Bridge
    from .guard import SocketGuard

EXTENSION = "mailflow"


@dataclass(slots=True)
class Context:
    """What the views need: the mail stack, the director and the bridge (one per app)."""
    stack: "MailStack | None"
    bridge: "Bridge | None"
    socketio: "SocketIO"
    sockets: "SocketGuard"
    fingerprint: dict[str, str] = field(default_factory=dict)     # cached: the certificate's SHA-256
    director: Any = None                                           # simulator.lesson.Director or None
    follow: dict[str, Any] | None = None                           # the teacher's view, for latecomers
    unsubscribe: Any = None                                        # from the director's news (shutdown)
    logins: Any = None                                             # webmail.Logins: browsers' webmail logins
    classroom: Any = None                                          # simulator.classroom.Classroom: the students
    login_checks: Any = None                                       # webmail.InFlight: one login check per browser
    outbox: Any = None                                             # webmail.Outbox: sends answered 202


class ApiError(Exception):
    """An answer of the JSON API that is not a success: ``{"error": message}`` with ``status``.

    ``extra`` goes into the answer beside the message (a broken scenario's list of problems)."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.extra = status, message, extra


def current() -> Context:
    """The context of the app handling this request (or Socket.IO event)."""
    return current_app.extensions[EXTENSION]


def running_stack() -> "MailStack":
    """The running mail stack; a 503 for a page started with no world."""
    stack = current().stack
    if stack is None:
        raise ApiError(503, "the mail world is not running")
    return stack


def running_director() -> Any:
    """The lesson director; a 503 for a page started on a bare mail stack (no lessons there)."""
    director = current().director
    if director is None:
        raise ApiError(503, "lessons are not available: this page was started on a bare mail world "
                            "without the lesson director (start it with app.py)")
    return director
