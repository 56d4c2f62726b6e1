"""The queue's and the MX's disk writes in a process of their own while many clients write at once (issue 13).

Theory of operation
    Every message a sandbox host takes is made durable before its 250: the MSA's queue entry
    (``QueueStore.add``), the MX's copy in the Maildir (:func:`simulator.direct.write`), and the
    entry's removal once relayed.  Those writes run in worker threads (:mod:`simulator.handoff`), and
    under load the process holds itself on one CPU (:mod:`simulator.affinity`): the threads share
    one GIL with the mail loop, and handing it to another CPU around each of a worker's system calls
    cost more than the second CPU gave.  So, held on one CPU, the workers' time is the loop's time:
    a submission at ten clients at once spent ~3.2 ms of the loop's CPU and ~1.6-2.2 ms of the
    workers' per message, on the same CPU (``bench/bench_pipeline.py``, its per-thread split).

    A process has a GIL of its own.  While the process is held on one CPU, those writes go to a
    helper process (``python -m simulator.diskhelper``), which runs them with its own worker threads
    on the other CPUs: the loop's CPU keeps only the hand-over (a pickled job on a socket pair, its
    answer read back on the loop).  The helper is started when the pinning holds the process, and
    told to leave :data:`LINGER` seconds after the pinning let go; until it says it is ready, and
    after it left, the writes go to the threads as before.  ``app.py --disk-helper on`` starts it
    with the world (ready before anything listens) and keeps it; ``off`` never starts it (``auto``,
    the default, follows the pinning; a world started by the test suite in its own process uses none
    unless told).

    What goes there is a short list of operations (:data:`OPS`), each with what the helper does and
    how its answer is taken back: ``queue.add``, ``queue.save``, ``queue.remove`` (the helper keeps
    its own :class:`simulator.queue.QueueStore` per queue directory), and ``direct.write`` (the
    copies and the entry's recipients, marked done there, are copied back into the caller's entry:
    the thread's version changes the entry in place).  Nothing else changes: the same functions do
    the same fsyncs in the same order, only in another process.  What the helper's store keeps to
    itself is safe to keep apart: its spare files have names of its own pid and are removed when it
    leaves (and by every start-up); its group commits fsync the same directories as the parent's
    might; a ``.done`` record it makes is not noted in the parent's pruning bound, which only makes
    the parent look later than it could (a record kept longer is never a message delivered twice).

    Durability and crashes.  A job's answer is sent once its fsyncs are done, and the 250 follows
    the answer, as it followed the thread's return.  The helper dies with the process
    (``PR_SET_PDEATHSIG``: a SIGKILL of ``app.py`` kills it too; it also leaves at the end of its
    socket).  A crash point reached in the helper (:mod:`simulator.crashpoints`) stops ``app.py``
    first and names ``app.py``'s pid, so a crash test kills the whole of it in that very window.
    If the helper dies on its own (or answers something unreadable: it is then killed by its pid,
    so that nothing of it still writes), every job it had not answered is run again by the threads,
    cancelled ones too: each of these operations may be done twice (an entry written again is the
    same entry; a Maildir copy is written once by its name, :func:`simulator.mda.deliver_once`; a
    record is rewritten), which is what the redo after a crash already relies on.  One thing differs
    from a thread's write then: a Maildir copy the dead helper had linked is found, not written, by
    the redo, and like any copy found from before its hop is not told again (the file is there; the
    page misses its arrival).  A helper that ends unasked is not started again in this process.
    Each job counts as running (``Offload.running``, which a stopping world waits for) until it is
    answered or redone, whether its caller still waits or not.

    The hand-over is one frame per job each way: a 4-octet length and a pickle.  The helper's
    answers are read by an asyncio protocol on the loop (no thread wakes the loop); the helper's
    reading thread hands each job to its pool, and each worker writes its own answer.
"""
from __future__ import annotations

import asyncio
import ctypes
import functools
import logging
import os
import pickle
import signal
import socket
import struct
import subprocess
import sys
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from . import affinity

__all__ = ["LINGER", "MODES", "OPS", "DiskHelper", "current", "disable", "enable", "far", "prepare", "stop"]

log = logging.getLogger(__name__)

