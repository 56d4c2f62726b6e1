"""MDA: final delivery into a user's Maildir (the Maildir protocol, as in qmail's maildir(5)).

The file is written by the store's one Maildir writer (``simulator.store.maildir.write_message``):
under ``tmp/``, fsynced, linked into ``new/`` under a name nobody uses and the directory fsynced, so
a message is either wholly in the mailbox or not at all, even if the machine loses power.  Final
delivery adds ``Return-Path:`` (removing any earlier one) and ``Delivered-To:`` (RFC 5321 §4.4);
delivery into a mailbox that is not the recipient's own (a domain's catch-all, the outside world's)
also names the envelope recipients it was for, ``X-Original-To:`` as Postfix's local(8) writes it.

Exactly once across crashes (issue 12, rule 1): the queue runner delivers with :func:`deliver_once`.
Its intent is on disk before the 250 was ever sent: the queue entry (fsynced) names the message, and
:func:`delivery_name` turns the entry and the recipient into the file's name, the same on every
attempt.  The name is looked up first (``new/``; on a redo ``new/`` and ``cur/``, whatever the host
part); then the write goes to ``tmp/<name>``, is fsynced, linked to ``new/<name>`` and the directory
fsynced; the completion is the queue entry's save that the queue runner makes right after, in the
same worker-thread call, before anyone is told of the message (the recipient marked done, or the
entry removed).  A restart between the two finds the name and skips the write: a finished delivery
is never written twice, an unfinished one is written again whole; and a delivery a reader has
already fetched and deleted is on record as done, so it is not redone.

The final MX's direct delivery before its 250 (:mod:`simulator.direct`) names a relayed copy by
:func:`relay_name` instead: a function of the relay key and the recipient alone, so that the resend
of a message whose copy a killed attempt linked (no record, no 250) finds it, whatever its time.
"""
from __future__ import annotations

import functools
import hashlib
import time
from pathlib import Path
from typing import Callable, Iterable

from .store.maildir import find_named, fixed_base, make_maildir, write_message, write_named


@functools.lru_cache(maxsize=4096)
def maildir_for(data_dir: Path, address: str) -> Path:
    """<data>/mail/<domain>/<user>: the layout shared with ``simulator.store``.  Remembered (a pure
    function of its arguments, asked at every delivery: three path joins each time otherwise)."""
    local, _, domain = address.rpartition("@")
    if not local or not domain or any(part in ("", ".", "..") or "/" in part or "\0" in part
                                      for part in (local.lower(), domain.lower())):
        raise ValueError(f"not a deliverable address: {address!r}")
    return data_dir / "mail" / domain.lower() / local.lower()


def final_headers(content: bytes, *, return_path: str, delivered_to: str, trace: str | None = None,
                  original_to: Iterable[str] = ()) -> bytes:
    """Prepend Return-Path, X-Original-To (one per address) and Delivered-To; drop any Return-Path
    already in the header.

    ``X-Mailflow-Trace`` names the message's trace id, so a student who opens the message in a mail
    client can find its journey on the diagram, and retrieval hops join the same trace.
    """
    head, sep, body = content.partition(b"\r\n\r\n")
    if not sep:
        head, body = content, b""
    kept: list[bytes] = []
    skipping = False
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t"):
            if not skipping:
                kept.append(line)
            continue
        skipping = line.lower().startswith(b"return-path:")
        if not skipping:
            kept.append(line)
    originals = "".join(f"X-Original-To: {address}\r\n" for address in original_to)
    new_head = f"Return-Path: <{return_path}>\r\n{originals}Delivered-To: {delivered_to}\r\n"
    if trace:
        new_head += f"X-Mailflow-Trace: {trace}\r\n"
    return new_head.encode() + b"\r\n".join(kept) + b"\r\n\r\n" + body


def deliver(maildir: Path, content: bytes, *, clock=time.time) -> Path:
    """Write ``content`` (CRLF line ends) into ``maildir/new``; return the final path."""
    make_maildir(maildir)
    sub, name, _ = write_message(maildir, content, now=clock())
    return maildir / sub / name


def delivery_name(created: float, queue_id: str, part: str) -> str:
    """The Maildir base name of one delivery of a queue entry (maildir(5)'s shape: time, then what
    makes it unique, then the host): ``part`` names the recipient ("R3": the fourth) or the copy."""
    return fixed_base(created, f"Q{queue_id}{part}")


def relay_name(created: float, key: str, address: str) -> tuple[str, str]:
    """(the Maildir base name, its unique part) of the direct delivery of a relayed message
    (:mod:`simulator.direct`) to ``address``: the unique part is a function of the relay key
    (:mod:`simulator.protocols.smtp.relayid`) and the recipient alone, so a resend of the same message
    -- another queue id, another time -- is found by it
    (:func:`simulator.store.maildir.find_unique`)."""
    digest = hashlib.blake2b(f"{key}\0{address.lower()}".encode("utf-8", "surrogatepass"), digest_size=10)
    unique = f"D{digest.hexdigest()}"
    return fixed_base(created, unique), unique


def deliver_once(maildir: Path, content: bytes, *, name: str, redo: bool = False,
                 before_link: Callable[[], None] | None = None) -> tuple[Path, bool]:
    """Write ``content`` into ``maildir/new/<name>`` unless it is there already (or, with ``redo``,
    in ``new/`` or ``cur/`` under any host part); return the file's path and whether it was written now.

    The Maildir's directories are made once per process (``_made``), not tried at every delivery;
    if they were removed meanwhile, the write fails with FileNotFoundError before anything is
    linked, and they are made again for a second try."""
    if maildir not in _made:
        make_maildir(maildir)
        _made.add(maildir)
    try:
        sub, found, written = write_named(maildir, content, base=name, redo=redo, before_link=before_link)
    except FileNotFoundError:
        make_maildir(maildir)
        sub, found, written = write_named(maildir, content, base=name, redo=redo, before_link=before_link)
    return maildir / sub / found, written


_made: set[Path] = set()        # Maildirs whose tmp/ new/ cur/ this process made (or found) already


def find_delivery(maildir: Path, name: str) -> Path | None:
    """Where the delivery named ``name`` is (``new/`` or ``cur/``, any host part), or None."""
    found = find_named(maildir, name)
    return maildir / found[0] / found[1] if found is not None else None
