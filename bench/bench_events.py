"""Benchmark: how fast hops reach the browsers, and how late.

    .venv/bin/python bench/bench_events.py                       # 1 and 30 clients, 1,000 messages
    .venv/bin/python bench/bench_events.py --clients 1 30 --messages 1000 --browser

For each number of clients N it starts a fresh mail world (default scenario, temporary data
directory, free loopback ports) and its web UI, connects N Socket.IO clients, sends a burst of
messages through the front door (alice@alpha.test -> bob@beta.test, several SMTP connections at once)
and measures, per client:

- events per second reaching the client during the burst (events received / time from the first
  hop to the last arrival), beside the rate the mail world produced them;
- delay from a hop (the event's timestamp, taken when the simulator publishes it) to its arrival:
  median and 95th percentile.

The clients are protocol-level Socket.IO clients (Engine.IO v4 over a WebSocket, simple-websocket)
running in a separate process, so they do not share the server's interpreter lock.  With
``--browser`` one of the N is a real page in headless Chromium: its arrival time is taken in the
page after the batch has been parsed and folded into the timeline (the "mailflow:batch" DOM event),
which is what a student sees.  The senders run in a separate process too.

In the page: main-thread tasks over 50 ms (``longtask``), and the long animation frames over 50 ms
(``long-animation-frame``) with their attribution: which scripts ran in them (file, function, how
long, how much of it was a layout they forced) and how long the browser's own style, layout and
paint took after them.  ``--trace`` also records a Chromium performance trace of the burst and
counts the page's main-thread tasks by CPU time (thread time) as well as by wall-clock time: on a
machine shared with other work a task's wall-clock time grows with the waiting for a CPU, its
thread time does not, so before/after comparisons on a busy machine use the CPU figures.
``--invalidations`` (with ``--trace``) adds Chromium's invalidation tracking and lists the most
frequent causes of layout (element, reason, the script's top frames); the page also counts how often
the diagram's box changed size (a ResizeObserver): it should not during a burst.
``--profile`` (with ``--browser``) samples the page's JavaScript during the burst with V8's CPU
profiler (every 250 µs, through the DevTools protocol) and lists the functions by self time, and by
time including what they call: where the script time of the long frames goes.

Not a test: it prints figures (and writes them to bench/results/, gitignored).  See bench/README.md.
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import percentile, sandbox_ports  # noqa: E402  (bench/ is the script's own directory)


# -- the clients process ------------------------------------------------------------------------------
def run_clients(port: int, count: int) -> None:
    """Connect ``count`` Socket.IO clients; record (seq, ts, arrival) until told the final seq."""
    import simple_websocket

    records: list[list[tuple[int, float, float]]] = [[] for _ in range(count)]
    batches = [0] * count
    ready = threading.Barrier(count + 1)
    final = {"seq": None}
    done = [threading.Event() for _ in range(count)]

    def client(index: int) -> None:
        ws = simple_websocket.Client.connect(f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket")
        try:
            # simple-websocket's client may leave the server's first frame (Engine.IO "open") unread in
            # its buffer when it arrived with the handshake; sending the namespace CONNECT at once makes
            # the server answer, and the buffered frame is then read in order.
            ws.send("40")
            opened = ws.receive(timeout=30)
            assert opened and opened.startswith("0"), opened
            joined = False
            last = 0
            while True:
                message = ws.receive(timeout=1.0)
                now = time.time()
                if message is None:
                    if final["seq"] is not None and last >= final["seq"]:
                        break
                    continue
                if message == "2":                  # Engine.IO ping
                    ws.send("3")
                elif message.startswith("40") and not joined:
                    joined = True
                    ready.wait(30)
                elif message.startswith("42"):
                    name, data = json.loads(message[2:])
                    if name == "events":
                        batches[index] += 1
                        for event in data["events"]:
                            records[index].append((event["seq"], event["ts"], now))
                            last = max(last, event["seq"])
                if final["seq"] is not None and last >= final["seq"]:
                    break
        finally:
            done[index].set()
            ws.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:          # all at once: "everybody open the link now"
        thread.start()
    ready.wait(60)
    print(json.dumps({"ready": True}), flush=True)
    line = sys.stdin.readline()                       # the orchestrator sends the final seq
    final["seq"] = json.loads(line)["final_seq"]
    for event in done:
        event.wait(120)
    print(json.dumps({"records": records, "batches": batches}), flush=True)


# -- the senders process ------------------------------------------------------------------------------
def run_senders(port: int, messages: int, connections: int) -> None:
    import smtplib

    per = [messages // connections + (1 if i < messages % connections else 0) for i in range(connections)]
    errors: list[str] = []

    def sender(index: int, count: int) -> None:
        try:
            with smtplib.SMTP("127.0.0.1", port, local_hostname="bench.localhost", timeout=120) as smtp:
                smtp.login("alice@alpha.test", "alice")
                for n in range(count):
                    body = (f"From: alice@alpha.test\r\nTo: bob@beta.test\r\nSubject: burst {index}-{n}\r\n\r\n"
                            f"message {n} of connection {index}\r\n").encode()
                    smtp.sendmail("alice@alpha.test", ["bob@beta.test"], body)
        except Exception as exc:     # reported to the orchestrator
            errors.append(repr(exc))

    start = time.time()
    threads = [threading.Thread(target=sender, args=(i, c)) for i, c in enumerate(per)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(json.dumps({"submitted_in": time.time() - start, "errors": errors}), flush=True)


# -- the orchestrator ---------------------------------------------------------------------------------
def summarise(records: list[tuple[int, float, float]], first_ts: float) -> dict:
    delays = [(arrival - ts) * 1000 for _, ts, arrival in records]
    last_arrival = max(arrival for _, _, arrival in records)
    return {"events": len(records), "rate": len(records) / max(1e-9, last_arrival - first_ts),
            "median_ms": statistics.median(delays), "p95_ms": percentile(delays, 0.95),
            "max_ms": max(delays)}


def replay(stack, submission: int, messages: int, delivered: threading.Event) -> dict:
    """Synthetic burst: send one real message, then publish its hops again ``messages`` times, as
    fast as the bus takes them (the web layer's capacity, without the mail world's fsyncs)."""
    import smtplib

    before = stack.bus.last_seq
    with smtplib.SMTP("127.0.0.1", submission, local_hostname="bench.localhost", timeout=30) as smtp:
        smtp.login("alice@alpha.test", "alice")
        smtp.sendmail("alice@alpha.test", ["bob@beta.test"], b"Subject: template\r\n\r\nx\r\n")
    deadline = time.time() + 30
    while time.time() < deadline and not any(e.kind == "mda.deliver" for e in stack.bus.since(before)):
        time.sleep(0.05)
    template = stack.bus.since(before)
    delivered.clear()
    start = time.time()
    facts = [e.fact for e in template if e.fact is not None]
    for n in range(messages):
        for fact in facts:      # the narrator words each one again, as for a real hop
            stack.bus.publish(dataclasses.replace(fact, trace=f"r-{n:05d}"))
    return {"submitted_in": time.time() - start, "errors": []}


def attribute(frames: list[dict]) -> dict:
    """Where the long animation frames' time went: scripts (by file:function), and rendering."""
    scripts: dict[str, list[float]] = {}
    for frame in frames:
        for script in frame["scripts"]:
            entry = scripts.setdefault(script["where"], [0.0, 0.0, 0])
            entry[0] += script["duration"]
            entry[1] += script["forced"]
            entry[2] += 1
    top = sorted(scripts.items(), key=lambda item: -item[1][0])[:6]
    return {"count": len(frames), "total_ms": sum(f["duration"] for f in frames),
            "rendering_ms": sum(f["render"] for f in frames),
            "scripts": [{"where": where, "ms": ms, "forced_layout_ms": forced, "count": n}
                        for where, (ms, forced, n) in top]}


