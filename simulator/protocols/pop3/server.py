"""POP3 server: the asyncio adapter around ``core.Pop3Session`` (RFC 1939, RFC 2449, RFC 2595).

What this module adds to the sans-IO core
  * Sockets (``transport.Listener``/``Connection``): plain POP3 with STLS (RFC 2595 §4) when given an
    ``ssl_context``, or implicit TLS ("POP3S", RFC 8314 §3.3) with ``implicit_tls=True``. Every byte
    received before the STLS handshake is discarded (PROTOCOLS.md X4).
  * Login policy: logins "user@domain" (or a bare "bob" where ``default_domain`` is set) checked by
    the ``authenticate`` callable; the shared ``throttle.LoginThrottle`` (a growing delay for a peer
    after repeated failures, waited *before* the check); one POP3 session per maildrop, across every
    ``Pop3Server`` that shares a store (a second login gets ``-ERR [IN-USE]``, RFC 2449 §8.1.2).
  * The maildrop (``maildrop.StoreMaildrop``): the user's INBOX, numbered once at login.  The sizes
    its greeting sums are counted first, ``SIZE_SLICE`` files at a time with the loop's other sessions
    running in between (a first login reads every file of the maildrop).
  * An idle timeout of 10 minutes (RFC 1939 §3 asks for at least that), and 3 minutes in all to log in
    (``login_timeout``, Dovecot's login processes: a client that never logs in does not hold its
    place for long).
  * A cap on live sessions per client address (``cap``: a ``limits.SessionCap`` shared by every POP3
    listener); one more is refused with ``-ERR [SYS/TEMP]`` (RFC 3206 §4) before anything is read.
  * Output flow: what the core queues is written and drained before it is asked for more
    (``Pop3Session.pending`` / ``resume``), so pipelined RETRs never pile up in memory.
  * Facts for the learners (``simulator.facts.pop3``: login, list, retr, dele, quit, error), published
    with the ``publish(fact)`` it is given; the narrator words them.  Each carries the layers under
    it (``wire``: the socket's ends and TLS) and marks the USER/PASS/AUTH lines of its transcript
    with what a listener reads (``credentials``, :mod:`simulator.protocols.layers`).
  * The greeting names the server (``server_name``: the host, or the front door).
  * An unexpected exception ends only its own session (``-ERR [SYS/TEMP]``, nothing deleted).

Leaves out: APOP, the LOGIN-DELAY capability.
"""
from __future__ import annotations

import asyncio
import collections
import logging
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ... import facts, nodes
from ...store import INBOX, MailStore, StoreError
from ...store.headers import summarize, trace_in
from ..layers import connection_layers
from ..limits import SessionCap
from ..throttle import LoginThrottle
from ..transport import Connection, Listener
from .core import OUTPUT_BUDGET, Pop3Session, State
from .maildrop import StoreMaildrop, locks_for
from .transcript import CUT, TLS_MARK
from .outputs import (
    Abandoned,
    Authenticate,
    Close,
    Deleted,
    Listed,
    LoggedIn,
    LoginRefused,
    Output,
    Refusal,
    Reply,
    Retrieved,
    StartTls,
    Updated,
)

if TYPE_CHECKING:
    from ...world import Account

__all__ = ["IDLE_TIMEOUT", "LOGIN_TIMEOUT", "SIZE_SLICE", "Pop3Server"]

log = logging.getLogger(__name__)

IDLE_TIMEOUT = 600.0          # RFC 1939 §3: an autologout timer of at least 10 minutes
LOGIN_TIMEOUT = 180.0         # seconds from the greeting to a login (Dovecot's login process: 3 min)
SIZE_SLICE = 256              # files whose sizes a login counts before it lets the loop run again
REFUSAL = b"-ERR [SYS/TEMP] Too many connections from your address; try again later\r\n"   # RFC 3206 §4


@dataclass(slots=True)
class _Context:
    """What the adapter knows about one session beyond the core's state."""

    peer: str
    tls: bool
    conn: Connection | None = None   # the connection: its ends and TLS are the hop's layers
    account: Any = None          # the Account once logged in
    locked: str | None = None    # the address whose maildrop this session holds


