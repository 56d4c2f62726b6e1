"""Sans-IO POP3 server session: bytes in, replies and effects out.

Implements
  * RFC 1939 (POP3): the AUTHORIZATION, TRANSACTION and UPDATE states; USER/PASS (§7), STAT, LIST,
    RETR, DELE, NOOP, RSET, QUIT (§5, §6), TOP and UIDL (§7); byte-stuffed multi-line responses
    ending with "." (§3); deletions only in the UPDATE state after QUIT (§6); message numbers fixed
    for the whole session (§4).
  * RFC 2449: CAPA (§5) with the capability list of PROTOCOLS.md §6.1, PIPELINING (§6.6, several
    commands per read, answered in order), response codes [IN-USE] (§8.1.2) and, from RFC 3206,
    [AUTH] and [SYS/TEMP]; commands up to 1024 octets (§4 asks for 255; we are lenient).
  * Bounds (issue 12, rule 4; values in SECURITY.md): 3 failed logins close the session (Dovecot); 20 bad
    commands in a row close it (Dovecot's pop3 ``CLIENT_MAX_BAD_COMMANDS``: every ``-ERR`` to a
    command counts, every ``+OK`` starts the count afresh); and what one ``feed`` may queue is capped
    (``output_budget``, 1 MiB): ``RETR 1`` pipelined ten thousand times in one read must not build
    ten thousand copies of a message in memory before the first is written (see below).
  * RFC 5034: AUTH PLAIN (RFC 4616) and AUTH LOGIN, with or without an initial response, the "+ "
    continuation and "*" to cancel (§4). A bare "AUTH" lists the mechanisms (the RFC 1734 habit).
  * RFC 2595 §4: STLS; everything the client sent after STLS and before the handshake is discarded.

Leaves out: APOP (the greeting therefore carries no "<...>" timestamp: curl and Thunderbird would
switch to APOP on seeing one), CRAM-MD5 and other SASL mechanisms, LOGIN-DELAY and EXPIRE, LAST.

Theory of operation
-------------------
``Pop3Session`` never touches a socket or a clock.  The adapter (``server.py``) calls
``start()`` for the greeting and ``feed(data)`` with whatever arrived; each returns a list of
outputs, to be carried out *in order*:

  ``Reply``          bytes for the client (``reply.encode()``);
  ``Authenticate``   check these credentials, then call ``login_result(maildrop or Refusal)``;
  ``StartTls``       do the TLS handshake, then call ``tls_established()``;
  ``Close``          close the connection (after writing the replies before it);
  the others         observations for the learners' event bus (``LoggedIn``, ``Retrieved`` ...),
                     each with the transcript of the lines exchanged since the previous one.

Pipelining and output: ``feed`` stops taking commands once this call has queued ``output_budget``
octets of replies; ``pending`` then says that complete commands wait in the buffer, and the adapter
calls ``resume()`` after it has written (and drained) what it got, until ``pending`` is false. The
client's later bytes wait behind them, so commands are still answered strictly in order.

(The outputs and the ``Maildrop`` interface are in ``outputs.py``, the AUTH exchanges in
``sasl.py``, the transcript's trimming in ``transcript.py``.)

While an ``Authenticate`` or ``StartTls`` is outstanding the session is *paused*: pipelined
commands stay buffered until ``login_result`` resumes them (bytes after STLS are dropped instead).
So login policy (throttling, the one-session-per-maildrop lock) lives in the adapter, and a
throttle delay holds back every later command of that client.

Which verbs are legal in which state is the table ``_COMMANDS`` at the bottom.  A verb that exists
but is not in the current state's row takes the single "not valid in this state" path.  Protocol
errors are ``-ERR`` replies and the session goes on; a ``Maildrop`` signals a lost message or a
failed deletion with ``MaildropError``; anything else is a bug and propagates to the adapter.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from enum import Enum

from ...store.headers import header_block
from ..limits import MAX_BAD_COMMANDS, ErrorBudget
from .outputs import (
    Abandoned,
    Authenticate,
    Close,
    Deleted,
    DropMessage,
    Effect,
    Listed,
    LoggedIn,
    LoginRefused,
    Maildrop,
    MaildropError,
    Output,
    Refusal,
    Reply,
    Retrieved,
    StartTls,
    Transcript,
    Updated,
    crlf_lines,
    top_of,
)
from . import sasl
from .transcript import Dialogue

__all__ = ["CAPABILITIES", "MAX_AUTH_FAILURES", "MAX_BAD_COMMANDS", "MAX_LINE", "OUTPUT_BUDGET",
           "SASL_MECHANISMS", "Pop3Session", "State"]

MAX_LINE = 1024            # octets per command line without CRLF (RFC 2449 §4 says 255; be lenient)
MAX_AUTH_FAILURES = 3      # failed logins before the session is closed (Dovecot does the same)
OUTPUT_BUDGET = 1024 * 1024   # octets of replies one feed()/resume() queues before it pauses
HEADER_KEEP = 64 * 1024    # octets of a retrieved message's header handed to the observer

CAPABILITIES = ("CAPA", "TOP", "UIDL", "USER", "SASL PLAIN LOGIN", "RESP-CODES", "AUTH-RESP-CODE",
                "PIPELINING")
IMPLEMENTATION = "IMPLEMENTATION mailflow"
SASL_MECHANISMS = sasl.MECHANISMS

_NUMBER = re.compile(r"[0-9]{1,10}")
_VERB = re.compile(r"[A-Za-z]{1,8}")


class State(Enum):
    AUTHORIZATION = "AUTHORIZATION"   # RFC 1939 §4
    TRANSACTION = "TRANSACTION"       # RFC 1939 §5
    UPDATE = "UPDATE"                 # RFC 1939 §6 (entered on QUIT, left at once)
    CLOSED = "CLOSED"                 # nothing more is processed


# --------------------------------------------------------------------------- the session


class Pop3Session:
    """One POP3 server session (RFC 1939), from the greeting to QUIT."""

    def __init__(self, *, tls_available: bool = False, tls_active: bool = False,
                 greeting: str = "Mailflow POP3 server ready", max_line: int = MAX_LINE,
                 max_auth_failures: int = MAX_AUTH_FAILURES, max_bad_commands: int = MAX_BAD_COMMANDS,
                 output_budget: int | None = OUTPUT_BUDGET) -> None:
        if "<" in greeting:
            raise ValueError("the greeting must not look like an APOP timestamp (RFC 1939 §7)")
        self.state = State.AUTHORIZATION
        self.tls_active = tls_active
        self._tls_available = tls_available
        self._greeting = greeting
        self._max_line = max_line
        self._max_auth_failures = max_auth_failures
        self._buffer = bytearray()
        self._discarding = False          # inside an over-long line, already answered
        self._pending_login: Authenticate | None = None   # paused until login_result()
        self._awaiting_tls = False                        # paused until tls_established()
        self._user: str | None = None     # after USER, before PASS
        self._sasl: sasl.SaslExchange | None = None
        self._auth_failures = 0
        self._budget = ErrorBudget(max_bad_commands)   # -ERR answers to commands in a row (limits.py)
        self._output_budget = output_budget
        self._queued = 0                  # octets of replies queued by this feed()/resume()
        self._held = False                # stopped by the output budget with lines still buffered
        self._drop: Maildrop | None = None
        self._messages: tuple[DropMessage, ...] = ()
        self._deleted: set[int] = set()   # indexes into _messages
        self._out: list[Output] = []
        self._dialogue = Dialogue()

    # ----------------------------------------------------------------- the adapter's interface

    def start(self) -> list[Output]:
        """The greeting (RFC 1939 §4)."""
        self._out = []
        self._push(f"+OK {self._greeting}")
        return self._out

    @property
    def pending(self) -> bool:
        """Complete commands wait behind the output budget: write what you got, then ``resume()``."""
        return self._held and self.state is not State.CLOSED

    def feed(self, data: bytes) -> list[Output]:
        """Take bytes from the client; answer the complete command lines in order (up to the budget)."""
        self._out = []
        self._queued = 0
        if self.state is State.CLOSED:
            return self._out
        if self._awaiting_tls:   # sent after STLS, before the handshake: never executed (X4)
            return self._out
        self._buffer += data     # while a login is pending this only buffers
        self._process()
        return self._out

    def resume(self) -> list[Output]:
        """Go on with the commands held back by the output budget (the adapter has written the rest)."""
        self._out = []
        self._queued = 0
        if self.state is not State.CLOSED and not self._awaiting_tls:
            self._process()
        return self._out

    def login_result(self, result: Maildrop | Refusal) -> list[Output]:
        """The answer to an ``Authenticate``: the user's maildrop, or why not. Resumes the session."""
        pending = self._pending_login
        if pending is None:
            raise RuntimeError("login_result() without a pending Authenticate")
        self._out = []
        self._queued = 0
        self._pending_login = None
        if isinstance(result, Refusal):
            self._refuse(pending, result)
        else:
            self._open(pending, result)
        self._process()
        return self._out

    def tls_established(self) -> list[Output]:
        """The STLS handshake is done: forget everything from before it (RFC 2595 §4)."""
        self._out = []
        self._buffer.clear()
        self._discarding = False
        self._awaiting_tls = False
        self._user = None
        self.tls_active = True
        self._dialogue.tls()
        return self._out

    def timed_out(self) -> list[Output]:
        """The client was idle too long: autologout without UPDATE (RFC 1939 §3)."""
        self._out = []
        if self.state is State.CLOSED:
            return self._out
        self._push("-ERR Autologout; idle for too long")   # RFC 1939 §3
        self._abandon("timeout")
        self._emit(Close())
        return self._out

    def connection_lost(self) -> list[Output]:
        """The client went away without QUIT: nothing is deleted (RFC 1939 §6)."""
        self._out = []
        if self.state is not State.CLOSED:
            self._abandon("dropped")
        return self._out

    def internal_error(self) -> list[Output]:
        """The adapter caught a bug in this session: say so and close, deleting nothing."""
        self._out = []
        if self.state is not State.CLOSED:
            self._push("-ERR [SYS/TEMP] Internal server error; nothing was deleted")  # RFC 3206 §4
            self._abandon("error")
            self._emit(Close())
        return self._out

    # ----------------------------------------------------------------- framing

    def _process(self) -> None:
        self._held = False
        while not self._paused() and self.state is not State.CLOSED:
            if self._output_budget is not None and self._queued >= self._output_budget:
                self._held = b"\n" in self._buffer   # more complete lines wait: resume() goes on
                return
            line = self._next_line()
            if line is None:
                return
            self._dispatch(line)

    def _paused(self) -> bool:
        return self._pending_login is not None or self._awaiting_tls

    def _next_line(self) -> bytes | None:
        """The next complete line (CRLF or a bare LF ends it), handling over-long lines."""
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                if len(self._buffer) > self._max_line + 1:   # +1: a CR may still be waiting for its LF
                    if not self._discarding:
                        self._too_long()
                    self._discarding = True
                    self._buffer.clear()
                return None
            line = bytes(self._buffer[:end])
            del self._buffer[:end + 1]
            if line.endswith(b"\r"):
                line = line[:-1]
            if self._discarding:       # the tail of a line we already answered
                self._discarding = False
                continue
            if len(line) > self._max_line:
                self._too_long()
                if self.state is State.CLOSED:   # that was the last bad command allowed
                    return None
                continue
            return line

    def _too_long(self) -> None:
        self._dialogue.too_long()
        self._push(f"-ERR Line too long (limit {self._max_line} octets)")   # RFC 2449 §4
        self._count_bad(True)

    # ----------------------------------------------------------------- dispatch

    def _dispatch(self, raw: bytes) -> None:
        text = raw.decode("utf-8", "replace")
        if self._sasl is not None:
            self._sasl_response(text)
            return
        verb, _, arg = text.partition(" ")
        name = verb.upper()
        self._log_command(name, verb, arg)
        handler = _COMMANDS[self.state].get(name)
        answered = len(self._out)
        if handler is not None:
            handler(self, arg)
        elif name in _KNOWN_VERBS:
            self._push(f"-ERR {name} is not valid in the {self.state.value} state")  # RFC 1939 §3
        else:
            self._push("-ERR Unknown command")   # RFC 1939 §3
        self._judge(self._out[answered:])

    def _judge(self, outputs: list[Output]) -> None:
        """Count the command's answer towards the bad-command budget (a login is judged apart)."""
        replies = [out for out in outputs if isinstance(out, Reply)]
        if replies and not self._paused():
            self._count_bad(replies[-1].status.startswith("-ERR"))

    def _count_bad(self, bad: bool) -> None:
        if not bad:
            self._budget.good()
            return
        if self._budget.bad() and self.state is not State.CLOSED:
            # Dovecot's pop3: a client that only errs is not speaking POP3 (or is probing): close.
            self._push("-ERR Too many bad commands; closing")
            self._abandon("bad_commands")
            self._emit(Close())

    def _log_command(self, name: str, verb: str, arg: str) -> None:
        if not _VERB.fullmatch(verb):
            self._log_line("C", f"{verb} {arg}".strip())
        elif name == "PASS" or (name == "AUTH" and len(arg.split()) > 1):
            shown = arg if not self.tls_active else "********"
            if name == "AUTH":
                mech, _, ir = arg.partition(" ")
                shown = f"{mech} {ir if not self.tls_active else '********'}"
            self._log_line("C", f"{verb} {shown}")
        else:
            self._log_line("C", f"{verb} {arg}".rstrip())

    # ----------------------------------------------------------------- output helpers

    def _push(self, status: str, body: bytes | None = None, lf: int = -1) -> None:
        """Every reply passes here: it goes out and into the transcript (``lf``: see ``Reply.lf``)."""
        self._out.append(Reply(status, body, lf))
        self._queued += len(status) + (len(body) if body is not None else 0)
        self._log_line("S", status)
        if body is not None:
            self._dialogue.body(body, lf)

    def _emit(self, effect: Effect) -> None:
        self._out.append(effect)

    def _log_line(self, side: str, line: str) -> None:
        self._dialogue.line(side, line)

    def _transcript(self) -> Transcript:
        return self._dialogue.take()

    # ----------------------------------------------------------------- AUTHORIZATION

    def _cmd_capa(self, arg: str) -> None:
        if arg.strip():
            self._push("-ERR CAPA takes no arguments")
            return
        caps = list(CAPABILITIES)
        if self.state is State.AUTHORIZATION and self._tls_available and not self.tls_active:
            caps.append("STLS")   # RFC 2595 §4: only before TLS, only where it can be done
        caps.append(IMPLEMENTATION)
        self._push("+OK Capability list follows", crlf_lines(caps))   # RFC 2449 §5

    def _cmd_user(self, arg: str) -> None:
        args = arg.split()
        if len(args) != 1:
            self._push("-ERR USER needs one argument: the login name")
            return
        self._user = args[0]
        # An unknown user gets the same answer: refusing here would tell who exists (RFC 1939 §7).
        self._push("+OK Send PASS")   # RFC 1939 §7

    def _cmd_pass(self, arg: str) -> None:
        if self._user is None:
            self._push("-ERR Send USER first")   # RFC 1939 §7
            return
        user, self._user = self._user, None
        # The rest of the line is the password, spaces included (RFC 1939 §7, PASS).
        self._begin_login(Authenticate(user, arg, "USER"))

    def _cmd_auth(self, arg: str) -> None:
        args = arg.split()
        if not args:
            self._push("+OK SASL mechanisms follow", crlf_lines(SASL_MECHANISMS))   # RFC 1734 habit
            return
        mechanism = args[0].upper()
        if len(args) > 2:
            self._push("-ERR Syntax: AUTH mechanism [initial-response]")   # RFC 5034 §4
            return
        if mechanism not in SASL_MECHANISMS:
            self._push("-ERR Unsupported authentication mechanism")   # RFC 5034 §4
            return
        self._user = None
        self._sasl = sasl.SaslExchange(mechanism)
        if len(args) == 2:
            self._sasl_step(args[1], initial=True)
        else:
            self._push(self._sasl.first_challenge().line)   # RFC 5034 §4

    def _sasl_response(self, text: str) -> None:
        """A line answering a "+ " continuation (RFC 5034 §4)."""
        text = text.strip()
        if text == "*":
            self._log_line("C", "*")
            self._sasl = None
            self._push("-ERR Authentication cancelled")   # RFC 5034 §4
            return
        self._log_line("C", text if not self.tls_active else "********")
        self._sasl_step(text)

    def _sasl_step(self, token: str, *, initial: bool = False) -> None:
        exchange = self._sasl
        assert exchange is not None
        step = exchange.respond(token, initial=initial)
        if isinstance(step, sasl.Challenge):
            self._push(step.line)
            return
        self._sasl = None
        if isinstance(step, sasl.Failed):
            self._push(step.line)
        else:
            self._begin_login(Authenticate(step.login, step.password, exchange.mechanism))

    def _cmd_stls(self, arg: str) -> None:
        if arg.strip():
            self._push("-ERR STLS takes no arguments")
        elif self.tls_active:
            self._push("-ERR Command not permitted when TLS active")   # RFC 2595 §4
        elif not self._tls_available:
            self._push("-ERR STLS is not available on this server")   # RFC 2595 §4
        else:
            self._push("+OK Begin TLS negotiation")   # RFC 2595 §4
            self._buffer.clear()      # X4: commands pipelined behind STLS are never executed
            self._discarding = False
            self._awaiting_tls = True
            self._emit(StartTls())

    def _begin_login(self, request: Authenticate) -> None:
        self._pending_login = request
        self._emit(request)

    def _refuse(self, request: Authenticate, refusal: Refusal) -> None:
        if refusal is Refusal.IN_USE:
            self._push("-ERR [IN-USE] Mailbox is locked by another POP3 session")   # RFC 2449 §8.1.2
        elif refusal is Refusal.SYS_TEMP:
            self._push("-ERR [SYS/TEMP] Cannot open the mailbox now; try again later")   # RFC 3206 §4
        else:
            self._auth_failures += 1
            if self._auth_failures < self._max_auth_failures:
                self._push("-ERR [AUTH] Invalid login or password")   # RFC 3206 §4, RFC 1939 §7
            else:   # one reply per command, so the farewell goes into the same line
                self._push("-ERR [AUTH] Invalid login or password; too many failures, closing")
        self._emit(LoginRefused(request.login, request.mechanism, refusal, self._transcript()))
        if self._auth_failures >= self._max_auth_failures:
            self.state = State.CLOSED
            self._emit(Close())

    def _open(self, request: Authenticate, drop: Maildrop) -> None:
        self._drop = drop
        self._messages = tuple(drop.messages())
        self._deleted = set()
        self.state = State.TRANSACTION
        count, octets = self._totals()
        self._push(f"+OK Logged in: maildrop has {_messages(count)} ({octets} octets)")   # RFC 1939 §7
        self._emit(LoggedIn(request.login, request.mechanism, count, octets, self._transcript()))

    # ----------------------------------------------------------------- TRANSACTION

    def _cmd_stat(self, arg: str) -> None:
        if arg.strip():
            self._push("-ERR STAT takes no arguments")
            return
        count, octets = self._totals()
        self._push(f"+OK {count} {octets}")   # RFC 1939 §5: deleted messages are not counted

    def _cmd_list(self, arg: str) -> None:
        # RFC 1939 §5: "+OK n size" for one message; "+OK ..." then "n size" lines for all.
        self._listing("LIST", arg, lambda m: str(m.size),
                      lambda count, octets: f"+OK {_messages(count)} ({octets} octets)")

    def _cmd_uidl(self, arg: str) -> None:
        # RFC 1939 §7: "+OK n uid" for one message; "+OK ..." then "n uid" lines for all.
        self._listing("UIDL", arg, lambda m: m.uidl, lambda count, octets: "+OK Unique-ID listing follows")

    def _listing(self, verb: str, arg: str, column: Callable[[DropMessage], str],
                 head: Callable[[int, int], str]) -> None:
        """LIST and UIDL: one message's line, or every live message's (a multi-line reply)."""
        args = arg.split()
        if len(args) > 1:
            self._push(f"-ERR Syntax: {verb} [msg]")
        elif args:
            found = self._message(args[0])
            if found is not None:
                number, msg = found
                self._push(f"+OK {number} {column(msg)}")
        else:
            count, octets = self._totals()
            body = crlf_lines(f"{n} {column(m)}" for n, m in self._live())
            self._push(head(count, octets), body)
            self._emit(Listed(verb, count, octets, self._transcript()))

    def _cmd_retr(self, arg: str) -> None:
        args = arg.split()
        if len(args) != 1:
            self._push("-ERR Syntax: RETR msg")
            return
        found = self._readable(args[0])
        if found is not None:
            number, msg, data = found
            # RFC 1939 §5, byte-stuffed (§3); the LFs counted once here for the encoder and the transcript
            lf = data.count(b"\n") if getattr(self._drop, "no_bare_lf", False) else -1
            self._push(f"+OK {len(data)} octets", data, lf)
            self._retrieved("RETR", number, msg, data, None)

    def _cmd_top(self, arg: str) -> None:
        args = arg.split()
        if len(args) != 2:
            self._push("-ERR Syntax: TOP msg n")   # RFC 1939 §7
            return
        if not _NUMBER.fullmatch(args[1]):
            self._push("-ERR The number of lines must be a non-negative number")   # RFC 1939 §7
            return
        found = self._readable(args[0])
        if found is not None:
            number, msg, data = found
            lines = int(args[1])
            self._push("+OK Top of message follows", top_of(data, lines))   # RFC 1939 §7
            self._retrieved("TOP", number, msg, data, lines)

    def _retrieved(self, verb: str, number: int, msg: DropMessage, data: bytes, lines: int | None) -> None:
        self._emit(Retrieved(verb, number, msg.key, len(data), lines, header_block(data)[:HEADER_KEEP],
                             self._transcript()))

    def _cmd_dele(self, arg: str) -> None:
        args = arg.split()
        if len(args) != 1:
            self._push("-ERR Syntax: DELE msg")
            return
        found = self._message(args[0])
        if found is None:
            return
        number, msg = found
        self._deleted.add(number - 1)   # only marked: the UPDATE state deletes (RFC 1939 §6)
        self._push(f"+OK Message {number} deleted")   # RFC 1939 §5
        self._emit(Deleted(number, msg.key, self._transcript()))

    def _cmd_noop(self, arg: str) -> None:
        if arg.strip():
            self._push("-ERR NOOP takes no arguments")
            return
        self._push("+OK")   # RFC 1939 §5

    def _cmd_rset(self, arg: str) -> None:
        if arg.strip():
            self._push("-ERR RSET takes no arguments")
            return
        self._deleted.clear()
        count, octets = self._totals()
        self._push(f"+OK Maildrop has {_messages(count)} ({octets} octets)")   # RFC 1939 §5

    def _cmd_quit(self, arg: str) -> None:
        if self.state is State.AUTHORIZATION:
            self._push("+OK Mailflow POP3 server signing off")   # RFC 1939 §4: no UPDATE state
            self.state = State.CLOSED
            self._emit(Close())
            return
        self.state = State.UPDATE   # RFC 1939 §6: only now are marked messages removed
        doomed = [m for i, m in enumerate(self._messages) if i in self._deleted]
        ok = True
        if doomed:
            assert self._drop is not None
            try:
                self._drop.delete(doomed)
            except MaildropError:
                ok = False
        left = len(self._messages) - len(doomed)
        if ok:
            self._push(f"+OK Mailflow POP3 server signing off ({_messages(len(doomed))} deleted, "
                       f"{left} left)")   # RFC 1939 §6
        else:
            self._push("-ERR [SYS/TEMP] Some deleted messages not removed")   # RFC 1939 §6
        self._emit(Updated(len(doomed) if ok else 0, left if ok else len(self._messages), ok,
                           self._transcript()))
        self.state = State.CLOSED
        self._emit(Close())

    # ----------------------------------------------------------------- helpers

    def _abandon(self, reason: str) -> None:
        if self.state is State.TRANSACTION:
            self._emit(Abandoned(reason, len(self._deleted), self._transcript()))
        self.state = State.CLOSED

    def _live(self) -> list[tuple[int, DropMessage]]:
        return [(i + 1, m) for i, m in enumerate(self._messages) if i not in self._deleted]

    def _totals(self) -> tuple[int, int]:
        live = self._live()
        return len(live), sum(m.size for _, m in live)

    def _message(self, arg: str) -> tuple[int, DropMessage] | None:
        """Resolve a message-number argument, or answer -ERR and return None (RFC 1939 §3)."""
        if not _NUMBER.fullmatch(arg):
            self._push("-ERR Invalid message number")
            return None
        number = int(arg)
        if not 1 <= number <= len(self._messages):
            self._push(f"-ERR No such message, only {_messages(len(self._messages))} in maildrop")  # §5
            return None
        if number - 1 in self._deleted:
            self._push(f"-ERR Message {number} already deleted")   # RFC 1939 §5
            return None
        return number, self._messages[number - 1]

    def _readable(self, arg: str) -> tuple[int, DropMessage, bytes] | None:
        """The message an argument names and its content, or None after answering -ERR."""
        found = self._message(arg)
        if found is None:
            return None
        data = self._read(*found)
        return None if data is None else (*found, data)

    def _read(self, number: int, msg: DropMessage) -> bytes | None:
        assert self._drop is not None
        try:
            return self._drop.read(msg)
        except MaildropError:
            self._push(f"-ERR [SYS/TEMP] Message {number} was removed by another session")
            return None


