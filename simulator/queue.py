"""Durable outbound queue of each sandbox host.

Layout: ``<data>/queue/<host>/<id>.eml`` (the message, CRLF) and ``<id>.json`` (envelope and
per-recipient state).  Both are written to a temporary name, fsynced and renamed, the message
first: an entry exists once its ``.json`` exists, and only then does the SMTP server answer 250
(RFC 5321 §4.2.5, §6.1: after the 250 we are responsible for the message).  An ``.eml`` without
its ``.json`` is a half-written entry that was never acknowledged and is removed at start.  An
entry leaves the queue only when every recipient is delivered, relayed or bounced.

Each recipient keeps the reason of its last outcome as a code with parameters (so a bounce after
a restart still has it) and, apart from it, the reply a remote server sent (protocol text: it goes
into the DSN's Diagnostic-Code, RFC 3464 §2.3.6).  Entries written by older versions kept one
``reply`` string for both; they are still read (:meth:`Recipient.from_dict`).
"""
from __future__ import annotations

import json
import logging
import secrets
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from .facts import DeliveryReason, Reason, reason_enums
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
    def pending(self) -> list[Recipient]:
        return [r for r in self.recipients if r.state in (RcptState.PENDING, RcptState.DEFERRED)]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["recipients"] = [r.to_dict() for r in self.recipients]
        return d

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