class Pop3Server:
    """A POP3 listener on a loopback address (RFC 1939), plain with STLS or implicit TLS.

    ``node`` is this server's node id (``nodes.pop3(domain)``, or ``nodes.FRONT`` for the front
    door); ``throttle`` may be shared with the other servers that check passwords.
    """

    def __init__(self, store: MailStore, authenticate: Callable[[str, str], Account | None], *, host: str,
                 port: int, ssl_context: ssl.SSLContext | None = None, implicit_tls: bool = False,
                 publish: Callable[[facts.Fact], object] | None = None, default_domain: str | None = None, node: str = nodes.FRONT,
                 clock: Callable[[], float] = time.monotonic, throttle: LoginThrottle | None = None,
                 server_name: str | None = None, cap: SessionCap | None = None) -> None:
        if implicit_tls and ssl_context is None:
            raise ValueError("implicit_tls needs an ssl_context")
        self.store = store
        self.authenticate = authenticate
        self.host = host
        self.ssl_context = ssl_context
        self.implicit_tls = implicit_tls
        self.publish = publish          # where facts go (the bus, through the trace lookup)
        self.default_domain = default_domain
        self.node = node
        self.clock = clock
        self.idle_timeout = IDLE_TIMEOUT
        self.login_timeout = LOGIN_TIMEOUT
        self.output_budget = OUTPUT_BUDGET   # octets queued per batch before written (core.Pop3Session)
        self.throttle = throttle if throttle is not None else LoginThrottle(clock=clock)
        self.server_name = server_name      # named in the greeting ("" or None: no name)
        self._locks = locks_for(store)
        self._listener = Listener(self._serve, host=host, port=port, implicit_tls=implicit_tls, cap=cap,
                                  refusal=REFUSAL)

    @property
    def port(self) -> int:
        """The bound port (useful after starting on port 0)."""
        return self._listener.port

    async def start(self) -> None:
        await self._listener.start()
        log.info("POP3%s listening on %s:%d (%s)", "S" if self.implicit_tls else "", self.host, self.port,
                 self.node)

    async def stop(self) -> None:
        """Stop listening and end every session (as dropped connections: nothing is deleted)."""
        await self._listener.stop()

    # ----------------------------------------------------------------- one session

    async def _serve(self, conn: Connection) -> None:
        ctx = _Context(peer=conn.peer, tls=False, conn=conn)
        session: Pop3Session | None = None
        try:
            if self.implicit_tls and not await self._start_tls(conn, ctx):   # RFC 8314 §3.3
                return
            greeting = {"greeting": f"{self.server_name} Mailflow POP3 server ready"} if self.server_name else {}
            session = Pop3Session(tls_available=self.ssl_context is not None and not self.implicit_tls,
                                  tls_active=conn.is_tls, output_budget=self.output_budget, **greeting)
            if not await self._perform(conn, ctx, session, session.start()):
                await self._read_loop(conn, ctx, session)
        except Exception as exc:   # the session boundary: a bug ends this session only
            log.exception("POP3 session from %s failed", ctx.peer)
            self._publish(facts.Pop3Error(src=nodes.OUTSIDE, dst=self.node, server=self.node, address="",
                                          peer=ctx.peer, tls=ctx.tls, error=type(exc).__name__,
                                          detail=repr(exc)[:300], **self._layers(ctx, ())))
            self._report_internal_error(conn, ctx, session)
        finally:
            if ctx.locked is not None:
                self._locks.discard(ctx.locked)
            conn.close()

    async def _read_loop(self, conn: Connection, ctx: _Context, session: Pop3Session) -> None:
        login_by = self.clock() + self.login_timeout
        while True:
            timeout = self.idle_timeout
            if session.state is State.AUTHORIZATION:   # not logged in yet: the login deadline counts too
                left = login_by - self.clock()
                if left <= 0:   # busy or not: a client that talks on without logging in is let go
                    await self._perform(conn, ctx, session, session.timed_out())
                    return
                timeout = min(timeout, left)
            try:
                data = await conn.read(timeout=timeout)
            except TimeoutError:
                await self._perform(conn, ctx, session, session.timed_out())
                return
            if not data:
                await self._perform(conn, ctx, session, session.connection_lost())
                return
            if await self._perform(conn, ctx, session, session.feed(data)):
                return

    def _report_internal_error(self, conn: Connection, ctx: _Context, session: Pop3Session | None) -> None:
        """Tell the client (-ERR [SYS/TEMP]) and the learners; the socket closes anyway."""
        try:
            for out in session.internal_error() if session is not None else ():
                if isinstance(out, Reply):
                    conn.write(out.encode())
                elif isinstance(out, Abandoned):
                    self._observe(ctx, out)
        except Exception:   # the session's state may be what broke
            log.debug("could not report the error to the client", exc_info=True)

    async def _perform(self, conn: Connection, ctx: _Context, session: Pop3Session,
                       outputs: list[Output]) -> bool:
        """Carry out the session's outputs in order. True when the connection is to be closed."""
        queue = collections.deque(outputs)
        while queue:
            out = queue.popleft()
            if isinstance(out, Reply):
                conn.write(out.encode())
            elif isinstance(out, Authenticate):
                await conn.drain()
                queue.extend(session.login_result(await self._login(ctx, out)))
            elif isinstance(out, StartTls):
                await conn.drain()
                if not await self._start_tls(conn, ctx):
                    return True
                queue.extend(session.tls_established())
            elif isinstance(out, Close):
                await conn.drain()
                conn.close()
                return True
            else:
                self._observe(ctx, out)
            if not queue:
                await conn.drain()
                if session.pending:   # the core held commands back behind its output budget
                    queue.extend(session.resume())
        return False

    async def _start_tls(self, conn: Connection, ctx: _Context) -> bool:
        assert self.ssl_context is not None
        if conn.closing or conn.at_eof:   # a half-closed client cannot finish a handshake
            return False
        try:
            await conn.start_tls(self.ssl_context, implicit=self.implicit_tls)
        except (ssl.SSLError, OSError, TimeoutError, ConnectionError) as exc:
            log.info("TLS handshake with %s failed: %s", ctx.peer, exc)
            return False
        ctx.tls = True
        return True

    async def _login(self, ctx: _Context, request: Authenticate) -> Refusal | StoreMaildrop:
        """Throttle, check the credentials, lock and open the maildrop."""
        await self.throttle.hold(ctx.peer)   # before the check: the same wait for any login
        login = request.login.strip()
        if "@" not in login and self.default_domain:
            login = f"{login}@{self.default_domain}"
        account = self.authenticate(login, request.password)
        if account is None:
            self.throttle.failed(ctx.peer)
            return Refusal.AUTH
        self.throttle.succeeded(ctx.peer)
        await self._count_sizes(account.address)
        return self._open(ctx, account)

    async def _count_sizes(self, address: str) -> None:
        """Have the store count the sizes the login's greeting needs (the maildrop's octets) a slice
        of ``SIZE_SLICE`` files at a time, the loop's other sessions running in between: a first
        login to a 10,000-message maildrop reads every file (0.4 s), and the mail loop would
        otherwise stand still for it.  What goes wrong here is left to ``_open`` to report."""
        count = getattr(self.store, "count_sizes", None)
        if count is None:
            return
        try:
            self.store.maildir_path(address)       # as the maildrop does first (made on demand)
            at: int | None = 0
            while (at := count(address, INBOX, at, SIZE_SLICE)) is not None:
                await asyncio.sleep(0)
        except (StoreError, OSError):
            return

    def _open(self, ctx: _Context, account: Account) -> Refusal | StoreMaildrop:
        address = account.address
        if address in self._locks:
            return Refusal.IN_USE
        self._locks.add(address)   # no await between the check and here: the loop is ours
        ctx.locked = address
        try:
            maildrop = StoreMaildrop(self.store, address)
        except (StoreError, OSError):
            log.exception("cannot open the maildrop of %s", address)
            self._locks.discard(address)
            ctx.locked = None
            return Refusal.SYS_TEMP
        ctx.account = account
        return maildrop

    # ----------------------------------------------------------------- facts

    def _observe(self, ctx: _Context, out: Output) -> None:
        """Turn a core observation into a fact on the mailbox -> MUA edge (if facts go anywhere)."""
        if self.publish is None:
            return
        if isinstance(out, LoginRefused):
            self._publish(self._refusal(ctx, out))
            return
        build = _FACTS.get(type(out))
        if build is None or ctx.account is None:
            return
        address = ctx.account.address
        server = nodes.pop3(ctx.account.domain)
        common = dict(src=nodes.mailbox(address), dst=nodes.mua(address), server=server, address=address,
                      peer=ctx.peer, tls=ctx.tls, via=self.node if self.node != server else None,
                      transcript=out.transcript,  # type: ignore[union-attr]
                      **self._layers(ctx, out.transcript))  # type: ignore[union-attr]
        self._publish(build(out, common))

    def _refusal(self, ctx: _Context, out: LoginRefused) -> facts.Pop3Login:
        return facts.Pop3Login(
            src=nodes.OUTSIDE, dst=self.node, server=self.node, address="", peer=ctx.peer, tls=ctx.tls,
            transcript=out.transcript, login=out.login, mechanism=out.mechanism,
            code=facts.LoginCode(out.refusal.value), next_delay=self.throttle.delay(ctx.peer),
            free_failures=self.throttle.free, **self._layers(ctx, out.transcript))

    @staticmethod
    def _layers(ctx: _Context, transcript: tuple[tuple[str, str], ...]) -> dict[str, Any]:
        """The hop's ``wire`` and the ``credentials`` marks of its transcript.

        A transcript with no TLS marker and no client line a listener could read a secret from
        (``layers.find_credentials`` marks only USER, PASS, AUTH and the responses of an AUTH
        exchange begun in the same transcript) has nothing to mark: it is not read line by line
        (a RETR's transcript is some 20 lines of the message)."""
        if ctx.conn is None:
            return {}
        if not _may_mark(transcript):
            transcript = ()
        return connection_layers(ctx.conn, transcript, "POP3")

    def _publish(self, fact: facts.Fact) -> None:
        if self.publish is None:
            return
        try:
            self.publish(fact)
        except Exception:   # the learners' view must never break mail retrieval
            log.exception("publishing %s failed", fact.kind)


