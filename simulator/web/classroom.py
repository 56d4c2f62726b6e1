"""The class API: students join, the teacher opens and closes joining, limits and removes.

    GET    /api/class                       {"open", "domain", "limit", "me", "students"}
    POST   /api/class/join {name}           a viewer joins: a new user, and the browser logged in to it
    POST   /api/class {open?, limit?}       the teacher's: open or close joining, the sending limit
    DELETE /api/class/students/<id>         the teacher's: remove a student

The roster is :class:`simulator.classroom.Classroom` (one per app, in the Context: students stay
when the director swaps the world, and are made users of the new one).  A student's browser is
logged in to the webmail as the new user (:func:`.webmail.start_session`), and a browser that
joined once gets its own student back, not a second one.  The teacher sees every student; a
student sees only themself (with their password, so they can also set up Thunderbird).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, jsonify, request, session

from ..classroom import Classroom, ClassroomError
from .context import ApiError, current, running_stack
from .guard import is_teacher, open_to_viewers
from .webmail import SESSION_KEY, WebLogin, logins, start_session, this_login

blueprint = Blueprint("classroom", __name__, url_prefix="/api/class")

STUDENT_KEY = "student"          # in the session cookie: the id of the student this browser is


def classroom() -> Classroom:
    return current().classroom


def _me() -> dict[str, Any] | None:
    student = classroom().student(session.get(STUDENT_KEY, ""))
    stack = current().stack
    if student is None or stack is None or not stack.world.user_exists(student.address):
        return None
    return student.to_dict(stack.world, secret=True)


def class_info() -> dict[str, Any]:
    """What every page may know: is joining open, and where students get their mailboxes."""
    room = classroom()
    stack = current().stack
    return {"open": room.open, "domain": Classroom.domain(stack.world) if stack else None,
            "limit": room.limit, "students": len(room.students())}


@blueprint.get("")
def class_view():
    room = classroom()
    stack = running_stack()
    students = ([s.to_dict(stack.world) for s in room.students()] if is_teacher() else [])
    return jsonify({**class_info(), "me": _me(), "students": students})


@blueprint.post("/join")
@open_to_viewers
def join():
    stack = running_stack()
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object")
    mine = _me()
    if mine is not None:                      # this browser joined already: the same student
        if this_login() is None or this_login().address != mine["address"]:
            start_session(WebLogin(mine["address"], mine["password"], student=mine["id"]))
        return jsonify({**mine, "again": True})
    try:
        student = classroom().join(stack.world, body.get("name"), request.remote_addr or "?",
                                   taken=lambda address: has_mail(stack, address))
    except ClassroomError as err:
        raise ApiError(err.status, err.message) from None
    session[STUDENT_KEY] = student.id
    start_session(WebLogin(student.address, student.password, student=student.id))
    return jsonify({**student.to_dict(stack.world, secret=True), "again": False}), 201


@blueprint.post("")
def change():
    stack = running_stack()
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not ({"open", "limit"} & body.keys()):
        raise ApiError(400, "give open (true or false) and/or limit (a number, or null for none)")
    room = classroom()
    if "open" in body:
        if not isinstance(body["open"], bool):
            raise ApiError(400, "open must be true or false")
        room.set_open(body["open"])
    if "limit" in body:
        try:
            room.set_limit(stack.world, body["limit"])
        except ClassroomError as err:
            raise ApiError(err.status, err.message) from None
    info = class_info()
    current().socketio.emit("class", info)        # every page: the join button appears or goes at once
    return jsonify(info)


@blueprint.delete("/students/<student_id>")
def remove(student_id: str):
    stack = running_stack()
    try:
        student = classroom().remove(stack.world, student_id)
    except ClassroomError as err:
        raise ApiError(err.status, err.message) from None
    logins().drop_address(student.address)
    return jsonify(removed=student.to_dict())


def has_mail(stack: Any, address: str) -> bool:
    """Is there mail on disk under ``address`` (a Maildir, or what the webmail downloaded by POP3)?"""
    local, _, domain = address.rpartition("@")
    data = Path(stack.config.data_dir)
    return (data / "mail" / domain / local).exists() or (data / "webmail" / domain / local).exists()


def rebind(stack: Any, old_stack: Any = None) -> None:
    """The director swapped the world: students become users of the new one (called by __init__),
    and each browser's webmail login follows its own student (by id, never by address)."""
    for student in classroom().rebind(stack.world, old_stack.world if old_stack is not None else None,
                                      taken=lambda address: has_mail(stack, address)):
        logins().readdress(student.id, student.address)


__all__ = ["blueprint", "class_info", "rebind", "STUDENT_KEY", "SESSION_KEY", "this_login"]
