"""The relay's connection cache and per-destination concurrency limit (Postfix's ``scache`` and
``default_destination_concurrency_limit``).

Theory of operation
    Every relay attempt asks :meth:`ConnectionCache.acquire` for its key (the sending host's
    address, the next hop's address and port, the HELO name, TLS or not).  It gets an idle
    connection of that key if one waits (most recently used first), else a *slot* for a new
    connection (``None``) while fewer than ``limit`` connections of the key are open, else it waits
    in FIFO order for one of the two.  After the transaction the driver
    (:func:`simulator.protocols.smtp.client.deliver`) calls :meth:`release`: with the connection
    (its transaction ended in 250: it may carry the next message), or with ``None`` (the connection
    is closed: the slot is free).

    Why a limit: a burst of N queued messages would otherwise open N connections at once from one
    host to one MX, and the MX answers 421 beyond its per-client cap
    (``--smtp-sessions-per-address``): each refused message then waits for its retry (5 s, 10 s ...).
    Postfix limits concurrent deliveries per destination (20 by default) for the same reason.

    Why a cache: a new connection costs a TCP handshake, a greeting, two EHLOs, a STARTTLS and a
    TLS handshake -- on *both* sides, since both MTAs live in this process -- and the receiving
    server's session set-up; a cached one costs a MAIL FROM.  An idle connection is closed (QUIT)
    after ``idle`` seconds (Postfix: ``smtp_connection_cache_time_limit = 2s``); a connection is not
    reused after ``lifetime`` seconds (``smtp_connection_reuse_time_limit = 300s``).

    Whether a connection may be reused is asked twice, at the moment it matters: ``acquire`` hands
    out an idle connection only while its ``reusable()`` says yes (else it closes the key's idle
    connections and opens a new one: the caller decided to use the cache before it waited for a
    slot, and the world may have changed meanwhile), and ``release`` keeps one only while its
    ``reusable()`` says yes.  And every change of the world that would make a cached session a lie
    (a host up or down, a fault set or cleared, the gate changed) calls :meth:`invalidate`: the
    *epoch* goes up, every idle connection is closed, and a connection opened in an earlier epoch
    (``Connection.epoch``, stamped by the driver when its slot was granted) is closed when it comes
    back instead of being kept.  A session from before a host went down and came back, or from
    before a fault, is never reused.

    ``closed`` is told of every connection that ends (``on_close``: the queue runner forgets the
    socket's trace a moment later).  ``close_all`` (at stop) closes every idle connection.

    An idle connection is closed with QUIT only while ``say_quit()`` is true (the queue runner: the
    world runs freely), else the socket is just closed.  A QUIT on a session whose message was
    published long ago is nothing to see when the world runs freely (the server publishes no session
    for a bare QUIT); but if the teacher has switched to stepping line by line meanwhile, the
    server would stream "QUIT" and "221" as dialogue lines of a session the page has already drawn
    and closed, lines it has nowhere to put.  A closed socket makes the server publish nothing.
    All on the mail loop.
"""
from __future__ import annotations

import asyncio
from collections import deque
from typing import Callable, Hashable

from .client import Connection

__all__ = ["ConnectionCache"]


