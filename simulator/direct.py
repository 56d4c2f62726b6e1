"""Direct delivery: the final MX writes a message into its Maildirs before its 250, when nothing needs the queue.

Theory of operation
    A message that reaches the MX which is the final destination of every one of its recipients is,
    through the queue, written four times and fsynced about six times before it is in ``new/``: the
    queue's ``.eml`` and ``.json`` (and their directory) before the 250, then the Maildir's copy (and
    ``new/``), then the queue entry's removal (and the directory again).  When nothing can ask for the
    queue -- the world's gate plays freely (no lesson holds or steps a hop), no fault is in force (no
    full mailbox, no slow or refusing host), every recipient has a mailbox on this host (no catch of
    the outside world, no backup MX relaying on) -- the queue only adds those writes.  Then the MX
    calls :func:`write` once, in a worker thread, before it answers the end of DATA: each recipient's
    copy is written under ``tmp/``, fsynced, linked into ``new/`` and ``new/`` fsynced (a group commit
    shared with concurrent deliveries), and the 250 follows.  That is two fsyncs for a message from
    outside; a relayed one adds its record (below): four.  Its reply says "delivered as <id>", not
    "queued as": nothing was queued (:attr:`simulator.queue.Entry.direct`).

    Exactly once across crashes (issue 12, rule 1) holds as on the queue's path:

    - a relayed copy (it carried a relay key, :mod:`simulator.protocols.smtp.relayid`) leaves the
      same durable record a delivered queue entry leaves (``<id>.done`` in the host's queue directory,
      file and directory fsynced, :meth:`simulator.queue.QueueStore.record`) once its copies are in
      ``new/`` and before the 250, so a resend after the *sender's* crash is known by its key and
      recipients, by whichever MX of the domain it reaches, and answered 250 without a second copy;
    - the process killed before the 250: a copy under ``tmp/`` is removed at start (never
      acknowledged, :func:`simulator.store.maildir.clean_tmp`); a copy already in ``new/`` (no record
      yet) is found by the resend, because the file's name is a function of the relay key and the
      recipient (:func:`simulator.mda.relay_name`, whatever the time, host part and flags:
      :func:`found`), recorded then, and nothing is written twice -- whichever path the resend takes
      next (this MX direct again, or queuing because a fault is set meanwhile, or a backup MX): the
      look is made at the door, before either (``DirectDelivery._found_direct``).  It scans ``new/``
      and ``cur/``, so only a resend that may follow such a crash asks for it (``_maybe_before``: the
      sending entry was read at start, or an attempt of this key failed in this process).  A message
      from outside the sandbox carries no key and, like one killed after the queue's fsync, may be
      delivered again if its client sends it again (it never had a 250);
    - a write that fails (disk full, a Maildir removed): the copies that are in ``new/`` are marked
      delivered and the message goes into the queue as before (the queue entry is then its record).

    Every hop stays an event, in the order the page folds them: the MX's ``smtp.session`` (its fact
    says ``direct``: the narration tells that the MX delivered before it answered), then the MDA's
    ``mda.deliver`` for each copy.  The files are on disk before the 250, but their facts (and the
    IDLE sessions' news) are held until the session has published its own (``Delivery.announce``,
    called by the SMTP handler), or :data:`ANNOUNCE_FALLBACK` seconds, whichever comes first.

    The worker-thread side is :func:`plan`, :func:`write` and :func:`found` (handed to a worker with
    the queue runner's ``_io``: :mod:`simulator.offload` over :mod:`simulator.handoff`, lighter than
    ``asyncio.to_thread``, and waited for by ``Delivery.stop``; :func:`write` goes through
    ``Offload.far``, to the disk helper process while one runs, :mod:`simulator.diskhelper`); the loop's side is
    :class:`DirectDelivery`, a part of :class:`simulator.delivery.Delivery`.
"""
from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import crashpoints, mda, nodes
from .facts import MdaDelivered
from .outcomes import done as _done
from .queue import Entry, QueueStore, RcptState, Recipient, relay_mark
from .scenario import Role
from .store.maildir import NameIndex, find_unique, size_fields
from .world import Acceptance, Host, World, split_address

__all__ = ["ANNOUNCE_FALLBACK", "DIRECT", "Copy", "DirectDelivery", "found", "plan", "write"]

# Off: every message goes through the queue, as before issue 13's direct path (the benchmarks'
# ``--off direct`` sets it so).
DIRECT = True
# Seconds after which a direct delivery's facts are published even if its SMTP session never said
# it published its own (the client went away before the 250 could be written).
ANNOUNCE_FALLBACK = 300.0   # a safety net only: the session says when it published or left


@dataclass(slots=True)
class Copy:
    """One recipient's copy: where it went, and whether it was written now (False: found from before)."""
    rcpt: Recipient
    mailbox: str                    # the mailbox written into: the recipient's own, or a catch-all's
    path: Path | None = None        # None: it could not be written
    written: bool = False
    size: int = 0


