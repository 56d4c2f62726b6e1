"""The Maildir layout: folders, flags in file names, and the one writer of message files.

What it implements
  * Maildir (D. J. Bernstein's ``maildir(5)``): ``tmp/ new/ cur/``; a message is written under
    ``tmp/`` and linked into ``new/`` (or ``cur/``) under a name nobody else can be using
    (``<seconds>.M<microseconds>P<pid>Q<counter>.<host>``), never replacing a file
    (``write_message``, used by the MDA and by the store's APPEND and COPY).
  * Flags in the ``:2,<letters>`` info suffix with letters in ASCII order
    (D=\\Draft F=\\Flagged P=$Forwarded R=\\Answered S=\\Seen T=\\Deleted).
  * Maildir++ folders: ``<user>/.Sent``, ``<user>/.a.b`` for the IMAP name ``a/b`` (delimiter ``/``),
    each marked by a ``maildirfolder`` file. Folder components are stored in modified UTF-7
    (RFC 3501 §5.1.3); a literal ``.`` inside a component is stored as ``&AC4-`` so it cannot be
    confused with the on-disk separator.

  * Deliveries that may be redone (``write_named``, the MDA's, issue 12 rule 1): the name is not drawn
    at random but given by the caller, a function of the durable queue entry and the recipient, so
    the Maildir itself answers "did this delivery happen?" before anything is written: the name in
    ``new/``, or on a redo (after a restart) in ``new/`` or ``cur/`` (moved there by a reader, flags
    appended after ``:2,``) means it did, and nothing is written a second time.  A redo matches the
    name without its host part (``find_named``): the same data directory may come back under another
    host name (a container recreated on the same volume).  The copy is written with no name at all
    (in ``tmp/``) where the kernel allows it (``O_TMPFILE``: :func:`simulator.fsutil.create_unnamed`),
    and as ``tmp/<base>`` otherwise.  A leftover of the same name under ``tmp/`` is a killed
    attempt of this very delivery: replaced (removed).  The fsync of ``new/`` after the
    link is a group commit (:class:`simulator.fsutil.GroupSync`): concurrent deliveries into one
    Maildir share it, each returning only once an fsync begun after its own link has finished.  Only the Maildir the message was
    delivered to is looked at (its ``new/`` and ``cur/``): a reader that moved the message to another
    folder or deleted it did so after the queue recorded the delivery (the queue runner saves the
    entry right after each link, before anyone is told), so a redo never asks.
  * ``clean_tmp`` at start: every file under a ``tmp/`` is a write that never reached ``new/``/``cur/``
    (a killed delivery, APPEND or COPY, never acknowledged), so it is removed.  maildir(5) waits 36
    hours before deleting a file in ``tmp/`` because in a shared Maildir another program may still
    be writing it; ours are written by this process alone (one Mailflow per data directory: the
    stack holds an ``flock`` on it, :class:`simulator.fsutil.DataDirLock`), and start-up runs before
    anything can write, so nothing found there is still being written.

  * Dovecot's size fields in every name this module writes (``,S=<size>,W=<CRLF size>`` after the base
    name, before ``:2,``: :func:`size_fields`), so a scan can count sizes without reading a file.

What it leaves out: Maildir keyword letters a-z (the store keeps keywords in its uid list).
"""
from __future__ import annotations

import functools
import itertools
import os
import re
import socket
from collections.abc import Callable, Container, Iterable
from pathlib import Path

from ..fsutil import GroupSync, create_new, create_unnamed, fsync_dir, write_atomic
from .mime import crlf_size
from .mutf7 import decode_mutf7, encode_mutf7
from .records import FolderInfo, FolderNameError, StoreError

__all__ = ["AUTO_SUBSCRIBE", "DEFAULT_FOLDERS", "DELIMITER", "FLAG_TO_LETTER", "INBOX", "LETTER_TO_FLAG",
           "SPECIAL_USE", "SUBSCRIPTIONS_NAME", "SYSTEM_FLAGS", "canonical_flag", "disk_name",
           "flags_from_info", "folder_dir", "folder_from_disk", "folder_tree", "info_from_flags",
           "is_maildir", "list_names", "make_maildir", "read_subscriptions", "setup_user_dir", "user_dir",
           "name_flags", "normalize_folder", "remove_maildir", "sync_subdirs", "unique_base",
           "valid_flag", "write_lines", "write_message", "write_named", "fixed_base", "find_named", "find_unique",
           "clean_tmp", "size_fields", "NameIndex"]

