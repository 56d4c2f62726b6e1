"""Benchmark: our SMTP submission path against bare aiosmtpd servers, side by side.

    .venv/bin/python bench/bench_smtp.py                          # 2,000 ~2 KB messages, 8 connections, 3 runs
    .venv/bin/python bench/bench_smtp.py --messages 500 --runs 1 --kinds ours
    .venv/bin/python bench/bench_smtp.py --kinds ours --runs 1 --py-spy /tmp/tools/bin/py-spy

The servers get the same load, one after the other, each in a subprocess of its own (this script
re-invoked with ``--serve KIND``), so the senders never share the server's interpreter lock:

- ``sink`` (reference A): a bare aiosmtpd ``SMTP`` on 127.0.0.1 whose ``handle_DATA`` answers 250
  without touching the disk.
- ``fsync`` (reference B): the same, but ``handle_DATA`` writes the message to a file in a temporary
  directory and fsyncs the file and the directory (in a worker thread, as our MSA does) before the
  250.  This is the honest comparison: our MSA fsyncs its queue entry (message + state) before its 250.
- ``ours``: a ``MailStack`` (default scenario, temporary data directory, free loopback ports, TLS
  off, hop delay 0); the load enters through the front-door submission port.
- ``held`` (diagnostic, only with ``--kinds``): ours with the queue runner never told about new
  entries, so only the submission path runs (parse, Received/Date/Message-ID, event, queue fsync).

The load: N messages over C SMTP connections at once (a ``multiprocessing`` pool of C smtplib
senders, one connection each, many messages per connection), AUTH PLAIN as alice@alpha.test,
MAIL FROM alice@alpha.test, RCPT TO bob@beta.test.  The references take the same AUTH (a trivial
authenticator), so every client runs the same code.  Measured:

- accepted/s: N / (last 250 - start), the start being the moment all C connections are logged in
  and released together;
- latency per message: smtplib ``sendmail`` (MAIL, RCPT, DATA, the content, up to the 250), p50/p95;
- ours only, end to end: N / (the N-th ``mda.deliver`` into bob's Maildir - start) -- delivery runs
  a DNS MX lookup, the relay to mx1.beta.test (whose MX queues with fsync again) and the MDA (fsync);
- the server's peak RSS (``VmHWM`` in /proc/<pid>/status) and its CPU time (/proc/<pid>/stat).

``--py-spy BIN`` samples our server with py-spy during its runs and prints where it spends its time
(self and inclusive shares per function); ``--profile FILE`` runs cProfile in its mail loop thread.
Every process this script starts is ended by its pid; the whole run is bounded by ``--max-seconds``.

Not a test: it prints figures (``--json FILE`` also writes them).  See bench/SMTP.md.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import percentile, sandbox_ports  # noqa: E402  (bench/ is the script's own directory)

KINDS = ("sink", "fsync", "ours", "held")
DEFAULT_KINDS = ("sink", "fsync", "ours")
LABELS = {"sink": "A: aiosmtpd sink", "fsync": "B: aiosmtpd + fsync", "ours": "ours (MailStack)",
          "held": "ours, delivery held"}
USER, PASSWORD, RCPT = "alice@alpha.test", "alice", "bob@beta.test"
HOSTNAME = "bench.localhost"      # given explicitly everywhere: nothing asks the system resolver


# -- helpers ------------------------------------------------------------------------------------------
def proc_status_kib(pid: int, field: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def proc_cpu_seconds(pid: int, *, system_only: bool = False) -> float | None:
    """utime + stime of a process (all its threads), or stime alone."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = int(fields[12]) if system_only else int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def proc_thread_cpu(pid: int) -> dict[int, float]:
    """utime + stime of each thread of a process, by thread id."""
    out: dict[int, float] = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[int(tid)] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return out


