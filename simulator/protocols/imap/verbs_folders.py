"""IMAP verbs of the authenticated state (RFC 3501 §6.3) and their extensions.

SELECT, EXAMINE (with CONDSTORE and QRESYNC, RFC 7162), CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE,
LIST (with CHILDREN, RFC 3348, and SPECIAL-USE attributes, RFC 6154), LSUB, STATUS (HIGHESTMODSEQ too),
APPEND (APPENDUID, RFC 4315 §3; MULTIAPPEND, RFC 3502; literal8, RFC 3516), ENABLE (RFC 5161:
CONDSTORE, QRESYNC), NAMESPACE (RFC 2342), IDLE (RFC 2177).  Each function takes the session and the
parsed command; folders are reached only through the session's ``Mailbox``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from simulator.facts import imap as facts
from simulator.store import DELIMITER, INBOX, NoSuchFolder, StoreError, canonical_flag, valid_flag
from simulator.store.transfer import encode_binary_parts

from .effects import State
from .wire import (Atom, Command, LiteralData, ParseError, SeqSet, astring, expect_args, format_ranges, format_uid_set,
                   mailbox_arg, parse_date_time, parse_sequence_set, quote, wire_name)

if TYPE_CHECKING:
    from .mailbox import Mailbox
    from .session import ImapSession

STATUS_ITEMS = ("MESSAGES", "RECENT", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "HIGHESTMODSEQ")


def _box(s: ImapSession) -> Mailbox:
    assert s.mailbox is not None
    return s.mailbox


def enable(s: ImapSession, cmd: Command) -> None:
    """ENABLE (RFC 5161 §3.1): CONDSTORE and QRESYNC (RFC 7162 §3.2.3: QRESYNC implies CONDSTORE);
    ENABLED lists what this command turned on; unknown names are ignored."""
    names = [astring(a).upper() for a in expect_args(cmd, 1, at_least=True) if not isinstance(a, list)]
    enabled = []
    if "CONDSTORE" in names and not s.condstore:
        s.enable_condstore()
        enabled.append("CONDSTORE")
    if "QRESYNC" in names and not s.qresync:
        s.enable_condstore()
        s.qresync = True
        enabled.append("QRESYNC")
    s.untagged(" ".join(["ENABLED", *enabled]))
    s.finish(cmd, "ENABLE completed")


def namespace(s: ImapSession, cmd: Command) -> None:
    expect_args(cmd, 0)
    s.untagged('NAMESPACE (("" "/")) NIL NIL')  # RFC 2342 §5: one personal namespace
    s.finish(cmd, "NAMESPACE completed")


def _select_params(s: ImapSession, args: tuple) -> tuple[bool, tuple | None]:
    """SELECT's parameters (RFC 4466 §2.1): (CONDSTORE) and (QRESYNC (...)) of RFC 7162 §3.1.8, §3.2.5."""
    if len(args) == 1:
        return False, None
    if len(args) > 2 or not isinstance(args[1], list):
        raise ParseError("SELECT mailbox [(parameters)]")
    params, condstore, qresync = list(args[1]), False, None
    while params:
        name = params.pop(0)
        if not isinstance(name, Atom):
            raise ParseError("Invalid SELECT parameter")
        if name.upper() == "CONDSTORE":
            condstore = True
        elif name.upper() == "QRESYNC" and params and isinstance(params[0], list):
            if not s.qresync:
                raise ParseError("QRESYNC must be enabled first (ENABLE QRESYNC)")
            qresync = _qresync_params(params.pop(0))
        else:
            raise ParseError(f"Unknown SELECT parameter {str(name)[:30]}")
    return condstore, qresync


def _qresync_params(items: list) -> tuple[int, int, SeqSet | None]:
    """(uidvalidity mod-sequence [known-uids [seq-match-data]]) of RFC 7162 §3.2.5; the match data
    is checked and not needed: the store remembers which UIDs vanished when."""
    if not 2 <= len(items) <= 4 or not all(isinstance(t, Atom) for t in items[:2]):
        raise ParseError("QRESYNC (uidvalidity modseq [known-uids [seq-match-data]])")
    uidvalidity, modseq = _number(items[0], 0xFFFFFFFF), _number(items[1], 2**63 - 1)
    known = parse_sequence_set(astring(items[2])) if len(items) > 2 and not isinstance(items[2], list) else None
    match = items[-1] if len(items) > 2 and isinstance(items[-1], list) else None
    if match is not None and (len(match) != 2 or not all(isinstance(t, Atom) for t in match)):
        raise ParseError("QRESYNC seq-match-data is (sequence-set uid-set)")
    if match is not None:
        parse_sequence_set(str(match[0]))
        parse_sequence_set(str(match[1]))
    if uidvalidity < 1:
        raise ParseError("Invalid UIDVALIDITY")
    return uidvalidity, modseq, known


