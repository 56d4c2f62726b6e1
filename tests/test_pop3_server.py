"""The POP3 server on real loopback sockets, judged by poplib and a raw socket client.

Each test starts servers on 127.0.0.1 port 0 on their own event loop thread (as the mail stack
runs them), over a real MailStore in a temporary data directory, with real Maildir files.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import poplib
import re
import socket
import ssl
import threading
import time
from pathlib import Path

import pytest

from simulator import facts, nodes, tls
from simulator.bus import EventBus
from simulator.protocols.pop3 import Pop3Server
from simulator.protocols.limits import SessionCap
from simulator.protocols.throttle import ManualTime
from simulator.store import INBOX, MailStore
from simulator.world import Account

PASSWORDS = {"bob@beta.test": "bob-pw", "carol@beta.test": "carol pw", "alice@alpha.test": "alice-pw"}

MSG_DOTS = (b"From: alice@alpha.test\r\nTo: bob@beta.test\r\nSubject: Dots\r\nMessage-ID: <dots@alpha.test>\r\n"
            b"\r\nHi Bob,\r\n.a line that starts with a dot\r\n..two\r\n.\r\nBye\r\n")
MSG_LF = b"From: alice@alpha.test\nSubject: bare LF on disk\n\nline one\nline two\n"   # served as CRLF
MSG_LONG = b"Subject: long\r\n\r\n" + b"".join(b"body line %d\r\n" % i for i in range(1, 41))


def crlf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def authenticate(login: str, password: str) -> Account | None:
    if login == "boom@beta.test":
        raise RuntimeError("a bug in the account database")
    if PASSWORDS.get(login) != password:
        return None
    user, _, domain = login.partition("@")
    return Account(user, domain)


class Harness:
    """An event loop thread, a store, a bus, the certificate, and servers on port 0."""

    def __init__(self, data: Path) -> None:
        self.data = data
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="mail-loop", daemon=True)
        self.thread.start()
        self.store = MailStore(data / "mail")
        self.bus = EventBus()
        self.cert, _ = tls.ensure_certificate(data)
        self.client_ctx = tls.client_context(self.cert)
        self.servers: list[Pop3Server] = []
        self.clients: list = []
        self._counter = 0

    def run(self, coro, timeout: float = 15):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn, *args):
        """Run a store call on the loop thread, which owns the store."""
        async def call():
            return fn(*args)
        return self.run(call())

    def server(self, *, tls_mode: str = "stls", store: MailStore | None = None, **kw) -> Pop3Server:
        ssl_context = tls.server_context(self.data) if tls_mode in ("stls", "implicit") else None
        kw.setdefault("default_domain", "beta.test")
        kw.setdefault("node", nodes.pop3("beta.test"))
        srv = Pop3Server(store or self.store, authenticate, host="127.0.0.1", port=0, ssl_context=ssl_context,
                         implicit_tls=tls_mode == "implicit", publish=self.bus.publish, **kw)
        self.run(srv.start())
        self.servers.append(srv)
        return srv

    # clients
    def pop(self, srv: Pop3Server) -> poplib.POP3:
        client = poplib.POP3("127.0.0.1", srv.port, timeout=10)
        self.clients.append(client)
        return client

    def pop_ssl(self, srv: Pop3Server) -> poplib.POP3_SSL:
        client = LocalhostPOP3SSL(srv.port, self.client_ctx)
        self.clients.append(client)
        return client

    def raw(self, srv: Pop3Server, *, implicit: bool = False) -> Raw:
        client = Raw(srv.port, self.client_ctx if implicit else None)
        self.clients.append(client)
        return client

    def login(self, srv: Pop3Server, user: str = "bob@beta.test") -> poplib.POP3:
        client = self.pop(srv)
        client.user(user)
        client.pass_(PASSWORDS[user])
        return client

    # mailboxes
    def deliver(self, address: str, content: bytes) -> Path:
        user, _, domain = address.partition("@")
        maildir = self.data / "mail" / domain / user
        for sub in ("tmp", "new", "cur"):
            (maildir / sub).mkdir(parents=True, exist_ok=True)
        self._counter += 1
        path = maildir / "new" / f"1700000000.M{self._counter:06d}P{os.getpid()}.test"
        path.write_bytes(content)
        stamp = 1_700_000_000 + self._counter
        os.utime(path, (stamp, stamp))
        return path

    def mailbox(self, address: str) -> dict[str, bytes]:
        """Every message file of the INBOX: name -> content."""
        user, _, domain = address.partition("@")
        maildir = self.data / "mail" / domain / user
        return {f"{sub}/{p.name}": p.read_bytes()
                for sub in ("new", "cur") if (maildir / sub).is_dir() for p in sorted((maildir / sub).iterdir())}

    def events(self, kind: str | None = None, status: str | None = None) -> list:
        return [e for e in self.bus.since(0)
                if (kind is None or e.kind == kind) and (status is None or e.status == status)]

    def wait_event(self, kind: str, status: str | None = None, count: int = 1, timeout: float = 10) -> list:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.events(kind, status)
            if len(found) >= count:
                return found
            time.sleep(0.01)
        raise AssertionError(f"no {count} {kind} ({status}) events; got {[e.kind for e in self.bus.since(0)]}")

    def close(self) -> None:
        for client in self.clients:
            try:
                client.close()
            except OSError:
                pass
        for srv in self.servers:
            self.run(srv.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
        self.bus.close()


class LocalhostPOP3SSL(poplib.POP3_SSL):
    """POP3S to 127.0.0.1 that checks the certificate for the name "localhost" (no resolver)."""

    def __init__(self, port: int, context: ssl.SSLContext) -> None:
        super().__init__("127.0.0.1", port, timeout=10, context=context)

    def _create_socket(self, timeout):
        sock = socket.create_connection(("127.0.0.1", self.port), timeout)
        return self.context.wrap_socket(sock, server_hostname="localhost")


class Raw:
    """A line-level client on a bare socket, for what poplib will not send."""

    def __init__(self, port: int, context: ssl.SSLContext | None = None) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        if context is not None:
            self.sock = context.wrap_socket(self.sock, server_hostname="localhost")
        self.buf = b""
        self.greeting = self.line()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def line(self) -> bytes:
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed; pending {self.buf!r}")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def cmd(self, data: bytes) -> bytes:
        self.send(data + b"\r\n")
        return self.line()

    def data_block(self) -> bytes:
        """The raw (still byte-stuffed) lines of a multi-line response, up to the final ".\r\n"."""
        lines = []
        while (line := self.line()) != b".":
            lines.append(line + b"\r\n")
        return b"".join(lines)

    def starttls(self, context: ssl.SSLContext) -> None:
        assert self.buf == b""
        self.sock = context.wrap_socket(self.sock, server_hostname="localhost")

    def at_eof(self) -> bool:
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    def close(self) -> None:
        self.sock.close()


@pytest.fixture()
def h(tmp_path):
    harness = Harness(tmp_path)
    yield harness
    harness.close()


@pytest.fixture()
def bob(h):
    """bob@beta.test with three messages (and alice one); returns bob's paths in arrival order."""
    h.deliver("alice@alpha.test", MSG_LF)
    return [h.deliver("bob@beta.test", m) for m in (MSG_DOTS, MSG_LF, MSG_LONG)]


