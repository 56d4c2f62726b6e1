"""A page's WebSocket has Engine.IO's timeout before its reader thread starts (simulator/web/fanout.py).

CPython's ``socket.recv`` captures the socket's timeout when it is called: a reader thread already in
``recv`` of a blocking socket when another thread gives the socket a timeout (which makes the
descriptor non-blocking) retries ``recv`` -> EAGAIN without ``poll`` until data arrives -- a busy loop
of up to a ping interval.  Engine.IO's handler sets the timeout after simple-websocket has started the
reader; ours sets it first.  Facts asserted: the socket's timeout when the WebSocket (and its reader)
is made, and on a real page, that the reader thread's socket is in timeout mode from the start.
"""
from __future__ import annotations

import socket
import types

from simulator.web import fanout
from web_fixtures import serve, wait_until
from test_fanout import Page
from wsproto.extensions import PerMessageDeflate


def test_the_timeout_is_set_before_the_reader_starts(monkeypatch):
    seen = []

    class Recording:
        mode = "werkzeug"

        def __init__(self, environ, **kwargs):
            seen.append(environ["werkzeug.socket"].gettimeout())

    monkeypatch.setattr(fanout, "_Server", Recording)
    server = types.SimpleNamespace(ping_interval=20, ping_timeout=20)
    ours, theirs = socket.socketpair()
    try:
        assert ours.gettimeout() is None                       # blocking, as Werkzeug hands it over
        ws = fanout.WebSocket(lambda w: None, server)
        try:
            ws({"werkzeug.socket": ours}, None)
        except ConnectionError:              # werkzeug mode ends the request so
            pass
        assert seen == [40.0] and ours.gettimeout() == 40.0
    finally:
        ours.close()
        theirs.close()


def test_without_engineio_figures_nothing_is_set(monkeypatch):
    monkeypatch.setattr(fanout, "_Server", lambda environ, **kw: types.SimpleNamespace(mode="unknown"))
    ours, theirs = socket.socketpair()
    try:
        fanout.WebSocket(lambda w: None, object())({"werkzeug.socket": ours}, None)
        assert ours.gettimeout() is None
    finally:
        ours.close()
        theirs.close()


def test_a_real_pages_reader_socket_has_the_timeout(world, monkeypatch):
    made = []
    original = fanout._Server.__init__

    def record(self, environ, **kwargs):
        made.append(environ["werkzeug.socket"].gettimeout())
        original(self, environ, **kwargs)

    monkeypatch.setattr(fanout._Server, "__init__", record)
    server = serve(world.stack)
    page = None
    try:
        page = Page(server.port, PerMessageDeflate())
        wait_until(lambda: page._pump() or any(t.startswith('42["hello"') for t in page.texts), 10, what="hello")
        engine = server.app.extensions["mailflow"].socketio.server.eio
        assert made and made[0] == float(engine.ping_interval + engine.ping_timeout)
    finally:
        if page is not None:
            page.close()
        server.shutdown()
