"""The IMAP extensions of issue 12, as a client meets them: ESEARCH, SORT, THREAD, CONDSTORE, QRESYNC.

Sans-IO like ``test_imap_core`` (both stores).  The algorithms of SORT and THREAD are tested in
``test_imap_sorting``; here: the commands, their grammar and their answers; mod-sequences across
sessions and across a restart of the store.
"""

from __future__ import annotations

import re

from test_imap_core import T0, Client, _loaded, store  # noqa: F401  (store: a fixture)

from simulator.protocols.imap.wire import format_ranges, intersect_ranges, ranges_without
from simulator.store import MailStore

BOB = "bob@beta.test"


def _msg(subject: str, sender: str = "a@x.test", date: str = "Mon, 01 Jan 2024 10:00:00 +0000",
         extra: str = "") -> bytes:
    return (f"From: {sender}\r\nSubject: {subject}\r\nDate: {date}\r\n{extra}\r\nbody of {subject}\r\n").encode()


def _modseqs(out: bytes) -> dict[int, int]:
    return {int(seq): int(m) for seq, m in re.findall(rb"\* (\d+) FETCH \(.*?MODSEQ \((\d+)\)", out)}


# --------------------------------------------------------------------------- ESEARCH, SORT, THREAD

def test_esearch_return_options(store):
    """RFC 4731: RETURN (MIN MAX COUNT ALL), () meaning ALL, no match: only COUNT 0."""
    c = _loaded(store, *(_msg(f"m{n}") for n in range(1, 6)))
    c.cmd("s STORE 2,4 +FLAGS.SILENT (\\Seen)")
    assert c.cmd("a SEARCH RETURN () ALL") == b'* ESEARCH (TAG "a") ALL 1:5\r\na OK SEARCH completed\r\n'
    assert c.cmd("a SEARCH RETURN (MIN MAX COUNT) SEEN").startswith(b'* ESEARCH (TAG "a") MIN 2 MAX 4 COUNT 2\r\n')
    assert c.cmd("a UID SEARCH RETURN (ALL) UNSEEN").startswith(b'* ESEARCH (TAG "a") UID ALL 1,3,5\r\n')
    assert c.cmd("a SEARCH RETURN (MIN COUNT) 1000").startswith(b'* ESEARCH (TAG "a") COUNT 0\r\n')
    assert c.cmd("a SEARCH ALL") == b"* SEARCH 1 2 3 4 5\r\na OK SEARCH completed\r\n"  # no RETURN: as ever
    assert c.cmd("a SEARCH RETURN (SAVE) ALL").startswith(b"a BAD")     # not offered
    assert c.cmd("a SEARCH RETURN ALL").startswith(b"a BAD")


def test_sort_and_esort(store):
    """RFC 5256 §3 SORT and RFC 5267 ESORT: criteria, REVERSE, UID SORT, a bad key is BAD."""
    c = _loaded(store, _msg("b", "zed@x.test"), _msg("Re: a", "amy@x.test"), _msg("c", "mo@x.test"))
    assert c.cmd("s SORT (SUBJECT) UTF-8 ALL") == b"* SORT 2 1 3\r\ns OK SORT completed\r\n"
    assert c.cmd("s SORT (REVERSE FROM) US-ASCII ALL") == b"* SORT 1 3 2\r\ns OK SORT completed\r\n"
    assert c.cmd("s UID SORT (FROM) UTF-8 NOT FROM mo") == b"* SORT 2 1\r\ns OK SORT completed\r\n"
    assert c.cmd("s SORT RETURN (MIN MAX ALL) (SUBJECT) UTF-8 ALL").startswith(
        b'* ESEARCH (TAG "s") MIN 2 MAX 3 ALL 2,1,3\r\n')
    assert c.cmd("s SORT (BOGUS) UTF-8 ALL").startswith(b"s BAD")
    assert c.cmd("s SORT (SUBJECT) KOI8-R ALL").startswith(b"s NO [BADCHARSET")


