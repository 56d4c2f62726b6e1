"""Submission end to end: AUTH at Mailflow's front door, two SMTP hops, into bob's Maildir.

Theory of operation: a fresh ``app.py``; optionally V Socket.IO viewers (``viewers.py``) joined
first; the Maildir's ``new/`` watched (``arrivals.py``); then ``sender.py`` submits N messages as
alice@alpha.test to bob@beta.test over c connections (new per message, or reused), AUTH PLAIN, and
stamps each 250 with its Message-ID.  Each message then crosses the whole sandbox: MSA queue
(fsync), DNS MX lookup, relay to mx1.beta.test, MX queue (fsync), Maildir (fsync), with every hop
an event (JSON-lines log, Socket.IO).  Figures: **delivered msgs/s** = files in ``new/`` ÷ (last
arrival − the senders' start); **250 → new/** per message = its file's arrival − its 250
(p50/p95/p99; the file is matched by its Message-ID); server CPU per message; and, with viewers,
the hop → viewer delay; the sending program's own CPU per message.  Bounded by ``bound`` seconds;
a short run is flagged ``cut``.  The same run goes into the bare two-hop reference
(``relay_server.py``, without and with ``--durable``) as the floor of the submission target.
"""
from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

from . import procs, viewers as viewer_stats
from .latency import percentile
from .servers import RELAYS, AiosmtpdRelay, Mailflow

HERE = Path(__file__).resolve().parent
USER, PASSWORD, RCPT = "alice@alpha.test", "alice", "bob@beta.test"


def message_id(path: Path) -> str | None:
    try:
        with open(path, "rb") as handle:
            for raw in handle:
                if raw in (b"\r\n", b"\n"):
                    return None
                if raw[:11].lower() == b"message-id:":
                    return raw[11:].strip().strip(b"<>").decode(errors="replace")
    except OSError:
        return None
    return None


def start_viewers(port: int, count: int) -> tuple[subprocess.Popen, dict]:
    proc = subprocess.Popen([sys.executable, str(HERE / "viewers.py"), str(port), str(count)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    ready = json.loads(proc.stdout.readline() or "{}")
    return proc, ready


def stop_viewers(proc: subprocess.Popen) -> dict:
    try:
        proc.stdin.write("stop\n")
        proc.stdin.flush()
        answer = json.loads(proc.stdout.readline() or '{"viewers": []}')
    finally:
        procs.end(proc, grace=5)
    return viewer_stats.summarise(answer)


def run(workdir: Path, messages: int, concurrency: int, reuse: bool, viewers: int, bound: float,
        server_name: str = "mailflow") -> dict:
    """One run into Mailflow, or (``server_name`` one of ``servers.RELAYS``, no viewers) into the bare
    two-hop reference; the sender's own CPU is measured too (``client_cpu_ms_per_msg``), so the report
    can say what the machine's CPUs leave for the servers at a given rate."""
    out: dict = {"server": server_name, "messages": messages, "concurrency": concurrency, "reuse": reuse,
                 "viewers": viewers}
    if server_name in RELAYS:
        server = AiosmtpdRelay(workdir, USER, PASSWORD, durable=server_name == RELAYS[1]).start()
    else:
        server = Mailflow(workdir).start()
    viewer_proc = watch = None
    try:
        if viewers:
            viewer_proc, ready = start_viewers(server.ports["web"], viewers)
            out["viewers_joined"] = ready.get("ready", 0)
            out["viewer_errors"] = ready.get("errors", [])
        watch = server.arrivals(RCPT)
        cpu0 = server.cpu()
        # the sender is the only child waited for in between: its CPU, threads included
        client0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        command = [sys.executable, str(HERE / "sender.py"), "--port", str(server.ports["submission"]),
                   "--user", USER, "--password", PASSWORD, "--rcpt", RCPT, "--messages", str(messages),
                   "--connections", str(concurrency), "--seconds", str(bound), "--tag", f"s{time.time():.0f}"]
        if reuse:
            command.append("--reuse")
        done = subprocess.run(command, capture_output=True, text=True, timeout=bound + 90)
        client1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        client_cpu = (client1.ru_utime - client0.ru_utime) + (client1.ru_stime - client0.ru_stime)
        sent = json.loads(done.stdout.strip().splitlines()[-1]) if done.stdout.strip() else \
            {"start": time.time(), "stamps": {}, "errors": [done.stderr[-300:]]}
        stamps = sent["stamps"]
        out["accepted"] = len(stamps)
        out["errors"] = sent["errors"]
        watch.wait(len(stamps), max(1.0, bound - (time.time() - sent["start"])))
        cpu1 = server.cpu()
        out["delivered"] = watch.count()
        out["cut"] = out["delivered"] < messages
        last = watch.last()
        if last is not None and out["delivered"]:
            out["seconds"] = last - sent["start"]
            out["rate"] = out["delivered"] / out["seconds"]
            out["cpu_ms_per_msg"] = (cpu1 - cpu0) * 1000 / out["delivered"]
            out["client_cpu_ms_per_msg"] = client_cpu * 1000 / out["delivered"]
        waits = []
        for name, arrived in dict(watch.times).items():
            msgid = message_id(watch.directory / name)
            if msgid in stamps:
                waits.append(arrived - stamps[msgid])
        out["matched"] = len(waits)
        for p in (0.5, 0.95, 0.99):
            value = percentile(waits, p)
            out[f"to_maildir_p{int(p * 100)}_ms"] = None if value is None else value * 1000
        if viewer_proc is not None:
            out["hop_to_viewer"] = stop_viewers(viewer_proc)
            viewer_proc = None
        return out
    finally:
        if watch is not None:
            watch.close()
        if viewer_proc is not None:
            procs.end(viewer_proc)
        server.stop()
