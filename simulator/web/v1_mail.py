"""The test API's mail (``/api/v1``, v1.py): messages of every mailbox, read through the store.

Theory of operation
-------------------
The store (:class:`simulator.store.MailStore`) belongs to the mail loop: every call that touches
its state -- the list of a mailbox's messages, a deletion -- runs on the loop (``stack.call``).
What comes back is a snapshot, ``(mailbox, MessageInfo)`` pairs with each file's path; the files are
then read here, in the web server's thread, so a large message never holds up the loop.  A file
that vanished since (a POP3 client deleted it, retention removed it) is skipped, or answers 404.

The API shows each mailbox's INBOX, where mail arrives: every address with a Maildir on disk, so
catch-all mailboxes and the outside world's too (``MailStore.mailboxes``).

A message is known by an ``id``: its Maildir base name (the page's mailbox view calls it ``key``),
which no other message ever gets (maildir(5): the time, the process, a counter, the host), also
after a restart or a reset of the world.  ``latest`` names the newest message.

:class:`Catalog` caches what is read: a message's summary by (id, size) -- a Maildir file is never
rewritten, only renamed, so its header is read once, whatever its flags become -- and, for text searches, its body text within a budget of
characters.  Mail is hostile input: everything leaves as JSON data (strings, numbers), the raw
source and attachments as downloads with ``nosniff``; nothing is rendered.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from email.header import decode_header, make_header
from typing import TYPE_CHECKING, Any

from ..store import INBOX, MessageInfo, StoreError, header_block, summarize
from ..store.headers import header_fields
from ..store.search import Query, matches
from ..webmail import read
from ..webmail.errors import WebmailError
from .context import ApiError

if TYPE_CHECKING:
    from ..runtime import MailStack

__all__ = ["Catalog", "Found", "LATEST", "delete_all", "delete_ids", "find", "mailboxes", "message",
           "raw", "part", "search", "snapshot"]

LATEST = "latest"
HEAD_LIMIT = 64 * 1024          # octets read for a summary
FIELD_CHARS = 1000              # characters kept of a field the summary adds (Cc, Delivered-To ...)
LOOP_TIMEOUT = 30.0             # seconds a call on the mail loop may take
_CONTROLS = {c: "\ufffd" for c in (*range(0x20), *range(0x7F, 0xA0))}


@dataclass(frozen=True, slots=True)
class Found:
    """One message of the snapshot: its mailbox and what the store knows of it."""
    mailbox: str
    info: MessageInfo

    @property
    def id(self) -> str:
        return self.info.path.name.split(":", 1)[0]


# -- on the mail loop -------------------------------------------------------------------------------
def _on_loop(stack: "MailStack", fn: Callable[[], Any]) -> Any:
    async def run() -> Any:
        return fn()
    try:
        return stack.call(run, timeout=LOOP_TIMEOUT)
    except StoreError as err:
        raise ApiError(400, str(err)) from None
    except (RuntimeError, TimeoutError) as err:         # the loop is stopping (a reset) or stuck
        raise ApiError(503, f"the mail world is busy or stopping; try again ({type(err).__name__})") from None


def snapshot(stack: "MailStack", mailbox: str | None = None) -> list[Found]:
    """Every message of every INBOX (or of one mailbox), oldest first, after a rescan."""
    store = stack.store

    def take() -> list[Found]:
        boxes = store.mailboxes()
        if mailbox is not None:
            boxes = [b for b in boxes if b == mailbox]
        return [Found(box, info) for box in boxes for info in store.inbox_snapshot(box)]
    found = _on_loop(stack, take)
    return sorted(found, key=lambda f: (f.info.internaldate, f.id))


def mailboxes(stack: "MailStack") -> list[dict[str, Any]]:
    """Every mailbox: the world's users (with or without mail) and every Maildir on disk."""
    counts: dict[str, int] = {}
    for found in snapshot(stack):
        counts[found.mailbox] = counts.get(found.mailbox, 0) + 1
    users = set(stack.world.users())
    every = sorted(users | set(counts))
    return [{"address": a, "user": a in users, "count": counts.get(a, 0)} for a in every]


