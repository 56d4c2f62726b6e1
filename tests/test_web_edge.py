"""Rule 8 (issue 12), the web's edge: the Host header (DNS rebinding), Socket.IO same-origin, and CSRF
on every state change -- judged through the Flask app and, where Engine.IO answers before Flask
(the Socket.IO handshake), through the real server in a thread on loopback.

The route table is read from the app itself, so a state-changing route added later without the
guard fails here without anyone remembering to add a case.
"""
from __future__ import annotations

import http.client
import json
from types import SimpleNamespace

import pytest

from simulator import web
from simulator.web.guard import host_allowed, same_origin
from web_fixtures import Browserish

CONTROL = ("POST", "PUT", "PATCH", "DELETE")


@pytest.fixture
def site(world):
    app = web.create_app(world.stack, {"TESTING": True})
    yield world, app
    app.extensions["mailflow"].bridge.stop()


class _Sock:
    """The accepted socket Werkzeug puts in the environ: only its local address is read."""

    def __init__(self, address: str) -> None:
        self._address = address

    def getsockname(self) -> tuple[str, int]:
        return (self._address, 8580)


# -- the Host header ------------------------------------------------------------------------------------
ALLOWED = ["localhost", "localhost:8580", "LOCALHOST", "127.0.0.1:8580", "127.3.4.5", "[::1]:8580",
           "autoconfig.beta.test"]
REFUSED = ["attacker.example", "attacker.example:8580", "192.0.2.1", "10.0.0.1:8580", "0.0.0.0:8580",
           "[::]:8580", "127.0.0.1.nip.io", "localhost.attacker.example", "beta.test", ""]


@pytest.mark.parametrize("host", ALLOWED)
def test_loopback_names_and_addresses_and_configured_names_are_served(site, host):
    _, app = site
    assert app.test_client().get("/api/state", headers={"Host": host}).status_code == 200


@pytest.mark.parametrize("host", REFUSED)
def test_any_other_name_or_address_is_refused_as_rebinding(site, host):
    _, app = site
    assert app.test_client().get("/api/state", headers={"Host": host}).status_code == 400


def test_this_computers_addresses_in_use_are_served_and_no_others():
    """A classroom browser names this computer by its LAN address: the one its connection arrived
    on, the classroom address, the web UI's own.  (A LAN address cannot be used on loopback, so the
    world's config and Werkzeug's socket are stand-ins here.)"""
    app = web.create_app(None, {"TESTING": True})
    app.extensions["mailflow"].stack = SimpleNamespace(
        config=SimpleNamespace(web_host="0.0.0.0", classroom_address="192.0.2.9"))
    cases = {("192.0.2.7:8580", "192.0.2.7"): True, ("192.0.2.9", None): True,
             ("192.0.2.8:8580", "192.0.2.7"): False, ("0.0.0.0", "0.0.0.0"): False,
             ("teacher.lan", "192.0.2.7"): False}
    for (host, arrived), expected in cases.items():
        environ = {"werkzeug.socket": _Sock(arrived)} if arrived else {}
        with app.test_request_context("/", headers={"Host": host}, environ_overrides=environ):
            assert host_allowed(host) is expected, (host, arrived)


# -- Socket.IO: same origin --------------------------------------------------------------------------------
def test_the_socket_origin_must_be_exactly_this_host():
    environ = {"HTTP_HOST": "127.0.0.1:8580", "wsgi.url_scheme": "http"}
    assert same_origin("http://127.0.0.1:8580", environ)
    assert same_origin("http://127.0.0.1:8580/", environ)
    for origin in ("http://evil.example", "http://127.0.0.1:8581", "https://127.0.0.1:8580", "null", "", None):
        assert not same_origin(origin, environ), origin
    forwarded = {**environ, "HTTP_X_FORWARDED_HOST": "evil.example", "HTTP_X_FORWARDED_PROTO": "http"}
    assert not same_origin("http://evil.example", forwarded)


