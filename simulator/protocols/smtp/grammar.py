"""RFC 5321's grammar for what a client names in SMTP: HELO/EHLO arguments, MAIL and RCPT paths.

Pure functions, no I/O: text in (the argument as aiosmtpd decoded it: UTF-8, undecodable bytes as
surrogates), a parsed record or a :class:`Problem` out.  :mod:`.session` calls them at every SMTP
door before aiosmtpd or the handler see the command, and turns a Problem into its reply.

Theory of operation
-------------------
The ABNF of RFC 5321 §4.1.2 (paths) and §4.1.3 (address literals), extended by RFC 6531 §3.3
(SMTPUTF8: non-ASCII in atext, qtext and U-label sub-domains, only when the transaction asked for
it), is read left to right by a small cursor (:class:`_Cursor`) — no regular expressions with
backtracking, no recursion, linear in the input::

    Path          = "<" [ A-d-l ":" ] Mailbox ">"        Reverse-path = Path / "<>"
    Mailbox       = Local-part "@" ( Domain / address-literal )
    Local-part    = Dot-string / Quoted-string          Dot-string = Atom *("." Atom)
    Quoted-string = DQUOTE *( qtextSMTP / "\\" %d32-126 ) DQUOTE
    Domain        = sub-domain *("." sub-domain)         sub-domain = Let-dig [Ldh-str]
    address-literal = "[" ( IPv4 / "IPv6:" IPv6 / General ) "]"
    Mail-parameters = esmtp-param *(SP esmtp-param)      esmtp-param = keyword ["=" value]

What is refused, and with which reply (RFC 5321 §4.2.2 and §4.5.3.1, RFC 3463 status codes):

- **501: not the grammar** — NUL and every other control character, spaces inside an unquoted
  local part (``<$(sleep 3)@x.test>``), empty labels, a trailing dot (``bob@beta.test.``), a hyphen
  at either end of a label, an unbalanced ``<`` or quote, bytes that are not UTF-8, a parameter
  that is not ``keyword[=value]``; and the limits of §4.5.3.1: local part 64 octets (§4.5.3.1.1),
  domain 255 octets (§4.5.3.1.2), path 256 octets (§4.5.3.1.3: "501 Path too long").  Status
  5.1.7 for a sender, 5.1.3 for a recipient, 5.5.2 for HELO/EHLO.
- **553: grammatical but not allowed here** ("mailbox name not allowed", §4.2.2) — source routes
  ``<@a,@b:u@c>`` (§4.1.1.3 lets a server decline them, Appendix C calls them obsolete), a DNS
  label longer than 63 octets (RFC 1035 §2.3.4: no such domain can exist), address literals other
  than IPv4 and IPv6 (no other tag is registered), and non-ASCII without SMTPUTF8 (553 5.6.7,
  RFC 6531 §3.5).

What is only *reported*, for the session's policy to decide: ``Mailbox.routing`` — a local part that
carries a routing operator (``%`` of the percent hack, ``!`` of bang paths, or an ``@`` inside
quotes), and ``Mailbox.literal`` — an address literal instead of a domain name.

Tolerated, as Postfix does by default (``strict_rfc821_envelopes = no``): spaces after ``FROM:`` /
``TO:``, and a path without its angle brackets.  HELO/EHLO take one Domain or address literal
(§4.1.1.1); an underscore is tolerated in a HELO name (some machines' own names carry one), dot-less
names such as ``vm`` and any literal are accepted, as RFC 5321 §4.1.4 asks.  ``<Postmaster>`` (no
domain) is a valid forward-path (§4.5.1).

Left out: the obsolete RFC 821 forms beyond source routes, IDNA validation of U-labels beyond
"letters, digits, hyphens".

The three public functions remember their last :data:`PARSED_KEPT` answers (``functools.lru_cache``:
the results are frozen records, and a client that sends many messages names the same paths and the
same HELO name again and again).  Bounded: the arguments are command lines of at most 512 octets.
"""
from __future__ import annotations

