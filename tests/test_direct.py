"""The final MX delivers before its 250 when nothing needs the queue (``simulator.direct``).

Facts asserted: the file is in the mailbox when the client reads the 250; no queue entry was written
for it; the hops keep the order the page folds (the MX's session, then the MDA's delivery); a fault
in force, or a recipient the MX does not keep, sends the message through the queue as before; a
relayed copy leaves a durable record of its relay key; a copy an attempt linked before it was killed
(no record, no 250) is found by the resend, whatever its time and host parts and flags.
The crash windows themselves: ``tests/test_crash.py``.
"""
from __future__ import annotations

import json
import os
import re
import smtplib
import time

from simulator import direct, mda
from simulator.facts import MdaDelivered, SmtpSession
from simulator.protocols.smtp import relayid
from simulator.queue import Entry, QueueStore, Recipient, relay_mark
from simulator.scenario.model import Fault, FaultKind
from simulator.store.maildir import find_unique

BOB, ALICE = "bob@beta.test", "alice@alpha.test"


def _message(tag: str) -> bytes:
    return (f"From: <{ALICE}>\r\nTo: <{BOB}>\r\nSubject: direct {tag}\r\nMessage-ID: <{tag}@direct.test>\r\n"
            f"\r\nbody of {tag}\r\n").encode()


def _send(world, data: bytes, rcpts=(BOB,), host: str = "mx1.beta.test") -> tuple[tuple[int, bytes], int]:
    """One transaction to ``host``'s MX port; (the reply to DATA, the files in bob's Maildir right then)."""
    with smtplib.SMTP(world.address(host), world.port("mx", host), local_hostname="client.direct.test",
                      timeout=20) as client:
        client.ehlo()
        client.mail(ALICE)
        for rcpt in rcpts:
            client.rcpt(rcpt)
        reply = client.data(data)
        return reply, len(world.messages(BOB))


def _queued(world, host: str) -> list[str]:
    directory = world.stack.config.data_dir / "queue" / host
    return sorted(p.name for p in directory.iterdir() if not p.name.startswith(".")) if directory.is_dir() else []


def _order(world, trace: str) -> list[str]:
    return [e.kind for e in world.events.events if e.trace == trace and e.kind in ("smtp.session", "mda.deliver")]


def test_an_mx_with_nothing_in_the_way_delivers_before_its_250_and_queues_nothing(world):
    adds: list[str] = []
    store = world.stack.queue
    original = store.add
    store.add = lambda entry, content: (adds.append(entry.host), original(entry, content))[1]
    try:
        (code, text), files = _send(world, _message("first"))
    finally:
        store.add = original
    assert code == 250 and files == 1                 # in bob's Maildir when the 250 arrived
    assert adds == [] and _queued(world, "mx1.beta.test") == []
    [delivered] = world.events.facts(MdaDelivered, lambda f: f.rcpt == BOB)
    [session] = world.events.facts(SmtpSession, lambda f: f.dst == "mta:mx1.beta.test")
    assert session.trace == delivered.trace and session.queue_id and session.queue_id.encode() in text
    assert _order(world, delivered.trace) == ["smtp.session", "mda.deliver"]
    assert delivered.path.startswith("mail/beta.test/bob/new/") and delivered.host == "mx1.beta.test"
    assert session.direct and text.startswith(b"2.0.0 Ok: delivered as ")


def test_a_fault_in_force_sends_the_message_through_the_queue_as_before(world):
    world.stack.set_fault(Fault(FaultKind.NO_TLS, "smtp.gamma.test"))       # nothing to do with bob
    (code, text), _ = _send(world, _message("queued"))
    assert code == 250 and text.startswith(b"2.0.0 Ok: queued as ")
    [delivered] = world.events.facts(MdaDelivered, lambda f: f.rcpt == BOB)
    [session] = world.events.facts(SmtpSession, lambda f: f.dst == "mta:mx1.beta.test")
    assert not session.direct
    assert re.search(r"\.M\d+Q[0-9A-F]{12}R0\.", delivered.path)           # the queue's name for it
    assert _order(world, delivered.trace) == ["smtp.session", "mda.deliver"]
    world.wait_queue_empty()
    assert _queued(world, "mx1.beta.test") == []


