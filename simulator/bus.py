"""EventBus: thread-safe publish/subscribe with sequence numbers, a bounded history and a JSON-lines log.

Publishers are the mail loop's actors and the retrieval servers; each publishes facts
(:mod:`simulator.facts`), which the narrator words here.  Subscribers are the terminal printer, the
Socket.IO bridge and tests.  A subscriber is called synchronously in the publishing thread, so it must be quick (the bridge only puts the event on a queue).  A subscriber that raises is
logged and kept: one broken view never stops the mail world.

Theory of operation: the history
--------------------------------
The history (the last ``history`` events: a page that connects late, "sync", ``/api/events``, v1's
trace and wait) is kept as **each event's JSON line** -- the UTF-8 bytes the log gets, encoded once
per event either way -- in a small tuple with what the readers filter on (seq, trace, kind, dst).
Bytes, ints, strings and a tuple of them are not tracked by Python's cycle collector, so the history
costs the collector nothing.  (Kept as :class:`Event` objects, each a tree of dicts, lists and its
fact, 5,000 events were ~65,000 tracked objects that every full collection walked: 15-100 ms pauses of
the whole process, mail loop included, a few times per thousand messages -- bench/bench_gc.py.)
:meth:`since` decodes what it returns on demand; :meth:`since_dicts` gives the decoded dicts
straight (what :meth:`Event.to_dict` would, as JSON: the API's answers); :meth:`heads` gives the
filtered fields without decoding anything.

The last :data:`RECENT` events are also kept whole, fact included: :meth:`since` returns those very
objects (a test, or a view, that looks at what was just published sees the fact behind it).  An older
event comes back with its words and data, not its fact -- as an event read back from an earlier run's
log always did.  A lesson's runner keeps the facts it checks from its own subscription.  (Values no
fact carries today are the one difference: an integer beyond 64 bits, NaN or an infinity in an
event's data is, in its line, a string of digits or null (:func:`_line_of`), while the whole event
still holds the value itself.)
"""
from __future__ import annotations

import collections
import json
import logging
import math
import threading
import time
from pathlib import Path
from typing import Callable

import orjson

from .events import Event
from .facts import Fact
from .narrate import narrate

log = logging.getLogger(__name__)

Subscriber = Callable[[Event], None]
RECENT = 256            # the last events kept whole (with their facts) besides their JSON lines

# one event of the history: (seq, trace, kind, dst, JSON line as UTF-8, read from an earlier log?)
Record = tuple[int, "str | None", str, str, bytes, bool]


