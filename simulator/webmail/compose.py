"""Writing a message from the page's form: checked fields in, an RFC 5322 message out.  No sockets.

Theory of operation
-------------------
``build`` takes the form as the page sends it and refuses, with a 400 naming the field, what a
header cannot carry: CR, LF or NUL in any field that becomes a header (a header injection), an
address that is not ``local@domain`` (parsed with ``email.utils.getaddresses``, each one checked),
no recipient, bad base64 (decoded strictly), more than ``MAX_ATTACHMENTS`` attachments.  A message
larger than the MSA takes is a 413, checked on the decoded attachments first and on the whole
message last.  What it writes (RFC 5322 §3.6): From (the display name and the logged-in address),
To, Cc (Bcc never appears: its addresses are only envelope recipients, §3.6.3), Subject, Date,
Message-ID in the sender's domain, ``User-Agent: Mailflow webmail``; text in UTF-8 when it is not
ASCII (RFC 2045, RFC 2047 in headers, RFC 2231 for file names), attachments in base64.

Replies and forwards (``mode`` with the ``original``'s bytes): a reply gets ``In-Reply-To`` (the
original's Message-ID) and ``References`` (the original's References, or its single In-Reply-To,
then its Message-ID: RFC 5322 §3.6.4); a forward carries the original's attachments.  ``draft``
prefills the form: a reply goes to Reply-To or else From (reply-all adds the original's other To
and Cc addresses but mine), the subject gets "Re: " or "Fwd: " once, the text is quoted.  The
draft's wording is language-neutral (header names, dates, addresses): the page words its labels.

What it leaves out: HTML composition, S/MIME, RFC 6532 (SMTPUTF8) addresses: addresses are ASCII.
"""
from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formatdate, getaddresses, make_msgid
from typing import Any

from . import read
from .errors import WebmailError

__all__ = ["MAX_ATTACHMENTS", "MAX_RECIPIENTS", "build", "check_address", "draft", "references"]

MAX_ATTACHMENTS = 20
MAX_RECIPIENTS = 100
SUBJECT_CHARS = 1000
QUOTE_CHARS = 20_000             # characters of the original quoted in a draft
REFERENCES_KEPT = 20             # message ids kept in References (the first and the latest)
USER_AGENT = "Mailflow webmail"
MODES = ("reply", "reply_all", "forward")
_ADDRESS = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$")
_MSGID = re.compile(r"<[^<>\s]{1,500}>")
_BAD = ("\r", "\n", "\0")


def _bad(field: str, what: str) -> WebmailError:
    return WebmailError(400, f"{field}: {what}", code="bad_field", field=field)


