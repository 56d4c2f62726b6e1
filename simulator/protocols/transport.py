"""The connection side of a text-protocol server, shared by the POP3 and IMAP servers.

A sans-IO session (``pop3.core``, ``imap``) turns bytes into replies and effects; this module owns
the sockets around it, the same way for every protocol:

* ``Listener(handler, host=, port=)`` accepts connections on one loopback address and runs
  ``await handler(conn)`` as one task per connection. ``stop()`` stops listening, aborts every
  connection (a session sees end of stream and ends as a dropped connection) and waits for the
  handlers. ``implicit_tls=True`` leaves each new connection unread, so the handler can call
  ``conn.start_tls(ctx)`` first (RFC 8314 §3.3, POP3S/IMAPS): the connection is the handler's from
  accept on, and ``stop()`` can end it even during its handshake.
* ``Connection`` gives the handler:
    - ``await read(timeout=None)``: what has arrived (at least one byte, at most READ_CHUNK), ``b""``
      at end of stream, ``TimeoutError`` after ``timeout`` idle seconds (RFC 1939 §3, RFC 3501 §5.4
      autologout); every read yields to the loop first, so pipelined input is served in turns;
    - ``await read_line(limit, timeout=None)``: one line with its LF, ``b""`` at end of stream, or
      ``LineTooLong`` (the rest of that line is skipped; the connection stays usable);
      ``await read_exactly(n, timeout=None)`` for a literal; don't mix these with ``read()``
      across one message;
    - ``write(data)`` and ``await drain()`` (flow control: reading pauses while a client sends
      faster than it is answered, writing waits while the client reads slower than we write);
    - ``await start_tls(ctx)``: the STARTTLS / STLS upgrade. Every byte received before the
      handshake is discarded, never executed (RFC 2595 §4, RFC 3207 §4.2, CVE-2011-0411): nothing
      can slip in between, because ``loop.start_tls`` pauses reading before its first await;
    - ``close()``, ``abort()``, ``peer`` (the client's IP), ``is_tls``, ``closing``, ``at_eof``;
    - the layers under the dialogue: ``peername`` and ``sockname`` (the socket's two ends, read
      when the connection is made: a TLS transport may not tell them later), ``tls_mode``
      ("" plaintext, "starttls" or "implicit") and ``tls_version`` ("TLSv1.3").

A half-closed plain connection stays open to answer what the client sent before its FIN.

Bounds (issue 12, rule 4): ``Listener(..., cap=SessionCap(...), refusal=b"...")`` counts live
connections per client address (:class:`simulator.protocols.limits.SessionCap`, shared by every
listener of one protocol); one beyond the cap gets the server's ``refusal`` line (nothing on an
implicit-TLS port: no handshake is spent on it) and is closed before any handler runs.  Reads are
bounded by the caller's limit (``read_line``) and by READ_HIGH_WATER: a client that sends faster than
it is answered stops being read, so a flood costs at most that much memory per connection.

Nothing here knows a protocol: no verbs, no replies, no events.
"""
from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable

from .limits import SessionCap

__all__ = ["READ_CHUNK", "READ_HIGH_WATER", "TLS_HANDSHAKE_TIMEOUT", "Connection", "LineTooLong", "Listener"]

log = logging.getLogger(__name__)

READ_HIGH_WATER = 256 * 1024   # stop reading from a client that sends faster than we answer
RECV_SIZE = 64 * 1024            # octets one recv() asks for on a plain socket: asyncio asks 256 KiB, a
                                 # buffer that size is an mmap + mremap + munmap at every read (glibc)
READ_CHUNK = 8 * 1024          # what one read() hands a session: its work per turn of the loop stays small
TLS_HANDSHAKE_TIMEOUT = 30.0
STOP_GRACE = 5.0               # seconds for handlers to end after their connections are aborted

Handler = Callable[["Connection"], Awaitable[None]]


def small_reads(transport: asyncio.BaseTransport) -> None:
    """Make a transport read at most :data:`RECV_SIZE` octets at once: a plain socket's ``recv()``,
    and a TLS transport's decrypted reads (asyncio's ``SSLProtocol`` copies what it decrypted out
    with ``read(max_size)``, 256 KiB, for a protocol that is not buffered: above glibc's mmap
    threshold, every such read was mmap + mremap + munmap).  A TLS transport's socket reads into
    the TLS layer's own buffer: nothing to do there."""
    if isinstance(getattr(transport, "max_size", None), int):
        transport.max_size = RECV_SIZE                  # type: ignore[attr-defined]
    tls = getattr(transport, "_ssl_protocol", None)     # asyncio's _SSLProtocolTransport
    if tls is not None and isinstance(getattr(tls, "max_size", None), int):
        tls.max_size = RECV_SIZE