INBOX = "INBOX"
DELIMITER = "/"
NAME_MAX = 255      # octets in one directory name (Linux NAME_MAX; the whole Maildir++ name is one)
DEFAULT_FOLDERS: tuple[str, ...] = ("INBOX", "Sent", "Drafts", "Trash", "Junk")
SPECIAL_USE: dict[str, str] = {"Sent": "\\Sent", "Drafts": "\\Drafts", "Trash": "\\Trash", "Junk": "\\Junk"}
AUTO_SUBSCRIBE: tuple[str, ...] = DEFAULT_FOLDERS
SUBSCRIPTIONS_NAME = "subscriptions"     # Maildir++ (Courier, Dovecot): one folder name a line

# Maildir info letters <-> IMAP flags (maildir(5); RFC 3501 §2.3.2).
LETTER_TO_FLAG: dict[str, str] = {
    "D": "\\Draft",
    "F": "\\Flagged",
    "P": "$Forwarded",
    "R": "\\Answered",
    "S": "\\Seen",
    "T": "\\Deleted",
}
FLAG_TO_LETTER: dict[str, str] = {v: k for k, v in LETTER_TO_FLAG.items()}
SYSTEM_FLAGS: tuple[str, ...] = ("\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft")
_CANONICAL_FLAG = {f.lower(): f for f in (*SYSTEM_FLAGS, "$Forwarded", "\\Recent")}
_KEYWORD = re.compile(r"^[!#$&'+\-.0-9:;<=>?@A-Z^_`a-z|~]{1,64}$")  # IMAP atom minus specials
_ADDRESS_PART = re.compile(r"^[A-Za-z0-9_+=-][A-Za-z0-9._+=-]{0,63}$")
_DOMAIN = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*$")

# maildir(5): the host part of a unique name, with "/" and ":" escaped; the kernel's name, no DNS.
_HOSTNAME = socket.gethostname().replace("/", "\\057").replace(":", "\\072")
_counter = itertools.count(1)        # process-wide: two writers in one process never share a name
_NAME_ATTEMPTS = 100


# --------------------------------------------------------------------------- a user's directory


def user_dir(root: Path, address: str) -> Path:
    """``<root>/<domain>/<user>`` for a plausible address; StoreError for anything that could escape."""
    user, sep, domain = address.rpartition("@")
    if not sep or not _ADDRESS_PART.match(user) or not _DOMAIN.match(domain):
        raise StoreError(f"not a mailbox address: {address!r}")
    path = root / domain / user
    if path.resolve().parent.parent != root.resolve():  # belt and braces: never leave <root>/<domain>/<user>
        raise StoreError("mailbox path escapes the store")
    return path


def setup_user_dir(path: Path) -> None:
    """Make the default folders and the subscriptions file, unless the store has done so already.

    The subscriptions file marks a mailbox the store has set up.  The MDA may have created the
    INBOX Maildir first (mail arrives before the first login), so INBOX alone is not the marker.
    """
    if not (path / SUBSCRIPTIONS_NAME).exists():
        for name in DEFAULT_FOLDERS:
            make_maildir(path / disk_name(name) if name != INBOX else path, folder=name != INBOX)
        write_lines(path / SUBSCRIPTIONS_NAME, AUTO_SUBSCRIBE)


def folder_dir(user: Path, folder: str) -> Path:
    """The directory of a canonical folder name in the user's directory (which need not exist)."""
    if folder == INBOX:
        return user
    path = user / disk_name(folder)
    if path.parent != user or path.name in (".", "..") or "/" in path.name:
        raise FolderNameError("mailbox name escapes the user's directory")
    if len(os.fsencode(path.name)) > NAME_MAX:     # else mkdir fails with ENAMETOOLONG mid-command
        raise FolderNameError("mailbox name too long")
    return path


