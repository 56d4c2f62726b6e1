"""bench/run's browser measure counts the burst's long tasks, not the page's start-up before it
(bench/sidebyside/browser.py: ``summarise``)."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from sidebyside.browser import summarise  # noqa: E402


def test_a_task_counts_if_any_of_it_falls_in_the_burst():
    first_hop = 1_000_000.0                  # ms since the epoch: the hops' and the page's clocks
    batches = [[[1, 2], [first_hop / 1000, (first_hop + 900) / 1000], first_hop + 30, first_hop + 40],
               [[3], [(first_hop + 1000) / 1000], first_hop + 1030, first_hop + 1045]]
    data = {"batches": batches, "frames": [first_hop + 16 * i for i in range(70)],
            "longtasks": [[first_hop - 786, 73],      # the page's start-up, over before the burst
                          [first_hop - 40, 60],       # begun before the first hop, still running in it
                          [first_hop + 500, 55],      # in the burst
                          [first_hop + 2000, 90]],    # after the last drawing
            "loaf": [[first_hop - 786, 80, 10, []], [first_hop + 500, 60, 20, [["diagram.js:frame", 30, 0]]]]}
    out = summarise(data, seq0=0, final=3)
    assert out["events"] == 3
    assert (out["long_tasks"], out["longest_task_ms"]) == (2, 60)
    assert (out["long_tasks_before_burst"], out["longest_task_before_burst_ms"]) == (1, 73)
    assert out["long_frames"]["count"] == 1 and out["long_frames"]["scripts"][0]["where"] == "diagram.js:frame"