def _line(value: Any, field: str, limit: int = SUBJECT_CHARS) -> str:
    """A value that becomes (part of) a header field: text without CR, LF or NUL."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _bad(field, "not text")
    if any(c in value for c in _BAD) or any(
            c != "\t" and unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in value):
        raise _bad(field, "CR, LF, NUL or another control or line-break character is not allowed in a header field")
    if len(value) > limit:
        raise _bad(field, f"longer than {limit} characters")
    return value


def check_address(address: str, field: str = "to") -> str:
    """``local@domain`` in ASCII, no spaces, no CR/LF (RFC 5321 §4.1.2 without quoted local parts)."""
    if not isinstance(address, str) or not _ADDRESS.match(address) or ".." in address \
            or address.startswith(".") or ".@" in address:
        raise _bad(field, f"not an address: {str(address)[:100]!r}")
    return address


def _addresses(value: Any, field: str) -> list[tuple[str, str]]:
    """A comma-separated list -> [(display name, address)], each address checked.

    Each item is parsed on its own: ``getaddresses`` drops what it cannot read (``"carol@"``
    becomes nothing, ``"a@b c@d"`` becomes ``"@d"``), so an item that does not give exactly one
    good address is refused rather than silently lost."""
    text = _line(value, field, limit=10_000)
    found = []
    for item in split_list(text):
        parsed = [(n, a) for n, a in getaddresses([item]) if n or a]
        if len(parsed) != 1:
            raise _bad(field, f"not an address: {item[:100]!r}")
        name, address = parsed[0]
        found.append((name.strip(), check_address(address.strip(), field)))
    if len(found) > MAX_RECIPIENTS:
        raise _bad(field, f"more than {MAX_RECIPIENTS} addresses")
    return found


def split_list(text: str) -> list[str]:
    """Split an address list at the commas that are outside quotes, angle brackets and comments."""
    items, current, quoted, angle, comment, escaped = [], [], False, False, 0, False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\" and (quoted or comment):
            escaped = True
        elif char == '"' and not comment:
            quoted = not quoted
        elif not quoted and char == "(":
            comment += 1
        elif not quoted and char == ")" and comment:
            comment -= 1
        elif not quoted and not comment and char in "<>":
            angle = char == "<"
        elif char == "," and not (quoted or angle or comment):
            items.append("".join(current))
            current = []
            continue
        current.append(char)
    items.append("".join(current))
    return [item.strip() for item in items if item.strip()]


def _header_addresses(pairs: list[tuple[str, str]], field: str) -> list[Address]:
    out = []
    for name, address in pairs:
        local, _, domain = address.rpartition("@")
        try:
            out.append(Address(display_name=name, username=local, domain=domain))
        except (ValueError, IndexError, TypeError):
            raise _bad(field, f"not an address: {address[:100]!r}") from None
    return out


def _attachments(items: Any, max_message: int) -> list[tuple[str, str, bytes]]:
    if items is None:
        return []
    if not isinstance(items, list):
        raise _bad("attachments", "not a list")
    if len(items) > MAX_ATTACHMENTS:
        raise _bad("attachments", f"more than {MAX_ATTACHMENTS} attachments")
    out, total = [], 0
    for item in items:
        if not isinstance(item, dict):
            raise _bad("attachments", "not an attachment")
        name = _line(item.get("name") or "attachment", "attachments", limit=255)
        name = re.split(r"[/\\]", name)[-1].strip() or "attachment"
        kind = _line(item.get("type") or "application/octet-stream", "attachments", limit=255).strip().lower()
        if not _TYPE.match(kind):
            raise _bad("attachments", f"not a content type: {kind[:60]!r}")
        if kind.startswith(("multipart/", "message/")):
            kind = "application/octet-stream"     # a container cannot be a base64 leaf (RFC 2046 §5)
        data = item.get("data")
        if not isinstance(data, str):
            raise _bad("attachments", "no data")
        if len(data) * 3 // 4 > max_message:
            raise _too_large(len(data) * 3 // 4, max_message)
        try:
            content = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise _bad("attachments", f"{name[:60]!r} is not base64") from None
        total += len(content)
        if total > max_message:
            raise _too_large(total, max_message)
        out.append((name, kind, content))
    return out


def _too_large(size: int, limit: int) -> WebmailError:
    return WebmailError(413, f"the message is {size} bytes; the server takes at most {limit}", code="too_large")


# -- build -------------------------------------------------------------------------------------------
def build(sender: str, display_name: str, form: dict, *, original: bytes | None = None, mode: str | None = None,
          max_message: int) -> tuple[EmailMessage, list[str]]:
    """The message and its envelope recipients (To, Cc and Bcc, each once)."""
    if not isinstance(form, dict):
        raise _bad("form", "not an object")
    if mode is not None and (mode not in MODES or original is None):
        raise _bad("mode", "reply, reply_all or forward, with the original")
    check_address(sender, "from")
    name = _line(display_name, "name", limit=200)
    parent = read.parse(original) if original is not None and mode is not None else None
    prefill = draft(original, mode, sender) if parent is not None else {}   # type: ignore[arg-type]
    fields = {key: form.get(key, prefill.get(key)) for key in ("to", "cc", "bcc", "subject")}
    to, cc, bcc = (_addresses(fields[key], key) for key in ("to", "cc", "bcc"))
    subject = _line(fields["subject"], "subject")
    body = form.get("body", "")
    if not isinstance(body, str):
        raise _bad("body", "not text")
    if "\0" in body:
        raise _bad("body", "NUL is not allowed in a message")
    files = _attachments(form.get("attachments"), max_message)
    recipients = list(dict.fromkeys(address.lower() for _, address in [*to, *cc, *bcc]))
    if not recipients:
        raise _bad("to", "no recipient")
    if len(recipients) > MAX_RECIPIENTS:
        raise _bad("to", f"more than {MAX_RECIPIENTS} recipients")

    message = EmailMessage()
    try:
        message["From"] = _header_addresses([(name, sender)], "from")
        if to:
            message["To"] = _header_addresses(to, "to")
        if cc:
            message["Cc"] = _header_addresses(cc, "cc")
        message["Subject"] = subject
    except (ValueError, TypeError) as err:      # the email package refused a header: say which
        raise _bad("header", f"cannot be written: {err}") from None
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2])   # never asks for this host's name
    if parent is not None and mode in ("reply", "reply_all"):
        in_reply_to, refs = references(parent)
        if in_reply_to:
            message["In-Reply-To"] = in_reply_to
        if refs:
            message["References"] = refs
    message["User-Agent"] = USER_AGENT
    message.set_content(body.replace("\r\n", "\n").replace("\r", "\n"))
    for filename, kind, content in files:
        maintype, _, subtype = kind.partition("/")
        message.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
    if parent is not None and mode == "forward":
        _carry(message, parent)
    size = len(message.as_bytes(policy=SMTP_POLICY))
    if size > max_message:
        raise _too_large(size, max_message)
    return message, recipients


def references(parent: EmailMessage) -> tuple[str, str]:
    """(In-Reply-To, References) of a reply to ``parent`` (RFC 5322 §3.6.4)."""
    own = _ids(parent, "message-id")[:1]
    earlier = _ids(parent, "references")
    if not earlier:
        replied = _ids(parent, "in-reply-to")
        earlier = replied if len(replied) == 1 else []
    chain = list(dict.fromkeys([*earlier, *own]))
    if len(chain) > REFERENCES_KEPT:
        chain = chain[:1] + chain[-(REFERENCES_KEPT - 1):]
    # "the contents of the parent's References: field (if any) followed by the contents of the
    # parent's Message-ID: field (if any)" -- a parent without a Message-ID still passes its chain on
    return (own[0] if own else ""), " ".join(chain)


def _ids(message: EmailMessage, name: str) -> list[str]:
    try:
        values = message.get_all(name) or []
        return _MSGID.findall(" ".join(str(v) for v in values))
    except Exception:                 # noqa: BLE001 - a malformed field: no ids from it
        return []


def _carry(message: EmailMessage, parent: EmailMessage) -> None:
    """A forward keeps the original's attachments, as they were."""
    for index, part in read.attachment_parts(parent):
        filename, kind, content = read.part_of(index, part)
        if kind.startswith("message/"):
            inner = part.get_payload()
            inner = inner[0] if isinstance(inner, list) and inner else None
            if isinstance(inner, EmailMessage):
                message.add_attachment(inner, filename=filename)
                continue
            kind = "application/octet-stream"
        if kind.startswith("multipart/"):
            kind = "application/octet-stream"
        maintype, _, subtype = kind.partition("/")
        message.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)


