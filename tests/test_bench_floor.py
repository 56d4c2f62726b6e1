"""The benchmark's floor for the submission target (issue 13): the bare two-hop reference
(bench/sidebyside/relay_server.py) and what RESULTS.md says of it (report.py).

The reference is what the submission path costs on aiosmtpd in one process with nothing Mailflow
promises; with ``--durable``, with only "250 means on disk" added.  Its figures stand beside
Mailflow's in the targets table, so it must deliver every message once, ask AUTH like Mailflow's
MSA, and leave no queue file behind; and the report must compute its ratios within each
repetition, as every other ratio.
"""
from __future__ import annotations

import json
import select
import smtplib
import subprocess
import sys
import time
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))
from sidebyside import procs, relay_server, report  # noqa: E402


def _wait(predicate, seconds: float = 10.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


@pytest.mark.parametrize("durable", [False, True])
def test_the_bare_two_hops_deliver_each_message_once_after_auth(tmp_path, durable):
    maildir = tmp_path / "Maildir"
    command = [sys.executable, str(BENCH / "sidebyside" / "relay_server.py"), "--maildir", str(maildir),
               "--user", "alice@alpha.test", "--password", "alice", *(["--durable"] if durable else [])]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert select.select([proc.stdout], [], [], 30)[0], "the reference did not say it listens"
        said = json.loads(proc.stdout.readline())
        assert said["pid"] == proc.pid and said["port"] != said["mx_port"]
        with smtplib.SMTP("127.0.0.1", said["port"], local_hostname="client.bench.test", timeout=10) as smtp:
            with pytest.raises(smtplib.SMTPSenderRefused) as refused:     # no open relay: AUTH first
                smtp.sendmail("alice@alpha.test", ["bob@beta.test"], b"Subject: before\r\n\r\nx\r\n")
            assert refused.value.smtp_code == 530
            smtp.login("alice@alpha.test", "alice")
            for n in range(6):
                smtp.sendmail("alice@alpha.test", ["bob@beta.test"],
                              f"Message-ID: <m{n}@bench.test>\r\n\r\n.a line that starts with a dot\r\n{n}\r\n".encode())
        new = maildir / "new"
        assert _wait(lambda: len(list(new.iterdir())) == 6)
        if durable:             # each queue file is removed once the MX said 250; then nothing moves
            assert _wait(lambda: not list((tmp_path / "queue").iterdir()))
        time.sleep(0.2)         # a duplicate would have to come now: the queue is empty
        bodies = sorted(p.read_bytes() for p in new.iterdir())
        assert bodies == sorted(f"Message-ID: <m{n}@bench.test>\r\n\r\n.a line that starts with a dot\r\n{n}\r\n".encode()
                                for n in range(6))
        assert not list((maildir / "tmp").iterdir())
    finally:
        procs.end(proc)             # the bench's own: SIGTERM by pid, SIGKILL after a grace
        proc.stdout.close()


def test_a_directory_fsync_is_shared_by_callers_who_wait_and_never_begins_before_them(tmp_path, monkeypatch):
    """The durable floor's group commit: each caller returns after an fsync that began after it
    called; callers who arrive while one runs share the next."""
    import threading

    began: list[float] = []
    ended: list[float] = []
    gate = threading.Event()
    real = relay_server.os.fsync

    def fsync(fd):
        began.append(time.monotonic())
        gate.wait(5)                     # the first fsync lasts until every caller has arrived
        real(fd)
        ended.append(time.monotonic())

    monkeypatch.setattr(relay_server.os, "fsync", fsync)
    group = relay_server.GroupSync(str(tmp_path))
    called: dict[int, float] = {}
    returned: dict[int, float] = {}

    def caller(n: int) -> None:
        called[n] = time.monotonic()
        group.sync()
        returned[n] = time.monotonic()

    first = threading.Thread(target=caller, args=(0,))
    first.start()
    assert _wait(lambda: began)
    others = [threading.Thread(target=caller, args=(n,)) for n in range(1, 9)]
    for thread in others:
        thread.start()
    assert _wait(lambda: len(called) == 9)
    gate.set()
    for thread in (first, *others):
        thread.join(10)
    assert len(returned) == 9
    # the one under way, and one shared by the eight who came meanwhile (a third only if a caller
    # was still on its way to the lock when the first ended)
    assert 2 <= len(began) <= 3
    for n in range(9):                   # a whole fsync between each call and its return
        assert any(called[n] <= start and end <= returned[n] for start, end in zip(began, ended)), n


def test_a_failed_directory_fsync_serves_no_caller(tmp_path, monkeypatch):
    """An fsync that fails is nobody's commit: the caller that ran it gets the error, and a caller
    that was waiting for that fsync does not return until one of its own has succeeded."""
    import threading

    calls: list[int] = []
    gate = threading.Event()
    real = relay_server.os.fsync

    def fsync(fd):
        calls.append(len(calls) + 1)
        if len(calls) == 1:
            gate.wait(5)                 # the first lasts until both others wait for the next
        if len(calls) == 2:
            raise OSError(5, "Input/output error")
        real(fd)

    monkeypatch.setattr(relay_server.os, "fsync", fsync)
    group = relay_server.GroupSync(str(tmp_path))
    outcome: dict[str, object] = {}

    def caller(name: str) -> None:
        try:
            group.sync()
            outcome[name] = ("returned after fsync", len(calls))
        except OSError as error:
            outcome[name] = ("error", error.errno)

    first = threading.Thread(target=caller, args=("first",))
    first.start()
    assert _wait(lambda: calls)
    waiting = [threading.Thread(target=caller, args=(name,)) for name in ("b", "c")]
    for thread in waiting:
        thread.start()
    time.sleep(0.1)                      # both wait for the fsync after the first
    gate.set()
    for thread in (first, *waiting):
        thread.join(10)
    assert outcome["first"] == ("returned after fsync", 1)
    # one of the two ran the second fsync and got its error; the other needed the third
    assert sorted([outcome["b"], outcome["c"]]) == [("error", 5), ("returned after fsync", 3)]
    assert not group.running


def _data() -> dict:
    """Two repetitions of Postfix's ingest, Mailflow's submission and both bare references at c=10."""
    ingest = [{"server": "postfix", "concurrency": 10, "reuse": False, "rep": rep, "rate": rate,
               "cpu_ms_per_msg": 1.5, "cut": False} for rep, rate in ((1, 800.0), (2, 600.0))]
    sub = []
    for rep, ours, bare, durable in ((1, 200.0, 560.0, 320.0), (2, 240.0, 480.0, 240.0)):
        common = {"concurrency": 10, "reuse": False, "rep": rep, "client_cpu_ms_per_msg": 0.5}
        sub += [dict(common, server="mailflow", viewers=0, rate=ours, cpu_ms_per_msg=5.0),
                dict(common, server="mailflow", viewers=30, rate=ours * 0.9, cpu_ms_per_msg=5.5),
                dict(common, server="aiosmtpd-relay", viewers=0, rate=bare, cpu_ms_per_msg=1.6),
                dict(common, server="aiosmtpd-relay-durable", viewers=0, rate=durable, cpu_ms_per_msg=3.0)]
    return {"meta": {"command": "bench/run", "mode": "full", "plan": {"reps": 2, "ingest_messages": 1500},
                     "date": "2026-12-06", "seconds": 60, "load_start": "0", "load_end": "0",
                     "machine": {"cpus": "2"}, "versions": {}},
            "ingest": ingest, "submission": sub}


def test_the_report_puts_the_floor_beside_the_submission_target():
    text = report.render(_data(), Path("raw.json"))
    row = next(line for line in text.splitlines()
               if line.startswith("| Submission end to end ≥ 0.5× Postfix's single-hop rate at c=10 (new)"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    # Mailflow 200/800, 240/600 -> 0.25, 0.40; bare 0.70, 0.80; with fsync 0.40, 0.40 (within each repetition)
    assert cells[1] == "0.33 [0.25–0.40]×" and cells[2] == "**missed**"
    assert cells[3] == "0.75 [0.70–0.80]× (bare two hops), 0.40 [0.40–0.40]× (with fsync)"
    # half of Postfix's median rate (700) is 350 msgs/s: 2 CPUs leave 5.71 ms a message
    budget = next(line for line in text.splitlines() if line.startswith("**The CPU a target rate leaves.**"))
    assert "350 msgs/s" in budget and "5.71 ms per message" in budget
    assert "the client took 0.50 ms, Mailflow 5.00 ms, the bare two hops 1.60 ms (3.00 ms with fsync)" in budget
    # the references never count as Mailflow's own rows
    viewers = next(line for line in text.splitlines() if line.startswith("| Submission with 30 viewers"))
    assert "0.90 [0.90–0.90]×" in viewers
