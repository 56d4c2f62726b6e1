"""The lecture hall: one mail world, several web processes, one Socket.IO message queue (Redis).

    app.py --web-port 8580 --message-queue redis://127.0.0.1:6379/0            # the mail process
    app.py --web-only --web-port 8581 --message-queue redis://127.0.0.1:6379/0 \\
           --main-web http://127.0.0.1:8580/ --data ./data                      # each extra web process

Theory of operation
-------------------
One web process carries about 300 Socket.IO viewers (issue 13's lecture hall); what grows with the
class is the fan-out -- every batch of hops written to every viewer's socket -- not the mail world.
So the mail world runs **once**: one process (the *mail process*, plain ``app.py`` with
``--message-queue``) owns the sockets of every mail host, the queue, the Maildirs, the event bus and
the lesson, and serves the page like any web process.  *Web-only* processes (``--web-only``) own
nothing of the world: no mail port, no director, nothing written to the data directory.

- **Events** travel through Flask-SocketIO's message queue: the mail process's Socket.IO server is
  built on :class:`HallManager` (python-socketio's ``RedisManager``), so every emit of the bridge --
  each batch twice, whole to the room ``privacy.FULL`` and a viewer's copy to ``privacy.REDACTED`` --
  and every "gate", "world", "lesson", "class" and "follow" is published on one Redis channel; each
  web process delivers what it reads there to *its own* sockets in the addressed room (a batch of
  hops encoded, compressed and framed once for all of them: fanout.py).  Each process
  puts each of its sockets in the right room itself (sockets.py, the same teacher token everywhere),
  so the redaction is made once, in the mail process, and a viewer on any process gets the viewer's
  copy, a teacher on any process the whole one.
- **HTTP** a web-only process does not answer itself, except ``/static/`` and ``/socket.io/``: every
  other request (the page, ``/api/...``, the webmail, the test API, control) is forwarded as it came
  over loopback to the mail process (:class:`Upstream`), with ``X-Forwarded-For`` naming the browser.
  So the page, its CSRF token and session (signed with the mail process's key), every privacy and
  teacher decision and every control verb stay in one place, and a teacher who lands on any process
  behind the hall's one address can still steer the lesson.  (The alternative, answering control with
  409 "use the main address", would break exactly that, since a proxy picks the process; forwarding
  costs one loopback hop per click, and the mail process then serves page loads and API calls as it
  always did: what it sheds is the live fan-out, the load that grows with every hop.)
- **Who is asking.**  In hall mode every web process honours ``X-Forwarded-For`` from a *loopback*
  peer only (:class:`ForwardedFor`: the hall's reverse proxy on this computer, or a web-only process
  forwarding): its last entry becomes the remote address, so a student behind nginx is a student
  (not loopback, not the teacher), the per-address socket cap counts students, and a forwarded
  request is judged as the browser's own.  A direct peer off loopback cannot use it to pose as
  loopback; a local program could already bind any 127.x source address, so it gains nothing.
- **The teacher's token** is the same in every process: the mail process writes it to
  ``<data>/api-token`` (0600, simulator/apitoken.py); a web-only process reads it there (or takes
  ``--api-token`` / ``MAILFLOW_API_TOKEN``) and never writes it.  The teacher's cookie therefore opens
  the full room on any process; CSRF needs no sharing, since only the mail process checks it.
- **Greeting and catching up.**  A page connecting to a web-only process is greeted ("hello") from a
  :class:`Mirror` of the little the greeting needs (the gate, the lesson, the teacher's view, the last
  seq), kept current by watching the queue (:meth:`HallManager._handle_emit` sees every emit, this
  process's and the others') and primed from the mail process's ``GET /api/hall``.  Its "sync" is
  answered with the mail process's ``/api/events`` (fetched with the token, then redacted here by
  the same ``privacy.for_asker`` that chose its room).  The teacher's view ("follow") reaches every
  process the same way, so a latecomer anywhere is greeted with it.
- **Sticky sessions.**  Engine.IO's long-polling needs every request of one session at the same
  process (only that process knows the sid); a WebSocket is one connection and needs nothing.  The
  page asks for WebSocket first; the proxy must still be sticky for the polling fallback (README:
  nginx ``hash $remote_addr consistent`` -- not ``ip_hash``, which hashes only the first three octets
  of an IPv4 address and would send a whole classroom subnet to one process).

Loopback only: the queue URL (``redis://`` or ``unix://``) and the mail process's address must be on
this computer (:func:`check_queue_url`, :func:`check_main_url`): the events carry the messages whole,
and a sandbox's mail never leaves the computer.
"""
from __future__ import annotations

