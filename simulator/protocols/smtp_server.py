"""The sandbox's SMTP servers on aiosmtpd: the MSA (submission) and MX roles.

aiosmtpd owns the parser; we own the policy (a handler with ``handle_EHLO/MAIL/RCPT/DATA``) and the
trace: :class:`TracingSMTP` records every line the client sent and every reply pushed, and
publishes one ``smtp.session`` event per transaction.

- MSA (RFC 6409): AUTH PLAIN/LOGIN is required before MAIL (530 5.7.0, RFC 4954 §6), allowed
  without TLS on the plain port (a classroom shows credentials crossing the wire); the envelope
  sender must be the authenticated user's address (553 5.7.1, RFC 6409 §6.1); Date and Message-ID
  are added when missing (§8.2, §8.3).
- MX: no AUTH; accepts only recipients of domains this host serves or backs up (550 5.7.1: no
  open relay) and only users that exist (550 5.1.1).
- Both: EHLO offers PIPELINING (RFC 2920) and ENHANCEDSTATUSCODES (RFC 2034) besides aiosmtpd's
  SIZE, 8BITMIME, SMTPUTF8, STARTTLS, AUTH; every accepted message gets a Received: header
  (RFC 5321 §4.4, RFC 3848 protocol names); more than ``max_hops`` Received: headers is a mail loop
  (554 5.4.6, §6.3); bare CR/LF in DATA are normalised to CRLF (§2.3.8; aiosmtpd ≥ 1.4.5 ends DATA
  only at CRLF.CRLF); 250 is sent only after the message is fsynced in the host's queue.

Not here: DSN parameters (not advertised), CHUNKING/BDAT (not advertised).
"""
from __future__ import annotations

import logging
import re
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from email.header import decode_header, make_header
from email.parser import BytesHeaderParser
from email.utils import format_datetime, make_msgid
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

from .. import explain
from .. import nodes
from ..events import trim_transcript
from ..facts import NextHop, Step
from ..world import Acceptance, Account, Host, split_address
from .lines import header_block, normalize_crlf

if TYPE_CHECKING:
    from ..runtime import MailStack

log = logging.getLogger(__name__)
# Deliberate: AUTH without TLS on the plain submission port is part of the lesson (see README).
warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS", category=UserWarning)

MAX_RECIPIENTS = 100          # RFC 5321 §4.5.3.1.8: at least 100 must be accepted
_ENHANCED = re.compile(r"^\d\.\d{1,3}\.\d{1,3}\b")
# Default enhanced codes (RFC 3463) for aiosmtpd's own replies, which carry none.
_DEFAULT_ENHANCED = {500: "5.5.2", 501: "5.5.4", 502: "5.5.1", 503: "5.5.1", 504: "5.5.4",
                     530: "5.7.0", 535: "5.7.8", 552: "5.3.4", 554: "5.0.0", 555: "5.5.4",
                     421: "4.3.0", 451: "4.3.0", 452: "4.3.1", 250: "2.0.0", 221: "2.0.0",
                     235: "2.7.0", 550: "5.0.0", 553: "5.1.3"}
_NO_ENHANCED = {220, 334, 354}
_TRIVIAL = {"QUIT", "NOOP", "RSET"}   # a session tail of only these is not worth an event


class Role(StrEnum):
    SUBMISSION = "submission"
    MX = "mx"


@dataclass(slots=True)
class DataResult:
    ok: bool
    reply: str
    queue_id: str = ""
    trace: str | None = None
    message: dict[str, Any] | None = None
    host: str = ""
    final: bool = False


