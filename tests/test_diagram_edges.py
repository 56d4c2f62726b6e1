"""Defect 5 of issue 9: the lines between the boxes.  Every idle edge contrasts at least 3:1 with
each panel it crosses (WCAG 1.4.11, computed from the styles: the domain bands and the page behind
them); each edge can be followed (no two run on top of each other, no shared trunk for the SMTP and
DNS edges between domains); the kind of conversation is carried by colour and dash, one look per
kind (the legend's entries legend.edge.*)."""
from __future__ import annotations

import re

import pytest

from diagram_helpers import CONTRAST_JS, ROOT, browser, open_page, shot, site  # noqa: F401

pytestmark = pytest.mark.browser

EDGES = CONTRAST_JS + """
() => {
  const svg = document.querySelector('#diagram');
  const page = backdrop(svg.parentElement);
  const bands = [...svg.querySelectorAll('.band')].map((b) => ({r: b.getBoundingClientRect(), fill: getComputedStyle(b).fill}));
  const out = [];
  for (const p of svg.querySelectorAll('.edge')) {
    const st = getComputedStyle(p);
    if (st.display === 'none' || st.visibility === 'hidden') continue;
    const r = p.getBoundingClientRect();
    const crossed = bands.filter((b) => r.left < b.r.right && b.r.left < r.right && r.top < b.r.bottom && b.r.top < r.bottom);
    const against = [page, ...crossed.map((b) => b.fill)];
    out.push({src: p.dataset.src, dst: p.dataset.dst, kind: [...p.classList].find((c) => c.startsWith('look-')),
      d: p.getAttribute('d'), stroke: st.stroke, dash: st.strokeDasharray, width: parseFloat(st.strokeWidth),
      worst: Math.min(...against.map((bg) => contrast(st.stroke, bg)))});
  }
  return out;
}"""


def _segments(d: str):
    points = [tuple(map(float, p)) for p in re.findall(r"[ML]([-\d.]+),([-\d.]+)", d)]
    for (x1, y1), (x2, y2) in zip(points, points[1:]):
        if abs(y1 - y2) < 0.01:
            yield "h", y1, min(x1, x2), max(x1, x2)
        elif abs(x1 - x2) < 0.01:
            yield "v", x1, min(y1, y2), max(y1, y2)


@pytest.mark.parametrize("scenario", ["default", "mx-failover", "16-three-domains"])
def test_idle_edges_contrast_and_can_be_followed(site, browser, scenario):
    world, server = site(ROOT / "scenarios" / f"{scenario}.yaml")
    for size in ((1280, 720), (1920, 1080)):
        page = open_page(browser, server.url, size=size)
        edges = page.evaluate(EDGES)
        assert len(edges) >= 20
        low = [(e["src"], e["dst"], round(e["worst"], 2)) for e in edges if e["worst"] < 3]
        assert low == [], low
        assert all(e["width"] >= 1.4 for e in edges)
        # one look (colour, dash) per kind of conversation, and different kinds look different
        looks = {}
        for e in edges:
            looks.setdefault(e["kind"], set()).add((e["stroke"], e["dash"]))
        assert all(len(v) == 1 for v in looks.values()), looks
        assert len({next(iter(v)) for v in looks.values()}) == len(looks)
        assert {"look-smtp", "look-dns", "look-retrieve", "look-local"} <= set(looks)
        # followable: no stretch of line shared by two edges
        segs = [(i, s) for i, e in enumerate(edges) for s in _segments(e["d"])]
        shared = []
        for k, (i, (d1, c1, a1, b1)) in enumerate(segs):
            for j, (d2, c2, a2, b2) in segs[k + 1:]:
                if i != j and d1 == d2 and abs(c1 - c2) < 1 and min(b1, b2) - max(a1, a2) > 2:
                    shared.append((edges[i]["src"], edges[i]["dst"], edges[j]["src"], edges[j]["dst"]))
        assert shared == [], shared[:5]
        shot(page, f"diagram-edges-{scenario}-{size[0]}x{size[1]}")
        assert page.errors == []
        page.context.close()


def test_an_edge_in_use_takes_the_status_colour_and_keeps_its_dash(site, browser):
    world, server = site()
    page = open_page(browser, server.url)
    world.stack.gate.set_delay(0.8)
    from web_fixtures import join_send, send_in_background
    sender = send_in_background(world.stack, subject="Look")
    page.wait_for_selector("#diagram .edge.look-dns.hot", timeout=20000)
    dns = page.evaluate("""() => { const p = document.querySelector('#diagram .edge.look-dns.hot');
      const st = getComputedStyle(p); return {dash: st.strokeDasharray, width: parseFloat(st.strokeWidth), stroke: st.stroke}; }""")
    assert dns["dash"] not in ("none", "") and dns["width"] >= 3.5
    world.stack.gate.set_delay(0)
    join_send(sender)
    assert page.errors == []
    page.context.close()
