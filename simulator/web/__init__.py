"""The classroom view: the only package of the simulator that imports Flask and Socket.IO.

    app = create_app(director)           # a simulator.lesson.Director: lessons, and the world it runs
    app = create_app(stack)              # or a started MailStack (no lessons: those routes answer 503)
    app = create_app(stack, api_only=True)   # the test API alone: no page, no Socket.IO (app.py --api-only)
    app = create_app(director, message_queue="redis://127.0.0.1:6379/0")   # the mail process of a hall
    app = create_web_only_app("http://127.0.0.1:8580/", token, "redis://...")  # a hall's extra web process
    server = serve(director, config)     # app.py: background thread, prints the URL, .shutdown()

When the director swaps the world (a lesson loaded, the world reset), ``_on_director`` points the
Context at the new stack and rebinds the bridge, which tells every page to reload; a change of the
lesson's state goes to every page as it happens.

Modules
    context.py     the app's Context (stack, bridge, Socket.IO, socket guard) and ApiError
    guard.py       who may do what: teacher token and cookie, CSRF, Origin, Host, headers, socket caps
    api.py         the JSON API, a Blueprint under /api (README, "JSON API")
    v1.py          the test API, a Blueprint under /api/v1 (README, "Test API"); v1_mail.py reads the mail
    lessons.py     the lesson API (library, load, reset, scenario files, next step, faults)
    mailview.py    mailbox views for the teacher and the mailbox's owner (read only; hostile content stays data)
    webmail.py     the webmail's API and its logins (the mail client itself: simulator.webmail)
    classroom.py   the class API: students join, the teacher opens, limits and removes
    sockets.py     Socket.IO handlers: connect ("hello"), disconnect, "sync"
    bridge.py      event bus and step gate -> Socket.IO, in batches
    layout.py      the topology graph -> positions for the SVG diagram
    autoconfig.py  Thunderbird autoconfig documents
    hall.py        the lecture hall: several web processes, one mail world, Socket.IO's queue over Redis

By default the page is served on 127.0.0.1 only; ``--web-host 0.0.0.0`` shares it with the
classroom (viewers watch, only the teacher controls: guard.py).
"""
from __future__ import annotations

import logging
import secrets
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .quietimports import import_socketio

import_socketio()      # before flask_socketio: Socket.IO without redis (10 MiB) until a hall asks (quietimports.py)

from flask import Flask, Response, current_app, jsonify, render_template, request  # noqa: E402
from flask_socketio import SocketIO  # noqa: E402
from werkzeug.serving import make_server

from ..classroom import Classroom
from . import autoconfig, classroom, export, guard, hall, sockets, webmail
from . import v1
from .api import api
from .bridge import Bridge
from .lessons import lesson_state, lessons
from .context import EXTENSION, Context, current
from .guard import SocketGuard

if TYPE_CHECKING:
    from ..config import Config
    from ..runtime import MailStack

    World = Any      # a MailStack, a simulator.lesson.Director, or None

__all__ = ["WebServer", "create_app", "create_web_only_app", "serve", "serve_web_only"]

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent.parent


def _autoconfig_hosts(stack: "MailStack | None") -> tuple[str, ...]:
    if stack is None:
        return ()
    return tuple(f"autoconfig.{d}" for d in stack.world.domains
                 if d.endswith((".test", ".example", ".invalid", ".localhost")))


def _defaults(stack: "MailStack | None") -> dict[str, Any]:
    web_host = stack.config.web_host if stack is not None else "127.0.0.1"
    return dict(
        SECRET_KEY=secrets.token_hex(32),
        TEACHER_TOKEN=secrets.token_urlsafe(18),
        SHARED=not guard.is_loopback_host(web_host),
        TRUST_LOOPBACK=True,            # a browser on this computer is the teacher's
        # host names besides IP literals and "localhost": autoconfig.<domain>, for Thunderbird's
        # account wizard when a teacher maps those names to this machine (README)
        ALLOWED_HOSTS=_autoconfig_hosts(stack),
        BRIDGE_WINDOW=0.03,
        SEND_WAIT=2.0,                  # seconds /api/send waits for the MSA's 250 before answering 202
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_NAME="mailflow_session",
        SEND_FILE_MAX_AGE_DEFAULT=0,    # a classroom edits nothing, but a reload must pick up fixes
        MAX_CONTENT_LENGTH=256 * 1024,
        SOCKET_MAX_CONNECTIONS=400,     # live Socket.IO connections in all (issue 13: a 300-seat lecture hall)
        SOCKET_MAX_PER_ADDRESS=50,      # ... and from one remote address
        SYNC_INTERVAL=1.0,              # seconds between two "sync" answers on one connection
        CLASS_MAX_STUDENTS=60,          # students who may join
        CLASS_JOINS_PER_ADDRESS=5,      # joins from one remote address ...
        CLASS_JOIN_WINDOW=600.0,        # ... in this many seconds
        # names or addresses browsers reach the page by through a reverse proxy (a lecture hall's
        # nginx, hall.py): accepted in the Host header, and the page counts as shared
        PUBLIC_HOSTS=(),
    )


