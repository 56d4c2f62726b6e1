"""Sequential session latency: one whole SMTP session after another, each timed.

Theory of operation: a session is what a script that sends one notification does -- connect, read
the greeting, EHLO, MAIL, RCPT, DATA, a 2 KB message, the 250, QUIT and its 221 -- timed with
``time.perf_counter`` from before the connect to after the 221, one session at a time, so the
figure is the server's own turn-around (no queueing behind other sessions).  The same smtplib code
against every server (``local_hostname`` given: nothing asks a resolver).  Reported: p50, p95 and
the count of sessions that failed.  The first few sessions are a warm-up and are not counted.
"""
from __future__ import annotations

import smtplib
import time

import common                      # bench/common.py (main.py puts bench/ on the path)

from .sender import message
from .servers import HELO, SENDER, Server

WARMUP = 3


def percentile(values: list[float], p: float) -> float | None:
    """bench/common.py's percentile (linear between closest ranks), None instead of NaN for none."""
    return common.percentile(values, p) if values else None


def sessions(server: Server, count: int, bound: float) -> dict:
    times: list[float] = []
    errors: list[str] = []
    deadline = time.monotonic() + bound
    for n in range(WARMUP + count):
        if time.monotonic() > deadline:
            errors.append("time bound reached")
            break
        data = message(SENDER, server.rcpt, f"lat.{n}.{time.time()}@client.bench.test", 2048)
        t0 = time.perf_counter()
        try:
            with smtplib.SMTP(server.host, server.port, local_hostname=HELO, timeout=30) as smtp:
                smtp.sendmail(SENDER, [server.rcpt], data)
        except (smtplib.SMTPException, OSError) as exc:
            errors.append(repr(exc)[:200])
            continue
        if n >= WARMUP:
            times.append(time.perf_counter() - t0)
    return {"server": server.name, "sessions": len(times), "errors": errors[:5],
            "p50_ms": _ms(percentile(times, 0.5)), "p95_ms": _ms(percentile(times, 0.95))}


def _ms(value: float | None) -> float | None:
    return None if value is None else value * 1000
