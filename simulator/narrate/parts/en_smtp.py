"""English texts of the smtp facts (merged into ../en.py when the narrator refactor is done)."""
from __future__ import annotations

from ... import facts as f
from .. import plural
from ..markup import code, listing
from ..why import reason

_SMTP_CUT = "…"


def _smtp_server(x: f.SmtpSession) -> str:
    return x.host or "the front door"


def _smtp_port(x: f.SmtpSession) -> str:
    return f" on port {x.port}" if x.port else ""


def _smtp_for(rcpts: tuple[str, ...]) -> str:
    return f" for {listing(rcpts)}" if rcpts else ""


def _smtp_client(x: f.SmtpSession) -> str:
    """Who talked to the server, from the fact's source node."""
    if x.src.startswith("mua:") and x.client:
        return f"{x.client}'s mail client (MUA)"
    if x.src.startswith("mta:") and x.client:
        return f"the MTA {x.client}"
    peer = x.peer if x.peer and x.peer != "?" else "this computer"
    return f"a program at {peer}"


def _smtp_cap(text: str) -> str:
    """A sentence starts with a capital, unless it starts with an address or a host name."""
    return text[:1].upper() + text[1:] if text.startswith(("a ", "the ")) else text


def _smtp_submitted(x: f.SmtpSession) -> tuple[str, str]:
    who, server = _smtp_client(x), _smtp_server(x)
    queued = f" (queue id {x.queue_id})" if x.queue_id else ""
    return (f"{who} submits a message to {server} (MSA)",
            f"{who} connected to the submission server {server} (the MSA){_smtp_port(x)}, logged in "
            f"with {code('AUTH')} and handed over a message{_smtp_for(x.rcpts)}. The MSA wrote it to its "
            f"queue on disk and only then answered {code('250')}: from now on {server} is responsible "
            f"for the message{queued}.")


def _smtp_relayed(x: f.SmtpSession) -> tuple[str, str]:
    who, server = _smtp_client(x), _smtp_server(x)
    if not x.final:
        return (f"{who} hands the message to {server} (backup MX: it will forward it)",
                f"{who} handed the message{_smtp_for(x.rcpts)} to {server}, a backup MX. A backup MX "
                f"does not own mailboxes: it keeps the message in its queue and forwards it to the "
                f"primary MX when that one is reachable.")
    return (f"{who} hands the message to {server}",
            f"{who} connected to {server}, the MX of the recipient's domain{_smtp_port(x)} (the "
            f"sandbox's MX port), and delivered the message{_smtp_for(x.rcpts)} with SMTP: "
            f"{code('EHLO')}, {code('MAIL FROM')} (the envelope sender), {code('RCPT TO')} (the envelope "
            f"recipients), {code('DATA')}. {server} stored it and answered {code('250')}; its MDA will "
            f"now put it into the mailbox.")


def _smtp_by_hand(x: f.SmtpSession) -> tuple[str, str]:
    who, server = _smtp_client(x), _smtp_server(x)
    return (f"{who} → {server}: message accepted over SMTP",
            f"{who} (typed by hand, or {code('swaks')}/{code('nc')}) talked SMTP to {server}"
            f"{_smtp_port(x)} directly and the server accepted the message.")


def _smtp_refused(x: f.SmtpSession) -> tuple[str, str]:
    server = _smtp_server(x)
    reply = code(x.reply) if x.reply else "no"
    return (f"{server} refused: {reply}",
            f"{server} refused: {reply}. A {code('5xx')} reply is permanent: the sending side must "
            f"not retry; a {code('4xx')} reply is temporary.")


def _smtp_no_message(x: f.SmtpSession) -> tuple[str, str]:
    who, server = _smtp_client(x), _smtp_server(x)
    return (f"{who} talked SMTP to {server} (no message)",
            f"{who} talked SMTP to {server}{_smtp_port(x)}; the session ended without an accepted "
            f"message. Read the server's reply codes: {code('4xx')} means 'try later', {code('5xx')} "
            f"means 'no'.")


_SMTP_OUTCOMES = {
    f.SmtpOutcome.SUBMITTED: _smtp_submitted,
    f.SmtpOutcome.RELAYED: _smtp_relayed,
    f.SmtpOutcome.BY_HAND: _smtp_by_hand,
    f.SmtpOutcome.REFUSED: _smtp_refused,
    f.SmtpOutcome.NO_MESSAGE: _smtp_no_message,
}


def _smtp_session(x: f.SmtpSession) -> tuple[str, str]:
    summary, explain = _SMTP_OUTCOMES[x.outcome](x)
    return summary, _smtp_cap(explain)


def _smtp_line_text(side: str, text: str) -> str:
    if side == _SMTP_CUT:
        count = int(text) if text.isdigit() else 0
        return f"[{plural.en(count, 'more line', 'more lines')} of the message]"
    return code(text)


def _smtp_line(x: f.SmtpLine) -> tuple[str, str]:
    shown = [_smtp_line_text(side, text) for side, text in x.transcript[-4:]]
    summary = " / ".join(shown) if shown else "SMTP dialogue"
    return (summary,
            "Line-by-line stepping: these are the dialogue's newest lines. Each server reply waits "
            "until the teacher presses Step, so the conversation can be read one line at a time.")


def _smtp_attempt(x: f.SmtpAttempt) -> tuple[str, str]:
    why = reason("en", x.reason)
    return (f"{x.host} → {x.target}: {why}",
            f"{x.host} tried to connect to {x.target} ({x.address}, port {x.port}, MX preference "
            f"{x.preference}), but: {why}. It moves on to the next MX in the list, if there is one.")


TEXTS = {f.SmtpSession: _smtp_session, f.SmtpLine: _smtp_line, f.SmtpAttempt: _smtp_attempt}
REASONS = {
    f.AttemptReason.REFUSED: lambda r: "connection refused (nothing listens there: the host is down)",
    f.AttemptReason.TIMEOUT: lambda r: "no answer in time",
    f.AttemptReason.CLOSED: lambda r: "the server closed the connection",
    f.AttemptReason.BAD_REPLY: lambda r: f"the server's answer is not an SMTP reply ({code(r['detail'])})",
    f.AttemptReason.ERROR: lambda r: f"a network error ({code(r['detail'])})",
}
