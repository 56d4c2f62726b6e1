"""The classroom view: Flask app factory, JSON API and Socket.IO handlers.

    app = create_app(stack)              # stack: a started simulator.runtime.MailStack
    server = serve(stack, config)        # app.py: background thread, prints the URL, .shutdown()

Who may do what
    Everybody who can open the page sees everything, live.  Control (play/pause/step/speed, hosts
    up and down, MX tables, flushing queues, sending) belongs to the teacher: a browser that opened
    the secret link printed at start (the token moves into an HttpOnly SameSite=Strict cookie and
    the address bar is cleaned, so projecting the screen does not reveal it), a browser on this
    computer (loopback), or a script presenting ``Authorization: Bearer <token>``.  By default the
    page is served on 127.0.0.1 only; ``--web-host 0.0.0.0`` shares it with the classroom.

Defences
    - CSRF: every control request from a browser carries ``X-CSRF-Token`` (from a meta tag) equal
      to the token in its signed session cookie (SameSite=Strict), has a JSON body (no HTML form can
      send one cross-site without a CORS preflight, which we never grant) and, when the browser
      sends an Origin, that origin is ours.
    - DNS rebinding: the Host header must be an IP literal, ``localhost`` or a configured name.
    - Hostile mail: the JSON API returns message-derived strings as data, the page inserts them
      with textContent only; an HTML body is served alone, by its own endpoint, under
      ``Content-Security-Policy: sandbox; default-src 'none'; style-src 'unsafe-inline';
      img-src data:`` and shown in an ``<iframe sandbox>``.  The page's own CSP forbids inline
      script.
    - Socket.IO: at most SOCKET_MAX_CONNECTIONS live connections (SOCKET_MAX_PER_ADDRESS from one
      remote address; more are refused in the connect handler), and "sync" is served at most once
      per SYNC_INTERVAL seconds per connection (see ``SocketGuard``).
    - Passwords: /api/clients shows the sandbox's passwords (a classroom sandbox, on purpose), but in
      shared mode only to the teacher.

JSON API (see README): GET /api/state, /api/layout, /api/events, /api/clients,
/api/mailbox/<address>[/<key>[/html]]; POST /api/gate, /api/hosts/<name>, /api/flush, /api/send;
PUT /api/mx/<domain>.
Socket.IO: server -> browser "hello", "events", "gate" (see bridge.py); browser -> server "sync".
"""
from __future__ import annotations

import hmac
import ipaddress
import logging
import re
import secrets
import shlex
import smtplib
import threading
import time
from dataclasses import dataclass, field
from email import policy as email_policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser, BytesParser
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from flask import Flask, Response, current_app, jsonify, redirect, render_template, request, session
from flask_socketio import SocketIO, emit
from werkzeug.exceptions import HTTPException
from werkzeug.serving import make_server

from . import autoconfig, tls
from .bridge import Bridge
from .layout import layout
from .world import WorldError, is_loopback

if TYPE_CHECKING:
    from .config import Config
    from .runtime import MailStack

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
TEACHER_COOKIE = "mailflow_teacher"
PAGE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "connect-src 'self'; frame-src 'self'; object-src 'none'; base-uri 'none'; "
            "form-action 'self'; frame-ancestors 'none'")
# The body of a message is hostile: no script, no network, no forms, its own opaque origin.
MAIL_CSP = ("sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
            "form-action 'none'; frame-ancestors 'self'")
SYNC_LIMIT = 1000
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._,=+\-\\]{0,250}$")
_ADDRESS = re.compile(r"^[^@\s<>\"(),;:\\]{1,64}@[A-Za-z0-9.-]{1,253}$")


