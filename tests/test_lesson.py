"""The lesson runner and the director: scripts run against a real world on free loopback ports.

Every kind of ``expect`` is shown to pass where the world does what it says and to fail where it does
not (with what happened); the director swaps and resets the world without a restart, keeps the old
run's log, reads the last log back after a restart, and leaves the world untouched when a scenario is
broken; the headless CLI exits non-zero naming the failed step and writes JUnit.
"""
from __future__ import annotations

import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Callable, Iterator

import pytest

from conftest import make_config
from simulator.facts import LessonExpectation
from simulator.lesson import Director, RunState, StepStatus
from simulator.scenario import ScenarioError, load_scenario, parse_scenario
from web_fixtures import wait_until

ROOT = Path(__file__).resolve().parent.parent

WORLD = """\
name: test-lesson
title: {en: A test lesson, ru: Проверочный урок}
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
      mx1.beta.test: {role: mx}
      mx2.beta.test: {role: backup-mx}
    mx:
      - {preference: 10, host: mx1.beta.test}
      - {preference: 20, host: mx2.beta.test}
steps:
"""


@pytest.fixture
def lesson(tmp_path: Path) -> Iterator[Callable[..., Director]]:
    directors: list[Director] = []

    def run(steps: str, *, interactive: bool = False, wait: bool = True) -> Director:
        scenario = parse_scenario(WORLD + textwrap.indent(textwrap.dedent(steps), "  "), "lesson.yaml")
        director = Director(make_config(tmp_path / f"data{len(directors)}"), scenario, interactive=interactive,
                            time_scale=0.01, resume=False)
        directors.append(director)
        director.start()
        if wait and not interactive:
            assert director.run is not None and director.run.join(timeout=60)
        return director

    yield run
    for director in directors:
        director.stop()


def expectation(director: Director) -> LessonExpectation:
    assert director.run is not None
    found = [r.fact for r in director.run.results if isinstance(r.fact, LessonExpectation)]
    assert found, "no expectation was checked"
    return found[-1]


SEND = "- send: {from: alice@alpha.test, to: bob@beta.test, subject: Hi}\n"


# --- every kind of expectation passes where it holds, and fails where it does not ------------------

@pytest.mark.parametrize(("name", "steps", "passes"), [
    ("delivered", SEND + "- expect: {delivered: bob@beta.test, copies: 1}", True),
    ("delivered-wrong-count", SEND + "- expect: {delivered: bob@beta.test, copies: 2, timeout: 5}", False),
    ("delivered-never", "- host_down: mx1.beta.test\n- host_down: mx2.beta.test\n" + SEND
     + "- expect: {delivered: bob@beta.test, timeout: 1}", False),
    ("bounced", "- send: {from: alice@alpha.test, to: nobody@beta.test}\n- expect: {bounced: nobody@beta.test, status: 5.1.1}", True),
    ("bounced-other-status", "- send: {from: alice@alpha.test, to: nobody@beta.test}\n"
     "- expect: {bounced: nobody@beta.test, status: 4.4.1, timeout: 5}", False),
    ("bounced-but-delivered", SEND + "- expect: {bounced: bob@beta.test, timeout: 5}", False),
    ("deferred-then-delivered", "- host_down: mx1.beta.test\n- host_down: mx2.beta.test\n" + SEND
     + "- wait: {for: deferred, rcpt: bob@beta.test}\n- host_up: mx1.beta.test\n"
       "- expect: {deferred: bob@beta.test, then: delivered}", True),
    ("deferred-never", SEND + "- expect: {deferred: bob@beta.test, timeout: 5}", False),
    ("via-backup", "- host_down: mx1.beta.test\n" + SEND + "- expect: {via: mx2.beta.test, rcpt: bob@beta.test}", True),
    ("via-wrong-mx", SEND + "- expect: {via: mx2.beta.test, rcpt: bob@beta.test, timeout: 5}", False),
    ("mailbox", SEND + SEND + "- wait: {for: quiet}\n- expect: {mailbox: bob@beta.test, messages: 2}", True),
    ("mailbox-emptied-by-pop3", SEND + "- wait: {for: delivered, rcpt: bob@beta.test}\n"
     "- fetch: {user: bob@beta.test, protocol: pop3, keep: false}\n- expect: {mailbox: bob@beta.test, messages: 1, timeout: 5}", False),
    ("reply", "- send: {from: alice@alpha.test, to: nobody@beta.test}\n- expect: {reply: 550, at: RCPT, host: mx1.beta.test}", True),
    ("reply-not-seen", SEND + "- expect: {reply: 550, at: RCPT, timeout: 5}", False),
])
def test_each_expectation_passes_or_fails_on_what_happened(lesson, name: str, steps: str, passes: bool) -> None:
    director = lesson(steps)
    fact = expectation(director)
    assert fact.passed is passes, dict(fact.found)
    assert director.run.run_state is (RunState.FINISHED if passes else RunState.FAILED)
    if not passes:
        step, result = director.run.failure()
        assert step.action == "expect" and result.status is StepStatus.FAILED
        assert fact.file == "lesson.yaml" and fact.line == step.line
        assert dict(fact.found), "a failure says what happened"


