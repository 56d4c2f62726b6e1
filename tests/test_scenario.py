"""Scenario files: the shipped lessons load, defaults are derived, every mistake names file, line, field."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest

from simulator.scenario import (
    ExpectKind, FaultKind, HostState,
    DEFAULT_SCENARIO,
    MxSpec,
    Problem,
    Role,
    Scenario,
    ScenarioError,
    Text,
    load_scenario,
    parse_scenario,
)

SCENARIO_DIR = Path(__file__).resolve().parent.parent / "scenarios"
SHIPPED = sorted(SCENARIO_DIR.glob("*.yaml"))


def parse(text: str, path: str = "lesson.yaml") -> Scenario:
    return parse_scenario(textwrap.dedent(text).lstrip("\n"), path)


def problems(text: str, path: str = "lesson.yaml") -> tuple[Problem, ...]:
    with pytest.raises(ScenarioError) as info:
        parse(text, path)
    return info.value.problems


# --- the shipped scenarios ---------------------------------------------------------------------------


def test_the_three_lessons_are_shipped() -> None:
    assert {p.name for p in SHIPPED} >= {"default.yaml", "mx-failover.yaml", "bounce.yaml"}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_scenario_loads_with_both_languages(path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario.name == path.stem
    assert scenario.path == path
    for text in (scenario.title, scenario.summary):
        assert text.en and text.ru and text.en != text.ru
    assert {"alpha.test", "beta.test"} <= {d.name for d in scenario.domains}
    assert scenario.host("smtp.alpha.test").role is Role.MSA


def test_default_scenario_path_does_not_depend_on_the_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert DEFAULT_SCENARIO.is_absolute()
    assert DEFAULT_SCENARIO == SCENARIO_DIR / "default.yaml"
    assert load_scenario(DEFAULT_SCENARIO).name == "default"


def test_default_scenario_content() -> None:
    s = load_scenario(DEFAULT_SCENARIO)
    assert [d.name for d in s.domains] == ["alpha.test", "beta.test", "gamma.test"]
    assert [u.address for u in s.users] == ["alice@alpha.test", "carol@alpha.test", "bob@beta.test"]
    assert [u.password for u in s.users] == ["alice", "carol", "bob"]
    assert [(h.name, h.role, h.address) for h in s.hosts] == [
        ("smtp.alpha.test", Role.MSA, "127.42.1.1"),
        ("mx.alpha.test", Role.MX, "127.42.1.2"),
        ("smtp.beta.test", Role.MSA, "127.42.2.1"),
        ("mx1.beta.test", Role.MX, "127.42.2.2"),
        ("mx2.beta.test", Role.BACKUP_MX, "127.42.2.3"),
        ("smtp.gamma.test", Role.MSA, "127.42.3.1"),
    ]
    assert all(h.up for h in s.hosts)
    assert [(m.preference, m.host) for m in s.domain("alpha.test").mx] == [(10, "mx.alpha.test")]
    assert [(m.preference, m.host) for m in s.domain("beta.test").mx] == [(10, "mx1.beta.test"), (20, "mx2.beta.test")]
    gamma = s.domain("gamma.test")
    assert [(m.preference, m.host) for m in gamma.mx] == [(0, ".")]
    assert gamma.users == ()


def test_mx_failover_starts_with_the_primary_down() -> None:
    s = load_scenario(SCENARIO_DIR / "mx-failover.yaml")
    assert s.host("mx1.beta.test").up is False
    assert s.host("mx2.beta.test").up is True
    assert s.host("mx2.beta.test").role is Role.BACKUP_MX


def test_bounce_scenario_sends_to_a_user_that_does_not_exist() -> None:
    s = load_scenario(SCENARIO_DIR / "bounce.yaml")
    assert {d.name for d in s.domains} == {"alpha.test", "beta.test"}
    send = next(step.do for step in s.steps if step.action == "send")
    assert not set(send.to) & {u.address for u in s.users}
    assert all(to.endswith("@beta.test") for to in send.to)


# --- derived defaults --------------------------------------------------------------------------------

MINIMAL = """
domains:
  alpha.test:
    users: {alice: secret}
    hosts:
      smtp.alpha.test: {role: msa}
      mx.alpha.test: {role: mx}
