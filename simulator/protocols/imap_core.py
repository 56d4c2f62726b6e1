"""Sans-IO IMAP4rev1 server session (RFC 3501) with the extensions real clients use.

Implemented
  * RFC 3501: CAPABILITY, NOOP, LOGOUT (§6.1); STARTTLS, AUTHENTICATE, LOGIN (§6.2); SELECT, EXAMINE,
    CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, LIST, LSUB, STATUS, APPEND (§6.3); CHECK, CLOSE,
    EXPUNGE, SEARCH, FETCH, STORE, COPY, UID (§6.4); literals, quoted strings, sequence sets (§4, §9).
  * SASL-IR (RFC 4959) with PLAIN (RFC 4616) and LOGIN; LITERAL+ (RFC 7888); ID (RFC 2971);
    ENABLE (RFC 5161, nothing enableable); IDLE (RFC 2177); NAMESPACE (RFC 2342); UIDPLUS (RFC 4315:
    APPENDUID, COPYUID, UID EXPUNGE); UNSELECT (RFC 3691); CHILDREN (RFC 3348); MOVE (RFC 6851);
    SPECIAL-USE attributes in LIST (RFC 6154); response codes TOOBIG, AUTHENTICATIONFAILED,
    EXPUNGEISSUED, CANNOT, NONEXISTENT, ALREADYEXISTS (RFC 5530).

Left out (and therefore never advertised): CONDSTORE/QRESYNC, COMPRESS, LIST-EXTENDED, UTF8=ACCEPT,
BINARY, MULTIAPPEND, ESEARCH, SORT/THREAD, QUOTA, ACL, LIST (SPECIAL-USE) selection options.

Theory of operation
  ``ImapSession.feed(bytes)`` returns a list of effects (``Send``, ``Delay``, ``StartTls``, ``Close``,
  ``Publish``) that the asyncio adapter carries out in order. Framing (lines and ``{n}``/``{n+}``
  literals) is done by ``CommandReader``; ``tokenize``/``parse_command`` turn a framed command into a
  ``Command``. Which verbs are legal in which state is the table ``COMMANDS`` below; a verb not in
  the row of the current state takes the single "not allowed in this state" path.
  Mailbox changes made by other sessions reach a session through a store listener; they are
  reported at the end of the next command (never EXPUNGE during FETCH/STORE/SEARCH, RFC 3501 §7.4.1)
  or at once while IDLE (the adapter calls ``poll()`` after ``wakeup`` fires).
  A FETCH runs as a job, one message per step. With ``output_budget`` set (the server sets it; the
  default None runs every command to its end inside ``feed``), the job stops once it has queued that
  many bytes: ``pending`` turns true, the adapter writes what it has and calls ``resume()``, so a
  whole-mailbox FETCH streams out instead of being built in memory first; commands pipelined behind
  it wait in the reader and run, in order, once it ends.

Limits (decided here, documented for clients)
  * a command line (the text between literals) may be 64 KiB; longer: ``* BAD [TOOBIG]``, the rest of
    that line is skipped and the session goes on;
  * a literal may be 32 MiB: a larger synchronising literal gets ``NO [TOOBIG]`` without the ``+``
    (the client never sends it); a larger non-synchronising one gets ``BAD [TOOBIG]`` and ``* BYE``,
    because its octets are already on their way;
  * parentheses nest at most 16 deep, a sequence set has at most 1000 ranges;
  * after 3 failed logins from one peer each further failure is answered after a growing delay.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import email
import email.header
import email.policy
import email.utils
import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from simulator.store import (
    DELIMITER,
    INBOX,
    SYSTEM_FLAGS,
    FolderEvent,
    FolderExists,
    FolderNameError,
    MailStore,
    MimePart,
    NoSuchFolder,
    NoSuchMessage,
    ParsedMessage,
    StoreError,
    canonical_flag,
    decode_mutf7,
    encode_mutf7,
    normalize_folder,
    split_params,
    valid_flag,
)

log = logging.getLogger(__name__)

MAX_LINE = 64 * 1024
MAX_LITERAL = 32 * 1024 * 1024
MAX_DEPTH = 16
MAX_SEQ_RANGES = 1000
IDLE_TIMEOUT = 30 * 60  # RFC 3501 §5.4: at least 30 minutes
FLUSH_CHUNK = 256 * 1024  # largest Send that _flush builds by merging replies (one big reply stays whole)
OUTPUT_BUDGET = 256 * 1024  # what the server lets a long FETCH queue before it writes and resumes it

FLAGS_LIST = (*SYSTEM_FLAGS, "$Forwarded")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

CAPS_PREAUTH = ("IMAP4rev1", "SASL-IR", "LITERAL+", "ID", "ENABLE", "IDLE")
CAPS_AUTH_MECHS = ("AUTH=PLAIN", "AUTH=LOGIN")
CAPS_POSTAUTH = ("IMAP4rev1", "SASL-IR", "LITERAL+", "ID", "ENABLE", "IDLE", "NAMESPACE", "UIDPLUS",
                 "UNSELECT", "CHILDREN", "MOVE", "SPECIAL-USE")


# =========================================================================== effects


@dataclass(frozen=True, slots=True)
class Send:
    data: bytes


@dataclass(frozen=True, slots=True)
class Delay:
    """Wait before carrying out the following effects (failed-login throttling)."""

    seconds: float


@dataclass(frozen=True, slots=True)
class StartTls:
    """Begin the TLS handshake now; the session has already dropped every buffered byte (X4)."""


@dataclass(frozen=True, slots=True)
class Close:
    pass


@dataclass(frozen=True, slots=True)
class Publish:
    """An event for the learners' diagram; the adapter adds src/dst and sends it to the bus."""

    kind: str
    status: str
    summary: str
    explain: dict[str, str]
    transcript: tuple[tuple[str, str], ...] = ()
    data: dict[str, Any] = field(default_factory=dict)
    failed_login: bool = False


Effect = Send | Delay | StartTls | Close | Publish


# =========================================================================== tokens and parsing


class ParseError(Exception):
    """Bad syntax: answered with BAD (the tag is known if ``tag`` is set)."""

    def __init__(self, text: str, code: str | None = None) -> None:
        super().__init__(text)
        self.code = code


class Atom(str):
    """An atom as the client wrote it (compare with ``.upper()``). Quoted strings and literals are bytes."""


_ATOM_STOP = set(b' (){"\r\n')


@dataclass(frozen=True, slots=True)
class Literal:
    data: bytes


@dataclass(frozen=True, slots=True)
class Command:
    tag: str
    name: str  # upper case, "UID FETCH" for the UID forms
    args: tuple


@dataclass(frozen=True, slots=True)
class Framed:
    """One complete command as framed: text pieces with the literals between them."""

    pieces: tuple[bytes | Literal, ...]

    @property
    def first_line(self) -> bytes:
        first = self.pieces[0]
        return first if isinstance(first, bytes) else b""


@dataclass(frozen=True, slots=True)
class FrameError:
    """The reader rejected a line or literal; ``close`` means the connection cannot recover."""

    tag: str
    text: str
    code: str | None = None
    close: bool = False


_LITERAL_AT_END = re.compile(rb"\{(\d{1,20})(\+?)\}\r\n$")
_TAG = re.compile(rb"^([!#$&'+,\-./0-9:;<=>?@A-Z\[^_`a-z|}~]+)")


def _tag_of(line: bytes) -> str:
    m = _TAG.match(line)
    return m.group(1).decode("ascii") if m and m.group(1) != b"+" else "*"


class CommandReader:
    """Frames IMAP input: CRLF lines and ``{n}`` / ``{n+}`` literals (RFC 3501 §4.3, RFC 7888).

    ``feed()`` buffers bytes; ``next()`` returns a ``Framed`` command, a ``FrameError``, a ``bytes``
    line in raw mode (SASL responses, IDLE's DONE), or None when more input is needed. ``pending_continuation``
    is set when a synchronising literal was accepted and the client waits for "+".
    """

    def __init__(self, *, max_line: int = MAX_LINE, max_literal: int = MAX_LITERAL) -> None:
        self.max_line, self.max_literal = max_line, max_literal
        self.raw_mode = False
        self._buf = bytearray()
        self._pieces: list[bytes | Literal] = []
        self._need: int | None = None  # literal octets still expected
        self._skipping = False
        self.continuations = 0  # "+" replies owed to the client for accepted sync literals

    def clear(self) -> None:
        """Forget everything buffered (STARTTLS: bytes sent before the handshake are discarded)."""
        self._buf.clear()
        self._pieces.clear()
        self._need = None
        self._skipping = False
        self.continuations = 0

    def feed(self, data: bytes) -> None:
        self._buf += data

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def next(self) -> Framed | FrameError | bytes | None:
        while True:
            if self._need is not None:
                if len(self._buf) < self._need:
                    return None
                lit = bytes(self._buf[: self._need])
                del self._buf[: self._need]
                self._pieces.append(Literal(lit))
                self._need = None
                continue
            idx = self._buf.find(b"\r\n")
            if idx < 0:
                bare = self._buf.find(b"\n")
                if bare >= 0:  # tolerate a bare LF line end (hand-typed nc sessions)
                    self._buf[bare:bare + 1] = b"\r\n"
                    continue
                if len(self._buf) > self.max_line:
                    tag = _tag_of(bytes(self._pieces[0])) if self._pieces else _tag_of(bytes(self._buf[:100]))
                    self._buf.clear()
                    self._pieces.clear()
                    if self._skipping:
                        return None
                    self._skipping = True
                    return FrameError(tag, f"Command line too long (limit {self.max_line} octets)", "TOOBIG")
                return None
            line = bytes(self._buf[: idx + 2])
            del self._buf[: idx + 2]
            if self._skipping:
                self._skipping = False
                continue
            if len(line) > self.max_line + 2:
                tag = _tag_of(line[:100])
                self._pieces.clear()
                return FrameError(tag, f"Command line too long (limit {self.max_line} octets)", "TOOBIG")
            if self.raw_mode and not self._pieces:
                return line[:-2]
            m = _LITERAL_AT_END.search(line)
            if m is None:
                self._pieces.append(line[:-2])
                framed = Framed(tuple(self._pieces))
                self._pieces.clear()
                return framed
            size, nonsync = int(m.group(1)), bool(m.group(2))
            self._pieces.append(line[: m.start()])
            tag = _tag_of(bytes(self._pieces[0]))  # type: ignore[arg-type]
            if size > self.max_literal:
                self._pieces.clear()
                if nonsync:  # RFC 7888 §4: its octets are already coming; we cannot resynchronise
                    self._buf.clear()
                    return FrameError(tag, f"Literal too big (limit {self.max_literal} octets)", "TOOBIG", close=True)
                return FrameError(tag, f"Literal too big (limit {self.max_literal} octets)", "TOOBIG")
            self._need = size
            if not nonsync:
                self.continuations += 1


def tokenize(framed: Framed) -> list[Any]:
    """Flat tokens of a framed command: Atom, bytes (quoted or literal), "(" and ")" markers.

    An atom may carry a bracketed part with spaces and parentheses (``BODY[HEADER.FIELDS (A B)]<0.9>``),
    kept as one token as in RFC 3501 §9 ``fetch-att``.
    """
    out: list[Any] = []
    for piece in framed.pieces:
        if isinstance(piece, Literal):
            out.append(piece.data)
            continue
        _tokenize_text(piece, out)
    return out


_OPEN, _CLOSE = object(), object()


def _tokenize_text(text: bytes, out: list[Any]) -> None:
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == 0x20:
            i += 1
        elif c == 0x28:
            out.append(_OPEN)
            i += 1
        elif c == 0x29:
            out.append(_CLOSE)
            i += 1
        elif c == 0x22:
            i, value = _read_quoted(text, i + 1)
            out.append(value)
        elif c in (0x0D, 0x0A, 0x00):
            raise ParseError("Control character in command")
        else:
            start = i
            while i < n and text[i] not in _ATOM_STOP:
                if text[i] == 0x5B:  # "[" ... "]" may contain spaces and parens
                    close = text.find(b"]", i)
                    if close < 0:
                        raise ParseError("Missing ']' in command")
                    i = close + 1
                    continue
                if text[i] < 0x20 or text[i] == 0x7F:
                    raise ParseError("Control character in command")
                i += 1
            if i == start:
                raise ParseError(f"Unexpected character {chr(c)!r}")
            out.append(Atom(text[start:i].decode("utf-8", "surrogateescape")))


