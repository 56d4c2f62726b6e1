"""Issue 12, IMAP: a regression test for each imaptest finding, and the bounds on hostile input.

Sans-IO like ``test_imap_core`` (bytes in, replies out, on the Maildir store and the in-memory one),
except the last tests, which need a real Maildir (a symbolic link) or a real socket (a deep search
must not end the connection).  Each test fails when its rule is broken.
"""

from __future__ import annotations

import email
import email.policy
import os
import re
import sys

import pytest
from test_imap_core import Client, MemoryStore, _loaded, snapshot, store  # noqa: F401  (store: a fixture)
from test_imap_server import World, mail_loop, raw_session, read_until, world  # noqa: F401  (fixtures)

from simulator.protocols.imap import Close
from simulator.protocols.imap.search import MAX_SEARCH_DEPTH, MAX_SEARCH_KEYS, MAX_SEARCH_RANGES
from simulator.protocols.imap.wire import (MAX_DEPTH, MAX_LITERALS, MAX_SEQ_RANGES, PIECE_COST, PREAUTH_COMMAND,
                                          PREAUTH_MAX, CommandReader, FrameError, Framed, ParseError, merge_ranges,
                                          parse_command, parse_sequence_set, uids_in)
from simulator.store import MAX_MIME_DEPTH, MailStore, bounded_mime, parse_mime
from simulator.webmail import read

BOB = "bob@beta.test"


class Announced:
    """imaptest's check, per client: every keyword in a FETCH FLAGS was announced by an earlier
    ``* FLAGS`` (of this selection).  ``early(out)`` lists the keywords used before their FLAGS."""

    def __init__(self) -> None:
        self.known: set[str] = set()

    def early(self, out: bytes) -> list[str]:
        found: list[str] = []
        for line in out.decode().split("\r\n"):
            m = re.match(r"\* FLAGS \(([^)]*)\)", line)
            if m:
                self.known = set(m.group(1).split())
                continue
            m = re.match(r"\* \d+ FETCH \(.*FLAGS \(([^)]*)\)", line)
            if m:
                found += [f for f in m.group(1).split() if not f.startswith("\\") and f not in self.known]
        return found


# --------------------------------------------------------------------------- imaptest findings

def test_bracket_inside_an_atom_is_part_of_the_name(store):
    """imaptest atoms/select: ``[`` is an ATOM-CHAR (RFC 3501 §9); only BODY[ opens a section."""
    cmd = parse_command(Framed((b"1 SELECT a[b",)))
    assert cmd.args == ("a[b",)
    cmd = parse_command(Framed((b"2 FETCH 1 (BODY.PEEK[HEADER.FIELDS (FROM)] FLAGS)",)))
    assert cmd.args == ("1", ["BODY.PEEK[HEADER.FIELDS (FROM)]", "FLAGS"])
    c = Client(store)
    c.login()
    assert c.cmd("1 SELECT !#$&'+,-.0123456789:;<=>?@^_`|[}").startswith(b"1 NO ")
    assert c.cmd("2 LIST \"\" !#$&'+,-.0123456789:;<=>?@^_`|[}%*") == b"2 OK LIST completed\r\n"
    assert c.cmd("3 CREATE a[b") == b"3 OK CREATE completed\r\n"
    assert c.cmd("4 SELECT a[b").startswith(b"* FLAGS")
    assert c.cmd('5 LIST "" a[*') == b'* LIST (\\HasNoChildren) "/" "a[b"\r\n5 OK LIST completed\r\n'


FOLDED_BOUNDARY = (
    b"From: user@domain.org\r\nMime-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="foo\r\n bar"\r\n\r\n'
    b"Root MIME prologue\r\n\r\n"
    b"--foo bar\r\nContent-Type: text/x-myown; charset=us-ascii\r\n\r\nhello\r\n\r\n"
    b"--foo bar\r\nContent-Type: text/plain\r\n\r\nsecond\r\n"
    b"--foo bar--\r\n"
)


