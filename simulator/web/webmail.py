"""The webmail's web layer: a browser session logged in as a sandbox user, and the JSON API of
the webmail page (``/webmail``).  The mail client itself is :mod:`simulator.webmail` (no Flask).

    GET  /api/webmail/session                       who this browser is logged in as (or null)
    POST /api/webmail/login {address, password, retrieval, tls, keep_on_server}   POST /api/webmail/logout {}
    POST /api/webmail/settings {retrieval?, tls?, keep_on_server?}
    GET  /api/webmail/folders                       GET /api/webmail/messages?folder=
    GET  /api/webmail/message?folder=&id=           .../message/html[&images=1], .../raw, .../part&index=
    GET  /api/webmail/draft?mode=reply|reply_all|forward&folder=&id=
    POST /api/webmail/send {to, cc, bcc, subject, body, attachments, reply?: {folder, id, mode}}
    GET  /api/webmail/outbox/<id>                   what became of a send that answered 202
    POST /api/webmail/flags {folder, id, seen?, flagged?}; /move {folder, id, to}; /delete {folder, id}

Theory of operation.  The web server is the MUA's host: every request builds a
:class:`simulator.webmail.Mua` for the browser's login and talks to the front door on loopback
(from the webmail's own source address, so its hops are told apart), as Roundcube does: log in, do
the work, log out.  The login lives on the server (:class:`Logins`, keyed by a random id in the
signed session cookie); the password never goes back to the browser.  Any viewer may use the
webmail (the views are :func:`~.guard.open_to_viewers`: CSRF, Origin and JSON are still checked),
but a browser reaches only the mailbox it logged in to -- ids in a URL are looked up in that
mailbox, never in another.

Logins are throttled per *browser address* with the stack's one login throttle (the servers exempt
the webmail's source address: :mod:`simulator.protocols.throttle`), and a failure answers the same
words whether the user exists or not.  A message while the teacher's step gate holds its hop
answers 202 after ``SEND_WAIT`` seconds; the hop finishes when the teacher releases it.
"""
from __future__ import annotations

import contextlib
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from flask import Blueprint, Response, current_app, jsonify, request, session

from .. import tls
from .. import webmail as lib
from .context import ApiError, current, running_stack
from .guard import MAIL_CSP, open_to_viewers

if TYPE_CHECKING:
    from ..runtime import MailStack

blueprint = Blueprint("webmail", __name__, url_prefix="/api/webmail")

SESSION_KEY = "webmail"
RETRIEVALS = ("imap", "pop3")
TLS_MODES = ("starttls", "plain")
MAX_BODY = 24 * 1024 * 1024       # a send request: attachments in base64 (the MSA's SIZE decides)
# Remote images, once the reader asks for them: http(s) images may load, nothing else changes.
MAIL_CSP_IMAGES = MAIL_CSP.replace("img-src data:", "img-src data: http: https:")


@dataclass(slots=True)
class WebLogin:
    """One browser's webmail login (server side only)."""
    address: str
    password: str
    retrieval: str = "imap"
    tls: str = "starttls"
    keep_on_server: bool = False
    student: str | None = None        # the class's student id, when the login came from joining
    used: float = field(default_factory=time.monotonic)

    def to_login(self) -> "lib.Login":
        return lib.Login(self.address, self.password, retrieval=self.retrieval, tls=self.tls,
                     keep_on_server=self.keep_on_server)


