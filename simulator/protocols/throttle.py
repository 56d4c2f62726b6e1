"""One login throttle for every server that checks a password: IMAP, POP3, submission and the webmail.

A brake on password guessing (RFC 4954 §9, RFC 3501 §11.1 and RFC 1939 §13 ask servers to make
guessing expensive; none fixes how). The rule is Dovecot's auth penalty (``auth-penalty.h``:
``AUTH_PENALTY_INIT_SECS 2``, ``AUTH_PENALTY_MAX_SECS 15``), shared by every door that checks a
password: submission (every SMTP door with AUTH), IMAP, POP3 and the webmail.

Theory of operation
-------------------
* **Per client key.** Failures are counted per *key*, across every session, connection and door of
  the servers that share one throttle: opening more connections or switching doors does not reset
  it.  The key of an address (:meth:`LoginThrottle.key`) is the IPv4 address itself; an IPv6 address
  counts with its whole /48 (Dovecot's ``PENALTY_IPV6_MASK_BITS 48``: one site gets a /48, and a
  client can hop within it at will); an IPv4-mapped IPv6 address is its IPv4 address; every loopback
  address (127.0.0.0/8 and ::1) is one key, "this computer" (any local process may bind any of
  them: see SECURITY.md for why local users are trusted anyway).  The webmail throttles each browser
  by the browser's address, so it lands on the very key the servers use for that address.
* **Slowed, never locked.** Once a key has ``free`` failures on record (1: from the first failure
  on, as Dovecot), its next attempt waits ``base`` seconds, the one after twice as long, up to
  ``cap``: 0, 2, 4, 8, 15, 15 … seconds for attempts 1, 2, 3 … (defaults).  No count ever locks an
  account: the right password after 50 failures is accepted after its 15 s.  (Dovecot's code
  computes 4, 8, 15 s for penalties 1, 2, 3 and adds a flat 2 s ``auth_failure_delay`` to each
  failed reply; we keep the simpler "doubling from 2 s to 15 s" before the check.)
* **Before the check, one at a time.** The server waits *before* it checks the credentials, so a
  right guess is delayed as much as a wrong one, and an unknown user as much as a known one.  Each
  key has one "next allowed attempt" time: an attempt that must wait takes the next turn after the
  ones already waiting, and its delay counts the attempts still waiting or being checked as if they
  had failed.  So parallel attempts gain nothing over sequential ones: after one failure, twenty
  parallel guesses are checked at 2, 6, 14, 29, 44 … s — exactly the times twenty guesses one after
  the other would get (Dovecot lets parallel connections each wait the same delay at once).  An
  attempt with no wait (nothing on record) is checked at once and reserves nothing.
* **Forgiven.** A successful login clears the key's record and lets every attempt still waiting
  for that key go at once (the user's other connections: a mail client opens several); so do
  ``forget_after`` seconds (600) without a failure.  Dovecot forgets after 15 s of quiet; we are
  stricter against slow guessing, and a student's later mistypes cost at most a few seconds.
* **Bounded memory.** At most ``max_peers`` records: expired records are dropped first, then the
  key whose last failure is oldest.  A flood of addresses cannot grow the table without limit; an
  attempt waiting its turn is one live connection (whose number the servers cap), and a turn that
  was reserved but never answered by :meth:`failed` or :meth:`succeeded` (the client vanished) is
  forgotten ``PENDING_GRACE`` seconds after its time.
* **Injected time.** The clock and the two ways to wait (``sleep`` on the event loop,
  ``blocking_sleep`` in a thread) are passed in; :class:`ManualTime` is a clock whose sleeps
  advance it at once and record each wait, so tests and lessons replay exactly and never wait.
  ``use_time()`` swaps them on a shared instance (the stack's).  With injected sleeps a success does
  not cut a wait short (there is nothing to cut).
* **Threads.** The servers call from the event loop, the webmail from its request threads: every
  record change happens under one lock.

How a server uses it (a sans-IO core emits the wait as an effect instead of sleeping)::

    delay = await throttle.hold(peer)             # waits its turn, right before the check
    if account is None:
        next_wait = throttle.failed(peer)         # what the *next* attempt will wait (for the facts)
    else:
        throttle.succeeded(peer)

Share one instance between all servers (and sessions) that should count together. Each server
also counts failures *per session* and ends the session after three (SMTP ``421 4.7.0``, IMAP
``* BYE``, POP3 ``-ERR ... closing``): that is the server's, not the throttle's.

**Trusted front ends.** Peers in ``exempt`` (the webmail's source address, compared as the exact
address a server sees) are never delayed nor counted by the servers: the webmail throttles each
browser itself with this same instance, keyed by the browser's address (as Dovecot trusts
``login_trusted_networks``), so one student's wrong passwords never slow another student's logins.
"""
from __future__ import annotations

import asyncio
import ipaddress
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

