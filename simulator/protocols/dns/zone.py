"""Authoritative answers for the sandbox's DNS zones (sans-IO: no asyncio, no sockets).

``answer(query, zones)`` is the lookup; ``Authority`` holds the zones (built by ``build.py``) and
``handle_wire``/``respond`` are the entry points for bytes.

dnspython owns the wire format; this module owns the policy. Implemented:

* RFC 1034 §4.3.2 — the authoritative lookup: answer the RRset, follow CNAMEs while they stay
  inside our zones (at most ``MAX_CNAME_CHAIN`` hops, loops stop), AA set, RA clear, never recurse.
* RFC 2308 §2.1–2.2, §3 — negative answers: NXDOMAIN, and NODATA (NOERROR, empty answer) for a name
  without that type or an empty non-terminal; both carry the zone's SOA in the authority section with
  TTL = min(SOA TTL, SOA MINIMUM).
* RFC 1035 §3.3.9, §3.3.11 — additional section: A/AAAA of MX and NS (and SRV) targets, when they are
  in one of our zones.
* RFC 1035 §4.1.1 — opcodes other than QUERY and UPDATE get NOTIMP; RFC 1035 §4.1.2 / RFC 9619 — a
  query with zero or several questions gets FORMERR. A message with QR set is never answered (not
  even with an error: two servers answering each other's answers would loop).
* RFC 2136 §3.3.2 — UPDATE gets REFUSED, for every zone: the zones come from the scenario and the
  teacher, never from the network (what BIND answers for a zone without ``allow-update``).
* RFC 1035 §4.2.1 / RFC 6891 §6.2.5 — 512 octets over UDP without EDNS, otherwise the requester's
  payload size capped by ours; truncation sets TC (dnspython's ``prefer_truncation``), so clients
  retry over TCP (RFC 7766). RFC 6891 §6.1.3 — EDNS version > 0 gets BADVERS.
* RFC 7505 — a null MX (``MX 0 .``) is an ordinary record here and is served as such.

Faults (a lesson's, or the teacher's): ``Authority.set_fault(zone, ZoneFault.SERVFAIL)`` makes every
name in the zone answer SERVFAIL (RFC 1035 §4.1.1: "the name server was unable to process this
query", as a broken or unreachable primary does); ``ZoneFault.TIMEOUT`` makes the server drop those
queries without a word (``handle_wire`` returns a ``Reply`` with empty ``wire``: UDP sends nothing,
TCP closes the connection), as a dead or firewalled name server does.  ``Reply.fault`` says which.

Left out, on purpose:

* Names outside every zone get REFUSED (the sandbox never forwards; reverse zones, ``localhost`` and
  the real Internet are not ours). Classes other than IN get REFUSED too.
* ANY (RFC 8482 allows a minimal answer): we answer with every RRset of the name, no CNAME chasing,
  which is what a learner running ``dig ANY beta.test`` wants to see.
* Zone transfers (AXFR/IXFR) get REFUSED, over UDP and TCP, for our zones too (a learner reads a
  zone with ``dig ANY`` or in the scenario file); other meta types as QTYPE get FORMERR.
* TSIG: we hold no keys, so a signed query gets NOTAUTH (RFC 8945 §5.2.2), without a TSIG RR.
* No delegations (NS below the apex), no wildcards (RFC 4592), no DNSSEC: ``set_zone`` rejects the
  first two with ValueError rather than serving them wrongly.

Record texts are parsed with the root as origin: every name in rdata is absolute, with or without
its trailing dot (``"10 mx1.beta.test"`` means ``mx1.beta.test.``), just like ``Record.name``.
"""


from __future__ import annotations

import logging
import struct
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rrset
import dns.zone

from .build import Record, Zone, build_zone, origin_name, publish_zone

__all__ = [
    "Authority",
    "EDNS_PAYLOAD",
    "MAX_CNAME_CHAIN",
    "Record",
    "Reply",
    "TCP_MAX_SIZE",
    "ZoneFault",
    "answer",
    "handle_wire",
    "respond",
]

logger = logging.getLogger(__name__)

IN = dns.rdataclass.IN
EDNS_PAYLOAD = 1232  # what we advertise and our UDP cap by default (DNS flag day 2020)
TCP_MAX_SIZE = 65535  # RFC 1035 §4.2.2: the two-octet length prefix
MAX_CNAME_CHAIN = 8
SERIAL_MAX = 0xFFFFFFFF

_TARGET_TYPES = {dns.rdatatype.MX, dns.rdatatype.NS, dns.rdatatype.SRV}
_ADDRESS_TYPES = (dns.rdatatype.A, dns.rdatatype.AAAA)
_TRANSFER_TYPES = {dns.rdatatype.AXFR, dns.rdatatype.IXFR}


