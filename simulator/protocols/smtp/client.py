"""The SMTP client of the sandbox MTAs: delivery of one message to one next-hop address.

RFC 5321 §3 (the transaction), §4.2 (replies, multi-line), §4.5.2 (transparency), §4.5.3.2
(timeouts, compressed here), RFC 1869/5321 EHLO with a HELO fallback (§3.2), RFC 1870 SIZE (the
message's size on MAIL when the server announces SIZE), RFC 3207 STARTTLS, opportunistic as Postfix's
``smtp_tls_security_level = may``: when the server offers it and the sending host may use TLS, the
client starts TLS (without checking the certificate: the sandbox's is self-signed, and opportunistic
TLS does not authenticate anyway), then says EHLO again (§4.2); a refused STARTTLS goes on in
plaintext.

Theory of operation: two sans-IO pieces and a thin driver.

- :class:`ReplyParser`: bytes in, complete :class:`Reply` records out.
- :class:`RelayDialogue`: replies in, one effect out per reply -- :class:`Command` (write this
  line), :class:`Payload` (write the dot-stuffed message), :class:`StartTls` (start TLS on the
  connection, then call ``tls_started()`` for the next effect) or :class:`Close` (the dialogue is over).
  Which reply is expected next is a :class:`Stage`; the table ``_ON_REPLY`` maps each stage to the
  function that handles its reply.  The dialogue records the transcript and builds the
  :class:`Outcome`: where it stopped and which reply decided each recipient's fate.
- :func:`deliver`: connects, feeds bytes to the parser and replies to the dialogue, writes what the
  dialogue asks, and turns socket trouble into an :class:`~simulator.facts.AttemptReason`.

Connection reuse (Postfix's connection cache, ``smtp_connection_cache_on_demand``): with a
:class:`~.conncache.ConnectionCache`, a transaction that ended in 250 does not say QUIT; the dialogue
answers :class:`Park` and the connection waits in the cache, greeted, EHLO'd and (if it was) under
TLS, for the next message to the same address from the same host.  The next transaction on it starts
at MAIL FROM (:meth:`RelayDialogue.resume`): its transcript shows no greeting, no EHLO and no
STARTTLS, because none happened.  A cached connection the server closed meanwhile (its idle timeout)
fails before any reply: the message goes on a new connection, as Postfix does.

MX selection lives in :mod:`simulator.routing`; this module talks to one address.

Speed (issue 13): a reply is awaited under ``asyncio.timeout`` (``wait_for`` makes a task per read), and
the connection's reads ask at most :data:`~simulator.protocols.transport.RECV_SIZE` octets, as the
servers' do (:func:`~simulator.protocols.transport.small_reads`): asyncio asks 256 KiB, both for a
plain socket's ``recv`` and for the decrypted copy of a TLS read, and a buffer that size is mapped and
unmapped at every read (glibc's mmap threshold).  The transcript keeps the first ``BODY_KEPT`` lines of
the message and a count of the others (``RelayDialogue.payload``): all a failed attempt's fact shows.

Left out: PIPELINING on the client side (one command, one reply, which is easier to read in a
transcript), BDAT, DSN options, DANE and verified TLS.
"""
from __future__ import annotations

import asyncio
import functools
import ssl
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Callable

from ...events import CUT
from ...facts import AttemptReason, Reason
from ..lines import dot_stuff
from ..transport import small_reads

# Body lines of a relayed message kept in the client's transcript (``RelayDialogue.payload``): the same
# number ``simulator.events.trim_transcript`` keeps by default.
BODY_KEPT = 20

__all__ = ["Reply", "ReplyError", "ReplyParser", "Stage", "Outcome", "Command", "Payload", "Close",
           "Park", "StartTls", "RelayDialogue", "Connection", "deliver", "opportunistic_tls"]


@dataclass(frozen=True, slots=True)
class Reply:
    code: int
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return " ".join(self.lines)

    @property
    def kind(self) -> int:          # 2, 3, 4 or 5
        return self.code // 100

    def __str__(self) -> str:
        return f"{self.code} {self.text}".strip()

    def wire_lines(self) -> list[str]:
        """The reply as the server sent it ("250-first", "250 last")."""
        lines = list(self.lines) or [""]
        return [f"{self.code}{'-' if i < len(lines) - 1 else ' '}{text}" for i, text in enumerate(lines)]


class ReplyError(ValueError):
    pass


