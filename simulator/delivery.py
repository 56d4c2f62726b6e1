"""The queue runner of every sandbox host: local delivery (MDA) or relay (DNS MX -> SMTP), retries
with backoff, and bounces.

Where the parts live: this module enters messages into the queue, schedules the attempts, runs each
one and ends it (retry, bounce, removal); :class:`Delivery` is made of its parts, each in a module of
its own that holds no state: :mod:`simulator.relaying` (MX lookup, SMTP to the next hop, cached
connections), :mod:`simulator.local_delivery` (the MDA into this host's Maildirs, the outside world's
mailbox), :mod:`simulator.direct` (the final MX delivering before its 250, with no queue), and
:mod:`simulator.outcomes` (each recipient's state changes).

One entry is worked on by one task at a time.  For each pending recipient, grouped by domain:

- this host is the domain's final destination (role mx): the MDA writes into the Maildir of the
  recipient, or of its domain's catch-all user (``World.mailbox_of``);
- the domain is outside the sandbox and the world catches such mail (``outside: catch``): the host
  hands the message to the outside world (``internet``), which keeps one copy, whole, in its mailbox
  (:data:`~simulator.nodes.CATCH_ADDRESS`): no DNS lookup, no connection;
- otherwise: look up the domain's MX in the sandbox DNS (:mod:`simulator.routing`), then try the
  targets in order; a refused connection or a 4xx before RCPT moves on to the next target
  (RFC 5321 §5.1); a 5xx fails the recipient for good; anything else temporary defers it.  An MX
  address that is not a loopback address is never connected to (the sandbox DNS only knows 127/8;
  this guard makes "nothing leaves the machine" hold whatever a DNS answer says): 5.4.4.

Deferred recipients are retried after ``QueuePolicy.delay(attempts)``; after ``lifetime`` they are
bounced (4.4.7).  A bounce goes into this host's own queue with a null reverse-path and carries the
original whole (:mod:`simulator.dsn`); a bounce that cannot be delivered is never bounced (RFC 5321
§4.5.5) but kept whole in the outside world's mailbox, as a real MTA gives a "double bounce" to its
postmaster: nothing ends only in the log.

Faults (:mod:`simulator.faults`) the queue runner honours: a sending host with ``no_tls`` does not
start TLS (the others use STARTTLS whenever the next hop offers it); the MDA defers a recipient whose
mailbox is full (4.2.2) or fails it (5.2.2, permanent).  A connection refused by a host with a
``refuse`` fault, a declined STARTTLS and a full mailbox publish a :class:`~simulator.facts.FaultBit`.  Every step awaits the step gate first, and every
step publishes a fact (:mod:`simulator.facts`); the reasons are codes with parameters.  A fact of a
connection carries its layers (:class:`~simulator.facts.Wire`): an attempt's as the sending side saw
it (its own address, and its port once connected), an MX lookup's as the DNS server saw the question
(``DeliveryServices.dns_wire``).  ``entries()`` and ``is_running()`` are what the queue's snapshot
reads (each entry's next attempt and attempts, :meth:`simulator.queue.Entry.summary`).

Speed (issue 13), without changing what is promised or shown:

- relay connections are cached and limited per destination
  (:class:`~simulator.protocols.smtp.conncache.ConnectionCache`, ``RELAY_CONCURRENCY``): a message to
  a next hop that was just used goes on the same session, at MAIL FROM (its transcript shows just
  that), and a burst never opens more connections than the MX takes from one client (beyond that it
  would answer 421 and the message would wait for its retry).  Only while the world runs freely
  (``_reusable``, asked again when a slot is granted and when the connection is given back): a
  paused or slowed gate, a fault or a host that is down gets the old way, one connection per
  attempt; and any such change (``world_changed``) closes the idle connections, so none from before
  it is reused;
- in-flow control (``_inflow``, Postfix's ``in_flow_delay``): a submitted message waits before its
  250 while ``FLOW_LIMIT`` entries are due or under way, at most ``FLOW_DELAY``, so a fast client
  waits for its 250 rather than its messages waiting, unseen, behind it;
- a message just queued is kept in memory for its first attempt (``CONTENT_CACHE`` bytes at most):
  no read of the file it was written to a moment before;
- the last local delivery of an entry removes it from the queue in the same worker-thread call
  (``_deliver_and_record``): one hand-off to a thread per delivered message instead of three;
- the loop's turns between a message's steps are counted: a queue write is awaited through a shield
  with what follows it as its own callback (``_commit``, ``_stored``: no task of its own), and a due
  entry's task is made at once (``schedule``), not from a timer of delay 0;
- the queue's file work goes to the light hand-off pool (:mod:`simulator.handoff`) through
  :class:`simulator.offload.Offload` (``_io``), which ``stop`` waits on: the jobs in flight end first;
- the final MX delivers into the Maildirs before its 250 when nothing needs the queue (the world
  runs freely, no fault, every recipient's mailbox on this host: :mod:`simulator.direct`): no queue
  files, about two fsyncs per message instead of six; a relayed copy leaves the same ``.done`` record.

Exactly once across crashes (issue 12, rule 1; more than Postfix, which is at-least-once across
the relay window, RFC 5321 §6.1).  The process may die between any two writes; each window is closed
by making the second step find out whether the first one happened:

- accepted, then killed: the entry is fsynced before the 250 (``enqueue``), and read again at start;
- delivered into a Maildir: the completion is recorded durably (the entry saved, the recipient done)
  right after the link, in the same worker-thread call, before the mailbox's readers are told and
  before the attempt goes on to its next recipient: the entry saved whenever anything is left in the
  attempt, else removed from the queue (durably: the queue directory fsynced).  So a message a reader has fetched and deleted
  meanwhile (POP3 DELE, IMAP EXPUNGE or MOVE, retention), or that waits at the step gate while a
  clean stop cancels the attempt, is on record as delivered and never comes back.  Killed between
  the link and that save: the file's name is a function of the entry and the recipient
  (:func:`simulator.mda.delivery_name`), so the redo finds it in ``new/`` or ``cur/`` and writes
  nothing (:func:`simulator.mda.deliver_once`); and since a reader may fetch and delete it before
  the redo runs (the gate paused at start), it is looked up at start, before anything listens, and
  put on record then (:func:`simulator.local_delivery.settle_at_start`; the direct path's copies:
  :func:`simulator.direct.settle_at_start`);
- relayed (the next hop said 250): the entry is saved after each relay batch while anything is
  left; killed before, the relay carries the entry's identifier
  (:mod:`simulator.protocols.smtp.relayid`) and every MX of the world, which share one queue store,
  knows it by that key and the recipient (whichever of the domain's MX took the first copy), in the
  entry it queued and, after delivery, in the queue's ``.done`` records, and answers the resend 250
  without queuing it again (``enqueue(relay=...)``);
- a bounce queued, then killed before the entry says so: a bounce's id is ``<entry>-B<n>`` and says
  which recipients it covers; the redo finds it (live or ``.done``) and queues none for them;
- a copy left under a Maildir's ``tmp/``: removed at start (:func:`simulator.store.maildir.clean_tmp`).

An entry whose lifetime is over when its attempt comes (after a long downtime) relays nothing more:
a relay a crash left unnoted is looked up in the world's index (done, not bounced), the rest is
bounced (4.4.7); its deliveries into this host's own Maildirs get their last attempt (Postfix makes
one too), which a redo's lookup by name keeps from writing twice.  A redo that finds its work done
publishes nothing a second time.  The saves of concurrent attempts share their directory fsyncs
(:class:`simulator.fsutil.GroupSync`).  Crash points (:mod:`simulator.crashpoints`) let a test stop
the process inside each window.
"""
from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import format_datetime
from pathlib import Path
from typing import Any, Callable

