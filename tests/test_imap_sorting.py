"""SORT, THREAD and ESEARCH algorithms (``simulator.protocols.imap.sorting`` / ``threading`` / ``esearch``).

Pure tables, no server: RFC 5256's base-subject steps and sort keys, RFC 5957's display keys,
RFC 5256 §3's two threading algorithms, RFC 4731 / 5267 / 9394 / 7162 result formatting — checked
against the RFCs' own examples and against imaptest's scripts (src/tests/sort-*, thread*, esearch*,
esort, search-partial, sort-partial), whose expected answers are quoted beside each case and whose
mailboxes live in ``imaptest_mboxes.py``.  Plus what hostile mail can do: loops, 5,000-deep chains,
huge subjects.
"""
from __future__ import annotations

import re
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from imaptest_mboxes import MBOX
from simulator.protocols.imap import esearch, sorting, threading
from simulator.protocols.imap.esearch import Returns, format_esearch, parse_partial, parse_returns
from simulator.protocols.imap.sorting import Msg, base_subject, base_subject_info, casemap, parse_criteria
from simulator.protocols.imap.threading import Node, format_threads, message_ids, thread

# --------------------------------------------------------------------------- mailboxes

_FROM_LINE = re.compile(r"^From \S+\s+(\w{3} \w{3} [ \d]?\d \d\d:\d\d:\d\d \d{4})(?: ([+-])(\d\d)(\d\d))?$")


def _mbox_messages(name: str) -> list[tuple[float, bytes]]:
    """(INTERNALDATE, CRLF message) of each message of an imaptest mbox, in order."""
    out = []
    for chunk in re.split(r"(?m)^(?=From )", MBOX[name]):
        if not chunk.startswith("From "):
            continue
        first, _, rest = chunk.partition("\n")
        m = _FROM_LINE.match(first)
        assert m, first
        zone = timezone.utc
        if m.group(2):
            delta = timedelta(hours=int(m.group(3)), minutes=int(m.group(4)))
            zone = timezone(delta if m.group(2) == "+" else -delta)
        when = datetime.strptime(m.group(1), "%a %b %d %H:%M:%S %Y").replace(tzinfo=zone)
        body = rest[:-1] if rest.endswith("\n\n") else rest       # the blank line before "From "
        out.append((when.timestamp(), body.replace("\n", "\r\n").encode()))
    return out


def mailbox(name: str, keep: list[int] | None = None) -> list[Msg]:
    """The mailbox as a client sees it: the messages kept (1-based mbox positions), renumbered.

    UIDs are not sequence numbers (3 × position + 100), so a seq/uid mix-up shows.
    """
    raw = _mbox_messages(name)
    keep = keep or list(range(1, len(raw) + 1))
    msgs = []
    for seq, pos in enumerate(keep, 1):
        date, data = raw[pos - 1]
        msgs.append(Msg.from_header(uid=3 * pos + 100, seq=seq, size=len(data), internaldate=date, head=data))
    return msgs


def sorted_seqs(name: str, *criteria: str) -> list[int]:
    return [m.seq for m in sorting.sort(mailbox(name), criteria)]


def msg(seq: int, uid: int | None = None, *, internal: float = 0.0, size: int = 0, **headers: str) -> Msg:
    """A message from keyword headers: from_="a@b", message_id="<x@y>" (Message-ID), date=..."""
    return Msg(uid=uid or seq, seq=seq, size=size, internaldate=internal,
               headers={k.rstrip("_").replace("_", "-"): v for k, v in headers.items()})


# --------------------------------------------------------------------------- base subject (RFC 5256 §2.1)

