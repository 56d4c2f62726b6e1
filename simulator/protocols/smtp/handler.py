"""The sandbox's SMTP servers on aiosmtpd: the policy of the MSA (submission) and MX doors.

aiosmtpd owns the parser; :class:`SmtpHandler` is its handler object (``handle_EHLO/MAIL/RCPT/DATA``)
and :class:`~.session.TranscriptSMTP` keeps the transcript.  At the end of each transaction the
handler publishes one :class:`~simulator.facts.SmtpSession` fact (and a
:class:`~simulator.facts.Relayed` when a sandbox MTA handed a message on).

- MSA (RFC 6409): AUTH PLAIN/LOGIN is required before MAIL (530 5.7.0, RFC 4954 §6), allowed
  without TLS on the plain port (a classroom shows credentials crossing the wire); the envelope
  sender must be the authenticated user's address (553 5.7.1, RFC 6409 §6.1); Date and Message-ID
  are added when missing (§8.2, §8.3).
- MX: no AUTH; accepts only recipients of domains this host serves or backs up (550 5.7.1: no
  open relay) and only users that exist (550 5.1.1).
- The front door (no host of its own): greets as :data:`FRONT_NAME`; its 235 to a good AUTH names
  the submission host of the user's domain, which takes the message (and answers any later EHLO).
- The app port (:mod:`.app`) is a subclass of this policy: no AUTH required, any sender.
- Every door has the same limits, from the configuration: SIZE (RFC 1870; 552 5.3.4, enforced by
  the session) and ``max_recipients`` per transaction (452 4.5.3, RFC 5321 §4.5.3.1.10).
- Every host greets and answers EHLO with its own name (RFC 5321 §4.1.1.1, §4.3.1).
- Both: EHLO offers PIPELINING (RFC 2920) and ENHANCEDSTATUSCODES (RFC 2034) besides aiosmtpd's
  SIZE, 8BITMIME, SMTPUTF8, STARTTLS, AUTH (only with a mechanism, RFC 4954 §3); every accepted message gets a Received: header
  (RFC 5321 §4.4, RFC 3848 protocol names); more than ``max_hops`` Received: headers is a mail loop
  (554 5.4.6, §6.3); bare CR/LF in DATA are normalised to CRLF (§2.3.8; aiosmtpd ≥ 1.4.5 ends DATA
  only at CRLF.CRLF); 250 is sent only after the message is fsynced in the host's queue ("queued as"),
  or, on an MX that is the final destination and nothing asks for the queue, fsynced in the
  Maildir(s) (:mod:`simulator.direct`: "delivered as"; the MDA's facts follow the MX's session fact,
  ``SmtpServices.announce``).

Faults (:mod:`simulator.faults`, set by a lesson or the teacher) change a host's answers as a real
server configured so would: at RCPT of the MX door, greylisting (450 4.7.1 for a new triplet,
accepted on retry) and a full mailbox (452 4.2.2, or 552 5.2.2 when permanent) on the final MX; at
the end of DATA, a slow reply and a chosen reply.  The session (:mod:`.session`) handles the faults
of the other commands.  Every time a fault changes an answer a :class:`~simulator.facts.FaultBit`
is published.

Exactly once across crashes (issue 12, rule 1): the MX door keys a relayed message by its relay
identifier (:mod:`.relayid`), and a resend of one any host of the world already took is answered 250
and queued nowhere (its :class:`~simulator.facts.Relayed` says ``resend``, with no queue id); the
identifier's header field is removed at every door, so it never reaches a mailbox.

Not here: DSN parameters (not advertised: :mod:`.relayid` says why the relay identifier is no
ENVID), CHUNKING/BDAT (not advertised).
"""
from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import re
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import format_datetime, make_msgid
from typing import Any, Awaitable, Callable

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

