"""Issue 9, "the queue on the diagram": a host with queued mail shows how many messages wait and the
time to the next retry, counting down; a page opened later reads it from the server's queue (GET
/api/state); in review the badge shows the time left at the moment looked at."""
from __future__ import annotations

import re

import pytest

from diagram_helpers import ROOT, SLOW_QUEUE, browser, open_page, row, shot, site  # noqa: F401
from simulator import narrate
from web_fixtures import send_mail

pytestmark = pytest.mark.browser

BADGE = """id => { const b = document.querySelector(`#diagram .badge[data-for="${id}"]`);
  return b && b.classList.contains('shown') ? b.textContent : ''; }"""


def _seconds(text: str) -> float:
    match = re.search(r"([\d]+(?:[.,]\d)?)", text.split("·", 1)[1] if "·" in text else "")
    return float(match.group(1).replace(",", ".")) if match else -1.0


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_a_queued_message_shows_its_count_and_a_countdown(site, browser, lang):
    world, server = site(ROOT / "scenarios" / "mx-failover.yaml", queue=SLOW_QUEUE)
    page = open_page(browser, server.url, lang=lang)
    send_mail(world.stack, subject="Wait")
    defer = world.events.wait_for(lambda e: e.kind == "queue.defer" and e.src == "mta:mx2.beta.test", timeout=20)[0]
    ui = narrate.ui(lang)
    page.wait_for_function(f"id => ({BADGE})(id).startsWith('1 · ')", arg="mta:mx2.beta.test", timeout=20000)
    first = _seconds(page.evaluate(BADGE, "mta:mx2.beta.test"))
    assert 0 < first <= SLOW_QUEUE.first_retry
    assert ui["node.retry"].split("{")[0] in page.evaluate(BADGE, "mta:mx2.beta.test")
    page.wait_for_function(f"""([id, was]) => {{ const t = ({BADGE})(id).split('·')[1] || '';
        const m = t.match(/[\\d]+(?:[.,]\\d)?/); return m && parseFloat(m[0].replace(',', '.')) <= was - 0.5; }}""",
                           arg=["mta:mx2.beta.test", first], timeout=10000)
    assert page.evaluate(BADGE, "mta:smtp.alpha.test") == ""             # it left alpha's queue
    shot(page, f"diagram-queue-countdown-{lang}")
    # a page opened now reads the next attempt from the server's queue
    late = open_page(browser, server.url, lang=lang)
    late.wait_for_function(f"id => ({BADGE})(id).startsWith('1 · ')", arg="mta:mx2.beta.test", timeout=20000)
    assert 0 < _seconds(late.evaluate(BADGE, "mta:mx2.beta.test")) <= SLOW_QUEUE.first_retry
    late.context.close()
    # in review, the time left at that moment: the whole retry delay, and it does not count
    row(page, defer.seq).click()
    expected = f"1 · {ui['node.retry'].format(s=format(defer.fact.retry_in, '.1f').replace('.', ui['size.point']))}"
    page.wait_for_function(f"([id, want]) => ({BADGE})(id) === want", arg=["mta:mx2.beta.test", expected])
    page.keyboard.press("End")
    assert page.errors == []
    page.context.close()
