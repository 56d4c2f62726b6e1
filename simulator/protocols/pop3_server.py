"""POP3 server: the asyncio adapter around ``pop3_core.Pop3Session`` (RFC 1939, RFC 2449, RFC 2595).

What this module adds to the sans-IO core
  * Sockets: plain POP3 with STLS (RFC 2595 §4) when given an ``ssl_context``, or implicit TLS
    ("POP3S", RFC 8314 §3.3) with ``implicit_tls=True``. Every byte received before the STLS
    handshake is discarded (PROTOCOLS.md X4).
  * Login policy: logins "user@domain" (or a bare "bob" where ``default_domain`` is set) checked by
    the ``authenticate`` callable; a growing delay for a peer after repeated failures
    (``LoginThrottle``); one POP3 session per maildrop, across every ``Pop3Server`` that shares a
    store (a second login gets ``-ERR [IN-USE]``, RFC 2449 §8.1.2).
  * The maildrop: the user's INBOX from ``simulator.store.MailStore``, numbered once at login;
    UIDL is ``f"{uid:08X}{uidvalidity:08X}"`` (Dovecot's ``%08Xu%08Xv``), so POP3 and IMAP agree.
  * An idle timeout of 10 minutes (RFC 1939 §3 asks for at least that).
  * Events for the learners (kinds pop3.login, pop3.list, pop3.retr, pop3.dele, pop3.quit,
    pop3.error) with transcripts and explanations in English and Russian.
  * An unexpected exception ends only its own session (``-ERR [SYS/TEMP]``, nothing deleted).

Leaves out: APOP, a limit on concurrent connections, the LOGIN-DELAY capability.
"""
from __future__ import annotations

import asyncio
import collections
import email.header
import email.parser
import email.policy
import logging
import ssl
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..store import INBOX, MailStore, StoreError
from .pop3_core import (
    Abandoned,
    Authenticate,
    Close,
    Deleted,
    DropMessage,
    Listed,
    LoggedIn,
    LoginRefused,
    MaildropError,
    Output,
    Pop3Session,
    Refusal,
    Reply,
    Retrieved,
    StartTls,
    Updated,
)

if TYPE_CHECKING:
    from ..world import Account

log = logging.getLogger(__name__)

PROTOCOL = "POP3"
IDLE_TIMEOUT = 600.0          # RFC 1939 §3: an autologout timer of at least 10 minutes
TLS_HANDSHAKE_TIMEOUT = 30.0
_READ_HIGH_WATER = 256 * 1024  # stop reading from a client that sends faster than we answer


# --------------------------------------------------------------------------- login policy


@dataclass(slots=True)
class LoginThrottle:
    """Failed logins per peer address: after ``free_failures`` each attempt waits longer.

    The delay comes *before* the credentials are checked (like Dovecot's auth penalty), so a
    password guesser gets no faster answers by pipelining or by opening more connections:
    ``base_delay`` seconds for the 4th attempt, doubling up to ``max_delay``. A successful login
    or ``forget_after`` seconds without failures clear the record.
    """

    clock: Callable[[], float] = time.time
    free_failures: int = 3
    base_delay: float = 1.0
    max_delay: float = 15.0
    forget_after: float = 600.0
    _failures: dict[str, tuple[int, float]] = field(default_factory=dict)

    def delay(self, peer: str) -> float:
        count = self._count(peer)
        if count < self.free_failures:
            return 0.0
        return min(self.max_delay, self.base_delay * 2 ** (count - self.free_failures))

    def failure(self, peer: str) -> None:
        now = self.clock()
        self._failures = {p: v for p, v in self._failures.items() if now - v[1] < self.forget_after}
        self._failures[peer] = (self._count(peer) + 1, now)

    def success(self, peer: str) -> None:
        self._failures.pop(peer, None)

    def _count(self, peer: str) -> int:
        count, last = self._failures.get(peer, (0, 0.0))
        return count if self.clock() - last < self.forget_after else 0


# One POP3 session per maildrop (RFC 1939 §4), shared by every server on the same store: the
# front door and a domain's own POP3 host serve the same mailboxes.
_LOCKS: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()


def _locks_for(store: Any) -> set[str]:
    try:
        return _LOCKS.setdefault(store, set())
    except TypeError:   # a store that cannot be weakly referenced gets a lock set of its own
        return set()


