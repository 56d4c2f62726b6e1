"""IMAP verbs of the selected state (RFC 3501 §6.4) and their extensions.

CHECK, CLOSE, UNSELECT (RFC 3691), EXPUNGE and UID EXPUNGE (RFC 4315 §2.1), SEARCH, FETCH, STORE,
COPY (COPYUID, RFC 4315 §3), MOVE (RFC 6851) and their UID forms (§6.4.8).  FETCH runs as a job, one
message per step, so the adapter can write a long answer as it is produced (see :mod:`.session`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from simulator.facts import imap as facts
from simulator.store import NoSuchMessage

from .effects import State
from .fetch import ITEMS, FetchAtt, FetchedMessage, fetch_response, item_names, needs_info, parse_fetch_atts
from .search import SearchParser, StoredMessage
from .verbs_folders import flag_list
from .wire import Atom, Command, ParseError, astring, expect_args, format_uid_set, mailbox_arg, parse_sequence_set

if TYPE_CHECKING:
    from .mailbox import Mailbox
    from .session import ImapSession

FACT_UIDS = 50            # UIDs a FETCH fact lists at most


def _box(s: ImapSession) -> Mailbox:
    assert s.mailbox is not None
    return s.mailbox


def _read_only(s: ImapSession, cmd: Command) -> bool:
    if s.readonly:
        s.tagged(cmd.tag, "NO", "[READ-ONLY] Mailbox is read-only")
    return s.readonly


def check(s: ImapSession, cmd: Command) -> None:
    expect_args(cmd, 0)
    s.rescan()
    s.finish(cmd, "CHECK completed")


def close(s: ImapSession, cmd: Command) -> None:
    """CLOSE (RFC 3501 §6.4.2): expunge silently (unless read-only), then no mailbox is selected."""
    expect_args(cmd, 0)
    gone = [] if s.readonly else _box(s).expunge(s.folder)
    s.tagged(cmd.tag, "OK", "CLOSE completed")
    if gone:  # the removal is as real as EXPUNGE's (mbsync deletes this way), so it is a hop too
        s.publish(facts.ImapExpunge(**s.hop(), command="CLOSE", uids=tuple(gone)))
    s.deselect()


def unselect(s: ImapSession, cmd: Command) -> None:
    expect_args(cmd, 0)
    s.deselect()  # RFC 3691: like CLOSE without the expunge
    s.tagged(cmd.tag, "OK", "UNSELECT completed")


def expunge(s: ImapSession, cmd: Command) -> None:
    """EXPUNGE (RFC 3501 §6.4.3) and UID EXPUNGE (RFC 4315 §2.1)."""
    uids = None
    if cmd.name == "UID EXPUNGE":
        (arg,) = expect_args(cmd, 1)
        uids = s.resolve_uids(parse_sequence_set(astring(arg)))
    else:
        expect_args(cmd, 0)
    if _read_only(s, cmd):
        return
    gone = _box(s).expunge(s.folder, uids)
    s.send_updates(allow_expunge=True)
    s.tagged(cmd.tag, "OK", "EXPUNGE completed")
    if gone:
        s.publish(facts.ImapExpunge(**s.hop(), command=cmd.name, uids=tuple(gone)))


def search(s: ImapSession, cmd: Command) -> None:
    """SEARCH (RFC 3501 §6.4.4); CHARSET UTF-8 / US-ASCII, others NO [BADCHARSET]."""
    args = list(cmd.args)
    charset = "US-ASCII"
    if len(args) >= 2 and isinstance(args[0], Atom) and args[0].upper() == "CHARSET":
        charset = astring(args[1]).upper()
        args = args[2:]
        if charset not in ("UTF-8", "US-ASCII"):
            s.tagged(cmd.tag, "NO", "[BADCHARSET (UTF-8 US-ASCII)] Unsupported charset")
            return
    pred = SearchParser(s, args, charset).parse_all()
    hits: list[int] = []
    box, folder, empty = _box(s), s.folder, frozenset()
    for seq, uid in enumerate(s.view, 1):
        view = StoredMessage(box, folder, seq, uid, s.view_flags.get(uid, empty), uid in s.recent)
        try:
            if pred(view):
                hits.append(uid if cmd.name == "UID SEARCH" else seq)
        except NoSuchMessage:
            continue
    s.untagged("SEARCH" + "".join(f" {n}" for n in hits))
    s.finish(cmd, "SEARCH completed")


def _targets(s: ImapSession, cmd: Command, arg: Any) -> list[tuple[int, int]]:
    """(sequence number, UID) pairs addressed by the set argument of FETCH/STORE/COPY/MOVE."""
    seqset = parse_sequence_set(astring(arg) if isinstance(arg, Atom) else "")
    if cmd.name.startswith("UID "):
        uids = set(s.resolve_uids(seqset))
        return [(i + 1, u) for i, u in enumerate(s.view) if u in uids]
    return [(n, s.view[n - 1]) for n in s.resolve_seqs(seqset)]


# --------------------------------------------------------------------------- FETCH

def fetch(s: ImapSession, cmd: Command) -> None:
    """FETCH / UID FETCH (RFC 3501 §6.4.5, §6.4.8: the UID form always includes UID)."""
    seq_arg, atts_arg = expect_args(cmd, 2)
    atts = parse_fetch_atts(atts_arg)
    if cmd.name == "UID FETCH" and not any(a.name == "UID" for a in atts):
        atts.insert(0, FetchAtt("UID"))
    targets = _targets(s, cmd, seq_arg)
    s.job = (cmd.tag, _fetch_job(s, cmd, atts, targets))
    s.run_job()


def _fetch_job(s: ImapSession, cmd: Command, atts: list[FetchAtt],
               targets: list[tuple[int, int]]) -> Iterator[None]:
    """The body of FETCH, one message per step, so that a server can write as it goes.

    Another session may expunge a message while the FETCH is paused: it is then left out and the
    FETCH ends NO [EXPUNGEISSUED], as for a file removed behind our back (RFC 5530).
    """
    missing = False
    bodies = 0
    with_info = needs_info(atts)
    for seq, uid in targets:
        try:
            line, body = _fetch_one(s, seq, uid, atts, with_info)
        except NoSuchMessage:
            missing = True
            continue
        bodies += body
        s.send(line)
        yield
    if missing:
        if s.state is State.SELECTED:
            s.send_updates(allow_expunge=cmd.name.startswith("UID "))
        s.tagged(cmd.tag, "NO", "[EXPUNGEISSUED] Some messages were expunged meanwhile")  # RFC 5530
    else:
        s.finish(cmd, "FETCH completed")
    if targets:
        s.publish(facts.ImapFetch(**s.hop(), command=cmd.name, items=item_names(atts), count=len(targets),
                                  bodies=bodies, uids=tuple(uid for _, uid in targets[:FACT_UIDS])))


def _fetch_one(s: ImapSession, seq: int, uid: int, atts: list[FetchAtt], with_info: bool) -> tuple[bytes, int]:
    """One ``* n FETCH (...)`` line, each item rendered by its function in ``fetch.ITEMS``."""
    box = _box(s)
    m = FetchedMessage(box, s.folder, uid, s.flags_text)
    if with_info:
        m.info = box.message_info(s.folder, uid)
    parts = [ITEMS[att.name](m, att) for att in atts]
    if m.seen and not s.readonly and "\\Seen" not in s.view_flags.get(uid, frozenset()):
        # RFC 3501 §6.4.5: BODY[...] (not PEEK), RFC822 and RFC822.TEXT set \Seen
        new = box.set_flags(s.folder, [uid], ["\\Seen"], "+")
        if uid in new:
            s.view_flags[uid] = new[uid]
            if not any(a.name == "FLAGS" for a in atts):
                parts.append(b"FLAGS (" + s.flags_text(uid).encode() + b")")
    return fetch_response(seq, parts), m.bodies


# --------------------------------------------------------------------------- STORE, COPY, MOVE

def store(s: ImapSession, cmd: Command) -> None:
    """STORE / UID STORE (RFC 3501 §6.4.6): FLAGS, +FLAGS, -FLAGS with optional .SILENT."""
    args = expect_args(cmd, 3, at_least=True)
    seq_arg, item = args[0], args[1]
    flag_toks = list(args[2:])
    if not isinstance(item, Atom):
        raise ParseError("STORE expects FLAGS, +FLAGS or -FLAGS")
    m = re.fullmatch(r"([+-]?)FLAGS(\.SILENT)?", item.upper())
    if not m:
        raise ParseError(f"Unknown STORE item {str(item)[:20]}")
    mode, silent = m.group(1) or "=", bool(m.group(2))
    if len(flag_toks) == 1 and isinstance(flag_toks[0], list):
        flag_toks = flag_toks[0]
    flags = flag_list(flag_toks)
    targets = _targets(s, cmd, seq_arg)
    if _read_only(s, cmd):
        return
    new = _box(s).set_flags(s.folder, [u for _, u in targets], flags, mode)
    for seq, uid in targets:
        if uid not in new:
            continue
        s.view_flags[uid] = new[uid]
        if not silent:
            uid_part = f"UID {uid} " if cmd.name == "UID STORE" else ""
            s.untagged(f"{seq} FETCH ({uid_part}FLAGS ({s.flags_text(uid)}))")
    kws = s.folder_keywords()
    if not kws <= s.keywords:
        s.keywords = s.keywords | kws
        s.untagged(f"FLAGS ({s.flags_list()})")
    s.finish(cmd, "STORE completed")
    s.publish(facts.ImapStore(**s.hop(), command=cmd.name, item=str(item), flags=tuple(flags), mode=mode,
                              count=len(targets)))


def _copy_target(s: ImapSession, cmd: Command) -> tuple[list[tuple[int, int]], str] | None:
    seq_arg, box = expect_args(cmd, 2)
    targets = _targets(s, cmd, seq_arg)
    dest = mailbox_arg(box)
    if not _box(s).folder_exists(dest):
        s.tagged(cmd.tag, "NO", "[TRYCREATE] No such mailbox")  # RFC 3501 §6.4.7
        return None
    return targets, dest


def _copyuid(s: ImapSession, dest: str, pairs: list[tuple[int, int]]) -> str:
    return (f"COPYUID {_box(s).uidvalidity(dest)} "
            f"{format_uid_set(p[0] for p in pairs)} {format_uid_set(p[1] for p in pairs)}")


def copy(s: ImapSession, cmd: Command) -> None:
    """COPY / UID COPY (RFC 3501 §6.4.7) answering COPYUID (RFC 4315 §3)."""
    found = _copy_target(s, cmd)
    if found is None:
        return
    targets, dest = found
    pairs = _box(s).copy_messages(s.folder, [u for _, u in targets], dest)
    s.finish(cmd, "COPY completed", code=_copyuid(s, dest, pairs) if pairs else "")
    s.publish(facts.ImapCopy(**s.hop(), command=cmd.name, dest=dest, count=len(pairs)))


def move(s: ImapSession, cmd: Command) -> None:
    """MOVE / UID MOVE (RFC 6851 §3): untagged OK [COPYUID], EXPUNGEs, then tagged OK."""
    if s.readonly:
        expect_args(cmd, 2)
        _read_only(s, cmd)
        return
    found = _copy_target(s, cmd)
    if found is None:
        return
    targets, dest = found
    pairs = _box(s).move_messages(s.folder, [u for _, u in targets], dest)
    if pairs:
        s.untagged(f"OK [{_copyuid(s, dest, pairs)}] Moved")
    s.send_updates(allow_expunge=True)
    s.tagged(cmd.tag, "OK", "MOVE completed")
    s.publish(facts.ImapMove(**s.hop(), command=cmd.name, dest=dest, count=len(pairs)))
