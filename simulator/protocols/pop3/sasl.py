"""The SASL exchanges POP3's AUTH offers (RFC 5034): PLAIN (RFC 4616) and LOGIN (the de-facto one).

``SaslExchange(mechanism)`` is fed the client's base64 responses one at a time (the initial
response included) and answers with one ``Step``: a ``Challenge`` to send as a "+ " continuation,
``Credentials`` to check, or a ``Failed`` line to send as the final answer. No I/O, no session state.
"""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

__all__ = ["LOGIN_PASSWORD", "LOGIN_USERNAME", "MECHANISMS", "Challenge", "Credentials", "Failed",
           "SaslExchange", "Step"]

MECHANISMS = ("PLAIN", "LOGIN")
LOGIN_USERNAME = "+ " + base64.b64encode(b"Username:").decode()  # the de-facto AUTH LOGIN prompts
LOGIN_PASSWORD = "+ " + base64.b64encode(b"Password:").decode()


@dataclass(frozen=True, slots=True)
class Challenge:
    line: str                # "+ ..." (RFC 5034 §4)


@dataclass(frozen=True, slots=True)
class Credentials:
    login: str
    password: str


@dataclass(frozen=True, slots=True)
class Failed:
    line: str                # the "-ERR ..." that ends the exchange


Step = Challenge | Credentials | Failed


class SaslExchange:
    """One AUTH exchange, PLAIN or LOGIN (``mechanism`` upper case, one of ``MECHANISMS``)."""

    def __init__(self, mechanism: str) -> None:
        if mechanism not in MECHANISMS:
            raise ValueError(f"unsupported SASL mechanism {mechanism!r}")
        self.mechanism = mechanism
        self._user: str | None = None    # LOGIN: the user name, once given

    def first_challenge(self) -> Challenge:
        """What to send when the client gave no initial response."""
        return Challenge("+ " if self.mechanism == "PLAIN" else LOGIN_USERNAME)   # RFC 5034 §4

    def respond(self, token: str, *, initial: bool = False) -> Step:
        """One base64 response; as the initial response, "=" means an empty one (RFC 5034 §4)."""
        if initial and token == "=":
            token = ""
        try:
            decoded = base64.b64decode(token, validate=True)
        except (binascii.Error, ValueError):
            return Failed("-ERR Invalid base64 in the SASL response")   # RFC 5034 §4
        if self.mechanism == "PLAIN":
            return _plain(decoded)
        text = decoded.decode("utf-8", "replace")
        if self._user is None:
            self._user = text
            return Challenge(LOGIN_PASSWORD)
        return Credentials(self._user, text)


def _plain(decoded: bytes) -> Step:
    """RFC 4616 §2: authzid NUL authcid NUL passwd; logging in as another user is refused."""
    parts = decoded.split(b"\0")
    if len(parts) != 3:
        return Failed("-ERR Malformed PLAIN response: expected authzid NUL authcid NUL password")
    authzid, authcid, password = (p.decode("utf-8", "replace") for p in parts)
    if authzid and authzid != authcid:
        return Failed("-ERR [AUTH] Logging in as another user is not allowed")   # RFC 4616 §2
    return Credentials(authcid, password)
