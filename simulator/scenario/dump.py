"""The running world as a scenario file: ``dump_world(world, faults) -> str`` (YAML).

The teacher changes the world in the page (an MX table, a server switched off, a fault set) and
wants to keep that world for next week: this writes it in the library's format, so that
:func:`simulator.scenario.load_scenario` builds the same world again — the same domains, users and
passwords, hosts with their roles, addresses and up/down states, MX tables and apex records, and
the faults set now.

What is kept and what is not:

- ``name``, ``title`` and ``summary`` are the scenario's own; a comment on top says where the world
  came from and when it was saved.
- The *state* is the world's now, not the file's it was loaded from: a host that is down is written
  ``state: down``, an MX table as it is now, the faults as they are set now (``faults:``, set when
  the world starts).
- The lesson's steps are **not** saved, nor its level and goals.  The file saves a world, not a
  lesson: what the steps did so far (a host down, an MX edit, a fault) is already in the state it
  records, so running them again on top would do it twice, and their expectations were written for
  the world before the teacher's changes.  Without steps and level it is a free-play scenario; a
  teacher who wants a lesson on this world copies the steps from the lesson's file (named in the
  comment) under ``steps:``.
- Addresses that follow the address plan (127.42.<domain>.<host>) are left to the plan; the apex A
  record is written when the domain has one (as the host's name when it is one of its hosts').

Strings a teacher typed (titles, passwords, reply texts) are written as double-quoted YAML (JSON
escapes, which YAML reads the same), and anything YAML would not read back as the same text —
line and paragraph separators, control characters — is escaped, so what loads is what was saved.
"""
from __future__ import annotations

import json
import re
from dataclasses import fields
from datetime import datetime
from typing import TYPE_CHECKING, Any, Iterable

from .model import Fault, FaultKind
from .tree import plan_address

if TYPE_CHECKING:
    from ..world import World

__all__ = ["dump_world", "fault_yaml"]

_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]*")
_YAML_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "none", "~"}
_UNSAFE = re.compile("[\u0000-\u001f\u007f-\u009f\u2028\u2029\ud800-\udfff\ufeff\ufffe\uffff]")
_NUMBER = re.compile(r"[-+]?(\d[\d_]*)?(\.\d*)?([eE][-+]?\d+)?|0[xo][0-9a-fA-F_]+|[\d:]+")

# The parameters of each kind of fault as YAML keys (model field -> YAML key), defaults left out.
_PARAMS: dict[FaultKind, tuple[tuple[str, str], ...]] = {
    FaultKind.GREYLIST: (("delay", "delay"),),
    FaultKind.SLOW: (("greeting", "greeting"), ("data", "data")),
    FaultKind.REPLY: (("command", "at"), ("code", "code"), ("text", "text"), ("times", "times")),
    FaultKind.SIZE_LIMIT: (("size", "size"),),
    FaultKind.MAILBOX_FULL: (("permanent", "permanent"),),
}
_DEFAULTS = {f.name: f.default for f in fields(Fault)}


def _quote(text: str) -> str:
    """A double-quoted YAML scalar that reads back as exactly ``text``."""
    out = json.dumps(text, ensure_ascii=False)
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group(0)):04x}", out)


def _scalar(text: str) -> str:
    """Plain when YAML reads it back as the same string, quoted otherwise."""
    if _PLAIN.fullmatch(text) and text.lower() not in _YAML_WORDS and not _NUMBER.fullmatch(text):
        return text
    return _quote(text)


def _number(value: float | int) -> str:
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return _number(value)
    return _scalar(str(value))


def _fault_fields(fault: Fault | dict[str, Any]) -> tuple[FaultKind, str, dict[str, Any]]:
    """(kind, target, parameters) of a Fault or of a dict as ``stack.faults()`` lists them."""
    if isinstance(fault, Fault):
        return fault.kind, fault.target, {name: getattr(fault, name) for name in _DEFAULTS}
    kind = FaultKind(str(fault["kind"]))
    params = dict(fault)
    if "at" in params and "command" not in params:
        params["command"] = params["at"]
    return kind, str(fault["target"]), params


