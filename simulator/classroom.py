"""The class that takes part: students who join become users of the running world.

A student gives a name on the page; :meth:`Classroom.join` makes it a user of the *class domain*
(the scenario's ``class_domain``, else its first domain with a mailbox server), with a password of
its own, through :meth:`simulator.world.World.add_user` -- so the student's mail client and mailbox
appear on the diagram (a ``world.user`` fact), the domain's mail server accepts and delivers their
mail, and the front door lets them log in with any client.  Nothing here touches a socket or Flask.

The teacher opens and closes joining (closed by default), sets a sending limit per student (the MSA
enforces it: :meth:`World.may_send`), and removes a student (their logins stop; mail on disk stays).

Caps, because a classroom network is not a friendly place: at most ``max_students`` students, and
at most ``joins_per_address`` joins from one remote address in ``window`` seconds (a script cannot
flood the world with users).  A browser that already joined gets its own student back instead of a
second one (the web layer keys students by the browser's session).

When the lesson director swaps the world (a lesson loaded, the world reset), :meth:`rebind` makes
every student a user of the new world's class domain again, under the same local part.

Names: the local part is made from the name -- Cyrillic transliterated as Russian passports do
(ICAO Doc 9303), lower case, letters and digits, words joined by dots: "Иван Петров" becomes
``ivan.petrov``; a taken one gets a number (``ivan.petrov2``).  ``postmaster`` is always taken: it
is the domain's alias for its postmaster (RFC 5321 §4.5.1, :meth:`World.postmaster_of`), so a student
named Postmaster becomes ``postmaster2``.
"""
from __future__ import annotations

import re
import secrets
import threading
import time
import unicodedata
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

from .world import POSTMASTER, World, WorldError

NAME_MAX = 40
_TRANSLIT = dict(zip(          # ICAO Doc 9303 (Russian passports since 2014), plus і ї є ґ
    "абвгдеёжзийклмнопрстуфхцчшщъыьэюяіїєґ",
    ["a", "b", "v", "g", "d", "e", "e", "zh", "z", "i", "i", "k", "l", "m", "n", "o", "p", "r", "s",
     "t", "u", "f", "kh", "ts", "ch", "sh", "shch", "ie", "y", "", "e", "iu", "ia", "i", "i", "ie", "g"]))
_PASSWORD_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"     # no 0/o, 1/l/i: read aloud, typed by hand


class ClassroomError(Exception):
    """A join or a teacher's change that cannot be made: ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


@dataclass(slots=True)
class Student:
    id: str
    name: str
    address: str
    password: str
    joined: float           # time.time() when they joined

    def to_dict(self, world: World | None = None, *, secret: bool = False) -> dict[str, Any]:
        out = {"id": self.id, "name": self.name, "address": self.address, "joined": self.joined,
               "sent": world.sent(self.address) if world is not None else 0}
        if secret:
            out["password"] = self.password
        return out


def local_part(name: str) -> str:
    """The local part made from a student's name ("" when nothing usable is left)."""
    out = []
    for ch in unicodedata.normalize("NFKC", name).lower():
        if ch in _TRANSLIT:
            out.append(_TRANSLIT[ch])
        else:
            base = unicodedata.normalize("NFKD", ch)[0]
            out.append(base if base.isascii() and base.isalnum() else " ")
    words = "".join(out).split()
    return ".".join(words)[:30].strip(".")


def clean_name(raw: Any) -> str:
    """The name as given, checked: 1..NAME_MAX characters, no control characters."""
    if not isinstance(raw, str):
        raise ClassroomError(400, "give your name as text")
    name = " ".join(raw.split())
    if not name:
        raise ClassroomError(400, "give your name")
    if len(name) > NAME_MAX:
        raise ClassroomError(400, f"a name has at most {NAME_MAX} characters")
    if any(unicodedata.category(c).startswith("C") for c in name) or re.search(r"[<>\"@\\]", name):
        raise ClassroomError(400, "a name may not contain control characters or < > \" @ \\")
    return name


