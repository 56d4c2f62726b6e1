"""FETCH (RFC 3501 §6.4.5; MODSEQ, RFC 7162 §3.1.4.1; BINARY, BINARY.PEEK and BINARY.SIZE,
RFC 3516 §4.2): the fetch items parsed, and each item answered by a function of a table.

``parse_fetch_atts`` reads the item list (macros ALL / FAST / FULL, BODY[section]<partial>);
``ITEMS`` maps each item to the function that renders it for one message; ``fetch_response``
joins the results into one ``* n FETCH (...)`` line, copying a message body once.
``FetchedMessage`` loads a message's bytes and parse lazily, so ``FETCH 1:* (UID FLAGS)`` reads no
file, and records what the answer did (a body sent, ``\\Seen`` to be set).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from simulator.store import ParsedMessage, StoreError
from simulator.store.transfer import UnknownCte, decode, transfer_encoding

from .mailbox import Mailbox, MessageData
from .render import ENVELOPE_FIELDS, find_part, header_fields, render_body, render_envelope
from .wire import Atom, ParseError, format_internaldate


class UnknownTransferEncoding(StoreError):
    """BINARY of a part whose Content-Transfer-Encoding we cannot decode: NO [UNKNOWN-CTE]."""

    def __str__(self) -> str:
        return f"[UNKNOWN-CTE] Cannot decode Content-Transfer-Encoding {self.args[0][:40]!r}"


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
                "BODY", "BODYSTRUCTURE", "UID", "MODSEQ"}
_BODY_ATT = re.compile(r"^(BODY|BODY\.PEEK)\[([^\]]*)\](?:<(\d+)\.(\d+)>)?$", re.IGNORECASE)
_BINARY_ATT = re.compile(r"^(BINARY|BINARY\.PEEK|BINARY\.SIZE)\[((?:[1-9]\d*)(?:\.[1-9]\d*)*)?\]"
                         r"(?:<(\d+)\.(\d+)>)?$", re.IGNORECASE)
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


def _partial_spec(m: re.Match[str]) -> tuple[int, int] | None:
    """``<origin.count>`` of BODY[...] or BINARY[...] (groups 3 and 4 of their patterns), if given."""
    return (int(m.group(3)), int(m.group(4))) if m.group(3) is not None else None


def _parse_binary_att(m: re.Match[str]) -> FetchAtt:
    """BINARY[part]<partial>, BINARY.PEEK[...], BINARY.SIZE[part] (RFC 3516 §4.2: part numbers only)."""
    kind, nums = m.group(1).upper(), m.group(2) or ""
    if kind == "BINARY.SIZE" and m.group(3) is not None:
        raise ParseError("BINARY.SIZE takes no partial")
    partial = _partial_spec(m)
    parts = tuple(int(x) for x in nums.split(".")) if nums else ()
    name = "BINARY.SIZE[]" if kind == "BINARY.SIZE" else "BINARY[]"
    return FetchAtt(name, nums, kind == "BINARY.PEEK", partial, parts)


def _parse_body_att(text: str) -> FetchAtt:
    binary = _BINARY_ATT.match(text)
    if binary:
        return _parse_binary_att(binary)
    m = _BODY_ATT.match(text)
    if not m:
        raise ParseError(f"Unknown fetch attribute {text[:40]!r}")
    peek = m.group(1).upper() == "BODY.PEEK"
    section_text = m.group(2).strip()
    partial = _partial_spec(m)
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


# --------------------------------------------------------------------------- one message, answered


class FetchedMessage:
    """One message of a FETCH: its data loaded on first use; ``seen`` and ``bodies`` record what
    the answer did (RFC 3501 §6.4.5: BODY[...] without PEEK, RFC822 and RFC822.TEXT set \\Seen)."""

    __slots__ = ("mailbox", "folder", "uid", "flags_text", "info", "seen", "bodies", "_raw", "_parsed")

    def __init__(self, mailbox: Mailbox, folder: str, uid: int, flags_text: Callable[[int], str]) -> None:
        self.mailbox, self.folder, self.uid, self.flags_text = mailbox, folder, uid, flags_text
        self.info: MessageData | None = None
        self.seen = False
        self.bodies = 0
        self._raw: bytes | None = None
        self._parsed: ParsedMessage | None = None

    def meta(self) -> MessageData:
        """The message's record (size, INTERNALDATE, mod-sequence), read on first use: after the items
        that read the file, so that a size counted on the way is not counted twice."""
        if self.info is None:
            self.info = self.mailbox.message_info(self.folder, self.uid)
        return self.info

    def raw(self) -> bytes:
        if self._raw is None:
            self._raw = self.mailbox.read_message(self.folder, self.uid)
        return self._raw

    def parsed(self) -> ParsedMessage:
        if self._parsed is None:
            self._parsed = self.mailbox.parsed(self.folder, self.uid)
        return self._parsed

    def rendered(self, key: str, render: Callable[[ParsedMessage], bytes], *,
                 headers_only: bool | frozenset[str] = False) -> bytes:
        """ENVELOPE / BODY / BODYSTRUCTURE: kept by the store across restarts when it can
        (``MailStore.rendered``), else memoised with its parse of the message.  ``key`` carries the
        renderer's version: change it when the rendering changes."""
        keep = getattr(self.mailbox, "rendered", None)
        if keep is not None:
            return keep(self.folder, self.uid, key, render, headers_only=headers_only)
        p = self.parsed()
        if key not in p.rendered:
            p.rendered[key] = render(p)
        return p.rendered[key]


