"""The mailbox an IMAP session works on: one user's folders, behind an interface.

The session (:mod:`.session`) reads no files: it calls a ``Mailbox``, bound to the user who logged
in.  ``MaildirMailbox`` is the server's, over :class:`simulator.store.MailStore` (Maildir++, the
uid lists, the parse cache); ``MemoryMailbox`` (:mod:`.memory`) keeps everything in memory, so the
core's tests run with no disk at all.

Errors are the store's: ``StoreError`` and its subclasses (``NoSuchFolder``, ``FolderExists``,
``FolderNameError``, ``NoSuchMessage``); the session turns them into ``NO`` replies.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from typing import Protocol

from simulator.store import FolderEvent, FolderInfo, FolderStatus, MailStore, ParsedMessage


class Handle(Protocol):
    def close(self) -> None: ...


class MessageData(Protocol):
    """What the session needs to know about one message besides its bytes."""
    size: int                  # octets of the CRLF form that FETCH serves (RFC822.SIZE)
    internaldate: float        # seconds since the epoch (INTERNALDATE, SEARCH BEFORE/ON/SINCE)
    flags: frozenset[str]
    modseq: int                # RFC 7162 §3.1.1: the mod-sequence of its last change


class Mailbox(Protocol):
    """One user's folders (RFC 3501 §5.1 names: Unicode, "/" as delimiter, "INBOX" canonical)."""

    address: str

    # -- watching: a change made by anyone (another session, the MDA) calls the listener
    def listen(self, callback: Callable[[FolderEvent], None]) -> Handle: ...
    def rescan(self, folder: str) -> bool: ...

    # -- one folder's state
    def uids(self, folder: str) -> list[int]: ...
    def flags(self, folder: str) -> dict[int, frozenset[str]]: ...
    def version(self, folder: str) -> int: ...
    def uidvalidity(self, folder: str) -> int: ...
    def uidnext(self, folder: str) -> int: ...
    def claim_recent(self, folder: str) -> frozenset[int]: ...
    def recent(self, folder: str) -> frozenset[int]: ...
    def highestmodseq(self, folder: str) -> int: ...
    def vanished(self, folder: str, since: int) -> list[int]: ...
    def status(self, folder: str) -> FolderStatus: ...

    # -- messages
    def message_info(self, folder: str, uid: int) -> MessageData: ...
    def read_message(self, folder: str, uid: int) -> bytes: ...
    def parsed(self, folder: str, uid: int) -> ParsedMessage: ...
    def set_flags(self, folder: str, uids: Iterable[int], flags: Iterable[str],
                  mode: str = "=") -> dict[int, frozenset[str]]: ...
    def append(self, folder: str, data: bytes, flags: Iterable[str] = (),
               date: float | None = None) -> tuple[int, int]: ...
    def copy_messages(self, src: str, uids: Iterable[int], dst: str) -> list[tuple[int, int]]: ...
    def move_messages(self, src: str, uids: Iterable[int], dst: str) -> list[tuple[int, int]]: ...
    def expunge(self, folder: str, uids: Iterable[int] | None = None) -> list[int]: ...

    # -- the folder tree and subscriptions
    def folder_exists(self, folder: str) -> bool: ...
    def list_folders(self) -> list[FolderInfo]: ...
    def create_folder(self, folder: str) -> str: ...
    def delete_folder(self, folder: str) -> None: ...
    def rename_folder(self, old: str, new: str) -> None: ...
    def subscriptions(self) -> list[str]: ...
    def subscribe(self, folder: str) -> None: ...
    def unsubscribe(self, folder: str) -> None: ...


class MaildirMailbox:
    """``Mailbox`` over the Maildir store, for one address (the server builds one per login).

    The hot paths of a large FETCH (``read_message``, ``message_info``, ``parsed``) are the
    store's own bound methods with the address filled in, so the interface costs no extra call.
    """

    def __init__(self, store: MailStore, address: str) -> None:
        self.store, self.address = store, address
        store.maildir_path(address)           # create the user's Maildir on first login

        def bind(method: Callable) -> Callable:
            return partial(method, address)

        self.rescan, self.uids, self.flags, self.version = (
            bind(store.rescan), bind(store.uids), bind(store.flags), bind(store.version))
        self.uidvalidity, self.uidnext, self.claim_recent, self.status = (
            bind(store.uidvalidity), bind(store.uidnext), bind(store.claim_recent), bind(store.status))
        self.recent, self.highestmodseq, self.vanished = (
            bind(store.recent), bind(store.highestmodseq), bind(store.vanished))
        self.message_info, self.read_message, self.parsed = (
            bind(getattr(store, "message_meta", store.message_info)), bind(store.read_message), bind(store.parsed))
        if hasattr(store, "rendered"):        # ENVELOPE, BODYSTRUCTURE kept across restarts (mailflow-cache)
            self.rendered = bind(store.rendered)
        self.set_flags, self.append, self.expunge = bind(store.set_flags), bind(store.append), bind(store.expunge)
        self.copy_messages, self.move_messages = bind(store.copy_messages), bind(store.move_messages)
        if hasattr(store, "vanished_ranges"):  # merged runs, None below the history's floor
            self.vanished_ranges = bind(store.vanished_ranges)
        if hasattr(store, "append_many"):     # MULTIAPPEND all or nothing (RFC 3502 §2), when the store has it
            self.append_many = bind(store.append_many)
        self.folder_exists, self.list_folders = bind(store.folder_exists), bind(store.list_folders)
        self.create_folder, self.delete_folder = bind(store.create_folder), bind(store.delete_folder)
        self.rename_folder, self.subscriptions = bind(store.rename_folder), bind(store.subscriptions)
        self.subscribe, self.unsubscribe = bind(store.subscribe), bind(store.unsubscribe)

    def listen(self, callback: Callable[[FolderEvent], None]) -> Handle:
        return self.store.listen(self.address, callback)

