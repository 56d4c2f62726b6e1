"""The test API, version 1: a Blueprint under ``/api/v1`` for a developer's test suite (JSON).

    GET    /api/v1                                 this world: version, users, mailboxes, ports, limits
    GET    /api/v1/mailboxes                       every mailbox and how many messages it holds
    DELETE /api/v1/mailboxes/<address>             delete the messages of one mailbox
    GET    /api/v1/messages?q=&from=&to=&subject=&text=&since=&until=&trace=&mailbox=&limit=&offset=
                                                   search every mailbox, newest first, paged
    DELETE /api/v1/messages[?<the same filters>]   delete every message (or those matching)
    GET    /api/v1/messages/<id>                   one message: summary, headers, text, HTML, attachments
    GET    /api/v1/messages/<id>/raw               its source, as stored (message/rfc822)
    GET    /api/v1/messages/<id>/parts/<index>     an attachment, with its type and file name
    GET    /api/v1/messages/<id>/trace             its journey: the events of its trace id
    DELETE /api/v1/messages/<id>                   delete one message
    GET    /api/v1/wait?q=&timeout=&count=         wait until ``count`` messages match (200), or 408

``<id>`` is a message's id from a list (``latest``: the newest message).  The query language and the
filters are :mod:`simulator.store.search`'s; mail is read through the store (v1_mail.py).

Theory of operation
-------------------
Who may call it is guard.py's: the bearer token (or the teacher's cookie) for every verb, reads too;
a webmail login or a loopback address is not enough (401).  Errors are ``{"error": message}``; a
query or parameter that cannot be read is 400 and the message starts with the parameter's name.

``wait`` is a long poll: it searches, and if fewer than ``count`` messages match it sleeps until the
bus tells of a delivery (:class:`Arrivals`; at the latest every ``RECHECK`` seconds, for mail that
arrived without a word on the bus), then searches again, until ``timeout`` seconds (at most
``MAX_WAIT``) have passed: then 408.  Messages already there count, so "send, then wait" never
races.  At most ``MAX_WAITERS`` polls wait at once (each holds a server thread); more get 503.

A message is answered once its journey is told: the receiving MX writes the Maildir before its 250
and publishes the delivery's event just after (``simulator.direct``), so a search in that moment
finds the file while ``trace()`` still lacks the last hop.  ``wait`` therefore passes over a match
whose trace already has events on the bus but not yet its delivery into that mailbox, for at most
``SETTLE`` seconds (then it answers anyway: a journey the bus's bounded history lost, say).  Mail
with no events on the bus (an earlier run's, an IMAP APPEND) is answered at once.
"""
from __future__ import annotations

import io
import threading
import time
from typing import TYPE_CHECKING, Any, Callable

from flask import Blueprint, Flask, Response, current_app, jsonify, request, send_file

from ..store.search import PARAMS, Query, QueryError, query_from
from .. import nodes
from . import v1_mail as mail
from .context import ApiError, running_stack
from .guard import MAIL_CSP

if TYPE_CHECKING:
    from ..bus import EventBus
    from ..events import Event

__all__ = ["Arrivals", "EXTENSION", "VERSION", "blueprint", "register"]

VERSION = 1
EXTENSION = "mailflow.v1"
DEFAULT_LIMIT, MAX_LIMIT = 50, 1000
DEFAULT_WAIT, MAX_WAIT = 10.0, 120.0
MAX_COUNT = 10_000
RECHECK = 0.5                     # seconds between two searches of a long poll with no news
SETTLE = 1.0                      # seconds a match may wait for its delivery's event (see above)
MAX_WAITERS = 64

blueprint = Blueprint("api_v1", __name__, url_prefix="/api/v1")


class Arrivals:
    """Wakes long polls when mail may have arrived: an MDA's delivery (or any ``*deliver*`` or
    ``*catch*`` event) on the bus.  One per app; it follows the bus of whichever world runs."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._generation = 0
        self._waiters = 0
        self._bus: "EventBus | None" = None
        self._unsubscribe: Callable[[], None] | None = None

    def follow(self, bus: "EventBus") -> None:
        with self._cond:
            if bus is self._bus:
                return
            if self._unsubscribe is not None:
                self._unsubscribe()
            self._bus, self._unsubscribe = bus, bus.subscribe(self._heard)

    def close(self) -> None:
        with self._cond:
            if self._unsubscribe is not None:
                self._unsubscribe()
            self._bus = self._unsubscribe = None
            self._generation += 1
            self._cond.notify_all()

    def _heard(self, event: "Event") -> None:           # in the publishing thread: quick
        if _arrival(event.kind):
            with self._cond:
                self._generation += 1
                self._cond.notify_all()

    @property
    def generation(self) -> int:
        with self._cond:
            return self._generation

    def wait_after(self, generation: int, timeout: float) -> None:
        """Return when something was delivered after ``generation`` was read, or after ``timeout``."""
        with self._cond:
            self._cond.wait_for(lambda: self._generation != generation, timeout)

    def enter(self) -> bool:
        with self._cond:
            if self._waiters >= MAX_WAITERS:
                return False
            self._waiters += 1
            return True

    def leave(self) -> None:
        with self._cond:
            self._waiters -= 1


class State:
    """What the API keeps per app: the catalogue of summaries and the long polls' alarm."""

    def __init__(self) -> None:
        self.catalog = mail.Catalog()
        self.arrivals = Arrivals()