@contextlib.contextmanager
def unharmed(h: Harness, srv: Pop3Server):
    """Around bad input: another user's session keeps working, and bob's mailbox does not change."""
    before = h.mailbox("bob@beta.test")
    other = h.pop_ssl(srv) if srv.implicit_tls else h.pop(srv)
    other.user("alice@alpha.test")
    other.pass_(PASSWORDS["alice@alpha.test"])
    yield
    assert other.noop() == b"+OK"
    assert other.stat() == (1, len(crlf(MSG_LF)))
    other.quit()
    assert h.mailbox("bob@beta.test") == before


def uidl_of(h: Harness, address: str) -> list[str]:
    uidvalidity = h.call(h.store.uidvalidity, address, INBOX)
    return [f"{info.uid:08X}{uidvalidity:08X}" for info in h.call(h.store.inbox_snapshot, address)]


# --------------------------------------------------------------------------- every command


def test_every_command_with_poplib(h, bob):
    srv = h.server()
    before = h.mailbox("bob@beta.test")
    client = h.pop(srv)
    assert client.getwelcome() == b"+OK Mailflow POP3 server ready"
    assert client.user("bob") == b"+OK Send PASS"             # bare name: the server's default domain
    sizes = [len(MSG_DOTS), len(crlf(MSG_LF)), len(MSG_LONG)]
    assert client.pass_("bob-pw") == f"+OK Logged in: maildrop has 3 messages ({sum(sizes)} octets)".encode()
    assert client.stat() == (3, sum(sizes))
    resp, listing, _ = client.list()
    assert resp == f"+OK 3 messages ({sum(sizes)} octets)".encode()
    assert listing == [f"{n} {s}".encode() for n, s in enumerate(sizes, 1)]
    assert client.list(2) == f"+OK 2 {sizes[1]}".encode()
    resp, uids, _ = client.uidl()
    assert uids == [f"{n} {u}".encode() for n, u in enumerate(uidl_of(h, "bob@beta.test"), 1)]
    assert client.uidl(3) == f"+OK 3 {uidl_of(h, 'bob@beta.test')[2]}".encode()

    for number, original in enumerate((MSG_DOTS, crlf(MSG_LF), MSG_LONG), 1):
        resp, lines, octets = client.retr(number)
        assert resp == f"+OK {len(original)} octets".encode()
        assert b"".join(line + b"\r\n" for line in lines) == original   # poplib removes the stuffing
        assert octets == sizes[number - 1]                               # the size LIST announced

    resp, lines, _ = client.top(3, 0)
    assert lines == [b"Subject: long", b""]
    resp, lines, _ = client.top(3, 2)
    assert lines == [b"Subject: long", b"", b"body line 1", b"body line 2"]
    assert client.noop() == b"+OK"
    assert client.dele(1) == b"+OK Message 1 deleted"
    assert client.stat() == (2, sizes[1] + sizes[2])
    with pytest.raises(poplib.error_proto, match="already deleted"):
        client.retr(1)
    assert client.rset() == f"+OK Maildrop has 3 messages ({sum(sizes)} octets)".encode()
    assert client.quit() == b"+OK Mailflow POP3 server signing off (0 messages deleted, 3 left)"
    assert h.mailbox("bob@beta.test") == before


