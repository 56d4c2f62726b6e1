"""The closed set of facts: one frozen record per kind of hop, data only (see :mod:`.base`).

One module per area; each lists its fact classes and reason enums in ``__all__``.
"""
from __future__ import annotations

from . import dns, imap, lesson, outside, pop3, queue, smtp, world
from .base import Credential, Fact, Line, Reason, Status, TlsMode, Wire
from .dns import *  # noqa: F401,F403
from .imap import *  # noqa: F401,F403
from .lesson import *  # noqa: F401,F403
from .outside import *  # noqa: F401,F403
from .pop3 import *  # noqa: F401,F403
from .queue import *  # noqa: F401,F403
from .smtp import *  # noqa: F401,F403
from .world import FaultBit, FaultChanged, FaultKind, HostStateChanged, MxTableChanged, NextHop, HopStep, UserChanged

AREAS = (smtp, dns, queue, pop3, imap, world, lesson, outside)


def all_facts() -> tuple[type[Fact], ...]:
    """Every concrete fact class (one with a ``kind``), in a stable order; kinds are unique."""
    found: dict[str, type[Fact]] = {}
    for module in AREAS:
        for name in getattr(module, "__all__", ()):
            value = getattr(module, name)
            if isinstance(value, type) and issubclass(value, Fact) and value.kind:
                if value.kind in found and found[value.kind] is not value:
                    raise TypeError(f"two fact classes of kind {value.kind!r}")
                found[value.kind] = value
    return tuple(found[k] for k in sorted(found))


def reason_enums() -> tuple[type, ...]:
    """Every enum of reason codes: a StrEnum whose name ends in ``Reason``, from any area module."""
    found = []
    for module in AREAS:
        for name in getattr(module, "__all__", ()):
            value = getattr(module, name)
            if isinstance(value, type) and name.endswith("Reason"):
                found.append(value)
    return tuple(found)


__all__ = ["Credential", "Fact", "Line", "Reason", "Status", "TlsMode", "Wire", "all_facts", "reason_enums", "FaultBit", "FaultChanged", "FaultKind", "HostStateChanged",
           "MxTableChanged", "NextHop", "HopStep", "UserChanged"]
