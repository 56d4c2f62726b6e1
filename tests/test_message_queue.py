"""A lecture hall: one mail process and a web-only process joined by Flask-SocketIO's Redis queue.

A real ``redis-server`` (Debian's, scripts/system-packages) on a free loopback port with nothing
saved; ``app.py --message-queue`` (the mail world and its page) and ``app.py --web-only`` (the page
and viewers only, simulator/web/hall.py) as subprocesses.  Viewers are protocol-level Socket.IO
clients (Engine.IO v4 over one WebSocket, as the page connects): a teacher and a viewer on each
process.  Who is a viewer: a loopback peer is the teacher's computer, so a viewer's connection
names its browser with ``X-Forwarded-For`` as the hall's proxy does (192.0.2.x, documentation
addresses); a teacher there presents the teacher's cookie.

Judged by facts: each event's ``seq`` and ``trace``, each copy compared with the mail process's
whole event and with ``privacy.redact`` of it; the listening sockets of the web-only process
(/proc); the files of the data directory it was given.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import redis
import simple_websocket
from conftest import free_port

from simulator.web import hall, privacy

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "lecture-hall-token-0123456789"
SUBJECT = "Hall check 7f3a"
PORT_NAMES = ("mx", "submission", "smtps", "dns", "imap", "imaps", "pop3", "pop3s", "app")


def wait_until(predicate: Callable[[], Any], timeout: float = 15.0, what: str = "the fact") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


# -- a Socket.IO client: what a page is to the server -------------------------------------------------
class Viewer:
    """One Engine.IO v4 WebSocket on the default namespace; records "hello", every "events" batch
    (by seq), "follow", and acks."""

    def __init__(self, port: int, *, forwarded_for: str | None = None, teacher: bool = False) -> None:
        headers = {"Origin": "http://127.0.0.1"}      # the page's origin: simple_websocket sends Host 127.0.0.1
        if forwarded_for:
            headers["X-Forwarded-For"] = forwarded_for
        if teacher:
            headers["Cookie"] = f"mailflow_teacher={TOKEN}"
        self.ws = simple_websocket.Client.connect(f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket",
                                                  headers=headers)
        self.lock = threading.Lock()
        self.hello: dict | None = None
        self.events: dict[int, dict] = {}
        self.follows: list[dict] = []
        self.acks: dict[int, Any] = {}
        self.closed = False
        self.packets: list[str] = []
        # The namespace is asked for at once, not after the server's open packet: simple_websocket's
        # client handshake reads one event from what came with the 101 and drops the rest of the
        # batch, so an open packet that arrived in the same segment stays unread until more data
        # comes (the CI failure of stop 17: receive(5) gave None).  The answer to "40" is that data.
        self.ws.send("40")
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        wait_until(lambda: self.hello is not None, 10, "hello")
        assert self.packets[0].startswith("0"), self.packets[:3]      # Engine.IO's open came first

    def _read(self) -> None:
        while not self.closed:
            try:
                packet = self.ws.receive(0.5)
            except simple_websocket.ConnectionClosed:
                return
            if packet is None:
                continue
            if len(self.packets) < 3:
                self.packets.append(packet)
            if packet == "2":
                self.ws.send("3")
            elif packet.startswith("42"):
                name, data = json.loads(packet[2:])
                with self.lock:
                    if name == "hello":
                        self.hello = data
                    elif name == "events":
                        for event in data["events"]:
                            self.events[event["seq"]] = event
                    elif name == "follow":
                        self.follows.append(data)
            elif packet.startswith("43"):
                head, _, body = packet[2:].partition("[")
                self.acks[int(head)] = json.loads("[" + body)

    def call(self, ack_id: int, name: str, data: Any) -> Any:
        self.ws.send(f"42{ack_id}" + json.dumps([name, data]))
        return wait_until(lambda: self.acks.get(ack_id), 10, f"the ack of {name}")

    def emit(self, name: str, data: Any) -> None:
        self.ws.send("42" + json.dumps([name, data]))

    def seen(self) -> dict[int, dict]:
        with self.lock:
            return dict(self.events)

    def close(self) -> None:
        self.closed = True
        self.ws.close()
        self.thread.join(5)


# -- the processes --------------------------------------------------------------------------------------
def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    if proc.stdout is not None:
        proc.stdout.close()


def _spawn(log: Path, command: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    with log.open("w") as out:             # the child keeps its own copy of the descriptor
        return subprocess.Popen(command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=env)


def _ports_file(path: Path, proc: subprocess.Popen, log: Path) -> dict:
    wait_until(lambda: path.exists() or proc.poll() is not None, 30, f"{path.name}")
    assert proc.poll() is None, log.read_text()[-2000:]
    return json.loads(path.read_text())


class Hall:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.procs: list[subprocess.Popen] = []
        self.viewers: list[Viewer] = []

    def start(self) -> "Hall":
        server = shutil.which("redis-server")
        assert server, "redis-server is missing: scripts/system-packages installs it (Debian: redis-server)"
        self.redis_port = free_port()
        self.redis = subprocess.Popen([server, "--save", "", "--appendonly", "no", "--bind", "127.0.0.1",
                                       "--port", str(self.redis_port), "--dir", str(self.tmp)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(self.redis)
        self.queue = f"redis://127.0.0.1:{self.redis_port}/0"
        client = redis.Redis(host="127.0.0.1", port=self.redis_port, socket_connect_timeout=1)
        wait_until(lambda: self._pings(client), 10, "redis-server")
        client.close()

        main_log = self.tmp / "main.log"
        self.main = _spawn(main_log, 
            [sys.executable, str(ROOT / "app.py"), "--data", str(self.tmp / "data"), "--fresh",
             "--web-port", "0", *[f"--{name}-port=0" for name in PORT_NAMES], "--api-token", TOKEN,
             "--message-queue", self.queue, "--ports-file", str(self.tmp / "main.json")], self.tmp)
        self.procs.append(self.main)
        self.main_ports = _ports_file(self.tmp / "main.json", self.main, main_log)

        # The web-only process learns the token from <data>/api-token, as a second process on the same
        # data directory would; it gets a directory holding that file alone, to prove it writes nothing.
        self.web_data = self.tmp / "web-data"
        self.web_data.mkdir()
        shutil.copy2(self.tmp / "data" / "api-token", self.web_data / "api-token")
        web_log = self.tmp / "web.log"
        self.web = _spawn(web_log, 
            [sys.executable, str(ROOT / "app.py"), "--web-only", "--data", str(self.web_data), "--web-port", "0",
             "--main-web", f"http://127.0.0.1:{self.main_ports['web']}/", "--message-queue", self.queue,
             "--ports-file", str(self.tmp / "web.json")], self.tmp, env={**os.environ, "MAILFLOW_API_TOKEN": ""})
        self.procs.append(self.web)
        self.web_ports = _ports_file(self.tmp / "web.json", self.web, web_log)
        return self

    @staticmethod
    def _pings(client: redis.Redis) -> bool:
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False

    def viewer(self, port: int, **kwargs: Any) -> Viewer:
        viewer = Viewer(port, **kwargs)
        self.viewers.append(viewer)
        return viewer

    def request(self, port: int, method: str, path: str, body: Any = None,
                headers: dict[str, str] | None = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method,
                                         headers={"Content-Type": "application/json", **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=15) as answer:
                return answer.status, json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as err:
            with err:
                return err.code, json.loads(err.read() or b"null")

    def whole_events(self, since: int) -> dict[int, dict]:
        status, answer = self.request(self.main_ports["web"], "GET", f"/api/events?since={since}&limit=1000",
                                      headers={"Authorization": f"Bearer {TOKEN}"})
        assert status == 200, answer
        return {e["seq"]: e for e in answer["events"]}

    def stop(self) -> None:
        for viewer in self.viewers:
            viewer.close()
        for proc in reversed(self.procs):
            _stop(proc)


@pytest.fixture(scope="module")
def lecture_hall(tmp_path_factory) -> Iterator[Hall]:
    started = Hall(tmp_path_factory.mktemp("hall"))
    try:
        yield started.start()
    finally:
        started.stop()


def _listening_ports(pid: int) -> set[tuple[str, int]]:
    """(protocol, port) of every socket of ``pid`` that listens (TCP) or is bound (UDP), from /proc."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = set()
    for table in ("tcp", "tcp6", "udp", "udp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if inode in inodes and (table.startswith("udp") or state == "0A"):
                found.add((table.rstrip("6"), int(local.rsplit(":", 1)[1], 16)))
    return found


# -- the tests ----------------------------------------------------------------------------------------------
def test_viewers_on_both_processes_see_every_hop_each_with_their_copy(lecture_hall):
    hall_ = lecture_hall
    main, web = hall_.main_ports["web"], hall_.web_ports["web"]
    since = max(hall_.whole_events(0), default=0)
    clients = {
        "main teacher": hall_.viewer(main, teacher=True, forwarded_for="192.0.2.10"),
        "main viewer": hall_.viewer(main, forwarded_for="192.0.2.11"),
        "web teacher": hall_.viewer(web, teacher=True, forwarded_for="192.0.2.12"),
        "web viewer": hall_.viewer(web, forwarded_for="192.0.2.13"),
    }
    assert {name: c.hello["role"] for name, c in clients.items()} == {
        "main teacher": "teacher", "main viewer": "viewer", "web teacher": "teacher", "web viewer": "viewer"}

    # Sent through the web-only process: the teacher's control request is forwarded to the mail process.
    status, answer = hall_.request(web, "POST", "/api/send", {"from": "alice@alpha.test", "to": "bob@beta.test",
                                                              "subject": SUBJECT, "body": "hello hall"},
                                   headers={"Authorization": f"Bearer {TOKEN}"})
    assert status == 200, answer

    def delivered() -> dict[int, dict] | None:
        whole = hall_.whole_events(since)
        return whole if any(e["kind"] == "mda.deliver" and e["dst"].endswith("bob@beta.test")
                            for e in whole.values()) else None

    whole = wait_until(delivered, 15, "the delivery")
    traces = {e["trace"] for e in whole.values() if e["kind"] == "mda.deliver"}
    hops = {seq: e for seq, e in whole.items() if e["trace"] in traces}
    assert len(hops) >= 5                      # submission, DNS, relay, MX, mailbox ... every one an event
    for name, client in clients.items():
        wait_until(lambda: set(hops) <= set(client.seen()), 10, f"every hop at the {name}")
    redacted_somewhere = False
    for name, client in clients.items():
        seen = client.seen()
        for seq, event in hops.items():
            expected = event if name.endswith("teacher") else privacy.redact(event)
            assert seen[seq] == json.loads(json.dumps(expected)), (name, seq, event["kind"])
            redacted_somewhere |= seen[seq] != event
    assert redacted_somewhere                  # the viewers' copies really left something out
    assert any(SUBJECT in json.dumps(e) for e in hops.values())

    # A page that (re)connects to the web-only process catches up: the mail process's events, its own copy.
    web_viewer, web_teacher = clients["web viewer"], clients["web teacher"]
    for client, ack_id in ((web_viewer, 1), (web_teacher, 2)):
        (reply,) = client.call(ack_id, "sync", {"since": since})
        got = {e["seq"]: e for e in reply["events"]}
        assert set(hops) <= set(got)
        copy = (lambda e: e) if client is web_teacher else privacy.redact
        assert all(got[seq] == json.loads(json.dumps(copy(hops[seq]))) for seq in hops)


def test_the_teachers_view_reaches_every_process_and_latecomers(lecture_hall):
    hall_ = lecture_hall
    main, web = hall_.main_ports["web"], hall_.web_ports["web"]
    teacher = hall_.viewer(web, teacher=True, forwarded_for="192.0.2.20")
    watcher = hall_.viewer(main, forwarded_for="192.0.2.21")
    view = {"cursor": None, "selected": 3, "step": None, "trace": "t-hall"}
    (reply,) = teacher.call(7, "follow", view)
    assert reply == {"ok": True}
    wait_until(lambda: view in watcher.follows, 10, "the follow on the mail process")
    late_main = hall_.viewer(main, forwarded_for="192.0.2.22")
    late_web = hall_.viewer(web, forwarded_for="192.0.2.23")
    assert late_main.hello["follow"] == view and late_web.hello["follow"] == view
    # a viewer does not lead, on either process
    (refused,) = hall_.viewer(web, forwarded_for="192.0.2.24").call(8, "follow", {**view, "selected": 9})
    assert refused["ok"] is False


def test_the_web_only_process_forwards_the_page_and_control_to_the_mail_process(lecture_hall):
    hall_ = lecture_hall
    web = hall_.web_ports["web"]
    # a viewer (behind the hall's proxy) is judged by the mail process as a viewer: no control, no CSRF token
    status, answer = hall_.request(web, "POST", "/api/gate", {"action": "pause"},
                                   headers={"X-Forwarded-For": "192.0.2.30"})
    assert status == 403
    status, state = hall_.request(web, "GET", "/api/state", headers={"X-Forwarded-For": "192.0.2.30"})
    assert status == 200 and state["role"] == "viewer"
    status, state = hall_.request(web, "GET", "/api/state", headers={"Authorization": f"Bearer {TOKEN}"})
    assert status == 200 and state["role"] == "teacher"
    # the mail process's greeting facts, as a web-only process primes its mirror with them
    status, snapshot = hall_.request(web, "GET", hall.SNAPSHOT_PATH)
    assert status == 200 and snapshot["gate"]["mode"] in ("play", "pause")


def test_the_web_only_process_opens_no_mail_port_and_writes_nothing(lecture_hall):
    hall_ = lecture_hall
    assert _listening_ports(hall_.web.pid) == {("tcp", hall_.web_ports["web"])}
    main_ports = _listening_ports(hall_.main.pid)
    assert ("tcp", hall_.main_ports["submission"]) in main_ports and ("udp", hall_.main_ports["dns"]) in main_ports
    assert sorted(p.name for p in hall_.web_data.iterdir()) == ["api-token"]
    assert (hall_.web_data / "api-token").read_text().strip() == TOKEN


def test_forwarded_for_is_trusted_from_loopback_only():
    seen = {}

    def app(environ, start_response):
        seen["addr"] = environ["REMOTE_ADDR"]
        start_response("200 OK", [])
        return [b""]

    wrapped = hall.ForwardedFor(app, public_hosts=["hall.example"])
    unknown = hall.ForwardedFor.UNKNOWN
    for peer, host, header, expected in [
            ("127.0.0.1", "127.0.0.1:8581", "192.0.2.7", "192.0.2.7"),
            ("127.0.0.1", "hall.example", "127.0.0.1, 192.0.2.8", "192.0.2.8"),   # the proxy's entry is last
            ("::1", "[::1]:8581", "2001:db8::1", "2001:db8::1"),
            ("127.0.0.1", "127.0.0.1:8581", "not-an-address", unknown),
            ("192.0.2.9", "127.0.0.1:8581", "127.0.0.1", "192.0.2.9"),             # off loopback: ignored
            ("127.0.0.1", "127.0.0.1:8581", None, "127.0.0.1"),                     # this computer's browser
            # through the hall's proxy, but the proxy did not say for whom: not this computer
            ("127.0.0.1", "hall.example:80", None, unknown)]:
        environ = {"REMOTE_ADDR": peer, "HTTP_HOST": host}
        if header is not None:
            environ["HTTP_X_FORWARDED_FOR"] = header
        wrapped(environ, lambda *a: None)
        assert seen["addr"] == expected, (peer, host, header)
        assert environ["mailflow.peer"] == peer


@pytest.mark.parametrize("url", ["redis://192.0.2.1:6379/0", "redis://queue.example:6379/0",
                                 "amqp://127.0.0.1/", "http://127.0.0.1:6379/"])
def test_the_queue_stays_on_this_computer(url):
    with pytest.raises(hall.HallError):
        hall.check_queue_url(url)


def test_the_mirror_keeps_what_the_queue_said_over_an_older_snapshot():
    mirror = hall.Mirror()
    mirror.observe("gate", {"mode": "pause"})
    mirror.observe("events", {"events": [], "last_seq": 12})
    mirror.prime({"gate": {"mode": "play"}, "last_seq": 3, "lesson": {"state": "none"}, "follow": None})
    assert mirror.facts() == {"last_seq": 12, "gate": {"mode": "pause"}, "lesson": {"state": "none"},
                              "follow": None}
    mirror.observe("follow", {"selected": 4})
    mirror.observe("world", {"seq": 20, "name": "x"})
    assert mirror.facts()["follow"] is None and mirror.facts()["last_seq"] == 20


def test_a_web_process_decodes_only_what_it_delivers():
    """Its own emits and batches for a room none of its sockets is in are dropped undecoded."""
    import json as stdjson
    manager = hall.HallManager("redis://127.0.0.1:1/0", lambda event, data: None)
    manager.json = stdjson

    def published(room: str | None, host_id: str = "another-host", data: Any = None) -> bytes:
        # the message exactly as python-socketio's PubSubManager.emit publishes it
        return stdjson.dumps({"method": "emit", "event": "events", "data": [data or {"events": []}],
                              "binary": False, "namespace": "/", "room": room, "skip_sid": None,
                              "callback": None, "host_id": host_id}).encode()

    manager.rooms["/"] = {privacy.REDACTED: {"sid-1": "eio-1"}}
    assert manager.wanted(published(privacy.REDACTED))
    assert not manager.wanted(published(privacy.FULL))                     # nobody here in the teacher's room
    assert manager.wanted(published(None))                                 # a broadcast: gate, lesson, follow
    assert not manager.wanted(published(privacy.REDACTED, manager.host_id))   # our own: delivered already
    # a payload that itself holds a "room" key does not fool it: the message's own key comes last
    assert not manager.wanted(published(privacy.FULL, data={"room": privacy.REDACTED}))
    assert manager.wanted(b'{"method": "callback", "host_id": "x"}')


@pytest.mark.parametrize("args, says", [
    (["--web-only"], "--message-queue"),                                            # where would its events come from?
    (["--message-queue", "redis://192.0.2.1:6379/0"], "192.0.2.1"),                # the queue stays on loopback
    (["--message-queue", "redis://127.0.0.1:{free}/0", "--no-web"], "--no-web"),
    (["--message-queue", "redis://127.0.0.1:{free}/0"], "127.0.0.1:{free}"),      # nothing listens there
    (["--web-only", "--message-queue", "redis://127.0.0.1:{free}/0", "--main-web", "http://192.0.2.1:8580/"],
     "--main-web"),
    (["--web-only", "--message-queue", "redis://127.0.0.1:{free}/0"], "api-token"),  # no <data>/api-token yet
])
def test_app_refuses_a_hall_that_cannot_work(tmp_path, args, says):
    free = str(free_port())
    done = subprocess.run([sys.executable, str(ROOT / "app.py"), "--data", str(tmp_path / "data"),
                           *[a.replace("{free}", free) for a in args]],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "MAILFLOW_API_TOKEN": ""})
    assert done.returncode == 2, done.stderr
    assert says.replace("{free}", free) in done.stderr           # it names what is wrong
    assert not (tmp_path / "data" / "queue").exists()
