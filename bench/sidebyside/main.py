"""``bench/run``: every measure of issue 13, Mailflow beside the references, into bench/RESULTS.md.

Theory of operation (see ``__init__.py`` for the parts):

1. Outside any namespace: find or install the references (``setup.py``; not with ``--no-install``),
   then run this script again inside ``unshare --net`` (``netns.py``).
2. Inside: ``--reps`` repetitions; each runs every selected measure in turn, and within a measure
   the servers alternate (the order rotates from one repetition to the next, so a drift of the
   machine does not always fall on the same server).  Every server is started fresh for each run
   in its own directory under one temporary directory, and stopped by pid right after.  A spent
   run's directory is set aside, not deleted, until the whole run ends (``spent.py``: deleting one
   run's thousands of files made the next server's file creations 10-20 times dearer on ext4
   without a journal);
   ``--cleanup now`` deletes each at once, as before, for comparison.
3. The raw figures go to ``bench/results/side-by-side-<date>.json``; ``report.py`` writes
   ``bench/RESULTS.md`` (``--smoke`` writes ``bench/results/SMOKE.md`` instead and leaves
   RESULTS.md alone): medians [min–max] over the repetitions, each ratio computed within one
   repetition and then summarised the same way.

Modes: the full run (the default: 1,500 messages per ingest run, 10,000 stored messages, 3
repetitions; about 40 minutes on 2 cores, run it on a quiet machine), ``--quick`` (tiny counts, 3
repetitions: to develop), ``--smoke`` (one repetition of everything with a handful of messages, a
minute or so: CI runs it so the command keeps working; exit status 1 if any measure failed or lost
a message, ratios are not judged).  ``--only`` picks measures; ``--max-minutes`` bounds the whole
run (measures not started in time are reported as skipped).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCH = HERE.parent
ROOT = BENCH.parent
sys.path[:0] = [str(ROOT), str(BENCH)]

from sidebyside import (browser, hall, ingest, latency, netns, report, retrieval, servers,  # noqa: E402
                        setup, spent, startup, submission)

MEASURES = ("ingest", "latency", "submission", "retrieval", "browser", "startup", "hall")
INGEST_SERVERS = ("smtp-sink", "postfix", "aiosmtpd", "maildev", "mailflow")
ALL_MODES = [(1, False), (10, False), (50, False), (1, True), (10, True), (50, True)]

PLANS = {
    "full": dict(reps=3, ingest_messages=1500, ingest_modes=ALL_MODES, ingest_bound=60, latency_sessions=300,
                 submission_messages=1500, submission_modes=ALL_MODES, submission_viewers=(0, 30),
                 submission_bound=120, retrieval_messages=10_000, retrieval_timeout=600, browser_messages=1000,
                 startup_idle=3.0, startup_viewers=30, startup_messages=200, hall_viewers=300, hall_messages=100),
    "quick": dict(reps=3, ingest_messages=100, ingest_modes=[(1, False), (10, False), (10, True), (50, True)],
                  ingest_bound=20, latency_sessions=20, submission_messages=60,
                  submission_modes=[(1, False), (10, True)], submission_viewers=(0, 30), submission_bound=40,
                  retrieval_messages=300, retrieval_timeout=120, browser_messages=100, startup_idle=1.0,
                  startup_viewers=30, startup_messages=50, hall_viewers=60, hall_messages=20),
    "smoke": dict(reps=1, ingest_messages=10, ingest_modes=[(10, False)], ingest_bound=10,
                  latency_sessions=3, submission_messages=20, submission_modes=[(5, True)],
                  submission_viewers=(3,), submission_bound=20, retrieval_messages=30, retrieval_timeout=60,
                  browser_messages=10, startup_idle=0.5, startup_viewers=3, startup_messages=10,
                  hall_viewers=10, hall_messages=5),
}


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def rotate(items: list, rep: int) -> list:
    k = rep % len(items) if items else 0
    return items[k:] + items[:k]


class Runner:
    def __init__(self, args, plan: dict, tmp: Path) -> None:
        self.args, self.plan, self.tmp = args, plan, tmp
        self.cache = setup.cache_dir()
        have = servers.available(self.cache)
        self.ingest_servers = [s for s in INGEST_SERVERS if have.get(s) and (not args.servers or s in args.servers)]
        self.skipped = [s for s in INGEST_SERVERS if not have.get(s)]
        self.smtp_source = shutil.which("smtp-source") is not None
        if not self.smtp_source:
            self.skipped.append("smtp-source (so no MX ingest at all)")
        self.dovecot = retrieval.bench_imap.find_dovecot()
        if self.dovecot is None:
            self.skipped.append("dovecot")
        self.results: dict = {m: [] for m in MEASURES}
        self.failures: list[str] = []
        self.deadline = time.monotonic() + args.max_minutes * 60
        self.counter = 0
        self.deleted_at_once = 0

    @contextlib.contextmanager
    def workdir(self, name: str) -> Iterator[Path]:
        """A run's own directory; once the run is over, set aside until the whole run ends, or
        deleted at once with ``--cleanup now`` or when the disk runs low (``spent.py``)."""
        self.counter += 1
        path = self.tmp / f"{self.counter:04d}-{name}"
        path.mkdir(parents=True)
        os.chmod(path, 0o755)
        try:
            yield path
        finally:
            if not spent.discard(path, at_once=self.args.cleanup == "now"):
                self.deleted_at_once += 1

    def guarded(self, measure: str, rep: int, label: str, fn) -> dict | None:
        if time.monotonic() > self.deadline:
            self.failures.append(f"{measure} {label} rep {rep}: not started (--max-minutes)")
            return None
        started = time.monotonic()
        try:
            result = fn()
        except Exception as exc:        # one failed run is reported; the others still run
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            self.failures.append(f"{measure} {label} rep {rep}: {detail[:300]}")
            say(f"  {measure} {label}: FAILED {detail[:300]}")
            if self.args.verbose:
                traceback.print_exc()
            return None
        result = dict(result, rep=rep, elapsed_s=time.monotonic() - started)
        self.results[measure].append(result)
        return result

    # -- the measures ------------------------------------------------------------------------------
    def ingest(self, rep: int) -> None:
        p = self.plan
        if not self.smtp_source:
            return
        for concurrency, reuse in p["ingest_modes"]:
            for name in rotate(list(self.ingest_servers), rep):
                label = f"{name} {ingest.mode_name(concurrency, reuse)}"

                def one(name=name, concurrency=concurrency, reuse=reuse) -> dict:
                    with self.workdir(f"ingest-{name}") as workdir:
                        server = servers.make(name, workdir, self.cache)
                        try:
                            server.start()
                            run = ingest.ingest(server, p["ingest_messages"], concurrency, reuse, p["ingest_bound"])
                            return dict(run.as_dict(), started_in_s=server.started_in)
                        finally:
                            server.stop()

                r = self.guarded("ingest", rep, label, one)
                if r:
                    say(f"  ingest {label}: {r['delivered']}/{r['sent']} delivered, {_f(r['rate'])} msgs/s, "
                        f"CPU {_f(r['cpu_ms_per_msg'], 2)} ms/msg" + (" (cut)" if r["cut"] else "")
                        + (f" errors {r['errors'][:2]}" if r["errors"] else ""))

    def latency(self, rep: int) -> None:
        for name in rotate([s for s in self.ingest_servers if s != "smtp-sink"], rep):
            def one(name=name) -> dict:
                with self.workdir(f"latency-{name}") as workdir:
                    server = servers.make(name, workdir, self.cache)
                    try:
                        server.start()
                        return latency.sessions(server, self.plan["latency_sessions"], self.plan["ingest_bound"] * 2)
                    finally:
                        server.stop()
            r = self.guarded("latency", rep, name, one)
            if r:
                say(f"  latency {name}: p50 {_f(r['p50_ms'], 2)} ms, p95 {_f(r['p95_ms'], 2)} ms"
                    + (f" errors {r['errors'][:2]}" if r["errors"] else ""))

    def submission(self, rep: int) -> None:
        p = self.plan
        # Mailflow with each count of viewers, and the bare two-hop reference (no viewers; without and
        # with fsync), in turn
        runs = [("mailflow", v) for v in p["submission_viewers"]] + [(name, 0) for name in servers.RELAYS]
        for concurrency, reuse in p["submission_modes"]:
            for name, viewers in rotate(runs, rep):
                label = f"{ingest.mode_name(concurrency, reuse)}, {viewers} viewers" if name == "mailflow" \
                    else f"{ingest.mode_name(concurrency, reuse)}, {name}"

                def one(concurrency=concurrency, reuse=reuse, viewers=viewers, name=name) -> dict:
                    with self.workdir("submission") as workdir:
                        return submission.run(workdir, p["submission_messages"], concurrency, reuse, viewers,
                                              p["submission_bound"], name)
                r = self.guarded("submission", rep, label, one)
                if r:
                    say(f"  submission {label}: {r.get('delivered')}/{r['messages']} delivered, {_f(r.get('rate'))} "
                        f"msgs/s, 250→new/ p95 {_f(r.get('to_maildir_p95_ms'), 1)} ms"
                        + (f", hop→viewer p95 {_f(r['hop_to_viewer']['p95_ms'])} ms" if r.get("hop_to_viewer") else "")
                        + (f" errors {r['errors'][:2]}" if r.get("errors") else ""))

    def retrieval(self, rep: int) -> None:
        pristine = retrieval.make_pristine(self.tmp / "retrieval", self.plan["retrieval_messages"])
        os.chmod(self.tmp / "retrieval", 0o755)

        def one() -> dict:
            with self.workdir("retrieval") as workdir:
                return retrieval.run(workdir, pristine, self.dovecot, self.plan["retrieval_timeout"])
        r = self.guarded("retrieval", rep, "imap+pop3", one)
        if r:
            for protocol in ("imap", "pop3"):
                for state, per in r[protocol].items():
                    say(f"  {protocol} {state}: " + ", ".join(f"{n} {v['times']['total']:.3f} s" for n, v in per.items()))

    def browser(self, rep: int) -> None:
        def one() -> dict:
            with self.workdir("browser") as workdir:
                return browser.run(workdir, self.plan["browser_messages"], self.plan["submission_bound"])
        r = self.guarded("browser", rep, "chromium", one)
        if r:
            say(f"  browser: {r.get('events')}/{r.get('expected_events')} events, {_f(r.get('events_per_s'))}/s, "
                f"hop→drawing p95 {_f(r.get('hop_to_drawing_p95_ms'))} ms, {_f(r.get('fps'))} fps, "
                f"longest task {_f(r.get('longest_task_ms'))} ms")

    def startup(self, rep: int) -> None:
        def one() -> dict:
            with self.workdir("startup") as workdir:
                p = self.plan
                return startup.run(workdir, p["startup_idle"], p["startup_viewers"], p["startup_messages"],
                                   p["submission_bound"])
        r = self.guarded("startup", rep, "app.py", one)
        if r:
            say(f"  startup: first {r['first_start_s']:.2f} s, restart {r['restart_s']:.2f} s, "
                f"RSS idle {r['rss_idle_mib']:.0f} MiB, with viewers {r['rss_viewers_mib']:.0f} MiB")

    def hall(self, rep: int) -> None:
        def one() -> dict:
            with self.workdir("hall") as workdir:
                return hall.run(workdir, self.plan["hall_viewers"], self.plan["hall_messages"],
                                self.plan["submission_bound"])
        r = self.guarded("hall", rep, f"{self.plan['hall_viewers']} viewers", one)
        if r:
            h = r["hop_to_viewer"]
            say(f"  hall: {r['viewers_joined']}/{r['viewers_asked']} joined, hop→viewer p95 {_f(h['p95_ms'])} ms, "
                f"events per viewer {h['events_min']}–{h['events_max']}")


def _f(value, digits: int = 0) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def source_tree() -> str:
    """The commit measured, as the run starts ("+ changes" when tracked files differ from it)."""
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"
    return (commit or "?") + (" + changes" if dirty else "")


def check(results: dict, plan: dict) -> list[str]:
    """Lost or missing messages: a failure in every mode (smoke included)."""
    problems = []
    for r in results["ingest"]:
        if r.get("errors") and not r.get("cut"):
            problems.append(f"ingest {r['server']} {ingest.mode_name(r['concurrency'], r['reuse'])} rep {r['rep']}: "
                            f"{'; '.join(r['errors'][:2])}")
        if r.get("missing"):
            problems.append(f"ingest {r['server']} {ingest.mode_name(r['concurrency'], r['reuse'])} rep {r['rep']}: "
                            f"{r['missing']} of {r['sent']} accepted messages not delivered")
    for r in results["submission"]:
        if r.get("delivered", 0) > r.get("accepted", 0):
            problems.append(f"submission {r.get('server', 'mailflow')} rep {r['rep']}: {r.get('delivered')} delivered "
                            f"for {r.get('accepted')} accepted (a message delivered twice)")
        if r.get("delivered", 0) < r.get("accepted", 0):
            problems.append(f"submission {r.get('server', 'mailflow')} rep {r['rep']}: {r.get('delivered')} of "
                            f"{r.get('accepted')} accepted delivered")
    return problems


def run_inside(args) -> int:
    netns.inside()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))   # unwinds: every server is stopped by pid
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    plan = dict(PLANS[mode])
    if args.reps:
        plan["reps"] = args.reps
    measures = args.only or list(MEASURES)
    tmp = Path(tempfile.mkdtemp(prefix="mailflow-bench-run-"))
    os.chmod(tmp, 0o755)
    began, load_start, tree = time.time(), loadavg(), source_tree()
    say(f"bench/run {mode}: {plan['reps']} repetition(s) of {', '.join(measures)}; load average {load_start}")
    runner = Runner(args, plan, tmp)
    if runner.skipped:
        say(f"not installed, left out: {', '.join(runner.skipped)}")
    try:
        for rep in range(1, plan["reps"] + 1):
            say(f"repetition {rep} of {plan['reps']}")
            for measure in measures:
                getattr(runner, measure)(rep)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    problems = check(runner.results, plan)
    meta = {"mode": mode, "plan": {k: v for k, v in plan.items()}, "measures": measures,
            "date": time.strftime("%Y-%m-%d %H:%M %Z", time.localtime(began)),
            "seconds": time.time() - began, "load_start": load_start, "load_end": loadavg(),
            "machine": setup.machine(), "versions": setup.versions(), "skipped": runner.skipped,
            "cleanup": args.cleanup, "deleted_at_once": runner.deleted_at_once,
            "failures": runner.failures, "problems": problems, "smtp_slots": servers.SMTP_SLOTS,
            "command": "bench/run " + " ".join(a for a in sys.argv[1:] if a != "--inside"), "tree": tree}
    data = {"meta": meta, **runner.results}
    out_dir = BENCH / "results"
    out_dir.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(began))
    raw = out_dir / f"side-by-side-{mode}-{stamp}.json"
    raw.write_text(json.dumps(data, indent=1, default=str))
    target = args.output or (out_dir / "SMOKE.md" if mode == "smoke" else BENCH / "RESULTS.md")
    target.write_text(report.render(data, raw.relative_to(ROOT)))
    say(f"wrote {target} and {raw} in {time.time() - began:.0f} s; load average now {loadavg()}")
    for line in runner.failures + problems:
        say(f"PROBLEM: {line}")
    return 1 if runner.failures or problems else 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__.split("\n\n")[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quick", action="store_true", help="tiny counts, 3 repetitions (development)")
    group.add_argument("--smoke", action="store_true",
                       help="about a minute, one repetition, a handful of messages, no ratios judged (CI)")
    parser.add_argument("--reps", type=int, help="repetitions (at least 3 for the figures to mean anything)")
    parser.add_argument("--only", nargs="+", choices=MEASURES, help="run only these measures")
    parser.add_argument("--servers", nargs="+", choices=INGEST_SERVERS, help="ingest/latency: only these servers")
    parser.add_argument("--no-install", action="store_true", help="use what is installed; install nothing")
    parser.add_argument("--cleanup", choices=("end", "now"), default="end",
                        help="delete each run's files when the whole run ends (default) or at once")
    parser.add_argument("--max-minutes", type=float, default=120.0, help="start no measure after this")
    parser.add_argument("--output", type=Path, help="write the report here instead of bench/RESULTS.md")
    parser.add_argument("-v", "--verbose", action="store_true", help="print tracebacks of failed runs")
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    for extra in ("/usr/sbin", "/sbin"):        # smtp-source, postfix, dovecot live there on Debian
        if extra not in os.environ.get("PATH", "").split(":"):
            os.environ["PATH"] = os.environ.get("PATH", "") + ":" + extra
    if args.inside:
        return run_inside(args)
    if not args.no_install:
        still = setup.install(say)
        if still:
            say(f"still missing: {', '.join(still)} (those measures leave them out)")
    return netns.enter([sys.executable, str(Path(__file__).resolve()), *sys.argv[1:]])


if __name__ == "__main__":
    sys.exit(main())
