"""Local delivery: the queue runner's MDA into this host's own Maildirs, and the outside world's mailbox.

Theory of operation
    For the recipients this host is the final destination of (role mx), the queue runner
    (:class:`simulator.delivery.Delivery`, of which :class:`LocalDelivery` is a part) awaits the step
    gate, honours a ``mailbox_full`` fault (4.2.2 / 5.2.2, ``_mailbox_full``), and writes the message
    with its final headers (:func:`simulator.mda.final_headers`) into the recipient's Maildir, or its
    domain's catch-all's (``_local``).  The file's name is a function of the entry and the recipient
    (:func:`simulator.mda.delivery_name`); the delivery and its record (the entry saved, or removed
    when nothing is left) happen in one worker-thread call (``_deliver_and_record``), before any
    reader is told: a redo after a crash finds the file by its name and writes nothing.  Mail for a
    domain outside the sandbox, in ``catch`` mode, is kept whole in the outside world's one mailbox
    (``_catch``, ``_keep``), and so is a double bounce.

    At start (:func:`settle_at_start`, before anything listens): an entry a killed process left may
    have a copy linked into ``new/`` whose record (the entry's save) the kill prevented.  Its redo
    would find it by name -- but only once it runs, after the step gate, while readers are already
    connected: a reader who fetched and deleted that copy meanwhile would get it again.  So each
    pending local recipient of each entry read at start is looked up by its name first, and the ones
    found are marked delivered and the entry saved, before any reader can connect.
"""
from __future__ import annotations

import dataclasses
import functools
import logging
from pathlib import Path

from . import crashpoints, mda, nodes
from .facts import Caught, DeliveryReason, Fact, FaultBit, HopStep, MdaDelivered, NextHop, Reason
from .faults import fault_node
from .outcomes import defer as _defer, done as _done, fail as _fail, left as _left
from .queue import Entry, QueueStore, RcptState, Recipient
from .scenario import Role
from .store.maildir import NameIndex
from .world import Acceptance, Host, World, split_address

log = logging.getLogger(__name__)

__all__ = ["LocalDelivery", "settle_at_start"]


def settle_at_start(queue: QueueStore, data_dir: Path, world: World, entries: list[Entry]) -> set[str]:
    """In a worker thread, at start, before any reader can connect: for each entry read at start,
    each pending recipient this host delivers into a local Maildir whose copy (named by
    :func:`simulator.mda.delivery_name`) is in ``new/`` or ``cur/`` already is marked delivered, and
    the entry saved -- or removed from the queue, when nothing is left of it (no recipient pending, no
    failure waiting for its bounce).  Returns the ids of the entries removed: not to be scheduled."""
    gone: set[str] = set()
    index = NameIndex()         # each Maildir read once, however many entries
    for entry in entries:
        host = world.hosts.get(entry.host)
        if host is None or host.role is not Role.MX:
            continue
        found: list[Recipient] = []
        for rcpt in entry.pending:
            domain = split_address(rcpt.address)[1]
            if world.catches(domain) or world.acceptance(host, domain) != Acceptance.FINAL:
                continue
            target = world.mailbox_of(rcpt.address)
            if target is None:
                continue
            name = mda.delivery_name(entry.created, entry.id, f"R{entry.recipients.index(rcpt)}")
            try:
                if index.has_named(mda.maildir_for(data_dir, target), name):
                    found.append(rcpt)
            except ValueError:          # not a deliverable address: the redo fails it
                continue
        if not found:
            continue
        for rcpt in found:
            _done(rcpt, host.name)
        finished = not entry.pending and not [r for r in entry.recipients if r.state is RcptState.FAILED
                                              and not entry.extra.get(f"bounced:{r.address}")]
        try:
            if finished:            # nothing left to do: it leaves the queue now (a relay its .done record)
                queue.remove(entry)
                gone.add(entry.id)
            else:
                queue.save(entry)
        except OSError:
            log.exception("could not record the deliveries of %s found at start; its redo will", entry.id)
    return gone


