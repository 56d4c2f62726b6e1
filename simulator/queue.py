"""Durable outbound queue of each sandbox host.

Layout: ``<data>/queue/<host>/<id>.eml`` (the message, CRLF) and ``<id>.json`` (envelope and
per-recipient state).  Both are written to a temporary name, fsynced and renamed, the message
first: an entry exists once its ``.json`` exists, and only then does the SMTP server answer 250
(RFC 5321 §4.2.5, §6.1: after the 250 we are responsible for the message).  An ``.eml`` without
its ``.json`` is a half-written entry that was never acknowledged and is removed at start.  An
entry leaves the queue only when every recipient is delivered, relayed or bounced.

The queue's memory of what it finished (issue 12, rule 1: exactly once across crashes): an entry
that a resend or a redo must be able to find after it is gone -- a relayed message this host took
(``Entry.extra["relay"]``: the key of :mod:`simulator.protocols.smtp.relayid`, so a resend after
the sender's crash is acknowledged without a second copy) or a bounce (``<id>-B<n>``,
``Entry.extra["bounce_for"]``: the recipients it reports) -- leaves the queue by a rename of its
``<id>.json`` to ``<id>.done`` in the same directory: the one directory fsync that makes the removal
durable makes the record durable too, so remembering costs no write.  Other entries are deleted.  A
relayed message the MX delivered before its 250 without queuing it (:mod:`simulator.direct`) gets the
same record, written by ``record`` (file and directory fsynced) once its files are in ``new/``.

:attr:`QueueStore.relayed` indexes, in memory, each (relay key, recipient) of the live entries and
the records as a 16-byte digest -- of every host together: the hosts of one world share this store,
so a resend that goes to another MX of the domain than the first copy did (equal preferences drawn
again, or the backup MX took the first copy and the primary is back) is known there too.  A record
is kept as long as the sender may still send the message again: while the sender's queue entry
named in the key (``<id>@<host>``, in this same data directory) exists, however long the process
was down, and in any case for :attr:`QueueStore.keep_done` seconds; a bounce's record likewise
while the bounced entry exists.  ``prune_done`` removes the others (at start, and now and then: the queue
runner calls it and drops their marks from the index).

Each entry's JSON is rewritten by ``save`` after every recipient delivered or relayed while the
attempt goes on (the queue runner), so what a reader did to a delivered message meanwhile (POP3
DELE, IMAP EXPUNGE) is never undone by a redo.  Writers in several worker threads share their
directory fsyncs (:class:`simulator.fsutil.GroupSync`).

Recycled files (issue 13): an entry's files are not unlinked when it leaves the queue but renamed to
a spare name in the same directory (``.spare.<pid>.<n>``, emptied; at most ``SPARES_KEPT`` per
directory), in the same directory fsync that makes the removal durable; the next write of that
directory (``add``, ``save``, ``record``) goes into a spare (truncated, written, fsynced, renamed to the
real name) instead of a file created for it.  On ext4 without a journal (this machine's file
system) every file created scans the inode bitmap past the inodes deleted in the last minutes (``find_inode_bit`` → ``recently_deleted``): with the mail of
a busy sandbox, and every other writer under the same directory, creating a file cost ~200 µs of
CPU against ~10 µs on a quiet directory, and an entry made two of them and deleted two (``perf``: a
sixth of app.py's CPU during a submission run was ``__ext4_new_inode``).  What a crash leaves is
what it left before: a spare is taken only after the fsync that made it one, a half-written one
keeps its spare name, and start-up removes every spare (never reused across a restart), as it
removes ``*.tmp``.  Names beginning with a dot are none of the queue's: nothing globs them.

Each recipient keeps the reason of its last outcome as a code with parameters (so a bounce after
a restart still has it) and, apart from it, the reply a remote server sent (protocol text: it goes
into the DSN's Diagnostic-Code, RFC 3464 §2.3.6).  Entries written by older versions kept one
``reply`` string for both; they are still read (:meth:`Recipient.from_dict`).
"""
from __future__ import annotations

import hashlib
import itertools
import json
import logging
import math
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Callable

