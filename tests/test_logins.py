"""Rule 5, across the doors: one login throttle for submission, IMAP, POP3 and the webmail, and a
password check that does the same work whether the user exists or not.

The timing rule is proved by comparing code paths, never wall time: the lines run in
``World.authenticate`` and the constant-time comparison it makes are the same for an unknown user
as for a known user with a wrong password.
"""
from __future__ import annotations

import base64
import concurrent.futures
import hmac
import imaplib
import poplib
import smtplib
import socket
import sys

import pytest

import simulator.world as world_module
from simulator.protocols.smtp import TranscriptSMTP
from simulator.protocols.throttle import ManualTime
from simulator.world import World


def traced_authenticate(world: World, login: str, password: str, domain: str | None = None):
    """Run ``world.authenticate`` and return (result, lines it ran, comparisons it made)."""
    lines: list[int] = []
    compared: list[tuple[int, bytes]] = []
    code = World.authenticate.__code__
    real = hmac.compare_digest

    def spy(a, b):                       # the real comparison, recorded
        compared.append((len(a), b))
        return real(a, b)

    def tracer(frame, event, arg):
        if frame.f_code is not code:
            return None
        if event == "line":
            lines.append(frame.f_lineno)
        return tracer

    world_module.hmac.compare_digest = spy
    sys.settrace(tracer)
    try:
        result = world.authenticate(login, password, domain)
    finally:
        sys.settrace(None)
        world_module.hmac.compare_digest = real
    return result, lines, [b for _, b in compared]


def test_an_unknown_user_costs_the_same_work(world):
    """The same lines and one comparison of the same password, for bob with a wrong password and
    for a user who does not exist, with or without a domain; only the right password differs."""
    stack_world = world.stack.world
    known = traced_authenticate(stack_world, "bob@beta.test", "guess-1234")
    unknown = traced_authenticate(stack_world, "nobody@beta.test", "guess-1234")
    bare_known = traced_authenticate(stack_world, "bob", "guess-1234", "beta.test")
    bare_unknown = traced_authenticate(stack_world, "nobody", "guess-1234", "beta.test")
    no_domain = traced_authenticate(stack_world, "nobody", "guess-1234")
    results = (known, unknown, bare_known, bare_unknown, no_domain)
    assert all(result is None for result, _, _ in results)
    assert all(compared == [b"guess-1234"] for _, _, compared in results)    # once, the same input
    assert known[1] == unknown[1] and bare_known[1] == bare_unknown[1]       # the same lines
    right = traced_authenticate(stack_world, "bob@beta.test", "bob")
    assert right[0] is not None and right[2] == [b"bob"]


def test_the_stack_wires_one_throttle_to_every_door(world):
    """Every server that checks a password holds the stack's one throttle (the webmail reads
    ``stack.throttle`` itself), and the webmail's source address is exempt from it."""
    stack = world.stack
    retrieval = [server for servers in stack._servers.values() for server in servers if hasattr(server, "throttle")]
    assert {type(s).__name__ for s in retrieval} >= {"ImapServer", "Pop3Server"}
    assert all(server.throttle is stack.throttle for server in retrieval)
    opened = []
    for item in stack.listeners:
        if item.service in ("submission", "app"):
            client = smtplib.SMTP(item.address, item.port, local_hostname="client.test", timeout=10)
            client.ehlo()
            opened.append(client)
    try:
        sessions = [s for s in list(stack._sessions) if isinstance(s, TranscriptSMTP) and s._auth_methods]
        assert sessions and all(s.throttle in (stack.throttle, None) for s in sessions)
        assert any(s.throttle is stack.throttle for s in sessions)
    finally:
        for client in opened:
            client.close()
    assert stack.config.webmail_source in stack.throttle.exempt


@pytest.mark.parametrize("door", ["imap", "pop3"])
def test_a_failure_at_one_door_slows_the_next_login_at_another(world, door):
    """Failures count per client address whatever the door: a wrong IMAP or POP3 password makes
    the next submission AUTH from that address wait 2 s (Dovecot's first step)."""
    throttle = world.stack.throttle
    throttle.use_time(clock := ManualTime())
    port = world.port(door)
    if door == "imap":
        client = imaplib.IMAP4("127.0.0.1", port, timeout=10)
        with pytest.raises(imaplib.IMAP4.error):
            client.login("bob@beta.test", "wrong")
        client.logout()
    else:
        client = poplib.POP3("127.0.0.1", port, timeout=10)
        client.user("bob@beta.test")
        with pytest.raises(poplib.error_proto):
            client.pass_("wrong")
        client.quit()
    assert throttle.failures("127.0.0.1") == 1
    with smtplib.SMTP("127.0.0.1", world.port("submission"), local_hostname="client.test", timeout=10) as s:
        assert s.login("alice@alpha.test", "alice")[0] == 235
    assert clock.waits == [2.0] and throttle.failures("127.0.0.1") == 0