def plan(world: World, host: Host, rcpts: list[str]) -> list[str] | None:
    """The mailbox of each of ``rcpts`` when ``host`` is the final destination of all of them and
    each has a mailbox here; None when any of them needs the queue."""
    mailboxes: list[str] = []
    for address in rcpts:
        domain = split_address(address)[1]
        if world.catches(domain) or world.acceptance(host, domain) != Acceptance.FINAL:
            return None
        mailbox = world.mailbox_of(address)
        if mailbox is None:
            return None
        mailboxes.append(mailbox)
    return mailboxes


def write(queue: QueueStore, data_dir: Path, entry: Entry, content: bytes, mailboxes: list[str], *,
          relay: str) -> tuple[list[Copy], bool]:
    """In a worker thread: deliver ``content`` to each recipient of ``entry`` (into ``mailboxes``),
    then, for a relayed message (``relay``: its key) whose copies are all in, write its record.
    Returns the copies and whether everything is durable (every copy, and the record if one is due).
    A copy of the same key from an attempt before is looked for by the caller (:func:`found`)."""
    copies: list[Copy] = []
    for index, (rcpt, mailbox) in enumerate(zip(entry.recipients, mailboxes)):
        other = mailbox != rcpt.address.lower()
        data = mda.final_headers(content, return_path=entry.sender, delivered_to=mailbox, trace=entry.trace,
                                 original_to=(rcpt.address,) if other else ())
        name = (mda.relay_name(entry.created, relay, rcpt.address)[0] if relay
                else mda.delivery_name(entry.created, entry.id, f"R{index}"))
        copy = Copy(rcpt, mailbox, size=len(data))
        maildir = mda.maildir_for(data_dir, mailbox)
        try:
            copy.path, copy.written = mda.deliver_once(maildir, data, name=name, before_link=_reach_written)
        except OSError:
            # Failed after its link (the fsync of new/, say): the copy is there, under a name the
            # queue's MDA would not look for -- count it, or the queue writes it a second time.
            linked = maildir / "new" / (name + size_fields(data))
            if linked.exists():
                copy.path, copy.written = linked, True
        copies.append(copy)
    crashpoints.reach("direct.linked")
    if any(c.path is None for c in copies):
        return copies, False
    if relay:
        for rcpt in entry.recipients:
            rcpt.state, rcpt.status, rcpt.remote = RcptState.DONE, "2.0.0", entry.host
        entry.extra["direct"] = True
        try:
            queue.record(entry)
        except OSError:
            entry.extra.pop("direct", None)
            return copies, False
        crashpoints.reach("direct.recorded")
    entry.extra["direct"] = True
    return copies, True


def found(queue: QueueStore, data_dir: Path, record: Entry, mailboxes: list[str | None], *,
          index: NameIndex | None = None) -> list[str]:
    """In a worker thread: which recipients of ``record`` (a relayed message, ``extra["relay"]``:
    its key) already have the direct copy of that key in their mailbox (``mailboxes``, None: none
    here), written by an attempt that was killed before its record; those are marked done and their
    record written (durably) before this returns their addresses.  ``index``: the Maildirs' names
    read once (the start-up's many lookups)."""
    key = record.extra["relay"]
    taken: list[str] = []
    for rcpt, mailbox in zip(record.recipients, mailboxes):
        if mailbox is None:
            continue
        unique = mda.relay_name(record.created, key, rcpt.address)[1]
        maildir = mda.maildir_for(data_dir, mailbox)
        if (index.has_unique(maildir, unique) if index is not None
                else find_unique(maildir, unique) is not None):
            taken.append(rcpt.address)
    if taken:
        record.recipients = [Recipient(a, RcptState.DONE, "2.0.0", remote=record.host) for a in taken]
        queue.record(record)
    return taken


def settle_at_start(queue: QueueStore, data_dir: Path, world: World, entries: list[Entry]) -> int:
    """In a worker thread, at start, before any reader can connect: for each entry read at start
    (a sender that may resend), the direct copies of its relay key that a killed attempt linked
    without a record are recorded now -- so a reader who fetches and deletes such a copy before
    the resend arrives does not get it a second time.  Returns how many were recorded."""
    from .protocols.smtp import relayid
    count = 0
    index = NameIndex()         # each Maildir read once, however many entries
    for entry in entries:
        pending = [r for r in entry.pending if world.mailbox_of(r.address) is not None]
        if not pending:
            continue
        try:
            content = queue.content(entry)
        except OSError:
            continue
        key = relayid.key_of(content, queue_id=entry.id, host=entry.host)
        record = Entry(id=f"{entry.id}-S", host=entry.host, sender=entry.sender,
                       recipients=[Recipient(r.address) for r in pending], trace=entry.trace,
                       created=entry.created, next_attempt=0.0, extra={"relay": key})
        taken = found(queue, data_dir, record, [world.mailbox_of(r.address) for r in pending], index=index)
        queue.relayed.update(relay_mark(key, a) for a in taken)
        count += len(taken)
    return count


def _reach_written() -> None:
    crashpoints.reach("direct.written")


