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

from ..effects import Authenticate, Close, StartTls


class State(Enum):
    NOT_AUTHENTICATED = "not authenticated"
    AUTHENTICATED = "authenticated"
    SELECTED = "selected"
    LOGOUT = "logout"


@dataclass(frozen=True, slots=True)
class Send:
    data: bytes


@dataclass(frozen=True, slots=True)
class Publish:
    """A fact for the learners' diagram (data only: the narrator words it)."""

    fact: Fact


Effect = Send | Authenticate | StartTls | Close | Publish
