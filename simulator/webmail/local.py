"""The POP3 client's own store: what the webmail downloaded, on the web server's disk.

Theory of operation
-------------------
A POP3 client has no folders on the server (RFC 1939 knows one maildrop), so in POP3 mode the
webmail keeps the user's mail itself, as Thunderbird does in its profile:

    <local_root>/<domain>/<user>/<Folder>/<id>.eml     the message, as downloaded or sent (CRLF)
    <local_root>/<domain>/<user>/<Folder>/<id>.json    beside it: its flags and its list entry
    <local_root>/<domain>/<user>/uidl.json             the UIDLs already downloaded (RFC 1939 §7)

Folders are the default ones (INBOX, Sent, Drafts, Trash, Junk, RFC 6154 roles); an id is
``<nanoseconds>.<n>``, so names sort by arrival and a listing is newest first.  A message file is
created with ``O_EXCL`` and linked into place (``fsutil.create_new``), its sidecar written atomically;
a sidecar that is missing or unreadable is rebuilt from the message.  The UIDL list is what makes
"keep a copy on the server" download each message once.

The store is not thread-safe by itself: the :class:`~simulator.webmail.mua.Mua` holds the user's
lock around every use (the same lock that makes POP3 sessions one at a time).

What it leaves out: user-made folders, quotas, search.
"""
from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

from ..fsutil import create_new, write_atomic
from ..store import DEFAULT_FOLDERS, INBOX
from ..store.headers import header_block, summarize
from .errors import WebmailError

__all__ = ["LocalStore", "clean_leftovers"]

_LEFTOVER = re.compile(r"^\.[0-9]{1,20}\.[0-9]{1,6}\.[0-9]+\.tmp$")
SPECIAL = {"INBOX": "inbox", "Sent": "sent", "Drafts": "drafts", "Trash": "trash", "Junk": "junk"}
HEAD_LIMIT = 64 * 1024
_ID = re.compile(r"^[0-9]{1,20}\.[0-9]{1,6}$")
_SAFE = re.compile(r"[^a-z0-9._+=-]")
_REPORT = re.compile(rb"(?im)^content-type:[ \t]*multipart/report[ \t]*;(?:[^\n]|\n[ \t])*report-type=\"?delivery-status")
_MIXED = re.compile(rb"(?im)^content-type:[ \t]*multipart/mixed")


def _component(text: str) -> str:
    """A path component from an address part: lower case, anything unusual %XX, never "." or ".."."""
    safe = _SAFE.sub(lambda m: "".join(f"%{b:02X}" for b in m.group(0).encode()), text.lower())
    return ("%2E" + safe[1:]) if safe.startswith(".") else (safe or "%00")


def clean_leftovers(local_root: Path) -> list[Path]:
    """Remove the half-written ``.<id>.<pid>.tmp`` files a killed process left in the folders below
    ``local_root`` (``<domain>/<user>/<Folder>/``); return what was removed.  Call it at start, before
    the web serves a request: only the mail process writes here (a lecture hall's web-only processes
    forward the webmail to it), and one process holds a data directory at a time.  Nothing else is
    touched: a message is only ever visible under its final ``<id>.eml`` name."""
    removed: list[Path] = []
    root = Path(local_root)
    if not root.is_dir():
        return removed
    for folder in root.glob("*/*/*"):
        if folder.is_dir() and not folder.is_symlink():
            for path in folder.iterdir():
                if _LEFTOVER.match(path.name) and path.is_file():
                    path.unlink(missing_ok=True)
                    removed.append(path)
    return removed