# The renderer's events the trace's summary adds up by CPU time (`main_thread`'s "by_name_cpu_ms").
BY_NAME = ("FireAnimationFrame", "FunctionCall", "UpdateLayoutTree", "Layout", "PrePaint", "Paint", "Layerize",
           "Commit", "IntersectionObserverController::computeIntersections", "MinorGC", "MajorGC")


def main_thread(trace: dict | list) -> dict:
    """The page's main thread in a Chromium trace: its tasks by wall-clock and by CPU (thread) time."""
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    names = {(e["pid"], e["tid"]): e["args"]["name"] for e in events if e.get("name") == "thread_name"}
    runs: dict[tuple, list[dict]] = {}
    for e in events:
        if e.get("name") == "RunTask" and e.get("ph") == "X" and names.get((e["pid"], e["tid"])) == "CrRendererMain":
            runs.setdefault((e["pid"], e["tid"]), []).append(e)
    if not runs:
        return {"tasks": 0}
    thread, tasks = max(runs.items(), key=lambda item: len(item[1]))   # the page's renderer (the busiest)
    wall = [e["dur"] / 1000 for e in tasks]
    cpu = [e.get("tdur", 0) / 1000 for e in tasks]
    # where the CPU went: the renderer's own events inside its tasks (layout, style, paint, scripts)
    by_name: dict[str, float] = {}
    for e in events:
        if (e.get("ph") == "X" and (e["pid"], e["tid"]) == thread and e.get("name") in BY_NAME):
            by_name[e["name"]] = by_name.get(e["name"], 0.0) + e.get("tdur", 0) / 1000
    return {"tasks": len(tasks), "cpu_ms": sum(cpu),
            "by_name_cpu_ms": dict(sorted(by_name.items(), key=lambda item: -item[1])),
            "over_50ms_wall": sum(w > 50 for w in wall), "longest_wall_ms": max(wall),
            "over_50ms_cpu": sum(c > 50 for c in cpu), "over_30ms_cpu": sum(c > 30 for c in cpu),
            "longest_cpu_ms": max(cpu)}


