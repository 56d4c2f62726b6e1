"""Where does mail for a domain go?  MX selection per RFC 5321 §5.1 and RFC 7505, through the
sandbox DNS only.

The sending MTA asks the sandbox DNS server with real DNS packets (UDP, TCP when truncated), from
its own loopback address, exactly as a real MTA asks its resolver.  Nothing here can reach the
machine's own resolver: queries go to one configured address and port.

- MX records present: only the MX hosts, lowest preference first, equal preferences in random
  order (a seeded ``random.Random``); if this MTA is one of them, drop those with a preference equal
  to or above its own (§5.1, to avoid loops).
- No MX but an A record: the domain itself is the implicit MX, preference 0 (§5.1).
- Null MX ``0 .``: fail at once, 5.1.10 (RFC 7505 §3, §4.1).
- NXDOMAIN / no MX and no A: 5.1.2.  REFUSED: the domain is outside the sandbox; 5.1.2 with that
  reason.  SERVFAIL or a timeout: a temporary failure, 4.4.3.

Why a route failed (``Route.error``) and why the hosts are in this order (``Route.reason``) are
:class:`~simulator.facts.RouteReason` codes with parameters; the narrator words them.

Speed (issue 13: every relayed message asks the same question, and dnspython's asyncio query made a
datagram endpoint per query and parsed every response in full).  Still one real question per lookup,
from a socket of its own on the MTA's address, to the sandbox DNS server, which answers it like any
client's: what changed is the work around the packets.  The query's octets after its ID are made
once per (name, type); each query gets a fresh random ID (:func:`secrets.randbits`); the exchange is a
plain non-blocking UDP socket on the loop (``sock_sendto``/``sock_recvfrom``: a datagram from any other
address, or without the query's ID and QR, is not the answer and is ignored until the timeout, which
raises ``dns.exception.Timeout`` as dnspython does).  What a response says (:class:`Answer`) is parsed
with dnspython once per distinct (query, response) octets after the ID and kept (``ANSWERS_KEPT``):
the same octets always say the same thing.  A truncated response (TC) is asked again over TCP
(RFC 7766), with dnspython, as before.
"""
from __future__ import annotations

import asyncio
import functools
import random
import secrets
import socket
from dataclasses import dataclass, field

import dns.asyncquery
import dns.flags
import dns.exception
import dns.inet
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype

from .facts import Reason, RouteReason

ANSWERS_KEPT = 256          # distinct (query, response) pairs whose meaning is kept
MAX_DATAGRAM = 65535


@dataclass(frozen=True, slots=True)
class Target:
    preference: int
    host: str
    addresses: tuple[str, ...]


@dataclass(slots=True)
class Route:
    """The outcome of a lookup: targets to try in order, or an error."""
    domain: str
    targets: list[Target] = field(default_factory=list)
    permanent: bool = False        # with error: bounce now
    status: str = ""               # enhanced status code of the error
    error: Reason | None = None    # why there is no route
    reason: tuple[Reason, ...] = ()   # why this order
    answers: list[str] = field(default_factory=list)   # what DNS said, as text lines
    rcode: str = "NOERROR"
    implicit: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True, slots=True)
class Answer:
    """What one DNS response said, as routing reads it."""
    rcode: int
    lines: tuple[str, ...]                      # the answer section, one zone-file line per record
    mx: tuple[tuple[int, str], ...]             # (preference, exchange) of its MX records
    glue: tuple[tuple[str, tuple[str, ...]], ...]   # A records of the additional section, by name
    addresses: tuple[str, ...]                  # A records of the answer section

    @classmethod
    def of(cls, response: dns.message.Message) -> "Answer":
        return cls(
            rcode=response.rcode(),
            lines=tuple(line for rrset in response.answer for line in rrset.to_text().splitlines()),
            mx=tuple((rd.preference, rd.exchange.to_text(omit_final_dot=True).lower())
                     for rrset in response.answer if rrset.rdtype == dns.rdatatype.MX for rd in rrset),
            glue=tuple((rrset.name.to_text(omit_final_dot=True).lower(), tuple(rd.address for rd in rrset))
                       for rrset in response.additional if rrset.rdtype == dns.rdatatype.A),
            addresses=tuple(rd.address for rrset in response.answer
                            if rrset.rdtype == dns.rdatatype.A for rd in rrset))