from .facts import DeliveryReason, Reason, reason_enums
from .fsutil import GroupSync, fsync_dir, write_all, write_atomic

log = logging.getLogger(__name__)

# Spare files kept per queue directory for the next entries' writes (see "Recycled files" above): a few
# more than the entries in flight at once at the submission door (in-flow control keeps them to a few).
SPARES_KEPT = 16
SPARE_PREFIX = ".spare."
# one counter for every store of the process: two stores on one root (a reload while a job of the old
# one runs) never make the same spare name (a rename onto it would silently replace the other's file)
_SPARE_NAMES = itertools.count()


class RcptState(StrEnum):
    PENDING = "pending"
    DEFERRED = "deferred"
    DONE = "done"          # delivered into a mailbox, or relayed to a host that said 250
    FAILED = "failed"      # permanently failed: bounced (or dropped, for a bounce)


@dataclass(slots=True)
class Recipient:
    address: str
    state: RcptState = RcptState.PENDING
    status: str = ""       # enhanced status code of the last outcome, e.g. "4.4.1", "5.1.1"
    reply: str = ""        # the last reply a server sent about it (protocol text), "" if none
    remote: str = ""       # the host that gave that reply
    reason: Reason | None = None   # why: the last outcome as a code (DeliveryReason, RouteReason ...)

    def to_dict(self) -> dict:
        return {"address": self.address, "state": str(self.state), "status": self.status,
                "reply": self.reply, "remote": self.remote, "reason": reason_to_json(self.reason)}

    @classmethod
    def from_dict(cls, d: dict) -> "Recipient":
        reply, remote = d.get("reply", ""), d.get("remote", "")
        reason = reason_from_json(d.get("reason"))
        if reason is None and reply:             # written by an older version: one string for both
            if reply[:3].isdigit():
                reason = Reason.of(DeliveryReason.REPLY, host=remote, reply=reply)
            else:
                reason, reply = Reason.of(DeliveryReason.LEGACY, text=reply), ""
        return cls(d["address"], RcptState(d["state"]), d.get("status", ""), reply, remote, reason)


@dataclass(slots=True)
class Entry:
    id: str
    host: str                      # the sandbox host whose queue holds it
    sender: str                    # reverse-path; "" for a bounce (null reverse-path)
    recipients: list[Recipient]
    trace: str
    created: float
    next_attempt: float
    attempts: int = 0
    subject: str = ""
    message_id: str = ""
    received_from: str = ""        # node id of the hop that handed it over (for the diagram)
    extra: dict = field(default_factory=dict)

    @property
    def direct(self) -> bool:
        """Delivered into its Maildirs before the 250, never queued (:mod:`simulator.direct`)."""
        return self.extra.get("direct") is True

    @property
    def pending(self) -> list[Recipient]:
        return [r for r in self.recipients if r.state in (RcptState.PENDING, RcptState.DEFERRED)]

    def to_dict(self) -> dict:
        """The entry as JSON data: what ``dataclasses.asdict`` gave, field by field (the same keys in the
        same order, ``extra`` copied as deep), without its generic walk (issue 13: it was a third of the
        CPU of every queue write)."""
        return {"id": self.id, "host": self.host, "sender": self.sender,
                "recipients": [r.to_dict() for r in self.recipients], "trace": self.trace,
                "created": self.created, "next_attempt": self.next_attempt, "attempts": self.attempts,
                "subject": self.subject, "message_id": self.message_id, "received_from": self.received_from,
                "extra": _copied(self.extra)}

    @classmethod
    def from_dict(cls, d: dict) -> "Entry":
        d = dict(d)
        d["recipients"] = [Recipient.from_dict(r) for r in d["recipients"]]
        return cls(**d)

    def summary(self, *, now: float | None = None, running: bool = False) -> dict:
        """What the page shows of this entry.  ``next_attempt`` is the time (epoch seconds) of its
        next attempt and ``attempts`` how many were made; with ``now``, ``retry_in`` is the seconds
        from ``now`` to the next attempt (0 when it is due or ``running``: an attempt under way), so a
        countdown needs no clock shared with the server."""
        out = {"id": self.id, "host": self.host, "from": self.sender,
               "rcpt": [r.address for r in self.recipients], "trace": self.trace,
               "subject": self.subject, "attempts": self.attempts,
               "next_attempt": self.next_attempt, "created": self.created, "running": running,
               "pending": len(self.pending),
               "recipients": [{"address": r.address, "state": str(r.state), "status": r.status,
                               "reply": r.reply, "reason": reason_to_json(r.reason)}
                              for r in self.recipients]}
        if now is not None:
            out["retry_in"] = 0.0 if running else round(max(0.0, self.next_attempt - now), 3)
        return out


