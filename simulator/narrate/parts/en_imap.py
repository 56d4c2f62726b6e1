"""English texts of the imap facts (merged into ../en.py when the narrator refactor is done)."""
from __future__ import annotations

from ... import facts as f
from .. import plural
from ..markup import code, listing
from ..why import reason

_IMAP_KEEP = ("The messages stay on the server (IMAP keeps mail on the server; POP3 would usually "
              "download and delete them).")


def _imap_flag(name: str) -> str:
    """A system flag as it is written on the wire (``\\Seen``), as code."""
    return code("\\" + name)


def _imap_messages(n: int) -> str:
    return plural.en(n, "message", "messages")


def _imap_login(x: f.ImapLogin) -> tuple[str, str]:
    if x.status is f.Status.FAILED:
        wait = (f" This attempt was held back {x.delay:g} s before the answer." if x.delay else "")
        return (f"IMAP {code(x.mechanism)} failed for {code(x.login)}",
                "The server refused the login: unknown user or wrong password (it does not say which, "
                "so attackers cannot probe for user names). After 3 failures from the same address "
                f"each further attempt waits a little longer.{wait}")
    how = code(x.mechanism)
    tls = "over TLS" if x.tls else "in clear text (a lesson: anyone on the wire could read it)"
    return (f"{x.login} logged in with {how}",
            f"The mail client (MUA) proved who it is with {how}; the password travelled {tls}. "
            "From now on it can open folders on the server.")


def _imap_logout(x: f.ImapLogout) -> tuple[str, str]:
    return (f"{x.user or 'the client'} logs out",
            "The mail client (MUA) ends the IMAP session. The messages stay on the server: IMAP keeps "
            "mail on the server, unlike POP3's download-and-delete.")


def _imap_select(x: f.ImapSelect) -> tuple[str, str]:
    folder = code(x.folder or "INBOX")
    return (f"{code(x.command)} {folder}: {_imap_messages(x.exists)}",
            f"The mail client (MUA) opens the folder {folder}{' read-only' if x.readonly else ''}. "
            f"The server tells how many messages it holds, which UID the next one will get "
            f"({code('UIDNEXT')}) and the {code('UIDVALIDITY')} that lets the client keep its local "
            "copy in step. The messages stay on the server.")


def _imap_create(x: f.ImapCreate) -> tuple[str, str]:
    return (f"{code('CREATE')} {code(x.created)}",
            "The mail client (MUA) creates a new folder on the server; all of this user's mail "
            "clients will see it.")


def _imap_list(x: f.ImapList) -> tuple[str, str]:
    return (f"{code(f'LIST {x.reference!r} {x.pattern!r}')}: {plural.en(x.count, 'folder', 'folders')}",
            "The mail client (MUA) asks for the folder tree. Folders live on the server, so every "
            f"client of this user sees the same ones; {_imap_flag('Sent')}, {_imap_flag('Trash')} "
            "and the like tell it which folder has which job.")


def _imap_append(x: f.ImapAppend) -> tuple[str, str]:
    folder = code(x.folder or "INBOX")
    return (f"{code('APPEND')} into {folder}: UID {x.uid}, {plural.size_en(x.size)}",
            f"The mail client (MUA) uploads a message into {folder} (for example a copy of what it "
            f"just sent, or a draft). The server stores it and answers with its new UID "
            f"({code('APPENDUID')}), so the client need not search for it.")


def _imap_expunge(x: f.ImapExpunge) -> tuple[str, str]:
    folder = code(x.folder or "INBOX")
    summary = f"{code(x.command)} {folder}: {len(x.uids)} removed"
    if x.command == "CLOSE":
        return summary, (f"{code('CLOSE')} removes the messages marked {_imap_flag('Deleted')} (an "
                         f"{code('EXPUNGE')} without the {code('EXPUNGE')} responses) and leaves the "
                         f"folder. The other open sessions are told with {code('EXPUNGE')}.")
    return summary, (f"Messages marked {_imap_flag('Deleted')} are now really removed from the "
                     f"server. Until this moment such a message could still be restored; every open "
                     f"session is told with an {code('EXPUNGE')} response.")


def _imap_fetch(x: f.ImapFetch) -> tuple[str, str]:
    what = listing(code(item) for item in x.items)
    asked = f" ({what})" if what else ""
    summary = f"{code(x.command)} {_imap_messages(x.count)}" + (f": {what}" if what else "")
    if x.bodies:
        bodies = plural.en(x.bodies, "message body", "message bodies")
        return summary, f"The mail client (MUA) downloads {bodies}{asked}. {_IMAP_KEEP}"
    return summary, (f"The mail client (MUA) reads summary data of {_imap_messages(x.count)}{asked} "
                     f"to draw its list. {_IMAP_KEEP}")


def _imap_store(x: f.ImapStore) -> tuple[str, str]:
    flags = code(" ".join(x.flags)) if x.flags else "no flags"
    return (f"{code(x.command)} {code(x.item)} {flags} on {_imap_messages(x.count)}",
            f"The mail client (MUA) changes flags on the server ({_imap_flag('Seen')} = read, "
            f"{_imap_flag('Flagged')} = starred, {_imap_flag('Deleted')} = to be removed by "
            f"{code('EXPUNGE')}). Because flags live on the server, every other mail client of this "
            "user sees the same state.")


def _imap_copy(x: f.ImapCopy) -> tuple[str, str]:
    return (f"{code(x.command)} {_imap_messages(x.count)} to {code(x.dest)}",
            f"The server copies the messages into {code(x.dest)} itself; nothing is downloaded and "
            "uploaded again.")


def _imap_move(x: f.ImapMove) -> tuple[str, str]:
    return (f"{code(x.command)} {_imap_messages(x.count)} to {code(x.dest)}",
            f"The mail client (MUA) moves messages to {code(x.dest)} (for example to Trash or Junk). "
            "The server does it in one step and tells every session the messages left this folder.")


def _imap_idle(x: f.ImapIdle) -> tuple[str, str]:
    pushed = listing((code(line) for line in x.updates), " / ") or "a change"
    return (f"IDLE push: {pushed}",
            "The mail client (MUA) is waiting in IDLE; the server pushes the change at once (RFC 2177) "
            "instead of the client polling. That is how new mail appears in a mail client within a "
            "second.")


def _imap_error(x: f.ImapError) -> tuple[str, str]:
    return (f"IMAP session closed after an internal error: {code(x.error.split('(', 1)[0])}",
            "The server hit a bug while answering this client and closed only this connection; every "
            "other session keeps working.")


TEXTS: dict = {
    f.ImapLogin: _imap_login, f.ImapLogout: _imap_logout, f.ImapSelect: _imap_select,
    f.ImapCreate: _imap_create, f.ImapList: _imap_list, f.ImapAppend: _imap_append,
    f.ImapExpunge: _imap_expunge, f.ImapFetch: _imap_fetch, f.ImapStore: _imap_store,
    f.ImapCopy: _imap_copy, f.ImapMove: _imap_move, f.ImapIdle: _imap_idle, f.ImapError: _imap_error,
}
REASONS: dict = {}
