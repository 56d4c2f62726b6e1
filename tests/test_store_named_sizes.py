"""Sizes stated in Maildir file names (Dovecot's ``<base>,S=<file size>,W=<CRLF size>``) and ENVELOPE
from the header block alone.

What must hold: a scan takes RFC822.SIZE from ``,W=`` when ``,S=`` is the file's size, reading no
message file; a name whose ``S=`` does not match is counted as any other file; when the size is known,
the header-only parse (ENVELOPE's) reads no whole message, on CRLF and LF files alike, and gives the
same fields as a parse of the whole message; a file changed in place since it was listed is read whole
and its size corrected.  Timings are in bench/ (bench_imap.py), not here.
"""
from __future__ import annotations

import os
from pathlib import Path

from simulator.store import MailStore, parse_header_block, to_crlf
from simulator.store.mime import ParsedMessage

BOB = "bob@beta.test"
T0 = 1_700_000_000.0
FIELDS = frozenset({"from", "subject", "to"})
CRLF = b"From: Carol <carol@gamma.test>\r\nTo: bob@beta.test\r\nSubject: crlf %d\r\n\r\n" + b"body line\r\n" * 3000
LF = b"From: Alice <alice@alpha.test>\nTo: bob@beta.test\nSubject: lf %d\n\n" + b"line\n" * 3000


def drop(store: MailStore, name: str, data: bytes, mtime: float) -> Path:
    root = store.maildir_path(BOB)
    (root / "tmp" / name).write_bytes(data)
    os.utime(root / "tmp" / name, (mtime, mtime))
    os.rename(root / "tmp" / name, root / "new" / name)
    return root / "new" / name


def headers_of(parsed: ParsedMessage) -> bytes:
    return repr(sorted(parsed.root.headers.items())).encode()


def test_sizes_from_names_and_envelopes_from_headers_read_no_whole_file(tmp_path, reads):
    store = MailStore(tmp_path / "mail", clock=lambda: T0)
    sent = {}
    for i, template in enumerate((CRLF, LF, CRLF)):
        data = template % i
        drop(store, f"m{i},S={len(data)},W={len(to_crlf(data))}", data, T0 + i)
        sent[i + 1] = data
    meta = {u: store.message_meta(BOB, "INBOX", u).size for u in store.uids(BOB, "INBOX")}
    assert meta == {u: len(to_crlf(d)) for u, d in sent.items()}
    forms = {u: store.rendered(BOB, "INBOX", u, "test.1", headers_of, headers_only=FIELDS) for u in sent}
    assert reads == []                                       # nothing was read whole
    for u, data in sent.items():
        whole = to_crlf(data)
        expected = {k: v for k, v in parse_header_block(whole, 0, len(whole))[0].items() if k in FIELDS}
        assert forms[u] == repr(sorted(expected.items())).encode()


def test_a_name_whose_size_is_wrong_is_counted(tmp_path, reads):
    store = MailStore(tmp_path / "mail", clock=lambda: T0)
    data = CRLF % 7
    drop(store, f"m7,S={len(data) + 1},W=5", data, T0)
    (uid,) = store.uids(BOB, "INBOX")
    assert store.message_meta(BOB, "INBOX", uid).size == len(data)
    assert len(reads) == 1                                   # counted from the file


def test_a_file_changed_in_place_is_read_whole_and_its_size_corrected(tmp_path, reads):
    store = MailStore(tmp_path / "mail", clock=lambda: T0)
    data = CRLF % 1
    path = drop(store, f"m1,S={len(data)},W={len(data)}", data, T0)
    (uid,) = store.uids(BOB, "INBOX")
    assert store.message_meta(BOB, "INBOX", uid).size == len(data)
    changed = b"From: Dave <dave@delta.test>\r\nSubject: changed\r\n\r\nshort\r\n"
    path.write_bytes(changed)                                # not Maildir-like, but it happens
    form = store.rendered(BOB, "INBOX", uid, "test.1", headers_of, headers_only=FIELDS)
    assert b"changed" in form and reads == [f"read {uid}"]
    assert store.message_meta(BOB, "INBOX", uid).size == len(changed)


def test_a_message_that_is_all_header_and_one_with_a_long_header(tmp_path, reads):
    store = MailStore(tmp_path / "mail", clock=lambda: T0)
    only_header = b"From: a@b\r\nSubject: no body\r\n"
    long_header = b"".join(b"X-Pad-%d: %s\r\n" % (i, b"p" * 70) for i in range(1200)) + b"Subject: deep\r\n\r\nbody\r\n"
    for i, data in enumerate((only_header, long_header)):
        drop(store, f"h{i},S={len(data)},W={len(data)}", data, T0 + i)
    subjects = [store.rendered(BOB, "INBOX", u, "test.1", headers_of, headers_only=FIELDS)
                for u in store.uids(BOB, "INBOX")]
    assert b"no body" in subjects[0] and b"deep" in subjects[1]
    assert reads == ["read 2"]             # the header past MailStore.HEAD_MAX: read whole, as before
