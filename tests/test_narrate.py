"""The narrator's own table tests: every fact class, every reason code, every language.

Nothing here names a fact class.  The tests walk :func:`simulator.facts.all_facts` and
:func:`simulator.facts.reason_enums` and build instances from each class's dataclass fields and type
hints (:class:`Builder`): a realistic value per ``str`` field chosen by its name, several values per
``int``, both ``bool`` values, every member of an enum, one :class:`Reason` per code of every reason
enum, small tuples and mappings.  When a class has few combinations all of them are narrated;
otherwise every pair of field values is (the rest of the fields at their first value).  So a fact or a
reason added tomorrow is covered without touching this file.  Quoted examples in a field's comment
(``command: str  # "RETR" or "TOP"``) are used as its values; a reason's parameters are those its
comment names (``# domain, host: ...``) and those its texts read.  A combination a fact can never
have (TOP without a line count, say) is best refused by the fact itself: a ``__post_init__`` that
raises ValueError makes the builder skip it.

Every narration, in every language, must be non-empty, have no ``{``/``}`` left over in its prose, no
``None``, no double full stop, no space at either end or twice in a row, balanced code spans, a
counted noun in a form that fits its number, and name no port but the fact's own; in Russian, once
code spans, host names, addresses, ids and numbers are removed, no Latin word but the few allowed
acronyms (:data:`ALLOWED_LATIN`) and none of the terms the seed article replaced (:data:`RU_TERMS`);
in English, no Cyrillic.  Failures list, per fact class and language, each problem with the field
values that first produce it and the text.  The page's own strings (``narrate.ui``) and the plural
helpers (Python and ``static/js/plural.js``) are checked against tables.

The checker is tested too (``test_checker_*``): a broken catalogue entry must be caught.

This module is longer than the house limit of ~600 lines because the instance builder, the checker,
its own tests and the tests proper belong together and the brief gave this one file; split the
builder and checker into a ``tests/narrate_check.py`` helper if it grows further.
"""
from __future__ import annotations

import dataclasses
import enum
import functools
import inspect
import itertools
import json
import logging
import math
import re
import shutil
import subprocess
import sys
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Iterable, Iterator

import pytest

from simulator import facts, nodes
from simulator.facts import Fact, Reason, Status
from simulator.narrate import CATALOGUES, LANGUAGES, markup, narrate, plural, ui

# -- the Russian check ------------------------------------------------------------------------------

#: Latin words Russian prose may hold outside code spans: acronyms of the seed article and of the
#: protocols, SASL mechanism names, the standard folder name, and the one English gloss the style
#: guide asks for («ретрансляция (relay) запрещена»).  Keep it short: anything else is protocol text
#: and belongs in ``markup.code()``.
ALLOWED_LATIN = frozenset({
    "MUA", "MSA", "MTA", "MDA", "MX", "DNS", "SMTP", "ESMTP", "POP3", "IMAP", "TLS", "STARTTLS",
    "AUTH", "SASL", "PLAIN", "LOGIN", "UID", "UIDL", "IDLE", "Maildir", "RFC", "DSN", "ID", "INBOX",
    "relay",
})

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*")
_HOST = re.compile(r"[\w-]*[A-Za-z][\w-]*(?:\.[\w-]*[A-Za-z0-9][\w-]*)+")   # a dot between letters
_IDENT = re.compile(r"\b(?=\w*\d)(?=\w*[A-Za-z])\w+\b")   # a token of letters and digits: 4F2A9C1B0D4E
_NUMBER = re.compile(r"\d+")
_LATIN = re.compile(r"[A-Za-z]+")
# a UI string's slot for the page to fill: "{count}", or a counted word "{n#письмо|письма|писем}"
_PLACEHOLDER = re.compile(r"\{(\w*)(?:#([^{}]*))?\}")
PLURAL_FORMS = {"en": 2, "ru": 3}       # how many forms a counted word has in each language


#: Russian words the seed article replaces (issue 7, "The words themselves"): stem -> the term to use.
RU_TERMS = {
    "почтовая программа": "«почтовый клиент (MUA)»",
    "почтовой программ": "«почтовый клиент (MUA)»",
    "почтовую программ": "«почтовый клиент (MUA)»",
    "предпочтени": "«приоритет MX»",
    "входная дверь": "«общая точка входа»",
    "входной двер": "«общая точка входа»",
    "входную дверь": "«общая точка входа»",
    "у шлюза": "«ждёт разрешения»",
    "во INBOX": "«в папке INBOX»",
    "учител": "«преподаватель»",
    "Учител": "«преподаватель»",
}


#: Counted nouns whose form after a number the tests check (one, few, many / one, other).
RU_NOUNS = (("письмо", "письма", "писем"), ("байт", "байта", "байт"), ("строка", "строки", "строк"),
            ("шаг", "шага", "шагов"), ("попытка", "попытки", "попыток"), ("папка", "папки", "папок"),
            ("получатель", "получателя", "получателей"), ("неудача", "неудачи", "неудач"),
            ("секунда", "секунды", "секунд"), ("запись", "записи", "записей"))
EN_NOUNS = (("message", "messages"), ("byte", "bytes"), ("line", "lines"), ("step", "steps"),
            ("attempt", "attempts"), ("folder", "folders"), ("recipient", "recipients"),
            ("failure", "failures"), ("second", "seconds"), ("record", "records"))
_COUNTED = re.compile(r"(?<![\w.,])(\d+)\s+(\w+)")