# --------------------------------------------------------------------------- observations -> facts


def _login(out: LoggedIn, common: dict[str, Any]) -> facts.Fact:
    return facts.Pop3Login(**common, login=out.login, mechanism=out.mechanism, messages=out.messages,
                           octets=out.octets)


def _listed(out: Listed, common: dict[str, Any]) -> facts.Fact:
    return facts.Pop3Listed(**common, command=out.command, messages=out.messages, octets=out.octets)


def _retrieved(out: Retrieved, common: dict[str, Any]) -> facts.Fact:
    return facts.Pop3Retrieved(**common, command=out.command, number=out.number, size=out.size,
                               uid=int(out.key),  # type: ignore[call-overload]
                               lines=out.top_lines, message=_message_summary(out.header),
                               trace=trace_in(out.header))   # read already: the bus need not open the file


def _deleted(out: Deleted, common: dict[str, Any]) -> facts.Fact:
    return facts.Pop3Deleted(**common, number=out.number, uid=int(out.key))  # type: ignore[call-overload]


def _updated(out: Updated, common: dict[str, Any]) -> facts.Fact:
    return facts.Pop3SessionEnded(**common, reason=facts.SessionEnd.QUIT, deleted=out.deleted, left=out.left,
                                  ok=out.ok)


def _abandoned(out: Abandoned, common: dict[str, Any]) -> facts.Fact:
    return facts.Pop3SessionEnded(**common, reason=facts.SessionEnd(out.reason), kept_marked=out.marked)


# Which core observation becomes which fact (LoginRefused has its own, outside -> server, path).
_FACTS: dict[type, Callable[[Any, dict[str, Any]], facts.Fact]] = {
    LoggedIn: _login,
    Listed: _listed,
    Retrieved: _retrieved,
    Deleted: _deleted,
    Updated: _updated,
    Abandoned: _abandoned,
}


_SECRET_VERBS = frozenset({"USER", "PASS", "AUTH"})


def _may_mark(transcript: tuple[tuple[str, str], ...]) -> bool:
    """Whether ``find_credentials`` could find anything (or a TLS marker place ``tls_from``) in it."""
    for side, text in transcript:
        if side == "C":
            words = text.split(None, 1)
            if words and words[0].upper() in _SECRET_VERBS:
                return True
        elif side == CUT and text == TLS_MARK:
            return True
    return False


def _message_summary(header: bytes) -> dict[str, str] | None:
    """The few header fields the page shows for a downloaded message (never raises)."""
    summary = summarize(header, received=False)     # the hop shows no trace: Received is not read
    shown = {"id": summary.message_id, "from": summary.from_, "to": summary.to, "subject": summary.subject}
    return {key: value for key, value in shown.items() if value} or None
