"""The lesson API (a Blueprint under ``/api``): the library, loading and resetting the world, a
teacher's own scenario file, the next step of a lesson, and faults set from the page.

    GET  /api/lessons              the library: [{name, title, summary, level, goals, steps}], current
    GET  /api/lesson/state         where the lesson stands (the director's lesson_state())
    POST /api/lesson {name}        load a lesson of the library (a new world; the old run stays in its log)
    POST /api/scenario {text, filename}   load a teacher's own scenario file; a broken one is a 400
                                   with every problem {file, line, field, message}, the world untouched
    POST /api/reset                the same scenario again: fresh mailboxes and queues
    POST /api/lesson/next          release a paused step ("next step")
    POST /api/fault {<kind>: <target>, ...params}   set a fault; with ``"off": true`` clear it

The world-changing routes belong to the director (``simulator.lesson.Director``): on a page started
on a bare mail stack they answer 503 with a message.  Faults need only the stack.  Every POST passed
guard.py first (CSRF, JSON, teacher).
"""
from __future__ import annotations

import logging
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from flask import Blueprint, jsonify, request

from ..scenario import ScenarioError, parse_fault
from .context import ApiError, current, running_director, running_stack

if TYPE_CHECKING:
    from ..runtime import MailStack
    from ..scenario import Scenario

log = logging.getLogger(__name__)

lessons = Blueprint("lessons", __name__, url_prefix="/api")

MAX_SCENARIO = 200_000        # characters of a scenario file sent from the page
MAX_PROBLEMS = 200            # problems listed in one answer


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object")
    return body


def problems_of(err: ScenarioError) -> list[dict[str, Any]]:
    """A broken scenario's problems as the page shows them."""
    return [{"file": p.path, "line": p.line, "field": p.field, "message": p.message}
            for p in err.problems[:MAX_PROBLEMS]]


def _scenario_error(err: ScenarioError, what: str) -> ApiError:
    count = len(err.problems)
    return ApiError(400, f"{what}: {count} problem{'s' if count != 1 else ''}; the running world is unchanged",
                    problems=problems_of(err))


def _swap_failed(err: OSError) -> ApiError:
    log.warning("the new world could not start", exc_info=True)
    return ApiError(503, f"the new world could not start: {err}")


def scenario_info(scenario: "Scenario") -> dict[str, Any]:
    """What the page shows about the running scenario: title, summary, level and goals."""
    level = getattr(scenario, "level", None)
    goals = getattr(scenario, "goals", None)
    return {
        "name": scenario.name,
        "title": {"en": scenario.title.en, "ru": scenario.title.ru},
        "summary": {"en": scenario.summary.en, "ru": scenario.summary.ru},
        "level": level.value if level is not None else None,
        "goals": {"en": list(goals.en), "ru": list(goals.ru)} if goals is not None else {"en": [], "ru": []},
        "steps": len(scenario.steps),
    }


def lesson_state() -> dict[str, Any] | None:
    """The director's lesson state, or None on a page without one."""
    director = current().director
    return director.lesson_state() if director is not None else None


# -- reading --------------------------------------------------------------------------------------
@lessons.get("/lessons")
def library():
    director = running_director()
    return jsonify(lessons=director.library(), current=director.scenario.name)


@lessons.get("/lesson/state")
def state():
    return jsonify(running_director().lesson_state())


# -- changing the world (the teacher's) ----------------------------------------------------------
@lessons.post("/lesson")
def load_lesson():
    director = running_director()
    name = _body().get("name")
    if not isinstance(name, str) or not name.strip():
        raise ApiError(400, "give the lesson's name: {\"name\": \"...\"}")
    try:
        director.load_named(name.strip())
    except KeyError:
        names = ", ".join(item["name"] for item in director.library())
        raise ApiError(404, f"no lesson named {name[:80]!r}; the library has: {names}") from None
    except ScenarioError as err:          # a lesson file broken since the library was listed
        raise _scenario_error(err, f"the lesson {name[:80]!r} does not load") from None
    except OSError as err:
        raise _swap_failed(err) from None
    return jsonify(ok=True, lesson=director.lesson_state(), scenario=scenario_info(director.scenario))


@lessons.post("/scenario")
def load_file():
    director = running_director()
    body = _body()
    text, filename = body.get("text"), body.get("filename", "scenario.yaml")
    if not isinstance(text, str) or not text.strip():
        raise ApiError(400, "give the scenario file's text: {\"text\": \"...\", \"filename\": \"...\"}")
    if len(text) > MAX_SCENARIO:
        raise ApiError(413, f"the scenario file is too long (at most {MAX_SCENARIO} characters)")
    if not isinstance(filename, str):
        raise ApiError(400, "filename must be a string")
    filename = PurePath(filename.replace("\\", "/")).name[:120] or "scenario.yaml"
    try:
        director.load_text(text, filename)
    except ScenarioError as err:
        raise _scenario_error(err, f"{filename} does not load") from None
    except OSError as err:
        raise _swap_failed(err) from None
    return jsonify(ok=True, lesson=director.lesson_state(), scenario=scenario_info(director.scenario))


@lessons.post("/reset")
def reset():
    director = running_director()
    _body()
    try:
        director.reset()
    except OSError as err:
        raise _swap_failed(err) from None
    return jsonify(ok=True, lesson=director.lesson_state())


@lessons.post("/lesson/next")
def next_step():
    director = running_director()
    _body()
    try:
        return jsonify(director.next_step())
    except (RuntimeError, ValueError) as err:      # nothing waits for "next step"
        raise ApiError(409, str(err)) from None


# -- faults ---------------------------------------------------------------------------------------
@lessons.post("/fault")
def fault():
    """``{<kind>: <target>, ...params}`` sets a fault, ``{..., "off": true}`` clears it; parsed by the
    scenario loader's ``parse_fault`` against the running scenario, as a step's fault would be."""
    stack = running_stack()
    body = _body()
    if not callable(getattr(stack, "set_fault", None)):
        raise ApiError(503, "this mail world cannot set faults")
    try:
        parsed, off = parse_fault(body, stack.world.scenario)
    except ScenarioError as err:
        raise ApiError(400, "; ".join(f"{p.field}: {p.message}" for p in err.problems) or "not a fault",
                       problems=problems_of(err)) from None
    kind, target = parsed.kind.value, parsed.target
    try:
        if off:
            if stack.clear_fault(kind, target) is None:
                raise ApiError(404, f"no {kind} fault is set on {target}")
        else:
            stack.set_fault(parsed)
    except (ValueError, KeyError) as err:
        raise ApiError(400, str(err).strip("'\"")) from None
    return jsonify(ok=True, faults=faults_of(stack))


def faults_of(stack: "MailStack") -> list[dict[str, Any]]:
    """The faults set in the world (``[]`` for a stack that has none)."""
    faults = getattr(stack, "faults", None)
    if not callable(faults):
        return []
    try:
        return list(faults())
    except Exception:      # the world is stopping: the page works without them
        log.debug("reading the faults failed", exc_info=True)
        return []
