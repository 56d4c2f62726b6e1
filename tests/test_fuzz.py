"""Parsers survive arbitrary bytes (issue 12, rule 9): property tests, seeded and bounded.

Every parser that reads what a stranger sends is fed bytes that hypothesis makes: the DNS answerer
(``zone.handle_wire``) and the DNS server's sockets, the POP3 session, IMAP's framing and parser and
the whole IMAP session, the SMTP server on its port, and the MIME renderers (IMAP's BODYSTRUCTURE,
ENVELOPE and BODY[part], the webmail's reader).  Each test states what must hold for *any* input --
not only "no exception", but the protocol's own promises: the DNS never answers an answer, never
sets RA, never sends more than the client can take; POP3 never names a message outside the
maildrop and deletes only after QUIT; IMAP's responses stay well-formed; SMTP answers every line
with a reply code and lets the client go.

Seeded and bounded: ``derandomize=True`` makes hypothesis draw the same examples on every run (CI
never flakes on a new draw), no example database is written, and ``max_examples`` keeps each test
to a few seconds.  The long, coverage-guided search is ``bench/fuzz.py`` (atheris; iterations and
findings in ``bench/FUZZ.md``); what it finds comes back here as an ``@example``.

Strategies are half blind (random bytes) and half aware of the grammar (real verbs with hostile
arguments, real DNS headers with wrong counts, MIME trees with broken boundaries), since random
bytes alone seldom get past a parser's first check.
"""
from __future__ import annotations

import asyncio
import base64
import os
import re
import socket
import struct
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.query
import dns.rcode
import dns.rdatatype
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

# Hypothesis keeps caches (constants, unicode tables) in ./.hypothesis unless told otherwise: not in
# the work tree. Set before the first example runs, which is when the directory is first resolved.
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", str(Path(tempfile.gettempdir()) / "mailflow-hypothesis"))

from simulator.protocols.dns import Authority, DnsServer, Record, handle_wire
from simulator.protocols.imap import Authenticate as ImapAuthenticate
from simulator.protocols.imap import Close as ImapClose
from simulator.protocols.imap import ImapSession, MemoryMailbox, Send
from simulator.protocols.imap import StartTls as ImapStartTls
from simulator.protocols.imap.wire import CommandReader, Framed, FrameError, ParseError, parse_command
from simulator.protocols.smtp.grammar import Problem, parse_helo, parse_mail, parse_rcpt
from simulator.protocols.smtp.session import DataText, fold_line
from simulator.protocols.pop3 import (
    Authenticate,
    Close,
    DropMessage,
    MaildropError,
    Pop3Session,
    Refusal,
    Reply,
    Retrieved,
    StartTls,
    State,
    Updated,
)
from simulator.store.mime import parse_mime, to_crlf
from simulator.webmail import read
from simulator.webmail.errors import WebmailError


def fuzz(examples: int, **kw: Any) -> Any:
    """Seeded, bounded, no database: the same examples on every run, in a few seconds."""
    return settings(derandomize=True, database=None, deadline=None, max_examples=examples,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much],
                    **kw)


# Over sockets a failing example is printed as found: shrinking it would take minutes.
NO_SHRINK = {"phases": (Phase.explicit, Phase.reuse, Phase.generate)}


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    """``data`` in pieces at the given offsets, as the network may deliver it."""
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(points, points[1:])] or [b""]


CUTS = st.lists(st.integers(min_value=0, max_value=10_000), max_size=4)
NUMBERS = st.one_of(
    st.integers(min_value=-3, max_value=12).map(str),
    st.sampled_from(["0", "00", "4294967295", "4294967297", "18446744073709551617", "+1", "1e3", "0x1",
                     "\uff11", "\u0661", "1.0", "", "*", "1:*", "9" * 30]),
)
JUNK = st.binary(max_size=60)
TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)


# =============================================================================================
# DNS: the answerer (sans-IO) and the server's sockets
# =============================================================================================

ZONE_RECORDS = {
    "beta.test": [
        Record("beta.test", "MX", "10 mx1.beta.test."),
        Record("beta.test", "MX", "20 mx2.beta.test."),
        Record("mx1.beta.test", "A", "127.42.2.2"),
        Record("mx1.beta.test", "AAAA", "::1"),
        Record("mx2.beta.test", "A", "127.42.2.3"),
        Record("www.beta.test", "CNAME", "mx1.beta.test."),
        Record("loop.beta.test", "CNAME", "loop.beta.test."),
        Record("out.beta.test", "CNAME", "mail.example.com."),
    ],
    "null.test": [Record("null.test", "MX", "0 .")],
    "big.test": [Record("big.test", "TXT", f'"record {i:02d} {"padding-" * 6}"') for i in range(60)],
}
ZONES = {dns.name.from_text(origin) for origin in ZONE_RECORDS}


def make_authority() -> Authority:
    authority = Authority()
    for origin, records in ZONE_RECORDS.items():
        authority.set_zone(origin, records)
    return authority


AUTHORITY = make_authority()
LABELS = st.one_of(st.sampled_from([b"beta", b"test", b"mx1", b"www", b"null", b"big", b"loop", b"out", b"com",
                                    b"example", b"in-addr", b"arpa", b"*", b"", b"\x00", b"."]),
                   st.binary(min_size=1, max_size=63))


def encode_name(labels: list[bytes]) -> bytes:
    """A wire name from labels (as sent, unchecked: an empty label inside ends it early)."""
    return b"".join(bytes([len(label)]) + label for label in labels) + b"\x00"