class EventBus:
    def __init__(self, *, history: int = 5000, log_path: Path | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self._lock = threading.Lock()
        self._seq = 0
        self._history: collections.deque[Record] = collections.deque(maxlen=history)
        self._recent: collections.deque[Event] = collections.deque(maxlen=min(RECENT, history))
        self._subscribers: list[Subscriber] = []
        self._clock = clock
        self._log_file = None
        if log_path is not None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log_file = _open_log(log_path)
        self.log_path = log_path

    def publish(self, fact: Fact) -> Event:
        """Publish one fact: the narrator words it (outside the lock: it is the costly part), and
        the event goes to the history, the log and every subscriber."""
        text = narrate(fact)
        message = dict(fact.message) if fact.message is not None else None
        transcript = fact.transcript
        if not _plain_pairs(transcript):        # else shared: the history holds one copy, not two
            transcript = tuple([(str(side), str(line)) for side, line in transcript])
        data = fact.data()
        with self._lock:
            self._seq += 1
            event = Event(seq=self._seq, ts=round(self._clock(), 3), kind=fact.kind, src=fact.src,
                          dst=fact.dst, protocol=fact.protocol, status=str(fact.status), text=text,
                          trace=fact.trace, transcript=transcript, message=message, data=data,
                          fact=fact)
            line = _line_of(event)
            object.__setattr__(event, "line", line)       # frozen: set once, here, before anyone sees it
            self._history.append((event.seq, event.trace, event.kind, event.dst, line, False))
            self._recent.append(event)
            if self._log_file is not None:
                # one write() per event, straight to the file (no text layer, nothing buffered): a
                # reader of the file sees the event as soon as publish() has returned
                _write_all(self._log_file, line)
            subscribers = list(self._subscribers)
        for subscriber in subscribers:
            try:
                subscriber(event)
            except Exception:  # a view must never stop the world
                log.exception("event subscriber %r failed", subscriber)
        return event

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        with self._lock:
            self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            with self._lock:
                if subscriber in self._subscribers:
                    self._subscribers.remove(subscriber)
        return unsubscribe

    def since(self, seq: int = 0, *, limit: int | None = None, trace: str | None = None) -> list[Event]:
        """Events with a sequence number above ``seq`` (and of ``trace``, if given), oldest first,
        from the bounded history: the last :data:`RECENT` as published, older ones decoded from
        their JSON lines (words and data, no fact)."""
        records, recent = self._select(seq, limit, trace)
        # a record read back from an earlier log may share its seq with one published since: never swapped
        return [(None if r[5] else recent.get(r[0])) or _event_from_line(r[4]) for r in records]

    def since_dicts(self, seq: int = 0, *, limit: int | None = None, trace: str | None = None) -> list[dict]:
        """What ``[e.to_dict() for e in self.since(...)]`` gives, as JSON sees it (a tuple may be a
        list here): the last :data:`RECENT` from the events themselves, older ones decoded straight
        from their lines into dicts (no :class:`Event` made).  The API's answers."""
        records, recent = self._select(seq, limit, trace)
        out = []
        for r in records:
            event = None if r[5] else recent.get(r[0])
            out.append(event.to_dict() if event is not None else
                       _event_from_line(r[4]).to_dict() if r[5] else _loads(r[4]))
        return out

    def heads(self, seq: int = 0) -> list[tuple[int, str | None, str, str]]:
        """``(seq, trace, kind, dst)`` of each event above ``seq`` in the history, oldest first;
        nothing decoded."""
        with self._lock:
            return [r[:4] for r in self._history if r[0] > seq]

    def _select(self, seq: int, limit: int | None, trace: str | None) -> tuple[list[Record], dict[int, Event]]:
        with self._lock:
            records = [r for r in self._history if r[0] > seq and (trace is None or r[1] == trace)]
            if limit is not None:
                del records[limit:]
            kept = {e.seq: e for e in self._recent} if records else {}
        return records, kept

    @property
    def last_seq(self) -> int:
        with self._lock:
            return self._seq

    def close(self) -> None:
        with self._lock:
            if self._log_file is not None:
                self._log_file.close()
                self._log_file = None

    def reopen(self) -> None:
        """Open the same log again (appending) after :meth:`close`: a start that failed closed it,
        and app.py tries again on other free ports; the history stays."""
        with self._lock:
            if self._log_file is None and self.log_path is not None:
                self._log_file = _open_log(self.log_path)

    def restart(self, log_path: Path | None) -> None:
        """A new run begins (a lesson loaded, the world reset): the history is cleared and a new log
        file begins; the old log stays on disk.  Sequence numbers keep growing, so a page that asks
        for "what came after n" never mistakes a new event for one it has seen."""
        with self._lock:
            if self._log_file is not None:
                self._log_file.close()
                self._log_file = None
            self._history.clear()
            self._recent.clear()
            if log_path is not None:
                log_path.parent.mkdir(parents=True, exist_ok=True)
                self._log_file = _open_log(log_path)
            self.log_path = log_path

    def load_log(self, path: Path) -> int:
        """Put the events of an earlier run's log into the history (after a restart of the program
        the page shows what happened before); they keep their words and data, not their facts.
        Unreadable lines are skipped.  Returns how many were loaded (read; the history keeps the last
        of them that fit).  Only those are held while reading: a log of 20,000 events never sits in
        memory whole."""
        loaded: collections.deque[Record] = collections.deque(maxlen=self._history.maxlen)
        count = top = 0
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                try:
                    event = _event_from_dict(_loads(line))
                except (ValueError, KeyError, TypeError):
                    continue
                count += 1
                top = max(top, event.seq)
                loaded.append((event.seq, event.trace, event.kind, event.dst, line.encode("utf-8"), True))
        with self._lock:
            self._seq = max(self._seq, top)
            self._history.extend(loaded)
        return count


def _plain_pairs(transcript) -> bool:
    """A tuple of (str, str) tuples, exactly: what every protocol's fact holds (no copy needed)."""
    return type(transcript) is tuple and all(
        type(pair) is tuple and len(pair) == 2 and type(pair[0]) is str and type(pair[1]) is str
        for pair in transcript)


def _open_log(path: Path):
    """The JSON-lines log, appended to unbuffered in binary: each event's line is encoded here
    (UTF-8; backslashreplace: a hostile client's undecodable bytes must not break the log) and
    written with one system call."""
    return open(path, "ab", buffering=0)  # noqa: SIM115


def _write_all(file, line: bytes) -> None:
    """Write ``line`` whole (a raw file may take less than asked: a signal, a full disk)."""
    view = memoryview(line)
    while view:
        taken = file.write(view)
        if not taken:
            raise OSError("the event log took nothing")
        view = view[taken:]


def _line_of(event: Event) -> bytes:
    """The event's JSON line as the log has it (UTF-8, compact, ending in a newline): orjson's
    (:meth:`Event.to_json`).  What orjson refuses is written by the standard encoder, so that either
    decoder reads the line back the same (:func:`_loads` tries orjson first): a lone surrogate --
    the ``\\udcXX`` Python keeps of undecodable octets a hostile client sent -- as its ``\\udcXX``
    escape, which JSON reads back as the same character; an integer beyond 64 bits as its digits in
    a string (orjson would read it back as a float); NaN and the infinities as null (as orjson
    writes them: no line is ever invalid JSON); anything not plain data (never published so) in
    words."""
    try:
        return event.to_json()
    except TypeError:
        text = json.dumps(_plain(event.to_dict()), ensure_ascii=False, separators=(",", ":"),
                          default=str, allow_nan=False)
        return (text + "\n").encode("utf-8", "backslashreplace")


_INT_RANGE = range(-(2 ** 63), 2 ** 64)       # what orjson writes and reads back as an integer


def _plain(value: object) -> object:
    """``value`` with what the standard encoder and orjson would not agree on made plain (see
    :func:`_line_of`)."""
    if isinstance(value, dict):
        return {key if key is None or isinstance(key, (str, int, float)) else str(key): _plain(item)
                for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if value in _INT_RANGE else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return value


def _loads(line: bytes | str) -> object:
    """One JSON line decoded: by orjson, or by the standard decoder for what orjson refuses (a lone
    surrogate's ``\\udcXX`` escape, which :func:`_line_of` writes for undecodable client octets)."""
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return json.loads(line)


def _event_from_line(line: bytes) -> Event:
    return _event_from_dict(_loads(line))


def _event_from_dict(d: dict) -> Event:
    return Event(seq=int(d["seq"]), ts=float(d["ts"]), kind=str(d["kind"]), src=str(d["src"]), dst=str(d["dst"]),
                 protocol=str(d["protocol"]), status=str(d["status"]), text=dict(d["text"]), trace=d.get("trace"),
                 transcript=tuple((str(a), str(b)) for a, b in d.get("transcript") or ()),
                 message=d.get("message"), data=d.get("data"))