# --------------------------------------------------------------------------- pure helpers


def _messages(count: int) -> str:
    return f"{count} message" if count == 1 else f"{count} messages"


Handler = Callable[[Pop3Session, str], None]

# Which verbs are legal in which state (RFC 1939 §4-§7, RFC 2449 §5, RFC 2595 §4, RFC 5034 §4).
_COMMANDS: dict[State, dict[str, Handler]] = {
    State.AUTHORIZATION: {
        "CAPA": Pop3Session._cmd_capa,
        "USER": Pop3Session._cmd_user,
        "PASS": Pop3Session._cmd_pass,
        "AUTH": Pop3Session._cmd_auth,
        "STLS": Pop3Session._cmd_stls,
        "QUIT": Pop3Session._cmd_quit,
    },
    State.TRANSACTION: {
        "CAPA": Pop3Session._cmd_capa,
        "STAT": Pop3Session._cmd_stat,
        "LIST": Pop3Session._cmd_list,
        "UIDL": Pop3Session._cmd_uidl,
        "RETR": Pop3Session._cmd_retr,
        "TOP": Pop3Session._cmd_top,
        "DELE": Pop3Session._cmd_dele,
        "NOOP": Pop3Session._cmd_noop,
        "RSET": Pop3Session._cmd_rset,
        "QUIT": Pop3Session._cmd_quit,
    },
    State.UPDATE: {},
    State.CLOSED: {},
}
_KNOWN_VERBS = frozenset(verb for table in _COMMANDS.values() for verb in table)
