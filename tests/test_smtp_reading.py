"""How the SMTP door reads, made cheap per message (issue 13), and what must not change for it.

- Credential marks are found by reading each transcript line once (:class:`CredentialScan`), also on
  a reused connection whose transcript is compacted: the marks are those a full rescan finds.
- DATA is read in blocks (every whole line that has arrived, up to the end of data): dot-unstuffing,
  the end of data, pipelined commands after it, messages larger than a block and lines longer than
  one all come out as they did line by line.
- The idle timer is re-armed lazily: a session that keeps talking is never cut, a silent one is.
- A connection's set-up binds a verb table built once per class (aiosmtpd reflected over every
  attribute at every connection): HELP and the cut-off after a 421 hold.
"""
from __future__ import annotations

import asyncio
import base64
import logging
import random
import re
import smtplib
import socket
import time
import types

import pytest
from aiosmtpd.smtp import auth_mechanism

from simulator.facts import Door, SmtpSession, TlsMode
from simulator.protocols.layers import CredentialScan, connection_layers, find_credentials
from simulator.protocols.smtp import session as smtp_session
from simulator.protocols.smtp.handler import SmtpHandler
from simulator.protocols.smtp.session import DATA_BLOCK, TranscriptSMTP


# The 250 of an accepted message: "queued as" (queued for delivery) or, on an MX that is the final
# destination and delivers before answering (simulator/direct.py), "delivered as".
ACCEPTED = re.compile(rb"250 2\.0\.0 Ok: (?:queued|delivered) as")


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# -- credentials: each line read once -------------------------------------------------------------

def _dialogue(rng: random.Random) -> list[tuple[str, str]]:
    """A long made-up SMTP transcript: logins of every shape between ordinary transactions."""
    pieces = [
        [("C", f"AUTH PLAIN {b64(chr(0) + 'alice' + chr(0) + 'pw')}"), ("S", "235 2.7.0 ok")],
        [("C", "AUTH LOGIN"), ("S", "334 VXNlcm5hbWU6"), ("C", b64("bob")), ("S", "334 UGFzc3dvcmQ6"),
         ("C", b64("s3cret")), ("S", "535 5.7.8 no")],
        [("C", "AUTH PLAIN"), ("S", "334 "), ("C", b64("\0carol\0x")), ("S", "235 2.7.0 ok")],
        [("C", "AUTH LOGIN"), ("S", "334 VXNlcm5hbWU6"), ("C", "*"), ("S", "501 5.7.0 aborted")],
        [("C", "MAIL FROM:<a@b.test>"), ("S", "250 2.1.0 ok"), ("C", "DATA"), ("S", "354 go"),
         ("D", "Subject: x"), ("D", ""), ("D", "AUTH PLAIN not a command here"), ("…", "7"), ("C", "."),
         ("S", "250 2.0.0 queued")],
    ]
    lines: list[tuple[str, str]] = [("S", "220 hi"), ("C", "EHLO x.test"), ("S", "250 hi")]
    for _ in range(60):
        lines += rng.choice(pieces)
    return lines


@pytest.mark.parametrize("seed", range(5))
def test_an_incremental_scan_finds_what_a_full_rescan_finds(seed):
    rng = random.Random(seed)
    lines = _dialogue(rng)
    tls_from = rng.randrange(len(lines)) if seed % 2 else None
    tls = TlsMode.STARTTLS if tls_from is not None else TlsMode.NONE
    scan = CredentialScan("SMTP")
    seen = 0
    while seen < len(lines):
        seen = min(len(lines), seen + rng.randint(1, 9))      # the transcript grows, a scan now and then
        growing = lines[:seen]
        # TLS starts where the transcript ends: before that the lines are read as plain text
        on = tls if tls_from is not None and tls_from <= seen else TlsMode.NONE
        since = tls_from if on is not TlsMode.NONE else None
        assert scan.update(growing, tls=on, tls_from=since) == find_credentials(growing, "SMTP", tls=on,
                                                                                  tls_from=since)
    assert scan.upto == len(lines)