class SocketGuard:
    """Per-connection bookkeeping for Socket.IO: connection caps and the rate of "sync".

    ``admit`` is called by the connect handler: it refuses a connection beyond ``max_total`` live
    ones, or beyond ``max_per_address`` from one remote address.  ``sync_wait`` is called by the
    "sync" handler: 0 means "serve it now" (and starts the interval), otherwise the seconds left.
    A sync inside the interval is answered at once with an empty ``{"throttled": true,
    "retry_after": s}`` rather than delayed: a delayed answer would park a server thread per
    call, which is exactly what a flood of syncs must not be able to do.  The page waits
    ``retry_after`` and asks again (main.js); the first sync of every connection is never throttled.
    """

    def __init__(self, *, max_total: int, max_per_address: int, sync_interval: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_total, self.max_per_address = max_total, max_per_address
        self.sync_interval = sync_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._address: dict[str, str] = {}             # sid -> remote address
        self._per_address: dict[str, int] = {}
        self._last_sync: dict[str, float] = {}         # sid -> when its last sync was served

    def admit(self, sid: str, address: str) -> str | None:
        """Register a connection; None if admitted, else why not."""
        with self._lock:
            if sid in self._address:
                return None
            if len(self._address) >= self.max_total:
                return "too many live connections to this classroom view; try again later"
            if self._per_address.get(address, 0) >= self.max_per_address:
                return "too many live connections from your address; close some tabs"
            self._address[sid] = address
            self._per_address[address] = self._per_address.get(address, 0) + 1
            return None

    def release(self, sid: str) -> None:
        with self._lock:
            address = self._address.pop(sid, None)
            self._last_sync.pop(sid, None)
            if address is not None:
                left = self._per_address.get(address, 1) - 1
                if left > 0:
                    self._per_address[address] = left
                else:
                    self._per_address.pop(address, None)

    def sync_wait(self, sid: str) -> float:
        """0.0: serve this sync now (and remember when); otherwise seconds until the next is served."""
        now = self._clock()
        with self._lock:
            last = self._last_sync.get(sid)
            if last is not None and now - last < self.sync_interval:
                return round(self.sync_interval - (now - last), 3) or 0.001
            self._last_sync[sid] = now
            return 0.0

    @property
    def connections(self) -> int:
        with self._lock:
            return len(self._address)


@dataclass(slots=True)
class Context:
    """What the views need: the mail stack and the bridge (one per app)."""
    stack: "MailStack | None"
    bridge: Bridge | None
    socketio: SocketIO
    sockets: SocketGuard
    fingerprint: dict[str, str] = field(default_factory=dict)     # cached: the certificate's SHA-256


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


# -- the factory ------------------------------------------------------------------------------------
def create_app(stack: "MailStack | None" = None, test_config: dict[str, Any] | None = None) -> Flask:
    """The Flask app of the classroom view for a running ``stack`` (None: a page with no world)."""
    app = Flask(__name__, root_path=str(ROOT), template_folder="templates", static_folder="static")
    web_host = stack.config.web_host if stack is not None else "127.0.0.1"
    app.config.from_mapping(
        SECRET_KEY=secrets.token_hex(32),
        TEACHER_TOKEN=secrets.token_urlsafe(18),
        SHARED=not _is_loopback_host(web_host),
        TRUST_LOOPBACK=True,            # a browser on this computer is the teacher's
        # host names besides IP literals and "localhost": autoconfig.<domain>, for Thunderbird's
        # account wizard when a teacher maps those names to this machine (README)
        ALLOWED_HOSTS=tuple(f"autoconfig.{d}" for d in stack.world.domains
                            if d.endswith((".test", ".example", ".invalid", ".localhost")))
        if stack is not None else (),
        BRIDGE_WINDOW=0.03,
        SEND_WAIT=2.0,                  # seconds /api/send waits for the MSA's 250 before answering 202
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_NAME="mailflow_session",
        SEND_FILE_MAX_AGE_DEFAULT=0,    # a classroom edits nothing, but a reload must pick up fixes
        MAX_CONTENT_LENGTH=256 * 1024,
        SOCKET_MAX_CONNECTIONS=200,     # live Socket.IO connections in all
        SOCKET_MAX_PER_ADDRESS=50,      # ... and from one remote address
        SYNC_INTERVAL=1.0,              # seconds between two "sync" answers on one connection
    )
    if test_config:
        app.config.from_mapping(test_config)
    app.json.sort_keys = False              # keep the order the simulator gave (seq, ts, kind ...)

    socketio = SocketIO()
    socketio.init_app(app, async_mode="threading", cors_allowed_origins=None, logger=False,
                      engineio_logger=False, ping_interval=20, ping_timeout=20)
    bridge = Bridge(socketio, stack, window=app.config["BRIDGE_WINDOW"]) if stack is not None else None
    guard = SocketGuard(max_total=int(app.config["SOCKET_MAX_CONNECTIONS"]),
                        max_per_address=int(app.config["SOCKET_MAX_PER_ADDRESS"]),
                        sync_interval=float(app.config["SYNC_INTERVAL"]))
    app.extensions["mailflow"] = Context(stack, bridge, socketio, guard)

    _register_guards(app)
    _register_pages(app)
    _register_api(app)
    _register_socket(socketio)
    if stack is not None:
        app.register_blueprint(autoconfig.blueprint(stack))
    return app


def _ctx() -> Context:
    return current_app.extensions["mailflow"]


def _stack() -> "MailStack":
    stack = _ctx().stack
    if stack is None:
        raise ApiError(503, "the mail world is not running")
    return stack


# -- who is asking ----------------------------------------------------------------------------------
def _is_loopback_host(host: str) -> bool:
    return host in ("localhost", "") or is_loopback(host)


def _bearer() -> str:
    value = request.headers.get("Authorization", "")
    return value[7:].strip() if value[:7].lower() == "bearer " else ""


def _token_ok(candidate: str) -> bool:
    token = current_app.config["TEACHER_TOKEN"]
    return bool(candidate) and hmac.compare_digest(candidate.encode(), token.encode())


def is_teacher() -> bool:
    if _token_ok(request.cookies.get(TEACHER_COOKIE, "")) or _token_ok(_bearer()):
        return True
    return bool(current_app.config["TRUST_LOOPBACK"]) and is_loopback(request.remote_addr or "")


def _host_allowed(host_header: str) -> bool:
    host = host_header.strip().lower()
    if host.startswith("["):                       # [::1]:8580
        host = host[1:].split("]", 1)[0]
    elif host.count(":") == 1:
        host = host.rsplit(":", 1)[0]
    if host == "localhost" or host in current_app.config["ALLOWED_HOSTS"]:
        return True
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def _check_control() -> None:
    """CSRF and teacher checks for every state-changing request."""
    if not _token_ok(_bearer()):                   # a bearer token is not ambient: no CSRF risk
        expected = session.get("csrf", "")
        given = request.headers.get("X-CSRF-Token", "")
        if not expected or not given or not hmac.compare_digest(given.encode(), expected.encode()):
            raise ApiError(403, "missing or wrong CSRF token: reload the page")
        origin = request.headers.get("Origin")
        if origin is not None and origin.rstrip("/") != request.host_url.rstrip("/"):
            raise ApiError(403, "cross-origin request refused")
    if not request.is_json:
        raise ApiError(415, "send JSON (Content-Type: application/json)")
    if not is_teacher():
        raise ApiError(403, "only the teacher can control the simulation (viewers can watch)")


def _register_guards(app: Flask) -> None:
    @app.before_request
    def check_host() -> Response | None:
        if not _host_allowed(request.host):
            return Response("unknown Host header (DNS rebinding?)", status=400, mimetype="text/plain")
        if request.method in ("POST", "PUT", "PATCH", "DELETE"):
            _check_control()
        return None

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", PAGE_CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if request.path.startswith("/api/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.errorhandler(ApiError)
    def api_error(err: ApiError):
        return jsonify(error=err.message), err.status

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException):
        if request.path.startswith("/api/"):
            return jsonify(error=err.description or err.name), err.code
        return err


