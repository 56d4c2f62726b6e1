"""The SMTP doors' rules on real sockets: grammar, relay tricks, error budget, idle timeout, the cap on
sessions per address, and the per-session cut-off of failed logins (simulator/protocols/smtp/session.py).

Every exchange is pipelined raw bytes (no smtplib fix-ups) read until the server closes; nothing sleeps:
time is injected (the login throttle's ManualTime, a short idle timeout) or waited for with a deadline.
"""
from __future__ import annotations

import base64
import re
import smtplib
import socket
import ssl
import time
from pathlib import Path

import app

from simulator.facts import SmtpSession
from simulator.protocols.smtp import session as smtp_session
from simulator.protocols.smtp.session import MAX_AUTH_FAILURES, MAX_ERRORS, ImplicitTls, TranscriptSMTP
from simulator.protocols.throttle import ManualTime
from simulator.scenario import DEFAULT_SCENARIO


# The 250 of an accepted message: "queued as" (queued for delivery) or, on an MX that is the final
# destination and delivers before answering (simulator/direct.py), "delivered as".
ACCEPTED = re.compile(rb"250 2\.0\.0 Ok: (?:queued|delivered) as")


def converse(address: str, port: int, lines: list[bytes], *, source: str | None = None,
             timeout: float = 10.0) -> list[str]:
    """Send ``lines`` at once and return the server's replies (one string each) until it closes."""
    with socket.create_connection((address, port), timeout=timeout,
                                  source_address=(source, 0) if source else None) as sock:
        sock.sendall(b"".join(lines))
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data.decode("utf-8", "replace").splitlines()


def codes(replies: list[str]) -> list[str]:
    """Reply code and enhanced status of each final reply line (``"501 5.1.7"``)."""
    return [" ".join(line.split()[:2]) for line in replies if line[3:4] == " "]


def plain(user: str, password: str) -> bytes:
    return b"AUTH PLAIN " + base64.b64encode(f"\0{user}\0{password}".encode()) + b"\r\n"


def doors(world) -> dict[str, tuple[str, int, list[bytes]]]:
    """Every kind of SMTP door: where it listens, and what opens a transaction there."""
    login = [plain("alice@alpha.test", "alice")]
    return {
        "mx": (world.address("mx1.beta.test"), world.stack.config.ports.mx, []),
        "front submission": ("127.0.0.1", world.port("submission"), login),
        "domain msa": (world.address("smtp.alpha.test"), world.port("submission", "smtp.alpha.test"), login),
        "app": ("127.0.0.1", world.port("app"), []),
    }


def test_nul_controls_spaces_and_bad_domains_get_501_at_every_door(world):
    """Rule 2: the issue's NUL in HELO and MAIL, and ``$(sleep 3)`` in a local part, were taken with
    250; now every door refuses them with 501 and the session goes on."""
    for name, (address, port, login) in doors(world).items():
        replies = converse(address, port, [
            b"HELO a\x00b\r\n", b"EHLO $(sleep 3)\r\n", b"EHLO two words\r\n", b"EHLO x.test.\r\n",
            b"EHLO client.test\r\n", *login,
            b"MAIL FROM:<a\x00b@alpha.test>\r\n", b"MAIL FROM:<$(sleep 3)@alpha.test>\r\n",
            b"MAIL FROM:<a b@alpha.test>\r\n", b"MAIL FROM:<alice@alpha.test.>\r\n",
            b"MAIL FROM:<alice@alpha.test\x1b[2J>\r\n", b"MAIL FROM:<alice@alpha.test> SIZE=\r\n",
            b"MAIL FROM:<alice@alpha.test>\r\n",
            b"RCPT TO:<b\x00ob@beta.test>\r\n", b"RCPT TO:<bob @beta.test>\r\n", b"RCPT TO:<bob@beta..test>\r\n",
            b"RCPT TO:<>\r\n", b"RCPT TO:<bob@" + b"b" * 64 + b".test>\r\n", b"RCPT TO:<b\xc3\xb8b@beta.test>\r\n",
            b"RCPT TO:<bob@beta.test>\r\n", b"QUIT\r\n"])
        got = codes(replies)
        login_codes = ["235 2.7.0"] if login else []
        assert got == ["220 " + got[0].split()[1],
                       "501 5.5.2", "501 5.5.2", "501 5.5.2", "501 5.5.2", "250 HELP", *login_codes,
                       "501 5.1.7", "501 5.1.7", "501 5.1.7", "501 5.1.7", "501 5.1.7", "501 5.1.7", "250 2.1.0",
                       "501 5.1.3", "501 5.1.3", "501 5.1.3", "501 5.1.3", "553 5.1.3", "553 5.6.7", "250 2.1.5",
                       "221 2.0.0"], (name, replies)
    assert world.stack.queue_snapshot() == []


