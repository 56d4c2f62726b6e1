"""The MIME structure of a stored message, by byte offsets, for IMAP's BODYSTRUCTURE and BODY[part].

Implements the parts of RFC 2045 (header fields, Content-Type and its parameters, §5.1) and
RFC 2046 (multipart with boundary delimiter lines, §5.1.1; message/rfc822, §5.2.1; the default type
of a multipart/digest part, §5.1.5) that IMAP needs to describe a message (RFC 3501 §6.4.5, §7.4.2)
without decoding it: every part is a span of the message's CRLF form, and header values are kept
raw (unfolded), since IMAP sends them as they are.  ``to_crlf`` gives that form (RFC 3501 §4.3:
sizes count CRLF line ends).

What it leaves out: content transfer decoding, RFC 2047/2231 decoding (see ``headers.summarize`` for
a decoded summary), nesting deeper than ``MAX_MIME_DEPTH`` and more than ``MAX_MIME_PARTS`` parts in
all (the rest is opaque octets).

Width: as Dovecot's ``mail_max_total_mime_parts`` (10,000), one message has at most
``MAX_MIME_PARTS`` parts in all.  Once they are used up a multipart is split no further: its last
counted child runs to the end of the multipart's body and is ``application/octet-stream``, and
multiparts and message/rfc822 parts met later are opaque; so BODYSTRUCTURE, BODY[n] and SEARCH cost
at most that many parts however many boundaries a message carries.  ``ParseCache`` weighs what it
holds by an estimate of its bytes (parts, not entries), so a few wide messages cannot fill memory.

Depth: ``parse_mime`` recurses once per level and stops at ``MAX_MIME_DEPTH``, where a part becomes
``application/octet-stream`` whatever it says, so BODYSTRUCTURE of a 10,000-deep multipart is 40
levels and then octets.  Python's ``email`` parser recurses per level without a limit (a few
hundred levels end in RecursionError): ``bounded_mime`` gives the bytes to hand it, the same
message with a ``Content-Type: application/octet-stream`` field put first in each part at the
limit, so ``email`` sees the same tree this module does.
"""
from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, field

from .headers import FIELD

__all__ = ["MAX_MIME_DEPTH", "MAX_MIME_PARTS", "MimePart", "ParseCache", "ParsedMessage", "bounded_mime", "crlf_size",
           "parse_header_block", "parse_mime", "split_params", "to_crlf"]

MAX_MIME_DEPTH = 40
MAX_MIME_PARTS = 10_000


class _Budget:
    """Parts left for one message, and where the first opaque remainder begins (for ``bounded_mime``)."""

    __slots__ = ("cut", "left")

    def __init__(self, parts: int) -> None:
        self.left = parts
        self.cut: int | None = None


# The first LF that does not follow a CR.  ``re`` finds the literal LF with a fast scan and checks
# the look-behind only there: one pass, about twice as fast as counting LFs and CRLFs (two passes).
_BARE_LF = re.compile(rb"\n(?<!\r\n)")


def to_crlf(data: bytes) -> bytes:
    """Every line end as CRLF (RFC 3501 §4.3 / X8: sizes count exactly these bytes)."""
    # Fast paths: with no CR at all every LF is bare (an LF-only Maildir file): one replace does it.
    # When every LF already follows a CR (what our MDA writes), the result is the input; one
    # scan for a bare LF costs far less than the two full copies made by the replaces below.
    if b"\r" not in data:
        return data.replace(b"\n", b"\r\n")
    if _BARE_LF.search(data) is None:
        return data
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def crlf_size(data: bytes) -> int:
    """``len(to_crlf(data))`` without building it: every LF not preceded by CR gains one octet."""
    if _BARE_LF.search(data) is None:
        return len(data)
    return len(data) + data.count(b"\n") - data.count(b"\r\n")


_FOLD = re.compile(r"\r\n(?=[ \t])")


def _unfold(value: bytes) -> str:
    text = value.decode("utf-8", "surrogateescape")
    if "\r\n" not in text:  # most fields are not folded
        return text.strip()
    return _FOLD.sub("", text).strip()


def parse_header_block(data: bytes, start: int, limit: int,
                       names: frozenset[str] | None = None) -> tuple[dict[str, str], int]:
    """Parse the header at ``data[start:limit]``; return (first value per lowercase name, body offset).

    The header ends at the first empty line; a part that has no empty line is all header.  With
    ``names`` only those (lowercase) fields are kept: the others are not decoded at all.
    """
    if data.startswith(b"\r\n", start):
        return {}, start + 2
    end = data.find(b"\r\n\r\n", start, limit)
    body = limit if end < 0 else end + 4
    hdr_end = limit if end < 0 else end + 2
    headers: dict[str, str] = {}
    if names is not None:
        # Only the fields asked for are matched at all (the Received trace and the rest are skipped
        # by the regex): the same values as below, since a field name never starts with white space.
        for m in _fields_named(names).finditer(data[start:hdr_end]):
            key = m.group(1).decode("ascii").lower()
            if key not in headers:
                headers[key] = _unfold(m.group(2))
        return headers, body
    for m in FIELD.finditer(data[start:hdr_end]):
        key = m.group(1).decode("ascii").lower()
        if key not in headers:
            headers[key] = _unfold(m.group(2))
    return headers, body


