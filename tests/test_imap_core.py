"""Table tests for the sans-IO IMAP core: bytes in, replies and effects out, no loop, no socket."""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path

import pytest

from simulator import nodes
from simulator.facts import Status
from simulator.facts import imap as facts
from simulator.protocols.imap import Authenticate, Close, ImapSession, MaildirMailbox, Publish, Send, StartTls
from simulator.protocols.imap.memory import MemoryMailbox
from simulator.protocols.imap.fetch import parse_fetch_atts
from simulator.protocols.imap.render import parse_address_list, render_envelope
from simulator.protocols.imap.wire import (
    MAX_LINE,
    Atom,
    CommandReader,
    FrameError,
    Framed,
    Literal,
    ParseError,
    format_internaldate,
    format_uid_set,
    parse_command,
    parse_date_time,
    parse_sequence_set,
)
from simulator.store import MailStore
from simulator.world import Account

T0 = 1_700_000_000.0


USERS = {"bob@beta.test": "secret", "alice@alpha.test": "wonder"}


def authenticate(login: str, password: str) -> Account | None:
    if USERS.get(login) != password:
        return None
    user, _, domain = login.partition("@")
    return Account(user, domain)


MULTIPART = (
    b"From: Alice Example <alice@alpha.test>\r\n"
    b"To: Bob <bob@beta.test>, carol@beta.test\r\n"
    b"Cc: Team: dave@beta.test, \"Eve, E.\" <eve@beta.test>;\r\n"
    b"Subject: Quarterly report\r\n"
    b"Date: Mon, 01 Jan 2024 10:00:00 +0000\r\n"
    b"Message-ID: <report-1@alpha.test>\r\n"
    b"In-Reply-To: <earlier@beta.test>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: multipart/mixed; boundary=\"=_outer\"\r\n"
    b"\r\n"
    b"This is a multi-part message in MIME format.\r\n"
    b"--=_outer\r\n"
    b"Content-Type: text/plain; charset=\"utf-8\"\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n"
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
    b'(("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "QUOTED-PRINTABLE" 35 2 NIL NIL NIL NIL)'
    b'("APPLICATION" "PDF" ("NAME" "report.pdf") NIL NIL "BASE64" 12 NIL ("ATTACHMENT" ("FILENAME" "report.pdf")) NIL NIL)'
    b' "MIXED" ("BOUNDARY" "=_outer") NIL NIL NIL)'
)
EXPECTED_BODY = (
    b'(("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "QUOTED-PRINTABLE" 35 2)'
    b'("APPLICATION" "PDF" ("NAME" "report.pdf") NIL NIL "BASE64" 12) "MIXED")'
)
EXPECTED_ENVELOPE = (
    b'("Mon, 01 Jan 2024 10:00:00 +0000" "Quarterly report" '
    b'(("Alice Example" NIL "alice" "alpha.test")) (("Alice Example" NIL "alice" "alpha.test")) '
    b'(("Alice Example" NIL "alice" "alpha.test")) '
    b'(("Bob" NIL "bob" "beta.test")(NIL NIL "carol" "beta.test")) '
    b'((NIL NIL "Team" NIL)(NIL NIL "dave" "beta.test")("Eve, E." NIL "eve" "beta.test")(NIL NIL NIL NIL)) '
    b'NIL "<earlier@beta.test>" "<report-1@alpha.test>")'
)

FORWARDED = (
    b"From: bob@beta.test\r\nTo: alice@alpha.test\r\nSubject: Fwd\r\nMIME-Version: 1.0\r\n"
    b"Content-Type: multipart/mixed; boundary=b1\r\n\r\n"
    b"--b1\r\nContent-Type: text/plain\r\n\r\nsee below\r\n"
    b"--b1\r\nContent-Type: message/rfc822\r\n\r\n"
    b"From: carol@beta.test\r\nSubject: Inner\r\n\r\ninner body\r\n"
    b"--b1--\r\n"
)


class MemoryStore:
    """In-memory mailboxes, one per address, called the way the tests call a MailStore
    (``store.append(address, folder, data)`` -> that address's ``MemoryMailbox.append(folder, data)``)."""

    def __init__(self) -> None:
        self.boxes: dict[str, MemoryMailbox] = {}

    def box(self, address: str) -> MemoryMailbox:
        return self.boxes.setdefault(address, MemoryMailbox(address, clock=lambda: T0))

    def __getattr__(self, name: str):
        def call(address: str, *args, **kw):
            return getattr(self.box(address), name)(*args, **kw)
        return call


def open_mailbox(store, address: str):
    """The mailbox a logged-in session works on (the server opens a MaildirMailbox too)."""
    if isinstance(store, MemoryStore):
        return store.box(address)
    return MaildirMailbox(store, address)


def snapshot(store) -> object:
    """Everything the store holds, to prove that nothing changed (every file, for a Maildir)."""
    if isinstance(store, MailStore):
        return tree(store.root)
    return {address: box.snapshot() for address, box in store.boxes.items()}


class Client:
    """Drives one ImapSession like a client would, collecting what the server sends.

    It also plays the adapter's part in a login: it answers ``Authenticate`` effects (the server
    adds the throttle, tested in test_imap_server.py)."""

    def __init__(self, store, *, opener=open_mailbox, **kw) -> None:
        self.store, self.opener = store, opener
        self.session = ImapSession(node=nodes.imap("beta.test"), **kw)
        self.effects: list = []
        self.greeting = self._sent(self.session.greeting())

    @staticmethod
    def _sent(effects) -> bytes:
        return b"".join(e.data for e in effects if isinstance(e, Send))

    def _answer_logins(self, effects: list) -> list:
        out = list(effects)
        for effect in out:          # grows while we go: a login's answer may hold the next one
            if isinstance(effect, Authenticate):
                account = authenticate(effect.login, effect.password)
                mailbox = self.opener(self.store, account.address) if account is not None else None
                out += self.session.login_result(mailbox)
        return out

    def raw(self, data: bytes) -> bytes:
        self.effects = self._answer_logins(self.session.feed(data))
        return self._sent(self.effects)

    def facts(self) -> list:
        return [e.fact for e in self.effects if isinstance(e, Publish)]

    def cmd(self, line: str | bytes) -> bytes:
        data = line if isinstance(line, bytes) else line.encode()
        return self.raw(data + b"\r\n")

    def login(self, user: str = "bob@beta.test", password: str = "secret") -> bytes:
        reply = self.cmd(f"L1 LOGIN {user} {password}")
        assert b"L1 OK" in reply
        return reply

    def select(self, box: str = "INBOX") -> bytes:
        reply = self.cmd(f"S1 SELECT {box}")
        assert b"S1 OK [READ-WRITE]" in reply, reply
        return reply


