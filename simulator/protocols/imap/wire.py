"""IMAP on the wire: framing, tokens, commands and the small syntax pieces (RFC 3501 §4, §9).

``CommandReader`` frames input into CRLF lines and ``{n}`` / ``{n+}`` literals (RFC 3501 §4.3,
RFC 7888 LITERAL+) and ``~{n}`` literal8s (RFC 3516 §4.1, BINARY); ``tokenize`` / ``parse_command``
turn a framed command into a ``Command``; the helpers below read arguments (astrings, mailbox names
in modified UTF-7 (§5.1.3), sequence sets, dates) and write strings back (quoted or literal).
Nothing here knows a session or a mailbox.

Limits (decided here, documented for clients): a command line (the text between literals) may be
64 KiB; a literal 32 MiB; a whole command (its lines and literals together, each piece charged
``PIECE_COST`` octets more for its bookkeeping) 64 MiB; at most 1000 literals in a command;
parentheses nest at most 16 deep; a sequence set has at most 1000 ranges.  Before authentication
the session frames with ``PREAUTH_MAX`` (8 KiB) as the literal limit and ``PREAUTH_COMMAND``
(32 KiB: an RFC 2971 ID of maximal size fits) as the line and command limit, as Dovecot's
imap-login process bounds its input.  Each size is checked when the literal is
announced, before the "+" continuation (RFC 3501 §7.5: the server may answer NO instead of "+"), so
a refused literal never arrives; a non-synchronising literal (RFC 7888 §4) that is too big is already
on its way: BAD [TOOBIG] and the connection closes, the only way to resynchronise.

``[`` is an ordinary atom character (RFC 3501 §9 ATOM-CHAR excludes only "]"): a mailbox may be
called ``a[b``.  Only after the names of a fetch attribute with a section (``BODY[``, ``BODY.PEEK[``,
``BINARY[``, ``BINARY.PEEK[``, ``BINARY.SIZE[``) does ``[`` open a section that may hold spaces and
parentheses, kept with its closing ``]`` in one token.
"""

from __future__ import annotations

import calendar
import re
import time
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from simulator.store import INBOX, FolderNameError, StoreError, decode_mutf7, encode_mutf7, normalize_folder
from simulator.store.uids import merge_ranges   # one merge of (first, last) runs, re-exported for the session

MAX_LINE = 64 * 1024
MAX_LITERAL = 32 * 1024 * 1024
MAX_COMMAND = 64 * 1024 * 1024
MAX_DEPTH = 16
MAX_SEQ_RANGES = 1000
MAX_LITERALS = 1000       # literals in one command (a MULTIAPPEND of 1000 messages at most)
PIECE_COST = 256          # octets charged per framed piece, so that MAX_COMMAND bounds memory:
                          # a flood of ``{1+}`` literals would otherwise cost ~27x its size in objects
# Before authentication (Dovecot's imap-login): a literal at most PREAUTH_MAX, so ``a LOGIN
# {33554431+}`` is refused at once (BAD, BYE, close) and nothing is buffered; a whole command (its
# lines and literals) at most PREAUTH_COMMAND: the largest legal pre-login command is an ID with 30
# pairs of a 30-octet field and a 1024-octet value (RFC 2971 §3.3), ~31.8 KB, which imaptest's "id"
# script sends and Dovecot accepts.
PREAUTH_MAX = 8 * 1024
PREAUTH_COMMAND = 32 * 1024
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


# --------------------------------------------------------------------------- tokens and parsing


class ParseError(Exception):
    """Bad syntax: answered with BAD, and the session goes on."""


class Atom(str):
    """An atom as the client wrote it (compare with ``.upper()``). Quoted strings and literals are bytes."""


_ATOM_STOP = set(b' (){"\r\n')
_SECTION_ATOMS = (b"BODY", b"BODY.PEEK", b"BINARY", b"BINARY.PEEK", b"BINARY.SIZE")


@dataclass(frozen=True, slots=True)
class Literal:
    data: bytes
    binary: bool = False  # a literal8, ``~{n}`` (RFC 3516 §4.1): may hold NUL


