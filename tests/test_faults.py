"""Faults as data, made real: each fault bites with the reply a real server would give, the sending MTA
defers or bounces as a real one would, clearing the fault restores normal behaviour, and the facts
(``world.fault`` on set and clear, ``fault.bite`` when an answer changes) are published.

Real sockets on free loopback ports: smtplib submits and talks to hosts by hand, dnspython asks the
sandbox DNS.  Every wait is for a fact (or a file on disk), never a sleep.
"""
from __future__ import annotations

import dataclasses
import email
import smtplib
import socket
import threading
from email import policy

import dns.exception
import dns.message
import dns.query
import dns.rcode
import pytest

from simulator.facts import (AttemptReason, Bounced, Deferred, DeliveryReason, FaultBit, FaultChanged, MdaDelivered,
                             MxLookup, Relayed, RouteReason, SmtpAttempt, SmtpOutcome, SmtpSession, Status)
from simulator.faults import FaultBook, reply_line
from simulator.gate import GateState
from simulator.protocols.smtp.client import (Close, Command, RelayDialogue, ReplyParser, Stage, StartTls)
from simulator.scenario import DEFAULT_SCENARIO, Fault, FaultKind, load_scenario

MSG = b"From: Alice <alice@alpha.test>\r\nTo: Bob <bob@beta.test>\r\nSubject: Faults\r\n\r\nHi Bob.\r\n"


def submit(world, rcpts=("bob@beta.test",), body=MSG):
    with smtplib.SMTP("127.0.0.1", world.port("submission"), local_hostname="client.test", timeout=10) as s:
        s.login("alice@alpha.test", "alice")
        return s.sendmail("alice@alpha.test", list(rcpts), body)


def by_hand(world, host: str) -> smtplib.SMTP:
    """A client typing to a host's MX door (port 25's role), as swaks would."""
    return smtplib.SMTP(world.address(host), world.stack.config.ports.mx, local_hostname="hand.test", timeout=10)


def dns_query(world, name: str, rdtype: str, *, tcp: bool = False, timeout: float = 2.0):
    query = dns.message.make_query(name, rdtype)
    ask = dns.query.tcp if tcp else dns.query.udp
    return ask(query, "127.0.0.1", port=world.port("dns"), timeout=timeout)


def fault(kind: FaultKind, target: str, **params) -> Fault:
    return Fault(kind, target, **params)


def changed(world, kind: FaultKind, target: str, on: bool, **more):
    """Wait for the world.fault fact of this change."""
    [fact] = world.events.facts(FaultChanged, lambda x: x.fault is kind and x.target == target and x.on is on
                                and all(getattr(x, k) == v for k, v in more.items()))
    return fact


def bites(world, kind: FaultKind, count: int = 1, timeout: float = 10.0, **more) -> list[FaultBit]:
    return world.events.facts(FaultBit, lambda x: x.fault is kind and all(getattr(x, k) == v for k, v in more.items()),
                              count=count, timeout=timeout)


def delivered(world, rcpt: str = "bob@beta.test", count: int = 1, timeout: float = 10.0) -> list[MdaDelivered]:
    return world.events.facts(MdaDelivered, lambda x: x.rcpt == rcpt, count=count, timeout=timeout)


def dsn_status(raw: bytes) -> str:
    report = email.message_from_bytes(raw, policy=policy.default)
    return next(p for p in report.iter_parts() if p.get_content_type() == "message/delivery-status").as_string()


# -- the book, without a world ----------------------------------------------------------------------
def test_book_replaces_and_clears_one_fault_per_kind_and_target():
    book = FaultBook()
    assert book.set(fault(FaultKind.SLOW, "MX1.beta.test.", greeting=1)) is None
    previous = book.set(fault(FaultKind.SLOW, "mx1.beta.test", greeting=2))
    assert previous is not None and previous.greeting == 1
    book.set(fault(FaultKind.MAILBOX_FULL, "Bob@Beta.test", permanent=True))
    assert book.faults() == [
        {"kind": "mailbox_full", "target": "bob@beta.test", "node": "mailbox:bob@beta.test", "permanent": True},
        {"kind": "slow", "target": "mx1.beta.test", "node": "mta:mx1.beta.test", "greeting": 2, "data": 0.0}]
    assert book.clear("slow", "mx1.beta.test").greeting == 2
    assert book.clear("slow", "mx1.beta.test") is None
    with pytest.raises(ValueError):
        book.clear("flood", "mx1.beta.test")


