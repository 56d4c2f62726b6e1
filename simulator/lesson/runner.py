"""The lesson runner: a scenario's script, step by step, against a running mail world.

Theory of operation
-------------------
A :class:`LessonRun` runs in its own thread (the steps block: an SMTP submission, a wait) and drives
the world only through what a teacher has too: the stack's thread-safe controls (host up/down, MX
tables, faults) and real clients (:mod:`.mua`).  It listens to the bus from the moment it starts and
keeps every fact, so an ``expect`` sees all that happened since the lesson began.

Each step: publish a :class:`~simulator.facts.LessonStep` (the page shows the author's narration), do
the action, record the outcome.  In *interactive* mode (the page) the world waits for the teacher's
"next step" before the first step and before every step marked ``pause: true``; *headless* (the CLI,
CI) nothing waits and time is compressed (``time_scale``: a ``wait: {seconds: 10}`` lasts
``10 * time_scale``).  The run stops at the first step that fails — an expectation not met, or a step
that could not be done — since what follows was written for a world where it had passed.

An ``expect`` waits until it holds, or until its timeout, or until the world is *quiet* (every queue
empty, nothing held at the gate) and has stayed so for a moment with no new fact — then it will not
change, and the expectation has failed.

State for the page: :meth:`LessonRun.state` (JSON-ready); ``on_change`` is called after every change.
"""
from __future__ import annotations

import dataclasses
import logging
import threading
import time
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Callable

from .. import nodes
from ..events import Event
from ..gate import Mode
from ..facts import (
    Fact, LessonEnded, LessonExpectation, LessonStep, LessonStepFailed, Reason, StepReason,
)
from ..scenario import Expect, Fetch, HostState, Scenario, Send, SetFault, SetMx, Step, Wait, WaitFor
from ..scenario.model import Say
from . import checks, mua

if TYPE_CHECKING:
    from ..runtime import MailStack

log = logging.getLogger(__name__)

QUIET_FOR = 0.4          # seconds the world must stay quiet before a missing fact counts as never
POLL = 0.05


class RunState(StrEnum):
    READY = "ready"          # interactive: waiting for the teacher to begin
    RUNNING = "running"
    WAITING = "waiting"      # a pause: waiting for "next step"
    FINISHED = "finished"    # every step done and every expectation met
    FAILED = "failed"        # stopped at a failed step
    STOPPED = "stopped"      # the world was swapped or the program stops


class StepStatus(StrEnum):
    PENDING = "pending"
    WAITING = "waiting"
    RUNNING = "running"
    DONE = "done"
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclasses.dataclass(slots=True)
class StepResult:
    status: StepStatus = StepStatus.PENDING
    fact: Fact | None = None          # the LessonExpectation / LessonStepFailed that judged it
    event: Event | None = None        # ... as the bus published it (its words)
    detail: dict[str, Any] = dataclasses.field(default_factory=dict)


