"""aiosmtpd's SMTP protocol with a transcript: every line the server read, every reply pushed.

aiosmtpd owns the parser; this subclass only watches it.  ``push()`` is the one place every reply
passes: it records the reply, adds RFC 2034 enhanced status codes to aiosmtpd's own replies, and in
line-by-line stepping waits at the gate before each reply.  The handler
(:class:`~.handler.SmtpHandler`) turns the transcript into facts at the end of each transaction.

**The transcript is what the server did.**  A client line is recorded when the server *reads* it
(aiosmtpd's reader tells the session, :class:`_TapReader`), never when bytes merely arrive: bytes a
server never reads — the rest of a flood after its 421, lines pipelined after STARTTLS that RFC 3207
§4.2 discards — are neither scanned nor shown.  DATA records the message's lines as the server
splits them (CRLF, bare LF, bare CR), the first :data:`DATA_LINES_KEPT` of them and a count of the
rest, and ends only where DATA ends.  A line is shown by its first :data:`SHOWN` octets; at most
``_MAX_TRANSCRIPT`` lines are held (published ones are dropped first).  Every part of this costs
in proportion to what the server reads: DATA is read in blocks of whole lines (not a read per
line), the credential marks of a reused connection's transcript are found by reading each line once
(:class:`~simulator.protocols.layers.CredentialScan`), the idle timer is re-armed only when it fires
(not at every command and DATA line), and the verb table aiosmtpd builds by reflection is made once
per class.

Submission's login throttle (RFC 4954 §9: make password guessing expensive) is applied here: an
``AUTH`` waits its turn of the shared :class:`~simulator.protocols.throttle.LoginThrottle` right
before its credentials are checked (after an AUTH LOGIN dialogue has read them); the third failed
AUTH of one session ends it (``421 4.7.0``, :data:`MAX_AUTH_FAILURES`).

The door's rules, the same on every SMTP port (MX, submission, smtps, the front door, the app port):

- **Grammar first** (:mod:`.grammar`, RFC 5321 §4.1.2, §4.1.3, §4.5.3.1): HELO/EHLO, MAIL and RCPT
  arguments are parsed before aiosmtpd or the handler see them.  NUL, controls, a space in an
  unquoted local part, bad domains, over-long parts → 501; source routes, non-ASCII without
  SMTPUTF8 (553 5.6.7), impossible labels → 553.  aiosmtpd then carries the address exactly as
  parsed (``_getaddr``).
- **No relay tricks without AUTH** (RFC 5321 §3.6.1, §4.1.1.3): on a session that did not log in to
  a door that requires it, a recipient whose local part carries a routing operator — the percent
  hack ``u%other@here``, a bang path ``other!u@here``, a quoted ``"u@other"@here`` — is refused
  (550 5.7.1), whatever the domain; source routes are refused by the grammar (553); an MX refuses
  a sender in a domain it takes mail for unless the client is a sandbox host (553 5.7.1: a forged
  local sender; Postfix's ``reject_unauthenticated_sender_login_mismatch``).  Address literals and
  trailing dots never name a domain a host serves (the grammar refuses ``beta.test.``; the handler
  refuses ``[127.42.2.2]`` as relaying).
- **Bounded** (RFC 5321 §4.5.3.1): a command line of 512 octets (500 5.5.2; SIZE and SMTPUTF8 add
  their 26 and 10 once, not once per EHLO as aiosmtpd's shared table did); a text line of 1,000
  octets: longer DATA lines are *folded*, as Postfix's ``smtp_line_length_limit = 998`` does on its
  way out — broken at the last space or tab before octet 998 (a header continues as a folded
  header), else at 997 with a space inserted (never inside a UTF-8 sequence) — *as the line
  arrives* (:class:`LineFolder`: linear, at most 999 octets pending, however long the line), so the
  message is accepted and every copy in the sandbox has lines of at most 1,000 octets.  A bare LF
  or bare CR ends a line too (as Postfix reads them), and every line is kept with CRLF
  (:class:`DataText`, RFC 5321 §2.3.8).  SIZE (552 5.3.4, the rest of the data is read and
  dropped) counts the text as kept — CRLF line ends, dots unstuffed, long lines folded (RFC 1870
  §3) — so what one door accepted is not bigger at the next; a sandbox host's own relay may exceed
  it by :data:`RELAY_HEADROOM` (64 KiB) for the Received: headers hops add (not under a
  ``size_limit`` fault).  Recipients: the handler, 452 4.5.3.  Only ``<CRLF>.<CRLF>`` ends DATA
  (§4.1.1.4; a bare LF or CR never does, CVE-2023-51764).
- **RCPT TO:<Postmaster>** without a domain (RFC 5321 §4.5.1: MUST be accepted) is taken as
  ``postmaster@`` the domain the door serves; ``MAIL FROM:<Postmaster>`` is 501 (a reverse-path
  always has a domain).
- **An error budget**, Postfix's ``smtpd_hard_error_limit = 20``: every 4xx/5xx reply counts; the
  20th is followed by ``421 4.7.0 Error: too many errors`` and the connection closes, and nothing
  the client had already sent is read any more.  An accepted message forgives the errors before it
  (Postfix: errors "without delivering mail"), so a connection that carries many messages is not
  cut off by their refused recipients adding up.  As Postfix's ``smtpd_junk_command_limit = 100``,
  NOOP, RSET, VRFY and HELP beyond 100 count as errors too; as its
  ``smtpd_recipient_overshoot_limit = 1000``, ``452 4.5.3`` (too many recipients: the client sends
  the rest in another transaction) counts only past 1,000 of them in a transaction.
- **An idle timeout** of 300 s (RFC 5321 §4.5.3.2.7: at least 5 minutes awaiting a command); data
  that keeps arriving during DATA keeps the session alive, a stalled transfer does not.
- **A cap on concurrent sessions per client address** (:class:`PeerSlots`, one for all SMTP doors,
  20 by default; the sandbox's own hosts and the webmail are exempt): over it the greeting is
  ``421 4.7.0`` and the connection closes (RFC 5321 §3.1).  On smtps the connection is counted at
  accept and TLS starts after (:class:`ImplicitTls`, a 10 s handshake deadline), so silent
  connections in their handshake are counted too.

The layers under the dialogue are recorded here as well: the two ends of the socket when the
connection is made (after STARTTLS the TLS transport may no longer tell), whether TLS is on and from
which line of the transcript (:meth:`TranscriptSMTP.layers` gives a published slice its
:class:`~simulator.facts.Wire` and the :class:`~simulator.facts.Credential` marks of its AUTH lines).

Faults of the host (:mod:`simulator.faults`) that concern the whole dialogue are applied here too:
a ``slow`` greeting waits before the 220; a ``reply`` fault answers its command (CONNECT, EHLO,
HELO, STARTTLS, AUTH, MAIL, RCPT, DATA, QUIT) in place of the real reply, and a faulty greeting
closes the connection (RFC 5321 §3.1, 421/554); ``require_tls`` answers MAIL before STARTTLS with
530 5.7.0 (RFC 3207 §4); a ``size_limit`` is the listener's SIZE (RFC 1870: 552 5.3.4 at MAIL or at
the end of DATA); ``no_tls`` makes the listener without STARTTLS.  The last two are decided when the
connection is made (``size_fault``, ``tls_withheld``).  The handler (:mod:`.handler`) does RCPT's
greylisting and full mailboxes and the end of DATA.
"""
from __future__ import annotations

import asyncio
import collections
import dataclasses
import functools
import inspect
import logging
import re
import ssl
import types
import warnings
from asyncio import sslproto
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import aiosmtpd.smtp
from aiosmtpd.smtp import MISSING, SMTP, AuthResult, _AuthMechAttr

from ...events import CUT
from ...facts import Credential, Door, TlsMode, Wire
from ...faults import reply_line
from ...scenario.model import FaultKind
from ...world import Acceptance
from ..layers import CredentialScan, tls_version_of, trimmed_positions, wire
from ..throttle import LoginThrottle
from ..transport import small_reads
from . import grammar
from .grammar import Flaw, Problem