import http.client
import ipaddress
import json
import logging
import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterable
from urllib.parse import urlsplit

import socketio

from ..world import is_loopback
from . import fanout
from .quietimports import enable_redis

log = logging.getLogger(__name__)

CHANNEL = "mailflow"                    # the Redis pub/sub channel every web process of one hall shares
EXTENSION = "mailflow.hall"             # app.extensions key of the :class:`Hall`
SNAPSHOT_PATH = "/api/hall"             # the mail process's greeting facts, for a web-only process
FORWARD_TIMEOUT = 130.0                 # seconds: above the test API's longest poll (v1.MAX_WAIT, 120 s)
FETCH_TIMEOUT = 5.0                     # seconds: the greeting snapshot and a "sync"
MAX_FORWARD_BODY = 24 * 1024 * 1024 + 4096      # webmail.MAX_BODY and a little: the mail process decides
# RFC 9110 §7.6.1 hop-by-hop fields, and what the forwarder sets itself
_NOT_FORWARDED = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
                            "trailer", "trailers", "transfer-encoding", "upgrade", "x-forwarded-for",
                            "content-length", "content-type"})
# ... and of the answer: hop-by-hop, and what this process's own server writes (Date, Server)
_NOT_RETURNED = frozenset({"connection", "keep-alive", "transfer-encoding", "date", "server"})
_LOCAL_PREFIXES = ("/static/", "/socket.io")


class HallError(ValueError):
    """A hall setting that cannot work (a queue or an address off this computer, no token)."""


# -- settings ----------------------------------------------------------------------------------------
def _loopback_host(host: str | None) -> bool:
    """A literal loopback address, or the name "localhost", which is then used as 127.0.0.1
    (:func:`_addressed`: nothing asks a resolver).  "localhost." -- a name a resolver would be asked
    for, off this computer -- and every other name are refused."""
    return bool(host) and (host.lower() == "localhost" or is_loopback(host))


def _addressed(url: str) -> str:
    """``url`` with the host "localhost" written as 127.0.0.1 (user, port and path kept)."""
    parts = urlsplit(url)
    if (parts.hostname or "").lower() != "localhost":
        return url
    user, at, _ = parts.netloc.rpartition("@")
    port = f":{parts.port}" if parts.port is not None else ""
    return parts._replace(netloc=f"{user}{at}127.0.0.1{port}").geturl()


def check_queue_url(url: str) -> str:
    """``redis://<loopback>[:port][/db]`` or ``unix://<path>``, "localhost" written as 127.0.0.1;
    HallError otherwise."""
    parts = urlsplit(url)
    if parts.scheme == "unix" and parts.path:
        return url
    if parts.scheme != "redis":
        raise HallError(f"the message queue must be redis://127.0.0.1:<port>/<db> or unix://<path>, not {url!r}")
    if not _loopback_host(parts.hostname):
        raise HallError(f"the message queue must run on this computer (127.0.0.1, ::1 or localhost), not "
                        f"{parts.hostname!r}: the events carry the messages whole")
    return _addressed(url)