RELAY_TRICKS = [
    b"RCPT TO:<bob%outside.example@beta.test>",         # the percent hack
    b"RCPT TO:<outside.example!bob@beta.test>",          # a bang path
    b'RCPT TO:<"bob@outside.example"@beta.test>',        # a quoted local part with @
    b"RCPT TO:<@mx1.beta.test:bob@outside.example>",     # a source route
    b"RCPT TO:<@mx1.beta.test,@mx2.beta.test:bob@beta.test>",
    b"RCPT TO:<bob@[192.0.2.1]>",                        # address literals
    b"RCPT TO:<bob@[127.0.0.1]>",
    b"RCPT TO:<bob@beta.test.>",                         # a trailing dot
    b"RCPT TO:<bob@outside.example>",                    # plainly outside
    b"RCPT TO:<bob@alpha.test>",                         # another sandbox domain: not this MX's
]


def test_every_relay_trick_gets_5xx_without_auth(world):
    """Rule 3: at an MX (no AUTH) every form of sender-specified routing is refused, and so is a
    forged local sender; the app port (no AUTH either) refuses routing operators too."""
    mx = (world.address("mx1.beta.test"), world.stack.config.ports.mx)
    replies = converse(*mx, [b"EHLO client.test\r\n", b"MAIL FROM:<someone@alpha.test>\r\n",
                             *[trick + b"\r\n" for trick in RELAY_TRICKS], b"QUIT\r\n"])
    got = codes(replies)
    assert got[:3] == ["220 mx1.beta.test", "250 HELP", "250 2.1.0"]
    refused = got[3:-1]
    assert len(refused) == len(RELAY_TRICKS) and all(code[0] == "5" for code in refused), replies
    assert refused == ["550 5.7.1"] * 3 + ["553 5.1.3"] * 2 + ["550 5.7.1"] * 2 + ["501 5.1.3"] + ["550 5.7.1"] * 2
    # routing operators: relay access denied; source routes: declined (553); literals: not this
    # host's domain; a trailing dot: not the grammar (501); other domains: not this MX's
    # A forged local sender: beta.test's own domain, from a client that is no sandbox host.
    forged = converse(*mx, [b"EHLO client.test\r\n", b"MAIL FROM:<bob@beta.test>\r\n", b"QUIT\r\n"])
    assert codes(forged)[2] == "553 5.7.1"
    # Submission without a login: nothing at all (RFC 4954 §6, 530 5.7.0).
    unauthenticated = converse("127.0.0.1", world.port("submission"), [
        b"EHLO client.test\r\n", b"MAIL FROM:<alice@alpha.test>\r\n", RELAY_TRICKS[0] + b"\r\n", b"QUIT\r\n"])
    assert [code[0] for code in codes(unauthenticated)[2:4]] == ["5", "5"]
    # The sandbox's own hosts may (a relay from beta's MSA carries beta's senders) ...
    relay = converse(*mx, [b"EHLO smtp.beta.test\r\n", b"MAIL FROM:<bob@beta.test>\r\n", b"QUIT\r\n"],
                     source=world.address("smtp.beta.test"))
    assert codes(relay)[2] == "250 2.1.0"
    # ... and so may a student typing to beta's MX as someone of alpha (the README's "be an MTA yourself").
    by_hand = converse(*mx, [b"EHLO student.test\r\n", b"MAIL FROM:<student@alpha.test>\r\n",
                             b"RCPT TO:<bob@beta.test>\r\n", b"QUIT\r\n"])
    assert codes(by_hand)[2:4] == ["250 2.1.0", "250 2.1.5"]
    app = converse("127.0.0.1", world.port("app"), [
        b"EHLO app.test\r\n", b"MAIL FROM:<alice@alpha.test>\r\n", *[trick + b"\r\n" for trick in RELAY_TRICKS[:3]],
        b"QUIT\r\n"])
    assert codes(app)[3:6] == ["550 5.7.1"] * 3
    assert world.stack.queue_snapshot() == []


