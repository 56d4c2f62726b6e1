"""The lesson's mail clients: a ``send`` step submits like a real MUA, a ``fetch`` step reads like one.

Both speak the real protocols with Python's own clients (smtplib, poplib, imaplib) to the sandbox's
real servers, so every hop they cause is published by the servers themselves, with its transcript.
They run in the lesson runner's thread, never on the mail loop.

Where they connect: ``via: front`` is the front door (``config.front_host``, where Thunderbird
connects); a host name is that host's own loopback address.  A ``fetch`` reads from the domain's
mailbox host, as a user's client configured for that domain would.  TLS is the sandbox's own
self-signed certificate, so the clients do not verify it (the lesson is about the protocol, not PKI).

Nothing here asks the machine's resolver: every connection is to an IP literal, and smtplib is given
its EHLO name (it would otherwise look up this machine's FQDN).
"""
from __future__ import annotations

import base64
import imaplib
import poplib
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formatdate, make_msgid
from typing import Any, Callable

from ..config import Config
from ..facts import Reason, StepReason
from ..scenario import Fetch, Scenario, Send
from ..scenario.model import FetchProtocol, SendPort
from ..world import World

EHLO_NAME = "mua.lesson.invalid"      # the MUA's own name in EHLO (RFC 2606 reserved, never resolved)


class StepError(Exception):
    """A step could not be done (not a refusal a lesson teaches: nothing answered, a login failed)."""

    def __init__(self, reason: Reason) -> None:
        super().__init__(reason.code)
        self.reason = reason


@dataclass(slots=True)
class Submitted:
    """What the submission server answered: 250 for all, or the refusals (a lesson may expect them)."""
    code: int = 250
    reply: str = ""
    refused: dict[str, tuple[int, str]] = field(default_factory=dict)

    @property
    def accepted(self) -> bool:
        return 200 <= self.code < 300 and not self.refused


def sandbox_tls() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE       # the sandbox certificate is self-signed
    return context


