"""Spent run directories, set aside until the benchmark ends rather than deleted between runs.

Why: on ext4 without a journal (this VM's disk) a new file's inode is sought from the start of its
block group, and each free inode deleted recently is looked at and passed over
(``recently_deleted``: within a minute, or six while that part of the inode table is not yet
written back).  Deleting one run's few thousand files right before the next run made that run's
file creations 10-20 times dearer on this VM (~25 -> 250-650 us each, ``perf``:
``find_get_block_common`` under ``recently_deleted``), so each server's figures depended on the
clean-up of the run before it -- and Postfix, which creates two files per message, paid the most.
A run's directory is therefore renamed into a spent directory beside it (a rename frees no inode)
and everything is deleted once, when the benchmark ends (``atexit``; a SIGTERM is turned into a
normal exit so that it runs).  With less than :data:`LOW_DISK` free, with ``at_once``, or if the
rename fails, a run's directory is deleted at once as before.
"""
from __future__ import annotations

import atexit
import itertools
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path

LOW_DISK = 3 << 30                 # bytes free below which spent runs are deleted at once
_spent: dict[Path, Path] = {}      # parent directory -> its spent directory (a rename stays on one file system)
_count = itertools.count(1)


def discard(path: Path, *, at_once: bool = False) -> bool:
    """Set ``path`` aside (True) or delete it now (False): with ``at_once``, when the disk runs low,
    or when it cannot be renamed."""
    path = Path(path)
    if not path.exists():
        return True
    if not at_once and shutil.disk_usage(path.parent).free >= LOW_DISK:
        try:
            path.rename(_spent_dir(path.parent.resolve()) / f"{next(_count):04d}-{path.name}")
            return True
        except OSError:
            pass
    shutil.rmtree(path, ignore_errors=True)
    return False


def _spent_dir(parent: Path) -> Path:
    if parent not in _spent:
        if not _spent:
            atexit.register(empty)
            if threading.current_thread() is threading.main_thread() and \
                    signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
                signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))   # so that atexit runs
        _spent[parent] = Path(tempfile.mkdtemp(prefix="spent-runs-", dir=parent))
    return _spent[parent]


def empty() -> None:
    """Delete everything set aside (the benchmark has ended)."""
    while _spent:
        _parent, spent = _spent.popitem()
        shutil.rmtree(spent, ignore_errors=True)
