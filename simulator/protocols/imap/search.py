"""SEARCH (RFC 3501 §6.4.4): search keys parsed into a predicate over a message view.

``SearchParser`` reads the keys (nested lists, OR / NOT, sequence and UID sets) into a predicate
on a ``MessageView``: what one message looks like to a search, whatever keeps it.  The session
builds its views with ``StoredMessage``, which reads a message from the session's ``Mailbox`` only
when a key needs it (``SEARCH UNSEEN`` reads no file).  Strings are compared case-insensitively,
after decoding RFC 2047 encoded words; CHARSET is UTF-8 or US-ASCII (the session refuses others).

FROM, TO, CC and BCC match the field as written and the addresses as parsed (``name <user@host>``,
comments removed, a trailing comment taken as the name): ``<user (c)@ (c) host>`` is found by
``FROM user@host`` as Dovecot finds it.

Depth: NOT, OR and parenthesised lists nest at most ``MAX_SEARCH_DEPTH`` keys deep; deeper is BAD,
found while parsing, before any recursion could run out of stack (a 5,000-deep ``NOT NOT ...``
costs a scan of its tokens, nothing more).  Width: at most ``MAX_SEARCH_KEYS`` keys and
``MAX_SEARCH_RANGES`` sequence/UID ranges in one command (BAD beyond), and each set is resolved by
the session over normalised ranges with bisection, so one command costs keys x messages at most;
the session runs the match as a job that yields the loop to other sessions between steps.
Messages are handed to Python's ``email`` (which recurses per MIME level) only with their nesting
cut at the store's ``MAX_MIME_DEPTH`` (``simulator.store.mime.bounded``).
"""

from __future__ import annotations

import email
import email.errors
import email.header
import email.message
import email.policy
import email.utils
import re
import time
from collections.abc import Callable, Collection, Sequence
from typing import Any, Protocol

from simulator.store import bounded_mime, canonical_flag

from .mailbox import Mailbox, MessageData
from .render import parse_address_list
from .wire import Atom, ParseError, SeqSet, astring, parse_date, parse_sequence_set

Day = tuple[int, int, int]
MAX_SEARCH_DEPTH = 64     # NOT / OR / (...) nested this deep at most
MAX_SEARCH_KEYS = 1000    # keys in one command at most (each costs a pass over the messages)
MAX_SEARCH_RANGES = 10_000  # ranges of all the sequence / UID sets of one command at most


class MessageView(Protocol):
    """One message as the search keys see it."""
    seq: int
    uid: int
    flags: frozenset[str]
    recent: bool

    @property
    def size(self) -> int: ...
    @property
    def internal_day(self) -> Day: ...
    def sent_day(self) -> Day | None: ...
    def header_values(self, name: str) -> list[str]: ...
    def header_texts(self) -> list[str]: ...
    def body_text(self) -> str: ...
    def raw_text(self) -> str: ...
    @property
    def modseq(self) -> int: ...


Predicate = Callable[[MessageView], bool]


class Scope(Protocol):
    """What a search needs from the selected mailbox besides the messages: set resolution."""
    def resolve_uids(self, seqset: SeqSet) -> list[int]: ...
    def resolve_seqs(self, seqset: SeqSet, *, strict: bool = True) -> list[int]: ...


class StoredMessage:
    """A ``MessageView`` over a ``Mailbox``: the record, bytes and parse are read on first use."""

    __slots__ = ("mailbox", "folder", "seq", "uid", "flags", "recent", "_info", "_raw", "_msg")

    def __init__(self, mailbox: Mailbox, folder: str, seq: int, uid: int, flags: frozenset[str],
                 recent: bool) -> None:
        self.mailbox, self.folder, self.seq, self.uid = mailbox, folder, seq, uid
        self.flags, self.recent = flags, recent
        self._info: MessageData | None = None
        self._raw: bytes | None = None
        self._msg: email.message.Message | None = None

    def _record(self) -> MessageData:
        if self._info is None:
            self._info = self.mailbox.message_info(self.folder, self.uid)
        return self._info

    @property
    def size(self) -> int:
        return self._record().size

    @property
    def internal_day(self) -> Day:
        return tuple(time.gmtime(self._record().internaldate)[:3])  # type: ignore[return-value]

    @property
    def modseq(self) -> int:
        return self._record().modseq

    def _bytes(self) -> bytes:
        if self._raw is None:
            self._raw = self.mailbox.read_message(self.folder, self.uid)
        return self._raw

    def _message(self) -> email.message.Message:
        if self._msg is None:
            self._msg = email.message_from_bytes(bounded_mime(self._bytes()), policy=email.policy.compat32)
        return self._msg

    def sent_day(self) -> Day | None:
        value = self._message().get("Date")
        if not value:
            return None
        try:
            dt = email.utils.parsedate_to_datetime(str(value))
        except (TypeError, ValueError, IndexError):
            return None
        return (dt.year, dt.month, dt.day)

    def header_values(self, name: str) -> list[str]:
        return [_decode_header(str(v)) for v in self._message().get_all(name) or []]

    def header_texts(self) -> list[str]:
        return [_decode_header(str(v)) for v in self._message().values()]

    def body_text(self) -> str:
        texts = []
        for part in self._message().walk():
            if part.get_content_maintype() == "multipart":
                continue
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                charset = part.get_content_charset() or "utf-8"
                try:
                    texts.append(payload.decode(charset, "replace"))
                except LookupError:
                    texts.append(payload.decode("utf-8", "replace"))
        return "\n".join(texts)

    def raw_text(self) -> str:
        return self._bytes().decode("utf-8", "replace")


