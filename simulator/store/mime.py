"""The MIME structure of a stored message, by byte offsets, for IMAP's BODYSTRUCTURE and BODY[part].

Implements the parts of RFC 2045 (header fields, Content-Type and its parameters, §5.1) and
RFC 2046 (multipart with boundary delimiter lines, §5.1.1; message/rfc822, §5.2.1; the default type
of a multipart/digest part, §5.1.5) that IMAP needs to describe a message (RFC 3501 §6.4.5, §7.4.2)
without decoding it: every part is a span of the message's CRLF form, and header values are kept
raw (unfolded), since IMAP sends them as they are.  ``to_crlf`` gives that form (RFC 3501 §4.3:
sizes count CRLF line ends).

What it leaves out: content transfer decoding, RFC 2047/2231 decoding (see ``headers.summarize`` for
a decoded summary), and nesting deeper than ``MAX_MIME_DEPTH`` (deeper parts are opaque octets).
"""
from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, field

from .headers import FIELD

__all__ = ["MAX_MIME_DEPTH", "MimePart", "ParseCache", "ParsedMessage", "crlf_size", "parse_header_block",
           "parse_mime", "split_params", "to_crlf"]

MAX_MIME_DEPTH = 40


def to_crlf(data: bytes) -> bytes:
    """Every line end as CRLF (RFC 3501 §4.3 / X8: sizes count exactly these bytes)."""
    # Fast paths: with no CR at all every LF is bare (an LF-only Maildir file): one replace does it.
    # When every LF already follows a CR (what our MDA writes), the result is the input; two
    # counting scans cost far less than the two full copies made by the replaces below.
    if b"\r" not in data:
        return data.replace(b"\n", b"\r\n")
    if data.count(b"\n") == data.count(b"\r\n"):
        return data
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def crlf_size(data: bytes) -> int:
    """``len(to_crlf(data))`` without building it: every LF not preceded by CR gains one octet."""
    return len(data) + data.count(b"\n") - data.count(b"\r\n")


_FOLD = re.compile(r"\r\n(?=[ \t])")


def _unfold(value: bytes) -> str:
    text = value.decode("utf-8", "surrogateescape")
    if "\r\n" not in text:  # most fields are not folded
        return text.strip()
    return _FOLD.sub("", text).strip()


def parse_header_block(data: bytes, start: int, limit: int) -> tuple[dict[str, str], int]:
    """Parse the header at ``data[start:limit]``; return (first value per lowercase name, body offset).

    The header ends at the first empty line; a part that has no empty line is all header.
    """
    if data.startswith(b"\r\n", start):
        return {}, start + 2
    end = data.find(b"\r\n\r\n", start, limit)
    body = limit if end < 0 else end + 4
    hdr_end = limit if end < 0 else end + 2
    headers: dict[str, str] = {}
    for m in FIELD.finditer(data[start:hdr_end]):
        key = m.group(1).decode("ascii").lower()
        if key not in headers:
            headers[key] = _unfold(m.group(2))
    return headers, body


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
               depth: int = 0) -> MimePart:
    """Build the MIME tree of ``data[start:end]`` (CRLF line ends) with byte offsets (RFC 2045/2046)."""
    end = len(data) if end is None else end
    headers, body_start = parse_header_block(data, start, end)
    ctype, params = split_params(headers.get("content-type", "")) if "content-type" in headers else (default, [])
    maintype, _, subtype = ctype.lower().partition("/")
    if not maintype or not subtype or not re.fullmatch(r"[a-z0-9!#$&^_.+-]+", maintype + subtype):
        maintype, subtype, params = "text", "plain", [] if "content-type" in headers else params
        if "content-type" in headers:
            params = [("charset", "us-ascii")]
    part = MimePart(start, body_start, end, headers, maintype, subtype, params)
    if depth >= MAX_MIME_DEPTH:
        part.maintype, part.subtype = "application", "octet-stream"
        return part
    if maintype == "multipart":
        boundary = dict((k.lower(), v) for k, v in params).get("boundary")
        if boundary:
            child_default = "message/rfc822" if subtype == "digest" else "text/plain"
            for cs, ce in _split_multipart(data, body_start, end, boundary.encode("utf-8", "surrogateescape")):
                part.parts.append(parse_mime(data, cs, ce, default=child_default, depth=depth + 1))
        if not part.parts:  # RFC 3501 requires at least one body part; present an empty text part
            part.parts.append(MimePart(body_start, body_start, body_start, {}, "text", "plain",
                                       [("charset", "us-ascii")]))
    elif maintype == "message" and subtype == "rfc822":
        part.message = parse_mime(data, body_start, end, depth=depth + 1)
        part.lines = _count_lines(data, body_start, end)
    elif maintype == "text":
        part.lines = _count_lines(data, body_start, end)
    return part


def _split_multipart(data: bytes, start: int, end: int, boundary: bytes) -> list[tuple[int, int]]:
    """Offsets of each body part between "--boundary" delimiter lines (RFC 2046 §5.1.1).

    The CRLF before a delimiter belongs to the delimiter, so part bodies exclude it.
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
            part_end = idx - 2 if idx - 2 >= part_start else part_start
            spans.append((part_start, part_end))
        if closing:
            return spans
        part_start = min(line_end + 2, end)
        pos = part_start
    if part_start is not None:
        spans.append((part_start, end))
    return spans


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
    """The least recently used ``ParsedMessage``s, at most ``size`` of them, by a caller's key.

    The store's key is (folder, base name, file size, mtime): a file changed in place misses.
    """

    def __init__(self, size: int = 50_000) -> None:
        self._size = size
        self._items: OrderedDict[Hashable, ParsedMessage] = OrderedDict()

    def get(self, key: Hashable) -> ParsedMessage | None:
        hit = self._items.get(key)
        if hit is not None:
            self._items.move_to_end(key)
        return hit

    def put(self, key: Hashable, parsed: ParsedMessage) -> None:
        self._items[key] = parsed
        if len(self._items) > self._size:
            self._items.popitem(last=False)