@st.composite
def dns_queries(draw: st.DrawFn) -> bytes:
    """A DNS message built field by field: plausible header, hostile values."""
    ident = draw(st.integers(0, 0xFFFF))
    opcode = draw(st.sampled_from([0, 0, 0, 1, 2, 4, 5, 6, 15]))
    flags = (opcode << 11) | draw(st.sampled_from([0, 0x0100, 0x0200, 0x0400, 0x0020, 0x0010, 0x8000, 0x7FFF]))
    counts = draw(st.tuples(st.sampled_from([1, 1, 1, 0, 2, 65535]), st.sampled_from([0, 0, 1, 300]),
                            st.sampled_from([0, 0, 1]), st.sampled_from([0, 1, 1, 2])))
    labels = draw(st.one_of(st.sampled_from([[b"beta", b"test"], [b"mx1", b"beta", b"test"], [b"big", b"test"],
                                             [b"www", b"beta", b"test"], [b"example", b"com"], []]),
                            st.lists(LABELS, max_size=6)))
    name = encode_name(labels)
    if draw(st.booleans()):
        name = draw(st.sampled_from([b"\xc0\x0c", b"\xc0\xff", b"\x3f" + b"a" * 10, b"\x80abc\x00"])) + name
    rdtype = draw(st.one_of(st.sampled_from([1, 2, 5, 6, 15, 16, 28, 33, 41, 249, 250, 251, 252, 253, 254, 255]),
                            st.integers(0, 0xFFFF)))
    rdclass = draw(st.sampled_from([1, 1, 1, 3, 254, 255, 0xFFFF]))
    body = name + struct.pack("!HH", rdtype, rdclass)
    if counts[3]:  # an OPT record (RFC 6891 §6.1.2): payload, extended rcode, version, DO, options
        payload = draw(st.sampled_from([0, 1, 512, 1232, 4096, 65535]))
        version = draw(st.sampled_from([0, 0, 1, 255]))
        options = draw(st.one_of(st.just(b""), st.binary(max_size=20),
                                 st.just(struct.pack("!HH", 10, 8) + b"cookie!!")))
        body += b"\x00" + struct.pack("!HHBBHH", 41, payload, 0, version, 0x8000, len(options)) + options
    body += draw(st.binary(max_size=24))
    return struct.pack("!HHHHHH", ident, flags, *counts) + body


def mutated(wire: bytes, edits: list[tuple[int, int]], cut: int | None) -> bytes:
    data = bytearray(wire)
    for at, value in edits:
        if data:
            data[at % len(data)] = value
    return bytes(data[:cut] if cut is not None else data)


VALID_QUERIES = st.builds(
    lambda name, rdtype, edns, payload: dns.message.make_query(
        name, rdtype, use_edns=0 if edns else None, payload=payload).to_wire(),
    st.sampled_from(["beta.test", "mx1.beta.test", "big.test", "www.beta.test", "example.com", "loop.beta.test"]),
    st.sampled_from(["A", "AAAA", "MX", "TXT", "ANY", "SOA", "NS", "CNAME", "AXFR"]),
    st.booleans(), st.sampled_from([512, 1232, 4096]))
DNS_MESSAGES = st.one_of(
    st.binary(max_size=300),
    dns_queries(),
    st.builds(mutated, VALID_QUERIES, st.lists(st.tuples(st.integers(0, 500), st.integers(0, 255)), max_size=4),
              st.one_of(st.none(), st.integers(0, 80))),
)


def size_limit(wire: bytes, max_udp: int | None) -> int:
    if max_udp is None:
        return 65535
    try:
        query = dns.message.from_wire(wire, keyring=False)
    except Exception:
        return 512
    return 512 if query.edns < 0 else max(512, min(query.payload, max_udp))


def check_dns_reply(wire: bytes, max_udp: int | None) -> None:
    reply = handle_wire(AUTHORITY, wire, max_udp=max_udp)
    if len(wire) < 12 or wire[2] & 0x80:
        assert reply is None  # unreadable, or a response (QR=1): never answered
        return
    assert reply is not None and reply.wire
    ident, flags = struct.unpack("!HH", reply.wire[:4])
    assert ident == struct.unpack("!H", wire[:2])[0]
    assert flags & dns.flags.QR and not flags & dns.flags.RA  # an answer, and never recursion
    assert len(reply.wire) <= size_limit(wire, max_udp)  # fits, or TC is set and it was cut
    sent = dns.message.from_wire(reply.wire)  # what we send parses
    rcode = sent.rcode()
    if reply.query is None:
        assert rcode == dns.rcode.FORMERR
        return
    query = reply.query
    if len(query.question) == 1 and rcode == dns.rcode.NOERROR:
        assert query.question[0].name.is_subdomain(dns.name.root)
        assert any(query.question[0].name.is_subdomain(zone) for zone in ZONES)  # only our names
        assert sent.flags & dns.flags.AA
    if sent.answer:
        assert query.opcode() == dns.opcode.QUERY
        assert any(query.question[0].name.is_subdomain(zone) for zone in ZONES)
    if query.opcode() == dns.opcode.UPDATE:
        assert rcode in (dns.rcode.REFUSED, dns.rcode.FORMERR, dns.rcode.BADVERS, dns.rcode.NOTAUTH)


@fuzz(400)
@given(wire=DNS_MESSAGES, max_udp=st.sampled_from([None, 512, 1232, 4096]))
@example(wire=struct.pack("!HHHHHH", 1, 0x0100, 1, 0, 0, 0) + b"\xc0\x0c\x00\x01\x00\x01", max_udp=512)  # loop
@example(wire=struct.pack("!HHHHHH", 2, 0x0000, 1, 0, 0, 1) + b"\x03big\x04test\x00\x00\x10\x00\x01"
         + b"\x00\x00\x29\x00\x01\x00\x00\x00\x00\x00\x00", max_udp=1232)  # EDNS payload 1 (< 512)
def test_dns_answerer_takes_any_message(wire: bytes, max_udp: int | None) -> None:
    check_dns_reply(wire, max_udp)


@fuzz(150)
@given(name=st.lists(LABELS, max_size=5), rdtype=st.sampled_from(["A", "MX", "TXT", "ANY", "NS", "SOA"]),
       rd=st.booleans())
def test_dns_refuses_every_name_outside_the_zones_without_recursion(name: list[bytes], rdtype: str,
                                                                     rd: bool) -> None:
    labels = [label for label in name if label and len(label) <= 63][:4]
    qname = dns.name.Name([*labels, b""])
    query = dns.message.make_query(qname, rdtype)
    if not rd:
        query.flags &= ~dns.flags.RD
    response = dns.message.from_wire(handle_wire(AUTHORITY, query.to_wire(), max_udp=512).wire)  # type: ignore[union-attr]
    assert not response.flags & dns.flags.RA
    inside = any(qname.is_subdomain(zone) for zone in ZONES)
    assert (response.rcode() == dns.rcode.REFUSED) is not inside
    if not inside:
        assert response.answer == [] and not response.flags & dns.flags.AA


