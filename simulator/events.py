"""The event: one hop as the page and the log carry it, a fact plus its words.

The bus turns each published fact (:mod:`simulator.facts`) into an event: a sequence number, a time,
the fact's kind, ends, protocol, status, trace, transcript and data, and the narrator's text in every
language (``text["ru"]["explain"]``).  ``src`` and ``dst`` are node ids of the topology graph
(:mod:`simulator.nodes`), which the page also uses as SVG ids.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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


def trim_transcript(lines: list[tuple[str, str]], *, keep: int = 20) -> list[tuple[str, str]]:
    """Keep the dialogue readable: at most ``keep`` lines of each message body.

    A body is a run of client lines after a ``354`` (SMTP) or server lines after a ``+OK`` to
    RETR/TOP; callers mark it by passing runs as ("D", line).  Runs longer than ``keep`` are cut
    and replaced by one marker line ``(CUT, "<how many were left out>")``, which the page words.
    """
    out: list[tuple[str, str]] = []
    run = 0
    cut = 0
    for side, line in lines:
        if side == "D":
            run += 1
            if run <= keep:
                out.append(("C", line))
            else:
                cut += 1
            continue
        if cut:
            out.append((CUT, str(cut)))
            cut = 0
        run = 0
        out.append((side, line))
    if cut:
        out.append((CUT, str(cut)))
    return out
