"""SORT (RFC 5256 §3, RFC 5957 SORT=DISPLAY): sort keys and the base subject, pure functions on plain records.

Theory of operation
  Each message comes in as a ``Msg``: its number in the mailbox (``seq``), ``uid``, RFC822.SIZE,
  INTERNALDATE (seconds since the epoch) and the first raw value of each header field (unfolded,
  RFC 2047 words still encoded), keyed by lower-case field name.  ``sort`` turns the client's sort
  criteria into a program of (key, reverse) pairs and sorts stably, last key first, on a list that
  starts in sequence order: so messages equal on every key stay in mailbox order (RFC 5256 §3: "sorted
  according to the order in which they appear in the mailbox"), and REVERSE flips only its own key,
  never that final tie-break (Dovecot does the same; imaptest's sort-arrival checks it).

  The keys (RFC 5256 §3, RFC 5957 §3):
    ARRIVAL      INTERNALDATE, whole seconds (what a client sees of it).
    DATE         the sent date (§2.2): the Date field in UTC; if it is missing or cannot be parsed,
                 INTERNALDATE.  Time zones count: 00:00 +0200 comes before 23:00 the day before -0100.
    SIZE         RFC822.SIZE.
    SUBJECT      the base subject (§2.1), below.
    FROM TO CC   the addr-mailbox (local part) of the first address of the field, as in ENVELOPE:
                 for a group, the group's name (what ENVELOPE puts in the mailbox slot).
    DISPLAYFROM  the display-name of the first address, RFC 2047 decoded, if it is not empty; else
    DISPLAYTO    the address as mailbox@host (RFC 5957 §3; for a group, its name).
  A missing field sorts as the empty string, i.e. first.  The addresses are read by the same parser as
  ENVELOPE (``render.parse_address_list``), so SORT FROM and FETCH ENVELOPE never disagree.

  Strings are compared after ``casemap``: i;unicode-casemap (RFC 5051 §2), the collation I18NLEVEL=1
  asks for (RFC 5256 §1, RFC 5255): each character to its titlecase, then decomposed, until stable;
  the results compared by code point, i.e. as UTF-8 octets.  For ASCII it is simply upper case, so
  "[xyz]" sorts after "c" and "_" after "[" (imaptest's sort-subject expects exactly that).

Base subject (RFC 5256 §2.1), step by step as ``base_subject_info`` does it:
  (1) decode RFC 2047 encoded words; tabs, CR, LF and runs of white space become one space; then
      the casemap above (so the ABNF's case-insensitive "re", "fw", "fwd" are matched upper-case);
  (2) remove trailing subj-trailer ("(fwd)" or white space), repeatedly;
  (3) remove a leading subj-leader: one white space, or *subj-blob subj-refwd
      (subj-refwd = ("re" / "fw" ["d"]) *WSP [subj-blob] ":");
  (4) remove a leading subj-blob ("[" *BLOBCHAR "]" *WSP) if what is left is not empty;
  (5) repeat (3) and (4) while either removes something;
  (6) if the text now starts with "[fwd:" and ends with "]", remove both and go back to (2);
  (7) what is left is the base subject.
  Removing a subj-refwd, a "(fwd)" trailer or a "[fwd: ...]" wrapper marks the message as a reply or
  forward, which THREAD=REFERENCES step (5) needs (``threading``).  The work is linear: the steps move
  two indexes over one string and never copy it; leaders and runs of blobs are consumed by one
  (possessive) regular expression each, not one Python step per "Re:" or per "[blob]".

Bounds: a field is read up to ``FIELD_LIMIT`` characters (a hostile 10 MB Subject costs no more than
a long one).  Nothing here recurses.

Left out: sort keys beyond RFC 5256 and RFC 5957 (RELEVANCY, RFC 6203; MODSEQ orderings).  The casemap
uses the running Python's Unicode tables, and NFKD for "decomposition", which also splits Hangul
syllables where RFC 5051 (UnicodeData.txt only) would not: here a precomposed Hangul syllable and its
jamo sequence compare equal, and Hangul strings may order differently from Dovecot.
"""
from __future__ import annotations

import email.utils
import functools
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from simulator.store.headers import _decode_words as decode_words   # RFC 2047, the store's one decoder
from simulator.store.headers import header_block, header_fields

from .render import parse_address_list

