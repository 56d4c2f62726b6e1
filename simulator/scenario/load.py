"""Loading scenario files: YAML -> the frozen model (:mod:`.model`), every mistake named by file, line and field.

Theory of operation
-------------------
A scenario file describes the sandboxed mail world of one lesson: its domains, their users, hosts and
MX tables, and (for a later issue) a script of steps. See "Scenario files" in DESIGN.md.

Loading is two passes over PyYAML's *node tree* (``yaml.compose`` with ``SafeLoader``), never over
``yaml.load`` output, because only the nodes carry line numbers and only the nodes still show duplicate
keys (PyYAML's constructor silently keeps the last one):

1. ``_find_duplicate_keys`` walks the whole tree once and reports every duplicate key, steps included.
2. ``_Builder`` walks the known schema top-down, derives every default a teacher would expect, collects
   a ``Problem`` for each mistake and carries on, then cross-checks what needs the whole scenario
   (MX targets, host names across domains, addresses). If anything was found, ``ScenarioError`` carries
   all of it, sorted by line; otherwise the frozen ``Scenario`` is returned.

Three keys choose where mail ends that has no mailbox of its own: ``outside: bounce | catch`` (top
level: mail for a domain outside the sandbox bounces, or the outside world catches it whole), a
domain's ``catch_all: <user>`` (any other local part of the domain is delivered to that user, who must
be one of the domain's users, on a domain with a host of role mx) and a domain's ``postmaster: <user>``
(who takes ``postmaster@`` the domain, which RFC 5321 §4.5.1 says every mail domain MUST accept;
checked as ``catch_all``, and refused on a domain that has a user named postmaster; without the key
:meth:`simulator.world.World.postmaster_of` chooses).  ``mailflow.invalid``, the outside
world's own domain (:data:`simulator.nodes.CATCH_DOMAIN`), is no scenario's.

DNS rules checked here: MX preference is a 16-bit integer (RFC 1035 §3.3.9); a null MX is the single
record ``0 .`` (RFC 7505 §3); with no MX records at all the domain's address is its implicit MX
(RFC 5321 §5.1). Local parts are dot-atoms restricted to letters, digits and ``. _ - +``
(a subset of RFC 5322 §3.4.1). Addresses follow the sandbox address plan 127.42.<domain>.<host>.

Left out: YAML merge keys (``<<``) in the schema part (reported as unknown keys), step validation beyond
"a mapping with one known action" (a later issue).
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from . import tree
from .. import nodes
from .model import (DomainSpec, Fault, Goals, HostSpec, MxSpec, Outside, Problem, Role, Scenario, ScenarioError, Text,
                    UserSpec)
from .steps import Names, ScriptReader

log = logging.getLogger(__name__)

DEFAULT_SCENARIO: Path = Path(__file__).resolve().parents[2] / "scenarios" / "default.yaml"

MAX_DOMAINS = 250  # address plan 127.42.<domain>.<host>: one octet each
MAX_HOSTS_PER_DOMAIN = 250
NULL_MX = "."

_TOP_KEYS = ("name", "title", "summary", "level", "goals", "class_domain", "domains", "faults", "steps",
             "outside")
_DOMAIN_KEYS = ("users", "hosts", "mx", "address", "txt", "catch_all", "postmaster")
_USER_KEYS = ("password", "name")
_HOST_KEYS = ("role", "state", "address")
_MX_KEYS = ("preference", "host")
_TEXT_KEYS = ("en", "ru")
_STATES = {"up": True, "down": False}

_NAME_RE = re.compile(r"[a-z0-9-]+")
_LOCAL_PART_RE = re.compile(r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*")
_DOTTED_RE = re.compile(r"[0-9]+(?:\.[0-9]+)+")

_INT_TAG = "tag:yaml.org,2002:int"
_BOOL_TAG = "tag:yaml.org,2002:bool"


# --- entry points ----------------------------------------------------------------------------------


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file. OSError (missing file …) propagates unchanged."""
    data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise ScenarioError([Problem(str(path), line, "<yaml>", "the file is not UTF-8 text")]) from None
    return _parse(text, str(path), Path(path))


def parse_scenario(text: str, path: str = "<string>") -> Scenario:
    """Validate scenario text; ``path`` only names it in problems and gives the default name."""
    return _parse(text, str(path), Path(path))


