"""The shared connection helper on real loopback sockets: lines with a limit, idle timeout,
STARTTLS with the pre-handshake bytes discarded, implicit TLS, and stop() ending every connection."""
from __future__ import annotations

import asyncio
import ssl

import pytest

from simulator import tls
from simulator.protocols.transport import Connection, LineTooLong, Listener

HOST = "127.0.0.1"


@pytest.fixture(scope="module")
def contexts(tmp_path_factory):
    data = tmp_path_factory.mktemp("tls")
    cert, _ = tls.ensure_certificate(data)
    return tls.server_context(data), tls.client_context(cert)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 20))


async def line_server(handler, **kw) -> Listener:
    listener = Listener(handler, host=HOST, port=0, **kw)
    await listener.start()
    return listener


def test_lines_with_a_limit_and_the_session_goes_on():
    seen: list[bytes | str] = []

    async def handler(conn: Connection) -> None:
        while True:
            try:
                line = await conn.read_line(16)
            except LineTooLong:
                seen.append("too long")
                conn.write(b"ERR\r\n")
                continue
            if not line:
                return
            seen.append(line)
            conn.write(b"OK " + line)
            await conn.drain()

    async def scenario():
        listener = await line_server(handler)
        reader, writer = await asyncio.open_connection(HOST, listener.port)
        writer.write(b"short\r\n" + b"x" * 40 + b"\r\nnext\nlast")
        await writer.drain()
        replies = [await reader.readline() for _ in range(3)]
        writer.write_eof()
        replies.append(await reader.read())
        writer.close()
        await listener.stop()
        return replies

    replies = run(scenario())
    assert replies == [b"OK short\r\n", b"ERR\r\n", b"OK next\n", b"OK last"]
    assert seen == [b"short\r\n", "too long", b"next\n", b"last"]


def test_a_long_line_split_over_reads_is_reported_once():
    seen: list[bytes | str] = []

    async def handler(conn: Connection) -> None:
        while True:
            try:
                line = await conn.read_line(8)
            except LineTooLong:
                seen.append("too long")
                continue
            if not line:
                return
            seen.append(line)

    async def scenario():
        listener = await line_server(handler)
        reader, writer = await asyncio.open_connection(HOST, listener.port)
        for chunk in (b"a" * 20, b"b" * 20, b"c\r\nok\r\n"):
            writer.write(chunk)
            await writer.drain()
            await asyncio.sleep(0.01)   # separate reads on the server side (not an assertion on time)
        writer.write_eof()
        await reader.read()
        writer.close()
        await listener.stop()

    run(scenario())
    assert seen == ["too long", b"ok\r\n"]


def test_idle_timeout_and_read_exactly():
    outcome: list[object] = []

    async def handler(conn: Connection) -> None:
        outcome.append(await conn.read_exactly(5, timeout=5))
        try:
            await conn.read(timeout=0.05)
        except TimeoutError:
            outcome.append("timeout")
        conn.write(b"BYE\r\n")

    async def scenario():
        listener = await line_server(handler)
        reader, writer = await asyncio.open_connection(HOST, listener.port)
        writer.write(b"12")
        await writer.drain()
        await asyncio.sleep(0.01)
        writer.write(b"345")
        await writer.drain()
        reply = await reader.read()        # the handler closes after the timeout
        writer.close()
        await listener.stop()
        return reply

    assert run(scenario()) == b"BYE\r\n"
    assert outcome == [b"12345", "timeout"]


def test_starttls_discards_bytes_sent_before_the_handshake(contexts):
    server_ctx, client_ctx = contexts
    seen: list[bytes] = []

    async def handler(conn: Connection) -> None:
        assert await conn.read_line(100) == b"STARTTLS\r\n"
        conn.write(b"GO\r\n")
        await conn.drain()
        await conn.start_tls(server_ctx)
        assert conn.is_tls
        line = await conn.read_line(100)
        seen.append(line)
        conn.write(b"SECRET " + line)
        await conn.drain()

    async def scenario():
        listener = await line_server(handler)
        reader, writer = await asyncio.open_connection(HOST, listener.port)
        writer.write(b"STARTTLS\r\nINJECTED\r\n")   # pipelined behind STARTTLS: must never be read
        await writer.drain()
        assert await reader.readline() == b"GO\r\n"
        await writer.start_tls(client_ctx, server_hostname="localhost")
        writer.write(b"hello\r\n")
        await writer.drain()
        reply = await reader.readline()
        writer.close()
        await listener.stop()
        return reply

    assert run(scenario()) == b"SECRET hello\r\n"
    assert seen == [b"hello\r\n"]


def test_implicit_tls_and_stop_ends_every_connection(contexts):
    server_ctx, client_ctx = contexts
    ended: list[bytes] = []

    async def handler(conn: Connection) -> None:
        await conn.start_tls(server_ctx)
        conn.write(b"HELLO\r\n")
        await conn.drain()
        ended.append(await conn.read())    # blocks until stop() aborts the connection

    async def scenario():
        listener = await line_server(handler, implicit_tls=True)
        reader, writer = await asyncio.open_connection(HOST, listener.port, ssl=client_ctx,
                                                       server_hostname="localhost")
        assert await reader.readline() == b"HELLO\r\n"
        await listener.stop()
        try:
            rest = await reader.read()
        except (ConnectionError, ssl.SSLError):    # an aborted TLS connection may end either way
            rest = b""
        writer.close()
        return rest

    assert run(scenario()) == b""
    assert ended == [b""]
