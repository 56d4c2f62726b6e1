"""Issue 11, part 1: the outside world caught.

A scenario (``outside: bounce | catch``, the command line's ``--outside`` over it) chooses what happens
to mail for domains outside the sandbox; a domain may name a ``catch_all`` user.  ``bounce``: the
bounce carries the whole original (message/rfc822, up to a size cap), and a bounce nobody can take is
kept whole in the outside world's mailbox instead of being dropped.  ``catch``: the message lands
whole in that mailbox (``outside@mailflow.invalid``), readable over IMAP and POP3 through the front
door, and nothing leaves the machine: every connection the world opens, in these tests, goes to a
loopback address (an audit hook sees each ``connect``), and the relay refuses an MX address off
loopback whatever DNS says.

Real servers on loopback, judged with smtplib, imaplib and poplib; tests wait for facts, never sleep.
"""
from __future__ import annotations

import asyncio
import email
import imaplib
import ipaddress
import os
import poplib
import random
import smtplib
import stat
import sys
import threading
import time
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import pytest

from conftest import FAST_QUEUE, free_port
from simulator import dsn, nodes
from simulator.delivery import Delivery, DeliveryServices
from simulator.facts import Bounced, Caught, DeliveryReason, MdaDelivered, MxLookup, SmtpAttempt
from simulator.gate import StepGate
from simulator.protocols.dns.server import DnsServer
from simulator.protocols.dns.zone import Authority, Record
from simulator.queue import QueueStore
from simulator.routing import Resolver
from simulator.scenario import DEFAULT_SCENARIO, Outside, ScenarioError, load_scenario, parse_scenario
from simulator.scenario.dump import dump_world
from simulator.traces import TraceBook
from simulator.web.layout import layout
from simulator.world import PASSWORD_ENV, PASSWORD_FILE, World, outside_password

CATCH = nodes.CATCH_ADDRESS

# -- every connection this process opens while a test watches (sys.audit, PEP 578) -------------------
_WATCH: list[list[tuple]] = []
_WATCH_LOCK = threading.Lock()


def _audit(event: str, args: tuple) -> None:
    if _WATCH and event in ("socket.connect", "socket.sendto") and isinstance(args[1], tuple):
        with _WATCH_LOCK:
            for seen in _WATCH:
                seen.append(args[1])


sys.addaudithook(_audit)


class Connections:
    """``with Connections() as seen:`` every address connected (or sent a datagram) to meanwhile."""

    def __enter__(self) -> list[tuple]:
        self.seen: list[tuple] = []
        with _WATCH_LOCK:
            _WATCH.append(self.seen)
        return self.seen

    def __exit__(self, *exc) -> None:
        with _WATCH_LOCK:
            _WATCH.remove(self.seen)


def off_loopback(seen: list[tuple]) -> list[tuple]:
    out = []
    for address in seen:
        try:
            if not ipaddress.ip_address(str(address[0])).is_loopback:
                out.append(address)
        except ValueError:
            out.append(address)             # a name: nothing here may ask a resolver either
    return out


# -- worlds ----------------------------------------------------------------------------------------
CAUGHT = """\
name: caught
outside: catch
domains:
  alpha.test:
    users: {alice: alice}
    hosts:
      smtp.alpha.test: {role: msa}
      mx.alpha.test: {role: mx}
  beta.test:
    users: {bob: bob, carol: carol}
    catch_all: bob
    hosts:
      smtp.beta.test: {role: msa}
      mx.beta.test: {role: mx}
"""

SEND_ONLY = """\
name: send-only
domains:
  alpha.test:
    users: {alice: alice}
    hosts:
      smtp.alpha.test: {role: msa}
      mx.alpha.test: {role: mx}
  send.test:
    users: {dave: dave}
    hosts:
      smtp.send.test: {role: msa}
    mx:
      - {preference: 0, host: "."}
"""