def test_with_auth_mail_for_outside_bounces_and_nothing_leaves(world):
    """Rule 3 with AUTH: a routed or outside address is accepted for delivery inside the sandbox
    (the next hop or the outside world refuses it) and alice gets a bounce for each."""
    with smtplib.SMTP("127.0.0.1", world.port("submission"), local_hostname="client.test", timeout=10) as s:
        s.login("alice@alpha.test", "alice")
        for rcpt in ("bob%outside.example@beta.test", "x@outside.example", "x@[192.0.2.1]"):
            s.sendmail("alice@alpha.test", [rcpt], f"Subject: to {rcpt}\r\n\r\nx\r\n".encode())
    bounces = world.wait_messages("alice@alpha.test", count=3)
    world.wait_queue_empty()
    assert all(b"Action: failed" in raw for raw in bounces)
    assert world.messages("bob@beta.test") == []


def test_twenty_errors_end_the_session_with_421(world):
    """Postfix's smtpd_hard_error_limit: the 20th 4xx/5xx reply is followed by 421 and the close."""
    replies = converse(world.address("mx1.beta.test"), world.stack.config.ports.mx,
                       [b"EHLO client.test\r\n"] + [b"MAIL FROM:<a b@x.test>\r\n"] * (MAX_ERRORS + 5))
    got = codes(replies)
    assert got[2:] == ["501 5.1.7"] * MAX_ERRORS + ["421 4.7.0"]
    assert "too many errors" in replies[-1]


def test_junk_commands_count_as_errors_after_a_hundred(world):
    replies = converse(world.address("mx1.beta.test"), world.stack.config.ports.mx,
                       [b"EHLO client.test\r\n"] + [b"NOOP\r\n"] * (100 + MAX_ERRORS + 5))
    assert codes(replies)[2:] == ["250 2.0.0"] * (100 + MAX_ERRORS) + ["421 4.7.0"]


def test_three_failed_logins_end_the_session_and_the_right_one_still_works(world):
    world.stack.throttle.use_time(clock := ManualTime())
    wrong = plain("alice@alpha.test", "wrong")
    replies = converse("127.0.0.1", world.port("submission"),
                       [b"EHLO client.test\r\n"] + [wrong] * (MAX_AUTH_FAILURES + 2))
    assert codes(replies)[2:] == ["535 5.7.8"] * MAX_AUTH_FAILURES + ["421 4.7.0"]
    assert clock.waits == [2.0, 4.0]                          # before the 2nd and 3rd checks
    replies = converse("127.0.0.1", world.port("submission"),
                       [b"EHLO client.test\r\n", plain("alice@alpha.test", "alice"), b"QUIT\r\n"])
    assert codes(replies)[2] == "235 2.7.0" and clock.waits == [2.0, 4.0, 8.0]
    assert world.stack.throttle.failures("127.0.0.1") == 0


def test_the_right_password_still_works_after_50_failures(world):
    """Rule 5: slowed, never locked.  50 wrong AUTHs from one address (three per session, then 421),
    each waiting its turn before the check; then the right one is accepted."""
    world.stack.throttle.use_time(clock := ManualTime())
    wrong = plain("alice@alpha.test", "wrong")
    failures = 0
    while failures < 50:
        batch = min(MAX_AUTH_FAILURES, 50 - failures)
        replies = converse("127.0.0.1", world.port("submission"),
                           [b"EHLO client.test\r\n"] + [wrong] * batch + [b"QUIT\r\n"])
        assert codes(replies)[2:2 + batch] == ["535 5.7.8"] * batch
        failures += batch
    assert world.stack.throttle.failures("127.0.0.1") == 50
    with smtplib.SMTP("127.0.0.1", world.port("submission"), local_hostname="client.test", timeout=10) as s:
        assert s.login("alice@alpha.test", "alice")[0] == 235
    assert clock.waits == [2.0, 4.0, 8.0] + [15.0] * 47       # doubling from 2 s, at most 15 s
    assert world.stack.throttle.failures("127.0.0.1") == 0


def test_an_idle_or_stalled_session_is_closed_with_421(start_world, monkeypatch):
    """RFC 5321 §4.5.3.2.7 (5 minutes in the sandbox; shortened here): a silent client, and one
    that stalls inside DATA, get 421 4.4.2 and the close; nothing of the stalled message is kept."""
    monkeypatch.setattr(TranscriptSMTP, "idle_timeout", 0.5)
    world = start_world()
    mx = (world.address("mx1.beta.test"), world.stack.config.ports.mx)
    assert codes(converse(*mx, [])) == ["220 mx1.beta.test", "421 4.4.2"]
    stalled = converse(*mx, [b"EHLO client.test\r\n", b"MAIL FROM:<someone@alpha.test>\r\n",
                             b"RCPT TO:<bob@beta.test>\r\n", b"DATA\r\n", b"Subject: half\r\n\r\nhalf a mess"])
    assert codes(stalled)[-2:] == ["354 End", "421 4.4.2"]
    assert world.stack.queue_snapshot() == [] and world.messages("bob@beta.test") == []