def check_main_url(url: str) -> str:
    """The mail process's web address, ``http://<loopback>:<port>/`` ("localhost" written as
    127.0.0.1); HallError otherwise."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not _loopback_host(parts.hostname) or parts.port is None:
        raise HallError(f"--main-web must be the mail process's web address on this computer, "
                        f"http://127.0.0.1:<port>/, not {url!r}")
    return f"http://{urlsplit(_addressed(url)).netloc}/"


def ping_queue(url: str, timeout: float = 2.0) -> None:
    """Is the queue there?  A clear HallError at start beats a log line per lost batch later."""
    import redis
    url = check_queue_url(url)              # never a name for the resolver
    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        client.ping()
    except redis.RedisError as err:
        raise HallError(f"the message queue at {url} does not answer ({err}); start it first, e.g. "
                        f"redis-server --bind 127.0.0.1 --port 6379 --save '' --appendonly no") from None
    finally:
        client.close()


# -- the queue ---------------------------------------------------------------------------------------
Observer = Callable[[str, Any], None]


class HallManager(socketio.RedisManager):
    """python-socketio's Redis client manager that also shows every emit to ``observe(event, data)``:
    this process's own (``emit`` hands them to ``_handle_emit`` before publishing) and the other
    processes' (read from the channel)."""

    def __init__(self, url: str, observe: Observer, *, channel: str = CHANNEL) -> None:
        enable_redis()                  # Socket.IO was imported without it (quietimports.py)
        super().__init__(url, channel=channel)
        self._observe = observe

    def _listen(self) -> Iterable[Any]:
        """The channel's messages, less two kinds dropped before they are decoded (decoding a batch
        of hops is this thread's main cost): this process's own emits (``emit`` has delivered them
        here already) and emits to a room none of this process's sockets is in (a web process full
        of students has no socket in the teacher's room, and each burst is published twice, whole
        and as a viewer's copy).  A message is JSON written by PubSubManager.emit: ``method`` first,
        ``room`` after ``data`` and before ``host_id``; what does not look so is decoded as usual."""
        for data in super()._listen():
            if self.wanted(data):
                yield data

    def wanted(self, data: Any) -> bool:
        """Is this message from the channel worth decoding here?"""
        if not isinstance(data, bytes) or not data.startswith(_EMIT_HEAD):
            return True
        if f'"host_id": "{self.host_id}"'.encode() in data:
            return False
        room = _addressed_room(data)
        return room is None or bool(self.rooms.get("/", {}).get(room))

    def _handle_emit(self, message: dict[str, Any]) -> None:
        data = message.get("data")
        if not message.get("binary") and isinstance(data, list) and len(data) == 1:
            try:
                self._observe(str(message.get("event")), data[0])
            except Exception:       # a watcher's bug must not stop the delivery
                log.exception("watching the message queue failed")
            room = message.get("room")
            if message.get("event") == "events" and isinstance(room, str) and message.get("callback") is None \
                    and not message.get("skip_sid") and fanout.installed(self.server):
                # a batch of hops to this process's pages: framed once for all of them (fanout.py)
                fanout.deliver(self.server, "events", data[0], room, message.get("namespace") or "/")
                return
        super()._handle_emit(message)


_EMIT_HEAD = b'{"method": "emit"'             # json.dumps of PubSubManager.emit's message
_ROOM_KEY = b'"room": "'


def _addressed_room(data: bytes) -> str | None:
    """The room of a published emit, read from its tail (the last ``"room": "`` key: the message's
    own, which follows the payload); None for a broadcast or anything unexpected."""
    at = data.rfind(_ROOM_KEY)
    if at < 0:
        return None
    start = at + len(_ROOM_KEY)
    end = data.find(b'"', start)
    if end < 0 or end - start > 200 or b"\\" in data[start:end] or not data.startswith(b", \"skip_sid\"", end + 1):
        return None
    return data[start:end].decode("utf-8", "replace")


def start_listening(sio: Any) -> None:
    """Subscribe now, not at the first connection (python-socketio's default): a process must follow
    the teacher's view and the gate before any page of its own arrives."""
    server = sio.server
    if not server.manager_initialized:
        server.manager_initialized = True
        server.manager.initialize()


class Mirror:
    """What a web-only process greets a page with, kept from the queue and primed from the mail process.

    ``last_seq`` follows the batches this process decodes (those for a room it has sockets in:
    :meth:`HallManager.wanted`); the gate, the lesson, the teacher's view and a world swap are
    broadcasts, always read."""

    FIELDS = ("last_seq", "gate", "lesson", "follow")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._facts: dict[str, Any] = {"last_seq": 0, "gate": None, "lesson": None, "follow": None}
        self._seen: set[str] = set()            # fields the queue told us: a snapshot never overrides them
        self.primed = False

    def observe(self, event: str, data: Any) -> None:
        with self._lock:
            if event == "events" and isinstance(data, dict) and isinstance(data.get("last_seq"), int):
                self._set("last_seq", max(self._facts["last_seq"], data["last_seq"]))
            elif event == "world" and isinstance(data, dict):
                self._set("follow", None)       # the teacher's view belonged to the old world
                if isinstance(data.get("seq"), int):
                    self._set("last_seq", data["seq"])
            elif event in ("gate", "lesson", "follow"):
                self._set(event, data)

    def _set(self, name: str, value: Any) -> None:
        self._facts[name] = value
        self._seen.add(name)

    def prime(self, snapshot: dict[str, Any]) -> None:
        with self._lock:
            for name in self.FIELDS:
                if name in snapshot and name not in self._seen:
                    self._facts[name] = snapshot[name]
            self.primed = True

    def facts(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._facts)