# -- the page ---------------------------------------------------------------------------------------
def _register_pages(app: Flask) -> None:
    @app.get("/")
    def index():
        given = request.args.get("teacher")
        if given is not None:
            # Keep the secret out of the address bar (it is projected) and out of the history.
            response = redirect("/", code=303)
            if _token_ok(given):
                response.set_cookie(TEACHER_COOKIE, given, httponly=True, samesite="Strict", path="/")
            response.headers["Cache-Control"] = "no-store"
            return response
        if "csrf" not in session:
            session["csrf"] = secrets.token_urlsafe(24)
        ctx = _ctx()
        title = ""
        if ctx.stack is not None:
            title = ctx.stack.world.scenario.title.en
        response = Response(render_template(
            "index.html", csrf=session["csrf"], role="teacher" if is_teacher() else "viewer",
            shared=current_app.config["SHARED"], title=title, has_world=ctx.stack is not None))
        response.headers["Cache-Control"] = "no-store"
        return response


# -- the JSON API -----------------------------------------------------------------------------------
def _json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object")
    return body


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"{name} must be an integer") from None
    return min(max(value, low), high)


def _events_since(stack: "MailStack", since: int, limit: int) -> dict[str, Any]:
    """Events after ``since``: one pass over the bus's history.

    ``first_seq`` is the first sequence number still available after ``since``: ``since + 1``
    when nothing was lost, higher when the bounded history has already forgotten the events in
    between (the page then knows that hole can never be filled).  With no events it is
    ``last_seq + 1``.
    """
    # last_seq is read before the history: with no events, last_seq + 1 cannot skip one published meanwhile
    last_seq = stack.bus.last_seq
    events = stack.bus.since(since, limit=limit + 1)
    more = len(events) > limit
    events = events[:limit]
    return {"events": [e.to_dict() for e in events], "last_seq": max(last_seq, events[-1].seq if events else 0),
            "first_seq": events[0].seq if events else last_seq + 1, "more": more}


