"""The webmail's mail client: one logged-in user, one connection per request, IMAP or POP3.

Theory of operation
-------------------
A :class:`Mua` is made for one request from the session's :class:`Login`; each method opens the
connection it needs (``clients``), does its work, and logs out, so every click is a hop on the
diagram, as with Roundcube.  Message ids are IMAP UIDs in IMAP mode and the local store's names in
POP3 mode.

IMAP mode (RFC 3501): the server keeps the folders; listing EXAMINEs, reading fetches ``BODY[]``
(sets ``\\Seen``), flags are ``UID STORE``, a move ``UID MOVE``, a deletion moves to the ``\\Trash``
folder and, in Trash, expunges that one UID (``imapops``).  Sent mail is APPENDed to the ``\\Sent``
folder with ``\\Seen``.

POP3 mode (RFC 1939) is download-and-delete: listing INBOX first downloads what is new (UIDL, RETR
of each UIDL not yet downloaded, then DELE of every message unless "keep a copy on the server" is
set, then QUIT, which commits the deletions, §6) into the webmail's own store on the web server's
disk (``local``); every folder view, move, deletion and flag then works on that store, and sent mail
goes to its Sent.  The POP3 server locks a maildrop for one session at a time (§8), so this module
serializes everything about one address (POP3 sessions and the local store) with one lock per
address, held for the whole request.

``send`` submits over SMTP with AUTH PLAIN (RFC 6409, RFC 4954): a message larger than the MSA's
SIZE is refused before connecting (413); MAIL FROM carries SIZE (RFC 1870) and BODY=8BITMIME
(RFC 6152) when the server offers them; any refused recipient ends the transaction with RSET and a
422 naming it, as Thunderbird does (nothing is sent to the others); the answer is the MSA's 250
line.  A hop held by the teacher's step gate keeps the DATA reply waiting: ``timeout`` bounds that.
Saving the copy to Sent comes after; if it fails the message is still sent, and the failure is
logged.

What it leaves out: IDLE and caching (one connection per request is the lesson), drafts saved
to the server, folder management, search.
"""
from __future__ import annotations

import dataclasses
import logging
import smtplib
import threading
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import parseaddr
from pathlib import Path
from typing import Any

from . import imapops
from .clients import (LOGIN_FAILED, RETRIEVAL_TIMEOUT, RETRIEVALS, TLS_MODES, Endpoint, Login, imap_session,
                      pop3_session, refused, smtp_session, text_of)
from .compose import check_address
from .errors import WebmailError
from .local import LocalStore

__all__ = ["SEND_TIMEOUT", "Mua"]

log = logging.getLogger(__name__)

SEND_TIMEOUT = 600.0            # seconds a submission may wait (the step gate may hold the hop)
_LOCKS: dict[str, threading.RLock] = {}
_LOCKS_GUARD = threading.Lock()


def _lock_of(key: str) -> threading.RLock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(key, threading.RLock())