@pytest.fixture(params=["maildir", "memory"])
def store(request, tmp_path: Path):
    """Each session test runs on the Maildir store and on the in-memory mailbox."""
    if request.param == "memory":
        return MemoryStore()
    return MailStore(tmp_path / "mail", clock=lambda: T0)


def tree(root: Path) -> dict[str, bytes]:
    """Every file under root with its content, to prove that nothing changed on disk."""
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            p = Path(dirpath) / name
            out[str(p.relative_to(root))] = p.read_bytes()
    return out


# --------------------------------------------------------------------------- parser tables

@pytest.mark.parametrize("raw, tag, name, args", [
    (b"a1 NOOP", "a1", "NOOP", ()),
    (b"a1 noop", "a1", "NOOP", ()),
    (b'a2 LOGIN "bob@beta.test" "pa\\"ss\\\\"', "a2", "LOGIN", (b"bob@beta.test", b'pa"ss\\')),
    (b"a3 uid fetch 1:* (FLAGS)", "a3", "UID FETCH", ("1:*", ["FLAGS"])),
    (b"a4 FETCH 1 (BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.10>)", "a4", "FETCH",
     ("1", ["BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.10>"])),
    (b"a5 LIST \"\" %", "a5", "LIST", (b"", "%")),
    (b"a6 STORE 1 +FLAGS.SILENT (\\Seen $Label1)", "a6", "STORE", ("1", "+FLAGS.SILENT", ["\\Seen", "$Label1"])),
    (b"a7 ID NIL", "a7", "ID", ("NIL",)),
    (b"a8 SEARCH (OR (SEEN) (DELETED))", "a8", "SEARCH", (["OR", ["SEEN"], ["DELETED"]],)),
])
def test_parse_command_table(raw, tag, name, args):
    cmd = parse_command(Framed((raw,)))
    assert (cmd.tag, cmd.name) == (tag, name)
    assert cmd.args == args


@pytest.mark.parametrize("raw, message", [
    (b"", "Missing tag"),
    (b"a1", "Missing command"),
    (b'a1 LOGIN "unterminated', "Unterminated quoted string"),
    (b'a1 LOGIN "bad\\escape" x', "Bad escape"),
    (b"a1 FETCH 1 (FLAGS", "Unbalanced '('"),
    (b"a1 FETCH 1 FLAGS)", "Unbalanced ')'"),
    (b"a1 SEARCH " + b"(" * 40 + b"ALL" + b")" * 40, "nested too deeply"),
    (b"a1 FETCH 1 BODY[HEADER", "Missing ']'"),
    (b"a1 UID", "Missing command after UID"),
])
def test_parse_command_errors(raw, message):
    with pytest.raises(ParseError, match=re.escape(message)):
        parse_command(Framed((raw,)))


def test_literals_are_tokens():
    cmd = parse_command(Framed((b"a1 LOGIN ", Literal(b"bob"), b" ", Literal(b"p w"), b"")))
    assert cmd.args == (b"bob", b"p w")


@pytest.mark.parametrize("text, parsed", [
    ("1", ((1, 1),)),
    ("1:3,5", ((1, 3), (5, 5))),
    ("7:*", ((7, None),)),
    ("*", ((None, None),)),
    ("5:2", ((5, 2),)),
])
def test_sequence_sets(text, parsed):
    assert parse_sequence_set(text) == parsed


@pytest.mark.parametrize("text", ["", "0", "1:", ":3", "1,,2", "a", "1:2:3", "-1", "01", "99999999999", "1 2"])
def test_malformed_sequence_sets(text):
    with pytest.raises(ParseError):
        parse_sequence_set(text)


def test_format_uid_set():
    assert format_uid_set([1, 2, 3, 5, 7, 8]) == "1:3,5,7:8"
    assert format_uid_set([4]) == "4"


def test_reader_frames_literals_and_continuations():
    r = CommandReader()
    r.feed(b"a1 LOGIN {3}\r\n")
    assert r.next() is None and r.continuations == 1
    r.continuations = 0
    r.feed(b"bob {6+}\r\nsecret\r\na2 NOOP\r\n")
    first = r.next()
    assert isinstance(first, Framed)
    assert first.pieces == (b"a1 LOGIN ", Literal(b"bob"), b" ", Literal(b"secret"), b"")
    assert r.continuations == 0  # LITERAL+ needs no "+"
    assert r.next() == Framed((b"a2 NOOP",))
    assert r.next() is None


def test_reader_limits():
    r = CommandReader(max_line=100, max_literal=10)
    r.feed(b"a1 APPEND INBOX {11}\r\n")
    err = r.next()
    assert isinstance(err, FrameError) and err.code == "TOOBIG" and not err.close and err.tag == "a1"
    r.feed(b"a2 APPEND INBOX {11+}\r\n")
    err = r.next()
    assert isinstance(err, FrameError) and err.close
    r = CommandReader(max_line=100)
    r.feed(b"a3 " + b"x" * 200)
    err = r.next()
    assert isinstance(err, FrameError) and err.code == "TOOBIG" and err.tag == "a3"
    r.feed(b"y" * 50 + b"\r\na4 NOOP\r\n")  # the rest of the long line is skipped
    assert r.next() == Framed((b"a4 NOOP",))


def test_fetch_att_parsing():
    atts = parse_fetch_atts(Atom("FAST"))
    assert [a.name for a in atts] == ["FLAGS", "INTERNALDATE", "RFC822.SIZE"]
    (att,) = parse_fetch_atts([Atom("BODY.PEEK[1.2.HEADER.FIELDS.NOT (x-a \"X-B\")]<5.10>")])
    assert att.peek and att.parts == (1, 2) and att.specifier == "HEADER.FIELDS.NOT"
    assert att.section == "1.2.HEADER.FIELDS.NOT (X-A X-B)" and att.partial == (5, 10)
    with pytest.raises(ParseError):
        parse_fetch_atts([Atom("BODY[MIME]")])
    with pytest.raises(ParseError):
        parse_fetch_atts([Atom("BODY[HEADER.FIELDS]")])
    with pytest.raises(ParseError):
        parse_fetch_atts([Atom("NONSENSE")])