# -- draft -------------------------------------------------------------------------------------------
def draft(original: bytes, mode: str, me: str) -> dict[str, str]:
    """The form prefilled for a reply, a reply to all, or a forward of ``original``."""
    if mode not in MODES:
        raise _bad("mode", "reply, reply_all or forward")
    parent = read.parse(original)
    subject = _shown(parent, "subject")
    text, _ = read.body_text(parent)
    text = text[:QUOTE_CHARS]
    if mode == "forward":
        head = "\n".join(f"{label}: {_shown(parent, label)}" for label in ("From", "Date", "Subject", "To", "Cc")
                         if _shown(parent, label))
        return {"to": "", "cc": "", "subject": _prefixed("Fwd", subject),
                "body": f"\n\n-------- -------- --------\n{head}\n\n{text}"}
    me = me.lower()
    to = _pairs(parent, "reply-to") or _pairs(parent, "from")
    cc: list[tuple[str, str]] = []
    if mode == "reply_all":
        taken = {a.lower() for _, a in to} | {me}
        for name, address in _pairs(parent, "to") + _pairs(parent, "cc"):
            if address.lower() not in taken:
                taken.add(address.lower())
                cc.append((name, address))
        if not to and cc:
            to, cc = cc[:1], cc[1:]
    quoted = "\n".join("> " + line if line else ">" for line in text.splitlines())
    who = _shown(parent, "from")
    when = _shown(parent, "date")
    return {"to": _joined(to), "cc": _joined(cc), "subject": _prefixed("Re", subject),
            "body": f"\n\n{when}, {who}:\n{quoted}\n" if (who or when) else f"\n\n{quoted}\n"}


def _shown(message: EmailMessage, name: str) -> str:
    try:
        value = message.get(name)
        return " ".join(str(value).split())[:SUBJECT_CHARS] if value is not None else ""
    except Exception:                 # noqa: BLE001
        return ""


def _pairs(message: EmailMessage, name: str) -> list[tuple[str, str]]:
    try:
        values = [str(v) for v in message.get_all(name) or []]
    except Exception:                 # noqa: BLE001
        return []
    out = []
    for display, address in getaddresses(values):
        address = address.strip()
        if _ADDRESS.match(address) and not any(c in display for c in _BAD):
            out.append((display.strip(), address))
    return out


def _joined(pairs: list[tuple[str, str]]) -> str:
    return ", ".join(str(Address(display_name=n, addr_spec=a)) if n else a for n, a in pairs)


def _prefixed(prefix: str, subject: str) -> str:
    """"Re: " or "Fwd: " once (RFC 5322 §3.6.5: "Re: " marks a reply)."""
    marks = ("re", "aw", "sv") if prefix == "Re" else ("fwd", "fw")
    if re.match(rf"^\s*(?:{'|'.join(marks)})\s*:", subject, re.IGNORECASE):
        return subject
    return f"{prefix}: {subject}"