class Classroom:
    """The roster of students, whether joining is open, and the sending limit (thread-safe)."""

    def __init__(self, *, max_students: int = 60, joins_per_address: int = 5, window: float = 600.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_students, self.joins_per_address, self.window = max_students, joins_per_address, window
        self._clock = clock
        self._lock = threading.RLock()
        self.open = False
        self.limit: int | None = None
        self._students: dict[str, Student] = {}           # id -> student
        self._joins: dict[str, deque[float]] = {}         # remote address -> times of its joins
        self._retired: set[str] = set()                   # addresses of removed students: never given again

    # -- reading -----------------------------------------------------------------------------------
    @staticmethod
    def domain(world: World) -> str | None:
        """The class domain of a world: the scenario's ``class_domain``, else its first with a mailbox server."""
        named = world.scenario.class_domain
        if named and world.retrieval_host(named) is not None:
            return named
        return next((d for d in world.domains if world.retrieval_host(d) is not None), None)

    def students(self) -> list[Student]:
        with self._lock:
            return list(self._students.values())

    def student(self, student_id: str) -> Student | None:
        with self._lock:
            return self._students.get(student_id)

    def by_address(self, address: str) -> Student | None:
        with self._lock:
            return next((s for s in self._students.values() if s.address == address.lower()), None)

    # -- the teacher's ---------------------------------------------------------------------------
    def set_open(self, open_: bool) -> None:
        with self._lock:
            self.open = bool(open_)

    def set_limit(self, world: World, limit: int | None) -> None:
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= 10_000):
            raise ClassroomError(400, "the sending limit is a number of messages from 0 to 10000, or null for none")
        with self._lock:
            self.limit = limit
            for student in self._students.values():
                world.set_send_limit(student.address, limit)

    def remove(self, world: World, student_id: str) -> Student:
        with self._lock:
            student = self._students.pop(student_id, None)
        if student is None:
            raise ClassroomError(404, "no such student")
        with self._lock:
            self._retired.add(student.address)
        try:
            world.remove_user(student.address)
        except WorldError:
            pass                     # already gone with an old world
        return student

    # -- a student's -----------------------------------------------------------------------------
    def join(self, world: World, raw_name: Any, remote: str,
             taken: Callable[[str], bool] | None = None) -> Student:
        """Make a student of ``raw_name`` (raises ClassroomError: 400 bad name, 403 closed, 429 caps).

        ``taken(address)`` says an address is not free although no user has it (mail of an earlier
        student or an earlier run is on disk under it): a new student never inherits mail."""
        name = clean_name(raw_name)
        with self._lock:
            if not self.open:
                raise ClassroomError(403, "joining is closed: ask your teacher to open it")
            if len(self._students) >= self.max_students:
                raise ClassroomError(429, f"the class is full ({self.max_students} students)")
            now = self._clock()
            recent = self._joins.setdefault(remote, deque())
            while recent and now - recent[0] >= self.window:
                recent.popleft()
            if len(recent) >= self.joins_per_address:
                raise ClassroomError(429, "too many joins from your computer; wait a few minutes")
            domain = self.domain(world)
            if domain is None:
                raise ClassroomError(409, "this world has no domain with a mailbox server for students")
            local = self._free_local(world, local_part(name) or "student", domain, taken)
            password = "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(10))
            try:
                spec = world.add_user(domain, local, password, name)
            except WorldError as err:
                raise ClassroomError(409, str(err)) from None
            recent.append(now)
            if len(self._joins) > 4096:                   # bounded: forget the quietest addresses
                for key in [k for k, v in self._joins.items() if not v][:2048]:
                    del self._joins[key]
            student = Student(secrets.token_hex(8), name, spec.address, password, time.time())
            self._students[student.id] = student
            world.set_send_limit(student.address, self.limit)
            return student

    def rebind(self, world: World, old_world: World | None = None,
               taken: Callable[[str], bool] | None = None) -> list[Student]:
        """Make every student a user of a new world (what they sent so far counts against the limit
        there too); returns the students kept (their ``address`` may be new)."""
        kept = []
        with self._lock:
            domain = self.domain(world)
            for student in list(self._students.values()):
                if domain is None:
                    del self._students[student.id]
                    continue
                sent = old_world.sent(student.address) if old_world is not None else 0
                local = self._free_local(world, student.address.rpartition("@")[0], domain, taken,
                                         mine=student.address)
                spec = world.add_user(domain, local, student.password, student.name)
                student.address = spec.address
                world.set_send_limit(student.address, self.limit)
                world.set_sent(student.address, sent)
                kept.append(student)
        return kept

    def _free_local(self, world: World, wanted: str, domain: str, taken: Callable[[str], bool] | None,
                    *, mine: str | None = None) -> str:
        """``wanted``, or ``wanted2``, ``wanted3`` ...: the first address nobody has or had (``mine``,
        a student's own address, is free for that student)."""
        def free(address: str) -> bool:
            if address.rpartition("@")[0] == POSTMASTER:    # the domain's alias (RFC 5321 §4.5.1): never a student's
                return False
            if address == mine:
                return not world.user_exists(address)
            return not (world.user_exists(address) or address in self._retired or (taken and taken(address)))
        wanted = wanted or "student"
        for candidate in [wanted] + [f"{wanted}{n}" for n in range(2, 10_000)]:
            if free(f"{candidate}@{domain}"):
                return candidate
        raise ClassroomError(409, "no free address left for this name")
