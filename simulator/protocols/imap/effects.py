"""What an IMAP session asks its adapter to do (effects), and the session's states (RFC 3501 §3).

``ImapSession.feed()`` and friends return a list of effects, to be carried out in order:

  ``Send``          bytes for the client;
  ``Authenticate``  check these credentials (with the login throttle), then call
                    ``ImapSession.login_result(mailbox or None)``; the session reads no further
                    command until then, so a throttle delay holds back everything pipelined behind;
  ``StartTls``      do the TLS handshake now (the session has dropped every buffered byte), then
                    call ``tls_started()``;
  ``Close``         close the connection after writing what came before;
  ``Publish``       a fact for the learners' bus (:mod:`simulator.facts.imap`), words added there.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from simulator.facts import Fact


class State(Enum):
    NOT_AUTHENTICATED = "not authenticated"
    AUTHENTICATED = "authenticated"
    SELECTED = "selected"
    LOGOUT = "logout"


@dataclass(frozen=True, slots=True)
class Send:
    data: bytes


@dataclass(frozen=True, slots=True)
class Authenticate:
    """Check ``login`` / ``password``; answer with ``ImapSession.login_result``."""

    login: str          # as the client gave it, with the default domain added to a bare user name
    password: str
    mechanism: str      # "LOGIN", "AUTHENTICATE PLAIN" or "AUTHENTICATE LOGIN"


@dataclass(frozen=True, slots=True)
class StartTls:
    """Begin the TLS handshake now; the session has already dropped every buffered byte (X4)."""


@dataclass(frozen=True, slots=True)
class Close:
    pass


@dataclass(frozen=True, slots=True)
class Publish:
    """A fact for the learners' diagram (data only: the narrator words it)."""

    fact: Fact


Effect = Send | Authenticate | StartTls | Close | Publish