from ... import nodes
from ...events import trim_transcript
from ...facts import Door, Fact, FaultBit, NextHop, Relayed, SmtpLine, SmtpOutcome, SmtpSession, HopStep
from ...faults import FaultBook, fault_node, reply_line
from ...scenario.model import Fault, FaultKind
from ...gate import StepGate
from ...traces import TraceBook
from ...world import Acceptance, Account, Host, World, split_address
from ...store.headers import header_block, summarize
from ..lines import normalize_crlf
from ..throttle import LoginThrottle
from . import relayid
from .session import TranscriptSMTP

log = logging.getLogger(__name__)
# Deliberate: AUTH without TLS on the plain submission port is part of the lesson (see README).
warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS", category=UserWarning)

_HASH_INLINE = 64 * 1024      # octets: a larger message's relay key is computed in a worker thread
_RECEIVED_FIELD = re.compile(rb"(?im)^received:")     # the hops a message has made (a loop: too many)
MAX_RECIPIENTS = 100          # RFC 5321 §4.5.3.1.8: at least 100 must be accepted (the default limit)
# The front door's name in its greeting: it is no sandbox host, and it must not pass for one (nor
# for "localhost"); after AUTH it names the MSA that takes the message (``front_handover``).
FRONT_NAME = "front-door.mailflow.test"


@dataclass(frozen=True, slots=True)
class SmtpServices:
    """What every SMTP handler uses, passed in by whoever builds the world."""
    world: World
    gate: StepGate
    publish: Callable[[Fact], Any]
    clock: Callable[[], float]
    traces: TraceBook
    enqueue: Callable[..., Awaitable[Any]]           # Delivery.enqueue
    new_queue_id: Callable[[], str]
    max_hops: int
    faults: FaultBook | None = None                  # the faults in force (None: none ever)
    max_recipients: int = MAX_RECIPIENTS             # RCPTs per transaction (452 4.5.3 beyond)
    outside: Callable[[], str] = lambda: "bounce"    # what happens to mail for domains outside the sandbox
    # Delivery.announce: after the MX's session fact of a message delivered before its 250 (``direct``),
    # the MDA's facts of it are published (the page folds the MX's hop before the mailbox's)
    announce: Callable[[str], None] | None = None
    session_gone: Callable[[str], None] | None = None
    # Delivery.inflow: in-flow control (Postfix's in_flow_delay) waited for at a submission *before*
    # its 354, so a client that leaves meanwhile has sent nothing that could be delivered
    inflow: Callable[[], Awaitable[None]] | None = None


@dataclass(slots=True)
class DataResult:
    ok: bool
    reply: str
    queue_id: str = ""
    trace: str | None = None
    message: dict[str, Any] | None = None
    host: str = ""
    final: bool = False
    resend: bool = False        # a relayed message this world already took: acknowledged, queued nowhere
    direct: bool = False        # delivered into the Maildir(s) before the 250: nothing queued


def rcpt_refusal(address: str, rcpt_options: list[str], envelope: Envelope, max_recipients: int) -> str:
    """What every door answers a RCPT it cannot take whatever the address ("" if none applies):
    unknown parameters, bad syntax, one recipient too many."""
    if rcpt_options:
        return "555 5.5.4 RCPT TO parameters not recognized"
    if not _valid_address(address):
        return "501 5.1.3 Bad recipient address syntax"
    if len(envelope.rcpt_tos) >= max_recipients:
        # RFC 5321 §4.5.3.1.10: 452 for too many recipients; the client sends the rest later
        return f"452 4.5.3 Too many recipients (at most {max_recipients} per message)"
    return ""