def _configure(app: Flask, defaults: dict[str, Any], test_config: dict[str, Any] | None) -> None:
    app.config.from_mapping(defaults)
    if test_config:
        app.config.from_mapping(test_config)
    public = tuple(h.strip().strip("[]").lower() for h in app.config["PUBLIC_HOSTS"] if h.strip())
    app.config["PUBLIC_HOSTS"] = public
    if public:
        app.config["ALLOWED_HOSTS"] = tuple(sorted(set(app.config["ALLOWED_HOSTS"]) | set(public)))
        app.config["SHARED"] = True
    app.json.sort_keys = False              # keep the order the simulator gave (seq, ts, kind ...)


def _split(world: Any) -> tuple[Any, "MailStack | None"]:
    """(director or None, stack or None) from what create_app/serve were given."""
    if world is not None and callable(getattr(world, "load_named", None)):
        return world, world.stack
    return None, world


def _flask() -> Flask:
    return Flask(__name__, root_path=str(ROOT), template_folder="templates", static_folder="static")


def _socketio(app: Flask, client_manager: Any = None) -> SocketIO:
    """Flask-SocketIO in threading mode; with a hall's ``client_manager``, every emit goes through
    the message queue to every web process (hall.py)."""
    socketio = SocketIO()
    extra = {"client_manager": client_manager} if client_manager is not None else {}
    socketio.init_app(app, async_mode="threading", cors_allowed_origins=guard.same_origin, logger=False,
                      engineio_logger=False, ping_interval=20, ping_timeout=20, **extra)
    return socketio


def _socket_guard(app: Flask) -> SocketGuard:
    return SocketGuard(max_total=int(app.config["SOCKET_MAX_CONNECTIONS"]),
                       max_per_address=int(app.config["SOCKET_MAX_PER_ADDRESS"]),
                       sync_interval=float(app.config["SYNC_INTERVAL"]))


def create_app(world: "World" = None, test_config: dict[str, Any] | None = None, *,
               api_only: bool = False, message_queue: str | None = None) -> Flask:
    """The Flask app of the classroom view for a lesson director or a running stack (None: no world);
    ``api_only``: the test API alone (/api/v1), without the page, its API and Socket.IO;
    ``message_queue``: the mail process of a lecture hall (hall.py), its events shared over Redis."""
    director, stack = _split(world)
    app = _flask()
    _configure(app, _defaults(stack), test_config)
    if api_only:
        return _api_app(app, director, stack)

    manager = None
    if message_queue is not None:
        manager = hall.HallManager(hall.check_queue_url(message_queue),
                                   lambda event, data: _on_queue(app, event, data))
    socketio = _socketio(app, manager)
    bridge = Bridge(socketio, stack, window=app.config["BRIDGE_WINDOW"]) if stack is not None else None
    ctx = Context(stack, bridge, socketio, _socket_guard(app), director=director)
    ctx.logins = webmail.Logins()
    ctx.login_checks = webmail.InFlight()
    ctx.outbox = webmail.Outbox()
    ctx.classroom = Classroom(max_students=int(app.config["CLASS_MAX_STUDENTS"]),
                              joins_per_address=int(app.config["CLASS_JOINS_PER_ADDRESS"]),
                              window=float(app.config["CLASS_JOIN_WINDOW"]))
    app.extensions[EXTENSION] = ctx

    guard.register(app)
    app.add_url_rule("/", "index", _index)
    app.add_url_rule("/webmail", "webmail_page", _webmail_page)
    app.register_blueprint(api)
    app.register_blueprint(webmail.blueprint)
    app.register_blueprint(classroom.blueprint)
    app.register_blueprint(lessons)
    app.register_blueprint(export.blueprint)
    v1.register(app)
    sockets.register(socketio)
    if stack is not None:
        app.register_blueprint(autoconfig.blueprint())
    if director is not None:
        ctx.unsubscribe = director.subscribe(lambda kind, payload: _on_director(app, kind, payload))
    if message_queue is not None:
        app.extensions[hall.EXTENSION] = hall.Hall(message_queue)
        app.add_url_rule(hall.SNAPSHOT_PATH, "hall_snapshot", _hall_snapshot)
        hall.start_listening(socketio)
    if message_queue is not None or app.config["PUBLIC_HOSTS"]:
        # behind the hall's proxy or a web-only process: the browser's address, not the proxy's
        app.wsgi_app = hall.ForwardedFor(app.wsgi_app, app.config["PUBLIC_HOSTS"])  # outermost: Socket.IO too
    return app


