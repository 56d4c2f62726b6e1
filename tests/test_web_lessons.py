"""The lesson API of the web UI (simulator/web/lessons.py) and what a swap of the world does to the
pages: the library, loading a lesson or a teacher's own file (a broken one names every problem and
leaves the running world untouched), reset, next step, faults from the page, following the teacher.

Everything runs against a real lesson director on free loopback ports; the browser is played by
Flask's and Flask-SocketIO's test clients.
"""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from conftest import make_config
from simulator import web
from simulator.scenario import DEFAULT_SCENARIO, load_scenario
from web_fixtures import BROKEN, Browserish, send_mail, socket_messages, start_director, wait_until

ROOT = Path(__file__).resolve().parent.parent
LESSON = "04-primary-mx-down"


SMALL = """\
name: small-world
title: {en: A small world, ru: Маленький мир}
summary: {en: Two domains, ru: Два домена}
level: intro
goals: {en: [See a letter], ru: [Увидеть письмо]}
domains:
  alpha.test:
    users: {alice: alice}
    hosts:
      smtp.alpha.test: {role: msa}
      mx.alpha.test: {role: mx}
    mx: [{preference: 10, host: mx.alpha.test}]
  beta.test:
    users: {bob: bob}
    hosts:
      mx.beta.test: {role: mx}
    mx: [{preference: 10, host: mx.beta.test}]
steps:
  - say: {en: "Alice writes.", ru: "Алиса пишет."}
    pause: true
  - send: {from: alice@alpha.test, to: bob@beta.test, subject: Hi}
  - expect: {delivered: bob@beta.test}
"""


@pytest.fixture
def lessons(tmp_path):
    """A director running the default world and the web app on it; yields (director, app)."""
    made = []

    def start(scenario=None, **test_config):
        director = start_director(make_config(tmp_path / f"data{len(made)}"),
                                  load_scenario(scenario or DEFAULT_SCENARIO))
        app = web.create_app(director, {"TESTING": True, **test_config})
        made.append((director, app))
        return director, app
    yield start
    for director, app in made:
        app.extensions["mailflow"].bridge.stop()
        director.stop()


def socket_client(app):
    return app.extensions["mailflow"].socketio.test_client(app)


def collect(client, predicate, timeout: float = 20.0) -> list[dict]:
    seen: list[dict] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen.extend(client.get_received())
        if predicate(seen):
            return seen
        time.sleep(0.03)
    raise AssertionError(f"the socket never got it; got {[m['name'] for m in seen]}")


# -- reading ------------------------------------------------------------------------------------------
def test_the_library_lists_every_lesson_with_its_words(lessons):
    director, app = lessons()
    answer = app.test_client().get("/api/lessons")
    assert answer.status_code == 200
    library = {item["name"]: item for item in answer.json["lessons"]}
    assert answer.json["current"] == "default"
    lesson = library[LESSON]
    assert lesson["level"] == "core" and lesson["steps"] > 5
    for part in ("title", "summary"):
        assert lesson[part]["en"] and lesson[part]["ru"] and lesson[part]["en"] != lesson[part]["ru"]
    assert lesson["goals"]["en"] and len(lesson["goals"]["en"]) == len(lesson["goals"]["ru"])
    assert sum(1 for item in library.values() if item["level"]) >= 15


def test_state_carries_the_scenario_the_lesson_and_the_faults(lessons):
    director, app = lessons(ROOT / "scenarios" / f"{LESSON}.yaml")
    state = app.test_client().get("/api/state").json
    assert state["lessons"] is True and state["faults"] == []
    assert state["scenario"]["name"] == LESSON and state["scenario"]["level"] == "core"
    assert state["scenario"]["goals"]["ru"]
    lesson = state["lesson"]
    assert lesson["state"] == "ready" and lesson["current"] == 0
    assert [s["action"] for s in lesson["steps"]][:2] == ["say", "host_down"]
    assert app.test_client().get("/api/lesson/state").json["steps"] == lesson["steps"]


# -- changing the world -------------------------------------------------------------------------------
def test_loading_a_lesson_swaps_the_world_and_every_page_reloads(lessons):
    director, app = lessons()
    teacher = Browserish(app)
    page = socket_client(app)
    page.get_received()
    old = director.stack
    send_mail(old, subject="Before the swap")
    answer = teacher.post("/api/lesson", {"name": LESSON})
    assert answer.status_code == 200, answer.json
    assert answer.json["scenario"]["name"] == LESSON and answer.json["lesson"]["name"] == LESSON
    assert director.stack is not old and app.extensions["mailflow"].stack is director.stack
    got = collect(page, lambda seen: socket_messages(seen, "world") and socket_messages(seen, "lesson"))
    names = [m["name"] for m in got]
    assert names.index("world") < len(names) - 1 - names[::-1].index("lesson")   # the lesson after the world
    assert socket_messages(got, "world")[0]["name"] == LESSON
    # the page reloads: the new world, a new baseline, no history of the old world
    state = teacher.get("/api/state").json
    assert [d["name"] for d in state["world"]["domains"]] == ["alpha.test", "beta.test"]
    assert state["baseline"]["seq"] >= answer.json["lesson"].get("seq", 0)
    assert state["world_changes"] == []
    events = teacher.get("/api/events?since=0").json["events"]
    assert not any(e.get("message", {}) and e["message"].get("subject") == "Before the swap" for e in events)
    # the controls act on the new world: its gate, its hosts
    assert teacher.post("/api/gate", {"action": "pause"}).status_code == 200
    wait_until(lambda: director.stack.gate.state().mode == "pause", what="the new gate paused")
    assert teacher.post("/api/hosts/mx2.beta.test", {"up": False}).status_code == 200
    assert director.stack.world.hosts["mx2.beta.test"].up is False
    # and a gate change of the new world reaches the pages
    got = collect(page, lambda seen: any(g["mode"] == "pause" for g in socket_messages(seen, "gate")))
    page.disconnect()


