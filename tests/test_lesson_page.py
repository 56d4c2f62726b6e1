"""Lessons in a real browser (Playwright driving Debian's Chromium): the picker, the narration panel
stepped to the end in both languages, a viewer following the teacher, reset and a broken scenario
from the page, faults drawn on their node, the timeline waiting for the diagram, the last run's
history after a restart, and presentation mode at 1280×720 and at 125 % zoom.

Each test runs a lesson director (simulator.lesson.Director) and the web UI on free loopback ports.
Screenshots go to artifacts/ (gitignored).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import make_config
from simulator import narrate, web
from simulator.narrate.markup import plain
from simulator.scenario import DEFAULT_SCENARIO, load_scenario
from test_browser import shot
from web_fixtures import BROKEN, browser, send_mail, start_director, wait_until  # noqa: F401  (browser: a fixture)

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
LESSON = "04-primary-mx-down"
LESSON_FILE = ROOT / "scenarios" / f"{LESSON}.yaml"
EN = narrate.ui("en")
RU = narrate.ui("ru")



@pytest.fixture
def classroom(tmp_path):
    """A director and its web UI; ``start(scenario, **test_config) -> (director, server)``."""
    made = []

    def start(scenario: Path = DEFAULT_SCENARIO, *, config=None, resume: bool = False, **test_config):
        config = config or make_config(tmp_path / f"data{len(made)}")
        director = start_director(config, load_scenario(scenario), resume=resume)
        server = web.serve(director, config, test_config=test_config or None, quiet=True)
        made.append((director, server))
        return director, server
    yield start
    for director, server in made:
        server.shutdown()
        director.stop()


def open_page(browser, url: str, *, size=(1280, 720), zoom: float = 1.0, lang: str = "en", present: bool = False):
    """A page as a browser at ``zoom`` (125 %: device pixels 1280×720, CSS pixels 1024×576)."""
    context = browser.new_context(viewport={"width": round(size[0] / zoom), "height": round(size[1] / zoom)},
                                  device_scale_factor=zoom)
    context.add_init_script(f"localStorage.setItem('mailflow.lang', '{lang}');"
                            f"if (localStorage.getItem('mailflow.present') === null) "
                            f"localStorage.setItem('mailflow.present', '{'1' if present else '0'}');")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors
    page.goto(url)
    page.wait_for_selector("body[data-ready=yes]", timeout=15000)
    return page


def lesson_state(page) -> str:
    return page.get_attribute("#narration", "data-state") or ""


def set_lang(page, lang: str) -> None:
    page.click(f'button[data-lang="{lang}"]')
    page.wait_for_function("lang => document.documentElement.lang === lang", arg=lang)


def narration(page) -> str:
    return page.inner_text("#narration-text").strip()


def said(step: dict, lang: str) -> str:
    return " ".join(plain(step["say"][lang]).split())


def swapped(page, director, old_stack, server) -> None:
    """Wait until the director runs a new world and the page has reloaded it."""
    wait_until(lambda: director.stack is not old_stack, timeout=20, what="a new world")
    bridge = server.app.extensions["mailflow"].bridge
    wait_until(lambda: bridge.stack is director.stack, timeout=20, what="the bridge on the new world")
    page.wait_for_function("n => document.body.dataset.world === String(n) && document.body.dataset.ready === 'yes'",
                           arg=bridge.swaps, timeout=20000)


# ---------------------------------------------------------------------------------------------------
def test_the_primary_mx_down_lesson_from_the_picker_to_its_end_in_both_languages(classroom, browser):
    director, server = classroom()
    page = open_page(browser, server.url)
    # the picker: every lesson's title, level, summary and goals, in the page's language
    page.click("#btn-lessons")
    card = page.locator(f'#lesson-library [data-lesson="{LESSON}"]')
    card.wait_for()
    lesson = load_scenario(LESSON_FILE)
    assert card.locator("h4").inner_text() == lesson.title.en
    assert card.locator(".level-badge").inner_text() == EN["lesson.level.core"]
    assert card.locator(".lesson-summary").inner_text() == plain(lesson.summary.en)
    assert card.locator(".lesson-goals li").all_inner_texts() == [plain(g) for g in lesson.goals.en]
    assert page.locator("#lesson-library .lesson-card").count() >= 15
    shot(page, "lesson-picker")
    set_lang(page, "ru")
    assert card.locator("h4").inner_text() == lesson.title.ru
    assert card.locator(".level-badge").inner_text() == RU["lesson.level.core"]
    assert card.locator(".lesson-goals li").all_inner_texts() == [plain(g) for g in lesson.goals.ru]
    shot(page, "lesson-picker-ru")
    set_lang(page, "en")
    old = director.stack
    card.locator("button[data-load]").click()
    swapped(page, director, old, server)
    assert director.scenario.name == LESSON
    assert page.inner_text("#scenario-title") == lesson.title.en
    page.wait_for_selector("#narration:not([hidden])")
    assert not page.is_visible("#lessons-drawer")

    # step through: at every pause the narration of the step that waits, in English and in Russian
    steps = director.lesson_state()["steps"]
    total = len(steps)
    read: set[int] = set()
    for _ in range(total + 2):
        page.wait_for_function("() => ['ready', 'waiting', 'finished', 'failed'].includes("
                               "document.querySelector('#narration').dataset.state)", timeout=30000)
        state = lesson_state(page)
        if state in ("finished", "failed"):
            break
        shown = int(page.get_attribute("#narration", "data-shown"))
        step = steps[shown]
        assert page.inner_text("#narration-pos") == EN["lesson.position"].format(k=shown + 1, n=total)
        assert narration(page) == said(step, "en")
        set_lang(page, "ru")
        assert narration(page) == said(step, "ru")
        assert page.inner_text("#narration-pos") == RU["lesson.position"].format(k=shown + 1, n=total)
        shot(page, f"lesson-step-{shown + 1}-ru")
        set_lang(page, "en")
        read.add(shown)
        assert page.is_enabled("#btn-next-step") and page.is_visible("#btn-next-hop")
        current = page.get_attribute("#narration", "data-current")
        page.click("#btn-next-step")
        page.wait_for_function("c => document.querySelector('#narration').dataset.current !== c || "
                               "document.querySelector('#narration').dataset.state !== 'waiting' && "
                               "document.querySelector('#narration').dataset.state !== 'ready'", arg=current,
                               timeout=30000)
    page.wait_for_selector("#narration[data-state=finished]", timeout=60000)
    assert director.lesson_state()["state"] == "finished"
    assert len(read) >= 3                                  # before the first step, and two pauses
    chips = page.locator("#narration-steps .step-chip")
    assert chips.count() == total
    assert set(page.eval_on_selector_all("#narration-steps .step-chip", "els => els.map(e => e.dataset.status)")) \
        <= {"done", "passed"}
    checks = sum(1 for s in steps if s["action"] == "expect")
    assert page.inner_text("#narration-result") == EN["lesson.finished"].replace("{n#check|checks}", "checks") \
        .format(passed=checks, n=checks)
    shot(page, "lesson-finished")
    # every step's narration can be read again, in both languages (a click on its chip)
    for lang in ("en", "ru"):
        set_lang(page, lang)
        for step in steps:
            if not step["say"]:
                continue
            page.click(f'#narration-steps [data-step="{step["index"]}"]')
            page.wait_for_function("i => document.querySelector('#narration').dataset.shown === String(i)",
                                   arg=step["index"])
            assert narration(page) == said(step, lang), (lang, step["index"])
    shot(page, "lesson-finished-ru")
    # what the lesson did is in the timeline: a refused connection to mx1, then mx2
    page.wait_for_function("() => document.querySelectorAll('#timeline-list li.row[data-kind=\"mda.deliver\"]').length === 2",
                           timeout=30000)
    assert "mx1.beta.test" in page.locator('#timeline-list li.row[data-kind="smtp.attempt"]').first.inner_text()
    assert page.errors == []
    page.context.close()


def test_a_viewer_follows_the_teachers_hop_and_step_and_may_explore_alone(classroom, browser):
    director, server = classroom(LESSON_FILE, TRUST_LOOPBACK=False)
    teacher = open_page(browser, server.teacher_url)
    viewer = open_page(browser, server.url, lang="ru")
    other = open_page(browser, server.url)                 # a second student, who keeps following
    assert teacher.get_attribute('meta[name="mailflow-role"]', "content") == "teacher"
    assert viewer.get_attribute('meta[name="mailflow-role"]', "content") == "viewer"
    assert viewer.is_visible("#btn-follow") and not teacher.is_visible("#btn-follow")
    assert not viewer.is_visible("#btn-next-step")
    # the teacher starts the lesson: the viewer's current step moves with it
    teacher.click("#btn-next-step")
    teacher.wait_for_selector("#narration[data-state=waiting]", timeout=30000)
    viewer.wait_for_selector("#narration[data-state=waiting]", timeout=30000)
    assert viewer.get_attribute("#narration", "data-current") == teacher.get_attribute("#narration", "data-current")
    teacher.click("#btn-next-step")
    teacher.wait_for_selector("#narration[data-state=waiting]", timeout=30000)
    teacher.wait_for_function("() => document.querySelectorAll('#timeline-list li.row[data-kind=\"mda.deliver\"]').length >= 1",
                              timeout=30000)
    viewer.wait_for_function("() => document.querySelectorAll('#timeline-list li.row[data-kind=\"mda.deliver\"]').length >= 1",
                             timeout=30000)
    # the teacher selects a hop: the viewer's diagram, timeline and details go there
    row = teacher.locator('#timeline-list li.row[data-kind="smtp.attempt"]').first
    seq = row.get_attribute("data-seq")
    row.click()
    viewer.wait_for_selector(f'#timeline-list li.row.selected[data-seq="{seq}"]', timeout=10000)
    assert viewer.locator("#details-body .hop-meta").inner_text().startswith(f"#{seq}")
    assert viewer.is_visible("#review-banner")
    shot(viewer, "viewer-follows-hop")
    # ... back one hop, and to an earlier step's narration
    teacher.keyboard.press("ArrowLeft")
    before = teacher.get_attribute("#timeline-list li.row.selected", "data-seq")
    assert before != seq
    viewer.wait_for_selector(f'#timeline-list li.row.selected[data-seq="{before}"]', timeout=10000)
    teacher.click('#narration-steps [data-step="0"]')
    viewer.wait_for_function("() => document.querySelector('#narration').dataset.shown === '0'", timeout=10000)
    first = director.lesson_state()["steps"][0]
    assert narration(viewer) == said(first, "ru")
    # the viewer explores alone: the teacher's moves no longer move them
    viewer.locator('#timeline-list li.row[data-kind="mda.deliver"]').first.click()
    assert viewer.get_attribute("#btn-follow", "aria-pressed") == "false"
    mine = viewer.get_attribute("#timeline-list li.row.selected", "data-seq")
    other.wait_for_selector(f'#timeline-list li.row.selected[data-seq="{before}"]', timeout=10000)
    teacher.click("#btn-live")
    teacher.wait_for_selector("#review-banner", state="hidden")
    other.wait_for_selector("#review-banner", state="hidden", timeout=10000)      # the class went live
    assert viewer.get_attribute("#timeline-list li.row.selected", "data-seq") == mine
    assert viewer.is_visible("#review-banner")
    # ... and rejoins: back where the teacher is (live)
    viewer.click("#btn-follow")
    viewer.wait_for_selector("#review-banner", state="hidden", timeout=10000)
    assert viewer.get_attribute("#btn-follow", "aria-pressed") == "true"
    assert viewer.locator("#timeline-list li.row.selected").count() == 0
    # the next step of the lesson reaches the viewer too
    current = teacher.get_attribute("#narration", "data-current")
    teacher.click("#btn-next-step")
    viewer.wait_for_function("c => document.querySelector('#narration').dataset.current !== c", arg=current,
                             timeout=30000)
    assert teacher.errors == [] and viewer.errors == [] and other.errors == []
    for page in (teacher, viewer, other):
        page.context.close()


def test_reset_the_world_from_the_page(classroom, browser):
    director, server = classroom()
    page = open_page(browser, server.url)
    send_mail(director.stack, subject="Before the reset")
    page.wait_for_selector('#timeline-list li.row[data-kind="mda.deliver"]', timeout=20000)
    page.wait_for_selector('#diagram [data-node="mailbox:bob@beta.test"] .caption >> text=/· 1$/', timeout=10000)
    old, old_log = director.stack, director.bus.log_path
    page.click("#btn-lessons")
    page.click("#btn-reset")
    swapped(page, director, old, server)
    page.wait_for_selector("#timeline-list li.row", state="detached", timeout=10000)
    assert page.is_visible("#timeline-empty")
    page.wait_for_selector('#diagram [data-node="mailbox:bob@beta.test"] .caption >> text=/· 0$/', timeout=10000)
    assert director.scenario.name == "default" and old_log.exists() and director.bus.log_path != old_log
    # the new world works from the page
    send_mail(director.stack, subject="After the reset")
    page.wait_for_selector('#timeline-list li.row[data-kind="mda.deliver"]', timeout=20000)
    assert "After the reset" in page.inner_text("#timeline-list")
    assert "Before the reset" not in page.inner_text("#timeline-list")
    assert page.errors == []
    page.context.close()


def test_a_broken_scenario_from_the_page_lists_its_problems_and_leaves_the_world_untouched(classroom, browser, tmp_path):
    director, server = classroom()
    page = open_page(browser, server.url)
    broken = tmp_path / "my-lesson.yaml"
    broken.write_text(BROKEN, encoding="utf-8")
    old = director.stack
    page.click("#btn-lessons")
    page.set_input_files("#scenario-file", str(broken))
    page.wait_for_selector("#scenario-problems:not([hidden]) li", timeout=15000)
    items = page.locator("#scenario-problems li")
    assert items.count() >= 5
    lines = {int(x) for x in page.eval_on_selector_all("#scenario-problems li", "els => els.map(e => e.dataset.line)")}
    assert {9, 10, 11, 12, 13} <= lines
    assert all(text.startswith("my-lesson.yaml:") for text in items.locator("code.where").all_inner_texts())
    assert page.inner_text("#notice-text")            # the error, in the notice bar too
    shot(page, "broken-scenario")
    assert director.stack is old and director.scenario.name == "default"
    assert page.inner_text("#scenario-title") == director.scenario.title.en
    # a good file loads and the list goes
    good = tmp_path / "mine.yaml"
    good.write_text(LESSON_FILE.read_text(encoding="utf-8"), encoding="utf-8")
    page.set_input_files("#scenario-file", str(good))
    swapped(page, director, old, server)
    page.wait_for_selector("#scenario-problems", state="hidden")
    assert page.inner_text("#scenario-title") == load_scenario(LESSON_FILE).title.en
    assert page.errors == []
    page.context.close()


def test_a_fault_set_in_the_world_panel_is_drawn_on_its_node(classroom, browser):
    director, server = classroom()
    page = open_page(browser, server.url)
    page.click("#btn-world")
    page.select_option("#fault-kind", "greylist")
    page.select_option("#fault-target", "mx1.beta.test")
    page.click("#fault-set")
    page.wait_for_selector('#diagram .fault-tag[data-node="mta:mx1.beta.test"][data-kind="greylist"]', timeout=10000)
    assert [(f["kind"], f["target"]) for f in director.stack.faults()] == [("greylist", "mx1.beta.test")]
    assert page.locator('#fault-list li[data-kind="greylist"]').count() == 1
    page.select_option("#fault-kind", "servfail")
    page.select_option("#fault-target", "gamma.test")
    page.click("#fault-set")
    page.wait_for_selector('#diagram .fault-tag[data-kind="servfail"]', timeout=10000)
    shot(page, "faults-drawn")
    page.click('#fault-list button[data-kind="greylist"]')
    page.wait_for_selector('#diagram .fault-tag[data-kind="greylist"]', state="detached", timeout=10000)
    assert [f["kind"] for f in director.stack.faults()] == ["servfail"]
    assert page.errors == []
    page.context.close()


def test_the_timeline_lists_a_hop_only_once_the_diagram_has_drawn_it(classroom, browser):
    director, server = classroom()
    page = open_page(browser, server.url)
    send_mail(director.stack, subject="No spoilers")
    deliver = wait_until(lambda: next((e for e in director.bus.since(0) if e.kind == "mda.deliver"), None),
                         what="the delivery on the bus")
    # the page has the delivery (full speed: it came in one burst) but has not drawn it yet
    page.wait_for_function("seq => Number(document.body.dataset.lastSeq) >= seq", arg=deliver.seq, timeout=10000)
    assert page.locator('#timeline-list li.row[data-kind="mda.deliver"]').count() == 0
    assert page.locator("#diagram .token:not([display=none])").count() >= 1
    page.wait_for_selector('#timeline-list li.row[data-kind="mda.deliver"]', timeout=20000)
    drawn = page.eval_on_selector_all("#timeline-list li.row", "els => els.map(e => Number(e.dataset.seq))")
    assert drawn == sorted(drawn) and drawn[-1] == deliver.seq
    assert page.errors == []
    page.context.close()


def test_after_a_restart_the_page_shows_the_last_runs_history(classroom, browser, tmp_path):
    config = make_config(tmp_path / "kept")
    first = start_director(config, load_scenario(LESSON_FILE), interactive=False, time_scale=0.01)
    try:
        assert first.run is not None and first.run.join(timeout=90)
        assert first.lesson_state()["state"] == "finished"
        before = [e for e in first.bus.since(0) if not e.kind.startswith(("lesson.", "gate."))]
    finally:
        first.stop()
    director, server = classroom(LESSON_FILE, config=config, resume=True)
    page = open_page(browser, server.url)
    seqs = [e.seq for e in before]
    page.wait_for_function("n => document.querySelectorAll('#timeline-list li.row').length >= n", arg=len(seqs),
                           timeout=15000)
    shown = page.eval_on_selector_all("#timeline-list li.row", "els => els.map(e => Number(e.dataset.seq))")
    assert shown[:len(seqs)] == seqs
    # world changes of the last run are replayed while reviewing it: mx1 was down when mx2 took the letter
    via_mx2 = next(e for e in before if e.kind == "smtp.session" and e.dst == "mta:mx2.beta.test")
    page.click(f'#timeline-list li.row[data-seq="{via_mx2.seq}"]')
    page.wait_for_selector('#diagram [data-node="mta:mx1.beta.test"].down', timeout=10000)
    shot(page, "restart-history")
    # ... and live, the world is the one running now (mx1 up: a fresh start of the lesson)
    page.click("#btn-live")
    page.wait_for_selector('#diagram [data-node="mta:mx1.beta.test"]:not(.down)', timeout=10000)
    assert page.errors == []
    page.context.close()


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_presentation_mode_is_readable_at_720p_and_at_125_percent(classroom, browser, lang):
    director, server = classroom(LESSON_FILE)
    for pause in (3, 7):                         # the lesson runs to its second pause: narration, hops
        director.next_step()
        wait_until(lambda: director.lesson_state()["state"] == "waiting" and
                   director.lesson_state()["current"] >= pause - 1, timeout=30, what=f"the pause before step {pause}")
    normal = open_page(browser, server.url, lang=lang)
    base = normal.evaluate("parseFloat(getComputedStyle(document.querySelector('#narration-text')).fontSize)")
    normal.context.close()
    for zoom in (1.0, 1.25):
        page = open_page(browser, server.url, zoom=zoom, lang=lang, present=True)
        assert page.evaluate("document.body.classList.contains('present')")
        assert page.get_attribute("#btn-present", "aria-pressed") == "true"
        big = page.evaluate("parseFloat(getComputedStyle(document.querySelector('#narration-text')).fontSize)")
        assert big * zoom >= base * 1.15, (big, zoom, base)          # in device pixels: what the class sees
        page.locator('#timeline-list li.row[data-kind="smtp.session"]').first.click()
        page.get_by_role("tab", name=(EN if lang == "en" else RU)["details.transcript"]).click()
        problems = page.evaluate(FITS)
        assert problems == [], problems
        shot(page, f"present-{lang}-{round(zoom * 100)}")
        page.keyboard.press("p")                 # the toggle is remembered
        page.reload()
        page.wait_for_selector("body[data-ready=yes]")
        assert not page.evaluate("document.body.classList.contains('present')")
        page.context.close()


# Everything the teacher needs is inside the window, nothing of the top bar or the narration is cut,
# and the diagram's text is not shrunk below a readable size.
FITS = """() => {
  const out = [];
  const vw = document.documentElement.clientWidth, vh = document.documentElement.clientHeight;
  const inside = (sel) => {
    for (const el of document.querySelectorAll(sel)) {
      const r = el.getBoundingClientRect();
      if (r.width === 0 && r.height === 0) continue;
      if (r.left < -1 || r.top < -1 || r.right > vw + 1 || r.bottom > vh + 1) out.push(`${sel} outside the window`);
    }
  };
  ['#btn-play', '#btn-step', '#btn-lessons', '#btn-present', '.btn-lang', '#btn-next-step', '#btn-next-hop',
   '#narration-pos', '#btn-live', '#diagram'].forEach(inside);
  const bar = document.querySelector('.topbar');
  if (bar.scrollWidth > bar.clientWidth + 1) out.push('the top bar overflows');
  for (const sel of ['#narration-pos', '.narration-actions .btn', '.row .what']) {
    for (const el of document.querySelectorAll(sel)) {
      if (el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).textOverflow !== 'ellipsis') out.push(`${sel} is cut`);
    }
  }
  const text = document.querySelector('#narration-text');
  if (text.scrollHeight > text.clientHeight + 1) out.push('the narration needs scrolling');
  const svg = document.querySelector('#diagram');
  if (svg.getBoundingClientRect().height < vh * 0.45) out.push(`the diagram is ${Math.round(svg.getBoundingClientRect().height)} px high`);
  const head = document.querySelector('.narration-head');
  if (head.getBoundingClientRect().height > 80) out.push('the narration head takes several lines');
  const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
  const label = document.querySelector('#diagram .node .label');
  const px = parseFloat(label.getAttribute('font-size')) * scale;
  if (px < 11) out.push(`diagram labels are ${px.toFixed(1)} CSS px`);
  const line = document.querySelector('#details-body .transcript .line');
  if (line && parseFloat(getComputedStyle(line).fontSize) < 16) out.push('the transcript is small');
  return out;
}"""


FAILING = """\
name: two-copies
title: {en: "Two copies?", ru: "Две копии?"}
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
  - send: {from: alice@alpha.test, to: bob@beta.test, subject: Once}
    say: {en: "Alice writes once.", ru: "Алиса пишет один раз."}
  - expect: {delivered: bob@beta.test, copies: 2, timeout: 10}
