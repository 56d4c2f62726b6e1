"""IMAP and POP3 on 10,000 messages, Mailflow alone, this tree against another (A/B).

Theory of operation: the same states as ``bench/sidebyside/retrieval.py`` (cold = a hard-linked copy
app.py has never seen; cached = the next session in the same process; warm = the first session after a
restart on the same copy), without Dovecot, so that two trees can be compared within the same minutes:
``--baseline DIR`` runs DIR's ``app.py`` on its own copy, alternating with this tree's, repetition by
repetition.  Every file of the copy is read into the page cache before each session (``retrieval.page_in``,
as ``retrieval.run`` does), and the cold session always runs (the later states need it before them).
The figures are app.py's CPU seconds (``/proc/<pid>/stat``: steadier than wall time on a shared
machine) per session and per phase, wall seconds, peak RSS (``VmHWM``), and RSS just after the start
and just after the restart.  ``--pyspy PREFIX`` records the chosen states of this tree's app.py with
py-spy (``--gil --threads``, raw format; PREFIX.<protocol>.<state>).  Bounded: one timeout per session.

    .venv/bin/python bench/bench_retrieval.py --reps 2 --baseline /tmp/before
    .venv/bin/python bench/bench_retrieval.py --only pop3 --states cached --reps 1 --pyspy /tmp/prof
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from sidebyside import alternating  # noqa: E402
from sidebyside import procs, retrieval, servers  # noqa: E402

STATES = ("cold", "cached", "warm")


def one_tree(root: Path, workdir: Path, pristine: Path, protocols: list[str], states: list[str],
             timeout: float, pyspy: str | None, delay: float = 0.0) -> dict:
    servers.ROOT = root                       # Mailflow starts ROOT/app.py with cwd ROOT
    out: dict = {}
    for protocol in protocols:
        pair = retrieval.Pair(workdir / protocol, pristine, None)
        try:
            pair.start()
            time.sleep(delay)
            out[f"{protocol} idle rss"] = pair.mailflow.rss()
            for state in STATES:
                if state == "warm":
                    pair.stop()
                    pair.start()
                    out[f"{protocol} restart rss"] = pair.mailflow.rss()
                if state not in states and state != "cold":
                    continue               # (the later states need the cold session before them)
                spy = None
                if pyspy and state in states:
                    spy = subprocess.Popen([str(BENCH.parent / ".venv/bin/py-spy"), "record", "-r", "200",
                                            "--format", "raw", "--gil", "--threads", "-o",
                                            f"{pyspy}.{protocol}.{state}", "-p", str(pair.mailflow.proc.pid)],
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    time.sleep(1.0)
                retrieval.page_in(pair.mailflow.maildir(retrieval.LOGIN))   # as retrieval.run does
                pid = pair.mailflow.proc.pid
                c0 = procs.cpu_seconds([pid])
                if protocol == "imap":
                    result = retrieval.imap(pair.imap_servers()[0], timeout, False)
                    result.pop("result", None)
                else:
                    name, port, session_pid = pair.pop3_servers()[0]
                    result = retrieval.pop3(name, port, session_pid, timeout)
                result["app_cpu"] = procs.cpu_seconds([pid]) - c0
                result["hwm_mib"] = pair.mailflow.rss("VmHWM")
                if spy is not None:
                    spy.send_signal(2)
                    spy.wait(30)
                if state in states:
                    out[f"{protocol} {state}"] = result
        finally:
            pair.stop()
    subprocess.run(["rm", "-rf", str(workdir)], check=False)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--baseline", type=Path, help="another tree (its app.py), alternated with this one")
    parser.add_argument("--only", choices=("imap", "pop3"), action="append")
    parser.add_argument("--states", nargs="+", choices=STATES, default=list(STATES))
    parser.add_argument("--pristine", type=Path, default=Path(tempfile.gettempdir()) / "bench-retrieval",
                        help="where the generated Maildir is kept between runs")
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--pyspy", help="py-spy raw profile prefix (this tree only)")
    parser.add_argument("--delay", type=float, default=0.0,
                        help="seconds between app.py's ports file and the first session (bench/run: 0)")
    parser.add_argument("--json", action="store_true", help="print the raw figures as JSON")
    args = parser.parse_args()
    protocols = args.only or ["imap", "pop3"]
    pristine = retrieval.make_pristine(args.pristine / f"n{args.messages}", args.messages)
    trees = [("this", BENCH.parent)] + ([("baseline", args.baseline.resolve())] if args.baseline else [])
    runs: dict[str, list[dict]] = {name: [] for name, _ in trees}
    for rep in range(args.reps):
        order = alternating(trees, rep)
        for name, root in order:
            work = Path(tempfile.mkdtemp(prefix=f"bench-retrieval-{name}-"))
            runs[name].append(one_tree(root, work, pristine, protocols, args.states, args.timeout,
                                       args.pyspy if name == "this" else None, args.delay))
    for key in [k for k in runs["this"][0] if k.endswith(" rss")]:
        print(key, {name: [round(r[key]) for r in rs] for name, rs in runs.items()}, "MiB")
    if args.json:
        print(json.dumps(runs, indent=1, default=str))
    keys = [k for k in runs["this"][0] if not k.endswith(" rss")]
    print(f"{'session':<14}{'tree':<10}{'app CPU s (each rep)':<26}{'wall s':<22}{'peak RSS MiB':<14}phases (median wall s, CPU s)")
    for key in keys:
        for name, _ in trees:
            rs = [r[key] for r in runs[name]]
            cpu = " ".join(f"{r['app_cpu']:.2f}" for r in rs)
            wall = " ".join(f"{r['times']['total']:.2f}" for r in rs)
            hwm = max(r["hwm_mib"] for r in rs)
            phases = {p: (round(statistics.median(r["times"][p] for r in rs), 3),
                          round(statistics.median(r["cpu"].get(p, 0) for r in rs), 2))
                      for p in rs[0]["times"] if p != "total"}
            print(f"{key:<14}{name:<10}{cpu:<26}{wall:<22}{hwm:<14.0f}{phases}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