__all__ = ["FREE", "BASE", "CAP", "FORGET_AFTER", "IPV6_PREFIX", "LOOPBACK_KEY", "PENDING_GRACE",
           "LoginThrottle", "ManualTime", "throttle_key"]

FREE = 1              # failures on record before an attempt waits (1: from the first failure on)
BASE = 2.0            # seconds: Dovecot's AUTH_PENALTY_INIT_SECS
CAP = 15.0            # seconds: Dovecot's AUTH_PENALTY_MAX_SECS
FORGET_AFTER = 600.0  # seconds without a failure before a key's record is forgotten
PENDING_GRACE = 30.0  # seconds after its turn before an unanswered reserved turn is forgotten
IPV6_PREFIX = 48      # an IPv6 client counts with its /48 (Dovecot's PENALTY_IPV6_MASK_BITS)
LOOPBACK_KEY = "127.0.0.0/8"   # every loopback address (and ::1): this computer
_WEB_PREFIX = "web:"  # the webmail's former spelling of a browser's key: the same key as the address


def throttle_key(peer: str) -> str:
    """The key a client address is counted under (see the module's docstring); anything that is not
    an IP address (a test's label) is its own key.  ``throttle_key(throttle_key(x)) == throttle_key(x)``."""
    text = peer[len(_WEB_PREFIX):] if peer.startswith(_WEB_PREFIX) else peer
    try:
        ip = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return text
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return LOOPBACK_KEY
    if isinstance(ip, ipaddress.IPv4Address):
        return str(ip)
    return str(ipaddress.IPv6Network(f"{ip}/{IPV6_PREFIX}", strict=False))


@dataclass(slots=True)
class _Record:
    failures: int = 0
    last: float = float("-inf")        # time of the last failure
    next_at: float = float("-inf")     # the turn of the latest reserved attempt
    pending: list[float] = field(default_factory=list)   # turns reserved and not yet answered
    wakers: list[Callable[[], None]] = field(default_factory=list)   # waiting attempts, woken by a success