def create_web_only_app(main_url: str, token: str, message_queue: str,
                        test_config: dict[str, Any] | None = None) -> Flask:
    """A lecture hall's extra web process (hall.py): no mail world; serves /static/ and Socket.IO
    viewers (events through ``message_queue``) and forwards every other request to the mail
    process at ``main_url``."""
    app = _flask()
    _configure(app, {**_defaults(None), "TEACHER_TOKEN": token}, test_config)
    mirror = hall.Mirror()
    parts = hall.Hall(hall.check_queue_url(message_queue), mirror=mirror, upstream=hall.Upstream(main_url, token))

    def observe(event: str, data: Any) -> None:
        mirror.observe(event, data)
        _on_queue(app, event, data)

    socketio = _socketio(app, hall.HallManager(parts.queue, observe))
    ctx = Context(None, None, socketio, _socket_guard(app))
    app.extensions[EXTENSION] = ctx
    app.extensions[hall.EXTENSION] = parts
    guard.register(app)                     # Host checks and headers for what is served here (/static/)
    sockets.register(socketio)
    app.wsgi_app = hall.ForwardedFor(hall.Router(app.wsgi_app, parts.upstream), app.config["PUBLIC_HOSTS"])
    hall.start_listening(socketio)
    hall.prime_in_background(parts)
    return app


def _on_queue(app: Flask, event: str, data: Any) -> None:
    """Every emit of the hall, this process's and the others' (in the emitting or the queue's thread):
    the teacher's view is kept in every process, for the pages that connect later."""
    ctx: Context = app.extensions[EXTENSION]
    if event == "follow":
        ctx.follow = data if isinstance(data, dict) else None
    elif event == "world":
        ctx.follow = None


def _hall_snapshot() -> Response:
    """``GET /api/hall``: what a web-only process greets its pages with (what every "hello" tells)."""
    ctx = current()
    stack = ctx.stack
    return jsonify(last_seq=stack.bus.last_seq if stack else 0,
                   gate=stack.gate.state().to_dict() if stack else None,
                   lesson=lesson_state(), follow=ctx.follow)


def _api_app(app: Flask, director: Any, stack: "MailStack | None") -> Flask:
    """The test API alone: the guard (Host, token) and /api/v1; no page, no Socket.IO, no bridge."""
    ctx = Context(stack, None, None, None, director=director)       # type: ignore[arg-type]
    app.extensions[EXTENSION] = ctx
    guard.register(app)
    v1.register(app)
    app.add_url_rule("/", "index", lambda: {"api": request.host_url + "api/v1/", "version": v1.VERSION})
    if director is not None:
        def follow(kind: str, payload: Any) -> None:
            if kind == "world":
                ctx.stack = payload
        ctx.unsubscribe = director.subscribe(follow)
    return app


def _on_director(app: Flask, kind: str, payload: Any) -> None:
    """The director's news (called in its thread): a new world, or a change of the lesson."""
    ctx: Context = app.extensions[EXTENSION]
    if ctx.bridge is None or ctx.bridge.stopped:
        return
    if kind == "world":
        old_stack, ctx.stack = ctx.stack, payload
        ctx.fingerprint.clear()
        ctx.follow = None                     # the teacher's hop belonged to the old world
        app.config["ALLOWED_HOSTS"] = tuple(sorted(set(app.config["ALLOWED_HOSTS"]) | set(_autoconfig_hosts(payload))))
        ctx.bridge.rebind(payload)
        with app.app_context():
            classroom.rebind(payload, old_stack)    # the students are users of the new world too
    elif kind == "lesson":
        ctx.bridge.push_lesson(payload)