class SmtpHandler:
    """The aiosmtpd handler of one listener: which door, which host (None = the front door)."""

    def __init__(self, door: Door, host: Host | None, services: SmtpServices) -> None:
        self.door, self.host, self.services = door, host, services
        self.world = services.world

    def __dir__(self) -> list[str]:
        """The hooks (``handle_*``) and AUTH mechanisms (``auth_*``) only: aiosmtpd looks for them
        with ``dir()`` and ``inspect.getmembers()`` (a getattr of every attribute, this object's
        properties included) at every connection."""
        return list(_hooks(type(self)))

    @property
    def line_mode(self) -> bool:
        return self.services.gate.line_mode

    # -- aiosmtpd hooks --------------------------------------------------------------------------
    async def handle_EHLO(self, server: SMTP, session: Session, envelope: Envelope, hostname: str,
                          responses: list[str]) -> list[str]:
        session.host_name = hostname
        # RFC 5321 §4.1.4: any EHLO argument is accepted, including [127.0.0.1] and bare names.
        extra = ["250-PIPELINING", "250-ENHANCEDSTATUSCODES"]
        # RFC 4954 §3: AUTH is followed by at least one mechanism; a door with none (an MX) says nothing.
        responses = [line for line in responses if line.rstrip() != "250-AUTH"]
        if getattr(server, "tls_withheld", False) and session.ssl is None:
            fault = self.fault(FaultKind.NO_TLS)
            if fault is not None:        # the listener was made without STARTTLS for this fault
                self.bite(server, fault, "EHLO", "")
        return responses[:-1] + extra + responses[-1:]

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          mail_options: list[str]) -> str:
        # "<>" is the null reverse-path of a bounce (RFC 5321 §4.5.5); aiosmtpd keeps it as "<>".
        if address != "<>" and not _valid_address(address):
            return "501 5.1.7 Bad sender address syntax"
        if self.door is Door.SUBMISSION:
            account: Account = session.auth_data
            if address.lower() != account.address.lower():
                # RFC 6409 §6.1: the MSA checks that the user may use this envelope sender.
                return (f"553 5.7.1 <{address}>: sender address rejected: not owned by user "
                        f"{account.address}")
            if not self.world.may_send(account.address):
                # A classroom's per-student limit (as providers' sending quotas, e.g. 550 5.4.5).
                return (f"550 5.4.5 <{account.address}>: sending limit reached "
                        f"({self.world.send_limit(account.address)} messages); ask your teacher")
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 Sender OK"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        refusal = rcpt_refusal(address, rcpt_options, envelope, self.services.max_recipients)
        if refusal:
            return refusal
        if self.door is Door.MX:
            _, domain = split_address(address)
            acceptance = self.world.acceptance(self.host, domain)
            if acceptance == Acceptance.NONE:
                return f"550 5.7.1 <{address}>: relay access denied ({self.host.name} is not an MX for {domain})"
            if self.world.mailbox_of(address) is None:      # its own, or the domain's catch-all user
                return f"550 5.1.1 <{address}>: recipient address rejected: user unknown in {domain}"
            refusal = self._rcpt_faults(server, session, envelope, address, acceptance)
            if refusal:
                return refusal
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Recipient OK"

    async def handle_DATA(self, server: TranscriptSMTP, session: Session, envelope: Envelope) -> str:
        slow = self.fault(FaultKind.SLOW)
        if slow is not None and slow.data > 0:
            # A slow content filter or disk: the client waits for the reply to its final dot.
            self.bite(server, slow, "DOT", "", delay=slow.data)
            await server.sleep(slow.data)
        fault = self.fault_reply("DOT")
        if fault is not None:
            reply = server.enhance(reply_line(fault))
            self.bite(server, fault, "DOT", reply)
            result = DataResult(False, reply, trace=self._trace(server))
        else:
            result = await self._accept(server, session, envelope)
        server.data_result = result
        return result.reply

    # -- faults ----------------------------------------------------------------------------------
    def fault(self, kind: FaultKind) -> Fault | None:
        """The fault of ``kind`` set on this listener's host (the front door has none)."""
        book = self.services.faults
        return book.get(kind, self.host.name) if book is not None and self.host is not None else None

    def fault_reply(self, command: str) -> Fault | None:
        """A ``reply`` fault at ``command`` on this host, counted as used."""
        book = self.services.faults
        return book.reply_for(self.host.name, command) if book is not None and self.host is not None else None

    def bite(self, server: TranscriptSMTP, fault: Fault, command: str, reply: str, *,
             delay: float = 0.0) -> None:
        """Tell the learners that ``fault`` changed this server's answer to ``command``."""
        client_node, server_node = self.session_nodes(server)
        client = nodes.name_of(client_node) if client_node != nodes.OUTSIDE else server.peer_ip
        self.services.publish(FaultBit(src=server_node, dst=client_node, trace=self._trace(server),
                                       fault=fault.kind, target=fault.target, node=fault_node(fault),
                                       command=command, reply=reply, delay=delay, client=client,
                                       wire=server.wire_now()))

    def _rcpt_faults(self, server: TranscriptSMTP, session: Session, envelope: Envelope, address: str,
                     acceptance: str) -> str:
        """A full mailbox on the final MX, then greylisting: the refusal, or "" to go on."""
        book = self.services.faults
        if book is None:
            return ""
        full = book.mailbox_full(address) if acceptance == Acceptance.FINAL else None
        if full is not None:
            # RFC 3463 §3.3: X.2.2 mailbox full; temporary unless the quota is known to stay.
            reply = (f"552 5.2.2 <{address}>: mailbox full, quota exceeded" if full.permanent
                     else f"452 4.2.2 <{address}>: mailbox full, try again later")
            self.bite(server, full, "RCPT", reply)
            return reply
        grey = book.greylisted(self.host.name, server.peer_ip, _reverse_path(envelope), address)
        if grey is not None:
            wait = f" in {grey.delay:g} seconds" if grey.delay > 0 else ""
            reply = f"450 4.7.1 <{address}>: recipient address rejected: greylisted, try again{wait}"
            self.bite(server, grey, "RCPT", reply)
            return reply
        return ""

    # -- the work --------------------------------------------------------------------------------
    async def _accept(self, server: TranscriptSMTP, session: Session, envelope: Envelope) -> DataResult:
        svc = self.services
        # The relay identifier (:mod:`.relayid`) comes off at every door; only an MX keys by it.
        content = normalize_crlf(envelope.original_content or b"")
        # (hashing a big message is CPU work the loop should not wait for)
        relay, content = (await asyncio.to_thread(relayid.take, content) if len(content) > _HASH_INLINE
                          else relayid.take(content))
        if self.door is not Door.MX or self.world.host_by_address(session.peer[0] if session.peer else "?") is None:
            relay = ""                  # only a sandbox host's queue runner relays: nobody else writes .done records
        hops = len(_RECEIVED_FIELD.findall(header_block(content)))
        if hops >= svc.max_hops:
            return DataResult(False, f"554 5.4.6 Too many hops ({hops} Received: headers): mail loop?")
        queue_host = self._queue_host(session)
        if queue_host is None:
            return DataResult(False, "451 4.3.5 No server of this domain can take the message now")
        if not queue_host.up:
            return DataResult(False, f"421 4.3.2 {queue_host.name} is down")
        trace = svc.traces.for_peer(session.peer) or svc.traces.new()
        queue_id = svc.new_queue_id()
        if self.door is Door.SUBMISSION:
            content = _submission_fixups(content, host=queue_host.name, queue_id=queue_id, clock=svc.clock)
        content = self._received(server, session, envelope, queue_host.name, queue_id) + content
        message = _message_summary(content, envelope)
        if self.door is Door.SUBMISSION:
            await svc.gate.hop(self._submit_hop(session, envelope, queue_host, trace))
        final = self.door is Door.MX and all(
            self.world.acceptance(queue_host, split_address(r)[1]) == Acceptance.FINAL
            for r in envelope.rcpt_tos)
        sender = self._limited_sender(session)
        if sender is not None and not self.world.reserve_send(sender):
            return DataResult(False, f"550 5.4.5 <{sender}>: sending limit reached "
                                     f"({self.world.send_limit(sender)} messages); ask your teacher", trace=trace)
        waited = {"inflow": False} if svc.inflow is not None else {}    # the door waited before its 354
        if svc.announce is not None:            # publish_session tells the queue when its fact is out
            waited["awaits_session"] = True
        try:
            queued = await svc.enqueue(queue_host, _reverse_path(envelope), list(envelope.rcpt_tos), content,
                                       trace=trace, queue_id=queue_id, message=message,
                                       received_from=self._source_node(session), **waited,
                                       **({"relay": relay} if relay else {}))
        except asyncio.CancelledError:
            if svc.session_gone is not None:
                svc.session_gone(queue_id)
            raise
        except OSError:
            log.exception("could not queue a message on %s", queue_host.name)
            if sender is not None:
                self.world.release_send(sender)
            return DataResult(False, "451 4.3.0 Could not store the message; try again later", trace=trace)
        if queued is None:
            # A resend of a relayed message this host already took (the sender died before it could
            # forget it): acknowledged, queued nowhere (RFC 5321 §6.1 allows the duplicate; we avoid it).
            return DataResult(True, "250 2.0.0 Ok: already received (a resend)", "", trace, message,
                              queue_host.name, final, resend=True)
        direct = bool(getattr(queued, "direct", False))
        return DataResult(True, f"250 2.0.0 Ok: {'delivered' if direct else 'queued'} as {queue_id}",
                          queue_id, trace, message, queue_host.name, final, direct=direct)

    async def before_content(self, session: Session) -> None:
        """In-flow control before a submission's 354 (a user's message: the same messages
        ``Delivery.enqueue`` held back after the dot before, ``received_from`` a MUA)."""
        inflow = self.services.inflow
        if inflow is not None and self._source_node(session).startswith("mua:"):
            await inflow()

    def _submit_hop(self, session: Session, envelope: Envelope, queue_host: Host, trace: str) -> NextHop:
        """The hop a submission waits for at the gate: the user's MUA hands the message to the MSA."""
        account: Account = session.auth_data
        return NextHop(src=nodes.mua(account.address), dst=nodes.mta(queue_host.name), step=HopStep.SUBMIT,
                       user=account.address, host=queue_host.name, trace=trace)

    def _limited_sender(self, session: Session) -> str | None:
        """The user whose sending limit this message counts against (None: no limit applies)."""
        return session.auth_data.address if self.door is Door.SUBMISSION else None

    def _queue_host(self, session: Session) -> Host | None:
        if self.host is not None:
            return self.host
        account: Account = session.auth_data
        return self.world.submission_host(account.domain)

    def _source_node(self, session: Session) -> str:
        if self.door is Door.SUBMISSION and session.authenticated:
            return nodes.mua(session.auth_data.address)
        peer_host = self.world.host_by_address(session.peer[0] if session.peer else "?")
        return nodes.mta(peer_host.name) if peer_host else nodes.OUTSIDE

    def _received(self, server: TranscriptSMTP, session: Session, envelope: Envelope, by: str,
                  queue_id: str) -> bytes:
        """RFC 5321 §4.4 trace header; protocol names from RFC 3848 (ESMTPSA = TLS + AUTH)."""
        peer_ip = server.peer_ip
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
        date = _local_date(self.services.clock())
        return (f"Received: from {helo} ({name} [{peer_ip}])\r\n\tby {by} (Mailflow) with {proto} "
                f"id {queue_id}{rcpt};\r\n\t{date}\r\n").encode("utf-8", "replace")

    # -- facts -----------------------------------------------------------------------------------
    def session_nodes(self, server: TranscriptSMTP) -> tuple[str, str]:
        session = server.session
        src = self._source_node(session)
        if self.host is not None:
            return src, nodes.mta(self.host.name)
        queue_host = self._queue_host(session) if session.authenticated else None
        return src, nodes.mta(queue_host.name) if queue_host else nodes.FRONT

    def via(self, server: TranscriptSMTP) -> str | None:
        """The front door, when the client connected there and the hop is drawn to the MSA."""
        if self.host is not None:
            return None
        return nodes.FRONT if self.session_nodes(server)[1] != nodes.FRONT else None

    def front_handover(self, server: TranscriptSMTP, reply: str) -> str:
        """The front door's 235: the user's submission host takes it from here, by its own name."""
        session = server.session
        queue_host = self._queue_host(session) if session is not None and session.authenticated else None
        if queue_host is None:
            return reply
        server.hostname = queue_host.name         # a later EHLO is answered by the MSA's name
        return f"{reply.rstrip()}; {queue_host.name} takes your mail from here"

    def _trace(self, server: TranscriptSMTP) -> str | None:
        return self.services.traces.for_peer(server.session.peer if server.session else None)

    async def before_reply(self, server: TranscriptSMTP, reply: str) -> None:
        """Line-by-line stepping: stream the client's lines so far, then wait to send ``reply``."""
        src, dst = self.session_nodes(server)
        self.stream_lines(server)
        host = nodes.host_of(dst) or ""         # "": the front door, before the login names a host
        await self.services.gate.line(NextHop(src=dst, dst=src, step=HopStep.REPLY, host=host,
                                              reply=reply[:60], trace=self._trace(server)))

    def stream_lines(self, server: TranscriptSMTP) -> None:
        """Publish the dialogue lines not yet streamed (line-by-line mode only)."""
        lines = server.transcript[server.streamed_upto:]
        server.streamed_upto = len(server.transcript)
        if not lines:
            return
        layer, credentials = server.layers(len(server.transcript) - len(lines), keep=3)
        src, dst = self.session_nodes(server)
        self.services.publish(SmtpLine(src=src, dst=dst, trace=self._trace(server), peer=server.peer_ip,
                                       transcript=tuple(trim_transcript(lines, keep=3)), wire=layer,
                                       credentials=credentials))

    @staticmethod
    def refusal(reply: str) -> DataResult:
        return DataResult(False, reply)

    def publish_session(self, server: TranscriptSMTP, result: DataResult | None) -> None:
        start = server.published_upto
        lines = server.transcript[start:]
        server.published_upto = len(server.transcript)
        if not lines:
            return
        layer, credentials = server.layers(start)
        reused = server.slices > 0          # an earlier slice had the greeting, EHLO and STARTTLS
        server.slices += 1
        src, dst = self.session_nodes(server)
        outcome, reply = _outcome(self.door, src, result, lines)
        trace = (result.trace if result else None) or self._trace(server)
        message = result.message if result else None
        rcpts = tuple(message["rcpt"]) if message else ()
        client = nodes.name_of(src) if ":" in src else ""      # a user's address or a host name
        self.services.publish(SmtpSession(
            src=src, dst=dst, trace=trace, transcript=tuple(trim_transcript(lines)), message=message,
            outcome=outcome, door=self.door, host=nodes.host_of(dst) or "", port=server.local_port,
            peer=server.peer_ip, client=client, queue_id=result.queue_id if result else "",
            rcpts=rcpts, final=result.final if result else True, reply=reply, via=self.via(server),
            reused=reused, resend=bool(result and result.resend), direct=bool(result and result.direct),
            wire=layer, credentials=credentials))
        if outcome is SmtpOutcome.RELAYED:
            # The 250 moves responsibility (RFC 5321 §6.1): the sending MTA drops the message from
            # its queue.  Published here, at the 250, so the timeline reads "handed on" before the
            # receiving host's next hop, whatever the scheduling.
            self.services.publish(Relayed(src=src, dst=dst, trace=trace, host=client,
                                          target=nodes.host_of(dst) or "", queue_id=result.queue_id,
                                          rcpts=rcpts, wire=layer, resend=result.resend))
        if result is not None and result.queue_id and self.services.announce is not None:
            self.services.announce(result.queue_id)     # the mailbox's hop after the MX's


