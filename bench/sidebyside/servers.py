"""The receiving SMTP servers side by side: Postfix, aiosmtpd + Maildir, MailDev, and Mailflow.

Theory of operation: every server is started fresh for each measurement in a directory of its own,
listens on 127.0.0.1 (Mailflow's MX on its own 127.42.x.y address, as its DNS says) on a port the
OS or ``Ports.free`` chose, and exposes the same few things: ``host``/``port`` to send to, the
recipient it delivers (``rcpt``), the directory where delivered files appear with the inotify mask
that marks an arrival (``arrivals()``), the pids whose process trees are "the server" for CPU and
memory (``roots``), and ``stop()``, which ends what ``start()`` started by pid.

- ``Postfix``: a private instance (its own ``main.cf``/``master.cf``, queue and data directories;
  nothing of /etc/postfix is used except the shared ``postfix-files`` metadata) on Debian's
  binaries, ``virtual(8)`` delivering every recipient of bench.test to one Maildir.  Postfix fsyncs
  the queue file before its 250 and the Maildir file before it reports delivery: the durable
  reference.  Started with ``postfix -c DIR start``; its ``master`` pid (from the pid file) is the
  root of the tree and is what ``stop()`` ends.
- ``AiosmtpdMaildir``: ``maildir_server.py`` (stdlib Maildir, no fsync).
- ``AiosmtpdRelay``: ``relay_server.py``, for the submission measure only: an aiosmtpd MSA with AUTH
  relaying over ten kept connections to an aiosmtpd MX with a stdlib Maildir, in one process (no
  fsync, no DNS lookup, no events): what two hops cost with nothing Mailflow promises; ``durable``
  adds a queue file and a Maildir file each fsynced with its directory before its 250.
- ``MailDev``: the npm package in the benchmark's cache directory, its default in-memory store;
  it writes each message to ``$TMPDIR/maildev/<id>.eml`` before its 250 (no fsync), which is what
  the arrivals watch.  Web UI on a free loopback port, as users run it.
- ``Mailflow``: ``app.py`` on a fresh data directory, every port chosen free (``--ports-file``),
  the default scenario and options (TLS, web UI, event log on); the load goes to mx1.beta.test,
  whose address the sandbox DNS answers, and lands in bob@beta.test's Maildir.

smtp-source opens all its sessions from 127.0.0.1, so for MX ingest both Postfix
(``smtpd_client_connection_count_limit``, default 50) and Mailflow (``--smtp-sessions-per-address``,
default 20) run with the same per-client cap, ``SMTP_SLOTS`` (100): room for c = 50.
"""
from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import time
from pathlib import Path

from . import procs
from .arrivals import CLOSED, MAILDIR, Arrivals

ROOT = Path(__file__).resolve().parents[2]
HELO = "client.bench.test"
SENDER = "alice@alpha.test"


def free_port(avoid: frozenset[int] = frozenset()) -> int:
    sys.path.insert(0, str(ROOT))
    from simulator.config import free_port as pick
    import random
    return pick(random.Random(), avoid=avoid)


def _read_json_line(proc: subprocess.Popen, timeout: float) -> dict:
    import select
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        raise RuntimeError("the server did not say it listens in time")
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError(f"the server exited ({proc.poll()})")
    return json.loads(line)


