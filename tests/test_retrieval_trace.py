"""RetrievalBus (simulator/runtime.py): a hop about one message (a FETCH, a DELE) joins the trace the
MDA wrote into it (``X-Mailflow-Trace``), read from the message's header only -- however long the
header, and never from a line of the body.  A POP3 RETR is not looked up again: its session read the
header it sent and set the trace itself (or found none)."""
from __future__ import annotations

import dataclasses

from simulator import mda
from simulator.facts.pop3 import Pop3Deleted, Pop3Retrieved
from simulator.runtime import RetrievalBus
from simulator.store import MailStore

USER = "bob@beta.test"
BODY = b"Subject: hi\r\nFrom: a@alpha.test\r\nTo: bob@beta.test\r\n\r\nhello\r\n"


class _Bus:
    def publish(self, fact):
        return fact


def _dele(uid: int, **extra) -> Pop3Deleted:
    return Pop3Deleted(src=f"mailbox:{USER}", dst=f"mua:{USER}", server="pop3:beta.test", peer="127.0.0.1",
                       address=USER, tls=False, number=1, uid=uid, **extra)


def _published(tmp_path, content: bytes, **extra) -> Pop3Deleted:
    store = MailStore(tmp_path / "mail")
    _, uid = store.append(USER, "INBOX", content)
    return RetrievalBus(_Bus(), store).publish(_dele(uid, **extra))


def test_the_trace_the_mda_wrote_is_joined(tmp_path):
    content = mda.final_headers(BODY, return_path="a@alpha.test", delivered_to=USER, trace="m-00000000002a")
    fact = _published(tmp_path, content)
    assert fact.trace == "m-00000000002a"
    assert fact == dataclasses.replace(_dele(fact.uid), trace="m-00000000002a")


def test_a_trace_after_a_long_header_is_found(tmp_path):
    filler = b"".join(b"X-Filler-%d: %s\r\n" % (i, b"f" * 60) for i in range(60))      # about 4.5 KiB
    content = filler + b"X-Mailflow-Trace: m-0000000000ff\r\n" + BODY
    assert _published(tmp_path, content).trace == "m-0000000000ff"


def test_a_trace_cut_by_the_first_read_is_read_whole(tmp_path):
    for shift in range(-16, 2):         # the field straddles the first read's end (runtime.RetrievalBus._FIRST)
        head = b"X-Pad: " + b"p" * (2048 - 7 - 2 - 20 + shift) + b"\r\n"
        content = head + b"X-Mailflow-Trace: m-0123456789abcdef\r\n" + BODY
        assert _published(tmp_path / f"s{shift}", content).trace == "m-0123456789abcdef", shift


def test_a_trace_line_in_the_body_is_not_a_header_field(tmp_path):
    content = BODY + b"X-Mailflow-Trace: m-0000000000aa\r\n"
    assert _published(tmp_path, content).trace is None
    long_body = BODY + b"x" * 3000 + b"\r\nX-Mailflow-Trace: m-0000000000bb\r\n"
    assert _published(tmp_path / "2", long_body).trace is None


def test_a_fact_with_a_trace_keeps_it(tmp_path):
    content = mda.final_headers(BODY, return_path="a@alpha.test", delivered_to=USER, trace="m-00000000002a")
    assert _published(tmp_path, content, trace="m-000000000001").trace == "m-000000000001"


def test_a_message_gone_leaves_the_hop_untraced(tmp_path):
    store = MailStore(tmp_path / "mail")
    store.append(USER, "INBOX", BODY)
    assert RetrievalBus(_Bus(), store).publish(_dele(999)).trace is None


def test_a_retr_is_not_looked_up_again(tmp_path):
    content = mda.final_headers(BODY, return_path="a@alpha.test", delivered_to=USER, trace="m-00000000002a")
    store = MailStore(tmp_path / "mail")
    _, uid = store.append(USER, "INBOX", content)
    retr = Pop3Retrieved(src=f"mailbox:{USER}", dst=f"mua:{USER}", server="pop3:beta.test", peer="127.0.0.1",
                         address=USER, tls=False, command="RETR", number=1, uid=uid, size=100)
    assert RetrievalBus(_Bus(), store).publish(retr).trace is None