class LessonRun:
    def __init__(self, stack: "MailStack", scenario: Scenario, *, interactive: bool, time_scale: float = 1.0,
                 on_change: Callable[["LessonRun"], None] | None = None) -> None:
        self.stack, self.scenario = stack, scenario
        self.interactive, self.time_scale = interactive, time_scale
        self.on_change = on_change
        self.results = [StepResult() for _ in scenario.steps]
        self.current = 0
        self.run_state = RunState.READY if interactive and scenario.steps else RunState.RUNNING
        self._facts: list[Fact] = []
        self._since_action = 0                # how many facts there were when the last action began
        self._clients: set[Any] = set()       # the live clients of a send or fetch (cut by stop)
        self._facts_lock = threading.Lock()
        self._last_fact = time.monotonic()
        self._release = threading.Event()
        self._go = -1                         # the step "next step" released (a second click is no skip)
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._unsubscribe = stack.bus.subscribe(self._on_event)

    # -- control (any thread) ---------------------------------------------------------------------
    def start(self) -> "LessonRun":
        self._thread = threading.Thread(target=self._run, name=f"lesson-{self.scenario.name}", daemon=True)
        self._thread.start()
        return self

    def next_step(self) -> bool:
        """Release the pause the run is waiting at; False if it is not waiting."""
        if self.run_state not in (RunState.READY, RunState.WAITING):
            return False
        self._go = self.current
        self._release.set()
        return True

    def stop(self, timeout: float = 5.0) -> None:
        """End the run: a pause is released, a send or fetch in progress has its socket closed, and
        nothing more is published."""
        self._stopped.set()
        self._release.set()
        for client in list(self._clients):
            try:
                client.sock.shutdown(2)          # the TLS socket after STARTTLS: ask each time
            except (AttributeError, OSError):
                pass
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self._unsubscribe()

    def _track(self, client: Any, live: bool) -> None:
        """The mail clients (smtplib, poplib, imaplib objects) register while connected, so stop()
        can end a step blocked at a paused gate."""
        (self._clients.add if live else self._clients.discard)(client)

    def join(self, timeout: float | None = None) -> bool:
        assert self._thread is not None
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def passed(self) -> bool:
        return self.run_state is RunState.FINISHED

    def failure(self) -> tuple[Step, StepResult] | None:
        for step, result in zip(self.scenario.steps, self.results):
            if result.status is StepStatus.FAILED:
                return step, result
        return None

    def state(self) -> dict[str, Any]:
        s = self.scenario
        return {
            "name": s.name, "title": {"en": s.title.en, "ru": s.title.ru}, "file": str(s.path),
            "state": str(self.run_state), "current": self.current, "total": len(s.steps),
            "interactive": self.interactive,
            "steps": [{
                "index": i, "action": step.action, "line": step.line, "pause": step.pause,
                "say": {"en": step.say.en, "ru": step.say.ru} if step.say else None,
                "status": str(result.status),
                "text": result.event.text if result.event is not None else None,
                "detail": result.detail or None,
            } for i, (step, result) in enumerate(zip(s.steps, self.results))],
        }

    # -- the facts of this run ---------------------------------------------------------------------
    def _on_event(self, event: Event) -> None:
        if event.fact is not None:
            with self._facts_lock:
                self._facts.append(event.fact)
                self._last_fact = time.monotonic()

    def facts(self) -> list[Fact]:
        with self._facts_lock:
            return list(self._facts)

    # -- the thread ------------------------------------------------------------------------------
    def _run(self) -> None:
        steps = self.scenario.steps
        failed = -1
        try:
            for index, step in enumerate(steps):
                self.current = index
                if self.interactive and (index == 0 or step.pause):
                    self._set(index, StepStatus.WAITING, RunState.READY if index == 0 else RunState.WAITING)
                    while self._go != index and not self._stopped.is_set():
                        self._release.wait()
                        self._release.clear()
                if self._stopped.is_set():
                    break
                self._set(index, StepStatus.RUNNING, RunState.RUNNING)
                with self._facts_lock:
                    if step.action not in _PASSIVE:
                        self._since_action = len(self._facts)
                self.results[index].event = self.stack.bus.publish(LessonStep(
                    src=nodes.FRONT, dst=nodes.FRONT, lesson=self.scenario.name, index=index, total=len(steps),
                    action=step.action, line=step.line, say_en=step.say.en if step.say else "",
                    say_ru=step.say.ru if step.say else "", detail=_detail(step)))
                if not self._do(index, step):
                    failed = index
                    break
        except Exception as err:       # a bug must end the run visibly, not hang the page
            if not self._stopped.is_set():
                log.exception("lesson %s crashed", self.scenario.name)
                failed = self.current
                self._fail(self.current, steps[self.current], Reason.of(StepReason.ERROR, error=repr(err)[:200]))
        self._unsubscribe()            # a finished run keeps no more facts
        if self._stopped.is_set():
            # swapped or shut down: the run ends without a word (its world is gone; a failure
            # caused by the stop itself is no failure of the lesson)
            self.run_state = RunState.STOPPED
            return
        for result in self.results:
            if result.status in (StepStatus.PENDING, StepStatus.WAITING):
                result.status = StepStatus.SKIPPED
        passed = sum(1 for r in self.results if r.status is StepStatus.PASSED)
        done = sum(1 for r in self.results if r.status in (StepStatus.DONE, StepStatus.PASSED))
        self.stack.bus.publish(LessonEnded(src=nodes.FRONT, dst=nodes.FRONT, lesson=self.scenario.name,
                                           total=len(steps), done=done, passed=passed, failed_index=failed))
        self.run_state = RunState.FINISHED if failed < 0 else RunState.FAILED
        self._changed()

    def _do(self, index: int, step: Step) -> bool:
        action = step.do
        timeout = 600.0 if self.interactive else 30.0       # a paused gate may hold a submission
        try:
            if isinstance(action, Say):
                pass
            elif isinstance(action, Send):
                sent = mua.send(action, scenario=self.scenario, world=self.stack.world, config=self.stack.config,
                                timeout=timeout, track=self._track)
                self.results[index].detail = {"code": sent.code, "reply": sent.reply,
                                              "refused": {r: list(v) for r, v in sent.refused.items()}}
            elif isinstance(action, Fetch):
                count = mua.fetch(action, scenario=self.scenario, world=self.stack.world, config=self.stack.config,
                                  timeout=timeout, track=self._track)
                self.results[index].detail = {"messages": count}
            elif isinstance(action, HostState):
                self.stack.set_host_state(action.host, action.up)
            elif isinstance(action, SetMx):
                self.stack.set_mx(action.domain, [(r.preference, r.host) for r in action.records or ()])
            elif isinstance(action, SetFault):
                if not hasattr(self.stack, "set_fault"):
                    raise mua.StepError(Reason.of(StepReason.UNSUPPORTED, action="fault"))
                if action.off:
                    self.stack.clear_fault(action.fault.kind.value, action.fault.target)
                else:
                    self.stack.set_fault(action.fault)
            elif isinstance(action, Wait):
                if not self._wait(action, since=self._since_action):
                    raise mua.StepError(Reason.of(StepReason.TIMEOUT, seconds=action.timeout))
            elif isinstance(action, Expect):
                return self._expect(index, step, action)
        except mua.StepError as err:
            if self._stopped.is_set():
                return False
            self._fail(index, step, err.reason)
            return False
        self._set(index, StepStatus.DONE)
        return True

    # -- waits and expectations ------------------------------------------------------------------
    def _sleep(self, seconds: float) -> bool:
        """Sleep unless stopped; False if stopped."""
        return not self._stopped.wait(seconds)

    def _wait(self, wait: Wait, *, since: int) -> bool:
        """Wait for a fact that came after the last action began (``send``, a pause, then ``wait``
        for its delivery sees it even if it landed during the pause; a second pair waits for its own)."""
        if wait.event is None:
            self._sleep(wait.seconds * self.time_scale)
            return True
        deadline = time.monotonic() + wait.timeout
        while not self._stopped.is_set():
            deadline = self._hold(deadline, wait.timeout)
            if time.monotonic() >= deadline:
                break
            if wait.event is WaitFor.QUIET:
                if self._quiet_for(QUIET_FOR):
                    return True
            elif any(_matches(wait, fact) for fact in self.facts()[since:]):
                return True
            self._sleep(POLL)
        return self._stopped.is_set()

    def _expect(self, index: int, step: Step, expect: Expect) -> bool:
        deadline = time.monotonic() + expect.timeout
        passed, found = False, {}
        while not self._stopped.is_set():
            passed, found = checks.evaluate(expect, self.facts(), self._mailbox_count(expect))
            quiet = self._quiet_for(QUIET_FOR) if (passed and checks.needs_quiet(expect)) or not passed else True
            if passed and quiet:
                break
            if not passed and quiet:
                # quiet and still not so: judge once more (a fact may have landed meanwhile)
                passed, found = checks.evaluate(expect, self.facts(), self._mailbox_count(expect))
                break
            deadline = self._hold(deadline, expect.timeout)
            if time.monotonic() >= deadline:
                if passed and not quiet:        # a count judged while mail still moves proves nothing
                    passed, found = False, {**found, "moving": True}
                break
            self._sleep(POLL)
        if self._stopped.is_set():
            return False
        fact = LessonExpectation(
            src=nodes.FRONT, dst=nodes.FRONT, lesson=self.scenario.name, index=index, line=step.line,
            file=str(self.scenario.path), expect=expect.kind.value, wanted=_wanted(expect),
            found=tuple(found.items()), passed=passed)
        event = self.stack.bus.publish(fact)
        result = self.results[index]
        result.fact, result.event, result.detail = fact, event, {"found": found}
        self._set(index, StepStatus.PASSED if passed else StepStatus.FAILED)
        return passed

    def _hold(self, deadline: float, timeout: float) -> float:
        """Time stands still while the teacher holds the world (the gate paused or holding a hop):
        a lesson stepped hop by hop never runs out of time."""
        state = self.stack.gate.state()
        if state.mode is Mode.PAUSE or state.waiting:
            return max(deadline, time.monotonic() + timeout)
        return deadline

    def _mailbox_count(self, expect: Expect) -> int | None:
        if expect.kind.value != "mailbox":
            return None

        async def count() -> int:
            store = self.stack.store
            store.rescan(expect.rcpt, "INBOX")
            return len(store.messages(expect.rcpt, "INBOX"))
        return self.stack.call(count)

    def _quiet_for(self, seconds: float) -> bool:
        """Every queue empty, nothing held at the gate, no fact for ``seconds``."""
        with self._facts_lock:
            idle = time.monotonic() - self._last_fact
        if idle < seconds:
            return False
        if self.stack.gate.state().waiting:
            return False
        return not self.stack.queue_snapshot()

    # -- bookkeeping ---------------------------------------------------------------------------
    def _fail(self, index: int, step: Step, reason: Reason) -> None:
        fact = LessonStepFailed(src=nodes.FRONT, dst=nodes.FRONT, lesson=self.scenario.name, index=index,
                                line=step.line, file=str(self.scenario.path), action=step.action, reason=reason)
        event = self.stack.bus.publish(fact)
        result = self.results[index]
        result.fact, result.event = fact, event
        self._set(index, StepStatus.FAILED)

    def _set(self, index: int, status: StepStatus, run_state: RunState | None = None) -> None:
        self.results[index].status = status
        if run_state is not None:
            self.run_state = run_state
        self._changed()

    def _changed(self) -> None:
        if self.on_change is not None:
            try:
                self.on_change(self)
            except Exception:
                log.exception("lesson state listener failed")


