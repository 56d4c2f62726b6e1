"""The direct path (the final MX delivers before its 250, :mod:`simulator.direct`) and the queue's
path under the windows a reviewer attacked: each message is in each of its mailboxes exactly once,
and the page sees the MX's session before the MDA's delivery.

- the sending MTA times out while the MX's write (direct) or its queue file's fsync (queue path)
  is slow, closes, and sends again: the first attempt's work runs to its end (shielded) and keeps
  the relay key claimed until it is on record, so the resend is answered without a second copy;
- the teacher switches to line-by-line stepping while the MX writes: the MDA's fact still comes
  after the MX's session, whenever the teacher lets the 250 go;
- a recipient named twice in one transaction gets one copy, on the direct and the queue path,
  relayed or from outside (as Postfix's cleanup makes it);
- the fsync of ``new/`` fails after the direct copy's link: the message goes to the queue, whose
  MDA counts that copy and writes none;
- the client leaves while the MX writes: its copy is kept and told after the session's fact.

No sleeps: a slow step is a worker thread held on a :class:`threading.Event` the test releases once
it has seen what it waits for (the sender's give-up, the gate holding the 250, the client gone);
the sender's command timeout is made short through the world's config.
"""
from __future__ import annotations

import dataclasses
import smtplib
import socket
import threading
import time

from conftest import FAST_QUEUE

from simulator import direct
from simulator.facts import Deferred, MdaDelivered, SmtpSession

BOB, ALICE = "bob@beta.test", "alice@alpha.test"
MX1 = "mta:mx1.beta.test"
HELD = 20.0         # at most this long is a worker thread held (the test fails first if it must)


def _msg(tag: str) -> bytes:
    return (f"From: <{ALICE}>\r\nTo: <{BOB}>\r\nSubject: rev {tag}\r\nMessage-ID: <{tag}@rev.test>\r\n"
            f"\r\nbody of {tag}\r\n").encode()


def _copies(world, tag: str) -> int:
    return sum(f"<{tag}@rev.test>".encode() in m for m in world.messages(BOB))


def _submit(world, rcpts: list[str], tag: str) -> None:
    with smtplib.SMTP("127.0.0.1", world.port("submission"), local_hostname="mua.rev.test", timeout=30) as c:
        c.login(ALICE, "alice")
        c.sendmail(ALICE, rcpts, _msg(tag))


def _order(world, trace: str) -> list[str]:
    return [e.kind for e in world.events.events
            if e.trace == trace and e.kind in ("smtp.session", "mda.deliver")]


def _release_after_the_sender_gives_up(world, release: threading.Event) -> None:
    """The sending MTA's attempt timed out (its entry deferred): let the held write go on."""
    try:
        world.events.facts(Deferred, lambda f: f.host == "smtp.alpha.test", timeout=HELD)
    finally:
        release.set()


def test_a_relay_whose_sender_timed_out_during_a_slow_direct_write_is_delivered_once(start_world, monkeypatch):
    """The final MX's direct write outlasts the sending MTA's command timeout (1 s here, 30 s by
    default: a slow fsync under load).  The sender closes, aiosmtpd cancels the DATA handler, the
    shielded write goes on and leaves its copy and record; the sender's retry is answered 250 with
    no second copy."""
    world = start_world(queue=dataclasses.replace(FAST_QUEUE, command_timeout=1.0))
    real, calls, release = direct.write, [], threading.Event()

    def held_once(*args, **kwargs):
        calls.append(args[2].id)        # write(queue, data_dir, entry, ...)
        if len(calls) == 1:
            release.wait(HELD)
        return real(*args, **kwargs)
    monkeypatch.setattr(direct, "write", held_once)
    _submit(world, [BOB], "slow")
    _release_after_the_sender_gives_up(world, release)
    world.wait_queue_empty(timeout=30)
    sessions = world.events.facts(SmtpSession, lambda f: f.src == "mta:smtp.alpha.test" and f.dst == MX1, count=2)
    assert len(sessions) == 2                   # the one given up, and the resend
    assert _copies(world, "slow") == 1, calls
    assert len(world.events.facts(MdaDelivered, lambda f: f.rcpt == BOB)) == 1


def test_a_relay_whose_sender_timed_out_during_a_slow_queue_fsync_is_queued_once(start_world):
    """The same window on the queue's path (a fault in force: the MX queues): the MX's queue file
    is held until the sender has given up; the resend is answered without a second entry."""
    from simulator.scenario.model import Fault, FaultKind
    world = start_world(queue=dataclasses.replace(FAST_QUEUE, command_timeout=1.0))
    world.stack.set_fault(Fault(FaultKind.NO_TLS, "smtp.gamma.test"))       # nothing to do with bob
    store = world.stack.queue
    original, calls, release = store.add, [], threading.Event()

    def held_add(entry, content):
        if entry.host == "mx1.beta.test":
            calls.append(entry.id)
            if len(calls) == 1:
                release.wait(HELD)
        return original(entry, content)
    store.add = held_add
    try:
        _submit(world, [BOB], "slowq")
        _release_after_the_sender_gives_up(world, release)
        world.wait_queue_empty(timeout=30)
    finally:
        store.add = original
    assert calls and len(calls) == 1, calls     # the resend queued nothing
    assert _copies(world, "slowq") == 1


