"""Reading one message for a person: its text, its attachments, a bounce as what it says.  No sockets.

Theory of operation
-------------------
Mail is hostile input.  Everything here returns *data* (strings, numbers, bytes): nothing is
executed or rendered.  The page inserts the strings as text; an HTML body leaves only through
:func:`html`, which the web layer serves alone under a sandbox CSP, in an ``<iframe sandbox>``.

``view(raw)`` parses with the standard ``email`` package (RFC 5322, MIME: RFC 2045-2049, RFC 2047
encoded words, RFC 2231 parameters) and gives:

  * ``text``: the first ``text/plain`` body (``get_body``, RFC 2046 §5.1.4's preference); with only
    an HTML body, a text rendering of it (tags dropped, scripts and styles with their content, link
    targets written after the link's words); one page of it -- ``TEXT_LIMIT`` characters from
    ``offset``, ended at a line break when one is near (:func:`text_page`) -- with ``text_cut``
    (more follows), ``text_offset``, ``text_next`` (where the next page starts, or None) and
    ``text_total``: a large message is read page by page, never cut;
  * ``attachments``: every leaf that is not a body and has a file name, or ``Content-Disposition:
    attachment``, or is not text; and each ``message/rfc822`` part (one file, not opened).  Each
    has an ``index``: its place in a depth-first walk of the MIME tree that does not enter
    ``message/*`` parts, so :func:`part` finds the same part in the same bytes;
  * ``report``: a delivery status notification (RFC 6522 ``multipart/report;
    report-type=delivery-status`` with an RFC 3464 ``message/delivery-status`` part) as data: the
    per-message fields (Reporting-MTA, Arrival-Date ...) and one entry per recipient
    (Final-Recipient, Action, Status with its RFC 3463 class, Remote-MTA, Diagnostic-Code ...,
    and our own X-Mailflow-Reason), plus the returned message's header summary.  Those parts are
    the report, never listed as attachments.  RFC 6533 ``message/global-delivery-status`` is read
    the same way; MDNs (RFC 8098) are plain messages;
  * ``header_lines``: every header field in order, its name as written, its value decoded.

``html(raw)`` is the HTML body with its inline images (RFC 2392 ``cid:`` URLs in ``src``,
``background``, ``poster`` and CSS ``url()``) rewritten to ``data:`` URIs of the parts whose
``Content-ID`` they name (RFC 2045 §7; :func:`inline_images`): the body stays a single document that
loads nothing, so it is still served under the strict policy (``img-src data:`` only).  Only
``image/*`` parts up to ``INLINE_IMAGE_LIMIT`` octets each and ``INLINE_TOTAL_LIMIT`` together are
inlined; a larger one stays a ``cid:`` reference (shown as a broken image; it is still listed as an
attachment and downloadable).

What it leaves out: S/MIME and PGP (shown as attachments), TNEF, ``cid:`` images in the text view,
``Content-Location`` references (RFC 2557), charset guessing beyond the declared one (undecodable
bytes become U+FFFD).
"""
from __future__ import annotations

import base64
import mimetypes
import re
from dataclasses import dataclass
from urllib.parse import unquote
from email import policy as email_policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from html.parser import HTMLParser
from typing import Any, Iterator

from ..store import bounded_mime
from ..store.headers import summarize
from .errors import WebmailError

__all__ = ["REPORT_PARTS", "RETURNED_TYPES", "STATUS_TYPES", "TEXT_LIMIT", "TextPage", "attachment_parts",
           "body_text", "delivery_report", "html", "html_to_text", "inline_images", "is_delivery_report", "parse",
           "part", "part_of", "text_page", "view"]

TEXT_LIMIT = 50_000             # characters of the text body in one page sent to the page
HTML_TEXT_LIMIT = 16 * 1024 * 1024   # characters of an HTML-only body read for its text rendering
INLINE_IMAGE_LIMIT = 2 * 1024 * 1024     # octets of one cid: image inlined as a data: URI
INLINE_TOTAL_LIMIT = 12 * 1024 * 1024    # octets of all the cid: images of one body
HEAD_LIMIT = 64 * 1024          # octets of a returned header read for its summary
ATTACHMENTS = 100               # attachments listed of one message
HEADER_LINES = 300              # header fields listed
VALUE_CHARS = 2000              # characters kept of one header value
MAX_DEPTH = 40                  # MIME nesting walked
_CONTROLS = {c: "\ufffd" for c in (*range(0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0))}   # C0 (not \t \n), DEL, C1
_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")