def _copied(value: Any) -> Any:
    """A copy of plain data as deep as ``dataclasses.asdict`` makes it (dicts, lists and tuples)."""
    if isinstance(value, dict):
        return {_copied(k): _copied(v) for k, v in value.items()} if value else {}
    if isinstance(value, list):
        return [_copied(v) for v in value]
    if isinstance(value, tuple):
        return type(value)(*[_copied(v) for v in value]) if hasattr(value, "_fields") else \
            type(value)(_copied(v) for v in value)
    return value


def reason_to_json(reason: Reason | None) -> dict[str, Any] | None:
    """``{"code": "route.null_mx", "domain": "gamma.test"}``; a Reason parameter nests."""
    return reason.to_dict() if reason is not None else None


def reason_from_json(data: Any) -> Reason | None:
    """The Reason of :func:`reason_to_json` (None for anything that is not one we know)."""
    if not isinstance(data, dict) or not isinstance(data.get("code"), str):
        return None
    code = _CODES.get(data["code"])
    if code is None:
        return None
    params = {k: _param_from_json(v) for k, v in data.items() if k != "code"}
    return Reason.of(code, **params)


def _param_from_json(value: Any) -> Any:
    if isinstance(value, dict):
        return reason_from_json(value)
    if isinstance(value, list):
        return tuple(_param_from_json(v) for v in value)
    return value


_CODES = {member.value: member for enum in reason_enums() for member in enum}


