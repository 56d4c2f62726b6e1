"""Mailflow in an application's test suite: the ``Mailflow`` helper and a pytest plugin.

    # conftest.py (or: pytest -p simulator.testing)
    pytest_plugins = ["simulator.testing"]

    def test_welcome_mail(mailflow):
        my_app.signup("dana@example.com", smtp=("127.0.0.1", mailflow.smtp_port))
        msg = mailflow.wait_for(subject="Welcome", to="dana@example.com")
        assert "activate" in mailflow.message(msg["id"])["text"]
        name, kind, data = mailflow.attachment(msg["id"], 0)
        mailflow.clear()

Theory of operation
-------------------
``Mailflow.start()`` builds a whole mail world in this process -- the scenario's domains, DNS, every
host's SMTP, the front door, the retrieval servers -- on free loopback ports, in a temporary data
directory, with the test API (``/api/v1``) alone on a web port the system picks, and returns once
everything listens (a few tenths of a second: README, "Test API").  Nothing is printed, and the
event log stays in memory (the hops are still there: ``trace()``).  ``stop()`` closes it all and
removes the temporary directory.

Every question goes through the test API over HTTP with the run's token, as it would to a Mailflow
started elsewhere (``Mailflow.connect(url, token)``, or ``Mailflow.from_ports_file(path)`` for
``app.py --api-only --ports-file FILE``): what a test proves with the fixture holds for the
program too.  ``send()`` speaks SMTP: to the app port when the world has one (no AUTH, any sender),
else to the front door's submission port, logged in as the sender (a user of the world).

The pytest plugin adds the ``mailflow`` fixture: one world per test.  Its options are the keywords
of ``Mailflow.start``, from the ``mailflow_options`` fixture (override it) and the marker
``@pytest.mark.mailflow(scenario=..., keep_messages=...)`` (registered by the plugin, so it needs the
plugin loaded before collection: ``-p simulator.testing`` or ``pytest_plugins`` in the rootdir's
conftest.py).
Two worlds never share a port or a directory, so tests may run in parallel (pytest-xdist).
"""
from __future__ import annotations

import dataclasses
import json
import mimetypes
import secrets
import shutil
import smtplib
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from .runtime import MailStack
    from .scenario import Scenario

__all__ = ["Attachment", "Mailflow", "MailflowError", "MailflowTimeout", "mailflow"]

HOST = "127.0.0.1"
SMTP_NAME = "mailflow-tests.localhost"      # our EHLO name: never ask the machine's resolver
DEFAULT_APP_SENDER = "webmaster@localhost"  # Django's DEFAULT_FROM_EMAIL
_FILTERS = ("from_", "to", "subject", "text", "since", "until", "trace", "mailbox", "id", "message_id")


class MailflowError(Exception):
    """The test API answered with an error: ``status`` and its ``message``."""

    def __init__(self, status: int, message: str, body: Any = None) -> None:
        super().__init__(f"{status}: {message}")
        self.status, self.message, self.body = status, message, body


class MailflowTimeout(MailflowError, AssertionError):
    """``wait_for`` saw too few matching messages in time (a failed expectation: an AssertionError)."""


class Attachment(NamedTuple):
    name: str
    type: str
    data: bytes


