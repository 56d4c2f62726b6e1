"""The headless runner's report: lines for the terminal and a JUnit XML file for CI.

JUnit: one ``<testsuite>`` per lesson, one ``<testcase>`` per step (named by its number, action and
line); a failed expectation or a step that could not be done is a ``<failure>`` whose message is the
narrator's English explanation (what was expected, what happened, file and line); the steps after a
failure are ``<skipped>``.  CI tools (GitLab, Jenkins, GitHub's test reporters) read this format.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from ..narrate.markup import plain
from .runner import LessonRun, StepStatus


def summary_lines(run: LessonRun) -> list[str]:
    scenario = run.scenario
    lines = []
    for index, (step, result) in enumerate(zip(scenario.steps, run.results)):
        mark = {StepStatus.PASSED: "✓", StepStatus.DONE: "·", StepStatus.FAILED: "✗",
                StepStatus.SKIPPED: "-"}.get(result.status, "?")
        words = plain(result.event.words("en")["summary"]) if result.event is not None else ""
        lines.append(f"  {mark} step {index + 1:>2} (line {step.line:>3}) {step.action:<9} {words}".rstrip())
    failure = run.failure()
    if failure is None:
        lines.append(f"PASSED: {scenario.name} ({scenario.path}), {len(scenario.steps)} steps")
    else:
        step, result = failure
        explain = plain(result.event.words("en")["explain"]) if result.event is not None else ""
        lines.append(f"FAILED: {scenario.path}:{step.line}: step {scenario.steps.index(step) + 1} ({step.action}): {explain}")
    return lines


def write_junit(run: LessonRun, path: Path, *, seconds: float) -> None:
    scenario = run.scenario
    failures = sum(1 for r in run.results if r.status is StepStatus.FAILED)
    skipped = sum(1 for r in run.results if r.status is StepStatus.SKIPPED)
    suite = ET.Element("testsuite", name=scenario.name, tests=str(len(scenario.steps)), failures=str(failures),
                       errors="0", skipped=str(skipped), time=f"{seconds:.3f}")
    suite.set("file", str(scenario.path))
    for index, (step, result) in enumerate(zip(scenario.steps, run.results)):
        case = ET.SubElement(suite, "testcase", classname=f"lesson.{scenario.name}",
                             name=f"step {index + 1}: {step.action} (line {step.line})")
        case.set("file", str(scenario.path))
        case.set("line", str(step.line))
        if result.status is StepStatus.FAILED:
            words = result.event.words("en") if result.event is not None else {"summary": "failed", "explain": ""}
            failure = ET.SubElement(case, "failure", message=plain(words["summary"]))
            failure.text = f"{scenario.path}:{step.line}: {plain(words['explain'])}"
        elif result.status is StepStatus.SKIPPED:
            ET.SubElement(case, "skipped", message="not run: an earlier step failed")
    root = ET.Element("testsuites")
    root.append(suite)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
