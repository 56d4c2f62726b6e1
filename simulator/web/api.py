"""The JSON API (a Blueprint under ``/api``): state, layout, events, words, control, send, mailboxes.

    GET  /api/state                      the world, the gate, the queue, the listeners, the languages,
                                         the faults, the scenario and where its lesson stands
    GET  /api/layout?width=&height=      the diagram (layout.py)
    GET  /api/events?since=&limit=       events after a sequence number
    GET  /api/i18n/<lang>                the page's interface strings in one language (the narrator's)
    GET  /api/clients                    settings for real mail clients (passwords: see below)
    GET  /api/mailbox/<address>[/<key>[/html]]     mailbox views (mailview.py): the teacher's, or the
                                         owner's logged in to the webmail (webmail.py); the text paged
                                         (?offset=&length=)
    GET  /api/mailbox/<address>/<key>/source?offset=&length=   the raw source, page by page
    GET  /api/mailbox/<address>/<key>/raw[?download=1]        the raw source whole (text, or a .eml)
    GET  /api/mailbox/<address>/<key>/part/<index>            an attachment, downloaded
    GET  /api/clients/certificate.pem    the served certificate (public), to trust it elsewhere
    POST /api/gate, /api/hosts/<name>, /api/flush, /api/send; PUT /api/mx/<domain>   (the teacher's)
    (lessons, reset, scenario files and faults: lessons.py)

Every request passed guard.py first (Host; CSRF, JSON and teacher for the control verbs).  An error
is ``{"error": message}`` with its status (context.ApiError).  /api/clients shows the sandbox's
passwords (a classroom sandbox, on purpose), but in shared mode only to the teacher.
"""
from __future__ import annotations

import logging
import re
import shlex
import smtplib
import threading
from email import policy as email_policy
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from flask import Blueprint, Response, current_app, jsonify, request

from .. import narrate, tls
from ..world import WorldError
from . import mailview, privacy
from .context import ApiError, current, running_stack
from .guard import MAIL_CSP, is_teacher, role
from .lessons import faults_of, lesson_state, scenario_info
from .classroom import class_info
from .webmail import owner_of

if TYPE_CHECKING:
    from ..runtime import MailStack

log = logging.getLogger(__name__)

api = Blueprint("api", __name__, url_prefix="/api")

TEXT_PAGE_MAX = 1_000_000     # characters of text in one page of a message's view
SOURCE_PAGE_MAX = 4 * 1024 * 1024   # octets of raw source in one page
SYNC_LIMIT = 1000        # events in one answer of /api/events or of a Socket.IO "sync"
_ADDRESS = re.compile(r"^[^@\s<>\"(),;:\\]{1,64}@[A-Za-z0-9.-]{1,253}$")
# (key in the answer, plain/STARTTLS listener, implicit-TLS listener) -- front-door services
CLIENT_SERVERS = (("imap", "imap", "imaps"), ("pop3", "pop3", "pop3s"), ("smtp", "submission", "smtps"))


# -- reading a request --------------------------------------------------------------------------------
def _json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object")
    return body


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"{name} must be an integer") from None
    return min(max(value, low), high)


def events_since(stack: "MailStack", since: int, limit: int) -> dict[str, Any]:
    """Events after ``since``: one pass over the bus's history.

    ``first_seq`` is the first sequence number still available after ``since``: ``since + 1``
    when nothing was lost, higher when the bounded history has already forgotten the events in
    between (the page then knows that hole can never be filled).  With no events it is
    ``last_seq + 1``.
    """
    # last_seq is read before the history: with no events, last_seq + 1 cannot skip one published meanwhile
    last_seq = stack.bus.last_seq
    events = stack.bus.since_dicts(since, limit=limit + 1)     # decoded from the history's JSON lines
    more = len(events) > limit
    del events[limit:]
    return {"events": events, "last_seq": max(last_seq, events[-1]["seq"] if events else 0),
            "first_seq": events[0]["seq"] if events else last_seq + 1, "more": more}


