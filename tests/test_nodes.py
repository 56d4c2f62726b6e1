"""Node ids (:mod:`simulator.nodes`): the constructors, and that every node an event names is a node of
the world's graph, so the page never has to invent one.

The world test drives everything a student can do from this computer: a delivery and a bounce
submitted through the front door, POP3 and IMAP logins through the front door, a DNS question asked
with dnspython, and an SMTP session typed by hand straight to an MX from 127.0.0.1.
"""
from __future__ import annotations

import imaplib
import poplib
import smtplib
import types

import dns.message
import dns.query
import pytest

from simulator import nodes
from simulator.nodes import Kind

TIMEOUT = 10


# -- the constructors -------------------------------------------------------------------------------

@pytest.mark.parametrize("make, name, node, kind", [
    (nodes.mta, "MX1.Beta.Test", "mta:mx1.beta.test", Kind.MTA),
    (nodes.mda, "Beta.Test", "mda:beta.test", Kind.MDA),
    (nodes.imap, "beta.test", "imap:beta.test", Kind.IMAP),
    (nodes.pop3, "beta.test", "pop3:beta.test", Kind.POP3),
    (nodes.mua, "Bob@Beta.Test", "mua:bob@beta.test", Kind.MUA),
    (nodes.mailbox, "bob@beta.test", "mailbox:bob@beta.test", Kind.MAILBOX),
    (nodes.domain, "BETA.test", "domain:beta.test", Kind.DOMAIN),
])
def test_a_constructor_makes_a_lower_case_id_of_its_kind(make, name, node, kind):
    assert make(name) == node
    assert nodes.kind_of(node) is kind
    assert nodes.name_of(node) == name.lower()


@pytest.mark.parametrize("node, kind", [(nodes.DNS, Kind.DNS), (nodes.FRONT, Kind.FRONT),
                                        (nodes.OUTSIDE, Kind.OUTSIDE), (nodes.APP, Kind.APP),
                                        (nodes.INTERNET, Kind.INTERNET)])
def test_the_single_nodes_are_their_own_kind_and_name(node, kind):
    assert nodes.kind_of(node) is kind
    assert nodes.name_of(node) == node
    assert nodes.host_of(node) is None


def test_every_kind_has_a_constructor_or_a_constant():
    made = {nodes.kind_of(n) for n in (nodes.DNS, nodes.FRONT, nodes.OUTSIDE, nodes.APP, nodes.INTERNET,
                                       nodes.domain("a.test"),
                                       nodes.mta("h.a.test"), nodes.mda("a.test"), nodes.imap("a.test"),
                                       nodes.pop3("a.test"), nodes.mua("u@a.test"), nodes.mailbox("u@a.test"))}
    assert made == set(Kind)


def test_host_of_names_only_an_mta():
    assert nodes.host_of(nodes.mta("mx1.beta.test")) == "mx1.beta.test"
    assert nodes.host_of(nodes.mda("beta.test")) is None
    assert nodes.host_of(nodes.mua("bob@beta.test")) is None


def test_name_of_keeps_everything_after_the_first_colon():
    assert nodes.name_of("mua:odd:name@beta.test") == "odd:name@beta.test"


@pytest.mark.parametrize("bad", ["client:127.0.0.1", "mta-front", "", "Front"])
def test_an_id_of_no_known_kind_is_refused(bad):
    with pytest.raises(ValueError):
        nodes.kind_of(bad)


def test_every_node_of_the_graph_has_a_known_kind(world):
    graph = world.stack.world.graph()
    unknown = []
    for node in graph.nodes:
        try:
            nodes.kind_of(node)
        except ValueError:
            unknown.append(node)
    assert not unknown, f"graph nodes of no nodes.Kind: {unknown}"
    for must in (nodes.DNS, nodes.FRONT, nodes.OUTSIDE):
        assert must in graph, f"{must!r} is not a node of world.graph() (simulator/world.py)"


# -- every node an event names is in the graph ------------------------------------------------------

def _submit(world, to: str, subject: str) -> None:
    with smtplib.SMTP("127.0.0.1", world.port("submission"), local_hostname="c.test", timeout=TIMEOUT) as s:
        s.login("alice@alpha.test", "alice")
        s.sendmail("alice@alpha.test", [to], f"Subject: {subject}\r\nTo: {to}\r\n\r\n{subject}\r\n".encode())


def _after(world, mark: int, protocol: str):
    """Wait for an event of ``protocol`` published after sequence number ``mark``."""
    return world.events.wait_for(lambda e: e.seq > mark and e.protocol == protocol)


def _last_seq(world) -> int:
    return world.events.events[-1].seq if world.events.events else 0


def _delivery(world) -> None:
    _submit(world, "bob@beta.test", "delivered")
    world.wait_messages("bob@beta.test")