def test_dropping_the_head_of_the_transcript_rebases_the_marks():
    lines = _dialogue(random.Random(9))
    scan = CredentialScan("SMTP")
    scan.update(lines)
    cut = len(lines) // 2
    scan.drop(cut)
    assert scan.upto == len(lines) - cut
    full = [m for m in find_credentials(lines, "SMTP") if m.line >= cut]
    assert [(m.line, m.user, m.password) for m in scan.found] == [(m.line - cut, m.user, m.password) for m in full]
    assert scan.since(0) == scan.found


def test_a_long_reused_session_marks_its_login_once_through_compaction(world, monkeypatch):
    """The login is marked in the first transaction's fact only, also after the transcript was
    compacted many times (a small cap here; 5,000 lines in the sandbox)."""
    monkeypatch.setattr(smtp_session, "_MAX_TRANSCRIPT", 40)
    port = world.port("submission")
    with smtplib.SMTP("127.0.0.1", port, local_hostname="pc.test", timeout=10) as client:
        local = client.sock.getsockname()
        client.ehlo()
        client.esmtp_features.pop("auth", None)
        client.esmtp_features["auth"] = "LOGIN"              # two lines to mark
        client.login("alice@alpha.test", "alice")
        for n in range(12):
            client.sendmail("alice@alpha.test", ["bob@beta.test"], b"Subject: %d\r\n\r\nx\r\n" % n)
    facts = world.events.facts(SmtpSession, lambda f: f.wire is not None and f.wire.client_port == local[1]
                               and f.queue_id != "", count=12)
    first, rest = facts[0], facts[1:]
    assert [(m.mechanism, m.carries, m.user, m.password) for m in first.credentials] == [
        ("LOGIN", "user", "alice@alpha.test", ""), ("LOGIN", "password", "", "alice")]
    for mark in first.credentials:
        assert first.transcript[mark.line][0] == "C"
        token = first.transcript[mark.line][1].split()[-1]     # smtplib: AUTH LOGIN <user>, then <password>
        assert base64.b64decode(token).decode() == mark.user + mark.password
    assert all(fact.credentials == () for fact in rest)


# -- DATA in blocks ---------------------------------------------------------------------------------

def _stuffed(lines: list[bytes]) -> bytes:
    return b"".join((b"." + line if line.startswith(b".") else line) + b"\r\n" for line in lines)


def _mx(world) -> tuple[str, int]:
    return world.address("mx1.beta.test"), world.stack.config.ports.mx


def _send_pieces(address: tuple[str, int], pieces: list[bytes]) -> bytes:
    with socket.create_connection(address, timeout=30) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for piece in pieces:
            sock.sendall(piece)
        data = b""
        while got := sock.recv(65536):
            data += got
    return data


HEAD = b"EHLO pieces.test\r\nMAIL FROM:<someone@alpha.test>\r\nRCPT TO:<bob@beta.test>\r\nDATA\r\n"


def test_dots_and_the_end_of_data_split_across_many_small_pieces(world):
    """Sent a few octets at a time (the lone dot, ``<CRLF>.<CRLF>`` and stuffed dots split anywhere),
    the message comes out as line by line: stuffed dots removed, nothing else."""
    lines = [b".starts with a dot", b"Subject: pieces", b"", b"..two dots", b".", b"x.y", b"", b"end"]
    wire = HEAD + _stuffed(lines) + b".\r\nQUIT\r\n"
    rng = random.Random(3)
    pieces, at = [], 0
    while at < len(wire):
        step = rng.randint(1, 7)
        pieces.append(wire[at:at + step])
        at += step
    said = _send_pieces(_mx(world), pieces)
    assert len(ACCEPTED.findall(said)) == 1 and said.rstrip().endswith(b"221 2.0.0 Bye")
    [raw] = world.wait_messages("bob@beta.test")
    assert raw.endswith(b"\r\n".join(lines) + b"\r\n")


