#!/usr/bin/env python3
"""Load run (issue 12): 50 SMTP sessions against an MX while two IMAP clients IDLE and five browsers watch.

Not a test: a bounded script that runs once and prints its figures (bench/README.md, "Load run").

    .venv/bin/python bench/bench_load.py                      # 50 sessions x 4 messages, 2 IDLE, 5 browsers
    .venv/bin/python bench/bench_load.py --quick              # 10 x 2, 2 IDLE, 1 browser: a smoke run

What it does
  1. Starts ``app.py`` as a user would (a subprocess, the default scenario, the web UI, TLS off, free
     loopback ports, a temporary data directory) with ``MAILFLOW_NET_AUDIT`` set, so every connection
     or name lookup it attempts off loopback is refused and logged (simulator/netaudit.py).
  2. Opens five pages of the web UI in headless Chromium (``/usr/bin/chromium`` via Playwright, one
     browser context each: five separate browsers as far as the server can tell), each counting the
     events it is handed (the page's ``mailflow:batch`` DOM event) and showing its last seq.
  3. Two IMAP clients log in as bob@beta.test at the front door, SELECT INBOX and IDLE (RFC 2177),
     noting the time of every ``* n EXISTS``.
  4. 50 SMTP sessions at once against beta.test's MX (mx1.beta.test, 127.42.2.2), each from its own
     loopback address 127.0.1.N (the per-address cap is 20), each sending its messages to
     bob@beta.test with a unique Message-ID, then QUIT.
  5. Waits (bounded) until every accepted message is in bob's Maildir, both IDLE clients saw that
     many EXISTS and every page has every event; then judges and reports:
       - sessions and messages: accepted (250), refused, errors; delivered, delivered once, lost,
         duplicated (by Message-ID in the Maildir), truncated (body check);
       - SMTP throughput (accepted/s over the sending span), 250-to-delivered latency (median, p95:
         the client's 250 to the event log's ``mda.deliver`` of that Message-ID's trace);
       - IDLE push delay: the n-th 250 to the push announcing n messages (``* n EXISTS``), both clients;
       - per browser: events received of those published, the page's last seq, missing events;
       - app.py's peak RSS (VmHWM) and CPU seconds; connections or lookups off loopback (0).
  Exit status 1 when anything was lost, duplicated, truncated, refused, in error, missing or off loopback.

Bounded everywhere: socket timeouts, ``--timeout`` for the whole run, and the script ends only what it
started, by pid (app.py) or through Playwright (its Chromium).  Raw results: ``bench/results/load-*.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import smtplib
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from email.message import EmailMessage
from email.parser import BytesParser
from email import policy
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import percentile  # noqa: E402
from simulator import netaudit  # noqa: E402

MX = "127.42.2.2"                       # mx1.beta.test in the default scenario
RECIPIENT = "bob@beta.test"
PASSWORD = "bob"
CHROMIUM = "/usr/bin/chromium"
PORTS = ("mx", "submission", "smtps", "dns", "imap", "imaps", "pop3", "pop3s", "web", "app")
BODY_LINES = 40                         # every message: this many numbered lines, checked on arrival


# -- app.py ---------------------------------------------------------------------------------------------
class App:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.audit_log = tmp / "netaudit.jsonl"
        self.out = open(tmp / "app.out", "w")
        env = {**os.environ, netaudit.ENV: str(self.audit_log)}
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "app.py"), "--fresh", "--no-tls", "--data", str(tmp / "data"),
             "--ports-file", str(tmp / "ports.json"), "--retry", "0.5", *[f"--{p}-port=0" for p in PORTS]],
            cwd=tmp, stdout=self.out, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 60
        while not (tmp / "ports.json").exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"app.py did not start: {(tmp / 'app.out').read_text()[-2000:]}")
            time.sleep(0.1)
        self.ports = json.loads((tmp / "ports.json").read_text())
        self.url = f"http://127.0.0.1:{self.ports['web']}/"

    def event_log(self) -> Path:
        text = (self.tmp / "app.out").read_text()
        return Path(re.search(r"Event log: (\S+)", text).group(1))

    def events(self) -> list[dict]:
        path = self.event_log()
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

    def status(self, key: str) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)          # ours, by its pid
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.out.close()


# -- IMAP IDLE ------------------------------------------------------------------------------------------
class Idler(threading.Thread):
    """LOGIN, SELECT INBOX, IDLE; every ``* n EXISTS`` with its arrival time, until told to stop."""

    def __init__(self, port: int, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.port = port
        self.exists: list[tuple[int, float]] = []
        self.error = ""
        self.ready = threading.Event()
        self.done = threading.Event()

    def run(self) -> None:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
                lines = _Lines(sock)
                lines.next()
                for tag, command in (("a1", f"LOGIN {RECIPIENT} {PASSWORD}"), ("a2", "SELECT INBOX")):
                    sock.sendall(f"{tag} {command}\r\n".encode())
                    while not (line := lines.next()).startswith(tag.encode()):
                        pass
                    if b" OK" not in line:
                        raise RuntimeError(line.decode(errors="replace"))
                sock.sendall(b"a3 IDLE\r\n")
                if not lines.next().startswith(b"+"):
                    raise RuntimeError("IDLE refused")
                self.ready.set()
                sock.settimeout(0.5)
                while not self.done.is_set():
                    try:
                        line = lines.next()
                    except (TimeoutError, socket.timeout):
                        continue
                    found = re.match(rb"\* (\d+) EXISTS", line)
                    if found:
                        self.exists.append((int(found.group(1)), time.time()))
                sock.settimeout(10)
                sock.sendall(b"DONE\r\na4 LOGOUT\r\n")
        except Exception as exc:      # reported, never hidden
            self.error = repr(exc)
            self.ready.set()

    def seen(self) -> int:
        return self.exists[-1][0] if self.exists else 0


class _Lines:
    """Lines from a socket (a timeout leaves what was read in the buffer, unlike ``makefile``)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.buffer = sock, b""

    def next(self) -> bytes:
        while b"\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed by the server")
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line + b"\n"


