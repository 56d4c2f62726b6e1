"""Issue 13, submission end to end: the speed-ups of the MSA's side, the relay and DNS keep what the
simulator promises.

- The DNS server keeps answers (``DnsServer``, ``ANSWERS_KEPT``): a question asked again is answered
  with the same octets under its own ID (what a fresh answer says, in the order of the first: RRset
  order carries no meaning), reported like any other; a zone or a fault changed since is
  answered from the new zones at once.
- The MTAs' resolver (:class:`simulator.routing.Resolver`): still one real datagram per question, with
  a fresh ID; what it makes of the answers (MX order, glue, implicit MX, null MX, NXDOMAIN, REFUSED,
  truncation then TCP) is what the zone says, asked once or many times; a datagram that is not the
  answer (another ID, another sender) is ignored; silence is a ``Timeout``.
- ``Entry.to_dict`` gives what ``dataclasses.asdict`` gave (the queue's JSON is unchanged).
- The queue's disk work (:class:`simulator.offload.Offload`) returns results and exceptions, lets a job
  whose await was cancelled finish, and ``wait`` (the queue runner's stop) returns once the jobs handed
  over before it have ended.
- The relay client reads at most ``RECV_SIZE`` octets at once, under TLS too.
- A submission's queue write (no task of its own any more) still ends, and its entry is still
  scheduled and delivered, when the session awaiting it is cancelled (the client left).
"""
from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import random
import smtplib
import socket
import threading
import time

import dns.flags
import dns.message
import dns.rcode
import pytest

from simulator.facts import DeliveryReason, Reason, RouteReason
from simulator.offload import Offload
from simulator.protocols.dns import Authority, DnsServer, QueryRecord, Record, ZoneFault, handle_wire
from simulator.protocols.transport import RECV_SIZE
from simulator.queue import Entry, RcptState, Recipient
from simulator.routing import Resolver

HOST = "127.0.0.1"
BETA = [
    Record("beta.test", "MX", "10 mx1.beta.test."),
    Record("beta.test", "MX", "20 mx2.beta.test."),
    Record("mx1.beta.test", "A", "127.42.2.1"),
    Record("mx2.beta.test", "A", "127.42.2.2"),
]
ZONES = {
    "beta.test": BETA,
    "gamma.test": [Record("gamma.test", "A", "127.42.3.1")],                    # no MX: implicit
    "null.test": [Record("null.test", "MX", "0 .")],                            # RFC 7505
    "many.test": [Record("many.test", "MX", f"{i} mx{i:02d}.many.test.") for i in range(40)]
    + [Record(f"mx{i:02d}.many.test", "A", f"127.42.9.{i + 1}") for i in range(40)],   # > 512 octets
}


def authority() -> Authority:
    auth = Authority()
    for origin, records in ZONES.items():
        auth.set_zone(origin, records)
    return auth


async def started(auth: Authority, records: list[QueryRecord] | None = None) -> DnsServer:
    server = DnsServer(auth, HOST, 0, on_query=(records.append if records is not None else None))
    await server.start()
    return server


def lines_of(rrsets) -> set[str]:
    return {line for rrset in rrsets for line in rrset.to_text().splitlines()}