def _number(tok: object, top: int) -> int:
    if not isinstance(tok, Atom) or not tok.isdigit() or int(tok) > top:
        raise ParseError(f"Invalid number {str(tok)[:30]}")
    return int(tok)


def select(s: ImapSession, cmd: Command) -> None:
    """SELECT / EXAMINE (RFC 3501 §6.3.1-2) with CONDSTORE / QRESYNC (RFC 7162 §3.1.8, §3.2.5).

    A failed SELECT leaves no mailbox selected; with QRESYNC on, a mailbox closed by selecting
    another gets ``OK [CLOSED]`` first (§3.2.11)."""
    args = expect_args(cmd, 1, at_least=True)
    condstore, qresync = _select_params(s, args)
    if s.state is State.SELECTED:
        s.deselect()
        if s.qresync:
            s.untagged("OK [CLOSED] Previous mailbox closed")
    box = _box(s)
    try:
        folder = mailbox_arg(args[0])
        box.rescan(folder)
    except StoreError:
        s.tagged(cmd.tag, "NO", "[NONEXISTENT] No such mailbox")
        return
    if condstore:
        s.enable_condstore()
    s.select(folder, readonly=cmd.name == "EXAMINE")
    s.untagged(f"FLAGS ({s.flags_list()})")
    s.untagged(f"{len(s.view)} EXISTS")
    s.untagged(f"{len(s.recent)} RECENT")
    first_unseen = next((i + 1 for i, u in enumerate(s.view) if "\\Seen" not in s.view_flags[u]), None)
    if first_unseen:
        s.untagged(f"OK [UNSEEN {first_unseen}] First unseen message")
    perm = "" if s.readonly else f"{s.flags_list()} \\*"
    s.untagged(f"OK [PERMANENTFLAGS ({perm})] Permanent flags")
    s.untagged(f"OK [UIDVALIDITY {box.uidvalidity(folder)}] UIDs valid")
    s.untagged(f"OK [UIDNEXT {box.uidnext(folder)}] Predicted next UID")
    s.untagged(f"OK [HIGHESTMODSEQ {box.highestmodseq(folder)}] Highest")   # RFC 7162 §3.1.2.1
    if qresync is not None and qresync[0] == box.uidvalidity(folder):
        _resync(s, *qresync[1:])
    mode = "READ-ONLY" if s.readonly else "READ-WRITE"
    s.tagged(cmd.tag, "OK", f"[{mode}] {cmd.name} completed")
    s.publish(facts.ImapSelect(**s.hop(), command=cmd.name, exists=len(s.view), readonly=s.readonly))


def _resync(s: ImapSession, modseq: int, known: SeqSet | None) -> None:
    """QRESYNC (RFC 7162 §3.2.5.1): what vanished since ``modseq``, then what changed, within ``known``."""
    box = _box(s)
    wanted = set(s.resolve_uids(known)) if known is not None else None
    limits = [(1, 2**32)]
    if known is not None:
        limits = [(a if a is not None else 2**32, b if b is not None else 2**32) for a, b in known]
        limits = [(min(a, b), max(a, b)) for a, b in limits]
    gone = s.vanished_within(modseq, limits)            # ranges: nothing expanded, nothing scanned
    if gone:
        s.untagged(f"VANISHED (EARLIER) {format_ranges(gone)}")
    for seq, uid in enumerate(s.view, 1):
        if wanted is not None and uid not in wanted:
            continue
        try:
            changed = box.message_info(s.folder, uid).modseq > modseq
        except StoreError:
            continue
        if changed:
            s.untagged(s.flags_fetch(seq, uid, with_uid=True))


def create(s: ImapSession, cmd: Command) -> None:
    (arg,) = expect_args(cmd, 1)
    wire = astring(arg)
    if wire.endswith(DELIMITER):  # RFC 3501 §6.3.3: a trailing delimiter declares a parent
        wire = wire[:-1]
    name = mailbox_arg(Atom(wire))
    if name == INBOX:
        s.tagged(cmd.tag, "NO", "[ALREADYEXISTS] INBOX always exists")
        return
    _box(s).create_folder(name)
    s.finish(cmd, "CREATE completed")
    s.publish(facts.ImapCreate(**s.hop(), created=name))


def delete(s: ImapSession, cmd: Command) -> None:
    (arg,) = expect_args(cmd, 1)
    name = mailbox_arg(arg)
    if s.state is State.SELECTED and name == s.folder:
        s.tagged(cmd.tag, "NO", "[INUSE] Cannot delete the selected mailbox; select another first")
        return
    _box(s).delete_folder(name)
    s.finish(cmd, "DELETE completed")


