"""The store's hardening (issue 12 review of C's work): mod-sequences that never go back, bounded
expunge history, bounded MIME, batched flag saves, BINARY input, long folder names, MULTIAPPEND."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.store import MailStore, uids

BOB = "bob@beta.test"


def msg(n: int) -> bytes:
    return f"From: a@x\r\nSubject: m{n}\r\n\r\nbody {n}\r\n".encode()


def changed_since(store: MailStore, since: int) -> list[int]:
    return [i.uid for i in store.messages(BOB, "INBOX") if i.modseq > since]


# ----------------------------------------------------------------- finding 1: mod-sequences never go back


def test_a_machine_crash_that_reverts_the_uid_list_never_hides_a_change(tmp_path: Path) -> None:
    """RFC 7162 §3.1.2.1: after a crash that brings back an older (unsynced) uid list, every later
    change has a mod-sequence above anything a client was told, and the lost expunge is VANISHED."""
    root = tmp_path / "mail"
    s = MailStore(root, boot="boot-1")
    for n in range(4):
        s.append(BOB, "INBOX", msg(n))
    listfile = s.maildir_path(BOB) / uids.UIDLIST_NAME
    synced = listfile.read_text()              # what the fsynced list says
    s.set_flags(BOB, "INBOX", [1], ["\\Seen"], "+")            # unsynced saves
    s.set_flags(BOB, "INBOX", [3], ["\\Deleted"], "+")
    s.expunge(BOB, "INBOX")
    client_h = s.highestmodseq(BOB, "INBOX")
    listfile.write_text(synced)                 # the machine crashed: the unsynced list is lost
    t = MailStore(root, boot="boot-2")          # ... and came back under a new boot id
    assert t.highestmodseq(BOB, "INBOX") > client_h
    assert changed_since(t, client_h) == [1, 2, 4]           # every message: flags refetched once
    assert 3 in t.vanished(BOB, "INBOX", client_h)
    assert "\\Seen" in t.message_info(BOB, "INBOX", 1).flags
    t.set_flags(BOB, "INBOX", [2], ["\\Flagged"], "+")
    assert t.message_info(BOB, "INBOX", 2).modseq > client_h


def test_a_restart_under_the_same_boot_keeps_the_mod_sequences(tmp_path: Path) -> None:
    root = tmp_path / "mail"
    s = MailStore(root, boot="boot-1")
    for n in range(3):
        s.append(BOB, "INBOX", msg(n))
    s.set_flags(BOB, "INBOX", [2], ["\\Seen"], "+")
    h = s.highestmodseq(BOB, "INBOX")
    t = MailStore(root, boot="boot-1")          # a killed process: the page cache kept the list
    assert t.highestmodseq(BOB, "INBOX") == h
    assert changed_since(t, h) == []


def test_mod_sequences_are_reserved_durably_once_per_ten_thousand(tmp_path: Path) -> None:
    s = MailStore(tmp_path / "mail", boot="boot-1")
    s.append(BOB, "INBOX", msg(0))
    path = s.maildir_path(BOB)
    reserved, boot = uids.load_reservation(path)
    assert boot == "boot-1" and reserved >= s.highestmodseq(BOB, "INBOX") + uids.MODSEQ_RESERVE - 1
    for _ in range(3):
        s.set_flags(BOB, "INBOX", [1], ["\\Seen"], "+")
        s.set_flags(BOB, "INBOX", [1], ["\\Seen"], "-")
    assert uids.load_reservation(path)[0] == reserved      # no new fsync for a few changes


def test_a_message_removed_while_the_server_was_down_is_vanished(tmp_path: Path) -> None:
    root = tmp_path / "mail"
    s = MailStore(root, boot="boot-1")
    for n in range(3):
        s.append(BOB, "INBOX", msg(n))
    h = s.highestmodseq(BOB, "INBOX")
    s.message_info(BOB, "INBOX", 2).path.unlink()
    t = MailStore(root, boot="boot-1")
    assert t.highestmodseq(BOB, "INBOX") > h
    assert t.vanished(BOB, "INBOX", h) == [2]
    assert t.vanished_ranges(BOB, "INBOX", h) == [(2, 2)]


def test_flags_changed_while_the_server_was_down_get_a_new_mod_sequence(tmp_path: Path) -> None:
    root = tmp_path / "mail"
    s = MailStore(root, boot="boot-1")
    s.append(BOB, "INBOX", msg(0))
    s.append(BOB, "INBOX", msg(1))
    s.claim_recent(BOB, "INBOX")
    s.set_flags(BOB, "INBOX", [2], ["\\Flagged"], "+")
    h = s.highestmodseq(BOB, "INBOX")
    p = s.message_info(BOB, "INBOX", 1).path
    p.rename(p.with_name(p.name.split(":")[0] + ":2,S"))       # another program, server down
    t = MailStore(root, boot="boot-1")
    assert changed_since(t, h) == [1]
    assert t.message_info(BOB, "INBOX", 1).flags == frozenset({"\\Seen"})


# ----------------------------------------------------------------- finding 8: expunge history


def test_expunge_history_merges_ranges_without_expanding_and_keeps_a_floor(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(uids, "MAX_EXPUNGED_RANGES", 50)
    state = uids.FolderState(BOB, "INBOX", tmp_path, 1, 1, [], {}, {})
    state.forget(list(range(1, 1_000_001)), 2)            # a million UIDs: one run, nothing expanded
    assert state.expunged == [(2, [(1, 1_000_000)])]
    for i in range(uids.MAX_EXPUNGED + 5):                 # scattered: records merge as ranges
        state.forget([2_000_000 + 2 * i], 3 + i)
    assert len(state.expunged) <= uids.MAX_EXPUNGED
    assert sum(len(r) for _, r in state.expunged) <= 50
    assert state.floor > 2
    assert state.vanished_ranges(1) is None                 # below the floor: history incomplete
    newest = 3 + uids.MAX_EXPUNGED + 4
    assert state.vanished_ranges(newest - 1) == [(2_000_000 + 2 * (uids.MAX_EXPUNGED + 4),) * 2]
    assert uids.merge_ranges([(5, 9), (1, 3), (4, 4), (20, 20), (8, 12)]) == [(1, 12), (20, 20)]


def test_the_floor_survives_a_restart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(uids, "MAX_EXPUNGED_RANGES", 3)
    root = tmp_path / "mail"
    s = MailStore(root, boot="boot-1")
    for n in range(10):
        s.append(BOB, "INBOX", msg(n))
    for uid in (1, 3, 5, 7, 9):
        s.delete_messages(BOB, "INBOX", [uid])
    t = MailStore(root, boot="boot-1")
    assert t.vanished_ranges(BOB, "INBOX", 1) is None
    h = t.highestmodseq(BOB, "INBOX")
    assert t.vanished_ranges(BOB, "INBOX", h - 1) == [(9, 9)]


# ----------------------------------------------------------------- finding 5: wide MIME


def wide_message(parts: int) -> bytes:
    body = b"".join(b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n" for _ in range(parts))
    return (b"From: a@x\r\nSubject: wide\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
            + body + b"--b--\r\n")


def test_a_message_has_at_most_ten_thousand_parts_the_rest_opaque() -> None:
    from simulator.store import mime
    data = wide_message(30_000)
    root = mime.parse_mime(data)
    assert mime.count_parts(root) <= mime.MAX_MIME_PARTS + 1
    last = root.parts[-1]
    assert (last.maintype, last.subtype) == ("application", "octet-stream")
    assert last.end >= len(data) - len(b"\r\n--b--\r\n")       # the uncounted rest, as octets
    small = mime.parse_mime(wide_message(3))
    assert [p.maintype for p in small.parts] == ["text"] * 3
    # Python's email sees the same bound (webmail): the message is cut where the rest begins.
    import email
    import email.policy
    bounded = mime.bounded_mime(data)
    msg = email.message_from_bytes(bounded, policy=email.policy.compat32)
    assert len(msg.get_payload()) <= mime.MAX_MIME_PARTS + 1


def test_nested_parts_count_against_the_total_too() -> None:
    from simulator.store import mime
    inner = wide_message(100).split(b"\r\n\r\n", 1)[1]
    outer = b"".join(b"--o\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" + inner for _ in range(300))
    data = b"Content-Type: multipart/mixed; boundary=o\r\n\r\n" + outer + b"--o--\r\n"
    assert mime.count_parts(mime.parse_mime(data)) <= mime.MAX_MIME_PARTS + 2


def test_the_parse_cache_is_weighed_in_bytes_not_entries() -> None:
    from simulator.store import mime
    cache = mime.ParseCache(size=1000, max_bytes=mime.ParseCache.PART_WEIGHT * 25_000)
    wide = mime.parse_mime(wide_message(9_000))
    for n in range(5):
        cache.put(n, mime.ParsedMessage(1, wide))
    assert len(cache) == 2 and cache.weight <= 25_000 * mime.ParseCache.PART_WEIGHT
    assert cache.get(4) is not None and cache.get(0) is None


# ----------------------------------------------------------------- finding 6: MULTIAPPEND, all or nothing


def test_append_many_stores_all_with_one_list_save(tmp_path: Path) -> None:
    s = MailStore(tmp_path / "mail", boot="boot-1")
    s.append(BOB, "INBOX", msg(0))
    h = s.highestmodseq(BOB, "INBOX")
    validity, new = s.append_many(BOB, "INBOX", [(msg(1), (), None), (msg(2).replace(b"\r\n", b"\n"), ["\\Seen"], 1e9),
                                                 (msg(3), ["$Label"], None)])
    assert validity == s.uidvalidity(BOB, "INBOX") and new == [2, 3, 4]
    assert s.read_message(BOB, "INBOX", 3) == msg(2)
    assert s.message_info(BOB, "INBOX", 3).internaldate == 1e9
    assert s.message_info(BOB, "INBOX", 4).flags == frozenset({"$Label"})
    assert {s.message_info(BOB, "INBOX", u).modseq for u in new} == {h + 1}
    assert MailStore(tmp_path / "mail", boot="boot-1").uids(BOB, "INBOX") == [1, 2, 3, 4]


def test_append_many_fails_whole_on_a_disk_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    from simulator.store import StoreError, mailstore
    s = MailStore(tmp_path / "mail", boot="boot-1")
    s.append(BOB, "INBOX", msg(0))
    real, calls = mailstore.link_new, []

    def full_disk(src: Path, dst: Path) -> None:          # the disk fills on the third message
        calls.append(dst)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(src, dst)

    monkeypatch.setattr(mailstore, "link_new", full_disk)
    with pytest.raises(StoreError):
        s.append_many(BOB, "INBOX", [(msg(n), (), None) for n in range(1, 5)])
    assert s.uids(BOB, "INBOX") == [1] and s.uidnext(BOB, "INBOX") == 2
    box = s.maildir_path(BOB)
    assert [p for sub in ("new", "cur", "tmp") for p in (box / sub).iterdir()] == [s.message_info(BOB, "INBOX", 1).path]
    with pytest.raises(StoreError):                        # a bad flag or a NUL: nothing written at all
        s.append_many(BOB, "INBOX", [(msg(1), (), None), (b"Subject: a\0b\r\n\r\nx\r\n", (), None)])
    assert MailStore(tmp_path / "mail", boot="boot-1").uids(BOB, "INBOX") == [1]


# ----------------------------------------------------------------- finding 7: BINARY input


def test_an_lf_only_literal8_is_read_in_crlf_form_and_a_nul_in_a_header_is_refused(tmp_path: Path) -> None:
    from simulator.store import StoreError, mime, transfer
    raw = (b"From: a@x\nSubject: bin\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n"
           b"--b\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: binary\n\n"
           b"\x00\x01\x02bin\n--b--\n")
    stored = transfer.encode_binary_parts(raw)
    assert b"\0" not in stored
    root = mime.parse_mime(mime.to_crlf(stored))
    leaf = root.parts[0]
    body = mime.to_crlf(stored)[leaf.body_start:leaf.end]
    assert transfer.decode(body, transfer.transfer_encoding(leaf)) == b"\x00\x01\x02bin"
    s = MailStore(tmp_path / "mail", boot="boot-1")
    s.append(BOB, "INBOX", stored)
    with pytest.raises(StoreError):
        s.append(BOB, "INBOX", transfer.encode_binary_parts(b"Subject: a\x00b\r\n\r\nbody\r\n"))
    assert s.uids(BOB, "INBOX") == [1]


# ----------------------------------------------------------------- finding 9: long folder names


def test_a_folder_name_too_long_for_the_file_system_is_a_folder_name_error(tmp_path: Path) -> None:
    from simulator.store import FolderNameError
    s = MailStore(tmp_path / "mail", boot="boot-1")
    with pytest.raises(FolderNameError):
        s.create_folder(BOB, "x" * 300)
    with pytest.raises(FolderNameError):
        s.create_folder(BOB, "a/" + "é" * 130)          # 260 octets in UTF-7 on disk: too long too
    assert not s.folder_exists(BOB, "x" * 300)
    assert s.create_folder(BOB, "y" * 200) == "y" * 200


# ----------------------------------------------------------------- finding 2: flag saves batched and deferred


def test_flag_saves_on_the_mail_loop_are_deferred_and_a_kill_before_the_save_is_safe(tmp_path: Path) -> None:
    import asyncio
    import time

    from simulator.store import mailstore
    root = tmp_path / "mail"
    s = MailStore(root, boot="boot-1")
    for n in range(5):
        s.append(BOB, "INBOX", msg(n))
    listfile = s.maildir_path(BOB) / uids.UIDLIST_NAME
    before = listfile.read_text()
    saves: list[int] = []
    real = mailstore.save_uidlist

    def counting(state: uids.FolderState, *, durable: bool = True) -> None:
        saves.append(durable)
        real(state, durable=durable)

    async def run() -> int:
        for uid in range(1, 6):                      # one STORE after another: no save yet
            s.set_flags(BOB, "INBOX", [uid], ["\\Seen"], "+")
        assert listfile.read_text() == before and saves == []
        h = s.highestmodseq(BOB, "INBOX")
        killed = MailStore(root, boot="boot-1")      # a process killed now, restarted on the same boot
        assert killed.highestmodseq(BOB, "INBOX") > h
        assert [i.uid for i in killed.messages(BOB, "INBOX") if i.modseq > h] == [1, 2, 3, 4, 5]
        s.set_flags(BOB, "INBOX", [1], ["\\Flagged"], "+")
        deadline = time.monotonic() + 5
        while saves == [] and time.monotonic() < deadline:   # the deferred save happens by itself
            await asyncio.sleep(0.01)
        return s.highestmodseq(BOB, "INBOX")

    mailstore.save_uidlist = counting
    mailstore.MailStore.SAVE_DELAY = 0.05
    try:
        h = asyncio.run(run())
    finally:
        mailstore.save_uidlist = real
        mailstore.MailStore.SAVE_DELAY = 1.0
    assert saves == [False]                            # six changes, one list save
    assert not (s.maildir_path(BOB) / uids.DIRTY_NAME).exists()
    again = MailStore(root, boot="boot-1")
    assert again.highestmodseq(BOB, "INBOX") == h
    assert again.message_info(BOB, "INBOX", 1).flags == frozenset({"\\Seen", "\\Flagged"})


def test_flush_saves_what_is_pending(tmp_path: Path) -> None:
    import asyncio
    root = tmp_path / "mail"
    s = MailStore(root, boot="boot-1")
    s.append(BOB, "INBOX", msg(0))

    async def run() -> None:
        s.set_flags(BOB, "INBOX", [1], ["$Kw"], "+")
        s.flush()

    asyncio.run(run())
    t = MailStore(root, boot="boot-1")
    assert t.message_info(BOB, "INBOX", 1).flags == frozenset({"$Kw"})
    assert t.highestmodseq(BOB, "INBOX") == s.highestmodseq(BOB, "INBOX")
