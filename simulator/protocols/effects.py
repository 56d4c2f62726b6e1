"""Effects every sans-IO core of ours shares: what a session asks its asyncio adapter to do.

A core never checks a password, starts TLS or closes a socket itself; it returns one of these, in
order with its other output, and the adapter carries it out and calls the session back (the POP3
and IMAP sessions' ``login_result`` and ``tls_established``/``tls_started``).  Login as an effect is
what lets one throttle (:mod:`.throttle`) serve every door.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Authenticate:
    """Check ``login`` / ``password`` (after the throttle's delay); answer the session with the result."""

    login: str          # as the client gave it (IMAP adds the default domain to a bare user name)
    password: str
    mechanism: str      # how it was given: POP3 "USER", "PLAIN", "LOGIN"; IMAP "LOGIN", "AUTHENTICATE PLAIN", ...


@dataclass(frozen=True, slots=True)
class StartTls:
    """Do the TLS handshake now; the session has already dropped every buffered byte (PROTOCOLS X4)."""


@dataclass(frozen=True, slots=True)
class Close:
    """Close the connection after what came before this effect is written."""