def folder_tree(user: Path) -> list[FolderInfo]:
    """Every folder, plus \\Noselect parents implied by deeper names, sorted, INBOX first."""
    real: set[str] = {INBOX}
    for entry in os.scandir(user):
        if entry.is_dir() and entry.name.startswith("."):
            name = folder_from_disk(entry.name)
            if name and is_maildir(Path(entry.path)):
                real.add(name)
    every = set(real)
    for name in real:
        parts = name.split(DELIMITER)
        for i in range(1, len(parts)):
            every.add(DELIMITER.join(parts[:i]))
    result = []
    for name in sorted(every, key=lambda n: (n != INBOX, n)):
        has_children = any(o.startswith(name + DELIMITER) for o in every)
        result.append(FolderInfo(name, SPECIAL_USE.get(name), has_children, name in real))
    return result


def read_subscriptions(user: Path) -> list[str]:
    """The subscribed folders (valid names only), sorted, INBOX first."""
    try:
        lines = (user / SUBSCRIPTIONS_NAME).read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    result = []
    for line in lines:
        try:
            result.append(normalize_folder(line.strip()))
        except FolderNameError:
            continue
    return sorted(set(result), key=lambda n: (n != INBOX, n))


# --------------------------------------------------------------------------- folder names


def normalize_folder(name: str) -> str:
    """Validate a Unicode folder name and return its canonical form ("inbox" -> "INBOX").

    Rejects everything that could escape the user's Maildir or confuse the Maildir++ layout:
    empty components ("a//b", "/a"), "." and ".." or any leading ".", NUL and control characters,
    the LIST wildcards "%" and "*", "\\" and "~", and over-long names.
    """
    if not isinstance(name, str) or not name:
        raise FolderNameError("empty mailbox name")
    if len(name) > 512:
        raise FolderNameError("mailbox name too long")
    parts = name.split(DELIMITER)
    for part in parts:
        _check_component(part)
    if parts[0].upper() == INBOX:
        parts[0] = INBOX
    return DELIMITER.join(parts)


def _check_component(part: str) -> None:
    if not part:
        raise FolderNameError("empty hierarchy level in mailbox name")
    if part.startswith("."):
        raise FolderNameError("mailbox name components may not start with '.'")
    if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in part):
        raise FolderNameError("control characters in mailbox name")
    if "%" in part or "*" in part:
        raise FolderNameError("wildcards are not allowed in mailbox names")
    if "\\" in part:
        raise FolderNameError("backslash is not allowed in mailbox names")
    if "~" in part:                 # a home directory in a shell or a URL: never a folder name here
        raise FolderNameError("'~' is not allowed in mailbox names")


def disk_name(folder: str) -> str:
    """Canonical folder name -> Maildir++ directory name (".Sent", ".a.b"); INBOX -> ""."""
    if folder == INBOX:
        return ""
    comps = [encode_mutf7(c).replace(".", "&AC4-") for c in folder.split(DELIMITER)]
    return "." + ".".join(comps)


def folder_from_disk(dirname: str) -> str | None:
    """Maildir++ directory name -> canonical folder name; None if it is not one."""
    if not dirname.startswith(".") or dirname in (".", ".."):
        return None
    try:
        comps = [decode_mutf7(c, strict=False) for c in dirname[1:].split(".")]
        return normalize_folder(DELIMITER.join(comps))
    except (ValueError, StoreError):
        return None


# --------------------------------------------------------------------------- flags


def canonical_flag(flag: str) -> str:
    """Canonical spelling of a system flag ("\\seen" -> "\\Seen"); keywords unchanged."""
    return _CANONICAL_FLAG.get(flag.lower(), flag)


def valid_flag(flag: str) -> bool:
    """A system flag a client may set (not \\Recent), or a keyword that is an IMAP atom."""
    if flag.startswith("\\"):
        return flag.lower() in _CANONICAL_FLAG and flag.lower() != "\\recent"
    return bool(_KEYWORD.match(flag))


def flags_from_info(info: str) -> tuple[set[str], str]:
    """The letters after ":2," -> (IMAP flags, the letters we do not map, kept as found)."""
    flags: set[str] = set()
    other = []
    for letter in info:
        if letter in LETTER_TO_FLAG:
            flags.add(LETTER_TO_FLAG[letter])
        elif letter.isalpha():
            other.append(letter)
    return flags, "".join(other)


