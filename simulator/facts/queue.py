"""Facts of the queue hops and of local delivery (data only: no words; the narrator words them).

Each sandbox MTA keeps a durable queue (RFC 5321 §4.5.4.1 retries, §6.1 responsibility):

- :class:`Relayed` (``queue.relay``): the next hop said 250, the message leaves this queue;
- :class:`Retry` (``queue.retry``): the retry time came, the host tries again;
- :class:`Deferred` (``queue.defer``): not delivered yet, kept for a later attempt;
- :class:`Bounced` (``queue.bounce``): given up, a DSN goes back (or, for a bounce, nothing);
- :class:`Quarantined` (``queue.quarantine``): an entry that kept failing on an internal error,
  set aside on disk;
- :class:`MdaDelivered` (``mda.deliver``): the MDA wrote the message into a Maildir;
- :class:`DsnNotice`: not an event: the human-readable part of a bounce (RFC 3464 §2), worded
  by the narrator like any fact so a DSN reads the same in every language the page offers.

Per-recipient reasons are :class:`DeliveryReason` codes (or a RouteReason / AttemptReason from
the lookup or the connection); a remote server's reply is kept as protocol text in
``DeliveryReason.REPLY``.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

from .base import Fact, Reason, Status, Wire

__all__ = ["DeliveryReason", "Relayed", "Retry", "Deferred", "Bounced", "Quarantined", "MdaDelivered",
           "DsnNotice"]


class DeliveryReason(StrEnum):
    """Why a recipient is not delivered (yet)."""
    REPLY = "delivery.reply"                    # host, reply: what the remote server answered
    NO_SUCH_USER = "delivery.no_such_user"      # host, rcpt: the final host has no such mailbox
    MAILBOX_WRITE = "delivery.mailbox_write"    # rcpt, error: the MDA could not write the file
    MAILBOX_FULL = "delivery.mailbox_full"      # rcpt, host, permanent: the mailbox is over its quota
    UNREACHABLE = "delivery.unreachable"        # domain, host, last (a Reason): no MX could be reached
    CONNECTION_LOST = "delivery.connection_lost"  # host, last (a Reason, or none): lost mid-session
    EXPIRED = "delivery.expired"                # attempts, lifetime, last (a Reason or none): gave up
    OFF_SANDBOX = "delivery.off_sandbox"        # host, address: an MX address outside the sandbox: never tried
    LEGACY = "delivery.legacy"                  # text: a reason from a queue file of an older version


@dataclass(frozen=True, slots=True, kw_only=True)
class Relayed(Fact):
    kind: ClassVar[str] = "queue.relay"
    protocol: ClassVar[str] = "SMTP"
    host: str                       # the sending MTA, whose queue the message leaves
    target: str                     # the MTA that said 250
    queue_id: str = ""              # the receiver's queue id ("" for a resend)
    rcpts: tuple[str, ...] = ()
    status: Status = Status.OK
    wire: Wire | None = None        # the SMTP connection that carried the message
    # A resend after the sender's crash of a message the world already took (its relay identifier,
    # issue 12 rule 1): acknowledged, queued nowhere a second time
    resend: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Retry(Fact):
    kind: ClassVar[str] = "queue.retry"
    protocol: ClassVar[str] = "SMTP"
    host: str
    queue_id: str
    attempt: int
    rcpts: tuple[str, ...] = ()
    status: Status = Status.INFO


@dataclass(frozen=True, slots=True, kw_only=True)
class Deferred(Fact):
    kind: ClassVar[str] = "queue.defer"
    protocol: ClassVar[str] = "SMTP"
    host: str
    queue_id: str
    retry_in: float
    attempts: int
    rcpts: tuple[str, ...] = ()
    reasons: tuple[Reason, ...] = ()            # the distinct reasons of the waiting recipients
    status: Status = Status.DEFERRED
    next_attempt: float = 0.0                   # when (epoch seconds, the world's clock) it is tried again


@dataclass(frozen=True, slots=True, kw_only=True)
class Bounced(Fact):
    kind: ClassVar[str] = "queue.bounce"
    protocol: ClassVar[str] = "SMTP"
    host: str
    queue_id: str
    sender: str                                 # "" for a bounce: then nothing is sent back
    rcpts: tuple[str, ...] = ()
    codes: tuple[str, ...] = ()                 # enhanced status codes, one per recipient ("5.1.1")
    reasons: tuple[Reason, ...] = ()            # one per recipient, in the order of rcpts
    status: Status = Status.BOUNCED
    kept: str = ""                              # a bounce nobody took: the mailbox that keeps it

    @property
    def dropped(self) -> bool:
        """A bounce is never bounced (RFC 5321 §4.5.5): with a null sender nothing goes back."""
        return not self.sender


@dataclass(frozen=True, slots=True, kw_only=True)
class Quarantined(Fact):
    kind: ClassVar[str] = "queue.quarantine"
    protocol: ClassVar[str] = "SMTP"
    host: str
    queue_id: str
    error: str                                  # the exception, for developers (repr, trimmed)
    status: Status = Status.FAILED


@dataclass(frozen=True, slots=True, kw_only=True)
class MdaDelivered(Fact):
    kind: ClassVar[str] = "mda.deliver"
    protocol: ClassVar[str] = "Maildir"
    host: str                       # the final host whose MDA wrote the file
    rcpt: str
    path: str                       # relative to the data directory
    size: int
    status: Status = Status.OK
    mailbox: str = ""               # the mailbox written into when not rcpt's own: a catch-all's


@dataclass(frozen=True, slots=True, kw_only=True)
class DsnNotice(Fact):
    """The human-readable part of a DSN (not published: :mod:`simulator.dsn` puts its words in
    the bounce).  ``failures`` pairs each failed recipient with its reason."""
    kind: ClassVar[str] = "queue.dsn"
    protocol: ClassVar[str] = "SMTP"
    host: str                       # the reporting MTA
    failures: tuple[tuple[str, Reason], ...] = ()    # (recipient, why)
    status: Status = Status.INFO
    whole: bool = True              # the original comes back whole (False: its header section only)
