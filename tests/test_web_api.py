"""The web UI's server side: JSON API, Socket.IO, access control, CSRF, hostile content, layout.

Everything runs against a real mail world on loopback (conftest's start_world); the browser is
played by Flask's test client and Flask-SocketIO's test client.
"""
from __future__ import annotations

import io
import re
import time
import urllib.request
from pathlib import Path

import pytest

from simulator import narrate, nodes, tls, web
from simulator.bus import EventBus
from simulator.facts import HostStateChanged, MxTableChanged
from simulator.scenario import load_scenario, parse_scenario
from simulator.web.layout import layout
from simulator.world import World
from web_fixtures import Browserish, publish_noise, send_mail, socket_events, wait_until

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def site(world):
    app = web.create_app(world.stack, {"TESTING": True})
    yield world, app
    app.extensions["mailflow"].bridge.stop()


def socket_client(app, flask_client=None):
    socketio = app.extensions["mailflow"].socketio
    return socketio.test_client(app, flask_test_client=flask_client)


def wait_socket(client, predicate, timeout: float = 10.0) -> list[dict]:
    """Collect everything a Socket.IO test client receives until predicate(all received) holds."""
    seen: list[dict] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen.extend(client.get_received())
        if predicate(seen):
            return seen
        time.sleep(0.03)
    raise AssertionError(f"socket never got what was expected; got {[m['name'] for m in seen]}")


# -- the page ---------------------------------------------------------------------------------------
def test_page_is_served_with_a_strict_csp_and_no_inline_script(site):
    world, app = site
    response = app.test_client().get("/")
    assert response.status_code == 200
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    html = response.get_data(as_text=True)
    assert not re.search(r"<script(?![^>]*\bsrc=)", html), "inline script in the page"
    assert re.search(r'<meta name="csrf-token" content="[\w-]{20,}">', html)
    assert '<meta name="mailflow-role" content="teacher">' in html        # the test client is loopback
    assert "three domains" in html.lower()
    # no CDN: every script and stylesheet is ours
    for url in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert url.startswith("/") or url.startswith("data:"), url
    session_cookie = response.headers.get("Set-Cookie", "")
    assert "SameSite=Strict" in session_cookie and "HttpOnly" in session_cookie


def test_front_end_files_are_vendored_and_never_use_inner_html():
    assert (ROOT / "static/vendor/socket.io.min.js").stat().st_size > 10_000
    licence = (ROOT / "static/vendor/socket.io.LICENSE").read_text()
    assert "MIT" in licence and "Guillermo Rauch" in licence
    for path in (ROOT / "static/js").glob("*.js"):
        text = path.read_text()
        code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("//"))
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
            assert sink not in code, f"{path.name} uses {sink}"
        code = code.replace("http://www.w3.org/2000/svg", "")           # the SVG namespace is a name, not a URL
        assert "http://" not in code and "https://" not in code, path.name


def test_page_without_a_world_still_loads(tmp_path):
    app = web.create_app(None, {"TESTING": True})
    client = app.test_client()
    assert client.get("/").status_code == 200
    response = client.get("/api/state")
    assert response.status_code == 503 and "not running" in response.json["error"]
    assert client.get("/api/i18n/en").status_code == 200        # the page needs its words even so


def test_i18n_serves_the_interface_strings_of_every_language(site):
    world, app = site
    client = app.test_client()
    assert app.test_client().get("/api/state").json["languages"] == list(narrate.LANGUAGES)
    for lang in narrate.LANGUAGES:
        response = client.get(f"/api/i18n/{lang}")
        assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
        assert response.json == {"lang": lang, "ui": narrate.ui(lang)}
    unknown = client.get("/api/i18n/xx")
    assert unknown.status_code == 404 and "en" in unknown.json["error"]
    assert client.get("/api/i18n/" + "x" * 300).status_code == 404