class QueueStore:
    """The files of all hosts' queues.  Blocking I/O: call from the loop through an executor
    where latency matters (the SMTP server does the fsync in a thread)."""

    # How long a finished relayed entry is remembered once its sender's entry is gone too (and at
    # least): longer than any sender keeps retrying (RFC 5321 §4.5.4.1: 4-5 days; the queue runner
    # shortens it to the sandbox's compressed lifetime).
    keep_done: float = 7 * 24 * 3600.0

    def __init__(self, root: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.root = root
        self.clock = clock
        root.mkdir(parents=True, exist_ok=True)
        # relay_mark(relay key, recipient) of every host (filled by load_all, then kept up to date by
        # the queue runner on its loop)
        self.relayed: set[bytes] = set()
        self.syncer = GroupSync()           # the queue directories' fsyncs, shared by concurrent writers
        self._made: set[Path] = set()       # host directories known to exist
        # No ``.done`` record's mtime is below ``_records_since`` (None: not known, ``prune_done`` looks):
        # a pruning with nothing old enough to go reads no directory (see ``prune_done``).
        self._since_lock = threading.Lock()
        self._records_since: float | None = None
        self._noted = math.inf              # the least mtime bound of the records made during a pruning
        # Spare files per directory, durable under their spare names (``_retire``), for ``_write``;
        # ``_kept`` counts those plus the ones being retired now (the bound holds across threads).
        self._spare_lock = threading.Lock()
        self._spares: dict[Path, list[Path]] = {}
        self._kept: dict[Path, int] = {}

    def _dir(self, host: str) -> Path:
        if not host or "/" in host or host.startswith("."):
            raise ValueError(f"bad host name for a queue: {host!r}")
        return self.root / host

    def new_id(self) -> str:
        return secrets.token_hex(6).upper()

    def add(self, entry: Entry, content: bytes) -> None:
        directory = self._dir(entry.host)
        if directory not in self._made:             # made once per process, not tried at every add
            directory.mkdir(parents=True, exist_ok=True)
            self._made.add(directory)
        try:
            self._write(directory, f"{entry.id}.eml", content)
        except FileNotFoundError:                   # removed meanwhile: make it again
            directory.mkdir(parents=True, exist_ok=True)
            write_atomic(directory / f"{entry.id}.eml", content)
        self._write(directory, f"{entry.id}.json", json.dumps(entry.to_dict()).encode())
        self.syncer.sync(directory)

    def _write(self, directory: Path, name: str, data: bytes) -> None:
        """``write_atomic(directory / name, data)``, into a spare file of ``directory`` when one is kept
        (no file created: see "Recycled files" in the module's docstring)."""
        with self._spare_lock:
            spares = self._spares.get(directory)
            spare = spares.pop() if spares else None
            if spare is not None:
                self._kept[directory] -= 1
        if spare is None:
            write_atomic(directory / name, data)
            return
        try:
            fd = os.open(spare, os.O_WRONLY | os.O_TRUNC)
        except FileNotFoundError:                   # removed behind the queue's back
            write_atomic(directory / name, data)
            return
        try:
            try:
                write_all(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(spare, directory / name)
        except BaseException:
            spare.unlink(missing_ok=True)
            raise

    def _retire(self, path: Path) -> Path | None:
        """Take ``path`` out of the queue: renamed to a spare name while the directory keeps
        fewer than ``SPARES_KEPT``, else unlinked.  The spare is usable once the directory is fsynced
        (the caller's ``_keep``); returns it (None: unlinked, or there was no such file)."""
        directory = path.parent
        with self._spare_lock:
            kept = self._kept.get(directory, 0)
            if kept < SPARES_KEPT:
                self._kept[directory] = kept + 1
                spare = directory / f"{SPARE_PREFIX}{os.getpid()}.{next(_SPARE_NAMES)}"
            else:
                spare = None
        if spare is None:
            path.unlink(missing_ok=True)
            return None
        try:
            os.rename(path, spare)      # emptied in _keep, once the rename is durable: emptied
            return spare                # before, a power cut could bring back the entry with no octets
        except OSError:
            self._forget(spare)
            path.unlink(missing_ok=True)
            return None

    def _keep(self, spares: list[Path | None]) -> None:
        """The spares of ``_retire`` are durable (their directory fsynced): usable by ``_write``."""
        for spare in spares:
            if spare is not None:
                try:
                    os.truncate(spare, 0)           # a spare holds no message's octets
                except OSError:
                    self._forget(spare)
                    continue
                with self._spare_lock:
                    self._spares.setdefault(spare.parent, []).append(spare)

    def _forget(self, spare: Path) -> None:
        """A spare of ``_retire`` that will not be kept (its rename or its directory's fsync failed):
        uncounted, removed."""
        with self._spare_lock:
            self._kept[spare.parent] -= 1
        spare.unlink(missing_ok=True)

    def drop_spares(self) -> None:
        """Remove the spare files this store keeps (a disk helper leaving, :mod:`simulator.diskhelper`:
        nobody else takes its spares, and start-up would remove them only at the next start)."""
        with self._spare_lock:
            spares, self._spares = self._spares, {}
            for directory, kept in spares.items():
                self._kept[directory] = self._kept.get(directory, 0) - len(kept)
        for kept in spares.values():
            for spare in kept:
                spare.unlink(missing_ok=True)

    def save(self, entry: Entry) -> None:
        directory = self._dir(entry.host)
        self._write(directory, f"{entry.id}.json", json.dumps(entry.to_dict()).encode())
        self.syncer.sync(directory)

    def quarantine(self, entry: Entry) -> Path:
        """Move an entry that cannot be handled to ``<host>/quarantine/``: out of the queue, still on disk."""
        directory = self._dir(entry.host)
        target = directory / "quarantine"
        target.mkdir(exist_ok=True)
        for suffix in (".eml", ".json"):
            source = directory / f"{entry.id}{suffix}"
            if source.exists():
                source.rename(target / source.name)
        fsync_dir(target)
        fsync_dir(directory)
        return target

    def content(self, entry: Entry) -> bytes:
        return (self._dir(entry.host) / f"{entry.id}.eml").read_bytes()

    def remove(self, entry: Entry) -> None:
        """The entry leaves the queue; a relayed message or a bounce leaves its ``.done`` record."""
        directory = self._dir(entry.host)
        meta = directory / f"{entry.id}.json"
        spares: list[Path | None] = []
        if entry.extra.get("relay") or entry.extra.get("bounce_for"):
            self._note_record(entry)
            try:    # the entry is gone from here on; what the record needs was written by ``add``
                os.replace(meta, directory / f"{entry.id}.done")
            except FileNotFoundError:
                pass
        else:
            spares.append(self._retire(meta))                   # the entry is gone from here on
        spares.append(self._retire(directory / f"{entry.id}.eml"))
        try:
            self.syncer.sync(directory)
        except BaseException:
            for spare in spares:
                if spare is not None:
                    self._forget(spare)
            raise
        self._keep(spares)

    def record(self, entry: Entry) -> None:
        """Write the ``.done`` record of an entry that was never queued (a relayed message the MX
        delivered before its 250, :mod:`simulator.direct`): the same record ``remove`` leaves, made
        durable (the file and its directory fsynced) before this returns."""
        directory = self._dir(entry.host)
        if directory not in self._made:
            directory.mkdir(parents=True, exist_ok=True)
            self._made.add(directory)
        self._note_record(entry)
        self._write(directory, f"{entry.id}.done", json.dumps(entry.to_dict()).encode())
        self.syncer.sync(directory)

    def _note_record(self, entry: Entry) -> None:
        """A ``.done`` record of ``entry`` is about to exist: its mtime (the entry's last write, or now)
        is not below the entry's creation, nor below now."""
        since = min(entry.created, time.time())
        with self._since_lock:
            self._noted = min(self._noted, since)
            if self._records_since is not None:
                self._records_since = min(self._records_since, since)

    def prune_done(self) -> list[bytes]:
        """Remove the ``.done`` records no sender can still resend (``_may_go``); return the index
        marks they held, for the caller to ``forget`` on the loop that uses the index.

        Each pruning remembers the least mtime of the records it kept, lowered by every record made
        since (``_note_record``: an entry's record is no older than the entry); while that is younger
        than ``keep_done`` nothing can go, and the directories are not read (issue 13: the queue runner
        prunes every 1,000 removals, and an MX of a busy sandbox holds a record per relayed message
        for ``keep_done``, over an hour: each pruning stat'ed them all, 0.16 s per 20,000).  Records
        kept past ``keep_done`` (their sender may resend) keep the bound old: the next pruning looks."""
        oldest = self.clock() - self.keep_done
        with self._since_lock:
            if self._records_since is not None and self._records_since >= oldest:
                return []
            self._noted = math.inf
        kept = math.inf
        forgotten: list[bytes] = []
        for directory in (p for p in self.root.iterdir() if p.is_dir()):
            for record in directory.glob("*.done"):
                try:
                    mtime = record.stat().st_mtime
                    if mtime >= oldest:                         # young: kept whatever it says
                        kept = min(kept, mtime)
                        continue
                    data = json.loads(record.read_text())
                    if self._may_go(record, data):
                        record.unlink(missing_ok=True)
                        forgotten.extend(_marks(data))
                    else:
                        kept = min(kept, mtime)
                except (OSError, ValueError, KeyError, TypeError, AttributeError):
                    kept = -math.inf                            # not known: look again next time
                    continue
        with self._since_lock:
            self._records_since = min(kept, self._noted)
        return forgotten

    def forget(self, marks: list[bytes]) -> None:
        """Drop marks of pruned records from the index (on the loop that uses it)."""
        self.relayed.difference_update(marks)

    def sender_gone(self, key: str) -> bool:
        """The sender's queue entry named in relay key ``key`` (``<id@host> digest``) is no longer
        queued (or never was: a key no sandbox host wrote), so nothing can resend that message."""
        value = key.split(" ", 1)[0]
        ident, _, host = value[1:-1].rpartition("@") if value[:1] == "<" and value[-1:] == ">" else ("", "", "")
        if not ident or "/" in ident or ident.startswith("."):
            return True
        try:
            return not (self._dir(host) / f"{ident}.json").exists()
        except ValueError:
            return True

    def _may_go(self, record: Path, data: dict) -> bool:
        """A record may be removed once it is older than ``keep_done`` and the entry that could still
        ask for it is gone, however old the record (that entry's process may have been down): for a
        relayed message its sender's entry, for a bounce ``<id>-B<n>`` the bounced entry ``<id>``."""
        if record.stat().st_mtime >= self.clock() - self.keep_done:
            return False
        extra = data.get("extra") or {}
        key = extra.get("relay")
        if isinstance(key, str) and key and not self.sender_gone(key):
            return False
        if extra.get("bounce_for"):
            bounced = str(data.get("id", "")).rpartition("-B")[0]
            if bounced and (record.parent / f"{bounced}.json").exists():
                return False
        return True

    def bounces_of(self, entry: Entry) -> tuple[int, set[str]]:
        """How many bounces of ``entry`` are (or were) queued, and the recipients they cover."""
        directory = self._dir(entry.host)
        count, covered = 0, set()
        for path in [*directory.glob(f"{entry.id}-B*.json"), *directory.glob(f"{entry.id}-B*.done")]:
            count += 1
            try:
                data = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            covered.update(a.lower() for a in (data.get("extra") or {}).get("bounce_for", ()))
        return count, covered

    def load_all(self) -> list[Entry]:
        entries: list[Entry] = []
        for directory in sorted(p for p in self.root.iterdir() if p.is_dir()):
            for tmp in directory.glob("*.tmp"):
                tmp.unlink(missing_ok=True)
            for spare in directory.glob(f"{SPARE_PREFIX}*"):    # never reused across a restart
                spare.unlink(missing_ok=True)
            metas = {p.stem for p in directory.glob("*.json")}
            for eml in directory.glob("*.eml"):
                if eml.stem not in metas:           # never acknowledged: drop it
                    log.warning("removing half-written queue file %s", eml)
                    eml.unlink(missing_ok=True)
            for meta in sorted(directory.glob("*.json")):
                try:
                    entry = Entry.from_dict(json.loads(meta.read_text()))
                except (ValueError, KeyError, TypeError):
                    log.exception("unreadable queue entry %s left in place", meta)
                    continue
                if not (directory / f"{entry.id}.eml").exists():
                    log.error("queue entry %s has no message file; removing", meta)
                    meta.unlink(missing_ok=True)
                    continue
                entries.append(entry)
                self.relayed.update(_marks(entry.to_dict()))
        # The records, once every live entry is known (a record's sender may be any host's entry).
        for directory in sorted(p for p in self.root.iterdir() if p.is_dir()):
            self._load_done(directory)
        return sorted(entries, key=lambda e: e.created)

    def _load_done(self, directory: Path) -> None:
        """Index the ``.done`` records of one host; drop those no sender can resend (``_may_go``)."""
        for record in directory.glob("*.done"):
            try:
                data = json.loads(record.read_text())
                if self._may_go(record, data):
                    record.unlink(missing_ok=True)
                    continue
                self.relayed.update(_marks(data))
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                log.warning("unreadable queue record %s ignored", record)


def _marks(data: dict) -> list[bytes]:
    """The index marks of an entry's (or a record's) JSON: one per recipient of its relay key."""
    key = (data.get("extra") or {}).get("relay")
    if not isinstance(key, str) or not key:
        return []
    return [relay_mark(key, r["address"]) for r in data.get("recipients", ())]


def relay_mark(key: str, rcpt: str) -> bytes:
    """The index's 16-byte mark of "a host of this world took the message of relay key ``key`` for
    ``rcpt``" (whichever host: the resend may go to another MX of the domain)."""
    return hashlib.blake2b(f"{key}\0{rcpt.lower()}".encode("utf-8", "surrogatepass"), digest_size=16).digest()
