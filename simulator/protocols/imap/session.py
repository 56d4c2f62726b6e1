"""The sans-IO IMAP4rev1 session (RFC 3501): bytes in, effects out.

Theory of operation
  ``ImapSession.feed(bytes)`` returns a list of effects (:mod:`.effects`) that the asyncio adapter
  carries out in order.  Framing is ``CommandReader``'s (:mod:`.wire`); which verbs are legal in
  which state is the table ``COMMANDS`` at the bottom, of function references into
  :mod:`.verbs_any`, :mod:`.verbs_folders` and :mod:`.verbs_selected`; a verb not in the row of the
  current state takes the single "not allowed in this state" path.
  Login is an effect: ``Authenticate`` goes out, the session waits, and the adapter answers with
  ``login_result(mailbox)`` (a :class:`.mailbox.Mailbox` bound to the user) or ``None``.
  Mailbox changes made by other sessions reach a session through the mailbox's listener; they are
  reported at the end of the next command (never EXPUNGE during FETCH/STORE/SEARCH, RFC 3501
  §7.4.1) or at once while IDLE (the adapter calls ``poll()`` after ``wakeup`` fires).
  FETCH, SEARCH, SORT and THREAD run as jobs (generators): a FETCH step is a batch of up to 64
  messages (their implicit \\Seen set by one store call), a SEARCH/SORT/THREAD step 64 messages.
  With ``output_budget`` set (the server sets it; the default None runs every command to its end
  inside ``feed``), a job stops once it has queued that many bytes, and with ``job_steps`` /
  ``job_seconds`` set (the server: ``JOB_STEPS``, ``JOB_SECONDS``) once the jobs of this turn (one
  ``feed`` or ``resume``) have taken that many steps or that long: ``pending`` turns true, the
  adapter writes what it has, lets the loop serve the other sessions and calls ``resume()``, so a
  whole-mailbox FETCH streams out instead of being built in memory first and a search over a large
  folder never holds the loop; commands pipelined behind it wait in the reader and run, in order,
  once it ends.
  Before login the reader frames with ``wire.PREAUTH_MAX`` (8 KiB per literal) and
  ``wire.PREAUTH_COMMAND`` (32 KiB per command, literals included: a maximal RFC 2971 ID fits), as
  Dovecot's imap-login bounds its input; ``authenticated()`` widens it to the full limits.  An ``OSError`` from
  the store (a full disk, a name too long for the file system) is a ``NO`` for that command.
  Bounds of one session: ``MAX_LOGIN_FAILURES`` failed logins end it (``* BYE``; the shared
  throttle slows the attempts themselves, across connections), and so do 20 BAD replies in a row
  (``ErrorBudget``, Dovecot's CLIENT_MAX_BAD_COMMANDS: ``* BYE Too many invalid IMAP commands.``);
  any other tagged reply starts that count again.
  Every hop worth showing becomes a ``Publish`` of a fact (:mod:`simulator.facts.imap`) carrying
  the transcript of the command: data only, the narrator words it.
"""

from __future__ import annotations

import errno
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from simulator import nodes
from simulator.facts import Fact
from simulator.facts import imap as facts
from simulator.store import SYSTEM_FLAGS, FolderEvent, FolderExists, FolderNameError, NoSuchFolder, StoreError

from ..limits import ErrorBudget
from . import verbs_any, verbs_folders, verbs_search, verbs_selected
from .effects import Close, Effect, Publish, Send, StartTls, State
from .mailbox import Handle, Mailbox
from .wire import (MAX_COMMAND, MAX_LINE, MAX_LITERAL, PREAUTH_COMMAND, PREAUTH_MAX, Command, CommandReader,
                   FrameError, Framed, ParseError, SeqSet, format_uid_set, intersect_ranges, merge_ranges,
                   parse_command, ranges_without, tag_of, uids_in)