class LineTooLong(Exception):
    """``read_line`` met a line longer than its limit; the rest of that line will be skipped."""


class Connection(asyncio.Protocol):
    """One accepted connection: buffered reads, writes with flow control, STARTTLS, close."""

    def __init__(self, on_made: Callable[[Connection], None], *, pause_at_start: bool = False,
                 high_water: int = READ_HIGH_WATER) -> None:
        self._on_made = on_made
        self._pause_at_start = pause_at_start
        self._high_water = high_water
        self._loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.peer = "unknown"
        self.peername: tuple | None = None
        self.sockname: tuple | None = None
        self.is_tls = False
        self.tls_mode = ""            # "", "starttls" or "implicit"
        self.tls_version = ""
        self._buffer = bytearray()
        self._skip_line = False       # inside an over-long line already reported
        self._eof = False
        self._lost = False
        self._read_paused = False
        self._write_paused = False
        self._data_waiter: asyncio.Future[None] | None = None
        self._drain_waiter: asyncio.Future[None] | None = None

    # ----------------------------------------------------------------- protocol callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peername = transport.get_extra_info("peername")
        self.peer = str(peername[0]) if peername else "unknown"
        self.peername = tuple(peername) if peername else None
        sockname = transport.get_extra_info("sockname")
        self.sockname = tuple(sockname) if sockname else None
        small_reads(transport)
        if self._pause_at_start:
            # Leave the ClientHello unread until the handler hands the socket to start_tls.
            transport.pause_reading()
        self._on_made(self)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if len(self._buffer) > self._high_water and not self._read_paused and self.transport:
            self._read_paused = True
            self.transport.pause_reading()
        self._wake_reader()

    def eof_received(self) -> bool:
        self._eof = True
        self._wake_reader()
        return not self.is_tls   # keep a half-closed plain socket open to answer what it sent

    def connection_lost(self, exc: Exception | None) -> None:
        self._eof = self._lost = True
        self._wake_reader()
        self._wake_writer()

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._wake_writer()

    # ----------------------------------------------------------------- for the handler

    @property
    def closing(self) -> bool:
        return self._lost or self.transport is None or self.transport.is_closing()

    @property
    def at_eof(self) -> bool:
        return self._eof

    async def read(self, timeout: float | None = None, max_bytes: int = READ_CHUNK) -> bytes:
        """What has arrived (at least one byte, at most ``max_bytes``), or b"" at end of stream;
        TimeoutError when idle.  Fair: a client whose commands are already buffered still lets the
        loop serve the others before each chunk, so a pipelined flood is taken in turns."""
        await self._wait_for(lambda: bool(self._buffer), timeout)
        return self._take(min(len(self._buffer), max_bytes))

    async def read_line(self, limit: int, timeout: float | None = None) -> bytes:
        """One line up to and with its LF (at most ``limit`` octets before it), or b"" at the end.

        A longer line raises LineTooLong once; its remaining bytes are skipped by the next reads.
        A last line without an LF before end of stream is returned as it is.
        """
        while True:
            await self._wait_for(lambda: b"\n" in self._buffer or len(self._buffer) > limit, timeout)
            end = self._buffer.find(b"\n")
            if self._skip_line:
                self._take(len(self._buffer) if end < 0 else end + 1)
                self._skip_line = end < 0
                if self._eof and not self._buffer:
                    return b""
                continue
            if end < 0 and len(self._buffer) > limit or end > limit:
                self._skip_line = True
                raise LineTooLong(f"a line longer than {limit} octets")
            return self._take(len(self._buffer) if end < 0 else end + 1)

    async def read_exactly(self, size: int, timeout: float | None = None) -> bytes:
        """Exactly ``size`` octets (a literal); fewer only at end of stream."""
        await self._wait_for(lambda: len(self._buffer) >= size, timeout)
        return self._take(min(size, len(self._buffer)))

    def write(self, data: bytes) -> None:
        if not self.closing:
            self.transport.write(data)  # type: ignore[union-attr]

    async def drain(self) -> None:
        """Wait while the client reads slower than we write."""
        while self._write_paused and not self._lost:
            self._drain_waiter = self._loop.create_future()
            try:
                await self._drain_waiter
            finally:
                self._drain_waiter = None

    async def start_tls(self, context: ssl.SSLContext, *, implicit: bool = False,
                        handshake_timeout: float = TLS_HANDSHAKE_TIMEOUT) -> None:
        """Upgrade to TLS (server side); nothing received before the handshake survives it.

        Used for STARTTLS/STLS and, right after accept (reading still paused), for implicit TLS
        (``implicit=True``: recorded as such in ``tls_mode``).
        Raises ConnectionResetError if the client went away during the handshake.
        """
        self._buffer.clear()
        self._skip_line = False
        if self._read_paused:
            self._read_paused = False
            self.transport.resume_reading()  # type: ignore[union-attr]
        # loop.start_tls pauses reading before its first await, so no plaintext can slip in.
        new = await self._loop.start_tls(self.transport, self, context, server_side=True,  # type: ignore[arg-type]
                                         ssl_handshake_timeout=handshake_timeout)
        if new is None:
            raise ConnectionResetError("connection closed during the TLS handshake")
        self.transport = new  # type: ignore[assignment]
        small_reads(new)            # the decrypted copies too (``small_reads``)
        self.is_tls = True
        self.tls_mode = "implicit" if implicit else "starttls"
        ssl_object = new.get_extra_info("ssl_object")
        self.tls_version = str(ssl_object.version() or "") if ssl_object is not None else ""

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    # ----------------------------------------------------------------- internals

    async def _wait_for(self, ready: Callable[[], bool], timeout: float | None) -> None:
        """Wait until ``ready()`` or end of stream; TimeoutError after ``timeout`` seconds.

        Always yields to the loop at least once: input already buffered must not let one client
        run on without the others getting their turns (rule 4: a fresh client is greeted at once).
        """
        await asyncio.sleep(0)
        async with asyncio.timeout(timeout):
            while not ready() and not self._eof:
                self._data_waiter = self._loop.create_future()
                try:
                    await self._data_waiter
                finally:
                    self._data_waiter = None

    def _take(self, size: int) -> bytes:
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        if self._read_paused and not self.closing and len(self._buffer) <= self._high_water:
            self._read_paused = False
            self.transport.resume_reading()  # type: ignore[union-attr]
        return data

    def _wake_reader(self) -> None:
        if self._data_waiter is not None and not self._data_waiter.done():
            self._data_waiter.set_result(None)

    def _wake_writer(self) -> None:
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)