class _Loop:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def dns_server() -> Iterator[DnsServer]:
    loop = _Loop()
    server = DnsServer(make_authority(), "127.0.0.1", 0)
    loop.run(server.start())
    yield server
    loop.run(server.stop())
    loop.close()


def dns_alive(port: int) -> None:
    query = dns.message.make_query("mx1.beta.test", "A")
    assert dns.query.udp(query, "127.0.0.1", timeout=5, port=port).rcode() == dns.rcode.NOERROR
    assert dns.query.tcp(query, "127.0.0.1", timeout=5, port=port).rcode() == dns.rcode.NOERROR


@fuzz(80, **NO_SHRINK)
@given(packets=st.lists(DNS_MESSAGES, min_size=1, max_size=8), frames=st.lists(DNS_MESSAGES, max_size=4),
       cuts=CUTS)
def test_dns_server_survives_any_datagrams_and_streams(dns_server: DnsServer, packets: list[bytes],
                                                       frames: list[bytes], cuts: list[int]) -> None:
    port = dns_server.port
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for packet in packets:
            sock.sendto(packet, ("127.0.0.1", port))
    stream = b"".join(len(f).to_bytes(2, "big") + f for f in frames) + b"\x00\x00"  # a zero-length frame: closed
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        for piece in split(stream, cuts):
            try:
                sock.sendall(piece)
            except (BrokenPipeError, ConnectionResetError):
                break  # the server closed a stream it no longer trusts: allowed
        sock.settimeout(5)
        try:
            while sock.recv(65536):  # answers, then the server closes (never hangs)
                pass
        except ConnectionResetError:
            pass
    dns_alive(port)


# =============================================================================================
# POP3: the session (sans-IO), message numbers, deletions
# =============================================================================================

POP3_MESSAGES = {
    1: b"Subject: one\r\n\r\n.leading dot\r\n..two\r\n.\r\nend\r\n",
    2: b"Subject: two\r\n\r\n" + b"body line\r\n" * 50,
    3: b"no header at all, no final CRLF",
}


class Drop:
    """An in-memory maildrop that records deletions (and can lose a message)."""

    def __init__(self) -> None:
        self.data = dict(POP3_MESSAGES)
        self.deleted: list[int] = []
        self.reads = 0

    def messages(self) -> list[DropMessage]:
        return [DropMessage(uid, len(body), f"UID{uid}") for uid, body in sorted(self.data.items())]

    def read(self, message: DropMessage) -> bytes:
        self.reads += 1
        if message.key == 3 and self.reads > 2:  # expunged by an IMAP session meanwhile
            raise MaildropError("gone")
        return self.data[message.key]  # type: ignore[index]

    def delete(self, messages: Any) -> None:
        self.deleted += [m.key for m in messages]


POP3_VERBS = ["USER", "PASS", "STAT", "LIST", "RETR", "DELE", "NOOP", "RSET", "QUIT", "TOP", "UIDL", "CAPA",
              "AUTH", "STLS", "APOP", "LAST", "user", "rEtR", ""]


@st.composite
def pop3_lines(draw: st.DrawFn) -> bytes:
    verb = draw(st.sampled_from(POP3_VERBS))
    args = draw(st.lists(st.one_of(NUMBERS, TEXT, st.sampled_from(["PLAIN", "LOGIN", "*", "=", "pw"]),
                                   st.binary(max_size=12).map(lambda b: base64.b64encode(b).decode())),
                         max_size=3))
    end = draw(st.sampled_from([b"\r\n", b"\r\n", b"\n", b"\r", b""]))
    return " ".join([verb, *args]).encode("utf-8", "surrogateescape") + end


POP3_INPUT = st.lists(st.one_of(pop3_lines(), JUNK, st.just(b"x" * 1100 + b"\r\n")), max_size=25)
LOGIN = b"USER bob@beta.test\r\nPASS pw\r\n"


def unstuff(encoded: bytes) -> tuple[bytes, bytes | None]:
    """A reply as written -> (status line, the multi-line data unstuffed, or None). RFC 1939 §3."""
    head, _, rest = encoded.partition(b"\r\n")
    if not rest:
        return head, None
    assert rest.endswith(b"\r\n.\r\n") or rest == b".\r\n"
    lines = rest[:-3].split(b"\r\n")[:-1] if rest != b".\r\n" else []
    for line in lines:
        assert line != b"."  # a lone dot inside would end the reply early
    return head, b"".join((line[1:] if line.startswith(b".") else line) + b"\r\n" for line in lines)


@fuzz(300)
@given(logged_in=st.booleans(), pieces=POP3_INPUT, cuts=CUTS, budget=st.sampled_from([None, 64, 4096]))
@example(logged_in=True, pieces=[b"RETR 1\r\n" * 3 + b"DELE 2\r\nRETR 2\r\nQUIT\r\n"], cuts=[], budget=64)
@example(logged_in=True, pieces=[b"RETR 4294967297\r\nTOP 1 99999999999\r\nLIST 0\r\n"], cuts=[], budget=None)
def test_pop3_session_takes_any_input(logged_in: bool, pieces: list[bytes], cuts: list[int],
                                      budget: int | None) -> None:
    drive_pop3((LOGIN if logged_in else b"") + b"".join(pieces), cuts, budget)