def test_thread_references_and_orderedsubject(store):
    """RFC 5256 §3 THREAD: a reply threads under its parent; UID THREAD answers UIDs."""
    c = _loaded(store, _msg("hello", extra="Message-ID: <1@x>\r\n"),
                _msg("other", extra="Message-ID: <2@x>\r\n"),
                _msg("Re: hello", date="Tue, 02 Jan 2024 10:00:00 +0000",
                     extra="Message-ID: <3@x>\r\nIn-Reply-To: <1@x>\r\nReferences: <1@x>\r\n"))
    assert c.cmd("t THREAD REFERENCES UTF-8 ALL") == b"* THREAD (1 3)(2)\r\nt OK THREAD completed\r\n"
    assert c.cmd("t THREAD ORDEREDSUBJECT UTF-8 ALL") == b"* THREAD (1 3)(2)\r\nt OK THREAD completed\r\n"
    assert c.cmd("t UID THREAD REFERENCES UTF-8 3") == b"* THREAD (3)\r\nt OK THREAD completed\r\n"
    assert c.cmd("t THREAD REFERENCES UTF-8 1000") == b"* THREAD\r\nt OK THREAD completed\r\n"
    assert c.cmd("t THREAD JWZ UTF-8 ALL").startswith(b"t BAD")


# --------------------------------------------------------------------------- CONDSTORE

def test_condstore_fetch_store_search(store):
    """RFC 7162 §3.1: MODSEQ per message, HIGHESTMODSEQ, UNCHANGEDSINCE, CHANGEDSINCE, SEARCH MODSEQ."""
    c = _loaded(store, *(_msg(f"m{n}") for n in range(1, 5)))
    out = c.cmd("f FETCH 1:4 (MODSEQ)")                 # CONDSTORE-enabling, and inside SELECTED:
    assert out.startswith(b"* OK [HIGHESTMODSEQ ")         # HIGHESTMODSEQ at once (§3.1.2.1)
    start = _modseqs(out)
    assert len(start) == 4 and len(set(start.values())) == 4
    out = c.cmd("s STORE 2 +FLAGS (\\Seen)")
    (m2,) = _modseqs(out).values()
    assert m2 > max(start.values())                     # every change takes a new, higher value
    out = c.cmd(f"s STORE 1:3 (UNCHANGEDSINCE {start[1]}) +FLAGS (\\Flagged)")
    assert out.endswith(b"s OK [MODIFIED 2:3] STORE completed\r\n")   # 2 changed since, 3 even before
    assert set(_modseqs(out)) == {1}
    assert c.cmd("s STORE 4 (UNCHANGEDSINCE 0) +FLAGS (\\Seen)").endswith(b"[MODIFIED 4] STORE completed\r\n")
    out = c.cmd("s STORE 4 +FLAGS.SILENT (\\Answered)")    # .SILENT still tells the new MODSEQ (§3.1.3)
    assert re.match(rb"\* 4 FETCH \(MODSEQ \(\d+\)\)\r\n", out)
    out = c.cmd(f"c FETCH 1:* (FLAGS) (CHANGEDSINCE {m2})")
    assert sorted(_modseqs(out)) == [1, 4]
    out = c.cmd(f"m SEARCH MODSEQ {m2}")
    top = max(_modseqs(c.cmd("f FETCH 1:* MODSEQ")).values())
    assert out == f"* SEARCH 1 2 4 (MODSEQ {top})\r\nm OK SEARCH completed\r\n".encode()
    out = c.cmd(f'm SEARCH RETURN (MIN) MODSEQ "/flags/\\\\seen" all {m2}')
    assert out.startswith(b'* ESEARCH (TAG "m") MIN 1 MODSEQ ')
    status = c.cmd("s STATUS INBOX (HIGHESTMODSEQ)")
    assert status.startswith(f'* STATUS "INBOX" (HIGHESTMODSEQ {top})'.encode())