# -- state, events, layout --------------------------------------------------------------------------
def test_state_describes_the_world_the_gate_and_the_role(site):
    world, app = site
    state = app.test_client().get("/api/state").json
    assert [d["name"] for d in state["world"]["domains"]] == ["alpha.test", "beta.test", "gamma.test"]
    assert state["gate"]["mode"] == "play" and state["role"] == "teacher"
    assert {u["address"] for u in state["users"]} == {"alice@alpha.test", "carol@alpha.test", "bob@beta.test"}
    assert state["mailboxes"] == {"alice@alpha.test": 0, "carol@alpha.test": 0, "bob@beta.test": 0}
    assert state["baseline"]["world"] == state["world"]
    assert any(item["service"] == "submission" and item["host"] == "front" for item in state["listeners"])


def test_layout_places_every_node_of_the_graph(site):
    world, app = site
    graph = world.stack.world.graph()
    data = app.test_client().get("/api/layout?width=1000&height=600").json
    placed = {n["id"]: n for n in data["nodes"]}
    expected = {n for n, kind in graph.nodes(data="kind") if kind != "domain"}
    assert set(placed) == expected
    for src, dst in graph.edges():
        assert any(e["src"] == src and e["dst"] == dst for e in data["edges"]), (src, dst)
    assert app.test_client().get("/api/layout?width=1000&height=600").json == data   # deterministic
    assert app.test_client().get("/api/layout?width=abc").status_code == 400


def test_front_door_and_outside_are_nodes_of_the_graph_with_their_edges():
    world = World(load_scenario(ROOT / "scenarios" / "default.yaml"))
    graph = world.graph()
    assert graph.nodes[nodes.FRONT]["kind"] == "front" and graph.nodes[nodes.OUTSIDE]["kind"] == "outside"
    edges = {(src, dst): kind for src, dst, kind in graph.edges(data="kind")}
    for domain in world.domains:
        assert edges[(nodes.FRONT, nodes.mta(world.submission_host(domain).name))] == "submission"
    for address in world.users():
        assert edges[(nodes.mailbox(address), nodes.FRONT)] == "retrieve"
    assert edges[(nodes.OUTSIDE, nodes.DNS)] == "dns" and edges[(nodes.OUTSIDE, nodes.FRONT)] == "direct"
    for host in world.hosts:
        assert edges[(nodes.OUTSIDE, nodes.mta(host))] == "direct"
    for domain in ("alpha.test", "beta.test"):                  # the domains with mailboxes
        assert edges[(nodes.OUTSIDE, nodes.imap(domain))] == edges[(nodes.OUTSIDE, nodes.pop3(domain))] == "direct"
    assert all(nodes.kind_of(n) for n in graph.nodes)            # every id is one nodes.py makes


@pytest.mark.parametrize("size", [(880, 600), (1320, 930)])
def test_layout_puts_front_door_and_outside_in_the_strip_beside_dns(size):
    world = World(load_scenario(ROOT / "scenarios" / "default.yaml"))
    data = layout(world.graph(), *size)
    placed = {n["id"]: n for n in data["nodes"]}
    front, outside, dns = placed[nodes.FRONT], placed[nodes.OUTSIDE], placed[nodes.DNS]
    columns = {c["key"]: c for c in data["columns"]}
    assert front["x"] == columns["mua"]["x"] and outside["x"] == columns["msa"]["x"]
    assert front["x"] + front["w"] < outside["x"] and outside["x"] + outside["w"] < dns["x"]
    first_band = min(box["y"] for box in data["domains"])
    for node in (front, outside, dns):
        assert node["y"] + node["h"] < first_band
        assert abs(node["y"] + node["h"] / 2 - (dns["y"] + dns["h"] / 2)) < 1    # one row, one line to DNS
    drawn = {(e["src"], e["dst"]): e["points"] for e in data["edges"]}
    assert len(drawn[(nodes.OUTSIDE, nodes.DNS)]) == 2                           # straight across
    into_front = drawn[(nodes.mailbox("bob@beta.test"), nodes.FRONT)]
    x, y = into_front[-1]                                                        # up into the front door
    assert abs(x - (front["x"] + front["w"] / 2)) < 0.2 and abs(y - (front["y"] + front["h"])) < 0.2
    assert all(first_band > y > front["y"] + front["h"] for _, y in into_front[-3:-1])    # under the strip


def _boxes_overlap(a, b) -> bool:
    return a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"] and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"]


