"""English texts of the pop3 facts (merged into ../en.py when the narrator refactor is done)."""
from __future__ import annotations

from ... import facts as f
from .. import plural
from ..markup import code, listing
from ..why import reason

_POP3_REFUSED = {
    f.LoginCode.AUTH: "wrong login or password",
    f.LoginCode.IN_USE: "mailbox in use",
    f.LoginCode.SYS_TEMP: "mailbox unavailable",
    f.LoginCode.OK: "accepted",
}
_POP3_WHY_ENDED = {
    f.SessionEnd.DROPPED: "the connection was closed",
    f.SessionEnd.TIMEOUT: "the client was idle for too long",
    f.SessionEnd.ERROR: "the server hit an internal error",
    f.SessionEnd.QUIT: f"the client said {code('QUIT')}",
}


def _pop3_messages(n: int) -> str:
    return plural.en(n, "message", "messages")


def _pop3_user(x: f.Pop3Login | f.Pop3Listed | f.Pop3Retrieved | f.Pop3Deleted | f.Pop3SessionEnded) -> str:
    return x.address or f"the user at {x.peer}"


def _pop3_mechanism(mechanism: str) -> str:
    return code("USER/PASS") if mechanism == "USER" else code(f"AUTH {mechanism}")


def _pop3_first_lines(n: int) -> str:
    if n == 0:
        return ", none of its body"
    if n == 1:
        return " and the first line of its body"
    return f" and the first {plural.en(n, 'line', 'lines')} of its body"


def _pop3_login(x: f.Pop3Login) -> tuple[str, str]:
    if x.code is not f.LoginCode.OK:
        return _pop3_refused(x)
    summary = (f"{_pop3_user(x)} logged in over POP3 ({_pop3_mechanism(x.mechanism)}): "
               f"{_pop3_messages(x.messages)}, {plural.size_en(x.octets)}")
    client = f"{x.address}'s mail client (MUA)" if x.address else f"The mail client (MUA) at {x.peer}"
    explain = (f"{client} logged in to the POP3 server with "
               f"{_pop3_mechanism(x.mechanism)}. POP3 sees only one folder, the INBOX, as a numbered list of "
               f"messages that stays fixed for the whole session: here {_pop3_messages(x.messages)}, "
               f"{plural.size_en(x.octets)}. While this session lasts, the mailbox is locked against a "
               f"second POP3 session (RFC 1939 §4).")
    if x.tls:
        explain += " The connection is encrypted with TLS, so the password was not readable on the network."
    else:
        explain += (f" The connection is not encrypted: the password crossed the network in clear text (look "
                    f"at the transcript; {code('AUTH PLAIN')} only encodes it in base64). {code('STLS')} or "
                    f"the POP3S port would hide it.")
    return summary, explain


def _pop3_refused(x: f.Pop3Login) -> tuple[str, str]:
    summary = f"POP3 login as {code(x.login)} from {x.peer} refused: {_POP3_REFUSED[x.code]}"
    if x.code is f.LoginCode.IN_USE:
        explain = (f"The password for {code(x.login)} was right, but another POP3 session already has this "
                   f"mailbox open. POP3 allows only one session per mailbox at a time (RFC 1939 §4), so the "
                   f"server answered {code('-ERR [IN-USE]')} (RFC 2449 §8.1.2). The client should try again "
                   f"later.")
    elif x.code is f.LoginCode.SYS_TEMP:
        explain = (f"The login {code(x.login)} was right, but the server could not open the mailbox just now, "
                   f"so it answered {code('-ERR [SYS/TEMP]')} (RFC 3206): a temporary problem, try again later.")
    else:
        explain = (f"A client at {x.peer} tried to log in as {code(x.login)} and failed. The server gives the "
                   f"same answer, {code('-ERR [AUTH]')}, whether the user does not exist or the password is "
                   f"wrong, so nobody can find out which users exist. After "
                   f"{plural.en(x.free_failures, 'failure', 'failures')} from one address every next attempt "
                   f"waits longer: a brake on password guessing.")
        if x.next_delay:
            explain += f" This address's next attempt waits {x.next_delay:g} s."
    return summary, explain


def _pop3_listed(x: f.Pop3Listed) -> tuple[str, str]:
    summary = f"{_pop3_user(x)}: {code(x.command)} lists {_pop3_messages(x.messages)}"
    if x.command == "UIDL":
        return summary, (
            f"{code('UIDL')} lists a unique id for each message ({_pop3_messages(x.messages)}). Unlike the "
            f"message numbers, these ids stay the same from one session to the next, so a client that leaves "
            f"mail on the server remembers them to know which messages it has already downloaded (RFC 1939 §7).")
    return summary, (
        f"{code('LIST')}: the server lists the messages in the mailbox ({_pop3_messages(x.messages)}), one line "
        f"each: its number and its size ({plural.size_en(x.octets)} in all). The numbers are valid only during "
        f"this session.")


