"""Who may do what: the teacher's token, CSRF, Origin and Host checks, security headers, socket caps.

Everybody who can open the page sees everything, live, except what is in the mailboxes: a mailbox
is read by its owner (logged in to the webmail) or the teacher.  Control (play/pause/step/speed,
hosts up and down, MX tables, flushing queues, sending as any user) belongs to the teacher: a browser that opened the
secret link printed at start (the token moves into an HttpOnly SameSite=Strict cookie and the
address bar is cleaned, so projecting the screen does not reveal it), a browser on this computer
(loopback), or a script presenting ``Authorization: Bearer <token>``.

The test API (``/api/v1``, v1.py) is the token's: every request, reads too, presents the bearer token
or the teacher's cookie (then, for the control verbs, the page's CSRF and Origin checks); a browser
on this computer is not trusted for it by its address, and a webmail login never opens it.  A
missing or wrong token is answered 401 with ``WWW-Authenticate: Bearer``.  The token is the
teacher's token: set by ``--api-token`` or ``MAILFLOW_API_TOKEN``, written to ``<data>/api-token``
(mode 0600) by app.py, so a test suite reads it from there (simulator/apitoken.py).

Defences
    - Views marked :func:`open_to_viewers` (the webmail, joining the class) pass the same CSRF,
      Origin and JSON checks; only the teacher's check is left to them.
    - CSRF: every control request from a browser carries ``X-CSRF-Token`` (from a meta tag) equal
      to the token in its signed session cookie (SameSite=Strict), has a JSON body (no HTML form can
      send one cross-site without a CORS preflight, which we never grant) and, when the browser
      sends an Origin, that origin is ours.
    - DNS rebinding: the Host header must be ``localhost``, a configured name (``ALLOWED_HOSTS``:
      the autoconfig names), a loopback address, the classroom address, the web UI's own address,
      or the address this very connection arrived on (a classroom browser typing this computer's
      LAN address under ``--web-host 0.0.0.0``); any other name or address is 400 (checked for
      every HTTP request and again when a Socket.IO connection opens).
    - Socket.IO: Engine.IO answers a browser's handshake only when its Origin is exactly
      ``http://<Host>`` (:func:`same_origin`, X-Forwarded-* ignored); the connect handler then
      checks that Host as above.
    - Headers: the page's CSP forbids inline script and framing; an HTML mail body gets its own,
      sandboxed CSP (``MAIL_CSP``, see mailview.py).
    - Socket.IO: at most SOCKET_MAX_CONNECTIONS live connections (SOCKET_MAX_PER_ADDRESS from one
      remote address), "sync" at most once per SYNC_INTERVAL per connection (:class:`SocketGuard`).
"""
from __future__ import annotations

import hmac
import ipaddress
import secrets
import threading
import time
from typing import Callable

from flask import Flask, Response, current_app, jsonify, redirect, request, session
from werkzeug.exceptions import HTTPException

from ..apitoken import TOKEN_FILE
from ..world import is_loopback
from .context import EXTENSION, ApiError

TEACHER_COOKIE = "mailflow_teacher"
PAGE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "connect-src 'self'; frame-src 'self'; object-src 'none'; base-uri 'none'; "
            "form-action 'self'; frame-ancestors 'none'")
# The body of a message is hostile: no script, no network, no forms, its own opaque origin.
MAIL_CSP = ("sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
            "form-action 'none'; frame-ancestors 'self'")
_CONTROL_METHODS = ("POST", "PUT", "PATCH", "DELETE")
API_V1 = "/api/v1"


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


# -- who is asking ----------------------------------------------------------------------------------
def is_loopback_host(host: str) -> bool:
    """Is this address (of the web UI) on this computer only?"""
    return host in ("localhost", "") or is_loopback(host)


def _bearer() -> str:
    value = request.headers.get("Authorization", "")
    return value[7:].strip() if value[:7].lower() == "bearer " else ""


def token_ok(candidate: str) -> bool:
    """Is ``candidate`` the teacher's token (compared in constant time)?"""
    token = current_app.config["TEACHER_TOKEN"]
    return bool(candidate) and hmac.compare_digest(candidate.encode(), token.encode())


def is_teacher() -> bool:
    if token_ok(request.cookies.get(TEACHER_COOKIE, "")) or token_ok(_bearer()):
        return True
    return bool(current_app.config["TRUST_LOOPBACK"]) and is_loopback(request.remote_addr or "")


def role() -> str:
    return "teacher" if is_teacher() else "viewer"


def _host_name(host_header: str) -> str:
    """The name or address of a Host header, without its port and brackets, lower case."""
    host = host_header.strip().lower()
    if host.startswith("["):                       # [::1]:8580
        return host[1:].split("]", 1)[0]
    if host.count(":") == 1:
        return host.rsplit(":", 1)[0]
    return host


def _own_addresses() -> set[str]:
    """The addresses of this computer a browser may name: the web UI's and the classroom's (from
    the running world's config) and the one this connection arrived on (Werkzeug's socket)."""
    own: set[str] = set()
    sock = request.environ.get("werkzeug.socket")
    try:
        if sock is not None:
            own.add(str(sock.getsockname()[0]))
    except (OSError, IndexError, TypeError):
        pass
    stack = getattr(current_app.extensions.get(EXTENSION), "stack", None)
    config = getattr(stack, "config", None)
    for address in (getattr(config, "web_host", None), getattr(config, "classroom_address", None)):
        if address:
            own.add(str(address))
    return own


