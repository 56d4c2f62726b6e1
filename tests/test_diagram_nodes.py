"""Defects 6 and 8 of issue 9, on the diagram.  A mailbox and a mail client are told apart by shape,
icon and words; the POP3 "−1" mark lies inside its mailbox, never cut at a panel's edge; every node is
a button that selects itself and tells the page (``mailflow:node`` on the svg, ``diagram.onSelectNode``
and the constructor's ``onNode``: see static/js/diagram.js), by mouse and by keyboard."""
from __future__ import annotations

import poplib

import pytest

from diagram_helpers import browser, open_page, shot, site  # noqa: F401
from simulator import narrate
from web_fixtures import send_mail

pytestmark = pytest.mark.browser
EN = narrate.ui("en")

LISTEN = """() => { window.__picked = [];
  document.querySelector('#diagram').addEventListener('mailflow:node', (ev) => window.__picked.push(ev.detail)); }"""


def test_every_node_is_a_button_that_selects_itself_and_tells_the_page(site, browser):
    world, server = site()
    graph = world.stack.world.graph()
    page = open_page(browser, server.url, size=(1920, 1080))
    page.evaluate(LISTEN)
    ids = [n for n, kind in graph.nodes(data="kind") if kind != "domain"]
    for i, node in enumerate(ids):
        target = page.locator(f'#diagram .node[data-node="{node}"]')
        assert target.get_attribute("role") == "button" and target.get_attribute("tabindex") == "0"
        assert target.get_attribute("aria-label"), node
        target.click()
        picked = page.evaluate("window.__picked")
        assert len(picked) == i + 1 and picked[-1]["id"] == node, (node, picked[-1:])
        assert picked[-1]["kind"] == graph.nodes[node]["kind"]
        assert page.locator("#diagram .node.selected").count() == 1
        assert target.get_attribute("class").split().count("selected") == 1
    # a domain's band is a button too; and the keyboard selects as the mouse does
    page.locator('#diagram .band-name[data-node="domain:beta.test"]').click()
    assert page.evaluate("window.__picked.at(-1)")["id"] == "domain:beta.test"
    page.locator('#diagram .node[data-node="mua:alice@alpha.test"]').focus()
    page.keyboard.press("Enter")
    assert page.evaluate("window.__picked.at(-1)")["id"] == "mua:alice@alpha.test"
    page.locator('#diagram .node[data-node="mailbox:bob@beta.test"]').focus()
    page.keyboard.press(" ")
    assert page.evaluate("window.__picked.at(-1)")["id"] == "mailbox:bob@beta.test"
    assert world.stack.gate.state().mode == "play"                # Space on a node selects, nothing else
    assert page.errors == []
    page.context.close()


SHAPES = """() => {
  const of = (id) => { const g = document.querySelector(`#diagram .node[data-node="${id}"]`);
    const box = getComputedStyle(g.querySelector('.box'));
    return {shape: g.dataset.shape, icon: g.querySelector('.icon')?.getAttribute('d') || '',
      fill: box.fill, stroke: box.stroke, rx: g.querySelector('.box').getAttribute('rx'),
      caption: g.querySelector('.caption').textContent.trim(), label: g.querySelector('.label').textContent.trim(),
      aria: g.getAttribute('aria-label')}; };
  return {client: of('mua:bob@beta.test'), mailbox: of('mailbox:bob@beta.test')};
}"""


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_a_mailbox_and_a_mail_client_look_different(site, browser, lang):
    world, server = site()
    page = open_page(browser, server.url, lang=lang)
    s = page.evaluate(SHAPES)
    client, box = s["client"], s["mailbox"]
    assert client["shape"] == "client" and box["shape"] == "mailbox"
    assert client["icon"] and box["icon"] and client["icon"] != box["icon"]
    assert (client["fill"], client["stroke"], client["rx"]) != (box["fill"], box["stroke"], box["rx"])
    assert client["label"] == box["label"] == "bob"                   # the same user, two different things
    ui = narrate.ui(lang)
    assert client["caption"] == ui["node.mua.short"] and box["caption"].startswith(ui["node.mailbox.count"].split("{")[0])
    assert ui["node.mua"] in client["aria"] and ui["node.mailbox"] in box["aria"]
    page.context.close()


MARK = """() => {
  const m = document.querySelector('#diagram .mailbox-mark');
  if (!m) return null;
  const r = m.getBoundingClientRect(), svg = document.querySelector('#diagram').getBoundingClientRect();
  const node = document.querySelector(`#diagram .node[data-node="${m.dataset.for}"] .box`).getBoundingClientRect();
  const band = [...document.querySelectorAll('#diagram .band')].map((b) => b.getBoundingClientRect())
    .find((b) => b.left <= node.left && node.right <= b.right && b.top <= node.top && node.bottom <= b.bottom);
  const box = (x) => ({x: x.left, y: x.top, r: x.right, b: x.bottom});
  return {text: m.textContent, for: m.dataset.for, mark: box(r), svg: box(svg), node: box(node), band: band && box(band)};
}"""


def test_the_pop3_minus_one_lies_inside_its_mailbox(site, browser):
    world, server = site()
    send_mail(world.stack, subject="Take me")
    world.wait_messages("bob@beta.test")
    for size in ((1280, 720), (1920, 1080)):
        page = open_page(browser, server.url, size=size)
        world.stack.gate.set_delay(0.3)                 # slow enough to see each hop's mark
        pop = poplib.POP3("127.0.0.1", world.port("pop3"), timeout=10)
        try:
            pop.user("bob@beta.test")
            pop.pass_("bob")
            count = pop.stat()[0]
            assert count >= 1
            pop.retr(1)
            pop.dele(1)
        finally:
            pop.quit()
        world.stack.gate.set_delay(0)
        page.wait_for_selector("#diagram .mailbox-mark", timeout=20000)
        mark = page.evaluate(MARK)
        assert mark and mark["for"] == "mailbox:bob@beta.test" and "1" in mark["text"]
        inner = lambda a, b: a["x"] >= b["x"] - 0.5 and a["y"] >= b["y"] - 0.5 and a["r"] <= b["r"] + 0.5 and a["b"] <= b["b"] + 0.5  # noqa: E731
        assert inner(mark["mark"], mark["svg"]) and inner(mark["mark"], mark["band"]), mark
        m, n = mark["mark"], mark["node"]                               # on its mailbox's corner
        assert n["x"] <= (m["x"] + m["r"]) / 2 <= n["r"] and m["y"] < n["y"] < m["b"], mark
        shot(page, f"diagram-pop3-mark-{size[0]}x{size[1]}")
        assert page.errors == []
        page.context.close()
        send_mail(world.stack, subject="Again")
        world.wait_messages("bob@beta.test")