def end_process(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """End a process this script started, by its pid: SIGTERM, then SIGKILL after ``grace`` s."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


# -- the server process (--serve KIND) ----------------------------------------------------------------
def _write_fsync(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def _reference_server(kind: str, data_dir: Path):
    """A bare aiosmtpd server on 127.0.0.1, its loop in a thread; returns (port, stop)."""
    import asyncio
    import warnings

    from aiosmtpd.smtp import SMTP, AuthResult

    warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS", category=UserWarning)
    spool = data_dir / "spool"
    spool.mkdir(parents=True, exist_ok=True)
    counter = itertools.count(1)

    class Sink:
        async def handle_DATA(self, server, session, envelope) -> str:
            return "250 2.0.0 Ok: queued"

    class Fsync:
        async def handle_DATA(self, server, session, envelope) -> str:
            path = spool / f"{next(counter)}.eml"
            await asyncio.to_thread(_write_fsync, path, envelope.original_content)
            return "250 2.0.0 Ok: queued"

    def authenticator(server, session, envelope, mechanism, auth_data) -> AuthResult:
        return AuthResult(success=auth_data.login == USER.encode() and auth_data.password == PASSWORD.encode())

    handler = Sink() if kind == "sink" else Fsync()

    def factory() -> SMTP:
        return SMTP(handler, hostname=HOSTNAME, ident="bench ESMTP", data_size_limit=10 * 1024 * 1024,
                    enable_SMTPUTF8=True, decode_data=False, auth_required=True, auth_require_tls=False,
                    authenticator=authenticator, loop=asyncio.get_running_loop())

    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(loop.create_server(factory, "127.0.0.1", 0, reuse_address=True))
    port = server.sockets[0].getsockname()[1]
    thread = threading.Thread(target=loop.run_forever, name="smtp-loop", daemon=True)
    thread.start()

    def stop() -> None:
        async def close() -> None:
            server.close()
            await server.wait_closed()
        asyncio.run_coroutine_threadsafe(close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)

    return port, stop, None


def _our_server(data_dir: Path, profile: str | None, *, hold: bool = False):
    """A MailStack on free ports (default scenario, TLS off, hop delay 0); returns (port, stop, waiter).

    ``hold``: the queue runner is never told about new entries (they stay fsynced in the MSA's queue),
    so only the submission path runs -- a diagnostic, not how Mailflow runs."""
    import cProfile

    from simulator.config import Config
    from simulator.runtime import MailStack
    from simulator.scenario import DEFAULT_SCENARIO, load_scenario

    cond = threading.Condition()
    delivered: list[float] = []
    problems: Counter = Counter()

    def watch(event) -> None:
        if event.kind == "mda.deliver" and event.dst == f"mailbox:{RCPT}":
            now = time.time()
            with cond:
                delivered.append(now)
                cond.notify_all()
        elif event.status in ("failed", "deferred", "bounced"):
            with cond:
                problems[f"{event.kind}:{event.status}"] += 1

    last_error: Exception | None = None
    for _ in range(3):                # a free port can be taken between the check and the bind
        ports = sandbox_ports()
        config = Config(data_dir=data_dir / "data", ports=ports, tls=False, hop_delay=0.0, seed=1)
        stack = MailStack(config, load_scenario(DEFAULT_SCENARIO))      # its own bus, logging to data/logs
        stack.bus.subscribe(watch)
        try:
            stack.start()
            break
        except OSError as exc:
            stack.stop()
            last_error = exc
    else:
        raise RuntimeError(f"the mail stack did not start: {last_error}")
    port = next(item.port for item in stack.listeners if item.service == "submission" and item.host == "front")
    if hold:
        stack.delivery.schedule = lambda entry: None

    profiler = cProfile.Profile() if profile else None
    if profiler is not None:
        async def enable() -> None:        # runs on the mail loop's thread: profiles that thread
            profiler.enable()
        stack.call(enable)

    def stop() -> None:
        if profiler is not None:
            async def disable() -> None:
                profiler.disable()
            stack.call(disable)
            profiler.dump_stats(profile)
        stack.stop()

    def wait(count: int, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        with cond:
            while len(delivered) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                cond.wait(min(remaining, 1.0))
            return {"delivered": len(delivered), "first": delivered[0] if delivered else None,
                    "last": delivered[count - 1] if len(delivered) >= count else None,
                    "problems": dict(problems)}

    return port, stop, wait


def serve(kind: str, data_dir: Path, profile: str | None) -> int:
    """Start one server, say so on stdout, then answer one-line JSON commands from stdin."""
    import logging
    import warnings

    # aiosmtpd warns once per connection that AUTH is allowed without TLS (on purpose, in every server
    # here) and that Session.login_data is deprecated: keep stderr for real errors.
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message="Session.login_data is deprecated", category=DeprecationWarning)
    if kind in ("ours", "held"):
        port, stop, wait = _our_server(data_dir, profile, hold=kind == "held")
    else:
        port, stop, wait = _reference_server(kind, data_dir)
    print(json.dumps({"ready": True, "port": port, "pid": os.getpid()}), flush=True)
    try:
        for line in sys.stdin:
            command = json.loads(line)
            if command["cmd"] == "wait" and wait is not None:
                print(json.dumps(wait(command["count"], command["timeout"])), flush=True)
            elif command["cmd"] == "quit":
                break
    finally:
        stop()
    print(json.dumps({"stopped": True}), flush=True)
    return 0


# -- the senders (a multiprocessing pool: one process, one connection) --------------------------------
def _body(size: int) -> bytes:
    line = b"The quick brown fox jumps over the lazy dog; a benchmark line of plain ASCII text.\r\n"
    count = max(1, size // len(line))
    return (line * count)[:max(2, size)].rstrip(b"\r\n") + b"\r\n"


def sender(index: int, port: int, count: int, size: int, tag: str, deadline: float, barrier, results) -> None:
    import smtplib
    from email.utils import formatdate

    out: dict = {"index": index, "latencies": [], "errors": [], "start": None, "end": None, "sent": 0}
    smtp = None
    try:
        body = _body(max(64, size - 260))          # 260: about the size of the header below
        smtp = smtplib.SMTP("127.0.0.1", port, local_hostname=HOSTNAME, timeout=60)
        smtp.ehlo()
        smtp.user, smtp.password = USER, PASSWORD
        smtp.auth("PLAIN", smtp.auth_plain)                   # AUTH PLAIN, as the brief asks
        barrier.wait(120)
        out["start"] = time.time()
        for n in range(count):
            if time.time() > deadline:
                out["errors"].append("deadline reached")
                break
            message = (f"From: Alice <{USER}>\r\nTo: Bob <{RCPT}>\r\nSubject: bench {tag} {index}-{n}\r\n"
                       f"Date: {formatdate()}\r\nMessage-ID: <{tag}.{index}.{n}@bench.alpha.test>\r\n"
                       "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n").encode() + body
            t0 = time.perf_counter()
            smtp.sendmail(USER, [RCPT], message)               # MAIL, RCPT, DATA ... 250
            out["latencies"].append(time.perf_counter() - t0)
            out["sent"] += 1
            out["size"] = len(message)
        out["end"] = time.time()
    except Exception as exc:      # reported to the orchestrator
        out["errors"].append(repr(exc)[:300])
        try:
            barrier.abort()
        except Exception:
            pass
    finally:
        if smtp is not None:
            try:
                smtp.quit()
            except Exception:
                pass
        cpu = os.times()
        out["cpu"] = cpu.user + cpu.system
        results.put(out)


# -- one run of one server ----------------------------------------------------------------------------
def readline(proc: subprocess.Popen, timeout: float) -> dict:
    ready, _, _ = select.select([proc.stdout], [], [], max(0.1, timeout))
    if not ready:
        raise TimeoutError("the server did not answer in time")
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError(f"the server exited ({proc.poll()})")
    return json.loads(line)


def send_command(proc: subprocess.Popen, command: dict, timeout: float) -> dict:
    proc.stdin.write(json.dumps(command) + "\n")
    proc.stdin.flush()
    return readline(proc, timeout)


def one_run(kind: str, run: int, args, deadline: float) -> dict:
    import multiprocessing

    tmp = Path(tempfile.mkdtemp(prefix=f"mailflow-bench-smtp-{kind}-"))
    result: dict = {"kind": kind, "run": run, "messages": args.messages, "connections": args.connections}
    command = [sys.executable, str(Path(__file__).resolve()), "--serve", kind, "--data", str(tmp)]
    if args.profile and kind in ("ours", "held"):
        command += ["--profile", args.profile]
    server = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    spy = None
    workers: list = []
    try:
        info = readline(server, min(60.0, max(1.0, deadline - time.time())))
        pid, port = info["pid"], info["port"]
        result["rss_idle_kib"] = proc_status_kib(pid, "VmRSS")
        cpu0 = proc_cpu_seconds(pid)
        sys0 = proc_cpu_seconds(pid, system_only=True)
        threads0 = proc_thread_cpu(pid)
        if args.py_spy and kind in ("ours", "held"):
            spy_out = f"{args.py_spy_out}.{kind}.run{run}.txt"
            spy_cmd = [args.py_spy, "record", "--pid", str(pid), "--rate", "200", "--format", "raw",
                       "--output", spy_out, "--nonblocking"]
            if not args.py_spy_all_threads:
                spy_cmd.append("--gil")
            spy = subprocess.Popen(spy_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            result["py_spy_output"] = spy_out
            time.sleep(1.0)                                   # let it attach
        ctx = multiprocessing.get_context("spawn")
        barrier = ctx.Barrier(args.connections + 1)
        queue = ctx.Queue()
        per = [args.messages // args.connections + (1 if i < args.messages % args.connections else 0)
               for i in range(args.connections)]
        tag = f"{kind}{run}"
        for i, count in enumerate(per):
            worker = ctx.Process(target=sender, args=(i, port, count, args.size, tag, deadline, barrier, queue),
                                 daemon=True)
            worker.start()
            workers.append(worker)
        barrier.wait(max(1.0, min(120.0, deadline - time.time())))
        released = time.time()
        outs = []
        for _ in workers:
            outs.append(queue.get(timeout=max(1.0, deadline - time.time() + 60)))
        for worker in workers:
            worker.join(10)
        cpu_accepted = proc_cpu_seconds(pid)
        result["rss_after_accept_kib"] = proc_status_kib(pid, "VmHWM")
        starts = [o["start"] for o in outs if o["start"]]
        ends = [o["end"] for o in outs if o["end"]]
        latencies = [x for o in outs for x in o["latencies"]]
        sent = sum(o["sent"] for o in outs)
        start = min(starts) if starts else released
        result.update({
            "sent": sent, "errors": [e for o in outs for e in o["errors"]][:5],
            "message_size": max((o.get("size", 0) for o in outs), default=0),
            "accept_s": (max(ends) - start) if ends else None,
            "accepted_per_s": sent / (max(ends) - start) if ends and sent else 0.0,
            "p50_ms": percentile(latencies, 0.50) * 1000, "p95_ms": percentile(latencies, 0.95) * 1000,
            "p99_ms": percentile(latencies, 0.99) * 1000, "max_ms": max(latencies, default=0) * 1000,
            "client_cpu_s": sum(o["cpu"] for o in outs),
            "server_cpu_accept_s": (cpu_accepted - cpu0) if cpu0 is not None and cpu_accepted is not None else None,
        })
        if kind == "ours":
            reply = send_command(server, {"cmd": "wait", "count": sent, "timeout": max(1.0, deadline - time.time())},
                                 max(2.0, deadline - time.time() + 30))
            result["delivered"] = reply["delivered"]
            result["problems"] = reply["problems"]
            if reply["last"] is not None:
                result["e2e_s"] = reply["last"] - start
                result["delivered_per_s"] = sent / result["e2e_s"]
            cpu_total = proc_cpu_seconds(pid)
            result["server_cpu_total_s"] = cpu_total - cpu0 if cpu0 is not None and cpu_total is not None else None
        sys1 = proc_cpu_seconds(pid, system_only=True)
        threads1 = proc_thread_cpu(pid)
        busiest = max((cpu - threads0.get(tid, 0.0) for tid, cpu in threads1.items()), default=None)
        span = result.get("e2e_s") or result.get("accept_s")
        result["busiest_thread_cpu_s"] = busiest          # the event loop's thread (the GIL holder)
        result["busiest_thread_share"] = busiest / span if busiest is not None and span else None
        result["server_sys_s"] = sys1 - sys0 if sys0 is not None and sys1 is not None else None
        result["rss_peak_kib"] = proc_status_kib(pid, "VmHWM")
        send_command(server, {"cmd": "quit"}, 60)
        server.wait(30)
        if kind == "ours":
            maildir = tmp / "data" / "mail" / "beta.test" / "bob"
            result["maildir_files"] = sum(len(os.listdir(maildir / sub)) for sub in ("new", "cur")
                                          if (maildir / sub).is_dir())
        elif kind == "held":
            queue = tmp / "data" / "queue" / "smtp.alpha.test"
            result["queued_entries"] = len(list(queue.glob("*.json"))) if queue.is_dir() else 0
        elif kind == "fsync":
            result["spool_files"] = len(os.listdir(tmp / "spool"))
        return result
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()          # our own child, by its pid
                worker.join(5)
        end_process(server)
        if spy is not None:
            try:
                spy.wait(30)                # it stops when the server process exits
            except subprocess.TimeoutExpired:
                spy.send_signal(signal.SIGINT)
                try:
                    spy.wait(15)
                except subprocess.TimeoutExpired:
                    spy.kill()
                    spy.wait(5)
        shutil.rmtree(tmp, ignore_errors=True)


# -- reporting ----------------------------------------------------------------------------------------
def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarise(results: list[dict]) -> dict:
    out = {}
    for kind in KINDS:
        runs = [r for r in results if r["kind"] == kind and r.get("accepted_per_s")]
        if not runs:
            continue
        n = [r["sent"] for r in runs]
        out[kind] = {
            "runs": len(runs),
            "accepted_per_s": _median(r["accepted_per_s"] for r in runs),
            "accepted_range": (min(r["accepted_per_s"] for r in runs), max(r["accepted_per_s"] for r in runs)),
            "p50_ms": _median(r["p50_ms"] for r in runs), "p95_ms": _median(r["p95_ms"] for r in runs),
            "p95_range": (min(r["p95_ms"] for r in runs), max(r["p95_ms"] for r in runs)),
            "delivered_per_s": _median(r.get("delivered_per_s") for r in runs),
            "delivered_range": ((min(r["delivered_per_s"] for r in runs if r.get("delivered_per_s")),
                                 max(r["delivered_per_s"] for r in runs if r.get("delivered_per_s")))
                                if any(r.get("delivered_per_s") for r in runs) else None),
            "rss_peak_mib": _median(r["rss_peak_kib"] / 1024 for r in runs if r.get("rss_peak_kib")),
            "rss_idle_mib": _median(r["rss_idle_kib"] / 1024 for r in runs if r.get("rss_idle_kib")),
            "cpu_ms_per_msg_accept": _median(r["server_cpu_accept_s"] * 1000 / s for r, s in zip(runs, n)
                                             if r.get("server_cpu_accept_s") is not None),
            "cpu_ms_per_msg_total": _median(r["server_cpu_total_s"] * 1000 / s for r, s in zip(runs, n)
                                            if r.get("server_cpu_total_s") is not None),
            "client_cpu_ms_per_msg": _median(r["client_cpu_s"] * 1000 / s for r, s in zip(runs, n)),
        }
    return out


def _f(value, fmt: str = "{:.0f}") -> str:
    return "—" if value is None else fmt.format(value)


def report(results: list[dict], summary: dict) -> str:
    lines = ["", "per run:"]
    for r in results:
        extra = ""
        if r["kind"] == "held":
            extra = f", {r.get('queued_entries')} entries in the MSA's queue"
        if r["kind"] == "ours":
            extra = (f", delivered {r.get('delivered')} ({r.get('maildir_files')} files) in {_f(r.get('e2e_s'), '{:.1f}')} s"
                     f" = {_f(r.get('delivered_per_s'))}/s, problems {r.get('problems') or 'none'}")
        lines.append(f"  run {r['run']} {r['kind']:5}: {r['sent']} sent in {_f(r.get('accept_s'), '{:.2f}')} s = "
                     f"{_f(r.get('accepted_per_s'))}/s, p50 {_f(r.get('p50_ms'), '{:.1f}')} ms, "
                     f"p95 {_f(r.get('p95_ms'), '{:.1f}')} ms, max {_f(r.get('max_ms'), '{:.0f}')} ms, "
                     f"peak RSS {_f((r.get('rss_peak_kib') or 0) / 1024, '{:.1f}')} MiB, server CPU "
                     f"{_f(r.get('server_cpu_accept_s'), '{:.1f}')} s to the last 250"
                     + (f", {_f(r.get('server_cpu_total_s'), '{:.1f}')} s to the last delivery" if r['kind'] == 'ours' else "")
                     + f" (of it kernel {_f(r.get('server_sys_s'), '{:.1f}')} s; busiest thread "
                       f"{_f(100 * (r.get('busiest_thread_share') or 0), '{:.0f}')}% of the wall time)"
                     + f", clients {r.get('client_cpu_s', 0):.1f} CPU-s{extra}"
                     + (f"; ERRORS {r['errors']}" if r.get("errors") else ""))
    header = (f"{'kind':22} {'accepted/s (min–max)':>22} {'p50 ms':>7} {'p95 ms':>7} {'delivered/s (min–max)':>22}"
              f" {'peak RSS':>9} {'srv CPU ms/msg':>15}")
    lines += ["", header, "-" * len(header)]
    for kind, s in summary.items():
        acc = f"{s['accepted_per_s']:.0f} ({s['accepted_range'][0]:.0f}–{s['accepted_range'][1]:.0f})"
        dlv = (f"{s['delivered_per_s']:.0f} ({s['delivered_range'][0]:.0f}–{s['delivered_range'][1]:.0f})"
               if s["delivered_per_s"] else "—")
        cpu = _f(s["cpu_ms_per_msg_accept"], "{:.2f}")
        if s["cpu_ms_per_msg_total"] is not None:
            cpu += f" / {s['cpu_ms_per_msg_total']:.2f}"
        lines.append(f"{LABELS[kind]:22} {acc:>22} {s['p50_ms']:7.1f} {s['p95_ms']:7.1f} {dlv:>22}"
                     f" {_f(s['rss_peak_mib'], '{:.0f}') + ' MiB':>9} {cpu:>15}")
    lines.append("(srv CPU ms/msg: until the last 250; for ours also until the last delivery)")
    for mine in ("ours", "held"):
        if mine not in summary:
            continue
        ours = summary[mine]
        for ref in ("sink", "fsync"):
            if ref not in summary:
                continue
            s = summary[ref]
            paired = _paired_ratios(results, mine, ref)
            lines.append(
                f"{LABELS[mine]} / {LABELS[ref]}: accepted/s ×{ours['accepted_per_s'] / s['accepted_per_s']:.3f}"
                f" (per-run pairs {paired[0]:.3f}–{paired[1]:.3f}), p50 ×{ours['p50_ms'] / s['p50_ms']:.1f},"
                f" p95 ×{ours['p95_ms'] / s['p95_ms']:.1f}, peak RSS ×{ours['rss_peak_mib'] / s['rss_peak_mib']:.1f}"
                + (f", server CPU/msg to the last 250 ×{ours['cpu_ms_per_msg_accept'] / s['cpu_ms_per_msg_accept']:.1f}"
                   if s["cpu_ms_per_msg_accept"] else ""))
    return "\n".join(lines)


def _paired_ratios(results: list[dict], mine: str, ref: str) -> tuple[float, float]:
    ratios = []
    for run in sorted({r["run"] for r in results}):
        ours = next((r for r in results if r["run"] == run and r["kind"] == mine and r.get("accepted_per_s")), None)
        other = next((r for r in results if r["run"] == run and r["kind"] == ref and r.get("accepted_per_s")), None)
        if ours and other:
            ratios.append(ours["accepted_per_s"] / other["accepted_per_s"])
    return (min(ratios), max(ratios)) if ratios else (float("nan"), float("nan"))


def summarise_py_spy(paths: list[str], top: int = 25) -> str:
    """Self ("leaf") and inclusive sample shares per function from py-spy's raw (collapsed) stacks."""
    own: Counter = Counter()
    inclusive: Counter = Counter()
    total = 0
    for path in paths:
        try:
            text = Path(path).read_text()
        except OSError:
            continue
        for line in text.splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                continue
            n = int(count)
            total += n
            frames = [_frame(f) for f in stack.split(";") if not f.startswith("process ") and not f.startswith("thread ")]
            if frames:
                own[frames[-1]] += n
            for frame in set(frames):
                inclusive[frame] += n
    if not total:
        return "py-spy: no samples"
    lines = [f"py-spy: {total} samples", "  self (leaf) share:"]
    lines += [f"    {100 * n / total:5.1f}%  {f}" for f, n in own.most_common(top)]
    lines.append("  inclusive share:")
    lines += [f"    {100 * n / total:5.1f}%  {f}" for f, n in inclusive.most_common(top + 15)]
    return "\n".join(lines)


def _frame(frame: str) -> str:
    # "function (path/to/file.py:123)" -> "function (file.py)"
    name, _, where = frame.partition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0]
    for prefix in (str(ROOT) + "/", "/usr/lib/python3.11/"):
        where = where.replace(prefix, "")
    if "site-packages/" in where:
        where = where.split("site-packages/", 1)[1]
    if "/lib/python3.11/" in where:
        where = where.split("/lib/python3.11/", 1)[1]
    return f"{name} ({where})"


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--messages", type=int, default=2000, help="messages per run (N)")
    parser.add_argument("--connections", type=int, default=8, help="SMTP connections at once (C), one process each")
    parser.add_argument("--size", type=int, default=2048, help="message size in bytes (about)")
    parser.add_argument("--runs", type=int, default=3, help="runs per server, interleaved; medians are reported")
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(DEFAULT_KINDS),
                        help="servers to run; 'held' = ours with the queue runner held (submission path only)")
    parser.add_argument("--max-seconds", type=float, default=300.0, help="bound on the whole benchmark")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--profile", help="cProfile our server's mail loop thread into this pstats file "
                                          "(figures from such a run are not representative)")
    parser.add_argument("--py-spy", help="path of a py-spy binary: sample our server during its runs")
    parser.add_argument("--py-spy-out", default=str(Path(tempfile.gettempdir()) / "bench_smtp-pyspy"),
                        help="prefix of py-spy's raw outputs")
    parser.add_argument("--py-spy-all-threads", action="store_true",
                        help="sample every thread, not only the one holding the GIL (shows fsync waits)")
    parser.add_argument("--serve", choices=KINDS, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve(args.serve, args.data, args.profile)
    if args.messages < 1 or args.connections < 1 or args.runs < 1:
        parser.error("--messages, --connections and --runs must be at least 1")
    args.connections = min(args.connections, args.messages)

    began = time.time()
    deadline = began + args.max_seconds
    print(f"bench_smtp: {args.messages} messages of ~{args.size} B over {args.connections} connections, "
          f"{args.runs} run(s) of {', '.join(args.kinds)}; {os.cpu_count()} CPUs; bound {args.max_seconds:.0f} s; "
          f"load average {_loadavg()}", flush=True)
    results: list[dict] = []
    stopped_early = False
    for run in range(1, args.runs + 1):
        for kind in args.kinds:
            if time.time() > deadline - 5:
                stopped_early = True
                break
            try:
                result = one_run(kind, run, args, deadline)
            except Exception as exc:
                result = {"kind": kind, "run": run, "sent": 0, "failed": repr(exc)[:500]}
                print(f"  run {run} {kind}: FAILED {exc!r}", flush=True)
            results.append(result)
            if result.get("accepted_per_s"):
                print(f"  run {run} {kind:5}: {result['accepted_per_s']:.0f} accepted/s, p50 {result['p50_ms']:.1f} ms"
                      + (f", {result['delivered_per_s']:.0f} delivered/s" if result.get("delivered_per_s") else ""),
                      flush=True)
        if stopped_early:
            break
    summary = summarise(results)
    print(report(results, summary))
    incomplete = [r for r in results if r.get("sent", 0) < args.messages
                  or (r["kind"] == "ours" and r.get("delivered", 0) < r.get("sent", 0))]
    if stopped_early or incomplete:
        print(f"NOTE: {'stopped at --max-seconds; ' if stopped_early else ''}"
              f"{len(incomplete)} run(s) incomplete (fewer messages sent or delivered than asked)")
    print(f"total {time.time() - began:.0f} s; load average now {_loadavg()} (other work on the machine skews figures)")
    spy_files = [r["py_spy_output"] for r in results if r.get("py_spy_output")]
    if spy_files:
        print(summarise_py_spy(spy_files))
    if args.json:
        args.json.write_text(json.dumps({"command": " ".join(sys.argv), "cpus": os.cpu_count(),
                                         "results": results, "summary": summary}, indent=2))
    return 0 if not incomplete and not stopped_early else 1


if __name__ == "__main__":
    sys.exit(main())
