"""English texts of the queue facts (merged into ../en.py when the narrator refactor is done)."""
from __future__ import annotations

from ... import facts as f
from .. import plural
from ..markup import code, listing
from ..why import reason


def _queue_seconds(seconds: float) -> str:
    value = f"{round(seconds, 1):g}" if seconds < 1000 else f"{seconds:.0f}"
    return f"{value} s"


def _queue_for(rcpts: tuple[str, ...]) -> str:
    return f" for {listing(rcpts)}" if rcpts else ""


def _queue_reasons(reasons: tuple[f.Reason, ...]) -> str:
    return "; ".join(w for w in (reason("en", r) for r in reasons) if w)


def _queue_relayed(x: f.Relayed) -> tuple[str, str]:
    return (f"{x.target} accepted the message: it leaves {x.host}'s queue",
            f"{x.target} answered {code('250')}{_queue_for(x.rcpts)}: it now owns the message, and "
            f"{x.host} removes it from its queue.")


def _queue_retry(x: f.Retry) -> tuple[str, str]:
    return (f"{x.host} tries again (attempt {x.attempt}){_queue_for(x.rcpts)}",
            f"The retry time has come: {x.host} takes the message{_queue_for(x.rcpts)} out of its queue "
            f"and tries again (attempt {x.attempt}), starting over with a fresh DNS lookup.")


def _queue_deferred(x: f.Deferred) -> tuple[str, str]:
    why = _queue_reasons(x.reasons)
    because = f" ({why})" if why else ""
    return (f"{x.host} keeps the message; retry in {_queue_seconds(x.retry_in)}{because}",
            f"Delivery{_queue_for(x.rcpts)} failed for now{because}. {x.host} keeps the message in its "
            f"queue and will try again in {_queue_seconds(x.retry_in)} (after "
            f"{plural.en(x.attempts, 'attempt', 'attempts')} so far). A real MTA waits minutes and "
            f"retries for days; the sandbox compresses time.")


def _queue_bounced(x: f.Bounced) -> tuple[str, str]:
    why = reason("en", x.reasons[0]) if x.reasons else "no reason recorded"
    rcpts = listing(x.rcpts) or "its recipients"
    if x.dropped:
        return (f"{x.host} gives up on {rcpts}: {why} (a bounce is never bounced: dropped)",
                f"The message for {rcpts} cannot be delivered ({why}). It is itself a bounce (its "
                f"envelope sender is empty), and a bounce is never bounced, so {x.host} drops it.")
    every = "; ".join(f"{r}: {reason('en', w)}" for r, w in zip(x.rcpts, x.reasons))
    return (f"{x.host} gives up on {rcpts}: {why}",
            f"The message for {rcpts} cannot be delivered ({every or why}). {x.host} gives up and sends "
            f"a delivery status notification (a bounce, RFC 3464) back to the envelope sender "
            f"{x.sender}, with the original headers attached.")


def _queue_quarantined(x: f.Quarantined) -> tuple[str, str]:
    return (f"{x.host} set message {code(x.queue_id)} aside after an internal error",
            f"{x.host} could not handle message {code(x.queue_id)} because of an internal error "
            f"({code(x.error)}), for longer than the queue lifetime. It set the message aside in its "
            f"queue's quarantine folder on disk, so nothing is lost, and stopped trying.")


def _queue_delivered(x: f.MdaDelivered) -> tuple[str, str]:
    return (f"MDA of {x.host} puts the message into {x.rcpt}'s mailbox",
            f"The MDA of {x.host} wrote the message ({plural.size_en(x.size)}) into {x.rcpt}'s mailbox "
            f"(Maildir): first into {code('tmp/')}, then renamed into {code('new/')}, so the mailbox "
            f"never holds half a message. Its file: {code(x.path)}. Now the user's mail client (MUA) can "
            f"fetch it with POP3 or IMAP.")


def _queue_dsn(x: f.DsnNotice) -> tuple[str, str]:
    listed = "\n".join(f"- <{rcpt}>: {reason('en', why)}" for rcpt, why in x.failures)
    return (f"Undelivered mail returned to sender by {x.host}",
            f"This is the mail system at host {x.host}.\n\n"
            f"I'm sorry to have to inform you that your message could not be delivered to one or more "
            f"recipients. The reasons are below; the original message's headers are attached."
            + (f"\n\n{listed}" if listed else ""))


TEXTS = {f.Relayed: _queue_relayed, f.Retry: _queue_retry, f.Deferred: _queue_deferred,
         f.Bounced: _queue_bounced, f.Quarantined: _queue_quarantined, f.MdaDelivered: _queue_delivered,
         f.DsnNotice: _queue_dsn}


def _queue_last(r: f.Reason) -> str:
    last = r.get("last")
    return reason("en", last) if isinstance(last, f.Reason) else ""


def _queue_reply(r: f.Reason) -> str:
    host = r.get("host") or "the server"
    return f"{host} answered {code(r['reply'])}"


def _queue_unreachable(r: f.Reason) -> str:
    last = _queue_last(r)
    detail = f" (last: {r['host']}: {last})" if last and r.get("host") else (f" ({last})" if last else "")
    return f"no MX of {r['domain']} could be reached{detail}"


def _queue_lost(r: f.Reason) -> str:
    last = _queue_last(r)
    return f"the connection to {r['host']} was lost" + (f" ({last})" if last else "")


def _queue_expired(r: f.Reason) -> str:
    last = _queue_last(r) or "no answer"
    return (f"gave up after {plural.en(r['attempts'], 'attempt', 'attempts')} in {r['lifetime']} s; "
            f"last: {last}")


REASONS = {
    f.DeliveryReason.REPLY: _queue_reply,
    f.DeliveryReason.NO_SUCH_USER: lambda r: f"{r['host']} has no mailbox {r['rcpt']}: no such user",
    f.DeliveryReason.MAILBOX_WRITE: lambda r: (f"the MDA could not write into the mailbox of {r['rcpt']} "
                                               f"({code(r['error'])})"),
    f.DeliveryReason.UNREACHABLE: _queue_unreachable,
    f.DeliveryReason.CONNECTION_LOST: _queue_lost,
    f.DeliveryReason.EXPIRED: _queue_expired,
    f.DeliveryReason.LEGACY: lambda r: code(r["text"]),
}
