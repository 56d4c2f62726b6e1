"""The diagram's layout of a big world is the same at every start of app.py (simulator/web/layout.py).

networkx's ``subgraph`` view iterates a few nodes of many in a set's order (by hash), so the layout
of a world of 12 or 50 domains changed with ``PYTHONHASHSEED`` -- from one start to the next -- until
the layout made its subgraphs in the graph's own order (``layout._induced``).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

LAYOUT_DIGEST = """
import hashlib, json, sys
sys.path[:0] = ["tests"]
from diagram_helpers import big_scenario
from simulator.scenario import parse_scenario
from simulator.web.layout import layout
from simulator.world import World
world = World(parse_scenario(big_scenario(int(sys.argv[1])), "big.yaml"))
print(hashlib.sha256(json.dumps(layout(world.graph(), 880, 600), sort_keys=True).encode()).hexdigest())
"""


@pytest.mark.parametrize("count", [12, 50])
def test_a_big_layout_does_not_depend_on_the_hash_seed(count):
    digests = set()
    for seed in ("1", "2", "3"):
        done = subprocess.run([sys.executable, "-c", LAYOUT_DIGEST, str(count)], cwd=ROOT, capture_output=True,
                              text=True, timeout=120, env={**os.environ, "PYTHONHASHSEED": seed})
        assert done.returncode == 0, done.stderr[-2000:]
        digests.add(done.stdout.strip())
    assert len(digests) == 1
