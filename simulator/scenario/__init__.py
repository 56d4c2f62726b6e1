"""Scenario files: the model (:mod:`.model`) and the loader, which names every mistake by file, line
and field (:mod:`.load`, :mod:`.tree`)."""

from .load import DEFAULT_SCENARIO, load_scenario, parse_scenario
from .model import DomainSpec, HostSpec, MxSpec, Problem, Role, Scenario, ScenarioError, Step, Text, UserSpec

__all__ = [
    "DEFAULT_SCENARIO",
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
