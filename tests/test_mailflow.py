"""End to end through the real stack: smtplib submits, DNS routes, SMTP relays, the MDA writes."""
from __future__ import annotations

import email
import smtplib
from email import policy

import pytest

from simulator import nodes
from simulator.facts import (AttemptReason, Bounced, Deferred, DeliveryReason, MdaDelivered, MxLookup,
                             RouteReason, SmtpAttempt, SmtpOutcome, SmtpSession)
from simulator.queue import QueueStore

MSG = (b"From: Alice <alice@alpha.test>\r\nTo: Bob <bob@beta.test>\r\nSubject: Hello Bob\r\n\r\n"
       b"Hi Bob,\r\nthis is a test.\r\n")


def submit(world, sender="alice@alpha.test", password="alice", rcpts=("bob@beta.test",), body=MSG):
    with smtplib.SMTP("127.0.0.1", world.port("submission"), local_hostname="client.test", timeout=10) as s:
        s.login(sender, password)
        return s.sendmail(sender, list(rcpts), body)


def parse(raw: bytes):
    return email.message_from_bytes(raw, policy=policy.default)


def test_alice_to_bob_end_to_end(world):
    submit(world)
    [raw] = world.wait_messages("bob@beta.test")
    msg = parse(raw)
    assert msg["Subject"] == "Hello Bob"
    assert msg["Return-Path"] == "<alice@alpha.test>"
    assert msg["Delivered-To"] == "bob@beta.test"
    received = msg.get_all("Received")
    assert len(received) == 2                       # MSA, then the MX
    assert "by mx1.beta.test" in received[0] and "smtp.alpha.test" in received[0]
    assert "by smtp.alpha.test" in received[1] and "ESMTPA" in received[1]
    assert msg["Date"] and msg["Message-ID"]        # added by the MSA (RFC 6409 §8)
    assert raw.count(b"\r\n") >= 5 and b"\n" not in raw.replace(b"\r\n", b"")

    delivered = world.events.wait_for(lambda e: e.kind == "mda.deliver")[0]
    trace = delivered.trace
    hops = [e for e in world.events.events if e.trace == trace and e.kind != "queue.relay"]
    assert [e.kind for e in hops] == ["smtp.session", "dns.query", "smtp.session", "mda.deliver"]
    sub, dns_q, relay, mda = hops
    assert (sub.src, sub.dst) == ("mua:alice@alpha.test", "mta:smtp.alpha.test")
    assert (dns_q.src, dns_q.dst) == ("mta:smtp.alpha.test", "dns")
    assert dns_q.data["order"][0]["host"] == "mx1.beta.test"
    assert dns_q.data["answers"] == ["MX 10 mx1.beta.test", "MX 20 mx2.beta.test"]
    assert (relay.src, relay.dst) == ("mta:smtp.alpha.test", "mta:mx1.beta.test")
    assert (mda.src, mda.dst) == ("mda:beta.test", "mailbox:bob@beta.test")
    lines = [line for _, line in relay.transcript]
    assert any(line.startswith("EHLO smtp.alpha.test") for line in lines)
    assert any(line.startswith("250 2.0.0") for line in lines)
    assert [type(e.fact) for e in hops] == [SmtpSession, MxLookup, SmtpSession, MdaDelivered]
    assert sub.fact.outcome is SmtpOutcome.SUBMITTED and sub.fact.port == world.port("submission")
    assert relay.fact.outcome is SmtpOutcome.RELAYED and relay.fact.final
    assert relay.fact.port == world.stack.config.ports.mx
    assert dns_q.fact.chosen == "mx1.beta.test" and dns_q.fact.error is None
    assert [r.code for r in dns_q.fact.reason] == [RouteReason.LOWEST_FIRST]
    assert mda.fact.rcpt == "bob@beta.test" and mda.data["path"].startswith("mail/beta.test/bob/new/")
    assert all(e.text[lang]["summary"] and e.text[lang]["explain"] for e in hops for lang in ("en", "ru"))
    assert sub.message["subject"] == "Hello Bob" and sub.message["rcpt"] == ["bob@beta.test"]


