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
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

import dns.asyncquery
import dns.flags
import dns.exception
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype

from .facts import Reason, RouteReason


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


class Resolver:
    def __init__(self, *, server: str, port: int, timeout: float = 2.0,
                 rng: random.Random | None = None) -> None:
        self.server, self.port, self.timeout = server, port, timeout
        self.rng = rng or random.Random()

    async def query(self, name: str, rdtype: str, *, source: str | None) -> dns.message.Message:
        q = dns.message.make_query(name, rdtype)
        q.flags &= ~dns.flags.RD       # we ask an authoritative server; no recursion wanted
        response, _ = await dns.asyncquery.udp_with_fallback(
            q, self.server, timeout=self.timeout, port=self.port, source=source)
        return response

    async def route(self, domain: str, *, source: str | None, self_host: str | None = None) -> Route:
        route = Route(domain)
        try:
            dns.name.from_text(domain)
        except (dns.exception.DNSException, ValueError):
            return _perm(route, "5.1.3", RouteReason.INVALID_DOMAIN)
        try:
            response = await self.query(domain, "MX", source=source)
        except (dns.exception.DNSException, OSError) as exc:
            return _temp(route, Reason.of(RouteReason.DNS_NO_ANSWER, error=type(exc).__name__))
        route.rcode = dns.rcode.to_text(response.rcode())
        route.answers = [line for rrset in response.answer for line in rrset.to_text().splitlines()]
        if response.rcode() == dns.rcode.REFUSED:
            return _perm(route, "5.1.2", RouteReason.OUTSIDE)
        if response.rcode() == dns.rcode.NXDOMAIN:
            return _perm(route, "5.1.2", RouteReason.NXDOMAIN)
        if response.rcode() != dns.rcode.NOERROR:
            return _temp(route, Reason.of(RouteReason.DNS_RCODE, rcode=route.rcode))
        mx = [(rd.preference, rd.exchange.to_text(omit_final_dot=True).lower())
              for rrset in response.answer if rrset.rdtype == dns.rdatatype.MX for rd in rrset]
        if mx:
            route.answers = [f"MX {pref} {host or '.'}" for pref, host in sorted(mx)]
        glue = {rrset.name.to_text(omit_final_dot=True).lower(): tuple(rd.address for rd in rrset)
                for rrset in response.additional if rrset.rdtype == dns.rdatatype.A}
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
            response = await self.query(host, "A", source=source)
        except (dns.exception.DNSException, OSError):
            return ()
        return tuple(rd.address for rrset in response.answer
                     if rrset.rdtype == dns.rdatatype.A for rd in rrset)


def _perm(route: Route, status: str, code: RouteReason) -> Route:
    route.permanent, route.status, route.error = True, status, Reason.of(code, domain=route.domain)
    return route


def _temp(route: Route, error: Reason) -> Route:
    route.permanent, route.status, route.error = False, "4.4.3", error
    return route
