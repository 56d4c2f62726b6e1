"""Durable file writes: what "it is on disk" means everywhere in the simulator.

A file is written under a temporary name, flushed and fsynced, then renamed over the real name, so
a crash leaves the old file or the new one, never half of one; ``fsync_dir`` then makes the rename
itself durable (POSIX needs the directory synced too).
"""
from __future__ import annotations

import os
from pathlib import Path


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