def needs_info(atts: Sequence[FetchAtt]) -> bool:
    """Whether a FETCH reads the message record: for INTERNALDATE / RFC822.SIZE, and as the "is it
    still there?" check when nothing else touches the store (BODY.PEEK[] alone: read_message checks)."""
    return (any(a.name in ("INTERNALDATE", "RFC822.SIZE", "MODSEQ") for a in atts)
            or all(a.name in ("UID", "FLAGS") for a in atts))


_RECORD_ITEMS = frozenset({"UID", "FLAGS", "INTERNALDATE", "RFC822.SIZE", "MODSEQ"})


def file_first(atts: Sequence[FetchAtt]) -> list[int]:
    """Indexes of ``atts`` with the items that may read the message file first: the store counts a
    new file's size as it reads it, so RFC822.SIZE after ENVELOPE or BODY[] reads nothing more."""
    return sorted(range(len(atts)), key=lambda i: atts[i].name in _RECORD_ITEMS)


Part = bytes | tuple[bytes, bytes] | tuple[bytes, bytes, bool]   # (label, data[, literal8]): a literal


def _uid(m: FetchedMessage, att: FetchAtt) -> Part:
    return b"UID %d" % m.uid


def _flags(m: FetchedMessage, att: FetchAtt) -> Part:
    return b"FLAGS (" + m.flags_text(m.uid).encode() + b")"


def _internaldate(m: FetchedMessage, att: FetchAtt) -> Part:
    return b'INTERNALDATE "' + format_internaldate(m.meta().internaldate).encode() + b'"'


def _size(m: FetchedMessage, att: FetchAtt) -> Part:
    return b"RFC822.SIZE %d" % m.meta().size


def _modseq(m: FetchedMessage, att: FetchAtt) -> Part:
    """MODSEQ (RFC 7162 §3.1.4.1): the mod-sequence of the message's last change."""
    return b"MODSEQ (%d)" % m.meta().modseq


# Keys of the rendered forms the store keeps (``mailflow-cache``): bump the number whenever
# render.py changes what it produces, so that no form made by older code is served.
ENVELOPE_KEY, BODY_KEY, BODYSTRUCTURE_KEY = "envelope.1", "body.1", "bodystructure.1"


def _envelope(m: FetchedMessage, att: FetchAtt) -> Part:
    return b"ENVELOPE " + m.rendered(ENVELOPE_KEY, lambda p: render_envelope(p.root.headers),
                                     headers_only=ENVELOPE_FIELDS)


def _body(m: FetchedMessage, att: FetchAtt) -> Part:
    return b"BODY " + m.rendered(BODY_KEY, lambda p: render_body(p.root, extended=False))


def _bodystructure(m: FetchedMessage, att: FetchAtt) -> Part:
    return b"BODYSTRUCTURE " + m.rendered(BODYSTRUCTURE_KEY, lambda p: render_body(p.root, extended=True))


def _rfc822(m: FetchedMessage, att: FetchAtt) -> Part:
    m.seen, m.bodies = True, 1
    return (b"RFC822 ", m.raw())


def _rfc822_header(m: FetchedMessage, att: FetchAtt) -> Part:
    data = m.raw()
    root = m.parsed().root
    return (b"RFC822.HEADER ", data[root.header_start:root.body_start])


def _rfc822_text(m: FetchedMessage, att: FetchAtt) -> Part:
    data = m.raw()
    root = m.parsed().root
    m.seen, m.bodies = True, 1
    return (b"RFC822.TEXT ", data[root.body_start:])


def _partial(label: bytes, data: bytes | None, att: FetchAtt) -> tuple[bytes, bytes | None]:
    """A partial fetch (RFC 3501 §6.4.5 ``<origin.count>``, RFC 3516 §4.2 for BINARY): the label
    names the origin (``BODY[]<0>``), the octets are cut to at most ``count`` from ``origin``
    (nothing when the origin lies past the end); without one both are as given."""
    if att.partial is None:
        return label, data
    origin, count = att.partial
    return label + b"<%d>" % origin, None if data is None else data[origin:origin + count]