def delete_ids(stack: "MailStack", targets: Iterable[Found]) -> int:
    """Remove these messages (each mailbox at once, on the loop); how many were still there."""
    by_box: dict[str, set[int]] = {}
    for found in targets:
        by_box.setdefault(found.mailbox, set()).add(found.info.uid)
    store = stack.store

    def remove() -> int:
        gone = 0
        for box, uids in by_box.items():
            present = set(store.uids(box, INBOX)) & uids
            store.delete_messages(box, INBOX, present)
            gone += len(present)
        return gone
    return _on_loop(stack, remove) if by_box else 0


def delete_all(stack: "MailStack", mailbox: str | None = None) -> int:
    """Empty every INBOX (or one): what is there when the loop gets to it goes, in one step."""
    store = stack.store

    def remove() -> int:
        gone = 0
        for box in store.mailboxes():
            if mailbox is not None and box != mailbox:
                continue
            store.rescan(box, INBOX)
            uids = store.uids(box, INBOX)
            store.delete_messages(box, INBOX, uids)
            gone += len(uids)
        return gone
    return _on_loop(stack, remove)


# -- the catalogue: summaries and texts, cached -----------------------------------------------------
class Catalog:
    """Summaries by (id, size) and body texts for searches, least recently used first out."""

    def __init__(self, *, summaries: int = 20_000, text_chars: int = 16_000_000) -> None:
        self._summaries: OrderedDict[tuple[str, int], dict[str, Any]] = OrderedDict()
        self._texts: OrderedDict[tuple[str, int], str] = OrderedDict()
        self._max_summaries, self._max_chars, self._chars = summaries, text_chars, 0
        self._lock = threading.Lock()

    def summary(self, found: Found) -> dict[str, Any] | None:
        """The list entry of a message (None if its file is gone)."""
        key = (found.id, found.info.size)
        with self._lock:
            hit = self._summaries.get(key)
            if hit is not None:
                self._summaries.move_to_end(key)
        if hit is None:
            try:
                with open(found.info.path, "rb") as handle:
                    head = handle.read(HEAD_LIMIT)
            except OSError:
                return None
            hit = _summary_fields(head)
            with self._lock:
                self._summaries[key] = hit
                while len(self._summaries) > self._max_summaries:
                    self._summaries.popitem(last=False)
        return _with_place(found, hit)

    def text(self, found: Found) -> str:
        """The body text (the plain body, or the HTML body as text), for ``text:`` searches."""
        key = (found.id, found.info.size)
        with self._lock:
            hit = self._texts.get(key)
            if hit is not None:
                self._texts.move_to_end(key)
                return hit
        try:
            text, _html = read.body_text(read.parse(found.info.path.read_bytes()))
        except OSError:
            return ""
        with self._lock:
            if len(text) <= self._max_chars // 4:
                self._texts[key] = text
                self._chars += len(text)
                while self._chars > self._max_chars and self._texts:
                    _key, dropped = self._texts.popitem(last=False)
                    self._chars -= len(dropped)
        return text


def _summary_fields(head: bytes) -> dict[str, Any]:
    """What the list shows of a message, from its header (decoded, control characters replaced)."""
    fields = summarize(head)
    extra = {b"cc": "", b"x-mailflow-trace": "", b"delivered-to": "", b"return-path": ""}
    for name, value in header_fields(header_block(head)):
        if name in extra and not extra[name]:
            extra[name] = _decoded(value)
    report = "multipart/report" in _decoded(_first(head, b"content-type")).lower() and \
        "delivery-status" in _decoded(_first(head, b"content-type")).lower()
    return {"from": fields.from_, "to": fields.to, "cc": extra[b"cc"], "subject": fields.subject,
            "date": fields.date, "message_id": fields.message_id,
            "trace": extra[b"x-mailflow-trace"].strip() or None,
            "delivered_to": extra[b"delivered-to"].strip(), "return_path": extra[b"return-path"].strip(),
            "bounce": report}


def _first(head: bytes, wanted: bytes) -> bytes:
    for name, value in header_fields(header_block(head)):
        if name == wanted:
            return value
    return b""