def test_the_maildrop_comes_from_the_login_alone(h, bob):
    """Rule 6: numbers count only the logged-in user's INBOX; no login spelling reaches another's."""
    srv = h.server()
    srv.throttle.use_time(ManualTime())
    alice = h.login(srv, "alice@alpha.test")                 # alice has 1 message, bob 3
    assert alice.stat() == (1, len(crlf(MSG_LF)))
    assert b"".join(line + b"\r\n" for line in alice.retr(1)[1]) == crlf(MSG_LF)
    for number in (2, 3, 4, 4294967297):
        with pytest.raises(poplib.error_proto, match="No such message, only 1 message"):
            alice.retr(number)
    alice.quit()
    for login in ("alice@alpha.test/../bob", "bob@beta.test\x00", "../beta.test/bob", "alice@alpha.test bob"):
        raw = h.raw(srv)
        raw.cmd(b"USER " + login.encode())
        assert raw.cmd(b"PASS alice-pw").startswith(b"-ERR"), login   # alice's password opens nothing else
        raw.close()

def test_retr_is_byte_stuffed_on_the_wire(h, bob):
    raw = h.raw(h.server())
    assert raw.cmd(b"USER bob@beta.test").startswith(b"+OK")
    assert raw.cmd(b"PASS bob-pw").startswith(b"+OK Logged in")
    assert raw.cmd(b"RETR 1") == f"+OK {len(MSG_DOTS)} octets".encode()
    assert raw.data_block() == MSG_DOTS.replace(b"\r\n.", b"\r\n..")
    assert raw.cmd(b"TOP 1 3") == b"+OK Top of message follows"
    assert raw.data_block().endswith(b"\r\n\r\nHi Bob,\r\n..a line that starts with a dot\r\n...two\r\n")
    assert raw.cmd(b"QUIT").startswith(b"+OK")


def test_pipelined_commands_in_one_packet(h, bob):
    raw = h.raw(h.server())
    raw.send(b"USER bob@beta.test\r\nPASS bob-pw\r\nSTAT\r\nLIST 2\r\nNOOP\r\nQUIT\r\n")
    assert raw.line() == b"+OK Send PASS"
    assert raw.line().startswith(b"+OK Logged in")
    assert raw.line().startswith(b"+OK 3 ")
    assert raw.line() == f"+OK 2 {len(crlf(MSG_LF))}".encode()
    assert raw.line() == b"+OK"
    assert raw.line().startswith(b"+OK Mailflow POP3 server signing off")
    assert raw.at_eof()


# --------------------------------------------------------------------------- deletion


def test_deletion_happens_only_at_quit(h, bob):
    srv = h.server()
    before = h.mailbox("bob@beta.test")
    client = h.login(srv)
    client.dele(1)
    client.dele(3)
    assert client.noop() == b"+OK"
    assert h.mailbox("bob@beta.test") == before          # marked, not deleted
    assert client.quit() == b"+OK Mailflow POP3 server signing off (2 messages deleted, 1 left)"
    assert list(h.mailbox("bob@beta.test").values()) == [MSG_LF]
    assert not bob[0].exists() and bob[1].exists() and not bob[2].exists()
    [quit_event] = h.wait_event("pop3.quit")
    assert quit_event.status == "ok" and quit_event.data["deleted"] == 2 and quit_event.data["left"] == 1
    # A new session sees the one message left, renumbered from 1.
    client = h.login(srv)
    assert client.stat() == (1, len(crlf(MSG_LF)))
    client.quit()


