"""Lazy sizes and the metadata kept across restarts (``mailflow-cache``, simulator/store/metacache.py).

What must hold: a first scan reads no message file; sizes and rendered forms are right whether they
were counted, remembered in memory or loaded after a restart; a record is used only for the very
file it was made for; a damaged cache is ignored; the cache is written whole (fsync, then rename);
a clean restart rewrites no uid list.  Timings are in bench/ (bench_imap.py), not here.
"""
from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from simulator.store import MailStore, NoSuchMessage, metacache, to_crlf, uids
from simulator.store.mime import ParsedMessage

BOB = "bob@beta.test"
T0 = 1_700_000_000.0
LF = b"From: Alice <alice@alpha.test>\nTo: bob@beta.test\nSubject: lf %d\n\nline one\nline two\n"
CRLF = b"From: Carol <carol@gamma.test>\r\nSubject: crlf %d\r\n\r\nbody\r\n"


def drop(store: MailStore, name: str, data: bytes, mtime: float) -> Path:
    root = store.maildir_path(BOB)
    tmp = root / "tmp" / name
    tmp.write_bytes(data)
    os.utime(tmp, (mtime, mtime))
    os.rename(tmp, root / "new" / name)
    return root / "new" / name


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "mail"


@pytest.fixture
def filled(root: Path) -> dict[str, bytes]:
    store = MailStore(root, clock=lambda: T0)
    messages = {}
    for i in range(6):
        data = (LF if i % 2 else CRLF) % i
        drop(store, f"m{i}", data, T0 + i)
        messages[f"m{i}"] = data
    return messages