@pytest.mark.parametrize("body_lines", [0, 1])
def test_an_empty_or_one_line_message_ends_at_its_dot(world, body_lines):
    lines = [b"Subject: short"][:body_lines]
    said = _send_pieces(_mx(world), [HEAD + _stuffed(lines) + b".\r\nQUIT\r\n"])
    assert len(ACCEPTED.findall(said)) == 1 and said.rstrip().endswith(b"221 2.0.0 Bye")


def test_a_message_larger_than_a_block_with_a_transaction_pipelined_after_it(world):
    """Several blocks' worth of lines (dots among them at every distance), then a second whole
    transaction in the same send: two messages, each exactly its text."""
    first = [b"Subject: big", b""] + [(b"." if n % 97 == 0 else b"") + b"line %06d " % n + b"x" * 60
                                      for n in range(4 * DATA_BLOCK // 70)]
    second = [b"Subject: after", b"", b".", b"second"]
    wire = (HEAD + _stuffed(first) + b".\r\nMAIL FROM:<someone@alpha.test>\r\nRCPT TO:<bob@beta.test>\r\n"
            b"DATA\r\n" + _stuffed(second) + b".\r\nQUIT\r\n")
    said = _send_pieces(_mx(world), [wire])
    assert len(ACCEPTED.findall(said)) == 2
    raws = world.wait_messages("bob@beta.test", count=2, timeout=30)
    texts = sorted(raw.partition(b"\r\n\r\n")[2] for raw in raws)
    assert sorted([b"\r\n".join(first[2:]) + b"\r\n", b"\r\n".join(second[2:]) + b"\r\n"]) == texts


def test_a_line_longer_than_a_block_is_folded_and_ends_where_data_ends(world):
    long = b"A" * (3 * DATA_BLOCK + 17)
    said = _send_pieces(_mx(world), [HEAD + b"Subject: long\r\n\r\n" + long + b"\r\n.tail\r\n.\r\nQUIT\r\n"])
    assert len(ACCEPTED.findall(said)) == 1
    [raw] = world.wait_messages("bob@beta.test")
    body = raw.partition(b"\r\n\r\n")[2]
    assert max(map(len, body.split(b"\r\n"))) <= 998
    assert body.replace(b"\r\n ", b"") == long + b"\r\ntail\r\n"


# -- the idle timer, re-armed lazily ----------------------------------------------------------------

def test_commands_that_keep_coming_keep_the_session_and_silence_ends_it(start_world, monkeypatch):
    monkeypatch.setattr(TranscriptSMTP, "idle_timeout", 0.3)
    world = start_world()
    with socket.create_connection(_mx(world), timeout=10) as sock:
        said = b""
        while b"\r\n" not in said:
            said += sock.recv(4096)
        deadline = time.monotonic() + 1.0                   # three idle timeouts' worth of commands
        while time.monotonic() < deadline:
            sock.sendall(b"EHLO busy.test\r\n")
            last = time.monotonic()
            time.sleep(0.1)                                 # the client's pace, not an assertion's wait
        while not said.endswith(b"\r\n") or b"421 " not in said:
            got = sock.recv(4096)
            if not got:
                break
            said += got
        silent = time.monotonic() - last
    assert said.count(b"250 ") >= 5 and b"421 4.4.2" in said
    assert silent >= 0.25                                  # the idle clock started at the last command


# -- a connection's set-up: the verb table once per class ------------------------------------------

def test_each_session_binds_the_class_verb_table_with_help_and_the_cut_off(world):
    mx = _mx(world)
    said = _send_pieces(mx, [b"EHLO x.test\r\nHELP MAIL\r\nHELP\r\nQUIT\r\n"]).decode()
    assert "250 2.0.0 Syntax: MAIL FROM: <address>" in said
    help_line = next(line for line in said.splitlines() if line.startswith("250 2.0.0 Supported commands:"))
    assert {"EHLO", "MAIL", "RCPT", "DATA", "QUIT", "HELP"} <= set(help_line.split(":", 1)[1].split())
    # after the error budget's 421 nothing already pipelined is done (the guard of every verb)
    junk = b"MAIL FROM:<bad address>\r\n" * smtp_session.MAX_ERRORS
    said = _send_pieces(mx, [b"EHLO x.test\r\n" + junk + b"MAIL FROM:<someone@alpha.test>\r\nQUIT\r\n"]).decode()
    assert said.rstrip().splitlines()[-1].startswith("421 4.7.0") and "2.1.0" not in said


def test_sessions_own_their_verbs():
    loop = asyncio.new_event_loop()
    try:
        handler = SmtpHandler(Door.MX, None, types.SimpleNamespace(world=None))
        one, two = (TranscriptSMTP(handler, hostname="h.test", loop=loop) for _ in range(2))
        assert one._smtp_methods["MAIL"].__self__ is one and two._smtp_methods["MAIL"].__self__ is two
        assert set(one._smtp_methods) == {name[5:] for name in dir(one) if name.startswith("smtp_")}
        assert "smtp_DATA" in dir(one) and "handle_DATA" in dir(handler)
    finally:
        loop.close()


class _MechanismHandler(SmtpHandler):
    """A handler with an AUTH mechanism of its own, one that replaces a built-in, and a named one."""

    async def auth_PLAIN(self, server, args):             # the handler's replaces the session's
        return None

    async def auth_CRAM__MD5(self, server, args):         # aiosmtpd names it CRAM-MD5
        return None

    @auth_mechanism("X-TOKEN")
    async def auth_token(self, server, args):             # named by its decorator
        return None


@pytest.mark.parametrize("handler_class", [SmtpHandler, _MechanismHandler])
@pytest.mark.parametrize("exclude", [None, ["LOGIN", "PLAIN"], ["CRAM-MD5"]])
def test_a_session_binds_the_tables_aiosmtpd_would_have_built(handler_class, exclude):
    """The hooks, EHLO form and AUTH mechanisms a session gets (reflected once per class and
    handler, session._handler_tables) are those aiosmtpd's own __init__ builds at each connection."""
    from aiosmtpd.smtp import SMTP
    loop = asyncio.new_event_loop()
    try:
        handler = handler_class(Door.SUBMISSION, None, types.SimpleNamespace(world=None))
        kwargs = dict(hostname="h.test", loop=loop, auth_exclude_mechanism=exclude, auth_require_tls=False)
        ours = [TranscriptSMTP(handler, **kwargs) for _ in range(2)]
        theirs = TranscriptSMTP.__new__(TranscriptSMTP)      # the same class, set up by aiosmtpd alone
        theirs._dir_prefixes = ("smtp_", "auth_")
        SMTP.__init__(theirs, handler, **kwargs)
        assert theirs._handle_hooks and theirs._ehlo_hook_ver == "new"
        for session in ours:
            assert session.event_handler is handler and session._ehlo_hook_ver == theirs._ehlo_hook_ver
            assert {name: hook.__func__ for name, hook in session._handle_hooks.items()} == \
                {name: hook.__func__ for name, hook in theirs._handle_hooks.items()}
            assert all(hook.__self__ is handler for hook in session._handle_hooks.values())
            assert list(session._auth_methods) == list(theirs._auth_methods)
            for name, attr in session._auth_methods.items():
                other = theirs._auth_methods[name]
                assert attr.is_builtin == other.is_builtin
                assert attr.method.__func__ is other.method.__func__
                assert attr.method.__self__ is (session if attr.is_builtin else handler)
        if handler_class is _MechanismHandler and exclude is None:
            assert ours[0]._auth_methods["PLAIN"].is_builtin is False
            assert {"CRAM-MD5", "X-TOKEN"} <= set(ours[0]._auth_methods)
    finally:
        loop.close()


def test_a_handler_and_its_tables_are_freed_with_its_sessions():
    """The tables a handler's first session found are kept on the handler itself: a lesson loaded or
    a port reopened makes new handlers, and the old one (and the world it holds) is freed."""
    import gc
    import weakref
    loop = asyncio.new_event_loop()
    try:
        handler = SmtpHandler(Door.MX, None, types.SimpleNamespace(world=None))
        session = TranscriptSMTP(handler, hostname="h.test", loop=loop)
        assert session._handle_hooks["EHLO"].__self__ is handler
        gone = weakref.ref(handler)
        del handler, session
        gc.collect()
        assert gone() is None
    finally:
        loop.close()


def test_a_retrieval_connection_keeps_its_wire_until_its_tls_changes():
    """connection_layers makes the Wire once per state of the connection (a fact per POP3/IMAP command)."""
    conn = types.SimpleNamespace(peername=("127.0.0.1", 50000), sockname=("127.42.2.2", 110), tls_mode="",
                                 tls_version="", is_tls=False)
    plain = [("C", "USER bob"), ("S", "+OK"), ("C", "PASS bob"), ("S", "+OK")]
    first, again = connection_layers(conn, plain, "POP3"), connection_layers(conn, [("C", "STAT")], "POP3")
    assert first["wire"] is again["wire"] and first["wire"].tls is TlsMode.NONE
    assert [m.password for m in first["credentials"]] == ["", "bob"]
    conn.is_tls, conn.tls_mode, conn.tls_version = True, "starttls", "TLSv1.3"     # after STLS
    hidden = connection_layers(conn, [("C", "PASS bob"), ("S", "+OK")], "POP3")
    assert hidden["wire"] is not first["wire"] and hidden["wire"].tls is TlsMode.STARTTLS
    assert hidden["wire"].tls_from == 0 and hidden["credentials"][0].hidden_by is TlsMode.STARTTLS
    assert hidden["credentials"][0].password == ""


# -- aiosmtpd's command log: masked when written, not worked out when it is not -----------------------

@pytest.mark.parametrize("level", [logging.INFO, logging.ERROR])
def test_the_command_log_masks_credentials_and_costs_nothing_when_off(world, monkeypatch, level):
    """aiosmtpd logs every command line it reads; with its logger at INFO the AUTH line is written
    masked, as aiosmtpd does it; at ERROR (app.py's level) no line is masked at all (the mask's
    regex ran for nothing before: ``session._sanitized_log``)."""
    import aiosmtpd.smtp
    logger = logging.getLogger("mail.log")
    before = logger.level
    logger.setLevel(level)              # setLevel: the logger's cache of "enabled for" is cleared
    written: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: written.append(record.getMessage())
    logger.addHandler(handler)
    masked: list[bytes] = []
    sanitize = aiosmtpd.smtp.sanitize
    monkeypatch.setattr(aiosmtpd.smtp, "sanitize", lambda text: masked.append(text) or sanitize(text))
    try:
        with smtplib.SMTP("127.0.0.1", world.port("submission"), local_hostname="pc.test", timeout=10) as client:
            client.login("alice@alpha.test", "alice")
            client.noop()
    finally:
        logger.removeHandler(handler)
        logger.setLevel(before)
    token = b64("\0alice@alpha.test\0alice")
    auth = [line for line in written if "AUTH PLAIN" in line]
    if level == logging.INFO:
        assert auth and all(token not in line and "********" in line for line in auth)
        assert b"noop" in [text.lower() for text in masked]     # each command line went through the mask
    else:
        assert not any("auth" in line.lower() or "noop" in line.lower() for line in written)
        assert masked == []


def test_a_log_call_of_a_level_not_known_is_passed_on_masked():
    """The shortcut only skips the levels it knows; any other call goes to aiosmtpd's own
    ``sanitized_log``, which masks the credentials and calls it."""
    import aiosmtpd.smtp

    class Chatty(logging.Logger):
        def notice(self, msg, *args):
            said.append(msg % args)
    said: list[str] = []
    logger = Chatty("chatty.test", level=logging.ERROR)
    aiosmtpd.smtp.sanitized_log(logger.notice, "%r", b"AUTH PLAIN c2VjcmV0\r\n")
    assert said == ["b'AUTH PLAIN ********\\r\\n'"]
