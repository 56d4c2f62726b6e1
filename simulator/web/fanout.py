"""Fan-out: one batch of events encoded, compressed and framed once, then written to every page.

Theory of operation
-------------------
python-socketio encodes a broadcast once, but everything after that happened once *per page*: each
page's Engine.IO writer thread handed the text to simple-websocket, whose wsproto connection turned
it into UTF-8 and a WebSocket frame -- and, for a browser (every browser offers the
``permessage-deflate`` extension, and simple-websocket accepts it), compressed it with that page's
own zlib stream.  With 30 pages a batch of events was compressed 30 times.

Here the bridge's "events" batches take another way (:func:`emit`):

- The Socket.IO packet is encoded once (``42["events",{...}]``, JSON in UTF-8 rather than
  ``\\uXXXX`` escapes: the Russian narration is a third of the bytes that way) into a
  :class:`Prepared` Engine.IO packet, shared by every recipient.
- Every page's WebSocket is a :class:`WebSocket` (installed on the Engine.IO server by
  :func:`install`), which negotiates ``permessage-deflate`` with ``server_no_context_takeover``
  (RFC 7692 section 7.1.1.1 lets a server add it to any offer): each message the server sends is
  then compressed on its own, so one compressed frame is right for every page that agreed to the
  extension with the default 32 KiB window.  :meth:`Prepared.frame` builds at most two frames per
  batch -- plain, and compressed -- and caches them.
- The prepared packet still goes through each page's Engine.IO queue, in order with everything
  else sent to that page (the greeting, "gate", "world", pings), and its writer thread still does
  the one thing that must be done per page: write the frame to the page's socket.  (Writing every
  page's frame from the bridge's own thread instead, sparing the writers their wake-ups, was
  tried and dropped: after each write the thread waits for the GIL again, and with 300 pages a
  batch took hundreds of milliseconds to leave.)  A page that is not (yet) on a WebSocket gets the
  same packet as text through long-polling; a page whose compression differs (a smaller window)
  gets the text through wsproto, as before.

RFCs: 6455 section 5.2 (the server's frames: final, unmasked, text) and 7692 (permessage-deflate:
section 6.1, RSV1 marks a compressed message; 7.1.1.1, server_no_context_takeover; 7.2.1, each
message deflated and flushed, its ``00 00 ff ff`` tail removed).  Left out: fragmenting a message
(one frame per batch, as wsproto sends it), ``server_max_window_bits`` below 15 (such a page gets
wsproto's compression), compression from the page to the server (wsproto's, unchanged).

What it gave (bench/bench_viewers.py, 30 viewers, 600 messages, A/B against the tree before,
2026-12-05): with viewers that offer permessage-deflate as browsers do, the viewers' cost 5.4 -> 0.24
ms of server CPU per message, the web threads 4.9-5.0 -> 0.48-0.53 ms per message; with viewers that
do not, the web threads 1.5-1.7 -> 0.47-0.50 ms; 300 browser-like viewers (bench_hall.py) 7.5-8.1 ->
1.1-1.7 CPU seconds for 100 messages.  The other messages a page gets ("hello", "gate", pings) still go
through wsproto, now each compressed on its own (a compressor made per message: they are rare),
except those under ``SMALL`` characters, which go out plain (RSV1 is per message, RFC 7692 section
6: a zlib stream per page for a "gate" or "follow" cost a lecture hall of 300 about 11 ms a click).

Found by review and kept so (tests/test_fanout_review.py): the frames live in a :class:`Frames` with
no reference back, so a batch is freed by reference counting when the last page wrote it, not left
to the cyclic collector; a frame is written only while wsproto's state is still OPEN (never after
our Close); a page that stopped reading is let go (Engine.IO's timeout reaches the socket through
:attr:`WebSocket.socket`, and :meth:`WebSocket.close` shuts it down); an offer wsproto cannot parse
(a quoted value) gets a WebSocket without compression instead of an HTTP 500.

In a lecture hall (a Socket.IO message queue) the emit goes through the queue as before
(:func:`emit` falls back to ``socketio.emit``), and each process's manager hands the batch it gets to
:func:`deliver` for its own pages (hall.py).  Any Socket.IO server without these WebSockets (a
test's fake) gets ``socketio.emit``.
"""
from __future__ import annotations

