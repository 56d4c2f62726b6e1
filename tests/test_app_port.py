"""The app port: an application's mailer against the sandbox, as a developer moving from Mailpit would try it.

Django's own SMTP backend (settings: only ``EMAIL_HOST`` and ``EMAIL_PORT``, and ``EMAIL_USE_TLS`` with
``SSL_CERT_FILE`` naming the sandbox's certificate) and smtplib without AUTH from webmaster@localhost;
the AUTH modes; the limits at every SMTP door; the outside world refused while it bounces; and no
connection off loopback, watched with an audit hook (PEP 578) on the sockets of this process.
"""
from __future__ import annotations

import dataclasses
import email
import email.policy
import ipaddress
import smtplib
import sys
import threading

import pytest

from simulator import nodes, tls
from simulator.facts import HopStep, SmtpOutcome, SmtpSession, TlsMode
from simulator.protocols.smtp import APP
from simulator.protocols.throttle import ManualTime
from tests.conftest import fresh_ports

HELO = "app.test.invalid"        # smtplib and Django never ask the machine's resolver for their own name


# -- every socket this process opens, watched (an audit hook cannot be removed: it records when asked) --
class _Sockets:
    def __init__(self) -> None:
        self.on = False
        self.seen: list[tuple[str, object]] = []
        self.lock = threading.Lock()

    def __call__(self, event: str, args: tuple) -> None:
        if not self.on or event not in ("socket.connect", "socket.sendto", "socket.getaddrinfo"):
            return
        target = args[1] if event != "socket.getaddrinfo" else args[0]
        with self.lock:
            self.seen.append((event, target))

    def off_loopback(self) -> list[tuple[str, object]]:
        with self.lock:
            return [(event, target) for event, target in self.seen if not _loopback(target)]


def _loopback(target: object) -> bool:
    host = target[0] if isinstance(target, tuple) else target
    if isinstance(host, bytes):
        host = host.decode()
    if not isinstance(host, str):
        return True                      # a Unix socket: not the network
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False                     # a name: the machine's resolver would be asked


_SOCKETS = _Sockets()
sys.addaudithook(_SOCKETS)


@pytest.fixture
def sockets():
    _SOCKETS.seen.clear()
    _SOCKETS.on = True
    yield _SOCKETS
    _SOCKETS.on = False


# -- Django, configured once in this process with its defaults -------------------------------------
@pytest.fixture
def django_mail():
    import django                       # a test requirement (requirements-test.txt)
    from django.conf import settings
    from django.core.mail.utils import DNS_NAME
    from django.test.utils import override_settings

    if not settings.configured:
        settings.configure()            # Django's defaults: EMAIL_BACKEND is the SMTP backend
    DNS_NAME._fqdn = HELO               # its cached host name, so socket.getfqdn() is never called
    assert django.VERSION >= (4, 2)

    def use(port: int, **more):
        return override_settings(EMAIL_HOST="127.0.0.1", EMAIL_PORT=port, **more)
    return use


def _parsed(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)


def _attachments(message) -> dict[str, tuple[str, bytes]]:
    return {part.get_filename(): (part.get_content_type(), part.get_payload(decode=True))
            for part in message.iter_attachments()}


def _app_sessions(world, count: int = 1) -> list[SmtpSession]:
    return world.events.facts(SmtpSession, lambda f: f.src == APP and f.outcome is SmtpOutcome.SUBMITTED,
                              count=count)


# ---------------------------------------------------------------------------------------------------
def test_smtplib_without_auth_from_webmaster_at_localhost(start_world, sockets):
    world = start_world()
    port = world.port("app")
    with smtplib.SMTP("127.0.0.1", port, local_hostname=HELO) as client:
        client.ehlo()
        assert client.has_extn("starttls") and client.has_extn("size") and client.has_extn("auth")
        refused = client.sendmail("webmaster@localhost", ["bob@beta.test", "carol@alpha.test"],
                                  b"From: webmaster@localhost\r\nTo: bob@beta.test\r\nSubject: plain app\r\n\r\n"
                                  b"Sent by an application.\r\n")
    assert refused == {}
    [raw] = world.wait_messages("bob@beta.test")
    world.wait_messages("carol@alpha.test")
    assert _parsed(raw)["Subject"] == "plain app" and b"Sent by an application." in raw
    assert _parsed(raw)["Return-Path"] == "<webmaster@localhost>"
    assert _parsed(raw)["Date"] and _parsed(raw)["Message-ID"]        # added by the MSA, as for submission
    [session] = _app_sessions(world)
    first_msa = world.stack.world.submission_host("alpha.test").name  # the sender's domain is not in the sandbox
    assert session.dst == nodes.mta(first_msa) and session.host == first_msa and session.port == port
    assert session.client == "" and session.via is None and set(session.rcpts) == {"bob@beta.test", "carol@alpha.test"}
    hops = world.events.wait_for(lambda e: e.kind == "smtp.session" and e.trace == session.trace
                                 and e.dst == "mta:mx1.beta.test")
    assert hops and hops[0].fact.outcome is SmtpOutcome.RELAYED
    world.wait_queue_empty()
    assert any(event == "socket.connect" for event, _ in sockets.seen)      # the watch sees the sockets
    assert sockets.off_loopback() == []


