"""One app.py for the MX drivers (bench_mx_cpu, bench_mx_latency, bench_mx_syscalls).

Each starts ``app.py`` from a tree (this one, or ``--baseline DIR`` for A/B) on a fresh data
directory with every port free (loopback, nothing fixed), waits for its ports file, and asks the
sandbox DNS for mx1.beta.test's address: the drivers then talk to that MX by address, never through
the machine's resolver.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import dns.message
import dns.query

PORT_NAMES = ("web", "mx", "submission", "smtps", "dns", "imap", "imaps", "pop3", "pop3s", "app")


def app_command(tree: Path, work: Path, *extra: str) -> list[str]:
    """``app.py`` from ``tree`` on ``work/data``, its ports file ``work/ports.json``, every port free."""
    return [sys.executable, str(tree / "app.py"), "--data", str(work / "data"), "--fresh",
            "--ports-file", str(work / "ports.json"), *extra,
            *[arg for name in PORT_NAMES for arg in (f"--{name}-port", "0")]]


def listening(work: Path, timeout: float = 30.0) -> dict:
    """The ports the app wrote once everything listened (waits for the file, at most ``timeout`` s)."""
    ports = work / "ports.json"
    deadline = time.monotonic() + timeout
    while not (ports.exists() and ports.stat().st_size) and time.monotonic() < deadline:
        time.sleep(0.05)
    return json.loads(ports.read_text())


def mx1_address(ports: dict) -> str:
    """mx1.beta.test's loopback address, from the sandbox's own DNS."""
    query = dns.message.make_query("mx1.beta.test", "A")
    return dns.query.udp(query, "127.0.0.1", port=ports["dns"], timeout=3).answer[0][0].address