class ReplyParser:
    """Bytes in, complete replies out (RFC 5321 §4.2: "250-..." continues, "250 ..." ends)."""

    max_line = 2048

    def __init__(self) -> None:
        self._buffer = b""
        self._lines: list[str] = []
        self._code: int | None = None
        self.raw: list[str] = []

    def feed(self, data: bytes) -> list[Reply]:
        self._buffer += data
        replies: list[Reply] = []
        while b"\n" in self._buffer:
            line, _, self._buffer = self._buffer.partition(b"\n")
            text = line.rstrip(b"\r").decode("utf-8", "replace")
            self.raw.append(text)
            if len(text) < 3 or not text[:3].isdigit() or (len(text) > 3 and text[3] not in " -"):
                raise ReplyError(f"not an SMTP reply line: {text[:80]!r}")
            code = int(text[:3])
            if self._code is not None and code != self._code:
                raise ReplyError("reply code changed inside a multi-line reply")
            self._code = code
            self._lines.append(text[4:])
            if len(text) == 3 or text[3] == " ":
                replies.append(Reply(code, tuple(self._lines)))
                self._lines, self._code = [], None
        if len(self._buffer) > self.max_line:
            raise ReplyError("reply line too long")
        return replies


class Stage(StrEnum):
    CONNECT = "connect"
    GREETING = "greeting"
    EHLO = "ehlo"
    STARTTLS = "starttls"
    MAIL = "mail"
    RCPT = "rcpt"
    DATA = "data"
    DOT = "dot"
    DONE = "done"


@dataclass(slots=True)
class Outcome:
    """What happened at one address.  ``stage`` is where it stopped; ``reply`` is the reply that
    decided it (None when the connection failed: then ``failure`` says why).  ``rcpt_replies``
    maps each recipient to the reply that decided its fate (its RCPT reply if that failed, else the
    final DATA reply)."""
    stage: Stage
    reply: Reply | None = None
    failure: Reason | None = None
    rcpt_replies: dict[str, Reply] = field(default_factory=dict)
    transcript: list[tuple[str, str]] = field(default_factory=list)
    local: tuple[str, int] | None = None
    tls: bool = False              # the dialogue went on under TLS (after STARTTLS)
    tls_declined: bool = False     # the server offered STARTTLS; this client was told not to use it
    reused: bool = False           # it ran on a cached connection (no greeting, EHLO or STARTTLS)
    kept: bool = False             # the connection went back to the cache (no QUIT)

    @property
    def connected(self) -> bool:
        return self.stage is not Stage.CONNECT

    @property
    def try_next(self) -> bool:
        """RFC 5321 §5.1: a connection failure, or a 4xx before any recipient, means try the next
        address; 5xx or a per-recipient 4xx does not.  A server that refuses in its greeting (554
        "no SMTP service here") is skipped like one that cannot be reached, as Postfix does by
        default (``smtp_skip_5xx_greeting``): the next MX may well take the message."""
        if not self.connected or self.stage is Stage.GREETING:
            return True
        return (self.stage in (Stage.GREETING, Stage.EHLO, Stage.STARTTLS, Stage.MAIL)
                and (self.reply is None or self.reply.kind == 4))


# -- the dialogue's effects ----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Command:
    line: str                 # without CRLF


@dataclass(frozen=True, slots=True)
class Payload:
    data: bytes               # dot-stuffed, ending with ".\r\n"


@dataclass(frozen=True, slots=True)
class StartTls:
    """The server said 220 to STARTTLS: start TLS now, then ask ``tls_started()`` what next."""


@dataclass(frozen=True, slots=True)
class Close:
    pass


@dataclass(frozen=True, slots=True)
class Park:
    """The transaction is over and the connection may carry another one: keep it (no QUIT)."""


Effect = Command | Payload | StartTls | Close | Park


