"""The durable writes in a helper process while the process is held on one CPU (simulator/diskhelper.py).

Each write the helper takes must leave the disk, the caller's entry and the caller's answer exactly as
the worker thread's version does; an error must come back as the same exception; a helper that dies
must cost nothing (its unanswered jobs are done by the threads); it must run only while the pinning
holds the process (mode ``auto``), beside the process's CPU, and leave after; and a crash inside one of
its writes must be a crash of app.py, in that very window, with every acknowledged message delivered
exactly once after the restart.
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from pathlib import Path

import pytest
from crash_harness import App, Ledger, Senders, census, drain

from simulator import affinity, diskhelper
from simulator.offload import Offload
from simulator.queue import Entry, QueueStore, RcptState, Recipient

HOST = "mx1.beta.test"
CONTENT = b"From: alice@alpha.test\r\nTo: bob@beta.test\r\nSubject: hi\r\n\r\n" + b"x" * 2000 + b"\r\n"


@pytest.fixture(autouse=True)
def helper_state():
    """Every test starts with no helper, mode off, nothing broken; and leaves it so."""
    yield
    diskhelper.disable()
    diskhelper._HELPERS.clear()
    diskhelper._BROKEN = False


def entry(store: QueueStore, *rcpts: str, relay: str = "") -> Entry:
    now = time.time()
    return Entry(id=store.new_id(), host=HOST, sender="alice@alpha.test",
                 recipients=[Recipient(r) for r in rcpts or ("bob@beta.test",)], trace="t1", created=now,
                 next_attempt=now, extra={"relay": relay} if relay else {})


async def ready(timeout: float = 20.0) -> diskhelper.DiskHelper:
    """The running loop's helper, once it has said it is ready."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        helper = diskhelper.current()
        if helper is not None and helper.ready:
            return helper
        await asyncio.sleep(0.01)
    raise AssertionError("the disk helper did not become ready")


async def started(tmp_path: Path) -> tuple[QueueStore, Offload, diskhelper.DiskHelper]:
    """Mode on, a queue under ``tmp_path``: its first write starts the helper (and goes to a thread
    meanwhile); the helper once ready."""
    diskhelper.enable("on")
    store, offload = QueueStore(tmp_path / "queue"), Offload()
    await offload.far("queue.add", store, entry(store), CONTENT)
    return store, offload, await ready()


def route(how: str) -> None:
    """The next writes in a worker thread (``"thread"``) or in the helper (``"helper"``)."""
    if how == "thread":
        diskhelper.disable()
    else:
        diskhelper.enable("on")


def stalled(helper: diskhelper.DiskHelper, offload: Offload, store: QueueStore,
            count: int) -> tuple[list[Entry], list[asyncio.Future]]:
    """The helper stopped (SIGSTOP to the pid it was started with), then ``count`` entries handed
    to it: none can be answered."""
    os.kill(helper.pid, signal.SIGSTOP)
    made = [entry(store) for _ in range(count)]
    return made, [offload.far("queue.add", store, e, CONTENT) for e in made]