BIG_WORLD = "\n".join(["name: big", "domains:"] + [
    f"  d{i}.test:\n    users: {{{', '.join(f'user{j}: pw' for j in range(3))}}}\n"
    f"    hosts:\n      smtp.d{i}.test: {{role: msa}}\n      mx.d{i}.test: {{role: mx}}\n"
    f"      backup.d{i}.test: {{role: backup-mx}}\n"
    f"    mx: [{{preference: 10, host: mx.d{i}.test}}, {{preference: 20, host: backup.d{i}.test}}]"
    for i in range(1, 6)]) + "\n"


@pytest.mark.parametrize("scenario", ["default", "mx-failover", "bounce", "big"])
@pytest.mark.parametrize("size", [(880, 600), (1320, 930)])   # the diagram area at 1280x720 and 1920x1080
def test_layout_fits_the_screen_without_overlaps(scenario, size):
    if scenario == "big":
        world = World(parse_scenario(BIG_WORLD, "big.yaml"))
    else:
        world = World(load_scenario(ROOT / "scenarios" / f"{scenario}.yaml"))
    data = layout(world.graph(), *size)
    assert data == layout(world.graph(), *size)
    nodes = data["nodes"]
    for n in nodes:
        assert 0 <= n["x"] and n["x"] + n["w"] <= data["width"] and 0 <= n["y"] and n["y"] + n["h"] <= data["height"], n
    for i, a in enumerate(nodes):
        for b in nodes[i + 1:]:
            assert not _boxes_overlap(a, b), (a["id"], b["id"])
    for box in data["domains"]:
        inside = [n for n in nodes if n.get("domain") == box["name"]]
        assert all(box["x"] <= n["x"] and n["x"] + n["w"] <= box["x"] + box["w"] and
                   box["y"] <= n["y"] and n["y"] + n["h"] <= box["y"] + box["h"] for n in inside)
    if scenario != "big":
        # the classroom scenarios fit the screen at full size: no scaling down, legible text
        assert (data["width"], data["height"]) == size and data["scale"] >= 1.0


def test_events_api_pages_through_history(site):
    world, app = site
    publish_noise(world.stack.bus, 5)
    client = app.test_client()
    page = client.get("/api/events?since=0&limit=2").json
    assert [e["seq"] for e in page["events"]] == [1, 2] and page["more"] and page["first_seq"] == 1
    rest = client.get("/api/events?since=2").json
    assert [e["seq"] for e in rest["events"]] == [3, 4, 5] and not rest["more"] and rest["last_seq"] == 5


# -- control: CSRF, teacher and viewers -------------------------------------------------------------
def test_control_needs_the_csrf_token_and_json(site):
    world, app = site
    client = app.test_client()
    assert client.post("/api/gate", json={"action": "pause"}).status_code == 403          # no token
    browser = Browserish(app)
    wrong = browser.client.post("/api/gate", json={"action": "pause"}, headers={"X-CSRF-Token": "nope"})
    assert wrong.status_code == 403 and "CSRF" in wrong.json["error"]
    form = browser.client.post("/api/gate", data={"action": "pause"}, headers={"X-CSRF-Token": browser.token})
    assert form.status_code == 415
    foreign = browser.client.post("/api/gate", json={"action": "pause"},
                                  headers={"X-CSRF-Token": browser.token, "Origin": "http://evil.example"})
    assert foreign.status_code == 403
    assert world.stack.gate.state().mode == "play"
    ok = browser.post("/api/gate", {"action": "pause"})
    assert ok.status_code == 200, ok.json
    wait_until(lambda: world.stack.gate.state().mode == "pause", what="pause")


def test_dns_rebinding_host_is_refused(site):
    world, app = site
    assert app.test_client().get("/", headers={"Host": "attacker.example:8580"}).status_code == 400
    assert app.test_client().get("/", headers={"Host": "127.0.0.1:8580"}).status_code == 200
    assert app.test_client().get("/", headers={"Host": "localhost"}).status_code == 200


def test_socket_refuses_a_rebound_host(site):
    world, app = site
    socketio = app.extensions["mailflow"].socketio
    assert not socketio.test_client(app, headers={"Host": "attacker.example:8580"}).is_connected()
    assert socketio.test_client(app, headers={"Host": "127.0.0.1:8580"}).is_connected()


