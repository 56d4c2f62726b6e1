"""MX ingest: Postfix's ``smtp-source`` into each receiving server, delivered msgs/s and CPU/message.

Theory of operation: for one server and one mode -- concurrency c (``-s c``), a new connection per
message or connections reused (``-d``: "don't disconnect") -- a fresh server is started, the
delivery directory is watched (``arrivals.py``), the server's CPU is read, and ``smtp-source``
sends N messages of ``-l`` bytes of payload (2 KB by default) from 127.0.0.1 with the same HELO,
sender and a recipient the server delivers.  The figure is **delivered msgs/s** = messages found
in the Maildir (MailDev: ``.eml`` files written) ÷ (the last arrival − the moment smtp-source
started); the server's **CPU per message** is its process tree's CPU over the same span ÷ the
messages delivered.  smtp-source runs under a time bound; if it is hit, it is ended by its pid and
the run is flagged ``cut`` (the rate is then what arrived in the bound); messages that smtp-source
saw accepted but that never arrived within the bound are counted as ``missing``.  Also kept: the
time to the last 250 (smtp-source's exit) and any error it printed.
"""
from __future__ import annotations

import subprocess
import time
from dataclasses import asdict, dataclass, field

from . import procs
from .servers import HELO, SENDER, Server

PAYLOAD = 2048


@dataclass
class IngestRun:
    server: str
    concurrency: int
    reuse: bool
    sent: int
    delivered: int = 0
    seconds: float | None = None          # start -> last arrival
    accept_seconds: float | None = None   # start -> smtp-source exited (its last 250 and QUIT)
    rate: float | None = None             # delivered / seconds
    cpu_ms_per_msg: float | None = None
    cut: bool = False                     # smtp-source ended at the time bound
    missing: int = 0                      # accepted by every 250 but not delivered within the bound
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def mode_name(concurrency: int, reuse: bool) -> str:
    return f"{'reused' if reuse else 'new'}, c={concurrency}"


def ingest(server: Server, messages: int, concurrency: int, reuse: bool, bound: float,
           payload: int = PAYLOAD) -> IngestRun:
    """One run against a started server (the caller starts and stops it)."""
    run = IngestRun(server.name, concurrency, reuse, messages)
    watch = server.arrivals()
    try:
        command = ["smtp-source", "-s", str(concurrency), "-m", str(messages), "-l", str(payload),
                   "-M", HELO, "-f", SENDER, "-t", server.rcpt, "-C", "5"]
        if reuse:
            command.append("-d")
        command.append(f"{server.host}:{server.port}")
        cpu0 = server.cpu()
        start = time.time()
        source = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            _, err = source.communicate(timeout=bound)
        except subprocess.TimeoutExpired:
            run.cut = True
            procs.end(source, grace=2)
            _, err = source.communicate()
        run.accept_seconds = time.time() - start
        if source.returncode and not run.cut:
            run.errors.append(f"smtp-source exit {source.returncode}")
        run.errors += [line for line in (err or "").splitlines() if line.strip()][:5]
        if watch is None:                      # a sink: "delivered" = accepted, at smtp-source's exit
            cpu1 = server.cpu()
            run.delivered = 0 if run.cut or source.returncode else messages
            last = start + run.accept_seconds
        else:
            remaining = max(1.0, bound - (time.time() - start)) if not run.cut else 2.0
            watch.wait(messages, remaining)
            cpu1 = server.cpu()
            run.delivered = watch.count()
            last = watch.last()
        # smtp-source finished with every 250, yet files are missing after the bound: reported as a problem
        run.missing = 0 if run.cut or source.returncode else max(0, messages - run.delivered)
        if last is not None and run.delivered:
            run.seconds = last - start
            run.rate = run.delivered / run.seconds
            run.cpu_ms_per_msg = (cpu1 - cpu0) * 1000 / run.delivered
        return run
    finally:
        if watch is not None:
            watch.close()