def gone(pid: int, timeout: float = 10.0) -> bool:
    """``pid`` has ended (no such process, or a zombie nobody reaped yet)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.01)
    return False


def test_a_queue_entry_written_and_removed_by_the_helper_is_the_threads_own(tmp_path):
    async def run():
        store, offload, helper = await started(tmp_path)
        assert helper.pid not in (None, os.getpid())
        by_thread, by_helper = entry(store, "bob@beta.test", "carol@beta.test"), entry(store, "bob@beta.test",
                                                                                        "carol@beta.test")
        before = helper.started
        await offload.run(diskhelper.OPS["queue.add"].here, store, by_thread, CONTENT)    # a thread's, as before
        await offload.far("queue.add", store, by_helper, CONTENT)
        assert helper.started == before + 1             # handed to the helper, answered by it
        directory = tmp_path / "queue" / HOST
        for made in (by_thread, by_helper):
            assert (directory / f"{made.id}.eml").read_bytes() == CONTENT
            assert json.loads((directory / f"{made.id}.json").read_text()) == made.to_dict()
        by_helper.attempts = 3
        await offload.far("queue.save", store, by_helper)
        assert json.loads((directory / f"{by_helper.id}.json").read_text())["attempts"] == 3
        await offload.far("queue.remove", store, by_helper)
        assert not (directory / f"{by_helper.id}.json").exists() and not (directory / f"{by_helper.id}.eml").exists()
        assert helper.started == before + 3 and offload.running == 0
        await diskhelper.stop()
        assert helper._proc.poll() == 0                 # ended on its own, and reaped: no zombie
        # the helper's spare files left with it; the parent's are its own
        assert not [p for p in directory.iterdir() if p.name.startswith(f".spare.{helper.pid}.")]
    asyncio.run(run())


def test_a_direct_delivery_by_the_helper_leaves_the_entry_and_copies_as_the_thread_does(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    async def run():
        store, offload, helper = await started(tmp_path)
        data = tmp_path / "data"
        relay = "<AB12@mail.alpha.test> 0123456789abcdef"
        results = {}
        for how in ("thread", "helper"):
            made = entry(store, "bob@beta.test", "Carol@beta.test", relay=relay + how)
            mailboxes = ["bob@beta.test", "catchall@beta.test"]
            if how == "thread":
                copies, durable = await offload.run(diskhelper.OPS["direct.write"].here, store, data, made, CONTENT,
                                                    mailboxes, relay + how)
            else:
                before = helper.started
                copies, durable = await offload.far("direct.write", store, data, made, CONTENT, mailboxes,
                                                    relay + how)
                assert helper.started == before + 1
            assert durable
            # the copies point at the caller's own recipients, in order
            assert [c.rcpt for c in copies] == made.recipients
            assert all(c.rcpt is r for c, r in zip(copies, made.recipients))
            assert [c.mailbox for c in copies] == mailboxes and all(c.written for c in copies)
            for c in copies:
                assert c.path is not None and c.path.parent.name == "new" and c.path.read_bytes().endswith(CONTENT)
                assert c.size == len(c.path.read_bytes())
            assert (tmp_path / "queue" / HOST / f"{made.id}.done").exists()
            results[how] = ([(r.state, r.status, r.remote) for r in made.recipients], dict(made.extra))
        assert results["thread"][0] == results["helper"][0] == [(RcptState.DONE, "2.0.0", HOST)] * 2
        assert results["thread"][1]["direct"] is results["helper"][1]["direct"] is True
        # a data directory given relative to the working directory: the copies' paths are too
        made = entry(store, "bob@beta.test")
        copies, durable = await offload.far("direct.write", store, Path("relative-data"), made, CONTENT,
                                            ["bob@beta.test"], "")
        assert durable and not copies[0].path.is_absolute()
        assert copies[0].path.parts[:2] == ("relative-data", "mail") and copies[0].path.read_bytes().endswith(CONTENT)
        await diskhelper.stop()
    asyncio.run(run())


def test_an_error_in_the_helper_is_raised_by_the_await_as_from_a_thread(tmp_path):
    async def run():
        store, offload, helper = await started(tmp_path)
        blocked = QueueStore(tmp_path / "blocked")
        (tmp_path / "blocked" / HOST).write_text("a file where the host's directory should be")
        raised = {}
        for how in ("thread", "helper"):
            route(how)
            before = helper.started
            with pytest.raises(OSError) as caught:
                await offload.far("queue.add", blocked, entry(blocked), CONTENT)
            raised[how] = type(caught.value)
            assert helper.started == before + (how == "helper")
        assert raised["thread"] is raised["helper"]
        assert offload.running == 0
        await diskhelper.stop()
    asyncio.run(run())


def test_the_jobs_of_a_helper_that_dies_are_done_by_the_threads_and_no_helper_starts_again(tmp_path):
    async def run():
        store, offload, helper = await started(tmp_path)
        entries, writes = stalled(helper, offload, store, 5)
        await asyncio.sleep(0.05)
        assert helper.in_flight == 5 and not any(w.done() for w in writes)
        os.kill(helper.pid, signal.SIGKILL)
        await asyncio.wait_for(asyncio.gather(*writes), 20)
        for made in entries:
            assert (tmp_path / "queue" / HOST / f"{made.id}.eml").read_bytes() == CONTENT
        assert diskhelper.current() is None
        later = entry(store)
        await offload.far("queue.add", store, later, CONTENT)    # a thread's: the helper is not tried again
        assert diskhelper.current() is None and diskhelper._BROKEN
        assert (tmp_path / "queue" / HOST / f"{later.id}.json").exists()
        assert gone(helper.pid)
    asyncio.run(run())


class FakePinning:
    """The process's pinning as the helper reads it: which CPU it holds the process on."""

    def __init__(self, allowed: set[int]) -> None:
        self.allowed = frozenset(allowed)
        self.pinned: int | None = None
        self.noted = 0

    def note(self, overlapped: bool) -> None:
        self.noted += 1


