"""The light hand-off to worker threads (``simulator.handoff``) and this session's small paths.

- ``handoff.run`` gives the awaiting coroutine the function's result, or raises its exception;
  the work runs in another thread; a cancelled await leaves the work to finish and nothing breaks;
  idle workers are reused (a run of sequential calls starts one thread) and concurrent calls start
  no more than ``max_workers``.
- ``EventBus.publish`` shares a transcript that is already a tuple of str pairs (one copy in the
  history), and makes any other one plain.
- ``EventBus.load_log`` keeps what the history can hold while reading, returns how many events it
  read, and numbers on from the highest sequence number of the file.
- A TLS transport's decrypted reads are made at most ``RECV_SIZE`` octets at once (``small_reads``),
  and what is sent still arrives whole.
"""
from __future__ import annotations

import asyncio
import threading
import time
import types

import pytest

from simulator import handoff, nodes
from simulator.bus import EventBus
from simulator.facts import HostStateChanged
from simulator.protocols.transport import RECV_SIZE, small_reads

NODE = nodes.mta("mx1.beta.test")


def test_run_gives_the_result_from_another_thread():
    pool = handoff.Handoff(max_workers=2)

    async def main():
        return await pool.run(lambda a, b: (a + b, threading.get_ident()), 2, 3)
    total, thread = asyncio.run(main())
    assert total == 5 and thread != threading.get_ident()


def test_run_raises_the_functions_exception():
    pool = handoff.Handoff(max_workers=2)

    def fails():
        raise OSError(28, "no space left")

    async def main():
        with pytest.raises(OSError) as caught:
            await pool.run(fails)
        return caught.value.errno
    assert asyncio.run(main()) == 28


def test_a_cancelled_wait_lets_the_work_finish():
    pool = handoff.Handoff(max_workers=1)
    entered, release, done = threading.Event(), threading.Event(), threading.Event()

    def work():
        entered.set()
        release.wait(10)
        done.set()
        return "written"

    async def main():
        future = pool.run(work)
        await asyncio.to_thread(entered.wait, 10)
        future.cancel()
        release.set()
        await asyncio.to_thread(done.wait, 10)
        # the worker's result arrives at a cancelled future: nothing is raised, the next job runs
        return await pool.run(lambda: "next")
    assert asyncio.run(main()) == "next"
    assert done.is_set()


def test_outcomes_that_arrive_while_the_loop_is_busy_share_one_wake_up():
    pool = handoff.Handoff(max_workers=4)
    gate = threading.Event()

    async def main():
        loop = asyncio.get_running_loop()
        wakes: list[object] = []
        real = loop.call_soon_threadsafe

        def counted(callback, *args, **kwargs):
            wakes.append(callback)
            return real(callback, *args, **kwargs)
        loop.call_soon_threadsafe = counted
        futures = [pool.run(lambda i=i: gate.wait(10) and i) for i in range(4)]
        gate.set()
        deadline = time.monotonic() + 10       # the loop stays busy until all four outcomes wait for it
        while sum(map(len, pool._outbox.values())) < 4 and time.monotonic() < deadline:
            time.sleep(0.001)
        results = await asyncio.gather(*futures)
        return results, [w for w in wakes if w == pool._deliver]
    results, deliveries = asyncio.run(main())
    assert results == [0, 1, 2, 3] and len(deliveries) == 1 and pool._outbox == {}


def test_an_outcome_a_future_refuses_does_not_stop_the_others_of_its_wake_up():
    """StopIteration cannot be set on a future: it comes back as a RuntimeError, and the outcomes
    that shared its wake-up are settled all the same."""
    pool = handoff.Handoff(max_workers=3)
    gate = threading.Event()

    def stops():
        gate.wait(10)
        raise StopIteration

    async def main():
        futures = [pool.run(lambda: gate.wait(10) and "a"), pool.run(stops), pool.run(lambda: gate.wait(10) and "b")]
        gate.set()
        deadline = time.monotonic() + 10
        while sum(map(len, pool._outbox.values())) < 3 and time.monotonic() < deadline:
            time.sleep(0.001)
        return await asyncio.wait_for(asyncio.gather(*futures, return_exceptions=True), 10)
    first, error, last = asyncio.run(main())
    assert (first, last) == ("a", "b")
    assert isinstance(error, RuntimeError) and isinstance(error.__cause__, StopIteration)


