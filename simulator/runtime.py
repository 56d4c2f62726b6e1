"""MailStack: the whole mail world on one asyncio loop in its own thread.

``start()`` binds every listener (DNS UDP+TCP, the SMTP servers of every host that is up, the front
door, the retrieval servers) and loads the durable queue; it returns when all are listening or
raises the first error (a port in use), with nothing left running.  ``stop()`` closes them.  From
``start()`` to ``stop()`` the stack holds the data directory's lock (:class:`simulator.fsutil.DataDirLock`):
a second stack or process on the same directory gets :class:`~simulator.fsutil.DataDirBusy`.  The web
UI (another thread) calls the thread-safe methods (``set_host_state``, ``set_mx``, ``flush``, ...),
which run on the loop through ``run_coroutine_threadsafe``; the gate and the bus are thread-safe.

Each part gets what it uses, not the stack: the queue runner (:class:`~simulator.delivery.Delivery`)
its :class:`~simulator.delivery.DeliveryServices`, every SMTP listener its handler with
:class:`~simulator.protocols.smtp.SmtpServices`, the IMAP and POP3 servers the store, an
authenticate function, the shared login throttle and :class:`RetrievalBus`.  None of them imports
this module: it only builds and starts the world.

Address plan (DESIGN.md): each sandbox host listens on its own loopback address (127.42.d.h) on the
MX port, MSA hosts also on the submission port; the front door for real clients is on 127.0.0.1.

Faults (:mod:`simulator.faults`): ``set_fault``, ``clear_fault`` and ``faults`` (thread-safe) keep
the :class:`~simulator.faults.FaultBook` that the SMTP servers and the queue runner consult, and
make real what only the stack can: a ``refuse`` fault closes the host's MX listener (and clearing it
opens it again), a ``servfail`` or ``dns_timeout`` fault breaks the zone in the DNS server, a
``no_address`` fault republishes the zone without the host's A record.  Per connection, a host's SMTP
listener is made without STARTTLS under ``no_tls`` and with a smaller SIZE under ``size_limit``.
Every change publishes a :class:`~simulator.facts.FaultChanged`; the scenario's ``faults`` are set
at start.

Layers under the hops: the DNS server reports each question with both ends of its exchange; the
stack keeps the latest per (asker, name, type) so an MTA's MX lookup fact carries the Wire of its
question (``_dns_wire``), and a question from outside gets it in its ``dns.served`` fact.  Every
listener speaks with its own name: a host's SMTP, IMAP and POP3 greet with the host's name, the front
door with :data:`~simulator.protocols.smtp.FRONT_NAME`.

The app port (``ports.app``, 1025 by default, 0 for a free one; on ``front_host`` only, never on the
classroom address) takes an application's mail without AUTH (:mod:`simulator.protocols.smtp.app`);
``outside()`` tells it whether mail for domains outside the sandbox bounces or is caught.  Every
SMTP door has the same limits: ``max_message_size`` (SIZE) and ``max_recipients``.

One login throttle (``throttle``, :mod:`simulator.protocols.throttle`) is handed to every door that
checks a password: each submission and app-port SMTP session, every IMAP and POP3 server; the webmail
reads ``stack.throttle`` itself.  One :class:`~simulator.protocols.smtp.session.PeerSlots`
(``smtp_slots``) caps concurrent SMTP sessions per client address across all SMTP doors.
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import ssl
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from aiosmtpd.smtp import SMTP

from . import diskhelper, nodes, tls
from .bus import EventBus
from .config import Config
from .delivery import Delivery, DeliveryServices
from .facts import DnsServed, Fact, FaultBit, FaultChanged, HostStateChanged, MxTableChanged, UserChanged, Wire
from .faults import FaultBook, check_kind, fault_node, fault_params, normal_target
from .fsutil import DataDirLock
from .gate import StepGate
from .protocols.dns.server import DnsServer, QueryRecord
from .protocols.dns.zone import Authority, ZoneFault
from .protocols.imap.server import ImapServer
from .protocols.pop3.server import Pop3Server
from .protocols.smtp import (FRONT_NAME, AppAuthenticator, AppHandler, Authenticator, Door, SmtpHandler, SmtpServices,
                              TranscriptSMTP)
from .protocols.smtp.session import ImplicitTls, PeerSlots
from .protocols.limits import SessionCap
from .protocols.throttle import LoginThrottle
from .queue import QueueStore
from .routing import Resolver
from .scenario import Fault, FaultKind, Role, Scenario
from .scenario.model import MAILBOX_FAULTS, ZONE_FAULTS
from .store import MailStore, headers
from .store.maildir import clean_tmp
from .webmail.local import clean_leftovers
from .store.retention import Retention
from .traces import TraceBook
from .world import Host, World, WorldError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Listener:
    service: str          # "mx", "submission", "smtps", "imap", ...
    host: str             # host name, or "front" for the front door
    address: str
    port: int

    def to_dict(self) -> dict:
        return {"service": self.service, "host": self.host, "address": self.address, "port": self.port}


class MailStack:
    def __init__(self, config: Config, scenario: Scenario, *, bus: EventBus | None = None,
                 gate: StepGate | None = None, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.world = World(scenario, outside=config.outside, data_dir=config.data_dir)
        self.clock = clock
        config.data_dir.mkdir(parents=True, exist_ok=True)
        self.bus = bus or EventBus(log_path=config.data_dir / "logs" / f"events-{int(clock())}.jsonl")
        self.gate = gate or StepGate(paused=config.step, delay=config.hop_delay)
        self.queue = QueueStore(config.data_dir / "queue")
        self._data_lock = DataDirLock(config.data_dir)     # held from start() to stop()
        self.rng = random.Random(config.seed)
        self.traces = TraceBook(self.rng)
        self.throttle = LoginThrottle()                   # one for submission, IMAP and POP3
        self.throttle.exempt = frozenset({config.webmail_source})   # the webmail throttles each browser
        # Concurrent SMTP sessions per client address, every SMTP door together; the sandbox's own
        # hosts (relays, bounces) and the webmail are never counted.
        # Live IMAP and POP3 sessions per client address (rule 4, protocols/limits.py), every door of a
        # protocol together; the webmail's address carries every browser's sessions and is never refused.
        self.sessions = {"imap": SessionCap(exempt={config.webmail_source}),
                         "pop3": SessionCap(exempt={config.webmail_source})}
        self.smtp_slots = PeerSlots(config.smtp_sessions_per_address,
                                    exempt=lambda ip: ip == config.webmail_source
                                    or self.world.host_by_address(ip) is not None)
        self.listeners: list[Listener] = []
        self.store = MailStore(config.data_dir / "mail", clock=clock,
                               retention=Retention(config.keep_messages, config.keep_for))
        self.ssl_context: ssl.SSLContext | None = None
        self._servers: dict[str, list[Any]] = {}          # host name -> running servers
        self._mx_servers: dict[str, asyncio.AbstractServer] = {}   # host name -> its MX listener
        self.fault_book = FaultBook(clock, on_spent=self._fault_spent)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._dns: DnsServer | None = None
        self._authority = Authority()
        self.resolver: Resolver | None = None
        self.delivery: Delivery | None = None             # made at start, once DNS listens
        self._smtp: SmtpServices | None = None
        self._retrieval_bus = RetrievalBus(self.bus, self.store)
        self._tasks: set[asyncio.Task] = set()       # world changes being applied
        self._sessions: weakref.WeakSet = weakref.WeakSet()   # open SMTP sessions, closed at stop
        self._dns_wires: dict[tuple[str, str, str], Wire] = {}  # (source address, name, type) -> last

    # -- life cycle (any thread) -----------------------------------------------------------------
    def start(self, timeout: float = 15.0) -> None:
        # One Mailflow per data directory (issue 12, rule 1): start-up tidies the queue and every
        # Maildir's tmp/ as if nothing else wrote there.  DataDirBusy (a RuntimeError, so no caller
        # mistakes it for a port in use) before anything is touched.
        self._data_lock.acquire()
        try:
            self._start_loop(timeout)
        except BaseException:
            self._data_lock.release()
            raise

    def _start_loop(self, timeout: float) -> None:
        ready = threading.Event()
        errors: list[BaseException] = []
        loop = asyncio.new_event_loop()
        self._loop = loop
        self.gate.bind(loop)

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._start())
            except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
                errors.append(exc)
                loop.run_until_complete(self._stop())
                loop.close()
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._stop())
            self.store.flush()            # uid list saves the store deferred (``MailStore._defer_save``)
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())   # disk writes in flight end first
            loop.close()

        self._thread = threading.Thread(target=run, name="mail-loop", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise TimeoutError("the mail stack did not start in time")
        if errors:
            self._thread.join(timeout)
            self.bus.close()
            raise errors[0]

    def stop(self, timeout: float = 15.0) -> None:
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout)
        self.bus.close()          # idempotent; also when the loop had already stopped
        self._data_lock.release()     # another stack may start on this data directory now

    def call(self, fn: Callable[..., Awaitable[Any]], *args: Any, timeout: float = 10.0) -> Any:
        """Run a coroutine function on the mail loop from another thread; return its result."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(fn(*args), self._loop).result(timeout)

    # -- thread-safe controls for the web UI and tests ------------------------------------------
    def set_host_state(self, name: str, up: bool) -> dict:
        return self.call(self._set_host_state, name, up)

    def set_mx(self, domain: str, records: list[tuple[int, str]]) -> list[dict]:
        return self.call(self._set_mx, domain, records)

    def flush(self, host: str | None = None) -> int:
        async def run() -> int:
            return self.delivery.flush(host) if self.delivery is not None else 0
        return self.call(run)

    def set_fault(self, fault: Fault) -> dict:
        """Put a fault in force (replacing one of the same kind on the same target); ValueError for
        a target this world does not have."""
        return self.call(self._set_fault, fault)

    def clear_fault(self, kind: str, target: str) -> dict | None:
        """Remove a fault; the removed fault, or None if none of that kind was set there."""
        return self.call(self._clear_fault, kind, target)

    def faults(self) -> list[dict]:
        """The faults in force: ``[{kind, target, node, ...params}]``."""
        return self.fault_book.faults()

    def queue_snapshot(self) -> list[dict]:
        """Every queue entry's summary (:meth:`simulator.queue.Entry.summary`), with ``retry_in``
        (seconds to its next attempt, from now) and ``running`` (an attempt is under way)."""
        async def run() -> list[dict]:
            if self.delivery is None:
                return []
            now = self.clock()
            return [e.summary(now=now, running=self.delivery.is_running(e.id)) for e in self.delivery.entries()]
        return self.call(run)

    # -- on the loop -----------------------------------------------------------------------------
    async def _start(self) -> None:
        cfg = self.config
        if cfg.tls:
            extra = (cfg.classroom_address,) if cfg.classroom_address else ()
            self.ssl_context = await asyncio.to_thread(tls.server_context, cfg.data_dir, extra)
        initial = [self._checked(fault) for fault in self.world.scenario.faults]
        for fault in initial:
            self.fault_book.set(fault)
            if fault.kind in ZONE_FAULTS:
                self._break_zone(fault.target)
        self._publish_zones()
        self._dns = DnsServer(self._authority, cfg.front_host, cfg.ports.dns, on_query=self._dns_served)
        await self._dns.start()
        self.listeners.append(Listener("dns", "front", cfg.front_host, self._dns.port))
        self.resolver = Resolver(server=cfg.front_host, port=self._dns.port, rng=self.rng)
        self.delivery = self._make_delivery(self.resolver)
        self._smtp = SmtpServices(world=self.world, gate=self.gate, publish=self.bus.publish,
                                  clock=self.clock, traces=self.traces, enqueue=self.delivery.enqueue,
                                  new_queue_id=self.queue.new_id, max_hops=cfg.max_hops,
                                  faults=self.fault_book, max_recipients=cfg.max_recipients,
                                  outside=self.outside, announce=self.delivery.announce, session_gone=self.delivery.session_gone,
                                  inflow=self.delivery.inflow)
        # The queue is read before anything listens: no client can be half-way through adding an
        # entry while load_all() tidies half-written files.
        queued = await asyncio.to_thread(self.queue.load_all)
        # Whatever a killed process left half-written under a Maildir's tmp/ or in the webmail's own
        # store was never delivered (issue 12, rule 1).
        await asyncio.to_thread(clean_tmp, cfg.data_dir / "mail")
        await diskhelper.prepare()      # --disk-helper on: its helper is ready before anything listens
        # Copies a killed process linked into new/ without recording them are put on record now,
        # before any reader can connect and delete one (its redo or resend would bring it back).
        from . import direct, local_delivery
        await asyncio.to_thread(direct.settle_at_start, self.queue, cfg.data_dir, self.world, queued)
        finished = await asyncio.to_thread(local_delivery.settle_at_start, self.queue, cfg.data_dir,
                                           self.world, queued)
        queued = [entry for entry in queued if entry.id not in finished]
        await asyncio.to_thread(clean_leftovers, cfg.data_dir / "webmail")
        for host in self.world.hosts.values():
            if host.up:
                await self._start_host(host)
        await self._start_front_door()
        self.world.on_change(self._world_changed)
        self._gate_seen = self._gate_setting(self.gate.state())
        self.gate.on_change(self._gate_changed)
        for entry in queued:
            self.delivery.schedule(entry)
        for fault in initial:
            self._publish_fault(fault, on=True)

    def _make_delivery(self, resolver: Resolver) -> Delivery:
        cfg = self.config
        return Delivery(DeliveryServices(
            queue=self.queue, resolver=resolver, world=self.world, gate=self.gate, publish=self.bus.publish,
            clock=self.clock, traces=self.traces, policy=cfg.queue, mx_port=cfg.ports.mx,
            data_dir=cfg.data_dir, notify_mailbox=self.store.notify, faults=self.fault_book,
            dns_wire=self._dns_wire))

    async def _stop(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.delivery is not None:
            await self.delivery.stop()
        await diskhelper.stop()                     # its writes are answered: the helper leaves
        for name in list(self._servers):
            await self._stop_servers(name)
        for protocol in list(self._sessions):       # SMTP sessions still open: close them
            if protocol.transport is not None:
                protocol.transport.close()
        await asyncio.sleep(0)                      # let their handlers see the connection go
        self.gate.release_all()                     # nothing may stay blocked on the gate
        await asyncio.sleep(0)
        if self._dns is not None:
            await self._dns.stop()

    def _publish_zones(self) -> None:
        hidden = self.fault_book.hidden_hosts()         # ``no_address``: A records left out
        for domain in self.world.domains:
            records = self.world.zone_records(domain, ns_address=self.config.front_host)
            self._authority.set_zone(domain, [r for r in records
                                              if not (r.rdtype == "A" and r.name.lower() in hidden)])

    def outside(self) -> str:
        """What happens to mail for domains outside the sandbox: ``bounce`` or ``catch`` (the
        command line's choice, else the scenario's, else ``bounce``)."""
        chosen = self.config.outside or getattr(self.world.scenario, "outside", None) or "bounce"
        return str(chosen)

    def _app_factory(self):
        """The app port's sessions: no AUTH required, any sender, STARTTLS when TLS is on, the same
        limits as every door (:mod:`simulator.protocols.smtp.app`)."""
        cfg = self.config
        assert self._smtp is not None
        handler = AppHandler(self._smtp)
        mode = cfg.app_auth
        authenticator = AppAuthenticator(self.world, mode, self.throttle if mode == "check" else None)

        def factory() -> SMTP:
            protocol = TranscriptSMTP(
                handler, hostname=FRONT_NAME, ident="Mailflow ESMTP (sandbox app port)",
                throttle=self.throttle if mode == "check" else None, slots=self.smtp_slots,
                data_size_limit=cfg.max_message_size, enable_SMTPUTF8=True, decode_data=False,
                tls_context=self.ssl_context, auth_required=False, auth_require_tls=False,
                authenticator=authenticator,
                auth_exclude_mechanism=["LOGIN", "PLAIN"] if mode == "off" else None,
                loop=asyncio.get_running_loop())
            self._sessions.add(protocol)
            return protocol
        return factory

    def _smtp_factory(self, door: Door, host: Host | None, *, implicit_tls: bool = False):
        cfg = self.config
        assert self._smtp is not None
        handler = SmtpHandler(door, host, self._smtp)
        hostname = host.name if host else FRONT_NAME     # every host greets with its own name
        ident = "Mailflow ESMTP (sandbox)" if host else "Mailflow ESMTP (sandbox front door)"
        submission = door is Door.SUBMISSION

        def factory() -> SMTP:
            # Faults that shape the EHLO reply are decided per connection, as a server's
            # configuration is read when a session starts.
            name = host.name if host is not None else None
            limit = self.fault_book.size_limit(name)
            withheld = (name is not None and self.fault_book.no_tls(name) and not implicit_tls
                        and self.ssl_context is not None)
            protocol = TranscriptSMTP(
                handler, hostname=hostname, ident=ident,
                throttle=self.throttle if submission else None, slots=self.smtp_slots,
                data_size_limit=min(cfg.max_message_size, limit) if limit else cfg.max_message_size,
                enable_SMTPUTF8=True, decode_data=False,
                tls_context=None if implicit_tls or withheld else self.ssl_context,
                auth_required=submission, auth_require_tls=False,
                authenticator=Authenticator(self.world, host, self.throttle) if submission else None,
                auth_exclude_mechanism=None if submission else ["LOGIN", "PLAIN"],
                loop=asyncio.get_running_loop())
            protocol.tls_withheld = withheld
            protocol.size_fault = limit
            self._sessions.add(protocol)
            return protocol
        return factory

    async def _serve(self, name: str, service: str, factory, address: str, port: int,
                     ssl_ctx: ssl.SSLContext | None = None) -> int:
        loop = asyncio.get_running_loop()
        if ssl_ctx is not None:
            # smtps: counted against the per-address cap at accept, TLS after (a short handshake
            # deadline), as the IMAP and POP3 listeners do -- not create_server(ssl=...).
            session_factory = factory

            def factory() -> ImplicitTls:
                acceptor = ImplicitTls(session_factory, ssl_ctx, self.smtp_slots)
                self._sessions.add(acceptor)        # stop() closes a connection still in its handshake
                return acceptor
        server = await loop.create_server(factory, address, port, reuse_address=True)
        self._servers.setdefault(name, []).append(server)
        if service == "mx":
            self._mx_servers[name] = server
        bound = server.sockets[0].getsockname()[1]
        self.listeners.append(Listener(service, name, address, bound))
        return bound

    async def _start_host(self, host: Host) -> None:
        ports = self.config.ports
        try:
            if not self.fault_book.refuses(host.name):
                await self._serve(host.name, "mx", self._smtp_factory(Door.MX, host), host.address, ports.mx)
            if host.role is Role.MSA:
                await self._serve(host.name, "submission", self._smtp_factory(Door.SUBMISSION, host),
                                  host.address, ports.submission)
            await self._start_retrieval(host)
        except OSError:
            await self._stop_servers(host.name)
            raise

    async def _start_retrieval(self, host: Host) -> None:
        """A domain's mailbox host (its first host of role mx) also answers IMAP and POP3."""
        if self.world.retrieval_host(host.domain) is not host:
            return
        ports = self.config.ports
        for service, port in (("imap", ports.imap), ("pop3", ports.pop3)):
            await self._retrieval_server(host.name, service, host.address, port, domain=host.domain)

    async def _retrieval_server(self, name: str, service: str, address: str, port: int, *,
                                domain: str | None, implicit_tls: bool = False) -> None:
        cls = ImapServer if service.startswith("imap") else Pop3Server
        node_of = nodes.imap if cls is ImapServer else nodes.pop3
        server = cls(self.store, self._authenticator(domain), host=address, port=port,
                     ssl_context=self.ssl_context, implicit_tls=implicit_tls, publish=self._retrieval_bus.publish,
                     default_domain=domain, node=node_of(domain) if domain else nodes.FRONT,
                     throttle=self.throttle, server_name=name if domain else FRONT_NAME,
                     cap=self.sessions["imap" if cls is ImapServer else "pop3"])
        await server.start()
        self._servers.setdefault(name, []).append(server)
        self.listeners.append(Listener(service, name, address, server.port))

    def _authenticator(self, domain: str | None):
        """Logins are user@domain; a domain's own server also takes a bare user name, and only its users."""
        def authenticate(login: str, password: str):
            account = self.world.authenticate(login, password, domain)
            if account is not None and domain is not None and account.domain != domain:
                return None
            return account
        return authenticate

    async def _start_front_door(self) -> None:
        """The front door on ``front_host``, and again on the classroom address when one is given:
        submission, IMAP and POP3 with their TLS ports -- nothing else listens there (no MX, no
        DNS), and the hosts behind it stay on loopback, so mail still only moves inside the sandbox."""
        cfg = self.config
        for front in (cfg.front_host, cfg.classroom_address):
            if front:
                await self._serve_front(front)
        if cfg.app_port:          # applications run on this computer: loopback only
            await self._serve("front", "app", self._app_factory(), cfg.front_host, cfg.ports.app)

    async def _serve_front(self, front: str) -> None:
        ports = self.config.ports
        await self._serve("front", "submission", self._smtp_factory(Door.SUBMISSION, None), front,
                          ports.submission)
        if self.ssl_context is not None:
            await self._serve("front", "smtps", self._smtp_factory(Door.SUBMISSION, None, implicit_tls=True),
                              front, ports.smtps, self.ssl_context)
        await self._retrieval_server("front", "imap", front, ports.imap, domain=None)
        await self._retrieval_server("front", "pop3", front, ports.pop3, domain=None)
        if self.ssl_context is not None:
            await self._retrieval_server("front", "imaps", front, ports.imaps, domain=None, implicit_tls=True)
            await self._retrieval_server("front", "pop3s", front, ports.pop3s, domain=None, implicit_tls=True)

    async def _stop_servers(self, name: str) -> None:
        servers = self._servers.pop(name, [])
        self._mx_servers.pop(name, None)
        for server in servers:
            if isinstance(server, asyncio.AbstractServer):
                server.close()          # stops listening; sessions in progress finish on their own
            else:
                await server.stop()     # our IMAP/POP3 servers
        self.listeners = [item for item in self.listeners if item.host != name]

    async def _set_host_state(self, name: str, up: bool) -> dict:
        """Returns once the change is real: a host taken down no longer listens (a lesson's next
        step, or the teacher's next click, must not find it still answering)."""
        host = self.world.set_host_state(name, up)
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        return host.to_dict()

    async def _set_mx(self, domain: str, records: list[tuple[int, str]]) -> list[dict]:
        table = self.world.set_mx(domain, [(int(p) if isinstance(p, int) else p, h) for p, h in records])
        return [{"preference": m.preference, "host": m.host} for m in table]

    def _world_changed(self, what: str, detail: dict) -> None:
        """World listener (called on the loop, or in any thread for a user): make the change real,
        then tell the learners."""
        if what == "user":              # nothing to start or stop: logins and deliveries ask the world
            node = nodes.mua(detail["address"])
            self.bus.publish(UserChanged(src=node, dst=node, address=detail["address"], name=detail["name"],
                                         joined=detail["joined"]))
            return
        loop = asyncio.get_running_loop()
        if what == "host":
            host = self.world.hosts[detail["host"]]
            if self.delivery is not None:
                self.delivery.world_changed(host_down=not host.up)
            task = loop.create_task(self._apply_host(host))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            node = nodes.mta(host.name)
            self.bus.publish(HostStateChanged(src=node, dst=node, host=host.name, up=host.up))
        else:
            self._publish_zones()
            table = tuple((int(p), str(h)) for p, h in detail["mx"])
            self.bus.publish(MxTableChanged(src=nodes.DNS, dst=nodes.DNS, domain=detail["domain"], mx=table))

    async def _apply_host(self, host: Host) -> None:
        if host.up and host.name not in self._servers:
            try:
                await self._start_host(host)
            except OSError:
                log.exception("could not start %s", host.name)
            if self.delivery is not None:
                self.delivery.flush(host.name)
        elif not host.up:
            await self._stop_servers(host.name)

    @staticmethod
    def _gate_setting(state) -> tuple:
        return (state.mode, state.delay, state.granularity)

    def _gate_changed(self, state) -> None:
        """Gate listener: a change of its mode, delay or granularity (not a hop waiting) is a change
        of the world for the relay connection cache (a lesson stepping through sees every
        connection opened).  Acts only on the running mail loop (at shutdown there is none)."""
        setting = self._gate_setting(state)
        if setting == self._gate_seen:
            return
        self._gate_seen = setting
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if self.delivery is not None and running is not None and running is self._loop:
            self.delivery.world_changed()

    # -- faults (on the loop) --------------------------------------------------------------------
    def _checked(self, fault: Fault) -> Fault:
        """The fault with its kind and target normalised; ValueError for a target not in this world."""
        kind = check_kind(fault.kind)
        target = normal_target(kind, fault.target)
        if kind in ZONE_FAULTS:
            if not self.world.is_local_domain(target):
                raise WorldError(f"no zone named {target!r} in this scenario")
        elif kind in MAILBOX_FAULTS:
            if not self.world.user_exists(target):
                raise WorldError(f"no mailbox {target!r} in this scenario")
        elif target not in self.world.hosts:
            raise WorldError(f"no host named {target!r} in this scenario")
        return dataclasses.replace(fault, kind=kind, target=target, command=fault.command.upper())

    async def _set_fault(self, fault: Fault) -> dict:
        fault = self._checked(fault)
        self.fault_book.set(fault)
        if self.delivery is not None:
            self.delivery.world_changed()
        await self._apply_fault(fault)
        self._publish_fault(fault, on=True)
        return _fault_dict(fault)

    async def _clear_fault(self, kind: str, target: str) -> dict | None:
        probe = self._checked(Fault(check_kind(kind), target))
        removed = self.fault_book.clear(probe.kind, probe.target)
        if removed is None:
            return None
        if self.delivery is not None:
            self.delivery.world_changed()
        await self._apply_fault(removed)
        self._publish_fault(removed, on=False)
        if self.delivery is not None:
            # like a host coming back: what waits because of the fault is retried now, not after
            # a back-off that may have grown to a minute while the class talked it over
            self.delivery.flush()
        return _fault_dict(removed)

    async def _apply_fault(self, fault: Fault) -> None:
        """Make real what the servers cannot ask about: listeners and zones."""
        if fault.kind in ZONE_FAULTS:
            self._break_zone(fault.target)
        elif fault.kind is FaultKind.NO_ADDRESS:
            self._publish_zones()
        elif fault.kind is FaultKind.REFUSE:
            await self._apply_refuse(self.world.hosts[fault.target])

    def _break_zone(self, zone: str) -> None:
        kind = self.fault_book.zone_fault(zone)
        mode = {FaultKind.SERVFAIL: ZoneFault.SERVFAIL, FaultKind.DNS_TIMEOUT: ZoneFault.TIMEOUT}.get(kind)
        self._authority.set_fault(zone, mode)

    async def _apply_refuse(self, host: Host) -> None:
        """Close or reopen the host's MX listener; its other listeners stay as they are."""
        server = self._mx_servers.get(host.name)
        if self.fault_book.refuses(host.name):
            if server is not None:
                del self._mx_servers[host.name]
                server.close()          # stops listening: new connections are refused
                running = self._servers.get(host.name, [])
                if server in running:
                    running.remove(server)
                self.listeners = [item for item in self.listeners
                                  if not (item.host == host.name and item.service == "mx")]
        elif server is None and host.up:
            try:
                await self._serve(host.name, "mx", self._smtp_factory(Door.MX, host), host.address,
                                  self.config.ports.mx)
            except OSError:
                log.exception("could not reopen the MX port of %s", host.name)

    def _publish_fault(self, fault: Fault, *, on: bool, spent: bool = False) -> None:
        node = fault_node(fault)
        self.bus.publish(FaultChanged(
            src=node, dst=node, fault=fault.kind, target=fault.target, node=node, on=on, spent=spent,
            delay=fault.delay, greeting=fault.greeting, end_of_data=fault.data, command=fault.command,
            code=fault.code, text=fault.text, times=fault.times, size=fault.size, permanent=fault.permanent))

    def _fault_spent(self, fault: Fault) -> None:
        """A ``reply`` fault gave its last answer (called on the loop by the fault book)."""
        if self.delivery is not None:
            self.delivery.world_changed()
        self._publish_fault(fault, on=False, spent=True)

    def _dns_fault_bite(self, record: QueryRecord, asker: Host | None) -> None:
        """A zone fault answered (or dropped) a query, or a ``no_address`` host's A was asked for."""
        qname = record.qname.lower().rstrip(".")
        fault: Fault | None = None
        reply = ""
        if record.fault:
            kind = FaultKind.DNS_TIMEOUT if record.fault == ZoneFault.TIMEOUT else FaultKind.SERVFAIL
            zones = [d for d in self.world.domains if qname == d or qname.endswith("." + d)]   # closest: longest
            fault = self.fault_book.get(kind, max(zones, key=len)) if zones else None
            reply = "" if kind is FaultKind.DNS_TIMEOUT else record.rcode
        elif record.qtype in ("A", "ANY") and qname in self.fault_book.hidden_hosts():
            fault = self.fault_book.get(FaultKind.NO_ADDRESS, qname)
            reply = record.rcode
        if fault is None:
            return
        peer = nodes.mta(asker.name) if asker is not None else nodes.OUTSIDE
        self.bus.publish(FaultBit(src=nodes.DNS, dst=peer, fault=fault.kind, target=fault.target,
                                  node=fault_node(fault), command=f"{record.qname} {record.qtype}".strip(),
                                  reply=reply, client=asker.name if asker is not None else record.source[0],
                                  wire=_dns_wire(record)))

    def _dns_wire(self, source: str, name: str, rdtype: str) -> Wire | None:
        """The Wire of the last question DNS answered from ``source`` about ``name`` (on the loop)."""
        return self._dns_wires.get((source, name.lower().rstrip("."), rdtype.upper()))

    def _dns_served(self, record: QueryRecord) -> None:
        key = (record.source[0], record.qname.lower().rstrip("."), record.qtype.upper())
        self._dns_wires.pop(key, None)
        self._dns_wires[key] = _dns_wire(record)
        while len(self._dns_wires) > 256:             # only the latest questions are asked about
            del self._dns_wires[next(iter(self._dns_wires))]
        asker = self.world.host_by_address(record.source[0])
        self._dns_fault_bite(record, asker)
        if asker is not None:
            return        # the MTAs report their own lookups, with the MX they chose
        if not record.rcode:
            return        # dropped by a zone fault: nothing was served
        self.bus.publish(DnsServed(src=nodes.OUTSIDE, dst=nodes.DNS, peer=record.source[0],
                                   question=f"{record.qname} {record.qtype}".strip(), rcode=record.rcode,
                                   answers=tuple(record.answer), transport=record.transport,
                                   truncated=record.truncated, wire=_dns_wire(record)))

    def listener_table(self) -> list[dict]:
        return [item.to_dict() for item in self.listeners]


def _dns_wire(record: QueryRecord) -> Wire:
    """The layers under one DNS question: UDP or TCP, from the asker's socket to the server's."""
    return Wire(transport=record.transport, client=record.source[0], client_port=record.source[1],
                server=record.server[0], server_port=record.server[1])


def _fault_dict(fault: Fault) -> dict:
    return {"kind": fault.kind.value, "target": fault.target, "node": fault_node(fault), **fault_params(fault)}


class RetrievalBus:
    """The bus as the IMAP/POP3 servers see it: a hop about one message joins that message's trace.

    The MDA wrote the trace id into the message (``X-Mailflow-Trace``); a RETR or a FETCH of one
    message publishes with it, so "follow this message" runs from the MUA that sent it to the MUA
    that read it.  A fact qualifies when it has no trace yet, names one message (``uid``, or
    ``uids`` with one element) and its ``folder``, and comes from a mailbox node -- except a POP3
    RETR, whose session sets the trace from the header it has just sent (:data:`_SELF_TRACED`).
    """

    _TRACE = headers.TRACE_FIELD
    _FIRST = 2048       # the MDA writes the field among the first few (mda.final_headers): one small read
    _HEAD = headers.TRACE_HEAD      # how far a header is looked through at most
    # Kinds whose publisher looked for the field in the header it had read already (POP3's RETR:
    # the session sends the message, so a fact of it without a trace has none to find here)
    _SELF_TRACED = frozenset({"pop3.retr"})

    def __init__(self, bus: EventBus, store: MailStore) -> None:
        self.bus, self.store = bus, store

    def publish(self, fact: Fact):
        if fact.trace is None and fact.kind not in self._SELF_TRACED:
            trace = self._trace(fact)
            if trace is not None:
                fact = _with_trace(fact, trace)
        return self.bus.publish(fact)

    def _trace(self, fact: Fact) -> str | None:
        uid = getattr(fact, "uid", None)
        uids = getattr(fact, "uids", None) or ([uid] if isinstance(uid, int) else [])
        folder = getattr(fact, "folder", None) or "INBOX"
        if not fact.src.startswith("mailbox:") or len(uids) != 1:
            return None
        try:
            path = self.store.message_file(nodes.name_of(fact.src), folder, uids[0])     # no pathlib per RETR
            with open(path, "rb", buffering=0) as handle:
                head = handle.read(self._FIRST)
                match = self._TRACE.search(head)
                cut = len(head) == self._FIRST and (match is None or match.end() == len(head))   # none, or maybe cut
                if cut and b"\n\n" not in head and b"\r\n\r\n" not in head:
                    head += handle.read(self._HEAD - self._FIRST)       # a long header: look further
                    match = self._TRACE.search(head)
        except Exception:        # the message may be gone; the hop is still worth showing
            return None
        if match is None:
            return None
        at = match.start()
        if head.find(b"\n\n", 0, at) >= 0 or head.find(b"\r\n\r\n", 0, at) >= 0:
            return None                     # after the header's end: a line of the body, not a field
        return match.group(1).decode()


_INIT_FIELDS: dict[type, tuple[str, ...]] = {}


def _with_trace(fact: Fact, trace: str) -> Fact:
    """``dataclasses.replace(fact, trace=trace)`` without its per-call walk over ``fields()`` (a RETR
    of 10,000 messages publishes 10,000 of these)."""
    names = _INIT_FIELDS.get(type(fact))
    if names is None:
        names = tuple(f.name for f in dataclasses.fields(fact) if f.init and f.name != "trace")
        _INIT_FIELDS[type(fact)] = names
    return type(fact)(**{name: getattr(fact, name) for name in names}, trace=trace)
