"""SEARCH, SORT and THREAD of the selected state, and their UID forms.

Implements
  * SEARCH (RFC 3501 §6.4.4) with ``RETURN (...)`` (ESEARCH, RFC 4731 §3.1: MIN MAX ALL COUNT,
    answered with one ``* ESEARCH`` response; without RETURN the classic ``* SEARCH``);
  * SORT (RFC 5256 §3; keys ARRIVAL CC DATE FROM SIZE SUBJECT TO, RFC 5957 DISPLAYFROM DISPLAYTO)
    with ``RETURN (...)`` (ESORT, RFC 5267 §3.2);
  * THREAD (RFC 5256 §3) with ORDEREDSUBJECT and REFERENCES;
  * CHARSET: UTF-8 and US-ASCII; others ``NO [BADCHARSET (UTF-8 US-ASCII)]`` (RFC 3501 §6.4.4);
  * the MODSEQ key (RFC 7162 §3.1.5): the answer then ends with ``(MODSEQ n)``, the highest
    mod-sequence of the messages found (ESEARCH: ``MODSEQ n``).

The search keys are :mod:`.search`'s; the orders and threads are computed by :mod:`.sorting` and
:mod:`.threading` from plain records (``sorting.Msg``: UID, sequence number, size, INTERNALDATE, the
header fields as the store parsed them), and the ESEARCH text by :mod:`.esearch`.

Each command runs as a job (see the session): the match over the view and the records SORT and
THREAD need are built ``SLICE`` messages per step, so a large folder never holds the event loop;
the order or threads of the records found are then computed in one step.

Left out: SAVE (RFC 5182), PARTIAL and CONTEXT/UPDATE (RFC 5267 §4, RFC 9394): refused as unknown
return options, never advertised.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from simulator.store import NoSuchMessage

from . import sorting, threading
from .esearch import Returns, format_esearch, parse_returns
from .search import Predicate, SearchParser, StoredMessage
from .wire import Atom, Command, ParseError, astring

if TYPE_CHECKING:
    from .session import ImapSession

CHARSETS = ("UTF-8", "US-ASCII")
SLICE = 64        # messages a SEARCH / SORT / THREAD job looks at per step (it yields in between)
BADCHARSET = "[BADCHARSET (UTF-8 US-ASCII)] Unsupported charset"


def _returns(args: list[Any]) -> Returns | None:
    """Take a leading ``RETURN (...)`` off ``args`` (RFC 4466 §2.6 search-return-opts)."""
    if not (args and isinstance(args[0], Atom) and args[0].upper() == "RETURN"):
        return None
    if len(args) < 2 or not isinstance(args[1], list):
        raise ParseError("RETURN needs a list of options")
    try:
        returns = parse_returns(args[1], allow=())
    except ValueError as exc:
        raise ParseError(str(exc)) from None
    del args[:2]
    return returns


def _charset(text: Any) -> str:
    return astring(text).upper()


def _matches(s: ImapSession, pred: Predicate, hits: list[tuple[int, int]]) -> Iterator[None]:
    """Fill ``hits`` with (sequence number, UID) of every message of the view the predicate
    accepts; a job's steps, one per ``SLICE`` messages (the session pauses it between turns)."""
    assert s.mailbox is not None
    box, folder, empty = s.mailbox, s.folder, frozenset()
    view_uids = list(s.view)        # the view as this command began (it changes only between commands)
    for seq, uid in enumerate(view_uids, 1):
        view = StoredMessage(box, folder, seq, uid, s.view_flags.get(uid, empty), uid in s.recent)
        try:
            if pred(view):
                hits.append((seq, uid))
        except NoSuchMessage:       # expunged by another session meanwhile: not a match
            pass
        if seq % SLICE == 0:
            yield


def _records(s: ImapSession, hits: Sequence[tuple[int, int]], out: list[sorting.Msg]) -> Iterator[None]:
    """What SORT and THREAD look at, from the store's cached parse (no header is read twice);
    a job's steps, one per ``SLICE`` messages."""
    assert s.mailbox is not None
    for n, (seq, uid) in enumerate(hits, 1):
        try:
            info = s.mailbox.message_info(s.folder, uid)
            headers = s.mailbox.parsed(s.folder, uid).root.headers
            out.append(sorting.Msg(uid, seq, info.size, info.internaldate, headers))
        except NoSuchMessage:
            pass
        if n % SLICE == 0:
            yield


def _number(cmd: Command) -> Callable[[Any], int]:
    return (lambda m: m.uid) if cmd.name.startswith("UID ") else (lambda m: m.seq)


def search(s: ImapSession, cmd: Command) -> None:
    """SEARCH / UID SEARCH [RETURN (...)] [CHARSET c] keys (RFC 3501 §6.4.4, RFC 4731)."""
    args = list(cmd.args)
    returns = _returns(args)
    charset = "US-ASCII"
    if len(args) >= 2 and isinstance(args[0], Atom) and args[0].upper() == "CHARSET":
        charset = _charset(args[1])
        args = args[2:]
        if charset not in CHARSETS:
            s.tagged(cmd.tag, "NO", BADCHARSET)
            return
    parser = SearchParser(s, args, charset)
    pred = parser.parse_all()
    s.job = (cmd.tag, _search_job(s, cmd, parser, pred, returns))
    s.run_job()