"""


def test_name_title_and_summary_default_to_the_file_stem(tmp_path: Path) -> None:
    path = tmp_path / "first-lesson.yaml"
    path.write_text(textwrap.dedent(MINIMAL), encoding="utf-8")
    s = load_scenario(path)
    assert s.name == "first-lesson"
    assert s.title == Text("first-lesson", "first-lesson")
    assert s.summary == Text("first-lesson", "first-lesson")
    assert s.steps == ()
    assert s.path == path


def test_parse_scenario_without_a_path_still_gets_a_valid_name() -> None:
    s = parse_scenario(textwrap.dedent(MINIMAL))
    assert s.name == "string"
    assert s.path == Path("<string>")


def test_title_from_a_plain_string_or_one_language() -> None:
    s = parse("name: demo\ntitle: Hello\nsummary: {ru: Привет}\n" + textwrap.dedent(MINIMAL))
    assert s.title == Text("Hello", "Hello")
    assert s.summary == Text("Привет", "Привет")


def test_users_and_display_names() -> None:
    s = parse("""
        domains:
          alpha.test:
            users:
              alice: alice
              Carol: {password: "1234", name: "Carol Ann"}
              dave: 1234
            hosts: {mx.alpha.test: {role: mx}}
    """)
    alice, carol, dave = s.domain("alpha.test").users
    assert (alice.name, alice.display_name, alice.password, alice.line) == ("alice", "Alice", "alice", 4)
    assert (carol.name, carol.display_name, carol.password) == ("carol", "Carol Ann", "1234")
    assert dave.password == "1234"  # the text as written, not the int
    assert alice.domain == "alpha.test" and alice.address == "alice@alpha.test"


def test_addresses_follow_the_plan_unless_given() -> None:
    s = parse("""
        domains:
          alpha.test:
            hosts:
              smtp.alpha.test: {role: msa}
              mx.alpha.test: {role: mx, address: 127.0.9.9}
          beta.test:
            hosts:
              a.beta.test: {role: msa}
              b.beta.test: {role: mx}
              c.beta.test: {role: backup-mx, state: down}
    """)
    assert [(d.name, d.index, d.line) for d in s.domains] == [("alpha.test", 1, 2), ("beta.test", 2, 6)]
    assert [(h.name, h.domain, h.address, h.up, h.line) for h in s.hosts] == [
        ("smtp.alpha.test", "alpha.test", "127.42.1.1", True, 4),
        ("mx.alpha.test", "alpha.test", "127.0.9.9", True, 5),
        ("a.beta.test", "beta.test", "127.42.2.1", True, 8),
        ("b.beta.test", "beta.test", "127.42.2.2", True, 9),
        ("c.beta.test", "beta.test", "127.42.2.3", False, 10),
    ]


@pytest.mark.parametrize(
    ("domain_body", "mx", "address"),
    [
        # no mx key: no MX records, the apex address is the first host of role mx (RFC 5321 §5.1)
        ("hosts: {smtp.alpha.test: {role: msa}, b.alpha.test: {role: backup-mx}, m.alpha.test: {role: mx}}",
         None, "127.42.1.3"),
        ("hosts: {smtp.alpha.test: {role: msa}}", None, None),
        # mx: [] is no MX records and no implicit address
        ("{hosts: {mx.alpha.test: {role: mx}}, mx: []}", (), None),
        ("{hosts: {mx.alpha.test: {role: mx}}, mx: [], address: mx.alpha.test}", (), "127.42.1.1"),
        ("{hosts: {mx.alpha.test: {role: mx}}, address: 127.1.2.3}", None, "127.1.2.3"),
        ("{hosts: {mx.alpha.test: {role: mx}}, mx: [{preference: 5, host: mx.alpha.test}]}",
         (MxSpec(5, "mx.alpha.test", 2),), None),
    ],
)
def test_domain_mx_and_apex_address(domain_body: str, mx: tuple | None, address: str | None) -> None:
    s = parse(f"domains:\n  alpha.test: {domain_body}\n" if domain_body.startswith("{") else
              f"domains:\n  alpha.test:\n    {domain_body}\n")
    domain = s.domain("alpha.test")
    assert domain.mx == mx
    assert domain.address == address


def test_names_are_lowercased_and_lookups_ignore_case() -> None:
    s = parse("""
        domains:
          Alpha.TEST:
            users: {Alice: alice}
            hosts: {MX.Alpha.Test: {role: MX}}
            mx: [{preference: 10, host: MX.alpha.test.}]
            txt: ["v=spf1 -all", hello]
    """)
    domain = s.domain("ALPHA.test")
    assert domain.name == "alpha.test"
    assert domain.users[0].address == "alice@alpha.test"
    assert s.host("mx.ALPHA.test").name == "mx.alpha.test"
    assert domain.mx[0].host == "mx.alpha.test"
    assert domain.txt == ("v=spf1 -all", "hello")
    with pytest.raises(KeyError):
        s.domain("nowhere.test")
    with pytest.raises(KeyError):
        s.host("nowhere.alpha.test")


def test_steps_become_typed_actions_with_their_narration_and_pause() -> None:
    s = parse(textwrap.dedent(MINIMAL) + textwrap.dedent("""
        steps:
          - say: {en: Watch the queue., ru: Следите за очередью.}
            pause: true
          - send: {from: alice@alpha.test, to: [bob@beta.test, carol@beta.test], subject: Hi}
            say: {en: Go, ru: Вперёд}
          - host_down: mx.alpha.test
          - wait: {seconds: 5}
          - fault: {greylist: mx.alpha.test, delay: 1.5}
          - expect: {delivered: alice@alpha.test, copies: 2}
    """))
    assert [(st.action, st.line, st.pause) for st in s.steps] == [
        ("say", 9, True), ("send", 11, False), ("host_down", 13, False), ("wait", 14, False),
        ("fault", 15, False), ("expect", 16, False)]
    say, send, down, wait, fault, expect = s.steps
    assert say.say == Text("Watch the queue.", "Следите за очередью.")
    assert send.do.to == ("bob@beta.test", "carol@beta.test") and send.do.port == "submission" and send.do.auth
    assert send.say == Text("Go", "Вперёд")
    assert down.do == HostState("mx.alpha.test", False)
    assert wait.do.seconds == 5 and wait.do.event is None
    assert fault.do.fault.kind is FaultKind.GREYLIST and fault.do.fault.delay == 1.5 and not fault.do.off
    assert expect.do.kind is ExpectKind.DELIVERED and expect.do.count == 2


def test_the_model_is_frozen() -> None:
    s = load_scenario(DEFAULT_SCENARIO)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.name = "other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.hosts[0].up = False  # type: ignore[misc]


# --- one mistake, one problem: (YAML, line, field, words the message must contain) --------------------

HOSTS = """
# a small valid world; each case appends to it or edits it
domains:
  alpha.test:
    users: {alice: alice}
    hosts:
      smtp.alpha.test: {role: msa}
      mx.alpha.test: {role: mx}
