"""The webmail's three protocol clients, connected from its own source address and logged in.

Theory of operation
-------------------
The webmail is a mail client whose host is the web server.  It opens one connection per request
to the *front door* (``Endpoint``), as Roundcube does, with Python's own clients: ``smtplib`` for
submission (RFC 6409) with AUTH PLAIN (RFC 4954, RFC 4616), ``imaplib`` (RFC 3501) and ``poplib``
(RFC 1939).  Each context manager here connects, upgrades with STARTTLS when the login asks for it
(RFC 3207, RFC 3501 §6.2.1, RFC 2595 §4), logs in, yields the client, and logs out; every failure
leaves as a :class:`WebmailError` with the HTTP status the web layer answers.

Where the sockets come from: every client socket is bound to ``Endpoint.source``
(:data:`WEBMAIL_SOURCE`, 127.0.0.80) before it connects, so the servers' hops name the webmail as
their client (``wire.client``) and the page can draw "webmail of alice".  If that address cannot be
bound (a loopback that is only 127.0.0.1, as on some systems) the socket connects unbound.

TLS: the clients are given the host name ``Endpoint.server_name`` ("localhost", what the sandbox's
certificate names) and connect to ``Endpoint.host`` (an IP literal), so the certificate is checked
against the name while nothing asks the machine's resolver.  "plain" sends the login in the clear:
that is the lesson the page warns about.  "starttls" against a server that offers no STARTTLS
sends nothing (as Thunderbird does): a 422.

A failed login is one message for every cause (no such user, wrong password): 401.
"""
from __future__ import annotations

import base64
import imaplib
import ipaddress
import logging
import poplib
import smtplib
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from .errors import WebmailError

__all__ = ["EHLO_NAME", "LOGIN_FAILED", "WEBMAIL_SOURCE", "Endpoint", "Login", "imap_session", "pop3_session",
           "smtp_session", "text_of"]

log = logging.getLogger(__name__)

WEBMAIL_SOURCE = "127.0.0.80"              # the webmail's own loopback address (its hops' wire.client)
EHLO_NAME = "webmail.mailflow.invalid"     # the MUA's name in EHLO (RFC 2606: never resolved)
CLIENT_ID = '("name" "Mailflow webmail")'  # IMAP ID (RFC 2971)
LOGIN_FAILED = "login failed: wrong address or password"
RETRIEVAL_TIMEOUT = 60.0                    # seconds for one IMAP or POP3 operation
RETRIEVALS = ("imap", "pop3")
TLS_MODES = ("starttls", "plain")


@dataclass(frozen=True)
class Endpoint:
    """Where the front door listens, and how the webmail reaches it."""
    host: str
    submission: int
    imap: int
    pop3: int
    ssl_context: ssl.SSLContext | None      # trusts the sandbox certificate (simulator.tls.client_context)
    server_name: str                        # the TLS server name (simulator.tls.HOSTNAME)
    source: str | None = WEBMAIL_SOURCE
    max_message: int = 10 * 1024 * 1024     # the MSA's SIZE (RFC 1870)


@dataclass
class Login:
    address: str
    password: str
    retrieval: str = "imap"                 # "imap" | "pop3"
    tls: str = "starttls"                   # "starttls" | "plain"
    keep_on_server: bool = False            # POP3: leave a copy (no DELE)


# -- sockets -----------------------------------------------------------------------------------------
def connect(endpoint: Endpoint, port: int, timeout: float) -> socket.socket:
    """A TCP connection to the front door, from ``endpoint.source`` when that address can be bound."""
    family = _family(endpoint.host)
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        if endpoint.source and family == _family(endpoint.source):
            try:
                sock.bind((endpoint.source, 0))
            except OSError as err:      # no such local address here: connect as any client would
                log.info("webmail: cannot bind %s (%s), connecting unbound", endpoint.source, err)
        sock.settimeout(timeout)
        # imaplib and smtplib write a command and its CRLF (or a SASL response and its CRLF) in two
        # sends; with Nagle's algorithm the second waits for the server's delayed ACK: 40 ms a click.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.connect((endpoint.host, port))
        return sock
    except BaseException:
        sock.close()
        raise