def test_book_greylist_memory_and_reply_counter():
    now = [1000.0]
    spent: list[Fault] = []
    book = FaultBook(clock=lambda: now[0], on_spent=spent.append)
    book.set(fault(FaultKind.GREYLIST, "mx1.beta.test", delay=5))
    triplet = ("mx1.beta.test", "127.42.1.1", "alice@alpha.test", "bob@beta.test")
    assert book.greylisted(*triplet) is not None          # first sight: refused, remembered
    now[0] += 4
    assert book.greylisted(*triplet) is not None          # too soon
    now[0] += 1
    assert book.greylisted(*triplet) is None              # delay passed: accepted
    assert book.greylisted("mx1.beta.test", "127.42.1.1", "carol@alpha.test", "bob@beta.test") is not None
    book.clear(FaultKind.GREYLIST, "mx1.beta.test")
    book.set(fault(FaultKind.GREYLIST, "mx1.beta.test"))
    assert book.greylisted(*triplet) is not None          # cleared: the memory went with it

    book.set(fault(FaultKind.REPLY, "mx1.beta.test", command="rcpt", code=451, times=2))
    assert book.reply_for("mx1.beta.test", "MAIL") is None
    assert book.reply_for("mx1.beta.test", "RCPT").code == 451
    assert not spent
    assert book.reply_for("mx1.beta.test", "RCPT").code == 451
    assert [f.kind for f in spent] == [FaultKind.REPLY]
    assert book.reply_for("mx1.beta.test", "RCPT") is None and book.faults() == [
        {"kind": "greylist", "target": "mx1.beta.test", "node": "mta:mx1.beta.test", "delay": 0.0}]
    assert reply_line(fault(FaultKind.REPLY, "h", code=421)).startswith("421 Service not available")


# -- the relay client's opportunistic STARTTLS (sans-IO) -------------------------------------------
def converse(replies: list[str], *, starttls: bool) -> tuple[list[str], RelayDialogue]:
    dialogue = RelayDialogue(helo="smtp.alpha.test", sender="alice@alpha.test", recipients=["bob@beta.test"],
                             content=b"Subject: x\r\n\r\nx\r\n", starttls=starttls)
    parser, wrote = ReplyParser(), []
    for raw in replies:
        [reply] = parser.feed(raw.encode() + b"\r\n")
        effect = dialogue.receive(reply)
        if isinstance(effect, StartTls):
            wrote.append("<tls>")
            effect = dialogue.tls_started()
        if isinstance(effect, Close):
            break
        wrote.append(effect.line if isinstance(effect, Command) else "<message>")
    return wrote, dialogue


EHLO_TLS = "250-mx\r\n250-SIZE 1000\r\n250 STARTTLS"


def test_dialogue_starts_tls_when_offered_and_says_ehlo_again():
    wrote, d = converse(["220 mx", EHLO_TLS, "220 go ahead", "250-mx\r\n250 SIZE 1000", "250 ok"], starttls=True)
    assert wrote == ["EHLO smtp.alpha.test", "STARTTLS", "<tls>", "EHLO smtp.alpha.test",
                     "MAIL FROM:<alice@alpha.test> SIZE=17", "RCPT TO:<bob@beta.test>"]
    assert d.outcome.tls and not d.outcome.tls_declined


def test_dialogue_without_tls_declines_and_a_refused_starttls_goes_on_in_plaintext():
    wrote, d = converse(["220 mx", EHLO_TLS, "250 ok"], starttls=False)
    assert wrote[:2] == ["EHLO smtp.alpha.test", "MAIL FROM:<alice@alpha.test> SIZE=17"]
    assert d.outcome.tls_declined and not d.outcome.tls
    wrote, d = converse(["220 mx", EHLO_TLS, "454 4.7.0 TLS not available", "250 ok"], starttls=True)
    assert wrote[:3] == ["EHLO smtp.alpha.test", "STARTTLS", "MAIL FROM:<alice@alpha.test> SIZE=17"]
    assert not d.outcome.tls and d.outcome.stage is Stage.RCPT