def test_the_senders_domain_chooses_its_own_msa(start_world):
    world = start_world()
    with smtplib.SMTP("127.0.0.1", world.port("app"), local_hostname=HELO) as client:
        client.sendmail("bob@beta.test", ["alice@alpha.test"], b"Subject: from beta\r\n\r\nhi\r\n")
    [session] = _app_sessions(world)
    assert session.dst == nodes.mta("smtp.beta.test")
    world.wait_messages("alice@alpha.test")


def test_django_send_mail_arrives_whole(start_world, django_mail, sockets):
    from django.core.mail import send_mail

    world = start_world()
    text = "Hello Bob,\nthis line is 8-bit: привет, naïve café.\n.\nA line with only a dot, above.\n"
    with django_mail(world.port("app")):
        sent = send_mail("Welcome to the site", text, None, ["bob@beta.test"])
    assert sent == 1
    [raw] = world.wait_messages("bob@beta.test")
    message = _parsed(raw)
    assert message["Subject"] == "Welcome to the site" and message["From"] == "webmaster@localhost"
    assert message["To"] == "bob@beta.test"
    assert message.get_content().replace("\r\n", "\n") == text           # the wire's CRLF, the same text
    assert message["Received"] and f"from {HELO}" in str(message.get_all("Received")[-1])
    world.wait_queue_empty()
    assert sockets.off_loopback() == []


def test_django_email_message_with_attachments_arrives_whole(start_world, django_mail):
    from django.core.mail import EmailMultiAlternatives

    world = start_world()
    blob = bytes(range(256)) * 1200                     # 300 KiB of every byte value
    notes = "Ünïcödé notes\r\nwith CRLF\r\n".encode("utf-8")
    with django_mail(world.port("app")):
        mail = EmailMultiAlternatives("Report", "See the attachments.", "reports@example.org",
                                      ["bob@beta.test"], cc=["carol@alpha.test"])
        mail.attach_alternative("<p>See the <b>attachments</b>.</p>", "text/html")
        mail.attach("data.bin", blob, "application/octet-stream")
        mail.attach("notes.txt", notes, "application/octet-stream")
        mail.attach("table.csv", "a,b\n1,2\n", "text/csv")
        assert mail.send() == 1
    for address in ("bob@beta.test", "carol@alpha.test"):
        [raw] = world.wait_messages(address)
        message = _parsed(raw)
        assert message["Subject"] == "Report" and message["Cc"] == "carol@alpha.test"
        assert message.get_body(("plain",)).get_content().rstrip() == "See the attachments."
        assert message.get_body(("html",)).get_content().rstrip() == "<p>See the <b>attachments</b>.</p>"
        files = _attachments(message)
        assert files["data.bin"] == ("application/octet-stream", blob)
        assert files["notes.txt"] == ("application/octet-stream", notes)
        assert files["table.csv"][0] == "text/csv" and files["table.csv"][1].replace(b"\r\n", b"\n") == b"a,b\n1,2\n"
    [session] = _app_sessions(world)
    assert session.dst == nodes.mta("smtp.alpha.test")      # example.org is not in the sandbox: the first MSA


def test_django_mail_to_the_outside_world_is_caught_whole(start_world, django_mail, sockets):
    """Django's defaults apart from host and port, a customer outside the sandbox, `outside: catch`:
    the message lands whole in the outside world's catch-all mailbox, and nothing leaves the machine."""
    from django.core.mail import EmailMessage

    world = start_world(outside="catch")
    blob = bytes(range(256)) * 64
    with django_mail(world.port("app")):
        mail = EmailMessage("Your invoice", "Invoice attached.\n", None, ["customer@example.com"])
        mail.attach("invoice.pdf", blob, "application/pdf")
        assert mail.send() == 1
    [raw] = world.wait_messages("outside@mailflow.invalid")
    message = _parsed(raw)
    assert message["Subject"] == "Your invoice" and message["To"] == "customer@example.com"
    assert message["X-Original-To"] == "customer@example.com"
    assert _attachments(message)["invoice.pdf"] == ("application/pdf", blob)
    assert message.get_body(("plain",)).get_content().replace("\r\n", "\n") == "Invoice attached.\n"
    assert sockets.off_loopback() == []


