"""The header section of a message: where it ends, its fields, and a summary for display.

One reader of header fields (RFC 5322 §2.2: ``name ":" value``, folded lines continuing with
white space, §2.2.3) serves two purposes:

  * ``header_fields`` / ``FIELD``: the raw field values, as the MIME parser (``mime.py``) and IMAP's
    ENVELOPE need them (undecoded: IMAP sends header values as they are, RFC 3501 §7.4.2);
  * ``summarize``: what a person is shown about a message (the web's mailbox list, the SMTP and POP3
    hops on the diagram): Message-ID, From, To, Cc, Subject, Date and the Received trace, unfolded,
    with RFC 2047 encoded words decoded and raw 8-bit text read as UTF-8 (RFC 6532), trimmed to a
    sane length.  It never raises: the input may be hostile, and a summary is a display nicety
    that must not break a session.

What it leaves out: address parsing (the fields are shown as text, the browser escapes them),
RFC 2231 parameters (not in these fields), obsolete syntax beyond white space before the colon.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from email.header import decode_header, make_header

__all__ = ["FIELD", "FIELD_LIMIT", "RECEIVED_LIMIT", "RECEIVED_MAX", "HeaderSummary",
           "decode_words", "header_block", "header_fields", "summarize"]

FIELD_LIMIT = 300        # characters kept of each shown field
RECEIVED_LIMIT = 400     # characters kept of each Received field (they are long by nature)
RECEIVED_MAX = 50        # Received fields kept (a mail loop can pile up hundreds)
_RAW_LIMIT = 8 * 1024    # octets of a raw value looked at: bounds the RFC 2047 work on hostile input

# A field: a name of printable ASCII but ":" (RFC 5322 §3.6.8), optional white space before the
# colon (obsolete syntax, §4.5), then the value up to the line end plus every folded line after it.
# "." matches CR too: a value keeps the CR of its last line (``header_fields`` drops it).
FIELD = re.compile(rb"(?m)^([!-9;-~]+)[ \t]*:(.*(?:\r?\n[ \t].*)*)")
_LF_BLANK = re.compile(rb"\n\r?\n")       # where a header ends, found from its LF (``header_block``)
# The trace id the MDA writes into every message (``X-Mailflow-Trace``, among the first fields:
# mda.final_headers), looked for within the first TRACE_HEAD octets of a header.
TRACE_FIELD = re.compile(rb"(?im)^X-Mailflow-Trace:[ \t]*(m-[0-9a-f]+)[ \t]*\r?$")
TRACE_HEAD = 16384
_WORD = r"=\?[!->@-~]+\?[QqBb]\?[!->@-~]*\?="                  # RFC 2047 §2, ASCII only
_ENCODED_RUN = re.compile(rf"{_WORD}(?:\s+{_WORD})*")
_CONTROLS = {c: "\ufffd" for c in (*range(0x20), *range(0x7F, 0xA0))}   # C0, DEL, C1
_SHOWN = {b"message-id": "message_id", b"from": "from_", b"to": "to",
          b"subject": "subject", b"date": "date"}
# ``FIELD`` for the shown names only: a field name never starts with white space, so a line this
# matches is a line ``FIELD`` matches with the same name and value (the others are not looked at)
_SHOWN_FIELD = re.compile(rb"(?mi)^(message-id|from|to|subject|date)[ \t]*:(.*(?:\r?\n[ \t].*)*)")


@dataclass(frozen=True, slots=True)
class HeaderSummary:
    """The displayed fields of a header; "" for a field the header lacks."""

    message_id: str = ""
    from_: str = ""
    to: str = ""
    subject: str = ""
    date: str = ""
    received: tuple[str, ...] = ()


def header_block(content: bytes) -> bytes:
    """The header section of a message, without the empty line that ends it (RFC 5322 §2.1).

    Line ends may be CRLF or bare LF (a Maildir file written by another program).  A message
    that starts with an empty line has an empty header; one with no empty line is all header.
    """
    if content.startswith((b"\r\n", b"\n")):
        return b""
    # The first ``\r?\n\r?\n``, found from its LF: ``\r?\n\r?\n`` has no literal start, so the
    # regex engine tried every octet; the first LF followed by "\r\n" or "\n" (a literal start the
    # engine jumps to, line by line) ends the header, and the match began at the CR before that LF.
    match = _LF_BLANK.search(content)
    if match is None:
        return content
    end = match.start()
    return content[:end - 1] if end and content[end - 1] == 13 else content[:end]


def header_fields(head: bytes) -> Iterator[tuple[bytes, bytes]]:
    """(lowercase name, raw value) of each field of a header block, in order, values still folded."""
    for match in FIELD.finditer(head):
        yield match.group(1).lower(), match.group(2).rstrip(b"\r")


def summarize(head: bytes, *, received: bool = True) -> HeaderSummary:
    """The summary of a header block, or of a whole message (only its header is read).

    The first of a repeated field wins (as ``email``'s ``get`` does); Received keeps every one,
    newest first, up to ``RECEIVED_MAX``.  ``received=False``: the caller shows no trace, so the
    Received fields are not read at all (``received`` is then empty; the rest is the same).
    """
    try:
        return _summarize(header_block(head)) if received else _summarize_shown(header_block(head))
    except Exception:       # noqa: BLE001 — a display nicety: hostile input gets an empty summary
        return HeaderSummary()


def _summarize_shown(head: bytes) -> HeaderSummary:
    found: dict[str, str] = {}
    for match in _SHOWN_FIELD.finditer(head):
        key = _SHOWN[match.group(1).lower()]
        if key not in found:
            found[key] = _display(match.group(2).rstrip(b"\r"), FIELD_LIMIT, decode=True)
    return HeaderSummary(**found)


def _summarize(head: bytes) -> HeaderSummary:
    found: dict[str, str] = {}
    received: list[str] = []
    for name, value in header_fields(head):
        if name == b"received":
            if len(received) < RECEIVED_MAX:
                received.append(_display(value, RECEIVED_LIMIT, decode=False))
            continue
        key = _SHOWN.get(name)
        if key is not None and key not in found:
            found[key] = _display(value, FIELD_LIMIT, decode=True)
    return HeaderSummary(**found, received=tuple(received))


def _display(raw: bytes, limit: int, *, decode: bool) -> str:
    """Unfolded, decoded, control characters replaced, white space runs made one space, trimmed."""
    text = raw[:_RAW_LIMIT].decode("utf-8", "replace")
    if decode and "=?" in text:
        text = decode_words(text)
    text = " ".join(text.split())
    # translate() maps character by character through a dict (slow); a printable text has no C0,
    # DEL or C1 character to replace, and isprintable() says so in one pass in C
    return (text if text.isprintable() else text.translate(_CONTROLS))[:limit]


def decode_words(text: str) -> str:
    """RFC 2047 encoded words -> text, run by run, so raw UTF-8 around them stays as it is.

    Never raises: a malformed word stays as it stands (IMAP SORT uses this one decoder too)."""
    return _ENCODED_RUN.sub(_decode_run, text)


_decode_words = decode_words      # the name sorting.py imports today


def _decode_run(match: re.Match[str]) -> str:
    """One run of encoded words (the white space between them is dropped, RFC 2047 §6.2)."""
    try:
        return str(make_header(decode_header(match.group(0))))
    except Exception:       # noqa: BLE001 — HeaderParseError, LookupError, UnicodeError, …
        return match.group(0)   # a malformed word is shown as it stands


def trace_in(header: bytes) -> str | None:
    """The trace id in a message's header (:data:`TRACE_FIELD`), or None."""
    match = TRACE_FIELD.search(header, 0, TRACE_HEAD)
    return match.group(1).decode() if match is not None else None
