"""Mailflow: start the sandboxed mail world and its live web view.

    python app.py                      # default scenario, data in ./data
    python app.py --scenario scenarios/mx-failover.yaml --fresh --step
    python app.py --scenario scenarios/04-primary-down.yaml --run [--junit report.xml]   # headless lesson
    python app.py --api-only --fresh --data /tmp/mf --ports-file /tmp/mf.json --mx-port 0 ...  # a test suite's
    python app.py --message-queue redis://127.0.0.1:6379/0                # a lecture hall's mail process
    python app.py --web-only --message-queue redis://127.0.0.1:6379/0 --web-port 8581   # ... and more web processes

``main`` parses the arguments, starts the mail stack on loopback, prints where everything listens
and prints every hop as it happens.  The web UI (``simulator.web``, the only part that needs Flask)
is imported only when it is on: ``--no-web`` runs without Flask and Socket.IO loaded at all.
"""
from __future__ import annotations

import argparse
import functools
import ipaddress
import json
import logging
import os
import random
import shutil
import signal
import sys
import threading
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from simulator import affinity, apitoken, diskhelper, memory, netaudit
from simulator.config import DEFAULT_PORTS, Config, Ports, QueuePolicy, free_port
from simulator.events import Event
from simulator.fsutil import DataDirBusy, DataDirLock
from simulator.narrate.markup import plain
from simulator.scenario import DEFAULT_SCENARIO, ScenarioError, load_scenario

