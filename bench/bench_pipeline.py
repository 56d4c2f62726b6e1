#!/usr/bin/env python3
"""Submission end to end, Mailflow alone, with the delivery pipeline's speed-ups switchable (issue 13).

Theory of operation: one run of ``bench/sidebyside/submission.py`` (a fresh ``app.py``, N messages
submitted with AUTH over c connections, each file's arrival in bob's ``new/`` matched to its 250),
printed as one JSON line: delivered msgs/s, server CPU per message, 250 -> ``new/`` p50/p95/p99.
``--off`` turns ideas off for a before/after in the same minute, through a small launcher
(written into the work directory) that patches :mod:`simulator.delivery` before ``app.py`` runs:

- ``reuse``: no relay connection cache (and no per-destination limit): one connection per attempt;
- ``flow``: no in-flow control at the submission door (``FLOW_LIMIT`` infinite);
- ``content``: the first attempt reads the queued message back from disk;
- ``direct``: the final MX queues every message instead of delivering it before its 250
  (:data:`simulator.direct.DIRECT`).

``--flow N`` sets ``FLOW_LIMIT``.  Alternate the configurations and repeat: on a shared machine
wall-clock figures are noisy; CPU per message is the steadiest.

    .venv/bin/python bench/bench_pipeline.py --messages 300 --connections 10
    .venv/bin/python bench/bench_pipeline.py --messages 300 --connections 10 --off flow,reuse,content
    .venv/bin/python bench/bench_pipeline.py --messages 300 --connections 10 --off direct
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(BENCH), str(ROOT)]

from sidebyside import servers, submission  # noqa: E402

LAUNCHER = '''import os, runpy, sys
os.chdir({root!r})
sys.path.insert(0, {root!r})
import simulator.delivery as d
off = {off!r}
if {flow!r} is not None:
    d.FLOW_LIMIT = {flow!r}
if "flow" in off:
    d.FLOW_LIMIT = 10 ** 9
if "reuse" in off:
    d.Delivery._reusable = lambda self, target: False
if "content" in off:
    d.CONTENT_CACHE = -1
if "direct" in off:
    import simulator.direct
    simulator.direct.DIRECT = False
sys.argv = [os.path.join({root!r}, "app.py")] + sys.argv[1:]
runpy.run_path(os.path.join({root!r}, "app.py"), run_name="__main__")
'''


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--messages", type=int, default=300)
    p.add_argument("--connections", type=int, default=10)
    p.add_argument("--reuse", action="store_true", help="the senders reuse their connections")
    p.add_argument("--viewers", type=int, default=0)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--off", default="", help="comma-separated: reuse, flow, content, direct")
    p.add_argument("--flow", type=int, default=None, help="FLOW_LIMIT")
    args = p.parse_args()
    off = [o for o in args.off.split(",") if o]
    unknown = set(off) - {"reuse", "flow", "content", "direct"}
    if unknown:
        p.error(f"--off: unknown {', '.join(sorted(unknown))}")
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        work = Path(tmp)
        if off or args.flow is not None:
            fake = work / "launch"
            fake.mkdir()
            (fake / "app.py").write_text(LAUNCHER.format(root=str(ROOT), off=off, flow=args.flow))
            servers.ROOT = fake
        run = work / "run"
        run.mkdir()
        out = submission.run(run, args.messages, args.connections, args.reuse, args.viewers, args.seconds)
    keys = ("delivered", "rate", "cpu_ms_per_msg", "to_maildir_p50_ms", "to_maildir_p95_ms", "to_maildir_p99_ms",
            "errors")
    result = {k: round(out[k], 2) if isinstance(out.get(k), float) else out.get(k) for k in keys}
    print(json.dumps({"off": off, "flow": args.flow, "connections": args.connections, "reuse": args.reuse,
                      **result}))


if __name__ == "__main__":
    main()