def layout_invalidations(trace: dict | list, top: int = 12) -> list[dict]:
    """What made the page lay out again (``LayoutInvalidationTracking`` events): the most frequent
    (element, reason, the script's top frames) during the trace."""
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    counts: dict[tuple, int] = {}
    for e in events:
        if e.get("name") != "LayoutInvalidationTracking":
            continue
        data = e.get("args", {}).get("data", {})
        stack = " < ".join(f"{f.get('functionName') or '?'}@{(f.get('url') or '').rsplit('/', 1)[-1]}:{f.get('lineNumber')}"
                           for f in (data.get("stackTrace") or [])[:3])
        key = (data.get("nodeName") or "", data.get("reason") or "", stack)
        counts[key] = counts.get(key, 0) + 1
    return [{"node": node, "reason": reason, "script": stack, "count": n}
            for (node, reason, stack), n in sorted(counts.items(), key=lambda item: -item[1])[:top]]


def js_profile(profile: dict, top: int = 25) -> dict:
    """A V8 CPU profile (DevTools protocol) -> the functions by self time and by total time, in ms."""
    nodes = {n["id"]: n for n in profile["nodes"]}
    parent = {child: n["id"] for n in profile["nodes"] for child in n.get("children", [])}
    samples, deltas = profile.get("samples", []), profile.get("timeDeltas", [])
    # a sample's time is the delta that follows it (the time until the next sample)
    sample_ms = [(deltas[i + 1] if i + 1 < len(deltas) else 0) / 1000 for i in range(len(samples))]

    @functools.cache
    def name(node_id: int) -> str:
        frame = nodes[node_id]["callFrame"]
        url = frame.get("url", "").rsplit("/", 1)[-1]
        where = f"{url}:{frame.get('lineNumber', -1) + 1}" if url else ""
        return f"{frame.get('functionName') or '(anonymous)'} {where}".strip()

    def with_callers(table: dict[str, float], node_id: int, ms: float) -> None:
        """``ms`` to the sampled function and every caller above it, once each (recursion)."""
        seen = set()
        at: int | None = node_id
        while at is not None:
            label = name(at)
            if label not in seen:
                seen.add(label)
                table[label] = table.get(label, 0.0) + ms
            at = parent.get(at)

    self_ms: dict[str, float] = {}
    total_ms: dict[str, float] = {}
    spent: dict[int, float] = {}
    for node_id, ms in zip(samples, sample_ms):
        spent[node_id] = spent.get(node_id, 0.0) + ms
    for node_id, ms in spent.items():
        self_ms[name(node_id)] = self_ms.get(name(node_id), 0.0) + ms
        with_callers(total_ms, node_id, ms)
    outside = {"(idle)", "(program)", "(root)"}          # not the page's script: waiting, the browser's own
    idle = outside | {"(garbage collector)"}
    busy = sum(ms for label, ms in self_ms.items() if label not in idle)
    rank = lambda table: [[label, round(ms, 1)] for label, ms in  # noqa: E731
                          sorted(table.items(), key=lambda item: -item[1])[:top]]

    # The longest unbroken runs of script (no idle or browser-side sample between: a run ends where
    # the browser took over, to lay out or paint, so a long frame's script may be two runs or more);
    # each with the functions it spent the most time in, callees included.
    runs: list[tuple[float, dict[str, float]]] = []
    length, inside = 0.0, {}
    for node, ms in zip(samples + [None], sample_ms + [0.0]):
        if node is None or name(node) in outside:
            if length:
                runs.append((length, inside))
            length, inside = 0.0, {}
            continue
        length += ms
        with_callers(inside, node, ms)
    runs.sort(key=lambda run: -run[0])
    longest = [{"ms": round(ms, 1), "in": rank(inside)[:12]} for ms, inside in runs[:5]]
    return {"script_ms": round(busy, 1), "gc_ms": round(self_ms.get("(garbage collector)", 0.0), 1),
            "self": rank({k: v for k, v in self_ms.items() if k not in idle}),
            "total": rank({k: v for k, v in total_ms.items() if k not in idle}),
            "longest_runs": longest}