@pytest.mark.parametrize("raw, base, reply", [
    ("a", "A", False),
    ("Re: foo", "FOO", True),                                     # subj-refwd
    ("RE: Re: re: foo", "FOO", True),                             # step (5): repeated
    ("Fw: foo", "FOO", True), ("FWD: foo", "FOO", True),
    ("Re[2]: foo", "FOO", True),                                  # subj-refwd with a subj-blob
    ("Re : foo", "FOO", True),                                    # *WSP before ":"
    ("Reply: foo", "REPLY: FOO", False),                          # not a subj-refwd
    ("[list] Re: foo", "FOO", True),                              # *subj-blob subj-refwd
    ("[list] foo", "FOO", False),                                 # step (4)
    ("[xyz]", "[XYZ]", False),                                    # step (4): would leave it empty
    ("[a][b]", "[B]", False),                                     # the last blob is the subj-base
    ("foo (fwd)", "FOO", True),                                   # step (2): subj-trailer
    ("foo (FWD) (fwd)  ", "FOO", True),
    ("[fwd: foo]", "FOO", True),                                  # step (6)
    ("Re: [FWD: c]", "C", True),                                  # imaptest sort-subject #7
    ("[foo] Fwd: [bar] Re: fw: b (fWd)  (fwd)", "B", True),       # imaptest #5
    ("re: [fwd: [fwd: re: [fwd: babylon]]]", "BABYLON", True),    # imaptest #15
    ("Ad: Re: Ad: Re: Ad: x", "AD: RE: AD: RE: AD: X", False),    # imaptest #14: "Ad:" is no marker
    ("b (a)", "B (A)", False),
    ("=?iso-8859-1?q?RE:_C?=", "C", True),                        # step (1): RFC 2047 first
    ("=?us-ascii?b?UmU6IGM=?=", "C", True),
    ("=?iso-8859-1?q?_?=", "", False),
    ("Re: =?utf-8?q?b?=", "B", True),
    ("foo\t \r\n  bar", "FOO BAR", False),                        # step (1): white space runs
    ("", "", False),
    ("   ", "", False),
    ("Re:", "", True),
])
def test_base_subject_follows_the_steps_of_rfc5256(raw: str, base: str, reply: bool) -> None:
    assert base_subject_info(raw) == (base, reply)


def test_a_huge_hostile_subject_is_bounded_and_linear() -> None:
    raw = "Re: " * 500_000 + "x"                                   # 2 MB
    base, reply = base_subject_info(raw)
    assert reply and len(base) <= sorting.FIELD_LIMIT
    assert base_subject("[" * 20_000 + "]" * 20_000) != ""         # no catastrophic backtracking


def test_casemap_is_i_unicode_casemap() -> None:
    """RFC 5051 §2: titlecase, decomposition; for ASCII simply upper case."""
    assert casemap("Hello [x]_") == "HELLO [X]_"
    assert casemap("ﬁx") == "FIX"                                  # compatibility decomposition, then titlecase
    assert casemap("é") == "E\u0301" == casemap("É")               # decomposed: sorts beside "E"
    assert casemap("ß") == "ß"                                     # no one-to-one titlecase: kept
    assert casemap("ǆ") == casemap("Ǆ")
    assert casemap("\udcff") == "\udcff"                           # raw 8-bit that was not UTF-8


def test_non_ascii_subjects_sort_by_casemap() -> None:
    msgs = [msg(1, subject="zebra"), msg(2, subject="=?utf-8?q?=C3=A9clair?="), msg(3, subject="Eclair"),
            msg(4, subject="éclair".encode().decode("utf-8")), msg(5, subject="apple")]
    assert [m.seq for m in sorting.sort(msgs, ["SUBJECT"])] == [5, 3, 2, 4, 1]


# --------------------------------------------------------------------------- sort keys (RFC 5256 §3)

def test_sort_criteria_grammar() -> None:
    assert parse_criteria(["reverse", "Date", "SUBJECT"]) == (("DATE", True), ("SUBJECT", False))
    for bad in ([], ["REVERSE"], ["REVERSE", "REVERSE", "DATE"], ["DATE", "REVERSE"], ["MODSEQ"],
                ["X-FOO"], [b"DATE"], [["DATE"]]):
        with pytest.raises(ValueError):
            sorting.sort([msg(1)], bad)