def test_dates():
    assert format_internaldate(T0) == "14-Nov-2023 22:13:20 +0000"
    assert format_internaldate(T0 - 13 * 86400)[0] == " "  # space-padded day (RFC 3501 §9)
    assert parse_date_time(" 1-Jan-2024 10:00:00 +0100") == 1704099600.0
    with pytest.raises(ParseError):
        parse_date_time("2024-01-01")


def test_address_parsing_and_envelope():
    assert parse_address_list('"Smith, John" <john@x.test>, plain@y.test') == [
        ("addr", "Smith, John", None, "john", "x.test"), ("addr", None, None, "plain", "y.test")]
    assert parse_address_list("undisclosed-recipients:;") == [("group", "undisclosed-recipients"), ("end",)]
    assert parse_address_list("<@relay.test:user@host.test>") == [("addr", None, "@relay.test", "user", "host.test")]
    env = render_envelope({"from": "a@b.test", "subject": 'say "hi"'})
    assert env == b'(NIL "say \\"hi\\"" ((NIL NIL "a" "b.test")) ((NIL NIL "a" "b.test")) ((NIL NIL "a" "b.test")) NIL NIL NIL NIL NIL)'


# --------------------------------------------------------------------------- session tables

def test_greeting_and_capabilities(store):
    c = Client(store, tls_available=True)
    assert c.greeting.startswith(b"* OK [CAPABILITY IMAP4rev1 SASL-IR LITERAL+ ID ENABLE IDLE STARTTLS AUTH=PLAIN AUTH=LOGIN]")
    assert c.cmd("c1 capability") == (b"* CAPABILITY IMAP4rev1 SASL-IR LITERAL+ ID ENABLE IDLE STARTTLS AUTH=PLAIN "
                                       b"AUTH=LOGIN\r\nc1 OK CAPABILITY completed\r\n")
    reply = c.login()
    assert (b"L1 OK [CAPABILITY IMAP4rev1 SASL-IR LITERAL+ ID ENABLE IDLE NAMESPACE UIDPLUS UNSELECT CHILDREN "
            b"MOVE SPECIAL-USE ESEARCH SORT SORT=DISPLAY ESORT THREAD=ORDEREDSUBJECT THREAD=REFERENCES CONDSTORE QRESYNC "
            b"MULTIAPPEND BINARY] "
            b"Logged in as bob@beta.test\r\n") == reply
    no_tls = Client(store)
    assert b"STARTTLS" not in no_tls.greeting
    assert no_tls.cmd("s STARTTLS") == b"s BAD STARTTLS is not available\r\n"


def test_starttls_discards_pipelined_bytes(store):
    c = Client(store, tls_available=True)
    out = c.raw(b"t1 STARTTLS\r\nt2 LOGIN bob@beta.test secret\r\n")
    assert out == b"t1 OK Begin TLS negotiation now\r\n"
    assert any(isinstance(e, StartTls) for e in c.effects)
    c.session.tls_started()
    assert c.session.state.name == "NOT_AUTHENTICATED"  # the injected LOGIN was never executed
    assert b"STARTTLS" not in c.cmd("t3 CAPABILITY")
    assert c.cmd("t4 STARTTLS") == b"t4 BAD TLS is already active\r\n"


@pytest.mark.parametrize("lines, expect", [
    ([b"a AUTHENTICATE PLAIN " + base64.b64encode(b"\0bob@beta.test\0secret")], b"a OK [CAPABILITY"),
    ([b"a AUTHENTICATE PLAIN", base64.b64encode(b"\0bob@beta.test\0secret")], b"a OK [CAPABILITY"),
    ([b"a AUTHENTICATE PLAIN " + base64.b64encode(b"bob@beta.test\0bob@beta.test\0secret")], b"a OK [CAPABILITY"),
    ([b"a AUTHENTICATE PLAIN " + base64.b64encode(b"\0bob@beta.test\0wrong")], b"a NO [AUTHENTICATIONFAILED]"),
    ([b"a AUTHENTICATE PLAIN " + base64.b64encode(b"alice@alpha.test\0bob@beta.test\0secret")],
     b"a NO [AUTHENTICATIONFAILED]"),
    ([b"a AUTHENTICATE PLAIN", b"*"], b"a BAD AUTHENTICATE cancelled"),
    ([b"a AUTHENTICATE PLAIN", b"!!notbase64"], b"a BAD Invalid base64"),
    ([b"a AUTHENTICATE LOGIN", base64.b64encode(b"bob@beta.test"), base64.b64encode(b"secret")], b"a OK [CAPABILITY"),
    ([b"a AUTHENTICATE LOGIN", b"*"], b"a BAD AUTHENTICATE cancelled"),
    ([b"a AUTHENTICATE CRAM-MD5"], b"a NO Unsupported authentication mechanism"),
    ([b"a LOGIN bob@beta.test wrong"], b"a NO [AUTHENTICATIONFAILED] Invalid credentials"),
    ([b"a LOGIN nobody@beta.test secret"], b"a NO [AUTHENTICATIONFAILED] Invalid credentials"),
    ([b"a LOGIN bob secret"], b"a NO [AUTHENTICATIONFAILED]"),  # no default domain here
    ([b"a LOGIN bob@beta.test"], b"a BAD LOGIN expects 2 arguments"),
    ([b"a SELECT INBOX"], b"a BAD SELECT is not allowed in the not authenticated state"),
    ([b"a FROBNICATE"], b"a BAD Unknown command FROBNICATE"),
])
def test_authentication_table(store, lines, expect):
    c = Client(store)
    out = b""
    for line in lines:
        out += c.cmd(line)
    assert expect in out, out
    if b"AUTHENTICATE PLAIN" in lines[0] and len(lines) > 1:
        assert out.startswith(b"+ \r\n")
    if b"AUTHENTICATE LOGIN" in lines[0]:
        assert out.startswith(b"+ VXNlcm5hbWU6\r\n")


def test_default_domain_allows_bare_user(store):
    c = Client(store, default_domain="beta.test")
    assert b"a OK" in c.cmd("a LOGIN bob secret")


