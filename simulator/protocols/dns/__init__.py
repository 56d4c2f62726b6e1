"""The sandbox's authoritative DNS: zones built from records, answers as data, UDP and TCP listeners.

* ``build``  — ``Record`` rows into a zone (what is refused, and why);
* ``zone``   — ``Authority`` (the served zones), ``answer(query, zones)`` and the wire entry points
  ``handle_wire``/``respond`` (sans-IO), and the zone faults (``ZoneFault``: SERVFAIL, no answer);
* ``server`` — ``DnsServer``, asyncio UDP + TCP on one loopback port, reporting each answered query
  as a ``QueryRecord``.
"""
from __future__ import annotations

from .build import Record
from .server import DnsServer, QueryRecord
from .zone import (EDNS_PAYLOAD, MAX_CNAME_CHAIN, TCP_MAX_SIZE, Authority, Reply, ZoneFault, answer, handle_wire,
                   respond)

__all__ = [
    "Authority",
    "DnsServer",
    "EDNS_PAYLOAD",
    "MAX_CNAME_CHAIN",
    "QueryRecord",
    "Record",
    "Reply",
    "TCP_MAX_SIZE",
    "ZoneFault",
    "answer",
    "handle_wire",
    "respond",
]
