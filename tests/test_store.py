"""The Maildir mailbox store: UIDs, UIDVALIDITY, flags in names, folders, notifications, caching."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from simulator import fsutil, mda
from simulator.store import maildir, uids
from simulator.store import (
    FolderEvent,
    FolderExists,
    MailStore,
    NoSuchFolder,
    NoSuchMessage,
    StoreError,
    decode_mutf7,
    encode_mutf7,
    parse_mime,
)

BOB = "bob@beta.test"
T0 = 1_700_000_000.0


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> MailStore:
    return MailStore(tmp_path / "mail", clock=clock)


def drop(store: MailStore, name: str, data: bytes, mtime: float, address: str = BOB) -> Path:
    """Deliver like the MDA: tmp/ then rename into new/."""
    root = store.maildir_path(address)
    tmp = root / "tmp" / name
    tmp.write_bytes(data)
    os.utime(tmp, (mtime, mtime))
    os.rename(tmp, root / "new" / name)
    return root / "new" / name


def tree(root: Path) -> dict[str, bytes]:
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            p = Path(dirpath) / name
            out[str(p.relative_to(root))] = p.read_bytes()
    return out


def test_maildir_created_with_default_folders(store):
    root = store.maildir_path(BOB)
    assert root == store.root / "beta.test" / "bob"
    for sub in ("tmp", "new", "cur"):
        assert (root / sub).is_dir()
    for name in (".Sent", ".Drafts", ".Trash", ".Junk"):
        assert (root / name / "cur").is_dir() and (root / name / "maildirfolder").exists()
    folders = {f.name: f.special_use for f in store.list_folders(BOB)}
    assert folders == {"INBOX": None, "Drafts": "\\Drafts", "Junk": "\\Junk", "Sent": "\\Sent", "Trash": "\\Trash"}
    assert store.subscriptions(BOB) == ["INBOX", "Drafts", "Junk", "Sent", "Trash"]


def test_inbox_snapshot_uids_in_arrival_order_and_crlf_sizes(store):
    drop(store, "b.msg", b"Subject: second\n\nline\n", T0 + 10)
    drop(store, "a.msg", b"Subject: first\n\nbody\n", T0)
    snap = store.inbox_snapshot(BOB)
    assert [(m.uid, m.path.name) for m in snap] == [(1, "a.msg"), (2, "b.msg")]
    data = store.read_message(BOB, "INBOX", 1)
    assert data == b"Subject: first\r\n\r\nbody\r\n"
    assert snap[0].size == len(data) and snap[0].internaldate == T0
    assert snap[0].flags == frozenset()
    with pytest.raises(NoSuchMessage):
        store.read_message(BOB, "INBOX", 99)


def test_flags_live_in_file_names_in_ascii_order(store):
    drop(store, "m1", b"Subject: x\n\ny\n", T0)
    store.inbox_snapshot(BOB)
    new = store.set_flags(BOB, "INBOX", [1], ["\\Seen", "\\flagged", "\\Deleted", "\\Draft", "\\Answered",
                                              "$Forwarded", "Work"], "+")
    assert new[1] == frozenset({"\\Seen", "\\Flagged", "\\Deleted", "\\Draft", "\\Answered", "$Forwarded", "Work"})
    root = store.maildir_path(BOB)
    assert os.listdir(root / "cur") == ["m1:2,DFPRST"] and os.listdir(root / "new") == []
    store.set_flags(BOB, "INBOX", [1], ["\\Deleted", "\\Draft"], "-")
    assert os.listdir(root / "cur") == ["m1:2,FPRS"]
    store.set_flags(BOB, "INBOX", [1], ["\\Seen"], "=")
    assert os.listdir(root / "cur") == ["m1:2,S"]
    with pytest.raises(StoreError):
        store.set_flags(BOB, "INBOX", [1], ["\\Bogus"], "+")


def test_flags_renamed_behind_our_back_are_picked_up(store):
    drop(store, "m1", b"x\n", T0)
    store.inbox_snapshot(BOB)
    root = store.maildir_path(BOB)
    os.rename(root / "new" / "m1", root / "cur" / "m1:2,FS")  # e.g. mutt on the Maildir directly
    assert store.inbox_snapshot(BOB)[0].flags == frozenset({"\\Flagged", "\\Seen"})


def test_uids_and_uidvalidity_survive_restart_and_are_never_reused(tmp_path, store, clock):
    for i in range(3):
        drop(store, f"m{i}", b"Subject: %d\n\nx\n" % i, T0 + i)
    store.inbox_snapshot(BOB)
    store.set_flags(BOB, "INBOX", [2], ["Important"], "+")
    v = store.uidvalidity(BOB, "INBOX")
    store.delete_messages(BOB, "INBOX", [3])
    again = MailStore(tmp_path / "mail", clock=clock)
    assert again.uidvalidity(BOB, "INBOX") == v
    assert [m.uid for m in again.inbox_snapshot(BOB)] == [1, 2]
    assert again.message_info(BOB, "INBOX", 2).flags == frozenset({"Important"})  # keyword persisted
    drop(again, "m9", b"x\n", T0 + 9)
    assert [m.uid for m in again.inbox_snapshot(BOB)] == [1, 2, 4]  # 3 is never given out again
    assert again.append(BOB, "INBOX", b"Subject: a\r\n\r\nb\r\n") == (v, 5)


def test_lost_uid_list_means_new_larger_uidvalidity(tmp_path, store, clock):
    drop(store, "m1", b"x\n", T0)
    store.inbox_snapshot(BOB)
    v = store.uidvalidity(BOB, "INBOX")
    (store.maildir_path(BOB) / "mailflow-uidlist").unlink()
    again = MailStore(tmp_path / "mail", clock=clock)
    assert again.uidvalidity(BOB, "INBOX") > v
    (store.maildir_path(BOB) / "mailflow-uidlist").write_text("garbage\n")
    third = MailStore(tmp_path / "mail", clock=clock)
    assert third.uidvalidity(BOB, "INBOX") > again.uidvalidity(BOB, "INBOX")
    assert [m.uid for m in third.inbox_snapshot(BOB)] == [1]


def test_recent_belongs_to_the_first_claimer(tmp_path, store, clock):
    drop(store, "m1", b"x\n", T0)
    store.inbox_snapshot(BOB)
    assert store.status(BOB, "INBOX").recent == 1
    assert store.claim_recent(BOB, "INBOX") == {1}
    assert store.claim_recent(BOB, "INBOX") == frozenset()
    root = store.maildir_path(BOB)
    assert os.listdir(root / "new") == [] and os.listdir(root / "cur") == ["m1:2,"]
    assert MailStore(tmp_path / "mail", clock=clock).status(BOB, "INBOX").recent == 0


def test_listeners_hear_every_change(store):
    events: list[FolderEvent] = []
    sub = store.listen(BOB, events.append)
    drop(store, "m1", b"x\n", T0)
    store.notify(BOB)
    store.set_flags(BOB, "INBOX", [1], ["\\Seen"], "+")
    store.append(BOB, "Sent", b"x\r\n")
    store.delete_messages(BOB, "INBOX", [1])
    assert [(e.folder, e.kind) for e in events] == [("INBOX", "changed")] * 2 + [("Sent", "changed"), ("INBOX", "changed")]
    store.notify(BOB)  # nothing new: nobody is bothered
    assert len(events) == 4
    sub.close()
    store.append(BOB, "Sent", b"y\r\n")
    assert len(events) == 4


def test_append_copy_move_expunge(store, clock):
    v_sent = store.uidvalidity(BOB, "Sent")
    assert store.append(BOB, "Sent", b"Subject: a\n\nb\n", ["\\Seen"], internaldate=T0 - 100) == (v_sent, 1)
    info = store.message_info(BOB, "Sent", 1)
    assert info.flags == {"\\Seen"} and info.internaldate == T0 - 100 and info.path.name.endswith(":2,S")
    assert store.read_message(BOB, "Sent", 1) == b"Subject: a\r\n\r\nb\r\n"
    assert store.copy_messages(BOB, "Sent", [1, 77], "Trash") == [(1, 1)]
    assert store.message_info(BOB, "Trash", 1).internaldate == T0 - 100
    assert store.move_messages(BOB, "Sent", [1], "Junk") == [(1, 1)]
    assert store.uids(BOB, "Sent") == [] and store.uids(BOB, "Junk") == [1]
    assert store.uidnext(BOB, "Sent") == 2
    store.set_flags(BOB, "Trash", [1], ["\\Deleted"], "+")
    store.append(BOB, "Trash", b"keep\r\n")
    assert store.expunge(BOB, "Trash") == [1]
    assert store.uids(BOB, "Trash") == [2]
    with pytest.raises(NoSuchFolder):
        store.append(BOB, "Nope", b"x")


def test_folder_create_rename_delete_subscribe(store):
    assert store.create_folder(BOB, "Projects/2024/Q1") == "Projects/2024/Q1"
    names = [f.name for f in store.list_folders(BOB)]
    assert {"Projects", "Projects/2024", "Projects/2024/Q1"} <= set(names)
    assert (store.maildir_path(BOB) / ".Projects.2024.Q1").is_dir()
    with pytest.raises(FolderExists):
        store.create_folder(BOB, "projects/2024/Q1".replace("p", "P", 1))
    store.subscribe(BOB, "Projects/2024")
    store.append(BOB, "Projects/2024/Q1", b"x\r\n")
    store.rename_folder(BOB, "Projects", "Archive")
    names = [f.name for f in store.list_folders(BOB)]
    assert "Archive/2024/Q1" in names and not any(n.startswith("Projects") for n in names)
    assert store.uids(BOB, "Archive/2024/Q1") == [1]
    assert "Archive/2024" in store.subscriptions(BOB)
    with pytest.raises(StoreError, match="children"):
        store.delete_folder(BOB, "Archive")
    store.delete_folder(BOB, "Archive/2024/Q1")
    with pytest.raises(StoreError):
        store.delete_folder(BOB, "INBOX")
    with pytest.raises(StoreError):
        store.unsubscribe(BOB, "Nope")


def test_rename_inbox_moves_its_messages(store):
    store.append(BOB, "INBOX", b"a\r\n")
    store.append(BOB, "INBOX", b"b\r\n")
    store.rename_folder(BOB, "INBOX", "Old")
    assert store.uids(BOB, "INBOX") == [] and store.uids(BOB, "Old") == [1, 2]


def test_unicode_names_use_modified_utf7_on_disk(store):
    store.create_folder(BOB, "Entwürfe/v1.2")
    assert (store.maildir_path(BOB) / ".Entw&APw-rfe.v1&AC4-2").is_dir()
    assert "Entwürfe/v1.2" in [f.name for f in store.list_folders(BOB)]
    assert encode_mutf7("Ärger & 日本") == "&AMQ-rger &- &ZeVnLA-"
    assert decode_mutf7("&AMQ-rger &- &ZeVnLA-") == "Ärger & 日本"
    for bad in ("&AMQ", "&!!!-", "é"):
        with pytest.raises(ValueError):
            decode_mutf7(bad)


@pytest.mark.parametrize("name", ["../bob", "..", ".", "a/../../etc", ".hidden", "a/.b", "%", "*", "a*", "a%b",
                                  "a\x00b", "a\nb", "a\x7fb", "/abs", "a//b", "", "a\\b", "x" * 600])
def test_bad_folder_names_are_refused_and_nothing_changes(store, name):
    store.maildir_path(BOB)
    before = tree(store.root)
    for op in (lambda: store.create_folder(BOB, name), lambda: store.append(BOB, name, b"x"),
               lambda: store.rename_folder(BOB, "Sent", name), lambda: store.subscribe(BOB, name),
               lambda: store.uids(BOB, name)):
        with pytest.raises(StoreError):
            op()
    assert tree(store.root) == before


@pytest.mark.parametrize("address", ["../x@beta.test", "bob@../../etc", "bob", "@beta.test", "a/b@beta.test",
                                     "bob@beta.test/../alpha.test", ".bob@beta.test", "bob@beta..test"])
def test_bad_addresses_cannot_reach_outside(store, address):
    with pytest.raises(StoreError):
        store.maildir_path(address)
    assert list(store.root.iterdir()) == []


def test_users_are_separate(store):
    store.append("alice@alpha.test", "INBOX", b"for alice\r\n")
    assert store.inbox_snapshot(BOB) == []
    assert len(store.inbox_snapshot("alice@alpha.test")) == 1


def test_mime_tree_offsets():
    data = (b"Content-Type: multipart/alternative; boundary=\"q\"\r\n\r\npreamble\r\n--q\r\n"
            b"Content-Type: text/plain\r\n\r\none\r\ntwo\r\n--q \r\n\r\nbare\r\n--q--\r\nepilogue\r\n")
    root = parse_mime(data)
    assert root.maintype == "multipart" and root.subtype == "alternative" and len(root.parts) == 2
    first, second = root.parts
    assert data[first.body_start:first.end] == b"one\r\ntwo" and first.lines == 2
    assert data[second.body_start:second.end] == b"bare" and second.headers == {}
    nested = parse_mime(b"Content-Type: multipart/mixed; boundary=a\r\n\r\n" * 1 + b"--a\r\n" * 3)
    assert nested.parts  # tolerant of junk
    deep = b"".join(b"Content-Type: message/rfc822\r\n\r\n" for _ in range(200)) + b"x"
    parse_mime(deep)  # depth is bounded, no RecursionError


def test_scanning_does_not_reread_known_files(store, monkeypatch):
    for i in range(20):
        drop(store, f"m{i:02}", b"Subject: %d\n\nx\n" % i, T0 + i)
    store.inbox_snapshot(BOB)
    reads = []
    original = uids.file_crlf_size
    monkeypatch.setattr(uids, "file_crlf_size", lambda p: reads.append(p) or original(p))
    store.inbox_snapshot(BOB)
    store.set_flags(BOB, "INBOX", [1, 2, 3], ["\\Seen"], "+")
    store.inbox_snapshot(BOB)
    assert reads == []
    drop(store, "new-one", b"x\n", T0 + 100)
    store.inbox_snapshot(BOB)
    assert [p.name for p in reads] == ["new-one"]
    first = store.parsed(BOB, "INBOX", 1)
    assert store.parsed(BOB, "INBOX", 1) is first  # cached by (name, size, mtime)


def test_ten_thousand_messages_are_read_once(tmp_path, clock, monkeypatch):
    """The first scan reads each file once; rescans and a restart read none (timings: bench/IMAP.md)."""
    store = MailStore(tmp_path / "mail", clock=clock)
    new = store.maildir_path(BOB) / "new"
    body = b"From: a@alpha.test\nTo: bob@beta.test\nSubject: message\n\n" + b"line\n" * 20
    for i in range(10_000):
        (new / f"{1700000000 + i}.M{i}P1Q1.test").write_bytes(body)
    reads = []
    original = uids.file_crlf_size
    monkeypatch.setattr(uids, "file_crlf_size", lambda p: reads.append(p) or original(p))
    assert len(store.inbox_snapshot(BOB)) == 10_000
    assert len(reads) == 10_000
    for _ in range(3):
        store.inbox_snapshot(BOB)
    restart = MailStore(tmp_path / "mail", clock=clock)
    assert restart.uids(BOB, "INBOX")[-1] == 10_000
    assert len(reads) == 10_000


# --------------------------------------------------------------------------- the one Maildir writer


@pytest.fixture
def synced(monkeypatch) -> list[Path]:
    """Every directory fsync, in order (the writer's and the store's batch syncs)."""
    calls: list[Path] = []
    original = fsutil.fsync_dir
    def record(path: Path) -> None:
        calls.append(Path(path))
        original(path)
    monkeypatch.setattr(fsutil, "fsync_dir", record)
    monkeypatch.setattr(maildir, "fsync_dir", record)
    return calls


def test_append_and_mda_write_alike(store, synced, tmp_path):
    """tmp/ -> fsync -> linked into new/ or cur/ -> directory fsync; private; nothing left in tmp/."""
    root = store.maildir_path(BOB)
    store.append(BOB, "INBOX", b"Subject: a\r\n\r\nb\r\n")
    store.append(BOB, "INBOX", b"Subject: c\r\n\r\nd\r\n", ["\\Seen"])
    delivered = mda.deliver(root, b"Subject: e\r\n\r\nf\r\n")
    assert synced == [root / "new", root / "cur", root / "new"]
    files = [store.message_info(BOB, "INBOX", uid).path for uid in (1, 2)] + [delivered]
    assert [p.parent.name for p in files] == ["new", "cur", "new"]
    assert all(stat.S_IMODE(p.stat().st_mode) & 0o077 == 0 for p in files)
    assert os.listdir(root / "tmp") == []
    base = files[0].name
    assert base.split(".")[1].startswith("M") and ".mailflow" not in base  # one naming scheme


def test_copy_syncs_the_directory_once_per_batch(store, synced):
    for i in range(5):
        store.append(BOB, "INBOX", b"m%d\r\n" % i)
    synced.clear()
    assert [new for _, new in store.copy_messages(BOB, "INBOX", [1, 2, 3, 4, 5], "Trash")] == [1, 2, 3, 4, 5]
    trash = store.folder_path(BOB, "Trash")
    assert synced == [trash / "new", trash / "cur"]


def test_writer_never_replaces_a_file(tmp_path, monkeypatch):
    box = tmp_path / "box"
    maildir.make_maildir(box)
    (box / "new" / "taken-on-disk").write_bytes(b"old")
    names = iter(["taken-in-state", "taken-on-disk", "free"])
    monkeypatch.setattr(maildir, "unique_base", lambda now: next(names))
    sub, name, _ = maildir.write_message(box, b"new", now=T0, taken={"taken-in-state"})
    assert (sub, name) == ("new", "free,S=3,W=3")             # Dovecot's size fields after the base
    assert (box / "new" / "taken-on-disk").read_bytes() == b"old"
    assert sorted(os.listdir(box / "new")) == ["free,S=3,W=3", "taken-on-disk"] and os.listdir(box / "tmp") == []


def test_create_new_without_hard_links(tmp_path, monkeypatch):
    """A file system that refuses link() (FAT, some mounts): rename stands in, still never replacing."""
    def no_links(src, dst):
        raise PermissionError(errno.EPERM, "Operation not permitted")
    monkeypatch.setattr(os, "link", no_links)
    fsutil.create_new(tmp_path / "t1", tmp_path / "final", b"one")
    assert (tmp_path / "final").read_bytes() == b"one" and not (tmp_path / "t1").exists()
    with pytest.raises(FileExistsError):
        fsutil.create_new(tmp_path / "t2", tmp_path / "final", b"two")
    assert (tmp_path / "final").read_bytes() == b"one" and not (tmp_path / "t2").exists()


def test_move_does_not_overwrite_an_unscanned_file(store):
    store.append(BOB, "INBOX", b"moving\r\n", ["\\Seen"])
    info = store.message_info(BOB, "INBOX", 1)
    base = info.path.name.split(":")[0]
    junk = store.folder_path(BOB, "Junk")
    store.uids(BOB, "Junk")                                 # Junk's state is loaded, then a file
    (junk / "cur" / f"{base}:2,S").write_bytes(b"already here\r\n")   # arrives behind its back
    assert store.move_messages(BOB, "INBOX", [1], "Junk") == [(1, 1)]
    assert (junk / "cur" / f"{base}:2,S").read_bytes() == b"already here\r\n"
    assert store.read_message(BOB, "Junk", 1) == b"moving\r\n"
    assert sorted(store.uids(BOB, "Junk")) == [1] and store.rescan(BOB, "Junk")
    assert len(store.uids(BOB, "Junk")) == 2
