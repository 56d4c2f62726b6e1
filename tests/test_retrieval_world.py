"""Retrieval inside the whole world: mail arrives by SMTP, IMAP and POP3 clients see it."""
from __future__ import annotations

import imaplib
import poplib
import smtplib
import time

from imapclient import IMAPClient

from simulator.runtime import MailStack


def submit(world, subject: str = "Hello", to: str = "bob@beta.test") -> None:
    with smtplib.SMTP("127.0.0.1", world.port("submission"), local_hostname="c.test", timeout=10) as s:
        s.login("alice@alpha.test", "alice")
        s.sendmail("alice@alpha.test", [to], f"Subject: {subject}\r\nTo: {to}\r\n\r\nbody of {subject}\r\n".encode())


def test_idle_sees_smtp_delivery_and_another_sessions_expunge(world):
    submit(world, "first")
    world.wait_messages("bob@beta.test")
    idler = IMAPClient("127.0.0.1", port=world.port("imap"), ssl=False, timeout=10)
    other = IMAPClient("127.0.0.1", port=world.port("imap"), ssl=False, timeout=10)
    try:
        idler.login("bob@beta.test", "bob")
        other.login("bob@beta.test", "bob")
        assert idler.select_folder("INBOX")[b"EXISTS"] == 1
        other.select_folder("INBOX")
        idler.idle()
        started = time.monotonic()
        submit(world, "second")
        responses = idler.idle_check(timeout=10)
        assert (2, b"EXISTS") in responses, responses
        assert time.monotonic() - started < 5                  # pushed, not polled
        other.add_flags([1], [b"\\Deleted"])
        other.expunge()
        responses = []
        deadline = time.monotonic() + 10
        while (1, b"EXPUNGE") not in responses and time.monotonic() < deadline:
            responses += idler.idle_check(timeout=2)
        assert (1, b"EXPUNGE") in responses, responses
        idler.idle_done()
        fetched = idler.fetch(idler.search("ALL"), ["ENVELOPE"])   # IMAPClient speaks UIDs
        assert [m[b"ENVELOPE"].subject for m in fetched.values()] == [b"second"]
    finally:
        for client in (idler, other):
            try:
                client.logout()
            except Exception:
                pass
    idle_events = world.events.wait_for(lambda e: e.kind == "imap.idle")
    assert idle_events[0].src == "mailbox:bob@beta.test" and idle_events[0].dst == "mua:bob@beta.test"


def test_uids_and_uidvalidity_survive_a_restart_and_are_never_reused(start_world):
    world = start_world()
    for n in range(3):
        submit(world, f"m{n}")
    world.wait_messages("bob@beta.test", 3)
    with IMAPClient("127.0.0.1", port=world.port("imap"), ssl=False) as c:
        c.login("bob@beta.test", "bob")
        validity = c.select_folder("INBOX")[b"UIDVALIDITY"]
        uids = c.search("ALL")
        assert uids == [1, 2, 3]
        c.delete_messages([3])
        c.expunge()
    config = world.stack.config
    world.stack.stop()
    again = MailStack(config, world.stack.world.scenario)
    again.start()
    try:
        port = next(item.port for item in again.listeners if item.service == "imap" and item.host == "front")
        with smtplib.SMTP("127.0.0.1", next(i.port for i in again.listeners
                                            if i.service == "submission" and i.host == "front"),
                          local_hostname="tests.localhost") as s:
            s.login("alice@alpha.test", "alice")
            s.sendmail("alice@alpha.test", ["bob@beta.test"], b"Subject: after restart\r\n\r\nx\r\n")
        deadline = time.monotonic() + 10
        with IMAPClient("127.0.0.1", port=port, ssl=False) as c:
            c.login("bob@beta.test", "bob")
            while time.monotonic() < deadline:
                info = c.select_folder("INBOX")
                if info[b"EXISTS"] == 3:
                    break
                time.sleep(0.1)
            assert info[b"UIDVALIDITY"] == validity
            assert c.search("ALL") == [1, 2, 4]           # 3 was expunged and is never given again
    finally:
        again.stop()


def test_pop3_download_and_delete_versus_imap_keep(world):
    submit(world, "keep me")
    submit(world, "take me")
    world.wait_messages("bob@beta.test", 2)
    box = imaplib.IMAP4("127.0.0.1", world.port("imap"))
    box.login("bob@beta.test", "bob")
    box.select("INBOX")
    typ, data = box.fetch("1:*", "(BODY[HEADER.FIELDS (SUBJECT)])")   # non-PEEK: sets \Seen, keeps the mail
    assert typ == "OK"
    box.logout()
    assert len(world.messages("bob@beta.test")) == 2
    pop = poplib.POP3(world.address("mx1.beta.test"), world.port("pop3", "mx1.beta.test"), timeout=10)
    pop.user("bob")
    pop.pass_("bob")
    count, _ = pop.stat()
    assert count == 2
    assert b"body of take me" in b"\r\n".join(pop.retr(2)[1])
    pop.dele(2)
    pop.quit()
    assert len(world.messages("bob@beta.test")) == 1
    quit_event = world.events.wait_for(lambda e: e.kind == "pop3.quit")[0]
    assert quit_event.src == "mailbox:bob@beta.test" and quit_event.data["deleted"] == 1
    fetch_event = world.events.wait_for(lambda e: e.kind == "imap.fetch")[0]
    assert fetch_event.dst == "mua:bob@beta.test"


def test_one_user_never_reads_another_users_mailbox(world):
    submit(world, "private")
    world.wait_messages("bob@beta.test")
    box = imaplib.IMAP4("127.0.0.1", world.port("imap"))
    box.login("alice@alpha.test", "alice")
    for name in ("../bob", "../../beta.test/bob", "%", "*", "/bob", "INBOX/../../bob"):
        typ, _ = box.select(f'"{name}"')
        assert typ == "NO", name
    typ, data = box.select("INBOX")
    assert data == [b"0"]
    box.logout()
    # a domain's own server serves only its own users
    pop = poplib.POP3(world.address("mx.alpha.test"), world.port("pop3", "mx.alpha.test"), timeout=10)
    try:
        pop.user("bob@beta.test")
        try:
            pop.pass_("bob")
            raise AssertionError("alpha's POP3 server let beta's user in")
        except poplib.error_proto as err:
            assert str(err).startswith("b'-ERR")
    finally:
        pop.close()


def test_retrieval_hops_join_the_message_trace(world):
    submit(world, "traced")
    [raw] = world.wait_messages("bob@beta.test")
    delivered = world.events.wait_for(lambda e: e.kind == "mda.deliver")[0]
    assert f"X-Mailflow-Trace: {delivered.trace}".encode() in raw
    box = imaplib.IMAP4("127.0.0.1", world.port("imap"))
    box.login("bob@beta.test", "bob")
    box.select("INBOX")
    box.uid("FETCH", "1", "(BODY.PEEK[])")
    box.logout()
    pop = poplib.POP3("127.0.0.1", world.port("pop3"), timeout=10)
    pop.user("bob@beta.test")
    pop.pass_("bob")
    pop.retr(1)
    pop.quit()
    fetch = world.events.wait_for(lambda e: e.kind == "imap.fetch")[0]
    retr = world.events.wait_for(lambda e: e.kind == "pop3.retr")[0]
    assert fetch.trace == retr.trace == delivered.trace
    kinds = world.events.kinds(delivered.trace)
    assert kinds[0] == "smtp.session" and "mda.deliver" in kinds and kinds[-1] == "pop3.retr"