_PASSIVE = frozenset({"say", "wait", "expect"})     # steps that change nothing in the world


def _matches(wait: Wait, fact: Fact) -> bool:
    from ..facts import Bounced, Deferred, MdaDelivered, Relayed, Retry
    kind = {WaitFor.DELIVERED: MdaDelivered, WaitFor.BOUNCED: Bounced, WaitFor.DEFERRED: Deferred,
            WaitFor.RETRY: Retry, WaitFor.RELAYED: Relayed}[wait.event]
    if not isinstance(fact, kind):
        return False
    if wait.rcpt:
        rcpts = (fact.rcpt,) if isinstance(fact, MdaDelivered) else getattr(fact, "rcpts", ())
        if wait.rcpt not in rcpts:
            return False
    if wait.host:
        hosts = {getattr(fact, "host", ""), getattr(fact, "target", "")}
        if wait.host not in hosts:
            return False
    return True


def _wanted(expect: Expect) -> tuple[tuple[str, Any], ...]:
    out: dict[str, Any] = {"rcpt": expect.rcpt}
    if expect.count is not None:
        out["count"] = expect.count
    for name in ("status", "host", "command"):
        if getattr(expect, name):
            out[name] = getattr(expect, name)
    if expect.code:
        out["code"] = expect.code
    if expect.then_delivered:
        out["then_delivered"] = True
    return tuple((k, v) for k, v in out.items() if v != "" or k == "rcpt")


def _detail(step: Step) -> tuple[tuple[str, Any], ...]:
    action = step.do
    if isinstance(action, Send):
        return (("sender", action.sender), ("to", action.to))
    if isinstance(action, Fetch):
        return (("user", action.user), ("protocol", action.protocol.value), ("keep", action.keep))
    if isinstance(action, Wait):
        return (("event", action.event.value if action.event else ""), ("rcpt", action.rcpt),
                ("seconds", action.seconds))
    if isinstance(action, HostState):
        return (("host", action.host),)
    if isinstance(action, SetMx):
        return (("domain", action.domain),)
    if isinstance(action, SetFault):
        return (("kind", action.fault.kind.value), ("target", action.fault.target), ("off", action.off))
    if isinstance(action, Expect):
        return (("expect", action.kind.value),)
    return ()