"""

MISTAKES = [
    ("bad-yaml", "domains: [1, 2\nname: x\n", 2, "<yaml>", "invalid YAML"),
    ("tab", "domains:\n\t- x\n", 2, "<yaml>", "invalid YAML"),
    ("two-documents", "name: a\n---\nname: b\n", 2, "<yaml>", "single document"),
    ("control-character", HOSTS + "name: 'a\x01'\n", 8, "<yaml>", "invalid YAML"),
    ("scalar-document", "hello\n", 1, "<document>", "expected a mapping"),
    ("empty-file", "# nothing\n", 1, "<document>", "empty file"),
    ("top-level-list", "- name\n- domains\n", 1, "<document>", "expected a mapping"),
    ("unknown-top-key", HOSTS + "colour: red\n", 8, "colour", "allowed here: name, title, summary, level, goals, class_domain, domains, faults, steps"),
    ("class-domain-unknown", HOSTS + "class_domain: gamma.test\n", 8, "class_domain", "domain 'gamma.test' is not defined"),
    ("missing-domains", "name: x\n", 1, "domains", "missing"),
    ("no-domains", "domains: {}\n", 1, "domains", "at least one domain"),
    ("domains-not-mapping", "domains: [alpha.test]\n", 1, "domains", "expected a mapping of domain names"),
    ("name-invalid", "name: My Lesson\n" + HOSTS, 1, "name", "a-z, 0-9"),
    ("name-not-text", "name: [x]\n" + HOSTS, 1, "name", "expected a name"),
    ("title-unknown-language", "title: {en: Hi, de: Hallo}\n" + HOSTS, 1, "title.de", "allowed here: en, ru"),
    ("domain-bad-char", "domains:\n  alpha_test:\n    hosts: {}\n", 2, "domains.alpha_test", "not a valid domain name"),
    ("domain-leading-hyphen", "domains:\n  -alpha.test:\n", 2, "domains.-alpha.test", "not a valid domain name"),
    ("domain-empty-label", "domains:\n  alpha..test:\n", 2, "domains.alpha..test", "not a valid domain name"),
    ("domain-not-ascii", "domains:\n  почта.test:\n", 2, "domains.почта.test", "punycode"),
    ("domain-same-name-other-case", "domains:\n  alpha.test:\n  Alpha.Test:\n", 3, "domains.Alpha.Test",
     "already defined at line 2"),
    ("domain-unknown-key", "domains:\n  alpha.test:\n    mailboxes: {}\n", 3, "domains.alpha.test.mailboxes",
     "allowed here: users, hosts, mx, address, txt"),
    ("host-outside-domain", HOSTS + "      mx.beta.test: {role: mx}\n", 8,
     "domains.alpha.test.hosts.mx.beta.test", "must end with '.alpha.test'"),
    ("host-is-the-apex", HOSTS + "      alpha.test: {role: mx}\n", 8,
     "domains.alpha.test.hosts.alpha.test", "must end with '.alpha.test'"),
    ("host-bad-label", HOSTS + "      mx_2.alpha.test: {role: mx}\n", 8,
     "domains.alpha.test.hosts.mx_2.alpha.test", "not a valid host name"),
    ("host-unknown-key", HOSTS + "      mx2.alpha.test: {role: mx, port: 25}\n", 8,
     "domains.alpha.test.hosts.mx2.alpha.test.port", "allowed here: role, state, address"),
    ("host-missing-role", HOSTS + "      mx2.alpha.test: {state: up}\n", 8,
     "domains.alpha.test.hosts.mx2.alpha.test.role", "missing role"),
    ("host-not-mapping", HOSTS + "      mx2.alpha.test: mx\n", 8,
     "domains.alpha.test.hosts.mx2.alpha.test", "expected a mapping like {role: mx}"),
    ("unknown-role", HOSTS + "      mx2.alpha.test: {role: relay}\n", 8,
     "domains.alpha.test.hosts.mx2.alpha.test.role", "unknown role 'relay'; one of msa, mx, backup-mx"),
    ("bad-state", HOSTS + "      mx2.alpha.test:\n        role: mx\n        state: off\n", 10,
     "domains.alpha.test.hosts.mx2.alpha.test.state", "use up or down"),
    ("address-outside-loopback", HOSTS + "      mx2.alpha.test: {role: mx, address: 10.0.0.1}\n", 8,
     "domains.alpha.test.hosts.mx2.alpha.test.address", "not in 127.0.0.0/8"),
    ("address-not-ip", HOSTS + "      mx2.alpha.test: {role: mx, address: localhost}\n", 8,
     "domains.alpha.test.hosts.mx2.alpha.test.address", "not a dotted IPv4 address"),
    ("address-taken-from-the-plan", HOSTS + "      mx2.alpha.test: {role: mx, address: 127.42.1.1}\n", 8,
     "domains.alpha.test.hosts.mx2.alpha.test.address", "already used by host smtp.alpha.test"),
    ("domain-address-outside-loopback", HOSTS + "    address: 192.0.2.1\n", 8,
     "domains.alpha.test.address", "not in 127.0.0.0/8"),
    ("domain-address-unknown-host", HOSTS + "    address: www.alpha.test\n", 8,
     "domains.alpha.test.address", "neither an IPv4 address in 127.0.0.0/8 nor a host of alpha.test"),
    ("user-duplicate-other-case", HOSTS.replace("{alice: alice}", "{alice: a, Alice: b}"), 4,
     "domains.alpha.test.users.Alice", "already defined at line 4"),
    ("user-space", HOSTS.replace("{alice: alice}", "{al ice: a}"), 4,
     "domains.alpha.test.users.al ice", "not a valid user name"),
    ("user-double-dot", HOSTS.replace("{alice: alice}", "{a..b: a}"), 4,
     "domains.alpha.test.users.a..b", "not a valid user name"),
    ("user-too-long", HOSTS.replace("{alice: alice}", "{" + "a" * 65 + ": a}"), 4,
     "domains.alpha.test.users." + "a" * 65, "1..64"),
    ("password-empty-string", HOSTS.replace("{alice: alice}", '{alice: ""}'), 4,
     "domains.alpha.test.users.alice", "empty password"),
    ("password-missing-value", HOSTS.replace("{alice: alice}", "\n      alice:\n"), 5,
     "domains.alpha.test.users.alice", "empty password"),
    ("password-missing-key", HOSTS.replace("{alice: alice}", "{alice: {name: Alice}}"), 4,
     "domains.alpha.test.users.alice.password", "missing password"),
    ("user-unknown-key", HOSTS.replace("{alice: alice}", "{alice: {password: a, quota: 5}}"), 4,
     "domains.alpha.test.users.alice.quota", "allowed here: password, name"),
    ("preference-quoted", HOSTS + '    mx: [{preference: "10", host: mx.alpha.test}]\n', 8,
     "domains.alpha.test.mx[0].preference", "integer 0..65535"),
    ("preference-boolean", HOSTS + "    mx: [{preference: true, host: mx.alpha.test}]\n", 8,
     "domains.alpha.test.mx[0].preference", "boolean"),
    ("preference-negative", HOSTS + "    mx: [{preference: -1, host: mx.alpha.test}]\n", 8,
     "domains.alpha.test.mx[0].preference", "got -1"),
    ("preference-too-big", HOSTS + "    mx: [{preference: 65536, host: mx.alpha.test}]\n", 8,
     "domains.alpha.test.mx[0].preference", "got 65536"),
    ("preference-float", HOSTS + "    mx: [{preference: 1.5, host: mx.alpha.test}]\n", 8,
     "domains.alpha.test.mx[0].preference", "integer 0..65535"),
    ("preference-missing", HOSTS + "    mx: [{host: mx.alpha.test}]\n", 8,
     "domains.alpha.test.mx[0].preference", "missing preference"),
    ("mx-host-missing", HOSTS + "    mx:\n      - {preference: 10, host: mx.alpha.test}\n      - {preference: 20}\n",
     10, "domains.alpha.test.mx[1].host", "missing host"),
    ("mx-unknown-key", HOSTS + "    mx: [{preference: 10, host: mx.alpha.test, ttl: 60}]\n", 8,
     "domains.alpha.test.mx[0].ttl", "allowed here: preference, host"),
    ("mx-null", HOSTS + "    mx:\n", 8, "domains.alpha.test.mx", "[] for no MX records"),
    ("mx-undefined-host", HOSTS + "    mx:\n      - preference: 10\n        host: mx9.alpha.test\n", 10,
     "domains.alpha.test.mx[0].host", "mx9.alpha.test is not defined"),
    ("mx-names-msa", HOSTS + "    mx:\n      - {preference: 10, host: mx.alpha.test}\n"
     "      - {preference: 20, host: smtp.alpha.test}\n", 10, "domains.alpha.test.mx[1].host", "has role msa"),
    ("mx-duplicate-host", HOSTS + "    mx:\n      - {preference: 10, host: mx.alpha.test}\n"
     "      - {preference: 20, host: MX.alpha.test}\n", 10, "domains.alpha.test.mx[1].host",
     "already in this MX table (line 9)"),
    ("null-mx-not-alone", HOSTS + "    mx:\n      - {preference: 10, host: mx.alpha.test}\n"
     "      - {preference: 0, host: .}\n", 10, "domains.alpha.test.mx[1].host", "must be the only MX record"),
    ("null-mx-preference", "domains:\n  gamma.test:\n    mx:\n      - preference: 10\n        host: .\n", 4,
     "domains.gamma.test.mx[0].preference", "must have preference 0"),
    ("txt-not-list", HOSTS + "    txt: v=spf1 -all\n", 8, "domains.alpha.test.txt", "expected a list of strings"),
    ("txt-not-string", HOSTS + "    txt: [[a]]\n", 8, "domains.alpha.test.txt[0]", "expected a string"),
    ("host-defined-twice", HOSTS + "  beta.test:\n    hosts:\n      mx.beta.test: {role: mx}\n"
     "      MX.Beta.Test: {role: mx}\n", 11, "domains.beta.test.hosts.MX.Beta.Test", "already defined at line 10"),
    ("host-in-a-more-specific-domain", HOSTS + "      mx.sub.alpha.test: {role: mx}\n  sub.alpha.test:\n", 8,
     "domains.alpha.test.hosts.mx.sub.alpha.test", "lies in domain sub.alpha.test"),
    ("duplicate-top-key", HOSTS + "name: a\nname: b\n", 9, "name", "duplicate key 'name' (first at line 8)"),
    ("duplicate-domain", HOSTS + "  alpha.test:\n", 8, "domains.alpha.test", "duplicate key 'alpha.test' (first at line 3)"),
    ("duplicate-host", HOSTS + "      mx.alpha.test: {role: backup-mx}\n", 8,
     "domains.alpha.test.hosts.mx.alpha.test", "duplicate key"),
    ("duplicate-user", HOSTS.replace("{alice: alice}", "{alice: a, alice: b}"), 4,
     "domains.alpha.test.users.alice", "duplicate key 'alice'"),
    ("duplicate-role", HOSTS + "      mx2.alpha.test: {role: mx, role: msa}\n", 8,
     "domains.alpha.test.hosts.mx2.alpha.test.role", "duplicate key 'role'"),
    ("duplicate-in-step-args", HOSTS + "steps:\n  - send: {from: a@alpha.test, to: a@alpha.test, to: b@alpha.test, auth: false, port: mx, via: mx.alpha.test}\n", 9,
     "steps[0].send.to", "duplicate key 'to'"),
    ("steps-not-list", HOSTS + "steps: {send: x}\n", 8, "steps", "expected a list of steps"),
    ("step-not-mapping", HOSTS + "steps:\n  - send\n", 9, "steps[0]", "expected a step"),
    ("step-unknown-action", HOSTS + "steps:\n  - reboot: mx.alpha.test\n", 9, "steps[0].reboot",
     "allowed here: send, fetch, wait, host_down, host_up, set_mx, fault, expect, say, pause"),
    ("step-two-actions", HOSTS + "steps:\n  - host_down: mx.alpha.test\n    host_up: mx.alpha.test\n", 10,
     "steps[0].host_up", "does one thing"),
    ("step-empty", HOSTS + "steps:\n  - {}\n", 9, "steps[0]", "empty step"),
    ("step-unknown-tag", HOSTS + "steps:\n  - wait: !minutes 5\n", 9, "steps[0].wait", "expected a mapping"),
]


@pytest.mark.parametrize(("text", "line", "field", "words"), [m[1:] for m in MISTAKES], ids=[m[0] for m in MISTAKES])
def test_each_mistake_is_named_by_file_line_and_field(text: str, line: int, field: str, words: str) -> None:
    found = problems(text)
    assert any((p.path, p.line, p.field) == ("lesson.yaml", line, field) and words in p.message for p in found), (
        "\n".join(map(str, found))
    )


@pytest.mark.parametrize(("text", "line", "field", "words"), [m[1:] for m in MISTAKES], ids=[m[0] for m in MISTAKES])
def test_a_mistake_is_reported_once(text: str, line: int, field: str, words: str) -> None:
    """No cascade: one mistake in otherwise good YAML gives exactly one problem."""
    found = problems(text)
    assert len(found) == 1, "\n".join(map(str, found))


def test_too_many_domains() -> None:
    text = "domains:\n" + "".join(f"  d{i}.test:\n" for i in range(251))
    found = problems(text)
    assert [(p.line, p.field) for p in found] == [(2, "domains")]  # where the domains mapping starts
    assert "at most 250" in found[0].message


def test_too_many_hosts_in_one_domain() -> None:
    text = "domains:\n  alpha.test:\n    hosts:\n" + "".join(f"      h{i}.alpha.test: {{role: msa}}\n" for i in range(251))
    found = problems(text)
    assert [(p.line, p.field) for p in found] == [(4, "domains.alpha.test.hosts")]
    assert "at most 250" in found[0].message


def test_250_domains_and_250_hosts_fit_the_address_plan() -> None:
    text = "domains:\n" + "".join(f"  d{i}.test:\n" for i in range(249))
    text += "  big.test:\n    hosts:\n" + "".join(f"      h{i}.big.test: {{role: msa}}\n" for i in range(250))
    s = parse_scenario(text)
    assert s.host("h249.big.test").address == "127.42.250.250"


# --- many mistakes, one report ------------------------------------------------------------------------

MANY = """
name: Bad Name
domains:
  alpha.test:
    users: {alice: "", bob: b}
    hosts:
      smtp.alpha.test: {role: relay}
      mx.beta.test: {role: mx}
    mx:
      - {preference: 70000, host: nowhere.alpha.test}
  beta.test:
    hosts:
      mx.beta.test: {role: mx, state: sideways, address: 8.8.8.8}