def parse(raw: bytes) -> EmailMessage:
    # Python's email parser recurses once per MIME level: the nesting is cut at the store's
    # MAX_MIME_DEPTH first (bounded_mime), so a 10,000-deep multipart parses like BODYSTRUCTURE shows it.
    return BytesParser(policy=email_policy.default).parsebytes(bounded_mime(raw))  # type: ignore[return-value]


# -- the view ----------------------------------------------------------------------------------------
def view(raw: bytes, *, offset: int = 0, length: int = TEXT_LIMIT) -> dict[str, Any]:
    message = parse(raw)
    text, has_html = body_text(message)
    page = text_page(text, offset, length)
    fields = summarize(raw)
    headers = {"from": _header(message, "from", fields.from_), "to": _header(message, "to", fields.to),
               "cc": _header(message, "cc", ""), "date": _header(message, "date", fields.date),
               "subject": _header(message, "subject", fields.subject),
               "message_id": _header(message, "message-id", fields.message_id)}
    return {"headers": headers, "text": page.text, "text_cut": page.next is not None, "text_offset": page.offset,
            "text_next": page.next, "text_total": page.total, "html": has_html,
            "attachments": [_listed(index, p) for index, p in attachment_parts(message)],
            "report": delivery_report(message), "header_lines": header_lines(message), "size": len(raw)}


@dataclass(frozen=True, slots=True)
class TextPage:
    """One page of a body's text: ``text`` starts at character ``offset`` of ``total``; ``next`` is
    where the following page starts (None on the last page)."""
    text: str
    offset: int
    next: int | None
    total: int


