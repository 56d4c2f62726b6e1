"""Durable file writes: what "it is on disk" means everywhere in the simulator.

A file is written under a temporary name, flushed and fsynced, then renamed over the real name, so
a crash leaves the old file or the new one, never half of one; ``fsync_dir`` then makes the rename
itself durable (POSIX needs the directory synced too).

``create_new`` is the same for a file that must not replace anything (a Maildir message, maildir(5)):
the temporary file is created with ``O_EXCL`` and given its final name with ``link()``, which fails
if that name is taken, where ``rename()`` would silently replace the other file.

``create_unnamed`` does the same without the temporary name, where the kernel can (Linux's
``O_TMPFILE``): the file is made in a directory of the same file system with no name at all,
written, fsynced, and given its one name with ``linkat()`` (through ``/proc/self/fd/<n>``, the way
``open(2)`` documents for unprivileged processes), which also fails if the name is taken.  No ``tmp/`` entry is created and
removed per file, so neither directory is changed twice; and on a file system without a journal
(ext4 as this machine's ``/``, mounted without one) the file's fsync no longer has to write out the
``tmp/`` directory that held its temporary name (``ext4_sync_parent``).  A process killed before the
link leaves nothing behind: the kernel frees a file that never had a name.  Where ``O_TMPFILE`` or
``/proc`` is missing it answers False at once (and keeps answering so), and the caller uses
``create_new``.

``GroupSync`` is a group commit of directory fsyncs: a writer that renamed a file into a directory
waits for an fsync of that directory *begun after its rename*; one fsync serves every writer that
renamed meanwhile (the queue's saves from several worker threads at once, issue 12 rule 1: "don't add
fsyncs per message where one commit can serve").

``DataDirLock`` holds an ``flock`` on ``<data>/mailflow.lock`` while a Mailflow runs over that data
directory: start-up tidies the queue's half-written files and every Maildir's ``tmp/`` on the
assumption that nothing else writes there, so a second process on the same directory is refused
(``DataDirBusy``) before it touches anything.  The kernel drops the lock when the process dies, so a
SIGKILL leaves nothing to clean up; the file (holding the pid, for the message) stays.
"""
from __future__ import annotations

import errno
import fcntl
import os
import threading
from pathlib import Path
from typing import Callable

# link() is refused by file systems without hard links (FAT, some network and FUSE mounts).
_NO_LINKS = frozenset({errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS})