class Counter:
    """A render function that counts its calls (what was worked out anew, not taken from a cache)."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, parsed: ParsedMessage) -> bytes:
        self.calls += 1
        return ("(%s)" % parsed.root.headers.get("subject")).encode()


def test_a_first_scan_reads_no_message_and_sizes_are_counted_when_asked(root, filled, reads):
    store = MailStore(root, clock=lambda: T0)
    assert len(store.uids(BOB, "INBOX")) == 6
    assert reads == []
    sizes = {m.uid: m.size for m in store.messages(BOB, "INBOX")}
    assert sorted(sizes.values()) == sorted(len(to_crlf(d)) for d in filled.values())
    assert len(reads) == 6
    store.messages(BOB, "INBOX")
    store.message_meta(BOB, "INBOX", 1)
    assert len(reads) == 6                   # counted once


def test_reading_a_message_counts_its_size_on_the_way(root, filled, reads):
    store = MailStore(root, clock=lambda: T0)
    data = store.read_message(BOB, "INBOX", 2)
    assert store.message_meta(BOB, "INBOX", 2).size == len(data) == len(to_crlf(filled["m1"]))
    assert reads == ["read 2"]


def test_sizes_and_rendered_forms_survive_a_restart(root, filled, reads):
    store = MailStore(root, clock=lambda: T0)
    render = Counter()
    first = {u: store.rendered(BOB, "INBOX", u, "test.1", render, headers_only=True)
             for u in store.uids(BOB, "INBOX")}
    sizes = {m.uid: m.size for m in store.messages(BOB, "INBOX")}
    assert render.calls == 6 and first[1] == b"(crlf 0)"
    store.flush()
    assert (store.maildir_path(BOB) / metacache.CACHE_NAME).exists()

    reads.clear()
    again = MailStore(root, clock=lambda: T0)
    assert {u: again.rendered(BOB, "INBOX", u, "test.1", render, headers_only=True)
            for u in again.uids(BOB, "INBOX")} == first
    assert {m.uid: m.size for m in again.messages(BOB, "INBOX")} == sizes
    assert render.calls == 6 and reads == []          # nothing read, nothing rendered again
    assert again.rendered(BOB, "INBOX", 1, "test.2", render) == b"(crlf 0)"
    assert render.calls == 7                          # another key (a new renderer) is worked out


def rendered_and_flushed(root: Path) -> tuple[MailStore, Counter]:
    """A store that rendered every message once ("test.1", headers only) and wrote its cache."""
    store = MailStore(root, clock=lambda: T0)
    render = Counter()
    for u in store.uids(BOB, "INBOX"):
        store.rendered(BOB, "INBOX", u, "test.1", render, headers_only=True)
    store.flush()
    return store, render


def test_a_record_serves_only_the_file_it_was_made_for(root, filled, reads):
    store, render = rendered_and_flushed(root)
    path = next(p for p in (store.maildir_path(BOB) / "new").iterdir() if p.name == "m0")
    changed = b"From: Dave <dave@delta.test>\r\nSubject: replaced in place\r\n\r\nlonger body\r\n"
    path.write_bytes(changed)                    # not Maildir-like, while the server is down
    os.utime(path, (T0 + 50, T0 + 50))
    again = MailStore(root, clock=lambda: T0)
    uid = next(u for u in again.uids(BOB, "INBOX") if again.message_info(BOB, "INBOX", u).path.name == "m0")
    # the uid list is trusted at the restart (no stat per file); the first read of the file notices
    assert again.read_message(BOB, "INBOX", uid) == changed
    assert again.rendered(BOB, "INBOX", uid, "test.1", render, headers_only=True) == b"(replaced in place)"
    assert again.message_meta(BOB, "INBOX", uid).size == len(changed)
    assert render.calls == 7
    again.flush()
    third = MailStore(root, clock=lambda: T0)         # and the cache now holds the new file's record
    assert third.rendered(BOB, "INBOX", uid, "test.1", render, headers_only=True) == b"(replaced in place)"
    assert third.message_meta(BOB, "INBOX", uid).size == len(changed) and render.calls == 7


def test_a_message_changed_in_place_while_running_is_worked_out_again(root, filled):
    store = MailStore(root, clock=lambda: T0)
    render = Counter()
    assert store.rendered(BOB, "INBOX", 1, "test.1", render, headers_only=True) == b"(crlf 0)"
    path = store.message_info(BOB, "INBOX", 1).path
    changed = b"Subject: new words\r\n\r\nx\r\n"
    path.write_bytes(changed)
    os.utime(path, (T0 + 70, T0 + 70))
    assert store.read_message(BOB, "INBOX", 1) == changed
    assert store.rendered(BOB, "INBOX", 1, "test.1", render, headers_only=True) == b"(new words)"
    assert store.message_meta(BOB, "INBOX", 1).size == len(changed)


@pytest.mark.parametrize("damage", ["flip", "truncate", "garbage", "empty"])
def test_a_damaged_cache_is_ignored(root, filled, damage):
    store, render = rendered_and_flushed(root)
    cache = store.maildir_path(BOB) / metacache.CACHE_NAME
    blob = bytearray(cache.read_bytes())
    if damage == "flip":
        blob[len(blob) // 2] ^= 0x20
    elif damage == "truncate":
        del blob[len(blob) - 7:]
    elif damage == "garbage":
        blob[:] = b"mailflow-cache 1 3 00000000\n\x00\xff\t\n"
    else:
        blob.clear()
    cache.write_bytes(bytes(blob))
    again = MailStore(root, clock=lambda: T0)
    out = [again.rendered(BOB, "INBOX", u, "test.1", render, headers_only=True) for u in again.uids(BOB, "INBOX")]
    assert render.calls == 12 and sorted(out) == sorted(b"(%s %d)" % (b"lf" if i % 2 else b"crlf", i)
                                                        for i in range(6))


def test_the_cache_is_written_whole_then_renamed(root, filled, monkeypatch):
    store = MailStore(root, clock=lambda: T0)
    store.rendered(BOB, "INBOX", 1, "test.1", Counter())
    calls: list[str] = []
    fsync, replace = os.fsync, os.replace
    monkeypatch.setattr(metacache.os, "fsync", lambda fd: calls.append("fsync") or fsync(fd))
    monkeypatch.setattr(metacache.os, "replace", lambda a, b: calls.append(f"rename {Path(b).name}") or replace(a, b))
    store.flush()
    assert calls == ["fsync", f"rename {metacache.CACHE_NAME}"]
    assert [p.name for p in store.maildir_path(BOB).iterdir() if ".tmp" in p.name] == []


def test_the_cache_is_written_off_the_loop_after_a_change(root, filled):
    async def main() -> None:
        store = MailStore(root, clock=lambda: T0)
        store.CACHE_DELAY = 0
        store.rendered(BOB, "INBOX", 1, "test.1", Counter())
        assert store._cache_timer is not None          # debounced: nothing written in the call
        for _ in range(100):                            # the timer's turn (no wall-clock wait)
            if store._cache_written is not None:
                break
            await asyncio.sleep(0)
        written = store._cache_written
        assert written is not None
        await asyncio.wrap_future(written)             # the worker thread did the write
        assert metacache.load(store.maildir_path(BOB))
    asyncio.run(main())


def test_a_clean_restart_rewrites_no_uid_list(root, filled, monkeypatch):
    store = MailStore(root, clock=lambda: T0)
    store.messages(BOB, "INBOX")
    store.flush()
    saves: list[int] = []
    save = uids.save_uidlist
    monkeypatch.setattr(uids, "save_uidlist", lambda state, **kw: saves.append(1) or save(state, **kw))
    again = MailStore(root, clock=lambda: T0)
    assert again.uids(BOB, "INBOX") == store.uids(BOB, "INBOX")
    assert saves == []
    # a flag changed behind our back while down is still a change (a new mod-sequence, saved)
    path = next((again.maildir_path(BOB) / "new").iterdir())
    os.rename(path, path.parent.parent / "cur" / (path.name + ":2,S"))
    third = MailStore(root, clock=lambda: T0)
    before = {u: again.message_meta(BOB, "INBOX", u).modseq for u in again.uids(BOB, "INBOX")}
    after = {u: third.message_meta(BOB, "INBOX", u).modseq for u in third.uids(BOB, "INBOX")}
    assert saves and sum(1 for u in after if after[u] > before[u]) == 1


def test_metacache_round_trips_any_octets(tmp_path):
    forms = {"a.1": b"", "b.1": b"\r\n\x00\xff{3}\r\nabc", "c.1": bytes(range(256))}
    blob = metacache.dump([("base\u00e9", 10, 20, 30, forms), ("other", 1, 2, -1, None)])
    metacache.write(tmp_path, blob)
    assert metacache.load(tmp_path) == {"base\u00e9": (10, 20, 30, forms), "other": (1, 2, -1, {})}


def test_message_file_is_message_infos_path(root, filled):
    store = MailStore(root, clock=lambda: T0)
    for uid in store.uids(BOB, "INBOX"):
        assert store.message_file(BOB, "INBOX", uid) == str(store.message_info(BOB, "INBOX", uid).path)
    with pytest.raises(NoSuchMessage):
        store.message_file(BOB, "INBOX", 999)
