"""The lesson library: every shipped lesson loads, speaks both languages, and passes headless.

Theory of operation
-------------------
A lesson is a file ``scenarios/NN-name.yaml`` with a ``level``. Its ``expect`` steps are its test: the
headless runner (``app.py --scenario FILE --run``) plays the script against a real world on loopback and
exits 0 only if every expectation is met. Each shipped scenario with steps runs once, in its own
subprocess; the runs are started together by a session fixture (a few at a time, each on its own free
ports, with a fixed ``--seed`` so that the random order of equal-preference MX hosts is the same on
every run) and each parametrised test waits for its own. A lesson with a broken expectation, copied to
``tmp_path``, shows that the runner fails and names the step, the file and the line.
"""
from __future__ import annotations

import random
import re
import subprocess
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Iterator

import pytest

from simulator.config import DEFAULT_PORTS, free_port
from simulator.scenario import Expect, load_scenario

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"
LESSONS = sorted(SCENARIOS.glob("[0-9][0-9]-*.yaml"))
SHIPPED = sorted(SCENARIOS.glob("*.yaml"))
RUNNABLE = [path for path in SHIPPED if load_scenario(path).steps]
FREE_PLAY = ("default.yaml", "bounce.yaml", "mx-failover.yaml")
SEED = "1"
PARALLEL = 3
RUN_TIMEOUT = 120

CYRILLIC = re.compile(r"[А-Яа-яЁё]")


# --- the files -------------------------------------------------------------------------------------


def test_the_library_has_enough_lessons_in_order() -> None:
    assert len(LESSONS) >= 18
    numbers = [int(path.name[:2]) for path in LESSONS]
    assert numbers == list(range(1, len(LESSONS) + 1)), "lessons are numbered 01, 02, ... without gaps"
    for path in LESSONS:
        assert re.fullmatch(r"\d\d-[a-z0-9]+(-[a-z0-9]+)*\.yaml", path.name), path.name


@pytest.mark.parametrize("name", FREE_PLAY)
def test_the_free_play_worlds_still_load(name: str) -> None:
    scenario = load_scenario(SCENARIOS / name)
    assert scenario.name == Path(name).stem


def _texts(path: Path) -> Iterator[tuple[str, str, str]]:
    """(where, en, ru) for every text of a lesson a learner reads."""
    s = load_scenario(path)
    yield "title", s.title.en, s.title.ru
    yield "summary", s.summary.en, s.summary.ru
    for i, (en, ru) in enumerate(zip(s.goals.en, s.goals.ru)):
        yield f"goals[{i}]", en, ru
    for step in s.steps:
        if step.say is not None:
            yield f"line {step.line}", step.say.en, step.say.ru


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_every_lesson_is_complete_in_both_languages(path: Path) -> None:
    s = load_scenario(path)
    assert s.name == path.stem
    assert s.level is not None, "a lesson has a level"
    assert s.goals.en and len(s.goals.en) == len(s.goals.ru), "goals in en and ru, one for one"
    assert any(isinstance(step.do, Expect) for step in s.steps), "the expectations are the lesson's test"
    assert s.steps and s.steps[0].say is not None, "a lesson opens with narration"
    for where, en, ru in _texts(path):
        assert en.strip() and ru.strip(), where
        assert not CYRILLIC.search(en), f"{where}: Russian in the English text"
        assert CYRILLIC.search(ru), f"{where}: the Russian text is not in Russian"


def _unquoted(text: str) -> str:
    """The narration without what it quotes ('beta.test MX?' is what a server asks, not the class)."""
    return re.sub(r"(?<!\w)'[^']*?'(?!\w)|«[^»]*»", "", text)


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_every_question_to_the_class_pauses(path: Path) -> None:
    """A narration that asks something makes the world wait for "next step" (the first step always does)."""
    s = load_scenario(path)
    questions = [(i, step) for i, step in enumerate(s.steps) if step.say is not None and "?" in _unquoted(step.say.en)]
    assert any(step.pause for _, step in questions), "a lesson asks the class at least one question"
    for i, step in questions:
        assert "?" in _unquoted(step.say.ru), f"line {step.line}: the question in Russian"
        assert step.pause or i == 0, f"line {step.line}: the world must wait while the class thinks"


# --- headless runs ---------------------------------------------------------------------------------


_PORTS_LOCK = threading.Lock()
_TAKEN: set[int] = set()        # ports handed to a run of this session: no two runs share one


def _port_args(rng: random.Random, taken: set[int]) -> list[str]:
    args = []
    for name in DEFAULT_PORTS:
        port = free_port(rng)
        while port in taken:
            port = free_port(rng)
        taken.add(port)
        args += [f"--{name}-port", str(port)]
    return args


def _run(path: Path, ports: list[str] | None = None) -> tuple[subprocess.CompletedProcess, float]:
    """One headless run on free ports chosen now (unless given), tried again once if another program
    took one of them between the choice and the bind: that is the machine, not the lesson."""
    began = time.monotonic()
    for attempt in range(2):
        with _PORTS_LOCK:
            chosen = ports or _port_args(random.Random(), _TAKEN)
        done = subprocess.run([sys.executable, "app.py", "--scenario", str(path), "--run", "--seed", SEED, *chosen],
                              cwd=ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT)
        if "cannot start" not in done.stderr or "address already in use" not in done.stderr:
            break
    return done, time.monotonic() - began


@pytest.fixture(scope="session")
def headless_runs() -> Iterator[dict[Path, Future]]:
    """Every runnable shipped scenario, started together a few at a time, each on its own ports."""
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        yield {path: pool.submit(_run, path) for path in RUNNABLE}


@pytest.mark.parametrize("path", RUNNABLE, ids=lambda p: p.stem)
def test_every_shipped_scenario_passes_headless(headless_runs: dict[Path, Future], path: Path) -> None:
    done, seconds = headless_runs[path].result(timeout=RUN_TIMEOUT * len(RUNNABLE))
    report = f"\n--- stdout ---\n{done.stdout[-6000:]}\n--- stderr ---\n{done.stderr[-3000:]}"
    assert done.returncode == 0, report
    assert f"PASSED: {load_scenario(path).name} " in done.stdout, report


def test_a_broken_expectation_fails_naming_the_step_and_the_line(tmp_path: Path) -> None:
    """Lesson 4 expects the backup (mx2) to take the letter while mx1 is down; expect mx1 instead."""
    original = SCENARIOS / "04-primary-mx-down.yaml"
    text = original.read_text(encoding="utf-8")
    right = "  - expect: {via: mx2.beta.test, rcpt: bob@beta.test}\n"
    assert text.count(right) == 1
    broken = tmp_path / "04-primary-mx-down.yaml"
    broken.write_text(text.replace(right, right.replace("mx2", "mx1")), encoding="utf-8")
    line = text[: text.index(right)].count("\n") + 1
    index = next(i for i, step in enumerate(load_scenario(broken).steps) if step.line == line) + 1

    done, _ = _run(broken)

    assert done.returncode == 1, done.stdout + done.stderr
    assert f"FAILED: {broken}:{line}: step {index} (expect)" in done.stdout, done.stdout
    failure = done.stdout[done.stdout.index("FAILED:"):]
    assert "mx1.beta.test" in failure and "mx2.beta.test" in failure     # what was wanted, what happened