class Mailflow:
    """A running Mailflow, spoken to through its test API (and SMTP for ``send``)."""

    def __init__(self, api_url: str, token: str, *, timeout: float = 30.0) -> None:
        self.api_url = api_url.rstrip("/") + "/"
        self.token = token
        self.timeout = timeout
        self.data_dir: Path | None = None
        self.stack: "MailStack | None" = None            # set when this process runs the world
        self._server: Any = None
        self._owned_dir: Path | None = None
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))   # loopback: no proxy
        self._info: dict[str, Any] | None = None

    # -- starting and connecting -------------------------------------------------------------------
    @classmethod
    def start(cls, scenario: "Scenario | str | Path | None" = None, *, data_dir: Path | str | None = None,
              tls: bool = True, outside: str | None = "catch", keep_messages: int | None = None, keep_for: float | None = None,
              max_message_size: int | None = None, token: str | None = None, event_log: bool = False,
              seed: int | None = None, **config: Any) -> "Mailflow":
        """A new world in this process on free ports; returns when it listens.

        ``scenario``: a Scenario, a file, YAML text, or None for the default world.  ``data_dir``:
        where its mail lives (default: a temporary directory, removed by ``stop``).  ``outside``:
        mail for domains outside the sandbox is caught (``"catch"``, the default here: any address
        works), bounced (``"bounce"``), or as the scenario says (None).  ``keep_messages`` and
        ``keep_for``: retention per mailbox.  Other keywords go to :class:`simulator.config.Config`
        as they are (``hop_delay``, ``max_recipients``, ``app_auth`` ...).
        """
        from . import web
        from .bus import EventBus
        from .config import Config, Ports, QueuePolicy
        from .runtime import MailStack
        from .store import Retention
        from .apitoken import write_token

        world = _scenario(scenario)
        if outside is not None:             # the scenario says it too: whoever reads either agrees
            from .scenario.model import Outside
            world = dataclasses.replace(world, outside=Outside(outside))
        retention = Retention(keep_messages, keep_for)
        owned = None
        if data_dir is None:
            owned = data_dir = Path(tempfile.mkdtemp(prefix="mailflow-"))
        data_dir = Path(data_dir).resolve()
        token = token or secrets.token_urlsafe(24)
        settings: dict[str, Any] = dict(tls=tls, seed=seed, queue=QueuePolicy(
            first_retry=0.2, backoff=2.0, max_interval=1.0, lifetime=20.0, connect_timeout=2.0,
            command_timeout=10.0))
        if max_message_size is not None:
            settings["max_message_size"] = max_message_size
        known = {f.name for f in dataclasses.fields(Config)}
        for name, value in (("keep_messages", keep_messages), ("keep_for", keep_for), ("outside", outside)):
            if name in known:
                settings[name] = value
        settings.update(config)
        last: OSError | None = None
        for _attempt in range(3):           # a port taken meanwhile by another run: new ports
            cfg = Config(data_dir=data_dir, ports=Ports.free(), **settings)
            bus = EventBus(log_path=data_dir / "logs" / f"events-{int(time.time())}.jsonl" if event_log else None)
            stack = MailStack(cfg, world, bus=bus)
            stack.store.retention = retention
            try:
                stack.start()
            except OSError as err:
                last = err
                continue
            try:
                server = web.serve(stack, cfg, api_only=True, quiet=True, test_config={"TEACHER_TOKEN": token})
            except BaseException:
                stack.stop()
                raise
            write_token(data_dir, token)
            flow = cls(server.url + "api/v1/", token)
            flow.stack, flow._server, flow._owned_dir, flow.data_dir = stack, server, owned, data_dir
            return flow
        if owned is not None:
            shutil.rmtree(owned, ignore_errors=True)
        raise last or OSError("could not start the mail world")

    @classmethod
    def connect(cls, api_url: str, token: str | None = None, *, token_file: Path | str | None = None) -> "Mailflow":
        """A Mailflow running elsewhere (``app.py``): its API's address and token (or token file)."""
        if token is None:
            if token_file is None:
                raise ValueError("give the token or the file it is in (<data>/api-token)")
            token = Path(token_file).read_text(encoding="ascii").strip()
        return cls(api_url, token)

    @classmethod
    def from_ports_file(cls, path: Path | str) -> "Mailflow":
        """The Mailflow that wrote this ``--ports-file`` (its API address and token file are in it)."""
        ports = json.loads(Path(path).read_text(encoding="utf-8"))
        flow = cls.connect(ports["api"], token_file=ports["token_file"])
        flow.data_dir = Path(ports["data"])
        return flow

    def stop(self) -> None:
        """Stop the world this process started (and remove its temporary directory); idempotent."""
        server, stack, self._server, self.stack = self._server, self.stack, None, None
        if server is not None:
            server.shutdown()
        if stack is not None:
            stack.stop()
        if self._owned_dir is not None:
            shutil.rmtree(self._owned_dir, ignore_errors=True)
            self._owned_dir = None

    def __enter__(self) -> "Mailflow":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- where things are ----------------------------------------------------------------------------
    def info(self, *, fresh: bool = False) -> dict[str, Any]:
        """``GET /api/v1``: the users (with passwords), mailboxes, listeners and limits."""
        if self._info is None or fresh:
            self._info = self._json("GET", "")
        return self._info

    @property
    def ports(self) -> dict[str, int]:
        """The front door's ports by service (``submission``, ``imap``, ``pop3`` ... and ``app``)."""
        return {item["service"]: item["port"] for item in self.info()["listeners"] if item["host"] == "front"}

    @property
    def users(self) -> dict[str, str]:
        """Every user of the world and its password."""
        return {user["address"]: user["password"] for user in self.info()["users"]}

    @property
    def host(self) -> str:
        return HOST

    @property
    def smtp_port(self) -> int:
        """Where an application sends: the app port (no AUTH), else the front door's submission port."""
        ports = self.ports
        return ports["app"] if "app" in ports else ports["submission"]

    # -- sending -----------------------------------------------------------------------------------------
    def send(self, to: str | Iterable[str], subject: str = "", body: str = "", *, sender: str | None = None,
             html: str | None = None, cc: Iterable[str] = (), bcc: Iterable[str] = (),
             attachments: Iterable[tuple[str, bytes] | tuple[str, bytes, str]] = (),
             headers: dict[str, str] | None = None) -> str:
        """Compose and send a message over SMTP; returns its Message-ID.  ``attachments`` are
        ``(name, data)`` or ``(name, data, "type/subtype")``."""
        rcpts = [to] if isinstance(to, str) else list(to)
        message = EmailMessage()
        message["From"] = sender or self._default_sender()
        message["To"] = ", ".join(rcpts)
        if cc := list(cc):
            message["Cc"] = ", ".join(cc)
        message["Subject"] = subject
        message["Date"] = formatdate()
        message["Message-ID"] = make_msgid(domain="mailflow.localhost")     # no domain: getfqdn()
        for name, value in (headers or {}).items():
            message[name] = value
        message.set_content(body)
        if html is not None:
            message.add_alternative(html, subtype="html")
        for item in attachments:
            name, data = item[0], item[1]
            kind = item[2] if len(item) > 2 else (mimetypes.guess_type(name)[0] or "application/octet-stream")
            maintype, _, subtype = kind.partition("/")
            message.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
        self.send_message(message, recipients=[*rcpts, *cc, *bcc])
        return str(message["Message-ID"])

    def send_message(self, message: EmailMessage, *, sender: str | None = None,
                     recipients: Iterable[str] | None = None) -> None:
        """Send a message you built (envelope from its header unless given)."""
        port = self.smtp_port
        login = "app" not in self.ports
        envelope_from = sender or _address(str(message["From"] or "")) or self._default_sender()
        with smtplib.SMTP(HOST, port, local_hostname=SMTP_NAME, timeout=self.timeout) as smtp:
            if login:
                password = self.users.get(envelope_from.lower())
                if password is None:
                    raise ValueError(f"without an app port the sender must be a user of the world "
                                     f"({', '.join(self.users)}), not {envelope_from!r}")
                smtp.login(envelope_from, password)
            smtp.send_message(message, from_addr=envelope_from,
                              to_addrs=list(recipients) if recipients is not None else None)

    def _default_sender(self) -> str:
        if "app" in self.ports:
            return DEFAULT_APP_SENDER
        return next(iter(self.users))

    # -- reading -----------------------------------------------------------------------------------------
    def messages(self, q: str | None = None, *, limit: int = 1000, offset: int = 0, **filters: Any) -> list[dict]:
        """Summaries of the messages matching (all of them without a query), newest first."""
        return self._json("GET", "messages", _params(q, filters, limit=limit, offset=offset))["messages"]

    def wait_for(self, q: str | None = None, *, timeout: float = 10.0, count: int = 1, **filters: Any) -> dict:
        """The newest message matching, once ``count`` match (those already there count too);
        :class:`MailflowTimeout` (an AssertionError) after ``timeout`` seconds."""
        params = _params(q, filters, timeout=timeout, count=count)
        try:
            return self._json("GET", "wait", params, timeout=timeout + self.timeout)["message"]
        except MailflowError as err:
            if err.status != 408:
                raise
            seen = [(m["mailbox"], m["subject"]) for m in self.messages(limit=20)]
            raise MailflowTimeout(408, f"{err.message}; the newest messages (mailbox, subject): {seen}",
                                  err.body) from None

    def message(self, message_id: str) -> dict:
        """One message: its summary, header fields, text, HTML, attachments and DSN report."""
        return self._json("GET", f"messages/{_quoted(message_id)}")

    def raw(self, message_id: str) -> bytes:
        """The message's source as stored."""
        return self._request("GET", f"messages/{_quoted(message_id)}/raw")[1]

    def attachment(self, message_id: str, which: int | str = 0) -> Attachment:
        """An attachment by its ``index`` (from ``message()``), by its place among the attachments
        (0, 1 ... when no attachment has that index) or by its file name."""
        listed = self.message(message_id)["attachments"]
        chosen = next((a for a in listed if a["index"] == which or a["name"] == which), None)
        if chosen is None and isinstance(which, int) and 0 <= which < len(listed):
            chosen = listed[which]
        if chosen is None:
            raise MailflowError(404, f"no attachment {which!r}; the message has "
                                     f"{[(a['index'], a['name']) for a in listed]}")
        headers, data = self._request("GET", f"messages/{_quoted(message_id)}/parts/{chosen['index']}")
        return Attachment(chosen["name"], headers.get_content_type(), data)

    def trace(self, message_id: str) -> list[dict]:
        """The events of the message's journey (its trace id), oldest first."""
        return self._json("GET", f"messages/{_quoted(message_id)}/trace")["events"]

    def mailboxes(self) -> list[dict]:
        return self._json("GET", "mailboxes")["mailboxes"]

    # -- deleting -----------------------------------------------------------------------------------------
    def delete(self, message_id: str) -> None:
        self._json("DELETE", f"messages/{_quoted(message_id)}")

    def clear(self, mailbox: str | None = None) -> int:
        """Delete every message (or a mailbox's); how many went."""
        path = f"mailboxes/{_quoted(mailbox)}" if mailbox else "messages"
        return int(self._json("DELETE", path)["deleted"])

    # -- HTTP ----------------------------------------------------------------------------------------------
    def _json(self, method: str, path: str, params: dict[str, Any] | None = None, *,
              timeout: float | None = None) -> Any:
        _headers, data = self._request(method, path, params, timeout=timeout)
        return json.loads(data)

    def _request(self, method: str, path: str, params: dict[str, Any] | None = None, *,
                 timeout: float | None = None) -> tuple[Any, bytes]:
        url = self.api_url + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        request = urllib.request.Request(url, method=method, headers={"Authorization": f"Bearer {self.token}"})
        try:
            with self._opener.open(request, timeout=timeout or self.timeout) as response:
                return response.headers, response.read()
        except urllib.error.HTTPError as err:
            body = err.read()
            try:
                parsed = json.loads(body)
                message = parsed.get("error", "") if isinstance(parsed, dict) else str(parsed)
            except ValueError:
                parsed, message = None, body.decode("utf-8", "replace")[:500]
            raise MailflowError(err.code, message, parsed) from None


