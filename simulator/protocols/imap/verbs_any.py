"""IMAP verbs of any state (RFC 3501 §6.1) and of the not-authenticated state (§6.2), with login.

CAPABILITY, NOOP, LOGOUT, ID (RFC 2971); STARTTLS, LOGIN, AUTHENTICATE with SASL-IR (RFC 4959),
PLAIN (RFC 4616) and LOGIN.  Checking a password is not done here: ``request_login`` emits an
``Authenticate`` effect and the adapter answers through ``ImapSession.login_result``, which calls
``logged_in`` or ``login_refused``.  Each function takes the session and the parsed command.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING

from simulator.facts import Status
from simulator.facts import imap as facts

from .effects import Authenticate, Close, StartTls, State
from .wire import Atom, Command, ParseError, astring, expect_args

if TYPE_CHECKING:
    from .mailbox import Mailbox
    from .session import ImapSession

MAX_LOGIN = 255           # longer login names are refused without asking the authenticator


# --------------------------------------------------------------------------- any state

def capability(s: ImapSession, cmd: Command) -> None:
    expect_args(cmd, 0)
    s.untagged("CAPABILITY " + " ".join(s.capabilities()))  # RFC 3501 §6.1.1
    s.finish(cmd, "CAPABILITY completed")


def noop(s: ImapSession, cmd: Command) -> None:
    expect_args(cmd, 0)
    s.rescan()  # RFC 3501 §6.1.2: a chance to learn about new mail
    s.finish(cmd, "NOOP completed")


def logout(s: ImapSession, cmd: Command) -> None:
    expect_args(cmd, 0)
    s.untagged("BYE Logging out")  # RFC 3501 §6.1.3
    s.tagged(cmd.tag, "OK", "LOGOUT completed")
    if s.address:
        s.publish(facts.ImapLogout(**s.hop()))
    s.logout_state()
    s.effect(Close())


def id_(s: ImapSession, cmd: Command) -> None:
    """RFC 2971: the client may tell who it is; we answer with our name."""
    (arg,) = expect_args(cmd, 1)
    if isinstance(arg, list):
        if len(arg) % 2 or len(arg) > 60:
            raise ParseError("ID expects NIL or a list of field/value pairs")
        if any(isinstance(tok, list) for tok in arg):
            raise ParseError("ID fields are strings")
    elif not (isinstance(arg, Atom) and arg.upper() == "NIL"):
        raise ParseError("ID expects NIL or a list")
    s.untagged('ID ("name" "Mailflow" "vendor" "Mailflow sandbox" "version" "1.0")')
    s.finish(cmd, "ID completed")


# --------------------------------------------------------------------------- not authenticated

def starttls(s: ImapSession, cmd: Command) -> None:
    expect_args(cmd, 0)
    if not s.tls_available or s.tls_active:
        s.tagged(cmd.tag, "BAD", "STARTTLS is not available" if not s.tls_active else "TLS is already active")
        return
    s.tagged(cmd.tag, "OK", "Begin TLS negotiation now")  # RFC 3501 §6.2.1
    s.reader.clear()  # X4: nothing sent before the handshake may be acted upon
    s.effect(StartTls())


def login(s: ImapSession, cmd: Command) -> None:
    user, password = expect_args(cmd, 2)
    request_login(s, cmd.tag, astring(user), astring(password), "LOGIN")


def authenticate(s: ImapSession, cmd: Command) -> None:
    """RFC 3501 §6.2.2 with SASL-IR (RFC 4959): PLAIN (RFC 4616) and LOGIN."""
    args = expect_args(cmd, 1, at_least=True)
    if len(args) > 2 or not isinstance(args[0], Atom):
        raise ParseError("AUTHENTICATE <mechanism> [initial-response]")
    mech = args[0].upper()
    if mech not in ("PLAIN", "LOGIN"):
        s.tagged(cmd.tag, "NO", f"Unsupported authentication mechanism {mech[:20]}")
        return
    s.sasl = (cmd.tag, mech, [])
    if len(args) == 2:
        sasl_step(s, astring(args[1]).encode("ascii", "replace"))
        return
    _sasl_challenge(s, mech, [])


def _sasl_challenge(s: ImapSession, mech: str, collected: list[str]) -> None:
    s.reader.raw_mode = True
    if mech == "LOGIN":
        s.send(b"+ VXNlcm5hbWU6\r\n" if not collected else b"+ UGFzc3dvcmQ6\r\n")  # Username: / Password:
    else:
        s.send(b"+ \r\n")  # X7: an empty challenge


def sasl_step(s: ImapSession, line: bytes) -> None:
    """One client response inside AUTHENTICATE (base64, "=" for empty, "*" to cancel)."""
    assert s.sasl is not None
    tag, mech, collected = s.sasl
    text = line.strip()
    if text == b"*":  # RFC 3501 §6.2.2: the client cancels
        _end_sasl(s)
        s.tagged(tag, "BAD", "AUTHENTICATE cancelled")
        return
    try:
        decoded = b"" if text == b"=" else base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        _end_sasl(s)
        s.tagged(tag, "BAD", "Invalid base64 in SASL response")
        return
    value = decoded.decode("utf-8", "replace")
    if mech == "PLAIN":
        _end_sasl(s)
        parts = value.split("\0")
        if len(parts) != 3 or (parts[0] and parts[0] != parts[1]):
            parts = ["", "", ""]     # malformed, or authorising as someone else: a failed login
        request_login(s, tag, parts[1], parts[2], "AUTHENTICATE PLAIN")
        return
    collected.append(value)
    if len(collected) < 2:
        _sasl_challenge(s, mech, collected)
        return
    _end_sasl(s)
    request_login(s, tag, collected[0], collected[1], "AUTHENTICATE LOGIN")


def _end_sasl(s: ImapSession) -> None:
    s.sasl = None
    s.reader.raw_mode = False


# --------------------------------------------------------------------------- login, as an effect

def request_login(s: ImapSession, tag: str, user: str, password: str, mechanism: str) -> None:
    """Ask the adapter to check the credentials; the session waits for ``login_result``."""
    if "@" not in user and s.default_domain:
        user = f"{user}@{s.default_domain}"
    s.login_wait = (tag, user, mechanism)
    if not user or len(user) > MAX_LOGIN:
        password = ""          # nothing to check: the adapter refuses it (still throttled)
    s.effect(Authenticate(user[:MAX_LOGIN + 1], password, mechanism))


def login_refused(s: ImapSession, tag: str, user: str, mechanism: str, delay: float) -> None:
    s.tagged(tag, "NO", "[AUTHENTICATIONFAILED] Invalid credentials")  # RFC 5530
    s.publish(facts.ImapLogin(**s.hop(), status=Status.FAILED, login=user, mechanism=mechanism,
                              tls=s.tls_active, peer=s.peer, delay=delay))


def logged_in(s: ImapSession, tag: str, mailbox: Mailbox, user: str, mechanism: str) -> None:
    s.mailbox = mailbox
    s.address = mailbox.address
    s.state = State.AUTHENTICATED
    s.authenticated()
    s.listen()
    caps = " ".join(s.capabilities())
    s.tagged(tag, "OK", f"[CAPABILITY {caps}] Logged in as {s.address}")  # RFC 3501 §6.2.3
    s.publish(facts.ImapLogin(**s.hop(), login=user, mechanism=mechanism, tls=s.tls_active, peer=s.peer))