class LocalDelivery:
    """The local-delivery part of :class:`simulator.delivery.Delivery` (its state lives there)."""

    async def _local(self, entry: Entry, host: Host, rcpts: list[Recipient], content: bytes, *,
                     redo: bool) -> None:
        svc = self.svc
        for rcpt in rcpts:
            target = svc.world.mailbox_of(rcpt.address)
            if target is None:
                _fail(rcpt, "5.1.1", Reason.of(DeliveryReason.NO_SUCH_USER, rcpt=rcpt.address, host=host.name),
                      f"550 5.1.1 <{rcpt.address}>: no such user here", host.name)
                continue
            mailbox = nodes.mailbox(target)
            other = target != rcpt.address.lower()          # a catch-all takes it
            await svc.gate.hop(NextHop(src=nodes.mda(host.domain), dst=mailbox, step=HopStep.DELIVER,
                                       host=host.name, rcpt=rcpt.address, trace=entry.trace))
            if self._mailbox_full(entry, host, rcpt, target):
                continue
            data = mda.final_headers(content, return_path=entry.sender, delivered_to=target, trace=entry.trace,
                                     original_to=(rcpt.address,) if other else ())
            name = mda.delivery_name(entry.created, entry.id, f"R{entry.recipients.index(rcpt)}")
            try:
                path, written = await self._io(functools.partial(
                    self._deliver_and_record, entry, mda.maildir_for(svc.data_dir, target), data, name=name,
                    redo=redo, done=(rcpt,), remote=host.name))
            except OSError as exc:
                _defer(rcpt, "4.2.0", Reason.of(DeliveryReason.MAILBOX_WRITE, rcpt=rcpt.address, error=str(exc)))
                continue
            if not written:         # a redo: delivered before a crash, and told then
                continue
            self._notify(target)
            svc.publish(MdaDelivered(src=nodes.mda(host.domain), dst=mailbox, trace=entry.trace,
                                     message=self._message(entry), host=host.name, rcpt=rcpt.address,
                                     path=str(path.relative_to(svc.data_dir)), size=len(data),
                                     mailbox=target if other else ""))

    def _deliver_and_record(self, entry: Entry, maildir: Path, data: bytes, *, name: str, redo: bool,
                            done: tuple[Recipient, ...], remote: str) -> tuple[Path, bool]:
        """In a worker thread: deliver (or find) the file named ``name``, mark ``done`` delivered, and
        save the entry if anything is left in the attempt, so the delivery is on record before any
        reader hears of it or the attempt waits again; (the file's path, written now?)."""
        path, written = mda.deliver_once(maildir, data, name=name, redo=redo, before_link=_reach_written)
        crashpoints.reach("mda.linked")
        for rcpt in done:
            _done(rcpt, remote)
        if done and _left(entry):
            self._record(entry)
        elif done:
            # Nothing is left of the entry: it leaves the queue now, in the same worker call (what
            # ``_finish`` would do next, one hand-off later), before any reader is told.
            try:
                self.svc.queue.remove(entry)
                self._gone.add(entry.id)
            except OSError:
                log.exception("could not remove %s from the queue; the attempt's end will", entry.id)
        return path, written

    def _record(self, entry: Entry) -> None:
        """Save the entry now (a worker thread); a failure is left to the attempt's commit."""
        try:
            self.svc.queue.save(entry)
        except OSError:
            log.exception("could not record the progress of %s; its next commit will", entry.id)

    def _notify(self, address: str) -> None:
        try:
            self.svc.notify_mailbox(address)
        except Exception:       # telling IDLE sessions must never undo a delivery
            log.exception("store notification for %s failed", address)

    async def _catch(self, entry: Entry, host: Host, rcpts: list[Recipient], content: bytes, *,
                     redo: bool) -> None:
        """Mail for domains outside the sandbox, in ``catch`` mode: one copy, whole, into the outside
        world's mailbox; the recipients are done (or wait, if the copy could not be written)."""
        addresses = tuple(r.address for r in rcpts)
        part = "C" + "-".join(str(entry.recipients.index(r)) for r in rcpts)
        if await self._keep(entry, host, addresses, content, bounce=False, part=part, redo=redo, done=tuple(rcpts)):
            return
        for rcpt in rcpts:
            _defer(rcpt, "4.2.0", Reason.of(DeliveryReason.MAILBOX_WRITE, rcpt=nodes.CATCH_ADDRESS,
                                            error="the outside world's mailbox could not be written"))

    async def _keep(self, entry: Entry, host: Host, rcpts: tuple[str, ...], content: bytes, *,
                    bounce: bool, part: str, redo: bool = True, publish_first: Fact | None = None,
                    done: tuple[Recipient, ...] = ()) -> bool:
        """Write ``content`` into the outside world's mailbox for ``rcpts`` (the gate first), marking
        ``done`` delivered; publish ``publish_first`` (if any), then the hop to the outside world and
        the delivery -- unless a redo found the copy written before a crash (then nothing).  False if
        the file could not be written (nothing is published about the outside world then)."""
        svc = self.svc
        node = nodes.mta(host.name)
        await svc.gate.hop(NextHop(src=node, dst=nodes.INTERNET, step=HopStep.CATCH, host=host.name,
                                   rcpt=", ".join(rcpts), trace=entry.trace))
        data = mda.final_headers(content, return_path=entry.sender, delivered_to=nodes.CATCH_ADDRESS,
                                 trace=entry.trace, original_to=rcpts)
        try:
            path, written = await self._io(functools.partial(
                self._deliver_and_record, entry, mda.maildir_for(svc.data_dir, nodes.CATCH_ADDRESS), data,
                name=mda.delivery_name(entry.created, entry.id, part), redo=redo, done=done,
                remote=nodes.INTERNET))
        except OSError:
            log.exception("the outside world's mailbox could not be written (entry %s)", entry.id)
            if publish_first is not None:
                svc.publish(publish_first)
            return False
        if not written:             # a redo: kept before a crash, and told then
            return True
        self._notify(nodes.CATCH_ADDRESS)
        if publish_first is not None:
            svc.publish(dataclasses.replace(publish_first, kept=nodes.CATCH_ADDRESS))
        svc.publish(Caught(src=node, dst=nodes.INTERNET, trace=entry.trace, message=self._message(entry),
                           host=host.name, queue_id=entry.id, rcpts=rcpts, mailbox=nodes.CATCH_ADDRESS,
                           bounce=bounce, size=len(data)))
        svc.publish(MdaDelivered(src=nodes.INTERNET, dst=nodes.mailbox(nodes.CATCH_ADDRESS), trace=entry.trace,
                                 message=self._message(entry), host=host.name, rcpt=rcpts[0] if rcpts else "",
                                 path=str(path.relative_to(svc.data_dir)), size=len(data),
                                 mailbox=nodes.CATCH_ADDRESS))
        return True

    def _mailbox_full(self, entry: Entry, host: Host, rcpt: Recipient, target: str) -> bool:
        """A ``mailbox_full`` fault: the MDA finds the mailbox over its quota (RFC 3463 X.2.2)."""
        fault = self.svc.faults.mailbox_full(target) if self.svc.faults is not None else None
        if fault is None:
            return False
        status = "5.2.2" if fault.permanent else "4.2.2"
        reply = f"{'552' if fault.permanent else '452'} {status} <{rcpt.address}>: mailbox full"
        why = Reason.of(DeliveryReason.MAILBOX_FULL, rcpt=rcpt.address, host=host.name,
                        permanent=fault.permanent)
        (_fail if fault.permanent else _defer)(rcpt, status, why, reply, host.name)
        self.svc.publish(FaultBit(src=nodes.mailbox(target), dst=nodes.mda(host.domain),
                                  trace=entry.trace, fault=fault.kind, target=fault.target,
                                  node=fault_node(fault), command="DELIVER", reply=reply, client=host.name))
        return True


def _reach_written() -> None:
    crashpoints.reach("mda.written")