if TYPE_CHECKING:                               # imported late at run time (start-up memory)
    from simulator.bus import EventBus
    from simulator.runtime import MailStack

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
        ("app", "the app port on 127.0.0.1: an application's mailer (Django, smtplib, Nodemailer) sends here "
                "without AUTH, from any sender; 0 picks a free port"),
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
    p.add_argument("--tls-cert", type=Path, default=None, metavar="FILE",
                   help="serve your own certificate (PEM, leaf first, then any intermediates) instead of the "
                        "generated self-signed one in <data>/tls; needs --tls-key")
    p.add_argument("--tls-key", type=Path, default=None, metavar="FILE",
                   help="the unencrypted private key (PEM) of --tls-cert; checked at start: they must match")
    p.add_argument("--no-app-port", action="store_true", help="no app port (see --app-port)")
    p.add_argument("--app-auth", choices=("any", "check", "off"), default="any",
                   help="AUTH on the app port (never required there): offered and any credentials accepted, "
                        "offered and checked against the scenario's users, or not offered")
    p.add_argument("--max-message-size", type=int, default=10 * 1024 * 1024, metavar="BYTES",
                   help="the largest message every SMTP port accepts (SIZE; above it 552 5.3.4)")
    p.add_argument("--max-recipients", type=int, default=100, metavar="N",
                   help="recipients per message at every SMTP port (beyond them 452 4.5.3)")
    p.add_argument("--smtp-sessions-per-address", type=int, default=20, metavar="N",
                   help="concurrent SMTP sessions from one client address, every SMTP port together (beyond "
                        "them the greeting is 421 4.7.0); the sandbox's own hosts are not counted")
    p.add_argument("--outside", choices=("bounce", "catch"), default=None,
                   help="mail for domains outside the sandbox: bounce it (with the whole original), or catch "
                        "it whole in the outside world's mailbox outside@mailflow.invalid (IMAP/POP3 through "
                        "the front door, the webmail, the page); default: the scenario's outside: key, else "
                        "bounce. Nothing ever leaves this computer")
    p.add_argument("--cpu-pinning", choices=("auto", "off"), default="auto",
                   help="auto: while many SMTP clients send at once, the process holds itself on one CPU (its "
                        "threads share one GIL: on two CPUs they spend more handing it over than they gain; "
                        "README: 'Keeping up with real load'); off: never")
    p.add_argument("--disk-helper", choices=diskhelper.MODES, default="auto",
                   help="auto: while the process is held on one CPU, its durable writes (queue entries, Maildir "
                        "copies) run in a helper process on the other CPUs (README: 'Keeping up with real "
                        "load'); on: always, from the first write; off: never, worker threads only")
    hall = p.add_argument_group("a lecture hall: several web processes, one mail world (README: 'A lecture hall')")
    hall.add_argument("--message-queue", default=None, metavar="URL",
                      help="share the page's live events with other web processes through this Redis on this "
                           "computer (redis://127.0.0.1:6379/0 or unix://PATH); this process runs the mail world")
    hall.add_argument("--web-only", action="store_true",
                      help="serve the page and its live viewers only, for the mail world another app.py runs "
                           "with the same --message-queue (see --main-web): no mail port, no lesson, nothing "
                           "written to the data directory (the teacher's token is read from it)")
    hall.add_argument("--main-web", default=None, metavar="URL",
                      help="with --web-only: the mail process's web address on this computer, where every "
                           "request but the static files and Socket.IO is forwarded (default: "
                           "http://127.0.0.1:<the default web port>/)")
    hall.add_argument("--public-host", action="append", default=[], metavar="NAME",
                      help="a name or address browsers reach the page by through a reverse proxy on this "
                           "computer (the hall's nginx): accepted in the Host header, and the proxy's "
                           "X-Forwarded-For is trusted; give it to every web process (repeatable)")
    dev = p.add_argument_group("testing applications (README: Test API)")
    dev.add_argument("--api-only", action="store_true",
                     help="the mail world and the test API (/api/v1) only: no teaching page, no Socket.IO, "
                          "no lessons; nothing printed per hop and no event log file unless -v")
    dev.add_argument("--api-token", default=None, metavar="TOKEN",
                     help=f"the test API's token (also the teacher's); else ${apitoken.ENV}, else the one in "
                          f"<data>/{apitoken.TOKEN_FILE}, else a new one; written to <data>/{apitoken.TOKEN_FILE} (0600)")
    dev.add_argument("--ports-file", type=Path, default=None, metavar="FILE",
                     help="once everything listens, write every port (and the API's address and token file) "
                          "to FILE as JSON; give port 0 to any --*-port to have a free one chosen")
    dev.add_argument("--keep-messages", type=int, default=None, metavar="N",
                     help="retention: after a delivery, a mailbox keeps its newest N messages (None: all)")
    dev.add_argument("--keep-for", type=float, default=None, metavar="SECONDS",
                     help="retention: after a delivery, a mailbox drops messages delivered more than SECONDS "
                          "ago (None: none for their age)")
    lesson = p.add_argument_group("headless lessons (CI)")
    lesson.add_argument("--run", action="store_true",
                        help="run the scenario's steps to the end without the web UI, print the hop trace, "
                             "exit 0 if every expectation is met, 1 naming the one that failed")
    lesson.add_argument("--junit", type=Path, default=None, metavar="FILE", help="with --run: write a JUnit XML report")
    p.add_argument("-v", "--verbose", action="count", default=0,
                   help="with --api-only: print every hop (printed anyway without it); -vv, or -v without "
                        "--api-only: developer logging too")
    return p


# Headless lessons compress time: a greylisting or MX-down lesson ends in seconds, not minutes.
HEADLESS_QUEUE = QueuePolicy(first_retry=0.2, backoff=2.0, max_interval=1.0, lifetime=20.0,
                             connect_timeout=2.0, command_timeout=10.0)
HEADLESS_TIME_SCALE = 0.1      # a lesson's wait: {seconds: n} lasts n / 10 s


