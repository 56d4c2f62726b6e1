"""The YAML node tree and the name rules the scenario loader checks (RFC 1035 §2.3.1, the address plan).

Only the node tree (``yaml.compose``) carries line numbers and still shows duplicate keys, so the
loader works on nodes; these are its small helpers, and pass 1 (duplicate keys anywhere)."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .model import Problem

LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")
NULL_TAG = "tag:yaml.org,2002:null"
LABEL_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def yaml_error_line(err: yaml.YAMLError, text: str) -> int:
    if isinstance(err, yaml.MarkedYAMLError):
        mark = err.problem_mark or err.context_mark
        if mark is not None:
            return mark.line + 1
    if isinstance(err, yaml.reader.ReaderError):
        return text.count("\n", 0, err.position) + 1
    return 1


def yaml_error_text(err: yaml.YAMLError) -> str:
    if isinstance(err, yaml.MarkedYAMLError):
        parts = [part for part in (err.context, err.problem) if part]
        return "invalid YAML: " + ", ".join(parts) if parts else "invalid YAML"
    if isinstance(err, yaml.reader.ReaderError):
        return f"invalid YAML: {err.reason} (character {err.character!r})"
    return f"invalid YAML: {err}"


# --- small helpers ---------------------------------------------------------------------------------


def line(node: Node) -> int:
    return node.start_mark.line + 1


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == NULL_TAG


def kind(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    if is_null(node):
        return "nothing"
    return repr(node.value)


def dns_name(raw: str) -> str:
    """Lower-case a name and drop one trailing dot (``mx.alpha.test.`` is the absolute spelling)."""
    name = raw.lower()
    return name[:-1] if name.endswith(".") and name != "." else name


def dns_problem(name: str) -> str | None:
    """Why ``name`` (already lower-cased) is not a usable host or domain name (RFC 1035 §2.3.1)."""
    if not name:
        return "a DNS name must not be empty"
    if not name.isascii():
        return "a DNS name must be ASCII (write international names as punycode, xn--...)"
    if len(name) > 253:
        return "a DNS name is at most 253 characters"
    for label in name.split("."):
        if not LABEL_RE.fullmatch(label):
            return (
                f"label {label!r} is not valid: 1..63 letters, digits or '-', "
                "not starting or ending with '-'"
            )
    return None


FRONT_DOOR = ipaddress.IPv4Address("127.0.0.1")


def loopback_problem(raw: str) -> str | None:
    try:
        address = ipaddress.IPv4Address(raw)
    except ValueError:
        return f"{raw!r} is not a dotted IPv4 address"
    if address not in LOOPBACK:
        return f"{raw} is not in 127.0.0.0/8 (the sandbox uses loopback addresses only)"
    if address == FRONT_DOOR:
        return "127.0.0.1 is the front door's address, where real mail clients connect; give another one in 127.0.0.0/8"
    return None


def find_aliases(root: Node, file: str) -> list[Problem]:
    """YAML aliases (``*name``) are refused: a scenario is read by hand, and an alias of an alias
    can make a small file expand into millions of nodes."""
    problems: list[Problem] = []
    seen: set[int] = set()
    stack: list[tuple[Node, str]] = [(root, "")]
    while stack:
        node, path = stack.pop()
        if id(node) in seen:
            problems.append(Problem(file, line(node), path or "<document>",
                                    "YAML aliases (*name) are not supported in scenario files: write the value out"))
            continue
        seen.add(id(node))
        if isinstance(node, MappingNode):
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, ScalarNode) else "?"
                stack.append((value_node, join(path, str(key))))
        elif isinstance(node, SequenceNode):
            stack.extend((item, f"{path}[{i}]") for i, item in enumerate(node.value))
    return problems


def plan_address(domain_index: int, host_index: int) -> str:
    return f"127.42.{domain_index}.{host_index}"


def default_name(path: Path) -> str:
    """The file stem made into a valid scenario name (``<string>`` -> ``string``)."""
    name = re.sub(r"[^a-z0-9-]+", "-", path.stem.lower()).strip("-")
    return name or "scenario"


# --- pass 1: duplicate keys anywhere ---------------------------------------------------------------


def find_duplicate_keys(root: Node, file: str) -> list[Problem]:
    """PyYAML keeps the last of two equal keys without a word; find them in the node tree."""
    problems: list[Problem] = []
    seen: set[int] = set()  # aliases share nodes, and an alias may even make a cycle
    stack: list[tuple[Node, str]] = [(root, "")]
    while stack:
        node, path = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, MappingNode):
            first: dict[str, int] = {}
            children = []
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, ScalarNode) else "?"
                if isinstance(key_node, ScalarNode):
                    if key in first:
                        problems.append(Problem(
                            file, line(key_node), join(path, key),
                            f"duplicate key {key!r} (first at line {first[key]}); "
                            "YAML would silently keep only the last one",
                        ))
                    else:
                        first[key] = line(key_node)
                children.append((value_node, join(path, key)))
            stack.extend(reversed(children))
        elif isinstance(node, SequenceNode):
            stack.extend(reversed([(item, f"{path}[{i}]") for i, item in enumerate(node.value)]))
    return problems
