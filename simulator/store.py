"""Mailbox store over Maildir (Maildir++ folders) shared by the IMAP and POP3 servers.

What it implements
  * Maildir (D. J. Bernstein's ``maildir(5)``): ``tmp/ new/ cur/``, deliveries ``tmp -> new``,
    flags in the ``:2,<letters>`` info suffix with letters in ASCII order
    (D=\\Draft F=\\Flagged P=$Forwarded R=\\Answered S=\\Seen T=\\Deleted).
  * Maildir++ folders: ``<user>/.Sent``, ``<user>/.a.b`` for the IMAP name ``a/b`` (delimiter ``/``).
    Folder components are stored in modified UTF-7 (RFC 3501 §5.1.3); a literal ``.`` inside a
    component is stored as ``&AC4-`` so it cannot be confused with the on-disk separator.
  * A persistent uid list per folder (``mailflow-uidlist``, after Dovecot's ``dovecot-uidlist``):
    UIDVALIDITY, UIDNEXT and uid -> base file name, plus keywords and cached sizes. UIDs ascend in
    arrival order and are never reused (RFC 3501 §2.3.1.1). UIDVALIDITY stays stable across restarts
    and changes only when the uid list is lost (then a fresh, strictly larger value is issued from the
    per-user ``mailflow-uidvalidity`` counter).
  * ``\\Recent`` (RFC 3501 §2.3.2): a message in ``new/`` is recent; the first read-write session that
    claims it (``claim_recent``) moves it to ``cur/`` and is the only one that reports it as recent.
  * In-loop change notification: listeners registered per address are called synchronously after
    every change, whoever made it (IMAP sessions, POP3, the MDA through ``notify``).
  * A cache of parsed MIME structures keyed by (folder, base name, file size, mtime) so that a large
    mailbox is parsed once; rescans list directories and never re-read files whose names are known.

What it leaves out: quotas, ACLs, Maildir keyword letters a-z (keywords live in the uid list), and
locking between processes (one simulator process owns the data directory; all calls happen on the
mail loop thread, so there are no locks).
"""

from __future__ import annotations

import base64
import logging
import os
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .fsutil import write_atomic

log = logging.getLogger(__name__)

INBOX = "INBOX"
DELIMITER = "/"
DEFAULT_FOLDERS: tuple[str, ...] = ("INBOX", "Sent", "Drafts", "Trash", "Junk")
SPECIAL_USE: dict[str, str] = {"Sent": "\\Sent", "Drafts": "\\Drafts", "Trash": "\\Trash", "Junk": "\\Junk"}
AUTO_SUBSCRIBE: tuple[str, ...] = DEFAULT_FOLDERS

UIDLIST_NAME = "mailflow-uidlist"
UIDVALIDITY_NAME = "mailflow-uidvalidity"
SUBSCRIPTIONS_NAME = "subscriptions"
_UIDLIST_MAGIC = "mailflow-uidlist"

# Maildir info letters <-> IMAP flags (maildir(5); RFC 3501 §2.3.2).
LETTER_TO_FLAG: dict[str, str] = {
    "D": "\\Draft",
    "F": "\\Flagged",
    "P": "$Forwarded",
    "R": "\\Answered",
    "S": "\\Seen",
    "T": "\\Deleted",
}
FLAG_TO_LETTER: dict[str, str] = {v: k for k, v in LETTER_TO_FLAG.items()}
SYSTEM_FLAGS: tuple[str, ...] = ("\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft")
_CANONICAL_FLAG = {f.lower(): f for f in (*SYSTEM_FLAGS, "$Forwarded", "\\Recent")}

_MAX_MIME_DEPTH = 40
_PARSE_CACHE_SIZE = 50_000
_ADDRESS_PART = re.compile(r"^[A-Za-z0-9_+=-][A-Za-z0-9._+=-]{0,63}$")
_DOMAIN = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*$")
_KEYWORD = re.compile(r"^[!#$&'+\-.0-9:;<=>?@A-Z^_`a-z|~]{1,64}$")  # IMAP atom minus specials


# --------------------------------------------------------------------------- errors and records


class StoreError(Exception):
    """A request the store refuses; the message is safe to show to a client."""


class FolderNameError(StoreError):
    """The folder name is not acceptable (traversal, wildcards, control characters ...)."""


class NoSuchFolder(StoreError):
    """The folder does not exist (IMAP answers NO [TRYCREATE] for APPEND/COPY/MOVE)."""


class FolderExists(StoreError):
    """CREATE or RENAME onto an existing folder."""


class NoSuchMessage(StoreError):
    """The UID is not (or no longer) in the folder."""


@dataclass(frozen=True, slots=True)
class MessageInfo:
    """One message as POP3 and IMAP see it. ``size`` counts the CRLF form that is served (X8)."""

    uid: int
    size: int
    flags: frozenset[str]
    internaldate: float
    path: Path


@dataclass(frozen=True, slots=True)
class FolderInfo:
    name: str  # Unicode, "/" as delimiter, "INBOX" canonical
    special_use: str | None
    has_children: bool
    selectable: bool  # False for a parent that exists only because of its children (\Noselect)


@dataclass(frozen=True, slots=True)
class FolderStatus:
    messages: int
    recent: int
    unseen: int
    uidnext: int
    uidvalidity: int


@dataclass(frozen=True, slots=True)
class FolderEvent:
    """Told to listeners: ``kind`` is "changed", "deleted" or "renamed" (then ``new_name`` is set)."""

    address: str
    folder: str
    kind: str = "changed"
    new_name: str | None = None


Listener = Callable[[FolderEvent], None]


class Subscription:
    """Handle returned by ``MailStore.listen``; ``close()`` stops the callbacks."""

    def __init__(self, store: MailStore, address: str, callback: Listener) -> None:
        self._store, self._address, self._callback = store, address, callback

    def close(self) -> None:
        callbacks = self._store._listeners.get(self._address)
        if callbacks and self._callback in callbacks:
            callbacks.remove(self._callback)


