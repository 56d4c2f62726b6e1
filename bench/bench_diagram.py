"""How long a big world takes to start and to appear on the page (issue 9, defect 12).

For worlds of 3 (the default lesson), 12 and 50 domains (three hosts each), it measures:

- start: MailStack.start() (every host's listeners on loopback, the DNS zones);
- layout: World.graph() + layout() for a 1280x720 screen's diagram area (880x600), median of 20,
  and the size of the JSON the page downloads;
- page: a headless Chromium page at 1280x720, from goto() to ``body[data-ready=yes]`` (the world,
  the history, the layout drawn), median of 5 fresh pages;

and prints them with the ratio to the 3-domain world.  Usage::

    .venv/bin/python bench/bench_diagram.py [--sizes 3 12 50] [--pages 5] [--json bench/results/diagram.json]

Results: bench/DIAGRAM.md.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from bench.common import sandbox_ports  # noqa: E402
from simulator.bus import EventBus  # noqa: E402
from simulator.config import Config  # noqa: E402
from simulator.runtime import MailStack  # noqa: E402
from simulator.scenario import DEFAULT_SCENARIO, load_scenario, parse_scenario  # noqa: E402
from simulator.web import serve  # noqa: E402
from simulator.web.layout import layout  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def scenario(count: int):
    if count == 3:
        return load_scenario(DEFAULT_SCENARIO)
    from diagram_helpers import big_scenario
    return parse_scenario(big_scenario(count), "big.yaml")


def measure(count: int, pages: int) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="bench-diagram-"))
    config = Config(data_dir=tmp, ports=sandbox_ports(), seed=7)
    t0 = time.perf_counter()
    stack = MailStack(config, scenario(count), bus=EventBus(log_path=tmp / "events.jsonl"))
    stack.start()
    started = time.perf_counter() - t0
    try:
        runs = []
        for _ in range(20):
            t = time.perf_counter()
            data = layout(stack.world.graph(), 880, 600)
            runs.append(time.perf_counter() - t)
        size = len(json.dumps(data))
        server = serve(stack, config, quiet=True)
        try:
            ready = page_times(server.url, pages)
        finally:
            server.shutdown()
        return {"domains": count, "start_s": started, "layout_s": statistics.median(runs), "layout_kb": size / 1024,
                "mode": data["mode"], "page_s": statistics.median(ready), "page_max_s": max(ready)}
    finally:
        stack.stop()


def page_times(url: str, pages: int) -> list[float]:
    from playwright.sync_api import sync_playwright
    out = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        for _ in range(pages):
            context = browser.new_context(viewport={"width": 1280, "height": 720})
            page = context.new_page()
            t = time.perf_counter()
            page.goto(url)
            page.wait_for_selector("body[data-ready=yes]", timeout=60000)
            page.wait_for_selector("#diagram[data-mode]")
            out.append(time.perf_counter() - t)
            context.close()
        browser.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[3, 12, 50])
    parser.add_argument("--pages", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows = [measure(n, args.pages) for n in args.sizes]
    base = rows[0]
    print(f"{'domains':>7} {'mode':>7} {'start':>8} {'layout':>8} {'json':>8} {'page':>8} {'page max':>9} {'page ×':>7}")
    for r in rows:
        print(f"{r['domains']:>7} {r['mode']:>7} {r['start_s']:>7.2f}s {r['layout_s'] * 1000:>6.0f}ms "
              f"{r['layout_kb']:>6.0f}kB {r['page_s']:>7.2f}s {r['page_max_s']:>8.2f}s {r['page_s'] / base['page_s']:>6.2f}×")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"argv": sys.argv, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
