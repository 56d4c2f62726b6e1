"""Lessons: a scenario's script run against the live world (:mod:`.runner`), the expectations it
checks (:mod:`.checks`), the mail clients its steps use (:mod:`.mua`), the director that owns the
running world and swaps it without a restart (:mod:`.director`), and the headless report (:mod:`.report`).
"""
from .director import Director, LIBRARY
from .runner import LessonRun, RunState, StepStatus

__all__ = ["Director", "LIBRARY", "LessonRun", "RunState", "StepStatus"]