def drive_pop3(data: bytes, cuts: list[int], budget: int | None) -> None:
    """Feed a POP3 session ``data`` in pieces, play the adapter, check every output."""
    drop = Drop()
    session = Pop3Session(tls_available=True, output_budget=budget)
    session.start()
    live = {n + 1: m for n, m in enumerate(drop.messages())}
    closed = False
    quit_seen = False
    largest = max(len(m) for m in POP3_MESSAGES.values())
    for piece in split(data, cuts):
        outputs = session.feed(piece)
        while True:
            queue = list(outputs)
            queued = 0
            for out in queue:
                assert not closed, "output after Close"
                if isinstance(out, Reply):
                    status, body = unstuff(out.encode())
                    assert status.startswith((b"+OK", b"-ERR", b"+ ")) or status == b"+"
                    assert b"\r" not in status and b"\n" not in status
                    assert body == (None if out.body is None else to_crlf_body(out.body))
                    queued += len(out.status) + len(out.body or b"")
                elif isinstance(out, Authenticate):
                    ok = out.password == "pw"
                    queue += session.login_result(drop if ok else Refusal.AUTH)
                elif isinstance(out, StartTls):
                    queue += session.tls_established()
                elif isinstance(out, Retrieved):
                    assert out.number in live and out.key == live[out.number].key  # rule 6: in range
                    assert out.size == len(POP3_MESSAGES[out.key])  # type: ignore[index]
                elif isinstance(out, Updated):
                    quit_seen = True
                elif isinstance(out, Close):
                    closed = True
            if budget is not None:
                assert queued <= budget + largest + 200
            if not session.pending:
                break
            outputs = session.resume()
    assert set(drop.deleted) <= set(POP3_MESSAGES)
    if drop.deleted:
        assert quit_seen  # deletions happen in the UPDATE state only (RFC 1939 §6)
    if closed:
        assert session.state is State.CLOSED and session.feed(b"STAT\r\n") == []


def to_crlf_body(body: bytes) -> bytes:
    """The data of a multi-line reply as the client reads it back: complete CRLF lines."""
    return body if body.endswith(b"\r\n") or not body else body + b"\r\n"


# =============================================================================================
# IMAP: framing and parsing, then the whole session
# =============================================================================================

IMAP_VERBS = ["CAPABILITY", "NOOP", "LOGOUT", "STARTTLS", "AUTHENTICATE", "LOGIN", "SELECT", "EXAMINE", "CREATE",
              "DELETE", "RENAME", "SUBSCRIBE", "UNSUBSCRIBE", "LIST", "LSUB", "STATUS", "APPEND", "CHECK",
              "CLOSE", "EXPUNGE", "SEARCH", "FETCH", "STORE", "COPY", "MOVE", "UID FETCH", "UID SEARCH",
              "UID STORE", "UID COPY", "UID MOVE", "UID EXPUNGE", "ID", "ENABLE", "IDLE", "NAMESPACE", "UNSELECT",
              "SORT", "THREAD", "GETQUOTA", "XYZZY"]
IMAP_ATOMS = st.one_of(
    st.sampled_from(["INBOX", "inbox", "a[b", "]", "[", "*", "%", "1:*", "*:1", "0", "4294967295", "4294967296",
                     "1,2,3:5", "1:2:3", ",", "NIL", "ALL", "FLAGS", "BODY[]", "BODY.PEEK[1.2.MIME]<0.10>",
                     "BODY[HEADER.FIELDS", "(FROM", "TO)]", "BODY[0]", "BODY[1.0]", "BODY[TEXT]<5.0>",
                     "BODYSTRUCTURE", "ENVELOPE", "RFC822.SIZE", "INTERNALDATE", "+FLAGS", "-FLAGS.SILENT",
                     "\\Seen", "\\Deleted", "$Junk", "NOT", "OR", "FROM", "SUBJECT", "BEFORE", "1-Jan-2024",
                     "32-Foo-99999", "UID", "LARGER", "99999999999999999999", "HEADER", "CHARSET", "UTF-8",
                     "..", "../x", "a/../../b", "~", "&AGE-", "&-", "&Jjo", "PLAIN", "=", "MESSAGES", "UIDNEXT",
                     "DONE", "(", ")", "\"\"", "{0}", "{5+}", "{99999999999}", "~{3}"]),
    st.text(alphabet="abcXYZ019*%[]\\()<>.:,{}+-$&~/\"", min_size=1, max_size=10),
)


def imap_quoted(text: str) -> bytes:
    return ('"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"').encode("utf-8", "surrogateescape")


IMAP_ARGS = st.recursive(
    st.one_of(IMAP_ATOMS.map(str.encode), TEXT.map(imap_quoted),
              st.binary(min_size=1, max_size=6).map(lambda b: bytes(c for c in b if c not in b' (){"\r\n%*\\'))
              .filter(bool),  # raw octets in an atom: 8-bit, controls
              st.binary(max_size=20).map(lambda b: b"{%d}\r\n%s" % (len(b), b)),
              st.binary(max_size=20).map(lambda b: b"{%d+}\r\n%s" % (len(b), b))),
    lambda inner: st.lists(inner, max_size=4).map(lambda xs: b"(" + b" ".join(xs) + b")"),
    max_leaves=12,
)


@st.composite
def imap_lines(draw: st.DrawFn) -> bytes:
    tag = draw(st.sampled_from([b"a1", b"A2", b"*", b"+", b"t.3", b"x{1}", b""]))
    verb = draw(st.sampled_from(IMAP_VERBS)).encode()
    args = draw(st.lists(IMAP_ARGS, max_size=5))
    return b" ".join([tag, verb, *args]) + draw(st.sampled_from([b"\r\n", b"\r\n", b"\n"]))


IMAP_INPUT = st.lists(st.one_of(imap_lines(), imap_lines(), JUNK), max_size=12)
DEEP = [b"a SEARCH " + b"NOT " * 5000 + b"ALL\r\n", b"a SEARCH " + b"OR ALL " * 5000 + b"ALL\r\n",
        b"a FETCH 1 " + b"(" * 5000 + b"FLAGS" + b")" * 5000 + b"\r\n"]


@fuzz(250)
@given(data=st.one_of(st.binary(max_size=400), IMAP_INPUT.map(b"".join)), cuts=CUTS)
def test_imap_framing_and_parsing_take_any_bytes(data: bytes, cuts: list[int]) -> None:
    drive_imap_parser(data, cuts)


def drive_imap_parser(data: bytes, cuts: list[int]) -> None:
    """Frame ``data`` and parse every command: a ParseError (BAD) is the only way to refuse."""
    reader = CommandReader()
    for piece in split(data, cuts):
        reader.feed(piece)
        while (item := reader.next()) is not None:
            if isinstance(item, Framed):
                try:
                    parse_command(item)
                except ParseError:
                    pass  # answered with BAD
            else:
                assert isinstance(item, (bytes, FrameError))