# -- SMTP sessions ----------------------------------------------------------------------------------------
def message(session: int, number: int) -> tuple[str, bytes]:
    msg = EmailMessage()
    msg_id = f"<load-{session}-{number}@bench.localhost>"
    msg["From"] = f"sender{session}@load.example"
    msg["To"] = RECIPIENT
    msg["Subject"] = f"load {session}/{number}"
    msg["Message-ID"] = msg_id
    msg["Date"] = "Sat, 05 Dec 2026 12:00:00 +0000"
    msg.set_content("".join(f"line {i} of message {session}/{number}\n" for i in range(BODY_LINES)))
    return msg_id, msg.as_bytes()


def smtp_session(port: int, session: int, count: int, results: list, start: threading.Event) -> None:
    source = f"127.0.1.{session + 1}"
    accepted, refused, error = [], [], ""
    start.wait()
    try:
        with smtplib.SMTP(MX, port, local_hostname=f"client{session}.localhost", timeout=60,
                          source_address=(source, 0)) as smtp:
            for number in range(count):
                msg_id, data = message(session, number)
                try:
                    smtp.sendmail(f"sender{session}@load.example", [RECIPIENT], data)
                    accepted.append((msg_id, time.time()))
                except smtplib.SMTPResponseException as exc:
                    refused.append((msg_id, exc.smtp_code))
    except Exception as exc:          # a session that failed: counted and shown
        error = repr(exc)
    results.append({"session": session, "accepted": accepted, "refused": refused, "error": error})


# -- browsers ---------------------------------------------------------------------------------------------
WATCH = """window.__seqs = new Set();
  window.addEventListener('mailflow:batch', (ev) => { for (const s of ev.detail.seqs) window.__seqs.add(s); });"""


def open_browsers(url: str, count: int):
    from playwright.sync_api import sync_playwright
    playwright = sync_playwright().start()
    chromium = playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True,
        args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
              "--disable-sync", "--no-first-run", "--disable-features=MediaRouter,OptimizationHints"])
    pages = []
    for _ in range(count):
        context = chromium.new_context(viewport={"width": 1280, "height": 720})
        page = context.new_page()
        page.add_init_script(WATCH)
        page.goto(url)
        page.wait_for_selector("body[data-ready=yes]", timeout=30000)
        pages.append(page)
    return playwright, chromium, pages


def page_state(page) -> dict:
    return page.evaluate("({seqs: [...window.__seqs], last: Number(document.body.dataset.lastSeq || 0)})")


# -- the run ------------------------------------------------------------------------------------------------
def maildir_messages(data: Path) -> list[bytes]:
    box = data / "mail" / "beta.test" / "bob"
    return [p.read_bytes() for sub in ("new", "cur") if (box / sub).is_dir() for p in sorted((box / sub).iterdir())]


def wait(predicate, deadline: float, step: float = 0.2) -> bool:
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