class _StoreMaildrop:
    """The Maildrop of pop3_core over the user's INBOX in the MailStore (snapshot taken at login)."""

    def __init__(self, store: MailStore, address: str) -> None:
        self._store = store
        self._address = address
        snapshot = store.inbox_snapshot(address)   # rescans first: UIDVALIDITY is read after it
        uidvalidity = store.uidvalidity(address, INBOX)
        self._messages = [DropMessage(info.uid, info.size, f"{info.uid:08X}{uidvalidity:08X}")
                          for info in snapshot]

    def messages(self) -> Sequence[DropMessage]:
        return self._messages

    def read(self, message: DropMessage) -> bytes:
        try:
            return self._store.read_message(self._address, INBOX, message.key)  # type: ignore[arg-type]
        except (StoreError, OSError) as exc:
            raise MaildropError(str(exc)) from exc

    def delete(self, messages: Sequence[DropMessage]) -> None:
        try:
            self._store.delete_messages(self._address, INBOX, [m.key for m in messages])
        except (StoreError, OSError) as exc:
            raise MaildropError(str(exc)) from exc


# --------------------------------------------------------------------------- the transport side


class _Connection(asyncio.Protocol):
    """Receives bytes for one session task and gives it reads, writes, drain and STLS."""

    def __init__(self, server: Pop3Server) -> None:
        self._server = server
        self._loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.peer = "unknown"
        self.is_tls = False
        self._buffer = bytearray()
        self._eof = False
        self._lost = False
        self._read_paused = False
        self._write_paused = False
        self._data_waiter: asyncio.Future[None] | None = None
        self._drain_waiter: asyncio.Future[None] | None = None

    # protocol callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peername = transport.get_extra_info("peername")
        self.peer = str(peername[0]) if peername else "unknown"
        if self._server.implicit_tls:
            # Leave the ClientHello unread until the session task hands the socket to start_tls.
            transport.pause_reading()
        self._server._accept(self)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if len(self._buffer) > _READ_HIGH_WATER and not self._read_paused and self.transport:
            self._read_paused = True
            self.transport.pause_reading()
        self._wake_reader()

    def eof_received(self) -> bool:
        self._eof = True
        self._wake_reader()
        return not self.is_tls   # keep a half-closed plain socket open to answer what it sent

    def connection_lost(self, exc: Exception | None) -> None:
        self._eof = self._lost = True
        self._wake_reader()
        self._wake_writer()

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._wake_writer()

    # used by the session task
    @property
    def closing(self) -> bool:
        return self._lost or self.transport is None or self.transport.is_closing()

    @property
    def at_eof(self) -> bool:
        return self._eof

    async def read(self) -> bytes:
        """What has arrived (at least one byte), or b"" at end of stream."""
        while not self._buffer and not self._eof:
            self._data_waiter = self._loop.create_future()
            try:
                await self._data_waiter
            finally:
                self._data_waiter = None
        data = bytes(self._buffer)
        self._buffer.clear()
        if self._read_paused and not self.closing:
            self._read_paused = False
            self.transport.resume_reading()  # type: ignore[union-attr]
        return data

    def write(self, data: bytes) -> None:
        if not self.closing:
            self.transport.write(data)  # type: ignore[union-attr]

    async def drain(self) -> None:
        while self._write_paused and not self._lost:
            self._drain_waiter = self._loop.create_future()
            try:
                await self._drain_waiter
            finally:
                self._drain_waiter = None

    async def start_tls(self, context: ssl.SSLContext) -> None:
        """Upgrade to TLS; nothing received before the handshake survives it (RFC 2595 §4).

        Used for STLS and, right after accept (reading still paused), for implicit TLS.
        """
        self._buffer.clear()
        if self._read_paused:
            self._read_paused = False
            self.transport.resume_reading()  # type: ignore[union-attr]
        # loop.start_tls pauses reading before its first await, so no plaintext can slip in.
        new = await self._loop.start_tls(self.transport, self, context, server_side=True,  # type: ignore[arg-type]
                                         ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT)
        if new is None:
            raise ConnectionResetError("connection closed during the TLS handshake")
        self.transport = new  # type: ignore[assignment]
        self.is_tls = True

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def _wake_reader(self) -> None:
        if self._data_waiter is not None and not self._data_waiter.done():
            self._data_waiter.set_result(None)

    def _wake_writer(self) -> None:
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)


@dataclass(slots=True)
class _Context:
    """What the adapter knows about one session beyond the core's state."""

    peer: str
    tls: bool
    account: Any = None          # the Account once logged in
    locked: str | None = None    # the address whose maildrop this session holds


