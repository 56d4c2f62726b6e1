"""The layers under a hop: the socket pair a connection used, and what a listener on the wire reads.

Theory of operation
  Every server and client of the sandbox knows, when a connection is made, the two ends of its socket
  (``peername`` and ``sockname``): the :class:`~simulator.facts.Wire` of the hops that connection
  carries.  They are read then, not when a fact is published: after STARTTLS the TLS transport may
  no longer tell, and after the connection is lost nothing does.  :func:`wire` builds the record.

  :func:`find_credentials` reads a transcript the way a listener on the wire would (sans-IO, no
  sockets): which client lines carry a login secret -- SMTP ``AUTH PLAIN`` / ``AUTH LOGIN`` with
  their initial response and their continuation lines (RFC 4954 §4, RFC 4616), POP3 ``USER`` /
  ``PASS`` (RFC 1939 §7) and ``AUTH`` (RFC 5034), IMAP ``LOGIN`` (RFC 3501 §6.2.3) and
  ``AUTHENTICATE`` (§6.2.2, RFC 4959) -- and what each says once its base64 is decoded.  Lines sent
  under TLS are marked with the TLS that hid them, and nothing of them is decoded.  Base64 is no
  encryption: that is the lesson.  :class:`CredentialScan` does the same over a transcript that
  keeps growing (a reused SMTP connection publishes a slice per message): it reads each line once.

  :func:`trimmed_positions` maps a line of a raw SMTP transcript to its place once
  :func:`simulator.events.trim_transcript` has cut long message bodies, so marks found on the raw
  dialogue point at the lines the page shows.

Left out: SASL mechanisms other than PLAIN and LOGIN (CRAM-MD5 and SCRAM send no reusable secret),
IMAP literals in LOGIN (the line holds only ``{n}``; the secret follows in the next piece).
"""
from __future__ import annotations

import base64
import binascii
import dataclasses
import re
from collections.abc import Sequence
from typing import Any

from ..events import CUT, trimmed_positions   # re-exported: the one mapping, beside trim_transcript
from ..facts import Credential, TlsMode, Wire

__all__ = ["NUL", "TLS_MARK", "CredentialScan", "connection_layers", "connection_wire", "find_credentials",
           "tls_from_marker", "tls_version_of", "trimmed_positions", "wire"]

NUL = "␀"                # how a NUL byte of a decoded SASL response is shown
TLS_MARK = "TLS"         # a (CUT, "TLS") line: the STLS handshake happened here (POP3 transcripts)

_SMTP_AUTH = re.compile(r"^AUTH\s+(\S+)(?:\s+(\S+))?\s*$", re.IGNORECASE)
_IMAP_AUTH = re.compile(r"^\S+\s+AUTHENTICATE\s+(\S+)(?:\s+(\S+))?\s*$", re.IGNORECASE)
_IMAP_LOGIN = re.compile(r"^\S+\s+LOGIN\s+(.*)$", re.IGNORECASE)
_ASTRING = re.compile(r'"((?:[^"\\]|\\.)*)"|([^\s"(){]+)')


def wire(peer: Any, local: Any, *, transport: str = "tcp", tls: TlsMode = TlsMode.NONE,
         tls_version: str = "", tls_from: int | None = None) -> Wire:
    """The Wire of a socket whose far end is ``peer`` and near end ``local`` (as ``peername`` and
    ``sockname`` give them: ``(address, port, ...)`` or None); the client is the far end."""
    client, client_port = _end(peer)
    server, server_port = _end(local)
    return Wire(transport=transport, client=client, client_port=client_port, server=server,
                server_port=server_port, tls=tls, tls_version=tls_version,
                tls_from=tls_from if tls is not TlsMode.NONE else None)


def _end(pair: Any) -> tuple[str, int]:
    if isinstance(pair, (tuple, list)) and len(pair) >= 2:
        return str(pair[0]), int(pair[1])
    return "", 0


def tls_version_of(transport: Any) -> str:
    """"TLSv1.3" for a TLS transport, "" for any other (or a closed one)."""
    try:
        ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
        return str(ssl_object.version() or "") if ssl_object is not None else ""
    except Exception:        # a transport being torn down may fail anyhow: the version is a nicety
        return ""


