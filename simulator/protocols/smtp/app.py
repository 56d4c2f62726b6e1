"""The app port: where an application's mailer sends (Django, smtplib, Nodemailer, a cron job).

Applications expect a local sandbox at 127.0.0.1:1025 that takes mail the way a development relay
does: no AUTH, any envelope sender (``webmaster@localhost``, Django's default), STARTTLS when asked
for.  :class:`AppHandler` is the policy of that listener; the protocol is the same
:class:`~.session.TranscriptSMTP` as every other door, so the transcript, the limits (SIZE, RFC
1870: 552 5.3.4; recipients: 452 4.5.3) and the facts are the same too.

Theory of operation:

- MAIL: any syntactically valid reverse-path, or the null one.  The sender chooses the host whose
  queue takes the message, as submission would: the MSA of the sender's domain when that domain is
  in the sandbox, else the world's first MSA (:func:`queue_host_for`).  It is remembered on the
  session, so the facts of the transaction name it after aiosmtpd has reset the envelope.
- RCPT: a domain outside the sandbox is refused while the outside world is set to ``bounce``
  (550 5.7.1: the app port is not an open relay, and nothing leaves the machine); in ``catch`` mode
  it is taken and caught by the world.  A sandbox address that has no mailbox is refused at once
  (550 5.1.1), as the domain's MX would refuse it later: an application's test learns it from its
  own ``send_mail`` instead of from a bounce to ``webmaster@localhost``.  The session's door rules
  apply here as everywhere (:mod:`.session`): RFC 5321's grammar first, and, since nobody logs in
  here, a local part with a routing operator (``u%other@here``, ``other!u@here``, ``"u@other"@here``)
  is refused with 550 5.7.1.
- DATA: queued on that host like a submission (Date and Message-ID added when missing, RFC 6409
  §8), with a hop ``app`` → ``mta:<host>`` at the step gate; no sending limit applies.
- AUTH (RFC 4954) is never required.  ``auth="any"`` offers PLAIN and LOGIN and accepts any
  credentials (mailers configured with a user and password work unchanged); ``"check"`` checks
  them against the world's users (a wrong password is 535, and counts in the login throttle);
  ``"off"`` does not offer AUTH at all (502, RFC 4954 §3).

Facts: the session is published as a :class:`~simulator.facts.SmtpSession` of the submission door
whose source node is :data:`APP` (the narrator words it as an application's submission).
"""
from __future__ import annotations

from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

from ... import nodes
from ...facts import Door, HopStep, NextHop
from ...scenario import Role
from ...world import Host, World, split_address
from ..throttle import LoginThrottle
from .handler import SmtpHandler, SmtpServices, _text, _valid_address, rcpt_refusal
from .session import TranscriptSMTP

# The application's node id (the graph's ``app`` node, drawn as "application").
APP: str = getattr(nodes, "APP", "app")

AUTH_MODES = ("any", "check", "off")


def queue_host_for(world: World, sender: str) -> Host | None:
    """Whose queue takes an application's message: the MSA of the sender's domain if the sandbox
    has it, else the world's first MSA (else the first host that takes any domain's mail out)."""
    _, domain = split_address(sender) if sender else ("", "")
    if domain and world.is_local_domain(domain):
        host = world.submission_host(domain)
        if host is not None:
            return host
    first_msa = next((h for h in world.hosts.values() if h.role is Role.MSA), None)
    if first_msa is not None:
        return first_msa
    return next((h for h in map(world.submission_host, world.domains) if h is not None), None)


class AppHandler(SmtpHandler):
    """The app port's policy (no host of its own: it listens on the front door's address)."""

    def __init__(self, services: SmtpServices) -> None:
        super().__init__(Door.SUBMISSION, None, services)

    # -- aiosmtpd hooks --------------------------------------------------------------------------
    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          mail_options: list[str]) -> str:
        if address != "<>" and not _valid_address(address):
            return "501 5.1.7 Bad sender address syntax"
        session.app_host = queue_host_for(self.world, "" if address == "<>" else address)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 Sender OK"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        refusal = rcpt_refusal(address, rcpt_options, envelope, self.services.max_recipients)
        if refusal:
            return refusal
        _, domain = split_address(address)
        if not self.world.is_local_domain(domain):
            if self.services.outside() != "catch":
                return (f"550 5.7.1 <{address}>: relay access denied: {domain} is outside the sandbox and "
                        f"mail for the outside world bounces (start with --outside catch to catch it)")
        elif self.world.mailbox_of(address) is None:
            return f"550 5.1.1 <{address}>: recipient address rejected: user unknown in {domain}"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Recipient OK"

    # -- where the message goes, and who sent it ----------------------------------------------------
    def _queue_host(self, session: Session) -> Host | None:
        host = getattr(session, "app_host", None)
        return host if host is not None else queue_host_for(self.world, "")

    def _source_node(self, session: Session) -> str:
        return APP

    def _submit_hop(self, session: Session, envelope: Envelope, queue_host: Host, trace: str) -> NextHop:
        sender = envelope.mail_from if envelope.mail_from not in (None, "") else "<>"
        return NextHop(src=APP, dst=nodes.mta(queue_host.name), step=HopStep.SUBMIT, user=sender,
                       host=queue_host.name, trace=trace)

    def _limited_sender(self, session: Session) -> str | None:
        return None                     # a classroom's sending limits are for students' logins

    def session_nodes(self, server: TranscriptSMTP) -> tuple[str, str]:
        host = self._queue_host(server.session) if server.session is not None else None
        return APP, nodes.mta(host.name) if host is not None else nodes.FRONT

    def via(self, server: TranscriptSMTP) -> str | None:
        return None                     # the application talks to the app port itself

    def front_handover(self, server: TranscriptSMTP, reply: str) -> str:
        return reply                    # AUTH here names nobody: the sender picks the MSA


class AppAuthenticator:
    """AUTH on the app port: ``any`` accepts every login, ``check`` asks the world (and the throttle)."""

    def __init__(self, world: World, mode: str, throttle: LoginThrottle | None = None) -> None:
        if mode not in AUTH_MODES:
            raise ValueError(f"app AUTH mode must be one of {AUTH_MODES}, not {mode!r}")
        self.world, self.mode, self.throttle = world, mode, throttle

    def __call__(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                 auth_data: Any) -> AuthResult:
        login, password = _text(auth_data.login), _text(auth_data.password)
        if self.mode == "any":
            return AuthResult(success=True, auth_data=login)
        account = self.world.authenticate(login, password)
        peer = session.peer[0] if session.peer else "?"
        if account is None:
            if self.throttle is not None:
                self.throttle.failed(peer)
            return AuthResult(success=False, handled=False)
        if self.throttle is not None:
            self.throttle.succeeded(peer)
        return AuthResult(success=True, auth_data=account)