class LiteralData(bytes):
    """A literal's octets as a token (quoted strings are plain ``bytes``); ``binary`` for a literal8."""

    binary = False


class Literal8Data(LiteralData):
    binary = True


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


_LITERAL_AT_END = re.compile(rb"(~?)\{(\d{1,20})(\+?)\}\r\n$")
_TAG = re.compile(rb"^([!#$&'+,\-./0-9:;<=>?@A-Z\[^_`a-z|}~]+)")


def tag_of(line: bytes) -> str:
    m = _TAG.match(line)
    return m.group(1).decode("ascii") if m and m.group(1) != b"+" else "*"


class CommandReader:
    """Frames IMAP input: CRLF lines and ``{n}`` / ``{n+}`` literals (RFC 3501 §4.3, RFC 7888).

    ``feed()`` buffers bytes; ``next()`` returns a ``Framed`` command, a ``FrameError``, a ``bytes``
    line in raw mode (SASL responses, IDLE's DONE), or None when more input is needed. ``pending_continuation``
    is set when a synchronising literal was accepted and the client waits for "+".
    """

    def __init__(self, *, max_line: int = MAX_LINE, max_literal: int = MAX_LITERAL,
                 max_command: int = MAX_COMMAND, max_literals: int = MAX_LITERALS,
                 piece_cost: int = PIECE_COST) -> None:
        self.max_line, self.max_literal, self.max_command = max_line, max_literal, max_command
        self.max_literals, self.piece_cost = max_literals, piece_cost
        self._literals = 0  # literals of the command framed so far
        self.raw_mode = False
        self._buf = bytearray()
        self._pieces: list[bytes | Literal] = []
        self._size = 0  # octets of the command framed so far (its lines and literals)
        self._need: int | None = None  # literal octets still expected
        self._binary = False           # the literal expected is a literal8
        self._skipping = False
        self.continuations = 0  # "+" replies owed to the client for accepted sync literals

    def clear(self) -> None:
        """Forget everything buffered (STARTTLS: bytes sent before the handshake are discarded)."""
        self._buf.clear()
        self._pieces.clear()
        self._size = self._literals = 0
        self._need = None
        self._skipping = False
        self.continuations = 0

    def feed(self, data: bytes) -> None:
        self._buf += data

    def set_limits(self, *, line: int, literal: int, command: int) -> None:
        """Change the limits (the session widens them after login: see ``PREAUTH_MAX``)."""
        self.max_line, self.max_literal, self.max_command = line, literal, command

    def next(self) -> Framed | FrameError | bytes | None:
        while True:
            if self._need is not None:
                if len(self._buf) < self._need:
                    return None
                lit = bytes(self._buf[: self._need])
                del self._buf[: self._need]
                self._pieces.append(Literal(lit, self._binary))
                self._need = None
                continue
            idx = self._buf.find(b"\r\n")
            if idx < 0:
                bare = self._buf.find(b"\n")
                if bare >= 0:  # tolerate a bare LF line end (hand-typed nc sessions)
                    self._buf[bare:bare + 1] = b"\r\n"
                    continue
                if len(self._buf) > self.max_line:
                    tag = tag_of(bytes(self._pieces[0])) if self._pieces else tag_of(bytes(self._buf[:100]))
                    self._buf.clear()
                    self._pieces.clear()
                    self._size = self._literals = 0
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
                tag = tag_of(line[:100])
                self._pieces.clear()
                self._size = self._literals = 0
                return FrameError(tag, f"Command line too long (limit {self.max_line} octets)", "TOOBIG")
            if self.raw_mode and not self._pieces:
                return line[:-2]
            m = _LITERAL_AT_END.search(line)
            if m is None:
                self._pieces.append(line[:-2])
                framed = Framed(tuple(self._pieces))
                self._pieces.clear()
                self._size = self._literals = 0
                return framed
            size, nonsync = int(m.group(2)), bool(m.group(3))
            self._binary = bool(m.group(1))
            self._pieces.append(line[: m.start()])
            self._size += len(line) + self.piece_cost
            tag = tag_of(bytes(self._pieces[0]))  # type: ignore[arg-type]
            text = None
            if size > self.max_literal:
                text = f"Literal too big (limit {self.max_literal} octets)"
            elif self._size + size + self.piece_cost > self.max_command:
                text = f"Literal too big: the command would exceed {self.max_command} octets"
            elif self._literals >= self.max_literals:
                text = f"Literal too many: at most {self.max_literals} literals in one command"
            if text is not None:  # checked before "+": a refused literal is never sent (RFC 3501 §7.5)
                self._pieces.clear()
                self._size = self._literals = 0
                if nonsync:  # RFC 7888 §4: its octets are already coming; we cannot resynchronise
                    self._buf.clear()
                    return FrameError(tag, text, "TOOBIG", close=True)
                return FrameError(tag, text, "TOOBIG")
            self._size += size + self.piece_cost
            self._literals += 1
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
            out.append(Literal8Data(piece.data) if piece.binary else LiteralData(piece.data))
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
                if text[i] == 0x5B and text[start:i].upper() in _SECTION_ATOMS:  # a section may hold
                    close = text.find(b"]", i)                                  # spaces and parens
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