class LocalStore:
    def __init__(self, root: Path, address: str) -> None:
        local, _, domain = address.rpartition("@")
        self.root = Path(root) / _component(domain) / _component(local)

    # -- folders -------------------------------------------------------------------------------------
    def folder(self, name: str) -> Path:
        canonical = INBOX if isinstance(name, str) and name.upper() == INBOX else name
        if canonical not in DEFAULT_FOLDERS:
            raise WebmailError(404, f"no folder {str(name)[:100]!r}", code="no_folder")
        path = self.root / canonical
        path.mkdir(parents=True, exist_ok=True)
        return path

    def folders(self) -> list[dict[str, Any]]:
        out = []
        for name in DEFAULT_FOLDERS:
            entries = self.messages(name)
            out.append({"name": name, "special": SPECIAL.get(name), "total": len(entries),
                        "unseen": sum(1 for e in entries if not e["seen"])})
        return out

    # -- messages ------------------------------------------------------------------------------------
    def _ids(self, folder: Path) -> list[str]:
        ids = [p.stem for p in folder.glob("*.eml") if _ID.match(p.stem)]
        return sorted(ids, key=lambda i: tuple(int(x) for x in i.split(".")), reverse=True)

    def _path(self, folder: str, id: str) -> Path:
        if not isinstance(id, str) or not _ID.match(id):
            raise WebmailError(404, "no such message", code="no_message")
        path = self.folder(folder) / f"{id}.eml"
        if not path.is_file():
            raise WebmailError(404, "no such message", code="no_message")
        return path

    def messages(self, folder: str) -> list[dict[str, Any]]:
        """List entries, newest first (the API's message dict)."""
        where = self.folder(folder)
        return [self._meta(where / f"{id}.eml")["entry"] for id in self._ids(where)]

    def add(self, folder: str, raw: bytes, flags: set[str] | frozenset[str] = frozenset()) -> str:
        where = self.folder(folder)
        base = time.time_ns()
        for n in range(1000):
            id = f"{base}.{n}"
            final = where / f"{id}.eml"
            try:
                create_new(where / f".{id}.{os.getpid()}.tmp", final, raw)
            except FileExistsError:
                continue
            self._write_meta(final, self._build_meta(final, raw, set(flags)))
            return id
        raise WebmailError(503, "the local store cannot name a new message", code="store")

    def read(self, folder: str, id: str) -> bytes:
        return self._path(folder, id).read_bytes()

    def flags(self, folder: str, id: str) -> set[str]:
        return set(self._meta(self._path(folder, id))["flags"])

    def set_flags(self, folder: str, id: str, add: set[str], remove: set[str]) -> None:
        path = self._path(folder, id)
        meta = self._meta(path)
        flags = (set(meta["flags"]) | add) - remove
        self._write_meta(path, self._build_meta(path, None, flags, meta))

    def move(self, folder: str, id: str, target: str) -> str:
        """Move to another folder (a new id there); the flags go along."""
        path = self._path(folder, id)
        meta = self._meta(path)
        new = self.add(target, path.read_bytes(), set(meta["flags"]))
        self.remove(folder, id)
        return new

    def remove(self, folder: str, id: str) -> None:
        path = self._path(folder, id)
        path.with_suffix(".json").unlink(missing_ok=True)
        path.unlink(missing_ok=True)

    # -- sidecars ------------------------------------------------------------------------------------
    def _meta(self, path: Path) -> dict[str, Any]:
        try:
            meta = json.loads(path.with_suffix(".json").read_text("utf-8"))
            if isinstance(meta, dict) and isinstance(meta.get("flags"), list) and isinstance(meta.get("entry"), dict):
                return meta
        except (OSError, ValueError):
            pass
        meta = self._build_meta(path, None, set())        # lost or damaged: rebuilt from the message
        self._write_meta(path, meta)
        return meta

    def _build_meta(self, path: Path, raw: bytes | None, flags: set[str],
                    old: dict[str, Any] | None = None) -> dict[str, Any]:
        if old is not None:
            entry = dict(old["entry"])
        else:
            if raw is None:
                with open(path, "rb") as handle:
                    raw = handle.read(HEAD_LIMIT)
            head = header_block(raw[:HEAD_LIMIT])
            fields = summarize(head)
            entry = {"id": path.stem, "from": fields.from_, "to": fields.to, "subject": fields.subject,
                     "date": fields.date, "size": path.stat().st_size,
                     "has_attachments": bool(_MIXED.search(head)), "report": bool(_REPORT.search(head))}
        entry.update(seen="\\Seen" in flags, flagged="\\Flagged" in flags, answered="\\Answered" in flags)
        return {"flags": sorted(flags), "entry": entry}

    def _write_meta(self, path: Path, meta: dict[str, Any]) -> None:
        write_atomic(path.with_suffix(".json"), json.dumps(meta, ensure_ascii=False).encode("utf-8"))

    # -- UIDLs ---------------------------------------------------------------------------------------
    def known_uidls(self) -> set[str]:
        try:
            data = json.loads((self.root / "uidl.json").read_text("utf-8"))
            return {str(u) for u in data} if isinstance(data, list) else set()
        except (OSError, ValueError):
            return set()

    def remember_uidls(self, uidls: set[str]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        write_atomic(self.root / "uidl.json", json.dumps(sorted(uidls)).encode("utf-8"))
