"""The crash harness shared by ``tests/test_crash.py`` (short) and ``bench/bench_crash.py`` (twenty rounds).

Theory of operation
    ``app.py`` runs as a subprocess on free loopback ports over one data directory that survives
    every kill.  Senders submit messages concurrently through the front door (alice's login), each
    with its own Message-ID and a body whose last line names its length, to bob@beta.test (relayed
    smtp.alpha.test -> mx1.beta.test, then delivered), to carol@alpha.test (relayed to mx.alpha.test),
    to both (two relays, two deliveries), to carol and alice (one relay, then an MX entry with two
    recipients delivered one after the other) or to a user beta.test does not have (a bounce comes
    back to alice).  A round may run another scenario over the same hosts (:func:`scenario_file`:
    mx1.beta.test refusing, so the backup MX takes bob's mail; a host down), as a classroom changes
    its world between two starts.  A sender remembers which messages got their 250 (acknowledged)
    and which it sent whole without seeing a reply (unsure: the server may or may not have taken them).

    A round ends with SIGKILL, sent by the test to the pid it started: when the process stopped
    itself at a crash point (:mod:`simulator.crashpoints`: ``MAILFLOW_CRASH_AT``), or after a chosen
    number of 250s, or after a chosen time.  One client is always left half-way through DATA (at the
    submission door; :class:`HalfData` can also stand at mx1.beta.test's MX port).  While the world
    runs freely with no fault, each MX delivers a relayed message into the Maildir before its 250
    (:mod:`simulator.direct`); a round whose scenario sets a fault (:data:`QUEUED`) makes the MXs
    queue it first, as every message did before.  The
    next round starts ``app.py`` again on the same data directory; the last one drains: it waits
    until no queue holds an entry and every acknowledged message is in its mailboxes.

    :func:`census` then reads every Maildir file: each (Message-ID, mailbox) pair an acknowledged
    message was sent to must be there exactly once and whole (its body intact up to its last line);
    an unsure one at most once; the half-sent one never; no file may be left under any ``tmp/``;
    each message to the unknown user must come back to alice as exactly one bounce.
"""
from __future__ import annotations

import json
import os
import re
import signal
import smtplib
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from email.parser import BytesParser
from email import policy
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BOB, CAROL, ALICE, NOBODY = "bob@beta.test", "carol@alpha.test", "alice@alpha.test", "nobody@beta.test"
ROUTES: tuple[tuple[str, ...], ...] = ((BOB,), (CAROL,), (BOB, CAROL), (CAROL, ALICE), (CAROL,), (NOBODY,))
DEFAULT_SCENARIO = ROOT / "scenarios" / "default.yaml"
# A fault that changes nothing in these rounds (the harness runs without TLS) but is in force: the MXs
# then queue every message before delivering it (no direct delivery), so the queue's windows are reached.
QUEUED = ("{no_tls: smtp.alpha.test}",)


def scenario_file(directory: Path, name: str, *, faults: tuple[str, ...] = (), down: tuple[str, ...] = ()) -> Path:
    """The default scenario with ``faults`` (YAML flow mappings such as ``{refuse: mx1.beta.test}``)
    and the hosts ``down``, written to ``directory/name.yaml``: the same hosts, another state."""
    text = DEFAULT_SCENARIO.read_text(encoding="utf-8")
    for host in down:
        text = re.sub(rf"(?m)^(\s+{re.escape(host)}:\s*\{{)", r"\1state: down, ", text, count=1)
    if faults:
        text += "\nfaults:\n" + "".join(f"  - {fault}\n" for fault in faults)
    path = directory / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@dataclass
class Ledger:
    """What the senders know: message id -> recipients, and how far each message got."""
    sent: dict[str, tuple[str, ...]] = field(default_factory=dict)
    acknowledged: set[str] = field(default_factory=set)
    unsure: set[str] = field(default_factory=set)        # DATA sent whole, no reply seen
    half: set[str] = field(default_factory=set)          # killed half-way through DATA
    bodies: dict[str, bytes] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def acked_count(self) -> int:
        with self.lock:
            return len(self.acknowledged)