def test_sent_date_is_utc_and_falls_back_to_internaldate() -> None:
    """RFC 5256 §2.2: the zone counts; a missing or unparsable Date is the INTERNALDATE."""
    a = msg(1, internal=5.0, date="Fri, 22 Feb 2008 00:00:00 +0200")   # 21 Feb 22:00 UTC
    b = msg(2, internal=5.0, date="Thu, 21 Feb 2008 23:00:00 +0000")
    c = msg(3, internal=1203634800.7)                                  # 21 Feb 2008 23:00:00.7 UTC, no Date
    d = msg(4, internal=7.0, date="yesterday, around noon")
    assert sorting.sent_date(a) == 1203631200
    assert sorting.sent_date(c) == 1203634800 and sorting.sent_date(d) == 7
    assert [m.seq for m in sorting.sort([a, b, c, d], ["DATE"])] == [4, 1, 2, 3]


def test_imaptest_sort_arrival() -> None:
    assert sorted_seqs("sort-arrival", "ARRIVAL") == [1, 3, 2, 4, 5]                 # * sort 1 3 2 4 5
    assert sorted_seqs("sort-arrival", "REVERSE", "ARRIVAL") == [2, 4, 5, 3, 1]      # ties stay in order
    assert sorted_seqs("sort-arrival", "ARRIVAL", "REVERSE", "SIZE") == [1, 3, 5, 4, 2]


def test_imaptest_sort_date() -> None:
    assert sorted_seqs("sort-date", "DATE") == [1, 3, 7, 5, 2, 4, 6]
    assert sorted_seqs("sort-date", "REVERSE", "DATE") == [2, 4, 6, 5, 3, 7, 1]
    assert sorted_seqs("sort-date", "DATE", "REVERSE", "SIZE") == [1, 7, 3, 5, 6, 4, 2]


def test_imaptest_sort_size() -> None:
    assert sorted_seqs("sort-size", "SIZE") == [1, 8, 2, 6, 3, 5, 4, 7]
    assert sorted_seqs("sort-size", "REVERSE", "SIZE") == [4, 7, 3, 5, 2, 6, 1, 8]
    assert sorted_seqs("sort-size", "SIZE", "REVERSE", "ARRIVAL") == [8, 1, 6, 2, 5, 3, 7, 4]


def test_imaptest_sort_addresses() -> None:
    """The addr-mailbox of the first address; a group's name stands in its mailbox slot (ENVELOPE)."""
    for key in ("FROM", "TO", "CC"):
        assert sorted_seqs("sort-addresses", key) == [3, 1, 2]
        assert sorted_seqs("sort-addresses", "REVERSE", key) == [1, 2, 3]
        assert sorted_seqs("sort-addresses", key, "REVERSE", "ARRIVAL") == [3, 2, 1]


def test_imaptest_sort_display() -> None:
    """RFC 5957: the decoded display-name, else mailbox@host (a group: its name)."""
    assert sorted_seqs("sort-display-from", "DISPLAYFROM") == [2, 3, 4, 1, 5]
    assert sorted_seqs("sort-display-from", "REVERSE", "DISPLAYFROM") == [5, 1, 4, 3, 2]
    assert sorted_seqs("sort-display-to", "DISPLAYTO") == [6, 2, 3, 8, 4, 1, 5, 7]
    assert sorted_seqs("sort-display-to", "REVERSE", "DISPLAYTO") == [7, 5, 1, 4, 8, 3, 2, 6]


def test_imaptest_sort_subject() -> None:
    assert sorted_seqs("sort-subject", "SUBJECT") == [9, 10, 1, 14, 3, 5, 11, 6, 15, 2, 7, 12, 13, 8, 4]
    assert sorted_seqs("sort-subject", "REVERSE", "SUBJECT") == [4, 8, 2, 7, 12, 13, 15, 6, 3, 5, 11, 14, 1, 9, 10]
    assert sorted_seqs("sort-subject", "SUBJECT", "REVERSE", "SIZE") == [
        10, 9, 1, 14, 11, 5, 3, 6, 15, 13, 12, 7, 2, 8, 4]


