"""The mailbox store: every user's Maildir folders, as the IMAP and POP3 servers see them.

What it implements
  * The user's Maildir at ``<root>/<domain>/<user>`` with the default folders (INBOX, Sent, Drafts,
    Trash, Junk; RFC 6154 special use), created on first use; the layout is ``maildir.py``'s.
  * Messages by UID (``uids.py``: persistent UIDs, UIDVALIDITY), flags (RFC 3501 §2.3.2) in file
    names, keywords in the uid list; APPEND, COPY, MOVE (RFC 6851), EXPUNGE, STORE.
  * ``\\Recent`` (RFC 3501 §2.3.2): a message in ``new/`` is recent; the first read-write session that
    claims it (``claim_recent``) moves it to ``cur/`` and is the only one that reports it as recent.
  * Folders: CREATE, DELETE, RENAME (children included), LIST, STATUS, subscriptions.
  * In-loop change notification: listeners registered per address are called synchronously after
    every change, whoever made it (IMAP sessions, POP3, the MDA through ``notify``).
  * Retention (``retention.py``): after a delivery (``notify``), the oldest messages of the INBOX
    beyond the policy's count or age are removed, as a POP3 deletion would.
  * Reading for the test API (simulator/web/v1.py): ``mailboxes`` (every user with a Maildir on
    disk, the catch-all ones too) and ``locate`` (a message by its Maildir base name).
  * A cache of parsed MIME structures (``mime.py``) keyed by (folder, base name, file size, mtime)
    so that a large mailbox is parsed once; rescans list directories and never re-read files whose
    names are known.
  * Lazy sizes and kept metadata (what Dovecot's ``dovecot.index.cache`` does): a scan reads no
    message file, the CRLF size of a new file is counted when first asked for (``_size``, or as a
    side effect of ``read_message``); ``rendered`` keeps what a protocol layer derived from a
    message (IMAP's ENVELOPE, BODYSTRUCTURE) with its entry.  Both go to the folder's
    ``mailflow-cache`` (``metacache.py``: written whole, fsynced and renamed, by one worker thread,
    debounced by ``CACHE_DELAY`` and at ``flush``), so after a restart neither is worked out again.
    ENVELOPE needs only the header: ``rendered(headers_only=True)`` parses no MIME tree, and when
    the size is known already (the uid list, the cache, a Dovecot-style ``,W=`` in the file name)
    it reads only the header block (``_head``), not the whole file.

What it leaves out: quotas, ACLs, and locking between processes (one simulator process owns the
data directory; all calls happen on the mail loop thread, so there are no locks).
"""
from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from concurrent.futures import Future, ThreadPoolExecutor
from collections.abc import Callable, Iterable
from pathlib import Path

from ..fsutil import link_new, move_new
from .maildir import (
    DELIMITER,
    INBOX,
    SUBSCRIPTIONS_NAME,
    canonical_flag,
    folder_dir,
    folder_tree,
    info_from_flags,
    is_maildir,
    make_maildir,
    normalize_folder,
    read_subscriptions,
    remove_maildir,
    setup_user_dir,
    sync_subdirs,
    unique_base,
    user_dir,
    valid_flag,
    write_lines,
    write_message,
)
from . import metacache
from . import uids as _uids          # looked up at call time (tests count the reads)
from .mime import MimePart, ParseCache, ParsedMessage, crlf_size, parse_header_block, parse_mime, to_crlf
from .records import (
    FolderEvent,
    FolderExists,
    FolderInfo,
    FolderNameError,
    FolderStatus,
    Listener,
    MessageInfo,
    MessageMeta,
    NoSuchFolder,
    NoSuchMessage,
    StoreError,
)
from .retention import Retention
from .uids import (
    UNKNOWN_SIZE,
    Entry,
    FolderState,
    DIRTY_NAME,
    Known,
    Loaded,
    boot_id,
    load_reservation,
    flag_set,
    load_uidlist,
    next_uidvalidity,
    reserve,
    save_uidlist,
    scan,
)

log = logging.getLogger(__name__)

__all__ = ["MailStore", "Subscription"]


class Subscription:
    """Handle returned by ``MailStore.listen``; ``close()`` stops the callbacks."""

    def __init__(self, store: MailStore, address: str, callback: Listener) -> None:
        self._store, self._address, self._callback = store, address, callback

    def close(self) -> None:
        self._store.unlisten(self._address, self._callback)


def _read_all(fd: int, expected: int) -> bytes:
    """The whole file at ``fd`` (read from its start), expected to be ``expected`` octets long: one
    ``read`` of one octet more than that tells the end of a file of that size (a regular file's read
    returns less than asked only at its end); a file that grew or shrank since is read to its end."""
    data = os.read(fd, max(expected, 0) + 1)
    if len(data) == expected:
        return data
    chunks = [data]
    while data:
        data = os.read(fd, 1 << 20)
        chunks.append(data)
    return b"".join(chunks)


def _refuse_nul(data: bytes) -> None:
    if b"\0" in data:
        raise StoreError("a message may not contain NUL")


