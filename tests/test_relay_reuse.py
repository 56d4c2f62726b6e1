"""Issue 13's speed-ups of the delivery pipeline keep what the simulator promises.

- The relay's connection cache (:mod:`simulator.protocols.smtp.conncache`): a second message to the
  same next hop goes on the first one's connection; the receiving MX still joins each message to its
  own trace, and the transcript of the reused session shows no greeting, EHLO or STARTTLS (none
  happened).  While the gate is paused, or a fault is in force, nothing is reused.
- The per-destination limit: never more than ``limit`` connections of one key at once.
- In-flow control (``Delivery._inflow``): a submitted message waits while the queue
  runners are busy, at most FLOW_DELAY, and is let in as soon as a place frees.
- An entry whose last recipient is delivered leaves the queue in the same worker call (the queue
  directory holds nothing afterwards) and the message is in ``new/``.
"""
from __future__ import annotations

import asyncio
import os
import smtplib
import types

import pytest

from simulator import delivery as delivery_mod
from simulator.protocols.smtp.conncache import ConnectionCache

MSG = b"From: alice@alpha.test\r\nTo: bob@beta.test\r\nSubject: %d\r\n\r\nbody %d\r\n"


def submit(world, n: int) -> None:
    with smtplib.SMTP("127.0.0.1", world.port("submission"), local_hostname="client.test", timeout=10) as s:
        s.login("alice@alpha.test", "alice")
        s.sendmail("alice@alpha.test", ["bob@beta.test"], MSG % (n, n))


def relay_sessions(world, trace: str):
    return [e for e in world.events.events if e.trace == trace and e.kind == "smtp.session"
            and e.src == "mta:smtp.alpha.test"]


def test_second_relay_reuses_the_connection_and_keeps_its_trace(world):
    cache = world.stack.delivery.connections
    cache.idle = 30.0                    # a slow machine must not let the connection expire between
    submit(world, 1)
    world.wait_messages("bob@beta.test", 1)
    submit(world, 2)                     # within the cache's idle time
    world.wait_messages("bob@beta.test", 2)
    assert (cache.opened, cache.reused) == (1, 1)
    delivered = world.events.wait_for(lambda e: e.kind == "mda.deliver", count=2)
    first, second = (e.trace for e in delivered[:2])
    assert first != second
    [relay1], [relay2] = relay_sessions(world, first), relay_sessions(world, second)
    lines1 = [line for _, line in relay1.transcript]
    lines2 = [line for _, line in relay2.transcript]
    assert any(line.startswith("EHLO smtp.alpha.test") for line in lines1)
    assert any(line.startswith("STARTTLS") for line in lines1)
    assert lines2[0].startswith("MAIL FROM:<alice@alpha.test>")
    assert not any(line.startswith(("EHLO", "STARTTLS", "220 ")) for line in lines2)
    for trace in (first, second):
        kinds = [e.kind for e in world.events.events if e.trace == trace and e.kind != "queue.relay"]
        assert kinds == ["smtp.session", "dns.query", "smtp.session", "mda.deliver"]
    world.wait_queue_empty()
    assert not list((world.stack.config.data_dir / "queue" / "smtp.alpha.test").glob("*.json"))
    assert not list((world.stack.config.data_dir / "queue" / "mx1.beta.test").glob("*.json"))


def test_no_reuse_while_the_gate_is_not_playing_freely(world):
    cache = world.stack.delivery.connections
    world.stack.gate.set_delay(0.01)
    for n in range(2):
        submit(world, n)
        world.wait_messages("bob@beta.test", n + 1)
    assert (cache.opened, cache.reused) == (0, 0)        # the cache was not used at all


def test_the_cache_limits_connections_per_key():
    async def scenario() -> tuple[int, int]:
        cache = ConnectionCache(limit=2, idle=0.05)
        peak = now = 0

        async def attempt() -> None:
            nonlocal peak, now
            assert await cache.acquire("k") is None       # never an idle one: none is released
            now += 1
            peak = max(peak, now)
            await asyncio.sleep(0.01)
            now -= 1
            cache.release("k", None)

        await asyncio.gather(*(attempt() for _ in range(7)))
        return peak, cache.open_count("k")

    assert asyncio.run(scenario()) == (2, 0)


def _delivery() -> delivery_mod.Delivery:
    state = types.SimpleNamespace(mode="play", delay=0.0, granularity="hop")
    services = types.SimpleNamespace(
        queue=types.SimpleNamespace(keep_done=0.0), policy=types.SimpleNamespace(lifetime=600.0),
        traces=types.SimpleNamespace(forget_later=lambda local: None),
        gate=types.SimpleNamespace(state=lambda: state))
    return delivery_mod.Delivery(services)


