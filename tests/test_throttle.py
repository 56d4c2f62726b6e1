"""The shared login throttle: its rules as a table, with an injected clock (no sleeping)."""
from __future__ import annotations

import asyncio

import pytest

from simulator.protocols.throttle import LOOPBACK_KEY, PENDING_GRACE, LoginThrottle, ManualTime, throttle_key


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_dovecots_rule_from_the_first_failure_doubling_from_2_to_15_seconds():
    throttle = LoginThrottle(clock=Clock())
    waits = []
    for _ in range(8):
        waits.append(throttle.delay("10.0.0.1"))
        throttle.failed("10.0.0.1")
    assert waits == [0, 2.0, 4.0, 8.0, 15.0, 15.0, 15.0, 15.0]


def test_the_right_password_still_works_after_50_failures():
    """Slowed, never locked: 50 failures cost at most 15 s each, then the right login clears all."""
    time_source = ManualTime()
    throttle = LoginThrottle()
    throttle.use_time(time_source)

    async def attempts() -> None:
        for _ in range(50):
            await throttle.hold("10.0.0.9")
            throttle.failed("10.0.0.9")
        assert await throttle.hold("10.0.0.9") == 15.0      # the right password waits its turn ...
        throttle.succeeded("10.0.0.9")                        # ... and is accepted
    asyncio.run(attempts())
    assert time_source.waits == [2.0, 4.0, 8.0] + [15.0] * 47
    assert throttle.delay("10.0.0.9") == 0.0 and throttle.failures("10.0.0.9") == 0


def test_hold_waits_before_the_check_with_the_injected_sleep():
    time_source = ManualTime()
    throttle = LoginThrottle(free=0, base=3.0, cap=5.0)
    throttle.use_time(time_source)
    assert throttle.hold_blocking("p") == 3.0              # free=0: even the first attempt waits base
    throttle.failed("p")
    assert asyncio.run(throttle.hold("p")) == 5.0
    assert time_source.waits == [3.0, 5.0] and time_source.now == 1008.0
    assert throttle.hold_blocking("other") == 3.0


def test_exempt_peers_are_never_held_nor_counted():
    throttle = LoginThrottle(clock=Clock())
    throttle.exempt = frozenset({"127.0.0.80"})
    for _ in range(10):
        assert throttle.failed("127.0.0.80") == 0.0
    assert throttle.delay("127.0.0.80") == 0.0 and throttle.failures("127.0.0.80") == 0


def test_failed_returns_the_next_attempts_delay():
    throttle = LoginThrottle(clock=Clock(), free=2, base=0.5, cap=3.0)
    assert [throttle.failed("p") for _ in range(6)] == [0.0, 0.5, 1.0, 2.0, 3.0, 3.0]
    assert throttle.delay("p") == 3.0
    assert throttle.failures("p") == 6


def test_counts_are_per_peer():
    throttle = LoginThrottle(clock=Clock())
    for _ in range(3):
        throttle.failed("a")
    assert throttle.delay("a") == 8.0
    assert throttle.delay("b") == 0.0


def test_success_clears_the_record():
    throttle = LoginThrottle(clock=Clock())
    for _ in range(5):
        throttle.failed("a")
    throttle.succeeded("a")
    assert throttle.delay("a") == 0.0
    assert throttle.failures("a") == 0
    throttle.succeeded("never-seen")    # harmless


def test_quiet_time_forgets_the_failures():
    clock = Clock()
    throttle = LoginThrottle(clock=clock, forget_after=600.0)
    for _ in range(2):
        throttle.failed("a")
    clock.now += 599.0
    assert throttle.delay("a") == 4.0
    clock.now += 1.0
    assert throttle.delay("a") == 0.0
    assert throttle.failed("a") == 2.0      # counting starts again from one
    assert throttle.failures("a") == 1


def test_memory_is_bounded_oldest_and_expired_go_first():
    clock = Clock()
    throttle = LoginThrottle(clock=clock, max_peers=3, forget_after=100.0)
    for peer in ("a", "b", "c"):
        for _ in range(4):
            throttle.failed(peer)
        clock.now += 1
    throttle.failed("a")                    # "a" is now the most recent
    throttle.failed("d")                    # full: the oldest, "b", goes
    assert len(throttle) == 3
    assert throttle.failures("b") == 0
    assert throttle.failures("a") == 5 and throttle.failures("c") == 4
    clock.now += 1000                       # everything expired: all of it is dropped to make room
    throttle.failed("e")
    assert len(throttle) == 1


def test_many_peers_never_exceed_the_bound():
    throttle = LoginThrottle(clock=Clock(), max_peers=50)
    for i in range(1000):
        throttle.failed(f"10.0.{i // 256}.{i % 256}")
    assert len(throttle) == 50


def test_huge_failure_counts_stay_at_the_cap():
    throttle = LoginThrottle(clock=Clock())
    for _ in range(2000):
        throttle.failed("a")
    assert throttle.delay("a") == 15.0


@pytest.mark.parametrize("kwargs", [{"free": -1}, {"base": -1.0}, {"cap": -1.0}, {"forget_after": 0},
                                    {"max_peers": 0}])
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(ValueError):
        LoginThrottle(**kwargs)


class FrozenTime(ManualTime):
    """Sleeps are recorded but the clock stands still: every attempt is made at the same moment,
    as parallel connections are."""

    def blocking_sleep(self, seconds: float) -> None:
        self.waits.append(seconds)


