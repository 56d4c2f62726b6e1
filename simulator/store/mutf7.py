"""Modified UTF-7, the encoding of IMAP mailbox names (RFC 3501 §5.1.3).

Printable US-ASCII stands for itself except "&", written "&-"; any other run of characters is
UTF-16BE in base64 with "," for "/", no padding, between "&" and "-".  The store also keeps folder
names on disk in this form (Maildir++ directory names are ASCII).

What it leaves out: nothing of §5.1.3; ``decode_mutf7(strict=False)`` accepts non-canonical input
(a directory made by another program), ``strict=True`` (the default) refuses it as the RFC asks.
"""
from __future__ import annotations

import base64

__all__ = ["decode_mutf7", "encode_mutf7"]


def encode_mutf7(name: str) -> str:
    """Unicode -> modified UTF-7 (RFC 3501 §5.1.3)."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            raw = "".join(pending).encode("utf-16-be")
            out.append("&" + base64.b64encode(raw).decode("ascii").rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            pending.append(ch)
    flush()
    return "".join(out)


def decode_mutf7(name: str, *, strict: bool = True) -> str:
    """Modified UTF-7 -> Unicode; raises ValueError on malformed (or, if strict, non-canonical) input."""
    out: list[str] = []
    i = 0
    while i < len(name):
        ch = name[i]
        if ord(ch) < 0x20 or ord(ch) > 0x7E:
            raise ValueError("non-ASCII character in a modified UTF-7 name")
        if ch != "&":
            out.append(ch)
            i += 1
            continue
        end = name.find("-", i + 1)
        if end < 0:
            raise ValueError("unterminated '&' shift in a modified UTF-7 name")
        chunk = name[i + 1 : end]
        if not chunk:
            out.append("&")
        else:
            b64 = chunk.replace(",", "/")
            b64 += "=" * (-len(b64) % 4)
            try:
                out.append(base64.b64decode(b64, validate=True).decode("utf-16-be"))
            except (ValueError, UnicodeDecodeError) as exc:
                raise ValueError("bad base64 in a modified UTF-7 name") from exc
        i = end + 1
    decoded = "".join(out)
    if strict and encode_mutf7(decoded) != name:
        raise ValueError("non-canonical modified UTF-7")
    return decoded
