"""Expectations: what a lesson's ``expect`` step checks, from the facts of the run and the mailboxes.

Theory of operation
-------------------
:func:`evaluate` is pure: it takes an :class:`~simulator.scenario.Expect`, the facts published since
the lesson began and (for ``mailbox``) a message count, and returns whether the expectation holds now
and what was found, as plain data the narrator words (``found``: delivered, bounced, deferred, via,
messages, replies).  The runner calls it until it holds (and, for a count, until the world is quiet:
a second copy may still be on its way) or the world is quiet and it never will.

Where each answer comes from: ``delivered`` — the MDA's ``mda.deliver`` facts; ``bounced`` — the
queue's ``queue.bounce`` (one status per recipient); ``deferred`` — ``queue.defer``; ``via`` — the
``queue.relay`` facts, whose ``target`` is the MTA that said 250; ``reply`` — the servers' own
transcripts (``smtp.session``), each reply paired with the command it answers (``CONNECT`` for the
greeting, ``DOT`` for the end of the data), and the answers faults gave (``fault.bite``: a greeting
refused with 421 ends the connection before any session worth a fact).
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..facts import Bounced, Deferred, Fact, MdaDelivered, Relayed, SmtpSession
from ..scenario import Expect, ExpectKind

MAX_REPLIES = 12


def needs_quiet(expect: Expect) -> bool:
    """A count can still change while mail is moving: it is judged once the world is quiet."""
    return expect.count is not None or expect.kind is ExpectKind.MAILBOX


def evaluate(expect: Expect, facts: Iterable[Fact], mailbox_count: int | None = None) -> tuple[bool, dict[str, Any]]:
    facts = list(facts)
    kind = expect.kind
    if kind is ExpectKind.DELIVERED:
        found = _delivery(expect.rcpt, facts)
        n = found["delivered"]
        return (n >= 1 if expect.count is None else n == expect.count), found
    if kind is ExpectKind.BOUNCED:
        found = _delivery(expect.rcpt, facts)
        statuses = found["bounced"]
        return bool(statuses) and (not expect.status or expect.status in statuses), found
    if kind is ExpectKind.DEFERRED:
        found = _delivery(expect.rcpt, facts)
        if not expect.then_delivered:
            return found["deferred"] >= 1, found
        first = next((i for i, f in enumerate(facts) if isinstance(f, Deferred) and expect.rcpt in f.rcpts), None)
        later = first is not None and any(isinstance(f, MdaDelivered) and f.rcpt == expect.rcpt for f in facts[first:])
        return later, found
    if kind is ExpectKind.VIA:
        via = [f.target for f in facts if isinstance(f, Relayed) and (not expect.rcpt or expect.rcpt in f.rcpts)]
        via = list(dict.fromkeys(via))
        return expect.host in via, {"via": via}
    if kind is ExpectKind.MAILBOX:
        count = mailbox_count or 0
        return count == expect.count, {"messages": count}
    if kind is ExpectKind.REPLY:
        seen = list(replies(facts, host=expect.host))
        hit = any(code == expect.code and (not expect.command or command == expect.command) for command, code in seen)
        shown = list(dict.fromkeys(f"{command} {code}" for command, code in seen))[-MAX_REPLIES:]
        return hit, {"replies": shown}
    raise ValueError(f"unknown expectation {kind!r}")


def _delivery(rcpt: str, facts: list[Fact]) -> dict[str, Any]:
    delivered = sum(1 for f in facts if isinstance(f, MdaDelivered) and f.rcpt == rcpt)
    bounced = [status for f in facts if isinstance(f, Bounced)
               for r, status in zip(f.rcpts, f.codes or ("",) * len(f.rcpts)) if r == rcpt]
    deferred = sum(1 for f in facts if isinstance(f, Deferred) and rcpt in f.rcpts)
    return {"delivered": delivered, "bounced": list(dict.fromkeys(s for s in bounced if s)) or
            (["?"] if bounced else []), "deferred": deferred}


def replies(facts: Iterable[Fact], *, host: str = "") -> Iterable[tuple[str, int]]:
    """(command, reply code) pairs from the servers' transcripts; ``host``: only that server's."""
    for fact in facts:
        if fact.kind == "fault.bite":            # a fault's answer (a refused greeting has no session)
            reply, command = getattr(fact, "reply", ""), getattr(fact, "command", "")
            if reply[:3].isdigit() and (not host or getattr(fact, "target", "") == host):
                yield command.upper(), int(reply[:3])
            continue
        if not isinstance(fact, SmtpSession) or (host and fact.host != host):
            continue
        command = "CONNECT"
        for side, line in fact.transcript:
            if side == "C":
                command = "DOT" if line == "." else (line.split(" ", 1)[0].split(":", 1)[0].upper() or command)
            elif side == "S" and len(line) >= 3 and line[:3].isdigit() and line[3:4] != "-":
                yield command, int(line[:3])
