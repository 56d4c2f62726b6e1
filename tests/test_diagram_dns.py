"""Defect 1 of issue 9: the DNS answer box.  During a failover (mx1 down) the backup MX mx2 asks DNS
for beta.test's MX itself.  The box must show what DNS answered (MX 10 and MX 20), then, apart, what
mx2 kept (only MX 10: a backup MX counts only better preferences than its own) and why; it must not
cover the DNS server or any other node, and its text must stay inside it — at 1280x720, at 125 %
zoom and at 1920x1080, in English and in Russian (screenshots in artifacts/).
"""
from __future__ import annotations

import pytest

from diagram_helpers import NODE_BOXES, ROOT, SCREENS, browser, open_page, row, screen_name, shot, site  # noqa: F401
from web_fixtures import send_mail

pytestmark = pytest.mark.browser

ANSWER = """() => {
  const g = document.querySelector('#diagram .callout');
  if (!g) return null;
  const box = g.querySelector('.callout-box').getBoundingClientRect();
  const texts = [...g.querySelectorAll('text')].map((t) => {
    const r = t.getBoundingClientRect();
    return {part: t.dataset.part, text: t.textContent, x: r.left, y: r.top, w: r.width, h: r.height};
  });
  return {box: {x: box.left, y: box.top, w: box.width, h: box.height}, texts};
}"""


def _overlap(a, b) -> bool:
    return a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"] and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"]


def test_the_backup_mx_lookup_shows_the_answer_then_what_was_kept_and_why(site, browser):
    world, server = site(ROOT / "scenarios" / "mx-failover.yaml")
    send_mail(world.stack, subject="Failover")
    own = world.events.wait_for(lambda e: e.kind == "dns.query" and e.src == "mta:mx2.beta.test")[0]
    assert len(own.fact.answers) == 2 and len(own.fact.order) == 1      # the facts behind the picture
    for size, zoom in SCREENS:
        for lang in ("en", "ru"):
            page = open_page(browser, server.url, size=size, zoom=zoom, lang=lang)
            row(page, own.seq).click()
            page.wait_for_selector(f'#diagram .callout[data-event="{own.seq}"]')
            answer = page.evaluate(ANSWER)
            nodes = page.evaluate(NODE_BOXES)
            where = f"{screen_name(size, zoom, lang)}"
            # never over the DNS server, nor over any other box
            for node, box in nodes.items():
                assert not _overlap(answer["box"], box), (where, node)
            # every line inside the box, and legible
            for t in answer["texts"]:
                assert t["x"] >= answer["box"]["x"] - 0.5 and t["x"] + t["w"] <= answer["box"]["x"] + answer["box"]["w"] + 0.5, (where, t)
                assert t["y"] >= answer["box"]["y"] - 0.5 and t["y"] + t["h"] <= answer["box"]["y"] + answer["box"]["h"] + 0.5, (where, t)
                assert t["h"] >= 9, (where, t)
            answered = " ".join(t["text"] for t in answer["texts"] if t["part"] == "answered")
            kept = " ".join(t["text"] for t in answer["texts"] if t["part"] == "kept")
            why = " ".join(t["text"] for t in answer["texts"] if t["part"] == "why")
            assert "MX 10 mx1.beta.test" in answered and "MX 20 mx2.beta.test" in answered, where
            assert "mx2.beta.test" in kept and "MX 10 mx1.beta.test" in kept and "MX 20" not in kept, where
            assert "20" in why, where                                   # it is itself MX 20
            assert "…" not in answered + kept + why, where               # nothing had to be cut
            shot(page, f"diagram-dns-answer-{where}")
            assert page.errors == []
            page.context.close()


def test_the_answer_follows_the_language_and_goes_when_review_leaves_the_hop(site, browser):
    world, server = site(ROOT / "scenarios" / "mx-failover.yaml")
    send_mail(world.stack, subject="Failover")
    own = world.events.wait_for(lambda e: e.kind == "dns.query" and e.src == "mta:mx2.beta.test")[0]
    page = open_page(browser, server.url)
    row(page, own.seq).click()
    page.wait_for_selector(f'#diagram .callout[data-event="{own.seq}"]')
    english = page.text_content("#diagram .callout [data-part=why]")
    page.click('button[data-lang="ru"]')
    page.wait_for_function("t => document.querySelector('#diagram .callout [data-part=why]')?.textContent !== t",
                           arg=english)
    later = world.events.wait_for(lambda e: e.kind == "smtp.attempt" and e.seq > own.seq)[0]
    row(page, later.seq).click()
    page.wait_for_function("() => !document.querySelector('#diagram .callout')")
    assert page.errors == []
    page.context.close()
