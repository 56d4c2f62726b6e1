"""Bad input on the SMTP servers: each gets its reply, nothing is split or lost, others keep being served."""
from __future__ import annotations

import base64
import re
import smtplib
import socket
import time

import pytest

from simulator.facts import SmtpOutcome, SmtpSession
from simulator.protocols.smtp import TranscriptSMTP
from simulator.protocols.throttle import LoginThrottle


def raw_session(address: str, port: int, lines: list[bytes], *, wait: float = 0.3) -> bytes:
    """Send raw bytes (no smtplib fix-ups) and return everything the server said."""
    with socket.create_connection((address, port), timeout=5) as sock:
        sock.recv(1024)
        for chunk in lines:
            sock.sendall(chunk)
            time.sleep(0.05)
        deadline = time.monotonic() + wait + 2
        data = b""
        sock.settimeout(0.3)
        while time.monotonic() < deadline:
            try:
                got = sock.recv(65536)
            except socket.timeout:
                if data.rstrip().endswith((b"Bye", b"2.0.0 Bye")):
                    break
                continue
            if not got:
                break
            data += got
        return data


def auth_plain(user: str, password: str) -> bytes:
    return base64.b64encode(f"\0{user}\0{password}".encode())


def still_serving(world) -> None:
    with smtplib.SMTP("127.0.0.1", world.port("submission"), local_hostname="ok.test", timeout=5) as s:
        assert s.noop()[0] == 250


@pytest.mark.parametrize("smuggle", [
    b"\n.\n",          # bare LF dot bare LF
    b"\r.\r",          # bare CR
    b"\n.\r\n",        # LF dot CRLF
    b"\r\n.\n",        # CRLF dot LF
    b"\r.\r\n",
])
def test_smuggling_never_splits_a_message(world, smuggle):
    payload = (b"From: alice@alpha.test\r\nTo: bob@beta.test\r\nSubject: one\r\n\r\nbefore" + smuggle +
               b"MAIL FROM:<alice@alpha.test>\r\nRCPT TO:<bob@beta.test>\r\nDATA\r\n"
               b"Subject: smuggled\r\n\r\nevil\r\n.\r\n")
    reply = raw_session("127.0.0.1", world.port("submission"), [
        b"EHLO x.test\r\n", b"AUTH PLAIN " + auth_plain("alice@alpha.test", "alice") + b"\r\n",
        b"MAIL FROM:<alice@alpha.test>\r\n", b"RCPT TO:<bob@beta.test>\r\n", b"DATA\r\n",
        payload, b"QUIT\r\n"])
    assert reply.count(b"queued as") == 1, reply
    [message] = world.wait_messages("bob@beta.test")
    world.wait_queue_empty()
    assert len(world.messages("bob@beta.test")) == 1
    assert b"smuggled" in message and b"before" in message     # one message, content intact
    body_lines = message.split(b"\r\n")
    assert all(b"\r" not in line and b"\n" not in line for line in body_lines)   # CRLF only


def test_overlong_command_line_gets_500_5_5_2(world):
    reply = raw_session("127.0.0.1", world.port("submission"),
                        [b"EHLO x.test\r\n", b"NOOP " + b"x" * 2000 + b"\r\n", b"NOOP\r\n", b"QUIT\r\n"])
    assert b"500 5.5.2" in reply
    assert reply.count(b"250 2.0.0") >= 1      # the NOOP after it is answered: session goes on
    still_serving(world)


def test_overlong_text_line_in_data_is_refused(world):
    with smtplib.SMTP("127.0.0.1", world.port("submission"), local_hostname="x.test") as s:
        s.login("alice@alpha.test", "alice")
        with pytest.raises(smtplib.SMTPDataError) as err:
            s.sendmail("alice@alpha.test", ["bob@beta.test"], b"Subject: long\r\n\r\n" + b"y" * 5000 + b"\r\n")
        assert err.value.smtp_code == 500 and b"5.5.2" in err.value.smtp_error
        assert s.noop()[0] == 250
    assert world.stack.queue_snapshot() == []           # refused before it was queued
    assert world.messages("bob@beta.test") == []


