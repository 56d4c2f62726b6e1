"""Content-Transfer-Encoding both ways, for IMAP BINARY (RFC 3516) over the store's MIME tree.

Theory of operation
  ``decode(body, cte)`` turns a part's body into its octets (RFC 2045 §6): 7bit, 8bit and binary
  (and no field at all) are the octets themselves; base64 (§6.8) ignores every character outside
  its alphabet and stops at the padding; quoted-printable (§6.7) drops the white space that ends a
  line (rule 3), joins soft line breaks ("=" at the end, rule 5), decodes "=XX" and keeps any other
  "=" as it stands (the robust reading §6.7 recommends), line breaks staying CRLF.  Any other
  encoding raises ``UnknownCte`` (IMAP answers ``NO [UNKNOWN-CTE]``, RFC 3516 §4.3).

  ``encode_binary_parts(message)`` is the other way, for APPEND of a literal8 (RFC 3516 §4.4): every
  leaf part whose Content-Transfer-Encoding is "binary" or whose body holds a NUL is rewritten as
  base64 (76-character lines), with its field changed or added, so the stored message is valid
  RFC 5322 text (BODY[...] never carries a NUL) while BINARY[...] still gives the exact octets.
  Parts are found with ``mime.parse_mime`` on the octets as sent: binary bodies keep their bare LFs,
  which is why this runs before the store turns line ends into CRLF.

What it leaves out: x-uuencode and other non-standard encodings (UNKNOWN-CTE).
"""
from __future__ import annotations

import base64
import binascii
import re

from .mime import MimePart, parse_mime, to_crlf

__all__ = ["UnknownCte", "decode", "encode_binary_parts", "transfer_encoding"]

IDENTITY = ("", "7bit", "8bit", "binary")
_B64_JUNK = re.compile(rb"[^A-Za-z0-9+/]")
_QP_ESCAPE = re.compile(rb"=([0-9A-Fa-f]{2})")
_LINE_END = re.compile(rb"\r\n|\n")


class UnknownCte(ValueError):
    """A Content-Transfer-Encoding this server cannot decode."""


def transfer_encoding(part: MimePart) -> str:
    return (part.headers.get("content-transfer-encoding") or "").strip().lower()


def decode(body: bytes, cte: str) -> bytes:
    """The octets of a part's body under its Content-Transfer-Encoding (lower case, "" for none)."""
    if cte in IDENTITY:
        return body
    if cte == "base64":
        return _base64(body)
    if cte == "quoted-printable":
        return _quoted_printable(body)
    raise UnknownCte(cte)


def _base64(body: bytes) -> bytes:
    head, _, _ = body.partition(b"=")                      # padding ends the data
    clean = _B64_JUNK.sub(b"", head)
    clean = clean[: len(clean) - len(clean) % 4 if len(clean) % 4 == 1 else len(clean)]
    try:
        return base64.b64decode(clean + b"=" * (-len(clean) % 4))
    except (binascii.Error, ValueError):
        return b""


def _quoted_printable(body: bytes) -> bytes:
    out: list[bytes] = []
    lines = _LINE_END.split(body)
    for i, line in enumerate(lines):
        line = line.rstrip(b" \t")
        last = i == len(lines) - 1
        if line.endswith(b"="):
            out.append(_unescape(line[:-1]))
            continue
        out.append(_unescape(line))
        if not last:
            out.append(b"\r\n")
    return b"".join(out)


def _unescape(line: bytes) -> bytes:
    return _QP_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), line)


# --------------------------------------------------------------------------- APPEND of a literal8

def _needs_base64(data: bytes, part: MimePart) -> bool:
    return transfer_encoding(part) == "binary" or b"\0" in data[part.body_start:part.end]


def _leaves(root: MimePart) -> list[MimePart]:
    out, stack = [], [root]
    while stack:
        part = stack.pop()
        if part.parts:
            stack.extend(part.parts)
        elif part.message is not None:
            stack.append(part.message)
        else:
            out.append(part)
    return sorted(out, key=lambda p: p.header_start)


def encode_binary_parts(data: bytes) -> bytes:
    """``data`` with every binary leaf part re-encoded as base64 (see above); unchanged if none.

    A message whose header ends in a bare LF blank line (an LF-only literal8) gets CRLF line ends
    first: the MIME structure is read in CRLF form, and a part parsed as all header would keep its
    NULs under a "base64" label.  A NUL that is still there afterwards sits in a header (no body
    holds one now); the store refuses such a message (``MailStore.append``).
    """
    first_lf, first_crlf = data.find(b"\n\n"), data.find(b"\r\n\r\n")
    if first_crlf < 0 or 0 <= first_lf < first_crlf:
        data = to_crlf(data)
    edits: list[tuple[int, int, bytes]] = []           # (start, end, replacement), in order
    for part in _leaves(parse_mime(data)):
        if not _needs_base64(data, part):
            continue
        header = _with_base64_field(data[part.header_start:part.body_start])
        encoded = base64.encodebytes(data[part.body_start:part.end]).replace(b"\n", b"\r\n")
        edits.append((part.header_start, part.end, header + encoded))
    if not edits:
        return data
    pieces, last = [], 0
    for start, end, replacement in edits:
        pieces += (data[last:start], replacement)
        last = end
    pieces.append(data[last:])
    return b"".join(pieces)


_CTE_FIELD = re.compile(rb"(?im)^content-transfer-encoding[ \t]*:.*(?:\r?\n[ \t].*)*\r?\n")


def _with_base64_field(header: bytes) -> bytes:
    """The part's header block with Content-Transfer-Encoding: base64 (changed, or added first)."""
    field = b"Content-Transfer-Encoding: base64\r\n"
    if _CTE_FIELD.search(header):
        return _CTE_FIELD.sub(lambda m: field, header, count=1)
    return field + header