def info_from_flags(flags: Iterable[str], other: str = "") -> str:
    """IMAP flags (and unmapped letters) -> the info letters, in ASCII order as maildir(5) asks."""
    letters = {FLAG_TO_LETTER[f] for f in flags if f in FLAG_TO_LETTER} | set(other)
    return "".join(sorted(letters))


def name_flags(sub: str, name: str) -> tuple[set[str], str]:
    """The flags of a file in ``sub`` ("new" or "cur"): a file in new/ has none."""
    if sub == "cur" and ":2," in name:
        return flags_from_info(name.split(":2,", 1)[1])
    return set(), ""


# --------------------------------------------------------------------------- directories


def make_maildir(path: Path, *, folder: bool = False) -> None:
    """Create ``tmp/ new/ cur/`` (and the Maildir++ ``maildirfolder`` marker for a folder)."""
    for sub in ("tmp", "new", "cur"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    if folder:
        (path / "maildirfolder").touch()


def is_maildir(path: Path) -> bool:
    return (path / "cur").is_dir() and (path / "new").is_dir()


def remove_maildir(path: Path) -> None:
    """Remove a folder's Maildir: its messages, its own files, the directory (not its sub-folders)."""
    for sub in ("tmp", "new", "cur"):
        d = path / sub
        if d.is_dir():
            for name in os.listdir(d):
                os.unlink(d / name)
            d.rmdir()
    for name in os.listdir(path):
        p = path / name
        if p.is_file():
            p.unlink()
    path.rmdir()


def write_lines(path: Path, lines: Iterable[str]) -> None:
    """Replace a small text file of the Maildir (subscriptions, uid list) atomically, mode 0644."""
    write_atomic(path, "".join(line + "\n" for line in lines).encode("utf-8"), mode=0o644)


def list_names(path: Path) -> list[str]:
    """Message file names in ``new/`` or ``cur/``: no dot files, none that would break the uid list."""
    try:
        return [n for n in os.listdir(path) if not n.startswith(".") and "\t" not in n and "\n" not in n]
    except FileNotFoundError:
        return []


# --------------------------------------------------------------------------- the writer


def unique_base(now: float) -> str:
    """A new file name (maildir(5)): the time, this process and a counter, then the host."""
    seconds, micro = int(now), int((now % 1) * 1_000_000)
    return f"{seconds}.M{micro}P{os.getpid()}Q{next(_counter)}.{_HOSTNAME}"


def write_message(maildir: Path, data: bytes, *, now: float, flags: Iterable[str] = (),
                  mtime: float | None = None, taken: Container[str] = (),
                  sync_dir: bool = True) -> tuple[str, str, os.stat_result]:
    """Write ``data`` into ``maildir``; return ("new" or "cur", the file name, the file's stat).

    Without flags the file goes into ``new/<base>,S=<size>,W=<size>``, with flags into
    ``cur/<base>,S=<size>,W=<size>:2,<letters>`` (:func:`size_fields`).
    ``now`` names the file, ``mtime`` (if set) becomes its modification time (IMAP's INTERNALDATE);
    a base name in ``taken`` (the folder's known names) or on disk is never used.
    ``sync_dir=False``: the caller fsyncs ``new/``/``cur/`` once after a batch (``sync_subdirs``).
    """
    flags = frozenset(flags)
    sub = "cur" if flags else "new"
    sizes = size_fields(data)
    for _ in range(_NAME_ATTEMPTS):
        base = unique_base(now)
        if base in taken or os.path.lexists(maildir / sub / base):      # a bare name: from before the sizes
            continue
        name = f"{base}{sizes}:2,{info_from_flags(flags)}" if flags else f"{base}{sizes}"
        try:
            stat = create_new(maildir / "tmp" / base, maildir / sub / name, data, mtime=mtime, sync_dir=sync_dir)
        except FileExistsError:
            continue
        return sub, name, stat
    raise StoreError("could not find a free file name in the Maildir")


def size_fields(data: bytes) -> str:
    """Dovecot's size fields for a message file's name (after the base, before ``:2,``): ``,S=`` the
    file's size in octets, ``,W=`` its size with CRLF line ends (RFC 3501's RFC822.SIZE), so a reader
    can count a folder's sizes from the names alone (trusting them only when ``,S=`` matches the
    file's own size).  Both are functions of the content: a name given by the caller stays the same."""
    return f",S={len(data)},W={crlf_size(data)}"


def sync_subdirs(maildir: Path, subs: Iterable[str] = ("new", "cur")) -> None:
    """fsync ``new/`` and ``cur/``: makes a batch of links and renames into them durable."""
    for sub in subs:
        fsync_dir(maildir / sub)


def fixed_base(when: float, unique: str) -> str:
    """A name given by the caller (``write_named``): the time, then ``unique``, then the host."""
    if not re.fullmatch(r"[A-Za-z0-9_-]+", unique):
        raise StoreError(f"not a unique part of a Maildir name: {unique!r}")
    seconds, micro = int(when), int((when % 1) * 1_000_000)
    return f"{seconds}.M{micro}{unique}.{_HOSTNAME}"


def write_named(maildir: Path, data: bytes, *, base: str, redo: bool = False,
                before_link: Callable[[], None] | None = None) -> tuple[str, str, bool]:
    """Deliver ``data`` into ``maildir/new/<base>,S=..,W=..`` unless that delivery already happened.

    Returns ("new" or "cur", the file name, True if written now).  The delivery happened if
    ``new/<base>`` exists or, with ``redo`` (a delivery that a process before this one may have
    made), a file of that name whatever its host part in ``new/`` or ``cur/`` (``find_named``:
    listing the directories costs a scan, so only a redo asks for it).  Looked up before anything
    is written; the link's failure catches a name taken meanwhile.  ``before_link`` is called once
    the whole file is fsynced, before its link into ``new/``.
    """
    if not base or "/" in base or ":" in base or base.startswith("."):
        raise StoreError(f"not a Maildir base name: {base!r}")
    tmp_dir, new_dir = _tmp_and_new(maildir)
    tmp = tmp_dir / base
    name = base + size_fields(data)
    final = new_dir / name
    if redo:
        found = find_named(maildir, base)
        if found is not None:
            return found[0], found[1], False
        tmp.unlink(missing_ok=True)     # a killed attempt of this very delivery
    elif final.exists():
        return "new", name, False
    if before_link is not None:
        before_link = _once(before_link)    # a refused link falls back to create_new: called once
    try:
        if create_unnamed(tmp_dir, final, data, before_link=before_link):
            if not redo:
                tmp.unlink(missing_ok=True)     # a killed attempt's leftover goes, as create_new's retry does
        else:
            create_new(tmp, final, data, before_link=before_link, sync_dir=False)
    except FileExistsError:
        if final.exists():
            return "new", name, False
        if redo:
            raise
        tmp.unlink(missing_ok=True)     # a leftover under tmp/ of this process: written again
        create_new(tmp, final, data, before_link=before_link, sync_dir=False)
    _NEW_SYNC.sync(new_dir)             # the link is durable: one fsync of new/ may serve several
    return "new", name, True


def _once(call: Callable[[], None]) -> Callable[[], None]:
    """``call`` run at its first call only (a crash point counts each moment once)."""
    done = []

    def first() -> None:
        if not done:
            done.append(True)
            call()
    return first


@functools.lru_cache(maxsize=4096)
def _tmp_and_new(maildir: Path) -> tuple[Path, Path]:
    """A Maildir's ``tmp/`` and ``new/`` (asked at every delivery: made once per Maildir)."""
    return maildir / "tmp", maildir / "new"


# Group commit of the fsyncs of ``new/`` after ``write_named``'s links: deliveries into one Maildir
# from several worker threads at once share one directory fsync begun after each link.
_NEW_SYNC = GroupSync()


def find_named(maildir: Path, base: str) -> tuple[str, str] | None:
    """("new" or "cur", the file's name) of the message named ``base`` by ``fixed_base``, whatever
    host wrote it and whatever flags a reader gave it; None if neither directory has it."""
    seconds, dot, rest = base.partition(".")
    unique = rest.partition(".")[0]
    stem = f"{seconds}{dot}{unique}." if dot and unique else base
    for sub in ("new", "cur"):
        try:
            with os.scandir(maildir / sub) as entries:
                for entry in entries:
                    if entry.name.startswith(stem):
                        return sub, entry.name
        except FileNotFoundError:
            pass
    return None


def find_unique(maildir: Path, unique: str) -> tuple[str, str] | None:
    """("new" or "cur", the file's name) of a message named by ``fixed_base(<any time>, unique)``,
    whatever host wrote it and whatever flags a reader gave it; None if neither directory has it.
    (The direct delivery of a relayed message: a resend is another attempt, at another time, of
    the same delivery, :func:`simulator.mda.relay_name`.)"""
    if not unique:
        raise StoreError("an empty unique part matches every name")
    for sub in ("new", "cur"):
        try:
            with os.scandir(maildir / sub) as entries:
                for entry in entries:
                    middle = entry.name.split(".", 2)[1:2]       # M<microseconds><unique>
                    if middle and middle[0].endswith(unique) and middle[0][1:len(middle[0]) - len(unique)].isdigit():
                        return sub, entry.name
        except FileNotFoundError:
            pass
    return None


class NameIndex:
    """The names of the messages in Maildirs' ``new/`` and ``cur/``, each directory read once, for
    the many lookups of the start-up (one per queue entry read: ``find_named`` and ``find_unique``
    would scan the directory each time).  Only while nothing writes into these Maildirs."""

    def __init__(self) -> None:
        self._dirs: dict[Path, tuple[set[str], set[str]]] = {}

    def _of(self, maildir: Path) -> tuple[set[str], set[str]]:
        known = self._dirs.get(maildir)
        if known is None:
            stems: set[str] = set()         # "<seconds>.M<microseconds><unique>"
            uniques: set[str] = set()       # "<unique>", after the microseconds
            for sub in ("new", "cur"):
                try:
                    names = os.listdir(maildir / sub)
                except FileNotFoundError:
                    continue
                for name in names:
                    parts = name.split(".", 2)
                    if len(parts) < 3:
                        continue
                    stems.add(f"{parts[0]}.{parts[1]}")
                    middle = parts[1]
                    digits = len(middle) - len(middle[1:].lstrip("0123456789")) - 1
                    if digits > 0:
                        uniques.add(middle[1 + digits:])
            known = self._dirs[maildir] = (stems, uniques)
        return known

    def has_named(self, maildir: Path, base: str) -> bool:
        """As ``find_named(maildir, base) is not None``."""
        seconds, _, rest = base.partition(".")
        return f"{seconds}.{rest.partition('.')[0]}" in self._of(maildir)[0]

    def has_unique(self, maildir: Path, unique: str) -> bool:
        """As ``find_unique(maildir, unique) is not None`` (``unique`` starts with a letter)."""
        if not unique or unique[0].isdigit():
            raise StoreError(f"not a unique part to look up: {unique!r}")
        return unique in self._of(maildir)[1]


def clean_tmp(root: Path) -> list[Path]:
    """Remove every file under the ``tmp/`` of every Maildir below ``root`` (``<domain>/<user>`` and
    its ``.folder``s); return what was removed.  Call it at start, before anything writes."""
    removed: list[Path] = []
    if not root.is_dir():
        return removed
    for domain in _subdirs(root):
        for user in _subdirs(domain):
            for maildir in (user, *(d for d in _subdirs(user) if d.name.startswith("."))):
                tmp = maildir / "tmp"
                if not tmp.is_dir():
                    continue
                here = [Path(e.path) for e in os.scandir(tmp) if not e.is_dir(follow_symlinks=False)]
                for path in here:
                    path.unlink(missing_ok=True)
                if here:
                    fsync_dir(tmp)
                removed.extend(here)
    return removed


def _subdirs(path: Path) -> list[Path]:
    try:
        return [Path(e.path) for e in os.scandir(path) if e.is_dir(follow_symlinks=False)]
    except (FileNotFoundError, NotADirectoryError):
        return []