def test_missing_fields_sort_first_and_sort_is_stable_on_seq() -> None:
    msgs = [msg(3, subject="b", from_="zed@x"), msg(1, subject="b"), msg(2, from_='"Al" <al@x>')]
    assert [m.seq for m in sorting.sort(msgs, ["FROM"])] == [1, 2, 3]
    assert [m.seq for m in sorting.sort(msgs, ["DISPLAYFROM"])] == [1, 2, 3]
    assert [m.seq for m in sorting.sort(msgs, ["SUBJECT"])] == [2, 1, 3]
    assert [m.seq for m in sorting.sort(msgs, ["REVERSE", "SUBJECT"])] == [1, 3, 2]


# --------------------------------------------------------------------------- THREAD (RFC 5256 §3, §4)

def threads(name: str, algorithm: str = "REFERENCES", keep: list[int] | None = None) -> str:
    return thread(mailbox(name, keep), algorithm)


def test_thread_list_format_of_rfc5256() -> None:
    """RFC 5256 §4's example tree: 3 -> 6 -> {4 -> 23, 44 -> 7 -> 96}."""
    def node(n: int | None, *children: Node) -> Node:
        x = Node(msg(n) if n is not None else None)
        x.children = list(children)
        return x
    tree = node(3, node(6, node(4, node(23)), node(44, node(7, node(96)))))
    assert format_threads([tree], lambda m: m.seq) == "(3 6 (4 23)(44 7 96))"
    assert format_threads([node(2), node(None, node(1), node(5, node(8)))], lambda m: m.seq) == "(2)((1)(5 8))"
    assert format_threads([], lambda m: m.seq) == ""


def test_imaptest_thread_orderedsubject() -> None:
    assert threads("sort-subject", "ORDEREDSUBJECT") == \
        "(1)(2 (7)(12)(13))(3 (5)(11))(4)(6)(8)(9 10)(14)(15)"      # thread-orderedsubject
    assert threads("thread-orderedsubject2", "orderedsubject") == "(4 (2)(8)(6))(3 (1)(7)(5))"


def test_imaptest_thread_references() -> None:
    # thread: <c@b> is referenced by <a@b>'s child but names <b@b> as its parent, a loop: it
    # drops its old parent and stays a root (RFC 5256 §3 REFERENCES (1)(C), as Dovecot)
    assert threads("thread") == "(3 2)(1)"
    assert threads("thread", keep=[2, 3]) == "(2 1)"                 # after "store 1 +flags \deleted; expunge"
    assert threads("thread2") == "(1)(2)"                            # duplicate Message-ID: its own container
    assert threads("thread3") == "(1 2)"                             # duplicate, then the subject: reply under it
    assert threads("thread4") == "(1 2)"                             # a dummy with one child is promoted
    assert threads("thread6") == "((1)(2))"                          # two messages under one missing parent


def test_imaptest_thread5_and_thread8_across_expunges_and_appends() -> None:
    assert threads("thread5", keep=[1, 2, 3, 4]) == "(1 (2 4)(3))"
    assert threads("thread5", keep=[3, 4]) == "(1)(2)"               # 1 and 2 expunged: lone children promoted
    assert threads("thread5", keep=[3, 4, 5]) == "(1)((2)(3))"       # 5 appended: <2@b> has two children again
    assert threads("thread8", keep=[1, 2]) == "(1 2)"
    assert threads("thread8", keep=[1]) == "(1)"
    assert threads("thread8", keep=[1, 3]) == "(1 2)"


def test_imaptest_thread7_duplicate_ids() -> None:
    assert threads("thread7") == "(1 (2 3)(4))"
    assert threads("thread7", keep=[1, 3, 4]) == "(1 3 2)"           # the duplicate now owns <b@b>


def test_unknown_thread_algorithm_is_refused() -> None:
    for name in ("REFS", "", "ORDEREDSUBJECTS"):
        with pytest.raises(ValueError):
            thread([msg(1)], name)
    assert thread([], "references") == "" and thread([], "OrderedSubject") == ""


def test_uid_thread_uses_the_key() -> None:
    assert thread(mailbox("thread7"), "REFERENCES", key=lambda m: m.uid) == "(103 (106 109)(112))"


