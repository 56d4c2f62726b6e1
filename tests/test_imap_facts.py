"""The IMAP facts as the narrator words them: a few table checks in both languages.

(The generic narrator tests, tests/test_narrate.py, walk every fact with generated values; these pin
what a learner reads for the common IMAP hops: counted nouns, folder names as code, no words in the
facts themselves.)
"""
from __future__ import annotations

import pytest

from simulator import nodes
from simulator.facts import Status
from simulator.facts import imap as facts
from simulator.narrate import markup, narrate

BOB = "bob@beta.test"
HOP = dict(src=nodes.mailbox(BOB), dst=nodes.mua(BOB), server=nodes.imap("beta.test"), user=BOB)


@pytest.mark.parametrize("exists, en, ru", [
    (1, "1 message", "1 письмо"), (2, "2 messages", "2 письма"), (5, "5 messages", "5 писем"),
    (21, "21 messages", "21 письмо"),
])
def test_select_counts_messages_in_both_languages(exists, en, ru):
    text = narrate(facts.ImapSelect(**HOP, folder="INBOX", command="SELECT", exists=exists, readonly=False))
    assert text["en"]["summary"] == f"`SELECT` `INBOX`: {en}"
    assert text["ru"]["summary"] == f"`SELECT` `INBOX`: {ru}"


def test_fetch_of_bodies_and_of_summaries():
    bodies = narrate(facts.ImapFetch(**HOP, folder="INBOX", command="UID FETCH", items=("BODY[]", "UID"),
                                     count=2, bodies=2, uids=(1, 2)))
    assert bodies["en"]["summary"] == "`UID FETCH` 2 messages: `BODY[]`, `UID`"
    assert "downloads 2 message bodies" in bodies["en"]["explain"]
    assert "содержимое 2 писем" in bodies["ru"]["explain"]
    meta = narrate(facts.ImapFetch(**HOP, folder="INBOX", command="FETCH", items=("FLAGS",), count=1,
                                   bodies=0, uids=(1,)))
    assert "сводные данные 1 письма" in meta["ru"]["explain"]


def test_a_failed_login_names_the_throttle_delay():
    fact = facts.ImapLogin(src=nodes.OUTSIDE, dst=nodes.FRONT, server=nodes.FRONT, status=Status.FAILED,
                           login=BOB, mechanism="LOGIN", peer="127.0.0.1", delay=2.0)
    text = narrate(fact)
    assert "held back 2 s" in text["en"]["explain"]
    assert "ждала ответа 2 с" in text["ru"]["explain"]
    assert fact.data()["peer"] == "127.0.0.1" and fact.data()["delay"] == 2.0


def test_append_into_a_folder_reads_v_papke():
    text = narrate(facts.ImapAppend(**{**HOP, "folder": "INBOX"}, uid=7, size=643))
    assert text["ru"]["summary"] == "`APPEND` в папке INBOX: UID 7, 643 байта"
    text = narrate(facts.ImapAppend(**{**HOP, "folder": "Sent"}, uid=7, size=2048))
    assert text["ru"]["summary"] == "`APPEND` в папке `Sent`: UID 7, 2 КБ"
    assert text["en"]["summary"] == "`APPEND` into `Sent`: UID 7, 2 KB"


def test_facts_hold_no_words():
    """Every field of a fact is data: codes, numbers, names; no prose in either language."""
    fact = facts.ImapStore(**HOP, folder="INBOX", command="UID STORE", item="+FLAGS.SILENT",
                           flags=("\\Seen",), mode="+", count=3)
    assert fact.data() == {"server": nodes.imap("beta.test"), "user": BOB, "folder": "INBOX",
                           "command": "UID STORE", "item": "+FLAGS.SILENT", "flags": ["\\Seen"], "mode": "+",
                           "count": 3}
    assert markup.strip_code(narrate(fact)["en"]["summary"]).split() == ["on", "3", "messages"]
