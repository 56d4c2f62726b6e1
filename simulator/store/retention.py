"""Retention: how many messages a mailbox keeps, and for how long (``--keep-messages``, ``--keep-for``).

Theory of operation
-------------------
A sandbox that a test suite sends thousands of messages through must not grow without bound.  A
:class:`Retention` policy keeps, per mailbox, the newest ``keep`` messages, and only those delivered
less than ``max_age`` seconds ago; either or both may be set, and a policy with neither keeps
everything (the default).  The policy is applied by the store right after a delivery into that
mailbox's INBOX (``MailStore.notify``, which the MDA calls), so a mailbox nothing arrives in keeps what
it has until its next delivery.  "Oldest" is arrival order (UIDs ascend in arrival order, RFC 3501
§2.3.1.1) and age is the INTERNALDATE, the delivery time; the message just delivered is never
removed (``keep`` is at least 1 and ``max_age`` is positive).

Removal is the store's one removal (``MailStore._remove``): the files go, the uid list is saved and
every listening IMAP session reports EXPUNGE, as after a POP3 deletion.  Other folders (Sent, Trash,
folders a client made) are never touched.

This module is pure: it decides which UIDs go, from (uid, internaldate) pairs and a clock reading.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Retention"]


@dataclass(frozen=True, slots=True)
class Retention:
    """Keep the newest ``keep`` messages (None: any number) younger than ``max_age`` seconds (None: any age)."""

    keep: int | None = None
    max_age: float | None = None

    def __post_init__(self) -> None:
        if self.keep is not None and (isinstance(self.keep, bool) or not isinstance(self.keep, int)
                                      or self.keep < 1):
            raise ValueError("keep must be a whole number of messages, at least 1")
        if self.max_age is not None and (isinstance(self.max_age, bool) or not self.max_age > 0):
            raise ValueError("max_age must be a positive number of seconds")

    @property
    def active(self) -> bool:
        return self.keep is not None or self.max_age is not None

    def doomed(self, messages: Iterable[tuple[int, float]], now: float) -> set[int]:
        """The UIDs to remove from ``(uid, internaldate)`` pairs: the oldest beyond ``keep``, then
        every one older than ``max_age`` -- but never the newest message (the one just delivered)."""
        ordered = sorted(messages)
        if not ordered:
            return set()
        newest = ordered[-1][0]
        gone: set[int] = set()
        if self.keep is not None and len(ordered) > self.keep:
            gone.update(uid for uid, _ in ordered[:len(ordered) - self.keep])
        if self.max_age is not None:
            gone.update(uid for uid, when in ordered if now - when > self.max_age)
        gone.discard(newest)
        return gone