def test_inflow_waits_while_busy_and_lets_in_when_a_place_frees(monkeypatch):
    monkeypatch.setattr(delivery_mod, "FLOW_DELAY", 5.0)

    async def scenario() -> tuple[bool, bool]:
        d = _delivery()
        d._busy.update(f"E{i}" for i in range(delivery_mod.FLOW_LIMIT))
        waiting = asyncio.ensure_future(d._inflow())
        await asyncio.sleep(0.02)
        held = not waiting.done()
        d._busy.discard("E0")
        d._let_in()
        await asyncio.wait_for(waiting, 1.0)
        return held, waiting.done()

    assert asyncio.run(scenario()) == (True, True)


def test_inflow_waits_at_most_flow_delay(monkeypatch):
    monkeypatch.setattr(delivery_mod, "FLOW_DELAY", 0.05)

    async def scenario() -> bool:
        d = _delivery()
        d._busy.update(f"E{i}" for i in range(delivery_mod.FLOW_LIMIT + 3))
        await asyncio.wait_for(d._inflow(), 1.0)          # let in after FLOW_DELAY, busy or not
        return not d._flow

    assert asyncio.run(scenario())


def test_inflow_never_holds_a_message_while_the_gate_is_paused():
    async def scenario() -> None:
        d = _delivery()
        d.svc.gate.state().mode = "pause"
        d._busy.update(f"E{i}" for i in range(delivery_mod.FLOW_LIMIT + 3))
        await asyncio.wait_for(d._inflow(), 0.01)

    asyncio.run(scenario())


@pytest.mark.parametrize("lines", [1, 3000])
def test_first_attempt_uses_the_message_kept_in_memory(world, lines):
    text = b"x" * 76 + b"\r\n"
    body = b"From: alice@alpha.test\r\nTo: bob@beta.test\r\nSubject: big\r\n\r\n" + text * lines
    with smtplib.SMTP("127.0.0.1", world.port("submission"), local_hostname="client.test", timeout=10) as s:
        s.login("alice@alpha.test", "alice")
        s.sendmail("alice@alpha.test", ["bob@beta.test"], body)
    [raw] = world.wait_messages("bob@beta.test")
    assert raw.endswith(b"\r\n\r\n" + text * lines)
    world.wait_queue_empty()
    assert world.stack.delivery._content == {} and world.stack.delivery._content_bytes == 0


def test_a_named_delivery_returns_after_an_fsync_of_new_that_saw_its_link(tmp_path, monkeypatch):
    """write_named's fsync of new/ is a group commit: it may be shared, never skipped."""
    from concurrent.futures import ThreadPoolExecutor

    from simulator import fsutil, mda
    seen: list[set[str]] = []
    real = fsutil.fsync_dir

    def recording(path):
        if path.name == "new":
            seen.append(set(os.listdir(path)))
        real(path)

    monkeypatch.setattr(fsutil, "fsync_dir", recording)
    box = tmp_path / "mail" / "beta.test" / "bob"
    names = [mda.delivery_name(1700000000.5, f"Q{i:04d}", "R0") for i in range(24)]

    def one(name: str) -> str:
        mda.deliver_once(box, b"Subject: x\r\n\r\nbody\r\n", name=name)
        synced = [s for s in seen if name in s]     # an fsync of new/ that began after the link ended
        assert synced, name
        return name

    with ThreadPoolExecutor(6) as pool:
        assert sorted(pool.map(one, names)) == sorted(names)
    assert sorted(os.listdir(box / "new")) == sorted(names)
    assert 1 <= len(seen) <= len(names)


class _FakeConnection:
    local = ("127.42.1.1", 40000)

    def __init__(self) -> None:
        self.closed_with: list[bool] = []
        self.opened = asyncio.get_running_loop().time()

    def usable(self) -> bool:
        return True

    async def close(self, timeout: float = 1.0, *, say_quit: bool = True) -> None:
        self.closed_with.append(say_quit)


@pytest.mark.parametrize("free", [True, False])
def test_an_idle_connection_says_quit_only_while_the_world_runs_freely(free):
    """Stepping line by line, the server would stream a QUIT of a session the page has closed
    already; the cache then just closes the socket (the server publishes nothing for it)."""
    async def scenario() -> tuple[list[bool], list]:
        forgotten: list = []
        cache = ConnectionCache(limit=2, on_close=forgotten.append, say_quit=lambda: free)
        assert await cache.acquire("k") is None
        conn = _FakeConnection()
        cache.release("k", conn)
        assert cache.idle_count("k") == 1 and await cache.acquire("k") is conn   # reused
        cache.release("k", conn)
        await cache.close_all()
        assert cache.open_count("k") == 0 and cache.idle_count("k") == 0
        return conn.closed_with, forgotten

    assert asyncio.run(scenario()) == ([free], [_FakeConnection.local])