def _decode_header(value: str) -> str:
    try:
        return str(email.header.make_header(email.header.decode_header(value)))
    except (ValueError, LookupError, UnicodeError, email.errors.HeaderParseError):
        return value


def _contains(haystack: str, needle: str) -> bool:
    return needle.casefold() in haystack.casefold()


# --------------------------------------------------------------------------- the keys

_FLAG_KEYS = {
    "ANSWERED": ("\\Answered", True), "UNANSWERED": ("\\Answered", False),
    "DELETED": ("\\Deleted", True), "UNDELETED": ("\\Deleted", False),
    "DRAFT": ("\\Draft", True), "UNDRAFT": ("\\Draft", False),
    "FLAGGED": ("\\Flagged", True), "UNFLAGGED": ("\\Flagged", False),
    "SEEN": ("\\Seen", True), "UNSEEN": ("\\Seen", False),
}
_COMPARE: dict[str, Callable[[Day, Day], bool]] = {
    "BEFORE": lambda got, day: got < day, "ON": lambda got, day: got == day,
    "SINCE": lambda got, day: got >= day,
}


class SearchParser:
    """SEARCH keys (RFC 3501 §6.4.4) -> a predicate on a ``MessageView``.

    ``depth`` counts the keys being read inside one another (NOT, OR, lists); past
    ``MAX_SEARCH_DEPTH`` the search is BAD.
    """

    def __init__(self, scope: Scope, args: Sequence[Any], charset: str, depth: int = 0,
                 root: SearchParser | None = None) -> None:
        self.scope, self.args, self.pos, self.charset = scope, list(args), 0, charset
        self.depth = depth
        self.root = root or self    # the command's parser: it counts keys and ranges for all
        self.keys = self.ranges = 0
        self.uses_modseq = False    # a MODSEQ key was read (RFC 7162 §3.1.5: the answer says MODSEQ)

    def parse_all(self) -> Predicate:
        preds = []
        while self.pos < len(self.args):
            preds.append(self.key())
        if not preds:
            raise ParseError("Missing search criteria")
        return lambda m: all(p(m) for p in preds)

    def _next(self) -> Any:
        if self.pos >= len(self.args):
            raise ParseError("Missing search argument")
        tok = self.args[self.pos]
        self.pos += 1
        return tok

    def string(self) -> str:
        tok = self._next()
        if isinstance(tok, list):
            raise ParseError("Expected a string")
        raw = tok.encode("utf-8", "surrogateescape") if isinstance(tok, Atom) else tok
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ParseError("Search string is not valid UTF-8") from None

    def number(self) -> int:
        tok = self._next()
        if not isinstance(tok, Atom) or not tok.isdigit():
            raise ParseError("Expected a number")
        return int(tok)

    def sequence_set(self, text: str) -> SeqSet:
        """A sequence or UID set, its ranges counted against the command's ``MAX_SEARCH_RANGES``."""
        seqset = parse_sequence_set(text)
        self.root.ranges += len(seqset)
        if self.root.ranges > MAX_SEARCH_RANGES:
            raise ParseError(f"Too many sequence ranges in one search (limit {MAX_SEARCH_RANGES})")
        return seqset

    def date(self) -> Day:
        return parse_date(astring(self._next()))

    def key(self) -> Predicate:
        if self.depth >= MAX_SEARCH_DEPTH:
            raise ParseError(f"Search keys nested too deeply (limit {MAX_SEARCH_DEPTH})")
        self.root.keys += 1
        if self.root.keys > MAX_SEARCH_KEYS:
            raise ParseError(f"Too many search keys (limit {MAX_SEARCH_KEYS})")
        self.depth += 1
        try:
            return self._key()
        finally:
            self.depth -= 1

    def _key(self) -> Predicate:
        tok = self._next()
        if isinstance(tok, list):
            inner = SearchParser(self.scope, tok, self.charset, self.depth, self.root)
            pred = inner.parse_all()
            self.uses_modseq |= inner.uses_modseq
            return pred
        if not isinstance(tok, Atom):
            raise ParseError("Expected a search key")
        k = tok.upper()
        if k in _FLAG_KEYS:
            flag, present = _FLAG_KEYS[k]
            return lambda m: (flag in m.flags) == present
        reader = _KEYS.get(k)
        if reader is not None:
            return reader(self, k)
        if re.match(r"^[\d*]", k):
            seqs = set(self.scope.resolve_seqs(self.sequence_set(str(tok)), strict=False))
            return lambda m: m.seq in seqs
        raise ParseError(f"Unknown search key {str(tok)[:30]}")


