"""What the store refuses, and the records it hands out (to POP3, IMAP and the web)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

__all__ = ["FolderEvent", "FolderExists", "FolderInfo", "FolderNameError", "FolderStatus", "Listener",
           "MessageInfo", "MessageMeta", "NoSuchFolder", "NoSuchMessage", "StoreError"]


class StoreError(Exception):
    """A request the store refuses; the message is safe to show to a client."""


class FolderNameError(StoreError):
    """The folder name is not acceptable (traversal, wildcards, control characters ...)."""


class NoSuchFolder(StoreError):
    """The folder does not exist (IMAP answers NO [TRYCREATE] for APPEND/COPY/MOVE)."""


class FolderExists(StoreError):
    """CREATE or RENAME onto an existing folder."""


class NoSuchMessage(StoreError):
    """The UID is not (or no longer) in the folder."""


@dataclass(frozen=True, slots=True)
class MessageInfo:
    """One message as POP3 and IMAP see it. ``size`` counts the CRLF form that is served (X8)."""

    uid: int
    size: int
    flags: frozenset[str]
    internaldate: float
    path: Path
    modseq: int = 1  # RFC 7162 §3.1.1


class MessageMeta(NamedTuple):
    """``MessageInfo`` without the path: what FETCH, SEARCH and POP3's listing read, cheap to make."""

    uid: int
    size: int
    flags: frozenset[str]
    internaldate: float
    modseq: int = 1


@dataclass(frozen=True, slots=True)
class FolderInfo:
    name: str  # Unicode, "/" as delimiter, "INBOX" canonical
    special_use: str | None
    has_children: bool
    selectable: bool  # False for a parent that exists only because of its children (\Noselect)


@dataclass(frozen=True, slots=True)
class FolderStatus:
    messages: int
    recent: int
    unseen: int
    uidnext: int
    uidvalidity: int
    highestmodseq: int = 1  # RFC 7162 §3.1.2.1


@dataclass(frozen=True, slots=True)
class FolderEvent:
    """Told to listeners: ``kind`` is "changed", "deleted" or "renamed" (then ``new_name`` is set)."""

    address: str
    folder: str
    kind: str = "changed"
    new_name: str | None = None


Listener = Callable[[FolderEvent], None]