def _pop3_retrieved(x: f.Pop3Retrieved) -> tuple[str, str]:
    what = f"TOP {x.number} {x.lines or 0}" if x.command == "TOP" else f"RETR {x.number}"
    subject = (x.message or {}).get("subject")
    summary = (f"{_pop3_user(x)} downloads message {x.number} ({code(what)}, {plural.size_en(x.size)})"
               + (f": {code(subject)}" if subject else ""))
    if x.command == "TOP":
        return summary, (
            f"{code(what)}: the server sent only the headers of message {x.number}"
            f"{_pop3_first_lines(x.lines or 0)}. Mail clients use {code('TOP')} to show a preview "
            f"(sender, subject) before deciding to download the whole message (RFC 1939 §7).")
    return summary, (
        f"{code(what)}: the server sent the whole message {x.number} ({plural.size_en(x.size)}), headers and "
        f"body. A line that begins with {code('.')} is sent with an extra {code('.')}, and a line with a single "
        f"{code('.')} ends the message (RFC 1939 §3). With POP3 the client keeps its own copy; usually it then "
        f"deletes the message on the server with {code('DELE')}, unlike IMAP, where mail stays on the server.")


def _pop3_deleted(x: f.Pop3Deleted) -> tuple[str, str]:
    dele = code(f"DELE {x.number}")
    return (f"{_pop3_user(x)} marks message {x.number} for deletion ({dele})",
            f"{dele} only marks message {x.number} for deletion; nothing is removed yet. The server deletes the "
            f"marked messages when the client says {code('QUIT')} (the {code('UPDATE')} state, RFC 1939 §6). "
            f"{code('RSET')} would unmark them, and a connection that breaks off without {code('QUIT')} deletes "
            f"nothing.")


def _pop3_ended(x: f.Pop3SessionEnded) -> tuple[str, str]:
    if x.reason is not f.SessionEnd.QUIT:
        return _pop3_abandoned(x)
    quit_, update = code("QUIT"), code("UPDATE")
    if not x.ok:
        return (f"{_pop3_user(x)} {quit_}: the server failed to delete the marked messages",
                f"{quit_}: the server entered the {update} state but could not delete the marked messages, and "
                f"said so with {code('-ERR')} (RFC 1939 §6). They are still in the mailbox.")
    summary = f"{_pop3_user(x)} {quit_}: {_pop3_messages(x.deleted)} deleted from the server, {x.left} left"
    if x.deleted:
        return summary, (
            f"{quit_}: the session entered the {update} state and the server removed the messages marked with "
            f"{code('DELE')} ({_pop3_messages(x.deleted)}); {x.left} remain on the server. This is POP3's "
            f"\"download and delete\": those messages now live only in the mail client (RFC 1939 §6).")
    return summary, (
        f"{quit_}: nothing was marked with {code('DELE')}, so all messages ({_pop3_messages(x.left)}) stay on the "
        f"server (the client \"leaves messages on the server\" and will recognise them next time by their "
        f"{code('UIDL')}).")


def _pop3_abandoned(x: f.Pop3SessionEnded) -> tuple[str, str]:
    why = _POP3_WHY_ENDED[x.reason]
    summary = (f"{_pop3_user(x)}: connection ended without {code('QUIT')} ({why}); nothing deleted"
               + (f", {x.kept_marked} marked for deletion but kept" if x.kept_marked else ""))
    return summary, (
        f"The session ended without {code('QUIT')} ({why}). POP3 deletes messages only after {code('QUIT')}, so "
        f"the messages marked with {code('DELE')} ({_pop3_messages(x.kept_marked)}) were not deleted "
        f"(RFC 1939 §6).")


def _pop3_error(x: f.Pop3Error) -> tuple[str, str]:
    return (f"POP3 session from {x.peer} ended by an internal error: {code(x.error)}",
            "The server hit an unexpected error in this session and closed it. Nothing was deleted; other "
            "sessions go on.")


TEXTS = {
    f.Pop3Login: _pop3_login,
    f.Pop3Listed: _pop3_listed,
    f.Pop3Retrieved: _pop3_retrieved,
    f.Pop3Deleted: _pop3_deleted,
    f.Pop3SessionEnded: _pop3_ended,
    f.Pop3Error: _pop3_error,
}
REASONS: dict = {}
