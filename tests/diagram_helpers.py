"""Helpers of the diagram's browser tests (tests/test_diagram_*.py): a world and its web UI, a page at
a size, a zoom and a language, and questions put to the drawn SVG (boxes on the screen, a token's
place on its edge, colour contrast).  Screenshots go to artifacts/ (gitignored)."""
from __future__ import annotations

from pathlib import Path

import pytest

from simulator.config import QueuePolicy
from web_fixtures import ARTIFACTS, browser, serve  # noqa: F401  (browser: a fixture, for the diagram tests)

ROOT = Path(__file__).resolve().parent.parent
# 1280x720, 1280x720 at 125 % browser zoom (a 1024x576 CSS viewport), 1920x1080
SCREENS = [((1280, 720), 1.0), ((1280, 720), 1.25), ((1920, 1080), 1.0)]
SLOW_QUEUE = QueuePolicy(first_retry=6.0, backoff=1.0, max_interval=6.0, lifetime=120.0,
                         connect_timeout=2.0, command_timeout=5.0)


@pytest.fixture
def site(start_world):
    """``start(scenario, **config overrides) -> (world, server)``: a world and its web UI."""
    servers = []

    def start(scenario=None, **overrides):
        world = start_world(scenario, **overrides)
        server = serve(world.stack)
        servers.append(server)
        return world, server
    yield start
    for server in servers:
        server.shutdown()


def big_scenario(count: int, order=None) -> str:
    """A world of ``count`` domains d1.test … with three hosts each (MSA, MX, backup MX) and one user
    u<i>@d<i>.test (password u<i>), listed in ``order`` (default: as a string sort lists them)."""
    numbers = order or sorted(range(1, count + 1), key=str)
    lines = ["name: big", "title: {en: A big world, ru: Большой мир}", "domains:"]
    for i in numbers:
        d = f"d{i}.test"
        lines += [f"  {d}:", f"    users: {{u{i}: u{i}}}", "    hosts:",
                  f"      smtp.{d}: {{role: msa}}", f"      mx.{d}: {{role: mx}}", f"      mx2.{d}: {{role: backup-mx}}",
                  "    mx:", f"      - {{preference: 10, host: mx.{d}}}", f"      - {{preference: 20, host: mx2.{d}}}"]
    return "\n".join(lines) + "\n"


def open_page(browser, url: str, *, size=(1280, 720), zoom: float = 1.0, lang: str = "en"):
    """A page as a browser at ``zoom`` shows it (125 %: 1280x720 device pixels, 1024x576 CSS px)."""
    context = browser.new_context(viewport={"width": round(size[0] / zoom), "height": round(size[1] / zoom)},
                                  device_scale_factor=zoom)
    context.add_init_script(f"localStorage.setItem('mailflow.lang', '{lang}');"
                            "localStorage.setItem('mailflow.present', '0');")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors
    page.goto(url)
    page.wait_for_selector("body[data-ready=yes]", timeout=20000)
    return page


def shot(page, name: str) -> Path:
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def screen_name(size, zoom, lang) -> str:
    return f"{size[0]}x{size[1]}{'-125' if zoom != 1.0 else ''}-{lang}"


def row(page, seq: int):
    return page.locator(f'#timeline-list li.row[data-seq="{seq}"]')


# Client rectangles (CSS px on the screen) of the visible nodes, by node id.
NODE_BOXES = """() => {
  const out = {};
  for (const g of document.querySelectorAll('#diagram .node')) {
    if (g.getAttribute('display') === 'none') continue;
    const r = g.querySelector('.box').getBoundingClientRect();
    out[g.dataset.node] = {x: r.left, y: r.top, w: r.width, h: r.height};
  }
  return out;
}"""

# WCAG 2 contrast of two CSS colours, and the colour an element's background shows (walking up).
CONTRAST_JS = """
const rgb = (c) => { const m = String(c).match(/[\\d.]+/g) || [0, 0, 0]; return m.slice(0, 3).map(Number); };
const lum = (c) => { const [r, g, b] = rgb(c).map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
const contrast = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
const backdrop = (el) => { for (let e = el; e; e = e.parentElement) {
  const bg = getComputedStyle(e).backgroundColor; if (bg && !/rgba\\(.*,\\s*0\\)$/.test(bg) && bg !== 'transparent') return bg; }
  return 'rgb(255, 255, 255)'; };
"""
