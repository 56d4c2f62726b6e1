"""Rule 4 (issue 12), bounded sessions: a cap per client address, an error budget, floods that cost
nothing lasting, and a fresh client greeted while idle and stalled ones hang on.

Part 1 drives the shared pieces directly on loopback sockets (``limits.SessionCap``, the
``transport.Listener`` that enforces it, ``limits.ErrorBudget``).  Part 2 starts ``app.py`` as a
subprocess (as a user runs it) and judges it from outside with raw sockets: the cap per address on
IMAP and POP3, Dovecot's error budget, floods of every protocol with the process's memory growth
measured (VmRSS from /proc), and a fresh client on every door greeted within 1 s while 50 idle and 10
stalled clients hold their connections.  Client addresses other than 127.0.0.1 are other addresses of
127.0.0.0/8 (this computer's, like a classroom's would be).  No sleeps: every wait polls a fact with a
deadline.
"""
from __future__ import annotations

import asyncio
import json
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import free_port
from simulator import tls
from simulator.protocols.limits import MAX_BAD_COMMANDS, ErrorBudget, SessionCap
from simulator.protocols.transport import Connection, Listener

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 20))


async def _until(predicate, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


# -- part 1: the pieces --------------------------------------------------------------------------------
def test_session_cap_counts_per_address_and_never_refuses_the_exempt():
    cap = SessionCap(per_address=2, exempt={"127.0.0.80"})
    assert [cap.admit("127.0.0.9") for _ in range(3)] == [True, True, False]
    assert cap.admit("127.0.0.10")                       # another address has its own count
    assert all(cap.admit("127.0.0.80") for _ in range(50))
    assert (cap.live("127.0.0.9"), cap.live("127.0.0.80"), cap.refused) == (2, 50, 1)
    cap.release("127.0.0.9")
    assert cap.admit("127.0.0.9") and not cap.admit("127.0.0.9")
    with pytest.raises(ValueError):
        SessionCap(per_address=0)


def test_error_budget_is_spent_by_bad_commands_in_a_row_only():
    budget = ErrorBudget()
    assert not any(budget.bad() for _ in range(MAX_BAD_COMMANDS - 1))
    budget.good()                                         # a good command starts the count again
    assert not any(budget.bad() for _ in range(MAX_BAD_COMMANDS - 1)) and not budget.spent
    assert budget.bad() and budget.spent
    assert MAX_BAD_COMMANDS == 20                          # Dovecot's CLIENT_MAX_BAD_COMMANDS


async def _greeter(conn: Connection) -> None:
    conn.write(b"HELLO\r\n")
    await conn.drain()
    await conn.read()                                     # until the client goes away


async def _open(port: int, source: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(HOST, port, local_addr=(source, 0))


def test_the_listener_refuses_beyond_the_cap_with_the_servers_line_before_any_handler():
    handled: list[str] = []

    async def handler(conn: Connection) -> None:
        handled.append(conn.peer)
        await _greeter(conn)

    async def scenario():
        cap = SessionCap(per_address=2)
        listener = Listener(handler, host=HOST, port=0, cap=cap, refusal=b"BUSY\r\n")
        await listener.start()
        first = [await _open(listener.port, "127.0.0.9") for _ in range(2)]
        assert [await r.readline() for r, _ in first] == [b"HELLO\r\n"] * 2
        reader, writer = await _open(listener.port, "127.0.0.9")
        refused = await reader.read()                     # the refusal, then end of stream
        writer.close()
        other_reader, other = await _open(listener.port, "127.0.0.10")
        assert await other_reader.readline() == b"HELLO\r\n"
        first[0][1].close()                               # one ends: its place is free again
        await _until(lambda: cap.live("127.0.0.9") == 1)
        again_reader, again = await _open(listener.port, "127.0.0.9")
        greeted = await again_reader.readline()
        for _, w in [*first[1:], (None, other), (None, again)]:
            w.close()
        await listener.stop()
        return refused, greeted, cap

    refused, greeted, cap = run(scenario())
    assert refused == b"BUSY\r\n" and greeted == b"HELLO\r\n"
    assert handled.count("127.0.0.9") == 3 and cap.refused == 1 and cap.live() == 0


def test_an_implicit_tls_listener_closes_beyond_the_cap_without_a_handshake(tmp_path):
    cert, _ = tls.ensure_certificate(tmp_path)
    server_ctx, client_ctx = tls.server_context(tmp_path), tls.client_context(cert)

    async def handler(conn: Connection) -> None:
        await conn.start_tls(server_ctx, implicit=True)
        await _greeter(conn)

    async def scenario():
        cap = SessionCap(per_address=1)
        listener = Listener(handler, host=HOST, port=0, implicit_tls=True, cap=cap, refusal=b"BUSY\r\n")
        await listener.start()
        reader, writer = await asyncio.open_connection(HOST, listener.port, ssl=client_ctx,
                                                       server_hostname="localhost")
        assert await reader.readline() == b"HELLO\r\n"
        raw_reader, raw = await asyncio.open_connection(HOST, listener.port)
        second = await raw_reader.read()                  # no plaintext refusal, no handshake: closed
        raw.close()
        writer.close()
        await listener.stop()
        return second, cap.refused

    assert run(scenario()) == (b"", 1)


# -- part 2: app.py as a user runs it, judged from outside -------------------------------------------------
SCENARIO = """
name: limits
domains:
  alpha.test:
    users: {alice: alice}
    hosts: {smtp.alpha.test: {role: msa}, mx.alpha.test: {role: mx}}
    mx: [{preference: 10, host: mx.alpha.test}]
"""
MX_ADDRESS = "127.42.1.2"          # mx.alpha.test in the plan 127.42.<domain>.<host>
PORTS = ("mx", "submission", "smtps", "dns", "imap", "imaps", "pop3", "pop3s", "app")
FLOOD = 16 * 1024 * 1024           # octets thrown at each door: a server that kept them would grow by more
MEMORY_GROWTH = 50 * 1024 * 1024   # rule 4's bound on the process's growth under all the floods


class App:
    """A running ``app.py`` (its pid, its ports) and the doors a client knocks on."""

    def __init__(self, proc: subprocess.Popen, ports: dict) -> None:
        self.proc, self.ports = proc, ports

    def doors(self) -> dict[str, tuple[str, int]]:
        return {"mx": (MX_ADDRESS, self.ports["mx"]), "submission": (HOST, self.ports["submission"]),
                "imap": (HOST, self.ports["imap"]), "pop3": (HOST, self.ports["pop3"])}

    def rss(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("limits-app")
    (tmp / "limits.yaml").write_text(SCENARIO)
    ports_file, out = tmp / "ports.json", open(tmp / "app.out", "w")
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "app.py"), "--no-web", "--no-tls", "--fresh", "--data", str(tmp / "data"),
         "--scenario", str(tmp / "limits.yaml"), "--ports-file", str(ports_file),
         *[f"--{name}-port=0" for name in PORTS]],
        cwd=tmp, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_for(lambda: ports_file.exists() or proc.poll() is not None, 30, "the ports file")
        assert proc.poll() is None, (tmp / "app.out").read_text()
        yield App(proc, json.loads(ports_file.read_text()))
    finally:
        proc.kill()                          # ours, by its pid (its data is a temporary directory)
        proc.wait(10)
        out.close()


def connect(door: tuple[str, int], source: str = HOST, timeout: float = 10.0) -> socket.socket:
    sock = socket.create_connection(door, timeout=timeout, source_address=(source, 0))
    return sock


# The last line of a complete answer: SMTP "250 ..." (not "250-"), IMAP tagged or untagged status,
# POP3 "+OK" / "-ERR" (multi-line answers are not asked for here).
_FINAL = re.compile(rb"(^|\n)(\d{3} |[A-Za-z0-9]+ (OK|NO|BAD)|\* (OK|BYE|PREAUTH)|\+OK|-ERR|\+ )[^\n]*\r?\n$")


def greeting(sock: socket.socket) -> bytes:
    """Everything up to a complete answer (or the end of the stream)."""
    data = b""
    while not _FINAL.search(data):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def dialogue(door: tuple[str, int], lines: list[bytes], source: str = HOST) -> bytes:
    """Send the lines one by one, each after the previous answer; everything the server said."""
    with connect(door, source) as sock:
        said = greeting(sock)
        for line in lines:
            sock.sendall(line)
            said += greeting(sock)
        return said


def warm_up(app: App) -> None:
    """One ordinary session on every door: what the first use allocates is not growth."""
    doors = app.doors()
    accepted = dialogue(doors["mx"], [b"EHLO client.localhost\r\n", b"MAIL FROM:<a@client.test>\r\n",
                                      b"RCPT TO:<alice@alpha.test>\r\n", b"DATA\r\n",
                                      b"Subject: warm\r\n\r\nhello\r\n.\r\n", b"QUIT\r\n"])
    assert re.search(rb"250 2\.0\.0 Ok: (?:queued|delivered) as", accepted), accepted
    assert b"a1 OK" in dialogue(doors["imap"], [b"a1 LOGIN alice@alpha.test alice\r\n", b"a2 SELECT INBOX\r\n",
                                                b"a3 LOGOUT\r\n"])
    assert b"+OK" in dialogue(doors["pop3"], [b"USER alice@alpha.test\r\n", b"PASS alice\r\n", b"STAT\r\n",
                                              b"QUIT\r\n"])


def flood(door: tuple[str, int], prelude: bytes, chunk: bytes, held: list[socket.socket], total: int = FLOOD,
          patience: float = 0.5) -> str:
    """Throw ``total`` octets of ``chunk`` after ``prelude`` at a door; how it ended.  A server that
    stops reading for ``patience`` seconds (flow control: it answers first) ends the flood too.  The
    connection stays open in ``held``: whatever the server kept for it is still there when measured."""
    sock = connect(door)
    held.append(sock)
    greeting(sock)
    sock.settimeout(patience)
    sent, deadline = 0, time.monotonic() + 8.0
    try:
        sock.sendall(prelude)
        while sent < total and time.monotonic() < deadline:
            sock.sendall(chunk)
            sent += len(chunk)
    except (ConnectionResetError, BrokenPipeError):
        return "closed by the server"
    except TimeoutError:
        return "the server stopped reading"
    return "sent"


def dns_flood(port: int, count: int = 3000) -> None:
    """Queries sent without reading the answers (the answers are dropped by the kernel, not kept)."""
    query = bytes.fromhex("abcd0100000100000000000005616c706861047465737400000f0001")   # alpha.test MX
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _ in range(count):
            sock.sendto(query, (HOST, port))


def test_floods_of_every_protocol_leave_the_process_small_and_its_doors_open(app):
    warm_up(app)
    before = app.rss()
    doors = app.doors()
    line = b"x" * 65536
    held: list[socket.socket] = []
    try:
        outcomes = {
            "smtp command line": flood(doors["mx"], b"EHLO ", line, held),
            "smtp data line": flood(doors["mx"], b"EHLO c.localhost\r\nMAIL FROM:<a@c.test>\r\n"
                                                 b"RCPT TO:<alice@alpha.test>\r\nDATA\r\n", line, held),
            "smtp pipelined": flood(doors["submission"], b"", b"NOOP\r\n" * 10000, held),
            "imap line": flood(doors["imap"], b"a1 LOGIN ", line, held),
            "imap literal+": flood(doors["imap"], b"a1 LOGIN {999999999+}\r\n", line, held),
            "imap pipelined": flood(doors["imap"], b"", b"a NOOP\r\n" * 8000, held),
            "pop3 line": flood(doors["pop3"], b"USER ", line, held),
            "pop3 pipelined": flood(doors["pop3"], b"", b"CAPA\r\n" * 10000, held),
        }
        dns_flood(app.ports["dns"])
        grown = app.rss() - before                       # the flooding clients are still connected
    finally:
        for sock in held:
            sock.close()
    assert grown < MEMORY_GROWTH, (grown, outcomes)
    for name, door in doors.items():                     # every door still answers a new client
        with connect(door) as sock:
            assert greeting(sock)[:1] in (b"2", b"*", b"+"), name
    assert app.proc.poll() is None


IDLE, STALLED = 50, 10


def _stall(kind: str, doors: dict, source: str) -> socket.socket:
    """A client that stops half-way: half a command line, or a flood of commands it never reads."""
    door, prelude = {
        "imap half line": (doors["imap"], b"a1 LOGIN alice@alpha.te"),
        "pop3 half line": (doors["pop3"], b"USER ali"),
        "smtp half line": (doors["mx"], b"EHLO half.loc"),
        "imap unread": (doors["imap"], b"a NOOP\r\n" * 2000),
        "pop3 unread": (doors["pop3"], b"CAPA\r\n" * 2000),
    }[kind]
    sock = connect(door, source)
    sock.setblocking(False)
    try:
        sock.send(prelude)                   # as much as the kernel takes now; the rest is never sent
    except BlockingIOError:
        pass
    return sock


def test_a_fresh_client_is_greeted_within_a_second_while_50_idle_and_10_stalled_hang_on(app):
    doors = app.doors()
    names = list(doors)
    held: list[socket.socket] = []
    try:
        idle = []
        for i in range(IDLE):                             # each from its own address: no cap is reached
            sock = connect(doors[names[i % len(names)]], f"127.0.9.{i + 1}")
            assert greeting(sock)
            idle.append(sock)
        held += idle
        kinds = ["imap half line", "pop3 half line", "smtp half line", "imap unread", "pop3 unread"]
        held += [_stall(kinds[i % len(kinds)], doors, f"127.0.10.{i + 1}") for i in range(STALLED)]
        for name, door in doors.items():
            began = time.monotonic()
            with connect(door, timeout=5) as sock:
                said = greeting(sock)
            waited = time.monotonic() - began
            assert said[:1] in (b"2", b"*", b"+") and waited < 1.0, (name, waited, said)
        for sock, name in zip(idle[:4], names):           # and the idle ones are still served
            sock.sendall({"mx": b"NOOP\r\n", "submission": b"NOOP\r\n", "imap": b"n1 NOOP\r\n",
                          "pop3": b"NOOP\r\n"}[name])
            assert greeting(sock)[:1] in (b"2", b"n", b"+", b"-"), name
    finally:
        for sock in held:
            sock.close()


# -- the cap per client address, the error budget: judged from outside ------------------------------------
CAPPED = {"imap": rb"^\* BYE \[UNAVAILABLE\]", "pop3": rb"^-ERR \[SYS/TEMP\]", "mx": rb"^421 4\.7\.0"}


@pytest.mark.parametrize("door", sorted(CAPPED))
def test_a_21st_session_from_one_address_is_refused_and_a_freed_place_is_taken_again(app, door):
    address = app.doors()[door]
    source = {"imap": "127.0.8.1", "pop3": "127.0.8.2", "mx": "127.0.8.3"}[door]
    held = []
    try:
        for _ in range(20):
            sock = connect(address, source)
            assert not re.match(CAPPED[door], greeting(sock)), door
            held.append(sock)
        with connect(address, source) as extra:
            said = greeting(extra)
            assert re.match(CAPPED[door], said), said
            assert extra.recv(100) == b""                     # and closed
        held.pop().close()                                    # one ends: its place is free again

        def admitted() -> bool:
            with connect(address, source) as again:
                return not re.match(CAPPED[door], greeting(again))
        _wait_for(admitted, 10, "a freed place")
        with connect(address, "127.0.8.9") as other:          # another address is not concerned
            assert not re.match(CAPPED[door], greeting(other))
    finally:
        for sock in held:
            sock.close()


def test_the_webmails_address_is_never_capped(app):
    held = []
    try:
        for _ in range(25):
            sock = connect(app.doors()["imap"], "127.0.0.80")
            assert greeting(sock).startswith(b"* OK"), len(held)
            held.append(sock)
    finally:
        for sock in held:
            sock.close()


# (a bad command, a good one, how the server's last line starts when it ends the session: a fact of the
# protocol, not its words)
GARBAGE = {"imap": (b"x1 FROBNICATE\r\n", b"x2 NOOP\r\n", rb"^\* BYE "),
           "pop3": (b"FROBNICATE\r\n", b"USER alice@alpha.test\r\n", rb"^-ERR ")}
# (SMTP's budget is Postfix's, every error of the session counted: tests/test_smtp_hostile.py)


def _answers(sock: socket.socket, command: bytes, count: int) -> list[bytes]:
    answers = []
    for _ in range(count):
        sock.sendall(command)
        answers.append(greeting(sock))
    return answers


@pytest.mark.parametrize("door", sorted(GARBAGE))
def test_twenty_bad_commands_end_the_session(app, door):
    bad, _, last = GARBAGE[door]
    with connect(app.doors()[door], "127.0.7.1") as sock:
        greeting(sock)
        answers = _answers(sock, bad, 20)
        assert all(answers), answers                       # each one answered ...
        rest = answers[-1] + _until_closed(sock)           # ... and after the 20th, closed by the server
        assert re.search(last, rest.splitlines()[-1]), rest


def _until_closed(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(4096):
        data += chunk
    return data


@pytest.mark.parametrize("door", ["imap", "pop3"])
def test_a_good_command_starts_the_count_again_as_dovecot_does(app, door):
    bad, good, _ = GARBAGE[door]
    with connect(app.doors()[door], "127.0.7.2") as sock:
        greeting(sock)
        for round_ in range(2):
            _answers(sock, bad, 19)
            sock.sendall(good)
            assert re.search(rb"^(x2 OK|\+OK)", greeting(sock), re.M), round_
        _answers(sock, bad, 19)
        sock.sendall(good)
        assert greeting(sock)                              # 57 bad commands, never 20 in a row: alive