MODES = ("auto", "on", "off")
LINGER = 10.0                   # seconds after the pinning let go before the helper is told to leave
MAX_WORKERS = 6                 # the helper's threads, as the parent's pool (simulator.handoff)
_FRAME = struct.Struct("!I")
_ROOT = Path(__file__).resolve().parent.parent      # where ``simulator`` is importable from


# -- the operations ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Op:
    """One operation: ``here`` runs it in the caller's process (a worker thread, with the caller's
    own arguments); ``send`` turns those arguments into the ones sent; ``there`` runs it in the
    helper; ``take`` turns the helper's answer into what ``here`` would have returned, doing to the
    caller's arguments what ``here`` does to them."""
    here: Callable[..., Any]
    send: Callable[..., tuple]
    there: Callable[..., Any]
    take: Callable[[tuple, Any], Any]


_STORES: dict[str, Any] = {}        # in the helper: one QueueStore per queue directory


def _store(root: str) -> Any:
    store = _STORES.get(root)
    if store is None:
        from .queue import QueueStore
        store = _STORES[root] = QueueStore(Path(root))
    return store


def _value(args: tuple, value: Any) -> Any:
    return value


@functools.lru_cache(maxsize=64)
def _absolute(path: Path) -> str:
    return os.path.abspath(path)


def _entry(data: dict) -> Any:
    from .queue import Entry
    return Entry.from_dict(data)


class _Sent:
    """An entry as the queue's ``add``, ``save`` and ``remove`` read it, made of the caller's own
    ``to_dict()``: what they write is that very dict (``Entry.from_dict`` is not its exact inverse:
    it fills in a recipient's reason from its reply)."""
    __slots__ = ("_data", "id", "host", "created", "extra")

    def __init__(self, data: dict) -> None:
        self._data = data
        self.id, self.host, self.created, self.extra = data["id"], data["host"], data["created"], data["extra"]

    def to_dict(self) -> dict:
        return self._data


# An entry travels as its ``to_dict()`` (plain values: pickled in C, where the dataclass and its
# enums would be pickled by Python code on the loop); what follows it (``add``'s content) as it is.
def _queue_op(name: str) -> Op:
    def here(store: Any, entry: Any, *rest: Any) -> Any:
        return getattr(store, name)(entry, *rest)

    def send(store: Any, entry: Any, *rest: Any) -> tuple:
        return (_absolute(store.root), entry.to_dict(), *rest)

    def there(root: str, entry: dict, *rest: Any) -> Any:
        return getattr(_store(root), name)(_Sent(entry), *rest)
    return Op(here, send, there, _value)


def _write_here(store: Any, data_dir: Path, entry: Any, content: bytes, mailboxes: list[str], relay: str) -> Any:
    from . import direct
    return direct.write(store, data_dir, entry, content, mailboxes, relay=relay)


def _write_send(store: Any, data_dir: Path, entry: Any, content: bytes, mailboxes: list[str], relay: str) -> tuple:
    return (_absolute(store.root), _absolute(data_dir), entry.to_dict(), content, mailboxes, relay)


def _write_there(root: str, data_dir: str, entry: dict, content: bytes, mailboxes: list[str], relay: str) -> Any:
    """``direct.write`` in the helper; the answer in plain values: each copy's (mailbox, path or
    None, written now, size), each recipient's (state, status, remote host), the entry's extra."""
    from . import direct
    made = _entry(entry)
    copies, durable = direct.write(_store(root), Path(data_dir), made, content, mailboxes, relay=relay)
    root_dir = Path(data_dir)               # each copy's path relative to it: the caller joins its own
    return (durable, [(c.mailbox, None if c.path is None else direct._relative(c.path, root_dir), c.written, c.size)
                      for c in copies],
            [(str(r.state), r.status, r.remote) for r in made.recipients], made.extra)


def _write_take(args: tuple, value: Any) -> Any:
    """The caller's entry as ``direct.write`` leaves it, its copies pointing at its own recipients."""
    from .direct import Copy
    from .queue import RcptState
    entry = args[2]
    durable, copies, recipients, extra = value
    for rcpt, (state, status, remote) in zip(entry.recipients, recipients):
        rcpt.state, rcpt.status, rcpt.remote = RcptState(state), status, remote
    entry.extra.clear()
    entry.extra.update(extra)
    data_dir = Path(args[1])
    return ([Copy(rcpt, mailbox, None if path is None else data_dir / path, written, size)
             for rcpt, (mailbox, path, written, size) in zip(entry.recipients, copies)],   # one per recipient, in order
            durable)


