"""Mailflow: start the sandboxed mail world and its live web view.

    python app.py                      # default scenario, data in ./data
    python app.py --scenario scenarios/mx-failover.yaml --fresh --step

``main`` parses the arguments, starts the mail stack on loopback, prints where everything listens
and prints every hop as it happens.  The web UI (``simulator.web``, the only part that needs Flask)
is imported only when it is on: ``--no-web`` runs without Flask and Socket.IO loaded at all.
"""
from __future__ import annotations

import argparse
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
    p.add_argument("--data", type=Path, default=Path("data"),
                   help="data directory: mailboxes, the queue, event logs, the TLS certificate")
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
        ports.add_argument(f"--{name}-port", type=int, default=DEFAULT_PORTS[name], metavar="PORT", help=help_text)
    p.add_argument("--web-host", default="127.0.0.1",
                   help="address of the web UI; 0.0.0.0 shares the view with the classroom "
                        "(the mail stack itself stays on loopback)")
    p.add_argument("--no-web", action="store_true", help="run without the web UI (terminal only)")
    p.add_argument("--step", action="store_true",
                   help="start paused: every hop waits; press Enter in the terminal to release one")
    p.add_argument("--hop-delay", type=float, default=0.0, metavar="SECONDS",
                   help="in play mode, wait this long before each hop (slow motion)")
    p.add_argument("--retry", type=float, default=5.0, metavar="SECONDS",
                   help="first retry of a deferred message (then doubling, at most 60 s)")
    p.add_argument("--queue-lifetime", type=float, default=600.0, metavar="SECONDS",
                   help="give up (bounce) a message still undelivered after this long")
    p.add_argument("--seed", type=int, default=None, help="seed for random choices (equal-preference MX order)")
    p.add_argument("--no-tls", action="store_true", help="no STARTTLS and no implicit-TLS ports")
    p.add_argument("-v", "--verbose", action="store_true", help="developer logging")
    return p


def config_from_args(args: argparse.Namespace) -> Config:
    for name in ("mx", "submission", "smtps", "dns", "imap", "imaps", "pop3", "pop3s", "web"):
        port = getattr(args, f"{name}_port")
        if not 1 <= port <= 65535:
            raise SystemExit(f"app.py: --{name}-port must be 1..65535, not {port}")
    ports = Ports(**{name: getattr(args, f"{name}_port") for name in DEFAULT_PORTS})
    queue = QueuePolicy(first_retry=args.retry, lifetime=args.queue_lifetime)
    return Config(data_dir=args.data.resolve(), ports=ports, web_host=args.web_host, queue=queue,
                  step=args.step, hop_delay=args.hop_delay, seed=args.seed, tls=not args.no_tls)


def format_hop(event: Event) -> str:
    """One readable terminal line per hop: time, trace, from -> to, protocol, what happened."""
    clock = datetime.fromtimestamp(event.ts).strftime("%H:%M:%S")
    mark = {"ok": "✓", "deferred": "…", "failed": "✗", "bounced": "↩", "info": "·"}.get(event.status, "·")
    trace = event.trace or "-"
    summary = plain(event.words("en")["summary"])       # the terminal shows no code-span backticks
    return f"{clock} {trace:<10} {mark} {event.src} → {event.dst} [{event.protocol}] {summary}"


def fresh_data_dir(data: Path) -> None:
    """Remove what the simulator writes (mail, queue, logs), keep the TLS certificate."""
    for sub in ("mail", "queue", "logs"):
        target = data / sub
        if target.exists():
            shutil.rmtree(target)


def print_listeners(stack, out=sys.stdout) -> None:
    print("Mailflow is running. Listening on loopback:", file=out)
    rows = sorted(stack.listener_table(), key=lambda r: (r["host"] != "front", r["host"], r["service"]))
    for row in rows:
        where = "front door" if row["host"] == "front" else row["host"]
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
    config = config_from_args(args)
    if args.fresh:
        fresh_data_dir(config.data_dir)

    from simulator.runtime import MailStack
    stack = MailStack(config, scenario)
    stack.bus.subscribe(lambda e: e.kind != "gate.waiting" and print(format_hop(e), flush=True))
    try:
        stack.start()
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
            web = _start_web(stack, config)
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
        stack.stop()
    return 0


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


def _start_web(stack, config: Config):
    from simulator import web
    return web.serve(stack, config)


def create_app(*args, **kwargs):
    """The Flask app factory, :func:`simulator.web.create_app` (the web is imported when called)."""
    from simulator import web
    return web.create_app(*args, **kwargs)


if __name__ == "__main__":
    sys.exit(main())