def test_loading_needs_a_known_lesson(lessons):
    director, app = lessons()
    teacher = Browserish(app)
    old = director.stack
    unknown = teacher.post("/api/lesson", {"name": "no-such-lesson"})
    assert unknown.status_code == 404 and LESSON in unknown.json["error"] and "no-such-lesson" in unknown.json["error"]
    for body in ({}, {"name": ""}, {"name": 7}):
        answer = teacher.post("/api/lesson", body)
        assert answer.status_code == 400 and "name" in answer.json["error"]
    assert director.stack is old


def test_a_broken_scenario_file_names_every_problem_and_leaves_the_world_untouched(lessons):
    director, app = lessons()
    teacher = Browserish(app)
    old, scenario = director.stack, director.scenario
    answer = teacher.post("/api/scenario", {"text": BROKEN, "filename": "../../my lesson.yaml"})
    assert answer.status_code == 400
    problems = answer.json["problems"]
    assert "unchanged" in answer.json["error"] and str(len(problems)) in answer.json["error"]
    assert len(problems) >= 5, problems
    assert {p["file"] for p in problems} == {"my lesson.yaml"}            # the name, never a path
    lines = {p["line"] for p in problems}
    assert {9, 10, 11, 12, 13} <= lines, problems
    for p in problems:
        assert p["field"] and p["message"] and isinstance(p["line"], int)
    assert director.stack is old and director.scenario is scenario and old.world.hosts["mx1.beta.test"].up
    for body, status in (({}, 400), ({"text": ""}, 400), ({"text": "x", "filename": 3}, 400),
                         ({"text": "a: b\n" * 60_000}, 413)):
        answer = teacher.post("/api/scenario", body)
        assert answer.status_code == status and answer.json["error"], body
    assert director.stack is old


def test_a_teachers_own_file_loads_and_reset_starts_it_again(lessons):
    director, app = lessons()
    teacher = Browserish(app)
    answer = teacher.post("/api/scenario", {"text": SMALL, "filename": "small.yaml"})
    assert answer.status_code == 200, answer.json
    assert answer.json["scenario"]["title"] == {"en": "A small world", "ru": "Маленький мир"}
    assert director.scenario.name == "small-world"
    assert teacher.get("/api/lesson/state").json["state"] == "ready"
    # next step releases the first pause; the lesson then runs to its end
    state = teacher.post("/api/lesson/next", {}).json
    assert state["name"] == "small-world"
    wait_until(lambda: director.lesson_state()["state"] == "finished", timeout=30, what="the lesson's end")
    assert teacher.get("/api/state").json["mailboxes"]["bob@beta.test"] == 1
    stack = director.stack
    reset = teacher.post("/api/reset", {})
    assert reset.status_code == 200 and reset.json["lesson"]["state"] == "ready"
    assert director.stack is not stack and director.scenario.name == "small-world"
    assert teacher.get("/api/state").json["mailboxes"]["bob@beta.test"] == 0


def test_faults_from_the_page(lessons):
    director, app = lessons()
    teacher = Browserish(app)
    page = socket_client(app)
    answer = teacher.post("/api/fault", {"greylist": "mx1.beta.test", "delay": 0})
    assert answer.status_code == 200, answer.json
    assert [(f["kind"], f["target"]) for f in answer.json["faults"]] == [("greylist", "mx1.beta.test")]
    assert answer.json["faults"][0]["node"] == "mta:mx1.beta.test"
    state = teacher.get("/api/state").json
    assert [(f["kind"], f["target"]) for f in state["faults"]] == [("greylist", "mx1.beta.test")]
    collect(page, lambda seen: any(e["kind"] == "world.fault" for b in socket_messages(seen, "events") for e in b["events"]))
    assert teacher.post("/api/fault", {"servfail": "gamma.test"}).status_code == 200
    assert teacher.post("/api/fault", {"reply": "mx2.beta.test", "at": "RCPT", "code": 451,
                                       "text": "4.3.0 Try again later", "times": 1}).status_code == 200
    assert {f["kind"] for f in teacher.get("/api/state").json["faults"]} == {"greylist", "servfail", "reply"}
    cleared = teacher.post("/api/fault", {"greylist": "mx1.beta.test", "off": True})
    assert cleared.status_code == 200 and {f["kind"] for f in cleared.json["faults"]} == {"servfail", "reply"}
    again = teacher.post("/api/fault", {"greylist": "mx1.beta.test", "off": True})
    assert again.status_code == 404 and "greylist" in again.json["error"]
    for body in ({"melt": "mx1.beta.test"}, {"greylist": "nowhere.test"}, {"servfail": "nowhere.test"},
                 {"reply": "mx1.beta.test", "at": "RCPT", "code": 999}, {}, {"greylist": "mx1.beta.test", "off": 3}):
        bad = teacher.post("/api/fault", body)
        assert bad.status_code == 400 and bad.json["error"], (body, bad.json)
    page.disconnect()