from . import crashpoints, direct, dsn, nodes
from .config import QueuePolicy
from .direct import DirectDelivery
from .facts import Bounced, Deferred, DeliveryReason, Fact, Quarantined, Reason, Retry, Wire
from .faults import FaultBook
from .gate import StepGate
from .local_delivery import LocalDelivery
from .offload import Offload
from .outcomes import fail as _fail, reply_reason as _reply_reason
from .protocols.smtp.conncache import ConnectionCache
from .queue import Entry, QueueStore, RcptState, Recipient, relay_mark
from .relaying import Relaying
from .routing import Resolver
from .scenario import Role
from .traces import TraceBook
from .world import Acceptance, Host, World, split_address

log = logging.getLogger(__name__)

PRUNE_EVERY = 1000      # entries removed between two prunings of the queue's memory
# Relay connections open at once from one host to one next-hop address (Postfix's
# default_destination_concurrency_limit is 20; the MX's per-client cap, --smtp-sessions-per-address,
# is 20 by default: staying under it keeps a burst from being answered 421 and retried seconds later).
RELAY_CONCURRENCY = 10
# In-flow control (Postfix's in_flow_delay): a submitted message waits before it is accepted while
# FLOW_LIMIT entries are being worked on, at most FLOW_DELAY seconds; see ``_inflow``.  3, not 4 (issue 13,
# 2026-12-05: with a message's CPU down to ~5.5 ms, 3 gave the same delivered msgs/s at c=10 and c=50 and
# ~0.56x the 250 -> new/ p50, ~0.6x its p95; 2 cost up to a fifth of the rate; bench/bench_pipeline.py).
FLOW_LIMIT = 3
FLOW_DELAY = 1.0
# The bytes of messages just queued that are kept in memory for their first attempt (it then needs no
# read of the queue file); beyond it the attempt reads the file as any later attempt does.
CONTENT_CACHE = 16 * 1024 * 1024
# At stop, how long the disk work in flight may take to end (``Offload.wait``).
STOP_WAIT = 30.0


