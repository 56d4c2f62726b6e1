"""Facts of the outside world: mail that would leave the sandbox, and where it ends instead.

Nothing ever leaves the machine.  Mail for a domain outside the sandbox either bounces (the world's
``outside: bounce``: the sending host's MX lookup is refused, RouteReason.OUTSIDE) or is caught
(``outside: catch``).  And a bounce that cannot be delivered is not lost either: it is kept.

- :class:`Caught` (``outside.catch``): a sandbox host hands a message to the outside world
  (``internet``), which keeps it whole in its one mailbox -- mail for the outside world in ``catch``
  mode, or (``bounce``) a bounce nobody could take (a real MTA gives such a "double bounce" to its
  postmaster).  The delivery into the mailbox itself follows as a
  :class:`~simulator.facts.MdaDelivered` from ``internet`` to that mailbox.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .base import Fact, Status

__all__ = ["Caught"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Caught(Fact):
    kind: ClassVar[str] = "outside.catch"
    protocol: ClassVar[str] = "SMTP"
    host: str                       # the sandbox host that hands the message over
    queue_id: str                   # its queue entry
    rcpts: tuple[str, ...] = ()     # the envelope recipients outside the sandbox (or the bounce's)
    mailbox: str = ""               # where the outside world keeps it ("outside@mailflow.invalid")
    bounce: bool = False            # a bounce nobody could take, kept (not mail for the outside world)
    size: int = 0                   # octets kept
    status: Status = Status.OK
