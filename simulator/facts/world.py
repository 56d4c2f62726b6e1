"""Facts of the world itself: the teacher changes a host, an MX table or a fault; the gate holds a
hop; a fault bites.

- :class:`FaultChanged` (``world.fault``): a fault was set or cleared (drawn on its node: the host
  ``mta:<host>``, the ``dns`` server for a zone, ``mailbox:<address>``);
- :class:`FaultBit` (``fault.bite``): a fault changed an answer: a server replied otherwise than it
  would have (a greylisting 450, a 552 for size, a SERVFAIL), answered late, or not at all.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

from ..scenario.model import FaultKind
from .base import Fact, Status, Wire

__all__ = ["FaultBit", "FaultChanged", "FaultKind", "HopStep", "HostStateChanged", "MxTableChanged", "NextHop",
           "UserChanged"]


@dataclass(frozen=True, slots=True, kw_only=True)
class HostStateChanged(Fact):
    kind: ClassVar[str] = "world.host"
    protocol: ClassVar[str] = "WORLD"
    what: str = "host"          # the page tells the two world changes apart by this
    host: str
    up: bool
    status: Status = Status.INFO


@dataclass(frozen=True, slots=True, kw_only=True)
class UserChanged(Fact):
    """A user joined the world while it runs (a student of the class) or left it."""
    kind: ClassVar[str] = "world.user"
    protocol: ClassVar[str] = "WORLD"
    what: str = "user"
    address: str
    name: str                    # the display name the student gave
    joined: bool
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
    CATCH = "catch"              # a host is about to hand a message to the outside world (host, rcpt)
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


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultChanged(Fact):
    """A fault set (``on``) or cleared; ``spent``: a ``reply`` fault gave its last of ``times``
    answers and went away by itself.  Only the parameters of its kind mean anything."""
    kind: ClassVar[str] = "world.fault"
    protocol: ClassVar[str] = "WORLD"
    what: str = "fault"
    fault: FaultKind
    target: str                 # the host, zone or mailbox address it is set on
    node: str                   # node id the fault is drawn on
    on: bool
    spent: bool = False
    delay: float = 0.0          # greylist: seconds before a retry is accepted
    greeting: float = 0.0       # slow: seconds before the 220 greeting
    end_of_data: float = 0.0    # slow: seconds before the reply to the end of DATA (``data``)
    command: str = ""           # reply: "RCPT", "MAIL", "CONNECT", "DOT" ...
    code: int = 0               # reply: the reply code
    text: str = ""              # reply: the reply text, e.g. "4.3.0 Try again later"
    times: int = 0              # reply: how many times (0 = always)
    size: int = 0               # size_limit: the largest message in bytes
    permanent: bool = False     # mailbox_full: 552 5.2.2 rather than 452 4.2.2
    status: Status = Status.INFO


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultBit(Fact):
    """A fault changed what a server did.  ``src`` answered (the server, the DNS, the mailbox),
    ``dst`` got the answer; ``node`` is where the fault is drawn."""
    kind: ClassVar[str] = "fault.bite"
    protocol: ClassVar[str] = "FAULT"
    fault: FaultKind
    target: str                 # the host, zone or mailbox address the fault is set on
    node: str                   # node id the fault is drawn on
    command: str                # what was answered: "RCPT", "CONNECT", "EHLO", "DOT", "STARTTLS", "beta.test MX"
    reply: str = ""             # the answer given: "450 4.7.1 Greylisted", "SERVFAIL"; "" for none at all
    delay: float = 0.0          # slow: seconds the answer was held back
    client: str = ""            # who was answered: a host name, an address, or ""
    wire: Wire | None = None    # the connection (or DNS question) the fault changed the answer on

    @property
    def status(self) -> Status:
        if self.reply[:1] == "4":
            return Status.DEFERRED
        if self.reply[:1] == "5":
            return Status.FAILED
        if self.fault in (FaultKind.SLOW, FaultKind.NO_TLS):
            return Status.INFO
        return Status.DEFERRED
