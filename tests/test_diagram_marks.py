"""The arrival marks under a burst (static/js/diagram.js, Diagram.mark): every arrival still marks its
receiving node, but never two marks at one place at once -- a newer mark replaces the one fading
there (dozens stacked on the same spots were a style change and a paint each, every frame)."""
from __future__ import annotations

import threading

import pytest

from diagram_helpers import browser, open_page, site  # noqa: F401
from web_fixtures import send_mail

pytestmark = pytest.mark.browser

WATCH = """() => {
  window.__marks = {most: 0, seen: new Set(), places: {}};
  const layer = document.querySelector('#diagram .flashes');
  const count = () => {
    const here = {};
    for (const g of layer.children) {
      const place = `${g.classList.contains('mailbox-mark') ? 'box' : 'at'}:${g.dataset.for}`;
      here[place] = (here[place] || 0) + 1;
      window.__marks.seen.add(place);
    }
    for (const [place, n] of Object.entries(here)) window.__marks.places[place] = Math.max(window.__marks.places[place] || 0, n);
  };
  new MutationObserver(count).observe(layer, {childList: true});
}"""


def test_a_burst_marks_each_receiving_node_once_at_a_time(site, browser):
    world, server = site()
    page = open_page(browser, server.url)
    page.evaluate(WATCH)
    senders = [threading.Thread(target=send_mail, args=(world.stack,), kwargs={"subject": f"burst {n}"})
               for n in range(6)]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join(60)
    world.events.wait_for(lambda e: e.kind == "mda.deliver", count=6, timeout=30)
    page.wait_for_function("() => window.__marks.seen.has('at:mailbox:bob@beta.test')", timeout=20000)
    places = page.evaluate("() => window.__marks.places")
    assert places["at:mailbox:bob@beta.test"] == 1                # six deliveries, one mark at a time
    assert "at:mta:mx1.beta.test" in places                       # the other hops are marked too
    assert max(places.values()) == 1
    assert page.errors == []
    page.context.close()
