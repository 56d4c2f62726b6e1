"""The program as a user runs it: app.py as a subprocess, killed with SIGKILL, started again."""
from __future__ import annotations

import json
import os
import signal
import smtplib
import subprocess
import sys
import time
from pathlib import Path

from conftest import free_port

ROOT = Path(__file__).resolve().parent.parent

ALL_DOWN = """
name: all-down
domains:
  alpha.test:
    users: {alice: alice}
    hosts: {smtp.alpha.test: {role: msa}, mx.alpha.test: {role: mx}}
    mx: [{preference: 10, host: mx.alpha.test}]
  beta.test:
    users: {bob: bob}
    hosts:
      mx1.beta.test: {role: mx, state: STATE}
      mx2.beta.test: {role: backup-mx, state: STATE}
    mx: [{preference: 10, host: mx1.beta.test}, {preference: 20, host: mx2.beta.test}]
"""


def port_args() -> tuple[list[str], dict[str, int]]:
    ports = {name: free_port() for name in ("mx", "submission", "smtps", "dns", "imap", "imaps", "pop3", "pop3s")}
    args = [f"--{name}-port={port}" for name, port in ports.items()]
    return args, ports


def start_app(tmp: Path, scenario: Path, ports_args: list[str], *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "app.py"), "--no-web", "--data", str(tmp / "data"),
         "--scenario", str(scenario), "--retry", "0.5", *ports_args, *extra],
        cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_for_line(proc: subprocess.Popen, needle: str, timeout: float = 20.0) -> list[str]:
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                break
            continue
        lines.append(line)
        if needle in line:
            return lines
    raise AssertionError(f"{needle!r} not seen; output: {''.join(lines)}")


def stop(proc: subprocess.Popen) -> None:
    """End the process we started (by its pid) and close its pipes."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            pipe.close()


def test_sigkill_while_queued_then_restart_delivers_exactly_once(tmp_path):
    down = tmp_path / "down.yaml"
    up = tmp_path / "up.yaml"
    down.write_text(ALL_DOWN.replace("STATE", "down"))
    up.write_text(ALL_DOWN.replace("STATE", "up"))
    args, ports = port_args()
    proc = start_app(tmp_path, down, args)
    try:
        wait_for_line(proc, "Mailflow is running")
        with smtplib.SMTP("127.0.0.1", ports["submission"], local_hostname="c.test", timeout=10) as s:
            s.login("alice@alpha.test", "alice")
            s.sendmail("alice@alpha.test", ["bob@beta.test"], b"Subject: survive\r\n\r\nstill here\r\n")
        wait_for_line(proc, "keeps the message")          # deferred: both MX hosts are down
        queued = list((tmp_path / "data" / "queue" / "smtp.alpha.test").glob("*.json"))
        assert len(queued) == 1 and json.loads(queued[0].read_text())["attempts"] >= 1
        os.kill(proc.pid, signal.SIGKILL)                  # the process we started, by its pid
        proc.wait(10)
        assert proc.returncode == -signal.SIGKILL
    finally:
        stop(proc)
    proc = start_app(tmp_path, up, args)
    try:
        wait_for_line(proc, "puts the message into bob@beta.test's mailbox", timeout=30)
        time.sleep(1.5)
        box = tmp_path / "data" / "mail" / "beta.test" / "bob" / "new"
        messages = list(box.iterdir())
        assert len(messages) == 1 and b"still here" in messages[0].read_bytes()
        assert not list((tmp_path / "data" / "queue" / "smtp.alpha.test").glob("*.json"))
    finally:
        stop(proc)


def test_bad_scenario_exits_2_naming_file_line_and_field(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\ndomains:\n  beta.test:\n    users: {bob: bob}\n    hosts: {mx1.beta.test: {role: mx}}\n"
                   "    mx: [{preference: 70000, host: mx1.beta.test}]\n")
    result = subprocess.run([sys.executable, str(ROOT / "app.py"), "--no-web", "--scenario", str(bad),
                             "--data", str(tmp_path / "d")], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert f"{bad}:6" in result.stderr and "preference" in result.stderr
    assert not (tmp_path / "d" / "queue").exists()        # nothing was started


def test_port_in_use_is_a_clear_error(tmp_path):
    import socket
    args, ports = port_args()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", ports["submission"]))
        busy.listen()
        result = subprocess.run([sys.executable, str(ROOT / "app.py"), "--no-web", "--data", str(tmp_path / "d"),
                                 *args], capture_output=True, text=True, timeout=30)
    assert result.returncode == 1 and "cannot start" in result.stderr


def test_help_documents_every_option():
    result = subprocess.run([sys.executable, str(ROOT / "app.py"), "--help"], capture_output=True, text=True,
                            timeout=30)
    for option in ("--scenario", "--data", "--fresh", "--mx-port", "--submission-port", "--dns-port",
                   "--imap-port", "--pop3-port", "--smtps-port", "--imaps-port", "--pop3s-port",
                   "--web-port", "--no-web", "--step"):
        assert option in result.stdout


def test_step_mode_in_the_terminal_releases_one_hop_per_enter(tmp_path):
    args, ports = port_args()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "app.py"), "--no-web", "--step", "--data", str(tmp_path / "data"), *args],
        cwd=tmp_path, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for_line(proc, "Step mode")
        import threading
        done = threading.Event()

        def send() -> None:
            with smtplib.SMTP("127.0.0.1", ports["submission"], local_hostname="c.test", timeout=30) as s:
                s.login("alice@alpha.test", "alice")
                s.sendmail("alice@alpha.test", ["bob@beta.test"], b"Subject: step\r\n\r\nx\r\n")
            done.set()
        threading.Thread(target=send, daemon=True).start()
        time.sleep(1.0)
        assert not done.is_set()                 # the MSA holds the final 250 until released
        box = tmp_path / "data" / "mail" / "beta.test" / "bob" / "new"
        expected = ["submits a message", "asks DNS", "hands the message to mx1", "puts the message into"]
        for needle in expected:
            proc.stdin.write("\n")
            proc.stdin.flush()
            wait_for_line(proc, needle)
            if needle != expected[-1]:
                assert not box.exists() or not list(box.iterdir())
        assert done.wait(5)
        assert len(list(box.iterdir())) == 1
    finally:
        stop(proc)