def _register_api(app: Flask) -> None:
    @app.get("/api/state")
    def state():
        stack = _stack()
        bridge = _ctx().bridge
        world = stack.world
        return jsonify(
            world=world.to_dict(),
            baseline=bridge.baseline if bridge else None,
            world_changes=bridge.world_change_list() if bridge else [],
            gate=stack.gate.state().to_dict(),
            role="teacher" if is_teacher() else "viewer",
            shared=current_app.config["SHARED"],
            last_seq=stack.bus.last_seq,
            users=[{"address": a, "name": world.user(a).display_name} for a in world.users()],
            mailboxes={a: len(_maildir_files(stack, a)) for a in world.users()},
            listeners=stack.listener_table(),
            queue=_queue(stack),
        )

    @app.get("/api/layout")
    def layout_view():
        stack = _stack()
        width = _int_arg("width", 1200, 320, 4096)
        height = _int_arg("height", 640, 240, 4096)
        return jsonify(layout(stack.world.graph(), width, height))

    @app.get("/api/events")
    def events():
        stack = _stack()
        since = _int_arg("since", 0, 0, 2 ** 62)
        limit = _int_arg("limit", SYNC_LIMIT, 1, SYNC_LIMIT)
        return jsonify(_events_since(stack, since, limit))

    @app.post("/api/gate")
    def gate():
        stack = _stack()
        body = _json_body()
        action = body.get("action")
        if "granularity" in body:
            if body["granularity"] not in ("hop", "line"):
                raise ApiError(400, "granularity must be \"hop\" or \"line\"")
            stack.gate.set_granularity(body["granularity"])
        if "delay" in body:
            delay = body["delay"]
            if isinstance(delay, bool) or not isinstance(delay, (int, float)):
                raise ApiError(400, "delay must be a number of seconds")
            try:
                stack.gate.set_delay(float(delay))
            except ValueError as err:
                raise ApiError(400, str(err)) from None
        if action is not None:
            actions: dict[str, Callable[[], None]] = {
                "play": stack.gate.play, "pause": stack.gate.pause, "step": stack.gate.step}
            if action not in actions:
                raise ApiError(400, "action must be one of: play, pause, step")
            actions[action]()
        elif "delay" not in body and "granularity" not in body:
            raise ApiError(400, "give an action (play, pause, step), a delay or a granularity")
        return jsonify(ok=True)

    @app.post("/api/hosts/<name>")
    def host(name: str):
        stack = _stack()
        body = _json_body()
        if not isinstance(body.get("up"), bool):
            raise ApiError(400, "give {\"up\": true} or {\"up\": false}")
        if name.lower() not in stack.world.hosts:
            raise ApiError(404, f"no host named {name!r} in this scenario")
        try:
            return jsonify(host=stack.set_host_state(name, body["up"]))
        except WorldError as err:
            raise ApiError(400, str(err)) from None

    @app.put("/api/mx/<domain>")
    def mx(domain: str):
        stack = _stack()
        body = _json_body()
        records = body.get("records")
        if not isinstance(records, list) or len(records) > 50:
            raise ApiError(400, "records must be a list of {preference, host}")
        table: list[tuple[Any, str]] = []
        for item in records:
            if not isinstance(item, dict) or "host" not in item or "preference" not in item:
                raise ApiError(400, "each MX record needs a preference and a host")
            table.append((_preference(item["preference"]), str(item["host"]).strip()))
        try:
            return jsonify(domain=domain.lower(), mx=stack.set_mx(domain, table))
        except WorldError as err:
            raise ApiError(400, str(err)) from None

    @app.post("/api/flush")
    def flush():
        stack = _stack()
        host = _json_body().get("host")
        if host is not None and (not isinstance(host, str) or host.lower() not in stack.world.hosts):
            raise ApiError(404, f"no host named {host!r} in this scenario")
        return jsonify(retried=stack.flush(host.lower() if host else None))

    @app.post("/api/send")
    def send():
        stack = _stack()
        status, body = send_test_message(stack, _json_body(), wait=current_app.config["SEND_WAIT"])
        return jsonify(body), status

    @app.get("/api/clients")
    def clients():
        stack = _stack()
        show = is_teacher() or not current_app.config["SHARED"]
        return jsonify(client_settings(stack, show_passwords=show, base_url=request.host_url,
                                       fingerprint=_fingerprint(stack)))

    @app.get("/api/mailbox/<address>")
    def mailbox(address: str):
        stack = _stack()
        files = _maildir_files(stack, _known_user(stack, address))
        return jsonify(address=address.lower(), messages=[_summary(p) for p in files[-200:]],
                       count=len(files))

    @app.get("/api/mailbox/<address>/<key>")
    def mailbox_message(address: str, key: str):
        stack = _stack()
        return jsonify(_read_message(_find_message(stack, address, key)))

    @app.get("/api/mailbox/<address>/<key>/html")
    def mailbox_html(address: str, key: str):
        stack = _stack()
        html = _html_body(_find_message(stack, address, key))
        if html is None:
            raise ApiError(404, "this message has no HTML part")
        response = Response(html, mimetype="text/html")
        response.headers["Content-Security-Policy"] = MAIL_CSP
        response.headers["X-DNS-Prefetch-Control"] = "off"     # links in hostile mail resolve nothing
        response.headers["X-Frame-Options"] = "SAMEORIGIN"
        response.headers["Cache-Control"] = "no-store"
        return response