TWO_FINAL_MX = """
name: two-mx
domains:
  alpha.test:
    users: {alice: alice}
    hosts: {smtp.alpha.test: {role: msa}, mx.alpha.test: {role: mx}}
    mx: [{preference: 10, host: mx.alpha.test}]
  beta.test:
    users: {bob: bob}
    hosts:
      mx1.beta.test: {role: mx, state: down}
      mx2.beta.test: {role: mx}
    mx: [{preference: 10, host: mx1.beta.test}, {preference: 20, host: mx2.beta.test}]
"""


def test_primary_down_delivers_through_next_preference(start_world):
    world = start_world(TWO_FINAL_MX)
    submit(world)
    [raw] = world.wait_messages("bob@beta.test")
    assert "by mx2.beta.test" in parse(raw).get_all("Received")[0]
    refused = world.events.wait_for(lambda e: e.kind == "smtp.attempt" and e.dst == "mta:mx1.beta.test")
    assert refused[0].status == "failed" and isinstance(refused[0].fact, SmtpAttempt)
    assert refused[0].fact.reason.code is AttemptReason.REFUSED and refused[0].fact.preference == 10
    # The MX writes the Maildir before its 250 and tells of it after its session's fact: wait for that.
    world.events.wait_for(lambda e: e.kind == "mda.deliver" and e.trace == refused[0].trace)
    kinds = [e.kind for e in world.events.events if e.trace == refused[0].trace and e.kind != "queue.relay"]
    assert kinds == ["smtp.session", "dns.query", "smtp.attempt", "smtp.session", "mda.deliver"]


def test_backup_mx_queues_until_primary_returns(start_world):
    world = start_world("scenarios/mx-failover.yaml")
    submit(world)
    world.events.wait_for(lambda e: e.kind == "queue.defer" and e.src == "mta:mx2.beta.test")
    assert world.messages("bob@beta.test") == []
    world.stack.set_host_state("mx1.beta.test", True)
    [raw] = world.wait_messages("bob@beta.test")
    received = parse(raw).get_all("Received")
    assert "by mx1.beta.test" in received[0] and "from mx2.beta.test" in received[0]
    assert "by mx2.beta.test" in received[1]
    assert "by smtp.alpha.test" in received[2]


def test_every_mx_down_defers_then_delivers_once_one_returns(world):
    world.stack.set_host_state("mx1.beta.test", False)
    world.stack.set_host_state("mx2.beta.test", False)
    submit(world)
    [deferred] = world.events.facts(Deferred, lambda x: x.host == "smtp.alpha.test")
    assert deferred.retry_in > 0 and deferred.rcpts == ("bob@beta.test",)
    [why] = deferred.reasons
    assert why.code is DeliveryReason.UNREACHABLE and why["domain"] == "beta.test"
    assert why["last"].code is AttemptReason.REFUSED
    attempts = world.events.wait_for(lambda e: e.kind == "smtp.attempt", count=2)
    assert {e.dst for e in attempts} == {"mta:mx1.beta.test", "mta:mx2.beta.test"}
    assert world.messages("bob@beta.test") == []
    world.stack.set_host_state("mx2.beta.test", True)
    world.stack.set_host_state("mx1.beta.test", True)
    world.wait_messages("bob@beta.test")
    world.wait_queue_empty()
    assert len(world.messages("bob@beta.test")) == 1