def test_other_sessions_see_modseqs(store):
    """A flag change made elsewhere arrives with its MODSEQ once CONDSTORE is on."""
    a = _loaded(store, _msg("one"))
    b = Client(store)
    b.login()
    assert b.cmd("e ENABLE CONDSTORE") == b"* ENABLED CONDSTORE\r\ne OK ENABLE completed\r\n"
    assert b"[HIGHESTMODSEQ" in b.cmd("s SELECT INBOX (CONDSTORE)")
    a.cmd("s STORE 1 +FLAGS (\\Flagged)")
    out = b.cmd("n NOOP")
    assert re.match(rb"\* 1 FETCH \(UID 1 MODSEQ \(\d+\) FLAGS \(\\Flagged\)\)\r\n", out), out


def test_modseqs_survive_a_restart(tmp_path):
    """The uid list keeps HIGHESTMODSEQ, every message's value and the expunged UIDs."""
    root = tmp_path / "mail"
    first = MailStore(root, clock=lambda: T0)
    for n in range(3):
        first.append(BOB, "INBOX", _msg(f"m{n}"))
    first.set_flags(BOB, "INBOX", [2], ["\\Seen"], "+")
    first.set_flags(BOB, "INBOX", [1], ["\\Deleted"], "+")
    first.expunge(BOB, "INBOX")
    before = ({u: first.message_info(BOB, "INBOX", u).modseq for u in first.uids(BOB, "INBOX")},
              first.highestmodseq(BOB, "INBOX"), first.vanished(BOB, "INBOX", 0))
    again = MailStore(root, clock=lambda: T0)
    after = ({u: again.message_info(BOB, "INBOX", u).modseq for u in again.uids(BOB, "INBOX")},
             again.highestmodseq(BOB, "INBOX"), again.vanished(BOB, "INBOX", 0))
    assert after == before and before[2] == [1]
    again.set_flags(BOB, "INBOX", [3], ["\\Seen"], "+")
    assert again.message_info(BOB, "INBOX", 3).modseq == before[1] + 1   # never goes back


# --------------------------------------------------------------------------- QRESYNC

def test_qresync_select_reports_what_changed_and_vanished(store):
    """RFC 7162 §3.2.5: SELECT (QRESYNC (uidvalidity modseq)) gives VANISHED (EARLIER) and the changes."""
    c = _loaded(store, *(_msg(f"m{n}") for n in range(1, 6)))
    known = max(_modseqs(c.cmd("f FETCH 1:* MODSEQ")).values())
    validity = store.uidvalidity(BOB, "INBOX")
    c.cmd("s STORE 2 +FLAGS (\\Seen)")
    c.cmd("s STORE 4 +FLAGS.SILENT (\\Deleted)")
    c.cmd("x EXPUNGE")
    c.cmd("c CLOSE")
    assert c.cmd(f"s SELECT INBOX (QRESYNC ({validity} {known}))").startswith(b"s BAD")   # not enabled yet
    assert c.cmd("e ENABLE QRESYNC") == b"* ENABLED QRESYNC\r\ne OK ENABLE completed\r\n"
    out = c.cmd(f"s SELECT INBOX (QRESYNC ({validity} {known}))")
    assert b"* VANISHED (EARLIER) 4\r\n" in out
    assert re.search(rb"\* 2 FETCH \(UID 2 MODSEQ \(\d+\) FLAGS \(\\Seen\)\)", out)
    assert out.count(b"FETCH") == 1 and out.endswith(b"s OK [READ-WRITE] SELECT completed\r\n")
    out = c.cmd(f"s SELECT INBOX (QRESYNC ({validity} {known} 1:3))")        # known-uids limit the answer
    assert out.startswith(b"* OK [CLOSED]") and b"VANISHED" not in out
    out = c.cmd(f"s SELECT INBOX (QRESYNC ({validity + 1} {known}))")        # another UIDVALIDITY: nothing
    assert b"VANISHED" not in out and b"FETCH" not in out