def _family(address: str) -> socket.AddressFamily:
    try:
        return socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
    except ValueError:
        return socket.AF_INET


class _Smtp(smtplib.SMTP):
    def __init__(self, endpoint: Endpoint, timeout: float) -> None:
        self._endpoint = endpoint
        super().__init__(endpoint.server_name, endpoint.submission, local_hostname=EHLO_NAME, timeout=timeout)

    def _get_socket(self, host, port, timeout):      # noqa: ANN001 - smtplib's signature
        return connect(self._endpoint, port, timeout)


class _Imap(imaplib.IMAP4):
    def __init__(self, endpoint: Endpoint, timeout: float) -> None:
        self._endpoint = endpoint
        super().__init__(endpoint.server_name, endpoint.imap, timeout=timeout)

    def _create_socket(self, timeout):               # noqa: ANN001 - imaplib's signature
        return connect(self._endpoint, self.port, timeout)


class _Pop3(poplib.POP3):
    def __init__(self, endpoint: Endpoint, timeout: float) -> None:
        self._endpoint = endpoint
        super().__init__(endpoint.server_name, endpoint.pop3, timeout=timeout)

    def _create_socket(self, timeout):               # noqa: ANN001 - poplib's signature
        return connect(self._endpoint, self.port, timeout)


# -- sessions ----------------------------------------------------------------------------------------
def _unreachable(what: str, endpoint: Endpoint, port: int, err: BaseException) -> WebmailError:
    return WebmailError(503, f"the {what} server at {endpoint.host}:{port} cannot be reached: "
                             f"{type(err).__name__}: {err}"[:300], code="unreachable")


def _no_tls(what: str) -> WebmailError:
    return WebmailError(422, f"the {what} server offers no STARTTLS: nothing is sent in the clear",
                        code="no_starttls")


def _login_failed() -> WebmailError:
    return WebmailError(401, LOGIN_FAILED, code="login_failed")


def refused(reply: str, what: str = "") -> WebmailError:
    reply = " ".join(reply.split())[:500]
    return WebmailError(422, f"the server refused{(' ' + what) if what else ''}: {reply}", code="refused",
                        reply=reply)


@contextmanager
def smtp_session(endpoint: Endpoint, login: Login, timeout: float) -> Iterator[smtplib.SMTP]:
    """Submission: EHLO, STARTTLS (unless plain), EHLO again, AUTH PLAIN; QUIT at the end."""
    try:
        client = _Smtp(endpoint, timeout)
    except (OSError, smtplib.SMTPException) as err:
        raise _unreachable("submission", endpoint, endpoint.submission, err) from None
    try:
        client.ehlo()
        if login.tls == "starttls":
            if endpoint.ssl_context is None or not client.has_extn("starttls"):
                raise _no_tls("submission")
            client.starttls(context=endpoint.ssl_context)
            client.ehlo()
        _auth_plain(client, login)
        yield client
        try:
            client.quit()
        except (smtplib.SMTPException, OSError):
            pass
    except WebmailError:
        raise
    except smtplib.SMTPResponseException as err:
        raise refused(f"{err.smtp_code} {text_of(err.smtp_error)}") from None
    except (smtplib.SMTPException, OSError) as err:   # disconnected, timed out, TLS failed
        raise _unreachable("submission", endpoint, endpoint.submission, err) from None
    finally:
        client.close()


def _auth_plain(client: smtplib.SMTP, login: Login) -> None:
    """AUTH PLAIN in UTF-8 (RFC 4616; smtplib's own login() encodes ASCII only)."""
    if not client.has_extn("auth"):
        raise refused("no AUTH offered", "the login")
    token = base64.b64encode(b"\0" + login.address.encode() + b"\0" + login.password.encode()).decode()
    code, text = client.docmd("AUTH", f"PLAIN {token}")
    if code == 535:                                  # RFC 4954 §6: authentication credentials invalid
        raise _login_failed()
    if code != 235:
        raise refused(f"{code} {text_of(text)}", "the login")