class Logins:
    """Webmail logins by session id: at most ``limit``, forgotten after ``idle`` seconds unused."""

    def __init__(self, *, limit: int = 4096, idle: float = 12 * 3600.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.idle, self._clock = limit, idle, clock
        self._lock = threading.Lock()
        self._by_id: dict[str, WebLogin] = {}

    def get(self, sid: str | None) -> WebLogin | None:
        if not sid:
            return None
        with self._lock:
            login = self._by_id.get(sid)
            if login is None:
                return None
            now = self._clock()
            if now - login.used > self.idle:
                del self._by_id[sid]
                return None
            login.used = now
            return login

    def put(self, login: WebLogin) -> str:
        sid = secrets.token_urlsafe(24)
        with self._lock:
            if len(self._by_id) >= self.limit:          # the least recently used goes
                oldest = min(self._by_id, key=lambda k: self._by_id[k].used)
                del self._by_id[oldest]
            login.used = self._clock()
            self._by_id[sid] = login
        return sid

    def drop(self, sid: str | None) -> None:
        with self._lock:
            self._by_id.pop(sid or "", None)

    def drop_address(self, address: str) -> None:
        """Log out every browser logged in as ``address`` (a student removed)."""
        with self._lock:
            for sid in [k for k, v in self._by_id.items() if v.address == address.lower()]:
                del self._by_id[sid]

    def readdress(self, student: str, new: str) -> None:
        """A student's address changed (a new world): the logins of that student follow it."""
        with self._lock:
            for login in self._by_id.values():
                if login.student == student:
                    login.address = new


class InFlight:
    """At most one login check at a time per browser address: parallel guesses would each wait
    the throttle's delay side by side and so gain nothing from waiting; a second one is refused
    at once (429) instead of holding a server thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._busy: set[str] = set()

    @contextlib.contextmanager
    def one(self, key: str) -> Iterator[None]:
        with self._lock:
            if key in self._busy:
                raise ApiError(429, "a login from your computer is being checked; wait for its answer")
            self._busy.add(key)
        try:
            yield
        finally:
            with self._lock:
                self._busy.discard(key)


class Outbox:
    """Sends that answered 202 (the teacher's step gate holds their hop): what became of each, for
    the page to ask later (``GET /api/webmail/outbox/<id>``).  At most ``per_login`` in flight per
    address, and the newest ``keep`` outcomes."""

    def __init__(self, *, per_login: int = 5, keep: int = 500) -> None:
        self.per_login, self.keep = per_login, keep
        self._lock = threading.Lock()
        self._items: dict[str, dict[str, Any]] = {}

    def add(self, address: str) -> str:
        with self._lock:
            pending = sum(1 for v in self._items.values() if v["address"] == address and v["state"] == "pending")
            if pending >= self.per_login:
                raise ApiError(429, f"{pending} messages are still waiting for the teacher's step gate; "
                                    f"wait until they are sent")
            while len(self._items) >= self.keep:
                del self._items[next(iter(self._items))]
            item_id = secrets.token_urlsafe(9)
            self._items[item_id] = {"address": address, "state": "pending"}
            return item_id

    def finish(self, item_id: str, **outcome: Any) -> None:
        with self._lock:
            if item_id in self._items:
                self._items[item_id].update(outcome)

    def get(self, item_id: str, address: str) -> dict[str, Any] | None:
        with self._lock:
            item = self._items.get(item_id)
            return {k: v for k, v in item.items() if k != "address"} if item and item["address"] == address else None


# -- who is asking ------------------------------------------------------------------------------------
def logins() -> Logins:
    return current().logins


def this_login() -> WebLogin | None:
    """This browser's webmail login (None if it has none)."""
    return logins().get(session.get(SESSION_KEY))


def owner_of(address: str) -> bool:
    """Is this browser logged in to the webmail as ``address``?"""
    login = this_login()
    stack = current().stack
    return (login is not None and login.address == address.lower() and stack is not None
            and stack.world.user_exists(login.address))


def start_session(login: WebLogin) -> None:
    """Log this browser in (a new session id: no fixation)."""
    logins().drop(session.get(SESSION_KEY))
    session[SESSION_KEY] = logins().put(login)


def _login() -> WebLogin:
    login = this_login()
    if login is None:
        raise ApiError(401, "log in to the webmail first")
    stack = running_stack()
    if not stack.world.user_exists(login.address):     # removed, or a new world without them
        logins().drop(session.get(SESSION_KEY))
        session.pop(SESSION_KEY, None)
        raise ApiError(401, "this account no longer exists in the world; log in again")
    return login


# -- the mail client ----------------------------------------------------------------------------------
def endpoint(stack: "MailStack") -> "lib.Endpoint":
    """Where the webmail's MUA connects: the front door on loopback, as listening now."""
    front = {}
    for item in stack.listener_table():
        if item["host"] == "front" and item["address"] == stack.config.front_host:
            front[item["service"]] = item
    if not {"submission", "imap", "pop3"} <= front.keys():
        raise ApiError(503, "the front door is not listening")
    return lib.Endpoint(host=stack.config.front_host, submission=front["submission"]["port"],
                    imap=front["imap"]["port"], pop3=front["pop3"]["port"],
                    ssl_context=_client_context(stack), server_name=tls.HOSTNAME,
                    source=stack.config.webmail_source, max_message=stack.config.max_message_size)


def _client_context(stack: "MailStack"):
    if stack.ssl_context is None:
        return None
    cache = current().fingerprint
    key = f"client:{stack.config.data_dir}"
    if key not in cache:
        cert_path, _ = tls.ensure_certificate(stack.config.data_dir)
        cache[key] = tls.client_context(cert_path)       # type: ignore[assignment]
    return cache[key]


def mua(login: WebLogin | None = None) -> "lib.Mua":
    stack = running_stack()
    return lib.Mua(endpoint(stack), (login or _login()).to_login(), Path(stack.config.data_dir) / "webmail")


def _call(fn: Callable[[], Any]) -> Any:
    """Run a MUA operation; its WebmailError becomes the API's answer."""
    try:
        return fn()
    except lib.WebmailError as err:
        raise api_error(err) from None


def api_error(err: "lib.WebmailError") -> ApiError:
    """The API's answer for a WebmailError: its words, and its code, field and server reply, so
    the page can word it in the learner's language."""
    extra = {k: v for k, v in (("code", err.code), ("field", err.field), ("reply", err.reply)) if v}
    return ApiError(err.status, err.message, **extra)


# -- reading a request --------------------------------------------------------------------------------
def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object")
    return body


def _text(source: dict[str, Any], name: str, *, limit: int = 300, required: bool = True) -> str:
    value = source.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value) or len(value) > limit:
        raise ApiError(400, f"{name} must be text of at most {limit} characters")
    if any(c in value for c in "\r\n\0"):
        raise ApiError(400, f"{name} may not contain line breaks")
    return value


def _where() -> tuple[str, str]:
    return _text(request.args, "folder", limit=200), _text(request.args, "id", limit=200)


def _choice(body: dict[str, Any], name: str, options: tuple[str, ...], default: str) -> str:
    value = body.get(name, default)
    if value not in options:
        raise ApiError(400, f"{name} must be one of: {', '.join(options)}")
    return value


# -- session ------------------------------------------------------------------------------------------
@blueprint.get("/session")
def session_view():
    login = this_login()
    stack = current().stack
    if login is not None and stack is not None and not stack.world.user_exists(login.address):
        login = None
    user = stack.world.user(login.address) if login is not None and stack is not None else None
    return jsonify(address=login.address if login else None,
                   name=user.display_name if user is not None else None,
                   retrieval=login.retrieval if login else "imap",
                   tls=login.tls if login else "starttls",
                   keep_on_server=login.keep_on_server if login else False,
                   student=bool(login and login.student),
                   tls_available=bool(stack is not None and stack.ssl_context is not None),
                   users=[{"address": a, "name": u.display_name} for a in (stack.world.users() if stack else [])
                          if (u := stack.world.user(a)) is not None])


@blueprint.post("/login")
@open_to_viewers
def login_view():
    stack = running_stack()
    body = _body()
    address = _text(body, "address", limit=254).strip().lower()
    password = body.get("password")
    if not isinstance(password, str) or not password or len(password) > 1024:
        raise ApiError(400, "give a password")
    if any(c in password for c in "\r\n\0"):         # it would be a second command on the wire
        raise ApiError(400, "a password may not contain line breaks")
    keep = body.get("keep_on_server", False)
    if not isinstance(keep, bool):
        raise ApiError(400, "keep_on_server must be true or false")
    login = WebLogin(address, password, retrieval=_choice(body, "retrieval", RETRIEVALS, "imap"),
                     tls=_choice(body, "tls", TLS_MODES, "starttls"), keep_on_server=keep)
    if login.tls == "starttls" and stack.ssl_context is None:
        raise ApiError(400, "this sandbox runs without TLS: choose a plain connection")
    throttle = stack.throttle
    key = throttle.key(request.remote_addr or "?")   # the servers' key for this browser's address
    with current().login_checks.one(key):
        throttle.hold_blocking(key)      # before the check, as the servers do (throttle.py)
        try:
            mua(login).check_login()
        except lib.WebmailError as err:
            if err.status != 401:
                raise api_error(err) from None
            next_wait = throttle.failed(key)
            raise ApiError(401, "login failed: wrong address or password", wait=next_wait,
                           code="login_failed") from None
        throttle.succeeded(key)
    student = current().classroom.by_address(address)
    login.student = student.id if student is not None else None
    start_session(login)
    return jsonify(address=address, retrieval=login.retrieval, tls=login.tls)


@blueprint.post("/logout")
@open_to_viewers
def logout_view():
    logins().drop(session.pop(SESSION_KEY, None))
    session.pop("student", None)         # the next person at this computer is not that student
    return jsonify(ok=True)


@blueprint.post("/settings")
@open_to_viewers
def settings_view():
    login = _login()
    body = _body()
    if "retrieval" in body:
        login.retrieval = _choice(body, "retrieval", RETRIEVALS, login.retrieval)
    if "tls" in body:
        login.tls = _choice(body, "tls", TLS_MODES, login.tls)
        if login.tls == "starttls" and running_stack().ssl_context is None:
            login.tls = "plain"
            raise ApiError(400, "this sandbox runs without TLS: choose a plain connection")
    if "keep_on_server" in body:
        if not isinstance(body["keep_on_server"], bool):
            raise ApiError(400, "keep_on_server must be true or false")
        login.keep_on_server = body["keep_on_server"]
    return jsonify(retrieval=login.retrieval, tls=login.tls, keep_on_server=login.keep_on_server)


# -- reading ------------------------------------------------------------------------------------------
@blueprint.get("/folders")
def folders_view():
    client = mua()
    return jsonify(folders=_call(client.folders))


@blueprint.get("/messages")
def messages_view():
    folder = _text(request.args, "folder", limit=200)
    client = mua()
    return jsonify(folder=folder, messages=_call(lambda: client.messages(folder)))


def _raw() -> tuple[str, str, bytes]:
    folder, message_id = _where()
    client = mua()
    return folder, message_id, _call(lambda: client.fetch(folder, message_id))


@blueprint.get("/message")
def message_view():
    folder, message_id, raw = _raw()
    view = lib.read.view(raw)
    return jsonify(id=message_id, folder=folder, **view)


@blueprint.get("/message/html")
def message_html():
    _folder, _id, raw = _raw()
    html = lib.read.html(raw)
    if html is None:
        raise ApiError(404, "this message has no HTML part")
    response = Response(html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = MAIL_CSP_IMAGES if request.args.get("images") == "1" else MAIL_CSP
    response.headers["X-DNS-Prefetch-Control"] = "off"
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.get("/message/raw")
def message_raw():
    _folder, _id, raw = _raw()
    response = Response(raw, mimetype="text/plain")
    response.headers["Content-Security-Policy"] = MAIL_CSP
    return response


@blueprint.get("/message/part")
def message_part():
    _folder, _id, raw = _raw()
    try:
        index = int(request.args.get("index", ""))
    except ValueError:
        raise ApiError(400, "index must be an integer") from None
    filename, content_type, data = _call(lambda: lib.read.part(raw, index))
    response = Response(data, mimetype=content_type if "/" in content_type else "application/octet-stream")
    # Downloaded, never shown in our origin; an HTML attachment cannot run here.
    response.headers["Content-Disposition"] = _disposition(filename)
    response.headers["Content-Security-Policy"] = MAIL_CSP
    return response


def _disposition(filename: str) -> str:
    from urllib.parse import quote
    ascii_name = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in filename) or "attachment"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"


@blueprint.get("/outbox/<item_id>")
def outbox_view(item_id: str):
    """What became of a send that answered 202: pending, sent (with the MSA's reply) or refused."""
    item = current().outbox.get(item_id, _login().address)
    if item is None:
        raise ApiError(404, "no such send")
    return jsonify(item)


@blueprint.get("/draft")
def draft_view():
    mode = request.args.get("mode", "")
    if mode not in ("reply", "reply_all", "forward"):
        raise ApiError(400, "mode must be reply, reply_all or forward")
    folder, message_id, raw = _raw()
    login = _login()
    return jsonify(mode=mode, folder=folder, id=message_id, **_call(lambda: lib.compose.draft(raw, mode, login.address)))


# -- changing -------------------------------------------------------------------------------------
def _target(body: dict[str, Any]) -> tuple[str, str]:
    return _text(body, "folder", limit=200), _text(body, "id", limit=200)


@blueprint.post("/flags")
@open_to_viewers
def flags_view():
    body = _body()
    folder, message_id = _target(body)
    changes = {k: body[k] for k in ("seen", "flagged") if k in body}
    if not changes or not all(isinstance(v, bool) for v in changes.values()):
        raise ApiError(400, "give seen and/or flagged as true or false")
    client = mua()
    _call(lambda: client.set_flags(folder, message_id, **changes))
    return jsonify(ok=True)


@blueprint.post("/move")
@open_to_viewers
def move_view():
    body = _body()
    folder, message_id = _target(body)
    target = _text(body, "to", limit=200)
    client = mua()
    _call(lambda: client.move(folder, message_id, target))
    return jsonify(ok=True)


@blueprint.post("/delete")
@open_to_viewers
def delete_view():
    body = _body()
    folder, message_id = _target(body)
    client = mua()
    _call(lambda: client.delete(folder, message_id))
    return jsonify(ok=True)


@blueprint.before_app_request
def _bigger_sends() -> None:
    """A send carries attachments (base64 in JSON): it may be bigger than other requests."""
    if request.endpoint == "webmail.send_view":
        request.max_content_length = MAX_BODY


@blueprint.post("/send")
@open_to_viewers
def send_view():
    login = _login()
    stack = running_stack()
    body = _body()
    user = stack.world.user(login.address)
    original, mode = None, None
    reply = body.get("reply")
    client = mua(login)
    if reply is not None:
        if not isinstance(reply, dict) or reply.get("mode") not in ("reply", "reply_all", "forward"):
            raise ApiError(400, "reply must be {folder, id, mode: reply|reply_all|forward}")
        folder, message_id = _text(reply, "folder", limit=200), _text(reply, "id", limit=200)
        original, mode = _call(lambda: client.fetch(folder, message_id)), reply["mode"]
    message, recipients = _call(lambda: lib.compose.build(
        login.address, user.display_name if user is not None else "", body, original=original, mode=mode,
        max_message=stack.config.max_message_size))
    outcome: dict[str, Any] = {}
    done = threading.Event()
    outbox: Outbox = current().outbox
    item = outbox.add(login.address)

    def dialogue() -> None:
        try:
            outcome["reply"] = client.send(message, recipients)
            outbox.finish(item, state="sent", reply=outcome["reply"])
            if reply is not None and mode != "forward":
                try:
                    client.set_flags(reply["folder"], reply["id"], answered=True)
                except lib.WebmailError:
                    pass                  # the original was moved meanwhile: the reply went anyway
        except lib.WebmailError as err:
            outcome["error"] = err
            outbox.finish(item, state="refused" if err.status == 422 else "failed", error=err.message,
                          status=err.status)
        except Exception as err:          # noqa: BLE001 - reported to the page, not lost in a thread
            outcome["error"] = lib.WebmailError(500, f"sending failed: {err}")
            outbox.finish(item, state="failed", error=str(err), status=500)
            raise
        finally:
            done.set()

    threading.Thread(target=dialogue, name="webmail-send", daemon=True).start()
    if not done.wait(current_app.config["SEND_WAIT"]):
        return jsonify(ok=True, pending=True, outbox=item), 202
    if "error" in outcome:
        raise api_error(outcome["error"])
    return jsonify(ok=True, reply=outcome["reply"])
