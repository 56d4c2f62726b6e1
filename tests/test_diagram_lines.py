"""Defect 2 of issue 9, on the diagram: stepping a dialogue line by line.  While the lines come, the
hop's token waits on the hop's edge (a little nearer whoever must answer), never on a box and never
as a token per line; no box appears mid-lesson (the front door and the outside programs are nodes
from the start); when the hop's own fact arrives, the waiting token goes."""
from __future__ import annotations

import re

import pytest

from diagram_helpers import browser, open_page, site  # noqa: F401
from web_fixtures import join_send, send_in_background, wait_until

pytestmark = pytest.mark.browser

NODE_IDS = "() => [...document.querySelectorAll('#diagram [data-node]')].map((e) => e.dataset.node).sort()"

# The waiting token: where it is (layout units), the edge it waits on, and whether it lies on a box.
WAITING = """() => {
  const toks = [...document.querySelectorAll('#diagram .token.parked')].filter((t) => t.getAttribute('display') !== 'none');
  return toks.map((t) => {
    const [x, y] = (t.getAttribute('transform').match(/[-\\d.]+/g) || [0, 0]).map(Number);
    const src = t.dataset.src, dst = t.dataset.dst;
    const edge = [...document.querySelectorAll('#diagram .edge')].find((p) =>
      (p.dataset.src === src && p.dataset.dst === dst) || (p.dataset.src === dst && p.dataset.dst === src));
    const onBox = [...document.querySelectorAll('#diagram .node')].filter((g) => g.getAttribute('display') !== 'none')
      .some((g) => { const m = g.getAttribute('transform').match(/[-\\d.]+/g).map(Number), b = g.querySelector('.box');
        const w = Number(b.getAttribute('width')), h = Number(b.getAttribute('height'));
        return x > m[0] + 1 && x < m[0] + w - 1 && y > m[1] + 1 && y < m[1] + h - 1; });
    return {x, y, src, dst, d: edge ? edge.getAttribute('d') : null, hot: edge ? edge.classList.contains('hot') : false, onBox};
  });
}"""


def _distance(d: str, x: float, y: float) -> float:
    pts = [tuple(map(float, p)) for p in re.findall(r"[ML]([-\d.]+),([-\d.]+)", d)]
    best = float("inf")
    for (x1, y1), (x2, y2) in zip(pts, pts[1:]):
        dx, dy = x2 - x1, y2 - y1
        length = dx * dx + dy * dy
        r = max(0.0, min(1.0, ((x - x1) * dx + (y - y1) * dy) / length)) if length else 0.0
        best = min(best, ((x - x1 - r * dx) ** 2 + (y - y1 - r * dy) ** 2) ** 0.5)
    return best


def test_in_line_stepping_the_token_waits_on_its_edge(site, browser):
    world, server = site()
    stack = world.stack
    page = open_page(browser, server.url)
    before = page.evaluate(NODE_IDS)
    assert "front" in before and "outside" in before                 # nodes from the start
    stack.gate.set_granularity("line")
    stack.gate.pause()
    wait_until(lambda: stack.gate.state().mode == "pause", what="pause")
    sender = send_in_background(stack, subject="Line by line")
    seen = set()
    for _ in range(12):
        held = wait_until(lambda: next(iter(stack.gate.state().waiting), None), timeout=15, what="a held line")
        lines = [e for e in world.events.events if e.kind == "smtp.line"]
        # a server holds its reply: the dialogue's lines so far are the last thing published, and its
        # hop has not happened yet (after its fact, QUIT and 221 wait for nothing)
        done = lines and any(e.kind == "smtp.session" and (e.src, e.dst) == (lines[-1].src, lines[-1].dst)
                             for e in world.events.events)
        if str(held.hop.step) == "reply" and lines and world.events.events[-1] is lines[-1] and not done:
            page.wait_for_function("seq => Number(document.body.dataset.lastSeq || 0) >= seq", arg=lines[-1].seq)
            page.wait_for_function("() => document.querySelectorAll('#diagram .token.parked:not([display=none])').length === 1")
            waiting = page.evaluate(WAITING)
            assert len(waiting) == 1, waiting
            tok = waiting[0]
            assert tok["d"] is not None, tok                                   # on an edge of the diagram …
            assert _distance(tok["d"], tok["x"], tok["y"]) < 1.5, tok          # … right on its line
            assert not tok["onBox"] and tok["hot"], tok
            seen.add((tok["src"], tok["dst"]))
            assert page.evaluate(NODE_IDS) == before                           # no box came
        stack.gate.step()
        wait_until(lambda: next(iter(stack.gate.state().waiting), None) is not held, timeout=15, what="the step")
    assert ("mua:alice@alpha.test", "mta:smtp.alpha.test") in seen            # after the login: the MUA's edge
    stack.gate.set_granularity("hop")
    stack.gate.play()
    join_send(sender)
    world.wait_messages("bob@beta.test")
    page.wait_for_function("() => document.querySelectorAll('#diagram .token.parked:not([display=none])').length === 0")
    assert page.evaluate(NODE_IDS) == before
    assert page.errors == []
    page.context.close()
