"""Helpers shared by the benchmark scripts (they run as `python bench/<script>.py`)."""
from __future__ import annotations

import random

from simulator import config
from simulator.config import Ports

_rng = random.Random()


def free_port() -> int:
    return config.free_port(_rng)


def sandbox_ports() -> Ports:
    return Ports.free(_rng)


def percentile(values: list[float], p: float) -> float:
    """Linear interpolation between closest ranks; NaN for no values."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)