class RelayDialogue:
    """The client side of one SMTP transaction as a state machine (sans-IO).

    ``receive(reply)`` after each reply (the first is the greeting) returns the next effect.  Once a
    reply has decided the outcome the dialogue sends QUIT; the reply to QUIT (or its absence)
    changes nothing.
    """

    def __init__(self, *, helo: str, sender: str, recipients: list[str], content: bytes,
                 starttls: bool = False, keep: bool = False) -> None:
        self.helo, self.sender, self.recipients, self.content = helo, sender, list(recipients), content
        self.starttls = starttls            # may this client start TLS when the server offers it?
        self.keep = keep                    # after a 250 to the message, Park instead of QUIT
        self.outcome = Outcome(Stage.GREETING)
        self.quitting = False
        self.extensions: dict[str, str] = {}   # the last EHLO reply's keywords and their parameters
        self._tried_helo = False
        self._next_rcpt = 0
        self._accepted: list[str] = []

    @property
    def finished(self) -> bool:
        """The outcome is decided: trouble from here on (during QUIT) does not change it."""
        return self.quitting

    def receive(self, reply: Reply) -> Effect:
        for line in reply.wire_lines():
            self.outcome.transcript.append(("S", line))
        if self.quitting:
            return Close()
        return _ON_REPLY[self.outcome.stage](self, reply)

    # -- helpers for the stage functions ---------------------------------------------------------
    def send(self, line: str, stage: Stage | None = None) -> Command:
        if stage is not None:
            self.outcome.stage = stage
        self.outcome.transcript.append(("C", line))
        return Command(line)

    def stop(self, reply: Reply) -> Command:
        """This reply decides the outcome: say QUIT."""
        self.outcome.reply = reply
        self.quitting = True
        return self.send("QUIT")

    def payload(self) -> Payload:
        """The message, dot-stuffed.  The transcript gets its first ``BODY_KEPT`` lines and a count of
        the rest, ``(CUT, "N")``: what :func:`simulator.events.trim_transcript` (the only reader of a
        relay client's transcript: a failed attempt's fact) keeps of the whole body anyway."""
        self.outcome.stage = Stage.DOT
        stuffed = dot_stuff(self.content)
        lines = stuffed.split(b"\r\n", BODY_KEPT)
        if len(lines) > BODY_KEPT:                  # more lines than kept: count the others
            left = lines.pop().count(b"\r\n")        # the last piece ends with ".\r\n"; its tail is ""
            lines.append(b"")
        else:
            left = 0
        transcript = self.outcome.transcript
        for line in lines[:-1]:
            transcript.append(("D", line.decode("utf-8", "replace")))
        if left:
            transcript.append((CUT, str(left)))
        return Payload(stuffed)

    def next_rcpt(self) -> Command:
        rcpt = self.recipients[self._next_rcpt]
        return self.send(f"RCPT TO:<{rcpt}>", Stage.RCPT)

    def mail(self) -> Command:
        """MAIL FROM, with the message's size when the server announced SIZE (RFC 1870 §6)."""
        size = f" SIZE={len(self.content)}" if "SIZE" in self.extensions else ""
        return self.send(f"MAIL FROM:<{self.sender}>{size}", Stage.MAIL)

    def resume(self, extensions: dict[str, str], tls: bool) -> Command:
        """Start on a cached connection: the server greeted and EHLO'd it before; MAIL FROM now."""
        self.outcome.reused, self.outcome.tls, self.extensions = True, tls, dict(extensions)
        return self.mail()

    def tls_started(self) -> Command:
        """TLS is up: everything the server said before is forgotten; EHLO again (RFC 3207 §4.2)."""
        self.outcome.tls = True
        self.extensions = {}
        return self.send(f"EHLO {self.helo}", Stage.EHLO)


def _on_greeting(d: RelayDialogue, reply: Reply) -> Effect:
    if reply.code != 220:
        return d.stop(reply)
    return d.send(f"EHLO {d.helo}", Stage.EHLO)


def _on_ehlo(d: RelayDialogue, reply: Reply) -> Effect:
    if reply.kind == 5 and not d._tried_helo:      # RFC 5321 §3.2: fall back to HELO
        d._tried_helo = True
        return d.send(f"HELO {d.helo}")
    if reply.kind != 2:
        return d.stop(reply)
    d.extensions = _extensions(reply) if not d._tried_helo else {}
    if "STARTTLS" in d.extensions and not d.outcome.tls:
        if d.starttls:
            return d.send("STARTTLS", Stage.STARTTLS)
        d.outcome.tls_declined = True
    return d.mail()


def _on_starttls(d: RelayDialogue, reply: Reply) -> Effect:
    if reply.code == 220:
        return StartTls()
    return d.mail()         # opportunistic: TLS refused, go on in plaintext (RFC 3207 §4.1)


def _extensions(reply: Reply) -> dict[str, str]:
    """EHLO keywords (RFC 5321 §4.1.1.1): every line but the first names one, with parameters."""
    out: dict[str, str] = {}
    for line in reply.lines[1:]:
        keyword, _, params = line.strip().partition(" ")
        if keyword:
            out[keyword.upper()] = params
    return out


def _on_mail(d: RelayDialogue, reply: Reply) -> Effect:
    if reply.kind != 2:
        return d.stop(reply)
    if not d.recipients:
        d.outcome.stage = Stage.RCPT
        return d.stop(reply)
    return d.next_rcpt()