# --------------------------------------------------------------------------- modified UTF-7


def encode_mutf7(name: str) -> str:
    """Unicode -> modified UTF-7 (RFC 3501 §5.1.3)."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            raw = "".join(pending).encode("utf-16-be")
            out.append("&" + base64.b64encode(raw).decode("ascii").rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            pending.append(ch)
    flush()
    return "".join(out)


def decode_mutf7(name: str, *, strict: bool = True) -> str:
    """Modified UTF-7 -> Unicode; raises ValueError on malformed (or, if strict, non-canonical) input."""
    out: list[str] = []
    i = 0
    while i < len(name):
        ch = name[i]
        if ord(ch) < 0x20 or ord(ch) > 0x7E:
            raise ValueError("non-ASCII character in a modified UTF-7 name")
        if ch != "&":
            out.append(ch)
            i += 1
            continue
        end = name.find("-", i + 1)
        if end < 0:
            raise ValueError("unterminated '&' shift in a modified UTF-7 name")
        chunk = name[i + 1 : end]
        if not chunk:
            out.append("&")
        else:
            b64 = chunk.replace(",", "/")
            b64 += "=" * (-len(b64) % 4)
            try:
                out.append(base64.b64decode(b64, validate=True).decode("utf-16-be"))
            except (ValueError, UnicodeDecodeError) as exc:
                raise ValueError("bad base64 in a modified UTF-7 name") from exc
        i = end + 1
    decoded = "".join(out)
    if strict and encode_mutf7(decoded) != name:
        raise ValueError("non-canonical modified UTF-7")
    return decoded


# --------------------------------------------------------------------------- names and flags


def normalize_folder(name: str) -> str:
    """Validate a Unicode folder name and return its canonical form ("inbox" -> "INBOX").

    Rejects everything that could escape the user's Maildir or confuse the Maildir++ layout:
    empty components ("a//b", "/a"), "." and ".." or any leading ".", NUL and control characters,
    the LIST wildcards "%" and "*", and over-long names.
    """
    if not isinstance(name, str) or not name:
        raise FolderNameError("empty mailbox name")
    if len(name) > 512:
        raise FolderNameError("mailbox name too long")
    parts = name.split(DELIMITER)
    for part in parts:
        if not part:
            raise FolderNameError("empty hierarchy level in mailbox name")
        if part.startswith("."):
            raise FolderNameError("mailbox name components may not start with '.'")
        if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in part):
            raise FolderNameError("control characters in mailbox name")
        if "%" in part or "*" in part:
            raise FolderNameError("wildcards are not allowed in mailbox names")
        if "\\" in part:
            raise FolderNameError("backslash is not allowed in mailbox names")
    if parts[0].upper() == INBOX:
        parts[0] = INBOX
    return DELIMITER.join(parts)


def _disk_name(folder: str) -> str:
    """Canonical folder name -> Maildir++ directory name (".Sent", ".a.b"); INBOX -> ""."""
    if folder == INBOX:
        return ""
    comps = [encode_mutf7(c).replace(".", "&AC4-") for c in folder.split(DELIMITER)]
    return "." + ".".join(comps)


def _folder_from_disk(dirname: str) -> str | None:
    if not dirname.startswith(".") or dirname in (".", ".."):
        return None
    try:
        comps = [decode_mutf7(c, strict=False) for c in dirname[1:].split(".")]
        return normalize_folder(DELIMITER.join(comps))
    except (ValueError, StoreError):
        return None


def canonical_flag(flag: str) -> str:
    """Canonical spelling of a system flag ("\\seen" -> "\\Seen"); keywords unchanged."""
    return _CANONICAL_FLAG.get(flag.lower(), flag)


def valid_flag(flag: str) -> bool:
    if flag.startswith("\\"):
        return flag.lower() in _CANONICAL_FLAG and flag.lower() != "\\recent"
    return bool(_KEYWORD.match(flag))


def _flags_from_info(info: str) -> tuple[set[str], str]:
    flags: set[str] = set()
    other = []
    for letter in info:
        if letter in LETTER_TO_FLAG:
            flags.add(LETTER_TO_FLAG[letter])
        elif letter.isalpha():
            other.append(letter)
    return flags, "".join(other)


def _info_from_flags(flags: Iterable[str], other: str = "") -> str:
    letters = {FLAG_TO_LETTER[f] for f in flags if f in FLAG_TO_LETTER} | set(other)
    return "".join(sorted(letters))


# --------------------------------------------------------------------------- MIME structure


def to_crlf(data: bytes) -> bytes:
    """Every line end as CRLF (RFC 3501 §4.3 / X8: sizes count exactly these bytes)."""
    # Fast paths: with no CR at all every LF is bare (an LF-only Maildir file): one replace does it.
    # When every LF already follows a CR (what our MDA writes), the result is the input; two
    # counting scans cost far less than the two full copies made by the replaces below.
    if b"\r" not in data:
        return data.replace(b"\n", b"\r\n")
    if data.count(b"\n") == data.count(b"\r\n"):
        return data
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


_FOLD = re.compile(r"\r\n(?=[ \t])")
_HEADER_FIELD = re.compile(rb"(?m)^([!-9;-~]+)[ \t]*:(.*(?:\r\n[ \t].*)*)")


def _unfold(value: bytes) -> str:
    text = value.decode("utf-8", "surrogateescape")
    if "\r\n" not in text:  # most fields are not folded
        return text.strip()
    return _FOLD.sub("", text).strip()


def parse_header_block(data: bytes, start: int, limit: int) -> tuple[dict[str, str], int]:
    """Parse the header at ``data[start:limit]``; return (first value per lowercase name, body offset).

    The header ends at the first empty line; a part that has no empty line is all header.
    """
    if data.startswith(b"\r\n", start):
        return {}, start + 2
    end = data.find(b"\r\n\r\n", start, limit)
    body = limit if end < 0 else end + 4
    hdr_end = limit if end < 0 else end + 2
    headers: dict[str, str] = {}
    for m in _HEADER_FIELD.finditer(data[start:hdr_end]):
        key = m.group(1).decode("ascii").lower()
        if key not in headers:
            headers[key] = _unfold(m.group(2))
    return headers, body


def split_params(value: str) -> tuple[str, list[tuple[str, str]]]:
    """'text/plain; charset="utf-8"' -> ("text/plain", [("charset", "utf-8")]). RFC 2045 §5.1."""
    head, _, rest = value.partition(";")
    params: list[tuple[str, str]] = []
    for m in re.finditer(r'\s*([^=;\s]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)\s*;?', rest):
        key, val = m.group(1), m.group(2).strip()
        if val.startswith('"') and val.endswith('"') and len(val) >= 2:
            val = re.sub(r"\\(.)", r"\1", val[1:-1])
        params.append((key, val))
    return head.strip(), params


@dataclass(slots=True)
class MimePart:
    """A MIME entity located by byte offsets in the CRLF form of the message.

    ``header_start``..``body_start`` is the header (with its empty line), ``body_start``..``end``
    the body. ``parts`` are the children of a multipart, ``message`` the encapsulated message of a
    message/rfc822 part. ``headers`` holds the first value of each header field (unfolded).
    """

    header_start: int
    body_start: int
    end: int
    headers: dict[str, str]
    maintype: str
    subtype: str
    params: list[tuple[str, str]]
    lines: int = 0
    parts: list[MimePart] = field(default_factory=list)
    message: MimePart | None = None

    @property
    def is_multipart(self) -> bool:
        return self.maintype == "multipart"

    @property
    def is_message(self) -> bool:
        return self.maintype == "message" and self.subtype == "rfc822"


def _count_lines(data: bytes, start: int, end: int) -> int:
    if end <= start:
        return 0
    n = data.count(b"\r\n", start, end)
    return n if data.endswith(b"\r\n", start, end) else n + 1


def parse_mime(data: bytes, start: int = 0, end: int | None = None, *, default: str = "text/plain",
               depth: int = 0) -> MimePart:
    """Build the MIME tree of ``data[start:end]`` (CRLF line ends) with byte offsets (RFC 2045/2046)."""
    end = len(data) if end is None else end
    headers, body_start = parse_header_block(data, start, end)
    ctype, params = split_params(headers.get("content-type", "")) if "content-type" in headers else (default, [])
    maintype, _, subtype = ctype.lower().partition("/")
    if not maintype or not subtype or not re.fullmatch(r"[a-z0-9!#$&^_.+-]+", maintype + subtype):
        maintype, subtype, params = "text", "plain", [] if "content-type" in headers else params
        if "content-type" in headers:
            params = [("charset", "us-ascii")]
    part = MimePart(start, body_start, end, headers, maintype, subtype, params)
    if depth >= _MAX_MIME_DEPTH:
        part.maintype, part.subtype = "application", "octet-stream"
        return part
    if maintype == "multipart":
        boundary = dict((k.lower(), v) for k, v in params).get("boundary")
        if boundary:
            child_default = "message/rfc822" if subtype == "digest" else "text/plain"
            for cs, ce in _split_multipart(data, body_start, end, boundary.encode("utf-8", "surrogateescape")):
                part.parts.append(parse_mime(data, cs, ce, default=child_default, depth=depth + 1))
        if not part.parts:  # RFC 3501 requires at least one body part; present an empty text part
            part.parts.append(MimePart(body_start, body_start, body_start, {}, "text", "plain",
                                       [("charset", "us-ascii")]))
    elif maintype == "message" and subtype == "rfc822":
        part.message = parse_mime(data, body_start, end, depth=depth + 1)
        part.lines = _count_lines(data, body_start, end)
    elif maintype == "text":
        part.lines = _count_lines(data, body_start, end)
    return part


def _split_multipart(data: bytes, start: int, end: int, boundary: bytes) -> list[tuple[int, int]]:
    """Offsets of each body part between "--boundary" delimiter lines (RFC 2046 §5.1.1).

    The CRLF before a delimiter belongs to the delimiter, so part bodies exclude it.
    """
    delim = b"--" + boundary
    spans: list[tuple[int, int]] = []
    pos = start
    part_start: int | None = None
    while pos < end:
        idx = data.find(delim, pos, end)
        if idx < 0:
            break
        at_line_start = idx == start or data[idx - 2 : idx] == b"\r\n"
        line_end = data.find(b"\r\n", idx, end)
        line_end = end if line_end < 0 else line_end
        rest = data[idx + len(delim) : line_end]
        closing = rest.startswith(b"--")
        tail = rest[2:] if closing else rest
        if not at_line_start or tail.strip(b" \t"):
            pos = idx + len(delim)
            continue
        if part_start is not None:
            part_end = idx - 2 if idx - 2 >= part_start else part_start
            spans.append((part_start, part_end))
        if closing:
            return spans
        part_start = min(line_end + 2, end)
        pos = part_start
    if part_start is not None:
        spans.append((part_start, end))
    return spans


@dataclass(slots=True)
class ParsedMessage:
    """The cached parse of one message file: its MIME tree and room for rendered forms.

    ``rendered`` lets a protocol layer memoise what it derives (e.g. IMAP's ENVELOPE and
    BODYSTRUCTURE strings) together with the parse, under the same cache key.
    """

    size: int
    root: MimePart
    rendered: dict[str, bytes] = field(default_factory=dict)


# --------------------------------------------------------------------------- folder state


@dataclass(slots=True)
class _Entry:
    uid: int
    base: str
    sub: str  # "new" or "cur"
    name: str
    flags: frozenset[str]
    other: str  # info letters we do not map (kept as found)
    size: int  # CRLF octets
    fsize: int
    mtime_ns: int
    recent: bool = False

    @property
    def internaldate(self) -> float:
        return self.mtime_ns / 1e9


@dataclass(slots=True)
class _Folder:
    address: str
    name: str
    path: Path
    uidvalidity: int
    uidnext: int
    entries: list[_Entry]
    by_uid: dict[int, _Entry]
    by_base: dict[str, _Entry]
    version: int = 0

    def reindex(self) -> None:
        self.entries.sort(key=lambda e: e.uid)
        self.by_uid = {e.uid: e for e in self.entries}
        self.by_base = {e.base: e for e in self.entries}


# --------------------------------------------------------------------------- the store


class MailStore:
    """All users' Maildirs under ``root`` (= <data>/mail/<domain>/<user>).

    Every method is synchronous and meant for the mail loop thread. Folder names are Unicode with
    "/" as the hierarchy delimiter; protocol layers translate (IMAP: modified UTF-7).
    """

    def __init__(self, root: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.root = Path(root)
        self._clock = clock
        self._folders: dict[tuple[str, str], _Folder] = {}
        self._listeners: dict[str, list[Listener]] = {}
        self._parse_cache: OrderedDict[tuple, ParsedMessage] = OrderedDict()
        self._counter = 0
        self.root.mkdir(parents=True, exist_ok=True)

    # ----------------------------------------------------------------- paths

    def _user_dir(self, address: str) -> Path:
        user, sep, domain = address.rpartition("@")
        if not sep or not _ADDRESS_PART.match(user) or not _DOMAIN.match(domain):
            raise StoreError(f"not a mailbox address: {address!r}")
        path = self.root / domain / user
        root = self.root.resolve()
        if path.resolve().parent.parent != root:  # belt and braces: never leave <root>/<domain>/<user>
            raise StoreError("mailbox path escapes the store")
        return path

    def maildir_path(self, address: str) -> Path:
        """The user's Maildir (INBOX); created on demand together with the default folders."""
        path = self._user_dir(address)
        # The subscriptions file marks a mailbox the store has set up.  The MDA may have created the
        # INBOX Maildir first (mail arrives before the first login), so INBOX alone is not the marker.
        if not (path / SUBSCRIPTIONS_NAME).exists():
            for name in DEFAULT_FOLDERS:
                self._make_maildir(path / _disk_name(name) if name != INBOX else path, name != INBOX)
            self._write_lines(path / SUBSCRIPTIONS_NAME, list(AUTO_SUBSCRIBE))
        return path

    def folder_path(self, address: str, folder: str) -> Path:
        """Validated directory of ``folder`` (which need not exist)."""
        folder = normalize_folder(folder)
        user_dir = self.maildir_path(address)
        if folder == INBOX:
            return user_dir
        path = user_dir / _disk_name(folder)
        if path.parent != user_dir or path.name in (".", "..") or "/" in path.name:
            raise FolderNameError("mailbox name escapes the user's directory")
        return path

    @staticmethod
    def _make_maildir(path: Path, is_folder: bool) -> None:
        for sub in ("tmp", "new", "cur"):
            (path / sub).mkdir(parents=True, exist_ok=True)
        if is_folder:
            (path / "maildirfolder").touch()

    @staticmethod
    def _is_maildir(path: Path) -> bool:
        return (path / "cur").is_dir() and (path / "new").is_dir()

    # ----------------------------------------------------------------- persistence helpers

    @staticmethod
    def _atomic_write(path: Path, text: str) -> None:
        write_atomic(path, text.encode("utf-8"), mode=0o644)

    def _write_lines(self, path: Path, lines: list[str]) -> None:
        self._atomic_write(path, "".join(line + "\n" for line in lines))

    def _next_uidvalidity(self, user_dir: Path) -> int:
        counter = user_dir / UIDVALIDITY_NAME
        last = 0
        try:
            last = int(counter.read_text().strip() or 0)
        except (OSError, ValueError):
            pass
        value = max(int(self._clock()), last + 1) & 0xFFFFFFFF or 1
        if value <= last:
            value = last + 1
        self._atomic_write(counter, f"{value}\n")
        return value

    def _save_uidlist(self, folder: _Folder) -> None:
        lines = [f"{_UIDLIST_MAGIC} 1 V{folder.uidvalidity} N{folder.uidnext}"]
        for e in folder.entries:
            kws = " ".join(sorted(f for f in e.flags if f not in FLAG_TO_LETTER))
            lines.append(f"{e.uid}\t{e.base}\t{e.size}\t{e.mtime_ns}\t{e.fsize}\t{kws}")
        self._write_lines(folder.path / UIDLIST_NAME, lines)

    def _load_uidlist(self, path: Path) -> tuple[int, int, dict[str, tuple[int, int, int, int, frozenset[str]]]] | None:
        try:
            text = (path / UIDLIST_NAME).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None
        lines = text.splitlines()
        if not lines:
            return None
        head = lines[0].split()
        try:
            if head[0] != _UIDLIST_MAGIC:
                return None
            uidvalidity = int(head[2][1:])
            uidnext = int(head[3][1:])
            known: dict[str, tuple[int, int, int, int, frozenset[str]]] = {}
            for line in lines[1:]:
                cols = line.split("\t")
                uid, base, size, mtime_ns, fsize = int(cols[0]), cols[1], int(cols[2]), int(cols[3]), int(cols[4])
                kws = frozenset(cols[5].split()) if len(cols) > 5 else frozenset()
                known[base] = (uid, size, mtime_ns, fsize, kws)
                uidnext = max(uidnext, uid + 1)
        except (IndexError, ValueError):
            log.warning("corrupt uid list in %s; issuing a new UIDVALIDITY", path)
            return None
        return uidvalidity, uidnext, known

    # ----------------------------------------------------------------- folder state

    def _folder(self, address: str, folder: str, *, create: bool = False) -> _Folder:
        state = self._folders.get((address, folder))  # keys hold canonical names: a hit needs no check
        if state is not None:
            return state
        folder = normalize_folder(folder)
        key = (address, folder)
        state = self._folders.get(key)
        if state is not None:
            return state
        path = self.folder_path(address, folder)
        if not self._is_maildir(path):
            if not create:
                raise NoSuchFolder(f"no such mailbox: {folder}")
            self._make_maildir(path, folder != INBOX)
        (path / "tmp").mkdir(exist_ok=True)
        loaded = self._load_uidlist(path)
        if loaded is None:
            uidvalidity, uidnext, known = self._next_uidvalidity(self.maildir_path(address)), 1, {}
        else:
            uidvalidity, uidnext, known = loaded
        state = _Folder(address, folder, path, uidvalidity, uidnext, [], {}, {})
        self._folders[key] = state
        self._scan(state, known=known, force_save=loaded is None)
        return state

    def _list_dir(self, path: Path) -> list[str]:
        try:
            return [n for n in os.listdir(path) if not n.startswith(".") and "\t" not in n and "\n" not in n]
        except FileNotFoundError:
            return []

    def _scan(self, state: _Folder, *, known: dict | None = None, force_save: bool = False) -> bool:
        """Reconcile the folder state with new/ and cur/. Returns True if anything changed.

        Known file names cost nothing; only files never seen before are stat'ed and read (to count
        their CRLF size). New files get UIDs in arrival order (mtime, then name).
        """
        on_disk: dict[str, tuple[str, str]] = {}
        for sub in ("new", "cur"):
            for name in self._list_dir(state.path / sub):
                base = name.split(":", 1)[0]
                on_disk.setdefault(base, (sub, name))
        changed = False
        keep: list[_Entry] = []
        for e in state.entries:
            found = on_disk.pop(e.base, None)
            if found is None:
                changed = True  # removed behind our back
                continue
            sub, name = found
            if name != e.name or sub != e.sub:
                flags, other = self._name_flags(sub, name)
                kws = {f for f in e.flags if f not in FLAG_TO_LETTER}
                e.sub, e.name, e.flags, e.other = sub, name, frozenset(flags | kws), other
                changed = True
            keep.append(e)
        fresh: list[tuple[int, str, str, str, tuple | None]] = []
        for base, (sub, name) in on_disk.items():
            try:
                st = os.stat(state.path / sub / name)
            except FileNotFoundError:
                continue
            prior = known.get(base) if known else None
            fresh.append((st.st_mtime_ns, base, sub, name, (st, prior)))
        if fresh:
            changed = True
            # Entries from the uid list keep their UIDs; unknown files are numbered after them.
            fresh.sort(key=lambda t: (t[4][1] is None, t[4][1][0] if t[4][1] else 0, t[0], t[1]))
            used = {e.uid for e in keep}
            for mtime_ns, base, sub, name, (st, prior) in fresh:
                flags, other = self._name_flags(sub, name)
                if prior is not None and prior[0] not in used and prior[0] < state.uidnext:
                    uid, kws = prior[0], prior[4]
                    size = prior[1] if prior[3] == st.st_size else self._crlf_size(state.path / sub / name)
                else:
                    uid, size, kws = state.uidnext, self._crlf_size(state.path / sub / name), frozenset()
                    state.uidnext += 1
                used.add(uid)
                keep.append(_Entry(uid, base, sub, name, frozenset(flags | kws), other, size,
                                   st.st_size, mtime_ns, recent=(sub == "new")))
        if changed or force_save:
            state.entries = keep
            state.reindex()
            if len(state.by_uid) != len(state.entries):  # duplicate UIDs from a damaged list: renumber
                self._renumber(state)
            self._save_uidlist(state)
            state.version += 1
        return changed

    def _renumber(self, state: _Folder) -> None:
        log.warning("duplicate UIDs in %s; issuing a new UIDVALIDITY", state.path)
        state.uidvalidity = self._next_uidvalidity(self.maildir_path(state.address))
        for i, e in enumerate(sorted(state.entries, key=lambda e: (e.mtime_ns, e.base)), 1):
            e.uid = i
        state.uidnext = len(state.entries) + 1
        state.reindex()

    @staticmethod
    def _name_flags(sub: str, name: str) -> tuple[set[str], str]:
        if sub == "cur" and ":2," in name:
            return _flags_from_info(name.split(":2,", 1)[1])
        return set(), ""

    @staticmethod
    def _crlf_size(path: Path) -> int:
        try:
            data = path.read_bytes()
        except OSError:
            return 0
        # len(to_crlf(data)) without building it: every LF not preceded by CR gains one octet.
        return len(data) + data.count(b"\n") - data.count(b"\r\n")

    def _info(self, state: _Folder, e: _Entry) -> MessageInfo:
        return MessageInfo(e.uid, e.size, e.flags, e.internaldate, state.path / e.sub / e.name)

    def _changed(self, state: _Folder, *, save: bool = True) -> None:
        if save:
            self._save_uidlist(state)
        state.version += 1
        self._emit(FolderEvent(state.address, state.name))

    def _emit(self, event: FolderEvent) -> None:
        for callback in list(self._listeners.get(event.address, ())):
            try:
                callback(event)
            except Exception:  # a broken listener must not break the store or the other sessions
                log.exception("mailbox listener failed")

    # ----------------------------------------------------------------- notification

    def listen(self, address: str, callback: Listener) -> Subscription:
        """Call ``callback(FolderEvent)`` (in-loop, synchronously) after any change to the user's folders."""
        self._listeners.setdefault(address, []).append(callback)
        return Subscription(self, address, callback)

    def notify(self, address: str, folder: str = INBOX) -> None:
        """Something was delivered into the folder (the MDA calls this): rescan and tell the listeners.

        With nobody listening there is nothing to tell, and every reader rescans anyway (SELECT,
        STATUS, NOOP, a POP3 login): skipping the rescan keeps a delivery burst from re-listing the
        Maildir and rewriting its UID list once per message.
        """
        if not self._listeners.get(address):
            return
        self.rescan(address, folder)

    def rescan(self, address: str, folder: str) -> bool:
        """Pick up files added, renamed or removed behind our back; listeners hear of any change."""
        loaded = (address, normalize_folder(folder)) in self._folders
        state = self._folder(address, folder)
        if self._scan(state) or (not loaded and state.entries):  # a first load has just scanned
            self._emit(FolderEvent(state.address, state.name))
            return True
        return False

    # ----------------------------------------------------------------- messages (POP3 and IMAP)

    def inbox_snapshot(self, address: str) -> list[MessageInfo]:
        """INBOX in UID order after a rescan of new/ and cur/ (POP3's maildrop, RFC 1939 §4)."""
        self.maildir_path(address)
        self.rescan(address, INBOX)
        return self.messages(address, INBOX)

    def messages(self, address: str, folder: str) -> list[MessageInfo]:
        state = self._folder(address, folder)
        return [self._info(state, e) for e in state.entries]

    def uids(self, address: str, folder: str) -> list[int]:
        return [e.uid for e in self._folder(address, folder).entries]

    def message_info(self, address: str, folder: str, uid: int) -> MessageInfo:
        state = self._folder(address, folder)
        e = state.by_uid.get(uid)
        if e is None:
            raise NoSuchMessage(f"no message with UID {uid}")
        return self._info(state, e)

    def flags(self, address: str, folder: str) -> dict[int, frozenset[str]]:
        return {e.uid: e.flags for e in self._folder(address, folder).entries}

    def version(self, address: str, folder: str) -> int:
        """Bumped on every change of the folder (a cheap "anything new?" check for sessions)."""
        return self._folder(address, folder).version

    def uidvalidity(self, address: str, folder: str) -> int:
        return self._folder(address, folder).uidvalidity

    def uidnext(self, address: str, folder: str) -> int:
        return self._folder(address, folder).uidnext

    def _entry(self, state: _Folder, uid: int) -> _Entry:
        e = state.by_uid.get(uid)
        if e is None:
            raise NoSuchMessage(f"no message with UID {uid}")
        return e

    def read_message(self, address: str, folder: str, uid: int) -> bytes:
        """The message with CRLF line ends: exactly the octets that ``MessageInfo.size`` counts."""
        state = self._folder(address, folder)
        e = self._entry(state, uid)
        try:
            with open(f"{state.path}/{e.sub}/{e.name}", "rb", buffering=0) as fh:
                data = fh.readall()
                # A file that was all CRLF when scanned (CRLF size == file size) and is unchanged
                # since (same size and mtime, the parse cache's key too) needs no conversion pass.
                unchanged_crlf = (e.size == e.fsize == len(data)
                                  and os.fstat(fh.fileno()).st_mtime_ns == e.mtime_ns)
        except FileNotFoundError:
            self._scan(state)
            raise NoSuchMessage(f"message with UID {uid} is gone") from None
        if not unchanged_crlf:
            data = to_crlf(data)
        if len(data) != e.size:  # the file was replaced in place (not Maildir-like); believe the file
            e.size = len(data)
        return data

    def parsed(self, address: str, folder: str, uid: int) -> ParsedMessage:
        """The MIME tree of a message, cached by (folder, base name, file size, mtime)."""
        state = self._folder(address, folder)
        e = self._entry(state, uid)
        key = (str(state.path), e.base, e.fsize, e.mtime_ns)
        hit = self._parse_cache.get(key)
        if hit is not None:
            self._parse_cache.move_to_end(key)
            return hit
        data = self.read_message(address, folder, uid)
        parsed = ParsedMessage(len(data), parse_mime(data))
        self._parse_cache[key] = parsed
        if len(self._parse_cache) > _PARSE_CACHE_SIZE:
            self._parse_cache.popitem(last=False)
        return parsed

    def claim_recent(self, address: str, folder: str) -> frozenset[int]:
        """Give the caller the \\Recent messages nobody has claimed yet (RFC 3501 §2.3.2).

        They move from new/ to cur/ (maildir(5): "no longer new"), so no later session sees them
        as recent, across restarts too.
        """
        state = self._folder(address, folder)
        claimed: list[int] = []
        for e in state.entries:
            if not e.recent:
                continue
            e.recent = False
            claimed.append(e.uid)
            if e.sub == "new":
                self._rename(state, e, "cur", e.flags)
        return frozenset(claimed)

    def recent_count(self, address: str, folder: str) -> int:
        return sum(1 for e in self._folder(address, folder).entries if e.recent)

    def _rename(self, state: _Folder, e: _Entry, sub: str, flags: frozenset[str]) -> None:
        name = f"{e.base}:2,{_info_from_flags(flags, e.other)}" if sub == "cur" else e.base
        if (sub, name) != (e.sub, e.name):
            try:
                os.rename(state.path / e.sub / e.name, state.path / sub / name)
            except FileNotFoundError:
                raise NoSuchMessage(f"message with UID {e.uid} is gone") from None
        e.sub, e.name, e.flags = sub, name, flags

    def set_flags(self, address: str, folder: str, uids: Iterable[int], flags: Iterable[str],
                  mode: str = "=") -> dict[int, frozenset[str]]:
        """STORE (RFC 3501 §6.4.6): mode "+" adds, "-" removes, "=" replaces. Returns the new flags.

        System flags go into the file name (the file moves to cur/), keywords into the uid list.
        """
        state = self._folder(address, folder)
        wanted = {canonical_flag(f) for f in flags}
        wanted.discard("\\Recent")
        for f in wanted:
            if not valid_flag(f):
                raise StoreError(f"invalid flag {f}")
        result: dict[int, frozenset[str]] = {}
        keywords_changed = any_changed = False
        for uid in uids:
            e = state.by_uid.get(uid)
            if e is None:
                continue
            if mode == "+":
                new = e.flags | wanted
            elif mode == "-":
                new = e.flags - wanted
            else:
                new = frozenset(wanted)
            new = frozenset(new)
            if new != e.flags:
                old_kw = {f for f in e.flags if f not in FLAG_TO_LETTER}
                new_kw = {f for f in new if f not in FLAG_TO_LETTER}
                keywords_changed |= old_kw != new_kw
                try:
                    self._rename(state, e, "cur", new)
                except NoSuchMessage:
                    continue
                any_changed = True
            result[uid] = e.flags
        if any_changed:
            self._changed(state, save=keywords_changed)
        return result

    def _unique_base(self) -> str:
        self._counter += 1
        now = self._clock()
        return f"{int(now)}.M{int((now % 1) * 1e6)}P{os.getpid()}Q{self._counter}.mailflow"

    def _deliver_file(self, state: _Folder, data: bytes, flags: frozenset[str], mtime: float | None) -> _Entry:
        base = self._unique_base()
        while base in state.by_base:
            base = self._unique_base()
        tmp = state.path / "tmp" / base
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        mtime = self._clock() if mtime is None else mtime  # INTERNALDATE = delivery time (PROTOCOLS §5.4)
        os.utime(tmp, (mtime, mtime))
        sub = "cur" if flags else "new"
        name = f"{base}:2,{_info_from_flags(flags)}" if flags else base
        os.rename(tmp, state.path / sub / name)
        st = os.stat(state.path / sub / name)
        e = _Entry(state.uidnext, base, sub, name, flags, "", len(to_crlf(data)), st.st_size, st.st_mtime_ns, True)
        state.uidnext += 1
        state.entries.append(e)
        state.by_uid[e.uid] = e
        state.by_base[base] = e
        return e

    def append(self, address: str, folder: str, data: bytes, flags: Iterable[str] = (),
               internaldate: float | None = None) -> tuple[int, int]:
        """APPEND (RFC 3501 §6.3.11): store a message; returns (UIDVALIDITY, UID) for APPENDUID."""
        state = self._folder(address, folder)
        clean = frozenset(canonical_flag(f) for f in flags) - {"\\Recent"}
        for f in clean:
            if not valid_flag(f):
                raise StoreError(f"invalid flag {f}")
        e = self._deliver_file(state, to_crlf(data), clean, internaldate)
        self._changed(state)
        return state.uidvalidity, e.uid

    def copy_messages(self, address: str, src: str, uids: Iterable[int], dst: str) -> list[tuple[int, int]]:
        """COPY (RFC 3501 §6.4.7): hard-link (or copy) each file; returns [(source uid, new uid)]."""
        source = self._folder(address, src)
        target = self._folder(address, dst)
        pairs: list[tuple[int, int]] = []
        for uid in sorted(set(uids)):
            e = source.by_uid.get(uid)
            if e is None:
                continue
            try:
                data = to_crlf((source.path / e.sub / e.name).read_bytes())
            except FileNotFoundError:
                continue
            new = self._deliver_file(target, data, e.flags, e.internaldate)
            pairs.append((uid, new.uid))
        if pairs:
            self._changed(target)
        return pairs

    def move_messages(self, address: str, src: str, uids: Iterable[int], dst: str) -> list[tuple[int, int]]:
        """MOVE (RFC 6851): rename each file into the target folder; returns [(source uid, new uid)]."""
        source = self._folder(address, src)
        target = self._folder(address, dst)
        if source is target:
            pairs = self.copy_messages(address, src, uids, dst)
            self.delete_messages(address, src, [p[0] for p in pairs])
            return pairs
        pairs: list[tuple[int, int]] = []
        for uid in sorted(set(uids)):
            e = source.by_uid.get(uid)
            if e is None:
                continue
            base = e.base if e.base not in target.by_base else self._unique_base()
            name = f"{base}:2,{_info_from_flags(e.flags, e.other)}"
            try:
                os.rename(source.path / e.sub / e.name, target.path / "cur" / name)
            except FileNotFoundError:
                continue
            new = _Entry(target.uidnext, base, "cur", name, e.flags, e.other, e.size, e.fsize, e.mtime_ns, True)
            target.uidnext += 1
            target.entries.append(new)
            target.by_uid[new.uid] = new
            target.by_base[base] = new
            source.entries.remove(e)
            del source.by_uid[uid]
            source.by_base.pop(e.base, None)
            pairs.append((uid, new.uid))
        if pairs:
            self._changed(target)
            self._changed(source)
        return pairs

    def delete_messages(self, address: str, folder: str, uids: Iterable[int]) -> None:
        """Remove the files now (POP3 UPDATE, IMAP EXPUNGE); other sessions then report EXPUNGE."""
        self._remove(self._folder(address, folder), set(uids))

    def _remove(self, state: _Folder, uids: set[int]) -> list[int]:
        gone: list[int] = []
        for e in [e for e in state.entries if e.uid in uids]:
            try:
                os.unlink(state.path / e.sub / e.name)
            except FileNotFoundError:
                pass
            gone.append(e.uid)
        if gone:
            state.entries = [e for e in state.entries if e.uid not in uids]
            state.reindex()
            self._changed(state)
        return gone

    def expunge(self, address: str, folder: str, uids: Iterable[int] | None = None) -> list[int]:
        """EXPUNGE / UID EXPUNGE (RFC 3501 §6.4.3, RFC 4315 §2.1): remove \\Deleted messages."""
        state = self._folder(address, folder)
        allowed = None if uids is None else set(uids)
        doomed = {e.uid for e in state.entries
                  if "\\Deleted" in e.flags and (allowed is None or e.uid in allowed)}
        return self._remove(state, doomed)

    # ----------------------------------------------------------------- folders

    def folder_exists(self, address: str, folder: str) -> bool:
        try:
            return self._is_maildir(self.folder_path(address, folder))
        except FolderNameError:
            return False

    def list_folders(self, address: str) -> list[FolderInfo]:
        """Every folder, plus \\Noselect parents implied by deeper names, sorted, INBOX first."""
        user_dir = self.maildir_path(address)
        real: set[str] = {INBOX}
        for entry in os.scandir(user_dir):
            if entry.is_dir() and entry.name.startswith("."):
                name = _folder_from_disk(entry.name)
                if name and self._is_maildir(Path(entry.path)):
                    real.add(name)
        every = set(real)
        for name in real:
            parts = name.split(DELIMITER)
            for i in range(1, len(parts)):
                every.add(DELIMITER.join(parts[:i]))
        result = []
        for name in sorted(every, key=lambda n: (n != INBOX, n)):
            has_children = any(o.startswith(name + DELIMITER) for o in every)
            special = SPECIAL_USE.get(name)
            result.append(FolderInfo(name, special, has_children, name in real))
        return result

    def create_folder(self, address: str, folder: str) -> str:
        """CREATE (RFC 3501 §6.3.3), with superior levels as needed; returns the canonical name."""
        folder = normalize_folder(folder.rstrip(DELIMITER) if folder != DELIMITER else folder)
        if self.folder_exists(address, folder):
            raise FolderExists(f"mailbox already exists: {folder}")
        parts = folder.split(DELIMITER)
        for i in range(1, len(parts) + 1):
            name = DELIMITER.join(parts[:i])
            path = self.folder_path(address, name)
            if not self._is_maildir(path):
                self._make_maildir(path, name != INBOX)
        self._folder(address, folder)  # issues UIDVALIDITY
        return folder

    def delete_folder(self, address: str, folder: str) -> None:
        """DELETE (RFC 3501 §6.3.4). INBOX cannot be deleted; a folder with children neither."""
        folder = normalize_folder(folder)
        if folder == INBOX:
            raise StoreError("INBOX cannot be deleted")
        path = self.folder_path(address, folder)
        if not self._is_maildir(path):
            raise NoSuchFolder(f"no such mailbox: {folder}")
        if any(f.name.startswith(folder + DELIMITER) for f in self.list_folders(address)):
            raise StoreError("mailbox has children; delete them first")
        self._remove_tree(path)
        self._folders.pop((address, folder), None)
        self._set_subscribed(address, folder, False)
        self._emit(FolderEvent(address, folder, "deleted"))

    @staticmethod
    def _remove_tree(path: Path) -> None:
        for sub in ("tmp", "new", "cur"):
            d = path / sub
            if d.is_dir():
                for name in os.listdir(d):
                    os.unlink(d / name)
                d.rmdir()
        for name in os.listdir(path):
            p = path / name
            if p.is_file():
                p.unlink()
        path.rmdir()

    def rename_folder(self, address: str, old: str, new: str) -> None:
        """RENAME (RFC 3501 §6.3.5), children included. Renaming INBOX moves its messages."""
        old, new = normalize_folder(old), normalize_folder(new)
        if not self.folder_exists(address, old):
            raise NoSuchFolder(f"no such mailbox: {old}")
        if self.folder_exists(address, new) or old == new:
            raise FolderExists(f"mailbox already exists: {new}")
        if new.startswith(old + DELIMITER):
            raise StoreError("cannot rename a mailbox into itself")
        if old == INBOX:
            self.create_folder(address, new)
            self.move_messages(address, INBOX, self.uids(address, INBOX), new)
            return
        names = [f.name for f in self.list_folders(address)
                 if f.selectable and (f.name == old or f.name.startswith(old + DELIMITER))]
        subs = set(self.subscriptions(address))
        for name in sorted(names, key=len):
            target = new + name[len(old):]
            self.folder_path(address, target).parent.mkdir(parents=True, exist_ok=True)
            os.rename(self.folder_path(address, name), self.folder_path(address, target))
            self._folders.pop((address, name), None)
            if name in subs:
                self._set_subscribed(address, name, False)
                self._set_subscribed(address, target, True)
            self._emit(FolderEvent(address, name, "renamed", target))
        parts = new.split(DELIMITER)
        for i in range(1, len(parts)):  # superior levels of the new name become real folders
            parent = DELIMITER.join(parts[:i])
            if not self.folder_exists(address, parent):
                self._make_maildir(self.folder_path(address, parent), True)

    def status(self, address: str, folder: str) -> FolderStatus:
        """STATUS (RFC 3501 §6.3.10) after a rescan; RECENT counts messages nobody has claimed."""
        self.rescan(address, folder)
        state = self._folder(address, folder)
        unseen = sum(1 for e in state.entries if "\\Seen" not in e.flags)
        recent = sum(1 for e in state.entries if e.recent)
        return FolderStatus(len(state.entries), recent, unseen, state.uidnext, state.uidvalidity)

    # ----------------------------------------------------------------- subscriptions

    def subscriptions(self, address: str) -> list[str]:
        path = self.maildir_path(address) / SUBSCRIPTIONS_NAME
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError:
            return []
        result = []
        for line in lines:
            try:
                result.append(normalize_folder(line.strip()))
            except FolderNameError:
                continue
        return sorted(set(result), key=lambda n: (n != INBOX, n))

    def _set_subscribed(self, address: str, folder: str, on: bool) -> None:
        subs = set(self.subscriptions(address))
        if (folder in subs) == on:
            return
        subs.add(folder) if on else subs.discard(folder)
        self._write_lines(self.maildir_path(address) / SUBSCRIPTIONS_NAME, sorted(subs))

    def subscribe(self, address: str, folder: str) -> None:
        """SUBSCRIBE (RFC 3501 §6.3.6)."""
        self._set_subscribed(address, normalize_folder(folder), True)

    def unsubscribe(self, address: str, folder: str) -> None:
        """UNSUBSCRIBE (RFC 3501 §6.3.7)."""
        folder = normalize_folder(folder)
        if folder not in self.subscriptions(address):
            raise StoreError(f"not subscribed: {folder}")
        self._set_subscribed(address, folder, False)