def plural_mistakes(text: str, lang: str) -> list[str]:
    """"1 писем", "5 письма", "1 messages": a number followed by a form of a known counted noun that
    fits no case.  Russian takes the nominative (1 письмо, 2 письма, 5 писем) or, after a preposition
    or a noun, the genitive (из 1 письма, данные 2 писем); English may use a singular noun as an
    attribute ("2 message bodies"), so a singular counts as wrong only before punctuation."""
    out = []
    prose = _prose(text)
    for m in _COUNTED.finditer(prose):
        number, word, n = m.group(1), m.group(2), int(m.group(1))
        stop = m.end() == len(prose) or prose[m.end()] in ".,;:!?)"
        if lang == "ru":
            forms = next((f for f in RU_NOUNS if word in f), None)
            if not forms:
                continue
            one, few, many = forms
            fits = {plural.ru_form(n, one, few, many), plural.ru_form(n, few, many, many)}
        elif lang == "en":
            forms = next((f for f in EN_NOUNS if word in f), None)
            if not forms:
                continue
            fits = {plural.en_form(n, *forms)} | ({forms[0]} if n != 1 and not stop else set())
        else:
            continue
        if word not in fits:
            out.append(f"says '{number} {word}', not " + " or ".join(f"'{number} {w}'" for w in sorted(fits)))
    return out


def english_words(text: str) -> list[str]:
    """The Latin words of ``text``'s prose that are not allowed in Russian (see module docstring)."""
    prose = markup.strip_code(text)
    for pattern in (_EMAIL, _HOST, _IDENT, _NUMBER):
        prose = pattern.sub(" ", prose)
    return [w for w in _LATIN.findall(prose) if w not in ALLOWED_LATIN]


def _prose(text: str) -> str:
    """The text with every code span replaced by one sign (so punctuation around it still counts)."""
    parts = text.split(markup.TICK)
    return "§".join(parts[0::2])


def text_problems(text: Any, lang: str) -> list[str]:
    """What is wrong with one summary or explanation (empty list: nothing)."""
    if not isinstance(text, str):
        return [f"is {type(text).__name__}, not str"]
    out = []
    if not text.strip():
        return ["is empty"]
    if text != text.strip():
        out.append("has a space at the start or end")
    if text.count(markup.TICK) % 2:
        out.append("has an unclosed code span (odd number of backticks)")
    prose = _prose(text)
    if "{" in prose or "}" in prose:
        out.append("has '{' or '}' left over")
    if "None" in text:
        out.append("says 'None'")
    if re.search(r"\.\s*\.", prose):
        out.append("has a double full stop")
    if "  " in prose:
        out.append("has two spaces in a row (an empty value?)")
    if re.search(r"\s[.,:;]", prose):
        out.append("has a space before punctuation (an empty value?)")
    out += plural_mistakes(text, lang)
    if lang == "ru":
        out += [f"English word {w!r}" for w in dict.fromkeys(english_words(text))]
        out += [f"says «{stem}…»: use {term}" for stem, term in RU_TERMS.items() if stem in prose]
    if lang == "en" and re.search("[А-Яа-яЁё]", prose):
        out.append("has Cyrillic letters in English prose")
    return out


# -- building instances -----------------------------------------------------------------------------

HOST = "mx1.beta.test"
DOMAIN = "beta.test"
ADDRESS = "bob@beta.test"
REPLY = "550 5.1.1 <nobody@beta.test>: user unknown"
QUEUED = "250 2.0.0 Ok: queued as 4F2A9C1B0D4E"
PATH = "mail/beta.test/bob/new/1733312345.M1P2.mx1.beta.test"
MESSAGE = {"from": "alice@alpha.test", "to": ["bob@beta.test"], "subject": "Hello", "size": 643}

# field or parameter name (lower case, searched) -> values; the first rule that matches wins
STR_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (r"answer|record|rdata", ("MX 10 mx1.beta.test", "A 127.42.2.2")),
    (r"question", ("beta.test MX",)),
    (r"transport", ("udp", "tcp")),
    (r"reply|response|diagnostic|error|greeting|banner|line", (REPLY, QUEUED)),
    (r"^peer$|^ip$|_ip$|^ip_|^address$|^source$|^client$", ("127.0.0.1",)),
    (r"folder|mailbox_name", ("INBOX",)),
    (r"dest|created|new_name", ("Archive",)),
    (r"pattern", ("*",)),
    (r"reference", ("",)),
    (r"path|file", (PATH,)),
    (r"message_id|msgid", ("<4F2A9C1B0D4E@alpha.test>",)),
    (r"trace|queue_id|^id$|_id$|token", ("4F2A9C1B0D4E",)),
    (r"sender|mail_from|rcpt|recipient|failure|user|login|account|owner|^from_?$|^to$|address|addr|"
     r"mailbox",
     (ADDRESS,)),
    (r"domain|zone|qname", (DOMAIN,)),
    (r"host|server|target|mx|relay|helo|ehlo|via|next|chosen", (HOST,)),
    (r"command|verb|cmd", ("RETR",)),
    (r"mechanism|mech", ("PLAIN",)),
    (r"rcode", ("NOERROR", "NXDOMAIN", "REFUSED", "SERVFAIL")),
    (r"qtype|rtype|rdtype|type", ("MX",)),
    (r"subject", ("Hello",)),
    (r"flag", ("\\Seen",)),
    (r"service|protocol", ("imap",)),
    (r"tls|cipher|version", ("TLSv1.3",)),
    (r"name", (DOMAIN,)),
)
STR_DEFAULT = (DOMAIN,)
INT_RULES: tuple[tuple[str, tuple[int, ...]], ...] = (
    (r"port", (25, 587, 2525)),
    (r"code|status", (250, 451, 550)),
    (r"size|octets|bytes|length", (0, 1, 2, 5, 21, 643, 2048, 5 * 1024 * 1024)),
    (r"preference|priority|pref", (0, 10, 20)),
    (r"uid|msn|seq|number|index|position", (1, 2, 5, 21)),
)
INT_DEFAULT = (0, 1, 2, 5, 21)
FLOAT_DEFAULT = (0.0, 1.0, 1.5, 21.0, 90.0, 3600.0)
# a reason parameter with such a name is a number; any other is a string
INT_PARAM = re.compile(r"count|port|^code$|size|octets|attempt|limit|seconds|preference|^n$|number|"
                       r"uid|ttl|tries|retries|delay|(^|_)age$|lines|total|left|after|lifetime|^own$")
