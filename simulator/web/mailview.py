"""Mailbox views for the page: the list of a user's messages and one message, read only.

The IMAP store owns its index files, so these views only read the Maildir (``new/`` and ``cur/``
of the user's INBOX).  Mail content is hostile: every string goes to the page as JSON data (the page
inserts it as text), and an HTML body is only ever served alone, by its own endpoint, under the
sandbox CSP (guard.MAIL_CSP) and shown in an ``<iframe sandbox>``.  Header fields are summarized
by the store's one header summary (:func:`simulator.store.headers.summarize`).

A delivery status notification (a bounce: RFC 6522 ``multipart/report; report-type=delivery-status``
with an RFC 3464 ``message/delivery-status`` part) is read as what it is: ``report`` in the message's
view holds the per-message fields (Reporting-MTA, Arrival-Date) and one entry per recipient
(Final-Recipient, Action, Status, Remote-MTA, Diagnostic-Code, Last-Attempt-Date, and our own
X-Mailflow-Reason when no server said anything), plus a summary of the returned message's header
(``text/rfc822-headers`` or ``message/rfc822``).  Those parts are the report, not attachments: they
are never listed as files.  The report is read by the webmail's reader
(:func:`simulator.webmail.read.delivery_report`), the one reading both views share -- as are the
text (the plain body, or the HTML body as text), the attachments and their numbering, and the HTML
body with its ``cid:`` images inlined as ``data:`` URIs (so ``img-src data:`` still suffices).

A message is read whole and its text sent page by page (``offset``/``length`` in characters,
:func:`simulator.webmail.read.text_page`); its raw source likewise (:func:`source_page`, by octets),
and whole as a download (``/raw``).  Nothing is cut.
"""
from __future__ import annotations

import re
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..store.headers import HeaderSummary, header_block, summarize
from ..webmail.errors import WebmailError
from ..webmail.read import (TEXT_LIMIT, attachment_parts, body_text, delivery_report, html, parse, part, part_of,
                            text_page)
from .context import ApiError

if TYPE_CHECKING:
    from ..runtime import MailStack

KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._,=+\-\\]{0,250}$")     # a Maildir base name, no path
HEAD_LIMIT = 64 * 1024            # octets read for a list entry
SOURCE_PAGE = 64 * 1024           # octets of the raw source in one page
LISTED = 200                      # the newest messages listed


def known_user(stack: "MailStack", address: str) -> str:
    if not stack.world.user_exists(address):
        raise ApiError(404, f"no user {address[:100]!r} in this world")
    return address.lower()


def maildir_files(stack: "MailStack", address: str) -> list[Path]:
    """The messages of a user's INBOX, oldest first (Maildir names start with the delivery time)."""
    local, _, domain = address.lower().rpartition("@")
    root = stack.config.data_dir / "mail" / domain / local
    files: list[Path] = []
    for sub in ("new", "cur"):
        folder = root / sub
        if folder.is_dir():
            files.extend(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    return sorted(files, key=lambda p: (p.name.split(".", 1)[0].zfill(12), p.name))


def find_message(stack: "MailStack", address: str, key: str) -> Path:
    address = known_user(stack, address)
    if not KEY.match(key):
        raise ApiError(400, "bad message key")
    for path in maildir_files(stack, address):
        if path.name.split(":", 1)[0] == key:
            return path
    raise ApiError(404, "no such message (POP3 may have deleted it)")


def listing(stack: "MailStack", address: str) -> dict[str, Any]:
    """``/api/mailbox/<address>``: the newest messages' summaries and the count."""
    files = maildir_files(stack, known_user(stack, address))
    return {"address": address.lower(), "messages": [_list_entry(p) for p in files[-LISTED:]],
            "count": len(files)}


_REPORT_TYPE = re.compile(rb"(?im)^content-type:[ \t]*multipart/report[ \t]*;(?:[^\n]|\n[ \t])*report-type=\"?delivery-status")


def _list_entry(path: Path) -> dict[str, Any]:
    with open(path, "rb") as handle:
        head = handle.read(HEAD_LIMIT)
    entry = _entry(path, summarize(head))
    entry["report"] = bool(_REPORT_TYPE.search(header_block(head)))     # a bounce (RFC 6522): said in the list
    return entry


def _entry(path: Path, fields: HeaderSummary) -> dict[str, Any]:
    return {"key": path.name.split(":", 1)[0], "folder": path.parent.name, "size": path.stat().st_size,
            "from": fields.from_, "to": fields.to, "subject": fields.subject, "date": fields.date}


def read_message(path: Path, *, offset: int = 0, length: int = TEXT_LIMIT) -> dict[str, Any]:
    """``/api/mailbox/<address>/<key>``: the summary, one page of the text body (``offset``,
    ``length``: characters; ``text_next`` is where the next page starts, None on the last), the
    attachments, the trace.  The whole message is read: a large one is paged, not cut."""
    data = path.read_bytes()
    fields = summarize(data)
    message = parse(data)
    text, html = body_text(message)
    page = text_page(text, offset, length)
    entry = _entry(path, fields)
    entry.update(text=page.text, text_offset=page.offset, text_next=page.next, text_total=page.total,
                 has_html=html, attachments=_attachments(message),
                 received=list(fields.received),
                 return_path=_header(message, "return-path"), delivered_to=_header(message, "delivered-to"),
                 report=delivery_report(message))
    return entry


def html_body(path: Path) -> str | None:
    """The HTML body with its ``cid:`` images inlined (the CSP sandbox makes it harmless); None if none."""
    try:
        return html(path.read_bytes())
    except Exception:
        return None


def source_page(path: Path, offset: int = 0, length: int = SOURCE_PAGE) -> dict[str, Any]:
    """``/api/mailbox/<address>/<key>/source``: the raw message from octet ``offset``, at most ``length``
    octets, ended after a line break when there is one (a page of whole lines); as text (UTF-8, an
    undecodable octet as U+FFFD), with ``next`` (the next page's offset, or None) and ``size``."""
    size = path.stat().st_size
    offset = min(max(0, offset), size)
    with open(path, "rb") as handle:
        handle.seek(offset)
        chunk = handle.read(max(1, length))
    end = offset + len(chunk)
    if end < size:
        newline = chunk.rfind(b"\n")
        if newline >= 0:
            chunk = chunk[:newline + 1]
            end = offset + len(chunk)
    return {"source": chunk.decode("utf-8", "replace"), "offset": offset, "next": end if end < size else None,
            "size": size}


def attachment(path: Path, index: int) -> tuple[str, str, bytes]:
    """(file name, type, bytes) of the listed attachment ``index`` (the webmail reader's numbering)."""
    try:
        return part(path.read_bytes(), index)
    except WebmailError as err:
        raise ApiError(err.status, err.message) from None


def _parse(data: bytes) -> EmailMessage:
    return parse(data)


def _attachments(message: EmailMessage) -> list[dict[str, Any]]:
    """The webmail reader's attachments (a delivery report's own parts are not files), with the name
    under "filename" as this view always had it."""
    listed = []
    for index, found in attachment_parts(message):
        name, kind, data = part_of(index, found)
        listed.append({"index": index, "filename": name, "type": kind, "size": len(data)})
    return listed


def _header(message: EmailMessage, name: str) -> str:
    """A trace field the summary does not carry (Return-Path, Delivered-To), as text."""
    try:
        value = message.get(name)
    except Exception:          # malformed header: show nothing rather than fail
        return ""
    return str(value)[:500] if value is not None else ""
