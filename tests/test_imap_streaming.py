"""A large FETCH is streamed: the core pauses after a byte budget and resumes; order and content hold."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from simulator.protocols.imap import ImapSession, Send
from simulator.store import MailStore
from test_imap_core import T0, Client, MemoryStore


def fill(store: MailStore, count: int = 20, size: int = 3000) -> None:
    for n in range(count):
        body = (f"line {n}\r\n" * (size // 8)).encode()
        store.append("bob@beta.test", "INBOX", b"Subject: m%d\r\n\r\n" % n + body)


def drain(session: ImapSession, effects) -> bytes:
    out = b"".join(e.data for e in effects if isinstance(e, Send))
    rounds = 0
    while session.pending:
        rounds += 1
        assert rounds < 1000
        out += b"".join(e.data for e in session.resume() if isinstance(e, Send))
    return out, rounds


@pytest.fixture(params=["maildir", "memory"])
def store(request, tmp_path: Path):
    if request.param == "memory":
        return MemoryStore()
    return MailStore(tmp_path / "mail", clock=lambda: T0)


def test_paused_fetch_gives_the_same_bytes_as_an_unpaused_one(store):
    fill(store)
    whole = Client(store)
    whole.login()
    whole.select()
    expected = whole.cmd("F1 FETCH 1:* (UID RFC822.SIZE BODY.PEEK[])")

    streamed = Client(store, output_budget=4096)
    streamed.login()
    streamed.select()
    first = streamed.session.feed(b"F1 FETCH 1:* (UID RFC822.SIZE BODY.PEEK[])\r\nN1 NOOP\r\n")
    assert streamed.session.pending
    out, rounds = drain(streamed.session, first)
    assert rounds >= 10                               # it really paused, many times
    fetch, _, rest = out.partition(b"F1 OK")
    assert fetch + b"F1 OK" + rest.split(b"\r\n", 1)[0] + b"\r\n" == expected
    assert rest.split(b"\r\n", 1)[1].endswith(b"N1 OK NOOP completed\r\n")   # the pipelined NOOP waited its turn


def test_expunge_by_another_session_during_a_paused_fetch(store):
    fill(store, count=10)
    reader = Client(store, output_budget=2048)
    reader.login()
    reader.select()
    other = Client(store)
    other.login()
    other.select()
    first = reader.session.feed(b"F1 FETCH 1:* (BODY.PEEK[])\r\n")
    assert reader.session.pending
    other.cmd("S STORE 10 +FLAGS.SILENT (\\Deleted)")
    assert b"E OK" in other.cmd("E EXPUNGE")
    out, _ = drain(reader.session, first)
    assert re.search(rb"F1 (OK|NO \[EXPUNGEISSUED\])", out)
    assert b"* 10 EXPUNGE" not in out.split(b"F1 ")[0]   # no EXPUNGE while answering FETCH (RFC 3501 §7.4.1)
    assert b"Subject: m0" in out
    after = reader.cmd("N NOOP")
    assert b"* 10 EXPUNGE" in after                      # told afterwards