if TYPE_CHECKING:
    from .handler import DataResult, SmtpHandler

log = logging.getLogger(__name__)

_ENHANCED = re.compile(r"^\d\.\d{1,3}\.\d{1,3}\b")
# Default enhanced codes (RFC 3463) for aiosmtpd's own replies, which carry none.
_DEFAULT_ENHANCED = {500: "5.5.2", 501: "5.5.4", 502: "5.5.1", 503: "5.5.1", 504: "5.5.4",
                     530: "5.7.0", 535: "5.7.8", 552: "5.3.4", 554: "5.0.0", 555: "5.5.4",
                     421: "4.3.0", 451: "4.3.0", 452: "4.3.1", 250: "2.0.0", 221: "2.0.0",
                     235: "2.7.0", 550: "5.0.0", 553: "5.1.3"}
_NO_ENHANCED = {220, 334, 354}


@functools.lru_cache(maxsize=256)
def _enhanced(text: str) -> str:
    """A reply with its RFC 2034 status code (the pure part of ``TranscriptSMTP.enhance``).  Most
    replies are the same few lines again and again, so the last 256 answers are kept."""
    if len(text) < 4 or not text[:3].isdigit():
        return text
    code = int(text[:3])
    rest = text[4:]
    if code in _NO_ENHANCED or _ENHANCED.match(rest):
        return text
    enhanced = _DEFAULT_ENHANCED.get(code, f"{code // 100}.0.0")
    return f"{text[:3]}{text[3]}{enhanced} {rest}".rstrip()


_TRIVIAL = {"QUIT", "NOOP", "RSET"}   # a session tail of only these is not worth an event
_MAX_TRANSCRIPT = 5000

IDLE_TIMEOUT = 300.0        # seconds awaiting a command (RFC 5321 §4.5.3.2.7: at least 5 minutes)
MAX_ERRORS = 20             # 4xx/5xx replies before 421 and close (Postfix smtpd_hard_error_limit)
JUNK_LIMIT = 100            # NOOP/RSET/VRFY/HELP before each counts as an error (smtpd_junk_command_limit)
MAX_AUTH_FAILURES = 3       # failed AUTHs in one session before 421 and close (as POP3 and Dovecot)
MAX_SESSIONS_PER_PEER = 20  # concurrent SMTP sessions per client address, all doors together
TEXT_LINE = 998             # octets of a text line before its CRLF (RFC 5321 §4.5.3.1.6; RFC 5322 §2.1.1)
RECIPIENT_OVERSHOOT = 1000  # 452 4.5.3 replies per transaction before each counts as an error
                            # (Postfix smtpd_recipient_overshoot_limit)
RELAY_HEADROOM = 64 * 1024  # octets over SIZE for a sandbox host's own relay (trace headers)
TLS_HANDSHAKE_TIMEOUT = 10.0   # seconds for an smtps client to finish its TLS handshake
DATA_LINES_KEPT = 20        # message lines per DATA in the transcript (the rest are counted)
SHOWN = 300                 # octets of a long line the transcript shows
DATA_BLOCK = 64 * 1024      # octets of DATA read at once (the reader's limit during DATA)
_DATA_END = b"\r\n.\r\n"      # the end of data (RFC 5321 §4.1.1.4), after a line ...
_DOT_LINE = b".\r\n"          # ... or right after the 354

# The words of a refused argument (the reply text; the code and status come from the grammar).
_FLAW_TEXT = {
    Flaw.CONTROL: "control characters (NUL included) are not allowed",
    Flaw.NOT_UTF8: "the argument is not UTF-8",
    Flaw.SYNTAX: "syntax error",
    Flaw.SPACE: "a space is not allowed in an unquoted local part or between address parts",
    Flaw.BAD_DOMAIN: "not a valid domain name (letters, digits and inner hyphens, no empty label or trailing dot)",
    Flaw.BAD_LITERAL: "not a valid address literal ([IPv4] or [IPv6:...])",
    Flaw.LOCAL_TOO_LONG: "local part longer than 64 octets",
    Flaw.DOMAIN_TOO_LONG: "domain longer than 255 octets",
    Flaw.PATH_TOO_LONG: "path too long (at most 256 octets)",
    Flaw.NULL_PATH: "a recipient cannot be the null path <>",
    Flaw.BAD_PARAMETER: "malformed parameter (keyword[=value])",
    Flaw.LABEL_TOO_LONG: "a domain label is longer than 63 octets: no such domain can exist",
    Flaw.SOURCE_ROUTE: "source routes are not accepted (RFC 5321 §4.1.1.3)",
    Flaw.UNSUPPORTED_LITERAL: "only IPv4 and IPv6 address literals exist",
    Flaw.NON_ASCII: "non-ASCII addresses need SMTPUTF8 (RFC 6531)",
}
_SYNTAX = {"HELO": "Syntax: HELO hostname", "EHLO": "Syntax: EHLO hostname",
           "MAIL": "Syntax: MAIL FROM:<address> [parameters]", "RCPT": "Syntax: RCPT TO:<address> [parameters]"}
_JUNK = {"NOOP", "RSET", "VRFY", "HELP"}


def refusal_text(command: str, problem: Problem) -> str:
    """The reply to an argument the grammar refused (nothing the client sent is echoed)."""
    words = _SYNTAX[command] if problem.flaw is Flaw.SYNTAX else _FLAW_TEXT[problem.flaw]
    return f"{problem.code} {problem.status} {words}"


def fold_line(line: bytes, width: int = TEXT_LINE) -> bytes:
    """Break a text line (with its CRLF) longer than ``width`` octets, as Postfix's
    ``smtp_line_length_limit`` does: before the last space or tab within the width (so a header
    stays a folded header), else after ``width - 1`` octets with a space inserted, never inside a
    UTF-8 sequence.  (The same :class:`LineFolder` the doors fold with as the data arrives.)"""
    body = line[:-2] if line.endswith(b"\r\n") else line
    if len(body) <= width:
        return line
    parts: list[bytes] = []
    folder = LineFolder(parts.append, width)
    folder.extend(body)
    folder.end()
    return b"".join(parts)


class LineFolder:
    """One text line folded *as its pieces arrive* (the rule of :func:`fold_line`).

    A fold is decided by the first ``width`` octets still pending and by whether more than
    ``width`` are pending, so the folder folds as soon as ``width + 1`` octets are there and never
    holds more: the work is linear in the line's length and the memory at most ``width + 1``
    octets, however long the line (a 10 MB line is never built whole, nor re-sliced).  Each
    finished part goes to ``emit`` with its CRLF."""

    __slots__ = ("width", "_emit", "_pending")

    def __init__(self, emit: Callable[[bytes], Any], width: int = TEXT_LINE) -> None:
        self.width = width
        self._emit = emit
        self._pending = bytearray()

    @property
    def pending(self) -> int:
        """Octets of the current line not emitted yet (at most ``width`` between calls)."""
        return len(self._pending)

    def extend(self, data: bytes) -> None:
        """More octets of the current line."""
        pending, width = self._pending, self.width
        if len(pending) + len(data) <= width:
            pending += data
            return
        with memoryview(data) as view:
            pos, size = 0, len(data)
            while pos < size:
                room = width + 1 - len(pending)
                pending += view[pos:pos + room]
                pos += room
                while len(pending) > width:
                    self._fold()

    def end(self) -> None:
        """The line ends here: emit what is pending, with its CRLF."""
        self._emit(bytes(self._pending) + b"\r\n")
        self._pending.clear()

    def _fold(self) -> None:
        pending, width = self._pending, self.width
        cut = max(pending.rfind(b" ", 1, width), pending.rfind(b"\t", 1, width))
        if cut > 0:
            self._emit(bytes(pending[:cut]) + b"\r\n")
            del pending[:cut]                      # the continuation starts with that whitespace
            return
        cut = width - 1                            # room for the space that starts the next part
        back = cut
        while back > cut - 4 and (pending[back] & 0xC0) == 0x80:     # a UTF-8 continuation octet
            back -= 1
        if (pending[back] & 0xC0) != 0x80:
            cut = back
        self._emit(bytes(pending[:cut]) + b"\r\n")
        pending[:cut] = b" "


