"""A scan skips listing new/ and cur/ when neither changed since a trusted listing (``uids`` docstring),
and still sees every change: files written by another program, our own flag changes and expunges."""

from __future__ import annotations

import asyncio
import imaplib
import os
import threading
import time
from pathlib import Path

import pytest

from simulator.protocols.imap.server import ImapServer
from simulator.store import MailStore
from simulator.store import uids
from simulator.world import Account

BOB = "bob@beta.test"


@pytest.fixture
def listings(monkeypatch) -> list[Path]:
    """Every directory the scan lists (``uids.list_names``, the only listing it makes)."""
    seen: list[Path] = []
    real = uids.list_names

    def counting(path: Path) -> list[str]:
        seen.append(Path(path))
        return real(path)

    monkeypatch.setattr(uids, "list_names", counting)
    return seen


def age(folder: Path, seconds: float = 60) -> int:
    """Set new/ and cur/'s mtimes ``seconds`` back (a Maildir nobody touched lately); that time in ns."""
    t = time.time_ns() - int(seconds * 1e9)
    for sub in ("new", "cur"):
        os.utime(folder / sub, ns=(t, t))
    return t


def aged(root: Path) -> tuple[Path, MailStore]:
    """A filled Maildir nobody touched lately, and a store opened on it afresh."""
    folder = filled(root)
    age(folder)
    return folder, MailStore(root, boot="b")


def drop(folder: Path, sub: str, name: str, subject: str) -> None:
    """A message written by another program (an MDA, another MUA): tmp/, then renamed in."""
    tmp = folder / "tmp" / name
    tmp.write_bytes(b"Subject: %s\n\nbody\n" % subject.encode())
    os.rename(tmp, folder / sub / name)


def filled(root: Path, n: int = 5) -> Path:
    store = MailStore(root, boot="b")
    for i in range(n):
        store.append(BOB, "INBOX", b"Subject: %d\r\n\r\nx\r\n" % i)
    folder = store.maildir_path(BOB)
    drop(folder, "new", "1700000000.M1P1.other", "in new")
    drop(folder, "cur", "1700000001.M2P1.other:2,S", "in cur")
    assert store.rescan(BOB, "INBOX") is True       # the list knows them too
    store.flush()
    return folder


def test_an_unchanged_maildir_is_not_listed_again(tmp_path, listings):
    folder = filled(tmp_path)
    age(folder)
    listings.clear()
    first = MailStore(tmp_path, boot="b")
    expected = first.uids(BOB, "INBOX")
    assert len(expected) == 7 and len(listings) == 2          # listed once: the record was not trusted yet
    listings.clear()
    assert first.rescan(BOB, "INBOX") is False                # same process: no listing
    assert listings == []
    assert " L" not in (folder / uids.UIDLIST_NAME).read_text().splitlines()[0]   # no write while running
    first.flush()                                             # a clean stop writes the record
    assert f" L{first._folder(BOB, 'INBOX').listed[0]}:" in (folder / uids.UIDLIST_NAME).read_text()
    restarted = MailStore(tmp_path, boot="b")                 # warm: from the uid list's names
    infos = restarted.messages(BOB, "INBOX")
    assert [i.uid for i in infos] == expected
    assert listings == []
    state = restarted._folder(BOB, "INBOX")
    by_name = {e.name: (e.sub, e.flags, e.recent) for e in state.entries}
    assert by_name["1700000000.M1P1.other"] == ("new", frozenset(), True)
    assert by_name["1700000001.M2P1.other:2,S"] == ("cur", frozenset({"\\Seen"}), False)
    assert restarted.read_message(BOB, "INBOX", expected[-1]) == b"Subject: in cur\r\n\r\nbody\r\n"


@pytest.mark.parametrize("sub", ["new", "cur"])
def test_a_file_written_after_the_record_is_seen(tmp_path, listings, sub):
    folder, store = aged(tmp_path)
    before = store.uids(BOB, "INBOX")
    assert store._folder(BOB, "INBOX").listed is not None
    listings.clear()
    drop(folder, sub, "1800000000.M9P9.late" + (":2,F" if sub == "cur" else ""), "late")
    assert store.rescan(BOB, "INBOX") is True                 # the directory's mtime moved: listed again
    assert len(listings) == 2
    assert store.uids(BOB, "INBOX") == before + [before[-1] + 1]
    restarted = MailStore(tmp_path, boot="b")                 # and after a restart with the older record
    assert restarted.uids(BOB, "INBOX") == before + [before[-1] + 1]


def test_a_recently_changed_directory_is_listed_every_time(tmp_path, listings):
    """A directory changed within the margin of the listing is not trusted: on a filesystem keeping whole
    seconds a file written in that same second leaves the mtime as recorded, and must still be seen."""
    folder = filled(tmp_path)
    second = time.time_ns() // 10**9 * 10**9               # this very second, as a 1 s filesystem shows it
    for sub in ("new", "cur"):
        os.utime(folder / sub, ns=(second, second))
    store = MailStore(tmp_path, boot="b")
    before = store.uids(BOB, "INBOX")
    state = store._folder(BOB, "INBOX")
    assert state.listed is None and " L" not in (folder / uids.UIDLIST_NAME).read_text().splitlines()[0]
    for n, sub in enumerate(["new", "cur"]):
        drop(folder, sub, f"1800000000.M{n}P9.same" + (":2," if sub == "cur" else ""), "same second")
        os.utime(folder / sub, ns=(second, second))         # the change left the mtime as it was
        listings.clear()
        assert store.rescan(BOB, "INBOX") is True
        assert len(listings) == 2
    assert store.uids(BOB, "INBOX") == before + [before[-1] + 1, before[-1] + 2]
    assert MailStore(tmp_path, boot="b").uids(BOB, "INBOX") == before + [before[-1] + 1, before[-1] + 2]