def test_dropped_connection_deletes_nothing(h, bob):
    srv = h.server()
    before = h.mailbox("bob@beta.test")
    client = h.login(srv)
    client.dele(1)
    client.dele(2)
    client.close()                                          # no QUIT
    [event] = h.wait_event("pop3.quit")
    assert event.status == "info"
    assert event.data["reason"] == "dropped" and event.data["kept_marked"] == 2 and event.data["deleted"] == 0
    assert h.mailbox("bob@beta.test") == before
    client = h.login(srv)                                   # the lock was released too
    assert client.stat()[0] == 3
    client.quit()


def test_stopping_the_server_deletes_nothing(h, bob):
    srv = h.server()
    before = h.mailbox("bob@beta.test")
    client = h.login(srv)
    client.dele(1)
    h.run(srv.stop())
    h.servers.remove(srv)
    assert h.mailbox("bob@beta.test") == before
    with pytest.raises((poplib.error_proto, OSError, EOFError)):
        client.stat()


def test_idle_timeout_logs_out_without_deleting(h, bob):
    srv = h.server()
    srv.idle_timeout = 0.3
    before = h.mailbox("bob@beta.test")
    raw = h.raw(srv)
    raw.cmd(b"USER bob@beta.test")
    assert raw.cmd(b"PASS bob-pw").startswith(b"+OK")
    assert raw.cmd(b"DELE 1") == b"+OK Message 1 deleted"
    assert raw.line() == b"-ERR Autologout; idle for too long"
    assert raw.at_eof()
    assert h.wait_event("pop3.quit")[0].data["reason"] == "timeout"
    assert h.mailbox("bob@beta.test") == before


# --------------------------------------------------------------------------- UIDL


def test_uidl_is_stable_across_sessions_and_restarts(h, bob):
    srv = h.server()
    client = h.login(srv)
    first = client.uidl()[1]
    client.quit()
    client = h.login(srv)
    assert client.uidl()[1] == first
    client.dele(2)
    client.quit()

    # A restart: a new store over the same directory and a new server.
    h.run(srv.stop())
    h.servers.remove(srv)
    store = MailStore(h.data / "mail")
    srv2 = h.server(store=store)
    client = h.login(srv2)
    assert client.uidl()[1] == [b"1 " + first[0].split()[1], b"2 " + first[2].split()[1]]

    uidvalidity = h.call(store.uidvalidity, "bob@beta.test", INBOX)
    uids = [info.uid for info in h.call(store.inbox_snapshot, "bob@beta.test")]
    assert uids == [1, 3]
    for line, uid in zip(client.uidl()[1], uids):
        value = line.split()[1].decode()
        assert re.fullmatch(r"[0-9A-F]{16}", value)
        assert value == f"{uid:08X}{uidvalidity:08X}"
    client.quit()


# --------------------------------------------------------------------------- one session per maildrop


def test_second_session_on_a_maildrop_gets_in_use(h, bob):
    srv = h.server()
    with unharmed(h, srv):
        front = h.server(node=nodes.FRONT, default_domain=None)     # another server on the same store
        first = h.login(srv)
        for other_server in (srv, front):
            second = h.pop(other_server)
            second.user("bob@beta.test")
            with pytest.raises(poplib.error_proto, match=r"-ERR \[IN-USE\]"):
                second.pass_("bob-pw")
            second.quit()
        assert first.stat()[0] == 3                            # the first session is unaffected
        other_user = h.login(srv, "carol@beta.test")          # another maildrop is free
        other_user.quit()
        refusals = [e for e in h.events("pop3.login", "failed") if e.data["code"] == "IN-USE"]
        assert len(refusals) == 2
        first.quit()
        again = h.login(front)                                 # released at QUIT
        assert again.stat()[0] == 3
        again.quit()


# --------------------------------------------------------------------------- SASL


def test_auth_plain_with_initial_response(h, bob):
    import base64
    raw = h.raw(h.server())
    token = base64.b64encode(b"\0bob@beta.test\0bob-pw")
    assert raw.cmd(b"AUTH PLAIN " + token).startswith(b"+OK Logged in: maildrop has 3 messages")
    assert raw.cmd(b"STAT").startswith(b"+OK 3 ")
    assert raw.cmd(b"QUIT").startswith(b"+OK")


def test_auth_plain_with_continuation_and_cancel(h, bob):
    import base64
    raw = h.raw(h.server())
    assert raw.cmd(b"AUTH PLAIN") == b"+ "
    assert raw.cmd(b"*") == b"-ERR Authentication cancelled"
    assert raw.cmd(b"AUTH PLAIN") == b"+ "
    assert raw.cmd(base64.b64encode(b"\0carol@beta.test\0carol pw")).startswith(b"+OK Logged in: maildrop has 0")
    assert raw.cmd(b"QUIT").startswith(b"+OK")
    [event] = h.wait_event("pop3.login", "ok")
    assert event.data["mechanism"] == "PLAIN" and event.src == nodes.mailbox("carol@beta.test")


