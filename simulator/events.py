"""The event: one hop as the page and the log carry it, a fact plus its words.

The bus turns each published fact (:mod:`simulator.facts`) into an event: a sequence number, a time,
the fact's kind, ends, protocol, status, trace, transcript and data, and the narrator's text in every
language (``text["ru"]["explain"]``).  ``src`` and ``dst`` are node ids of the topology graph
(:mod:`simulator.nodes`), which the page also uses as SVG ids.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from .facts import Fact

CUT = "…"       # transcript side of a marker line whose text is how many body lines were left out


@dataclass(frozen=True, slots=True)
class Event:
    seq: int
    ts: float
    kind: str
    src: str
    dst: str
    protocol: str
    status: str
    text: dict[str, dict[str, str]]
    trace: str | None = None
    transcript: tuple[tuple[str, str], ...] = ()
    message: dict[str, Any] | None = None
    data: dict[str, Any] | None = None
    fact: Fact | None = field(default=None, compare=False, repr=False)
    # the event's JSON line as the bus wrote it to the log (UTF-8, ending in a newline): set once by
    # the bus when it publishes, so the bridge sends the same text without encoding it again
    # (not an argument: a copy made with dataclasses.replace has other content, so no line)
    line: bytes | None = field(default=None, init=False, compare=False, repr=False)

    def words(self, lang: str = "en") -> dict[str, str]:
        """``{"summary": ..., "explain": ...}`` in one language."""
        return self.text.get(lang) or {"summary": self.kind, "explain": ""}

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq, "ts": self.ts, "kind": self.kind, "src": self.src, "dst": self.dst,
            "protocol": self.protocol, "status": self.status, "text": self.text, "trace": self.trace,
            "transcript": [list(pair) for pair in self.transcript],
            "message": self.message, "data": self.data,
        }

    def to_json(self) -> bytes:
        """:meth:`to_dict` as one line of JSON, UTF-8, ending in a newline: the event log's line and
        what the page is sent.  Built by orjson straight from the fields (a tuple is an array; no
        copy of the transcript's pairs into lists): ~15 times the standard encoder's speed, and
        this is done for every hop (~22 -> 1.6 us for an SMTP session's event).

        Raises ``TypeError`` (``orjson.JSONEncodeError``) for what orjson does not write: a string
        with a lone surrogate (undecodable octets a hostile client sent, kept by Python as
        ``\\udcXX``), an integer beyond 64 bits, a key that is not a string, any other object.
        The bus then writes the line with the standard encoder (:func:`simulator.bus._line_of`)."""
        return orjson.dumps({
            "seq": self.seq, "ts": self.ts, "kind": self.kind, "src": self.src, "dst": self.dst,
            "protocol": self.protocol, "status": self.status, "text": self.text, "trace": self.trace,
            "transcript": self.transcript, "message": self.message, "data": self.data,
        }, option=orjson.OPT_APPEND_NEWLINE)


def trim_transcript(lines: list[tuple[str, str]], *, keep: int = 20) -> list[tuple[str, str]]:
    """Keep the dialogue readable: at most ``keep`` lines of each message body.

    A body is a run of client lines after a ``354`` (SMTP) or server lines after a ``+OK`` to
    RETR/TOP; callers mark it by passing runs as ("D", line).  Runs longer than ``keep`` are cut
    and replaced by one marker line ``(CUT, "<how many were left out>")``, which the page words.

    A marker already in ``lines`` (the SMTP session keeps 20 lines of a DATA and counts the rest,
    ``(CUT, "N")``) right next to this one is the same gap: the two become one marker with the sum,
    so the page never shows "17 more lines" and "40 more lines" side by side.  Only count markers
    merge (a ``(CUT, "TLS")`` line is another note); :func:`trimmed_positions` says where each line
    lands.
    """
    return _trim(lines, keep)[0]


def trimmed_positions(lines: list[tuple[str, str]], keep: int = 20) -> list[int | None]:
    """Where each of ``lines`` lands in ``trim_transcript(lines, keep=keep)``: its index there, None
    for a body line that was cut (a count marker merged into a neighbour lands on that marker)."""
    return _trim(lines, keep)[1]


def _is_count(line: tuple[str, str]) -> bool:
    return line[0] == CUT and line[1].isascii() and line[1].isdigit()


def _trim(lines: list[tuple[str, str]], keep: int) -> tuple[list[tuple[str, str]], list[int | None]]:
    out: list[tuple[str, str]] = []
    positions: list[int | None] = []
    run = 0
    cut = 0

    def mark(count: int) -> int:
        """Add a count marker, merged into one just before it; its index in ``out``."""
        if out and _is_count(out[-1]):
            out[-1] = (CUT, str(int(out[-1][1]) + count))
        else:
            out.append((CUT, str(count)))
        return len(out) - 1

    for side, line in lines:
        if side == "D":
            run += 1
            if run <= keep:
                positions.append(len(out))
                out.append(("C", line))
            else:
                cut += 1
                positions.append(None)
            continue
        if cut:
            mark(cut)
            cut = 0
        run = 0
        if _is_count((side, line)):
            positions.append(mark(int(line)))
            continue
        positions.append(len(out))
        out.append((side, line))
    if cut:
        mark(cut)
    return out, positions
