"""ESEARCH results (RFC 4731; ESORT, RFC 5267 §3.2; PARTIAL, RFC 9394): RETURN options in, response text out.

Theory of operation
  A SEARCH (or SORT) with ``RETURN (...)`` answers with one untagged ESEARCH response instead of
  ``* SEARCH``.  ``parse_returns`` reads the options inside the parentheses (as the command parser
  hands them over: atoms as ``str``); ``format_esearch`` builds the response text after "* " from the
  matching numbers (sequence numbers, or UIDs for UID SEARCH / UID SORT):

      ESEARCH (TAG "a1") UID MIN 2 MAX 9 ALL 2:4,9 COUNT 4

  in Dovecot's order: MIN, MAX, ALL, PARTIAL, COUNT, MODSEQ.  The rules:
    * ``RETURN ()`` means ``RETURN (ALL)`` (RFC 4731 §3.1);
    * with no match MIN, MAX and ALL are left out and COUNT is 0 (RFC 4731 §3.1: "MUST NOT be
      included ... if there are no results"); the response still carries the tag (and UID);
    * for SEARCH the numbers are a set: MIN and MAX are the smallest and largest, ALL the ascending
      set compressed into ranges ("1:3,5").  For SORT (``sorted_result=True``) the order is the
      result: ALL keeps the sort order (only ascending runs become ranges: "5,3:4,2,1"), MIN and MAX
      are the first and the last message of the sorted result (RFC 5267 §3.2, as Dovecot does);
    * PARTIAL lo:hi (RFC 9394, CONTEXT=SEARCH's RFC 5267 §4.4 before it) returns the lo-th to
      hi-th results (1-based; "4:2" is read as "2:4"; "-1:-5" counts from the end) as
      ``PARTIAL (lo:hi set)``, or ``NIL`` in place of an empty set; it excludes ALL;
    * MODSEQ (RFC 7162 §3.1.5, CONDSTORE): when the caller passes the messages' mod-sequences, the
      highest of the messages reported: of the MIN/MAX ones when only MIN and/or MAX were asked,
      of all matches otherwise; no MODSEQ when nothing matched.

Left out: SAVE (RFC 5182 SEARCHRES), UPDATE / CONTEXT (RFC 5267 §4's live updates) and RELEVANCY
(RFC 6203) are refused by ``parse_returns`` unless ``allow`` names them; the caller decides what it
advertises.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from .wire import format_uid_set as compress   # the one sequence-set writer: "1:3,5", runs in given order

__all__ = ["OPTIONS", "Returns", "compress", "format_esearch", "parse_partial", "parse_returns"]

OPTIONS = ("MIN", "MAX", "ALL", "COUNT")
_NZ_MAX = 2**32 - 1                 # nz-number is a 32-bit unsigned integer (RFC 3501 §9)
_PARTIAL = re.compile(r"^(-?)([1-9][0-9]{0,9}):(-?)([1-9][0-9]{0,9})$")


@dataclass(frozen=True, slots=True)
class Returns:
    """The RETURN options of one command: upper-case names, and a PARTIAL range if asked."""

    names: frozenset[str]
    partial: tuple[int, int] | None = None


def parse_partial(text: object) -> tuple[int, int]:
    """RFC 9394 partial-range: "lo:hi" or "-lo:-hi", normalised so that |lo| <= |hi|."""
    if not isinstance(text, str):
        raise ValueError("PARTIAL needs a range")
    m = _PARTIAL.match(text)
    if m is None or m.group(1) != m.group(3):
        raise ValueError("PARTIAL range broken")
    lo, hi = int(m.group(2)), int(m.group(4))
    if lo > _NZ_MAX or hi > _NZ_MAX:
        raise ValueError("PARTIAL range out of bounds")
    lo, hi = min(lo, hi), max(lo, hi)
    return (-lo, -hi) if m.group(1) else (lo, hi)


def parse_returns(items: Sequence[object], allow: Iterable[str] = ("PARTIAL",)) -> Returns:
    """The options inside ``RETURN (...)`` (RFC 4731 §3.1, RFC 4466 §2.6); ValueError -> BAD.

    ``allow`` lists the options beyond MIN MAX ALL COUNT the server offers (PARTIAL by default).
    """
    extra = {a.upper() for a in allow}
    names: set[str] = set()
    partial: tuple[int, int] | None = None
    i = 0
    while i < len(items):
        item = items[i]
        if not isinstance(item, str):
            raise ValueError("SEARCH return options contain non-atoms")
        name = item.upper()
        i += 1
        if name in OPTIONS:
            names.add(name)
        elif name == "PARTIAL" and "PARTIAL" in extra:
            if partial is not None:
                raise ValueError("PARTIAL can be used only once")
            if i >= len(items):
                raise ValueError("PARTIAL range missing")
            partial = parse_partial(items[i])
            i += 1
        elif name in extra:
            names.add(name)
        else:
            raise ValueError(f"Unknown SEARCH return option {item[:30]}")
    if partial is not None and "ALL" in names:
        raise ValueError("PARTIAL conflicts with ALL")
    if not names and partial is None:
        names.add("ALL")
    return Returns(frozenset(names), partial)


def _partial_slice(hits: Sequence[int], partial: tuple[int, int]) -> Sequence[int]:
    lo, hi = partial
    if lo > 0:
        return hits[lo - 1:hi]
    start, stop = len(hits) + hi, len(hits) + lo + 1      # -1 is the last result
    return hits[max(start, 0):max(stop, 0)]


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def format_esearch(tag: str | None, uid: bool, numbers: Iterable[int],
                   returns: Returns | Iterable[str], *, sorted_result: bool = False,
                   partial: tuple[int, int] | None = None,
                   modseqs: Mapping[int, int] | None = None) -> str:
    """The ESEARCH response text after "* " for the matching ``numbers``.

    ``returns``: a ``Returns`` or the option names (empty means ALL).  ``modseqs``: number ->
    mod-sequence, only when CONDSTORE is on and the search used MODSEQ (RFC 7162 §3.1.5).
    """
    if isinstance(returns, Returns):
        names, partial = returns.names, returns.partial if partial is None else partial
    else:
        names = frozenset(n.upper() for n in returns)
    if not names and partial is None:
        names = frozenset({"ALL"})
    hits: Sequence[int] = list(numbers) if sorted_result else sorted(set(numbers))
    parts = ["ESEARCH"]
    if tag is not None:
        parts.append(f"(TAG {_quoted(tag)})")
    if uid:
        parts.append("UID")
    if hits and "MIN" in names:
        parts.append(f"MIN {hits[0]}")
    if hits and "MAX" in names:
        parts.append(f"MAX {hits[-1]}")
    if hits and "ALL" in names:
        parts.append(f"ALL {compress(hits)}")
    if partial is not None:
        lo, hi = partial
        chosen = _partial_slice(hits, partial)
        parts.append(f"PARTIAL ({lo}:{hi} {compress(chosen) if chosen else 'NIL'})")
    if "COUNT" in names:
        parts.append(f"COUNT {len(hits)}")
    if modseqs is not None and hits:
        if names & {"ALL", "COUNT"} or partial is not None or not names & {"MIN", "MAX"}:
            counted: Iterable[int] = hits
        else:
            counted = [hits[0]] * ("MIN" in names) + [hits[-1]] * ("MAX" in names)
        parts.append(f"MODSEQ {max(modseqs.get(n, 0) for n in counted)}")
    return " ".join(parts)
