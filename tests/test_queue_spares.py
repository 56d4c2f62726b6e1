"""The queue recycles the files of the entries that left it (:mod:`simulator.queue`, "Recycled files").

Facts: a removed entry's files become spares (emptied, hidden names) and the next ``add`` writes into
them instead of creating files (same inode numbers); what an entry holds is its own, whatever a
spare held before; at most ``SPARES_KEPT`` per directory; spares are never reused across a restart
(``load_all`` removes them), and a spare left half-written by a crash is no entry.
"""
from __future__ import annotations

import json
import os

from simulator import queue as queue_mod
from simulator.queue import Entry, QueueStore, Recipient

HOST = "smtp.alpha.test"


def _entry(ident: str, **extra) -> Entry:
    return Entry(id=ident, host=HOST, sender="alice@alpha.test", recipients=[Recipient("bob@beta.test")],
                 trace=f"m-{ident}", created=1.0, next_attempt=1.0, extra=dict(extra))


def _names(directory):
    return sorted(p.name for p in directory.iterdir())


def test_a_removed_entrys_files_are_written_again_by_the_next_entry(tmp_path):
    store = QueueStore(tmp_path / "queue")
    directory = tmp_path / "queue" / HOST
    first = _entry("AAAAAAAAAAA1")
    store.add(first, b"Subject: long\r\n\r\n" + b"x" * 50_000 + b"\r\n")
    inodes = {os.stat(directory / f"{first.id}{s}").st_ino for s in (".eml", ".json")}
    message_inode = os.stat(directory / f"{first.id}.eml").st_ino
    store.remove(first)
    spares = [p for p in directory.iterdir()]
    assert len(spares) == 2 and all(p.name.startswith(queue_mod.SPARE_PREFIX) for p in spares)
    assert {p.stat().st_ino for p in spares} == inodes
    assert [p.stat().st_size for p in spares if p.stat().st_ino == message_inode] == [0]   # no message kept

    second = _entry("BBBBBBBBBBB2")
    store.add(second, b"Subject: short\r\n\r\ny\r\n")
    assert _names(directory) == [f"{second.id}.eml", f"{second.id}.json"]
    assert {os.stat(directory / f"{second.id}{s}").st_ino for s in (".eml", ".json")} == inodes
    assert (directory / f"{second.id}.eml").read_bytes() == b"Subject: short\r\n\r\ny\r\n"
    assert json.loads((directory / f"{second.id}.json").read_text()) == second.to_dict()
    assert store.content(second) == b"Subject: short\r\n\r\ny\r\n"
    assert QueueStore(tmp_path / "queue").load_all() == [second]


def test_a_relayed_entry_leaves_its_record_and_recycles_its_message_file(tmp_path):
    store = QueueStore(tmp_path / "queue")
    directory = tmp_path / "queue" / HOST
    relayed = _entry("CCCCCCCCCCC3", relay="<X@smtp.alpha.test> 00ff")
    store.add(relayed, b"Subject: r\r\n\r\nr\r\n")
    store.remove(relayed)
    assert [n for n in _names(directory) if not n.startswith(queue_mod.SPARE_PREFIX)] == [f"{relayed.id}.done"]
    assert json.loads((directory / f"{relayed.id}.done").read_text())["extra"]["relay"] == "<X@smtp.alpha.test> 00ff"
    assert sum(n.startswith(queue_mod.SPARE_PREFIX) for n in _names(directory)) == 1


def test_spares_are_bounded_per_directory(tmp_path, monkeypatch):
    monkeypatch.setattr(queue_mod, "SPARES_KEPT", 3)
    store = QueueStore(tmp_path / "queue")
    directory = tmp_path / "queue" / HOST
    entries = [_entry(f"DDDDDDDDDD{i:02d}") for i in range(5)]
    for entry in entries:
        store.add(entry, b"Subject: d\r\n\r\nd\r\n")
    for entry in entries:
        store.remove(entry)
    assert len(_names(directory)) == 3
    for entry in entries:                       # three written into spares, two into new files
        store.add(entry, b"Subject: e\r\n\r\ne\r\n")
    assert _names(directory) == sorted(f"{e.id}{s}" for e in entries for s in (".eml", ".json"))
    assert sorted(QueueStore(tmp_path / "queue").load_all(), key=lambda e: e.id) == entries


def test_spares_are_not_reused_across_a_restart_and_a_half_written_one_is_no_entry(tmp_path):
    store = QueueStore(tmp_path / "queue")
    directory = tmp_path / "queue" / HOST
    kept = _entry("EEEEEEEEEEE5")
    gone = _entry("FFFFFFFFFFF6")
    store.add(kept, b"Subject: k\r\n\r\nk\r\n")
    store.add(gone, b"Subject: g\r\n\r\ng\r\n")
    store.remove(gone)
    spare = next(p for p in directory.iterdir() if p.name.startswith(queue_mod.SPARE_PREFIX))
    spare.write_bytes(b'{"id": "half')           # a crash while a spare was being written
    again = QueueStore(tmp_path / "queue")
    assert again.load_all() == [kept]
    assert _names(directory) == [f"{kept.id}.eml", f"{kept.id}.json"]
    third = _entry("AAAAAAAAAAA7")
    again.add(third, b"Subject: t\r\n\r\nt\r\n")    # no spare known: new files
    assert sorted(again.load_all(), key=lambda e: e.id) == [third, kept]


def test_two_stores_on_one_root_never_make_the_same_spare_name(tmp_path):
    """A reload starts a new store while a job of the old one still runs: their spare names differ
    (a rename onto the other's spare would silently put one entry's octets under another's name)."""
    old, new = QueueStore(tmp_path / "queue"), QueueStore(tmp_path / "queue")
    directory = tmp_path / "queue" / HOST
    a, b = _entry("DDDDDDDDDDD4"), _entry("EEEEEEEEEEE5")
    old.add(a, b"Subject: a\r\n\r\na\r\n")
    new.add(b, b"Subject: b\r\n\r\nb\r\n")
    old.remove(a)
    new.remove(b)
    assert sum(n.startswith(queue_mod.SPARE_PREFIX) for n in _names(directory)) == 4
