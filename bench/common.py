"""Helpers shared by the benchmark scripts (they run as `python bench/<script>.py`)."""
from __future__ import annotations

import random
import socket

from simulator.config import Ports

_rng = random.Random()


def free_port() -> int:
    """A port free for TCP and UDP on 127.0.0.1, below the kernel's ephemeral range (32768 and up),
    so that no client socket can be sitting on it when the world binds it a moment later."""
    for _ in range(200):
        port = _rng.randrange(20000, 32000)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp, \
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            try:
                tcp.bind(("127.0.0.1", port))
                udp.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port")


def sandbox_ports() -> Ports:
    """Free ports for every mail service of a world; the web UI on port 0 (the OS picks)."""
    return Ports(mx=free_port(), submission=free_port(), smtps=free_port(), dns=free_port(),
                 imap=free_port(), imaps=free_port(), pop3=free_port(), pop3s=free_port(), web=0)


def percentile(values: list[float], p: float) -> float:
    """Linear interpolation between closest ranks; NaN for no values."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)