_STATUS = re.compile(rb"(\*|[^ \r\n]+) (OK|NO|BAD|BYE|PREAUTH)( |\r\n)")


def check_imap_output(data: bytes) -> None:
    """Server output is well-formed (RFC 3501 §7): every response starts with "*", "+" or a tag;
    a status response's text runs to the CRLF, its [code] balanced; in data responses parentheses
    balance on each line, quoted strings hold no CR or LF, literals are as long as announced."""
    i = 0
    while i < len(data):
        status = _STATUS.match(data, i)
        if data.startswith(b"+", i) or status:
            if status and data.startswith(b"[", status.end()):
                i = _scan(data, status.end(), stop=b"]")  # the response code is structured
            end = data.find(b"\r\n", i)
            assert end >= 0, data[i:i + 80]
            i = end + 2  # resp-text is free text up to the line end
            continue
        assert re.match(rb"\* [^ \r\n]", data[i:i + 3]), data[i:i + 80]
        i = _scan(data, i, stop=b"\r\n") + 2


def _scan(data: bytes, i: int, *, stop: bytes) -> int:
    """Walk structured response data from ``i``; return the index of ``stop`` at depth 0."""
    depth = 0
    while True:
        assert i < len(data), data[-80:]
        c = data[i:i + 1]
        if c == b'"':
            j = i + 1
            while data[j:j + 1] != b'"':
                assert data[j:j + 1] not in (b"\r", b"\n", b""), data[i:i + 60]
                j += 2 if data[j:j + 1] == b"\\" else 1
            i = j + 1
            continue
        literal = re.match(rb"~?\{(\d+)\}\r\n", data[i:i + 30]) if c in (b"{", b"~") else None
        if literal:
            i += literal.end() + int(literal.group(1))
            continue
        if data.startswith(stop, i) and depth == 0:
            return i
        if c == b"(":
            depth += 1
        elif c == b")":
            depth -= 1
            assert depth >= 0, data[max(0, i - 60):i + 10]
        assert not (c == b"\r" and depth), data[max(0, i - 80):i + 2]  # a line ends inside a list
        i += 1


IMAP_MESSAGES = [
    b"From: Alice <alice@alpha.test>\r\nTo: bob@beta.test\r\nSubject: hi\r\n\r\nhello\r\n",
    b"Content-Type: multipart/mixed; boundary=\"b\r\n c\"\r\n\r\n--b c\r\nContent-Type: text/plain\r\n\r\none\r\n"
    b"--b c\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\nin\r\n--b c--\r\n",
    b"Subject: =?utf-8?b?0L/RgNC40LLQtdGC?=\r\nFrom: <user-from (c)@ (c) domain.org>, user@d (Real Name)\r\n\r\n",
]


def imap_session(mailbox: MemoryMailbox) -> tuple[ImapSession, list[bytes]]:
    session = ImapSession(tls_available=True, output_budget=4096)
    sent = [e.data for e in session.greeting() if isinstance(e, Send)]
    return session, sent


def run_imap(session: ImapSession, mailbox: MemoryMailbox, effects: list[Any], sent: list[bytes]) -> bool:
    """Carry out effects as the adapter does; True once the session asked to close."""
    queue = list(effects)
    closed = False
    while queue:
        effect = queue.pop(0)
        if isinstance(effect, Send):
            assert not closed, "output after Close"
            sent.append(effect.data)
        elif isinstance(effect, ImapAuthenticate):
            ok = effect.password == "secret"
            queue += session.login_result(mailbox if ok else None)
        elif isinstance(effect, ImapStartTls):
            session.tls_started()
        elif isinstance(effect, ImapClose):
            closed = True
        if not queue and session.pending:
            queue += session.resume()
    return closed


@fuzz(200)
@given(data=IMAP_INPUT, select=st.booleans(), cuts=CUTS)
@example(data=DEEP, select=True, cuts=[])
@example(data=[b"a1 CREATE a\xb3\r\n", b'a2 CREATE "a\xb3"\r\n', b"a3 CREATE {2}\r\na\xb3\r\n",
               b"a4 FETCH 1 BODY[HEADER.FIELDS (\xb3 X-\xff)]\r\n"], select=True, cuts=[])  # atheris, fixed by C
@example(data=[b"a SELECT a[b\r\n", b"b FETCH 1:* (BODYSTRUCTURE BODY[2.1] ENVELOPE)\r\n",
               b"c SEARCH FROM domain.org\r\n", b"d CREATE ../../../etc\r\n", b"e CREATE &AC4ALg-\r\n"],
         select=True, cuts=[])
def test_imap_session_takes_any_commands(data: list[bytes], select: bool, cuts: list[int]) -> None:
    drive_imap_session(b"".join(data), select, cuts)


def drive_imap_session(data: bytes, select: bool, cuts: list[int]) -> None:
    """A logged-in IMAP session (SELECTed or not) fed ``data``: well-formed output, still answering."""
    mailbox = MemoryMailbox("bob@beta.test", clock=lambda: 1_700_000_000.0)
    for message in IMAP_MESSAGES:
        mailbox.append("INBOX", message)
    session, sent = imap_session(mailbox)
    prefix = b"L LOGIN bob@beta.test secret\r\n" + (b"S SELECT INBOX\r\n" if select else b"")
    closed = False
    for piece in split(prefix + data, cuts):
        closed = run_imap(session, mailbox, session.feed(piece), sent)
        if closed:
            break
    output = b"".join(sent)
    check_imap_output(output)
    assert b"L OK" in output
    if closed:
        return
    before = len(sent)
    closed = run_imap(session, mailbox, session.feed(b"\r\n"), sent)  # end the last line, if it was open
    reader = session.reader  # (private state: is a literal or a command's tail still expected?)
    if closed:  # that line was a LOGOUT, or the last one a budget allowed (bad commands, failed logins)
        assert re.search(rb"(^|\r\n)\* BYE ", b"".join(sent[before:])), b"".join(sent)[-300:]
    elif not session.idling and session.sasl is None and reader._need is None and not reader._pieces:
        # whatever came before, a fresh command on a fresh line is still answered
        run_imap(session, mailbox, session.feed(b"Z9 NOOP\r\n"), sent)
        said = b"".join(sent)
        assert re.search(rb"(^|\r\n)Z9 (OK|BAD|NO) |\* BYE [^\r\n]*\r\n$", said), said[-300:]
    check_imap_output(b"".join(sent))