colour: red
"""


def test_every_mistake_in_a_file_is_reported_in_line_order() -> None:
    found = problems(MANY, "lessons/bad.yaml")
    assert [(p.line, p.field) for p in found] == [
        (1, "name"),
        (4, "domains.alpha.test.users.alice"),
        (6, "domains.alpha.test.hosts.smtp.alpha.test.role"),
        (7, "domains.alpha.test.hosts.mx.beta.test"),
        (9, "domains.alpha.test.mx[0].preference"),
        (9, "domains.alpha.test.mx[0].host"),
        (12, "domains.beta.test.hosts.mx.beta.test.state"),
        (12, "domains.beta.test.hosts.mx.beta.test.address"),
        (13, "colour"),
    ]
    assert {p.path for p in found} == {"lessons/bad.yaml"}


def test_error_text_has_one_line_per_problem() -> None:
    with pytest.raises(ScenarioError) as info:
        parse(MANY, "lessons/bad.yaml")
    lines = str(info.value).splitlines()
    assert lines == [str(p) for p in info.value.problems]
    assert len(lines) == 9
    assert lines[0].startswith("lessons/bad.yaml:1: name: ")
    assert str(Problem("a.yaml", 3, "domains.x.test", "oops")) == "a.yaml:3: domains.x.test: oops"


def test_scenario_error_survives_pickling() -> None:
    import pickle

    with pytest.raises(ScenarioError) as info:
        parse(MANY)
    copy = pickle.loads(pickle.dumps(info.value))
    assert copy.problems == info.value.problems
    assert str(copy) == str(info.value)


def test_load_scenario_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: ok\ndomains: [\n", encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    (problem,) = info.value.problems
    assert (problem.path, problem.field) == (str(path), "<yaml>")
    assert str(info.value).startswith(f"{path}:")


def test_load_scenario_rejects_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"name: ok\ntitle: caf\xe9\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert [(p.line, p.field) for p in info.value.problems] == [(2, "<yaml>")]


def test_unsafe_tags_are_never_constructed() -> None:
    text = HOSTS + "steps:\n  - wait: !!python/object/apply:os.system [echo pwned]\n"
    found = problems(text)
    assert [(p.line, p.field) for p in found] == [(9, "steps[0].wait")]


# --- the script of a lesson: every mistake, all at once ---------------------------------------------

BROKEN_LESSON = """\
name: broken
level: core
goals: {en: [Read a bounce], ru: [Прочитать возврат]}
domains:
  alpha.test:
    users: {alice: alice}
    hosts:
      smtp.alpha.test: {role: msa}
      mx.alpha.test: {role: mx}