def config_from_args(args: argparse.Namespace, *, data_dir: Path | None = None) -> Config:
    """The mail stack's Config; with --run, ports not given are free ones and the queue is compressed."""
    given = {name: getattr(args, f"{name}_port") for name in DEFAULT_PORTS}
    for name, port in given.items():
        if port is not None and not 0 <= port <= 65535:
            raise SystemExit(f"app.py: --{name}-port must be 0..65535 (0: a free port), not {port}")
    # With --run, every port not given is a free one, none of those given; otherwise the default.
    base = Ports.free(avoid={port for port in given.values() if port}) if args.run else Ports()
    chosen = {name: getattr(base, name) if given[name] is None else given[name] for name in DEFAULT_PORTS}
    for name in DEFAULT_PORTS:     # then 0: a free port, none of the others (with --run, base's already is)
        if given[name] == 0 and name not in SYSTEM_PICKS:
            chosen[name] = getattr(base, name) if args.run else free_port(random.Random(), avoid=set(chosen.values()))
    ports = Ports(**chosen)
    clash = shared_port(ports, given, services_bound(args))
    if clash:
        raise SystemExit(f"app.py: {clash}")
    if args.keep_messages is not None and args.keep_messages < 1:
        raise SystemExit("app.py: --keep-messages must be at least 1 (leave it out to keep every message)")
    if args.keep_for is not None and not args.keep_for > 0:
        raise SystemExit("app.py: --keep-for must be a positive number of seconds")
    if args.max_message_size < 1024 or args.max_recipients < 1:
        raise SystemExit("app.py: --max-message-size must be at least 1024 and --max-recipients at least 1")
    if args.smtp_sessions_per_address < 1:
        raise SystemExit("app.py: --smtp-sessions-per-address must be at least 1")
    default_queue = HEADLESS_QUEUE if args.run else QueuePolicy()
    queue = QueuePolicy(first_retry=args.retry if args.retry is not None else default_queue.first_retry,
                        backoff=default_queue.backoff, max_interval=default_queue.max_interval,
                        lifetime=args.queue_lifetime if args.queue_lifetime is not None else default_queue.lifetime,
                        connect_timeout=default_queue.connect_timeout, command_timeout=default_queue.command_timeout)
    data = data_dir or args.data or Path("data")
    return Config(data_dir=data.resolve(), ports=ports, web_host=args.web_host, queue=queue,
                  step=args.step, hop_delay=args.hop_delay, seed=args.seed, tls=not args.no_tls,
                  classroom_address=classroom_address(args.classroom_address),
                  app_port=not args.no_app_port, app_auth=args.app_auth,
                  max_message_size=args.max_message_size, max_recipients=args.max_recipients,
                  smtp_sessions_per_address=args.smtp_sessions_per_address,
                  keep_messages=args.keep_messages, keep_for=args.keep_for, outside=args.outside)


# Bound once, on one address: the system picks (port 0 stays 0).  The others are shared by every
# host of the world (each MTA's MX port on its own 127.42.d.h), so a free number is chosen first.
SYSTEM_PICKS = ("web", "app")


def services_bound(args: argparse.Namespace) -> list[str]:
    """The services that will listen, as the options have it (their ports must all differ)."""
    names = ["mx", "submission", "dns", "imap", "pop3"]
    if not args.no_tls:
        names += ["smtps", "imaps", "pop3s"]
    if not args.no_app_port:
        names.append("app")
    if not (args.no_web or args.run):
        names.append("web")
    return names


def shared_port(ports: Ports, given: dict[str, int | None], names: list[str]) -> str | None:
    """Why two services cannot listen as configured, one port for both (None: every port differs).

    A rule of this program, kept simple on purpose: every service has a port of its own, whatever
    address it listens on.  Most listen on 127.0.0.1, so a port given twice would mostly end in
    'address already in use' at whichever binds second, as if another program held it; this names
    the two options instead.  (The MX listens only at the hosts' addresses, 127.42.d.h, so it could
    share a number with a service of 127.0.0.1 alone; a lesson is clearer without that.)  Port 0
    (the system picks) is never shared."""
    def option(name: str) -> str:
        port = getattr(ports, name)
        return f"--{name}-port {port}" if given[name] is not None else f"--{name}-port ({port} by default)"
    owner: dict[int, str] = {}
    for name in names:
        port = getattr(ports, name)
        if not port:
            continue
        if port in owner:
            first, second = sorted((owner[port], name), key=lambda n: given[n] is None)    # given first
            return (f"{option(first)} and {option(second)} ask for the same port; each service needs its "
                    "own: choose another number, or 0 for a free one")
        owner[port] = name
    return None


