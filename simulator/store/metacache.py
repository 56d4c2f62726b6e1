"""What the store has worked out about each message file, kept across restarts (``mailflow-cache``).

Theory of operation
  Dovecot keeps ``dovecot.index.cache`` next to its index: the fields it once parsed out of a
  message (sizes, ENVELOPE, BODYSTRUCTURE ...) are there after a restart, so the first session of a
  new process reads no message file for them.  This is ours, one file per folder:

  * **What is kept**, per message file: its CRLF size (RFC 3501 §4.3: what RFC822.SIZE and POP3's
    LIST count) and the rendered forms a protocol layer asked the store to remember
    (``MailStore.rendered``: IMAP's ENVELOPE, BODY, BODYSTRUCTURE), as opaque octets under the
    caller's key.  A caller that changes how it renders changes its key (``"envelope.1"`` →
    ``"envelope.2"``): old records are then never used.
  * **Which file a record belongs to**: the Maildir base name *and* the file size and mtime (ns)
    the record was made for.  Maildir files are never changed in place (maildir(5)), and one that
    was anyway (or was replaced while we were down) has another size or mtime at the next scan: its
    record is not used.  The uid list's own checks (UIDs, flags) are not repeated here.
  * **Safely**: the file is written whole under a temporary name, fsynced, then renamed over the
    old one (``write``), so a crash leaves the old cache or the new one, never a mix; the first line
    carries a format version, the record count and a CRC-32 of the rest, and a file that does not
    match is ignored as a whole (``load`` returns nothing: a cache costs only a re-read when lost).
    No directory fsync: a lost rename brings back the older file, whose records are still true.
  * **Off the event loop**: the store lists the pieces on the mail loop (``dump``: one short line per
    message, the rendered forms by reference) and hands the checksum and the write to one worker
    thread, debounced (``MailStore.CACHE_DELAY``) and at stop (``flush``).

Format (bytes): ``mailflow-cache 1 <count> <crc32 hex>\\n`` then per record a line
``base \\t fsize \\t mtime ns \\t CRLF size \\t key:length,key:length\\n`` followed at once by the values'
octets in that order.  Keys are ASCII without ``:``, ``,``, tab or newline.

What it leaves out: sharing between processes (one simulator process owns the data directory), and
message contents (only what was derived from them).
"""
from __future__ import annotations

import logging
import os
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

__all__ = ["CACHE_NAME", "Dump", "Record", "dump", "load", "write"]

log = logging.getLogger(__name__)

CACHE_NAME = "mailflow-cache"
_MAGIC = b"mailflow-cache"
_VERSION = b"1"

Record = tuple[int, int, int, dict[str, bytes]]     # (file size, mtime ns, CRLF size or -1, rendered forms)


class Dump(NamedTuple):
    """What ``write`` writes: the record count and the pieces of the body, in order (the rendered
    forms are the entries' own bytes objects, not copies: a 10,000-message folder's dump costs its
    record lines, not another copy of every ENVELOPE)."""

    count: int
    pieces: list[bytes]


def dump(records: Iterable[tuple[str, int, int, int, dict[str, bytes] | None]]) -> Dump:
    """The file's contents for (base, file size, mtime ns, CRLF size, rendered forms) records."""
    pieces: list[bytes] = []
    count = 0
    for base, fsize, mtime_ns, size, forms in records:
        forms = forms or {}
        keys = ",".join(f"{k}:{len(v)}" for k, v in forms.items())
        pieces.append(f"{base}\t{fsize}\t{mtime_ns}\t{size}\t{keys}\n".encode("utf-8", "surrogateescape"))
        pieces.extend(forms.values())
        count += 1
    return Dump(count, pieces)


def load(folder: Path) -> dict[str, Record]:
    """The records of the folder's cache by base name; {} when there is none or it does not check out."""
    try:
        with open(folder / CACHE_NAME, "rb") as fh:
            blob = fh.read()
    except OSError:
        return {}
    try:
        return _parse(blob)
    except (ValueError, IndexError, UnicodeDecodeError):
        log.warning("ignoring a damaged %s in %s", CACHE_NAME, folder)
        return {}


def _parse(blob: bytes) -> dict[str, Record]:
    head_end = blob.index(b"\n")
    magic, version, count, crc = blob[:head_end].split(b" ")
    if magic != _MAGIC or version != _VERSION:
        return {}
    if zlib.crc32(memoryview(blob)[head_end + 1:]) != int(crc, 16):
        raise ValueError("checksum")
    out: dict[str, Record] = {}
    pos = head_end + 1
    find = blob.find
    for _ in range(int(count)):
        nl = find(b"\n", pos)
        if nl < 0:
            raise ValueError("truncated")
        base, fsize, mtime_ns, size, keys = blob[pos:nl].decode("utf-8", "surrogateescape").split("\t")
        pos = nl + 1
        forms: dict[str, bytes] = {}
        if keys:
            for item in keys.split(","):
                key, _, length = item.partition(":")
                end = pos + int(length)
                if end > len(blob):
                    raise ValueError("truncated")
                forms[key] = blob[pos:end]
                pos = end
        out[base] = (int(fsize), int(mtime_ns), int(size), forms)
    if pos != len(blob):
        raise ValueError("trailing data")
    return out


def write(folder: Path, contents: Dump) -> None:
    """Replace the folder's cache by ``contents``: a temporary file, fsynced, renamed over the old one.

    A folder that went away meanwhile (deleted, renamed) is not recreated: the write is dropped.
    (Runs on the writer thread: the checksum and the copy into the file are done here.)
    """
    crc = 0
    for piece in contents.pieces:
        crc = zlib.crc32(piece, crc)
    head = b"%s %s %d %08x\n" % (_MAGIC, _VERSION, contents.count, crc)
    path = folder / CACHE_NAME
    tmp = folder / f"{CACHE_NAME}.{os.getpid()}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except FileNotFoundError:
        return
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(head)
            fh.writelines(contents.pieces)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError:
        log.warning("could not write %s", path, exc_info=True)
        try:
            os.unlink(tmp)
        except OSError:
            pass