# -- the MailStack API --------------------------------------------------------------------------
def test_stack_sets_lists_and_clears_faults_and_publishes_the_changes(world):
    stack = world.stack
    assert stack.set_fault(fault(FaultKind.SLOW, "MX1.beta.test", greeting=1.5)) == {
        "kind": "slow", "target": "mx1.beta.test", "node": "mta:mx1.beta.test", "greeting": 1.5, "data": 0.0}
    stack.set_fault(fault(FaultKind.SLOW, "mx1.beta.test", data=2))           # replaces the first
    stack.set_fault(fault(FaultKind.SERVFAIL, "gamma.test"))
    stack.set_fault(fault(FaultKind.MAILBOX_FULL, "bob@beta.test"))
    assert [(f["kind"], f["node"]) for f in stack.faults()] == [
        ("mailbox_full", "mailbox:bob@beta.test"), ("servfail", "dns"), ("slow", "mta:mx1.beta.test")]
    assert stack.faults()[2]["data"] == 2
    on = changed(world, FaultKind.SLOW, "mx1.beta.test", True, end_of_data=2)
    assert on.src == on.dst == on.node == "mta:mx1.beta.test" and on.status is Status.INFO
    assert changed(world, FaultKind.SERVFAIL, "gamma.test", True).node == "dns"
    assert changed(world, FaultKind.MAILBOX_FULL, "bob@beta.test", True).src == "mailbox:bob@beta.test"
    for bad in (fault(FaultKind.GREYLIST, "mx9.beta.test"), fault(FaultKind.SERVFAIL, "example.com"),
                fault(FaultKind.MAILBOX_FULL, "nobody@beta.test")):
        with pytest.raises(ValueError):
            stack.set_fault(bad)
    with pytest.raises(ValueError):
        stack.clear_fault("flood", "mx1.beta.test")
    assert stack.clear_fault("slow", "mx1.beta.test")["data"] == 2
    assert stack.clear_fault("slow", "mx1.beta.test") is None
    changed(world, FaultKind.SLOW, "mx1.beta.test", False)
    assert [f["kind"] for f in stack.faults()] == ["mailbox_full", "servfail"]


def test_scenario_faults_are_set_at_start(start_world):
    scenario = dataclasses.replace(load_scenario(DEFAULT_SCENARIO),
                                   faults=(fault(FaultKind.REFUSE, "mx1.beta.test"),))
    world = start_world(scenario)
    assert world.stack.faults() == [{"kind": "refuse", "target": "mx1.beta.test", "node": "mta:mx1.beta.test"}]
    changed(world, FaultKind.REFUSE, "mx1.beta.test", True)
    with pytest.raises(KeyError):
        world.port("mx", "mx1.beta.test")
    assert world.port("imap", "mx1.beta.test")


# -- TLS between sandbox hosts ------------------------------------------------------------------
def test_relay_uses_opportunistic_starttls(world):
    submit(world)
    [raw] = world.wait_messages("bob@beta.test")
    received = email.message_from_bytes(raw, policy=policy.default).get_all("Received")
    assert "by mx1.beta.test" in received[0] and "with ESMTPS " in received[0]
    [relay] = world.events.facts(SmtpSession, lambda x: x.outcome is SmtpOutcome.RELAYED)
    lines = [line for _, line in relay.transcript]
    assert lines.index("STARTTLS") < lines.index("220 Ready to start TLS") < len(lines)
    assert [line for line in lines if line.startswith("EHLO ")] == ["EHLO smtp.alpha.test"] * 2
    assert any(line.startswith("MAIL FROM:<alice@alpha.test> SIZE=") for line in lines)