def test_message_over_size_gets_552(start_world):
    world = start_world(max_message_size=10_000)
    with smtplib.SMTP("127.0.0.1", world.port("submission"), local_hostname="x.test") as s:
        s.ehlo()
        assert s.esmtp_features["size"] == "10000"
        s.login("alice@alpha.test", "alice")
        body = b"Subject: big\r\n\r\n" + (b"z" * 70 + b"\r\n") * 300
        code, text = s.mail("alice@alpha.test", [f"SIZE={len(body)}"])   # declared: refused up front
        assert code == 552
        s.rset()
        s.esmtp_features.pop("size")                                      # undeclared: refused after DATA
        with pytest.raises(smtplib.SMTPDataError) as err:
            s.sendmail("alice@alpha.test", ["bob@beta.test"], body)
        assert err.value.smtp_code == 552 and b"5.3.4" in err.value.smtp_error
    still_serving(world)
    assert world.stack.queue_snapshot() == []           # refused before it was queued
    assert world.messages("bob@beta.test") == []


def test_wrong_password_gets_535_and_others_keep_working(world):
    with smtplib.SMTP("127.0.0.1", world.port("submission"), local_hostname="x.test") as bad:
        with pytest.raises(smtplib.SMTPAuthenticationError) as err:
            bad.login("alice@alpha.test", "wrong")
        assert err.value.smtp_code == 535 and b"5.7.8" in err.value.smtp_error
        with pytest.raises(smtplib.SMTPAuthenticationError):
            bad.login("nobody@alpha.test", "alice")
        with smtplib.SMTP("127.0.0.1", world.port("submission"), local_hostname="y.test") as good:
            good.login("alice@alpha.test", "alice")
            good.sendmail("alice@alpha.test", ["bob@beta.test"], b"Subject: fine\r\n\r\nok\r\n")
    world.wait_messages("bob@beta.test")
    failed = world.events.facts(SmtpSession, lambda x: x.outcome is SmtpOutcome.REFUSED)
    assert any(x.reply.startswith("535 5.7.8") for x in failed)
    assert world.stack.throttle.failures("127.0.0.1") == 0     # the good login forgave the peer


def test_submission_shares_the_login_throttle(start_world, monkeypatch):
    """RFC 4954 §9: failed AUTHs are counted per peer; past the free ones, the next AUTH waits."""
    world = start_world()
    now = [0.0]
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)
    monkeypatch.setattr(TranscriptSMTP, "sleep", staticmethod(record))
    # the listeners read the stack's throttle for each new connection: one with a test clock
    world.stack.throttle = throttle = LoginThrottle(clock=lambda: now[0], free=2, base=4.0, cap=8.0)
    wrong = "PLAIN " + auth_plain("alice@alpha.test", "wrong").decode()
    with smtplib.SMTP("127.0.0.1", world.port("submission"), local_hostname="x.test") as s:
        s.ehlo()
        assert [s.docmd("AUTH", wrong)[0] for _ in range(3)] == [535, 535, 535]
    assert waits == [4.0]                       # the third attempt waited, before its 535
    assert throttle.failures("127.0.0.1") == 3
    right = "PLAIN " + auth_plain("alice", "alice").decode()
    with smtplib.SMTP(world.address("smtp.alpha.test"), world.port("submission", "smtp.alpha.test"),
                      local_hostname="x.test") as s:
        s.ehlo()
        assert s.docmd("AUTH", right)[0] == 235          # one throttle for every submission door
    assert waits == [4.0, 8.0] and throttle.failures("127.0.0.1") == 0


def test_domain_msa_serves_only_its_own_users(world):
    host = world.address("smtp.alpha.test")
    port = world.port("submission", "smtp.alpha.test")
    with smtplib.SMTP(host, port, local_hostname="x.test") as s:
        assert s.login("alice", "alice")[0] == 235         # a bare user name works on the domain's MSA
    with smtplib.SMTP(host, port, local_hostname="x.test") as s:
        with pytest.raises(smtplib.SMTPAuthenticationError):
            s.login("bob@beta.test", "bob")                 # beta's user cannot submit through alpha's MSA


