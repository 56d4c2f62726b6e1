"""Defect 12 of issue 9: zoom and pan.  The mouse wheel zooms at the pointer, the three buttons in
the diagram's corner zoom in, out and back to the whole world, + / − / 0 do the same from the
keyboard, Shift + arrows pan (plain arrows stay the review's), and dragging pans without selecting
the node it started on."""
from __future__ import annotations

import pytest

from diagram_helpers import browser, open_page, site  # noqa: F401
from simulator import narrate

pytestmark = pytest.mark.browser

VIEW = "() => document.querySelector('#diagram').getAttribute('viewBox').split(' ').map(Number)"


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_wheel_buttons_and_keys_zoom_and_pan(site, browser, lang):
    world, server = site()
    page = open_page(browser, server.url, lang=lang)
    whole = page.evaluate(VIEW)
    box = page.locator("#diagram").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.25, box["y"] + box["height"] * 0.5)
    page.mouse.wheel(0, -300)
    page.wait_for_function("w => Number(document.querySelector('#diagram').getAttribute('viewBox').split(' ')[2]) < w",
                           arg=whole[2])
    zoomed = page.evaluate(VIEW)
    assert zoomed[0] < whole[2] * 0.25 < zoomed[0] + zoomed[2]              # the point under the mouse stays in view
    page.keyboard.press("0")
    assert page.evaluate(VIEW) == whole and page.get_attribute("#diagram", "data-zoom") == "1.00"
    page.keyboard.press("+")
    page.keyboard.press("+")
    inside = page.evaluate(VIEW)
    assert inside[2] < whole[2] * 0.7
    page.keyboard.press("Shift+ArrowRight")
    moved = page.evaluate(VIEW)
    assert moved[0] > inside[0] and moved[2] == inside[2]
    assert page.is_hidden("#review-banner")                                 # Shift+arrow pans; no review
    page.keyboard.press("-")
    assert page.evaluate(VIEW)[2] > moved[2]
    ui = narrate.ui(lang)
    for name, key in (("in", "zoom.in"), ("out", "zoom.out"), ("reset", "zoom.reset")):
        assert page.get_attribute(f".zoom-controls .zoom-{name}", "aria-label") == ui[key]
    page.click(".zoom-controls .zoom-reset")
    assert page.evaluate(VIEW) == whole
    page.click(".zoom-controls .zoom-in")
    assert page.evaluate(VIEW)[2] < whole[2]
    page.click(".zoom-controls .zoom-out")
    assert page.evaluate(VIEW) == whole
    assert page.errors == []
    page.context.close()


def test_dragging_pans_and_selects_nothing(site, browser):
    world, server = site()
    page = open_page(browser, server.url)
    page.evaluate("""() => { window.__picked = [];
      document.querySelector('#diagram').addEventListener('mailflow:node', (ev) => window.__picked.push(ev.detail.id)); }""")
    page.keyboard.press("+")
    page.keyboard.press("+")
    before = page.evaluate(VIEW)
    node = page.locator('#diagram .node[data-node="mta:smtp.alpha.test"]').bounding_box()
    x, y = node["x"] + node["width"] / 2, node["y"] + node["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x - 60, y - 30, steps=6)
    page.mouse.up()
    after = page.evaluate(VIEW)
    assert after[0] > before[0] and after[1] > before[1]
    assert page.evaluate("window.__picked") == []
    page.locator('#diagram .node[data-node="mta:smtp.alpha.test"]').click()       # a click still selects
    assert page.evaluate("window.__picked") == ["mta:smtp.alpha.test"]
    assert page.errors == []
    page.context.close()


# The next request for /api/layout is held in the page until the test lets it go (window.__release()).
HOLD_LAYOUT = """
window.__held = 0; window.__hold = false;
const real = window.fetch;
window.fetch = async (url, opts) => {
  const hold = String(url).startsWith('/api/layout') && window.__hold;
  if (hold) { window.__hold = false; window.__held++; }
  const reply = await real(url, opts);
  if (hold) await new Promise((go) => { window.__release = go; });
  return reply;
};
"""
FITS_THE_PAGE = """() => Number(document.querySelector('#diagram').getAttribute('viewBox').split(' ')[2])
                     === Math.round(document.getElementById('diagram-wrap').clientWidth - 8)"""
ALL_ANSWERED = "() => document.body.dataset.layouts === document.body.dataset.layoutsAsked"


def test_an_older_layout_answered_last_is_not_drawn(site, browser):
    """Two sizes asked one after the other (a resize, the review banner, an MX change): the diagram
    is laid out for the newer one even when the older answer comes back last."""
    world, server = site()
    page = open_page(browser, server.url)
    page.evaluate(HOLD_LAYOUT)
    page.evaluate("window.__hold = true")
    page.set_viewport_size({"width": 1000, "height": 640})
    page.wait_for_function("() => window.__held === 1")                 # the older size asked, held
    page.set_viewport_size({"width": 1600, "height": 900})
    page.wait_for_function(FITS_THE_PAGE)                               # the newer one drawn ...
    newer = page.evaluate(VIEW)
    page.evaluate("window.__release()")                                 # ... then the older one answered
    page.wait_for_function(ALL_ANSWERED)
    assert page.evaluate(VIEW) == newer
    assert page.errors == []
    page.context.close()
