"""What happened to each recipient of a queue entry: the state changes every part of the queue runner makes.

Theory of operation
    A :class:`~simulator.queue.Recipient` carries its state (pending, deferred, done, failed), the
    enhanced status code and reply of its last outcome, the host that gave it, and why as a
    :class:`~simulator.facts.Reason` (a code with parameters: the narrator words it).  The queue runner
    (:mod:`simulator.delivery`), its relaying (:mod:`simulator.relaying`), its local deliveries
    (:mod:`simulator.local_delivery`) and the direct path (:mod:`simulator.direct`) change them only
    through these functions, so a state always comes with its status and reason.
"""
from __future__ import annotations

from .facts import DeliveryReason, Reason
from .queue import Entry, RcptState, Recipient

__all__ = ["defer", "done", "fail", "left", "reply_reason", "status_of"]


def done(rcpt: Recipient, remote: str) -> None:
    rcpt.state, rcpt.status, rcpt.reply, rcpt.remote, rcpt.reason = RcptState.DONE, "2.0.0", "", remote, None


def left(entry: Entry) -> bool:
    """Something of the attempt is still to come: a recipient to deliver or relay, or a failed one
    to bounce (the gate may hold it, a stop may cancel it)."""
    return any(r.state in (RcptState.PENDING, RcptState.DEFERRED)
               or (r.state is RcptState.FAILED and not entry.extra.get(f"bounced:{r.address}"))
               for r in entry.recipients)


def reply_reason(host: str, reply: str) -> Reason:
    return Reason.of(DeliveryReason.REPLY, host=host, reply=reply)


def fail(rcpt: Recipient, status: str, reason: Reason | None, reply: str = "", remote: str = "") -> None:
    rcpt.state, rcpt.status, rcpt.reply, rcpt.remote = RcptState.FAILED, status, reply, remote
    rcpt.reason = reason


def defer(rcpt: Recipient, status: str, reason: Reason | None, reply: str = "", remote: str = "") -> None:
    rcpt.state, rcpt.status, rcpt.reply, rcpt.remote = RcptState.DEFERRED, status, reply, remote
    rcpt.reason = reason


def status_of(reply, default: str) -> str:
    first = reply.lines[0] if reply.lines else ""
    code = first.split(" ", 1)[0]
    parts = code.split(".")
    if len(parts) == 3 and all(p.isdigit() for p in parts):
        return code
    return default
