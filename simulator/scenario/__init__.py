"""Scenario files: the model (:mod:`.model`) and the loader, which names every mistake by file, line
and field (:mod:`.load`, :mod:`.tree`)."""

from .load import DEFAULT_SCENARIO, load_scenario, parse_fault, parse_scenario
from .model import (
    DomainSpec, Expect, ExpectKind, Fault, FaultKind, Fetch, HostSpec, Level, MxSpec, Problem, Role, Say,
    Scenario, ScenarioError, Send, SetFault, SetMx, Step, Text, UserSpec, Wait, WaitFor,
)
from .model import HostState, Outside

__all__ = [
    "DEFAULT_SCENARIO", "Expect", "ExpectKind", "Fault", "FaultKind", "Fetch", "HostState", "Level", "Outside", "Say",
    "Send", "SetFault", "SetMx", "Wait", "WaitFor", "parse_fault",
    "DomainSpec",
    "HostSpec",
    "MxSpec",
    "Problem",
    "Role",
    "Scenario",
    "ScenarioError",
    "Step",
    "Text",
    "UserSpec",
    "load_scenario",
    "parse_scenario",
]