def test_gate_controls_are_broadcast_to_every_browser(site):
    world, app = site
    teacher = Browserish(app)
    watcher = socket_client(app)
    other = socket_client(app)
    hello = [m for m in watcher.get_received() if m["name"] == "hello"]
    assert hello and hello[0]["args"][0]["gate"]["mode"] == "play"
    assert teacher.post("/api/gate", {"action": "pause", "delay": 1.5}).status_code == 200
    for client in (watcher, other):
        got = wait_socket(client, lambda seen: any(m["name"] == "gate" and m["args"][0]["mode"] == "pause"
                                                   and m["args"][0]["delay"] == 1.5 for m in seen))
        assert got
    assert teacher.post("/api/gate", {"granularity": "line"}).status_code == 200
    wait_until(lambda: world.stack.gate.state().granularity == "line")
    bad = teacher.post("/api/gate", {"action": "explode"})
    assert bad.status_code == 400 and "play, pause, step" in bad.json["error"]
    assert teacher.post("/api/gate", {"delay": 99}).status_code == 400
    assert teacher.post("/api/gate", {"granularity": "word"}).status_code == 400
    teacher.post("/api/gate", {"action": "play", "granularity": "hop", "delay": 0})
    watcher.disconnect()
    other.disconnect()


def test_shared_classroom_viewers_watch_but_cannot_control(world):
    app = web.create_app(world.stack, {"TESTING": True, "SHARED": True, "TEACHER_TOKEN": "s3cret-token-for-tests"})
    try:
        student = Browserish(app, remote_addr="192.168.1.23")
        page = student.get("/").get_data(as_text=True)
        assert '<meta name="mailflow-role" content="viewer">' in page
        assert student.get("/api/state").json["role"] == "viewer"
        refused = student.post("/api/gate", {"action": "pause"})
        assert refused.status_code == 403 and "teacher" in refused.json["error"]
        assert student.post("/api/hosts/mx1.beta.test", {"up": False}).status_code == 403
        assert student.post("/api/send", {"from": "alice@alpha.test", "to": "bob@beta.test"}).status_code == 403
        assert student.get("/?teacher=wrong").status_code == 303
        assert student.post("/api/gate", {"action": "pause"}).status_code == 403
        assert world.stack.gate.state().mode == "play" and world.stack.world.hosts["mx1.beta.test"].up

        # the teacher's laptop on the classroom network opens the secret link
        teacher = Browserish(app, remote_addr="192.168.1.10")
        redirect = teacher.get("/?teacher=s3cret-token-for-tests")
        assert redirect.status_code == 303 and redirect.headers["Location"] == "/"
        cookie = redirect.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert '<meta name="mailflow-role" content="teacher">' in teacher.get("/").get_data(as_text=True)
        assert teacher.post("/api/gate", {"action": "pause"}).status_code == 200

        # a browser on the teacher's own computer (loopback) controls too
        assert Browserish(app, remote_addr="127.0.0.1").post("/api/gate", {"action": "play"}).status_code == 200
        # a script with the bearer token needs no CSRF token (it is not ambient authority)
        script = app.test_client()
        script.environ_base["REMOTE_ADDR"] = "192.168.1.50"
        ok = script.post("/api/gate", json={"action": "pause"},
                         headers={"Authorization": "Bearer s3cret-token-for-tests"})
        assert ok.status_code == 200
        wait_until(lambda: world.stack.gate.state().mode == "pause")
        world.stack.gate.play()
    finally:
        app.extensions["mailflow"].bridge.stop()


# -- world controls ---------------------------------------------------------------------------------
def test_host_down_and_up(site):
    world, app = site
    teacher = Browserish(app)
    response = teacher.post("/api/hosts/mx1.beta.test", {"up": False})
    assert response.status_code == 200 and response.json["host"]["up"] is False
    assert world.stack.world.hosts["mx1.beta.test"].up is False
    change = world.events.wait_for(lambda e: e.kind.startswith("world."))[0]
    assert change.kind == "world.host" and isinstance(change.fact, HostStateChanged)
    assert change.data == {"what": "host", "host": "mx1.beta.test", "up": False}
    state = teacher.get("/api/state").json
    assert state["world_changes"][0]["seq"] == change.seq and state["world_changes"][0]["kind"] == "world.host"
    assert teacher.post("/api/hosts/nosuch.test", {"up": False}).status_code == 404
    assert teacher.post("/api/hosts/mx1.beta.test", {"up": "no"}).status_code == 400
    assert teacher.post("/api/hosts/mx1.beta.test", {"up": True}).json["host"]["up"] is True
    # the host's listeners come back (on the mail loop) before the test ends
    wait_until(lambda: any(item["host"] == "mx1.beta.test" for item in world.stack.listener_table()),
               what="mx1.beta.test listening again")