def register(app: Flask) -> None:
    app.extensions[EXTENSION] = State()
    app.register_blueprint(blueprint)


def close(app: Flask) -> None:
    state = app.extensions.get(EXTENSION)
    if state is not None:
        state.arrivals.close()


def _state() -> State:
    return current_app.extensions[EXTENSION]


# -- reading a request ------------------------------------------------------------------------------
def _int(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"{name}: must be a whole number, not {raw[:40]!r}") from None
    if not low <= value <= high:
        raise ApiError(400, f"{name}: must be between {low} and {high}")
    return value


def _seconds(name: str, default: float, high: float) -> float:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ApiError(400, f"{name}: must be a number of seconds, not {raw[:40]!r}") from None
    if not 0 <= value <= high:                  # NaN fails too
        raise ApiError(400, f"{name}: must be between 0 and {high:g} seconds")
    return value


def _query(*others: str) -> Query:
    """The search of this request; 400 for a parameter the endpoint does not know (a typo such as
    ``subjet=`` must not quietly match every message)."""
    for name in request.args:
        if name != "q" and name not in PARAMS and name not in others:
            known = ", ".join(["q", *PARAMS, *others])
            raise ApiError(400, f"{name[:40]}: unknown parameter; known here: {known}", param=name[:40])
    try:
        return query_from(request.args)
    except QueryError as err:
        raise ApiError(400, str(err), param=err.param) from None


def _base_url() -> str:
    return request.host_url + "api/v1/"


def _page(hits: list[tuple[mail.Found, dict[str, Any]]], query: Query, limit: int, offset: int) -> dict[str, Any]:
    shown = [entry for _found, entry in hits[offset:offset + limit]]
    return {"total": len(hits), "count": len(shown), "offset": offset, "limit": limit,
            "query": query.words[0] if query.words else "", "messages": shown}


# -- the world ----------------------------------------------------------------------------------------
@blueprint.get("")
@blueprint.get("/")
def info():
    stack = running_stack()
    world = stack.world
    config = stack.config
    users = [{"address": a, "name": u.display_name, "password": u.password}
             for a in world.users() if (u := world.user(a)) is not None]
    retention = stack.store.retention
    return jsonify(version=VERSION, scenario=world.scenario.name, users=users,
                   mailboxes=mail.mailboxes(stack), listeners=stack.listener_table(),
                   tls=stack.ssl_context is not None,
                   limits={"max_message_size": config.max_message_size, "keep_messages": retention.keep,
                           "keep_for": retention.max_age})


@blueprint.get("/mailboxes")
def mailboxes():
    return jsonify(mailboxes=mail.mailboxes(running_stack()))


@blueprint.delete("/mailboxes/<address>")
def delete_mailbox(address: str):
    stack = running_stack()
    address = address.strip().lower()
    if address not in {m["address"] for m in mail.mailboxes(stack)}:
        raise ApiError(404, f"no mailbox {address[:100]!r}")
    return jsonify(deleted=mail.delete_all(stack, address))