def test_qresync_expunges_are_vanished_and_fetch_carries_uid(store):
    """Once QRESYNC is on: VANISHED replaces EXPUNGE (§3.2.10), every FETCH has its UID (§3.2.4),
    and UID FETCH (CHANGEDSINCE n VANISHED) names what vanished (§3.2.6)."""
    store.append(BOB, "INBOX", _msg("one"))
    store.append(BOB, "INBOX", _msg("two"))
    store.append(BOB, "INBOX", _msg("three"))
    c = Client(store)
    c.login()
    c.cmd("e ENABLE QRESYNC")
    out = c.cmd("s SELECT INBOX")
    known = int(re.search(rb"HIGHESTMODSEQ (\d+)", out).group(1))
    assert re.match(rb"\* 1 FETCH \(UID 1 FLAGS", c.cmd("f FETCH 1 FLAGS"))
    other = Client(store)
    other.login()
    other.select()
    other.cmd("s STORE 2 +FLAGS.SILENT (\\Deleted)")
    other.cmd("x EXPUNGE")
    assert c.cmd("n NOOP") == b"* VANISHED 2\r\nn OK NOOP completed\r\n"
    out = c.cmd(f"u UID FETCH 1:* (FLAGS) (CHANGEDSINCE {known} VANISHED)")
    assert out == b"* VANISHED (EARLIER) 2\r\nu OK FETCH completed\r\n"
    assert c.cmd(f"u FETCH 1:* (FLAGS) (CHANGEDSINCE {known} VANISHED)").startswith(b"u BAD")


# --------------------------------------------------------------------------- MULTIAPPEND, BINARY

def test_multiappend_is_all_or_nothing(store):
    """RFC 3502: several messages in one APPEND, one APPENDUID with every UID; a bad one stores none."""
    c = Client(store)
    c.login()
    one, two = _msg("one"), _msg("two")
    out = c.raw(b"a APPEND Drafts (\\Seen) {%d+}\r\n%s {%d+}\r\n%s\r\n" % (len(one), one, len(two), two))
    v = store.uidvalidity(BOB, "Drafts")
    assert out == f"a OK [APPENDUID {v} 1:2] APPEND completed\r\n".encode()
    assert store.message_info(BOB, "Drafts", 1).flags == frozenset({"\\Seen"})
    assert store.message_info(BOB, "Drafts", 2).flags == frozenset()
    out = c.raw(b"b APPEND Drafts {%d+}\r\n%s (\\Bogus) {%d+}\r\n%s\r\n" % (len(one), one, len(two), two))
    assert out.startswith(b"b BAD Invalid flag") and store.uids(BOB, "Drafts") == [1, 2]


BASE64_PARTS = (
    b"From: a@x.test\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
    b"--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n aGVs\r\nbG8gd29y  \r\nbGQ=\r\n"
    b"--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
    b"soft=\r\nbreak  \r\na=3Db\r\n"
    b"--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAAEC/w==\r\n"
    b"--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644\r\n"
    b"--b--\r\n"
)


def test_binary_fetch_decodes_parts(store):
    """RFC 3516 §4.2: BINARY decodes base64 / quoted-printable, BINARY.SIZE counts the octets, a NUL
    goes out in a literal8, an unknown encoding is NO [UNKNOWN-CTE]; BINARY (not PEEK) sets \\Seen."""
    c = _loaded(store, BASE64_PARTS)
    out = c.cmd("f FETCH 1 (BINARY.PEEK[1] BINARY.SIZE[1] BINARY.PEEK[2] BINARY.PEEK[3]<0.2>)")
    assert out == (b"* 1 FETCH (BINARY[1] {11}\r\nhello world BINARY.SIZE[1] 11 "
                   b"BINARY[2] {14}\r\nsoftbreak\r\na=b BINARY[3]<0> ~{2}\r\n\x00\x01)\r\nf OK FETCH completed\r\n")
    assert c.cmd("f FETCH 1 BINARY.PEEK[4]").endswith(b"f NO [UNKNOWN-CTE] Cannot decode Content-Transfer-Encoding "
                                                      b"'x-uuencode'\r\n")
    assert c.cmd("f FETCH 1 BINARY.PEEK[9]") == b"* 1 FETCH (BINARY[9] NIL)\r\nf OK FETCH completed\r\n"
    assert c.cmd("f FETCH 1 BINARY.SIZE[1]<0.1>").startswith(b"f BAD")
    assert c.cmd("f FETCH 1 BINARY[HEADER]").startswith(b"f BAD")
    out = c.cmd("f FETCH 1 BINARY[1]")
    assert b"FLAGS (\\Recent \\Seen)" in out


