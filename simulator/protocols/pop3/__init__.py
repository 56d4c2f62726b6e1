"""POP3 (RFC 1939, RFC 2449, RFC 2595, RFC 5034): a sans-IO session and its asyncio server.

* ``core``       — ``Pop3Session``: bytes in, replies and effects out (the state × verb table);
* ``outputs``    — the ``Maildrop`` interface and the outputs the session returns;
* ``sasl``       — the AUTH PLAIN / AUTH LOGIN exchanges;
* ``transcript`` — the dialogue the learners see, trimmed;
* ``maildrop``   — the maildrop over the mail store, and the one-session-per-maildrop lock;
* ``server``     — ``Pop3Server``: sockets, TLS, login policy, facts.
"""
from __future__ import annotations

from .core import CAPABILITIES, MAX_AUTH_FAILURES, MAX_LINE, SASL_MECHANISMS, Pop3Session, State
from .outputs import (
    Abandoned,
    Authenticate,
    Close,
    Deleted,
    DropMessage,
    Effect,
    Listed,
    LoggedIn,
    LoginRefused,
    Maildrop,
    MaildropError,
    Output,
    Refusal,
    Reply,
    Retrieved,
    StartTls,
    Transcript,
    Updated,
)
from .server import IDLE_TIMEOUT, Pop3Server

__all__ = ["CAPABILITIES", "IDLE_TIMEOUT", "MAX_AUTH_FAILURES", "MAX_LINE", "SASL_MECHANISMS", "Abandoned",
           "Authenticate", "Close", "Deleted", "DropMessage", "Effect", "Listed", "LoggedIn", "LoginRefused",
           "Maildrop", "MaildropError", "Output", "Pop3Server", "Pop3Session", "Refusal", "Reply", "Retrieved",
           "StartTls", "State", "Transcript", "Updated"]
