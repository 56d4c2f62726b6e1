"""Shared fixtures: a whole mail world on free loopback ports in a temporary data directory.

Rule 3 (issue 12), nothing leaves the sandbox: this process watches its own sockets with
:mod:`simulator.netaudit` (an audit hook: every connect, sendto and name lookup; one off loopback is
refused), and ``MAILFLOW_NET_AUDIT`` makes every ``app.py`` the tests start do the same and log it.
An autouse fixture fails the test during which any of them went off loopback, and the session fails
if anything did between tests.
"""
from __future__ import annotations

import os
import random
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from simulator.bus import EventBus
from simulator import config, netaudit
from simulator.config import Config, Ports, QueuePolicy
from simulator.events import Event
from simulator.runtime import MailStack
from simulator.scenario import DEFAULT_SCENARIO, Scenario, load_scenario, parse_scenario

FAST_QUEUE = QueuePolicy(first_retry=0.3, backoff=1.5, max_interval=1.0, lifetime=30.0,
                         connect_timeout=2.0, command_timeout=5.0)


_rng = random.Random()

# Each pytest-xdist worker (gw0, gw1, ...) picks free ports in its own slice of 20000-32000, so two
# workers never race for one port between the check and the bind (scripts/test runs two).
_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if _worker.startswith("gw") and _worker[2:].isdigit():
    _count = max(int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")), 1)
    _slice = 12000 // _count
    _low = 20000 + int(_worker[2:]) % _count * _slice
    os.environ.setdefault(config.PORT_RANGE_ENV, f"{_low}-{_low + _slice}")

# -- rule 3: nothing leaves the sandbox ---------------------------------------------------------------
NET_AUDIT_ABORT = True          # refuse, not only record, an attempt off loopback in this process
netaudit.install(abort=NET_AUDIT_ABORT)


class _NetAudit:
    """This process's violations (in memory) and its app.py children's (the shared log file)."""

    def __init__(self, log_path: Path) -> None:
        self.log_path, self._offset, self._mine = log_path, 0, 0
        self.between: list[netaudit.Violation] = []      # seen outside any test

    def new(self) -> list[netaudit.Violation]:
        mine = netaudit.violations()
        logged, self._offset = netaudit.read_log(self.log_path, self._offset)
        children = [v for v in logged if v.pid != os.getpid()]     # an in-process app.main() logs there too
        found, self._mine = mine[self._mine:] + children, len(mine)
        return found


def _described(found: list[netaudit.Violation]) -> str:
    return "; ".join(f"{v.event} {v.target} (pid {v.pid}, {v.where})" for v in found[:10])


@pytest.fixture(scope="session", autouse=True)
def _net_audit(tmp_path_factory) -> Iterator[_NetAudit]:
    log_path = tmp_path_factory.mktemp("netaudit") / "violations.jsonl"
    saved = os.environ.get(netaudit.ENV)
    os.environ[netaudit.ENV] = str(log_path)        # inherited by every app.py the tests start
    audit = _NetAudit(log_path)
    audit.between += audit.new()                    # before the first test: at import time
    yield audit
    if saved is None:
        os.environ.pop(netaudit.ENV, None)
    else:
        os.environ[netaudit.ENV] = saved
    late = audit.between + audit.new()
    assert not late, f"went off loopback outside any test: {_described(late)}"


@pytest.fixture(autouse=True)
def _nothing_leaves_the_sandbox(_net_audit: _NetAudit) -> Iterator[None]:
    _net_audit.between += _net_audit.new()
    yield
    found = _net_audit.new()
    assert not found, f"this test went off loopback ({len(found)}): {_described(found)}"


def free_port() -> int:
    return config.free_port(_rng)


def fresh_ports() -> Ports:
    return Ports.free(_rng)


class Recorder:
    """Collects events from the bus; waits for the ones a test expects."""

    def __init__(self, bus: EventBus) -> None:
        self.events: list[Event] = []
        self._cond = threading.Condition()
        bus.subscribe(self._add)

    def _add(self, event: Event) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[Event], bool], timeout: float = 10.0, count: int = 1) -> list[Event]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [e for e in self.events if predicate(e)]
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    kinds = [(e.kind, e.status, e.words()["summary"]) for e in self.events]
                    raise AssertionError(f"timed out waiting for events; got: {kinds}")
                self._cond.wait(remaining)

    def facts(self, cls: type, predicate: Callable[[Any], bool] = lambda fact: True, timeout: float = 10.0,
              count: int = 1) -> list[Any]:
        """Wait for ``count`` facts of class ``cls`` that satisfy ``predicate``; return them all."""
        found = self.wait_for(lambda e: isinstance(e.fact, cls) and predicate(e.fact), timeout, count)
        return [e.fact for e in found]

    def kinds(self, trace: str | None = None) -> list[str]:
        return [e.kind for e in self.events if trace is None or e.trace == trace]


