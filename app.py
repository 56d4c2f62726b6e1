"""Mailflow: start the sandboxed mail world and its live web view.

    python app.py                      # default scenario, data in ./data
    python app.py --scenario scenarios/mx-failover.yaml --fresh --step
    python app.py --scenario scenarios/04-primary-down.yaml --run [--junit report.xml]   # headless lesson

``main`` parses the arguments, starts the mail stack on loopback, prints where everything listens
and prints every hop as it happens.  The web UI (``simulator.web``, the only part that needs Flask)
is imported only when it is on: ``--no-web`` runs without Flask and Socket.IO loaded at all.
"""
from __future__ import annotations

import argparse
import ipaddress
import logging
import shutil
import signal
import sys
import threading
from datetime import datetime
from pathlib import Path

from simulator.config import DEFAULT_PORTS, Config, Ports, QueuePolicy
from simulator.events import Event
from simulator.narrate.markup import plain
from simulator.scenario import DEFAULT_SCENARIO, ScenarioError, load_scenario

log = logging.getLogger("mailflow")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="app.py",
        description="Mailflow: a real but sandboxed mail system on loopback (DNS, SMTP, Maildir, "
                    "POP3, IMAP) that shows every hop of every message.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--scenario", type=Path, default=DEFAULT_SCENARIO,
                   help="scenario file (YAML) describing domains, hosts, users and MX tables")
    p.add_argument("--data", type=Path, default=None,
                   help="data directory: mailboxes, the queue, event logs, the TLS certificate "
                        "(default: ./data; with --run a temporary directory)")
    p.add_argument("--fresh", action="store_true",
                   help="start from an empty data directory (deletes its mail, queue and logs)")
    ports = p.add_argument_group("ports (all on loopback)")
    for name, help_text in [
        ("mx", "the sandbox's 'port 25': every MTA host listens on it at its own address 127.42.d.h"),
        ("submission", "message submission (MSA, STARTTLS) on the front door 127.0.0.1 and each MSA host"),
        ("smtps", "message submission over implicit TLS on the front door"),
        ("dns", "the sandbox DNS server (UDP and TCP) on 127.0.0.1"),
        ("imap", "IMAP (STARTTLS) on the front door and each domain's mailbox host"),
        ("imaps", "IMAP over implicit TLS"),
        ("pop3", "POP3 (STLS) on the front door and each domain's mailbox host"),
        ("pop3s", "POP3 over implicit TLS"),
        ("web", "the web UI"),
    ]:
        ports.add_argument(f"--{name}-port", type=int, default=None, metavar="PORT",
                           help=f"{help_text} (default: {DEFAULT_PORTS[name]}; with --run a free port)")
    p.add_argument("--web-host", default="127.0.0.1",
                   help="address of the web UI; 0.0.0.0 shares the view with the classroom "
                        "(the mail stack itself stays on loopback)")
    p.add_argument("--classroom-address", default=None, metavar="ADDRESS",
                   help="also serve the front door's submission, IMAP and POP3 ports (and their TLS ports) "
                        "on this address of this computer, so students can point Thunderbird or a phone "
                        "at it (README: 'Real clients from the class'); off by default")
    p.add_argument("--no-web", action="store_true", help="run without the web UI (terminal only)")
    p.add_argument("--step", action="store_true",
                   help="start paused: every hop waits; press Enter in the terminal to release one")
    p.add_argument("--hop-delay", type=float, default=0.0, metavar="SECONDS",
                   help="in play mode, wait this long before each hop (slow motion)")
    p.add_argument("--retry", type=float, default=None, metavar="SECONDS",
                   help="first retry of a deferred message, then doubling (default: 5 s, at most 60 s; "
                        "with --run 0.2 s, at most 1 s)")
    p.add_argument("--queue-lifetime", type=float, default=None, metavar="SECONDS",
                   help="give up (bounce) a message still undelivered after this long (default: 600 s; with --run 20 s)")
    p.add_argument("--seed", type=int, default=None, help="seed for random choices (equal-preference MX order)")
    p.add_argument("--no-tls", action="store_true", help="no STARTTLS and no implicit-TLS ports")
    lesson = p.add_argument_group("headless lessons (CI)")
    lesson.add_argument("--run", action="store_true",
                        help="run the scenario's steps to the end without the web UI, print the hop trace, "
                             "exit 0 if every expectation is met, 1 naming the one that failed")
    lesson.add_argument("--junit", type=Path, default=None, metavar="FILE", help="with --run: write a JUnit XML report")
    p.add_argument("-v", "--verbose", action="store_true", help="developer logging")
    return p