# -- who is asking -----------------------------------------------------------------------------------
class ForwardedFor:
    """WSGI: a loopback peer's ``X-Forwarded-For`` (its last entry, an IP address) becomes REMOTE_ADDR.

    The hall's reverse proxy and the web-only processes are on this computer; a peer off loopback
    is the browser itself, and what it says it forwards is ignored.  A request for one of the
    ``public_hosts`` (the proxy's names) from a loopback peer *without* the header came through a
    proxy that hides who asks: it is judged as an unknown remote browser (``UNKNOWN``), never as
    this computer -- a misconfigured proxy must not make the whole class the teacher.  The peer
    stays in ``environ["mailflow.peer"]``."""

    UNKNOWN = "0.0.0.0"

    def __init__(self, app: Callable, public_hosts: Iterable[str] = ()) -> None:
        self.app = app
        self.public_hosts = frozenset(h.lower() for h in public_hosts)

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        peer = environ.get("REMOTE_ADDR", "")
        environ["mailflow.peer"] = peer
        if is_loopback(peer):
            forwarded = environ.get("HTTP_X_FORWARDED_FOR", "")
            if forwarded:
                client = forwarded.rsplit(",", 1)[-1].strip()
                try:
                    environ["REMOTE_ADDR"] = str(ipaddress.ip_address(client.strip("[]")))
                except ValueError:
                    environ["REMOTE_ADDR"] = self.UNKNOWN
            elif _host_name(environ.get("HTTP_HOST", "")) in self.public_hosts:
                environ["REMOTE_ADDR"] = self.UNKNOWN
        return self.app(environ, start_response)