class Mua:
    def __init__(self, endpoint: Endpoint, login: Login, local_root: Path, *,
                 timeout: float = RETRIEVAL_TIMEOUT) -> None:
        if login.retrieval not in RETRIEVALS:
            raise WebmailError(400, "retrieval: imap or pop3", code="bad_field", field="retrieval")
        if login.tls not in TLS_MODES:
            raise WebmailError(400, "tls: starttls or plain", code="bad_field", field="tls")
        self.endpoint = endpoint
        self.local_root = Path(local_root)
        self.timeout = timeout
        address = parseaddr(login.address or "")[1].strip() if isinstance(login.address, str) else ""
        self._valid = _valid(address) and isinstance(login.password, str)
        self.address = address
        self.login = dataclasses.replace(login, address=address)
        self._lock = _lock_of(f"{self.local_root.resolve()}|{address.lower()}")

    @property
    def pop3(self) -> bool:
        return self.login.retrieval == "pop3"

    # -- sessions ------------------------------------------------------------------------------------
    def _checked(self) -> None:
        if not self._valid:               # nothing that is not an address is sent anywhere
            raise WebmailError(401, LOGIN_FAILED, code="login_failed")

    def _imap(self):
        self._checked()
        return imap_session(self.endpoint, self.login, self.timeout)

    def _pop3(self):
        self._checked()
        return pop3_session(self.endpoint, self.login, self.timeout)

    def _store(self) -> LocalStore:
        self._checked()
        return LocalStore(self.local_root, self.address)

    # -- the API -------------------------------------------------------------------------------------
    def check_login(self) -> str:
        """Log in over the chosen retrieval protocol and out again; the address (401 on failure)."""
        if self.pop3:
            with self._lock, self._pop3():
                pass
        else:
            with self._imap():
                pass
        return self.address

    def folders(self) -> list[dict[str, Any]]:
        if self.pop3:
            with self._lock:
                return self._store().folders()
        with self._imap() as client:
            return imapops.folders(client)

    def messages(self, folder: str) -> list[dict[str, Any]]:
        """List entries, newest first; in POP3 mode INBOX downloads what is new first."""
        imapops.check_folder(folder)
        if self.pop3:
            with self._lock:
                store = self._store()
                store.folder(folder)                      # 404 before any connection
                if folder.upper() == "INBOX":
                    self._download(store)
                return store.messages(folder)
        with self._imap() as client:
            return imapops.examine_summaries(client, folder)

    def fetch(self, folder: str, id: str) -> bytes:
        """The raw message; it is marked \\Seen."""
        imapops.check_folder(folder)
        if self.pop3:
            with self._lock:
                store = self._store()
                raw = store.read(folder, id)
                store.set_flags(folder, id, {"\\Seen"}, set())
                return raw
        imapops.check_uid(id)
        with self._imap() as client:
            return imapops.fetch_raw(client, folder, id)

    def set_flags(self, folder: str, id: str, *, seen: bool | None = None, flagged: bool | None = None,
                  answered: bool | None = None) -> None:
        changes = {k: v for k, v in (("seen", seen), ("flagged", flagged), ("answered", answered)) if v is not None}
        for key, value in changes.items():
            if not isinstance(value, bool):
                raise WebmailError(400, f"{key}: true or false", code="bad_field", field=key)
        imapops.check_folder(folder)
        if self.pop3:
            with self._lock:
                names = {k: imapops.FLAG_NAMES[k] for k in changes}
                self._store().set_flags(folder, id, {names[k] for k, v in changes.items() if v},
                                        {names[k] for k, v in changes.items() if not v})
            return
        imapops.check_uid(id)
        with self._imap() as client:
            imapops.store_flags(client, folder, id, changes)

    def move(self, folder: str, id: str, target: str) -> None:
        imapops.check_folder(folder)
        imapops.check_folder(target)
        if self.pop3:
            with self._lock:
                store = self._store()
                if _same(folder, target):
                    store.read(folder, id)                # 404 for a message that is not there
                else:
                    store.move(folder, id, target)
            return
        imapops.check_uid(id)
        with self._imap() as client:
            if _same(folder, target):
                imapops.select(client, folder, readonly=True)
                return
            imapops.move_uid(client, folder, id, target)

    def delete(self, folder: str, id: str) -> None:
        """To Trash; in Trash, expunged for good."""
        imapops.check_folder(folder)
        if self.pop3:
            with self._lock:
                store = self._store()
                if folder == "Trash":
                    store.remove(folder, id)
                else:
                    store.move(folder, id, "Trash")
            return
        imapops.check_uid(id)
        with self._imap() as client:
            trash = imapops.special_folders(client).get("trash", "Trash")
            if _same(folder, trash):
                imapops.expunge_uid(client, folder, id)
            else:
                imapops.move_uid(client, folder, id, trash)

    def send(self, message: EmailMessage, recipients: list[str], timeout: float = SEND_TIMEOUT) -> str:
        """Submit; then save the copy to Sent.  The MSA's 250 line."""
        self._checked()
        data = message.as_bytes(policy=SMTP_POLICY)           # CRLF lines (RFC 5322 §2.3)
        limit = self.endpoint.max_message
        if len(data) > limit:
            raise WebmailError(413, f"the message is {len(data)} bytes; the server takes at most {limit}",
                               code="too_large")
        if not recipients:
            raise WebmailError(400, "to: no recipient", code="bad_field", field="to")
        for rcpt in recipients:
            check_address(rcpt, "to")
        with smtp_session(self.endpoint, self.login, timeout) as client:
            reply = _transaction(client, self.address, recipients, data)
        self._save_sent(data)
        return reply

    def _save_sent(self, data: bytes) -> None:
        try:
            if self.pop3:
                with self._lock:
                    self._store().add("Sent", data, {"\\Seen"})
                return
            with self._imap() as client:
                sent = imapops.special_folders(client).get("sent", "Sent")
                imapops.append(client, sent, data)
        except (WebmailError, OSError) as err:
            log.warning("webmail: %s sent a message but could not save it to Sent: %s", self.address, err)

    # -- POP3 ----------------------------------------------------------------------------------------
    def _download(self, store: LocalStore) -> int:
        """UIDL, RETR what is new, DELE (unless kept), QUIT; how many messages were downloaded."""
        keep = bool(self.login.keep_on_server)
        known = store.known_uidls()
        count = 0
        with self._pop3() as client:
            _, lines, _ = client.uidl()
            listed = [_uidl_entry(line) for line in lines]
            listed = [entry for entry in listed if entry is not None]
            for number, uidl in listed:
                if uidl not in known:
                    _, body, _ = client.retr(number)
                    store.add("INBOX", b"\r\n".join(body) + b"\r\n")
                    known.add(uidl)
                    store.remember_uidls(known)           # before DELE: a lost QUIT downloads nothing twice
                    count += 1
                if not keep:
                    client.dele(number)
        # QUIT succeeded: the deletions are done; remember only what is still on the server
        store.remember_uidls(known & {uidl for _, uidl in listed} if keep else set())
        return count