import enum
import functools
import ipaddress
import unicodedata
from dataclasses import dataclass

__all__ = ["MAX_DOMAIN", "MAX_LABEL", "MAX_LOCAL_PART", "MAX_PATH", "Flaw", "Mailbox", "Path", "Problem",
           "parse_helo", "parse_mail", "parse_rcpt"]

MAX_LOCAL_PART = 64      # octets, RFC 5321 §4.5.3.1.1
MAX_DOMAIN = 255         # octets, RFC 5321 §4.5.3.1.2
MAX_PATH = 256           # octets with "<" and ">", RFC 5321 §4.5.3.1.3
MAX_LABEL = 63           # octets, RFC 1035 §2.3.4
PARSED_KEPT = 512        # answers each public function remembers (the same paths come again and again)

_ATEXT = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~")
_LETDIG = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_ROUTING = frozenset("%!@")


class Flaw(enum.Enum):
    """Why an argument was refused (data: the session words the reply)."""
    CONTROL = "control"               # NUL or another control character
    NOT_UTF8 = "not-utf8"             # bytes that are not UTF-8
    SYNTAX = "syntax"                 # anything else the ABNF does not allow
    SPACE = "space"                   # a space where the grammar has none (an unquoted local part)
    BAD_DOMAIN = "bad-domain"         # empty label, trailing dot, hyphen at a label's end, bad character
    BAD_LITERAL = "bad-literal"       # a malformed [address literal]
    LOCAL_TOO_LONG = "local-too-long"
    DOMAIN_TOO_LONG = "domain-too-long"
    PATH_TOO_LONG = "path-too-long"
    NULL_PATH = "null-path"           # "<>" where a recipient is needed
    BAD_PARAMETER = "bad-parameter"
    LABEL_TOO_LONG = "label-too-long"             # 553
    SOURCE_ROUTE = "source-route"                 # 553
    UNSUPPORTED_LITERAL = "unsupported-literal"   # 553
    NON_ASCII = "non-ascii"                       # 553 5.6.7


_NOT_ALLOWED = {Flaw.LABEL_TOO_LONG, Flaw.SOURCE_ROUTE, Flaw.UNSUPPORTED_LITERAL, Flaw.NON_ASCII}


@dataclass(frozen=True, slots=True)
class Problem:
    """A refused argument: the reply code and enhanced status (RFC 3463) it earns, and why."""
    code: int
    status: str
    flaw: Flaw


@dataclass(frozen=True, slots=True)
class Mailbox:
    local: str            # as written: a Dot-string, or a Quoted-string with its quotes
    domain: str           # a Domain, or an address literal with its brackets ("" for <Postmaster>)
    quoted: bool = False
    literal: bool = False
    routing: bool = False  # the local part carries %, ! or a quoted @ (sender-specified routing)

    def __str__(self) -> str:
        return f"{self.local}@{self.domain}" if self.domain else self.local


@dataclass(frozen=True, slots=True)
class Path:
    mailbox: Mailbox | None                        # None: the null reverse-path "<>"
    params: tuple[tuple[str, str | None], ...] = ()  # (KEYWORD upper-cased, value or None)
    bracketed: bool = True

    @property
    def address(self) -> str:
        """The address as aiosmtpd and the handler carry it ("<>" for the null path)."""
        return "<>" if self.mailbox is None else str(self.mailbox)


# -- the public functions ----------------------------------------------------------------------------

@functools.lru_cache(maxsize=PARSED_KEPT)
def parse_helo(arg: str | None) -> str | Problem:
    """The HELO/EHLO argument (RFC 5321 §4.1.1.1): one Domain or address literal."""
    problem = _problem_of_text(arg or "", "5.5.2")
    if problem is not None:
        return problem
    text = (arg or "").strip(" ")
    if not text or " " in text:
        return Problem(501, "5.5.2", Flaw.SYNTAX)
    cur = _Cursor(text)
    flaw = _literal(cur) if text.startswith("[") else _domain(cur, utf8=True, underscore=True)
    if flaw is None and not cur.done:
        flaw = Flaw.SYNTAX
    if flaw is None and len(text.encode()) > MAX_DOMAIN:
        flaw = Flaw.DOMAIN_TOO_LONG
    return text if flaw is None else _problem(flaw, "5.5.2")