def test_the_mx_session_comes_before_the_mda_even_if_the_teacher_steps_lines_meanwhile(world, monkeypatch):
    """The teacher switches to line-by-line stepping (paused) while the MX writes before its 250:
    the 250 waits at the gate until the teacher plays; the MDA's fact still follows the session's."""
    real = direct.write
    gate = world.stack.gate

    def write_then_step_lines(*args, **kwargs):
        gate.set_granularity("line")
        gate.pause()
        return real(*args, **kwargs)
    monkeypatch.setattr(direct, "write", write_then_step_lines)
    replies = []

    def send():
        with smtplib.SMTP(world.address("mx1.beta.test"), world.port("mx", "mx1.beta.test"),
                          local_hostname="client.rev.test", timeout=30) as c:
            c.ehlo()
            c.mail(ALICE)
            c.rcpt(BOB)
            replies.append(c.data(_msg("lines")))
    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    deadline = time.monotonic() + HELD
    while not gate.state().waiting:             # the teacher sees the 250 waiting
        assert time.monotonic() < deadline, gate.state()
        time.sleep(0.01)
    assert not [e for e in world.events.events if isinstance(e.fact, MdaDelivered)]     # told after the 250
    gate.set_granularity("hop")
    gate.play()
    sender.join(HELD)
    assert replies and replies[0][0] == 250, replies
    [delivered] = world.events.facts(MdaDelivered, lambda f: f.rcpt == BOB)
    assert _order(world, delivered.trace) == ["smtp.session", "mda.deliver"]


def test_a_recipient_named_twice_gets_one_copy_on_every_path(world):
    """RCPT TO bob twice (``sendmail(..., [bob, bob])``; the second with its domain in capitals):
    one copy, whether the MX delivers before its 250 or queues first (a fault in force), whether
    the message comes from outside (no relay key) or is relayed (its copy named by key + address).
    Each RCPT is still answered 250."""
    from simulator.scenario.model import Fault, FaultKind
    twice = [BOB, "bob@BETA.test"]

    def from_outside(tag: str) -> dict:
        with smtplib.SMTP(world.address("mx1.beta.test"), world.port("mx", "mx1.beta.test"),
                          local_hostname="client.rev.test", timeout=30) as c:
            return c.sendmail(ALICE, twice, _msg(tag))
    refused = [from_outside("twice-mx")]
    _submit(world, twice, "twice-relayed")
    world.wait_queue_empty(timeout=20)
    world.stack.set_fault(Fault(FaultKind.NO_TLS, "smtp.gamma.test"))       # the MXs queue from now on
    refused.append(from_outside("twice-mx-queued"))
    _submit(world, twice, "twice-relayed-queued")
    world.wait_queue_empty(timeout=20)
    assert refused == [{}, {}]                  # no RCPT refused
    tags = ("twice-mx", "twice-relayed", "twice-mx-queued", "twice-relayed-queued")
    assert {tag: _copies(world, tag) for tag in tags} == dict.fromkeys(tags, 1)
    assert len(world.events.facts(MdaDelivered, lambda f: f.rcpt.lower() == BOB)) == 4


def test_a_relayed_copy_whose_new_fsync_failed_after_the_link_is_not_written_again_by_the_queue(world, monkeypatch):
    """The fsync of ``new/`` fails (EIO) after the direct copy's link: the copy is in ``new/`` under
    its relay name, the write counts as failed and the message goes to the queue, whose MDA must
    count that copy (it looks for its own name only) and write none."""
    from simulator.store import maildir
    real, calls = maildir._NEW_SYNC.sync, []

    def failing_once(path):
        calls.append(path)
        if len(calls) == 1:
            raise OSError(5, "Input/output error")
        return real(path)
    monkeypatch.setattr(maildir._NEW_SYNC, "sync", failing_once)
    _submit(world, [BOB], "eio")
    world.wait_messages(BOB, 1, timeout=20)
    world.wait_queue_empty(timeout=20)
    assert calls, "the fsync of new/ was never asked for"
    assert _copies(world, "eio") == 1


def test_a_client_that_leaves_during_the_direct_write_still_gets_its_copy_told_in_order(world, monkeypatch):
    """The client sends the final dot and leaves while the MX writes: the copy is kept (the write was
    under way, shielded), and its MDA fact follows the session's (whose 250 found nobody)."""
    real, entered, release = direct.write, threading.Event(), threading.Event()

    def held(*args, **kwargs):
        entered.set()
        release.wait(HELD)
        return real(*args, **kwargs)
    monkeypatch.setattr(direct, "write", held)
    s = socket.create_connection((world.address("mx1.beta.test"), world.port("mx", "mx1.beta.test")), timeout=10)
    try:
        f = s.makefile("rb")
        f.readline()
        for line in (b"EHLO client.rev.test", f"MAIL FROM:<{ALICE}>".encode(), f"RCPT TO:<{BOB}>".encode(), b"DATA"):
            s.sendall(line + b"\r\n")
            while f.readline()[3:4] == b"-":
                pass
        s.sendall(_msg("gone") + b".\r\n")
        assert entered.wait(HELD), "the direct write never began"
    finally:
        s.close()                               # gone while the write is held
        release.set()
    [delivered] = world.events.facts(MdaDelivered, lambda f: f.rcpt == BOB, timeout=HELD)
    [session] = world.events.facts(SmtpSession, lambda f: f.dst == MX1)
    assert delivered.trace == session.trace
    assert _order(world, delivered.trace) == ["smtp.session", "mda.deliver"]
    assert _copies(world, "gone") == 1
