"""Persistent UIDs and UIDVALIDITY for a Maildir folder (RFC 3501 §2.3.1.1).

What it implements
  * A uid list per folder (``mailflow-uidlist``, after Dovecot's ``dovecot-uidlist``): a first line
    ``mailflow-uidlist 1 V<uidvalidity> N<uidnext>``, then one line per message:
    ``uid <TAB> base name <TAB> CRLF size <TAB> mtime ns <TAB> file size <TAB> keywords``.
    UIDs ascend in arrival order and are never reused.
  * UIDVALIDITY stays stable across restarts and changes only when the uid list is lost or damaged:
    then a fresh, strictly larger value comes from the per-user ``mailflow-uidvalidity`` counter.
  * ``scan``: reconciles a folder's state with ``new/`` and ``cur/``. Known file names cost nothing;
    only files never seen before are stat'ed and read (to count their CRLF size). New files get UIDs
    in arrival order (mtime, then name); files the uid list knows keep their UIDs.

What it leaves out: sharing the list between processes (one simulator process owns the data
directory) and Dovecot's header/extension records.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .maildir import FLAG_TO_LETTER, list_names, name_flags, write_lines
from .mime import crlf_size

log = logging.getLogger(__name__)

__all__ = ["UIDLIST_NAME", "UIDVALIDITY_NAME", "Entry", "FolderState", "file_crlf_size", "load_uidlist",
           "next_uidvalidity", "save_uidlist", "scan"]

UIDLIST_NAME = "mailflow-uidlist"
UIDVALIDITY_NAME = "mailflow-uidvalidity"
_UIDLIST_MAGIC = "mailflow-uidlist"

# base name -> (uid, CRLF size, mtime ns, file size, keywords): one line of a loaded uid list.
Known = dict[str, tuple[int, int, int, int, frozenset[str]]]


@dataclass(slots=True)
class Entry:
    """One message of a folder: its UID, where its file is, its flags and the sizes that were seen."""

    uid: int
    base: str
    sub: str  # "new" or "cur"
    name: str
    flags: frozenset[str]
    other: str  # info letters we do not map (kept as found)
    size: int  # CRLF octets
    fsize: int
    mtime_ns: int
    recent: bool = False

    @property
    def internaldate(self) -> float:
        return self.mtime_ns / 1e9


@dataclass(slots=True)
class FolderState:
    """What the store knows of one folder: UIDVALIDITY, UIDNEXT and the entries in UID order."""

    address: str
    name: str
    path: Path
    uidvalidity: int
    uidnext: int
    entries: list[Entry]
    by_uid: dict[int, Entry]
    by_base: dict[str, Entry]
    version: int = 0

    def reindex(self) -> None:
        self.entries.sort(key=lambda e: e.uid)
        self.by_uid = {e.uid: e for e in self.entries}
        self.by_base = {e.base: e for e in self.entries}

    def add(self, entry: Entry) -> None:
        """Append an entry with a UID above every other one (a delivery, COPY or MOVE)."""
        self.entries.append(entry)
        self.by_uid[entry.uid] = entry
        self.by_base[entry.base] = entry


# --------------------------------------------------------------------------- the files


def next_uidvalidity(user_dir: Path, now: float) -> int:
    """A new UIDVALIDITY for the user: the time, or one more than the last issued if that is larger."""
    counter = user_dir / UIDVALIDITY_NAME
    last = 0
    try:
        last = int(counter.read_text().strip() or 0)
    except (OSError, ValueError):
        pass
    value = max(int(now), last + 1) & 0xFFFFFFFF or 1
    if value <= last:
        value = last + 1
    write_lines(counter, [str(value)])
    return value


def save_uidlist(folder: FolderState) -> None:
    lines = [f"{_UIDLIST_MAGIC} 1 V{folder.uidvalidity} N{folder.uidnext}"]
    for e in folder.entries:
        kws = " ".join(sorted(f for f in e.flags if f not in FLAG_TO_LETTER))
        lines.append(f"{e.uid}\t{e.base}\t{e.size}\t{e.mtime_ns}\t{e.fsize}\t{kws}")
    write_lines(folder.path / UIDLIST_NAME, lines)


def load_uidlist(path: Path) -> tuple[int, int, Known] | None:
    """(UIDVALIDITY, UIDNEXT, known files) of the folder at ``path``; None if missing or damaged."""
    try:
        text = (path / UIDLIST_NAME).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    lines = text.splitlines()
    if not lines:
        return None
    head = lines[0].split()
    try:
        if head[0] != _UIDLIST_MAGIC:
            return None
        uidvalidity = int(head[2][1:])
        uidnext = int(head[3][1:])
        known: Known = {}
        for line in lines[1:]:
            cols = line.split("\t")
            uid, base, size, mtime_ns, fsize = int(cols[0]), cols[1], int(cols[2]), int(cols[3]), int(cols[4])
            kws = frozenset(cols[5].split()) if len(cols) > 5 else frozenset()
            known[base] = (uid, size, mtime_ns, fsize, kws)
            uidnext = max(uidnext, uid + 1)
    except (IndexError, ValueError):
        log.warning("corrupt uid list in %s; issuing a new UIDVALIDITY", path)
        return None
    return uidvalidity, uidnext, known


def file_crlf_size(path: Path) -> int:
    """The size of a message file in its CRLF form (what IMAP and POP3 serve); 0 if it is gone."""
    try:
        data = path.read_bytes()
    except OSError:
        return 0
    return crlf_size(data)


# --------------------------------------------------------------------------- reconciling


def scan(state: FolderState, *, new_uidvalidity: Callable[[], int], known: Known | None = None,
         force_save: bool = False) -> bool:
    """Reconcile the folder state with new/ and cur/ and save the uid list; True if anything changed.

    ``new_uidvalidity`` is called only if the list held duplicate UIDs (then all are renumbered).
    """
    on_disk: dict[str, tuple[str, str]] = {}
    for sub in ("new", "cur"):
        for name in list_names(state.path / sub):
            base = name.split(":", 1)[0]
            on_disk.setdefault(base, (sub, name))
    keep, changed = _keep_known(state, on_disk)
    if on_disk:
        changed |= _add_fresh(state, on_disk, known or {}, keep)
    if changed or force_save:
        state.entries = keep
        state.reindex()
        if len(state.by_uid) != len(state.entries):  # duplicate UIDs from a damaged list: renumber
            _renumber(state, new_uidvalidity())
        save_uidlist(state)
        state.version += 1
    return changed


def _keep_known(state: FolderState, on_disk: dict[str, tuple[str, str]]) -> tuple[list[Entry], bool]:
    """The entries still on disk (taken out of ``on_disk``), renamed ones updated; and whether any changed."""
    changed = False
    keep: list[Entry] = []
    for e in state.entries:
        found = on_disk.pop(e.base, None)
        if found is None:
            changed = True  # removed behind our back
            continue
        sub, name = found
        if name != e.name or sub != e.sub:
            flags, other = name_flags(sub, name)
            kws = {f for f in e.flags if f not in FLAG_TO_LETTER}
            e.sub, e.name, e.flags, e.other = sub, name, frozenset(flags | kws), other
            changed = True
        keep.append(e)
    return keep, changed


def _add_fresh(state: FolderState, on_disk: dict[str, tuple[str, str]], known: Known, keep: list[Entry]) -> bool:
    """Give the files the state does not know an entry each (appended to ``keep``); True if any."""
    fresh = []
    for base, (sub, name) in on_disk.items():
        try:
            st = (state.path / sub / name).stat()
        except FileNotFoundError:
            continue
        fresh.append((st.st_mtime_ns, base, sub, name, st, known.get(base)))
    # Entries from the uid list keep their UIDs; unknown files are numbered after them.
    fresh.sort(key=lambda t: (t[5] is None, t[5][0] if t[5] else 0, t[0], t[1]))
    used = {e.uid for e in keep}
    for mtime_ns, base, sub, name, st, prior in fresh:
        flags, other = name_flags(sub, name)
        if prior is not None and prior[0] not in used and prior[0] < state.uidnext:
            uid, kws = prior[0], prior[4]
            size = prior[1] if prior[3] == st.st_size else file_crlf_size(state.path / sub / name)
        else:
            uid, size, kws = state.uidnext, file_crlf_size(state.path / sub / name), frozenset()
            state.uidnext += 1
        used.add(uid)
        keep.append(Entry(uid, base, sub, name, frozenset(flags | kws), other, size,
                          st.st_size, mtime_ns, recent=(sub == "new")))
    return bool(fresh)


def _renumber(state: FolderState, uidvalidity: int) -> None:
    log.warning("duplicate UIDs in %s; issuing a new UIDVALIDITY", state.path)
    state.uidvalidity = uidvalidity
    for i, e in enumerate(sorted(state.entries, key=lambda e: (e.mtime_ns, e.base)), 1):
        e.uid = i
    state.uidnext = len(state.entries) + 1
    state.reindex()