def developer_logging(args: argparse.Namespace) -> bool:
    return args.verbose >= (2 if args.api_only else 1)


def retention_of(config: Config):
    from simulator.store import Retention
    return Retention(config.keep_messages, config.keep_for)


def keep_retention(director, config: Config) -> None:
    """Every world the director starts (a lesson loaded, a reset) keeps the retention policy."""
    def apply(kind, payload) -> None:
        if kind == "world":
            payload.store.retention = retention_of(config)
    if director.stack is not None:
        director.stack.store.retention = retention_of(config)
    director.subscribe(apply)


def listening(stack, config: Config, web=None) -> dict:
    """What ``--ports-file`` says of a mail world: every port chosen, the data directory, the token file."""
    front = {row["service"]: row["port"] for row in stack.listener_table()
             if row["host"] == "front" and row["address"] == config.front_host}
    return {"pid": os.getpid(), "host": config.front_host, **front, "mx": config.ports.mx,
            "web": web.port if web is not None else None,
            "api": f"{web.url}api/v1/" if web is not None else None,
            "data": str(config.data_dir), "token_file": str(config.data_dir / apitoken.TOKEN_FILE)}


def serve_until_stopped(stop: threading.Event, ports_file: Path | None, ports: dict,
                        then: Callable[[], object] | None = None) -> None:
    """The tail every long-running mode shares, once everything listens: ``--ports-file`` written
    (atomically: a reader that sees it may connect at once), what start-up made frozen
    (:func:`simulator.memory.settle`), ``then`` (if given), and a wait until ``stop`` is set (SIGTERM;
    Ctrl-C raises KeyboardInterrupt to the caller, whose ``finally`` removes the ports file)."""
    if ports_file is not None:
        write_json(ports_file, ports)
    memory.settle()
    if then is not None:
        then()
    while not stop.is_set():
        stop.wait(0.5)


def write_json(path: Path, facts: dict) -> None:
    """Write ``facts`` as JSON to ``path`` atomically (readers never see half a file)."""
    from simulator.fsutil import write_atomic
    path = path.resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, (json.dumps(facts, indent=2) + "\n").encode(), mode=0o644)


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


def print_hop(event: Event) -> None:
    """The console's line for a hop (not for the gate's waiting notes), in one write: ``print`` writes
    the line and its end apart, two system calls per event when Python's output is unbuffered."""
    if event.kind != "gate.waiting":
        sys.stdout.write(format_hop(event) + "\n")
        sys.stdout.flush()


_MARKS = {"ok": "✓", "deferred": "…", "failed": "✗", "bounced": "↩", "info": "·"}


def format_hop(event: Event) -> str:
    """One readable terminal line per hop: time, trace, from -> to, protocol, what happened."""
    clock = _clock_of(int(event.ts))
    mark = _MARKS.get(event.status, "·")
    trace = event.trace or "-"
    summary = plain(event.words("en")["summary"])       # the terminal shows no code-span backticks
    if event.protocol == "LESSON":                      # a lesson's step: not a hop between nodes
        return f"{clock} {mark} ── {summary}"
    return f"{clock} {trace:<10} {mark} {event.src} → {event.dst} [{event.protocol}] {summary}"