class Authenticator:
    """aiosmtpd authenticator: PLAIN and LOGIN against the world's users (RFC 4954, RFC 4616).

    Failures and successes are counted in the shared login throttle; the session
    (:class:`~.session.TranscriptSMTP`) makes a peer with failures on record wait.
    """

    def __init__(self, world: World, host: Host | None, throttle: LoginThrottle | None = None) -> None:
        self.world, self.host, self.throttle = world, host, throttle

    def __call__(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                 auth_data: Any) -> AuthResult:
        login, password = _text(auth_data.login), _text(auth_data.password)
        default_domain = self.host.domain if self.host is not None else None
        account = self.world.authenticate(login, password, default_domain)
        if account is not None and self.host is not None and account.domain != self.host.domain:
            account = None      # a domain's own MSA serves its own users only
        peer = session.peer[0] if session.peer else "?"
        if account is None:
            if self.throttle is not None:
                self.throttle.failed(peer)
            return AuthResult(success=False, handled=False)
        if self.throttle is not None:
            self.throttle.succeeded(peer)
        return AuthResult(success=True, auth_data=account)


def _local_date(when: float) -> str:
    """RFC 5322 date-time of ``when`` in local time (Received:, Date:): whole seconds, so the
    messages of one second share one string (made once: the time zone lookup is not free)."""
    second = int(when // 1)
    if _last_date[0] != second:
        _last_date[:] = [second, format_datetime(datetime.fromtimestamp(second, timezone.utc).astimezone())]
    return _last_date[1]


_last_date: list[Any] = [None, ""]


# aiosmtpd asks ``inspect.signature(handle_EHLO)`` at every connection (which form of the hook it is);
# computed once here, it is read back from ``__signature__`` (about 20 µs per connection less).
SmtpHandler.handle_EHLO.__signature__ = inspect.signature(SmtpHandler.handle_EHLO)   # type: ignore[attr-defined]


@functools.cache
def _hooks(cls: type) -> tuple[str, ...]:
    return tuple(name for name in dir(cls) if name.startswith(("handle_", "auth_")))


def _outcome(door: Door, src: str, result: DataResult | None,
             lines: list[tuple[str, str]]) -> tuple[SmtpOutcome, str]:
    """How the session ended, and the reply that refused it ("" when none did)."""
    if result is not None and result.ok:
        if door is Door.SUBMISSION:
            return SmtpOutcome.SUBMITTED, ""
        if nodes.host_of(src):
            return SmtpOutcome.RELAYED, ""
        return SmtpOutcome.BY_HAND, ""
    failure = result.reply if result is not None else _last_failure(lines)
    return (SmtpOutcome.REFUSED, failure) if failure else (SmtpOutcome.NO_MESSAGE, "")


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


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


def _submission_fixups(content: bytes, *, host: str, queue_id: str, clock: Callable[[], float]) -> bytes:
    """RFC 6409 §8.2/§8.3: the MSA adds Date and Message-ID when the client left them out."""
    head = header_block(content)
    added = b""
    if not _has_header(head, b"date"):
        date = _local_date(clock())
        added += f"Date: {date}\r\n".encode()
    if not _has_header(head, b"message-id"):
        added += f"Message-ID: {make_msgid(idstring=queue_id, domain=host)}\r\n".encode()
    return added + content


def _message_summary(content: bytes, envelope: Envelope) -> dict[str, Any]:
    """Envelope beside headers, for the browser (escaped there, never trusted)."""
    head = summarize(content)
    return {
        "id": head.message_id, "from": _reverse_path(envelope), "rcpt": list(envelope.rcpt_tos),
        "header_from": head.from_, "header_to": head.to, "subject": head.subject,
        "received": list(head.received), "size": len(content),
    }
