"""Review of the fan-out (simulator/web/fanout.py): pages written with a WebSocket client of our own
(raw frames, its own inflater), every extension offer a client may send, the upgrade from
long-polling, the privacy rooms, slow and vanishing pages, concurrent writers, the frame cache's
memory, and the lecture hall with browser-like (compressing) viewers.

Judged by facts: the frames' bits and lengths, the seqs every page decoded (all, once, in order),
each page's copy against ``privacy.redact``, which objects are still alive.
"""
from __future__ import annotations

import base64
import gc
import http.client
import json
import os
import shutil
import socket
import threading
import weakref
import zlib
from pathlib import Path
from typing import Any

import pytest

from simulator.web import fanout, privacy
from simulator.web.api import events_since
from web_fixtures import publish_noise, send_mail, serve, wait_until

CHROMIUM = "permessage-deflate; client_max_window_bits"        # Chromium's exact offer
FIREFOX = "permessage-deflate"                                  # Firefox's (and Safari's)


# -- a WebSocket page of our own: raw frames, its own inflater ----------------------------------------
class RawPage:
    """An Engine.IO v4 page over one WebSocket, framed by hand.  ``offer`` is the Sec-WebSocket-
    Extensions header it sends (None: no header).  Compressed messages are inflated twice: by one
    inflater that keeps its context for the whole connection (a client may always do so) and by a
    fresh one per message; both must give the same text."""

    def __init__(self, port: int, offer: str | None, *, sid: str | None = None, cookie: str | None = None,
                 rcvbuf: int | None = None, namespace: bool = True) -> None:
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.connect(("127.0.0.1", port))
        self.sock.settimeout(10)
        key = base64.b64encode(os.urandom(16)).decode()
        target = "/socket.io/?EIO=4&transport=websocket" + (f"&sid={sid}" if sid else "")
        lines = [f"GET {target} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Upgrade: websocket", "Connection: Upgrade",
                 f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13", f"Origin: http://127.0.0.1:{port}"]
        if offer is not None:
            lines.append(f"Sec-WebSocket-Extensions: {offer}")
        if cookie:
            lines.append(f"Cookie: {cookie}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            assert chunk, "closed before the 101"
            self.buffer += chunk
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status, *fields = head.decode("latin-1").split("\r\n")
        assert status.split()[1] == "101", head
        self.headers = {k.strip().lower(): v.strip() for k, v in (f.split(":", 1) for f in fields)}
        self.agreed = self.headers.get("sec-websocket-extensions")
        self.keeping = zlib.decompressobj(-15)            # never reset: keeps its context
        self.texts: list[str] = []
        self.rsv1: list[bool] = []
        self.closed = False
        if namespace:
            self.send("40")

    def send(self, text: str) -> None:
        payload = text.encode()
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            head = bytes((0x81, 0x80 | n))
        elif n < 65536:
            head = bytes((0x81, 0x80 | 126)) + n.to_bytes(2, "big")
        else:
            head = bytes((0x81, 0x80 | 127)) + n.to_bytes(8, "big")
        self.sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def _frame(self) -> bool:
        """Parse one whole frame from the buffer, if there is one."""
        if len(self.buffer) < 2:
            return False
        b0, b1 = self.buffer[0], self.buffer[1]
        n, at = b1 & 0x7F, 2
        if n == 126:
            if len(self.buffer) < 4:
                return False
            n, at = int.from_bytes(self.buffer[2:4], "big"), 4
            assert n >= 126, "a length that fits 7 bits written on 16"          # RFC 6455 5.2: minimal
        elif n == 127:
            if len(self.buffer) < 10:
                return False
            n, at = int.from_bytes(self.buffer[2:10], "big"), 10
            assert n >= 65536 and n < 1 << 63, "a length that fits 16 bits written on 64"
        if len(self.buffer) < at + n:
            return False
        assert not b1 & 0x80, "a server's frame is never masked"
        payload, self.buffer = self.buffer[at:at + n], self.buffer[at + n:]
        assert b0 & 0x80, "a fragment: the server sends whole messages"
        assert not b0 & 0x30, "RSV2/RSV3 set"
        opcode, rsv1 = b0 & 0x0F, bool(b0 & 0x40)
        if opcode == 0x8:
            self.closed = True
            assert not rsv1
            return True
        if opcode in (0x9, 0xA):
            assert not rsv1
            return True
        assert opcode == 0x1, f"opcode {opcode}"
        if rsv1:
            assert self.agreed and "permessage-deflate" in self.agreed, "RSV1 without the extension"
            kept = self.keeping.decompress(payload + b"\x00\x00\xff\xff")
            fresh = zlib.decompressobj(-15).decompress(payload + b"\x00\x00\xff\xff")
            assert kept == fresh
            payload = kept
        text = payload.decode("utf-8")                  # strict: a text frame is UTF-8
        self.rsv1.append(rsv1)
        self.texts.append(text)
        if text == "2":
            self.send("3")
        return True

    def pump(self) -> None:
        while self._frame():
            pass
        if self.closed:
            return
        try:
            self.sock.settimeout(0.05)
            chunk = self.sock.recv(1 << 20)
        except (TimeoutError, BlockingIOError):
            return
        finally:
            self.sock.settimeout(10)
        if not chunk:
            self.closed = True
            return
        self.buffer += chunk
        while self._frame():
            pass

    def batches(self) -> list[dict]:
        return [json.loads(t[2:])[1] for t in self.texts if t.startswith('42["events"')]

    def events_rsv1(self) -> list[bool]:
        """RSV1 of each "events" message (small messages may go either way: RSV1 is per message)."""
        return [r for r, t in zip(self.rsv1, self.texts) if t.startswith('42["events"')]

    def seqs(self) -> list[int]:
        return [e["seq"] for b in self.batches() for e in b["events"]]

    def got_hello(self) -> bool:
        self.pump()
        return any(t.startswith('42["hello"') for t in self.texts)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


# -- the frame and the packet -----------------------------------------------------------------------
def read_noise(world, page: "RawPage", count: int, *, since: int | None = None, timeout: float = 10) -> int:
    """Publish ``count`` events once the page has its hello, and wait until the page has read every
    event from ``since`` (default: the first of these) on; returns the first seq published."""
    wait_until(page.got_hello, 10, what="hello")
    first = world.stack.bus.last_seq + 1
    publish_noise(world.stack.bus, count)
    start = first if since is None else since
    wait_until(lambda: page.pump() or page.seqs() == list(range(start, first + count)), timeout,
               what=f"{count} events")
    return first


def test_a_prepared_batch_is_freed_by_reference_counting_not_left_to_the_cyclic_gc():
    """A batch is several copies of up to 400 events (the text, the wire text, its UTF-8, a plain
    and a compressed frame: ~0.75-3 MB).  Prepared.wire.prepared points back at the Prepared: a
    cycle, so every batch outlives the last page that wrote it until a cyclic collection -- gen 2
    after a few ms of queueing.  (200 batches of 750 KB in a loop: 51 alive at once, peak RSS 267 MiB;
    with the cycle broken, 0 alive, 57 MiB.)"""
    enabled = gc.isenabled()
    gc.disable()
    try:
        prepared = fanout.prepare("events", {"events": [{"seq": 1, "text": "Письмо " * 1000}], "last_seq": 1})
        prepared.frame(True)
        prepared.frame(False)
        wire = prepared.encode()
        ref = weakref.ref(prepared)
        del prepared, wire
        assert ref() is None, "the batch waits for the cyclic GC"
    finally:
        if enabled:
            gc.enable()


def test_concurrent_writers_compress_and_frame_a_batch_once_each_kind(monkeypatch):
    made = []
    deflate = fanout.deflate
    monkeypatch.setattr(fanout, "deflate", lambda payload: made.append(1) or deflate(payload))
    prepared = fanout.prepare("events", {"events": [{"seq": n, "t": "я" * 200} for n in range(300)]})
    barrier = threading.Barrier(16)
    frames: list[bytes] = []

    def writer(compressed: bool) -> None:
        barrier.wait()
        frames.append(prepared.frame(compressed))
    threads = [threading.Thread(target=writer, args=(i % 2 == 0,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(made) == 1
    assert len({id(f) for f in frames}) == 2


@pytest.mark.parametrize("size", [124, 125, 126, 127, 65534, 65535, 65536, 65537])
def test_the_length_is_written_in_the_fewest_bytes(size):
    payload = b"x" * size
    frame = fanout.text_frame(payload)
    if size < 126:
        assert frame[1] == size and len(frame) == 2 + size
    elif size < 65536:
        assert frame[1] == 126 and int.from_bytes(frame[2:4], "big") == size and len(frame) == 4 + size
    else:
        assert frame[1] == 127 and int.from_bytes(frame[2:10], "big") == size and len(frame) == 10 + size
    assert frame[0] == 0x81 and fanout.text_frame(payload, compressed=True)[0] == 0xC1


# -- every offer a client may send --------------------------------------------------------------------
OFFERS = {
    "chromium": (CHROMIUM, "shared"),
    "firefox": (FIREFOX, "shared"),
    "none": (None, "plain"),
    "the client asks for no context takeover itself": ("permessage-deflate; server_no_context_takeover", "shared"),
    "server window 15 said": ("permessage-deflate; server_max_window_bits=15", "shared"),
    "client window 9": ("permessage-deflate; client_max_window_bits=9", "shared"),
    "server window 10": ("permessage-deflate; server_max_window_bits=10", "own"),
    "two offers, the small window first": ("permessage-deflate; server_max_window_bits=10, permessage-deflate",
                                          "any"),
    "two offers, plain first": ("permessage-deflate, permessage-deflate; server_max_window_bits=10", "any"),
    "an extension we do not know": ("x-webkit-deflate-frame", "plain"),
    "an unknown one, then deflate": ("x-foo, permessage-deflate; client_max_window_bits", "shared"),
}


@pytest.mark.parametrize("name", list(OFFERS))
def test_every_offer_gets_frames_its_client_can_read(world, monkeypatch, name):
    offer, expected = OFFERS[name]
    compressed: list[bytes] = []
    deflate = fanout.deflate
    monkeypatch.setattr(fanout, "deflate", lambda payload: compressed.append(payload) or deflate(payload))
    server = serve(world.stack)
    page = None
    try:
        page = RawPage(server.port, offer)
        first = read_noise(world, page, 30)
        read_noise(world, page, 350, since=first, timeout=20)   # a big batch too: the 64-bit length
        agreed = page.agreed or ""
        if expected == "plain":
            assert agreed == "" and not any(page.rsv1)
        else:
            assert agreed.startswith("permessage-deflate") and "server_no_context_takeover" in agreed
            assert page.events_rsv1() and all(page.events_rsv1())     # every batch compressed
        if expected == "shared":
            assert [p.decode() for p in compressed] == [t for t in page.texts if t.startswith('42["events"')]
        if expected == "own":
            assert compressed == []
    finally:
        if page:
            page.close()
        server.shutdown()


def test_a_client_that_keeps_its_context_reads_wsprotos_messages_between_the_shared_ones(world):
    """hello, pings, a "sync" answer (wsproto, each compressed on its own now) interleaved with the
    shared frames, all inflated by one inflater that is never reset (RawPage checks every message)."""
    server = serve(world.stack)
    page = None
    try:
        page = RawPage(server.port, CHROMIUM)
        wait_until(page.got_hello, 10, what="hello")
        for round_ in range(3):
            first = world.stack.bus.last_seq + 1
            publish_noise(world.stack.bus, 20)
            wait_until(lambda: page.pump() or first + 19 in page.seqs(), 10, what="the batch")
            page.send(f'42{round_ + 1}["sync",{{"since":{first - 1}}}]')
            wait_until(lambda: page.pump() or any(t.startswith(f"43{round_ + 1}") for t in page.texts), 10,
                       what="the sync answer")
        answers = [json.loads(t[3:])[0] for t in page.texts if t.startswith("43")]
        assert len(answers) == 3 and answers[0]["events"]        # (the next two are throttled: fine)
        assert page.events_rsv1() and all(page.events_rsv1())
    finally:
        if page:
            page.close()
        server.shutdown()


# -- long-polling, then the upgrade ------------------------------------------------------------------
class Polling:
    def __init__(self, port: int) -> None:
        self.port = port
        opened = self.request("GET", "")
        assert opened.startswith("0"), opened
        self.sid = json.loads(opened[1:])["sid"]
        assert self.request("POST", "40") == "OK"

    def request(self, method: str, body: str) -> str:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        sid = f"&sid={self.sid}" if hasattr(self, "sid") else ""
        connection.request(method, f"/socket.io/?EIO=4&transport=polling{sid}", body=body.encode() or None,
                           headers={"Origin": f"http://127.0.0.1:{self.port}"})
        answer = connection.getresponse().read().decode("utf-8")
        connection.close()
        return answer


@pytest.mark.parametrize("offer", [CHROMIUM, None])
def test_nothing_is_lost_or_doubled_across_the_upgrade_from_polling(world, offer):
    server = serve(world.stack)
    page = None
    try:
        polling = Polling(server.port)
        texts: list[str] = []
        first = world.stack.bus.last_seq + 1
        publish_noise(world.stack.bus, 25)
        while not any(t.startswith('42["events"') for t in texts):
            texts.extend(polling.request("GET", "").split("\x1e"))
        publish_noise(world.stack.bus, 25)             # queued while the upgrade starts
        page = RawPage(server.port, offer, sid=polling.sid, namespace=False)
        page.send("2probe")
        wait_until(lambda: page.pump() or "3probe" in page.texts, 10, what="3probe")
        publish_noise(world.stack.bus, 25)             # during the probe
        texts.extend(polling.request("GET", "").split("\x1e"))      # the last poll (a NOOP)
        page.send("5")
        publish_noise(world.stack.bus, 25)             # after
        total = list(range(first, first + 100))

        def seqs() -> list[int]:
            page.pump()
            via_polling = [e["seq"] for t in texts if t.startswith('42["events"')
                           for e in json.loads(t[2:])[1]["events"]]
            return via_polling + page.seqs()
        wait_until(lambda: sorted(seqs()) == total, 15, what="every event")
        assert seqs() == total                     # once each, in order
        if offer:
            assert any(page.rsv1)
    finally:
        if page:
            page.close()
        server.shutdown()


# -- privacy: each room its own frames -----------------------------------------------------------------
def test_the_teacher_and_the_viewers_each_get_their_own_copy_whatever_their_framing(world):
    server = serve(world.stack, TRUST_LOOPBACK=False)
    token = server.app.config["TEACHER_TOKEN"]
    pages: dict[str, RawPage] = {}
    try:
        pages = {
            "teacher deflate": RawPage(server.port, CHROMIUM, cookie=f"mailflow_teacher={token}"),
            "teacher plain": RawPage(server.port, None, cookie=f"mailflow_teacher={token}"),
            "viewer deflate": RawPage(server.port, CHROMIUM),
            "viewer firefox": RawPage(server.port, FIREFOX),
            "viewer plain": RawPage(server.port, None),
            "viewer small window": RawPage(server.port, "permessage-deflate; server_max_window_bits=10"),
        }
        for page in pages.values():
            wait_until(page.got_hello, 10, what="hello")
        roles = {name: json.loads(next(t for t in p.texts if t.startswith('42["hello"'))[2:])[1]["role"]
                 for name, p in pages.items()}
        assert roles == {name: name.split()[0] for name in pages}
        since = world.stack.bus.last_seq
        send_mail(world.stack, subject="Secret subject 5d1e")
        whole: dict[int, dict] = {}

        def delivered() -> bool:
            whole.update({e["seq"]: e for e in events_since(world.stack, since, 1000)["events"]})
            return any(e["kind"] == "mda.deliver" for e in whole.values())
        wait_until(delivered, 20, what="the delivery")
        last = max(whole)
        for name, page in pages.items():
            wait_until(lambda: page.pump() or last in page.seqs(), 10, what=f"every event at the {name}")
        assert any("Secret subject 5d1e" in json.dumps(e) for e in whole.values())
        for name, page in pages.items():
            got = {e["seq"]: e for b in page.batches() for e in b["events"]}
            for seq, event in whole.items():
                expected = event if name.startswith("teacher") else privacy.redact(event)
                assert got[seq] == json.loads(json.dumps(expected)), (name, seq)
            if name.startswith("viewer"):        # the redaction really left something out
                assert any(got[seq] != json.loads(json.dumps(event)) for seq, event in whole.items())
    finally:
        for page in pages.values():
            page.close()
        server.shutdown()


# -- slow and vanishing pages ----------------------------------------------------------------------------
def test_a_page_that_never_reads_does_not_hold_back_the_others_and_one_that_vanishes_is_let_go(world):
    server = serve(world.stack)
    pages: list[RawPage] = []
    try:
        stuck = RawPage(server.port, None, rcvbuf=4096)          # reads nothing after its hello
        wait_until(stuck.got_hello, 10, what="hello")
        good = RawPage(server.port, CHROMIUM)
        pages = [stuck, good]
        wait_until(good.got_hello, 10, what="hello")
        first = world.stack.bus.last_seq + 1
        for _ in range(6):                                      # ~6 batches, the stuck page's buffers fill
            publish_noise(world.stack.bus, 300)
            wait_until(lambda: good.pump() or world.stack.bus.last_seq in good.seqs(), 15,
                       what="the good page keeps up")
        stuck.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        stuck.close()                                           # a reset, mid-write
        publish_noise(world.stack.bus, 10)
        wait_until(lambda: good.pump() or world.stack.bus.last_seq in good.seqs(), 15, what="after the reset")
        assert good.seqs() == list(range(first, world.stack.bus.last_seq + 1))
        rooms = server.app.extensions["socketio"].server.manager.rooms["/"]
        wait_until(lambda: sum(len(rooms.get(r, ())) for r in (privacy.FULL, privacy.REDACTED)) == 1, 10,
                   what="the vanished page let go")
    finally:
        for page in pages:
            page.close()
        server.shutdown()


# -- the lecture hall with browser-like viewers ----------------------------------------------------------
@pytest.fixture(scope="module")
def hall_with_compression(tmp_path_factory):
    assert shutil.which("redis-server"), "redis-server is missing"
    from test_message_queue import Hall
    started = Hall(tmp_path_factory.mktemp("hall-review"))
    try:
        yield started.start()
    finally:
        started.stop()


def test_every_compressing_viewer_on_every_process_sees_every_hop_once_in_order(hall_with_compression):
    from test_message_queue import TOKEN
    hall_ = hall_with_compression
    main, web = hall_.main_ports["web"], hall_.web_ports["web"]
    since = max(hall_.whole_events(0), default=0)
    pages = {}
    try:
        for where, port in (("main", main), ("web", web)):
            for offer_name, offer in (("chromium", CHROMIUM), ("firefox", FIREFOX), ("plain", None)):
                pages[f"{where} {offer_name}"] = RawPage(port, offer, cookie=f"mailflow_teacher={TOKEN}")
        for page in pages.values():
            wait_until(page.got_hello, 10, what="hello")
        for n in range(3):
            status, answer = hall_.request(web, "POST", "/api/send",
                                           {"from": "alice@alpha.test", "to": "bob@beta.test",
                                            "subject": f"order {n}", "body": "x"},
                                           headers={"Authorization": f"Bearer {TOKEN}"})
            assert status == 200, answer
        whole = wait_until(lambda: (w := hall_.whole_events(since)) and
                           sum(e["kind"] == "mda.deliver" for e in w.values()) >= 3 and w, 20, what="3 deliveries")
        last = max(whole)
        for name, page in pages.items():
            wait_until(lambda: page.pump() or (page.seqs() and page.seqs()[-1] >= last), 15, what=name)
        for name, page in pages.items():
            seqs = [s for s in page.seqs() if s <= last]
            assert seqs == sorted(set(seqs)), name                  # once each, in order
            assert set(whole) <= set(seqs), name
            if "plain" not in name:
                assert all(page.events_rsv1()), name
    finally:
        for page in pages.values():
            page.close()


# -- no data frame after the Close ------------------------------------------------------------------------
def test_no_shared_frame_is_written_once_the_websocket_is_closing():
    """simple-websocket's reader thread answers the page's Close (wsproto's state leaves OPEN) and
    only afterwards sets ``connected = False``; the writer's check of ``connected`` alone lets a data
    frame follow the Close (RFC 6455 5.5.1).  wsproto's own send refuses in that state."""
    from wsproto.connection import Connection, ConnectionState, ConnectionType
    from wsproto.events import CloseConnection

    here, there = socket.socketpair()
    try:
        connection = Connection(ConnectionType.SERVER)
        here.sendall(connection.send(CloseConnection(code=1000)))        # the Close has left
        assert connection.state is not ConnectionState.OPEN

        class Server:                      # simple_websocket.Server between the Close and connected = False
            connected = True
            deflate = None
            sock = here
            ws = connection

        websocket = fanout.WebSocket.__new__(fanout.WebSocket)
        websocket.ws = Server()
        prepared = fanout.prepare("events", {"events": [{"seq": 1}], "last_seq": 1})
        with pytest.raises(Exception):
            websocket.send(prepared.encode())
        there.setblocking(False)
        received = there.recv(65536)
        assert received[0] == 0x88 and len(received) == 2 + received[1], "a frame after the Close"
    finally:
        here.close()
        there.close()


@pytest.mark.parametrize("offer", ['permessage-deflate; client_max_window_bits="10"',
                                   "permessage-deflate; server_max_window_bits=8",
                                   "permessage-deflate; server_max_window_bits=16"])
def test_an_odd_offer_still_gets_a_websocket(world, offer):
    """RFC 7692 7.1.2.1: the value may be a quoted string; an out-of-range one is declined (the
    server then accepts without the extension)."""
    server = serve(world.stack)
    page = None
    try:
        page = RawPage(server.port, offer)
        read_noise(world, page, 5)
    finally:
        if page:
            page.close()
        server.shutdown()


# -- the other broadcasts ------------------------------------------------------------------------------
def test_a_broadcast_other_than_events_is_not_compressed_once_per_page(world, monkeypatch):
    """With server_no_context_takeover every message wsproto sends makes a new zlib stream: "gate",
    "world", "lesson" and "follow" (every click of the teacher) cost each page ~36 us of deflate
    set-up (a kept stream: ~1 us): 300 pages, ~11 ms per click.  Either these go through the shared
    frame too, or small messages go out uncompressed (RSV1 is per message, RFC 7692 section 6)."""
    server = serve(world.stack)
    pages: list[RawPage] = []
    try:
        pages = [RawPage(server.port, CHROMIUM) for _ in range(8)]
        for page in pages:
            wait_until(page.got_hello, 10, what="hello")
        made: list[int] = []
        compressobj = zlib.compressobj
        monkeypatch.setattr(zlib, "compressobj", lambda *a, **k: made.append(1) or compressobj(*a, **k))
        server.app.extensions["socketio"].emit("lesson", {"step": 3, "of": 9})
        for page in pages:
            wait_until(lambda: page.pump() or any(t.startswith('42["lesson"') for t in page.texts), 10,
                       what="the lesson")
        assert len(made) <= 1, f"{len(made)} deflate streams for one broadcast to {len(pages)} pages"
    finally:
        for page in pages:
            page.close()
        server.shutdown()


def test_a_page_that_stopped_reading_is_let_go_with_its_queue_once_engineio_drops_it(world):
    """A page whose TCP window stays shut (a frozen laptop, a suspended tab behind a proxy): its
    writer blocks in sendall with no timeout (engineio sets one only on ``ws._sock``/``ws.socket``,
    which the WebSocket does not have), so after Engine.IO gives it up on the ping timeout the
    writer thread, the socket and every batch queued for it since stay alive for good."""
    server = serve(world.stack)
    eio = server.app.extensions["socketio"].server.eio
    eio.ping_interval, eio.ping_timeout = 1.5, 1.5                 # (20 s + 20 s in the app)
    stuck = good = None
    try:
        stuck = RawPage(server.port, None, rcvbuf=4096)
        wait_until(stuck.got_hello, 10, what="hello")
        good = RawPage(server.port, CHROMIUM)
        wait_until(good.got_hello, 10, what="hello")
        alive: list[weakref.ref] = []
        prepare = fanout.prepare

        def recording(*args: Any) -> fanout.Prepared:
            prepared = prepare(*args)
            alive.append(weakref.ref(prepared))
            return prepared
        fanout.prepare = recording
        try:
            for _ in range(30):                  # ~10 MB before the ping timeout: more than the buffers hold
                publish_noise(world.stack.bus, 400)
                good.pump()
            wait_until(lambda: good.pump() or world.stack.bus.last_seq in good.seqs(), 30, what="good page")
        finally:
            fanout.prepare = prepare
        rooms = server.app.extensions["socketio"].server.manager.rooms["/"]
        wait_until(lambda: good.pump() or sum(len(rooms.get(r, ())) for r in (privacy.FULL, privacy.REDACTED)) == 1,
                   10, what="Engine.IO giving the stuck page up")

        def let_go() -> bool:
            good.pump()
            gc.collect()
            return sum(r() is not None for r in alive) <= 1       # (the good writer's last packet)
        wait_until(let_go, 25, what="the stuck page's batches freed")
        stuck.sock.settimeout(0.5)
        stuck.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        wait_until(lambda: stuck.pump() or stuck.closed, 10, what="the server closing the stuck page's socket")
    finally:
        for page in (stuck, good):
            if page:
                page.close()
        server.shutdown()