class MailflowSMTP(SMTP):
    """aiosmtpd's SMTP with a transcript and one event per transaction."""

    def __init__(self, handler: "Policy", **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.policy = handler
        self.transcript: list[tuple[str, str]] = []
        self._in_data = False
        self._in_ehlo = False
        self._partial = b""
        self.data_result: DataResult | None = None
        self.published_upto = 0
        self.streamed_upto = 0

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
            if len(self.transcript) > 5000:
                del self.transcript[100:1100]

    # -- what the server answered: push() is the one place every reply passes -----------------
    async def push(self, status: Any) -> None:
        text = status.decode("utf-8", "replace") if isinstance(status, bytes) else str(status)
        text = self._enhance(text)
        gate = self.policy.stack.gate
        if gate.line_mode and text[3:4] != "-":      # one step per reply (its last line)
            # Line-by-line stepping: each server reply waits for the teacher; the client lines that
            # led to it stream as they arrive.
            src, dst = self.policy.session_nodes(self)
            self.policy.stream_lines(self, src, dst)
            await gate.line(NextHop(src=dst, dst=src, step=Step.REPLY, host=nodes.name_of(dst), reply=text[:60]))
            self.transcript.append(("S", text))
            self.policy.stream_lines(self, src, dst)
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

    async def smtp_DATA(self, arg: str) -> None:
        self.data_result = None
        await super().smtp_DATA(arg)
        self._in_data = False
        result, self.data_result = self.data_result, None
        if result is not None:
            self.policy.publish_session(self, result)
        elif any(side == "D" for side, _ in self.transcript[self.published_upto:]):
            self.policy.publish_session(self, DataResult(False, self.transcript[-1][1]))

    def connection_lost(self, error: Exception | None) -> None:
        try:
            if self.session is not None and self._worth_publishing():
                self.policy.publish_session(self, None)
        except Exception:
            log.exception("publishing the end of an SMTP session failed")
        super().connection_lost(error)

    def _worth_publishing(self) -> bool:
        rest = self.transcript[self.published_upto:]
        return any(side == "C" and line.strip() and line.split(" ", 1)[0].upper() not in _TRIVIAL
                   for side, line in rest)


class Policy:
    """The handler object of one listener: which role, which host (None = the front door)."""

    def __init__(self, stack: "MailStack", role: Role, host: Host | None) -> None:
        self.stack, self.role, self.host = stack, role, host
        self.world = stack.world

    # -- aiosmtpd hooks --------------------------------------------------------------------------
    async def handle_EHLO(self, server: SMTP, session: Session, envelope: Envelope, hostname: str,
                          responses: list[str]) -> list[str]:
        session.host_name = hostname
        # RFC 5321 §4.1.4: any EHLO argument is accepted, including [127.0.0.1] and bare names.
        extra = ["250-PIPELINING", "250-ENHANCEDSTATUSCODES"]
        return responses[:-1] + extra + responses[-1:]

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          mail_options: list[str]) -> str:
        # "<>" is the null reverse-path of a bounce (RFC 5321 §4.5.5); aiosmtpd keeps it as "<>".
        if address != "<>" and not _valid_address(address):
            return "501 5.1.7 Bad sender address syntax"
        if self.role is Role.SUBMISSION:
            account: Account = session.auth_data
            if address.lower() != account.address.lower():
                # RFC 6409 §6.1: the MSA checks that the user may use this envelope sender.
                return (f"553 5.7.1 <{address}>: sender address rejected: not owned by user "
                        f"{account.address}")
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 Sender OK"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        if rcpt_options:
            return "555 5.5.4 RCPT TO parameters not recognized"
        if not _valid_address(address):
            return "501 5.1.3 Bad recipient address syntax"
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"
        if self.role is Role.MX:
            _, domain = split_address(address)
            acceptance = self.world.acceptance(self.host, domain)
            if acceptance == Acceptance.NONE:
                return f"550 5.7.1 <{address}>: relay access denied ({self.host.name} is not an MX for {domain})"
            if not self.world.user_exists(address):
                return f"550 5.1.1 <{address}>: recipient address rejected: user unknown in {domain}"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Recipient OK"

    async def handle_DATA(self, server: MailflowSMTP, session: Session, envelope: Envelope) -> str:
        result = await self._accept(server, session, envelope)
        server.data_result = result
        return result.reply

    # -- the work --------------------------------------------------------------------------------
    async def _accept(self, server: MailflowSMTP, session: Session, envelope: Envelope) -> DataResult:
        stack = self.stack
        content = normalize_crlf(envelope.original_content or b"")
        head = header_block(content)
        hops = len(re.findall(rb"(?im)^received:", head))
        if hops >= stack.config.max_hops:
            return DataResult(False, f"554 5.4.6 Too many hops ({hops} Received: headers): mail loop?")
        peer_ip = session.peer[0] if session.peer else "?"
        queue_host = self._queue_host(session)
        if queue_host is None:
            return DataResult(False, "451 4.3.5 No server of this domain can take the message now")
        if not queue_host.up:
            return DataResult(False, f"421 4.3.2 {queue_host.name} is down")
        trace = stack.trace_for_peer(session.peer) or stack.new_trace()
        queue_id = stack.queue.new_id()
        if self.role is Role.SUBMISSION:
            content = _submission_fixups(content, host=queue_host.name, queue_id=queue_id,
                                         clock=stack.clock)
        content = self._received(server, session, envelope, queue_host.name, queue_id, peer_ip) + content
        message = _message_summary(content, envelope)
        if self.role is Role.SUBMISSION:
            account: Account = session.auth_data
            await stack.gate.hop(NextHop(src=nodes.mua(account.address), dst=nodes.mta(queue_host.name),
                                         step=Step.SUBMIT, user=account.address, host=queue_host.name,
                                         trace=trace))
        final = self.role is Role.MX and all(
            self.world.acceptance(queue_host, split_address(r)[1]) == Acceptance.FINAL
            for r in envelope.rcpt_tos)
        try:
            await stack.enqueue(queue_host, _reverse_path(envelope), list(envelope.rcpt_tos), content,
                                trace=trace, queue_id=queue_id, message=message,
                                received_from=self._source_node(session))
        except OSError:
            log.exception("could not queue a message on %s", queue_host.name)
            return DataResult(False, "451 4.3.0 Could not store the message; try again later", trace=trace)
        return DataResult(True, f"250 2.0.0 Ok: queued as {queue_id}", queue_id, trace, message,
                          queue_host.name, final)

    def _queue_host(self, session: Session) -> Host | None:
        if self.host is not None:
            return self.host
        account: Account = session.auth_data
        return self.world.submission_host(account.domain)

    def _source_node(self, session: Session) -> str:
        if self.role is Role.SUBMISSION and session.authenticated:
            return f"mua:{session.auth_data.address}"
        peer_ip = session.peer[0] if session.peer else "?"
        peer_host = self.world.host_by_address(peer_ip)
        return f"mta:{peer_host.name}" if peer_host else f"client:{peer_ip}"

    def _received(self, server: MailflowSMTP, session: Session, envelope: Envelope, by: str, queue_id: str,
                  peer_ip: str) -> bytes:
        """RFC 5321 §4.4 trace header; protocol names from RFC 3848 (ESMTPSA = TLS + AUTH)."""
        helo = session.host_name or "unknown"
        peer_host = self.world.host_by_address(peer_ip)
        name = peer_host.name if peer_host else ("localhost" if peer_ip.startswith("127.") else "unknown")
        tls = session.ssl is not None or (server.transport is not None and
                                           server.transport.get_extra_info("sslcontext") is not None)
        suffix = ("S" if tls else "") + ("A" if session.authenticated else "")
        if envelope.smtp_utf8:
            proto = "UTF8SMTP" + suffix               # RFC 6531 §3.7.4
        else:
            proto = ("ESMTP" if session.extended_smtp else "SMTP") + suffix    # RFC 3848
        rcpt = f"\r\n\tfor <{envelope.rcpt_tos[0]}>" if len(envelope.rcpt_tos) == 1 else ""
        date = format_datetime(datetime.fromtimestamp(self.stack.clock(), timezone.utc).astimezone())
        return (f"Received: from {helo} ({name} [{peer_ip}])\r\n\tby {by} (Mailflow) with {proto} "
                f"id {queue_id}{rcpt};\r\n\t{date}\r\n").encode("utf-8", "replace")

    def session_nodes(self, server: MailflowSMTP) -> tuple[str, str]:
        session = server.session
        src = self._source_node(session)
        if self.host is not None:
            return src, f"mta:{self.host.name}"
        queue_host = self._queue_host(session) if session.authenticated else None
        return src, f"mta:{queue_host.name if queue_host else 'front'}"

    def stream_lines(self, server: MailflowSMTP, src: str, dst: str) -> None:
        """Publish the dialogue lines not yet streamed (line-by-line mode only)."""
        lines = server.transcript[server.streamed_upto:]
        server.streamed_upto = len(server.transcript)
        if not lines:
            return
        trace = self.stack.trace_for_peer(server.session.peer if server.session else None)
        self.stack.bus.publish("smtp.line", src=src, dst=dst, protocol="SMTP", status="info",
                               summary=" / ".join(line for _, line in trim_transcript(lines, keep=3))[:200],
                               trace=trace, transcript=trim_transcript(lines, keep=3),
                               data={"peer": server.session.peer[0] if server.session and server.session.peer else ""})

    def publish_session(self, server: MailflowSMTP, result: DataResult | None) -> None:
        session = server.session
        lines = server.transcript[server.published_upto:]
        server.published_upto = len(server.transcript)
        if not lines:
            return
        peer_ip = session.peer[0] if session and session.peer else "?"
        src, dst = self.session_nodes(server)
        dst_host = dst.removeprefix("mta:")
        ok = bool(result and result.ok)
        failure = result.reply if result and not result.ok else _last_failure(lines)
        status = "ok" if ok else ("failed" if failure else "info")
        if ok and self.role is Role.SUBMISSION:
            rcpts = result.message["rcpt"] if result.message else []
            summary = f"{src.removeprefix('mua:')} submits a message to {dst_host} (MSA)"
            text = explain.submission(src.removeprefix("mua:"), dst_host, rcpts, result.queue_id)
        elif ok and src.startswith("mta:"):
            rcpts = result.message["rcpt"] if result.message else []
            summary = (f"{src[4:]} hands the message to {dst_host}"
                       f"{'' if result.final else ' (backup MX: it will forward it)'}")
            text = explain.relay_received(src[4:], dst_host, result.final, rcpts)
        elif ok:
            summary = f"{src} → {dst_host}: message accepted over SMTP"
            text = explain.by_hand(peer_ip, dst_host, True)
        elif failure:
            summary = f"{dst_host} refused: {failure}"
            text = explain.rejected(dst_host, failure)
        else:
            summary = f"{src} talked SMTP to {dst_host} (no message)"
            text = explain.by_hand(peer_ip, dst_host, False)
        trace = (result.trace if result else None) or self.stack.trace_for_peer(session.peer if session else None)
        self.stack.bus.publish(
            "smtp.session", src=src, dst=dst, protocol="SMTP", status=status, summary=summary,
            explain=text, trace=trace, transcript=trim_transcript(lines),
            message=result.message if result else None,
            data={"role": str(self.role), "peer": peer_ip, "queue_id": result.queue_id if result else ""})
        if ok and src.startswith("mta:"):
            # The 250 moves responsibility (RFC 5321 §6.1): the sending MTA drops the message from
            # its queue.  Published here, at the 250, so the timeline reads "handed on" before the
            # receiving host's next hop, whatever the scheduling.
            rcpts = result.message["rcpt"] if result.message else []
            self.stack.bus.publish(
                "queue.relay", src=src, dst=dst, protocol="SMTP",
                summary=f"{dst_host} accepted the message: it leaves {src[4:]}'s queue",
                explain=explain.relayed(src[4:], dst_host, rcpts), trace=trace,
                data={"queue_id": result.queue_id})