import dataclasses
import json
import socket
import threading
import zlib
from typing import Any

import simple_websocket
from engineio import packet as eio_packet
from engineio.async_drivers._websocket_wsgi import SimpleWebSocketWSGI
from wsproto.connection import ConnectionState
from wsproto.events import AcceptConnection
from wsproto.extensions import PerMessageDeflate

NAMESPACE = "/"
SMALL = 256                      # characters: a message shorter goes out uncompressed
WINDOW_BITS = 15                 # the window every browser leaves the server by default
# zlib's fastest level: a batch of 50 events (150 KB of JSON) 24 -> 9 us per event of the bridge's
# CPU, for ~30 % more compressed bytes (12 -> 16 KB) on a loopback or classroom network
LEVEL = 1
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False)   # plain trees
_ASCII = json.JSONEncoder(separators=(",", ":"), check_circular=False)     # python-socketio's own text


def encode(event: str, data: Any, *, ascii_only: bool = False) -> str:
    """The Socket.IO EVENT packet of the default namespace, as python-socketio would write it
    (``2`` + the JSON array), but with UTF-8 text instead of ``\\u`` escapes (``ascii_only``:
    with them, exactly as python-socketio writes it)."""
    return "2" + (_ASCII if ascii_only else _ENCODER).encode([event, data])


def events_packet(lines: list[bytes], last_seq: int) -> str:
    """The Socket.IO packet of an "events" batch, ``{"events": [...], "last_seq": n}``, spliced from
    the events' JSON lines as the bus wrote them to the log (:attr:`Event.line`): the same JSON value
    as :func:`encode` of their ``to_dict()``, without encoding every event a second time.  (A lone
    surrogate is already a ``\\udcXX`` escape in a line, as python-socketio would write it.)"""
    return '2["events",{"events":[' + ",".join([line.decode("utf-8").rstrip("\n") for line in lines]) + \
        '],"last_seq":' + str(int(last_seq)) + "}]"


def prepare(event: str, data: Any) -> "Prepared":
    """The packet of ``event`` with ``data``, ready for every page.  A lone surrogate (undecodable
    bytes a client sent, kept by ``surrogateescape``) has no UTF-8: such a batch is written with
    ``\\u`` escapes instead, as python-socketio always did."""
    try:
        return Prepared(encode(event, data))
    except UnicodeEncodeError:
        return Prepared(encode(event, data, ascii_only=True))


def text_frame(payload: bytes, *, compressed: bool = False) -> bytes:
    """One unmasked, final WebSocket text frame (RFC 6455 section 5.2); RSV1 marks a compressed
    message (RFC 7692)."""
    head = 0x80 | 0x01 | (0x40 if compressed else 0)
    n = len(payload)
    if n < 126:
        return bytes((head, n)) + payload
    if n < 65536:
        return bytes((head, 126)) + n.to_bytes(2, "big") + payload
    return bytes((head, 127)) + n.to_bytes(8, "big") + payload


def deflate(payload: bytes) -> bytes:
    """A message compressed on its own (no context from earlier ones), as RFC 7692 sends it: the
    deflate stream flushed with Z_SYNC_FLUSH, its final ``00 00 ff ff`` removed.  At ``LEVEL``."""
    compressor = zlib.compressobj(LEVEL, zlib.DEFLATED, -WINDOW_BITS)
    return (compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]