@functools.lru_cache(maxsize=4)
def _clock_of(second: int) -> str:
    """``HH:MM:SS`` of a second in local time (the hops of one second share it: strftime is not free)."""
    return datetime.fromtimestamp(second).strftime("%H:%M:%S")


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
        if row["service"] == "app":
            where = f"app port: applications send here without AUTH (AUTH: {stack.config.app_auth})"
        print(f"  {row['service']:<11} {row['address']}:{row['port']:<6} {where}", file=out)
    catch = stack.world.catch
    print("Users: " + ", ".join(f"{u} (password: {stack.world.user(u).password})"
                                for u in stack.world.users() if u != catch.address), file=out)
    what = ("catches mail for every domain outside the sandbox" if stack.world.outside.value == "catch"
            else "keeps bounces nobody could take (mail for the outside world bounces: --outside catch)")
    print(f"Outside world: {catch.address} (password: {catch.password}) {what}", file=out)


def own_certificate(args: argparse.Namespace, config: Config, err=None) -> int:
    """--tls-cert/--tls-key: check the user's pair and serve it (simulator.tls); 0, or 2 with why not."""
    err = err or sys.stderr
    if args.tls_cert is None and args.tls_key is None:
        return 0
    if args.tls_cert is None or args.tls_key is None:
        print("app.py: --tls-cert and --tls-key go together: give both files", file=err)
        return 2
    if args.no_tls:
        print("app.py: --tls-cert with --no-tls: TLS is off, the certificate would not be used", file=err)
        return 2
    from simulator import tls
    try:
        pair = tls.use_own_pair(config.data_dir, args.tls_cert, args.tls_key)
    except tls.CertificateError as problem:
        print(f"app.py: --tls-cert/--tls-key: {problem}", file=err)
        return 2
    for warning in pair.warnings:
        print(f"app.py: warning: {warning}", file=err)
    return 0


def print_certificate(stack, out=sys.stdout) -> None:
    """Where the served certificate is, and the one setting that makes Python (and Django) trust it."""
    if stack.ssl_context is None:
        return
    from simulator import tls
    path = tls.certificate_path(stack.config.data_dir)
    own = tls.own_pair(stack.config.data_dir) is not None
    print(f"TLS certificate: {path} ({'yours' if own else 'self-signed, for localhost and 127.0.0.1'}); "
          f"trust it: SSL_CERT_FILE={path} (Python, Django), NODE_EXTRA_CA_CERTS={path} (Node), "
          f"curl --cacert {path}", file=out)


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except DataDirBusy as err:          # one Mailflow per data directory (simulator/fsutil.py)
        print(f"app.py: {err}", file=sys.stderr)
        return 2
    finally:
        affinity.disable()              # every CPU back: a caller in the same process (a test) goes on
        diskhelper.disable()