async def ask_raw(port: int, wire: bytes) -> tuple[bytes, int]:
    """One datagram to the server from a new socket: (the answer, our port)."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    sock.bind((HOST, 0))
    try:
        await loop.sock_sendto(sock, wire, (HOST, port))
        async with asyncio.timeout(5):
            data, _ = await loop.sock_recvfrom(sock, 65535)
        return data, sock.getsockname()[1]
    finally:
        sock.close()


# -- the server's kept answers -------------------------------------------------------------------
def test_a_question_asked_again_gets_the_same_answer_under_its_own_id_and_is_reported() -> None:
    async def scenario() -> None:
        records: list[QueryRecord] = []
        server = await started(authority(), records)
        try:
            query = dns.message.make_query("beta.test", "MX")
            tail = query.to_wire()[2:]
            fresh = dns.message.from_wire(handle_wire(authority(), b"\x00\x00" + tail, max_udp=1232).wire)
            answers = []
            for qid in (0x1234, 0xBEEF, 0x0001):
                data, port = await ask_raw(server.port, qid.to_bytes(2, "big") + tail)
                answers.append((data, port))
                assert data[:2] == qid.to_bytes(2, "big")
                response = dns.message.from_wire(data)      # what a fresh server would say (RRset
                assert response.flags == fresh.flags           # order aside: it carries no meaning)
                for section in ("question", "answer", "authority", "additional"):
                    assert lines_of(getattr(response, section)) == lines_of(getattr(fresh, section))
            assert answers[0][0][2:] == answers[1][0][2:] == answers[2][0][2:]     # the kept answer
            assert len(records) == 3
            for record, (_, port) in zip(records, answers):
                assert (record.source, record.transport) == ((HOST, port), "udp")
                assert (record.qname, record.qtype, record.rcode) == ("beta.test", "MX", "NOERROR")
                assert sorted(record.answer) == ["beta.test. 5 IN MX 10 mx1.beta.test.",
                                                 "beta.test. 5 IN MX 20 mx2.beta.test."]
                assert record.server == (HOST, server.port)
        finally:
            await server.stop()
    asyncio.run(scenario())


def test_a_zone_or_fault_changed_after_a_kept_answer_is_answered_from_the_new_zones() -> None:
    async def scenario() -> None:
        auth = authority()
        server = await started(auth)
        wire = dns.message.make_query("beta.test", "MX").to_wire()
        try:
            first = dns.message.from_wire((await ask_raw(server.port, wire))[0])
            assert first.rcode() == dns.rcode.NOERROR and len(first.answer[0]) == 2
            auth.set_zone("beta.test", [Record("beta.test", "MX", "5 mx9.beta.test."),
                                        Record("mx9.beta.test", "A", "127.42.2.9")])
            second = dns.message.from_wire((await ask_raw(server.port, wire))[0])
            assert [rd.exchange.to_text() for rd in second.answer[0]] == ["mx9.beta.test."]
            auth.set_fault("beta.test", ZoneFault.SERVFAIL)
            broken = dns.message.from_wire((await ask_raw(server.port, wire))[0])
            assert broken.rcode() == dns.rcode.SERVFAIL
            auth.set_fault("beta.test", ZoneFault.TIMEOUT)
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.5):
                    await ask_raw(server.port, wire)
            auth.set_fault("beta.test", None)
            mended = dns.message.from_wire((await ask_raw(server.port, wire))[0])
            assert [rd.exchange.to_text() for rd in mended.answer[0]] == ["mx9.beta.test."]
            auth.remove_zone("beta.test")
            gone = dns.message.from_wire((await ask_raw(server.port, wire))[0])
            assert gone.rcode() == dns.rcode.REFUSED
        finally:
            await server.stop()
    asyncio.run(scenario())


# -- the MTAs' resolver --------------------------------------------------------------------------
def route_facts(route) -> dict:
    return {"rcode": route.rcode, "answers": route.answers, "implicit": route.implicit,
            "targets": [(t.preference, t.host, t.addresses) for t in route.targets],
            "error": route.error, "permanent": route.permanent, "status": route.status}


EXPECTED = {
    "beta.test": {"rcode": "NOERROR", "answers": ["MX 10 mx1.beta.test", "MX 20 mx2.beta.test"],
                  "implicit": False, "targets": [(10, "mx1.beta.test", ("127.42.2.1",)),
                                                 (20, "mx2.beta.test", ("127.42.2.2",))],
                  "error": None, "permanent": False, "status": ""},
    "gamma.test": {"rcode": "NOERROR", "answers": [], "implicit": True,
                   "targets": [(0, "gamma.test", ("127.42.3.1",))], "error": None, "permanent": False,
                   "status": ""},
    "null.test": {"rcode": "NOERROR", "answers": ["MX 0 ."], "implicit": False, "targets": [],
                  "error": Reason.of(RouteReason.NULL_MX, domain="null.test"), "permanent": True,
                  "status": "5.1.10"},
    "nothing.beta.test": {"rcode": "NXDOMAIN", "answers": [], "implicit": False, "targets": [],
                          "error": Reason.of(RouteReason.NXDOMAIN, domain="nothing.beta.test"),
                          "permanent": True, "status": "5.1.2"},
    "example.com": {"rcode": "REFUSED", "answers": [], "implicit": False, "targets": [],
                    "error": Reason.of(RouteReason.OUTSIDE, domain="example.com"), "permanent": True,
                    "status": "5.1.2"},
}


def test_routes_are_what_the_zones_say_asked_once_or_many_times() -> None:
    async def scenario() -> None:
        records: list[QueryRecord] = []
        server = await started(authority(), records)
        try:
            resolver = Resolver(server=HOST, port=server.port)
            for _ in range(3):
                for domain, expected in EXPECTED.items():
                    route = await resolver.route(domain, source="127.42.1.1")
                    assert route_facts(route) == expected, domain
            many = await resolver.route("many.test", source="127.42.1.1")
            assert [t.host for t in many.targets] == [f"mx{i:02d}.many.test" for i in range(40)]
            assert many.targets[39].addresses == ("127.42.9.40",)
            # every lookup was a real question from the MTA's address, with an ID of its own
            assert records and all(r.source[0] == "127.42.1.1" for r in records)
            assert {r.transport for r in records} == {"udp", "tcp"}       # many.test: truncated, then TCP
        finally:
            await server.stop()
    asyncio.run(scenario())


def test_each_question_has_a_fresh_id() -> None:
    ids: list[bytes] = []

    async def scenario() -> None:
        server = await started(authority())
        original = server._on_datagram

        def spy(data, addr, transport):
            ids.append(data[:2])
            return original(data, addr, transport)
        server._on_datagram = spy
        try:
            resolver = Resolver(server=HOST, port=server.port)
            for _ in range(20):
                await resolver.route("beta.test", source="127.42.1.1")
        finally:
            await server.stop()
    asyncio.run(scenario())
    assert len(ids) == 20 and len(set(ids)) >= 18          # 16 random bits each


class FakeDns(asyncio.DatagramProtocol):
    """Answers each question with: a datagram with another ID, the right answer from another
    socket, then (``answer``) the right answer from its own."""

    def __init__(self, other: socket.socket, answer: bool = True) -> None:
        self.other, self.answer, self.transport = other, answer, None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        query = dns.message.from_wire(data)
        wrong_id = dns.message.make_response(query)
        wrong_id.id = (query.id + 1) % 65536
        wrong_id.set_rcode(dns.rcode.NXDOMAIN)
        self.transport.sendto(wrong_id.to_wire(), addr)
        elsewhere = dns.message.make_response(query)
        elsewhere.set_rcode(dns.rcode.NXDOMAIN)
        self.other.sendto(elsewhere.to_wire(), addr)
        if self.answer:
            self.transport.sendto(handle_wire(authority(), data, max_udp=1232).wire, addr)


def test_a_datagram_that_is_not_the_answer_is_ignored_and_silence_is_a_timeout() -> None:
    async def scenario(answer: bool):
        loop = asyncio.get_running_loop()
        other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        other.bind((HOST, 0))
        transport, _ = await loop.create_datagram_endpoint(lambda: FakeDns(other, answer), local_addr=(HOST, 0))
        try:
            port = transport.get_extra_info("sockname")[1]
            return await Resolver(server=HOST, port=port, timeout=0.5).route("beta.test", source="127.42.1.1")
        finally:
            transport.close()
            other.close()
    assert route_facts(asyncio.run(scenario(True))) == EXPECTED["beta.test"]
    silent = asyncio.run(scenario(False))
    assert silent.error == Reason.of(RouteReason.DNS_NO_ANSWER, error="Timeout")
    assert (silent.permanent, silent.status) == (False, "4.4.3")


# -- the queue's JSON ----------------------------------------------------------------------------
def _asdict_to_dict(entry: Entry) -> dict:
    d = dataclasses.asdict(entry)
    d["recipients"] = [r.to_dict() for r in entry.recipients]
    return d


def test_entry_to_dict_is_what_asdict_gave() -> None:
    rng = random.Random(13)
    for n in range(200):
        rcpts = [Recipient(f"u{i}@beta.test", rng.choice(list(RcptState)), rng.choice(["", "2.0.0", "4.4.1"]),
                           rng.choice(["", "250 ok", "451 later"]), rng.choice(["", "mx1.beta.test"]),
                           rng.choice([None, Reason.of(DeliveryReason.REPLY, host="mx1", reply="451 later")]))
                 for i in range(rng.randint(0, 4))]
        extra = rng.choice([{}, {"relay": "<A@h> d"}, {"bounce_for": ["a@b", "c@d"], "bounced:a@b": True},
                            {"direct": True, "nested": {"list": [1, [2, 3]], "t": (4, 5)}}])
        entry = Entry(id=f"E{n}", host="smtp.alpha.test", sender=rng.choice(["", "alice@alpha.test"]),
                      recipients=rcpts, trace=f"t{n}", created=rng.random() * 1e9, next_attempt=rng.random() * 1e9,
                      attempts=rng.randint(0, 9), subject="Ünïcode ✓", message_id=f"<{n}@x>",
                      received_from="mua:alice@alpha.test", extra=extra)
        new, old = entry.to_dict(), _asdict_to_dict(entry)
        assert new == old and json.dumps(new) == json.dumps(old)
        if extra:                                         # a copy: changing it leaves the entry alone
            new["extra"].clear()
            assert entry.extra == extra


# -- the queue's disk work -----------------------------------------------------------------------
def test_disk_work_returns_results_and_exceptions_and_a_cancelled_job_still_ends() -> None:
    jobs = Offload()
    finished = threading.Event()

    def slow() -> str:
        time.sleep(0.2)
        finished.set()
        return "done"

    def boom() -> None:
        raise OSError("disk full")

    async def scenario() -> None:
        assert await jobs.run(pow, 2, 10) == 1024
        assert await jobs.run(threading.current_thread) is not threading.current_thread()
        with pytest.raises(OSError, match="disk full"):
            await jobs.run(boom)
        task = asyncio.ensure_future(jobs.run(slow))
        await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not finished.is_set() and jobs.running == 1     # cancelled while it ran ...
        assert await asyncio.get_running_loop().run_in_executor(None, jobs.wait, 5)
        assert finished.is_set() and jobs.running == 0          # ... and it ran to its end
    asyncio.run(scenario())


def test_wait_returns_once_every_job_handed_over_before_it_has_ended() -> None:
    jobs = Offload()
    done: list[int] = []

    def job(n: int) -> int:
        time.sleep(0.05)
        done.append(n)
        return n

    async def scenario() -> None:
        futures = [jobs.run(job, n) for n in range(8)]
        assert await asyncio.get_running_loop().run_in_executor(None, jobs.wait, 10)
        assert sorted(done) == list(range(8))               # all ended before wait returned
        assert [await f for f in futures] == list(range(8))
        assert Offload().wait(0)                            # nothing handed over: at once
    asyncio.run(scenario())


def test_a_stopping_queue_runner_lets_its_disk_work_end_first(world):
    delivery = world.stack.delivery
    ended = threading.Event()

    def slow_write() -> None:
        time.sleep(0.3)
        ended.set()

    async def hand_over() -> None:
        asyncio.ensure_future(delivery._io(slow_write))
    world.stack.call(hand_over)
    world.stack.stop()
    assert ended.is_set()


# -- the relay client's reads --------------------------------------------------------------------
def test_the_relay_client_reads_at_most_recv_size_also_under_tls(world):
    cache = world.stack.delivery.connections
    cache.idle = 30.0
    with smtplib.SMTP("127.0.0.1", world.port("submission"), local_hostname="client.test", timeout=10) as s:
        s.login("alice@alpha.test", "alice")
        s.sendmail("alice@alpha.test", ["bob@beta.test"], b"Subject: 1\r\n\r\nbody\r\n")
    world.wait_messages("bob@beta.test", 1)
    world.wait_queue_empty()            # the relay is over: its connection waits in the cache
    [[(conn, _)]] = [idle for idle in cache._idle.values()]
    assert conn.tls
    tls = conn.writer.transport._ssl_protocol
    assert tls.max_size == RECV_SIZE                           # the decrypted copy of each record
    assert tls._transport.max_size == RECV_SIZE                # the socket's recv


# -- the MSA's commit ----------------------------------------------------------------------------
def test_a_message_whose_session_is_cancelled_during_its_queue_write_is_still_delivered(world, monkeypatch):
    delivery = world.stack.delivery
    queue = delivery.svc.queue
    add = queue.add

    def slow_add(entry, content):
        time.sleep(0.3)                     # the client leaves while the fsyncs run
        add(entry, content)
    monkeypatch.setattr(queue, "add", slow_add)
    host = world.stack.world.hosts["smtp.alpha.test"]
    content = b"From: <alice@alpha.test>\r\nTo: <bob@beta.test>\r\nSubject: left\r\n\r\nbody\r\n"

    async def leave() -> tuple[bool, int]:
        task = asyncio.ensure_future(delivery.enqueue(
            host, "alice@alpha.test", ["bob@beta.test"], content, trace="t-left", queue_id=queue.new_id(),
            message={"id": "", "subject": "left"}, received_from="mua:alice@alpha.test", inflow=False))
        await asyncio.sleep(0.05)
        task.cancel()                       # as aiosmtpd cancels the session of a client that left
        try:
            await task
        except asyncio.CancelledError:
            return True, len(delivery._commits)
        return False, len(delivery._commits)
    cancelled, in_flight = world.stack.call(leave)
    assert cancelled and in_flight == 1                 # the write goes on, and stop would wait for it
    [message] = world.wait_messages("bob@beta.test", 1)
    assert b"Subject: left" in message                  # written, scheduled, relayed, delivered
    world.wait_queue_empty()


# -- the queue's memory of finished relays -------------------------------------------------------
def test_pruning_reads_no_directory_while_every_record_is_young_and_looks_once_one_may_go(tmp_path, monkeypatch):
    from pathlib import Path

    from simulator.queue import QueueStore, relay_mark
    now = [time.time()]
    store = QueueStore(tmp_path / "queue", clock=lambda: now[0])
    store.keep_done = 100.0
    globs: list[str] = []
    glob = Path.glob
    monkeypatch.setattr(Path, "glob", lambda self, pattern: globs.append(pattern) or glob(self, pattern))

    def relayed(n: int, created: float) -> Entry:
        return Entry(id=f"{n:012X}", host="mx1.beta.test", sender="alice@alpha.test",
                     recipients=[Recipient("bob@beta.test")], trace=f"t{n}", created=created, next_attempt=created,
                     extra={"relay": f"<S{n}@smtp.alpha.test> 00"})
    for n in range(3):
        store.record(relayed(n, now[0]))
    assert store.prune_done() == [] and globs == ["*.done"]        # the first pruning looks ...
    globs.clear()
    now[0] += 50
    assert store.prune_done() == [] and globs == []                 # ... the next ones need not
    old = relayed(9, now[0] - 500)                                   # a record of an entry made long ago
    store.add(old, b"Subject: x\r\n\r\nx\r\n")
    store.remove(old)
    mark = relay_mark("<S9@smtp.alpha.test> 00", "bob@beta.test")
    record = tmp_path / "queue" / "mx1.beta.test" / f"{old.id}.done"
    os.utime(record, (now[0] - 500, now[0] - 500))                  # its entry's json was written then
    assert store.prune_done() == [mark] and globs == ["*.done"]     # looked at once, and it went
    globs.clear()
    now[0] += 60                                                     # the first three are 110 s old now
    assert sorted(store.prune_done()) == sorted(relay_mark(f"<S{n}@smtp.alpha.test> 00", "bob@beta.test")
                                                for n in range(3))
    assert globs == ["*.done"] and list((tmp_path / "queue" / "mx1.beta.test").glob("*.done")) == []