def test_mx_table_editing_and_its_errors(site):
    world, app = site
    teacher = Browserish(app)
    bad = teacher.put("/api/mx/beta.test", {"records": [{"preference": "ten", "host": "mx1.beta.test"}]})
    assert bad.status_code == 400 and "preference" in bad.json["error"]
    msa = teacher.put("/api/mx/beta.test", {"records": [{"preference": 10, "host": "smtp.beta.test"}]})
    assert msa.status_code == 400 and "MSA" in msa.json["error"]
    twice = teacher.put("/api/mx/beta.test", {"records": [{"preference": 10, "host": "mx1.beta.test"},
                                                          {"preference": 20, "host": "mx1.beta.test"}]})
    assert twice.status_code == 400 and "twice" in twice.json["error"]
    assert teacher.put("/api/mx/nosuch.test", {"records": []}).status_code == 400
    assert teacher.put("/api/mx/beta.test", {"records": "x"}).status_code == 400
    good = teacher.put("/api/mx/beta.test", {"records": [{"preference": "5", "host": "mx2.beta.test"},
                                                         {"preference": 10, "host": "mx1.beta.test"}]})
    assert good.status_code == 200
    assert good.json["mx"] == [{"preference": 5, "host": "mx2.beta.test"}, {"preference": 10, "host": "mx1.beta.test"}]
    # the layout follows: the backup MX now also gets mail straight from the MSAs
    edges = teacher.get("/api/layout").json["edges"]
    assert any(e["src"] == "mta:smtp.alpha.test" and e["dst"] == "mta:mx2.beta.test" and e["preference"] == 5
               for e in edges)


# -- sending from the page and live events ------------------------------------------------------------
def test_send_delivers_and_every_hop_reaches_the_browser_in_order(site):
    world, app = site
    teacher = Browserish(app)
    live = socket_client(app, teacher.client)
    response = teacher.post("/api/send", {"from": "alice@alpha.test", "to": "bob@beta.test",
                                          "subject": "Привет, Боб", "body": "Здравствуй!\nКак дела?"})
    assert response.status_code == 200 and response.json["reply"].startswith("250"), response.json
    world.wait_messages("bob@beta.test")
    delivered = world.events.wait_for(lambda e: e.kind == "mda.deliver")[0]
    received = wait_socket(live, lambda seen: any(e["seq"] == delivered.seq for e in socket_events(seen)))
    events = socket_events(received)
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    kinds = [e["kind"] for e in events if e["trace"] == delivered.trace]
    assert kinds == ["smtp.session", "dns.query", "smtp.session", "queue.relay", "mda.deliver"]
    submission = next(e for e in events if e["kind"] == "smtp.session")
    assert submission["src"] == "mua:alice@alpha.test" and submission["message"]["subject"] == "Привет, Боб"
    assert set(submission["text"]) == set(narrate.LANGUAGES)
    assert all(set(words) == {"summary", "explain"} for words in submission["text"].values())
    message = teacher.get("/api/mailbox/bob@beta.test").json["messages"][0]
    text = teacher.get(f"/api/mailbox/bob@beta.test/{message['key']}").json["text"]
    assert "Как дела?" in text
    live.disconnect()


def test_send_checks_its_input(site):
    world, app = site
    teacher = Browserish(app)
    cases = [
        ({"from": "mallory@alpha.test", "to": "bob@beta.test"}, "not a user"),
        ({"from": "alice@alpha.test", "to": "not an address"}, "not an e-mail address"),
        ({"from": "alice@alpha.test", "to": "bob@beta.test", "subject": "x\r\nBcc: eve@evil.test"}, "header"),
        ({"from": "alice@alpha.test", "to": "bob@beta.test", "subject": "s" * 400}, "too long"),
    ]
    for body, error in cases:
        response = teacher.post("/api/send", body)
        assert response.status_code == 400 and error in response.json["error"], (body, response.json)
    assert teacher.post("/api/send", ["not", "an", "object"]).status_code == 400