def test_django_over_starttls_trusting_the_sandbox_certificate(start_world, django_mail, monkeypatch):
    from django.core.mail import send_mail

    world = start_world()
    cert, _ = tls.ensure_certificate(world.stack.config.data_dir)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))            # the README's trust setting for Python
    with django_mail(world.port("app"), EMAIL_USE_TLS=True):
        assert send_mail("Over TLS", "encrypted on the way in", "shop@gamma.test", ["bob@beta.test"]) == 1
    [raw] = world.wait_messages("bob@beta.test")
    assert _parsed(raw).get_content().rstrip() == "encrypted on the way in"
    [session] = _app_sessions(world)
    assert session.wire.tls is TlsMode.STARTTLS and session.dst == nodes.mta("smtp.gamma.test")
    assert b"with ESMTPS" in raw


def test_app_auth_any_accepts_every_login(start_world):
    world = start_world()
    with smtplib.SMTP("127.0.0.1", world.port("app"), local_hostname=HELO) as client:
        assert client.login("whoever", "whatever")[0] == 235
        client.sendmail("noreply@shop.example", ["bob@beta.test"], b"Subject: with a login\r\n\r\nx\r\n")
    [raw] = world.wait_messages("bob@beta.test")
    assert b"with ESMTPA" in raw


def test_app_auth_check_asks_the_world(start_world):
    world = start_world(app_auth="check")
    world.stack.throttle.use_time(ManualTime())          # the login throttle's waits are not this test's
    with smtplib.SMTP("127.0.0.1", world.port("app"), local_hostname=HELO) as client:
        with pytest.raises(smtplib.SMTPAuthenticationError) as bad:
            client.login("alice@alpha.test", "wrong")
        assert bad.value.smtp_code == 535
    with smtplib.SMTP("127.0.0.1", world.port("app"), local_hostname=HELO) as client:
        assert client.login("alice@alpha.test", "alice")[0] == 235
        client.sendmail("webmaster@localhost", ["bob@beta.test"], b"Subject: checked\r\n\r\nx\r\n")
    with smtplib.SMTP("127.0.0.1", world.port("app"), local_hostname=HELO) as client:   # still not required
        client.sendmail("webmaster@localhost", ["bob@beta.test"], b"Subject: no login\r\n\r\nx\r\n")
    world.wait_messages("bob@beta.test", count=2)


def test_app_auth_off_does_not_offer_it(start_world):
    world = start_world(app_auth="off")
    with smtplib.SMTP("127.0.0.1", world.port("app"), local_hostname=HELO) as client:
        client.ehlo()
        assert not client.has_extn("auth")
        assert client.docmd("AUTH", "PLAIN AGFAAGI=")[0] == 502
        client.sendmail("webmaster@localhost", ["bob@beta.test"], b"Subject: no auth\r\n\r\nx\r\n")
    world.wait_messages("bob@beta.test")


def test_outside_domains_refused_while_the_outside_world_bounces(start_world, sockets):
    world = start_world(outside="bounce")
    with smtplib.SMTP("127.0.0.1", world.port("app"), local_hostname=HELO) as client:
        client.ehlo()
        assert client.mail("webmaster@localhost")[0] == 250
        code, reply = client.rcpt("customer@example.com")
        assert code == 550 and reply.startswith(b"5.7.1 ") and b"outside the sandbox" in reply
        code, reply = client.rcpt("nobody@beta.test")
        assert code == 550 and reply.startswith(b"5.1.1 ")
        assert client.rcpt("bob@beta.test")[0] == 250
        assert client.data(b"Subject: only bob\r\n\r\nx\r\n")[0] == 250
    [raw] = world.wait_messages("bob@beta.test")
    assert _parsed(raw)["Subject"] == "only bob"
    world.wait_queue_empty()
    assert world.stack.outside() == "bounce"
    assert sockets.off_loopback() == []


def test_outside_domains_taken_when_the_outside_world_catches(start_world, sockets):
    world = start_world(outside="catch")
    with smtplib.SMTP("127.0.0.1", world.port("app"), local_hostname=HELO) as client:
        assert client.sendmail("webmaster@localhost", ["customer@example.com"],
                               b"Subject: to a customer\r\n\r\nx\r\n") == {}
    [session] = _app_sessions(world)
    assert session.rcpts == ("customer@example.com",)
    world.wait_queue_empty(timeout=20)           # whatever the world does with it, it never leaves the machine
    assert sockets.off_loopback() == []