def test_append_of_a_literal8_keeps_the_octets(store):
    """RFC 3516 §4.4: a binary part is stored as base64 (BODY never carries a NUL), BINARY gives it back."""
    raw = (b"From: a@x.test\r\nMIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\n"
           b"Content-Transfer-Encoding: binary\r\n\r\n\x00-\xe4\n\r\n\n")
    c = Client(store)
    c.login()
    out = c.raw(b"a APPEND INBOX ~{%d+}\r\n%s\r\n" % (len(raw), raw))
    assert out.startswith(b"a OK [APPENDUID ")
    c.select()
    body = c.cmd("f FETCH 1 BODY.PEEK[1]")
    assert b"\x00" not in body and b"AC3kCg0KCg==" in body
    assert b'"BASE64"' in c.cmd("f FETCH 1 BODYSTRUCTURE")
    out = c.cmd("f FETCH 1 (BINARY.SIZE[1] BINARY.PEEK[1])")
    assert out == b"* 1 FETCH (BINARY.SIZE[1] 7 BINARY[1] ~{7}\r\n\x00-\xe4\n\r\n\n)\r\nf OK FETCH completed\r\n"


def test_an_old_uid_list_and_changes_behind_our_back(tmp_path):
    """A uid list from before mod-sequences reads as every message at 1; a flag changed by another
    program (a renamed file) gets the next mod-sequence at the rescan."""
    root = tmp_path / "mail"
    first = MailStore(root, clock=lambda: T0)
    first.append(BOB, "INBOX", _msg("old"))
    listing = first.maildir_path(BOB) / "mailflow-uidlist"
    head, *rows = listing.read_text().splitlines()
    old = [" ".join(head.split()[:4])] + ["\t".join(r.split("\t")[:6]) for r in rows if not r.startswith("X")]
    listing.write_text("\n".join(old) + "\n")
    again = MailStore(root, clock=lambda: T0)
    assert again.uids(BOB, "INBOX") == [1] and again.message_info(BOB, "INBOX", 1).modseq == 1
    path = again.message_info(BOB, "INBOX", 1).path
    path.rename(path.parent.parent / "cur" / (path.name.split(":")[0] + ":2,S"))
    assert again.rescan(BOB, "INBOX")
    assert again.message_info(BOB, "INBOX", 1).modseq == again.highestmodseq(BOB, "INBOX") == 2


# --------------------------------------------------------------------------- review of issue 12 (C3)

def _enabled(store, what: str, *messages: bytes) -> Client:
    """A client with ``ENABLE what`` (authenticated state, RFC 5161 §3.1), INBOX selected."""
    for m in messages:
        store.append(BOB, "INBOX", m)
    c = Client(store)
    c.login()
    assert c.cmd(f"e ENABLE {what}").startswith(f"* ENABLED {what}".encode())
    c.select()
    return c


def test_expunge_and_close_report_highestmodseq(store):
    """As Dovecot: once CONDSTORE is on, the tagged OK of EXPUNGE / UID EXPUNGE / CLOSE carries
    ``[HIGHESTMODSEQ n]`` (RFC 7162 §3.1.2.1's code), the value after the expunge."""
    c = _loaded(store, *(_msg(f"m{n}") for n in range(1, 5)))
    assert c.cmd("x EXPUNGE") == b"x OK EXPUNGE completed\r\n"             # CONDSTORE off: as before
    c.cmd("f FETCH 1 (MODSEQ)")                                            # CONDSTORE-enabling (§3.1)
    c.cmd("s STORE 1 +FLAGS.SILENT (\\Deleted)")
    out = c.cmd("x EXPUNGE")
    assert out.endswith(f"x OK [HIGHESTMODSEQ {store.highestmodseq(BOB, 'INBOX')}] EXPUNGE completed\r\n".encode())
    c.cmd("s STORE 1 +FLAGS.SILENT (\\Deleted)")
    out = c.cmd("x UID EXPUNGE 1:*")
    assert out.endswith(f"x OK [HIGHESTMODSEQ {store.highestmodseq(BOB, 'INBOX')}] EXPUNGE completed\r\n".encode())
    c.cmd("s STORE 1 +FLAGS.SILENT (\\Deleted)")
    out = c.cmd("c CLOSE")
    assert out == f"c OK [HIGHESTMODSEQ {store.highestmodseq(BOB, 'INBOX')}] CLOSE completed\r\n".encode()


