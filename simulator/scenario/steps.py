"""The script of a lesson: steps, faults and expectations, read from the node tree with file, line and field.

Theory of operation
-------------------
:class:`ScriptReader` is a mixin of the loader's builder (:mod:`.load`): it uses the builder's node
helpers (``mapping``, ``text``, ``add`` …) and runs after the world part is read, so it can check every
name a step uses against the scenario: a host that ``host_down`` names must exist, the user a ``fetch``
logs in as must have a mailbox, the zone of a ``servfail`` fault must be one of the scenario's domains.
Every mistake is collected (never only the first) and reported with the builder's others.

A step is a mapping with one action key (``send``, ``fetch``, ``wait``, ``host_down``, ``host_up``,
``set_mx``, ``fault``, ``expect``, or only ``say``), an optional ``say: {en:, ru:}`` (narration needs
both languages: the page offers both) and an optional ``pause: true``.  A fault is a mapping whose
kind is its one kind key (``{greylist: mx.beta.test, delay: 0}``), as is an expectation
(``{delivered: bob@beta.test, copies: 1}``).  The format is written up for teachers in
``scenarios/README.md``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from . import tree
from .model import (
    MAILBOX_FAULTS, ZONE_FAULTS, Attachment, Expect, ExpectKind, Fault, FaultKind, Fetch,
    FetchProtocol, Goals, HostState, Level, Role, Say, Send, SendPort, SetFault, SetMx, Step, Text, Wait,
    WaitFor,
)

if TYPE_CHECKING:
    from .model import DomainSpec, MxSpec

ACTIONS = ("send", "fetch", "wait", "host_down", "host_up", "set_mx", "fault", "expect")
SAY, PAUSE = "say", "pause"
COMMANDS = ("CONNECT", "EHLO", "HELO", "MAIL", "RCPT", "DATA", "DOT", "QUIT")
REPLY_COMMANDS = ("CONNECT", "EHLO", "HELO", "MAIL", "RCPT", "DATA", "DOT", "QUIT", "STARTTLS", "AUTH")
MAX_WAIT = 600.0
MAX_STEPS = 500
MAX_ATTACHMENTS = 20
MAX_ATTACHMENT_BYTES = 10_000_000          # all of one message's attachments together
MAX_REPLY_TEXT = 200
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_ENHANCED_RE = re.compile(r"([245])\.\d{1,3}\.\d{1,3}\b")

_ADDRESS_RE = re.compile(r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+\.?")
_STATUS_RE = re.compile(r"[245]\.\d{1,3}\.\d{1,3}")

# the parameters each fault kind takes besides its target (and ``off`` in a step)
_FAULT_PARAMS: dict[FaultKind, tuple[str, ...]] = {
    FaultKind.GREYLIST: ("delay",),
    FaultKind.SLOW: ("greeting", "data"),
    FaultKind.REPLY: ("at", "code", "text", "times"),
    FaultKind.SIZE_LIMIT: ("size",),
    FaultKind.REQUIRE_TLS: (),
    FaultKind.NO_TLS: (),
    FaultKind.REFUSE: (),
    FaultKind.MAILBOX_FULL: ("permanent",),
    FaultKind.SERVFAIL: (),
    FaultKind.DNS_TIMEOUT: (),
    FaultKind.NO_ADDRESS: (),
}
_EXPECT_PARAMS: dict[ExpectKind, tuple[str, ...]] = {
    ExpectKind.DELIVERED: ("copies", "timeout"),
    ExpectKind.BOUNCED: ("status", "timeout"),
    ExpectKind.DEFERRED: ("then", "timeout"),
    ExpectKind.VIA: ("rcpt", "timeout"),
    ExpectKind.MAILBOX: ("messages", "timeout"),
    ExpectKind.REPLY: ("at", "host", "timeout"),
}
_SEND_KEYS = ("from", "to", "subject", "body", "attachments", "via", "port", "tls", "auth", "password",
              "cc", "bcc", "header_from")
_FETCH_KEYS = ("user", "protocol", "keep", "tls")
_WAIT_KEYS = ("for", "rcpt", "host", "timeout", "seconds")
_SET_MX_KEYS = ("domain", "mx")
_ATTACHMENT_KEYS = ("name", "content", "size")

_BOOL_TAG = "tag:yaml.org,2002:bool"
_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"


@dataclass(slots=True)
class Names:
    """What the world part of the scenario defines, for checking the names a script uses."""
    domains: dict[str, "DomainSpec"] = field(default_factory=dict)
    hosts: dict[str, Role] = field(default_factory=dict)
    users: dict[str, str] = field(default_factory=dict)        # address -> password

    def known(self, what: dict) -> str:
        return ", ".join(sorted(what)) or "none defined"


class ScriptReader:
    """Mixin of the loader's ``_Builder``: steps, faults, level and goals."""

    # provided by the builder
    add: Callable[..., None]
    mapping: Callable[..., Any]
    sequence: Callable[..., Any]
    text: Callable[..., Any]
    mx_table: Callable[..., Any]
    check_mx_table: Callable[..., None]
    names: Names

    # -- lesson metadata -----------------------------------------------------------------------

    def level(self, node: Node) -> Level | None:
        raw = self.text(node, "level", f"a level ({', '.join(Level)})")
        if raw is None:
            return None
        try:
            return Level(raw.lower())
        except ValueError:
            self.add(node, "level", f"unknown level {raw!r}; one of {', '.join(Level)}")
            return None

    def goals(self, node: Node) -> Goals:
        entries = self.mapping(node, "goals", ("en", "ru"), "a mapping {en: [...], ru: [...]}")
        if entries is None:
            return Goals()
        found: dict[str, tuple[str, ...]] = {}
        for key, _, value in entries:
            items = self.sequence(value, f"goals.{key}", "a list of goals")
            texts = [self.text(item, f"goals.{key}[{i}]", "a goal (text)") for i, item in enumerate(items or [])]
            found[key] = tuple(t for t in texts if t)
        for lang in ("en", "ru"):
            if lang not in found:
                self.add(node, f"goals.{lang}", f"missing: the goals in {'English' if lang == 'en' else 'Russian'}")
        if "en" in found and "ru" in found and len(found["en"]) != len(found["ru"]):
            self.add(node, "goals", f"{len(found['en'])} goals in en but {len(found['ru'])} in ru: give each in both")
        return Goals(found.get("en", ()), found.get("ru", ()))

    # -- steps ---------------------------------------------------------------------------------

    def steps(self, node: Node) -> tuple[Step, ...]:
        if tree.is_null(node):
            return ()
        steps: list[Step] = []
        allowed = (*ACTIONS, SAY, PAUSE)
        items = self.sequence(node, "steps", "a list of steps") or []
        if len(items) > MAX_STEPS:
            self.add(node, "steps", f"{len(items)} steps; a lesson has at most {MAX_STEPS}")
            items = items[:MAX_STEPS]
        for i, item in enumerate(items):
            step = self.step(item, f"steps[{i}]", allowed)
            if step is not None:
                steps.append(step)
        return tuple(steps)

    def step(self, item: Node, field: str, allowed: tuple[str, ...]) -> Step | None:
        entries = self.mapping(item, field, allowed, f"a step (a mapping with one of {', '.join(allowed)})")
        if entries is None:
            return None
        if isinstance(item, MappingNode) and not item.value:
            self.add(item, field, f"empty step; give one of {', '.join((*ACTIONS, SAY))}")
            return None
        body = {key: (key_node, value) for key, key_node, value in entries}
        actions = [(key, key_node, value) for key, key_node, value in entries if key in ACTIONS]
        for key, key_node, _ in actions[1:]:
            self.add(key_node, tree.join(field, key),
                     f"a step does one thing, this one has {', '.join(k for k, _, _ in actions)}; "
                     "split it into separate steps")
        say = self.narration(body[SAY][1], tree.join(field, SAY)) if SAY in body else None
        pause = self.boolean(body[PAUSE][1], tree.join(field, PAUSE)) if PAUSE in body else False
        if not actions:
            if SAY not in body:
                if len(entries) == len(item.value):     # else an unknown key was reported already
                    self.add(item, field, f"a step needs an action ({', '.join(ACTIONS)}) or a say")
                return None
            return Step(SAY, Say(), tree.line(body[SAY][0]), say, bool(pause))
        key, key_node, value = actions[0]
        do = self.action(key, value, tree.join(field, key))
        if do is None:
            return None
        return Step(key, do, tree.line(key_node), say, bool(pause))

    def narration(self, node: Node, field: str) -> Text | None:
        entries = self.mapping(node, field, ("en", "ru"), "a mapping {en: ..., ru: ...} (narration is given in both languages)")
        if entries is None:
            return None
        given = {key: self.text(value, tree.join(field, key)) for key, _, value in entries}
        for lang in ("en", "ru"):
            if lang not in given:
                self.add(node, tree.join(field, lang), f"missing: the narration in {'English' if lang == 'en' else 'Russian'}")
            elif given[lang] is not None and not given[lang].strip():
                self.add(node, tree.join(field, lang), "the narration is empty")
        if given.get("en") and given.get("ru"):
            return Text(given["en"].strip(), given["ru"].strip())
        return None

    def action(self, key: str, node: Node, field: str) -> Any:
        if key in ("host_down", "host_up"):
            host = self.host_name(node, field)
            return HostState(host, key == "host_up") if host else None
        return getattr(self, f"_{key}")(node, field)

    # -- send, fetch, wait, set_mx -------------------------------------------------------------

    def _send(self, node: Node, field: str) -> Send | None:
        body = self.body(node, field, _SEND_KEYS, "a mapping {from: ..., to: ..., subject: ...}")
        if body is None:
            return None
        sender = self.address(body["from"], tree.join(field, "from")) if "from" in body else None
        if "from" not in body:
            self.add(node, tree.join(field, "from"), "missing: who sends the message (from)")
        to = self.addresses(body["to"], tree.join(field, "to")) if "to" in body else ()
        if "to" not in body:
            self.add(node, tree.join(field, "to"), "missing: the recipients (to)")
        cc = self.addresses(body["cc"], tree.join(field, "cc")) if "cc" in body else ()
        bcc = self.addresses(body["bcc"], tree.join(field, "bcc")) if "bcc" in body else ()
        via = "front"
        if "via" in body:
            raw = self.text(body["via"], tree.join(field, "via"), "front or a host name")
            if raw is not None and raw.lower() != "front":
                via = self.known_host(raw, body["via"], tree.join(field, "via")) or "front"
        port = SendPort.SUBMISSION
        if "port" in body:
            port = self.choice(body["port"], tree.join(field, "port"), SendPort) or port
        if port is SendPort.MX and via == "front":
            self.add(body.get("port", node), tree.join(field, "port"),
                     "the front door has no MX port: say which host's MX to talk to (via: mx.beta.test)")
        if port is SendPort.SMTPS and via != "front":
            self.add(body["port"], tree.join(field, "port"), "smtps (implicit TLS) is offered by the front door only: use via: front")
        if port is SendPort.SUBMISSION and via != "front" and self.names.hosts.get(via) is not Role.MSA:
            self.add(body.get("port", body["via"]), tree.join(field, "port"),
                     f"{via} is not an MSA: only the front door and hosts of role msa take submission; use port: mx")
        auth = self.boolean(body["auth"], tree.join(field, "auth")) if "auth" in body else port is not SendPort.MX
        tls = self.boolean(body["tls"], tree.join(field, "tls")) if "tls" in body else True
        password = self.text(body["password"], tree.join(field, "password"), "a password") if "password" in body else None
        if auth and port is SendPort.MX:
            self.add(body["auth"], tree.join(field, "auth"), "an MX takes no AUTH: use port: submission")
        if auth and password is None and sender and sender not in self.names.users:
            self.add(body["from"], tree.join(field, "from"),
                     f"{sender} has no mailbox in this scenario, so it has no password to log in with "
                     "(give password:, or auth: false)")
        attachments = self.attachments(body["attachments"], tree.join(field, "attachments")) if "attachments" in body else ()
        header_from = ""
        if "header_from" in body:
            header_from = self.address(body["header_from"], tree.join(field, "header_from")) or ""
        if sender is None:
            return None
        subject = self.plain_text(body, "subject", field, "Hello")
        if _CONTROL_RE.search(subject):
            self.add(body["subject"], tree.join(field, "subject"), "a subject is one line: no line breaks or control characters")
            subject = "Hello"
        return Send(sender=sender, to=to, subject=subject,
                    body=self.plain_text(body, "body", field, ""), attachments=attachments, via=via,
                    port=port, tls=bool(tls), auth=bool(auth), password=password, cc=cc, bcc=bcc,
                    header_from=header_from)

    def attachments(self, node: Node, field: str) -> tuple[Attachment, ...]:
        out = []
        items = self.sequence(node, field, "a list of {name: ..., content: ... or size: ...}") or []
        if len(items) > MAX_ATTACHMENTS:
            self.add(node, field, f"{len(items)} attachments; at most {MAX_ATTACHMENTS}")
            items = items[:MAX_ATTACHMENTS]
        for i, item in enumerate(items):
            item_field = f"{field}[{i}]"
            body = self.body(item, item_field, _ATTACHMENT_KEYS, "a mapping {name: ..., content: ... or size: ...}")
            if body is None:
                continue
            name = self.text(body["name"], tree.join(item_field, "name"), "a file name") if "name" in body else None
            if "name" not in body:
                self.add(item, tree.join(item_field, "name"), "missing: the file name")
            if ("content" in body) == ("size" in body):
                self.add(item, item_field, "give either content (the text of the file) or size (bytes of filler)")
            content = self.text(body["content"], tree.join(item_field, "content"), "text") if "content" in body else ""
            size = self.integer(body["size"], tree.join(item_field, "size"), 1, MAX_ATTACHMENT_BYTES) if "size" in body else 0
            if name and (_CONTROL_RE.search(name) or "/" in name or len(name) > 200):
                self.add(body["name"], tree.join(item_field, "name"), "a file name is one line of at most 200 characters, without '/'")
                name = None
            if name:
                out.append(Attachment(name, content or "", size or 0))
        total = sum(a.size or len(a.content.encode()) for a in out)
        if total > MAX_ATTACHMENT_BYTES:
            self.add(node, field, f"{total} bytes of attachments; at most {MAX_ATTACHMENT_BYTES} in one message")
        return tuple(out)

    def _fetch(self, node: Node, field: str) -> Fetch | None:
        body = self.body(node, field, _FETCH_KEYS, "a mapping {user: ..., protocol: pop3 or imap}")
        if body is None:
            return None
        if "user" not in body:
            self.add(node, tree.join(field, "user"), "missing: whose mailbox to read (user)")
            return None
        user = self.mailbox(body["user"], tree.join(field, "user"))
        protocol = self.choice(body["protocol"], tree.join(field, "protocol"), FetchProtocol) if "protocol" in body else FetchProtocol.IMAP
        keep = self.boolean(body["keep"], tree.join(field, "keep")) if "keep" in body else True
        tls = self.boolean(body["tls"], tree.join(field, "tls")) if "tls" in body else True
        if user is None or protocol is None:
            return None
        return Fetch(user, protocol, bool(keep), bool(tls))

    def _wait(self, node: Node, field: str) -> Wait | None:
        body = self.body(node, field, _WAIT_KEYS, "a mapping {for: delivered, rcpt: ...} or {seconds: ...}")
        if body is None:
            return None
        if ("for" in body) == ("seconds" in body):
            self.add(node, field, f"give either for ({', '.join(WaitFor)}) or seconds")
            return None
        timeout = self.number(body["timeout"], tree.join(field, "timeout"), 0.1, MAX_WAIT) if "timeout" in body else 30.0
        if "seconds" in body:
            seconds = self.number(body["seconds"], tree.join(field, "seconds"), 0.0, MAX_WAIT)
            return Wait(seconds=seconds or 0.0)
        event = self.choice(body["for"], tree.join(field, "for"), WaitFor)
        rcpt = self.address(body["rcpt"], tree.join(field, "rcpt")) if "rcpt" in body else ""
        host = self.host_name(body["host"], tree.join(field, "host")) if "host" in body else ""
        if event is None:
            return None
        return Wait(event=event, rcpt=rcpt or "", host=host or "", timeout=timeout or 30.0)

    def _set_mx(self, node: Node, field: str) -> SetMx | None:
        body = self.body(node, field, _SET_MX_KEYS, "a mapping {domain: ..., mx: [...]}")
        if body is None:
            return None
        domain = self.domain_name(body["domain"], tree.join(field, "domain")) if "domain" in body else None
        if "domain" not in body:
            self.add(node, tree.join(field, "domain"), "missing: whose MX table (domain)")
        if "mx" not in body:
            self.add(node, tree.join(field, "mx"), "missing: the new MX table (mx: [] for none)")
            return None
        records = self.mx_records(body["mx"], tree.join(field, "mx"))
        if domain is None or records is None:
            return None
        return SetMx(domain, records)

    def mx_records(self, node: Node, field: str) -> tuple["MxSpec", ...] | None:
        drafts = self.mx_table(node, field)                 # the builder's: preference, host, lines
        if drafts is None:
            return None
        self.check_mx_table(drafts, self.names.hosts)       # the same rules as a domain's own table
        return tuple(d.spec for d in drafts)

    # -- faults --------------------------------------------------------------------------------

    def faults(self, node: Node) -> tuple[Fault, ...]:
        if tree.is_null(node):
            return ()
        out = []
        for i, item in enumerate(self.sequence(node, "faults", "a list of faults") or []):
            fault = self.fault(item, f"faults[{i}]", allow_off=False)
            if fault is not None:
                out.append(fault.fault)
        return tuple(out)

    def _fault(self, node: Node, field: str) -> SetFault | None:
        return self.fault(node, field, allow_off=True)

    def keyed(self, node: Node, field: str, enum: Any, params: dict[Any, tuple[str, ...]], extra: tuple[str, ...],
              *, what: str, which: str, per: str) -> tuple[Any, dict[str, tuple[Node, Node]]] | None:
        """A mapping whose kind is its one key out of ``enum`` (``{greylist: mx.beta.test, delay: 0}``),
        with the parameters that kind takes (and ``extra``, taken by every kind); (kind, body)."""
        kinds = [kind.value for kind in enum]
        allowed = sorted({p for names in params.values() for p in names} | set(extra))
        entries = self.mapping(node, field, (*kinds, *allowed), f"{what} (a mapping with one of {', '.join(kinds)})")
        if entries is None:
            return None
        body = {key: (key_node, value) for key, key_node, value in entries}
        found = [key for key in body if key in kinds]
        if not found:
            if len(entries) == len(node.value):     # else an unknown key was reported already
                self.add(node, field, which.format(kinds=", ".join(kinds)))
            return None
        if len(found) > 1:
            self.add(body[found[1]][0], tree.join(field, found[1]), f"one {per}, this one has {', '.join(found)}")
        kind = enum(found[0])
        for key in body:
            if key not in kinds and key not in extra and key not in params[kind]:
                takes = ", ".join(params[kind]) or "no parameters"
                self.add(body[key][0], tree.join(field, key), f"{kind} takes {takes}, not {key}")
        return kind, body

    def fault(self, node: Node, field: str, *, allow_off: bool) -> SetFault | None:
        got = self.keyed(node, field, FaultKind, _FAULT_PARAMS, ("off",) if allow_off else (), what="a fault",
                         which="which fault? give one of {kinds} with its host, zone or mailbox",
                         per="fault per entry")
        if got is None:
            return None
        kind, body = got
        kind_field = tree.join(field, kind.value)
        target_node = body[kind.value][1]
        if kind in ZONE_FAULTS:
            target = self.domain_name(target_node, kind_field)
        elif kind in MAILBOX_FAULTS:
            target = self.mailbox(target_node, kind_field)
        else:
            target = self.host_name(target_node, kind_field)
        off = self.boolean(body["off"][1], tree.join(field, "off")) if "off" in body else False
        values: dict[str, Any] = {}
        get = lambda key: body[key][1] if key in body else None  # noqa: E731
        if kind is FaultKind.GREYLIST and "delay" in body:
            values["delay"] = self.number(get("delay"), tree.join(field, "delay"), 0.0, MAX_WAIT) or 0.0
        if kind is FaultKind.SLOW:
            for key in ("greeting", "data"):
                if key in body:
                    values[key] = self.number(get(key), tree.join(field, key), 0.0, 120.0) or 0.0
            if not off and not values.get("greeting") and not values.get("data"):
                self.add(node, field, "a slow server needs greeting and/or data (seconds)")
        if kind is FaultKind.REPLY and not off:
            at = self.text(get("at"), tree.join(field, "at"), "a command") if "at" in body else None
            if at is None:
                self.add(node, tree.join(field, "at"), f"missing: at which command ({', '.join(REPLY_COMMANDS)})")
            elif at.upper() not in REPLY_COMMANDS:
                self.add(get("at"), tree.join(field, "at"), f"unknown command {at!r}; one of {', '.join(REPLY_COMMANDS)}")
            else:
                values["command"] = at.upper()
            if "code" not in body:
                self.add(node, tree.join(field, "code"), "missing: the reply code (400..599)")
            else:
                values["code"] = self.integer(get("code"), tree.join(field, "code"), 400, 599) or 0
            if "text" in body:
                text = self.text(get("text"), tree.join(field, "text"), "the reply text") or ""
                enhanced = _ENHANCED_RE.match(text)
                if _CONTROL_RE.search(text) or len(text) > MAX_REPLY_TEXT or not text.isascii():
                    self.add(get("text"), tree.join(field, "text"),
                             f"a reply text is one line of at most {MAX_REPLY_TEXT} ASCII characters, without control characters")
                elif enhanced and values.get("code") and enhanced.group(1) != str(values["code"])[0]:
                    self.add(get("text"), tree.join(field, "text"),
                             f"the enhanced status {enhanced.group(0)} does not match the reply code {values['code']} "
                             "(their first digits agree, RFC 3463)")
                else:
                    values["text"] = text
            if "times" in body:
                values["times"] = self.integer(get("times"), tree.join(field, "times"), 0, 1000) or 0
        if kind is FaultKind.SIZE_LIMIT and not off:
            if "size" not in body:
                self.add(node, tree.join(field, "size"), "missing: the largest message in bytes (size)")
            else:
                values["size"] = self.integer(get("size"), tree.join(field, "size"), 100, 100_000_000) or 0
        if kind is FaultKind.MAILBOX_FULL and "permanent" in body:
            values["permanent"] = bool(self.boolean(get("permanent"), tree.join(field, "permanent")))
        if target is None:
            return None
        return SetFault(Fault(kind, target, line=tree.line(node), **values), bool(off))

    # -- expectations --------------------------------------------------------------------------

    def _expect(self, node: Node, field: str) -> Expect | None:
        got = self.keyed(node, field, ExpectKind, _EXPECT_PARAMS, (), what="an expectation",
                         which="what to expect? give one of {kinds}", per="expectation per step")
        if got is None:
            return None
        kind, body = got
        get = lambda key: body[key][1] if key in body else None  # noqa: E731
        kind_field = tree.join(field, kind.value)
        value = get(kind.value)
        timeout = self.number(get("timeout"), tree.join(field, "timeout"), 0.1, MAX_WAIT) if "timeout" in body else 30.0
        out: dict[str, Any] = {"timeout": timeout or 30.0}
        ok = True
        if kind in (ExpectKind.DELIVERED, ExpectKind.MAILBOX):
            rcpt = self.mailbox(value, kind_field)
            ok = rcpt is not None
            out["rcpt"] = rcpt or ""
            count_key = "copies" if kind is ExpectKind.DELIVERED else "messages"
            if count_key in body:
                out["count"] = self.integer(get(count_key), tree.join(field, count_key), 0, 10000)
            elif kind is ExpectKind.MAILBOX:
                self.add(node, tree.join(field, "messages"), "missing: how many messages the mailbox holds")
        elif kind in (ExpectKind.BOUNCED, ExpectKind.DEFERRED):
            rcpt = self.address(value, kind_field)
            ok = rcpt is not None
            out["rcpt"] = rcpt or ""
            if "status" in body:
                status = self.text(get("status"), tree.join(field, "status"), "a status like 5.1.1")
                if status is not None and not _STATUS_RE.fullmatch(status):
                    self.add(get("status"), tree.join(field, "status"), f"{status!r} is not a DSN status like 5.1.1 (RFC 3463)")
                out["status"] = status or ""
            if "then" in body:
                then = self.text(get("then"), tree.join(field, "then"), "delivered")
                if then != "delivered":
                    self.add(get("then"), tree.join(field, "then"), "only 'then: delivered' is known")
                out["then_delivered"] = True
        elif kind is ExpectKind.VIA:
            host = self.host_name(value, kind_field)
            ok = host is not None
            out["host"] = host or ""
            if "rcpt" in body:
                out["rcpt"] = self.address(get("rcpt"), tree.join(field, "rcpt")) or ""
        elif kind is ExpectKind.REPLY:
            out["code"] = self.integer(value, kind_field, 200, 599) or 0
            ok = bool(out["code"])
            if "at" in body:
                at = self.text(get("at"), tree.join(field, "at"), "a command")
                if at is not None and at.upper() not in REPLY_COMMANDS:
                    self.add(get("at"), tree.join(field, "at"), f"unknown command {at!r}; one of {', '.join(REPLY_COMMANDS)}")
                out["command"] = (at or "").upper()
            if "host" in body:
                out["host"] = self.host_name(get("host"), tree.join(field, "host")) or ""
        return Expect(kind, **out) if ok else None

    # -- names ---------------------------------------------------------------------------------

    def host_name(self, node: Node | None, field: str) -> str | None:
        raw = self.text(node, field, "a host name") if node is not None else None
        return self.known_host(raw, node, field) if raw is not None else None

    def known_host(self, raw: str, node: Node, field: str) -> str | None:
        name = tree.dns_name(raw)
        if name not in self.names.hosts:
            self.add(node, field, f"host {raw!r} is not defined in this scenario (hosts: {self.names.known(self.names.hosts)})")
            return None
        return name

    def domain_name(self, node: Node, field: str) -> str | None:
        raw = self.text(node, field, "a domain name")
        if raw is None:
            return None
        name = tree.dns_name(raw)
        if name not in self.names.domains:
            self.add(node, field, f"domain {raw!r} is not defined in this scenario (domains: {self.names.known(self.names.domains)})")
            return None
        return name

    def address(self, node: Node, field: str) -> str | None:
        raw = self.text(node, field, "an address like user@domain")
        if raw is None:
            return None
        if not _ADDRESS_RE.fullmatch(raw) or len(raw) > 254:
            self.add(node, field, f"{raw!r} is not a mail address like user@domain")
            return None
        local, _, domain = raw.rpartition("@")
        return f"{local.lower()}@{tree.dns_name(domain)}"

    def addresses(self, node: Node, field: str) -> tuple[str, ...]:
        if isinstance(node, SequenceNode):
            if not node.value:
                self.add(node, field, "the list is empty")
            found = [self.address(item, f"{field}[{i}]") for i, item in enumerate(node.value)]
        else:
            found = [self.address(node, field)]
        return tuple(a for a in found if a)

    def mailbox(self, node: Node, field: str) -> str | None:
        address = self.address(node, field)
        if address is not None and address not in self.names.users:
            self.add(node, field, f"{address} has no mailbox in this scenario (users: {self.names.known(self.names.users)})")
            return None
        return address

    # -- scalars -------------------------------------------------------------------------------

    def body(self, node: Node, field: str, keys: tuple[str, ...], what: str) -> dict[str, Node] | None:
        entries = self.mapping(node, field, keys, what)
        return None if entries is None else {key: value for key, _, value in entries}

    def plain_text(self, body: dict[str, Node], key: str, field: str, default: str) -> str:
        if key not in body:
            return default
        node = body[key]
        if tree.is_null(node):
            return ""
        return self.text(node, tree.join(field, key), "text") or default

    def boolean(self, node: Node, field: str) -> bool | None:
        if isinstance(node, ScalarNode) and node.tag == _BOOL_TAG:
            return bool(SafeConstructor().construct_object(node))
        self.add(node, field, f"expected true or false, got {tree.kind(node)}")
        return None

    def integer(self, node: Node, field: str, low: int, high: int) -> int | None:
        if not (isinstance(node, ScalarNode) and node.tag == _INT_TAG):
            self.add(node, field, f"expected a whole number {low}..{high}, got {tree.kind(node)}")
            return None
        try:
            value = int(SafeConstructor().construct_object(node))
        except (yaml.YAMLError, ValueError):
            self.add(node, field, f"expected a whole number {low}..{high}, got {node.value!r}")
            return None
        if not low <= value <= high:
            self.add(node, field, f"expected a whole number {low}..{high}, got {value}")
            return None
        return value

    def number(self, node: Node, field: str, low: float, high: float) -> float | None:
        if not (isinstance(node, ScalarNode) and node.tag in (_INT_TAG, _FLOAT_TAG)):
            self.add(node, field, f"expected a number of seconds {low:g}..{high:g}, got {tree.kind(node)}")
            return None
        try:
            value = float(SafeConstructor().construct_object(node))
        except (yaml.YAMLError, ValueError):
            self.add(node, field, f"expected a number {low:g}..{high:g}, got {node.value!r}")
            return None
        if not low <= value <= high:
            self.add(node, field, f"expected a number {low:g}..{high:g}, got {value:g}")
            return None
        return value

    def choice(self, node: Node, field: str, enum: Any) -> Any:
        raw = self.text(node, field, f"one of {', '.join(enum)}")
        if raw is None:
            return None
        try:
            return enum(raw.lower())
        except ValueError:
            self.add(node, field, f"unknown value {raw!r}; one of {', '.join(enum)}")
            return None
