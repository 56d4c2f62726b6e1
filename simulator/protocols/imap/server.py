"""asyncio adapter around the sans-IO IMAP session (:mod:`.session`).

It accepts connections through the shared transport (:mod:`simulator.protocols.transport`: plain
with STARTTLS when given an SSL context, or implicit TLS for IMAPS, RFC 8314 §3.3), feeds bytes to
``ImapSession`` and carries out the effects it returns: writes, the login (the credentials checked
by ``authenticate`` behind the shared login throttle, :mod:`simulator.protocols.throttle`; the
user's Maildir opened as the session's mailbox), the TLS upgrade (discarding anything buffered
before the handshake, PROTOCOLS X4), closing, and facts for the learners' bus.  IDLE pushes arrive
through the session's ``wakeup``.  An unexpected exception ends only its own session: it is logged,
published as an ``ImapError`` fact, and the server keeps serving.  Every fact leaves with the layers
under it: ``wire`` (the socket's two ends and its TLS) and ``credentials`` (the LOGIN and AUTHENTICATE
lines of its transcript, as a listener on the wire reads them; :mod:`simulator.protocols.layers`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import ssl
import time
from collections.abc import Callable
from typing import Any

from simulator import nodes
from simulator.facts import Fact
from simulator.facts import imap as facts
from simulator.store import MailStore

from ..layers import connection_layers
from ..limits import SessionCap
from ..throttle import LoginThrottle
from ..transport import Connection, Listener
from .effects import Authenticate, Close, Effect, Publish, Send, StartTls
from .mailbox import MaildirMailbox
from .session import IDLE_TIMEOUT, JOB_SECONDS, JOB_STEPS, OUTPUT_BUDGET, ImapSession

log = logging.getLogger(__name__)

MAX_LOGIN = 255           # a longer login name is refused without asking the authenticator
REFUSAL = b"* BYE [UNAVAILABLE] Too many connections from your address; try again later\r\n"


class ImapServer:
    """IMAP4rev1 on ``host:port`` over a ``MailStore``; all sessions live on the running loop.

    ``node`` is the server's node id (``nodes.imap(domain)``, or ``nodes.FRONT`` for the front
    door; by default taken from ``default_domain``).  Pass one ``throttle`` to every server that
    should count failed logins together, and one ``cap`` (live sessions per client address,
    :mod:`simulator.protocols.limits`) to every IMAP listener: a connection beyond it is greeted
    with ``* BYE [UNAVAILABLE]`` (RFC 3501 §7.1.5, RFC 5530) and closed before a session exists.
    """

    def __init__(self, store: MailStore, authenticate: Callable[[str, str], Any], *, host: str, port: int,
                 ssl_context: ssl.SSLContext | None = None, implicit_tls: bool = False,
                 publish: Callable[[Fact], object] | None = None,
                 default_domain: str | None = None, server_name: str = "mailflow", node: str | None = None,
                 clock: Callable[[], float] = time.monotonic, idle_timeout: float = IDLE_TIMEOUT,
                 throttle: LoginThrottle | None = None, cap: SessionCap | None = None) -> None:
        if implicit_tls and ssl_context is None:
            raise ValueError("implicit_tls needs an ssl_context")
        self.store = store
        self.authenticate = authenticate
        self.ssl_context = ssl_context
        self.implicit_tls = implicit_tls
        self.publish = publish          # where facts go (the bus, through the trace lookup)
        self.default_domain = default_domain
        self.server_name = server_name
        self.node = _node(node, default_domain)
        self.idle_timeout = idle_timeout
        self.throttle = throttle or LoginThrottle(clock=clock)
        self._listener = Listener(self._serve, host=host, port=port, implicit_tls=implicit_tls, cap=cap,
                                  refusal=REFUSAL)

    @property
    def host(self) -> str:
        return self._listener.host

    @property
    def port(self) -> int:
        return self._listener.port

    async def start(self) -> None:
        await self._listener.start()
        log.info("IMAP%s listening on %s:%d", "S" if self.implicit_tls else "", self.host, self.port)

    async def stop(self) -> None:
        await self._listener.stop()

    # ----------------------------------------------------------------- one connection

    async def _serve(self, conn: Connection) -> None:
        session: ImapSession | None = None
        busy = asyncio.Lock()
        loop = asyncio.get_running_loop()

        def wakeup() -> None:  # a store change while IDLE: push it from the loop, outside the listener
            loop.call_soon(lambda: asyncio.ensure_future(push()))

        async def push() -> None:
            if session is None or session.closed or conn.closing:
                return
            async with busy:
                await self._apply(session, session.poll(), conn)

        try:
            if self.implicit_tls:
                assert self.ssl_context is not None
                await conn.start_tls(self.ssl_context, implicit=True)
            session = ImapSession(
                peer=conn.peer, node=self.node, tls_available=self.ssl_context is not None,
                tls_active=self.implicit_tls, default_domain=self.default_domain,
                server_name=self.server_name, wakeup=wakeup, output_budget=OUTPUT_BUDGET)
            session.job_steps, session.job_seconds = JOB_STEPS, JOB_SECONDS
            await self._apply(session, session.greeting(), conn)
            await self._read_loop(session, conn, busy)
        except (ConnectionError, ssl.SSLError, TimeoutError) as exc:
            log.debug("IMAP connection from %s ended: %s", conn.peer, exc)
        except Exception as exc:  # a bug: end this session only, tell the developers and the learners
            log.exception("IMAP session from %s failed", conn.peer)
            self._publish(facts.ImapError(src=self.node, dst=nodes.OUTSIDE, server=self.node, peer=conn.peer,
                                          folder=(session.folder or None) if session else None,
                                          error=repr(exc)[:300]), conn)
            conn.write(b"* BYE Internal server error; closing this session\r\n")
            try:
                await asyncio.wait_for(conn.drain(), 5)
            except (OSError, TimeoutError):
                pass
        finally:
            if session is not None:
                session.connection_lost()

    async def _read_loop(self, session: ImapSession, conn: Connection, busy: asyncio.Lock) -> None:
        while not session.closed:
            try:
                data = await conn.read(timeout=self.idle_timeout)
            except TimeoutError:
                await self._apply(session, session.timeout(), conn)
                return
            if not data:
                return
            async with busy:
                await self._apply(session, session.feed(data), conn)
                while session.pending and not conn.closing:
                    # A long FETCH goes out as it is produced (the client reads while we work,
                    # memory stays flat), and the other sessions on this loop get their turns.
                    await asyncio.sleep(0)
                    await self._apply(session, session.resume(), conn)

    async def _apply(self, session: ImapSession, effects: list[Effect], conn: Connection) -> None:
        for effect in effects:
            if isinstance(effect, Send):
                conn.write(effect.data)
                await conn.drain()
            elif isinstance(effect, Authenticate):
                await self._apply(session, await self._login(session, effect, conn), conn)
            elif isinstance(effect, StartTls):
                assert self.ssl_context is not None
                await conn.drain()
                await conn.start_tls(self.ssl_context)  # X4: what was buffered before is dropped
                session.tls_started()
            elif isinstance(effect, Close):
                await conn.drain()
                conn.close()
            elif isinstance(effect, Publish):
                self._publish(effect.fact, conn)

    async def _login(self, session: ImapSession, request: Authenticate, conn: Connection) -> list[Effect]:
        """Throttle, check the credentials, open the user's mailbox (see :mod:`..throttle`)."""
        await conn.drain()
        delay = await self.throttle.hold(session.peer)  # before the check: a right guess waits as long
        account = None
        if request.login and len(request.login) <= MAX_LOGIN:
            try:
                account = self.authenticate(request.login, request.password)
            except Exception:  # a broken authenticator is a bug, but must not look like a success
                log.exception("authenticate() failed")
        if account is None:
            self.throttle.failed(session.peer)
            return session.login_result(None, delay=delay)
        self.throttle.succeeded(session.peer)
        return session.login_result(MaildirMailbox(self.store, account.address))

    def _publish(self, fact: Fact, conn: Connection | None = None) -> None:
        if self.publish is None:
            return
        try:
            if conn is not None and hasattr(fact, "wire"):
                fact = dataclasses.replace(fact, **connection_layers(conn, fact.transcript, "IMAP"))
            self.publish(fact)
        except Exception:  # the diagram must never take the mail server down
            log.exception("publishing %s failed", fact.kind)


def _node(node: str | None, domain: str | None) -> str:
    """The server's node id: the one given, else the domain's IMAP node, else the front door."""
    if node is None:
        return nodes.imap(domain) if domain else nodes.FRONT
    return node
