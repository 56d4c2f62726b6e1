"""The IMAP server on real loopback sockets, judged by imaplib and IMAPClient."""

from __future__ import annotations

import asyncio
import datetime
import imaplib
import ipaddress
import os
import socket
import ssl
import threading
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from imapclient import IMAPClient

from simulator import nodes
from simulator.facts import Status
from simulator.facts import imap as facts
from simulator.protocols.imap.server import ImapServer
from simulator.protocols.limits import SessionCap
from simulator.protocols.throttle import ManualTime
from simulator.store import MailStore
from simulator.world import Account

BOB = "bob@beta.test"


USERS = {"bob@beta.test": "secret", "alice@alpha.test": "wonder"}


def authenticate(login: str, password: str) -> Account | None:
    if USERS.get(login) != password:
        return None
    user, _, domain = login.partition("@")
    return Account(user, domain)


class RecordingBus:
    """Stands in for simulator.bus.EventBus: ``publish(fact)``, recorded as the fact and its data."""

    def __init__(self) -> None:
        self.events: list[dict] = []
        self._lock = threading.Lock()
        self._published = threading.Condition(self._lock)

    def publish(self, fact):
        with self._lock:
            self.events.append(dict(kind=fact.kind, src=fact.src, dst=fact.dst, protocol=fact.protocol,
                                    status=fact.status, transcript=list(fact.transcript),
                                    data=fact.data(), fact=fact))
            self._published.notify_all()

    def wait_for(self, kind: str, timeout: float = 5) -> None:
        """Until a fact of ``kind`` is published (the server publishes from its own thread)."""
        with self._lock:
            self._published.wait_for(lambda: any(e["kind"] == kind for e in self.events), timeout)

    def kinds(self) -> list[str]:
        with self._lock:
            return [e["kind"] for e in self.events]


MULTIPART = (
    b"From: Alice Example <alice@alpha.test>\r\n"
    b"To: Bob <bob@beta.test>\r\n"
    b"Subject: Quarterly report\r\n"
    b"Date: Mon, 01 Jan 2024 10:00:00 +0000\r\n"
    b"Message-ID: <report-1@alpha.test>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: multipart/mixed; boundary=\"=_outer\"\r\n"
    b"\r\n"
    b"--=_outer\r\n"
    b"Content-Type: text/plain; charset=\"utf-8\"\r\n"
    b"\r\n"
    b"Hello Bob,\r\n"
    b"the report is attached.\r\n"
    b"--=_outer\r\n"
    b"Content-Type: application/pdf; name=\"report.pdf\"\r\n"
    b"Content-Disposition: attachment; filename=\"report.pdf\"\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"JVBERi0xLjQK\r\n"
    b"--=_outer--\r\n"
)
EXPECTED_BODYSTRUCTURE = (
    b'(("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "7BIT" 35 2 NIL NIL NIL NIL)'
    b'("APPLICATION" "PDF" ("NAME" "report.pdf") NIL NIL "BASE64" 12 NIL ("ATTACHMENT" ("FILENAME" "report.pdf")) NIL NIL)'
    b' "MIXED" ("BOUNDARY" "=_outer") NIL NIL NIL)'
)
EXPECTED_ENVELOPE = (
    b'("Mon, 01 Jan 2024 10:00:00 +0000" "Quarterly report" '
    b'(("Alice Example" NIL "alice" "alpha.test")) (("Alice Example" NIL "alice" "alpha.test")) '
    b'(("Alice Example" NIL "alice" "alpha.test")) (("Bob" NIL "bob" "beta.test")) NIL NIL NIL '
    b'"<report-1@alpha.test>")'
)


class Loop:
    """The mail loop in its own thread, as the simulator runs it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro, timeout: float = 10):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn, *args):
        async def wrapper():
            return fn(*args)
        return self.run(wrapper())

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def mail_loop():
    loop = Loop()
    yield loop
    loop.close()


@pytest.fixture
def tls_context(tmp_path: Path) -> ssl.SSLContext:
    """A throwaway self-signed leaf certificate (CA:FALSE, SAN localhost + 127.0.0.1)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_path, key_path)
    ctx.client_cafile = str(cert_path)  # type: ignore[attr-defined]  # handed to the client side below
    return ctx


