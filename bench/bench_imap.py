#!/usr/bin/env python3
"""IMAP benchmark: Mailflow's IMAP server against Debian's Dovecot on a copy of the same Maildir.

Not a test: a script that runs in one go and prints a table (bench/IMAP.md explains the figures).

    .venv/bin/python bench/bench_imap.py            # 10,000 messages, 3 warm runs

What it does
  1. Generates a deterministic Maildir (``random.Random(seed)``) of N messages, 1-50 KB each: plain
     text, multipart/alternative, and multipart/mixed with a base64 attachment, under
     ``<tmp>/mail/bench.test/bob/`` in our layout (``cur/ new/ tmp/`` plus the Maildir++ folders),
     and a copy of it for Dovecot (``<tmp>/dovecot/Maildir``, chown'ed to ``nobody`` when run as root).
  2. Starts our ``ImapServer`` in a subprocess (this script with ``--serve``) and a private Dovecot
     (``dovecot -F -c <tmp>/dovecot/dovecot.conf`` from ``bench/dovecot.conf.template``), both on
     127.0.0.1 and free ports.
  3. With the same imaplib client code against each: connect + LOGIN, SELECT INBOX,
     ``FETCH 1:* (FLAGS UID RFC822.SIZE ENVELOPE)``, ``FETCH 1:* BODY.PEEK[]``; each phase timed. The
     first session after start is the cold run (we build the uid list and parse caches, Dovecot its
     index); then ``--runs`` warm runs, interleaved between the servers, reported as medians; then
     (unless ``--no-restart``) both servers are stopped and started again on the same files and one
     more session each is the "restarted" run (what is kept on disk: our uid list and
     ``mailflow-cache``, Dovecot's index and index cache).
  4. Checks both servers return the same number of messages, the same RFC822.SIZE values, the same
     total body bytes and the same message bodies (SHA-256 multiset); a mismatch exits 1.
     ENVELOPEs are compared too and differences reported (not fatal: quoting may legitimately differ).
  5. Prints, per phase, seconds for us, for Dovecot and the ratio us/Dovecot; server CPU seconds
     (/proc/<pid>/stat) and peak RSS (VmHWM) of our server process and of Dovecot's imap process.

Everything is on loopback, bounded by ``--max-seconds`` and socket timeouts, and the script ends only
the processes it started, by pid. ``--profile FILE`` runs our server under cProfile and writes the
stats there (profiling slows it down: take timings from a run without it).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import hashlib
import imaplib
import os
import random
import re
import select
import shutil
import signal
import socket
import statistics
import string
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
DOMAIN, USER, PASSWORD = "bench.test", "bob", "bench-secret"
LOGIN = f"{USER}@{DOMAIN}"
PHASES = ("LOGIN", "SELECT", "FETCH meta", "FETCH bodies")
META_ITEMS = "(FLAGS UID RFC822.SIZE ENVELOPE)"
BODY_ITEMS = "BODY.PEEK[]"
INSTALL_HINT = ("Dovecot is not installed. On Debian/Ubuntu, as root:\n"
                "    apt-get update && apt-get install -y dovecot-imapd\n"
                "(or run with --ours-only to benchmark only our server).")


# =========================================================================== the mailbox


_WORDS = ("the of and to in is that for it as was with be by on not he this are or his from at which "
          "but have an they you were her she there been one all we their has would when if so no what "
          "up out who them some could him into its then two more these time may other do first any my "
          "now such like our over man me even most made after also did many before must through back "
          "years where much your way well down should because each just those people how too little "
          "state good very make world still own see men work long get here between both life being "
          "under never day same another know while last might us great old year off come since against "
          "go came right used take three invoice meeting quarterly report server mailbox deadline "
          "project budget review draft attached please thanks regards schedule").split()
_NAMES = ("Alice Example", "Bob Builder", "Carol Jones", "Dave O'Brien", "Erin Smith", "Frank Müller",
          "Grace Hopper", "Heidi Klum", "Ivan Petrov", "Иван Петров", "Judy Chen", "Mallory Evil",
          "Niaj Kumar", "Olivia Brown", "Peggy Sue", "Rupert Grint", "Sybil Fawlty", "Trent Reznor",
          "Victor Hugo", "Walter White", "José Álvarez", "Zoë Quinn")
_DOMAINS = ("alpha.test", "beta.test", "gamma.test", "example.org", "mail.example.com", "lists.example.net")
_SUBJECTS = ("Quarterly report", "Meeting on Thursday", "Re: budget review", "Invoice {n}",
             "Fwd: holiday photos", "Server maintenance window", "Lunch?", "Draft for review (v{n})",
             "Отчёт за квартал", "Ticket #{n}: mailbox full", "Re: Re: the {w} question",
             "Your order {n} has shipped", "Weekly digest", "Café on Friday — who's in?")
_ATTACHMENTS = (("application", "pdf", "report.pdf"), ("image", "png", "photo.png"),
                ("application", "zip", "archive.zip"), ("text", "csv", "data.csv"),
                ("application", "vnd.openxmlformats-officedocument.wordprocessingml.document", "notes.docx"))


def _encoded_word(text: str) -> str:
    """RFC 2047 encoded-word for a non-ASCII phrase (B encoding)."""
    if text.isascii():
        return text
    return "=?UTF-8?B?" + base64.b64encode(text.encode("utf-8")).decode("ascii") + "?="


def _mailbox(rng: random.Random) -> str:
    name = rng.choice(_NAMES)
    local = name.split()[0].lower().encode("ascii", "ignore").decode() or "user"
    addr = f"{local}{rng.randrange(100)}@{rng.choice(_DOMAINS)}"
    if rng.random() < 0.15:
        return addr
    phrase = _encoded_word(name)
    if phrase == name and ("'" in name or "." in name):
        phrase = f'"{name}"'
    return f"{phrase} <{addr}>"


def _text(rng: random.Random, size: int) -> str:
    """About ``size`` characters of word salad in lines of at most 76 characters."""
    lines: list[str] = []
    total = 0
    while total < size:
        words = [rng.choice(_WORDS) for _ in range(rng.randint(6, 12))]
        line = " ".join(words)[:76]
        if rng.random() < 0.08:
            line = ""
        lines.append(line)
        total += len(line) + 2
    return "\r\n".join(lines) + "\r\n"


def _headers(rng: random.Random, i: int, date: float) -> list[str]:
    frm = _mailbox(rng)
    subject = rng.choice(_SUBJECTS).format(n=rng.randrange(10_000), w=rng.choice(_WORDS))
    hdrs = [
        f"Return-Path: <{re.sub(r'.*<|>.*', '', frm)}>",
        "Delivered-To: bob@bench.test",
        f"Received: from mx.{rng.choice(_DOMAINS)} (mx [127.0.0.{rng.randint(2, 250)}])\r\n"
        f"\tby mail.bench.test (Mailflow) with ESMTP id {rng.getrandbits(48):012X}\r\n"
        f"\tfor <bob@bench.test>; {time.strftime('%a, %d %b %Y %H:%M:%S +0000', time.gmtime(date))}",
        f"From: {frm}",
        f"To: {'Bob <bob@bench.test>' if rng.random() < 0.7 else 'bob@bench.test'}"
        + (f", {_mailbox(rng)}" if rng.random() < 0.2 else ""),
    ]
    if rng.random() < 0.25:
        hdrs.append("Cc: " + ", ".join(_mailbox(rng) for _ in range(rng.randint(1, 3))))
    hdrs.append(f"Subject: {_encoded_word(subject)}")
    hdrs.append(f"Date: {time.strftime('%a, %d %b %Y %H:%M:%S +0000', time.gmtime(date - rng.randint(1, 600)))}")
    hdrs.append(f"Message-ID: <bench-{i}.{rng.getrandbits(32):08x}@{rng.choice(_DOMAINS)}>")
    if rng.random() < 0.3:
        hdrs.append(f"In-Reply-To: <bench-{rng.randrange(max(i, 1))}@{rng.choice(_DOMAINS)}>")
    hdrs.append("MIME-Version: 1.0")
    return hdrs


def make_message(rng: random.Random, i: int, date: float) -> bytes:
    """One message of 1-50 KB (CRLF line ends, as our MDA stores what SMTP carried)."""
    target = rng.randint(1024, 50 * 1024)
    hdrs = _headers(rng, i, date)
    head_len = sum(len(h) + 2 for h in hdrs) + 2
    room = max(target - head_len, 200)
    kind = rng.random()
    if kind < 0.65:  # text/plain
        hdrs += ['Content-Type: text/plain; charset="utf-8"', "Content-Transfer-Encoding: 8bit"]
        body = _text(rng, room - 60)
        if rng.random() < 0.2:
            body += "-- \r\nBob's friend — sent from a café\r\n"
    elif kind < 0.82:  # multipart/alternative: text + html
        b = f"=_alt_{rng.getrandbits(40):010x}"
        hdrs.append(f'Content-Type: multipart/alternative; boundary="{b}"')
        plain = _text(rng, max((room - 400) // 2, 50))
        html = "<html><body><p>" + plain.replace("\r\n\r\n", "</p><p>") + "</p></body></html>\r\n"
        body = (f"This is a multi-part message in MIME format.\r\n\r\n--{b}\r\n"
                'Content-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n'
                f"{plain}\r\n--{b}\r\nContent-Type: text/html; charset=\"utf-8\"\r\n"
                f"Content-Transfer-Encoding: 8bit\r\n\r\n{html}\r\n--{b}--\r\n")
    else:  # multipart/mixed with an attachment
        b = f"=_mix_{rng.getrandbits(40):010x}"
        hdrs.append(f'Content-Type: multipart/mixed; boundary="{b}"')
        maintype, subtype, fname = rng.choice(_ATTACHMENTS)
        plain = _text(rng, rng.randint(100, 1500))
        att_raw = max((room - len(plain) - 600) * 3 // 4, 64)
        att = base64.encodebytes(rng.randbytes(att_raw)).decode("ascii").replace("\n", "\r\n")
        body = (f"--{b}\r\nContent-Type: text/plain; charset=\"utf-8\"\r\n\r\n{plain}\r\n--{b}\r\n"
                f"Content-Type: {maintype}/{subtype}; name=\"{fname}\"\r\n"
                f"Content-Disposition: attachment; filename=\"{fname}\"\r\n"
                f"Content-Transfer-Encoding: base64\r\n\r\n{att}\r\n--{b}--\r\n")
    return ("\r\n".join(hdrs) + "\r\n\r\n" + body).encode("utf-8")


def make_maildir(user_dir: Path, count: int, seed: int, *, lf: bool = False,
                 sizes_in_names: bool = False) -> tuple[int, int]:
    """Write ``count`` messages into ``user_dir/cur`` (flags in the names, mtime = arrival time).

    Returns (messages, bytes). All messages are in cur/ (already seen by a client once), so SELECT
    moves nothing on either server and every run starts from the same files. ``lf`` stores bare LF
    line ends (as Dovecot's LDA and most MDAs do) instead of the CRLF that our MDA keeps.
    ``sizes_in_names`` names files as Dovecot's LDA/LMTP do, ``<base>,S=<size>,W=<CRLF size>:2,<flags>``
    (both servers then take RFC822.SIZE from the name and read only headers for ENVELOPE); the
    default names carry no sizes, as Postfix's local/virtual delivery, procmail and getmail write them.
    """
    rng = random.Random(seed)
    for sub in ("cur", "new", "tmp"):
        (user_dir / sub).mkdir(parents=True, exist_ok=True)
    for folder in ("Sent", "Drafts", "Trash", "Junk"):  # Maildir++ folders, as MailStore creates them
        for sub in ("cur", "new", "tmp"):
            (user_dir / f".{folder}" / sub).mkdir(parents=True, exist_ok=True)
        (user_dir / f".{folder}" / "maildirfolder").touch()
    (user_dir / "subscriptions").write_text("INBOX\nSent\nDrafts\nTrash\nJunk\n")
    start = 1_700_000_000
    total = 0
    for i in range(count):
        date = start + i * 37 + rng.randint(0, 30)
        data = make_message(rng, i, date)
        if lf:
            data = data.replace(b"\r\n", b"\n")
        r = rng.random()
        flags = "S" if r < 0.70 else "RS" if r < 0.80 else "FS" if r < 0.85 else ""
        base = f"{date}.M{rng.randrange(1_000_000)}P4242Q{i}.mail.bench.test"
        if sizes_in_names:
            crlf = len(data) + data.count(b"\n") - data.count(b"\r\n")
            base += f",S={len(data)},W={crlf}"
        name = f"{base}:2,{flags}"
        path = user_dir / "cur" / name
        path.write_bytes(data)
        os.utime(path, (date, date))
        total += len(data)
    return count, total


# =========================================================================== processes


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a process (/proc/<pid>/stat fields 14 and 15)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return float("nan")
    fields = text[text.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_hwm_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def children(pid: int, comm: str) -> list[int]:
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        if ppid == pid and name == comm:
            found.append(int(entry.name))
    return sorted(found)


def end_process(proc: subprocess.Popen, name: str, grace: float = 10.0) -> None:
    """SIGTERM the process we started (by its pid), then SIGKILL if it lingers."""
    if proc.poll() is not None:
        return
    os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        print(f"  {name} (pid {proc.pid}) did not stop in {grace:.0f} s; killing it", file=sys.stderr)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(5)


@dataclass(slots=True)
class Server:
    name: str
    port: int
    proc: subprocess.Popen
    session_pid: Callable[[], int]  # the process that serves a logged-in session
    extra: dict = field(default_factory=dict)


def start_ours(root: Path, profile: Path | None, timeout: float) -> Server:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--serve", str(root)]
    if profile is not None:
        cmd += ["--profile", str(profile)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, cwd=REPO)
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    line = ""
    while time.monotonic() < deadline:  # the child prints "PORT <n>" once it listens
        ready, _, _ = select.select([proc.stdout], [], [], max(deadline - time.monotonic(), 0))
        if not ready:
            break
        line = proc.stdout.readline()
        if line.startswith("PORT ") or not line:
            break
    if not line.startswith("PORT "):
        end_process(proc, "our server")
        raise SystemExit(f"our IMAP server did not start (exit code {proc.poll()})")
    return Server("mailflow", int(line.split()[1]), proc, lambda: proc.pid)


def find_dovecot() -> str | None:
    return shutil.which("dovecot") or next((p for p in ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot")
                                           if os.access(p, os.X_OK)), None)


def prepare_dovecot(tmp: Path, maildir: Path) -> tuple[Path, int]:
    """Write dovecot.conf and the passwd-file; returns (config path, port)."""
    import grp
    import pwd
    port = free_port()
    ddir = tmp / "dovecot"
    (ddir / "home").mkdir(parents=True, exist_ok=True)
    (ddir / "state").mkdir(exist_ok=True)
    passwd = ddir / "passwd"
    passwd.write_text(f"{LOGIN}:{{PLAIN}}{PASSWORD}\n")
    if os.geteuid() == 0:
        # Dovecot refuses to run imap-login as root and mail processes as UID 0 (see the template).
        mail_user, mail_group = "nobody", grp.getgrgid(pwd.getpwnam("nobody").pw_gid).gr_name
        internal_user, login_user = "dovecot", "dovenull"
        internal_group = grp.getgrgid(pwd.getpwnam("dovecot").pw_gid).gr_name
        uid, gid = pwd.getpwnam(mail_user).pw_uid, pwd.getpwnam(mail_user).pw_gid
        for base, dirs, files in os.walk(ddir):
            for n in (*dirs, *files):
                os.lchown(os.path.join(base, n), uid, gid)
        os.chown(ddir, uid, gid)
        passwd.chmod(0o644)
        tmp.chmod(0o755)  # mkdtemp makes it 0700: the unprivileged processes must reach their files
    else:
        me = pwd.getpwuid(os.geteuid())
        mail_user = internal_user = login_user = me.pw_name
        mail_group = internal_group = grp.getgrgid(me.pw_gid).gr_name
        uid = me.pw_uid
    template = string.Template((HERE / "dovecot.conf.template").read_text())
    conf = template.substitute(
        port=port, base_dir=ddir / "run", state_dir=ddir / "state", log_path=ddir / "dovecot.log",
        internal_user=internal_user, internal_group=internal_group, login_user=login_user,
        first_valid_uid=min(500, uid) or 1, maildir=maildir, passwd_file=passwd,
        mail_user=mail_user, mail_group=mail_group, home=ddir / "home")
    path = ddir / "dovecot.conf"
    path.write_text(conf)
    return path, port


def start_dovecot(binary: str, conf: Path, port: int, timeout: float) -> Server:
    proc = subprocess.Popen([binary, "-F", "-c", str(conf)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            log = (conf.parent / "dovecot.log")
            raise SystemExit(f"dovecot exited ({proc.returncode}):\n{err}\n"
                             f"{log.read_text() if log.exists() else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                if s.recv(100).startswith(b"* OK"):
                    break
        except OSError:
            time.sleep(0.1)
    else:
        end_process(proc, "dovecot")
        raise SystemExit("dovecot did not start listening in time; see " + str(conf.parent / "dovecot.log"))

    def session_pid() -> int:
        pids = children(proc.pid, "imap")
        return pids[-1] if pids else -1

    return Server("dovecot", port, proc, session_pid)


# =========================================================================== the client


def _parse_sexp(data: bytes, i: int) -> tuple[object, int]:
    """One IMAP value (NIL, number, atom, quoted string, literal-as-bytes, or list) from ``data[i:]``."""
    while data[i:i + 1] == b" ":
        i += 1
    c = data[i:i + 1]
    if c == b"(":
        out: list[object] = []
        i += 1
        while True:
            while data[i:i + 1] == b" ":
                i += 1
            if data[i:i + 1] == b")":
                return out, i + 1
            value, i = _parse_sexp(data, i)
            out.append(value)
    if c == b'"':
        j, buf = i + 1, bytearray()
        while data[j:j + 1] != b'"':
            if data[j:j + 1] == b"\\":
                j += 1
            buf += data[j:j + 1]
            j += 1
        return bytes(buf), j + 1
    if c == b"\x00":  # our marker for a literal: \x00<len>\x00<bytes>
        j = data.index(b"\x00", i + 1)
        n = int(data[i + 1:j])
        return data[j + 1:j + 1 + n], j + 1 + n
    m = re.compile(rb"[^ ()]+").match(data, i)
    if m is None:
        raise ValueError(f"unparseable FETCH data at {data[i:i + 40]!r}")
    tok = m.group(0)
    return (None if tok.upper() == b"NIL" else tok), m.end()


def _fetch_lines(data: list) -> list[bytes]:
    """imaplib's FETCH data -> one bytes per message, literals inlined as \\x00<len>\\x00<bytes>."""
    lines: list[bytes] = []
    cur: bytearray | None = None
    for item in data:
        if isinstance(item, tuple):
            head, lit = item
            head = re.sub(rb"\{\d+\}$", b"", head)
            if re.match(rb"\d+ \(", head) and (cur is None or _balanced(cur)):
                if cur is not None:
                    lines.append(bytes(cur))
                cur = bytearray()
            assert cur is not None
            cur += head + b"\x00%d\x00" % len(lit) + lit
        elif item is not None:
            if re.match(rb"\d+ \(", item) and (cur is None or _balanced(cur)):
                if cur is not None:
                    lines.append(bytes(cur))
                cur = bytearray(item)
            else:
                assert cur is not None
                cur += item
    if cur is not None:
        lines.append(bytes(cur))
    return lines


def _balanced(buf: bytearray) -> bool:
    """Whether a reassembled FETCH line has closed its outer parenthesis (ignores literals/quotes)."""
    try:
        _, end = _parse_sexp(bytes(buf), buf.index(b"("))
        return True
    except (ValueError, IndexError):
        return False


def _items(line: bytes) -> dict[str, object]:
    seq, _, rest = line.partition(b" ")
    values, _ = _parse_sexp(rest, 0)
    assert isinstance(values, list)
    return {values[k].decode().upper(): values[k + 1] for k in range(0, len(values) - 1, 2)}


@dataclass(slots=True)
class RunResult:
    times: dict[str, float]
    cpu: dict[str, float]
    count: int
    body_bytes: int
    sizes: list[int]
    digests: list[str]
    envelopes: collections.Counter
    hwm_kib: int | None


def imap_session(server: Server, timeout: float, *, analyse: bool) -> RunResult:
    """LOGIN, SELECT INBOX, FETCH meta, FETCH bodies, LOGOUT: the same code for both servers."""
    times: dict[str, float] = {}
    cpu: dict[str, float] = {}
    t0 = time.perf_counter()
    client = imaplib.IMAP4("127.0.0.1", server.port, timeout=timeout)
    try:
        typ, _ = client.login(LOGIN, PASSWORD)
        assert typ == "OK", typ
        t1 = time.perf_counter()
        times["LOGIN"] = t1 - t0
        pid = server.session_pid()
        c0 = proc_cpu(pid)
        typ, data = client.select("INBOX")
        assert typ == "OK", (typ, data)
        exists = int(data[0])
        t2 = time.perf_counter()
        c1 = proc_cpu(pid)
        times["SELECT"], cpu["SELECT"] = t2 - t1, c1 - c0
        typ, meta = client.fetch("1:*", META_ITEMS)
        assert typ == "OK", typ
        t3 = time.perf_counter()
        c2 = proc_cpu(pid)
        times["FETCH meta"], cpu["FETCH meta"] = t3 - t2, c2 - c1
        typ, bodies = client.fetch("1:*", BODY_ITEMS)
        assert typ == "OK", typ
        t4 = time.perf_counter()
        c3 = proc_cpu(pid)
        times["FETCH bodies"], cpu["FETCH bodies"] = t4 - t3, c3 - c2
        hwm = proc_hwm_kib(pid)
    finally:
        try:
            client.logout()
        except (imaplib.IMAP4.error, OSError):
            pass
    times["total"] = sum(times[p] for p in PHASES)
    cpu["total"] = sum(cpu.values())
    literals = [item[1] for item in bodies if isinstance(item, tuple)]
    sizes: list[int] = []
    envelopes: collections.Counter = collections.Counter()
    digests: list[str] = []
    if analyse:
        for line in _fetch_lines(meta):
            items = _items(line)
            sizes.append(int(items["RFC822.SIZE"]))
            envelopes[repr(items["ENVELOPE"])] += 1
        digests = sorted(hashlib.sha256(b).hexdigest() for b in literals)
        if len(sizes) != exists:
            raise SystemExit(f"{server.name}: FETCH meta returned {len(sizes)} messages, SELECT said {exists}")
    if len(literals) != exists:
        raise SystemExit(f"{server.name}: FETCH BODY.PEEK[] returned {len(literals)} bodies, SELECT said {exists}")
    return RunResult(times, cpu, exists, sum(map(len, literals)), sizes, digests, envelopes, hwm)


# =========================================================================== report


def _fmt_ratio(a: float, b: float) -> str:
    return f"{a / b:7.2f}x" if b > 0 else "      -"


def print_table(title: str, ours: dict[str, float], theirs: dict[str, float] | None, unit: str = "s") -> None:
    print(f"\n{title}")
    print(f"  {'phase':<14}{'mailflow ' + unit:>14}{'dovecot ' + unit:>14}{'mailflow/dovecot':>18}")
    for phase in (*PHASES, "total"):
        if phase not in ours:
            continue
        a = ours[phase]
        b = theirs.get(phase) if theirs else None
        line = f"  {phase:<14}{a:14.3f}"
        line += f"{b:14.3f}{_fmt_ratio(a, b):>18}" if b is not None else f"{'-':>14}{'-':>18}"
        print(line)


def median_of(runs: list[RunResult], attr: str) -> dict[str, float]:
    keys = getattr(runs[0], attr).keys()
    return {k: statistics.median(getattr(r, attr)[k] for r in runs) for k in keys}


def compare(ours: RunResult, theirs: RunResult) -> list[str]:
    """Hard correctness checks (raise SystemExit) and soft notes (returned)."""
    problems = []
    if ours.count != theirs.count:
        problems.append(f"message count: mailflow {ours.count}, dovecot {theirs.count}")
    if ours.body_bytes != theirs.body_bytes:
        problems.append(f"total body bytes: mailflow {ours.body_bytes}, dovecot {theirs.body_bytes}")
    if sorted(ours.sizes) != sorted(theirs.sizes):
        problems.append("RFC822.SIZE values differ")
    if ours.digests != theirs.digests:
        diff = len(set(ours.digests) ^ set(theirs.digests))
        problems.append(f"message bodies differ ({diff} digests not in both)")
    if sum(ours.sizes) != ours.body_bytes or sum(theirs.sizes) != theirs.body_bytes:
        problems.append("RFC822.SIZE total differs from the bytes of BODY[] on one server")
    if problems:
        raise SystemExit("CORRECTNESS CHECK FAILED:\n  " + "\n  ".join(problems))
    notes = []
    only_ours = ours.envelopes - theirs.envelopes
    only_theirs = theirs.envelopes - ours.envelopes
    same = sum((ours.envelopes & theirs.envelopes).values())
    notes.append(f"ENVELOPE identical for {same} of {ours.count} messages")
    if only_ours:
        notes.append(f"  e.g. mailflow: {next(iter(only_ours))[:300]}")
        notes.append(f"       dovecot:  {next(iter(only_theirs))[:300]}" if only_theirs else "")
    return notes


# =========================================================================== modes


def serve(root: Path, profile: Path | None) -> int:
    """--serve: run our ImapServer on 127.0.0.1:0 over ``root`` until SIGTERM; print "PORT <n>"."""
    sys.path.insert(0, str(REPO))
    import logging

    from simulator import memory
    from simulator.protocols.imap.server import ImapServer
    from simulator.store import MailStore
    from simulator.world import Account

    logging.basicConfig(level=logging.WARNING)

    def authenticate(login: str, password: str) -> Account | None:
        if login.lower() == LOGIN and password == PASSWORD:
            return Account(USER, DOMAIN)
        return None

    async def main() -> None:
        store = MailStore(root)
        server = ImapServer(store, authenticate, host="127.0.0.1", port=0, server_name="mailflow-bench")
        await server.start()
        memory.settle()     # as app.py does once it listens (simulator/memory.py): collect, freeze, tune malloc
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        print(f"PORT {server.port}", flush=True)
        await stop.wait()
        await server.stop()
        store.flush()       # what app.py's stop does too: deferred uid lists, the metadata cache

    if profile is None:
        asyncio.run(main())
        return 0
    import cProfile
    prof = cProfile.Profile()
    prof.enable()
    try:
        asyncio.run(main())
    finally:
        prof.disable()
        prof.dump_stats(str(profile))
    return 0


def bench(args: argparse.Namespace) -> int:
    dovecot = None if args.ours_only else find_dovecot()
    if not args.ours_only and dovecot is None:
        print(INSTALL_HINT, file=sys.stderr)
        return 2
    deadline = time.monotonic() + args.max_seconds
    tmp = Path(tempfile.mkdtemp(prefix="mailflow-imap-bench-"))
    procs: list[Server] = []
    try:
        ours_dir = tmp / "mail" / DOMAIN / USER
        t = time.perf_counter()
        count, size = make_maildir(ours_dir, args.messages, args.seed, lf=args.lf,
                                   sizes_in_names=args.sizes_in_names)
        print(f"Maildir: {count} messages, {size / 1e6:.1f} MB, {'LF' if args.lf else 'CRLF'} files, seed {args.seed}, "
              f"generated in {time.perf_counter() - t:.1f} s under {tmp}")
        dov_maildir = tmp / "dovecot" / "Maildir"
        if dovecot:
            shutil.copytree(ours_dir, dov_maildir)  # copy2 keeps the mtimes (INTERNALDATE)
            conf, dport = prepare_dovecot(tmp, dov_maildir)
        version = subprocess.run([dovecot, "--version"], capture_output=True, text=True).stdout.strip() \
            if dovecot else "-"
        print(f"Python {sys.version.split()[0]}, Dovecot {version}, {os.cpu_count()} CPUs")

        ours = start_ours(tmp / "mail", args.profile, 30)
        procs.append(ours)
        servers = [ours]
        if dovecot:
            dov = start_dovecot(dovecot, conf, dport, 30)
            procs.append(dov)
            servers.append(dov)
        print("servers: " + ", ".join(f"{s.name} 127.0.0.1:{s.port} (pid {s.proc.pid})" for s in servers))

        results: dict[str, list[RunResult]] = {s.name: [] for s in servers}
        for i in range(1 + args.runs):
            label = "cold" if i == 0 else f"warm {i}"
            for s in servers:
                if time.monotonic() > deadline:
                    raise SystemExit(f"--max-seconds {args.max_seconds} reached; stopping")
                r = imap_session(s, args.timeout, analyse=i == 0)
                results[s.name].append(r)
                print(f"  {label:7} {s.name:9} " + "  ".join(f"{p} {r.times[p]:.3f}" for p in PHASES)
                      + f"  total {r.times['total']:.3f} s")

        restarted: dict[str, RunResult] = {}
        if args.restart:
            # Both servers stopped and started again on the same files: what each keeps on disk
            # (our uid list and mailflow-cache; Dovecot's index and index cache) is all they have.
            for s in list(servers):
                end_process(s.proc, s.name)
            ours = start_ours(tmp / "mail", None, 30)
            fresh = [ours]
            if dovecot:
                dov = start_dovecot(dovecot, conf, dport, 30)
                fresh.append(dov)
            procs[:] = fresh
            for s in fresh:
                r = imap_session(s, args.timeout, analyse=False)
                restarted[s.name] = r
                print(f"  {'restart':7} {s.name:9} " + "  ".join(f"{p} {r.times[p]:.3f}" for p in PHASES)
                      + f"  total {r.times['total']:.3f} s")
        cold = {n: rs[0] for n, rs in results.items()}
        notes = compare(cold["mailflow"], cold["dovecot"]) if dovecot else []
        mb = cold["mailflow"].body_bytes / 1e6
        print(f"\nmessages {cold['mailflow'].count}, body bytes {cold['mailflow'].body_bytes} ({mb:.1f} MB)"
              + (": identical on both servers (count, sizes, SHA-256 of every body)" if dovecot else ""))
        for n in notes:
            if n:
                print(n)
        d_cold = cold.get("dovecot")
        print_table("COLD (first session after start): wall-clock seconds",
                    cold["mailflow"].times, d_cold.times if d_cold else None)
        if args.runs:
            warm_o = median_of(results["mailflow"][1:], "times")
            warm_d = median_of(results["dovecot"][1:], "times") if dovecot else None
            print_table(f"WARM (median of {args.runs} sessions): wall-clock seconds", warm_o, warm_d)
            print_table(f"WARM (median of {args.runs}): server CPU seconds (/proc/<pid>/stat)",
                        median_of(results["mailflow"][1:], "cpu"),
                        median_of(results["dovecot"][1:], "cpu") if dovecot else None)
            ratio = warm_o["total"] / warm_d["total"] if warm_d else None
            if ratio is not None:
                verdict = "within" if ratio <= 2 else "NOT within"
                print(f"\nwarm total: mailflow/dovecot = {ratio:.2f}x ({verdict} the 2x target)")
        if restarted:
            d_r = restarted.get("dovecot")
            print_table("RESTARTED (first session after a restart, what is on disk kept): wall-clock seconds",
                        restarted["mailflow"].times, d_r.times if d_r else None)
            print_table("RESTARTED: server CPU seconds (/proc/<pid>/stat)",
                        restarted["mailflow"].cpu, d_r.cpu if d_r else None)
        hwm = {n: max((r.hwm_kib or 0) for r in rs) for n, rs in results.items()}
        print("\npeak RSS (VmHWM): mailflow server process "
              f"{hwm['mailflow'] / 1024:.0f} MiB"
              + (f", dovecot imap process {hwm['dovecot'] / 1024:.0f} MiB" if dovecot else ""))
        return 0
    finally:
        for s in reversed(procs):
            end_process(s.proc, s.name)
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=10_000, help="messages in the Maildir (default 10000)")
    ap.add_argument("--runs", type=int, default=3, help="warm runs per server (default 3)")
    ap.add_argument("--seed", type=int, default=4, help="random seed of the generated Maildir")
    ap.add_argument("--timeout", type=float, default=300, help="socket timeout per IMAP operation (s)")
    ap.add_argument("--max-seconds", type=float, default=1800, help="stop starting sessions after this")
    ap.add_argument("--lf", action="store_true", help="store messages with LF line ends (default CRLF)")
    ap.add_argument("--sizes-in-names", action="store_true",
                    help="name files <base>,S=<size>,W=<CRLF size> as Dovecot's LDA does (default: no sizes)")
    ap.add_argument("--ours-only", action="store_true", help="skip Dovecot")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--no-restart", dest="restart", action="store_false",
                    help="skip the session after restarting both servers (on by default)")
    ap.add_argument("--profile", type=Path, help="run our server under cProfile; write stats here")
    ap.add_argument("--serve", type=Path, help=argparse.SUPPRESS)  # internal: the server subprocess
    args = ap.parse_args(argv)
    if args.serve is not None:
        return serve(args.serve, args.profile)
    if not 1 <= args.messages <= 200_000 or not 0 <= args.runs <= 20:
        ap.error("--messages must be 1..200000 and --runs 0..20")
    return bench(args)


if __name__ == "__main__":
    sys.exit(main())
