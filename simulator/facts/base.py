"""The fact record: what happened in one hop, as data only.

An actor of the mail world that does something publishes a fact: a frozen record of node ids
(from :mod:`simulator.nodes`), addresses, the trace id, reply codes, reasons as codes with
parameters, and the real transcript lines.  A fact never holds a sentence in any language: the
narrator (:mod:`simulator.narrate`) words it, once per language, when the bus turns it into an event.

Each concrete fact class names its ``kind`` (dotted, ``smtp.session``) and ``protocol`` as class
variables and has a ``status`` (a field or a property).  Each area module lists its classes in
``__all__``; :func:`simulator.facts.all_facts` collects them, so the set is closed and the narrator's
tests walk it.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Any, ClassVar, Mapping


class Status(StrEnum):
    OK = "ok"
    DEFERRED = "deferred"      # a temporary failure: the message waits and will be retried
    FAILED = "failed"          # this attempt or session failed
    BOUNCED = "bounced"        # the message is given up; a DSN goes back to the sender
    INFO = "info"              # something happened that is neither success nor failure


Line = tuple[str, str]          # ("C" | "S" | "…", text): client line, server line, or a cut marker

_BASE_FIELDS = frozenset({"src", "dst", "trace", "transcript", "message", "status"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Fact:
    """Fields every hop has.  ``message`` is the message as it was at this hop (envelope and a
    few headers, for the page: never trusted, always inserted as text)."""

    kind: ClassVar[str] = ""
    protocol: ClassVar[str] = ""

    src: str
    dst: str
    trace: str | None = None
    transcript: tuple[Line, ...] = ()
    message: Mapping[str, Any] | None = None

    def data(self) -> dict[str, Any]:
        """The fact's own fields, JSON-ready: what the page and the log see as ``data``."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)
                if f.name not in _BASE_FIELDS}


@dataclass(frozen=True, slots=True)
class Reason:
    """Why something failed or was chosen, as a code with parameters; the narrator words it.

    ``code`` is a member of one of the reason enums of :mod:`simulator.facts`;
    ``params`` are plain values (str, int, float, bool, tuples of those).
    """

    code: StrEnum
    params: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def of(cls, code: StrEnum, **params: Any) -> "Reason":
        return cls(code, tuple(sorted(params.items())))

    def __getitem__(self, key: str) -> Any:
        for name, value in self.params:
            if name == key:
                return value
        raise KeyError(key)

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def to_dict(self) -> dict[str, Any]:
        return {"code": str(self.code), **{k: _plain(v) for k, v in self.params}}


def _plain(value: Any) -> Any:
    if isinstance(value, Reason):
        return value.to_dict()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return value