def one_run(args: argparse.Namespace) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="mailflow-load-"))
    app = App(tmp)
    deadline = time.monotonic() + args.timeout
    playwright = chromium = None
    idlers: list[Idler] = []
    try:
        playwright, chromium, pages = open_browsers(app.url, args.browsers) if args.browsers else (None, None, [])
        idlers = [Idler(app.ports["imap"], f"idle-{i}") for i in range(args.idlers)]
        for idler in idlers:
            idler.start()
        for idler in idlers:
            idler.ready.wait(30)
        state = json.loads(_get(app.url + "api/state"))
        first_seq = _last_seq(state)
        cpu_before = app.cpu_seconds()

        results: list[dict] = []
        start = threading.Event()
        threads = [threading.Thread(target=smtp_session, args=(app.ports["mx"], s, args.messages, results, start),
                                    daemon=True) for s in range(args.sessions)]
        for thread in threads:
            thread.start()
        began = time.time()
        start.set()
        for thread in threads:
            thread.join(max(1.0, deadline - time.monotonic()))
        sent_span = max((t for r in results for _, t in r["accepted"]), default=began) - began
        accepted = {msg_id: t for r in results for msg_id, t in r["accepted"]}

        data = tmp / "data"
        wait(lambda: len(maildir_messages(data)) >= len(accepted), deadline)
        wait(lambda: all(i.seen() >= len(accepted) for i in idlers), deadline)
        wait(lambda: len(app.events()) and _quiet(app), deadline, 0.5)
        last_seq = _last_seq(json.loads(_get(app.url + "api/state")))
        wanted = set(range(first_seq + 1, last_seq + 1))
        wait(lambda: all(wanted <= set(page_state(p)["seqs"]) for p in pages), deadline, 0.5)
        cpu = app.cpu_seconds() - cpu_before

        stored = maildir_messages(data)
        ids: dict[str, int] = {}
        truncated = 0
        for raw in stored:
            parsed = BytesParser(policy=policy.default).parsebytes(raw)
            msg_id = str(parsed["Message-ID"] or "").strip()
            ids[msg_id] = ids.get(msg_id, 0) + 1
            body = parsed.get_body(("plain",))
            text = body.get_content() if body is not None else ""
            if text.count("\n") < BODY_LINES or f"line {BODY_LINES - 1} of" not in text:
                truncated += 1
        events = app.events()
        delivered_at = _deliveries(events, accepted)
        latencies = [delivered_at[m] - accepted[m] for m in accepted if m in delivered_at]
        accepted_in_order = sorted(accepted.values())
        idle_lags = []                       # the n-th 250 -> the first push announcing n messages
        for idler in idlers:
            for n, seen_at in idler.exists:
                if 1 <= n <= len(accepted_in_order):
                    idle_lags.append(seen_at - accepted_in_order[n - 1])
        browsers = []
        for page in pages:
            seen = page_state(page)
            got = wanted & set(seen["seqs"])
            browsers.append({"received": len(got), "published": len(wanted), "missing": len(wanted - got),
                             "page_last_seq": seen["last"], "server_last_seq": last_seq})
        violations, _ = netaudit.read_log(app.audit_log)
        result = {
            "date": datetime.now().isoformat(timespec="seconds"), "argv": sys.argv[1:],
            "sessions": args.sessions, "messages_per_session": args.messages,
            "session_errors": [r["error"] for r in results if r["error"]][:5],
            "sessions_failed": sum(1 for r in results if r["error"]),
            "sessions_finished": len(results),
            "refused": sum(len(r["refused"]) for r in results),
            "accepted": len(accepted),
            "delivered": len(stored),
            "delivered_once": sum(1 for m in accepted if ids.get(m) == 1),
            "lost": sum(1 for m in accepted if m not in ids),
            "duplicated": sum(1 for m in accepted if ids.get(m, 0) > 1),
            "truncated": truncated,
            "smtp_span_s": round(sent_span, 2),
            "accepted_per_s": round(len(accepted) / sent_span, 1) if sent_span > 0 else None,
            "latency_ms": _spread(latencies),
            "idle": [{"exists_seen": i.seen(), "pushes": len(i.exists), "error": i.error} for i in idlers],
            "idle_lag_ms": _spread(idle_lags),
            "browsers": browsers,
            "events_published": len(wanted),
            "app_peak_rss_mb": round(app.status("VmHWM"), 1),
            "app_cpu_s": round(cpu, 2),
            "off_loopback": [f"{v.event} {v.target}" for v in violations],
        }
        for idler in idlers:
            idler.done.set()
        for idler in idlers:
            idler.join(5)
        return result
    finally:
        for idler in idlers:
            idler.done.set()
        if chromium is not None:
            chromium.close()
            playwright.stop()
        app.stop()


def _get(url: str) -> str:
    import urllib.request
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode()


def _last_seq(state: dict) -> int:
    for key in ("last_seq", "seq"):
        if key in state:
            return int(state[key])
    return int(state.get("bus", {}).get("last_seq", 0))


