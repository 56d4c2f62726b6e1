"""The shared login throttle: its rules as a table, with an injected clock (no sleeping)."""
from __future__ import annotations

import pytest

from simulator.protocols.throttle import LoginThrottle


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_three_free_failures_then_doubling_up_to_the_cap():
    throttle = LoginThrottle(clock=Clock())
    waits = []
    for _ in range(9):
        waits.append(throttle.delay("10.0.0.1"))
        throttle.failed("10.0.0.1")
    assert waits == [0, 0, 0, 1.0, 2.0, 4.0, 8.0, 16.0, 16.0]


def test_failed_returns_the_next_attempts_delay():
    throttle = LoginThrottle(clock=Clock(), free=2, base=0.5, cap=3.0)
    assert [throttle.failed("p") for _ in range(6)] == [0.0, 0.5, 1.0, 2.0, 3.0, 3.0]
    assert throttle.delay("p") == 3.0
    assert throttle.failures("p") == 6


def test_counts_are_per_peer():
    throttle = LoginThrottle(clock=Clock())
    for _ in range(5):
        throttle.failed("a")
    assert throttle.delay("a") == 4.0
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
    for _ in range(4):
        throttle.failed("a")
    clock.now += 599.0
    assert throttle.delay("a") == 2.0
    clock.now += 1.0
    assert throttle.delay("a") == 0.0
    assert throttle.failed("a") == 0.0      # counting starts again from one
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
    assert throttle.delay("a") == 16.0


@pytest.mark.parametrize("kwargs", [{"free": -1}, {"base": -1.0}, {"cap": -1.0}, {"forget_after": 0},
                                    {"max_peers": 0}])
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(ValueError):
        LoginThrottle(**kwargs)
