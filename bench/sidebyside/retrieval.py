"""IMAP and POP3 on 10,000 messages, Mailflow beside Dovecot: cold, warm and cached.

Theory of operation: ``bench/bench_imap.py`` generates a deterministic Maildir (1-50 KB messages,
plain, alternative and mixed with attachments) once per run; every measurement works on a
hard-linked copy of it (``cp -al``: a new directory tree, the same file contents; neither server
writes into a message file, and renames in the copy leave the original alone), so each cold start
sees the same files and no index.  Mailflow is ``app.py`` with that copy as bob@beta.test's Maildir;
Dovecot is the private instance of bench_imap (``bench/dovecot.conf.template``) with POP3 added.
Both use the same login (bob@beta.test / bob) and the same client code:

- IMAP: bench_imap's session -- LOGIN, SELECT INBOX, ``FETCH 1:* (FLAGS UID RFC822.SIZE
  ENVELOPE)``, ``FETCH 1:* BODY.PEEK[]``; the cold session's answers are checked equal on both
  servers (count, sizes, SHA-256 of every body).
- POP3: USER/PASS (the maildrop scan), STAT + UIDL + LIST, RETR of every message, QUIT (no DELE).

States: **cold** = the first session after the server started on a copy it has never seen (no
uid list, no index); **warm** = the first session after a restart on the same copy (what is on
disk survives: our uid list, Dovecot's index; nothing in memory); **cached** = the next session in
the same running server.  The message files are in the page cache in all three, for both servers:
``page_in`` reads every file of the copy just before each session (dropping the page cache is not
done: it belongs to the machine).  Without it the first reader could pay for the others: this
machine's caches are sometimes dropped from outside (``/proc/vmstat``: ``drop_pagecache``,
``drop_slab``; ``fincore`` on the generated Maildir, 2026-12-05: once a quarter of its pages
resident a minute after it was read, another time all of them), the copies are hard links to the
same files, and Mailflow always ran first -- so its cold session could read from disk what Dovecot
then found in memory.  The two servers also take turns at going first (odd runs: Dovecot first).
Server CPU is that of the process serving the session (app.py; Dovecot's imap or pop3 worker);
peak RSS likewise.
"""
from __future__ import annotations

import itertools
import os
import poplib
import subprocess
import sys
import time
from pathlib import Path

from . import procs
from .servers import Mailflow

BENCH = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(BENCH))
import bench_imap  # noqa: E402  (bench/ on the path: the existing IMAP benchmark's pieces)

ALONE_LOGIN = (bench_imap.LOGIN, bench_imap.PASSWORD)          # its --serve process knows only these
LOGIN, PASSWORD = "bob@beta.test", "bob"
bench_imap.LOGIN, bench_imap.PASSWORD = LOGIN, PASSWORD      # the same account on both servers
IMAP_PHASES = bench_imap.PHASES
POP3_PHASES = ("LOGIN", "LIST+UIDL", "RETR all")
POP3_BINARY = "/usr/lib/dovecot/pop3"
POP3_SERVICE = """
service pop3-login {{
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener pop3s {{
    port = 0
  }}
  chroot =
}}
"""


_RUNS = itertools.count()       # odd runs let Dovecot go first


def page_in(maildir: Path) -> int:
    """Read every file under ``maildir`` (into the page cache); returns the octets read."""
    total = 0
    for base, _dirs, files in os.walk(maildir):
        for name in files:
            try:
                fd = os.open(os.path.join(base, name), os.O_RDONLY)
            except OSError:
                continue
            try:
                while chunk := os.read(fd, 1 << 20):
                    total += len(chunk)
            finally:
                os.close(fd)
    return total


def make_pristine(workdir: Path, count: int, seed: int = 4) -> Path:
    pristine = workdir / "pristine" / "bob"
    if not (pristine / "cur").is_dir():
        bench_imap.make_maildir(pristine, count, seed)
    return pristine


def copy(pristine: Path, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "-al", str(pristine), str(target)], check=True)
    return target


class Pair:
    """Mailflow (app.py) and Dovecot on fresh hard-linked copies; restartable on the same copies."""

    def __init__(self, workdir: Path, pristine: Path, dovecot: str | None) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        os.chmod(workdir, 0o755)          # Dovecot's unprivileged processes must reach their files
        self.dovecot_binary = dovecot
        self.mailflow = Mailflow(workdir / "mailflow")
        copy(pristine, self.mailflow.maildir(LOGIN))
        self.dovecot = None
        self.dovecot_proc = None
        if dovecot:
            maildir = copy(pristine, workdir / "dovecot-mail" / "Maildir")
            self.conf, self.imap_port = bench_imap.prepare_dovecot(workdir, maildir)
            self.pop3_port = None
            if Path(POP3_BINARY).exists():          # Debian's dovecot-pop3d
                self.pop3_port = bench_imap.free_port()
                text = self.conf.read_text().replace("protocols = imap\n", "protocols = imap pop3\n")
                self.conf.write_text(text + POP3_SERVICE.format(port=self.pop3_port))
            uid = os.stat(workdir / "dovecot").st_uid
            for base, dirs, files in os.walk(maildir.parent):
                for name in (*dirs, *files):
                    os.lchown(os.path.join(base, name), uid, -1)
            os.chown(maildir.parent, uid, -1)

    def start(self) -> None:
        self.mailflow.start()
        if self.dovecot_binary:
            self.dovecot = bench_imap.start_dovecot(self.dovecot_binary, self.conf, self.imap_port, 30)
            self.dovecot_proc = self.dovecot.proc

    def stop(self) -> None:
        self.mailflow.stop()
        if self.dovecot_proc is not None:
            procs.end(self.dovecot_proc)
            self.dovecot_proc = self.dovecot = None

    def imap_servers(self) -> list:
        app = self.mailflow.proc
        ours = bench_imap.Server("mailflow", self.mailflow.ports["imap"], app, lambda: app.pid)
        return [ours] + ([self.dovecot] if self.dovecot else [])

    def pop3_servers(self) -> list[tuple[str, int, object]]:
        app = self.mailflow.proc
        out = [("mailflow", self.mailflow.ports["pop3"], lambda: app.pid)]
        if self.dovecot and self.pop3_port:
            proc = self.dovecot.proc
            out.append(("dovecot", self.pop3_port,
                        lambda: (bench_imap.children(proc.pid, "pop3") or [-1])[-1]))
        return out