def tls_from_marker(lines: Sequence[tuple[str, str]], start: int | None = None) -> int | None:
    """The index of the first line after a (CUT, "TLS") marker; ``start`` when there is none."""
    for index, (side, text) in enumerate(lines):
        if side == CUT and text == TLS_MARK:
            return index + 1
    return start


def find_credentials(lines: Sequence[tuple[str, str]], protocol: str, *,
                     tls: TlsMode = TlsMode.NONE, tls_from: int | None = None) -> tuple[Credential, ...]:
    """The client lines of ``lines`` that carry a login secret, as a listener would read them.

    ``protocol`` is "SMTP", "POP3" or "IMAP"; a line at or after index ``tls_from`` crossed the wire
    under TLS (``tls`` says which), so it is marked hidden instead of decoded.
    """
    return CredentialScan(protocol).update(lines, tls=tls, tls_from=tls_from)


class CredentialScan:
    """:func:`find_credentials` over a transcript that grows: each :meth:`update` reads only the
    lines added since the last one (the reader's state -- an AUTH exchange in progress -- is kept
    between calls), so a long session costs in proportion to its lines, not their square.

    The caller keeps the lines in one list that only grows at its end, except :meth:`drop`: the first
    ``count`` lines were removed (indices rebased).  ``tls`` and ``tls_from`` are the connection's;
    ``tls_from`` never points before a line already read (TLS starts where the transcript ends)."""

    __slots__ = ("_reader", "upto", "found")

    def __init__(self, protocol: str) -> None:
        self._reader = _Reader(protocol.upper())
        self.upto = 0                                   # lines read so far
        self.found: list[Credential] = []

    def update(self, lines: Sequence[tuple[str, str]], *, tls: TlsMode = TlsMode.NONE,
               tls_from: int | None = None) -> tuple[Credential, ...]:
        """The marks of ``lines`` (every line so far), reading those added since the last call."""
        reader, found = self._reader, self.found
        encrypted = tls is not TlsMode.NONE and tls_from is not None
        for index in range(self.upto, len(lines)):
            side, text = lines[index]
            if side == "S":
                reader.server(text)
                continue
            if side != "C":
                continue
            hidden = tls if encrypted and index >= tls_from else TlsMode.NONE   # type: ignore[operator]
            mark = reader.client(text, hidden=hidden is not TlsMode.NONE)
            if mark is None:
                continue
            mechanism, carries, decoded, user, password = mark
            found.append(Credential(line=index, mechanism=mechanism, carries=carries, decoded=decoded,
                                    user=user, password=password, hidden_by=hidden))
        self.upto = max(self.upto, len(lines))
        return tuple(found)

    def since(self, start: int) -> list[Credential]:
        """The marks found so far on lines at or after ``start``."""
        return [mark for mark in self.found if mark.line >= start]

    def drop(self, count: int) -> None:
        """The first ``count`` lines were removed from the transcript: forget their marks, rebase."""
        self.upto = max(0, self.upto - count)
        self.found = [dataclasses.replace(mark, line=mark.line - count) for mark in self.found
                      if mark.line >= count]


_Mark = tuple[str, str, str, str, str]      # mechanism, carries, decoded, user, password