def _on_rcpt(d: RelayDialogue, reply: Reply) -> Effect:
    rcpt = d.recipients[d._next_rcpt]
    if reply.code == 421:              # RFC 5321 §3.8: the server is closing: every recipient waits
        return d.stop(reply)
    if reply.kind == 2:
        d._accepted.append(rcpt)
    else:
        d.outcome.rcpt_replies[rcpt] = reply
    d._next_rcpt += 1
    if d._next_rcpt < len(d.recipients):
        return d.next_rcpt()
    if not d._accepted:
        return d.stop(reply)
    return d.send("DATA", Stage.DATA)


def _on_data(d: RelayDialogue, reply: Reply) -> Effect:
    if reply.code != 354:
        for rcpt in d._accepted:
            d.outcome.rcpt_replies[rcpt] = reply
        return d.stop(reply)
    return d.payload()


def _on_dot(d: RelayDialogue, reply: Reply) -> Effect:
    for rcpt in d._accepted:
        d.outcome.rcpt_replies[rcpt] = reply
    if reply.kind == 2:
        d.outcome.stage = Stage.DONE
        if d.keep:                      # the transaction is over (RFC 5321 §4.1.1.4): keep the session
            d.outcome.reply, d.quitting, d.outcome.kept = reply, True, True
            return Park()
    return d.stop(reply)


_ON_REPLY: dict[Stage, Callable[[RelayDialogue, Reply], Effect]] = {
    Stage.GREETING: _on_greeting, Stage.EHLO: _on_ehlo, Stage.STARTTLS: _on_starttls, Stage.MAIL: _on_mail,
    Stage.RCPT: _on_rcpt,
    Stage.DATA: _on_data, Stage.DOT: _on_dot,
}


# -- the asyncio driver --------------------------------------------------------------------------
class TlsFailed(Exception):
    """The TLS handshake after the server's 220 to STARTTLS failed."""


_TROUBLE = (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ReplyError, ConnectionError, TlsFailed)