def test_garbage_and_binary_do_not_stop_the_server(world):
    reply = raw_session("127.0.0.1", world.port("submission"),
                        [b"\x00\xff\xfe garbage\r\n", b"\r\n", b"HELO\r\n", b"EHLO x\r\n", b"QUIT\r\n"])
    assert b"500" in reply and b"501" in reply and b"221" in reply
    still_serving(world)


def test_many_recipients_are_capped(world):
    with smtplib.SMTP(world.address("mx1.beta.test"), world.stack.config.ports.mx, local_hostname="x.test") as s:
        s.ehlo()
        s.mail("someone@alpha.test")
        codes = [s.rcpt("bob@beta.test")[0] for _ in range(105)]
    assert codes[:100] == [250] * 100 and codes[100:] == [452] * 5


def test_undecodable_address_bytes_are_refused_and_others_still_delivered(world):
    reply = raw_session(world.address("mx1.beta.test"), world.stack.config.ports.mx, [
        b"EHLO x.test\r\n", b"MAIL FROM:<\xff@evil.test>\r\n", b"QUIT\r\n"])
    assert b"501 5.1.7" in reply
    reply = raw_session("127.0.0.1", world.port("submission"), [
        b"EHLO x.test\r\n", b"AUTH PLAIN " + auth_plain("alice@alpha.test", "alice") + b"\r\n",
        b"MAIL FROM:<alice@alpha.test>\r\n", b"RCPT TO:<\xfe@beta.test>\r\n", b"RCPT TO:<bob@beta.test>\r\n",
        b"DATA\r\n", b"Subject: mixed\r\n\r\nhello\r\n.\r\n", b"QUIT\r\n"])
    assert b"501 5.1.3" in reply and reply.count(b"queued as") == 1
    [message] = world.wait_messages("bob@beta.test")
    assert b"Subject: mixed" in message


def test_a_domain_name_that_cannot_exist_bounces_at_once(world):
    bad = "x@" + "a" * 70 + ".test"                 # a DNS label is at most 63 octets
    with smtplib.SMTP("127.0.0.1", world.port("submission"), local_hostname="x.test") as s:
        s.login("alice@alpha.test", "alice")
        s.sendmail("alice@alpha.test", [bad], b"Subject: nowhere\r\n\r\nx\r\n")
    [raw] = world.wait_messages("alice@alpha.test", timeout=5)
    assert b"Status: 5.1.3" in raw


def test_a_host_that_is_down_holds_its_queue_without_busy_waiting(start_world):
    world = start_world("scenarios/mx-failover.yaml")
    with smtplib.SMTP("127.0.0.1", world.port("submission"), local_hostname="x.test") as s:
        s.login("alice@alpha.test", "alice")
        s.sendmail("alice@alpha.test", ["bob@beta.test"], b"Subject: held\r\n\r\nx\r\n")
    world.events.wait_for(lambda e: e.kind == "queue.defer" and e.src == "mta:mx2.beta.test")
    world.stack.set_host_state("mx2.beta.test", False)      # the backup MX holding the message goes down
    before = time.process_time()
    time.sleep(1.0)
    assert time.process_time() - before < 0.5               # the mail loop is idle, not spinning
    world.stack.set_host_state("mx1.beta.test", True)
    world.stack.set_host_state("mx2.beta.test", True)       # coming back up flushes its queue
    [raw] = world.wait_messages("bob@beta.test")
    assert b"Subject: held" in raw


def test_a_door_without_auth_announces_no_auth_and_refuses_it(world):
    """RFC 4954 §3: ``AUTH`` is followed by at least one mechanism; an MX offers none, so its EHLO
    says nothing of AUTH, and an AUTH command there is not implemented (502)."""
    port = world.stack.config.ports.mx
    for name in world.stack.world.hosts:
        with smtplib.SMTP(world.address(name), port, local_hostname="student.test", timeout=5) as client:
            code, reply = client.ehlo()
            assert code == 250
            assert not any(line.upper().startswith(b"AUTH") for line in reply.splitlines()), reply
            assert "auth" not in client.esmtp_features
            code, reply = client.docmd("AUTH", "PLAIN " + auth_plain("alice@alpha.test", "alice").decode())
            assert (code, reply[:5]) == (502, b"5.5.1"), reply
    with smtplib.SMTP("127.0.0.1", world.port("submission"), local_hostname="student.test", timeout=5) as client:
        client.ehlo()
        assert client.esmtp_features["auth"].split() == ["LOGIN", "PLAIN"]