def write_atomic(path: Path, data: bytes, *, mode: int = 0o600, sync_dir: bool = False) -> None:
    """Replace ``path`` with ``data`` atomically; the file gets ``mode`` whatever the umask."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        try:
            os.fchmod(fd, mode)                  # O_CREAT's mode is masked by the umask
            write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if sync_dir:
        fsync_dir(path.parent)


def write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` to the descriptor (no Python file object: no buffer, isatty or seek)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def create_new(tmp: Path, final: Path, data: bytes, *, mode: int = 0o600, mtime: float | None = None,
               sync_dir: bool = True, before_link: Callable[[], None] | None = None) -> os.stat_result:
    """Create ``final`` holding ``data`` durably, never replacing a file; return its stat.

    ``tmp`` is created with ``O_EXCL``, written, given ``mtime`` if set, fsynced, then linked to
    ``final`` (``link_new``) and unlinked.  ``FileExistsError`` if ``tmp`` or ``final`` exists; then
    nothing is left behind.  ``sync_dir=False`` leaves the fsync of ``final``'s directory to the
    caller (once for a batch of files).  ``before_link`` is called once the whole file is on disk
    under ``tmp`` (a crash point: :mod:`simulator.crashpoints`).
    """
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        try:
            write_all(fd, data)
            if mtime is not None:
                os.utime(fd, (mtime, mtime))
            os.fsync(fd)
            stat = os.fstat(fd)
        finally:
            os.close(fd)
        if before_link is not None:
            before_link()
        link_new(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    if sync_dir:
        fsync_dir(final.parent)
    return stat


def create_unnamed(directory: Path, final: Path, data: bytes, *, mode: int = 0o600,
                   before_link: Callable[[], None] | None = None) -> bool:
    """Create ``final`` holding ``data`` durably, never replacing a file, with no temporary name:
    an ``O_TMPFILE`` file in ``directory`` (on ``final``'s file system: a Maildir's ``tmp/``) is written,
    fsynced, then linked to ``final``.  True once done; ``FileExistsError`` if ``final`` exists (nothing
    is left behind); False, with nothing done, where the kernel, the file system or a missing
    ``/proc`` does not allow it (the caller then uses :func:`create_new`; after the first such answer
    this process asks no more).  ``before_link`` is called once the whole file is on disk (it may
    have been called when False comes back from a refused link: the caller calls it once).
    The file is fsynced again after its link (the link count is the file's own metadata)."""
    if not _UNNAMED[0]:
        return False
    try:
        fd = os.open(directory, os.O_WRONLY | _O_TMPFILE, mode)
    except OSError as err:
        if err.errno not in _NO_TMPFILE:
            raise                           # a missing directory, no space: as create_new would
        _UNNAMED[0] = False
        return False
    try:
        write_all(fd, data)
        os.fsync(fd)
        if before_link is not None:
            before_link()
        try:
            # linkat(fd, "/proc/self/fd/<fd>", AT_FDCWD, final, AT_SYMLINK_FOLLOW): an absolute
            # source ignores its dir_fd, which is given only so that os.link calls linkat with
            # AT_SYMLINK_FOLLOW (plain link() would link the /proc symlink itself and fail).
            os.link(f"/proc/self/fd/{fd}", final, src_dir_fd=fd)
        except OSError as err:
            if err.errno not in _NO_LINKS and err.errno != errno.EACCES:   # EACCES: /proc/self/fd closed to us
                raise
            _UNNAMED[0] = False             # no hard links here: create_new's rename stands in
            return False
        # The link changed the file's own inode (its link count, 0 when it was fsynced): without
        # this fsync a file system without a journal may keep the count 0 on disk for ~30 s, and
        # after a power cut fsck would clear the new/ entry of a message already acknowledged.
        # (There, this fsync also writes new/; with a journal it commits the link: either way the
        # group fsync of new/ that follows finds little left to do.)
        os.fsync(fd)
    finally:
        os.close(fd)                        # never linked: the kernel frees the file
    return True


# Linux's O_TMPFILE (includes O_DIRECTORY); refused by a file system or a kernel without it.
_O_TMPFILE = getattr(os, "O_TMPFILE", 0)
_NO_TMPFILE = frozenset({errno.EOPNOTSUPP, errno.ENOTSUP, errno.EISDIR, errno.EINVAL, errno.ENOSYS})
_UNNAMED = [bool(_O_TMPFILE) and os.link in os.supports_dir_fd and os.path.isdir("/proc/self/fd")]  # until refused


def link_new(source: Path, target: Path) -> None:
    """Give ``source`` the name ``target`` too, failing with ``FileExistsError`` if it is taken.

    Where the file system has no hard links, the check and a ``rename`` stand in for it (the
    source name is then gone already; a race with another writer is possible there, not here).
    """
    try:
        os.link(source, target)
    except OSError as err:
        if err.errno not in _NO_LINKS:
            raise
        if os.path.lexists(target):
            raise FileExistsError(errno.EEXIST, "file exists", str(target)) from None
        os.rename(source, target)


def move_new(source: Path, target: Path) -> None:
    """Rename ``source`` to ``target`` without replacing a file there (``FileExistsError`` then)."""
    link_new(source, target)
    try:
        os.unlink(source)
    except FileNotFoundError:        # link_new fell back to rename: already gone
        pass


class GroupSync:
    """Group commit of directory fsyncs (thread-safe): ``sync(directory)`` returns once an fsync of
    ``directory`` that began after the call has finished; callers arriving while one runs share the next."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._dirs: dict[Path, _DirState] = {}
        self.fsyncs = 0                     # how many were made (for tests and benchmarks)

    def sync(self, directory: Path) -> None:
        with self._lock:
            state = self._dirs.get(directory)
            if state is None:
                state = self._dirs[directory] = _DirState(threading.Condition(self._lock))
            state.changes += 1
            mine = state.changes            # everything renamed before this call
            while state.synced < mine:
                if state.busy:
                    state.done.wait()
                    continue
                state.busy, upto = True, state.changes
                self._lock.release()
                try:
                    fsync_dir(directory)
                finally:
                    self._lock.acquire()
                    state.busy = False
                    state.done.notify_all()
                state.synced = max(state.synced, upto)
                self.fsyncs += 1


class _DirState:
    __slots__ = ("done", "changes", "synced", "busy")

    def __init__(self, done: threading.Condition) -> None:
        self.done, self.changes, self.synced, self.busy = done, 0, 0, False


class DataDirBusy(RuntimeError):
    """Another process holds the data directory's lock."""

    def __init__(self, directory: Path, pid: str) -> None:
        self.directory, self.pid = directory, pid
        super().__init__(f"the data directory {directory} is in use by another Mailflow"
                         f"{f' (pid {pid})' if pid else ''}: stop it first, or choose another --data")


class DataDirLock:
    """``flock`` on ``<directory>/mailflow.lock``, held from ``acquire`` to ``release`` (or the
    process's end).  Not reentrant: a second holder in the same process is refused as well."""

    NAME = "mailflow.lock"

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / self.NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        if self._fd is not None:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            os.close(fd)
            raise DataDirBusy(self.directory, holder if holder.isdigit() else "") from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)                    # closing the descriptor drops the flock

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> "DataDirLock":
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