def test_outcomes_for_a_closed_loop_are_not_kept():
    """A loop closed with its wake-up still queued: the outcome waiting for it, and any that comes
    after, are let go (not held, with the loop, for the life of the process)."""
    pool = handoff.Handoff(max_workers=2)
    first, second = threading.Event(), threading.Event()
    loop = asyncio.new_event_loop()

    async def start():
        return [pool.run(lambda: first.wait(10) and 1), pool.run(lambda: second.wait(10) and 2)]
    loop.run_until_complete(start())
    first.set()
    deadline = time.monotonic() + 10
    while loop not in pool._outbox and time.monotonic() < deadline:     # its wake-up queued, never run
        time.sleep(0.001)
    assert len(pool._outbox[loop]) == 1
    loop.close()
    second.set()
    while loop in pool._outbox and time.monotonic() < deadline:
        time.sleep(0.001)
    assert loop not in pool._outbox


def test_idle_workers_are_reused_and_the_pool_is_bounded():
    pool = handoff.Handoff(max_workers=3)

    async def sequential():
        return [await pool.run(threading.get_ident) for _ in range(20)]
    assert len(set(asyncio.run(sequential()))) == 1 and pool.workers == 1

    wide = handoff.Handoff(max_workers=3)
    gate = threading.Barrier(3, timeout=10)

    async def concurrent():
        first = [wide.run(gate.wait) for _ in range(3)]          # three at once need three threads
        await asyncio.gather(*first)
        return await asyncio.gather(*[wide.run(threading.get_ident) for _ in range(30)])
    idents = asyncio.run(concurrent())
    assert wide.workers == 3 and len(set(idents)) <= 3


def test_load_log_keeps_the_last_events_and_numbers_on(tmp_path):
    path = tmp_path / "events.jsonl"
    bus = EventBus(log_path=path)
    for i in range(12):
        bus.publish(HostStateChanged(src=NODE, dst=NODE, host=f"h{i}.beta.test", up=True))
    bus.close()
    with path.open("a", encoding="utf-8") as handle:
        handle.write("not json\n")
    again = EventBus(history=5)
    assert again.load_log(path) == 12
    assert [e.data["host"] for e in again.since(0)] == [f"h{i}.beta.test" for i in range(7, 12)]
    assert again.last_seq == 12
    assert again.publish(HostStateChanged(src=NODE, dst=NODE, host="next.beta.test", up=True)).seq == 13


def test_small_reads_reaches_the_tls_layer(tmp_path):
    """On a real TLS connection (asyncio's own transport): the decrypted reads are made 64 KiB at a
    time, and a 300 KiB write still arrives whole."""
    from simulator import tls

    sizes, received = [], bytearray()

    class Server(asyncio.Protocol):
        def connection_made(self, transport):
            small_reads(transport)
            sizes.append(transport._ssl_protocol.max_size)       # asyncio's SSLProtocol

        def data_received(self, data):
            received.extend(data)

    async def main():
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Server, "127.0.0.1", 0, ssl=tls.server_context(tmp_path))
        port = server.sockets[0].getsockname()[1]
        client = tls.client_context(tls.certificate_path(tmp_path))
        _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client, server_hostname="localhost")
        writer.write(b"x" * (300 * 1024))
        await writer.drain()
        for _ in range(500):
            if len(received) >= 300 * 1024:
                break
            await asyncio.sleep(0.01)
        writer.close()
        server.close()
    asyncio.run(main())
    assert sizes == [RECV_SIZE] and len(received) == 300 * 1024
    plain = types.SimpleNamespace(max_size=256 * 1024)
    small_reads(plain)
    assert plain.max_size == RECV_SIZE


def test_a_forked_child_starts_with_an_empty_pool():
    import os

    async def once():
        return await handoff.run(lambda: "parent")
    assert asyncio.run(once()) == "parent"          # the process's pool has a worker now
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:                                    # the child: its own worker answers
        try:
            async def child():
                return await asyncio.wait_for(handoff.run(lambda: "child"), 10)
            os.write(write, asyncio.run(child()).encode())
        finally:
            os._exit(0)
    os.close(write)
    try:
        assert os.read(read, 16) == b"child"
    finally:
        os.close(read)
        os.waitpid(pid, 0)


def test_the_event_shares_a_plain_transcript_and_makes_others_plain():
    from simulator.facts import SmtpLine

    class Side(str):
        pass
    plain = (("C", "EHLO a.test"), ("S", "250 ok"))
    bus = EventBus()
    assert bus.publish(SmtpLine(src="outside", dst=NODE, transcript=plain)).transcript is plain
    mixed = ((Side("C"), "EHLO a.test"), ["S", "250 ok"])
    event = bus.publish(SmtpLine(src="outside", dst=NODE, transcript=mixed))     # type: ignore[arg-type]
    assert event.transcript == plain
    assert all(type(side) is str and type(line) is str for side, line in event.transcript)
