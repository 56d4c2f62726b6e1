"""Trace ids: one per message, followed across every hop ("follow this message").

A message gets its trace id where it enters the sandbox (the MSA, or an MX a program talked to
by hand).  When a sandbox MTA relays it, the receiving server must find the same id: the sending
side notes its outgoing socket's local address (the receiver's peer address) in the book while the
connection is open, and the receiving handler looks it up.
"""
from __future__ import annotations

import asyncio
import random
from typing import Any


class TraceBook:
    """New trace ids, and the trace of each open outbound connection (keyed by its local address)."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._counter = 0
        self._outbound: dict[tuple[str, int], str] = {}

    def new(self) -> str:
        self._counter += 1
        return f"m-{self._rng.getrandbits(20):05x}{self._counter:x}"

    def note(self, local: tuple[str, int], trace: str) -> None:
        """Our client socket ``local`` carries the message of ``trace``."""
        self._outbound[(local[0], local[1])] = trace

    def forget_later(self, local: tuple[str, int], delay: float = 2.0) -> None:
        """Forget ``local`` after ``delay`` seconds: the receiving server publishes its session fact
        when the connection closes, so it must still find the trace a moment after (on the loop)."""
        asyncio.get_running_loop().call_later(delay, self._outbound.pop, (local[0], local[1]), None)

    def for_peer(self, peer: Any) -> str | None:
        """The trace of a connection whose client is ``peer`` (host, port), if it is one of ours."""
        if not peer:
            return None
        return self._outbound.get((peer[0], peer[1]))
