"""Line-level helpers shared by the protocol cores: CRLF normalisation and dot-stuffing.

(The header block of a message: :func:`simulator.store.headers.header_block`.)

RFC 5321 §2.3.8: lines end with CRLF, and a bare CR or LF must not be taken as a line end.  We
*normalise* them to CRLF when a message enters the sandbox (as Postfix's
``smtpd_forbid_bare_newline = normalize`` does), so the stored message has only CRLF lines and a
"<LF>.<LF>" inside the data can never end a message at the next hop (SMTP smuggling).
"""
from __future__ import annotations

import re

_BARE = re.compile(rb"\r\n|\r|\n")


def normalize_crlf(data: bytes) -> bytes:
    """Every line end (CRLF, bare CR, bare LF) becomes CRLF; the result ends with CRLF."""
    crlf = data.count(b"\r\n")
    if data.count(b"\r") != crlf or data.count(b"\n") != crlf:   # (text from an SMTP door has only CRLF)
        data = _BARE.sub(b"\r\n", data)
    if data and not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data


def dot_stuff(data: bytes) -> bytes:
    """RFC 5321 §4.5.2: double a leading '.' on every line; append the terminating '.'."""
    data = normalize_crlf(data)
    if data.startswith(b"."):
        data = b"." + data
    data = data.replace(b"\r\n.", b"\r\n..")
    return data + b".\r\n"
