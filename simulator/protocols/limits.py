"""Bounds every text-protocol session shares (issue 12, rule 4): sessions per client address, bad commands.

Theory of operation
    Pure bookkeeping, no asyncio and no sockets, so the sans-IO sessions and the servers can both use
    it and tests drive it without a loop.

    * :class:`SessionCap`: live sessions per client address, one object per protocol shared by every
      listener of that protocol (the front door, each domain's host, the TLS ports, the classroom
      address), as one login throttle is shared.  ``admit(address)`` counts a new connection in or
      says no; ``release(address)`` when it ends.  Addresses in ``exempt`` are never refused: the
      webmail's own source address (127.0.0.80) carries every browser's session, and it limits its
      browsers itself.  The answer to a refused connection is the protocol's (the server hands its
      line to the listener: ``* BYE`` for IMAP, ``-ERR`` for POP3, ``421`` for SMTP); the listener
      sends it and closes, before any handler runs.  Postfix's anvil does the same for SMTP
      (``smtpd_client_connection_count_limit``, 421 4.7.0); Dovecot bounds connections per user and
      address (``mail_max_userip_connections``).  We count per address, before login, so a client
      that never logs in cannot hold more than the cap.
    * :class:`ErrorBudget`: Dovecot's rule for IMAP and POP3 (``CLIENT_MAX_BAD_COMMANDS``, 20): that
      many bad commands *in a row* end the session with a last line (``* BYE Too many invalid IMAP
      commands.``, ``-ERR Too many bad commands.``); a good command starts the count again.

Values (SECURITY.md): MAX_SESSIONS_PER_ADDRESS 20 per protocol, MAX_BAD_COMMANDS 20 in a row.
"""
from __future__ import annotations

import threading
from collections.abc import Iterable

__all__ = ["MAX_BAD_COMMANDS", "MAX_SESSIONS_PER_ADDRESS", "ErrorBudget", "SessionCap"]

MAX_SESSIONS_PER_ADDRESS = 20       # live sessions of one protocol from one client address
MAX_BAD_COMMANDS = 20               # Dovecot's CLIENT_MAX_BAD_COMMANDS (imap-client.h, pop3-client.h)


class SessionCap:
    """Live sessions per client address, at most ``per_address`` (addresses in ``exempt``: no limit)."""

    def __init__(self, per_address: int = MAX_SESSIONS_PER_ADDRESS, exempt: Iterable[str] = ()) -> None:
        if per_address < 1:
            raise ValueError("per_address must be at least 1")
        self.per_address = per_address
        self.exempt = frozenset(exempt)
        self.refused = 0                         # connections turned away so far (for tests, benches)
        self._live: dict[str, int] = {}
        self._lock = threading.Lock()            # listeners of one protocol may run on several loops

    def admit(self, address: str) -> bool:
        """Count one more session from ``address``; False (and nothing counted) beyond the cap."""
        with self._lock:
            live = self._live.get(address, 0)
            if live >= self.per_address and address not in self.exempt:
                self.refused += 1
                return False
            self._live[address] = live + 1
            return True

    def release(self, address: str) -> None:
        """A session admitted from ``address`` has ended."""
        with self._lock:
            left = self._live.get(address, 0) - 1
            if left > 0:
                self._live[address] = left
            else:
                self._live.pop(address, None)

    def live(self, address: str | None = None) -> int:
        """Live sessions from ``address`` (None: from every address)."""
        with self._lock:
            return sum(self._live.values()) if address is None else self._live.get(address, 0)


class ErrorBudget:
    """Bad commands in a row: ``bad()`` says True when the session must end; ``good()`` resets."""

    def __init__(self, limit: int = MAX_BAD_COMMANDS) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.in_a_row = 0

    def bad(self) -> bool:
        """One more bad command; True when this one spends the budget (send the last line, close)."""
        self.in_a_row += 1
        return self.in_a_row >= self.limit

    def good(self) -> None:
        self.in_a_row = 0

    @property
    def spent(self) -> bool:
        return self.in_a_row >= self.limit