OPS: dict[str, Op] = {
    "queue.add": _queue_op("add"),
    "queue.save": _queue_op("save"),
    "queue.remove": _queue_op("remove"),
    "direct.write": Op(_write_here, _write_send, _write_there, _write_take),
}


# -- the parent's side ---------------------------------------------------------------------------
class _Answers(asyncio.Protocol):
    """The helper's answers, read on the loop."""

    def __init__(self, helper: "DiskHelper") -> None:
        self._helper = helper
        self._buffer = bytearray()

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        start, size = 0, len(buffer)
        while size - start >= 4:
            length = _FRAME.unpack_from(buffer, start)[0]
            if size - start - 4 < length:
                break
            frame = bytes(buffer[start + 4:start + 4 + length])
            start += 4 + length
            try:
                answer = pickle.loads(frame)
            except Exception:               # not an answer: the helper is not to be trusted with more
                log.exception("the disk helper sent an unreadable answer; it is stopped")
                del buffer[:]
                self._helper._broken()
                return
            self._helper._answer(*answer)
        del buffer[:start]

    def connection_lost(self, exc: Exception | None) -> None:
        self._helper._lost()


class DiskHelper:
    """One helper process and the jobs handed to it, on one loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, cpus: set[int] | None = None) -> None:
        self.loop = loop
        self.ready = False
        self.gone = False
        self.started = 0                # jobs handed over so far (for tests and benchmarks)
        self.pid: int | None = None
        self._cpus = cpus
        pinning = affinity.current()
        self.beside = pinning.pinned if pinning is not None else None   # the process's CPU when placed
        self._proc: subprocess.Popen | None = None
        self._transport: asyncio.Transport | None = None
        self._protocol: asyncio.BaseProtocol | None = None
        # job -> (future, operation, the caller's arguments, called once the job has ended)
        self._pending: dict[int, tuple[asyncio.Future, str, tuple, Callable[[], None]]] = {}
        self._next = 1
        self._leaving = False
        self.released_at: float | None = None      # loop time the pinning was seen let go (mode auto)
        self._start_task = loop.create_task(self._start())

    @property
    def asked_to_leave(self) -> bool:
        return self._leaving

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    async def _start(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            env = dict(os.environ)
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_ROOT), env.get("PYTHONPATH", "")]))
            cpus = ",".join(str(c) for c in sorted(self._cpus or ()))
            # Started from the loop's thread: PR_SET_PDEATHSIG follows the thread that made the child.
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "simulator.diskhelper", str(theirs.fileno()), str(os.getpid()), cpus],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, env=env)
            self.pid = self._proc.pid
        except OSError as exc:
            log.warning("the disk helper could not start (%s); the writes stay in threads", exc)
            ours.close()
            self.gone = True
            return
        finally:
            theirs.close()
        if self._cpus:
            try:        # off the loop's one CPU at once, not after its start-up (it inherited that mask)
                os.sched_setaffinity(self.pid, self._cpus)
            except OSError:
                pass
        try:
            self._transport, self._protocol = await self.loop.connect_accepted_socket(lambda: _Answers(self), ours)
        except OSError:
            ours.close()
            self._lost()

    def submit(self, name: str, args: tuple, ended: Callable[[], None]) -> "asyncio.Future[Any]":
        """Hand ``OPS[name]`` with the caller's ``args`` over (only while :attr:`ready`).
        ``ended`` is called once the job has ended -- answered, or done again by a thread -- even if
        the future was cancelled meanwhile (a stop waits for the writes in flight, as for a thread's)."""
        op = OPS[name]
        future = self.loop.create_future()
        job = self._next
        self._next += 1
        frame = pickle.dumps((job, name, op.send(*args)), protocol=pickle.HIGHEST_PROTOCOL)
        self._pending[job] = (future, name, args, ended)
        self.started += 1
        assert self._transport is not None
        self._transport.write(_FRAME.pack(len(frame)) + frame)
        return future

    def place(self, cpus: set[int], beside: int | None) -> None:
        """The process is held on another CPU now (or let go): the helper moves to ``cpus``."""
        self.beside = beside
        if self._transport is not None and not self._transport.is_closing():
            frame = pickle.dumps((0, "cpus", (sorted(cpus),)))
            self._transport.write(_FRAME.pack(len(frame)) + frame)

    def _answer(self, job: int, ok: bool, value: Any) -> None:
        if job == 0:                            # the helper's first frame: ready
            self.ready = not self._leaving
            return
        held = self._pending.pop(job, None)
        if held is None:
            return
        future, name, args, ended = held
        try:
            if not future.cancelled():
                if not ok:
                    _fail(future, value)
                else:
                    try:
                        result = OPS[name].take(args, value)
                    except Exception as exc:        # never leave a waiting write without an outcome
                        _fail(future, exc)
                    else:
                        future.set_result(result)
        finally:
            ended()

    def _broken(self) -> None:
        """The helper answered something it should not have: it is stopped (by its pid) before its
        unanswered jobs are done again, so no write is made by both."""
        self._kill()
        if self._transport is not None:
            self._transport.abort()             # connection_lost -> _lost

    def _kill(self) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()                         # the pid we started
            proc.wait()

    def _lost(self) -> None:
        """The helper's socket ended.  Unasked, the helper is made sure dead first (nothing of it
        may still write); then what it had not answered is done again by the threads -- cancelled
        jobs too, as a thread would have run them to their end (each operation may be done twice,
        see the module's docstring)."""
        from . import handoff
        self.ready = False
        self.gone = True
        pending, self._pending = self._pending, {}
        if pending and not self._leaving:
            log.warning("the disk helper ended with %d job(s) unanswered; done again in threads", len(pending))
        if not self._leaving or pending:
            self._kill()
        for future, name, args, ended in pending.values():
            redo = handoff.run(OPS[name].here, *args)
            redo.add_done_callback(functools.partial(_chain, future=future, ended=ended))
        self._reap()

    def _reap(self) -> None:
        """Its socket ended: wait for its exit in a thread (killed by its pid after 5 s)."""
        if self._proc is not None and self._proc.poll() is None:
            threading.Thread(target=self.wait, args=(5.0,), name="diskhelper-reap", daemon=True).start()

    def leave(self) -> None:
        """Tell the helper to leave once its jobs are answered (the threads take the next ones)."""
        self.ready = False
        self._leaving = True
        if self._transport is not None and not self._transport.is_closing():
            frame = pickle.dumps((0, "exit", ()))
            self._transport.write(_FRAME.pack(len(frame)) + frame)
        elif self._transport is None and not self.gone:
            self._start_task.add_done_callback(lambda _t: self.leave())

    def wait(self, timeout: float = 2.0) -> None:
        """In a thread, after :meth:`leave`: until the helper has ended (killed by its pid if it lingers)."""
        proc = self._proc
        if proc is not None:
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _fail(future: "asyncio.Future[Any]", error: BaseException) -> None:
    if isinstance(error, StopIteration):        # a future refuses it: say what happened
        wrapped = RuntimeError("StopIteration raised in the disk helper")
        wrapped.__cause__ = error
        error = wrapped
    future.set_exception(error)


def _chain(done: "asyncio.Future[Any]", future: "asyncio.Future[Any]", ended: Callable[[], None]) -> None:
    try:
        if future.cancelled():
            return
        if done.cancelled():
            future.cancel()
        elif done.exception() is not None:
            _fail(future, done.exception())
        else:
            future.set_result(done.result())
    finally:
        ended()


# -- the process's one helper, and when it runs -----------------------------------------------
_MODE = "off"
_HELPERS: dict[asyncio.AbstractEventLoop, DiskHelper] = {}     # the running helper of each loop
_BROKEN = False             # a helper ended unasked (or never started): the threads only, from then on
_STOPPING: "weakref.WeakSet[asyncio.AbstractEventLoop]" = weakref.WeakSet()    # loops whose stack stopped


def enable(mode: str) -> None:
    """``app.py --disk-helper``: ``auto`` (while the CPU pinning holds the process), ``on``, ``off``.
    ``auto`` with crash points armed (:mod:`simulator.crashpoints`) is ``off``: each process counts
    the points it reaches, so a write going to the helper or not with the load would move the
    window a crash test means to kill in; such a test says ``on`` (or ``off``) itself."""
    global _MODE
    if mode not in MODES:
        raise ValueError(f"disk helper mode {mode!r}: one of {', '.join(MODES)}")
    from . import crashpoints
    _MODE = "off" if mode == "auto" and os.environ.get(crashpoints.ENV) else mode


def disable() -> None:
    """No new helper from now on (a running one leaves when its loop's stack stops: :func:`stop`)."""
    global _MODE
    _MODE = "off"


async def stop(timeout: float = 30.0) -> None:
    """A stack stopping on this loop, its disk work ended: the helper of this loop leaves once it
    has answered what it holds, and is waited for (killed by its pid after ``timeout`` seconds);
    no helper starts on this loop again (a write still coming goes to a thread)."""
    loop = asyncio.get_running_loop()
    _STOPPING.add(loop)
    helper = _HELPERS.pop(loop, None)
    if helper is None:
        return
    helper.leave()
    await loop.run_in_executor(None, helper.wait, timeout)


async def prepare(timeout: float = 20.0) -> None:
    """A stack starting on this loop: in mode ``on``, its helper is started and ready before this
    returns (every durable write goes there from the first); one that does not get ready in
    ``timeout`` seconds leaves the writes to the threads."""
    global _BROKEN
    if _MODE != "on" or _BROKEN:
        return
    loop = asyncio.get_running_loop()
    _STOPPING.discard(loop)
    helper = _HELPERS.get(loop)
    if helper is None:
        pinning = affinity.current()
        helper = _HELPERS[loop] = DiskHelper(loop, _beside(pinning))
    deadline = loop.time() + timeout
    while not helper.ready and not helper.gone and loop.time() < deadline:
        await asyncio.sleep(0.01)
    if not helper.ready:
        log.warning("the disk helper did not start; the disk writes stay in threads")
        _BROKEN = True
        _HELPERS.pop(loop, None)
        helper.leave()


def current() -> DiskHelper | None:
    """The helper of the running loop, if one runs."""
    try:
        helper = _HELPERS.get(asyncio.get_running_loop())
    except RuntimeError:
        return None
    return None if helper is None or helper.gone else helper


def far(name: str, args: tuple, overlapped_threads: bool,
        ended: Callable[[], None]) -> "asyncio.Future[Any] | None":
    """Hand ``OPS[name]`` to this loop's helper if it is ready (None: the caller runs it in a
    thread), and decide whether the helper should run: called on the loop for every such write.
    ``overlapped_threads``: another write was running in a thread when this one came; ``ended``:
    see :meth:`DiskHelper.submit`."""
    global _BROKEN
    if _MODE == "off" or _BROKEN:
        return None
    loop = asyncio.get_running_loop()
    if loop in _STOPPING:                   # its stack let its helper go: no new one on this loop
        return None
    helper = _HELPERS.get(loop)
    if helper is not None and helper.gone:
        del _HELPERS[loop]
        if not helper.asked_to_leave:
            log.warning("the disk helper ended on its own; the disk writes stay in threads from now on")
            _BROKEN = True
            return None
        helper = None
    pinning = affinity.current()
    if helper is not None and helper.ready and pinning is not None:
        # its jobs keep the pinning's judgement going (the threads' are noted by the hand-off)
        pinning.note(overlapped_threads or helper.in_flight > 0)
    want = _MODE == "on" or (pinning is not None and pinning.pinned is not None)
    if want:
        if helper is None:
            helper = _HELPERS[loop] = DiskHelper(loop, _beside(pinning))
        else:
            helper.released_at = None
            if helper.ready and pinning is not None and helper.beside != pinning.pinned:
                helper.place(_beside(pinning), pinning.pinned)
    elif helper is not None:
        now = loop.time()
        if helper.released_at is None:
            helper.released_at = now
            loop.call_later(LINGER, _linger, helper)
        elif now - helper.released_at >= LINGER:
            del _HELPERS[loop]
            helper.leave()
            return None
    if helper is None or not helper.ready:
        return None
    return helper.submit(name, args, ended)


def _beside(pinning: affinity.Pinning | None) -> set[int]:
    """The CPUs for the helper: one CPU other than the one the process is held on (its threads
    share a GIL too: on one CPU they hand it over cheaply, as the pinning found for the process's
    own); every CPU allowed when the process is not held."""
    allowed = set(pinning.allowed if pinning is not None else os.sched_getaffinity(0))
    if pinning is None or pinning.pinned is None:
        return allowed
    others = sorted(allowed - {pinning.pinned})
    return {others[0]} if others else allowed


def _linger(helper: DiskHelper) -> None:
    """:data:`LINGER` seconds after the pinning was seen let go: if no write has found it holding
    since, the helper leaves (its loop's next write under load starts another)."""
    if _HELPERS.get(helper.loop) is not helper or helper.released_at is None or _MODE == "on":
        return
    pinning = affinity.current()
    if pinning is not None and pinning.pinned is not None:
        helper.released_at = None
        return
    if helper.loop.time() - helper.released_at >= LINGER - 0.01:
        del _HELPERS[helper.loop]
        helper.leave()


# -- the helper's side ---------------------------------------------------------------------------
def _die_with(parent: int) -> None:
    """SIGKILL when the thread that started this process ends (Linux); and leave now if it has."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)             # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:
        os._exit(0)


def _place(cpus: set[int]) -> None:
    """Every thread of the helper on ``cpus`` (threads started later inherit the reader's)."""
    try:
        for tid in os.listdir("/proc/self/task"):
            try:
                os.sched_setaffinity(int(tid), cpus)
            except ProcessLookupError:
                pass
    except OSError as exc:
        log.warning("the disk helper could not move to CPUs %s: %s", sorted(cpus), exc)


def _serve(sock: socket.socket) -> None:
    from concurrent.futures import ThreadPoolExecutor
    send_lock = threading.Lock()

    def send(answer: tuple) -> None:
        try:
            frame = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:                # an unpicklable exception: say what it was
            frame = pickle.dumps((answer[0], False, RuntimeError(f"{answer[2]!r} (not picklable: {exc})")))
        with send_lock:
            sock.sendall(_FRAME.pack(len(frame)) + frame)

    def work(job: int, name: str, args: tuple) -> None:
        try:
            answer = (job, True, OPS[name].there(*args))
        except BaseException as exc:            # the caller's await raises it, as from a thread
            answer = (job, False, exc)
        try:
            send(answer)
        except OSError:                         # the parent is gone
            pass

    pool = ThreadPoolExecutor(MAX_WORKERS, thread_name_prefix="diskhelper")
    from . import direct, queue         # noqa: F401  imported before it says ready: no job waits on them
    send((0, True, "ready"))
    buffer = bytearray()
    asked = False
    try:
        while True:
            data = sock.recv(1 << 16)
            if not data:
                break
            buffer += data
            start, size, leave = 0, len(buffer), False
            while size - start >= 4:
                length = _FRAME.unpack_from(buffer, start)[0]
                if size - start - 4 < length:
                    break
                job, name, args = pickle.loads(bytes(buffer[start + 4:start + 4 + length]))
                start += 4 + length
                if name == "exit":
                    leave = asked = True
                    break
                if name == "cpus":
                    _place(set(args[0]))
                    continue
                pool.submit(work, job, name, args)
            del buffer[:start]
            if leave:
                break
    finally:
        if not asked:
            # The parent closed without asking (it is stopping hard, or gave up on this helper and
            # redoes its jobs in threads): nothing more may be written from here.
            os._exit(0)
        pool.shutdown(wait=True)
        for store in _STORES.values():
            store.drop_spares()
        sock.close()


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    fd, parent, cpus = int(argv[0]), int(argv[1]), argv[2] if len(argv) > 2 else ""
    _die_with(parent)
    if cpus:
        _place({int(c) for c in cpus.split(",")})      # beside the parent's one CPU, not on it
    # The terminal's ^C and a SIGTERM to the process group are app.py's to handle: it stops its
    # world, whose stop tells the helper to leave once its writes are answered.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    from . import crashpoints
    crashpoints.stand_in_for(parent)
    _serve(socket.socket(fileno=fd))


if __name__ == "__main__":
    main()
