"""asyncio adapter around the sans-IO IMAP session (``imap_core``).

It accepts connections (plain with STARTTLS when given an SSL context, or implicit TLS for IMAPS,
RFC 8314 §3.3), feeds bytes to ``ImapSession`` and carries out the effects it returns: writes,
throttling delays, the TLS upgrade (discarding anything buffered before the handshake, PROTOCOLS X4),
closing, and events for the learners' diagram. IDLE pushes arrive through the session's ``wakeup``.
An unexpected exception ends only its own session: it is logged, published as ``imap.error`` and the
server keeps serving.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Callable
from typing import Any

from simulator.protocols.imap_core import (
    IDLE_TIMEOUT,
    OUTPUT_BUDGET,
    Close,
    Delay,
    Effect,
    ImapSession,
    LoginThrottle,
    Publish,
    Send,
    StartTls,
)
from simulator.store import MailStore

log = logging.getLogger(__name__)


class ImapServer:
    """IMAP4rev1 on ``host:port`` over a ``MailStore``; all sessions live on the running loop."""

    def __init__(
        self,
        store: MailStore,
        authenticate: Callable[[str, str], Any],
        *,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext | None = None,
        implicit_tls: bool = False,
        bus: Any = None,
        default_domain: str | None = None,
        server_name: str = "mailflow",
        node: str = "imap:front",
        clock: Callable[[], float] = time.time,
        idle_timeout: float = IDLE_TIMEOUT,
    ) -> None:
        if implicit_tls and ssl_context is None:
            raise ValueError("implicit_tls needs an ssl_context")
        self.store = store
        self.authenticate = authenticate
        self.host, self._port = host, port
        self.ssl_context = ssl_context
        self.implicit_tls = implicit_tls
        self.bus = bus
        self.default_domain = default_domain
        self.server_name = server_name
        self.node = node
        self.clock = clock
        self.idle_timeout = idle_timeout
        self.throttle = LoginThrottle(clock=clock)
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def port(self) -> int:
        if self._server is not None and self._server.sockets:
            return self._server.sockets[0].getsockname()[1]
        return self._port

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._on_connect, self.host, self._port,
            ssl=self.ssl_context if self.implicit_tls else None,
            limit=1 << 20,
        )
        log.info("IMAP%s listening on %s:%d", "S" if self.implicit_tls else "", self.host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        if self._tasks:
            _, pending = await asyncio.wait(list(self._tasks), timeout=5)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=5)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    # ----------------------------------------------------------------- one connection

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self._writers.add(writer)
        try:
            await self._serve(reader, writer)
        except asyncio.CancelledError:
            pass  # stop(): end quietly, this task is the top of its own stack
        finally:
            self._writers.discard(writer)
            if task is not None:
                self._tasks.discard(task)
            writer.close()
            try:
                await writer.wait_closed()
            except (OSError, ssl.SSLError, asyncio.CancelledError):
                pass

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        peername = writer.get_extra_info("peername") or ("?", 0)
        peer = str(peername[0])
        session: ImapSession | None = None
        busy = asyncio.Lock()

        def wakeup() -> None:  # a store change while IDLE: push it from the loop, outside the listener
            loop.call_soon(lambda: asyncio.ensure_future(push()))

        async def push() -> None:
            if session is None or session.closed or writer.is_closing():
                return
            async with busy:
                await self._apply(session, session.poll(), reader, writer)

        session = ImapSession(
            self.store, self.authenticate, peer=peer,
            tls_available=self.ssl_context is not None, tls_active=self.implicit_tls,
            default_domain=self.default_domain, server_name=self.server_name,
            throttle=self.throttle, wakeup=wakeup, clock=self.clock, output_budget=OUTPUT_BUDGET,
        )
        try:
            await self._apply(session, session.greeting(), reader, writer)
            while not session.closed:
                try:
                    data = await asyncio.wait_for(reader.read(65536), self.idle_timeout)
                except TimeoutError:
                    await self._apply(session, session.timeout(), reader, writer)
                    break
                if not data:
                    break
                async with busy:
                    await self._apply(session, session.feed(data), reader, writer)
                    while session.pending and not writer.is_closing():
                        # A long FETCH goes out as it is produced (the client reads while we work,
                        # memory stays flat), and the other sessions on this loop get their turns.
                        await asyncio.sleep(0)
                        await self._apply(session, session.resume(), reader, writer)
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError) as exc:
            log.debug("IMAP connection from %s ended: %s", peer, exc)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug: end this session only, tell the developers and the learners
            log.exception("IMAP session from %s failed", peer)
            self._publish_error(session, peer, exc)
            try:
                writer.write(b"* BYE Internal server error; closing this session\r\n")
                await asyncio.wait_for(writer.drain(), 5)
            except (OSError, ssl.SSLError, TimeoutError):
                pass
        finally:
            session.connection_lost()

    async def _apply(self, session: ImapSession, effects: list[Effect], reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
        for effect in effects:
            if isinstance(effect, Send):
                writer.write(effect.data)
                await writer.drain()
            elif isinstance(effect, Delay):
                await writer.drain()
                await asyncio.sleep(effect.seconds)
            elif isinstance(effect, StartTls):
                await self._start_tls(session, reader, writer)
            elif isinstance(effect, Close):
                await writer.drain()
                writer.close()
            elif isinstance(effect, Publish):
                self._publish(session, effect)

    async def _start_tls(self, session: ImapSession, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
        await writer.drain()
        # X4 (STARTTLS command injection, CVE-2011-0411 class): plaintext that arrived after the
        # STARTTLS command but before the handshake must never be executed. There is no await
        # between this and the moment start_tls pauses the transport, so nothing can slip in.
        buffered = getattr(reader, "_buffer", None)
        if isinstance(buffered, bytearray):
            buffered.clear()
        assert self.ssl_context is not None
        await writer.start_tls(self.ssl_context)
        session.tls_started()

    # ----------------------------------------------------------------- events

    def _publish(self, session: ImapSession, event: Publish) -> None:
        if self.bus is None:
            return
        address = session.account.address if session.account is not None else None
        data = dict(event.data)
        if event.failed_login or address is None:
            src, dst = f"client:{session.peer}", self.node
        else:
            src, dst = f"mailbox:{address}", f"mua:{address}"
            data["server"] = f"imap:{session.account.domain}"
        try:
            self.bus.publish(event.kind, src=src, dst=dst, protocol="IMAP", status=event.status,
                             summary=event.summary, explain=event.explain, transcript=event.transcript,
                             data=data)
        except Exception:  # the diagram must never take the mail server down
            log.exception("publishing %s failed", event.kind)

    def _publish_error(self, session: ImapSession | None, peer: str, exc: Exception) -> None:
        if self.bus is None:
            return
        try:
            self.bus.publish(
                "imap.error", src=self.node, dst=f"client:{peer}", protocol="IMAP", status="failed",
                summary=f"IMAP session closed after an internal error: {type(exc).__name__}",
                explain={"en": "The server hit a bug while answering this client and closed only this "
                               "connection; every other session keeps working.",
                         "ru": "При ответе этому клиенту в сервере произошла ошибка; закрыто только это "
                               "соединение, остальные сеансы продолжают работать."},
                data={"error": repr(exc)[:300]})
        except Exception:
            log.exception("publishing imap.error failed")
