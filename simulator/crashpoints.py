"""Crash points: named places in the delivery path where a crash test can freeze the process, to kill it there.

Theory of operation
    Exactly-once delivery across crashes (issue 12, rule 1) is only proved if the process dies *inside*
    each window where the disk holds one fact and not yet the next: a message in the Maildir whose
    queue entry still waits, a relay the next hop acknowledged while the sending queue still holds it.
    A SIGKILL sent at a random moment hits those windows a few times in a hundred; a test that must
    fail whenever the rule is broken needs to hit them every time.

    ``MAILFLOW_CRASH_AT="relay.acked:2"`` (names and counts, comma-separated) makes the process, the
    second time it reaches :func:`reach` with ``"relay.acked"``, write that name to the file named by
    ``MAILFLOW_CRASH_FILE`` and stop itself with SIGSTOP, sent to the calling thread (which so halts
    at that very point; the others a moment later).  The test
    waits for the file and kills the stopped process by its pid with SIGKILL, as a power cut or the
    OOM killer would.  Unset (always, outside the crash tests), :func:`reach` costs one dict lookup.

    The points (where they are reached, and what the disk holds then):

    ``queue.stored``   the message and its queue entry are fsynced; the 250 is not yet sent
    ``relay.acked``    the next hop said 250 to the end of DATA; the sending queue still has the entry
    ``mda.written``    the whole message is fsynced under the Maildir's ``tmp/``; not yet in ``new/``
    ``mda.linked``     the message is in ``new/`` (linked, directory fsynced); the entry still waits
    ``bounce.queued``  a bounce is in the queue; the original entry does not yet say it was bounced
    ``direct.written`` the MX delivers before its 250 (:mod:`simulator.direct`): a whole copy is fsynced
                       under the Maildir's ``tmp/``, not yet in ``new/``; nothing queued, no 250 sent
    ``direct.linked``  the MX's direct copies are in ``new/`` (directory fsynced); a relayed message's
                       ``.done`` record is not yet written; no 250 sent
    ``direct.recorded`` the record is durable too (a relayed message only); the 250 is not yet sent
"""
from __future__ import annotations

import os
import signal
import threading
from collections import Counter

__all__ = ["ENV", "FILE_ENV", "POINTS", "reach", "stand_in_for"]

ENV = "MAILFLOW_CRASH_AT"
FILE_ENV = "MAILFLOW_CRASH_FILE"
POINTS = ("queue.stored", "relay.acked", "mda.written", "mda.linked", "bounce.queued", "direct.written",
          "direct.linked", "direct.recorded")

_lock = threading.Lock()
_owner: int | None = None       # in the disk helper: app.py's pid, stopped first and named in the file
_seen: Counter[str] = Counter()
_armed: dict[str, int] | None = None


def _parse(spec: str) -> dict[str, int]:
    armed: dict[str, int] = {}
    for item in spec.split(","):
        name, _, count = item.strip().partition(":")
        if name:
            if name not in POINTS:
                raise ValueError(f"{ENV}: unknown crash point {name!r} (known: {', '.join(POINTS)})")
            armed[name] = int(count or 1)
    return armed


def reach(name: str) -> None:
    """Called at crash point ``name``: freeze the process here if the environment asks for it."""
    global _armed
    if _armed is None:
        _armed = _parse(os.environ.get(ENV, ""))
    if not _armed or name not in _armed:
        return
    with _lock:
        _seen[name] += 1
        hit = _seen[name] == _armed[name]
    if not hit:
        return
    if _owner is not None:              # the disk helper: app.py stops here too, as one process would
        try:
            os.kill(_owner, signal.SIGSTOP)
        except OSError:
            pass
    marker = os.environ.get(FILE_ENV)
    if marker:
        with open(marker, "w", encoding="utf-8") as handle:
            handle.write(f"{name} {_owner if _owner is not None else os.getpid()}\n")
    # Sent to this very thread: it stops before it runs another line.  A SIGSTOP sent to the process
    # (kill(getpid())) is taken by the main thread, and under load this one ran on for a millisecond
    # or more meanwhile -- past the window the test meant to kill it in.  The other threads stop a
    # moment later; a worker thread may finish its write, as it might before a power cut.
    signal.pthread_kill(threading.get_ident(), signal.SIGSTOP)    # the test sends SIGKILL


def stand_in_for(pid: int) -> None:
    """This process does part of process ``pid``'s work (the disk helper, :mod:`simulator.diskhelper`):
    a crash point reached here stops ``pid`` first (SIGSTOP), and the file names ``pid``, the process
    a crash test kills; this one dies with it (``PR_SET_PDEATHSIG``)."""
    global _owner
    _owner = pid