@dataclass
class Census:
    acknowledged: int = 0
    delivered_once: int = 0
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    truncated: list[str] = field(default_factory=list)
    unsure_twice: list[str] = field(default_factory=list)
    half_delivered: list[str] = field(default_factory=list)
    bounces: Counter = field(default_factory=Counter)
    bounce_problems: list[str] = field(default_factory=list)
    tmp_left: list[str] = field(default_factory=list)
    queued_left: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.truncated or self.unsure_twice or self.half_delivered
                    or self.bounce_problems or self.tmp_left or self.queued_left)

    def line(self) -> str:
        return (f"acknowledged {self.acknowledged} / delivered once {self.delivered_once} / "
                f"lost {len(self.lost)} / duplicated {len(self.duplicated)} / truncated {len(self.truncated)}"
                f" / bounces {sum(self.bounces.values())} / left in tmp/ {len(self.tmp_left)}")


def message(msgid: str, rcpts: tuple[str, ...], size: int) -> tuple[bytes, bytes]:
    """(the whole message, its body): the body's last line names the body's length."""
    lines = [f"line {i:05d} of {msgid} ........................................" for i in range(size)]
    body = "\r\n".join(lines) + "\r\n"
    body = (body + f"END {msgid} {len(body)}\r\n").encode()
    head = (f"From: <{ALICE}>\r\nTo: {', '.join(rcpts)}\r\nSubject: crash {msgid}\r\n"
            f"Message-ID: <{msgid}>\r\n\r\n").encode()
    return head + body, body


class App:
    """One ``app.py`` process over ``data``; ``crash_at`` arms a crash point."""

    def __init__(self, data: Path, *, crash_at: str = "", retry: float = 0.2, tls: bool = False,
                 scenario: Path | None = None, step: bool = False, extra: tuple[str, ...] = ()) -> None:
        self.data = data
        self.marker = data.parent / "crashpoint"
        self.marker.unlink(missing_ok=True)
        self.ports_file = data.parent / "ports.json"
        env = dict(os.environ)
        env.pop("MAILFLOW_CRASH_AT", None)
        if crash_at:
            env["MAILFLOW_CRASH_AT"] = crash_at
            env["MAILFLOW_CRASH_FILE"] = str(self.marker)
        args = [sys.executable, str(ROOT / "app.py"), "--no-web", "--data", str(data), "--retry", str(retry),
                "--no-app-port", "--ports-file", str(self.ports_file)]
        args += [f"--{name}-port=0" for name in ("mx", "submission", "smtps", "dns", "imap", "imaps", "pop3",
                                                   "pop3s")]
        if not tls:
            args.append("--no-tls")
        if scenario is not None:
            args += ["--scenario", str(scenario)]
        if step:                # a classroom's start: every hop waits until the teacher plays
            args.append("--step")
        args += extra
        self.args = args
        data.mkdir(parents=True, exist_ok=True)
        self.log = open(data.parent / "app.log", "ab")
        self.proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.PIPE if step else None)
        self.ports = self._wait_ports()

    def play(self) -> None:
        """``step``: the teacher types 'play' (the world runs freely from now on)."""
        assert self.proc.stdin is not None, "started without step"
        self.proc.stdin.write(b"play\n")
        self.proc.stdin.flush()

    def _wait_ports(self, timeout: float = 30.0) -> dict:
        """The ports file of this process; ``{}`` when it froze at its crash point before it wrote
        one: a message left by the round before, resumed at start-up, reached the point first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"app.py ended with {self.proc.returncode}: {self.tail()}")
            if self.stopped_at():
                return {}
            try:
                ports = json.loads(self.ports_file.read_text())
                if ports.get("pid") == self.proc.pid:
                    return ports
            except (OSError, ValueError):
                pass
            time.sleep(0.02)
        raise AssertionError(f"app.py did not start: {self.tail()}")

    def tail(self) -> str:
        self.log.flush()
        return (self.data.parent / "app.log").read_bytes()[-3000:].decode("utf-8", "replace")

    def stopped_at(self) -> str:
        """The crash point the process stopped itself at ("" while it has not)."""
        try:
            text = self.marker.read_text()
        except OSError:
            return ""
        return text.split()[0] if text.endswith("\n") else ""

    def wait_stopped(self, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            point = self.stopped_at()
            if point:
                return point
            if self.proc.poll() is not None:
                raise AssertionError(f"app.py ended before its crash point: {self.tail()}")
            time.sleep(0.01)
        raise AssertionError(f"the crash point was not reached: {self.tail()}")

    def kill(self) -> None:
        """SIGKILL, to the pid we started."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self._close()

    def _close(self) -> None:
        self.log.close()
        if self.proc.stdin is not None:
            self.proc.stdin.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self._close()