class Listener:
    """Accepts connections on ``host:port`` and runs ``handler(conn)`` as one task for each."""

    def __init__(self, handler: Handler, *, host: str, port: int, implicit_tls: bool = False,
                 high_water: int = READ_HIGH_WATER, cap: SessionCap | None = None,
                 refusal: bytes = b"") -> None:
        self._handler = handler
        self.host = host
        self._port = port
        self.implicit_tls = implicit_tls
        self._high_water = high_water
        self.cap = cap                    # live connections per client address (None: no limit)
        self.refusal = refusal            # the line a connection beyond the cap gets before the close
        self._server: asyncio.Server | None = None
        self._connections: set[Connection] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        """The bound port (useful after starting on port 0)."""
        if self._server is not None and self._server.sockets:
            return int(self._server.sockets[0].getsockname()[1])
        return self._port

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        # Implicit TLS is done by the handler (as for STARTTLS), not by create_server(ssl=...), so
        # that a connection is ours, and stop() can end it, from accept on: not only after its handshake.
        self._server = await loop.create_server(
            lambda: Connection(self._accept, pause_at_start=self.implicit_tls, high_water=self._high_water),
            self.host, self._port, reuse_address=True)

    async def stop(self) -> None:
        """Stop listening and end every connection (as dropped connections)."""
        if self._server is not None:
            self._server.close()
        for conn in list(self._connections):
            conn.abort()
        tasks = list(self._tasks)
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=STOP_GRACE)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    def _accept(self, conn: Connection) -> None:
        if self.cap is not None and not self.cap.admit(conn.peer):
            log.info("%s:%d: too many connections from %s, refused", self.host, self.port, conn.peer)
            if self.refusal and not self.implicit_tls:
                conn.write(self.refusal)
            conn.close()                  # the refusal is flushed first; nothing is read
            return
        self._connections.add(conn)
        task = asyncio.get_running_loop().create_task(self._run(conn))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, conn: Connection) -> None:
        try:
            await self._handler(conn)
        except Exception:   # the handler's own boundary should have caught it; never lose the loop
            log.exception("connection handler for %s failed", conn.peer)
        finally:
            conn.close()
            self._connections.discard(conn)
            if self.cap is not None:
                self.cap.release(conn.peer)