__all__ = ["FIELD_LIMIT", "SORT_KEYS", "Msg", "base_subject", "base_subject_info", "casemap",
           "parse_criteria", "sent_date", "sort", "sort_key"]

FIELD_LIMIT = 16 * 1024          # characters of a header field looked at (Subject, From, To, Cc, Date)
SORT_KEYS = frozenset({"ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT", "TO", "DISPLAYFROM", "DISPLAYTO"})


@dataclass(frozen=True, slots=True)
class Msg:
    """One message as SORT and THREAD see it.

    ``headers``: lower-case field name -> the raw value of its first occurrence (unfolded, encoded
    words still encoded); a field the message lacks is absent.
    """

    uid: int
    seq: int
    size: int = 0
    internaldate: float = 0.0
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_header(cls, uid: int, seq: int, size: int, internaldate: float, head: bytes) -> Msg:
        """A ``Msg`` from a raw header block (or a whole message: only its header is read)."""
        found: dict[str, str] = {}
        for name, value in header_fields(header_block(head)):
            key = name.decode("ascii", "replace")
            if key not in found:
                text = value.decode("utf-8", "surrogateescape")
                found[key] = re.sub(r"\r?\n(?=[ \t])", "", text).strip()
        return cls(uid=uid, seq=seq, size=size, internaldate=internaldate, headers=found)


# --------------------------------------------------------------------------- collation (RFC 5051)


@functools.lru_cache(maxsize=8192)
def _titlecase(char: str) -> str:
    # RFC 5051 §2 step 1 uses the *simple* titlecase mapping (one character to one): Python's
    # str.title() is the full mapping, so a one-to-many result ("ß" -> "Ss") keeps the character.
    title = char.title()
    return title if len(title) == 1 else char


def casemap(text: str) -> str:
    """i;unicode-casemap's "titlecased canonicalized" form (RFC 5051 §2).

    Each character to its titlecase, each decomposition (UnicodeData.txt's, compatibility ones
    included, i.e. NFKD) applied, repeated until nothing changes ("ﬁ" -> "fi" -> "FI").
    """
    if text.isascii():
        return text.upper()
    for _ in range(3):
        done = unicodedata.normalize("NFKD", "".join(_titlecase(c) for c in text))
        if done == text:
            break
        text = done
    return text


# --------------------------------------------------------------------------- base subject (RFC 5256 §2.1)

_WSP_RUN = re.compile(r"[ \t\r\n]+")
_BLOB = r"\[[^\[\]]*\] ?"                             # subj-blob; white space is already a single space
_REFWD = r"(?:RE|FWD?) ?(?:\[[^\[\]]*\] ?)?:"          # subj-refwd, upper-case after the casemap
# Step (3), repeated: one WSP, or *subj-blob subj-refwd.  Possessive, so a run of blobs that no
# subj-refwd follows is scanned once and given up, never re-split (Python 3.11 syntax).
_LEADERS = re.compile(rf"(?: |(?:{_BLOB})*+{_REFWD})++")
_BLOBS = re.compile(rf"(?:{_BLOB})*+")


def base_subject_info(raw: str) -> tuple[str, bool]:
    """(base subject in casemapped form, whether the extraction removed a reply/forward marker)."""
    text = casemap(_WSP_RUN.sub(" ", decode_words(raw[:FIELD_LIMIT])))          # step (1)
    start, end, reply = 0, len(text), False
    while True:
        while end > start:                                                       # step (2)
            if text[end - 1] == " ":
                end -= 1
            elif end - start >= 5 and text.startswith("(FWD)", end - 5, end):
                end -= 5
                reply = True
            else:
                break
        while True:                                                              # step (5)
            leaders = _LEADERS.match(text, start, end)                           # step (3)
            if leaders is not None:
                reply = reply or not text[start:leaders.end()].isspace()
                start = leaders.end()
            # Step (4), as often as step (5) would repeat it: no subj-refwd follows this run of
            # blobs (step 3 just failed here), so they go one by one, all but a last one that
            # would leave nothing, which then is the subj-base.
            run = _BLOBS.match(text, start, end).end()                           # type: ignore[union-attr]
            if run == start:
                break
            if run < end:
                start = run
                continue
            start = max(start, text.rfind("[", start, end))
            break
        if end - start >= 6 and text.startswith("[FWD:", start, end) and text[end - 1] == "]":
            start, end, reply = start + 5, end - 1, True                        # step (6)
            continue
        return text[start:end], reply                                            # step (7)


