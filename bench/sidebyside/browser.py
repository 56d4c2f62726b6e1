"""A burst of messages into one Chromium page: events/s reaching it, hop → drawing, frames, long tasks.

Theory of operation: a fresh ``app.py``; headless Chromium (Debian's ``/usr/bin/chromium``, driven
by Playwright, 1280×720) opens the page as a student would (no teacher token) and waits until it
says it is ready (``body[data-ready=yes]``).  Instruments put in the page before its own scripts:

- every ``mailflow:batch`` (the page has parsed a Socket.IO batch and folded it into the timeline
  and the diagram) is stamped, and the next ``requestAnimationFrame`` callback after it is the frame
  that draws it: **hop → drawing** = that frame's time − the event's ``ts`` (the server's clock;
  same machine);
- a ``requestAnimationFrame`` loop records every frame: **frames per second** during the burst and
  the longest gap between two frames;
- a ``PerformanceObserver`` of ``longtask`` entries: main-thread tasks over 50 ms and the longest,
  of the burst (a task counts if any of it falls between the first hop and the last drawing) and,
  apart, of the page's start-up before it (its scripts evaluated, its first API answers: the burst
  begins half a second after the page says it is ready);
- a ``PerformanceObserver`` of ``long-animation-frame`` entries over 50 ms: where a long frame's time
  went (``long_frames``: the scripts in them by file and function, with the layout each forced, and
  the browser's own style, layout and paint after them), in the raw JSON; RESULTS.md shows the
  counts above.  ``bench/bench_events.py --browser --trace`` prints the same, and the CPU time of
  each task (a trace), for work on the page.

Then ``sender.py`` submits the burst (N messages, 10 connections reused, AUTH) and the run waits
until every message is in the Maildir and the page has drawn the server's last event.  The burst's
window is from its first hop to its last hop; "all drawn" is the last drawing − the last hop.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from .latency import percentile
from .servers import Mailflow
from .submission import PASSWORD, RCPT, USER

HERE = Path(__file__).resolve().parent
CHROMIUM = "/usr/bin/chromium"
INSTRUMENTS = """
window.__bench = {batches: [], frames: [], longtasks: [], loaf: []};
(function () {
  const now = () => performance.timeOrigin + performance.now();
  const frame = () => { window.__bench.frames.push(now()); requestAnimationFrame(frame); };
  requestAnimationFrame(frame);
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) window.__bench.longtasks.push([performance.timeOrigin + e.startTime, e.duration]);
    }).observe({type: 'longtask', buffered: true});
  } catch (e) { window.__bench.noLongtasks = true; }
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) if (e.duration > 50) window.__bench.loaf.push([performance.timeOrigin + e.startTime,
        e.duration, e.renderStart ? e.startTime + e.duration - e.renderStart : 0,
        e.scripts.map((s) => [`${(s.sourceURL || '').split('/').pop()}:${s.sourceFunctionName || s.invoker}`, s.duration,
          s.forcedStyleAndLayoutDuration])]);
    }).observe({type: 'long-animation-frame', buffered: true});
  } catch (e) { /* no Long Animation Frames API */ }
  window.addEventListener('mailflow:batch', (ev) => {
    const at = now();
    const seqs = ev.detail.seqs, ts = ev.detail.ts;
    requestAnimationFrame(() => window.__bench.batches.push([seqs, ts, at, now()]));
  });
})();
"""


def last_seq(web_port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/api/state", timeout=30) as answer:
        return int(json.load(answer)["last_seq"])


def run(workdir: Path, messages: int, bound: float) -> dict:
    from playwright.sync_api import sync_playwright

    out: dict = {"messages": messages}
    server = Mailflow(workdir).start()
    playwright = browser = None
    try:
        playwright = sync_playwright().start()
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"])
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        page.add_init_script(INSTRUMENTS)
        web = server.ports["web"]
        page.goto(f"http://127.0.0.1:{web}/")
        page.wait_for_selector("body[data-ready=yes]", timeout=30000)
        page.wait_for_timeout(500)
        seq0 = last_seq(web)
        watch = server.arrivals(RCPT)
        command = [sys.executable, str(HERE / "sender.py"), "--port", str(server.ports["submission"]),
                   "--user", USER, "--password", PASSWORD, "--rcpt", RCPT, "--messages", str(messages),
                   "--connections", "10", "--reuse", "--seconds", str(bound), "--tag", "burst"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=bound + 90)
        sent = json.loads(done.stdout.strip().splitlines()[-1])
        out["errors"] = sent["errors"]
        watch.wait(len(sent["stamps"]), max(1.0, bound - (time.time() - sent["start"])))
        out["delivered"] = watch.count()
        watch.close()
        final = last_seq(web)
        deadline = time.time() + 60
        while time.time() < deadline:
            drawn = page.evaluate("Math.max(0, ...window.__bench.batches.map(b => Math.max(...b[0])))")
            if drawn >= final:
                break
            page.wait_for_timeout(200)
        page.wait_for_timeout(300)
        data = page.evaluate("window.__bench")
        out.update(summarise(data, seq0, final))
        return out
    finally:
        if browser is not None:
            browser.close()
        if playwright is not None:
            playwright.stop()
        server.stop()


def summarise(data: dict, seq0: int, final: int) -> dict:
    events = []           # (seq, ts ms, arrival ms, drawn ms)
    for seqs, tss, at, drawn in data["batches"]:
        for seq, ts in zip(seqs, tss):
            if seq0 < seq <= final:
                events.append((seq, ts * 1000, at, drawn))
    if not events:
        return {"events": 0, "expected_events": final - seq0}
    first_hop = min(e[1] for e in events)
    last_hop = max(e[1] for e in events)
    last_drawn = max(e[3] for e in events)
    delays = [e[3] - e[1] for e in events]
    frames = [f for f in data["frames"] if first_hop <= f <= last_hop]
    gaps = [b - a for a, b in zip(frames, frames[1:])]
    window_s = max(1e-3, (last_hop - first_hop) / 1000)
    # during the burst = overlapping [first hop, last drawing]; the page's own start-up (its scripts
    # evaluated, its first API answers) ends before the burst begins and is counted apart
    tasks = [d for start, d in data["longtasks"] if start + d >= first_hop and start <= last_drawn]
    before = [d for start, d in data["longtasks"] if start + d < first_hop]
    long_frames = [f for f in data.get("loaf", []) if f[0] + f[1] >= first_hop and f[0] <= last_drawn]
    scripts: dict[str, list[float]] = {}
    for _start, _duration, _render, ran in long_frames:
        for where, ms, forced in ran:
            entry = scripts.setdefault(where, [0.0, 0.0, 0])
            entry[0] += ms
            entry[1] += forced
            entry[2] += 1
    return {"events": len({e[0] for e in events}), "expected_events": final - seq0,
            "events_per_s": len(events) / max(1e-3, (max(e[2] for e in events) - first_hop) / 1000),
            "hop_to_drawing_p50_ms": percentile(delays, 0.5), "hop_to_drawing_p95_ms": percentile(delays, 0.95),
            "all_drawn_after_burst_ms": last_drawn - last_hop, "burst_s": window_s,
            "fps": len(frames) / window_s, "longest_frame_gap_ms": max(gaps, default=None),
            "long_tasks": len(tasks), "longest_task_ms": max(tasks, default=0.0),
            "long_tasks_before_burst": len(before), "longest_task_before_burst_ms": max(before, default=0.0),
            "longtask_observer": not data.get("noLongtasks", False),
            "long_frames": {"count": len(long_frames), "total_ms": sum(f[1] for f in long_frames),
                            "rendering_ms": sum(f[2] for f in long_frames),
                            "scripts": [{"where": where, "ms": ms, "forced_layout_ms": forced, "count": n}
                                        for where, (ms, forced, n) in sorted(scripts.items(), key=lambda i: -i[1][0])[:6]]}}