class Server:
    name = "?"
    label = "?"
    rcpt = "bob@bench.test"
    host = "127.0.0.1"
    port = 0
    durable = False

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen | None = None
        self.started_in: float | None = None

    @property
    def roots(self) -> list[int]:
        return [self.proc.pid] if self.proc is not None else []

    def arrivals(self) -> Arrivals:
        raise NotImplementedError

    def start(self) -> "Server":
        """Start the server; if that fails half-way, end what was started before raising."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        procs.end(self.proc)

    def cpu(self) -> float:
        return procs.cpu_seconds(self.roots)

    def rss(self, field: str = "VmRSS") -> float:
        return procs.rss_mib(self.roots, field)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# -- Postfix ------------------------------------------------------------------------------------------
MAIN_CF = """\
# A private Postfix for bench/run: nothing here reads /etc/postfix/main.cf.
compatibility_level = 3.6
queue_directory = {queue}
data_directory = {data}
mail_owner = postfix
myhostname = mx.bench.test
mydomain = bench.test
myorigin = bench.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtp_dns_support_level = disabled
virtual_mailbox_domains = bench.test
virtual_mailbox_base = {mail}
virtual_mailbox_maps = static:bob/Maildir/
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{gid}
virtual_minimum_uid = 1
maillog_file = {log}
maillog_file_prefixes = {workdir}
smtpd_client_connection_count_limit = {slots}
alias_maps =
alias_database =
biff = no
"""
MASTER_CF = """\
127.0.0.1:{port} inet n - n - - smtpd
pickup    unix  n - n 60   1 pickup
cleanup   unix  n - n -    0 cleanup
qmgr      unix  n - n 300  1 qmgr
rewrite   unix  - - n -    - trivial-rewrite
bounce    unix  - - n -    0 bounce
defer     unix  - - n -    0 bounce
trace     unix  - - n -    0 bounce
verify    unix  - - n -    1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n -    - proxymap
smtp      unix  - - n -    - smtp
relay     unix  - - n -    - smtp
showq     unix  n - n -    - showq
error     unix  - - n -    - error
retry     unix  - - n -    - error
discard   unix  - - n -    - discard
local     unix  - n n -    - local
virtual   unix  - n n -    - virtual
anvil     unix  - - n -    1 anvil
scache    unix  - - n -    1 scache
postlog   unix-dgram n - n - 1 postlogd
"""


class Postfix(Server):
    name, label, durable = "postfix", "Postfix → Maildir (fsync before 250)", True

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.master: int | None = None
        self.launched = False
        self.maildir = workdir / "mail" / "bob" / "Maildir"

    @property
    def roots(self) -> list[int]:
        return [self.master] if self.master else []

    def _start(self) -> None:
        began = time.monotonic()
        w = self.workdir
        os.chmod(w, 0o755)
        for sub in ("etc", "queue", "data", "mail"):
            (w / sub).mkdir(exist_ok=True)
        nobody = pwd.getpwnam("nobody")
        owner = pwd.getpwnam("postfix")
        os.chown(w / "data", owner.pw_uid, owner.pw_gid)
        for sub in ("new", "cur", "tmp"):
            (self.maildir / sub).mkdir(parents=True, exist_ok=True)
        for base, dirs, _files in os.walk(w / "mail"):
            os.chown(base, nobody.pw_uid, nobody.pw_gid)
        self.port = free_port()
        (w / "etc" / "main.cf").write_text(MAIN_CF.format(
            queue=w / "queue", data=w / "data", mail=w / "mail", uid=nobody.pw_uid, gid=nobody.pw_gid,
            log=w / "postfix.log", workdir=w, slots=SMTP_SLOTS))
        (w / "etc" / "master.cf").write_text(MASTER_CF.format(port=self.port))
        self.launched = True
        done = subprocess.run(["postfix", "-c", str(w / "etc"), "start"], capture_output=True, text=True,
                              timeout=60)
        pidfile = w / "queue" / "pid" / "master.pid"
        if done.returncode != 0 or not procs.wait_for(pidfile.exists, 10):
            log = (w / "postfix.log").read_text()[-2000:] if (w / "postfix.log").exists() else ""
            raise RuntimeError(f"postfix did not start ({done.returncode}): {done.stderr[-500:]} {log}")
        self.master = int(pidfile.read_text().split()[0])
        if not procs.wait_for(lambda: _listening(self.host, self.port), 10):
            raise RuntimeError("postfix's smtpd is not listening")
        self.started_in = time.monotonic() - began

    def arrivals(self) -> Arrivals:
        return Arrivals(self.maildir / "new", MAILDIR)

    def stop(self) -> None:
        if self.launched:
            subprocess.run(["postfix", "-c", str(self.workdir / "etc"), "stop"], capture_output=True, timeout=60)
            self.launched = False
        if self.master:
            procs.end_pid(self.master)          # in case "stop" did not end it
            self.master = None


# -- smtp-sink: the load generator's ceiling --------------------------------------------------------------
class SmtpSink(Server):
    """Postfix's ``smtp-sink``: answers every command and stores nothing -- how fast smtp-source itself
    can go on this machine in each mode, so no figure above it means anything."""
    name, label = "smtp-sink", "smtp-sink (stores nothing: the client's ceiling)"

    def _start(self) -> None:
        began = time.monotonic()
        self.port = free_port()
        self.proc = subprocess.Popen(["smtp-sink", "-u", "nobody", f"127.0.0.1:{self.port}", "256"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not procs.wait_for(lambda: _listening(self.host, self.port), 10):
            raise RuntimeError("smtp-sink is not listening")
        self.started_in = time.monotonic() - began

    def arrivals(self) -> None:
        return None             # nothing is stored: "delivered" is smtp-source's last 250


# -- aiosmtpd + stdlib Maildir --------------------------------------------------------------------------
class AiosmtpdMaildir(Server):
    name, label = "aiosmtpd", "aiosmtpd + stdlib Maildir (no fsync)"

    script = "maildir_server.py"

    def options(self) -> list[str]:
        return []

    def _start(self) -> None:
        """The script on a fresh Maildir; it says its port(s) in one JSON line once it listens."""
        began = time.monotonic()
        self.maildir = self.workdir / "Maildir"
        for sub in ("new", "cur", "tmp"):
            (self.maildir / sub).mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name(self.script)),
                                      "--maildir", str(self.maildir), *self.options()],
                                     stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        self.said = _read_json_line(self.proc, 30)
        self.port = self.said["port"]
        self.started_in = time.monotonic() - began

    def arrivals(self, address: str | None = None) -> Arrivals:
        return Arrivals(self.maildir / "new", MAILDIR)


# The two floors of the submission target, by name: without fsync, and with fsync before each 250.
RELAYS = ("aiosmtpd-relay", "aiosmtpd-relay-durable")


class AiosmtpdRelay(AiosmtpdMaildir):
    """``relay_server.py``: the submission measure's two hops with nothing Mailflow promises (the
    floor for the submission target); ``ports["submission"]`` is its MSA, as Mailflow's.  Named
    ``RELAYS[durable]``."""
    script = "relay_server.py"

    def __init__(self, workdir: Path, user: str, password: str, *, durable: bool = False) -> None:
        super().__init__(workdir)
        self.user, self.password, self.durable = user, password, durable
        self.name = RELAYS[durable]
        self.label = ("aiosmtpd MSA → aiosmtpd MX → " + ("Maildir (one process; fsync before each 250; no DNS or events)"
                      if durable else "stdlib Maildir (one process; no fsync, DNS or events)"))
        self.ports: dict = {}

    def options(self) -> list[str]:
        return ["--user", self.user, "--password", self.password, *(["--durable"] if self.durable else [])]

    def _start(self) -> None:
        super()._start()
        self.ports = {"submission": self.said["port"], "mx": self.said["mx_port"]}


# -- MailDev --------------------------------------------------------------------------------------------
class MailDev(Server):
    name, label = "maildev", "MailDev (memory, no fsync)"

    def __init__(self, workdir: Path, binary: str) -> None:
        super().__init__(workdir)
        self.binary = binary

    def _start(self) -> None:
        began = time.monotonic()
        self.port = free_port()
        web = free_port(avoid=frozenset({self.port}))
        env = dict(os.environ, TMPDIR=str(self.workdir))
        self.spool = self.workdir / "maildev"
        self.spool.mkdir(exist_ok=True)
        self.proc = subprocess.Popen(["node", self.binary, "--smtp", str(self.port), "--ip", "127.0.0.1",
                                      "--web", str(web), "--web-ip", "127.0.0.1", "--silent"],
                                     env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=(self.workdir / "maildev.log").open("w"))
        if not procs.wait_for(lambda: _listening(self.host, self.port) or self.proc.poll() is not None, 30) \
                or self.proc.poll() is not None:
            raise RuntimeError(f"maildev did not start: {(self.workdir / 'maildev.log').read_text()[-800:]}")
        self.started_in = time.monotonic() - began

    def arrivals(self) -> Arrivals:
        return Arrivals(self.spool, CLOSED, suffix=".eml")


# -- Mailflow -------------------------------------------------------------------------------------------
SMTP_SLOTS = 100       # per-client session cap for MX ingest, Mailflow and Postfix alike (smtp-source: 127.0.0.1)
PORT_NAMES = ("mx", "submission", "smtps", "dns", "imap", "imaps", "pop3", "pop3s", "web", "app")


class Mailflow(Server):
    name, label, durable = "mailflow", "Mailflow, mx1.beta.test", True
    rcpt = "bob@beta.test"

    def __init__(self, workdir: Path, *, extra: list[str] | None = None, mx_host: str = "mx1.beta.test",
                 smtp_slots: int | None = None) -> None:
        super().__init__(workdir)
        self.extra = extra or []
        if smtp_slots:                    # smtp-source's sessions all come from 127.0.0.1
            self.extra += ["--smtp-sessions-per-address", str(smtp_slots)]
        self.mx_host = mx_host
        self.data = workdir / "data"
        self.ports: dict = {}

    def _start(self) -> None:
        began = time.monotonic()
        ports_file = self.workdir / "ports.json"
        ports_file.unlink(missing_ok=True)
        command = [sys.executable, str(ROOT / "app.py"), "--data", str(self.data),
                   *[f"--{name}-port=0" for name in PORT_NAMES], "--ports-file", str(ports_file), *self.extra]
        self.proc = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=(self.workdir / "app.log").open("w"))
        if not procs.wait_for(lambda: ports_file.exists() or self.proc.poll() is not None, 60, 0.005) \
                or self.proc.poll() is not None:
            raise RuntimeError(f"app.py did not start: {(self.workdir / 'app.log').read_text()[-1500:]}")
        self.started_in = time.monotonic() - began
        self.ports = json.loads(ports_file.read_text())
        self.host, self.port = self.resolve(self.mx_host), self.ports["mx"]

    def resolve(self, name: str) -> str:
        """The A record of a sandbox host, asked of the sandbox's own DNS server."""
        import dns.message
        import dns.query
        import dns.rdatatype
        answer = dns.query.udp(dns.message.make_query(name, "A"), "127.0.0.1", timeout=5, port=self.ports["dns"])
        for rrset in answer.answer:
            for item in rrset:
                if item.rdtype == dns.rdatatype.A:
                    return item.address
        raise RuntimeError(f"the sandbox DNS has no A record for {name}")

    def maildir(self, address: str = "bob@beta.test") -> Path:
        local, domain = address.split("@")
        return self.data / "mail" / domain / local

    def arrivals(self, address: str = "bob@beta.test") -> Arrivals:
        return Arrivals(self.maildir(address) / "new", MAILDIR)


def _listening(host: str, port: int) -> bool:
    import socket
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def find_maildev(cache: Path) -> str | None:
    path = cache / "maildev" / "node_modules" / "maildev" / "dist" / "bin" / "maildev.js"
    return str(path) if path.exists() and shutil.which("node") else None


def available(cache: Path) -> dict[str, bool]:
    return {"postfix": bool(shutil.which("postfix") and shutil.which("smtp-source")),
            "smtp-sink": bool(shutil.which("smtp-sink")),
            "maildev": find_maildev(cache) is not None,
            "aiosmtpd": True, "mailflow": True}


def make(name: str, workdir: Path, cache: Path) -> Server:
    if name == "postfix":
        return Postfix(workdir)
    if name == "aiosmtpd":
        return AiosmtpdMaildir(workdir)
    if name == "smtp-sink":
        return SmtpSink(workdir)
    if name == "maildev":
        return MailDev(workdir, find_maildev(cache))
    return Mailflow(workdir, smtp_slots=SMTP_SLOTS)