def _search_job(s: ImapSession, cmd: Command, parser: SearchParser, pred: Predicate,
                returns: Returns | None) -> Iterator[None]:
    uid = cmd.name == "UID SEARCH"
    hits: list[tuple[int, int]] = []
    yield from _matches(s, pred, hits)
    numbers = [u if uid else q for q, u in hits]
    modseqs = _modseqs(s, parser, hits, uid)
    if returns is None:
        s.untagged("SEARCH" + "".join(f" {n}" for n in numbers) + _highest(modseqs))
    else:
        s.untagged(format_esearch(cmd.tag, uid, numbers, returns, modseqs=modseqs))
    s.finish(cmd, "SEARCH completed")


def _modseqs(s: ImapSession, parser: SearchParser, hits: Sequence[tuple[int, int]],
             uid: bool) -> dict[int, int] | None:
    """number -> mod-sequence of each hit when the search used MODSEQ (RFC 7162 §3.1.5), else None."""
    if not parser.uses_modseq:
        return None
    s.enable_condstore()                   # a MODSEQ search key is CONDSTORE-enabling (§3.1)
    assert s.mailbox is not None
    out = {}
    for seq, u in hits:
        try:
            out[u if uid else seq] = s.mailbox.message_info(s.folder, u).modseq
        except NoSuchMessage:
            continue
    return out


def _highest(modseqs: dict[int, int] | None) -> str:
    """`` (MODSEQ n)`` after the numbers of SEARCH / SORT: the highest of the hits (§3.1.5)."""
    return f" (MODSEQ {max(modseqs.values())})" if modseqs else ""


def sort(s: ImapSession, cmd: Command) -> None:
    """SORT / UID SORT [RETURN (...)] (criteria) charset keys (RFC 5256 §3, RFC 5267 §3.2)."""
    args = list(cmd.args)
    returns = _returns(args)
    if len(args) < 3 or not isinstance(args[0], list):
        raise ParseError("SORT expects (criteria) charset search-keys")
    criteria, charset = args[0], _charset(args[1])
    try:
        sorting.parse_criteria(criteria)
    except ValueError as exc:
        raise ParseError(str(exc)) from None
    if charset not in CHARSETS:
        s.tagged(cmd.tag, "NO", BADCHARSET)
        return
    parser = SearchParser(s, args[2:], charset)
    pred = parser.parse_all()
    s.job = (cmd.tag, _sort_job(s, cmd, parser, pred, criteria, returns))
    s.run_job()


def _sort_job(s: ImapSession, cmd: Command, parser: SearchParser, pred: Predicate, criteria: Any,
              returns: Returns | None) -> Iterator[None]:
    hits: list[tuple[int, int]] = []
    yield from _matches(s, pred, hits)
    records: list[sorting.Msg] = []
    yield from _records(s, hits, records)
    ordered = sorting.sort(records, criteria)
    number = _number(cmd)
    numbers = [number(m) for m in ordered]
    uid = cmd.name == "UID SORT"
    modseqs = _modseqs(s, parser, hits, uid)
    if returns is None:
        s.untagged("SORT" + "".join(f" {n}" for n in numbers) + _highest(modseqs))
    else:
        s.untagged(format_esearch(cmd.tag, uid, numbers, returns, sorted_result=True, modseqs=modseqs))
    s.finish(cmd, "SORT completed")


def thread(s: ImapSession, cmd: Command) -> None:
    """THREAD / UID THREAD algorithm charset keys (RFC 5256 §3): ORDEREDSUBJECT, REFERENCES."""
    args = list(cmd.args)
    if len(args) < 3 or not isinstance(args[0], Atom):
        raise ParseError("THREAD expects algorithm charset search-keys")
    algorithm, charset = args[0].upper(), _charset(args[1])
    if algorithm not in ("ORDEREDSUBJECT", "REFERENCES"):
        raise ParseError(f"Unknown thread algorithm {algorithm[:30]}")
    if charset not in CHARSETS:
        s.tagged(cmd.tag, "NO", BADCHARSET)
        return
    pred = SearchParser(s, args[2:], charset).parse_all()
    s.job = (cmd.tag, _thread_job(s, cmd, pred, algorithm))
    s.run_job()


def _thread_job(s: ImapSession, cmd: Command, pred: Predicate, algorithm: str) -> Iterator[None]:
    hits: list[tuple[int, int]] = []
    yield from _matches(s, pred, hits)
    records: list[sorting.Msg] = []
    yield from _records(s, hits, records)
    text = threading.thread(records, algorithm, key=_number(cmd))
    s.untagged(f"THREAD {text}" if text else "THREAD")
    s.finish(cmd, "THREAD completed")
