"""Shared fixtures: a whole mail world on free loopback ports in a temporary data directory."""
from __future__ import annotations

import random
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from simulator.bus import EventBus
from simulator import config
from simulator.config import Config, Ports, QueuePolicy
from simulator.events import Event
from simulator.runtime import MailStack
from simulator.scenario import DEFAULT_SCENARIO, Scenario, load_scenario, parse_scenario

FAST_QUEUE = QueuePolicy(first_retry=0.3, backoff=1.5, max_interval=1.0, lifetime=30.0,
                         connect_timeout=2.0, command_timeout=5.0)


_rng = random.Random()


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
            config = given or make_config(tmp_path / "data", **overrides)
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