def _index() -> Response:
    """The page (or, for the secret link, a redirect that stores the teacher's cookie)."""
    given = request.args.get("teacher")
    if given is not None:
        return guard.teacher_link(given)
    ctx = current()
    stack = ctx.stack
    response = Response(render_template(
        "index.html", csrf=guard.csrf_token(), role=guard.role(), shared=current_app.config["SHARED"],
        title=stack.world.scenario.title.en if stack is not None else "", has_world=stack is not None,
        lessons=ctx.director is not None))
    response.headers["Cache-Control"] = "no-store"
    return response


def _webmail_page() -> Response:
    """The webmail: a mail client in the browser (its API: webmail.py)."""
    stack = current().stack
    response = Response(render_template(
        "webmail.html", csrf=guard.csrf_token(), role=guard.role(), shared=current_app.config["SHARED"],
        has_world=stack is not None))
    response.headers["Cache-Control"] = "no-store"
    return response


# -- running it (app.py) ----------------------------------------------------------------------------
class WebServer:
    """The web UI running in a background thread; ``shutdown()`` stops it."""

    def __init__(self, app: Flask, server: Any, thread: threading.Thread, url: str, teacher_url: str) -> None:
        self.app, self._server, self._thread = app, server, thread
        self.url, self.teacher_url = url, teacher_url
        self.port: int = server.server_port

    def shutdown(self) -> None:
        ctx: Context = self.app.extensions[EXTENSION]
        if callable(ctx.unsubscribe):
            ctx.unsubscribe()
        if ctx.bridge is not None:
            ctx.bridge.stop()
        v1.close(self.app)                  # long polls waiting end now
        self._server.shutdown()
        self._thread.join(5)
        self._server.server_close()


def serve(world: "World", config: "Config", *, test_config: dict[str, Any] | None = None,
          quiet: bool = False, out: Any = None, api_only: bool = False,
          message_queue: str | None = None) -> WebServer:
    """Start the web UI (or, ``api_only``, the test API alone) for a director or a stack on
    ``config.web_host``:``config.ports.web`` in a thread; ``message_queue``: as the mail process
    of a lecture hall (hall.py)."""
    out = out or sys.stdout
    app = create_app(world, test_config, api_only=api_only, message_queue=message_queue)
    # the test API stops with each test's world: a short poll makes shutdown() quick
    web = _run(app, config.web_host, config.ports.web, poll=0.05 if api_only else 0.5)
    if not quiet and not api_only:
        _announce(app, config, web.port, web.teacher_url, config.web_host in ("0.0.0.0", "::", ""), out)
    return web


def serve_web_only(main_url: str, token: str, message_queue: str, host: str, port: int, *,
                   test_config: dict[str, Any] | None = None, quiet: bool = False, out: Any = None) -> WebServer:
    """Start a lecture hall's extra web process (:func:`create_web_only_app`) on ``host``:``port``."""
    out = out or sys.stdout
    app = create_web_only_app(main_url, token, message_queue, test_config)
    web = _run(app, host, port, poll=0.5)
    if not quiet:
        upstream = hall.of(app).upstream        # type: ignore[union-attr]
        print(f"Web process (page and live viewers only) of the mail world at {upstream.url}: {web.url}  "
              f"(queue: {message_queue})", file=out)
        print(f"Web UI (teacher, keep this link private): {web.teacher_url}", file=out)
        out.flush()
    return web


def _run(app: Flask, host: str, port: int, *, poll: float) -> WebServer:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)      # no line per request in the terminal
    server = make_server(host, port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(poll,), name="web", daemon=True)
    thread.start()
    port = server.server_port
    wildcard = host in ("0.0.0.0", "::", "")
    local = "127.0.0.1" if wildcard or guard.is_loopback_host(host) else host
    if ":" in local:
        local = f"[{local}]"
    url = f"http://{local}:{port}/"
    teacher_url = f"{url}?teacher={app.config['TEACHER_TOKEN']}"
    return WebServer(app, server, thread, url, teacher_url)


def _announce(app: Flask, config: "Config", port: int, teacher_url: str, wildcard: bool, out: Any) -> None:
    print(f"Web UI (teacher, keep this link private): {teacher_url}", file=out)
    if app.config["SHARED"]:
        shown = "<this computer's address>" if wildcard else config.web_host
        print(f"Classroom view (watch only): http://{shown}:{port}/  "
              f"(the mail servers stay on loopback)", file=out)
    print("Scripts: send the token of that link as 'Authorization: Bearer <token>' (README, JSON API)",
          file=out)
    out.flush()