def test_a_failure_stops_the_script_and_skips_the_rest(lesson) -> None:
    director = lesson(SEND + "- expect: {bounced: bob@beta.test, timeout: 3}\n" + SEND)
    statuses = [r.status for r in director.run.results]
    assert statuses == [StepStatus.DONE, StepStatus.FAILED, StepStatus.SKIPPED]


def test_a_refused_submission_is_a_fact_not_an_error(lesson) -> None:
    director = lesson("- send: {from: alice@alpha.test, to: bob@beta.test, password: wrong}\n"
                      "- expect: {reply: 535, at: AUTH}")
    assert director.run.passed
    assert director.run.results[0].detail["code"] == 535


def test_a_step_that_cannot_be_done_fails_the_run(lesson) -> None:
    director = lesson("- host_down: mx1.beta.test\n- fetch: {user: bob@beta.test, protocol: imap}\n")
    assert director.run.run_state is RunState.FAILED
    assert director.run.results[1].status is StepStatus.FAILED
    assert director.run.results[1].fact.reason.code == "step.connect"


def test_fetch_reads_the_mailbox_over_imap_and_keeps_it(lesson) -> None:
    director = lesson(SEND + "- wait: {for: delivered, rcpt: bob@beta.test}\n"
                      "- fetch: {user: bob@beta.test, protocol: imap, keep: true}\n"
                      "- expect: {mailbox: bob@beta.test, messages: 1}")
    assert director.run.passed
    assert director.run.results[2].detail == {"messages": 1}


# --- interactive: the world waits for the teacher --------------------------------------------------

def test_interactive_run_waits_before_the_first_step_and_at_each_pause(lesson) -> None:
    director = lesson("- say: {en: Look, ru: Смотрите}\n  pause: true\n" + SEND
                      + "- expect: {delivered: bob@beta.test}\n  pause: true\n", interactive=True)
    run = director.run
    wait_until(lambda: run.run_state is RunState.READY)
    assert [s["status"] for s in run.state()["steps"]] == ["waiting", "pending", "pending"]
    director.next_step()
    wait_until(lambda: run.run_state is RunState.WAITING and run.current == 2)
    assert run.state()["steps"][1]["status"] == "done"
    director.next_step()
    assert run.join(timeout=30) and run.passed
    steps = director.lesson_state()["steps"]
    assert steps[0]["say"] == {"en": "Look", "ru": "Смотрите"}
    assert steps[2]["text"]["ru"]["summary"]          # the expectation is worded in both languages


# --- the director: swap, reset, logs ---------------------------------------------------------------

def test_reset_gives_a_fresh_world_and_keeps_the_old_run_in_its_log(lesson) -> None:
    director = lesson(SEND + "- expect: {delivered: bob@beta.test}")
    old_log = director.bus.log_path
    old_stack = director.stack
    seen: list[str] = []
    director.subscribe(lambda kind, payload: seen.append(kind))
    director.reset()
    assert director.stack is not old_stack and director.bus.log_path != old_log
    assert "lesson.expect" in old_log.read_text(encoding="utf-8")      # the old run stays on disk
    assert not (director.config.data_dir / "mail" / "beta.test" / "bob" / "new").exists() or \
        not any((director.config.data_dir / "mail" / "beta.test" / "bob" / "new").iterdir()) or \
        director.run is not None                    # the new run may already deliver again
    assert director.run.join(timeout=60) and director.run.passed
    assert seen[:2] == ["world", "lesson"]
    assert all(e.seq > 0 for e in director.bus.since(0))


def test_a_broken_scenario_leaves_the_running_world_untouched(lesson) -> None:
    director = lesson(SEND + "- expect: {delivered: bob@beta.test}")
    stack, scenario = director.stack, director.scenario
    with pytest.raises(ScenarioError) as caught:
        director.load_text("domains: {a.test: {hosts: {x.b.test: {role: mx}}}}\nsteps: [{jump: 1}]\n", "mine.yaml")
    assert {p.field for p in caught.value.problems} >= {"steps[0].jump"}
    assert all(p.path == "mine.yaml" for p in caught.value.problems)
    assert director.stack is stack and director.scenario is scenario
    assert director.stack.listener_table()                         # still listening