# -- what the page reads --------------------------------------------------------------------------------
@api.get("/state")
def state():
    stack = running_stack()
    bridge = current().bridge
    world = stack.world
    return jsonify(
        world=world.to_dict(),
        baseline=bridge.baseline if bridge else None,
        generation=bridge.swaps if bridge else 0,       # how many times the world was swapped
        world_changes=bridge.world_change_list() if bridge else [],
        gate=stack.gate.state().to_dict(),
        role=role(),
        shared=current_app.config["SHARED"],
        languages=list(narrate.LANGUAGES),
        last_seq=stack.bus.last_seq,
        users=[{"address": a, "name": u.display_name} for a in world.users() if (u := world.user(a)) is not None],
        mailboxes={a: len(mailview.maildir_files(stack, a)) for a in world.users()},
        listeners=stack.listener_table(),
        queue=_queue(stack),
        faults=faults_of(stack),
        scenario=scenario_info(world.scenario),
        lessons=current().director is not None,
        lesson=lesson_state(),
        webmail_source=stack.config.webmail_source,     # hops from this address are the webmail's
        classroom=class_info(),
    )


@api.get("/layout")
def layout_view():
    stack = running_stack()
    width = _int_arg("width", 1200, 320, 4096)
    height = _int_arg("height", 640, 240, 4096)
    from .layout import layout      # with networkx, loaded when a page first asks for its diagram
    return jsonify(layout(stack.world.graph(), width, height))


@api.get("/events")
def events():
    stack = running_stack()
    since = _int_arg("since", 0, 0, 2 ** 62)
    limit = _int_arg("limit", SYNC_LIMIT, 1, SYNC_LIMIT)
    answer = events_since(stack, since, limit)
    answer["events"] = privacy.for_asker(answer["events"])      # a viewer's copy: privacy.py
    return jsonify(answer)


@api.get("/i18n/<lang>")
def i18n(lang: str):
    """The page's interface strings in ``lang`` (works without a world: the page needs its words)."""
    if lang not in narrate.LANGUAGES:
        raise ApiError(404, f"no language {lang[:20]!r} here; the page offers: {', '.join(narrate.LANGUAGES)}")
    return jsonify(lang=lang, ui=narrate.ui(lang))


def _queue(stack: "MailStack") -> list[dict]:
    try:
        return stack.queue_snapshot()
    except Exception:       # the loop is busy or stopping: the page works without it
        log.debug("queue snapshot failed", exc_info=True)
        return []


# -- control (the teacher's; guard.py checked CSRF, JSON and the role) ------------------------------
@api.post("/gate")
def gate():
    stack = running_stack()
    body = _json_body()
    action = body.get("action")
    if "granularity" in body:
        if body["granularity"] not in ("hop", "line"):
            raise ApiError(400, "granularity must be \"hop\" or \"line\"")
        stack.gate.set_granularity(body["granularity"])
    if "delay" in body:
        delay = body["delay"]
        if isinstance(delay, bool) or not isinstance(delay, (int, float)):
            raise ApiError(400, "delay must be a number of seconds")
        try:
            stack.gate.set_delay(float(delay))
        except ValueError as err:
            raise ApiError(400, str(err)) from None
    if action is not None:
        actions: dict[str, Callable[[], None]] = {
            "play": stack.gate.play, "pause": stack.gate.pause, "step": stack.gate.step}
        if action not in actions:
            raise ApiError(400, "action must be one of: play, pause, step")
        actions[action]()
    elif "delay" not in body and "granularity" not in body:
        raise ApiError(400, "give an action (play, pause, step), a delay or a granularity")
    return jsonify(ok=True)


@api.post("/hosts/<name>")
def host(name: str):
    stack = running_stack()
    body = _json_body()
    if not isinstance(body.get("up"), bool):
        raise ApiError(400, "give {\"up\": true} or {\"up\": false}")
    if name.lower() not in stack.world.hosts:
        raise ApiError(404, f"no host named {name!r} in this scenario")
    try:
        return jsonify(host=stack.set_host_state(name, body["up"]))
    except WorldError as err:
        raise ApiError(400, str(err)) from None