def _decoded(raw: bytes) -> str:
    text = raw[:8192].decode("utf-8", "replace")
    if "=?" in text:
        try:
            text = str(make_header(decode_header(" ".join(text.split()))))
        except Exception:         # noqa: BLE001 - a malformed encoded word is shown as it stands
            pass
    return " ".join(text.split()).translate(_CONTROLS)[:FIELD_CHARS]


def _with_place(found: Found, fields: dict[str, Any]) -> dict[str, Any]:
    when = found.info.internaldate
    return {"id": found.id, "mailbox": found.mailbox, "uid": found.info.uid, "size": found.info.size,
            "received": datetime.fromtimestamp(when, timezone.utc).isoformat(timespec="milliseconds"),
            "received_ts": round(when, 3), "seen": "\\Seen" in found.info.flags, **fields}


# -- searching ----------------------------------------------------------------------------------------
def search(stack: "MailStack", catalog: Catalog, query: Query) -> list[tuple[Found, dict[str, Any]]]:
    """Every message matching ``query``, newest first, with its summary."""
    out: list[tuple[Found, dict[str, Any]]] = []
    for found in reversed(snapshot(stack, query.mailbox)):
        entry = catalog.summary(found)
        if entry is not None and matches(query, entry, lambda f=found: catalog.text(f)):
            out.append((found, entry))
    return out


def find(stack: "MailStack", catalog: Catalog, message_id: str) -> Found:
    """The message with this id (or the newest, for ``latest``); 404 if there is none."""
    if message_id == LATEST:
        every = snapshot(stack)
        if not every:
            raise ApiError(404, "there are no messages")
        return every[-1]
    if not _ID_OK(message_id):
        raise ApiError(400, "id: not a message id")
    store = stack.store

    def look() -> Found | None:
        for box in store.mailboxes():
            info = store.locate(box, INBOX, message_id)
            if info is not None:
                return Found(box, info)
        return None
    found = _on_loop(stack, look)
    if found is None:
        raise ApiError(404, f"no message {message_id[:100]!r} (deleted, or never here)")
    return found


def _ID_OK(value: str) -> bool:
    return 0 < len(value) <= 250 and value[0].isalnum() and all(c.isalnum() or c in "._,=+-\\" for c in value)


# -- one message --------------------------------------------------------------------------------------
def raw(found: Found) -> bytes:
    """The message as stored (CRLF line ends, as the MDA wrote it)."""
    try:
        return found.info.path.read_bytes()
    except OSError:
        raise ApiError(404, "the message is gone (deleted meanwhile)") from None


def message(catalog: Catalog, found: Found, base_url: str) -> dict[str, Any]:
    """One message: its summary, every header field, the whole text and HTML, attachments, report."""
    data = raw(found)
    entry = catalog.summary(found) or _with_place(found, _summary_fields(data[:HEAD_LIMIT]))
    parsed = read.parse(data)
    text, has_html = read.body_text(parsed)
    attachments = []
    for index, sub in read.attachment_parts(parsed):
        name, kind, content = read.part_of(index, sub)
        attachments.append({"index": index, "name": name, "type": kind, "size": len(content),
                            "inline": sub.get_content_disposition() == "inline",
                            "content_id": _content_id(sub),
                            "url": f"{base_url}messages/{found.id}/parts/{index}"})
    entry.update(text=text, html=read.html(data) if has_html else None, headers=read.header_lines(parsed),
                 attachments=attachments, report=read.delivery_report(parsed),
                 raw_url=f"{base_url}messages/{found.id}/raw", trace_url=f"{base_url}messages/{found.id}/trace")
    return entry


def _content_id(sub: Any) -> str:
    value = str(sub.get("content-id", "") or "").strip()
    return value[1:-1] if value.startswith("<") and value.endswith(">") else value


def part(found: Found, index: int) -> tuple[str, str, bytes]:
    """(file name, content type, decoded octets) of the attachment ``index`` of the message."""
    try:
        return read.part(raw(found), index)
    except WebmailError as err:
        raise ApiError(err.status, f"index: {err.message}" if err.status == 400 else err.message) from None