def _body_section(m: FetchedMessage, att: FetchAtt) -> Part:
    """BODY[section]<partial> and BODY.PEEK[...]; a part that does not exist is NIL."""
    assert att.section is not None
    if not att.parts and att.specifier == "":
        data: bytes | None = m.raw()           # BODY[]: the whole message, no parse needed
    else:
        data = section(m.raw(), m.parsed(), att)
    label, data = _partial(b"BODY[" + att.section.encode("utf-8", "surrogateescape") + b"]", data, att)
    if not att.peek:
        m.seen = True
    if att.specifier in ("", "TEXT") or att.parts:
        m.bodies = 1
    return label + b" NIL" if data is None else (label + b" ", data)


def _binary_data(m: FetchedMessage, att: FetchAtt) -> bytes | None:
    """The decoded octets of BINARY[part] (RFC 3516 §4.2), None for a part that does not exist.

    BINARY[] is the whole message; a multipart or message/rfc822 part is given as it is (there is
    nothing to decode); a leaf is decoded from its Content-Transfer-Encoding (``UnknownCte``)."""
    data, root = m.raw(), m.parsed().root
    if not att.parts:
        return data
    node = find_part(root, att.parts)
    if node is None:
        return None
    body = data[node.body_start:node.end]
    if node.is_multipart or node.is_message:
        return body
    try:
        return decode(body, transfer_encoding(node))
    except UnknownCte as exc:
        raise UnknownTransferEncoding(str(exc)) from None


def _binary(m: FetchedMessage, att: FetchAtt) -> Part:
    """BINARY[part]<partial> and BINARY.PEEK: a literal8 when the octets hold a NUL (RFC 3516 §4.2)."""
    data = _binary_data(m, att)
    label, data = _partial(b"BINARY[" + (att.section or "").encode() + b"]", data, att)
    if not att.peek:
        m.seen = True
    m.bodies = 1
    if data is None:
        return label + b" NIL"
    return (label + b" ", data, b"\0" in data)


def _binary_size(m: FetchedMessage, att: FetchAtt) -> Part:
    data = _binary_data(m, att)
    return b"BINARY.SIZE[" + (att.section or "").encode() + b"] %d" % (len(data) if data is not None else 0)


ITEMS: dict[str, Callable[[FetchedMessage, FetchAtt], Part]] = {
    "UID": _uid, "FLAGS": _flags, "INTERNALDATE": _internaldate, "RFC822.SIZE": _size,
    "ENVELOPE": _envelope, "BODY": _body, "BODYSTRUCTURE": _bodystructure, "RFC822": _rfc822,
    "RFC822.HEADER": _rfc822_header, "RFC822.TEXT": _rfc822_text, "BODY[]": _body_section, "MODSEQ": _modseq,
    "BINARY[]": _binary, "BINARY.SIZE[]": _binary_size,
}


def section(data: bytes, parsed: ParsedMessage, att: FetchAtt) -> bytes | None:
    """The octets of BODY[section] (RFC 3501 §6.4.5), or None if the part does not exist."""
    root = parsed.root
    node = root if not att.parts else find_part(root, att.parts)
    if node is None:
        return None
    spec = att.specifier
    if spec == "":
        return data if not att.parts else data[node.body_start:node.end]
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


def fetch_response(seq: int, parts: list[Part]) -> bytes:
    """``* seq FETCH (...)`` (RFC 3501 §7.4.2) in one join: a message body is copied once, not per layer.

    A ``(label, data)`` part becomes ``label {len}CRLF data`` (a literal, §4.3); ``(label, data, True)``
    a literal8, ``label ~{len}CRLF data`` (RFC 3516 §4.2).
    """
    pieces = [b"* %d FETCH (" % seq]
    for i, part in enumerate(parts):
        if i:
            pieces.append(b" ")
        if isinstance(part, tuple):
            tilde = b"~" if len(part) == 3 and part[2] else b""  # type: ignore[misc]
            pieces += (part[0], tilde + b"{%d}\r\n" % len(part[1]), part[1])
        else:
            pieces.append(part)
    pieces.append(b")\r\n")
    return b"".join(pieces)


def item_names(atts: Sequence[FetchAtt]) -> tuple[str, ...]:
    """The items asked for, as on the wire, sorted and without repeats (for the fact)."""
    return tuple(sorted({a.name if a.section is None else a.name.replace("[]", f"[{a.section}]") for a in atts}))
