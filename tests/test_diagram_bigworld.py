"""Defect 12 of issue 9: worlds bigger than three domains.  Names in natural order (d2 before d10);
the domains as chips and cards that use the width; the domains a letter in flight crosses unfolded
into the slots, so that at 1280x720 a world of fifty domains still shows the sender's and the
recipient's hosts with labels at least 11 px high.  (Start-up time: bench/bench_diagram.py.)"""
from __future__ import annotations

import pytest

from diagram_helpers import SCREENS, big_scenario, browser, open_page, screen_name, shot, site  # noqa: F401
from web_fixtures import join_send, send_in_background

pytestmark = pytest.mark.browser

# On-screen font size (CSS px) of the labels of the given nodes, and whether each is drawn.
LABELS = """ids => Object.fromEntries(ids.map((id) => {
  const g = document.querySelector(`#diagram .node[data-node="${id}"]`);
  if (!g || g.getAttribute('display') === 'none') return [id, 0];
  const t = g.querySelector('.label');
  return [id, parseFloat(t.getAttribute('font-size')) * t.getScreenCTM().a];
}))"""


def test_fifty_domains_unfold_the_ones_a_letter_crosses_legibly(site, browser):
    world, server = site(big_scenario(50))
    for (size, zoom), lang in ((SCREENS[0], "en"), (SCREENS[0], "ru"), (SCREENS[2], "en")):
        page = open_page(browser, server.url, size=size, zoom=zoom, lang=lang)
        assert page.get_attribute("#diagram", "data-mode") == "fold"
        chips = page.eval_on_selector_all("#diagram .chip", "els => els.map((e) => e.dataset.domain)")
        assert chips == [f"d{i}.test" for i in range(1, 51)]                   # natural order
        world.stack.gate.set_delay(0.8)
        sender = send_in_background(world.stack, sender="u7@d7.test", password="u7", to="u33@d33.test",
                                    subject=f"Far away {lang}")
        page.wait_for_selector('#diagram .edge.hot[data-src="mta:smtp.d7.test"][data-dst="mta:mx.d33.test"]',
                               timeout=30000)
        ends = ["mua:u7@d7.test", "mta:smtp.d7.test", "mta:mx.d33.test", "mta:mx2.d33.test", "mailbox:u33@d33.test"]
        sizes = page.evaluate(LABELS, ends)
        assert all(px >= 11 for px in sizes.values()), sizes
        unfolded = page.get_attribute("#diagram", "data-unfolded").split()
        assert {"d7.test", "d33.test"} <= set(unfolded)
        assert page.locator('#diagram .chip.open[data-domain="d7.test"]').count() == 1
        shot(page, f"diagram-fifty-domains-{screen_name(size, zoom, lang)}")
        world.stack.gate.set_delay(0)
        join_send(sender)
        assert page.errors == []
        page.context.close()


def test_a_chip_unfolds_its_domain_on_a_click(site, browser):
    world, server = site(big_scenario(50))
    page = open_page(browser, server.url)
    page.evaluate("""() => { window.__picked = [];
      document.querySelector('#diagram').addEventListener('mailflow:node', (ev) => window.__picked.push(ev.detail.id)); }""")
    page.click('#diagram .chip[data-domain="d42.test"]')
    page.wait_for_selector('#diagram .node[data-node="mta:smtp.d42.test"]:not([display=none])')
    assert page.evaluate("window.__picked") == ["domain:d42.test"]
    assert "d42.test" in page.get_attribute("#diagram", "data-unfolded").split()
    page.click('#diagram .node[data-node="mta:mx.d42.test"]')
    assert page.evaluate("window.__picked.at(-1)") == "mta:mx.d42.test"
    assert page.errors == []
    page.context.close()


def test_twelve_domains_use_the_width_in_natural_order(site, browser):
    world, server = site(big_scenario(12))
    for (size, zoom) in (SCREENS[0], SCREENS[2]):
        page = open_page(browser, server.url, size=size, zoom=zoom)
        mode = page.get_attribute("#diagram", "data-mode")
        order = page.eval_on_selector_all("#diagram .chip" if mode == "fold" else "#diagram .band-group",
                                          "els => els.map((e) => e.dataset.domain)")
        assert order == [f"d{i}.test" for i in range(1, 13)], (mode, order)
        # The diagram draws after the page has the world: wait until its boxes have a size.
        page.wait_for_function("""() => { const els = [...document.querySelectorAll('#diagram .chip-box, #diagram .band')];
          return els.length > 0 && els.every((e) => e.getBoundingClientRect().width > 0); }""")
        boxes = page.eval_on_selector_all("#diagram .chip-box, #diagram .band", "els => els.map((e) => { const r = e.getBoundingClientRect(); return [r.left, r.right]; })")
        svg = page.locator("#diagram").bounding_box()
        left, right = min(b[0] for b in boxes), max(b[1] for b in boxes)
        assert right - left >= 0.7 * svg["width"]                             # the width is used
        assert len({round(b[0]) for b in boxes}) >= 2                          # not one column
        shot(page, f"diagram-twelve-domains-{screen_name(size, zoom, 'en')}")
        assert page.errors == []
        page.context.close()
