"""``MemoryMailbox``: one user's folders kept in memory, the same ``Mailbox`` as the Maildir one.

For the core's tests (no disk, no clock but the one given) and for anyone who wants to drive an
``ImapSession`` without a store.  It follows the Maildir store's rules where the session can see
them: UIDs ascend and are never reused (RFC 3501 §2.3.1.1), a message is ``\\Recent`` until one
read-write session claims it (§2.3.2), a change by anyone is told to every listener, INBOX cannot
be deleted, a folder with children neither, names are checked by ``normalize_folder``, every
change takes the next mod-sequence and expunged UIDs are remembered with theirs (RFC 7162).
Two sessions that share one ``MemoryMailbox`` see each other's changes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from simulator.store import (DEFAULT_FOLDERS, DELIMITER, INBOX, SPECIAL_USE, FolderEvent, FolderExists,
                             FolderInfo, FolderStatus, NoSuchFolder, NoSuchMessage, ParsedMessage, StoreError,
                             canonical_flag, normalize_folder, parse_mime, to_crlf, valid_flag)


@dataclass(frozen=True, slots=True)
class MemoryInfo:
    uid: int
    size: int
    flags: frozenset[str]
    internaldate: float
    modseq: int = 1


@dataclass(slots=True)
class _Message:
    data: bytes                     # the CRLF form, as served
    flags: frozenset[str]
    internaldate: float
    recent: bool = True
    parsed: ParsedMessage | None = None
    modseq: int = 1


@dataclass(slots=True)
class _Folder:
    uidvalidity: int
    uidnext: int = 1
    version: int = 0
    messages: dict[int, _Message] = field(default_factory=dict)   # in UID order
    highestmodseq: int = 1
    expunged: list[tuple[int, frozenset[int]]] = field(default_factory=list)   # (modseq, UIDs)

    def bump(self) -> int:
        self.highestmodseq += 1
        return self.highestmodseq


class _Listening:
    def __init__(self, listeners: list, callback: Callable[[FolderEvent], None]) -> None:
        self._listeners, self._callback = listeners, callback
        listeners.append(callback)

    def close(self) -> None:
        if self._callback in self._listeners:
            self._listeners.remove(self._callback)


class MemoryMailbox:
    """A ``Mailbox`` (see :mod:`.mailbox`) in memory, with the default folders, all subscribed."""

    def __init__(self, address: str, *, clock: Callable[[], float] = time.time) -> None:
        self.address = address
        self._clock = clock
        self._validity = int(clock())
        self._folders: dict[str, _Folder] = {}
        self._subscribed: set[str] = set(DEFAULT_FOLDERS)
        self._listeners: list[Callable[[FolderEvent], None]] = []
        for name in DEFAULT_FOLDERS:
            self._make(name)

    # ----------------------------------------------------------------- watching

    def listen(self, callback: Callable[[FolderEvent], None]) -> _Listening:
        return _Listening(self._listeners, callback)

    def _changed(self, name: str, kind: str = "changed", new_name: str | None = None) -> None:
        if kind == "changed":
            self._folders[name].version += 1
        for callback in list(self._listeners):
            callback(FolderEvent(self.address, name, kind, new_name))

    def rescan(self, folder: str) -> bool:
        self._get(folder)
        return False

    # ----------------------------------------------------------------- one folder

    def _make(self, name: str) -> _Folder:
        self._folders[name] = _Folder(self._validity)
        self._validity += 1
        return self._folders[name]

    def _get(self, folder: str) -> _Folder:
        box = self._folders.get(folder)
        if box is None:
            raise NoSuchFolder(f"no such mailbox: {folder}")
        return box

    def uids(self, folder: str) -> list[int]:
        return list(self._get(folder).messages)

    def flags(self, folder: str) -> dict[int, frozenset[str]]:
        return {uid: m.flags for uid, m in self._get(folder).messages.items()}

    def version(self, folder: str) -> int:
        return self._get(folder).version

    def uidvalidity(self, folder: str) -> int:
        return self._get(folder).uidvalidity

    def uidnext(self, folder: str) -> int:
        return self._get(folder).uidnext

    def claim_recent(self, folder: str) -> frozenset[int]:
        claimed = [uid for uid, m in self._get(folder).messages.items() if m.recent]
        for uid in claimed:
            self._folders[folder].messages[uid].recent = False
        return frozenset(claimed)

    def highestmodseq(self, folder: str) -> int:
        return self._get(folder).highestmodseq

    def vanished(self, folder: str, since: int) -> list[int]:
        return sorted({u for modseq, uids in self._get(folder).expunged if modseq > since for u in uids})

    def recent(self, folder: str) -> frozenset[int]:
        return frozenset(uid for uid, m in self._get(folder).messages.items() if m.recent)

    def status(self, folder: str) -> FolderStatus:
        box = self._get(folder)
        messages = box.messages.values()
        return FolderStatus(len(box.messages), sum(m.recent for m in messages),
                            sum("\\Seen" not in m.flags for m in messages), box.uidnext, box.uidvalidity,
                            box.highestmodseq)

    # ----------------------------------------------------------------- messages

    def _message(self, folder: str, uid: int) -> _Message:
        message = self._get(folder).messages.get(uid)
        if message is None:
            raise NoSuchMessage(f"no message with UID {uid}")
        return message

    def message_info(self, folder: str, uid: int) -> MemoryInfo:
        m = self._message(folder, uid)
        return MemoryInfo(uid, len(m.data), m.flags, m.internaldate, m.modseq)

    def read_message(self, folder: str, uid: int) -> bytes:
        return self._message(folder, uid).data

    def parsed(self, folder: str, uid: int) -> ParsedMessage:
        m = self._message(folder, uid)
        if m.parsed is None:
            m.parsed = ParsedMessage(len(m.data), parse_mime(m.data))
        return m.parsed

    def set_flags(self, folder: str, uids: Iterable[int], flags: Iterable[str],
                  mode: str = "=") -> dict[int, frozenset[str]]:
        """STORE's effect: mode "+" adds, "-" removes, "=" replaces; returns the new flags."""
        box = self._get(folder)
        wanted = _clean_flags(flags)
        result, changed = {}, False
        modseq = box.highestmodseq + 1
        for uid in uids:
            m = box.messages.get(uid)
            if m is None:
                continue
            new = m.flags | wanted if mode == "+" else m.flags - wanted if mode == "-" else wanted
            if new != m.flags:
                changed, m.modseq = True, modseq
            m.flags = result[uid] = frozenset(new)
        if changed:
            box.highestmodseq = modseq
            self._changed(folder)
        return result

    def _add(self, folder: str, data: bytes, flags: frozenset[str], date: float | None) -> int:
        box = self._get(folder)
        uid = box.uidnext
        box.uidnext += 1
        box.messages[uid] = _Message(data, flags, self._clock() if date is None else date, modseq=box.bump())
        return uid

    def append(self, folder: str, data: bytes, flags: Iterable[str] = (),
               date: float | None = None) -> tuple[int, int]:
        uid = self._add(folder, to_crlf(data), _clean_flags(flags), date)
        self._changed(folder)
        return self._folders[folder].uidvalidity, uid

    def copy_messages(self, src: str, uids: Iterable[int], dst: str) -> list[tuple[int, int]]:
        source = self._get(src)
        self._get(dst)
        pairs = [(uid, self._add(dst, source.messages[uid].data, source.messages[uid].flags,
                                 source.messages[uid].internaldate))
                 for uid in sorted(set(uids)) if uid in source.messages]
        if pairs:
            self._changed(dst)
        return pairs

    def move_messages(self, src: str, uids: Iterable[int], dst: str) -> list[tuple[int, int]]:
        pairs = self.copy_messages(src, uids, dst)
        if pairs:
            self._remove(src, {old for old, _ in pairs})
        return pairs

    def _remove(self, folder: str, uids: set[int]) -> list[int]:
        box = self._get(folder)
        gone = [uid for uid in box.messages if uid in uids]
        for uid in gone:
            del box.messages[uid]
        if gone:
            box.expunged.append((box.bump(), frozenset(gone)))
            self._changed(folder)
        return gone

    def expunge(self, folder: str, uids: Iterable[int] | None = None) -> list[int]:
        allowed = None if uids is None else set(uids)
        doomed = {uid for uid, m in self._get(folder).messages.items()
                  if "\\Deleted" in m.flags and (allowed is None or uid in allowed)}
        return self._remove(folder, doomed)

    # ----------------------------------------------------------------- the folder tree

    def folder_exists(self, folder: str) -> bool:
        return folder in self._folders

    def list_folders(self) -> list[FolderInfo]:
        every = set(self._folders)
        for name in self._folders:
            parts = name.split(DELIMITER)
            every.update(DELIMITER.join(parts[:i]) for i in range(1, len(parts)))
        return [FolderInfo(name, SPECIAL_USE.get(name), any(o.startswith(name + DELIMITER) for o in every),
                           name in self._folders)
                for name in sorted(every, key=lambda n: (n != INBOX, n))]

    def create_folder(self, folder: str) -> str:
        folder = normalize_folder(folder.rstrip(DELIMITER) if folder != DELIMITER else folder)
        if folder in self._folders:
            raise FolderExists(f"mailbox already exists: {folder}")
        parts = folder.split(DELIMITER)
        for i in range(1, len(parts) + 1):
            if DELIMITER.join(parts[:i]) not in self._folders:
                self._make(DELIMITER.join(parts[:i]))
        return folder

    def delete_folder(self, folder: str) -> None:
        folder = normalize_folder(folder)
        if folder == INBOX:
            raise StoreError("INBOX cannot be deleted")
        self._get(folder)
        if any(name.startswith(folder + DELIMITER) for name in self._folders):
            raise StoreError("mailbox has children; delete them first")
        del self._folders[folder]
        self._subscribed.discard(folder)
        self._changed(folder, "deleted")

    def rename_folder(self, old: str, new: str) -> None:
        old, new = normalize_folder(old), normalize_folder(new)
        self._get(old)
        if new in self._folders or old == new:
            raise FolderExists(f"mailbox already exists: {new}")
        if new.startswith(old + DELIMITER):
            raise StoreError("cannot rename a mailbox into itself")
        if old == INBOX:       # RFC 3501 §6.3.5: the messages move, INBOX stays (and empties)
            self.create_folder(new)
            self.move_messages(INBOX, self.uids(INBOX), new)
            return
        for name in sorted((n for n in self._folders if n == old or n.startswith(old + DELIMITER)), key=len):
            target = new + name[len(old):]
            self._folders[target] = self._folders.pop(name)
            if name in self._subscribed:
                self._subscribed.discard(name)
                self._subscribed.add(target)
            self._changed(name, "renamed", target)
        parts = new.split(DELIMITER)
        for i in range(1, len(parts)):  # superior levels of the new name become real folders
            if DELIMITER.join(parts[:i]) not in self._folders:
                self._make(DELIMITER.join(parts[:i]))

    def snapshot(self) -> tuple:
        """Everything this mailbox holds, as plain values (tests compare two to prove nothing changed)."""
        folders = tuple(sorted((name, box.uidnext, tuple((uid, m.data, tuple(sorted(m.flags)))
                                                         for uid, m in box.messages.items()))
                               for name, box in self._folders.items()))
        return folders, tuple(self.subscriptions())

    def subscriptions(self) -> list[str]:
        return sorted(self._subscribed, key=lambda n: (n != INBOX, n))

    def subscribe(self, folder: str) -> None:
        self._subscribed.add(normalize_folder(folder))

    def unsubscribe(self, folder: str) -> None:
        folder = normalize_folder(folder)
        if folder not in self._subscribed:
            raise StoreError(f"not subscribed: {folder}")
        self._subscribed.discard(folder)


def _clean_flags(flags: Iterable[str]) -> frozenset[str]:
    clean = frozenset(canonical_flag(f) for f in flags) - {"\\Recent"}
    for flag in clean:
        if not valid_flag(flag):
            raise StoreError(f"invalid flag {flag}")
    return clean
