"""The program as a user runs it: app.py as a subprocess, killed with SIGKILL, started again.

The hops are judged by the event log the program writes (JSON lines, one event each, path printed
at start): kinds and node ids, not the English the terminal prints.
"""
from __future__ import annotations

import json
import os
import signal
import smtplib
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from conftest import fresh_ports

import pytest

from simulator import nodes
from simulator.config import DEFAULT_PORTS

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
    """Free ports, a different one for each service (nine drawn independently met twice in one CI run)."""
    free = fresh_ports()
    ports = {name: getattr(free, name) for name in ("mx", "submission", "smtps", "dns", "imap", "imaps", "pop3", "pop3s", "app")}
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


def event_log(lines: list[str]) -> Path:
    """The event log's path, from the start-up lines ("Data directory: ...   Event log: <path>")."""
    line = next(line for line in lines if "Event log: " in line)
    return Path(line.split("Event log: ", 1)[1].strip())


def wait_for_event(log: Path, predicate: Callable[[dict], bool], timeout: float = 20.0) -> dict:
    """The first event of the log for which predicate holds, waiting for the program to write it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists():
            for line in log.read_text(encoding="utf-8").splitlines():
                event = json.loads(line)
                if predicate(event):
                    return event
        time.sleep(0.05)
    raise AssertionError(f"no such event in {log}")


def wait_until(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def delivered_to(address: str) -> Callable[[dict], bool]:
    return lambda e: e["kind"] == "mda.deliver" and e["dst"] == nodes.mailbox(address)


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
        log = event_log(wait_for_line(proc, "Event log:"))
        with smtplib.SMTP("127.0.0.1", ports["submission"], local_hostname="c.test", timeout=10) as s:
            s.login("alice@alpha.test", "alice")
            s.sendmail("alice@alpha.test", ["bob@beta.test"], b"Subject: survive\r\n\r\nstill here\r\n")
        wait_for_event(log, lambda e: e["kind"] == "queue.defer")      # deferred: both MX hosts are down
        queued = list((tmp_path / "data" / "queue" / "smtp.alpha.test").glob("*.json"))
        assert len(queued) == 1 and json.loads(queued[0].read_text())["attempts"] >= 1
        os.kill(proc.pid, signal.SIGKILL)                  # the process we started, by its pid
        proc.wait(10)
        assert proc.returncode == -signal.SIGKILL
    finally:
        stop(proc)
    proc = start_app(tmp_path, up, args)
    try:
        log = event_log(wait_for_line(proc, "Event log:"))
        wait_for_event(log, delivered_to("bob@beta.test"), timeout=30)
        queue = tmp_path / "data" / "queue" / "smtp.alpha.test"
        wait_until(lambda: not list(queue.glob("*.json")))     # nothing left that could deliver twice
        box = tmp_path / "data" / "mail" / "beta.test" / "bob" / "new"
        messages = list(box.iterdir())
        assert len(messages) == 1 and b"still here" in messages[0].read_bytes()
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


def test_one_port_given_to_two_services_is_refused_before_anything_binds(tmp_path):
    """Two services given one port used to fail at the second bind, 'address already in use', as if
    another program held it; the error now names both options, and nothing has started."""
    args, ports = port_args()
    clash = [a for a in args if not a.startswith("--imap-port=")] + [f"--imap-port={ports['mx']}"]
    result = subprocess.run([sys.executable, str(ROOT / "app.py"), "--no-web", "--data", str(tmp_path / "d"),
                             *clash], capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert f"--mx-port {ports['mx']}" in result.stderr and f"--imap-port {ports['mx']}" in result.stderr
    assert not (tmp_path / "d").exists()
    # A default counts too: --imap-port on the submission port's default, which is not given.
    defaults = [a for a in args if not a.startswith(("--imap-port=", "--submission-port="))]
    result = subprocess.run([sys.executable, str(ROOT / "app.py"), "--no-web", "--data", str(tmp_path / "d"),
                             *defaults, f"--imap-port={DEFAULT_PORTS['submission']}"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert f"--imap-port {DEFAULT_PORTS['submission']} and --submission-port ({DEFAULT_PORTS['submission']} by default)" \
        in result.stderr


@pytest.mark.parametrize("off, a, b", [
    ("--no-tls", "smtps", "imaps"),             # the implicit-TLS ports are not bound
    ("--no-tls", "pop3s", "submission"),
    ("--no-app-port", "app", "imap"),
    ("--no-web", "web", "pop3"),
    ("--run", "web", "dns"),                    # a headless lesson serves no page
])
def test_a_service_switched_off_may_share_its_port(tmp_path, off, a, b):
    import app
    options = [f"--{a}-port=2000", f"--{b}-port=2000"]
    assert getattr(app.config_from_args(app.build_parser().parse_args([off, *options]), data_dir=tmp_path).ports,
                   b) == 2000
    with pytest.raises(SystemExit) as refused:                                      # the same, switched on
        app.config_from_args(app.build_parser().parse_args(options), data_dir=tmp_path)
    assert f"--{a}-port 2000 and" in str(refused.value) or f"and --{a}-port 2000" in str(refused.value)
    assert f"--{b}-port 2000" in str(refused.value)


def test_the_app_port_0_is_the_systems_pick_and_shares_nothing(tmp_path):
    import app
    config = app.config_from_args(app.build_parser().parse_args(["--app-port=0", "--web-port=0"]), data_dir=tmp_path)
    assert config.ports.app == 0 and config.ports.web == 0


@pytest.mark.parametrize("run", [False, True])
def test_ports_0_never_meet_another_port_even_in_a_narrow_range(tmp_path, monkeypatch, run):
    """A free port for 0 is none of the others, given by hand, by default or chosen free (a headless
    --run chooses every port not given).  Twelve numbers for nine services: a clash, if one could
    happen, happens in a few of 40 draws."""
    import app
    from simulator.config import PORT_RANGE_ENV
    monkeypatch.setenv(PORT_RANGE_ENV, "21000-21012")
    for _ in range(40):
        options = ["--dns-port=0", "--imap-port=0", "--mx-port=21003"] + (["--run"] if run else [])
        ports = app.config_from_args(app.build_parser().parse_args(options), data_dir=tmp_path).ports
        bound = [getattr(ports, name) for name in ("mx", "submission", "smtps", "dns", "imap", "imaps", "pop3",
                                                    "pop3s", "app")]
        assert len(set(bound)) == len(bound) and ports.mx == 21003


def test_a_port_held_at_a_hosts_address_only_is_not_free():
    """A world's MX listens at its hosts' addresses (127.42.d.h), not at 127.0.0.1; a second world
    of the same process given that port would fail to bind its own MX there."""
    import random
    import socket
    from simulator.config import free_port
    with socket.socket() as mx:
        mx.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)     # as asyncio's servers do
        mx.bind(("127.42.1.2", free_port(random.Random())))
        mx.listen()
        held = mx.getsockname()[1]

        class FirstTheHeldOne(random.Random):
            draws = 0

            def randrange(self, low, high):
                self.draws += 1
                return held if self.draws == 1 else super().randrange(low, high)

        rng = FirstTheHeldOne()
        assert free_port(rng) != held and rng.draws >= 2


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
        log = event_log(wait_for_line(proc, "Event log:"))
        wait_for_line(proc, "Step mode")
        import threading
        done = threading.Event()

        def send() -> None:
            with smtplib.SMTP("127.0.0.1", ports["submission"], local_hostname="c.test", timeout=30) as s:
                s.login("alice@alpha.test", "alice")
                s.sendmail("alice@alpha.test", ["bob@beta.test"], b"Subject: step\r\n\r\nx\r\n")
            done.set()
        threading.Thread(target=send, daemon=True).start()
        assert not done.wait(1.0)                # the MSA holds the final 250 until released
        box = tmp_path / "data" / "mail" / "beta.test" / "bob" / "new"
        expected: list[Callable[[dict], bool]] = [
            lambda e: e["kind"] == "smtp.session" and e["src"] == nodes.mua("alice@alpha.test"),
            lambda e: e["kind"] == "dns.query",
            lambda e: e["kind"] == "smtp.session" and e["dst"] == nodes.mta("mx1.beta.test"),
            delivered_to("bob@beta.test"),
        ]
        for hop in expected:
            proc.stdin.write("\n")
            proc.stdin.flush()
            wait_for_event(log, hop)
            if hop is not expected[-1]:
                assert not box.exists() or not list(box.iterdir())
        assert done.wait(5)
        assert len(list(box.iterdir())) == 1
    finally:
        stop(proc)


def test_the_terminal_prints_the_english_summary_without_code_marks():
    from app import format_hop
    from simulator.events import Event
    event = Event(seq=1, ts=0.0, kind="smtp.session", src=nodes.mua("alice@alpha.test"),
                  dst=nodes.mta("smtp.alpha.test"), protocol="SMTP", status="ok", trace="m-1",
                  text={"en": {"summary": "the server answered `250 Ok`", "explain": ""},
                        "ru": {"summary": "сервер ответил `250 Ok`", "explain": ""}})
    line = format_hop(event)
    assert line.endswith("✓ mua:alice@alpha.test → mta:smtp.alpha.test [SMTP] the server answered 250 Ok")


def test_the_simulator_without_its_web_package_imports_no_flask():
    """app.py --no-web and every module outside simulator/web run without Flask or Socket.IO."""
    code = """if True:
        import importlib, pkgutil, sys
        import app

        def walk(package):            # pkgutil.walk_packages would import simulator.web to look inside
            for info in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
                # simulator.autoconfig: a transitional alias of simulator.web.autoconfig
                if info.name in ("simulator.web", "simulator.autoconfig"):
                    continue
                module = importlib.import_module(info.name)
                if info.ispkg:
                    walk(module)
        walk(importlib.import_module("simulator"))
        web = ("flask", "flask_socketio", "socketio", "engineio", "werkzeug")
        print(",".join(sorted(m for m in sys.modules if m.split(".")[0] in web
                              or m == "simulator.web" or m.startswith("simulator.web."))))
    """
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_a_free_port_taken_meanwhile_is_chosen_again(tmp_path, monkeypatch):
    """--*-port=0 picks free ports; another program may bind one before the stack does.  app.py then
    starts again on new free ports, as the --api-only mode does, and its event log is open again."""
    import app
    from simulator.lesson import Director
    real, tried, directors = Director.start, [], []

    def taken_once(self):
        tried.append(self.config.ports)
        directors.append(self)
        if len(tried) == 1:
            self.bus.close()                    # what a failed MailStack.start does to the bus
            raise OSError(98, "Address already in use")
        return real(self)

    served: list[bool] = []
    monkeypatch.setattr(Director, "start", taken_once)
    monkeypatch.setattr(app, "serve_until_stopped",
                        lambda stop, ports_file, ports, then=None: served.append(directors[-1].bus._log_file is not None))
    args, _ = port_args()
    args = [a.split("=")[0] + "=0" for a in args]
    assert app.main(["--no-web", "--data", str(tmp_path / "data"), *args]) == 0
    assert len(tried) == 2 and tried[0] != tried[1] and directors[0] is directors[1]
    assert served == [True]
