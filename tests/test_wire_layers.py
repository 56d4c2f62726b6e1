"""The layers under each hop and the credentials a listener on the wire reads (issue 9, additions).

First the sans-IO pieces (:mod:`simulator.protocols.layers`) as tables; then the real world on
loopback: each hop's fact carries the socket pair its connection really used (checked against the
client's own socket), whether TLS was on and since which line, and marks the login lines of its
transcript with what the base64 decodes to -- or which TLS hid them.  Then the queue's next attempt.
Nothing sleeps: every check waits for the fact that proves it.
"""
from __future__ import annotations

import base64
import imaplib
import poplib
import smtplib
import ssl

import dns.message
import dns.query
import pytest

from simulator.events import trim_transcript
from simulator.facts import (Credential, Deferred, DnsServed, ImapLogin, MxLookup, Pop3Login, Relayed, SmtpAttempt,
                             SmtpLine, SmtpOutcome, SmtpSession, TlsMode, Wire)
from simulator.protocols.layers import NUL, find_credentials, trimmed_positions

from conftest import free_port


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def unverified() -> ssl.SSLContext:
    """The sandbox's certificate is self-signed; these tests look at the layers, not at trust."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


# -- sans-IO: what a listener reads --------------------------------------------------------------

PLAIN = b64("\0alice@alpha.test\0alice")

CREDENTIAL_CASES = [
    # (protocol, transcript, expected marks: (line, mechanism, carries, user, password))
    ("SMTP", [("C", f"AUTH PLAIN {PLAIN}"), ("S", "235 2.7.0 ok")],
     [(0, "PLAIN", "both", "alice@alpha.test", "alice")]),
    ("SMTP", [("C", "AUTH PLAIN"), ("S", "334 "), ("C", PLAIN), ("S", "235 2.7.0 ok")],
     [(2, "PLAIN", "both", "alice@alpha.test", "alice")]),
    ("SMTP", [("C", "auth login"), ("S", "334 VXNlcm5hbWU6"), ("C", b64("alice")), ("S", "334 UGFzc3dvcmQ6"),
              ("C", b64("s3cret")), ("S", "535 5.7.8 no")],
     [(2, "LOGIN", "user", "alice", ""), (4, "LOGIN", "password", "", "s3cret")]),
    ("SMTP", [("C", f"AUTH LOGIN {b64('alice')}"), ("S", "334 UGFzc3dvcmQ6"), ("C", b64("pw")), ("S", "235 ok")],
     [(0, "LOGIN", "user", "alice", ""), (2, "LOGIN", "password", "", "pw")]),
    ("SMTP", [("C", "AUTH LOGIN"), ("S", "334 VXNlcm5hbWU6"), ("C", "*"), ("S", "501 5.7.0 Auth aborted"),
              ("C", "MAIL FROM:<a@b.test>")], []),
    ("SMTP", [("C", "AUTH PLAIN not-base64!"), ("S", "501 5.5.2 bad")], []),
    ("SMTP", [("C", "AUTH CRAM-MD5"), ("S", "334 PDEyMzQ+"), ("C", b64("alice 0123"))], []),
    ("SMTP", [("C", "MAIL FROM:<PASS@x.test>"), ("C", "RCPT TO:<USER@x.test>")], []),
    ("POP3", [("C", "USER bob@beta.test"), ("S", "+OK Send PASS"), ("C", "PASS two words")],
     [(0, "USER", "user", "bob@beta.test", ""), (2, "PASS", "password", "", "two words")]),
    ("POP3", [("C", "AUTH PLAIN"), ("S", "+ "), ("C", b64("\0bob\0bob")), ("S", "+OK")],
     [(2, "PLAIN", "both", "bob", "bob")]),
    ("IMAP", [("C", 'a1 LOGIN "bob@beta.test" "p \\"w\\""'), ("S", "a1 OK")],
     [(0, "IMAP LOGIN", "both", "bob@beta.test", 'p "w"')]),
    ("IMAP", [("C", "a1 login bob bob"), ("S", "a1 OK")], [(0, "IMAP LOGIN", "both", "bob", "bob")]),
    ("IMAP", [("C", f"a2 AUTHENTICATE PLAIN {b64(chr(0) + 'bob' + chr(0) + 'x')}"), ("S", "a2 OK")],
     [(0, "PLAIN", "both", "bob", "x")]),
    ("IMAP", [("C", "a3 AUTHENTICATE LOGIN"), ("S", "+ VXNlcm5hbWU6"), ("C", b64("bob")), ("S", "+ UGFzc3dvcmQ6"),
              ("C", b64("bob")), ("S", "a3 OK")],
     [(2, "LOGIN", "user", "bob", ""), (4, "LOGIN", "password", "", "bob")]),
]


@pytest.mark.parametrize("protocol, lines, expected", CREDENTIAL_CASES)
def test_a_listener_reads_these_lines(protocol, lines, expected):
    found = find_credentials(lines, protocol)
    assert [(c.line, c.mechanism, c.carries, c.user, c.password) for c in found] == expected
    assert all(c.hidden_by is TlsMode.NONE for c in found)


def test_plain_shows_its_nul_separators():
    [mark] = find_credentials([("C", f"AUTH PLAIN {PLAIN}")], "SMTP")
    assert mark.decoded == f"{NUL}alice@alpha.test{NUL}alice"


def test_lines_under_tls_are_marked_hidden_not_read():
    lines = [("C", f"AUTH LOGIN {b64('alice')}"), ("S", "334 UGFzc3dvcmQ6"), ("C", b64("pw")), ("S", "235 ok")]
    first, second = find_credentials(lines, "SMTP", tls=TlsMode.STARTTLS, tls_from=2)
    assert first.hidden_by is TlsMode.NONE and first.user == "alice"
    assert second == Credential(line=2, mechanism="LOGIN", carries="password", hidden_by=TlsMode.STARTTLS)
    masked = find_credentials([("C", "USER bob"), ("S", "+OK"), ("C", "PASS ********")], "POP3",
                              tls=TlsMode.IMPLICIT, tls_from=0)
    assert [(c.mechanism, c.hidden_by, c.user, c.password) for c in masked] == [
        ("USER", TlsMode.IMPLICIT, "", ""), ("PASS", TlsMode.IMPLICIT, "", "")]


@pytest.mark.parametrize("keep", [1, 3, 20])
def test_trimmed_positions_follow_trim_transcript(keep):
    lines = ([("S", "220 hi"), ("C", "DATA"), ("S", "354 go")] + [("D", f"line {i}") for i in range(30)]
             + [("C", "."), ("S", "250 ok"), ("C", "QUIT")])
    trimmed = trim_transcript(lines, keep=keep)
    for index, position in enumerate(trimmed_positions(lines, keep)):
        if position is None:
            assert lines[index][0] == "D"
        else:
            assert trimmed[position][1] == lines[index][1]


# -- SMTP: submission, relay, attempts ------------------------------------------------------------

def submission_fact(world, port: int) -> SmtpSession:
    return world.events.facts(SmtpSession, lambda f: f.wire is not None and f.wire.client_port == port
                              and f.outcome is SmtpOutcome.SUBMITTED)[0]


def test_plaintext_submission_carries_its_socket_and_the_readable_password(world):
    port = world.port("submission")
    with smtplib.SMTP("127.0.0.1", port, local_hostname="pc.test", timeout=10) as client:
        local = client.sock.getsockname()
        client.login("alice@alpha.test", "alice")         # smtplib prefers AUTH PLAIN
        client.sendmail("alice@alpha.test", ["bob@beta.test"], b"Subject: wire\r\n\r\nx\r\n")
    fact = submission_fact(world, local[1])
    assert fact.wire == Wire(transport="tcp", client=local[0], client_port=local[1], server="127.0.0.1",
                             server_port=port)
    assert fact.via == "front" and fact.dst == "mta:smtp.alpha.test"
    [mark] = fact.credentials
    assert fact.transcript[mark.line][1].startswith("AUTH PLAIN ")
    assert (mark.mechanism, mark.user, mark.password, mark.hidden_by) == (
        "PLAIN", "alice@alpha.test", "alice", TlsMode.NONE)
    data = fact.data()       # what the page reads: plain JSON
    assert data["wire"]["client_port"] == local[1] and data["wire"]["tls"] == ""
    assert data["credentials"][0]["password"] == "alice"


def test_starttls_hides_the_login_and_says_from_which_line(world):
    port = world.port("submission")
    with smtplib.SMTP("127.0.0.1", port, local_hostname="pc.test", timeout=10) as client:
        local = client.sock.getsockname()
        client.starttls(context=unverified())
        client.ehlo()
        client.user, client.password = "alice@alpha.test", "alice"
        client.auth("LOGIN", client.auth_login, initial_response_ok=False)
        client.sendmail("alice@alpha.test", ["bob@beta.test"], b"Subject: tls\r\n\r\nx\r\n")
    fact = submission_fact(world, local[1])
    wire = fact.wire
    assert (wire.client, wire.client_port, wire.server_port) == (local[0], local[1], port)
    assert wire.tls is TlsMode.STARTTLS and wire.tls_version.startswith("TLS")
    assert fact.transcript[wire.tls_from - 1][1].startswith("220")             # "Ready to start TLS"
    assert fact.transcript[wire.tls_from - 2][1].upper() == "STARTTLS"
    assert len(fact.credentials) == 2 and all(c.line > wire.tls_from for c in fact.credentials)
    assert all(c.hidden_by is TlsMode.STARTTLS and not (c.user or c.password or c.decoded)
               for c in fact.credentials)


def test_the_tls_port_is_tls_from_the_first_line(world):
    port = world.port("smtps")
    with smtplib.SMTP_SSL("127.0.0.1", port, local_hostname="pc.test", timeout=10, context=unverified()) as client:
        local = client.sock.getsockname()
        client.login("alice@alpha.test", "alice")
        client.sendmail("alice@alpha.test", ["bob@beta.test"], b"Subject: smtps\r\n\r\nx\r\n")
    fact = submission_fact(world, local[1])
    assert (fact.wire.tls, fact.wire.tls_from, fact.wire.server_port) == (TlsMode.IMPLICIT, 0, port)
    assert [c.hidden_by for c in fact.credentials] == [TlsMode.IMPLICIT]


def test_relay_lookup_and_failed_attempt_carry_their_layers(start_world):
    world = start_world("scenarios/mx-failover.yaml")
    alpha, mx1, mx2 = (world.address(h) for h in ("smtp.alpha.test", "mx1.beta.test", "mx2.beta.test"))
    mx_port = world.stack.config.ports.mx
    with smtplib.SMTP("127.0.0.1", world.port("submission"), local_hostname="pc.test", timeout=10) as client:
        client.login("alice@alpha.test", "alice")
        client.sendmail("alice@alpha.test", ["bob@beta.test"], b"Subject: failover\r\n\r\nx\r\n")
    lookup = world.events.facts(MxLookup, lambda f: f.host == "smtp.alpha.test")[0]
    assert lookup.wire.transport == "udp" and lookup.wire.client == alpha and lookup.wire.client_port > 0
    assert (lookup.wire.server, lookup.wire.server_port) == (world.stack.config.front_host, world.port("dns"))
    attempt = world.events.facts(SmtpAttempt, lambda f: f.host == "smtp.alpha.test")[0]
    assert attempt.wire == Wire(client=alpha, client_port=0, server=mx1, server_port=mx_port)   # never connected
    session = world.events.facts(SmtpSession, lambda f: f.dst == "mta:mx2.beta.test")[0]
    assert (session.wire.client, session.wire.server, session.wire.server_port) == (alpha, mx2, mx_port)
    assert session.wire.client_port > 0 and session.credentials == ()
    relayed = world.events.facts(Relayed, lambda f: f.target == "mx2.beta.test")[0]
    assert relayed.wire == session.wire


def test_line_by_line_auth_login_is_marked_in_each_line_fact(world):
    world.stack.gate.set_granularity("line")          # playing: lines stream, nothing waits
    try:
        with smtplib.SMTP("127.0.0.1", world.port("submission"), local_hostname="pc.test", timeout=10) as client:
            local = client.sock.getsockname()
            client.user, client.password = "alice@alpha.test", "alice"
            client.ehlo()
            client.auth("LOGIN", client.auth_login, initial_response_ok=False)
            client.noop()
        world.events.facts(SmtpLine, lambda f: f.wire.client_port == local[1]
                           and any(t.startswith("221") for _, t in f.transcript))
    finally:
        world.stack.gate.set_granularity("hop")
    marks = [(f.transcript[c.line], c) for f in world.events.facts(SmtpLine, lambda f: f.wire.client_port == local[1])
             for c in f.credentials]
    assert [(line, c.carries, c.user, c.password) for line, c in marks] == [
        (("C", b64("alice@alpha.test")), "user", "alice@alpha.test", ""),
        (("C", b64("alice")), "password", "", "alice")]


# -- DNS ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_a_question_from_outside_carries_its_datagram_or_connection(world, transport):
    query = dns.message.make_query("beta.test", "MX")
    source_port = free_port()
    ask = dns.query.udp if transport == "udp" else dns.query.tcp
    ask(query, "127.0.0.1", port=world.port("dns"), source="127.0.0.1", source_port=source_port, timeout=5)
    fact = world.events.facts(DnsServed, lambda f: f.wire.client_port == source_port)[0]
    assert fact.wire == Wire(transport=transport, client="127.0.0.1", client_port=source_port,
                             server="127.0.0.1", server_port=world.port("dns"))


# -- POP3 and IMAP --------------------------------------------------------------------------------

def test_pop3_user_pass_in_clear_text_is_read(world):
    client = poplib.POP3("127.0.0.1", world.port("pop3"), timeout=10)
    local = client.sock.getsockname()
    client.user("bob@beta.test")
    client.pass_("bob")
    client.quit()
    login = world.events.facts(Pop3Login, lambda f: f.wire.client_port == local[1])[0]
    assert login.wire == Wire(client=local[0], client_port=local[1], server="127.0.0.1",
                              server_port=world.port("pop3"))
    assert [(login.transcript[c.line][1], c.user, c.password) for c in login.credentials] == [
        ("USER bob@beta.test", "bob@beta.test", ""), ("PASS bob", "", "bob")]


def test_pop3_stls_hides_the_password(world):
    client = poplib.POP3("127.0.0.1", world.port("pop3"), timeout=10)
    local = client.sock.getsockname()
    client.stls(context=unverified())
    client.user("bob@beta.test")
    client.pass_("bob")
    client.quit()
    login = world.events.facts(Pop3Login, lambda f: f.wire.client_port == local[1])[0]
    assert login.wire.tls is TlsMode.STARTTLS and login.wire.tls_version.startswith("TLS")
    assert login.transcript[login.wire.tls_from - 1] == ("…", "TLS")
    assert [(c.mechanism, c.hidden_by, c.password) for c in login.credentials] == [
        ("USER", TlsMode.STARTTLS, ""), ("PASS", TlsMode.STARTTLS, "")]


def test_pop3s_is_implicit_tls(world):
    client = poplib.POP3_SSL("127.0.0.1", world.port("pop3s"), timeout=10, context=unverified())
    local = client.sock.getsockname()
    client.user("bob@beta.test")
    client.pass_("bob")
    client.quit()
    login = world.events.facts(Pop3Login, lambda f: f.wire.client_port == local[1])[0]
    assert (login.wire.tls, login.wire.tls_from, login.wire.server_port) == (TlsMode.IMPLICIT, 0, world.port("pop3s"))
    assert {c.hidden_by for c in login.credentials} == {TlsMode.IMPLICIT}


def test_imap_login_in_clear_text_on_a_host(world):
    address, port = world.address("mx1.beta.test"), world.port("imap", "mx1.beta.test")
    client = imaplib.IMAP4(address, port, timeout=10)
    local = client.sock.getsockname()
    client.login("bob", "bob")
    client.logout()
    login = world.events.facts(ImapLogin, lambda f: f.wire.client_port == local[1])[0]
    assert login.wire == Wire(client=local[0], client_port=local[1], server=address, server_port=port)
    [mark] = login.credentials
    assert (mark.mechanism, mark.user, mark.password) == ("IMAP LOGIN", "bob", "bob")
    assert login.transcript[mark.line][1].split()[1].upper() == "LOGIN"


def test_imap_starttls_hides_the_login(world):
    client = imaplib.IMAP4("127.0.0.1", world.port("imap"), timeout=10)
    local = client.sock.getsockname()
    client.starttls(ssl_context=unverified())
    client.login("bob@beta.test", "bob")
    client.logout()
    login = world.events.facts(ImapLogin, lambda f: f.wire.client_port == local[1])[0]
    assert (login.wire.tls, login.wire.tls_from) == (TlsMode.STARTTLS, 0)
    assert [(c.hidden_by, c.password) for c in login.credentials] == [(TlsMode.STARTTLS, "")]


# -- the queue ------------------------------------------------------------------------------------

def test_queue_snapshot_has_next_attempt_and_attempts(start_world):
    world = start_world("scenarios/mx-failover.yaml")
    with smtplib.SMTP("127.0.0.1", world.port("submission"), local_hostname="pc.test", timeout=10) as client:
        client.login("alice@alpha.test", "alice")
        client.sendmail("alice@alpha.test", ["bob@beta.test"], b"Subject: queue\r\n\r\nx\r\n")
    deferred = world.events.facts(Deferred, lambda f: f.host == "mx2.beta.test")[0]
    assert deferred.next_attempt > 0 and deferred.attempts >= 1
    [entry] = [e for e in world.stack.queue_snapshot() if e["host"] == "mx2.beta.test"]
    assert entry["attempts"] >= 1 and entry["next_attempt"] >= entry["created"]
    assert isinstance(entry["running"], bool) and entry["pending"] == 1
    assert 0 <= entry["retry_in"] <= world.stack.config.queue.max_interval
    assert entry["retry_in"] == 0 or not entry["running"]
