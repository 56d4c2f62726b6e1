"""The English catalogue: every word a learner reads in this language.

TEXTS: fact class -> function(fact) -> (summary, explanation).  REASONS: reason code ->
function(reason) -> words.  UI: the page's own strings, served to the page by the web.
A catalogue is long on purpose: one file per language is what a translator reviews.
"""
from __future__ import annotations

from . import plural
from .. import facts as f
from .markup import code, codes, flag, listing, mechanism
from .why import nested, reason, reasons
from ..nodes import CATCH_ADDRESS


# -------------------- world -----------------------------------------------------------------

def _world_mx_table(table: tuple[tuple[int, str], ...]) -> str:
    if not table:
        return "no MX records"
    if table == ((0, "."),):
        return f"a null MX ({code('MX 0 .')}): the domain accepts no mail"
    return listing(code(f"MX {p} {h}") for p, h in table)


def _world_host_state(x: f.HostStateChanged) -> tuple[str, str]:
    state = "up" if x.up else "down"
    summary = f"{x.host} is now {state}"
    if x.up:
        explain = (f"The teacher started {x.host} again. It listens on its ports once more, and the "
                   f"mail waiting in its queue is retried at once.")
    else:
        explain = (f"The teacher took {x.host} down: nothing listens on its address any more, so a "
                   f"sending server's connection is refused. DNS still names it: the next lookup and "
                   f"connection show what a real MTA does when a server is unreachable.")
    return summary, explain


def _world_mx_changed(x: f.MxTableChanged) -> tuple[str, str]:
    table = _world_mx_table(x.mx)
    return (f"the MX table of {x.domain} is now: {table}",
            f"The teacher changed the MX table of {x.domain}: {table}. The DNS server answers with the "
            f"new table from now on, so the next lookup of a sending MTA sees the change.")


def _world_user(x: f.UserChanged) -> tuple[str, str]:
    if x.joined:
        return (f"{x.name} joined the class as {x.address}",
                f"{x.name} joined the class: the world now has a user {x.address}, with a mailbox on the "
                f"domain's mail server and a mail client of their own. Mail to this address is accepted "
                f"and delivered like everyone else's, and only {x.name} can log in to read it.")
    return (f"{x.address} left the class",
            f"The teacher removed {x.address}. Logins with it fail from now on, and mail sent to it is "
            f"refused with {code('550 5.1.1')} (user unknown), like mail to any address that does not "
            f"exist.")


def _world_who(host: str) -> str:
    """A host by name; "" is the front door, which has none."""
    return host or "the front door"


_WORLD_STEPS = {
    f.HopStep.SUBMIT: lambda x: (f"an application (sender {x.user}) hands the message to {_world_who(x.host)}"
                                 if x.src == "app" else
                                 f"{x.user}'s mail client (MUA) hands the message to {_world_who(x.host)}"),
    f.HopStep.DNS_QUERY: lambda x: f"{_world_who(x.host)} asks DNS for the MX of {x.domain}",
    f.HopStep.CONNECT: lambda x: f"{_world_who(x.host)} connects to {x.target} ({x.address})",
    f.HopStep.DELIVER: lambda x: f"the MDA of {_world_who(x.host)} delivers to {x.rcpt}",
    f.HopStep.CATCH: lambda x: f"{_world_who(x.host)} hands the message for {x.rcpt} to the outside world",
    f.HopStep.REPLY: lambda x: f"{_world_who(x.host)} answers: {code(x.reply)}",
}


def _world_next_hop(x: f.NextHop) -> tuple[str, str]:
    what = _WORLD_STEPS[x.step](x)
    return (f"Next hop waiting: {what}",
            "The world is paused: this hop happens when the teacher presses Step (or Play). "
            "Real servers and clients really wait meanwhile: to them the server is just slow.")


_TEXTS_WORLD: dict = {f.HostStateChanged: _world_host_state, f.MxTableChanged: _world_mx_changed, f.NextHop: _world_next_hop,
                      f.UserChanged: _world_user}


# -------------------- smtp ------------------------------------------------------------------

_SMTP_CUT = "…"


def _smtp_server(x: f.SmtpSession) -> str:
    """The server by its host name; the front door (no host of its own) as such, never by its node id."""
    return x.host if x.host and x.host != "front" else "the front door"


def _smtp_secret(x: f.SmtpSession) -> str:
    """One sentence on what a listener on the wire read of the AUTH lines ("" when there were none)."""
    if not x.credentials:
        return ""
    if any(c.hidden_by is f.TlsMode.NONE for c in x.credentials):
        return (f" The {code('AUTH')} lines carried the login only base64-encoded: anyone listening on the "
                f"wire can decode the password. {code('STARTTLS')} or a TLS port would hide it.")
    return " The login crossed the wire under TLS: a listener sees only ciphertext, not the password."


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
    if x.src == "app":
        return f"an application at {x.peer}" if x.peer and x.peer != "?" else "an application"
    peer = x.peer if x.peer and x.peer != "?" else "this computer"
    return f"a program at {peer}"


def _smtp_cap(text: str) -> str:
    """A sentence starts with a capital, unless it starts with an address or a host name."""
    return text[:1].upper() + text[1:] if text.startswith(("a ", "an ", "the ")) else text


def _smtp_submitted(x: f.SmtpSession) -> tuple[str, str]:
    who, server = _smtp_client(x), _smtp_server(x)
    queued = f" (queue id {x.queue_id})" if x.queue_id else ""
    if x.src == "app":
        return (f"{who} submits a message to {server} (MSA) through the app port",
                f"{who} (its mailer: Django, smtplib, Nodemailer...) connected to the app port"
                f"{f' {x.port}' if x.port else ''}, "
                f"which takes mail without {code('AUTH')} and from any sender, as a local sandbox for "
                f"developers does. The message{_smtp_for(x.rcpts)} went to {server}, the MSA of the sender's "
                f"domain (or the sandbox's first MSA when the sender's domain is not in the sandbox), which "
                f"wrote it to its queue on disk and only then answered {code('250')}: from now on {server} "
                f"is responsible for the message{queued}.")
    if x.via:
        return (f"{who} submits a message to {server} (MSA) through the front door",
                f"{who} connected to the front door{_smtp_port(x)} (the one address for mail clients), "
                f"logged in with {code('AUTH')}, and the front door handed the session to {server}, the MSA "
                f"of the user's domain, which took the message{_smtp_for(x.rcpts)}. The MSA wrote it to its "
                f"queue on disk and only then answered {code('250')}: from now on {server} is responsible "
                f"for the message{queued}.")
    return (f"{who} submits a message to {server} (MSA)",
            f"{who} connected to the submission server {server} (the MSA){_smtp_port(x)}, logged in "
            f"with {code('AUTH')} and handed over a message{_smtp_for(x.rcpts)}. The MSA wrote it to its "
            f"queue on disk and only then answered {code('250')}: from now on {server} is responsible "
            f"for the message{queued}.")


def _smtp_resend(x: f.SmtpSession) -> str:
    """What a server did with a resend it recognised (stored nothing), as the explanation's end."""
    server = _smtp_server(x)
    return (f"{server} recognised it by its {code('Mailflow-Relay-Id')}: an earlier attempt of this "
            f"message had already reached this world (a server took it, or already wrote it into the "
            f"mailbox), but the sender never noted a {code('250')} for it: the sender crashed or gave up "
            f"waiting before it could, or the receiving server was stopped before it answered. So "
            f"{server} answered {code('250')} without storing it a second time: nothing more goes to "
            f"the mailbox.")


def _smtp_relayed(x: f.SmtpSession) -> tuple[str, str]:
    who, server = _smtp_client(x), _smtp_server(x)
    if x.resend:
        reused = (f" on the connection it already had open (no new greeting, {code('EHLO')} or "
                  f"{code('STARTTLS')})" if x.reused else "")
        return (f"{who} hands the message to {server} again: it is already there, not stored twice",
                f"{who} sent the message{_smtp_for(x.rcpts)} to {server}{reused} once more. "
                + _smtp_resend(x))
    if not x.final:
        reused = (f" It used the connection it already had open: no new greeting, {code('EHLO')} or "
                  f"{code('STARTTLS')}." if x.reused else "")
        return (f"{who} hands the message to {server} (backup MX: it will forward it)",
                f"{who} handed the message{_smtp_for(x.rcpts)} to {server}, a backup MX. A backup MX "
                f"does not own mailboxes: it keeps the message in its queue and forwards it to the "
                f"primary MX when that one is reachable.{reused}")
    if x.reused:
        return (f"{who} hands the message to {server}",
                f"{who} handed the message{_smtp_for(x.rcpts)} to {server}, the MX of the recipient's "
                f"domain{_smtp_port(x)} (the sandbox's MX port), on the connection it already had open: "
                f"no new greeting, {code('EHLO')} or {code('STARTTLS')}. The transaction began at once with "
                f"{code('MAIL FROM')} (the envelope sender), then {code('RCPT TO')} (the envelope "
                f"recipients), {code('DATA')}. {_smtp_kept(x, server)}")
    return (f"{who} hands the message to {server}",
            f"{who} connected to {server}, the MX of the recipient's domain{_smtp_port(x)} (the "
            f"sandbox's MX port), and delivered the message{_smtp_for(x.rcpts)} with SMTP: "
            f"{code('EHLO')}, {code('MAIL FROM')} (the envelope sender), {code('RCPT TO')} (the envelope "
            f"recipients), {code('DATA')}. {_smtp_kept(x, server)}")


def _smtp_kept(x: f.SmtpSession, server: str) -> str:
    """What the final MX did with the message before its 250: queued it for its MDA, or (``direct``)
    had its MDA write it into the mailbox first."""
    if x.direct:
        return (f"{server} did not queue it: its MDA wrote it into the mailbox at once, and only then "
                f"did {server} answer {code('250')}. Nothing needed the queue (no fault in force, no "
                f"lesson holding a hop), so the {code('250')} already means the message is in the mailbox.")
    return f"{server} stored it and answered {code('250')}; its MDA will now put it into the mailbox."


def _smtp_by_hand(x: f.SmtpSession) -> tuple[str, str]:
    who, server = _smtp_client(x), _smtp_server(x)
    return (f"{who} → {server}: message accepted over SMTP",
            f"{who} (typed by hand, or {code('swaks')}/{code('nc')}) talked SMTP to {server}"
            f"{_smtp_port(x)} directly and the server accepted the message."
            + (f" {_smtp_kept(x, server)}" if x.direct else ""))


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
    return summary, _smtp_cap(explain) + _smtp_secret(x)


def _smtp_line_text(side: str, text: str) -> str:
    if side == _SMTP_CUT:
        count = int(text) if text.isdigit() else 0
        return f"[{plural.en(count, 'more line', 'more lines')} of the message]"
    return code(text)


def _smtp_line(x: f.SmtpLine) -> tuple[str, str]:
    shown = [_smtp_line_text(side, text) for side, text in x.transcript[-4:]]
    summary = " / ".join(shown) if shown else "SMTP dialogue"
    return (summary,
            "Stepping by line: the SMTP dialogue is going on, and each server reply waits until the "
            "teacher presses Step, so the conversation can be read one line at a time. The lines so far "
            "are in the dialogue below; the hop is complete with the server's last reply.")


def _smtp_attempt(x: f.SmtpAttempt) -> tuple[str, str]:
    why = reason("en", x.reason)
    return (f"{x.host} → {x.target}: {why}",
            f"{x.host} tried to connect to {x.target} ({x.address}, port {x.port}, MX preference "
            f"{x.preference}), but: {why}. It moves on to the next MX in the list, if there is one.")


_TEXTS_SMTP: dict = {f.SmtpSession: _smtp_session, f.SmtpLine: _smtp_line, f.SmtpAttempt: _smtp_attempt}


_REASONS_SMTP: dict = {
    f.AttemptReason.REFUSED: lambda r: "connection refused (nothing listens there: the host is down)",
    f.AttemptReason.TIMEOUT: lambda r: "no answer in time",
    f.AttemptReason.CLOSED: lambda r: "the server closed the connection",
    f.AttemptReason.BAD_REPLY: lambda r: f"the server's answer is not an SMTP reply ({code(r['detail'])})",
    f.AttemptReason.ERROR: lambda r: f"a network error ({code(r['detail'])})",
}


# -------------------- dns -------------------------------------------------------------------