def test_auth_login(h, bob):
    import base64
    raw = h.raw(h.server())
    assert raw.cmd(b"AUTH LOGIN") == b"+ VXNlcm5hbWU6"
    assert raw.cmd(base64.b64encode(b"bob@beta.test")) == b"+ UGFzc3dvcmQ6"
    assert raw.cmd(base64.b64encode(b"bob-pw")).startswith(b"+OK Logged in")
    assert raw.cmd(b"QUIT").startswith(b"+OK")


# --------------------------------------------------------------------------- TLS


def test_capa_with_and_without_stls(h):
    expected = {"CAPA": [], "TOP": [], "UIDL": [], "USER": [], "SASL": ["PLAIN", "LOGIN"], "RESP-CODES": [],
                "AUTH-RESP-CODE": [], "PIPELINING": [], "IMPLEMENTATION": ["mailflow"]}
    plain_only = h.pop(h.server(tls_mode="none"))
    assert plain_only.capa() == expected
    with_tls = h.pop(h.server(tls_mode="stls"))
    assert with_tls.capa() == {**expected, "STLS": []}
    implicit = h.pop_ssl(h.server(tls_mode="implicit"))
    assert implicit.capa() == expected
    for client in (plain_only, with_tls, implicit):
        client.quit()


def test_stls_then_login_over_tls(h, bob):
    srv = h.server()
    client = h.pop(srv)
    client.host = "localhost"          # the name poplib checks the certificate against
    assert client.stls(h.client_ctx) == b"+OK Begin TLS negotiation"
    assert client.sock.version() in ("TLSv1.2", "TLSv1.3")
    assert "STLS" not in client.capa()
    client.user("bob@beta.test")
    client.pass_("bob-pw")
    assert client.retr(1)[1][2] == b"Subject: Dots"
    client.quit()
    [login] = h.wait_event("pop3.login", "ok")
    assert login.data["tls"] is True
    assert ("C", "PASS ********") in login.transcript
    assert all("bob-pw" not in line for _, line in login.transcript)


def test_stls_discards_commands_sent_before_the_handshake(h, bob):
    srv = h.server()
    with unharmed(h, srv):
        raw = h.raw(srv)
        raw.send(b"USER bob@beta.test\r\nSTLS\r\nUSER evil@beta.test\r\n")
        assert raw.line() == b"+OK Send PASS"
        assert raw.line() == b"+OK Begin TLS negotiation"
        raw.starttls(h.client_ctx)
        assert raw.cmd(b"PASS bob-pw") == b"-ERR Send USER first"     # neither USER survived
        assert raw.cmd(b"STLS") == b"-ERR Command not permitted when TLS active"
        assert raw.cmd(b"USER bob@beta.test") == b"+OK Send PASS"
        assert raw.cmd(b"PASS bob-pw").startswith(b"+OK Logged in")
        assert raw.cmd(b"QUIT").startswith(b"+OK")


def test_stls_refused_without_a_certificate(h):
    raw = h.raw(h.server(tls_mode="none"))
    assert raw.cmd(b"STLS") == b"-ERR STLS is not available on this server"
    assert raw.cmd(b"QUIT").startswith(b"+OK")


def test_implicit_tls(h, bob):
    srv = h.server(tls_mode="implicit")
    client = h.pop_ssl(srv)
    assert client.getwelcome() == b"+OK Mailflow POP3 server ready"
    assert client.sock.version() in ("TLSv1.2", "TLSv1.3")
    client.user("bob@beta.test")
    client.pass_("bob-pw")
    assert client.stat()[0] == 3
    assert client.top(2, 0)[1][:2] == [b"From: alice@alpha.test", b"Subject: bare LF on disk"]
    client.quit()
    assert h.wait_event("pop3.login", "ok")[0].data["tls"] is True


def test_plain_bytes_on_the_implicit_tls_port_do_not_hurt(h, bob):
    srv = h.server(tls_mode="implicit")
    with unharmed(h, srv):
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
            sock.sendall(b"USER bob@beta.test\r\nPASS bob-pw\r\n")
            sock.settimeout(10)
            try:
                sock.recv(100)
            except OSError:
                pass
        client = h.pop_ssl(srv)
        client.user("bob@beta.test")
        client.pass_("bob-pw")
        client.quit()


