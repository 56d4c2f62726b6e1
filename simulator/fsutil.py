"""Durable file writes: what "it is on disk" means everywhere in the simulator.

A file is written under a temporary name, flushed and fsynced, then renamed over the real name, so
a crash leaves the old file or the new one, never half of one; ``fsync_dir`` then makes the rename
itself durable (POSIX needs the directory synced too).

``create_new`` is the same for a file that must not replace anything (a Maildir message, maildir(5)):
the temporary file is created with ``O_EXCL`` and given its final name with ``link()``, which fails
if that name is taken, where ``rename()`` would silently replace the other file.
"""
from __future__ import annotations

import errno
import os
from pathlib import Path

# link() is refused by file systems without hard links (FAT, some network and FUSE mounts).
_NO_LINKS = frozenset({errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS})


def write_atomic(path: Path, data: bytes, *, mode: int = 0o600, sync_dir: bool = False) -> None:
    """Replace ``path`` with ``data`` atomically; the file gets ``mode`` whatever the umask."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)     # O_CREAT's mode is masked by the umask
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if sync_dir:
        fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def create_new(tmp: Path, final: Path, data: bytes, *, mode: int = 0o600, mtime: float | None = None,
               sync_dir: bool = True) -> os.stat_result:
    """Create ``final`` holding ``data`` durably, never replacing a file; return its stat.

    ``tmp`` is created with ``O_EXCL``, written, given ``mtime`` if set, fsynced, then linked to
    ``final`` (``link_new``) and unlinked.  ``FileExistsError`` if ``tmp`` or ``final`` exists; then
    nothing is left behind.  ``sync_dir=False`` leaves the fsync of ``final``'s directory to the
    caller (once for a batch of files).
    """
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if mtime is not None:
                os.utime(handle.fileno(), (mtime, mtime))
            os.fsync(handle.fileno())
            stat = os.fstat(handle.fileno())
        link_new(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    if sync_dir:
        fsync_dir(final.parent)
    return stat


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