def test_parallel_attempts_queue_behind_each_other_as_if_one_after_the_other():
    """Review of issue 12: after one failure, 20 parallel AUTHs were all checked after the same 4 s.
    Now each key has one "next allowed attempt" time: every attempt takes the next turn, and its
    delay counts the attempts still waiting as failures, so twenty parallel guesses are checked
    at exactly the times twenty sequential ones would be."""
    time_source = FrozenTime()
    throttle = LoginThrottle()
    throttle.use_time(time_source)
    throttle.failed("10.0.0.1")

    async def guess() -> None:
        await throttle.hold("10.0.0.1")
        throttle.failed("10.0.0.1")

    async def twenty() -> None:
        await asyncio.gather(*(guess() for _ in range(20)))
    asyncio.run(twenty())
    sequential, turn = [], 0.0
    for failures in range(1, 21):
        turn += min(15.0, 2.0 * 2 ** (failures - 1))
        sequential.append(turn)
    assert sorted(time_source.waits) == sequential          # 2, 6, 14, 29, 44, 59 ... 269 s
    assert throttle.failures("10.0.0.1") == 21 and throttle.waiting("10.0.0.1") == 0


def test_a_right_password_lets_the_waiting_attempts_of_its_key_go_at_once():
    """A mail client opens several connections: after one mistype they queue (2 s, 6 s, 14 s ...);
    the first right login forgives the key and the others go at once, not after their turns.
    Real time here, with a generous deadline instead of the 14 s the last one would wait."""
    throttle = LoginThrottle()
    throttle.failed("10.0.0.2")

    async def scene() -> list[float]:
        first = asyncio.ensure_future(throttle.hold("10.0.0.2"))       # its turn: 2 s
        others = [asyncio.ensure_future(throttle.hold("10.0.0.2")) for _ in range(2)]   # 6 s, 14 s
        await asyncio.sleep(0)
        assert throttle.waiting("10.0.0.2") == 3
        throttle.succeeded("10.0.0.2")                                  # (a login at another door)
        done, pending = await asyncio.wait([first, *others], timeout=5.0)
        assert not pending
        return sorted(task.result() for task in done)
    assert asyncio.run(scene()) == pytest.approx([2.0, 6.0, 14.0], abs=0.5)   # the turns they had been given
    assert throttle.failures("10.0.0.2") == 0 and len(throttle) == 0


def test_a_turn_nobody_answers_is_forgotten():
    """A client that vanished between its turn and the check never answers failed/succeeded: its
    reserved turn counts for the next attempts only PENDING_GRACE seconds, and never grows memory."""
    clock = Clock()
    throttle = LoginThrottle(clock=clock, sleep=lambda seconds: asyncio.sleep(0))
    throttle.failed("p")
    assert asyncio.run(throttle.hold("p")) == 2.0                      # ... and then nothing
    assert throttle.waiting("p") == 1 and throttle.delay("p") == 2.0 + 4.0
    clock.now += 2.0 + PENDING_GRACE + 1
    assert throttle.waiting("p") == 0 and throttle.delay("p") == 2.0


def test_a_cancelled_wait_gives_its_turn_back():
    throttle = LoginThrottle()
    throttle.failed("q")

    async def scene() -> None:
        waiting = asyncio.ensure_future(throttle.hold("q"))
        await asyncio.sleep(0)
        assert throttle.waiting("q") == 1
        waiting.cancel()                                                # the connection went away
        await asyncio.gather(waiting, return_exceptions=True)
        assert throttle.waiting("q") == 0
    asyncio.run(scene())


@pytest.mark.parametrize("peer, key", [
    ("192.0.2.7", "192.0.2.7"),
    ("::ffff:192.0.2.7", "192.0.2.7"),                       # IPv4-mapped: the IPv4 address
    ("2001:db8:1:2::5", "2001:db8:1::/48"),                   # IPv6: the /48 (Dovecot's mask)
    ("2001:db8:1:ffff:1:2:3:4", "2001:db8:1::/48"),
    ("2001:db8:2::1", "2001:db8:2::/48"),
    ("fe80::1%eth0", "fe80::/48"),
    ("127.0.0.1", LOOPBACK_KEY), ("127.0.0.80", LOOPBACK_KEY), ("127.42.1.2", LOOPBACK_KEY), ("::1", LOOPBACK_KEY),
    ("web:10.2.2.2", "10.2.2.2"),                             # the webmail's former spelling: the same key
    ("label", "label"),
])
def test_the_key_of_an_address(peer, key):
    assert throttle_key(peer) == key and throttle_key(key) == key


def test_an_ipv6_client_cannot_dodge_by_hopping_inside_its_48():
    throttle = LoginThrottle(clock=Clock())
    for n in range(3):
        throttle.failed(f"2001:db8:5:{n}::{n + 1}")
    assert throttle.delay("2001:db8:5:ffff::9") == 8.0 and throttle.delay("2001:db8:6::1") == 0.0


def test_exemption_is_for_the_exact_address_a_server_sees():
    """The webmail's own connections (from 127.0.0.80) are exempt at the servers; the same
    address's key, as the webmail passes it for a browser, is not."""
    throttle = LoginThrottle(clock=Clock())
    throttle.exempt = frozenset({"127.0.0.80"})
    assert throttle.failed("127.0.0.80") == 0.0
    assert throttle.failed(throttle.key("127.0.0.80")) == 2.0
    assert throttle.failures("127.0.0.1") == 1                 # one key for this computer