def test_send_in_step_mode_answers_at_once_and_waits_at_the_gate(site):
    world, app = site
    teacher = Browserish(app)
    world.stack.gate.pause()
    response = teacher.post("/api/send", {"from": "carol@alpha.test", "to": "bob@beta.test", "subject": "s"})
    assert response.status_code == 202 and response.json["pending"]
    assert world.messages("bob@beta.test") == []
    teacher.post("/api/gate", {"action": "play"})
    world.wait_messages("bob@beta.test")


def test_late_joiner_syncs_the_whole_history(site):
    world, app = site
    send_mail(world.stack, subject="before you came")
    delivered = world.events.wait_for(lambda e: e.kind == "mda.deliver")[0]

    def sync_once(data):          # one connection per question: a sync a second per connection
        client = socket_client(app)
        try:
            return client.emit("sync", data, callback=True)
        finally:
            client.disconnect()
    reply = sync_once({"since": 0})
    assert [e["seq"] for e in reply["events"]] == list(range(1, world.stack.bus.last_seq + 1))
    assert any(e["seq"] == delivered.seq for e in reply["events"])
    assert sync_once({"since": world.stack.bus.last_seq})["events"] == []
    assert sync_once({"since": "garbage"})["first_seq"] == 1
    middle = sync_once({"since": 3})
    assert middle["first_seq"] == 4 and middle["events"][0]["seq"] == 4


def test_a_second_sync_within_the_interval_is_throttled(world):
    app = web.create_app(world.stack, {"TESTING": True, "SYNC_INTERVAL": 0.5})
    try:
        publish_noise(world.stack.bus, 3)
        client = socket_client(app)
        first = client.emit("sync", {"since": 0}, callback=True)
        assert [e["seq"] for e in first["events"]] == [1, 2, 3] and "throttled" not in first
        second = client.emit("sync", {"since": 0}, callback=True)
        assert second["throttled"] is True and second["events"] == [] and second["more"] is False
        assert 0 < second["retry_after"] <= 0.5 and "first_seq" not in second
        other = socket_client(app)              # the limit is per connection
        assert len(other.emit("sync", {"since": 0}, callback=True)["events"]) == 3
        time.sleep(second["retry_after"] + 0.05)
        third = client.emit("sync", {"since": 0}, callback=True)
        assert "throttled" not in third and len(third["events"]) == 3
        client.disconnect()
        other.disconnect()
    finally:
        app.extensions["mailflow"].bridge.stop()


def test_socket_connections_are_capped_per_address_and_in_all(world):
    app = web.create_app(world.stack, {"TESTING": True, "SOCKET_MAX_PER_ADDRESS": 2, "SOCKET_MAX_CONNECTIONS": 3})
    socketio = app.extensions["mailflow"].socketio
    guard = app.extensions["mailflow"].sockets

    def connect(address):
        return socketio.test_client(app, flask_test_client=Browserish(app, remote_addr=address).client)
    try:
        a1, a2, a3 = connect("10.0.0.1"), connect("10.0.0.1"), connect("10.0.0.1")
        assert a1.is_connected() and a2.is_connected() and not a3.is_connected()
        b1, b2 = connect("10.0.0.2"), connect("10.0.0.2")
        assert b1.is_connected() and not b2.is_connected()          # 3 in all
        assert guard.connections == 3
        a1.disconnect()
        assert guard.connections == 2
        a4 = connect("10.0.0.1")
        assert a4.is_connected() and guard.connections == 3
        for client in (a2, b1, a4):
            client.disconnect()
        assert guard.connections == 0
    finally:
        app.extensions["mailflow"].bridge.stop()


# -- connecting a real mail client ------------------------------------------------------------------
FINGERPRINT = re.compile(r"^(?:[0-9A-F]{2}:){31}[0-9A-F]{2}$")