@functools.lru_cache(maxsize=PARSED_KEPT)
def parse_mail(arg: str | None, *, smtputf8_offered: bool = True) -> Path | Problem:
    """``MAIL FROM:<reverse-path> [params]`` (RFC 5321 §4.1.1.2, §4.1.2); ``arg`` follows "MAIL "."""
    path = _parse_command(arg, "FROM:", "5.1.7", reverse=True)
    if isinstance(path, Problem) or path.mailbox is None:
        return path
    utf8 = smtputf8_offered and any(key == "SMTPUTF8" for key, _ in path.params)
    if not utf8 and not str(path.mailbox).isascii():
        return Problem(553, "5.6.7", Flaw.NON_ASCII)
    return path


@functools.lru_cache(maxsize=PARSED_KEPT)
def parse_rcpt(arg: str | None, *, smtputf8: bool = False) -> Path | Problem:
    """``RCPT TO:<forward-path> [params]`` (RFC 5321 §4.1.1.3, §4.1.2); ``smtputf8``: the
    transaction's MAIL asked for SMTPUTF8 (RFC 6531 §3.4)."""
    path = _parse_command(arg, "TO:", "5.1.3", reverse=False)
    if isinstance(path, Problem):
        return path
    if not smtputf8 and not path.address.isascii():
        return Problem(553, "5.6.7", Flaw.NON_ASCII)
    return path


# -- the parts -------------------------------------------------------------------------------------

def _problem(flaw: Flaw, status: str) -> Problem:
    if flaw is Flaw.NON_ASCII:
        return Problem(553, "5.6.7", flaw)
    return Problem(553 if flaw in _NOT_ALLOWED else 501, status, flaw)


def _problem_of_text(text: str, status: str) -> Problem | None:
    """Controls and undecodable bytes are refused wherever they are (even inside quotes)."""
    for char in text:
        if "\udc80" <= char <= "\udcff":
            return Problem(501, status, Flaw.NOT_UTF8)
        if ord(char) < 32 or ord(char) == 127 or (not char.isascii() and _forbidden_unicode(char)):
            return Problem(501, status, Flaw.CONTROL)
    return None


def _forbidden_unicode(char: str) -> bool:
    """Non-ASCII that no address may carry: controls, formats (bidi overrides), surrogates,
    private use, unassigned, and spaces (a no-break space passes for a space)."""
    return unicodedata.category(char)[0] in "CZ"


def _parse_command(arg: str | None, keyword: str, status: str, *, reverse: bool) -> Path | Problem:
    text = arg or ""
    problem = _problem_of_text(text, status)
    if problem is not None:
        return problem
    if text[:len(keyword)].upper() != keyword:
        return Problem(501, status, Flaw.SYNTAX)
    cur = _Cursor(text[len(keyword):].lstrip(" "))     # tolerated: "FROM: <x>"
    if cur.done:
        return Problem(501, status, Flaw.SYNTAX)
    start = cur.pos
    result = _path(cur, reverse=reverse)
    if isinstance(result, Flaw):
        return _problem(result, status)
    mailbox, bracketed = result
    if len(cur.text[start:cur.pos].encode()) + (0 if bracketed else 2) > MAX_PATH:
        return _problem(Flaw.PATH_TOO_LONG, status)
    params = _params(cur)
    if isinstance(params, Flaw):
        return _problem(params, status)
    return Path(mailbox, params, bracketed)