class Senders:
    """``count`` threads, each submitting ``per_sender`` messages one after another."""

    def __init__(self, app: App, ledger: Ledger, tag: str, *, count: int = 4, per_sender: int = 4,
                 size: int = 40) -> None:
        self.app, self.ledger, self.tag, self.size = app, ledger, tag, size
        self.threads = [threading.Thread(target=self._run, args=(n, per_sender), daemon=True)
                        for n in range(count)]
        for thread in self.threads:
            thread.start()

    def _run(self, n: int, per_sender: int) -> None:
        port = self.app.ports["submission"]
        for i in range(per_sender):
            msgid = f"{self.tag}.{n}.{i}@crash.test"
            rcpts = ROUTES[(n + i) % len(ROUTES)]
            data, body = message(msgid, rcpts, self.size)
            with self.ledger.lock:
                self.ledger.sent[msgid] = rcpts
                self.ledger.bodies[msgid] = body
            if not self._send(port, msgid, rcpts, data):
                return                  # the server is gone: this sender is done

    def _send(self, port: int, msgid: str, rcpts: tuple[str, ...], data: bytes) -> bool:
        try:
            client = smtplib.SMTP("127.0.0.1", port, local_hostname="sender.crash.test", timeout=20)
        except OSError:
            return False
        try:
            client.login(ALICE, "alice")
            client.mail(ALICE)
            for rcpt in rcpts:
                client.rcpt(rcpt)
            code, _ = client.docmd("DATA")
            if code != 354:
                return False
            client.send(_stuffed(data) + b".\r\n")
            with self.ledger.lock:
                self.ledger.unsure.add(msgid)
            code, _ = client.getreply()
            if code == 250:
                with self.ledger.lock:
                    self.ledger.unsure.discard(msgid)
                    self.ledger.acknowledged.add(msgid)
            return True
        except (OSError, smtplib.SMTPException):
            return False
        finally:
            try:
                client.close()
            except OSError:
                pass

    def join(self, timeout: float = 30.0) -> None:
        for thread in self.threads:
            thread.join(timeout)


def _stuffed(data: bytes) -> bytes:
    """RFC 5321 §4.5.2 (``data`` has CRLF lines and ends with one)."""
    return (b"." + data if data.startswith(b".") else data).replace(b"\r\n.", b"\r\n..")


MX1_BETA = "127.42.2.2"          # mx1.beta.test in the default scenario (127.42.<domain>.<host>)


