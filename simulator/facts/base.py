"""The fact record: what happened in one hop, as data only.

An actor of the mail world that does something publishes a fact: a frozen record of node ids
(from :mod:`simulator.nodes`), addresses, the trace id, reply codes, reasons as codes with
parameters, and the real transcript lines.  A fact never holds a sentence in any language: the
narrator (:mod:`simulator.narrate`) words it, once per language, when the bus turns it into an event.

Each concrete fact class names its ``kind`` (dotted, ``smtp.session``) and ``protocol`` as class
variables and has a ``status`` (a field or a property).  Each area module lists its classes in
``__all__``; :func:`simulator.facts.all_facts` collects them, so the set is closed and the narrator's
tests walk it.

Two small records describe the layers under a hop, for the page to show beside the dialogue:

- :class:`Wire`: the transport and network layers of the connection a hop really used (TCP or UDP,
  the client's and the server's IP address and port, read from the socket when the connection was
  made, and whether TLS was on: since STARTTLS or from the first byte);
- :class:`Credential`: a client line of the transcript that carries a login secret (AUTH PLAIN,
  AUTH LOGIN and their continuation lines, POP3 USER/PASS, IMAP LOGIN and AUTHENTICATE), with what
  someone listening on the wire reads from it -- or, when TLS was on, which TLS hid it.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Any, ClassVar, Mapping


class Status(StrEnum):
    OK = "ok"
    DEFERRED = "deferred"      # a temporary failure: the message waits and will be retried
    FAILED = "failed"          # this attempt or session failed
    BOUNCED = "bounced"        # the message is given up; a DSN goes back to the sender
    INFO = "info"              # something happened that is neither success nor failure


Line = tuple[str, str]          # ("C" | "S" | "…", text): client line, server line, or a cut marker


class TlsMode(StrEnum):
    """Whether a connection was encrypted, and since when."""
    NONE = ""                  # plaintext: a listener on the wire reads every line
    STARTTLS = "starttls"      # upgraded in the dialogue: STARTTLS (SMTP, IMAP) or STLS (POP3), RFC 3207/2595
    IMPLICIT = "implicit"      # TLS from the first byte: the TLS ports (smtps, imaps, pop3s), RFC 8314


@dataclass(frozen=True, slots=True)
class Wire:
    """The layers under a hop: the socket pair a connection really used (RFC 793, RFC 768, RFC 791).

    Read from the socket when the connection was made (after STARTTLS the TLS transport may no
    longer tell).  A connection that was never made (refused, timed out) has ``client_port`` 0.
    """
    transport: str = "tcp"             # "tcp" or "udp"
    client: str = ""                   # the client's IP address ("127.42.1.1")
    client_port: int = 0               # the client's port (an ephemeral one); 0: no connection was made
    server: str = ""                   # the server's IP address
    server_port: int = 0               # the server's port
    tls: TlsMode = TlsMode.NONE        # TLS on this connection, and since when
    tls_version: str = ""              # "TLSv1.3" once TLS is on
    tls_from: int | None = None        # index in this hop's transcript of the first line sent under TLS (0: all; None: none)


@dataclass(frozen=True, slots=True)
class Credential:
    """A client line of this hop's transcript that carries a login secret, as a listener reads it.

    ``decoded`` is the line's base64 decoded (a NUL shown as "␀": AUTH PLAIN sends
    authzid␀user␀password); for a line in clear text (POP3 PASS, IMAP LOGIN) it is "".  When the line
    crossed the wire under TLS, ``hidden_by`` says which TLS and the other fields stay empty.
    """
    line: int                          # index of the line in this hop's transcript
    mechanism: str                     # "PLAIN", "LOGIN", "USER", "PASS" or "IMAP LOGIN"
    carries: str                       # "user", "password" or "both"
    decoded: str = ""                  # what the base64 says ("␀alice@alpha.test␀alice")
    user: str = ""
    password: str = ""
    hidden_by: TlsMode = TlsMode.NONE  # not NONE: TLS hid this line from a listener

_BASE_FIELDS = frozenset({"src", "dst", "trace", "transcript", "message", "status"})
_LAYER_FIELDS = frozenset({"wire", "credentials"})     # in ``data`` only when the hop has them


@dataclass(frozen=True, slots=True, kw_only=True)
class Fact:
    """Fields every hop has.  ``message`` is the message as it was at this hop (envelope and a
    few headers, for the page: never trusted, always inserted as text)."""

    kind: ClassVar[str] = ""
    protocol: ClassVar[str] = ""

    src: str
    dst: str
    trace: str | None = None
    transcript: tuple[Line, ...] = ()
    message: Mapping[str, Any] | None = None

    def data(self) -> dict[str, Any]:
        """The fact's own fields, JSON-ready: what the page and the log see as ``data``.  The layers
        (``wire``, ``credentials``) are left out when the hop has none."""
        out: dict[str, Any] = {}
        for name in _own_fields(type(self)):
            value = getattr(self, name)
            if type(value) in _SCALARS:         # most fields: kept as they are, without a call
                if value is None and name in _LAYER_FIELDS:
                    continue
                out[name] = value
            elif name in _LAYER_FIELDS and value == ():
                continue
            else:
                out[name] = _plain(value)
        return out


@dataclass(frozen=True, slots=True)
class Reason:
    """Why something failed or was chosen, as a code with parameters; the narrator words it.

    ``code`` is a member of one of the reason enums of :mod:`simulator.facts`;
    ``params`` are plain values (str, int, float, bool, tuples of those).
    """

    code: StrEnum
    params: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def of(cls, code: StrEnum, **params: Any) -> "Reason":
        return cls(code, tuple(sorted(params.items())))

    def __getitem__(self, key: str) -> Any:
        for name, value in self.params:
            if name == key:
                return value
        raise KeyError(key)

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def to_dict(self) -> dict[str, Any]:
        return {"code": str(self.code), **{k: _plain(v) for k, v in self.params}}


_FIELDS: dict[type, tuple[str, ...]] = {}          # a fact class: its own fields (``data``)
_RECORD_FIELDS: dict[type, tuple[str, ...]] = {}   # Wire, Credential: all their fields
_SCALARS = frozenset({str, int, float, bool, type(None)})   # exact types: a StrEnum member is no str here


def _record_fields(cls: type) -> tuple[str, ...]:
    names = _RECORD_FIELDS.get(cls)
    if names is None:
        names = _RECORD_FIELDS[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


def _own_fields(cls: type) -> tuple[str, ...]:
    """The names of ``data``'s fields of a dataclass (computed once per class: every hop asks)."""
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = tuple(f.name for f in dataclasses.fields(cls) if f.name not in _BASE_FIELDS)
    return names


def _plain(value: Any) -> Any:
    if type(value) in _SCALARS:                # most values: nothing to convert (and no ABC check)
        return value
    if isinstance(value, Reason):
        return value.to_dict()
    if isinstance(value, (Wire, Credential)):
        return {name: _plain(getattr(value, name)) for name in _record_fields(type(value))}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return value