def test_data_that_keeps_arriving_keeps_the_session_alive(start_world, monkeypatch):
    monkeypatch.setattr(TranscriptSMTP, "idle_timeout", 0.3)
    world = start_world()
    with socket.create_connection((world.address("mx1.beta.test"), world.stack.config.ports.mx), timeout=10) as sock:
        sock.sendall(b"EHLO client.test\r\nMAIL FROM:<someone@alpha.test>\r\nRCPT TO:<bob@beta.test>\r\nDATA\r\n")
        said = b""
        while b"\r\n354 " not in said:
            said += sock.recv(4096)
        deadline = time.monotonic() + 1.0                  # three idle timeouts' worth of slow data
        while time.monotonic() < deadline:
            sock.sendall(b"slow line\r\n")
            time.sleep(0.1)                                # the client's pace, not an assertion's wait
        sock.sendall(b".\r\nQUIT\r\n")
        while chunk := sock.recv(65536):
            said += chunk
    assert ACCEPTED.search(said)
    world.wait_messages("bob@beta.test")


def test_sessions_per_client_address_are_capped(start_world):
    """At most ``--smtp-sessions-per-address`` concurrent SMTP sessions per client address, all doors
    together: the next one is greeted with 421 4.7.0 and closed; the sandbox's own hosts are not counted."""
    world = start_world(smtp_sessions_per_address=3)
    slots = world.stack.smtp_slots
    mx = (world.address("mx1.beta.test"), world.stack.config.ports.mx)
    held = [smtplib.SMTP(*mx, local_hostname="client.test", timeout=10),
            smtplib.SMTP("127.0.0.1", world.port("submission"), local_hostname="client.test", timeout=10),
            smtplib.SMTP("127.0.0.1", world.port("app"), local_hostname="client.test", timeout=10)]
    try:
        assert slots.open("127.0.0.1") == 3
        refused = converse(*mx, [])
        assert codes(refused) == ["421 4.7.0"]
        assert codes(converse(*mx, [b"QUIT\r\n"], source="127.0.0.2"))[0] == "220 mx1.beta.test"   # another address
        msa = world.address("smtp.alpha.test")
        own = [socket.create_connection(mx, timeout=10, source_address=(msa, 0)) for _ in range(5)]
        assert all(sock.recv(100).startswith(b"220 ") for sock in own)        # a sandbox host: exempt
        for sock in own:
            sock.close()
        held.pop().quit()
        deadline = time.monotonic() + 5
        while slots.open("127.0.0.1") > 2:                  # the server saw the QUIT's close
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert codes(converse(*mx, [b"QUIT\r\n"]))[0] == "220 mx1.beta.test"
    finally:
        for client in held:
            client.close()


def test_the_command_line_limit_does_not_grow_with_each_ehlo(world):
    """RFC 5321 §4.5.3.1.4: 512 octets, plus SIZE's 26 and SMTPUTF8's 10 for MAIL (RFC 1870, 6531)
    once — aiosmtpd added them again at every EHLO, for every session."""
    long_mail = b"MAIL FROM:<" + b"a" * 60 + b"@alpha.test> " + b" ".join([b"X-P=" + b"v" * 90] * 5) + b"\r\n"
    assert 548 < len(long_mail) < 1000
    replies = converse(world.address("mx1.beta.test"), world.stack.config.ports.mx,
                       [b"EHLO client.test\r\n"] * 30 + [long_mail, b"QUIT\r\n"])
    assert codes(replies)[-2] == "500 5.5.2"


def test_non_ascii_addresses_need_smtputf8(world):
    mx = (world.address("mx1.beta.test"), world.stack.config.ports.mx)
    replies = converse(*mx, ["EHLO client.test\r\nMAIL FROM:<élise@alpha.test>\r\n"
                             "MAIL FROM:<élise@alpha.test> SMTPUTF8\r\nQUIT\r\n".encode()])
    assert codes(replies)[2:4] == ["553 5.6.7", "250 2.1.0"]


