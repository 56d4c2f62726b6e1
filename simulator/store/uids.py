"""Persistent UIDs and UIDVALIDITY for a Maildir folder (RFC 3501 §2.3.1.1).

What it implements
  * A uid list per folder (``mailflow-uidlist``, after Dovecot's ``dovecot-uidlist``): a first line
    ``mailflow-uidlist 1 V<uidvalidity> N<uidnext>``, then one line per message:
    ``uid <TAB> base name <TAB> CRLF size <TAB> mtime ns <TAB> file size <TAB> keywords``, then the
    mod-sequence, the system-flag letters and where the file is (see below: the listing skipped).
    UIDs ascend in arrival order and are never reused.
  * UIDVALIDITY stays stable across restarts and changes only when the uid list is lost or damaged:
    then a fresh, strictly larger value comes from the per-user ``mailflow-uidvalidity`` counter.
  * ``scan``: reconciles a folder's state with ``new/`` and ``cur/``. Known file names cost nothing
    (after a restart the uid list's size and mtime are trusted: no stat per listed file);
    files never seen before are stat'ed, never read: their CRLF size is ``UNKNOWN_SIZE`` until
    someone asks (``MailStore`` counts it then, as Dovecot defers sizes to the first FETCH that
    needs them), so a first SELECT of 10,000 messages lists and stats, and reads nothing.  A name
    that states its sizes as Dovecot writes them (``<base>,S=<file size>,W=<CRLF size>``, what
    Dovecot's LDA and LMTP deliver) gives the CRLF size at once when S is the stat'ed size
    (``name_size``): such a file need never be read whole for RFC822.SIZE, only its header for
    ENVELOPE (``MailStore._head``).  New files
    get UIDs in arrival order (mtime, then name); files the uid list knows keep their UIDs.  A first
    scan that finds exactly what the loaded list says (the usual restart) writes no list.

  * Mod-sequences (RFC 7162 §3.1, CONDSTORE; §3.2, QRESYNC): every message has one, the folder a
    HIGHESTMODSEQ.  Each change takes the next value (``FolderState.bump``): a new message, a flag
    change, a file renamed or removed behind our back; one value serves every message changed by one
    operation.  Expunges bump it too, and the expunged UIDs are remembered with that value
    (``FolderState.expunged``, for QRESYNC's VANISHED): at most ``MAX_EXPUNGED`` records; beyond that
    the two oldest merge under the newer value, so an old expunge is reported a little too often,
    never missed (a client ignores UIDs it does not hold).  The uid list keeps them: ``M<highest>``
    on the first line, the message's value as a seventh column, and a line
    ``X <TAB> modseq <TAB> uid-set`` per record.  A list written before mod-sequences reads as
    every message at 1.  Records merge as ranges, never expanded into single UIDs; beyond
    ``MAX_EXPUNGED_RANGES`` runs in all the oldest records are dropped and the list remembers the
    newest dropped value as its floor (``F<floor>`` on the first line): ``vanished_ranges`` answers
    ``None`` for a ``since`` below it, and QRESYNC then answers from the client's known UIDs (RFC 7162
    §3.2.5.1 lets a server report UIDs the client did not see go).

  * Mod-sequences survive every way the list can fall behind the files (RFC 7162 §3.1.2.1: a
    HIGHESTMODSEQ never goes back, and a change is never given a value a client already holds):
      - the list keeps each message's system-flag letters too (an eighth column): a file whose
        name says otherwise (renamed while the server was down) gets a new mod-sequence at load;
      - a UID the list knows whose file is gone is recorded as expunged at a new mod-sequence
        (VANISHED reports it), not silently dropped;
      - flag changes and expunges save the list without an fsync (see ``save_uidlist``), so a
        crash of the machine may bring back an older list.  Against that, mod-sequences are
        reserved durably: ``mailflow-modseq`` holds ``R<reserved> B<boot id>`` and is rewritten with
        an fsync whenever HIGHESTMODSEQ would pass R (R = HIGHESTMODSEQ + ``MODSEQ_RESERVE``: one
        fsync per 10,000 changes).  A start under another boot id than the reservation's (the machine
        restarted: a crash, or a reboot we cannot tell from one) begins above R and gives every
        message that new value: clients refetch the flags once instead of drifting for good.  A killed
        process loses nothing (the list is replaced by a rename and lives in the page cache), except a
        save the store deferred (``MailStore._defer_save``): its ``mailflow-dirty`` marker makes the
        next load begin above the reservation too.

  * Listing skipped when nothing changed (Dovecot's maildir sync does the same): the uid list
    remembers the modification times of ``new/`` and ``cur/`` seen just before the last full listing
    (``L<new ns>:<cur ns>`` on the first line) and each file's name (a ninth column: ``n`` or ``c``
    for its directory, then what follows the base name, e.g. ``c:2,S``).  A scan that finds both
    times unchanged takes the names from the list (or, in a running process, from the entries) and
    calls no ``listdir``: a warm SELECT of 10,000 messages no longer lists them.  Any change to a
    directory's entries (a delivery, a rename into ``cur/``, a flag change's rename, an expunge's
    unlink, another program's write) sets that directory's mtime to the time of the change, so the
    next scan lists again; our own writers need not update the record (they leave the mtime changed).
    The kernel's timestamps are coarse: an mtime comes from a clock that ticks every few ms (the
    coarse clock, which may also lag the precise one by a tick), and some filesystems keep whole
    seconds (ext3, some network and FUSE ones) or even two (FAT).  A directory changed in the same
    tick as the listing, just after it, would keep the mtime the listing recorded.  So a recorded
    time is trusted only if it lies ``LISTING_MARGIN_NS`` (2 s, Dovecot's dirty window is alike)
    before the moment the listing began; a directory changed more recently is "dirty" and is listed
    again at every scan until it has been quiet for 2 s.  A trusted listing is written down with the
    next save of the list, or at the latest by ``MailStore.flush`` (a clean stop; no fsync): no
    extra write while running, and a process killed before costs one listing at its next start.
    A list without the record or the names (an older one) is listed as before; an older reader of
    this list ignores both.  Left open: a clock stepped back by more than the margin (a change could
    then land on the very same mtime, to the nanosecond on most filesystems; a 1 s filesystem
    would need the step to land in the recorded second).

What it leaves out: sharing the list between processes (one simulator process owns the data
directory) and Dovecot's header/extension records.
"""
from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable
from itertools import chain
from dataclasses import dataclass, field
from pathlib import Path