def test_require_tls_is_met_by_starttls_and_bites_a_sender_without_tls(world):
    stack = world.stack
    stack.set_fault(fault(FaultKind.REQUIRE_TLS, "mx1.beta.test"))
    with by_hand(world, "mx1.beta.test") as s:
        s.ehlo()
        assert s.mail("carol@alpha.test") == (530, b"5.7.0 Must issue a STARTTLS command first")
    bite = bites(world, FaultKind.REQUIRE_TLS, command="MAIL")[0]
    assert bite.src == "mta:mx1.beta.test" and bite.dst == "outside" and bite.status is Status.FAILED
    submit(world)                                   # the MSA uses STARTTLS: it never notices
    delivered(world)
    assert len(world.events.facts(FaultBit, lambda x: x.fault is FaultKind.REQUIRE_TLS)) == 1

    stack.set_fault(fault(FaultKind.NO_TLS, "smtp.alpha.test"))      # an old MTA: plaintext only
    submit(world)
    [declined] = bites(world, FaultKind.NO_TLS, command="STARTTLS")
    assert (declined.src, declined.dst, declined.node) == ("mta:smtp.alpha.test", "mta:mx1.beta.test",
                                                            "mta:smtp.alpha.test")
    [refused] = bites(world, FaultKind.REQUIRE_TLS, count=2)[1:]
    assert refused.reply == "530 5.7.0 Must issue a STARTTLS command first" and refused.dst == "mta:smtp.alpha.test"
    [bounce] = world.events.facts(Bounced, lambda x: x.host == "smtp.alpha.test")
    assert bounce.codes == ("5.7.0",)
    assert "Status: 5.7.0" in dsn_status(world.wait_messages("alice@alpha.test")[0])

    stack.clear_fault("require_tls", "mx1.beta.test")
    changed(world, FaultKind.REQUIRE_TLS, "mx1.beta.test", False)
    submit(world)
    delivered(world, count=2)


def test_no_tls_host_does_not_offer_starttls_until_cleared(world):
    world.stack.set_fault(fault(FaultKind.NO_TLS, "mx1.beta.test"))
    with by_hand(world, "mx1.beta.test") as s:
        s.ehlo()
        assert not s.has_extn("starttls")
    bite = bites(world, FaultKind.NO_TLS, command="EHLO")[0]
    assert bite.src == "mta:mx1.beta.test" and bite.status is Status.INFO
    world.stack.clear_fault("no_tls", "mx1.beta.test")
    with by_hand(world, "mx1.beta.test") as s:
        s.ehlo()
        assert s.has_extn("starttls")


# -- greylisting ------------------------------------------------------------------------------------
def test_greylisting_defers_the_first_attempt_and_accepts_the_retry(world):
    world.stack.set_fault(fault(FaultKind.GREYLIST, "mx1.beta.test"))
    changed(world, FaultKind.GREYLIST, "mx1.beta.test", True, delay=0.0)
    submit(world)
    bite = bites(world, FaultKind.GREYLIST)[0]
    assert bite.reply.startswith("450 4.7.1 <bob@beta.test>") and bite.command == "RCPT"
    assert (bite.src, bite.dst, bite.node, bite.client) == ("mta:mx1.beta.test", "mta:smtp.alpha.test",
                                                           "mta:mx1.beta.test", "smtp.alpha.test")
    assert bite.status is Status.DEFERRED
    deferred = world.events.facts(Deferred, lambda x: x.host == "smtp.alpha.test")[0]
    [why] = deferred.reasons
    assert why.code is DeliveryReason.REPLY and why["reply"].startswith("450 4.7.1")
    [done] = delivered(world)
    assert done.trace == bite.trace == deferred.trace
    assert len(world.events.facts(FaultBit, lambda x: x.fault is FaultKind.GREYLIST)) == 1

    world.stack.clear_fault("greylist", "mx1.beta.test")
    changed(world, FaultKind.GREYLIST, "mx1.beta.test", False)
    submit(world)
    delivered(world, count=2)
    assert len(world.events.facts(FaultBit, lambda x: x.fault is FaultKind.GREYLIST)) == 1
    assert len(world.events.facts(Deferred, lambda x: True)) == 1


def test_greylisting_refuses_a_retry_that_comes_too_soon(world):
    world.stack.set_fault(fault(FaultKind.GREYLIST, "mx1.beta.test", delay=1.5))
    submit(world)
    first, again = bites(world, FaultKind.GREYLIST, count=2)
    assert "try again in 1.5 seconds" in first.reply and again.reply == first.reply
    delivered(world)                        # once 1.5 s have passed since the first attempt


