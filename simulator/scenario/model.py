"""The scenario model: the frozen dataclasses a scenario file becomes (loaded by :mod:`.load`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path


# --- the model -------------------------------------------------------------------------------------


class Role(StrEnum):
    MSA = "msa"
    MX = "mx"
    BACKUP_MX = "backup-mx"


class Outside(StrEnum):
    """What happens to mail for a domain outside the sandbox (the scenario's ``outside:`` key)."""
    BOUNCE = "bounce"      # the sending host gives up at once: 5.1.2, a bounce with the whole original
    CATCH = "catch"        # the outside world catches it whole in its one mailbox (nodes.CATCH_ADDRESS)


@dataclass(frozen=True, slots=True)
class Text:
    """A bilingual string. YAML may give a plain string (used for both) or ``{en:, ru:}``."""

    en: str
    ru: str


@dataclass(frozen=True, slots=True)
class UserSpec:
    name: str
    domain: str
    password: str
    display_name: str
    line: int

    @property
    def address(self) -> str:
        return f"{self.name}@{self.domain}"


@dataclass(frozen=True, slots=True)
class HostSpec:
    name: str
    domain: str
    role: Role
    up: bool
    address: str
    line: int


@dataclass(frozen=True, slots=True)
class MxSpec:
    preference: int
    host: str  # "." = null MX (RFC 7505)
    line: int


@dataclass(frozen=True, slots=True)
class DomainSpec:
    name: str
    index: int  # 1-based position in the file
    users: tuple[UserSpec, ...]
    hosts: tuple[HostSpec, ...]
    mx: tuple[MxSpec, ...] | None  # None = no MX records at all (implicit MX, RFC 5321 §5.1)
    address: str | None  # the apex A record (None = no A record)
    txt: tuple[str, ...]  # TXT records at the apex
    line: int
    catch_all: str | None = None  # a user's name: any other local part of the domain is delivered to it
    # a user's name: who takes mail for postmaster@ the domain (RFC 5321 §4.5.1), as the file gives it;
    # None: the default (see World.postmaster_of).  A user named postmaster takes its own mail.
    postmaster: str | None = None


# --- faults: what can go wrong, as data -----------------------------------------------------------


class FaultKind(StrEnum):
    """What a fault does, and what it is set on (``target``)."""
    GREYLIST = "greylist"           # host: 450 4.7.1 at RCPT on the first try of (client, sender, rcpt)
    SLOW = "slow"                   # host: the greeting and/or the reply to DATA come late
    REPLY = "reply"                 # host: answer ``code text`` at ``command`` instead of the real reply
    SIZE_LIMIT = "size_limit"       # host: EHLO announces SIZE ``size``; larger messages get 552 5.3.4
    REQUIRE_TLS = "require_tls"     # host: MAIL before STARTTLS gets 530 5.7.0
    NO_TLS = "no_tls"               # host: neither offers STARTTLS nor uses it when sending (an old MTA)
    REFUSE = "refuse"               # host: port 25 refuses connections (the host is up otherwise)
    MAILBOX_FULL = "mailbox_full"   # mailbox address: 452 4.2.2 (or 552 5.2.2 if ``permanent``) at RCPT
    SERVFAIL = "servfail"           # zone: the DNS answers SERVFAIL for every name in it
    DNS_TIMEOUT = "dns_timeout"     # zone: the DNS does not answer at all for names in it
    NO_ADDRESS = "no_address"       # host name: its A record is missing from its zone


HOST_FAULTS = frozenset({FaultKind.GREYLIST, FaultKind.SLOW, FaultKind.REPLY, FaultKind.SIZE_LIMIT,
                         FaultKind.REQUIRE_TLS, FaultKind.NO_TLS, FaultKind.REFUSE, FaultKind.NO_ADDRESS})
ZONE_FAULTS = frozenset({FaultKind.SERVFAIL, FaultKind.DNS_TIMEOUT})
MAILBOX_FAULTS = frozenset({FaultKind.MAILBOX_FULL})


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault, set on one host, zone or mailbox.  At most one fault of a kind per target: setting
    it again replaces it.  Only the fields of its kind mean anything; the others keep their defaults.

    YAML (a step ``fault: {...}``, or an item of the top-level ``faults:`` list), the kind is the key
    and the target its value::

        {greylist: mx.beta.test, delay: 0}        # accept the retry once ``delay`` s have passed
        {slow: mx.beta.test, greeting: 3, data: 2}
        {reply: mx.beta.test, at: RCPT, code: 451, text: "4.3.0 Try again later", times: 1}
        {size_limit: mx.beta.test, size: 10000}
        {require_tls: mx.beta.test}   {no_tls: smtp.alpha.test}   {refuse: mx1.beta.test}
        {mailbox_full: bob@beta.test, permanent: false}
        {servfail: beta.test}   {dns_timeout: beta.test}   {no_address: mx1.beta.test}
    """

    kind: FaultKind
    target: str                     # a host name, a zone (domain) name, or a mailbox address
    delay: float = 0.0              # greylist: a retry earlier than this is greylisted again
    greeting: float = 0.0           # slow: seconds before the 220 greeting
    data: float = 0.0               # slow: seconds before the reply to the end of DATA
    command: str = ""               # reply: CONNECT (the greeting), EHLO, HELO, MAIL, RCPT, DATA, DOT, QUIT
    code: int = 0                   # reply: the reply code (400..599)
    text: str = ""                  # reply: the reply text after the code
    times: int = 0                  # reply: answer so this many times, then behave again (0 = always)
    size: int = 0                   # size_limit: the largest message in bytes
    permanent: bool = False         # mailbox_full: 552 5.2.2 (permanent) rather than 452 4.2.2
    line: int = 0

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind.value, self.target)


# --- steps: the script of a lesson -----------------------------------------------------------------


class SendPort(StrEnum):
    SUBMISSION = "submission"       # port 587's role: STARTTLS offered, AUTH required
    SMTPS = "smtps"                 # implicit TLS (front door only)
    MX = "mx"                       # port 25's role: no AUTH, only mail for the host's own domains


@dataclass(frozen=True, slots=True)
class Attachment:
    name: str
    content: str = ""               # the text of the file, or
    size: int = 0                   # a file of this many bytes of filler


@dataclass(frozen=True, slots=True)
class Say:
    """Only narration: the page shows it; with ``pause`` the world waits for "next step"."""


@dataclass(frozen=True, slots=True)
class Send:
    sender: str                     # YAML ``from``
    to: tuple[str, ...]             # envelope recipients; one string or a list in YAML
    subject: str = "Hello"
    body: str = ""
    attachments: tuple[Attachment, ...] = ()
    via: str = "front"              # "front" (127.0.0.1) or the name of a sandbox host
    port: SendPort = SendPort.SUBMISSION
    tls: bool = True                # STARTTLS on submission/mx; smtps is always TLS
    auth: bool = True               # AUTH as the sender with its scenario password (no AUTH on mx)
    password: str | None = None     # a different password (a failed login lesson)
    cc: tuple[str, ...] = ()        # header-only recipients shown in Cc (also in the envelope)
    bcc: tuple[str, ...] = ()       # envelope-only recipients
    header_from: str = ""           # a From header that differs from the envelope sender


class FetchProtocol(StrEnum):
    POP3 = "pop3"
    IMAP = "imap"


@dataclass(frozen=True, slots=True)
class Fetch:
    user: str                       # the mailbox address; its scenario password logs in
    protocol: FetchProtocol = FetchProtocol.IMAP
    keep: bool = True               # False: POP3 DELE / IMAP \Deleted + EXPUNGE after reading
    tls: bool = True                # STLS / STARTTLS first


class WaitFor(StrEnum):
    DELIVERED = "delivered"         # an MDA wrote to the mailbox ``rcpt``
    BOUNCED = "bounced"             # a host gave up on ``rcpt``
    DEFERRED = "deferred"           # a host kept the message for ``rcpt`` for a later attempt
    RETRY = "retry"                 # a host retried a queued message
    RELAYED = "relayed"             # a host handed the message on (to ``host`` if given)
    QUIET = "quiet"                 # every queue is empty and no hop is in flight


@dataclass(frozen=True, slots=True)
class Wait:
    event: WaitFor | None = None    # None: wait ``seconds``
    rcpt: str = ""
    host: str = ""
    seconds: float = 0.0
    timeout: float = 30.0


@dataclass(frozen=True, slots=True)
class HostState:
    host: str
    up: bool


@dataclass(frozen=True, slots=True)
class SetMx:
    domain: str
    records: tuple[MxSpec, ...] | None      # None: no MX records (the implicit MX)


@dataclass(frozen=True, slots=True)
class SetFault:
    fault: Fault
    off: bool = False               # YAML ``off: true``: remove this fault


class ExpectKind(StrEnum):
    DELIVERED = "delivered"         # rcpt got the message (exactly ``count`` copies if given)
    BOUNCED = "bounced"             # a bounce for rcpt (with DSN status ``status`` if given)
    DEFERRED = "deferred"           # rcpt was deferred (and, with ``then_delivered``, delivered later)
    VIA = "via"                     # the message for rcpt (or any) was accepted by the MX ``host``
    MAILBOX = "mailbox"             # the mailbox rcpt holds ``count`` messages in INBOX
    REPLY = "reply"                 # a server answered ``code`` at ``command`` (at ``host`` if given)


@dataclass(frozen=True, slots=True)
class Expect:
    """A check of what happened since the lesson began (facts, and the mailboxes on disk).

    YAML: ``{delivered: bob@beta.test, copies: 1}``, ``{bounced: x@beta.test, status: 5.1.1}``,
    ``{deferred: bob@beta.test, then: delivered}``, ``{via: mx2.beta.test, rcpt: bob@beta.test}``,
    ``{mailbox: bob@beta.test, messages: 2}``, ``{reply: 450, at: RCPT, host: mx.beta.test}``;
    ``timeout`` (seconds) for how long the world may take to get there.
    """
    kind: ExpectKind
    rcpt: str = ""
    count: int | None = None
    status: str = ""
    then_delivered: bool = False
    host: str = ""
    code: int = 0
    command: str = ""
    timeout: float = 30.0


Action = Say | Send | Fetch | Wait | HostState | SetMx | SetFault | Expect


@dataclass(frozen=True, slots=True)
class Step:
    """One scripted step: an action, the narration the page shows with it, and whether the world
    waits for the teacher's "next step" before doing it.  ``action`` names the YAML key."""

    action: str                     # say, send, fetch, wait, host_down, host_up, set_mx, fault, expect
    do: Action
    line: int
    say: Text | None = None
    pause: bool = False


class Level(StrEnum):
    INTRO = "intro"
    CORE = "core"
    ADVANCED = "advanced"


@dataclass(frozen=True, slots=True)
class Goals:
    en: tuple[str, ...] = ()
    ru: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    title: Text
    summary: Text
    domains: tuple[DomainSpec, ...]
    steps: tuple[Step, ...]
    path: Path
    level: Level | None = None      # None: not a lesson of the library (free play)
    goals: Goals = Goals()
    faults: tuple[Fault, ...] = ()  # set when the world starts
    class_domain: str | None = None  # where students who join get mailboxes (None: the first with an mx host)
    outside: Outside = Outside.BOUNCE  # mail for domains outside the sandbox: bounced or caught

    def domain(self, name: str) -> DomainSpec:
        wanted = name.lower()
        for domain in self.domains:
            if domain.name == wanted:
                return domain
        raise KeyError(name)

    def host(self, name: str) -> HostSpec:
        wanted = name.lower()
        for host in self.hosts:
            if host.name == wanted:
                return host
        raise KeyError(name)

    @property
    def hosts(self) -> tuple[HostSpec, ...]:
        return tuple(host for domain in self.domains for host in domain.hosts)

    @property
    def users(self) -> tuple[UserSpec, ...]:
        return tuple(user for domain in self.domains for user in domain.users)


@dataclass(frozen=True, slots=True)
class Problem:
    path: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.field}: {self.message}"


class ScenarioError(Exception):
    """Every problem found in one scenario file, not only the first; str() gives one per line."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__(self.problems)  # args stay the constructor's, so the error pickles

    def __str__(self) -> str:
        return "\n".join(str(problem) for problem in self.problems)
