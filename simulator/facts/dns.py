"""Facts of the dns hops (data only: no words; the narrator words them).

- :class:`MxLookup` (``dns.query``): a sandbox MTA asked the sandbox DNS for a domain's MX, got an
  answer, and chose the order to try the hosts in (RFC 5321 §5.1, RFC 7505) -- or failed, with a
  :class:`RouteReason` as ``error``.
- :class:`DnsServed` (``dns.served``): a question from a program that is no sandbox MTA (dig, a
  student's script); the MTAs report their own lookups as MxLookup.

``answers`` are the records as DNS text (protocol text).
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar, Mapping

from .base import Fact, Reason, Status, Wire

__all__ = ["RouteReason", "MxLookup", "DnsServed"]


class RouteReason(StrEnum):
    """Why mail for a domain goes where it goes, or nowhere (routing.py)."""
    # the order of the MX hosts
    LOWEST_FIRST = "route.lowest_first"              # lowest preference first
    OWN_PREFERENCE = "route.own_preference"          # own: this MTA is itself MX <own>; worse ones dropped
    EQUAL_RANDOM = "route.equal_random"              # preference: equal preferences in random order
    IMPLICIT_MX = "route.implicit_mx"                # no MX: the domain's A record is the implicit MX
    # no route (permanent unless said otherwise)
    INVALID_DOMAIN = "route.invalid_domain"          # domain: not a valid domain name (5.1.3)
    DNS_NO_ANSWER = "route.dns_no_answer"            # error: exception name; temporary (4.4.3)
    DNS_RCODE = "route.dns_rcode"                    # rcode: SERVFAIL and such; temporary (4.4.3)
    OUTSIDE = "route.outside"                        # domain: REFUSED, outside the sandbox (5.1.2)
    NXDOMAIN = "route.nxdomain"                      # domain: does not exist (5.1.2)
    NULL_MX = "route.null_mx"                        # domain: RFC 7505 null MX (5.1.10)
    LOOP = "route.loop"                              # domain: best MX but not final (5.4.6)
    NO_ADDRESS = "route.no_address"                  # domain: no MX host has an A record; temporary
    NO_MAIL_SERVER = "route.no_mail_server"          # domain: neither MX nor A (5.1.2)


@dataclass(frozen=True, slots=True, kw_only=True)
class MxLookup(Fact):
    kind: ClassVar[str] = "dns.query"
    protocol: ClassVar[str] = "DNS"
    host: str                                   # the asking MTA
    domain: str
    question: str                               # "beta.test MX"
    rcode: str = "NOERROR"
    answers: tuple[str, ...] = ()               # "MX 10 mx1.beta.test"
    implicit: bool = False
    order: tuple[Mapping[str, Any], ...] = ()   # {"preference", "host", "addresses"} in the order tried
    chosen: str = ""                            # the host tried first
    reason: tuple[Reason, ...] = ()             # why this order (RouteReason)
    error: Reason | None = None                 # why there is no route (RouteReason)
    permanent: bool = False                     # with error: the message bounces now
    wire: Wire | None = None                    # the MX question's datagram (or TCP connection)

    @property
    def status(self) -> Status:
        if self.error is None:
            return Status.OK
        return Status.FAILED if self.permanent else Status.DEFERRED


@dataclass(frozen=True, slots=True, kw_only=True)
class DnsServed(Fact):
    kind: ClassVar[str] = "dns.served"
    protocol: ClassVar[str] = "DNS"
    peer: str                                   # who asked
    question: str                               # "beta.test MX"
    rcode: str
    answers: tuple[str, ...] = ()
    transport: str = "udp"
    truncated: bool = False
    wire: Wire | None = None

    @property
    def status(self) -> Status:
        return Status.OK if self.rcode == "NOERROR" else Status.INFO