class MailStore:
    """All users' Maildirs under ``root`` (= <data>/mail/<domain>/<user>).

    Every method is synchronous and meant for the mail loop thread. Folder names are Unicode with
    "/" as the hierarchy delimiter; protocol layers translate (IMAP: modified UTF-7).
    """

    SAVE_DELAY = 1.0     # seconds a non-durable uid list save may wait on the mail loop
    CACHE_DELAY = 2.0    # seconds a ``mailflow-cache`` write may wait (the worker writes it)

    def __init__(self, root: Path, *, clock: Callable[[], float] = time.time,
                 retention: Retention | None = None, boot: str | None | Callable[[], str | None] = boot_id) -> None:
        self.root = Path(root)
        self._boot = boot() if callable(boot) else boot     # this machine boot (``uids.boot_id``)
        self._clock = clock
        self.retention = retention or Retention()     # keep everything unless told otherwise
        self._folders: dict[tuple[str, str], FolderState] = {}
        self._listeners: dict[str, list[Listener]] = {}
        self._parse_cache = ParseCache()
        self._pending: dict[tuple[str, str], FolderState] = {}   # lists whose non-durable save is deferred
        self._cache_dirty: dict[int, FolderState] = {}          # folders whose ``mailflow-cache`` is behind
        self._cache_timer: asyncio.TimerHandle | None = None
        self._cache_writer: ThreadPoolExecutor | None = None    # one thread: writes land in order
        self._cache_written: Future | None = None
        self.root.mkdir(parents=True, exist_ok=True)

    # ----------------------------------------------------------------- paths

    def maildir_path(self, address: str) -> Path:
        """The user's Maildir (INBOX); created on demand together with the default folders."""
        path = user_dir(self.root, address)
        setup_user_dir(path)
        return path

    def folder_path(self, address: str, folder: str) -> Path:
        """Validated directory of ``folder`` (which need not exist).

        One user never reaches another's mail: besides ``normalize_folder``'s checks (no "." or ".."
        component, no empty level, no NUL, controls, "\\" or wildcards) a name with "~" is refused,
        and the path, with every symbolic link resolved, must lie inside the user's directory (the
        user's directory is resolved by ``user_dir``; a folder directory that is a link is refused).
        """
        folder = normalize_folder(folder)
        if "~" in folder:
            raise FolderNameError("'~' is not allowed in mailbox names")
        user = self.maildir_path(address)   # itself checked: its resolved path is <root>/<domain>/<user>
        path = folder_dir(user, folder)      # a direct child of it, by name
        if os.path.islink(path):             # so only a link could lead elsewhere: none is followed
            raise FolderNameError("mailbox name escapes the user's directory")
        return path

    # ----------------------------------------------------------------- folder state

    def _folder(self, address: str, folder: str, *, create: bool = False) -> FolderState:
        state = self._folders.get((address, folder))  # keys hold canonical names: a hit needs no check
        if state is not None:
            return state
        folder = normalize_folder(folder)
        key = (address, folder)
        state = self._folders.get(key)
        if state is not None:
            return state
        path = self.folder_path(address, folder)
        if not is_maildir(path):
            if not create:
                raise NoSuchFolder(f"no such mailbox: {folder}")
            make_maildir(path, folder=folder != INBOX)
        (path / "tmp").mkdir(exist_ok=True)
        loaded = load_uidlist(path) or Loaded(self._new_uidvalidity(address), 1, {}, fresh=True)
        state = FolderState(address, folder, path, loaded.uidvalidity, loaded.uidnext, [], {}, {},
                            highestmodseq=loaded.highestmodseq, expunged=loaded.expunged, floor=loaded.floor,
                            boot=self._boot, listed=loaded.listed, listed_saved=loaded.listed)
        # RFC 7162 §3.1.2.1: HIGHESTMODSEQ never goes back.  Under another boot (or none known) the
        # list may be older than what clients were told: begin above the durable reservation.
        reservation = load_reservation(path)
        dirty = (path / DIRTY_NAME).exists()        # a deferred save never happened (a killed process)
        unclean = reservation is not None and (dirty or reservation[1] is None or reservation[1] != self._boot)
        if reservation is not None:
            state.reserved = reservation[0] if not unclean else 0
            if unclean:
                state.highestmodseq = max(state.highestmodseq, reservation[0])
        self._folders[key] = state
        self._scan(state, known=loaded.known, force_save=loaded.fresh or unclean or reservation is None,
                   renew_all=unclean and bool(loaded.known))
        if dirty:
            (path / DIRTY_NAME).unlink(missing_ok=True)
        return state

    def _new_uidvalidity(self, address: str) -> int:
        return next_uidvalidity(self.maildir_path(address), self._clock())

    def _scan(self, state: FolderState, *, known: Known | None = None, force_save: bool = False,
              renew_all: bool = False) -> bool:
        return scan(state, new_uidvalidity=lambda: self._new_uidvalidity(state.address), known=known,
                    force_save=force_save, renew_all=renew_all)

    def _info(self, state: FolderState, e: Entry) -> MessageInfo:
        return MessageInfo(e.uid, self._size(state, e), e.flags, e.internaldate, state.path / e.sub / e.name,
                           e.modseq)

    def _meta(self, state: FolderState, e: Entry) -> MessageMeta:
        return MessageMeta(e.uid, self._size(state, e), e.flags, e.mtime_ns / 1e9, e.modseq)

    # ----------------------------------------------------------------- sizes and kept metadata

    def _size(self, state: FolderState, e: Entry) -> int:
        """The CRLF size of the entry's file, counted on first need (``UNKNOWN_SIZE`` after a scan)."""
        if e.size >= 0:
            return e.size
        if not state.cache_loaded:
            self._load_cache(state)
            if e.size >= 0:
                return e.size
        size = _uids.file_crlf_size(state.path / e.sub / e.name)
        if size <= 0:
            return 0          # empty, or gone (the next rescan says so): counted again if asked again
        e.size = size
        self._cache_changed(state)
        return size

    def _load_cache(self, state: FolderState) -> None:
        """Give the entries what the folder's ``mailflow-cache`` knows of their very files (same size
        and mtime); what the entries know already stays."""
        state.cache_loaded = True
        records = metacache.load(state.path)
        if not records:
            return
        for e in state.entries:
            r = records.get(e.base)
            if r is None or r[0] != e.fsize or r[1] != e.mtime_ns:
                continue
            if e.size < 0 <= r[2]:
                e.size = r[2]
            if r[3]:
                e.cache = r[3] if e.cache is None else {**r[3], **e.cache}

    def _cache_changed(self, state: FolderState) -> None:
        if not state.cache_loaded:
            self._load_cache(state)
        self._cache_dirty[id(state)] = state
        if self._cache_timer is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return                        # no mail loop: ``flush`` writes it
        self._cache_timer = loop.call_later(self.CACHE_DELAY, self._write_caches)

    def _write_caches(self) -> Future | None:
        """Hand every folder's behind-hand cache to the writer thread (its pieces are listed here, on the loop)."""
        if self._cache_timer is not None:
            self._cache_timer.cancel()
            self._cache_timer = None
        dirty, self._cache_dirty = self._cache_dirty, {}
        for state in dirty.values():
            if self._folders.get((state.address, state.name)) is not state:
                continue                  # deleted or renamed meanwhile
            contents = metacache.dump((e.base, e.fsize, e.mtime_ns, e.size, e.cache) for e in state.entries
                                      if e.size >= 0 or e.cache)
            if self._cache_writer is None:
                self._cache_writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mailflow-cache")
            self._cache_written = self._cache_writer.submit(metacache.write, state.path, contents)
        return self._cache_written

    _KEY = re.compile(r"[A-Za-z0-9._-]{1,40}")

    def rendered(self, address: str, folder: str, uid: int, key: str,
                 render: Callable[[ParsedMessage], bytes], *,
                 headers_only: bool | frozenset[str] = False) -> bytes:
        """What ``render`` makes of the message, kept with its entry and in ``mailflow-cache``.

        ``key`` names the form and its version (a renderer that changes takes a new key).  With
        ``headers_only`` the ``ParsedMessage`` handed to ``render`` has the root's header fields and
        no MIME tree (unless the message is in the parse cache anyway): for ENVELOPE, which needs
        nothing else; a set of lowercase names there limits the fields to those.
        """
        state = self._folder(address, folder)
        e = self._entry(state, uid)
        if not state.cache_loaded:
            self._load_cache(state)
        if e.cache is not None:
            hit = e.cache.get(key)
            if hit is not None:
                return hit
        if not self._KEY.fullmatch(key):
            raise ValueError(f"bad cache key {key!r}")
        parsed = None
        if headers_only:
            parsed = self._parse_cache.get((str(state.path), e.base, e.fsize, e.mtime_ns))
            if parsed is None:
                # With the size known (the uid list, ``mailflow-cache``, a ``,W=`` in the name) the
                # header block is all that is read; else the whole file, which counts the size too.
                data = self._head(state, e) if e.size >= 0 else None
                if data is None:
                    data = self.read_message(address, folder, uid)
                names = headers_only if isinstance(headers_only, frozenset) else None
                headers, body = parse_header_block(data, 0, len(data), names)
                size = e.size if e.size >= 0 else len(data)
                parsed = ParsedMessage(size, MimePart(0, body, size, headers, "text", "plain", []))
        if parsed is None:
            parsed = self.parsed(address, folder, uid)
        value = render(parsed)
        if e.cache is None:
            e.cache = {}
        e.cache[key] = value
        self._cache_changed(state)
        return value

    HEAD_CHUNK = 8 * 1024        # ``_head`` reads the file in pieces of this size ...
    HEAD_MAX = 64 * 1024         # ... until its header ends, or this much (then the whole file is read)

    def _head(self, state: FolderState, e: Entry) -> bytes | None:
        """The start of the entry's file in CRLF form, up to and including the empty line that ends
        its header (or the whole file if it has none), without reading the body: for ENVELOPE when
        the size is known already.  None if the file is gone, is not the one the entry describes
        (another size or mtime: ``read_message`` then deals with it), or its header is longer than
        ``HEAD_MAX``."""
        buf = bytearray()
        try:
            fd = os.open(f"{state.path}/{e.sub}/{e.name}", os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        try:
            st = os.fstat(fd)
            if st.st_size != e.fsize or st.st_mtime_ns != e.mtime_ns:
                return None
            while len(buf) < self.HEAD_MAX:
                more = os.read(fd, self.HEAD_CHUNK)
                if not more:
                    return to_crlf(bytes(buf))          # all header (or empty)
                start = max(0, len(buf) - 2)
                buf += more
                if (buf.startswith((b"\n", b"\r\n")) or buf.find(b"\n\r\n", start) >= 0
                        or buf.find(b"\n\n", start) >= 0):
                    return to_crlf(bytes(buf))
        finally:
            os.close(fd)
        return None

    def _changed(self, state: FolderState, *, save: bool = True, durable: bool = True) -> None:
        if save and (durable or not self._defer_save(state)):
            self._save(state, durable=durable)
        state.version += 1
        self._emit(FolderEvent(state.address, state.name))

    def _save(self, state: FolderState, *, durable: bool) -> None:
        save_uidlist(state, durable=durable)
        if self._pending.pop((state.address, state.name), None) is not None:
            (state.path / DIRTY_NAME).unlink(missing_ok=True)

    def _defer_save(self, state: FolderState) -> bool:
        """Debounce a non-durable save (flags, expunges) to one per ``SAVE_DELAY`` per folder.

        Only on a running event loop (the mail loop); elsewhere saves happen at once.  The
        mod-sequences are reserved durably now, and a ``mailflow-dirty`` marker (no fsync) says a save
        is pending: a process killed before it happens leaves the marker, and the next load treats the
        list as stale (``uids``: it begins above the reservation).  ``flush`` saves what is pending.
        """
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        reserve(state)                 # before any client hears of the new mod-sequences
        key = (state.address, state.name)
        if key not in self._pending:
            try:
                (state.path / DIRTY_NAME).touch()
            except OSError:
                return False
            self._pending[key] = state
            loop.call_later(self.SAVE_DELAY, self._save_pending, key, state)
        return True

    def _save_pending(self, key: tuple[str, str], state: FolderState) -> None:
        if self._pending.get(key) is state:
            try:
                self._save(state, durable=False)
            except OSError:                # the folder went away meanwhile (deleted, renamed)
                self._pending.pop(key, None)

    def flush(self) -> None:
        """Save every deferred uid list and metadata cache now (before a stop, or a rename or delete of
        folders); returns once the cache writes are on disk."""
        for key, state in list(self._pending.items()):
            self._save_pending(key, state)
        for state in list(self._folders.values()):
            if state.listed is not None and state.listed != state.listed_saved:
                try:                   # a trusted listing not written yet (``uids``: listing skipped)
                    save_uidlist(state, durable=False)
                except OSError:        # the folder went away meanwhile
                    pass
        written = self._write_caches()
        if written is not None:
            written.result()

    def _emit(self, event: FolderEvent) -> None:
        for callback in list(self._listeners.get(event.address, ())):
            try:
                callback(event)
            except Exception:  # a broken listener must not break the store or the other sessions
                log.exception("mailbox listener failed")

    # ----------------------------------------------------------------- notification

    def listen(self, address: str, callback: Listener) -> Subscription:
        """Call ``callback(FolderEvent)`` (in-loop, synchronously) after any change to the user's folders."""
        self._listeners.setdefault(address, []).append(callback)
        return Subscription(self, address, callback)

    def unlisten(self, address: str, callback: Listener) -> None:
        """Stop calling ``callback`` (what ``Subscription.close`` does); a second call does nothing."""
        callbacks = self._listeners.get(address)
        if callbacks and callback in callbacks:
            callbacks.remove(callback)

    def notify(self, address: str, folder: str = INBOX) -> None:
        """Something was delivered into the folder (the MDA calls this): rescan and tell the listeners.

        With nobody listening there is nothing to tell, and every reader rescans anyway (SELECT,
        STATUS, NOOP, a POP3 login): skipping the rescan keeps a delivery burst from re-listing the
        Maildir and rewriting its UID list once per message.  With a retention policy the INBOX is
        rescanned anyway, and its oldest messages beyond the policy go (``apply_retention``).
        """
        if self.retention.active and folder == INBOX:
            self.apply_retention(address)
            return
        if not self._listeners.get(address):
            return
        self.rescan(address, folder)

    def apply_retention(self, address: str) -> list[int]:
        """Rescan the INBOX and remove what the retention policy does not keep; the UIDs removed.

        Listeners hear of the change (the new message, the removed ones) once.
        """
        loaded = (address, INBOX) in self._folders
        state = self._folder(address, INBOX)
        changed = self._scan(state) or (not loaded and bool(state.entries))
        doomed = self.retention.doomed(((e.uid, e.internaldate) for e in state.entries), self._clock())
        if doomed:
            return self._remove(state, doomed)          # saves the uid list and tells the listeners
        if changed:
            self._emit(FolderEvent(state.address, state.name))
        return []

    # ----------------------------------------------------------------- every mailbox (the test API)

    def mailboxes(self) -> list[str]:
        """Every address with a Maildir under the root (users of the world, catch-all mailboxes,
        users of an earlier world whose mail is still on disk), sorted."""
        found: list[str] = []
        try:
            domains = sorted(os.scandir(self.root), key=lambda d: d.name)
        except FileNotFoundError:
            return []
        for domain in domains:
            if not domain.is_dir() or domain.name.startswith("."):
                continue
            for user in sorted(os.scandir(domain.path), key=lambda u: u.name):
                if user.is_dir() and not user.name.startswith(".") and is_maildir(Path(user.path)):
                    address = f"{user.name}@{domain.name}"
                    try:
                        user_dir(self.root, address)       # only names the store itself would use
                    except StoreError:
                        continue
                    found.append(address)
        return found

    def locate(self, address: str, folder: str, base: str) -> MessageInfo | None:
        """The message whose Maildir base name is ``base`` (after a rescan), or None."""
        self.rescan(address, folder)
        state = self._folder(address, folder)
        e = state.by_base.get(base)
        return None if e is None else self._info(state, e)

    def rescan(self, address: str, folder: str) -> bool:
        """Pick up files added, renamed or removed behind our back; listeners hear of any change."""
        loaded = (address, normalize_folder(folder)) in self._folders
        state = self._folder(address, folder)
        # a first load has just scanned: a second scan at once would find nothing more
        if (not loaded and state.entries) or (loaded and self._scan(state)):
            self._emit(FolderEvent(state.address, state.name))
            return True
        return False

    # ----------------------------------------------------------------- messages (POP3 and IMAP)

    def inbox_snapshot(self, address: str) -> list[MessageInfo]:
        """INBOX in UID order after a rescan of new/ and cur/ (POP3's maildrop, RFC 1939 §4)."""
        self.maildir_path(address)
        self.rescan(address, INBOX)
        return self.messages(address, INBOX)

    def messages(self, address: str, folder: str) -> list[MessageInfo]:
        state = self._folder(address, folder)
        return [self._info(state, e) for e in state.entries]

    def count_sizes(self, address: str, folder: str, start: int = 0, limit: int = 500) -> int | None:
        """Count the CRLF sizes not known yet of up to ``limit`` messages of the folder, from its
        ``start``-th entry on; the entry to go on from, or None when every one was looked at.

        A caller on the mail loop that is about to need every size (POP3's login: the maildrop's
        octets) counts them a slice at a time, letting the loop's other sessions run in between,
        instead of reading a large maildrop in one go.  (A file gone meanwhile stays uncounted.)"""
        state = self._folder(address, folder)
        entries = state.entries
        end = min(len(entries), start + limit)
        for e in entries[start:end]:
            if e.size < 0:
                self._size(state, e)
        return end if end < len(entries) else None

    def inbox_meta(self, address: str) -> list[MessageMeta]:
        """``inbox_snapshot`` without the paths (POP3's maildrop: UIDs and sizes)."""
        self.maildir_path(address)
        self.rescan(address, INBOX)
        state = self._folder(address, INBOX)
        return [self._meta(state, e) for e in state.entries]

    def message_file(self, address: str, folder: str, uid: int) -> str:
        """The message file's path as a str (no pathlib; ``NoSuchMessage`` if the UID is unknown)."""
        state = self._folder(address, folder)
        e = self._entry(state, uid)
        return f"{state.path}/{e.sub}/{e.name}"

    def message_meta(self, address: str, folder: str, uid: int) -> MessageMeta:
        """``message_info`` without the path (IMAP's FETCH and SEARCH: no pathlib per message)."""
        state = self._folder(address, folder)
        e = state.by_uid.get(uid)
        if e is None:
            raise NoSuchMessage(f"no message with UID {uid}")
        return self._meta(state, e)

    def uids(self, address: str, folder: str) -> list[int]:
        return [e.uid for e in self._folder(address, folder).entries]

    def message_info(self, address: str, folder: str, uid: int) -> MessageInfo:
        state = self._folder(address, folder)
        e = state.by_uid.get(uid)
        if e is None:
            raise NoSuchMessage(f"no message with UID {uid}")
        return self._info(state, e)

    def flags(self, address: str, folder: str) -> dict[int, frozenset[str]]:
        return {e.uid: e.flags for e in self._folder(address, folder).entries}

    def version(self, address: str, folder: str) -> int:
        """Bumped on every change of the folder (a cheap "anything new?" check for sessions)."""
        return self._folder(address, folder).version

    def uidvalidity(self, address: str, folder: str) -> int:
        return self._folder(address, folder).uidvalidity

    def uidnext(self, address: str, folder: str) -> int:
        return self._folder(address, folder).uidnext

    def _entry(self, state: FolderState, uid: int) -> Entry:
        e = state.by_uid.get(uid)
        if e is None:
            raise NoSuchMessage(f"no message with UID {uid}")
        return e

    def read_message(self, address: str, folder: str, uid: int) -> bytes:
        """The message with CRLF line ends: exactly the octets that ``MessageInfo.size`` counts."""
        state = self._folder(address, folder)
        e = self._entry(state, uid)
        try:
            fd = os.open(f"{state.path}/{e.sub}/{e.name}", os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            self._scan(state)
            raise NoSuchMessage(f"message with UID {uid} is gone") from None
        try:
            data = _read_all(fd, e.fsize)
            # A file that was all CRLF when scanned (CRLF size == file size) and is unchanged
            # since (same size and mtime, the parse cache's key too) needs no conversion pass.
            replaced = len(data) != e.fsize
            unchanged_crlf = False
            if not replaced and e.size == e.fsize:
                replaced = os.fstat(fd).st_mtime_ns != e.mtime_ns
                unchanged_crlf = not replaced
            if replaced:         # changed in place (not Maildir-like): what was kept is stale
                e.fsize, e.mtime_ns = len(data), os.fstat(fd).st_mtime_ns
                e.cache, e.size = None, UNKNOWN_SIZE
        finally:
            os.close(fd)
        if replaced:
            self._save(state, durable=False)    # the list records the file as it now is (rare)
        if not unchanged_crlf:
            data = to_crlf(data)
        if len(data) != e.size:  # not counted yet, or the file was replaced in place (not Maildir-like):
            counted = e.size < 0     # believe the file
            e.size = len(data)
            if counted:
                self._cache_changed(state)
        return data

    def parsed(self, address: str, folder: str, uid: int) -> ParsedMessage:
        """The MIME tree of a message, cached by (folder, base name, file size, mtime)."""
        state = self._folder(address, folder)
        e = self._entry(state, uid)
        key = (str(state.path), e.base, e.fsize, e.mtime_ns)
        hit = self._parse_cache.get(key)
        if hit is not None:
            return hit
        data = self.read_message(address, folder, uid)
        parsed = ParsedMessage(len(data), parse_mime(data))
        self._parse_cache.put(key, parsed)
        return parsed

    def claim_recent(self, address: str, folder: str) -> frozenset[int]:
        """Give the caller the \\Recent messages nobody has claimed yet (RFC 3501 §2.3.2).

        They move from new/ to cur/ (maildir(5): "no longer new"), so no later session sees them
        as recent, across restarts too.
        """
        state = self._folder(address, folder)
        claimed: list[int] = []
        for e in state.entries:
            if not e.recent:
                continue
            e.recent = False
            claimed.append(e.uid)
            if e.sub == "new":
                self._rename(state, e, "cur", e.flags)
        return frozenset(claimed)

    def highestmodseq(self, address: str, folder: str) -> int:
        """HIGHESTMODSEQ (RFC 7162 §3.1.2.1): the mod-sequence of the folder's latest change."""
        return self._folder(address, folder).highestmodseq

    def vanished(self, address: str, folder: str, since: int) -> list[int]:
        """UIDs expunged after mod-sequence ``since`` (RFC 7162 §3.2.5.1: VANISHED (EARLIER)), expanded;
        prefer ``vanished_ranges``."""
        return self._folder(address, folder).vanished(since)

    def vanished_ranges(self, address: str, folder: str, since: int) -> list[tuple[int, int]] | None:
        """UID runs expunged after ``since``, merged and ascending, never expanded; None if ``since`` is
        below the history's floor (then answer from the client's known UIDs minus those that exist)."""
        return self._folder(address, folder).vanished_ranges(since)

    def recent(self, address: str, folder: str) -> frozenset[int]:
        """The \\Recent messages nobody has claimed, left unclaimed (EXAMINE, RFC 3501 §6.3.2)."""
        return frozenset(e.uid for e in self._folder(address, folder).entries if e.recent)

    def _rename(self, state: FolderState, e: Entry, sub: str, flags: frozenset[str]) -> None:
        name = f"{e.base}:2,{info_from_flags(flags, e.other)}" if sub == "cur" else e.base
        if (sub, name) != (e.sub, e.name):
            try:
                os.rename(state.path / e.sub / e.name, state.path / sub / name)
            except FileNotFoundError:
                raise NoSuchMessage(f"message with UID {e.uid} is gone") from None
        e.sub, e.name, e.flags = sub, name, flags

    def set_flags(self, address: str, folder: str, uids: Iterable[int], flags: Iterable[str],
                  mode: str = "=") -> dict[int, frozenset[str]]:
        """STORE (RFC 3501 §6.4.6): mode "+" adds, "-" removes, "=" replaces. Returns the new flags.

        System flags go into the file name (the file moves to cur/), keywords into the uid list.
        """
        state = self._folder(address, folder)
        wanted = {canonical_flag(f) for f in flags}
        wanted.discard("\\Recent")
        for f in wanted:
            if not valid_flag(f):
                raise StoreError(f"invalid flag {f}")
        result: dict[int, frozenset[str]] = {}
        any_changed = False
        modseq = state.highestmodseq + 1    # RFC 7162 §3.1.1: one new value for what this call changes
        for uid in uids:
            e = state.by_uid.get(uid)
            if e is None:
                continue
            if mode == "+":
                new = e.flags | wanted
            elif mode == "-":
                new = e.flags - wanted
            else:
                new = frozenset(wanted)
            new = flag_set(new)
            if new != e.flags:
                try:
                    self._rename(state, e, "cur", new)
                except NoSuchMessage:
                    continue
                any_changed = True
                e.modseq = modseq
            result[uid] = e.flags
        if any_changed:
            state.highestmodseq = modseq
            self._changed(state, durable=False)   # the list keeps keywords and mod-sequences (no fsync:
                                                  # see ``save_uidlist``)
        return result

    def _deliver_file(self, state: FolderState, data: bytes, flags: frozenset[str], mtime: float | None,
                      *, sync_dir: bool = True) -> Entry:
        """Write a CRLF message into the folder (the one Maildir writer) and give it the next UID."""
        now = self._clock()
        mtime = now if mtime is None else mtime  # INTERNALDATE = delivery time (PROTOCOLS §5.4)
        sub, name, st = write_message(state.path, data, now=now, flags=flags, mtime=mtime,
                                      taken=state.by_base, sync_dir=sync_dir)
        e = Entry(state.uidnext, name.split(":", 1)[0], sub, name, flags, "", crlf_size(data), st.st_size,
                  st.st_mtime_ns, True, state.bump())
        state.uidnext += 1
        state.add(e)
        return e

    def append(self, address: str, folder: str, data: bytes, flags: Iterable[str] = (),
               internaldate: float | None = None) -> tuple[int, int]:
        """APPEND (RFC 3501 §6.3.11): store a message; returns (UIDVALIDITY, UID) for APPENDUID.

        A message holding a NUL is refused (RFC 3501 §4.3: a NUL never appears in a message's text;
        BINARY's literal8 bodies are re-encoded before they get here, ``transfer.encode_binary_parts``).
        """
        state = self._folder(address, folder)
        clean = self._append_flags(flags)
        _refuse_nul(data)
        e = self._deliver_file(state, to_crlf(data), clean, internaldate)
        self._changed(state)
        return state.uidvalidity, e.uid

    @staticmethod
    def _append_flags(flags: Iterable[str]) -> frozenset[str]:
        clean = frozenset(canonical_flag(f) for f in flags) - {"\\Recent"}
        for f in clean:
            if not valid_flag(f):
                raise StoreError(f"invalid flag {f}")
        return clean

    def append_many(self, address: str, folder: str,
                    messages: list[tuple[bytes, Iterable[str], float | None]]) -> tuple[int, list[int]]:
        """MULTIAPPEND (RFC 3502 §6.3.11): store every message or none; (UIDVALIDITY, UIDs in order).

        Every flag and message is checked first (``StoreError``, nothing written); then each message
        is written and fsynced under ``tmp/`` and only when all are there are they linked into
        ``new/``/``cur/``, the directories fsynced once and the uid list saved once.  Any failure
        (an ``OSError`` such as ENOSPC included, raised as ``StoreError`` with it as the cause)
        removes what was written: nothing is stored, UIDNEXT is unchanged.
        """
        state = self._folder(address, folder)
        batch = [(to_crlf(data), self._append_flags(flags), when) for data, flags, when in messages]
        for data, _, _ in batch:
            _refuse_nul(data)
        now = self._clock()
        written: list[tuple[Path, Path, str, str, frozenset[str], float | None, bytes]] = []
        linked: list[Path] = []
        try:
            taken = set(state.by_base)
            for data, flags, when in batch:          # 1: every file whole under tmp/
                base = unique_base(now)
                while base in taken:
                    base = unique_base(now)
                taken.add(base)
                sub = "cur" if flags else "new"
                name = f"{base}:2,{info_from_flags(flags)}" if flags else base
                tmp = state.path / "tmp" / base
                written.append((tmp, state.path / sub / name, sub, name, flags, when, data))
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    mtime = now if when is None else when
                    os.utime(fh.fileno(), (mtime, mtime))
                    os.fsync(fh.fileno())
            for tmp, final, *_ in written:             # 2: all linked into new/ or cur/
                link_new(tmp, final)
                linked.append(final)
            sync_subdirs(state.path)
        except OSError as err:
            for tmp, *_ in written:
                tmp.unlink(missing_ok=True)
            for final in linked:
                final.unlink(missing_ok=True)
            raise StoreError(f"could not store the messages: {err.strerror or err}") from err
        first = state.uidnext
        for tmp, final, sub, name, flags, _, data in written:
            tmp.unlink(missing_ok=True)
            st = final.stat()
            state.add(Entry(state.uidnext, name.split(":", 1)[0], sub, name, flags, "", len(data), st.st_size,
                            st.st_mtime_ns, True, state.highestmodseq + 1))
            state.uidnext += 1
        if written:
            state.bump()                                 # one mod-sequence for the whole batch
            self._changed(state)
        return state.uidvalidity, list(range(first, state.uidnext))

    def copy_messages(self, address: str, src: str, uids: Iterable[int], dst: str) -> list[tuple[int, int]]:
        """COPY (RFC 3501 §6.4.7): copy each file, flags and INTERNALDATE kept; returns [(source uid, new uid)]."""
        source = self._folder(address, src)
        target = self._folder(address, dst)
        pairs: list[tuple[int, int]] = []
        for uid in sorted(set(uids)):
            e = source.by_uid.get(uid)
            if e is None:
                continue
            try:
                data = to_crlf((source.path / e.sub / e.name).read_bytes())
            except FileNotFoundError:
                continue
            new = self._deliver_file(target, data, e.flags, e.internaldate, sync_dir=False)
            pairs.append((uid, new.uid))
        if pairs:
            sync_subdirs(target.path)       # one directory fsync for the whole batch
            self._changed(target)
        return pairs

    def move_messages(self, address: str, src: str, uids: Iterable[int], dst: str) -> list[tuple[int, int]]:
        """MOVE (RFC 6851): rename each file into the target folder; returns [(source uid, new uid)]."""
        source = self._folder(address, src)
        target = self._folder(address, dst)
        if source is target:
            pairs = self.copy_messages(address, src, uids, dst)
            self.delete_messages(address, src, [p[0] for p in pairs])
            return pairs
        pairs: list[tuple[int, int]] = []
        for uid in sorted(set(uids)):
            e = source.by_uid.get(uid)
            moved = None if e is None else self._move_file(source, e, target)
            if moved is not None:
                pairs.append((uid, moved.uid))
        if pairs:
            source.forget([p[0] for p in pairs], source.bump())   # gone from the source (VANISHED)
            sync_subdirs(target.path, ("cur",))     # the new names first: a crash leaves a copy, not a loss
            sync_subdirs(source.path)
            self._changed(target)
            self._changed(source)
        return pairs

    def _move_file(self, source: FolderState, e: Entry, target: FolderState) -> Entry | None:
        """Move one message into ``target``'s cur/, keeping its base name unless that is taken there."""
        base = e.base
        while True:
            if base not in target.by_base:
                name = f"{base}:2,{info_from_flags(e.flags, e.other)}"
                try:
                    move_new(source.path / e.sub / e.name, target.path / "cur" / name)
                    break
                except FileNotFoundError:
                    return None
                except FileExistsError:     # a file the target has not scanned yet
                    pass
            base = unique_base(self._clock())
        new = Entry(target.uidnext, base, "cur", name, e.flags, e.other, e.size, e.fsize, e.mtime_ns, True,
                    target.bump())
        target.uidnext += 1
        target.add(new)
        source.entries.remove(e)
        del source.by_uid[e.uid]
        source.by_base.pop(e.base, None)
        return new

    def delete_messages(self, address: str, folder: str, uids: Iterable[int]) -> None:
        """Remove the files now (POP3 UPDATE, IMAP EXPUNGE); other sessions then report EXPUNGE."""
        self._remove(self._folder(address, folder), set(uids))

    def _remove(self, state: FolderState, uids: set[int]) -> list[int]:
        gone: list[int] = []
        for e in [e for e in state.entries if e.uid in uids]:
            try:
                os.unlink(state.path / e.sub / e.name)
            except FileNotFoundError:
                pass
            gone.append(e.uid)
        if gone:
            state.entries = [e for e in state.entries if e.uid not in uids]
            state.reindex()
            state.forget(gone, state.bump())       # RFC 7162 §3.2: an expunge is a change too
            self._changed(state, durable=False)    # the files are gone already (see ``save_uidlist``)
        return gone

    def expunge(self, address: str, folder: str, uids: Iterable[int] | None = None) -> list[int]:
        """EXPUNGE / UID EXPUNGE (RFC 3501 §6.4.3, RFC 4315 §2.1): remove \\Deleted messages."""
        state = self._folder(address, folder)
        allowed = None if uids is None else set(uids)
        doomed = {e.uid for e in state.entries
                  if "\\Deleted" in e.flags and (allowed is None or e.uid in allowed)}
        return self._remove(state, doomed)

    # ----------------------------------------------------------------- folders

    def folder_exists(self, address: str, folder: str) -> bool:
        try:
            return is_maildir(self.folder_path(address, folder))
        except FolderNameError:
            return False

    def list_folders(self, address: str) -> list[FolderInfo]:
        """Every folder, plus \\Noselect parents implied by deeper names, sorted, INBOX first."""
        return folder_tree(self.maildir_path(address))

    def create_folder(self, address: str, folder: str) -> str:
        """CREATE (RFC 3501 §6.3.3), with superior levels as needed; returns the canonical name."""
        folder = normalize_folder(folder.rstrip(DELIMITER) if folder != DELIMITER else folder)
        if self.folder_exists(address, folder):
            raise FolderExists(f"mailbox already exists: {folder}")
        parts = folder.split(DELIMITER)
        for i in range(1, len(parts) + 1):
            name = DELIMITER.join(parts[:i])
            path = self.folder_path(address, name)
            if not is_maildir(path):
                make_maildir(path, folder=name != INBOX)
        self._folder(address, folder)  # issues UIDVALIDITY
        return folder

    def delete_folder(self, address: str, folder: str) -> None:
        """DELETE (RFC 3501 §6.3.4). INBOX cannot be deleted; a folder with children neither."""
        folder = normalize_folder(folder)
        self.flush()
        if folder == INBOX:
            raise StoreError("INBOX cannot be deleted")
        path = self.folder_path(address, folder)
        if not is_maildir(path):
            raise NoSuchFolder(f"no such mailbox: {folder}")
        if any(f.name.startswith(folder + DELIMITER) for f in self.list_folders(address)):
            raise StoreError("mailbox has children; delete them first")
        remove_maildir(path)
        self._folders.pop((address, folder), None)
        self._set_subscribed(address, folder, False)
        self._emit(FolderEvent(address, folder, "deleted"))

    def rename_folder(self, address: str, old: str, new: str) -> None:
        """RENAME (RFC 3501 §6.3.5), children included. Renaming INBOX moves its messages."""
        old, new = normalize_folder(old), normalize_folder(new)
        self.flush()
        if not self.folder_exists(address, old):
            raise NoSuchFolder(f"no such mailbox: {old}")
        if self.folder_exists(address, new) or old == new:
            raise FolderExists(f"mailbox already exists: {new}")
        if new.startswith(old + DELIMITER):
            raise StoreError("cannot rename a mailbox into itself")
        if old == INBOX:
            self.create_folder(address, new)
            self.move_messages(address, INBOX, self.uids(address, INBOX), new)
            return
        names = [f.name for f in self.list_folders(address)
                 if f.selectable and (f.name == old or f.name.startswith(old + DELIMITER))]
        subs = set(self.subscriptions(address))
        for name in sorted(names, key=len):
            target = new + name[len(old):]
            self.folder_path(address, target).parent.mkdir(parents=True, exist_ok=True)
            os.rename(self.folder_path(address, name), self.folder_path(address, target))
            self._folders.pop((address, name), None)
            if name in subs:
                self._set_subscribed(address, name, False)
                self._set_subscribed(address, target, True)
            self._emit(FolderEvent(address, name, "renamed", target))
        parts = new.split(DELIMITER)
        for i in range(1, len(parts)):  # superior levels of the new name become real folders
            parent = DELIMITER.join(parts[:i])
            if not self.folder_exists(address, parent):
                make_maildir(self.folder_path(address, parent), folder=True)

    def status(self, address: str, folder: str) -> FolderStatus:
        """STATUS (RFC 3501 §6.3.10) after a rescan; RECENT counts messages nobody has claimed."""
        self.rescan(address, folder)
        state = self._folder(address, folder)
        unseen = sum(1 for e in state.entries if "\\Seen" not in e.flags)
        recent = sum(1 for e in state.entries if e.recent)
        return FolderStatus(len(state.entries), recent, unseen, state.uidnext, state.uidvalidity,
                            state.highestmodseq)

    # ----------------------------------------------------------------- subscriptions

    def subscriptions(self, address: str) -> list[str]:
        """LSUB (RFC 3501 §6.3.9): the subscribed folders, INBOX first."""
        return read_subscriptions(self.maildir_path(address))

    def _set_subscribed(self, address: str, folder: str, on: bool) -> None:
        subs = set(self.subscriptions(address))
        if (folder in subs) == on:
            return
        subs.add(folder) if on else subs.discard(folder)
        write_lines(self.maildir_path(address) / SUBSCRIPTIONS_NAME, sorted(subs))

    def subscribe(self, address: str, folder: str) -> None:
        """SUBSCRIBE (RFC 3501 §6.3.6)."""
        self._set_subscribed(address, normalize_folder(folder), True)

    def unsubscribe(self, address: str, folder: str) -> None:
        """UNSUBSCRIBE (RFC 3501 §6.3.7)."""
        folder = normalize_folder(folder)
        if folder not in self.subscriptions(address):
            raise StoreError(f"not subscribed: {folder}")
        self._set_subscribed(address, folder, False)
