"""Nothing leaves the sandbox: an audit hook that sees every connection and name lookup a process makes.

Theory of operation
    Python raises an audit event (PEP 578, ``sys.addaudithook``) before each socket operation that
    could reach another machine, whichever library makes it (asyncio, smtplib, dnspython, requests,
    Werkzeug): ``socket.connect`` and ``socket.sendto`` / ``socket.sendmsg`` (an address), and the
    name lookups ``socket.getaddrinfo``, ``socket.gethostbyname``, ``socket.gethostbyname_ex``,
    ``socket.gethostbyaddr`` and ``socket.getnameinfo``.  :func:`install` adds one hook that looks at
    those events only and judges each target:

    * local: an IP literal in 127.0.0.0/8 or ``::1`` (and ``::ffff:127.x``), the unspecified address
      (a connect to it stays on this computer), ``localhost``, no host at all (a bind to a port), a
      Unix socket path, a netlink address;
    * off loopback: any other IP address, and any other name -- a name would be handed to the
      machine's resolver (``/etc/hosts``, then DNS: a packet off the computer), which the sandbox never
      asks: its own DNS server answers its names (RFC 1035 over loopback).

    An off-loopback target is recorded (:func:`violations`; with a log file, one JSON line each,
    appended, so a parent process can read what its children did) and, in ``abort`` mode, the
    operation is stopped: the hook raises :class:`OffLoopback` (a ``PermissionError``), which the
    caller sees instead of the connection.

    The test suite installs it in its own process (``tests/conftest.py``: autouse, every test checked)
    and sets ``MAILFLOW_NET_AUDIT=<file>`` so that every ``app.py`` it starts installs it too
    (:func:`install_from_env`, called first thing in ``app.main``) and appends there.

    An audit hook cannot be removed (PEP 578): :func:`install` adds it once per process; later calls
    only change the mode and the file.  The hook returns at once for every other event (``open``,
    ``import`` ...), and it never raises anything but :class:`OffLoopback`.
"""
from __future__ import annotations

import ipaddress
import json
import os
import sys
import threading
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["ENV", "OffLoopback", "Violation", "install", "install_from_env", "is_local", "read_log",
           "violations"]

ENV = "MAILFLOW_NET_AUDIT"          # a file: app.py installs the hook (abort mode) and appends there
LOCAL_NAMES = frozenset({"localhost", "localhost.", "ip6-localhost", "ip6-loopback"})

# event -> the index of the target in its arguments
_TARGET = {
    "socket.connect": 1, "socket.sendto": 1, "socket.sendmsg": 1,
    "socket.getaddrinfo": 0, "socket.gethostbyname": 0, "socket.gethostbyname_ex": 0,
    "socket.gethostbyaddr": 0, "socket.getnameinfo": 0,
}


class OffLoopback(PermissionError):
    """The sandbox refused an operation that would reach beyond this computer's loopback."""


@dataclass(frozen=True, slots=True)
class Violation:
    pid: int
    event: str
    target: str
    where: str          # the innermost frames outside this module, for the developer


@dataclass(slots=True)
class _State:
    installed: bool = False
    abort: bool = True
    log_path: Path | None = None


_state = _State()
_lock = threading.Lock()
_seen: list[Violation] = []
_busy = threading.local()          # re-entrance guard: writing the log opens a file (an event too)


def is_local(target: Any) -> bool:
    """Does this connect/sendto address or lookup argument stay on this computer?"""
    if target is None or isinstance(target, int):
        return True                          # sendmsg on a connected socket; a bare port
    if isinstance(target, tuple):
        if not target or isinstance(target[0], int):
            return True                      # netlink (pid, groups), and the like
        target = target[0]
    if isinstance(target, (bytes, bytearray)):
        try:
            target = bytes(target).decode("ascii")
        except UnicodeDecodeError:
            return True                      # a Unix socket path in bytes
    if not isinstance(target, str):
        return True
    if target == "" or target.startswith("/") or target.startswith("\0"):
        return True                          # INADDR_ANY for a bind; a Unix socket path
    if target.lower() in LOCAL_NAMES:
        return True
    try:
        address = ipaddress.ip_address(target.split("%", 1)[0])
    except ValueError:
        return False                         # a name: the machine's resolver would be asked
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback or address.is_unspecified


def _where() -> str:
    frames = [f for f in traceback.extract_stack()[:-3] if not f.filename.endswith("netaudit.py")]
    return " <- ".join(f"{Path(f.filename).name}:{f.lineno}" for f in reversed(frames[-4:]))


def _hook(event: str, args: tuple) -> None:
    index = _TARGET.get(event)
    if index is None or getattr(_busy, "on", False):
        return
    try:
        target = args[index] if len(args) > index else None
        local = is_local(target)
    except Exception:        # never break the program for a target we cannot read
        return
    if local:
        return
    _busy.on = True
    try:
        _record(Violation(pid=os.getpid(), event=event, target=repr(target)[:200], where=_where()))
    finally:
        _busy.on = False
    if _state.abort:
        raise OffLoopback(f"Mailflow sandbox: {event} to {target!r} refused (off loopback; {ENV})")


def _record(violation: Violation) -> None:
    with _lock:
        _seen.append(violation)
        path = _state.log_path
    if path is not None:
        try:
            with open(path, "a", encoding="utf-8") as log:
                log.write(json.dumps(asdict(violation)) + "\n")
        except OSError:
            pass


def install(*, abort: bool = True, log_path: Path | str | None = None) -> None:
    """Watch this process's sockets from now on (see the module docstring); idempotent."""
    with _lock:
        _state.abort = abort
        _state.log_path = Path(log_path) if log_path else None
        if _state.installed:
            return
        _state.installed = True
    sys.addaudithook(_hook)


def install_from_env(environ: dict[str, str] | None = None) -> bool:
    """``MAILFLOW_NET_AUDIT=<file>`` set: install in abort mode, appending to that file. True if done."""
    path = (environ if environ is not None else os.environ).get(ENV, "")
    if not path:
        return False
    install(abort=True, log_path=path)
    return True


def violations() -> list[Violation]:
    """What this process attempted off loopback since it started (a copy)."""
    with _lock:
        return list(_seen)


def read_log(path: Path | str, offset: int = 0) -> tuple[list[Violation], int]:
    """The violations appended to a log file from ``offset`` on, and the offset after them."""
    try:
        with open(path, "rb") as log:
            log.seek(offset)
            data = log.read()
    except FileNotFoundError:
        return [], offset
    end = data.rfind(b"\n") + 1              # a line still being written is read next time
    found = [Violation(**json.loads(line)) for line in data[:end].splitlines() if line.strip()]
    return found, offset + end