def _read_quoted(text: bytes, i: int) -> tuple[int, bytes]:
    buf = bytearray()
    while i < len(text):
        c = text[i]
        if c == 0x22:
            return i + 1, bytes(buf)
        if c == 0x5C:
            if i + 1 >= len(text) or text[i + 1] not in (0x22, 0x5C):
                raise ParseError("Bad escape in quoted string")
            buf.append(text[i + 1])
            i += 2
            continue
        if c in (0x0D, 0x0A):
            raise ParseError("CR or LF in quoted string")
        buf.append(c)
        i += 1
    raise ParseError("Unterminated quoted string")


def nest(tokens: list[Any], max_depth: int = MAX_DEPTH) -> list[Any]:
    """Turn "(" / ")" markers into nested lists, refusing more than ``max_depth`` levels."""
    stack: list[list[Any]] = [[]]
    for tok in tokens:
        if tok is _OPEN:
            if len(stack) > max_depth:
                raise ParseError(f"Parentheses nested too deeply (limit {max_depth})")
            stack.append([])
        elif tok is _CLOSE:
            if len(stack) == 1:
                raise ParseError("Unbalanced ')'")
            inner = stack.pop()
            stack[-1].append(inner)
        else:
            stack[-1].append(tok)
    if len(stack) != 1:
        raise ParseError("Unbalanced '('")
    return stack[0]


def parse_command(framed: Framed) -> Command:
    """Framed bytes -> Command (tag, verb, arguments). Raises ParseError for BAD."""
    tokens = tokenize(framed)
    if not tokens or not isinstance(tokens[0], Atom):
        raise ParseError("Missing tag")
    tag = str(tokens[0])
    if not _TAG.fullmatch(tag.encode("utf-8", "surrogateescape")) or tag == "+":
        raise ParseError("Invalid tag")
    if len(tokens) < 2 or not isinstance(tokens[1], Atom):
        raise ParseError("Missing command")
    name = tokens[1].upper()
    rest = tokens[2:]
    if name == "UID":
        if not rest or not isinstance(rest[0], Atom):
            raise ParseError("Missing command after UID")
        name = "UID " + rest[0].upper()
        rest = rest[1:]
    return Command(tag, name, tuple(nest(rest)))


# --------------------------------------------------------------------------- argument helpers


def astring(tok: Any) -> str:
    if isinstance(tok, Atom):
        return str(tok)
    if isinstance(tok, bytes):
        return tok.decode("utf-8", "surrogateescape")
    raise ParseError("Expected a string")


def _args(cmd: Command, n: int, at_least: bool = False) -> tuple:
    if len(cmd.args) < n or (not at_least and len(cmd.args) != n):
        raise ParseError(f"{cmd.name} expects {n} argument{'s' if n != 1 else ''}")
    return cmd.args


def mailbox_arg(tok: Any) -> str:
    """A mailbox argument (modified UTF-7 on the wire) -> the store's Unicode name."""
    wire = astring(tok)
    try:
        name = decode_mutf7(wire)
    except ValueError as exc:
        raise StoreError(f"Invalid mailbox name: {exc}") from None
    if name.upper() == INBOX:
        return INBOX
    return normalize_folder(name)


def wire_name(name: str) -> str:
    return encode_mutf7(name)


# --------------------------------------------------------------------------- sequence sets


SeqSet = tuple[tuple[int | None, int | None], ...]  # None stands for "*"
_SEQ_RANGE = re.compile(r"^(\d+|\*)(?::(\d+|\*))?$")


def parse_sequence_set(text: str) -> SeqSet:
    """RFC 3501 §9 sequence-set: "1:3,5,7:*". Raises ParseError on anything else."""
    parts = text.split(",")
    if len(parts) > MAX_SEQ_RANGES:
        raise ParseError("Sequence set too long")
    out = []
    for part in parts:
        m = _SEQ_RANGE.match(part)
        if not m:
            raise ParseError(f"Invalid sequence set {text!r}")
        lo = _seq_number(m.group(1))
        hi = _seq_number(m.group(2)) if m.group(2) else lo
        out.append((lo, hi))
    return tuple(out)


def _seq_number(s: str) -> int | None:
    if s == "*":
        return None
    value = int(s)
    if value < 1 or value > 0xFFFFFFFF or s.startswith("0"):
        raise ParseError(f"Invalid sequence number {s}")
    return value


def format_uid_set(uids: Iterable[int]) -> str:
    """[1,2,3,5] -> "1:3,5" (for COPYUID, in the given order of ranges)."""
    items = list(uids)
    out: list[str] = []
    i = 0
    while i < len(items):
        j = i
        while j + 1 < len(items) and items[j + 1] == items[j] + 1:
            j += 1
        out.append(str(items[i]) if i == j else f"{items[i]}:{items[j]}")
        i = j + 1
    return ",".join(out)


# =========================================================================== rendering helpers


def quote(value: str | bytes) -> bytes:
    """A string as a quoted string when it can be one, else as a literal (RFC 3501 §4.3)."""
    raw = value if isinstance(value, bytes) else value.encode("utf-8", "surrogateescape")
    if len(raw) < 1000 and b"\r" not in raw and b"\n" not in raw and b"\0" not in raw and raw.isascii():
        return b'"' + raw.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
    return b"{%d}\r\n" % len(raw) + raw


def nstring(value: str | bytes | None) -> bytes:
    return b"NIL" if value is None else quote(value)


def literal(data: bytes) -> bytes:
    return b"{%d}\r\n" % len(data) + data


def _fetch_response(seq: int, parts: list[bytes | tuple[bytes, bytes]]) -> bytes:
    """``* seq FETCH (...)`` (RFC 3501 §7.4.2) in one join: a message body is copied once, not per layer.

    A ``(label, data)`` part becomes ``label {len}CRLF data`` (a literal, §4.3).
    """
    pieces = [b"* %d FETCH (" % seq]
    for i, part in enumerate(parts):
        if i:
            pieces.append(b" ")
        if isinstance(part, tuple):
            pieces += (part[0], b"{%d}\r\n" % len(part[1]), part[1])
        else:
            pieces.append(part)
    pieces.append(b")\r\n")
    return b"".join(pieces)


def format_internaldate(ts: float) -> str:
    """RFC 3501 §9 date-time, "dd-Mon-yyyy hh:mm:ss +zzzz" with a space-padded day (UTC)."""
    t = time.gmtime(ts)
    return f"{t.tm_mday:2d}-{MONTHS[t.tm_mon - 1]}-{t.tm_year:04d} {t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"


_DATE_TIME = re.compile(r"^([ \d]?\d)-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)$")
_DATE = re.compile(r"^(\d{1,2})-([A-Za-z]{3})-(\d{4})$")


def parse_date_time(text: str) -> float:
    m = _DATE_TIME.match(text)
    if not m:
        raise ParseError(f"Invalid date-time {text!r}")
    day, mon, year, hh, mm, ss, sign, zh, zm = m.groups()
    month = _month(mon)
    ts = calendar.timegm((int(year), month, int(day.strip()), int(hh), int(mm), int(ss), 0, 0, 0))
    offset = (int(zh) * 3600 + int(zm) * 60) * (1 if sign == "+" else -1)
    return float(ts - offset)


def parse_date(text: str) -> tuple[int, int, int]:
    m = _DATE.match(text)
    if not m:
        raise ParseError(f"Invalid date {text!r}")
    return int(m.group(3)), _month(m.group(2)), int(m.group(1))


def _month(mon: str) -> int:
    try:
        return [m.lower() for m in MONTHS].index(mon.lower()) + 1
    except ValueError:
        raise ParseError(f"Invalid month {mon!r}") from None


# --------------------------------------------------------------------------- addresses (ENVELOPE)


_ADDR_TOKEN = re.compile(r'\s+|"(?:[^"\\]|\\.)*"?|\((?:[^()\\]|\\.)*\)?|\[[^\]]*\]?|[<>,:;@]|[^\s"()<>,:;@\[\]]+')


def _addr_tokens(value: str) -> list[tuple[str, str]]:
    """RFC 5322 address tokens as (kind, text): "q" quoted, "s" special, "a" atom; comments dropped."""
    out = []
    for m in _ADDR_TOKEN.finditer(value):
        t = m.group(0)
        if t.isspace():
            continue
        if t.startswith("("):
            continue
        if t.startswith('"'):
            inner = t[1:-1] if t.endswith('"') and len(t) > 1 else t[1:]
            out.append(("q", re.sub(r"\\(.)", r"\1", inner)))
        elif t in "<>,:;@" and len(t) == 1:
            out.append(("s", t))
        else:
            out.append(("a", t))
    return out


def parse_address_list(value: str) -> list[tuple]:
    """Address list -> items: ("addr", name, adl, mailbox, host) | ("group", name) | ("end",)."""
    toks = _addr_tokens(value)
    items: list[tuple] = []
    i = 0
    in_group = False
    while i < len(toks):
        phrase: list[tuple[str, str]] = []
        while i < len(toks) and not (toks[i][0] == "s" and toks[i][1] in "<:,;"):
            phrase.append(toks[i])
            i += 1
        sep = toks[i][1] if i < len(toks) else ""
        if sep == "<":
            j = i + 1
            inner: list[tuple[str, str]] = []
            while j < len(toks) and toks[j] != ("s", ">"):
                inner.append(toks[j])
                j += 1
            items.append(_angle_addr(_phrase(phrase), inner))
            i = j + 1
            while i < len(toks) and toks[i] != ("s", ",") and toks[i] != ("s", ";"):
                i += 1  # junk after ">"
            continue
        if sep == ":" and not in_group:
            items.append(("group", _phrase(phrase)))
            in_group = True
            i += 1
            continue
        if phrase:
            items.append(_addr_spec(None, None, phrase))
        if sep == ";" and in_group:
            items.append(("end",))
            in_group = False
        i += 1
    if in_group:
        items.append(("end",))
    return items


def _phrase(tokens: list[tuple[str, str]]) -> str | None:
    words = [t for _, t in tokens if t != "@"]
    return " ".join(words) if words else None


def _angle_addr(name: str | None, inner: list[tuple[str, str]]) -> tuple:
    adl = None
    if inner and inner[0] == ("s", "@"):  # obsolete source route "<@a,@b:user@host>"
        colon = next((k for k, t in enumerate(inner) if t == ("s", ":")), None)
        if colon is not None:
            adl = "".join(t for _, t in inner[:colon])
            inner = inner[colon + 1 :]
    return _addr_spec(name, adl, inner)


def _addr_spec(name: str | None, adl: str | None, tokens: list[tuple[str, str]]) -> tuple:
    text_parts = [('"%s"' % t if k == "q" and not re.fullmatch(r"[\w.!#$%&'*+/=?^`{|}~-]+", t) else t)
                  for k, t in tokens]
    text = "".join(text_parts)
    mailbox, at, host = text.rpartition("@")
    if not at:
        mailbox, host = text, ""
    return ("addr", name, adl, mailbox, host)


def render_address_list(value: str | None) -> bytes:
    if value is None:
        return b"NIL"
    items = parse_address_list(value)
    if not items:
        return b"NIL"
    out = []
    for item in items:
        if item[0] == "addr":
            _, name, adl, mailbox, host = item
            out.append(b"(" + b" ".join((nstring(name), nstring(adl), nstring(mailbox), nstring(host))) + b")")
        elif item[0] == "group":  # RFC 3501 §7.4.2: group start is (NIL NIL "name" NIL)
            out.append(b"(NIL NIL " + nstring(item[1] or "") + b" NIL)")
        else:
            out.append(b"(NIL NIL NIL NIL)")
    return b"(" + b"".join(out) + b")"