def _main(argv: list[str] | None = None) -> int:
    netaudit.install_from_env()     # MAILFLOW_NET_AUDIT=<file>: every connect off loopback refused and logged
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if developer_logging(args) else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if not developer_logging(args):
        logging.getLogger("mail.log").setLevel(logging.ERROR)   # aiosmtpd's chatter
    if args.api_only and (args.no_web or args.run):
        print("app.py: --api-only serves the test API: leave out --no-web and --run", file=sys.stderr)
        return 2
    if args.ports_file is not None:
        args.ports_file.unlink(missing_ok=True)     # a reader waits for the new one, never an old one
    refused = hall_options_refused(args)
    if refused:
        print(f"app.py: {refused}", file=sys.stderr)
        return 2
    if args.web_only:
        return run_web_only(args)
    if args.cpu_pinning == "auto":
        affinity.enable()           # held on one CPU only while disk hand-offs overlap (simulator/affinity.py)
    diskhelper.enable(args.disk_helper)    # the disk writes in a process of their own under load
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
    if own_certificate(args, config):
        return 2
    if args.fresh:
        with DataDirLock(config.data_dir):      # never empty a directory another Mailflow is using
            fresh_data_dir(config.data_dir)
    token = None
    if not args.no_web:
        try:
            token = apitoken.resolve(config.data_dir, args.api_token)
        except apitoken.TokenError as err:
            print(f"app.py: {err}", file=sys.stderr)
            return 2
    if args.api_only:
        return run_api_only(args, scenario, config, token)
    if args.message_queue is not None:
        from simulator.web import hall
        try:
            hall.ping_queue(args.message_queue)
        except hall.HallError as err:
            print(f"app.py: {err}", file=sys.stderr)
            return 2

    from simulator.lesson import Director
    director = Director(config, scenario, resume=not args.fresh)
    director.bus.subscribe(print_hop)
    def start_director(chosen: Config) -> "MailStack":
        director.config = chosen
        return director.start()
    started = start_on_free_ports(args, config, director.bus, start_director)
    if started is None:
        return 1
    stack, config = started
    keep_retention(director, config)
    print(f"Scenario: {scenario.title.en} ({scenario.path})")
    print_listeners(stack)
    print_certificate(stack)
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
            web = _start_web(director, config, token, args)
            print(f"Test API: {web.url}api/v1/  (token: {config.data_dir / apitoken.TOKEN_FILE})", flush=True)
        serve_until_stopped(stop, args.ports_file, listening(stack, config, web),
                            then=lambda: director.subscribe(     # a new world: the old one collected
                                lambda kind, _: kind == "world" and memory.refreeze_after()))
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
        if args.ports_file is not None:
            args.ports_file.unlink(missing_ok=True)
    return 0


def run_api_only(args: argparse.Namespace, scenario, config: Config, token: str) -> int:
    """``--api-only``: the mail world and the test API, for a test suite.  No lessons, no page; one
    line when ready, every hop only with -v (and only then an event log file)."""
    from simulator import web
    from simulator.bus import EventBus
    from simulator.runtime import MailStack

    stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    bus = EventBus(log_path=config.data_dir / "logs" / f"events-{stamp}.jsonl" if args.verbose else None)
    if args.verbose:
        bus.subscribe(print_hop)
    def start_stack(chosen: Config) -> MailStack:
        stack = MailStack(chosen, scenario, bus=bus)
        stack.store.retention = retention_of(chosen)
        stack.start()
        return stack
    started = start_on_free_ports(args, config, bus, start_stack)
    if started is None:
        return 1
    stack, config = started
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    server = None
    try:
        server = web.serve(stack, config, api_only=True, quiet=True, test_config={"TEACHER_TOKEN": token})
        app_port = next((r["port"] for r in stack.listener_table() if r["service"] == "app"), None)
        print(f"Mailflow ready (API only): {server.url}api/v1/  token: {config.data_dir / apitoken.TOKEN_FILE}"
              f"  SMTP app port: {app_port if app_port is not None else 'off'}", flush=True)
        serve_until_stopped(stop, args.ports_file, listening(stack, config, server))
    except KeyboardInterrupt:
        pass
    except OSError as err:
        print(f"app.py: cannot start the test API: {err} (choose another --web-port)", file=sys.stderr)
        return 1
    finally:
        if server is not None:
            server.shutdown()
        stack.stop()
        if args.ports_file is not None:
            args.ports_file.unlink(missing_ok=True)
    return 0


def start_on_free_ports(args: argparse.Namespace, config: Config, bus: EventBus,
                        start: Callable[[Config], "MailStack"]) -> "tuple[MailStack, Config] | None":
    """``start(config)``; when it fails on a port (OSError) and free ports were asked (``--*-port=0``:
    chosen, then taken by another program before the stack bound it), again on new free ports, three
    tries in all, the same data directory; a failed start closes the event log, so it is opened again.
    None once it has said why it cannot start."""
    for attempt in range(3):
        try:
            return start(config), config
        except OSError as err:
            if attempt == 2 or not _free_ports_asked(args):
                print(f"app.py: cannot start: {err} (is another Mailflow running? choose other ports)",
                      file=sys.stderr)
                return None
            config = config_from_args(args)
            bus.reopen()
    return None