def rename(s: ImapSession, cmd: Command) -> None:
    old, new = expect_args(cmd, 2)
    _box(s).rename_folder(mailbox_arg(old), mailbox_arg(new))
    s.finish(cmd, "RENAME completed")


def subscribe(s: ImapSession, cmd: Command) -> None:
    (arg,) = expect_args(cmd, 1)
    name = mailbox_arg(arg)
    if not _box(s).folder_exists(name):
        raise NoSuchFolder("No such mailbox")
    _box(s).subscribe(name)
    s.finish(cmd, "SUBSCRIBE completed")


def unsubscribe(s: ImapSession, cmd: Command) -> None:
    (arg,) = expect_args(cmd, 1)
    _box(s).unsubscribe(mailbox_arg(arg))
    s.finish(cmd, "UNSUBSCRIBE completed")


def _pattern(reference: str, pattern: str) -> re.Pattern[str]:
    full = reference + pattern
    rx = "".join(".*" if c == "*" else "[^/]*" if c == "%" else re.escape(c) for c in full)
    return re.compile(rx + r"\Z", re.DOTALL)


def _matches(rx: re.Pattern[str], wire: str) -> bool:
    if rx.match(wire):
        return True
    if wire == INBOX or wire.startswith(INBOX + DELIMITER):  # INBOX is case-insensitive (§5.1)
        return any(rx.match(variant + wire[5:]) for variant in ("inbox", "Inbox"))
    return False


def list_(s: ImapSession, cmd: Command) -> None:
    """LIST (RFC 3501 §6.3.8) with CHILDREN (RFC 3348) and SPECIAL-USE (RFC 6154) attributes."""
    ref_tok, pat_tok = expect_args(cmd, 2)
    reference, pattern = astring(ref_tok), astring(pat_tok)
    if pattern == "":  # the hierarchy delimiter and root
        s.untagged('LIST (\\Noselect) "/" ""')
        s.finish(cmd, "LIST completed")
        return
    rx = _pattern(reference, pattern)
    count = 0
    for info in _box(s).list_folders():
        wire = wire_name(info.name)
        if not _matches(rx, wire):
            continue
        attrs = [] if info.selectable else ["\\Noselect"]
        attrs.append("\\HasChildren" if info.has_children else "\\HasNoChildren")
        if info.special_use:
            attrs.append(info.special_use)
        s.send(f"* LIST ({' '.join(attrs)}) \"/\" ".encode() + quote(wire) + b"\r\n")
        count += 1
    s.finish(cmd, "LIST completed")
    s.publish(facts.ImapList(**s.hop(), reference=reference, pattern=pattern, count=count))


def lsub(s: ImapSession, cmd: Command) -> None:
    """LSUB (RFC 3501 §6.3.9): subscribed names; a % match of a parent is reported \\Noselect."""
    ref_tok, pat_tok = expect_args(cmd, 2)
    reference, pattern = astring(ref_tok), astring(pat_tok)
    if pattern == "":
        s.untagged('LSUB (\\Noselect) "/" ""')
        s.finish(cmd, "LSUB completed")
        return
    rx = _pattern(reference, pattern)
    subs = _box(s).subscriptions()
    seen: set[str] = set()
    for name in subs:
        parts = name.split(DELIMITER)
        for i in range(len(parts), 0, -1):
            candidate = DELIMITER.join(parts[:i])
            wire = wire_name(candidate)
            if candidate in seen or not _matches(rx, wire):
                continue
            seen.add(candidate)
            attrs = "" if candidate in subs else "\\Noselect"
            s.send(f"* LSUB ({attrs}) \"/\" ".encode() + quote(wire) + b"\r\n")
            break
    s.finish(cmd, "LSUB completed")


def status(s: ImapSession, cmd: Command) -> None:
    """STATUS (RFC 3501 §6.3.10) without selecting the mailbox."""
    box, items = expect_args(cmd, 2)
    if not isinstance(items, list) or not items:
        raise ParseError("STATUS expects a list of items")
    names = []
    for item in items:
        if not isinstance(item, Atom) or item.upper() not in STATUS_ITEMS:
            raise ParseError(f"Unknown STATUS item {str(item)[:20]}")
        names.append(item.upper())
    folder = mailbox_arg(box)
    st = _box(s).status(folder)
    values = {"MESSAGES": st.messages, "RECENT": st.recent, "UIDNEXT": st.uidnext,
              "UIDVALIDITY": st.uidvalidity, "UNSEEN": st.unseen, "HIGHESTMODSEQ": st.highestmodseq}
    if "HIGHESTMODSEQ" in names:
        s.enable_condstore()          # RFC 7162 §3.1: STATUS (HIGHESTMODSEQ) enables CONDSTORE
    if s.state is State.SELECTED and folder == s.folder and not s.readonly:
        values["RECENT"] = len(s.recent) + st.recent   # the ones this session claimed count too
    body = " ".join(f"{n} {values[n]}" for n in names)
    s.send(b"* STATUS " + quote(wire_name(folder)) + f" ({body})\r\n".encode())
    s.finish(cmd, "STATUS completed")