class Authenticator:
    """aiosmtpd authenticator: PLAIN and LOGIN against the world's users (RFC 4954, RFC 4616)."""

    def __init__(self, stack: "MailStack", host: Host | None) -> None:
        self.stack, self.host = stack, host

    def __call__(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                 auth_data: Any) -> AuthResult:
        login = auth_data.login.decode("utf-8", "replace") if isinstance(auth_data.login, bytes) else str(auth_data.login)
        password = (auth_data.password.decode("utf-8", "replace") if isinstance(auth_data.password, bytes)
                    else str(auth_data.password))
        default_domain = self.host.domain if self.host is not None else None
        account = self.stack.world.authenticate(login, password, default_domain)
        if account is not None and self.host is not None and account.domain != self.host.domain:
            account = None      # a domain's own MSA serves its own users only
        if account is None:
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=account)


def _reverse_path(envelope: Envelope) -> str:
    return "" if envelope.mail_from in (None, "", "<>") else envelope.mail_from


def _valid_address(address: str) -> bool:
    local, _, domain = address.rpartition("@")
    try:
        address.encode("utf-8")         # aiosmtpd keeps undecodable bytes as surrogates: refuse them
    except UnicodeEncodeError:
        return False
    return bool(local) and bool(domain) and len(local) <= 64 and len(domain) <= 255 and " " not in address