@api.put("/mx/<domain>")
def mx(domain: str):
    stack = running_stack()
    records = _json_body().get("records")
    if not isinstance(records, list) or len(records) > 50:
        raise ApiError(400, "records must be a list of {preference, host}")
    table: list[tuple[Any, str]] = []
    for item in records:
        if not isinstance(item, dict) or "host" not in item or "preference" not in item:
            raise ApiError(400, "each MX record needs a preference and a host")
        table.append((_preference(item["preference"]), str(item["host"]).strip()))
    try:
        return jsonify(domain=domain.lower(), mx=stack.set_mx(domain, table))
    except WorldError as err:
        raise ApiError(400, str(err)) from None


def _preference(value: Any) -> Any:
    """Numbers from a form may arrive as strings; anything else goes to the world to be refused."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


@api.post("/flush")
def flush():
    stack = running_stack()
    host = _json_body().get("host")
    if host is not None and (not isinstance(host, str) or host.lower() not in stack.world.hosts):
        raise ApiError(404, f"no host named {host!r} in this scenario")
    return jsonify(retried=stack.flush(host.lower() if host else None))


@api.post("/send")
def send():
    stack = running_stack()
    status, body = send_test_message(stack, _json_body(), wait=current_app.config["SEND_WAIT"])
    return jsonify(body), status


# -- mailboxes (the teacher's, and each owner's) --------------------------------------------------------
def _may_read(address: str) -> None:
    """A mailbox is read by the teacher or by its owner logged in to the webmail; anyone else gets
    the same 403 whether the mailbox exists or not."""
    if not (is_teacher() or owner_of(address)):
        raise ApiError(403, "only the owner of this mailbox (logged in to the webmail) or the teacher "
                            "can read it")


@api.get("/mailbox/<address>")
def mailbox(address: str):
    _may_read(address)
    return jsonify(mailview.listing(running_stack(), address))


@api.get("/mailbox/<address>/<key>")
def mailbox_message(address: str, key: str):
    """One message; its text paged: ``offset`` and ``length`` in characters (``text_next`` in the
    answer is the next page's offset, null on the last page)."""
    _may_read(address)
    offset = _int_arg("offset", 0, 0, 2 ** 62)
    length = _int_arg("length", mailview.TEXT_LIMIT, 1, TEXT_PAGE_MAX)
    path = mailview.find_message(running_stack(), address, key)
    return jsonify(mailview.read_message(path, offset=offset, length=length))


@api.get("/mailbox/<address>/<key>/source")
def mailbox_source(address: str, key: str):
    """One page of the message's raw source (``offset``, ``length`` in octets; ``next``, ``size``)."""
    _may_read(address)
    offset = _int_arg("offset", 0, 0, 2 ** 62)
    length = _int_arg("length", mailview.SOURCE_PAGE, 1, SOURCE_PAGE_MAX)
    path = mailview.find_message(running_stack(), address, key)
    return jsonify(mailview.source_page(path, offset, length))


@api.get("/mailbox/<address>/<key>/raw")
def mailbox_raw(address: str, key: str):
    """The whole message as it lies in the Maildir: shown as text, or ``?download=1`` as a .eml file."""
    _may_read(address)
    path = mailview.find_message(running_stack(), address, key)
    download = request.args.get("download") == "1"
    response = Response(path.read_bytes(), mimetype="message/rfc822" if download else "text/plain")
    if download:
        response.headers["Content-Disposition"] = _disposition(f"{_safe_name(key)}.eml")
    else:
        response.charset = "utf-8"
    response.headers["Content-Security-Policy"] = MAIL_CSP
    return response


@api.get("/mailbox/<address>/<key>/part/<int:index>")
def mailbox_part(address: str, key: str, index: int):
    """An attachment (numbered as the message's view lists it), always as a download."""
    _may_read(address)
    name, kind, data = mailview.attachment(mailview.find_message(running_stack(), address, key), index)
    response = Response(data, mimetype=kind)
    response.headers["Content-Disposition"] = _disposition(name)
    response.headers["Content-Security-Policy"] = MAIL_CSP
    return response


def _safe_name(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", key)[:100] or "message"


def _disposition(filename: str) -> str:
    """``attachment`` with an ASCII fallback name and the RFC 6266 / RFC 5987 UTF-8 one."""
    from urllib.parse import quote
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in filename) or "attachment"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


@api.get("/mailbox/<address>/<key>/html")
def mailbox_html(address: str, key: str):
    _may_read(address)
    html = mailview.html_body(mailview.find_message(running_stack(), address, key))
    if html is None:
        raise ApiError(404, "this message has no HTML part")
    response = Response(html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = MAIL_CSP
    response.headers["X-DNS-Prefetch-Control"] = "off"     # links in hostile mail resolve nothing
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    response.headers["Cache-Control"] = "no-store"
    return response


# -- connecting a real mail client ----------------------------------------------------------------------
@api.get("/clients")
def clients():
    stack = running_stack()
    show = is_teacher() or not current_app.config["SHARED"]
    return jsonify(client_settings(stack, show_passwords=show, base_url=request.host_url,
                                   fingerprint=_fingerprint(stack)))


def _fingerprint(stack: "MailStack") -> str | None:
    """The SHA-256 fingerprint of the sandbox's certificate (None without TLS); cached per app."""
    if stack.ssl_context is None:
        return None
    cache = current().fingerprint
    if "sha256" not in cache:
        try:
            cert_path, _key = tls.ensure_certificate(stack.config.data_dir)
            cache["sha256"] = tls.fingerprint(cert_path)
        except (OSError, ValueError):
            log.warning("could not read the TLS certificate", exc_info=True)
            return None
    return cache["sha256"]


def client_settings(stack: "MailStack", *, show_passwords: bool, base_url: str,
                    fingerprint: str | None) -> dict[str, Any]:
    """Everything a student needs to point a real mail client at the front door.

    Ports come from the listeners actually bound (not from the configuration).  Passwords are
    ``None`` when not shown; the one-liners then leave the password out (curl and swaks ask for it).
    """
    front = {item["service"]: item for item in stack.listener_table() if item["host"] == "front"}
    tls_on = stack.ssl_context is not None

    def port(service: str) -> int | None:
        return front[service]["port"] if service in front else None
    servers = {key: {"host": tls.HOSTNAME, "port": port(plain), "starttls": tls_on,
                     "ssl_port": port(implicit) if tls_on else None}
               for key, plain, implicit in CLIENT_SERVERS}
    address = stack.config.front_host
    if ":" in address:
        address = f"[{address}]"
    users = [_user_settings(stack, login, servers, address, show_passwords) for login in stack.world.users()]
    return {"tls": tls_on, "servers": servers, "address": stack.config.front_host,
            "certificate": {"sha256": fingerprint} if fingerprint else None,
            "trust": trust_hints(stack, port) if tls_on else None,
            "passwords_shown": show_passwords,
            "autoconfig_url": base_url.rstrip("/") + "/autoconfig/v1.1/",
            "users": users}


CERTIFICATE_URL = "/api/clients/certificate.pem"


def trust_hints(stack: "MailStack", port: Callable[[str], int | None]) -> dict[str, Any]:
    """How an application trusts the served certificate, with its real path (README: "Trusting the
    certificate").  The generated leaf is its own trust anchor; the user's own (``--tls-cert``) is
    shown the same way.  Commands are code, not words: the page words their labels.

    ``commands``: ``python`` (``SSL_CERT_FILE``, read by OpenSSL's default verify paths, hence by
    ``ssl.create_default_context()``, smtplib, imaplib, urllib -- and Django's SMTP backend, which
    builds its context that way), ``python_code`` (the same for one context only), ``django``
    (settings for the app port, or for submission with a login when there is no app port),
    ``node`` (``NODE_EXTRA_CA_CERTS``: added to Node's bundled CAs at start), ``curl``
    (``--cacert``: a message to a user of the world through the app port with STARTTLS required;
    without an app port, the IMAP folders of a user, who types the password)."""
    data_dir = stack.config.data_dir
    path = str(tls.certificate_path(data_dir))
    own = tls.own_pair(data_dir)
    q = shlex.quote(path)
    host = stack.config.front_host if ":" not in stack.config.front_host else "127.0.0.1"
    app, submission = port("app"), port("submission")
    login = next(iter(stack.world.users()), "user@example.test")      # a recipient (or login) in the world
    if app is not None:
        django = (f'EMAIL_HOST = "{host}"\nEMAIL_PORT = {app}\nEMAIL_USE_TLS = True')
        curl = (f"printf 'Subject: trusted\\r\\n\\r\\nHello\\r\\n' | curl --cacert {q} --ssl-reqd "
                f"smtp://{host}:{app} --mail-from app@localhost --mail-rcpt {shlex.quote(login)} -T -")
    else:
        django = (f'EMAIL_HOST = "{host}"\nEMAIL_PORT = {submission}\nEMAIL_USE_TLS = True\n'
                  f'EMAIL_HOST_USER = "{login}"\nEMAIL_HOST_PASSWORD = "…"')
        curl = f"curl --cacert {q} --ssl-reqd imap://{host}:{port('imap')}/ -u {shlex.quote(login)}"
    return {"path": path, "own": own is not None, "download": CERTIFICATE_URL,
            "names": tls.names(Path(path)),
            "commands": {"python": f"SSL_CERT_FILE={q} python your_app.py",
                         "python_code": f"ssl.create_default_context(cafile={path!r})",
                         "django": f"SSL_CERT_FILE={q} python manage.py runserver",
                         "django_settings": django,
                         "node": f"NODE_EXTRA_CA_CERTS={q} node your_app.js",
                         "curl": curl}}


@api.get("/clients/certificate.pem")
def certificate():
    """The served certificate (public: every TLS handshake sends it), to trust it on another machine."""
    stack = running_stack()
    if stack.ssl_context is None:
        raise ApiError(404, "TLS is switched off in this run: there is no certificate")
    response = Response(tls.certificate_path(stack.config.data_dir).read_bytes(), mimetype="application/x-pem-file")
    response.headers["Content-Disposition"] = 'attachment; filename="mailflow-cert.pem"'
    return response


def _user_settings(stack: "MailStack", login: str, servers: dict[str, dict], address: str,
                   show_password: bool) -> dict[str, Any]:
    """One user's login, password (or None) and the curl and swaks one-liners that try it."""
    user = stack.world.user(login)
    domain = login.rpartition("@")[2]
    password = user.password if show_password else None
    credentials = f"{login}:{password}" if password is not None else login
    curl = (f"curl imap://{address}:{servers['imap']['port']}/INBOX -u {shlex.quote(credentials)} "
            f"-X 'UID SEARCH ALL'")
    # a recipient in another domain shows the whole journey; the user itself in a one-domain world
    to = next((a for a in stack.world.users() if a.rpartition("@")[2] != domain), login)
    swaks = [f"swaks --server {address}:{servers['smtp']['port']}", "--auth PLAIN",
             f"--auth-user {shlex.quote(login)}"]
    if password is not None:
        swaks.append(f"--auth-password {shlex.quote(password)}")
    swaks += [f"--from {shlex.quote(login)}", f"--to {shlex.quote(to)}", "--header 'Subject: Hello from swaks'"]
    return {"address": login, "name": user.display_name, "domain": domain, "login": login,
            "password": password, "autoconfig": f"/autoconfig/v1.1/{domain}",
            "commands": {"curl": curl, "swaks": " ".join(swaks)}}


# -- sending from the page ------------------------------------------------------------------------------
def _front_submission(stack: "MailStack") -> tuple[str, int]:
    for item in stack.listener_table():
        if item["service"] == "submission" and item["host"] == "front":
            return item["address"], item["port"]
    raise ApiError(503, "the front-door submission port is not listening")


def _compose(stack: "MailStack", body: dict[str, Any]) -> tuple[str, str, str, EmailMessage]:
    """(sender, its password, recipient, message) from the send form; 400 for bad input."""
    sender = str(body.get("from", "")).strip()
    rcpt = str(body.get("to", "")).strip()
    subject = str(body.get("subject", ""))
    text = str(body.get("body", ""))
    user = stack.world.user(sender) if sender else None
    if user is None:
        raise ApiError(400, f"{sender or '(empty)'} is not a user of this world")
    if not _ADDRESS.match(rcpt):
        raise ApiError(400, f"not an e-mail address: {rcpt[:100]!r}")
    if len(subject) > 300 or len(text) > 100_000:
        raise ApiError(400, "the subject or the body is too long")
    message = EmailMessage()
    try:
        message["From"] = sender
        message["To"] = rcpt
        message["Subject"] = subject
    except (ValueError, TypeError) as err:       # a newline in a header: header injection
        raise ApiError(400, f"bad header: {err}") from None
    if text.isascii():
        message.set_content(text)
    else:
        message.set_content(text, charset="utf-8", cte="8bit")
    return sender, user.password, rcpt, message


def _submit(host: str, port: int, sender: str, password: str, rcpt: str,
            message: EmailMessage) -> dict[str, str]:
    """One submission dialogue (smtplib, AUTH): ``{"ok": reply}``, ``{"refused": reply}`` or
    ``{"error": why}``."""
    try:
        # local_hostname: never let smtplib ask the machine's resolver (socket.getfqdn()).
        with smtplib.SMTP(host, port, local_hostname="mailflow-web.localhost", timeout=600) as smtp:
            smtp.login(sender, password)
            eight_bit = message["Content-Transfer-Encoding"] == "8bit"     # a non-ASCII body (_compose)
            code, reply = smtp.mail(sender, ["BODY=8BITMIME"] if eight_bit else [])
            if code != 250:
                raise smtplib.SMTPSenderRefused(code, reply, sender)
            code, reply = smtp.rcpt(rcpt)
            if code not in (250, 251):
                raise smtplib.SMTPRecipientsRefused({rcpt: (code, reply)})
            code, reply = smtp.data(message.as_bytes(policy=email_policy.SMTP))
            if code != 250:
                raise smtplib.SMTPDataError(code, reply)
            return {"ok": f"{code} {reply.decode('utf-8', 'replace')}"}
    except smtplib.SMTPRecipientsRefused as err:
        code, reply = next(iter(err.recipients.values()))
        return {"refused": f"{code} {reply.decode('utf-8', 'replace')}"}
    except smtplib.SMTPResponseException as err:
        reply = err.smtp_error
        text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
        return {"refused": f"{err.smtp_code} {text}"}
    except (OSError, smtplib.SMTPException) as err:
        return {"error": f"could not talk to the MSA: {err}"}


def send_test_message(stack: "MailStack", body: dict[str, Any], *, wait: float = 2.0) -> tuple[int, dict]:
    """Submit a message as a user of the world, through the real front door (smtplib, AUTH).

    In step mode the MSA holds its 250 until the teacher releases the hop, so the dialogue runs in
    its own thread; after ``wait`` seconds the answer is 202 (pending) and the timeline tells the rest.
    """
    sender, password, rcpt, message = _compose(stack, body)
    host, port = _front_submission(stack)
    outcome: dict[str, str] = {}
    done = threading.Event()

    def dialogue() -> None:
        try:
            outcome.update(_submit(host, port, sender, password, rcpt, message))
        finally:
            done.set()

    threading.Thread(target=dialogue, name="web-send", daemon=True).start()
    if not done.wait(wait):
        return 202, {"ok": True, "pending": True,
                     "message": "submitted; the MSA answers when the step gate releases the hop"}
    if "ok" in outcome:
        return 200, {"ok": True, "reply": outcome["ok"]}
    if "refused" in outcome:
        return 422, {"error": f"the MSA refused: {outcome['refused']}"}
    return 503, {"error": outcome.get("error", "unknown error")}
