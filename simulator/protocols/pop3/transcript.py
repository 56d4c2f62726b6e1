"""The dialogue of a POP3 session as the learners see it: lines, trimmed, no words of our own.

Each side's lines are kept as ``("C", line)`` or ``("S", line)``. What is left out is marked
with a line on the side ``CUT`` ("…") whose text says what, as data the page words in its language:

* a number: that many lines left out (the tail of a long multi-line reply, or the oldest lines
  when more than ``TRANSCRIPT_KEEP`` piled up between two observations);
* ``TLS``: the STLS handshake happened here; from then on the dialogue is encrypted.

An over-long client line, never executed, is shown as ``("C", "…")``.
"""
from __future__ import annotations

import collections

from ...events import CUT
from .outputs import Transcript

__all__ = ["BODY_KEEP", "CUT", "LOG_LINE_KEEP", "TLS_MARK", "TRANSCRIPT_KEEP", "Dialogue"]

TRANSCRIPT_KEEP = 200      # lines of dialogue kept between two observations
BODY_KEEP = 20             # lines of a multi-line response kept in a transcript
LOG_LINE_KEEP = 300        # characters of one line kept in a transcript
TLS_MARK = "TLS"


class Dialogue:
    """The lines exchanged since the last ``take()``, bounded."""

    def __init__(self, keep: int = TRANSCRIPT_KEEP) -> None:
        self._lines: collections.deque[tuple[str, str]] = collections.deque(maxlen=keep)
        self._dropped = 0

    def line(self, side: str, line: str) -> None:
        if len(line) > LOG_LINE_KEEP:
            line = line[:LOG_LINE_KEEP] + "…"
        if len(self._lines) == self._lines.maxlen:
            self._dropped += 1
        self._lines.append((side, line))

    def body(self, body: bytes, lf: int = -1) -> None:
        """A multi-line response's data (CRLF lines, not stuffed): the first lines, as on the wire.

        ``lf`` >= 0: the body has that many LFs and each follows a CR (``Reply.lf``): the lines left
        out are then counted from it, with no second pass over the rest of a large message."""
        start = 0
        crlfs = 0                 # line ends among the lines shown
        size = len(body)
        shown = False             # any line shown, the last one ending at ``last``
        last = 0
        for _ in range(BODY_KEEP):
            if start >= size:
                break
            end = body.find(b"\r\n", start)
            if end < 0:
                end = size
            else:
                crlfs += 1
            shown = True
            last = end
            start = end + 2
        if shown:
            # decoded in one piece: CR and LF are ASCII, so no replaced sequence spans a line end and
            # the pieces are what each line decoded alone gives
            for text in body[:last].decode("utf-8", "replace").split("\r\n"):
                self.line("S", "." + text if text.startswith(".") else text)    # as on the wire (RFC 1939 §3)
        # the lines left out, counted in place (no copy of the rest of a large message)
        rest = (lf - crlfs) if lf >= 0 else body.count(b"\r\n", start)
        rest += 1 if start < size and not body.endswith(b"\r\n", start) else 0
        if rest:
            self.line(CUT, str(rest))
        self.line("S", ".")

    def tls(self) -> None:
        self.line(CUT, TLS_MARK)

    def too_long(self) -> None:
        self.line("C", "…")

    def take(self) -> Transcript:
        """The lines since the last call (the oldest cut, with a marker), and start afresh."""
        lines = list(self._lines)
        if self._dropped:
            lines.insert(0, (CUT, str(self._dropped)))
        self._lines.clear()
        self._dropped = 0
        return tuple(lines)