def _last_failure(lines: list[tuple[str, str]]) -> str:
    for side, line in reversed(lines):
        if side == "S" and line[:1] in ("4", "5"):
            return line
    return ""


def _has_header(head: bytes, name: bytes) -> bool:
    return re.search(rb"(?im)^" + re.escape(name) + rb":", head) is not None


def _submission_fixups(content: bytes, *, host: str, queue_id: str, clock) -> bytes:
    """RFC 6409 §8.2/§8.3: the MSA adds Date and Message-ID when the client left them out."""
    head = header_block(content)
    added = b""
    if not _has_header(head, b"date"):
        date = format_datetime(datetime.fromtimestamp(clock(), timezone.utc).astimezone())
        added += f"Date: {date}\r\n".encode()
    if not _has_header(head, b"message-id"):
        added += f"Message-ID: {make_msgid(idstring=queue_id, domain=host)}\r\n".encode()
    return added + content


def _message_summary(content: bytes, envelope: Envelope) -> dict[str, Any]:
    """Envelope beside headers, for the browser (escaped there, never trusted).

    compat32 parsing plus RFC 2047 decoding of the few fields shown: the modern email policy
    costs twenty times as much per message, on the path every submission takes.
    """
    headers = BytesHeaderParser().parsebytes(header_block(content) + b"\r\n\r\n")

    def get(name: str) -> str:
        value = headers.get(name)
        if value is None:
            return ""
        try:
            return str(make_header(decode_header(str(value))))[:300]
        except Exception:          # a malformed encoded word must not break the summary
            return str(value)[:300]
    return {
        "id": get("message-id"), "from": _reverse_path(envelope), "rcpt": list(envelope.rcpt_tos),
        "header_from": get("from"), "header_to": get("to"), "subject": get("subject"),
        "received": [" ".join(str(v).split())[:400] for v in (headers.get_all("received") or [])],
        "size": len(content),
    }