class _Reader:
    """Follows one dialogue line by line: which AUTH exchange is open, which reply was last.

    With ``hidden`` (the line went encrypted) a line is recognised but nothing of it is read."""

    def __init__(self, protocol: str) -> None:
        self.protocol = protocol
        self.mechanism = ""           # the SASL exchange in progress ("" for none)
        self.responses = 0            # client responses of it so far
        self.continued = False        # the last server line asked for a response

    def server(self, text: str) -> None:
        prompt = "334" if self.protocol == "SMTP" else "+"
        self.continued = text.startswith(prompt) and bool(self.mechanism)
        if not self.continued:
            self.mechanism = ""

    def client(self, text: str, *, hidden: bool) -> _Mark | None:
        text = text.strip()
        if self.mechanism and self.continued:
            self.continued = False
            return self._response(text, hidden=hidden)
        return self._command(text, hidden=hidden)

    def _command(self, text: str, *, hidden: bool) -> _Mark | None:
        pattern = _IMAP_AUTH if self.protocol == "IMAP" else _SMTP_AUTH
        match = pattern.match(text)
        if match:
            mechanism = match.group(1).upper()
            if mechanism not in ("PLAIN", "LOGIN"):
                return None
            self.mechanism, self.responses = mechanism, 0
            initial = match.group(2)
            return self._response(initial, hidden=hidden, initial=True) if initial else None
        if self.protocol == "POP3":
            verb, _, arg = text.partition(" ")
            if verb.upper() in ("USER", "PASS") and arg:
                user, password = (arg, "") if verb.upper() == "USER" else ("", arg)
                carries = "user" if user else "password"
                return (verb.upper(), carries, "", "", "") if hidden else (verb.upper(), carries, "", user, password)
        if self.protocol == "IMAP":
            login = _IMAP_LOGIN.match(text)
            if login:
                args = [_unquote(m.group(1)) if m.group(1) is not None else m.group(2)
                        for m in _ASTRING.finditer(login.group(1))][:2]
                user, password = (args + ["", ""])[:2]
                if not user:
                    return None
                carries = "both" if password else "user"
                return ("IMAP LOGIN", carries, "", "", "") if hidden else ("IMAP LOGIN", carries, "", user, password)
        return None

    def _response(self, token: str, *, hidden: bool, initial: bool = False) -> _Mark | None:
        if token == "*":                        # the client cancelled the exchange
            self.mechanism = ""
            return None
        self.responses += 1
        carries = "both" if self.mechanism == "PLAIN" else ("user" if self.responses == 1 else "password")
        if hidden:
            return (self.mechanism, carries, "", "", "")
        if initial and token == "=":            # an empty initial response (RFC 4954 §4)
            token = ""
        try:
            decoded = base64.b64decode(token, validate=True).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            return None                         # not base64: the server refuses it, nothing to read
        if self.mechanism == "PLAIN":
            parts = decoded.split("\0")
            user, password = (parts[1], parts[2]) if len(parts) == 3 else ("", "")
            return ("PLAIN", carries, decoded.replace("\0", NUL), user, password)
        return ("LOGIN", carries, decoded, decoded if carries == "user" else "",
                decoded if carries == "password" else "")


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def connection_wire(conn: Any, *, tls_from: int | None = None) -> Wire:
    """The Wire of a :class:`~simulator.protocols.transport.Connection` (its ends, its TLS)."""
    return wire(conn.peername, conn.sockname, tls=TlsMode(conn.tls_mode), tls_version=conn.tls_version,
                tls_from=tls_from)


def connection_layers(conn: Any, transcript: Sequence[tuple[str, str]], protocol: str) -> dict[str, Any]:
    """``wire`` and ``credentials`` of a fact whose ``transcript`` was exchanged on ``conn`` (POP3,
    IMAP): lines after a (CUT, "TLS") marker, or all of them when TLS was already on, went encrypted."""
    tls_from = tls_from_marker(transcript, 0 if conn.is_tls else None) if conn.is_tls else None
    mode = TlsMode(conn.tls_mode)
    return {"wire": _kept_wire(conn, tls_from),
            "credentials": find_credentials(transcript, protocol, tls=mode, tls_from=tls_from)}


def _kept_wire(conn: Any, tls_from: int | None) -> Wire:
    """:func:`connection_wire`, made once per state of the connection (its ends, its TLS and
    ``tls_from``) and kept on it: a retrieval session publishes a fact per command (a Wire is
    frozen, so the facts may share it)."""
    key = (conn.peername, conn.sockname, conn.tls_mode, conn.tls_version, tls_from)
    kept = getattr(conn, "_kept_wire", None)
    if kept is not None and kept[0] == key:
        return kept[1]
    layer = connection_wire(conn, tls_from=tls_from)
    try:
        conn._kept_wire = (key, layer)
    except AttributeError:          # an object that takes no new attribute: made each time
        pass
    return layer