class LoginThrottle:
    """Failed logins per key: a growing delay, one turn at a time, before each attempt after the
    first ``free`` failures."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, free: int = FREE, base: float = BASE,
                 cap: float = CAP, forget_after: float = FORGET_AFTER, max_peers: int = 4096,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 blocking_sleep: Callable[[float], None] = time.sleep) -> None:
        if free < 0 or base < 0 or cap < 0 or forget_after <= 0 or max_peers < 1:
            raise ValueError("LoginThrottle: free, base, cap >= 0; forget_after > 0; max_peers >= 1")
        self._clock = clock
        self._sleep = sleep
        self._blocking_sleep = blocking_sleep
        self.free = free
        self.base = base
        self.cap = cap
        self.forget_after = forget_after
        self.max_peers = max_peers
        self._lock = threading.Lock()
        self._records: dict[str, _Record] = {}   # oldest failure first (re-inserted on each failure)
        self.exempt: frozenset[str] = frozenset()  # trusted front ends (see the module's docstring)

    key = staticmethod(throttle_key)

    def use_time(self, time_source: "ManualTime") -> None:
        """Take clock and sleeps from ``time_source`` (a :class:`ManualTime`, in tests and lessons)."""
        self._clock = time_source
        self._sleep = time_source.sleep
        self._blocking_sleep = time_source.blocking_sleep

    async def hold(self, peer: str) -> float:
        """Wait this key's turn and delay (on the event loop) right before the credentials are
        checked; return the wait."""
        loop = asyncio.get_running_loop()
        woken = loop.create_future()

        def wake() -> None:                               # from any thread (the webmail's too)
            try:
                loop.call_soon_threadsafe(lambda: woken.done() or woken.set_result(None))
            except RuntimeError:                          # that loop is closed: nobody waits there
                pass
        wait, turn = self._reserve(peer, wake)
        if wait <= 0:
            return 0.0
        try:
            if self._sleep is asyncio.sleep:          # real time: a success ends the wait early
                await asyncio.wait([woken], timeout=wait)
            else:
                await self._sleep(wait)
        except BaseException:
            self._unreserve(peer, turn)               # the connection went away while waiting
            raise
        finally:
            self._unwatch(peer, wake)
        return wait

    def hold_blocking(self, peer: str) -> float:
        """:meth:`hold` for a thread that may block (the webmail's request handlers)."""
        woken = threading.Event()
        wait, _turn = self._reserve(peer, woken.set)
        if wait <= 0:
            return 0.0
        try:
            if self._blocking_sleep is time.sleep:
                woken.wait(wait)
            else:
                self._blocking_sleep(wait)
        finally:
            self._unwatch(peer, woken.set)
        return wait

    def delay(self, peer: str) -> float:
        """Seconds the next attempt from this peer's key would wait now (0.0 if none)."""
        if peer in self.exempt:
            return 0.0
        now = self._clock()
        with self._lock:
            record = self._live(self.key(peer), now)
            return self._wait_of(record, now)[0] if record is not None else self._delay_for(0)

    def failed(self, peer: str) -> float:
        """Record a failed login from ``peer``; return the delay its key's next attempt will get."""
        if peer in self.exempt:
            return 0.0
        now = self._clock()
        key = self.key(peer)
        with self._lock:
            record = self._live(key, now) or _Record()
            if record.pending:
                record.pending.pop(0)                 # this attempt's reserved turn is answered
            record.failures += 1
            record.last = now
            self._records.pop(key, None)
            self._make_room(now)
            self._records[key] = record
            return self._wait_of(record, now)[0]

    def succeeded(self, peer: str) -> None:
        """A successful login: the key's record is cleared and its waiting attempts go at once."""
        if peer in self.exempt:
            return
        with self._lock:
            record = self._records.pop(self.key(peer), None)
        for wake in record.wakers if record is not None else ():
            wake()

    def failures(self, peer: str) -> int:
        """The failures on record for ``peer``'s key (0 once forgotten; 0 for an exempt peer)."""
        if peer in self.exempt:
            return 0
        with self._lock:
            record = self._live(self.key(peer), self._clock())
            return record.failures if record is not None else 0

    def waiting(self, peer: str) -> int:
        """Attempts of ``peer``'s key that reserved a turn and are not answered yet."""
        with self._lock:
            record = self._live(self.key(peer), self._clock())
            return len(record.pending) if record is not None else 0

    def __len__(self) -> int:
        """How many keys have a record (expired ones included until they are dropped)."""
        return len(self._records)

    def __bool__(self) -> bool:
        """Always true: an empty throttle is still a throttle (``throttle or LoginThrottle()``
        must not replace the shared one while it holds no record yet)."""
        return True

    # ----------------------------------------------------------------- internals

    def _reserve(self, peer: str, wake: Callable[[], None]) -> tuple[float, float]:
        """Take this attempt's turn: (seconds to wait, the turn's time); no turn when no wait."""
        if peer in self.exempt:
            return 0.0, 0.0
        now = self._clock()
        key = self.key(peer)
        with self._lock:
            record = self._live(key, now)
            if record is None:
                if self._delay_for(0) <= 0:
                    return 0.0, 0.0
                record = _Record()
                self._make_room(now)
                self._records[key] = record
            wait, turn = self._wait_of(record, now)
            if wait <= 0:
                return 0.0, 0.0
            record.next_at = turn
            record.pending.append(turn)
            record.wakers.append(wake)
            return wait, turn

    def _wait_of(self, record: _Record, now: float) -> tuple[float, float]:
        """The wait and the turn of the next attempt: after the turns already taken, by the delay
        of the failures on record plus the attempts not answered yet."""
        delay = self._delay_for(record.failures + len(record.pending))
        if delay <= 0:
            return 0.0, now
        turn = max(now, record.next_at) + delay
        return turn - now, turn

    def _unreserve(self, peer: str, turn: float) -> None:
        with self._lock:
            record = self._records.get(self.key(peer))
            if record is not None and turn in record.pending:
                record.pending.remove(turn)

    def _unwatch(self, peer: str, wake: Callable[[], None]) -> None:
        with self._lock:
            record = self._records.get(self.key(peer))
            if record is not None and wake in record.wakers:
                record.wakers.remove(wake)

    def _delay_for(self, failures: int) -> float:
        if failures < self.free:
            return 0.0
        return float(min(self.cap, self.base * 2 ** min(failures - self.free, 62)))

    def _live(self, key: str, now: float) -> _Record | None:
        """The key's record with what has expired taken out (None when nothing is left)."""
        record = self._records.get(key)
        if record is None:
            return None
        if record.pending and record.pending[0] + PENDING_GRACE < now:
            record.pending = [turn for turn in record.pending if turn + PENDING_GRACE >= now]
        if record.failures and now - record.last >= self.forget_after:
            record.failures = 0
        if not record.failures and not record.pending and not record.wakers:
            del self._records[key]
            return None
        return record

    def _make_room(self, now: float) -> None:
        """Keep fewer than ``max_peers`` records: drop the expired, then the oldest."""
        if len(self._records) < self.max_peers:
            return
        # dict order is by last failure, so the expired records are at the front
        for key, record in list(self._records.items()):
            if now - record.last < self.forget_after:
                break
            if not record.pending:
                del self._records[key]
        while len(self._records) >= self.max_peers:
            del self._records[next(iter(self._records))]


@dataclass
class ManualTime:
    """A clock for tests and lessons: sleeping advances it at once, and each wait is recorded."""
    now: float = 1000.0
    waits: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.blocking_sleep(seconds)
        await asyncio.sleep(0)          # still a suspension point, as a real sleep is

    def blocking_sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds
