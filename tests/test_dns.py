"""The authoritative DNS: ``Authority.answer`` as tables without sockets, then the real server on
127.0.0.1 (port 0) judged by dnspython's own clients, raw sockets and ``dig``."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import struct
import subprocess
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import dns.asyncquery
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.resolver
import dns.rrset
import dns.tsigkeyring
import dns.update
import pytest

from simulator.protocols.dns import Authority, DnsServer, QueryRecord, Record, handle_wire, respond

T = TypeVar("T")
HOST = "127.0.0.1"
TIMEOUT = 5.0

BETA = [
    Record("beta.test", "MX", "10 mx1.beta.test."),
    Record("beta.test", "MX", "20 mx2.beta.test."),
    Record("beta.test", "TXT", '"v=spf1 mx -all"'),
    Record("ns.beta.test", "A", "127.42.2.53"),
    Record("mx1.beta.test", "A", "127.42.2.1"),
    Record("mx1.beta.test", "AAAA", "::1"),
    Record("mx2.beta.test", "A", "127.42.2.2"),
    Record("www.beta.test", "CNAME", "mx1.beta.test."),
    Record("web.beta.test", "CNAME", "www.beta.test."),
    Record("ext.beta.test", "CNAME", "mail.example.com."),
    Record("gone.beta.test", "CNAME", "nothing.beta.test."),
    Record("loop1.beta.test", "CNAME", "loop2.beta.test."),
    Record("loop2.beta.test", "CNAME", "loop1.beta.test."),
    Record("cross.beta.test", "CNAME", "mx.alpha.test."),
    Record("host.deep.beta.test", "A", "127.42.2.9"),  # makes deep.beta.test an empty non-terminal
]
ALPHA = [
    Record("alpha.test", "MX", "10 mx.alpha.test."),
    Record("mx.alpha.test", "A", "127.42.1.1", ttl=60),
]
NULL = [Record("null.test", "MX", "0 .")]  # RFC 7505: this domain accepts no mail
BIG_TXT = [Record("big.test", "TXT", f'"record {i:02d} padding-padding-padding-padding"') for i in range(40)]
BETA_MX = {"beta.test. MX 10 mx1.beta.test.", "beta.test. MX 20 mx2.beta.test."}


def make_authority() -> Authority:
    authority = Authority()
    authority.set_zone("beta.test", BETA)
    authority.set_zone("alpha.test", ALPHA)
    authority.set_zone("null.test", NULL)
    authority.set_zone("big.test", BIG_TXT)
    return authority


def ask(authority: Authority, qname: str, rdtype: str, **kw: Any) -> dns.message.Message:
    return authority.answer(dns.message.make_query(qname, rdtype, **kw))


def lines(rrsets: list[Any]) -> set[str]:
    """Every RR as ``name type rdata`` (no TTL, lower case) for easy comparison."""
    out = set()
    for rrset in rrsets:
        for rdata in rrset:
            name = rrset.name.to_text().lower()
            out.add(f"{name} {dns.rdatatype.to_text(rrset.rdtype)} {rdata.to_text()}")
    return out


def types(rrsets: list[Any]) -> list[str]:
    return [dns.rdatatype.to_text(rrset.rdtype) for rrset in rrsets]


# =============================================================================================
# answer() without sockets
# =============================================================================================

SOA = ["SOA"]
# qname, qtype, rcode, answer lines, authority types
ANSWERS = [
    ("mx1.beta.test", "A", "NOERROR", {"mx1.beta.test. A 127.42.2.1"}, []),
    ("mx1.beta.test", "AAAA", "NOERROR", {"mx1.beta.test. AAAA ::1"}, []),
    ("beta.test", "TXT", "NOERROR", {'beta.test. TXT "v=spf1 mx -all"'}, []),
    ("MX1.Beta.TEST", "A", "NOERROR", {"mx1.beta.test. A 127.42.2.1"}, []),  # case-insensitive
    ("nope.beta.test", "A", "NXDOMAIN", set(), SOA),  # RFC 2308 §2.1
    ("a.b.nope.beta.test", "MX", "NXDOMAIN", set(), SOA),
    ("mx2.beta.test", "AAAA", "NOERROR", set(), SOA),  # NODATA, RFC 2308 §2.2
    ("beta.test", "A", "NOERROR", set(), SOA),
    ("deep.beta.test", "A", "NOERROR", set(), SOA),  # empty non-terminal: NODATA, not NXDOMAIN
    ("www.beta.test", "A", "NOERROR",
     {"www.beta.test. CNAME mx1.beta.test.", "mx1.beta.test. A 127.42.2.1"}, []),
    ("www.beta.test", "CNAME", "NOERROR", {"www.beta.test. CNAME mx1.beta.test."}, []),
    (
        "web.beta.test",
        "A",
        "NOERROR",
        {
            "web.beta.test. CNAME www.beta.test.",
            "www.beta.test. CNAME mx1.beta.test.",
            "mx1.beta.test. A 127.42.2.1",
        },
        [],
    ),
    ("www.beta.test", "TXT", "NOERROR", {"www.beta.test. CNAME mx1.beta.test."}, SOA),  # chain ends in NODATA
    ("gone.beta.test", "A", "NXDOMAIN", {"gone.beta.test. CNAME nothing.beta.test."}, SOA),  # RFC 6604
    ("ext.beta.test", "A", "NOERROR", {"ext.beta.test. CNAME mail.example.com."}, []),  # left to the client
    ("cross.beta.test", "A", "NOERROR",
     {"cross.beta.test. CNAME mx.alpha.test.", "mx.alpha.test. A 127.42.1.1"}, []),
    ("null.test", "MX", "NOERROR", {"null.test. MX 0 ."}, []),  # RFC 7505 null MX
    ("example.com", "A", "REFUSED", set(), []),
    ("localhost", "A", "REFUSED", set(), []),
    ("1.0.0.127.in-addr.arpa", "PTR", "REFUSED", set(), []),
    ("test", "SOA", "REFUSED", set(), []),  # the parent of our zones is not ours
    ("beta.test.example.com", "A", "REFUSED", set(), []),
    ("beta.test", "AXFR", "REFUSED", set(), []),  # no zone transfers
]


@pytest.mark.parametrize(("qname", "qtype", "rcode", "answer", "authority"), ANSWERS)
def test_answer_table(qname: str, qtype: str, rcode: str, answer: set[str], authority: list[str]) -> None:
    response = ask(make_authority(), qname, qtype)
    assert dns.rcode.to_text(response.rcode()) == rcode
    assert lines(response.answer) == answer
    assert types(response.authority) == authority
    assert not response.flags & dns.flags.RA  # never recursion
    assert bool(response.flags & dns.flags.AA) == (rcode != "REFUSED")


def test_mx_answer_carries_addresses_of_the_exchanges() -> None:
    response = ask(make_authority(), "beta.test", "MX")
    assert response.rcode() == dns.rcode.NOERROR
    assert response.flags & dns.flags.QR and response.flags & dns.flags.AA
    assert not response.flags & dns.flags.RA
    assert lines(response.answer) == BETA_MX
    assert lines(response.additional) == {
        "mx1.beta.test. A 127.42.2.1",
        "mx1.beta.test. AAAA ::1",
        "mx2.beta.test. A 127.42.2.2",
    }


def test_ns_answer_carries_glue_that_the_caller_gave() -> None:
    response = ask(make_authority(), "beta.test", "NS")
    assert lines(response.answer) == {"beta.test. NS ns.beta.test."}
    assert lines(response.additional) == {"ns.beta.test. A 127.42.2.53"}


def test_null_mx_has_no_additional_section() -> None:
    response = ask(make_authority(), "null.test", "MX")
    (rrset,) = response.answer
    assert rrset[0].preference == 0 and rrset[0].exchange == dns.name.root
    assert response.additional == []


def test_negative_answers_use_the_soa_minimum_as_ttl() -> None:
    authority = Authority()
    soa = "ns.beta.test. hostmaster.beta.test. 7 60 30 3600 2"
    authority.set_zone("beta.test", [Record("beta.test", "SOA", soa, ttl=300)])
    (rrset,) = ask(authority, "nope.beta.test", "A").authority
    assert rrset.ttl == 2  # RFC 2308 §3: min(SOA TTL, MINIMUM)


def test_cname_loop_stops() -> None:
    response = ask(make_authority(), "loop1.beta.test", "A")
    assert response.rcode() == dns.rcode.NOERROR
    assert lines(response.answer) == {
        "loop1.beta.test. CNAME loop2.beta.test.",
        "loop2.beta.test. CNAME loop1.beta.test.",
    }


def test_any_returns_every_rrset_of_the_name() -> None:
    response = ask(make_authority(), "beta.test", "ANY")
    assert sorted(types(response.answer)) == ["MX", "NS", "SOA", "TXT"]
    assert response.flags & dns.flags.AA


def test_answer_keeps_the_case_of_the_question() -> None:
    response = ask(make_authority(), "MX1.Beta.Test", "A")
    assert response.answer[0].name.to_text() == "MX1.Beta.Test."
    assert response.question[0].name.to_text() == "MX1.Beta.Test."


def test_the_closest_enclosing_zone_answers() -> None:
    authority = make_authority()
    authority.set_zone("sub.beta.test", [Record("host.sub.beta.test", "A", "127.42.9.9")])
    assert lines(ask(authority, "host.sub.beta.test", "A").answer) == {"host.sub.beta.test. A 127.42.9.9"}
    (soa,) = ask(authority, "nope.sub.beta.test", "A").authority
    assert soa.name == dns.name.from_text("sub.beta.test")


def _two_questions() -> dns.message.Message:
    query = dns.message.make_query("beta.test", "MX")
    second = dns.name.from_text("alpha.test")
    query.find_rrset(query.question, second, dns.rdataclass.IN, dns.rdatatype.MX, create=True)
    return query


def _no_question() -> dns.message.Message:
    query = dns.message.Message()
    query.flags = dns.flags.RD
    return query


def _opcode(opcode: dns.opcode.Opcode) -> dns.message.Message:
    query = dns.message.make_query("beta.test", "A")
    query.set_opcode(opcode)
    return query


def _update() -> dns.message.Message:
    update = dns.update.UpdateMessage("beta.test")
    update.add("new", 5, "A", "127.0.0.9")
    return update


HEADER_CASES = [
    ("STATUS opcode", lambda: _opcode(dns.opcode.STATUS), dns.rcode.NOTIMP),  # RFC 1035 §4.1.1
    ("NOTIFY opcode", lambda: _opcode(dns.opcode.NOTIFY), dns.rcode.NOTIMP),
    ("UPDATE", _update, dns.rcode.REFUSED),  # RFC 2136 §3.3.2: nobody updates our zones
    ("two questions", _two_questions, dns.rcode.FORMERR),
    ("no question", _no_question, dns.rcode.FORMERR),
    ("EDNS version 1", lambda: dns.message.make_query("beta.test", "A", use_edns=1), dns.rcode.BADVERS),
    ("class CH", lambda: dns.message.make_query("version.bind", "TXT", "CH"), dns.rcode.REFUSED),
    ("OPT as qtype", lambda: dns.message.make_query("beta.test", "OPT"), dns.rcode.FORMERR),
]


@pytest.mark.parametrize(("case", "make", "rcode"), HEADER_CASES, ids=[case[0] for case in HEADER_CASES])
def test_header_level_errors(case: str, make: Any, rcode: dns.rcode.Rcode) -> None:
    query = make()
    response = make_authority().answer(query)
    assert response.rcode() == rcode
    assert response.id == query.id
    assert response.answer == [] and not response.flags & dns.flags.AA
    # and it renders, so it can be sent
    wire = respond(make_authority(), query.to_wire(), max_udp=None)
    assert wire is not None and dns.message.from_wire(wire).rcode() == rcode


def test_signed_query_gets_notauth() -> None:
    query = dns.message.make_query("beta.test", "A")
    query.use_tsig(dns.tsigkeyring.from_text({"key.": "c2VjcmV0c2VjcmV0"}), keyname="key.")
    wire = respond(make_authority(), query.to_wire(), max_udp=512)
    assert wire is not None
    assert dns.message.from_wire(wire).rcode() == dns.rcode.NOTAUTH  # RFC 8945 §5.2.2: no keys here


# -- zone editing -------------------------------------------------------------------------------


def test_set_zone_adds_soa_and_ns_but_no_address_for_the_name_server() -> None:
    authority = Authority()
    authority.set_zone("gamma.test.", [Record("gamma.test", "MX", "10 mx.gamma.test")])
    (soa,) = ask(authority, "gamma.test", "SOA").answer
    assert soa[0].mname.to_text() == "ns.gamma.test." and soa[0].rname.to_text() == "hostmaster.gamma.test."
    assert soa.ttl <= 60 and soa[0].minimum <= 60
    assert lines(ask(authority, "gamma.test", "NS").answer) == {"gamma.test. NS ns.gamma.test."}
    assert ask(authority, "ns.gamma.test", "A").rcode() == dns.rcode.NXDOMAIN
    # rdata names are absolute with or without the trailing dot
    assert lines(ask(authority, "gamma.test", "MX").answer) == {"gamma.test. MX 10 mx.gamma.test."}
    assert authority.zones() == ["gamma.test"]


def test_serial_grows_on_every_replace() -> None:
    authority = Authority()
    authority.set_zone("beta.test", BETA)
    first = authority.serial("beta.test")
    authority.set_zone("beta.test", BETA)
    second = authority.serial("beta.test")
    soa = "ns.beta.test. hostmaster.beta.test. 1000 60 30 3600 5"
    authority.set_zone("beta.test", [Record("beta.test", "SOA", soa)])
    third = authority.serial("beta.test")
    authority.set_zone("beta.test", [Record("beta.test", "SOA", soa)])  # same serial given: bumped
    fourth = authority.serial("beta.test")
    authority.remove_zone("beta.test")
    authority.set_zone("beta.test", BETA)
    fifth = authority.serial("beta.test")
    assert first is not None and second is not None
    assert first < second < third == 1000 < fourth < (fifth or 0)
    assert ask(authority, "beta.test", "SOA").answer[0][0].serial == fifth


def test_replace_and_remove_are_seen_by_the_next_answer() -> None:
    authority = make_authority()
    authority.set_zone(
        "beta.test", [Record("beta.test", "MX", "5 mx9.beta.test."), Record("mx9.beta.test", "A", "127.42.2.9")]
    )
    response = ask(authority, "beta.test", "MX")
    assert lines(response.answer) == {"beta.test. MX 5 mx9.beta.test."}
    assert lines(response.additional) == {"mx9.beta.test. A 127.42.2.9"}
    assert ask(authority, "mx1.beta.test", "A").rcode() == dns.rcode.NXDOMAIN
    authority.remove_zone("beta.test")
    authority.remove_zone("never.test")  # unknown: no-op
    assert ask(authority, "beta.test", "MX").rcode() == dns.rcode.REFUSED
    assert authority.zones() == ["alpha.test", "big.test", "null.test"]


BAD_ZONES = [
    ("outside the zone", "beta.test", [Record("mx.alpha.test", "A", "127.0.0.1")]),
    ("bad address", "beta.test", [Record("beta.test", "A", "127.0.0")]),
    ("unknown type", "beta.test", [Record("beta.test", "BOGUS", "1")]),
    ("meta type", "beta.test", [Record("beta.test", "ANY", "1")]),
    ("unterminated TXT", "beta.test", [Record("beta.test", "TXT", '"v=spf1')]),
    ("CNAME beside data", "beta.test", [Record("w.beta.test", "CNAME", "x.beta.test."), Record("w.beta.test", "A", "1.2.3.4")]),
    ("two CNAMEs", "beta.test", [Record("w.beta.test", "CNAME", "x.beta.test."), Record("w.beta.test", "CNAME", "y.test.")]),
    ("CNAME at apex", "beta.test", [Record("beta.test", "CNAME", "alpha.test.")]),
    ("SOA below apex", "beta.test", [Record("x.beta.test", "SOA", "a. b. 1 2 3 4 5")]),
    ("two SOAs", "beta.test",
     [Record("beta.test", "SOA", "a. b. 1 2 3 4 5"), Record("beta.test", "SOA", "c. d. 1 2 3 4 5")]),
    ("delegation", "beta.test", [Record("sub.beta.test", "NS", "ns.sub.beta.test.")]),
    ("wildcard", "beta.test", [Record("*.beta.test", "A", "127.0.0.1")]),
    ("negative TTL", "beta.test", [Record("beta.test", "A", "127.0.0.1", ttl=-1)]),
    ("root zone", ".", []),
    ("bad origin", "a..b", []),
]


@pytest.mark.parametrize(("case", "origin", "records"), BAD_ZONES, ids=[case[0] for case in BAD_ZONES])
def test_set_zone_rejects_what_it_cannot_serve(case: str, origin: str, records: list[Record]) -> None:
    authority = make_authority()
    before = lines(ask(authority, "beta.test", "MX").answer)
    with pytest.raises(ValueError):
        authority.set_zone(origin, records)
    assert lines(ask(authority, "beta.test", "MX").answer) == before  # the old zone is untouched


def test_mx_pointing_at_a_cname_is_served_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    authority = Authority()
    alias = Record("alias.beta.test", "CNAME", "x.beta.test.")
    authority.set_zone("beta.test", [Record("beta.test", "MX", "10 alias.beta.test."), alias])
    assert "RFC 2181" in caplog.text
    assert lines(ask(authority, "beta.test", "MX").answer) == {"beta.test. MX 10 alias.beta.test."}


def test_answers_stay_consistent_while_a_zone_is_replaced() -> None:
    """answer() in one thread, set_zone() in another: every answer comes from one whole zone."""
    authority = Authority()
    versions = [[Record("beta.test", "TXT", f'"v{n}"'), Record("beta.test", "A", f"127.0.0.{n}")]
                for n in (1, 2)]
    authority.set_zone("beta.test", versions[0])
    stop = threading.Event()

    def writer() -> None:
        for i in range(400):
            authority.set_zone("beta.test", versions[i % 2])
        stop.set()

    thread = threading.Thread(target=writer)
    thread.start()
    for _ in range(20000):
        answer = lines(ask(authority, "beta.test", "ANY").answer)
        txt = next(line for line in answer if " TXT " in line)
        address = next(line for line in answer if " A " in line)
        assert txt[-2] == address[-1]
        if stop.is_set():
            break
    thread.join(TIMEOUT)
    assert not thread.is_alive()


# -- respond(): parsing, sizes, failures --------------------------------------------------------


def test_garbage_with_a_readable_header_gets_formerr() -> None:
    # one question announced, and its name runs off the end
    wire = struct.pack("!HHHHHH", 0xBEEF, 0x0100, 1, 0, 0, 0) + b"\x07garbage"
    out = respond(make_authority(), wire, max_udp=512)
    assert out is not None
    response = dns.message.from_wire(out)
    assert response.id == 0xBEEF and response.rcode() == dns.rcode.FORMERR
    assert response.flags & dns.flags.QR and response.flags & dns.flags.RD


@pytest.mark.parametrize(
    "wire",
    [b"", b"\x12", b"\x00" * 11, dns.message.make_response(dns.message.make_query("a.test", "A")).to_wire()],
    ids=["empty", "one octet", "short header", "a response"],
)
def test_unreadable_packets_and_responses_are_dropped(wire: bytes) -> None:
    assert respond(make_authority(), wire, max_udp=512) is None


# edns payload (None: no EDNS), max_udp (None: TCP), expected size limit, truncated?
SIZES = [
    (None, 1232, 512, True),  # RFC 1035 §4.2.1
    (4096, 1232, 1232, True),  # our cap
    (1200, 4096, 1200, True),  # the requester's payload
    (4096, 8192, 4096, False),
    (100, 1232, 512, True),  # RFC 6891 §6.2.5: below 512 counts as 512
    (None, None, 65535, False),  # TCP
]


@pytest.mark.parametrize(("payload", "max_udp", "limit", "truncated"), SIZES)
def test_size_limits_and_truncation(
    payload: int | None, max_udp: int | None, limit: int, truncated: bool
) -> None:
    if payload is None:
        query = dns.message.make_query("big.test", "TXT")
    else:
        query = dns.message.make_query("big.test", "TXT", use_edns=0, payload=payload)
    reply = handle_wire(make_authority(), query.to_wire(), max_udp=max_udp)
    assert reply is not None
    full = len(reply.response.to_wire(max_size=65535))
    assert 1232 < full < 4096  # big.test is built to need truncation below 1232, not at 4096
    assert len(reply.wire) <= limit
    assert reply.truncated is truncated
    sent = dns.message.from_wire(reply.wire)
    assert bool(sent.flags & dns.flags.TC) is truncated
    assert len(lines(sent.answer)) == (0 if truncated else 40)


class BrokenAuthority(Authority):
    def answer(self, query: dns.message.Message) -> dns.message.Message:
        if query.question and query.question[0].name == dns.name.from_text("boom.beta.test"):
            raise RuntimeError("injected fault")
        return super().answer(query)


def test_a_failing_answer_becomes_servfail(caplog: pytest.LogCaptureFixture) -> None:
    authority = BrokenAuthority()
    authority.set_zone("beta.test", BETA)
    query = dns.message.make_query("boom.beta.test", "A")
    out = respond(authority, query.to_wire(), max_udp=512)
    assert out is not None
    response = dns.message.from_wire(out)
    assert response.id == query.id and response.rcode() == dns.rcode.SERVFAIL
    assert "injected fault" in caplog.text


# =============================================================================================
# The server on real sockets
# =============================================================================================


class LoopThread:
    """An asyncio loop in its own thread, as the mail stack runs it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(TIMEOUT)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(TIMEOUT)
        self.loop.close()


@dataclass
class Running:
    authority: Authority
    server: DnsServer
    loops: LoopThread
    records: list[QueryRecord] = field(default_factory=list)

    @property
    def port(self) -> int:
        return self.server.port

    def set_zone(self, origin: str, records: list[Record]) -> None:
        async def edit() -> None:  # from the loop thread, as the runtime does it
            self.authority.set_zone(origin, records)

        self.loops.run(edit())


@pytest.fixture
def loops() -> Iterator[LoopThread]:
    thread = LoopThread()
    yield thread
    thread.close()


def start_server(loops: LoopThread, authority: Authority, **kw: Any) -> Running:
    records: list[QueryRecord] = []

    async def make() -> DnsServer:
        server = DnsServer(authority, HOST, 0, records.append, **kw)
        await server.start()
        return server

    return Running(authority, loops.run(make()), loops, records)


@pytest.fixture
def running(loops: LoopThread) -> Iterator[Running]:
    running = start_server(loops, make_authority())
    yield running
    loops.run(running.server.stop())


def resolver(port: int) -> dns.resolver.Resolver:
    res = dns.resolver.Resolver(configure=False)  # never the system resolver
    res.nameservers = [HOST]
    res.port = port
    res.lifetime = TIMEOUT
    res.timeout = TIMEOUT
    return res


def udp(running: Running, qname: str, rdtype: str, **kw: Any) -> dns.message.Message:
    query = dns.message.make_query(qname, rdtype, **kw)
    return dns.query.udp(query, HOST, timeout=TIMEOUT, port=running.port)


def tcp_socket(port: int) -> socket.socket:
    sock = socket.create_connection((HOST, port), timeout=TIMEOUT)
    return sock


def recv_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError(f"closed after {len(data)} of {n} octets")
        data += chunk
    return data


def tcp_exchange(sock: socket.socket, wire: bytes) -> dns.message.Message:
    sock.sendall(len(wire).to_bytes(2, "big") + wire)
    (length,) = struct.unpack("!H", recv_exact(sock, 2))
    return dns.message.from_wire(recv_exact(sock, length))


def tcp_rcode(sock: socket.socket, qname: str, rdtype: str) -> dns.rcode.Rcode:
    return tcp_exchange(sock, dns.message.make_query(qname, rdtype).to_wire()).rcode()


def assert_closed_by_server(sock: socket.socket) -> None:
    try:
        assert sock.recv(1) == b""
    except ConnectionResetError:
        pass


def test_udp_mx_with_additional_addresses(running: Running) -> None:
    response = udp(running, "beta.test", "MX")
    assert response.rcode() == dns.rcode.NOERROR
    assert response.flags & dns.flags.AA and not response.flags & dns.flags.RA
    assert lines(response.answer) == BETA_MX
    assert {"mx1.beta.test. A 127.42.2.1", "mx2.beta.test. A 127.42.2.2"} <= lines(response.additional)


def test_resolver_answers_and_negative_answers(running: Running) -> None:
    res = resolver(running.port)
    assert [r.to_text() for r in res.resolve("mx1.beta.test", "A")] == ["127.42.2.1"]
    assert [r.to_text() for r in res.resolve("beta.test", "TXT")] == ['"v=spf1 mx -all"']
    (soa,) = res.resolve("beta.test", "SOA")
    assert soa.mname.to_text() == "ns.beta.test."
    assert sorted(r.to_text() for r in res.resolve("beta.test", "MX")) == [
        "10 mx1.beta.test.", "20 mx2.beta.test.",
    ]
    assert [r.to_text() for r in res.resolve("null.test", "MX")] == ["0 ."]
    with pytest.raises(dns.resolver.NXDOMAIN):
        res.resolve("nope.beta.test", "A")
    with pytest.raises(dns.resolver.NoAnswer):
        res.resolve("mx2.beta.test", "AAAA")


def test_negative_answers_on_the_wire_carry_the_soa(running: Running) -> None:
    nxdomain = udp(running, "nope.beta.test", "A")
    assert nxdomain.rcode() == dns.rcode.NXDOMAIN and nxdomain.flags & dns.flags.AA
    assert types(nxdomain.authority) == ["SOA"]
    nodata = udp(running, "mx2.beta.test", "AAAA")
    assert nodata.rcode() == dns.rcode.NOERROR and nodata.answer == []
    assert types(nodata.authority) == ["SOA"]


def test_names_outside_the_sandbox_are_refused(running: Running) -> None:
    for name in ("example.com", "localhost", "2.42.127.in-addr.arpa"):
        response = udp(running, name, "A")
        assert response.rcode() == dns.rcode.REFUSED
        assert not response.flags & dns.flags.RA and response.answer == []


def test_async_clients_over_udp_and_tcp(running: Running) -> None:
    async def both() -> tuple[dns.message.Message, dns.message.Message]:
        query = dns.message.make_query("mx1.beta.test", "A", use_edns=0)
        return (
            await dns.asyncquery.udp(query, HOST, timeout=TIMEOUT, port=running.port),
            await dns.asyncquery.tcp(query, HOST, timeout=TIMEOUT, port=running.port),
        )

    by_udp, by_tcp = asyncio.run(both())
    assert lines(by_udp.answer) == lines(by_tcp.answer) == {"mx1.beta.test. A 127.42.2.1"}
    assert by_udp.edns == 0  # EDNS is mirrored


def test_truncation_over_udp_then_the_resolver_retries_over_tcp(running: Running) -> None:
    response = udp(running, "big.test", "TXT")  # no EDNS: 512 octets
    assert response.flags & dns.flags.TC
    running.records.clear()
    answer = resolver(running.port).resolve("big.test", "TXT")
    assert len(answer) == 40
    assert [(r.transport, r.truncated) for r in running.records] == [("udp", True), ("tcp", False)]
    assert running.records[0].answer == ()  # nothing of the RRset fitted
    assert len(running.records[1].answer) == 40


def test_set_zone_is_seen_by_the_next_query(running: Running) -> None:
    assert lines(udp(running, "beta.test", "MX").answer) == BETA_MX
    running.set_zone("beta.test", [Record("beta.test", "MX", "0 .")])
    assert lines(udp(running, "beta.test", "MX").answer) == {"beta.test. MX 0 ."}
    running.set_zone("delta.test", [Record("delta.test", "A", "127.42.4.1")])
    assert lines(udp(running, "delta.test", "A").answer) == {"delta.test. A 127.42.4.1"}


def test_garbage_gets_formerr_and_the_server_keeps_answering(running: Running) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(TIMEOUT)
        sock.sendto(b"\x00\x01", (HOST, running.port))  # unreadable: dropped
        sock.sendto(struct.pack("!HHHHHH", 0x4242, 0x0100, 1, 0, 0, 0) + b"\xff\xff", (HOST, running.port))
        data, _ = sock.recvfrom(4096)  # the only reply is to the second packet
    response = dns.message.from_wire(data)
    assert response.id == 0x4242 and response.rcode() == dns.rcode.FORMERR
    assert udp(running, "mx1.beta.test", "A").rcode() == dns.rcode.NOERROR
    assert running.records[0].rcode == "FORMERR" and running.records[0].qname == ""


def test_tcp_two_queries_on_one_connection(running: Running) -> None:
    with tcp_socket(running.port) as sock:
        first = dns.message.make_query("beta.test", "MX")
        second = dns.message.make_query("mx2.beta.test", "A")
        # both sent before reading: answered in order (RFC 7766 §6.2.1.1)
        sock.sendall(b"".join(len(w).to_bytes(2, "big") + w for w in (first.to_wire(), second.to_wire())))
        replies = []
        for _ in range(2):
            (length,) = struct.unpack("!H", recv_exact(sock, 2))
            replies.append(dns.message.from_wire(recv_exact(sock, length)))
        third = tcp_exchange(sock, dns.message.make_query("nope.beta.test", "A").to_wire())
    assert [r.id for r in replies] == [first.id, second.id]
    assert lines(replies[0].answer) == BETA_MX
    assert lines(replies[1].answer) == {"mx2.beta.test. A 127.42.2.2"}
    assert third.rcode() == dns.rcode.NXDOMAIN
    assert [r.transport for r in running.records] == ["tcp"] * 3


def test_tcp_many_pipelined_queries_are_answered_in_order(running: Running) -> None:
    """RFC 7766 §6.2.1.1: twenty queries in one write, some of them split across two; twenty
    answers, in the order asked, each with its own ID and its own rcode."""
    names = [("beta.test", "MX", dns.rcode.NOERROR), ("example.com", "A", dns.rcode.REFUSED),
             ("nope.beta.test", "A", dns.rcode.NXDOMAIN), ("beta.test", "AXFR", dns.rcode.REFUSED)] * 5
    queries = [dns.message.make_query(name, rdtype) for name, rdtype, _ in names]
    stream = b"".join(len(w).to_bytes(2, "big") + w for w in (q.to_wire() for q in queries))
    with tcp_socket(running.port) as sock:
        half = len(stream) // 2 + 1  # in the middle of a message
        sock.sendall(stream[:half])
        sock.sendall(stream[half:])
        replies = []
        for _ in queries:
            (length,) = struct.unpack("!H", recv_exact(sock, 2))
            replies.append(dns.message.from_wire(recv_exact(sock, length)))
    assert [r.id for r in replies] == [q.id for q in queries]
    assert [r.rcode() for r in replies] == [rcode for _, _, rcode in names]
    assert not any(r.flags & dns.flags.RA for r in replies)


def test_update_and_zone_transfers_are_refused_on_the_wire(running: Running) -> None:
    update = _update()
    assert dns.query.udp(update, HOST, timeout=TIMEOUT, port=running.port).rcode() == dns.rcode.REFUSED
    assert dns.query.tcp(update, HOST, timeout=TIMEOUT, port=running.port).rcode() == dns.rcode.REFUSED
    with tcp_socket(running.port) as sock:
        for rdtype in ("AXFR", "IXFR"):
            query = dns.message.make_query("beta.test", rdtype)
            if rdtype == "IXFR":  # RFC 1995 §3: the client's SOA goes in the authority section
                soa = "ns.beta.test. hostmaster.beta.test. 1 0 0 0 0"
                query.authority.append(dns.rrset.from_text("beta.test.", 0, "IN", "SOA", soa))
            reply = tcp_exchange(sock, query.to_wire())
            assert reply.rcode() == dns.rcode.REFUSED and reply.answer == []
    assert udp(running, "beta.test", "AXFR").rcode() == dns.rcode.REFUSED
    assert udp(running, "new.beta.test", "A").rcode() == dns.rcode.NXDOMAIN  # the UPDATE changed nothing


def test_responses_are_never_answered_on_the_wire(running: Running) -> None:
    """A message with QR=1 gets nothing back (RFC 1035 §4.1.1: answering answers lets servers loop)."""
    answer = dns.message.make_response(dns.message.make_query("beta.test", "MX"))
    query = dns.message.make_query("mx1.beta.test", "A")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(TIMEOUT)
        sock.sendto(answer.to_wire(), (HOST, running.port))  # first: if it were answered, that came first
        sock.sendto(query.to_wire(), (HOST, running.port))
        data, _ = sock.recvfrom(4096)
    assert dns.message.from_wire(data).id == query.id
    with tcp_socket(running.port) as sock:
        sock.sendall(len(answer.to_wire()).to_bytes(2, "big") + answer.to_wire())
        assert_closed_by_server(sock)  # no reply, and the stream is not trusted further
    assert [(r.transport, r.qname) for r in running.records] == [("udp", "mx1.beta.test")]


def test_tcp_malformed_frame_closes_only_that_connection(running: Running) -> None:
    with tcp_socket(running.port) as good, tcp_socket(running.port) as bad, tcp_socket(running.port) as huge:
        assert tcp_rcode(good, "beta.test", "MX") == dns.rcode.NOERROR
        garbage = struct.pack("!HHHHHH", 7, 0x0100, 1, 0, 0, 0) + b"\xc0\xff"  # a pointer to nowhere
        assert tcp_exchange(bad, garbage).rcode() == dns.rcode.FORMERR
        assert_closed_by_server(bad)
        huge.sendall(b"\xff\xff" + b"\x00" * 100)  # announces 65535 octets: over the query cap
        assert_closed_by_server(huge)
        assert tcp_rcode(good, "mx1.beta.test", "A") == dns.rcode.NOERROR
    assert udp(running, "beta.test", "MX").rcode() == dns.rcode.NOERROR


def test_tcp_idle_connection_is_closed(loops: LoopThread) -> None:
    running = start_server(loops, make_authority(), tcp_idle_timeout=0.3)
    try:
        with tcp_socket(running.port) as sock:
            assert tcp_rcode(sock, "beta.test", "A") == dns.rcode.NOERROR
            assert_closed_by_server(sock)  # within TIMEOUT, after 0.3 s of silence
    finally:
        loops.run(running.server.stop())


def test_tcp_connections_beyond_the_cap_are_closed_and_udp_goes_on(loops: LoopThread) -> None:
    running = start_server(loops, make_authority(), tcp_max_connections=2)
    try:
        with tcp_socket(running.port) as first, tcp_socket(running.port) as second:
            assert tcp_rcode(first, "beta.test", "MX") == dns.rcode.NOERROR  # both are being served
            assert tcp_rcode(second, "beta.test", "MX") == dns.rcode.NOERROR
            with tcp_socket(running.port) as third:
                assert_closed_by_server(third)  # over TCP_MAX_CONNECTIONS: closed unread
            assert tcp_rcode(first, "mx1.beta.test", "A") == dns.rcode.NOERROR
            assert udp(running, "beta.test", "MX").rcode() == dns.rcode.NOERROR
    finally:
        loops.run(running.server.stop())

def test_stop_closes_open_tcp_connections_and_both_listeners(loops: LoopThread) -> None:
    running = start_server(loops, make_authority())
    port = running.port
    with tcp_socket(port) as sock:
        assert tcp_rcode(sock, "beta.test", "A") == dns.rcode.NOERROR
        loops.run(running.server.stop())
        assert_closed_by_server(sock)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((HOST, port), timeout=TIMEOUT).close()
    loops.run(running.server.stop())  # twice is fine
    # the port is free again for both transports
    again = DnsServer(running.authority, HOST, port)
    loops.run(again.start())
    assert again.port == port
    loops.run(again.stop())


def test_failures_inside_the_server_do_not_stop_it(
    loops: LoopThread, caplog: pytest.LogCaptureFixture
) -> None:
    authority = BrokenAuthority()
    authority.set_zone("beta.test", BETA)

    def bad_callback(record: QueryRecord) -> None:
        raise RuntimeError("callback fault")

    async def make() -> DnsServer:
        server = DnsServer(authority, HOST, 0, on_query=bad_callback)
        await server.start()
        return server

    server = loops.run(make())
    try:
        query = dns.message.make_query("boom.beta.test", "A")
        assert dns.query.udp(query, HOST, timeout=TIMEOUT, port=server.port).rcode() == dns.rcode.SERVFAIL
        assert dns.query.tcp(query, HOST, timeout=TIMEOUT, port=server.port).rcode() == dns.rcode.SERVFAIL
        query = dns.message.make_query("mx1.beta.test", "A")
        ok = dns.query.udp(query, HOST, timeout=TIMEOUT, port=server.port)
        assert lines(ok.answer) == {"mx1.beta.test. A 127.42.2.1"}
        assert "injected fault" in caplog.text and "callback fault" in caplog.text
    finally:
        loops.run(server.stop())


def test_on_query_gets_a_record_per_answer(running: Running) -> None:
    udp(running, "Beta.Test", "MX")
    udp(running, "example.com", "A")
    first, second = running.records
    assert first.transport == "udp" and first.source[0] == HOST and first.source[1] > 0
    assert (first.qname, first.qtype, first.rcode, first.truncated) == ("Beta.Test", "MX", "NOERROR", False)
    assert sorted(first.answer) == [
        "Beta.Test. 5 IN MX 10 mx1.beta.test.",
        "Beta.Test. 5 IN MX 20 mx2.beta.test.",
    ]
    assert (second.qname, second.rcode, second.answer) == ("example.com", "REFUSED", ())


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.1", "::", "localhost", "mail.example.com"])
def test_only_loopback_addresses_can_be_bound(host: str) -> None:
    with pytest.raises(ValueError):
        DnsServer(Authority(), host, 0)


@pytest.mark.parametrize("kind", [socket.SOCK_DGRAM, socket.SOCK_STREAM])
def test_a_busy_port_raises_oserror(loops: LoopThread, kind: socket.SocketKind) -> None:
    with socket.socket(socket.AF_INET, kind) as holder:
        holder.bind((HOST, 0))
        if kind == socket.SOCK_STREAM:
            holder.listen()
        server = DnsServer(Authority(), HOST, holder.getsockname()[1])
        with pytest.raises(OSError):
            loops.run(server.start())
        loops.run(server.stop())  # nothing half-open is left behind


def test_ipv6_loopback(loops: LoopThread) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 in this kernel")
    server = DnsServer(make_authority(), "::1", 0)
    try:
        loops.run(server.start())
    except OSError as exc:
        pytest.skip(f"::1 not configured: {exc}")
    try:
        query = dns.message.make_query("mx1.beta.test", "A")
        response = dns.query.udp(query, "::1", timeout=TIMEOUT, port=server.port)
        assert lines(response.answer) == {"mx1.beta.test. A 127.42.2.1"}
    finally:
        loops.run(server.stop())


@pytest.mark.clients
def test_dig_reads_the_mx_table(running: Running) -> None:
    dig = shutil.which("dig") or ("/usr/bin/dig" if os.path.exists("/usr/bin/dig") else None)
    if dig is None:
        pytest.fail("dig is not installed: install the Debian package dnsutils (bind9-dnsutils); CI does")
    result = subprocess.run(
        [dig, f"@{HOST}", "-p", str(running.port), "MX", "beta.test", "+short", "+time=3", "+tries=1"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.split("\n")) == ["", "10 mx1.beta.test.", "20 mx2.beta.test."]
