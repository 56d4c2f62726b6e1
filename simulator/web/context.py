"""What every view of the web package shares: the app's :class:`Context` and :class:`ApiError`.

One ``Context`` per app, in ``app.extensions["mailflow"]``: the running mail stack (or None, a page
with no world), the bridge to Socket.IO, the Socket.IO server and the socket guard.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from flask import current_app

if TYPE_CHECKING:
    from flask_socketio import SocketIO

    from ..runtime import MailStack
    from .bridge import Bridge
    from .guard import SocketGuard

EXTENSION = "mailflow"


@dataclass(slots=True)
class Context:
    """What the views need: the mail stack and the bridge (one per app)."""
    stack: "MailStack | None"
    bridge: "Bridge | None"
    socketio: "SocketIO"
    sockets: "SocketGuard"
    fingerprint: dict[str, str] = field(default_factory=dict)     # cached: the certificate's SHA-256


class ApiError(Exception):
    """An answer of the JSON API that is not a success: ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def current() -> Context:
    """The context of the app handling this request (or Socket.IO event)."""
    return current_app.extensions[EXTENSION]


def running_stack() -> "MailStack":
    """The running mail stack; a 503 for a page started with no world."""
    stack = current().stack
    if stack is None:
        raise ApiError(503, "the mail world is not running")
    return stack