class ZoneFault(StrEnum):
    """What a broken zone does (see the module docstring)."""

    SERVFAIL = "servfail"
    TIMEOUT = "timeout"


@dataclass(frozen=True, slots=True)
class Reply:
    """The outcome of one incoming message, for adapters that need more than the bytes."""

    wire: bytes  # what to send; b"" only for a query dropped by ``ZoneFault.TIMEOUT``
    response: dns.message.Message  # the response as built, before any truncation
    query: dns.message.Message | None  # None: the message could not be parsed (FORMERR)
    truncated: bool  # TC is set in ``wire``
    fault: ZoneFault | None = None  # the zone fault that made this answer (or the silence)



class Authority:
    """The zones this server is authoritative for.

    Writers (``set_zone``/``remove_zone``) serialise on a lock and publish a new dict of immutable
    zones in one assignment; ``answer`` reads that dict once per query, so it sees either the old or
    the new zone, never half of one.
    """

    def __init__(self) -> None:
        self._zones: Mapping[dns.name.Name, Zone] = {}
        self._serials: dict[dns.name.Name, int] = {}  # kept across remove_zone: serials only grow
        self._faults: Mapping[dns.name.Name, ZoneFault] = {}
        self._lock = threading.Lock()
        # Goes up after every change of the zones or their faults: an answer worked out at an
        # earlier version may be stale (``DnsServer`` keeps answers only for the version they had).
        self.version = 0

    # -- zone editing ---------------------------------------------------------------------------

    def set_zone(self, origin: str, records: Iterable[Record]) -> None:
        """Create or replace a whole zone.

        A missing apex SOA or NS is added (SOA ``ns.<origin>. hostmaster.<origin>.``, NS
        ``ns.<origin>.``, short TTLs); no address is invented for ``ns.<origin>``. The SOA serial
        grows on every replace: a caller's serial is kept only if it is larger than the last one.
        Raises ValueError for a bad record (see the module docstring for what is refused).
        """
        apex = origin_name(origin)
        built = build_zone(apex, list(records))
        with self._lock:
            serial = self._next_serial(apex, built)
            published = publish_zone(apex, built, serial)
            self._serials[apex] = serial
            self._zones = {**self._zones, apex: published}
            self.version += 1
        logger.debug("zone %s set (serial %d, %d names)", apex, serial, len(published.names))

    def remove_zone(self, origin: str) -> None:
        """Stop serving a zone (its names become REFUSED). Removing an unknown zone is a no-op."""
        apex = origin_name(origin)
        with self._lock:
            self._zones = {name: zone for name, zone in self._zones.items() if name != apex}
            self.version += 1

    def set_fault(self, origin: str, fault: ZoneFault | None) -> None:
        """Break a zone (SERVFAIL, or no answer at all) or mend it (``None``)."""
        apex = origin_name(origin)
        with self._lock:
            faults = {name: f for name, f in self._faults.items() if name != apex}
            if fault is not None:
                faults[apex] = ZoneFault(fault)
            self._faults = faults
            self.version += 1

    def fault_for(self, query: dns.message.Message) -> ZoneFault | None:
        """The fault of the zone that holds the query's name: its closest enclosing zone, so a fault
        on ``beta.test`` leaves a zone of its own below it (``sub.beta.test``) answering."""
        faults = self._faults
        if not faults or len(query.question) != 1:
            return None
        zone = _find_zone(self._zones, query.question[0].name)
        return faults.get(zone.origin) if zone is not None else None

    def zones(self) -> list[str]:
        """The served origins, sorted, without the trailing dot."""
        return sorted(name.to_text(omit_final_dot=True) for name in self._zones)

    def serial(self, origin: str) -> int | None:
        """The current SOA serial of a served zone, or None."""
        zone = self._zones.get(origin_name(origin))
        return None if zone is None else zone.soa[0].serial

    def _next_serial(self, apex: dns.name.Name, zone: dns.zone.Zone) -> int:
        previous = self._serials.get(apex)
        soa = zone.get_rdataset(apex, dns.rdatatype.SOA)
        wanted = soa[0].serial if soa is not None else 1
        if previous is None or wanted > previous:
            return wanted
        return previous + 1 if previous < SERIAL_MAX else 1

    # -- answering ------------------------------------------------------------------------------

    def answer(self, query: dns.message.Message) -> dns.message.Message:
        """Build the full (untruncated) response to a parsed query, from one snapshot of the zones.

        Raises dns.exception.FormError if ``query`` is itself a response (QR set): ``respond``
        drops those before they get here.
        """
        return answer(query, self._zones)


