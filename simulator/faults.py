"""The faults in force: what the teacher (or a lesson) made go wrong, and the memory faults keep.

Theory of operation.  A fault is data (:class:`~simulator.scenario.Fault`): a kind, a target (a
host, a zone or a mailbox) and the parameters of its kind.  :class:`FaultBook` holds the faults in
force, at most one per ``(kind, target)``: setting one again replaces it.  The parts of the world that
a fault changes ask the book small questions as they work, and behave as a real server configured so
would:

- the SMTP servers (:mod:`simulator.protocols.smtp`): ``reply_for`` (answer a chosen reply at a
  command, ``times`` times or always), ``slow``, ``size_limit``, ``requires_tls``, ``no_tls``,
  ``greylisted`` (the greylist's memory of triplets lives here), ``mailbox_full``;
- the queue runner (:mod:`simulator.delivery`): ``no_tls`` (the sending host keeps to plaintext),
  ``mailbox_full`` (the MDA), ``refuses`` (to tell a refused connection that a fault caused);
- the runtime (:mod:`simulator.runtime`): ``refuses`` (the MX listener closed), ``zone_fault``
  (the DNS answers SERVFAIL or nothing), ``hidden_hosts`` (A records left out of the zones).

Greylisting (after Evan Harris's 2003 paper, as postgrey does it): a triplet (client IP, envelope
sender, recipient) seen for the first time is refused with a temporary error and remembered; the
same triplet retried once ``delay`` seconds have passed is accepted.  A spammer's one-shot software
rarely retries; a real MTA always does.

Everything runs on the mail loop; a lock still guards the book, so the web thread may read
:meth:`FaultBook.faults` directly.  The clock is injected.
"""
from __future__ import annotations

import threading
import time
from dataclasses import replace
from typing import Any, Callable

from . import nodes
from .scenario.model import MAILBOX_FAULTS, ZONE_FAULTS, Fault, FaultKind

__all__ = ["FaultBook", "PARAMS", "check_kind", "fault_node", "fault_params", "normal_target", "reply_line"]

#: The parameters each kind of fault means (the fields of :class:`Fault` it uses).
PARAMS: dict[FaultKind, tuple[str, ...]] = {
    FaultKind.GREYLIST: ("delay",),
    FaultKind.SLOW: ("greeting", "data"),
    FaultKind.REPLY: ("command", "code", "text", "times"),
    FaultKind.SIZE_LIMIT: ("size",),
    FaultKind.REQUIRE_TLS: (),
    FaultKind.NO_TLS: (),
    FaultKind.REFUSE: (),
    FaultKind.MAILBOX_FULL: ("permanent",),
    FaultKind.SERVFAIL: (),
    FaultKind.DNS_TIMEOUT: (),
    FaultKind.NO_ADDRESS: (),
}


def normal_target(kind: FaultKind, target: str) -> str:
    """Targets compare case-insensitively and without a trailing dot."""
    text = str(target).strip().lower()
    return text if kind in MAILBOX_FAULTS else text.rstrip(".")


def fault_node(fault: Fault) -> str:
    """The graph node a fault is drawn on: its host, the DNS server, or the mailbox."""
    if fault.kind in ZONE_FAULTS:
        return nodes.DNS
    if fault.kind in MAILBOX_FAULTS:
        return nodes.mailbox(fault.target)
    return nodes.mta(fault.target)


def fault_params(fault: Fault) -> dict[str, Any]:
    return {name: getattr(fault, name) for name in PARAMS[fault.kind]}