def test_no_modseq_above_a_held_back_expunge(store):
    """RFC 7162 errata 1810: during FETCH (no VANISHED allowed) no MODSEQ newer than the held-back
    expunge goes out; the flag change comes with the VANISHED at the next chance."""
    c = _enabled(store, "QRESYNC", *(_msg(f"m{n}") for n in range(1, 4)))
    other = Client(store)
    other.login()
    other.select()
    other.cmd("s STORE 1 +FLAGS.SILENT (\\Deleted)")
    other.cmd("x EXPUNGE")
    gone = store.highestmodseq(BOB, "INBOX")
    other.cmd("s STORE 2 +FLAGS.SILENT (\\Flagged)")
    out = c.cmd("f FETCH 2 (FLAGS)")
    assert b"VANISHED" not in out and all(int(m) <= gone for m in re.findall(rb"MODSEQ \((\d+)\)", out))
    out = c.cmd("f FETCH 2 (MODSEQ)")                  # asked for: it may be newer, so HIGHESTMODSEQ
    restated = re.search(rb"\* OK \[HIGHESTMODSEQ (\d+)\]", out)   # is restated below the expunge
    assert b"VANISHED" not in out and restated and int(restated.group(1)) < gone
    out = c.cmd("n NOOP")
    assert out.startswith(b"* VANISHED 1\r\n") and re.search(rb"UID 3 MODSEQ \(\d+\) FLAGS \(\\Flagged", out)


def test_move_is_reported_vanished(store):
    """RFC 6851 §4.3 with QRESYNC: MOVE answers VANISHED, and a later resync learns it too."""
    c = _enabled(store, "QRESYNC", *(_msg(f"m{n}") for n in range(1, 4)))
    out = c.cmd("s SELECT INBOX")
    known = int(re.search(rb"HIGHESTMODSEQ (\d+)", out).group(1))
    validity = store.uidvalidity(BOB, "INBOX")
    out = c.cmd("m UID MOVE 2 Drafts")
    assert b"* VANISHED 2\r\n" in out and b"m OK" in out
    assert 2 in store.vanished(BOB, "INBOX", known)
    c.cmd("c CLOSE")
    out = c.cmd(f"s SELECT INBOX (QRESYNC ({validity} {known}))")
    assert b"* VANISHED (EARLIER) 2\r\n" in out


def test_unchangedsince_boundary(store):
    """RFC 7162 §3.1.3: a message is left alone only if its mod-sequence is greater than
    UNCHANGEDSINCE; equal is still unchanged."""
    c = _loaded(store, _msg("a"), _msg("b"))
    mods = _modseqs(c.cmd("f FETCH 1:2 MODSEQ"))
    out = c.cmd(f"s STORE 1 (UNCHANGEDSINCE {mods[1]}) +FLAGS (\\Seen)")
    assert b"MODIFIED" not in out and b"\\Seen" in out
    out = c.cmd(f"s STORE 2 (UNCHANGEDSINCE {mods[2] - 1}) +FLAGS (\\Seen)")
    assert out.endswith(b"s OK [MODIFIED 2] Conditional STORE failed\r\n") or b"[MODIFIED 2]" in out
    assert "\\Seen" not in store.message_info(BOB, "INBOX", 2).flags


