"""Searching messages across mailboxes: the test API's query language and its matching.  No I/O.

Theory of operation
-------------------
A query is a conjunction of terms; every term must match.  It is written either as one string
(``q``, the form a developer moving from Mailpit types) or as separate parameters, and both may be
combined::

    q=from:alice subject:"monthly report" to:customer@example.com after:2024-05-01 invoice
    from=alice&subject=monthly%20report&since=2024-05-01&text=invoice

Terms of ``q`` are ``field:value`` or a bare word (searched in the subject and the text); a value
with spaces is quoted (``"..."``, ``\\"`` inside).  Fields (and their parameter names):

    from      the From field                    to       To, Cc and the mailbox it was delivered to
    subject   the Subject field                 text     the subject and the body text
    trace     the message's trace id (m-...)     mailbox  the mailbox address (exact)
    id        the message id (exact)            message-id  the Message-ID field
    after / since   delivered at or after       before / until   delivered before
                    (an ISO 8601 date or time, or seconds since the epoch; no offset means UTC)

Matching is case-insensitive and by substring, except ``mailbox``, ``id`` and ``trace`` (exact).
A query that cannot be read raises :class:`QueryError`, naming the parameter, so the API answers 400
"q: ...": an unknown field, an empty value, an unterminated quote, a date that is not one.

``matches(query, summary, text)`` judges one message summary (the dict the API lists); the body
text is asked for only when a term needs it (``text``), since reading a body costs a file read.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

__all__ = ["FIELDS", "PARAMS", "Query", "QueryError", "matches", "parse_query", "query_from"]

# field of q -> the Query attribute it fills
FIELDS = {"from": "from_", "to": "to", "subject": "subject", "text": "text", "trace": "trace",
          "mailbox": "mailbox", "id": "id", "message-id": "message_id",
          "after": "since", "since": "since", "before": "until", "until": "until"}
# separate query parameters -> the Query attribute they fill
PARAMS = {"from": "from_", "to": "to", "subject": "subject", "text": "text", "trace": "trace",
          "mailbox": "mailbox", "id": "id", "message_id": "message_id", "since": "since",
          "until": "until", "after": "since", "before": "until"}
MAX_QUERY = 2000          # characters of one query
MAX_TERMS = 50
_TERM = re.compile(r'\s*(?:([A-Za-z][A-Za-z_-]*):)?(?:"((?:[^"\\]|\\.)*)(")?|([^\s"]*))')


class QueryError(ValueError):
    """A query that cannot be read; ``param`` names the parameter that holds the mistake."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(f"{param}: {message}")
        self.param, self.message = param, message


@dataclass(frozen=True, slots=True)
class Query:
    """Every term must match; the tuples hold lower-case substrings that must all be found."""

    from_: tuple[str, ...] = ()
    to: tuple[str, ...] = ()
    subject: tuple[str, ...] = ()
    text: tuple[str, ...] = ()
    message_id: tuple[str, ...] = ()
    trace: str | None = None
    mailbox: str | None = None
    id: str | None = None
    since: float | None = None
    until: float | None = None
    words: tuple[str, ...] = field(default=())       # the query as given, for the answer

    @property
    def empty(self) -> bool:
        return self == Query(words=self.words)

    @property
    def needs_text(self) -> bool:
        return bool(self.text)


