"""The test API's token: chosen by option or environment, kept in ``<data>/api-token``.  No Flask.

Theory of operation
-------------------
Scripts and test suites present the token as ``Authorization: Bearer <token>`` (simulator/web/guard.py
checks it; it is also the teacher's token of the page).  It is, in this order: ``--api-token``, the
environment variable ``MAILFLOW_API_TOKEN``, the token an earlier run left in ``<data>/api-token``
(so a developer's scripts keep working across restarts), or a new random one.  Whichever it is, it
is written to ``<data>/api-token``, readable by this user only (0600), replaced atomically, so a test
suite that starts ``app.py`` reads it from there.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path

from .fsutil import write_atomic

__all__ = ["ENV", "TOKEN_FILE", "TokenError", "read_token", "resolve", "valid_token", "write_token"]

TOKEN_FILE = "api-token"
ENV = "MAILFLOW_API_TOKEN"


class TokenError(ValueError):
    """A token given by option or environment that a header could not carry as it is."""


def valid_token(token: str) -> bool:
    """16 to 256 of ``A-Z a-z 0-9 - _ . ~`` (what a header and a URL carry as they are)."""
    return 16 <= len(token) <= 256 and all(c.isascii() and (c.isalnum() or c in "-_.~") for c in token)


def write_token(data_dir: Path, token: str) -> Path:
    """``<data>/api-token``: the token and a newline, mode 0600, written atomically."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / TOKEN_FILE
    write_atomic(path, (token + "\n").encode("ascii"), mode=0o600)
    return path


def read_token(data_dir: Path) -> str | None:
    """The token an earlier run wrote, if the file holds one."""
    try:
        token = (data_dir / TOKEN_FILE).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return token if valid_token(token) else None


def resolve(data_dir: Path, given: str | None = None, environ: "os._Environ[str] | dict[str, str] | None" = None) -> str:
    """The run's token (option, environment, the file, or new), written to the file; TokenError
    for a given token that is not a valid one."""
    env = os.environ if environ is None else environ
    for source, token in (("--api-token", given), (ENV, env.get(ENV))):
        if token:
            if not valid_token(token):
                raise TokenError(f"{source}: a token is 16 to 256 characters of A-Z a-z 0-9 - _ . ~")
            break
    else:
        token = read_token(data_dir) or secrets.token_urlsafe(24)
    write_token(data_dir, token)
    return token