def _all(p: SearchParser, k: str) -> Predicate:
    return lambda m: True


def _recent(p: SearchParser, k: str) -> Predicate:
    if k == "RECENT":
        return lambda m: m.recent
    if k == "OLD":
        return lambda m: not m.recent
    return lambda m: m.recent and "\\Seen" not in m.flags       # NEW


def _keyword(p: SearchParser, k: str) -> Predicate:
    kw = canonical_flag(astring(p._next()))
    want = k == "KEYWORD"
    return lambda m: (kw in m.flags) == want


def _not(p: SearchParser, k: str) -> Predicate:
    inner = p.key()
    return lambda m: not inner(m)


def _or(p: SearchParser, k: str) -> Predicate:
    a, b = p.key(), p.key()
    return lambda m: a(m) or b(m)


def _size(p: SearchParser, k: str) -> Predicate:
    n = p.number()
    return (lambda m: m.size > n) if k == "LARGER" else (lambda m: m.size < n)


def _internal_date(p: SearchParser, k: str) -> Predicate:
    day, compare = p.date(), _COMPARE[k]
    return lambda m: compare(m.internal_day, day)


def _sent_date(p: SearchParser, k: str) -> Predicate:
    day, compare = p.date(), _COMPARE[k[4:]]

    def pred(m: MessageView) -> bool:
        got = m.sent_day()
        return got is not None and compare(got, day)
    return pred


def _subject(p: SearchParser, k: str) -> Predicate:
    needle = p.string()
    return lambda m: any(_contains(v, needle) for v in m.header_values("subject"))


def _address_header(p: SearchParser, k: str) -> Predicate:
    needle, name = p.string(), k.lower()
    return lambda m: any(_contains(v, needle) or _contains(_addresses(v), needle) for v in m.header_values(name))


def _addresses(value: str) -> str:
    """The addresses of a field as Dovecot's search sees them: "name <user@host>", one per line."""
    out = []
    for item in parse_address_list(value):
        if item[0] == "addr":
            _, name, _, mailbox, host = item
            addr = f"{mailbox}@{host}" if host else mailbox
            out.append(f"{name} <{addr}>" if name else addr)
        elif item[0] == "group" and item[1]:
            out.append(item[1])
    return "\n".join(out)


def _header(p: SearchParser, k: str) -> Predicate:
    name, needle = p.string(), p.string()
    return lambda m: any(_contains(v, needle) for v in m.header_values(name))


def _body(p: SearchParser, k: str) -> Predicate:
    needle = p.string()
    return lambda m: _contains(m.body_text(), needle)


def _text(p: SearchParser, k: str) -> Predicate:
    needle = p.string()
    return lambda m: (any(_contains(v, needle) for v in m.header_texts())
                      or _contains(m.body_text(), needle) or _contains(m.raw_text(), needle))


def _modseq(p: SearchParser, k: str) -> Predicate:
    """MODSEQ [entry-name entry-type] n (RFC 7162 §3.1.5): changed at or after ``n``.

    Mod-sequences are kept per message, not per flag, so the entry (``"/flags/\\seen" all``) is
    read and the message's own value compared, as §3.1.5 allows."""
    tok = p._next()
    if isinstance(tok, bytes) or (isinstance(tok, Atom) and tok.startswith("/")):
        kind = p._next()
        if not isinstance(kind, Atom) or kind.upper() not in ("ALL", "PRIV", "SHARED"):
            raise ParseError("MODSEQ entry type is ALL, PRIV or SHARED")
        tok = p._next()
    if not isinstance(tok, Atom) or not tok.isdigit() or int(tok) > 2**63 - 1:
        raise ParseError("MODSEQ needs a mod-sequence")
    p.uses_modseq = True
    n = int(tok)
    return lambda m: m.modseq >= n


def _uid(p: SearchParser, k: str) -> Predicate:
    uids: Collection[int] = set(p.scope.resolve_uids(p.sequence_set(astring(p._next()))))
    return lambda m: m.uid in uids


_KEYS: dict[str, Callable[[SearchParser, str], Predicate]] = {
    "ALL": _all, "RECENT": _recent, "OLD": _recent, "NEW": _recent,
    "KEYWORD": _keyword, "UNKEYWORD": _keyword, "NOT": _not, "OR": _or,
    "LARGER": _size, "SMALLER": _size,
    "BEFORE": _internal_date, "ON": _internal_date, "SINCE": _internal_date,
    "SENTBEFORE": _sent_date, "SENTON": _sent_date, "SENTSINCE": _sent_date,
    "FROM": _address_header, "TO": _address_header, "CC": _address_header, "BCC": _address_header,
    "SUBJECT": _subject, "HEADER": _header, "BODY": _body, "TEXT": _text, "UID": _uid,
    "MODSEQ": _modseq,
}