# =============================================================================================
# MIME: IMAP's BODYSTRUCTURE / ENVELOPE / BODY[part] and the webmail's reader
# =============================================================================================

CONTENT_TYPES = st.sampled_from([
    "text/plain", "text/html; charset=utf-8", "text/plain; charset=\"x-unknown\"", "application/pdf; name=a.pdf",
    "image/png", "message/rfc822", "message/delivery-status", "text/plain; format=flowed; delsp=yes", "garbage",
    "text/", "/plain", "multipart/mixed", "text/plain; charset*=utf-8''%E2%82%AC", "text/plain;;;=;\"",
])
ENCODINGS = st.sampled_from(["", "base64", "quoted-printable", "7bit", "8bit", "binary", "x-uuencode", "bogus"])
BOUNDARIES = st.one_of(st.sampled_from(["b", "=_x", "a b", "\"", "--", "b\r\n c", "x" * 80, ""]),
                       st.text(alphabet="abc-_=. '()+,/:?", min_size=1, max_size=12))
HEADER_LINES = st.lists(st.sampled_from([
    b"From: Alice <alice@alpha.test>", b"From: <user-from (comment)@ (comment) domain.org>",
    b"To: undisclosed-recipients:;", b"To: a@b (Real Name), \"q\\\"x\" <q@x>", b"Subject: =?utf-8?q?caf=C3=A9?=",
    b"Subject: =?bogus?x?zz?=", b"Date: Mon, 32 Foo 2024 99:99:99 +9999", b"Content-Disposition: attachment; filename=x",
    b"Content-Disposition: inline; filename*=utf-8''a%20b", b"Content-ID: <img1@x>", b"Message-ID: <1@x>",
    b"In-Reply-To: <", b"X-Folded: a\r\n\tb\r\n c", b"Broken header line", b": empty name", b"\x00\xff: bytes",
    b"Content-Language: en, ru", b"Content-Location: http://x/", b"Sender:", b"Reply-To: ,,,",
]), max_size=5)
BODIES = st.one_of(st.binary(max_size=80), st.sampled_from([
    b"<html><body><script>alert(1)</script><img src=\"cid:img1@x\">hi</body></html>",
    b"=E2=82=AC=\r\nsoft break", b"aGVsbG8=\r\n!!!notbase64", b".\r\n..\r\n", b"\r\n\r\n", b"x" * 1200,
]))


@st.composite
def mime_leaf(draw: st.DrawFn) -> bytes:
    head = draw(HEADER_LINES)
    if draw(st.booleans()):
        head.append(b"Content-Type: " + draw(CONTENT_TYPES).encode())
    encoding = draw(ENCODINGS)
    if encoding:
        head.append(b"Content-Transfer-Encoding: " + encoding.encode())
    return b"\r\n".join(head) + b"\r\n\r\n" + draw(BODIES)


def multipart(children: list[bytes], boundary: str, subtype: str, closed: bool, preamble: bytes) -> bytes:
    b = boundary.encode()
    out = b"Content-Type: multipart/" + subtype.encode() + b"; boundary=\"" + b + b"\"\r\n\r\n" + preamble
    for child in children:
        out += b"\r\n--" + b + b"\r\n" + child
    return out + (b"\r\n--" + b + b"--\r\n" if closed else b"")


MIME_MESSAGES = st.recursive(
    mime_leaf(),
    lambda inner: st.one_of(
        st.builds(multipart, st.lists(inner, max_size=3), BOUNDARIES,
                  st.sampled_from(["mixed", "alternative", "related", "digest", "report"]), st.booleans(),
                  st.sampled_from([b"", b"preamble\r\n"])),
        inner.map(lambda m: b"Content-Type: message/rfc822\r\n\r\n" + m),
    ),
    max_leaves=8,
)


def deep_multipart(depth: int) -> bytes:
    head = b"".join(b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i) for i in range(depth))
    return head + b"Content-Type: text/plain\r\n\r\ndeep\r\n"


def deep_rfc822(depth: int) -> bytes:
    return b"Content-Type: message/rfc822\r\n\r\n" * depth + b"Subject: bottom\r\n\r\nx\r\n"


FETCH_ALL = (b"F FETCH 1 (BODYSTRUCTURE BODY ENVELOPE RFC822.SIZE BODY[1] BODY[1.MIME] BODY[2.1.HEADER] "
             b"BODY[1.2.TEXT] BODY[HEADER.FIELDS (FROM SUBJECT)] BODY[TEXT]<0.50> BODY[3.1.1.1])\r\n")


@fuzz(250)
@given(message=st.one_of(MIME_MESSAGES, st.binary(max_size=300)))
@example(message=deep_multipart(60))
@example(message=deep_rfc822(60))
def test_mime_structure_and_sections_of_any_message(message: bytes) -> None:
    drive_mime(message)


def drive_mime(message: bytes) -> None:
    """IMAP renders any message: BODYSTRUCTURE, ENVELOPE and sections come back well-formed."""
    parse_mime(to_crlf(message))
    mailbox = MemoryMailbox("bob@beta.test", clock=lambda: 1_700_000_000.0)
    mailbox.append("INBOX", message)
    session, sent = imap_session(mailbox)
    run_imap(session, mailbox, session.feed(b"L LOGIN bob@beta.test secret\r\nS SELECT INBOX\r\n" + FETCH_ALL),
             sent)
    output = b"".join(sent)
    check_imap_output(output)
    assert re.search(rb"\r\nF OK ", output), output[-300:]


@fuzz(250)
@given(message=st.one_of(MIME_MESSAGES, st.binary(max_size=300)))
@example(message=deep_multipart(60))
@example(message=deep_rfc822(60))
def test_webmail_reads_any_message(message: bytes) -> None:
    drive_webmail(message)


