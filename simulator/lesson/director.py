"""The director: owns the running mail world and its lesson, and swaps them without a restart.

Theory of operation
-------------------
One :class:`Director` per program.  It holds the current :class:`~simulator.runtime.MailStack` and the
:class:`~.runner.LessonRun` of its scenario's script, and one :class:`~simulator.bus.EventBus` for the
life of the program.  ``load`` (a lesson of the library, or a teacher's own file) and ``reset`` (the
same scenario again) stop the lesson and the world, clear the mailboxes and the queues, begin a new
event log (the old one stays on disk: the old run is kept) and start a new world on the same ports.
A scenario is checked completely *before* anything stops, so a broken file leaves the running world
untouched and its :class:`~simulator.scenario.ScenarioError` names every mistake.

The web (``simulator.web``) subscribes: ``("world", stack)`` after a swap (the bridge rebinds to the
new gate, every page reloads its state) and ``("lesson", state)`` on every change of the lesson.

After a restart of the program (without ``--fresh``), the last run's log is read back into the bus's
history, so the page shows what happened before rather than an empty timeline.

The library is every ``*.yaml`` of the scenarios directory; a lesson is one with a ``level``.
"""
from __future__ import annotations

import logging
import shutil
import threading
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from ..bus import EventBus
from ..gate import Mode, StepGate
from ..scenario import DEFAULT_SCENARIO, Scenario, ScenarioError, load_scenario, parse_scenario
from .runner import LessonRun

if TYPE_CHECKING:
    from ..config import Config
    from ..runtime import MailStack

log = logging.getLogger(__name__)

LIBRARY = DEFAULT_SCENARIO.parent
MAX_SCENARIO_BYTES = 256 * 1024

Listener = Callable[[str, Any], None]