def _quiet(app: App) -> bool:
    """Nothing left in the queues (the test API would say; the event log is enough: a pause in it)."""
    before = len(app.events())
    time.sleep(1.0)
    return len(app.events()) == before


def _deliveries(events: list[dict], accepted: dict[str, float]) -> dict[str, float]:
    """Message-ID -> the time of its Maildir delivery (event log: the trace of the MX's acceptance)."""
    trace_of: dict[str, str] = {}
    for event in events:
        message = (event.get("message") or event.get("data", {}).get("message") or {})
        msg_id = message.get("id") if isinstance(message, dict) else None
        if msg_id in accepted and event.get("trace"):
            trace_of.setdefault(event["trace"], msg_id)
    delivered: dict[str, float] = {}
    for event in events:
        if event.get("kind") == "mda.deliver" and event.get("trace") in trace_of:
            delivered.setdefault(trace_of[event["trace"]], float(event["ts"]))
    return delivered


def _spread(values: list[float]) -> dict | None:
    if not values:
        return None
    ms = [v * 1000 for v in values]
    return {"n": len(ms), "median": round(statistics.median(ms), 1), "p95": round(percentile(ms, 0.95), 1),
            "max": round(max(ms), 1)}


def failures(result: dict) -> list[str]:
    bad = []
    for key in ("sessions_failed", "refused", "lost", "duplicated", "truncated"):
        if result[key]:
            bad.append(f"{key}: {result[key]}")
    if result["sessions_finished"] != result["sessions"]:
        bad.append(f"only {result['sessions_finished']} of {result['sessions']} sessions finished")
    if result["accepted"] != result["sessions"] * result["messages_per_session"]:
        bad.append(f"accepted {result['accepted']} of {result['sessions'] * result['messages_per_session']}")
    if result["delivered"] != result["accepted"] or result["delivered_once"] != result["accepted"]:
        bad.append("delivered differs from accepted")
    for i, idle in enumerate(result["idle"]):
        if idle["error"] or idle["exists_seen"] != result["accepted"]:
            bad.append(f"IDLE client {i}: saw {idle['exists_seen']} ({idle['error'] or 'no error'})")
    for i, page in enumerate(result["browsers"]):
        if page["missing"]:
            bad.append(f"browser {i}: {page['missing']} events missing")
    if result["off_loopback"]:
        bad.append(f"off loopback: {result['off_loopback'][:3]}")
    return bad


def report(result: dict) -> str:
    lat, lag = result["latency_ms"] or {}, result["idle_lag_ms"] or {}
    lines = [
        f"SMTP: {result['sessions']} sessions x {result['messages_per_session']} messages to the MX: "
        f"{result['accepted']} accepted in {result['smtp_span_s']} s ({result['accepted_per_s']}/s), "
        f"{result['refused']} refused, {result['sessions_failed']} sessions failed",
        f"Delivered: {result['delivered']} (once {result['delivered_once']}, lost {result['lost']}, "
        f"duplicated {result['duplicated']}, truncated {result['truncated']})",
        f"250 -> Maildir: median {lat.get('median')} ms, p95 {lat.get('p95')} ms, max {lat.get('max')} ms",
        "IDLE: " + "; ".join(f"client {i}: {x['exists_seen']} EXISTS in {x['pushes']} pushes"
                             for i, x in enumerate(result["idle"]))
        + f"; 250 -> EXISTS median {lag.get('median')} ms, p95 {lag.get('p95')} ms",
        "Browsers: " + "; ".join(f"{b['received']}/{b['published']} events" for b in result["browsers"]),
        f"app.py: peak RSS {result['app_peak_rss_mb']} MB, CPU {result['app_cpu_s']} s; "
        f"off loopback: {len(result['off_loopback'])}",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--messages", type=int, default=4, help="messages per SMTP session")
    parser.add_argument("--idlers", type=int, default=2)
    parser.add_argument("--browsers", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=300.0, help="bound on the whole run, seconds")
    parser.add_argument("--quick", action="store_true", help="10 sessions x 2 messages, 1 browser")
    parser.add_argument("--json", type=Path, default=None, help="also write the result here")
    args = parser.parse_args()
    if args.quick:
        args.sessions, args.messages, args.browsers = 10, 2, 1
    if not 1 <= args.sessions <= 250:
        parser.error("--sessions: 1..250 (one source address 127.0.1.N each)")
    result = one_run(args)
    print(report(result))
    bad = failures(result)
    for line in bad:
        print("FAILED:", line)
    out = args.json or ROOT / "bench" / "results" / f"load-{datetime.now():%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"raw: {out}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
