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
(:func:`simulator.webmail.read.delivery_report`), the one reading both views share.
"""
from __future__ import annotations

import re
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..store.headers import HeaderSummary, header_block, summarize
from ..webmail.read import REPORT_PARTS, delivery_report, is_delivery_report, parse
from .context import ApiError

if TYPE_CHECKING:
    from ..runtime import MailStack

KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._,=+\-\\]{0,250}$")     # a Maildir base name, no path
HEAD_LIMIT = 64 * 1024            # octets read for a list entry
MESSAGE_LIMIT = 5 * 1024 * 1024   # octets read for one message
TEXT_LIMIT = 50_000               # characters of the text body sent to the page
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


def read_message(path: Path) -> dict[str, Any]:
    """``/api/mailbox/<address>/<key>``: the summary, the text body, attachments, the trace."""
    data = path.read_bytes()[:MESSAGE_LIMIT]
    fields = summarize(data)
    message = _parse(data)
    text, html = _text_body(message)
    entry = _entry(path, fields)
    entry.update(text=text, has_html=html, attachments=_attachments(message),
                 received=list(fields.received),
                 return_path=_header(message, "return-path"), delivered_to=_header(message, "delivered-to"),
                 report=delivery_report(message))
    return entry


def html_body(path: Path) -> str | None:
    """The HTML body, as it is (the CSP sandbox makes it harmless); None if there is none."""
    try:
        part = _parse(path.read_bytes()[:MESSAGE_LIMIT]).get_body(preferencelist=("html",))
        return None if part is None else str(part.get_content())
    except Exception:
        return None


def _parse(data: bytes) -> EmailMessage:
    return parse(data)


def _text_body(message: EmailMessage) -> tuple[str, bool]:
    """The plain-text body (trimmed) and whether there is an HTML body."""
    try:
        part = message.get_body(preferencelist=("plain",))
        text = part.get_content()[:TEXT_LIMIT] if part is not None else ""
        return text, message.get_body(preferencelist=("html",)) is not None
    except Exception as err:           # a broken MIME structure is shown as such
        return f"[this message could not be decoded: {err}]", False


def _attachments(message: EmailMessage) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    report = is_delivery_report(message)
    try:
        for part in message.iter_attachments():
            if report and part.get_content_type() in REPORT_PARTS:
                continue                # the report itself: shown as one (delivery_report)
            found.append({"filename": str(part.get_filename() or "")[:200], "type": part.get_content_type(),
                          "size": len(part.get_payload(decode=True) or b"")})
            if len(found) == 50:
                break
    except Exception:                  # a broken structure lists what could be read
        pass
    return found


def _header(message: EmailMessage, name: str) -> str:
    """A trace field the summary does not carry (Return-Path, Delivered-To), as text."""
    try:
        value = message.get(name)
    except Exception:          # malformed header: show nothing rather than fail
        return ""
    return str(value)[:500] if value is not None else ""
