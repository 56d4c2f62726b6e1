"""Facts of the imap hops (data only: no words; the narrator words them).

Published by the IMAP server (:mod:`simulator.protocols.imap`).  A hop of a logged-in session goes
from the user's mailbox node to the user's MUA node (``server`` names the IMAP server's node); a
failed login and an internal error go between the server's node and ``nodes.OUTSIDE`` (the peer's
address is the ``peer`` field).  ``folder`` is the selected folder (or the folder the command worked
on), so a hop about one message (``uid`` / ``uids``) can join that message's trace.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .base import Credential, Fact, Status, Wire

__all__ = ["ImapLogin", "ImapLogout", "ImapSelect", "ImapCreate", "ImapList", "ImapAppend",
           "ImapExpunge", "ImapFetch", "ImapStore", "ImapCopy", "ImapMove", "ImapIdle", "ImapError"]


@dataclass(frozen=True, slots=True, kw_only=True)
class _ImapHop(Fact):
    """Fields every IMAP hop has (not a fact of its own: it has no kind)."""
    protocol: ClassVar[str] = "IMAP"
    server: str = ""               # node id of the IMAP server that answered
    user: str = ""                 # the address logged in on this session ("" before login)
    folder: str | None = None      # the selected folder, None when none is selected
    status: Status = Status.OK
    wire: Wire | None = None
    credentials: tuple[Credential, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ImapLogin(_ImapHop):
    """LOGIN or AUTHENTICATE (RFC 3501 §6.2); ``status`` FAILED for refused credentials."""
    kind: ClassVar[str] = "imap.login"
    login: str
    mechanism: str                 # "LOGIN", "AUTHENTICATE PLAIN", "AUTHENTICATE LOGIN"
    tls: bool = False
    peer: str = ""
    delay: float = 0.0             # seconds the throttle held this attempt back


@dataclass(frozen=True, slots=True, kw_only=True)
class ImapLogout(_ImapHop):
    kind: ClassVar[str] = "imap.logout"


@dataclass(frozen=True, slots=True, kw_only=True)
class ImapSelect(_ImapHop):
    kind: ClassVar[str] = "imap.select"
    command: str                   # "SELECT" or "EXAMINE"
    exists: int
    readonly: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class ImapCreate(_ImapHop):
    kind: ClassVar[str] = "imap.create"
    created: str                   # the new folder's name


@dataclass(frozen=True, slots=True, kw_only=True)
class ImapList(_ImapHop):
    kind: ClassVar[str] = "imap.list"
    reference: str
    pattern: str
    count: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ImapAppend(_ImapHop):
    """APPEND: ``folder`` is the folder the message went into."""
    kind: ClassVar[str] = "imap.append"
    uid: int
    size: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ImapExpunge(_ImapHop):
    kind: ClassVar[str] = "imap.expunge"
    command: str                   # "EXPUNGE", "UID EXPUNGE" or "CLOSE"
    uids: tuple[int, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ImapFetch(_ImapHop):
    kind: ClassVar[str] = "imap.fetch"
    command: str                   # "FETCH" or "UID FETCH"
    items: tuple[str, ...]         # the fetch items asked for, as on the wire ("BODY[HEADER]")
    count: int                     # messages answered
    bodies: int                    # of those, how many with (part of) the body
    uids: tuple[int, ...]          # the first 50 UIDs


@dataclass(frozen=True, slots=True, kw_only=True)
class ImapStore(_ImapHop):
    kind: ClassVar[str] = "imap.store"
    command: str                   # "STORE" or "UID STORE"
    item: str                      # "+FLAGS", "-FLAGS.SILENT", "FLAGS" ...
    flags: tuple[str, ...]
    mode: str                      # "+", "-" or "="
    count: int


@dataclass(frozen=True, slots=True, kw_only=True)
class _ImapTransfer(_ImapHop):
    """Messages put into another folder by the server itself (not a fact of its own)."""
    command: str                   # "COPY", "UID COPY", "MOVE" or "UID MOVE"
    dest: str                      # the folder they went to
    count: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ImapCopy(_ImapTransfer):
    kind: ClassVar[str] = "imap.copy"


@dataclass(frozen=True, slots=True, kw_only=True)
class ImapMove(_ImapTransfer):
    kind: ClassVar[str] = "imap.move"


@dataclass(frozen=True, slots=True, kw_only=True)
class ImapIdle(_ImapHop):
    """A change pushed to a client waiting in IDLE (RFC 2177)."""
    kind: ClassVar[str] = "imap.idle"
    updates: tuple[str, ...]       # the untagged responses pushed ("3 EXISTS", "1 RECENT" ...)


@dataclass(frozen=True, slots=True, kw_only=True)
class ImapError(_ImapHop):
    """The server hit a bug while serving one session, and closed only that session."""
    kind: ClassVar[str] = "imap.error"
    peer: str
    error: str                     # repr of the exception, at most 300 characters
    status: Status = Status.FAILED