# -- slow servers and chosen replies ------------------------------------------------------------------
def test_slow_greeting_and_slow_data_reply_are_waited_for(world):
    world.stack.set_fault(fault(FaultKind.SLOW, "mx1.beta.test", greeting=0.2, data=0.3))
    submit(world)
    delivered(world)
    greeting, data = bites(world, FaultKind.SLOW, count=2)
    assert (greeting.command, greeting.delay, data.command, data.delay) == ("CONNECT", 0.2, "DOT", 0.3)
    assert greeting.status is Status.INFO and greeting.dst == "mta:smtp.alpha.test"
    world.stack.clear_fault("slow", "mx1.beta.test")
    submit(world)
    delivered(world, count=2)
    assert len(world.events.facts(FaultBit, lambda x: x.fault is FaultKind.SLOW)) == 2


def test_reply_at_rcpt_once_defers_then_the_fault_is_spent(world):
    world.stack.set_fault(fault(FaultKind.REPLY, "mx1.beta.test", command="RCPT", code=451,
                                text="4.3.0 Try again later", times=1))
    submit(world)
    bite = bites(world, FaultKind.REPLY)[0]
    assert (bite.command, bite.reply) == ("RCPT", "451 4.3.0 Try again later")
    spent = changed(world, FaultKind.REPLY, "mx1.beta.test", False)
    assert spent.spent and spent.code == 451
    world.events.facts(Deferred, lambda x: x.host == "smtp.alpha.test")
    delivered(world)
    assert world.stack.faults() == []


def test_reply_at_mail_with_5xx_bounces(world):
    world.stack.set_fault(fault(FaultKind.REPLY, "mx1.beta.test", command="MAIL", code=550,
                                text="5.7.1 Sender blocked by policy"))
    submit(world)
    bite = bites(world, FaultKind.REPLY)[0]
    assert bite.reply == "550 5.7.1 Sender blocked by policy" and bite.status is Status.FAILED
    [bounce] = world.events.facts(Bounced, lambda x: x.host == "smtp.alpha.test")
    assert bounce.codes == ("5.7.1",)
    assert "Status: 5.7.1" in dsn_status(world.wait_messages("alice@alpha.test")[0])
    assert world.messages("bob@beta.test") == []


def test_a_421_greeting_closes_and_the_sender_tries_the_backup_mx(world):
    world.stack.set_fault(fault(FaultKind.REPLY, "mx1.beta.test", command="CONNECT", code=421))
    with pytest.raises(smtplib.SMTPConnectError) as refused:
        by_hand(world, "mx1.beta.test")
    assert refused.value.smtp_code == 421
    submit(world)
    world.events.facts(Relayed, lambda x: x.host == "smtp.alpha.test" and x.target == "mx2.beta.test")
    world.events.facts(Deferred, lambda x: x.host == "mx2.beta.test")      # mx1 keeps saying 421
    connect = bites(world, FaultKind.REPLY, count=3)
    assert all(b.command == "CONNECT" and b.reply.startswith("421 4.3.0 ") for b in connect)
    assert {b.dst for b in connect} >= {"outside", "mta:smtp.alpha.test", "mta:mx2.beta.test"}
    world.stack.clear_fault("reply", "mx1.beta.test")
    [done] = delivered(world)
    assert done.host == "mx1.beta.test"


# -- size -------------------------------------------------------------------------------------------
def test_size_limit_is_announced_and_enforced_at_mail_and_at_the_end_of_data(world):
    world.stack.set_fault(fault(FaultKind.SIZE_LIMIT, "mx1.beta.test", size=1000))
    big = MSG + (b"x" * 70 + b"\r\n") * 40       # 2.9 KB in lines of 72
    with by_hand(world, "mx1.beta.test") as s:
        s.ehlo()
        assert s.esmtp_features["size"] == "1000"
        assert s.mail("carol@alpha.test", ["SIZE=3000"])[0] == 552
        s.rset()
        assert s.mail("carol@alpha.test")[0] == 250         # no size given: found out at the end
        assert s.rcpt("bob@beta.test")[0] == 250
        code, text = s.data(big)
        assert (code, text[:5]) == (552, b"5.3.4")
    at_mail, at_dot = bites(world, FaultKind.SIZE_LIMIT, count=2)
    assert (at_mail.command, at_dot.command) == ("MAIL", "DOT")
    assert at_mail.reply.startswith("552 5.3.4") and at_dot.reply.startswith("552 5.3.4")

    submit(world, body=big)                                 # the MSA announces SIZE: refused at MAIL
    [bounce] = world.events.facts(Bounced, lambda x: x.host == "smtp.alpha.test")
    assert bounce.codes == ("5.3.4",)
    assert bites(world, FaultKind.SIZE_LIMIT, count=3)[2].dst == "mta:smtp.alpha.test"

    world.stack.clear_fault("size_limit", "mx1.beta.test")
    submit(world, body=big)
    delivered(world)