class DirectDelivery:
    """The loop's side of the direct path, a part of :class:`simulator.delivery.Delivery` (its state
    lives there: ``_born``, ``_unsure``, ``_held``)."""

    def _direct_plan(self, host: Host, entry: Entry, received_from: str, schedule: bool) -> list[str] | None:
        """The mailboxes to deliver ``entry`` into before the 250, or None: it goes into the queue.
        Only at an MX's door (not a submission, not a bounce), while the world runs freely and no
        fault is in force, for recipients that all have a mailbox on this host."""
        if (not DIRECT or not schedule or host.role is not Role.MX or not host.up
                or received_from.startswith("mua:") or set(entry.extra) - {"relay"}):
            return None
        if not self._free_running() or (self.svc.faults is not None and self.svc.faults.all()):
            return None
        return plan(self.svc.world, host, [r.address for r in entry.recipients])

    async def _direct(self, host: Host, entry: Entry, content: bytes, mailboxes: list[str]) -> None:
        """Deliver before the 250; on a failed write, what is in ``new/`` is marked done and the
        message is queued as before (its entry is then the record)."""
        svc = self.svc
        relay = entry.extra.get("relay", "")
        copies, durable = await self._offload.far("direct.write", svc.queue, svc.data_dir, entry, content,
                                                  mailboxes, relay)
        self._hold(host, entry, [c for c in copies if c.path is not None])
        if durable:
            return
        if relay:
            self._unsure.add(relay)             # a copy may be in new/ with no record: look next time
        for copy in copies:
            if copy.path is not None:
                _done(copy.rcpt, host.name)
        await self._commit(entry, content)

    async def _found_direct(self, host: Host, sender: str, rcpts: list[str], relay: str,
                            fields: dict[str, Any]) -> list[str]:
        """Those of ``rcpts`` whose direct copy of this relay key is not in their mailbox already (an
        attempt killed after its link, before its record and its 250: :mod:`simulator.direct`);
        the others are on record from now on (their record written, the index told)."""
        svc = self.svc
        now = svc.clock()
        record = Entry(id=f"{fields['queue_id']}-F", host=host.name, sender=sender,
                       recipients=[Recipient(r) for r in rcpts], trace=fields["trace"], created=now,
                       next_attempt=now, extra={"relay": relay})
        mailboxes = [svc.world.mailbox_of(r) for r in rcpts]
        try:
            taken = await self._io(found, svc.queue, svc.data_dir, record, mailboxes)
        except OSError:
            self._unsure.add(relay)
            raise
        svc.queue.relayed.update(relay_mark(relay, r) for r in taken)
        there = {r.lower() for r in taken}
        return [r for r in rcpts if r.lower() not in there]

    def _maybe_before(self, relay: str) -> bool:
        """A copy of this relay key may be in a Maildir from an attempt that got no 250: its sender's
        entry was read at start (this process was killed and started again), or a direct attempt
        of the key failed in this process."""
        if relay in self._unsure:
            return True
        value = relay.split(" ", 1)[0]
        ident = value[1:-1].rpartition("@")[0] if value[:1] == "<" else ""
        return ident not in self._born

    def _hold(self, host: Host, entry: Entry, copies: list[Copy]) -> None:
        """Keep the facts of a direct delivery until its SMTP session has published its own."""
        if not copies:
            return
        timer = asyncio.get_running_loop().call_later(ANNOUNCE_FALLBACK, self.announce, entry.id)
        self._held[entry.id] = (entry, host, copies, timer)
        if entry.id in self._orphans:           # its session left before the write was done
            self._orphans.discard(entry.id)
            self.announce(entry.id)

    def session_gone(self, queue_id: str) -> None:
        """The MX's session of this delivery ended before its 250 (its fact is published): tell now,
        or as soon as the write is done."""
        if queue_id in self._held:
            self.announce(queue_id)
        elif queue_id in self._awaiting:
            self._session_told(queue_id)
        else:
            self._orphans.add(queue_id)

    def announce(self, queue_id: str) -> None:
        """The MX's session for this direct delivery has published its facts (or it never will):
        tell the mailboxes' readers, and publish the MDA's deliveries.  Idempotent.  For an entry
        that went into the queue instead, its first attempt starts now (``Delivery._session_told``)."""
        self._session_told(queue_id)
        held = self._held.pop(queue_id, None)
        if held is None:
            return
        entry, host, copies, timer = held
        timer.cancel()
        svc = self.svc
        for copy in copies:
            if not copy.written or copy.path is None:       # a resend's copy, found from before: told then
                continue
            self._notify(copy.mailbox)
            other = copy.mailbox != copy.rcpt.address.lower()
            svc.publish(MdaDelivered(src=nodes.mda(host.domain), dst=nodes.mailbox(copy.mailbox),
                                     trace=entry.trace, message=self._message(entry), host=host.name,
                                     rcpt=copy.rcpt.address, path=_relative(copy.path, svc.data_dir),
                                     size=copy.size, mailbox=copy.mailbox if other else ""))


def _relative(path: Path, root: Path) -> str:
    """``str(path.relative_to(root))`` for a copy's path under the data directory, by slicing the
    strings (``relative_to`` builds and compares the parts: ~10 µs per published delivery)."""
    text, prefix = str(path), str(root).rstrip(os.sep) + os.sep
    return text[len(prefix):] if text.startswith(prefix) else str(path.relative_to(root))