def drive_webmail(message: bytes) -> None:
    """The webmail's reader gives data for any message: strings, never an exception."""
    shown = read.view(message)
    assert isinstance(shown["text"], str) and isinstance(shown["header_lines"], list)
    assert all(isinstance(v, str) for v in shown["headers"].values())
    markup = read.html(message)
    assert markup is None or isinstance(markup, str)
    for attachment in shown["attachments"]:
        name, ctype, data = read.part(message, attachment["index"])
        assert isinstance(name, str) and isinstance(ctype, str) and isinstance(data, bytes)
    try:
        read.part(message, 10_000)
    except WebmailError as exc:
        assert exc.status == 404
    else:
        raise AssertionError("attachment 10000 found")


# =============================================================================================
# SMTP: the real server on its port
# =============================================================================================

SMTP_LOCALS = st.one_of(
    st.sampled_from(["bob", "Bob.Smith", "a+tag", "o'neil", "x{y}", "\"quoted @ local\"", "\"a b\"", "bob%beta.test",
                     "beta.test!bob", "Postmaster", "ü"]),
    st.sampled_from(["\"\\\"\"", ".bob", "bob.", "b..b", "$(sleep 3)", "b ob", "\"unterminated", "x" * 65,
                     "\"a\x00\"", ""]),
    st.text(alphabet="abz09.!#$%&'*+-/=?^_`{|}~", min_size=1, max_size=12),
    st.text(alphabet="abz09.!#$%&'*+-/=?^_`{|}~\"\\ @<>()[]:;,", max_size=12),
)
SMTP_DOMAINS = st.one_of(
    st.sampled_from(["beta.test", "mx1.beta.test", "[127.0.0.1]", "[IPv6:::1]", "xn--bcher-kva.test", "bücher.test",
                     "a-b.test", "", "localhost"]),
    st.sampled_from(["beta.test.", "-a.test", "a-.test", "a..test", "[IPv6:zz]", "[tag:x]", "[300.1.1.1]",
                     "a_b.test", "a" * 64 + ".test", ".".join(["a" * 60] * 5)]),
    st.lists(st.text(alphabet="az09-", min_size=1, max_size=8), min_size=1, max_size=4).map(".".join),
    st.text(alphabet="az09.-_[]:", max_size=16),
)
SMTP_PATH_ARGS = st.one_of(
    st.binary(max_size=80).map(lambda b: b.decode("utf-8", "surrogateescape")),
    st.builds(lambda kw, route, local, domain, close, params: f"{kw}{route}{local}@{domain}{close}{params}",
              st.sampled_from(["FROM:<", "TO:<", "from: <", "TO:", "FROM:", "<"]),
              st.sampled_from(["", "", "", "@a.test:", "@a,@b:", "@:"]), SMTP_LOCALS, SMTP_DOMAINS,
              st.sampled_from([">", ">", "", ">>", "> "]),
              st.sampled_from(["", "", " SIZE=100", " BODY=8BITMIME SMTPUTF8", " =x", " A=", " NOTIFY=NEVER,SUCCESS",
                               " X=\x00", "  SIZE=1", " SMTPUTF8"])),
    st.builds(lambda kw, local, domain, params: f"{kw}<{local}@{domain}>{params}",   # nearly right
              st.sampled_from(["FROM:", "TO:"]), SMTP_LOCALS, SMTP_DOMAINS,
              st.sampled_from(["", " SMTPUTF8", " SIZE=10 BODY=8BITMIME", " ORCPT=rfc822;bob@beta.test"])),
    st.builds(lambda kw, local, domain: f"{kw}<{local}@{domain}>", st.sampled_from(["FROM:", "TO:"]),
              st.sampled_from(["bob", "a.b", "\"q @ r\"", "b%c", "x!y", "ü", "Postmaster"]),
              st.sampled_from(["beta.test", "[127.0.0.1]", "[IPv6:::1]", "bücher.test", "a" * 63 + ".test"])),
    st.sampled_from(["FROM:<>", "TO:<>", "TO:<Postmaster>", "FROM:<> SIZE=1", "TO:<@a:bob@beta.test>"]),
)
_CONTROLS = re.compile(r"[\x00-\x1f\x7f\udc80-\udcff]")


def drive_smtp_grammar(arg: str, smtputf8: bool) -> None:
    """RFC 5321 §4.1.2 at the SMTP doors: a refusal is 501/553; an accepted path is clean."""
    helo = parse_helo(arg)
    if isinstance(helo, Problem):
        assert helo.code in (501, 553) and helo.status.startswith("5.")
    else:
        assert helo and not _CONTROLS.search(helo) and " " not in helo
    for path in (parse_mail(arg, smtputf8_offered=smtputf8), parse_rcpt(arg, smtputf8=smtputf8)):
        if isinstance(path, Problem):
            assert path.code in (501, 553) and path.status.startswith("5.")
            continue
        for key, value in path.params:
            assert key == key.upper() and key and not _CONTROLS.search(key + (value or "")) and " " not in key
        box = path.mailbox
        if box is None:
            assert path.address == "<>"
            continue
        assert not _CONTROLS.search(str(box))
        assert len(box.local.encode()) <= 64 and len(box.domain.encode()) <= 255
        if not box.quoted:
            assert " " not in box.local and ".." not in box.local and not box.local.startswith(".")
            assert not box.local.endswith(".")
            assert box.routing == any(c in box.local for c in "%!")
        elif "@" in box.local:
            assert box.routing
        if box.literal:
            assert box.domain.startswith("[") and box.domain.endswith("]")
        elif box.domain:
            labels = box.domain.split(".")
            assert all(0 < len(label.encode()) <= 63 and not label.startswith("-") and not label.endswith("-")
                       for label in labels), box.domain
        else:
            assert box.local.lower() == "postmaster"
        if not smtputf8:
            assert str(box).isascii()


@fuzz(500)
@given(arg=SMTP_PATH_ARGS, smtputf8=st.booleans())
@example(arg="FROM:<$(sleep 3)@x.test>", smtputf8=False)
@example(arg="FROM:<a\x00b@x.test>", smtputf8=False)
def test_smtp_grammar_takes_any_argument(arg: str, smtputf8: bool) -> None:
    drive_smtp_grammar(arg, smtputf8)