def test_subject_merging_step_5() -> None:
    same = [msg(1, internal=1, subject="foo"), msg(2, internal=2, subject="foo")]
    assert thread(same, "REFERENCES") == "((1)(2))"                  # two originals: under a new dummy
    replies = [msg(1, internal=2, subject="Re: foo"), msg(2, internal=1, subject="foo")]
    assert thread(replies, "REFERENCES") == "(2 1)"                  # the reply goes under the original
    dummy = [msg(1, internal=1, references="<x@y>", subject="bar"),
             msg(2, internal=2, references="<x@y>", subject="baz"), msg(3, internal=3, subject="Re: bar")]
    assert thread(dummy, "REFERENCES") == "((1)(2)(3))"             # a dummy thread takes the lone reply
    empty = [msg(1, subject=""), msg(2, subject="Re:"), msg(3)]
    assert thread(empty, "REFERENCES") == "(1)(2)(3)"                # empty base subjects are never gathered


def test_references_parsing() -> None:
    assert message_ids("<a@b> <c@d>") == ["a@b", "c@d"]
    assert message_ids('<"quoted local"@b> < x @ y (comment) > <nodomain> <@b> <a@>') == \
        ["quotedlocal@b", "x@y"]
    assert message_ids(None) == [] and message_ids("garbage") == []
    # In-Reply-To counts only when References has no valid id; then its first id only
    msgs = [msg(1, message_id="<p@x>"), msg(2, message_id="<q@x>"),
            msg(3, message_id="<r@x>", references="<bogus>", in_reply_to="<q@x> <p@x>")]
    assert thread(msgs, "REFERENCES") == "(1)(2 3)"


def test_reference_loops_do_not_hang() -> None:
    msgs = [msg(1, message_id="<a@x>", references="<b@x>"), msg(2, message_id="<b@x>", references="<a@x>"),
            msg(3, message_id="<c@x>", references="<c@x>"),                  # itself
            msg(4, message_id="<d@x>", references="<e@x> <d@x> <e@x>")]
    text = thread(msgs, "REFERENCES")
    assert sorted(map(int, re.findall(r"\d+", text))) == [1, 2, 3, 4]


@pytest.mark.parametrize("order", ["forward", "backward"])
def test_a_5000_deep_reply_chain_needs_no_recursion(order: str) -> None:
    depth = 5000
    seqs = range(1, depth + 1) if order == "forward" else range(depth, 0, -1)
    msgs = []
    for seq, n in enumerate(seqs, 1):
        headers = {"message-id": f"<{n}@x>", "subject": "Re: deep" if n > 1 else "deep"}
        if n > 1:
            headers["in-reply-to"] = f"<{n - 1}@x>"
        msgs.append(Msg(uid=seq, seq=seq, internaldate=float(n), headers=headers))
    limit = sys.getrecursionlimit()
    text = thread(msgs, "REFERENCES", key=lambda m: int(m.headers["message-id"][1:-3]))
    assert text == "(" + " ".join(str(n) for n in range(1, depth + 1)) + ")"
    assert sys.getrecursionlimit() == limit
    # a chain that only References spells out: every id a missing (dummy) container but the last
    long_refs = " ".join(f"<r{i}@x>" for i in range(5000))
    assert thread([msg(1, references=long_refs), msg(2, references=long_refs)], "REFERENCES") == "((1)(2))"


def test_loop_checks_share_a_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """Crafted References that ask for the same long ancestor walk again and again stop at the budget.

    A 300-deep chain, then a message whose References alternate the chain's bottom and top: each
    (bottom -> top) link would be a loop, found by a 300-step walk, refused, and asked for again.
    With the budget at 5,000 steps the walks stop there, and the thread is still right.
    """
    budgets: list[threading._Budget] = []

    class Recorded(threading._Budget):
        def __init__(self, steps: int) -> None:
            super().__init__(steps)
            budgets.append(self)

    monkeypatch.setattr(threading, "_Budget", Recorded)
    monkeypatch.setattr(threading, "LOOP_CHECK_BUDGET", 5000)
    chain = [msg(1, message_id="<1@x>")] + [msg(i, message_id=f"<{i}@x>", in_reply_to=f"<{i - 1}@x>")
                                            for i in range(2, 301)]
    attack = msg(301, message_id="<a@x>", references="<300@x> <1@x> " * 40)
    assert thread(chain + [attack], "REFERENCES") == "(1 (" + " ".join(map(str, range(2, 301))) + ")(301))"
    assert budgets[-1].left == 0                                    # spent, and not one step more
    monkeypatch.setattr(threading, "LOOP_CHECK_BUDGET", 10**9)
    thread(chain, "REFERENCES")
    assert budgets[-1].left == 10**9                                # a plain chain needs no walk at all


