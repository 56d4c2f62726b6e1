"""The bridge's batches framed once for every page (simulator/web/fanout.py): what each kind of page
receives is the same batch, whatever it agreed to -- compression or not, a WebSocket or long-polling."""
from __future__ import annotations

import http.client
import json
import socket
import zlib

import pytest
import socketio
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Request, TextMessage
from wsproto.extensions import PerMessageDeflate

from simulator.web import fanout
from web_fixtures import browser, publish_noise, serve, site, wait_until  # noqa: F401  (fixtures)


# -- the frames ---------------------------------------------------------------------------------------
def parse_frame(frame: bytes) -> tuple[int, bool, bytes]:
    """(opcode, RSV1, payload) of one unmasked final frame; fails on anything else."""
    b0, b1 = frame[0], frame[1]
    assert b0 & 0x80 and not b1 & 0x80            # final, unmasked (a server's frame)
    n, at = b1 & 0x7F, 2
    if n == 126:
        n, at = int.from_bytes(frame[2:4], "big"), 4
    elif n == 127:
        n, at = int.from_bytes(frame[2:10], "big"), 10
    assert len(frame) == at + n
    return b0 & 0x0F, bool(b0 & 0x40), frame[at:]


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 200_000])
def test_a_frame_carries_the_whole_packet_plain_or_compressed(size):
    prepared = fanout.Prepared("2" + json.dumps(["events", {"x": "я" * size}], ensure_ascii=False))
    expected = prepared.wire.encode("utf-8")
    opcode, rsv1, payload = parse_frame(prepared.frame(False))
    assert (opcode, rsv1, payload) == (1, False, expected)
    opcode, rsv1, payload = parse_frame(prepared.frame(True))
    assert (opcode, rsv1) == (1, True)
    assert zlib.decompressobj(-15).decompress(payload + b"\x00\x00\xff\xff") == expected
    assert prepared.frame(True) is prepared.frame(True)          # made once


def test_a_lone_surrogate_is_escaped_as_python_socketio_did_and_the_frame_stays_utf8():
    data = {"events": [{"seq": 1, "transcript": [["C", "MAIL FROM:<\udcff@x>"]], "ru": "Письмо"}]}
    prepared = fanout.prepare("events", data)
    theirs = socketio.packet.Packet(socketio.packet.EVENT, data=["events", data]).encode()
    assert prepared.wire == "4" + theirs          # exactly python-socketio's text (\\u escapes)
    _opcode, _rsv1, payload = parse_frame(prepared.frame(False))
    assert json.loads(payload.decode("utf-8")[2:]) == json.loads(theirs[1:])


def test_the_packet_is_what_python_socketio_would_send_in_utf8():
    data = {"events": [{"seq": 1, "ts": 1.5, "text": {"ru": "Письмо", "en": "A letter"}}], "last_seq": 1}
    ours = fanout.encode("events", data)
    theirs = socketio.packet.Packet(socketio.packet.EVENT, data=["events", data]).encode()
    assert ours[0] == theirs[0] == "2"
    assert json.loads(ours[1:]) == json.loads(theirs[1:])
    assert "Письмо" in ours                       # UTF-8, not \\u escapes: fewer bytes per page
    assert fanout.Prepared(ours).encode() == "4" + ours       # what long-polling sends


# -- real pages on a real server ----------------------------------------------------------------------
class Page:
    """A WebSocket page written with wsproto (an implementation apart from the server's own
    framing): offers permessage-deflate as browsers do, or ``extension`` as given, or nothing."""

    def __init__(self, port: int, extension: PerMessageDeflate | None) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=0.2)
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.extension = extension
        self.sock.sendall(self.ws.send(Request(
            host=f"127.0.0.1:{port}", target="/socket.io/?EIO=4&transport=websocket",
            extensions=[extension] if extension else [], extra_headers=[(b"origin", f"http://127.0.0.1:{port}".encode())])))
        self.accepted: AcceptConnection | None = None
        self.texts: list[str] = []
        self._partial = ""          # wsproto hands a frame that came in several reads as several parts
        wait_until(lambda: self._pump() or self.accepted is not None, 10, what="the 101")
        self.sock.sendall(self.ws.send(TextMessage("40")))

    def _pump(self) -> None:
        try:
            data = self.sock.recv(1 << 20)
        except TimeoutError:
            return
        self.ws.receive_data(data)
        for event in self.ws.events():
            if isinstance(event, AcceptConnection):
                self.accepted = event
            elif isinstance(event, TextMessage):
                self._partial += event.data
                if not event.message_finished:
                    continue
                text, self._partial = self._partial, ""
                self.texts.append(text)
                if text == "2":
                    self.sock.sendall(self.ws.send(TextMessage("3")))

    def events(self) -> list[int]:
        seqs = []
        for text in self.texts:
            if text.startswith('42["events"'):
                seqs.extend(e["seq"] for e in json.loads(text[2:])[1]["events"])
        return seqs

    def close(self) -> None:
        self.sock.close()