from .maildir import FLAG_TO_LETTER, info_from_flags, list_names, name_flags, write_lines
from .mime import crlf_size

log = logging.getLogger(__name__)

__all__ = ["DIRTY_NAME", "MAX_EXPUNGED", "MAX_EXPUNGED_RANGES", "MODSEQ_NAME", "MODSEQ_RESERVE", "UNKNOWN_SIZE",
           "boot_id", "load_reservation", "merge_ranges", "reserve", "UIDLIST_NAME", "UIDVALIDITY_NAME", "Entry",
           "FolderState", "Loaded", "file_crlf_size", "flag_set", "load_uidlist", "name_size", "next_uidvalidity",
           "save_uidlist", "scan"]

UIDLIST_NAME = "mailflow-uidlist"
UIDVALIDITY_NAME = "mailflow-uidvalidity"
MODSEQ_NAME = "mailflow-modseq"
DIRTY_NAME = "mailflow-dirty"       # a deferred uid list save is pending (``MailStore._defer_save``)
MODSEQ_RESERVE = 10_000
UNKNOWN_SIZE = -1                   # ``Entry.size`` of a file whose CRLF size nobody has counted yet
_UIDLIST_MAGIC = "mailflow-uidlist"

# base name -> (uid, CRLF size, mtime ns, file size, keywords, modseq, system-flag letters or None for a
# list written before they were kept, (sub, file name) or None for a list without names): one line of a
# loaded uid list.
Known = dict[str, tuple[int, int, int, int, frozenset[str], int, str | None, tuple[str, str] | None]]
Marks = tuple[int, int]             # mtime ns of new/ and cur/ (``_marks``)
LISTING_MARGIN_NS = 2_000_000_000   # a directory mtime this close to a listing is not trusted (docstring)
Expunged = list[tuple[int, list[tuple[int, int]]]]   # (modseq, UID ranges) per expunge, oldest first
MAX_EXPUNGED = 1000
MAX_EXPUNGED_RANGES = 20_000