def test_a_nul_in_a_plain_literal_is_never_stored_raw(store):
    """RFC 3501 §4.3: a NUL never appears in a message's text; a plain {n} literal holding one is
    stored re-encoded, as a literal8 is (RFC 3516 §4.4): never raw."""
    c = Client(store)
    c.login()
    body = b"From: a@x.test\r\nSubject: nul\r\n\r\nbefore\0after\r\n"
    out = c.raw(b"a APPEND INBOX {%d}\r\n" % len(body))
    out += c.raw(body + b"\r\n")
    c.select()
    assert b"a OK [APPENDUID" in out
    assert b"\0" not in c.cmd("f FETCH 1 BODY.PEEK[]")


def test_sort_and_thread_send_no_expunge(store):
    """RFC 3501 §7.4.1 (and RFC 5256): no EXPUNGE while answering SORT or THREAD (sequence numbers
    must stay valid); NOOP delivers it."""
    c = _loaded(store, *(_msg(f"m{n}") for n in range(1, 4)))
    other = Client(store)
    other.login()
    other.select()
    other.cmd("s STORE 1 +FLAGS.SILENT (\\Deleted)")
    other.cmd("x EXPUNGE")
    assert b"EXPUNGE" not in c.cmd("s SORT (SUBJECT) UTF-8 ALL")
    assert b"EXPUNGE" not in c.cmd("t THREAD ORDEREDSUBJECT UTF-8 ALL")
    assert b"* 1 EXPUNGE" in c.cmd("n NOOP")


def test_qresync_seq_match_data_is_checked(store):
    """RFC 7162 §3.2.5: seq-match-data is (known-sequence-set known-uid-set): anything else is BAD."""
    c = _enabled(store, "QRESYNC", _msg("a"), _msg("b"))
    v = store.uidvalidity(BOB, "INBOX")
    assert c.cmd(f"s SELECT INBOX (QRESYNC ({v} 1 1:2 (1:2 1:2)))").endswith(b"s OK [READ-WRITE] SELECT completed\r\n")
    assert c.cmd(f"s SELECT INBOX (QRESYNC ({v} 1 1:2 (1:2)))").startswith(b"s BAD")
    assert c.cmd(f"s SELECT INBOX (QRESYNC ({v} 1 1:2 (1:2 x)))").startswith(b"s BAD")
    assert c.cmd(f"s SELECT INBOX (QRESYNC ({v} 1 1:2 (1:2 1:2 3)))").startswith(b"s BAD")


def test_vanished_is_answered_in_ranges_and_below_the_history_floor(store):
    """Finding 3/8: VANISHED (EARLIER) is computed on ranges (never expanded, never scanned per
    UID); when the store's history no longer reaches back to the client's mod-sequence
    (``vanished_ranges`` → None), the answer is the client's known UIDs minus those that exist."""
    assert intersect_ranges([(1, 10), (20, 30)], [(5, 25), (29, 2**32)]) == [(5, 10), (20, 25), (29, 30)]
    assert ranges_without([(1, 10), (12, 12)], [2, 3, 7, 12]) == [(1, 1), (4, 6), (8, 10)]
    assert format_ranges([(1, 3), (5, 5)]) == "1:3,5"
    c = _enabled(store, "QRESYNC", *(_msg(f"m{n}") for n in range(1, 6)))
    validity = store.uidvalidity(BOB, "INBOX")
    c.cmd("s STORE 2,4 +FLAGS.SILENT (\\Deleted)")
    c.cmd("x EXPUNGE")
    c.cmd("c CLOSE")
    assert b"* VANISHED (EARLIER) 2,4\r\n" in c.cmd(f"s SELECT INBOX (QRESYNC ({validity} 1 1:*))")
    c.session.mailbox.vanished_ranges = lambda folder, since: None        # the floor is above 1
    out = c.cmd(f"s SELECT INBOX (QRESYNC ({validity} 1 1:3,5:9))")
    assert b"* VANISHED (EARLIER) 2\r\n" in out                            # 4 is not among the known
    assert b"* VANISHED (EARLIER) 2,4\r\n" in c.cmd(f"s SELECT INBOX (QRESYNC ({validity} 1))")
    out = c.cmd("u UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)")
    assert out.startswith(b"* VANISHED (EARLIER) 2,4\r\n")