class Director:
    def __init__(self, config: "Config", scenario: Scenario, *, library: Path = LIBRARY, interactive: bool = True,
                 time_scale: float = 1.0, resume: bool = True) -> None:
        self.config, self.scenario, self.library_dir = config, scenario, library
        self.interactive, self.time_scale = interactive, time_scale
        previous = latest_log(config.data_dir) if resume else None
        self.bus = EventBus(log_path=self._new_log())
        if previous is not None:
            loaded = self.bus.load_log(previous)
            log.info("read %d events of the last run from %s", loaded, previous)
        self.stack: "MailStack | None" = None
        self.run: LessonRun | None = None
        self._lock = threading.RLock()
        self._listeners: list[Listener] = []

    # -- life cycle ------------------------------------------------------------------------------
    def start(self) -> "MailStack":
        with self._lock:
            self.stack = self._new_stack(None)
            self.stack.start()
            self._start_run()
            return self.stack

    def stop(self) -> None:
        with self._lock:
            if self.run is not None:
                self.run.stop()
            if self.stack is not None:
                self.stack.stop()
            self.bus.close()

    # -- the library -----------------------------------------------------------------------------
    def library(self) -> list[dict[str, Any]]:
        out = []
        for path in sorted(self.library_dir.glob("*.yaml")):
            try:
                s = load_scenario(path)
            except (ScenarioError, OSError) as err:
                log.warning("library: %s does not load: %s", path, err)
                continue
            out.append({
                "name": s.name, "file": path.name,
                "title": {"en": s.title.en, "ru": s.title.ru},
                "summary": {"en": s.summary.en, "ru": s.summary.ru},
                "level": str(s.level) if s.level else None,
                "goals": {"en": list(s.goals.en), "ru": list(s.goals.ru)},
                "steps": len(s.steps),
            })
        return out

    def find(self, name: str) -> Path:
        for path in sorted(self.library_dir.glob("*.yaml")):
            if path.stem == name:
                return path
        for path in sorted(self.library_dir.glob("*.yaml")):
            try:
                if load_scenario(path).name == name:
                    return path
            except (ScenarioError, OSError):
                continue
        raise KeyError(name)

    # -- swapping the world ----------------------------------------------------------------------
    def load_named(self, name: str) -> None:
        self.load(load_scenario(self.find(name)))

    def load_text(self, text: str, filename: str) -> None:
        """A teacher's own scenario: checked completely first (ScenarioError leaves all as it was)."""
        if len(text.encode("utf-8", "replace")) > MAX_SCENARIO_BYTES:
            from ..scenario import Problem
            raise ScenarioError([Problem(filename, 1, "<file>", f"the file is larger than {MAX_SCENARIO_BYTES // 1024} KiB")])
        self.load(parse_scenario(text, filename))

    def reset(self) -> None:
        self.load(self.scenario)

    def load(self, scenario: Scenario) -> None:
        with self._lock:
            old = self.stack
            if self.run is not None:
                self.run.stop()
                self.run = None
            if old is not None:
                old.stop()
            fresh_world(self.config.data_dir)
            self.bus.restart(self._new_log())
            previous, self.scenario = self.scenario, scenario
            self.stack = self._new_stack(old)
            try:
                self.stack.start()
            except Exception:
                # the new world cannot start (a port taken meanwhile ...): bring the old one back
                log.exception("the world of %s did not start; starting %s again", scenario.name, previous.name)
                self.scenario = previous
                self.stack = self._new_stack(old)
                self.stack.start()
                self._start_run()
                self._emit("world", self.stack)
                raise
            stack = self.stack
        self._emit("world", stack)            # pages reload the new world before its lesson moves
        with self._lock:
            if self.stack is stack:
                self._start_run()
        self._emit("lesson", self.lesson_state())

    # -- the lesson ------------------------------------------------------------------------------
    def next_step(self) -> dict[str, Any]:
        with self._lock:
            if self.run is not None:
                self.run.next_step()
        return self.lesson_state()

    def lesson_state(self) -> dict[str, Any]:
        run = self.run
        if run is not None:
            return run.state()
        s = self.scenario
        return {"name": s.name, "title": {"en": s.title.en, "ru": s.title.ru}, "file": str(s.path),
                "state": "none", "current": 0, "total": 0, "interactive": self.interactive, "steps": []}

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    # -- inside ----------------------------------------------------------------------------------
    def _new_stack(self, old: "MailStack | None") -> "MailStack":
        from ..runtime import MailStack
        if old is not None:
            state = old.gate.state()
            gate = StepGate(paused=state.mode is Mode.PAUSE, delay=state.delay)
            gate.set_granularity(str(state.granularity))
        else:
            gate = StepGate(paused=self.config.step, delay=self.config.hop_delay)
        return MailStack(self.config, self.scenario, bus=self.bus, gate=gate)

    def _start_run(self) -> None:
        assert self.stack is not None
        if not self.scenario.steps:
            self.run = None
            return
        self.run = LessonRun(self.stack, self.scenario, interactive=self.interactive, time_scale=self.time_scale,
                             on_change=self._run_changed)
        self.run.start()

    def _run_changed(self, run: LessonRun) -> None:
        if run is self.run:                   # a run being stopped by a swap says nothing more
            self._emit("lesson", run.state())

    def _emit(self, kind: str, payload: Any) -> None:
        for listener in list(self._listeners):
            try:
                listener(kind, payload)
            except Exception:
                log.exception("director listener failed")

    def _new_log(self) -> Path:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
        return self.config.data_dir / "logs" / f"events-{stamp}.jsonl"


def latest_log(data_dir: Path) -> Path | None:
    logs = sorted((data_dir / "logs").glob("events-*.jsonl"), key=lambda p: (p.stat().st_mtime, p.name))
    logs = [p for p in logs if p.stat().st_size > 0]
    return logs[-1] if logs else None


def fresh_world(data_dir: Path) -> None:
    """Empty mailboxes, queues and what the webmail downloaded by POP3 (a new world); the logs and
    the TLS certificate stay."""
    for sub in ("mail", "queue", "webmail"):
        target = data_dir / sub
        if target.exists():
            shutil.rmtree(target)