class ConnectionCache:
    def __init__(self, *, limit: int = 10, idle: float = 2.0, lifetime: float = 300.0,
                 on_close: Callable[[tuple[str, int]], None] | None = None,
                 say_quit: Callable[[], bool] = lambda: True) -> None:
        if limit < 1:
            raise ValueError("limit >= 1")
        self.limit, self.idle, self.lifetime, self.on_close = limit, idle, lifetime, on_close
        self.say_quit = say_quit
        self._open: dict[Hashable, int] = {}                 # connections open per key (busy or idle)
        self._idle: dict[Hashable, list[tuple[Connection, asyncio.TimerHandle]]] = {}
        self._waiters: dict[Hashable, deque[asyncio.Future]] = {}
        self._closing: set[asyncio.Task] = set()
        self.epoch = 0                  # bumped by ``invalidate``: older connections are not kept
        self.opened = 0                 # new connections handed out (for tests and benchmarks)
        self.reused = 0                 # cached connections handed out

    def open_count(self, key: Hashable) -> int:
        return self._open.get(key, 0)

    def idle_count(self, key: Hashable) -> int:
        return len(self._idle.get(key, ()))

    async def acquire(self, key: Hashable, reusable: Callable[[], bool] = lambda: True) -> Connection | None:
        """A cached connection of ``key``, or None: open a new one (a slot is yours until ``release``;
        the caller stamps it with ``epoch``, read at once).  An idle connection is handed out only if
        ``reusable()`` says so now, when it is this caller's turn (not when it asked); else the key's
        idle connections are closed and a new one is opened in the slot they free."""
        loop = asyncio.get_running_loop()
        while True:
            idle = self._idle.get(key)
            allowed = bool(idle) and reusable()
            dropped = len(idle or ())
            while idle:
                conn, timer = idle.pop()
                timer.cancel()
                if (allowed and conn.epoch == self.epoch and conn.usable()
                        and loop.time() - conn.opened < self.lifetime):
                    self.reused += 1
                    return conn
                self._drop(key, conn)
            if not idle:
                self._idle.pop(key, None)
            if self._open.get(key, 0) < self.limit:
                self._open[key] = self._open.get(key, 0) + 1
                self.opened += 1
                for _ in range(min(dropped, self.limit - self._open[key])):
                    self._wake(key)             # slots the closed idle ones freed: others' turn
                return None
            waiter = loop.create_future()
            self._waiters.setdefault(key, deque()).append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter in self._waiters.get(key, ()):
                    self._waiters[key].remove(waiter)
                elif waiter.done() and not waiter.cancelled():
                    self._wake(key)             # pass the turn on
                raise

    def release(self, key: Hashable, conn: Connection | None,
                reusable: Callable[[], bool] = lambda: True) -> bool:
        """The transaction is over: ``conn`` may carry another one; None: the connection is closed.
        ``conn`` is kept only if it is of this epoch and ``reusable()`` says so; else it is closed
        (QUIT as an idle one).  True: it was kept."""
        kept = False
        if conn is None:
            self._dec(key)
        elif conn.epoch != self.epoch or not reusable():
            self._drop(key, conn)
        else:
            timer = asyncio.get_running_loop().call_later(self.idle, self._expire, key, conn)
            self._idle.setdefault(key, []).append((conn, timer))
            kept = True
        self._wake(key)
        return kept

    def invalidate(self, *, say_quit: bool | None = None) -> None:
        """The world changed: a new epoch.  Every idle connection is closed now (with QUIT as
        ``say_quit()`` says, unless ``say_quit`` is given: False for a host gone down, which says
        nothing more), and those in use are closed when they come back."""
        self.epoch += 1
        for key, idle in list(self._idle.items()):
            while idle:
                conn, timer = idle.pop()
                timer.cancel()
                self._drop(key, conn, say_quit=say_quit)
            self._idle.pop(key, None)
            self._wake(key)

    def closed(self, conn: Connection) -> None:
        if self.on_close is not None:
            self.on_close(conn.local)

    async def close_all(self) -> None:
        for key, idle in list(self._idle.items()):
            while idle:
                conn, timer = idle.pop()
                timer.cancel()
                self._drop(key, conn)
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    # -- inside ----------------------------------------------------------------------------------
    def _wake(self, key: Hashable) -> None:
        waiters = self._waiters.get(key)
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                break
        if waiters is not None and not waiters:
            del self._waiters[key]

    def _dec(self, key: Hashable) -> None:
        left = self._open.get(key, 0) - 1
        if left > 0:
            self._open[key] = left
        else:
            self._open.pop(key, None)

    def _expire(self, key: Hashable, conn: Connection) -> None:
        idle = self._idle.get(key, [])
        for i, (held, _) in enumerate(idle):
            if held is conn:
                del idle[i]
                break
        else:
            return
        if not idle:
            self._idle.pop(key, None)
        self._drop(key, conn)
        self._wake(key)

    def _drop(self, key: Hashable, conn: Connection, *, say_quit: bool | None = None) -> None:
        """Close an idle connection (QUIT, in a task of its own) and free its slot."""
        self._dec(key)
        quit_ = self.say_quit() if say_quit is None else say_quit
        task = asyncio.get_running_loop().create_task(conn.close(say_quit=quit_))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
        self.closed(conn)