def _preference(value: Any) -> Any:
    """Numbers from a form may arrive as strings; anything else goes to the world to be refused."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _queue(stack: "MailStack") -> list[dict]:
    try:
        return stack.queue_snapshot()
    except Exception:       # the loop is busy or stopping: the page works without it
        log.debug("queue snapshot failed", exc_info=True)
        return []


# -- connecting a real mail client (/api/clients) ----------------------------------------------------
# (key in the answer, plain/STARTTLS listener, implicit-TLS listener) -- front-door services
CLIENT_SERVERS = (("imap", "imap", "imaps"), ("pop3", "pop3", "pop3s"), ("smtp", "submission", "smtps"))


def _fingerprint(stack: "MailStack") -> str | None:
    """The SHA-256 fingerprint of the sandbox's certificate (None without TLS); cached per app."""
    if stack.ssl_context is None:
        return None
    cache = _ctx().fingerprint
    if "sha256" not in cache:
        try:
            cert_path, _key = tls.ensure_certificate(stack.config.data_dir)
            cache["sha256"] = tls.fingerprint(cert_path)
        except (OSError, ValueError):
            log.warning("could not read the TLS certificate", exc_info=True)
            return None
    return cache["sha256"]


def client_settings(stack: "MailStack", *, show_passwords: bool, base_url: str,
                    fingerprint: str | None) -> dict[str, Any]:
    """Everything a student needs to point a real mail client at the front door.

    Ports come from the listeners actually bound (not from the configuration).  Passwords are
    ``None`` when not shown; the one-liners then leave the password out (curl and swaks ask for it).
    """
    front = {item["service"]: item for item in stack.listener_table() if item["host"] == "front"}
    tls_on = stack.ssl_context is not None

    def port(service: str) -> int | None:
        return front[service]["port"] if service in front else None
    servers = {key: {"host": tls.HOSTNAME, "port": port(plain), "starttls": tls_on,
                     "ssl_port": port(implicit) if tls_on else None}
               for key, plain, implicit in CLIENT_SERVERS}
    address = stack.config.front_host
    if ":" in address:
        address = f"[{address}]"
    world = stack.world
    everyone = world.users()
    users = []
    for login in everyone:
        user = world.user(login)
        domain = login.rpartition("@")[2]
        password = user.password if show_passwords else None
        credentials = f"{login}:{password}" if password is not None else login
        curl = (f"curl imap://{address}:{servers['imap']['port']}/INBOX -u {shlex.quote(credentials)} "
                f"-X 'UID SEARCH ALL'")
        # a recipient in another domain shows the whole journey; the user itself in a one-domain world
        to = next((a for a in everyone if a.rpartition("@")[2] != domain), login)
        swaks = [f"swaks --server {address}:{servers['smtp']['port']}", "--auth PLAIN",
                 f"--auth-user {shlex.quote(login)}"]
        if password is not None:
            swaks.append(f"--auth-password {shlex.quote(password)}")
        swaks += [f"--from {shlex.quote(login)}", f"--to {shlex.quote(to)}",
                  "--header 'Subject: Hello from swaks'"]
        users.append({"address": login, "name": user.display_name, "domain": domain, "login": login,
                      "password": password, "autoconfig": f"/autoconfig/v1.1/{domain}",
                      "commands": {"curl": curl, "swaks": " ".join(swaks)}})
    return {"tls": tls_on, "servers": servers, "address": stack.config.front_host,
            "certificate": {"sha256": fingerprint} if fingerprint else None,
            "passwords_shown": show_passwords,
            "autoconfig_url": base_url.rstrip("/") + "/autoconfig/v1.1/",
            "users": users}


