"""Helpers shared by the web tests (test_web_api.py, the browser tests): clients with a CSRF token,
a web server in a thread, sending through the front door, headless Chromium (the ``browser`` and
``site`` fixtures: import them into a test module to use them) and a broken scenario."""
from __future__ import annotations

import re
import smtplib
import threading
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from flask import Flask
from flask.testing import FlaskClient

from simulator import nodes, web
from simulator.facts import NextHop, HopStep

CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def csrf_of(client: FlaskClient) -> str:
    """Open the page as a browser would and read the CSRF token from its meta tag."""
    page = client.get("/")
    assert page.status_code == 200, page.status_code
    match = CSRF_META.search(page.get_data(as_text=True))
    assert match, "no csrf meta tag"
    return match.group(1)


class Browserish:
    """A Flask test client that sends the CSRF header like the page's fetch() calls do."""

    def __init__(self, app: Flask, remote_addr: str = "127.0.0.1") -> None:
        self.client = app.test_client()
        self.client.environ_base["REMOTE_ADDR"] = remote_addr
        self.token = csrf_of(self.client)

    def post(self, url: str, body: Any, method: str = "POST"):
        return self.client.open(url, method=method, json=body, headers={"X-CSRF-Token": self.token})

    def put(self, url: str, body: Any):
        return self.post(url, body, method="PUT")

    def get(self, url: str, **kwargs):
        return self.client.get(url, **kwargs)


def submission_port(stack) -> int:
    for item in stack.listener_table():
        if item["service"] == "submission" and item["host"] == "front":
            return item["port"]
    raise KeyError("front-door submission port")


def send_mail(stack, *, sender: str = "alice@alpha.test", password: str = "alice", to: str = "bob@beta.test",
              subject: str = "Hello", text: str = "Hi Bob!\n", html: str | None = None) -> None:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    # local_hostname: never let smtplib ask the machine's resolver
    with smtplib.SMTP("127.0.0.1", submission_port(stack), local_hostname="tests.localhost", timeout=60) as smtp:
        smtp.login(sender, password)
        smtp.send_message(message)


def send_in_background(stack, **kwargs: Any) -> threading.Thread:
    """Send without blocking (in step mode the MSA answers only when the teacher releases the hop)."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            send_mail(stack, **kwargs)
        except BaseException as exc:   # reported by join_send
            errors.append(exc)
    thread = threading.Thread(target=run, daemon=True)
    thread.errors = errors  # type: ignore[attr-defined]
    thread.start()
    return thread


def join_send(thread: threading.Thread, timeout: float = 20.0) -> None:
    thread.join(timeout)
    assert not thread.is_alive(), "the SMTP client is still waiting"
    errors = thread.errors  # type: ignore[attr-defined]
    if errors:
        raise errors[0]


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what or predicate}")


def socket_events(received: list[dict]) -> list[dict]:
    """Flatten the "events" batches a Socket.IO test client received."""
    out: list[dict] = []
    for message in received:
        if message["name"] == "events":
            for batch in message["args"]:
                out.extend(batch["events"])
    return out


def publish_noise(bus, count: int) -> None:
    """Publish ``count`` facts that change nothing in the world (held-hop records, narrated like any
    other), for tests of paging, syncing and batching."""
    for i in range(count):
        bus.publish(NextHop(src=nodes.DNS, dst=nodes.DNS, step=HopStep.DNS_QUERY, host=f"h{i}.alpha.test",
                            domain="beta.test"))


def serve(stack, **test_config: Any) -> web.WebServer:
    return web.serve(stack, stack.config, test_config=test_config or None, quiet=True)


def start_director(config, scenario, *, interactive: bool = True, **kwargs: Any):
    """A lesson director (simulator.lesson.Director) with its world started; ``director.stop()`` ends it."""
    from simulator.lesson import Director
    director = Director(config, scenario, interactive=interactive, resume=kwargs.pop("resume", False), **kwargs)
    director.start()
    return director


def socket_messages(received: list[dict], name: str) -> list[Any]:
    """The payloads of every Socket.IO message ``name`` a test client received."""
    return [args[0] if args else None for message in received if message["name"] == name
            for args in [message["args"]]]


# -- headless Chromium --------------------------------------------------------------------------------
ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync"]


@pytest.fixture(scope="module")
def browser() -> Iterator:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def site(start_world):
    """A world and its web UI; yields (world, server)."""
    servers = []

    def start(scenario=None, **test_config):
        world = start_world(scenario)
        server = serve(world.stack, **test_config)
        servers.append(server)
        return world, server
    yield start
    for server in servers:
        server.shutdown()


# A scenario with a mistake of every kind a teacher's upload can have (the world must stay untouched).
BROKEN = """\
name: broken
title: {en: Broken, ru: Сломанный}
domains:
  alpha.test:
    users: {alice: alice}
    hosts:
      smtp.alpha.test: {role: msa}
steps:
  - jump: {over: the moon}
  - send: {from: alice@alpha.test, to: not-an-address}
  - fault: {melt: smtp.alpha.test}
  - expect: {delivered: nobody@nowhere.test}
  - say: {en: "Only English"}
"""