def test_a_rename_or_removal_by_another_program_is_seen(tmp_path, listings):
    folder, store = aged(tmp_path)
    uid_list = store.uids(BOB, "INBOX")
    state = store._folder(BOB, "INBOX")
    assert state.listed is not None
    e = state.by_uid[uid_list[0]]
    os.rename(folder / e.sub / e.name, folder / "cur" / (e.base + ":2,FS"))  # another MUA flags it
    gone = state.by_uid[uid_list[1]]
    os.unlink(folder / gone.sub / gone.name)                              # and deletes another
    assert store.rescan(BOB, "INBOX") is True
    assert store.flags(BOB, "INBOX")[uid_list[0]] == frozenset({"\\Flagged", "\\Seen"})
    assert uid_list[1] not in store.uids(BOB, "INBOX")


def test_an_old_uid_list_without_the_record_is_listed(tmp_path, listings):
    folder = filled(tmp_path)
    listfile = folder / uids.UIDLIST_NAME
    # the list as the previous version wrote it: eight columns, no L on the first line
    lines = listfile.read_text().splitlines()
    head = " ".join(t for t in lines[0].split() if not t.startswith("L"))
    old = [head] + ["\t".join(line.split("\t")[:8]) if not line.startswith("X") else line for line in lines[1:]]
    listfile.write_text("".join(line + "\n" for line in old))
    age(folder)
    loaded = uids.load_uidlist(folder)
    assert loaded is not None and loaded.listed is None
    assert all(prior[7] is None for prior in loaded.known.values())
    listings.clear()
    store = MailStore(tmp_path, boot="b")
    assert len(store.uids(BOB, "INBOX")) == 7 and len(listings) == 2
    store.flush()
    assert " L" in listfile.read_text().splitlines()[0]      # the record is written at the stop
    listings.clear()
    assert MailStore(tmp_path, boot="b").uids(BOB, "INBOX") == store.uids(BOB, "INBOX")
    assert listings == []


# --------------------------------------------------------------------------- through IMAP


def _authenticate(login: str, password: str) -> Account | None:
    return Account("bob", "beta.test") if (login, password) == (BOB, "secret") else None


class _Imap:
    """An ImapServer on a loopback port over a fresh MailStore, on its own loop thread."""

    def __init__(self, root: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.store = self.call(lambda: MailStore(root, boot="b"))
        self.server = ImapServer(self.store, _authenticate, host="127.0.0.1", port=0, publish=lambda fact: None,
                                 node="imap:beta.test")
        self.run(self.server.start())

    def run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def call(self, fn, *args):
        async def wrapper():
            return fn(*args)
        return self.run(wrapper())

    def session(self) -> imaplib.IMAP4:
        m = imaplib.IMAP4("127.0.0.1", self.server.port, timeout=10)
        m.login(BOB, "secret")
        return m

    def stop(self) -> None:
        self.run(self.server.stop())
        self.call(self.store.flush)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


def _flags(m: imaplib.IMAP4) -> dict[int, bytes]:
    _, data = m.uid("FETCH", "1:*", "(FLAGS)")
    out = {}
    for line in data:
        uid = int(line.split(b"UID ")[1].split()[0].rstrip(b")"))
        out[uid] = line.split(b"FLAGS (")[1].split(b")")[0]
    return out


def test_flag_changes_and_expunges_through_imap_are_seen_by_another_session(tmp_path, listings):
    folder = filled(tmp_path)
    MailStore(tmp_path, boot="b").claim_recent(BOB, "INBOX")   # a SELECT long ago moved new/ to cur/
    age(folder)
    server = _Imap(tmp_path)
    try:
        first, second = server.session(), server.session()
        first.select("INBOX")
        assert server.call(lambda: server.store._folder(BOB, "INBOX").listed) is not None
        listings.clear()
        second.select("INBOX")
        assert listings == []                                  # the second SELECT listed nothing
        first.uid("STORE", "1", "+FLAGS", "(\\Flagged)")
        first.uid("STORE", "2", "+FLAGS", "(\\Deleted)")
        first.expunge()
        second.noop()
        flags = _flags(second)
        assert 2 not in flags and b"\\Flagged" in flags[1]
        first.logout()
        second.logout()
    finally:
        server.stop()
    listings.clear()
    again = _Imap(tmp_path)                                   # after a restart, from the saved list
    try:
        third = again.session()
        third.select("INBOX")
        assert len(listings) == 2                              # cur/ changed since the record: listed
        flags = _flags(third)
        assert 2 not in flags and b"\\Flagged" in flags[1] and len(flags) == 6
        third.logout()
    finally:
        again.stop()


def test_a_damaged_record_only_means_listing_again(tmp_path, listings):
    folder, store = aged(tmp_path)
    expected = store.uids(BOB, "INBOX")
    validity = store.uidvalidity(BOB, "INBOX")
    store.flush()
    listfile = folder / uids.UIDLIST_NAME
    lines = listfile.read_text().splitlines()
    for bad in ("L12x:3", "L:", "L5", "L-1:2"):
        head = " ".join(t if not t.startswith("L") else bad for t in lines[0].split())
        listfile.write_text("".join(line + "\n" for line in [head, *lines[1:]]))
        listings.clear()
        again = MailStore(tmp_path, boot="b")
        assert again.uids(BOB, "INBOX") == expected and again.uidvalidity(BOB, "INBOX") == validity
        assert len(listings) == 2