def letter(sender: str, to: list[str], subject: str = "Order 42", attachment: bytes = b"%PDF-1.4 fake\n" * 50) -> bytes:
    """A message as an application builds it (Date and Message-ID set: the MSA adds nothing), CRLF."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.now().astimezone())
    message["Message-ID"] = make_msgid(domain="tests.localhost")
    message.set_content("Thank you for your order.\nЗаказ принят.\n")
    message.add_attachment(attachment, maintype="application", subtype="pdf", filename="invoice.pdf")
    return message.as_bytes(policy=policy.SMTP)


def submit(world, sender: str, password: str, rcpts: list[str], raw: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", world.port("submission"), local_hostname="tests.localhost", timeout=30) as s:
        s.login(sender, password)
        s.sendmail(sender, rcpts, raw)


def imap_messages(world, login: str, password: str) -> list[bytes]:
    with imaplib.IMAP4("127.0.0.1", world.port("imap"), timeout=30) as client:
        client.login(login, password)
        client.select("INBOX", readonly=True)
        _, found = client.uid("SEARCH", "ALL")
        out = []
        for uid in found[0].split():
            _, data = client.uid("FETCH", uid, "(BODY.PEEK[])")
            out.append(data[0][1])
        client.logout()
    return out


def pop3_messages(world, login: str, password: str) -> list[bytes]:
    client = poplib.POP3("127.0.0.1", world.port("pop3"), timeout=30)
    try:
        client.user(login)
        client.pass_(password)
        count, _ = client.stat()
        return [b"\r\n".join(client.retr(i + 1)[1]) + b"\r\n" for i in range(count)]
    finally:
        client.quit()


# -- the scenario keys -------------------------------------------------------------------------------
def test_outside_and_catch_all_are_read_and_saved_again():
    scenario = parse_scenario(CAUGHT, "caught.yaml")
    assert scenario.outside is Outside.CATCH
    assert scenario.domain("beta.test").catch_all == "bob" and scenario.domain("alpha.test").catch_all is None
    assert parse_scenario(SEND_ONLY, "s.yaml").outside is Outside.BOUNCE           # the default
    again = parse_scenario(dump_world(World(scenario)), "saved.yaml")
    assert again.outside is Outside.CATCH and again.domain("beta.test").catch_all == "bob"
    # the command line's choice is the world's, and a saved world keeps it
    forced = World(parse_scenario(SEND_ONLY, "s.yaml"), outside="catch")
    assert forced.outside is Outside.CATCH
    assert parse_scenario(dump_world(forced), "saved.yaml").outside is Outside.CATCH


@pytest.mark.parametrize("text, line, field, words", [
    (CAUGHT.replace("outside: catch", "outside: forward"), 2, "outside", "use bounce"),
    (CAUGHT.replace("catch_all: bob", "catch_all: zed"), 11, "domains.beta.test.catch_all", "not a user of beta.test"),
    (CAUGHT.replace("catch_all: bob", "catch_all: bob@alpha.test"), 11, "domains.beta.test.catch_all", "not a user"),
    (SEND_ONLY.replace("    hosts:\n      smtp.send.test", "    catch_all: dave\n    hosts:\n      smtp.send.test"),
     10, "domains.send.test.catch_all", "no host of role mx"),
    (CAUGHT.replace("beta.test", "mailflow.invalid"), 9, "domains.mailflow.invalid", "outside world's own domain"),
])
def test_mistakes_in_the_new_keys_are_named_by_file_line_and_field(text, line, field, words):
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text, "lesson.yaml")
    assert any((p.path, p.line, p.field) == ("lesson.yaml", line, field) and words in p.message
               for p in caught.value.problems), str(caught.value)


# -- the world -----------------------------------------------------------------------------------------
def test_who_takes_mail_for_an_address():
    world = World(parse_scenario(CAUGHT, "caught.yaml"))
    assert world.mailbox_of("Carol@Beta.test") == "carol@beta.test"           # a user: its own mailbox
    assert world.mailbox_of("sales@beta.test") == "bob@beta.test"             # anyone else: the catch-all's
    assert world.mailbox_of("sales@alpha.test") is None                       # no catch-all there
    assert world.mailbox_of("customer@example.com") is None and world.catches("example.com")
    assert not world.catches("alpha.test")
    assert world.users()[-1] == CATCH and world.user_exists(CATCH)            # one of the world's mailboxes
    assert world.authenticate(CATCH, world.catch.password).address == CATCH
    assert world.authenticate(CATCH, "guess") is None
    bouncing = World(parse_scenario(SEND_ONLY, "s.yaml"))
    assert not bouncing.catches("example.com") and CATCH not in bouncing.users()
    assert bouncing.user_exists(CATCH)          # it keeps undeliverable bounces: it can be read
    graph = bouncing.graph()
    assert graph.nodes[nodes.INTERNET]["mode"] == "bounce" and graph.nodes[nodes.mailbox(CATCH)]["inside"] == nodes.INTERNET
    assert graph.has_edge(nodes.mailbox(CATCH), nodes.FRONT) and nodes.APP in graph


def test_the_outside_password_is_kept_in_the_data_directory(tmp_path, monkeypatch):
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    first = outside_password(tmp_path)
    assert len(first) >= 12 and outside_password(tmp_path) == first
    assert stat.S_IMODE(os.stat(tmp_path / PASSWORD_FILE).st_mode) == 0o600
    assert World(parse_scenario(CAUGHT, "c.yaml"), data_dir=tmp_path).catch.password == first
    monkeypatch.setenv(PASSWORD_ENV, "from-the-environment")
    assert outside_password(tmp_path) == "from-the-environment"


# -- the bounce ----------------------------------------------------------------------------------------
def test_a_bounce_carries_the_original_whole_up_to_the_limit():
    original = letter("alice@alpha.test", ["customer@example.com"])
    failure = [dsn.Failure("customer@example.com", "5.1.2", "", "")]
    whole = dsn.render(reporting_host="smtp.alpha.test", sender="alice@alpha.test", original=original,
                       failures=failure, arrival=0.0, now=1.0, boundary="b-1")
    assert original in whole                                                    # byte for byte
    parts = list(email.message_from_bytes(whole, policy=policy.default).iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "message/delivery-status", "message/rfc822"]
    returned = parts[2].get_payload()[0]
    assert returned["Subject"] == "Order 42"
    assert [a.get_filename() for a in returned.iter_attachments()] == ["invoice.pdf"]
    cut = dsn.render(reporting_host="smtp.alpha.test", sender="alice@alpha.test", original=original,
                     failures=failure, arrival=0.0, now=1.0, boundary="b-2", whole_limit=len(original) - 1)
    parts = list(email.message_from_bytes(cut, policy=policy.default).iter_parts())
    assert parts[2].get_content_type() == "text/rfc822-headers" and b"invoice.pdf" not in cut
    assert b"Subject: Order 42" in cut


def test_in_bounce_mode_mail_for_the_outside_world_comes_back_whole(start_world):
    world = start_world(DEFAULT_SCENARIO)
    raw = letter("alice@alpha.test", ["customer@example.com"])
    with Connections() as seen:
        submit(world, "alice@alpha.test", "alice", ["customer@example.com"], raw)
        [report] = world.wait_messages("alice@alpha.test")
    assert raw in report                                   # the original, whole, inside the bounce
    parsed = email.message_from_bytes(report, policy=policy.default)
    assert [p.get_content_type() for p in parsed.iter_parts()][2] == "message/rfc822"
    assert "Status: 5.1.2" in report.decode("utf-8", "replace")
    assert off_loopback(seen) == []
    assert world.messages(CATCH) == []                     # a bounce that was delivered is not kept


def test_a_bounce_nobody_can_take_is_kept_in_the_outside_worlds_mailbox(start_world):
    world = start_world(SEND_ONLY)
    raw = letter("dave@send.test", ["nobody@alpha.test"])
    submit(world, "dave@send.test", "dave", ["nobody@alpha.test"], raw)
    [kept] = world.events.facts(Bounced, lambda b: b.dropped)
    assert kept.kept == CATCH and kept.rcpts == ("dave@send.test",)
    [caught] = world.events.facts(Caught)
    assert caught.bounce and caught.src == nodes.mta("smtp.send.test") and caught.dst == nodes.INTERNET
    [delivered] = world.events.facts(MdaDelivered, lambda m: m.mailbox == CATCH)
    assert delivered.src == nodes.INTERNET and delivered.dst == nodes.mailbox(CATCH)
    [report] = imap_messages(world, CATCH, world.stack.world.catch.password)   # bounce mode: still readable
    parsed = email.message_from_bytes(report, policy=policy.default)
    assert parsed["Return-Path"] == "<>" and parsed["X-Original-To"] == "dave@send.test"
    assert parsed.get_content_type() == "multipart/report" and raw in report    # and the original inside it


# -- catch mode ------------------------------------------------------------------------------------
def test_in_catch_mode_the_outside_world_keeps_one_whole_copy(start_world):
    world = start_world(CAUGHT)
    password = world.stack.world.catch.password
    rcpts = ["customer@example.com", "bob@beta.test", "boss@example.org"]
    raw = letter("alice@alpha.test", rcpts)
    with Connections() as seen:
        submit(world, "alice@alpha.test", "alice", rcpts, raw)
        world.wait_messages("bob@beta.test")
        [caught] = world.events.facts(Caught)
        world.wait_queue_empty()
        by_imap = imap_messages(world, CATCH, password)
        by_pop3 = pop3_messages(world, CATCH, password)
    assert off_loopback(seen) == [], off_loopback(seen)
    assert caught.src == nodes.mta("smtp.alpha.test") and caught.dst == nodes.INTERNET and not caught.bounce
    assert caught.rcpts == ("customer@example.com", "boss@example.org") and caught.mailbox == CATCH
    [file] = world.messages(CATCH)                          # one copy for both outside recipients
    assert by_imap == [file] and by_pop3 == [file]
    assert file.endswith(raw)                               # byte for byte, under the trace headers
    head = email.message_from_bytes(file, policy=policy.default)
    assert head.get_all("X-Original-To") == ["customer@example.com", "boss@example.org"]
    assert head["Delivered-To"] == CATCH and head["Return-Path"] == "<alice@alpha.test>"
    # no lookup, no connection for the outside world's domains
    assert not [e for e in world.events.events if isinstance(e.fact, MxLookup)
                and e.fact.domain in ("example.com", "example.org")]
    assert not [e for e in world.events.events if isinstance(e.fact, SmtpAttempt)]
    graph = world.stack.world.graph()
    for event in world.events.events:                       # every hop names nodes of the graph
        assert event.src in graph and event.dst in graph, (event.kind, event.src, event.dst)


def test_a_catch_all_user_takes_any_other_local_part(start_world):
    world = start_world(CAUGHT)
    raw = letter("alice@alpha.test", ["sales@beta.test"])
    submit(world, "alice@alpha.test", "alice", ["sales@beta.test"], raw)
    [file] = world.wait_messages("bob@beta.test")
    [delivered] = world.events.facts(MdaDelivered, lambda m: m.rcpt == "sales@beta.test")
    assert delivered.mailbox == "bob@beta.test" and delivered.dst == nodes.mailbox("bob@beta.test")
    head = email.message_from_bytes(file, policy=policy.default)
    assert head["X-Original-To"] == "sales@beta.test" and head["Delivered-To"] == "bob@beta.test"
    assert file.endswith(raw) and world.messages("carol@beta.test") == []


def test_the_command_line_catches_what_the_scenario_would_bounce(start_world):
    world = start_world(DEFAULT_SCENARIO, outside="catch")
    assert world.stack.world.outside is Outside.CATCH
    submit(world, "alice@alpha.test", "alice", ["customer@example.com"], letter("alice@alpha.test", ["x"]))
    world.wait_messages(CATCH)
    assert world.messages("alice@alpha.test") == []        # caught, not bounced


# -- nothing leaves the machine, whatever DNS says -----------------------------------------------------
def test_the_relay_never_connects_to_an_address_off_loopback(tmp_path):
    """A DNS that names an MX at 192.0.2.25 (TEST-NET-1): the host does not connect; 5.4.4."""
    async def run() -> list:
        authority = Authority()
        authority.set_zone("example.com", [Record("example.com", "MX", "10 mx.example.com."),
                                           Record("mx.example.com", "A", "192.0.2.25")])
        server = DnsServer(authority, "127.0.0.1", 0)
        await server.start()
        facts: list = []
        bounced = asyncio.Event()

        def publish(fact) -> None:
            facts.append(fact)
            if isinstance(fact, Bounced):
                bounced.set()
        gate = StepGate()
        gate.bind(asyncio.get_running_loop())
        world = World(load_scenario(DEFAULT_SCENARIO))
        delivery = Delivery(DeliveryServices(
            queue=QueueStore(tmp_path / "queue"), resolver=Resolver(server="127.0.0.1", port=server.port),
            world=world, gate=gate, publish=publish, clock=time.time, traces=TraceBook(random.Random(1)),
            policy=FAST_QUEUE, mx_port=free_port(), data_dir=tmp_path, notify_mailbox=lambda _a: None))
        try:
            await delivery.enqueue(world.hosts["smtp.alpha.test"], "alice@alpha.test", ["someone@example.com"],
                                   b"Subject: out\r\n\r\nbody\r\n", trace="m-1", queue_id="Q1", message=None,
                                   received_from=nodes.mua("alice@alpha.test"))
            await asyncio.wait_for(bounced.wait(), 10)
        finally:
            await delivery.stop()
            await server.stop()
        return facts

    with Connections() as seen:
        facts = asyncio.run(run())
    assert not [a for a in seen if a[0] == "192.0.2.25"] and off_loopback(seen) == []
    [bounce] = [f for f in facts if isinstance(f, Bounced)]
    assert bounce.codes == ("5.4.4",) and bounce.reasons[0].code is DeliveryReason.OFF_SANDBOX
    assert bounce.reasons[0]["address"] == "192.0.2.25"
    assert not [f for f in facts if isinstance(f, SmtpAttempt)]


# -- the cloud on the diagram -----------------------------------------------------------------------------
@pytest.mark.parametrize("size", [(880, 600), (1320, 930), (700, 460)])
def test_the_cloud_sits_at_the_strips_right_end_with_its_mailbox_inside(size):
    world = World(parse_scenario(CAUGHT, "caught.yaml"))
    data = layout(world.graph(), *size)
    placed = {n["id"]: n for n in data["nodes"]}
    cloud, box, dns_box = placed[nodes.INTERNET], placed[nodes.mailbox(CATCH)], placed[nodes.DNS]
    outline = cloud["outline"]
    assert cloud["mode"] == "catch" and box["inside"] == nodes.INTERNET and box["pill"]
    assert outline["x"] <= box["x"] and box["x"] + box["w"] <= outline["x"] + outline["w"]
    assert outline["y"] <= box["y"] and box["y"] + box["h"] <= outline["y"] + outline["h"]
    assert max(n["x"] + n["w"] for n in data["nodes"]) <= outline["x"] + outline["w"] + 0.5   # the right edge
    assert abs(outline["y"] - dns_box["y"]) < 0.5                                  # in the strip, beside DNS
    answer = data["answer"]
    assert dns_box["x"] + dns_box["w"] < answer["x"] and answer["x"] + answer["w"] < outline["x"]
    app, front = placed[nodes.APP], placed[nodes.FRONT]
    assert app["x"] + app["w"] < front["x"] and abs(app["y"] - front["y"]) < 0.5       # beside the front door
    outer = {(e["src"], e["dst"]): e["points"] for e in data["outer"]}
    for host in world.hosts:                       # every host may hand mail to the outside world
        end = outer[(nodes.mta(host), nodes.INTERNET)][-1]
        assert abs(end[1] - (outline["y"] + outline["h"])) < 0.5
    assert (nodes.APP, nodes.mta("smtp.alpha.test")) in outer and (nodes.APP, nodes.mta("mx.alpha.test")) not in outer


def test_the_caught_mail_is_read_in_the_webmail_and_on_the_page(start_world):
    from simulator import web
    from web_fixtures import Browserish
    world = start_world(CAUGHT)
    raw = letter("alice@alpha.test", ["customer@example.com"], subject="Caught on the page")
    submit(world, "alice@alpha.test", "alice", ["customer@example.com"], raw)
    world.wait_messages(CATCH)
    app = web.create_app(world.stack, {"TRUST_LOOPBACK": False, "SEND_WAIT": 20.0})
    password = world.stack.world.catch.password
    reader = Browserish(app, remote_addr="10.1.1.1")                 # the webmail, as a student's browser
    assert reader.post("/api/webmail/login", {"address": CATCH, "password": password}).status_code == 200
    [listed] = reader.get("/api/webmail/messages?folder=INBOX").get_json()["messages"]
    assert listed["subject"] == "Caught on the page"
    teacher = Browserish(app, remote_addr="10.9.9.9")
    teacher.client.set_cookie("mailflow_teacher", app.config["TEACHER_TOKEN"])
    box = teacher.get(f"/api/mailbox/{CATCH}").get_json()                # the page's mailbox view
    assert [m["subject"] for m in box["messages"]] == ["Caught on the page"]
    users = {u["address"]: u for u in teacher.get("/api/clients").get_json()["users"]}
    assert users[CATCH]["password"] == password                          # the teacher sees its password
    assert teacher.get("/api/state").get_json()["mailboxes"][CATCH] == 1