def _bounce(world) -> None:
    _submit(world, "nobody@beta.test", "bounced")
    world.wait_messages("alice@alpha.test")                    # the DSN came back


def _pop3_login(world) -> None:
    mark = _last_seq(world)
    pop = poplib.POP3("127.0.0.1", world.port("pop3"), timeout=TIMEOUT)
    try:
        pop.user("bob@beta.test")
        pop.pass_("bob")
        if pop.stat()[0]:
            pop.retr(1)
    finally:
        pop.quit()
    _after(world, mark, "POP3")


def _imap_login(world) -> None:
    mark = _last_seq(world)
    with imaplib.IMAP4("127.0.0.1", world.port("imap"), timeout=TIMEOUT) as imap:
        imap.login("bob@beta.test", "bob")
        imap.select("INBOX")
        imap.fetch("1:*", "(BODY.PEEK[HEADER])")
        imap.logout()
    _after(world, mark, "IMAP")


def _dns_question(world) -> None:
    mark = _last_seq(world)
    query = dns.message.make_query("beta.test", "MX")
    answer = dns.query.udp(query, "127.0.0.1", port=world.port("dns"), timeout=TIMEOUT, source="127.0.0.1")
    assert answer.answer, answer
    _after(world, mark, "DNS")


def _smtp_by_hand(world) -> None:
    mark = _last_seq(world)
    mx = "mx1.beta.test" if "mx1.beta.test" in world.stack.world.hosts else "mx.beta.test"
    with smtplib.SMTP(world.address(mx), world.port("mx", mx), local_hostname="by-hand.test",
                      source_address=("127.0.0.1", 0), timeout=TIMEOUT) as s:
        s.sendmail("someone@outside.test", ["bob@beta.test"], b"Subject: by hand\r\n\r\ntyped\r\n")
    _after(world, mark, "SMTP")


def strays(events, graph: set[str]) -> list[str]:
    """Each node id an event names (src, dst, or in its data) that is not in ``graph``, with the
    kinds of the events that name it."""
    found: dict[tuple[str, str], set[str]] = {}
    for event in events:
        for end, node in [("src", event.src), ("dst", event.dst), *_node_ids_in(event.data or {})]:
            if node not in graph:
                found.setdefault((end, node), set()).add(event.kind)
    return [f"  {end}={node!r} in {sorted(kinds)}" for (end, node), kinds in sorted(found.items())]


def _node_ids_in(data: dict) -> list[tuple[str, str]]:
    """("data.<key>", id) for each top-level data value written as a node id (``pop3:beta.test``);
    ``server`` and ``via`` hold node ids even when they are one word (``front``)."""
    found = []
    for key, value in data.items():
        if not isinstance(value, str):
            continue
        kind = value.split(":", 1)[0] if ":" in value else (value if key in ("server", "via") else "")
        if kind in set(Kind) and (":" in value or key in ("server", "via")):
            found.append((f"data.{key}", value))
    return found


STEPS = (_delivery, _bounce, _pop3_login, _imap_login, _dns_question, _smtp_by_hand)


def test_every_node_an_event_names_is_a_node_of_the_graph(world):
    failed = []
    for step in STEPS:        # each step runs even if one before failed: the check below still counts
        try:
            step(world)
        except Exception as exc:
            failed.append(f"  {step.__name__[1:]} failed: {type(exc).__name__}: {str(exc)[:300]}")

    problems = strays(list(world.events.events), set(world.stack.world.graph().nodes))
    assert not problems and not failed, (
        "event ends that are not nodes of world.graph():\n" + "\n".join(problems or ["  none"])
        + "\nsteps that failed:\n" + "\n".join(failed or ["  none"])
        + f"\nevents seen: {sorted({e.kind for e in world.events.events})}")


def test_node_ids_in_data_are_found_by_their_form():
    data = {"server": "front", "via": "pop3:beta.test", "reply": "550 5.1.1 <x@beta.test>: no",
            "what": "dns", "uids": [1, 2], "path": "mail/beta.test/bob/new/1"}
    assert _node_ids_in(data) == [("data.server", "front"), ("data.via", "pop3:beta.test")]


def test_strays_names_each_unknown_end_once_with_its_kinds():
    event = types.SimpleNamespace
    events = [event(kind="dns.served", src="client:127.0.0.1", dst="dns", data={}),
              event(kind="smtp.session", src="client:127.0.0.1", dst="mta:mx1.beta.test", data=None),
              event(kind="imap.login", src="mua:bob@beta.test", dst="front", data={"server": "imap:front"})]
    graph = {"dns", "front", "mta:mx1.beta.test", "mua:bob@beta.test"}
    assert strays(events, graph) == ["  data.server='imap:front' in ['imap.login']",
                                     "  src='client:127.0.0.1' in ['dns.served', 'smtp.session']"]
