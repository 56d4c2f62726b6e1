"""What the webmail asks of an IMAP server, on a logged-in ``imaplib`` client, and how it reads the answers.

Theory of operation
-------------------
Messages are named by their UIDs (RFC 3501 §2.3.1.1): ``UID FETCH``, ``UID STORE``, ``UID MOVE``
(RFC 6851) and ``UID EXPUNGE`` (RFC 4315 UIDPLUS), so an id in the page stays valid while other
clients add or expunge messages.  Folders come from ``LIST "" "*"`` with their RFC 6154 special-use
attributes (``\\Sent``, ``\\Trash`` ...), counts from ``STATUS (MESSAGES UNSEEN)`` (§6.3.10).  A folder
name goes on the wire in modified UTF-7 (§5.1.3) as a quoted string.  Listing a folder EXAMINEs it
(read-only, §6.3.2) and asks for the header fields with ``BODY.PEEK`` (no ``\\Seen`` set); reading a
message fetches ``BODY[]``, which sets ``\\Seen`` (§6.4.5) as a desktop client's read does.

Answers are read with one small parser (``responses``) over what ``imaplib`` hands back: a list
whose items are a line (bytes) or, for a line carrying literals, a ``(line up to the literal,
literal)`` tuple followed by the rest of the line.  It rebuilds each response as nested lists of
atoms (str), quoted strings (str), NIL (None) and literals (bytes), so a literal anywhere (a folder
name, a header block) is read the same way.

What it leaves out: CONDSTORE, IDLE (one connection per request), folder creation and renaming,
threading; ``has_attachments`` is judged from the top-level Content-Type (multipart/mixed), as list
views commonly do, without fetching BODYSTRUCTURE.
"""
from __future__ import annotations

import imaplib
import re
import time
from email import policy as email_policy
from email.parser import BytesHeaderParser
from typing import Any

from ..store.headers import summarize
from ..store.mutf7 import decode_mutf7, encode_mutf7
from .clients import refused, text_of
from .errors import WebmailError

__all__ = ["SPECIAL", "append", "check_folder", "examine_summaries", "expunge_uid", "fetch_raw", "folders",
           "move_uid", "responses", "select", "special_folders", "store_flags"]

LISTED = 200                     # the newest messages listed of one folder
SPECIAL = {"\\sent": "sent", "\\drafts": "drafts", "\\trash": "trash", "\\junk": "junk"}   # RFC 6154 §2
ORDER = {"inbox": 0, "sent": 1, "drafts": 2, "trash": 3, "junk": 4}        # as the store makes them
HEADER_ITEM = "BODY.PEEK[HEADER.FIELDS (FROM TO CC SUBJECT DATE MESSAGE-ID CONTENT-TYPE)]"
FLAG_NAMES = {"seen": "\\Seen", "flagged": "\\Flagged", "answered": "\\Answered"}
_UID = re.compile(r"^[1-9][0-9]{0,9}$")


# -- reading responses -------------------------------------------------------------------------------
_TOKEN = re.compile(rb'[ \t]*(?:(\()|(\))|"((?:[^"\\\r\n]|\\.)*)"|(\{[0-9]+\+?\}[ \t]*\r?\n?$)|'
                    rb'((?:[^ \t\r\n()"\[\]{]|\[[^\]]*\])+)|(\S))')
_EOL = object()
_OPEN, _CLOSE = object(), object()


def _tokens(data: list[Any]) -> list[Any]:
    out: list[Any] = []
    for item in data:
        if item is None:
            continue
        if isinstance(item, tuple):
            out.extend(_line_tokens(item[0]))
            out.append(bytes(item[1]))
        else:
            out.extend(_line_tokens(item))
            out.append(_EOL)
    return out


def _line_tokens(line: bytes) -> list[Any]:
    out: list[Any] = []
    for match in _TOKEN.finditer(line):
        opening, closing, quoted, _literal, atom, other = match.groups()
        if opening:
            out.append(_OPEN)
        elif closing:
            out.append(_CLOSE)
        elif quoted is not None:
            out.append(re.sub(rb"\\(.)", rb"\1", quoted).decode("utf-8", "replace"))
        elif atom:
            text = atom.decode("utf-8", "replace")
            out.append(None if text.upper() == "NIL" else text)
        elif other:
            out.append(other.decode("latin-1"))
    return out


def responses(data: list[Any]) -> list[list[Any]]:
    """imaplib's untagged data -> one nested list per response line (literals as bytes)."""
    tokens = _tokens(data)
    result: list[list[Any]] = []
    stack: list[list[Any]] = [[]]
    for token in tokens:
        if token is _OPEN:
            stack.append([])
        elif token is _CLOSE:
            if len(stack) > 1:
                inner = stack.pop()
                stack[-1].append(inner)
        elif token is _EOL:
            while len(stack) > 1:            # an unbalanced line: close what is open
                inner = stack.pop()
                stack[-1].append(inner)
            if stack[0]:
                result.append(stack[0])
            stack = [[]]
        else:
            stack[-1].append(token)
    if stack[0]:
        result.append(stack[0])
    return result