def _get(port: int, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _post(port: int, path: str, body: bytes, headers: dict[str, str]) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": "text/plain;charset=UTF-8", **headers})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


HANDSHAKE = "/socket.io/?EIO=4&transport=polling"


def test_engine_io_refuses_a_cross_origin_handshake_on_the_real_server(world):
    server = web.serve(world.stack, world.stack.config, quiet=True)
    try:
        port = server.port
        ours = f"127.0.0.1:{port}"
        assert _get(port, HANDSHAKE, {"Host": ours, "Origin": f"http://{ours}"})[0] == 200
        assert _get(port, HANDSHAKE, {"Host": ours})[0] == 200          # no Origin: not a browser page
        for headers in ({"Host": ours, "Origin": "http://evil.example"},
                        {"Host": ours, "Origin": "http://evil.example", "X-Forwarded-Host": "evil.example"},
                        {"Host": ours, "Origin": f"http://localhost:{port}"}):
            assert _get(port, HANDSHAKE, headers)[0] == 400, headers
    finally:
        server.shutdown()


def test_a_rebound_page_gets_no_socket_even_from_its_own_origin(world):
    """DNS rebinding: the attacker's name now points here; its page is same-origin with itself, so
    Engine.IO opens the transport -- and the Socket.IO connect is refused for its Host."""
    server = web.serve(world.stack, world.stack.config, quiet=True)
    try:
        port = server.port
        evil = {"Host": f"rebind.attacker.example:{port}", "Origin": f"http://rebind.attacker.example:{port}"}
        status, body = _get(port, HANDSHAKE, evil)
        assert status == 200 and body.startswith(b"0")
        sid = json.loads(body[1:])["sid"]
        assert _post(port, f"{HANDSHAKE}&sid={sid}", b"40", evil) == 200     # Socket.IO CONNECT
        status, answer = _get(port, f"{HANDSHAKE}&sid={sid}", evil)
        packets = answer.split(b"\x1e")
        assert not any(p.startswith(b"40") for p in packets), packets          # never connected
        assert any(p.startswith(b"44") for p in packets), packets              # CONNECT_ERROR
        ours = {"Host": f"127.0.0.1:{port}", "Origin": f"http://127.0.0.1:{port}"}
        sid = json.loads(_get(port, HANDSHAKE, ours)[1][1:])["sid"]
        assert _post(port, f"{HANDSHAKE}&sid={sid}", b"40", ours) == 200
        packets = _get(port, f"{HANDSHAKE}&sid={sid}", ours)[1].split(b"\x1e")
        assert any(p.startswith(b"40") for p in packets), packets             # the page's own: connected
    finally:
        server.shutdown()


# -- CSRF on every state change ------------------------------------------------------------------------------
def _control_routes(app) -> list[tuple[str, str]]:
    """(method, url) for every rule of the app that changes state, placeholders filled in."""
    routes = []
    for rule in app.url_map.iter_rules():
        for method in sorted(set(rule.methods or ()) & set(CONTROL)):
            url = rule.rule
            for arg in rule.arguments:
                url = url.replace(f"<int:{arg}>", "1").replace(f"<path:{arg}>", "x").replace(f"<{arg}>", "x")
            routes.append((method, url))
    return routes


def test_the_app_has_state_changing_routes_to_guard(site):
    _, app = site
    routes = _control_routes(app)
    assert len(routes) >= 15 and ("POST", "/api/gate") in routes and ("DELETE", "/api/v1/messages") in routes


def test_every_state_change_without_the_csrf_token_is_refused(site):
    """A page on another site can make the teacher's browser (cookies, loopback address and all)
    send any request: without the session's CSRF token, each is refused before its view runs."""
    world, app = site
    before = world.stack.gate.state().mode, world.stack.queue_snapshot()
    browser = Browserish(app)                            # a loopback browser: the teacher's by address
    for method, url in _control_routes(app):
        answer = browser.client.open(url, method=method, json={"action": "pause"})
        expected = 401 if url.startswith("/api/v1") else 403
        assert answer.status_code == expected, (method, url, answer.status_code)
        foreign = browser.client.open(url, method=method, json={"action": "pause"},
                                      headers={"X-CSRF-Token": browser.token, "Origin": "http://evil.example"})
        assert foreign.status_code == expected, (method, url, foreign.status_code)
        form = browser.client.open(url, method=method, data="action=pause",
                                   content_type="application/x-www-form-urlencoded",
                                   headers={"X-CSRF-Token": browser.token})
        assert form.status_code in (expected, 415), (method, url, form.status_code)   # no HTML form gets in
    assert (world.stack.gate.state().mode, world.stack.queue_snapshot()) == before


def test_the_test_api_takes_no_ambient_credentials(site):
    """/api/v1 changes mail: a loopback address or a webmail login never opens it, and the
    teacher's cookie needs the CSRF token too; only the bearer token is not ambient."""
    world, app = site
    token = app.config["TEACHER_TOKEN"]
    browser = Browserish(app)
    assert browser.client.delete("/api/v1/messages").status_code == 401
    browser.client.get(f"/?teacher={token}")                      # the cookie is set
    assert browser.client.delete("/api/v1/messages").status_code == 403
    assert browser.client.delete("/api/v1/messages", headers={"X-CSRF-Token": browser.token}).status_code in (200, 204)
    bearer = app.test_client().delete("/api/v1/messages", headers={"Authorization": f"Bearer {token}"})
    assert bearer.status_code in (200, 204)


def test_every_cookie_stays_on_this_site_and_out_of_scripts(site):
    """SameSite=Strict: a page on another site never sends the teacher's or a webmail user's cookie
    along (so a cross-site GET acts as nobody); HttpOnly: no script, not even ours, reads them."""
    _, app = site
    client = app.test_client()
    cookies = client.get("/").headers.getlist("Set-Cookie")
    cookies += client.get(f"/?teacher={app.config['TEACHER_TOKEN']}").headers.getlist("Set-Cookie")
    names = {c.split("=", 1)[0] for c in cookies}
    assert {"mailflow_session", "mailflow_teacher"} <= names, cookies
    for cookie in cookies:
        flags = {part.strip().lower() for part in cookie.split(";")[1:]}
        assert "samesite=strict" in flags and "httponly" in flags, cookie