# values that mean something particular for a field of this name and type
SPECIAL: dict[str, list[Any]] = {
    "mx": [(), ((0, "."),), ((10, "mx1.beta.test"), (20, "mx2.beta.test"))],
    "order": [(), ({"preference": 10, "host": "mx1.beta.test", "addresses": ("127.42.2.2",)},
                   {"preference": 20, "host": "mx2.beta.test", "addresses": ("127.42.2.3",)})],
}
BASE_VALUES: dict[str, list[Any]] = {
    "src": [nodes.mta("smtp.alpha.test"), nodes.FRONT, nodes.OUTSIDE],
    "dst": [nodes.mta(HOST), nodes.FRONT],
    "trace": ["4F2A9C1B0D4E"],
    "transcript": [(), (("C", "EHLO smtp.alpha.test"), ("S", "250 mx1.beta.test"), ("…", "7"))],
    "message": [MESSAGE, None],
}
FULL_PRODUCT_LIMIT = 256        # more combinations than this: every pair of values instead


def _by_name(rules, name: str, default):
    for pattern, values in rules:
        if re.search(pattern, name.lower()):
            return values
    return default


def param_value(name: str) -> Any:
    """A plausible value of a reason parameter, by its name."""
    if INT_PARAM.search(name.lower()):
        return _by_name(INT_RULES, name, INT_DEFAULT)[-1]
    return _by_name(STR_RULES, name, STR_DEFAULT)[0]


class Unbuildable(Exception):
    """A field whose type the builder has no values for: extend :class:`Builder`."""


def _code_comment(code: enum.Enum) -> str:
    """The comment beside a reason code in its enum's source ("" for none)."""
    try:
        source = inspect.getsource(type(code))
    except (OSError, TypeError):
        return ""
    m = re.search(rf"^\s*{re.escape(code.name)}\s*=.*?#(.*)$", source, re.MULTILINE)
    return m.group(1) if m else ""


def documented_params(code: enum.Enum) -> tuple[str, ...]:
    """The parameters a reason code's comment names: ``# domain, host: ...`` or ``# ... (domain, host)``."""
    comment = _code_comment(code)
    groups = re.findall(r"\(([^()]*)\)", comment)
    if ":" in comment:
        groups.insert(0, re.sub(r"\([^()]*\)", "", comment.split(":", 1)[0]))
    names: list[str] = []
    for group in groups:
        tokens = [t.strip() for t in group.split(",")]
        if tokens and all(re.fullmatch(r"[a-z_][a-z0-9_]*", t) for t in tokens):
            names += tokens
    return tuple(dict.fromkeys(names))


def reason_valued_params(code: enum.Enum) -> frozenset[str]:
    """The documented parameters that are themselves a Reason: ``last (a Reason or none)``."""
    return frozenset(re.findall(r"([a-z_][a-z0-9_]*)\s*\(an? Reason", _code_comment(code)))


@functools.cache
def inner_reason() -> Reason:
    """A Reason to pass as another reason's parameter: the first code that documents none."""
    for cls in facts.reason_enums():
        for code in cls:
            if not documented_params(code):
                return Reason.of(code)
    return Reason.of(_FakeReason.TWO)


def _param(code: enum.Enum, name: str) -> Any:
    if name in reason_valued_params(code):
        return inner_reason()
    return param_value(name)