# --------------------------------------------------------------------------- the server


class Pop3Server:
    """A POP3 listener on a loopback address (RFC 1939), plain with STLS or implicit TLS."""

    def __init__(self, store: MailStore, authenticate: Callable[[str, str], Account | None], *, host: str,
                 port: int, ssl_context: ssl.SSLContext | None = None, implicit_tls: bool = False,
                 bus: Any = None, default_domain: str | None = None, node: str = "pop3:front",
                 clock: Callable[[], float] = time.time) -> None:
        if implicit_tls and ssl_context is None:
            raise ValueError("implicit_tls needs an ssl_context")
        self.store = store
        self.authenticate = authenticate
        self.host = host
        self._port = port
        self.ssl_context = ssl_context
        self.implicit_tls = implicit_tls
        self.bus = bus
        self.default_domain = default_domain
        self.node = node
        self.clock = clock
        self.idle_timeout = IDLE_TIMEOUT
        self.throttle = LoginThrottle(clock=clock)
        self._locks = _locks_for(store)
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        """The bound port (useful after starting on port 0)."""
        if self._server is not None and self._server.sockets:
            return int(self._server.sockets[0].getsockname()[1])
        return self._port

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        # Implicit TLS is done by the session task (as for STLS), not by create_server(ssl=...), so
        # that a connection is ours, and stop() can end it, from accept on: not only after its handshake.
        self._server = await loop.create_server(lambda: _Connection(self), self.host, self._port,
                                                reuse_address=True)
        log.info("POP3%s listening on %s:%d (%s)", "S" if self.implicit_tls else "", self.host, self.port,
                 self.node)

    async def stop(self) -> None:
        """Stop listening and end every session (as dropped connections: nothing is deleted)."""
        if self._server is not None:
            self._server.close()
        for conn in list(self._connections):
            conn.abort()
        tasks = list(self._tasks)
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=5.0)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    # ----------------------------------------------------------------- one session

    def _accept(self, conn: _Connection) -> None:
        self._connections.add(conn)
        task = asyncio.get_running_loop().create_task(self._serve(conn))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, conn: _Connection) -> None:
        ctx = _Context(peer=conn.peer, tls=False)
        session: Pop3Session | None = None
        try:
            if self.implicit_tls and not await self._start_tls(conn, ctx):   # RFC 8314 §3.3
                return
            session = Pop3Session(tls_available=self.ssl_context is not None and not self.implicit_tls,
                                  tls_active=conn.is_tls)
            if await self._perform(conn, ctx, session, session.start()):
                return
            while True:
                try:
                    async with asyncio.timeout(self.idle_timeout):
                        data = await conn.read()
                except TimeoutError:
                    await self._perform(conn, ctx, session, session.timed_out())
                    return
                if not data:
                    await self._perform(conn, ctx, session, session.connection_lost())
                    return
                if await self._perform(conn, ctx, session, session.feed(data)):
                    return
        except Exception as exc:   # the session boundary: a bug ends this session only
            log.exception("POP3 session from %s failed", ctx.peer)
            self._publish_error(ctx, exc)
            try:
                for out in session.internal_error() if session is not None else ():
                    if isinstance(out, Reply):
                        conn.write(out.encode())
                    elif isinstance(out, Abandoned):
                        self._observe(ctx, out)
            except Exception:   # the session's state may be what broke; the socket closes anyway
                log.debug("could not report the error to the client", exc_info=True)
        finally:
            if ctx.locked is not None:
                self._locks.discard(ctx.locked)
            conn.close()
            self._connections.discard(conn)

    async def _perform(self, conn: _Connection, ctx: _Context, session: Pop3Session,
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
        await conn.drain()
        return False

    async def _start_tls(self, conn: _Connection, ctx: _Context) -> bool:
        assert self.ssl_context is not None
        if conn.closing or conn.at_eof:   # a half-closed client cannot finish a handshake
            return False
        try:
            await conn.start_tls(self.ssl_context)
        except (ssl.SSLError, OSError, TimeoutError, ConnectionError) as exc:
            log.info("TLS handshake with %s failed: %s", ctx.peer, exc)
            return False
        ctx.tls = True
        return True

    async def _login(self, ctx: _Context, request: Authenticate) -> Refusal | _StoreMaildrop:
        """Throttle, check the credentials, lock and open the maildrop."""
        delay = self.throttle.delay(ctx.peer)
        if delay:
            await asyncio.sleep(delay)
        login = request.login.strip()
        if "@" not in login and self.default_domain:
            login = f"{login}@{self.default_domain}"
        account = self.authenticate(login, request.password)
        if account is None:
            self.throttle.failure(ctx.peer)
            return Refusal.AUTH
        self.throttle.success(ctx.peer)
        address = account.address
        if address in self._locks:
            return Refusal.IN_USE
        self._locks.add(address)   # no await between the check and here: the loop is ours
        ctx.locked = address
        try:
            maildrop = _StoreMaildrop(self.store, address)
        except (StoreError, OSError):
            log.exception("cannot open the maildrop of %s", address)
            self._locks.discard(address)
            ctx.locked = None
            return Refusal.SYS_TEMP
        ctx.account = account
        return maildrop

    # ----------------------------------------------------------------- events

    def _observe(self, ctx: _Context, out: Output) -> None:
        """Turn a core observation into an event on the mailbox -> MUA edge (if there is a bus)."""
        if self.bus is None:
            return
        if isinstance(out, LoginRefused):
            self._publish_refusal(ctx, out)
            return
        describe = _HOPS.get(type(out))
        if describe is None or ctx.account is None:
            return
        address = ctx.account.address
        hop = describe(address, out, ctx.tls)
        data: dict[str, Any] = {"server": f"pop3:{ctx.account.domain}", "peer": ctx.peer, "tls": ctx.tls}
        if self.node != data["server"]:
            data["via"] = self.node   # the front door, routed by the login
        self._publish(hop.kind, src=f"mailbox:{address}", dst=f"mua:{address}", status=hop.status,
                      summary=hop.summary, explain=hop.explain, transcript=out.transcript,  # type: ignore[union-attr]
                      message=hop.message, data={**data, **hop.data})

    def _failure_node(self) -> str:
        return f"pop3:{self.default_domain}" if self.default_domain else self.node

    def _publish_refusal(self, ctx: _Context, out: LoginRefused) -> None:
        reason = {Refusal.AUTH: "wrong login or password", Refusal.IN_USE: "mailbox in use",
                  Refusal.SYS_TEMP: "mailbox unavailable"}[out.refusal]
        self._publish("pop3.login", src=f"client:{ctx.peer}", dst=self._failure_node(), status="failed",
                      summary=f"POP3 login as {out.login!r} from {ctx.peer} refused: {reason}",
                      explain=_explain_refusal(ctx.peer, out), transcript=out.transcript,
                      data={"server": self.node, "peer": ctx.peer, "tls": ctx.tls, "login": out.login,
                            "mechanism": out.mechanism, "code": out.refusal.value,
                            "next_delay": self.throttle.delay(ctx.peer)})

    def _publish_error(self, ctx: _Context, exc: Exception) -> None:
        self._publish("pop3.error", src=f"client:{ctx.peer}", dst=self.node, status="failed",
                      summary=f"POP3 session from {ctx.peer} ended by an internal error: {type(exc).__name__}",
                      explain=_t("The server hit an unexpected error in this session and closed it. Nothing "
                                 "was deleted; other sessions go on.",
                                 "Сервер столкнулся с непредвиденной ошибкой в этом сеансе и закрыл его. "
                                 "Ничего не удалено; другие сеансы продолжают работать."),
                      data={"server": self.node, "peer": ctx.peer, "error": repr(exc)[:300]})

    def _publish(self, kind: str, **fields: Any) -> None:
        if self.bus is None:
            return
        try:
            self.bus.publish(kind, protocol=PROTOCOL, **fields)
        except Exception:   # the learners' view must never break mail retrieval
            log.exception("publishing %s failed", kind)


# --------------------------------------------------------------------------- events: hops


@dataclass(frozen=True, slots=True)
class _Hop:
    kind: str
    status: str
    summary: str
    explain: dict[str, str]
    data: dict[str, Any]
    message: dict[str, Any] | None = None


def _hop_login(address: str, out: LoggedIn, tls: bool) -> _Hop:
    return _Hop("pop3.login", "ok",
                f"{address} logged in over POP3 ({_mechanism(out.mechanism)}): {_en(out.messages)}, "
                f"{out.octets} octets",
                _explain_login(address, out, tls),
                {"mechanism": out.mechanism, "messages": out.messages, "octets": out.octets})


def _hop_list(address: str, out: Listed, tls: bool) -> _Hop:
    return _Hop("pop3.list", "ok", f"{address}: {out.command} lists {_en(out.messages)}", _explain_list(out),
                {"command": out.command, "messages": out.messages, "octets": out.octets})


def _hop_retr(address: str, out: Retrieved, tls: bool) -> _Hop:
    message = _message_summary(out.header)
    what = f"TOP {out.number} {out.top_lines}" if out.command == "TOP" else f"RETR {out.number}"
    subject = message.get("subject") if message else None
    return _Hop("pop3.retr", "ok",
                f"{address} downloads message {out.number} ({what}, {out.size} octets)"
                + (f": {subject}" if subject else ""),
                _explain_retr(out),
                {"command": out.command, "number": out.number, "uid": out.key, "size": out.size,
                 "lines": out.top_lines},
                message)


def _hop_dele(address: str, out: Deleted, tls: bool) -> _Hop:
    return _Hop("pop3.dele", "ok", f"{address} marks message {out.number} for deletion (DELE {out.number})",
                _explain_dele(out), {"number": out.number, "uid": out.key})


def _hop_quit(address: str, out: Updated, tls: bool) -> _Hop:
    summary = (f"{address} QUIT: {_en(out.deleted)} deleted from the server, {out.left} left" if out.ok
               else f"{address} QUIT: the server failed to delete the marked messages")
    return _Hop("pop3.quit", "ok" if out.ok else "failed", summary, _explain_quit(out),
                {"deleted": out.deleted, "left": out.left, "reason": "quit"})


def _hop_abandoned(address: str, out: Abandoned, tls: bool) -> _Hop:
    summary = (f"{address}: connection ended without QUIT ({out.reason}); nothing deleted"
               + (f", {out.marked} marked for deletion but kept" if out.marked else ""))
    return _Hop("pop3.quit", "info", summary, _explain_abandoned(out),
                {"deleted": 0, "kept_marked": out.marked, "reason": out.reason})


# Which core observation becomes which event (LoginRefused has its own, client -> server, path).
_HOPS: dict[type, Callable[[str, Any, bool], _Hop]] = {
    LoggedIn: _hop_login,
    Listed: _hop_list,
    Retrieved: _hop_retr,
    Deleted: _hop_dele,
    Updated: _hop_quit,
    Abandoned: _hop_abandoned,
}


# --------------------------------------------------------------------------- events: words


def _t(en: str, ru: str) -> dict[str, str]:
    return {"en": en, "ru": ru}


def _en(count: int) -> str:
    return f"{count} message" if count == 1 else f"{count} messages"


def _ru(count: int, one: str = "письмо", few: str = "письма", many: str = "писем") -> str:
    """A Russian count with the right noun form: 1 письмо, 2 письма, 5 писем, 21 письмо, 11 писем."""
    tail, tens = count % 10, count % 100
    if tail == 1 and tens != 11:
        word = one
    elif 2 <= tail <= 4 and not 12 <= tens <= 14:
        word = few
    else:
        word = many
    return f"{count} {word}"


def _ru_octets(count: int) -> str:
    return _ru(count, "байт", "байта", "байт")


def _mechanism(mechanism: str) -> str:
    return "USER/PASS" if mechanism == "USER" else f"AUTH {mechanism}"


def _message_summary(header: bytes) -> dict[str, Any] | None:
    try:
        parsed = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(header + b"\r\n\r\n")
    except Exception:   # a display nicety: hostile headers must not break the session
        return None
    result: dict[str, Any] = {}
    for key, name in (("id", "message-id"), ("from", "from"), ("to", "to"), ("subject", "subject")):
        value = parsed.get(name)
        if value is None:
            continue
        try:
            text = str(email.header.make_header(email.header.decode_header(str(value))))
        except (ValueError, LookupError, UnicodeError):
            text = str(value)
        result[key] = " ".join(text.split())[:200]
    return result or None


def _explain_login(address: str, out: LoggedIn, tls: bool) -> dict[str, str]:
    how = _mechanism(out.mechanism)
    en = (f"{address}'s mail program (the MUA) logged in to the POP3 server with {how}. POP3 sees only "
          f"one folder, the INBOX, as a numbered list of messages that stays fixed for the whole session: "
          f"here {_en(out.messages)}, {out.octets} octets. While this session lasts, the mailbox is "
          f"locked against a second POP3 session (RFC 1939 §4).")
    ru = (f"Почтовая программа {address} (MUA) вошла на POP3-сервер командой {how}. POP3 видит только "
          f"одну папку — «Входящие» (INBOX) — как пронумерованный список писем, который не меняется до "
          f"конца сеанса: здесь {_ru(out.messages)}, {_ru_octets(out.octets)}. Пока сеанс идёт, ящик закрыт "
          f"для второго POP3-сеанса (RFC 1939 §4).")
    if tls:
        en += " The connection is encrypted with TLS, so the password was not readable on the network."
        ru += " Соединение зашифровано TLS, поэтому пароль нельзя было прочитать в сети."
    else:
        en += (" The connection is not encrypted: the password crossed the network in clear text (look at "
               "the transcript; AUTH PLAIN only encodes it in base64). STLS or the POP3S port would hide it.")
        ru += (" Соединение не зашифровано: пароль прошёл по сети открытым текстом (посмотрите в протокол "
               "обмена; AUTH PLAIN лишь кодирует его в base64). STLS или порт POP3S скрыли бы его.")
    return _t(en, ru)


def _explain_refusal(peer: str, out: LoginRefused) -> dict[str, str]:
    if out.refusal is Refusal.IN_USE:
        return _t(
            f"The password for {out.login!r} was right, but another POP3 session already has this mailbox "
            f"open. POP3 allows only one session per mailbox at a time (RFC 1939 §4), so the server "
            f"answered -ERR [IN-USE] (RFC 2449 §8.1.2). The client should try again later.",
            f"Пароль для {out.login!r} верный, но этот ящик уже открыт другим POP3-сеансом. POP3 "
            f"разрешает только один сеанс на ящик одновременно (RFC 1939 §4), поэтому сервер ответил "
            f"-ERR [IN-USE] (RFC 2449 §8.1.2). Клиенту стоит попробовать позже.")
    if out.refusal is Refusal.SYS_TEMP:
        return _t(
            f"The login {out.login!r} was right, but the server could not open the mailbox just now, so it "
            f"answered -ERR [SYS/TEMP] (RFC 3206): a temporary problem, try again later.",
            f"Логин {out.login!r} верный, но сервер не смог сейчас открыть ящик и ответил -ERR [SYS/TEMP] "
            f"(RFC 3206): временная проблема, попробуйте позже.")
    return _t(
        f"A client at {peer} tried to log in as {out.login!r} and failed. The server gives the same answer, "
        f"-ERR [AUTH], whether the user does not exist or the password is wrong, so nobody can find out "
        f"which users exist. After 3 failures from one address every next attempt waits longer: a brake "
        f"on password guessing.",
        f"Клиент с адреса {peer} попытался войти как {out.login!r}, но не смог. Сервер отвечает одинаково "
        f"— -ERR [AUTH] — и когда такого пользователя нет, и когда пароль неверный, чтобы никто не мог "
        f"узнать, какие пользователи существуют. После 3 неудач с одного адреса каждая следующая попытка "
        f"ждёт всё дольше: это тормоз для подбора паролей.")


def _explain_list(out: Listed) -> dict[str, str]:
    if out.command == "UIDL":
        return _t(
            f"UIDL lists a unique id for each message ({_en(out.messages)}). Unlike the message numbers, "
            f"these ids stay the same from one session to the next, so a client that leaves mail on the "
            f"server remembers them to know which messages it has already downloaded (RFC 1939 §7).",
            f"UIDL выдаёт уникальный идентификатор для каждого письма ({_ru(out.messages)}). В отличие от "
            f"номеров писем, эти идентификаторы не меняются от сеанса к сеансу, поэтому клиент, который "
            f"оставляет почту на сервере, запоминает их, чтобы знать, какие письма он уже скачал "
            f"(RFC 1939 §7).")
    return _t(
        f"LIST: the server lists the messages in the mailbox ({_en(out.messages)}), one line each: its number and "
        f"its size in octets ({out.octets} in all). The numbers are valid only during this session.",
        f"LIST: сервер перечисляет письма в ящике ({_ru(out.messages)}), по строке на письмо: номер и "
        f"размер в байтах (всего {_ru_octets(out.octets)}). Номера действуют только в этом сеансе.")


def _explain_retr(out: Retrieved) -> dict[str, str]:
    if out.command == "TOP":
        return _t(
            f"TOP {out.number} {out.top_lines}: the server sent only the headers of message {out.number} "
            f"and the first {out.top_lines} lines of its body. Clients use TOP to show a preview (sender, "
            f"subject) before deciding to download the whole message (RFC 1939 §7).",
            f"TOP {out.number} {out.top_lines}: сервер отправил только заголовки письма {out.number} и "
            f"первые {out.top_lines} строк текста. Клиенты используют TOP, чтобы показать отправителя и "
            f"тему до того, как скачивать письмо целиком (RFC 1939 §7).")
    return _t(
        f"RETR {out.number}: the server sent the whole message {out.number} ({out.size} octets), headers "
        f"and body. A line that begins with '.' is sent with an extra '.', and a line with a single '.' "
        f"ends the message (RFC 1939 §3). With POP3 the client keeps its own copy; usually it then deletes "
        f"the message on the server with DELE — unlike IMAP, where mail stays on the server.",
        f"RETR {out.number}: сервер отправил письмо {out.number} целиком ({out.size} байт), заголовки и "
        f"текст. Строка, начинающаяся с '.', отправляется с лишней '.', а строка из одной '.' завершает "
        f"письмо (RFC 1939 §3). В POP3 клиент хранит свою копию и обычно затем удаляет письмо на сервере "
        f"командой DELE — в отличие от IMAP, где почта остаётся на сервере.")


def _explain_dele(out: Deleted) -> dict[str, str]:
    return _t(
        f"DELE {out.number} only marks message {out.number} for deletion; nothing is removed yet. The "
        f"server deletes the marked messages when the client says QUIT (the UPDATE state, RFC 1939 §6). "
        f"RSET would unmark them, and a connection that breaks off without QUIT deletes nothing.",
        f"DELE {out.number} только помечает письмо {out.number} для удаления; пока ничего не удалено. "
        f"Сервер удалит помеченные письма, когда клиент скажет QUIT (состояние UPDATE, RFC 1939 §6). "
        f"RSET снимет пометки, а соединение, оборвавшееся без QUIT, ничего не удалит.")


def _explain_quit(out: Updated) -> dict[str, str]:
    if not out.ok:
        return _t(
            "QUIT: the server entered the UPDATE state but could not delete the marked messages, and said "
            "so with -ERR (RFC 1939 §6). They are still in the mailbox.",
            "QUIT: сервер перешёл в состояние UPDATE, но не смог удалить помеченные письма и сообщил об "
            "этом ответом -ERR (RFC 1939 §6). Письма остались в ящике.")
    if out.deleted:
        return _t(
            f"QUIT: the session entered the UPDATE state and the server removed the messages marked with "
            f"DELE ({_en(out.deleted)}); {out.left} remain on the server. This is POP3's 'download and delete': "
            f"those messages now live only in the mail program (RFC 1939 §6).",
            f"QUIT: сеанс перешёл в состояние UPDATE, и сервер удалил письма, помеченные командой DELE "
            f"({_ru(out.deleted)}); на сервере осталось: {_ru(out.left)}. Это «скачать и удалить» по-POP3: "
            f"теперь эти письма есть только в почтовой программе (RFC 1939 §6).")
    return _t(
        f"QUIT: nothing was marked with DELE, so all messages ({_en(out.left)}) stay on the server (the client "
        f"'leaves messages on the server' and will recognise them next time by their UIDL).",
        f"QUIT: ничего не было помечено командой DELE, поэтому все письма ({_ru(out.left)}) остаются на сервере "
        f"(клиент «оставляет письма на сервере» и в следующий раз узнает их по UIDL).")


def _explain_abandoned(out: Abandoned) -> dict[str, str]:
    why_en = {"dropped": "the connection was closed", "timeout": "the client was idle for too long",
              "error": "the server hit an internal error"}.get(out.reason, out.reason)
    why_ru = {"dropped": "соединение закрыто", "timeout": "клиент слишком долго молчал",
              "error": "на сервере произошла внутренняя ошибка"}.get(out.reason, out.reason)
    return _t(
        f"The session ended without QUIT ({why_en}). POP3 deletes messages only after QUIT, so the "
        f"messages marked with DELE ({_en(out.marked)}) were NOT deleted (RFC 1939 §6).",
        f"Сеанс закончился без QUIT ({why_ru}). POP3 удаляет письма только после QUIT, поэтому "
        f"письма, помеченные командой DELE ({_ru(out.marked)}), НЕ удалены (RFC 1939 §6).")