# -- who may -----------------------------------------------------------------------------------------
def test_viewers_read_lessons_but_only_the_teacher_changes_them(lessons):
    director, app = lessons(SHARED=True, TEACHER_TOKEN="s3cret-token-for-tests")
    student = Browserish(app, remote_addr="192.168.1.23")
    old = director.stack
    assert student.get("/api/lessons").status_code == 200
    assert student.get("/api/lesson/state").status_code == 200
    for url, body in (("/api/lesson", {"name": LESSON}), ("/api/scenario", {"text": SMALL}), ("/api/reset", {}),
                      ("/api/lesson/next", {}), ("/api/fault", {"refuse": "mx1.beta.test"})):
        refused = student.post(url, body)
        assert refused.status_code == 403 and "teacher" in refused.json["error"], url
    # and a page of the teacher's without its CSRF token is refused too
    bare = app.test_client()
    assert bare.post("/api/reset", json={}).status_code == 403
    assert director.stack is old and director.stack.faults() == []


def test_a_page_on_a_bare_world_has_no_lessons(world):
    app = web.create_app(world.stack, {"TESTING": True})
    try:
        teacher = Browserish(app)
        state = teacher.get("/api/state").json
        assert state["lessons"] is False and state["lesson"] is None and state["scenario"]["name"] == "default"
        for method, url, body in (("GET", "/api/lessons", None), ("GET", "/api/lesson/state", None),
                                  ("POST", "/api/lesson", {"name": LESSON}), ("POST", "/api/reset", {}),
                                  ("POST", "/api/scenario", {"text": SMALL}), ("POST", "/api/lesson/next", {})):
            answer = teacher.get(url) if method == "GET" else teacher.post(url, body)
            assert answer.status_code == 503 and "lesson" in answer.json["error"], url
        # faults need only the stack
        assert teacher.post("/api/fault", {"refuse": "mx1.beta.test"}).status_code == 200
        assert teacher.post("/api/fault", {"refuse": "mx1.beta.test", "off": True}).status_code == 200
    finally:
        app.extensions["mailflow"].bridge.stop()


# -- following the teacher ------------------------------------------------------------------------
def test_viewers_follow_the_teacher(lessons):
    director, app = lessons(SHARED=True, TEACHER_TOKEN="s3cret-token-for-tests")
    socketio = app.extensions["mailflow"].socketio
    teacher_http = app.test_client()
    teacher_http.environ_base["REMOTE_ADDR"] = "127.0.0.1"
    student_http = app.test_client()
    student_http.environ_base["REMOTE_ADDR"] = "192.168.1.23"
    teacher = socketio.test_client(app, flask_test_client=teacher_http)
    student = socketio.test_client(app, flask_test_client=student_http)
    hello = socket_messages(student.get_received(), "hello")[0]
    assert hello["role"] == "viewer" and hello["follow"] is None and hello["lesson"]["name"] == "default"
    teacher.get_received()
    assert teacher.emit("follow", {"cursor": 12, "selected": 12, "step": 2, "trace": "abc", "evil": "x"},
                        callback=True) == {"ok": True}
    got = collect(student, lambda seen: socket_messages(seen, "follow"))
    assert socket_messages(got, "follow")[0] == {"cursor": 12, "selected": 12, "step": 2, "trace": "abc"}
    assert not socket_messages(teacher.get_received(), "follow")          # not echoed to the leader
    # a viewer does not lead
    refused = student.emit("follow", {"cursor": 1}, callback=True)
    assert refused["ok"] is False and "teacher" in refused["error"]
    # a page that joins later is greeted with the teacher's view; junk is cleaned
    assert teacher.emit("follow", {"cursor": "12", "step": -1, "trace": "x" * 500}, callback=True)["ok"]
    late = socketio.test_client(app, flask_test_client=student_http)
    hello = socket_messages(late.get_received(), "hello")[0]
    assert hello["follow"] == {"cursor": None, "selected": None, "step": None, "trace": ""}
    # a swap of the world forgets it (the hop was the old world's)
    Browserish(app).post("/api/reset", {})
    fresh = socketio.test_client(app, flask_test_client=student_http)
    assert socket_messages(fresh.get_received(), "hello")[0]["follow"] is None
    for client in (teacher, student, late, fresh):
        client.disconnect()