def test_failed_stls_handshake_closes_only_that_connection(h, bob):
    srv = h.server()
    with unharmed(h, srv):
        raw = h.raw(srv)
        assert raw.cmd(b"STLS") == b"+OK Begin TLS negotiation"
        raw.send(b"USER bob@beta.test\r\nPASS bob-pw\r\n")      # not a TLS ClientHello
        assert raw.at_eof()


def test_stop_ends_connections_stuck_before_their_handshake(h, bob):
    implicit = h.server(tls_mode="implicit")
    plain = h.server()
    silent = [socket.create_connection(("127.0.0.1", implicit.port), timeout=10) for _ in range(2)]
    h.clients.extend(silent)
    stuck = h.raw(plain)
    assert stuck.cmd(b"STLS") == b"+OK Begin TLS negotiation"   # and then never says hello
    time.sleep(0.2)
    started = time.monotonic()
    for srv in (implicit, plain):
        h.run(srv.stop())
        h.servers.remove(srv)
    assert time.monotonic() - started < 3
    for sock in silent:
        assert sock.recv(1) == b""
    assert stuck.at_eof()


# --------------------------------------------------------------------------- bad input


def test_wrong_password_unknown_user_and_throttling(h, bob):
    srv = h.server()
    clock = ManualTime()                                    # the throttle's waits, recorded, not waited
    srv.throttle.use_time(clock)
    before = h.mailbox("bob@beta.test")
    carol = h.login(srv, "carol@beta.test")   # before the failures: a success clears the record
    replies = []
    for user, password in (("bob@beta.test", "wrong"), ("nobody@beta.test", "bob-pw"), ("bob", "nope")):
        client = h.pop(srv)
        client.user(user)
        with pytest.raises(poplib.error_proto) as err:
            client.pass_(password)
        replies.append(err.value.args[0])
        client.quit()
    assert replies == [b"-ERR [AUTH] Invalid login or password"] * 3
    assert clock.waits == [2.0, 4.0]            # Dovecot's rule: from the 2nd attempt on, doubling from 2 s

    raw = h.raw(srv)
    assert raw.cmd(b"USER bob@beta.test") == b"+OK Send PASS"
    assert raw.cmd(b"PASS wrong-again") == b"-ERR [AUTH] Invalid login or password"
    assert raw.cmd(b"USER bob@beta.test") == b"+OK Send PASS"
    assert raw.cmd(b"PASS bob-pw").startswith(b"+OK Logged in")   # the right password: slowed, not locked
    assert clock.waits == [2.0, 4.0, 8.0, 15.0]  # every attempt waited before its check, up to 15 s
    assert raw.cmd(b"QUIT").startswith(b"+OK")
    assert carol.stat() == (0, 0)
    carol.quit()

    failed = h.wait_event("pop3.login", "failed", count=4)
    assert {e.src for e in failed} == {nodes.OUTSIDE}
    assert {e.dst for e in failed} == {nodes.pop3("beta.test")}
    assert {e.data["peer"] for e in failed} == {"127.0.0.1"}
    assert all(isinstance(e.fact, facts.Pop3Login) and e.fact.code is facts.LoginCode.AUTH for e in failed)
    assert failed[1].data["login"] == "nobody@beta.test"
    assert [e.data["next_delay"] for e in failed] == [2.0, 4.0, 8.0, 15.0]
    assert srv.throttle.delay("127.0.0.1") == 0              # success cleared the record
    assert h.mailbox("bob@beta.test") == before


def test_three_failures_in_one_session_close_it(h, bob):
    srv = h.server()
    srv.throttle.use_time(ManualTime())
    with unharmed(h, srv):
        raw = h.raw(srv)
        for attempt in range(3):
            raw.cmd(b"USER bob@beta.test")
            reply = raw.cmd(b"PASS bad%d" % attempt)
        assert reply == b"-ERR [AUTH] Invalid login or password; too many failures, closing"
        assert raw.at_eof()


def test_over_long_line(h, bob):
    srv = h.server()
    with unharmed(h, srv):
        raw = h.raw(srv)
        assert raw.cmd(b"USER " + b"b" * 5000) == b"-ERR Line too long (limit 1024 octets)"
        assert raw.cmd(b"USER bob@beta.test") == b"+OK Send PASS"
        assert raw.cmd(b"PASS bob-pw").startswith(b"+OK Logged in")
        assert raw.cmd(b"DELE 1" + b"0" * 3000) == b"-ERR Line too long (limit 1024 octets)"
        assert raw.cmd(b"STAT").startswith(b"+OK 3 ")
        assert raw.cmd(b"QUIT").startswith(b"+OK Mailflow POP3 server signing off (0 messages deleted")


