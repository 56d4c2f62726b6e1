"""Processes: CPU and memory of a server (one process or a tree), and ending what we started.

Theory of operation: a server under test may be one process (Mailflow's ``app.py``, MailDev's node,
the aiosmtpd script) or a tree (Postfix's ``master`` and its smtpd, cleanup, qmgr, virtual...;
Dovecot's ``dovecot`` and its imap/pop3 workers).  Its CPU time is read from ``/proc``: for every
live process of the tree, utime + stime of itself plus cutime + cstime of the children it has
already reaped (``/proc/<pid>/stat`` fields 14-17), so a worker that exits between two readings is
still counted, by its parent.  The difference of two readings is the CPU the server spent in
between.  Memory is RSS (``VmRSS``) and its peak (``VmHWM``) summed over the tree.

Ending: only processes this benchmark started, by their pid -- SIGTERM, then SIGKILL after a grace
period.  Nothing here looks processes up by name.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time

TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            text = handle.read()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()       # fields from the 3rd (state) on


def tree(root: int) -> list[int]:
    """``root`` and every live descendant, found through the ppid field of /proc/<pid>/stat."""
    parents: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        fields = _stat(int(name))
        if fields is not None:
            parents.setdefault(int(fields[1]), []).append(int(name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        if _stat(pid) is None:
            continue
        out.append(pid)
        todo.extend(parents.get(pid, ()))
    return out


def cpu_seconds(roots: list[int]) -> float:
    """CPU seconds (user + system, own + reaped children) of the trees under ``roots``."""
    total = 0
    for root in roots:
        for pid in tree(root):
            fields = _stat(pid)
            if fields is not None:
                total += sum(int(v) for v in fields[11:15])   # utime stime cutime cstime
    return total / TICK


def _status_kib(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_mib(roots: list[int], field: str = "VmRSS") -> float:
    """RSS (or ``VmHWM``, the peak) summed over the trees under ``roots``, in MiB."""
    return sum(_status_kib(pid, field) for root in roots for pid in tree(root)) / 1024


def end(proc: subprocess.Popen | None, grace: float = 10.0) -> None:
    """End a process we started, by its pid: SIGTERM, then SIGKILL after ``grace`` seconds."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def end_pid(pid: int, grace: float = 10.0) -> None:
    """End a daemon we started that is not our child (Postfix's master), by its pid."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if _stat(pid) is None or _stat(pid)[0] == "Z":
            return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def wait_for(predicate, timeout: float, step: float = 0.02) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())