def test_auto_runs_a_helper_beside_the_pinned_cpu_only_while_the_pinning_holds(tmp_path, monkeypatch):
    allowed = os.sched_getaffinity(0)
    pinning = FakePinning(allowed)
    monkeypatch.setattr(affinity, "_CURRENT", pinning)
    monkeypatch.setattr(diskhelper, "LINGER", 0.3)

    async def run():
        diskhelper.enable("auto")
        store, offload = QueueStore(tmp_path / "queue"), Offload()
        for _ in range(20):                                 # not held: never a helper
            await offload.far("queue.add", store, entry(store), CONTENT)
        assert diskhelper.current() is None
        pinning.pinned = min(allowed)
        await offload.far("queue.add", store, entry(store), CONTENT)
        helper = await ready()
        others = sorted(set(allowed) - {pinning.pinned})
        assert os.sched_getaffinity(helper.pid) == ({others[0]} if others else set(allowed))
        noted = pinning.noted
        await offload.far("queue.add", store, entry(store), CONTENT)
        assert helper.started == 1 and pinning.noted == noted + 1   # its writes keep the pinning's judgement fed
        pinning.pinned = None                               # let go: the helper lingers, then leaves
        await offload.far("queue.add", store, entry(store), CONTENT)
        assert helper.started == 2 and diskhelper.current() is helper
        deadline = time.monotonic() + 10
        while diskhelper.current() is not None and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert diskhelper.current() is None
        assert await asyncio.get_running_loop().run_in_executor(None, gone, helper.pid)
        assert not diskhelper._BROKEN                       # it was asked to leave
        await offload.far("queue.add", store, entry(store), CONTENT)
        assert diskhelper.current() is None and helper.started == 2
    asyncio.run(run())


