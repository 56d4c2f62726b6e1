"""What a POP3 session works on and what it hands back: the maildrop interface and the outputs.

The sans-IO session (``core.Pop3Session``) returns a list of outputs from each call, to be carried
out in order by the adapter (``server.py``): a ``Reply`` to write, an effect to perform
(``Authenticate``, ``StartTls``, ``Close``) or an observation for the learners (``LoggedIn``,
``Listed``, ``Retrieved`` ...), each with the transcript of the lines exchanged since the previous one.
The session reads and deletes mail only through a ``Maildrop`` (RFC 1939 §4: a fixed, numbered
snapshot of the INBOX), so tests run it in memory. ``crlf_lines`` and ``top_of`` build the bodies
of multi-line replies.
"""
from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from ..effects import Authenticate, Close, StartTls
from ..lines import dot_stuff

__all__ = ["Abandoned", "Authenticate", "Close", "Deleted", "DropMessage", "Effect", "Listed", "LoggedIn",
           "LoginRefused", "Maildrop", "MaildropError", "Output", "Refusal", "Reply", "Retrieved", "StartTls",
           "Transcript", "Updated", "crlf_lines", "top_of"]


# --------------------------------------------------------------------------- the maildrop


class MaildropError(Exception):
    """The maildrop could not serve a message (removed by another session) or delete one."""


@dataclass(frozen=True, slots=True)
class DropMessage:
    """One message of the maildrop as POP3 sees it."""

    key: Hashable      # the maildrop's own handle (the store's UID)
    size: int          # octets of the CRLF form that RETR sends (RFC 1939 §11, PROTOCOLS.md X8)
    uidl: str          # unique-id listing: 1-70 characters 0x21-0x7E, stable across sessions (§7)


class Maildrop(Protocol):
    """What a logged-in session works on: a fixed, numbered snapshot of the user's INBOX."""

    def messages(self) -> Sequence[DropMessage]: ...

    def read(self, message: DropMessage) -> bytes:
        """The message with CRLF line ends; raises MaildropError if it is gone.

        A maildrop whose ``read`` never returns a bare LF (every LF follows a CR) may say so with a
        true ``no_bare_lf`` attribute: RETR then encodes with fewer passes (``Reply.lf``)."""
        ...

    def delete(self, messages: Sequence[DropMessage]) -> None:
        """Remove the messages (UPDATE state); raises MaildropError if that failed."""
        ...


class Refusal(Enum):
    """Why a login was refused; the value is the RFC 2449 §8 response code."""

    AUTH = "AUTH"           # RFC 3206 §4: wrong credentials, or an unknown user (same answer)
    IN_USE = "IN-USE"       # RFC 2449 §8.1.2: another POP3 session holds the maildrop
    SYS_TEMP = "SYS/TEMP"   # RFC 3206 §4: the server could not open the maildrop right now


# --------------------------------------------------------------------------- outputs


def _stuffed(head: bytes, body: bytes, lf: int = -1) -> bytes:
    """``head + dot_stuff(body)`` (RFC 1939 §3), in one copy when the body's line ends are all CRLF
    already (what the store serves): only then can the normalising regex be skipped.

    ``lf`` >= 0: the caller counted the body's LFs and knows that each follows a CR (the store's CRLF
    form); then as many CRs as LFs means no bare CR either, and the slow two-octet count of CRLFs
    (and the LF count) is not done again."""
    if lf < 0:
        lf = body.count(b"\n")
        clean = lf == body.count(b"\r") and lf == body.count(b"\r\n")
    else:
        clean = lf == body.count(b"\r")
    if not clean or (body and not body.endswith(b"\r\n")):
        return head + dot_stuff(body)        # a bare CR or LF, or no final CRLF: normalise first
    lead = b"." if body.startswith(b".") else b""
    return b"".join((head, lead, body.replace(b"\r\n.", b"\r\n.."), b".\r\n"))


Transcript = tuple[tuple[str, str], ...]   # ("C" | "S" | "…", line)


@dataclass(frozen=True, slots=True)
class Reply:
    """A status line and, for multi-line responses, the data before the "." (RFC 1939 §3).

    ``body`` holds the data as it is (CRLF lines, not byte-stuffed); ``encode`` stuffs it.
    ``lf`` >= 0: whoever made the reply counted the LFs of ``body`` and knows that every one follows
    a CR (a message read from a ``Maildrop`` with ``no_bare_lf``); it only spares ``encode`` passes
    over the body.
    """

    status: str
    body: bytes | None = None
    lf: int = -1

    def encode(self) -> bytes:
        head = self.status.encode("utf-8") + b"\r\n"
        return head if self.body is None else _stuffed(head, self.body, self.lf)

    @property
    def lines(self) -> list[str]:
        """The body's lines as text (for tests and transcripts)."""
        if not self.body:
            return []
        return self.body.decode("utf-8", "replace").removesuffix("\r\n").split("\r\n")


@dataclass(frozen=True, slots=True)
class LoggedIn:
    login: str
    mechanism: str
    messages: int
    octets: int
    transcript: Transcript


@dataclass(frozen=True, slots=True)
class LoginRefused:
    login: str
    mechanism: str
    refusal: Refusal
    transcript: Transcript


@dataclass(frozen=True, slots=True)
class Listed:
    command: str             # "LIST" or "UIDL" (the whole listing; "LIST n" is not reported)
    messages: int
    octets: int
    transcript: Transcript


@dataclass(frozen=True, slots=True)
class Retrieved:
    command: str             # "RETR" or "TOP"
    number: int
    key: Hashable
    size: int                # octets of the whole message
    top_lines: int | None    # TOP's body line count, None for RETR
    header: bytes            # the message header (at most HEADER_KEEP octets), for summaries
    transcript: Transcript


@dataclass(frozen=True, slots=True)
class Deleted:
    number: int
    key: Hashable
    transcript: Transcript


@dataclass(frozen=True, slots=True)
class Updated:
    """QUIT in TRANSACTION: the UPDATE state removed ``deleted`` messages, ``left`` remain."""

    deleted: int
    left: int
    ok: bool                 # False if the maildrop failed to delete
    transcript: Transcript


@dataclass(frozen=True, slots=True)
class Abandoned:
    """The session ended in TRANSACTION without QUIT: nothing was deleted (RFC 1939 §6)."""

    reason: str              # "dropped", "timeout", "error" or "bad_commands"
    marked: int              # messages marked with DELE that stay in the maildrop
    transcript: Transcript


Effect = (Authenticate | StartTls | Close | LoggedIn | LoginRefused | Listed | Retrieved | Deleted
          | Updated | Abandoned)
Output = Reply | Effect


# --------------------------------------------------------------------------- reply bodies


def crlf_lines(lines: Iterable[str]) -> bytes:
    """The body of a multi-line reply: one CRLF line per item (``Reply.encode`` stuffs it)."""
    return b"".join(line.encode("utf-8") + b"\r\n" for line in lines)


def top_of(data: bytes, lines: int) -> bytes:
    """The header, the blank line and the first ``lines`` body lines (RFC 1939 §7, TOP)."""
    if data.startswith(b"\r\n"):
        head, body = b"\r\n", data[2:]
    else:
        end = data.find(b"\r\n\r\n")
        if end < 0:   # all header, no body: still end with the blank line
            return data + (b"\r\n" if data.endswith(b"\r\n") else b"\r\n\r\n")
        head, body = data[:end + 4], data[end + 4:]
    cut = -2
    for _ in range(lines):
        cut = body.find(b"\r\n", cut + 2)
        if cut < 0:
            return head + body
    return head + body[:cut + 2]
