"""How long a test suite waits for Mailflow (issue 11: "start-up to ready under 1 s").

It measures, each the median of ``--runs`` fresh starts on free ports in a temporary directory:

- cold: a new Python process that imports ``simulator.testing`` and calls ``Mailflow.start()``, from
  the process's start to ``start()`` returning (imports included: the first test of a session);
- warm: ``Mailflow.start()`` again in the same process (every later test), and ``stop()``;
- app.py: ``app.py --api-only --ports-file FILE`` with every port 0, from ``Popen`` to the ports
  file written (everything listening: the subprocess way);
- first message: ``send()`` to the app port, then ``wait_for()`` it through the API.

Usage::

    .venv/bin/python bench/bench_fixture.py [--runs 5] [--json bench/results/fixture.json]
"""
from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PORTS = [f"--{name}-port=0" for name in
         ("mx", "submission", "smtps", "dns", "imap", "imaps", "pop3", "pop3s", "web", "app")]
COLD = """
import time, sys
began = float(sys.argv[1])
from simulator.testing import Mailflow
flow = Mailflow.start()
ready = time.time()
flow.stop()
print(ready - began)
"""


def cold(runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        began = time.time()
        done = subprocess.run([sys.executable, "-c", COLD, repr(began)], cwd=ROOT, capture_output=True,
                              text=True, check=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
        out.append(float(done.stdout.strip().splitlines()[-1]))
    return out


def warm(runs: int) -> tuple[list[float], list[float], list[float]]:
    from simulator.testing import Mailflow
    Mailflow.start().stop()                         # imports and the first certificate out of the way
    starts, stops, first = [], [], []
    for n in range(runs):
        began = time.perf_counter()
        flow = Mailflow.start()
        starts.append(time.perf_counter() - began)
        began = time.perf_counter()
        flow.send("bob@beta.test", f"bench {n}", "hello")
        flow.wait_for(subject=f"bench {n}")
        first.append(time.perf_counter() - began)
        began = time.perf_counter()
        flow.stop()
        stops.append(time.perf_counter() - began)
    return starts, stops, first


def app_py(runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="mailflow-bench-") as tmp:
            ports_file = Path(tmp) / "ports.json"
            began = time.perf_counter()
            proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--api-only", "--data", f"{tmp}/data",
                                     "--ports-file", str(ports_file), *PORTS], cwd=tmp,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            while not ports_file.exists():
                if proc.poll() is not None:
                    raise SystemExit("app.py exited before it was ready")
                time.sleep(0.005)
            out.append(time.perf_counter() - began)
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    results = {"cold start (s)": cold(args.runs)}
    starts, stops, first = warm(args.runs)
    results.update({"warm start (s)": starts, "stop (s)": stops, "first message (s)": first,
                    "app.py --api-only to ports file (s)": app_py(args.runs)})
    for name, values in results.items():
        print(f"{name:<38} median {statistics.median(values):.3f}   max {max(values):.3f}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