def _dns_lookup(x: f.MxLookup) -> tuple[str, str]:
    answers = codes(x.answers)
    asked = f"{x.host} asks DNS for the MX of {x.domain}: {answers or code(x.rcode)}"
    if x.error is not None:
        why = reason("en", x.error)
        after = ("The message cannot be delivered: it bounces." if x.permanent
                 else "This is temporary: the message stays in the queue and is tried again later.")
        return (f"{asked} — {why}",
                f"{x.host} asked the DNS server for the MX records of {x.domain}. Result: {why}. {after}")
    first = f"it tries {x.chosen} first" if x.chosen else "it has nowhere to try"
    order = f" ({reasons('en', x.reason)})" if x.reason else ""
    if x.implicit or not x.answers:
        found = "there are none"
    else:
        found = answers
    return (f"{asked} — {first}",
            f"To know where to send mail for {x.domain}, the MTA {x.host} asked DNS for its MX records: "
            f"{found}. The lowest preference number wins, so {first}{order}.")


def _dns_served(x: f.DnsServed) -> tuple[str, str]:
    answers = codes(x.answers) or "no records"
    return (f"DNS question from {x.peer}: {code(x.question)} → {code(x.rcode)}",
            f"A program at {x.peer} ({code('dig')}, or a student's program) asked the sandbox DNS over "
            f"{x.transport.upper()}: {code(x.question)}. Answer: {code(x.rcode)}; {answers}. The server "
            f"is authoritative for the sandbox zones only and refuses everything else.")


_TEXTS_DNS: dict = {f.MxLookup: _dns_lookup, f.DnsServed: _dns_served}


_REASONS_DNS: dict = {
    f.RouteReason.LOWEST_FIRST: lambda r: "lowest preference first",
    f.RouteReason.OWN_PREFERENCE: lambda r: (f"this host is itself MX {r['own']}, so only better (lower) "
                                             f"preferences count"),
    f.RouteReason.EQUAL_RANDOM: lambda r: (f"equal preference {r['preference']}: random order "
                                           f"(RFC 5321 §5.1)"),
    f.RouteReason.IMPLICIT_MX: lambda r: ("no MX records: the domain's own A record is the implicit MX "
                                          "(RFC 5321 §5.1)"),
    f.RouteReason.INVALID_DOMAIN: lambda r: f"{code(r['domain'])} is not a valid domain name",
    f.RouteReason.DNS_NO_ANSWER: lambda r: f"the DNS server did not answer ({code(r['error'])})",
    f.RouteReason.DNS_RCODE: lambda r: f"the DNS server answered {code(r['rcode'])}",
    f.RouteReason.OUTSIDE: lambda r: (f"{r['domain']} is outside the sandbox: the sandbox DNS refuses to "
                                      f"answer for it, and no mail ever leaves the sandbox"),
    f.RouteReason.NXDOMAIN: lambda r: f"the domain {r['domain']} does not exist ({code('NXDOMAIN')})",
    f.RouteReason.NULL_MX: lambda r: f"{r['domain']} publishes a null MX (RFC 7505): it accepts no mail",
    f.RouteReason.LOOP: lambda r: (f"mail for {r['domain']} loops back to this host: it is the best MX "
                                   f"but not the final destination"),
    f.RouteReason.NO_ADDRESS: lambda r: f"no MX host of {r['domain']} has an address record",
    f.RouteReason.NO_MAIL_SERVER: lambda r: f"{r['domain']} has neither MX nor A records: no mail server",
}


# -------------------- queue -----------------------------------------------------------------

def _queue_seconds(seconds: float) -> str:
    value = f"{round(seconds, 1):g}" if seconds < 1000 else f"{seconds:.0f}"
    return f"{value} s"


def _queue_for(rcpts: tuple[str, ...]) -> str:
    return f" for {listing(rcpts)}" if rcpts else ""




def _queue_relayed(x: f.Relayed) -> tuple[str, str]:
    if x.resend:
        return (f"{x.target} already has the message: it leaves {x.host}'s queue",
                f"{x.host} sent the message{_queue_for(x.rcpts)} again: an earlier attempt had "
                f"reached this world, but {x.host} never noted a {code('250')} for it (it crashed before "
                f"it could, gave up waiting for the answer, or the receiving server was stopped before "
                f"it answered). The servers of this "
                f"world know the message by its {code('Mailflow-Relay-Id')}, so {x.target} answered "
                f"{code('250')} without queuing it a second time, and {x.host} removes it from its queue.")
    return (f"{x.target} accepted the message: it leaves {x.host}'s queue",
            f"{x.target} answered {code('250')}{_queue_for(x.rcpts)}: it now owns the message, and "
            f"{x.host} removes it from its queue.")


def _queue_retry(x: f.Retry) -> tuple[str, str]:
    return (f"{x.host} tries again (attempt {x.attempt}){_queue_for(x.rcpts)}",
            f"The retry time has come: {x.host} takes the message{_queue_for(x.rcpts)} out of its queue "
            f"and tries again (attempt {x.attempt}), starting over with a fresh DNS lookup.")


def _queue_deferred(x: f.Deferred) -> tuple[str, str]:
    why = reasons("en", x.reasons)
    because = f" ({why})" if why else ""
    return (f"{x.host} keeps the message; retry in {_queue_seconds(x.retry_in)}{because}",
            f"Delivery{_queue_for(x.rcpts)} failed for now{because}. {x.host} keeps the message in its "
            f"queue and will try again in {_queue_seconds(x.retry_in)} (after "
            f"{plural.en(x.attempts, 'attempt', 'attempts')} so far). A real MTA waits minutes and "
            f"retries for days; the sandbox compresses time.")


def _queue_bounced(x: f.Bounced) -> tuple[str, str]:
    why = reason("en", x.reasons[0]) if x.reasons else "no reason recorded"
    rcpts = listing(x.rcpts) or "its recipients"
    if x.dropped and x.kept:
        return (f"{x.host} gives up on {rcpts}: {why} (a bounce is never bounced: kept in {x.kept})",
                f"The message for {rcpts} cannot be delivered ({why}). It is itself a bounce (its "
                f"envelope sender is empty), and a bounce is never bounced, so nothing goes back. {x.host} "
                f"keeps it whole in the outside world's mailbox {x.kept}, as a real server hands such a "
                f"double bounce to its postmaster: read it there.")
    if x.dropped:
        return (f"{x.host} gives up on {rcpts}: {why} (a bounce is never bounced: dropped)",
                f"The message for {rcpts} cannot be delivered ({why}). It is itself a bounce (its "
                f"envelope sender is empty), and a bounce is never bounced, so {x.host} drops it.")
    every = "; ".join(f"{r}: {reason('en', w)}" for r, w in zip(x.rcpts, x.reasons))
    return (f"{x.host} gives up on {rcpts}: {why}",
            f"The message for {rcpts} cannot be delivered ({every or why}). {x.host} gives up and sends "
            f"a delivery status notification (a bounce, RFC 3464) back to the envelope sender "
            f"{x.sender}, with the original message attached.")


def _queue_quarantined(x: f.Quarantined) -> tuple[str, str]:
    return (f"{x.host} set message {code(x.queue_id)} aside after an internal error",
            f"{x.host} could not handle message {code(x.queue_id)} because of an internal error "
            f"({code(x.error)}), for longer than the queue lifetime. It set the message aside in its "
            f"queue's quarantine folder on disk, so nothing is lost, and stopped trying.")


def _queue_delivered(x: f.MdaDelivered) -> tuple[str, str]:
    if x.mailbox == CATCH_ADDRESS:
        return (f"the outside world keeps the message for {x.rcpt} in its mailbox {x.mailbox}",
                f"Nothing leaves the sandbox: the outside world wrote the message for {x.rcpt} whole "
                f"({plural.size_en(x.size)}) into its one mailbox, {x.mailbox} (its file: {code(x.path)}). "
                f"Read it there over IMAP or POP3 through the front door, in the webmail or on this page.")
    if x.mailbox and x.rcpt.lower().startswith("postmaster@"):
        return (f"MDA of {x.host} puts the message for {x.rcpt} into {x.mailbox}'s mailbox (postmaster)",
                f"Every domain that takes mail must take it for postmaster (RFC 5321 §4.5.1), the person "
                f"who looks after its mail. Here that is {x.mailbox}: the MDA of {x.host} wrote the message "
                f"({plural.size_en(x.size)}) into that mailbox (its file: {code(x.path)}). The header "
                f"{code('X-Original-To')} keeps the address the message was sent to.")
    if x.mailbox:
        return (f"MDA of {x.host} puts the message for {x.rcpt} into {x.mailbox}'s mailbox (catch-all)",
                f"There is no user {x.rcpt}, but the domain has a catch-all user, who takes mail for any "
                f"other address of the domain: the MDA of {x.host} wrote the message "
                f"({plural.size_en(x.size)}) into {x.mailbox}'s mailbox (its file: {code(x.path)}). The "
                f"header {code('X-Original-To')} keeps the address the message was sent to.")
    return (f"MDA of {x.host} puts the message into {x.rcpt}'s mailbox",
            f"The MDA of {x.host} wrote the message ({plural.size_en(x.size)}) into {x.rcpt}'s mailbox "
            f"(Maildir): first under {code('tmp/')}, all of it and safely on disk, then given its name in "
            f"{code('new/')} in one step, so the mailbox never holds half a message. Its file: "
            f"{code(x.path)}. Now the user's mail client (MUA) can "
            f"fetch it with POP3 or IMAP.")


def _queue_dsn(x: f.DsnNotice) -> tuple[str, str]:
    listed = "\n".join(f"- <{rcpt}>: {reason('en', why)}" for rcpt, why in x.failures)
    return (f"Undelivered mail returned to sender by {x.host}",
            f"This is the mail system at host {x.host}.\n\n"
            f"I'm sorry to have to inform you that your message could not be delivered to one or more "
            f"recipients. The reasons are below; "
            + ("the original message is attached." if x.whole else
               "the original message's headers are attached (the message itself is too large to return).")
            + (f"\n\n{listed}" if listed else ""))


_TEXTS_QUEUE: dict = {f.Relayed: _queue_relayed, f.Retry: _queue_retry, f.Deferred: _queue_deferred,
         f.Bounced: _queue_bounced, f.Quarantined: _queue_quarantined, f.MdaDelivered: _queue_delivered,
         f.DsnNotice: _queue_dsn}




def _queue_reply(r: f.Reason) -> str:
    host = r.get("host") or "the server"
    return f"{host} answered {code(r['reply'])}"


def _queue_unreachable(r: f.Reason) -> str:
    last = nested("en", r, "last")
    detail = f" (last: {r['host']}: {last})" if last and r.get("host") else (f" ({last})" if last else "")
    return f"no MX of {r['domain']} could be reached{detail}"


def _queue_lost(r: f.Reason) -> str:
    last = nested("en", r, "last")
    return f"the connection to {r['host']} was lost" + (f" ({last})" if last else "")


def _queue_expired(r: f.Reason) -> str:
    last = nested("en", r, "last") or "no answer"
    return (f"gave up after {plural.en(r['attempts'], 'attempt', 'attempts')} in {r['lifetime']} s; "
            f"last: {last}")


_REASONS_QUEUE: dict = {
    f.DeliveryReason.REPLY: _queue_reply,
    f.DeliveryReason.NO_SUCH_USER: lambda r: f"{r['host']} has no mailbox {r['rcpt']}: no such user",
    f.DeliveryReason.MAILBOX_WRITE: lambda r: (f"the MDA could not write into the mailbox of {r['rcpt']} "
                                               f"({code(r['error'])})"),
    f.DeliveryReason.UNREACHABLE: _queue_unreachable,
    f.DeliveryReason.CONNECTION_LOST: _queue_lost,
    f.DeliveryReason.EXPIRED: _queue_expired,
    f.DeliveryReason.LEGACY: lambda r: code(r["text"]),
    f.DeliveryReason.OFF_SANDBOX: lambda r: (f"the MX {r['host']} has the address {r['address']}, outside the "
                                             f"sandbox: nothing leaves this computer, so it is never tried"),
}


# -------------------- the outside world ----------------------------------------------------

def _outside_caught(x: f.Caught) -> tuple[str, str]:
    rcpts = listing(x.rcpts) or "its recipients"
    size = plural.size_en(x.size)
    if x.bounce:
        return (f"{x.host} gives the undeliverable bounce for {rcpts} to the outside world",
                f"The bounce for {rcpts} could not be delivered, and a bounce is never bounced. Rather "
                f"than drop it, {x.host} gives it to the outside world, which keeps it whole ({size}) in "
                f"its mailbox {x.mailbox}: no message ends only in the log.")
    return (f"{x.host} hands the message for {rcpts} to the outside world: caught",
            f"Mail for {rcpts} would leave the sandbox, and this world catches such mail "
            f"({code('outside: catch')}). {x.host} looks up no MX and connects nowhere: nothing leaves "
            f"this computer. The outside world keeps one copy, whole ({size}), in its mailbox {x.mailbox}, "
            f"for all the message's recipients outside the sandbox.")