_LINE_END = re.compile(rb"\r\n|\r|\n")


class DataText:
    """The text of one DATA as the door keeps it, built as the pieces arrive (already
    dot-unstuffed by the reader, RFC 5321 §4.5.2).

    - **Line ends**: CRLF, and also a bare LF or a bare CR, end a line (as Postfix reads them), and
      every line is kept with CRLF (RFC 5321 §2.3.8): mail written with bare LFs (``curl
      --upload-file`` without ``--crlf``) arrives with its lines, and nothing is folded that was
      not long.  A CR at the end of a piece followed by an LF at the start of the next is one CRLF.
      (Where DATA *ends* is not decided here: only ``<CRLF>.<CRLF>`` ends it.)
    - **Folding**: each line longer than ``width`` octets goes through a :class:`LineFolder` as
      it arrives; runs of short lines are copied in one block.
    - **Size**: ``size`` counts the octets kept (CRLF line ends, transparency dots removed, long
      lines folded): what SIZE limits (RFC 1870 §3: "including CR-LF pairs, but not the SMTP DATA
      command's terminating dot or doubled quoting dots"), so what one door accepted is no
      bigger at the next hop.  ``discard()`` (over SIZE) drops the text and only counts lines.
    - **For the transcript**: ``on_line(head, length)`` for each of the first ``keep`` lines (its
      first :data:`SHOWN` octets and its length); ``lines`` counts them all.
    """

    def __init__(self, *, width: int = TEXT_LINE, keep: int = 0,
                 on_line: Callable[[bytes, int], Any] | None = None) -> None:
        self.chunks: list[bytes] = []
        self.size = 0
        self.lines = 0
        self.discarding = False
        self._width = width
        self._keep = keep
        self._on_line = on_line
        self._folder = LineFolder(self._emit, width)
        self._head = bytearray()
        self._length = 0
        self._after_cr = False

    @property
    def pending(self) -> int:
        return self._folder.pending

    def feed(self, data: bytes) -> None:
        if self._after_cr:
            self._after_cr = False
            if data[:1] == b"\n":
                data = data[1:]                    # the LF of a CRLF split between two pieces
        if not data:
            return
        self._after_cr = data.endswith(b"\r")
        if self.discarding:
            self.lines += len(_LINE_END.findall(data))
            return
        parts = _LINE_END.split(data)
        self._grow(parts[0])
        if len(parts) == 1:
            return
        self._end()
        middle = parts[1:-1]
        done = 0
        while done < len(middle) and self.lines < self._keep:
            line = middle[done]
            if len(line) <= self._width:           # a whole short line: nothing to fold or gather
                self._emit(line + b"\r\n")
                if self._on_line is not None:
                    self._on_line(line[:SHOWN + 1], len(line))
                self.lines += 1
            else:
                self._grow(line)
                self._end()
            done += 1
        rest = middle[done:] if done else middle
        if rest:
            if max(map(len, rest)) <= self._width:
                self._emit(b"\r\n".join(rest) + b"\r\n")      # short lines: one block, no loop
            else:
                for line in rest:
                    self._folder.extend(line)
                    self._folder.end()
            self.lines += len(rest)
        self._grow(parts[-1])

    def discard(self) -> None:
        """Over SIZE: keep nothing more (the rest is read and dropped, RFC 1870 §6)."""
        self.discarding = True
        self.chunks.clear()
        self._folder = LineFolder(lambda data: None, self._width)

    def result(self) -> bytes:
        if self._length:                           # a last line without its end (never after CRLF.CRLF)
            self._end()
        return b"".join(self.chunks)

    def release(self) -> None:
        """Done with: drop the callbacks that make it a reference cycle (its folder's ``emit`` is
        its own bound method, ``on_line`` the session's), so reference counting frees it and the
        session at once.  Anything fed after this is dropped, and what was kept is no message any
        more (``discarding``: never accepted as a whole text)."""
        self.discarding = True
        self.chunks = []
        self._on_line = None
        self._folder = LineFolder(_dropped, self._width)

    def _emit(self, data: bytes) -> None:
        self.chunks.append(data)
        self.size += len(data)

    def _grow(self, data: bytes) -> None:
        if not data:
            return
        if len(self._head) < SHOWN + 1:
            self._head += data[:SHOWN + 1 - len(self._head)]
        self._length += len(data)
        self._folder.extend(data)

    def _end(self) -> None:
        self._folder.end()
        if self.lines < self._keep and self._on_line is not None:
            self._on_line(bytes(self._head), self._length)
        self.lines += 1
        self._head.clear()
        self._length = 0


def _dropped(data: bytes) -> None:
    """The ``emit`` of a released :class:`DataText`'s folder."""


def shown(head: bytes, length: int) -> str:
    """A line as the transcript shows it: its first :data:`SHOWN` octets, and its length if longer."""
    text = head[:SHOWN].decode("utf-8", "replace")
    return text if length <= SHOWN else f"{text}… [{length} octets]"


class _TapReader(asyncio.StreamReader):
    """aiosmtpd's stream reader, telling its session each command line aiosmtpd reads: the
    transcript records what the server read, when it read it (bytes it never read — a flood after
    a 421, lines discarded by STARTTLS — are never narrated as sent commands)."""

    tap: "TranscriptSMTP | None" = None

    def _ended(self) -> None:
        """After the session's 421 (or its 221: the connection is closing) nothing more is read,
        executed or recorded, even what the client had already sent: the handler stops at once
        (aiosmtpd ends on cancellation)."""
        tap = self.tap
        if tap is not None and (tap._cut_off or (tap.transport is not None and tap.transport.is_closing())):
            raise asyncio.CancelledError

    async def readuntil(self, separator: bytes = b"\n") -> bytes:
        self._ended()
        line = await super().readuntil(separator)
        if self.tap is not None:
            self.tap._command_read(line, complete=True)
        return line

    async def read(self, n: int = -1) -> bytes:
        self._ended()
        data = await super().read(n)
        if self.tap is not None and data:
            self.tap._command_read(data, complete=False)       # the head of an over-long line
        return data


class PeerSlots:
    """Concurrent SMTP sessions per client address: one instance shared by every SMTP door.

    ``exempt(address)`` says which peers are never counted (the sandbox's own hosts, the webmail)."""

    def __init__(self, limit: int = MAX_SESSIONS_PER_PEER, *,
                 exempt: Callable[[str], bool] = lambda address: False) -> None:
        self.limit = limit
        self.exempt = exempt
        self._open: collections.Counter[str] = collections.Counter()

    def take(self, peer: str) -> bool:
        """Count a new session from ``peer``; False (nothing counted) when it is over the limit."""
        if self.exempt(peer):
            return True
        if self._open[peer] >= self.limit:
            return False
        self._open[peer] += 1
        return True

    def give_back(self, peer: str) -> None:
        if self._open[peer] > 1:
            self._open[peer] -= 1
        else:
            self._open.pop(peer, None)

    def open(self, peer: str) -> int:
        """Sessions counted for ``peer`` now."""
        return self._open[peer]


