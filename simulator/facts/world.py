"""Facts of the world itself: the teacher changes a host or an MX table; the gate holds a hop."""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

from .base import Fact, Status

__all__ = ["HopStep", "HostStateChanged", "MxTableChanged", "NextHop"]


@dataclass(frozen=True, slots=True, kw_only=True)
class HostStateChanged(Fact):
    kind: ClassVar[str] = "world.host"
    protocol: ClassVar[str] = "WORLD"
    what: str = "host"          # the page tells the two world changes apart by this
    host: str
    up: bool
    status: Status = Status.INFO


@dataclass(frozen=True, slots=True, kw_only=True)
class MxTableChanged(Fact):
    kind: ClassVar[str] = "world.mx"
    protocol: ClassVar[str] = "WORLD"
    what: str = "mx"
    domain: str
    mx: tuple[tuple[int, str], ...]       # (preference, host); () = no MX records; ((0, "."),) = null MX
    status: Status = Status.INFO


class HopStep(StrEnum):
    """The hops the gate can hold, before they happen."""
    SUBMIT = "submit"            # an MUA's message is about to be accepted by its MSA (host, user)
    DNS_QUERY = "dns_query"      # an MTA is about to ask DNS for a domain's MX (host, domain)
    CONNECT = "connect"          # an MTA is about to connect to the next hop (host, target, address)
    DELIVER = "deliver"          # an MDA is about to write into a mailbox (host, rcpt)
    REPLY = "reply"              # line mode: a server is about to send a reply (host, reply)


@dataclass(frozen=True, slots=True, kw_only=True)
class NextHop(Fact):
    """What the step gate holds: the hop that happens when the teacher releases it.

    Not an event of its own: the gate's state carries it, worded by the narrator.
    """
    kind: ClassVar[str] = "gate.waiting"
    protocol: ClassVar[str] = "GATE"
    step: HopStep
    host: str = ""             # "" for the front door (it has no host of its own)
    domain: str = ""
    user: str = ""
    target: str = ""
    address: str = ""
    rcpt: str = ""
    reply: str = ""
    status: Status = Status.INFO
