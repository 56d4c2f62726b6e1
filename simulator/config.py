"""Ports, addresses, data directory and timings: everything the mail stack is told, in one record.

Config flows in (from app.py's arguments, or from a test fixture); nothing reads module globals.
Default ports are non-root and outside the ranges that common services use on a desktop.
"""
from __future__ import annotations

import os
import random
import socket
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_PORTS = {
    "mx": 2525,          # the sandbox's "port 25": every MTA host listens here on its own address
    "submission": 1587,  # MSA, STARTTLS (front door and each MSA host)
    "smtps": 1465,       # MSA, implicit TLS (front door)
    "dns": 1053,         # the sandbox DNS, UDP and TCP, on 127.0.0.1
    "imap": 1143,
    "imaps": 1993,
    "pop3": 1110,
    "pop3s": 1995,
    "web": 8580,
    "app": 1025,         # the app port: an application's mailer, no AUTH (where a local sandbox is expected)
}


@dataclass(frozen=True, slots=True)
class Ports:
    mx: int = DEFAULT_PORTS["mx"]
    submission: int = DEFAULT_PORTS["submission"]
    smtps: int = DEFAULT_PORTS["smtps"]
    dns: int = DEFAULT_PORTS["dns"]
    imap: int = DEFAULT_PORTS["imap"]
    imaps: int = DEFAULT_PORTS["imaps"]
    pop3: int = DEFAULT_PORTS["pop3"]
    pop3s: int = DEFAULT_PORTS["pop3s"]
    web: int = DEFAULT_PORTS["web"]
    app: int = DEFAULT_PORTS["app"]     # 0: the OS picks a free one

    @classmethod
    def free(cls, rng: random.Random | None = None, avoid: set[int] | frozenset[int] = frozenset()) -> "Ports":
        """Free ports for every mail service (the web on port 0: the OS picks), for a world that
        must not collide with another one: tests, benchmarks, a headless run.  None of them is in
        ``avoid`` (ports given to other services by hand)."""
        rng = rng or random.Random()
        chosen: dict[str, int] = {}
        for name in DEFAULT_PORTS:
            if name != "web":           # distinct: several doors listen on one address (127.0.0.1, a host's)
                chosen[name] = free_port(rng, avoid=set(avoid) | set(chosen.values()))
        return cls(**chosen, web=0)


def free_port(rng: random.Random, avoid: set[int] | frozenset[int] = frozenset()) -> int:
    """A port free for TCP and UDP at every IPv4 address, loopback's included (sandbox hosts share
    it on their own).

    The check binds to the wildcard address, which any socket on that port conflicts with, whatever
    its address: an MX already listening at 127.42.1.2 only (another world of the same process, a
    test's) makes the port taken, where a check at 127.0.0.1 alone would hand it out again.  The
    check's sockets never listen and are closed at once, so nothing can reach them.

    Chosen below the kernel's ephemeral range (32768 and up on Linux), so that no client socket of
    an earlier run can be sitting on it when the world binds it a moment later.
    """
    low, high = _port_range()
    for _ in range(200):
        port = rng.randrange(low, high)
        if port in avoid:               # already given to another door of the same world
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp, \
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            try:
                tcp.bind(("", port))
                udp.bind(("", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port")


PORT_RANGE_ENV = "MAILFLOW_PORT_RANGE"


def _port_range() -> tuple[int, int]:
    """Where :func:`free_port` looks: 20000-32000, or ``$MAILFLOW_PORT_RANGE`` ("low-high").

    The test suite runs in several processes and gives each its own slice, so two processes never
    pick the same port between one's check and its bind."""
    value = os.environ.get(PORT_RANGE_ENV, "")
    if value:
        low, _, high = value.partition("-")
        return int(low), int(high)
    return 20000, 32000


@dataclass(frozen=True, slots=True)
class QueuePolicy:
    """Retry timing, compressed for a classroom: seconds where a real MTA uses minutes and days.

    RFC 5321 §4.5.4.1 asks for at least 30 minutes between attempts and 4-5 days before giving up;
    here the first retry comes after ``first_retry`` seconds, each next one ``backoff`` times later
    (at most ``max_interval``), and a message is bounced after ``lifetime`` seconds in the queue.
    """
    first_retry: float = 5.0
    backoff: float = 2.0
    max_interval: float = 60.0
    lifetime: float = 600.0
    connect_timeout: float = 5.0
    command_timeout: float = 30.0

    def delay(self, attempts: int) -> float:
        return min(self.max_interval, self.first_retry * self.backoff ** max(0, attempts - 1))


@dataclass(frozen=True, slots=True)
class Config:
    data_dir: Path
    ports: Ports = field(default_factory=Ports)
    front_host: str = "127.0.0.1"        # the front door for real clients (and the DNS server)
    web_host: str = "127.0.0.1"
    queue: QueuePolicy = field(default_factory=QueuePolicy)
    max_message_size: int = 10 * 1024 * 1024     # every SMTP door's SIZE (RFC 1870): 552 5.3.4 above it
    max_recipients: int = 100            # RCPTs per message at every SMTP door: 452 4.5.3 beyond (RFC 5321 §4.5.3.1.8)
    smtp_sessions_per_address: int = 20  # concurrent SMTP sessions per client address, all doors: 421 4.7.0 beyond
    max_hops: int = 30                   # Received: headers before a message is a mail loop (RFC 5321 §6.3)
    step: bool = False                   # start with the step gate paused
    hop_delay: float = 0.0               # seconds each hop waits in play mode
    seed: int | None = None              # for the random order of equal-preference MX hosts
    tls: bool = True                     # STARTTLS and implicit-TLS ports (certificate in data_dir/tls)
    # Real clients from the classroom network (off by default): the front door's submission, smtps,
    # IMAP(S) and POP3(S) are also served on this address, and the certificate covers it.
    classroom_address: str | None = None
    # The webmail's own source address: its connections to the front door come from here, so the
    # servers and the page tell its hops from other clients' (simulator/webmail).
    webmail_source: str = "127.0.0.80"
    # The app port (front_host:ports.app): an application's mailer sends there without AUTH, from any
    # sender; ``app_auth`` is "any" (AUTH offered, any credentials accepted), "check" (checked
    # against the world's users) or "off" (not offered).
    app_port: bool = True
    app_auth: str = "any"
    # Mail for domains outside the sandbox: "bounce" or "catch"; None: the scenario's choice.
    outside: str | None = None
    # Retention per mailbox (simulator.store.retention): after a delivery, the INBOX keeps the newest
    # ``keep_messages`` and those younger than ``keep_for`` seconds; None: no limit.
    keep_messages: int | None = None
    keep_for: float | None = None