def test_login_is_an_effect_and_the_session_waits_for_its_answer(store):
    s = ImapSession(peer="127.0.0.9", node=nodes.imap("beta.test"), default_domain="beta.test")
    s.greeting()
    effects = s.feed(b"a LOGIN bob nope\r\nb NOOP\r\n")
    assert effects == [Authenticate("bob@beta.test", "nope", "LOGIN")]  # b waits behind the login
    effects = s.login_result(None, delay=2.0)
    sent = b"".join(e.data for e in effects if isinstance(e, Send))
    assert sent == b"a NO [AUTHENTICATIONFAILED] Invalid credentials\r\nb OK NOOP completed\r\n"
    (fact,) = [e.fact for e in effects if isinstance(e, Publish)]
    assert isinstance(fact, facts.ImapLogin) and fact.status is Status.FAILED
    assert (fact.src, fact.dst, fact.peer, fact.delay, fact.login) == (
        nodes.OUTSIDE, nodes.imap("beta.test"), "127.0.0.9", 2.0, "bob@beta.test")
    (request,) = s.feed(b"c AUTHENTICATE PLAIN " + base64.b64encode(b"\0bob\0secret") + b"\r\n")
    assert request == Authenticate("bob@beta.test", "secret", "AUTHENTICATE PLAIN")
    effects = s.login_result(open_mailbox(store, "bob@beta.test"))
    assert s.state.name == "AUTHENTICATED"
    (fact,) = [e.fact for e in effects if isinstance(e, Publish)]
    assert (fact.src, fact.dst, fact.server, fact.status) == (
        nodes.mailbox("bob@beta.test"), nodes.mua("bob@beta.test"), nodes.imap("beta.test"), Status.OK)


def test_select_list_status_namespace_id_enable(store):
    c = Client(store)
    c.login()
    assert c.cmd('l LIST "" ""') == b'* LIST (\\Noselect) "/" ""\r\nl OK LIST completed\r\n'
    assert c.cmd('l LIST "" "*"') == (
        b'* LIST (\\HasNoChildren) "/" "INBOX"\r\n'
        b'* LIST (\\HasNoChildren \\Drafts) "/" "Drafts"\r\n'
        b'* LIST (\\HasNoChildren \\Junk) "/" "Junk"\r\n'
        b'* LIST (\\HasNoChildren \\Sent) "/" "Sent"\r\n'
        b'* LIST (\\HasNoChildren \\Trash) "/" "Trash"\r\n'
        b"l OK LIST completed\r\n")
    assert c.cmd('l LIST "" inbox') == b'* LIST (\\HasNoChildren) "/" "INBOX"\r\nl OK LIST completed\r\n'
    assert c.cmd("n NAMESPACE") == b'* NAMESPACE (("" "/")) NIL NIL\r\nn OK NAMESPACE completed\r\n'
    assert c.cmd('i ID ("name" "test")').startswith(b'* ID ("name" "Mailflow"')
    assert c.cmd("e ENABLE UTF8=ACCEPT CONDSTORE") == b"* ENABLED CONDSTORE\r\ne OK ENABLE completed\r\n"
    st = c.cmd("s STATUS INBOX (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN)")
    assert st == b'* STATUS "INBOX" (MESSAGES 0 RECENT 0 UIDNEXT 1 UIDVALIDITY 1700000000 UNSEEN 0)\r\ns OK STATUS completed\r\n'
    assert c.cmd("s STATUS INBOX (BOGUS)") == b"s BAD Unknown STATUS item BOGUS\r\n"
    assert c.cmd("s STATUS Nope (MESSAGES)").startswith(b"s NO [NONEXISTENT]")
    assert c.cmd("S1 SELECT INBOX") == (
        b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded)\r\n"
        b"* 0 EXISTS\r\n* 0 RECENT\r\n"
        b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded \\*)] Permanent flags\r\n"
        b"* OK [UIDVALIDITY 1700000000] UIDs valid\r\n"
        b"* OK [UIDNEXT 1] Predicted next UID\r\n"
        b"* OK [HIGHESTMODSEQ 1] Highest\r\n"
        b"S1 OK [READ-WRITE] SELECT completed\r\n")
    assert c.cmd("e ENABLE X") == b"e BAD ENABLE is not allowed in the selected state\r\n"
    assert c.cmd("f UID FETCH 1:* (FLAGS)") == b"f OK FETCH completed\r\n"  # empty mailbox: OK, no data
    assert c.cmd("x EXAMINE Nope").startswith(b"x NO [NONEXISTENT]")
    assert c.session.state.name == "AUTHENTICATED"  # a failed SELECT leaves nothing selected


def _loaded(store: MailStore, *messages: bytes, flags=()) -> Client:
    for m in messages:
        store.append("bob@beta.test", "INBOX", m, flags)
    c = Client(store)
    c.login()
    c.select()
    return c


def test_fetch_envelope_bodystructure_exact(store):
    c = _loaded(store, MULTIPART)
    out = c.cmd("f FETCH 1 (ENVELOPE BODYSTRUCTURE BODY)")
    assert out == (b"* 1 FETCH (ENVELOPE " + EXPECTED_ENVELOPE + b" BODYSTRUCTURE " + EXPECTED_BODYSTRUCTURE
                   + b" BODY " + EXPECTED_BODY + b")\r\nf OK FETCH completed\r\n")