def test_the_library_lists_lessons_and_loads_one_by_name(tmp_path: Path) -> None:
    library = tmp_path / "lib"
    library.mkdir()
    (library / "01-first.yaml").write_text(WORLD.replace("name: test-lesson", "name: first\nlevel: intro\n"
                                           "goals: {en: [Send], ru: [Отправить]}") + "  " + SEND, encoding="utf-8")
    (library / "broken.yaml").write_text("domains: []\n", encoding="utf-8")
    director = Director(make_config(tmp_path / "data"), load_scenario(library / "01-first.yaml"),
                        library=library, interactive=True, resume=False)
    director.start()
    try:
        listed = director.library()
        assert [item["name"] for item in listed] == ["first"]      # a broken file is left out
        assert listed[0]["level"] == "intro" and listed[0]["goals"]["ru"] == ["Отправить"]
        director.load_named("first")
        assert director.scenario.name == "first" and director.lesson_state()["state"] == "ready"
        with pytest.raises(KeyError):
            director.load_named("nothing-like-it")
    finally:
        director.stop()


def test_after_a_restart_the_last_runs_history_is_read_back(tmp_path: Path) -> None:
    scenario = parse_scenario(WORLD + "  " + SEND + "  - expect: {delivered: bob@beta.test}\n", "lesson.yaml")
    config = make_config(tmp_path / "data")
    first = Director(config, scenario, interactive=False, resume=False)
    first.start()
    assert first.run.join(timeout=60) and first.run.passed
    kinds = [e.kind for e in first.bus.since(0)]
    last_seq = first.bus.last_seq
    first.stop()

    again = Director(make_config(tmp_path / "data"), load_scenario_text(WORLD), interactive=True)
    try:
        history = again.bus.since(0)
        assert [e.kind for e in history] == kinds
        assert history[-1].text["ru"]["summary"]             # words kept from the log
        again.start()
        assert again.bus.last_seq >= last_seq               # new events continue the numbering
    finally:
        again.stop()


def load_scenario_text(text: str):
    return parse_scenario(text, "world.yaml")


# --- the headless CLI ------------------------------------------------------------------------------