def message(step: Send) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = step.header_from or step.sender
    msg["To"] = ", ".join(step.to)
    if step.cc:
        msg["Cc"] = ", ".join(step.cc)
    msg["Subject"] = step.subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain=step.sender.rpartition("@")[2])
    msg.set_content(step.body or f"{step.subject}\n")
    for item in step.attachments:
        if item.size:
            data = (b"Mailflow filler line for a large attachment.\n" * (item.size // 45 + 1))[: item.size]
            msg.add_attachment(data, maintype="application", subtype="octet-stream", filename=item.name)
        else:
            msg.add_attachment(item.content, filename=item.name)
    return msg


def _where(step: Send, world: World, config: Config) -> tuple[str, int]:
    address = config.front_host if step.via == "front" else world.hosts[step.via].address
    port = {SendPort.SUBMISSION: config.ports.submission, SendPort.SMTPS: config.ports.smtps,
            SendPort.MX: config.ports.mx}[step.port]
    return address, port


def _password(scenario: Scenario, address: str, given: str | None) -> str:
    if given is not None:
        return given
    return next((u.password for u in scenario.users if u.address == address), "")


Track = Callable[[Any, bool], None]


def _no_track(sock: Any, live: bool) -> None:
    pass


def send(step: Send, *, scenario: Scenario, world: World, config: Config, timeout: float,
         track: Track = _no_track) -> Submitted:
    """Submit one message; a refusal comes back as data, a dead server as :class:`StepError`.

    ``tls`` (the default) means what it means in a real MUA set to STARTTLS: no STARTTLS offered,
    no login and no message (Thunderbird shows an error rather than send the password in clear)."""
    address, port = _where(step, world, config)
    msg = message(step)
    rcpts = list(dict.fromkeys([*step.to, *step.cc, *step.bcc]))
    try:
        if step.port is SendPort.SMTPS:
            client: smtplib.SMTP = smtplib.SMTP_SSL(address, port, local_hostname=EHLO_NAME, timeout=timeout,
                                                    context=sandbox_tls())
        else:
            client = smtplib.SMTP(address, port, local_hostname=EHLO_NAME, timeout=timeout)
    except OSError as err:
        raise StepError(Reason.of(StepReason.CONNECT, address=f"{address}:{port}", error=_os_error(err))) from None
    track(client, True)
    try:
        client.ehlo()
        if step.tls and step.port is not SendPort.SMTPS:
            if not client.has_extn("starttls"):
                raise StepError(Reason.of(StepReason.PROTOCOL, reply="no STARTTLS offered: the client sends nothing in clear"))
            client.starttls(context=sandbox_tls())
            client.ehlo()
        if step.auth:
            _auth_plain(client, step.sender, _password(scenario, step.sender, step.password))
        refused = client.sendmail(step.sender, rcpts, msg.as_bytes(policy=SMTP_POLICY))   # CRLF lines
        return Submitted(refused={rcpt: (code, _text(text)) for rcpt, (code, text) in refused.items()})
    except smtplib.SMTPRecipientsRefused as err:
        first = next(iter(err.recipients.values()), (550, b""))
        return Submitted(code=first[0], reply=_text(first[1]),
                         refused={r: (c, _text(t)) for r, (c, t) in err.recipients.items()})
    except smtplib.SMTPResponseException as err:        # sender refused, DATA refused, AUTH failed ...
        return Submitted(code=err.smtp_code, reply=_text(err.smtp_error))
    except smtplib.SMTPNotSupportedError as err:
        return Submitted(code=502, reply=str(err))
    except (smtplib.SMTPServerDisconnected, OSError) as err:
        raise StepError(Reason.of(StepReason.ERROR, error=_os_error(err))) from None
    finally:
        track(client, False)
        try:
            client.quit()
        except (smtplib.SMTPException, OSError):
            client.close()


def _auth_plain(client: smtplib.SMTP, user: str, password: str) -> None:
    """AUTH PLAIN in UTF-8 (RFC 4616; smtplib's own login() encodes ASCII only)."""
    token = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode()
    code, text = client.docmd("AUTH", f"PLAIN {token}")
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, text)


def fetch(step: Fetch, *, scenario: Scenario, world: World, config: Config, timeout: float,
          track: Track = _no_track) -> int:
    """Read every message of the INBOX (and delete them if ``keep`` is false); how many were read."""
    domain = step.user.rpartition("@")[2]
    host = world.retrieval_host(domain)
    address = host.address if host is not None else config.front_host
    password = _password(scenario, step.user, None)
    if step.protocol is FetchProtocol.POP3:
        return _pop3(step, address, config.ports.pop3, password, timeout, track)
    return _imap(step, address, config.ports.imap, password, timeout, track)


def _pop3(step: Fetch, address: str, port: int, password: str, timeout: float, track: Track) -> int:
    try:
        client = poplib.POP3(address, port, timeout=timeout)
    except OSError as err:
        raise StepError(Reason.of(StepReason.CONNECT, address=f"{address}:{port}", error=_os_error(err))) from None
    track(client, True)
    try:
        if step.tls:
            if "STLS" not in client.capa():
                raise StepError(Reason.of(StepReason.PROTOCOL, reply="no STLS offered: the client sends nothing in clear"))
            client.stls(context=sandbox_tls())
        try:
            client.user(step.user)
            client.pass_(password)
        except poplib.error_proto as err:
            raise StepError(Reason.of(StepReason.LOGIN, user=step.user, reply=_text(err.args[0]))) from None
        count, _ = client.stat()
        for number in range(1, count + 1):
            client.retr(number)
            if not step.keep:
                client.dele(number)
        client.quit()
        return count
    except poplib.error_proto as err:
        raise StepError(Reason.of(StepReason.PROTOCOL, reply=_text(err.args[0]))) from None
    except OSError as err:
        raise StepError(Reason.of(StepReason.ERROR, error=_os_error(err))) from None
    finally:
        track(client, False)
        client.close()


def _imap(step: Fetch, address: str, port: int, password: str, timeout: float, track: Track) -> int:
    try:
        client = imaplib.IMAP4(address, port, timeout=timeout)
    except OSError as err:
        raise StepError(Reason.of(StepReason.CONNECT, address=f"{address}:{port}", error=_os_error(err))) from None
    track(client, True)
    try:
        if step.tls:
            if "STARTTLS" not in client.capabilities:
                raise StepError(Reason.of(StepReason.PROTOCOL, reply="no STARTTLS offered: the client sends nothing in clear"))
            client.starttls(ssl_context=sandbox_tls())
        try:
            credentials = b"\0" + step.user.encode() + b"\0" + password.encode()
            client.authenticate("PLAIN", lambda _challenge: credentials)      # UTF-8 (RFC 4616)
        except imaplib.IMAP4.error as err:
            raise StepError(Reason.of(StepReason.LOGIN, user=step.user, reply=_text(err.args[0]))) from None
        _, data = client.select("INBOX")
        count = int(data[0] or 0)
        if count:
            client.fetch("1:*", "(BODY[])")
            if not step.keep:
                client.store("1:*", "+FLAGS", "(\\Deleted)")
                client.expunge()
        client.logout()
        return count
    except imaplib.IMAP4.error as err:
        raise StepError(Reason.of(StepReason.PROTOCOL, reply=_text(err.args[0] if err.args else ""))) from None
    except OSError as err:
        raise StepError(Reason.of(StepReason.ERROR, error=_os_error(err))) from None
    finally:
        track(client, False)
        try:
            client.shutdown()
        except OSError:
            pass


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _os_error(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"[:200]