def test_unknown_user_bounces_with_the_whole_original(world):
    submit(world, rcpts=("nobody@beta.test",))
    [raw] = world.wait_messages("alice@alpha.test")
    dsn = parse(raw)
    assert dsn.get_content_type() == "multipart/report"
    assert dsn.get_param("report-type") == "delivery-status"
    assert dsn["Return-Path"] == "<>"
    parts = list(dsn.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "message/delivery-status",
                                                     "message/rfc822"]      # issue 11: the whole original
    status = parts[1].as_string()
    assert "Final-Recipient: rfc822; nobody@beta.test" in status
    assert "Action: failed" in status and "Status: 5.1.1" in status
    assert "Reporting-MTA: dns; smtp.alpha.test" in status
    assert parts[2].get_payload()[0]["Subject"] == "Hello Bob"
    assert "nobody@beta.test" in parts[0].get_content() and "Это почтовая система" in parts[0].get_content()
    bounce = world.events.wait_for(lambda e: e.kind == "queue.bounce")[0]
    assert bounce.status == "bounced" and bounce.fact.codes == ("5.1.1",)
    [why] = bounce.fact.reasons
    assert why.code is DeliveryReason.REPLY and why["reply"].startswith("550 5.1.1")


def test_null_mx_bounces_at_once(world):
    submit(world, rcpts=("someone@gamma.test",))
    [raw] = world.wait_messages("alice@alpha.test")
    assert "Status: 5.1.10" in raw.decode()
    [lookup] = world.events.facts(MxLookup, lambda x: x.domain == "gamma.test")
    assert lookup.status == "failed" and lookup.error.code is RouteReason.NULL_MX and lookup.permanent
    assert "X-Mailflow-Reason: gamma.test publishes a null MX" in raw.decode()
    assert not [e for e in world.events.events if e.kind == "smtp.attempt"]


def test_domain_outside_the_sandbox_bounces(world):
    submit(world, rcpts=("someone@example.com",))
    [raw] = world.wait_messages("alice@alpha.test")
    text = raw.decode()
    assert "outside the sandbox" in text and "Status: 5.1.2" in text
    [lookup] = world.events.facts(MxLookup, lambda x: x.domain == "example.com")
    assert lookup.rcode == "REFUSED" and lookup.error.code is RouteReason.OUTSIDE
    [bounce] = world.events.facts(Bounced)
    assert bounce.reasons[0].code is RouteReason.OUTSIDE and bounce.dst == nodes.mua("alice@alpha.test")
    assert not [e for e in world.events.events if e.kind in ("smtp.attempt",)]


def test_bounce_of_a_bounce_is_dropped(world):
    # Send with a null reverse-path straight to beta's MX for an unknown user: refused at RCPT,
    # so nothing is queued; now a null-sender message to a user that exists but whose domain
    # bounces later: gamma's null MX via alpha's MX is not possible, so use the MX directly.
    with smtplib.SMTP(world.address("mx.alpha.test"), world.stack.config.ports.mx, local_hostname="x.test") as s:
        s.sendmail("", ["alice@alpha.test"], b"Subject: a bounce\r\n\r\nbody\r\n")
    world.wait_messages("alice@alpha.test")
    assert parse(world.messages("alice@alpha.test")[0])["Return-Path"] == "<>"


def test_relay_without_auth_is_refused_and_nothing_queued(world):
    queue_dir = world.stack.config.data_dir / "queue"
    with smtplib.SMTP("127.0.0.1", world.port("submission"), local_hostname="x.test") as s:
        s.ehlo("x.test")
        code, text = s.mail("alice@alpha.test")
        assert code == 530 and b"5.7.0" in text
        code, text = s.rcpt("bob@beta.test")
        assert code == 530
    # the MX port of a host refuses domains it does not serve: no open relay
    with smtplib.SMTP(world.address("mx1.beta.test"), world.stack.config.ports.mx, local_hostname="x.test") as s:
        s.ehlo("x.test")
        assert s.mail("mallory@evil.example")[0] == 250
        code, text = s.rcpt("victim@example.com")
        assert code == 550 and b"5.7.1" in text
        code, text = s.rcpt("alice@alpha.test")
        assert code == 550 and b"5.7.1" in text
        code, text = s.rcpt("nobody@beta.test")
        assert code == 550 and b"5.1.1" in text
    assert QueueStore(queue_dir).load_all() == []