def text_page(text: str, offset: int = 0, length: int = TEXT_LIMIT) -> TextPage:
    """The page of ``text`` at ``offset``, at most ``length`` characters, ended after a line break when
    one falls in its last fifth (pages then read as whole lines); pages join back to ``text``."""
    total = len(text)
    offset = min(max(0, int(offset)), total)
    end = min(total, offset + max(1, int(length)))
    if end < total:
        newline = text.rfind("\n", offset + (end - offset) * 4 // 5, end)
        if newline >= 0:
            end = newline + 1
    return TextPage(text[offset:end], offset, end if end < total else None, total)


def body_text(message: EmailMessage) -> tuple[str, bool]:
    """The text to show (the plain body, or the HTML body as text) and whether there is an HTML body."""
    try:
        plain = message.get_body(preferencelist=("plain",))
        rich = message.get_body(preferencelist=("html",))
    except Exception as err:          # noqa: BLE001 - a broken structure is shown as such
        return f"[this message could not be decoded: {type(err).__name__}]", False
    if plain is not None:
        return _lines(_content(plain)), rich is not None
    if rich is not None:
        return html_to_text(_content(rich)), True
    return "", False


def _lines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _content(part: Message) -> str:
    try:
        return str(part.get_content())            # type: ignore[attr-defined]
    except Exception:                 # noqa: BLE001 - unknown charset, bad transfer encoding ...
        data = part.get_payload(decode=True)
        return data.decode("utf-8", "replace") if isinstance(data, bytes) else ""


def _header(message: EmailMessage, name: str, fallback: str) -> str:
    try:
        value = message.get(name)
        text = "" if value is None else str(value)
    except Exception:                 # noqa: BLE001 - a malformed field: the summary's reading
        text = fallback
    return " ".join(text.split()).translate(_CONTROLS)[:VALUE_CHARS]


def header_lines(message: EmailMessage) -> list[list[str]]:
    """[[name as written, decoded value], ...] in order."""
    out: list[list[str]] = []
    for name, raw in message.raw_items():
        try:
            value = str(message.policy.header_fetch_parse(name, raw))
        except Exception:             # noqa: BLE001 - shown undecoded
            value = str(raw)
        value = " ".join(value.split()).translate(_CONTROLS)[:VALUE_CHARS]
        out.append([str(name).translate(_CONTROLS)[:100], value])
        if len(out) == HEADER_LINES:
            break
    return out


def html(raw: bytes) -> str | None:
    """The HTML body as text (to be served only under the sandbox CSP), its ``cid:`` images made
    ``data:`` URIs; None if there is none."""
    message = parse(raw)
    try:
        part = message.get_body(preferencelist=("html",))
    except Exception:                 # noqa: BLE001
        return None
    if part is None:
        return None
    markup = _content(part)
    return with_inline_images(markup, message) if "cid:" in markup.lower() else markup


# -- inline images (RFC 2392 cid: URLs) --------------------------------------------------------------
_CID_ATTR = re.compile(r"""(?i)(\b(?:src|background|poster)\s*=\s*)(["']?)cid:([^"'\s>]*)\2""")
_CID_CSS = re.compile(r"""(?i)(url\(\s*)(["']?)cid:([^"')\s]*)\2(\s*\))""")
_IMAGE = re.compile(r"^image/[a-z0-9][a-z0-9.+-]{0,126}$")


def _content_id(part: Message) -> str:
    """A part's Content-ID without its angle brackets (RFC 2045 §7: ``<id-left@id-right>``)."""
    try:
        value = str(part.get("content-id") or "")
    except Exception:                 # noqa: BLE001 - a malformed field names nothing
        return ""
    return "".join(value.split()).strip("<>")


def inline_images(message: Message) -> dict[str, tuple[str, bytes]]:
    """Content-ID -> (image type, bytes) of the message's image parts that carry a Content-ID, within
    the limits (``INLINE_IMAGE_LIMIT`` each, ``INLINE_TOTAL_LIMIT`` together; larger ones are left out)."""
    found: dict[str, tuple[str, bytes]] = {}
    budget = INLINE_TOTAL_LIMIT
    try:
        for _index, part in _walk(message):
            kind = part.get_content_type()
            cid = _content_id(part) if _IMAGE.match(kind) else ""
            if not cid or cid in found:
                continue
            data = _data(part)
            if len(data) > INLINE_IMAGE_LIMIT or len(data) > budget:
                continue
            budget -= len(data)
            found[cid] = (kind, data)
    except Exception:                 # noqa: BLE001 - a broken structure inlines what could be read
        pass
    return found


def with_inline_images(markup: str, message: Message) -> str:
    """``markup`` with every ``cid:`` URL that names an image of ``message`` made a ``data:`` URI."""
    images = inline_images(message)
    if not images:
        return markup
    folded = {cid.lower(): value for cid, value in images.items()}
    encoded: dict[str, str] = {}

    def uri(cid_url: str) -> str | None:
        cid = unquote(cid_url).strip("<>")        # RFC 2392: the cid URL is the Content-ID, %-encoded
        image = images.get(cid) or folded.get(cid.lower())
        if image is None:
            return None
        if cid not in encoded:
            encoded[cid] = f"data:{image[0]};base64,{base64.b64encode(image[1]).decode('ascii')}"
        return encoded[cid]

    def attr(match: re.Match[str]) -> str:
        found = uri(match.group(3))
        quote = match.group(2) or '"'
        return match.group(0) if found is None else f"{match.group(1)}{quote}{found}{quote}"

    def css(match: re.Match[str]) -> str:
        found = uri(match.group(3))
        return match.group(0) if found is None else f"{match.group(1)}'{found}'{match.group(4)}"
    return _CID_CSS.sub(css, _CID_ATTR.sub(attr, markup))


# -- attachments -------------------------------------------------------------------------------------
def _walk(message: Message) -> Iterator[tuple[int, Message]]:
    """Depth-first, numbered; ``message/*`` parts are leaves (a forwarded message is one file)."""
    counter = 0
    stack: list[tuple[Message, int]] = [(message, 0)]
    while stack:
        part, depth = stack.pop()
        yield counter, part
        counter += 1
        payload = part.get_payload()
        if part.get_content_maintype() == "multipart" and isinstance(payload, list) and depth < MAX_DEPTH:
            stack.extend((sub, depth + 1) for sub in reversed(payload) if isinstance(sub, Message))


def attachment_parts(message: EmailMessage) -> list[tuple[int, Message]]:
    try:
        bodies = [message.get_body(preferencelist=(kind,)) for kind in ("plain", "html")]
    except Exception:                 # noqa: BLE001
        bodies = []
    report = is_delivery_report(message)
    found = []
    try:
        for index, part in _walk(message):
            kind = part.get_content_type()
            if any(part is body for body in bodies) or kind.startswith("multipart/"):
                continue
            if report and kind in REPORT_PARTS:
                continue          # the report itself: read by delivery_report
            if kind.startswith("message/") or _filename(part) or part.get_content_disposition() == "attachment" \
                    or part.get_content_maintype() != "text":
                found.append((index, part))
                if len(found) == ATTACHMENTS:
                    break
    except Exception:                 # noqa: BLE001 - a broken structure lists what could be read
        pass
    return found


def _filename(part: Message) -> str:
    try:
        name = part.get_filename() or ""
    except Exception:                 # noqa: BLE001
        name = ""
    name = re.split(r"[/\\]", str(name))[-1]
    return "".join(c for c in name if c.isprintable()).strip()[:200]


def _name(index: int, part: Message) -> str:
    name = _filename(part)
    if name and name not in (".", ".."):
        return name
    kind = _type(part)
    ext = ".eml" if kind.startswith("message/") else (mimetypes.guess_extension(kind, strict=False) or ".bin")
    return f"part-{index}{ext}"


def _type(part: Message) -> str:
    kind = part.get_content_type()
    return kind if _TYPE.match(kind) else "application/octet-stream"


def _data(part: Message) -> bytes:
    if part.get_content_maintype() == "message":
        payload = part.get_payload()
        inner = payload[0] if isinstance(payload, list) and payload else payload
        try:
            if isinstance(inner, Message):
                return inner.as_bytes(policy=email_policy.SMTP)
        except Exception:             # noqa: BLE001
            pass
        data = part.get_payload(decode=True)
        return data if isinstance(data, bytes) else str(payload or "").encode("utf-8", "replace")
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


def _listed(index: int, part: Message) -> dict[str, Any]:
    return {"index": index, "name": _name(index, part), "type": _type(part), "size": len(_data(part))}


def part(raw: bytes, index: int) -> tuple[str, str, bytes]:
    """(file name, content type, decoded bytes) of the attachment numbered ``index``; 404 otherwise."""
    if not isinstance(index, int) or isinstance(index, bool):
        raise WebmailError(400, "bad attachment index", code="bad_field", field="index")
    for number, found in attachment_parts(parse(raw)):
        if number == index:
            return part_of(number, found)
    raise WebmailError(404, "no such attachment", code="no_attachment")


def part_of(index: int, found: Message) -> tuple[str, str, bytes]:
    """(file name, content type, decoded bytes) of one part that ``attachment_parts`` listed."""
    return _name(index, found), _type(found), _data(found)


# -- HTML as text ------------------------------------------------------------------------------------
class _Text(HTMLParser):
    SKIP = {"script", "style", "head", "title", "template", "noscript", "svg", "object", "iframe"}
    BLOCK = {"p", "div", "br", "tr", "li", "ul", "ol", "table", "h1", "h2", "h3", "h4", "h5", "h6",
             "blockquote", "pre", "hr", "section", "article", "header", "footer", "dt", "dd"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skipping = 0
        self.links: list[tuple[str, int]] = []      # (href, position in out) of open <a>

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self.skipping += 1
        elif tag in self.BLOCK:
            self.out.append("\n- " if tag == "li" else "\n")
        elif tag == "a":
            href = dict(attrs).get("href") or ""
            self.links.append((href, len(self.out)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.BLOCK:
            self.out.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in self.BLOCK:
            self.out.append("\n")
        elif tag == "a" and self.links:
            href, start = self.links.pop()
            words = "".join(self.out[start:]).strip()
            if href and href.strip() != words and not href.startswith("#"):
                self.out.append(f" <{href.strip()[:500]}>")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.out.append(data)


def html_to_text(markup: str) -> str:
    parser = _Text()
    try:
        parser.feed(markup[:HTML_TEXT_LIMIT])
        parser.close()
    except Exception:                 # noqa: BLE001 - html.parser is lenient; keep what was read
        pass
    lines = [" ".join(line.split()) for line in _lines("".join(parser.out)).split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip().translate(_CONTROLS)


# -- delivery status notifications (RFC 3464, RFC 6522) ---------------------------------------------
STATUS_TYPES = ("message/delivery-status", "message/global-delivery-status")      # RFC 3464, RFC 6533
RETURNED_TYPES = ("text/rfc822-headers", "message/rfc822", "message/global", "message/global-headers")
REPORT_PARTS = STATUS_TYPES + RETURNED_TYPES
REPORT_RECIPIENTS = 100          # recipients read from one report
FIELD_CHARS = 1000               # characters kept of one field (a Diagnostic-Code may be long)
# RFC 3464 §2.2 (per message) and §2.3 (per recipient): the fields shown, by their JSON names
_PER_MESSAGE = {"reporting-mta": "reporting_mta", "dsn-gateway": "dsn_gateway",
                "received-from-mta": "received_from_mta", "arrival-date": "arrival_date",
                "original-envelope-id": "envelope_id"}
_PER_RECIPIENT = {"final-recipient": "final_recipient", "original-recipient": "original_recipient",
                  "action": "action", "status": "status", "remote-mta": "remote_mta",
                  "diagnostic-code": "diagnostic_code", "last-attempt-date": "last_attempt_date",
                  "will-retry-until": "will_retry_until", "x-mailflow-reason": "reason"}


def is_delivery_report(message: Message) -> bool:
    return (message.get_content_type() == "multipart/report"
            and str(message.get_param("report-type", "")).lower() == "delivery-status")


def delivery_report(message: Message) -> dict[str, Any] | None:
    """A DSN's report as data (None for any other message): who could not be reached, which status,
    what the remote server said, who reports it, and the returned message's header summary."""
    try:
        if not is_delivery_report(message):
            return None
        status = returned = None
        parts = message.get_payload()
        for sub in parts if isinstance(parts, list) else []:
            kind = sub.get_content_type()
            if kind in STATUS_TYPES and status is None:
                status = sub
            elif kind in RETURNED_TYPES and returned is None:
                returned = sub
        blocks = _status_blocks(status) if status is not None else []
        head = blocks[0] if blocks else {}
        report: dict[str, Any] = {"type": "delivery-status"}
        report.update({name: _field(head, key) for key, name in _PER_MESSAGE.items()})
        for name in ("reporting_mta", "dsn_gateway", "received_from_mta"):
            report[name] = _typed(report[name])[1]           # "dns; smtp.alpha.test" -> the name
        report["recipients"] = [_recipient(block) for block in blocks[1:REPORT_RECIPIENTS + 1]]
        report["returned"] = _returned(returned) if returned is not None else None
        return report
    except Exception:                 # noqa: BLE001 - a broken report is shown as a plain message
        return None


def _status_blocks(part: Message) -> list[dict[str, str]]:
    """The field blocks of a delivery-status part (RFC 3464 §2.1: blank-line separated groups)."""
    payload = part.get_payload()
    if isinstance(payload, list):       # the parser already split the blocks into messages
        return [{k.lower(): str(v) for k, v in block.items()} for block in payload]
    raw = part.get_payload(decode=True) or str(payload or "").encode("utf-8", "replace")
    text = raw.decode("utf-8", "replace").replace("\r\n", "\n")
    blocks: list[dict[str, str]] = []
    for chunk in text.split("\n\n"):
        fields: dict[str, str] = {}
        last = ""
        for line in chunk.split("\n"):
            if line[:1] in (" ", "\t") and last:
                fields[last] += " " + line.strip()
            elif ":" in line:
                name, _, value = line.partition(":")
                last = name.strip().lower()
                fields[last] = value.strip()
        if fields:
            blocks.append(fields)
    return blocks


def _field(block: dict[str, str], name: str) -> str:
    return " ".join(str(block.get(name, "")).split())[:FIELD_CHARS]


def _typed(value: str) -> tuple[str, str]:
    """``"smtp; 550 5.1.1 ..."`` -> ("smtp", "550 5.1.1 ..."): RFC 3464's type ";" value fields."""
    kind, sep, rest = value.partition(";")
    return (kind.strip().lower(), rest.strip()) if sep and kind.strip().isalnum() else ("", value.strip())


def _recipient(block: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {name: _field(block, key) for key, name in _PER_RECIPIENT.items()}
    for name in ("final_recipient", "original_recipient", "remote_mta", "diagnostic_code"):
        kind, value = _typed(out[name])
        out[name] = value
        out[f"{name}_type"] = kind
    status = out["status"].split(" ", 1)[0]
    out["status"] = status
    out["class"] = {"2": "success", "4": "transient", "5": "permanent"}.get(status[:1], "")   # RFC 3463 §3.1
    return out


def _returned(part: Message) -> dict[str, Any]:
    """The returned message (its header section only, RFC 6522 §4, or the whole message)."""
    if part.get_content_type() in ("message/rfc822", "message/global"):
        inner = part.get_payload()
        inner = inner[0] if isinstance(inner, list) and inner else inner
        data = inner.as_bytes() if hasattr(inner, "as_bytes") else b""
        whole = True
    else:
        data = part.get_payload(decode=True) or b""
        whole = False
    fields = summarize(data[:HEAD_LIMIT])
    return {"whole": whole, "from": fields.from_, "to": fields.to, "subject": fields.subject,
            "date": fields.date, "message_id": fields.message_id}