def render_envelope(headers: dict[str, str]) -> bytes:
    """ENVELOPE (RFC 3501 §7.4.2): date, subject, from, sender, reply-to, to, cc, bcc, in-reply-to, message-id.

    Sender and Reply-To default to From when absent or empty.
    """
    def h(name: str) -> str | None:
        return headers.get(name)

    frm = render_address_list(h("from"))
    sender = render_address_list(h("sender")) if h("sender") else frm
    reply_to = render_address_list(h("reply-to")) if h("reply-to") else frm
    if sender == b"NIL":
        sender = frm
    if reply_to == b"NIL":
        reply_to = frm
    fields = [nstring(h("date")), nstring(h("subject")), frm, sender, reply_to,
              render_address_list(h("to")), render_address_list(h("cc")), render_address_list(h("bcc")),
              nstring(h("in-reply-to")), nstring(h("message-id"))]
    return b"(" + b" ".join(fields) + b")"


# --------------------------------------------------------------------------- BODYSTRUCTURE


def _params(params: list[tuple[str, str]]) -> bytes:
    if not params:
        return b"NIL"
    return b"(" + b" ".join(quote(k.upper()) + b" " + quote(v) for k, v in params) + b")"


def _disposition(part: MimePart) -> bytes:
    value = part.headers.get("content-disposition")
    if not value:
        return b"NIL"
    kind, params = split_params(value)
    if not kind:
        return b"NIL"
    return b"(" + quote(kind.upper()) + b" " + _params(params) + b")"


def _language(part: MimePart) -> bytes:
    value = part.headers.get("content-language")
    if not value:
        return b"NIL"
    langs = [x.strip() for x in value.split(",") if x.strip()]
    if len(langs) == 1:
        return quote(langs[0])
    return b"(" + b" ".join(quote(x) for x in langs) + b")" if langs else b"NIL"


def render_body(part: MimePart, *, extended: bool) -> bytes:
    """BODY / BODYSTRUCTURE of one MIME part (RFC 3501 §7.4.2, the formal syntax of §9)."""
    if part.is_multipart:
        children = b"".join(render_body(p, extended=extended) for p in part.parts)
        out = b"(" + children + b" " + quote(part.subtype.upper())
        if extended:  # body-ext-mpart: params, disposition, language, location
            out += b" " + b" ".join((_params(part.params), _disposition(part), _language(part),
                                     nstring(part.headers.get("content-location"))))
        return out + b")"
    params = list(part.params)
    if part.maintype == "text" and not any(k.lower() == "charset" for k, _ in params):
        params.append(("charset", "us-ascii"))  # RFC 2045 §5.2 default
    enc = (part.headers.get("content-transfer-encoding") or "7BIT").strip().upper() or "7BIT"
    fields = [quote(part.maintype.upper()), quote(part.subtype.upper()), _params(params),
              nstring(part.headers.get("content-id")), nstring(part.headers.get("content-description")),
              quote(enc), str(part.end - part.body_start).encode()]
    if part.is_message and part.message is not None:
        fields += [render_envelope(part.message.headers), render_body(part.message, extended=extended),
                   str(part.lines).encode()]
    elif part.maintype == "text":
        fields.append(str(part.lines).encode())
    if extended:  # body-ext-1part: md5, disposition, language, location
        fields += [nstring(part.headers.get("content-md5")), _disposition(part), _language(part),
                   nstring(part.headers.get("content-location"))]
    return b"(" + b" ".join(fields) + b")"


def find_part(root: MimePart, numbers: Sequence[int]) -> MimePart | None:
    """Section part numbers -> MIME part (RFC 3501 §6.4.5: "1.2" is the 2nd part of the 1st part;
    the parts of a message/rfc822 part are the parts of the message it encloses)."""
    node = root
    for i, n in enumerate(numbers):
        if i > 0 and node.is_message and node.message is not None:
            node = node.message
        if node.is_multipart:
            if not 1 <= n <= len(node.parts):
                return None
            node = node.parts[n - 1]
        elif n != 1:
            return None
    return node


def header_fields(block: bytes) -> list[tuple[str, bytes]]:
    """Split a header block (with its CRLFs) into (lower-case name, raw field bytes incl. CRLF)."""
    fields: list[tuple[str, bytes]] = []
    for line in block.split(b"\r\n")[:-1]:
        if not line:
            break
        if line[:1] in (b" ", b"\t") and fields:
            name, raw = fields[-1]
            fields[-1] = (name, raw + line + b"\r\n")
        else:
            name = line.split(b":", 1)[0].strip().decode("ascii", "replace").lower()
            fields.append((name, line + b"\r\n"))
    return fields


# =========================================================================== FETCH attributes


@dataclass(frozen=True, slots=True)
class FetchAtt:
    """One fetch-att (RFC 3501 §6.4.5). ``section`` is the canonical section text for BODY[...]."""

    name: str  # "FLAGS", "BODY[]", "ENVELOPE" ...
    section: str | None = None  # for BODY[...]: "", "1.2", "HEADER", "1.MIME", "HEADER.FIELDS (A B)"
    peek: bool = False
    partial: tuple[int, int] | None = None
    parts: tuple[int, ...] = ()
    specifier: str = ""  # HEADER, HEADER.FIELDS, HEADER.FIELDS.NOT, TEXT, MIME or ""
    fields: tuple[str, ...] = ()


_MACROS = {
    "ALL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"),
    "FAST": ("FLAGS", "INTERNALDATE", "RFC822.SIZE"),
    "FULL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"),
}
_SIMPLE_ATTS = {"ENVELOPE", "FLAGS", "INTERNALDATE", "RFC822", "RFC822.HEADER", "RFC822.SIZE", "RFC822.TEXT",
                "BODY", "BODYSTRUCTURE", "UID"}
_BODY_ATT = re.compile(r"^(BODY|BODY\.PEEK)\[([^\]]*)\](?:<(\d+)\.(\d+)>)?$", re.IGNORECASE)
_SECTION = re.compile(r"^((?:[1-9]\d*)(?:\.[1-9]\d*)*)?(?:(?:^|\.)(HEADER\.FIELDS\.NOT|HEADER\.FIELDS|HEADER|TEXT|MIME)"
                      r"(?:\s*\(([^()]*)\))?)?$", re.IGNORECASE)


def parse_fetch_atts(arg: Any) -> list[FetchAtt]:
    items = arg if isinstance(arg, list) else [arg]
    if not items:
        raise ParseError("Empty fetch attribute list")
    out: list[FetchAtt] = []
    for item in items:
        if not isinstance(item, Atom):
            raise ParseError("Invalid fetch attribute")
        upper = item.upper()
        if upper in _MACROS and not isinstance(arg, list):
            out.extend(FetchAtt(a) for a in _MACROS[upper])
        elif upper in _SIMPLE_ATTS:
            out.append(FetchAtt(upper))
        else:
            out.append(_parse_body_att(str(item)))
    return out


def _parse_body_att(text: str) -> FetchAtt:
    m = _BODY_ATT.match(text)
    if not m:
        raise ParseError(f"Unknown fetch attribute {text[:40]!r}")
    peek = m.group(1).upper() == "BODY.PEEK"
    section_text = m.group(2).strip()
    partial = None
    if m.group(3) is not None:
        origin, count = int(m.group(3)), int(m.group(4))
        partial = (origin, count)
    sm = _SECTION.match(section_text)
    if not sm:
        raise ParseError(f"Invalid section {section_text[:40]!r}")
    nums_text, spec, field_text = sm.group(1), (sm.group(2) or "").upper(), sm.group(3)
    parts = tuple(int(x) for x in nums_text.split(".")) if nums_text else ()
    if spec == "MIME" and not parts:
        raise ParseError("MIME needs a part number")
    fields: tuple[str, ...] = ()
    if spec.startswith("HEADER.FIELDS"):
        if field_text is None:
            raise ParseError("HEADER.FIELDS needs a list of field names")
        names = re.findall(r'"((?:[^"\\]|\\.)*)"|([^\s"]+)', field_text)
        fields = tuple((q or a).upper() for q, a in names)
        if not fields:
            raise ParseError("HEADER.FIELDS needs at least one field name")
    elif field_text is not None:
        raise ParseError("Unexpected list in section")
    canon = ".".join(str(p) for p in parts)
    if spec:
        canon = f"{canon}.{spec}" if canon else spec
        if fields:
            canon += " (" + " ".join(fields) + ")"
    return FetchAtt("BODY[]", canon, peek, partial, parts, spec, fields)


# =========================================================================== SEARCH


class _SearchCtx:
    """Lazily loaded message data for evaluating search keys on one message."""

    def __init__(self, session: ImapSession, seq: int, uid: int) -> None:
        self.session, self.seq, self.uid = session, seq, uid
        self._info = None
        self._raw: bytes | None = None
        self._msg = None

    @property
    def info(self):
        if self._info is None:
            self._info = self.session._store.message_info(self.session._address, self.session._folder, self.uid)
        return self._info

    @property
    def flags(self) -> frozenset[str]:
        return self.session._view_flags.get(self.uid, frozenset())

    @property
    def raw(self) -> bytes:
        if self._raw is None:
            self._raw = self.session._store.read_message(self.session._address, self.session._folder, self.uid)
        return self._raw

    @property
    def msg(self) -> email.message.Message:
        if self._msg is None:
            self._msg = email.message_from_bytes(self.raw, policy=email.policy.compat32)
        return self._msg

    def header_values(self, name: str) -> list[str]:
        values = self.msg.get_all(name) or []
        return [_decode_header(str(v)) for v in values]

    def body_text(self) -> str:
        texts = []
        for part in self.msg.walk():
            if part.get_content_maintype() == "multipart":
                continue
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                charset = part.get_content_charset() or "utf-8"
                try:
                    texts.append(payload.decode(charset, "replace"))
                except LookupError:
                    texts.append(payload.decode("utf-8", "replace"))
        return "\n".join(texts)


def _decode_header(value: str) -> str:
    try:
        return str(email.header.make_header(email.header.decode_header(value)))
    except (ValueError, LookupError, UnicodeError, email.errors.HeaderParseError):
        return value


def _contains(haystack: str, needle: str) -> bool:
    return needle.casefold() in haystack.casefold()


Predicate = Callable[[_SearchCtx], bool]