_TEXTS_OUTSIDE: dict = {f.Caught: _outside_caught}


# -------------------- pop3 ------------------------------------------------------------------

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
    f.SessionEnd.BAD_COMMANDS: "the client sent too many bad commands in a row",
    f.SessionEnd.QUIT: f"the client said {code('QUIT')}",
}


def _pop3_messages(n: int) -> str:
    return plural.en(n, "message", "messages")


def _pop3_user(x: f.Pop3Login | f.Pop3Listed | f.Pop3Retrieved | f.Pop3Deleted | f.Pop3SessionEnded) -> str:
    return x.address or f"the user at {x.peer}"


def _pop3_first_lines(n: int) -> str:
    if n == 0:
        return ", none of its body"
    if n == 1:
        return " and the first line of its body"
    return f" and the first {plural.en(n, 'line', 'lines')} of its body"


def _pop3_login(x: f.Pop3Login) -> tuple[str, str]:
    if x.code is not f.LoginCode.OK:
        return _pop3_refused(x)
    summary = (f"{_pop3_user(x)} logged in over POP3 ({mechanism(x.mechanism)}): "
               f"{_pop3_messages(x.messages)}, {plural.size_en(x.octets)}")
    client = f"{x.address}'s mail client (MUA)" if x.address else f"The mail client (MUA) at {x.peer}"
    explain = (f"{client} logged in to the POP3 server with "
               f"{mechanism(x.mechanism)}. POP3 sees only one folder, the INBOX, as a numbered list of "
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
    # no subject here: the narration reaches every page, the message's contents only its owner's
    summary = f"{_pop3_user(x)} downloads message {x.number} ({code(what)}, {plural.size_en(x.size)})"
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


_TEXTS_POP3: dict = {
    f.Pop3Login: _pop3_login,
    f.Pop3Listed: _pop3_listed,
    f.Pop3Retrieved: _pop3_retrieved,
    f.Pop3Deleted: _pop3_deleted,
    f.Pop3SessionEnded: _pop3_ended,
    f.Pop3Error: _pop3_error,
}


# -------------------- imap ------------------------------------------------------------------

_IMAP_KEEP = ("The messages stay on the server (IMAP keeps mail on the server; POP3 would usually "
              "download and delete them).")




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
            f"client of this user sees the same ones; {flag('Sent')}, {flag('Trash')} "
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
        return summary, (f"{code('CLOSE')} removes the messages marked {flag('Deleted')} (an "
                         f"{code('EXPUNGE')} without the {code('EXPUNGE')} responses) and leaves the "
                         f"folder. The other open sessions are told with {code('EXPUNGE')}.")
    return summary, (f"Messages marked {flag('Deleted')} are now really removed from the "
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
            f"The mail client (MUA) changes flags on the server ({flag('Seen')} = read, "
            f"{flag('Flagged')} = starred, {flag('Deleted')} = to be removed by "
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


_TEXTS_IMAP: dict = {
    f.ImapLogin: _imap_login, f.ImapLogout: _imap_logout, f.ImapSelect: _imap_select,
    f.ImapCreate: _imap_create, f.ImapList: _imap_list, f.ImapAppend: _imap_append,
    f.ImapExpunge: _imap_expunge, f.ImapFetch: _imap_fetch, f.ImapStore: _imap_store,
    f.ImapCopy: _imap_copy, f.ImapMove: _imap_move, f.ImapIdle: _imap_idle, f.ImapError: _imap_error,
}



# -------------------- lesson --------------------------------------------------------------

_LESSON_ACTIONS = {
    "say": lambda d: "narration",
    "send": lambda d: f"{d.get('sender', '')} sends a message to {', '.join(d.get('to', ()))}",
    "fetch": lambda d: f"{d.get('user', '')} reads the mailbox over {str(d.get('protocol', '')).upper()}",
    "wait": lambda d: (f"wait {d.get('seconds', 0):g} s" if not d.get("event")
                       else f"wait until a message is {d.get('event')}"
                       + (f" for {d['rcpt']}" if d.get("rcpt") else "")),
    "host_down": lambda d: f"{d.get('host', '')} is switched off",
    "host_up": lambda d: f"{d.get('host', '')} is switched on",
    "set_mx": lambda d: f"the MX table of {d.get('domain', '')} changes",
    "fault": lambda d: (f"the fault {code(str(d.get('kind', '')))} on {d.get('target', '')} is "
                        + ("removed" if d.get("off") else "set")),
    "expect": lambda d: "a check of what happened",
}


def _lesson_step(x: f.LessonStep) -> tuple[str, str]:
    detail = dict(x.detail)
    what = _LESSON_ACTIONS.get(x.action, lambda d: x.action)(detail)
    summary = f"step {x.index + 1} of {x.total}: {x.say_en or what}"
    return summary, (x.say_en or f"The lesson goes on: {what}.")


_LESSON_WANTED = {
    "delivered": lambda w: f"{w.get('rcpt')} receives the message"
                           + (f" (exactly {plural.en(w['count'], 'copy', 'copies')})" if w.get("count") is not None else ""),
    "bounced": lambda w: f"the message to {w.get('rcpt')} comes back as a bounce"
                         + (f" with status {code(w['status'])}" if w.get("status") else ""),
    "deferred": lambda w: f"the message to {w.get('rcpt')} is deferred"
                          + (" and delivered later" if w.get("then_delivered") else ""),
    "via": lambda w: f"{w.get('host')} accepts the message" + (f" for {w['rcpt']}" if w.get("rcpt") else ""),
    "mailbox": lambda w: f"the mailbox {w.get('rcpt')} holds {plural.en(w.get('count') or 0, 'message', 'messages')}",
    "reply": lambda w: f"a server answers {code(str(w.get('code')))}"
                       + (f" to {code(w['command'])}" if w.get("command") else "")
                       + (f" at {w['host']}" if w.get("host") else ""),
}


def _lesson_found(found: dict) -> str:
    parts = []
    if "delivered" in found:
        parts.append(f"delivered {plural.en(found['delivered'], 'time', 'times')}")
    if found.get("bounced"):
        parts.append(f"bounced with {codes(found['bounced'])}")
    elif "bounced" in found:
        parts.append("no bounce")
    if "deferred" in found:
        parts.append(f"deferred {plural.en(found['deferred'], 'time', 'times')}")
    if "via" in found:
        parts.append(f"accepted by {', '.join(found['via'])}" if found["via"] else "accepted by no MX")
    if "messages" in found:
        parts.append(f"the mailbox holds {plural.en(found['messages'], 'message', 'messages')}")
    if "replies" in found:
        parts.append(f"replies seen: {codes(found['replies'])}" if found["replies"] else "no such reply seen")
    if found.get("moving"):
        parts.append("mail was still moving when the time ran out, so the count proves nothing yet")
    return "; ".join(parts) or "nothing"


def _lesson_expect(x: f.LessonExpectation) -> tuple[str, str]:
    wanted = _LESSON_WANTED.get(x.expect, lambda w: x.expect)(dict(x.wanted))
    found = _lesson_found(dict(x.found))
    if x.passed:
        return f"as expected: {wanted}", f"The lesson checked that {wanted}, and so it is ({found})."
    return (f"not as expected: {wanted}",
            f"Step {x.index + 1} ({code(x.file)}, line {x.line}) expected that {wanted}. What happened: {found}.")


def _lesson_error(x: f.LessonStepFailed) -> tuple[str, str]:
    return (f"step {x.index + 1} ({x.action}) could not be done: {reason('en', x.reason)}",
            f"The lesson stopped at step {x.index + 1} ({code(x.file)}, line {x.line}): {reason('en', x.reason)}.")


def _lesson_end(x: f.LessonEnded) -> tuple[str, str]:
    if x.failed_index < 0:
        return (f"the lesson {x.lesson} is over: {plural.en(x.passed, 'check', 'checks')} passed",
                f"All {plural.en(x.total, 'step', 'steps')} of the lesson ran, and every check passed.")
    return (f"the lesson {x.lesson} stopped at step {x.failed_index + 1}",
            f"The lesson ran {x.done} of {plural.en(x.total, 'step', 'steps')}; step {x.failed_index + 1} failed.")


_TEXTS_LESSON: dict = {f.LessonStep: _lesson_step, f.LessonExpectation: _lesson_expect,
                       f.LessonStepFailed: _lesson_error, f.LessonEnded: _lesson_end}

_REASONS_LESSON: dict = {
    f.StepReason.CONNECT: lambda r: f"nothing answered at {code(r['address'])} ({code(r['error'])})",
    f.StepReason.LOGIN: lambda r: f"the server refused the login of {r['user']} ({code(r['reply'])})",
    f.StepReason.PROTOCOL: lambda r: f"the server answered {code(r['reply'])}",
    f.StepReason.TIMEOUT: lambda r: f"it did not happen within {r['seconds']:g} s",
    f.StepReason.UNSUPPORTED: lambda r: f"this world cannot do {code(r['action'])} yet",
    f.StepReason.ERROR: lambda r: f"an error: {code(r['error'])}",
}


# -------------------- ui --------------------------------------------------------------------

_UI_UI: dict = {
    "role.teacher": "Teacher",
    "role.viewer": "Watching",
    "role.viewer.hint": "Only the teacher can control the simulation.",
    "lang.label": "Language",
    "noworld": "The mail world is not running.",

    # the step gate
    "gate.controls": "Play, pause and step",
    "gate.play": "Play",
    "gate.pause": "Pause",
    "gate.step": "Step",
    "gate.step.hint": "Release exactly one hop (→ or S)",
    "gate.speed": "Speed",
    "gate.speed.0": "Full speed",
    "gate.speed.0.5": "0.5 s per hop",
    "gate.speed.1": "1 s per hop",
    "gate.speed.2": "2 s per hop",
    "gate.speed.4": "4 s per hop",
    "gate.running": "Running",
    "gate.paused": "Paused",
    "gate.waiting.more": "(+{n} more)",
    "gate.waiting.none": "Nothing waiting: the next hop will stop here.",
    "gate.by": "Step by",
    "gate.by.hop": "by hop",
    "gate.by.line": "by SMTP line",
    "gate.by.hint": "Step a whole hop, or each line of an SMTP dialogue",

    # looking back
    "review.controls": "Hop by hop through what happened",
    "review.back": "Back one hop (←)",
    "review.forward": "Forward one hop (→)",
    "review.live": "Live",
    "review.live.hint": "Back to what is happening now (End)",
    "review.banner": "Looking back: hop {pos} of {total}. The diagram shows the world at that moment.",
    "review.position": "{pos} / {total}",
    "review.livepos": "{total} {total#hop|hops}",

    # the world drawer
    "world.button": "World",
    "world.title": "Change the world",
    "world.close": "Close",
    "world.hosts": "Servers",
    "world.hosts.hint": "A server that is down refuses connections: mail waits or goes to another MX.",
    "world.up": "Running",
    "world.down": "Down",
    "world.takeDown": "Take down",
    "world.bringUp": "Bring up",
    "world.mx": "MX records",
    "world.mx.hint": "The lowest MX preference is tried first: MX 10 before MX 20. Changes apply to the "
                     "next DNS lookup.",
    "world.mx.preference": "MX preference",
    "world.mx.host": "Mail server",
    "world.mx.null": ". (null MX: no mail)",
    "world.mx.add": "Add record",
    "world.mx.remove": "Remove",
    "world.mx.save": "Save MX table",
    "world.mx.none": "No MX records: the domain's own address is used (implicit MX).",
    "world.mx.saved": "MX table of {domain} saved.",
    "world.flush": "Retry all queues now",
    "world.flushed": "{n} queued {n#message|messages} will be retried now.",

    # sending a test message
    "send.title": "Send a test message",
    "send.from": "From",
    "send.to": "To",
    "send.subject": "Subject",
    "send.body": "Text",
    "send.submit": "Send",
    "send.defaultSubject": "Hello from the classroom",
    "send.defaultBody": "Hi! This letter travels through the sandbox.",
    "send.ok": "Sent: the MSA answered `{reply}`",
    "send.pending": "Submitted. The MSA answers when the hop is released (step mode).",

    # the clients drawer
    "clients.button": "Clients",
    "clients.button.hint": "Settings for Thunderbird, mutt, mbsync, fetchmail, curl",
    "clients.webmail": "Or open the webmail: a mail client in the browser, for any user of the world",
    "clients.title": "Connect a mail client",
    "clients.intro": "Point Thunderbird, mutt, mbsync, fetchmail or curl at the sandbox. The login is always "
                     "the full address; the password is the sandbox's own.",
    "clients.accounts": "Accounts",
    "clients.login": "Login",
    "clients.password": "Password",
    "clients.passwordHidden": "Passwords are shown only on the teacher's screen.",
    "clients.autoconfig": "Autoconfig",
    "clients.autoconfig.hint": "Thunderbird's autoconfig document for the account's domain",
    "clients.autoconfigDoc": "The autoconfig document of {domain}",
    "clients.showCommands": "Show the command lines for this account",
    "clients.commandsFor": "Commands",
    "clients.account": "For the account",
    "clients.servers": "Servers (the front door)",
    "clients.service": "Service",
    "clients.server": "Server",
    "clients.starttls": "Port · STARTTLS",
    "clients.plain": "Port · no encryption",
    "clients.ssl": "Port · SSL/TLS",
    "clients.what.imap": "read, mail stays on the server",
    "clients.what.pop3": "download (and delete)",
    "clients.what.smtp": "send (submission)",
    "clients.servers.hint": "Authentication: normal password. The STARTTLS ports also accept a login without "
                            "encryption — then the password is visible in the transcript.",
    "clients.servers.hintNoTls": "TLS is switched off in this run: the ports speak without encryption only.",
    "clients.fingerprint": "Certificate (self-signed, for localhost) · SHA-256 fingerprint",
    "clients.fingerprint.hint": "The mail client asks once to accept this certificate: compare the "
                                "fingerprint before you confirm.",
    "clients.noTls": "TLS is switched off: there is no certificate.",
    "clients.commands": "Command line",
    "clients.cmd.curl": "curl — list the INBOX folder over IMAP",
    "clients.cmd.swaks": "swaks — send a message through submission",
    "clients.cmd.prompt": "Without the password in the command, curl and swaks ask for it.",
    "clients.copy": "Copy",
    "clients.copied": "Copied ✓",
    "clients.selected": "Selected: Ctrl+C",
    "clients.tb.title": "Thunderbird: fill everything in automatically",
    "clients.tb.step1": "Settings → General → Config Editor… (at the bottom of the page), then set this "
                        "preference:",
    "clients.tb.step2": "Then add a mail account with the address and the password: the wizard finds the "
                        "servers and ports.",
    "clients.tb.documents": "Autoconfig documents:",
    "clients.loopbackOnly": "The mail servers listen on the teacher's computer only (127.0.0.1): these "
                            "settings work there, not from another machine.",
    # -- D (issue 11): applications trusting the certificate
    "clients.trust.title": "Applications: trust the certificate",
    "clients.trust.intro": "A mail client asks once to accept the certificate; a program checks it against "
                           "its own list of trusted certificates and refuses it. Add this file to that list "
                           "(it is self-signed: it is its own authority):",
    "clients.trust.introOwn": "The servers use your own certificate (`--tls-cert`). A program trusts it when "
                              "this file — or the authority that signed it — is in its list:",
    "clients.trust.names": "Connect by one of its names:",
    "clients.trust.download": "Download the certificate (for another computer)",
    "clients.trust.python": "`Python` (`smtplib`, `imaplib`, `urllib`): `SSL_CERT_FILE`",
    "clients.trust.pythonCode": "`Python`, for one connection only",
    "clients.trust.djangoSettings": "`Django`: `settings.py`",
    "clients.trust.django": "`Django`: start it with the same variable",
    "clients.trust.node": "`Node.js` (`Nodemailer` and others): `NODE_EXTRA_CA_CERTS`",
    "clients.trust.curl": "`curl`: `--cacert`",
    "clients.trust.note": "`SSL_CERT_FILE` replaces the program's whole list: it then trusts the sandbox only. "
                          "Fine for tests; a program that also talks to real servers needs a file with both "
                          "(see the `README`).",

    # the timeline
    "timeline.title": "Timeline",
    "timeline.allMessages": "All messages",
    "timeline.allProtocols": "All protocols",
    "timeline.filter.message": "Message",
    "timeline.filter.protocol": "Protocol",
    "timeline.empty": "Nothing has happened yet. Send a letter to start.",
    "timeline.count": "{shown} of {total} {total#hop|hops}",
    "timeline.earlier": "{n} earlier {n#hop is|hops are} not listed here: press ← or Home, or pick one "
                        "message.",

    # the details of a hop
    "details.empty": "Select a hop in the timeline (or press ←) to see its dialogue, its explanation and the "
                     "message.",
    "details.transcript": "Dialogue",
    "details.message": "Message",
    "details.dns": "DNS question and answer",
    "details.noTranscript": "No network dialogue for this hop.",
    "details.client": "client",
    "details.server": "server",
    "details.note": "note",
    "details.follow": "Follow this message",
    "details.unfollow": "Show all messages",
    "details.trace": "message",
    "transcript.cut": "[{n} more {n#line|lines} of the message]",
    "transcript.tlsHidden": "{n} {n#line|lines} encrypted by TLS: a listener on the network — and this page — "
                            "sees only that they were sent. The teacher's screen shows them.",
    "dns.question": "Question",
    "dns.answer": "Answer",
    "dns.chosen": "tried first",
    "dns.then": "next",
    "dns.noAnswer": "no records",
    "dns.rcode": "Result code",
    # -- B (diagram, issue 9): the DNS answer, the queue countdown, zoom, the fold, the edge legend
    "answer.answered": "DNS answered",
    "answer.kept": "{host} keeps",
    "answer.noRoute": "no route for the mail",
    "answer.why": "why: {why}",
    "answer.why.lowest_first": "lowest preference first",
    "answer.why.own_preference": "it is itself MX {own}: only better (lower) preferences count",
    "answer.why.equal_random": "equal preference {preference}: tried in random order",
    "answer.why.implicit_mx": "no MX records: the domain's own `A` record stands in",
    "answer.why.null_mx": "the domain publishes a null MX: it takes no mail",
    "answer.why.nxdomain": "the domain does not exist",
    "answer.why.outside": "outside the sandbox: DNS refuses to answer",
    "answer.why.loop": "it is the best MX itself: the mail would loop",
    "answer.why.no_address": "no MX host has an address",
    "answer.why.no_mail_server": "neither MX nor `A` records",
    "answer.why.dns_rcode": "DNS answered {rcode}",
    "answer.why.dns_no_answer": "DNS did not answer",
    "node.retry": "↻ {s} s",
    "node.retryNow": "↻ now",
    "zoom.in": "Zoom in (+)",
    "zoom.out": "Zoom out (−)",
    "zoom.reset": "Show the whole world (0)",
    "diagram.unfold": "click to show its servers",
    "legend.edge.smtp": "SMTP: mail between servers",
    "legend.edge.dns": "DNS question",
    "legend.edge.retrieve": "IMAP / POP3: reading mail",
    "legend.edge.local": "delivery on the server (MDA)",

    # the message as it was at a hop
    "message.envelope": "Envelope (what the servers use)",
    "message.headers": "Headers (what the reader sees)",
    "message.mailFrom": "`MAIL FROM`",
    "message.rcptTo": "`RCPT TO`",
    "message.from": "`From:`",
    "message.to": "`To:`",
    "message.subject": "`Subject:`",
    "message.id": "`Message-ID:`",
    "message.date": "`Date:`",
    "message.returnPath": "`Return-Path:`",
    "message.deliveredTo": "`Delivered-To:`",
    "message.received": "`Received:` chain (newest first — each server adds one line on top)",
    "message.receivedNew": "added at this hop",
    "message.none": "No message at this hop.",
    "message.asSeen": "As last seen at hop {seq}.",
    "message.open": "Open the delivered message",
    "message.body": "Text of the message",
    "message.html": "The message's `HTML` part (shown in a sealed frame: no scripts, no network)",
    "message.gone": "This message is no longer in the mailbox.",
    "message.attachments": "Attachments",
    "message.attachment": "{name} ({type}, {size})",
    # -- D (issue 11): long texts in pages, the raw source, attachments to download
    "message.attachment.download": "Download this attachment",
    "message.textMore": "Show more of the text",
    "message.textShown": "{shown} of {total} {total#character|characters} shown",
    "message.source": "The message's source (as it lies in the mailbox, headers included)",
    "message.source.show": "Show the source",
    "message.source.hide": "Hide the source",
    "message.source.more": "Show more of the source",
    "message.source.shown": "{shown} of {total} shown",
    "message.source.download": "Download (`.eml`)",

    # sizes (the rules of plural.size_en)
    "size.bytes": "{n} {n#byte|bytes}",
    "size.kb": "{x} KB",
    "size.mb": "{x} MB",
    "size.point": ".",

    # the diagram
    "diagram.label": "The mail world: who passes a letter to whom",
    "node.mua": "mail client (MUA)",
    "node.mua.short": "mail client",
    "node.msa": "sending server (MSA + MTA)",
    "node.msa.short": "MSA + MTA",
    "node.mx": "receiving server (MX)",
    "node.backup-mx": "backup MX",
    "node.mda": "delivery agent (MDA)",
    "node.mda.short": "delivery agent",
    "node.mailbox": "mailbox",
    "node.mailbox.count": "mailbox · {n}",
    "node.dns": "name server",
    "node.front": "front door",
    "node.front.caption": "127.0.0.1",
    "node.outside": "outside program",
    "node.outside.caption": "not a sandbox host",
    "node.internet": "Internet",
    "node.internet.caption": "the outside world",
    "node.internet.catch": "mail for it is caught here",
    "node.internet.bounce": "mail for it bounces",
    "node.internet.caught": "caught · {n}",
    "node.internet.kept": "kept · {n}",
    "node.app": "application",
    "node.app.caption": "app port",
    "node.app.short": "app",
    "node.down": "DOWN",
    "node.queue": "{n} in queue",
    "node.notInMx": "not in the MX table",
    "node.mxPref": "MX {p}",
    "node.backupPref": "backup MX {p}",
    "col.mua": "Mail clients (MUA)",
    "col.msa": "Sending (MSA + MTA)",
    "col.net": "DNS",
    "col.mx": "Receiving (MX)",
    "col.mda": "Delivery (MDA)",
    "col.mailbox": "Mailboxes",
    "host.title": "Server {name}",
    "host.address": "Address",
    "host.role": "Role",
    "host.state": "State",
    "host.queue": "Messages waiting in its queue",
    "mailbox.title": "Mailbox of {address}",
    "mailbox.empty": "The mailbox is empty.",
    "mailbox.loading": "Loading…",

    # the legend
    "legend.label": "What the colours and marks mean",
    "legend.ok": "accepted",
    "legend.deferred": "deferred (retry)",
    "legend.bounced": "bounced",
    "legend.failed": "refused / failed",
    "legend.down": "server down",
    "legend.pop3": "POP3: download + delete",
    "legend.imap": "IMAP: stays on server",
    "keys.help": "Keys: Space play/pause · ← → hop by hop · S step · N next step · P present · End live · + − 0 zoom · Shift+arrows pan",

    # a hop's status and kind
    "status.ok": "OK",
    "status.deferred": "Deferred",
    "status.bounced": "Bounced",
    "status.failed": "Failed",
    "status.info": "Info",
    "protocol.WORLD": "World",
    "protocol.MAILDIR": "Maildir",
    "protocol.GATE": "Gate",
    "kind.smtp.session": "SMTP dialogue",
    "kind.smtp.attempt": "connection attempt",
    "kind.smtp.line": "SMTP dialogue in progress",
    "kind.dns.query": "DNS lookup",
    "kind.dns.served": "DNS question from outside",
    "kind.queue.defer": "kept in the queue",
    "kind.queue.relay": "handed on: leaves the queue",
    "kind.queue.bounce": "bounce",
    "kind.queue.quarantine": "quarantine: the queue entry cannot be handled",
    "kind.queue.dsn": "delivery status notification",
    "kind.queue.retry": "time to try again",
    "kind.mda.deliver": "put into the mailbox",
    "kind.outside.catch": "caught by the outside world",
    "kind.world.host": "server on or off",
    "kind.world.mx": "MX table changed",
    "kind.gate.waiting": "waiting for permission",
    "kind.pop3.login": "POP3 login",
    "kind.pop3.list": "POP3 list",
    "kind.pop3.retr": "POP3 download",
    "kind.pop3.dele": "POP3 delete",
    "kind.pop3.quit": "POP3 end of session",
    "kind.pop3.error": "POP3 error",
    "kind.imap.login": "IMAP login",
    "kind.imap.list": "IMAP folder list",
    "kind.imap.select": "IMAP open folder",
    "kind.imap.fetch": "IMAP read (copy stays)",
    "kind.imap.store": "IMAP flags",
    "kind.imap.expunge": "IMAP expunge",
    "kind.imap.idle": "IMAP waiting for news",
    "kind.imap.append": "IMAP save copy",
    "kind.imap.copy": "IMAP copy",
    "kind.imap.move": "IMAP move",
    "kind.imap.create": "IMAP new folder",
    "kind.imap.logout": "IMAP logout",
    "kind.imap.error": "IMAP error",
    "retrieval.pop3": "POP3 downloads a copy; the server deletes a letter only after `DELE` and then `QUIT`",
    "retrieval.pop3-delete": "POP3 downloads the letter and deletes it from the server",
    "retrieval.imap": "IMAP shows the letter; the original stays on the server",
    "retrieval.imap-expunge": "IMAP removes the letters marked `\\Deleted` (`EXPUNGE`) from the server",

    # notices
    "notice.close": "Dismiss",
    "notice.disconnected": "Connection to the simulator lost — reconnecting…",
    "notice.reconnected": "Reconnected.",
    "notice.error": "Error: {message}",
    "notice.refused": "The live view refused this page: {message}",

    # the glossary: the seed article's terms
    "glossary.button": "Terms",
    "glossary.button.hint": "What MUA, MSA, MTA, MDA, MX, SMTP, POP3 and IMAP stand for",
    "glossary.title": "Terms of the mail world",
    "glossary.sender": "The sending server of a domain ({host} here) is two things at once: the sender's "
                       "MSA, which accepts the letter from the mail client (MUA) after a login, and its MTA, "
                       "which then looks up the recipient's MX in DNS and hands the letter on over SMTP.",
    "term.MUA.full": "Mail User Agent",
    "term.MUA.text": "the mail client: the program the person uses to write and read mail (Thunderbird, "
                     "mutt, a webmail page).",
    "term.MSA.full": "Mail Submission Agent",
    "term.MSA.text": "accepts a new letter from its own users' mail clients (port 587, with a login) and puts "
                     "it into the queue.",
    "term.MTA.full": "Mail Transfer Agent",
    "term.MTA.text": "passes mail from server to server over SMTP: the sender's MTA connects to the "
                     "recipient's MX.",
    "term.MDA.full": "Mail Delivery Agent",
    "term.MDA.text": "on the recipient's server, takes the letter from the local MTA and writes it into the "
                     "user's mailbox (a Maildir).",
    "term.MX.full": "Mail Exchanger record",
    "term.MX.text": "a DNS record naming the mail servers of a domain; the lowest MX preference wins: MX 10 "
                    "is tried before MX 20.",
    "term.SMTP.full": "Simple Mail Transfer Protocol",
    "term.SMTP.text": "the protocol for sending: from the mail client to its MSA, and from MTA to MTA.",
    "term.POP3.full": "Post Office Protocol, version 3",
    "term.POP3.text": "the mail client downloads the letters from the mailbox, and usually deletes them "
                      "on the server.",
    "term.IMAP.full": "Internet Message Access Protocol",
    "term.IMAP.text": "the mail client reads the letters where they are: they stay in the mailbox on the "
                      "server, in folders.",

    # what reply codes mean (SMTP: RFC 5321 §4.2, RFC 4954, RFC 3463; DNS: RFC 1035 §4.1.1;
    # POP3: RFC 1939; IMAP: RFC 9051 §7.1)
    "code.smtp.220": "the server is ready",
    "code.smtp.221": "goodbye: the server closes the connection",
    "code.smtp.235": "login accepted",
    "code.smtp.250": "done",
    "code.smtp.251": "the user is not local; the server will forward",
    "code.smtp.334": "the server waits for the login data (`base64`)",
    "code.smtp.354": "go ahead: send the message, end with a line holding a single dot",
    "code.smtp.421": "service not available now: try later",
    "code.smtp.450": "mailbox busy or unavailable: try later",
    "code.smtp.451": "local error: try later",
    "code.smtp.452": "not enough storage, or too many recipients: try again later",
    "code.smtp.500": "command not recognised",
    "code.smtp.501": "syntax error in the arguments",
    "code.smtp.502": "command not implemented",
    "code.smtp.503": "wrong order of commands",
    "code.smtp.530": "log in first (AUTH)",
    "code.smtp.535": "wrong login or password",
    "code.smtp.550": "refused: no such mailbox, or not allowed",
    "code.smtp.551": "the user is not local; send elsewhere",
    "code.smtp.552": "the message is too big for the mailbox or the server: do not retry",
    "code.smtp.553": "this address is not allowed",
    "code.smtp.554": "transaction failed",
    "code.smtp.555": "`MAIL FROM` / `RCPT TO` parameters not recognised",
    "code.class.2": "success",
    "code.class.3": "go on",
    "code.class.4": "temporary failure: try later",
    "code.class.5": "permanent failure: do not retry",
    "code.enh.2.0.0": "success",
    "code.enh.2.1.0": "sender OK",
    "code.enh.2.1.5": "recipient OK",
    "code.enh.2.7.0": "authentication succeeded",
    "code.enh.4.4.1": "no answer from the host",
    "code.enh.4.4.7": "delivery time expired",
    "code.enh.5.1.1": "no such user",
    "code.enh.5.1.10": "the domain accepts no mail (null MX)",
    "code.enh.5.1.2": "bad destination domain",
    "code.enh.5.4.6": "mail loop",
    "code.enh.5.7.0": "authentication required",
    "code.enh.5.7.1": "relaying denied",
    "code.enh.5.7.8": "bad credentials",
    "code.dns.NOERROR": "the name exists; here is the answer",
    "code.dns.NXDOMAIN": "no such domain",
    "code.dns.SERVFAIL": "the server failed: try later",
    "code.dns.REFUSED": "refused: outside the sandbox's zones",
    "code.dns.FORMERR": "the question was malformed",
    "code.dns.NOTIMP": "this kind of question is not supported",
    "code.pop3.+OK": "POP3: yes, done",
    "code.pop3.-ERR": "POP3: error",
    "code.imap.OK": "IMAP: done",
    "code.imap.NO": "IMAP: refused",
    "code.imap.BAD": "IMAP: malformed command",
    "code.imap.BYE": "IMAP: the server closes the connection",
    "code.imap.PREAUTH": "IMAP: already logged in",
}


# -- export (helper X): the replay bar of an exported run (static/js/offline/bar.js) ------------------
_UI_EXPORT: dict = {
    "offline.badge": "Saved copy",
    "offline.saved": "Saved on {date} from the world “{title}”. No server and no network: everything is in this file.",
    "offline.trace": "One message: {label}",
    "offline.controls": "Replay of the saved run",
    "offline.restart": "From the start",
    "offline.restart.hint": "Replay the run again from its first hop",
    "offline.play": "Play",
    "offline.pause": "Pause",
    "offline.all": "Show all",
    "offline.all.hint": "Show the whole run at once, without the replay",
    "offline.speed": "Replay speed",
    "offline.speed.slow": "Slow",
    "offline.speed.normal": "Normal",
    "offline.speed.fast": "Fast",
    "offline.progress": "{shown} of {total}",
    "offline.readonly": "This is a saved copy: nothing can be changed in it.",
    "offline.notsaved": "This is not in the saved copy: it keeps the hops, not the servers.",
    "offline.nonetwork": "A saved copy uses no network.",
    "offline.broken": "The saved run is missing from this file.",
}


# -------------------- faults (helper F: simulator/faults.py) ----------------------------------

def _fault_secs(value: float) -> str:
    return f"{round(value, 1):g} s"


def _fault_code(text: str, fallback: str) -> str:
    return code(text) if text else fallback


def _fault_reply_set(x) -> str:
    """The reply a ``reply`` fault gives, as set (code and text)."""
    return _fault_code(f"{x.code or ''} {x.text}".strip(), "a chosen reply")


def _fault_command(command: str) -> str:
    named = {"CONNECT": "the greeting", "DOT": "the end of DATA (the final dot)",
             "DELIVER": "delivery into the mailbox"}
    return named.get(command) or _fault_code(command, "a command")


def _fault_times(times: int) -> str:
    if times <= 0:
        return "every time"
    return "once" if times == 1 else f"{times} times"


def _fault_next(reply: str) -> str:
    """What the sender does after this reply: the first digit decides (RFC 5321 §4.2.1)."""
    if reply[:1] == "4":
        return (f" A {code('4xx')} reply is temporary: the sending server keeps the message in its "
                f"queue and tries again later.")
    if reply[:1] == "5":
        return (f" A {code('5xx')} reply is permanent: the sending server gives up and sends a bounce "
                f"back to the message's author.")
    return ""


def _fault_slow_parts(greeting: float, data: float) -> str:
    parts = []
    if greeting > 0:
        parts.append(f"its {code('220')} greeting comes {_fault_secs(greeting)} late")
    if data > 0:
        parts.append(f"its reply to the end of DATA comes {_fault_secs(data)} late")
    return " and ".join(parts) or "it answers late"


_FAULT_LABEL = {
    f.FaultKind.GREYLIST: "greylisting", f.FaultKind.SLOW: "a slow server",
    f.FaultKind.REPLY: "a chosen reply", f.FaultKind.SIZE_LIMIT: "a size limit",
    f.FaultKind.REQUIRE_TLS: "required TLS", f.FaultKind.NO_TLS: "no TLS",
    f.FaultKind.REFUSE: "refused connections", f.FaultKind.MAILBOX_FULL: "a full mailbox",
    f.FaultKind.SERVFAIL: f"{code('SERVFAIL')} answers", f.FaultKind.DNS_TIMEOUT: "a silent DNS",
    f.FaultKind.NO_ADDRESS: "a missing address record",
}


def _fault_on_greylist(x: f.FaultChanged) -> tuple[str, str]:
    later = f"at least {_fault_secs(x.delay)} later" if x.delay > 0 else "later"
    return (f"greylisting on {x.target}",
            f"{x.target} now greylists: the first time it sees a triplet (client address, envelope "
            f"sender, recipient) it answers {code('450 4.7.1')} at {code('RCPT TO')} and remembers it; "
            f"the same triplet retried {later} is accepted. Real servers do this against spam: spam "
            f"software seldom comes back, while a real MTA always retries a {code('4xx')} reply. The "
            f"sender keeps the message in its queue and tries again.")


def _fault_on_slow(x: f.FaultChanged) -> tuple[str, str]:
    parts = _fault_slow_parts(x.greeting, x.end_of_data)
    return (f"{x.target} is slow: {parts}",
            f"{x.target} is now slow: {parts}. Real servers are slow when they are overloaded, when "
            f"they check the client against blocklists before greeting it (some wait on purpose, to "
            f"catch spam software that talks before its turn), or when a content filter scans the "
            f"message. A sending MTA waits (RFC 5321 §4.5.3.2 allows minutes); if it gives up first, "
            f"it keeps the message and retries.")


def _fault_on_reply(x: f.FaultChanged) -> tuple[str, str]:
    reply, at = _fault_reply_set(x), _fault_command(x.command)
    greeting = (f" A greeting other than {code('220')} ends the connection at once: the sender tries "
                f"its next MX." if x.command == "CONNECT" else "")
    return (f"{x.target} answers {reply} at {at}, {_fault_times(x.times)}",
            f"{x.target} now answers {reply} at {at} instead of its real reply "
            f"({_fault_times(x.times)}), like a server with a problem of its own: a full disk, a "
            f"policy, a bug.{greeting} The first digit tells the sender what to do: {code('4xx')}, keep "
            f"the message and retry later; {code('5xx')}, give up and bounce it.")


def _fault_on_size(x: f.FaultChanged) -> tuple[str, str]:
    return (f"{x.target} takes messages up to {plural.size_en(x.size)}",
            f"{x.target} now announces {code(f'SIZE {x.size}')} in its EHLO reply (RFC 1870). A sender "
            f"that gives the message's size with {code('MAIL FROM')} is refused at once with "
            f"{code('552 5.3.4')} if it is larger; a larger message sent anyway is refused with the "
            f"same code at the end of DATA. Real servers limit the size to protect their disks and "
            f"mailboxes. {code('552')} is permanent: the sender bounces the message.")


def _fault_on_require_tls(x: f.FaultChanged) -> tuple[str, str]:
    return (f"{x.target} requires TLS",
            f"{x.target} now refuses {code('MAIL FROM')} with {code('530 5.7.0')} until the client has "
            f"started TLS with STARTTLS (RFC 3207), so that no message crosses the network in "
            f"plaintext. A sender that uses STARTTLS (most MTAs do, opportunistically) never notices; "
            f"one that cannot gets a {code('5xx')} reply and bounces the message.")


def _fault_on_no_tls(x: f.FaultChanged) -> tuple[str, str]:
    return (f"{x.target} no longer uses TLS",
            f"{x.target} now neither offers STARTTLS in its EHLO reply nor uses it when it sends "
            f"mail, like an old or badly configured MTA. What it sends and receives crosses the network "
            f"in plaintext, and a receiver that requires TLS refuses its mail.")


def _fault_on_refuse(x: f.FaultChanged) -> tuple[str, str]:
    return (f"{x.target} refuses connections on its MX port",
            f"Nothing listens on the MX port of {x.target} any more (as when its MTA is stopped or a "
            f"firewall rejects the port), while the host stays up: IMAP, POP3 and submission still "
            f"work. A sending MTA gets 'connection refused' and tries the next MX; if none takes the "
            f"message, it keeps it and retries later.")


def _fault_on_mailbox_full(x: f.FaultChanged) -> tuple[str, str]:
    if x.permanent:
        reply, after = code("552 5.2.2"), "This is permanent: the sender bounces the message."
    else:
        reply, after = (code("452 4.2.2"), "This is temporary: the sender keeps the message and retries, "
                                           "in case the user makes room.")
    return (f"the mailbox {x.target} is full",
            f"The mailbox {x.target} is over its quota: its server answers {reply} at "
            f"{code('RCPT TO')}, and its MDA will not write into it. Real servers set quotas so that one "
            f"user cannot fill the disk. {after}")


def _fault_on_servfail(x: f.FaultChanged) -> tuple[str, str]:
    return (f"the DNS answers {code('SERVFAIL')} for {x.target}",
            f"The sandbox DNS now answers {code('SERVFAIL')} for every name in the zone {x.target}, as "
            f"when the zone's name server is broken or cannot load its data. {code('SERVFAIL')} means "
            f"'I cannot tell you now', not 'it does not exist': a sending MTA keeps the message "
            f"({code('4.4.3')}) and retries, whereas {code('NXDOMAIN')} bounces it.")


def _fault_on_dns_timeout(x: f.FaultChanged) -> tuple[str, str]:
    return (f"the DNS does not answer for {x.target}",
            f"The sandbox DNS now ignores every question about the zone {x.target}, as a dead or "
            f"firewalled name server does: a question over UDP gets no answer, a TCP connection is "
            f"closed without one. The asking MTA waits until its resolver gives up, then keeps the "
            f"message and retries.")


def _fault_on_no_address(x: f.FaultChanged) -> tuple[str, str]:
    return (f"{x.target} has lost its address record",
            f"The {code('A')} record of {x.target} is gone from its zone: DNS may still name the host "
            f"(in an MX record) but no longer says at which address it is. A sending MTA that finds "
            f"no address for an MX moves on to the next one; if no MX has an address, it keeps the "
            f"message and retries.")


_FAULT_ON = {
    f.FaultKind.GREYLIST: _fault_on_greylist, f.FaultKind.SLOW: _fault_on_slow,
    f.FaultKind.REPLY: _fault_on_reply, f.FaultKind.SIZE_LIMIT: _fault_on_size,
    f.FaultKind.REQUIRE_TLS: _fault_on_require_tls, f.FaultKind.NO_TLS: _fault_on_no_tls,
    f.FaultKind.REFUSE: _fault_on_refuse, f.FaultKind.MAILBOX_FULL: _fault_on_mailbox_full,
    f.FaultKind.SERVFAIL: _fault_on_servfail, f.FaultKind.DNS_TIMEOUT: _fault_on_dns_timeout,
    f.FaultKind.NO_ADDRESS: _fault_on_no_address,
}

_FAULT_OFF_MORE = {
    f.FaultKind.GREYLIST: " It also forgets the triplets it remembered.",
    f.FaultKind.REFUSE: " Its MX port listens again: the senders' next retry gets through.",
    f.FaultKind.NO_ADDRESS: f" The {code('A')} record is back in the zone.",
    f.FaultKind.SERVFAIL: " Waiting messages get through at their next retry.",
    f.FaultKind.DNS_TIMEOUT: " Waiting messages get through at their next retry.",
    f.FaultKind.MAILBOX_FULL: " Waiting messages get through at their next retry.",
}


def _fault_changed(x: f.FaultChanged) -> tuple[str, str]:
    label = _FAULT_LABEL[x.fault]
    if x.on:
        return _FAULT_ON[x.fault](x)
    if x.spent:
        return (f"{x.target} answers normally again",
                f"{x.target} gave its chosen reply {_fault_reply_set(x)} at {_fault_command(x.command)} "
                f"{_fault_times(x.times)}, as it was set to, and answers normally again.")
    return (f"{label} removed from {x.target}",
            f"The fault is removed: {x.target} behaves normally again.{_FAULT_OFF_MORE.get(x.fault, '')}")


def _fault_who(x: f.FaultBit) -> str:
    return x.client or "the client"


def _bite_greylist(x: f.FaultBit) -> tuple[str, str]:
    reply = _fault_code(x.reply, "a temporary refusal")
    return (f"{x.target} greylists {_fault_who(x)}: {reply}",
            f"{x.target} has not seen this triplet (client address, envelope sender, recipient) "
            f"before, or sees it again too soon, so it answers {reply}. This is greylisting: spam "
            f"software seldom retries, a real MTA always does.{_fault_next(x.reply)}")


def _bite_slow(x: f.FaultBit) -> tuple[str, str]:
    what = {"CONNECT": f"its {code('220')} greeting", "DOT": "its reply to the end of DATA"}.get(
        x.command, f"its reply to {_fault_code(x.command, 'a command')}")
    return (f"{x.target} is slow: {what} comes in {_fault_secs(x.delay)}",
            f"{x.target} holds back {what} for {_fault_secs(x.delay)}, and {_fault_who(x)} waits. "
            f"RFC 5321 §4.5.3.2 asks a client to wait minutes for a greeting or for the reply to its "
            f"final dot; a client that gives up earlier ends the session without a message, and the "
            f"sender retries later.")


def _bite_reply(x: f.FaultBit) -> tuple[str, str]:
    reply = _fault_code(x.reply, "a chosen reply")
    greeting = (f" A greeting that is not {code('220')} ends the session: the sender tries its next MX."
                if x.command == "CONNECT" else "")
    return (f"{x.target} answers {reply} at {_fault_command(x.command)}",
            f"{x.target} was set to answer {reply} at {_fault_command(x.command)} instead of its real "
            f"reply.{greeting}{_fault_next(x.reply)}")


def _bite_size(x: f.FaultBit) -> tuple[str, str]:
    reply = _fault_code(x.reply, "a refusal")
    when = (f"at {code('MAIL FROM')}, where the client gave the message's size" if x.command == "MAIL"
            else f"at {_fault_command(x.command)}")
    return (f"{x.target} refuses a message too large: {reply}",
            f"{x.target} takes messages only up to the size it announced with {code('SIZE')} in its "
            f"EHLO reply, and this one is larger: {reply} {when}.{_fault_next(x.reply)}")


def _bite_require_tls(x: f.FaultBit) -> tuple[str, str]:
    reply = _fault_code(x.reply, "a refusal")
    return (f"{x.target} wants TLS first: {reply}",
            f"{x.target} accepts mail only over TLS, and {_fault_who(x)} sent {code('MAIL FROM')} "
            f"without STARTTLS first: {reply}.{_fault_next(x.reply)}")


def _bite_no_tls(x: f.FaultBit) -> tuple[str, str]:
    if x.command == "STARTTLS":
        return (f"{x.target} sends without TLS",
                f"The receiving server offered STARTTLS, but {x.target} does not use TLS: the message "
                f"crosses the network in plaintext, readable by anyone who listens. A receiver that "
                f"requires TLS would refuse it with {code('530')}.")
    return (f"{x.target} does not offer STARTTLS",
            f"{x.target} runs without TLS: its EHLO reply leaves STARTTLS out, so {_fault_who(x)} has "
            f"to talk to it in plaintext, and anyone who listens on the network can read the message.")


def _bite_refuse(x: f.FaultBit) -> tuple[str, str]:
    return (f"{x.target} refuses the connection from {_fault_who(x)}",
            f"The MX port of {x.target} is closed, so the connection from {_fault_who(x)} was refused "
            f"at once. The sender tries the next MX; if none takes the message, it keeps it in its "
            f"queue and retries later.")


def _bite_mailbox_full(x: f.FaultBit) -> tuple[str, str]:
    reply = _fault_code(x.reply, "a refusal")
    where = ("Its MDA cannot write into it." if x.command == "DELIVER"
             else f"Its server says so at {_fault_command(x.command)}.")
    return (f"the mailbox {x.target} is full: {reply}",
            f"The mailbox {x.target} is over its quota: {reply}. {where}{_fault_next(x.reply)}")


def _bite_servfail(x: f.FaultBit) -> tuple[str, str]:
    question = _fault_code(x.command, "a question")
    return (f"DNS: {question} → {code('SERVFAIL')}",
            f"The name server of {x.target} is broken: the question {question} from {_fault_who(x)} "
            f"got {code('SERVFAIL')}. This is temporary: the MTA keeps the message and asks again at "
            f"its next retry.")


def _bite_dns_timeout(x: f.FaultBit) -> tuple[str, str]:
    question = _fault_code(x.command, "a question")
    return (f"DNS: no answer to {question}",
            f"The name server of {x.target} does not answer: the question {question} from "
            f"{_fault_who(x)} got nothing back. The MTA's resolver waits, gives up, and the message "
            f"stays in the queue for a later retry.")


def _bite_no_address(x: f.FaultBit) -> tuple[str, str]:
    question = _fault_code(x.command, "a question")
    answer = _fault_code(x.reply, "no address")
    return (f"DNS: {x.target} has no address ({answer})",
            f"{x.target} has no {code('A')} record: the question {question} got {answer}. Without "
            f"an address an MTA cannot connect to this MX: it tries the next one, or keeps the message "
            f"for a later retry.")


_FAULT_BITES = {
    f.FaultKind.GREYLIST: _bite_greylist, f.FaultKind.SLOW: _bite_slow, f.FaultKind.REPLY: _bite_reply,
    f.FaultKind.SIZE_LIMIT: _bite_size, f.FaultKind.REQUIRE_TLS: _bite_require_tls,
    f.FaultKind.NO_TLS: _bite_no_tls, f.FaultKind.REFUSE: _bite_refuse,
    f.FaultKind.MAILBOX_FULL: _bite_mailbox_full, f.FaultKind.SERVFAIL: _bite_servfail,
    f.FaultKind.DNS_TIMEOUT: _bite_dns_timeout, f.FaultKind.NO_ADDRESS: _bite_no_address,
}


def _fault_bit(x: f.FaultBit) -> tuple[str, str]:
    return _FAULT_BITES[x.fault](x)


def _fault_mailbox_full_reason(r: f.Reason) -> str:
    if r.get("permanent"):
        return f"the mailbox {r['rcpt']} on {r['host']} is full, for good ({code('5.2.2')})"
    return f"the mailbox {r['rcpt']} on {r['host']} is full for now ({code('4.2.2')})"


_TEXTS_FAULTS: dict = {f.FaultChanged: _fault_changed, f.FaultBit: _fault_bit}
_REASONS_FAULTS: dict = {
    f.AttemptReason.TLS: lambda r: f"the TLS handshake after STARTTLS failed ({code(r['detail'])})",
    f.DeliveryReason.MAILBOX_FULL: _fault_mailbox_full_reason,
}


TEXTS: dict = {**_TEXTS_WORLD, **_TEXTS_SMTP, **_TEXTS_DNS, **_TEXTS_QUEUE, **_TEXTS_OUTSIDE, **_TEXTS_POP3, **_TEXTS_IMAP,
                 **_TEXTS_LESSON, **_TEXTS_FAULTS}
REASONS: dict = {**_REASONS_SMTP, **_REASONS_DNS, **_REASONS_QUEUE, **_REASONS_LESSON, **_REASONS_FAULTS}


# -------------------- ui: lessons on the page (issue 8, helper W) ---------------------------

_UI_LESSONS_PAGE: dict = {
    "lessons.button": "Lessons",
    "lessons.button.hint": "Choose a lesson, reset the world, open a scenario file, export the run",
    "lessons.title": "Lessons",
    "lessons.now": "Now running",
    "lessons.reset": "Reset the world",
    "lessons.reset.hint": "Start this scenario again with empty mailboxes and queues (the run so far stays in its log)",
    "lessons.export": "Export run",
    "lessons.export.hint": "Download this run as one HTML file that replays offline (for students after class)",
    "lessons.save": "Save world as scenario",
    "lessons.save.hint": "Download the world as it is now (with your MX and server changes) as a scenario file",
    "lessons.file": "Your own scenario file",
    "lessons.file.hint": "A `.yaml` file in the library's format. If it has mistakes, they are listed here and the running world stays as it is.",
    "lessons.file.open": "Open a scenario file…",
    "lessons.library": "The library",
    "lesson.library.empty": "No lessons found.",
    "lesson.level.intro": "intro",
    "lesson.level.core": "core",
    "lesson.level.advanced": "advanced",
    "lesson.level.other": "other scenarios",
    "lesson.steps": "{n} {n#step|steps}",
    "lesson.load": "Load",
    "lesson.reload": "Start again",
    "lesson.loaded": "Loaded: {title}",
    "lesson.resetDone": "The world was reset.",
    "lesson.goals": "Goals",
    "lesson.file.problems": "{file}: {n} {n#problem|problems}",
    "lesson.file.untouched": "Nothing was loaded: the running world is unchanged.",
    "lesson.narration": "The lesson's narration",
    "lesson.steps.label": "The lesson's steps",
    "lesson.position": "Step {k} of {n}",
    "lesson.viewing": "Reading step {k} of {n}",
    "lesson.next": "Next step",
    "lesson.next.hint": "Go on with the lesson: the world does its next step (N)",
    "lesson.nextHop": "Next hop",
    "lesson.state.idle": "not started",
    "lesson.state.running": "running",
    "lesson.state.waiting": "waiting for the next step",
    "lesson.state.finished": "finished",
    "lesson.state.failed": "a check failed",
    "lesson.state.ready": "press Next step to begin",
    "lesson.state.none": "free play",
    "lesson.state.stopped": "stopped",
    "lesson.status.skipped": "skipped",
    "lesson.detail.found": "What happened",
    "lesson.status.pending": "to come",
    "lesson.status.running": "running",
    "lesson.status.waiting": "waiting",
    "lesson.status.passed": "passed",
    "lesson.status.failed": "failed",
    "lesson.status.done": "done",
    "lesson.action.say": "narration",
    "lesson.action.send": "send a letter",
    "lesson.action.fetch": "read a mailbox",
    "lesson.action.wait": "wait",
    "lesson.action.host_down": "switch a server off",
    "lesson.action.host_up": "switch a server on",
    "lesson.action.set_mx": "change MX records",
    "lesson.action.fault": "set a fault",
    "lesson.action.expect": "check",
    "lesson.line": "line {line}",
    "lesson.failedAt": "Step {k} ({action}, line {line}) failed.",
    "lesson.passed": "Check passed",
    "lesson.finished": "The lesson is over: {passed} of {n} {n#check|checks} passed.",
    "lesson.finished.plain": "The lesson is over.",
    "lesson.detail.expected": "Expected",
    "lesson.detail.happened": "What happened",
    "follow.button": "Follow teacher",
    "follow.on.hint": "Your screen follows the teacher's; click to explore on your own",
    "follow.off.hint": "You are exploring on your own; click to follow the teacher again",
    "present.button": "Present",
    "present.hint": "Presentation mode for a projector: larger type (P)",
    "fault.title": "Faults",
    "fault.intro": "Make something go wrong on purpose. Each fault is drawn on its server and explained when it bites.",
    "fault.kind": "Fault",
    "fault.on.host": "Server",
    "fault.on.zone": "Zone",
    "fault.on.mailbox": "Mailbox",
    "fault.param.delay": "Retry accepted after (s)",
    "fault.param.greeting": "Greeting delay (s)",
    "fault.param.data": "Delay after `DATA` (s)",
    "fault.param.at": "At command",
    "fault.param.code": "Reply code",
    "fault.param.text": "Reply text",
    "fault.param.times": "Times (0 = always)",
    "fault.param.size": "Largest message (bytes)",
    "fault.param.permanent": "Permanent (552 rather than 452)",
    "fault.set": "Set fault",
    "fault.clear": "Clear",
    "fault.none": "No faults: everything works.",
    "fault.done": "Fault set: {fault}.",
    "fault.refuse": "Refuses connections",
    "fault.greylist": "Greylisting",
    "fault.slow": "Slow server",
    "fault.reply": "Chosen reply at a command",
    "fault.size_limit": "Size limit",
    "fault.require_tls": "Requires TLS",
    "fault.no_tls": "No TLS",
    "fault.no_address": "Missing A record",
    "fault.mailbox_full": "Mailbox full",
    "fault.servfail": "DNS answers `SERVFAIL`",
    "fault.dns_timeout": "DNS does not answer",
    "fault.refuse.hint": "The server's SMTP port refuses every connection; the server itself stays up.",
    "fault.greylist.hint": "The first attempt from a sender gets `450 4.7.1`; a retry is accepted.",
    "fault.slow.hint": "The greeting and/or the reply to `DATA` come late.",
    "fault.reply.hint": "At the chosen command the server gives your reply instead of the real one.",
    "fault.size_limit.hint": "`EHLO` announces `SIZE`; a larger message is refused with `552 5.3.4`.",
    "fault.require_tls.hint": "`MAIL` before `STARTTLS` is refused with `530 5.7.0`.",
    "fault.no_tls.hint": "An old MTA: it neither offers `STARTTLS` nor uses it when sending.",
    "fault.no_address.hint": "The server's A record is missing from its zone: nobody finds its address.",
    "fault.mailbox_full.hint": "Delivery to this mailbox gets `452 4.2.2` (or `552 5.2.2` when permanent).",
    "fault.servfail.hint": "The DNS server answers `SERVFAIL` for every name in the zone.",
    "fault.dns_timeout.hint": "The DNS server does not answer at all for names in the zone.",
    "fault.refuse.short": "refuses",
    "fault.greylist.short": "greylisting",
    "fault.slow.short": "slow",
    "fault.reply.short": "{code} at {at}",
    "fault.size_limit.short": "max {size} bytes",
    "fault.require_tls.short": "TLS required",
    "fault.no_tls.short": "no TLS",
    "fault.no_address.short": "no A record",
    "fault.mailbox_full.short": "mailbox full",
    "fault.servfail.short": "`SERVFAIL`",
    "fault.dns_timeout.short": "DNS silent",
}


# -- helper C, issue 9: the page's chrome, timeline and details --------------------------------------
_UI_PAGE: dict = {
    "end.mailbox": "mailbox {address}",
    "end.mua": "mail client {address}",
    "details.label": "The selected hop, node or message",
    "details.going": "going on",
    "details.layers": "Layers",
    "details.more": "More…",
    "details.less": "Less",
    "dns.kept": "Kept, in the order tried",
    "gate.next": "Next hop",
    "gate.nothing": "Paused",
    "review.banner.short": "Looking back: hop {pos} of {total}",
    "keys.button": "Keys",
    "wire.clear": "This dialogue is not encrypted: whoever listens on the wire reads every line. `base64` is "
                  "an encoding, not encryption. `STARTTLS`, or the TLS ports (465, 993, 995), would hide the "
                  "password.",
    "wire.hidden": "The login crossed the wire inside TLS: a listener sees only encrypted bytes, and the "
                   "server's transcript shows `********` in its place.",
    "wire.hiddenBy.starttls": "hidden by `STARTTLS`",
    "wire.hiddenBy.implicit": "hidden by TLS (a TLS port)",
    "wire.inClear": "login in clear",
    "wire.tlsFrom": "From here on the dialogue is inside TLS: a listener sees only encrypted bytes.",
    "wire.show": "What a listener reads",
    "wire.hide": "Hide",
    "wire.reads": "A listener on the wire reads:",
    "wire.decoded": "`base64` decodes to",
    "wire.user": "user",
    "wire.password": "password",
    "layers.app": "Application:",
    "layers.app.lines": "The dialogue: {n} {n#line|lines} of {protocol}.",
    "layers.app.none": "No dialogue at this hop.",
    "layers.tcp": "Transport: `TCP`",
    "layers.udp": "Transport: `UDP`",
    "layers.ports": "client port {client} → server port {server}",
    "layers.notMade": "No connection was made: nobody answered at that address.",
    "layers.tls.off.short": "no TLS",
    "layers.tls.starttls.short": "TLS after `STARTTLS`",
    "layers.tls.implicit.short": "TLS from the start",
    "layers.tls.off": "Plain text: every line crossed the wire as it is shown here.",
    "layers.tls.starttls": "The dialogue began in plain text and switched to {version} after `STARTTLS`: "
                           "the lines after it were encrypted on the wire.",
    "layers.tls.implicit": "{version} from the first byte (a TLS port): every line was encrypted on the wire.",
    "layers.tls.starttls.before": "Already under {version}: `STARTTLS` came earlier on this connection, so "
                                  "every line shown here was encrypted on the wire.",
    "layers.ip": "Network: `IP`",
    "layers.ip.sandbox": "In the sandbox every host has its own loopback address `127.42.d.h` (d: its domain, "
                         "h: the host), so the real sockets show who talks to whom. `127.0.0.1` is this "
                         "computer: the front door.",
    "layers.thisComputer": "this computer",
    "layers.unknown": "This hop used no network connection of its own.",
    "layers.partial": "This hop's record carries no socket details (an older log): shown is what it names.",
    "service.dns": "DNS",
    "service.mx": "SMTP, the MX door (port 25's role)",
    "service.submission": "submission, MSA (port 587's role)",
    "service.smtps": "submission over TLS (port 465's role)",
    "service.imap": "IMAP (port 143's role)",
    "service.imaps": "IMAP over TLS (port 993's role)",
    "service.pop3": "POP3 (port 110's role)",
    "service.pop3s": "POP3 over TLS (port 995's role)",
    "service.app": "SMTP for applications, no login (a local sandbox's port 1025)",
    "node.listeners": "Listens on",
    "node.listeners.none": "No listening ports.",
    "node.listeners.service": "Service",
    "node.listeners.address": "Address",
    "node.listeners.port": "Port",
    "node.hops": "Recent hops",
    "node.hops.none": "No hops here yet.",
    "node.hops.more": "and {n} earlier {n#hop|hops}",
    "node.faults": "Faults set here",
    "node.client.title": "Mail client of {address} (MUA)",
    "node.client.what": "The program the user writes and reads mail with (Thunderbird, a phone's mail app). "
                        "It hands new mail to its MSA and reads the mailbox over IMAP or POP3: the mailbox "
                        "itself lives on the server.",
    "node.client.user": "User",
    "node.client.sends": "Sends through",
    "node.client.sendsVia": "{host} (MSA)",
    "node.client.reads": "Reads",
    "node.queue.title": "Queue: {n} {n#message|messages}",
    "node.queue.empty": "The queue is empty.",
    "node.queue.running": "being tried now",
    "node.queue.retryIn": "next attempt in {s} s",
    "node.queue.attempts": "{n} {n#attempt|attempts}",
    "node.dns.title": "DNS: the sandbox's name server",
    "node.dns.what": "It answers for every domain of the sandbox: which hosts take mail for a domain (`MX`) "
                     "and each host's address (`A`). A sending MTA asks it before every delivery.",
    "node.dns.zones": "Zones",
    "node.dns.nullMx": "null MX: the domain accepts no mail (RFC 7505)",
    "node.dns.noMx": "no MX record: mail goes to the domain's own address, if it has one",
    "node.front.title": "The front door (127.0.0.1)",
    "node.front.what": "One address for real mail clients on this computer: after the login it hands the "
                       "session to the user's own servers (the MSA for sending, the mailbox server for reading).",
    "node.outside.title": "Programs outside the sandbox",
    "node.outside.what": "Programs on this computer that are not sandbox hosts (dig, swaks, nc, a student's "
                         "script), talking to a sandbox server directly.",
    "node.outside.peers": "Seen at",
    "node.app.title": "Applications (the app port)",
    "node.app.what": "Programs under test on this computer (a Django site, a script with smtplib) send mail "
                     "to the app port on 127.0.0.1 without a login and from any sender; each message then "
                     "travels the sandbox like a submission, from the MSA of the sender's domain.",
    "node.mda.title": "Delivery agent of {domain} (MDA)",
    "node.mda.what": "It takes a message the MX accepted and writes it into the recipient's mailbox (a "
                     "Maildir on disk).",
    "node.imap.title": "IMAP server of {domain}",
    "node.imap.what": "Mail clients read this domain's mailboxes through it; the messages stay on the server.",
    "node.pop3.title": "POP3 server of {domain}",
    "node.pop3.what": "Mail clients download this domain's messages through it; after `DELE` and `QUIT` they "
                      "are gone from the server.",
    "node.domain.title": "Domain {domain}",
    "node.domain.hosts": "Its servers",
    "node.domain.mx": "Its MX table",
    "node.mailboxes": "Mailboxes",
    "node.mailbox.messages": "{n} {n#message|messages}",
    "mailbox.what": "The mailbox lives on the server; a mail client reads it over IMAP or POP3.",
    "mailbox.report": "delivery report",
    "dsn.text": "The notice, in words",
    "dsn.title": "Delivery report (`message/delivery-status`, RFC 3464)",
    "dsn.what": "This letter is a bounce: the server that gave up reports, for each recipient, what happened.",
    "dsn.noRecipients": "The report names no recipient.",
    "dsn.action.failed": "could not be delivered",
    "dsn.action.delayed": "delayed: still being tried",
    "dsn.action.delivered": "delivered",
    "dsn.action.relayed": "handed on to a server that sends no reports",
    "dsn.action.expanded": "delivered and forwarded to more addresses",
    "dsn.action.other": "`{action}`",
    "dsn.status": "`Status:`",
    "dsn.class.permanent": "permanent failure",
    "dsn.class.transient": "temporary failure",
    "dsn.class.success": "success",
    "dsn.diagnostic": "`Diagnostic-Code:` what the remote server said",
    "dsn.remote": "`Remote-MTA:` the server that said it",
    "dsn.reason": "Why (no server answered)",
    "dsn.lastAttempt": "`Last-Attempt-Date:`",
    "dsn.retryUntil": "`Will-Retry-Until:`",
    "dsn.original": "`Original-Recipient:`",
    "dsn.reporting": "`Reporting-MTA:` who reports it",
    "dsn.arrival": "`Arrival-Date:`",
    "dsn.gateway": "`DSN-Gateway:`",
    "dsn.returned.headers": "The returned message's header",
    "dsn.returned.whole": "The returned message",
}


# -- helper C, issue 10: a class that takes part (static/js/classroom.js, details.js, diagram.js) ------
_UI_CLASS_PAGE: dict = {
    "class.button.join": "Join the class",
    "class.button.join.hint": "Get your own address and mailbox in the sandbox",
    "class.button.me": "My mailbox",
    "class.button.me.hint": "Your address, your password and the way to your mailbox",
    "class.title": "The class",
    "class.title.join": "Join the class",
    "class.title.me": "You in the class",
    "class.state.open": "joining is open",
    "class.state.closed": "joining is closed",
    "class.count": "{n} {n#student|students}",
    "class.closed": "Joining the class is closed.",
    "class.closed.hint": "The teacher opens it when the class is to take part.",
    "class.join.intro": "Join with your name: you get your own address and mailbox in the sandbox. Write to "
                        "your classmates and to the lesson's users, and watch your mail travel on the diagram.",
    "class.join.name": "Your name",
    "class.join.nameHint": "It becomes your address at {domain}.",
    "class.join.submit": "Join",
    "class.join.tooMany": "Too many people are joining right now: wait a moment and try again.",
    "class.privacy": "Only you (and the teacher) can read your mailbox. But every hop shows on the diagram, "
                     "and what crosses the wire without TLS can be read in its transcript: that is the lesson.",
    "class.me.welcome": "Welcome, {name}! This is your account:",
    "class.me.name": "Name",
    "class.me.address": "Address",
    "class.me.password": "Password",
    "class.me.keep": "Write the password down: this page shows it only until you close it.",
    "class.me.noPassword": "Your password was shown when you joined.",
    "class.me.open": "Open my mailbox",
    "class.me.thunderbird": "A mail client works too (`Thunderbird`, a phone's mail app): log in with this "
                            "address and password. The servers and ports are under “Connect a mail client”.",
    "class.me.clients": "Connect a mail client",
    "class.me.limit": "You may send up to {n} {n#message|messages}.",
    "class.joining": "Joining",
    "class.joining.hint": "A student who joins gets an address at {domain}, a mailbox, and a mail client on "
                          "the diagram.",
    "class.open": "Open joining",
    "class.close": "Close joining",
    "class.limit.title": "Sending limit",
    "class.limit": "Messages per student",
    "class.limit.none": "no limit",
    "class.limit.save": "Save",
    "class.limit.bad": "The limit is a whole number of messages, from 0 to 10000.",
    "class.limit.hint": "When a student reaches it, the MSA refuses their next message (its reply says why).",
    "class.limit.saved": "Each student may now send {n} {n#message|messages}.",
    "class.limit.savedNone": "Students may now send without a limit.",
    "class.students": "Students",
    "class.students.noneYet": "Nobody has joined yet.",
    "class.students.none": "Nobody has joined. Open joining to let the students in.",
    "class.student.name": "Name",
    "class.student.address": "Address",
    "class.student.sent": "Sent",
    "class.student.actions": "Actions",
    "class.remove": "Remove",
    "class.remove.label": "Remove {address}",
    "class.remove.ask": "Remove {address} from the class?",
    "class.remove.yes": "Yes, remove",
    "class.remove.no": "Cancel",
    "class.removed": "{address} was removed from the class.",
    "class.mailbox.locked": "This mailbox is private: only its owner and the teacher can read it.",
    "class.mailbox.login": "Log in to the webmail to read this mailbox",
    "class.mailbox.wire": "The hops stay visible to everybody: what a mail client sends without TLS can be "
                          "read in the transcript.",
    "class.webmail.tag": "webmail",
    "class.webmail.hint": "The webmail made this hop: the web server is the mail client here.",
    "node.mua.webmail": "webmail",
    "node.mua.webmailOf": "webmail of {name}",
}


# -- helper B, issue 10: the webmail page (templates/webmail.html, static/js/webmail*.js) ------------
_UI_WEBMAIL: dict = {
    "webmail.title": "Webmail",
    "webmail.diagram": "Diagram",
    "webmail.diagram.hint": "Back to the diagram of the mail world",
    "webmail.logout": "Log out",
    "webmail.login.title": "Log in to your mailbox",
    "webmail.login.intro": "This webmail is a real mail client (MUA): the web server logs in to the mail servers "
                           "for you, and every click is a session drawn on the diagram.",
    "webmail.login.address": "Address",
    "webmail.login.password": "Password",
    "webmail.login.submit": "Log in",
    "webmail.login.missing": "Enter your address and your password.",
    "webmail.retrieval": "Reading mail",
    "webmail.retrieval.imap.hint": "your mail stays on the server; the folders live there, and every device sees "
                                   "the same.",
    "webmail.retrieval.pop3.hint": "the webmail downloads new mail and deletes it from the server; the folders "
                                   "live only in this webmail.",
    "webmail.keep": "Keep a copy on the server",
    "webmail.keep.short": "copy kept on the server",
    "webmail.tls": "Connection",
    "webmail.tls.plain": "Plain",
    "webmail.tls.starttls.hint": "after the greeting the dialogue is encrypted: a listener on the network sees "
                                 "only TLS.",
    "webmail.tls.plain.hint": "no encryption: your password crosses the wire readable — watch the hop's "
                              "dialogue on the diagram.",
    "webmail.student": "joined the class",
    "webmail.compose": "Write",
    "webmail.check": "Check mail",
    "webmail.check.hint": "Ask the server for new mail now",
    "webmail.folders": "Folders",
    "webmail.folder.inbox": "Inbox",
    "webmail.folder.sent": "Sent",
    "webmail.folder.drafts": "Drafts",
    "webmail.folder.trash": "Trash",
    "webmail.folder.junk": "Junk",
    "webmail.settings": "How this webmail connects",
    "webmail.set.imap": "IMAP: the list is read from the server every time; the webmail keeps nothing.",
    "webmail.set.pop3": "POP3: checking mail downloads it into the webmail and deletes it from the server.",
    "webmail.set.pop3.keep": "POP3: checking mail downloads it into the webmail; a copy stays on the server.",
    "webmail.list": "Messages",
    "webmail.list.empty": "No messages here.",
    "webmail.count": "{n} {n#message|messages}",
    "webmail.unseen": "{n} unread",
    "webmail.toWhom": "to {to}",
    "webmail.noSubject": "(no subject)",
    "webmail.mark.unseen": "unread",
    "webmail.mark.flagged": "Flagged",
    "webmail.mark.answered": "Answered",
    "webmail.mark.attachment": "Has attachments",
    "webmail.mark.report": "A delivery report (DSN): a server tells what became of a message",
    "webmail.mark.dsn": "DSN",
    "webmail.read.empty": "Choose a message to read it.",
    "webmail.loading": "Loading…",
    "webmail.actions": "What to do with this message",
    "webmail.reply": "Reply",
    "webmail.replyAll": "Reply all",
    "webmail.forward": "Forward",
    "webmail.flag": "Flag",
    "webmail.unflag": "Unflag",
    "webmail.unread": "Mark unread",
    "webmail.move.to": "Move to folder",
    "webmail.move": "Move",
    "webmail.delete": "Delete",
    "webmail.views": "Ways to look at this message",
    "webmail.tab.text": "Text",
    "webmail.tab.headers": "Headers",
    "webmail.tab.source": "Source",
    "webmail.tab.attachments": "Attachments",
    "webmail.head.cc": "`Cc:`",
    "webmail.text.none": "This message has no text.",
    "webmail.text.onlyHtml": "This message has only an `HTML` part: open the `HTML` tab.",
    "webmail.text.cut": "The text is cut here; the Source tab has the whole message.",
    "webmail.headers.hint": "Every header field, in the order the message carries them: each server puts its "
                            "`Received:` line on top.",
    "webmail.html.frame": "The message's HTML part",
    "webmail.html.sealed": "Shown in a sealed frame: no script runs, and remote images stay blocked — loading "
                           "them would tell the sender that you opened the message.",
    "webmail.html.images": "Remote images are shown: the servers that hold them now know the message was opened.",
    "webmail.images": "Show remote images",
    "webmail.download": "Download",
    "webmail.download.name": "Download {name}",
    "webmail.att.unnamed": "(no name)",
    "webmail.compose.title.new": "New message",
    "webmail.compose.title.reply": "Reply",
    "webmail.compose.title.reply_all": "Reply to all",
    "webmail.compose.title.forward": "Forward",
    "webmail.compose.discard": "Discard",
    "webmail.c.from": "From",
    "webmail.c.to": "To",
    "webmail.c.cc": "Cc",
    "webmail.c.bcc": "Bcc",
    "webmail.c.subject": "Subject",
    "webmail.c.body": "Text",
    "webmail.c.files": "Attachments",
    "webmail.c.addr.hint": "Several addresses: separate them with commas.",
    "webmail.c.bcc.hint": "Bcc: those recipients get the message, but no header names them.",
    "webmail.c.files.add": "Add files…",
    "webmail.c.files.remove": "Remove {name}",
    "webmail.c.files.unread": "The file {name} could not be read.",
    "webmail.c.files.wait": "The attachments are still being read; send again in a moment.",
    "webmail.c.noRecipient": "Write at least one address in To, Cc or Bcc.",
    "webmail.c.tooBig": "The message is too big for the web server: attach smaller files.",
    "webmail.wire.plain": "Plain connection: your message and your password cross the wire in the clear. "
                          "Anyone listening on the network could read them, and the hop's dialogue on the "
                          "projected diagram shows them to the class.",
    "webmail.wire.starttls": "STARTTLS: a listener on the network would see only TLS, and so do your "
                             "classmates' pages: after STARTTLS they show only how many lines were encrypted. "
                             "The teacher's screen shows the whole dialogue, which the sandbox records.",
    "webmail.send": "Send",
    "webmail.sent.ok": "Sent. The MSA answered: `{reply}`",
    "webmail.sent.pending": "Your message waits at the teacher's step gate: it goes on when the teacher "
                            "releases the hop.",
    "webmail.done.flagged": "Flagged.",
    "webmail.done.unflagged": "Flag removed.",
    "webmail.done.unread": "Marked as unread.",
    "webmail.done.moved": "Moved to {folder}.",
    "webmail.done.trashed": "Moved to the trash.",
    "webmail.done.deleted": "Deleted for good.",
    "webmail.error.login_failed": "Login failed: wrong address or password.",
    "webmail.error.session": "You are no longer logged in (the world may have been reset): log in again.",
    "webmail.error.bad_field": "“{field}” cannot be sent like this: check the addresses (name@domain, separated "
                               "by commas); a header field may not hold a line break.",
    "webmail.error.too_large": "The message is bigger than the MSA accepts (its `SIZE`): attach smaller files.",
    "webmail.error.refused": "The server refused: `{reply}`",
    "webmail.error.unreachable": "The mail server cannot be reached: is it switched off on the diagram?",
    "webmail.error.no_starttls": "The server offers no STARTTLS, so nothing was sent in the clear. Choose a plain "
                                 "connection to go on.",
    "webmail.error.no_folder": "There is no such folder.",
    "webmail.error.no_message": "This message is no longer there: it was moved, deleted, or downloaded by POP3.",
    "webmail.error.no_attachment": "This message has no such attachment.",
    "webmail.world": "The world changed: log in again if the page asks.",
}


UI: dict[str, str] = {**_UI_UI, **_UI_EXPORT, **_UI_LESSONS_PAGE, **_UI_PAGE, **_UI_CLASS_PAGE, **_UI_WEBMAIL}
