"""Relaying: the queue runner's way to a next hop (DNS MX lookup, then SMTP), with its cached connections.

Theory of operation
    For the recipients of one domain that this host is not the final destination of, the queue runner
    (:class:`simulator.delivery.Delivery`, of which :class:`Relaying` is a part) asks the sandbox DNS
    for the domain's MX (:mod:`simulator.routing`) and publishes what it said (``_lookup``), then tries
    the targets in order (``_relay``): a refused connection or a 4xx before RCPT moves on to the next
    target (RFC 5321 §5.1); a 5xx fails the recipient for good; anything else temporary defers it.  An
    MX address that is not a loopback address is never connected to (5.4.4).  Each attempt carries
    the entry's relay identifier (:mod:`simulator.protocols.smtp.relayid`), so a resend after a crash
    is known by the receiving MX; the entry is saved after each relay batch while anything is left.

    Relay connections are cached and limited per destination
    (:class:`~simulator.protocols.smtp.conncache.ConnectionCache`) only while the world runs freely
    (``_reusable``); ``world_changed`` closes the idle ones.  What faults did to an attempt that no
    server could tell (a refused port, this host's own refusal of TLS) is published
    (``_fault_bites``).  An expired entry relays nothing more (``_settle_relayed``).
"""
from __future__ import annotations

import functools
import logging

from . import crashpoints, nodes
from .facts import AttemptReason, DeliveryReason, FaultBit, HopStep, MxLookup, NextHop, Reason, SmtpAttempt, TlsMode, Wire
from .faults import fault_node
from .outcomes import defer as _defer, done as _done, fail as _fail, left as _left
from .outcomes import reply_reason as _reply_reason, status_of as _status_of
from .protocols.smtp import relayid
from .protocols.smtp.client import Outcome, Stage, deliver, opportunistic_tls
from .queue import Entry, RcptState, Recipient, relay_mark
from .routing import Route, Target
from .scenario import FaultKind, Role
from .events import trim_transcript
from .world import Host, is_loopback

log = logging.getLogger(__name__)

__all__ = ["Relaying"]

