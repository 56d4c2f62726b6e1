"""Issue 13's speed-ups of the delivery pipeline keep what the simulator promises.

- The relay's connection cache (:mod:`simulator.protocols.smtp.conncache`): a second message to the
  same next hop goes on the first one's connection; the receiving MX still joins each message to its
  own trace, and the transcript of the reused session shows no greeting, EHLO or STARTTLS (none
  happened).  While the gate is paused, or a fault is in force, nothing is reused.
- The per-destination limit: never more than ``limit`` connections of one key at once.
- In-flow control (``Delivery._inflow``): a submitted message waits while the queue
  runners are busy, at most FLOW_DELAY, and is let in as soon as a place frees.
- Reuse changes nothing the receiving MX counts: an accepted message forgives the errors before it
  (refused recipients of many messages never add up to a 421 on one connection).
- A change of the world (a host down and up, a fault set and cleared) closes the idle connections:
  none from before it is reused; a host taken down ends the sessions cached with it.  The cache asks
  whether reuse is allowed when it hands a connection out, not when the caller started to wait.
- The fact of a reused session says so (``reused``), and its wire is encrypted from its first line.
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
from simulator.facts import SmtpSession
from simulator.protocols.smtp.conncache import ConnectionCache
from simulator.protocols.smtp.session import TranscriptSMTP
from simulator.scenario.model import Fault, FaultKind

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
        # an fsync of new/ that began after the link ended (the file's name is the given one, then
        # its Dovecot size fields ",S=…,W=…")
        synced = [s for s in seen if any(n.split(",", 1)[0] == name for n in s)]
        assert synced, name
        return name

    with ThreadPoolExecutor(6) as pool:
        assert sorted(pool.map(one, names)) == sorted(names)
    assert sorted(n.split(",", 1)[0] for n in os.listdir(box / "new")) == sorted(names)
    assert 1 <= len(seen) <= len(names)


class _FakeConnection:
    local = ("127.42.1.1", 40000)
    epoch = 0

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


def submit_to(world, rcpts: list[str], n: int) -> None:
    with smtplib.SMTP("127.0.0.1", world.port("submission"), local_hostname="client.test", timeout=10) as s:
        s.login("alice@alpha.test", "alice")
        s.sendmail("alice@alpha.test", rcpts, MSG % (n, n))


def test_an_accepted_message_forgives_the_errors_before_it(world, monkeypatch):
    """Each message has a refused recipient (one error each); with a budget of 3 errors, the third
    message on the same connection would be cut off with 421 if errors added up across messages."""
    monkeypatch.setattr(TranscriptSMTP, "max_errors", 3)
    cache = world.stack.delivery.connections
    cache.idle = 30.0
    for n in range(4):
        submit_to(world, ["bob@beta.test", "nobody@beta.test"], n)
        world.wait_messages("bob@beta.test", n + 1)
    relayed = world.events.facts(SmtpSession, lambda x: x.client == "smtp.alpha.test"
                                 and x.host == "mx1.beta.test", count=4)
    assert len({fact.wire.client_port for fact in relayed}) == 1         # one connection carried all
    lines = [line for fact in relayed for _, line in fact.transcript]
    assert not [line for line in lines if line.startswith("421")]
    assert sum(line.startswith("550") for line in lines) == 4


def _reused_after(world, change) -> tuple[int, int]:
    cache = world.stack.delivery.connections
    cache.idle = 30.0
    submit(world, 1)
    world.wait_messages("bob@beta.test", 1)
    world.events.facts(SmtpSession, lambda x: x.client == "smtp.alpha.test")
    world.wait_queue_empty()        # the sending entry leaves the queue once its connection is back in the cache
    assert cache.idle_count(next(iter(cache._idle))) == 1
    change()
    submit(world, 2)
    world.wait_messages("bob@beta.test", 2)
    return cache.opened, cache.reused


def test_no_reuse_after_the_next_hop_went_down_and_came_back(world):
    def down_and_up() -> None:
        world.stack.set_host_state("mx1.beta.test", False)
        world.stack.set_host_state("mx1.beta.test", True)
    assert _reused_after(world, down_and_up) == (2, 0)


def test_no_reuse_after_a_fault_was_set_and_cleared(world):
    def fault() -> None:
        world.stack.set_fault(Fault(FaultKind.REFUSE, "mx1.beta.test"))
        world.stack.clear_fault("refuse", "mx1.beta.test")
    assert _reused_after(world, fault) == (2, 0)


def test_a_host_taken_down_ends_the_sessions_cached_with_it(world):
    cache = world.stack.delivery.connections
    cache.idle = 30.0
    submit(world, 1)
    world.wait_messages("bob@beta.test", 1)
    world.events.facts(SmtpSession, lambda x: x.client == "smtp.alpha.test")

    async def watch() -> list[asyncio.Future]:
        """A future per open MX session of mx1.beta.test, done when its connection is lost."""
        ends = []
        for session in list(world.stack._sessions):
            if (isinstance(session, TranscriptSMTP) and session.handler.host is not None
                    and session.handler.host.name == "mx1.beta.test" and session.transport is not None):
                end = asyncio.get_running_loop().create_future()
                lost = session.connection_lost

                def noted(error, lost=lost, end=end) -> None:
                    lost(error)
                    if not end.done():
                        end.set_result(None)
                session.connection_lost = noted
                ends.append(end)
        return ends

    ends = world.stack.call(watch)
    assert len(ends) == 1                        # the relay's cached session, open at the MX
    world.stack.set_host_state("mx1.beta.test", False)

    async def ended() -> None:
        await asyncio.wait_for(asyncio.gather(*ends), 5.0)

    world.stack.call(ended)
    assert not cache._idle and not cache._open


def test_the_cache_asks_whether_reuse_is_allowed_when_it_hands_out():
    """A caller decided to use the cache, then waited for a slot; a fault was set meanwhile: the
    idle connection it would have got is closed, and it opens a new one."""
    async def scenario() -> tuple:
        cache = ConnectionCache(limit=1)
        allowed = True
        assert await cache.acquire("k") is None              # the only slot: busy
        waiting = asyncio.ensure_future(cache.acquire("k", lambda: allowed))
        await asyncio.sleep(0)
        assert not waiting.done()
        allowed = False                                       # the world changed while it waited
        conn = _FakeConnection()
        cache.release("k", conn)                              # the busy one comes back, reusable
        got = await asyncio.wait_for(waiting, 1.0)
        await cache.close_all()
        return got, conn.closed_with, cache.open_count("k"), cache.reused

    assert asyncio.run(scenario()) == (None, [True], 1, 0)


def test_a_connection_of_an_older_epoch_is_closed_not_kept():
    async def scenario() -> tuple:
        cache = ConnectionCache(limit=2)
        assert await cache.acquire("k") is None
        conn = _FakeConnection()
        conn.epoch = cache.epoch
        cache.invalidate()                                    # a change while it carried a message
        kept = cache.release("k", conn)
        await cache.close_all()
        return kept, conn.closed_with, cache.open_count("k"), cache.idle_count("k")

    assert asyncio.run(scenario()) == (False, [True], 0, 0)


def test_the_fact_of_a_reused_session_says_so_and_its_wire_is_encrypted_from_its_first_line(world):
    world.stack.delivery.connections.idle = 30.0
    for n in range(2):
        submit(world, n)
        world.wait_messages("bob@beta.test", n + 1)
    first, second = world.events.facts(SmtpSession, lambda x: x.client == "smtp.alpha.test", count=2)
    assert (first.reused, second.reused) == (False, True)
    assert first.wire.tls == "starttls" and first.wire.tls_from > 0       # STARTTLS is in its lines
    assert (second.wire.tls, second.wire.tls_from) == ("starttls", 0)     # every line under TLS
    submissions = world.events.facts(SmtpSession, lambda x: x.client == "alice@alpha.test", count=2)
    assert not any(fact.reused for fact in submissions)                    # two connections