def test_folded_boundary_parameter(store):
    """imaptest fetch-body-mime / fetch-bodystructure: a folded parameter unfolds (RFC 5322 §2.2.3)."""
    root = parse_mime(FOLDED_BOUNDARY)
    assert [p.subtype for p in root.parts] == ["x-myown", "plain"]
    c = _loaded(store, FOLDED_BOUNDARY)
    out = c.cmd("f FETCH 1 (BODYSTRUCTURE BODY.PEEK[2] BODY.PEEK[1.MIME])")
    assert b'("BOUNDARY" "foo bar")' in out
    assert b'("TEXT" "X-MYOWN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 7 1 ' in out
    assert b"BODY[2] {6}\r\nsecond" in out
    assert b"BODY[1.MIME] {48}\r\nContent-Type: text/x-myown; charset=us-ascii\r\n\r\n" in out


def test_new_keywords_are_announced_before_use(store):
    """imaptest copy/store/nil/search-flags and the stress run: FLAGS comes before the FETCH that
    uses a new keyword, in the session that set it and in every other one (RFC 3501 §7.2.6)."""
    store.append(BOB, "INBOX", b"Subject: 1\r\n\r\nx\r\n")
    store.append(BOB, "INBOX", b"Subject: 2\r\n\r\nx\r\n")
    a, b = Client(store), Client(store)
    seen = {a: Announced(), b: Announced()}
    for c in (a, b):
        c.login()
        assert seen[c].early(c.select()) == []
    out = a.cmd("s STORE 1 +FLAGS ($hello NIL)")
    assert seen[a].early(out) == [] and "$hello" in seen[a].known and "NIL" in seen[a].known
    out = b.cmd("n NOOP")                               # the other session hears of the keywords
    assert seen[b].early(out) == [] and "$hello" in seen[b].known
    store.append(BOB, "INBOX", b"Subject: 3\r\n\r\nx\r\n", ["$world"])   # a new message brings one
    for c in (a, b):
        assert seen[c].early(c.cmd("n NOOP")) == [] and "$world" in seen[c].known
        assert seen[c].early(c.cmd("f FETCH 1:* FLAGS")) == []
    assert seen[b].early(b.cmd("s STORE 3 +FLAGS.SILENT ($third)")) == [] and "$third" in seen[b].known
    out = b.cmd("c COPY 3 INBOX")                       # into the selected mailbox itself
    assert seen[b].early(out + b.cmd("f FETCH 1:* FLAGS")) == [] and "$third" in seen[b].known
    assert seen[a].early(a.cmd("f FETCH 1:* FLAGS")) == [] and "$third" in seen[a].known


def test_examine_reports_recent_without_claiming(store):
    """imaptest select: EXAMINE shows what STATUS and SELECT count as recent (RFC 3501 §6.3.2)."""
    for n in (1, 2):
        store.append(BOB, "INBOX", b"Subject: %d\r\n\r\nx\r\n" % n)
    c = Client(store)
    c.login()
    out = c.cmd("e EXAMINE INBOX")
    assert b"* 2 RECENT\r\n" in out and b"[READ-ONLY]" in out
    assert c.cmd("s STATUS INBOX (RECENT)") == b'* STATUS "INBOX" (RECENT 2)\r\ns OK STATUS completed\r\n'
    assert b"\\Recent" in c.cmd("f FETCH 1 FLAGS")
    store.append(BOB, "INBOX", b"Subject: 3\r\n\r\nx\r\n")
    assert c.cmd("n NOOP") == b"* 3 EXISTS\r\n* 3 RECENT\r\nn OK NOOP completed\r\n"
    c.cmd("c CLOSE")
    assert b"* 3 RECENT\r\n" in c.cmd("s SELECT INBOX")   # EXAMINE claimed nothing
    c.cmd("c CLOSE")
    assert c.cmd("s STATUS INBOX (RECENT)") == b'* STATUS "INBOX" (RECENT 0)\r\ns OK STATUS completed\r\n'


ADDRESSED = [  # imaptest search-addresses.mbox, 1..5
    b"From: user-from@domain.org\r\n\r\nbody\r\n",
    b"From: RealFrom <user-from@domain.org>\r\n\r\nbody2\r\n",
    b"From: <user-from (comment)@ (comment) domain.org>\r\n\r\nbody3\r\n",
    b"From: user-from@domain.org (RealFrom)\r\n\r\nbody4\r\n",
    b"From: user-from1@domain.org, user-from2@domain.org\r\n\r\nbody5\r\n",
]