def test_retr_of_a_message_that_does_not_exist(h, bob):
    srv = h.server()
    with unharmed(h, srv):
        client = h.login(srv)
        for bad in (lambda: client.retr(4), lambda: client.retr(0), lambda: client.dele(99),
                    lambda: client.top(7, 0), lambda: client._shortcmd("RETR x")):
            with pytest.raises(poplib.error_proto, match="-ERR"):
                bad()
        assert client.stat()[0] == 3
        client.quit()


def test_message_removed_by_another_program_mid_session(h, bob):
    srv = h.server()
    client = h.login(srv)
    bob[1].unlink()                                          # e.g. an IMAP client expunged it
    with pytest.raises(poplib.error_proto, match=r"\[SYS/TEMP\] Message 2 was removed"):
        client.retr(2)
    assert client.retr(3)[0].startswith(b"+OK")
    client.quit()


def test_garbage_gets_errors_and_others_keep_working(h, bob):
    srv = h.server()
    with unharmed(h, srv):
        raw = h.raw(srv)
        for junk in (b"\x00\x01\x02\xff", b"GET / HTTP/1.1", b"RETR 1", b"DELE 1", b"PASS", b"AUTH PLAIN !!!",
                     b"AUTH XOAUTH2 abc", b"LIST\x00 1", "привет".encode()):
            assert raw.cmd(junk).startswith(b"-ERR"), junk
        assert raw.cmd(b"USER bob@beta.test") == b"+OK Send PASS"
        assert raw.cmd(b"PASS bob-pw").startswith(b"+OK")
        for junk in (b"RETR 1 2", b"TOP", b"TOP a b", b"DELE -1", b"LIST 1.5", b"UIDL 0", b"USER x", b"\xff\xfe"):
            assert raw.cmd(junk).startswith(b"-ERR"), junk
        assert raw.cmd(b"DELE 1") == b"+OK Message 1 deleted"
        raw.close()                                       # no QUIT: the DELE does not count
        h.wait_event("pop3.quit", "info")


def test_an_internal_error_ends_only_that_session(h, bob):
    srv = h.server()
    with unharmed(h, srv):
        bob_session = h.login(srv)
        bob_session.dele(1)
        raw = h.raw(srv)
        raw.cmd(b"USER boom@beta.test")
        assert raw.cmd(b"PASS whatever").startswith(b"-ERR [SYS/TEMP]")
        assert raw.at_eof()
        assert bob_session.stat()[0] == 2                    # the other session goes on
        carol = h.login(srv, "carol@beta.test")              # and the server accepts new ones
        carol.quit()
        bob_session.rset()
        bob_session.quit()
    [error] = h.wait_event("pop3.error", "failed")
    assert isinstance(error.fact, facts.Pop3Error) and error.data["error"] == "RuntimeError"
    assert (error.src, error.dst, error.data["peer"]) == (nodes.OUTSIDE, nodes.pop3("beta.test"), "127.0.0.1")



def test_pipelined_retrs_are_all_answered_in_order_behind_the_output_budget(h, bob):
    srv = h.server()
    srv.output_budget = 500              # about one message per batch: the adapter must resume
    raw = h.raw(srv)
    assert raw.cmd(b"USER bob@beta.test") == b"+OK Send PASS"
    assert raw.cmd(b"PASS bob-pw").startswith(b"+OK Logged in")
    raw.send(b"RETR 3\r\nRETR 1\r\n" * 40 + b"STAT\r\n")
    for _ in range(40):
        assert raw.line() == b"+OK %d octets" % len(MSG_LONG)
        assert raw.data_block() == MSG_LONG
        assert raw.line() == b"+OK %d octets" % len(MSG_DOTS)
        raw.data_block()
    assert raw.line().startswith(b"+OK 3 ")


def test_a_client_that_only_errs_is_disconnected(h, bob):
    srv = h.server()
    with unharmed(h, srv):
        raw = h.raw(srv)
        raw.send(b"GET / HTTP/1.1\r\n" * 25)           # e.g. a browser pointed at the POP3 port
        replies = [raw.line() for _ in range(21)]
        assert replies[:20] == [b"-ERR Unknown command"] * 20
        assert replies[20] == b"-ERR Too many bad commands; closing"
        assert raw.at_eof()
        client = h.login(srv)                           # the next session is served as usual
        assert client.stat()[0] == 3
        client.quit()


def test_a_client_that_never_logs_in_is_let_go(h, bob):
    """Dovecot's login deadline: 3 minutes in all before a login (here 0.5 s), however busy the client."""
    srv = h.server()
    srv.login_timeout = 0.5
    with unharmed(h, srv):
        raw = h.raw(srv)
        deadline = time.monotonic() + 10
        while (reply := raw.cmd(b"USER bob@beta.test")) == b"+OK Send PASS":   # talks, never logs in
            assert time.monotonic() < deadline, "the login deadline was never enforced"
        assert reply == b"-ERR Autologout; idle for too long"
        assert raw.at_eof()