def _params(q: str | None, filters: dict[str, Any], **extra: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"q": q} if q else {}
    for name, value in filters.items():
        if name not in _FILTERS:
            raise TypeError(f"unknown filter {name!r}; known: {', '.join(_FILTERS)}")
        if value is not None:
            params[name.rstrip("_")] = value
    params.update(extra)
    return params


def _quoted(value: str) -> str:
    return urllib.parse.quote(value, safe="@")


def _address(header: str) -> str:
    from email.utils import getaddresses
    found = getaddresses([header])
    return found[0][1] if found and found[0][1] else ""


def _scenario(scenario: "Scenario | str | Path | None") -> "Scenario":
    from .scenario import DEFAULT_SCENARIO, Scenario, load_scenario, parse_scenario
    if scenario is None:
        return load_scenario(DEFAULT_SCENARIO)
    if isinstance(scenario, Scenario):
        return scenario
    if isinstance(scenario, str) and "\n" in scenario:
        return parse_scenario(scenario, "mailflow-test.yaml")
    return load_scenario(scenario)


# -- the pytest plugin ---------------------------------------------------------------------------------
try:
    import pytest
except ImportError:                 # Mailflow works without pytest; the fixture needs it
    pytest = None                   # type: ignore[assignment]

if pytest is not None:
    def pytest_configure(config: Any) -> None:
        config.addinivalue_line("markers", "mailflow(**options): options of the mailflow fixture's world "
                                           "(the keywords of simulator.testing.Mailflow.start)")

    @pytest.fixture
    def mailflow_options() -> dict[str, Any]:
        """The keywords of ``Mailflow.start`` for the ``mailflow`` fixture: override this fixture (in a
        conftest.py, a module, or by ``@pytest.mark.parametrize("mailflow_options", [...])``)."""
        return {}

    @pytest.fixture
    def mailflow(request: Any, tmp_path: Path, mailflow_options: dict[str, Any]) -> Iterator[Mailflow]:
        """A mail world of its own for this test, on free ports, with its test API (``Mailflow``).
        Options: the ``mailflow_options`` fixture, then the ``@pytest.mark.mailflow(...)`` marker."""
        marker = request.node.get_closest_marker("mailflow")
        options = {**mailflow_options, **(marker.kwargs if marker is not None else {})}
        options.setdefault("data_dir", tmp_path / "mailflow")
        flow = Mailflow.start(**options)
        try:
            yield flow
        finally:
            flow.stop()
