"""aiosmtpd's SMTP protocol with a transcript: every line the client sent, every reply pushed.

aiosmtpd owns the parser; this subclass only watches it.  ``push()`` is the one place every reply
passes: it records the reply, adds RFC 2034 enhanced status codes to aiosmtpd's own replies, and in
line-by-line stepping waits at the gate before each reply.  The handler
(:class:`~.handler.SmtpHandler`) turns the transcript into facts at the end of each transaction.

Submission's login throttle (RFC 4954 §9: make password guessing expensive) is applied here: an
``AUTH`` from a peer with failures on record waits before it is checked, as the shared
:class:`~simulator.protocols.throttle.LoginThrottle` prescribes.
"""
from __future__ import annotations

import asyncio
import logging
import re
from typing import TYPE_CHECKING, Any

from aiosmtpd.smtp import SMTP

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

    @property
    def peer_ip(self) -> str:
        session = self.session
        return session.peer[0] if session is not None and session.peer else "?"

    @property
    def local_port(self) -> int:
        try:        # after STARTTLS a closed TLS transport has no socket to ask any more
            sockname = self.transport.get_extra_info("sockname") if self.transport is not None else None
        except AttributeError:
            sockname = None
        return int(sockname[1]) if sockname else 0

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
        text = self._enhance(text)
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

    def _enhance(self, text: str) -> str:
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
        self._in_ehlo = True
        try:
            await super().smtp_EHLO(hostname)
        finally:
            self._in_ehlo = False

    async def smtp_HELO(self, hostname: str) -> None:
        self._in_ehlo = True
        try:
            await super().smtp_HELO(hostname)
        finally:
            self._in_ehlo = False

    async def smtp_AUTH(self, arg: str) -> None:
        """RFC 4954 §9: a peer with failed logins on record waits before its next one is checked."""
        if self.throttle is not None:
            wait = self.throttle.delay(self.peer_ip)
            if wait > 0:
                await self.sleep(wait)
        await super().smtp_AUTH(arg)

    async def smtp_DATA(self, arg: str) -> None:
        self.data_result = None
        await super().smtp_DATA(arg)
        self._in_data = False
        result, self.data_result = self.data_result, None
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