def host_allowed(host_header: str) -> bool:
    """DNS rebinding: only ``localhost``, configured names, loopback addresses and this computer's
    addresses in use (the web UI's, the classroom's, the one the connection came in on)."""
    host = _host_name(host_header)
    if host == "localhost" or host in current_app.config["ALLOWED_HOSTS"]:
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False                                # a name we were not told: a rebinding attack
    if address.is_loopback:
        return True
    return not address.is_unspecified and any(_same_address(address, own) for own in _own_addresses())


def _same_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address, other: str) -> bool:
    try:
        return address == ipaddress.ip_address(other.split("%", 1)[0])
    except ValueError:
        return False


def same_origin(origin: str | None, environ: dict) -> bool:
    """Engine.IO's Origin check (``cors_allowed_origins``): the page's origin is exactly
    ``<scheme>://<Host>`` of this request.  X-Forwarded-* headers are ignored: nothing proxies us."""
    host = environ.get("HTTP_HOST", "")
    scheme = environ.get("wsgi.url_scheme", "http")
    return bool(origin) and bool(host) and origin.rstrip("/").lower() == f"{scheme}://{host}".lower()


def open_to_viewers(view: Callable) -> Callable:
    """Mark a state-changing view any viewer may call (the webmail, joining the class): it keeps
    the CSRF, Origin and JSON checks but not the teacher's; it checks who may do what itself."""
    view.open_to_viewers = True          # type: ignore[attr-defined]
    return view


def _check_csrf() -> None:
    """A browser's control request: its CSRF token matches its session's, and it comes from our origin."""
    expected = session.get("csrf", "")
    given = request.headers.get("X-CSRF-Token", "")
    if not expected or not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise ApiError(403, "missing or wrong CSRF token: reload the page")
    origin = request.headers.get("Origin")
    if origin is not None and origin.rstrip("/") != request.host_url.rstrip("/"):
        raise ApiError(403, "cross-origin request refused")


def check_control() -> None:
    """CSRF and teacher checks for every state-changing request (the teacher's check is left out
    for views marked :func:`open_to_viewers`)."""
    if not token_ok(_bearer()):                    # a bearer token is not ambient: no CSRF risk
        _check_csrf()
    if not request.is_json:
        raise ApiError(415, "send JSON (Content-Type: application/json)")
    view = current_app.view_functions.get(request.endpoint or "")
    if getattr(view, "open_to_viewers", False):
        return
    if not is_teacher():
        raise ApiError(403, "only the teacher can control the simulation (viewers can watch)")


def is_api_v1(path: str) -> bool:
    return path == API_V1 or path.startswith(API_V1 + "/")


def check_api_token() -> None:
    """The test API: the bearer token, or the teacher's cookie (with CSRF and Origin for control
    verbs: a cookie is ambient).  Anything else -- no token, a wrong one, only a webmail login,
    only a loopback address -- is 401."""
    if token_ok(_bearer()):
        return
    if token_ok(request.cookies.get(TEACHER_COOKIE, "")):
        if request.method in _CONTROL_METHODS:
            _check_csrf()
        return
    given = "a wrong token" if _bearer() else "no token"
    raise ApiError(401, f"the test API needs its token ({given} was sent): send 'Authorization: Bearer "
                        f"<token>'; app.py writes it to <data>/{TOKEN_FILE} (README, Test API)")


def csrf_token() -> str:
    """The CSRF token of this browser's session (made on its first visit to the page)."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return session["csrf"]


def teacher_link(given: str) -> Response:
    """``/?teacher=<token>``: the token moves into a cookie and out of the address bar (it is
    projected) and the history; a wrong token just gets the plain page."""
    response = redirect("/", code=303)
    if token_ok(given):
        response.set_cookie(TEACHER_COOKIE, given, httponly=True, samesite="Strict", path="/")
    response.headers["Cache-Control"] = "no-store"
    return response


# -- wiring -----------------------------------------------------------------------------------------
def _check_request() -> Response | None:
    if not host_allowed(request.host):
        return Response("unknown Host header (DNS rebinding?)", status=400, mimetype="text/plain")
    if is_api_v1(request.path):
        check_api_token()               # the test API's own rule, for every verb
        return None
    if request.method in _CONTROL_METHODS:
        check_control()
    return None


def _security_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", PAGE_CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("X-Frame-Options", "DENY")
    if request.path.startswith("/api/"):
        response.headers.setdefault("Cache-Control", "no-store")
    if response.status_code == 401 and is_api_v1(request.path):
        response.headers.setdefault("WWW-Authenticate", 'Bearer realm="mailflow"')
    return response


def _api_error(err: ApiError):
    return jsonify(error=err.message, **err.extra), err.status


def _http_error(err: HTTPException):
    if request.path.startswith("/api/"):
        if err.code == 413:
            limit = request.max_content_length or 0
            return jsonify(error=f"the request is too large: at most {limit / 1048576:.3g} MB "
                                 f"(attachments count a third more, in base64)"), 413
        return jsonify(error=err.description or err.name), err.code
    return err


def register(app: Flask) -> None:
    """Every request: Host check, then CSRF and teacher checks for control; every answer: headers."""
    app.before_request(_check_request)
    app.after_request(_security_headers)
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(HTTPException, _http_error)