faults:
  - {frobnicate: mx.alpha.test}
steps:
  - jump: {high: true}
  - fault: {greylist: mx.nowhere.test}
  - send: {from: alice@alpha, to: bob@beta.test}
  - expect: {delivered: carol@alpha.test}
  - expect: {reply: 450, at: RCPT, host: mx9.alpha.test}
  - say: {en: "only English"}
  - fault: {reply: mx.alpha.test, at: BLAH, code: 700}
  - wait: {for: delivered, seconds: 3}
  - set_mx: {domain: alpha.test, mx: [{preference: 10, host: smtp.alpha.test}]}
  - send: {from: alice@alpha.test, to: bob@beta.test, port: smtps, via: mx.alpha.test}
  - fetch: {user: alice@alpha.test, protocol: nntp}
"""


def test_a_broken_script_is_rejected_with_every_mistake_by_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN_LESSON, encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    found = {(p.line, p.field) for p in caught.value.problems}
    assert found >= {
        (11, "faults[0].frobnicate"),              # an unknown fault
        (13, "steps[0].jump"),                     # an unknown step
        (14, "steps[1].fault.greylist"),           # a fault on a host that does not exist
        (15, "steps[2].send.from"),                # a wrong address
        (16, "steps[3].expect.delivered"),         # an expectation naming an unknown mailbox
        (17, "steps[4].expect.host"),              # ... and an unknown host
        (18, "steps[5].say.ru"),                   # a narration missing a language
        (19, "steps[6].fault.at"), (19, "steps[6].fault.code"),
        (20, "steps[7].wait"),
        (21, "steps[8].set_mx.mx[0].host"),
        (22, "steps[9].send.port"),
        (23, "steps[10].fetch.protocol"),
    }
    assert all(p.path == str(path) for p in caught.value.problems)
    assert [p.line for p in caught.value.problems] == sorted(p.line for p in caught.value.problems)


def test_a_fault_from_the_page_is_checked_like_a_step() -> None:
    from simulator.scenario import parse_fault
    s = load_scenario(DEFAULT_SCENARIO)
    fault, off = parse_fault({"reply": "mx1.beta.test", "at": "rcpt", "code": 451, "times": 1}, s)
    assert (fault.kind, fault.target, fault.command, fault.code, fault.times, off) == (
        FaultKind.REPLY, "mx1.beta.test", "RCPT", 451, 1, False)
    assert parse_fault({"servfail": "beta.test", "off": True}, s)[1] is True
    with pytest.raises(ScenarioError) as caught:
        parse_fault({"mailbox_full": "nobody@beta.test"}, s)
    assert caught.value.problems[0].field == "fault.mailbox_full"
    with pytest.raises(ScenarioError):
        parse_fault(["greylist"], s)
    deep: list = []
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(ScenarioError):
        parse_fault({"greylist": deep}, s)


@pytest.mark.parametrize("table", ["[{preference: 10, host: b.alpha.test}]", "[]"], ids=["only-backup", "empty"])
def test_a_domain_whose_mail_cannot_arrive_still_loads(table: str) -> None:
    """The page's MX editor can make such a world (mail waits on the backup, or bounces), and a
    world saved from the page must load again."""
    s = parse(HOSTS + "      b.alpha.test: {role: backup-mx}\n" + f"    mx: {table}\n")
    assert s.domain("alpha.test").mx is not None and s.domain("alpha.test").users


@pytest.mark.parametrize(("text", "field", "words"), [
    ("steps:\n  - &s {host_down: mx.alpha.test}\n  - *s\n", "steps[0]", "aliases"),
    ("steps:\n  - fault: {reply: mx.alpha.test, at: RCPT, code: 451, text: \"later\\r\\n250 2.1.0 fake\"}\n",
     "steps[0].fault.text", "one line"),
    ("steps:\n  - fault: {reply: mx.alpha.test, at: RCPT, code: 451, text: \"5.7.1 no\"}\n",
     "steps[0].fault.text", "does not match the reply code 451"),
    ("steps:\n  - send: {from: alice@alpha.test, to: b@beta.test, port: mx, auth: false}\n",
     "steps[0].send.port", "front door has no MX port"),
    ("steps:\n  - send: {from: alice@alpha.test, to: b@beta.test, subject: \"two\\nlines\"}\n",
     "steps[0].send.subject", "one line"),
    ("steps:\n  - set_mx: {domain: alpha.test, mx: [{preference: 5, host: .}]}\n",
     "steps[0].set_mx.mx[0].preference", "null MX"),
    ("steps:\n  - set_mx: {domain: alpha.test, mx: [{preference: 5, host: mx.alpha.test}, {preference: 6, host: mx.alpha.test}]}\n",
     "steps[0].set_mx.mx[1].host", "already in this MX table"),
], ids=["alias", "reply-text-injection", "enhanced-class", "mx-port-at-front-door", "subject-newline",
        "set-mx-null-preference", "set-mx-duplicate"])
def test_a_script_the_runner_could_not_use_is_refused_at_load(text: str, field: str, words: str) -> None:
    found = problems(HOSTS + text)
    assert any(p.field == field and words in p.message for p in found), found


def test_a_host_may_not_take_the_front_doors_address() -> None:
    found = problems(HOSTS.replace("{role: mx}", "{role: mx, address: 127.0.0.1}"))
    assert any("front door" in p.message for p in found), found


def test_class_domain_names_a_domain_with_a_mailbox_server() -> None:
    base = HOSTS + "  beta.test:\n    hosts:\n      smtp.beta.test: {role: msa}\n"
    assert parse_scenario(base + "class_domain: alpha.test\n", "lesson.yaml").class_domain == "alpha.test"
    assert parse_scenario(base, "lesson.yaml").class_domain is None
    found = problems(base + "class_domain: beta.test\n")
    assert [(p.field, "no host of role mx" in p.message) for p in found] == [("class_domain", True)]