def test_sender_must_be_the_authenticated_user(world):
    with smtplib.SMTP("127.0.0.1", world.port("submission"), local_hostname="x.test") as s:
        s.login("alice@alpha.test", "alice")
        code, text = s.mail("bob@beta.test")
        assert code == 553 and b"5.7.1" in text


def test_ehlo_offers_what_clients_need(world):
    with smtplib.SMTP("127.0.0.1", world.port("submission"), local_hostname="[127.0.0.1]") as s:
        code, _ = s.ehlo("[127.0.0.1]")
        assert code == 250
        for ext in ("pipelining", "size", "8bitmime", "enhancedstatuscodes", "auth", "starttls"):
            assert s.has_extn(ext), ext
        assert set(s.esmtp_features["auth"].upper().split()) >= {"PLAIN", "LOGIN"}


def test_implicit_mx_via_a_record(start_world):
    world = start_world("""
name: implicit
domains:
  alpha.test:
    users: {alice: alice}
    hosts: {smtp.alpha.test: {role: msa}, mx.alpha.test: {role: mx}}
    mx: [{preference: 10, host: mx.alpha.test}]
  delta.test:
    users: {dora: dora}
    hosts: {mail.delta.test: {role: mx}}
""")
    submit(world, rcpts=("dora@delta.test",))
    world.wait_messages("dora@delta.test")
    [lookup] = world.events.facts(MxLookup, lambda x: x.domain == "delta.test")
    assert lookup.implicit is True and [r.code for r in lookup.reason] == [RouteReason.IMPLICIT_MX]


def test_mx_table_edit_takes_effect_on_next_lookup(world):
    world.stack.set_mx("beta.test", [(50, "mx1.beta.test")])
    change = world.events.wait_for(lambda e: e.kind == "world.mx")[0]
    assert change.data["domain"] == "beta.test" and change.data["mx"] == [[50, "mx1.beta.test"]]
    submit(world)
    world.wait_messages("bob@beta.test")
    [lookup] = world.events.facts(MxLookup, lambda x: x.domain == "beta.test")
    assert lookup.answers == ("MX 50 mx1.beta.test",) and world.events.wait_for(
        lambda e: e.kind == "dns.query")[0].data["answers"] == ["MX 50 mx1.beta.test"]


def test_backup_mx_as_best_mx_is_a_loop(world):
    """A backup MX that is the best MX has nowhere better to forward to (RFC 5321 §5.1)."""
    world.stack.set_mx("beta.test", [(5, "mx2.beta.test"), (10, "mx1.beta.test")])
    submit(world)
    [raw] = world.wait_messages("alice@alpha.test")
    assert "Status: 5.4.6" in raw.decode()
    [loop] = world.events.facts(MxLookup, lambda x: x.host == "mx2.beta.test" and x.domain == "beta.test")
    assert loop.error.code is RouteReason.LOOP
    assert [r.code for r in loop.reason] == []
    assert world.messages("bob@beta.test") == []


def test_mx_table_edit_rejects_bad_input(world):
    from simulator.world import WorldError
    with pytest.raises(WorldError, match="0..65535"):
        world.stack.set_mx("beta.test", [(70000, "mx1.beta.test")])
    with pytest.raises(WorldError, match="not a host"):
        world.stack.set_mx("beta.test", [(10, "nowhere.beta.test")])
    with pytest.raises(WorldError, match="null MX"):
        world.stack.set_mx("beta.test", [(0, "."), (10, "mx1.beta.test")])


def test_mail_loop_bounces(world):
    hops = b"".join(b"Received: from a by b; Thu, 1 Jan 2026 00:00:00 +0000\r\n" for _ in range(40))
    with smtplib.SMTP("127.0.0.1", world.port("submission"), local_hostname="x.test") as s:
        s.login("alice@alpha.test", "alice")
        with pytest.raises(smtplib.SMTPDataError) as err:
            s.sendmail("alice@alpha.test", ["bob@beta.test"], hops + MSG)
        assert err.value.smtp_code == 554 and b"5.4.6" in err.value.smtp_error