def test_every_host_greets_with_its_own_name(world):
    """The MSA and every MTA say their own host name in the greeting and the EHLO reply, as the
    diagram and the Received: header name them; their IMAP and POP3 greet with it too."""
    listeners = [item for item in world.stack.listeners if item.host != "front"]
    assert {item.service for item in listeners} >= {"mx", "submission", "imap", "pop3"}
    for item in listeners:
        if item.service in ("mx", "submission"):
            with smtplib.SMTP(local_hostname="student.test", timeout=5) as client:
                code, greeting = client.connect(item.address, item.port)
                assert (code, greeting.split()[0].decode()) == (220, item.host), item
                assert client.ehlo()[1].splitlines()[0].decode() == item.host, item
        elif item.service in ("imap", "pop3"):
            with socket.create_connection((item.address, item.port), timeout=5) as sock:
                greeting = sock.recv(1024).decode()
            assert f" {item.host} " in greeting, (item, greeting)


def test_msa_greeting_names_the_msa(world):
    address = world.address("smtp.alpha.test")
    with socket.create_connection((address, world.stack.config.ports.submission), timeout=5) as sock:
        greeting = sock.recv(1024).decode()
    assert greeting.startswith("220 smtp.alpha.test "), greeting


def test_the_front_door_is_never_localhost_and_hands_over_to_the_msa(world):
    with socket.create_connection(("127.0.0.1", world.port("submission")), timeout=5) as sock:
        greeting = sock.recv(1024).decode()
    assert greeting.startswith("220 ") and "localhost" not in greeting, greeting
    with smtplib.SMTP("127.0.0.1", world.port("submission"), local_hostname="student.test", timeout=5) as client:
        assert b"localhost" not in client.ehlo()[1]
        code, reply = client.login("alice@alpha.test", "alice")
        assert code == 235 and b"smtp.alpha.test" in reply
        assert client.ehlo()[1].splitlines()[0] == b"smtp.alpha.test"     # the MSA answers from now on
        client.sendmail("alice@alpha.test", ["bob@beta.test"], b"Subject: named\r\n\r\nx\r\n")
    [session] = world.events.facts(SmtpSession, lambda f: f.outcome is SmtpOutcome.SUBMITTED)
    assert (session.host, session.via, session.dst) == ("smtp.alpha.test", "front", "mta:smtp.alpha.test")
    assert not any("localhost" in text for side, text in session.transcript if side == "S")


def test_the_front_door_is_named_as_such_not_by_its_node_id(world):
    """Defect 10: an explanation read "talked SMTP to front".  A session that ends at the front door
    (no login) and one it hands to the MSA both word the front door, never the node id."""
    with smtplib.SMTP("127.0.0.1", world.port("submission"), local_hostname="student.test", timeout=5) as client:
        client.ehlo()
        client.docmd("MAIL", "FROM:<alice@alpha.test>")          # 530: log in first
    with smtplib.SMTP("127.0.0.1", world.port("submission"), local_hostname="student.test", timeout=5) as client:
        client.login("alice@alpha.test", "alice")
        client.sendmail("alice@alpha.test", ["bob@beta.test"], b"Subject: words\r\n\r\nx\r\n")
    events = world.events.wait_for(lambda e: isinstance(e.fact, SmtpSession)
                                   and (e.dst == "front" or e.fact.via == "front"), count=2)
    for event in events:
        for lang in ("en", "ru"):
            words = event.words(lang)
            text = words["summary"] + " " + words["explain"]
            assert not re.search(r"\bfront\b(?! door)", text), (lang, text)
