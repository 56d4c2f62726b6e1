"""The POP3 maildrop over the mail store, and the one-session-per-maildrop lock (RFC 1939 §4).

``StoreMaildrop`` is the ``outputs.Maildrop`` the server hands a session at login: the user's INBOX
numbered once (a snapshot), UIDL ``f"{uid:08X}{uidvalidity:08X}"`` (Dovecot's ``%08Xu%08Xv``, so POP3
and IMAP agree on a message), reads and deletions through ``MailStore``.

``locks_for(store)`` is the set of addresses whose maildrop a POP3 session holds, shared by every
server on the same store: the front door and a domain's own POP3 host serve the same mailboxes.
"""
from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any

from ...store import INBOX, MailStore, StoreError
from .outputs import DropMessage, MaildropError

__all__ = ["StoreMaildrop", "locks_for"]

_LOCKS: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()


def locks_for(store: Any) -> set[str]:
    """The addresses locked by POP3 sessions on ``store`` (one set per store)."""
    try:
        return _LOCKS.setdefault(store, set())
    except TypeError:   # a store that cannot be weakly referenced gets a lock set of its own
        return set()


class StoreMaildrop:
    """The maildrop of one address: its INBOX in the MailStore, snapshot taken at login."""

    no_bare_lf = True        # ``read`` is the store's CRLF form (``MailStore.read_message``: ``to_crlf``)

    def __init__(self, store: MailStore, address: str) -> None:
        self._store = store
        self._address = address
        snapshot = getattr(store, "inbox_meta", store.inbox_snapshot)(address)   # rescans first: UIDVALIDITY after
        uidvalidity = store.uidvalidity(address, INBOX)
        self._messages = [DropMessage(info.uid, info.size, f"{info.uid:08X}{uidvalidity:08X}")
                          for info in snapshot]

    def messages(self) -> Sequence[DropMessage]:
        return self._messages

    def read(self, message: DropMessage) -> bytes:
        try:
            return self._store.read_message(self._address, INBOX, message.key)  # type: ignore[arg-type]
        except (StoreError, OSError) as exc:
            raise MaildropError(str(exc)) from exc

    def delete(self, messages: Sequence[DropMessage]) -> None:
        try:
            self._store.delete_messages(self._address, INBOX, [m.key for m in messages])  # type: ignore[misc]
        except (StoreError, OSError) as exc:
            raise MaildropError(str(exc)) from exc
