"""Facts of the pop3 hops (data only: no words; the narrator words them).

A POP3 session (RFC 1939) publishes: a login (accepted or refused), the whole listings (LIST, UIDL),
each download (RETR, TOP), each DELE mark, the end of the session (QUIT and its UPDATE state, or a
session that ended without QUIT and so deleted nothing), and an internal error.

Hops about a logged-in user's mail run ``mailbox:<address>`` -> ``mua:<address>``; ``server`` is the
POP3 node of the mailbox's domain and ``via`` the node the client really connected to when that is
another one (the front door). A refused login or an error runs between ``outside`` (the client
program, its address in ``peer``) and the server that refused it.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

from .base import Credential, Fact, Status, Wire

__all__ = ["LoginCode", "Pop3Deleted", "Pop3Error", "Pop3Listed", "Pop3Login", "Pop3Retrieved",
           "Pop3SessionEnded", "SessionEnd"]


class LoginCode(StrEnum):
    """A POP3 login's outcome; a refusal's value is its RFC 2449 §8 response code."""
    OK = ""                  # accepted
    AUTH = "AUTH"            # RFC 3206 §4: unknown user or wrong password (the same answer for both)
    IN_USE = "IN-USE"        # RFC 2449 §8.1.2: another POP3 session holds the mailbox
    SYS_TEMP = "SYS/TEMP"    # RFC 3206 §4: the server could not open the mailbox just now


class SessionEnd(StrEnum):
    """How a session in the TRANSACTION state ended (RFC 1939 §6: only QUIT deletes)."""
    QUIT = "quit"            # QUIT: the UPDATE state removed the marked messages
    DROPPED = "dropped"      # the connection closed without QUIT
    TIMEOUT = "timeout"      # the client was idle too long (autologout, RFC 1939 §3)
    ERROR = "error"          # the server hit an internal error
    BAD_COMMANDS = "bad_commands"   # too many bad commands in a row: the server closed (Dovecot's rule)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Pop3Hop(Fact):
    protocol: ClassVar[str] = "POP3"
    server: str              # node id of the POP3 server (of the mailbox's domain, once logged in)
    peer: str                # the client's IP address
    address: str             # the logged-in user's address ("" for a refused login or an error)
    tls: bool                # the session was encrypted when this happened
    via: str | None = None   # the node the client connected to, when it is not ``server`` (front)
    wire: Wire | None = None
    credentials: tuple[Credential, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Pop3Login(_Pop3Hop):
    """A login attempt (USER/PASS, AUTH PLAIN or AUTH LOGIN, RFC 1939 §7, RFC 5034)."""
    kind: ClassVar[str] = "pop3.login"
    login: str               # as the client sent it
    mechanism: str           # "USER", "PLAIN" or "LOGIN"
    code: LoginCode = LoginCode.OK
    messages: int = 0        # accepted: the maildrop's messages and octets (RFC 1939 §5 STAT)
    octets: int = 0
    next_delay: float = 0.0  # refused: seconds this peer's next attempt will wait (the throttle)
    free_failures: int = 0   # refused: failures a peer may have before the throttle delays it

    @property
    def status(self) -> Status:
        return Status.OK if self.code is LoginCode.OK else Status.FAILED


@dataclass(frozen=True, slots=True, kw_only=True)
class Pop3Listed(_Pop3Hop):
    """A whole listing: LIST (numbers and sizes) or UIDL (numbers and unique ids), RFC 1939 §5, §7."""
    kind: ClassVar[str] = "pop3.list"
    command: str             # "LIST" or "UIDL"
    messages: int
    octets: int
    status: Status = Status.OK


@dataclass(frozen=True, slots=True, kw_only=True)
class Pop3Retrieved(_Pop3Hop):
    """A download: RETR (the whole message) or TOP (the header and ``lines`` body lines)."""
    kind: ClassVar[str] = "pop3.retr"
    command: str             # "RETR" or "TOP"
    number: int              # the message number in this session
    uid: int                 # the store's UID of the message in ``folder``
    folder: str = "INBOX"
    size: int                # octets of the whole message
    lines: int | None = None  # TOP's body line count; None for RETR
    status: Status = Status.OK


@dataclass(frozen=True, slots=True, kw_only=True)
class Pop3Deleted(_Pop3Hop):
    """DELE: the message is only marked; QUIT's UPDATE state removes it (RFC 1939 §6)."""
    kind: ClassVar[str] = "pop3.dele"
    number: int
    uid: int
    folder: str = "INBOX"
    status: Status = Status.OK


@dataclass(frozen=True, slots=True, kw_only=True)
class Pop3SessionEnded(_Pop3Hop):
    """The end of a logged-in session: QUIT (and its UPDATE state) or a session left without QUIT."""
    kind: ClassVar[str] = "pop3.quit"
    reason: SessionEnd
    deleted: int = 0         # messages removed by the UPDATE state
    left: int = 0            # QUIT: messages that stay in the mailbox
    kept_marked: int = 0     # no QUIT: messages marked with DELE that were NOT deleted
    ok: bool = True          # QUIT: False if the mailbox failed to delete the marked messages

    @property
    def status(self) -> Status:
        if self.reason is not SessionEnd.QUIT:
            return Status.INFO
        return Status.OK if self.ok else Status.FAILED


@dataclass(frozen=True, slots=True, kw_only=True)
class Pop3Error(_Pop3Hop):
    """A bug ended one session (the server answered ``-ERR [SYS/TEMP]``); the others go on."""
    kind: ClassVar[str] = "pop3.error"
    error: str               # the exception's type name
    detail: str = ""         # its repr, cut short (for developers)
    status: Status = Status.FAILED