def test_the_idle_timeout_is_five_minutes_and_the_cap_twenty_by_default():
    assert smtp_session.IDLE_TIMEOUT == TranscriptSMTP.idle_timeout == 300.0
    args = app.build_parser().parse_args([])
    assert app.config_from_args(args, data_dir=Path("unused")).smtp_sessions_per_address == 20
    args = app.build_parser().parse_args(["--smtp-sessions-per-address", "100"])
    assert app.config_from_args(args, data_dir=Path("unused")).smtp_sessions_per_address == 100


def closed_by_server(sock: socket.socket) -> bool:
    try:
        return sock.recv(100) == b""
    except ConnectionResetError:
        return True


def test_smtps_counts_a_connection_at_accept_and_cuts_a_silent_handshake(start_world, monkeypatch):
    """Review of issue 12: connections to smtps were counted against the per-address cap only after
    their TLS handshake, so 300 silent connections from one address were held (asyncio's own
    handshake deadline is 60 s).  Now each is counted at accept, one over the cap is closed before
    any handshake, and a handshake not finished within 10 s (0.5 s here) ends the connection and
    gives its place back.  A real TLS client is served as before."""
    monkeypatch.setattr(ImplicitTls, "handshake_timeout", 0.5)
    world = start_world(smtp_sessions_per_address=3)
    slots = world.stack.smtp_slots
    smtps = ("127.0.0.1", world.port("smtps"))
    silent = [socket.create_connection(smtps, timeout=10) for _ in range(3)]
    try:
        deadline = time.monotonic() + 5
        while slots.open("127.0.0.1") < 3:                 # counted before any ClientHello
            assert time.monotonic() < deadline
            time.sleep(0.01)
        with socket.create_connection(smtps, timeout=10) as over:
            assert closed_by_server(over)
        assert all(closed_by_server(sock) for sock in silent)    # the handshake deadline passed
        deadline = time.monotonic() + 5
        while slots.open("127.0.0.1"):
            assert time.monotonic() < deadline
            time.sleep(0.01)
    finally:
        for sock in silent:
            sock.close()
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with smtplib.SMTP_SSL(*smtps, local_hostname="tls.test", context=context, timeout=10) as client:
        assert client.noop()[0] == 250 and slots.open("127.0.0.1") == 1
        assert client.login("alice@alpha.test", "alice")[0] == 235


def test_rcpt_to_postmaster_without_a_domain_names_the_doors_postmaster(start_world):
    """RFC 5321 §4.5.1: ``RCPT TO:<Postmaster>`` (no domain) MUST be accepted; it got 501 because the
    address went on without a domain.  It now goes on as postmaster@<the domain this door serves>
    (here beta.test, whose catch-all user takes it).  ``MAIL FROM:<Postmaster>`` stays 501: a
    reverse-path always has a domain (§4.1.2; the exception is for RCPT only)."""
    scenario = Path(DEFAULT_SCENARIO).read_text().replace("    users: {bob: bob}\n",
                                                          "    users: {bob: bob}\n    catch_all: bob\n")
    world = start_world(scenario)
    replies = converse(world.address("mx1.beta.test"), world.stack.config.ports.mx, [
        b"EHLO client.test\r\n", b"MAIL FROM:<Postmaster>\r\n", b"MAIL FROM:<someone@alpha.test>\r\n",
        b"RCPT TO:<Postmaster>\r\n", b"RCPT TO:<POSTMASTER>\r\n", b"DATA\r\n",
        b"Subject: for the postmaster\r\n\r\nhello\r\n.\r\n", b"QUIT\r\n"])
    assert codes(replies)[2:7] == ["501 5.1.7", "250 2.1.0", "250 2.1.5", "250 2.1.5", "354 End"]
    delivered = world.wait_messages("bob@beta.test")
    assert delivered and all(b"Subject: for the postmaster" in raw for raw in delivered)
    [session] = world.events.facts(SmtpSession, lambda x: x.host == "mx1.beta.test" and x.rcpts)
    assert set(session.rcpts) == {"postmaster@beta.test"}
    app_replies = converse("127.0.0.1", world.port("app"), [
        b"EHLO app.test\r\n", b"MAIL FROM:<bob@beta.test>\r\n", b"RCPT TO:<Postmaster>\r\n", b"QUIT\r\n"])
    assert codes(app_replies)[3] == "250 2.1.5"            # the app port: its queue host's domain (beta)
