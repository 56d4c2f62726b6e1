"""The queue runner of every sandbox host: local delivery (MDA) or relay (DNS MX -> SMTP), retries
with backoff, and bounces.

One entry is worked on by one task at a time.  For each pending recipient, grouped by domain:

- this host is the domain's final destination (role mx): the MDA writes into the Maildir;
- otherwise: look up the domain's MX in the sandbox DNS (:mod:`simulator.routing`), then try the
  targets in order; a refused connection or a 4xx before RCPT moves on to the next target
  (RFC 5321 §5.1); a 5xx fails the recipient for good; anything else temporary defers it.

Deferred recipients are retried after ``QueuePolicy.delay(attempts)``; after ``lifetime`` they are
bounced (4.4.7).  A bounce goes into this host's own queue with a null reverse-path; a bounce that
cannot be delivered is dropped, never bounced.  Every step awaits the step gate first.
"""
from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone
from email.utils import format_datetime
from typing import TYPE_CHECKING

from . import dsn, explain, mda, nodes
from .facts import NextHop, Step
from .events import trim_transcript
from .protocols.smtp_client import Outcome, deliver
from .queue import Entry, RcptState, Recipient
from .scenario import Role
from .world import Acceptance, Host, split_address

if TYPE_CHECKING:
    from .runtime import MailStack

log = logging.getLogger(__name__)