def client_context(server_ctx: ssl.SSLContext) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=server_ctx.client_cafile)  # type: ignore[attr-defined]
    return ctx


class World:
    def __init__(self, mail_loop: Loop, root: Path, **kw) -> None:
        self.loop = mail_loop
        self.root = root
        self.bus = RecordingBus()
        self.store = mail_loop.call(lambda: MailStore(root))
        self.server = ImapServer(self.store, authenticate, host="127.0.0.1", port=0, publish=self.bus.publish,
                                 node="imap:beta.test", **kw)
        mail_loop.run(self.server.start())
        self.port = self.server.port

    def stop(self) -> None:
        self.loop.run(self.server.stop())

    def imap(self, login: bool = True) -> imaplib.IMAP4:
        m = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        if login:
            m.login(BOB, "secret")
        return m

    def imapclient(self) -> IMAPClient:
        c = IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=10)
        c.login(BOB, "secret")
        return c

    def append(self, data: bytes, folder: str = "INBOX", flags=()) -> tuple[int, int]:
        return self.loop.call(self.store.append, BOB, folder, data, flags)

    def disk(self) -> dict[str, bytes]:
        out = {}
        for dirpath, _, files in os.walk(self.root):
            for name in files:
                p = Path(dirpath) / name
                out[str(p.relative_to(self.root))] = p.read_bytes()
        return out


@pytest.fixture
def world(mail_loop, tmp_path):
    w = World(mail_loop, tmp_path / "mail", default_domain="beta.test")
    yield w
    w.stop()