JOB_STEPS = 16          # steps of a FETCH / SEARCH / SORT / THREAD job per turn of the loop ...
JOB_SECONDS = 0.02      # ... or this much time, whichever comes first (the server sets both)
IDLE_TIMEOUT = 30 * 60  # RFC 3501 §5.4: at least 30 minutes
MAX_LOGIN_FAILURES = 3  # failed LOGIN / AUTHENTICATE in one connection, then BYE (as POP3 and SMTP AUTH)
# Largest Send that _flush builds by merging replies (one big reply stays whole).  Below glibc's
# mmap threshold (128 KiB, fixed by ``simulator.memory.settle``): a larger join is a fresh mapping
# each time, its pages faulted in and zeroed, then unmapped (strace: one mmap + munmap per chunk).
FLUSH_CHUNK = 96 * 1024
OUTPUT_BUDGET = 256 * 1024  # what the server lets a long FETCH queue before it writes and resumes it
TRANSCRIPT_KEEP = 60      # lines of dialogue kept for one command's fact
BODY_KEEP = 20            # lines of one reply kept (the rest become one ("…", "<count>") marker)
LINE_KEEP = 300           # characters of one line kept

FLAGS_LIST = (*SYSTEM_FLAGS, "$Forwarded")
CAPS_PREAUTH = ("IMAP4rev1", "SASL-IR", "LITERAL+", "ID", "ENABLE", "IDLE")
CAPS_AUTH_MECHS = ("AUTH=PLAIN", "AUTH=LOGIN")
CAPS_POSTAUTH = ("IMAP4rev1", "SASL-IR", "LITERAL+", "ID", "ENABLE", "IDLE", "NAMESPACE", "UIDPLUS",
                 "UNSELECT", "CHILDREN", "MOVE", "SPECIAL-USE", "ESEARCH", "SORT", "SORT=DISPLAY", "ESORT",
                 "THREAD=ORDEREDSUBJECT", "THREAD=REFERENCES", "CONDSTORE", "QRESYNC", "MULTIAPPEND", "BINARY")

# RFC 3501 §7.4.1: no EXPUNGE responses while answering these (the UID forms may send them).
NO_EXPUNGE_DURING = {"FETCH", "STORE", "SEARCH", "SORT", "THREAD"}


_NO_FLAGS: frozenset[str] = frozenset()
_FLAG_TEXTS: dict[tuple[frozenset[str], bool], str] = {}


def _flags_text(flags: Iterable[str], recent: bool) -> str:
    """The FLAGS list's text: system flags first, then keywords, each group sorted."""
    words = set(flags)
    if recent:
        words.add("\\Recent")
    return " ".join(sorted(words, key=lambda f: (not f.startswith("\\"), f)))


