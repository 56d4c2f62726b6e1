"""Start-up time to every port listening, and Mailflow's memory: idle and with 30 viewers.

Theory of operation: ``app.py`` with its defaults, every port 0 and
``--ports-file``: app.py writes that file once every listener -- DNS, the SMTP doors, IMAP, POP3,
their TLS ports, the app port and the web UI -- is bound, so the time from ``Popen`` to the file
is the start-up time, Python's own start included.  Measured twice: on a fresh data directory (the
first start: the TLS certificate and the Maildirs are made) and on the same directory again (every
later start).  After the restart the server is left alone for ``idle`` seconds: **RSS idle**.
Then 30 viewers join and 200 messages cross the sandbox (10 connections): **RSS with 30 viewers**
(now and its peak, ``VmHWM``).  Every listed TCP port is then checked to answer a connect.
"""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

from .servers import Mailflow
from .submission import PASSWORD, RCPT, USER, start_viewers, stop_viewers

HERE = Path(__file__).resolve().parent
TCP_PORTS = ("submission", "smtps", "dns", "imap", "imaps", "pop3", "pop3s", "app", "web")


def run(workdir: Path, idle: float, viewers: int, messages: int, bound: float) -> dict:
    out: dict = {}
    server = Mailflow(workdir)
    server.start()
    out["first_start_s"] = server.started_in
    server.stop()
    server.start()
    try:
        out["restart_s"] = server.started_in
        out["ports_answering"] = sum(_answers(server.ports[name]) for name in TCP_PORTS if name in server.ports)
        out["ports_listed"] = sum(1 for name in TCP_PORTS if name in server.ports)
        time.sleep(idle)
        out["rss_idle_mib"] = server.rss()
        viewer_proc, ready = start_viewers(server.ports["web"], viewers)
        out["viewers_joined"] = ready.get("ready", 0)
        watch = server.arrivals(RCPT)
        command = [sys.executable, str(HERE / "sender.py"), "--port", str(server.ports["submission"]),
                   "--user", USER, "--password", PASSWORD, "--rcpt", RCPT, "--messages", str(messages),
                   "--connections", "10", "--reuse", "--seconds", str(bound), "--tag", "rss"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=bound + 90)
        sent = json.loads(done.stdout.strip().splitlines()[-1])
        watch.wait(len(sent["stamps"]), bound)
        out["delivered_with_viewers"] = watch.count()
        watch.close()
        out["rss_viewers_mib"] = server.rss()
        out["rss_viewers_peak_mib"] = server.rss("VmHWM")
        out["hop_to_viewer"] = stop_viewers(viewer_proc)
        return out
    finally:
        server.stop()


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False