def _uidl_entry(line: bytes) -> tuple[int, str] | None:
    """``b"1 whqtswO00WBw418f9t5JxYwZ"`` -> (1, "whqtswO00WBw418f9t5JxYwZ") (RFC 1939 §7)."""
    parts = text_of(line).split()
    if len(parts) != 2 or not parts[0].isdigit():
        return None
    return int(parts[0]), parts[1]


def _transaction(client: smtplib.SMTP, sender: str, recipients: list[str], data: bytes) -> str:
    """MAIL, RCPT for each (all or nothing), DATA; the 250 line."""
    options = []
    if client.has_extn("size"):
        options.append(f"SIZE={len(data)}")                # RFC 1870
    if not data.isascii() and client.has_extn("8bitmime"):
        options.append("BODY=8BITMIME")                    # RFC 6152
    code, text = client.mail(sender, options)
    if code != 250:
        _rset(client)
        raise refused(f"{code} {text_of(text)}", "the sender")
    for rcpt in recipients:
        code, text = client.rcpt(rcpt)
        if code not in (250, 251):
            _rset(client)
            raise refused(f"{code} {text_of(text)}", f"the recipient {rcpt}")
    code, text = client.data(data)                         # a refusal raises SMTPDataError: a 422
    return f"{code} {text_of(text)}"


def _rset(client: smtplib.SMTP) -> None:
    try:
        client.rset()
    except (smtplib.SMTPException, OSError):
        pass


def _same(a: str, b: str) -> bool:
    return a == b or (a.upper() == "INBOX" and b.upper() == "INBOX")


def _valid(address: str) -> bool:
    try:
        check_address(address, "address")
        return True
    except WebmailError:
        return False