_NAMED: dict[frozenset[str], re.Pattern[bytes]] = {}


def _fields_named(names: frozenset[str]) -> re.Pattern[bytes]:
    """``FIELD`` for these (lowercase, ASCII) names only, any case; compiled once per set (few sets)."""
    pattern = _NAMED.get(names)
    if pattern is None:
        alternatives = b"|".join(re.escape(n.encode("ascii")) for n in sorted(names, key=len, reverse=True))
        pattern = re.compile(rb"(?mi)^(" + alternatives + rb")[ \t]*:(.*(?:\r?\n[ \t].*)*)")
        if len(_NAMED) < 64:
            _NAMED[names] = pattern
    return pattern


def split_params(value: str) -> tuple[str, list[tuple[str, str]]]:
    """'text/plain; charset="utf-8"' -> ("text/plain", [("charset", "utf-8")]). RFC 2045 §5.1."""
    head, _, rest = value.partition(";")
    params: list[tuple[str, str]] = []
    for m in re.finditer(r'\s*([^=;\s]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)\s*;?', rest):
        key, val = m.group(1), m.group(2).strip()
        if val.startswith('"') and val.endswith('"') and len(val) >= 2:
            val = re.sub(r"\\(.)", r"\1", val[1:-1])
        params.append((key, val))
    return head.strip(), params


@dataclass(slots=True)
class MimePart:
    """A MIME entity located by byte offsets in the CRLF form of the message.

    ``header_start``..``body_start`` is the header (with its empty line), ``body_start``..``end``
    the body. ``parts`` are the children of a multipart, ``message`` the encapsulated message of a
    message/rfc822 part. ``headers`` holds the first value of each header field (unfolded).
    """

    header_start: int
    body_start: int
    end: int
    headers: dict[str, str]
    maintype: str
    subtype: str
    params: list[tuple[str, str]]
    lines: int = 0
    parts: list[MimePart] = field(default_factory=list)
    message: MimePart | None = None

    @property
    def is_multipart(self) -> bool:
        return self.maintype == "multipart"

    @property
    def is_message(self) -> bool:
        return self.maintype == "message" and self.subtype == "rfc822"


def _count_lines(data: bytes, start: int, end: int) -> int:
    if end <= start:
        return 0
    n = data.count(b"\r\n", start, end)
    return n if data.endswith(b"\r\n", start, end) else n + 1


def parse_mime(data: bytes, start: int = 0, end: int | None = None, *, default: str = "text/plain",
               depth: int = 0, budget: _Budget | None = None) -> MimePart:
    """Build the MIME tree of ``data[start:end]`` (CRLF line ends) with byte offsets (RFC 2045/2046)."""
    end = len(data) if end is None else end
    budget = _Budget(MAX_MIME_PARTS) if budget is None else budget
    budget.left -= 1
    headers, body_start = parse_header_block(data, start, end)
    ctype, params = split_params(headers.get("content-type", "")) if "content-type" in headers else (default, [])
    maintype, _, subtype = ctype.lower().partition("/")
    if not maintype or not subtype or not re.fullmatch(r"[a-z0-9!#$&^_.+-]+", maintype + subtype):
        maintype, subtype, params = "text", "plain", [] if "content-type" in headers else params
        if "content-type" in headers:
            params = [("charset", "us-ascii")]
    part = MimePart(start, body_start, end, headers, maintype, subtype, params)
    if depth >= MAX_MIME_DEPTH or (budget.left <= 0 and maintype in ("multipart", "message")):
        part.maintype, part.subtype = "application", "octet-stream"
        return part
    if maintype == "multipart":
        boundary = dict((k.lower(), v) for k, v in params).get("boundary")
        if boundary:
            child_default = "message/rfc822" if subtype == "digest" else "text/plain"
            most = budget.left
            spans = _split_multipart(data, body_start, end, boundary.encode("utf-8", "surrogateescape"), most)
            for i, (cs, ce) in enumerate(spans):
                if budget.left <= 0 or (len(spans) > most and i == len(spans) - 1):
                    # the parts are used up: the rest of this body is one opaque part
                    budget.cut = cs if budget.cut is None else min(budget.cut, cs)
                    part.parts.append(parse_mime(data, cs, spans[-1][1], default=child_default,
                                                 depth=MAX_MIME_DEPTH, budget=budget))
                    break
                part.parts.append(parse_mime(data, cs, ce, default=child_default, depth=depth + 1, budget=budget))
        if not part.parts:  # RFC 3501 requires at least one body part; present an empty text part
            part.parts.append(MimePart(body_start, body_start, body_start, {}, "text", "plain",
                                       [("charset", "us-ascii")]))
    elif maintype == "message" and subtype == "rfc822":
        part.message = parse_mime(data, body_start, end, depth=depth + 1, budget=budget)
        part.lines = _count_lines(data, body_start, end)
    elif maintype == "text":
        part.lines = _count_lines(data, body_start, end)
    return part