def answer(query: dns.message.Message, zones: Mapping[dns.name.Name, Zone]) -> dns.message.Message:
    """The response to ``query`` from ``zones`` (RFC 1034 §4.3.2): refusals, lookup, additional."""
    response = dns.message.make_response(query, our_payload=EDNS_PAYLOAD)
    rcode = _precheck(query)
    if rcode is not None:
        response.set_rcode(rcode)
        return response
    question = query.question[0]
    zone = _find_zone(zones, question.name)
    if zone is None:
        # Not ours: refuse, never recurse or forward (DESIGN.md sandbox rule).
        response.set_rcode(dns.rcode.REFUSED)
        return response
    response.flags |= dns.flags.AA  # RFC 1035 §4.1.1: we are the authority for this name
    _resolve(zones, zone, question.name, question.rdtype, response)
    _add_additional(zones, response)
    return response


# -- wire entry points --------------------------------------------------------------------------


def respond(authority: Authority, wire: bytes, *, max_udp: int | None) -> bytes | None:
    """Parse ``wire``, answer, render. ``max_udp=None`` means TCP (limit 65535 octets).

    A malformed message whose header is readable gets FORMERR; otherwise (shorter than a header,
    or a response) nothing is sent and None is returned.
    """
    reply = handle_wire(authority, wire, max_udp=max_udp)
    return None if reply is None else reply.wire


def handle_wire(authority: Authority, wire: bytes, *, max_udp: int | None) -> Reply | None:
    """``respond`` with the parsed query and built response kept, for adapters that trace them."""
    if len(wire) < 12 or wire[2] & 0x80:
        # Shorter than a header, or QR set: RFC 1035 §4.1.1, a response is never answered
        # (answering one would let two servers loop).
        return None
    query = _parse(wire)
    if query is None:
        return _header_reply(wire, dns.rcode.FORMERR, None)  # RFC 1035 §4.1.1 format error
    fault = authority.fault_for(query)
    if fault is not None:
        return _fault_reply(query, fault)
    try:
        response = authority.answer(query)
        out = response.to_wire(max_size=_size_limit(query, max_udp), prefer_truncation=True)
    except Exception:
        # A bug, not a protocol error: log it and tell the client (RFC 1035 §4.1.1 server failure).
        logger.exception("answering %s failed", query.question)
        return _header_reply(wire, dns.rcode.SERVFAIL, query)
    return Reply(out, response, query, bool(out[2] & 0x02))


def _fault_reply(query: dns.message.Message, fault: ZoneFault) -> Reply:
    """A broken zone's answer: SERVFAIL with the question and no AA, or nothing (TIMEOUT)."""
    response = dns.message.make_response(query, our_payload=EDNS_PAYLOAD)
    response.set_rcode(dns.rcode.SERVFAIL)
    if fault is ZoneFault.TIMEOUT:
        return Reply(b"", response, query, False, fault)
    return Reply(response.to_wire(), response, query, False, fault)


def _parse(wire: bytes) -> dns.message.Message | None:
    try:
        # keyring=False: parse a TSIG RR without validating it; answer() refuses signed queries.
        return dns.message.from_wire(wire, keyring=False)
    except Exception as exc:  # anything the parser raises on hostile bytes means "malformed"
        logger.debug("malformed DNS message (%s: %s)", type(exc).__name__, exc)
        return None


def _header_reply(wire: bytes, rcode: dns.rcode.Rcode, query: dns.message.Message | None) -> Reply:
    """A header-only response built from the raw header: same ID and opcode, RD copied."""
    ident, flags = struct.unpack("!HH", wire[:4])
    response = dns.message.Message(id=ident)
    response.flags = dns.flags.QR | (flags & dns.flags.RD)
    response.set_opcode(dns.opcode.from_flags(flags))
    response.set_rcode(rcode)
    return Reply(response.to_wire(), response, query, False)


def _size_limit(query: dns.message.Message, max_udp: int | None) -> int:
    if max_udp is None:
        return TCP_MAX_SIZE  # RFC 7766 §8: TCP carries the whole answer
    if query.edns < 0:
        return 512  # RFC 1035 §4.2.1
    return max(512, min(query.payload, max_udp))  # RFC 6891 §6.2.5: below 512 counts as 512



# -- the lookup ---------------------------------------------------------------------------------