class Frames:
    """The packet's UTF-8 and its WebSocket frames, made once on demand (no reference back to the
    Prepared or the Wire: a batch is freed by reference counting when the last page wrote it)."""

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self._frames: dict[bool, bytes] = {}
        self._lock = threading.Lock()

    def frame_for(self, websocket: "WebSocket") -> bytes | None:
        compressed = websocket.compressed()
        return None if compressed is None else self.frame(compressed)

    def frame(self, compressed: bool) -> bytes:
        frame = self._frames.get(compressed)
        if frame is None:
            with self._lock:
                frame = self._frames.get(compressed)
                if frame is None:
                    payload = self.payload
                    frame = text_frame(deflate(payload) if compressed else payload, compressed=compressed)
                    self._frames[compressed] = frame
        return frame


class Wire(str):
    """The packet's text (what any transport may send), carrying its :class:`Frames` along so
    that a :class:`WebSocket` can write the ready frame instead."""

    prepared: Frames


class Prepared(eio_packet.Packet):
    """An Engine.IO MESSAGE packet encoded once, with its WebSocket frames made once on demand."""

    def __init__(self, socketio_packet: str) -> None:
        super().__init__(eio_packet.MESSAGE, data=socketio_packet)
        wire = Wire(str(eio_packet.MESSAGE) + socketio_packet)
        self.frames = wire.prepared = Frames(wire.encode("utf-8"))   # UnicodeEncodeError: prepare()
        self.wire = wire

    def encode(self, b64: bool = False) -> str:
        return self.wire

    def frame(self, compressed: bool) -> bytes:
        return self.frames.frame(compressed)


class _Server(simple_websocket.Server):
    """simple-websocket's server end, agreeing to permessage-deflate only with
    ``server_no_context_takeover`` (so every message it sends is compressed on its own)."""

    deflate: PerMessageDeflate | None = None

    def handshake(self) -> None:
        extension = PerMessageDeflate(server_no_context_takeover=True)
        connection = self.ws
        send = connection.send

        def accept_with_our_extension(event: Any) -> bytes:
            if isinstance(event, AcceptConnection) and event.extensions:
                try:
                    return send(dataclasses.replace(event, extensions=[extension]))
                except ValueError:          # an offer wsproto cannot parse (a quoted value): none
                    extension._enabled = False
                    return send(dataclasses.replace(event, extensions=[]))
            return send(event)

        connection.send = accept_with_our_extension          # type: ignore[method-assign]
        try:
            super().handshake()
        finally:
            del connection.send
        if extension.enabled():
            self.deflate = extension


