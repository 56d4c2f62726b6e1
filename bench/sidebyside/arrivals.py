"""Arrivals: the moment each message file appears in a directory, from inotify(7).

Theory of operation: "delivered" means the message file is in the Maildir's ``new/`` (or, for
MailDev, its ``.eml`` file is written and closed).  Rather than poll the directory, a thread reads
inotify events for that one directory and stamps each with ``time.time()`` as it is read: the
Maildir rename (Mailflow, stdlib ``mailbox``: IN_MOVED_TO), Postfix's link (IN_CREATE), MailDev's
close after writing (IN_CLOSE_WRITE).  The stamp is at most one wake-up late; the thread waits in
``select`` and does nothing else.  Names are kept, so a file can be matched to its Message-ID
afterwards (the time from the 250 to the file in ``new/``).  If the kernel's event queue overflowed
(IN_Q_OVERFLOW) the watcher says so and the count falls back to listing the directory.

libc's inotify_init1 / inotify_add_watch through ctypes: no extra package.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import select
import struct
import threading
import time
from pathlib import Path

IN_CLOSE_WRITE = 0x00000008
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_Q_OVERFLOW = 0x00004000
IN_NONBLOCK = 0o4000
IN_CLOEXEC = 0o2000000
MAILDIR = IN_MOVED_TO | IN_CREATE
CLOSED = IN_CLOSE_WRITE

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_HEADER = struct.Struct("iIII")


class Arrivals:
    """Watch one directory; ``times`` maps file name -> arrival time (time.time())."""

    def __init__(self, directory: Path, mask: int = MAILDIR, suffix: str = "") -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.suffix = suffix
        self.times: dict[str, float] = {}
        self.overflowed = False
        self._lock = threading.Lock()
        self._fd = _libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if self._fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        if _libc.inotify_add_watch(self._fd, os.fsencode(self.directory), mask) < 0:
            err = ctypes.get_errno()
            os.close(self._fd)
            raise OSError(err, f"inotify_add_watch {self.directory}")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="arrivals", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self._fd], [], [], 0.2)
            if not ready:
                continue
            now = time.time()
            try:
                data = os.read(self._fd, 1 << 16)
            except BlockingIOError:
                continue
            offset = 0
            while offset + _HEADER.size <= len(data):
                _wd, mask, _cookie, length = _HEADER.unpack_from(data, offset)
                raw = data[offset + _HEADER.size: offset + _HEADER.size + length].rstrip(b"\0")
                offset += _HEADER.size + length
                if mask & IN_Q_OVERFLOW:
                    self.overflowed = True
                    continue
                name = os.fsdecode(raw)
                if name and name.endswith(self.suffix):
                    with self._lock:
                        self.times.setdefault(name, now)

    def count(self) -> int:
        if self.overflowed:
            return sum(1 for n in os.listdir(self.directory) if n.endswith(self.suffix))
        with self._lock:
            return len(self.times)

    def last(self) -> float | None:
        with self._lock:
            return max(self.times.values(), default=None)

    def wait(self, count: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.count() >= count:
                return True
            time.sleep(0.01)
        return self.count() >= count

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        os.close(self._fd)