def test_fetch_sections_and_partials(store):
    c = _loaded(store, MULTIPART, FORWARDED)
    size = len(MULTIPART)
    out = c.cmd("f FETCH 1 (RFC822.SIZE BODY.PEEK[]<0.10>)")
    assert out == b"* 1 FETCH (RFC822.SIZE %d BODY[]<0> {10}\r\nFrom: Alic)\r\nf OK FETCH completed\r\n" % size
    out = c.cmd("f FETCH 1 BODY.PEEK[]<%d.100>" % (size - 5))
    assert out == b"* 1 FETCH (BODY[]<%d> {5}\r\nr--\r\n)\r\nf OK FETCH completed\r\n" % (size - 5)
    out = c.cmd("f FETCH 1 BODY.PEEK[HEADER.FIELDS (subject FROM)]")
    assert out == (b"* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT FROM)] {69}\r\n"
                   b"From: Alice Example <alice@alpha.test>\r\nSubject: Quarterly report\r\n\r\n)\r\n"
                   b"f OK FETCH completed\r\n")
    out = c.cmd("f FETCH 1 BODY.PEEK[HEADER.FIELDS.NOT (From To Cc Subject Date Message-ID In-Reply-To)]")
    assert out == (b"* 1 FETCH (BODY[HEADER.FIELDS.NOT (FROM TO CC SUBJECT DATE MESSAGE-ID IN-REPLY-TO)] {72}\r\n"
                   b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"=_outer\"\r\n\r\n)\r\n"
                   b"f OK FETCH completed\r\n")
    out = c.cmd("f FETCH 1 (BODY.PEEK[1] BODY.PEEK[2.MIME] BODY.PEEK[3])")
    assert out == (b"* 1 FETCH (BODY[1] {35}\r\nHello Bob,\r\nthe report is attached. BODY[2.MIME] {143}\r\n"
                   b"Content-Type: application/pdf; name=\"report.pdf\"\r\n"
                   b"Content-Disposition: attachment; filename=\"report.pdf\"\r\n"
                   b"Content-Transfer-Encoding: base64\r\n\r\n BODY[3] NIL)\r\nf OK FETCH completed\r\n")
    out = c.cmd("f FETCH 1 BODY.PEEK[TEXT]<0.20>")
    assert out == b"* 1 FETCH (BODY[TEXT]<0> {20}\r\nThis is a multi-part)\r\nf OK FETCH completed\r\n"
    # message/rfc822 inside: 2.HEADER, 2.TEXT and 2.1 address the enclosed message
    out = c.cmd("f FETCH 2 (BODY.PEEK[2.HEADER] BODY.PEEK[2.TEXT] BODY.PEEK[2.1] BODYSTRUCTURE)")
    assert b"BODY[2.HEADER] {41}\r\nFrom: carol@beta.test\r\nSubject: Inner\r\n\r\n" in out
    assert b"BODY[2.TEXT] {10}\r\ninner body BODY" in out
    assert b"BODY[2.1] {10}\r\ninner body BODYSTRUCTURE" in out
    assert (b'("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 51 (NIL "Inner" ((NIL NIL "carol" "beta.test")) '
            b'((NIL NIL "carol" "beta.test")) ((NIL NIL "carol" "beta.test")) NIL NIL NIL NIL NIL) '
            b'("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 10 1 NIL NIL NIL NIL) 4 NIL NIL NIL NIL)') in out
    # RFC822.* items; RFC822.HEADER does not set \Seen, RFC822.TEXT does
    out = c.cmd("f FETCH 2 RFC822.HEADER")
    assert out.startswith(b"* 2 FETCH (RFC822.HEADER {122}\r\nFrom: bob@beta.test\r\n") and b"FLAGS" not in out
    out = c.cmd("f FETCH 2 RFC822.TEXT")
    assert b"RFC822.TEXT {" in out and b"FLAGS (\\Recent \\Seen)" in out
    out = c.cmd("f FETCH 2 (RFC822 UID)")
    assert out.startswith(b"* 2 FETCH (RFC822 {%d}\r\n" % len(FORWARDED)) and out.endswith(b" UID 2)\r\nf OK FETCH completed\r\n")


def test_fetch_body_sets_seen_peek_does_not(store):
    c = _loaded(store, MULTIPART)
    c.cmd("f FETCH 1 BODY.PEEK[]")
    assert store.message_info("bob@beta.test", "INBOX", 1).flags == frozenset()
    out = c.cmd("f UID FETCH 1 BODY[TEXT]<0.4>")
    assert out == b"* 1 FETCH (UID 1 BODY[TEXT]<0> {4}\r\nThis FLAGS (\\Recent \\Seen))\r\nf OK FETCH completed\r\n"
    assert store.message_info("bob@beta.test", "INBOX", 1).flags == frozenset({"\\Seen"})


def test_fetch_macros_and_uid(store):
    c = _loaded(store, MULTIPART)
    out = c.cmd("f FETCH 1 ALL")
    assert re.match(rb'\* 1 FETCH \(FLAGS \(\\Recent\) INTERNALDATE "14-Nov-2023 22:13:20 \+0000" RFC822.SIZE \d+ ENVELOPE \(', out)
    out = c.cmd("f FETCH 1 FULL")
    assert b" BODY ((" in out
    assert c.cmd("f UID FETCH 1 FLAGS") == b"* 1 FETCH (UID 1 FLAGS (\\Recent))\r\nf OK FETCH completed\r\n"
    assert c.cmd("f UID FETCH 99:* FLAGS") == b"* 1 FETCH (UID 1 FLAGS (\\Recent))\r\nf OK FETCH completed\r\n"


@pytest.mark.parametrize("line, reply", [
    ("f FETCH 0 FLAGS", b"f BAD Invalid sequence number 0"),
    ("f FETCH 1:: FLAGS", b"f BAD Invalid sequence set"),
    ("f FETCH 1,,2 FLAGS", b"f BAD Invalid sequence set"),
    ("f FETCH x FLAGS", b"f BAD Invalid sequence set"),
    ("f FETCH 5 FLAGS", b"f BAD Invalid message sequence number"),
    ("f FETCH 1 (FLAGS", b"f BAD Unbalanced '('"),
    ("f FETCH 1 BOGUS", b"f BAD Unknown fetch attribute"),
    ("f STORE 1 FLAGZ (\\Seen)", b"f BAD Unknown STORE item"),
    ("f STORE 1 +FLAGS (\\Bogus)", b"f BAD Invalid flag"),
    ("f SEARCH BOGUS", b"f BAD Unknown search key"),
    ("f SEARCH SINCE 2024-01-01", b"f BAD Invalid date"),
    ("f COPY 1", b"f BAD COPY expects 2 arguments"),
])
def test_selected_bad_syntax_table(store, line, reply):
    c = _loaded(store, MULTIPART)
    before = snapshot(store)
    assert c.cmd(line).startswith(reply)
    assert c.cmd("n NOOP").endswith(b"n OK NOOP completed\r\n")  # the session goes on
    assert snapshot(store) == before


