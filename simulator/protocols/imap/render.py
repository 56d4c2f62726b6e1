"""IMAP response data built from a parsed message: ENVELOPE and BODY / BODYSTRUCTURE (RFC 3501 §7.4.2).

``render_envelope`` turns the header fields into the ENVELOPE structure (with its own RFC 5322
address-list parser, lenient the way real mail needs: groups, obsolete source routes, quoted
names); ``render_body`` turns the store's MIME tree (``MimePart``, byte offsets into the CRLF form)
into BODY or BODYSTRUCTURE; ``find_part`` and ``header_fields`` locate what a BODY[section] asks for.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

from simulator.store import MimePart, split_params

from .wire import nstring, quote


# --------------------------------------------------------------------------- addresses (ENVELOPE)

_ADDR_TOKEN = re.compile(r'\s+|"(?:[^"\\]|\\.)*"?|\((?:[^()\\]|\\.)*\)?|\[[^\]]*\]?|[<>,:;@]|[^\s"()<>,:;@\[\]]+')


def _addr_tokens(value: str) -> list[tuple[str, str]]:
    """RFC 5322 address tokens as (kind, text): "q" quoted, "s" special, "a" atom, "c" comment."""
    out = []
    for m in _ADDR_TOKEN.finditer(value):
        t = m.group(0)
        if t.isspace():
            continue
        if t.startswith("("):
            inner = t[1:-1] if t.endswith(")") and len(t) > 1 else t[1:]
            out.append(("c", re.sub(r"\\(.)", r"\1", inner).strip()))
            continue
        if t.startswith('"'):
            inner = t[1:-1] if t.endswith('"') and len(t) > 1 else t[1:]
            out.append(("q", re.sub(r"\\(.)", r"\1", inner)))
        elif t in "<>,:;@" and len(t) == 1:
            out.append(("s", t))
        else:
            out.append(("a", t))
    return out


# The common shapes, read by one regex per address: ``user@host``, ``Name Words <user@host>`` and
# ``"Quoted Name" <user@host>`` (no backslash in the quotes), separated by commas.  Anything else
# (groups, comments, source routes, domain literals, escapes, odd spacing) goes to the tokenizer;
# both give the same items (tests/test_imap_envelope_fast.py compares them on generated lists).
_ATOM = r'[^\s"\\()<>,:;@\[\]]+'
_FAST_ADDRESS = re.compile(
    r'[ \t]*(?:(?:"([^"\\\r\n]*)"|((?:' + _ATOM + r'[ \t]+)*' + _ATOM + r')?)[ \t]*<(' + _ATOM + r')@(' + _ATOM
    + r')>|(' + _ATOM + r')@(' + _ATOM + r'))[ \t]*(?:,|\Z)')


def _fast_address_list(value: str) -> list[tuple] | None:
    """``parse_address_list`` for lists of the common shapes only; None for anything else."""
    items: list[tuple] = []
    pos, end = 0, len(value)
    match = _FAST_ADDRESS.match
    while pos < end:
        m = match(value, pos)
        if m is None:
            return None
        quoted, words, mailbox, host, bare_mailbox, bare_host = m.groups()
        if mailbox is None:
            items.append(("addr", None, None, bare_mailbox, bare_host))
        else:
            if quoted is not None:
                if quoted == "@":
                    return None         # the tokenizer's phrase leaves a lone "@" out
                name = quoted
            else:
                name = " ".join(words.split()) if words else None
            items.append(("addr", name, None, mailbox, host))
        pos = m.end()
    return items


def parse_address_list(value: str) -> list[tuple]:
    """Address list -> items: ("addr", name, adl, mailbox, host) | ("group", name) | ("end",).

    Comments are dropped, except that a bare addr-spec without a display name takes the last
    comment as its name (``user@domain (Real Name)``, the old form RFC 5322 §3.4 still reads;
    Dovecot does the same, imaptest's fetch-envelope expects it).
    """
    fast = _fast_address_list(value)
    if fast is not None:
        return fast
    return _parse_address_list(value)


def _parse_address_list(value: str) -> list[tuple]:
    """``parse_address_list`` by RFC 5322 tokens: every shape."""
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
            items.append(_angle_addr(_phrase(_no_comments(phrase)), _no_comments(inner)))
            i = j + 1
            while i < len(toks) and toks[i] != ("s", ",") and toks[i] != ("s", ";"):
                i += 1  # junk after ">"
            continue
        if sep == ":" and not in_group:
            items.append(("group", _phrase(_no_comments(phrase))))
            in_group = True
            i += 1
            continue
        words = _no_comments(phrase)
        if words:
            comments = [t for k, t in phrase if k == "c" and t]
            items.append(_addr_spec(comments[-1] if comments else None, None, words))
        if sep == ";" and in_group:
            items.append(("end",))
            in_group = False
        i += 1
    if in_group:
        items.append(("end",))
    return items


def _no_comments(tokens: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [t for t in tokens if t[0] != "c"]


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


_DOT_ATOM = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+")


def _addr_spec(name: str | None, adl: str | None, tokens: list[tuple[str, str]]) -> tuple:
    text_parts = [('"%s"' % t if k == "q" and not _DOT_ATOM.fullmatch(t) else t)
                  for k, t in tokens]
    text = "".join(text_parts)
    mailbox, at, host = text.rpartition("@")
    if not at:
        mailbox, host = text, ""
    return ("addr", name, adl, mailbox, host)


def render_address_list(value: str | None) -> bytes:
    if value is None:
        return b"NIL"
    return _render_addresses(value)


@functools.lru_cache(maxsize=1024)
def _render_addresses(value: str) -> bytes:
    """One address list rendered (a pure function of the field's text, and the same few addresses
    recur in a mailbox's From, To and Cc: a 10,000-message ENVELOPE FETCH parses each once)."""
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


# The header fields ENVELOPE reads (``render_envelope``): a parse for it alone may skip the rest.
ENVELOPE_FIELDS = frozenset({"date", "subject", "from", "sender", "reply-to", "to", "cc", "bcc",
                             "in-reply-to", "message-id"})


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