# -- a closed MX port -------------------------------------------------------------------------------
def test_refused_mx_port_sends_mail_to_the_backup_until_cleared(world):
    world.stack.set_fault(fault(FaultKind.REFUSE, "mx1.beta.test"))
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((world.address("mx1.beta.test"), world.stack.config.ports.mx), timeout=5)
    with socket.create_connection((world.address("mx1.beta.test"), world.port("imap", "mx1.beta.test")),
                                  timeout=5) as imap:
        assert imap.recv(100).startswith(b"* OK")           # the host itself is up
    submit(world)
    attempt = world.events.facts(SmtpAttempt, lambda x: x.target == "mx1.beta.test")[0]   # retries may follow
    assert attempt.reason.code is AttemptReason.REFUSED
    bite = bites(world, FaultKind.REFUSE)[0]
    assert (bite.src, bite.dst, bite.command) == ("mta:mx1.beta.test", "mta:smtp.alpha.test", "CONNECT")
    world.events.facts(Deferred, lambda x: x.host == "mx2.beta.test")     # the backup MX waits
    world.stack.clear_fault("refuse", "mx1.beta.test")
    assert world.port("mx", "mx1.beta.test")
    [done] = delivered(world)
    assert done.host == "mx1.beta.test"


# -- full mailboxes ---------------------------------------------------------------------------------
def test_full_mailbox_defers_at_rcpt_until_the_user_makes_room(world):
    world.stack.set_fault(fault(FaultKind.MAILBOX_FULL, "bob@beta.test"))
    submit(world)
    bite = bites(world, FaultKind.MAILBOX_FULL)[0]
    assert bite.reply == "452 4.2.2 <bob@beta.test>: mailbox full, try again later" and bite.command == "RCPT"
    assert (bite.src, bite.node) == ("mta:mx1.beta.test", "mailbox:bob@beta.test")
    deferred = world.events.facts(Deferred, lambda x: x.host == "smtp.alpha.test")[0]
    assert deferred.reasons[0]["reply"].startswith("452 4.2.2")
    world.stack.clear_fault("mailbox_full", "bob@beta.test")
    delivered(world)


def test_permanently_full_mailbox_bounces_with_5_2_2(world):
    world.stack.set_fault(fault(FaultKind.MAILBOX_FULL, "bob@beta.test", permanent=True))
    submit(world)
    bite = bites(world, FaultKind.MAILBOX_FULL)[0]
    assert bite.reply.startswith("552 5.2.2") and bite.status is Status.FAILED
    [bounce] = world.events.facts(Bounced, lambda x: x.host == "smtp.alpha.test")
    assert bounce.codes == ("5.2.2",)
    assert "Status: 5.2.2" in dsn_status(world.wait_messages("alice@alpha.test")[0])


def test_full_mailbox_found_by_the_mda_defers_the_recipient(world):
    gate = world.stack.gate
    holding = threading.Event()

    def watch(state: GateState) -> None:
        if any(w.hop.rcpt == "bob@beta.test" for w in state.waiting):
            holding.set()
    gate.on_change(watch)
    gate.pause()
    with by_hand(world, "mx1.beta.test") as s:                      # accepted: the quota is fine yet
        s.sendmail("carol@alpha.test", ["bob@beta.test"], MSG)
    assert holding.wait(10)                                         # the MDA is about to write
    world.stack.set_fault(fault(FaultKind.MAILBOX_FULL, "bob@beta.test"))
    gate.play()
    bite = bites(world, FaultKind.MAILBOX_FULL, command="DELIVER")[0]
    assert (bite.src, bite.dst) == ("mailbox:bob@beta.test", "mda:beta.test")
    assert bite.reply.startswith("452 4.2.2")
    deferred = world.events.facts(Deferred, lambda x: x.host == "mx1.beta.test")[0]
    [why] = deferred.reasons
    assert why.code is DeliveryReason.MAILBOX_FULL and why["permanent"] is False
    world.stack.clear_fault("mailbox_full", "bob@beta.test")
    delivered(world)