def parse_fault(data: Any, scenario: Scenario, *, field: str = "fault") -> tuple[Fault, bool]:
    """A fault given as JSON (the page's world panel), checked against ``scenario`` like a step's:
    ``({"greylist": "mx.beta.test"}, scenario) -> (Fault, off)``; ScenarioError names each mistake."""
    import json
    builder = _Builder("<request>", scenario.path)
    builder.names = Names(domains={d.name: d for d in scenario.domains},
                          hosts={h.name: h.role for h in scenario.hosts},
                          users={u.address: u.password for u in scenario.users})
    try:
        node = yaml.compose(json.dumps(data), Loader=yaml.SafeLoader)
    except (TypeError, ValueError, yaml.YAMLError, RecursionError):
        raise ScenarioError([Problem("<request>", 1, field, "expected a JSON object")]) from None
    found = builder.fault(node, field, allow_off=True) if node is not None else None
    if builder.problems or found is None:
        raise ScenarioError(builder.problems or [Problem("<request>", 1, field, "expected a fault")])
    return found.fault, found.off


def _names(drafts: list[_DomainDraft]) -> Names:
    return Names(domains={d.spec.name: d.spec for d in drafts},
                 hosts={h.spec.name: h.spec.role for d in drafts for h in d.hosts},
                 users={u.address: u.password for d in drafts for u in d.spec.users})


def _parse(text: str, file: str, path: Path) -> Scenario:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as err:
        raise ScenarioError([Problem(file, tree.yaml_error_line(err, text), "<yaml>", tree.yaml_error_text(err))]) from None
    except RecursionError:
        raise ScenarioError([Problem(file, 1, "<yaml>", "the YAML is nested too deeply")]) from None
    scenario = _Builder(file, path).build(root)
    log.debug("loaded scenario %s from %s: %d domains", scenario.name, file, len(scenario.domains))
    return scenario


# --- pass 2: the schema ----------------------------------------------------------------------------


@dataclass(slots=True)
class _HostDraft:
    spec: HostSpec
    field: str
    explicit_address_line: int | None  # None: the address came from the address plan
    in_domain: bool  # the name ends with its domain (else already reported)


@dataclass(slots=True)
class _MxDraft:
    spec: MxSpec
    field: str
    host_line: int
    preference_line: int


@dataclass(slots=True)
class _DomainDraft:
    spec: DomainSpec
    field: str
    mx_line: int
    hosts: list[_HostDraft]
    mx: list[_MxDraft] | None


