"""aiosmtpd's SMTP protocol with a transcript: every line the client sent, every reply pushed.

aiosmtpd owns the parser; this subclass only watches it.  ``push()`` is the one place every reply
passes: it records the reply, adds RFC 2034 enhanced status codes to aiosmtpd's own replies, and in
line-by-line stepping waits at the gate before each reply.  The handler
(:class:`~.handler.SmtpHandler`) turns the transcript into facts at the end of each transaction.

Submission's login throttle (RFC 4954 §9: make password guessing expensive) is applied here: an
``AUTH`` from a peer with failures on record waits before it is checked, as the shared
:class:`~simulator.protocols.throttle.LoginThrottle` prescribes.

The layers under the dialogue are recorded here as well: the two ends of the socket when the
connection is made (after STARTTLS the TLS transport may no longer tell), whether TLS is on and from
which line of the transcript (:meth:`TranscriptSMTP.layers` gives a published slice its
:class:`~simulator.facts.Wire` and the :class:`~simulator.facts.Credential` marks of its AUTH lines).

Faults of the host (:mod:`simulator.faults`) that concern the whole dialogue are applied here too:
a ``slow`` greeting waits before the 220; a ``reply`` fault answers its command (CONNECT, EHLO,
HELO, STARTTLS, AUTH, MAIL, RCPT, DATA, QUIT) in place of the real reply, and a faulty greeting
closes the connection (RFC 5321 §3.1, 421/554); ``require_tls`` answers MAIL before STARTTLS with
530 5.7.0 (RFC 3207 §4); a ``size_limit`` is the listener's SIZE (RFC 1870: 552 5.3.4 at MAIL or at
the end of DATA); ``no_tls`` makes the listener without STARTTLS.  The last two are decided when the
connection is made (``size_fault``, ``tls_withheld``).  The handler (:mod:`.handler`) does RCPT's
greylisting and full mailboxes and the end of DATA.
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
from typing import TYPE_CHECKING, Any

from aiosmtpd.smtp import SMTP

from ...facts import Credential, TlsMode, Wire
from ...faults import reply_line
from ...scenario.model import FaultKind
from ..layers import find_credentials, tls_version_of, trimmed_positions, wire
from ..throttle import LoginThrottle

if TYPE_CHECKING:
    from .handler import DataResult, SmtpHandler

log = logging.getLogger(__name__)

_ENHANCED = re.compile(r"^\d\.\d{1,3}\.\d{1,3}\b")
# Default enhanced codes (RFC 3463) for aiosmtpd's own replies, which carry none.
_DEFAULT_ENHANCED = {500: "5.5.2", 501: "5.5.4", 502: "5.5.1", 503: "5.5.1", 504: "5.5.4",
                     530: "5.7.0", 535: "5.7.8", 552: "5.3.4", 554: "5.0.0", 555: "5.5.4",
                     421: "4.3.0", 451: "4.3.0", 452: "4.3.1", 250: "2.0.0", 221: "2.0.0",
                     235: "2.7.0", 550: "5.0.0", 553: "5.1.3"}
_NO_ENHANCED = {220, 334, 354}
_TRIVIAL = {"QUIT", "NOOP", "RSET"}   # a session tail of only these is not worth an event
_MAX_TRANSCRIPT = 5000


class TranscriptSMTP(SMTP):
    """aiosmtpd's SMTP with a transcript and one fact per transaction (published by the handler)."""

    sleep = staticmethod(asyncio.sleep)       # how a throttled AUTH waits (tests record it)

    def __init__(self, handler: "SmtpHandler", *, throttle: LoginThrottle | None = None,
                 **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.handler = handler
        self.throttle = throttle
        self.transcript: list[tuple[str, str]] = []
        self._in_data = False
        self._in_ehlo = False
        self._partial = b""
        self.data_result: DataResult | None = None
        self.published_upto = 0
        self.streamed_upto = 0
        self._sockname: Any = None
        self._peername: Any = None
        self.tls_mode = TlsMode.NONE          # TLS on this connection, and since when
        self.tls_version = ""
        self.tls_from: int | None = None      # index in ``transcript`` of the first line under TLS
        self.tls_withheld = False             # no STARTTLS on this connection: a ``no_tls`` fault
        self.size_fault: int | None = None    # this connection's SIZE comes from a ``size_limit`` fault
        self._greeted = False
        self._close_after_push = False

    @property
    def peer_ip(self) -> str:
        session = self.session
        return session.peer[0] if session is not None and session.peer else "?"

    @property
    def local_port(self) -> int:
        return int(self._sockname[1]) if self._sockname else 0

    def connection_made(self, transport: Any) -> None:
        if self._sockname is None:      # the plain socket's; after STARTTLS the TLS transport's is gone
            self._sockname = transport.get_extra_info("sockname")   # once the connection is lost
            self._peername = transport.get_extra_info("peername")
            if transport.get_extra_info("sslcontext") is not None:  # a TLS port (smtps): TLS from byte one
                self.tls_mode, self.tls_from = TlsMode.IMPLICIT, 0
                self.tls_version = tls_version_of(transport)
        elif self.tls_mode is TlsMode.NONE:     # called again: the STARTTLS handshake is done
            self.tls_mode, self.tls_from = TlsMode.STARTTLS, len(self.transcript)
            self.tls_version = tls_version_of(transport)
        super().connection_made(transport)

    def wire_now(self) -> Wire:
        """The connection's Wire as it is now (for a fact with no lines of its own)."""
        return wire(self._peername, self._sockname, tls=self.tls_mode, tls_version=self.tls_version, tls_from=0)

    def layers(self, start: int, *, keep: int = 20) -> tuple[Wire, tuple[Credential, ...]]:
        """The Wire and the credential marks of ``transcript[start:]`` once trimmed with ``keep``
        (as :func:`~simulator.events.trim_transcript` trims it for a fact)."""
        end = len(self.transcript)
        positions = trimmed_positions(self.transcript[start:end], keep)
        tls, since = self.tls_mode, self.tls_from
        if since is None or since >= end:          # TLS came after these lines (or never)
            tls, tls_from = TlsMode.NONE, None
        elif since <= start:
            tls_from = 0
        else:
            tls_from = positions[since - start]
        marks = []
        for mark in find_credentials(self.transcript[:end], "SMTP", tls=self.tls_mode, tls_from=since):
            where = positions[mark.line - start] if mark.line >= start else None
            if where is not None:
                marks.append(dataclasses.replace(mark, line=where))
        layer = wire(self._peername, self._sockname, tls=tls, tls_version=self.tls_version if tls else "",
                     tls_from=tls_from)
        return layer, tuple(marks)

    # -- what the client sent ------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        self._record_client(data)
        super().data_received(data)

    def _record_client(self, data: bytes) -> None:
        self._partial += data
        if len(self._partial) > 65536 and b"\n" not in self._partial:
            self._partial = self._partial[:1024]     # an endless line: keep the transcript small
        while b"\n" in self._partial:
            line, _, self._partial = self._partial.partition(b"\n")
            text = line.rstrip(b"\r").decode("utf-8", "replace")
            if len(text) > 300:
                text = text[:300] + f"… [{len(text)} characters]"
            if self._in_data:
                if text == ".":
                    self._in_data = False
                    self.transcript.append(("C", "."))
                else:
                    self.transcript.append(("D", text))
            else:
                self.transcript.append(("C", text))
            if len(self.transcript) > _MAX_TRANSCRIPT:
                del self.transcript[100:1100]

    # -- what the server answered: push() is the one place every reply passes -----------------
    async def push(self, status: Any) -> None:
        text = status.decode("utf-8", "replace") if isinstance(status, bytes) else str(status)
        if not self._greeted:                   # the first reply of a connection is the greeting
            self._greeted = True
            text = await self._greeting(text)
        text = self.enhance(text)
        if text.startswith("235 ") and self.handler.host is None:
            text = self.handler.front_handover(self, text)
        if self.handler.line_mode and text[3:4] != "-":      # one step per reply (its last line)
            # Line-by-line stepping: each server reply waits for the teacher; the client lines that
            # led to it stream as they arrive.
            await self.handler.before_reply(self, text)
            self.transcript.append(("S", text))
            self.handler.stream_lines(self)
        else:
            self.transcript.append(("S", text))
        if text.startswith("354"):
            self._in_data = True
        await super().push(text)
        if self._close_after_push or text.startswith("421 "):
            # RFC 5321 §3.8: 421 says "closing transmission channel" — and then does it
            self._close()

    def _close(self) -> None:
        """End the session from the server's side (after a faulty greeting or QUIT reply)."""
        if self._handler_coroutine is not None:
            self._handler_coroutine.cancel()
        if self.transport is not None:
            self.transport.close()

    # -- faults ------------------------------------------------------------------------------------
    async def _greeting(self, text: str) -> str:
        """A slow greeting waits; a ``reply`` fault at CONNECT replaces it and ends the session."""
        slow = self.handler.fault(FaultKind.SLOW)
        if slow is not None and slow.greeting > 0:
            self.handler.bite(self, slow, "CONNECT", "", delay=slow.greeting)
            await self.sleep(slow.greeting)
        fault = self.handler.fault_reply("CONNECT")
        if fault is None:
            return text
        text = self.enhance(reply_line(fault))
        self.handler.bite(self, fault, "CONNECT", text)
        self._close_after_push = True          # RFC 5321 §3.1: no service here (421/554)
        return text

    async def _answered_by_fault(self, command: str) -> bool:
        """A ``reply`` fault at ``command``: give its reply instead of doing the command."""
        fault = self.handler.fault_reply(command)
        if fault is None:
            return False
        text = self.enhance(reply_line(fault))
        self.handler.bite(self, fault, command, text)
        if command == "QUIT":
            self._close_after_push = True
        await self.push(text)
        return True

    @property
    def encrypted(self) -> bool:
        return self._tls_protocol is not None or (
            self.transport is not None and self.transport.get_extra_info("sslcontext") is not None)

    def _last_reply(self) -> str:
        return next((line for side, line in reversed(self.transcript) if side == "S"), "")

    def _size_bite(self, command: str) -> None:
        """A 552 from this connection's SIZE limit, when a ``size_limit`` fault set it."""
        reply = self._last_reply()
        if self.size_fault is not None and reply.startswith("552"):
            fault = self.handler.fault(FaultKind.SIZE_LIMIT)
            if fault is not None:
                self.handler.bite(self, fault, command, reply)

    def enhance(self, text: str) -> str:
        """RFC 2034: once ENHANCEDSTATUSCODES is advertised, replies carry a status code."""
        if self._in_ehlo or len(text) < 4 or not text[:3].isdigit():
            return text
        code = int(text[:3])
        rest = text[4:]
        if code in _NO_ENHANCED or _ENHANCED.match(rest):
            return text
        enhanced = _DEFAULT_ENHANCED.get(code, f"{code // 100}.0.0")
        return f"{text[:3]}{text[3]}{enhanced} {rest}".rstrip()

    async def smtp_EHLO(self, hostname: str) -> None:
        if await self._answered_by_fault("EHLO"):
            return
        self._in_ehlo = True
        try:
            await super().smtp_EHLO(hostname)
        finally:
            self._in_ehlo = False

    async def smtp_HELO(self, hostname: str) -> None:
        if await self._answered_by_fault("HELO"):
            return
        self._in_ehlo = True
        try:
            await super().smtp_HELO(hostname)
        finally:
            self._in_ehlo = False

    async def smtp_AUTH(self, arg: str) -> None:
        """RFC 4954 §9: a peer with failed logins on record waits before its next one is checked.

        A door that offers no mechanism (an MX) does not know AUTH at all (RFC 4954 §3)."""
        if await self._answered_by_fault("AUTH"):
            return
        if not self._auth_methods:
            await self.push("502 5.5.1 AUTH is not offered on this port")
            return
        if self.throttle is not None:
            wait = self.throttle.delay(self.peer_ip)
            if wait > 0:
                await self.sleep(wait)
        await super().smtp_AUTH(arg)

    async def smtp_STARTTLS(self, arg: str) -> None:
        if await self._answered_by_fault("STARTTLS"):
            return
        await super().smtp_STARTTLS(arg)

    async def smtp_MAIL(self, arg: str | None) -> None:
        if await self._answered_by_fault("MAIL"):
            return
        require = self.handler.fault(FaultKind.REQUIRE_TLS)
        if require is not None and not self.encrypted:
            # RFC 3207 §4: a server may refuse mail until the client has started TLS.
            text = "530 5.7.0 Must issue a STARTTLS command first"
            self.handler.bite(self, require, "MAIL", text)
            await self.push(text)
            return
        await super().smtp_MAIL(arg)
        self._size_bite("MAIL")

    async def smtp_RCPT(self, arg: str | None) -> None:
        if await self._answered_by_fault("RCPT"):
            return
        await super().smtp_RCPT(arg)

    async def smtp_QUIT(self, arg: str) -> None:
        if await self._answered_by_fault("QUIT"):
            return
        await super().smtp_QUIT(arg)

    async def smtp_DATA(self, arg: str) -> None:
        if await self._answered_by_fault("DATA"):
            return
        self.data_result = None
        await super().smtp_DATA(arg)
        self._in_data = False
        result, self.data_result = self.data_result, None
        if result is None:                      # aiosmtpd itself refused: too much data?
            self._size_bite("DOT")
        if result is not None:
            self.handler.publish_session(self, result)
        elif any(side == "D" for side, _ in self.transcript[self.published_upto:]):
            self.handler.publish_session(self, self.handler.refusal(self.transcript[-1][1]))

    def connection_lost(self, error: Exception | None) -> None:
        try:
            if self.session is not None and self._worth_publishing():
                self.handler.publish_session(self, None)
        except Exception:
            log.exception("publishing the end of an SMTP session failed")
        super().connection_lost(error)

    def _worth_publishing(self) -> bool:
        rest = self.transcript[self.published_upto:]
        return any(side == "C" and line.strip() and line.split(" ", 1)[0].upper() not in _TRIVIAL
                   for side, line in rest)


# The overrides keep aiosmtpd's HELP texts (``@syntax`` marks the method it decorates).
for _name in ("smtp_EHLO", "smtp_HELO", "smtp_AUTH", "smtp_STARTTLS", "smtp_MAIL", "smtp_RCPT", "smtp_QUIT",
              "smtp_DATA"):
    getattr(TranscriptSMTP, _name).__dict__.update(getattr(SMTP, _name).__dict__)