def _append_messages(args: list[Any]) -> list[tuple[bytes, list[str], float | None]]:
    """The messages of APPEND: 1*([flag-list] [date-time] literal) (RFC 3501 §6.3.11, RFC 3502 §6.3.11).

    Everything is read before anything is stored (MULTIAPPEND is all or nothing, RFC 3502 §2)."""
    out = []
    while args:
        flags: list[str] = []
        date: float | None = None
        if isinstance(args[0], list):
            flags = flag_list(args.pop(0))
        if args and isinstance(args[0], bytes) and not isinstance(args[0], LiteralData):
            date = parse_date_time(astring(args.pop(0)))      # a quoted string: the date-time
        if not args or not isinstance(args[0], LiteralData):
            raise ParseError("APPEND mailbox 1*([(flags)] [date-time] literal)")
        message = args.pop(0)
        if not message:
            raise ParseError("Empty message")
        if message.binary or b"\0" in message:     # RFC 3516 §4.4: stored as base64, BINARY decodes it
            message = encode_binary_parts(bytes(message))
        out.append((bytes(message), flags, date))
    return out


def append(s: ImapSession, cmd: Command) -> None:
    """APPEND (RFC 3501 §6.3.11) of one message or several (MULTIAPPEND, RFC 3502), literal8s too
    (RFC 3516 §4.4); answered APPENDUID with every new UID (RFC 4315 §3)."""
    args = list(expect_args(cmd, 2, at_least=True))
    box = args.pop(0)
    messages = _append_messages(args)
    folder = mailbox_arg(box)
    if not _box(s).folder_exists(folder):
        s.tagged(cmd.tag, "NO", "[TRYCREATE] No such mailbox")  # RFC 3501 §6.3.11
        return
    uids: list[int] = []
    uidvalidity = 0
    many = getattr(_box(s), "append_many", None) if len(messages) > 1 else None
    if many is not None:       # the store's own all-or-nothing: written to tmp/, then renamed, one save
        uidvalidity, uids = many(folder, messages)
    else:
        try:
            for message, flags, date in messages:
                uidvalidity, uid = _box(s).append(folder, message, flags, date)
                uids.append(uid)
        except (StoreError, OSError):
            _undo_append(s, folder, uids)             # RFC 3502 §2: none of them, then
            raise                                     # NO (the session's answer to either)
    s.finish(cmd, "APPEND completed", code=f"APPENDUID {uidvalidity} {format_uid_set(uids)}")
    for (message, _, _), uid in zip(messages, uids):
        s.publish(facts.ImapAppend(**dict(s.hop(), folder=folder), uid=uid, size=len(message)))


def _undo_append(s: ImapSession, folder: str, uids: list[int]) -> None:
    if uids:
        try:
            _box(s).set_flags(folder, uids, ["\\Deleted"], "+")
            _box(s).expunge(folder, uids)
        except (StoreError, OSError):   # the disk refuses even this: the answer stays NO
            pass


def flag_list(tok: Any) -> list[str]:
    """A flag list argument (STORE, APPEND) -> canonical flags; \\Recent is dropped (§2.3.2)."""
    items = tok if isinstance(tok, list) else [tok]
    flags = []
    for item in items:
        if not isinstance(item, Atom):
            raise ParseError("Flags are atoms")
        flag = canonical_flag(str(item))
        if flag == "\\Recent":
            continue  # RFC 3501 §2.3.2: clients cannot set \Recent
        if not valid_flag(flag):
            raise ParseError(f"Invalid flag {str(item)[:30]}")
        flags.append(flag)
    return flags


def idle(s: ImapSession, cmd: Command) -> None:
    """IDLE (RFC 2177): "+ idling", then updates as they happen, until DONE."""
    expect_args(cmd, 0)
    s.idle_tag = cmd.tag
    s.reader.raw_mode = True
    s.send(b"+ idling\r\n")
    if s.state is State.SELECTED:
        s.rescan()
        s.send_updates(allow_expunge=True)


def idle_done(s: ImapSession, line: bytes) -> None:
    tag = s.idle_tag
    s.idle_tag = None
    s.reader.raw_mode = False
    if line.strip().upper() != b"DONE":
        s.tagged(tag or "*", "BAD", "Expected DONE")
        return
    if s.state is State.SELECTED:
        s.send_updates(allow_expunge=True)
    s.tagged(tag or "*", "OK", "IDLE terminated")