def base_subject(raw: str) -> str:
    """The base subject (RFC 5256 §2.1) of a raw Subject value, in casemapped form."""
    return base_subject_info(raw)[0]


# --------------------------------------------------------------------------- dates and addresses


def sent_date(msg: Msg) -> int:
    """RFC 5256 §2.2: the Date field as seconds since the epoch (UTC), else INTERNALDATE."""
    value = msg.headers.get("date")
    if value:
        try:
            parsed = email.utils.parsedate_tz(value[:FIELD_LIMIT])
            if parsed is not None:
                return int(email.utils.mktime_tz(parsed))
        except (TypeError, ValueError, OverflowError, IndexError):
            pass
    return int(msg.internaldate)


def _first_address(msg: Msg, name: str) -> tuple[str, str, str] | None:
    """(display-name, mailbox, host) of the first address of a field, as ENVELOPE has it."""
    value = msg.headers.get(name)
    if not value:
        return None
    for item in parse_address_list(value[:FIELD_LIMIT]):
        if item[0] == "addr":
            return item[1] or "", item[3] or "", item[4] or ""
        if item[0] == "group":                    # ENVELOPE: (NIL NIL "group name" NIL)
            return "", item[1] or "", ""
    return None


def _mailbox(msg: Msg, name: str) -> str:
    first = _first_address(msg, name)
    return casemap(first[1]) if first else ""


def _display(msg: Msg, name: str) -> str:
    first = _first_address(msg, name)
    if first is None:
        return ""
    display, mailbox, host = first
    shown = decode_words(display) if display else ""
    if not shown:
        shown = f"{mailbox}@{host}" if host else mailbox
    return casemap(shown)


def _subject(msg: Msg) -> str:
    value = msg.headers.get("subject")
    return base_subject(value) if value is not None else ""


_KEY_FUNCS: dict[str, Callable[[Msg], object]] = {
    "ARRIVAL": lambda m: int(m.internaldate),
    "DATE": sent_date,
    "SIZE": lambda m: m.size,
    "SUBJECT": _subject,
    "FROM": lambda m: _mailbox(m, "from"),
    "TO": lambda m: _mailbox(m, "to"),
    "CC": lambda m: _mailbox(m, "cc"),
    "DISPLAYFROM": lambda m: _display(m, "from"),
    "DISPLAYTO": lambda m: _display(m, "to"),
}


def sort_key(key: str, msg: Msg) -> object:
    """The value a message sorts on for one key (upper-case name from ``SORT_KEYS``)."""
    return _KEY_FUNCS[key](msg)


# --------------------------------------------------------------------------- the SORT command


def parse_criteria(criteria: Iterable[object]) -> tuple[tuple[str, bool], ...]:
    """RFC 5256 §3 sort-criteria -> ((key, reverse), ...); ValueError for anything else.

    sort-criteria = "(" sort-criterion *(SP sort-criterion) ")"; sort-criterion = ["REVERSE" SP] sort-key.
    """
    program: list[tuple[str, bool]] = []
    reverse = False
    for item in criteria:
        if not isinstance(item, str):
            raise ValueError("Sort criteria must be atoms")
        name = item.upper()
        if name == "REVERSE":
            if reverse:
                raise ValueError("REVERSE REVERSE is not a sort criterion")
            reverse = True
            continue
        if name not in SORT_KEYS:
            raise ValueError(f"Unknown sort key {item[:30]}")
        program.append((name, reverse))
        reverse = False
    if reverse:
        raise ValueError("REVERSE without a sort key")
    if not program:
        raise ValueError("Empty sort criteria")
    return tuple(program)


def sort(msgs: Iterable[Msg], criteria: Sequence[object]) -> list[Msg]:
    """The messages in the order of ``criteria`` (the atoms as sent); ties in sequence order."""
    program = parse_criteria(criteria)
    ordered = sorted(msgs, key=lambda m: m.seq)
    for key, reverse in reversed(program):      # stable sorts, least significant key first
        func = _KEY_FUNCS[key]
        ordered.sort(key=func, reverse=reverse)  # type: ignore[arg-type]
    return ordered