def _free_ports_asked(args: argparse.Namespace) -> bool:
    return any(getattr(args, f"{name}_port") == 0 for name in DEFAULT_PORTS if name not in SYSTEM_PICKS)


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
        if own_certificate(args, config):
            return 2
        fresh_data_dir(config.data_dir)
        director = Director(config, scenario, interactive=False, time_scale=HEADLESS_TIME_SCALE, resume=False)
        director.bus.subscribe(print_hop)
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


def _start_web(director, config: Config, token: str | None = None, args: argparse.Namespace | None = None):
    from simulator import web
    test_config = {"TEACHER_TOKEN": token} if token else {}
    if args is not None and args.public_host:
        test_config["PUBLIC_HOSTS"] = tuple(args.public_host)
    return web.serve(director, config, test_config=test_config or None,
                     message_queue=args.message_queue if args is not None else None)


def hall_options_refused(args: argparse.Namespace) -> str | None:
    """Why the lecture hall's options cannot go together as given (None: they can)."""
    if args.message_queue is not None or args.web_only:
        if args.no_web or args.api_only or args.run:
            return "--message-queue and --web-only share the page between web processes: leave out --no-web, --api-only and --run"
    if args.web_only and args.message_queue is None:
        return "--web-only needs --message-queue: the Redis where the mail process publishes its events"
    if args.web_only and (args.fresh or args.step):
        return "--web-only runs no mail world: --fresh and --step belong to the mail process"
    if args.main_web is not None and not args.web_only:
        return "--main-web is for a --web-only process"
    for name in args.public_host:
        bare = name.strip("[]")
        if not bare or any(c in bare for c in "/@ \t") or bare.count(":") == 1:
            return f"--public-host takes a name or an address without a port, not {name!r}"
    if args.message_queue is not None:
        from simulator.web import hall
        try:
            hall.check_queue_url(args.message_queue)
        except hall.HallError as err:
            return str(err)
    return None


def run_web_only(args: argparse.Namespace) -> int:
    """``--web-only``: the page and its Socket.IO viewers for a mail world another app.py runs; reads
    the teacher's token, writes nothing, opens no mail port (simulator/web/hall.py)."""
    from simulator import web
    from simulator.web import hall
    data = (args.data or Path("data")).resolve()
    main_web = args.main_web or f"http://127.0.0.1:{DEFAULT_PORTS['web']}/"
    try:
        hall.check_main_url(main_web)
        token = hall.token_for_web_only(data, args.api_token, os.environ)
        hall.ping_queue(args.message_queue)
    except hall.HallError as err:
        print(f"app.py: {err}", file=sys.stderr)
        return 2
    port = args.web_port if args.web_port is not None else DEFAULT_PORTS["web"] + 1
    test_config = {"PUBLIC_HOSTS": tuple(args.public_host)} if args.public_host else None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    server = None
    try:
        server = web.serve_web_only(main_web, token, args.message_queue, args.web_host, port, test_config=test_config)
        serve_until_stopped(stop, args.ports_file, {"pid": os.getpid(), "web": server.port,
                                                     "main": hall.check_main_url(main_web),
                                                     "queue": args.message_queue})
    except KeyboardInterrupt:
        pass
    except OSError as err:
        print(f"app.py: cannot start the web process: {err} (choose another --web-port)", file=sys.stderr)
        return 1
    finally:
        if server is not None:
            server.shutdown()
        if args.ports_file is not None:
            args.ports_file.unlink(missing_ok=True)
    return 0


def create_app(*args, **kwargs):
    """The Flask app factory, :func:`simulator.web.create_app` (the web is imported when called)."""
    from simulator import web
    return web.create_app(*args, **kwargs)


if __name__ == "__main__":
    sys.exit(main())