# -- messages -------------------------------------------------------------------------------------------
@blueprint.get("/messages")
def messages():
    query = _query("limit", "offset")
    limit = _int("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    offset = _int("offset", 0, 0, 10 ** 9)
    hits = mail.search(running_stack(), _state().catalog, query)
    return jsonify(_page(hits, query, limit, offset))


@blueprint.delete("/messages")
def delete_messages():
    stack = running_stack()
    query = _query()
    if query.empty:
        return jsonify(deleted=mail.delete_all(stack))
    hits = mail.search(stack, _state().catalog, query)
    return jsonify(deleted=mail.delete_ids(stack, [found for found, _entry in hits]))


@blueprint.get("/messages/<message_id>")
def message(message_id: str):
    stack = running_stack()
    found = mail.find(stack, _state().catalog, message_id)
    return jsonify(mail.message(_state().catalog, found, _base_url()))


@blueprint.get("/messages/<message_id>/raw")
def raw(message_id: str):
    found = mail.find(running_stack(), _state().catalog, message_id)
    response = Response(mail.raw(found), mimetype="message/rfc822")
    response.headers["Content-Disposition"] = f'inline; filename="{found.id[:100]}.eml"'
    response.headers["Content-Security-Policy"] = MAIL_CSP
    return response


@blueprint.get("/messages/<message_id>/parts/<index>")
def part(message_id: str, index: str):
    if not index.isdigit() or len(index) > 6:
        raise ApiError(400, "index: must be the whole number of an attachment (its \"index\")")
    found = mail.find(running_stack(), _state().catalog, message_id)
    name, kind, data = mail.part(found, int(index))
    response = send_file(io.BytesIO(data), mimetype=kind, as_attachment=True, download_name=name,
                         conditional=False, etag=False, max_age=0)
    response.headers["Content-Security-Policy"] = MAIL_CSP       # an HTML attachment stays inert
    return response


@blueprint.get("/messages/<message_id>/trace")
def trace(message_id: str):
    stack = running_stack()
    found = mail.find(stack, _state().catalog, message_id)
    entry = _state().catalog.summary(found)
    trace_id = entry.get("trace") if entry else None
    events = stack.bus.since_dicts(0, trace=trace_id) if trace_id else []
    return jsonify(id=found.id, trace=trace_id, events=events)


@blueprint.delete("/messages/<message_id>")
def delete_message(message_id: str):
    stack = running_stack()
    found = mail.find(stack, _state().catalog, message_id)
    if mail.delete_ids(stack, [found]) == 0:
        raise ApiError(404, f"no message {message_id[:100]!r} (deleted meanwhile)")
    return jsonify(deleted=1)


# -- waiting ------------------------------------------------------------------------------------------
@blueprint.get("/wait")
def wait():
    query = _query("timeout", "count", "limit")
    timeout = _seconds("timeout", DEFAULT_WAIT, MAX_WAIT)
    count = _int("count", 1, 1, MAX_COUNT)
    limit = _int("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    state = _state()
    if not state.arrivals.enter():
        raise ApiError(503, f"more than {MAX_WAITERS} waits at once; try again")
    try:
        return _wait(query, timeout, count, limit, state)
    finally:
        state.arrivals.leave()


def _arrival(kind: str) -> bool:
    """Whether an event of this kind tells that mail reached a mailbox (or the caught outside world)."""
    return kind.startswith("mda.") or "deliver" in kind or "catch" in kind


def _untold(stack, messages: list[dict]) -> bool:
    """Whether one of ``messages`` is on disk while the bus has told of its journey but not yet of its
    arrival in that mailbox (see the module's docstring)."""
    wanted = {(m.get("trace"), nodes.mailbox(m["mailbox"])) for m in messages if m.get("trace")}
    if not wanted:
        return False
    traces = {trace for trace, _ in wanted}
    seen: set[str] = set()
    for _seq, trace, kind, dst in stack.bus.heads(0):          # nothing decoded
        if trace in traces:
            seen.add(trace)
            if _arrival(kind) and (kind != "mda.deliver" or (trace, dst) in wanted):
                wanted.discard((trace, dst))
                if kind != "mda.deliver":
                    wanted = {(t, box) for t, box in wanted if t != trace}
    return any(trace in seen for trace, _ in wanted)


def _wait(query: Query, timeout: float, count: int, limit: int, state: State):
    deadline = time.monotonic() + timeout
    settle: float | None = None
    while True:
        stack = running_stack()                  # a lesson's reset swaps the world: follow it
        state.arrivals.follow(stack.bus)
        generation = state.arrivals.generation
        hits = mail.search(stack, state.catalog, query)
        if len(hits) >= count:
            now = time.monotonic()
            settle = now + SETTLE if settle is None else settle
            if now < settle and _untold(stack, [hit for _, hit in hits[:count]]):
                state.arrivals.wait_after(generation, min(settle - now, RECHECK))
                continue
            answer = _page(hits, query, limit, 0)
            answer["message"] = hits[0][1]
            return jsonify(answer)
        left = deadline - time.monotonic()
        if left <= 0:
            raise ApiError(408, f"timeout: {len(hits)} of {count} message(s) matched within {timeout:g} s",
                           total=len(hits))
        state.arrivals.wait_after(generation, min(left, RECHECK))