def fetch_items(data: list[Any]) -> list[dict[str, Any]]:
    """FETCH responses -> {ITEM NAME (upper case): value}, one dict per message."""
    found = []
    for response in responses(data):
        if len(response) < 2 or not isinstance(response[1], list):
            continue
        pairs = response[1]
        items = {str(pairs[i]).upper(): pairs[i + 1] for i in range(0, len(pairs) - 1, 2)
                 if isinstance(pairs[i], str)}
        found.append(items)
    return found


def _ok(typ: str, data: list[Any], what: str = "") -> list[Any]:
    if typ != "OK":
        raise refused(text_of(data[-1] if data else typ), what)
    return data


# -- folders -----------------------------------------------------------------------------------------
def check_folder(name: str) -> str:
    if not isinstance(name, str) or not name or len(name) > 200 or any(c in name for c in "\r\n\0"):
        raise WebmailError(400, "bad folder name", code="bad_field", field="folder")
    return name


def wire_folder(name: str) -> str:
    """A folder name as an IMAP quoted string, in modified UTF-7 (RFC 3501 §5.1.3, §9 quoted)."""
    wire = "INBOX" if name.upper() == "INBOX" else encode_mutf7(check_folder(name))
    return '"' + wire.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _folder_name(wire: Any) -> str:
    text = wire.decode("utf-8", "replace") if isinstance(wire, bytes) else str(wire or "")
    try:
        return decode_mutf7(text, strict=False)
    except Exception:          # noqa: BLE001 - a name we cannot decode is shown as it is
        return text


def folders(client: imaplib.IMAP4) -> list[dict[str, Any]]:
    """Every selectable folder with its special use and counts: INBOX, the special ones, the rest."""
    found = []
    for name, special in _listed(client):
        total, unseen = _status(client, name)
        found.append({"name": name, "special": special, "total": total, "unseen": unseen})
    found.sort(key=lambda f: (ORDER.get(f["special"], 9), f["name"].lower()))
    return found


def special_folders(client: imaplib.IMAP4) -> dict[str, str]:
    """special use -> folder name ("sent" -> "Sent"), from LIST's RFC 6154 attributes."""
    return {special: name for name, special in _listed(client) if special and special != "inbox"}


def _listed(client: imaplib.IMAP4) -> list[tuple[str, str | None]]:
    data = _ok(*client.list('""', '"*"'), "the folder list")
    out = []
    for response in responses(data):
        if len(response) < 3 or not isinstance(response[0], list):
            continue
        attrs = {str(a).lower() for a in response[0] if isinstance(a, str)}
        if "\\noselect" in attrs or "\\nonexistent" in attrs:
            continue
        name = _folder_name(response[2])
        special = "inbox" if name.upper() == "INBOX" else next((SPECIAL[a] for a in attrs if a in SPECIAL), None)
        out.append(("INBOX" if special == "inbox" else name, special))
    return out


def _status(client: imaplib.IMAP4, name: str) -> tuple[int, int]:
    typ, data = client.status(wire_folder(name), "(MESSAGES UNSEEN)")
    if typ != "OK":
        return 0, 0
    for response in responses(data):
        values = next((x for x in response if isinstance(x, list)), [])
        pairs = {str(values[i]).upper(): values[i + 1] for i in range(0, len(values) - 1, 2)}
        return _int(pairs.get("MESSAGES")), _int(pairs.get("UNSEEN"))
    return 0, 0


def _int(value: Any) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 0


def select(client: imaplib.IMAP4, folder: str, *, readonly: bool) -> int:
    """SELECT (or EXAMINE) a folder; how many messages it holds.  404 if there is no such folder."""
    typ, data = client.select(wire_folder(folder), readonly=readonly)
    if typ != "OK":
        raise WebmailError(404, f"no folder {folder[:100]!r}", code="no_folder")
    return _int(text_of(data[0] if data else b"0"))


# -- messages ----------------------------------------------------------------------------------------
def check_uid(id: str) -> str:
    if not isinstance(id, str) or not _UID.match(id):
        raise WebmailError(404, "no such message", code="no_message")
    return id


def examine_summaries(client: imaplib.IMAP4, folder: str) -> list[dict[str, Any]]:
    """The newest ``LISTED`` messages' list entries, newest first (by UID: the order they arrived)."""
    exists = select(client, folder, readonly=True)
    if not exists:
        return []
    first = max(1, exists - LISTED + 1)
    data = _ok(*client.fetch(f"{first}:*", f"(UID FLAGS RFC822.SIZE {HEADER_ITEM})"), "the listing")
    # (an unsolicited FETCH of flags may ride along: only answers with the header are entries)
    entries = {str(items["UID"]): _entry(items) for items in fetch_items(data)
               if "UID" in items and any(key.startswith("BODY[HEADER") for key in items)}
    return sorted(entries.values(), key=lambda e: _int(e["id"]), reverse=True)


