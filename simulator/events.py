"""The event record: one hop of one message, as the learner sees it.

Every actor of the mail world publishes one event per hop *when the hop really happens* (a DNS
answer arrived, an SMTP session ended, a file was renamed into ``new/``).  ``src`` and ``dst`` are
node ids of the topology graph (see docs/CONTRACTS.md), which the browser also uses as SVG ids,
so the diagram never has to guess where a hop goes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    OK = "ok"
    DEFERRED = "deferred"      # a temporary failure: the message waits and will be retried
    FAILED = "failed"          # this attempt or session failed
    BOUNCED = "bounced"        # the message is given up; a DSN goes back to the sender
    INFO = "info"              # something happened that is neither success nor failure


# The closed list of kinds the simulator publishes.  Retrieval servers add their own
# "pop3.*" / "imap.*" kinds; the browser treats an unknown kind by its protocol.
KINDS = frozenset({
    "smtp.session",     # one SMTP dialogue, as the server saw it (submission, relay, by hand)
    "smtp.line",        # lines of an open SMTP dialogue, streamed in line-by-line step mode
    "smtp.attempt",     # a sending MTA's connection attempt that did not reach a session
    "dns.query",        # an MTA asked the sandbox DNS (question, answer, and the MX it chose)
    "queue.defer",      # delivery failed temporarily; next attempt scheduled
    "queue.retry",      # the time for the next attempt has come
    "queue.relay",      # the next hop accepted the message (250): it left this queue
    "queue.bounce",     # delivery failed for good: a DSN was queued to the sender
    "mda.deliver",      # the MDA wrote the message into a Maildir
    "world.change",     # a host went up/down, an MX table changed
    "gate.waiting",     # the step gate holds the next hop
    "dns.served",       # the DNS server answered a query from outside the MTAs (dig, a student)
})


@dataclass(frozen=True, slots=True)
class Event:
    seq: int
    ts: float
    kind: str
    src: str
    dst: str
    protocol: str
    status: str
    summary: str
    explain: dict[str, str] = field(default_factory=dict)
    trace: str | None = None
    transcript: tuple[tuple[str, str], ...] = ()
    message: dict[str, Any] | None = None
    data: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq, "ts": self.ts, "kind": self.kind, "src": self.src, "dst": self.dst,
            "protocol": self.protocol, "status": self.status, "summary": self.summary,
            "explain": dict(self.explain), "trace": self.trace,
            "transcript": [list(pair) for pair in self.transcript],
            "message": self.message, "data": self.data,
        }


def trim_transcript(lines: list[tuple[str, str]], *, keep: int = 20) -> list[tuple[str, str]]:
    """Keep the dialogue readable: at most ``keep`` lines of each message body.

    A body is a run of client lines after a ``354`` (SMTP) or server lines after a ``+OK`` to
    RETR/TOP; callers mark it by passing runs as ("D", line).  Runs longer than ``keep`` are cut
    and replaced by one line saying how many were left out.
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
            out.append(("…", f"[{cut} more lines of the message]"))
            cut = 0
        run = 0
        out.append((side, line))
    if cut:
        out.append(("…", f"[{cut} more lines of the message]"))
    return out