"""


def test_a_failed_expectation_shows_what_was_expected_and_what_happened(classroom, browser, tmp_path):
    director, server = classroom()
    page = open_page(browser, server.url)
    path = tmp_path / "two-copies.yaml"
    path.write_text(FAILING, encoding="utf-8")
    old = director.stack
    page.click("#btn-lessons")
    page.set_input_files("#scenario-file", str(path))
    swapped(page, director, old, server)
    page.click("#btn-next-step")
    page.wait_for_selector("#narration[data-state=failed]", timeout=60000)
    step = director.lesson_state()["steps"][1]
    assert step["status"] == "failed" and step["text"]
    result = page.locator("#narration-result")
    assert result.get_attribute("data-status") == "failed"
    for lang, words in (("en", EN), ("ru", RU)):
        set_lang(page, lang)
        head = words["lesson.failedAt"].format(k=2, action=words["lesson.action.expect"], line=step["line"])
        assert result.locator(".result-head").inner_text() == head
        assert result.locator(".result-words").inner_text() == plain(step["text"][lang]["summary"])
        assert result.locator(".result-explain").inner_text() == plain(step["text"][lang]["explain"])
        assert page.get_attribute('#narration-steps [data-step="1"]', "data-status") == "failed"
        shot(page, f"lesson-failed-{lang}")
    assert page.errors == []
    page.context.close()