class WebSocket(SimpleWebSocketWSGI):
    """Engine.IO's WebSocket for the threading mode, which writes a :class:`Prepared` packet's
    ready frame: the one per-page step of a broadcast.

    The page's socket gets Engine.IO's timeout (ping interval + ping timeout) *before* the
    WebSocket's reader thread starts, not after as Engine.IO's handler gives it: a reader already
    inside ``recv()`` of a blocking socket when another thread turns the timeout on (which makes the
    descriptor non-blocking) loops in CPython's ``sock_call_ex`` -- ``recv`` -> EAGAIN -> retry, no
    ``poll`` -- until the page next sends something (its pong, up to a ping interval later).  With
    30 pages that race was lost now and then under load: the readers then burned 7-45 ms of CPU per
    submitted message (bench/bench_viewers.py --threads, ``simple_websocket.Base._thread``)."""

    def __init__(self, handler: Any, server: Any, **kwargs: Any) -> None:
        super().__init__(handler, server, **kwargs)
        try:                # what Engine.IO's _websocket_handler sets (engineio/socket.py)
            self.timeout: float | None = float(server.ping_interval + server.ping_timeout)
        except (AttributeError, TypeError, ValueError):
            self.timeout = None

    def __call__(self, environ: dict, start_response: Any) -> Any:
        sock = environ.get("werkzeug.socket")
        if self.timeout and sock is not None and hasattr(sock, "settimeout"):
            sock.settimeout(self.timeout)       # before _Server starts the reader thread (above)
        self.ws = _Server(environ, **self.server_args)
        ret = self.app(self)
        if self.ws.mode == "gunicorn":
            raise StopIteration()
        elif self.ws.mode == "werkzeug":
            raise ConnectionError()
        return ret

    @property
    def socket(self) -> Any:
        """The page's socket: Engine.IO gives it a timeout (ping interval + timeout), so a writer
        blocked on a page that stopped reading gives up."""
        return self.ws.sock

    def close(self) -> None:
        try:
            super().close()
        except OSError:             # the page stopped reading (the timeout) or is gone
            self.ws.connected = False
            self.ws.event.set()          # the Engine.IO handler waiting in receive() ends
            try:
                self.ws.sock.shutdown(socket.SHUT_RDWR)       # and the reader thread in recv()
            except OSError:
                pass

    def compressed(self) -> bool | None:
        """Whether this page takes the shared compressed frame (True), the plain one (False), or
        needs its own (None: a compression the shared frame does not fit)."""
        extension = getattr(self.ws, "deflate", None)
        if extension is None:
            return False
        if extension.server_no_context_takeover and extension.server_max_window_bits == WINDOW_BITS:
            return True
        return None

    def send(self, message: Any) -> Any:
        """Called by the page's writer thread with each packet's text, in order."""
        frame = None
        if type(message) is Wire:
            frame = message.prepared.frame_for(self)
            if frame is None:
                message = str(message)
        elif isinstance(message, str) and len(message) < SMALL and self.compressed() is not None:
            frame = text_frame(message.encode("utf-8"))       # RSV1 is per message: not worth a zlib stream
        if frame is not None:
            if not self.ws.connected or self.ws.ws.state is not ConnectionState.OPEN:
                raise OSError("the WebSocket is closed")     # as SimpleWebSocketWSGI.send says it
            self.ws.sock.sendall(frame)
            return None
        return super().send(message)


def install(socketio: Any) -> bool:
    """Give this Socket.IO server's Engine.IO our WebSocket (for this server only)."""
    eio = getattr(getattr(socketio, "server", None), "eio", None)
    drivers = getattr(eio, "_async", None)
    if not isinstance(drivers, dict) or drivers.get("websocket") is not SimpleWebSocketWSGI:
        return False                 # another async mode: leave it as it is
    eio._async = {**drivers, "websocket": WebSocket}
    return True


def installed(server: Any) -> bool:
    """Are this python-socketio server's WebSockets ours (:func:`install`)?"""
    eio = getattr(server, "eio", None)
    return getattr(server, "manager", None) is not None and \
        getattr(eio, "_async", {}).get("websocket") is WebSocket


def emit(socketio: Any, event: str, data: Any, room: str, *, packet: str | None = None) -> int | None:
    """Send ``event`` with ``data`` to every page of ``room`` in this process, encoded once and
    framed at most twice; the number of pages it was queued for, or None when it went through
    ``socketio.emit`` (a message queue, or a server without our WebSockets).  ``packet``: the
    Socket.IO packet of ``event`` with ``data``, already made (:func:`events_packet`)."""
    from socketio import PubSubManager    # imported by now, without redis (quietimports.py)

    server = getattr(socketio, "server", None)
    if not installed(server) or isinstance(server.manager, PubSubManager):
        socketio.emit(event, data, to=room)
        return None
    return deliver(server, event, data, room, packet=packet)


def deliver(server: Any, event: str, data: Any, room: str, namespace: str = NAMESPACE, *,
            packet: str | None = None) -> int:
    """The local part of :func:`emit` (a lecture hall's manager calls it for what the queue brings):
    one :class:`Prepared` packet queued for every page of ``room`` in this process."""
    prepared = Prepared(packet) if packet is not None else prepare(event, data)
    sent = 0
    for _sid, eio_sid in server.manager.get_participants(namespace, room):
        try:
            server._send_eio_packet(eio_sid, prepared)       # as python-socketio's manager sends
        except Exception:            # a page gone meanwhile: the others still get theirs
            continue
        sent += 1
    return sent