# Headless lessons compress time: a greylisting or MX-down lesson ends in seconds, not minutes.
HEADLESS_QUEUE = QueuePolicy(first_retry=0.2, backoff=2.0, max_interval=1.0, lifetime=20.0,
                             connect_timeout=2.0, command_timeout=10.0)
HEADLESS_TIME_SCALE = 0.1      # a lesson's wait: {seconds: n} lasts n / 10 s


def config_from_args(args: argparse.Namespace, *, data_dir: Path | None = None) -> Config:
    """The mail stack's Config; with --run, ports not given are free ones and the queue is compressed."""
    for name in DEFAULT_PORTS:
        port = getattr(args, f"{name}_port")
        if port is not None and not 1 <= port <= 65535:
            raise SystemExit(f"app.py: --{name}-port must be 1..65535, not {port}")
    base = Ports.free() if args.run else Ports()
    ports = Ports(**{name: getattr(args, f"{name}_port") or getattr(base, name) for name in DEFAULT_PORTS})
    default_queue = HEADLESS_QUEUE if args.run else QueuePolicy()
    queue = QueuePolicy(first_retry=args.retry if args.retry is not None else default_queue.first_retry,
                        backoff=default_queue.backoff, max_interval=default_queue.max_interval,
                        lifetime=args.queue_lifetime if args.queue_lifetime is not None else default_queue.lifetime,
                        connect_timeout=default_queue.connect_timeout, command_timeout=default_queue.command_timeout)
    data = data_dir or args.data or Path("data")
    return Config(data_dir=data.resolve(), ports=ports, web_host=args.web_host, queue=queue,
                  step=args.step, hop_delay=args.hop_delay, seed=args.seed, tls=not args.no_tls,
                  classroom_address=classroom_address(args.classroom_address))


def classroom_address(raw: str | None) -> str | None:
    """--classroom-address: an IP address of this computer (a name would ask the machine's resolver)."""
    if raw is None:
        return None
    try:
        address = ipaddress.ip_address(raw.strip("[]"))
    except ValueError:
        raise SystemExit(f"app.py: --classroom-address must be an IP address of this computer, not {raw!r}") from None
    if address.is_unspecified:
        raise SystemExit("app.py: --classroom-address must be one address, not 0.0.0.0 or :: "
                         "(that would open every port on every network)")
    return str(address)


def format_hop(event: Event) -> str:
    """One readable terminal line per hop: time, trace, from -> to, protocol, what happened."""
    clock = datetime.fromtimestamp(event.ts).strftime("%H:%M:%S")
    mark = {"ok": "✓", "deferred": "…", "failed": "✗", "bounced": "↩", "info": "·"}.get(event.status, "·")
    trace = event.trace or "-"
    summary = plain(event.words("en")["summary"])       # the terminal shows no code-span backticks
    if event.protocol == "LESSON":                      # a lesson's step: not a hop between nodes
        return f"{clock} {mark} ── {summary}"
    return f"{clock} {trace:<10} {mark} {event.src} → {event.dst} [{event.protocol}] {summary}"


def fresh_data_dir(data: Path) -> None:
    """Remove what the simulator writes (mail, queue, logs), keep the TLS certificate."""
    from simulator.lesson.director import fresh_world
    fresh_world(data)
    if (data / "logs").exists():
        shutil.rmtree(data / "logs")