def raw_session(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    assert s.recv(4096).startswith(b"* OK [CAPABILITY IMAP4rev1")
    return s


def read_until(s: socket.socket, marker: bytes) -> bytes:
    buf = b""
    deadline = time.monotonic() + 10
    while marker not in buf and time.monotonic() < deadline:
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    return buf


# --------------------------------------------------------------------------- happy paths


def test_imaplib_session_end_to_end(world):
    m = world.imap(login=False)
    assert m.capabilities == ("IMAP4REV1", "SASL-IR", "LITERAL+", "ID", "ENABLE", "IDLE", "AUTH=PLAIN", "AUTH=LOGIN")
    typ, data = m.login("bob", "secret")  # default_domain lets a bare user in
    assert typ == "OK" and b"[CAPABILITY IMAP4rev1" in data[0]
    assert m.list('""', '""') == ("OK", [b'(\\Noselect) "/" ""'])
    typ, data = m.list()
    assert typ == "OK" and b'(\\HasNoChildren \\Sent) "/" "Sent"' in data and len(data) == 5
    assert m.lsub()[1][0] == b'() "/" "INBOX"'
    assert m.namespace() == ("OK", [b'(("" "/")) NIL NIL'])
    typ, data = m.xatom("ID", '("name" "pytest")')
    assert typ == "OK" and m.untagged_responses.pop("ID")[0].startswith(b'("name" "Mailflow"')
    # Not m.enable("UTF8=ACCEPT"): imaplib then assumes UTF-8 mode whatever ENABLED says.
    assert m.enable("CONDSTORE")[0] == "OK" and m.untagged_responses.pop("ENABLED") == [b"CONDSTORE"]

    typ, data = m.append("INBOX", "(\\Flagged)", imaplib.Time2Internaldate(1_700_000_000), MULTIPART)
    v = world.loop.call(world.store.uidvalidity, BOB, "INBOX")
    assert data == [f"[APPENDUID {v} 1] APPEND completed".encode()]
    assert m.create("Projects/2024") == ("OK", [b"CREATE completed"])
    assert m.rename("Projects", "Archive")[0] == "OK"
    assert m.subscribe("Archive") [0] == "OK"
    assert b'() "/" "Archive"' in m.lsub('""', "*")[1]
    assert m.unsubscribe("Archive")[0] == "OK"
    typ, data = m.list('""', "%")
    assert b'(\\HasChildren) "/" "Archive"' in data and not any(b"2024" in d for d in data)
    assert m.delete("Archive/2024")[0] == "OK"
    assert m.status("INBOX", "(MESSAGES UNSEEN UIDNEXT UIDVALIDITY RECENT)") == \
        ("OK", [f'"INBOX" (MESSAGES 1 UNSEEN 1 UIDNEXT 2 UIDVALIDITY {v} RECENT 1)'.encode()])

    assert m.select("INBOX") == ("OK", [b"1"])
    assert m.untagged_responses["UIDNEXT"] == [b"2"] and m.untagged_responses["UIDVALIDITY"] == [str(v).encode()]
    typ, data = m.fetch("1", "(ENVELOPE BODYSTRUCTURE)")
    assert data == [b"1 (ENVELOPE " + EXPECTED_ENVELOPE + b" BODYSTRUCTURE " + EXPECTED_BODYSTRUCTURE + b")"]
    typ, data = m.fetch("1", "(BODY.PEEK[]<0.10> BODY.PEEK[HEADER.FIELDS (Subject)] RFC822.SIZE)")
    assert data[0] == (b"1 (BODY[]<0> {10}", b"From: Alic")
    assert data[1] == (b" BODY[HEADER.FIELDS (SUBJECT)] {29}", b"Subject: Quarterly report\r\n\r\n")
    assert data[2] == b" RFC822.SIZE %d)" % len(MULTIPART)
    typ, data = m.fetch("1", "BODY.PEEK[HEADER.FIELDS.NOT (From To Subject Date Message-ID MIME-Version)]")
    assert data[0][1] == b'Content-Type: multipart/mixed; boundary="=_outer"\r\n\r\n'
    typ, data = m.uid("FETCH", "1", "(BODY.PEEK[2.MIME] BODY.PEEK[1])")
    assert data[0][1].startswith(b"Content-Type: application/pdf") and data[1][1] == b"Hello Bob,\r\nthe report is attached."
    typ, data = m.fetch("1", "(RFC822.HEADER)")
    assert data[0][1] == MULTIPART[:MULTIPART.index(b"\r\n\r\n") + 4]

    assert m.search(None, "FROM", "alice", "NOT", "SEEN") == ("OK", [b"1"])
    assert m.uid("SEARCH", None, "OR", "SUBJECT", "nothing", "HEADER", "Message-ID", "report-1") == ("OK", [b"1"])
    assert m.search("UTF-8", "SUBJECT", "Quarterly") == ("OK", [b"1"])
    assert m.search("ISO-8859-5", "ALL")[0] == "NO"
    assert m.response("BADCHARSET")[1] == [b"(UTF-8 US-ASCII)"]

    typ, data = m.store("1", "+FLAGS", "(\\Seen)")      # CONDSTORE is on (ENABLE above): MODSEQ comes too
    assert data == [b"1 (MODSEQ (3) FLAGS (\\Flagged \\Recent \\Seen))"]
    assert m.store("1", "-FLAGS.SILENT", "(\\Flagged)") == ("OK", [b"1 (MODSEQ (4))"])   # RFC 7162 §3.1.3
    typ, data = m.copy("1", "Trash")
    tv = world.loop.call(world.store.uidvalidity, BOB, "Trash")
    assert data == [f"[COPYUID {tv} 1 1] COPY completed".encode()]
    assert m.copy("1", "NoSuchBox")[0] == "NO" and m.response("TRYCREATE")[0] == "TRYCREATE"
    assert m.check()[0] == "OK" and m.noop()[0] == "OK"
    assert m.close()[0] == "OK"
    assert m.logout()[0] == "BYE"
    world.bus.wait_for("imap.logout")
    kinds = world.bus.kinds()
    for kind in ("imap.login", "imap.list", "imap.append", "imap.select", "imap.fetch", "imap.store", "imap.copy",
                 "imap.logout"):
        assert kind in kinds
    login = next(e for e in world.bus.events if e["kind"] == "imap.login")
    assert login["src"] == "mailbox:bob@beta.test" and login["dst"] == "mua:bob@beta.test"
    assert login["data"]["server"] == nodes.imap("beta.test") and isinstance(login["fact"], facts.ImapLogin)


def test_imapclient_parses_envelope_bodystructure_and_moves(world):
    world.append(MULTIPART)
    world.append(b"Subject: second\r\n\r\nsecond\r\n")
    c = world.imapclient()
    assert c.has_capability("MOVE") and c.has_capability("UIDPLUS")
    info = c.select_folder("INBOX")
    assert info[b"EXISTS"] == 2 and info[b"UIDNEXT"] == 3
    data = c.fetch([1], ["ENVELOPE", "BODYSTRUCTURE", "RFC822.SIZE", "INTERNALDATE", "FLAGS"])[1]
    env = data[b"ENVELOPE"]
    assert env.subject == b"Quarterly report" and env.message_id == b"<report-1@alpha.test>"
    assert env.from_[0].name == b"Alice Example" and env.from_[0].mailbox == b"alice" and env.to[0].host == b"beta.test"
    body = data[b"BODYSTRUCTURE"]
    assert body.is_multipart and body[1] == b"MIXED"
    assert body[0][1][:2] == (b"APPLICATION", b"PDF") and body[0][1][8] == (b"ATTACHMENT", (b"FILENAME", b"report.pdf"))
    assert data[b"RFC822.SIZE"] == len(MULTIPART)
    assert c.folder_status("Trash", ["MESSAGES", "UIDNEXT"]) == {b"MESSAGES": 0, b"UIDNEXT": 1}
    c.move([2], "Trash")
    assert c.search(["ALL"]) == [1]
    assert c.folder_status("Trash", ["MESSAGES"])[b"MESSAGES"] == 1
    assert [f[2] for f in c.list_folders()] == ["INBOX", "Drafts", "Junk", "Sent", "Trash"]
    assert c.find_special_folder(b"\\Sent") == "Sent"
    c.set_flags([1], [b"\\Deleted"], silent=True)
    c.uid_expunge([1])
    assert c.search(["ALL"]) == []
    c.logout()


def test_append_with_literal_plus_and_sync_literal_on_the_wire(world):
    s = raw_session(world.port)
    s.sendall(b"a LOGIN bob@beta.test secret\r\n")
    assert b"a OK" in read_until(s, b"a OK")
    msg = b"Subject: raw\r\n\r\nhello\r\n"
    s.sendall(b"b APPEND Drafts (\\Draft) {%d+}\r\n" % len(msg) + msg + b"\r\n")
    reply = read_until(s, b"b OK")
    assert b"+ Ready" not in reply and b"[APPENDUID " in reply
    s.sendall(b"c APPEND Drafts {%d}\r\n" % len(msg))
    assert read_until(s, b"\r\n") == b"+ Ready for literal data\r\n"
    s.sendall(msg + b"\r\n")
    assert b"c OK [APPENDUID " in read_until(s, b"c OK")
    assert world.loop.call(world.store.uids, BOB, "Drafts") == [1, 2]
    s.close()


def test_uidvalidity_and_uids_survive_restart(mail_loop, tmp_path):
    w = World(mail_loop, tmp_path / "mail")
    for i in range(3):
        w.append(b"Subject: %d\r\n\r\nx\r\n" % i)
    m = w.imap()
    m.select()
    v1 = m.untagged_responses["UIDVALIDITY"][0]
    m.store("2", "+FLAGS", "(\\Deleted)")
    m.expunge()
    m.logout()
    w.stop()
    w2 = World(mail_loop, tmp_path / "mail")  # a new MailStore over the same directory
    m = w2.imap()
    m.select()
    assert m.untagged_responses["UIDVALIDITY"][0] == v1
    assert m.untagged_responses["UIDNEXT"] == [b"4"]
    assert m.uid("SEARCH", None, "ALL") == ("OK", [b"1 3"])
    w2.append(b"Subject: new\r\n\r\nx\r\n")
    m.noop()
    assert m.uid("SEARCH", None, "ALL") == ("OK", [b"1 3 4"])  # UID 2 is never reused
    m.logout()
    w2.stop()


# --------------------------------------------------------------------------- two sessions


def test_idle_sees_append_from_another_session_and_mda_notify(world):
    watcher = world.imapclient()
    watcher.select_folder("INBOX")
    watcher.idle()
    other = world.imap()
    other.append("INBOX", None, None, b"Subject: pushed\r\n\r\nhi\r\n")
    started = time.monotonic()
    responses = watcher.idle_check(timeout=5)
    assert (1, b"EXISTS") in responses and time.monotonic() - started < 2
    # a file dropped into new/ by the MDA, which then calls store.notify on the mail loop
    root = world.loop.call(world.store.maildir_path, BOB)
    (root / "tmp" / "mda.1").write_bytes(b"Subject: from the MDA\n\nbody\n")
    os.rename(root / "tmp" / "mda.1", root / "new" / "mda.1")
    world.loop.loop.call_soon_threadsafe(world.store.notify, BOB)
    responses = watcher.idle_check(timeout=5)
    assert (2, b"EXISTS") in responses
    watcher.idle_done()
    world.bus.wait_for("imap.idle")
    assert "imap.idle" in world.bus.kinds()
    assert watcher.search(["SUBJECT", "MDA"]) == [2]
    other.logout()
    watcher.logout()


def test_expunge_is_seen_by_second_session(world):
    for i in range(3):
        world.append(b"Subject: %d\r\n\r\nx\r\n" % i)
    first = world.imapclient()
    first.select_folder("INBOX")
    second = world.imap()
    second.select("INBOX")
    second.store("2", "+FLAGS", "(\\Deleted)")
    second.expunge()
    _, responses = first.noop()
    assert (2, b"EXPUNGE") in responses
    assert first.search(["ALL"]) == [1, 3]  # IMAPClient searches by UID
    first.logout()
    second.logout()


# --------------------------------------------------------------------------- TLS


def test_starttls_with_imaplib(mail_loop, tmp_path, tls_context):
    w = World(mail_loop, tmp_path / "mail", ssl_context=tls_context)
    m = imaplib.IMAP4("localhost", w.port, timeout=10)
    assert "STARTTLS" in m.capabilities
    assert m.starttls(ssl_context=client_context(tls_context))[0] == "OK"
    assert "STARTTLS" not in m.capabilities
    assert m.login(BOB, "secret")[0] == "OK"
    assert m.select()[0] == "OK"
    m.logout()
    login = next(e for e in w.bus.events if e["kind"] == "imap.login")
    assert login["data"]["tls"] is True
    w.stop()


def test_starttls_discards_injected_plaintext(mail_loop, tmp_path, tls_context):
    w = World(mail_loop, tmp_path / "mail", ssl_context=tls_context)
    s = raw_session(w.port)
    s.sendall(b"a STARTTLS\r\nb LOGIN bob@beta.test secret\r\n")
    assert read_until(s, b"a OK") == b"a OK Begin TLS negotiation now\r\n"
    tls = client_context(tls_context).wrap_socket(s, server_hostname="localhost")
    tls.sendall(b"c NOOP\r\n")
    reply = read_until(tls, b"c OK")
    assert reply == b"c OK NOOP completed\r\n"  # no "b OK": the injected LOGIN never ran
    tls.sendall(b"d SELECT INBOX\r\n")
    assert read_until(tls, b"d ").startswith(b"d BAD SELECT is not allowed")
    tls.close()
    w.stop()


def test_implicit_tls(mail_loop, tmp_path, tls_context):
    w = World(mail_loop, tmp_path / "mail", ssl_context=tls_context, implicit_tls=True)
    m = imaplib.IMAP4_SSL("localhost", w.port, ssl_context=client_context(tls_context), timeout=10)
    assert "STARTTLS" not in m.capabilities
    assert m.login(BOB, "secret")[0] == "OK"
    m.logout()
    w.stop()


# --------------------------------------------------------------------------- bad input


def test_wrong_password_is_refused_and_throttled(world):
    """One throttle per client address (Dovecot's 2 s doubling to 15 s, before the check; injected
    time, nobody waits), three failures per connection, and the right password still works."""
    world.server.throttle.use_time(clock := ManualTime())
    keeper = world.imap()
    keeper.select()
    m = world.imap(login=False)
    for _ in range(2):
        with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
            m.login(BOB, "wrong")
    assert keeper.noop()[0] == "OK"  # others keep working meanwhile
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        m.login("nobody@beta.test", "secret")  # an unknown user looks the same
    with pytest.raises((imaplib.IMAP4.abort, OSError)):   # the third failure ended the connection
        m.noop()
    m.shutdown()
    assert clock.waits == [2.0, 4.0]          # held back before the check: 0, 2, 4 s
    m = world.imap(login=False)               # a new connection does not reset the address's count
    for _ in range(50):
        world.server.throttle.failed("127.0.0.1")
    assert m.login(BOB, "secret")[0] == "OK"  # slowed, never locked
    assert clock.waits[-1] == 15.0
    m.logout()
    failed = [e for e in world.bus.events if e["kind"] == "imap.login" and e["status"] is Status.FAILED]
    assert failed and failed[0]["src"] == nodes.OUTSIDE and failed[0]["dst"] == nodes.imap("beta.test")
    assert failed[0]["data"]["peer"] == "127.0.0.1"
    assert [e["data"]["delay"] for e in failed] == [0.0, 2.0, 4.0]
    keeper.logout()


def test_sessions_per_address_are_capped(mail_loop, tmp_path):
    """Beyond the cap a connection gets ``* BYE [UNAVAILABLE]`` instead of a greeting (RFC 5530)."""
    w = World(mail_loop, tmp_path / "mail", cap=SessionCap(2))
    try:
        first, second = raw_session(w.port), raw_session(w.port)
        third = socket.create_connection(("127.0.0.1", w.port), timeout=10)
        assert read_until(third, b"\r\n").startswith(b"* BYE [UNAVAILABLE]")
        assert third.recv(100) == b""
        first.close()
        deadline = time.monotonic() + 10
        while True:           # the slot frees once the server has seen the close
            fourth = socket.create_connection(("127.0.0.1", w.port), timeout=10)
            if read_until(fourth, b"\r\n").startswith(b"* OK") or time.monotonic() > deadline:
                break
            fourth.close()
        assert time.monotonic() <= deadline
        for s in (second, third, fourth):
            s.close()
    finally:
        w.stop()


def test_sasl_plain_with_and_without_initial_response(world):
    c = IMAPClient("127.0.0.1", port=world.port, ssl=False, timeout=10)
    c.plain_login(BOB, "secret")  # SASL-IR is advertised, so IMAPClient sends an initial response
    c.logout()
    m = world.imap(login=False)
    typ, _ = m.authenticate("PLAIN", lambda challenge: b"\0bob@beta.test\0secret")  # waits for "+ "
    assert typ == "OK"
    m.logout()


@pytest.mark.parametrize("payload, expect", [
    (b"x1 SELECT ../bob\r\n", b"x1 NO"),
    (b"x1 SELECT \"../../alpha.test/alice\"\r\n", b"x1 NO"),
    (b"x1 CREATE %\r\n", b"x1 NO"),
    (b"x1 CREATE *\r\n", b"x1 NO"),
    (b"x1 CREATE ../bob\r\n", b"x1 NO"),
    (b"x1 RENAME Sent ../../evil\r\n", b"x1 NO"),
    (b"x1 APPEND ../bob {3+}\r\nabc\r\n", b"x1 NO"),
    (b"x1 APPEND INBOX {40000000}\r\n", b"x1 NO [TOOBIG]"),
    (b"x1 SEARCH " + b"(" * 50 + b"ALL" + b")" * 50 + b"\r\n", b"x1 BAD Parentheses nested too deeply"),
    (b"x1 FETCH 1:: FLAGS\r\n", b"x1 BAD Invalid sequence set"),
    (b"x1 FETCH 0 FLAGS\r\n", b"x1 BAD Invalid sequence number"),
    (b"x1 UID FETCH 1,,3 FLAGS\r\n", b"x1 BAD Invalid sequence set"),
    (b"x1 FETCH 7 FLAGS\r\n", b"x1 BAD Invalid message sequence number"),
    (b"x1 " + b"A" * 70000 + b"\r\n", b"x1 BAD [TOOBIG] Command line too long"),
    (b"x1 LOGIN \"unterminated\r\n", b"x1 BAD"),
])
def test_bad_input_gets_its_error_and_nothing_changes(world, payload, expect):
    world.append(MULTIPART)
    world.append(b"Subject: alice's\r\n\r\nprivate\r\n".replace(b"x", b"x"))
    world.loop.call(world.store.append, "alice@alpha.test", "INBOX", b"Subject: private\r\n\r\nsecret\r\n")
    other = world.imap()
    other.select()
    before = world.disk()
    s = raw_session(world.port)
    s.sendall(b"a LOGIN bob@beta.test secret\r\na2 SELECT INBOX\r\n")
    read_until(s, b"a2 OK")
    s.sendall(payload)
    reply = read_until(s, b"x1 ")
    assert expect in reply, reply[-300:]
    s.sendall(b"z NOOP\r\n")
    assert b"z OK NOOP completed" in read_until(s, b"z OK")  # the session goes on
    assert other.fetch("1", "(FLAGS)")[0] == "OK"  # and so does another one
    assert world.disk() == before
    s.close()
    other.logout()


def test_unterminated_and_oversized_nonsync_literals(world):
    world.loop.call(world.store.uids, BOB, "INBOX")  # the Maildir and its uid list exist
    before = world.disk()
    s = raw_session(world.port)
    s.sendall(b"a LOGIN bob@beta.test secret\r\nb APPEND INBOX {100}\r\n")
    assert b"+ Ready" in read_until(s, b"+ Ready")
    s.sendall(b"only part of it")
    s.close()  # the client gives up half way
    s = raw_session(world.port)
    s.sendall(b"a LOGIN bob@beta.test secret\r\nb APPEND INBOX {40000000+}\r\n")
    reply = read_until(s, b"* BYE")
    assert b"b BAD [TOOBIG]" in reply and b"* BYE" in reply
    assert s.recv(100) == b""  # the server closed this one connection
    s.close()
    m = world.imap()
    assert m.select() == ("OK", [b"0"])
    m.logout()
    assert world.disk() == before


def test_internal_error_closes_only_that_session(world):
    keeper = world.imap()
    keeper.select()
    original = world.store.status

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    world.store.status = broken  # fault injection: the next STATUS hits a bug
    try:
        m = world.imap()
        with pytest.raises((imaplib.IMAP4.abort, OSError)):
            m.status("INBOX", "(MESSAGES)")
        m.shutdown()
    finally:
        world.store.status = original
    assert keeper.noop()[0] == "OK"
    fresh = world.imap()
    assert fresh.status("INBOX", "(MESSAGES)")[0] == "OK"
    fresh.logout()
    world.bus.wait_for("imap.error")
    err = next(e for e in world.bus.events if e["kind"] == "imap.error")
    assert err["status"] is Status.FAILED and err["data"]["error"].startswith("RuntimeError(")
    assert (err["src"], err["dst"], err["data"]["peer"]) == (nodes.imap("beta.test"), nodes.OUTSIDE, "127.0.0.1")
    keeper.logout()


def test_long_pipelined_searches_yield_the_loop_to_a_bystander(world):
    """Review finding 3: SEARCH runs as a job whose steps share a per-turn budget (``JOB_STEPS``,
    ``JOB_SECONDS``), so one client's 200 pipelined body searches do not hold the loop: another
    client's NOOP is answered while they are still being worked through (no timing asserted:
    only the order of the facts)."""
    for n in range(200):
        world.append(b"Subject: m%d\r\n\r\nbody\r\n" % n)
    bystander = world.imap()
    bystander.select()
    busy = raw_session(world.port)
    busy.sendall(b"a LOGIN bob@beta.test secret\r\nb SELECT INBOX\r\n")
    assert b"b OK" in read_until(busy, b"b OK")
    busy.sendall(b"".join(b"z%d SEARCH RETURN (COUNT) TEXT zzz\r\n" % n for n in range(200)))   # ~1 s of work
    seen = read_until(busy, b"z0 OK")
    assert b"z0 OK" in seen                                   # the work has begun
    assert bystander.noop()[0] == "OK"                        # ... and the bystander got its turn
    busy.setblocking(False)
    try:
        while True:
            chunk = busy.recv(1 << 20)
            if not chunk:
                break
            seen += chunk
    except BlockingIOError:
        pass
    assert b"z199 OK" not in seen                             # while the searches were still going
    busy.settimeout(10)
    assert b"z199 OK" in seen + read_until(busy, b"z199 OK")
    busy.close()
    bystander.logout()