class ImapSession:
    """One IMAP connection, without I/O. Feed it bytes, carry out the effects it returns."""

    def __init__(self, *, peer: str = "127.0.0.1", node: str = nodes.FRONT, tls_available: bool = False,
                 tls_active: bool = False, default_domain: str | None = None, server_name: str = "mailflow",
                 wakeup: Callable[[], None] | None = None, output_budget: int | None = None) -> None:
        self.peer, self.node = peer, node
        self.tls_available, self.tls_active = tls_available, tls_active
        self.default_domain = default_domain
        self.server_name = server_name
        self._wakeup = wakeup
        self.state = State.NOT_AUTHENTICATED
        # Before login, Dovecot's imap-login limits: a few KiB per command, literals included.
        self.reader = CommandReader(max_line=PREAUTH_COMMAND, max_literal=PREAUTH_MAX, max_command=PREAUTH_COMMAND)
        self.mailbox: Mailbox | None = None
        self.address = ""
        self._subscription: Handle | None = None
        self._out: list[Effect] = []
        self._transcript: list[tuple[str, str]] = []
        self.sasl: tuple[str, str, list[str]] | None = None  # (tag, mechanism, collected) mid-AUTHENTICATE
        self.login_wait: tuple[str, str, str] | None = None  # (tag, login, mechanism) while Authenticate is out
        self.idle_tag: str | None = None
        # the selected mailbox as this session has told the client about it
        self.folder = ""
        self.readonly = False
        self.view: list[int] = []  # sequence number - 1 -> UID
        self.view_flags: dict[int, frozenset[str]] = {}
        self.recent: set[int] = set()
        self.keywords: frozenset[str] = frozenset()
        self._version = -1
        self._synced_modseq = 0   # HIGHESTMODSEQ when the client last had every change (errata 1810)
        self.gone: str | None = None
        # A long FETCH runs as a job that pauses after ``output_budget`` queued bytes (None: never),
        # so the adapter can write while it goes. ``_queued`` counts every byte ever queued.
        self.output_budget = output_budget
        self.job: tuple[str, Iterator[None]] | None = None
        self._queued = 0
        # ... and after ``job_steps`` steps or ``job_seconds`` of work (None: no such bound): FETCH,
        # SEARCH, SORT and THREAD yield the loop to the other sessions. ``job_pauses`` counts it.
        self.job_steps: int | None = None
        self.job_seconds: float | None = None
        self.job_pauses = 0
        self._turn_steps, self._turn_began = 0, 0.0   # this turn's job steps and start (feed, resume)
        self.errors = ErrorBudget()
        self.login_failures = 0
        self.condstore = False  # RFC 7162 §3.1: on after the first CONDSTORE-enabling command
        self.qresync = False    # RFC 7162 §3.2.3: on after ENABLE QRESYNC (implies CONDSTORE)

    # ----------------------------------------------------------------- public API

    def greeting(self) -> list[Effect]:
        """RFC 3501 §7.1.1: untagged OK with the capability list (saves clients a round trip)."""
        caps = " ".join(self.capabilities())
        self.untagged(f"OK [CAPABILITY {caps}] {self.server_name} IMAP4rev1 ready (Mailflow sandbox)")
        return self._flush()

    def capabilities(self) -> list[str]:
        """RFC 3501 §6.1.1 with the extensions of PROTOCOLS.md §5.2; STARTTLS only while it is possible."""
        if self.state is State.NOT_AUTHENTICATED:
            caps = list(CAPS_PREAUTH)
            if self.tls_available and not self.tls_active:
                caps.append("STARTTLS")
            return caps + list(CAPS_AUTH_MECHS)
        return list(CAPS_POSTAUTH)

    @property
    def idling(self) -> bool:
        return self.idle_tag is not None

    @property
    def closed(self) -> bool:
        return self.state is State.LOGOUT

    @property
    def pending(self) -> bool:
        """A FETCH stopped after ``output_budget`` bytes: write its output, then call ``resume()``.

        Commands that arrive meanwhile wait in the reader (pipelining keeps its order).
        """
        return self.job is not None and self.state is not State.LOGOUT

    def feed(self, data: bytes) -> list[Effect]:
        """Bytes from the client -> effects, processing every complete command (pipelining, X6)."""
        if self.state is State.LOGOUT:
            return []
        self._new_turn()
        self.reader.feed(data)
        self._process()
        return self._flush()

    def resume(self) -> list[Effect]:
        """Continue the paused command, then any complete commands buffered behind it."""
        self._new_turn()
        if self.job is not None:
            self.run_job()
        if self.errors.spent and self.state is not State.LOGOUT:
            self._end("BYE Too many invalid IMAP commands.")
        self._process()
        return self._flush()

    def _new_turn(self) -> None:
        self._turn_steps, self._turn_began = 0, time.monotonic()

    def login_result(self, mailbox: Mailbox | None, *, delay: float = 0.0) -> list[Effect]:
        """The adapter's answer to ``Authenticate``: the user's mailbox, or None for refused
        credentials (``delay``: how long the throttle held the attempt, for the fact)."""
        assert self.login_wait is not None
        tag, login, mechanism = self.login_wait
        self.login_wait = None
        if mailbox is None:
            verbs_any.login_refused(self, tag, login, mechanism, delay)
            self.login_failures += 1
            if self.login_failures >= MAX_LOGIN_FAILURES:
                self._end("BYE Too many invalid login attempts; closing the connection")
        else:
            verbs_any.logged_in(self, tag, mailbox, login, mechanism)
        self._process()
        return self._flush()

    def poll(self) -> list[Effect]:
        """Push pending mailbox updates now (called by the adapter after ``wakeup`` while IDLE)."""
        if self.idling and self.state is State.SELECTED:
            lines = self.updates(allow_expunge=True)
            if lines:
                self.publish(facts.ImapIdle(**self.hop(), updates=tuple(lines)))
        if self.state is State.SELECTED and self.gone:
            self.bye_gone()
        return self._flush()

    def timeout(self) -> list[Effect]:
        """The adapter saw no input for IDLE_TIMEOUT seconds (RFC 3501 §5.4)."""
        self.untagged("BYE Autologout; idle for too long")
        self.logout_state()
        self._out.append(Close())
        return self._flush()

    def tls_started(self) -> None:
        """The adapter finished the STARTTLS handshake."""
        self.tls_active = True

    def authenticated(self) -> None:
        """Logged in: the reader's limits widen from ``PREAUTH_*`` to the full ones (wire.py)."""
        self.reader.set_limits(line=MAX_LINE, literal=MAX_LITERAL, command=MAX_COMMAND)

    def connection_lost(self) -> None:
        self.logout_state()

    # ----------------------------------------------------------------- the input loop

    def _process(self) -> None:
        while self.state is not State.LOGOUT and self.job is None and self.login_wait is None:
            queued = len(self._out)   # only what this command adds is looked at (no quadratic rescans)
            item = self.reader.next()
            if self.reader.continuations:
                self.reader.continuations = 0
                self.send(b"+ Ready for literal data\r\n")  # RFC 3501 §7.5
            if item is None:
                break
            if isinstance(item, bytes):
                self._raw_line(item)
            elif isinstance(item, FrameError):
                self._frame_error(item)
            else:
                self._framed(item)
            if self.errors.spent and self.state is not State.LOGOUT:
                self._end("BYE Too many invalid IMAP commands.")
            if any(isinstance(e, (StartTls, Close)) for e in self._out[queued:]):
                break

    def _end(self, bye: str) -> None:
        """Say goodbye and close: a bound of this session is spent."""
        self.untagged(bye)
        self.logout_state()
        self._out.append(Close())

    def run_job(self) -> None:
        """Advance the paused command until it ends, or has queued ``output_budget`` more bytes, or
        has taken ``job_steps`` steps or ``job_seconds`` of the loop (then ``pending``: the adapter
        lets the other sessions have their turn and calls ``resume()``)."""
        assert self.job is not None
        tag, job = self.job
        start = self._queued
        try:
            for _ in job:
                self._turn_steps += 1       # counted per turn: pipelined jobs share one budget
                if ((self.output_budget is not None and self._queued - start >= self.output_budget)
                        or (self.job_steps is not None and self._turn_steps >= self.job_steps)
                        or (self.job_seconds is not None
                            and time.monotonic() - self._turn_began >= self.job_seconds)):
                    self.job_pauses += 1
                    return
        except (ParseError, StoreError, OSError) as exc:
            self.job = None
            self._command_failed(tag, exc)
            return
        self.job = None

    def _framed(self, framed: Framed) -> None:
        self._transcript = []
        # Classroom mode: a LOGIN password is shown in the transcript on purpose (X2).
        self._record("C", framed.first_line)
        if not framed.first_line.strip() and len(framed.pieces) == 1:
            return  # an empty line is ignored
        try:
            cmd = parse_command(framed)
        except ParseError as exc:
            self.bad(tag_of(framed.first_line), str(exc))
            return
        handler = COMMANDS[self.state].get(cmd.name)
        if handler is None:
            if cmd.name in KNOWN_VERBS:
                self.tagged(cmd.tag, "BAD", f"{cmd.name} is not allowed in the {self.state.value} state")
            else:
                self.tagged(cmd.tag, "BAD", f"Unknown command {cmd.name[:30]}")
            return
        try:
            handler(self, cmd)
        except (ParseError, StoreError, OSError) as exc:
            self._command_failed(cmd.tag, exc)

    def _command_failed(self, tag: str, exc: ParseError | StoreError | OSError) -> None:
        if isinstance(exc, OSError):   # the disk, not the client: NO, and the session goes on
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                self.tagged(tag, "NO", "[OVERQUOTA] Not enough disk space")   # RFC 5530
            elif exc.errno == errno.ENAMETOOLONG:
                self.tagged(tag, "NO", "[CANNOT] Name too long for the file system")
            else:
                self.tagged(tag, "NO", f"[SERVERBUG] Internal error: {exc.strerror or type(exc).__name__}")
        elif isinstance(exc, ParseError):
            self.bad(tag, str(exc))
        elif isinstance(exc, FolderNameError):
            self.tagged(tag, "NO", f"[CANNOT] {exc}")
        elif isinstance(exc, NoSuchFolder):
            self.tagged(tag, "NO", f"[NONEXISTENT] {exc}")
        elif isinstance(exc, FolderExists):
            self.tagged(tag, "NO", f"[ALREADYEXISTS] {exc}")
        else:
            self.tagged(tag, "NO", str(exc))

    def bad(self, tag: str, text: str) -> None:
        if self.state is State.SELECTED:
            self.send_updates(allow_expunge=False)
        if self.state is not State.LOGOUT:
            self.tagged(tag, "BAD", text)

    def _frame_error(self, err: FrameError) -> None:
        code = f"[{err.code}] " if err.code else ""
        if err.close:
            self.tagged(err.tag, "BAD", code + err.text)
            self.untagged("BYE Too much data; closing the connection")
            self.logout_state()
            self._out.append(Close())
        elif err.text.startswith("Literal"):
            self.tagged(err.tag, "NO", code + err.text)  # sync literal refused before "+" (RFC 7888 §4)
        elif err.tag != "*":
            self.tagged(err.tag, "BAD", code + err.text)
        else:
            self.untagged(f"BAD {code}{err.text}")
            self.errors.bad()

    def _raw_line(self, line: bytes) -> None:
        """A line that is not a command: a SASL response or IDLE's DONE."""
        self._record("C", line)
        if self.sasl is not None:
            verbs_any.sasl_step(self, line)
        elif self.idle_tag is not None:
            verbs_folders.idle_done(self, line)
        else:  # raw mode left on by mistake: treat the line as a command
            self.reader.raw_mode = False
            self._framed(Framed((line,)))

    # ----------------------------------------------------------------- output

    def send(self, data: bytes) -> None:
        self._out.append(Send(data))
        self._queued += len(data)
        self._record("S", data)

    def untagged(self, text: str) -> None:
        self.send(b"* " + text.encode("utf-8", "surrogateescape") + b"\r\n")

    def tagged(self, tag: str, status: str, text: str) -> None:
        if status == "BAD":
            self.errors.bad()
        else:
            self.errors.good()
        self.send(f"{tag} {status} {text}\r\n".encode("utf-8", "surrogateescape"))

    def finish(self, cmd: Command, text: str, *, code: str = "") -> None:
        """Send pending updates (RFC 3501 §7), then the tagged OK."""
        if self.state is State.SELECTED:
            self.send_updates(allow_expunge=cmd.name not in NO_EXPUNGE_DURING)
        if self.state is State.LOGOUT:
            return  # the selected mailbox vanished: BYE was sent instead
        self.tagged(cmd.tag, "OK", (f"[{code}] " if code else "") + text)

    def effect(self, effect: Effect) -> None:
        self._out.append(effect)

    def _flush(self) -> list[Effect]:
        # Merge consecutive Sends so the adapter writes one buffer per batch, but no bigger than
        # FLUSH_CHUNK: a FETCH of a whole large mailbox must not become one buffer of hundreds of MB
        # (joined, then copied again by the transport) before its first byte leaves.
        out: list[Effect] = []
        chunks: list[bytes] = []
        pending = 0
        for e in self._out:
            if isinstance(e, Send):
                if chunks and pending + len(e.data) > FLUSH_CHUNK:
                    out.append(Send(b"".join(chunks)))
                    chunks, pending = [], 0
                chunks.append(e.data)
                pending += len(e.data)
                continue
            if chunks:
                out.append(Send(b"".join(chunks)))
                chunks, pending = [], 0
            out.append(e)
        if chunks:
            out.append(Send(b"".join(chunks)))
        self._out = []
        return out

    def _record(self, who: str, data: bytes) -> None:
        if len(self._transcript) > TRANSCRIPT_KEEP:
            return
        lines = data.split(b"\r\n")
        if lines and lines[-1] == b"":
            lines.pop()
        cut = len(lines) - BODY_KEEP
        for line in lines[:BODY_KEEP]:
            self._transcript.append((who, line[:LINE_KEEP].decode("utf-8", "replace")))
        if cut > 0:
            self._transcript.append(("…", str(cut)))   # worded by the page, as events.trim_transcript

    # ----------------------------------------------------------------- facts

    def hop(self) -> dict[str, Any]:
        """The fields every fact of this session has: the two ends, the server, folder, transcript.

        Logged in: from the user's mailbox to the user's MUA; before that: the server and the
        program outside (the peer's address goes into a ``peer`` field of the fact)."""
        if self.address:
            domain = self.address.rpartition("@")[2]
            ends = dict(src=nodes.mailbox(self.address), dst=nodes.mua(self.address), server=nodes.imap(domain))
        else:
            ends = dict(src=nodes.OUTSIDE, dst=self.node, server=self.node)
        return dict(ends, user=self.address, folder=self.folder or None, transcript=tuple(self._transcript))

    def publish(self, fact: Fact) -> None:
        self._out.append(Publish(fact))

    # ----------------------------------------------------------------- the selected mailbox

    def flags_text(self, uid: int) -> str:
        flags = self.view_flags.get(uid, _NO_FLAGS)
        recent = uid in self.recent
        if flags.__class__ is not frozenset:
            return _flags_text(flags, recent)
        # A mailbox has few distinct flag sets (the store shares them): each is worded once.
        key = (flags, recent)
        text = _FLAG_TEXTS.get(key)
        if text is None:
            text = _flags_text(flags, recent)
            if len(_FLAG_TEXTS) < 4096:
                _FLAG_TEXTS[key] = text
        return text

    def flags_list(self) -> str:
        return " ".join((*FLAGS_LIST, *sorted(self.keywords)))

    def folder_keywords(self) -> frozenset[str]:
        kws: set[str] = set()
        sets: Iterable[Iterable[str]] = self.view_flags.values()
        try:        # each distinct flag set once (the store shares them: 10,000 messages have a few)
            sets = set(sets)
        except TypeError:       # a mailbox that hands out mutable sets: each one, as they are
            pass
        for flags in sets:
            kws.update(f for f in flags if not f.startswith("\\") and f != "$Forwarded")
        return frozenset(kws)

    def select(self, folder: str, readonly: bool) -> None:
        """Take ``folder`` as the selected mailbox and remember what the client is told of it."""
        assert self.mailbox is not None
        self.folder, self.readonly, self.state = folder, readonly, State.SELECTED
        self.view = self.mailbox.uids(folder)
        self.view_flags = self.mailbox.flags(folder)
        self._version = self.mailbox.version(folder)
        self._synced_modseq = self.mailbox.highestmodseq(folder)   # what the client may safely hold
        # RFC 3501 §6.3.2: EXAMINE changes nothing, so it reports the messages still recent without
        # claiming them (STATUS counts the same ones); SELECT claims them for this session (§2.3.2).
        self.recent = set(self.mailbox.recent(folder) if readonly else self.mailbox.claim_recent(folder))
        self.keywords = self.folder_keywords()

    def rescan(self) -> None:
        """Pick up files changed behind the store's back (external tools, a restarted MDA)."""
        if self.state is not State.SELECTED or self.gone or self.mailbox is None:
            return
        try:
            self.mailbox.rescan(self.folder)
        except StoreError:
            self.gone = "deleted"

    def deselect(self) -> None:
        self.state = State.AUTHENTICATED
        self.folder = ""
        self.view, self.view_flags, self.recent = [], {}, set()
        self.gone = None

    def resolve_seqs(self, seqset: SeqSet, *, strict: bool = True) -> list[int]:
        """Sequence numbers in the set, ascending. Numbers beyond EXISTS are BAD (RFC 3501 §9 seq-number).

        The ranges are normalised (sorted, overlaps merged) first, so a set costs its ranges'
        log plus its answer, never ranges x messages.
        """
        n = len(self.view)
        ranges = []
        for lo, hi in seqset:
            a = n if lo is None else lo
            b = n if hi is None else hi
            if strict and lo is not None and hi is not None and max(a, b) > n:
                raise ParseError("Invalid message sequence number")
            a, b = max(min(a, b), 1), min(max(a, b), n)
            if a <= b:
                ranges.append((a, b))
        out: list[int] = []
        for a, b in merge_ranges(ranges):
            out.extend(range(a, b + 1))
        return out

    def resolve_uids(self, seqset: SeqSet) -> list[int]:
        """UIDs in the set that exist, ascending. "n:*" includes the highest UID (RFC 3501 §6.4.8).

        Each normalised range is found in the (ascending) view by bisection.
        """
        if not self.view:
            return []
        top = self.view[-1]
        ranges = []
        for lo, hi in seqset:
            a = top if lo is None else lo
            b = top if hi is None else hi
            ranges.append((min(a, b), max(a, b)))
        return uids_in(self.view, ranges)

    def vanished_within(self, since: int, limits: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """UID runs expunged after mod-sequence ``since`` inside ``limits`` (VANISHED (EARLIER),
        RFC 7162 §3.2.5.1, §3.2.6), never expanded.  Below the store's history floor (old records
        dropped) the answer is ``limits`` minus the UIDs that exist: §3.2.5.1 lets the server name
        UIDs the client never saw go."""
        assert self.mailbox is not None
        top = self.mailbox.uidnext(self.folder) - 1
        limits = [(a, min(b, top)) for a, b in limits if a <= top]
        runs_of = getattr(self.mailbox, "vanished_ranges", None)
        if runs_of is not None:
            runs = runs_of(self.folder, since)
        else:
            runs = merge_ranges((u, u) for u in self.mailbox.vanished(self.folder, since))
        if runs is None:
            return ranges_without(limits, self.mailbox.uids(self.folder))
        return intersect_ranges(runs, limits)

    # ----------------------------------------------------------------- updates from other sessions

    def listen(self) -> None:
        assert self.mailbox is not None
        self._subscription = self.mailbox.listen(self._on_change)

    def _on_change(self, event: FolderEvent) -> None:
        if self.state is not State.SELECTED or event.folder != self.folder:
            return
        if event.kind in ("deleted", "renamed"):
            self.gone = event.kind
        if self.idle_tag is not None and self._wakeup is not None:
            self._wakeup()

    def bye_gone(self) -> None:
        self.untagged(f"BYE Selected mailbox was {self.gone}; please reconnect")
        self.logout_state()
        self._out.append(Close())

    def send_updates(self, *, allow_expunge: bool) -> None:
        self.updates(allow_expunge=allow_expunge)
        if self.gone:
            self.bye_gone()

    def updates(self, *, allow_expunge: bool) -> list[str]:
        """Tell the client what changed since its view (RFC 3501 §7.3.1, §7.4.1, §7.2.6). Returns the lines."""
        if self.gone:
            return []
        assert self.mailbox is not None
        try:
            version = self.mailbox.version(self.folder)
        except StoreError:
            self.gone = "deleted"
            return []
        if version == self._version:
            return []
        current = self.mailbox.flags(self.folder)
        expunged = [u for u in self.view if u not in current]
        sent = self._expunged(expunged) if expunged and allow_expunge else []
        # RFC 7162 §3.2 (errata 1810): while an expunge is held back (no EXPUNGE/VANISHED during FETCH,
        # STORE, SEARCH), a client that kept the highest MODSEQ it saw would never learn of the
        # expunge: unsolicited flag changes wait with it, and HIGHESTMODSEQ is restated below it.
        hold = bool(expunged) and not allow_expunge and self.condstore
        for seq, uid in enumerate(self.view, 1):
            if not hold and uid in current and current[uid] != self.view_flags.get(uid):
                self.view_flags[uid] = current[uid]
                sent.append(self.flags_fetch(seq, uid, with_uid=True))
        arrived = self._arrived(current)
        sent = self.new_keywords() + sent + arrived   # FLAGS first: it may announce what they use
        if hold:
            # RFC 7162 §3.2 (errata 1810 of RFC 5162): MODSEQ data this command sent may be newer than
            # the held-back expunge; this HIGHESTMODSEQ, from before it, is the one the client keeps.
            sent.append(f"OK [HIGHESTMODSEQ {self._synced_modseq}] Expunges are still to be reported")
        for line in sent:
            self.untagged(line)
        if not expunged or allow_expunge:
            self._version = version
            self._synced_modseq = self.mailbox.highestmodseq(self.folder)
        return sent

    def flags_fetch(self, seq: int, uid: int, *, with_uid: bool, flags: bool = True) -> str:
        """``n FETCH (UID u MODSEQ (m) FLAGS (...))`` for a flag change: UID when asked or with QRESYNC
        (RFC 7162 §3.2.4), MODSEQ once CONDSTORE is on (§3.1.4); ``flags=False`` leaves FLAGS out
        (a STORE .SILENT that still owes the new MODSEQ, §3.1.3)."""
        items = []
        if with_uid or self.qresync:
            items.append(f"UID {uid}")
        if self.condstore:
            assert self.mailbox is not None
            try:
                items.append(f"MODSEQ ({self.mailbox.message_info(self.folder, uid).modseq})")
            except StoreError:
                pass
        if flags:
            items.append(f"FLAGS ({self.flags_text(uid)})")
        return f"{seq} FETCH ({' '.join(items)})"

    def enable_condstore(self) -> None:
        """A CONDSTORE-enabling command (RFC 7162 §3.1): from now on MODSEQ goes with every flag
        change; in the selected state the client learns HIGHESTMODSEQ at once (§3.1.2.1)."""
        if self.condstore:
            return
        self.condstore = True
        if self.state is State.SELECTED and self.mailbox is not None:
            self.untagged(f"OK [HIGHESTMODSEQ {self.mailbox.highestmodseq(self.folder)}] Highest")

    def _expunged(self, expunged: list[int]) -> list[str]:
        gone = set(expunged)
        if self.qresync:  # RFC 7162 §3.2.10: VANISHED instead of EXPUNGE once QRESYNC is enabled
            sent = [f"VANISHED {format_uid_set(sorted(gone))}"]
        else:
            sent = [f"{seq} EXPUNGE" for seq in range(len(self.view), 0, -1)  # highest first: numbers stay
                    if self.view[seq - 1] in gone]                            # valid
        self.view = [u for u in self.view if u not in gone]
        for u in gone:
            self.view_flags.pop(u, None)
            self.recent.discard(u)
        return sent

    def new_keywords(self) -> list[str]:
        """``FLAGS (...)`` when the view holds a keyword the client has not been told of, else nothing.

        RFC 3501 §7.2.6: the FLAGS response announces the flags in use; it must reach the client
        before any FETCH that carries a new keyword (its own STORE's, another session's, a new
        message's), or the client meets a flag it was never told of (imaptest: "Keyword used
        without being in FLAGS").  Keywords are never withdrawn during a selection.
        """
        kws = self.folder_keywords()
        if kws <= self.keywords:
            return []
        self.keywords = self.keywords | kws
        return [f"FLAGS ({self.flags_list()})"]

    def _arrived(self, current: dict[int, frozenset[str]]) -> list[str]:
        """New messages into the view: EXISTS and RECENT (their keywords: ``new_keywords``)."""
        top = self.view[-1] if self.view else 0
        new = [u for u in current if u > top]
        if not new:
            return []
        assert self.mailbox is not None
        self.view.extend(new)
        for u in new:
            self.view_flags[u] = current[u]
        if self.readonly:       # EXAMINE: recent ones are reported, not claimed (see ``select``)
            self.recent |= set(new) & self.mailbox.recent(self.folder)
        else:
            self.recent |= set(self.mailbox.claim_recent(self.folder))
        return [f"{len(self.view)} EXISTS", f"{len(self.recent)} RECENT"]

    def logout_state(self) -> None:
        self.state = State.LOGOUT
        self.idle_tag = None
        self.job = None
        if self._subscription is not None:
            self._subscription.close()
            self._subscription = None


Handler = Callable[[ImapSession, Command], None]

_ANY: dict[str, Handler] = {"CAPABILITY": verbs_any.capability, "NOOP": verbs_any.noop,
                            "LOGOUT": verbs_any.logout, "ID": verbs_any.id_}
_AUTHED: dict[str, Handler] = {
    **_ANY,
    "SELECT": verbs_folders.select, "EXAMINE": verbs_folders.select, "CREATE": verbs_folders.create,
    "DELETE": verbs_folders.delete, "RENAME": verbs_folders.rename, "SUBSCRIBE": verbs_folders.subscribe,
    "UNSUBSCRIBE": verbs_folders.unsubscribe, "LIST": verbs_folders.list_, "LSUB": verbs_folders.lsub,
    "STATUS": verbs_folders.status, "APPEND": verbs_folders.append, "NAMESPACE": verbs_folders.namespace,
    "IDLE": verbs_folders.idle,
}

# Which verbs are legal in which state (RFC 3501 §3, §6). Anything else: "not allowed in this state".
COMMANDS: dict[State, dict[str, Handler]] = {
    State.NOT_AUTHENTICATED: {
        **_ANY, "STARTTLS": verbs_any.starttls, "AUTHENTICATE": verbs_any.authenticate,
        "LOGIN": verbs_any.login,
    },
    State.AUTHENTICATED: {**_AUTHED, "ENABLE": verbs_folders.enable},
    State.SELECTED: {
        **_AUTHED,
        "CHECK": verbs_selected.check, "CLOSE": verbs_selected.close, "UNSELECT": verbs_selected.unselect,
        "EXPUNGE": verbs_selected.expunge, "SEARCH": verbs_search.search, "FETCH": verbs_selected.fetch,
        "STORE": verbs_selected.store, "COPY": verbs_selected.copy, "MOVE": verbs_selected.move,
        "UID FETCH": verbs_selected.fetch, "UID STORE": verbs_selected.store, "UID COPY": verbs_selected.copy,
        "UID MOVE": verbs_selected.move, "UID SEARCH": verbs_search.search,
        "UID EXPUNGE": verbs_selected.expunge,
        "SORT": verbs_search.sort, "UID SORT": verbs_search.sort,
        "THREAD": verbs_search.thread, "UID THREAD": verbs_search.thread,
    },
    State.LOGOUT: {},
}
KNOWN_VERBS = {v for row in COMMANDS.values() for v in row}