# -- limits at every door ----------------------------------------------------------------------------
def test_recipient_limit_at_every_door(start_world):
    world = start_world(max_recipients=2)
    rcpts = ["alice@alpha.test", "carol@alpha.test", "alice@alpha.test"]     # mx.alpha.test's own users
    doors = [("app", "127.0.0.1", world.port("app"), None),
             ("submission", "127.0.0.1", world.port("submission"), ("alice@alpha.test", "alice")),
             ("mx", world.address("mx.alpha.test"), world.port("mx", "mx.alpha.test"), None)]
    for door, address, port, login in doors:
        with smtplib.SMTP(address, port, local_hostname=HELO) as client:
            client.ehlo()
            if login:
                client.login(*login)
            client.mail("someone@beta.test" if door == "mx" else "alice@alpha.test")   # an MX refuses forged locals
            codes = [client.rcpt(r) for r in rcpts]
            assert [c for c, _ in codes[:2]] == [250, 250], (door, codes)
            assert codes[2][0] == 452 and codes[2][1].startswith(b"4.5.3 "), (door, codes)


def test_message_size_limit_at_every_door(start_world):
    world = start_world(max_message_size=4096)
    big = b"Subject: big\r\n\r\n" + b"x" * 70 + b"\r\n"
    big = big * 80                                              # about 6 KB
    doors = [("127.0.0.1", world.port("app"), None),
             ("127.0.0.1", world.port("submission"), ("alice@alpha.test", "alice")),
             (world.address("mx1.beta.test"), world.port("mx", "mx1.beta.test"), None)]
    for address, port, login in doors:
        with smtplib.SMTP(address, port, local_hostname=HELO) as client:
            client.ehlo()
            assert client.esmtp_features["size"] == "4096"
            if login:
                client.login(*login)
            code, reply = client.mail("alice@alpha.test", ["SIZE=6000"])     # RFC 1870: refused at MAIL
            assert code == 552 and reply.startswith(b"5.3.4 "), (port, reply)
            client.rset()
            assert client.mail("alice@alpha.test")[0] == 250                 # no SIZE given: at the end of DATA
            assert client.rcpt("bob@beta.test")[0] == 250
            code, reply = client.data(big)
            assert code == 552 and reply.startswith(b"5.3.4 "), (port, reply)


# -- where it listens --------------------------------------------------------------------------------
def test_app_port_zero_picks_a_free_port_and_can_be_turned_off(start_world, tmp_path):
    world = start_world(ports=dataclasses.replace(fresh_ports(), app=0))
    [app] = [item for item in world.stack.listeners if item.service == "app"]
    assert app.address == "127.0.0.1" and app.port > 0 and app.host == "front"
    with smtplib.SMTP("127.0.0.1", app.port, local_hostname=HELO) as client:
        assert client.noop()[0] == 250
    off = start_world(app_port=False)
    assert not [item for item in off.stack.listeners if item.service == "app"]


def test_command_line_options():
    from app import build_parser, config_from_args

    parse = build_parser().parse_args
    config = config_from_args(parse([]))
    assert config.ports.app == 1025 and config.app_port and config.app_auth == "any"
    assert config.max_message_size == 10 * 1024 * 1024 and config.max_recipients == 100
    config = config_from_args(parse(["--app-port", "0", "--app-auth", "check", "--max-message-size", "2048",
                                     "--max-recipients", "5"]))
    assert (config.ports.app, config.app_auth, config.max_message_size, config.max_recipients) == (0, "check", 2048, 5)
    assert not config_from_args(parse(["--no-app-port"])).app_port
    assert config_from_args(parse(["--app-port", "2600"])).ports.app == 2600
    with pytest.raises(SystemExit):
        parse(["--app-auth", "maybe"])
    with pytest.raises(SystemExit):
        config_from_args(parse(["--max-recipients", "0"]))


def test_the_app_hop_waits_at_the_gate_and_is_worded(start_world):
    world = start_world()
    gate = world.stack.gate
    held = threading.Event()
    gate.on_change(lambda state: any(w.hop.src == APP for w in state.waiting) and held.set())
    gate.pause()

    def send() -> None:
        with smtplib.SMTP("127.0.0.1", world.port("app"), local_hostname=HELO) as client:
            client.sendmail("webmaster@localhost", ["bob@beta.test"], b"Subject: gated\r\n\r\nx\r\n")
    sender = threading.Thread(target=send)
    sender.start()
    try:
        assert held.wait(10)
        [waiting] = [w for w in gate.state().waiting if w.hop.src == APP]
        assert waiting.hop.step is HopStep.SUBMIT and waiting.hop.user == "webmaster@localhost"
        assert waiting.hop.dst == nodes.mta("smtp.alpha.test")
        assert waiting.text["en"]["summary"] and waiting.text["ru"]["summary"]
        assert waiting.text["en"]["summary"] != waiting.text["ru"]["summary"]
    finally:
        world.stack.gate.play()
        sender.join(10)
    [session] = _app_sessions(world)
    event = world.events.wait_for(lambda e: e.fact is session)[0]
    assert all(event.words(lang)["summary"] and event.words(lang)["explain"] for lang in ("en", "ru"))