# -- sending from the page --------------------------------------------------------------------------
def _front_submission(stack: "MailStack") -> tuple[str, int]:
    for item in stack.listener_table():
        if item["service"] == "submission" and item["host"] == "front":
            return item["address"], item["port"]
    raise ApiError(503, "the front-door submission port is not listening")


def send_test_message(stack: "MailStack", body: dict[str, Any], *, wait: float = 2.0) -> tuple[int, dict]:
    """Submit a message as a user of the world, through the real front door (smtplib, AUTH).

    In step mode the MSA holds its 250 until the teacher releases the hop, so the dialogue runs in
    its own thread; after ``wait`` seconds the answer is 202 (pending) and the timeline tells the rest.
    """
    sender = str(body.get("from", "")).strip()
    rcpt = str(body.get("to", "")).strip()
    subject = str(body.get("subject", ""))
    text = str(body.get("body", ""))
    user = stack.world.user(sender) if sender else None
    if user is None:
        raise ApiError(400, f"{sender or '(empty)'} is not a user of this world")
    if not _ADDRESS.match(rcpt):
        raise ApiError(400, f"not an e-mail address: {rcpt[:100]!r}")
    if len(subject) > 300 or len(text) > 100_000:
        raise ApiError(400, "the subject or the body is too long")
    message = EmailMessage()
    try:
        message["From"] = sender
        message["To"] = rcpt
        message["Subject"] = subject
    except (ValueError, TypeError) as err:       # a newline in a header: header injection
        raise ApiError(400, f"bad header: {err}") from None
    if text.isascii():
        message.set_content(text)
    else:
        message.set_content(text, charset="utf-8", cte="8bit")
    host, port = _front_submission(stack)
    outcome: dict[str, Any] = {}
    done = threading.Event()

    def dialogue() -> None:
        try:
            # local_hostname: never let smtplib ask the machine's resolver (socket.getfqdn()).
            with smtplib.SMTP(host, port, local_hostname="mailflow-web.localhost", timeout=600) as smtp:
                smtp.login(sender, user.password)
                options = [] if text.isascii() else ["BODY=8BITMIME"]
                code, reply = smtp.mail(sender, options)
                if code != 250:
                    raise smtplib.SMTPSenderRefused(code, reply, sender)
                code, reply = smtp.rcpt(rcpt)
                if code not in (250, 251):
                    raise smtplib.SMTPRecipientsRefused({rcpt: (code, reply)})
                code, reply = smtp.data(message.as_bytes(policy=email_policy.SMTP))
                if code != 250:
                    raise smtplib.SMTPDataError(code, reply)
                outcome["ok"] = f"{code} {reply.decode('utf-8', 'replace')}"
        except smtplib.SMTPRecipientsRefused as err:
            code, reply = next(iter(err.recipients.values()))
            outcome["refused"] = f"{code} {reply.decode('utf-8', 'replace')}"
        except smtplib.SMTPResponseException as err:
            reply = err.smtp_error.decode("utf-8", "replace") if isinstance(err.smtp_error, bytes) else str(err.smtp_error)
            outcome["refused"] = f"{err.smtp_code} {reply}"
        except (OSError, smtplib.SMTPException) as err:
            outcome["error"] = f"could not talk to the MSA: {err}"
        finally:
            done.set()

    threading.Thread(target=dialogue, name="web-send", daemon=True).start()
    if not done.wait(wait):
        return 202, {"ok": True, "pending": True,
                     "message": "submitted; the MSA answers when the step gate releases the hop"}
    if "ok" in outcome:
        return 200, {"ok": True, "reply": outcome["ok"]}
    if "refused" in outcome:
        return 422, {"error": f"the MSA refused: {outcome['refused']}"}
    return 503, {"error": outcome.get("error", "unknown error")}