def parse_query(q: str, param: str = "q") -> Query:
    """The terms of one query string (see the module's docstring); QueryError naming ``param``."""
    if len(q) > MAX_QUERY:
        raise QueryError(param, f"the query is longer than {MAX_QUERY} characters")
    query = Query()
    pos, terms = 0, 0
    while pos < len(q):
        match = _TERM.match(q, pos)
        assert match is not None            # the pattern matches the empty string
        name, quoted, closed, bare = match.groups()
        if match.end() == pos or (quoted is not None and closed is None):
            raise QueryError(param, f"a quote is not closed at character {pos + 1}: {q[pos:pos + 30].strip()!r}"
                             if quoted is not None or q[pos:].lstrip().startswith('"')
                             else f"cannot read the query at character {pos + 1}: {q[pos:pos + 30]!r}")
        pos = match.end()
        value = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare or ""
        if name is None and quoted is None and not value:
            continue
        if name is None and quoted is None and ":" in value:
            raise QueryError(param, f"cannot read the term {value[:40]!r} (quote a value with a colon)")
        terms += 1
        if terms > MAX_TERMS:
            raise QueryError(param, f"more than {MAX_TERMS} terms")
        if name is None:
            if value:
                query = _add(query, "text", value, param, name="text")
            continue
        attr = FIELDS.get(name.lower())
        if attr is None:
            raise QueryError(param, f"unknown field {name!r}; known: {', '.join(sorted(FIELDS))}")
        if not value.strip():
            raise QueryError(param, f"{name}: has no value")
        query = _add(query, attr, value, param, name=name.lower())
    return replace(query, words=(q.strip(),) if q.strip() else ())


def query_from(args: Mapping[str, str], *, q_param: str = "q") -> Query:
    """A query from request parameters: ``q`` and the separate ones (``from``, ``since`` ...)."""
    query = parse_query(args.get(q_param, ""), q_param) if args.get(q_param) else Query()
    for name, attr in PARAMS.items():
        value = args.get(name)
        if value is None:
            continue
        if not value.strip():
            raise QueryError(name, "is empty")
        if len(value) > MAX_QUERY:
            raise QueryError(name, f"is longer than {MAX_QUERY} characters")
        query = _add(query, attr, value.strip(), name, name=name)
    return query


def _add(query: Query, attr: str, value: str, param: str, *, name: str) -> Query:
    if attr in ("since", "until"):
        when = parse_time(value, param, name)
        old = getattr(query, attr)
        if old is not None:                 # two bounds: the narrower one
            when = max(old, when) if attr == "since" else min(old, when)
        return replace(query, **{attr: when})
    if attr in ("trace", "mailbox", "id"):
        value = value.strip()
        if attr == "mailbox":
            value = value.lower()
        old = getattr(query, attr)
        if old is not None and old != value:
            raise QueryError(param, f"{name}: given twice with different values")
        return replace(query, **{attr: value})
    return replace(query, **{attr: getattr(query, attr) + (value.casefold(),)})


def parse_time(value: str, param: str, name: str) -> float:
    """Seconds since the epoch from an ISO 8601 date or date-time (UTC unless it says) or a number."""
    text = value.strip()
    try:
        return float(text) if re.fullmatch(r"\d+(\.\d+)?", text) else _iso(text)
    except ValueError:
        raise QueryError(param, f"{name}: not a date, a date and time (ISO 8601) or seconds since "
                                f"the epoch: {text[:40]!r}") from None


def _iso(text: str) -> float:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def matches(query: Query, summary: Mapping[str, Any], text: Callable[[], str] = lambda: "") -> bool:
    """Does the message ``summary`` (the API's list entry) match every term of ``query``?"""
    if query.id is not None and summary.get("id") != query.id:
        return False
    if query.mailbox is not None and str(summary.get("mailbox", "")).lower() != query.mailbox:
        return False
    if query.trace is not None and summary.get("trace") != query.trace:
        return False
    received = float(summary.get("received_ts") or 0.0)
    if query.since is not None and received < query.since:
        return False
    if query.until is not None and received >= query.until:
        return False
    if not _all_in(query.from_, summary.get("from")):
        return False
    if not _all_in(query.to, summary.get("to"), summary.get("cc"), summary.get("mailbox"),
                   summary.get("delivered_to")):
        return False
    if not _all_in(query.subject, summary.get("subject")):
        return False
    if not _all_in(query.message_id, summary.get("message_id")):
        return False
    if query.text:
        haystack = f"{summary.get('subject') or ''}\n{text()}".casefold()
        if not all(word in haystack for word in query.text):
            return False
    return True


def _all_in(words: tuple[str, ...], *fields: Any) -> bool:
    if not words:
        return True
    haystack = "\n".join(str(f) for f in fields if f).casefold()
    return all(word in haystack for word in words)