class HalfData:
    """A client left half-way through DATA (its message must never be delivered), in a thread of its
    own: the server may stop at its crash point before this client is through.  ``door="mx"``: the
    client talks to mx1.beta.test's MX port, where a message for bob is delivered before the 250."""

    def __init__(self, app: App, ledger: Ledger, tag: str, *, door: str = "submission") -> None:
        self.app, self.ledger, self.msgid, self.door = app, ledger, f"{tag}.half-{door}@crash.test", door
        self.client: smtplib.SMTP | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        data, _ = message(self.msgid, (BOB,), 40)
        try:
            if self.door == "mx":
                self.client = smtplib.SMTP(MX1_BETA, self.app.ports["mx"], local_hostname="half.crash.test",
                                           timeout=20)
            else:
                self.client = smtplib.SMTP("127.0.0.1", self.app.ports["submission"],
                                           local_hostname="half.crash.test", timeout=20)
                self.client.login(ALICE, "alice")
            self.client.mail(ALICE)
            self.client.rcpt(BOB)
            if self.client.docmd("DATA")[0] == 354:
                with self.ledger.lock:
                    self.ledger.half.add(self.msgid)
                self.client.send(data[: len(data) // 2])
        except (OSError, smtplib.SMTPException):
            pass

    def close(self) -> None:
        self.thread.join(30)
        if self.client is not None:
            self.client.close()


def queued(data: Path) -> list[str]:
    return sorted(str(p.relative_to(data)) for p in (data / "queue").glob("*/*.json"))


def drain(app: App, ledger: Ledger, timeout: float = 30.0) -> None:
    """Wait until no queue holds an entry and every acknowledged message is in its mailboxes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not queued(app.data) and not census(app.data, ledger).lost:
            return
        time.sleep(0.05)


def _mail_files(data: Path):
    for path in (data / "mail").glob("*/*/**/*"):
        if path.is_file() and path.parent.name in ("new", "cur"):
            yield path


def census(data: Path, ledger: Ledger) -> Census:
    """Count every (Message-ID, mailbox) in the Maildirs against what the senders know."""
    found: Counter = Counter()
    whole: dict[tuple[str, str], bool] = {}
    bounces: Counter = Counter()
    bounce_problems: list[str] = []
    parser = BytesParser(policy=policy.compat32)
    for path in _mail_files(data):
        raw = path.read_bytes()
        head = parser.parsebytes(raw, headersonly=True)
        mailbox = f"{path.relative_to(data / 'mail').parts[1]}@{path.relative_to(data / 'mail').parts[0]}"
        msgid = (head.get("Message-ID") or "").strip().strip("<>")
        if (head.get("Subject") or "").startswith("Undelivered Mail Returned to Sender"):
            original = [line for line in raw.split(b"\r\n") if line.lower().startswith(b"message-id: <")]
            ids = [line.split(b"<", 1)[1].split(b">", 1)[0].decode() for line in original[1:]]
            for returned in ids:
                bounces[returned] += 1
            if mailbox != ALICE:
                bounce_problems.append(f"a bounce in {mailbox}")
            continue
        found[(msgid, mailbox)] += 1
        body = ledger.bodies.get(msgid)
        whole[(msgid, mailbox)] = body is not None and raw.endswith(body)
    result = Census(acknowledged=len(ledger.acknowledged), bounces=bounces)
    for msgid, rcpts in ledger.sent.items():
        delivered = [r for r in rcpts if r != NOBODY]
        copies = [found[(msgid, r)] for r in delivered]
        if msgid in ledger.acknowledged:
            if all(c == 1 for c in copies):
                result.delivered_once += 1
            if any(c == 0 for c in copies):
                result.lost.append(msgid)
        elif any(c > 1 for c in copies):
            result.unsure_twice.append(msgid)
        if any(c > 1 for c in copies) and msgid in ledger.acknowledged:
            result.duplicated.append(msgid)
        if any(found[(msgid, r)] and not whole.get((msgid, r)) for r in delivered):
            result.truncated.append(msgid)
        if NOBODY in rcpts:
            wanted = 1 if msgid in ledger.acknowledged else None
            got = bounces[msgid]
            if (wanted is not None and got != wanted) or got > 1:
                bounce_problems.append(f"{msgid}: {got} bounces")
    result.half_delivered = [m for m in ledger.half if any(k[0] == m for k in found)]
    result.bounce_problems = bounce_problems
    result.tmp_left = sorted(str(p.relative_to(data)) for p in (data / "mail").glob("*/*/**/tmp/*"))
    result.queued_left = queued(data)
    return result
