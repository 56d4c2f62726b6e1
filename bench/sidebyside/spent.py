"""Spent run directories, set aside until the benchmark ends rather than deleted between runs.

Why: on ext4 a new file's inode is sought from the start of its block group, and each free inode
deleted in the last seconds to minutes is looked at and passed over (``recently_deleted``: five
seconds, or five minutes while that part of the inode table is not yet written back).  Deleting one
run's few thousand files right before the next run made that run's file creations 10-20 times
dearer on this VM (~25 -> 250-650 us each, ``perf``: ``find_get_block_common`` under
``recently_deleted``), so each server's figures depended on the clean-up of the run before it --
and Postfix, which creates two files per message, paid the most.  A run's directory is therefore
renamed into a spent directory beside it (a rename frees no inode) and everything is deleted once,
when the benchmark ends (``atexit``).  With less than :data:`LOW_DISK` free, or ``at_once``, a run's
directory is deleted at once as before.
"""
from __future__ import annotations

import atexit
import itertools
import shutil
import tempfile
from pathlib import Path

LOW_DISK = 3 << 30                 # bytes free below which spent runs are deleted at once
_spent: dict[Path, Path] = {}      # parent directory -> its spent directory (a rename stays on one file system)
_count = itertools.count(1)


def discard(path: Path, *, at_once: bool = False) -> bool:
    """Set ``path`` aside (True) or, with ``at_once`` or a disk running low, delete it now (False)."""
    path = Path(path)
    if not path.exists():
        return True
    if at_once or shutil.disk_usage(path.parent).free < LOW_DISK:
        shutil.rmtree(path, ignore_errors=True)
        return False
    parent = path.parent.resolve()
    if parent not in _spent:
        if not _spent:
            atexit.register(empty)
        _spent[parent] = Path(tempfile.mkdtemp(prefix="spent-runs-", dir=parent))
    path.rename(_spent[parent] / f"{next(_count):04d}-{path.name}")
    return True


def empty() -> None:
    """Delete everything set aside (the benchmark has ended)."""
    while _spent:
        _parent, spent = _spent.popitem()
        shutil.rmtree(spent, ignore_errors=True)