@dataclass(slots=True)
class Loaded:
    """What a uid list holds (``load_uidlist``)."""

    uidvalidity: int
    uidnext: int
    known: Known
    highestmodseq: int = 1
    expunged: Expunged = field(default_factory=list)
    floor: int = 0                  # expunge history below this mod-sequence was dropped
    listed: Marks | None = None     # the directories' mtimes at the listing the names come from
    fresh: bool = False             # no list was found (or it was damaged): one is written at once


@dataclass(slots=True)
class Entry:
    """One message of a folder: its UID, where its file is, its flags and the sizes that were seen."""

    uid: int
    base: str
    sub: str  # "new" or "cur"
    name: str
    flags: frozenset[str]
    other: str  # info letters we do not map (kept as found)
    size: int  # CRLF octets; ``UNKNOWN_SIZE`` until counted (``MailStore._size``)
    fsize: int
    mtime_ns: int
    recent: bool = False
    modseq: int = 1  # RFC 7162 §3.1.1: the value of the last change to this message
    cache: dict[str, bytes] | None = None   # rendered metadata (``metacache``), for this fsize and mtime

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
    highestmodseq: int = 1
    expunged: Expunged = field(default_factory=list)
    floor: int = 0                  # expunge records at or below this mod-sequence were dropped
    reserved: int = 0               # mod-sequences up to this are reserved durably (``MODSEQ_NAME``)
    boot: str | None = None         # the boot id the reservation is written under
    cache_loaded: bool = False      # ``metacache`` records applied to the entries (``MailStore._load_cache``)
    listed: Marks | None = None     # new/ and cur/ mtimes before the last listing, if old enough to trust
    listed_saved: Marks | None = None   # the record the uid list on disk holds

    def bump(self) -> int:
        """The next mod-sequence, now the folder's highest (RFC 7162 §3.1.1: strictly ascending)."""
        self.highestmodseq += 1
        return self.highestmodseq

    def forget(self, uids: list[int], modseq: int) -> None:
        """Remember UIDs expunged at ``modseq`` (for VANISHED): at most ``MAX_EXPUNGED`` records and
        ``MAX_EXPUNGED_RANGES`` runs; the oldest merge (as ranges), then drop below a floor."""
        if not uids:
            return
        self.expunged.append((modseq, _ranges(sorted(uids))))
        if len(self.expunged) > MAX_EXPUNGED:
            (_, first), (second_modseq, second) = self.expunged[:2]
            self.expunged[:2] = [(second_modseq, merge_ranges(first + second))]
        total = sum(len(r) for _, r in self.expunged)
        while total > MAX_EXPUNGED_RANGES and len(self.expunged) > 1:
            dropped, ranges = self.expunged.pop(0)
            total -= len(ranges)
            self.floor = max(self.floor, dropped)

    def vanished_ranges(self, since: int) -> list[tuple[int, int]] | None:
        """UID runs expunged after mod-sequence ``since`` (RFC 7162 §3.2.5.1), merged and ascending;
        None if ``since`` lies below the floor (that part of the history was dropped)."""
        if since < self.floor:
            return None
        return merge_ranges([r for modseq, ranges in self.expunged if modseq > since for r in ranges])

    def vanished(self, since: int) -> list[int]:
        """UIDs expunged after mod-sequence ``since``, ascending (expanded: prefer ``vanished_ranges``)."""
        ranges = self.vanished_ranges(max(since, self.floor)) or []
        return [u for a, b in ranges for u in range(a, b + 1)]

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