class SearchParser:
    """SEARCH keys (RFC 3501 §6.4.4) -> a predicate. Strings are compared case-insensitively."""

    def __init__(self, session: ImapSession, args: Sequence[Any], charset: str) -> None:
        self.session, self.args, self.pos, self.charset = session, list(args), 0, charset

    def parse_all(self) -> Predicate:
        preds = []
        while self.pos < len(self.args):
            preds.append(self.key())
        if not preds:
            raise ParseError("Missing search criteria")
        return lambda ctx: all(p(ctx) for p in preds)

    def _next(self) -> Any:
        if self.pos >= len(self.args):
            raise ParseError("Missing search argument")
        tok = self.args[self.pos]
        self.pos += 1
        return tok

    def _string(self) -> str:
        tok = self._next()
        if isinstance(tok, list):
            raise ParseError("Expected a string")
        raw = tok.encode("utf-8", "surrogateescape") if isinstance(tok, Atom) else tok
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ParseError("Search string is not valid UTF-8") from None

    def _number(self) -> int:
        tok = self._next()
        if not isinstance(tok, Atom) or not tok.isdigit():
            raise ParseError("Expected a number")
        return int(tok)

    def _date(self) -> tuple[int, int, int]:
        return parse_date(astring(self._next()))

    def key(self) -> Predicate:
        tok = self._next()
        if isinstance(tok, list):
            sub = SearchParser(self.session, tok, self.charset)
            return sub.parse_all()
        if not isinstance(tok, Atom):
            raise ParseError("Expected a search key")
        k = tok.upper()
        flag_keys = {
            "ANSWERED": ("\\Answered", True), "UNANSWERED": ("\\Answered", False),
            "DELETED": ("\\Deleted", True), "UNDELETED": ("\\Deleted", False),
            "DRAFT": ("\\Draft", True), "UNDRAFT": ("\\Draft", False),
            "FLAGGED": ("\\Flagged", True), "UNFLAGGED": ("\\Flagged", False),
            "SEEN": ("\\Seen", True), "UNSEEN": ("\\Seen", False),
        }
        if k in flag_keys:
            flag, present = flag_keys[k]
            return lambda ctx: (flag in ctx.flags) == present
        recent = self.session._recent
        if k == "ALL":
            return lambda ctx: True
        if k == "RECENT":
            return lambda ctx: ctx.uid in recent
        if k == "OLD":
            return lambda ctx: ctx.uid not in recent
        if k == "NEW":
            return lambda ctx: ctx.uid in recent and "\\Seen" not in ctx.flags
        if k in ("KEYWORD", "UNKEYWORD"):
            kw = canonical_flag(astring(self._next()))
            want = k == "KEYWORD"
            return lambda ctx: (kw in ctx.flags) == want
        if k == "NOT":
            inner = self.key()
            return lambda ctx: not inner(ctx)
        if k == "OR":
            a, b = self.key(), self.key()
            return lambda ctx: a(ctx) or b(ctx)
        if k in ("LARGER", "SMALLER"):
            n = self._number()
            return (lambda ctx: ctx.info.size > n) if k == "LARGER" else (lambda ctx: ctx.info.size < n)
        if k in ("BEFORE", "ON", "SINCE"):
            return _date_pred(k, self._date(), lambda ctx: time.gmtime(ctx.info.internaldate)[:3])
        if k in ("SENTBEFORE", "SENTON", "SENTSINCE"):
            return _date_pred(k[4:], self._date(), _sent_date)
        if k in ("FROM", "TO", "CC", "BCC", "SUBJECT"):
            needle = self._string()
            name = k.lower()
            return lambda ctx: any(_contains(v, needle) for v in ctx.header_values(name))
        if k == "HEADER":
            name, needle = self._string(), self._string()
            return lambda ctx: any(_contains(v, needle) for v in ctx.header_values(name))
        if k == "BODY":
            needle = self._string()
            return lambda ctx: _contains(ctx.body_text(), needle)
        if k == "TEXT":
            needle = self._string()
            return lambda ctx: (any(_contains(_decode_header(v), needle) for v in map(str, ctx.msg.values()))
                                or _contains(ctx.body_text(), needle)
                                or _contains(ctx.raw.decode("utf-8", "replace"), needle))
        if k == "UID":
            uids = set(self.session._resolve_uids(parse_sequence_set(astring(self._next()))))
            return lambda ctx: ctx.uid in uids
        if re.match(r"^[\d*]", k):
            seqs = set(self.session._resolve_seqs(parse_sequence_set(str(tok)), strict=False))
            return lambda ctx: ctx.seq in seqs
        raise ParseError(f"Unknown search key {str(tok)[:30]}")


def _sent_date(ctx: _SearchCtx) -> tuple[int, int, int] | None:
    value = ctx.msg.get("Date")
    if not value:
        return None
    try:
        dt = email.utils.parsedate_to_datetime(str(value))
    except (TypeError, ValueError, IndexError):
        return None
    return (dt.year, dt.month, dt.day)


def _date_pred(kind: str, day: tuple[int, int, int], getter: Callable[[_SearchCtx], Any]) -> Predicate:
    def pred(ctx: _SearchCtx) -> bool:
        got = getter(ctx)
        if got is None:
            return False
        if kind == "BEFORE":
            return tuple(got) < day
        if kind == "ON":
            return tuple(got) == day
        return tuple(got) >= day  # SINCE

    return pred


# =========================================================================== login throttling


class LoginThrottle:
    """Per-peer failed-login counter shared by all sessions of a server.

    The first ``free`` failures are answered at once; each further one waits ``base * 2**k``
    seconds (capped). A success, or ``forget_after`` seconds of quiet, resets the count.
    """

    def __init__(self, *, clock: Callable[[], float] = time.time, free: int = 3, base: float = 1.0,
                 cap: float = 16.0, forget_after: float = 300.0) -> None:
        self._clock, self.free, self.base, self.cap, self.forget_after = clock, free, base, cap, forget_after
        self._failures: dict[str, tuple[int, float]] = {}

    def failed(self, peer: str) -> float:
        """Record a failure; return how long to wait before answering it."""
        count, last = self._failures.get(peer, (0, 0.0))
        now = self._clock()
        if now - last > self.forget_after:
            count = 0
        count += 1
        self._failures[peer] = (count, now)
        if count <= self.free:
            return 0.0
        return min(self.cap, self.base * 2 ** (count - self.free - 1))

    def succeeded(self, peer: str) -> None:
        self._failures.pop(peer, None)


# =========================================================================== the session


class State(Enum):
    NOT_AUTHENTICATED = "not authenticated"
    AUTHENTICATED = "authenticated"
    SELECTED = "selected"
    LOGOUT = "logout"


_ANY = {"CAPABILITY": "_cmd_capability", "NOOP": "_cmd_noop", "LOGOUT": "_cmd_logout", "ID": "_cmd_id"}
_AUTHED = {
    **_ANY,
    "SELECT": "_cmd_select", "EXAMINE": "_cmd_select", "CREATE": "_cmd_create", "DELETE": "_cmd_delete",
    "RENAME": "_cmd_rename", "SUBSCRIBE": "_cmd_subscribe", "UNSUBSCRIBE": "_cmd_unsubscribe",
    "LIST": "_cmd_list", "LSUB": "_cmd_lsub", "STATUS": "_cmd_status", "APPEND": "_cmd_append",
    "NAMESPACE": "_cmd_namespace", "IDLE": "_cmd_idle",
}

# Which verbs are legal in which state (RFC 3501 §3, §6). Anything else: "not allowed in this state".
COMMANDS: dict[State, dict[str, str]] = {
    State.NOT_AUTHENTICATED: {
        **_ANY, "STARTTLS": "_cmd_starttls", "AUTHENTICATE": "_cmd_authenticate", "LOGIN": "_cmd_login",
    },
    State.AUTHENTICATED: {**_AUTHED, "ENABLE": "_cmd_enable"},
    State.SELECTED: {
        **_AUTHED,
        "CHECK": "_cmd_check", "CLOSE": "_cmd_close", "UNSELECT": "_cmd_unselect", "EXPUNGE": "_cmd_expunge",
        "SEARCH": "_cmd_search", "FETCH": "_cmd_fetch", "STORE": "_cmd_store", "COPY": "_cmd_copy",
        "MOVE": "_cmd_move", "UID FETCH": "_cmd_fetch", "UID STORE": "_cmd_store", "UID COPY": "_cmd_copy",
        "UID MOVE": "_cmd_move", "UID SEARCH": "_cmd_search", "UID EXPUNGE": "_cmd_expunge",
    },
    State.LOGOUT: {},
}
_KNOWN_VERBS = {v for row in COMMANDS.values() for v in row}
# RFC 3501 §7.4.1: no EXPUNGE responses while answering these (the UID forms may send them).
_NO_EXPUNGE_DURING = {"FETCH", "STORE", "SEARCH"}