def test_clients_api_gives_every_user_the_front_door_settings(site):
    world, app = site
    stack = world.stack
    front = {item["service"]: item["port"] for item in stack.listener_table() if item["host"] == "front"}
    data = app.test_client().get("/api/clients").json
    assert data["tls"] is True and data["passwords_shown"] is True
    assert data["servers"] == {
        "imap": {"host": "localhost", "port": front["imap"], "starttls": True, "ssl_port": front["imaps"]},
        "pop3": {"host": "localhost", "port": front["pop3"], "starttls": True, "ssl_port": front["pop3s"]},
        "smtp": {"host": "localhost", "port": front["submission"], "starttls": True, "ssl_port": front["smtps"]},
    }
    fingerprint = data["certificate"]["sha256"]
    assert FINGERPRINT.match(fingerprint), fingerprint
    cert_path, _key = tls.ensure_certificate(stack.config.data_dir)
    assert fingerprint == tls.fingerprint(cert_path)
    assert data["autoconfig_url"] == "http://localhost/autoconfig/v1.1/"
    users = {u["address"]: u for u in data["users"]}
    assert set(users) == {"alice@alpha.test", "carol@alpha.test", "bob@beta.test"}
    bob = users["bob@beta.test"]
    assert bob["login"] == "bob@beta.test" and bob["password"] == "bob" and bob["domain"] == "beta.test"
    assert bob["commands"]["curl"] == (f"curl imap://127.0.0.1:{front['imap']}/INBOX -u bob@beta.test:bob "
                                       f"-X 'UID SEARCH ALL'")
    swaks = users["alice@alpha.test"]["commands"]["swaks"]
    assert swaks.startswith(f"swaks --server 127.0.0.1:{front['submission']} --auth PLAIN ")
    assert "--auth-user alice@alpha.test --auth-password alice" in swaks and "--to bob@beta.test" in swaks
    xml = app.test_client().get(bob["autoconfig"])
    assert xml.status_code == 200 and f"<port>{front['imaps']}</port>" in xml.get_data(as_text=True)
    assert app.test_client().get("/api/clients").headers["Cache-Control"] == "no-store"


def test_clients_api_hides_passwords_from_viewers_in_shared_mode(world):
    app = web.create_app(world.stack, {"TESTING": True, "SHARED": True, "TEACHER_TOKEN": "s3cret-token-for-tests"})
    try:
        student = Browserish(app, remote_addr="192.168.1.23")
        data = student.get("/api/clients").json
        assert data["passwords_shown"] is False
        assert all(u["password"] is None for u in data["users"])
        text = student.get("/api/clients").get_data(as_text=True)
        for password in ("alice", "carol", "bob"):
            assert f":{password}" not in text and f"--auth-password {password}" not in text
        bob = next(u for u in data["users"] if u["address"] == "bob@beta.test")
        assert " -u bob@beta.test -X " in bob["commands"]["curl"]          # curl asks for the password
        assert data["servers"]["imap"]["port"] and FINGERPRINT.match(data["certificate"]["sha256"])
        # the teacher, on the classroom network, with the secret link's cookie or the bearer token
        teacher = Browserish(app, remote_addr="192.168.1.10")
        teacher.get("/?teacher=s3cret-token-for-tests")
        assert {u["password"] for u in teacher.get("/api/clients").json["users"]} == {"alice", "carol", "bob"}
        script = app.test_client()
        script.environ_base["REMOTE_ADDR"] = "192.168.1.50"
        assert script.get("/api/clients", headers={"Authorization": "Bearer s3cret-token-for-tests"}).json["passwords_shown"]
    finally:
        app.extensions["mailflow"].bridge.stop()


def test_clients_api_without_tls_has_no_certificate(start_world):
    world = start_world(tls=False)
    app = web.create_app(world.stack, {"TESTING": True})
    try:
        data = app.test_client().get("/api/clients").json
        assert data["tls"] is False and data["certificate"] is None
        assert data["servers"]["imap"]["ssl_port"] is None and data["servers"]["imap"]["starttls"] is False
        assert data["servers"]["imap"]["port"] == next(item["port"] for item in world.stack.listener_table()
                                                       if item["host"] == "front" and item["service"] == "imap")
    finally:
        app.extensions["mailflow"].bridge.stop()