def test_a_backup_mx_queues_and_the_final_mx_delivers_what_it_relays_before_its_250(world):
    (code, text), _ = _send(world, _message("backup"), host="mx2.beta.test")
    assert code == 250 and b"queued as" in text                         # mx2 keeps it, and forwards it
    world.wait_messages(BOB)
    world.wait_queue_empty()
    records = [json.loads(p.read_text()) for p in (world.stack.config.data_dir / "queue" / "mx1.beta.test").glob("*.done")]
    assert [(r["extra"].get("direct"), [x["address"] for x in r["recipients"]]) for r in records] == [(True, [BOB])]
    assert records[0]["extra"]["relay"].startswith("<") and "@mx2.beta.test> " in records[0]["extra"]["relay"]


def test_a_relayed_copy_leaves_a_durable_record_of_its_key(tmp_path):
    queue = QueueStore(tmp_path / "queue")
    content = _message("recorded")
    key = relayid.key_of(content, queue_id="5E17DE125E17", host="smtp.alpha.test")
    entry = Entry(id="0123456789AB", host="mx1.beta.test", sender=ALICE, recipients=[Recipient(BOB)], trace="m-1",
                  created=time.time(), next_attempt=0.0, extra={"relay": key})
    copies, durable = direct.write(queue, tmp_path, entry, content, [BOB], relay=key)
    assert durable and entry.direct and [c.written for c in copies] == [True]
    assert copies[0].path.parent == tmp_path / "mail" / "beta.test" / "bob" / "new"
    assert copies[0].path.read_bytes().startswith(b"Return-Path: <alice@alpha.test>\r\nDelivered-To: bob@beta.test\r\n")
    again = QueueStore(tmp_path / "queue")
    assert again.load_all() == [] and again.relayed == {relay_mark(key, BOB)}   # known after a restart


def test_a_copy_linked_by_a_killed_attempt_is_found_by_the_resend_and_recorded(tmp_path):
    """Killed after the link, before the record and the 250: the resend (another queue id, another
    time) finds the copy by its key and recipient, in new/ or in cur/ with flags, under another host part."""
    queue = QueueStore(tmp_path / "queue")
    content = _message("killed")
    key = relayid.key_of(content, queue_id="5E17DE125E17", host="smtp.alpha.test")
    box = mda.maildir_for(tmp_path, BOB)
    name, unique = mda.relay_name(1700000000.5, key, BOB)
    path, written = mda.deliver_once(box, content, name=name)
    assert written and unique in name
    other = box / "cur" / (name.rsplit(".", 1)[0] + ".old-container:2,S")     # read, and the host renamed
    os.rename(path, other)
    resend = Entry(id="0A0B0C0D0E0F-F", host="mx1.beta.test", sender=ALICE,
                   recipients=[Recipient(BOB), Recipient(ALICE)], trace="m-2", created=1700000099.0,
                   next_attempt=0.0, extra={"relay": key})
    assert direct.found(queue, tmp_path, resend, [BOB, ALICE]) == [BOB]      # alice's copy was never made
    again = QueueStore(tmp_path / "queue")
    again.load_all()
    assert again.relayed == {relay_mark(key, BOB)}
    other_key = relayid.key_of(content.replace(b"body", b"bodx"), queue_id="5E17DE125E17", host="smtp.alpha.test")
    assert find_unique(box, mda.relay_name(1700000000.5, other_key, BOB)[1]) is None


def test_a_failed_direct_write_sends_the_message_through_the_queue_and_it_arrives_once(world, monkeypatch):
    """A Maildir that cannot be written at the 250's moment (disk full, removed): nothing half-done
    is acknowledged as delivered; the message is queued as before and delivered once."""
    real, calls = mda.deliver_once, []

    def failing_once(maildir, content, **kwargs):
        calls.append(maildir.name)
        if len(calls) == 1:
            raise OSError(28, "No space left on device")
        return real(maildir, content, **kwargs)
    monkeypatch.setattr(mda, "deliver_once", failing_once)
    (code, text), _ = _send(world, _message("full"))
    assert code == 250 and text.startswith(b"2.0.0 Ok: queued as ")
    [delivered] = world.events.facts(MdaDelivered, lambda f: f.rcpt == BOB)
    world.wait_queue_empty()
    assert len(world.messages(BOB)) == 1 and calls[:2] == ["bob", "bob"]
    [session] = world.events.facts(SmtpSession, lambda f: f.dst == "mta:mx1.beta.test")
    assert not session.direct and _order(world, delivered.trace) == ["smtp.session", "mda.deliver"]