class ImapSession:
    """One IMAP connection, without I/O. Feed it bytes, carry out the effects it returns."""

    def __init__(
        self,
        store: MailStore,
        authenticate: Callable[[str, str], Any],
        *,
        peer: str = "127.0.0.1",
        tls_available: bool = False,
        tls_active: bool = False,
        default_domain: str | None = None,
        server_name: str = "mailflow",
        throttle: LoginThrottle | None = None,
        wakeup: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.time,
        output_budget: int | None = None,
    ) -> None:
        self._store = store
        self._authenticate = authenticate
        self.peer = peer
        self.tls_available, self.tls_active = tls_available, tls_active
        self.default_domain = default_domain
        self.server_name = server_name
        self._throttle = throttle or LoginThrottle(clock=clock)
        self._wakeup = wakeup
        self._clock = clock
        self.state = State.NOT_AUTHENTICATED
        self.reader = CommandReader()
        self.account: Any = None
        self._address = ""
        self._subscription = None
        self._out: list[Effect] = []
        self._transcript: list[tuple[str, str]] = []
        # SASL continuation (AUTHENTICATE without an initial response)
        self._sasl: tuple[str, str, list[str]] | None = None  # (tag, mechanism, collected)
        self._idle_tag: str | None = None
        # selected mailbox view
        self._folder = ""
        self._readonly = False
        self._view: list[int] = []  # sequence number - 1 -> UID
        self._view_flags: dict[int, frozenset[str]] = {}
        self._recent: set[int] = set()
        self._version = -1
        self._dirty = False
        self._gone: str | None = None
        self._keywords: frozenset[str] = frozenset()
        # A long FETCH runs as a job that pauses after ``output_budget`` queued bytes (None: never),
        # so the adapter can write while it goes. ``_queued`` counts every byte ever queued.
        self.output_budget = output_budget
        self._job: tuple[str, Iterator[None]] | None = None
        self._queued = 0

    # ----------------------------------------------------------------- public API

    def greeting(self) -> list[Effect]:
        """RFC 3501 §7.1.1: untagged OK with the capability list (saves clients a round trip)."""
        caps = " ".join(self.capabilities())
        self._untagged(f"OK [CAPABILITY {caps}] {self.server_name} IMAP4rev1 ready (Mailflow sandbox)")
        return self._flush()

    def capabilities(self) -> list[str]:
        """RFC 3501 §6.1.1 with the extensions of PROTOCOLS.md §5.2; STARTTLS only while it is possible."""
        if self.state is State.NOT_AUTHENTICATED:
            caps = list(CAPS_PREAUTH)
            if self.tls_available and not self.tls_active:
                caps.append("STARTTLS")
            return caps + list(CAPS_AUTH_MECHS)
        return list(CAPS_POSTAUTH)

    @property
    def idling(self) -> bool:
        return self._idle_tag is not None

    @property
    def closed(self) -> bool:
        return self.state is State.LOGOUT

    def feed(self, data: bytes) -> list[Effect]:
        """Bytes from the client -> effects, processing every complete command (pipelining, X6)."""
        if self.state is State.LOGOUT:
            return []
        self.reader.feed(data)
        self._process()
        return self._flush()

    @property
    def pending(self) -> bool:
        """A FETCH stopped after ``output_budget`` bytes: write its output, then call ``resume()``.

        Commands that arrive meanwhile wait in the reader (pipelining keeps its order).
        """
        return self._job is not None and self.state is not State.LOGOUT

    def resume(self) -> list[Effect]:
        """Continue the paused command, then any complete commands buffered behind it."""
        if self._job is not None:
            self._run_job()
        self._process()
        return self._flush()

    def _process(self) -> None:
        while self.state is not State.LOGOUT and self._job is None:
            item = self.reader.next()
            if self.reader.continuations:
                self.reader.continuations = 0
                self._send(b"+ Ready for literal data\r\n")  # RFC 3501 §7.5
            if item is None:
                break
            if isinstance(item, bytes):
                self._raw_line(item)
            elif isinstance(item, FrameError):
                self._frame_error(item)
            else:
                self._framed(item)
            if any(isinstance(e, (StartTls, Close)) for e in self._out):
                break

    def _run_job(self) -> None:
        """Advance the paused command until it ends or has queued ``output_budget`` more bytes."""
        assert self._job is not None
        tag, job = self._job
        start = self._queued
        try:
            for _ in job:
                if self.output_budget is not None and self._queued - start >= self.output_budget:
                    return
        except (ParseError, StoreError) as exc:
            self._job = None
            self._command_failed(tag, exc)
            return
        self._job = None

    def poll(self) -> list[Effect]:
        """Push pending mailbox updates now (called by the adapter after ``wakeup`` while IDLE)."""
        if self.idling and self.state is State.SELECTED:
            lines = self._updates(allow_expunge=True)
            if lines:
                self._publish("imap.idle", "ok", f"IDLE push: {' / '.join(lines)}",
                              en="The client is waiting in IDLE; the server pushes the change at once "
                                 "(RFC 2177) instead of the client polling. That is how new mail appears "
                                 "in Thunderbird within a second.",
                              ru="Клиент ждёт в режиме IDLE; сервер сразу сообщает об изменении (RFC 2177), "
                                 "клиенту не нужно опрашивать. Так новое письмо появляется в Thunderbird "
                                 "почти мгновенно.")
        if self.state is State.SELECTED and self._gone:
            self._bye_gone()
        return self._flush()

    def timeout(self) -> list[Effect]:
        """The adapter saw no input for IDLE_TIMEOUT seconds (RFC 3501 §5.4)."""
        self._untagged("BYE Autologout; idle for too long")
        self._logout_state()
        self._out.append(Close())
        return self._flush()

    def tls_started(self) -> None:
        """The adapter finished the STARTTLS handshake."""
        self.tls_active = True

    def connection_lost(self) -> None:
        self._logout_state()

    # ----------------------------------------------------------------- output

    def _send(self, data: bytes) -> None:
        self._out.append(Send(data))
        self._queued += len(data)
        self._record("S", data)

    def _untagged(self, text: str) -> None:
        self._send(b"* " + text.encode("utf-8", "surrogateescape") + b"\r\n")

    def _tagged(self, tag: str, status: str, text: str) -> None:
        self._send(f"{tag} {status} {text}\r\n".encode("utf-8", "surrogateescape"))

    def _flush(self) -> list[Effect]:
        # Merge consecutive Sends so the adapter writes one buffer per batch, but no bigger than
        # FLUSH_CHUNK: a FETCH of a whole large mailbox must not become one buffer of hundreds of MB
        # (joined, then copied again by the transport) before its first byte leaves.
        out: list[Effect] = []
        chunks: list[bytes] = []
        pending = 0
        for e in self._out:
            if isinstance(e, Send):
                if chunks and pending + len(e.data) > FLUSH_CHUNK:
                    out.append(Send(b"".join(chunks)))
                    chunks, pending = [], 0
                chunks.append(e.data)
                pending += len(e.data)
                continue
            if chunks:
                out.append(Send(b"".join(chunks)))
                chunks, pending = [], 0
            out.append(e)
        if chunks:
            out.append(Send(b"".join(chunks)))
        self._out = []
        return out

    def _record(self, who: str, data: bytes) -> None:
        if len(self._transcript) > 60:
            return
        lines = data.split(b"\r\n")
        if lines and lines[-1] == b"":
            lines.pop()
        if len(lines) > 20:
            cut = len(lines) - 20
            lines = lines[:20] + [f"… ({cut} more lines not shown)".encode()]
        for line in lines:
            self._transcript.append((who, line[:300].decode("utf-8", "replace")))

    def _publish(self, kind: str, status: str, summary: str, *, en: str, ru: str,
                 data: dict[str, Any] | None = None, failed_login: bool = False) -> None:
        self._out.append(Publish(kind, status, summary, {"en": en, "ru": ru}, tuple(self._transcript),
                                 dict(data or {}, folder=self._folder or None), failed_login))

    # ----------------------------------------------------------------- command dispatch

    def _framed(self, framed: Framed) -> None:
        self._transcript = []
        # Classroom mode: a LOGIN password is shown in the transcript on purpose (X2).
        self._record("C", framed.first_line)
        if not framed.first_line.strip() and len(framed.pieces) == 1:
            return  # an empty line is ignored
        try:
            cmd = parse_command(framed)
        except ParseError as exc:
            self._bad(_tag_of(framed.first_line), str(exc))
            return
        row = COMMANDS[self.state]
        handler = row.get(cmd.name)
        if handler is None:
            if cmd.name in _KNOWN_VERBS:
                self._tagged(cmd.tag, "BAD", f"{cmd.name} is not allowed in the {self.state.value} state")
            else:
                self._tagged(cmd.tag, "BAD", f"Unknown command {cmd.name[:30]}")
            return
        try:
            getattr(self, handler)(cmd)
        except (ParseError, StoreError) as exc:
            self._command_failed(cmd.tag, exc)

    def _command_failed(self, tag: str, exc: ParseError | StoreError) -> None:
        if isinstance(exc, ParseError):
            self._bad(tag, str(exc))
        elif isinstance(exc, FolderNameError):
            self._tagged(tag, "NO", f"[CANNOT] {exc}")
        elif isinstance(exc, NoSuchFolder):
            self._tagged(tag, "NO", f"[NONEXISTENT] {exc}")
        elif isinstance(exc, FolderExists):
            self._tagged(tag, "NO", f"[ALREADYEXISTS] {exc}")
        else:
            self._tagged(tag, "NO", str(exc))

    def _bad(self, tag: str, text: str) -> None:
        if self.state is State.SELECTED:
            self._send_updates(allow_expunge=False)
        if self.state is not State.LOGOUT:
            self._tagged(tag, "BAD", text)

    def _frame_error(self, err: FrameError) -> None:
        code = f"[{err.code}] " if err.code else ""
        if err.close:
            self._tagged(err.tag, "BAD", code + err.text)
            self._untagged("BYE Too much data; closing the connection")
            self._logout_state()
            self._out.append(Close())
        elif err.text.startswith("Literal"):
            self._tagged(err.tag, "NO", code + err.text)  # sync literal refused before "+" (RFC 7888 §4)
        elif err.tag != "*":
            self._tagged(err.tag, "BAD", code + err.text)
        else:
            self._untagged(f"BAD {code}{err.text}")

    def _raw_line(self, line: bytes) -> None:
        """A line that is not a command: a SASL response or IDLE's DONE."""
        self._record("C", line)
        if self._sasl is not None:
            self._sasl_step(line)
        elif self._idle_tag is not None:
            self._idle_done(line)
        else:  # raw mode left on by mistake: treat the line as a command
            self.reader.raw_mode = False
            self._framed(Framed((line,)))

    def _finish(self, cmd: Command, text: str, *, code: str = "") -> None:
        """Send pending updates (RFC 3501 §7), then the tagged OK."""
        if self.state is State.SELECTED:
            self._send_updates(allow_expunge=cmd.name not in _NO_EXPUNGE_DURING)
        if self.state is State.LOGOUT:
            return  # the selected mailbox vanished: BYE was sent instead
        self._tagged(cmd.tag, "OK", (f"[{code}] " if code else "") + text)

    # ----------------------------------------------------------------- any state

    def _cmd_capability(self, cmd: Command) -> None:
        _args(cmd, 0)
        self._untagged("CAPABILITY " + " ".join(self.capabilities()))  # RFC 3501 §6.1.1
        self._finish(cmd, "CAPABILITY completed")

    def _cmd_noop(self, cmd: Command) -> None:
        _args(cmd, 0)
        self._rescan()  # RFC 3501 §6.1.2: a chance to learn about new mail
        self._finish(cmd, "NOOP completed")

    def _cmd_logout(self, cmd: Command) -> None:
        _args(cmd, 0)
        self._untagged("BYE Logging out")  # RFC 3501 §6.1.3
        self._tagged(cmd.tag, "OK", "LOGOUT completed")
        if self._address:
            self._publish("imap.logout", "ok", f"{self._address} logs out",
                          en="The client ends the IMAP session. The messages stay on the server: "
                             "IMAP keeps mail on the server, unlike POP3's download-and-delete.",
                          ru="Клиент завершает сеанс IMAP. Письма остаются на сервере: IMAP хранит "
                             "почту на сервере, в отличие от POP3 с его «скачать и удалить».")
        self._logout_state()
        self._out.append(Close())

    def _cmd_id(self, cmd: Command) -> None:
        """RFC 2971: the client may tell who it is; we answer with our name."""
        args = _args(cmd, 1)
        arg = args[0]
        if isinstance(arg, list):
            if len(arg) % 2 or len(arg) > 60:
                raise ParseError("ID expects NIL or a list of field/value pairs")
            for tok in arg:
                if isinstance(tok, list):
                    raise ParseError("ID fields are strings")
        elif not (isinstance(arg, Atom) and arg.upper() == "NIL"):
            raise ParseError("ID expects NIL or a list")
        self._untagged('ID ("name" "Mailflow" "vendor" "Mailflow sandbox" "version" "1.0")')
        self._finish(cmd, "ID completed")

    # ----------------------------------------------------------------- not authenticated

    def _cmd_starttls(self, cmd: Command) -> None:
        _args(cmd, 0)
        if not self.tls_available or self.tls_active:
            self._tagged(cmd.tag, "BAD", "STARTTLS is not available" if not self.tls_active else "TLS is already active")
            return
        self._tagged(cmd.tag, "OK", "Begin TLS negotiation now")  # RFC 3501 §6.2.1
        self.reader.clear()  # X4: nothing sent before the handshake may be acted upon
        self._out.append(StartTls())

    def _login_name(self, login: str) -> str:
        if "@" not in login and self.default_domain:
            return f"{login}@{self.default_domain}"
        return login

    def _try_login(self, tag: str, login: str, password: str, how: str) -> None:
        account = None
        login = self._login_name(login)
        try:
            account = self._authenticate(login, password) if login and len(login) < 256 else None
        except Exception:  # a broken authenticator is a bug, but must not look like a success
            log.exception("authenticate() failed")
        if account is None:
            delay = self._throttle.failed(self.peer)
            if delay:
                self._out.append(Delay(delay))
            self._tagged(tag, "NO", "[AUTHENTICATIONFAILED] Invalid credentials")  # RFC 5530
            self._publish("imap.login", "failed", f"IMAP {how} failed for {login!r}",
                          en="The server refused the login: unknown user or wrong password (it does not "
                             "say which, so attackers cannot probe for user names). After 3 failures "
                             "from the same address each answer is delayed a little longer.",
                          ru="Сервер отклонил вход: неизвестный пользователь или неверный пароль (сервер "
                             "не говорит, что именно, чтобы нельзя было подбирать имена). После 3 ошибок "
                             "с одного адреса каждый следующий ответ приходит всё позже.",
                          data={"login": login, "peer": self.peer, "delay": delay}, failed_login=True)
            return
        self._throttle.succeeded(self.peer)
        self.account = account
        self._address = account.address
        self.state = State.AUTHENTICATED
        self._store.maildir_path(self._address)
        self._subscription = self._store.listen(self._address, self._on_store_event)
        caps = " ".join(self.capabilities())
        self._tagged(tag, "OK", f"[CAPABILITY {caps}] Logged in as {self._address}")  # RFC 3501 §6.2.3
        tls = "over TLS" if self.tls_active else "in clear text (a lesson: anyone on the wire could read it)"
        tls_ru = "через TLS" if self.tls_active else "открытым текстом (урок: его мог прочитать любой на линии)"
        self._publish("imap.login", "ok", f"{self._address} logged in with {how}",
                      en=f"The mail client proved who it is with {how}; the password travelled {tls}. "
                         "From now on it can open folders on the server.",
                      ru=f"Почтовый клиент подтвердил, кто он, командой {how}; пароль передан {tls_ru}. "
                         "Теперь он может открывать папки на сервере.",
                      data={"login": login, "tls": self.tls_active})

    def _cmd_login(self, cmd: Command) -> None:
        user, password = _args(cmd, 2)
        self._try_login(cmd.tag, astring(user), astring(password), "LOGIN")

    def _cmd_authenticate(self, cmd: Command) -> None:
        """RFC 3501 §6.2.2 with SASL-IR (RFC 4959): PLAIN (RFC 4616) and LOGIN."""
        args = _args(cmd, 1, at_least=True)
        if len(args) > 2 or not isinstance(args[0], Atom):
            raise ParseError("AUTHENTICATE <mechanism> [initial-response]")
        mech = args[0].upper()
        if mech not in ("PLAIN", "LOGIN"):
            self._tagged(cmd.tag, "NO", f"Unsupported authentication mechanism {mech[:20]}")
            return
        self._sasl = (cmd.tag, mech, [])
        if len(args) == 2:
            ir = astring(args[1]).encode("ascii", "replace")
            self._sasl_step(ir)
            return
        self._sasl_challenge(mech, [])

    def _sasl_challenge(self, mech: str, collected: list[str]) -> None:
        self.reader.raw_mode = True
        if mech == "LOGIN":
            self._send(b"+ VXNlcm5hbWU6\r\n" if not collected else b"+ UGFzc3dvcmQ6\r\n")  # Username: / Password:
        else:
            self._send(b"+ \r\n")  # X7: an empty challenge

    def _sasl_step(self, line: bytes) -> None:
        assert self._sasl is not None
        tag, mech, collected = self._sasl
        text = line.strip()
        if text == b"*":  # RFC 3501 §6.2.2: the client cancels
            self._end_sasl()
            self._tagged(tag, "BAD", "AUTHENTICATE cancelled")
            return
        try:
            decoded = b"" if text == b"=" else base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            self._end_sasl()
            self._tagged(tag, "BAD", "Invalid base64 in SASL response")
            return
        value = decoded.decode("utf-8", "replace")
        if mech == "PLAIN":
            self._end_sasl()
            parts = value.split("\0")
            if len(parts) != 3 or (parts[0] and parts[0] != parts[1]):
                self._try_login(tag, "", "", "AUTHENTICATE PLAIN")
                return
            self._try_login(tag, parts[1], parts[2], "AUTHENTICATE PLAIN")
            return
        collected.append(value)
        if len(collected) < 2:
            self._sasl_challenge(mech, collected)
            return
        self._end_sasl()
        self._try_login(tag, collected[0], collected[1], "AUTHENTICATE LOGIN")

    def _end_sasl(self) -> None:
        self._sasl = None
        self.reader.raw_mode = False

    # ----------------------------------------------------------------- authenticated

    def _cmd_enable(self, cmd: Command) -> None:
        """RFC 5161: nothing we offer is enableable, so ENABLED lists nothing (unknown ones are ignored)."""
        _args(cmd, 1, at_least=True)
        self._untagged("ENABLED")
        self._finish(cmd, "ENABLE completed")

    def _cmd_namespace(self, cmd: Command) -> None:
        _args(cmd, 0)
        self._untagged('NAMESPACE (("" "/")) NIL NIL')  # RFC 2342 §5: one personal namespace
        self._finish(cmd, "NAMESPACE completed")

    def _cmd_select(self, cmd: Command) -> None:
        """SELECT / EXAMINE (RFC 3501 §6.3.1-2). A failed SELECT leaves no mailbox selected."""
        args = _args(cmd, 1, at_least=True)
        if len(args) > 2:
            raise ParseError(f"{cmd.name} takes a mailbox name")
        if self.state is State.SELECTED:
            self._deselect()
        try:
            folder = mailbox_arg(args[0])
            self._store.rescan(self._address, folder)
        except StoreError:
            self._tagged(cmd.tag, "NO", "[NONEXISTENT] No such mailbox")
            return
        self._folder = folder
        self._readonly = cmd.name == "EXAMINE"
        self.state = State.SELECTED
        self._view = self._store.uids(self._address, folder)
        self._view_flags = self._store.flags(self._address, folder)
        self._version = self._store.version(self._address, folder)
        self._recent = set() if self._readonly else set(self._store.claim_recent(self._address, folder))
        if self._readonly:
            self._recent = set()
        self._keywords = self._folder_keywords()
        self._untagged(f"FLAGS ({self._flags_list()})")
        self._untagged(f"{len(self._view)} EXISTS")
        self._untagged(f"{len(self._recent)} RECENT")
        first_unseen = next((i + 1 for i, u in enumerate(self._view) if "\\Seen" not in self._view_flags[u]), None)
        if first_unseen:
            self._untagged(f"OK [UNSEEN {first_unseen}] First unseen message")
        perm = "" if self._readonly else f"{self._flags_list()} \\*"
        self._untagged(f"OK [PERMANENTFLAGS ({perm})] Permanent flags")
        self._untagged(f"OK [UIDVALIDITY {self._store.uidvalidity(self._address, folder)}] UIDs valid")
        self._untagged(f"OK [UIDNEXT {self._store.uidnext(self._address, folder)}] Predicted next UID")
        mode = "READ-ONLY" if self._readonly else "READ-WRITE"
        self._tagged(cmd.tag, "OK", f"[{mode}] {cmd.name} completed")
        self._publish("imap.select", "ok", f"{cmd.name} {folder}: {len(self._view)} messages",
                      en=f"The client opens the folder {folder!r}. The server tells how many messages it "
                         "holds, which UID the next one will get (UIDNEXT) and the UIDVALIDITY that lets "
                         "the client keep its local copy in step. The messages stay on the server.",
                      ru=f"Клиент открывает папку {folder!r}. Сервер сообщает, сколько в ней писем, какой "
                         "UID получит следующее (UIDNEXT) и UIDVALIDITY, по которому клиент сверяет свою "
                         "локальную копию. Письма остаются на сервере.",
                      data={"exists": len(self._view), "readonly": self._readonly})

    def _flags_list(self) -> str:
        return " ".join((*FLAGS_LIST, *sorted(self._keywords)))

    def _folder_keywords(self) -> frozenset[str]:
        kws: set[str] = set()
        for flags in self._view_flags.values():
            kws.update(f for f in flags if not f.startswith("\\") and f != "$Forwarded")
        return frozenset(kws)

    def _deselect(self) -> None:
        self.state = State.AUTHENTICATED
        self._folder = ""
        self._view, self._view_flags, self._recent = [], {}, set()
        self._gone = None

    def _cmd_create(self, cmd: Command) -> None:
        (arg,) = _args(cmd, 1)
        wire = astring(arg)
        if wire.endswith(DELIMITER):  # RFC 3501 §6.3.3: a trailing delimiter declares a parent
            wire = wire[:-1]
        name = mailbox_arg(wire.encode())
        if name == INBOX:
            self._tagged(cmd.tag, "NO", "[ALREADYEXISTS] INBOX always exists")
            return
        self._store.create_folder(self._address, name)
        self._finish(cmd, "CREATE completed")
        self._publish("imap.create", "ok", f"CREATE {name}",
                      en="The client creates a new folder on the server; all of this user's clients will see it.",
                      ru="Клиент создаёт новую папку на сервере; её увидят все почтовые клиенты пользователя.")

    def _cmd_delete(self, cmd: Command) -> None:
        (arg,) = _args(cmd, 1)
        name = mailbox_arg(arg)
        if self.state is State.SELECTED and name == self._folder:
            self._tagged(cmd.tag, "NO", "[INUSE] Cannot delete the selected mailbox; select another first")
            return
        self._store.delete_folder(self._address, name)
        self._finish(cmd, "DELETE completed")

    def _cmd_rename(self, cmd: Command) -> None:
        old, new = _args(cmd, 2)
        self._store.rename_folder(self._address, mailbox_arg(old), mailbox_arg(new))
        self._finish(cmd, "RENAME completed")

    def _cmd_subscribe(self, cmd: Command) -> None:
        (arg,) = _args(cmd, 1)
        name = mailbox_arg(arg)
        if not self._store.folder_exists(self._address, name):
            raise NoSuchFolder("No such mailbox")
        self._store.subscribe(self._address, name)
        self._finish(cmd, "SUBSCRIBE completed")

    def _cmd_unsubscribe(self, cmd: Command) -> None:
        (arg,) = _args(cmd, 1)
        self._store.unsubscribe(self._address, mailbox_arg(arg))
        self._finish(cmd, "UNSUBSCRIBE completed")

    @staticmethod
    def _pattern(reference: str, pattern: str) -> re.Pattern[str]:
        full = reference + pattern
        rx = "".join(".*" if c == "*" else "[^/]*" if c == "%" else re.escape(c) for c in full)
        return re.compile(rx + r"\Z", re.DOTALL)

    @staticmethod
    def _matches(rx: re.Pattern[str], wire: str) -> bool:
        if rx.match(wire):
            return True
        if wire == INBOX or wire.startswith(INBOX + DELIMITER):  # INBOX is case-insensitive (§5.1)
            for variant in ("inbox", "Inbox"):
                if rx.match(variant + wire[5:]):
                    return True
        return False

    def _cmd_list(self, cmd: Command) -> None:
        """LIST (RFC 3501 §6.3.8) with CHILDREN (RFC 3348) and SPECIAL-USE (RFC 6154) attributes."""
        ref_tok, pat_tok = _args(cmd, 2)
        reference, pattern = astring(ref_tok), astring(pat_tok)
        if pattern == "":  # the hierarchy delimiter and root
            self._untagged('LIST (\\Noselect) "/" ""')
            self._finish(cmd, "LIST completed")
            return
        rx = self._pattern(reference, pattern)
        count = 0
        for info in self._store.list_folders(self._address):
            wire = wire_name(info.name)
            if not self._matches(rx, wire):
                continue
            attrs = []
            if not info.selectable:
                attrs.append("\\Noselect")
            attrs.append("\\HasChildren" if info.has_children else "\\HasNoChildren")
            if info.special_use:
                attrs.append(info.special_use)
            self._send(f"* LIST ({' '.join(attrs)}) \"/\" ".encode() + quote(wire) + b"\r\n")
            count += 1
        self._finish(cmd, "LIST completed")
        self._publish("imap.list", "ok", f"LIST {reference!r} {pattern!r}: {count} folders",
                      en="The client asks for the folder tree. Folders live on the server, so every client "
                         "of this user sees the same ones; \\Sent, \\Trash ... tell it which folder has "
                         "which job.",
                      ru="Клиент запрашивает дерево папок. Папки хранятся на сервере, поэтому все клиенты "
                         "пользователя видят одни и те же; пометки \\Sent, \\Trash ... говорят, какая папка "
                         "для чего.")

    def _cmd_lsub(self, cmd: Command) -> None:
        """LSUB (RFC 3501 §6.3.9): subscribed names; a % match of a parent is reported \\Noselect."""
        ref_tok, pat_tok = _args(cmd, 2)
        reference, pattern = astring(ref_tok), astring(pat_tok)
        if pattern == "":
            self._untagged('LSUB (\\Noselect) "/" ""')
            self._finish(cmd, "LSUB completed")
            return
        rx = self._pattern(reference, pattern)
        subs = self._store.subscriptions(self._address)
        seen: set[str] = set()
        for name in subs:
            parts = name.split(DELIMITER)
            for i in range(len(parts), 0, -1):
                candidate = DELIMITER.join(parts[:i])
                wire = wire_name(candidate)
                if candidate in seen or not self._matches(rx, wire):
                    continue
                seen.add(candidate)
                attrs = "" if candidate in subs else "\\Noselect"
                self._send(f"* LSUB ({attrs}) \"/\" ".encode() + quote(wire) + b"\r\n")
                break
        self._finish(cmd, "LSUB completed")

    def _cmd_status(self, cmd: Command) -> None:
        """STATUS (RFC 3501 §6.3.10) without selecting the mailbox."""
        box, items = _args(cmd, 2)
        if not isinstance(items, list) or not items:
            raise ParseError("STATUS expects a list of items")
        names = []
        for item in items:
            if not isinstance(item, Atom) or item.upper() not in ("MESSAGES", "RECENT", "UIDNEXT", "UIDVALIDITY", "UNSEEN"):
                raise ParseError(f"Unknown STATUS item {str(item)[:20]}")
            names.append(item.upper())
        folder = mailbox_arg(box)
        st = self._store.status(self._address, folder)
        values = {"MESSAGES": st.messages, "RECENT": st.recent, "UIDNEXT": st.uidnext,
                  "UIDVALIDITY": st.uidvalidity, "UNSEEN": st.unseen}
        if self.state is State.SELECTED and folder == self._folder:
            values["RECENT"] = len(self._recent) + st.recent
        body = " ".join(f"{n} {values[n]}" for n in names)
        self._send(b"* STATUS " + quote(wire_name(folder)) + f" ({body})\r\n".encode())
        self._finish(cmd, "STATUS completed")

    def _cmd_append(self, cmd: Command) -> None:
        """APPEND (RFC 3501 §6.3.11) answering APPENDUID (RFC 4315 §3)."""
        args = list(_args(cmd, 2, at_least=True))
        box = args.pop(0)
        message = args.pop()
        if not isinstance(message, bytes):
            raise ParseError("APPEND needs the message as a literal")
        flags: list[str] = []
        date: float | None = None
        if args and isinstance(args[0], list):
            flags = self._flag_list(args.pop(0))
        if args:
            date = parse_date_time(astring(args.pop(0)))
        if args:
            raise ParseError("APPEND mailbox [(flags)] [date-time] literal")
        folder = mailbox_arg(box)
        if not self._store.folder_exists(self._address, folder):
            self._tagged(cmd.tag, "NO", "[TRYCREATE] No such mailbox")  # RFC 3501 §6.3.11
            return
        if not message:
            raise ParseError("Empty message")
        uidvalidity, uid = self._store.append(self._address, folder, message, flags, date)
        self._finish(cmd, "APPEND completed", code=f"APPENDUID {uidvalidity} {uid}")
        self._publish("imap.append", "ok", f"APPEND into {folder}: UID {uid}, {len(message)} octets",
                      en=f"The client uploads a message into {folder!r} (for example a copy of what it just "
                         "sent, or a draft). The server stores it and answers with its new UID (APPENDUID), "
                         "so the client need not search for it.",
                      ru=f"Клиент загружает письмо в папку {folder!r} (например, копию отправленного или "
                         "черновик). Сервер сохраняет его и сообщает новый UID (APPENDUID), чтобы клиенту "
                         "не пришлось его искать.",
                      data={"uid": uid, "size": len(message), "folder": folder})

    def _flag_list(self, tok: Any) -> list[str]:
        items = tok if isinstance(tok, list) else [tok]
        flags = []
        for item in items:
            if not isinstance(item, Atom):
                raise ParseError("Flags are atoms")
            flag = canonical_flag(str(item))
            if flag == "\\Recent":
                continue  # RFC 3501 §2.3.2: clients cannot set \Recent
            if not valid_flag(flag):
                raise ParseError(f"Invalid flag {str(item)[:30]}")
            flags.append(flag)
        return flags

    def _cmd_idle(self, cmd: Command) -> None:
        """IDLE (RFC 2177): "+ idling", then updates as they happen, until DONE."""
        _args(cmd, 0)
        self._idle_tag = cmd.tag
        self.reader.raw_mode = True
        self._send(b"+ idling\r\n")
        if self.state is State.SELECTED:
            self._rescan()
            self._send_updates(allow_expunge=True)

    def _idle_done(self, line: bytes) -> None:
        tag = self._idle_tag
        self._idle_tag = None
        self.reader.raw_mode = False
        if line.strip().upper() != b"DONE":
            self._tagged(tag or "*", "BAD", "Expected DONE")
            return
        if self.state is State.SELECTED:
            self._send_updates(allow_expunge=True)
        self._tagged(tag or "*", "OK", "IDLE terminated")

    # ----------------------------------------------------------------- selected

    def _cmd_check(self, cmd: Command) -> None:
        _args(cmd, 0)
        self._rescan()
        self._finish(cmd, "CHECK completed")

    def _rescan(self) -> None:
        """Pick up files changed behind the store's back (external tools, a restarted MDA)."""
        if self.state is not State.SELECTED or self._gone:
            return
        try:
            self._store.rescan(self._address, self._folder)
        except StoreError:
            self._gone = "deleted"

    def _cmd_close(self, cmd: Command) -> None:
        """CLOSE (RFC 3501 §6.4.2): expunge silently (unless read-only), then no mailbox is selected."""
        _args(cmd, 0)
        gone = [] if self._readonly else self._store.expunge(self._address, self._folder)
        self._tagged(cmd.tag, "OK", "CLOSE completed")
        if gone:  # the removal is as real as EXPUNGE's (mbsync deletes this way), so it is a hop too
            self._publish("imap.expunge", "ok", f"CLOSE {self._folder}: {len(gone)} removed",
                          en="CLOSE removes the messages marked \\Deleted (an EXPUNGE without the EXPUNGE "
                             "responses) and leaves the folder. The other open sessions are told with EXPUNGE.",
                          ru="CLOSE удаляет письма с пометкой \\Deleted (как EXPUNGE, но без ответов EXPUNGE) "
                             "и закрывает папку. Другим открытым сеансам сообщается ответом EXPUNGE.",
                          data={"uids": gone, "command": "CLOSE"})
        self._deselect()

    def _cmd_unselect(self, cmd: Command) -> None:
        _args(cmd, 0)
        self._deselect()  # RFC 3691: like CLOSE without the expunge
        self._tagged(cmd.tag, "OK", "UNSELECT completed")

    def _cmd_expunge(self, cmd: Command) -> None:
        """EXPUNGE (RFC 3501 §6.4.3) and UID EXPUNGE (RFC 4315 §2.1)."""
        uids = None
        if cmd.name == "UID EXPUNGE":
            (arg,) = _args(cmd, 1)
            uids = self._resolve_uids(parse_sequence_set(astring(arg)))
        else:
            _args(cmd, 0)
        if self._readonly:
            self._tagged(cmd.tag, "NO", "[READ-ONLY] Mailbox is read-only")
            return
        gone = self._store.expunge(self._address, self._folder, uids)
        self._send_updates(allow_expunge=True)
        self._tagged(cmd.tag, "OK", "EXPUNGE completed")
        if gone:
            self._publish("imap.expunge", "ok", f"EXPUNGE {self._folder}: {len(gone)} removed",
                          en="Messages marked \\Deleted are now really removed from the server. Until this "
                             "moment a \\Deleted message could still be restored; every open session is told "
                             "with an EXPUNGE response.",
                          ru="Письма с пометкой \\Deleted теперь действительно удалены с сервера. До этого "
                             "момента их ещё можно было восстановить; всем открытым сеансам сообщается "
                             "ответом EXPUNGE.",
                          data={"uids": gone})

    def _cmd_search(self, cmd: Command) -> None:
        """SEARCH (RFC 3501 §6.4.4); CHARSET UTF-8 / US-ASCII, others NO [BADCHARSET]."""
        args = list(cmd.args)
        charset = "US-ASCII"
        if len(args) >= 2 and isinstance(args[0], Atom) and args[0].upper() == "CHARSET":
            charset = astring(args[1]).upper()
            args = args[2:]
            if charset not in ("UTF-8", "US-ASCII"):
                self._tagged(cmd.tag, "NO", "[BADCHARSET (UTF-8 US-ASCII)] Unsupported charset")
                return
        pred = SearchParser(self, args, charset).parse_all()
        hits: list[int] = []
        for seq, uid in enumerate(self._view, 1):
            try:
                if pred(_SearchCtx(self, seq, uid)):
                    hits.append(uid if cmd.name == "UID SEARCH" else seq)
            except NoSuchMessage:
                continue
        self._untagged("SEARCH" + "".join(f" {n}" for n in hits))
        self._finish(cmd, "SEARCH completed")

    # ---- sequence sets

    def _resolve_seqs(self, seqset: SeqSet, *, strict: bool = True) -> list[int]:
        """Sequence numbers in the set, ascending. Numbers beyond EXISTS are BAD (RFC 3501 §9 seq-number)."""
        n = len(self._view)
        out: set[int] = set()
        for lo, hi in seqset:
            a = n if lo is None else lo
            b = n if hi is None else hi
            if strict and lo is not None and hi is not None and max(a, b) > n:
                raise ParseError("Invalid message sequence number")
            a, b = min(a, b), max(a, b)
            out.update(range(max(a, 1), min(b, n) + 1))
        return sorted(out)

    def _resolve_uids(self, seqset: SeqSet) -> list[int]:
        """UIDs in the set that exist, ascending. "n:*" includes the highest UID (RFC 3501 §6.4.8)."""
        if not self._view:
            return []
        top = self._view[-1]
        ranges = []
        for lo, hi in seqset:
            a = top if lo is None else lo
            b = top if hi is None else hi
            ranges.append((min(a, b), max(a, b)))
        if len(ranges) == 1:
            a, b = ranges[0]
            return [u for u in self._view if a <= u <= b]
        return [u for u in self._view if any(a <= u <= b for a, b in ranges)]

    def _targets(self, cmd: Command, arg: Any) -> list[tuple[int, int]]:
        """(sequence number, UID) pairs addressed by the set argument of FETCH/STORE/COPY/MOVE."""
        seqset = parse_sequence_set(astring(arg) if isinstance(arg, Atom) else "")
        if cmd.name.startswith("UID "):
            uids = set(self._resolve_uids(seqset))
            return [(i + 1, u) for i, u in enumerate(self._view) if u in uids]
        return [(s, self._view[s - 1]) for s in self._resolve_seqs(seqset)]

    # ---- FETCH

    def _cmd_fetch(self, cmd: Command) -> None:
        """FETCH / UID FETCH (RFC 3501 §6.4.5, §6.4.8: the UID form always includes UID)."""
        seq_arg, atts_arg = _args(cmd, 2)
        atts = parse_fetch_atts(atts_arg)
        if cmd.name == "UID FETCH" and not any(a.name == "UID" for a in atts):
            atts.insert(0, FetchAtt("UID"))
        targets = self._targets(cmd, seq_arg)
        self._job = (cmd.tag, self._fetch_job(cmd, atts, targets))
        self._run_job()

    def _fetch_job(self, cmd: Command, atts: list[FetchAtt], targets: list[tuple[int, int]]) -> Iterator[None]:
        """The body of FETCH, one message per step, so that a server can write as it goes.

        Another session may expunge a message while the FETCH is paused: it is then left out and the
        FETCH ends NO [EXPUNGEISSUED], as for a file removed behind our back (RFC 5530).
        """
        missing = False
        fetched_bodies = 0
        for seq, uid in targets:
            try:
                line, body = self._fetch_one(seq, uid, atts)
            except NoSuchMessage:
                missing = True
                continue
            fetched_bodies += body
            self._send(line)
            yield
        if missing:
            if self.state is State.SELECTED:
                self._send_updates(allow_expunge=cmd.name.startswith("UID "))
            self._tagged(cmd.tag, "NO", "[EXPUNGEISSUED] Some messages were expunged meanwhile")  # RFC 5530
        else:
            self._finish(cmd, "FETCH completed")
        if targets:
            what = ", ".join(sorted({a.name if a.section is None else f"BODY[{a.section}]" for a in atts}))
            keep = "The messages stay on the server (IMAP keeps mail on the server; POP3 would usually " \
                   "download and delete)."
            keep_ru = "Письма остаются на сервере (IMAP хранит почту на сервере; POP3 обычно скачивает и удаляет)."
            if fetched_bodies:
                en = f"The client downloads {fetched_bodies} message bodies ({what}). {keep}"
                ru = f"Клиент скачивает содержимое {fetched_bodies} писем ({what}). {keep_ru}"
            else:
                en = f"The client reads summary data of {len(targets)} messages ({what}) to draw its list. {keep}"
                ru = f"Клиент читает сводные данные {len(targets)} писем ({what}), чтобы построить список. {keep_ru}"
            self._publish("imap.fetch", "ok", f"{cmd.name} {len(targets)} message(s): {what}"[:200],
                          en=en, ru=ru, data={"count": len(targets), "bodies": fetched_bodies,
                                              "uids": [uid for _, uid in targets[:50]]})

    def _fetch_one(self, seq: int, uid: int, atts: list[FetchAtt]) -> tuple[bytes, int]:
        store, address, folder = self._store, self._address, self._folder
        parts: list[bytes | tuple[bytes, bytes]] = []  # (label, data) pairs are sent as literals
        # The info record is needed for INTERNALDATE / RFC822.SIZE, and as the "is it still there?"
        # check when nothing else touches the store; BODY.PEEK[] alone skips it (read_message checks).
        info = store.message_info(address, folder, uid) if any(
            a.name in ("INTERNALDATE", "RFC822.SIZE") for a in atts) or all(
            a.name in ("UID", "FLAGS") for a in atts) else None
        raw: bytes | None = None
        parsed: ParsedMessage | None = None
        set_seen = False
        bodies = 0

        def get_raw() -> bytes:
            nonlocal raw
            if raw is None:
                raw = store.read_message(address, folder, uid)
            return raw

        def get_parsed() -> ParsedMessage:
            nonlocal parsed
            if parsed is None:
                parsed = store.parsed(address, folder, uid)
            return parsed

        for att in atts:
            name = att.name
            if name == "UID":
                parts.append(b"UID %d" % uid)
            elif name == "FLAGS":
                parts.append(b"FLAGS (" + self._flags_text(uid).encode() + b")")
            elif name == "INTERNALDATE":
                parts.append(b'INTERNALDATE "' + format_internaldate(info.internaldate).encode() + b'"')
            elif name == "RFC822.SIZE":
                parts.append(b"RFC822.SIZE %d" % info.size)
            elif name == "ENVELOPE":
                p = get_parsed()
                if "envelope" not in p.rendered:
                    p.rendered["envelope"] = render_envelope(p.root.headers)
                parts.append(b"ENVELOPE " + p.rendered["envelope"])
            elif name in ("BODY", "BODYSTRUCTURE"):
                p = get_parsed()
                key = name.lower()
                if key not in p.rendered:
                    p.rendered[key] = render_body(p.root, extended=name == "BODYSTRUCTURE")
                parts.append(name.encode() + b" " + p.rendered[key])
            elif name == "RFC822":
                parts.append((b"RFC822 ", get_raw()))
                set_seen, bodies = True, 1
            elif name == "RFC822.HEADER":
                data = get_raw()
                root = get_parsed().root
                parts.append((b"RFC822.HEADER ", data[root.header_start:root.body_start]))
            elif name == "RFC822.TEXT":
                data = get_raw()
                root = get_parsed().root
                parts.append((b"RFC822.TEXT ", data[root.body_start:]))
                set_seen, bodies = True, 1
            else:
                data = self._section(get_raw(), get_parsed(), att)
                label = b"BODY[" + att.section.encode() + b"]"
                if att.partial is not None:
                    origin, count = att.partial
                    label += b"<%d>" % origin
                    if data is not None:
                        data = data[origin:origin + count]
                parts.append(label + b" NIL" if data is None else (label + b" ", data))
                if not att.peek:
                    set_seen = True
                if att.specifier in ("", "TEXT") or att.parts:
                    bodies = 1
        if set_seen and not self._readonly and "\\Seen" not in self._view_flags.get(uid, frozenset()):
            # RFC 3501 §6.4.5: BODY[...] (not PEEK), RFC822 and RFC822.TEXT set \Seen
            new = self._store.set_flags(address, folder, [uid], ["\\Seen"], "+")
            if uid in new:
                self._view_flags[uid] = new[uid]
                if not any(a.name == "FLAGS" for a in atts):
                    parts.append(b"FLAGS (" + self._flags_text(uid).encode() + b")")
        return _fetch_response(seq, parts), bodies

    def _flags_text(self, uid: int) -> str:
        flags = set(self._view_flags.get(uid, frozenset()))
        if uid in self._recent:
            flags.add("\\Recent")
        return " ".join(sorted(flags, key=lambda f: (not f.startswith("\\"), f)))

    @staticmethod
    def _section(data: bytes, parsed: ParsedMessage, att: FetchAtt) -> bytes | None:
        """The octets of BODY[section] (RFC 3501 §6.4.5), or None if the part does not exist."""
        root = parsed.root
        if not att.parts:
            node = root
        else:
            node = find_part(root, att.parts)
            if node is None:
                return None
        spec = att.specifier
        if spec == "" and not att.parts:
            return data
        if spec == "":
            return data[node.body_start:node.end]
        if spec == "MIME":
            return data[node.header_start:node.body_start]
        msg = node
        if att.parts:  # HEADER/TEXT of a part refer to the message/rfc822 it contains
            if not node.is_message or node.message is None:
                return None
            msg = node.message
        if spec == "TEXT":
            return data[msg.body_start:msg.end]
        block = data[msg.header_start:msg.body_start]
        if spec == "HEADER":
            return block
        wanted = {f.lower() for f in att.fields}
        keep_matching = spec == "HEADER.FIELDS"
        selected = [raw for name, raw in header_fields(block) if (name in wanted) == keep_matching]
        return b"".join(selected) + b"\r\n"

    # ---- STORE

    def _cmd_store(self, cmd: Command) -> None:
        """STORE / UID STORE (RFC 3501 §6.4.6): FLAGS, +FLAGS, -FLAGS with optional .SILENT."""
        args = _args(cmd, 3, at_least=True)
        seq_arg, item = args[0], args[1]
        flag_toks = list(args[2:])
        if not isinstance(item, Atom):
            raise ParseError("STORE expects FLAGS, +FLAGS or -FLAGS")
        m = re.fullmatch(r"([+-]?)FLAGS(\.SILENT)?", item.upper())
        if not m:
            raise ParseError(f"Unknown STORE item {str(item)[:20]}")
        mode = m.group(1) or "="
        silent = bool(m.group(2))
        if len(flag_toks) == 1 and isinstance(flag_toks[0], list):
            flag_toks = flag_toks[0]
        flags = self._flag_list(flag_toks)
        targets = self._targets(cmd, seq_arg)
        if self._readonly:
            self._tagged(cmd.tag, "NO", "[READ-ONLY] Mailbox is read-only")
            return
        new = self._store.set_flags(self._address, self._folder, [u for _, u in targets], flags, mode)
        for seq, uid in targets:
            if uid not in new:
                continue
            self._view_flags[uid] = new[uid]
            if not silent:
                uid_part = f"UID {uid} " if cmd.name == "UID STORE" else ""
                self._untagged(f"{seq} FETCH ({uid_part}FLAGS ({self._flags_text(uid)}))")
        kws = self._folder_keywords()
        if not kws <= self._keywords:
            self._keywords = self._keywords | kws
            self._untagged(f"FLAGS ({self._flags_list()})")
        self._finish(cmd, "STORE completed")
        self._publish("imap.store", "ok", f"{cmd.name} {item} ({' '.join(flags)}) on {len(targets)} message(s)",
                      en="The client changes flags on the server (\\Seen = read, \\Flagged = starred, "
                         "\\Deleted = to be removed by EXPUNGE). Because flags live on the server, "
                         "every other client of this user sees the same state.",
                      ru="Клиент меняет флаги на сервере (\\Seen — прочитано, \\Flagged — отмечено, "
                         "\\Deleted — удалить при EXPUNGE). Флаги хранятся на сервере, поэтому все "
                         "остальные клиенты пользователя видят то же состояние.",
                      data={"flags": flags, "mode": mode, "count": len(targets)})

    # ---- COPY / MOVE

    def _copy_target(self, cmd: Command) -> tuple[list[tuple[int, int]], str] | None:
        seq_arg, box = _args(cmd, 2)
        targets = self._targets(cmd, seq_arg)
        dest = mailbox_arg(box)
        if not self._store.folder_exists(self._address, dest):
            self._tagged(cmd.tag, "NO", "[TRYCREATE] No such mailbox")  # RFC 3501 §6.4.7
            return None
        return targets, dest

    def _cmd_copy(self, cmd: Command) -> None:
        """COPY / UID COPY (RFC 3501 §6.4.7) answering COPYUID (RFC 4315 §3)."""
        found = self._copy_target(cmd)
        if found is None:
            return
        targets, dest = found
        pairs = self._store.copy_messages(self._address, self._folder, [u for _, u in targets], dest)
        code = ""
        if pairs:
            code = (f"COPYUID {self._store.uidvalidity(self._address, dest)} "
                    f"{format_uid_set(p[0] for p in pairs)} {format_uid_set(p[1] for p in pairs)}")
        self._finish(cmd, "COPY completed", code=code)
        self._publish("imap.copy", "ok", f"{cmd.name} {len(pairs)} message(s) to {dest}",
                      en=f"The server copies the messages into {dest!r} itself; nothing is downloaded and "
                         "uploaded again.",
                      ru=f"Сервер сам копирует письма в папку {dest!r}; ничего не скачивается и не "
                         "загружается заново.",
                      data={"dest": dest, "count": len(pairs)})

    def _cmd_move(self, cmd: Command) -> None:
        """MOVE / UID MOVE (RFC 6851 §3): untagged OK [COPYUID], EXPUNGEs, then tagged OK."""
        if self._readonly:
            _args(cmd, 2)
            self._tagged(cmd.tag, "NO", "[READ-ONLY] Mailbox is read-only")
            return
        found = self._copy_target(cmd)
        if found is None:
            return
        targets, dest = found
        pairs = self._store.move_messages(self._address, self._folder, [u for _, u in targets], dest)
        if pairs:
            self._untagged(f"OK [COPYUID {self._store.uidvalidity(self._address, dest)} "
                           f"{format_uid_set(p[0] for p in pairs)} {format_uid_set(p[1] for p in pairs)}] Moved")
        self._send_updates(allow_expunge=True)
        self._tagged(cmd.tag, "OK", "MOVE completed")
        self._publish("imap.move", "ok", f"{cmd.name} {len(pairs)} message(s) to {dest}",
                      en=f"The client moves messages to {dest!r} (for example to Trash or Junk). The server "
                         "does it in one step and tells every session the messages left this folder.",
                      ru=f"Клиент перемещает письма в папку {dest!r} (например, в Корзину или Спам). Сервер "
                         "делает это за один шаг и сообщает всем сеансам, что письма ушли из папки.",
                      data={"dest": dest, "count": len(pairs)})

    # ----------------------------------------------------------------- updates from other sessions

    def _on_store_event(self, event: FolderEvent) -> None:
        if self.state is not State.SELECTED or event.folder != self._folder:
            return
        if event.kind in ("deleted", "renamed"):
            self._gone = event.kind
        self._dirty = True
        if self._idle_tag is not None and self._wakeup is not None:
            self._wakeup()

    def _bye_gone(self) -> None:
        self._untagged(f"BYE Selected mailbox was {self._gone}; please reconnect")
        self._logout_state()
        self._out.append(Close())

    def _send_updates(self, *, allow_expunge: bool) -> None:
        self._updates(allow_expunge=allow_expunge)
        if self._gone:
            self._bye_gone()

    def _updates(self, *, allow_expunge: bool) -> list[str]:
        """Tell the client what changed since its view (RFC 3501 §7.3.1, §7.4.1, §7.2.6). Returns the lines."""
        if self._gone:
            return []
        try:
            version = self._store.version(self._address, self._folder)
        except StoreError:
            self._gone = "deleted"
            return []
        if version == self._version:
            return []
        current = self._store.flags(self._address, self._folder)
        sent: list[str] = []
        expunged = [u for u in self._view if u not in current]
        if expunged and allow_expunge:
            gone = set(expunged)
            for seq in range(len(self._view), 0, -1):  # highest first, so numbers stay valid
                if self._view[seq - 1] in gone:
                    sent.append(f"{seq} EXPUNGE")
            self._view = [u for u in self._view if u not in gone]
            for u in gone:
                self._view_flags.pop(u, None)
                self._recent.discard(u)
        top = self._view[-1] if self._view else 0
        new = [u for u in current if u > top]
        for seq, uid in enumerate(self._view, 1):
            if uid in current and current[uid] != self._view_flags.get(uid):
                self._view_flags[uid] = current[uid]
                sent.append(f"{seq} FETCH (UID {uid} FLAGS ({self._flags_text(uid)}))")
        if new:
            self._view.extend(new)
            for u in new:
                self._view_flags[u] = current[u]
            if not self._readonly:
                self._recent |= set(self._store.claim_recent(self._address, self._folder))
            kws = self._folder_keywords()
            if not kws <= self._keywords:
                self._keywords = self._keywords | kws
                sent.insert(0, f"FLAGS ({self._flags_list()})")
            sent.append(f"{len(self._view)} EXISTS")
            sent.append(f"{len(self._recent)} RECENT")
        for line in sent:
            self._untagged(line)
        if not expunged or allow_expunge:
            self._version = version
        self._dirty = False
        return sent

    def _logout_state(self) -> None:
        self.state = State.LOGOUT
        self._idle_tag = None
        self._job = None
        if self._subscription is not None:
            self._subscription.close()
            self._subscription = None