# -- DNS --------------------------------------------------------------------------------------------
def test_servfail_zone_defers_until_the_zone_is_mended(world):
    world.stack.set_fault(fault(FaultKind.SERVFAIL, "beta.test"))
    answer = dns_query(world, "mx1.beta.test", "A")
    assert answer.rcode() == dns.rcode.SERVFAIL
    assert dns_query(world, "alpha.test", "MX").rcode() == dns.rcode.NOERROR
    submit(world)
    [lookup] = world.events.facts(MxLookup, lambda x: x.error is not None)
    assert lookup.error.code is RouteReason.DNS_RCODE and lookup.rcode == "SERVFAIL" and not lookup.permanent
    deferred = world.events.facts(Deferred, lambda x: x.host == "smtp.alpha.test")[0]
    assert deferred.reasons[0].code is RouteReason.DNS_RCODE
    mta_bite = bites(world, FaultKind.SERVFAIL, dst="mta:smtp.alpha.test")[0]
    assert (mta_bite.command, mta_bite.reply, mta_bite.src, mta_bite.node) == (
        "beta.test MX", "SERVFAIL", "dns", "dns")
    world.stack.clear_fault("servfail", "beta.test")
    changed(world, FaultKind.SERVFAIL, "beta.test", False)
    delivered(world)


def test_dns_timeout_zone_answers_nothing_and_the_sender_defers(world):
    world.stack.set_fault(fault(FaultKind.DNS_TIMEOUT, "beta.test"))
    with pytest.raises(dns.exception.Timeout):
        dns_query(world, "beta.test", "MX", timeout=0.5)
    with pytest.raises(EOFError):                   # TCP: closed without an answer
        dns_query(world, "beta.test", "MX", tcp=True)
    [udp, tcp] = bites(world, FaultKind.DNS_TIMEOUT, count=2)
    assert udp.reply == tcp.reply == "" and udp.dst == "outside" and udp.command == "beta.test MX"
    assert dns_query(world, "alpha.test", "MX").rcode() == dns.rcode.NOERROR
    submit(world)
    [lookup] = world.events.facts(MxLookup, lambda x: x.error is not None)
    assert lookup.error.code is RouteReason.DNS_NO_ANSWER and not lookup.permanent
    world.events.facts(Deferred, lambda x: x.host == "smtp.alpha.test")
    world.stack.clear_fault("dns_timeout", "beta.test")
    delivered(world)


def test_missing_address_record_moves_mail_to_the_backup_mx_until_it_returns(world):
    world.stack.set_fault(fault(FaultKind.NO_ADDRESS, "mx1.beta.test"))
    assert dns_query(world, "mx1.beta.test", "A").rcode() == dns.rcode.NXDOMAIN
    mx = dns_query(world, "beta.test", "MX")
    assert not any(rrset.name.to_text() == "mx1.beta.test." for rrset in mx.additional)
    submit(world)
    world.events.facts(Relayed, lambda x: x.host == "smtp.alpha.test" and x.target == "mx2.beta.test")
    [held] = world.events.facts(Deferred, lambda x: x.host == "mx2.beta.test")
    assert held.reasons[0].code is RouteReason.NO_ADDRESS
    from_mta = bites(world, FaultKind.NO_ADDRESS, dst="mta:smtp.alpha.test")[0]
    assert (from_mta.command, from_mta.reply, from_mta.node) == ("mx1.beta.test A", "NXDOMAIN",
                                                                "mta:mx1.beta.test")
    world.stack.clear_fault("no_address", "mx1.beta.test")
    assert dns_query(world, "mx1.beta.test", "A").rcode() == dns.rcode.NOERROR
    [done] = delivered(world)
    assert done.host == "mx1.beta.test"