def imap(server, timeout: float, analyse: bool) -> dict:
    result = bench_imap.imap_session(server, timeout, analyse=analyse)
    return {"times": result.times, "cpu": result.cpu, "count": result.count, "hwm_mib": (result.hwm_kib or 0) / 1024,
            "result": result}


def pop3(name: str, port: int, session_pid, timeout: float) -> dict:
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    client = poplib.POP3("127.0.0.1", port, timeout=timeout)
    try:
        client.user(LOGIN)
        client.pass_(PASSWORD)
        t1 = time.perf_counter()
        pid = session_pid()
        c0 = procs.cpu_seconds([pid]) if pid > 0 else 0.0
        count, _size = client.stat()
        client.uidl()
        client.list()
        t2 = time.perf_counter()
        total = 0
        for n in range(1, count + 1):
            _resp, lines, octets = client.retr(n)
            total += octets
        t3 = time.perf_counter()
        c1 = procs.cpu_seconds([pid]) if pid > 0 else 0.0
        hwm = procs.rss_mib([pid], "VmHWM") if pid > 0 else 0.0
    finally:
        try:
            client.quit()
        except (poplib.error_proto, OSError):
            pass
    times.update({"LOGIN": t1 - t0, "LIST+UIDL": t2 - t1, "RETR all": t3 - t2})
    times["total"] = sum(times[p] for p in POP3_PHASES)
    return {"times": times, "cpu": {"total": c1 - c0}, "count": count, "octets": total, "hwm_mib": hwm}


def imap_alone(workdir: Path, pristine: Path, timeout: float) -> dict:
    """bench_imap's own server process (``ImapServer`` and the mail store, nothing else of Mailflow),
    cold then cached: the process that issue 13's "peak RSS with 10,000 messages" and Dovecot's
    11 MiB imap process were measured on."""
    copy(pristine, workdir / "mail" / bench_imap.DOMAIN / bench_imap.USER)
    server = bench_imap.start_ours(workdir / "mail", None, 60)
    bench_imap.LOGIN, bench_imap.PASSWORD = ALONE_LOGIN
    try:
        idle = procs.rss_mib([server.proc.pid])
        cold = imap(server, timeout, False)
        cached = imap(server, timeout, False)
        return {"idle_rss_mib": idle, "peak_rss_mib": procs.rss_mib([server.proc.pid], "VmHWM"),
                "cold_total_s": cold["times"]["total"], "cached_total_s": cached["times"]["total"]}
    finally:
        bench_imap.LOGIN, bench_imap.PASSWORD = LOGIN, PASSWORD
        bench_imap.end_process(server.proc, "imap server")


def run(workdir: Path, pristine: Path, dovecot: str | None, timeout: float) -> dict:
    """One repetition: IMAP cold, cached, warm; then POP3 cold, cached, warm -- each on both servers."""
    out: dict = {"imap": {}, "pop3": {}, "notes": []}
    flip = next(_RUNS) % 2 == 1
    for protocol in ("imap", "pop3"):
        pair = Pair(workdir / protocol, pristine, dovecot)
        maildir = pair.mailflow.maildir(LOGIN)          # hard links: the same files as Dovecot's copy
        try:
            pair.start()
            if protocol == "imap":
                out["mailflow_idle_rss_mib"] = pair.mailflow.rss()
            for state in ("cold", "cached", "warm"):
                if state == "warm":
                    pair.stop()
                    pair.start()
                if protocol == "imap":
                    servers = pair.imap_servers()
                    for server in servers[::-1] if flip else servers:
                        page_in(maildir)
                        out["imap"].setdefault(state, {})[server.name] = imap(server, timeout, state == "cold")
                else:
                    servers = pair.pop3_servers()
                    for name, port, pid in servers[::-1] if flip else servers:
                        page_in(maildir)
                        out["pop3"].setdefault(state, {})[name] = pop3(name, port, pid, timeout)
            if protocol == "imap":
                out["mailflow_rss_after_imap_mib"] = pair.mailflow.rss()
                out["mailflow_peak_rss_mib"] = pair.mailflow.rss("VmHWM")
        finally:
            pair.stop()
    out["imap_server_alone"] = imap_alone(workdir / "alone", pristine, timeout)
    cold = out["imap"].get("cold", {})
    if "dovecot" in cold:
        out["notes"] += bench_imap.compare(cold["mailflow"]["result"], cold["dovecot"]["result"])[:1]
    for state in out["imap"].values():
        for figures in state.values():
            figures.pop("result", None)
    pops = out["pop3"].get("cold", {})
    if "dovecot" in pops and pops["mailflow"]["octets"] != pops["dovecot"]["octets"]:
        out["notes"].append(f"POP3 octets differ: mailflow {pops['mailflow']['octets']}, "
                            f"dovecot {pops['dovecot']['octets']}")
    return out
