"""A lecture hall: hundreds of Socket.IO viewers on one web process, hop → viewer delay.

Theory of operation: a fresh ``app.py``; ``viewers.py`` opens V viewers in one asyncio process
(spread over source addresses, 40 per address, as a class is many machines) and reports how many
the server admitted; then M messages cross the sandbox at a classroom's pace (one connection, one
after another: each makes 5 hops, every one broadcast to every viewer).  The figure is the hop →
viewer delay pooled over every event at every viewer (p50/p95/p99), the worst viewer's p95, and
how many viewers received every event.  The viewers decode every batch (JSON) like a page does,
in their own process, so their cost is not the server's.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from .servers import Mailflow
from .submission import PASSWORD, RCPT, USER, start_viewers, stop_viewers

HERE = Path(__file__).resolve().parent


def send_at_class_pace(server: Mailflow, submission_port: int, messages: int, bound: float) -> dict:
    """Send ``messages`` one after another over one connection; wait for them in the Maildir.

    Returns ``errors`` and ``delivered``, after a 2 s grace for the last batches to reach the last
    viewers.  (Shared with ``bench/bench_hall.py``, which submits through any process of a hall.)"""
    watch = server.arrivals(RCPT)
    command = [sys.executable, str(HERE / "sender.py"), "--port", str(submission_port),
               "--user", USER, "--password", PASSWORD, "--rcpt", RCPT, "--messages", str(messages),
               "--connections", "1", "--reuse", "--seconds", str(bound), "--tag", "hall"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=bound + 90)
    sent = json.loads(done.stdout.strip().splitlines()[-1])
    watch.wait(len(sent["stamps"]), bound)
    delivered = watch.count()
    watch.close()
    time.sleep(2.0)                      # the last batches reach the last viewers
    return {"errors": sent["errors"], "delivered": delivered}


def run(workdir: Path, viewers: int, messages: int, bound: float) -> dict:
    out: dict = {"viewers_asked": viewers, "messages": messages}
    server = Mailflow(workdir).start()
    viewer_proc = None
    try:
        viewer_proc, ready = start_viewers(server.ports["web"], viewers)
        out["viewers_joined"] = ready.get("ready", 0)
        out["join_errors"] = ready.get("errors", [])
        out.update(send_at_class_pace(server, server.ports["submission"], messages, bound))
        out["hop_to_viewer"] = stop_viewers(viewer_proc)
        viewer_proc = None
        return out
    finally:
        if viewer_proc is not None:
            from . import procs
            procs.end(viewer_proc)
        server.stop()