def test_sessions_per_client_address_are_capped(h, bob):
    cap = SessionCap(2)
    srv = h.server(cap=cap)
    first, second = h.raw(srv), h.raw(srv)
    assert first.greeting.startswith(b"+OK") and second.greeting.startswith(b"+OK")
    third = h.raw(srv)                                        # the greeting it gets is the refusal
    assert third.greeting == b"-ERR [SYS/TEMP] Too many connections from your address; try again later"
    assert third.at_eof() and cap.refused == 1
    first.cmd(b"QUIT")
    assert first.at_eof()
    deadline = time.monotonic() + 5
    while cap.live("127.0.0.1") > 1:                          # the place is given back when a session ends
        assert time.monotonic() < deadline
        time.sleep(0.01)
    fourth = h.raw(srv)
    assert fourth.greeting.startswith(b"+OK") and fourth.cmd(b"USER bob@beta.test") == b"+OK Send PASS"

# --------------------------------------------------------------------------- events


def test_events_tell_the_download_and_delete_story(h, bob):
    front = h.server(node=nodes.FRONT, default_domain=None)
    front.throttle.use_time(ManualTime())                   # the failed login's penalty: recorded, not waited
    client = h.pop(front)
    client.user("bob")                                       # no default domain at the front door
    with pytest.raises(poplib.error_proto):
        client.pass_("bob-pw")
    client.user("bob@beta.test")
    client.pass_("bob-pw")
    client.list()
    client.uidl()
    client.retr(3)
    client.top(1, 0)
    client.dele(3)
    client.quit()
    h.wait_event("pop3.quit")

    kinds = [(e.kind, e.status) for e in h.bus.since(0)]
    assert kinds == [("pop3.login", "failed"), ("pop3.login", "ok"), ("pop3.list", "ok"), ("pop3.list", "ok"),
                     ("pop3.retr", "ok"), ("pop3.retr", "ok"), ("pop3.dele", "ok"), ("pop3.quit", "ok")]
    failed, login, listed, uidl, retr, top, dele, quit_ = h.bus.since(0)
    assert (failed.src, failed.dst, failed.data["peer"]) == (nodes.OUTSIDE, nodes.FRONT, "127.0.0.1")
    assert failed.data["code"] == "AUTH" and failed.data["login"] == "bob"
    for event in (login, listed, uidl, retr, top, dele, quit_):
        assert (event.src, event.dst, event.protocol) == (nodes.mailbox("bob@beta.test"),
                                                          nodes.mua("bob@beta.test"), "POP3")
        assert event.data["server"] == nodes.pop3("beta.test") and event.data["via"] == nodes.FRONT
        assert event.data["address"] == "bob@beta.test" and event.data["peer"] == "127.0.0.1"
    assert ("C", "PASS bob-pw") in login.transcript          # plain text: visible on the wire
    assert isinstance(login.fact, facts.Pop3Login) and login.data["code"] == ""
    assert login.data["tls"] is False and login.data["mechanism"] == "USER"
    assert login.data["messages"] == 3 and login.data["octets"] == sum(len(crlf(m)) for m in (MSG_DOTS, MSG_LF,
                                                                                              MSG_LONG))
    assert (listed.data["command"], uidl.data["command"]) == ("LIST", "UIDL")

    assert retr.data["command"] == "RETR" and retr.data["number"] == 3 and retr.data["size"] == len(MSG_LONG)
    assert retr.message == {"subject": "long"}
    assert (retr.data["uid"], retr.data["folder"], retr.data["lines"]) == (3, "INBOX", None)
    assert retr.transcript[0] == ("C", "RETR 3")
    assert ("…", "22") in retr.transcript                   # trimmed to 20 body lines: 22 left out
    assert len(retr.transcript) == 2 + 20 + 2
    assert top.data["command"] == "TOP" and top.data["lines"] == 0
    assert top.message == {"id": "<dots@alpha.test>", "from": "alice@alpha.test", "to": "bob@beta.test",
                           "subject": "Dots"}
    assert isinstance(dele.fact, facts.Pop3Deleted)
    assert (dele.data["number"], dele.data["uid"], dele.data["folder"]) == (3, 3, "INBOX")
    assert isinstance(quit_.fact, facts.Pop3SessionEnded) and quit_.data["reason"] == "quit"
    assert quit_.data["deleted"] == 1 and quit_.data["left"] == 2
    assert quit_.transcript[0] == ("C", "QUIT")
