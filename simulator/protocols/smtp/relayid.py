"""The relay identifier: how a sandbox MX knows a message it already took, when the sender sends it again.

Theory of operation
    RFC 5321 §6.1 makes the 250 to the end of DATA the moment responsibility passes to the next hop.
    If the sending host dies after the receiving one said 250 but before it forgot its queue entry,
    it sends the message again after the restart: at-least-once, as Postfix and every MTA are (§6.1
    admits the duplicate).  Both ends are ours here, so we do better: the sender's queue runner
    prepends one header field to what it relays,

        Mailflow-Relay-Id: <3FA2C9D01B7E@smtp.alpha.test>

    (its queue id at its host: the same on every attempt, because it is read from the queue entry),
    and the receiving MX takes it off again (:func:`take`) and keys what it queues by that value and
    the SHA-256 of the whole DATA as received.  The queue (:mod:`simulator.queue`) remembers the key
    with the recipients it took, in the live entry and, once delivered, in its ``.done`` record for
    as long as the sender's entry exists (and at least the queue lifetime plus an hour); a second
    DATA with the same key for the same recipients is answered 250 and queued nowhere -- by whichever
    MX of the domain it reaches: every host of the world shares that one store, and a resend after a
    crash may go to the other equal-preference MX, or to the primary once it is back after the
    backup took the first copy.

    Why a header field and not RFC 3461's ENVID: an ENVID is the *original sender's* identifier for
    its delivery reports, relayed unchanged hop after hop (§4.4), and chosen by the client, so it
    cannot name one hop's attempt; and advertising DSN commits a server to NOTIFY, RET and ORCPT with
    success and delay reports.  The field needs nothing from the client and nothing from SMTP.

    Why the digest: anyone on loopback can write the field.  With the content in the key, a forged
    identifier only ever matches the very same bytes -- the same message, which is then indeed a
    duplicate -- so the field can suppress nothing else.  The field is removed at every door
    (submission, the app port, the MX), so only the queue runner's own field ever reaches a next hop,
    and it never reaches a mailbox.
"""
from __future__ import annotations

import hashlib
import re

__all__ = ["FIELD", "key_of", "stamp", "take"]

FIELD = "Mailflow-Relay-Id"
_FIELD_LINE = re.compile(rb"(?i)^" + FIELD.encode() + rb"[ \t]*:")
_VALUE = re.compile(r"^<[A-Za-z0-9._-]{1,64}@[A-Za-z0-9.-]{1,253}>$")


def stamp(content: bytes, *, queue_id: str, host: str) -> bytes:
    """``content`` with the field naming this queue entry at this host on top (CRLF lines)."""
    return f"{FIELD}: <{queue_id}@{host}>\r\n".encode("ascii") + content


def key_of(content: bytes, *, queue_id: str, host: str) -> str:
    """The key a receiving MX gives to ``content`` relayed from this queue entry at this host (what
    :func:`take` makes of :func:`stamp`'s output): the sender asks the world's index with it."""
    return take(stamp(content, queue_id=queue_id, host=host))[0]


def take(content: bytes) -> tuple[str, bytes]:
    """(the relay key, ``content`` without any such field).  The key is "" when the message carries
    no well-formed field; else the first field's value and the digest of ``content`` as given."""
    head_end = content.find(b"\r\n\r\n")
    head = content if head_end < 0 else content[:head_end + 2]
    if FIELD.lower().encode() not in head.lower():
        return "", content
    lines = head.split(b"\r\n")
    kept: list[bytes] = []
    value: str | None = None
    skipping = False
    for line in lines:
        if line[:1] in (b" ", b"\t") and skipping:
            continue
        skipping = bool(_FIELD_LINE.match(line))
        if skipping:
            if value is None:
                value = line.split(b":", 1)[1].strip().decode("ascii", "replace")
            continue
        kept.append(line)
    rest = content[len(head):]
    stripped = b"\r\n".join(kept) + rest
    if value is None or not _VALUE.match(value):
        return "", stripped
    return f"{value} {hashlib.sha256(content).hexdigest()}", stripped
