"""The sans-IO POP3 session: lines in -> replies and effects out, no loop, no socket."""
from __future__ import annotations

import base64
import collections

import pytest

from simulator.protocols.pop3 import (
    Abandoned,
    Authenticate,
    Close,
    Deleted,
    DropMessage,
    Listed,
    LoggedIn,
    LoginRefused,
    MaildropError,
    Pop3Session,
    Refusal,
    Reply,
    Retrieved,
    StartTls,
    State,
    Updated,
)
from simulator.protocols.pop3.sasl import Challenge, Credentials, Failed, SaslExchange

UIDVALIDITY = 0x5F00AB12
MSG1 = (b"From: alice@alpha.test\r\nTo: bob@beta.test\r\nSubject: Hello\r\n\r\n"
        b"Hi Bob,\r\n.a line that starts with a dot\r\n..two dots\r\n.\r\nBye\r\n")
MSG2 = b"Subject: long\r\n\r\n" + b"".join(b"line %d\r\n" % i for i in range(1, 31))
MSG3 = b"Subject: third\r\n\r\nshort\r\n"
S1, S2, S3 = len(MSG1), len(MSG2), len(MSG3)
TOTAL = S1 + S2 + S3
PASSWORD = "s3cret pass"   # with a space: PASS takes the rest of the line (RFC 1939 §7)
CAPA = ["CAPA", "TOP", "UIDL", "USER", "SASL PLAIN LOGIN", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"]


class MemoryMaildrop:
    """An in-memory Maildrop: numbered messages, UIDL like the server's, deletions recorded."""

    def __init__(self, messages: dict[int, bytes]) -> None:
        self.data = dict(messages)
        self.deletions: list[list[int]] = []
        self.fail_delete = False

    def messages(self) -> list[DropMessage]:
        return [DropMessage(uid, len(body), f"{uid:08X}{UIDVALIDITY:08X}") for uid, body in sorted(self.data.items())]

    def read(self, message: DropMessage) -> bytes:
        try:
            return self.data[message.key]
        except KeyError:
            raise MaildropError("gone") from None

    def delete(self, messages) -> None:
        if self.fail_delete:
            raise MaildropError("disk on fire")
        self.deletions.append([m.key for m in messages])
        for m in messages:
            self.data.pop(m.key, None)


class Client:
    """Drives a session the way the adapter does, resolving logins from a table."""

    def __init__(self, *, tls_available: bool = False, tls_active: bool = False, refusal: Refusal | None = None):
        self.drop = MemoryMaildrop({1: MSG1, 2: MSG2, 3: MSG3})
        self.session = Pop3Session(tls_available=tls_available, tls_active=tls_active)
        self.refusal = refusal
        self.outputs: list = list(self.session.start())
        self.logins: list[Authenticate] = []

    def resolve(self, outputs: list) -> list:
        done, queue = [], collections.deque(outputs)
        while queue:
            out = queue.popleft()
            done.append(out)
            if isinstance(out, Authenticate):
                self.logins.append(out)
                ok = out.login == "bob@beta.test" and out.password == PASSWORD
                result = (self.refusal or self.drop) if ok else Refusal.AUTH
                queue.extend(self.session.login_result(result))
        return done

    def send(self, data: bytes) -> list:
        out = self.resolve(self.session.feed(data))
        self.outputs += out
        return out

    def replies(self, data: bytes) -> list[str]:
        return [o.status for o in self.send(data) if isinstance(o, Reply)]

    def one(self, data: bytes) -> Reply:
        [reply] = [o for o in self.send(data) if isinstance(o, Reply)]
        return reply


def logged_in(**kw) -> Client:
    client = Client(**kw)
    assert client.replies(f"USER bob@beta.test\r\nPASS {PASSWORD}\r\n".encode()) == [
        "+OK Send PASS", f"+OK Logged in: maildrop has 3 messages ({TOTAL} octets)"]
    return client


def effects(outputs: list, kind: type) -> list:
    return [o for o in outputs if isinstance(o, kind)]


# --------------------------------------------------------------------------- tables

# (lines sent after login, status lines expected)
TRANSACTION_TABLE = [
    (b"STAT\r\n", [f"+OK 3 {TOTAL}"]),
    (b"stat\r\n", [f"+OK 3 {TOTAL}"]),
    (b"StAt\r\n", [f"+OK 3 {TOTAL}"]),
    (b"STAT\n", [f"+OK 3 {TOTAL}"]),                                   # a bare LF ends a line too
    (b"STAT extra\r\n", ["-ERR STAT takes no arguments"]),
    (b"LIST\r\n", [f"+OK 3 messages ({TOTAL} octets)"]),
    (b"LIST 2\r\n", [f"+OK 2 {S2}"]),
    (b"list 3\r\n", [f"+OK 3 {S3}"]),
    (b"LIST 4\r\n", ["-ERR No such message, only 3 messages in maildrop"]),
    (b"LIST 0\r\n", ["-ERR No such message, only 3 messages in maildrop"]),
    (b"LIST -1\r\n", ["-ERR Invalid message number"]),
    (b"LIST x\r\n", ["-ERR Invalid message number"]),
    (b"LIST 99999999999999999999\r\n", ["-ERR Invalid message number"]),
    (b"LIST 1 2\r\n", ["-ERR Syntax: LIST [msg]"]),
    # message numbers: only 1..count of this maildrop, never wrapped or widened (rule 6)
    (b"RETR 0\r\n", ["-ERR No such message, only 3 messages in maildrop"]),
    (b"RETR 4294967297\r\n", ["-ERR No such message, only 3 messages in maildrop"]),   # 2**32 + 1
    (b"DELE 18446744073709551617\r\n", ["-ERR Invalid message number"]),               # 2**64 + 1
    (b"TOP 4 0\r\n", ["-ERR No such message, only 3 messages in maildrop"]),
    (b"LIST +1\r\n", ["-ERR Invalid message number"]),
    (b"LIST 0x1\r\n", ["-ERR Invalid message number"]),
    (b"LIST 1e0\r\n", ["-ERR Invalid message number"]),
    ("LIST \uff13\r\n".encode(), ["-ERR Invalid message number"]),                       # a fullwidth 3
    ("LIST \u0663\r\n".encode(), ["-ERR Invalid message number"]),                       # an Arabic-Indic 3
    (b"LIST 0000000002\r\n", [f"+OK 2 {S2}"]),                                          # leading zeros
    (b"LIST 2\x00\r\n", ["-ERR Invalid message number"]),
    (b"UIDL 2\r\n", [f"+OK 2 00000002{UIDVALIDITY:08X}"]),
    (b"UIDL 9\r\n", ["-ERR No such message, only 3 messages in maildrop"]),
    (b"RETR 1\r\n", [f"+OK {S1} octets"]),
    (b"RETR\r\n", ["-ERR Syntax: RETR msg"]),
    (b"RETR 7\r\n", ["-ERR No such message, only 3 messages in maildrop"]),
    (b"RETR one\r\n", ["-ERR Invalid message number"]),
    (b"TOP 1 0\r\n", ["+OK Top of message follows"]),
    (b"TOP 1\r\n", ["-ERR Syntax: TOP msg n"]),
    (b"TOP 1 -1\r\n", ["-ERR The number of lines must be a non-negative number"]),
    (b"TOP 9 0\r\n", ["-ERR No such message, only 3 messages in maildrop"]),
    (b"DELE 1\r\n", ["+OK Message 1 deleted"]),
    (b"DELE\r\n", ["-ERR Syntax: DELE msg"]),
    (b"NOOP\r\n", ["+OK"]),
    (b"NOOP now\r\n", ["-ERR NOOP takes no arguments"]),
    (b"RSET\r\n", [f"+OK Maildrop has 3 messages ({TOTAL} octets)"]),
    (b"USER bob\r\n", ["-ERR USER is not valid in the TRANSACTION state"]),
    (b"PASS x\r\n", ["-ERR PASS is not valid in the TRANSACTION state"]),
    (b"AUTH PLAIN\r\n", ["-ERR AUTH is not valid in the TRANSACTION state"]),
    (b"STLS\r\n", ["-ERR STLS is not valid in the TRANSACTION state"]),
    (b"APOP bob 0123456789abcdef\r\n", ["-ERR Unknown command"]),
    (b"HELO there\r\n", ["-ERR Unknown command"]),
    (b"\r\n", ["-ERR Unknown command"]),
    (b"\x00\xff\xfe\x80garbage\r\n", ["-ERR Unknown command"]),
    (b"NOOP\r\nSTAT\r\nLIST 1\r\n", ["+OK", f"+OK 3 {TOTAL}", f"+OK 1 {S1}"]),   # pipelined, in order
]


@pytest.mark.parametrize("lines, expected", TRANSACTION_TABLE, ids=[repr(t[0])[2:-1] for t in TRANSACTION_TABLE])
def test_transaction_table(lines, expected):
    client = logged_in()
    assert client.replies(lines) == expected
    assert client.session.state is State.TRANSACTION


AUTHORIZATION_TABLE = [
    (b"STAT\r\n", ["-ERR STAT is not valid in the AUTHORIZATION state"]),
    (b"RETR 1\r\n", ["-ERR RETR is not valid in the AUTHORIZATION state"]),
    (b"DELE 1\r\n", ["-ERR DELE is not valid in the AUTHORIZATION state"]),
    (b"NOOP\r\n", ["-ERR NOOP is not valid in the AUTHORIZATION state"]),
    (b"PASS secret\r\n", ["-ERR Send USER first"]),
    (b"USER\r\n", ["-ERR USER needs one argument: the login name"]),
    (b"USER a b\r\n", ["-ERR USER needs one argument: the login name"]),
    (b"user bob\r\n", ["+OK Send PASS"]),
    (b"AUTH CRAM-MD5\r\n", ["-ERR Unsupported authentication mechanism"]),
    (b"AUTH PLAIN a b\r\n", ["-ERR Syntax: AUTH mechanism [initial-response]"]),
    (b"AUTH\r\n", ["+OK SASL mechanisms follow"]),
    (b"STLS\r\n", ["-ERR STLS is not available on this server"]),
    (b"CAPA now\r\n", ["-ERR CAPA takes no arguments"]),
    (b"xyzzy\r\n", ["-ERR Unknown command"]),
]


@pytest.mark.parametrize("lines, expected", AUTHORIZATION_TABLE,
                         ids=[repr(t[0])[2:-1] for t in AUTHORIZATION_TABLE])
def test_authorization_table(lines, expected):
    client = Client()
    assert client.replies(lines) == expected
    assert client.session.state is State.AUTHORIZATION
    assert client.logins == []


# --------------------------------------------------------------------------- greeting and CAPA


def test_greeting_has_no_apop_timestamp():
    [greeting] = Client().outputs
    assert greeting == Reply("+OK Mailflow POP3 server ready")
    assert b"<" not in greeting.encode()
    with pytest.raises(ValueError):
        Pop3Session(greeting="<1896.697170952@dbc.mtview.ca.us>")


@pytest.mark.parametrize("tls_available, tls_active, stls", [
    (False, False, False),    # no certificate: no STLS
    (True, False, True),      # plain connection of a server that can do TLS
    (True, True, False),      # already under TLS (implicit TLS, or after STLS)
])
def test_capa_exactly_as_in_protocols_md(tls_available, tls_active, stls):
    client = Client(tls_available=tls_available, tls_active=tls_active)
    reply = client.one(b"CAPA\r\n")
    assert reply.status == "+OK Capability list follows"
    assert reply.lines == CAPA + (["STLS"] if stls else []) + ["IMPLEMENTATION mailflow"]
    assert reply.encode().endswith(b"PIPELINING\r\n" + (b"STLS\r\n" if stls else b"")
                                   + b"IMPLEMENTATION mailflow\r\n.\r\n")


def test_capa_after_login_never_offers_stls():
    client = logged_in(tls_available=True)
    assert "STLS" not in client.one(b"CAPA\r\n").lines


# --------------------------------------------------------------------------- logins


def test_user_pass_login_reports_the_maildrop():
    client = Client()
    out = client.send(f"USER bob@beta.test\r\nPASS {PASSWORD}\r\n".encode())
    assert client.logins == [Authenticate("bob@beta.test", PASSWORD, "USER")]
    [event] = effects(out, LoggedIn)
    assert (event.login, event.mechanism, event.messages, event.octets) == ("bob@beta.test", "USER", 3, TOTAL)
    assert ("C", f"PASS {PASSWORD}") in event.transcript   # plain text: the lesson is that it shows
    assert event.transcript[0] == ("S", "+OK Mailflow POP3 server ready")
    assert client.session.state is State.TRANSACTION


def test_wrong_password_and_unknown_user_look_the_same():
    wrong = Client().replies(b"USER bob@beta.test\r\nPASS nope\r\n")
    unknown = Client().replies(f"USER nobody@beta.test\r\nPASS {PASSWORD}\r\n".encode())
    assert wrong == unknown == ["+OK Send PASS", "-ERR [AUTH] Invalid login or password"]


def test_failed_login_is_reported_and_user_must_be_sent_again():
    client = Client()
    out = client.send(b"USER bob@beta.test\r\nPASS nope\r\nPASS again\r\n")
    assert [o.status for o in out if isinstance(o, Reply)] == [
        "+OK Send PASS", "-ERR [AUTH] Invalid login or password", "-ERR Send USER first"]
    [refused] = effects(out, LoginRefused)
    assert (refused.login, refused.refusal) == ("bob@beta.test", Refusal.AUTH)


def test_three_failures_close_the_session():
    client = Client()
    out = client.send(b"USER a\r\nPASS 1\r\nUSER a\r\nPASS 2\r\nUSER a\r\nPASS 3\r\nUSER a\r\n")
    statuses = [o.status for o in out if isinstance(o, Reply)]
    assert statuses[-1] == "-ERR [AUTH] Invalid login or password; too many failures, closing"
    assert statuses.count("+OK Send PASS") == 3      # the 4th USER is never answered
    assert isinstance(out[-1], Close)
    assert client.session.state is State.CLOSED
    assert client.send(b"USER a\r\n") == []


def test_in_use_refusal():
    client = Client(refusal=Refusal.IN_USE)
    out = client.send(f"USER bob@beta.test\r\nPASS {PASSWORD}\r\n".encode())
    assert [o.status for o in out if isinstance(o, Reply)][-1] == \
        "-ERR [IN-USE] Mailbox is locked by another POP3 session"
    assert effects(out, LoginRefused)[0].refusal is Refusal.IN_USE
    assert client.session.state is State.AUTHORIZATION


def test_sys_temp_refusal():
    client = Client(refusal=Refusal.SYS_TEMP)
    assert client.replies(f"USER bob@beta.test\r\nPASS {PASSWORD}\r\n".encode())[-1].startswith("-ERR [SYS/TEMP]")


def plain(authzid: str, authcid: str, password: str) -> bytes:
    return base64.b64encode(f"{authzid}\0{authcid}\0{password}".encode())


def test_auth_plain_with_initial_response():
    client = Client()
    assert client.replies(b"AUTH PLAIN " + plain("", "bob@beta.test", PASSWORD) + b"\r\n") == [
        f"+OK Logged in: maildrop has 3 messages ({TOTAL} octets)"]
    assert client.logins == [Authenticate("bob@beta.test", PASSWORD, "PLAIN")]


def test_auth_plain_with_continuation_lowercase():
    client = Client()
    assert client.replies(b"auth plain\r\n") == ["+ "]
    assert client.one(plain("bob@beta.test", "bob@beta.test", PASSWORD) + b"\r\n").status.startswith("+OK Logged in")


def test_auth_plain_cancel_and_bad_responses():
    client = Client()
    assert client.replies(b"AUTH PLAIN\r\n*\r\n") == ["+ ", "-ERR Authentication cancelled"]
    assert client.replies(b"AUTH PLAIN\r\n!!notbase64\r\n") == ["+ ", "-ERR Invalid base64 in the SASL response"]
    assert client.replies(b"AUTH PLAIN =\r\n") == [
        "-ERR Malformed PLAIN response: expected authzid NUL authcid NUL password"]
    assert client.replies(b"AUTH PLAIN " + plain("alice@alpha.test", "bob@beta.test", PASSWORD) + b"\r\n") == [
        "-ERR [AUTH] Logging in as another user is not allowed"]
    assert client.replies(b"AUTH PLAIN " + plain("", "bob@beta.test", "wrong") + b"\r\n") == [
        "-ERR [AUTH] Invalid login or password"]
    assert client.session.state is State.AUTHORIZATION
    # After all that, the session still works.
    assert client.one(b"AUTH PLAIN " + plain("", "bob@beta.test", PASSWORD) + b"\r\n").status.startswith("+OK")


def test_auth_login_both_ways():
    user, password = (base64.b64encode(s.encode()) for s in ("bob@beta.test", PASSWORD))
    client = Client()
    assert client.replies(b"AUTH LOGIN\r\n") == ["+ VXNlcm5hbWU6"]          # "Username:"
    assert client.replies(user + b"\r\n") == ["+ UGFzc3dvcmQ6"]             # "Password:"
    assert client.one(password + b"\r\n").status.startswith("+OK Logged in")
    assert client.logins == [Authenticate("bob@beta.test", PASSWORD, "LOGIN")]

    client = Client()
    assert client.replies(b"AUTH LOGIN " + user + b"\r\n") == ["+ UGFzc3dvcmQ6"]
    assert client.replies(b"*\r\n") == ["-ERR Authentication cancelled"]
    assert client.replies(b"AUTH LOGIN " + user + b"\r\n" + password + b"\r\n") == [
        "+ UGFzc3dvcmQ6", f"+OK Logged in: maildrop has 3 messages ({TOTAL} octets)"]


def test_pipelined_commands_wait_for_the_login():
    client = Client()
    outputs = client.session.feed(f"USER bob@beta.test\r\nPASS {PASSWORD}\r\nSTAT\r\nLIST 2\r\n".encode())
    # The session pauses at the login: STAT is not answered before the credentials are checked.
    assert [type(o) for o in outputs] == [Reply, Authenticate]
    assert client.session.feed(b"NOOP\r\n") == []      # still paused, buffered
    rest = client.session.login_result(client.drop)
    assert [o.status for o in rest if isinstance(o, Reply)] == [
        f"+OK Logged in: maildrop has 3 messages ({TOTAL} octets)", f"+OK 3 {TOTAL}", f"+OK 2 {S2}", "+OK"]


def test_login_result_without_a_request_is_a_bug():
    with pytest.raises(RuntimeError):
        Pop3Session().login_result(Refusal.AUTH)


# --------------------------------------------------------------------------- framing


def test_partial_lines_are_buffered():
    client = logged_in()
    assert client.send(b"ST") == []
    assert client.send(b"AT\r") == []
    assert client.replies(b"\nNO") == [f"+OK 3 {TOTAL}"]
    assert client.replies(b"OP\r\n") == ["+OK"]


def test_over_long_line_is_refused_and_the_session_goes_on():
    client = logged_in()
    assert client.replies(b"NOOP " + b"x" * 2000 + b"\r\nSTAT\r\n") == [
        "-ERR Line too long (limit 1024 octets)", f"+OK 3 {TOTAL}"]
    # Split over several reads: answered once, the tail is discarded, the next line works.
    assert client.replies(b"DELE 1" + b"9" * 1500) == ["-ERR Line too long (limit 1024 octets)"]
    assert client.replies(b"9" * 5000) == []
    assert client.replies(b"\r\nSTAT\r\n") == [f"+OK 3 {TOTAL}"]   # DELE 1999... was never executed


def test_line_at_the_limit_is_accepted():
    client = logged_in()
    line = b"LIST " + b"0" * (1024 - 6) + b"2"
    assert len(line) == 1024
    assert client.replies(line + b"\r\n") == ["-ERR Invalid message number"]   # parsed, not "too long"


# --------------------------------------------------------------------------- retrieval


def test_retr_byte_stuffs_and_terminates():
    reply = logged_in().one(b"RETR 1\r\n")
    assert reply.body == MSG1
    wire = reply.encode()
    assert wire == (f"+OK {S1} octets\r\n".encode()
                    + b"From: alice@alpha.test\r\nTo: bob@beta.test\r\nSubject: Hello\r\n\r\n"
                    + b"Hi Bob,\r\n..a line that starts with a dot\r\n...two dots\r\n..\r\nBye\r\n.\r\n")


@pytest.mark.parametrize("body, wire", [
    (b".first\r\n", b"..first\r\n.\r\n"),
    (b"no final newline", b"no final newline\r\n.\r\n"),
    (b"", b".\r\n"),
])
def test_reply_encoding_edge_cases(body, wire):
    assert Reply("+OK", body).encode() == b"+OK\r\n" + wire


def test_retr_reports_a_trimmed_transcript():
    out = logged_in().send(b"RETR 2\r\n")
    [event] = effects(out, Retrieved)
    assert (event.command, event.number, event.key, event.size, event.top_lines) == ("RETR", 2, 2, S2, None)
    assert event.header == b"Subject: long"
    assert event.transcript[:3] == (("C", "RETR 2"), ("S", f"+OK {S2} octets"), ("S", "Subject: long"))
    assert ("…", "12") in event.transcript                  # 12 body lines left out
    assert event.transcript[-1] == ("S", ".")
    assert len(event.transcript) == 2 + 20 + 2


def test_top_n_0_and_n_lines():
    client = logged_in()
    assert client.one(b"TOP 1 0\r\n").body == b"From: alice@alpha.test\r\nTo: bob@beta.test\r\nSubject: Hello\r\n\r\n"
    assert client.one(b"TOP 2 3\r\n").body == b"Subject: long\r\n\r\nline 1\r\nline 2\r\nline 3\r\n"
    assert client.one(b"TOP 3 99999999\r\n").body == MSG3                      # fetchmail's "everything"
    top = client.one(b"TOP 1 2\r\n")
    assert top.encode().endswith(b"\r\n\r\nHi Bob,\r\n..a line that starts with a dot\r\n.\r\n")
    [event] = effects(client.outputs, Retrieved)[-1:]
    assert (event.command, event.top_lines) == ("TOP", 2)


def test_top_of_a_message_without_body():
    client = Client()
    client.drop.data = {1: b"Subject: only a header\r\n"}
    client.send(f"USER bob@beta.test\r\nPASS {PASSWORD}\r\n".encode())
    assert client.one(b"TOP 1 0\r\n").body == b"Subject: only a header\r\n\r\n"


def test_list_and_uidl_listings():
    client = logged_in()
    listing = client.one(b"LIST\r\n")
    assert listing.lines == [f"1 {S1}", f"2 {S2}", f"3 {S3}"]
    uidl = client.one(b"UIDL\r\n")
    assert uidl.status == "+OK Unique-ID listing follows"
    assert uidl.lines == [f"{n} {n:08X}{UIDVALIDITY:08X}" for n in (1, 2, 3)]
    for line in uidl.lines:
        uid = line.split()[1]
        assert 1 <= len(uid) <= 70 and all(0x21 <= ord(c) <= 0x7E for c in uid)
    assert [(e.command, e.messages, e.octets) for e in effects(client.outputs, Listed)] == [
        ("LIST", 3, TOTAL), ("UIDL", 3, TOTAL)]


def test_message_gone_under_us():
    client = logged_in()
    del client.drop.data[2]     # say, expunged by an IMAP session
    assert client.replies(b"RETR 2\r\nTOP 2 0\r\nRETR 1\r\n") == [
        "-ERR [SYS/TEMP] Message 2 was removed by another session",
        "-ERR [SYS/TEMP] Message 2 was removed by another session",
        f"+OK {S1} octets"]


# --------------------------------------------------------------------------- deletion


def test_dele_marks_and_numbers_stay_stable():
    client = logged_in()
    assert client.replies(b"DELE 2\r\n") == ["+OK Message 2 deleted"]
    assert client.replies(b"STAT\r\nLIST 2\r\nRETR 2\r\nTOP 2 0\r\nUIDL 2\r\nDELE 2\r\nLIST 3\r\n") == [
        f"+OK 2 {S1 + S3}",
        "-ERR Message 2 already deleted",
        "-ERR Message 2 already deleted",
        "-ERR Message 2 already deleted",
        "-ERR Message 2 already deleted",
        "-ERR Message 2 already deleted",
        f"+OK 3 {S3}"]                       # message 3 is still number 3
    assert client.one(b"LIST\r\n").lines == [f"1 {S1}", f"3 {S3}"]
    assert client.one(b"UIDL\r\n").lines == [f"1 00000001{UIDVALIDITY:08X}", f"3 00000003{UIDVALIDITY:08X}"]
    [event] = effects(client.outputs, Deleted)
    assert (event.number, event.key) == (2, 2)
    assert client.drop.deletions == [] and 2 in client.drop.data     # nothing deleted yet


def test_rset_unmarks():
    client = logged_in()
    client.send(b"DELE 1\r\nDELE 3\r\n")
    assert client.replies(b"RSET\r\nSTAT\r\n") == [f"+OK Maildrop has 3 messages ({TOTAL} octets)", f"+OK 3 {TOTAL}"]
    out = client.send(b"QUIT\r\n")
    assert client.drop.deletions == []
    assert effects(out, Updated) == [Updated(0, 3, True, effects(out, Updated)[0].transcript)]


def test_quit_deletes_in_the_update_state():
    client = logged_in()
    client.send(b"DELE 1\r\nDELE 3\r\n")
    assert client.drop.deletions == []
    out = client.send(b"QUIT\r\nSTAT\r\n")
    assert [o.status for o in out if isinstance(o, Reply)] == [
        "+OK Mailflow POP3 server signing off (2 messages deleted, 1 left)"]   # STAT after QUIT: ignored
    assert client.drop.deletions == [[1, 3]]
    assert sorted(client.drop.data) == [2]
    [updated] = effects(out, Updated)
    assert (updated.deleted, updated.left, updated.ok) == (2, 1, True)
    assert isinstance(out[-1], Close)
    assert client.session.state is State.CLOSED


def test_quit_when_deletion_fails():
    client = logged_in()
    client.drop.fail_delete = True
    out = client.send(b"DELE 1\r\nQUIT\r\n")
    assert [o.status for o in out if isinstance(o, Reply)][-1] == "-ERR [SYS/TEMP] Some deleted messages not removed"
    assert effects(out, Updated)[0].ok is False
    assert isinstance(out[-1], Close)


def test_quit_in_authorization_closes_without_update():
    client = Client()
    out = client.send(b"QUIT\r\n")
    assert [o.status for o in out if isinstance(o, Reply)] == ["+OK Mailflow POP3 server signing off"]
    assert isinstance(out[-1], Close)
    assert effects(out, Updated) == []


def test_dropped_connection_deletes_nothing():
    client = logged_in()
    client.send(b"DELE 1\r\nDELE 2\r\n")
    out = client.session.connection_lost()
    assert [(a.reason, a.marked) for a in effects(out, Abandoned)] == [("dropped", 2)]
    assert client.drop.deletions == [] and sorted(client.drop.data) == [1, 2, 3]
    assert client.session.state is State.CLOSED


def test_idle_timeout_deletes_nothing():
    client = logged_in()
    client.send(b"DELE 1\r\n")
    out = client.session.timed_out()
    assert [o.status for o in out if isinstance(o, Reply)] == ["-ERR Autologout; idle for too long"]
    assert [(a.reason, a.marked) for a in effects(out, Abandoned)] == [("timeout", 1)]
    assert isinstance(out[-1], Close)
    assert client.drop.deletions == []


def test_internal_error_deletes_nothing():
    client = logged_in()
    client.send(b"DELE 1\r\n")
    out = client.session.internal_error()
    assert out[0].status.startswith("-ERR [SYS/TEMP]")
    assert [a.reason for a in effects(out, Abandoned)] == ["error"]
    assert client.drop.deletions == []


# --------------------------------------------------------------------------- STLS


def test_stls_discards_what_was_pipelined_behind_it():
    client = Client(tls_available=True)
    out = client.session.feed(b"CAPA\r\nSTLS\r\nUSER evil\r\nPASS x\r\n")
    assert [type(o) for o in out] == [Reply, Reply, StartTls]
    assert out[1] == Reply("+OK Begin TLS negotiation")
    assert client.session.feed(b"USER evil\r\n") == []       # before the handshake: dropped
    assert client.session.tls_established() == []
    assert client.session.tls_active
    assert client.replies(b"PASS x\r\n") == ["-ERR Send USER first"]   # "USER evil" never happened
    assert "STLS" not in client.one(b"CAPA\r\n").lines
    assert client.replies(b"STLS\r\n") == ["-ERR Command not permitted when TLS active"]


def test_stls_forgets_a_user_given_before_it():
    client = Client(tls_available=True)
    client.send(b"USER bob@beta.test\r\nSTLS\r\n")
    client.session.tls_established()
    assert client.replies(f"PASS {PASSWORD}\r\n".encode()) == ["-ERR Send USER first"]


def test_password_is_masked_in_transcripts_under_tls():
    client = Client(tls_active=True)
    out = client.send(f"USER bob@beta.test\r\nPASS {PASSWORD}\r\n".encode())
    [event] = effects(out, LoggedIn)
    assert ("C", "PASS ********") in event.transcript
    assert not any(PASSWORD in line for _, line in event.transcript)
    out = Client(tls_active=True).send(b"AUTH PLAIN " + plain("", "bob@beta.test", PASSWORD) + b"\r\n")
    assert ("C", "AUTH PLAIN ********") in effects(out, LoggedIn)[0].transcript


# --------------------------------------------------------------------------- transcript markers (data, no words)


def test_transcript_marks_the_tls_handshake_and_an_over_long_line_as_data():
    client = Client(tls_available=True)
    client.send(b"STLS\r\n")
    client.session.tls_established()
    out = client.send(b"NOOP " + b"x" * 2000 + b"\r\nUSER bob@beta.test\r\n" + f"PASS {PASSWORD}\r\n".encode())
    [event] = effects(out, LoggedIn)
    assert event.transcript[1:5] == (("C", "STLS"), ("S", "+OK Begin TLS negotiation"), ("…", "TLS"), ("C", "…"))
    assert event.transcript[5] == ("S", "-ERR Line too long (limit 1024 octets)")


def test_transcript_counts_the_lines_left_out_before_an_observation():
    client = logged_in()
    client.send(b"NOOP\r\n" * 150)          # 300 lines of dialogue before the next observation
    [event] = effects(client.send(b"LIST\r\n"), Listed)
    assert event.transcript[0] == ("…", "106")    # 300 NOOP lines + 6 of LIST; the last 200 are kept
    assert event.transcript[-1] == ("S", ".") and len(event.transcript) == 201


# --------------------------------------------------------------------------- the SASL exchanges alone


def b64(text: bytes) -> str:
    return base64.b64encode(text).decode()


@pytest.mark.parametrize("mechanism, responses, steps", [
    ("PLAIN", [b64(b"\0bob\0pw")], [Credentials("bob", "pw")]),
    ("PLAIN", [b64(b"bob\0bob\0pw")], [Credentials("bob", "pw")]),
    ("PLAIN", [b64(b"eve\0bob\0pw")], [Failed("-ERR [AUTH] Logging in as another user is not allowed")]),
    ("PLAIN", [b64(b"bob\0pw")],
     [Failed("-ERR Malformed PLAIN response: expected authzid NUL authcid NUL password")]),
    ("PLAIN", ["!!!"], [Failed("-ERR Invalid base64 in the SASL response")]),
    ("LOGIN", [b64(b"bob"), b64(b"pw")], [Challenge("+ UGFzc3dvcmQ6"), Credentials("bob", "pw")]),
    ("LOGIN", ["", ""], [Challenge("+ UGFzc3dvcmQ6"), Credentials("", "")]),
])
def test_sasl_exchange_table(mechanism, responses, steps):
    exchange = SaslExchange(mechanism)
    assert [exchange.respond(r) for r in responses] == steps


def test_sasl_first_challenges_and_the_empty_initial_response():
    assert SaslExchange("PLAIN").first_challenge() == Challenge("+ ")
    assert SaslExchange("LOGIN").first_challenge() == Challenge("+ VXNlcm5hbWU6")
    assert SaslExchange("LOGIN").respond("=", initial=True) == Challenge("+ UGFzc3dvcmQ6")
    assert SaslExchange("LOGIN").respond("=") == Failed("-ERR Invalid base64 in the SASL response")
    with pytest.raises(ValueError):
        SaslExchange("CRAM-MD5")


# --------------------------------------------------------------------------- bounds (issue 12, rule 4)


def test_bad_commands_in_a_row_close_the_session_and_delete_nothing():
    client = logged_in()
    client.send(b"DELE 1\r\n")
    assert all(r.startswith("-ERR") for r in client.replies(b"RETR 9\r\n" * 19))   # 19: still open
    assert client.replies(b"NOOP\r\n") == ["+OK"]                                 # a good one resets
    out = client.send(b"XYZZY\r\n" * 19 + b"NOOP " + b"x" * 2000 + b"\r\nSTAT\r\n")
    statuses = [o.status for o in out if isinstance(o, Reply)]
    assert len(statuses) == 21 and statuses[-1] == "-ERR Too many bad commands; closing"  # STAT unread
    assert [(a.reason, a.marked) for a in effects(out, Abandoned)] == [("bad_commands", 1)]
    assert isinstance(out[-1], Close) and client.session.state is State.CLOSED
    assert client.send(b"QUIT\r\n") == [] and client.drop.deletions == []


def test_bad_commands_before_login_close_the_session_too():
    client = Client()
    out = client.send(b"GET / HTTP/1.1\r\nHost: x\r\n" + b"\r\n" * 18 + b"USER bob@beta.test\r\n")
    statuses = [o.status for o in out if isinstance(o, Reply)]
    assert statuses == ["-ERR Unknown command"] * 20 + ["-ERR Too many bad commands; closing"]
    assert effects(out, Abandoned) == [] and isinstance(out[-1], Close)   # nothing was open


def test_failed_logins_keep_their_own_count():
    client = Client()
    for _ in range(2):   # a refused login is not a bad command, and USER's +OK resets the count
        client.send(b"XYZZY\r\n" * 19)
        assert client.replies(b"USER bob@beta.test\r\nPASS wrong\r\n") == [
            "+OK Send PASS", "-ERR [AUTH] Invalid login or password"]
    assert client.session.state is State.AUTHORIZATION


def test_pipelined_retrieval_is_held_behind_the_output_budget():
    big = b"Subject: big\r\n\r\n" + b"x" * 70 * 1000 + b"\r\n"       # 70 kB
    session = Pop3Session(output_budget=200_000)
    session.start()
    assert len(effects(session.feed(b"USER bob@beta.test\r\nPASS pw\r\n"), Authenticate)) == 1
    session.login_result(MemoryMaildrop({1: big, 2: MSG3}))
    out = session.feed(b"RETR 1\r\n" * 1000 + b"LIST 2\r\n")          # 70 MB if all were queued at once
    queued, answered = 0, []
    while True:
        replies = [o for o in out if isinstance(o, Reply)]
        batch = sum(len(r.status) + len(r.body or b"") for r in replies)
        assert batch < 200_000 + len(big) + 100                      # one reply past the budget at most
        queued += batch
        answered += [r.status for r in replies]
        if not session.pending:
            break
        out = session.resume()
    assert answered == [f"+OK {len(big)} octets"] * 1000 + [f"+OK 2 {len(MSG3)}"]   # all, in order
    assert queued > 1000 * len(big) and session.resume() == []