def merge_ranges(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """(first, last) runs in any order -> ascending, overlapping and adjacent ones joined (never expanded)."""
    out: list[tuple[int, int]] = []
    for a, b in sorted(ranges):
        if out and a <= out[-1][1] + 1:
            if b > out[-1][1]:
                out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def boot_id() -> str | None:
    """This boot of the machine (Linux ``/proc/sys/kernel/random/boot_id``); None where unknown
    (then every start counts as unclean: safe, costs clients a flag refetch)."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


def load_reservation(path: Path) -> tuple[int, str | None] | None:
    """(reserved mod-sequence, boot id) of the folder at ``path``; None if there is none."""
    try:
        cols = (path / MODSEQ_NAME).read_text(encoding="utf-8").split()
        reserved = int(cols[0][1:]) if cols[0].startswith("R") else None
    except (OSError, UnicodeDecodeError, IndexError, ValueError):
        return None
    if reserved is None:
        return None
    boot = next((c[1:] for c in cols[1:] if c.startswith("B")), "") or None
    return reserved, boot


def reserve(folder: FolderState) -> None:
    """Make sure every mod-sequence handed out so far is at or below a durably written reservation."""
    if folder.highestmodseq <= folder.reserved:
        return
    folder.reserved = folder.highestmodseq + MODSEQ_RESERVE
    write_lines(folder.path / MODSEQ_NAME, [f"R{folder.reserved} B{folder.boot or ''}"])


def _ranges(uids: list[int]) -> list[tuple[int, int]]:
    """Ascending UIDs -> (first, last) runs."""
    out: list[tuple[int, int]] = []
    for u in uids:
        if out and u == out[-1][1] + 1:
            out[-1] = (out[-1][0], u)
        else:
            out.append((u, u))
    return out


def save_uidlist(folder: FolderState, *, durable: bool = True) -> None:
    """Write the folder's uid list (atomically: a temporary file renamed over the old one).

    ``durable=False`` skips the fsync: for flag changes (the message file names hold the flags)
    and expunges (the files are gone; a rescan finds that again).  The rename still makes the list
    whole after a killed process (the page cache survives it); only a crash of the machine itself
    could bring back the list before, losing at most the latest keywords and mod-sequences (Dovecot's
    default ``mail_fsync = optimized`` makes the same trade).  New UIDs (APPEND, COPY, MOVE,
    delivery) are always saved with an fsync: a UID once given out is never given to another message.
    """
    reserve(folder)                 # before any list naming a new mod-sequence is written
    head = f"{_UIDLIST_MAGIC} 1 V{folder.uidvalidity} N{folder.uidnext} M{folder.highestmodseq}"
    if folder.floor:
        head += f" F{folder.floor}"
    if folder.listed is not None:
        head += f" L{folder.listed[0]}:{folder.listed[1]}"
    folder.listed_saved = folder.listed
    lines = [head]
    worded: dict[frozenset[str], tuple[str, str]] = {}   # flag set -> (keywords, letters); sets are shared: few
    for e in folder.entries:
        columns = worded.get(e.flags)
        if columns is None:
            columns = worded[e.flags] = (" ".join(sorted(f for f in e.flags if f not in FLAG_TO_LETTER)),
                                         info_from_flags(e.flags))
        where = e.sub[0] + e.name[len(e.base):] if e.name.startswith(e.base) else "?"
        lines.append(f"{e.uid}\t{e.base}\t{e.size}\t{e.mtime_ns}\t{e.fsize}\t{columns[0]}\t{e.modseq}\t{columns[1]}"
                     f"\t{where}")
    for modseq, ranges in folder.expunged:
        lines.append(f"X\t{modseq}\t" + ",".join(f"{a}:{b}" if a != b else str(a) for a, b in ranges))
    if durable:
        write_lines(folder.path / UIDLIST_NAME, lines)
        return
    path = folder.path / UIDLIST_NAME
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def load_uidlist(path: Path) -> Loaded | None:
    """UIDVALIDITY, UIDNEXT, known files and mod-sequences of the folder at ``path``; None if missing
    or damaged."""
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
        loaded = Loaded(int(head[2][1:]), int(head[3][1:]), {})
        listed: Marks | None = None
        for token in head[4:]:
            if token.startswith("M"):
                loaded.highestmodseq = int(token[1:])
            elif token.startswith("F"):
                loaded.floor = int(token[1:])
            elif token.startswith("L"):         # only a hint: a damaged one means "list again"
                a, _, b = token[1:].partition(":")
                listed = (int(a), int(b)) if a.isdigit() and b.isdigit() else None
        known = loaded.known
        top_uid, top_modseq = 0, loaded.highestmodseq
        named = True                        # every line names its file: the record may stand for a listing
        for line in lines[1:]:
            cols = line.split("\t")
            if len(cols) == 9:              # what ``save_uidlist`` writes
                uid_text, base, size, mtime_ns, fsize, keywords, modseq_text, letters, where = cols
                uid, modseq = int(uid_text), int(modseq_text)
                if where[:1] == "c":
                    at: tuple[str, str] | None = ("cur", base + where[1:])
                elif where[:1] == "n":
                    at = ("new", base + where[1:])
                else:
                    at, named = None, False
                known[base] = (uid, int(size), int(mtime_ns), int(fsize),
                               flag_set(keywords.split()) if keywords else _NO_FLAGS, modseq, letters, at)
            elif cols[0] == "X":
                ranges = [tuple(int(x) for x in (r.split(":") * 2)[:2]) for r in cols[2].split(",")]
                loaded.expunged.append((int(cols[1]), ranges))  # type: ignore[arg-type]
                continue
            else:                           # older lists: fewer columns, no file names
                named = False
                uid = int(cols[0])
                modseq = int(cols[6]) if len(cols) > 6 else 1
                kws = frozenset(cols[5].split()) if len(cols) > 5 else frozenset()
                known[cols[1]] = (uid, int(cols[2]), int(cols[3]), int(cols[4]), kws, modseq,
                                  cols[7] if len(cols) > 7 else None, None)
            if uid > top_uid:
                top_uid = uid
            if modseq > top_modseq:
                top_modseq = modseq
        loaded.uidnext = max(loaded.uidnext, top_uid + 1)
        loaded.highestmodseq = top_modseq
        loaded.listed = listed if named else None
    except (IndexError, ValueError):
        log.warning("corrupt uid list in %s; issuing a new UIDVALIDITY", path)
        return None
    return loaded


def file_crlf_size(path: Path) -> int:
    """The size of a message file in its CRLF form (what IMAP and POP3 serve); 0 if it is gone.

    (``os.open``, ``fstat``, one ``read`` of the size and one octet more, ``close``: a file object's
    ``readall`` made seven system calls of it; a POP3 login on a new 10,000-message maildrop counts
    every file once.)"""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return 0
    try:
        want = os.fstat(fd).st_size + 1
        data = os.read(fd, want)
        if len(data) == want:                 # grew meanwhile: read the rest
            chunks = [data]
            while more := os.read(fd, 1 << 16):
                chunks.append(more)
            data = b"".join(chunks)
    except OSError:
        return 0
    finally:
        os.close(fd)
    return crlf_size(data)


# --------------------------------------------------------------------------- reconciling


def scan(state: FolderState, *, new_uidvalidity: Callable[[], int], known: Known | None = None,
         force_save: bool = False, renew_all: bool = False) -> bool:
    """Reconcile the folder state with new/ and cur/ and save the uid list; True if anything changed.

    ``known`` (the loaded list, first scan only): its UIDs whose files are gone are recorded as
    expunged at the new mod-sequence.  ``renew_all`` (an unclean start): every message gets it too.
    ``new_uidvalidity`` is called only if the list held duplicate UIDs (then all are renumbered).
    """
    began = time.time_ns()
    marks = _marks(state.path)
    on_disk: dict[str, tuple[str, str]] | None = None
    if marks is not None and marks == state.listed:
        # Neither directory changed since a listing we trust (see the docstring): its names stand.
        if known is None:
            if not (force_save or renew_all):
                return False            # the entries are that listing plus our own changes
            on_disk = {e.base: (e.sub, e.name) for e in state.entries}
        elif not state.entries:
            on_disk = {base: prior[7] for base, prior in known.items() if prior[7] is not None}
            if len(on_disk) != len(known):
                on_disk = None
    if on_disk is None:
        on_disk = {}
        for sub in ("new", "cur"):
            for name in list_names(state.path / sub):
                base = name.split(":", 1)[0]
                on_disk.setdefault(base, (sub, name))
        state.listed = marks if marks is not None and max(marks) < began - LISTING_MARGIN_NS else None
    before = {e.uid for e in state.entries}
    keep, changed = _keep_known(state, on_disk)
    fresh = False
    if on_disk:
        fresh, renewed = _add_fresh(state, on_disk, known or {}, keep)
        changed |= renewed
    kept = {e.uid for e in keep}
    lost = {prior[0] for prior in (known or {}).values() if prior[0] not in kept and prior[0] < state.uidnext}
    changed |= bool(lost) or renew_all
    if changed:
        modseq = state.highestmodseq + 1     # one value for every change this scan found
        for e in keep:
            if e.modseq == 0 or renew_all:
                e.modseq = modseq
        left = (before | lost) - kept
        state.forget(sorted(left), modseq)
        if any(e.modseq == modseq for e in keep) or left:
            state.highestmodseq = modseq
    if changed or force_save or fresh:
        state.entries = keep
        state.reindex()
        if len(state.by_uid) != len(state.entries):  # duplicate UIDs from a damaged list: renumber
            _renumber(state, new_uidvalidity())
            changed = True
        if changed or force_save:
            save_uidlist(state)
        state.version += 1
    return changed or fresh


def _marks(path: Path) -> Marks | None:
    """The modification times of ``new/`` and ``cur/`` (ns); None if either cannot be stat'ed."""
    try:
        return os.stat(path / "new").st_mtime_ns, os.stat(path / "cur").st_mtime_ns
    except OSError:
        return None


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
            new_flags = flag_set(flags | kws)
            if new_flags != e.flags:
                e.modseq = 0            # changed behind our back: ``scan`` gives it the next value
            e.sub, e.name, e.flags, e.other = sub, name, new_flags, other
            changed = True
        keep.append(e)
    return keep, changed


def _add_fresh(state: FolderState, on_disk: dict[str, tuple[str, str]], known: Known,
               keep: list[Entry]) -> tuple[bool, bool]:
    """Give the files the state does not know an entry each (appended to ``keep``).

    (any file added, any change the uid list must record): a file restored from the loaded list
    with its UID, flags and mod-sequence is no change; a new UID or a flag change is.  Sizes are not
    counted here (``UNKNOWN_SIZE``) unless the list knows them for this very file size.
    """
    listed = []         # (uid in the list, mtime ns, base, sub, name, file size, the list's line)
    unknown = []        # (0, mtime ns, base, sub, name, file size, None): the shape of ``listed``
    folder = str(state.path)
    for base, (sub, name) in on_disk.items():
        prior = known.get(base)
        if prior is not None and prior[6] is not None:
            # Listed by the uid list: a Maildir file never changes in place (maildir(5)), so its
            # size and mtime are the list's (Dovecot trusts its index alike); no stat per file.
            # A file changed in place anyway is noticed when it is next read (``read_message``).
            listed.append((prior[0], prior[2], base, sub, name, prior[3], prior))
            continue
        try:
            st = os.stat(f"{folder}/{sub}/{name}")
        except FileNotFoundError:
            continue
        if prior is not None:
            listed.append((prior[0], st.st_mtime_ns, base, sub, name, st.st_size, prior))
        else:
            unknown.append((0, st.st_mtime_ns, base, sub, name, st.st_size, None))
    # Entries from the uid list keep their UIDs (in UID order); unknown files are numbered after
    # them in arrival order (mtime, then name).
    listed.sort()
    unknown.sort()
    used = {e.uid for e in keep}
    renewed = False
    # A folder's names end in few ways (":2,S", ":2,RS", nothing in new/ ...): their flags, unmapped
    # letters and canonical letters are worked out once per ending, not once per file.
    endings: dict[tuple[str, str], tuple[frozenset[str], str, str]] = {}
    for _, mtime_ns, base, sub, name, fsize, prior in chain(listed, unknown):
        ending = (sub, name[len(base):])
        kind = endings.get(ending)
        if kind is None:
            flags, other = _name_flags(sub, name)
            kind = endings[ending] = (flags, other, _letters(sub, name, flags))
        flags, other, letters = kind
        if prior is not None and prior[0] not in used and prior[0] < state.uidnext:
            uid, kws, modseq = prior[0], prior[4], prior[5]
            if prior[6] is not None and prior[6] != letters:
                modseq = 0              # flags changed behind our back (or the list fell behind)
            size = prior[1] if prior[3] == fsize else UNKNOWN_SIZE
            # the list says otherwise than the file (an older list format, a file touched or
            # replaced while we were down): write it anew
            if prior[6] is None or prior[2] != mtime_ns or prior[3] != fsize:
                renewed = True
        else:
            uid, size, kws, modseq = state.uidnext, UNKNOWN_SIZE, frozenset(), 0
            state.uidnext += 1
        if size < 0 and "," in base:
            size = name_size(base, fsize)
        if modseq == 0:
            renewed = True
        used.add(uid)
        keep.append(Entry(uid, base, sub, name, flag_set(flags | kws) if kws else flags, other, size,
                          fsize, mtime_ns, sub == "new", modseq))
    return bool(listed or unknown), renewed


def name_size(base: str, fsize: int) -> int:
    """The CRLF size a Maildir base name states (Dovecot's ``<base>,S=<file size>,W=<CRLF size>``),
    trusted only when its ``S=`` is the file's actual size and ``W=`` a size that file can have in CRLF
    form (between S and 2 S); else ``UNKNOWN_SIZE``."""
    stated: dict[str, str] = {}
    for field_ in base.split(",")[1:]:
        key, eq, value = field_.partition("=")
        if eq and value.isascii() and value.isdigit() and key in ("S", "W"):
            stated[key] = value
    if "W" in stated and "S" in stated and int(stated["S"]) == fsize and fsize <= int(stated["W"]) <= 2 * fsize:
        return int(stated["W"])
    return UNKNOWN_SIZE


_NO_FLAGS: frozenset[str] = frozenset()
_FLAG_SETS: dict[frozenset[str], frozenset[str]] = {}
_FLAG_SETS_MAX = 4096


def flag_set(flags: Iterable[str]) -> frozenset[str]:
    """The flags as a frozenset shared by every message with the same ones (a mailbox has few
    combinations: 10,000 entries need not carry 10,000 sets); at most ``_FLAG_SETS_MAX`` are kept."""
    fs = frozenset(flags)
    shared = _FLAG_SETS.get(fs)
    if shared is not None:
        return shared
    if len(_FLAG_SETS) < _FLAG_SETS_MAX:
        _FLAG_SETS[fs] = fs
    return fs


_INFO_FLAGS: dict[str, tuple[frozenset[str], str]] = {}


def _name_flags(sub: str, name: str) -> tuple[frozenset[str], str]:
    """``maildir.name_flags`` with the flags as a shared frozenset, one parse per distinct info
    string (a folder has a handful: "", "S", "RS", "FS" ...; at most 1,024 kept)."""
    if sub != "cur" or ":2," not in name:
        return _NO_FLAGS, ""
    info = name.partition(":2,")[2]
    hit = _INFO_FLAGS.get(info)
    if hit is None:
        flags, other = name_flags(sub, name)
        hit = (flag_set(flags), other)
        if len(_INFO_FLAGS) < 1024:
            _INFO_FLAGS[info] = hit
    return hit


def _letters(sub: str, name: str, flags: set[str]) -> str:
    """``info_from_flags(flags)`` of a file's flags: its info letters as they stand when they are
    already what maildir(5) asks (mapped, sorted: the usual case), without building them again."""
    if sub != "cur":
        return ""
    info = name.partition(":2,")[2]
    if len(info) == len(flags) and (len(info) < 2 or info == "".join(sorted(info))):
        return info
    return info_from_flags(flags)


def _renumber(state: FolderState, uidvalidity: int) -> None:
    log.warning("duplicate UIDs in %s; issuing a new UIDVALIDITY", state.path)
    state.uidvalidity = uidvalidity
    for i, e in enumerate(sorted(state.entries, key=lambda e: (e.mtime_ns, e.base)), 1):
        e.uid = i
    state.uidnext = len(state.entries) + 1
    state.expunged.clear()          # UIDs of the old UIDVALIDITY mean nothing now
    state.reindex()