def serve_static(route, root: Path) -> None:
    """Answer a request for /static/<path> from ``root`` instead of the server's static/."""
    import mimetypes

    path = route.request.url.split("/static/", 1)[1].split("?")[0]
    target = (root / path).resolve()
    if root.resolve() not in target.parents or not target.is_file():
        route.fulfill(status=404, body="not found")
        return
    route.fulfill(status=200, body=target.read_bytes(),
                  headers={"content-type": mimetypes.guess_type(str(target))[0] or "application/octet-stream"})


def one_run(clients: int, messages: int, connections: int, browser: bool, synthetic: bool = False,
            trace: bool = False, static: str | None = None, invalidations: bool = False,
            profile: bool = False) -> dict:
    import logging

    from simulator import web
    from simulator.bus import EventBus
    from simulator.config import Config, QueuePolicy
    from simulator.runtime import MailStack
    from simulator.scenario import DEFAULT_SCENARIO, load_scenario

    logging.getLogger("mail.log").setLevel(logging.ERROR)
    tmp = Path(tempfile.mkdtemp(prefix="mailflow-bench-"))
    ports = sandbox_ports()
    config = Config(data_dir=tmp / "data", ports=ports, seed=1, tls=False,
                    queue=QueuePolicy(first_retry=1.0, max_interval=5.0, lifetime=300.0))
    bus = EventBus(history=max(5000, messages * 8), log_path=None)
    stack = MailStack(config, load_scenario(DEFAULT_SCENARIO), bus=bus)
    stack.start()
    server = web.serve(stack, config, quiet=True)
    delivered = threading.Event()
    count = {"deliver": 0, "bounce": 0}

    def watch(event) -> None:
        if synthetic and not (event.trace or "").startswith("r-"):
            return
        if event.kind == "mda.deliver":
            count["deliver"] += 1
        elif event.kind == "queue.bounce":
            count["bounce"] += 1
        if count["deliver"] + count["bounce"] >= messages:
            delivered.set()
    bus.subscribe(watch)

    python_clients = clients - (1 if browser else 0)
    proc = None
    page = playwright = chromium = None
    try:
        if python_clients:
            proc = subprocess.Popen([sys.executable, __file__, "--role", "clients", "--port", str(server.port),
                                     "--count", str(python_clients)],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            assert json.loads(proc.stdout.readline())["ready"]
        if browser:
            from playwright.sync_api import sync_playwright
            playwright = sync_playwright().start()
            chromium = playwright.chromium.launch(
                executable_path="/usr/bin/chromium",
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                      "--disable-component-update", "--disable-sync"])
            page = chromium.new_page(viewport={"width": 1280, "height": 720})
            page.add_init_script("""window.__arrivals = []; window.__longtasks = []; window.__frames = [];
                new PerformanceObserver((list) => { for (const e of list.getEntries()) window.__longtasks.push([performance.timeOrigin + e.startTime, e.duration]); })
                  .observe({type: 'longtask'});
                try {
                  new PerformanceObserver((list) => { for (const e of list.getEntries()) if (e.duration > 50) window.__frames.push({
                    duration: e.duration, render: e.renderStart ? e.startTime + e.duration - e.renderStart : 0,
                    scripts: e.scripts.map((s) => ({where: `${(s.sourceURL || '').split('/').pop()}:${s.sourceFunctionName || s.invoker}`,
                      duration: s.duration, forced: s.forcedStyleAndLayoutDuration}))}); })
                    .observe({type: 'long-animation-frame'});
                } catch (e) { /* no Long Animation Frames API in this browser */ }
                window.__resizes = [];      // the diagram's box changing size (it should not, during a burst)
                document.addEventListener('DOMContentLoaded', () => {
                  const svg = document.getElementById('diagram');
                  if (svg) new ResizeObserver((entries) => { for (const e of entries)
                    window.__resizes.push([e.contentRect.width, e.contentRect.height]); }).observe(svg);
                });
                window.addEventListener('mailflow:batch', (ev) => {
                  const now = Date.now();
                  for (let i = 0; i < ev.detail.seqs.length; i++) window.__arrivals.push([ev.detail.seqs[i], ev.detail.ts[i], now / 1000]);
                });""")
            if static:                  # another copy of static/ (before/after in the same minute)
                page.route("**/static/**", lambda route: serve_static(route, Path(static)))
            page.goto(server.url)
            page.wait_for_selector("body[data-ready=yes]", timeout=20000)
            time.sleep(0.5)           # the socket is connected and synced
        submission = next(item["port"] for item in stack.listener_table()
                          if item["service"] == "submission" and item["host"] == "front")
        if page is not None and trace:
            chromium.start_tracing(page=page, categories=["toplevel", "devtools.timeline",
                                                         "disabled-by-default-devtools.timeline"]
                                   + (["disabled-by-default-devtools.timeline.invalidationTracking"]
                                      if invalidations else []))
        cdp = None
        if page is not None and profile:
            cdp = page.context.new_cdp_session(page)
            cdp.send("Profiler.enable")
            cdp.send("Profiler.setSamplingInterval", {"interval": 250})
            cdp.send("Profiler.start")
        start_seq = bus.last_seq
        if synthetic:
            sent = replay(stack, submission, messages, delivered)
        else:
            sender = subprocess.run([sys.executable, __file__, "--role", "senders", "--port", str(submission),
                                     "--messages", str(messages), "--connections", str(connections)],
                                    capture_output=True, text=True, timeout=600)
            lines = sender.stdout.strip().splitlines()
            if sender.returncode != 0 or not lines:
                raise RuntimeError(f"the senders failed ({sender.returncode}): {sender.stderr[-2000:]}")
            sent = json.loads(lines[-1])
        if not delivered.wait(600):
            raise RuntimeError(f"only {count} of {messages} messages finished")
        time.sleep(0.2)
        final_seq = bus.last_seq
        events = bus.since(start_seq)
        first_ts = events[0].ts
        produced = {"events": len(events), "span_s": events[-1].ts - first_ts,
                    "rate": len(events) / max(1e-9, events[-1].ts - first_ts), "submitted_in_s": sent["submitted_in"],
                    "sender_errors": sent["errors"][:3]}
        result: dict = {"clients": clients, "messages": messages, "connections": connections, "produced": produced,
                        "synthetic": synthetic}
        per_client = []
        if proc is not None:
            proc.stdin.write(json.dumps({"final_seq": final_seq}) + "\n")
            proc.stdin.flush()
            data = json.loads(proc.stdout.readline())
            for records in data["records"]:
                per_client.append(summarise([tuple(r) for r in records], first_ts))
            result["python_clients"] = {
                "count": len(per_client),
                "events_min": min(c["events"] for c in per_client),
                "rate_median": statistics.median(c["rate"] for c in per_client),
                "rate_min": min(c["rate"] for c in per_client),
                "delay_median_ms": statistics.median(c["median_ms"] for c in per_client),
                "delay_p95_ms": statistics.median(c["p95_ms"] for c in per_client),
                "delay_p95_worst_ms": max(c["p95_ms"] for c in per_client),
                "batches_per_client": statistics.median(data["batches"]),
            }
        if page is not None:
            deadline = time.time() + 120
            while time.time() < deadline and page.evaluate("window.__arrivals.length") < len(events):
                time.sleep(0.2)
            arrivals = [tuple(a) for a in page.evaluate("window.__arrivals")]
            result["browser"] = summarise(arrivals, first_ts)
            result["browser"]["rows_in_timeline"] = page.evaluate(
                "document.querySelectorAll('#timeline-list li.row').length")
            # main-thread tasks over 50 ms: of the burst (any of it after its first hop), and of the
            # page's start-up before it, apart
            long_tasks = page.evaluate("window.__longtasks")
            last_ms = max((a[2] for a in arrivals), default=first_ts) * 1000     # the last batch's arrival
            during = [d for start, d in long_tasks if start + d >= first_ts * 1000 and start <= last_ms]
            before = [d for start, d in long_tasks if start + d < first_ts * 1000]
            result["browser"]["long_tasks"] = len(during)
            result["browser"]["longest_task_ms"] = max(during, default=0)
            result["browser"]["long_tasks_before"] = [round(d) for d in before]
            result["browser"]["long_frames"] = attribute(page.evaluate("window.__frames"))
            result["browser"]["diagram_resizes"] = page.evaluate("window.__resizes")[-5:]
            result["browser"]["diagram_resize_count"] = page.evaluate("window.__resizes.length")
            if cdp is not None:
                result["browser"]["profile"] = js_profile(cdp.send("Profiler.stop")["profile"])
            if trace:
                raw = chromium.stop_tracing()
                result["browser"]["trace"] = main_thread(json.loads(raw))
                if invalidations:
                    result["browser"]["invalidations"] = layout_invalidations(json.loads(raw))
                out = ROOT / "bench" / "results"
                out.mkdir(exist_ok=True)
                name = out / f"events-trace-{time.strftime('%Y%m%d-%H%M%S')}.json"
                name.write_bytes(raw)
                result["browser"]["trace"]["file"] = str(name.relative_to(ROOT))
        result["bridge"] = {"batches": server.app.extensions["mailflow"].bridge.batches_sent}
        return result
    finally:
        if proc is not None:
            proc.stdin.close()
            proc.wait(30)
            proc.stdout.close()
        if chromium is not None:
            chromium.close()
            playwright.stop()
        server.shutdown()
        stack.stop()