class PollingPage:
    """A page still on Engine.IO long-polling (before its upgrade, or where WebSockets are blocked)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.headers = {"Origin": f"http://127.0.0.1:{port}"}
        opened = self._request("GET", "")
        assert opened.startswith("0"), opened
        self.sid = json.loads(opened[1:])["sid"]
        assert self._request("POST", "40") == "OK"
        self.texts: list[str] = []

    def _request(self, method: str, body: str) -> str:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        sid = f"&sid={self.sid}" if hasattr(self, "sid") else ""
        connection.request(method, f"/socket.io/?EIO=4&transport=polling{sid}", body=body.encode() or None,
                           headers=self.headers)
        answer = connection.getresponse().read().decode()
        connection.close()
        return answer

    def poll(self) -> None:
        self.texts.extend(self._request("GET", "").split("\x1e"))

    def events(self) -> list[int]:
        return [e["seq"] for text in self.texts if text.startswith('42["events"')
                for e in json.loads(text[2:])[1]["events"]]


def test_every_kind_of_page_gets_every_event_of_a_batch_compressed_once(world, monkeypatch):
    compressed = []
    deflate = fanout.deflate
    monkeypatch.setattr(fanout, "deflate", lambda payload: compressed.append(payload) or deflate(payload))
    server = serve(world.stack)
    pages = {}
    try:
        pages = {"deflate": Page(server.port, PerMessageDeflate()),         # what a browser offers
                 "deflate too": Page(server.port, PerMessageDeflate()),
                 "plain": Page(server.port, None),
                 "small window": Page(server.port, PerMessageDeflate(server_max_window_bits=10))}
        polling = PollingPage(server.port)
        for page in pages.values():
            wait_until(lambda: page._pump() or any(t.startswith('42["hello"') for t in page.texts), 10, what="hello")
        polling.poll()
        first = world.stack.bus.last_seq + 1
        publish_noise(world.stack.bus, 40)
        wanted = list(range(first, first + 40))
        for page in pages.values():
            wait_until(lambda: page._pump() or page.events() == wanted, 10, what="the batch")
        wait_until(lambda: polling.poll() or polling.events() == wanted, 10, what="the batch by polling")

        agreed = {name: page.accepted.extensions for name, page in pages.items()}
        assert agreed["plain"] == []
        deflate = agreed["deflate"][0]
        assert deflate.server_no_context_takeover     # so one compressed frame fits every page
        assert agreed["small window"][0].server_max_window_bits == 10
        assert agreed["deflate too"][0].server_no_context_takeover
        batches = [[t for t in page.texts if t.startswith('42["events"')] for page in pages.values()]
        assert all(b == batches[0] for b in batches)           # the same packets, whatever the framing
        # compressed once per batch for both pages that took the shared frame (the small window's
        # page had its own, through wsproto)
        assert [b.decode() for b in compressed] == batches[0]
    finally:
        for page in pages.values():
            page.close()
        server.shutdown()


def test_the_fallback_without_our_websockets_is_socketio_emit():
    sent = []

    class Fake:
        server = None

        def emit(self, name, data, to=None):
            sent.append((name, data, to))

    assert fanout.emit(Fake(), "events", {"events": []}, "room") is None
    assert sent == [("events", {"events": []}, "room")]


def test_chromium_agrees_to_the_shared_compressed_frame_and_reads_every_event(site, browser, monkeypatch):
    compressed = []
    deflate = fanout.deflate
    monkeypatch.setattr(fanout, "deflate", lambda payload: compressed.append(payload) or deflate(payload))
    world, server = site()
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    page = context.new_page()
    frames: list[str] = []
    errors: list[str] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(payload)))
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(server.url)
        page.wait_for_selector("body[data-ready=yes]", timeout=15000)
        # data-ready is set when the page has asked Socket.IO to connect, not when it is connected: events
        # published before that reach it by the page's catch-up on connect, not as "events" frames
        wait_until(lambda: page.wait_for_timeout(20) or any(isinstance(t, str) and t.startswith("40") for t in frames),
                   15, what="the page's Socket.IO connection")
        first = world.stack.bus.last_seq + 1
        publish_noise(world.stack.bus, 30)

        def seqs() -> list[int]:
            return [e["seq"] for text in list(frames) if isinstance(text, str) and text.startswith('42["events"')
                    for e in json.loads(text[2:])[1]["events"]]
        # (Playwright hands over the frames while it is called: wait in the page, not in time.sleep)
        wait_until(lambda: page.wait_for_timeout(50) or set(range(first, first + 30)) <= set(seqs()), 15,
                   what="the batch in Chromium")
        # what Chromium read is what the server compressed once (no page of its own compression)
        assert compressed and {b.decode() for b in compressed} <= {t for t in frames if isinstance(t, str)}
        assert errors == []
    finally:
        context.close()