def needed_params(code: enum.Enum, catalogues: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The parameters the catalogues' texts of ``code`` read (found by KeyError), with values."""
    params: dict[str, Any] = {}
    for catalogue in (catalogues or CATALOGUES).values():
        words = catalogue.REASONS.get(code)
        for _ in range(30):
            if words is None:
                break
            try:
                words(Reason.of(code, **params))
                break
            except KeyError as missing:
                name = missing.args[0] if missing.args else None
                if not isinstance(name, str) or name in params:
                    break
                params[name] = _param(code, name)
            except Exception:
                break
    return params


def sample_reasons(enums: Iterable[type] | None = None) -> list[Reason]:
    """One Reason per code of every reason enum, with the parameters its texts and comment name."""
    out = []
    for cls in facts.reason_enums() if enums is None else enums:
        for code in cls:
            params = needed_params(code)
            params.update({n: _param(code, n) for n in documented_params(code) if n not in params})
            out.append(Reason.of(code, **params))
    return out


class Builder:
    """Instances of a fact class from its fields and type hints (see module docstring)."""

    def __init__(self, reasons: list[Reason] | None = None) -> None:
        self.reasons = sample_reasons() if reasons is None else reasons

    def field_values(self, cls: type) -> dict[str, list[Any]]:
        hints = typing.get_type_hints(cls)
        comments = field_comments(cls)
        out = {}
        for field in dataclasses.fields(cls):
            name, hint, comment = field.name, hints[field.name], comments.get(field.name, "")
            if name in BASE_VALUES:
                out[name] = list(BASE_VALUES[name])
                continue
            if _is_str(hint) and re.search(r"\bnode\b", comment):     # "node id of the server"
                values: list[Any] = _node_values(cls)
                values += [None] if hint != str else []
            else:
                values = self.values(name, hint)
            quoted = re.findall(r'"([^"]*)"', comment)                 # "RETR" or "TOP"
            if quoted and _is_str(hint):     # the comment's examples; "" alone is not an example
                values = [q for q in quoted if q] + (values + [""] if "" in quoted else
                                                     [v for v in values if v is None])
            elif quoted and typing.get_origin(hint) is tuple and typing.get_args(hint)[:1] == (str,):
                values = values + [tuple(quoted[:1]), tuple(quoted)]
            if isinstance(field.default, str) and not isinstance(field.default, enum.Enum) \
                    and field.default:
                values.insert(0, field.default)      # a tag (``what = "host"``) or a usual value
            if not values:
                raise Unbuildable(f"{cls.__name__}.{name}: no values for type {hint!r}")
            out[name] = _unique(values)
        return out

    def values(self, name: str, hint: Any) -> list[Any]:
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        if name in SPECIAL and origin in (tuple, list):
            return list(SPECIAL[name])
        if origin in (typing.Union, types.UnionType):
            out = [v for a in args if a is not type(None) for v in self.values(name, a)]
            return out + [None] if type(None) in args else out
        if origin is typing.Literal:
            return list(args)
        if hint is Any:
            return list(_by_name(STR_RULES, name, STR_DEFAULT))
        if hint is Reason:
            return list(self.reasons)
        if isinstance(hint, type) and issubclass(hint, enum.Enum):
            return list(hint)
        if hint is bool:
            return [True, False]
        if hint is int:
            return list(_by_name(INT_RULES, name, INT_DEFAULT))
        if hint is float:
            return list(FLOAT_DEFAULT)
        if hint is str:
            return list(_by_name(STR_RULES, name, STR_DEFAULT))
        if origin in (tuple, list, frozenset, set):
            return self._sequences(name, origin, args)
        if origin in (dict, Mapping, typing.Mapping) or hint in (dict, Mapping):
            return self._mappings(name, args)
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            return [next(self.instances(hint))]
        return []

    def _sequences(self, name: str, origin: Any, args: tuple) -> list[Any]:
        make = tuple if origin is tuple else origin
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            items = [self.values(name, a) for a in args]
            if not all(items):
                return []
            return [tuple(v[i % len(v)] for v in items) for i in range(max(map(len, items)))]
        items = self.values(_singular(name), args[0] if args else Any)
        if not items:
            return []
        return [make(()), *(make((item,)) for item in items), make(items[:3])]

    def _mappings(self, name: str, args: tuple) -> list[Any]:
        if name == "message":
            return [MESSAGE, {}]
        keys = self.values(_singular(name), args[0]) if args else ["from", "to"]
        vals = self.values(_singular(name), args[1]) if args else ["beta.test"]
        if not keys or not vals:
            return []
        return [{}, dict(zip(keys[:3], itertools.cycle(vals)))]

    def combinations(self, cls: type) -> Iterator[dict[str, Any]]:
        """Every combination of the field values, or every pair of them when there are too many.

        The first yielded is the base: every field at its first value."""
        values = self.field_values(cls)
        names = list(values)
        base = {n: values[n][0] for n in names}
        yield dict(base)
        seen = {_key(base)}
        if math.prod(len(v) for v in values.values()) <= FULL_PRODUCT_LIMIT:
            combos = (dict(zip(names, combo)) for combo in itertools.product(*values.values()))
        else:
            combos = ({**base, a: va, b: vb} for a, b in itertools.combinations(names, 2)
                      for va in values[a] for vb in values[b])
            if len(names) == 1:
                combos = ({names[0]: v} for v in values[names[0]])
        for combo in combos:
            key = _key(combo)
            if key not in seen:
                seen.add(key)
                yield combo

    def instances(self, cls: type) -> Iterator[Fact]:
        for combo in self.combinations(cls):
            try:
                yield cls(**combo)
            except (TypeError, ValueError):
                continue            # a combination the class itself refuses


def field_comments(cls: type) -> dict[str, str]:
    """The comment beside each field in the source of ``cls`` and of its bases."""
    out: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if klass is object or not dataclasses.is_dataclass(klass):
            continue
        try:
            source = inspect.getsource(klass)
        except (OSError, TypeError):
            continue
        for m in re.finditer(r"^\s+(\w+)\s*:[^#\n]*#(.*)$", source, re.MULTILINE):
            out[m.group(1)] = m.group(2)
    return out


def _is_str(hint: Any) -> bool:
    return hint is str or (typing.get_origin(hint) in (typing.Union, types.UnionType)
                           and str in typing.get_args(hint))


def _node_values(cls: type) -> list[Any]:
    """Node ids for a field that holds one: the service of the fact's protocol, and the front door."""
    by_protocol = {"POP3": nodes.pop3(DOMAIN), "IMAP": nodes.imap(DOMAIN), "DNS": nodes.DNS}
    return [by_protocol.get(cls.protocol, nodes.mta(HOST)), nodes.FRONT]


def _singular(name: str) -> str:
    return name[:-1] if name.endswith("s") and not name.endswith("ss") else name


def _key(combo: Mapping[str, Any]) -> str:
    return repr(sorted(combo.items(), key=lambda kv: kv[0]))


def _unique(values: list[Any]) -> list[Any]:
    out, seen = [], set()
    for v in values:
        k = repr(v)
        if k not in seen:
            seen.add(k)
            out.append(v)
    return out


def describe(value: Any) -> str:
    if isinstance(value, Reason):
        params = ", ".join(f"{k}={v!r}" for k, v in value.params)
        return f"Reason({value.code.value}{': ' + params if params else ''})"
    if isinstance(value, enum.Enum):
        return f"{type(value).__name__}.{value.name}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def describe_combo(combo: Mapping[str, Any], base: Mapping[str, Any]) -> str:
    diff = [f"{k}={describe(v)}" for k, v in combo.items() if repr(v) != repr(base.get(k))]
    return "{" + ", ".join(diff) + "}" if diff else "{the base values}"


# -- checking facts ---------------------------------------------------------------------------------

@dataclass
class Finding:
    """One kind of problem in one fact class, language and part: where it was first seen, how often."""
    first: str
    text: str
    count: int = 0


def _snippet(text: str, problem: str, width: int = 150) -> str:
    """The part of ``text`` around the offending word, or its start."""
    m = re.match(r"English word '(\w+)'", problem)
    at = 0
    if m:
        hit = re.search(rf"(?<![A-Za-z]){re.escape(m.group(1))}(?![A-Za-z])", text)
        at = max(0, hit.start() - width // 3) if hit else 0
    cut = text[at:at + width]
    return ("…" if at else "") + cut + ("…" if at + width < len(text) else "")


def fact_problems(cls: type, builder: Builder | None = None, *, limit: int = 60) -> list[str]:
    """Everything wrong with the narrations of ``cls`` over its combinations of field values."""
    builder = builder or Builder()
    try:
        combos = list(builder.combinations(cls))
    except Unbuildable as exc:
        return [f"cannot build instances: {exc} (extend tests/test_narrate.py's Builder)"]
    base = combos[0]
    findings: dict[tuple[str, str], Finding] = {}
    built = 0
    for combo in combos:
        try:
            fact = cls(**combo)
        except (TypeError, ValueError):
            continue
        built += 1
        where = describe_combo(combo, base)
        for lang_part, what, text in _one_fact(fact):
            finding = findings.setdefault((lang_part, what), Finding(where, _snippet(text, what)))
            finding.count += 1
    if not built:
        return [f"no instance could be built from {len(combos)} combinations (does __post_init__ "
                f"refuse all of them?)"]
    lines = [f"{cls.__name__} ({cls.kind}) {lang_part}: {what} — first with {f.first}"
             f"{'' if f.count == 1 else f' ({f.count} of {built} instances)'}: {f.text!r}"
             for (lang_part, what), f in sorted(findings.items())]
    if len(lines) > limit:
        lines = lines[:limit] + [f"... and {len(lines) - limit} more"]
    return lines


def _one_fact(fact: Fact) -> list[tuple[str, str, str]]:
    """(where, problem, the text) for each problem of one instance."""
    out = []
    try:
        data = fact.data()
        json.dumps(data)
    except Exception as exc:
        out.append(("data", f"data() is not JSON-ready: {exc!r}", ""))
    if not isinstance(fact.status, Status):
        out.append(("status", f"is {fact.status!r}, not a Status", ""))
    present = [lang for lang in LANGUAGES if type(fact) in CATALOGUES[lang].TEXTS]
    try:
        if len(present) == len(LANGUAGES):
            text = narrate(fact)
        else:       # test_every_fact_has_a_text_in_every_language names the missing ones
            text = {}
            for lang in present:
                summary, explain = CATALOGUES[lang].TEXTS[type(fact)](fact)
                text[lang] = {"summary": summary, "explain": explain}
    except Exception as exc:
        return out + [("narrate", f"raises {type(exc).__name__}: {exc}", "")]
    port = getattr(fact, "port", None)
    for lang in present:
        words = text.get(lang) or {}
        for part in ("summary", "explain"):
            for problem in text_problems(words.get(part), lang):
                out.append((f"{lang}.{part}", problem, str(words.get(part))))
            if isinstance(port, int) and not isinstance(port, bool):
                for named in set(_WELL_KNOWN_PORT.findall(str(words.get(part)))) - {str(port)}:
                    out.append((f"{lang}.{part}", f"names port {named}, not the fact's port "
                                f"(take it from the fact)", str(words.get(part))))
    return out


# ports a text might name as a constant instead of the port the fact carries
_WELL_KNOWN_PORT = re.compile(r"(?<![\d.,])(25|465|587|110|995|143|993|53|2525)(?![\d.,])")


def _area(cls: type) -> str:
    return cls.__module__.rsplit(".", 1)[-1]


NARRATE_DIR = Path(__file__).resolve().parent.parent / "simulator" / "narrate"


def _catalogue_file(lang: str, area: str) -> str:
    """Where a language's words of an area live: its part file while the catalogue is built from
    parts (``narrate/parts/ru_smtp.py``), else the language's catalogue (``narrate/ru.py``)."""
    part = f"simulator.narrate.parts.{lang}_{area}"
    if part in sys.modules:
        return part.replace(".", "/") + ".py"
    return Path(CATALOGUES[lang].__file__).relative_to(NARRATE_DIR.parent.parent).as_posix()


def _missing(entries: Iterable[tuple[Any, str, str]], table: str) -> list[str]:
    """For each (key, label, area) a language's ``table`` lacks: what to add, and where."""
    return [f"{lang}: no text for {label}; add it to {_catalogue_file(lang, area)} {table}"
            for key, label, area in entries for lang in LANGUAGES
            if key not in getattr(CATALOGUES[lang], table)]


def missing_texts(classes: Iterable[type] | None = None) -> list[str]:
    classes = facts.all_facts() if classes is None else classes
    return _missing(((c, f"{c.__name__} ({c.kind})", _area(c)) for c in classes), "TEXTS")


def missing_reasons(enums: Iterable[type] | None = None) -> list[str]:
    enums = facts.reason_enums() if enums is None else enums
    return _missing(((code, f"{cls.__name__}.{code.name} ({code.value!r})", _area(cls))
                     for cls in enums for code in cls), "REASONS")


def reason_problems(enums: Iterable[type] | None = None) -> list[str]:
    """Each reason text, called with the parameters it reads and with those its comment names."""
    out = []
    for cls in facts.reason_enums() if enums is None else enums:
        for code in cls:
            needed = needed_params(code)
            documented = {**needed, **{n: _param(code, n) for n in documented_params(code)}}
            variants = [needed] if documented == needed else [needed, documented]
            for lang in LANGUAGES:
                words = CATALOGUES[lang].REASONS.get(code)
                if words is None:
                    continue                             # missing_reasons says it
                for params in variants:
                    where = f"{cls.__name__}.{code.name} {lang} with {params or 'no params'}"
                    try:
                        text = words(Reason.of(code, **params))
                    except Exception as exc:
                        out.append(f"{where}: raises {type(exc).__name__}: {exc}")
                        continue
                    out += [f"{where}: {p}" for p in text_problems(text, lang)]
            documented_names = documented_params(code)
            undocumented = sorted(set(needed) - set(documented_names))
            if documented_names and undocumented:
                out.append(f"{cls.__name__}.{code.name}: its texts read {undocumented}, which its "
                           f"comment does not name ({list(documented_names)})")
    return out


# -- the tests: facts and reasons -------------------------------------------------------------------

FACTS = facts.all_facts()


def test_there_are_facts_and_languages():
    assert FACTS, "simulator.facts.all_facts() is empty"
    assert set(LANGUAGES) >= {"en", "ru"}


def test_every_fact_has_a_text_in_every_language():
    missing = missing_texts()
    assert not missing, "\n".join(missing)


def test_every_reason_code_has_a_text_in_every_language():
    missing = missing_reasons()
    assert not missing, "\n".join(missing)


def test_catalogues_name_only_known_facts_and_reasons():
    known_facts = set(FACTS)
    codes = [code for cls in facts.reason_enums() for code in cls]
    stale = []
    for lang in LANGUAGES:
        for cls in CATALOGUES[lang].TEXTS:
            if cls not in known_facts:
                stale.append(f"{lang}.TEXTS has {cls!r}, which is not in any facts module's __all__")
        for code in CATALOGUES[lang].REASONS:
            if not any(code is c for c in codes):
                stale.append(f"{lang}.REASONS has {code!r}, which is not a member of a reason enum "
                             f"listed in a facts module's __all__")
    assert not stale, "\n".join(stale)


def test_reason_enums_are_dotted_str_enums_with_unique_values():
    seen: dict[str, str] = {}
    wrong = []
    for cls in facts.reason_enums():
        if not (isinstance(cls, type) and issubclass(cls, enum.StrEnum)):
            wrong.append(f"{cls!r} is not a StrEnum")
            continue
        for code in cls:
            if not re.fullmatch(r"[a-z0-9_]+(\.[a-z0-9_-]+)+", code.value):
                wrong.append(f"{cls.__name__}.{code.name} = {code.value!r} is not dotted lower case")
            if code.value in seen:          # equal StrEnum values are one key in REASONS
                wrong.append(f"{cls.__name__}.{code.name} and {seen[code.value]} share {code.value!r}")
            seen[code.value] = f"{cls.__name__}.{code.name}"
    assert not wrong, "\n".join(wrong)


def test_fact_classes_are_frozen_records_with_a_kind_and_protocol():
    wrong = []
    for cls in FACTS:
        params = getattr(cls, "__dataclass_params__", None)
        if params is None or not params.frozen:
            wrong.append(f"{cls.__name__} is not a frozen dataclass")
        if "__slots__" not in cls.__dict__:
            wrong.append(f"{cls.__name__} has no slots")
        if not re.fullmatch(r"[a-z0-9_]+(\.[a-z0-9_]+)+", cls.kind):
            wrong.append(f"{cls.__name__}.kind = {cls.kind!r} is not dotted lower case")
        if not cls.protocol:
            wrong.append(f"{cls.__name__} has no protocol")
    assert not wrong, "\n".join(wrong)


class _Collect(logging.Handler):
    """The distinct error messages the narrator logs (a reason without a text, for instance)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.add(record.getMessage())


@pytest.mark.parametrize("cls", FACTS, ids=lambda c: c.kind)
def test_every_narration_is_clean_in_every_language(cls, monkeypatch):
    logged = _Collect()
    logger = logging.getLogger("simulator.narrate")
    monkeypatch.setattr(logger, "propagate", False)     # keep thousands of lines out of the report
    logger.addHandler(logged)
    try:
        problems = fact_problems(cls)
    finally:
        logger.removeHandler(logged)
    # a reason without a text is named once, by test_every_reason_code_has_a_text_in_every_language
    problems += sorted(f"narrate logged: {m}" for m in logged.messages
                       if not re.fullmatch(r"no \w+ text for reason \S+", m))
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems)


def test_every_reason_text_is_clean_in_every_language():
    problems = reason_problems()
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems)


def test_base_fact_fields_are_what_the_builder_knows():
    assert {f.name for f in dataclasses.fields(Fact)} <= set(BASE_VALUES)


# -- the tests: the page's own strings --------------------------------------------------------------

#: UI keys whose Russian value may be a bare protocol or product name (a badge, a tab title).
UI_LATIN_KEYS: frozenset[str] = frozenset()


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": "x"}}`` -> ``{"a.b": "x"}`` (the UI table is flat today; nested is allowed)."""
    if not isinstance(value, Mapping):
        return {prefix.rstrip("."): value}
    return {k: v for key, sub in value.items() for k, v in _flat(sub, f"{prefix}{key}.").items()}


def ui_problems(tables: Mapping[str, Mapping[str, Any]], latin_keys: frozenset[str] = UI_LATIN_KEYS) -> list[str]:
    flat = {lang: _flat(table) for lang, table in tables.items()}
    reference = set().union(*(set(t) for t in flat.values())) if flat else set()
    out = []
    for lang, table in flat.items():
        for key in sorted(reference - set(table)):
            out.append(f"ui({lang!r}) lacks {key!r}")
    for key in sorted(reference):
        slots = {lang: sorted({m.group(1) for m in _PLACEHOLDER.finditer(str(t[key]))})
                 for lang, t in flat.items() if key in t}
        if len({tuple(s) for s in slots.values()}) > 1:
            out.append(f"ui key {key!r} has different placeholders per language: {slots}")
    for lang, table in flat.items():
        for key, value in sorted(table.items()):
            if not isinstance(value, str):
                continue
            if not value.strip():
                out.append(f"ui({lang!r})[{key!r}] is empty")
            for m in _PLACEHOLDER.finditer(value):
                forms = m.group(2)
                if forms is not None and lang in PLURAL_FORMS and len(forms.split("|")) != PLURAL_FORMS[lang]:
                    out.append(f"ui({lang!r})[{key!r}]: {m.group(0)!r} has {len(forms.split('|'))} "
                               f"forms, not {PLURAL_FORMS[lang]}")
            if lang == "ru" and key not in latin_keys:
                prose = _PLACEHOLDER.sub(lambda m: " " + (m.group(2) or "").replace("|", " ") + " ", value)
                words = english_words(prose)
                if words:
                    out.append(f"ui('ru')[{key!r}] = {value!r}: English word(s) {words}")
    return out


def test_ui_catalogues_are_not_empty():
    empty = [lang for lang in LANGUAGES if not ui(lang)]
    assert not empty, f"ui() is empty for {empty}: the page's strings are not in the catalogues' UI yet"


def test_ui_catalogues_have_one_key_set_and_russian_words():
    problems = ui_problems({lang: ui(lang) for lang in LANGUAGES})
    assert not problems, "\n".join(problems)


def test_ui_of_an_unknown_language_is_english():
    assert ui("xx") == ui("en")


# -- the checker itself: a broken catalogue must be caught ------------------------------------------

class _FakeReason(enum.StrEnum):
    ONE = "fake.one"          # a reason with parameters (domain, count)
    TWO = "fake.two"          # no parameters


class _Colour(enum.Enum):
    RED = 1
    GREEN = 2
    BLUE = 3


@dataclass(frozen=True, slots=True, kw_only=True)
class _FakeFact(Fact):
    kind: ClassVar[str] = "fake.fact"
    protocol: ClassVar[str] = "FAKE"
    host: str
    rcpt: str
    colour: _Colour
    up: bool
    count: int
    size: int = 0
    reason: Reason | None = None
    uids: tuple[int, ...] = ()
    mode: typing.Literal["a", "b"] = "a"
    status: Status = Status.OK


def test_checker_builds_every_enum_member_bool_reason_and_none():
    reasons = [Reason.of(_FakeReason.ONE, domain="beta.test", count=2), Reason.of(_FakeReason.TWO)]
    instances = list(Builder(reasons).instances(_FakeFact))
    assert {i.colour for i in instances} == set(_Colour)
    assert {i.status for i in instances} == set(Status)
    assert {i.up for i in instances} == {True, False}
    assert {i.mode for i in instances} == {"a", "b"}
    assert {i.reason for i in instances} == {*reasons, None}
    assert {0, 1, 2, 5, 21} <= {i.count for i in instances}
    assert {i.host for i in instances} == {HOST} and {i.rcpt for i in instances} == {ADDRESS}
    assert {i.uids for i in instances} >= {(), (1,)}
    assert {i.src for i in instances} >= {nodes.FRONT, nodes.OUTSIDE}


def test_checker_reads_reason_parameters_from_comments_and_texts(monkeypatch):
    assert documented_params(_FakeReason.ONE) == ("domain", "count")
    assert documented_params(_FakeReason.TWO) == ()
    monkeypatch.setitem(CATALOGUES["ru"].REASONS, _FakeReason.ONE,
                        lambda r: f"домен {r['domain']}, {r['port']}")
    assert needed_params(_FakeReason.ONE) == {"domain": DOMAIN, "port": 2525}


def test_checker_flags_english_in_a_russian_text(monkeypatch):
    cls = facts.HostStateChanged
    monkeypatch.setitem(CATALOGUES["ru"].TEXTS, cls,
                        lambda x: (f"{x.host} is now down", f"Сервер {x.host} выключен, next hop waiting."))
    problems = "\n".join(fact_problems(cls))
    for word in ("is", "now", "down", "next", "hop", "waiting"):
        assert f"English word {word!r}" in problems, problems
    assert "HostStateChanged (world.host) ru.summary" in problems
    assert "ru.explain" in problems and "en." not in problems


def test_checker_allows_code_spans_hosts_addresses_acronyms_and_numbers():
    text = (f"Сервер mx1.beta.test ответил {markup.code(REPLY)} на {markup.code('RCPT TO:<x@y.test>')}: "
            f"ящик bob@beta.test, 21 письмо, ID 4F2A9C1B0D4E, MX-запись, POP3 и IMAP, агент (MTA).")
    assert text_problems(text, "ru") == []
    assert english_words("a relay is denied") == ["a", "is", "denied"]


@pytest.mark.parametrize("text, problem", [
    ("", "is empty"),
    (" Сервер выключен.", "has a space at the start or end"),
    ("Сервер {x.host} выключен.", "has '{' or '}' left over"),
    ("Сервер None выключен.", "says 'None'"),
    ("Сервер выключен..", "has a double full stop"),
    (f"Ответ: {markup.code('550 no.')}. .", "has a double full stop"),
    ("Сервер  выключен.", "has two spaces in a row (an empty value?)"),
    ("Письмо для .", "has a space before punctuation (an empty value?)"),
    ("Ответ `550 no.", "has an unclosed code span (odd number of backticks)"),
    ("Server is down.", "English word 'Server'"),
    ("Сервер выбирается по предпочтению.", "says «предпочтени…»: use «приоритет MX»"),
    ("Письмо лежит во INBOX.", "says «во INBOX…»: use «в папке INBOX»"),
    ("В ящике 1 писем.", "says '1 писем', not '1 письма' or '1 письмо'"),
    ("Сервер прислал 643 байта и 5 письма.", "says '5 письма', not '5 писем'"),
])
def test_checker_flags_a_broken_text(text, problem):
    assert problem in text_problems(text, "ru")


def test_checker_flags_a_missing_fact_text_and_reason_text(monkeypatch):
    monkeypatch.delitem(CATALOGUES["ru"].TEXTS, facts.NextHop)
    [missing] = missing_texts([facts.NextHop])
    assert missing.startswith("ru: no text for NextHop (gate.waiting); add it to simulator/narrate/")
    assert missing.endswith("ru_world.py TEXTS") or missing.endswith("ru.py TEXTS")
    monkeypatch.setitem(CATALOGUES["en"].REASONS, _FakeReason.ONE, lambda r: "one")
    missing = missing_reasons([_FakeReason])
    assert len(missing) == 3 and all("_FakeReason" in m for m in missing), missing
    assert not any(m.startswith("en:") and "ONE" in m for m in missing)


def test_checker_flags_a_reason_text_that_raises_or_speaks_english(monkeypatch):
    monkeypatch.setitem(CATALOGUES["en"].REASONS, _FakeReason.ONE, lambda r: f"{r['domain']}: refused")
    monkeypatch.setitem(CATALOGUES["ru"].REASONS, _FakeReason.ONE, lambda r: f"{r['domain']}: refused")
    monkeypatch.setitem(CATALOGUES["en"].REASONS, _FakeReason.TWO, lambda r: 1 / 0)
    monkeypatch.setitem(CATALOGUES["ru"].REASONS, _FakeReason.TWO, lambda r: "отказ")
    problems = "\n".join(reason_problems([_FakeReason]))
    assert "_FakeReason.ONE ru with {'domain': 'beta.test'}: English word 'refused'" in problems
    assert "_FakeReason.TWO en with no params: raises ZeroDivisionError" in problems
    assert "_FakeReason.ONE: its texts read" not in problems


def test_checker_knows_counted_nouns_and_the_genitive():
    assert plural_mistakes("В ящике 1 письмо, 2 письма, 5 писем, 21 письмо; из 1 письма, после 1 "
                           "попытки, данные 2 писем, 31 из 31 шага, 643 байта.", "ru") == []
    assert plural_mistakes("Сервер прислал 21 строк.", "ru") == ["says '21 строк', not '21 строка' or '21 строки'"]
    assert plural_mistakes("1 message, 0 messages, 2 bytes, 2 message bodies; port 25 line", "en") == [
        "says '25 line', not '25 lines'"]
    assert plural_mistakes("1 messages", "en") == ["says '1 messages', not '1 message'"]
    assert plural_mistakes(f"Ответ {markup.code('2 письмо')} пришёл.", "ru") == []


def test_checker_flags_cyrillic_in_english_and_a_constant_port(monkeypatch):
    assert "has Cyrillic letters in English prose" in text_problems("Сервер is down.", "en")
    assert text_problems(f"Server answered {markup.code('Привет')}.", "en") == []

    @dataclass(frozen=True, slots=True, kw_only=True)
    class Door(Fact):
        kind: ClassVar[str] = "fake.door"
        protocol: ClassVar[str] = "FAKE"
        port: int
        status: Status = Status.OK

    monkeypatch.setitem(CATALOGUES["en"].TEXTS, Door, lambda x: (f"port {x.port}", "Port 587 is used."))
    monkeypatch.setitem(CATALOGUES["ru"].TEXTS, Door, lambda x: (f"порт {x.port}", "Используется порт 587."))
    problems = "\n".join(fact_problems(Door))
    assert "en.explain: names port 587, not the fact's port (take it from the fact)" in problems
    assert "summary" not in problems


def test_checker_flags_a_narration_that_raises(monkeypatch):
    cls = facts.MxTableChanged
    monkeypatch.setitem(CATALOGUES["ru"].TEXTS, cls, lambda x: (x.nothing, ""))
    assert any("narrate: raises AttributeError" in p for p in fact_problems(cls))


def test_checker_flags_ui_differences():
    problems = ui_problems({"en": {"send": "Send {n}", "only_en": "x"},
                           "ru": {"send": "Send {count}"}})
    assert "ui('ru') lacks 'only_en'" in problems
    assert any("different placeholders" in p for p in problems)
    assert "ui('ru')['send'] = 'Send {count}': English word(s) ['Send']" in problems
    assert ui_problems({"en": {"p": "SMTP"}, "ru": {"p": "SMTP"}}) == []
    assert ui_problems({"en": {"c": "{n} {n#step|steps}"}, "ru": {"c": "{n} {n#шаг|шага|шагов}"}}) == []
    problems = ui_problems({"en": {"c": "{n#step|steps|x}"}, "ru": {"c": "{n#шаг|steps}"}})
    assert "ui('ru')['c']: '{n#шаг|steps}' has 2 forms, not 3" in problems
    assert "ui('en')['c']: '{n#step|steps|x}' has 3 forms, not 2" in problems
    assert "ui('ru')['c'] = '{n#шаг|steps}': English word(s) ['steps']" in problems


# -- plural forms -----------------------------------------------------------------------------------

RU_LETTERS = [(0, "0 писем"), (1, "1 письмо"), (2, "2 письма"), (4, "4 письма"), (5, "5 писем"),
              (11, "11 писем"), (12, "12 писем"), (14, "14 писем"), (21, "21 письмо"),
              (22, "22 письма"), (25, "25 писем"), (101, "101 письмо"), (111, "111 писем"),
              (112, "112 писем"), (1001, "1001 письмо")]
EN_MESSAGES = [(0, "0 messages"), (1, "1 message"), (2, "2 messages"), (11, "11 messages"),
               (21, "21 messages"), (101, "101 messages")]


@pytest.mark.parametrize("n, words", RU_LETTERS)
def test_plural_ru(n, words):
    assert plural.ru(n, "письмо", "письма", "писем") == words


@pytest.mark.parametrize("n, words", EN_MESSAGES)
def test_plural_en(n, words):
    assert plural.en(n, "message", "messages") == words


@pytest.mark.parametrize("octets, en, ru", [
    (0, "0 bytes", "0 байт"), (1, "1 byte", "1 байт"), (2, "2 bytes", "2 байта"),
    (5, "5 bytes", "5 байт"), (21, "21 bytes", "21 байт"), (643, "643 bytes", "643 байта"),
    (1023, "1023 bytes", "1023 байта"), (1024, "1 KB", "1 КБ"), (1536, "1.5 KB", "1,5 КБ"),
    (2048, "2 KB", "2 КБ"), (5 * 1024 * 1024, "5 MB", "5 МБ"), (3 * 1024 * 1024 // 2, "1.5 MB", "1,5 МБ"),
])
def test_plural_sizes(octets, en, ru):
    assert (plural.size_en(octets), plural.size_ru(octets)) == (en, ru)


PLURAL_JS = Path(__file__).resolve().parent.parent / "static" / "js" / "plural.js"


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_plural_js_follows_the_same_table():
    """The page's plural.js gives the same forms as plural.py for the tables above."""
    cases = ([["ru", n, ["письмо", "письма", "писем"]] for n, _ in RU_LETTERS]
             + [["en", n, ["message", "messages"]] for n, _ in EN_MESSAGES])
    script = (f"import {{ form }} from {json.dumps(PLURAL_JS.as_uri())};\n"
              f"const cases = {json.dumps(cases, ensure_ascii=False)};\n"
              f"console.log(JSON.stringify(cases.map(([lang, n, forms]) => `${{n}} ${{form(lang, n, forms)}}`)));")
    run = subprocess.run(["node", "--input-type=module", "-e", script], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == [words for _, words in RU_LETTERS + EN_MESSAGES]