class ImplicitTls(asyncio.Protocol):
    """The accept side of an implicit-TLS SMTP port (smtps, RFC 8314 §3.3).

    ``create_server(ssl=...)`` would hand a connection to its session only after the handshake,
    so a client that connects and says nothing is counted nowhere while asyncio waits up to 60 s
    for its ClientHello.  Here, as the IMAP and POP3 listeners do (:mod:`..transport`), the
    connection is counted in the per-address cap at accept (one over it is closed at once: no
    handshake is spent on it), then TLS starts, and a handshake not finished within
    ``handshake_timeout`` (:data:`TLS_HANDSHAKE_TIMEOUT`, 10 s) ends the connection and frees its
    place.  After the handshake the session (``make_session()``) owns the connection and its place.
    ``transport`` is the connection while the handshake runs (the stack closes it at stop)."""

    handshake_timeout = TLS_HANDSHAKE_TIMEOUT

    def __init__(self, make_session: Callable[[], "TranscriptSMTP"], context: ssl.SSLContext,
                 slots: PeerSlots | None) -> None:
        self._make_session = make_session
        self._context = context
        self._slots = slots
        self.transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peername = transport.get_extra_info("peername")
        peer = str(peername[0]) if peername else "?"
        if self._slots is not None and not self._slots.take(peer):
            transport.close()                    # over the cap: closed before any handshake
            return
        self.transport = transport
        session = self._make_session()
        session.slot_taken(peer)
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        tls = sslproto.SSLProtocol(loop, session, self._context, waiter, server_side=True,
                                   ssl_handshake_timeout=self.handshake_timeout)
        transport.set_protocol(tls)
        tls.connection_made(transport)           # the handshake starts; the session follows it
        waiter.add_done_callback(lambda done: self._handshake_over(done, session, peer))

    def _handshake_over(self, done: asyncio.Future[Any], session: "TranscriptSMTP", peer: str) -> None:
        self.transport = None
        if not done.cancelled():
            done.exception()                     # retrieved: a failed handshake is no error of ours
        if not session.connected:                # failed, timed out or closed: give its place back
            if self._slots is not None:
                self._slots.give_back(peer)
            log.info("TLS handshake with %s did not finish", peer)

    def data_received(self, data: bytes) -> None:    # never: TLS owns the connection from accept on
        pass

    def connection_lost(self, exc: Exception | None) -> None:
        pass


_DEFERRED = AuthResult(success=False, handled=True)   # "checked later" (see TranscriptSMTP._checked)


