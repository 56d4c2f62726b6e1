"""Building a zone of the sandbox DNS from ``Record`` rows (sans-IO; dnspython holds the data).

What a zone may hold, and what is refused with ValueError rather than served wrongly:

* RFC 1035 §5.2 — one SOA, at the apex; a missing apex SOA or NS is added with short TTLs.
* RFC 1034 §3.6.2, RFC 2181 §10.1 — a CNAME is alone at its name, never at the apex.
* No delegations (NS below the apex), no wildcards (RFC 4592), no meta types as data; TTLs within
  RFC 2181 §8.
* RFC 2181 §10.3 — an MX or NS target that is a CNAME is served, with a warning in the log.
* RFC 2308 §2.2 — the set of names of a zone includes its empty non-terminals (for NODATA).

Record texts are parsed with the root as origin: every name in rdata is absolute, with or without
its trailing dot (``"10 mx1.beta.test"`` means ``mx1.beta.test.``), just like ``Record.name``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.zone

__all__ = ["DEFAULT_SOA_TIMERS", "DEFAULT_TTL", "Record", "Zone", "build_zone", "origin_name", "publish_zone"]

logger = logging.getLogger(__name__)

IN = dns.rdataclass.IN
DEFAULT_TTL = 5  # seconds: zone edits show at once
DEFAULT_SOA_TIMERS = (60, 30, 3600, 5)  # refresh, retry, expire, minimum (negative-cache TTL)


@dataclass(frozen=True, slots=True)
class Record:
    """One resource record as data; ``text`` is the rdata in zone-file syntax."""

    name: str
    rdtype: str
    text: str
    ttl: int = DEFAULT_TTL


@dataclass(frozen=True, slots=True)
class Zone:
    """A published zone; never mutated after ``set_zone`` builds it."""

    origin: dns.name.Name
    zone: dns.zone.Zone
    names: frozenset[dns.name.Name]  # owner names and empty non-terminals (RFC 2308 §2.2)

    @property
    def soa(self) -> dns.rdataset.Rdataset:
        rdataset = self.zone.get_rdataset(self.origin, dns.rdatatype.SOA)
        assert rdataset is not None  # set_zone guarantees it
        return rdataset



# -- building a zone ----------------------------------------------------------------------------


def origin_name(origin: str) -> dns.name.Name:
    name = _absolute(origin, "origin")
    if name == dns.name.root:
        raise ValueError("the root zone cannot be served: everything outside the sandbox is REFUSED")
    return name


def _absolute(text: str, what: str) -> dns.name.Name:
    try:
        return dns.name.from_text(text, origin=dns.name.root)
    except dns.exception.DNSException as exc:
        raise ValueError(f"bad {what} {text!r}: {exc}") from exc


def _parse_record(apex: dns.name.Name, record: Record) -> tuple[dns.name.Name, dns.rdata.Rdata, int]:
    owner = _absolute(record.name, "owner name")
    if not owner.is_subdomain(apex):
        raise ValueError(f"{record}: {owner} is outside the zone {apex}")
    if any(label == b"*" for label in owner.labels):
        raise ValueError(f"{record}: wildcard owner names are not supported")
    if not 0 <= record.ttl <= 0x7FFFFFFF:
        raise ValueError(f"{record}: TTL out of range (RFC 2181 §8)")
    try:
        rdtype = dns.rdatatype.from_text(record.rdtype)
        if dns.rdatatype.is_metatype(rdtype):
            raise ValueError(f"{record.rdtype} is a meta type, not data")
        rdata = dns.rdata.from_text(IN, rdtype, record.text, origin=dns.name.root, relativize=False)
    except (dns.exception.DNSException, ValueError) as exc:
        raise ValueError(f"bad record {record}: {exc}") from exc
    return owner, rdata, record.ttl


def build_zone(apex: dns.name.Name, records: list[Record]) -> dns.zone.Zone:
    owners: dict[dns.name.Name, list[tuple[dns.rdata.Rdata, int]]] = {}
    for record in records:
        owner, rdata, ttl = _parse_record(apex, record)
        _check_placement(apex, owner, rdata, record)
        owners.setdefault(owner, []).append((rdata, ttl))
    zone = dns.zone.Zone(apex, relativize=False)
    for owner, rdatas in owners.items():
        # Checked before adding: dnspython's Node would silently let a CNAME evict other data.
        _check_owner(apex, owner, [rdata for rdata, _ in rdatas])
        node = zone.find_node(owner, create=True)
        for rdata, ttl in rdatas:
            node.find_rdataset(IN, rdata.rdtype, create=True).add(rdata, ttl)
    _add_apex_defaults(zone, apex)
    _warn_cname_targets(zone)
    return zone


def _check_placement(
    apex: dns.name.Name, owner: dns.name.Name, rdata: dns.rdata.Rdata, record: Record
) -> None:
    if rdata.rdtype == dns.rdatatype.SOA and owner != apex:
        raise ValueError(f"{record}: SOA belongs at the apex {apex} (RFC 1035 §5.2)")
    if rdata.rdtype == dns.rdatatype.NS and owner != apex:
        raise ValueError(f"{record}: delegations (NS below the apex) are not supported")
    if rdata.rdtype == dns.rdatatype.CNAME and owner == apex:
        raise ValueError(f"{record}: no CNAME at the apex, beside SOA and NS (RFC 1034 §3.6.2)")


def _check_owner(apex: dns.name.Name, owner: dns.name.Name, rdatas: list[dns.rdata.Rdata]) -> None:
    kinds = [rdata.rdtype for rdata in rdatas]
    if dns.rdatatype.CNAME in kinds and len(set(rdatas)) > 1:
        # RFC 1034 §3.6.2, RFC 2181 §10.1
        raise ValueError(f"{owner}: a CNAME must be the only record at its name")
    if len({rdata for rdata in rdatas if rdata.rdtype == dns.rdatatype.SOA}) > 1:
        raise ValueError(f"{apex}: a zone has exactly one SOA (RFC 1035 §5.2)")


def _add_apex_defaults(zone: dns.zone.Zone, apex: dns.name.Name) -> None:
    node = zone.find_node(apex, create=True)
    host = dns.name.Name((b"ns", *apex.labels))
    if node.get_rdataset(IN, dns.rdatatype.SOA) is None:
        mailbox = dns.name.Name((b"hostmaster", *apex.labels))
        refresh, retry, expire, minimum = DEFAULT_SOA_TIMERS
        text = f"{host} {mailbox} 1 {refresh} {retry} {expire} {minimum}"
        soa = dns.rdata.from_text(IN, dns.rdatatype.SOA, text)
        node.find_rdataset(IN, dns.rdatatype.SOA, create=True).add(soa, DEFAULT_TTL)
    if node.get_rdataset(IN, dns.rdatatype.NS) is None:
        ns = dns.rdata.from_text(IN, dns.rdatatype.NS, host.to_text())
        node.find_rdataset(IN, dns.rdatatype.NS, create=True).add(ns, DEFAULT_TTL)
    zone.check_origin()


def _warn_cname_targets(zone: dns.zone.Zone) -> None:
    """RFC 2181 §10.3: MX and NS targets must not be aliases. Served anyway; the editor is told."""
    for name, node in zone.items():
        for rdtype in (dns.rdatatype.MX, dns.rdatatype.NS):
            for rdata in node.get_rdataset(IN, rdtype) or ():
                target = rdata.exchange if rdtype == dns.rdatatype.MX else rdata.target
                if target.is_subdomain(zone.origin) and zone.get_rdataset(target, dns.rdatatype.CNAME):
                    logger.warning(
                        "%s %s points at %s, which is a CNAME (RFC 2181 §10.3)", name, rdtype.name, target
                    )


def publish_zone(apex: dns.name.Name, zone: dns.zone.Zone, serial: int) -> Zone:
    soa_rdataset = zone.get_rdataset(apex, dns.rdatatype.SOA)
    soa = soa_rdataset[0]
    if soa.serial != serial:
        replacement = dns.rdataset.from_rdata_list(soa_rdataset.ttl, [soa.replace(serial=serial)])
        zone.replace_rdataset(apex, replacement)
    names: set[dns.name.Name] = set()
    for name in zone.keys():
        while name not in names and name.is_subdomain(apex):
            names.add(name)  # the owner and every ancestor up to the apex (empty non-terminals)
            if name == apex:
                break
            name = name.parent()
    return Zone(apex, zone, frozenset(names))
