"""Facts of the smtp hops (data only: no words; the narrator words them).

- :class:`SmtpSession`: one SMTP transaction (or a session without one) as a sandbox server saw it:
  a submission to an MSA, a relay between MTAs, a student typing by hand, a refusal.
- :class:`SmtpLine`: in line-by-line stepping, the dialogue lines so far of a session.
- :class:`SmtpAttempt`: a sending MTA's connection to one address of an MX failed before any reply.

A remote server's reply (``550 5.1.1 ...``) is protocol text, kept as a string field.  ``wire`` is the
connection's TCP/IP layer (:class:`~.base.Wire`); ``credentials`` marks the AUTH lines of the
transcript with what a listener on the wire reads (:class:`~.base.Credential`).
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

from .base import Credential, Fact, Reason, Status, Wire

__all__ = ["Door", "SmtpOutcome", "SmtpSession", "SmtpLine", "SmtpAttempt", "AttemptReason"]


class SmtpOutcome(StrEnum):
    """How one SMTP session ended, as the receiving server saw it."""
    SUBMITTED = "submitted"        # an MUA handed a message to its MSA (AUTH, then 250)
    RELAYED = "relayed"            # another sandbox MTA handed a message over (250)
    BY_HAND = "by_hand"            # a program that is no sandbox host delivered a message (250)
    REFUSED = "refused"            # the server answered 4xx/5xx: ``reply`` says what
    NO_MESSAGE = "no_message"      # a session without a message and without a refusal


class AttemptReason(StrEnum):
    """Why a sending MTA got no SMTP reply from an address it tried."""
    REFUSED = "attempt.refused"            # nothing listens there: the host is down
    TIMEOUT = "attempt.timeout"            # no answer in time
    CLOSED = "attempt.closed"              # the server closed the connection
    BAD_REPLY = "attempt.bad_reply"        # detail: what was wrong with the reply line
    TLS = "attempt.tls"                    # detail: the TLS handshake after STARTTLS failed
    ERROR = "attempt.error"                # detail: the system's error ("OSError: ...")


class Door(StrEnum):
    """Which door of a server a listener is: submission (MSA, port 587's role) or MX (port 25's)."""
    SUBMISSION = "submission"
    MX = "mx"


@dataclass(frozen=True, slots=True, kw_only=True)
class SmtpSession(Fact):
    kind: ClassVar[str] = "smtp.session"
    protocol: ClassVar[str] = "SMTP"
    outcome: SmtpOutcome
    door: Door                      # which door of the server the client used
    host: str                       # the server's host name ("" for the front door before AUTH)
    port: int = 0                   # the port the client connected to
    peer: str = ""                  # the client's IP address
    client: str = ""                # the client: a user's address, a sandbox host name, or ""
    queue_id: str = ""
    rcpts: tuple[str, ...] = ()
    final: bool = True              # RELAYED: this host delivers itself (False: a backup MX forwards)
    reply: str = ""                 # REFUSED: the reply line that refused
    via: str | None = None          # node the client connected to when it is not the server's own (the front door)
    reused: bool = False            # not the first transaction of its connection: no greeting, EHLO or STARTTLS in it
    resend: bool = False            # RELAYED: a resend this world had already taken (recognised by its relay
                                    # identifier): answered 250, stored nowhere (``queue_id`` is "")
    direct: bool = False            # the server delivered the message into the Maildir(s) before its 250
                                    # (final destination, nothing asked for the queue): nothing queued
    wire: Wire | None = None
    credentials: tuple[Credential, ...] = ()

    @property
    def status(self) -> Status:
        if self.outcome is SmtpOutcome.REFUSED:
            return Status.FAILED
        if self.outcome is SmtpOutcome.NO_MESSAGE:
            return Status.INFO
        return Status.OK


@dataclass(frozen=True, slots=True, kw_only=True)
class SmtpLine(Fact):
    """Line-by-line stepping: the lines of a dialogue since the last such fact (``transcript``)."""
    kind: ClassVar[str] = "smtp.line"
    protocol: ClassVar[str] = "SMTP"
    peer: str = ""
    status: Status = Status.INFO
    wire: Wire | None = None
    credentials: tuple[Credential, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class SmtpAttempt(Fact):
    kind: ClassVar[str] = "smtp.attempt"
    protocol: ClassVar[str] = "SMTP"
    host: str                       # the sending MTA
    target: str                     # the MX host it tried
    address: str
    port: int
    preference: int
    reason: Reason                  # an AttemptReason
    status: Status = Status.FAILED
    wire: Wire | None = None        # from the sending side: client_port 0 when no connection was made