def report(result: dict) -> str:
    p = result["produced"]
    how = ("replayed hops (synthetic: the web layer alone)" if result.get("synthetic")
           else f"messages over {result['connections']} SMTP connections")
    lines = [f"== {result['clients']} client(s), {result['messages']} {how}",
             f"   mail world: {p['events']} events in {p['span_s']:.1f} s = {p['rate']:.0f} events/s "
             f"(submission took {p['submitted_in_s']:.1f} s); bridge sent {result['bridge']['batches']} batches"]
    if "python_clients" in result:
        c = result["python_clients"]
        lines.append(f"   {c['count']} Socket.IO client(s): received {c['events_min']} events each (min), "
                     f"{c['rate_median']:.0f} events/s (median; slowest {c['rate_min']:.0f}); "
                     f"hop->client delay median {c['delay_median_ms']:.0f} ms, p95 {c['delay_p95_ms']:.0f} ms "
                     f"(worst client p95 {c['delay_p95_worst_ms']:.0f} ms); {c['batches_per_client']:.0f} batches")
    if "browser" in result:
        b = result["browser"]
        lines.append(f"   Chromium page: {b['events']} events, {b['rate']:.0f} events/s; hop->browser delay "
                     f"median {b['median_ms']:.0f} ms, p95 {b['p95_ms']:.0f} ms, max {b['max_ms']:.0f} ms; "
                     f"{b['long_tasks']} main-thread tasks over 50 ms during the burst (longest "
                     f"{b['longest_task_ms']:.0f} ms; before it, the page's start-up: {b['long_tasks_before'] or 'none'}); "
                     f"{b['rows_in_timeline']} timeline rows in the DOM; the diagram's box resized "
                     f"{b['diagram_resize_count']}x (last sizes {b['diagram_resizes']})")
        f = b["long_frames"]
        lines.append(f"   long animation frames over 50 ms: {f['count']} ({f['total_ms']:.0f} ms; the browser's own "
                     f"style, layout and paint after the scripts {f['rendering_ms']:.0f} ms); scripts in them: "
                     + (", ".join(f"{s['where']} {s['ms']:.0f} ms ({s['count']}x, forced layout {s['forced_layout_ms']:.0f} ms)"
                                  for s in f["scripts"]) or "none"))
        if "trace" in b and b["trace"].get("tasks"):
            t = b["trace"]
            lines.append(f"   trace ({t['file']}): {t['tasks']} main-thread tasks, {t['cpu_ms']:.0f} ms of CPU; over 50 ms: "
                         f"{t['over_50ms_wall']} by wall clock (longest {t['longest_wall_ms']:.0f} ms), "
                         f"{t['over_50ms_cpu']} by CPU time (longest {t['longest_cpu_ms']:.0f} ms; over 30 ms: {t['over_30ms_cpu']})")
            lines.append("   by_name (CPU ms): " + ", ".join(f"{name} {ms:.0f}" for name, ms in t["by_name_cpu_ms"].items()))
        if "profile" in b:
            prof = b["profile"]
            lines.append(f"   JavaScript during the burst: {prof['script_ms']:.0f} ms (garbage collection {prof['gc_ms']:.0f} ms)")
            lines.append("   self time (ms): " + ", ".join(f"{label} {ms:.0f}" for label, ms in prof["self"][:15]))
            lines.append("   with callees (ms): " + ", ".join(f"{label} {ms:.0f}" for label, ms in prof["total"][:20]))
            for run in prof["longest_runs"][:3]:
                lines.append(f"   a run of script of {run['ms']:.0f} ms: "
                             + ", ".join(f"{label} {ms:.1f}" for label, ms in run["in"]))
        for item in b.get("invalidations", []):
            lines.append(f"   layout invalidated {item['count']}x: {item['node']} ({item['reason']}) {item['script']}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 30])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=10, help="SMTP connections sending at once")
    parser.add_argument("--browser", action="store_true", help="one of the clients is a Chromium page")
    parser.add_argument("--trace", action="store_true",
                        help="with --browser: record a Chromium trace of the burst and count tasks by CPU time too")
    parser.add_argument("--invalidations", action="store_true",
                        help="with --trace: also track what invalidated each layout (node, reason, script)")
    parser.add_argument("--static", metavar="DIR",
                        help="with --browser: the page's static files from DIR (e.g. a copy of the old static/)")
    parser.add_argument("--profile", action="store_true",
                        help="with --browser: sample the page's JavaScript during the burst (V8 CPU profiler)")
    parser.add_argument("--synthetic", action="store_true",
                        help="replay a real message's hops on the bus as fast as possible instead of sending mail")
    parser.add_argument("--role", choices=["clients", "senders"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "clients":
        run_clients(args.port, args.count)
        return 0
    if args.role == "senders":
        run_senders(args.port, args.messages, args.connections)
        return 0
    results = []
    for clients in args.clients:
        result = one_run(clients, args.messages, args.connections, args.browser, args.synthetic, args.trace,
                         args.static, args.invalidations, args.profile)
        results.append(result)
        print(report(result), flush=True)
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (out / f"events-{stamp}.json").write_text(json.dumps(
        {"command": " ".join(sys.argv), "cpus": os.cpu_count(), "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
