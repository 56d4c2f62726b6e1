"""Asyncio UDP and TCP listeners around ``zone`` (the answers live there, not here).

* RFC 1035 §4.2.1 — UDP: one message per datagram, the size limit is applied by ``zone``.
* RFC 1035 §4.2.2, RFC 7766 — TCP on the same port: each message has a two-octet length prefix,
  several queries per connection are answered in order, idle connections are closed
  (RFC 7766 §6.2.3), over-long frames and malformed messages close that connection only.
* What is never answered (``zone.handle_wire`` returns None): a message shorter than a header, and
  a response (QR=1, RFC 1035 §4.1.1) — over UDP it is dropped, over TCP the connection is closed
  (its stream can no longer be trusted).  Everything else gets an answer: FORMERR for what cannot
  be parsed, REFUSED (RA clear) for names outside the zones, UPDATE and zone transfers.

Every listener binds the one loopback address it is given (DESIGN.md sandbox rule). Each reply is
reported to ``on_query`` as a ``QueryRecord`` (with both ends of the exchange: the layers under the
hop); the caller turns those into ``dns.served`` facts.  A
query that a zone fault (``zone.ZoneFault.TIMEOUT``) leaves unanswered is reported too, with
``fault`` set and no rcode: over UDP nothing is sent, over TCP the connection is closed.

Answers kept (issue 13: the sandbox's MTAs ask the same question for every message they relay, and
parsing the query, building the answer with dnspython and rendering it was a tenth of the mail loop):
what an answer says is a function of the query's octets after its ID, the transport and the zones
(with their faults), so the server keeps the last ``ANSWERS_KEPT`` answers by (octets after the ID,
transport, UDP size limit) for the zones' current ``Authority.version``, and answers a query seen
before with the kept octets under the new ID.  Each such answer is a real datagram to a real client,
reported to ``on_query`` like any other.  It repeats the first answer's order of the records in an
RRset (dnspython shuffles them at each rendering; NSD and Knot keep one order): RRset order carries
no meaning (RFC 2181 §5), and the MTAs sort MX records by preference and draw equal ones themselves.
Kept: well-formed queries answered without a zone fault and
without a SERVFAIL (a failing answer is worked out again, and logged, every time).  A change of a zone
or of a fault (the version goes up) forgets every kept answer.
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import ipaddress
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset

from .zone import EDNS_PAYLOAD, Authority, Reply, handle_wire

__all__ = ["DnsServer", "QueryRecord"]

logger = logging.getLogger(__name__)

TCP_IDLE_TIMEOUT = 30.0  # seconds, RFC 7766 §6.2.3 suggests "a few seconds" to tens of seconds
TCP_MAX_QUERY = 16384  # octets; queries are tiny, a larger frame is a broken or hostile client
TCP_MAX_CONNECTIONS = 64
PORT_ATTEMPTS = 5  # port 0: tries at finding a port free for both UDP and TCP
STOP_GRACE = 2.0  # seconds for open TCP sessions to end after their sockets are closed
ANSWERS_KEPT = 256  # answers kept for queries asked again (see the module docstring)


@dataclass(frozen=True, slots=True)
class QueryRecord:
    """One answered query, as the event bus and the learner see it."""

    source: tuple[str, int]
    transport: str  # "udp" | "tcp"
    qname: str  # without the trailing dot; "" when the query could not be parsed
    qtype: str  # "MX", "A", ...; "" when the query could not be parsed
    rcode: str  # "NOERROR", "NXDOMAIN", "REFUSED", "FORMERR", ...
    answer: tuple[str, ...]  # the answer RRs actually sent, one zone-file line each
    truncated: bool
    fault: str = ""  # "servfail" / "timeout": a zone fault made this answer ("timeout": none was sent)
    server: tuple[str, int] = ("", 0)  # the address and port the question came to (this server's)


class DnsServer:
    """Authoritative DNS over UDP and TCP on one loopback address and port."""

    def __init__(
        self,
        authority: Authority,
        host: str,
        port: int,
        on_query: Callable[[QueryRecord], None] | None = None,
        *,
        max_udp: int = EDNS_PAYLOAD,
        tcp_idle_timeout: float = TCP_IDLE_TIMEOUT,
        tcp_max_connections: int = TCP_MAX_CONNECTIONS,
    ) -> None:
        _require_loopback(host)
        if not 0 <= port <= 65535:
            raise ValueError(f"port out of range: {port}")
        self._authority = authority
        self._host = host
        self._requested_port = port
        self._on_query = on_query
        self._max_udp = max_udp
        self._idle = tcp_idle_timeout
        self._max_connections = tcp_max_connections
        self._port: int | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._connections: set[tuple[asyncio.Task[None], asyncio.StreamWriter]] = set()
        # (octets after the ID, transport, UDP limit) -> (reply, record) for ``_answers_version``
        self._answers: dict[tuple[bytes, str, int | None], tuple[Reply, QueryRecord]] = {}
        self._answers_version: int | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("DnsServer is not started")
        return self._port

    async def start(self) -> None:
        """Bind UDP, then TCP on the same port. Raises OSError if the port is busy."""
        if self._udp is not None:
            raise RuntimeError("DnsServer already started")
        attempts = PORT_ATTEMPTS if self._requested_port == 0 else 1
        for attempt in range(1, attempts + 1):
            udp, port = await self._bind_udp()
            try:
                self._tcp = await asyncio.start_server(self._serve_tcp, self._host, port)
            except OSError as exc:
                udp.close()
                if attempt == attempts or exc.errno != errno.EADDRINUSE:
                    raise
                logger.debug("TCP port %d busy, trying another UDP port", port)
                continue
            self._udp, self._port = udp, port
            logger.info("DNS listening on %s port %d (UDP and TCP)", self._host, port)
            return

    async def stop(self) -> None:
        """Close both listeners and every open TCP connection. Safe to call twice."""
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._tcp is not None:
            self._tcp.close()
        sessions = list(self._connections)
        for _, writer in sessions:
            writer.close()  # the session sees EOF and ends on its own
        tasks = [task for task, _ in sessions]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=STOP_GRACE)
            for task in pending:  # only if a session is stuck; 3.11 logs a cancelled handler noisily
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        if self._tcp is not None:
            await self._tcp.wait_closed()
            self._tcp = None

    # -- UDP ------------------------------------------------------------------------------------

    async def _bind_udp(self) -> tuple[asyncio.DatagramTransport, int]:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _UdpProtocol(self), local_addr=(self._host, self._requested_port)
        )
        return transport, transport.get_extra_info("sockname")[1]

    def _on_datagram(
        self, data: bytes, addr: tuple[str, int], transport: asyncio.DatagramTransport
    ) -> None:
        reply = self._answer(data, addr, "udp", self._max_udp)
        if reply is not None and reply.wire:
            transport.sendto(reply.wire, addr)

    # -- TCP ------------------------------------------------------------------------------------

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        peer = _source(writer.get_extra_info("peername"))
        if len(self._connections) >= self._max_connections:
            logger.warning("DNS TCP: too many connections, closing %s", peer)
            writer.close()
            return
        self._connections.add((task, writer))
        try:
            await self._tcp_session(reader, writer, peer)
        except (ConnectionError, TimeoutError, asyncio.IncompleteReadError):
            pass  # the client went away or fell silent: RFC 7766 §6.2.3
        except Exception:
            logger.exception("DNS TCP session with %s failed", peer)
        finally:
            self._connections.discard((task, writer))
            writer.close()
            try:
                await writer.wait_closed()
            except Exception:  # the connection's own error, already handled above
                pass

    async def _tcp_session(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: tuple[str, int]
    ) -> None:
        while True:
            # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation (gh-86296).
            try:
                async with asyncio.timeout(self._idle):
                    prefix = await reader.readexactly(2)
            except asyncio.IncompleteReadError:
                return  # clean EOF between messages
            length = int.from_bytes(prefix, "big")
            if not 0 < length <= TCP_MAX_QUERY:
                logger.debug("DNS TCP: %s sent a %d-octet frame, closing", peer, length)
                return
            async with asyncio.timeout(self._idle):
                data = await reader.readexactly(length)
            reply = self._answer(data, peer, "tcp", None)
            if reply is None:
                return  # not even a header: the stream can no longer be trusted
            if not reply.wire:
                return  # a zone fault: close without an answer
            writer.write(len(reply.wire).to_bytes(2, "big") + reply.wire)  # RFC 1035 §4.2.2
            async with asyncio.timeout(self._idle):
                await writer.drain()
            if reply.query is None:
                return  # FORMERR sent for a malformed message: close this connection only

    # -- shared ---------------------------------------------------------------------------------

    def _answer(
        self, data: bytes, source: tuple[str, int], transport: str, max_udp: int | None
    ) -> Reply | None:
        """Answer one message; never raises (a bug in one answer must not stop the server).

        ``handle_wire`` already turns a failing answer into SERVFAIL; this is the last guard.
        A query asked before, at the zones' current version, gets the answer kept for it under its
        own ID (see the module docstring).
        """
        version = getattr(self._authority, "version", None)
        key = (data[2:], transport, max_udp)
        if version is not None and len(data) >= 12:
            if version != self._answers_version:
                self._answers.clear()
                self._answers_version = version
            kept = self._answers.get(key)
            if kept is not None:
                reply, record = kept
                reply = Reply(data[:2] + reply.wire[2:], reply.response, reply.query, reply.truncated)
                self._tell(QueryRecord(source, transport, record.qname, record.qtype, record.rcode, record.answer,
                                       record.truncated, record.fault, record.server))
                return reply
        try:
            reply = handle_wire(self._authority, data, max_udp=max_udp)
        except Exception:
            logger.exception("DNS: answering %d octets from %s failed", len(data), source)
            return None
        if reply is not None:
            record = self._report(reply, source, transport)
            if (record is not None and version is not None and reply.query is not None and reply.fault is None
                    and reply.wire and reply.response.rcode() != dns.rcode.SERVFAIL):
                if len(self._answers) >= ANSWERS_KEPT:
                    del self._answers[next(iter(self._answers))]      # the oldest
                self._answers[key] = (reply, record)
        return reply

    def _report(self, reply: Reply, source: tuple[str, int], transport: str) -> QueryRecord | None:
        try:
            record = dataclasses.replace(_query_record(reply, source, transport),
                                         server=(self._host, self._port or 0))
        except Exception:
            logger.exception("DNS: the record of an answer to %s failed", source)
            return None
        self._tell(record)
        return record

    def _tell(self, record: QueryRecord) -> None:
        try:
            logger.debug("DNS %s %s %s %s -> %s", record.transport, record.source, record.qname, record.qtype,
                         record.rcode)
            if self._on_query is not None:
                self._on_query(record)
        except Exception:
            logger.exception("DNS on_query callback failed")


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServer) -> None:
        self._server = server
        self._transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)  # not a subclass in CPython 3.11

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if self._transport is not None:
            self._server._on_datagram(data, _source(addr), self._transport)

    def error_received(self, exc: Exception) -> None:
        logger.debug("DNS UDP: %s", exc)  # e.g. ICMP port unreachable from a vanished client


def _require_loopback(host: str) -> None:
    try:
        address = ipaddress.ip_address(host)  # a literal only: no name resolution, ever
    except ValueError:
        raise ValueError(f"DNS host must be a loopback IP address, not {host!r}") from None
    if not address.is_loopback:
        raise ValueError(f"DNS host must be a loopback address (sandbox rule), not {host}")


def _source(addr: tuple[str, int] | tuple[str, int, int, int]) -> tuple[str, int]:
    return (addr[0], addr[1])


def _query_record(reply: Reply, source: tuple[str, int], transport: str) -> QueryRecord:
    query = reply.query
    qname = qtype = ""
    if query is not None and query.question:
        question = query.question[0]
        qname = question.name.to_text(omit_final_dot=True)
        qtype = dns.rdatatype.to_text(question.rdtype)
    fault = reply.fault.value if reply.fault is not None else ""
    if not reply.wire:  # dropped by a zone fault: nothing was sent
        return QueryRecord(source, transport, qname, qtype, "", (), False, fault)
    # What was sent: after truncation the answer may be shorter than the one built.
    sent = dns.message.from_wire(reply.wire) if reply.truncated else reply.response
    return QueryRecord(
        source=source,
        transport=transport,
        qname=qname,
        qtype=qtype,
        rcode=dns.rcode.to_text(reply.response.rcode()),
        answer=tuple(_lines(sent.answer)),
        truncated=reply.truncated,
        fault=fault,
    )


def _lines(rrsets: list[dns.rrset.RRset]) -> list[str]:
    return [line for rrset in rrsets for line in rrset.to_text().splitlines()]