def test_search_from_sees_addresses_through_comments(store):
    """imaptest search-addresses: an address written with comments is still that address."""
    c = _loaded(store, *ADDRESSED)
    assert c.cmd("s SEARCH FROM user-from@domain.org") == b"* SEARCH 1 2 3 4\r\ns OK SEARCH completed\r\n"
    assert c.cmd("s SEARCH FROM ealfro") == b"* SEARCH 2 4\r\ns OK SEARCH completed\r\n"
    assert c.cmd("s SEARCH FROM ser-fro") == b"* SEARCH 1 2 3 4 5\r\ns OK SEARCH completed\r\n"


def test_trailing_comment_is_the_personal_name(store):
    """imaptest fetch-envelope: ``user@domain (Real Name)`` has the name "Real Name"."""
    c = _loaded(store, b"From: user@domain (Real Name)\r\nTo: a@b (x), <c@d> (y)\r\n\r\nbody\r\n")
    out = c.cmd("f FETCH 1 ENVELOPE")
    assert b'(("Real Name" NIL "user" "domain")) (("Real Name" NIL "user" "domain"))' in out
    assert b'(("x" NIL "a" "b")(NIL NIL "c" "d"))' in out


def test_fetch_of_a_partly_expunged_range_answers_what_exists(store):
    """imaptest stress: the FETCH answers the messages that still exist, then OK [EXPUNGEISSUED]."""
    a = _loaded(store, *(b"Subject: %d\r\n\r\nx\r\n" % n for n in range(1, 5)))
    b = Client(store)
    b.login()
    b.select()
    b.cmd("s STORE 2:3 +FLAGS.SILENT (\\Deleted)")
    b.cmd("x EXPUNGE")
    out = a.cmd("f FETCH 1:4 (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert re.findall(rb"\* (\d) FETCH \(UID (\d)", out) == [(b"1", b"1"), (b"4", b"4")]
    assert not re.search(rb"\* \d+ EXPUNGE", out)  # not during FETCH (RFC 3501 §7.4.1)
    assert out.endswith(b"f OK [EXPUNGEISSUED] Some messages were already expunged\r\n")
    out = a.cmd("u UID FETCH 1:4 FLAGS")             # the UID form may report the expunges, at the end
    assert out.endswith(b"* 3 EXPUNGE\r\n* 2 EXPUNGE\r\nu OK [EXPUNGEISSUED] Some messages were already expunged\r\n")
    assert a.cmd("u UID FETCH 1:4 FLAGS").endswith(b"* 2 FETCH (UID 4 FLAGS (\\Recent))\r\nu OK FETCH completed\r\n")


# --------------------------------------------------------------------------- bounded input

@pytest.mark.parametrize("key", ["NOT " * 5000 + "ALL", "OR ALL " * 5000 + "ALL", "OR " * 5000 + "ALL " * 5001])
def test_deep_search_is_bad_and_the_session_lives(store, key):
    """A 5,000-deep NOT or OR: BAD while parsing, no RecursionError, the session goes on."""
    c = _loaded(store, b"Subject: 1\r\n\r\nx\r\n")
    before = sys.getrecursionlimit()
    sys.setrecursionlimit(400)           # the limit must come long before Python's own
    try:
        out = c.cmd("s SEARCH " + key)
    finally:
        sys.setrecursionlimit(before)
    assert out == f"s BAD Search keys nested too deeply (limit {MAX_SEARCH_DEPTH})\r\n".encode()
    assert c.cmd("s SEARCH " + "NOT " * (MAX_SEARCH_DEPTH - 1) + "ALL").startswith(b"* SEARCH")
    assert c.cmd("n NOOP") == b"n OK NOOP completed\r\n"


def test_deep_search_over_a_socket_keeps_the_connection(world):
    """The issue's symptom: BYE for 5,000 NOTs, silence for 5,000 ORs. Now BAD, and the next command works."""
    world.append(b"Subject: 1\r\n\r\nx\r\n")
    s = raw_session(world.port)
    s.sendall(b"a LOGIN bob secret\r\nb SELECT INBOX\r\n")
    assert b"b OK" in read_until(s, b"b OK")
    s.sendall(b"c SEARCH " + b"NOT " * 5000 + b"ALL\r\nd SEARCH " + b"OR ALL " * 5000 + b"ALL\r\ne NOOP\r\n")
    out = read_until(s, b"e OK")
    assert b"c BAD Search keys nested too deeply" in out and b"d BAD Search keys nested too deeply" in out
    assert b"BYE" not in out and b"e OK NOOP completed" in out
    s.close()


def test_literal_sizes_are_checked_before_the_continuation(store):
    """Literal and whole-command sizes: NO before "+" (RFC 3501 §7.5); non-sync: BAD, BYE (RFC 7888 §4)."""
    r = CommandReader(max_line=100, max_literal=50, max_command=80, piece_cost=0)
    r.feed(b"a APPEND INBOX {40}\r\n")
    assert r.next() is None and r.continuations == 1      # 40 fits: "+" is owed
    r.continuations = 0
    r.feed(b"x" * 40 + b" {40}\r\n")                      # a second literal would pass 80 in all
    err = r.next()
    assert isinstance(err, FrameError) and err.code == "TOOBIG" and not err.close and r.continuations == 0
    r.feed(b"b NOOP\r\n")
    assert r.next() == Framed((b"b NOOP",))
    c = Client(store)
    c.login()
    c.session.reader.max_command = 1600               # each piece is charged PIECE_COST (256) more
    before = snapshot(store)
    out = c.raw(b"a APPEND INBOX {600}\r\n")
    assert out == b"+ Ready for literal data\r\n"
    out = c.raw(b"x" * 600 + b" {600}\r\n")
    assert out.startswith(b"a NO [TOOBIG] Literal too big") and b"+ Ready" not in out
    out = c.raw(b"b APPEND INBOX {2000+}\r\n" + b"y" * 100)
    assert out.startswith(b"b BAD [TOOBIG]") and b"* BYE" in out
    assert snapshot(store) == before


def _deep_multipart(depth: int) -> bytes:
    head = b"From: a@alpha.test\r\nSubject: deep\r\nMIME-Version: 1.0\r\n"
    opens = b"".join(b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i) for i in range(depth))
    closes = b"".join(b"\r\n--b%d--" % i for i in reversed(range(depth)))
    return head + opens + b"Content-Type: text/plain\r\n\r\nneedle" + closes + b"\r\n"


def test_ten_thousand_deep_multipart(store):
    """MIME nesting is bounded: BODYSTRUCTURE, SEARCH BODY and the webmail's view answer, nothing recurses."""
    deep = _deep_multipart(10_000)
    c = _loaded(store, deep)
    out = c.cmd("f FETCH 1 (BODYSTRUCTURE)")
    assert out.endswith(b"f OK FETCH completed\r\n")
    assert out.count(b'"MIXED"') == MAX_MIME_DEPTH and b'"APPLICATION" "OCTET-STREAM"' in out
    assert c.cmd("s SEARCH BODY needle") == b"* SEARCH 1\r\ns OK SEARCH completed\r\n"
    parsed = email.message_from_bytes(bounded_mime(deep), policy=email.policy.default)
    assert sum(1 for _ in parsed.walk()) == MAX_MIME_DEPTH + 1
    shown = read.view(deep)                     # the webmail reads it the same way (one opaque part)
    assert shown["headers"]["subject"] == "deep" and len(shown["attachments"]) == 1
    shallow = _deep_multipart(3)
    assert bounded_mime(shallow) is shallow


# --------------------------------------------------------------------------- folder names (rule 6)

HOSTILE_NAMES = ["~", "~bob", "a/~/b", "&AH4-bob",          # "~" and its modified UTF-7 form
                 "&AC4-&AC4-", "a/&AC4-&AC4-/b",          # ".." spelt in modified UTF-7
                 "a&AC8-b", "&AFw-etc", "&AAA-", "x&AAk-y",  # "/", "\", NUL, TAB in modified UTF-7
                 '"a\\\\b"', '"nul\x01"', "../x", "a/../../x", "a//b", "/etc"]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_folder_names_are_refused(store, name):
    c = Client(store)
    c.login()
    before = snapshot(store)
    for verb in ("CREATE {}", "SELECT {}", "EXAMINE {}", "DELETE {}", "RENAME INBOX {}", "RENAME Sent {}",
                 "STATUS {} (MESSAGES)", "SUBSCRIBE {}", "APPEND {} {{3+}}\r\nabc", "LIST {} *"):
        out = c.cmd("t " + verb.format(name))
        if verb.startswith("LIST"):
            assert out.endswith(b"t OK LIST completed\r\n") and b"* LIST" not in out.replace(b'"INBOX"', b""), out
            continue
        assert re.match(rb"t (NO|BAD) ", out), (verb, out)
    assert snapshot(store) == before
    assert c.cmd("n NOOP") == b"n OK NOOP completed\r\n"


def test_folder_behind_a_symlink_out_of_the_user_root_is_refused(tmp_path):
    """The resolved path must lie under the user's directory: a planted link leads nowhere."""
    store = MailStore(tmp_path / "mail")
    store.append("alice@alpha.test", "INBOX", b"Subject: private\r\n\r\nsecret\r\n")
    bob = store.maildir_path(BOB)
    os.symlink(store.maildir_path("alice@alpha.test"), bob / ".Stolen")
    c = Client(store)
    c.login()
    for line in ("s SELECT Stolen", "s STATUS Stolen (MESSAGES)", "s APPEND Stolen {3+}\r\nabc"):
        assert re.match(rb"s (NO|BAD) ", c.cmd(line)), line
    assert store.uids("alice@alpha.test", "INBOX") == [1]


def test_memory_store_refuses_the_same_names():
    """The rule is the protocol's, not only the disk's: the in-memory store gets the same answers."""
    c = Client(MemoryStore())
    c.login()
    for name in ("~bob", "&AH4-x", "&AC4-&AC4-"):
        assert re.match(rb"t NO ", c.cmd(f"t CREATE {name}")), name


# --------------------------------------------------------------------------- bounds of one session

def test_twenty_bad_commands_in_a_row_end_the_session(store):
    """Dovecot's CLIENT_MAX_BAD_COMMANDS: 20 BAD in a row, then BYE; a good reply starts again."""
    c = Client(store)
    c.login()
    out = c.raw(b"x BOGUS\r\n" * 19 + b"n NOOP\r\n" + b"x BOGUS\r\n" * 19 + b"m NOOP\r\n")
    assert out.count(b"x BAD") == 38 and out.endswith(b"m OK NOOP completed\r\n")
    out = c.raw(b"x BOGUS\r\n" * 19 + b"garbage (((\r\n" + b"n NOOP\r\n")
    assert out.endswith(b"* BYE Too many invalid IMAP commands.\r\n") and b"n OK" not in out
    assert isinstance(c.effects[-1], Close)


def test_three_failed_logins_end_the_connection(store):
    c = Client(store)
    for n in range(2):
        out = c.cmd(f"{n} LOGIN bob@beta.test wrong")
        assert out == f"{n} NO [AUTHENTICATIONFAILED] Invalid credentials\r\n".encode()
    out = c.cmd("2 LOGIN nobody@beta.test secret")
    assert out == (b"2 NO [AUTHENTICATIONFAILED] Invalid credentials\r\n"
                   b"* BYE Too many invalid login attempts; closing the connection\r\n")
    assert isinstance(c.effects[-1], Close) and c.session.closed


def test_mailbox_name_with_a_raw_8bit_octet_is_refused(store):
    """Found by E's fuzzing: a non-UTF-8 octet in a CREATE name ended the session (RFC 3501 §5.1:
    names are 7-bit, modified UTF-7). Atom, quoted string and literal: NO, and the session goes on."""
    c = Client(store)
    c.login()
    before = snapshot(store)
    for line in (b"a CREATE a\xb3\r\n", b'a CREATE "a\xb3"\r\n', b"a CREATE {2+}\r\na\xb3\r\n",
                 b"a SELECT a\xb3\r\n", b"a RENAME Sent a\xb3\r\n", b"a FETCH 1 BODY[HEADER.FIELDS (\xb3)]\r\n"):
        out = c.raw(line)
        assert re.match(rb"a (NO|BAD) ", out), (line, out)
    assert snapshot(store) == before
    assert c.cmd("n NOOP") == b"n OK NOOP completed\r\n"


def test_sequence_sets_and_parentheses_are_bounded():
    """At most 1,000 ranges in a sequence set, 16 levels of parentheses: BAD beyond (wire's limits)."""
    parse_sequence_set(",".join(["1"] * MAX_SEQ_RANGES))
    with pytest.raises(ParseError, match="Sequence set too long"):
        parse_sequence_set(",".join(["1"] * (MAX_SEQ_RANGES + 1)))
    with pytest.raises(ParseError, match="nested too deeply"):
        parse_command(Framed((b"a FETCH 1 " + b"(" * (MAX_DEPTH + 1) + b"FLAGS" + b")" * (MAX_DEPTH + 1),)))


def test_an_idle_connection_is_logged_out(mail_loop, tmp_path):
    """No input for ``idle_timeout`` seconds (30 minutes by default, RFC 3501 §5.4): BYE and close."""
    w = World(mail_loop, tmp_path / "mail", idle_timeout=0.2)
    try:
        s = raw_session(w.port)
        assert read_until(s, b"\r\n").startswith(b"* BYE Autologout")
        assert s.recv(100) == b""
        s.close()
    finally:
        w.stop()


# --------------------------------------------------------------------------- review of issue 12 (C3)

def _msgs(store, count: int, folder: str = "INBOX") -> None:
    for n in range(count):
        store.append(BOB, folder, b"From: a@x.test\r\nSubject: m%d\r\n\r\nbody %d\r\n" % (n, n))


def test_before_login_a_command_is_a_few_kib_at_most(store):
    """Dovecot's imap-login: before authentication a literal is at most ``PREAUTH_MAX`` (8 KiB) and a
    command ``PREAUTH_COMMAND`` (32 KiB, a maximal RFC 2971 ID fits); ``a LOGIN {33554431+}`` is
    refused at once (BAD, BYE, close), nothing kept."""
    c = Client(store)
    out = c.raw(b"a LOGIN {33554431+}\r\n" + b"x" * 1000)
    assert out.startswith(b"a BAD [TOOBIG]") and b"* BYE" in out
    assert any(isinstance(e, Close) for e in c.effects)
    assert len(c.session.reader._buf) == 0                       # nothing buffered
    c = Client(store)
    out = c.raw(b"a LOGIN {%d}\r\n" % (PREAUTH_MAX + 1))
    assert out.startswith(b"a NO [TOOBIG]") and b"+ Ready" not in out
    assert c.raw(b"b LOGIN " + b"u" * (PREAUTH_COMMAND + 10) + b" p\r\n").startswith(b"b BAD [TOOBIG]")
    c = Client(store)
    out = c.raw(b"c LOGIN {8000}\r\n")
    assert out == b"+ Ready for literal data\r\n"
    out = c.raw(b"u" * 8000 + b" {8000}\r\n" + b"p" * 8000 + b" {8000}\r\n" + b"q" * 8000
                + b" {8000}\r\n")                                   # the fourth passes 32 KiB in all
    assert b"c NO [TOOBIG]" in out
    id_pairs = " ".join(f'"{n:030d}" "{"v" * 1024}"' for n in range(30))
    c = Client(store)
    assert c.cmd(f"i ID ({id_pairs})").endswith(b"i OK ID completed\r\n")   # RFC 2971's largest ID
    c.login()                                                    # logged in: the full limits
    assert c.raw(b"c APPEND INBOX {%d}\r\n" % (PREAUTH_MAX * 4)) == b"+ Ready for literal data\r\n"


def test_before_login_a_huge_literal_closes_the_socket(world):
    s = raw_session(world.port)
    s.sendall(b"a LOGIN {33554431+}\r\n" + b"x" * 4096)
    out = read_until(s, b"* BYE")
    assert b"a BAD [TOOBIG]" in out and b"* BYE" in out
    s.settimeout(10)
    while s.recv(65536):                                         # then the server closes
        pass
    s.close()


def test_literals_per_command_are_capped(store):
    """A flood of tiny ``{1+}`` literals would cost ~27x its size in objects: at most
    ``MAX_LITERALS`` per command, and every framed piece is charged ``PIECE_COST`` octets."""
    c = Client(store)
    c.login()
    before = snapshot(store)
    out = c.raw(b"a APPEND INBOX" + b" {1+}\r\nx" * (MAX_LITERALS + 1) + b"\r\n")
    assert b"a BAD [TOOBIG] Literal too many" in out and b"* BYE" in out
    assert snapshot(store) == before
    r = CommandReader(max_literals=3)
    r.feed(b"a APPEND INBOX {1}\r\n")
    assert r.next() is None and r._size == len(b"a APPEND INBOX {1}\r\n") + 1 + 2 * PIECE_COST
    r.feed(b"x {1}\r\ny {1}\r\nz {1}\r\n")
    err = r.next()
    assert isinstance(err, FrameError) and err.code == "TOOBIG" and not err.close   # sync: NO before "+"


class _Counted(int):
    """A UID that counts the comparisons made with it (the cost of resolving a set)."""

    calls = 0

    def _cmp(op):  # noqa: N805
        def f(self, other):
            _Counted.calls += 1
            return op(int(self), int(other))
        return f

    __lt__, __le__, __gt__, __ge__ = (_cmp(int.__lt__), _cmp(int.__le__), _cmp(int.__gt__), _cmp(int.__ge__))


def test_sets_are_resolved_over_merged_ranges(store):
    """Finding 3: a set costs its ranges' log plus its answer (bisection), never ranges x messages."""
    assert merge_ranges([(5, 9), (1, 3), (4, 4), (20, 30), (25, 26)]) == [(1, 9), (20, 30)]
    assert uids_in([1, 3, 5, 7, 9, 11], [(8, 20), (2, 3), (3, 5)]) == [3, 5, 9, 11]
    c = _loaded(store, b"Subject: a\r\n\r\nx\r\n")
    c.session.view = [_Counted(u) for u in range(1, 5001)]
    ranges = ",".join(f"{n}:{n + 1}" for n in range(1, 5000, 10))         # 500 ranges
    _Counted.calls = 0
    got = c.session.resolve_uids(parse_sequence_set(ranges))
    assert got == sorted({u for n in range(1, 5000, 10) for u in (n, n + 1)})
    assert _Counted.calls < 50_000                                         # old: 5,000 x 500 / 2
    assert c.session.resolve_seqs(parse_sequence_set("4:2,1:*,3")) == list(range(1, 5001))
    assert c.session.resolve_seqs(parse_sequence_set("*:4999,2"), strict=False) == [2, 4999, 5000]


def test_search_keys_and_ranges_per_command_are_capped(store):
    c = _loaded(store, b"Subject: a\r\n\r\nx\r\n")
    assert c.cmd("a SEARCH " + "ALL " * (MAX_SEARCH_KEYS + 1)).startswith(b"a BAD Too many search keys")
    one = ",".join(str(n) for n in range(1, 2 * MAX_SEQ_RANGES, 2))          # 1000 ranges
    sets = MAX_SEARCH_RANGES // MAX_SEQ_RANGES + 1
    out = c.cmd("b UID SEARCH " + " ".join(f"UID {one}" for _ in range(sets)))
    assert out.startswith(b"b BAD Too many sequence ranges")
    assert c.cmd("c SEARCH 1:*,1:*,1 ALL") == b"* SEARCH 1\r\nc OK SEARCH completed\r\n"


@pytest.mark.parametrize("command", ["SEARCH TEXT body", "SORT (SUBJECT) UTF-8 ALL",
                                     "THREAD REFERENCES UTF-8 ALL", "FETCH 1:* (UID RFC822.SIZE)"])
def test_long_commands_are_jobs_that_yield(store, command):
    """Finding 3 and 2: SEARCH, SORT, THREAD and FETCH run as jobs that pause after ``job_steps``
    steps (the server also sets ``job_seconds``), whatever their output; the answer is the same."""
    _msgs(store, 300)
    whole = Client(store)
    whole.login()
    whole.select()
    expected = whole.cmd("t " + command)
    paused = Client(store)
    paused.login()
    paused.select()
    paused.session.job_steps = 1
    effects = paused.session.feed(f"t {command}\r\nn NOOP\r\n".encode())
    out = b"".join(e.data for e in effects if hasattr(e, "data"))
    rounds = 0
    while paused.session.pending:
        rounds += 1
        assert rounds < 1000
        out += b"".join(e.data for e in paused.session.resume() if hasattr(e, "data"))
    assert rounds >= 4 and paused.session.job_pauses == rounds
    assert out == expected + b"n OK NOOP completed\r\n"


def test_implicit_seen_is_one_store_call_per_fetch_step(store):
    """Finding 2: a FETCH BODY[] of 100 messages sets \\Seen with one batched call per step."""
    c = _loaded(store)
    _msgs(store, 100)
    c.cmd("n NOOP")
    calls = []
    real = c.session.mailbox.set_flags

    def counting(folder, uids, flags, mode="="):
        calls.append(list(uids))
        return real(folder, uids, flags, mode)

    c.session.mailbox.set_flags = counting
    out = c.cmd("f FETCH 1:100 (BODY[TEXT])")
    assert out.count(b"\\Seen") == 100 and out.endswith(b"f OK FETCH completed\r\n")
    assert len(calls) <= 2 and sorted(u for batch in calls for u in batch) == list(range(1, 101))
    assert c.cmd("s SEARCH UNSEEN") == b"* SEARCH\r\ns OK SEARCH completed\r\n"


def test_multiappend_that_hits_a_full_disk_stores_nothing_and_says_no(tmp_path, monkeypatch):
    """Finding 6: ENOSPC on message 3 of 4: NO, none of them stored (RFC 3502 §2), session alive."""
    import errno
    store = MailStore(tmp_path / "mail")
    c = Client(store)
    c.login()
    c.cmd("p APPEND Drafts {5}\r\nfirst")                   # the folder and its list exist
    real, calls = os.fsync, []

    def flaky(fd):
        calls.append(fd)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd)

    monkeypatch.setattr(os, "fsync", flaky)
    msgs = [b"Subject: m%d\r\n\r\nbody\r\n" % n for n in range(4)]
    out = c.raw(b"a APPEND Drafts" + b"".join(b" {%d+}\r\n%s" % (len(m), m) for m in msgs) + b"\r\n")
    monkeypatch.undo()
    assert len(calls) >= 3 and out.startswith(b"a NO ") and b"BYE" not in out
    assert store.uids(BOB, "Drafts") == [1]
    drafts = store.maildir_path(BOB) / ".Drafts"
    assert sorted(len(list((drafts / sub).iterdir())) for sub in ("tmp", "new", "cur")) == [0, 0, 1]
    assert c.cmd("n NOOP") == b"n OK NOOP completed\r\n"