def test_search_table(store):
    msgs = [
        b"From: alice@alpha.test\r\nTo: bob@beta.test\r\nSubject: Lunch plans\r\nDate: Mon, 01 Jan 2024 10:00:00 +0000\r\n\r\nPizza?\r\n",
        b"From: carol@beta.test\r\nTo: bob@beta.test\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\nX-Tag: blue\r\nDate: Tue, 02 Jan 2024 10:00:00 +0000\r\n\r\nHallo aus Berlin\r\n",
        b"From: alice@alpha.test\r\nTo: bob@beta.test\r\nSubject: Report\r\nDate: Wed, 03 Jan 2024 10:00:00 +0000\r\n\r\n" + b"x" * 500 + b"\r\n",
    ]
    c = _loaded(store, *msgs)
    c.cmd("s STORE 1 +FLAGS (\\Seen)")
    c.cmd("s STORE 3 +FLAGS (\\Flagged $Work)")
    table = [
        ("SEARCH ALL", "1 2 3"),
        ("SEARCH UNSEEN", "2 3"),
        ("SEARCH SEEN", "1"),
        ("SEARCH FROM alice", "1 3"),
        ("SEARCH NOT FROM alice", "2"),
        ("SEARCH OR FLAGGED SEEN", "1 3"),
        ("SEARCH FROM alice UNSEEN", "3"),
        ("SEARCH SUBJECT lunch", "1"),
        ("SEARCH HEADER X-Tag blue", "2"),
        ('SEARCH HEADER X-Tag ""', "2"),
        ("SEARCH BODY berlin", "2"),
        ("SEARCH TEXT pizza", "1"),
        ("SEARCH LARGER 300", "3"),
        ("SEARCH SMALLER 300", "1 2"),
        ("SEARCH KEYWORD $Work", "3"),
        ("SEARCH UNKEYWORD $Work", "1 2"),
        ("SEARCH SENTSINCE 2-Jan-2024", "2 3"),
        ("SEARCH SENTBEFORE 2-Jan-2024", "1"),
        ("SEARCH SENTON 3-Jan-2024", "3"),
        ("SEARCH SINCE 14-Nov-2023", "1 2 3"),
        ("SEARCH BEFORE 14-Nov-2023", ""),
        ("SEARCH ON 14-Nov-2023", "1 2 3"),
        ("SEARCH 2:*", "2 3"),
        ("SEARCH UID 1,3", "1 3"),
        ("SEARCH (OR 1 2) NOT SEEN", "2"),
        ("SEARCH RECENT", "1 2 3"),
        ("SEARCH NEW", "2 3"),
        ("SEARCH OLD", ""),
        ("SEARCH DELETED", ""),
        ("SEARCH UNDELETED UNANSWERED UNDRAFT", "1 2 3"),
        ("UID SEARCH SUBJECT report", "3"),
        ("SEARCH CHARSET UTF-8 SUBJECT Grüße", "2"),
        ("SEARCH CHARSET US-ASCII FROM carol", "2"),
    ]
    for query, hits in table:
        out = c.cmd(("s " + query).encode())
        assert out == f"* SEARCH{' ' if hits else ''}{hits}\r\ns OK SEARCH completed\r\n".encode(), query
    out = c.raw(b"s SEARCH CHARSET UTF-8 SUBJECT {6+}\r\nGr\xc3\xbc\xc3\x9f\r\n")
    assert out == b"* SEARCH 2\r\ns OK SEARCH completed\r\n"
    assert c.cmd("s SEARCH CHARSET KOI8-R FROM x") == b"s NO [BADCHARSET (UTF-8 US-ASCII)] Unsupported charset\r\n"


def test_store_flags_and_silent(store):
    c = _loaded(store, MULTIPART, MULTIPART)
    assert c.cmd("s STORE 1 +FLAGS (\\Seen \\Flagged)") == \
        b"* 1 FETCH (FLAGS (\\Flagged \\Recent \\Seen))\r\ns OK STORE completed\r\n"
    assert c.cmd("s STORE 1 -FLAGS.SILENT (\\Flagged)") == b"s OK STORE completed\r\n"
    assert c.cmd("s UID STORE 1:2 FLAGS (\\Answered)") == (
        b"* 1 FETCH (UID 1 FLAGS (\\Answered \\Recent))\r\n* 2 FETCH (UID 2 FLAGS (\\Answered \\Recent))\r\n"
        b"s OK STORE completed\r\n")
    out = c.cmd("s STORE 2 +FLAGS MyLabel")
    assert out == (b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded MyLabel)\r\n"
                   b"* 2 FETCH (FLAGS (\\Answered \\Recent MyLabel))\r\ns OK STORE completed\r\n")
    info = store.message_info("bob@beta.test", "INBOX", 2)
    assert info.flags == frozenset({"\\Answered", "MyLabel"})
    if isinstance(store, MailStore):
        assert info.path.name.endswith(":2,R")


def test_copy_move_trycreate_expunge(store):
    c = _loaded(store, MULTIPART, MULTIPART, MULTIPART)
    trash_v = store.uidvalidity("bob@beta.test", "Trash")
    assert c.cmd("c COPY 1:2 Nope") == b"c NO [TRYCREATE] No such mailbox\r\n"
    assert c.cmd("c COPY 1:2 Trash") == f"c OK [COPYUID {trash_v} 1:2 1:2] COPY completed\r\n".encode()
    assert c.cmd("m UID MOVE 2 Trash") == (f"* OK [COPYUID {trash_v} 2 3] Moved\r\n* 2 EXPUNGE\r\n".encode()
                                           + b"m OK MOVE completed\r\n")
    assert store.uids("bob@beta.test", "Trash") == [1, 2, 3]
    assert c.cmd("x STORE 1 +FLAGS.SILENT (\\Deleted)") == b"x OK STORE completed\r\n"
    assert c.cmd("x EXPUNGE") == b"* 1 EXPUNGE\r\nx OK EXPUNGE completed\r\n"
    assert store.uids("bob@beta.test", "INBOX") == [3]
    c.cmd("x STORE 1 +FLAGS.SILENT (\\Deleted)")
    assert c.cmd("x UID EXPUNGE 1:2") == b"x OK EXPUNGE completed\r\n"  # UID 3 is not in the set
    assert c.cmd("x UID EXPUNGE 3") == b"* 1 EXPUNGE\r\nx OK EXPUNGE completed\r\n"
    assert c.cmd("u UNSELECT") == b"u OK UNSELECT completed\r\n"
    assert c.cmd("u FETCH 1 FLAGS") == b"u BAD FETCH is not allowed in the authenticated state\r\n"


