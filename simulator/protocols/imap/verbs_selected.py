"""IMAP verbs of the selected state (RFC 3501 §6.4) and their extensions.

CHECK, CLOSE, UNSELECT (RFC 3691), EXPUNGE and UID EXPUNGE (RFC 4315 §2.1), FETCH, STORE,
COPY (COPYUID, RFC 4315 §3), MOVE (RFC 6851) and their UID forms (§6.4.8).  FETCH runs as a job, one
message per step, so the adapter can write a long answer as it is produced (see :mod:`.session`).
SEARCH, SORT and THREAD are :mod:`.verbs_search`'s.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from simulator.facts import imap as facts
from simulator.store import NoSuchMessage, StoreError

from .fetch import (ITEMS, FetchAtt, FetchedMessage, fetch_response, file_first, item_names, needs_info,
                    parse_fetch_atts)
from .verbs_folders import flag_list
from .wire import (Atom, Command, ParseError, astring, expect_args, format_ranges, format_uid_set, mailbox_arg,
                   parse_sequence_set)

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
    s.tagged(cmd.tag, "OK", _highest(s) + "CLOSE completed")
    if gone:  # the removal is as real as EXPUNGE's (mbsync deletes this way), so it is a hop too
        s.publish(facts.ImapExpunge(**s.hop(), command="CLOSE", uids=tuple(gone)))
    s.deselect()


def _highest(s: ImapSession) -> str:
    """``[HIGHESTMODSEQ n] `` for the tagged OK of EXPUNGE / UID EXPUNGE / CLOSE once CONDSTORE is on:
    what Dovecot sends, so a client can store the new value at once (RFC 7162 §3.1.2.1's code)."""
    if not s.condstore:
        return ""
    try:
        return f"[HIGHESTMODSEQ {_box(s).highestmodseq(s.folder)}] "
    except StoreError:
        return ""


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
    s.tagged(cmd.tag, "OK", _highest(s) + "EXPUNGE completed")
    if gone:
        s.publish(facts.ImapExpunge(**s.hop(), command=cmd.name, uids=tuple(gone)))


def _targets(s: ImapSession, cmd: Command, arg: Any) -> list[tuple[int, int]]:
    """(sequence number, UID) pairs addressed by the set argument of FETCH/STORE/COPY/MOVE."""
    seqset = parse_sequence_set(astring(arg) if isinstance(arg, Atom) else "")
    if cmd.name.startswith("UID "):
        uids = set(s.resolve_uids(seqset))
        return [(i + 1, u) for i, u in enumerate(s.view) if u in uids]
    return [(n, s.view[n - 1]) for n in s.resolve_seqs(seqset)]


# --------------------------------------------------------------------------- FETCH

def _modifiers(tok: Any, known: tuple[str, ...]) -> dict[str, int | bool]:
    """FETCH / STORE modifiers (RFC 4466 §2.4-2.5): ``(CHANGEDSINCE n VANISHED)``, ``(UNCHANGEDSINCE n)``."""
    if not isinstance(tok, list) or not tok:
        raise ParseError("Modifiers are a parenthesised list")
    out: dict[str, int | bool] = {}
    items = list(tok)
    while items:
        name = items.pop(0)
        key = name.upper() if isinstance(name, Atom) else ""
        if key not in known or key in out:
            raise ParseError(f"Unknown or repeated modifier {str(name)[:30]}")
        if key == "VANISHED":
            out[key] = True
            continue
        value = items.pop(0) if items else None
        if not isinstance(value, Atom) or not value.isdigit() or int(value) > 2**63 - 1:
            raise ParseError(f"{key} needs a mod-sequence")
        out[key] = int(value)
    return out


def _uid_ranges(seq_arg: Any) -> list[tuple[int, int]]:
    """The UID ranges of a UID command's set, "*" as the largest possible UID."""
    top = 0xFFFFFFFF
    return [(min(a or top, b or top), max(a or top, b or top))
            for a, b in parse_sequence_set(astring(seq_arg) if isinstance(seq_arg, Atom) else "")]


def fetch(s: ImapSession, cmd: Command) -> None:
    """FETCH / UID FETCH (RFC 3501 §6.4.5, §6.4.8: the UID form always includes UID) with
    CHANGEDSINCE and VANISHED (RFC 7162 §3.1.4, §3.2.6)."""
    args = expect_args(cmd, 2, at_least=True)
    if len(args) > 3:
        raise ParseError("FETCH sequence-set items [(modifiers)]")
    mods = _modifiers(args[2], ("CHANGEDSINCE", "VANISHED")) if len(args) == 3 else {}
    atts = parse_fetch_atts(args[1])
    since = mods.get("CHANGEDSINCE")
    if "VANISHED" in mods and (cmd.name != "UID FETCH" or not s.qresync or since is None):
        raise ParseError("VANISHED needs UID FETCH, CHANGEDSINCE and QRESYNC enabled")
    if since is not None or any(a.name == "MODSEQ" for a in atts):
        s.enable_condstore()                  # RFC 7162 §3.1: both are CONDSTORE-enabling
        if not any(a.name == "MODSEQ" for a in atts):
            atts.append(FetchAtt("MODSEQ"))
    if (cmd.name == "UID FETCH" or s.qresync) and not any(a.name == "UID" for a in atts):
        atts.insert(0, FetchAtt("UID"))       # with QRESYNC every FETCH carries the UID (§3.2.4)
    targets = _targets(s, cmd, args[0])
    if mods.get("VANISHED"):
        ranges = _uid_ranges(args[0])
        gone = s.vanished_within(int(since), ranges)       # ranges: nothing expanded, nothing scanned
        if gone:
            s.untagged(f"VANISHED (EARLIER) {format_ranges(gone)}")
    if since is not None:
        targets = [(seq, uid) for seq, uid in targets if _modseq(s, uid) > since]
    s.job = (cmd.tag, _fetch_job(s, cmd, atts, targets))
    s.run_job()


def _modseq(s: ImapSession, uid: int) -> int:
    try:
        return _box(s).message_info(s.folder, uid).modseq
    except NoSuchMessage:
        return 2**63                          # expunged meanwhile: the FETCH reports it as such


FETCH_BATCH = 64                 # messages of one FETCH step at most ...
FETCH_BATCH_OCTETS = 256 * 1024  # ... or this much output, whichever comes first


def _fetch_job(s: ImapSession, cmd: Command, atts: list[FetchAtt],
               targets: list[tuple[int, int]]) -> Iterator[None]:
    """The body of FETCH, one batch of messages per step, so that a server can write as it goes.

    A message another session has expunged (before this FETCH, or while it is paused) is left
    out, the others are answered, and the FETCH ends ``OK [EXPUNGEISSUED]`` (RFC 5530; RFC 2180
    §4.1.2 also allows NO, but this is Dovecot's answer and the one clients cope with best:
    they get every message that still exists).
    """
    missing = False
    bodies = 0
    with_info = needs_info(atts)
    order = file_first(atts)
    box = _box(s)
    octets = min(FETCH_BATCH_OCTETS, s.output_budget or FETCH_BATCH_OCTETS)
    i = 0
    while i < len(targets):
        # One step: up to FETCH_BATCH messages (or OUTPUT_BUDGET octets of them), their implicit
        # \Seen set with one store call for the whole step (finding: one call per message rewrote
        # the uid list each time).
        batch: list[tuple[int, int, list[bytes], bool]] = []
        size = 0
        while i < len(targets) and len(batch) < FETCH_BATCH and size < octets:
            seq, uid = targets[i]
            i += 1
            try:
                parts, body, seen = _fetch_parts(s, uid, atts, with_info, order)
            except NoSuchMessage:
                missing = True
                continue
            bodies += body
            size += sum(len(p[1]) if isinstance(p, tuple) else len(p) for p in parts)
            batch.append((seq, uid, parts, seen))
        unseen = [uid for _, uid, _, seen in batch if seen]
        new = box.set_flags(s.folder, unseen, ["\\Seen"], "+") if unseen else {}
        for seq, uid, parts, seen in batch:
            if seen and uid in new:
                s.view_flags[uid] = new[uid]
                if not any(a.name == "FLAGS" for a in atts):
                    parts.append(b"FLAGS (" + s.flags_text(uid).encode() + b")")
                if s.condstore and not any(a.name == "MODSEQ" for a in atts):   # RFC 7162 §3.1.4
                    parts.append(b"MODSEQ (%d)" % box.message_info(s.folder, uid).modseq)
            s.send(fetch_response(seq, parts))
        yield
    if missing:
        s.finish(cmd, "Some messages were already expunged", code="EXPUNGEISSUED")  # RFC 5530
    else:
        s.finish(cmd, "FETCH completed")
    if targets:
        s.publish(facts.ImapFetch(**s.hop(), command=cmd.name, items=item_names(atts), count=len(targets),
                                  bodies=bodies, uids=tuple(uid for _, uid in targets[:FACT_UIDS])))


def _fetch_parts(s: ImapSession, uid: int, atts: list[FetchAtt], with_info: bool,
                 order: list[int] | None = None) -> tuple[list[bytes], int, bool]:
    """The items of one ``* n FETCH (...)`` line, each rendered by its function in ``fetch.ITEMS``;
    whether the fetch sets \\Seen (RFC 3501 §6.4.5: BODY[...] (not PEEK), RFC822 and RFC822.TEXT).

    The items are worked out in ``order`` (``file_first``) and answered in the order asked."""
    box = _box(s)
    m = FetchedMessage(box, s.folder, uid, s.flags_text)
    if order is None:
        parts = [ITEMS[att.name](m, att) for att in atts]
    else:
        parts = [b""] * len(atts)
        for i in order:
            parts[i] = ITEMS[atts[i].name](m, atts[i])
    if with_info:
        m.meta()        # still there? (NoSuchMessage); after the items: a size counted on the way is kept
    seen = m.seen and not s.readonly and "\\Seen" not in s.view_flags.get(uid, frozenset())
    return parts, m.bodies, seen


# --------------------------------------------------------------------------- STORE, COPY, MOVE

def store(s: ImapSession, cmd: Command) -> None:
    """STORE / UID STORE (RFC 3501 §6.4.6): FLAGS, +FLAGS, -FLAGS with optional .SILENT, and
    UNCHANGEDSINCE (RFC 7162 §3.1.3): a message changed after that mod-sequence is left alone and
    named in ``OK [MODIFIED set]``; with CONDSTORE on, even .SILENT reports each new MODSEQ."""
    args = list(expect_args(cmd, 3, at_least=True))
    seq_arg = args.pop(0)
    since = None
    if isinstance(args[0], list):
        since = int(_modifiers(args.pop(0), ("UNCHANGEDSINCE",))["UNCHANGEDSINCE"])
        s.enable_condstore()
        if len(args) < 2:
            raise ParseError("STORE sequence-set [(modifiers)] item flags")
    item = args[0]
    flag_toks = list(args[1:])
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
    modified: list[tuple[int, int]] = []
    if since is not None:
        modified = [(seq, uid) for seq, uid in targets if _modseq(s, uid) > since]
        targets = [t for t in targets if t not in modified]
    new = _box(s).set_flags(s.folder, [u for _, u in targets], flags, mode)
    for _, uid in targets:
        if uid in new:
            s.view_flags[uid] = new[uid]
    for line in s.new_keywords():       # announced before the FETCHes that use them (RFC 3501 §7.2.6)
        s.untagged(line)
    for seq, uid in targets:
        if uid in new and (not silent or s.condstore):
            s.untagged(s.flags_fetch(seq, uid, with_uid=cmd.name == "UID STORE", flags=not silent))
    number = 1 if cmd.name == "UID STORE" else 0
    code = f"MODIFIED {format_uid_set([t[number] for t in modified])}" if modified else ""
    s.finish(cmd, "STORE completed", code=code)
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