def helper_of(pid: int) -> int | None:
    """The disk helper app.py ``pid`` started (a child of one of its threads), if any."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            try:
                if b"simulator.diskhelper" in Path(f"/proc/{child}/cmdline").read_bytes():
                    return int(child)
            except OSError:
                continue
    return None


def state_of(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_a_crash_in_a_helpers_write_is_app_pys_crash_and_each_acknowledged_message_arrives_once(tmp_path):
    data = tmp_path / "data"
    ledger = Ledger()
    for crash_at, tag in (("direct.written:2", "dwritten"), ("direct.linked:3", "dlinked"),
                          ("direct.recorded:2", "drecorded")):
        app = App(data, crash_at=crash_at, extra=("--disk-helper", "on"))
        senders = None
        try:
            if app.ports:
                senders = Senders(app, ledger, tag, count=4, per_sender=5)
            assert app.wait_stopped() == crash_at.split(":")[0]
            named = int(app.marker.read_text().split()[1])
            assert named == app.proc.pid                # the file names app.py, which a crash test kills
            helper = helper_of(app.proc.pid)
            assert helper is not None
            deadline = time.monotonic() + 5
            while state_of(app.proc.pid) != "T" and time.monotonic() < deadline:
                time.sleep(0.005)
            assert state_of(app.proc.pid) == "T" and state_of(helper) == "T"    # stopped in the helper's write
        finally:
            app.kill()
            if senders is not None:
                senders.join()
        assert gone(helper)                             # died with app.py (PR_SET_PDEATHSIG)
    app = App(data, extra=("--disk-helper", "on"))
    try:
        Senders(app, ledger, "last", count=2, per_sender=3).join()
        drain(app, ledger)
        result = census(data, ledger)
        helper = helper_of(app.proc.pid)
    finally:
        app.stop()
    assert app.proc.returncode == 0
    assert helper is not None and gone(helper)          # a clean stop: the helper left with it
    print(result.line())
    assert result.ok, (result.line(), result)
    assert result.delivered_once == result.acknowledged >= 3 + 6


def test_a_failed_direct_write_by_the_helper_leaves_the_entry_as_the_thread_does(tmp_path):
    async def run():
        store, offload, helper = await started(tmp_path)
        data = tmp_path / "data"
        (data / "mail" / "beta.test").mkdir(parents=True)
        (data / "mail" / "beta.test" / "bob").write_text("a file where bob's Maildir should be")
        seen = {}
        for how in ("thread", "helper"):
            made = entry(store, "bob@beta.test", relay=f"<X{how}@mail.alpha.test> 00")
            route(how)
            before = helper.started
            copies, durable = await offload.far("direct.write", store, data, made, CONTENT, ["bob@beta.test"],
                                                made.extra["relay"])
            assert helper.started == before + (how == "helper")
            assert not durable and copies[0].path is None and copies[0].rcpt is made.recipients[0]
            seen[how] = ([(r.state, r.status, r.remote) for r in made.recipients], sorted(made.extra))
        assert seen["thread"] == seen["helper"] == ([(RcptState.PENDING, "", "")], ["relay"])
        await diskhelper.stop()
    asyncio.run(run())


def test_cancelled_writes_count_until_the_helper_answers_and_are_redone_if_it_dies(tmp_path):
    async def run():
        store, offload, helper = await started(tmp_path)
        answered, writes = stalled(helper, offload, store, 3)
        for write in writes:
            write.cancel()                          # the callers left (a client went away, a stop)
        await asyncio.sleep(0.05)
        assert offload.running == 3                 # still being written: a stop waits for them
        os.kill(helper.pid, signal.SIGCONT)
        while offload.running:
            await asyncio.sleep(0.01)
        for made in answered:
            assert (tmp_path / "queue" / HOST / f"{made.id}.json").exists()
        redone, writes = stalled(helper, offload, store, 3)
        for write in writes:
            write.cancel()
        await asyncio.sleep(0.05)
        os.kill(helper.pid, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while offload.running and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert offload.running == 0
        for made in redone:                         # a thread ran each to its end, as it would have
            assert (tmp_path / "queue" / HOST / f"{made.id}.eml").read_bytes() == CONTENT
    asyncio.run(run())


def test_an_unreadable_answer_stops_the_helper_before_its_jobs_are_redone(tmp_path):
    async def run():
        store, offload, helper = await started(tmp_path)
        waiting, writes = stalled(helper, offload, store, 2)     # nothing answered: two jobs wait
        await asyncio.sleep(0.02)
        helper._protocol.data_received(b"\x00\x00\x00\x03abc")     # not a pickle
        assert helper._proc.poll() is not None     # killed by its pid (and reaped) first
        await asyncio.wait_for(asyncio.gather(*writes), 20)
        for made in waiting:
            assert (tmp_path / "queue" / HOST / f"{made.id}.json").exists()
        assert diskhelper.current() is None
    asyncio.run(run())