@contextmanager
def imap_session(endpoint: Endpoint, login: Login, timeout: float = RETRIEVAL_TIMEOUT) -> Iterator[imaplib.IMAP4]:
    """IMAP: STARTTLS (unless plain), AUTHENTICATE PLAIN, ID; LOGOUT at the end."""
    try:
        client = _Imap(endpoint, timeout)
    except (OSError, imaplib.IMAP4.error) as err:
        raise _unreachable("IMAP", endpoint, endpoint.imap, err) from None
    try:
        if login.tls == "starttls":
            if endpoint.ssl_context is None or "STARTTLS" not in client.capabilities:
                raise _no_tls("IMAP")
            client.starttls(ssl_context=endpoint.ssl_context)
        credentials = b"\0" + login.address.encode() + b"\0" + login.password.encode()
        try:
            client.authenticate("PLAIN", lambda _challenge: credentials)     # UTF-8 (RFC 4616)
        except imaplib.IMAP4.abort:
            raise
        except imaplib.IMAP4.error:
            raise _login_failed() from None
        _identify(client)
        yield client
        try:
            client.logout()
        except (imaplib.IMAP4.error, OSError):
            pass
    except WebmailError:
        raise
    except imaplib.IMAP4.abort as err:               # the connection broke
        raise _unreachable("IMAP", endpoint, endpoint.imap, err) from None
    except imaplib.IMAP4.error as err:               # BAD, or a command imaplib refused
        raise refused(text_of(err.args[0] if err.args else "")) from None
    except OSError as err:
        raise _unreachable("IMAP", endpoint, endpoint.imap, err) from None
    finally:
        try:
            client.shutdown()
        except OSError:
            pass


def _identify(client: imaplib.IMAP4) -> None:
    """RFC 2971 ID: tell the server who we are (it shows in the transcript); a refusal is no matter."""
    if "ID" not in client.capabilities:
        return
    try:
        client.xatom("ID", CLIENT_ID)
    except imaplib.IMAP4.abort:
        raise
    except imaplib.IMAP4.error:
        pass


@contextmanager
def pop3_session(endpoint: Endpoint, login: Login, timeout: float = RETRIEVAL_TIMEOUT) -> Iterator[poplib.POP3]:
    """POP3: STLS (unless plain), USER/PASS; QUIT at the end (the server deletes what was DELEd then).

    The caller holds the address's lock: the server allows one session per maildrop.  QUIT is the
    commit (RFC 1939 §6): it is not swallowed, so a caller knows whether its DELEs took effect."""
    try:
        client = _Pop3(endpoint, timeout)
    except (OSError, poplib.error_proto) as err:
        raise _unreachable("POP3", endpoint, endpoint.pop3, err) from None
    try:
        if login.tls == "starttls":
            if endpoint.ssl_context is None or "STLS" not in _capa(client):
                raise _no_tls("POP3")
            client.stls(context=endpoint.ssl_context)
        try:
            client.user(login.address)
            client.pass_(login.password)
        except poplib.error_proto as err:
            reply = text_of(err.args[0] if err.args else "")
            if "[IN-USE]" in reply.upper() or "[SYS/" in reply.upper():    # RFC 2449 §8.1.2, RFC 3206
                raise refused(reply) from None
            raise _login_failed() from None
        yield client
        client.quit()
    except WebmailError:
        raise
    except poplib.error_proto as err:
        raise refused(text_of(err.args[0] if err.args else "")) from None
    except OSError as err:
        raise _unreachable("POP3", endpoint, endpoint.pop3, err) from None
    finally:
        client.close()


def _capa(client: poplib.POP3) -> dict:
    try:
        return client.capa()
    except poplib.error_proto:
        return {}


def text_of(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)