def test_close_expunges_silently_examine_is_read_only(store):
    c = _loaded(store, MULTIPART, MULTIPART)
    c.cmd("s STORE 1 +FLAGS.SILENT (\\Deleted)")
    assert c.cmd("c CLOSE") == b"c OK CLOSE completed\r\n"
    assert store.uids("bob@beta.test", "INBOX") == [2]
    out = c.cmd("e EXAMINE INBOX")
    assert b"[PERMANENTFLAGS ()]" in out and out.endswith(b"e OK [READ-ONLY] EXAMINE completed\r\n")
    assert c.cmd("s STORE 1 +FLAGS (\\Seen)") == b"s NO [READ-ONLY] Mailbox is read-only\r\n"
    c.cmd("f FETCH 1 BODY[]")
    assert store.message_info("bob@beta.test", "INBOX", 2).flags == frozenset()  # EXAMINE never sets \Seen
    assert c.cmd("x EXPUNGE") == b"x NO [READ-ONLY] Mailbox is read-only\r\n"


def test_append_sync_and_nonsync_literals(store):
    c = Client(store)
    c.login()
    msg = b"Subject: appended\r\n\r\nhi\r\n"
    out = c.raw(b'a APPEND Sent (\\Seen) " 5-Mar-2024 12:00:00 +0000" {%d}\r\n' % len(msg))
    assert out == b"+ Ready for literal data\r\n"
    v = store.uidvalidity("bob@beta.test", "Sent")
    assert c.raw(msg + b"\r\n") == f"a OK [APPENDUID {v} 1] APPEND completed\r\n".encode()
    out = c.raw(b"b APPEND Drafts {%d+}\r\n" % len(msg) + msg + b"\r\n")
    assert out.startswith(b"b OK [APPENDUID ") and b"+ Ready" not in out
    info = store.message_info("bob@beta.test", "Sent", 1)
    assert info.flags == frozenset({"\\Seen"}) and format_internaldate(info.internaldate) == " 5-Mar-2024 12:00:00 +0000"
    assert store.read_message("bob@beta.test", "Sent", 1) == msg
    assert c.raw(b"t APPEND Missing {3+}\r\nabc\r\n") == b"t NO [TRYCREATE] No such mailbox\r\n"
    assert c.raw(b"t APPEND Sent (\\Bogus) {3+}\r\nabc\r\n").startswith(b"t BAD Invalid flag")
    assert c.raw(b"t APPEND Sent (\\Seen) \"yesterday\" {3+}\r\nabc\r\n").startswith(b"t BAD Invalid date-time")


def test_oversized_literals(store):
    c = Client(store)
    c.login()
    c.session.reader.max_literal = 100
    before = snapshot(store)
    assert c.raw(b"a APPEND INBOX {101}\r\n") == b"a NO [TOOBIG] Literal too big (limit 100 octets)\r\n"
    assert c.cmd("n NOOP") == b"n OK NOOP completed\r\n"
    out = c.raw(b"b APPEND INBOX {101+}\r\n" + b"x" * 101)
    assert out == b"b BAD [TOOBIG] Literal too big (limit 100 octets)\r\n* BYE Too much data; closing the connection\r\n"
    assert isinstance(c.effects[-1], Close)
    assert snapshot(store) == before


def test_overlong_line_and_unterminated_literal(store):
    c = Client(store)
    c.login()
    out = c.raw(b"a " + b"A" * (MAX_LINE + 10))
    assert out == b"a BAD [TOOBIG] Command line too long (limit 65536 octets)\r\n"
    assert c.raw(b"B" * 10 + b"\r\nn NOOP\r\n") == b"n OK NOOP completed\r\n"
    before = snapshot(store)
    assert c.raw(b"u APPEND INBOX {50}\r\n") == b"+ Ready for literal data\r\n"
    assert c.raw(b"only a few octets") == b""  # the server keeps waiting for the rest
    c.session.connection_lost()
    assert snapshot(store) == before


def test_mailbox_management(store):
    c = Client(store)
    c.login()
    assert c.cmd("c CREATE Projects/2024/") == b"c OK CREATE completed\r\n"
    assert c.cmd("c CREATE Projects").startswith(b"c NO [ALREADYEXISTS]")
    assert c.cmd("c CREATE &AMQ-rger") == b"c OK CREATE completed\r\n"  # modified UTF-7 "Ärger"
    if isinstance(store, MailStore):
        assert (store.maildir_path("bob@beta.test") / ".&AMQ-rger").is_dir()
    assert c.cmd("c CREATE &Jjo-bad&-") .startswith(b"c OK")
    assert c.cmd("c CREATE &AGE-").startswith(b"c NO Invalid mailbox name")  # non-canonical ("a" encoded)
    out = c.cmd('l LIST "" %')
    assert b'* LIST (\\HasChildren) "/" "Projects"\r\n' in out and b'"Projects/2024"' not in out
    assert b'* LIST (\\HasNoChildren) "/" "&AMQ-rger"\r\n' in out
    out = c.cmd('l LIST "Projects/" *')
    assert out == b'* LIST (\\HasNoChildren) "/" "Projects/2024"\r\nl OK LIST completed\r\n'
    assert c.cmd("r RENAME Projects Archive") == b"r OK RENAME completed\r\n"
    out = c.cmd('l LIST "" Archive*')
    assert b'"Archive"' in out and b'"Archive/2024"' in out
    assert c.cmd("d DELETE Archive").startswith(b"d NO mailbox has children")
    assert c.cmd("d DELETE Archive/2024") == b"d OK DELETE completed\r\n"
    assert c.cmd("d DELETE INBOX") == b"d NO INBOX cannot be deleted\r\n"
    assert c.cmd("d DELETE Nope").startswith(b"d NO [NONEXISTENT]")
    assert c.cmd("s SUBSCRIBE Archive") == b"s OK SUBSCRIBE completed\r\n"
    assert c.cmd('l LSUB "" *') == (b'* LSUB () "/" "INBOX"\r\n* LSUB () "/" "Archive"\r\n* LSUB () "/" "Drafts"\r\n'
                                     b'* LSUB () "/" "Junk"\r\n* LSUB () "/" "Sent"\r\n* LSUB () "/" "Trash"\r\n'
                                     b"l OK LSUB completed\r\n")
    assert c.cmd("u UNSUBSCRIBE Archive") == b"u OK UNSUBSCRIBE completed\r\n"
    assert b'"Archive"' not in c.cmd('l LSUB "" *')
    assert c.cmd("s SUBSCRIBE Nope").startswith(b"s NO [NONEXISTENT]")


@pytest.mark.parametrize("name", ["../bob", "..", ".hidden", "%", "*", "a/../../x", "a//b", "/etc",
                                  '"a\\\\b"', "Trash/..", '"tab\there"'])
