"""IMAP verbs of the authenticated state (RFC 3501 §6.3) and their extensions.

SELECT, EXAMINE, CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, LIST (with CHILDREN, RFC 3348, and
SPECIAL-USE attributes, RFC 6154), LSUB, STATUS, APPEND (APPENDUID, RFC 4315 §3), ENABLE (RFC 5161),
NAMESPACE (RFC 2342), IDLE (RFC 2177).  Each function takes the session and the parsed command;
folders are reached only through the session's ``Mailbox``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from simulator.facts import imap as facts
from simulator.store import DELIMITER, INBOX, NoSuchFolder, StoreError, canonical_flag, valid_flag

from .effects import State
from .wire import (Atom, Command, ParseError, astring, expect_args, mailbox_arg, parse_date_time, quote,
                   wire_name)

if TYPE_CHECKING:
    from .mailbox import Mailbox
    from .session import ImapSession

STATUS_ITEMS = ("MESSAGES", "RECENT", "UIDNEXT", "UIDVALIDITY", "UNSEEN")


def _box(s: ImapSession) -> Mailbox:
    assert s.mailbox is not None
    return s.mailbox


def enable(s: ImapSession, cmd: Command) -> None:
    """RFC 5161: nothing we offer is enableable, so ENABLED lists nothing (unknown ones are ignored)."""
    expect_args(cmd, 1, at_least=True)
    s.untagged("ENABLED")
    s.finish(cmd, "ENABLE completed")


def namespace(s: ImapSession, cmd: Command) -> None:
    expect_args(cmd, 0)
    s.untagged('NAMESPACE (("" "/")) NIL NIL')  # RFC 2342 §5: one personal namespace
    s.finish(cmd, "NAMESPACE completed")


def select(s: ImapSession, cmd: Command) -> None:
    """SELECT / EXAMINE (RFC 3501 §6.3.1-2). A failed SELECT leaves no mailbox selected."""
    args = expect_args(cmd, 1, at_least=True)
    if len(args) > 2:
        raise ParseError(f"{cmd.name} takes a mailbox name")
    if s.state is State.SELECTED:
        s.deselect()
    box = _box(s)
    try:
        folder = mailbox_arg(args[0])
        box.rescan(folder)
    except StoreError:
        s.tagged(cmd.tag, "NO", "[NONEXISTENT] No such mailbox")
        return
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
    mode = "READ-ONLY" if s.readonly else "READ-WRITE"
    s.tagged(cmd.tag, "OK", f"[{mode}] {cmd.name} completed")
    s.publish(facts.ImapSelect(**s.hop(), command=cmd.name, exists=len(s.view), readonly=s.readonly))


def create(s: ImapSession, cmd: Command) -> None:
    (arg,) = expect_args(cmd, 1)
    wire = astring(arg)
    if wire.endswith(DELIMITER):  # RFC 3501 §6.3.3: a trailing delimiter declares a parent
        wire = wire[:-1]
    name = mailbox_arg(wire.encode())
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
              "UIDVALIDITY": st.uidvalidity, "UNSEEN": st.unseen}
    if s.state is State.SELECTED and folder == s.folder:
        values["RECENT"] = len(s.recent) + st.recent
    body = " ".join(f"{n} {values[n]}" for n in names)
    s.send(b"* STATUS " + quote(wire_name(folder)) + f" ({body})\r\n".encode())
    s.finish(cmd, "STATUS completed")


def append(s: ImapSession, cmd: Command) -> None:
    """APPEND (RFC 3501 §6.3.11) answering APPENDUID (RFC 4315 §3)."""
    args = list(expect_args(cmd, 2, at_least=True))
    box = args.pop(0)
    message = args.pop()
    if not isinstance(message, bytes):
        raise ParseError("APPEND needs the message as a literal")
    flags: list[str] = []
    date: float | None = None
    if args and isinstance(args[0], list):
        flags = flag_list(args.pop(0))
    if args:
        date = parse_date_time(astring(args.pop(0)))
    if args:
        raise ParseError("APPEND mailbox [(flags)] [date-time] literal")
    folder = mailbox_arg(box)
    if not _box(s).folder_exists(folder):
        s.tagged(cmd.tag, "NO", "[TRYCREATE] No such mailbox")  # RFC 3501 §6.3.11
        return
    if not message:
        raise ParseError("Empty message")
    uidvalidity, uid = _box(s).append(folder, message, flags, date)
    s.finish(cmd, "APPEND completed", code=f"APPENDUID {uidvalidity} {uid}")
    s.publish(facts.ImapAppend(**dict(s.hop(), folder=folder), uid=uid, size=len(message)))


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