def _split_multipart(data: bytes, start: int, end: int, boundary: bytes,
                     most: int = MAX_MIME_PARTS) -> list[tuple[int, int]]:
    """Offsets of each body part between "--boundary" delimiter lines (RFC 2046 §5.1.1).

    The CRLF before a delimiter belongs to the delimiter, so part bodies exclude it.  At most
    ``most`` + 1 spans: the last of them then runs to ``end`` (the uncounted rest).
    """
    delim = b"--" + boundary
    spans: list[tuple[int, int]] = []
    pos = start
    part_start: int | None = None
    while pos < end:
        idx = data.find(delim, pos, end)
        if idx < 0:
            break
        at_line_start = idx == start or data[idx - 2 : idx] == b"\r\n"
        line_end = data.find(b"\r\n", idx, end)
        line_end = end if line_end < 0 else line_end
        rest = data[idx + len(delim) : line_end]
        closing = rest.startswith(b"--")
        tail = rest[2:] if closing else rest
        if not at_line_start or tail.strip(b" \t"):
            pos = idx + len(delim)
            continue
        if part_start is not None:
            if len(spans) >= max(most, 0):
                spans.append((part_start, end))
                return spans
            part_end = idx - 2 if idx - 2 >= part_start else part_start
            spans.append((part_start, part_end))
        if closing:
            return spans
        part_start = min(line_end + 2, end)
        pos = part_start
    if part_start is not None:
        spans.append((part_start, end))
    return spans


_CONTENT_TYPE = re.compile(rb"(?im)^content-type[ \t]*:")
_OPAQUE = b"Content-Type: application/octet-stream\r\n"


def bounded_mime(data: bytes) -> bytes:
    """``data`` made safe for Python's ``email``: nesting cut at ``MAX_MIME_DEPTH`` (see above).

    ``data`` is returned as it is when it cannot be that deep (each two levels need at least one
    Content-Type field) nor that wide; the line ends of the result are CRLF.  A message with more
    than ``MAX_MIME_PARTS`` parts is cut where the uncounted rest begins (``email`` would split it).
    """
    if len(_CONTENT_TYPE.findall(data)) < MAX_MIME_DEPTH // 2 and data.count(b"\n--") < MAX_MIME_PARTS:
        return data
    data = to_crlf(data)
    budget = _Budget(MAX_MIME_PARTS)
    root = parse_mime(data, budget=budget)
    if budget.cut is not None:
        data = data[:budget.cut]
        root = parse_mime(data)
    cuts: list[int] = []
    stack = [(root, 0)]
    while stack:
        part, depth = stack.pop()
        if depth >= MAX_MIME_DEPTH:
            cuts.append(part.header_start)
            continue
        stack.extend((child, depth + 1) for child in part.parts)
        if part.message is not None:
            stack.append((part.message, depth + 1))
    if not cuts:
        return data
    pieces, last = [], 0
    for at in sorted(cuts):
        pieces += (data[last:at], _OPAQUE)
        last = at
    pieces.append(data[last:])
    return b"".join(pieces)


@dataclass(slots=True)
class ParsedMessage:
    """The cached parse of one message file: its MIME tree and room for rendered forms.

    ``rendered`` lets a protocol layer memoise what it derives (e.g. IMAP's ENVELOPE and
    BODYSTRUCTURE strings) together with the parse, under the same cache key.
    """

    size: int
    root: MimePart
    rendered: dict[str, bytes] = field(default_factory=dict)


class ParseCache:
    """The least recently used ``ParsedMessage``s by a caller's key, weighed by their estimated bytes.

    The store's key is (folder, base name, file size, mtime): a file changed in place misses.  A parse
    weighs ``PART_WEIGHT`` per MIME part (the part, its header dict and its share of rendered forms);
    the cache holds at most ``size`` entries and ``max_bytes`` of weight.
    """

    PART_WEIGHT = 1024

    def __init__(self, size: int = 50_000, max_bytes: int = 64 << 20) -> None:
        self._size = size
        self._max_bytes = max_bytes
        self.weight = 0
        self._items: OrderedDict[Hashable, tuple[ParsedMessage, int]] = OrderedDict()

    def get(self, key: Hashable) -> ParsedMessage | None:
        hit = self._items.get(key)
        if hit is None:
            return None
        self._items.move_to_end(key)
        return hit[0]

    def put(self, key: Hashable, parsed: ParsedMessage) -> None:
        old = self._items.pop(key, None)
        if old is not None:
            self.weight -= old[1]
        weight = self.PART_WEIGHT * count_parts(parsed.root)
        self._items[key] = (parsed, weight)
        self.weight += weight
        while self._items and (len(self._items) > self._size or self.weight > self._max_bytes):
            _, (_, w) = self._items.popitem(last=False)
            self.weight -= w

    def __len__(self) -> int:
        return len(self._items)


def count_parts(root: MimePart) -> int:
    """How many MIME parts a tree has (iteratively: no recursion however deep)."""
    n, stack = 0, [root]
    while stack:
        part = stack.pop()
        n += 1
        stack.extend(part.parts)
        if part.message is not None:
            stack.append(part.message)
    return n