def _entry(items: dict[str, Any]) -> dict[str, Any]:
    head = next((v for k, v in items.items() if k.startswith("BODY[HEADER")), b"")
    head = head if isinstance(head, bytes) else str(head or "").encode()
    flags = {str(f).lower() for f in items.get("FLAGS") or [] if isinstance(f, str)}
    fields = summarize(head)
    kind, report = _content_type(head)
    return {"id": str(items["UID"]), "from": fields.from_, "to": fields.to, "subject": fields.subject,
            "date": fields.date, "size": _int(items.get("RFC822.SIZE")), "seen": "\\seen" in flags,
            "flagged": "\\flagged" in flags, "answered": "\\answered" in flags,
            "has_attachments": kind == "multipart/mixed", "report": report}


def _content_type(head: bytes) -> tuple[str, bool]:
    """(content type, is a delivery report) from a header block."""
    try:
        message = BytesHeaderParser(policy=email_policy.default).parsebytes(head)
        kind = message.get_content_type()
        report = kind == "multipart/report" and str(message.get_param("report-type", "")).lower() == "delivery-status"
        return kind, report
    except Exception:          # noqa: BLE001 - a hostile header: a plain entry
        return "text/plain", False


def fetch_raw(client: imaplib.IMAP4, folder: str, uid: str) -> bytes:
    """The whole message; ``BODY[]`` sets ``\\Seen`` (RFC 3501 §6.4.5)."""
    select(client, folder, readonly=False)
    data = _ok(*client.uid("FETCH", check_uid(uid), "(BODY[])"), "the message")
    for items in fetch_items(data):
        body = items.get("BODY[]")
        if str(items.get("UID")) == uid and isinstance(body, bytes):
            return body
    raise WebmailError(404, "no such message", code="no_message")


def _require(client: imaplib.IMAP4, uid: str) -> None:
    data = _ok(*client.uid("SEARCH", "UID", check_uid(uid)), "the search")
    found = " ".join(text_of(d) for d in data if d).split()
    if uid not in found:
        raise WebmailError(404, "no such message", code="no_message")


def store_flags(client: imaplib.IMAP4, folder: str, uid: str, changes: dict[str, bool]) -> None:
    """UID STORE +FLAGS / -FLAGS (RFC 3501 §6.4.6)."""
    select(client, folder, readonly=False)
    _require(client, uid)
    add = [FLAG_NAMES[k] for k, v in changes.items() if v]
    remove = [FLAG_NAMES[k] for k, v in changes.items() if not v]
    for sign, flags in (("+", add), ("-", remove)):
        if flags:
            _ok(*client.uid("STORE", uid, f"{sign}FLAGS.SILENT", f"({' '.join(flags)})"), "the flags")


def move_uid(client: imaplib.IMAP4, folder: str, uid: str, target: str) -> None:
    """UID MOVE (RFC 6851); without MOVE: UID COPY, \\Deleted and UID EXPUNGE (RFC 4315)."""
    select(client, folder, readonly=False)
    _require(client, uid)
    if "MOVE" in client.capabilities:
        typ, data = client.uid("MOVE", uid, wire_folder(target))
    else:
        typ, data = client.uid("COPY", uid, wire_folder(target))
        if typ == "OK":
            _ok(*client.uid("STORE", uid, "+FLAGS.SILENT", "(\\Deleted)"), "the move")
            _expunge(client, uid)
    if typ != "OK":
        reply = text_of(data[-1] if data else b"")
        if "TRYCREATE" in reply.upper() or "NONEXISTENT" in reply.upper():
            raise WebmailError(404, f"no folder {target[:100]!r}", code="no_folder")
        raise refused(reply, "the move")


def expunge_uid(client: imaplib.IMAP4, folder: str, uid: str) -> None:
    """Delete for good: \\Deleted, then UID EXPUNGE of that one message only (RFC 4315 §2.1)."""
    select(client, folder, readonly=False)
    _require(client, uid)
    _ok(*client.uid("STORE", uid, "+FLAGS.SILENT", "(\\Deleted)"), "the deletion")
    _expunge(client, uid)


def _expunge(client: imaplib.IMAP4, uid: str) -> None:
    if "UIDPLUS" in client.capabilities:
        _ok(*client.uid("EXPUNGE", uid), "the deletion")
    else:                      # plain EXPUNGE removes every \Deleted message of the folder
        _ok(*client.expunge(), "the deletion")


def append(client: imaplib.IMAP4, folder: str, raw: bytes, flags: str = "(\\Seen)") -> None:
    """APPEND (RFC 3501 §6.3.11) with flags and the time now."""
    typ, data = client.append(wire_folder(folder), flags, imaplib.Time2Internaldate(time.time()), raw)
    if typ != "OK":
        raise refused(text_of(data[-1] if data else b""), f"saving to {folder}")
