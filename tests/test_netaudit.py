"""Rule 3 (issue 12), nothing leaves the sandbox: the audit hook of :mod:`simulator.netaudit`.

The suite itself runs under the hook (tests/conftest.py: every test is checked, an attempt off
loopback is refused).  Here the hook is judged in fresh Python processes, so that what they attempt
on purpose (TEST-NET-1, RFC 5737: 192.0.2.0/24 never routes anywhere) is not this process's: what is
refused, what is let through, the log a parent reads, and ``app.py`` installing it before anything else.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from simulator import netaudit

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("target, local", [
    (("127.0.0.1", 25), True), (("127.42.2.2", 2525), True), (("::1", 143, 0, 0), True),
    (("::ffff:127.0.0.1", 25), True), (("0.0.0.0", 80), True), ("localhost", True), (None, True),
    ("/run/dbus/socket", True), (b"\0abstract", True), ((0, 0), True), ("", True),
    (("192.0.2.1", 25), False), (("10.0.0.1", 25), False), (("2001:db8::1", 25, 0, 0), False),
    ("example.com", False), (b"mail.example.com", False), ("vm", False), ("localhost.example.com", False),
])
def test_what_stays_on_this_computer(target, local):
    assert netaudit.is_local(target) is local


def _child(code: str, log: Path, *, env_var: bool = False) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != netaudit.ENV}
    if env_var:
        env[netaudit.ENV] = str(log)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def test_connects_and_lookups_off_loopback_are_refused_and_logged_loopback_goes_through(tmp_path):
    log = tmp_path / "violations.jsonl"
    result = _child(f"""
        import socket
        from simulator import netaudit
        netaudit.install(abort=True, log_path={str(log)!r})
        server = socket.create_server(("127.0.0.1", 0))
        with socket.create_connection(server.getsockname(), timeout=5):
            print("loopback ok")
        for attempt in (lambda: socket.create_connection(("192.0.2.1", 25), timeout=5),
                        lambda: socket.socket().connect(("192.0.2.1", 25)),
                        lambda: socket.getaddrinfo("example.com", 25),
                        lambda: socket.gethostbyname("example.com"),
                        lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("192.0.2.1", 53))):
            try:
                attempt()
                print("went through")
            except netaudit.OffLoopback:
                print("refused")
        socket.getfqdn()          # smtplib without local_hostname: its lookups are refused (it falls back)
        print(len(netaudit.violations()))
    """, log)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.split()
    assert lines[:2] == ["loopback", "ok"] and "went through" not in result.stdout
    assert lines.count("refused") == 5 and int(lines[-1]) >= 6
    logged, offset = netaudit.read_log(log)
    assert offset == log.stat().st_size and len(logged) == int(lines[-1])
    events = {v.event for v in logged}
    assert {"socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr", "socket.sendto"} <= events
    assert all(v.pid != os.getpid() for v in logged)


def test_record_mode_lets_the_attempt_through_but_remembers_it(tmp_path):
    result = _child("""
        import socket
        from simulator import netaudit
        netaudit.install(abort=False)
        try:
            socket.getaddrinfo("192.0.2.1", 25, type=socket.SOCK_STREAM)   # numeric: no resolver asked
        except OSError:
            pass
        print(",".join(v.event for v in netaudit.violations()))
    """, tmp_path / "unused.jsonl")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "socket.getaddrinfo"


def test_app_py_installs_the_hook_before_anything_else_when_told(tmp_path):
    """``MAILFLOW_NET_AUDIT=<file>``: app.main() installs the hook first (here it only prints its
    help), and from then on the process cannot connect off loopback; the attempt is in the file."""
    log = tmp_path / "app-violations.jsonl"
    code = """
        import socket, app
        try:
            app.main(["--help"])
        except SystemExit:
            pass
        try:
            socket.create_connection(("192.0.2.1", 25), timeout=5)
        except PermissionError as exc:
            print("refused", type(exc).__name__)
    """
    told = _child(code, log, env_var=True)
    assert told.returncode == 0, told.stderr
    assert "refused OffLoopback" in told.stdout
    [entry] = [json.loads(line) for line in log.read_text().splitlines()]
    assert entry["event"] in ("socket.getaddrinfo", "socket.connect") and "192.0.2.1" in entry["target"]