class Delivery:
    def __init__(self, stack: "MailStack") -> None:
        self.stack = stack
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._running: dict[str, asyncio.Task] = {}
        self._entries: dict[str, Entry] = {}
        self._flush_requested: set[str] = set()     # flushed while an attempt was running
        self._stopping = False

    # -- scheduling ------------------------------------------------------------------------------
    def schedule(self, entry: Entry) -> None:
        self._entries[entry.id] = entry
        if entry.id in self._running:
            return
        timer = self._timers.pop(entry.id, None)
        if timer is not None:
            timer.cancel()
        delay = max(0.0, entry.next_attempt - self.stack.clock())
        loop = asyncio.get_running_loop()
        self._timers[entry.id] = loop.call_later(delay, self._start, entry.id)

    def flush(self, host: str | None = None) -> int:
        """Retry every waiting entry now (``postqueue -f``); returns how many."""
        count = 0
        for entry in list(self._entries.values()):
            if host is None or entry.host == host:
                if entry.id in self._running:
                    self._flush_requested.add(entry.id)
                entry.next_attempt = self.stack.clock()
                self.schedule(entry)
                count += 1
        return count

    def entries(self) -> list[Entry]:
        return list(self._entries.values())

    async def stop(self) -> None:
        self._stopping = True
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

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
        entry = self._entries.get(entry_id)
        if entry is not None and not self._stopping:     # still queued: wait for the next attempt
            if entry_id in self._flush_requested:
                entry.next_attempt = self.stack.clock()
            self.schedule(entry)
        self._flush_requested.discard(entry_id)

    # -- one attempt at one entry ----------------------------------------------------------------
    async def _run(self, entry: Entry) -> None:
        stack = self.stack
        host = stack.world.hosts.get(entry.host)
        if host is None or not host.up:
            # A host that is down does nothing: its queue waits (the host coming up flushes it).
            # A host unknown to this scenario keeps its mail on disk, looked at now and then.
            if host is None:
                log.error("queue entry %s belongs to unknown host %s; leaving it", entry.id, entry.host)
            entry.next_attempt = stack.clock() + stack.config.queue.max_interval
            return
        try:
            content = await asyncio.to_thread(stack.queue.content, entry)
            entry.attempts += 1
            if entry.attempts > 1:
                waiting = [r.address for r in entry.pending]
                stack.bus.publish(
                    "queue.retry", src=f"mta:{host.name}", dst=f"mta:{host.name}", protocol="SMTP",
                    status="info", summary=f"{host.name} tries again (attempt {entry.attempts}) for {', '.join(waiting)}",
                    explain=explain.retry(host.name, waiting, entry.attempts), trace=entry.trace,
                    data={"queue_id": entry.id, "attempt": entry.attempts})
            by_domain: dict[str, list[Recipient]] = {}
            for rcpt in entry.pending:
                by_domain.setdefault(split_address(rcpt.address)[1], []).append(rcpt)
            for domain, rcpts in by_domain.items():
                if stack.world.acceptance(host, domain) == Acceptance.FINAL and host.role is Role.MX:
                    await self._local(entry, host, rcpts, content)
                else:
                    await self._relay(entry, host, domain, rcpts, content)
            await self._finish(entry, host, content)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("delivery of %s on %s failed unexpectedly", entry.id, entry.host)
            if stack.clock() - entry.created >= stack.config.queue.lifetime:
                # A bug must not keep a message cycling for ever, nor lose it: set it aside on disk.
                await asyncio.to_thread(stack.queue.quarantine, entry)
                self._entries.pop(entry.id, None)
                stack.bus.publish(
                    "queue.bounce", src=f"mta:{host.name}", dst=f"mta:{host.name}", protocol="SMTP",
                    status="failed", trace=entry.trace,
                    summary=f"{host.name} set message {entry.id} aside after an internal error ({type(exc).__name__})",
                    explain=explain.quarantined(host.name, entry.id),
                    data={"queue_id": entry.id, "error": repr(exc)[:300]})
                return
            entry.next_attempt = stack.clock() + stack.config.queue.delay(entry.attempts)
            await asyncio.to_thread(stack.queue.save, entry)

    async def _local(self, entry: Entry, host: Host, rcpts: list[Recipient], content: bytes) -> None:
        stack = self.stack
        for rcpt in rcpts:
            if not stack.world.user_exists(rcpt.address):
                _fail(rcpt, "5.1.1", f"550 5.1.1 <{rcpt.address}>: no such user here", host.name)
                continue
            mailbox = f"mailbox:{rcpt.address.lower()}"
            await stack.gate.hop(NextHop(src=nodes.mda(host.domain), dst=mailbox, step=Step.DELIVER,
                                         host=host.name, rcpt=rcpt.address, trace=entry.trace))
            data = mda.final_headers(content, return_path=entry.sender, delivered_to=rcpt.address.lower(),
                                     trace=entry.trace)
            try:
                path = await asyncio.to_thread(
                    mda.deliver, mda.maildir_for(stack.config.data_dir, rcpt.address), data)
            except OSError as exc:
                rcpt.state, rcpt.status, rcpt.reply = RcptState.DEFERRED, "4.2.0", f"mailbox write failed: {exc}"
                continue
            rcpt.state, rcpt.status, rcpt.reply, rcpt.remote = RcptState.DONE, "2.0.0", "delivered to Maildir", host.name
            if entry.pending:       # others still wait: a crash now must not deliver this one twice
                await asyncio.to_thread(stack.queue.save, entry)
            stack.notify_mailbox(rcpt.address.lower())
            relative = str(path.relative_to(stack.config.data_dir))
            stack.bus.publish(
                "mda.deliver", src=f"mda:{host.domain}", dst=mailbox, protocol="Maildir",
                summary=f"MDA of {host.name} puts the message into {rcpt.address}'s mailbox",
                explain=explain.mda_delivered(host.name, rcpt.address, relative), trace=entry.trace,
                message=self._message(entry, content),
                data={"path": relative, "host": host.name, "size": len(data)})

    async def _relay(self, entry: Entry, host: Host, domain: str, rcpts: list[Recipient], content: bytes) -> None:
        stack = self.stack
        await stack.gate.hop(NextHop(src=nodes.mta(host.name), dst=nodes.DNS, step=Step.DNS_QUERY,
                                     host=host.name, domain=domain, trace=entry.trace))
        route = await stack.resolver.route(domain, source=host.address,
                                           self_host=host.name if host.role is not Role.MSA else None)
        chosen = route.targets[0].host if route.targets else ""
        stack.bus.publish(
            "dns.query", src=f"mta:{host.name}", dst="dns", protocol="DNS",
            status="ok" if route.ok else ("failed" if route.permanent else "deferred"),
            summary=(f"{host.name} asks DNS: MX {domain}? → " +
                     ("; ".join(route.answers) if route.answers else route.rcode) +
                     (f" — tries {chosen} first" if chosen else "")),
            explain=explain.dns_lookup(host.name, domain, route.answers, chosen, route.reason, route.error),
            trace=entry.trace,
            data={"question": f"{domain} MX", "rcode": route.rcode, "answers": route.answers,
                  "implicit": route.implicit, "reason": route.reason, "error": route.error,
                  "order": [{"preference": t.preference, "host": t.host, "addresses": list(t.addresses)}
                            for t in route.targets]})
        if not route.ok:
            for rcpt in rcpts:
                if route.permanent:
                    _fail(rcpt, route.status, route.error)
                else:
                    _defer(rcpt, route.status, route.error)
            return
        last = ""
        for target in route.targets:
            for address in target.addresses:
                await stack.gate.hop(NextHop(src=nodes.mta(host.name), dst=nodes.mta(target.host),
                                             step=Step.CONNECT, host=host.name, target=target.host,
                                             address=address, trace=entry.trace))
                waiting = [r for r in rcpts if r.state in (RcptState.PENDING, RcptState.DEFERRED)]
                outcome = await self._attempt(entry, host, target.host, address, waiting, content)
                if not outcome.connected or (outcome.try_next and outcome.reply is None):
                    last = f"{target.host}: {outcome.error or 'no reply'}"
                    stack.bus.publish(
                        "smtp.attempt", src=f"mta:{host.name}", dst=f"mta:{target.host}", protocol="SMTP",
                        status="failed", summary=f"{host.name} → {target.host}: {outcome.error}",
                        explain=explain.attempt_failed(host.name, target.host, outcome.error),
                        trace=entry.trace, transcript=trim_transcript(outcome.transcript),
                        data={"address": address, "preference": target.preference})
                    continue
                if outcome.try_next:
                    last = f"{target.host}: {outcome.reply}"
                    continue
                self._apply(outcome, waiting, target.host)
                if entry.pending:   # others still wait: a crash now must not send these twice
                    await asyncio.to_thread(stack.queue.save, entry)
                return
        for rcpt in rcpts:
            if rcpt.state in (RcptState.PENDING, RcptState.DEFERRED):
                _defer(rcpt, "4.4.1", f"no MX of {domain} could be reached ({last})")

    async def _attempt(self, entry: Entry, host: Host, target: str, address: str,
                       rcpts: list[Recipient], content: bytes) -> Outcome:
        stack = self.stack
        policy = stack.config.queue
        registered: list[tuple[str, int]] = []

        def connected(local: tuple[str, int]) -> None:
            registered.append(local)
            stack.outbound[local] = entry.trace

        try:
            return await deliver(address=address, port=stack.config.ports.mx, local_address=host.address,
                                 helo=host.name, sender=entry.sender, recipients=[r.address for r in rcpts],
                                 content=content, connect_timeout=policy.connect_timeout,
                                 command_timeout=policy.command_timeout, on_connected=connected)
        finally:
            for local in registered:
                # the server publishes its session event when the connection closes: let it look first
                asyncio.get_running_loop().call_later(2.0, stack.outbound.pop, local, None)

    def _apply(self, outcome: Outcome, rcpts: list[Recipient], target: str) -> None:
        for rcpt in rcpts:
            reply = outcome.rcpt_replies.get(rcpt.address) or outcome.reply
            if reply is None:
                _defer(rcpt, "4.4.2", f"{target}: {outcome.error or 'connection lost'}", target)
            elif reply.kind == 2:
                rcpt.state, rcpt.status, rcpt.reply, rcpt.remote = RcptState.DONE, "2.0.0", str(reply), target
            elif reply.kind == 5:
                _fail(rcpt, _status_of(reply, "5.0.0"), str(reply), target)
            else:
                _defer(rcpt, _status_of(reply, "4.0.0"), str(reply), target)

    # -- after an attempt ------------------------------------------------------------------------
    async def _finish(self, entry: Entry, host: Host, content: bytes) -> None:
        stack = self.stack
        expired = stack.clock() - entry.created >= stack.config.queue.lifetime
        if expired:
            for rcpt in entry.pending:
                _fail(rcpt, "4.4.7", f"gave up after {entry.attempts} attempts in "
                      f"{stack.config.queue.lifetime:.0f} s; last: {rcpt.reply or 'no answer'}", rcpt.remote)
        failed_now = [r for r in entry.recipients if r.state is RcptState.FAILED
                      and not entry.extra.get(f"bounced:{r.address}")]
        if failed_now:
            await self._bounce(entry, host, failed_now, content)
            for r in failed_now:            # only once the bounce is safely queued
                entry.extra[f"bounced:{r.address}"] = True
            await asyncio.to_thread(stack.queue.save, entry)
        if entry.pending:
            delay = stack.config.queue.delay(entry.attempts)
            entry.next_attempt = stack.clock() + delay
            for r in entry.pending:
                r.state = RcptState.DEFERRED
            await asyncio.to_thread(stack.queue.save, entry)
            reason = "; ".join(sorted({r.reply for r in entry.pending if r.reply}))[:300]
            stack.bus.publish(
                "queue.defer", src=f"mta:{host.name}", dst=f"mta:{host.name}", protocol="SMTP",
                status="deferred", summary=f"{host.name} keeps the message; retry in {delay:.3g} s ({reason})",
                explain=explain.deferred(host.name, [r.address for r in entry.pending], reason, delay),
                trace=entry.trace, data={"queue_id": entry.id, "retry_in": delay, "attempts": entry.attempts})
        else:
            await asyncio.to_thread(stack.queue.remove, entry)
            self._entries.pop(entry.id, None)

    async def _bounce(self, entry: Entry, host: Host, failed: list[Recipient], content: bytes) -> None:
        stack = self.stack
        stack.bus.publish(
            "queue.bounce", src=f"mta:{host.name}",
            dst=f"mua:{entry.sender}" if entry.sender else f"mta:{host.name}", protocol="SMTP",
            status="bounced", summary=(f"{host.name} gives up on {', '.join(r.address for r in failed)}: "
                                       f"{failed[0].reply}" + ("" if entry.sender else " (a bounce is never bounced: dropped)")),
            explain=explain.bounced(host.name, [r.address for r in failed], failed[0].reply, entry.sender),
            trace=entry.trace, data={"queue_id": entry.id, "status": [r.status for r in failed],
                                     "reasons": {r.address: r.reply for r in failed}})
        if not entry.sender:
            return          # RFC 5321 §4.5.5 / §6.1: never bounce a message with a null reverse-path
        failures = [dsn.Failure(r.address, r.status or "5.0.0", r.reply, r.remote) for r in failed]
        queue_id = stack.queue.new_id()
        report = dsn.render(reporting_host=host.name, sender=entry.sender, original=content,
                            failures=failures, arrival=entry.created, now=stack.clock(),
                            boundary=f"{queue_id}.{entry.trace}")
        received = (f"Received: by {host.name} (Mailflow) id {queue_id}\r\n\tfor <{entry.sender}>; "
                    f"{_date(stack.clock())}\r\n").encode()
        await stack.enqueue(host, "", [entry.sender], received + report, trace=entry.trace, queue_id=queue_id,
                            message={"id": "", "from": "", "rcpt": [entry.sender],
                                     "subject": "Undelivered Mail Returned to Sender", "bounce": True},
                            received_from=f"mta:{host.name}")

    def _message(self, entry: Entry, content: bytes) -> dict:
        return {"id": entry.message_id, "from": entry.sender, "rcpt": [r.address for r in entry.recipients],
                "subject": entry.subject}


def _fail(rcpt: Recipient, status: str, reply: str, remote: str = "") -> None:
    rcpt.state, rcpt.status, rcpt.reply, rcpt.remote = RcptState.FAILED, status, reply, remote


def _defer(rcpt: Recipient, status: str, reply: str, remote: str = "") -> None:
    rcpt.state, rcpt.status, rcpt.reply, rcpt.remote = RcptState.DEFERRED, status, reply, remote


def _status_of(reply, default: str) -> str:
    first = reply.lines[0] if reply.lines else ""
    code = first.split(" ", 1)[0]
    parts = code.split(".")
    if len(parts) == 3 and all(p.isdigit() for p in parts):
        return code
    return default


def _date(now: float) -> str:
    return format_datetime(datetime.fromtimestamp(now, timezone.utc).astimezone())