def _path(cur: "_Cursor", *, reverse: bool) -> tuple[Mailbox | None, bool] | Flaw:
    if not cur.take("<"):                       # tolerated: no brackets (Postfix's default)
        mailbox = _mailbox(cur)
        if isinstance(mailbox, Flaw):
            return mailbox
        return (mailbox, False) if cur.done or cur.peek() == " " else Flaw.SYNTAX
    if cur.take(">"):
        return (None, True) if reverse else Flaw.NULL_PATH
    if cur.peek() == "@":                       # A-d-l ":" — a source route
        return Flaw.SOURCE_ROUTE if _skip_route(cur) else Flaw.SYNTAX
    if not reverse and cur.rest_upper().startswith("POSTMASTER>"):
        local = cur.text[cur.pos:cur.pos + 10]
        cur.pos += 11
        return Mailbox(local, ""), True          # RFC 5321 §4.5.1: <Postmaster> needs no domain
    mailbox = _mailbox(cur)
    if isinstance(mailbox, Flaw):
        return mailbox
    if not cur.take(">"):
        return Flaw.SPACE if cur.peek() == " " else Flaw.SYNTAX
    return mailbox, True


def _skip_route(cur: "_Cursor") -> bool:
    """``@a,@b:`` — recognised, only so that it can be refused as a source route."""
    while cur.take("@"):
        if _domain(cur, utf8=True) is not None:
            return False
        if cur.take(":"):
            return True
        if not cur.take(","):
            return False
    return False


def _mailbox(cur: "_Cursor") -> Mailbox | Flaw:
    start = cur.pos
    quoted = cur.peek() == '"'
    flaw = _quoted_string(cur) if quoted else _dot_string(cur)
    if flaw is not None:
        return flaw
    local = cur.text[start:cur.pos]
    if not cur.take("@"):
        return Flaw.SPACE if cur.peek() == " " and not quoted else Flaw.SYNTAX
    if len(local.encode()) > MAX_LOCAL_PART:
        return Flaw.LOCAL_TOO_LONG
    dstart = cur.pos
    literal = cur.peek() == "["
    flaw = _literal(cur) if literal else _domain(cur, utf8=True)
    if flaw is not None:
        return flaw
    domain = cur.text[dstart:cur.pos]
    if len(domain.encode()) > MAX_DOMAIN:
        return Flaw.DOMAIN_TOO_LONG
    content = _unquote(local) if quoted else local
    return Mailbox(local, domain, quoted=quoted, literal=literal,
                   routing=any(char in _ROUTING for char in content))


def _dot_string(cur: "_Cursor") -> Flaw | None:
    """Dot-string = Atom *("." Atom): no empty atom, no leading, trailing or double dot."""
    while True:
        start = cur.pos
        while not cur.done and _is_atext(cur.peek()):
            cur.pos += 1
        if cur.pos == start:
            return Flaw.SPACE if cur.peek() == " " else Flaw.SYNTAX
        if not cur.take("."):
            return None


def _quoted_string(cur: "_Cursor") -> Flaw | None:
    cur.take('"')
    while not cur.done:
        char = cur.next()
        if char == '"':
            return None
        if char == "\\":
            if cur.done or not (32 <= ord(cur.peek()) <= 126):
                return Flaw.SYNTAX
            cur.pos += 1
        elif not (32 <= ord(char) <= 126 or not char.isascii()):
            return Flaw.SYNTAX
    return Flaw.SYNTAX                            # no closing quote


def _unquote(quoted: str) -> str:
    out, escaped = [], False
    for char in quoted[1:-1]:
        if escaped or char != "\\":
            out.append(char)
            escaped = False
        else:
            escaped = True
    return "".join(out)