class FaultBook:
    def __init__(self, clock: Callable[[], float] = time.time,
                 on_spent: Callable[[Fault], None] | None = None) -> None:
        self.clock = clock
        self.on_spent = on_spent             # a ``reply`` fault gave its last ``times`` answer
        self._lock = threading.Lock()
        self._faults: dict[tuple[FaultKind, str], Fault] = {}
        self._used: dict[tuple[FaultKind, str], int] = {}
        self._greylist: dict[str, dict[tuple[str, str, str], float]] = {}   # host -> triplet -> first seen

    # -- setting and clearing --------------------------------------------------------------------
    def set(self, fault: Fault) -> Fault | None:
        """Put ``fault`` in force (its target normalised); return the one it replaces, if any."""
        kind = FaultKind(fault.kind)
        fault = replace(fault, kind=kind, target=normal_target(kind, fault.target),
                        command=fault.command.upper())
        with self._lock:
            previous = self._faults.get((kind, fault.target))
            self._faults[(kind, fault.target)] = fault
            self._used.pop((kind, fault.target), None)
        return previous

    def clear(self, kind: FaultKind | str, target: str) -> Fault | None:
        """Remove a fault; return it (None if it was not in force).  Clearing greylisting forgets
        its triplets."""
        kind = FaultKind(kind)
        key = (kind, normal_target(kind, target))
        with self._lock:
            removed = self._faults.pop(key, None)
            self._used.pop(key, None)
            if kind is FaultKind.GREYLIST:
                self._greylist.pop(key[1], None)
        return removed

    def clear_all(self) -> list[Fault]:
        with self._lock:
            removed = list(self._faults.values())
            self._faults.clear()
            self._used.clear()
            self._greylist.clear()
        return removed

    # -- reading ---------------------------------------------------------------------------------
    def get(self, kind: FaultKind, target: str | None) -> Fault | None:
        # The fast path: no fault in force (nearly always), so no lock and no normalising.  Reading
        # a dict's length is atomic; a fault set at this very moment applies from the next question.
        if not target or not self._faults:
            return None
        with self._lock:
            return self._faults.get((kind, normal_target(kind, target)))

    def all(self) -> list[Fault]:
        with self._lock:
            return sorted(self._faults.values(), key=lambda f: (f.kind.value, f.target))

    def faults(self) -> list[dict]:
        """``[{kind, target, node, ...params}]``: the faults in force, for the page and the API."""
        return [{"kind": f.kind.value, "target": f.target, "node": fault_node(f), **fault_params(f)}
                for f in self.all()]

    # -- the questions the servers ask -----------------------------------------------------------
    def reply_for(self, host: str | None, command: str) -> Fault | None:
        """A ``reply`` fault at ``command`` on ``host``, counted as used (None: answer normally)."""
        fault = self.get(FaultKind.REPLY, host)
        if fault is None or fault.command != command.upper():
            return None
        key = (fault.kind, fault.target)
        spent = False
        with self._lock:
            if self._faults.get(key) is not fault:
                return None
            if fault.times:
                used = self._used.get(key, 0) + 1
                self._used[key] = used
                if used >= fault.times:
                    del self._faults[key]
                    self._used.pop(key, None)
                    spent = True
        if spent and self.on_spent is not None:
            self.on_spent(fault)
        return fault

    def slow(self, host: str | None) -> Fault | None:
        return self.get(FaultKind.SLOW, host)

    def size_limit(self, host: str | None) -> int | None:
        fault = self.get(FaultKind.SIZE_LIMIT, host)
        return fault.size if fault is not None and fault.size > 0 else None

    def requires_tls(self, host: str | None) -> bool:
        return self.get(FaultKind.REQUIRE_TLS, host) is not None

    def no_tls(self, host: str | None) -> bool:
        return self.get(FaultKind.NO_TLS, host) is not None

    def refuses(self, host: str | None) -> bool:
        return self.get(FaultKind.REFUSE, host) is not None

    def mailbox_full(self, address: str) -> Fault | None:
        return self.get(FaultKind.MAILBOX_FULL, address)

    def zone_fault(self, zone: str) -> FaultKind | None:
        """SERVFAIL or DNS_TIMEOUT for a zone (no answer at all wins over a wrong one)."""
        for kind in (FaultKind.DNS_TIMEOUT, FaultKind.SERVFAIL):
            if self.get(kind, zone) is not None:
                return kind
        return None

    def hidden_hosts(self) -> set[str]:
        """Hosts whose A record the DNS leaves out (``no_address``)."""
        if not self._faults:
            return set()
        with self._lock:
            return {target for kind, target in self._faults if kind is FaultKind.NO_ADDRESS}

    def greylisted(self, host: str | None, client_ip: str, sender: str, rcpt: str) -> Fault | None:
        """The greylisting fault if this attempt must be refused for now, else None (and the triplet
        is let through).  The first attempt of a triplet is always refused; a retry passes once
        ``delay`` seconds have gone by since the first."""
        fault = self.get(FaultKind.GREYLIST, host)
        if fault is None:
            return None
        triplet = (client_ip, sender.lower(), rcpt.lower())
        now = self.clock()
        with self._lock:
            seen = self._greylist.setdefault(fault.target, {})
            first = seen.get(triplet)
            if first is None:
                seen[triplet] = now
                return fault
        return fault if now - first < fault.delay else None


def check_kind(kind: FaultKind | str) -> FaultKind:
    """A fault kind from its name; ValueError names the known ones."""
    try:
        return FaultKind(kind)
    except ValueError:
        known = ", ".join(k.value for k in FaultKind)
        raise ValueError(f"unknown fault {kind!r}; one of {known}") from None



# Protocol text of a ``reply`` fault given without its own text (RFC 5321 §4.2.2, §4.2.3).
_DEFAULT_TEXT = {421: "Service not available, closing transmission channel",
                 450: "Requested mail action not taken: mailbox unavailable",
                 451: "Requested action aborted: local error in processing",
                 452: "Requested action not taken: insufficient system storage",
                 550: "Requested action not taken: mailbox unavailable",
                 552: "Requested mail action aborted: exceeded storage allocation",
                 554: "Transaction failed"}


def reply_line(fault: Fault) -> str:
    """The reply a ``reply`` fault gives: ``code text`` (the server adds an enhanced status code
    when the text has none)."""
    text = fault.text.strip() or _DEFAULT_TEXT.get(fault.code) or (
        "Requested action not taken: try again later" if fault.code // 100 == 4
        else "Requested action not taken")
    return f"{fault.code} {text}"
