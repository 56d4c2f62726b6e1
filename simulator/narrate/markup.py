"""The little markup narrations use: protocol text set apart as code.

A narration is plain text except for protocol text (a command, a reply line, a header) quoted in it,
which is wrapped in backticks by :func:`code`.  The page renders those spans as ``<code>`` (always as
text, never as HTML) and the language tests skip them, so a reader and a test can tell quoted
protocol text from the prose around it.
"""
from __future__ import annotations

from typing import Iterable

TICK = "`"


def code(text: object) -> str:
    """``code("250 2.0.0 Ok")`` -> the text as a code span; a backtick inside becomes a prime."""
    return TICK + str(text).replace(TICK, "ʹ") + TICK


def listing(items: Iterable[object], sep: str = ", ") -> str:
    return sep.join(str(i) for i in items)


def strip_code(text: str) -> str:
    """The prose of a narration: every code span removed (for tests and for plain-text output)."""
    parts = text.split(TICK)
    return " ".join(parts[0::2])


def plain(text: str) -> str:
    """A narration for a terminal: the backticks dropped, the quoted text kept."""
    return text.replace(TICK, "")


def codes(items: Iterable[object], sep: str = "; ") -> str:
    """Several pieces of protocol text (DNS answer lines, …), each as code, joined."""
    return listing((code(item) for item in items), sep)


def mechanism(name: str) -> str:
    """How a POP3 client logged in (RFC 1939 ``USER``/``PASS``, RFC 5034 ``AUTH …``), as code."""
    return code("USER/PASS") if name == "USER" else code(f"AUTH {name}")


def flag(name: str) -> str:
    """An IMAP system flag as it is written on the wire (``\\Seen``), as code."""
    return code("\\" + name)