def _domain(cur: "_Cursor", *, utf8: bool, underscore: bool = False) -> Flaw | None:
    """Domain = sub-domain *("." sub-domain); sub-domain = Let-dig [Ldh-str] (or a U-label)."""
    while True:
        start = cur.pos
        while not cur.done and _is_label_char(cur.peek(), utf8=utf8, underscore=underscore):
            cur.pos += 1
        label = cur.text[start:cur.pos]
        if not label or label[0] == "-" or label[-1] == "-":
            return Flaw.BAD_DOMAIN
        if len(label.encode()) > MAX_LABEL:
            return Flaw.LABEL_TOO_LONG
        if not cur.take("."):
            return None
        if cur.done or not _is_label_char(cur.peek(), utf8=utf8, underscore=underscore):
            return Flaw.BAD_DOMAIN                # a trailing dot, or an empty label


def _literal(cur: "_Cursor") -> Flaw | None:
    """address-literal (RFC 5321 §4.1.3): [IPv4], [IPv6:...]; a General one is refused (553)."""
    cur.take("[")
    start = cur.pos
    while not cur.done and cur.peek() not in "[]\\":
        cur.pos += 1
    if not cur.take("]"):
        return Flaw.BAD_LITERAL
    body = cur.text[start:cur.pos - 1]
    if body[:5].upper() == "IPV6:":
        return None if _ipv6(body[5:]) else Flaw.BAD_LITERAL
    if ":" in body:
        tag, _, content = body.partition(":")
        ok = tag and content and all(c in _LETDIG or c == "-" for c in tag) and all(33 <= ord(c) <= 126 for c in content)
        return Flaw.UNSUPPORTED_LITERAL if ok else Flaw.BAD_LITERAL
    return None if _ipv4(body) else Flaw.BAD_LITERAL


def _ipv4(text: str) -> bool:
    parts = text.split(".")
    return len(parts) == 4 and all(1 <= len(p) <= 3 and p.isascii() and p.isdigit() and int(p) <= 255 for p in parts)


def _ipv6(text: str) -> bool:
    if not text or not all(c in "0123456789abcdefABCDEF:." for c in text):
        return False
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def _params(cur: "_Cursor") -> tuple[tuple[str, str | None], ...] | Flaw:
    """esmtp-param = esmtp-keyword ["=" esmtp-value] (RFC 5321 §4.1.2; values may be UTF-8, RFC 6531)."""
    params: list[tuple[str, str | None]] = []
    while not cur.done:
        if not cur.take(" "):
            return Flaw.SPACE if params else Flaw.SYNTAX
        while cur.take(" "):
            pass
        if cur.done:
            break
        start = cur.pos
        while not cur.done and cur.peek() != " ":
            cur.pos += 1
        keyword, eq, value = cur.text[start:cur.pos].partition("=")
        if not keyword or not keyword[0].isascii() or not keyword[0].isalnum() or \
                not all(c in _LETDIG or c == "-" for c in keyword):
            return Flaw.BAD_PARAMETER
        if eq and (not value or any(c == "=" or (c.isascii() and not 33 <= ord(c) <= 126) for c in value)):
            return Flaw.BAD_PARAMETER
        params.append((keyword.upper(), value if eq else None))
    return tuple(params)


def _is_atext(char: str) -> bool:
    return char in _ATEXT or (not char.isascii() and not _forbidden_unicode(char))


def _is_label_char(char: str, *, utf8: bool, underscore: bool) -> bool:
    if char in _LETDIG or char == "-" or (underscore and char == "_"):
        return True
    return utf8 and not char.isascii() and char.isalnum()


class _Cursor:
    """A position in the argument; every step moves forward (linear, no backtracking)."""
    __slots__ = ("text", "pos")

    def __init__(self, text: str) -> None:
        self.text, self.pos = text, 0

    @property
    def done(self) -> bool:
        return self.pos >= len(self.text)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def next(self) -> str:
        char = self.text[self.pos]
        self.pos += 1
        return char

    def take(self, char: str) -> bool:
        if self.text.startswith(char, self.pos):
            self.pos += len(char)
            return True
        return False

    def rest_upper(self) -> str:
        return self.text[self.pos:self.pos + 11].upper()