def test_traversal_and_wildcard_names_are_refused(store, name):
    c = Client(store)
    c.login()
    before = snapshot(store)
    for verb in ("CREATE {}", "SELECT {}", "DELETE {}", "RENAME INBOX {}", "STATUS {} (MESSAGES)",
                 "SUBSCRIBE {}", "APPEND {} {{3+}}\r\nabc"):
        out = c.cmd("t " + verb.format(name))
        assert re.match(rb"t (NO|BAD) ", out), (verb, out)
    assert snapshot(store) == before
    assert c.cmd("n NOOP") == b"n OK NOOP completed\r\n"


def test_other_users_mailbox_is_unreachable(store):
    store.append("alice@alpha.test", "INBOX", b"Subject: private\r\n\r\nsecret\r\n")
    c = Client(store)
    c.login()
    for name in ("../../alpha.test/alice", "alice@alpha.test", "~alice", "/alpha.test/alice"):
        assert re.match(rb"x (NO|BAD) ", c.cmd(f'x SELECT "{name}"')), name
    assert b"private" not in c.cmd('l LIST "" *')


def test_updates_from_other_sessions(store):
    a = _loaded(store, MULTIPART, MULTIPART)
    b = Client(store)
    b.login()
    b.select()
    # b expunges; a hears it at its next NOOP, but never during FETCH/STORE/SEARCH
    b.cmd("s STORE 1 +FLAGS.SILENT (\\Deleted)")
    b.cmd("x EXPUNGE")
    out = a.cmd("f FETCH 2 FLAGS")
    assert b"EXPUNGE" not in out and out.endswith(b"f OK FETCH completed\r\n")
    out = a.cmd("s SEARCH ALL")
    assert b"EXPUNGE" not in out
    assert a.cmd("n NOOP") == b"* 1 EXPUNGE\r\nn OK NOOP completed\r\n"
    # a new message: EXISTS and RECENT; \Recent only for the first session that sees it
    store.append("bob@beta.test", "INBOX", b"Subject: new\r\n\r\nx\r\n")
    assert a.cmd("n NOOP") == b"* 2 EXISTS\r\n* 2 RECENT\r\nn OK NOOP completed\r\n"  # UIDs 2 and 3
    assert b.cmd("n NOOP") == b"* 2 EXISTS\r\n* 0 RECENT\r\nn OK NOOP completed\r\n"
    # flags changed elsewhere arrive as untagged FETCH
    b.cmd("s STORE 2 +FLAGS.SILENT (\\Flagged)")
    assert a.cmd("n NOOP") == b"* 2 FETCH (UID 3 FLAGS (\\Flagged \\Recent))\r\nn OK NOOP completed\r\n"


def test_idle_pushes_and_done(store):
    woke = []
    c = Client(store, wakeup=lambda: woke.append(1))
    c.login()
    c.select()
    assert c.cmd("i IDLE") == b"+ idling\r\n"
    assert c.session.poll() == []
    store.append("bob@beta.test", "INBOX", b"Subject: pushed\r\n\r\nx\r\n")
    assert woke
    pushed = c.session.poll()
    assert pushed[0] == Send(b"* 1 EXISTS\r\n* 1 RECENT\r\n")
    (fact,) = [e.fact for e in pushed if isinstance(e, Publish)]
    assert isinstance(fact, facts.ImapIdle) and fact.updates == ("1 EXISTS", "1 RECENT")
    assert c.cmd("DONE") == b"i OK IDLE terminated\r\n"
    assert c.cmd("i IDLE") == b"+ idling\r\n"
    assert c.cmd("NOTDONE") == b"i BAD Expected DONE\r\n"
    assert c.raw(b"i IDLE\r\nDONE\r\nn NOOP\r\n") == b"+ idling\r\ni OK IDLE terminated\r\nn OK NOOP completed\r\n"


def test_pipelined_commands_answer_in_order(store):
    c = Client(store)
    out = c.raw(b"a LOGIN bob@beta.test secret\r\nb ENABLE UTF8=ACCEPT\r\nc LIST \"\" \"\"\r\nd LOGOUT\r\n")
    tags = [line.split(b" ")[0] for line in out.split(b"\r\n") if line and not line.startswith(b"*")]
    assert tags == [b"a", b"b", b"c", b"d"]
    assert out.endswith(b"* BYE Logging out\r\nd OK LOGOUT completed\r\n")
    assert isinstance(c.effects[-1], Close)


def test_deleted_selected_folder_ends_other_session(store):
    store.create_folder("bob@beta.test", "Temp")
    a = Client(store)
    a.login()
    a.select("Temp")
    b = Client(store)
    b.login()
    assert b.cmd("d DELETE Temp") == b"d OK DELETE completed\r\n"
    out = a.cmd("n NOOP")
    assert out.startswith(b"* BYE Selected mailbox was deleted")
    assert isinstance(a.effects[-1], Close)


def test_facts_carry_the_transcript_and_data(store):
    c = Client(store)
    c.cmd("a LOGIN bob@beta.test secret")
    (fact,) = c.facts()
    assert isinstance(fact, facts.ImapLogin) and fact.status is Status.OK
    assert fact.data()["login"] == "bob@beta.test" and fact.data()["tls"] is False
    assert fact.transcript[0] == ("C", "a LOGIN bob@beta.test secret")
    c.select()
    (fact,) = c.facts()
    assert isinstance(fact, facts.ImapSelect)
    assert (fact.command, fact.folder, fact.exists, fact.readonly) == ("SELECT", "INBOX", 0, False)
    store.append("bob@beta.test", "INBOX", MULTIPART)
    c.cmd("n NOOP")
    c.cmd("f FETCH 1 BODY[]")
    (fact,) = c.facts()
    assert isinstance(fact, facts.ImapFetch)
    assert (fact.command, fact.count, fact.bodies, fact.uids, fact.items) == ("FETCH", 1, 1, (1,), ("BODY[]",))
    assert fact.src == nodes.mailbox("bob@beta.test") and fact.folder == "INBOX"
    assert ("…", str(MULTIPART.count(b"\r\n") + 2 - 20)) in fact.transcript    # the cut, as a count
    c.cmd("s STORE 1 +FLAGS (\\Flagged)")
    (fact,) = c.facts()
    assert (fact.command, fact.item, fact.flags, fact.mode, fact.count) == ("STORE", "+FLAGS", ("\\Flagged",), "+", 1)