# -- mailbox views (read only: the IMAP store owns its index files) ---------------------------------
def _known_user(stack: "MailStack", address: str) -> str:
    if not stack.world.user_exists(address):
        raise ApiError(404, f"no user {address[:100]!r} in this world")
    return address.lower()


def _maildir_files(stack: "MailStack", address: str) -> list[Path]:
    local, _, domain = address.lower().rpartition("@")
    root = stack.config.data_dir / "mail" / domain / local
    files: list[Path] = []
    for sub in ("new", "cur"):
        folder = root / sub
        if folder.is_dir():
            files.extend(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    return sorted(files, key=lambda p: (p.name.split(".", 1)[0].zfill(12), p.name))


def _find_message(stack: "MailStack", address: str, key: str) -> Path:
    address = _known_user(stack, address)
    if not _KEY.match(key):
        raise ApiError(400, "bad message key")
    for path in _maildir_files(stack, address):
        if path.name.split(":", 1)[0] == key:
            return path
    raise ApiError(404, "no such message (POP3 may have deleted it)")


def _summary(path: Path) -> dict[str, Any]:
    with open(path, "rb") as handle:
        head = handle.read(64 * 1024)
    headers = BytesHeaderParser(policy=email_policy.default).parsebytes(head)
    return {"key": path.name.split(":", 1)[0], "folder": path.parent.name, "size": path.stat().st_size,
            "from": _header(headers, "from"), "to": _header(headers, "to"),
            "subject": _header(headers, "subject"), "date": _header(headers, "date")}


def _header(headers: Any, name: str) -> str:
    try:
        value = headers.get(name)
    except Exception:          # malformed header: show nothing rather than fail
        return ""
    return str(value)[:500] if value is not None else ""


def _parse(path: Path):
    data = path.read_bytes()[:5 * 1024 * 1024]
    return BytesParser(policy=email_policy.default).parsebytes(data)


def _read_message(path: Path) -> dict[str, Any]:
    message = _parse(path)
    text, html = "", False
    try:
        part = message.get_body(preferencelist=("plain",))
        if part is not None:
            text = part.get_content()[:50_000]
        html = message.get_body(preferencelist=("html",)) is not None
    except Exception as err:           # a broken MIME structure is shown as such
        text = f"[this message could not be decoded: {err}]"
    attachments = []
    try:
        for part in message.iter_attachments():
            attachments.append({"filename": str(part.get_filename() or "")[:200],
                                "type": part.get_content_type(), "size": len(part.get_payload(decode=True) or b"")})
    except Exception:
        pass
    summary = _summary(path)
    summary.update(text=text, has_html=html, attachments=attachments[:50],
                   received=[str(v)[:500] for v in (message.get_all("received") or [])][:50],
                   return_path=_header(message, "return-path"), delivered_to=_header(message, "delivered-to"))
    return summary


def _html_body(path: Path) -> str | None:
    try:
        part = _parse(path).get_body(preferencelist=("html",))
        return None if part is None else str(part.get_content())
    except Exception:
        return None


# -- Socket.IO --------------------------------------------------------------------------------------
def _register_socket(socketio: SocketIO) -> None:
    @socketio.on("connect")
    def connect(auth: Any = None) -> bool | None:
        # Engine.IO answers before Flask's before_request: check the Host here too (DNS rebinding).
        if not _host_allowed(request.host):
            return False
        ctx = _ctx()
        refused = ctx.sockets.admit(request.sid, request.remote_addr or "")
        if refused is not None:
            log.info("Socket.IO connection from %s refused: %s", request.remote_addr, refused)
            raise ConnectionRefusedError(refused)      # the page gets it as a connect_error
        stack = ctx.stack
        try:
            emit("hello", {"role": "teacher" if is_teacher() else "viewer",
                           "last_seq": stack.bus.last_seq if stack else 0,
                           "gate": stack.gate.state().to_dict() if stack else None})
        except Exception:
            ctx.sockets.release(request.sid)     # a failed connect gets no disconnect event
            raise

    @socketio.on("disconnect")
    def disconnect(reason: Any = None) -> None:
        _ctx().sockets.release(request.sid)

    @socketio.on("sync")
    def sync(data: Any = None) -> dict[str, Any]:
        """A browser that (re)connects asks for what it missed; the answer is the ack.

        At most one answer per SYNC_INTERVAL per connection: one inside the interval gets an empty
        answer at once, ``{"events": [], "more": false, "throttled": true, "retry_after": s}``
        (no first_seq: nothing to conclude from it), and the page asks again after ``s`` seconds.
        """
        ctx = _ctx()
        stack = ctx.stack
        wait = ctx.sockets.sync_wait(request.sid)
        if wait:
            return {"events": [], "last_seq": stack.bus.last_seq if stack else 0, "more": False,
                    "throttled": True, "retry_after": wait}
        if stack is None:
            return {"events": [], "last_seq": 0, "first_seq": 1, "more": False}
        since = data.get("since", 0) if isinstance(data, dict) else 0
        if isinstance(since, bool) or not isinstance(since, int) or since < 0:
            since = 0
        return _events_since(stack, since, SYNC_LIMIT)


# -- running it (app.py) ----------------------------------------------------------------------------
class WebServer:
    """The web UI running in a background thread; ``shutdown()`` stops it."""

    def __init__(self, app: Flask, server: Any, thread: threading.Thread, url: str, teacher_url: str) -> None:
        self.app, self._server, self._thread = app, server, thread
        self.url, self.teacher_url = url, teacher_url
        self.port: int = server.server_port

    def shutdown(self) -> None:
        ctx: Context = self.app.extensions["mailflow"]
        if ctx.bridge is not None:
            ctx.bridge.stop()
        self._server.shutdown()
        self._thread.join(5)
        self._server.server_close()


def serve(stack: "MailStack", config: "Config", *, test_config: dict[str, Any] | None = None,
          quiet: bool = False, out: Any = None) -> WebServer:
    """Start the web UI for ``stack`` on ``config.web_host``:``config.ports.web`` in a thread."""
    import sys
    out = out or sys.stdout
    app = create_app(stack, test_config)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)      # no line per request in the terminal
    server = make_server(config.web_host, config.ports.web, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="web", daemon=True)
    thread.start()
    port = server.server_port
    wildcard = config.web_host in ("0.0.0.0", "::", "")
    local = "127.0.0.1" if wildcard or _is_loopback_host(config.web_host) else config.web_host
    if ":" in local:
        local = f"[{local}]"
    url = f"http://{local}:{port}/"
    teacher_url = f"{url}?teacher={app.config['TEACHER_TOKEN']}"
    if not quiet:
        print(f"Web UI (teacher, keep this link private): {teacher_url}", file=out)
        if app.config["SHARED"]:
            shown = "<this computer's address>" if wildcard else config.web_host
            print(f"Classroom view (watch only): http://{shown}:{port}/  "
                  f"(the mail servers stay on loopback)", file=out)
        print("Scripts: send the token of that link as 'Authorization: Bearer <token>' (README, JSON API)",
              file=out)
        out.flush()
    return WebServer(app, server, thread, url, teacher_url)
