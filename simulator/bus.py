"""EventBus: thread-safe publish/subscribe with sequence numbers, a bounded history and a JSON-lines log.

Publishers are the mail loop's actors and the retrieval servers; each publishes facts
(:mod:`simulator.facts`), which the narrator words here.  Subscribers are the terminal printer, the
Socket.IO bridge and tests.  A subscriber is called synchronously in the publishing thread, so it must be quick (the bridge only puts the event on a queue).  A subscriber that raises is
logged and kept: one broken view never stops the mail world.
"""
from __future__ import annotations

import collections
import json
import logging
import threading
import time
from pathlib import Path
from typing import Callable

from .events import Event
from .facts import Fact
from .narrate import narrate

log = logging.getLogger(__name__)

Subscriber = Callable[[Event], None]


class EventBus:
    def __init__(self, *, history: int = 5000, log_path: Path | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self._lock = threading.Lock()
        self._seq = 0
        self._history: collections.deque[Event] = collections.deque(maxlen=history)
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
            self._history.append(event)
            if self._log_file is not None:
                # one write() per event, straight to the file (no text layer, nothing buffered): a
                # reader of the file sees the event as soon as publish() has returned
                _write_all(self._log_file, (event.to_json() + "\n").encode("utf-8", "backslashreplace"))
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

    def since(self, seq: int = 0, *, limit: int | None = None) -> list[Event]:
        """Events with a sequence number above ``seq``, oldest first (from the bounded history)."""
        with self._lock:
            events = [e for e in self._history if e.seq > seq]
        return events[:limit] if limit is not None else events

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
        loaded: collections.deque[Event] = collections.deque(maxlen=self._history.maxlen)
        count = top = 0
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                try:
                    event = _event_from_dict(json.loads(line))
                except (ValueError, KeyError, TypeError):
                    continue
                count += 1
                top = max(top, event.seq)
                loaded.append(event)
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


def _event_from_dict(d: dict) -> Event:
    return Event(seq=int(d["seq"]), ts=float(d["ts"]), kind=str(d["kind"]), src=str(d["src"]), dst=str(d["dst"]),
                 protocol=str(d["protocol"]), status=str(d["status"]), text=dict(d["text"]), trace=d.get("trace"),
                 transcript=tuple((str(a), str(b)) for a, b in d.get("transcript") or ()),
                 message=d.get("message"), data=d.get("data"))
