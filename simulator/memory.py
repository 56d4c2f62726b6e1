"""Resident memory of a long-running ``app.py``: settle once everything listens.

Theory of operation
-------------------
Two things, not the live data, made ``app.py`` grow by 70-80 MiB after a few hundred messages
(bench/sidebyside/startup.py: 200 messages with 30 viewers), measured with tracemalloc and
``gc.DEBUG_SAVEALL``:

- **Sessions die in reference cycles.**  aiosmtpd's session object refers to itself (bound command
  methods kept in its own attributes, the cancelled handler's traceback), so an ended SMTP session --
  with its TLS layer, whose read buffer alone is 256 KiB (asyncio's ``SSLProtocol``) -- is freed
  only by a *full* collection.  CPython runs one only when the objects promoted to the oldest
  generation since the last one exceed a quarter of those already there; after start-up that is a
  quarter of the ~70,000 objects start-up leaves (modules, classes, functions), so hundreds of dead
  sessions wait.  (The session now also drops its TLS buffer when the connection is lost: session.py.)
  :func:`settle` collects once and then **freezes** what start-up made (``gc.freeze``: modules,
  classes, the world), moving it out of the collector's sight for good: full collections then
  weigh only what was made since, run soon, and each is short (it no longer walks the modules).
- **glibc keeps freed large blocks.**  A block over ``M_MMAP_THRESHOLD`` (128 KiB) gets its own
  mapping, but glibc raises that threshold each time such a block is freed, so later TLS buffers
  come from the heap, and a freed buffer in the middle of the heap stays resident.  :func:`settle`
  fixes the threshold at 128 KiB (fixing it turns the raising off), so every such buffer is
  returned to the system when its session is collected.

Neither changes what the simulator does; both only decide when freed memory is reclaimed.  ctypes
is imported here, after the ports file is written, so start-up does not pay for it; without glibc
(another libc, another system) the malloc part is skipped.

A frozen object is out of the cycle collector's sight, so what start-up made must not become
cyclic garbage later: the one such thing is the mail world itself, replaced when a lesson is loaded
or reset.  app.py calls :func:`refreeze_after` on the director's ``"world"`` event: a moment later
(the director's ``load`` has returned and dropped the old stack) everything is thawed, collected
once -- the old world with it -- and what is left frozen again.
"""
from __future__ import annotations

import gc
import logging
import sys
import threading
import time

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1           # glibc's mallopt parameters (malloc.h)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 128 * 1024     # glibc's own default, fixed: blocks this large are mapped and unmapped
TRIM_THRESHOLD = 1024 * 1024    # free heap top above this goes back to the system


def settle() -> None:
    """Once everything listens: collect, freeze what start-up made, tune malloc (see above)."""
    began = time.perf_counter()
    collected = gc.collect()
    gc.freeze()
    tuned = _tune_malloc()
    log.debug("memory settled in %.1f ms: %d objects collected, %d frozen, malloc %s",
              (time.perf_counter() - began) * 1000, collected, gc.get_freeze_count(),
              "tuned" if tuned else "as it is")


def refreeze_after(delay: float = 2.0) -> None:
    """The world was swapped: in ``delay`` seconds, thaw, collect (the old world), freeze again."""
    timer = threading.Timer(delay, _refreeze)
    timer.daemon = True
    timer.start()


def _refreeze() -> None:
    began = time.perf_counter()
    gc.unfreeze()
    collected = gc.collect()
    gc.freeze()
    log.debug("memory settled again in %.1f ms: %d objects collected", (time.perf_counter() - began) * 1000, collected)


def _tune_malloc() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        mallopt = libc.mallopt
    except (ImportError, OSError, AttributeError):     # not glibc
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
