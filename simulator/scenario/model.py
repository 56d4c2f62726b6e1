"""The scenario model: the frozen dataclasses a scenario file becomes (loaded by :mod:`.load`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any


# --- the model -------------------------------------------------------------------------------------


class Role(StrEnum):
    MSA = "msa"
    MX = "mx"
    BACKUP_MX = "backup-mx"


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


@dataclass(frozen=True, slots=True)
class Step:
    """One scripted step, kept loose for a later issue: ``action`` is one of send, say, host_down,
    host_up, set_mx, wait, expect; ``args`` is the plain YAML value of that key."""

    action: str
    args: Any
    line: int


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    title: Text
    summary: Text
    domains: tuple[DomainSpec, ...]
    steps: tuple[Step, ...]
    path: Path

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