# --------------------------------------------------------------------------- ESEARCH (RFC 4731, 5267, 9394, 7162)

def test_rfc4731_examples() -> None:
    """RFC 4731 §3.1 (A282, A283): MIN and COUNT; RETURN () means ALL."""
    hits = [2, 10, 11]
    assert format_esearch("A282", False, hits, ["MIN", "COUNT"]) == 'ESEARCH (TAG "A282") MIN 2 COUNT 3'
    assert format_esearch("A283", False, hits, []) == 'ESEARCH (TAG "A283") ALL 2,10:11'
    assert format_esearch("A285", True, [3800, 7, 9], ["min", "max"]) == 'ESEARCH (TAG "A285") UID MIN 7 MAX 3800'


def test_imaptest_esearch() -> None:
    seqs, uids = [1, 2, 3, 4, 5, 6], [1, 2, 3, 5, 6, 7]              # message 4 expunged
    answers = {("ALL",): "ALL 1:6", (): "ALL 1:6", ("MIN",): "MIN 1", ("MAX",): "MAX 6", ("COUNT",): "COUNT 6"}
    for opts, tail in answers.items():
        assert format_esearch("t", False, seqs, parse_returns(list(opts))) == f'ESEARCH (TAG "t") {tail}'
    assert format_esearch("t", True, uids, parse_returns([])) == 'ESEARCH (TAG "t") UID ALL 1:3,5:7'
    assert format_esearch("t", True, [5, 2], parse_returns(["MAX"])) == 'ESEARCH (TAG "t") UID MAX 5'
    for opts in ([], ["MIN"], ["MAX"]):                              # nothing matched
        assert format_esearch("t", False, [], parse_returns(opts)) == 'ESEARCH (TAG "t")'
        assert format_esearch("t", True, [], parse_returns(opts)) == 'ESEARCH (TAG "t") UID'
    assert format_esearch("t", True, [], parse_returns(["COUNT"])) == 'ESEARCH (TAG "t") UID COUNT 0'
    assert format_esearch(None, False, [1], ["ALL", "COUNT", "MAX", "MIN"]) == "ESEARCH MIN 1 MAX 1 ALL 1 COUNT 1"
    assert format_esearch('a"b\\', False, [1], ["MIN"]) == 'ESEARCH (TAG "a\\"b\\\\") MIN 1'


def test_imaptest_esort_and_sort_partial() -> None:
    """RFC 5267 §3.2: in sort order; MIN/MAX are the first and last of the sorted result."""
    by_arrival = [m.seq for m in sorting.sort(mailbox("sort-partial"), ["ARRIVAL"])]
    backwards = [m.seq for m in sorting.sort(mailbox("sort-partial"), ["REVERSE", "ARRIVAL"])]
    assert backwards == [5, 3, 4, 2, 1]

    def esort(seqs: list[int], *opts: str) -> str:
        text = format_esearch("t", False, seqs, parse_returns(list(opts)), sorted_result=True)
        return text.removeprefix('ESEARCH (TAG "t") ')
    assert esort(by_arrival, "MIN") == "MIN 1" and esort(by_arrival, "MAX") == "MAX 5"
    assert esort(by_arrival, "ALL") == "ALL 1:5" and esort(by_arrival, "COUNT") == "COUNT 5"
    assert esort(backwards, "MIN", "MAX") == "MIN 5 MAX 1"
    assert esort(by_arrival, "PARTIAL", "1:1") == "PARTIAL (1:1 1)"
    assert esort(by_arrival, "PARTIAL", "2:4") == "PARTIAL (2:4 2:4)"
    assert esort(by_arrival, "partial", "4:2") == "PARTIAL (2:4 2:4)"
    assert esort(backwards, "PARTIAL", "2:4") == "PARTIAL (2:4 3:4,2)"
    assert esort(by_arrival, "PARTIAL", "1:6") == "PARTIAL (1:6 1:5)"
    assert esort(backwards, "PARTIAL", "1:6") == "PARTIAL (1:6 5,3:4,2,1)"


