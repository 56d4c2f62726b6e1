"""Facts of a lesson's script (data only: the narrator words them; the narration of a step is the
lesson author's own, in both languages, carried as data).

- :class:`LessonStep` (``lesson.step``): the runner begins a step of the script;
- :class:`LessonExpectation` (``lesson.expect``): an ``expect`` step was checked, passed or failed,
  with what was expected and what happened (both as data: the narrator words them);
- :class:`LessonStepFailed` (``lesson.error``): a step could not be done (a fetch could not log in …);
- :class:`LessonEnded` (``lesson.end``): the script ran to its end, or stopped at a failure.

They are not hops between nodes: their ``src`` and ``dst`` are the front door, and the page shows them
in the lesson's narration panel rather than on the diagram.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar

from .base import Fact, Reason, Status

__all__ = ["LessonStep", "LessonExpectation", "LessonStepFailed", "LessonEnded", "StepReason"]


class StepReason(StrEnum):
    """Why a step could not be done."""
    CONNECT = "step.connect"        # address ("127.0.0.1:1587"), error: nothing answered there
    LOGIN = "step.login"            # user, reply: the server refused the login
    PROTOCOL = "step.protocol"      # reply: the server answered something unexpected
    TIMEOUT = "step.timeout"        # seconds: a wait ran out
    UNSUPPORTED = "step.unsupported"  # action: this world cannot do that step (e.g. faults missing)
    ERROR = "step.error"            # error: anything else, for developers


@dataclass(frozen=True, slots=True, kw_only=True)
class LessonStep(Fact):
    kind: ClassVar[str] = "lesson.step"
    protocol: ClassVar[str] = "LESSON"
    lesson: str
    index: int                      # 0-based
    total: int
    action: str                     # say, send, fetch, wait, host_down, ...
    line: int
    say_en: str = ""                # the author's narration (may be empty)
    say_ru: str = ""
    detail: tuple[tuple[str, Any], ...] = ()     # the action's parameters, for the words
    status: Status = Status.INFO


@dataclass(frozen=True, slots=True, kw_only=True)
class LessonExpectation(Fact):
    kind: ClassVar[str] = "lesson.expect"
    protocol: ClassVar[str] = "LESSON"
    lesson: str
    index: int
    line: int
    file: str
    expect: str                                  # an ExpectKind value: delivered, bounced, ...
    wanted: tuple[tuple[str, Any], ...] = ()     # its parameters: rcpt, count, status, host, code, command
    found: tuple[tuple[str, Any], ...] = ()      # what happened: delivered, bounced, deferred, via, messages, replies
    passed: bool = False

    @property
    def status(self) -> Status:                  # type: ignore[override]
        return Status.OK if self.passed else Status.FAILED


@dataclass(frozen=True, slots=True, kw_only=True)
class LessonStepFailed(Fact):
    kind: ClassVar[str] = "lesson.error"
    protocol: ClassVar[str] = "LESSON"
    lesson: str
    index: int
    line: int
    file: str
    action: str
    reason: Reason                               # a StepReason
    status: Status = Status.FAILED


@dataclass(frozen=True, slots=True, kw_only=True)
class LessonEnded(Fact):
    kind: ClassVar[str] = "lesson.end"
    protocol: ClassVar[str] = "LESSON"
    lesson: str
    total: int
    done: int                                    # steps done
    passed: int                                  # expectations met
    failed_index: int = -1                       # the step that stopped the script (-1: none)

    @property
    def status(self) -> Status:                  # type: ignore[override]
        return Status.OK if self.failed_index < 0 else Status.FAILED