def test_bursts_are_batched(site):
    world, app = site
    live = socket_client(app)
    live.get_received()
    publish_noise(world.stack.bus, 1000)
    received = wait_socket(live, lambda seen: len(socket_events(seen)) >= 1000)
    batches = [m for m in received if m["name"] == "events"]
    assert [e["seq"] for e in socket_events(received)] == list(range(1, 1001))
    assert len(batches) <= 40, f"{len(batches)} messages for 1000 events"
    live.disconnect()


# -- hostile mail -----------------------------------------------------------------------------------
PAYLOAD_HTML = ('<p>Hi</p><script>top.pwned=1</script><img src=x onerror="top.pwned=2">'
                '<a href="javascript:top.pwned=3">click</a><iframe src="https://evil.example/"></iframe>')


def test_html_bodies_are_served_alone_under_a_sandbox_csp(site):
    world, app = site
    subject = '<img src=x onerror="alert(1)"> & <script>alert(2)</script>'
    send_mail(world.stack, subject=subject, html=PAYLOAD_HTML)
    world.wait_messages("bob@beta.test")
    client = app.test_client()
    listing = client.get("/api/mailbox/bob@beta.test").json
    assert listing["messages"][0]["subject"] == subject               # data, not markup: the page escapes it
    key = listing["messages"][0]["key"]
    message = client.get(f"/api/mailbox/bob@beta.test/{key}").json
    assert message["has_html"] and "Hi Bob!" in message["text"] and len(message["received"]) >= 2
    html = client.get(f"/api/mailbox/bob@beta.test/{key}/html")
    assert html.status_code == 200 and html.mimetype == "text/html"
    csp = html.headers["Content-Security-Policy"]
    assert csp.startswith("sandbox;") and "default-src 'none'" in csp and "script-src" not in csp
    assert "style-src 'unsafe-inline'" in csp and "img-src data:" in csp
    assert html.headers["X-Content-Type-Options"] == "nosniff"
    assert "<script>" in html.get_data(as_text=True)       # served as it is, made harmless by the CSP sandbox
    assert client.get("/api/mailbox/bob@beta.test/..%2F..%2Fqueue").status_code in (400, 404)
    assert client.get("/api/mailbox/bob@beta.test/.hidden").status_code == 400
    assert client.get("/api/mailbox/nobody@beta.test").status_code == 404
    assert client.get(f"/api/mailbox/bob@beta.test/{key}x").status_code == 404


# -- running the server ---------------------------------------------------------------------------------
def test_serve_runs_in_a_thread_prints_the_teacher_url_and_shuts_down(world):
    out = io.StringIO()
    server = web.serve(world.stack, world.stack.config, out=out)
    try:
        printed = out.getvalue()
        assert server.teacher_url in printed and "?teacher=" in server.teacher_url
        assert server.url.startswith("http://127.0.0.1:") and server.port > 0
        with urllib.request.urlopen(server.url + "api/state", timeout=5) as response:
            assert response.status == 200
        with urllib.request.urlopen(server.teacher_url, timeout=5) as response:   # follows the 303
            assert b'content="teacher"' in response.read()
    finally:
        server.shutdown()
    with pytest.raises(OSError):
        urllib.request.urlopen(server.url, timeout=2)


def test_bridge_keeps_world_changes_beyond_the_bounded_history(start_world, tmp_path):
    world = start_world()
    small = EventBus(history=10)
    original, world.stack.bus = world.stack.bus, small     # a bus whose history forgets quickly
    app = web.create_app(world.stack, {"TESTING": True})
    try:
        small.publish(MxTableChanged(src=nodes.DNS, dst=nodes.DNS, domain="beta.test", mx=((5, "mx2.beta.test"),)))
        publish_noise(small, 30)
        wait_until(lambda: app.extensions["mailflow"].bridge.world_change_list())
        state = app.test_client().get("/api/state").json
        assert state["world_changes"][0]["kind"] == "world.mx"
        assert state["world_changes"][0]["data"]["mx"] == [[5, "mx2.beta.test"]]
        events = app.test_client().get("/api/events?since=0").json
        assert events["first_seq"] == 22 and len(events["events"]) == 10
    finally:
        app.extensions["mailflow"].bridge.stop()
        world.stack.bus = original
        small.close()