def test_imaptest_search_partial() -> None:
    def partial(hits: list[int], rng: str, uid: bool = False) -> str:
        return format_esearch("t", uid, hits, parse_returns(["PARTIAL", rng])).split(") ", 1)[1]
    assert partial([1, 2, 3, 4, 5], "6:6") == "PARTIAL (6:6 NIL)"
    assert partial([1, 2, 4, 5], "1:3") == "PARTIAL (1:3 1:2,4)"
    assert partial([1, 2, 4, 5], "2:3") == "PARTIAL (2:3 2,4)"
    assert partial([1, 2, 4, 5], "2:10") == "PARTIAL (2:10 2,4:5)"
    assert partial([7, 9, 12], "2:2", uid=True) == "UID PARTIAL (2:2 9)"
    assert partial([1, 2, 3, 4, 5], "-1:-2") == "PARTIAL (-1:-2 4:5)"    # RFC 9394: from the end
    assert partial([1, 2, 3, 4, 5], "-9:-4") == "PARTIAL (-4:-9 1:2)"
    for bad in ("1", "1:*", "*:1", "0:3", "-1:2", "1:99999999999", "", "a:b"):
        with pytest.raises(ValueError):
            parse_returns(["PARTIAL", bad])
    assert parse_partial("4:2") == (2, 4)


def test_return_options_grammar() -> None:
    assert parse_returns([]) == Returns(frozenset({"ALL"}))
    assert parse_returns(["min", "Count"]) == Returns(frozenset({"MIN", "COUNT"}))
    for bad in (["SAVE"], ["UPDATE"], ["FOO"], [b"MIN"], [["MIN"]], ["PARTIAL"], ["PARTIAL", "1:2", "PARTIAL", "1:2"],
                ["ALL", "PARTIAL", "1:2"]):
        with pytest.raises(ValueError):
            parse_returns(bad)
    assert parse_returns(["SAVE"], allow=["SAVE"]).names == frozenset({"SAVE"})
    with pytest.raises(ValueError):
        parse_returns(["PARTIAL", "1:2"], allow=())


def test_imaptest_esearch_condstore_modseq() -> None:
    """RFC 7162 §3.1.5: the highest MODSEQ of what is reported (the MIN/MAX messages, or all)."""
    modseqs = {1: 2, 3: 3, 2: 4, 4: 5}                               # stored in the order 1, 3, 2, 4

    def es(hits: list[int], *opts: str) -> str:
        return format_esearch("t", False, hits, parse_returns(list(opts)), modseqs=modseqs).split(") ", 1)[1]
    assert es([1, 2, 3], "MIN") == "MIN 1 MODSEQ 2"
    assert es([1, 2, 3], "MAX") == "MAX 3 MODSEQ 3"
    assert es([1, 2, 3]) == "ALL 1:3 MODSEQ 4"
    assert es([2, 3], "MIN", "MAX") == "MIN 2 MAX 3 MODSEQ 4"
    assert es([2], "ALL") == "ALL 2 MODSEQ 4"
    assert format_esearch("t", False, [], ["ALL"], modseqs=modseqs) == 'ESEARCH (TAG "t")'


def test_modules_are_pure() -> None:
    """No I/O and no event loop: the session calls these inline."""
    for module in (sorting, threading, esearch):
        source = Path(module.__file__).read_text(encoding="utf-8")
        assert not re.search(r"^(?:import|from) (?:asyncio|socket|os|pathlib)\b", source, re.M)
