"""The SMTP client of the sandbox MTAs: delivery of one message to one next-hop address.

RFC 5321 §3 (the transaction), §4.2 (replies, multi-line), §4.5.2 (transparency), §4.5.3.2
(timeouts, compressed here), RFC 1869/5321 EHLO with a HELO fallback.  Reply parsing is sans-IO
(:class:`ReplyParser`); :func:`deliver` is the thin asyncio driver that records the transcript.
MX selection lives in :mod:`simulator.routing`; this module talks to one address.

Left out: STARTTLS between sandbox hosts (their traffic stays on loopback), PIPELINING on the
client side (one command, one reply, which is easier to read in a transcript), BDAT, DSN options.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Callable

from .lines import dot_stuff


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
    MAIL = "mail"
    RCPT = "rcpt"
    DATA = "data"
    DOT = "dot"
    DONE = "done"


@dataclass(slots=True)
class Outcome:
    """What happened at one address.  ``stage`` is where it stopped; ``reply`` is the reply that
    decided it (None when the connection failed).  ``rcpt_replies`` maps each recipient to the
    reply that decided its fate (its RCPT reply if that failed, else the final DATA reply)."""
    stage: Stage
    reply: Reply | None = None
    error: str = ""
    rcpt_replies: dict[str, Reply] = field(default_factory=dict)
    transcript: list[tuple[str, str]] = field(default_factory=list)
    local: tuple[str, int] | None = None

    @property
    def connected(self) -> bool:
        return self.stage is not Stage.CONNECT

    @property
    def try_next(self) -> bool:
        """RFC 5321 §5.1: a connection failure, or a 4xx before any recipient, means try the next
        address; 5xx or a per-recipient 4xx does not."""
        if not self.connected:
            return True
        return (self.stage in (Stage.GREETING, Stage.EHLO, Stage.MAIL)
                and (self.reply is None or self.reply.kind == 4))


async def deliver(*, address: str, port: int, local_address: str | None, helo: str,
                  sender: str, recipients: list[str], content: bytes,
                  connect_timeout: float, command_timeout: float,
                  on_connected: Callable[[tuple[str, int]], None] | None = None) -> Outcome:
    out = Outcome(Stage.CONNECT)
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(address, port,
                                    local_addr=(local_address, 0) if local_address else None),
            connect_timeout)
    except (OSError, asyncio.TimeoutError) as exc:
        out.error = _describe(exc)
        return out
    out.local = writer.get_extra_info("sockname")[:2]
    if on_connected is not None:
        on_connected(out.local)
    parser = ReplyParser()

    async def read_reply() -> Reply:
        while True:
            replies = parser.feed(await asyncio.wait_for(_read_some(reader), command_timeout))
            if replies:
                reply = replies[0]
                for line in _reply_lines(reply):
                    out.transcript.append(("S", line))
                return reply

    async def command(line: str) -> Reply:
        out.transcript.append(("C", line))
        writer.write(line.encode("utf-8") + b"\r\n")
        await writer.drain()
        return await read_reply()

    try:
        out.stage = Stage.GREETING
        reply = await read_reply()
        if reply.code != 220:
            out.reply = reply
            await _quit(command)
            return out
        out.stage = Stage.EHLO
        reply = await command(f"EHLO {helo}")
        if reply.kind == 5:          # RFC 5321 §3.2: fall back to HELO
            reply = await command(f"HELO {helo}")
        if reply.kind != 2:
            out.reply = reply
            await _quit(command)
            return out
        out.stage = Stage.MAIL
        reply = await command(f"MAIL FROM:<{sender}>")
        if reply.kind != 2:
            out.reply = reply
            await _quit(command)
            return out
        out.stage = Stage.RCPT
        accepted: list[str] = []
        for rcpt in recipients:
            reply = await command(f"RCPT TO:<{rcpt}>")
            if reply.kind == 2:
                accepted.append(rcpt)
            else:
                out.rcpt_replies[rcpt] = reply
        if not accepted:
            out.reply = reply
            await _quit(command)
            return out
        out.stage = Stage.DATA
        reply = await command("DATA")
        if reply.code != 354:
            out.reply = reply
            for rcpt in accepted:
                out.rcpt_replies[rcpt] = reply
            await _quit(command)
            return out
        out.stage = Stage.DOT
        stuffed = dot_stuff(content)
        for line in stuffed.split(b"\r\n")[:-1]:
            out.transcript.append(("D", line.decode("utf-8", "replace")))
        writer.write(stuffed)
        await writer.drain()
        reply = await read_reply()
        out.reply = reply
        for rcpt in accepted:
            out.rcpt_replies[rcpt] = reply
        out.stage = Stage.DONE if reply.kind == 2 else Stage.DOT
        await _quit(command)
        return out
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ReplyError, ConnectionError) as exc:
        out.error = _describe(exc)
        return out
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (OSError, ConnectionError):
            pass


async def _read_some(reader: asyncio.StreamReader) -> bytes:
    data = await reader.read(4096)
    if not data:
        raise asyncio.IncompleteReadError(b"", None)
    return data


async def _quit(command) -> None:
    try:
        await command("QUIT")
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ReplyError, ConnectionError):
        pass


def _reply_lines(reply: Reply) -> list[str]:
    lines = list(reply.lines) or [""]
    return [f"{reply.code}{'-' if i < len(lines) - 1 else ' '}{text}" for i, text in enumerate(lines)]


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (nothing listens there: the host is down)"
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    if isinstance(exc, asyncio.IncompleteReadError):
        return "the server closed the connection"
    return f"{type(exc).__name__}: {exc}"
