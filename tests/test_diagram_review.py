"""Defect 7 of issue 9: in review the diagram shows exactly the moment looked at.  Going from the last
hop back to the first (Home) leaves no ring, token or mark of the later hop on the screen: only the
first hop's own token, edge and ends, and the world as it was then (the mailbox still empty)."""
from __future__ import annotations

import pytest

from diagram_helpers import browser, open_page, site  # noqa: F401
from simulator import narrate
from web_fixtures import send_mail

pytestmark = pytest.mark.browser
EN = narrate.ui("en")

# Everything drawn now that marks a hop: rings and marks (flashes), tokens on their way, the nodes
# and edges marked current; each with the node boxes it lies on or next to.
MOMENT = """() => {
  const near = (r) => [...document.querySelectorAll('#diagram .node')].filter((g) => g.getAttribute('display') !== 'none')
    .filter((g) => { const b = g.querySelector('.box').getBoundingClientRect();
      return r.left < b.right + 40 && b.left - 40 < r.right && r.top < b.bottom + 4 && b.top - 4 < r.bottom; })
    .map((g) => g.dataset.node);
  const shown = (el) => el.getAttribute('display') !== 'none' && getComputedStyle(el).display !== 'none';
  return {
    flashes: [...document.querySelectorAll('#diagram .flashes > *')].map((f) => near(f.getBoundingClientRect())),
    tokens: [...document.querySelectorAll('#diagram .tokens .token')].filter(shown).length,
    current: [...document.querySelectorAll('#diagram .node.current')].map((g) => g.dataset.node).sort(),
    edges: [...document.querySelectorAll('#diagram .edge.current, #diagram .edge.hot')].map((p) => `${p.dataset.src}>${p.dataset.dst}`),
    callout: !!document.querySelector('#diagram .callout'),
    box: document.querySelector('#diagram .node[data-node="mailbox:bob@beta.test"] .caption').textContent,
  };
}"""


def test_going_back_from_the_last_hop_to_the_first_leaves_nothing_of_the_last(site, browser):
    world, server = site()
    send_mail(world.stack, subject="Review")
    world.wait_messages("bob@beta.test")
    delivered = world.events.wait_for(lambda e: e.kind == "mda.deliver")[0]
    first = world.events.wait_for(lambda e: e.kind == "smtp.session")[0]
    page = open_page(browser, server.url)
    page.wait_for_function("n => Number(document.body.dataset.lastSeq) >= n", arg=delivered.seq)
    for _ in range(3):
        page.keyboard.press("ArrowLeft")          # back to the delivery (its token on its way) …
        page.keyboard.press("ArrowRight")
    page.keyboard.press("End")
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("Home")                   # … and at once to the first hop
    moment = page.evaluate(MOMENT)
    ends = sorted([first.src, first.dst])
    for near in moment["flashes"]:                # a mark may only be the first hop's own
        assert set(near) & set(ends), moment
    assert moment["tokens"] <= 1                  # the first hop's own token, no other
    assert moment["current"] == ends
    assert moment["edges"] == [f"{first.src}>{first.dst}"]
    assert not moment["callout"]
    assert moment["box"].endswith("0")            # bob's mailbox was still empty then
    # and once the first hop's token has landed, its own ring is the only mark
    page.wait_for_function("() => ![...document.querySelectorAll('#diagram .tokens .token')]"
                           ".some((t) => t.getAttribute('display') !== 'none')")
    moment = page.evaluate(MOMENT)
    for near in moment["flashes"]:
        assert set(near) & set(ends), moment
    page.keyboard.press("End")
    page.wait_for_function("() => !document.querySelector('#diagram .node.current')")
    assert page.errors == []
    page.context.close()


def test_review_hides_the_waiting_hop_and_live_brings_it_back(site, browser):
    world, server = site()
    send_mail(world.stack, subject="Before")
    world.wait_messages("bob@beta.test")
    page = open_page(browser, server.url)
    world.stack.gate.pause()
    from web_fixtures import join_send, send_in_background
    sender = send_in_background(world.stack, subject="Held")
    page.wait_for_selector("#diagram .ghost", timeout=15000)
    page.keyboard.press("Home")
    page.wait_for_function("() => document.querySelectorAll('#diagram .ghost').length === 0")
    page.keyboard.press("End")
    page.wait_for_selector("#diagram .ghost")
    world.stack.gate.play()
    join_send(sender)
    assert page.errors == []
    page.context.close()