def test_an_os_error_from_the_store_is_no_not_bye(store):
    """Finding 9 (the session's part): a name too long for the file system, or any disk error, is
    a NO for that command; the session goes on."""
    import errno
    c = Client(store)
    c.login()

    def too_long(name):
        raise OSError(errno.ENAMETOOLONG, "File name too long")

    c.session.mailbox.create_folder = too_long
    assert c.cmd("a CREATE " + "x" * 300).startswith(b"a NO [CANNOT]")
    c.session.mailbox.create_folder = lambda name: (_ for _ in ()).throw(OSError(errno.EIO, "I/O error"))
    assert c.cmd("b CREATE y").startswith(b"b NO [SERVERBUG]")
    assert c.cmd("n NOOP") == b"n OK NOOP completed\r\n"
    assert not any(isinstance(e, Close) for e in c.effects)


def test_multiappend_without_append_many_undoes_what_it_stored():
    """RFC 3502 §2 on a mailbox without ``append_many`` (the in-memory one): a failure on message 3
    of 4 (a disk error too) takes back messages 1 and 2; the answer is NO, the session goes on."""
    import errno
    store = MemoryStore()
    c = Client(store)
    c.login()
    box = c.session.mailbox
    assert not hasattr(box, "append_many")
    real, calls = box.append, []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise OSError(errno.EIO, "I/O error")
        return real(*args, **kwargs)

    box.append = flaky
    msgs = [b"Subject: m%d\r\n\r\nbody\r\n" % n for n in range(4)]
    out = c.raw(b"a APPEND INBOX" + b"".join(b" {%d+}\r\n%s" % (len(m), m) for m in msgs) + b"\r\n")
    assert out.startswith(b"a NO [SERVERBUG]") and store.uids(BOB, "INBOX") == []
    assert c.cmd("n NOOP") == b"n OK NOOP completed\r\n"