def expect_args(cmd: Command, n: int, at_least: bool = False) -> tuple:
    """The arguments of ``cmd``: exactly ``n`` (or at least ``n``), else BAD."""
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
    if "~" in name:             # rule 6: no home-directory shorthand in a mailbox name, in any store
        raise FolderNameError("'~' is not allowed in mailbox names")
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


# --------------------------------------------------------------------------- strings and dates


_PLAIN_QUOTED = re.compile(r'[^\r\n\0"\\]{0,999}\Z')     # ASCII text that goes inside quotes as it is


def quote(value: str | bytes) -> bytes:
    """A string as a quoted string when it can be one, else as a literal (RFC 3501 §4.3)."""
    if value.__class__ is str and value.isascii() and _PLAIN_QUOTED.match(value):
        return b'"' + value.encode("ascii") + b'"'          # the common case: nothing to escape
    raw = value if isinstance(value, bytes) else value.encode("utf-8", "surrogateescape")
    if len(raw) < 1000 and b"\r" not in raw and b"\n" not in raw and b"\0" not in raw and raw.isascii():
        return b'"' + raw.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
    return b"{%d}\r\n" % len(raw) + raw


def nstring(value: str | bytes | None) -> bytes:
    return b"NIL" if value is None else quote(value)


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


def uids_in(sorted_uids: Sequence[int], ranges: Iterable[tuple[int, int]]) -> list[int]:
    """The members of ``sorted_uids`` (ascending) inside any of ``ranges``: bisection per merged range."""
    out: list[int] = []
    for a, b in merge_ranges(ranges):
        out.extend(sorted_uids[bisect_left(sorted_uids, a):bisect_right(sorted_uids, b)])
    return out


def intersect_ranges(first: Iterable[tuple[int, int]], second: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """The inclusive ranges in both lists (each merged first): one linear walk, nothing expanded."""
    a, b = merge_ranges(first), merge_ranges(second)
    out: list[tuple[int, int]] = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if lo <= hi:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def ranges_without(ranges: Iterable[tuple[int, int]], sorted_uids: Sequence[int]) -> list[tuple[int, int]]:
    """The parts of ``ranges`` holding none of ``sorted_uids`` (ascending): the gaps, found by bisection."""
    out: list[tuple[int, int]] = []
    for a, b in merge_ranges(ranges):
        lo = a
        for u in sorted_uids[bisect_left(sorted_uids, a):bisect_right(sorted_uids, b)]:
            if u > lo:
                out.append((lo, u - 1))
            lo = u + 1
        if lo <= b:
            out.append((lo, b))
    return out


def format_ranges(ranges: Iterable[tuple[int, int]]) -> str:
    """[(1, 3), (5, 5)] -> "1:3,5" (a uid-set, RFC 3501 §9, without expanding the ranges)."""
    return ",".join(str(a) if a == b else f"{a}:{b}" for a, b in ranges)