class TranscriptSMTP(SMTP):
    """aiosmtpd's SMTP with a transcript and one fact per transaction (published by the handler)."""

    sleep = staticmethod(asyncio.sleep)       # how a slow-greeting fault waits (tests record it)
    idle_timeout = IDLE_TIMEOUT               # class-wide, so a test can shorten it
    max_errors = MAX_ERRORS

    def __init__(self, handler: "SmtpHandler", *, throttle: LoginThrottle | None = None,
                 slots: PeerSlots | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("timeout", self.idle_timeout)
        self._active_at = 0.0                 # loop time of the last activity (:meth:`_reset_timeout`)
        self._armed_for = 0.0                 # the idle period the armed timer counts
        # aiosmtpd's __init__ reflects over the session and its handler at every connection (its AUTH
        # mechanisms, hooks, the EHLO hook's signature: ~35 us of a ~70 us set-up); it is shown a
        # session and a handler with nothing to find, and the tables it would build are bound here
        # from what was found once per class and per handler (:func:`_handler_tables`), the same
        # tables (tests/test_smtp_reading.py compares them with aiosmtpd's own).  (aiosmtpd's INFO line
        # "Available AUTH mechanisms" therefore lists none; app.py keeps its logger at ERROR.)
        self._dir_prefixes = ()
        super().__init__(_NO_HOOKS, **kwargs)
        self._dir_prefixes = ("smtp_", "auth_")
        self.event_handler = handler
        hooks, self._ehlo_hook_ver, handler_mechanisms = _handler_tables(handler)
        self._handle_hooks = hooks            # shared by the sessions of a listener: aiosmtpd only reads it
        methods = {mechanism: _AuthMechAttr(getattr(self, name), True)
                   for mechanism, name in _own_mechanisms(type(self))}
        methods.update(handler_mechanisms)
        for excluded in kwargs.get("auth_exclude_mechanism") or ():
            methods.pop(excluded, None)
        self._auth_methods = methods
        # aiosmtpd keeps this table on the class and adds SIZE's 26 octets at every EHLO: ours is
        # per session and recomputed at each EHLO.
        self.command_size_limits = collections.defaultdict(lambda: self.command_size_limit)
        self.handler = handler
        self.throttle = throttle
        self.slots = slots
        self._slot: str | None = None         # the peer address counted in ``slots``
        self._over_cap = False
        self.errors = 0                       # 4xx/5xx replies so far (the error budget)
        self._junk = 0
        self.auth_failures = 0
        self._cut_off = False
        self._parsed: grammar.Path | None = None   # the path of the MAIL or RCPT being handled
        # After a 421 nothing more is done, even for commands the client had already pipelined.
        self._smtp_methods = {name: types.MethodType(command, self) for name, command in _guarded(type(self)).items()}
        self.transcript: list[tuple[str, str]] = []
        self._last_reply_text = ""            # the last reply pushed (recorded or not)
        self._continued: list[str] = []       # lines of a multi-line reply waiting for its last line
        self._in_data = False
        self._in_ehlo = False
        self._command_head = bytearray()      # the start of an over-long command line being read
        self._command_length = 0
        self._data_text: DataText | None = None   # the DATA being read
        self._slot_claimed = False
        self._overshoot = 0                   # 452 4.5.3 replies in this transaction
        self._to_check: tuple[str, Any] | None = None   # credentials read, waiting for the throttle
        reader = self._stream_reader          # aiosmtpd's: it tells us each command line it reads
        if reader is not None and type(reader) is asyncio.StreamReader:
            reader.__class__ = _TapReader
            reader.tap = self
        self.data_result: DataResult | None = None
        self.published_upto = 0
        self.slices = 0                       # transactions (slices of the transcript) published so far
        self.streamed_upto = 0
        self._sockname: Any = None
        self._peername: Any = None
        self.tls_mode = TlsMode.NONE          # TLS on this connection, and since when
        self.tls_version = ""
        self.tls_from: int | None = None      # index in ``transcript`` of the first line under TLS
        self._credentials = CredentialScan("SMTP")   # the AUTH lines read so far (each line read once)
        self.tls_withheld = False             # no STARTTLS on this connection: a ``no_tls`` fault
        self.size_fault: int | None = None    # this connection's SIZE comes from a ``size_limit`` fault
        self._greeted = False
        self._close_after_push = False
        self._dismantled = False                # its references dropped once it ended (:meth:`_dismantle`)

    def __dir__(self) -> list[str]:
        """The SMTP verbs (``smtp_*``) and AUTH mechanisms (``auth_*``) only.  aiosmtpd finds them
        with ``dir()`` and ``inspect.getmembers()`` -- a getattr of every attribute, properties
        included -- at every connection; a full ``dir()`` made that a fifth of a millisecond per
        connection.  While aiosmtpd's ``__init__`` runs, only the ``auth_*`` names: its table of
        verbs would be replaced at once by the guarded one (:func:`_guarded`), so it is not built,
        and its ``getmembers()`` for AUTH mechanisms binds no verb.  (``vars()`` and
        ``type(session).__mro__`` still show everything.)"""
        return list(_reflected(type(self), getattr(self, "_dir_prefixes", ("smtp_", "auth_"))))

    @property
    def peer_ip(self) -> str:
        session = self.session
        return session.peer[0] if session is not None and session.peer else "?"

    @property
    def local_port(self) -> int:
        return int(self._sockname[1]) if self._sockname else 0

    def connection_made(self, transport: Any) -> None:
        if self._sockname is None:      # the plain socket's; after STARTTLS the TLS transport's is gone
            self._sockname = transport.get_extra_info("sockname")   # once the connection is lost
            self._peername = transport.get_extra_info("peername")
            peer = str(self._peername[0]) if self._peername else "?"
            if not self._slot_claimed:
                self._claim_slot(peer)
            self._relay_headroom(peer)
            if transport.get_extra_info("sslcontext") is not None:  # a TLS port (smtps): TLS from byte one
                self.tls_mode, self.tls_from = TlsMode.IMPLICIT, 0
                self.tls_version = tls_version_of(transport)
        elif self.tls_mode is TlsMode.NONE:     # called again: the STARTTLS handshake is done
            self.tls_mode, self.tls_from = TlsMode.STARTTLS, len(self.transcript)
            self.tls_version = tls_version_of(transport)
        small_reads(transport)                  # no 256 KiB buffer mapped and unmapped per read (TLS too)
        super().connection_made(transport)

    def _claim_slot(self, peer: str) -> None:
        """Count this session in the per-address cap (once: smtps counts it at accept)."""
        self._slot_claimed = True
        if self.slots is None:
            return
        if self.slots.take(peer):
            self._slot = peer
        else:
            self._over_cap = True             # answered 421 instead of the greeting

    def slot_taken(self, peer: str) -> None:
        """The acceptor of an implicit-TLS port counted this session at accept (:class:`ImplicitTls`)."""
        self._slot_claimed = True
        self._slot = peer

    @property
    def connected(self) -> bool:
        return self._sockname is not None

    def _relay_headroom(self, peer: str) -> None:
        """A sandbox host's own relay may exceed SIZE by :data:`RELAY_HEADROOM`: every door counts
        the text it keeps (folded, CRLF) against SIZE, and each hop adds a Received: header (RFC
        5321 §4.4), so a message one door accepted is never refused by the next for its trace
        headers.  Not under a ``size_limit`` fault: that lesson's SIZE holds for relays too."""
        world = getattr(self.handler, "world", None)
        if (self.size_fault is None and self.data_size_limit and world is not None
                and world.host_by_address(peer) is not None):
            self.data_size_limit += RELAY_HEADROOM

    def wire_now(self) -> Wire:
        """The connection's Wire as it is now (for a fact with no lines of its own)."""
        return wire(self._peername, self._sockname, tls=self.tls_mode, tls_version=self.tls_version, tls_from=0)

    def layers(self, start: int, *, keep: int = 20) -> tuple[Wire, tuple[Credential, ...]]:
        """The Wire and the credential marks of ``transcript[start:]`` once trimmed with ``keep``
        (as :func:`~simulator.events.trim_transcript` trims it for a fact)."""
        end = len(self.transcript)
        tls, since = self.tls_mode, self.tls_from
        self._credentials.update(self.transcript, tls=tls, tls_from=since)
        found = self._credentials.since(start)
        positions: list[int | None] = []
        if found or (since is not None and start < since < end):    # lines to place in the trimmed slice
            positions = trimmed_positions(self.transcript[start:end], keep)
        if since is None or since >= end:          # TLS came after these lines (or never)
            tls, tls_from = TlsMode.NONE, None
        elif since <= start:
            tls_from = 0
        else:
            tls_from = positions[since - start]
        marks = []
        for mark in found:
            where = positions[mark.line - start]
            if where is not None:
                marks.append(dataclasses.replace(mark, line=where))
        layer = wire(self._peername, self._sockname, tls=tls, tls_version=self.tls_version if tls else "",
                     tls_from=tls_from)
        return layer, tuple(marks)

    # -- the transcript: what the server read and what it answered ------------------------------
    def _record(self, side: str, text: str) -> None:
        """One line of the transcript.  At most :data:`_MAX_TRANSCRIPT` lines are held: lines
        already published are dropped first (their indices rebased); past that, nothing more is
        recorded until the next publication (a flood can neither grow it nor make it slow)."""
        if len(self.transcript) >= _MAX_TRANSCRIPT:
            self._compact()
            if len(self.transcript) >= _MAX_TRANSCRIPT:
                return
        self.transcript.append((side, text))

    def _compact(self) -> None:
        floor = min(self.published_upto, len(self.transcript))
        if floor < _MAX_TRANSCRIPT // 2:
            return
        self._credentials.update(self.transcript, tls=self.tls_mode, tls_from=self.tls_from)
        del self.transcript[:floor]
        self._credentials.drop(floor)
        self.published_upto -= floor
        self.streamed_upto = max(0, self.streamed_upto - floor)
        if self.tls_from is not None:
            self.tls_from = max(0, self.tls_from - floor)

    def _command_read(self, data: bytes, *, complete: bool) -> None:
        """aiosmtpd read a command line (``complete``), or the head of an over-long one."""
        if self._in_data:
            return                                # DATA records its own lines (:meth:`_read_message`)
        if not complete:
            if len(self._command_head) <= SHOWN:
                self._command_head += data[:SHOWN + 1 - len(self._command_head)]
            self._command_length += len(data)
            return
        line = data[:-1] if data.endswith(b"\n") else data
        line = line[:-1] if line.endswith(b"\r") else line
        if self._command_length:
            head = bytes(self._command_head) + line[:SHOWN + 1]
            length = self._command_length + len(line)
            self._command_head.clear()
            self._command_length = 0
        else:
            head, length = line[:SHOWN + 1], len(line)
        self._record("C", shown(head, length))

    def _data_line(self, head: bytes, length: int) -> None:
        self._record("D", shown(head, length))

    def _data_read(self, *, dot: bool) -> None:
        """The end of a DATA (its dot, or the connection's end): say how many lines were not shown."""
        text, self._data_text = self._data_text, None
        if text is not None and text.lines > DATA_LINES_KEPT:
            self._record(CUT, str(text.lines - DATA_LINES_KEPT))
        if dot:
            self._record("C", ".")
        elif text is not None:
            text.release()                      # never finished: nothing more is kept of it

    # -- what the server answered: push() is the one place every reply passes -----------------
    async def push(self, status: Any) -> None:
        if self._cut_off:                       # after the 421: silence until the close
            return
        text = status.decode("utf-8", "replace") if isinstance(status, bytes) else str(status)
        if not self._greeted:                   # the first reply of a connection is the greeting
            self._greeted = True
            text = await self._greeting(text)
        text = self.enhance(text)
        if text.startswith("235 ") and self.handler.host is None:
            text = self.handler.front_handover(self, text)
        self._last_reply_text = text
        if self.handler.line_mode and text[3:4] != "-":      # one step per reply (its last line)
            # Line-by-line stepping: each server reply waits for the teacher; the client lines that
            # led to it stream as they arrive.
            await self.handler.before_reply(self, text)
            self._record("S", text)
            self.handler.stream_lines(self)
        else:
            self._record("S", text)
        if text.startswith("354"):
            self._in_data = True
        if text[3:4] == "-":
            # A line of a multi-line reply (EHLO's): sent with the reply's last line, one write
            # and one segment for the whole reply instead of one per line.
            self._continued.append(text)
            return
        if self._continued:
            self._continued.append(text)
            await super().push("\r\n".join(self._continued))
            self._continued.clear()
        else:
            await super().push(text)
        if self._close_after_push or text.startswith("421 "):
            # RFC 5321 §3.8: 421 says "closing transmission channel" — and then does it
            self._cut_off = True
            self._close()
            return
        if text[:1] in ("4", "5") and text[3:4] != "-":
            if text.startswith("452 4.5.3") and self._overshoot < RECIPIENT_OVERSHOOT:
                # Too many recipients: the client sends the rest in another transaction (RFC 5321
                # §4.5.3.1.10); smtplib's sendmail to 120 recipients must not lose the message.
                # Postfix counts them as errors only past smtpd_recipient_overshoot_limit (1000).
                self._overshoot += 1
            else:
                self.errors += 1
        if self.errors >= self.max_errors and not self._cut_off:
            # Postfix's smtpd_hard_error_limit: a client that keeps getting errors is cut off.
            await self.push(f"421 4.7.0 {self.hostname} Error: too many errors")

    def _close(self) -> None:
        """End the session from the server's side (after a faulty greeting or QUIT reply)."""
        if self._handler_coroutine is not None:
            self._handler_coroutine.cancel()
        if self.transport is not None:
            self.transport.close()

    # -- faults ------------------------------------------------------------------------------------
    async def _greeting(self, text: str) -> str:
        """A slow greeting waits; a ``reply`` fault at CONNECT replaces it and ends the session; so
        does a client address over its cap of concurrent sessions (421 4.7.0, RFC 5321 §3.1)."""
        if self._over_cap:
            self._close_after_push = True
            return f"421 4.7.0 {self.hostname} Too many connections from your address; try again later"
        slow = self.handler.fault(FaultKind.SLOW)
        if slow is not None and slow.greeting > 0:
            self.handler.bite(self, slow, "CONNECT", "", delay=slow.greeting)
            await self.sleep(slow.greeting)
        fault = self.handler.fault_reply("CONNECT")
        if fault is None:
            return text
        text = self.enhance(reply_line(fault))
        self.handler.bite(self, fault, "CONNECT", text)
        self._close_after_push = True          # RFC 5321 §3.1: no service here (421/554)
        return text

    async def _answered_by_fault(self, command: str) -> bool:
        """A ``reply`` fault at ``command``: give its reply instead of doing the command."""
        fault = self.handler.fault_reply(command)
        if fault is None:
            return False
        text = self.enhance(reply_line(fault))
        self.handler.bite(self, fault, command, text)
        if command == "QUIT":
            self._close_after_push = True
        await self.push(text)
        return True

    @property
    def encrypted(self) -> bool:
        return self._tls_protocol is not None or (
            self.transport is not None and self.transport.get_extra_info("sslcontext") is not None)

    def _last_reply(self) -> str:
        return self._last_reply_text

    def _size_bite(self, command: str) -> None:
        """A 552 from this connection's SIZE limit, when a ``size_limit`` fault set it."""
        reply = self._last_reply()
        if self.size_fault is not None and reply.startswith("552"):
            fault = self.handler.fault(FaultKind.SIZE_LIMIT)
            if fault is not None:
                self.handler.bite(self, fault, command, reply)

    def enhance(self, text: str) -> str:
        """RFC 2034: once ENHANCEDSTATUSCODES is advertised, replies carry a status code."""
        if self._in_ehlo:
            return text
        return _enhanced(text)

    async def smtp_EHLO(self, hostname: str) -> None:
        if await self._answered_by_fault("EHLO"):
            return
        if await self._bad_helo("EHLO", hostname):
            return
        self.command_size_limits.clear()      # SIZE and SMTPUTF8 extend MAIL once (RFC 1870, 6531)
        self._in_ehlo = True
        try:
            await super().smtp_EHLO(hostname)
        finally:
            self._in_ehlo = False

    async def smtp_HELO(self, hostname: str) -> None:
        if await self._answered_by_fault("HELO"):
            return
        if await self._bad_helo("HELO", hostname):
            return
        self._in_ehlo = True
        try:
            await super().smtp_HELO(hostname)
        finally:
            self._in_ehlo = False

    async def smtp_AUTH(self, arg: str) -> None:
        """RFC 4954 §9: a peer with failed logins on record waits before its next one is checked.

        A door that offers no mechanism (an MX) does not know AUTH at all (RFC 4954 §3)."""
        if await self._answered_by_fault("AUTH"):
            return
        if not self._auth_methods:
            await self.push("502 5.5.1 AUTH is not offered on this port")
            return
        await super().smtp_AUTH(arg)
        if self._last_reply().startswith("535"):
            self.auth_failures += 1
            if self.auth_failures >= MAX_AUTH_FAILURES and not self._cut_off:
                await self.push(f"421 4.7.0 {self.hostname} Too many failed authentication attempts")

    # The throttle waits right before the credentials are checked: after an interactive AUTH LOGIN
    # has read them, so an attempt's turn is never held by a client that has not answered yet.
    async def auth_PLAIN(self, _: Any, args: list[str]) -> AuthResult:
        return await self._checked(await super().auth_PLAIN(_, args))

    async def auth_LOGIN(self, _: Any, args: list[str]) -> AuthResult:
        return await self._checked(await super().auth_LOGIN(_, args))

    def _authenticate(self, mechanism: str, auth_data: Any) -> AuthResult:
        if self.throttle is None:
            return super()._authenticate(mechanism, auth_data)
        self._to_check = (mechanism, auth_data)
        return _DEFERRED

    async def _checked(self, result: AuthResult) -> AuthResult:
        """The throttle's wait (the same for every login: before the check), then the check."""
        if result is not _DEFERRED or self._to_check is None:
            return result                         # refused before any check (bad base64, "*")
        (mechanism, auth_data), self._to_check = self._to_check, None
        assert self.throttle is not None
        await self.throttle.hold(self.peer_ip)
        return super()._authenticate(mechanism, auth_data)

    async def smtp_STARTTLS(self, arg: str) -> None:
        if await self._answered_by_fault("STARTTLS"):
            return
        await super().smtp_STARTTLS(arg)

    async def smtp_MAIL(self, arg: str | None) -> None:
        if await self._answered_by_fault("MAIL"):
            return
        require = self.handler.fault(FaultKind.REQUIRE_TLS)
        if require is not None and not self.encrypted:
            # RFC 3207 §4: a server may refuse mail until the client has started TLS.
            text = "530 5.7.0 Must issue a STARTTLS command first"
            self.handler.bite(self, require, "MAIL", text)
            await self.push(text)
            return
        if await self.check_helo_needed() or await self.check_auth_needed("MAIL"):
            return
        path = grammar.parse_mail(arg, smtputf8_offered=self.enable_SMTPUTF8)
        if isinstance(path, Problem):
            await self.push(refusal_text("MAIL", path))
            return
        if self._forged_local_sender(path):
            await self.push(f"553 5.7.1 <{path.address}>: sender address rejected: mail from this "
                            f"domain comes through its submission server, with AUTH")
            return
        self._parsed = path
        try:
            await super().smtp_MAIL(arg)
        finally:
            self._parsed = None
        if self._last_reply_text.startswith("250"):
            self._overshoot = 0                   # a new transaction
        self._size_bite("MAIL")

    async def smtp_RCPT(self, arg: str | None) -> None:
        if await self._answered_by_fault("RCPT"):
            return
        if await self.check_helo_needed() or await self.check_auth_needed("RCPT"):
            return
        if self.envelope is not None and self.envelope.mail_from:
            path = grammar.parse_rcpt(arg, smtputf8=bool(self.envelope.smtp_utf8))
            if isinstance(path, Problem):
                await self.push(refusal_text("RCPT", path))
                return
            if path.mailbox is not None and not path.mailbox.domain:
                path = self._postmaster(path)
            if path.mailbox is not None and path.mailbox.routing and not self._logged_in():
                # RFC 5321 §3.6.1: sender-specified routing is a relay; only a login may ask for it.
                await self.push(f"550 5.7.1 <{path.address}>: relay access denied: routing operators "
                                f"(%, !, a quoted @) in a local part need AUTH")
                return
            self._parsed = path
        try:
            await super().smtp_RCPT(arg)
        finally:
            self._parsed = None

    # -- grammar and policy helpers ---------------------------------------------------------------
    async def _bad_helo(self, command: str, hostname: str | None) -> bool:
        """RFC 5321 §4.1.1.1: HELO/EHLO name one Domain or address literal; else 501 5.5.2."""
        name = grammar.parse_helo(hostname)
        if isinstance(name, Problem):
            await self.push(refusal_text(command, name))
            return True
        return False

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        """aiosmtpd's address parser, replaced by what :mod:`.grammar` read for this command: the
        address the handler sees is the one the grammar checked, and the parameters follow it."""
        parsed = self._parsed
        if parsed is None:
            return None, None                     # never reached: MAIL and RCPT parse first
        rest = " ".join(key if value is None else f"{key}={value}" for key, value in parsed.params)
        return parsed.address, rest

    def _postmaster(self, path: grammar.Path) -> grammar.Path:
        """RFC 5321 §4.5.1: ``RCPT TO:<Postmaster>`` (no domain) MUST be accepted: it names the
        postmaster of the domain this door serves (the host's, the logged-in user's MSA's, the app
        port's queue host's), and goes on as ``postmaster@<that domain>``."""
        host = self.handler.host
        if host is None and self.session is not None:
            try:
                host = self.handler._queue_host(self.session)
            except (AttributeError, TypeError):   # the front door before a login: none yet
                host = None
        if host is None or path.mailbox is None:
            return path
        mailbox = dataclasses.replace(path.mailbox, local="postmaster", domain=host.domain)
        return dataclasses.replace(path, mailbox=mailbox)

    def _logged_in(self) -> bool:
        """A login on a door that requires one (the app port's AUTH "any" trusts nobody)."""
        return bool(self._auth_required and self.session is not None and self.session.authenticated)

    def _forged_local_sender(self, path: grammar.Path) -> bool:
        """An MX's own domain as the sender of a client that is no sandbox host, without AUTH."""
        mailbox = path.mailbox
        handler = self.handler
        if mailbox is None or handler.door is not Door.MX or handler.host is None or self._logged_in():
            return False
        if handler.world.host_by_address(self.peer_ip) is not None:
            return False
        return handler.world.acceptance(handler.host, mailbox.domain.lower()) != Acceptance.NONE

    # -- the junk commands count once there are too many (Postfix smtpd_junk_command_limit) -------
    def _junk_command(self) -> None:
        self._junk += 1
        if self._junk > JUNK_LIMIT:
            self.errors += 1

    def _forgive(self) -> None:
        """A message was accepted: the error budget starts again (Postfix forgives a client's
        earlier errors when a message is received: ``smtpd_hard_error_limit`` counts errors made
        "without delivering mail"; its junk command count starts again too).  A relay's cached
        connection carries message after message, some with a refused recipient each: those
        refusals must not add up to a 421 in the middle of a later message."""
        self.errors = self._junk = self._overshoot = 0

    async def smtp_NOOP(self, arg: str) -> None:
        self._junk_command()
        await super().smtp_NOOP(arg)

    async def smtp_RSET(self, arg: str) -> None:
        self._junk_command()
        self._overshoot = 0
        await super().smtp_RSET(arg)

    async def smtp_VRFY(self, arg: str) -> None:
        self._junk_command()
        await super().smtp_VRFY(arg)

    async def smtp_HELP(self, arg: str) -> None:
        self._junk_command()
        await super().smtp_HELP(arg)

    async def smtp_QUIT(self, arg: str) -> None:
        if await self._answered_by_fault("QUIT"):
            return
        await super().smtp_QUIT(arg)

    async def smtp_DATA(self, arg: str) -> None:
        if await self._answered_by_fault("DATA"):
            return
        self.data_result = None
        try:
            await self._data(arg)
        except asyncio.CancelledError:          # the client left (the 250 perhaps held at the gate)
            services = getattr(self.handler, "services", None)
            gone, taken = getattr(services, "session_gone", None), self.data_result
            if gone is not None and taken is not None and taken.ok and taken.queue_id:
                gone(taken.queue_id)            # what was taken is delivered without its session's fact
            raise
        finally:
            self._in_data = False
        result, self.data_result = self.data_result, None
        if result is None:                      # aiosmtpd itself refused: too much data?
            self._size_bite("DOT")
        if result is not None and result.ok and not result.resend:
            self._forgive()             # mail was delivered (a resend stores nothing: Postfix's rule)
        if result is not None:
            self.handler.publish_session(self, result)
        elif any(side == "D" for side, _ in self.transcript[self.published_upto:]):
            self.handler.publish_session(self, self.handler.refusal(self._last_reply_text))

    async def _data(self, arg: str | None) -> None:
        """aiosmtpd's DATA, with the text-line rule of this door: long lines are folded, not
        refused; only ``<CRLF>.<CRLF>`` ends the data (RFC 5321 §4.1.1.4, §4.5.2)."""
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        if self.session is not None:
            await self.handler.before_content(self.session)   # in-flow control: before the content
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        content = await self._read_message()
        if content is None:
            await self.push("552 5.3.4 Error: Too much mail data")
            self._set_post_data_state()
            return
        self.envelope.original_content = content
        self.envelope.content = content.decode("utf-8", "surrogateescape") if self._decode_data else content
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()
        await self.push("250 OK" if status is MISSING else status)

    async def _read_message(self) -> bytes | None:
        """The data up to the lone dot, dot-unstuffed, with CRLF line ends and long lines folded,
        all as the pieces arrive (:class:`DataText`); None when the text kept was larger than
        SIZE (the rest is read and dropped, RFC 1870 §6: 552 after the dot).

        The pieces are as large as what has arrived allows (:meth:`_data_piece`): a 2 KB message
        is one read, not one per line; the reader's limit is widened to :data:`DATA_BLOCK` for
        the DATA only (command lines keep aiosmtpd's)."""
        limit = self.data_size_limit
        text = self._data_text = DataText(keep=DATA_LINES_KEPT, on_line=self._data_line)
        reader = self._reader
        at_start = True                                    # just after a CRLF (or the 354)
        line_limit = reader._limit                         # type: ignore[attr-defined]
        reader._limit = max(line_limit, DATA_BLOCK)        # type: ignore[attr-defined]
        try:
            while self.transport is not None:
                body, at_start, ended = await self._data_piece(reader, at_start)
                self._reset_timeout()                          # data arriving: not idle
                text.feed(body)
                if limit and text.size > limit and not text.discarding:
                    text.discard()
                if ended:
                    break
            else:
                raise ConnectionResetError("the connection ended inside DATA")
        finally:
            reader._limit = line_limit                     # type: ignore[attr-defined]
        self._data_read(dot=True)
        content = None if text.discarding else text.result()
        text.release()
        return content

    async def _data_piece(self, reader: asyncio.StreamReader, at_start: bool) -> tuple[bytes, bool, bool]:
        """The next piece of DATA, dot-unstuffed (RFC 5321 §4.5.2): its octets, whether the piece
        after it starts a line, whether the end of data (``<CRLF>.<CRLF>``, not in the octets) came.

        At the start of a line, every whole line that has arrived up to and with the end of data is
        one piece (a line starting with a dot loses it: ``<CRLF>.`` becomes ``<CRLF>``); when the end
        has not arrived within :data:`DATA_BLOCK` octets, the whole lines that have.  Otherwise
        (the first octets could be the lone dot still arriving, or a line longer than the block
        is being read) one line, or the head of an over-long one, as aiosmtpd reads them."""
        buffer = reader._buffer                            # type: ignore[attr-defined]
        if at_start and not _DOT_LINE.startswith(bytes(buffer[:3])):
            try:
                block = await reader.readuntil(_DATA_END)
            except asyncio.LimitOverrunError:
                end = buffer.find(_DATA_END)
                whole = end + len(_DATA_END) if end >= 0 else buffer.rfind(b"\r\n") + 2
                block = await reader.readexactly(whole) if whole >= 2 else b""
            if block:
                ended = block.endswith(_DATA_END)
                body = block[:-3] if ended else block          # the CRLF before the dot ends the last line
                body = body[1:] if body[:1] == b"." else body
                return body.replace(b"\r\n.", b"\r\n"), True, ended
        try:
            piece = await reader.readuntil(b"\r\n")
        except asyncio.LimitOverrunError as error:          # a line longer than the read buffer
            piece = await reader.read(error.consumed)
        if at_start and piece == _DOT_LINE:
            return b"", True, True
        body = piece[1:] if at_start and piece[:1] == b"." else piece
        return body, piece.endswith(b"\r\n"), False

    def data_received(self, data: bytes) -> None:
        if self._in_data:                                  # a transfer going on is no idle session,
            self._active_at = self.loop.time()             # even before a whole piece is there
        super().data_received(data)

    def _reset_timeout(self, duration: float | None = None) -> None:
        """Activity: the idle clock starts again.  aiosmtpd cancels its timer and makes a new one
        at every command (and this door at every DATA line): a timer object and a heap entry per
        line.  Here the activity is only noted; the timer already armed, when it fires, re-arms
        itself for what is left (:meth:`_timeout_cb`), so the deadline is the same -- ``duration``
        after the last activity -- and a busy session makes one timer per idle period."""
        duration = duration or self._timeout_duration
        self._active_at = self.loop.time()
        handle = self._timeout_handle
        if handle is not None and not handle.cancelled() and duration == self._armed_for:
            return
        if handle is not None:
            handle.cancel()
        self._armed_for = duration
        self._timeout_handle = self.loop.call_later(duration, self._timeout_cb)

    def _timeout_cb(self) -> None:
        """Idle for ``idle_timeout`` seconds: say so (421 4.4.2, as Postfix) and close."""
        left = self._active_at + self._armed_for - self.loop.time()
        if left > 0:                           # there was activity since the timer was armed
            self._timeout_handle = self.loop.call_later(left, self._timeout_cb)
            return
        text = f"421 4.4.2 {self.hostname} Error: timeout exceeded"
        self._data_read(dot=False)
        self._record("S", text)
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(text.encode() + b"\r\n")
        super()._timeout_cb()

    def connection_lost(self, error: Exception | None) -> None:
        if self._dismantled:                    # told twice (never by asyncio): nothing is left to end
            return
        self._data_read(dot=False)
        if self._slot is not None and self.slots is not None:
            self.slots.give_back(self._slot)
            self._slot = None
        try:
            if self.session is not None and self._worth_publishing():
                self.handler.publish_session(self, None)
        except Exception:
            log.exception("publishing the end of an SMTP session failed")
        tls = self._tls_protocol or getattr(self.transport, "_ssl_protocol", None)   # STARTTLS, smtps
        super().connection_lost(error)
        _release_tls_buffer(tls)
        handling = self._handler_coroutine
        if handling is None or handling.done():
            self._dismantle()
        else:                                   # cancelled just now: it ends at its next step
            handling.add_done_callback(self._handling_ended)

    def _handling_ended(self, _task: "asyncio.Task[None]") -> None:
        self._dismantle()

    def _dismantle(self) -> None:
        """The session is over (its connection lost, aiosmtpd's handler task ended): drop what
        refers back to it, so that reference counting frees it now.  Left alone, each ended session
        is ~80 objects of cyclic garbage -- the verb table's bound methods, the reader that taps its
        lines, the writer, the idle-time table's closure, the DATA text's callback, and the handler
        task whose CancelledError keeps the frames that held the session -- which live long enough to
        reach the collector's oldest generation: many-millisecond pauses of the whole process."""
        self._dismantled = True
        self._handler_coroutine = None          # the ended task, its exception and its frames
        self._smtp_methods = {}
        self._auth_methods = {}
        self.command_size_limits = {}
        self._client_connected_cb = None
        self._data_text = None
        self._tls_protocol = self._original_transport = None
        reader, self._reader = self._reader, None
        if isinstance(reader, _TapReader):
            reader.tap = None
        self._writer = self._stream_writer = None

    def _worth_publishing(self) -> bool:
        rest = self.transcript[self.published_upto:]
        return any(side == "C" and line.strip() and line.split(" ", 1)[0].upper() not in _TRIVIAL
                   for side, line in rest)


def _release_tls_buffer(tls: Any) -> None:
    """An ended session waits for the cycle collector (aiosmtpd's tables of bound methods, the
    cancelled handler's traceback); its TLS layer's read buffer (256 KiB) need not wait with it.
    A new, empty buffer is made should anything still read (``get_buffer`` grows it)."""
    if tls is not None and getattr(tls, "_ssl_buffer", None) is not None:
        tls._ssl_buffer = bytearray()
        tls._ssl_buffer_view = memoryview(tls._ssl_buffer)


class _NoHooks:
    """What aiosmtpd's ``__init__`` is shown as the handler: nothing to reflect over."""

    def __dir__(self) -> list[str]:
        return []


_NO_HOOKS = _NoHooks()


def _mechanism(name: str, method: Any) -> str:
    """An AUTH mechanism's name as aiosmtpd gives it: ``__auth_mechanism_name__``, else the method's
    name after ``auth_`` with ``__`` as ``-``."""
    return getattr(method, "__auth_mechanism_name__", name.replace("auth_", "").replace("__", "-"))


@functools.cache
def _own_mechanisms(cls: type) -> tuple[tuple[str, str], ...]:
    """(mechanism, method name) of the session class's built-in AUTH mechanisms."""
    return tuple((_mechanism(name, getattr(cls, name)), name) for name in _reflected(cls, ("auth_",)))


_TABLES_KEY = "_mailflow_session_tables"     # where a handler keeps them (its own __dict__)


def _handler_tables(handler: Any) -> tuple[dict[str, Callable[..., Any]], str | None, dict[str, Any]]:
    """aiosmtpd's per-connection tables that depend on the handler only: its hooks (``handle_*`` ->
    bound method), which form of ``handle_EHLO`` it has (``None``, ``"old"`` or ``"new"``, with
    aiosmtpd's checks and warning), and its AUTH mechanisms.

    Found at the handler's first connection and kept in the handler's own ``__dict__``, so they
    live and die with it (a lesson loaded or a port reopened makes new handlers; the old ones, and
    the world they hold, are freed as before).  A handler without a ``__dict__`` is reflected over
    at every connection, as aiosmtpd did.  A hook added to or replaced on a handler after its first
    connection is not seen by later ones (no handler of the sandbox does that)."""
    cached = getattr(handler, "__dict__", None)
    tables = cached.get(_TABLES_KEY) if cached is not None else None
    if tables is None:
        hooks = {name.replace("handle_", ""): getattr(handler, name) for name in dir(handler)
                 if name.startswith("handle_")}
        ehlo = hooks.get("EHLO")
        version = None
        if ehlo is not None:
            count = len(inspect.signature(ehlo).parameters)
            if count == 4:
                version = "old"
                warnings.warn("Use the 5-argument handle_EHLO() hook instead of the 4-argument "
                              "handle_EHLO() hook; support for the 4-argument handle_EHLO() hook will "
                              "be removed in version 2.0", DeprecationWarning)
            elif count == 5:
                version = "new"
            else:
                raise RuntimeError("Unsupported EHLO Hook")
        mechanisms = {_mechanism(name, method): _AuthMechAttr(method, False)
                      for name, method in inspect.getmembers(handler) if name.startswith("auth_")}
        tables = (hooks, version, mechanisms)
        if cached is not None:
            cached[_TABLES_KEY] = tables
    return tables


_LOG_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
               "error": logging.ERROR, "critical": logging.CRITICAL}