@functools.cache
def opportunistic_tls() -> ssl.SSLContext:
    """The client side of opportunistic TLS: encrypt, but check no certificate (RFC 7435)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


@dataclass(slots=True)
class Connection:
    """An open SMTP session between two transactions (the connection cache holds it)."""
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    local: tuple[str, int]
    extensions: dict[str, str]
    tls: bool
    opened: float
    epoch: int = 0              # the cache's epoch when its slot was granted (see ConnectionCache)

    def usable(self) -> bool:
        return not self.writer.is_closing() and not self.reader.at_eof()

    async def close(self, timeout: float = 1.0, *, say_quit: bool = True) -> None:
        """QUIT, wait a moment for the 221, and close; without ``say_quit`` just close (see
        :class:`~.conncache.ConnectionCache`: a QUIT the page could not place)."""
        try:
            if say_quit and self.usable():
                self.writer.write(b"QUIT\r\n")
                await asyncio.wait_for(self.reader.readline(), timeout)
        except _TROUBLE:
            pass
        finally:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except (OSError, ConnectionError, ssl.SSLError):
                pass


async def deliver(*, address: str, port: int, local_address: str | None, helo: str,
                  sender: str, recipients: list[str], content: bytes,
                  connect_timeout: float, command_timeout: float,
                  on_connected: Callable[[tuple[str, int]], None] | None = None,
                  tls: ssl.SSLContext | None = None, cache=None, key=None,
                  reusable: Callable[[], bool] = lambda: True) -> Outcome:
    """Connect to ``address:port`` (from ``local_address``) and run one transaction; with ``tls``,
    start TLS when the server offers STARTTLS.  With ``cache`` (a :class:`~.conncache.ConnectionCache`)
    and its ``key``: take a cached connection if one waits (at most ``cache.limit`` open at once per
    key), and give the connection back after a 250; the cache asks ``reusable()`` before it hands out
    or keeps a connection (the world may change while this waits for a slot)."""
    fields = dict(helo=helo, sender=sender, recipients=recipients, content=content, starttls=tls is not None,
                  keep=cache is not None)
    conn = await cache.acquire(key, reusable) if cache is not None else None
    epoch = cache.epoch if cache is not None else 0       # a new connection belongs to this epoch
    if conn is not None:
        dialogue = RelayDialogue(**fields)
        dialogue.outcome.local = conn.local
        if on_connected is not None:
            on_connected(conn.local)
        first = dialogue.resume(conn.extensions, conn.tls)
        try:
            await _converse(dialogue, conn.reader, conn.writer, command_timeout, tls, first=first)
        except _TROUBLE as exc:
            if dialogue.finished or any(side == "S" for side, _ in dialogue.outcome.transcript):
                if not dialogue.finished:
                    dialogue.outcome.failure = _failure(exc)
                return await _after(dialogue, conn, cache, key, reusable)
            # the server closed the idle connection before this transaction: a new connection
            await _after(dialogue, conn, cache, key, reusable, reopen=True)
        except BaseException:           # cancelled (a stop): the connection goes, its slot too
            _abandon(conn, cache, key)
            raise
        else:
            return await _after(dialogue, conn, cache, key, reusable)
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(address, port,
                                    local_addr=(local_address, 0) if local_address else None),
            connect_timeout)
    except (OSError, asyncio.TimeoutError) as exc:
        if cache is not None:
            cache.release(key, None)
        return Outcome(Stage.CONNECT, failure=_failure(exc))
    except BaseException:
        if cache is not None:
            cache.release(key, None)
        raise
    small_reads(writer.transport)
    dialogue = RelayDialogue(**fields)
    dialogue.outcome.local = writer.get_extra_info("sockname")[:2]
    conn = Connection(reader, writer, dialogue.outcome.local, {}, False, asyncio.get_running_loop().time(),
                      epoch)
    if on_connected is not None:
        on_connected(dialogue.outcome.local)
    try:
        await _converse(dialogue, reader, writer, command_timeout, tls)
    except _TROUBLE as exc:
        if not dialogue.finished:
            dialogue.outcome.failure = _failure(exc)
    except BaseException:
        _abandon(conn, cache, key)
        raise
    conn.extensions, conn.tls = dict(dialogue.extensions), dialogue.outcome.tls
    return await _after(dialogue, conn, cache, key, reusable)


def _abandon(conn: Connection, cache, key) -> None:
    """Close a connection whose transaction was cancelled, and free its slot."""
    conn.writer.close()
    if cache is not None:
        cache.closed(conn)
        cache.release(key, None)


async def _after(dialogue: RelayDialogue, conn: Connection, cache, key,
                 reusable: Callable[[], bool] = lambda: True, *, reopen: bool = False) -> Outcome:
    """Give a connection that carried a whole transaction back to the cache (which may still close
    it: ``kept`` says whether it stayed); close any other.  With ``reopen`` the caller opens a new
    one in the same slot (the slot stays taken)."""
    outcome = dialogue.outcome
    if cache is not None and outcome.kept and outcome.failure is None and conn.usable():
        outcome.kept = cache.release(key, conn, reusable)
        return outcome
    outcome.kept = False
    conn.writer.close()
    if cache is not None:
        cache.closed(conn)
        if not reopen:
            cache.release(key, None)
    try:
        await conn.writer.wait_closed()
    except (OSError, ConnectionError, ssl.SSLError):
        pass
    return outcome


async def _converse(dialogue: RelayDialogue, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    timeout: float, tls: ssl.SSLContext | None = None, first: Effect | None = None) -> None:
    parser = ReplyParser()
    pending: list[Reply] = []
    if first is not None:               # a cached connection: the client speaks first
        writer.write(first.line.encode("utf-8") + b"\r\n" if isinstance(first, Command) else first.data)
        await writer.drain()
    while True:
        while not pending:
            async with asyncio.timeout(timeout):
                data = await reader.read(4096)
            if not data:
                raise asyncio.IncompleteReadError(b"", None)
            pending.extend(parser.feed(data))
        effect = dialogue.receive(pending.pop(0))
        if isinstance(effect, (Close, Park)):
            return
        if isinstance(effect, StartTls):
            assert tls is not None
            pending.clear()                 # nothing the server sent before TLS counts (RFC 3207 §4.2)
            parser = ReplyParser()
            try:
                await asyncio.wait_for(writer.start_tls(tls), timeout)
            except (ssl.SSLError, ConnectionError, asyncio.TimeoutError) as exc:
                raise TlsFailed(f"{type(exc).__name__}: {exc}") from exc
            small_reads(writer.transport)
            effect = dialogue.tls_started()
        writer.write(effect.line.encode("utf-8") + b"\r\n" if isinstance(effect, Command) else effect.data)
        await writer.drain()


def _failure(exc: BaseException) -> Reason:
    if isinstance(exc, TlsFailed):
        return Reason.of(AttemptReason.TLS, detail=str(exc)[:200])
    if isinstance(exc, ConnectionRefusedError):
        return Reason.of(AttemptReason.REFUSED)
    if isinstance(exc, asyncio.TimeoutError):
        return Reason.of(AttemptReason.TIMEOUT)
    if isinstance(exc, asyncio.IncompleteReadError):
        return Reason.of(AttemptReason.CLOSED)
    if isinstance(exc, ReplyError):
        return Reason.of(AttemptReason.BAD_REPLY, detail=str(exc))
    return Reason.of(AttemptReason.ERROR, detail=f"{type(exc).__name__}: {exc}")