class Resolver:
    def __init__(self, *, server: str, port: int, timeout: float = 2.0,
                 rng: random.Random | None = None) -> None:
        self.server, self.port, self.timeout = server, port, timeout
        self.rng = rng or random.Random()
        self._family = dns.inet.af_for_address(server)
        self._answers: dict[tuple[bytes, bytes], Answer] = {}   # (query, response) octets after the ID

    async def ask(self, name: str, rdtype: str, *, source: str | None) -> Answer:
        """One question to the sandbox DNS server, from ``source``: what its response says."""
        tail = _question(name, rdtype)
        wire = secrets.randbits(16).to_bytes(2, "big") + tail
        data = await self._udp(wire, source)
        if data[2] & 0x02:                              # TC: truncated: ask again over TCP (RFC 7766)
            query = dns.message.from_wire(wire)
            response = await dns.asyncquery.tcp(query, self.server, timeout=self.timeout, port=self.port,
                                                source=source)
            return Answer.of(response)
        key = (tail, data[2:])
        answer = self._answers.get(key)
        if answer is None:
            response = dns.message.from_wire(data)
            if not dns.message.from_wire(wire).is_response(response):
                raise dns.query.BadResponse
            answer = Answer.of(response)
            if len(self._answers) >= ANSWERS_KEPT:
                del self._answers[next(iter(self._answers))]        # the oldest
            self._answers[key] = answer
        return answer

    async def _udp(self, wire: bytes, source: str | None) -> bytes:
        """Send ``wire`` from a new socket on ``source`` and wait for its answer: a datagram from the
        server's address and port with the query's ID and QR set (anything else is ignored)."""
        loop = asyncio.get_running_loop()
        sock = socket.socket(self._family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            if source:
                sock.bind((source, 0))
            where = (self.server, self.port)
            try:
                async with asyncio.timeout(self.timeout):
                    await loop.sock_sendto(sock, wire, where)
                    while True:
                        data, peer = await loop.sock_recvfrom(sock, MAX_DATAGRAM)
                        if (len(data) >= 12 and data[:2] == wire[:2] and data[2] & 0x80
                                and peer[1] == self.port and self._from_server(peer[0])):
                            return data
            except TimeoutError:
                raise dns.exception.Timeout(timeout=self.timeout) from None
        finally:
            sock.close()

    def _from_server(self, address: str) -> bool:
        return address == self.server or \
            dns.inet.inet_pton(self._family, address) == dns.inet.inet_pton(self._family, self.server)

    async def route(self, domain: str, *, source: str | None, self_host: str | None = None) -> Route:
        route = Route(domain)
        if not _valid_domain(domain):
            return _perm(route, "5.1.3", RouteReason.INVALID_DOMAIN)
        try:
            response = await self.ask(domain, "MX", source=source)
        except (dns.exception.DNSException, OSError) as exc:
            return _temp(route, Reason.of(RouteReason.DNS_NO_ANSWER, error=type(exc).__name__))
        route.rcode = dns.rcode.to_text(response.rcode)
        route.answers = list(response.lines)
        if response.rcode == dns.rcode.REFUSED:
            return _perm(route, "5.1.2", RouteReason.OUTSIDE)
        if response.rcode == dns.rcode.NXDOMAIN:
            return _perm(route, "5.1.2", RouteReason.NXDOMAIN)
        if response.rcode != dns.rcode.NOERROR:
            return _temp(route, Reason.of(RouteReason.DNS_RCODE, rcode=route.rcode))
        mx = list(response.mx)
        if mx:
            route.answers = [f"MX {pref} {host or '.'}" for pref, host in sorted(mx)]
        glue = dict(response.glue)
        if not mx:
            return await self._implicit(route, source)
        if any(host in ("", ".") for _, host in mx):
            return _perm(route, "5.1.10", RouteReason.NULL_MX)
        return await self._order(route, mx, glue, source, self_host)

    async def _order(self, route: Route, mx: list[tuple[int, str]], glue: dict[str, tuple[str, ...]],
                     source: str | None, self_host: str | None) -> Route:
        """RFC 5321 §5.1: lowest preference first, equal ones shuffled, none at or above our own."""
        reason = [Reason.of(RouteReason.LOWEST_FIRST)]
        if self_host is not None and any(host == self_host for _, host in mx):
            own = min(p for p, host in mx if host == self_host)
            mx = [(p, h) for p, h in mx if p < own]
            reason.append(Reason.of(RouteReason.OWN_PREFERENCE, own=own))
            if not mx:
                return _perm(route, "5.4.6", RouteReason.LOOP)
        by_pref: dict[int, list[str]] = {}
        for pref, host in mx:
            by_pref.setdefault(pref, []).append(host)
        for pref in sorted(by_pref):
            hosts = sorted(set(by_pref[pref]))
            if len(hosts) > 1:
                self.rng.shuffle(hosts)
                reason.append(Reason.of(RouteReason.EQUAL_RANDOM, preference=pref))
            for host in hosts:
                addresses = glue.get(host) or await self._addresses(host, source)
                route.targets.append(Target(pref, host, addresses))
        route.reason = tuple(reason)
        if not any(t.addresses for t in route.targets):
            return _temp(route, Reason.of(RouteReason.NO_ADDRESS, domain=route.domain))
        return route

    async def _implicit(self, route: Route, source: str | None) -> Route:
        addresses = await self._addresses(route.domain, source)
        if not addresses:
            return _perm(route, "5.1.2", RouteReason.NO_MAIL_SERVER)
        route.implicit = True
        route.targets.append(Target(0, route.domain, addresses))
        route.reason = (Reason.of(RouteReason.IMPLICIT_MX),)
        return route

    async def _addresses(self, host: str, source: str | None) -> tuple[str, ...]:
        try:
            response = await self.ask(host, "A", source=source)
        except (dns.exception.DNSException, OSError):
            return ()
        return response.addresses


@functools.lru_cache(maxsize=ANSWERS_KEPT)
def _question(name: str, rdtype: str) -> bytes:
    """A question's octets after its ID (each query then gets an ID of its own)."""
    query = dns.message.make_query(name, rdtype)
    query.flags &= ~dns.flags.RD       # we ask an authoritative server; no recursion wanted
    return query.to_wire()[2:]


@functools.lru_cache(maxsize=1024)
def _valid_domain(domain: str) -> bool:
    try:
        dns.name.from_text(domain)
    except (dns.exception.DNSException, ValueError):
        return False
    return True


def _perm(route: Route, status: str, code: RouteReason) -> Route:
    route.permanent, route.status, route.error = True, status, Reason.of(code, domain=route.domain)
    return route


def _temp(route: Route, error: Reason) -> Route:
    route.permanent, route.status, route.error = False, "4.4.3", error
    return route