class Relaying:
    """The relaying part of :class:`simulator.delivery.Delivery` (its state lives there)."""

    async def _relay(self, entry: Entry, host: Host, domain: str, rcpts: list[Recipient], content: bytes) -> None:
        route = await self._lookup(entry, host, domain)
        if not route.ok:
            for rcpt in rcpts:
                (_fail if route.permanent else _defer)(rcpt, route.status, route.error)
            return
        last: Reason | None = None
        last_host = ""
        inside = 0
        stamped = relayid.stamp(content, queue_id=entry.id, host=host.name)
        for target in route.targets:
            for address in target.addresses:
                if not is_loopback(address):
                    # Nothing leaves the machine: an address off loopback is never connected to.
                    log.warning("%s: MX %s of %s has the address %s, outside the sandbox: not tried",
                                host.name, target.host, domain, address)
                    last, last_host = Reason.of(DeliveryReason.OFF_SANDBOX, host=target.host,
                                                address=address), target.host
                    continue
                inside += 1
                await self.svc.gate.hop(NextHop(src=nodes.mta(host.name), dst=nodes.mta(target.host),
                                                step=HopStep.CONNECT, host=host.name, target=target.host,
                                                address=address, trace=entry.trace))
                waiting = [r for r in rcpts if r.state in (RcptState.PENDING, RcptState.DEFERRED)]
                outcome = await self._attempt(entry, host, target.host, address, waiting, stamped)
                self._fault_bites(entry, host, target.host, address, outcome)
                if not outcome.connected or (outcome.try_next and outcome.reply is None):
                    last, last_host = outcome.failure, target.host
                    self._publish_attempt(entry, host, target, address, outcome)
                    continue
                if outcome.try_next:
                    last, last_host = _reply_reason(target.host, str(outcome.reply)), target.host
                    continue
                self._apply(outcome, waiting, target.host)
                if outcome.stage is Stage.DONE:
                    # Relayed in memory; on disk at the save below or the entry's commit.  A crash
                    # before it sends the message again, and the world's MX know it by its relay key.
                    crashpoints.reach("relay.acked")
                if _left(entry) and any(r.state is RcptState.DONE for r in waiting):
                    await self._io(self._record, entry)
                return
        why = Reason.of(DeliveryReason.UNREACHABLE, domain=domain, host=last_host, last=last)
        for rcpt in rcpts:
            if rcpt.state in (RcptState.PENDING, RcptState.DEFERRED):
                if inside == 0 and last is not None:     # every address off the sandbox: no retry helps
                    _fail(rcpt, "5.4.4", last, "", last_host)
                else:
                    _defer(rcpt, "4.4.1", why)

    async def _lookup(self, entry: Entry, host: Host, domain: str) -> Route:
        """Ask the sandbox DNS for the MX of ``domain`` and publish what it said and what was chosen."""
        svc = self.svc
        await svc.gate.hop(NextHop(src=nodes.mta(host.name), dst=nodes.DNS, step=HopStep.DNS_QUERY,
                                   host=host.name, domain=domain, trace=entry.trace))
        route = await svc.resolver.route(domain, source=host.address,
                                         self_host=host.name if host.role is not Role.MSA else None)
        svc.publish(MxLookup(
            src=nodes.mta(host.name), dst=nodes.DNS, trace=entry.trace, host=host.name, domain=domain,
            question=f"{domain} MX", rcode=route.rcode, answers=tuple(route.answers),
            implicit=route.implicit, chosen=route.targets[0].host if route.targets else "",
            order=tuple({"preference": t.preference, "host": t.host, "addresses": list(t.addresses)}
                        for t in route.targets),
            reason=route.reason, error=route.error, permanent=route.permanent,
            wire=svc.dns_wire(host.address, domain, "MX") if svc.dns_wire is not None else None))
        return route

    def _publish_attempt(self, entry: Entry, host: Host, target: Target, address: str,
                         outcome: Outcome) -> None:
        self.svc.publish(SmtpAttempt(
            src=nodes.mta(host.name), dst=nodes.mta(target.host), trace=entry.trace,
            transcript=tuple(trim_transcript(outcome.transcript)), host=host.name, target=target.host,
            address=address, port=self.svc.mx_port, preference=target.preference,
            reason=outcome.failure or Reason.of(DeliveryReason.CONNECTION_LOST, host=target.host, last=None),
            wire=self._wire(host, address, outcome)))

    def _wire(self, host: Host, address: str, outcome: Outcome) -> Wire:
        """The sending side's view of one attempt: its own address (and port, once connected); on
        a reused connection under TLS every line of it was encrypted (STARTTLS came before it)."""
        local = outcome.local or (host.address, 0)
        return Wire(client=str(local[0]), client_port=int(local[1]), server=address,
                    server_port=self.svc.mx_port, tls=TlsMode.STARTTLS if outcome.tls else TlsMode.NONE,
                    tls_from=0 if outcome.tls and outcome.reused else None)

    def _fault_bites(self, entry: Entry, host: Host, target: str, address: str, outcome: Outcome) -> None:
        """What faults did to this attempt that no server could tell: a closed MX port, and this
        host's own refusal to start TLS."""
        book = self.svc.faults
        if book is None:
            return
        refused = outcome.failure is not None and outcome.failure.code is AttemptReason.REFUSED
        fault = book.get(FaultKind.REFUSE, target) if refused and not outcome.connected else None
        if fault is not None:
            self.svc.publish(FaultBit(src=nodes.mta(target), dst=nodes.mta(host.name), trace=entry.trace,
                                      fault=fault.kind, target=fault.target, node=fault_node(fault),
                                      command="CONNECT", reply="", client=host.name,
                                      wire=self._wire(host, address, outcome)))
        fault = book.get(FaultKind.NO_TLS, host.name) if outcome.tls_declined else None
        if fault is not None:
            self.svc.publish(FaultBit(src=nodes.mta(host.name), dst=nodes.mta(target), trace=entry.trace,
                                      fault=fault.kind, target=fault.target, node=fault_node(fault),
                                      command="STARTTLS", reply="", client=host.name,
                                      wire=self._wire(host, address, outcome)))

    async def _attempt(self, entry: Entry, host: Host, target: str, address: str,
                       rcpts: list[Recipient], content: bytes) -> Outcome:
        svc = self.svc
        registered: list[tuple[str, int]] = []
        plaintext = svc.faults is not None and svc.faults.no_tls(host.name)
        reuse = self._reusable(target)

        def connected(local: tuple[str, int]) -> None:
            registered.append(local)
            svc.traces.note(local, entry.trace)

        outcome: Outcome | None = None
        try:
            outcome = await deliver(address=address, port=svc.mx_port, local_address=host.address,
                                    helo=host.name, sender=entry.sender, recipients=[r.address for r in rcpts],
                                    content=content, connect_timeout=svc.policy.connect_timeout,
                                    command_timeout=svc.policy.command_timeout, on_connected=connected,
                                    tls=None if plaintext else opportunistic_tls(),
                                    cache=self.connections if reuse else None,
                                    key=(host.address, host.name, address, svc.mx_port, plaintext),
                                    reusable=lambda: self._reusable(target))
            return outcome
        finally:
            for local in registered:
                if outcome is None or not outcome.kept or local != outcome.local:
                    svc.traces.forget_later(local)

    def _reusable(self, target: str) -> bool:
        """Relay connections are cached (and limited per destination) only while the world runs
        freely: the gate plays without a delay, hop by hop (a lesson stepping through a relay sees
        every connection opened and closed), no fault is in force (a fault set now acts on the
        next message, not after a cached connection expires) and the next hop is up."""
        if not self._free_running():
            return False
        if self.svc.faults is not None and self.svc.faults.all():
            return False
        target_host = self.svc.world.hosts.get(target)
        return target_host is None or target_host.up

    def world_changed(self, *, host_down: bool = False) -> None:
        """A host went up or down, a fault was set or cleared, or the gate changed: no relay session
        opened before is reused (:meth:`ConnectionCache.invalidate`).  A host that went down says
        nothing more: the idle sessions are closed without QUIT, as its sockets die with it."""
        self.connections.invalidate(say_quit=False if host_down else None)

    def _apply(self, outcome: Outcome, rcpts: list[Recipient], target: str) -> None:
        for rcpt in rcpts:
            reply = outcome.rcpt_replies.get(rcpt.address) or outcome.reply
            if reply is None:
                _defer(rcpt, "4.4.2", Reason.of(DeliveryReason.CONNECTION_LOST, host=target, last=outcome.failure),
                       remote=target)
            elif reply.kind == 2:
                rcpt.state, rcpt.status, rcpt.reply, rcpt.remote = RcptState.DONE, "2.0.0", str(reply), target
                rcpt.reason = None
            elif reply.kind == 5:
                _fail(rcpt, _status_of(reply, "5.0.0"), _reply_reason(target, str(reply)), str(reply), target)
            else:
                _defer(rcpt, _status_of(reply, "4.0.0"), _reply_reason(target, str(reply)), str(reply), target)

    async def _settle_relayed(self, entry: Entry, host: Host, rcpts: list[Recipient], content: bytes) -> None:
        """An expired entry sends nothing more to another host: those of ``rcpts`` a host of this
        world took before a crash (their relay key in the queue's index) are done, told nothing
        again; ``_finish`` bounces the others (4.4.7)."""
        key = await self._io(functools.partial(relayid.key_of, content, queue_id=entry.id, host=host.name))
        for rcpt in rcpts:
            if relay_mark(key, rcpt.address) in self.svc.queue.relayed:
                _done(rcpt, "")
