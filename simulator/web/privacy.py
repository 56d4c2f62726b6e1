"""What a viewer's page may see of each event: what crossed the wire in the clear, not what TLS hid.

The teacher's page (and any page on a computer trusted as the teacher's) gets every event whole:
the projector shows the whole dialogue of every hop.  Every other page -- a student's laptop in a
shared classroom -- gets a copy made by :func:`redact`, which keeps what a listener on the network
would read and the diagram's facts, and leaves out what only the two ends of a TLS connection or
the mailbox's owner may read:

- **Lines sent under TLS** (from the hop's ``data.wire.tls_from`` on) become one marker line
  ``["🔒", "<how many lines>"]``, which the page words ("n lines encrypted by TLS").  Lines before
  STARTTLS stay: EHLO, the capabilities, STARTTLS itself.  A plaintext session stays whole -- its
  AUTH line, its MAIL FROM, its message -- because a listener reads exactly that: it is the lesson.
- **Credentials TLS hid** are dropped from ``data.credentials`` (those in the clear stay).
- **The message's contents** (subject, From and To headers, Message-ID) are left out of every
  event's ``message``; the envelope, the size and the ``Received:`` chain stay, so the page still
  tells who sent to whom along which hops.

Where the copies go: the bridge emits each batch twice, whole to the Socket.IO room ``FULL`` and
redacted to ``REDACTED``; the connect handler puts each page in one of them (:func:`room`), and
``/api/events`` and "sync" answer with the copy the asker may see.
"""
from __future__ import annotations

from typing import Any

from .guard import is_teacher

FULL = "events-full"
REDACTED = "events-redacted"
TLS_HIDDEN = "🔒"               # the side of a transcript marker: how many lines TLS hid
MESSAGE_KEPT = ("from", "rcpt", "size", "received")


def sees_everything() -> bool:
    """Does the page asking (this request or Socket.IO connection) get events whole?"""
    return is_teacher()


def room() -> str:
    return FULL if sees_everything() else REDACTED


def for_asker(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return events if sees_everything() else [redact(e) for e in events]


def redact(event: dict[str, Any]) -> dict[str, Any]:
    """A viewer's copy of one event (a dict of :meth:`Event.to_dict`); the event is not changed."""
    out = dict(event)
    message = event.get("message")
    if isinstance(message, dict):
        out["message"] = {k: message[k] for k in MESSAGE_KEPT if k in message}
    data = event.get("data")
    if not isinstance(data, dict):
        return out
    wire = data.get("wire")
    tls_from = wire.get("tls_from") if isinstance(wire, dict) else None
    transcript = event.get("transcript") or []
    if isinstance(tls_from, int) and 0 <= tls_from < len(transcript):
        hidden = sum(1 for pair in transcript[tls_from:] if pair and pair[0] in ("C", "S"))
        out["transcript"] = [list(p) for p in transcript[:tls_from]] + [[TLS_HIDDEN, str(hidden)]]
    credentials = data.get("credentials")
    if isinstance(credentials, list):
        out["data"] = {**data, "credentials": [c for c in credentials
                                               if isinstance(c, dict) and not c.get("hidden_by")]}
    return out
