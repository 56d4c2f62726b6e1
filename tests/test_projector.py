"""The page on a projector (issue 9): cross-cutting checks at the sizes a classroom has.

Theory of operation.  For every screen -- 1280×720 (a school projector), 1920×1080, and 1280×720 at
125 % browser zoom (a 1024×576 CSS viewport at device_scale_factor 1.25) -- and both languages, one
module-scoped walk starts a mail world and the web UI on free loopback ports, opens the page as the
teacher, and brings it into four states:

  idle       the world just started, nothing sent;
  mid-flow   a message in flight: the gate paused, the submission released, the DNS lookup held;
  paused     the gate still paused after the message's last hop (nothing waits);
  review     a past hop selected (Home, then → : the DNS lookup, hop 2).

In each state, once no token moves, it runs tests/projector_checks.js (DOM and computed styles only:
text against its box, its clipping ancestors and the viewport; every legend item rendered and
uncovered; every diagram edge's stroke and arrowhead against the fills under it, ≥ 3:1, WCAG 1.4.11)
and the vendored axe-core (tests/vendor/axe-core, no network) with the WCAG 2.1 A/AA tags, and keeps
a screenshot in $MAILFLOW_ARTEFACTS (else pytest's tmp_path).  The test functions below only judge
what the walk recorded, one concern each, so a failure names the concern, the screen, the language,
the state and the element.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterator

import pytest

from conftest import Recorder, World, make_config
from simulator.bus import EventBus
from simulator.facts import HopStep
from simulator.runtime import MailStack
from simulator.scenario import DEFAULT_SCENARIO, load_scenario
from web_fixtures import browser, join_send, send_in_background, serve, wait_until  # noqa: F401  (browser: a fixture)

pytestmark = pytest.mark.browser

HERE = Path(__file__).resolve().parent
CHECKS_JS = (HERE / "projector_checks.js").read_text(encoding="utf-8")
AXE_JS = HERE / "vendor" / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
# name -> (CSS viewport, device scale factor)
SCREENS = {"1280x720": ((1280, 720), 1.0), "1920x1080": ((1920, 1080), 1.0), "1280x720@125%": ((1024, 576), 1.25)}
LANGS = ("en", "ru")
STATES = ("idle", "mid-flow", "paused", "review")
CONCERNS = ("overflow", "legend", "edges", "axe")


@pytest.fixture(scope="module")
def artefacts(tmp_path_factory) -> Path:
    given = os.environ.get("MAILFLOW_ARTEFACTS")
    path = Path(given) / "projector" if given else tmp_path_factory.mktemp("projector")
    path.mkdir(parents=True, exist_ok=True)
    return path


def start_world(data: Path) -> World:
    """A whole mail world on free loopback ports (as conftest's start_world, but for a module)."""
    scenario = load_scenario(DEFAULT_SCENARIO)
    for attempt in range(3):                 # a port taken meanwhile by someone else: new ports
        config = make_config(data / f"data{attempt}")
        bus = EventBus(log_path=config.data_dir / "logs" / "events.jsonl")
        recorder = Recorder(bus)
        stack = MailStack(config, scenario, bus=bus)
        try:
            stack.start()
        except OSError:
            if attempt == 2:
                raise
            continue
        return World(stack, recorder)
    raise AssertionError("unreachable")


def open_page(browser, url: str, screen: str, lang: str):
    (width, height), scale = SCREENS[screen]
    context = browser.new_context(viewport={"width": width, "height": height}, device_scale_factor=scale,
                                  bypass_csp=True)
    context.add_init_script(f"localStorage.setItem('mailflow.lang', '{lang}');"
                            "localStorage.setItem('mailflow.present', '0');")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors
    page.goto(url)
    try:
        page.wait_for_selector("body[data-ready=yes]", timeout=15000)
    except Exception:           # Playwright's TimeoutError: say why, in one line
        raise AssertionError(f"the page never became ready ({screen}, {lang}); page errors: {errors}") from None
    page.wait_for_function("lang => document.documentElement.lang === lang", arg=lang)
    return page


def settle(page) -> None:
    """Wait until the page stands still: fonts loaded, no token travelling, no arrival mark fading."""
    page.evaluate("document.fonts.ready.then(() => true)")
    page.wait_for_function("""() => !document.querySelector('#diagram .token:not([display=none])')
                              && !document.querySelector('#diagram .flash')""", timeout=15000)
    page.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def held(world: World) -> HopStep | None:
    waiting = world.stack.gate.state().waiting
    return waiting[0].hop.step if waiting else None


def release(world: World) -> None:
    """Step the gate once and wait until the hop it held has gone (the next one held, or none)."""
    before = world.stack.gate.state().waiting[0]
    world.stack.gate.step()
    wait_until(lambda: all(w is not before for w in world.stack.gate.state().waiting), timeout=10,
               what=f"{before.hop.step} released")


def axe(page) -> list[dict]:
    if not page.evaluate("typeof window.axe === 'object'"):
        page.add_script_tag(path=str(AXE_JS))
    violations = page.evaluate("""async tags => {
        const r = await axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => {
            const data = [...n.any, ...n.all, ...n.none].map(c => c.data).find(d => d && typeof d === 'object') || {};
            return {target: n.target.join(' '), ratio: data.contrastRatio, fg: data.fgColor, bg: data.bgColor,
                    text: (n.html || '').slice(0, 400)};
        })}));
    }""", AXE_TAGS)
    found = []
    for v in violations:
        for node in v["nodes"]:
            what = f"{v['id']} ({v['impact']}): {v['help']}"
            if node.get("ratio"):
                what += f" — {node['ratio']}:1, {node['fg']} on {node['bg']}"
            label = re.search(r'aria-label="([^"]*)"', node["text"])
            if label:
                what += f' — aria-label "{label.group(1)}"'
            found.append({"where": node["target"], "what": what})
    return found


def observe(page, shots: Path, name: str) -> dict[str, list[dict]]:
    settle(page)
    page.screenshot(path=str(shots / f"{name}.png"))
    found = page.evaluate(CHECKS_JS)
    found["axe"] = axe(page)
    return found


def walk(browser, world: World, url: str, screen: str, lang: str, shots: Path) -> dict:
    """The four states, in order, on one page; {state: {concern: [finding]}} and the page's errors."""
    page = open_page(browser, url, screen, lang)
    slug = f"{screen.replace('%', '')}-{lang}"
    seen: dict[str, dict] = {}
    gate = world.stack.gate

    seen["idle"] = observe(page, shots, f"{slug}-idle")

    gate.pause()
    page.wait_for_selector("body[data-gate=pause]")
    sender = send_in_background(world.stack, subject="Hello Bob")
    wait_until(lambda: held(world) is HopStep.SUBMIT, timeout=10, what="the submission held")
    release(world)
    wait_until(lambda: held(world) is HopStep.DNS_QUERY, timeout=10, what="the DNS lookup held")
    page.wait_for_selector("body[data-waiting='1']")
    page.wait_for_selector("#timeline-list li.row", timeout=10000)
    seen["mid-flow"] = observe(page, shots, f"{slug}-mid-flow")

    for _ in range(12):                      # the rest of the message, one hop at a time
        wait_until(lambda: held(world) or world.messages("bob@beta.test"), timeout=10, what="the next hop held")
        if not held(world):
            break
        release(world)
    world.wait_messages("bob@beta.test")
    join_send(sender)
    assert gate.state().mode == "pause" and not gate.state().waiting
    page.wait_for_selector('#timeline-list li.row[data-kind="mda.deliver"]', timeout=15000)
    page.wait_for_selector("body[data-waiting='0']")
    seen["paused"] = observe(page, shots, f"{slug}-paused")

    page.keyboard.press("Home")
    page.keyboard.press("ArrowRight")
    page.wait_for_selector("#timeline-list li.row.selected", timeout=10000)
    seen["review"] = observe(page, shots, f"{slug}-review")

    errors = list(page.errors)
    page.context.close()
    gate.play()
    return {"states": seen, "errors": errors}


@pytest.fixture(scope="module", params=[(s, lang) for s in SCREENS for lang in LANGS],
                ids=[f"{s}-{lang}" for s in SCREENS for lang in LANGS])
def screen(request, browser, artefacts, tmp_path_factory) -> Iterator[dict]:
    """One screen and language walked through the four states: what the checks found in each."""
    name, lang = request.param
    world = start_world(tmp_path_factory.mktemp("world"))
    server = serve(world.stack)
    try:
        result = walk(browser, world, server.url, name, lang, artefacts)
    finally:
        server.shutdown()
        world.stack.stop()
    yield {"screen": name, "lang": lang, **result}


def verdict(screen: dict, concern: str) -> str:
    """The findings of one concern as short lines -- [states · screen language] element: what -- one
    line for a finding seen in several states."""
    states: dict[tuple[str, str], list[str]] = {}
    for state in STATES:
        for item in screen["states"][state][concern]:
            states.setdefault((item["where"], item["what"]), []).append(state)
    return "\n".join(f"[{' '.join(seen)} · {screen['screen']} {screen['lang']}] {where}: {what}"
                     for (where, what), seen in states.items())


# ---------------------------------------------------------------------------------------------------
def test_no_text_overflows_its_box_or_the_viewport(screen):
    found = verdict(screen, "overflow")
    assert not found, "text overflows:\n" + found


def test_every_legend_item_is_visible(screen):
    found = verdict(screen, "legend")
    assert not found, "legend items not visible:\n" + found


def test_every_edge_contrasts_3_to_1_with_what_it_runs_over(screen):
    found = verdict(screen, "edges")
    assert not found, "edges below 3:1 (WCAG 1.4.11):\n" + found


def test_axe_finds_no_wcag21_aa_violation(screen):
    found = verdict(screen, "axe")
    assert not found, "axe-core (wcag2a, wcag2aa, wcag21a, wcag21aa):\n" + found


def test_the_page_raised_no_error(screen):
    assert screen["errors"] == []