class _Builder(ScriptReader):
    def __init__(self, file: str, path: Path) -> None:
        self.file = file
        self.path = path
        self.problems: list[Problem] = []
        self.names = Names()

    # -- reporting and node access

    def add(self, line: int | Node, field: str, message: str) -> None:
        if isinstance(line, Node):
            line = tree.line(line)
        self.problems.append(Problem(self.file, line, field, message))

    def mapping(
        self, node: Node, field: str, allowed: tuple[str, ...] | None, what: str = "a mapping"
    ) -> list[tuple[str, Node, Node]] | None:
        """The entries of a mapping node, unknown and duplicate keys reported and dropped."""
        if not isinstance(node, MappingNode):
            self.add(node, field, f"expected {what}, got {tree.kind(node)}")
            return None
        entries: list[tuple[str, Node, Node]] = []
        seen: set[str] = set()
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode) or tree.is_null(key_node):
                self.add(key_node, field, f"a key must be a name, got {tree.kind(key_node)}")
                continue
            key = key_node.value
            if key in seen:
                continue  # reported by tree.find_duplicate_keys
            seen.add(key)
            if allowed is not None and key not in allowed:
                hint = " (YAML merge keys are not supported here)" if key == "<<" else ""
                self.add(
                    key_node, tree.join(field, key),
                    f"unknown key {key!r}{hint}; allowed here: {', '.join(allowed)}",
                )
                continue
            entries.append((key, key_node, value_node))
        return entries

    def sequence(self, node: Node, field: str, what: str) -> list[Node] | None:
        if not isinstance(node, SequenceNode):
            self.add(node, field, f"expected {what}, got {tree.kind(node)}")
            return None
        return list(node.value)

    def text(self, node: Node, field: str, what: str = "text") -> str | None:
        """A scalar as written (``1234`` stays the text "1234")."""
        if not isinstance(node, ScalarNode) or tree.is_null(node):
            self.add(node, field, f"expected {what}, got {tree.kind(node)}")
            return None
        return node.value

    def bitext(self, node: Node, field: str, default: str) -> Text:
        if tree.is_null(node):
            return Text(default, default)
        if isinstance(node, ScalarNode):
            return Text(node.value, node.value)
        entries = self.mapping(node, field, _TEXT_KEYS, "text or a mapping {en: ..., ru: ...}")
        if entries is None:
            return Text(default, default)
        given = {key: self.text(value, tree.join(field, key)) for key, _, value in entries}
        en, ru = given.get("en"), given.get("ru")
        if en is None and ru is None:
            if not entries:
                self.add(node, field, "give the text in en and/or ru")
            return Text(default, default)
        return Text(en if en is not None else ru, ru if ru is not None else en)  # type: ignore[arg-type]

    # -- top level

    def build(self, root: Node | None) -> Scenario:
        if not isinstance(root, MappingNode):
            got = "an empty file" if root is None else tree.kind(root)
            line = 1 if root is None else tree.line(root)
            self.fail([Problem(self.file, line, "<document>", f"expected a mapping with {', '.join(_TOP_KEYS)}, got {got}")])
        aliases = tree.find_aliases(root, self.file)
        if aliases:
            self.fail(aliases[:20])           # nothing else is read: the tree may be huge
        self.problems.extend(tree.find_duplicate_keys(root, self.file))
        top = {key: value for key, _, value in self.mapping(root, "", _TOP_KEYS) or []}

        name = self.scenario_name(top.get("name"))
        title = self.bitext(top["title"], "title", name) if "title" in top else Text(name, name)
        summary = self.bitext(top["summary"], "summary", name) if "summary" in top else Text(name, name)
        if "domains" in top:
            drafts = self.domains(top["domains"])
        else:
            self.add(root, "domains", "missing: a scenario needs at least one domain")
            drafts = []
        self.check_hosts(drafts)
        self.check_addresses(drafts)
        self.check_mx(drafts)
        self.names = _names(drafts)
        level = self.level(top["level"]) if "level" in top else None
        goals = self.goals(top["goals"]) if "goals" in top else Goals()
        faults = self.faults(top["faults"]) if "faults" in top else ()
        steps = self.steps(top["steps"]) if "steps" in top else ()
        class_domain = self.class_domain(top["class_domain"], drafts) if "class_domain" in top else None
        outside = self.outside(top["outside"]) if "outside" in top else Outside.BOUNCE

        if self.problems:
            self.fail(self.problems)
        return Scenario(name, title, summary, tuple(d.spec for d in drafts), steps, self.path,
                        level=level, goals=goals, faults=faults, class_domain=class_domain, outside=outside)

    def outside(self, node: Node) -> Outside:
        """``outside: bounce`` (the default) or ``outside: catch``."""
        raw = self.text(node, "outside", "bounce or catch")
        try:
            return Outside((raw or "").lower())
        except ValueError:
            if raw is not None:
                self.add(node, "outside", f"unknown value {raw!r}; use bounce (mail for domains outside the "
                                          f"sandbox comes back) or catch (the outside world keeps it)")
            return Outside.BOUNCE

    def class_domain(self, node: Node, drafts: list[_DomainDraft]) -> str | None:
        """Where students who join get their mailboxes: a domain of the scenario with an mx host."""
        name = self.domain_name(node, "class_domain")
        if name is None:
            return None
        spec = next(d.spec for d in drafts if d.spec.name == name)
        if not any(h.role is Role.MX for h in spec.hosts):
            self.add(node, "class_domain", f"{name} has no host of role mx: students' mailboxes need one")
            return None
        return name

    def fail(self, problems: list[Problem]) -> None:
        unique = list(dict.fromkeys(problems))
        unique.sort(key=lambda problem: problem.line)  # stable: same line keeps the finding order
        raise ScenarioError(unique)

    def scenario_name(self, node: Node | None) -> str:
        default = tree.default_name(self.path)
        if node is None:
            return default
        raw = self.text(node, "name", "a name")
        if raw is None:
            return default
        name = raw.lower()
        if not _NAME_RE.fullmatch(name):
            self.add(node, "name", f"{raw!r} is not a valid scenario name: use only a-z, 0-9 and '-'")
        return name

    # -- domains

    def domains(self, node: Node) -> list[_DomainDraft]:
        entries = self.mapping(node, "domains", None, "a mapping of domain names")
        if entries is None:
            return []
        if not entries and isinstance(node, MappingNode):
            self.add(node, "domains", "a scenario needs at least one domain")
        if len(entries) > MAX_DOMAINS:
            self.add(node, "domains", f"{len(entries)} domains; the address plan allows at most {MAX_DOMAINS}")
        drafts = []
        first_line: dict[str, int] = {}
        for index, (raw, key_node, value_node) in enumerate(entries, start=1):
            field = tree.join("domains", raw)
            name = tree.dns_name(raw)
            problem = tree.dns_problem(name)
            if problem:
                self.add(key_node, field, f"{raw!r} is not a valid domain name: {problem}")
            if name in first_line:
                self.add(key_node, field, f"domain {name} is already defined at line {first_line[name]} (names ignore case)")
            if name == nodes.CATCH_DOMAIN:
                self.add(key_node, field, f"{name} is the outside world's own domain (its catch-all mailbox "
                                          f"{nodes.CATCH_ADDRESS}); choose another name")
            first_line.setdefault(name, tree.line(key_node))
            drafts.append(self.domain(name, index, field, key_node, value_node))
        return drafts

    def domain(self, name: str, index: int, field: str, key_node: Node, node: Node) -> _DomainDraft:
        if tree.is_null(node):
            body: dict[str, Node] = {}
        else:
            body = {key: value for key, _, value in self.mapping(node, field, _DOMAIN_KEYS) or []}
        users = self.users(body.get("users"), name, tree.join(field, "users"))
        hosts = self.hosts(body.get("hosts"), name, index, tree.join(field, "hosts"))
        mx = self.mx_table(body["mx"], tree.join(field, "mx")) if "mx" in body else None
        txt = self.txt(body["txt"], tree.join(field, "txt")) if "txt" in body else ()
        address = self.domain_address(body.get("address"), name, hosts, tree.join(field, "address"))
        if address is None and mx is None and "address" not in body:
            # No MX records at all: mail goes to the apex address, the implicit MX (RFC 5321 §5.1).
            address = next((h.spec.address for h in hosts if h.spec.role is Role.MX), None)
        catch_all = (self.catch_all(body["catch_all"], name, users, hosts, tree.join(field, "catch_all"))
                     if "catch_all" in body else None)
        postmaster = (self.postmaster(body["postmaster"], name, users, hosts, tree.join(field, "postmaster"))
                      if "postmaster" in body else None)
        spec = DomainSpec(
            name=name,
            index=index,
            users=tuple(users),
            hosts=tuple(h.spec for h in hosts),
            mx=tuple(m.spec for m in mx) if mx is not None else None,
            address=address,
            txt=txt,
            line=tree.line(key_node),
            catch_all=catch_all,
            postmaster=postmaster,
        )
        mx_line = tree.line(body["mx"]) if "mx" in body else tree.line(key_node)
        return _DomainDraft(spec, field, mx_line, hosts, mx)

    def catch_all(self, node: Node, domain: str, users: list[UserSpec], hosts: list[_HostDraft],
                  field: str, what: str = "a catch-all") -> str | None:
        """``catch_all: alice``: one of the domain's users, on a domain whose mail is final here."""
        raw = self.text(node, field, "the name of one of the domain's users")
        if raw is None:
            return None
        name = raw.strip().lower()
        if "@" in name:
            local, _, at = name.rpartition("@")
            if at != domain:
                self.add(node, field, f"{raw!r} is not a user of {domain}; name one of its users")
                return None
            name = local
        if not any(u.name == name for u in users):
            known = ", ".join(u.name for u in users) or "none defined"
            self.add(node, field, f"{raw!r} is not a user of {domain} (its users: {known})")
            return None
        if not any(h.spec.role is Role.MX for h in hosts):
            self.add(node, field, f"{domain} has no host of role mx: mail for it is never delivered here, "
                                  f"so {what} would catch nothing")
            return None
        return name

    def postmaster(self, node: Node, domain: str, users: list[UserSpec], hosts: list[_HostDraft],
                   field: str) -> str | None:
        """``postmaster: alice``: who takes the domain's postmaster mail (RFC 5321 §4.5.1), checked as
        ``catch_all``; a domain with a user named postmaster has no alias to give."""
        if any(u.name == "postmaster" for u in users):
            self.add(node, field, f"{domain} has a user named postmaster, who takes postmaster@{domain} "
                                  f"mail; remove this key or that user")
            return None
        return self.catch_all(node, domain, users, hosts, field, what="a postmaster alias")

    def users(self, node: Node | None, domain: str, field: str) -> list[UserSpec]:
        if node is None or tree.is_null(node):
            return []
        entries = self.mapping(node, field, None, "a mapping of user: password")
        users: list[UserSpec] = []
        first_line: dict[str, int] = {}
        for raw, key_node, value_node in entries or []:
            user_field = tree.join(field, raw)
            if not (1 <= len(raw) <= 64 and _LOCAL_PART_RE.fullmatch(raw)):
                self.add(
                    key_node, user_field,
                    f"{raw!r} is not a valid user name: 1..64 letters, digits, '.', '_', '-' or '+', "
                    "with no dot at either end and no two dots in a row",
                )
            name = raw.lower()
            if name in first_line:
                self.add(key_node, user_field, f"user {name}@{domain} is already defined at line {first_line[name]} (user names ignore case)")
                continue
            first_line[name] = tree.line(key_node)
            password, display_name = self.user_body(value_node, user_field)
            users.append(UserSpec(
                name=name,
                domain=domain,
                password=password,
                display_name=display_name if display_name is not None else name.capitalize(),
                line=tree.line(key_node),
            ))
        return users

    def user_body(self, node: Node, field: str) -> tuple[str, str | None]:
        """``alice: secret`` or ``alice: {password: secret, name: Alice Liddell}``."""
        if isinstance(node, ScalarNode):
            return self.password(node, field), None
        entries = self.mapping(node, field, _USER_KEYS, "a password or a mapping {password: ..., name: ...}")
        body = {key: value for key, _, value in entries or []}
        display_name = None
        if "name" in body:
            display_name = self.text(body["name"], tree.join(field, "name"), "a display name")
            if display_name is not None and not display_name.strip():
                self.add(body["name"], tree.join(field, "name"), "the display name is empty")
        if "password" in body:
            return self.password(body["password"], tree.join(field, "password")), display_name
        if entries is not None:
            self.add(node, tree.join(field, "password"), "missing password")
        return "", display_name

    def password(self, node: Node, field: str) -> str:
        if tree.is_null(node) or (isinstance(node, ScalarNode) and node.value == ""):
            self.add(node, field, "empty password (a sandbox password can be simple, but not empty)")
            return ""
        return self.text(node, field, "a password") or ""

    def hosts(self, node: Node | None, domain: str, domain_index: int, field: str) -> list[_HostDraft]:
        if node is None or tree.is_null(node):
            return []
        entries = self.mapping(node, field, None, "a mapping of host name: {role: ...}")
        if entries is None:
            return []
        if len(entries) > MAX_HOSTS_PER_DOMAIN:
            self.add(node, field, f"{len(entries)} hosts; the address plan allows at most {MAX_HOSTS_PER_DOMAIN} per domain")
        drafts = []
        for host_index, (raw, key_node, value_node) in enumerate(entries, start=1):
            host_field = tree.join(field, raw)
            name = tree.dns_name(raw)
            in_domain = self.check_host_name(name, raw, domain, key_node, host_field)
            plan = (
                tree.plan_address(domain_index, host_index)
                if domain_index <= MAX_DOMAINS and host_index <= MAX_HOSTS_PER_DOMAIN
                else "0.0.0.0"  # already reported: the plan has no room for it
            )
            drafts.append(self.host(name, domain, plan, host_field, key_node, value_node, in_domain))
        return drafts

    def check_host_name(self, name: str, raw: str, domain: str, key_node: Node, field: str) -> bool:
        """Report a host name outside its domain (False) or with a bad label."""
        suffix = "." + domain
        if not name.endswith(suffix) or name == suffix:
            self.add(key_node, field, f"host {raw!r} does not belong to {domain}: its name must end with {suffix!r}")
            return False
        problem = tree.dns_problem(name[: -len(suffix)])  # the domain part is checked on its own line
        if problem is None and len(name) > 253:
            problem = "a DNS name is at most 253 characters"
        if problem:
            self.add(key_node, field, f"{raw!r} is not a valid host name: {problem}")
        return True

    def host(
        self, name: str, domain: str, plan: str, field: str, key_node: Node, node: Node, in_domain: bool
    ) -> _HostDraft:
        entries = self.mapping(node, field, _HOST_KEYS, "a mapping like {role: mx}")
        body = {key: value for key, _, value in entries or []}
        role = Role.MX
        if "role" in body:
            role = self.role(body["role"], tree.join(field, "role"))
        elif entries is not None:
            self.add(node, tree.join(field, "role"), f"missing role (one of {', '.join(Role)})")
        up = True
        if "state" in body:
            raw = self.text(body["state"], tree.join(field, "state"), "up or down")
            if raw is not None and raw.lower() not in _STATES:
                self.add(body["state"], tree.join(field, "state"), f"unknown state {raw!r}; use up or down")
            up = _STATES.get((raw or "up").lower(), True)
        address, explicit_line = plan, None
        if "address" in body:
            raw = self.text(body["address"], tree.join(field, "address"), "an IPv4 address in 127.0.0.0/8")
            if raw is not None:
                problem = tree.loopback_problem(raw)
                if problem:
                    self.add(body["address"], tree.join(field, "address"), problem)
                else:
                    address, explicit_line = str(ipaddress.IPv4Address(raw)), tree.line(body["address"])
        spec = HostSpec(name=name, domain=domain, role=role, up=up, address=address, line=tree.line(key_node))
        return _HostDraft(spec, field, explicit_line, in_domain)

    def role(self, node: Node, field: str) -> Role:
        raw = self.text(node, field, f"a role ({', '.join(Role)})")
        try:
            return Role((raw or "").lower())
        except ValueError:
            if raw is not None:
                self.add(node, field, f"unknown role {raw!r}; one of {', '.join(Role)}")
            return Role.MX

    def mx_table(self, node: Node, field: str) -> list[_MxDraft] | None:
        items = self.sequence(
            node, field,
            "a list of {preference: ..., host: ...} ([] for no MX records; leave mx out for the implicit MX)",
        )
        if items is None:
            return None
        records = []
        for i, item in enumerate(items):
            item_field = f"{field}[{i}]"
            entries = self.mapping(item, item_field, _MX_KEYS, "a mapping {preference: ..., host: ...}")
            if entries is None:
                continue
            body = {key: value for key, _, value in entries}
            preference, host = 0, ""
            if "preference" in body:
                preference = self.preference(body["preference"], tree.join(item_field, "preference"))
            else:
                self.add(item, tree.join(item_field, "preference"), "missing preference (0..65535, lowest is tried first)")
            if "host" in body:
                raw = self.text(body["host"], tree.join(item_field, "host"), "a host name")
                host = tree.dns_name(raw) if raw is not None else ""
            else:
                self.add(item, tree.join(item_field, "host"), "missing host")
            records.append(_MxDraft(
                MxSpec(preference, host, tree.line(item)),
                item_field,
                tree.line(body.get("host", item)),
                tree.line(body.get("preference", item)),
            ))
        return records

    def preference(self, node: Node, field: str) -> int:
        # RFC 1035 §3.3.9: PREFERENCE is a 16 bit integer.
        message = "must be an integer 0..65535"
        if isinstance(node, ScalarNode) and node.tag == _BOOL_TAG:
            self.add(node, field, f"{message}, got the boolean {node.value!r}")
            return 0
        if not isinstance(node, ScalarNode) or node.tag != _INT_TAG:
            self.add(node, field, f"{message}, got {tree.kind(node)}")
            return 0
        try:
            value = SafeConstructor().construct_object(node)
        except (yaml.YAMLError, ValueError):
            self.add(node, field, f"{message}, got {node.value!r}")
            return 0
        if not 0 <= value <= 65535:
            self.add(node, field, f"{message}, got {value}")
            return 0
        return value

    def txt(self, node: Node, field: str) -> tuple[str, ...]:
        if tree.is_null(node):
            return ()
        items = self.sequence(node, field, "a list of strings")
        values = [self.text(item, f"{field}[{i}]", "a string") for i, item in enumerate(items or [])]
        return tuple(value for value in values if value is not None)

    def domain_address(self, node: Node | None, domain: str, hosts: list[_HostDraft], field: str) -> str | None:
        """The apex A record: a dotted 127/8 address, or the name of one of the domain's hosts."""
        if node is None:
            return None
        raw = self.text(node, field, "an IPv4 address in 127.0.0.0/8 or the name of one of the domain's hosts")
        if raw is None:
            return None
        if _DOTTED_RE.fullmatch(raw):
            problem = tree.loopback_problem(raw)
            if problem:
                self.add(node, field, problem)
                return None
            return str(ipaddress.IPv4Address(raw))
        name = tree.dns_name(raw)
        for host in hosts:
            if host.spec.name == name:
                return host.spec.address
        known = ", ".join(h.spec.name for h in hosts) or "none defined"
        self.add(node, field, f"{raw!r} is neither an IPv4 address in 127.0.0.0/8 nor a host of {domain} ({known})")
        return None

    # -- whole-scenario checks

    def check_hosts(self, drafts: list[_DomainDraft]) -> None:
        """A host name is defined once, and in the most specific domain of the scenario."""
        domains = {d.spec.name for d in drafts}
        first_line: dict[str, int] = {}
        for draft in drafts:
            for host in draft.hosts:
                name = host.spec.name
                if not host.in_domain:
                    continue  # already reported
                if name in first_line:
                    self.add(host.spec.line, host.field, f"host {name} is already defined at line {first_line[name]} (names ignore case)")
                    continue
                first_line[name] = host.spec.line
                if name in domains:
                    self.add(host.spec.line, host.field, f"{name} is a domain of this scenario, not a host name")
                    continue
                labels = name.split(".")
                inner = next((".".join(labels[i:]) for i in range(1, len(labels)) if ".".join(labels[i:]) in domains), None)
                if inner is not None and inner != draft.spec.name:
                    self.add(host.spec.line, host.field, f"host {name} lies in domain {inner}; define it there")

    def check_addresses(self, drafts: list[_DomainDraft]) -> None:
        """Two hosts may not share an address: the sending MTA binds to it, the receiver logs it."""
        owners: dict[str, list[_HostDraft]] = {}
        for draft in drafts:
            for host in draft.hosts:
                owners.setdefault(host.spec.address, []).append(host)
        for address, hosts in owners.items():
            if len(hosts) < 2 or address == "0.0.0.0":
                continue
            # A planned address owns its slot; the explicit one that collides with it is the mistake.
            hosts.sort(key=lambda h: h.explicit_address_line is not None)
            owner = hosts[0]
            for host in hosts[1:]:
                line = host.explicit_address_line or host.spec.line
                self.add(
                    line, tree.join(host.field, "address"),
                    f"address {address} is already used by host {owner.spec.name} (line {owner.spec.line})",
                )

    def check_mx(self, drafts: list[_DomainDraft]) -> None:
        """Each MX record names a host of role mx or backup-mx.  A table with only backup MXes, or
        none (``mx: []``), is accepted although the domain has users: the page's MX editor can make
        such a world (mail then waits on the backup MX, or bounces: both are lessons), and a world
        saved from the page must load again."""
        roles = {h.spec.name: h.spec.role for d in drafts for h in d.hosts}
        for draft in drafts:
            if draft.mx is not None:
                self.check_mx_table(draft.mx, roles)

    def check_mx_table(self, records: list[_MxDraft], roles: Mapping[str, Role]) -> None:
        """Check each record of one MX table (a domain's, or a ``set_mx`` step's) against the hosts."""
        seen: dict[str, int] = {}
        for record in records:
            host, host_field = record.spec.host, tree.join(record.field, "host")
            if not host:
                continue  # already reported
            if host == NULL_MX:
                if len(records) > 1:
                    self.add(record.host_line, host_field, "a null MX ('.') must be the only MX record of its domain (RFC 7505 §3)")
                if record.spec.preference != 0:
                    self.add(record.preference_line, tree.join(record.field, "preference"), "a null MX ('.') must have preference 0 (RFC 7505 §3)")
            elif host not in roles:
                self.add(record.host_line, host_field, f"host {host} is not defined in this scenario")
            elif roles[host] is Role.MSA:
                self.add(
                    record.host_line, host_field,
                    f"host {host} has role msa; an MX record must name a host of role mx or backup-mx",
                )
            if host in seen:
                self.add(record.host_line, host_field, f"host {host} is already in this MX table (line {seen[host]})")
            seen.setdefault(host, record.host_line)
