"""One login throttle for every server that checks a password: IMAP, POP3 and submission.

A brake on password guessing (RFC 4954 §9, RFC 3501 §11.1 and RFC 1939 §13 ask servers to make
guessing expensive; none fixes how). The rules, chosen from the two throttles this replaces:

* **Per peer.** Failures are counted per peer address, across every session and connection of the
  servers that share one throttle: opening more connections does not reset the count.
* **The first ``free`` failures cost nothing.** A student who mistypes a password twice is not
  made to wait.
* **Then a growing delay, before the check.** Once a peer has ``free`` failures on record, its next
  attempt waits ``base`` seconds, the one after ``2 * base``, doubling up to ``cap``
  (defaults: 0, 0, 0, 1, 2, 4, 8, 16, 16 … seconds for attempts 1, 2, 3 …). The server waits
  *before* it checks the credentials (like Dovecot's auth penalty), so a right guess is delayed as
  much as a wrong one: pipelined or parallel guesses gain nothing by waiting for the first "OK".
* **Forgiven.** A successful login clears the peer's record, and so do ``forget_after`` seconds
  without a failure.
* **Bounded memory.** At most ``max_peers`` records: expired records are dropped first, then the
  peer whose last failure is oldest. A flood of addresses cannot grow the table without limit.
* **Injected clock** (monotonic by default), so tests and lessons replay exactly.

How a server uses it (a sans-IO core emits the wait as an effect instead of sleeping)::

    await asyncio.sleep(throttle.delay(peer))     # before checking the credentials
    if account is None:
        next_wait = throttle.failed(peer)         # what the *next* attempt will wait (for the facts)
    else:
        throttle.succeeded(peer)

Share one instance between all servers (and sessions) that should count together.

**Trusted front ends.** Peers in ``exempt`` (the webmail's source address) are never delayed nor
counted by the servers: the webmail throttles each browser itself, with this same instance keyed by
``"web:" + the browser's address`` (as Dovecot trusts ``login_trusted_networks``), so one student's
wrong passwords never slow another student's logins.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["LoginThrottle"]


@dataclass(slots=True)
class _Record:
    failures: int
    last: float


class LoginThrottle:
    """Failed logins per peer: a growing delay before each attempt after the first ``free`` failures."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, free: int = 3, base: float = 1.0,
                 cap: float = 16.0, forget_after: float = 600.0, max_peers: int = 4096) -> None:
        if free < 0 or base < 0 or cap < 0 or forget_after <= 0 or max_peers < 1:
            raise ValueError("LoginThrottle: free, base, cap >= 0; forget_after > 0; max_peers >= 1")
        self._clock = clock
        self.free = free
        self.base = base
        self.cap = cap
        self.forget_after = forget_after
        self.max_peers = max_peers
        self._records: dict[str, _Record] = {}   # oldest failure first (re-inserted on each failure)
        self.exempt: frozenset[str] = frozenset()  # trusted front ends (see the module's docstring)

    def delay(self, peer: str) -> float:
        """Seconds to wait before checking this peer's next login attempt (0.0 if none)."""
        if peer in self.exempt:
            return 0.0
        return self._delay_for(self.failures(peer))

    def failed(self, peer: str) -> float:
        """Record a failed login from ``peer``; return the delay its next attempt will get."""
        if peer in self.exempt:
            return 0.0
        now = self._clock()
        count = self._live_count(peer, now) + 1
        self._records.pop(peer, None)
        self._make_room(now)
        self._records[peer] = _Record(count, now)
        return self._delay_for(count)

    def succeeded(self, peer: str) -> None:
        """A successful login: the peer's record is cleared."""
        self._records.pop(peer, None)

    def failures(self, peer: str) -> int:
        """The failures on record for ``peer`` (0 once forgotten)."""
        return self._live_count(peer, self._clock())

    def __len__(self) -> int:
        """How many peers have a record (expired ones included until they are dropped)."""
        return len(self._records)

    # ----------------------------------------------------------------- internals

    def _delay_for(self, failures: int) -> float:
        if failures < self.free:
            return 0.0
        return float(min(self.cap, self.base * 2 ** min(failures - self.free, 62)))

    def _live_count(self, peer: str, now: float) -> int:
        record = self._records.get(peer)
        if record is None or now - record.last >= self.forget_after:
            return 0
        return record.failures

    def _make_room(self, now: float) -> None:
        """Keep fewer than ``max_peers`` records: drop the expired, then the oldest."""
        if len(self._records) < self.max_peers:
            return
        # dict order is by last failure, so the expired records are at the front
        for peer, record in list(self._records.items()):
            if now - record.last < self.forget_after:
                break
            del self._records[peer]
        while len(self._records) >= self.max_peers:
            del self._records[next(iter(self._records))]