def _precheck(query: dns.message.Message) -> dns.rcode.Rcode | None:
    """Header-level refusals, in the order a reader would check them."""
    if query.opcode() == dns.opcode.UPDATE:
        return dns.rcode.REFUSED  # RFC 2136 §3.3.2: no one may update our zones over the wire
    if query.opcode() != dns.opcode.QUERY:
        return dns.rcode.NOTIMP  # RFC 1035 §4.1.1: IQUERY, STATUS, NOTIFY ...
    if query.edns > 0:
        return dns.rcode.BADVERS  # RFC 6891 §6.1.3
    if query.had_tsig:
        return dns.rcode.NOTAUTH  # RFC 8945 §5.2.2: we hold no keys
    if len(query.question) != 1:
        return dns.rcode.FORMERR  # RFC 9619: QDCOUNT must be 1
    question = query.question[0]
    if question.rdtype in _TRANSFER_TYPES or question.rdclass != IN:
        return dns.rcode.REFUSED  # no zone transfers; only class IN is served
    if dns.rdatatype.is_metatype(question.rdtype) and question.rdtype != dns.rdatatype.ANY:
        return dns.rcode.FORMERR  # OPT, TSIG, MAILA... are not question types
    return None


def _find_zone(zones: Mapping[dns.name.Name, Zone], name: dns.name.Name) -> Zone | None:
    """The closest enclosing zone (longest origin match), or None."""
    while True:
        zone = zones.get(name)
        if zone is not None:
            return zone
        if name == dns.name.root or not name.labels:
            return None
        name = name.parent()


def _resolve(
    zones: Mapping[dns.name.Name, Zone],
    zone: Zone,
    qname: dns.name.Name,
    qtype: dns.rdatatype.RdataType,
    response: dns.message.Message,
) -> None:
    """RFC 1034 §4.3.2 steps 3a–3c, restarted at each CNAME target that is in one of our zones."""
    name = qname
    seen: set[dns.name.Name] = set()
    for _ in range(MAX_CNAME_CHAIN + 1):
        seen.add(name)
        target = _answer_name(zone, name, qtype, response)
        if target is None:
            return
        next_zone = _find_zone(zones, target)
        if next_zone is None or target in seen:
            return  # outside our zones (the client follows it) or a loop: stop with the chain so far
        zone, name = next_zone, target


def _answer_name(
    zone: Zone, name: dns.name.Name, qtype: dns.rdatatype.RdataType, response: dns.message.Message
) -> dns.name.Name | None:
    """Answer ``name`` from one zone; the CNAME target to follow next, or None when done."""
    node = zone.zone.get_node(name)
    if node is None:
        if name not in zone.names:
            response.set_rcode(dns.rcode.NXDOMAIN)  # RFC 2308 §2.1 (and RFC 6604 for chains)
        _add_negative_soa(zone, response)  # an empty non-terminal is NODATA, RFC 2308 §2.2
        return None
    if qtype == dns.rdatatype.ANY:
        response.answer.extend(_rrset(name, rdataset) for rdataset in node)
        return None
    rdataset = node.get_rdataset(IN, qtype)
    if rdataset is not None:
        response.answer.append(_rrset(name, rdataset))
        return None
    cname = node.get_rdataset(IN, dns.rdatatype.CNAME)
    if cname is None:
        _add_negative_soa(zone, response)  # NODATA, RFC 2308 §2.2
        return None
    response.answer.append(_rrset(name, cname))
    return cname[0].target


def _add_negative_soa(zone: Zone, response: dns.message.Message) -> None:
    soa = zone.soa
    ttl = min(soa.ttl, soa[0].minimum)  # RFC 2308 §3
    response.authority.append(dns.rrset.from_rdata_list(zone.origin, ttl, list(soa)))


def _add_additional(zones: Mapping[dns.name.Name, Zone], response: dns.message.Message) -> None:
    """A/AAAA for MX, NS and SRV targets that live in our zones (RFC 1035 §3.3.9, §3.3.11)."""
    present = {(rrset.name, rrset.rdtype) for rrset in response.answer}
    for rrset in [*response.answer, *response.authority]:
        if rrset.rdtype not in _TARGET_TYPES:
            continue
        for rdata in rrset:
            target = rdata.exchange if rrset.rdtype == dns.rdatatype.MX else rdata.target
            for address in _addresses(zones, target):
                key = (address.name, address.rdtype)
                if key not in present:
                    present.add(key)
                    response.additional.append(address)


def _addresses(zones: Mapping[dns.name.Name, Zone], target: dns.name.Name) -> list[dns.rrset.RRset]:
    if target == dns.name.root:
        return []  # null MX, RFC 7505: no host to look up
    zone = _find_zone(zones, target)
    node = None if zone is None else zone.zone.get_node(target)
    if node is None:
        return []
    found = (node.get_rdataset(IN, rdtype) for rdtype in _ADDRESS_TYPES)
    return [_rrset(target, rdataset) for rdataset in found if rdataset is not None]


def _rrset(name: dns.name.Name, rdataset: dns.rdataset.Rdataset) -> dns.rrset.RRset:
    return dns.rrset.from_rdata_list(name, rdataset.ttl, list(rdataset))