def print_listeners(stack, out=sys.stdout) -> None:
    print("Mailflow is running. Listening on loopback:", file=out)
    rows = sorted(stack.listener_table(), key=lambda r: (r["host"] != "front", r["host"], r["service"]))
    for row in rows:
        where = "front door" if row["host"] == "front" else row["host"]
        if row["host"] == "front" and row["address"] == stack.config.classroom_address:
            where = "front door, for the classroom network"
        print(f"  {row['service']:<11} {row['address']}:{row['port']:<6} {where}", file=out)
    print("Users: " + ", ".join(f"{u} (password: {stack.world.user(u).password})"
                                for u in stack.world.users()), file=out)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if not args.verbose:
        logging.getLogger("mail.log").setLevel(logging.ERROR)   # aiosmtpd's chatter
    try:
        scenario = load_scenario(args.scenario)
    except ScenarioError as err:
        print(f"app.py: the scenario has {len(err.problems)} problem(s):\n{err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"app.py: cannot read the scenario: {err}", file=sys.stderr)
        return 2
    if args.run:
        return run_headless(args, scenario)
    config = config_from_args(args)
    if args.fresh:
        fresh_data_dir(config.data_dir)

    from simulator.lesson import Director
    director = Director(config, scenario, resume=not args.fresh)
    director.bus.subscribe(lambda e: e.kind != "gate.waiting" and print(format_hop(e), flush=True))
    try:
        stack = director.start()
    except OSError as err:
        print(f"app.py: cannot start: {err} (is another Mailflow running? choose other ports)", file=sys.stderr)
        return 1
    print(f"Scenario: {scenario.title.en} ({scenario.path})")
    print_listeners(stack)
    print(f"Data directory: {config.data_dir}   Event log: {stack.bus.log_path}")

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if args.step:
        print("Step mode: every hop waits. Press Enter to release one hop; type 'play' to run freely, "
              "'pause' to pause again.")
        threading.Thread(target=_terminal_steps, args=(stack, stop), daemon=True).start()
    web = None
    try:
        if not args.no_web:
            web = _start_web(director, config)
        while not stop.is_set():
            stop.wait(0.5)
    except KeyboardInterrupt:
        pass
    except OSError as err:
        print(f"app.py: cannot start the web UI: {err} (choose another --web-port)", file=sys.stderr)
        return 1
    finally:
        print("\nStopping…")
        if web is not None:
            web.shutdown()
        director.stop()
    return 0


def run_headless(args: argparse.Namespace, scenario) -> int:
    """``--run``: the lesson's steps to the end, on free ports and a temporary data directory unless
    given; prints the hop trace and the result; 0 if every expectation is met, 1 if one is not."""
    import tempfile
    import time

    from simulator.lesson import Director
    from simulator.lesson.report import summary_lines, write_junit

    if not scenario.steps:
        print(f"app.py: {scenario.path} has no steps to run", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="mailflow-run-") as tmp:
        config = config_from_args(args, data_dir=None if args.data else Path(tmp))
        fresh_data_dir(config.data_dir)
        director = Director(config, scenario, interactive=False, time_scale=HEADLESS_TIME_SCALE, resume=False)
        director.bus.subscribe(lambda e: e.kind != "gate.waiting" and print(format_hop(e), flush=True))
        print(f"Lesson: {scenario.title.en} ({scenario.path}), {len(scenario.steps)} steps")
        began = time.monotonic()
        try:
            director.start()
        except OSError as err:
            print(f"app.py: cannot start: {err}", file=sys.stderr)
            return 1
        try:
            run = director.run
            assert run is not None
            if not run.join(timeout=900):
                print("app.py: the lesson did not finish within 15 minutes", file=sys.stderr)
            elapsed = time.monotonic() - began
            for line in summary_lines(run):
                print(line)
            if args.junit is not None:
                write_junit(run, args.junit, seconds=elapsed)
            return 0 if run.passed else 1
        finally:
            director.stop()


def _terminal_steps(stack, stop: threading.Event) -> None:
    for line in sys.stdin:
        word = line.strip().lower()
        if word == "play":
            stack.gate.play()
        elif word == "pause":
            stack.gate.pause()
        else:
            stack.gate.step()
        if stop.is_set():
            return


def _start_web(director, config: Config):
    from simulator import web
    return web.serve(director, config)


def create_app(*args, **kwargs):
    """The Flask app factory, :func:`simulator.web.create_app` (the web is imported when called)."""
    from simulator import web
    return web.create_app(*args, **kwargs)


if __name__ == "__main__":
    sys.exit(main())