class World:
    """A running MailStack plus what tests need to talk to it."""

    def __init__(self, stack: MailStack, recorder: Recorder) -> None:
        self.stack, self.events = stack, recorder

    def port(self, service: str, host: str = "front") -> int:
        for item in self.stack.listeners:
            if item.service == service and item.host == host:
                return item.port
        raise KeyError((service, host))

    def address(self, host: str) -> str:
        return self.stack.world.hosts[host].address

    def maildir(self, address: str) -> Path:
        local, _, domain = address.partition("@")
        return self.stack.config.data_dir / "mail" / domain / local

    def messages(self, address: str) -> list[bytes]:
        box = self.maildir(address)
        return [p.read_bytes() for sub in ("new", "cur") if (box / sub).is_dir()
                for p in sorted((box / sub).iterdir())]

    def wait_queue_empty(self, timeout: float = 10.0) -> None:
        """Wait until every host's queue is empty (nothing left to deliver, relay or bounce)."""
        deadline = time.monotonic() + timeout
        while self.stack.queue_snapshot():
            if time.monotonic() > deadline:
                raise AssertionError(f"the queues still hold {self.stack.queue_snapshot()}")
            time.sleep(0.05)

    def wait_messages(self, address: str, count: int = 1, timeout: float = 10.0) -> list[bytes]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.messages(address)
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"{address} has {len(self.messages(address))} messages, wanted {count}")


def make_config(tmp: Path, **overrides) -> Config:
    values = dict(data_dir=tmp, ports=fresh_ports(), queue=FAST_QUEUE, seed=7)
    values.update(overrides)
    return Config(**values)


@pytest.fixture
def start_world(tmp_path: Path) -> Iterator[Callable[..., World]]:
    stacks: list[MailStack] = []

    def start(scenario: Scenario | str | Path | None = None, **overrides) -> World:
        if scenario is None:
            scenario = load_scenario(DEFAULT_SCENARIO)
        elif isinstance(scenario, str) and "\n" in scenario:
            scenario = parse_scenario(scenario, "test.yaml")
        elif not isinstance(scenario, Scenario):
            scenario = load_scenario(scenario)
        given = overrides.pop("config", None)
        for attempt in range(3):        # a port taken meanwhile by someone else: new ports, once more
            # One Mailflow per data directory (a stack locks its own): a test's second world gets its own.
            data = tmp_path / ("data" if not stacks else f"data{len(stacks)}")
            config = given or make_config(data, **overrides)
            bus = EventBus(log_path=config.data_dir / "logs" / "events.jsonl")
            recorder = Recorder(bus)
            stack = MailStack(config, scenario, bus=bus)
            try:
                stack.start()
            except OSError:
                if given is not None or attempt == 2:
                    raise
                continue
            stacks.append(stack)
            return World(stack, recorder)
        raise AssertionError("unreachable")

    yield start
    for stack in stacks:
        stack.stop()


@pytest.fixture
def world(start_world) -> World:
    return start_world()


@pytest.fixture
def reads(monkeypatch) -> list[str]:
    """Every whole-message read of the mail store (its size count and ``read_message``), by name or
    ``read <uid>``: the store tests prove what a scan or a FETCH did not have to read."""
    from simulator.store import uids
    from simulator.store.mailstore import MailStore
    seen: list[str] = []
    count = uids.file_crlf_size
    monkeypatch.setattr(uids, "file_crlf_size", lambda p: seen.append(Path(p).name) or count(p))
    original = MailStore.read_message

    def read(self, address, folder, uid):
        seen.append(f"read {uid}")
        return original(self, address, folder, uid)
    monkeypatch.setattr(MailStore, "read_message", read)
    return seen