def _sanitized_log(func: Callable[..., None], msg: Any, *args: Any, **kwargs: Any) -> None:
    """aiosmtpd's ``sanitized_log`` that first asks whether the logger would write the line at all.

    aiosmtpd logs every command line it reads twice (``log.debug`` and ``log.info`` in
    ``_handle_client``), each through ``sanitized_log``, which masks AUTH credentials with a regex
    *before* the logger looks at its level; ``app.py`` sets aiosmtpd's ``mail.log`` to ERROR, so the
    regex ran for nothing: ~2-3 % of the mail loop at ten MX clients (py-spy).  With the logger's
    level enabled, the line is masked and logged exactly as before."""
    logger = getattr(func, "__self__", None)
    level = _LOG_LEVELS.get(getattr(func, "__name__", ""))
    if level is not None and isinstance(logger, logging.Logger) and not logger.isEnabledFor(level):
        return
    _aiosmtpd_sanitized_log(func, msg, *args, **kwargs)


_aiosmtpd_sanitized_log = aiosmtpd.smtp.sanitized_log
aiosmtpd.smtp.sanitized_log = _sanitized_log     # the name _handle_client looks up at each call


@functools.cache
def _reflected(cls: type, prefixes: tuple[str, ...]) -> tuple[str, ...]:
    """The attributes of ``cls`` whose names start with one of ``prefixes`` (once per class)."""
    return tuple(name for name in dir(cls) if name.startswith(prefixes))


@functools.cache
def _guarded(cls: type[TranscriptSMTP]) -> dict[str, Callable[..., Any]]:
    """aiosmtpd's verb table (``"EHLO"`` -> ``smtp_EHLO``) with each verb doing nothing once the
    session is cut off (after its 421 nothing more is done, even for commands the client had
    already pipelined).  Built once per class; a session binds it to itself."""
    def guard(function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)          # keeps aiosmtpd's ``@syntax`` marks for HELP
        async def command(self: TranscriptSMTP, arg: Any) -> None:
            if not self._cut_off:
                await function(self, arg)
        return command
    return {name.replace("smtp_", ""): guard(getattr(cls, name)) for name in _reflected(cls, ("smtp_",))}


# The overrides keep aiosmtpd's HELP texts (``@syntax`` marks the method it decorates).
for _name in ("smtp_EHLO", "smtp_HELO", "smtp_AUTH", "smtp_STARTTLS", "smtp_MAIL", "smtp_RCPT", "smtp_QUIT",
              "smtp_DATA", "smtp_NOOP", "smtp_RSET", "smtp_VRFY", "smtp_HELP"):
    getattr(TranscriptSMTP, _name).__dict__.update(getattr(SMTP, _name).__dict__)