@dataclass(frozen=True, slots=True)
class DeliveryServices:
    """What the queue runner uses, passed in by whoever builds the world."""
    queue: QueueStore
    resolver: Resolver
    world: World
    gate: StepGate
    publish: Callable[[Fact], Any]
    clock: Callable[[], float]
    traces: TraceBook
    policy: QueuePolicy
    mx_port: int
    data_dir: Path
    notify_mailbox: Callable[[str], None]      # tell IDLE sessions of a new message
    faults: FaultBook | None = None            # the faults in force (None: none ever)
    # The Wire of the last DNS question the server saw from (source address, name, type), if any
    dns_wire: Callable[[str, str, str], Wire | None] | None = None


class Delivery(Relaying, LocalDelivery, DirectDelivery):
    def __init__(self, services: DeliveryServices) -> None:
        self.svc = services
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._running: dict[str, asyncio.Task] = {}
        self._entries: dict[str, Entry] = {}
        self._flush_requested: set[str] = set()     # flushed while an attempt was running
        self._commits: set[asyncio.Task] = set()
        self._stopping = False
        # Entries whose on-disk state this process wrote itself, attempt after attempt: their first
        # delivery needs no look for an earlier one.  Entries read at start are not in it.
        self._fresh: set[str] = set()
        self._relaying: dict[str, asyncio.Future] = {}   # relay keys being queued now
        self._removed = 0
        # Relay connections: at most RELAY_CONCURRENCY open per (host, next hop), reused while the
        # world runs freely (see ``_reusable``); a socket's trace is forgotten once it is closed.
        self.connections = ConnectionCache(limit=RELAY_CONCURRENCY, on_close=services.traces.forget_later,
                                           say_quit=self._free_running)
        self._busy: set[str] = set()                      # entries due now or being attempted
        self._content: dict[str, bytes] = {}               # queued just now: the message, for its first attempt
        self._content_bytes = 0
        self._gone: set[str] = set()                       # removed from disk by the attempt's last delivery
        self._flow: deque[asyncio.Future] = deque()       # messages waiting to enter (``_inflow``)
        # Direct deliveries (:mod:`simulator.direct`): entries this process queued itself (a relay
        # from one of them follows no crash of this process), relay keys whose direct attempt
        # failed here (a copy may be in a Maildir: look before writing), and the facts held until
        # the MX's session has published its own (``announce``).
        self._born: set[str] = set()
        self._unsure: set[str] = set()
        self._orphans: set[str] = set()
        # Fresh entries whose SMTP session has not yet published its own fact (``awaits_session``):
        # their first attempt starts when it has (``announce``), so the page never shows the next
        # hop before the 250 that took the message, not even while a lesson steps line by line.
        self._awaiting: dict[str, asyncio.TimerHandle] = {}
        self._held: dict[str, tuple[Entry, Host, list[direct.Copy], asyncio.TimerHandle]] = {}
        # The queue remembers a relayed message as long as its sender may send it again: until the
        # sender's entry expires (its lifetime), with an hour to spare for slow attempts.
        services.queue.keep_done = services.policy.lifetime + 3600.0
        # The queue's file work, off the loop (:mod:`simulator.offload`): ended by ``stop``.
        self._offload = Offload()
        self._io = self._offload.run

    # -- entering the queue ----------------------------------------------------------------------
    async def enqueue(self, host: Host, sender: str, rcpts: list[str], content: bytes, *, trace: str,
                      queue_id: str, message: dict | None, received_from: str, relay: str = "",
                      extra: dict | None = None, schedule: bool = True, inflow: bool = True,
                      awaits_session: bool = False, _in_task: bool = False) -> Entry | None:
        """Write a new entry durably (fsync: the 250 may follow), then schedule it.

        ``relay``: the key of a relayed message (:func:`simulator.protocols.smtp.relayid.take`);
        recipients this host already took with that key are left out, and None is returned (nothing
        written) when none is left: the resend of a message already taken.  ``schedule=False``:
        the caller schedules the entry once it has committed what depends on it.  ``inflow=False``:
        the submission door has waited already, before its 354 (:meth:`inflow`).  ``awaits_session``:
        the SMTP session that takes the message calls :meth:`announce` (or :meth:`session_gone`)
        with ``queue_id`` once it has published its fact; the first attempt waits for that.
        ``_in_task``: the caller is itself a shielded task of ``_commits`` (``_enqueue_relayed``), so the
        commit runs in it rather than in a task of its own.

        A recipient named twice (RCPT TO bob, then bob again, the domain spelled in another case) is
        one recipient: one copy, as Postfix's cleanup makes it (:func:`_once`); the SMTP dialogue
        does not change (each RCPT was answered 250)."""
        rcpts = _once(rcpts)
        if inflow and received_from.startswith("mua:"):        # a submission (see ``_inflow``)
            await self._inflow()
        if relay:
            return await self._enqueue_relayed(host, sender, rcpts, content, relay=relay, trace=trace,
                                               queue_id=queue_id, message=message,
                                               received_from=received_from, awaits_session=awaits_session)
        now = self.svc.clock()
        entry = Entry(id=queue_id, host=host.name, sender=sender,
                      recipients=[Recipient(r) for r in rcpts], trace=trace, created=now,
                      next_attempt=now, subject=(message or {}).get("subject", "")[:200],
                      message_id=(message or {}).get("id", "")[:300], received_from=received_from,
                      extra=dict(extra or {}))
        mailboxes = self._direct_plan(host, entry, received_from, schedule)
        if mailboxes is None:               # protected against a cancelled session by itself
            await self._commit(entry, content, schedule, awaits_session)
            return entry
        work = self._direct(host, entry, content, mailboxes)
        if _in_task:
            await work
            return entry
        # Once the files are on disk the direct delivery must be recorded and told, even if the client
        # vanishes and aiosmtpd cancels this session meanwhile: it runs shielded, as a task of its own.
        commit = asyncio.ensure_future(work)
        self._commits.add(commit)
        commit.add_done_callback(self._commits.discard)
        await asyncio.shield(commit)
        return entry

    async def _inflow(self) -> None:
        """In-flow control: while FLOW_LIMIT entries are due or under way, a message entering the
        sandbox waits (at most FLOW_DELAY seconds) before it is written and acknowledged, as
        Postfix's smtpd waits for a token from its queue manager (``in_flow_delay``).  Without it
        a client that sends faster than the queue runners deliver (the CPU is the limit: both hops
        and the MDA share one process) is answered 250 at once and its messages pile up behind the
        250: the time from the 250 to the mailbox grows with the pile (seconds at 50 clients).
        With it the pile stays short and the client waits a little longer for its 250 instead.
        Only while the world runs freely: entries held at a paused gate are not a pile.  Only at the
        submission door (Postfix applies it to every smtpd): an MX fed from outside (``smtp-source``)
        delivers into a local Maildir, one short step after its 250, and the MX ingest measure is
        about how many messages it takes; relays between sandbox hosts must never wait for it (the
        sender's running entry would count against the receiver's door)."""
        if len(self._busy) < FLOW_LIMIT or not self._free_running():
            return
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        self._flow.append(waiter)
        timer = loop.call_later(FLOW_DELAY, _settle, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            try:
                self._flow.remove(waiter)
            except ValueError:
                pass

    async def inflow(self) -> None:
        """In-flow control for a door that waits *before* it takes the content (before its 354, as
        Postfix's smtpd does): a client that leaves meanwhile has sent nothing that could be
        delivered.  The door then calls ``enqueue(..., inflow=False)``."""
        await self._inflow()

    def _let_in(self) -> None:
        """Wake as many waiting messages as there are free places."""
        free = FLOW_LIMIT - len(self._busy)
        while free > 0 and self._flow:
            waiter = self._flow.popleft()
            if not waiter.done():
                waiter.set_result(None)
                free -= 1

    def _free_running(self) -> bool:
        """The gate plays without a delay, hop by hop: nothing holds the queue runners."""
        state = self.svc.gate.state()
        return state.mode == "play" and not state.delay and state.granularity == "hop"

    async def _enqueue_relayed(self, host: Host, sender: str, rcpts: list[str], content: bytes, *,
                               relay: str, **fields: Any) -> Entry | None:
        # Keyed by the relay key alone, whichever host receives it: the resend may go to another MX.
        key = relay
        while key in self._relaying:           # the same message arriving twice at once
            await asyncio.shield(self._relaying[key])
        taken = self.svc.queue.relayed
        fresh = [r for r in rcpts if relay_mark(relay, r) not in taken]
        if not fresh:
            return None
        done = asyncio.get_running_loop().create_future()
        self._relaying[key] = done

        async def take() -> Entry | None:
            # Runs to its end even if the client leaves and aiosmtpd cancels this session: the key
            # stays claimed and the index is told only once what was written is written.
            nonlocal fresh
            try:
                if self._maybe_before(relay):
                    fresh = await self._found_direct(host, sender, fresh, relay, fields)
                    if not fresh:
                        return None
                entry = await self.enqueue(host, sender, fresh, content, extra={"relay": relay}, _in_task=True,
                                           **fields)
                taken.update(relay_mark(relay, rcpt) for rcpt in fresh)
                return entry
            finally:
                del self._relaying[key]
                done.set_result(None)
        task = asyncio.ensure_future(take())
        self._commits.add(task)
        task.add_done_callback(self._commits.discard)
        return await asyncio.shield(task)

    async def _commit(self, entry: Entry, content: bytes, schedule: bool = True, awaits_session: bool = False) -> None:
        """Write the entry durably (fsync: the 250 may follow), then note and schedule it.  Once the
        write is handed over, it and what follows it (``_stored``, the write's own callback) happen even
        if the caller is cancelled meanwhile (the client left; aiosmtpd cancels its session): the caller
        awaits the write through a shield.  No task of its own: the caller resumes two turns of the loop
        after the write ends, not four."""
        stored = self._offload.far("queue.add", self.svc.queue, entry, content)    # fsync before the 250
        stored.add_done_callback(functools.partial(self._stored, entry, content, schedule, awaits_session))
        self._commits.add(stored)                                   # ``stop`` waits for it
        stored.add_done_callback(self._commits.discard)
        await asyncio.shield(stored)

    def _stored(self, entry: Entry, content: bytes, schedule: bool, awaits_session: bool,
                stored: asyncio.Future) -> None:
        if stored.cancelled() or stored.exception() is not None:
            return                          # not written: the caller answers 451 (or has left)
        self._fresh.add(entry.id)
        self._born.add(entry.id)
        if self._content_bytes + len(content) <= CONTENT_CACHE and entry.id not in self._content:
            self._content[entry.id] = content
            self._content_bytes += len(content)
        crashpoints.reach("queue.stored")
        if not schedule:
            return
        if awaits_session and entry.id not in self._orphans:
            self._awaiting[entry.id] = asyncio.get_running_loop().call_later(
                direct.ANNOUNCE_FALLBACK, self._session_told, entry.id)
            self._entries[entry.id] = entry
            return
        self._orphans.discard(entry.id)
        self.schedule(entry)

    def _session_told(self, queue_id: str) -> None:
        """The session that took this fresh entry has published its fact (or left): start it."""
        timer = self._awaiting.pop(queue_id, None)
        if timer is None:
            return
        timer.cancel()
        entry = self._entries.get(queue_id)
        if entry is not None and not self._stopping:
            self.schedule(entry)

    # -- scheduling ------------------------------------------------------------------------------
    def schedule(self, entry: Entry) -> None:
        self._entries[entry.id] = entry
        if entry.id in self._running:
            return
        timer = self._timers.pop(entry.id, None)
        if timer is not None:
            timer.cancel()
        delay = max(0.0, entry.next_attempt - self.svc.clock())
        if delay <= 0:                      # due: its task starts at the loop's next turn, not two later
            self._busy.add(entry.id)
            self._start(entry.id)
            return
        self._timers[entry.id] = asyncio.get_running_loop().call_later(delay, self._start, entry.id)
        if entry.id in self._busy:
            self._busy.discard(entry.id)
            self._let_in()

    def flush(self, host: str | None = None) -> int:
        """Retry every waiting entry now (``postqueue -f``); returns how many."""
        count = 0
        for entry in list(self._entries.values()):
            if host is None or entry.host == host:
                if entry.id in self._running:
                    self._flush_requested.add(entry.id)
                entry.next_attempt = self.svc.clock()
                self.schedule(entry)
                count += 1
        return count

    def entries(self) -> list[Entry]:
        return list(self._entries.values())

    def is_running(self, entry_id: str) -> bool:
        """An attempt at this entry is under way now."""
        return entry_id in self._running

    async def stop(self) -> None:
        if self._commits:
            await asyncio.gather(*self._commits, return_exceptions=True)
        self._stopping = True
        for timer in [*self._timers.values(), *self._awaiting.values()]:
            timer.cancel()
        self._timers.clear()
        self._awaiting.clear()          # on disk: the next start schedules them
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for queue_id in list(self._held):
            self.announce(queue_id)
        await self.connections.close_all()
        # Disk work in flight (of attempts cancelled above, too) ends before the stack lets go.
        if self._offload.running:
            await asyncio.get_running_loop().run_in_executor(None, self._offload.wait, STOP_WAIT)

    def _start(self, entry_id: str) -> None:
        self._timers.pop(entry_id, None)
        entry = self._entries.get(entry_id)
        if entry is None or self._stopping:
            return
        task = asyncio.get_running_loop().create_task(self._run(entry))
        self._running[entry_id] = task
        task.add_done_callback(lambda _t: self._done(entry_id))

    def _done(self, entry_id: str) -> None:
        self._running.pop(entry_id, None)
        self._busy.discard(entry_id)
        entry = self._entries.get(entry_id)
        if entry is None:
            self._fresh.discard(entry_id)
            self._born.discard(entry_id)
        if entry is not None and not self._stopping:     # still queued: wait for the next attempt
            if entry_id in self._flush_requested:
                entry.next_attempt = self.svc.clock()
            self.schedule(entry)
        self._flush_requested.discard(entry_id)
        self._let_in()

    # -- one attempt at one entry ----------------------------------------------------------------
    async def _run(self, entry: Entry) -> None:
        svc = self.svc
        host = svc.world.hosts.get(entry.host)
        if host is None or not host.up:
            # A host that is down does nothing: its queue waits (the host coming up flushes it).
            # A host unknown to this scenario keeps its mail on disk, looked at now and then.
            if host is None:
                log.error("queue entry %s belongs to unknown host %s; leaving it", entry.id, entry.host)
            entry.next_attempt = svc.clock() + svc.policy.max_interval
            return
        try:
            await self._attempt_all(entry, host)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("delivery of %s on %s failed unexpectedly", entry.id, entry.host)
            if svc.clock() - entry.created >= svc.policy.lifetime:
                # A bug must not keep a message cycling for ever, nor lose it: set it aside on disk.
                await self._io(svc.queue.quarantine, entry)
                self._entries.pop(entry.id, None)
                node = nodes.mta(host.name)
                svc.publish(Quarantined(src=node, dst=node, trace=entry.trace, host=host.name,
                                        queue_id=entry.id, error=repr(exc)[:300]))
                return
            entry.next_attempt = svc.clock() + svc.policy.delay(entry.attempts)
            await self._offload.far("queue.save", svc.queue, entry)

    async def _attempt_all(self, entry: Entry, host: Host) -> None:
        svc = self.svc
        content = self._content.pop(entry.id, None)        # the first attempt of a message queued now
        if content is not None:
            self._content_bytes -= len(content)
        else:
            content = await self._io(svc.queue.content, entry)
        # Its lifetime ran out while it waited (the process was down): it relays nothing more (see
        # ``_settle_relayed``); its own Maildirs still get their last attempt, idempotent by name.
        expired = svc.clock() - entry.created >= svc.policy.lifetime
        entry.attempts += 1
        # An entry read at start may have been half done by the process that died: its deliveries
        # look for an earlier copy in new/ and cur/, whatever host wrote it (fresh ones: in new/).
        redo = entry.id not in self._fresh
        self._fresh.add(entry.id)
        if entry.attempts > 1:
            node = nodes.mta(host.name)
            svc.publish(Retry(src=node, dst=node, trace=entry.trace, host=host.name, queue_id=entry.id,
                              attempt=entry.attempts, rcpts=tuple(r.address for r in entry.pending)))
        by_domain: dict[str, list[Recipient]] = {}
        for rcpt in entry.pending:
            by_domain.setdefault(split_address(rcpt.address)[1], []).append(rcpt)
        caught = [r for domain, rcpts in by_domain.items() if svc.world.catches(domain) for r in rcpts]
        if caught:
            await self._catch(entry, host, caught, content, redo=redo)
        for domain, rcpts in by_domain.items():
            if svc.world.catches(domain):
                continue
            if svc.world.acceptance(host, domain) == Acceptance.FINAL and host.role is Role.MX:
                await self._local(entry, host, rcpts, content, redo=redo)
            elif expired:
                await self._settle_relayed(entry, host, rcpts, content)
            else:
                await self._relay(entry, host, domain, rcpts, content)
        await self._finish(entry, host, content)

    # -- after an attempt ------------------------------------------------------------------------
    async def _finish(self, entry: Entry, host: Host, content: bytes) -> None:
        svc = self.svc
        if svc.clock() - entry.created >= svc.policy.lifetime:
            for rcpt in entry.pending:
                _fail(rcpt, "4.4.7", Reason.of(DeliveryReason.EXPIRED, attempts=entry.attempts,
                                               lifetime=round(svc.policy.lifetime), last=rcpt.reason),
                      "", rcpt.remote)
        failed_now = [r for r in entry.recipients if r.state is RcptState.FAILED
                      and not entry.extra.get(f"bounced:{r.address}")]
        if failed_now:
            bounce = await self._bounce(entry, host, failed_now, content)
            for r in failed_now:            # only once the bounce is safely queued
                entry.extra[f"bounced:{r.address}"] = True
            await self._offload.far("queue.save", svc.queue, entry)
            if bounce is not None:          # sent only now: until the save, a redo must find it queued
                self.schedule(bounce)
        if not entry.pending:
            if entry.id in self._gone:                  # removed by its last delivery already
                self._gone.discard(entry.id)
            else:
                await self._offload.far("queue.remove", svc.queue, entry)
            self._entries.pop(entry.id, None)
            self._removed += 1
            if self._removed % PRUNE_EVERY == 0:        # forget what no sender can resend any more
                svc.queue.forget(await self._io(svc.queue.prune_done))
            return
        delay = svc.policy.delay(entry.attempts)
        entry.next_attempt = svc.clock() + delay
        for r in entry.pending:
            r.state = RcptState.DEFERRED
        await self._offload.far("queue.save", svc.queue, entry)
        reasons = {r.reason: None for r in entry.pending if r.reason is not None}
        node = nodes.mta(host.name)
        svc.publish(Deferred(src=node, dst=node, trace=entry.trace, host=host.name, queue_id=entry.id,
                             retry_in=delay, attempts=entry.attempts, next_attempt=entry.next_attempt,
                             rcpts=tuple(r.address for r in entry.pending), reasons=tuple(reasons)))

    async def _bounce(self, entry: Entry, host: Host, failed: list[Recipient], content: bytes) -> Entry | None:
        """Queue the bounce of ``failed`` (not yet scheduled: the caller schedules it once the entry
        says it bounced them), or keep a double bounce; None when nothing is left to schedule."""
        svc = self.svc
        fact = Bounced(
            src=nodes.mta(host.name), dst=nodes.mua(entry.sender) if entry.sender else nodes.mta(host.name),
            trace=entry.trace, host=host.name, queue_id=entry.id, sender=entry.sender,
            rcpts=tuple(r.address for r in failed), codes=tuple(r.status for r in failed),
            reasons=tuple(r.reason or _reply_reason(r.remote, r.reply) for r in failed))
        if not entry.sender:
            # RFC 5321 §4.5.5 / §6.1: never bounce a message with a null reverse-path; keep it whole in
            # the outside world's mailbox instead (a real MTA hands a double bounce to its postmaster).
            part = "K" + "-".join(str(entry.recipients.index(r)) for r in failed)
            await self._keep(entry, host, fact.rcpts, content, bounce=True, part=part, publish_first=fact)
            return None
        # A bounce queued before a crash, for some of these, is not queued twice (ids <entry>-B<n>).
        count, covered = await self._io(svc.queue.bounces_of, entry)
        failed = [r for r in failed if r.address.lower() not in covered]
        if not failed:
            return None
        fact = dataclasses.replace(fact, rcpts=tuple(r.address for r in failed),
                                   codes=tuple(r.status for r in failed),
                                   reasons=tuple(r.reason or _reply_reason(r.remote, r.reply) for r in failed))
        svc.publish(fact)
        failures = [dsn.Failure(r.address, r.status or "5.0.0", r.reply, r.remote, r.reason) for r in failed]
        queue_id = f"{entry.id}-B{count + 1}"
        now = svc.clock()
        report = dsn.render(reporting_host=host.name, sender=entry.sender, original=content,
                            failures=failures, arrival=entry.created, now=now,
                            boundary=f"{queue_id}.{entry.trace}")
        received = (f"Received: by {host.name} (Mailflow) id {queue_id}\r\n\tfor <{entry.sender}>; "
                    f"{_date(now)}\r\n").encode()
        bounce = await self.enqueue(host, "", [entry.sender], received + report, trace=entry.trace,
                                    queue_id=queue_id, message={"id": "", "from": "", "rcpt": [entry.sender],
                                                                "subject": "Undelivered Mail Returned to Sender",
                                                                "bounce": True},
                                    received_from=nodes.mta(host.name),
                                    extra={"bounce_for": [r.address for r in failed]}, schedule=False)
        crashpoints.reach("bounce.queued")
        return bounce

    @staticmethod
    def _message(entry: Entry) -> dict:
        return {"id": entry.message_id, "from": entry.sender, "rcpt": [r.address for r in entry.recipients],
                "subject": entry.subject}


def _once(rcpts: list[str]) -> list[str]:
    """``rcpts`` with each address once, as the world compares addresses (the domain in any case,
    the local part exactly: :func:`simulator.world.split_address`), the first spelling kept."""
    seen: set[tuple[str, str]] = set()
    kept: list[str] = []
    for address in rcpts:
        key = split_address(address)
        if key not in seen:
            seen.add(key)
            kept.append(address)
    return kept if len(kept) != len(rcpts) else rcpts


def _settle(waiter: asyncio.Future) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _date(now: float) -> str:
    return format_datetime(datetime.fromtimestamp(now, timezone.utc).astimezone())