def drive_fold(line: bytes, width: int) -> None:
    """A relayed text line longer than the limit is folded, never cut: no part over ``width``
    octets, nothing lost (spaces may be added), UTF-8 sequences kept whole."""
    folded = fold_line(line + b"\r\n", width)
    assert folded.endswith(b"\r\n")
    parts = folded[:-2].split(b"\r\n")
    assert all(len(part) <= width for part in parts) or len(line) <= width
    assert folded.replace(b"\r\n", b"").replace(b" ", b"") == line.replace(b" ", b"")
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return
    for part in parts:
        part.decode("utf-8")


@fuzz(300)
@given(line=st.one_of(st.binary(max_size=200).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")),
                      st.text(max_size=80).map(lambda t: t.encode("utf-8", "surrogatepass").replace(b"\r", b"")
                                               .replace(b"\n", b""))),
       width=st.integers(min_value=8, max_value=60))
def test_smtp_long_lines_are_folded_not_cut(line: bytes, width: int) -> None:
    drive_fold(line, width)


def drive_data_text(data: bytes, cuts: list[int], width: int) -> None:
    """The text of one DATA as a door keeps it: CRLF line ends only (a bare CR or LF ends a line
    too), no line over ``width``, the same result however the input is cut, nothing lost."""
    whole = DataText(width=width)
    whole.feed(data)
    expected = whole.result()
    pieces = DataText(width=width)
    for piece in split(data, cuts):
        pieces.feed(piece)
    result = pieces.result()
    assert result == expected  # the cuts of the network change nothing
    assert pieces.size == len(result)
    assert not re.search(rb"\r(?!\n)|(?<!\r)\n", result)  # CRLF only (RFC 5321 §2.3.8)
    lines = result.split(b"\r\n")
    assert lines[-1] == b"" and all(len(line) <= width for line in lines)
    assert result.replace(b"\r\n", b"").replace(b" ", b"") == re.sub(rb"\r\n|\r|\n| ", b"", data)


@fuzz(300)
@given(data=st.one_of(st.binary(max_size=300), st.lists(st.sampled_from(
           [b"\r", b"\n", b"\r\n", b" ", b"word", b"\xc3\xa9", b"x" * 70, b"\t"]), max_size=40).map(b"".join)),
       cuts=CUTS, width=st.integers(min_value=8, max_value=80))
@example(data=b"a\r\nb", cuts=[2], width=8)   # a CR at the end of a piece, its LF at the start of the next
@example(data=b"a\r\rb\n\n" + b"\xc3\xa9" * 20, cuts=[1, 2, 3], width=9)
def test_smtp_data_text_is_crlf_and_bounded_however_it_is_cut(data: bytes, cuts: list[int], width: int) -> None:
    drive_data_text(data, cuts, width)


SMTP_VERBS = ["HELO", "EHLO", "MAIL FROM:", "RCPT TO:", "DATA", "RSET", "NOOP", "QUIT", "VRFY", "EXPN", "HELP",
              "AUTH", "BDAT", "TURN", "ETRN", "XCLIENT", "mail from:", "Rcpt To:", ""]
SMTP_ARGS = st.one_of(
    st.sampled_from(["<bob@beta.test>", "<>", "<alice@alpha.test>", "<bob@beta.test> SIZE=99999999999",
                     "<@a,@b:bob@beta.test>", "<bob%beta.test@mx1.beta.test>", "<beta.test!bob>",
                     "<\"bob@x\"@beta.test>", "<bob@[127.0.0.1]>", "<bob@beta.test.>", "<$(sleep 3)@x.test>",
                     "<bob@beta.test> BODY=8BITMIME SMTPUTF8", "<bob@beta.test> NOTIFY=NEVER ORCPT=rfc822;x",
                     "x.test", "[127.0.0.1]", "a\x00b", "\xff", "PLAIN", "<" * 20, "bob@beta.test"]),
    TEXT,
)


@st.composite
def smtp_lines(draw: st.DrawFn) -> bytes:
    verb = draw(st.sampled_from(SMTP_VERBS))
    arg = draw(SMTP_ARGS)
    sep = "" if verb.endswith(":") else " "
    end = draw(st.sampled_from([b"\r\n", b"\r\n", b"\n", b"\r"]))
    return (verb + sep + arg).encode("utf-8", "surrogateescape") + end


SMTP_INPUT = st.lists(st.one_of(smtp_lines(), smtp_lines(), JUNK, st.just(b"y" * 1500 + b"\r\n")), max_size=12)
REPLY = re.compile(rb"^[2-5][0-9][0-9]([ -].*)?$")


def smtp_dialogue(address: str, port: int, data: bytes) -> list[bytes]:
    """Send the greeting's answer, the fuzz and a way out (end of DATA, QUIT); read until the
    server closes (bounded: a server that holds on is a hang, and fails)."""
    with socket.create_connection((address, port), timeout=10) as sock:
        sock.settimeout(10)
        try:
            sock.sendall(data + b"\r\n.\r\nQUIT\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # closed early (421 after too many errors): allowed
        received = b""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            except TimeoutError:
                raise AssertionError(f"the server held on; it said {received[-300:]!r}") from None
            if not chunk:
                break
            received += chunk
        else:
            raise AssertionError("the server never closed")
    return received.split(b"\r\n")[:-1] if received.endswith(b"\r\n") else received.split(b"\r\n")


@fuzz(100, **NO_SHRINK)
@given(lines=SMTP_INPUT)
@example(lines=[b"HELO a\x00b\r\n", b"MAIL FROM:<$(sleep 3)@x.test>\r\n", b"RCPT TO:<bob@beta.test>\r\n"])
@example(lines=[b"EHLO x.test\r\n", b"MAIL FROM:<>\r\n", b"RCPT TO:<bob@beta.test>\r\n", b"DATA\r\n",
                b"Subject: x\r\n\r\n" + b"z" * 3000 + b"\r\nbare\rcr\nlf\r\n"])
def test_smtp_server_answers_any_dialogue(world: Any, lines: list[bytes]) -> None:
    address, port = world.address("mx1.beta.test"), world.port("mx", "mx1.beta.test")
    replies = smtp_dialogue(address, port, b"".join(lines))
    assert replies and replies[0].startswith(b"220 ")
    for reply in replies:
        assert REPLY.match(reply), replies
    assert replies[-1][3:4] == b" ", replies[-3:]  # the last reply is complete: then the server closed
