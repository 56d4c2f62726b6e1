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
    error: str = ""
    reason: str = ""               # why this order (for the learner)
    answers: list[str] = field(default_factory=list)   # what DNS said, as text lines
    rcode: str = "NOERROR"
    implicit: bool = False

    @property
    def ok(self) -> bool:
        return not self.error


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
            return _perm(route, "5.1.3", f"{domain!r} is not a valid domain name")
        try:
            response = await self.query(domain, "MX", source=source)
        except (dns.exception.DNSException, OSError) as exc:
            return _temp(route, f"the DNS server did not answer ({type(exc).__name__})")
        route.rcode = dns.rcode.to_text(response.rcode())
        route.answers = [line for rrset in response.answer for line in rrset.to_text().splitlines()]
        if response.rcode() == dns.rcode.REFUSED:
            return _perm(route, "5.1.2", f"{domain} is outside the sandbox: the sandbox DNS refuses to "
                         "answer for it, and no mail ever leaves the sandbox")
        if response.rcode() == dns.rcode.NXDOMAIN:
            return _perm(route, "5.1.2", f"the domain {domain} does not exist (NXDOMAIN)")
        if response.rcode() != dns.rcode.NOERROR:
            return _temp(route, f"the DNS server answered {route.rcode}")
        mx = [(rd.preference, rd.exchange.to_text(omit_final_dot=True).lower())
              for rrset in response.answer if rrset.rdtype == dns.rdatatype.MX for rd in rrset]
        if mx:
            route.answers = [f"MX {pref} {host or '.'}" for pref, host in sorted(mx)]
        glue = {rrset.name.to_text(omit_final_dot=True).lower(): tuple(rd.address for rd in rrset)
                for rrset in response.additional if rrset.rdtype == dns.rdatatype.A}
        if not mx:
            return await self._implicit(route, source)
        if any(host in ("", ".") for _, host in mx):
            return _perm(route, "5.1.10", f"{domain} publishes a null MX (RFC 7505): it accepts no mail")
        reason = ["lowest preference first"]
        if self_host is not None and any(host == self_host for _, host in mx):
            own = min(p for p, host in mx if host == self_host)
            mx = [(p, h) for p, h in mx if p < own]
            reason.append(f"this host is itself MX {own}, so only better (lower) preferences count")
            if not mx:
                return _perm(route, "5.4.6", f"mail for {domain} loops back to this host: it is the "
                             "best MX but not the final destination")
        by_pref: dict[int, list[str]] = {}
        for pref, host in mx:
            by_pref.setdefault(pref, []).append(host)
        for pref in sorted(by_pref):
            hosts = sorted(set(by_pref[pref]))
            if len(hosts) > 1:
                self.rng.shuffle(hosts)
                reason.append(f"equal preference {pref}: random order (RFC 5321 §5.1)")
            for host in hosts:
                addresses = glue.get(host) or await self._addresses(host, source)
                route.targets.append(Target(pref, host, addresses))
        route.reason = "; ".join(reason)
        if not any(t.addresses for t in route.targets):
            return _temp(route, "no MX host has an address record")
        return route

    async def _implicit(self, route: Route, source: str | None) -> Route:
        addresses = await self._addresses(route.domain, source)
        if not addresses:
            return _perm(route, "5.1.2", f"{route.domain} has neither MX nor A records: no mail server")
        route.implicit = True
        route.targets.append(Target(0, route.domain, addresses))
        route.reason = "no MX records: the domain's own A record is the implicit MX (RFC 5321 §5.1)"
        return route

    async def _addresses(self, host: str, source: str | None) -> tuple[str, ...]:
        try:
            response = await self.query(host, "A", source=source)
        except (dns.exception.DNSException, OSError):
            return ()
        return tuple(rd.address for rrset in response.answer
                     if rrset.rdtype == dns.rdatatype.A for rd in rrset)


def _perm(route: Route, status: str, error: str) -> Route:
    route.permanent, route.status, route.error = True, status, error
    return route


def _temp(route: Route, error: str) -> Route:
    route.permanent, route.status, route.error = False, "4.4.3", error
    return route