class FrozenTime(ManualTime):
    """Waits are recorded, the clock stands still: every attempt is made at the same moment."""

    def blocking_sleep(self, seconds: float) -> None:
        self.waits.append(seconds)


def attempt(address: str, port: int, source: str, lines: list[bytes], answered: bytes) -> bytes:
    """One login attempt on raw bytes from ``source``; the server's answer to it."""
    with socket.create_connection((address, port), timeout=30, source_address=(source, 0)) as sock:
        sock.sendall(b"".join(lines))
        said = b""
        while answered not in said:
            got = sock.recv(4096)
            if not got:
                break
            said += got
    return said


def test_parallel_logins_from_one_address_take_turns_at_every_door(world):
    """Review of issue 12: after one failure, 20 parallel AUTHs were all answered after the same
    4 s, and 20 more after 15 s: 40 guesses in 20 s.  One "next allowed attempt" time per client key,
    shared by all doors: six attempts made at the same moment over submission (two doors), IMAP and
    POP3, from four loopback addresses (one key: this computer), wait 2, 6, 14, 29, 44 and 59 s —
    the turns of six guesses one after the other.  The right password still goes (its own turn)."""
    throttle = world.stack.throttle
    throttle.use_time(clock := FrozenTime())
    wrong = b"AUTH PLAIN " + base64.b64encode(b"\0alice@alpha.test\0wrong") + b"\r\n"
    smtp = [b"EHLO guess.test\r\n", wrong]
    doors = [
        ("127.0.0.1", world.port("submission"), smtp, b"\r\n535 "),
        (world.address("smtp.alpha.test"), world.port("submission", "smtp.alpha.test"), smtp, b"\r\n535 "),
        ("127.0.0.1", world.port("imap"), [b"a LOGIN bob@beta.test wrong\r\n"], b"a NO"),
        ("127.0.0.1", world.port("pop3"), [b"USER bob@beta.test\r\n", b"PASS wrong\r\n"], b"\r\n-ERR"),
    ]
    assert attempt(*doors[0][:2], "127.0.0.1", *doors[0][2:]).count(b"535 ") == 1   # the first: at once
    assert clock.waits == [] and throttle.failures("127.0.0.1") == 1
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda n: attempt(*doors[n % 4][:2], f"127.0.0.{2 + n % 4}", *doors[n % 4][2:]),
                                range(6)))
    assert all(answers)
    assert sorted(clock.waits) == [2.0, 6.0, 14.0, 29.0, 44.0, 59.0]
    assert throttle.failures("127.0.0.9") == 7 and throttle.waiting("127.0.0.9") == 0
    with smtplib.SMTP("127.0.0.1", world.port("submission"), local_hostname="client.test", timeout=10) as s:
        assert s.login("alice@alpha.test", "alice")[0] == 235               # slowed, never locked
    assert clock.waits[-1] == 59.0 + 15.0 and throttle.failures("127.0.0.1") == 0


def test_the_webmail_counts_a_browser_under_the_servers_key_for_its_address(world):
    """Review: the webmail counted a browser as ``web:<address>`` and the servers as ``<address>``:
    two separate counts for one address.  Now one key: a wrong webmail password from a browser on
    this computer makes this computer's next submission AUTH wait its 2 s."""
    from simulator import web
    from web_fixtures import Browserish

    app = web.create_app(world.stack, {"TRUST_LOOPBACK": False})
    throttle = world.stack.throttle
    throttle.use_time(clock := ManualTime())
    answer = Browserish(app, remote_addr="127.0.0.9").post(
        "/api/webmail/login", {"address": "bob@beta.test", "password": "wrong"})
    assert answer.status_code == 401
    assert throttle.failures("127.0.0.1") == 1
    assert throttle.failures(world.stack.config.webmail_source) == 0      # its own IMAP login: exempt
    with smtplib.SMTP("127.0.0.1", world.port("submission"), local_hostname="client.test", timeout=10) as s:
        assert s.login("alice@alpha.test", "alice")[0] == 235
    assert clock.waits == [2.0] and throttle.failures("127.0.0.1") == 0