def test_the_cli_runs_a_lesson_headless_and_fails_naming_the_step(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(WORLD + "  - host_down: mx1.beta.test\n  " + SEND
                    + "  - expect: {via: mx2.beta.test, rcpt: bob@beta.test}\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "app.py", "--scenario", str(good), "--run",
                           "--junit", str(tmp_path / "good.xml")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASSED" in done.stdout and "mta:smtp.alpha.test" in done.stdout     # the hop trace
    suite = ET.parse(tmp_path / "good.xml").getroot().find("testsuite")
    assert suite.get("tests") == "3" and suite.get("failures") == "0"

    bad = tmp_path / "bad.yaml"
    bad.write_text(WORLD + "  " + SEND + "  - expect: {via: mx2.beta.test, rcpt: bob@beta.test, timeout: 5}\n",
                   encoding="utf-8")
    done = subprocess.run([sys.executable, "app.py", "--scenario", str(bad), "--run",
                           "--junit", str(tmp_path / "bad.xml")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    line = WORLD.count("\n") + 2
    assert f"FAILED: {bad}:{line}: step 2 (expect)" in done.stdout
    suite = ET.parse(tmp_path / "bad.xml").getroot().find("testsuite")
    failed = [case for case in suite.iter("testcase") if case.find("failure") is not None]
    assert [case.get("line") for case in failed] == [str(line)]
    assert "mx1.beta.test" in failed[0].find("failure").text        # what happened: accepted by mx1


def test_the_cli_reports_a_broken_scenario_with_file_line_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_text(WORLD + "  - expect: {delivered: nobody@nowhere.test}\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "app.py", "--scenario", str(bad), "--run"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert f"{bad}:{WORLD.count(chr(10)) + 1}: steps[0].expect.delivered" in done.stderr


def test_a_wait_waits_for_its_own_message_not_an_earlier_one(lesson) -> None:
    director = lesson(SEND + "- wait: {for: delivered, rcpt: bob@beta.test}\n" + SEND
                      + "- wait: {for: delivered, rcpt: bob@beta.test}\n"
                        "- expect: {mailbox: bob@beta.test, messages: 2, timeout: 1}")
    assert director.run.passed, director.run.state()


def test_time_stands_still_while_the_teacher_holds_the_world(lesson) -> None:
    """Stepping hop by hop takes as long as the class needs: an expectation does not time out."""
    director = lesson(SEND + "- expect: {delivered: bob@beta.test, timeout: 0.5}\n", interactive=True)
    gate = director.stack.gate
    gate.pause()
    director.next_step()                                   # begin: the submission waits at the gate
    wait_until(lambda: gate.state().waiting)
    import time
    time.sleep(1.0)                                        # twice the expectation's timeout, held
    assert director.run.run_state is RunState.RUNNING
    gate.play()
    assert director.run.join(timeout=30) and director.run.passed


def test_send_carries_attachments_cc_and_bcc_as_a_real_mua_would(lesson) -> None:
    director = lesson("- send: {from: alice@alpha.test, to: bob@beta.test, bcc: [alice@alpha.test], subject: Photo,\n"
                      "          attachments: [{name: photo.jpg, size: 200000}, {name: notes.txt, content: hello}]}\n"
                      "- expect: {delivered: bob@beta.test}\n- expect: {delivered: alice@alpha.test}")
    assert director.run.passed, director.run.state()
    box = director.config.data_dir / "mail" / "beta.test" / "bob" / "new"
    (path,) = list(box.iterdir())
    data = path.read_bytes()
    assert len(data) > 200000 and b'filename="photo.jpg"' in data and b'filename="notes.txt"' in data
    head = data.split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0]
    assert b"\nBcc:" not in head             # Bcc is envelope only: no header names alice


# --- what a real MTA does with a refusing greeting, a 421, a broken parent zone --------------------

def test_a_554_greeting_sends_the_mail_to_the_next_mx(lesson) -> None:
    director = lesson("- fault: {reply: mx1.beta.test, at: CONNECT, code: 554, text: \"5.3.2 no SMTP service here\"}\n"
                      + SEND + "- expect: {via: mx2.beta.test, rcpt: bob@beta.test}")
    assert director.run.passed, director.run.state()


def test_a_421_at_rcpt_closes_the_session_and_the_message_waits(lesson) -> None:
    director = lesson("- fault: {reply: mx1.beta.test, at: RCPT, code: 421, text: \"4.3.2 shutting down\", times: 1}\n"
                      + SEND + "- expect: {deferred: bob@beta.test, then: delivered}")
    assert director.run.passed, director.run.state()


def test_a_zone_fault_leaves_a_zone_of_its_own_below_it_answering(tmp_path: Path) -> None:
    text = WORLD.replace("steps:\n", """\
  sub.beta.test:
    users: {carol: carol}
    hosts:
      mx.sub.beta.test: {role: mx}
faults:
  - {servfail: beta.test}
steps:
  - send: {from: alice@alpha.test, to: [carol@sub.beta.test, bob@beta.test]}
  - expect: {delivered: carol@sub.beta.test}
  - expect: {deferred: bob@beta.test}
""")
    director = Director(make_config(tmp_path / "data"), parse_scenario(text, "nested.yaml"), interactive=False,
                        resume=False)
    director.start()
    try:
        assert director.run.join(timeout=60) and director.run.passed, director.run.state()
    finally:
        director.stop()


def test_a_reset_in_the_middle_of_a_step_says_nothing_in_the_old_or_new_log(lesson) -> None:
    director = lesson(SEND + "- expect: {delivered: bob@beta.test}\n", interactive=True)
    director.stack.gate.pause()
    director.next_step()                                   # the submission now waits at the gate
    wait_until(lambda: director.stack.gate.state().waiting)
    old_log = director.bus.log_path
    director.reset()
    new_kinds = [e.kind for e in director.bus.since(0)]
    assert "lesson.error" not in new_kinds and "lesson.end" not in new_kinds
    old_kinds = old_log.read_text(encoding="utf-8")
    assert "lesson.error" not in old_kinds and "lesson.end" not in old_kinds
    assert director.lesson_state()["state"] == "ready"


def test_a_double_click_on_next_step_does_not_skip_the_next_pause(lesson) -> None:
    director = lesson("- say: {en: One, ru: Один}\n- say: {en: Two, ru: Два}\n  pause: true\n"
                      "- say: {en: Three, ru: Три}\n", interactive=True)
    run = director.run
    wait_until(lambda: run.run_state is RunState.READY)
    released = run._set

    def second_click_in_the_window(index, status, run_state=None):
        if index == 0 and status is StepStatus.RUNNING:
            run.next_step()                   # the run has left its pause but still reads "ready"
        released(index, status, run_state)

    run._set = second_click_in_the_window
    director.next_step()
    wait_until(lambda: run.run_state is RunState.WAITING and run.current == 1)
    assert run.state()["steps"][1]["status"] == "waiting"
    director.next_step()
    assert run.join(timeout=10) and run.passed