def fault_yaml(fault: Fault | dict[str, Any]) -> str:
    """One fault in the flow style of the library: ``{reply: mx.beta.test, at: RCPT, code: 451}``."""
    kind, target, params = _fault_fields(fault)
    parts = [f"{kind.value}: {_scalar(target)}"]
    for field_name, key in _PARAMS.get(kind, ()):
        value = params.get(field_name, _DEFAULTS[field_name])
        if value is None or value == _DEFAULTS[field_name]:
            continue
        parts.append(f"{key}: {_value(value)}")
    return "{" + ", ".join(parts) + "}"


def _text_block(key: str, en: str, ru: str) -> list[str]:
    return [f"{key}:", f"  en: {_quote(en)}", f"  ru: {_quote(ru)}"]


def dump_world(world: "World", faults: Iterable[Fault | dict[str, Any]] = (), *,
               saved_at: datetime | None = None) -> str:
    """The world as it is now, as scenario YAML (see the module docstring for what is kept)."""
    scenario = world.scenario
    when = (saved_at or datetime.now().astimezone()).strftime("%Y-%m-%d %H:%M %Z").strip()
    source = getattr(scenario, "path", None)
    lines = [
        f"# Saved by Mailflow from the running world on {when},",
        f"# started from the scenario {scenario.name!r}" + (f" ({source.name})" if source is not None else "") + ".",
        "# Hosts, their states, the MX tables and the faults are as they were at that moment.",
        "# The lesson's steps are not saved (the changes they made are already in this world);",
        "# add your own under steps: to make this world a lesson again.",
        f"name: {scenario.name}",
        *_text_block("title", scenario.title.en, scenario.title.ru),
        *_text_block("summary", scenario.summary.en, scenario.summary.ru),
        *([f"class_domain: {scenario.class_domain}"] if scenario.class_domain else []),
        *([f"outside: {world.outside.value}"] if world.outside.value != "bounce" else []),
        "domains:",
    ]
    for domain in scenario.domains:
        lines.extend(_domain_lines(world, domain))
    fault_list = [fault_yaml(f) for f in faults]
    if fault_list:
        lines.append("faults:")
        lines.extend(f"  - {item}" for item in fault_list)
    lines.append("steps: []")
    return "\n".join(lines) + "\n"


def _domain_lines(world: "World", domain: Any) -> list[str]:
    out = [f"  {domain.name}:"]
    if domain.users:
        users = []
        for user in domain.users:
            if user.display_name != user.name.capitalize():
                users.append(f"{_scalar(user.name)}: {{password: {_quote(user.password)}, name: {_quote(user.display_name)}}}")
            else:
                users.append(f"{_scalar(user.name)}: {_scalar(user.password)}")
        out.append("    users: {" + ", ".join(users) + "}")
    if domain.hosts:
        out.append("    hosts:")
        for index, spec in enumerate(domain.hosts, start=1):
            host = world.hosts[spec.name]
            parts = [f"role: {host.role.value if hasattr(host.role, 'value') else host.role}"]
            if not host.up:
                parts.append("state: down")
            if host.address != plan_address(domain.index, index):
                parts.append(f"address: {_quote(host.address)}")
            out.append(f"      {spec.name}: {{{', '.join(parts)}}}")
    table = world.mx(domain.name)
    if table is not None:
        if table:
            out.append("    mx:")
            out.extend(f"      - {{preference: {m.preference}, host: {_quote(m.host) if m.host == '.' else m.host}}}"
                       for m in table)
        else:
            out.append("    mx: []")
    if domain.address is not None:
        named = next((h.name for h in domain.hosts if world.hosts[h.name].address == domain.address), None)
        out.append(f"    address: {named or _quote(domain.address)}")
    if domain.txt:
        out.append("    txt: [" + ", ".join(_quote(t) for t in domain.txt) + "]")
    if domain.catch_all:
        out.append(f"    catch_all: {_scalar(domain.catch_all)}")
    if domain.postmaster:
        out.append(f"    postmaster: {_scalar(domain.postmaster)}")
    return out
