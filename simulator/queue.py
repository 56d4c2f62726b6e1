"""Durable outbound queue of each sandbox host.

Layout: ``<data>/queue/<host>/<id>.eml`` (the message, CRLF) and ``<id>.json`` (envelope and
per-recipient state).  Both are written to a temporary name, fsynced and renamed, the message
first: an entry exists once its ``.json`` exists, and only then does the SMTP server answer 250
(RFC 5321 §4.2.5, §6.1: after the 250 we are responsible for the message).  An ``.eml`` without
its ``.json`` is a half-written entry that was never acknowledged and is removed at start.  An
entry leaves the queue only when every recipient is delivered, relayed or bounced.
"""
from __future__ import annotations

import json
import logging
import secrets
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path

from .fsutil import fsync_dir, write_atomic

log = logging.getLogger(__name__)


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
    reply: str = ""        # the last reply or reason, shown to the learner and put in a DSN
    remote: str = ""       # the host that gave that reply

    @classmethod
    def from_dict(cls, d: dict) -> "Recipient":
        return cls(d["address"], RcptState(d["state"]), d.get("status", ""), d.get("reply", ""),
                   d.get("remote", ""))


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
    def pending(self) -> list[Recipient]:
        return [r for r in self.recipients if r.state in (RcptState.PENDING, RcptState.DEFERRED)]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["recipients"] = [asdict(r) | {"state": str(r.state)} for r in self.recipients]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Entry":
        d = dict(d)
        d["recipients"] = [Recipient.from_dict(r) for r in d["recipients"]]
        return cls(**d)

    def summary(self) -> dict:
        return {"id": self.id, "host": self.host, "from": self.sender,
                "rcpt": [r.address for r in self.recipients], "trace": self.trace,
                "subject": self.subject, "attempts": self.attempts,
                "next_attempt": self.next_attempt,
                "recipients": [{"address": r.address, "state": str(r.state), "status": r.status,
                                "reply": r.reply} for r in self.recipients]}


class QueueStore:
    """The files of all hosts' queues.  Blocking I/O: call from the loop through an executor
    where latency matters (the SMTP server does the fsync in a thread)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def _dir(self, host: str) -> Path:
        if not host or "/" in host or host.startswith("."):
            raise ValueError(f"bad host name for a queue: {host!r}")
        return self.root / host

    def new_id(self) -> str:
        return secrets.token_hex(6).upper()

    def add(self, entry: Entry, content: bytes) -> None:
        directory = self._dir(entry.host)
        directory.mkdir(parents=True, exist_ok=True)
        write_atomic(directory / f"{entry.id}.eml", content)
        write_atomic(directory / f"{entry.id}.json", json.dumps(entry.to_dict()).encode())
        fsync_dir(directory)

    def save(self, entry: Entry) -> None:
        directory = self._dir(entry.host)
        write_atomic(directory / f"{entry.id}.json", json.dumps(entry.to_dict()).encode(), sync_dir=True)

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
        directory = self._dir(entry.host)
        (directory / f"{entry.id}.json").unlink(missing_ok=True)   # the entry is gone from here on
        (directory / f"{entry.id}.eml").unlink(missing_ok=True)
        fsync_dir(directory)

    def load_all(self) -> list[Entry]:
        entries: list[Entry] = []
        for directory in sorted(p for p in self.root.iterdir() if p.is_dir()):
            for tmp in directory.glob("*.tmp"):
                tmp.unlink(missing_ok=True)
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
        return sorted(entries, key=lambda e: e.created)