def _host_name(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


# -- the mail process, seen from a web-only process --------------------------------------------------
class Upstream:
    """The mail process's web address: the forwarder (a WSGI app) and two reads with the token."""

    def __init__(self, url: str, token: str, *, timeout: float = FORWARD_TIMEOUT) -> None:
        self.url = check_main_url(url)
        parts = urlsplit(self.url)
        self.host, self.port = parts.hostname or "127.0.0.1", int(parts.port or 80)
        self.netloc = parts.netloc
        self._token = token
        self.timeout = timeout

    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    # reads of a web-only process itself (the token: the mail process answers whole; we redact here)
    def get_json(self, target: str, timeout: float = FETCH_TIMEOUT) -> dict[str, Any] | None:
        conn = self._connection(timeout)
        try:
            conn.request("GET", target, headers={"Host": self.netloc, "Accept": "application/json",
                                                 "Authorization": f"Bearer {self._token}"})
            response = conn.getresponse()
            body = response.read()
            if response.status != 200:
                log.warning("the mail process answered %s to %s", response.status, target)
                return None
            answer = json.loads(body)
            return answer if isinstance(answer, dict) else None
        except (OSError, http.client.HTTPException, ValueError) as err:
            log.warning("the mail process at %s does not answer %s: %s", self.url, target, err)
            return None
        finally:
            conn.close()

    def snapshot(self) -> dict[str, Any] | None:
        return self.get_json(SNAPSHOT_PATH)

    def events(self, since: int, limit: int) -> dict[str, Any] | None:
        return self.get_json(f"/api/events?since={since}&limit={limit}")

    # the forwarder
    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        headers = _forwarded_headers(environ)
        body: Any = None
        length = _content_length(environ)
        if length is None and environ.get("wsgi.input_terminated"):
            raw = environ["wsgi.input"].read(MAX_FORWARD_BODY + 1)
            length, body = len(raw), raw
        if length is not None and length > MAX_FORWARD_BODY:
            return _error(start_response, environ, 413, "the request is too large")
        if length:
            headers["Content-Length"] = str(length)
            if body is None:
                body = _LimitedReader(environ["wsgi.input"], length)
        elif method in ("POST", "PUT", "PATCH"):
            headers["Content-Length"] = "0"
        conn = self._connection(self.timeout)
        try:
            conn.request(method, _target(environ), body=body, headers=headers)
            response = conn.getresponse()
        except (OSError, http.client.HTTPException) as err:
            conn.close()
            log.warning("forwarding %s %s to %s failed: %s", method, environ.get("PATH_INFO"), self.url, err)
            return _error(start_response, environ, 502,
                          f"the mail process at {self.url} does not answer: start app.py --message-queue there "
                          f"(this is a web-only process: the page and its viewers)")
        out = [(name, value) for name, value in response.getheaders() if name.lower() not in _NOT_RETURNED]
        start_response(f"{response.status} {response.reason}", out)
        return _stream(conn, response, head=method == "HEAD")


def is_local_path(path: str) -> bool:
    """Served by a web-only process itself: its static files and its Socket.IO endpoint."""
    return path.startswith(_LOCAL_PREFIXES)


class Router:
    """WSGI: ``/static/`` and ``/socket.io/`` to ``local`` (Flask-SocketIO and Flask), the rest upstream."""

    def __init__(self, local: Callable, upstream: Upstream) -> None:
        self.local, self.upstream = local, upstream

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        if is_local_path(environ.get("PATH_INFO", "")):
            return self.local(environ, start_response)
        return self.upstream(environ, start_response)


def _content_length(environ: dict[str, Any]) -> int | None:
    raw = environ.get("CONTENT_LENGTH") or ""
    try:
        value = int(raw)
    except ValueError:
        return None
    return value if value >= 0 else None


def _forwarded_headers(environ: dict[str, Any]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            name = key[5:].replace("_", "-").title()
            if name.lower() not in _NOT_FORWARDED:
                headers[name] = value
    if environ.get("CONTENT_TYPE"):
        headers["Content-Type"] = environ["CONTENT_TYPE"]
    headers["X-Forwarded-For"] = environ.get("REMOTE_ADDR", "")
    return headers


def _target(environ: dict[str, Any]) -> str:
    """The path and query as the browser sent them (Werkzeug keeps them in RAW_URI)."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or ""
    if raw.startswith("/") and not raw.startswith("//"):
        return raw
    from urllib.parse import quote
    path = quote(environ.get("PATH_INFO", "/").encode("latin-1"), safe="/:@!$&'()*+,;=-._~")
    query = environ.get("QUERY_STRING", "")
    return path + (f"?{query}" if query else "")


class _LimitedReader:
    """``length`` octets of the request body, read as the upstream connection sends them."""

    def __init__(self, stream: Any, length: int) -> None:
        self._stream, self._left = stream, length

    def read(self, size: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        size = self._left if size is None or size < 0 else min(size, self._left)
        chunk = self._stream.read(size)
        self._left -= len(chunk)
        if not chunk:
            self._left = 0
        return chunk


def _stream(conn: http.client.HTTPConnection, response: http.client.HTTPResponse, *,
            head: bool) -> Iterable[bytes]:
    try:
        if head:
            return
        while True:
            chunk = response.read(64 * 1024)
            if not chunk:
                return
            yield chunk
    finally:
        conn.close()


def _error(start_response: Callable, environ: dict[str, Any], status: int, message: str) -> list[bytes]:
    reason = {413: "Request Entity Too Large", 502: "Bad Gateway"}.get(status, "Error")
    if environ.get("PATH_INFO", "").startswith("/api/"):
        body, kind = json.dumps({"error": message}).encode(), "application/json"
    else:
        body, kind = message.encode(), "text/plain; charset=utf-8"
    start_response(f"{status} {reason}", [("Content-Type", kind), ("Content-Length", str(len(body))),
                                           ("Cache-Control", "no-store")])
    return [body]


# -- what an app of the hall keeps -------------------------------------------------------------------
@dataclass(slots=True)
class Hall:
    """The hall's parts of one web process (``app.extensions[EXTENSION]``): the queue, and for a
    web-only process the mirror and the mail process's address."""
    queue: str
    mirror: Mirror | None = None
    upstream: Upstream | None = None

    @property
    def web_only(self) -> bool:
        return self.upstream is not None


def of(app: Any) -> Hall | None:
    return app.extensions.get(EXTENSION)


def prime_in_background(hall: Hall, attempts: int = 60, pause: float = 0.5) -> threading.Thread:
    """Fetch the greeting snapshot until the mail process answers (it may start after us)."""
    stop = threading.Event()

    def run() -> None:
        for _ in range(attempts):
            assert hall.upstream is not None and hall.mirror is not None
            snapshot = hall.upstream.snapshot()
            if snapshot is not None:
                hall.mirror.prime(snapshot)
                return
            if stop.wait(pause):
                return

    thread = threading.Thread(target=run, name="hall-prime", daemon=True)
    thread.start()
    return thread


def token_for_web_only(data_dir: Any, given: str | None, environ: dict[str, str]) -> str:
    """The teacher's token for a web-only process: ``--api-token``, ``MAILFLOW_API_TOKEN``, or the
    one the mail process wrote to ``<data>/api-token``; read, never written."""
    from .. import apitoken
    for source, token in (("--api-token", given), (apitoken.ENV, environ.get(apitoken.ENV))):
        if token:
            if not apitoken.valid_token(token):
                raise HallError(f"{source}: a token is 16 to 256 characters of A-Z a-z 0-9 - _ . ~")
            return token
    token = apitoken.read_token(data_dir)
    if token is None:
        raise HallError(f"no teacher's token: start the mail process first (it writes {data_dir}/"
                        f"{apitoken.TOKEN_FILE}), give the same --data, or --api-token")
    return token
